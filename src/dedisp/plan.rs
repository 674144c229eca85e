//! DM trial grids ([`DmPlan`]) and integer-sample dispersion delays.
//!
//! Two grids are offered ([`GridKind`], chosen by [`PlanConfig::grid`]; [`DmPlan::grid`]
//! dispatches):
//!
//! # The DDplan grid (default, [`DmPlan::ddplan`])
//!
//! The algorithm of PRESTO's `DDplan.py` (S. Ransom), reimplemented from its documented
//! behaviour; every table in `../shared/reference/ddplan/` is reproduced trial for trial
//! (`tests/ddplan.rs`). With `f_c` the band centre, `B = nchans·Δν` the bandwidth,
//! `t` the sampling time, all smearing in ms:
//!
//! * band sweep of a DM error `δ` across a band of width `b` centred on `f_c`:
//!   `S(δ, b) = 10³ · k · |δ| · ((f_c − b/2)⁻² − (f_c + b/2)⁻²)` with DDplan's constant
//!   `k = 1 / (2 · 1.205·10⁻⁴)` = 4149.38 s MHz² pc⁻¹ cm³ ([`DDPLAN_K_DM`]; with tianyan's
//!   `K_DM` = 4148.808 two boundaries of the reference tables move by one trial);
//! * DM-step smearing of a step `ΔDM`: `S(ΔDM/2, B)`; subband smearing of a subband DM step
//!   `Δs` with `nsub` subbands: `S(Δs/2, B/nsub)`;
//! * intra-channel smearing at DM `d`: `S(d − DM_coh, Δν) ≈ 2k·|d − DM_coh|·Δν/f_c³`
//!   (`DM_coh`: the DM the channels were coherently dedispersed to, DDplan `-c`).
//!
//! The plan:
//! 1. The best resolution is `max(r, min channel smearing over the range, S(0.005, B), t)`
//!    (`r`: the acceptable resolution, DDplan `-r`, [`PlanConfig::time_res_s`]). When it, or
//!    `ff = 1.2` × the minimum channel smearing, exceeds `t`, the data are finer than needed and
//!    the first downsampling is the largest allowed factor `n` with `t·n < okval` (`okval` = the
//!    resolution, or `ff` × the minimum channel smearing if that is larger).
//! 2. The first DM step is the largest allowed step ([`DDPLAN_DM_STEPS`], 0.01 … 300) below
//!    `ff · ΔDM₀` (at least 0.01), `ΔDM₀ = t·n / (S(1, B)/2)`: the step whose half-step sweep
//!    equals the sampling time.
//! 3. Each plan step with downsampling `n` and step `ΔDM` starting at `d₀` runs to the DM where
//!    the channel smearing is `smearfact = 2` times the other terms:
//!    `d_cross = DM_coh + 2·sqrt(t² + (t·n)² + S(ΔDM/2, B)² + S_sub²) / S(1, Δν)`, capped at the
//!    range's top; it holds `ceil((d_cross − d₀)/ΔDM)` trials `d₀ + k·ΔDM` (with subbands,
//!    rounded up to whole subband calls: `calls = ceil(N·ΔDM/Δs)`, `N = calls · DMs_per_call`).
//!    With subbands, `DMs_per_call` is the largest even number (from 2) whose next even number
//!    `m + 2` gives `S((m+2)·ΔDM/2, B/nsub) > 0.8 · min(S(ΔDM/2, B), t·n)`; `Δs = m·ΔDM`.
//! 4. The next step doubles the downsampling and takes the largest allowed DM step with
//!    `S(ΔDM/2, B) < ff · t·n` (never smaller than the previous step); it starts where the
//!    previous one ended.
//!
//! Allowed downsampling factors are `n_min · 2^j` up to [`PlanConfig::max_downsamp`] (DDplan
//! without a file uses the powers of two to 256). Two additions of tianyan where `DDplan.py`
//! would stop with an error: when the factors run out, the last step runs to the top of the
//! range; when no trial results (an empty range), the plan is the single trial `dm_min`.
//! As in `DDplan.py` the trials of a step are `d₀ + k·ΔDM`, `k < N`, so the last trial is
//! below the last step's end (`≥ dm_max`) by one step.
//!
//! # The tianyan grid ([`DmPlan::tianyan_grid`], cheaper)
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
//!   (Lorimer & Kramer 2005, eq. 5.2);
//! * an optional intrinsic pulse width `w` ([`PlanConfig::min_width_s`]).
//!
//! They add in quadrature (Cordes & McLaughlin 2003, ApJ 596, 1142, eq. 8):
//! `t_other = sqrt((t_samp n)² + t_chan² + w²)`, and the total is `sqrt(t_other² + t_δDM²)`.
//!
//! The grid is built in steps. Each step starts at a DM `d₀` with a downsampling factor `n`
//! and takes the largest "round" step (1, 2, 3 or 5 × 10^k pc cm⁻³) with
//! `t_δDM(ΔDM/2) ≤ tolerance · t_other(d₀, n)`. Since `t_other` grows with DM, the condition
//! then holds at every trial of the step. The step ends (and the next begins with the
//! downsampling doubled) at the first trial where `t_chan > 2 · t_samp · n`. This switch
//! compares the channel smearing with the sampling time alone, so it downsamples at about
//! 0.6× the DM where `DDplan.py` does (fewer trials, coarser time resolution: issue 10).
//! With the downsampling capped at [`PlanConfig::max_downsamp`], a step also ends when the
//! allowed DM step has grown to at least twice the current one. It uses the exact
//! `f_bot⁻² − f_top⁻²`; it does not support a coherent DM or a time resolution.
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

