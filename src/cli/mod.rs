//! The command-line front: one file per subcommand. No science here: each parses its
//! arguments, calls the library and prints.
pub mod accuracy;
pub mod candidates;
pub mod convert;
pub mod cutout;
pub mod dedisperse;
pub mod demo;
pub mod fold;
pub mod header;
pub mod plan;
pub mod plot;
pub mod progress;
pub mod rfi;
pub mod search;
pub mod simulate;

/// clap value parser for a number that must be finite and > 0 (durations, sampling times). clap
/// reports an error as "invalid value 'V' for '--OPTION <OPTION>': MESSAGE", so the option is named.
pub fn positive_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a number > 0, not {v}")),
        Err(_) => Err("must be a number > 0".into()),
    }
}

/// clap value parser for a whole number ≥ 1 (counts such as channels).
pub fn positive_usize(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v >= 1 && v <= usize::MAX as i128 => Ok(v as usize),
        Ok(v) => Err(format!("must be a whole number ≥ 1, not {v}")),
        Err(_) => Err("must be a whole number ≥ 1".into()),
    }
}

/// clap value parser for a whole number ≥ 0 that fits 64 bits (seeds).
pub fn whole_u64(s: &str) -> Result<u64, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if (0..=u64::MAX as i128).contains(&v) => Ok(v as u64),
        Ok(v) => Err(format!("must be a whole number from 0 to {}, not {v}", u64::MAX)),
        Err(_) => Err(format!("must be a whole number from 0 to {}", u64::MAX)),
    }
}

/// clap value parser for bits per sample: one of 1, 2, 4, 8, 16, 32.
pub fn nbits(s: &str) -> Result<u32, String> {
    match s.trim().parse::<i64>() {
        Ok(v @ (1 | 2 | 4 | 8 | 16 | 32)) => Ok(v as u32),
        _ => Err(format!("must be one of 1, 2, 4, 8, 16, 32, not {}", s.trim())),
    }
}
