//! Detection accuracy of the search against theory: completeness, false alarms, parameter errors.
//!
//! [`run_accuracy`] simulates every injection of a [`GridConfig`] (grid points × seeds, plus
//! pure-noise observations), streams each simulated observation straight into
//! [`crate::pipeline::run_search`] (no file), matches the sifted candidates to the truth
//! ([`matching`]) and compares with the ideal χ² detection curve and the false-alarm prediction
//! ([`theory`]). Each finished injection is appended at once to `OUT/results.jsonl`
//! (one JSON object per line, keyed by every parameter that changes the result), so an
//! interrupted run resumes where it stopped: keys already present are skipped. At the end
//! [`report`] writes `OUT/results.h5`, `OUT/summary.md` and the PNG plots ([`plots`]).
//!
//! Injection details: each seed shifts the pulsar's frequency by a uniform random fraction of a
//! Fourier bin (`f = 1/P + u/T`) and draws a random pulse phase, so completeness averages over
//! the scalloping loss between Fourier bins as a blind search meets it. The pulse is a Gaussian of
//! FWHM `duty · period` with the requested expected folded S/N (the simulator's definition).
//!
//! Parallelism: `jobs = 1` runs injections one after the other, each search parallel over its
//! DM trials (rayon); `jobs > 1` runs `jobs` injections at once in a pool of `jobs` threads
//! whose searches share the same threads (rayon's nested work stealing: no oversubscription,
//! memory grows with `jobs`). Results do not depend on `jobs`.

pub mod grid;
pub mod matching;
pub mod plots;
pub mod report;
pub mod theory;

pub use grid::{GridConfig, Injection};
pub use matching::{find_match, harmonic_match, local_dm_spacing, MatchInfo, MatchTolerance};
pub use report::{summarise, AccuracySummary};

