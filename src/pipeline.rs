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
use crate::dedisp::fourier::FddDedisperser;
use crate::dedisp::plan::{DmPlan, DmStep, PlanConfig};
use crate::dedisp::stream::{fast_len_above, TrialStore};
use crate::dedisp::subband::SubbandDedisperser;
use crate::dedisp::{DedispError, DedispKind, Dedisperser};
use crate::io::{Header, IoError, Observation};
use crate::rfi::{CleanedObservation, RfiConfig, RfiError, RfiReport};
use crate::rows::FfaSummary;
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
    /// Dedispersion algorithm, or `auto` (cost model per plan step, [`choose_dedisperser`]).
    pub dedisp: DedispKind,
    /// Run the FFT periodicity search.
    pub periodic: bool,
    /// Run the single-pulse search.
    pub single_pulse: bool,
    /// Run the FFA periodicity search ([`crate::search::ffa`]) on every DM trial; its candidates
    /// are sifted together with the FFT search's (`search` column `fft`, `ffa` or `both`).
    pub ffa: bool,
    /// FFA search parameters (`total_trials` is set from the plan).
    pub ffa_cfg: crate::search::ffa::FfaConfig,
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
    /// Memory budget of the dedispersion and search stages, MiB: input blocks, algorithm work
    /// (FDMT levels, FDD spectra), dedispersed series held in memory (the rest go to a scratch
    /// file) and the FFT and single-pulse work of the threads ([`StepRun`]).
    pub max_memory_mb: usize,
    /// Output samples per block read by the dedisperser (lowered to fit `max_memory_mb`; the
    /// results do not depend on it).
    pub block_size: usize,
    /// Pad each series with its mean to a fast FFT length (even, 7-smooth,
    /// [`fast_len_above`]) before the FFT search. Off by default: measured on tests/detection.rs,
    /// the padding moves the best DM of marginal detections by a trial or two (the 60 s DM-71
    /// pulsar came out 3 trials low instead of within 2).
    pub pad_fft: bool,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            dm_min: 0.0,
            dm_max: crate::dedisp::plan::DEFAULT_DM_MAX,
            dm_step: None,
            dm_list: None,
            plan: PlanConfig::default(),
            dedisp: DedispKind::Auto,
            periodic: true,
            single_pulse: true,
            ffa: false,
            ffa_cfg: crate::search::ffa::FfaConfig::default(),
            periodic_cfg: PeriodicConfig::default(),
            sift: SiftConfig::default(),
            single_pulse_cfg: SinglePulseConfig::default(),
            normalise_channels: true,
            rfi: RfiConfig::default(),
            max_memory_mb: 1024,
            block_size: 8192,
            pad_fft: false,
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
    /// The excision as applied (statistics, masks, clipping), to fold or dedisperse the same
    /// cleaned data again ([`CleanedObservation::with_mask`]); `None` when not normalised.
    pub rfi_mask: Option<crate::rfi::RfiMask>,
    /// Effective independent trials `W` of the periodic search, used in every candidate's sigma
    /// ([`crate::search::trials::search_trials`]).
    pub periodic_trials: f64,
    /// How each group of trials was dedispersed and searched (lengths, blocks, memory).
    pub steps: Vec<StepRun>,
    /// Stage times of this run.
    pub times: StageTimes,
    /// The FFA search's periodogram summaries (`None` without `--ffa`).
    pub ffa: Option<FfaSummary>,
}

/// Period cells of the `/ffa` periodogram summary per DM.
pub const FFA_SUMMARY_CELLS: usize = 1024;

/// Per-DM FFA results of one step run: (DM, summary) rows and the best full periodogram
/// `(snr, dm, periods, snr per trial)`.
type FfaRows = (Vec<(f64, crate::search::ffa::PeriodogramSummary)>, Option<BestPeriodogram>);

/// The full periodogram of the best DM so far: its best S/N, DM, trial periods (s) and S/N.
type BestPeriodogram = (f32, f64, Vec<f64>, Vec<f32>);

/// One DM trial's FFA result in the fused path: its candidates and periodogram summary.
type FfaOne = (Vec<Candidate>, crate::search::ffa::PeriodogramSummary);

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

/// The dedisperser of kind `kind` (`auto` is resolved per plan step by [`choose_dedisperser`]
/// before this is called).
///
/// With `fdd` the periodicity search is fused with dedispersion
/// ([`FddDedisperser::fused_search`]: one FFT per channel per plan step, the dedispersed spectra
/// go straight to whitening and harmonic summing; the single-pulse series are their inverse
/// FFTs). `auto` never picks `fdd`: it does as many operations as direct and measured 3–4.6×
/// slower than direct-then-FFT on this machine; its gain is sensitivity (exact fractional delays).
///
/// # Errors
/// [`PipelineError::Invalid`] for `auto`.
pub fn make_dedisperser(kind: DedispKind, cfg: &SearchConfig) -> Result<Box<dyn Dedisperser>, PipelineError> {
    kind.make(cfg.block_size.max(1))
        .ok_or_else(|| PipelineError::Invalid("`auto` must be resolved per plan step before dedispersion".into()))
}

