//! `tianyan header FILE`: prints an observation's header and the values derived from it.
//!
//! Any format `tianyan::open_observation` understands (SIGPROC filterbank, PSRFITS) is accepted.
//! Frequencies are channel centres (TRAPS B10): the band edges are half a channel beyond the
//! extreme centres, and the centre frequency is the midpoint of the edges.
use std::path::PathBuf;

/// Arguments of `tianyan header`.
#[derive(clap::Args, Debug)]
pub struct HeaderArgs {
    /// Observation file (SIGPROC .fil or PSRFITS).
    pub path: PathBuf,
    /// Print the header as JSON (the `Header` structure) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tianyan header`.
pub fn run(args: HeaderArgs) -> anyhow::Result<()> {
    let obs = tianyan::open_observation(std::slice::from_ref(&args.path))?;
    let h = obs.header();
    if args.json {
        println!("{}", serde_json::to_string_pretty(h)?);
        return Ok(());
    }
    let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_else(|| "-".into());
    let opti = |v: Option<i32>| v.map(|x| format!("{x}")).unwrap_or_else(|| "-".into());
    let (lo, hi) = h.band_edges_mhz();
    println!("{:<22}{}", "file", obs.source_description());
    println!("{:<22}{}", "source_name", h.source_name);
    println!("{:<22}{}", "rawdatafile", h.rawdatafile);
    println!("{:<22}{}", "telescope_id", h.telescope_id);
    println!("{:<22}{}", "machine_id", h.machine_id);
    println!("{:<22}{}", "data_type", h.data_type);
    println!("{:<22}{:.12}", "tstart (MJD)", h.tstart_mjd);
    println!("{:<22}{}", "tsamp (s)", h.tsamp_s);
    println!("{:<22}{}", "nsamples", h.nsamples);
    println!("{:<22}{:.6}", "duration (s)", h.duration_s());
    println!("{:<22}{}", "nchans", h.nchans);
    println!("{:<22}{}{}", "nbits", h.nbits, if h.signed { " (signed)" } else { "" });
    println!("{:<22}{}", "nifs", h.nifs);
    println!("{:<22}{}", "fch1 (MHz)", h.fch1_mhz);
    println!("{:<22}{}", "foff (MHz)", h.foff_mhz);
    if let Some(t) = &h.freqs_mhz {
        // A table that is fch1 + i·foff to within 1e-6 MHz is uniform (PSRFITS DAT_FREQ always is a table).
        let uniform = t.iter().enumerate().all(|(i, f)| (f - (h.fch1_mhz + i as f64 * h.foff_mhz)).abs() < 1e-6);
        let kind = if uniform { "uniform" } else { "non-uniform" };
        println!("{:<22}yes ({} channel centres listed, {kind})", "frequency table", t.len());
    }
    println!("{:<22}{:.6} .. {:.6}", "channel centres (MHz)", h.fbottom_mhz(), h.ftop_mhz());
    println!("{:<22}{lo:.6} .. {hi:.6}", "band edges (MHz)");
    println!("{:<22}{:.6}", "bandwidth (MHz)", h.bandwidth_mhz());
    println!("{:<22}{:.6}", "centre freq (MHz)", h.centre_freq_mhz());
    println!("{:<22}{} / {}", "src_raj / src_dej", opt(h.src_raj), opt(h.src_dej));
    if let (Some(ra), Some(dec)) = (h.src_raj, h.src_dej) {
        println!("{:<22}{} / {}", "RA / Dec (J2000)", sexagesimal(ra), sexagesimal(dec));
    }
    println!("{:<22}{} / {}", "az_start / za_start", opt(h.az_start), opt(h.za_start));
    println!("{:<22}{}", "refdm", opt(h.refdm));
    println!("{:<22}{}", "period (s)", opt(h.period));
    println!("{:<22}{}", "barycentric", opti(h.barycentric));
    println!("{:<22}{}", "pulsarcentric", opti(h.pulsarcentric));
    println!("{:<22}{} / {}", "nbeams / ibeam", opti(h.nbeams), opti(h.ibeam));
    if is_fits(&args.path) {
        println!("# PSRFITS keywords");
        for (k, v) in tianyan::io::psrfits::psrfits_keywords(&args.path)? {
            println!("{k:<22}{v}");
        }
    }
    Ok(())
}

/// Whether `path` starts with a FITS primary header (`SIMPLE  =`).
fn is_fits(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 9];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut buf)).is_ok() && &buf == b"SIMPLE  ="
}

/// SIGPROC's packed angle `±ddmmss.s` (or `hhmmss.s`) as `±dd:mm:ss.ss`.
pub fn sexagesimal(packed: f64) -> String {
    let sign = if packed < 0.0 { "-" } else { "" };
    let a = packed.abs();
    let d = (a / 10000.0).floor();
    let m = ((a - d * 10000.0) / 100.0).floor();
    let sec = a - d * 10000.0 - m * 100.0;
    format!("{sign}{:02}:{:02}:{:05.2}", d as i64, m as i64, sec)
}

#[cfg(test)]
mod tests {
    #[test]
    fn packed_angles_print_sexagesimal() {
        assert_eq!(super::sexagesimal(123456.78), "12:34:56.78");
        assert_eq!(super::sexagesimal(-5012.5), "-00:50:12.50");
        assert_eq!(super::sexagesimal(95400.0), "09:54:00.00");
    }
}