use crate::pipeline::{run_search, SearchConfig};
use crate::search::harmonic::harmonic_stages;
use crate::search::periodic::PeriodicConfig;
use crate::sim::{OutputFormat, PulsarSpec, Shape, SimConfig, SimulatedObservation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Errors of an accuracy run; each names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum AccuracyError {
    /// A bad grid or profile.
    #[error("accuracy grid: {0}")]
    Config(String),
    /// Simulation failed.
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
    /// The search failed.
    #[error(transparent)]
    Search(#[from] crate::pipeline::PipelineError),
    /// Reading or writing a file failed.
    #[error("{path}: {msg}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        msg: String,
    },
}

/// One injection's result: a row of `/results` in `results.h5` (and of `results.jsonl`).
///
/// Candidate fields are 0 (`cand_rank` −1) when nothing matched; `noise = 1` rows are
/// pure-noise observations (no truth, `n_unmatched_above` counts their candidates ≥ threshold).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, hdf5::H5Type)]
#[repr(C)]
pub struct InjectionResult {
    /// 1 for a pure-noise observation.
    pub noise: u8,
    /// 1 when a candidate matched the injected pulsar.
    pub matched: u8,
    /// Seed index within the grid point.
    pub seed_index: u32,
    /// Simulation seed (from the key).
    pub seed: u64,
    /// Requested expected folded S/N.
    pub snr_injected: f64,
    /// The simulator's expected folded S/N (truth).
    pub expected_snr: f64,
    /// Duty cycle (Gaussian FWHM / period).
    pub duty: f64,
    /// Duty cycle broadened by sampling and channel smearing ([`theory::effective_duty`]).
    pub duty_eff: f64,
    /// Injected period, s.
    pub period_s: f64,
    /// Injected spin frequency, Hz.
    pub frequency_hz: f64,
    /// Injected DM, pc cm⁻³.
    pub dm: f64,
    /// Channels.
    pub nchans: u32,
    /// Sampling time, s.
    pub tsamp_s: f64,
    /// Observation length, s.
    pub tobs_s: f64,
    /// Number of DM trials searched.
    pub n_dm_trials: u32,
    /// Spacing of the DM trials around the true DM, pc cm⁻³.
    pub dm_spacing: f64,
    /// Independent trials of the series at the true DM (the search's sigma correction).
    pub ntrials: f64,
    /// DM error whose sweep across the band, `K_DM·ΔDM·(f_bot⁻² − f_top⁻²)`, equals the pulse's
    /// effective FWHM `duty_eff · period` (pc cm⁻³): the DM resolution of the pulse itself.
    pub dm_width_scale: f64,
    /// Ideal detection probability ([`theory::ideal_detection_probability`]).
    pub ideal_probability: f64,
    /// Harmonic stage of the ideal detection.
    pub ideal_nharm: u32,
    /// Rank of the matched candidate in the sifted list (−1: none).
    pub cand_rank: i32,
    /// Matched candidate: sigma.
    pub cand_sigma: f32,
    /// Matched candidate: Fourier S/N.
    pub cand_snr: f32,
    /// Matched candidate: period, s.
    pub cand_period_s: f64,
    /// Matched candidate: frequency, Hz.
    pub cand_frequency_hz: f64,
    /// Matched candidate: DM, pc cm⁻³.
    pub cand_dm: f64,
    /// Matched candidate: harmonics summed.
    pub cand_nharm: u32,
    /// Matched ratio numerator (`f_c/f ≈ num/den`).
    pub ratio_num: u32,
    /// Matched ratio denominator.
    pub ratio_den: u32,
    /// Frequency error of the matched candidate, Fourier bins (`(f_c − r f)·T`).
    pub freq_err_bins: f64,
    /// DM error of the matched candidate, pc cm⁻³.
    pub dm_err: f64,
    /// Ideal Fourier S/N `sqrt(2 Σ_{h ≤ cand_nharm} S_h)` at the true parameters.
    pub ideal_fourier_snr: f64,
    /// Sifted candidates in total.
    pub n_candidates: u32,
    /// Candidates ≥ the detection threshold that match nothing injected and that sifting did not
    /// flag as a harmonic (`p/q` ratio) of a stronger candidate (false alarms).
    pub n_unmatched_above: u32,
    /// Wall-clock time of simulation + search, s.
    pub elapsed_s: f64,
}

/// One line of `results.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultLine {
    /// The resume key ([`Injection::key`]).
    pub key: String,
    /// The result row.
    pub row: InjectionResult,
    /// Pure-noise runs: sigma of every sifted candidate (the search reports down to
    /// `noise_probe_sigma`); empty otherwise.
    #[serde(default)]
    pub noise_sigmas: Vec<f32>,
}

/// The context string mixed into every key: the settings shared by all injections.
pub fn key_context(cfg: &GridConfig) -> String {
    format!(
        "{}|T={}|nbits={}|base={}|dmmax={}|nharm={}|sig={}|f={}-{}|probe={}|match={},{},{},{},{}",
        cfg.preset,
        cfg.duration_s,
        cfg.nbits,
        cfg.base_seed,
        cfg.dm_max,
        cfg.nharm,
        cfg.sigma_threshold,
        cfg.fmin_hz,
        cfg.fmax_hz,
        cfg.noise_probe_sigma,
        cfg.match_tol_bins,
        cfg.match_max_harmonic,
        cfg.match_dm_steps,
        cfg.match_dm_frac,
        cfg.match_dm_widths
    )
}

/// The search configuration of an injection (periodic search only, DM 0 … `dm_max`).
pub fn search_config(cfg: &GridConfig, noise: bool) -> SearchConfig {
    SearchConfig {
        dm_min: 0.0,
        dm_max: cfg.dm_max,
        periodic: true,
        single_pulse: false,
        periodic_cfg: PeriodicConfig {
            nharm_max: cfg.nharm,
            sigma_threshold: if noise { cfg.noise_probe_sigma.min(cfg.sigma_threshold) } else { cfg.sigma_threshold },
            fmin_hz: cfg.fmin_hz,
            fmax_hz: cfg.fmax_hz,
            ..PeriodicConfig::default()
        },
        ..SearchConfig::default()
    }
}