/// Estimated additions per output sample of each algorithm for one plan step, and the choice.
///
/// Every algorithm streams (one pass over the observation per plan step: each input sample is
/// read, cleaned, downsampled and transposed once, `nchans · downsamp` operations per output
/// sample, common to all and left out). Cost model (operations per output time sample, before
/// the common factor `nsamples`):
/// * direct: `nchans · ndm` (one add per channel per trial);
/// * subband (PRESTO prepsubband): `nchans · n_coarse + nsub · ndm`, with the subband count and
///   coarse DMs taken from [`SubbandDedisperser::plan`]; weighted ×1.5 for its extra in-memory
///   pass over the subband series;
/// * FDMT (Zackay & Ofek 2017, eq. 20, ≈ `2·nchans + N_Δ · log₂ nchans`): counted exactly from
///   its plan ([`FdmtDedisperser::adds_per_sample`]: the rows of every level, each over its block
///   plus the overlap it recomputes, i.e. the passes over the levels); weighted ×3 because it is
///   memory-bound (measured: at 1024 channels and 512 trials FDMT ran 2.3× slower than direct
///   while the raw count favours it).
///
/// Memory: an algorithm whose working memory at the smallest block (256 samples,
/// [`Dedisperser::work_bytes`]) exceeds `max_memory_mb` is not chosen (FDMT's levels grow as
/// `N_Δ²`). The cheapest remaining estimate wins; ties go to direct, which is exact. Returns the
/// kind and a reason.
pub fn choose_dedisperser(header: &Header, dms: &[f64], downsamp: usize, max_memory_mb: usize) -> (DedispKind, String) {
    let nchans = header.nchans as f64;
    let ndm = dms.len() as f64;
    let direct = nchans * ndm;
    let subband = SubbandDedisperser::default()
        .plan(header, dms, downsamp)
        .map(|p| 1.5 * (nchans * p.coarse_dms.len() as f64 + p.subbands.len() as f64 * ndm))
        .unwrap_or(f64::INFINITY);
    let fdmt = FdmtDedisperser::default()
        .adds_per_sample(header, dms, downsamp)
        .map(|adds| 3.0 * adds)
        .unwrap_or(f64::INFINITY);
    let budget = max_memory_mb.max(1) << 20;
    let fits = |k: DedispKind| k.make(MIN_BLOCK).is_some_and(|d| d.work_bytes(header, dms, downsamp) <= budget);
    let mut best = (DedispKind::Direct, direct);
    let mut unfit = Vec::new();
    for (kind, cost) in [(DedispKind::Subband, subband), (DedispKind::Fdmt, fdmt)] {
        if cost < 0.9 * best.1 {
            if fits(kind) {
                best = (kind, cost);
            } else {
                unfit.push(kind.name());
            }
        }
    }
    let mut reason = format!(
        "{} trials × {} channels (downsamp {}): estimated adds per sample direct {:.3e}, subband {:.3e}, fdmt {:.3e}",
        dms.len(),
        header.nchans,
        downsamp,
        direct,
        subband,
        fdmt
    );
    if !unfit.is_empty() {
        reason += &format!("; {} cheaper but over the {max_memory_mb} MiB budget", unfit.join(", "));
    }
    (best.0, reason)
}

/// Extra bytes per searching thread of the acceleration search of an `n`-sample series at
/// `zmax` (0 when `zmax = 0`) with harmonic stages up to `nharm_max`: the `(r, z)` power plane
/// ([`crate::search::accel::plane_bytes`]), the running sum, and each stage's best-over-drift
/// power and row index ([`crate::search::accel::best_over_drift`]; 4 + 8 · stages bytes per half bin).
pub fn accel_bytes_per_thread(n: usize, zmax: u32, nharm_max: u32) -> usize {
    if zmax == 0 {
        return 0;
    }
    let nbins = n / 2 + 1;
    let nstages = crate::search::harmonic::harmonic_stages(nharm_max).len();
    crate::search::accel::plane_bytes(nbins, zmax) + (4 + 8 * nstages) * 2 * nbins
}

/// Smallest dedispersion block the memory budget may force, output samples.
pub const MIN_BLOCK: usize = 256;

/// Bytes of FFT and single-pulse work per searching thread for an `n`-sample series: the
/// complex spectrum, the half-bin grid and one harmonic sum are alive at once (≈ 3 × 4n bytes),
/// the mean-subtracted copy before them and the single-pulse search's normalised copy and
/// running sums after; counted as 6 `f32` per sample. A length with a prime factor above 7 may
/// take rustfft's Bluestein path, whose inner transform of the next power of two ≥ 2n − 1
/// complex samples needs three such buffers: 48n bytes more.
pub fn search_bytes_per_thread(n: usize) -> usize {
    let mut m = n.max(1);
    for p in [2, 3, 5, 7] {
        while m % p == 0 {
            m /= p;
        }
    }
    if m == 1 {
        24 * n
    } else {
        72 * n
    }
}

