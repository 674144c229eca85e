//! The main job: read → RFI excision ([`crate::rfi`]: normalise channels, mask, clip) →
//! dedisperse → search (birdies zapped) → sift → candidates.
//!
//! [`run_search`] takes any [`Observation`] (SIGPROC, PSRFITS, the simulator's stream) and a
//! [`SearchConfig`], builds the DM plan, dedisperses the trials in chunks whose output fits in
//! `max_memory_mb` (each chunk re-reads the observation block by block, so memory never grows
//! with the file), runs the FFT periodicity search and the single-pulse search on every trial in
//! parallel (rayon), then sifts the periodic candidates across DM and clusters the single pulses.

use crate::dedisp::direct::DirectDedisperser;
use crate::dedisp::fdmt::FdmtDedisperser;
use crate::dedisp::fourier::{fdd_periodic_search, FddDedisperser};
use crate::dedisp::plan::{DmPlan, DmStep, PlanConfig};
use crate::dedisp::subband::SubbandDedisperser;
use crate::dedisp::{DedispError, Dedisperser};
use crate::io::{Header, IoError, Observation};
use crate::rfi::{CleanedObservation, RfiConfig, RfiError, RfiReport};
use crate::search::periodic::{search_series, PeriodicConfig};
use crate::search::sift::{sift_on_grid, SiftConfig};
use crate::search::single_pulse::{cluster, flag_zero_dm, search_dm_series, SinglePulseConfig};
use crate::search::{Candidate, SinglePulse};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Errors of the search pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Dedisp(#[from] DedispError),
    #[error(transparent)]
    Rfi(#[from] RfiError),
    #[error("{0}")]
    Invalid(String),
}

/// Configuration of one search run; stored in the candidate file's `/search` group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchConfig {
    /// Lowest DM searched, pc cm⁻³.
    pub dm_min: f64,
    /// Highest DM searched, pc cm⁻³.
    pub dm_max: f64,
    /// Fixed DM step (pc cm⁻³) instead of the DDplan-style grid.
    pub dm_step: Option<f64>,
    /// Explicit DM trials (pc cm⁻³) instead of a grid.
    pub dm_list: Option<Vec<f64>>,
    /// DDplan-style grid parameters.
    pub plan: PlanConfig,
    /// Dedispersion algorithm: `direct`, `subband`, `fdmt`, `fdd` or `auto` (cost model,
    /// [`choose_dedisperser`]).
    pub dedisp: String,
    /// Run the FFT periodicity search.
    pub periodic: bool,
    /// Run the single-pulse search.
    pub single_pulse: bool,
    /// FFT search parameters (`total_trials` is set from the plan, [`crate::search::trials::search_trials`]).
    pub periodic_cfg: PeriodicConfig,
    /// Sifting parameters.
    pub sift: SiftConfig,
    /// Single-pulse search parameters.
    pub single_pulse_cfg: SinglePulseConfig,
    /// Subtract each channel's mean and divide by its standard deviation before dedispersion,
    /// zeroing channels of zero variance (bandpass flattening; recommended for real data), and
    /// run the RFI excision of `rfi`. Off: the raw data are dedispersed, nothing is excised.
    pub normalise_channels: bool,
    /// RFI excision: clipping, channel mask, birdies ([`crate::rfi`]).
    pub rfi: RfiConfig,
    /// Memory allowed for dedispersed series held at once, MiB.
    pub max_memory_mb: usize,
    /// Output samples per block read by the dedisperser.
    pub block_size: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            dm_min: 0.0,
            dm_max: crate::dedisp::plan::DEFAULT_DM_MAX,
            dm_step: None,
            dm_list: None,
            plan: PlanConfig::default(),
            dedisp: "direct".into(),
            periodic: true,
            single_pulse: true,
            periodic_cfg: PeriodicConfig::default(),
            sift: SiftConfig::default(),
            single_pulse_cfg: SinglePulseConfig::default(),
            normalise_channels: true,
            rfi: RfiConfig::default(),
            max_memory_mb: 1024,
            block_size: 8192,
        }
    }
}

