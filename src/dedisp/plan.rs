//! DM trial grids ([`DmPlan`]) and integer-sample dispersion delays.
//!
//! # The DDplan-style grid ([`DmPlan::ddplan`])
//!
//! A pulse dedispersed at a trial DM that is wrong by `δDM` is smeared across the band by
//! the differential delay between the top and bottom channel centres,
//! `t_δDM = K_DM · δDM · (f_bot⁻² − f_top⁻²)` seconds (f in MHz, Lorimer & Kramer 2005,
//! eq. 5.1 / §6.1.1). With trials `ΔDM` apart the worst error is `δDM = ΔDM/2`.
//! The other smearing terms at DM `d` with downsampling factor `n` are
//!
//! * the effective sampling time `t_samp · n`;
//! * the intra-channel dispersion smearing at the band centre,
//!   `t_chan = 2 K_DM · d · Δν / f³ ≈ 8.3 µs · d · Δν_MHz · f_GHz⁻³`
//!   (Lorimer & Kramer 2005, eq. 5.2; the same formula as PRESTO's `DDplan.py`);
//! * an optional intrinsic pulse width `w` ([`PlanConfig::min_width_s`]).
//!
//! They add in quadrature (Cordes & McLaughlin 2003, ApJ 596, 1142, eq. 8):
//! `t_other = sqrt((t_samp n)² + t_chan² + w²)`, and the total is `sqrt(t_other² + t_δDM²)`.
//!
//! The grid is built in steps. Each step starts at a DM `d₀` with a downsampling factor `n`
//! and takes the largest "round" step (1, 2, 3 or 5 × 10^k pc cm⁻³, as `DDplan.py` does) with
//! `t_δDM(ΔDM/2) ≤ tolerance · t_other(d₀, n)`. Since `t_other` grows with DM, the condition
//! then holds at every trial of the step. The step ends (and the next begins with the
//! downsampling doubled) at the first trial where `t_chan > 2 · t_samp · n`: from there on
//! intra-channel smearing dominates the sampling time, so coarser sampling loses nothing
//! (the `DDplan.py` rule). With the downsampling capped at [`PlanConfig::max_downsamp`],
//! a step also ends when the allowed DM step has grown to at least twice the current one.
//!
//! One difference from `DDplan.py`: it approximates the band sweep as `8.3 µs · δDM · B / f_c³`
//! with `B` the total bandwidth and `f_c` the centre frequency; tianyan uses the exact
//! `f_bot⁻² − f_top⁻²`, which is larger for wide bands (8 % for 1000–1500 MHz), so the grid
//! is slightly finer and the tolerance is honoured exactly.
//!
//! # Delays
//! [`delay_samples`] rounds each channel's delay to the **nearest** sample, relative to the
//! highest channel centre, with `consts::K_DM` = 4.148808e3 (TRAPS B15). The simulator's
//! injection and every dedisperser use the same rule, so an injected pulse recovers its DM.
use super::DedispError;
use crate::consts::K_DM;
use crate::io::Header;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// Largest number of DM trials a plan may hold (guards against a degenerate header or step).
pub const MAX_TRIALS: usize = 10_000_000;

/// One group of DM trials sharing a downsampling factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DmStep {
    /// Trial DMs, pc cm⁻³, ascending for generated plans (a list plan keeps the given order).
    pub dms: Vec<f64>,
    /// Number of adjacent input samples summed before dedispersing these trials (≥ 1).
    pub downsamp: usize,
}

/// A DM plan: the trials, per-trial downsampling, and the algorithm chosen with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DmPlan {
    /// Groups of trials; together they are the plan's trials in order.
    pub steps: Vec<DmStep>,
    /// Dedispersion algorithm to use (`"direct"`, ...).
    pub algorithm: String,
    /// Why the grid and algorithm were chosen, in words.
    pub reason: String,
}

/// Configuration of [`DmPlan::ddplan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanConfig {
    /// Allowed ratio of the half-step DM smearing to the other smearing terms (DDplan's
    /// default is 1.25 for its "ok smearing"; must be > 0).
    pub tolerance: f64,
    /// Smallest intrinsic pulse width searched for, s (0 ignores this term).
    pub min_width_s: f64,
    /// Largest downsampling factor (a power of two ≥ 1).
    pub max_downsamp: usize,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig { tolerance: 1.25, min_width_s: 0.0, max_downsamp: 64 }
    }
}

/// Smearing terms (seconds) of a trial, as used by [`DmPlan::ddplan`] and [`DmPlan::describe`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Smearing {
    /// Effective sampling time `tsamp · downsamp`, s.
    pub sampling_s: f64,
    /// Intra-channel dispersion smearing at the band centre, s.
    pub channel_s: f64,
    /// Intrinsic width term, s.
    pub width_s: f64,
    /// Band sweep of a DM error of half the trial spacing, s.
    pub dm_step_s: f64,
}

