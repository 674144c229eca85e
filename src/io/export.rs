//! Candidate tables in the text formats of other tools (`tianyan candidates --format ...`).
//!
//! Every function returns the whole file as a `String`; the command line writes it atomically.
//! Each layout follows the documented conventions of the tool that reads it:
//! * [`pulsarx_candfile`]: the `--candfile` of PulsarX's `psrfold_fil`: a `#id dm acc F0 F1 S/N`
//!   header, then one line per candidate with a 1-based id, DM (pc cm⁻³), acceleration (m s⁻²),
//!   spin frequency F0 (Hz) and its derivative F1 (Hz s⁻¹) **at the start of the observation**, S/N.
//! * [`heimdall_cands`]: heimdall's `.cand` lines, tab-separated: S/N, peak sample, peak time (s),
//!   boxcar filter index (width = 2^filter samples), DM trial index, DM, number of members, first
//!   and last sample of the event. No header line (heimdall writes none).
//! * [`presto_singlepulse`]: PRESTO `single_pulse_search.py`'s `.singlepulse` table: the header
//!   `# DM      Sigma      Time (s)     Sample    Downfact`, then DM, S/N, time (s), sample and
//!   boxcar width (samples) per event.
//! * [`presto_accel_summary`]: a text table in the spirit of the top of PRESTO's `ACCEL_<zmax>`
//!   files (sigma, summed power, harmonics, period, frequency, Fourier `r` and `z`, ḟ, acceleration,
//!   DM), one line per candidate; not PRESTO's binary `.cand` file.
use crate::rows::{Candidate, SinglePulse};

/// `x` as C's `%.{prec}e` (`1.500000e-03`: a sign and at least two exponent digits), which
/// every C, C++ and Python reader parses.
pub fn fmt_c_exp(x: f64, prec: usize) -> String {
    let e = format!("{x:.prec$e}");
    match e.split_once('e') {
        Some((m, exp)) => {
            let v: i32 = exp.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if v < 0 { '-' } else { '+' }, v.abs())
        }
        None => e, // inf, NaN
    }
}

/// The length `T` (s) of the series a candidate was found in: `fft_bin / frequency_hz` (the
/// Fourier bin is `f̄ T`), or `tobs_s` when the row has no bin.
pub fn searched_length_s(c: &Candidate, tobs_s: f64) -> f64 {
    if c.fft_bin > 0.0 && c.frequency_hz > 0.0 {
        c.fft_bin / c.frequency_hz
    } else {
        tobs_s
    }
}

/// F0 (Hz) and F1 (Hz s⁻¹) at the start of the searched series for a candidate whose
/// `frequency_hz` is the mean over the series and whose drift is `z = ḟ T²` bins:
/// `F1 = z / T²`, `F0 = f̄ − F1 T / 2` (a constant ḟ), `T` from [`searched_length_s`].
pub fn f0_f1_at_start(c: &Candidate, tobs_s: f64) -> (f64, f64) {
    let t = searched_length_s(c, tobs_s);
    let f1 = if t > 0.0 { c.z / (t * t) } else { 0.0 };
    (c.frequency_hz - 0.5 * f1 * t, f1)
}

/// PulsarX `psrfold_fil --candfile` text for `cands` (in the given order, ids from 1) of an
/// observation of `tobs_s` s (used only for rows without a Fourier bin). The acceleration column is `accel` as tianyan defines it
/// (`F1 = −accel F0 / c`, PulsarX's sign).
pub fn pulsarx_candfile(cands: &[Candidate], tobs_s: f64) -> String {
    let mut s = String::from("#id dm acc F0 F1 S/N\n");
    for (i, c) in cands.iter().enumerate() {
        let (f0, f1) = f0_f1_at_start(c, tobs_s);
        s.push_str(&format!("{} {:.4} {:.6} {:.12} {} {:.2}\n", i + 1, c.dm, c.accel, f0, fmt_c_exp(f1, 6), c.snr));
    }
    s
}

/// Index of the trial in `dm_trials` nearest to `dm` (0 for an empty grid).
fn nearest_trial(dm_trials: &[f64], dm: f64) -> usize {
    let mut best = (0usize, f64::INFINITY);
    for (i, &d) in dm_trials.iter().enumerate() {
        if (d - dm).abs() < best.1 {
            best = (i, (d - dm).abs());
        }
    }
    best.0
}

/// heimdall `.cand` text for `pulses`, with `dm_trials` the searched DM grid and `tsamp_s` the
/// native sampling time. tianyan's event is a boxcar of `width_samples` starting at `sample`; the
/// peak sample written is the boxcar's centre, the filter index `round(log2(width))` (heimdall's
/// boxcars are powers of two), begin/end the boxcar's first and last samples.
pub fn heimdall_cands(pulses: &[SinglePulse], dm_trials: &[f64], tsamp_s: f64) -> String {
    let mut s = String::new();
    for p in pulses {
        let w = p.width_samples.max(1) as u64;
        let peak = p.sample + w / 2;
        let filter = (w as f64).log2().round() as u32;
        s.push_str(&format!(
            "{:.4}\t{}\t{:.6}\t{}\t{}\t{:.3}\t{}\t{}\t{}\n",
            p.snr,
            peak,
            peak as f64 * tsamp_s,
            filter,
            nearest_trial(dm_trials, p.dm),
            p.dm,
            p.n_members,
            p.sample,
            p.sample + w - 1
        ));
    }
    s
}

/// The header line of a `.singlepulse` table.
pub const SINGLEPULSE_HEADER: &str = "# DM      Sigma      Time (s)     Sample    Downfact";