/// Everything a search produced.
#[derive(Debug, Clone)]
pub struct SearchOutput {
    /// Header of the searched observation.
    pub header: Header,
    /// The DM plan that was searched (trials whose sweep exceeded the data removed).
    pub plan: DmPlan,
    /// The DM trials really searched, pc cm⁻³, in plan order.
    pub dm_trials: Vec<f64>,
    /// Sifted periodic candidates, sorted by sigma descending.
    pub candidates: Vec<Candidate>,
    /// Clustered single-pulse events, sorted by S/N descending.
    pub single_pulses: Vec<SinglePulse>,
    /// Name of the dedispersion algorithm used.
    pub dedisperser: String,
    /// Channels masked by the excision (file order), empty when not normalised.
    pub zapped_channels: Vec<usize>,
    /// What the excision did (`None` when channels were not normalised).
    pub rfi: Option<RfiReport>,
    /// Effective independent trials `W` of the periodic search, used in every candidate's sigma
    /// ([`crate::search::trials::search_trials`]).
    pub periodic_trials: f64,
}

/// Builds the DM plan of `cfg` for `header` (list, fixed step or DDplan grid, in that order).
pub fn build_plan(header: &Header, cfg: &SearchConfig) -> Result<DmPlan, PipelineError> {
    let mut plan = if let Some(list) = &cfg.dm_list {
        DmPlan::from_list(list.clone())?
    } else if let Some(step) = cfg.dm_step {
        DmPlan::fixed_step(cfg.dm_min, cfg.dm_max, step)?
    } else {
        return Ok(DmPlan::grid(header, cfg.dm_min, cfg.dm_max, &cfg.plan)?);
    };
    // A list or fixed step: every trial at `plan.downsamp` (prepsubband -downsamp).
    plan.steps.iter_mut().for_each(|s| s.downsamp = cfg.plan.downsamp.max(1));
    Ok(plan)
}

/// The dedisperser named `name` (`direct`, `subband`, `fdmt`, `fdd`); `auto` is resolved per plan
/// step by [`choose_dedisperser`] before this is called.
///
/// With `fdd` the periodicity search is fused with dedispersion ([`fdd_periodic_search`]: one
/// FFT per channel, the dedispersed spectra go straight to whitening and harmonic summing, no
/// inverse FFT), and the time series are formed only when the single-pulse search needs them.
/// `auto` never picks `fdd`: it does as many operations as direct and measured 3–4.6× slower
/// than direct-then-FFT on this machine; its gain is sensitivity (exact fractional delays).
pub fn make_dedisperser(name: &str, cfg: &SearchConfig) -> Result<Box<dyn Dedisperser>, PipelineError> {
    let block_size = cfg.block_size.max(1);
    match name {
        "direct" => Ok(Box::new(DirectDedisperser { block_size })),
        "subband" => Ok(Box::new(SubbandDedisperser { block_size, ..SubbandDedisperser::default() })),
        "fdmt" => Ok(Box::new(FdmtDedisperser { block_size })),
        "fdd" => Ok(Box::new(FddDedisperser::default())),
        other => Err(PipelineError::Invalid(format!(
            "unknown dedispersion algorithm '{other}' (use direct, subband, fdmt, fdd or auto)"
        ))),
    }
}