impl Smearing {
    /// The terms other than the DM-step term, in quadrature, s.
    pub fn other_s(&self) -> f64 {
        (self.sampling_s.powi(2) + self.channel_s.powi(2) + self.width_s.powi(2)).sqrt()
    }
    /// All terms in quadrature (Cordes & McLaughlin 2003), s.
    pub fn total_s(&self) -> f64 {
        (self.other_s().powi(2) + self.dm_step_s.powi(2)).sqrt()
    }
}

/// Smearing terms at `dm` (pc cm⁻³) for trials `dm_step` apart with downsampling `downsamp`.
/// Formulas in the module documentation.
pub fn smearing(header: &Header, dm: f64, dm_step: f64, downsamp: usize, min_width_s: f64) -> Smearing {
    let f_c = header.centre_freq_mhz();
    let chan_bw = header.chan_bw_mhz();
    let (f_bot, f_top) = (header.fbottom_mhz(), header.ftop_mhz());
    Smearing {
        sampling_s: header.tsamp_s * downsamp as f64,
        channel_s: 2.0 * K_DM * dm * chan_bw / f_c.powi(3),
        width_s: min_width_s,
        dm_step_s: K_DM * 0.5 * dm_step * (f_bot.powi(-2) - f_top.powi(-2)),
    }
}

/// Per-channel dispersion delays in samples of length `tsamp_s`, file channel order:
/// `round(K_DM · dm · (f_c⁻² − f_top⁻²) / tsamp_s)` (nearest integer), with `f_top` the highest
/// channel centre, so the top channel has delay 0. `dm` must be ≥ 0 and `tsamp_s` > 0
/// (callers validate; a negative DM gives 0 delays through the saturating float→int cast).
pub fn delay_samples(header: &Header, dm: f64, tsamp_s: f64) -> Vec<usize> {
    let f_top = header.ftop_mhz();
    header
        .chan_freqs_mhz()
        .into_iter()
        .map(|f| (K_DM * dm * (f.powi(-2) - f_top.powi(-2)) / tsamp_s).round() as usize)
        .collect()
}

/// Largest per-channel delay of [`delay_samples`] at `dm` (the delay of the lowest channel), samples.
pub fn max_delay_samples(header: &Header, dm: f64, tsamp_s: f64) -> usize {
    delay_samples(header, dm, tsamp_s).into_iter().max().unwrap_or(0)
}

/// Largest "round" DM step (1, 2, 3 or 5 × 10^k) not above `x` (> 0).
fn round_step_floor(x: f64) -> f64 {
    let p = 10f64.powf(x.log10().floor());
    let m = x / p * (1.0 + 1e-9);
    let mant = [5.0, 3.0, 2.0, 1.0].into_iter().find(|&c| c <= m).unwrap_or(1.0);
    // Re-derive from a decimal string so steps print and add cleanly (0.05, not 0.05000000000000001).
    format!("{:.12e}", mant * p).parse().unwrap_or(mant * p)
}

/// Rounds a generated DM to 1e-9 so sums of round steps print cleanly.
fn tidy(dm: f64) -> f64 {
    (dm * 1e9).round() / 1e9
}

fn check_range(dm_min: f64, dm_max: f64) -> Result<(), DedispError> {
    if !dm_min.is_finite() || !dm_max.is_finite() {
        return Err(DedispError::Invalid(format!("DM range {dm_min}..{dm_max} is not finite")));
    }
    if dm_min < 0.0 {
        return Err(DedispError::Invalid(format!("dm_min = {dm_min} is negative")));
    }
    if dm_min > dm_max {
        return Err(DedispError::Invalid(format!("dm_min = {dm_min} is larger than dm_max = {dm_max}")));
    }
    Ok(())
}

fn check_header(header: &Header) -> Result<(), DedispError> {
    if !(header.tsamp_s > 0.0 && header.tsamp_s.is_finite()) {
        return Err(DedispError::Invalid(format!("header tsamp = {} s is not positive", header.tsamp_s)));
    }
    if header.nchans == 0 {
        return Err(DedispError::Invalid("header has no frequency channels".into()));
    }
    let freqs = header.chan_freqs_mhz();
    if freqs.len() != header.nchans {
        return Err(DedispError::Invalid(format!(
            "header has {} channel frequencies for {} channels",
            freqs.len(),
            header.nchans
        )));
    }
    if let Some(f) = freqs.iter().find(|f| !(**f > 0.0 && f.is_finite())) {
        return Err(DedispError::Invalid(format!("channel frequency {f} MHz is not positive")));
    }
    Ok(())
}