/// How one group of trials of a plan step is dedispersed and searched. Chosen from the header,
/// the trials and the memory budget alone (never from the data); the series lengths depend only
/// on the trials, so the results do not depend on the budget, the block size or the threads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    /// The algorithm.
    pub kind: DedispKind,
    /// The DM trials, pc cm⁻³ (ascending).
    pub dms: Vec<f64>,
    /// Downsampling factor.
    pub downsamp: usize,
    /// Downsampled input samples beyond an output sample that the trials need (largest delay).
    pub overlap: usize,
    /// Samples of every dedispersed series, `n/downsamp − overlap` (the single-pulse search's).
    pub nout: usize,
    /// Samples of each series the FFT search transforms: `nout`, or with
    /// [`SearchConfig::pad_fft`] `nout` padded with the series mean to the smallest even
    /// 7-smooth length ≥ `nout` ([`fast_len_above`]); the fused FDD search transforms its own
    /// padded length.
    pub fft_len: usize,
    /// Output samples per dedispersion block (the configured block, halved to fit the budget).
    pub block_size: usize,
    /// FDD with the fused Fourier-domain periodicity search.
    pub fused: bool,
    /// The series are held in memory (else in a scratch file, [`TrialStore`]).
    pub in_memory: bool,
    /// Trials searched at once (read from the store together).
    pub chunk_rows: usize,
    /// Estimated bytes of the dedispersion work (input block, levels or spectra, output block).
    pub dedisp_bytes: usize,
    /// Estimated bytes of the dedispersed series held in memory.
    pub series_bytes: usize,
    /// Estimated bytes of the threads' FFT and single-pulse work.
    pub search_bytes: usize,
}

impl StepRun {
    /// Estimated peak bytes of this step: the larger of the dedispersion phase and the search
    /// phase, with the series held in memory during both (in memory) or the chunk of series
    /// read back during the search (scratch file).
    pub fn peak_bytes(&self) -> usize {
        if self.in_memory {
            self.series_bytes + self.dedisp_bytes.max(self.search_bytes)
        } else {
            self.dedisp_bytes.max(self.series_bytes + self.search_bytes)
        }
    }
}

/// Splits the trials of one plan step into groups dedispersed together.
///
/// A group's series have one length (the input less the largest sweep in the group, TRAPS B13),
/// so a low-DM trial grouped with a much higher one would lose the end of its data. Groups
/// therefore hold trials whose sweeps differ by at most 5 % of the data (one group for the usual
/// observation that is much longer than its sweep; several for short cut-outs of bursts). The
/// grouping depends on the header and the trials only.
fn length_groups(header: &Header, dms: &[f64], downsamp: usize) -> Vec<Vec<f64>> {
    let tsamp = header.tsamp_s * downsamp as f64;
    let nout = (header.nsamples as usize / downsamp.max(1)).max(1);
    let slack = (nout / 20).max(1);
    let delay = |dm: f64| crate::dedisp::plan::max_delay_samples(header, dm, tsamp);
    let mut order: Vec<f64> = dms.to_vec();
    order.sort_by(f64::total_cmp);
    let mut groups: Vec<Vec<f64>> = Vec::new();
    let mut first_delay = 0usize;
    for dm in order {
        let d = delay(dm);
        match groups.last_mut() {
            Some(g) if d.saturating_sub(first_delay) <= slack => g.push(dm),
            _ => {
                first_delay = d;
                groups.push(vec![dm]);
            }
        }
    }
    groups
}