/// Estimated additions per output sample of each algorithm for one plan step, and the choice.
///
/// Cost model (operations per output time sample, before the common factor `nsamples`):
/// * direct: `nchans · ndm` (one add per channel per trial);
/// * subband (PRESTO prepsubband): `nchans · n_coarse + nsub · ndm`, with the subband count and
///   coarse DMs taken from [`SubbandDedisperser::plan`]; weighted ×1.5 for its extra pass;
/// * FDMT (Zackay & Ofek 2017, eq. 20): `2·nchans + N_Δ · log₂ nchans`, `N_Δ` the largest delay in
///   samples at this step's highest DM; weighted ×3 because it is memory-bound (measured: at
///   1024 channels and 512 trials FDMT ran 2.3× slower than direct while the raw count favours it).
///
/// The cheapest estimate wins; ties go to direct, which is exact. Returns the name and a reason.
pub fn choose_dedisperser(header: &Header, dms: &[f64], downsamp: usize) -> (String, String) {
    let nchans = header.nchans as f64;
    let ndm = dms.len() as f64;
    let direct = nchans * ndm;
    let subband = SubbandDedisperser::default()
        .plan(header, dms, downsamp)
        .map(|p| 1.5 * (nchans * p.coarse_dms.len() as f64 + p.subbands.len() as f64 * ndm))
        .unwrap_or(f64::INFINITY);
    let max_dm = dms.iter().cloned().fold(0.0, f64::max);
    let n_delta = crate::dedisp::plan::max_delay_samples(header, max_dm, header.tsamp_s * downsamp as f64) as f64 + 1.0;
    let fdmt = 3.0 * (2.0 * nchans + n_delta * nchans.max(2.0).log2().ceil());
    let mut best = ("direct", direct);
    for (name, cost) in [("subband", subband), ("fdmt", fdmt)] {
        if cost < 0.9 * best.1 {
            best = (name, cost);
        }
    }
    let reason = format!(
        "{} trials × {} channels (downsamp {}): estimated adds per sample direct {:.3e}, subband {:.3e}, fdmt {:.3e}",
        dms.len(),
        header.nchans,
        downsamp,
        direct,
        subband,
        fdmt
    );
    (best.0.to_string(), reason)
}

/// Removes trials whose dispersion sweep (at their downsampling) is not shorter than the data,
/// which no dedisperser can produce output for (TRAPS B13); returns the kept plan and the number
/// of trials removed.
fn clip_plan_to_data(header: &Header, plan: &DmPlan) -> (DmPlan, usize) {
    let mut removed = 0;
    let steps = plan
        .steps
        .iter()
        .map(|s| {
            let ds = s.downsamp.max(1);
            let nout = header.nsamples as usize / ds;
            let dms: Vec<f64> = s
                .dms
                .iter()
                .copied()
                .filter(|&dm| {
                    // Two samples of margin: subband rounding can need one or two more than direct.
                    let keep =
                        crate::dedisp::plan::max_delay_samples(header, dm, header.tsamp_s * ds as f64) + 2 < nout;
                    if !keep {
                        removed += 1;
                    }
                    keep
                })
                .collect();
            DmStep { dms, downsamp: ds }
        })
        .filter(|s| !s.dms.is_empty())
        .collect();
    (DmPlan { steps, ..plan.clone() }, removed)
}

/// Splits the trials of one plan step into groups dedispersed together.
///
/// A dedisperser returns one output length per call (the input less the largest sweep in the
/// group, TRAPS B13), so a low-DM trial grouped with a much higher one would lose the end of its
/// data. Groups therefore hold trials whose sweeps differ by at most 5 % of the data (one group
/// for the usual observation that is much longer than its sweep; several for short cut-outs of
/// bursts), and at most `max_trials` trials (the memory budget).
fn chunk_trials(header: &Header, dms: &[f64], downsamp: usize, max_trials: usize) -> Vec<Vec<f64>> {
    let tsamp = header.tsamp_s * downsamp as f64;
    let nout = (header.nsamples as usize / downsamp.max(1)).max(1);
    let slack = (nout / 20).max(1);
    let delay = |dm: f64| crate::dedisp::plan::max_delay_samples(header, dm, tsamp);
    let mut order: Vec<f64> = dms.to_vec();
    // Keep the plan's order within groups, but group by sweep length.
    order.sort_by(f64::total_cmp);
    let mut groups: Vec<Vec<f64>> = Vec::new();
    let mut first_delay = 0usize;
    for dm in order {
        let d = delay(dm);
        match groups.last_mut() {
            Some(g) if g.len() < max_trials.max(1) && d.saturating_sub(first_delay) <= slack => g.push(dm),
            _ => {
                first_delay = d;
                groups.push(vec![dm]);
            }
        }
    }
    groups
}