impl DmPlan {
    /// All trial DMs in plan order, pc cm⁻³.
    pub fn dms(&self) -> Vec<f64> {
        self.steps.iter().flat_map(|s| s.dms.iter().copied()).collect()
    }

    /// Number of trials.
    pub fn ntrials(&self) -> usize {
        self.steps.iter().map(|s| s.dms.len()).sum()
    }

    /// A DDplan-style grid from `dm_min` to at least `dm_max` (module documentation).
    ///
    /// The first trial is `dm_min`; trials are added until one is ≥ `dm_max`, so every DM in
    /// `[dm_min, dm_max]` lies between two trials (the last may exceed `dm_max` by less than
    /// its step). Steps have increasing DM spacing and downsampling.
    ///
    /// # Errors
    /// [`DedispError::Invalid`] when `dm_min > dm_max`, a DM is negative or not finite,
    /// `cfg.tolerance ≤ 0`, `cfg.max_downsamp` is not a power of two, the header has no
    /// channels, a non-positive frequency or tsamp, or the grid would exceed [`MAX_TRIALS`].
    pub fn ddplan(header: &Header, dm_min: f64, dm_max: f64, cfg: &PlanConfig) -> Result<DmPlan, DedispError> {
        check_range(dm_min, dm_max)?;
        check_header(header)?;
        if !(cfg.tolerance > 0.0 && cfg.tolerance.is_finite()) {
            return Err(DedispError::Invalid(format!("plan tolerance {} is not positive", cfg.tolerance)));
        }
        if !(cfg.min_width_s >= 0.0 && cfg.min_width_s.is_finite()) {
            return Err(DedispError::Invalid(format!("minimum width {} s is negative", cfg.min_width_s)));
        }
        if !cfg.max_downsamp.is_power_of_two() {
            return Err(DedispError::Invalid(format!("max_downsamp = {} is not a power of two ≥ 1", cfg.max_downsamp)));
        }
        // Seconds of band sweep per unit DM error.
        let sweep_per_dm = K_DM * (header.fbottom_mhz().powi(-2) - header.ftop_mhz().powi(-2));
        let allowed_step = |dm: f64, ds: usize| -> f64 {
            let other = smearing(header, dm, 0.0, ds, cfg.min_width_s).other_s();
            if sweep_per_dm > 0.0 {
                round_step_floor(2.0 * cfg.tolerance * other / sweep_per_dm)
            } else {
                // A single channel (or no spread in frequency): DM has no effect; one step.
                f64::INFINITY
            }
        };

        let mut steps: Vec<DmStep> = Vec::new();
        let mut ntrials = 0usize;
        let mut start = dm_min;
        let mut ds = 1usize;
        loop {
            let step = allowed_step(start, ds);
            let mut dms = vec![tidy(start)];
            let mut k = 1usize;
            let mut next_ds = ds;
            let mut last = start;
            let done = loop {
                if last >= dm_max || !step.is_finite() {
                    break true;
                }
                let dm = tidy(start + k as f64 * step);
                k += 1;
                let sm = smearing(header, dm, step, ds, cfg.min_width_s);
                if ds < cfg.max_downsamp && sm.channel_s > 2.0 * sm.sampling_s {
                    next_ds = ds * 2;
                    start = dm;
                    break false;
                }
                if ds >= cfg.max_downsamp && allowed_step(dm, ds) >= 2.0 * step {
                    start = dm;
                    break false;
                }
                dms.push(dm);
                last = dm;
                if ntrials + dms.len() > MAX_TRIALS {
                    return Err(DedispError::Invalid(format!(
                        "the DM plan {dm_min}..{dm_max} needs more than {MAX_TRIALS} trials (step {step})"
                    )));
                }
            };
            ntrials += dms.len();
            steps.push(DmStep { dms, downsamp: ds });
            ds = next_ds;
            if done {
                break;
            }
        }
        Ok(DmPlan {
            steps,
            algorithm: "direct".into(),
            reason: format!(
                "DDplan-style grid: half-step DM smearing ≤ {} × (sampling, intra-channel{} smearing in quadrature); \
                 downsampling doubles where intra-channel smearing exceeds 2 × the sampling time (max {})",
                cfg.tolerance,
                if cfg.min_width_s > 0.0 { format!(", width {} s", cfg.min_width_s) } else { String::new() },
                cfg.max_downsamp
            ),
        })
    }