/// The [`StepRun`]s of a plan step searched with `kind` (not `auto`) under `cfg`'s budget.
///
/// Budget `B = max_memory_mb`: with `T` the bytes of all series, `W` the dedispersion work at
/// the configured block and `S` the threads' search work, the series stay in memory when
/// `T + max(W, S) ≤ B`; otherwise they go to a scratch file, the block is halved (down to
/// [`MIN_BLOCK`]) until `W ≤ B`, and `(B − S) / (4·nout)` trials (at least one) are searched at
/// a time. Fused FDD holds the channel spectra of the whole series
/// ([`FddDedisperser::fused_bytes`]); when they do not fit, this is an error.
///
/// # Errors
/// [`PipelineError`] for an unusable header or trials, a sweep not shorter than the data, or
/// FDD spectra over the budget.
pub fn plan_step_runs(
    header: &Header,
    step: &DmStep,
    kind: DedispKind,
    cfg: &SearchConfig,
) -> Result<Vec<StepRun>, PipelineError> {
    let budget = cfg.max_memory_mb.max(1) << 20;
    let ds = step.downsamp.max(1);
    let n_ds = header.nsamples as usize / ds;
    let threads = rayon::current_num_threads().max(1);
    let mut runs = Vec::new();
    for dms in length_groups(header, &step.dms, ds) {
        let mut ded = make_dedisperser(kind, cfg)?;
        let overlap = ded.overlap(header, &dms, ds)?;
        if overlap >= n_ds {
            return Err(PipelineError::Invalid(format!(
                "the dispersion sweep at DM {} spans {overlap} samples, the data only {n_ds} (downsampled ×{ds})",
                dms.last().copied().unwrap_or(0.0)
            )));
        }
        let nout = n_ds - overlap;
        let fft_len = if cfg.pad_fft { fast_len_above(nout) } else { nout };
        let accel_bytes = if cfg.periodic {
            accel_bytes_per_thread(fft_len, cfg.periodic_cfg.zmax, cfg.periodic_cfg.nharm_max)
        } else {
            0
        };
        if threads.min(dms.len()) * accel_bytes > budget {
            return Err(PipelineError::Invalid(format!(
                "the acceleration search's (r, z) planes need {} MiB ({} thread(s) × {} MiB for --zmax {} on series of {} samples), more than --max-memory-mb {}: raise --max-memory-mb, lower --zmax or use fewer --threads",
                (threads.min(dms.len()) * accel_bytes) >> 20,
                threads.min(dms.len()),
                accel_bytes >> 20,
                cfg.periodic_cfg.zmax,
                fft_len,
                cfg.max_memory_mb
            )));
        }
        let ffa_bytes = if cfg.ffa {
            crate::search::ffa::FfaPlan::new(nout, header.tsamp_s * ds as f64, &cfg.ffa_cfg)
                .map(|p| p.bytes_per_thread())
                .unwrap_or(0)
        } else {
            0
        };
        let search_bytes = threads.min(dms.len()) * (search_bytes_per_thread(fft_len) + accel_bytes + ffa_bytes);
        if kind == DedispKind::Fdd && cfg.periodic {
            let sp_len = if cfg.single_pulse { nout } else { 0 };
            let need = FddDedisperser::fused_bytes(header, &dms, ds, sp_len) + search_bytes;
            if need > budget {
                return Err(PipelineError::Invalid(format!(
                    "Fourier-domain dedispersion of DM {:.3}–{:.3} (downsampled ×{ds}) holds the channel spectra of the \
                     whole series: about {} MiB, over --max-memory-mb {}; raise it or use --dedisp direct, subband or fdmt",
                    dms[0],
                    dms[dms.len() - 1],
                    need.div_ceil(1 << 20),
                    cfg.max_memory_mb
                )));
            }
            runs.push(StepRun {
                kind,
                downsamp: ds,
                overlap,
                nout,
                fft_len,
                block_size: cfg.block_size,
                fused: true,
                in_memory: true,
                chunk_rows: dms.len(),
                dedisp_bytes: need - search_bytes,
                series_bytes: 0,
                search_bytes,
                dms,
            });
            continue;
        }
        let series = dms.len() * nout * 4;
        let mut block = cfg.block_size.max(1);
        let work = ded.work_bytes(header, &dms, ds);
        let (in_memory, chunk_rows) = if series + work.max(search_bytes) <= budget {
            (true, dms.len())
        } else {
            while block > MIN_BLOCK {
                let d = make_dedisperser(kind, &SearchConfig { block_size: block, ..cfg.clone() })?;
                if d.work_bytes(header, &dms, ds) <= budget {
                    break;
                }
                block = (block / 2).max(MIN_BLOCK);
            }
            let rows = budget.saturating_sub(search_bytes) / (4 * nout).max(1);
            (false, rows.clamp(1, dms.len()))
        };
        ded = make_dedisperser(kind, &SearchConfig { block_size: block, ..cfg.clone() })?;
        let dedisp_bytes = ded.work_bytes(header, &dms, ds);
        let series_bytes = if in_memory { series } else { chunk_rows * nout * 4 };
        if dedisp_bytes > budget {
            tracing::warn!(
                "{kind} dedispersion of DM {:.3}–{:.3} needs about {} MiB at its smallest block, over --max-memory-mb {}",
                dms[0],
                dms[dms.len() - 1],
                dedisp_bytes.div_ceil(1 << 20),
                cfg.max_memory_mb
            );
        }
        runs.push(StepRun {
            kind,
            downsamp: ds,
            overlap,
            nout,
            fft_len,
            block_size: block,
            fused: false,
            in_memory,
            chunk_rows,
            dedisp_bytes,
            series_bytes,
            search_bytes,
            dms,
        });
    }
    Ok(runs)
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

/// Automatic zero-DM birdies ([`crate::rfi::birdies::find_zero_dm_birdies`]) of the excised
/// observation `obs`.
///
/// Dedisperses DM 0 and the probe DMs of [`crate::rfi::birdies::probe_dms`] (factors of 1.5
/// from 0.5 pc cm⁻³ to a fixed `probe_dm_max`, independent of the plan's DM range so a mask
/// file and any search find the same birdies; only those whose band sweep is at most a tenth of
/// the data), at the plan's finest time resolution (its smallest downsampling: no
/// searched series has a higher Nyquist frequency), with the direct dedisperser, in one pass;
/// every probe's series has the length of the highest probe's, cut to a fast FFT length. Every
/// series is whitened as the search whitens; for each Fourier bin the probe maximum is taken over
/// the probes whose sweep smears a zero-DM signal of that frequency (`f·τ ≥ 0.5`), and over all
/// probes. Memory: the series stay in memory when they fit `max_memory_mb`, else in a scratch
/// file read one probe at a time; the probes never depend on the budget.
pub fn zero_dm_birdies(
    obs: &mut dyn Observation,
    header: &Header,
    plan: &DmPlan,
    cfg: &SearchConfig,
) -> Result<Vec<crate::rfi::birdies::Birdie>, PipelineError> {
    use crate::search::spectrum::{real_spectrum_destructive, whiten_spectrum_with};
    let span = header.fbottom_mhz().powi(-2) - header.ftop_mhz().powi(-2);
    let sweep = |dm: f64| crate::consts::K_DM * dm * span.max(0.0);
    // The probes depend on the data only, not on the plan's DM range (birdies::probe_dms).
    let dms = crate::rfi::birdies::probe_dms(header, &cfg.rfi.auto);
    let ds = plan.steps.iter().map(|s| s.downsamp.max(1)).min().unwrap_or(1);
    let n = header.nsamples as usize / ds;
    if dms.len() < 2 {
        tracing::warn!("automatic birdie search skipped: no probe DM fits the data");
        return Ok(Vec::new());
    }
    let ded = DirectDedisperser { block_size: cfg.block_size.max(1) };
    let overlap = ded.overlap(header, &dms, ds)?;
    let nout = n.saturating_sub(overlap);
    if nout < 64 {
        return Ok(Vec::new());
    }
    let budget = cfg.max_memory_mb.max(1) << 20;
    let in_memory =
        dms.len() * nout * 4 + ded.work_bytes(header, &dms, ds).max(search_bytes_per_thread(nout)) <= budget;
    let mut store = TrialStore::new(dms.len(), nout, in_memory)?;
    ded.stream(obs, &dms, ds, nout, &mut store, &mut |_, _| {})?;
    let tsamp = header.tsamp_s * ds as f64;
    let tobs = nout as f64 * tsamp;
    let mut row = Vec::new();
    let mut power = |d: usize| -> Result<Vec<f32>, PipelineError> {
        store.read_rows(d..d + 1, &mut row)?;
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / nout as f64;
        row.iter_mut().for_each(|v| *v = (*v as f64 - mean) as f32);
        let mut spec = real_spectrum_destructive(&mut row);
        whiten_spectrum_with(&mut spec, &cfg.periodic_cfg.whiten);
        Ok(spec.iter().map(|c| c.norm_sqr()).collect())
    };
    let p0 = power(0)?;
    let mut pmax = vec![f32::NEG_INFINITY; p0.len()];
    let mut pall = vec![0.0f32; p0.len()];
    for (d, &dm) in dms.iter().enumerate().skip(1) {
        let p = power(d)?;
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

/// Wall and thread times of the search stages, seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimes {
    /// The excision's statistics pass over the file ([`CleanedObservation::new`]), wall.
    pub excision_stats_s: f64,
    /// Reading and cleaning (RFI excision, normalisation) inside `read_block`, wall.
    pub read_s: f64,
    /// The automatic zero-DM birdie search, wall (its reading included).
    pub birdies_s: f64,
    /// Dedispersion passes, wall, reading excluded (FDD: forming and shifting the spectra).
    pub dedisperse_s: f64,
    /// FFT periodicity search, summed over threads (FDD: included in `dedisperse_s`).
    pub periodic_thread_s: f64,
    /// Single-pulse search, summed over threads.
    pub single_pulse_thread_s: f64,
    /// FFA search, summed over threads.
    pub ffa_thread_s: f64,
    /// Search of the dedispersed series, wall (periodic and single pulse together).
    pub search_s: f64,
    /// Sifting and clustering, wall.
    pub sift_s: f64,
}

/// An observation that times its reads.
struct TimedObservation<'a> {
    inner: &'a mut dyn Observation,
    seconds: f64,
}

impl Observation for TimedObservation<'_> {
    fn header(&self) -> &Header {
        self.inner.header()
    }
    fn read_block(&mut self, start_sample: u64, nsamples: usize) -> Result<ndarray::Array2<f32>, IoError> {
        let t = std::time::Instant::now();
        let r = self.inner.read_block(start_sample, nsamples);
        self.seconds += t.elapsed().as_secs_f64();
        r
    }
    fn read_block_into(
        &mut self,
        start_sample: u64,
        nsamples: usize,
        out: &mut ndarray::Array2<f32>,
    ) -> Result<(), IoError> {
        let t = std::time::Instant::now();
        let r = self.inner.read_block_into(start_sample, nsamples, out);
        self.seconds += t.elapsed().as_secs_f64();
        r
    }
    fn source_description(&self) -> String {
        self.inner.source_description()
    }
}