/// Default highest DM of `tianyan plan`, `dedisperse` and `search`, pc cm⁻³ (DDplan.py's default).
pub const DEFAULT_DM_MAX: f64 = 1000.0;

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
    /// Which grid made the trials: `"ddplan"`, `"tianyan"`, `"fixed-step"` or `"list"`.
    #[serde(default)]
    pub grid: String,
}

/// Which generated grid [`DmPlan::grid`] builds (module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GridKind {
    /// PRESTO `DDplan.py`'s grid, reproduced step for step ([`DmPlan::ddplan`]).
    #[default]
    Ddplan,
    /// tianyan's earlier, cheaper grid ([`DmPlan::tianyan_grid`]).
    Tianyan,
}

impl GridKind {
    /// The grid's name as the CLI spells it (`ddplan`, `tianyan`).
    pub fn name(&self) -> &'static str {
        match self {
            GridKind::Ddplan => "ddplan",
            GridKind::Tianyan => "tianyan",
        }
    }
}

impl std::str::FromStr for GridKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ddplan" => Ok(GridKind::Ddplan),
            "tianyan" => Ok(GridKind::Tianyan),
            other => Err(format!("unknown DM grid '{other}' (use ddplan or tianyan)")),
        }
    }
}

/// Configuration of the generated grids ([`DmPlan::grid`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanConfig {
    /// Which grid to build (default [`GridKind::Ddplan`]).
    pub grid: GridKind,
    /// Tianyan grid: allowed ratio of the half-step DM smearing to the other smearing terms
    /// (must be > 0).
    pub tolerance: f64,
    /// Tianyan grid: smallest intrinsic pulse width searched for, s (0 ignores this term).
    pub min_width_s: f64,
    /// Largest downsampling factor (≥ `downsamp`; DDplan without a file allows up to 256).
    pub max_downsamp: usize,
    /// Smallest downsampling factor, ≥ 1 (`--downsamp`): the factor of every trial of a
    /// fixed-step or list plan, and the first factor of a generated grid (which then uses
    /// `downsamp · 2^j`).
    pub downsamp: usize,
    /// DDplan grid: number of subbands in the smearing budget (DDplan `-s`; 0 = none).
    pub nsub: usize,
    /// DDplan grid: DM the channels were coherently dedispersed to, pc cm⁻³ (DDplan `-c`; 0 = none).
    pub coherent_dm: f64,
    /// DDplan grid: acceptable time resolution, s (DDplan `-r`, there in ms; 0 = the best the data allow).
    pub time_res_s: f64,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            grid: GridKind::Ddplan,
            tolerance: 1.25,
            min_width_s: 0.0,
            max_downsamp: 256,
            downsamp: 1,
            nsub: 0,
            coherent_dm: 0.0,
            time_res_s: 0.0,
        }
    }
}

/// `DDplan.py`'s allowed DM steps, pc cm⁻³.
pub const DDPLAN_DM_STEPS: [f64; 19] =
    [0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 300.0];

/// `DDplan.py`'s dispersion constant, s MHz² pc⁻¹ cm³: its smearing formula
/// `DM·Δν / (1.205·10⁻⁴ · f³)` is `2k·DM·Δν/f³` with `k = 1/(2 · 1.205·10⁻⁴)`.
pub const DDPLAN_K_DM: f64 = 1.0 / (2.0 * 1.205e-4);

/// `DDplan.py`'s fudge factor for "two time scales are equal".
const DDPLAN_FF: f64 = 1.2;

/// `DDplan.py`'s ratio of channel smearing to the other terms at which a step ends.
const DDPLAN_SMEARFACT: f64 = 2.0;