/// PRESTO `.singlepulse` text for `pulses` (`tsamp_s` the native sampling time): time and sample
/// of the boxcar's centre, `Downfact` its width in samples, `Sigma` the boxcar S/N.
pub fn presto_singlepulse(pulses: &[SinglePulse], tsamp_s: f64) -> String {
    let mut s = format!("{SINGLEPULSE_HEADER}\n");
    for p in pulses {
        let w = p.width_samples.max(1) as u64;
        let centre = p.sample + w / 2;
        s.push_str(&format!("{:7.2} {:7.2} {:13.6} {:10}     {:3}\n", p.dm, p.snr, centre as f64 * tsamp_s, centre, w));
    }
    s
}

/// The header of [`presto_accel_summary`].
pub const ACCEL_SUMMARY_HEADER: &str =
    "# Cand  Sigma   Summed_Power  Num_Harm     Period(ms)    Frequency(Hz)        FFT_r       FFT_z   Freq_Deriv(Hz/s)  Accel(m/s^2)       DM";

/// A text summary of periodic candidates of an observation of `tobs_s` s, one line each, with
/// PRESTO's columns and units: `FFT_r` the mean Fourier bin `f̄ T`, `FFT_z` the drift in bins,
/// `Freq_Deriv` `z / T²`; ids from 1.
pub fn presto_accel_summary(cands: &[Candidate], tobs_s: f64) -> String {
    let mut s = format!("{ACCEL_SUMMARY_HEADER}\n");
    for (i, c) in cands.iter().enumerate() {
        let (_, f1) = f0_f1_at_start(c, tobs_s);
        s.push_str(&format!(
            "{:6} {:6.2} {:14.2} {:9} {:14.9} {:16.9} {:12.2} {:11.2} {:>18} {:13.3} {:8.3}\n",
            i + 1,
            c.sigma,
            c.power,
            c.nharm,
            c.period_s * 1e3,
            c.frequency_hz,
            c.frequency_hz * searched_length_s(c, tobs_s),
            c.z,
            fmt_c_exp(f1, 6),
            c.accel,
            c.dm
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Speed of light, m s⁻¹.
    const C_M_S: f64 = 299_792_458.0;

    fn cand(f: f64, z: f64, dm: f64) -> Candidate {
        Candidate {
            period_s: 1.0 / f,
            frequency_hz: f,
            dm,
            accel: -C_M_S * z / (f * 100.0 * 100.0),
            snr: 12.5,
            sigma: 8.0,
            power: 60.0,
            nharm: 8,
            fft_bin: f * 100.0,
            n_dm_hits: 3,
            harmonic_of: -1,
            harmonic_num: 0,
            harmonic_den: 0,
            fund_harmonic: 1,
            dm_flag: 0,
            z,
            search: crate::rows::SearchKind::Fft,
            width_s: 0.0,
        }
    }

    /// F1 = z/T² and F0 is the start value of a linear drift whose mean is `frequency_hz`; the
    /// acceleration column satisfies PulsarX's F1 = −acc·F0/c to first order in z/(fT).
    #[test]
    fn pulsarx_start_frequency_and_sign() {
        let t = 100.0;
        let c = cand(200.0, 40.0, 30.0);
        let (f0, f1) = f0_f1_at_start(&c, t);
        assert!((f1 - 40.0 / 1e4).abs() < 1e-15);
        assert!((f0 - (200.0 - 0.2)).abs() < 1e-12);
        // −acc f̄ / c = z / T² exactly (accel is defined from the mean frequency).
        assert!((-c.accel * c.frequency_hz / C_M_S - f1).abs() < 1e-12 * f1.abs());
        let text = pulsarx_candfile(&[c, cand(5.0, 0.0, 10.0)], t);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#id dm acc F0 F1 S/N");
        let cols: Vec<&str> = lines[1].split(' ').collect();
        assert_eq!(cols.len(), 6);
        assert_eq!(cols[0], "1");
        assert_eq!(lines[2].split(' ').next(), Some("2"));
        assert!((cols[3].parse::<f64>().unwrap() - 199.8).abs() < 1e-9);
    }

    #[test]
    fn c_style_exponents() {
        assert_eq!(fmt_c_exp(0.0, 6), "0.000000e+00");
        assert_eq!(fmt_c_exp(-1.5e-3, 3), "-1.500e-03");
        assert_eq!(fmt_c_exp(2.5e12, 1), "2.5e+12");
    }

    /// heimdall's columns: 9 tab-separated fields, filter = log2 width, DM trial = nearest index.
    #[test]
    fn heimdall_columns() {
        let p = SinglePulse {
            time_s: 1.0,
            sample: 1000,
            dm: 56.2,
            width_s: 0.008,
            width_samples: 8,
            snr: 11.0,
            n_members: 14,
            rfi_flag: 0,
        };
        let text = heimdall_cands(&[p], &[0.0, 50.0, 56.0, 60.0], 1e-3);
        let cols: Vec<&str> = text.trim_end().split('\t').collect();
        assert_eq!(cols.len(), 9);
        assert_eq!(cols[1], "1004"); // centre of the 8-sample boxcar
        assert_eq!(cols[3], "3"); // 2^3 = 8
        assert_eq!(cols[4], "2"); // 56.0 is the nearest trial
        assert_eq!((cols[7], cols[8]), ("1000", "1007"));
    }

    /// The `.singlepulse` header and one fixed-width row as PRESTO prints them.
    #[test]
    fn singlepulse_layout() {
        let p = SinglePulse {
            time_s: 2.5,
            sample: 2500,
            dm: 12.3,
            width_s: 0.004,
            width_samples: 4,
            snr: 7.891,
            n_members: 3,
            rfi_flag: 0,
        };
        let text = presto_singlepulse(&[p], 1e-3);
        assert_eq!(text, format!("{SINGLEPULSE_HEADER}\n  12.30    7.89      2.502000       2502       4\n"));
    }
}