    /// A plan with exactly the given trials, in the given order, downsampling 1.
    ///
    /// # Errors
    /// [`DedispError::Invalid`] when the list is empty or a DM is negative or not finite.
    pub fn from_list(dms: Vec<f64>) -> Result<DmPlan, DedispError> {
        if dms.is_empty() {
            return Err(DedispError::Invalid("the DM list is empty".into()));
        }
        if let Some(d) = dms.iter().find(|d| !(**d >= 0.0 && d.is_finite())) {
            return Err(DedispError::Invalid(format!("DM {d} in the list is negative or not finite")));
        }
        let n = dms.len();
        Ok(DmPlan {
            steps: vec![DmStep { dms, downsamp: 1 }],
            algorithm: "direct".into(),
            reason: format!("{n} DMs given as a list"),
        })
    }

    /// Trials `dm_min + k·step` for `k = 0, 1, …` while ≤ `dm_max` (1e-9 relative slack), downsampling 1.
    ///
    /// # Errors
    /// [`DedispError::Invalid`] when `dm_min > dm_max`, a DM is negative, `step ≤ 0`, or the
    /// plan would exceed [`MAX_TRIALS`].
    pub fn fixed_step(dm_min: f64, dm_max: f64, step: f64) -> Result<DmPlan, DedispError> {
        check_range(dm_min, dm_max)?;
        if !(step > 0.0 && step.is_finite()) {
            return Err(DedispError::Invalid(format!("DM step {step} is not positive")));
        }
        let n = ((dm_max - dm_min) / step * (1.0 + 1e-9) + 1e-9).floor() + 1.0;
        if n > MAX_TRIALS as f64 {
            return Err(DedispError::Invalid(format!(
                "DM range {dm_min}..{dm_max} with step {step} needs more than {MAX_TRIALS} trials"
            )));
        }
        let dms: Vec<f64> = (0..n as usize).map(|k| tidy(dm_min + k as f64 * step)).collect();
        Ok(DmPlan {
            steps: vec![DmStep { dms, downsamp: 1 }],
            algorithm: "direct".into(),
            reason: format!("fixed DM step {step} from {dm_min} to {dm_max}"),
        })
    }

    /// Reads a plan from a text file: one DM per line; blank lines and anything after `#` ignored.
    ///
    /// # Errors
    /// [`DedispError::Io`] when the file cannot be read; [`DedispError::Invalid`] naming the
    /// file and line for a value that is not a number, and as [`DmPlan::from_list`].
    pub fn from_file(path: &Path) -> Result<DmPlan, DedispError> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::io::IoError::os(path, e))?;
        let mut dms = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let content = line.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let dm: f64 = content.parse().map_err(|_| {
                DedispError::Invalid(format!("{}:{}: '{}' is not a DM", path.display(), i + 1, content))
            })?;
            dms.push(dm);
        }
        let mut plan =
            DmPlan::from_list(dms).map_err(|e| DedispError::Invalid(format!("{}: {}", path.display(), e)))?;
        plan.reason = format!("{} DMs read from {}", plan.ntrials(), path.display());
        Ok(plan)
    }

    /// A human-readable table of the plan: one row per step with its DM range, spacing,
    /// downsampling, number of trials and the total smearing (ms, quadrature sum of all terms)
    /// at the step's lowest and highest DM.
    pub fn describe(&self, header: &Header) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "DM plan: {} trials, algorithm {}", self.ntrials(), self.algorithm);
        let _ = writeln!(s, "reason: {}", self.reason);
        let _ = writeln!(
            s,
            "{:>12} {:>12} {:>10} {:>8} {:>8} {:>12} {:>12}",
            "dm_lo", "dm_hi", "dm_step", "downsamp", "ntrials", "smear_lo_ms", "smear_hi_ms"
        );
        for st in &self.steps {
            let (Some(&lo), Some(&hi)) = (st.dms.first(), st.dms.last()) else { continue };
            let step = if st.dms.len() > 1 { (hi - lo) / (st.dms.len() - 1) as f64 } else { 0.0 };
            let sm = |dm| smearing(header, dm, step, st.downsamp, 0.0).total_s() * 1e3;
            let _ = writeln!(
                s,
                "{:>12.3} {:>12.3} {:>10.4} {:>8} {:>8} {:>12.4} {:>12.4}",
                lo,
                hi,
                step,
                st.downsamp,
                st.dms.len(),
                sm(lo),
                sm(hi)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_steps() {
        assert_eq!(round_step_floor(0.0578), 0.05);
        assert_eq!(round_step_floor(0.05), 0.05);
        assert_eq!(round_step_floor(0.29), 0.2);
        assert_eq!(round_step_floor(4.0), 3.0);
        assert_eq!(round_step_floor(12.0), 10.0);
    }
}