/// DDplan's band sweep (ms) of a DM error `ddm` across a band of width `bw_mhz` centred on `fc_mhz`
/// (module documentation, `S(δ, b)`).
fn ddplan_sweep_ms(ddm: f64, bw_mhz: f64, fc_mhz: f64) -> f64 {
    1e3 * DDPLAN_K_DM * ddm.abs() * ((fc_mhz - 0.5 * bw_mhz).powi(-2) - (fc_mhz + 0.5 * bw_mhz).powi(-2))
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

    /// The grid `cfg.grid` names: [`DmPlan::ddplan`] or [`DmPlan::tianyan_grid`].
    ///
    /// # Errors
    /// As the grid's own function.
    pub fn grid(header: &Header, dm_min: f64, dm_max: f64, cfg: &PlanConfig) -> Result<DmPlan, DedispError> {
        match cfg.grid {
            GridKind::Ddplan => DmPlan::ddplan(header, dm_min, dm_max, cfg),
            GridKind::Tianyan => DmPlan::tianyan_grid(header, dm_min, dm_max, cfg),
        }
    }

    /// PRESTO `DDplan.py`'s grid from `dm_min` to `dm_max` for this header (module
    /// documentation): band centre and width from the channel centres ± half a channel,
    /// `cfg.nsub`, `cfg.coherent_dm`, `cfg.time_res_s`, factors `cfg.downsamp · 2^j` up to
    /// `cfg.max_downsamp`. Trials of a step are `d₀ + k·ΔDM`; the last step ends at or above
    /// `dm_max`, its last trial one step below that end.
    ///
    /// # Errors
    /// [`DedispError::Invalid`] when `dm_min > dm_max`, a DM is negative or not finite, the
    /// coherent DM or time resolution is negative or not finite, `cfg.downsamp` is 0 or above
    /// `cfg.max_downsamp`, the header has no channels, a non-positive frequency or tsamp, or the
    /// grid would exceed [`MAX_TRIALS`].
    pub fn ddplan(header: &Header, dm_min: f64, dm_max: f64, cfg: &PlanConfig) -> Result<DmPlan, DedispError> {
        check_range(dm_min, dm_max)?;
        check_header(header)?;
        if !(cfg.coherent_dm >= 0.0 && cfg.coherent_dm.is_finite()) {
            return Err(DedispError::Invalid(format!("coherent DM {} is negative or not finite", cfg.coherent_dm)));
        }
        if !(cfg.time_res_s >= 0.0 && cfg.time_res_s.is_finite()) {
            return Err(DedispError::Invalid(format!("time resolution {} s is negative", cfg.time_res_s)));
        }
        if cfg.downsamp == 0 || cfg.downsamp > cfg.max_downsamp.max(1) {
            return Err(DedispError::Invalid(format!(
                "downsampling {} must be between 1 and the largest factor {}",
                cfg.downsamp, cfg.max_downsamp
            )));
        }
        let factors: Vec<usize> = std::iter::successors(Some(cfg.downsamp), |&n| Some(n * 2))
            .take_while(|&n| n <= cfg.max_downsamp.max(1))
            .collect();
        let bw = header.bandwidth_mhz();
        let fc = header.centre_freq_mhz();
        let cw = header.chan_bw_mhz();
        let dt_ms = header.tsamp_s * 1e3;
        let cdm = cfg.coherent_dm;
        let nsub = cfg.nsub;
        let ff = DDPLAN_FF;
        let done = |steps: Vec<DmStep>, reason: String| DmPlan {
            steps,
            algorithm: "direct".into(),
            reason,
            grid: "ddplan".into(),
        };
        let per_dm = ddplan_sweep_ms(1.0, bw, fc);
        if !(per_dm > 0.0) || header.nchans < 2 {
            // No frequency spread: DM has no effect; one trial.
            let steps = vec![DmStep { dms: vec![dm_min], downsamp: cfg.downsamp }];
            return Ok(done(steps, "one channel: one DM trial".into()));
        }
        // 1. Best resolution and first downsampling.
        let chan_per_dm = ddplan_sweep_ms(1.0, cw, fc);
        let min_chan = (0..10_000)
            .map(|i| chan_per_dm * (dm_min + (dm_max - dm_min) * i as f64 / 9999.0 - cdm).abs())
            .fold(f64::INFINITY, f64::min);
        let min_bw = ddplan_sweep_ms(0.5 * DDPLAN_DM_STEPS[0], bw, fc);
        let ok = (cfg.time_res_s * 1e3).max(min_chan).max(min_bw).max(dt_ms);
        let mut ids = 0usize;
        if ff * min_chan > dt_ms || ok > dt_ms {
            let okval = if ok > ff * min_chan { ok } else { ff * min_chan };
            while ids + 1 < factors.len() && dt_ms * (factors[ids + 1] as f64) < okval {
                ids += 1;
            }
        }
        // 2. First DM step.
        let guess = dt_ms * factors[ids] as f64 / (0.5 * per_dm);
        let mut idd = 0usize;
        while idd + 1 < DDPLAN_DM_STEPS.len() && DDPLAN_DM_STEPS[idd + 1] < ff * guess {
            idd += 1;
        }
        // 3. One step: (number of trials, end DM).
        let make_step = |ds: usize, lo: f64, ddm: f64, last: bool| -> (usize, f64) {
            let bw_smear = ddplan_sweep_ms(0.5 * ddm, bw, fc);
            let (per_call, dsub, sub_smear) = if nsub > 0 {
                let sub_bw = bw / nsub as f64;
                let mut m = 2usize;
                loop {
                    let next = ddplan_sweep_ms(0.5 * (m + 2) as f64 * ddm, sub_bw, fc);
                    if next > 0.8 * bw_smear.min(dt_ms * ds as f64) || m > 1_000_000 {
                        let dsub = m as f64 * ddm;
                        break (m, dsub, ddplan_sweep_ms(0.5 * dsub, sub_bw, fc));
                    }
                    m += 2;
                }
            } else {
                (1, ddm, 0.0)
            };
            let other = (dt_ms.powi(2) + (dt_ms * ds as f64).powi(2) + bw_smear.powi(2) + sub_smear.powi(2)).sqrt();
            let mut cross = DDPLAN_SMEARFACT * other / chan_per_dm + cdm;
            if cross > dm_max || last {
                cross = dm_max;
            }
            let mut n = ((cross - lo) / ddm).ceil().max(0.0) as usize;
            if nsub > 0 {
                let calls = (n as f64 * ddm / dsub).ceil() as usize;
                n = calls * per_call;
            }
            (n, tidy(lo + n as f64 * ddm))
        };
        let mut steps: Vec<DmStep> = Vec::new();
        let mut ntrials = 0usize;
        let mut lo = dm_min;
        loop {
            let ds = factors[ids];
            let ddm = DDPLAN_DM_STEPS[idd];
            let (n, hi) = make_step(ds, lo, ddm, ids + 1 == factors.len());
            ntrials += n;
            if ntrials > MAX_TRIALS {
                return Err(DedispError::Invalid(format!(
                    "the DM plan {dm_min}..{dm_max} needs more than {MAX_TRIALS} trials (step {ddm})"
                )));
            }
            if n > 0 {
                steps.push(DmStep { dms: (0..n).map(|k| tidy(lo + k as f64 * ddm)).collect(), downsamp: ds });
            }
            lo = hi;
            if hi >= dm_max || ids + 1 == factors.len() {
                break;
            }
            // 4. Next step: double the downsampling, raise the DM step.
            ids += 1;
            let eff = dt_ms * factors[ids] as f64;
            while idd + 1 < DDPLAN_DM_STEPS.len() && ddplan_sweep_ms(0.5 * DDPLAN_DM_STEPS[idd + 1], bw, fc) < ff * eff
            {
                idd += 1;
            }
        }
        if steps.is_empty() {
            steps.push(DmStep { dms: vec![dm_min], downsamp: factors[0] });
        }
        let reason = format!(
            "DDplan.py grid (PRESTO): fc {fc:.3} MHz, BW {bw:.3} MHz, {} channels, dt {dt_ms:.6} ms{}{}{}",
            header.nchans,
            if nsub > 0 { format!(", {nsub} subbands") } else { String::new() },
            if cdm > 0.0 { format!(", coherent DM {cdm}") } else { String::new() },
            if cfg.time_res_s > 0.0 { format!(", resolution {} ms", cfg.time_res_s * 1e3) } else { String::new() },
        );
        Ok(done(steps, reason))
    }

    /// Tianyan's cheaper grid from `dm_min` to at least `dm_max` (module documentation).
    ///
    /// The first trial is `dm_min`; trials are added until one is ≥ `dm_max`, so every DM in
    /// `[dm_min, dm_max]` lies between two trials (the last may exceed `dm_max` by less than
    /// its step). Steps have increasing DM spacing and downsampling.
    ///
    /// # Errors
    /// [`DedispError::Invalid`] when `dm_min > dm_max`, a DM is negative or not finite,
    /// `cfg.tolerance ≤ 0`, `cfg.max_downsamp` is not a power of two, the header has no
    /// channels, a non-positive frequency or tsamp, or the grid would exceed [`MAX_TRIALS`].
    pub fn tianyan_grid(header: &Header, dm_min: f64, dm_max: f64, cfg: &PlanConfig) -> Result<DmPlan, DedispError> {
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
            grid: "tianyan".into(),
            reason: format!(
                "tianyan grid: half-step DM smearing ≤ {} × (sampling, intra-channel{} smearing in quadrature); \
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
            grid: "list".into(),
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
            grid: "fixed-step".into(),
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
        let _ = writeln!(s, "DM plan: {} trials, grid {}, algorithm {}", self.ntrials(), self.grid, self.algorithm);
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