/// Simulates, searches and scores one injection (deterministic given `inj` and `cfg`).
///
/// # Errors
/// [`AccuracyError`] when the simulation or the search fails.
pub fn run_injection(inj: &Injection, cfg: &GridConfig) -> Result<ResultLine, AccuracyError> {
    let t0 = std::time::Instant::now();
    let key = inj.key(&key_context(cfg));
    let seed = grid::seed_of(&key);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nsamples = (cfg.duration_s / inj.tsamp_s).round();
    let tobs = nsamples * inj.tsamp_s;
    let mut sim = SimConfig {
        preset: cfg.preset.clone(),
        duration_s: cfg.duration_s,
        nchans: Some(inj.nchans),
        tsamp_s: Some(inj.tsamp_s),
        nbits: Some(cfg.nbits),
        seed,
        source_name: "ACCURACY".into(),
        ..SimConfig::default()
    };
    let (mut freq, mut period) = (0.0, 0.0);
    if !inj.is_noise() {
        let u: f64 = rng.gen();
        freq = 1.0 / inj.period_s + u / tobs;
        period = 1.0 / freq;
        let phase: f64 = rng.gen();
        sim.pulsars.push(PulsarSpec {
            period_s: period,
            dm: inj.dm,
            snr: Some(inj.snr),
            flux_mjy: None,
            width_s: Some(inj.duty * period),
            shape: Shape::Gauss,
            accel: 0.0,
            spindex: 0.0,
            phase: phase.min(0.999_999),
            tau_1ghz_s: 0.0,
            components: vec![],
            orbit: None,
        });
    }
    let obs = SimulatedObservation::new(&sim)?;
    let truth = obs.truth("<memory>", OutputFormat::Filterbank, 0);
    let header = truth.header.clone();
    let scfg = search_config(cfg, inj.is_noise());
    let out = run_search(Box::new(obs), &scfg, &mut |_, _| {})?;
    let ndm = out.dm_trials.len();
    let tol = MatchTolerance {
        tol_bins: cfg.match_tol_bins,
        max_harmonic: cfg.match_max_harmonic,
        dm_steps: cfg.match_dm_steps,
        dm_frac: cfg.match_dm_frac,
        dm_widths: cfg.match_dm_widths,
    };

    let mut row = InjectionResult {
        noise: inj.is_noise() as u8,
        matched: 0,
        seed_index: inj.seed_index,
        seed,
        snr_injected: inj.snr,
        expected_snr: truth.pulsars.first().map(|p| p.expected_snr).unwrap_or(0.0),
        duty: inj.duty,
        duty_eff: inj.duty,
        period_s: period,
        frequency_hz: freq,
        dm: inj.dm,
        nchans: inj.nchans as u32,
        tsamp_s: inj.tsamp_s,
        tobs_s: header.duration_s(),
        n_dm_trials: ndm as u32,
        dm_spacing: local_dm_spacing(&out.dm_trials, inj.dm),
        ntrials: 0.0,
        dm_width_scale: 0.0,
        ideal_probability: 0.0,
        ideal_nharm: 0,
        cand_rank: -1,
        cand_sigma: 0.0,
        cand_snr: 0.0,
        cand_period_s: 0.0,
        cand_frequency_hz: 0.0,
        cand_dm: 0.0,
        cand_nharm: 0,
        ratio_num: 0,
        ratio_den: 0,
        freq_err_bins: 0.0,
        dm_err: 0.0,
        ideal_fourier_snr: 0.0,
        n_candidates: out.candidates.len() as u32,
        n_unmatched_above: 0,
        elapsed_s: 0.0,
    };
    // Downsampling of the plan step holding the trial nearest the true DM.
    let ds = out
        .plan
        .steps
        .iter()
        .flat_map(|s| s.dms.iter().map(move |&d| (d, s.downsamp)))
        .min_by(|a, b| (a.0 - inj.dm).abs().total_cmp(&(b.0 - inj.dm).abs()))
        .map(|x| x.1)
        .unwrap_or(1);
    // The search's own trials count (one rule: crate::search::trials::search_trials).
    row.ntrials = out.periodic_trials;
    let series_len = (row.tobs_s / (header.tsamp_s * ds as f64)).round().max(2.0) as usize;
    let thr = cfg.sigma_threshold as f32;
    let mut noise_sigmas = Vec::new();
    if inj.is_noise() {
        row.n_unmatched_above = out.candidates.iter().filter(|c| c.sigma >= thr).count() as u32;
        noise_sigmas = out.candidates.iter().map(|c| c.sigma).collect();
    } else {
        let nch = header.nchans as f64;
        let fc = header.fch1_mhz + header.foff_mhz * 0.5 * (nch - 1.0);
        let chan_smear = 2.0 * crate::consts::K_DM * inj.dm * header.foff_mhz.abs() / fc.powi(3);
        row.duty_eff = theory::effective_duty(inj.duty, period, header.tsamp_s * ds as f64, chan_smear);
        let fbot = header.fch1_mhz + header.foff_mhz * (nch - 1.0);
        let (flo, fhi) = (fbot.min(header.fch1_mhz), fbot.max(header.fch1_mhz));
        row.dm_width_scale = row.duty_eff * period / (crate::consts::K_DM * (flo.powi(-2) - fhi.powi(-2))).max(1e-300);
        let powers = theory::expected_harmonic_powers(row.expected_snr, row.duty_eff, cfg.nharm.max(1));
        let stages = harmonic_stages(cfg.nharm);
        let (p, h) =
            theory::ideal_detection_probability(&powers, &stages, cfg.sigma_threshold, row.ntrials, series_len);
        row.ideal_probability = p;
        row.ideal_nharm = h;
        let m = find_match(&out.candidates, freq, inj.dm, row.tobs_s, row.dm_spacing, row.dm_width_scale, &tol);
        if let Some(m) = m {
            let c = &out.candidates[m.index];
            row.matched = 1;
            row.cand_rank = m.index as i32;
            row.cand_sigma = c.sigma;
            row.cand_snr = c.snr;
            row.cand_period_s = c.period_s;
            row.cand_frequency_hz = c.frequency_hz;
            row.cand_dm = c.dm;
            row.cand_nharm = c.nharm;
            row.ratio_num = m.num;
            row.ratio_den = m.den;
            row.freq_err_bins = m.freq_err_bins;
            row.dm_err = m.dm_err;
            row.ideal_fourier_snr = (2.0 * powers.iter().take(c.nharm as usize).sum::<f64>()).sqrt();
        }
        let dm_tol = tol.dm_tolerance(inj.dm, row.dm_spacing, row.dm_width_scale);
        row.n_unmatched_above = out
            .candidates
            .iter()
            .filter(|c| c.sigma >= thr && c.harmonic_of < 0)
            .filter(|c| {
                (c.dm - inj.dm).abs() > dm_tol || harmonic_match(c.frequency_hz, freq, row.tobs_s, &tol).is_none()
            })
            .count() as u32;
    }
    row.elapsed_s = t0.elapsed().as_secs_f64();
    Ok(ResultLine { key, row, noise_sigmas })
}