/// Raw periodic candidates, raw single pulses, the DMs searched and the FFA rows, of one [`StepRun`].
type StepResults = (Vec<Candidate>, Vec<SinglePulse>, Vec<f64>, FfaRows);

/// The FFA search of one dedispersed series: its candidates and periodogram summary, and the
/// full periodogram offered to `best` (kept when its best S/N is the highest so far; ties go to
/// the lower DM, so the result does not depend on the order threads finish).
fn ffa_one(
    x: &[f32],
    dm: f64,
    plan: &crate::search::ffa::FfaPlan,
    fcfg: &crate::search::ffa::FfaConfig,
    edges: &[f64],
    best: &std::sync::Mutex<Option<BestPeriodogram>>,
) -> (Vec<Candidate>, crate::search::ffa::PeriodogramSummary) {
    use crate::search::ffa;
    let pg = ffa::periodogram(x, plan, fcfg);
    let cands = ffa::candidates(&pg, plan, dm, fcfg);
    let summary = ffa::summarise(&pg, plan, edges);
    if let Ok(mut b) = best.lock() {
        let better = match b.as_ref() {
            None => true,
            Some((s, d, _, _)) => summary.best_snr > *s || (summary.best_snr == *s && dm < *d),
        };
        if better {
            *b = Some((summary.best_snr, dm, plan.periods_s.clone(), pg.snr.clone()));
        }
    }
    (cands, summary)
}