/// Automatic zero-DM birdies ([`crate::rfi::birdies::find_zero_dm_birdies`]) of the excised
/// observation `obs`.
///
/// Dedisperses DM 0 and probe DMs spaced by factors of 1.5 from 0.5 pc cm⁻³ up to the plan's
/// highest DM (only those whose band sweep is at most a tenth of the data, so all series keep
/// nearly the full length), at full time resolution, with the direct dedisperser. Every series is
/// whitened as the search whitens; for each Fourier bin the probe maximum is taken over the probes
/// whose sweep smears a zero-DM signal of that frequency (`f·τ ≥ 0.5`), and over all probes. Memory: the series are
/// limited to `max_memory_mb` (fewer probes when they do not fit; none: a warning, no birdies).
fn zero_dm_birdies(
    obs: &mut dyn Observation,
    header: &Header,
    plan: &DmPlan,
    cfg: &SearchConfig,
) -> Result<Vec<crate::rfi::birdies::Birdie>, PipelineError> {
    use crate::search::spectrum::{real_spectrum_destructive, whiten_spectrum_with};
    let span = header.fbottom_mhz().powi(-2) - header.ftop_mhz().powi(-2);
    let sweep = |dm: f64| crate::consts::K_DM * dm * span.max(0.0);
    let dm_top = plan.dms().into_iter().fold(0.0f64, f64::max);
    let mut dms = vec![0.0f64];
    let mut dm = 0.5;
    while dm <= dm_top && sweep(dm) <= 0.1 * header.duration_s() {
        dms.push(dm);
        dm *= 1.5;
    }
    let n = header.nsamples as usize;
    let fit = ((cfg.max_memory_mb.max(1) << 20) / (4 * n.max(1))).max(1);
    if fit < 2 || dms.len() < 2 {
        tracing::warn!("automatic birdie search skipped: no probe DM fits the data or the memory budget");
        return Ok(Vec::new());
    }
    if dms.len() > fit {
        // Keep DM 0 and the highest probes (the smallest probe DMs only test the highest frequencies).
        let keep = fit - 1;
        let drop = dms.len() - 1 - keep;
        dms.drain(1..1 + drop);
    }
    let ded = DirectDedisperser { block_size: cfg.block_size.max(1) };
    let series = ded.dedisperse(obs, &dms, 1)?;
    let nout = series.data.ncols();
    if nout < 64 {
        return Ok(Vec::new());
    }
    let tobs = nout as f64 * series.tsamp_s;
    let power = |d: usize| -> Vec<f32> {
        let row = series.data.row(d);
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / nout as f64;
        let mut x: Vec<f32> = row.iter().map(|&v| (v as f64 - mean) as f32).collect();
        let mut spec = real_spectrum_destructive(&mut x);
        whiten_spectrum_with(&mut spec, &cfg.periodic_cfg.whiten);
        spec.iter().map(|c| c.norm_sqr()).collect()
    };
    let p0 = power(0);
    let mut pmax = vec![f32::NEG_INFINITY; p0.len()];
    let mut pall = vec![0.0f32; p0.len()];
    for (d, &dm) in series.dms.iter().enumerate().skip(1) {
        let p = power(d);
        for (a, &v) in pall.iter_mut().zip(&p) {
            *a = a.max(v);
        }
        let tau = sweep(dm);
        // Bins with f·τ ≥ 0.5: k ≥ 0.5·tobs/τ.
        let k0 = if tau > 0.0 { (0.5 * tobs / tau).ceil() as usize } else { usize::MAX };
        for k in k0.min(p.len())..p.len().min(pmax.len()) {
            pmax[k] = pmax[k].max(p[k]);
        }
    }
    // No smearing probe for a bin: the test cannot be made there, nothing is zapped.
    pmax.iter_mut().filter(|v| **v == f32::NEG_INFINITY).for_each(|v| *v = f32::INFINITY);
    let found = crate::rfi::birdies::find_zero_dm_birdies(&p0, &pmax, &pall, tobs, &cfg.rfi.auto);
    if !found.is_empty() {
        tracing::info!("{} zero-DM birdies found and zapped", found.len());
    }
    Ok(found)
}