/// Reads `results.jsonl` (missing file: empty). A line that does not parse (e.g. cut short by
/// an interruption) is skipped with a warning.
///
/// # Errors
/// [`AccuracyError::File`] when the file exists but cannot be read.
pub fn read_results(path: &Path) -> Result<Vec<ResultLine>, AccuracyError> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AccuracyError::File { path: path.into(), msg: e.to_string() }),
    };
    let mut v = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| AccuracyError::File { path: path.into(), msg: e.to_string() })?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ResultLine>(&line) {
            Ok(r) => v.push(r),
            Err(e) => tracing::warn!("{}: line {} skipped: {e}", path.display(), i + 1),
        }
    }
    Ok(v)
}

/// Runs (or resumes) the accuracy grid `cfg` into `out_dir` (created if needed) and writes the
/// report (`results.h5`, `summary.md`, PNGs). `progress(done, total)` is called after each
/// injection (done counts injections skipped as already finished).
///
/// # Errors
/// [`AccuracyError`] for a bad grid, a failed simulation or search, or an unwritable output.
pub fn run_accuracy(
    cfg: &GridConfig,
    out_dir: &Path,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<AccuracySummary, AccuracyError> {
    cfg.validate().map_err(AccuracyError::Config)?;
    std::fs::create_dir_all(out_dir).map_err(|e| AccuracyError::File { path: out_dir.into(), msg: e.to_string() })?;
    let jsonl = out_dir.join("results.jsonl");
    let ctx = key_context(cfg);
    let all = cfg.injections();
    let done: HashSet<String> = read_results(&jsonl)?.into_iter().map(|r| r.key).collect();
    let todo: Vec<Injection> = all.iter().copied().filter(|i| !done.contains(&i.key(&ctx))).collect();
    let total = all.len() as u64;
    let ndone = std::sync::atomic::AtomicU64::new(total - todo.len() as u64);
    progress(ndone.load(std::sync::atomic::Ordering::Relaxed), total);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&jsonl)
        .map_err(|e| AccuracyError::File { path: jsonl.clone(), msg: e.to_string() })?;
    let file = Mutex::new(file);
    let one = |inj: &Injection| -> Result<(), AccuracyError> {
        let line = run_injection(inj, cfg)?;
        let text = serde_json::to_string(&line)
            .map_err(|e| AccuracyError::File { path: jsonl.clone(), msg: e.to_string() })?;
        {
            let mut f =
                file.lock().map_err(|_| AccuracyError::File { path: jsonl.clone(), msg: "lock poisoned".into() })?;
            writeln!(f, "{text}")
                .and_then(|_| f.flush())
                .map_err(|e| AccuracyError::File { path: jsonl.clone(), msg: e.to_string() })?;
        }
        let d = ndone.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(d, total);
        Ok(())
    };
    if cfg.jobs <= 1 {
        for inj in &todo {
            one(inj)?;
        }
    } else {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.jobs)
            .build()
            .map_err(|e| AccuracyError::Config(format!("thread pool: {e}")))?;
        pool.install(|| todo.par_iter().try_for_each(one))?;
    }
    drop(file);
    // Keep the rows of this grid only, in grid order (a results file may hold other runs).
    let mut by_key: std::collections::HashMap<String, ResultLine> =
        read_results(&jsonl)?.into_iter().map(|r| (r.key.clone(), r)).collect();
    let lines: Vec<ResultLine> = all.iter().filter_map(|i| by_key.remove(&i.key(&ctx))).collect();
    let summary = summarise(cfg, &lines);
    report::write_results_h5(&out_dir.join("results.h5"), cfg, &lines)?;
    let md = out_dir.join("summary.md");
    let tmp = out_dir.join(format!(".summary.md.tmp{}", std::process::id()));
    std::fs::write(&tmp, report::summary_markdown(cfg, &summary))
        .and_then(|_| std::fs::rename(&tmp, &md))
        .map_err(|e| AccuracyError::File { path: md.clone(), msg: e.to_string() })?;
    if let Err(e) = plots::write_plots(out_dir, cfg, &lines, &summary) {
        tracing::warn!("accuracy plots not written: {e}");
    }
    Ok(summary)
}