/// [`search_series`] of `x` padded with its mean to `nfft ≥ x.len()` samples (PRESTO pads its
/// series to a good FFT length the same way); the candidates' frequencies are `bin / (nfft·tsamp)`.
fn search_padded(
    x: &[f32],
    nfft: usize,
    tsamp: f64,
    dm: f64,
    pcfg: &crate::search::periodic::PeriodicConfig,
) -> Vec<Candidate> {
    if nfft <= x.len() {
        return search_series(x, tsamp, dm, pcfg);
    }
    let (sum, count) = x.iter().filter(|v| v.is_finite()).fold((0.0f64, 0usize), |(s, c), &v| (s + v as f64, c + 1));
    let mean = if count > 0 { (sum / count as f64) as f32 } else { 0.0 };
    let mut padded = Vec::with_capacity(nfft);
    padded.extend_from_slice(x);
    padded.resize(nfft, mean);
    search_series(&padded, tsamp, dm, pcfg)
}

/// Dedisperses the trials of `run` in one pass over `obs` and searches every series; returns the
/// raw periodic candidates, the raw single pulses and the DMs searched, in trial order.
#[allow(clippy::too_many_arguments)]
fn search_step_run(
    obs: &mut dyn Observation,
    header: &Header,
    run: &StepRun,
    cfg: &SearchConfig,
    pcfg: &crate::search::periodic::PeriodicConfig,
    ffa: Option<(&crate::search::ffa::FfaPlan, &crate::search::ffa::FfaConfig, &[f64])>,
    times: &mut StageTimes,
) -> Result<StepResults, PipelineError> {
    use std::time::Instant;
    let ds = run.downsamp;
    let tsamp = header.tsamp_s * ds as f64;
    let sp_cfg = &cfg.single_pulse_cfg;
    let mut pulses: Vec<SinglePulse> = Vec::new();
    let best_pg = std::sync::Mutex::new(None);
    let mut ffa_rows: Vec<(f64, crate::search::ffa::PeriodogramSummary)> = Vec::new();
    let mut ffa_cands: Vec<Candidate> = Vec::new();
    if run.fused {
        let ded = FddDedisperser { block_size: run.block_size.max(1), ..FddDedisperser::default() };
        let t = Instant::now();
        let mut sp_s = 0.0;
        let dms = &run.dms;
        let mut on_series = |j0: usize, series: Vec<Vec<f32>>| {
            let t = Instant::now();
            let found: Vec<(Vec<SinglePulse>, Option<FfaOne>)> = series
                .par_iter()
                .enumerate()
                .map(|(g, x)| {
                    let dm = dms[j0 + g];
                    let sp = if cfg.single_pulse { search_dm_series(x, dm, tsamp, ds, sp_cfg) } else { Vec::new() };
                    let f = ffa.map(|(plan, fcfg, edges)| ffa_one(x, dm, plan, fcfg, edges, &best_pg));
                    (sp, f)
                })
                .collect();
            for (g, (sp, f)) in found.into_iter().enumerate() {
                pulses.extend(sp);
                if let Some((c, summary)) = f {
                    ffa_cands.extend(c);
                    ffa_rows.push((dms[j0 + g], summary));
                }
            }
            sp_s += t.elapsed().as_secs_f64();
        };
        let sp_len = if cfg.single_pulse || ffa.is_some() { run.nout } else { 0 };
        let mut cands = ded.fused_search(obs, dms, ds, Some(pcfg), sp_len, &mut on_series)?;
        times.dedisperse_s += t.elapsed().as_secs_f64() - sp_s;
        times.search_s += sp_s;
        cands.extend(ffa_cands);
        let best = best_pg.into_inner().ok().flatten();
        return Ok((cands, pulses, run.dms.clone(), (ffa_rows, best)));
    }
    let ded = run.kind.make(run.block_size).ok_or_else(|| PipelineError::Invalid("`auto` was not resolved".into()))?;
    let t = Instant::now();
    let mut store = TrialStore::new(run.dms.len(), run.nout, run.in_memory)?;
    // FDMT reports the DMs of its own delay rows; record what was really searched.
    let dms = ded.stream(obs, &run.dms, ds, run.nout, &mut store, &mut |_, _| {})?;
    times.dedisperse_s += t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut cands: Vec<Candidate> = Vec::new();
    let mut buf: Vec<f32> = Vec::new();
    let (n, nfft) = (run.nout, run.fft_len);
    let mut r0 = 0;
    while r0 < dms.len() {
        let r1 = (r0 + run.chunk_rows.max(1)).min(dms.len());
        let rows: &[f32] = match store.as_slice() {
            Some(all) => &all[r0 * n..r1 * n],
            None => {
                store.read_rows(r0..r1, &mut buf)?;
                &buf
            }
        };
        type One = (Vec<Candidate>, Vec<SinglePulse>, f64, f64, Option<crate::search::ffa::PeriodogramSummary>, f64);
        let results: Vec<One> = rows
            .par_chunks(n)
            .zip(&dms[r0..r1])
            .map(|(x, &dm)| {
                let t0 = Instant::now();
                let mut c = if cfg.periodic { search_padded(x, nfft, tsamp, dm, pcfg) } else { Vec::new() };
                let t1 = Instant::now();
                let p = if cfg.single_pulse { search_dm_series(x, dm, tsamp, ds, sp_cfg) } else { Vec::new() };
                let t2 = Instant::now();
                let summary = ffa.map(|(plan, fcfg, edges)| {
                    let (fc, s) = ffa_one(x, dm, plan, fcfg, edges, &best_pg);
                    c.extend(fc);
                    s
                });
                (c, p, (t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64(), summary, t2.elapsed().as_secs_f64())
            })
            .collect();
        for ((c, p, tp, ts, summary, tf), &dm) in results.into_iter().zip(&dms[r0..r1]) {
            cands.extend(c);
            pulses.extend(p);
            times.periodic_thread_s += tp;
            times.single_pulse_thread_s += ts;
            times.ffa_thread_s += tf;
            if let Some(s) = summary {
                ffa_rows.push((dm, s));
            }
        }
        r0 = r1;
    }
    times.search_s += t.elapsed().as_secs_f64();
    let best = best_pg.into_inner().ok().flatten();
    Ok((cands, pulses, dms, (ffa_rows, best)))
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
    let mut step_algos: Vec<DedispKind> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    for step in &plan.steps {
        if cfg.dedisp == DedispKind::Auto {
            let (kind, why) = choose_dedisperser(&header, &step.dms, step.downsamp.max(1), cfg.max_memory_mb);
            reasons.push(format!("{kind}: {why}"));
            step_algos.push(kind);
        } else {
            step_algos.push(cfg.dedisp);
        }
    }
    let mut names: Vec<&str> = step_algos.iter().map(|k| k.name()).collect();
    names.dedup();
    plan.algorithm = names.join("+");
    if !reasons.is_empty() {
        plan.reason = format!("{}; auto per step: {}", plan.reason, reasons.join("; "));
    }
    // How each step runs (lengths, blocks, memory), before any data are read.
    let mut runs: Vec<StepRun> = Vec::new();
    for (step, &kind) in plan.steps.iter().zip(&step_algos) {
        runs.extend(plan_step_runs(&header, step, kind, cfg)?);
    }
    // The FFA trials of every run (they depend on the series length and sampling only), checked
    // before any data are read.
    let ffa_plans: Vec<Option<crate::search::ffa::FfaPlan>> = if cfg.ffa {
        let mut v = Vec::new();
        for run in &runs {
            let p = crate::search::ffa::FfaPlan::new(run.nout, header.tsamp_s * run.downsamp as f64, &cfg.ffa_cfg)
                .map_err(|e| PipelineError::Invalid(e.to_string()))?;
            v.push(Some(p));
        }
        if v.iter().all(|p| p.as_ref().is_some_and(|p| p.is_empty())) {
            return Err(PipelineError::Invalid(format!(
                "{}: the FFA has no trial: {:.3} s of data hold fewer than {} periods of {} s (lower --ffa-pmin)",
                obs.source_description(),
                header.duration_s(),
                cfg.ffa_cfg.min_rows,
                cfg.ffa_cfg.period_min_s
            )));
        }
        v
    } else {
        runs.iter().map(|_| None).collect()
    };

    let t_excise = std::time::Instant::now();
    let (mut obs, mut rfi, rfi_mask): (Box<dyn Observation>, Option<RfiReport>, Option<crate::rfi::RfiMask>) =
        if cfg.normalise_channels {
            let n = CleanedObservation::new(obs, &cfg.rfi)?;
            let r = n.report().clone();
            let m = n.mask().clone();
            (Box::new(n), Some(r), Some(m))
        } else {
            (obs, None, None)
        };
    let zapped_channels = rfi.as_ref().map(|r| r.masked_channels.clone()).unwrap_or_default();

    let dm_trials = plan.dms();
    tracing::info!(
        "plan: {} DM trials in {} steps ({:.2} s)",
        dm_trials.len(),
        plan.steps.len(),
        t_stage.elapsed().as_secs_f64()
    );
    let total = dm_trials.len() as u64;
    let mut pcfg = cfg.periodic_cfg.clone();
    let periodic_trials = crate::search::trials::search_trials(
        &header,
        &plan,
        &crate::search::harmonic::harmonic_stages(pcfg.nharm_max),
        pcfg.fmin_hz,
        pcfg.fmax_hz,
    );
    let periodic_trials = periodic_trials * crate::search::trials::accel_trials_factor(pcfg.zmax);
    pcfg.total_trials = periodic_trials;
    let mut times = StageTimes { excision_stats_s: t_excise.elapsed().as_secs_f64(), ..StageTimes::default() };
    let mut fcfg = cfg.ffa_cfg.clone();
    let edges = crate::search::ffa::summary_grid(fcfg.period_min_s, fcfg.period_max_s, FFA_SUMMARY_CELLS);
    let mut ffa_trials = 0.0;
    let mut timed = TimedObservation { inner: obs.as_mut(), seconds: 0.0 };
    if cfg.normalise_channels && cfg.periodic {
        let t = std::time::Instant::now();
        let mut zap = cfg.rfi.zaplist.clone();
        if cfg.rfi.auto_birdies {
            zap.extend(zero_dm_birdies(&mut timed, &header, &plan, cfg)?);
        }
        pcfg.zap.extend(zap.iter().copied());
        if let Some(r) = rfi.as_mut() {
            r.birdies = zap;
        }
        times.birdies_s = t.elapsed().as_secs_f64();
    }
    let read_before = timed.seconds;
    if cfg.ffa {
        let (flo, fhi) = (header.fbottom_mhz(), header.ftop_mhz());
        for (run, fp) in runs.iter().zip(&ffa_plans) {
            if let Some(fp) = fp {
                let span = run.dms.last().copied().unwrap_or(0.0) - run.dms.first().copied().unwrap_or(0.0);
                ffa_trials +=
                    fp.trials() * crate::search::ffa::ffa_dm_factor(run.dms.len(), span, flo, fhi, &fcfg, fp.tsamp_s);
            }
        }
        fcfg.total_trials = ffa_trials.max(1.0);
    }
    let mut ffa_out = FfaSummary { trials: ffa_trials, grid_edges_s: edges.clone(), ..FfaSummary::default() };
    let mut ffa_best: Option<BestPeriodogram> = None;

    tracing::info!(
        "excision statistics {:.2} s, zero-DM birdie probes {:.2} s",
        times.excision_stats_s,
        times.birdies_s
    );
    let mut raw_cands: Vec<Candidate> = Vec::new();
    let mut raw_pulses: Vec<SinglePulse> = Vec::new();
    let mut done = 0u64;
    progress(0, total);
    let mut searched_dms: Vec<f64> = Vec::with_capacity(total as usize);
    for (run, fp) in runs.iter().zip(&ffa_plans) {
        let ffa = fp.as_ref().map(|p| (p, &fcfg, edges.as_slice()));
        let (c, p, dms, (rows, best)) = search_step_run(&mut timed, &header, run, cfg, &pcfg, ffa, &mut times)?;
        if let Some(fp) = fp {
            if ffa_out.ntrials_per_dm == 0 {
                ffa_out.ntrials_per_dm = fp.len();
            }
        }
        for (dm, s) in rows {
            ffa_out.dms.push(dm);
            ffa_out.best_snr.push(s.best_snr);
            ffa_out.best_period_s.push(s.best_period_s);
            ffa_out.best_width_s.push(s.best_width_s);
            ffa_out.grid_snr.extend(s.grid_snr);
        }
        if let Some(b) = best {
            let better = match &ffa_best {
                None => true,
                Some((s, d, _, _)) => b.0 > *s || (b.0 == *s && b.1 < *d),
            };
            if better {
                ffa_best = Some(b);
            }
        }
        raw_cands.extend(c);
        raw_pulses.extend(p);
        searched_dms.extend(dms);
        done += run.dms.len() as u64;
        progress(done, total);
    }
    times.read_s = timed.seconds - read_before;
    times.dedisperse_s -= times.read_s;
    let t_sift = std::time::Instant::now();

    tracing::info!(
        "read + clean {:.2} s, dedisperse {:.2} s, FFT search + single pulse {:.2} s",
        times.read_s,
        times.dedisperse_s,
        times.search_s
    );
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
    let candidates = if cfg.periodic || cfg.ffa { sift_on_grid(raw_cands, &cfg.sift, &dm_trials) } else { Vec::new() };
    let ffa = if cfg.ffa {
        if header.nchans == 1 {
            if let Some(refdm) = header.refdm {
                ffa_out.dms.iter_mut().for_each(|d| *d += refdm);
            }
        }
        if let Some((_, dm, periods, snr)) = ffa_best {
            ffa_out.best_dm = dm + if header.nchans == 1 { header.refdm.unwrap_or(0.0) } else { 0.0 };
            ffa_out.best_dm_periods_s = periods;
            ffa_out.best_dm_snr = snr;
        }
        Some(ffa_out)
    } else {
        None
    };
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
    times.sift_s = t_sift.elapsed().as_secs_f64();
    tracing::info!(
        "stage times: excision statistics {:.2} s, read+clean {:.2} s, birdies {:.2} s, dedisperse {:.2} s, search {:.2} s (periodic {:.2}, single pulse {:.2} thread-s), sift {:.2} s",
        times.excision_stats_s,
        times.read_s,
        times.birdies_s,
        times.dedisperse_s,
        times.search_s,
        times.periodic_thread_s,
        times.single_pulse_thread_s,
        times.sift_s
    );
    Ok(SearchOutput {
        times,
        steps: runs,
        header,
        dedisperser: plan.algorithm.clone(),
        plan,
        dm_trials,
        candidates,
        single_pulses,
        zapped_channels,
        rfi,
        rfi_mask,
        periodic_trials,
        ffa,
    })
}