/// Runs the whole search on `obs`.
///
/// `progress(done, total)` is called with DM trials processed so far.
///
/// # Errors
/// [`PipelineError`] from reading, planning or dedispersion; an observation with no samples or
/// a plan whose every trial sweeps past the end of the data is [`PipelineError::Invalid`].
pub fn run_search(
    obs: Box<dyn Observation>,
    cfg: &SearchConfig,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<SearchOutput, PipelineError> {
    let header = obs.header().clone();
    if header.nsamples == 0 || header.nchans == 0 {
        return Err(PipelineError::Invalid(format!(
            "{}: the observation has no samples or no channels",
            obs.source_description()
        )));
    }
    let t_stage = std::time::Instant::now();
    let full_plan = build_plan(&header, cfg)?;
    let (mut plan, removed) = clip_plan_to_data(&header, &full_plan);
    if removed > 0 {
        tracing::warn!(
            "{removed} DM trials dropped: their dispersion sweep is longer than the {:.3} s of data",
            header.duration_s()
        );
    }
    if plan.steps.is_empty() {
        return Err(PipelineError::Invalid(format!(
            "{}: every DM trial's dispersion sweep is longer than the data ({:.3} s); lower --dm-max",
            obs.source_description(),
            header.duration_s()
        )));
    }
    // One algorithm per plan step: the named one, or the cost model's choice under `auto`.
    let mut step_algos: Vec<String> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    for step in &plan.steps {
        if cfg.dedisp == "auto" {
            let (name, why) = choose_dedisperser(&header, &step.dms, step.downsamp.max(1));
            reasons.push(format!("{name}: {why}"));
            step_algos.push(name);
        } else {
            make_dedisperser(&cfg.dedisp, cfg)?;
            step_algos.push(cfg.dedisp.clone());
        }
    }
    let mut names = step_algos.clone();
    names.dedup();
    plan.algorithm = names.join("+");
    if !reasons.is_empty() {
        plan.reason = format!("{}; auto per step: {}", plan.reason, reasons.join("; "));
    }

    tracing::info!(
        "plan: {} DM trials in {} steps ({:.2} s)",
        plan.dms().len(),
        plan.steps.len(),
        t_stage.elapsed().as_secs_f64()
    );
    let t_stage = std::time::Instant::now();
    let (mut obs, mut rfi): (Box<dyn Observation>, Option<RfiReport>) = if cfg.normalise_channels {
        let n = CleanedObservation::new(obs, &cfg.rfi)?;
        let r = n.report().clone();
        (Box::new(n), Some(r))
    } else {
        (obs, None)
    };
    let zapped_channels = rfi.as_ref().map(|r| r.masked_channels.clone()).unwrap_or_default();

    let dm_trials = plan.dms();
    let total = dm_trials.len() as u64;
    let mut pcfg = cfg.periodic_cfg.clone();
    let periodic_trials = crate::search::trials::search_trials(
        &header,
        &plan,
        &crate::search::harmonic::harmonic_stages(pcfg.nharm_max),
        pcfg.fmin_hz,
        pcfg.fmax_hz,
    );
    pcfg.total_trials = periodic_trials;
    if cfg.normalise_channels && cfg.periodic {
        let mut zap = cfg.rfi.zaplist.clone();
        if cfg.rfi.auto_birdies {
            zap.extend(zero_dm_birdies(obs.as_mut(), &header, &plan, cfg)?);
        }
        pcfg.zap.extend(zap.iter().copied());
        if let Some(r) = rfi.as_mut() {
            r.birdies = zap;
        }
    }

    tracing::info!("read + clean (channel statistics, RFI, birdies): {:.2} s", t_stage.elapsed().as_secs_f64());
    let (mut t_dedisp, mut t_search) = (0.0f64, 0.0f64);
    let mut raw_cands: Vec<Candidate> = Vec::new();
    let mut raw_pulses: Vec<SinglePulse> = Vec::new();
    let mut done = 0u64;
    progress(0, total);
    let mut searched_dms: Vec<f64> = Vec::with_capacity(total as usize);
    for (step, algo) in plan.steps.iter().zip(&step_algos) {
        let dedisperser = make_dedisperser(algo, cfg)?;
        let ds = step.downsamp.max(1);
        let nout = header.nsamples as usize / ds;
        let bytes_per_trial = (nout * std::mem::size_of::<f32>()).max(1);
        let chunk = ((cfg.max_memory_mb.max(1) << 20) / bytes_per_trial).max(1);
        for dms in chunk_trials(&header, &step.dms, ds, chunk) {
            let dms = dms.as_slice();
            if algo == "fdd" && cfg.periodic {
                raw_cands.extend(fdd_periodic_search(obs.as_mut(), dms, ds, &pcfg)?);
                if !cfg.single_pulse {
                    searched_dms.extend_from_slice(dms);
                    done += dms.len() as u64;
                    progress(done, total);
                    continue;
                }
            }
            let t0 = std::time::Instant::now();
            let series = dedisperser.dedisperse(obs.as_mut(), dms, ds)?;
            t_dedisp += t0.elapsed().as_secs_f64();
            let t0 = std::time::Instant::now();
            // FDMT reports the DMs of its own delay rows; record what was really searched.
            searched_dms.extend_from_slice(&series.dms);
            let fused = algo == "fdd";
            let tsamp = series.tsamp_s;
            let results: Vec<(Vec<Candidate>, Vec<SinglePulse>)> = (0..series.dms.len())
                .into_par_iter()
                .map(|d| {
                    let row = series.data.row(d);
                    let owned;
                    let x: &[f32] = match row.as_slice() {
                        Some(s) => s,
                        None => {
                            owned = row.to_vec();
                            &owned
                        }
                    };
                    let dm = series.dms[d];
                    let c = if cfg.periodic && !fused { search_series(x, tsamp, dm, &pcfg) } else { Vec::new() };
                    let p = if cfg.single_pulse {
                        search_dm_series(x, dm, tsamp, series.downsamp, &cfg.single_pulse_cfg)
                    } else {
                        Vec::new()
                    };
                    (c, p)
                })
                .collect();
            for (c, p) in results {
                raw_cands.extend(c);
                raw_pulses.extend(p);
            }
            t_search += t0.elapsed().as_secs_f64();
            done += dms.len() as u64;
            progress(done, total);
        }
    }

    tracing::info!("read + dedisperse: {t_dedisp:.2} s; FFT search + single pulse: {t_search:.2} s");
    let t_stage = std::time::Instant::now();
    let mut dm_trials = searched_dms;
    // A dedispersed time series (one channel, SIGPROC `refdm`) was dedispersed before it reached
    // us: its only trial is the file's own DM.
    if header.nchans == 1 {
        if let Some(refdm) = header.refdm {
            dm_trials.iter_mut().for_each(|d| *d += refdm);
            raw_cands.iter_mut().for_each(|c| c.dm += refdm);
            raw_pulses.iter_mut().for_each(|p| p.dm += refdm);
        }
    }
    let candidates = if cfg.periodic { sift_on_grid(raw_cands, &cfg.sift, &dm_trials) } else { Vec::new() };
    let single_pulses = if cfg.single_pulse {
        let mut ccfg = cfg.single_pulse_cfg.cluster.clone();
        if ccfg.dm_trials.is_empty() {
            let mut grid = dm_trials.clone();
            grid.sort_by(f64::total_cmp);
            grid.dedup();
            ccfg.dm_trials = grid;
        }
        let mut sp = cluster(raw_pulses, &ccfg);
        flag_zero_dm(&mut sp, &header);
        sp
    } else {
        Vec::new()
    };
    tracing::info!(
        "sift + cluster: {} candidates, {} single pulses ({:.2} s)",
        candidates.len(),
        single_pulses.len(),
        t_stage.elapsed().as_secs_f64()
    );
    Ok(SearchOutput {
        header,
        dedisperser: plan.algorithm.clone(),
        plan,
        dm_trials,
        candidates,
        single_pulses,
        zapped_channels,
        rfi,
        periodic_trials,
    })
}
