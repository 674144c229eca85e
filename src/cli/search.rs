//! `tianyan search FILE... -o cands.h5`: dedisperse, search (periodic + single pulse), sift,
//! write the HDF5 candidate file and print the top candidates.
use std::path::PathBuf;
use tianyan::io::candidates::{write_candidate_file_staged, CandidateFile, RunInfo};
use tianyan::io::output::{check_not_input, check_output_file, OutputSet};
use tianyan::pipeline::{run_search, SearchConfig};

/// Arguments of `tianyan search`.
#[derive(clap::Args, Debug, Clone)]
pub struct SearchArgs {
    /// Observation file(s): SIGPROC filterbank, or PSRFITS search mode (several numbered PSRFITS
    /// files of one observation are read as one stream). The format is detected from the content.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output HDF5 candidate file.
    #[arg(short, long, default_value = "candidates.h5")]
    pub output: PathBuf,
    /// Lowest DM searched, pc cm⁻³.
    #[arg(long, default_value_t = 0.0)]
    pub dm_min: f64,
    /// Highest DM searched, pc cm⁻³ (trials whose sweep is longer than the data are dropped
    /// with a warning).
    #[arg(long, default_value_t = tianyan::dedisp::plan::DEFAULT_DM_MAX)]
    pub dm_max: f64,
    /// Fixed DM step, pc cm⁻³ (default: a DDplan-style grid from the smearing budget).
    #[arg(long)]
    pub dm_step: Option<f64>,
    /// File with one DM trial per line (`#` comments), instead of a grid.
    #[arg(long)]
    pub dm_list: Option<PathBuf>,
    /// Tianyan grid smearing tolerance (ratio of the DM-step smearing to the other terms).
    #[arg(long, default_value_t = 1.25)]
    pub tolerance: f64,
    /// Which generated grid: `ddplan` (PRESTO DDplan.py's steps, the default) or `tianyan`
    /// (cheaper: downsamples at about 0.6× DDplan's DM).
    #[arg(long, default_value = "ddplan")]
    pub grid: tianyan::dedisp::GridKind,
    /// DM the channels were coherently dedispersed to, pc cm⁻³ (DDplan -c; 0 = none).
    #[arg(long, default_value_t = 0.0)]
    pub coherent_dm: f64,
    /// Acceptable time resolution of the DDplan grid, ms (DDplan -r; 0 = the best the data allow).
    #[arg(long, default_value_t = 0.0)]
    pub time_res: f64,
    /// Subbands in the DDplan grid's smearing budget (DDplan -s; 0 = none).
    #[arg(long, default_value_t = 0)]
    pub nsub: usize,
    /// Downsampling of every trial of --dm-step/--dm-list (prepsubband -downsamp), and the
    /// first factor of a generated grid.
    #[arg(long, default_value_t = 1)]
    pub downsamp: usize,

    /// Dedispersion algorithm: direct (exact, integer delays), subband, fdmt, fdd (Fourier domain,
    /// fused with the FFT search) or auto (the default: cost model per DM-grid step; `tianyan plan`
    /// shows its choice).
    #[arg(long, default_value = "auto", value_parser = ["direct", "subband", "fdmt", "fdd", "auto"])]
    pub dedisp: String,
    /// Largest number of harmonics summed (1, 2, 4, 8, 16 or 32).
    #[arg(long, default_value_t = 16, value_parser = parse_nharm)]
    pub nharm: u32,
    /// Acceleration search: largest drift of the highest harmonic summed, in Fourier bins
    /// (PRESTO's -zmax; z = ḟ T², searched from -zmax to zmax in steps of 2; an odd value is
    /// rounded up). 0 = no acceleration search. The (r, z) plane takes (zmax + 1) × 8 bytes per
    /// Fourier bin per thread, counted in --max-memory-mb (an error when it does not fit).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1200))]
    pub zmax: u32,
    /// Periodic-candidate threshold: Gaussian sigma after the trials correction.
    #[arg(long, default_value_t = 6.0)]
    pub sigma: f64,
    /// Lowest spin frequency searched, Hz (never below 10 rotations in the observation: the
    /// FFT search's whitening is not calibrated below Fourier bin 10).
    #[arg(long, default_value_t = 0.1)]
    pub fmin: f64,
    /// Highest spin frequency searched, Hz.
    #[arg(long, default_value_t = 1000.0)]
    pub fmax: f64,
    /// Also run the FFA (fast folding algorithm) periodicity search on every DM trial; its
    /// candidates are sifted with the FFT search's (`search` column: fft, ffa or both; the same
    /// --sigma threshold) and a periodogram summary per DM is stored in `/ffa`.
    #[arg(long)]
    pub ffa: bool,
    /// Shortest period of the FFA search, s.
    #[arg(long, default_value_t = 0.1, requires = "ffa")]
    pub ffa_pmin: f64,
    /// Longest period of the FFA search, s (at most a eighth of the data: 8 folds).
    #[arg(long, default_value_t = 30.0, requires = "ffa")]
    pub ffa_pmax: f64,
    /// Fewest phase bins of the FFA (each downsampling step folds from this many bins ...).
    #[arg(long, default_value_t = 240, requires = "ffa")]
    pub ffa_bins_min: usize,
    /// ... to this many.
    #[arg(long, default_value_t = 260, requires = "ffa")]
    pub ffa_bins_max: usize,
    /// Single-pulse threshold: boxcar S/N.
    #[arg(long, default_value_t = 6.0)]
    pub sp_snr: f32,
    /// Widest single-pulse boxcar, s.
    #[arg(long, default_value_t = 0.1)]
    pub max_width: f64,
    /// Run only the periodicity search (default: both searches).
    #[arg(long, conflicts_with = "single_pulse")]
    pub periodic: bool,
    /// Run only the single-pulse search (default: both searches).
    #[arg(long)]
    pub single_pulse: bool,
    /// Drop periodic candidates whose best DM is 0 (terrestrial interference).
    #[arg(long)]
    pub no_dm0: bool,
    /// Do not normalise channels (mean/std) before dedispersion; this also turns off every RFI
    /// excision step.
    #[arg(long)]
    pub no_normalise: bool,
    /// Do not clip spectra whose zero-DM total power is an outlier (on by default).
    #[arg(long)]
    pub no_clip: bool,
    /// Clipping threshold: robust σ of the zero-DM total power (PRESTO prepsubband's default 6).
    #[arg(long, default_value_t = 6.0)]
    pub clip_sigma: f64,
    /// Do not mask channels by spectral kurtosis and IQRM (zero-variance channels are still
    /// masked).
    #[arg(long)]
    pub no_rfi_mask: bool,
    /// Zap list: one birdie per line, `frequency_hz width_hz [nharm]` (`#` comments), zapped
    /// from every power spectrum before harmonic summing.
    #[arg(long)]
    pub zaplist: Option<PathBuf>,
    /// Do not look for and zap strong zero-DM periodicities.
    #[arg(long)]
    pub no_auto_zap: bool,
    /// Do not subtract the per-block channel baseline (slow gain/bandpass drifts); the
    /// whole-observation channel mean is subtracted instead.
    #[arg(long)]
    pub no_baseline: bool,
    /// Do not mask cells by rfifind-style block statistics (mean, std, FFT power).
    #[arg(long)]
    pub no_rfifind: bool,
    /// Baseline knots per 8192-sample statistics block (1 = one per block, the knots before
    /// issue 13's gain-drift fix).
    #[arg(long, default_value_t = 4)]
    pub baseline_knots: usize,
    /// Do not gate bursts of power in the zero-DM total (boxcars of 16–64 ms above --gate-sigma:
    /// the "on" stretches of a periodic broadband modulation, wings of impulses).
    #[arg(long)]
    pub no_gate: bool,
    /// Gating threshold: S/N of the zero-DM boxcar.
    #[arg(long, default_value_t = 8.0)]
    pub gate_sigma: f64,
    /// Zero-DM filtering (Eatough et al. 2009): subtract each spectrum's mean over the unmasked
    /// channels (removes broadband DM-0 signals; also part of low-DM pulsars).
    #[arg(long)]
    pub zero_dm: bool,
    /// Apply this RFI mask (`tianyan rfi FILE -o mask.h5`) instead of measuring one; its birdies
    /// are zapped (no automatic birdie search). A mask of another observation is an error.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// Memory budget of dedispersion and search, MiB: input blocks, FDMT levels, FDD spectra,
    /// dedispersed series (those that do not fit go to a scratch file in $TMPDIR) and FFT work.
    /// The candidates do not depend on it. `tianyan plan` shows the estimate per step.
    #[arg(long, default_value_t = 1024, value_parser = super::positive_usize)]
    pub max_memory_mb: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Candidate rows printed at the end (0 = none).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Fold the N most significant periodic signals (family heads; harmonic rows are skipped), store the folds in the candidate file
    /// (`/folds/<id>`) and write their PNG plots beside it (`<output stem>_plots/`).
    #[arg(long, default_value_t = 0)]
    pub fold_top: usize,
    /// With --fold-top: replace pages in the plot folder that were drawn from another file (or
    /// record none); without it they are an error before the search.
    #[arg(long)]
    pub overwrite: bool,
    /// Write FETCH-ready HDF5 cutouts of the N best unflagged single pulses into
    /// `<output stem>_cutouts/` (as `tianyan cutout` does; from the raw data, as FETCH expects).
    #[arg(long, default_value_t = 0)]
    pub cutouts: usize,
}

/// `--nharm`: harmonic summing works in stages of powers of two.
fn parse_nharm(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|_| format!("'{s}' is not a whole number"))?;
    if [1, 2, 4, 8, 16, 32].contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} harmonics: use 1, 2, 4, 8, 16 or 32 (harmonics are summed in powers of two)"))
    }
}

/// Checks that a threshold-like option is a finite number above zero.
pub(crate) fn positive(flag: &str, v: f64) -> anyhow::Result<()> {
    if !(v.is_finite() && v > 0.0) {
        anyhow::bail!("{flag} must be a number above 0 (got {v})");
    }
    Ok(())
}

impl SearchArgs {
    /// Checks the option values on their own (ranges, thresholds, memory), before any file is read.
    ///
    /// # Errors
    /// One line naming the option and the value that cannot work.
    pub fn check_options(&self) -> anyhow::Result<()> {
        if !(self.dm_min.is_finite() && self.dm_min >= 0.0) {
            anyhow::bail!("--dm-min must be a number ≥ 0 pc cm⁻³ (got {})", self.dm_min);
        }
        if !self.dm_max.is_finite() || self.dm_max < self.dm_min {
            anyhow::bail!("--dm-max ({}) must be at least --dm-min ({})", self.dm_max, self.dm_min);
        }
        if let Some(step) = self.dm_step {
            positive("--dm-step", step)?;
        }
        positive("--fmin", self.fmin)?;
        if !(self.fmax.is_finite() && self.fmax > self.fmin) {
            anyhow::bail!("--fmax ({} Hz) must be above --fmin ({} Hz)", self.fmax, self.fmin);
        }
        positive("--sigma", self.sigma)?;
        positive("--sp-snr", self.sp_snr as f64)?;
        positive("--max-width", self.max_width)?;
        positive("--tolerance", self.tolerance)?;
        if self.max_memory_mb == 0 {
            anyhow::bail!("--max-memory-mb must be above 0");
        }
        if self.threads == Some(0) {
            anyhow::bail!("--threads must be at least 1");
        }
        if !(self.coherent_dm.is_finite() && self.coherent_dm >= 0.0) {
            anyhow::bail!("--coherent-dm must be a number ≥ 0 (got {})", self.coherent_dm);
        }
        if !(self.time_res.is_finite() && self.time_res >= 0.0) {
            anyhow::bail!("--time-res must be a number ≥ 0 ms (got {})", self.time_res);
        }
        Ok(())
    }

    /// Where the cutouts of `--cutouts` go: `<output stem>_cutouts/` beside the output.
    pub fn cutout_dir(&self) -> PathBuf {
        let stem =
            self.output.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "candidates".into());
        self.output.with_file_name(format!("{stem}_cutouts"))
    }

    /// Where the fold plots of `--fold-top` go: `<output stem>_plots/` beside the output.
    pub fn plot_dir(&self) -> PathBuf {
        let stem = self.output.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        self.output.with_file_name(format!("{stem}_plots"))
    }

    /// The pipeline configuration these arguments describe (options checked first,
    /// [`SearchArgs::check_options`]).
    pub fn config(&self) -> anyhow::Result<SearchConfig> {
        self.check_options()?;
        let mut cfg = SearchConfig {
            dm_min: self.dm_min,
            dm_max: self.dm_max,
            dm_step: self.dm_step,
            dedisp: self.dedisp.parse().map_err(anyhow::Error::msg)?,
            periodic: !self.single_pulse,
            single_pulse: !self.periodic,
            normalise_channels: !self.no_normalise,
            max_memory_mb: self.max_memory_mb,
            ..SearchConfig::default()
        };
        if let Some(path) = &self.dm_list {
            let plan = tianyan::dedisp::plan::DmPlan::from_file(path)?;
            cfg.dm_list = Some(plan.dms());
        }
        cfg.rfi.clip = !self.no_clip;
        cfg.rfi.clip_sigma = self.clip_sigma;
        cfg.rfi.mask = !self.no_rfi_mask;
        cfg.rfi.auto_birdies = !self.no_auto_zap;
        cfg.rfi.baseline = !self.no_baseline;
        cfg.rfi.rfifind = !self.no_rfifind;
        cfg.rfi.zero_dm = self.zero_dm;
        cfg.rfi.baseline_knots_per_block = self.baseline_knots;
        cfg.rfi.gate = !self.no_gate;
        cfg.rfi.gate_sigma = self.gate_sigma;
        if let Some(z) = &self.zaplist {
            cfg.rfi.zaplist = tianyan::rfi::birdies::parse_zaplist(z)?;
        }
        if let Some(m) = &self.mask {
            if self.no_normalise {
                anyhow::bail!("--mask needs the excision stage, which --no-normalise turns off");
            }
            let mask = tianyan::rfi::maskfile::read_mask(m)?;
            tianyan::rfi::check_mask_input(&mask, m, &self.files)?;
            cfg.rfi.zaplist.extend(mask.report.birdies.iter().copied());
            cfg.rfi.auto_birdies = false;
            cfg.rfi.mask_file = Some(m.clone());
        }
        cfg.rfi.validate()?;
        cfg.plan.tolerance = self.tolerance;
        if self.downsamp == 0 {
            anyhow::bail!("--downsamp must be at least 1");
        }
        cfg.plan.grid = self.grid;
        cfg.plan.coherent_dm = self.coherent_dm;
        cfg.plan.time_res_s = self.time_res * 1e-3;
        cfg.plan.nsub = self.nsub;
        cfg.plan.downsamp = self.downsamp;
        cfg.plan.max_downsamp = cfg.plan.max_downsamp.max(self.downsamp);
        cfg.periodic_cfg.nharm_max = self.nharm;
        // The searched value (odd values round up): recorded and counted as searched.
        cfg.periodic_cfg.zmax = tianyan::search::accel::searched_zmax(self.zmax);
        cfg.periodic_cfg.sigma_threshold = self.sigma;
        cfg.periodic_cfg.fmin_hz = self.fmin;
        cfg.periodic_cfg.fmax_hz = self.fmax;
        cfg.sift.no_dm0 = self.no_dm0;
        cfg.ffa = self.ffa;
        cfg.ffa_cfg.period_min_s = self.ffa_pmin;
        cfg.ffa_cfg.period_max_s = self.ffa_pmax;
        cfg.ffa_cfg.bins_min = self.ffa_bins_min;
        cfg.ffa_cfg.bins_max = self.ffa_bins_max;
        cfg.ffa_cfg.sigma_threshold = self.sigma;
        if self.ffa {
            cfg.ffa_cfg.validate().map_err(|e| anyhow::anyhow!("{e} (--ffa-pmin, --ffa-pmax, --ffa-bins-min/max)"))?;
        }
        cfg.single_pulse_cfg.snr_threshold = self.sp_snr;
        cfg.single_pulse_cfg.max_width_s = self.max_width;
        Ok(cfg)
    }
}

/// Runs `tianyan search`.
pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global()?;
    }
    search_and_write(&args)?;
    Ok(())
}

/// Searches `args.files`, writes `args.output`, prints a summary and the top rows.
///
/// Before any data are read: the options are checked, the output must not be an input (same
/// path or the same file through a link) and its folder must exist and be writable. The
/// candidate file and the `--fold-top` plots appear together at the end, or not at all.
pub fn search_and_write(args: &SearchArgs) -> anyhow::Result<tianyan::pipeline::SearchOutput> {
    let cfg = args.config()?;
    // The mask is an input too; an existing output must be an HDF5 file (never an observation,
    // a truth file or anything else kept under that name).
    let inputs: Vec<PathBuf> = args.files.iter().cloned().chain(args.mask.iter().cloned()).collect();
    check_not_input(&inputs, &args.output)?;
    tianyan::io::output::check_replaceable_hdf5(&args.output, tianyan::io::output::Hdf5Output::Candidates)?;
    check_output_file(&args.output)?;
    if args.fold_top > 0 {
        let plot_dir = args.plot_dir();
        if plot_dir.exists() && !plot_dir.is_dir() {
            anyhow::bail!("{}: the --fold-top plot folder is a file", plot_dir.display());
        }
        // A page of another candidate file (whose /folds point to it) is not replaced.
        for id in 0..args.fold_top {
            tianyan::io::output::check_replaceable_page(
                &plot_dir.join(format!("fold_{id}.png")),
                &args.output,
                args.overwrite,
            )?;
        }
    }
    if args.cutouts > 0 {
        if !cfg.single_pulse {
            anyhow::bail!("--cutouts {} needs the single-pulse search (drop --periodic)", args.cutouts);
        }
        let dir = args.cutout_dir();
        if dir.exists() && !dir.is_dir() {
            anyhow::bail!("{}: the --cutouts folder is a file", dir.display());
        }
    }
    let t_stage = std::time::Instant::now();
    let obs = tianyan::open_observation(&args.files)?;
    tracing::info!("read: opened the input and its header ({:.2} s)", t_stage.elapsed().as_secs_f64());
    let h = obs.header().clone();
    eprintln!(
        "searching {}: {} channels, {} samples of {:.3} µs ({:.2} s), {:.2}–{:.2} MHz",
        obs.source_description(),
        h.nchans,
        h.nsamples,
        h.tsamp_s * 1e6,
        h.duration_s(),
        h.fbottom_mhz(),
        h.ftop_mhz()
    );
    let start = std::time::Instant::now();
    let pb = super::progress::bar(0, "DM trials");
    let out = run_search(obs, &cfg, &mut |done, total| {
        pb.set_length(total);
        pb.set_position(done);
    })?;
    pb.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    // Store the configuration as run: the trials correction used every DM trial searched.
    let mut cfg = cfg;
    cfg.periodic_cfg.total_trials = out.periodic_trials;
    if let Some(f) = &out.ffa {
        cfg.ffa_cfg.total_trials = f.trials;
    }
    let cf = CandidateFile {
        run: RunInfo {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            input_file: args.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(";"),
            input_size_bytes: args.files.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum(),
        },
        header: out.header.clone(),
        search_config: serde_json::to_value(&cfg)?,
        dm_trials: out.dm_trials.clone(),
        candidates: out.candidates.clone(),
        single_pulses: out.single_pulses.clone(),
        rfi: out.rfi.clone(),
        ffa: out.ffa.clone(),
    };
    let t_stage = std::time::Instant::now();
    let staged = write_candidate_file_staged(&args.output, &cf)?;
    // The excision's normalisation beside its report, so `fold --candidates` folds what the
    // search saw without a separate mask file.
    if let (Some(mask), true) = (&out.rfi_mask, cf.rfi.is_some()) {
        let add = || -> hdf5::Result<()> {
            let f = hdf5::File::open_rw(staged.tmp())?;
            tianyan::rfi::maskfile::write_normalisation(&f.group("rfi")?, mask)
        };
        add().map_err(|e| anyhow::anyhow!("{}: {}", args.output.display(), staged.relabel(&e.to_string())))?;
    }
    tracing::info!("write: candidate file ({:.2} s)", t_stage.elapsed().as_secs_f64());
    let mut set = OutputSet::new();
    let mut folds = Vec::new();
    if args.fold_top > 0 && !out.candidates.is_empty() {
        let t_stage = std::time::Instant::now();
        let mut obs = tianyan::open_observation(&args.files)?;
        // Fold what the search saw: the same excision (normalisation, masks, clipping).
        if let Some(mask) = out.rfi_mask.clone() {
            obs = Box::new(tianyan::rfi::CleanedObservation::with_mask(obs, mask)?);
        }
        folds = tianyan::fold::store::fold_top_candidates_staged(
            obs.as_mut(),
            &out.candidates,
            &staged,
            args.fold_top,
            &tianyan::fold::FoldConfig::default(),
            Some(tianyan::fold::FoldPlots {
                dir: &args.plot_dir(),
                draw: &super::fold::draw_fold_page,
                overwrite: args.overwrite,
            }),
            &mut set,
        )?;
        tracing::info!(
            "fold: {} candidates folded and plotted ({:.2} s)",
            folds.len(),
            t_stage.elapsed().as_secs_f64()
        );
    }
    let mut ncutouts = 0;
    if args.cutouts > 0 {
        let events: Vec<_> = out.single_pulses.iter().filter(|p| p.rfi_flag == 0).take(args.cutouts).copied().collect();
        if !events.is_empty() {
            let mut obs = tianyan::open_observation(&args.files)?;
            let mut inputs = inputs.clone();
            inputs.push(args.output.clone());
            ncutouts = super::cutout::stage_cutouts(
                obs.as_mut(),
                &args.files,
                &inputs,
                &events,
                &args.cutout_dir(),
                args.max_memory_mb << 20,
                &mut set,
            )?
            .len();
        }
    }
    set.add(staged);
    set.commit()?;
    if ncutouts > 0 {
        eprintln!("wrote {ncutouts} FETCH-ready cutout(s) to {}", args.cutout_dir().display());
    }
    eprintln!(
        "searched {} DM trials ({:.1}–{:.1} pc cm⁻³, {}) in {:.1} s; periodic candidates: {}, single pulses: {} → {}",
        out.dm_trials.len(),
        out.dm_trials.iter().cloned().fold(f64::INFINITY, f64::min),
        out.dm_trials.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        out.dedisperser,
        elapsed,
        out.candidates.len(),
        out.single_pulses.len(),
        args.output.display()
    );
    if let Some(r) = &out.rfi {
        let flat = r.channel_flags.iter().filter(|&&f| f & tianyan::rfi::FLAG_ZERO_VARIANCE != 0).count();
        if flat > 0 {
            eprintln!("{flat} channels of zero variance were zeroed");
        }
        let flagged = out.single_pulses.iter().filter(|p| p.rfi_flag != 0).count();
        eprintln!(
            "RFI excision: {} of {} channels masked, {:.3} % of the data masked, {} spectra clipped ({:.4} %), {} gated ({:.3} %), {} birdies zapped, {} single pulses flagged as DM-0 RFI",
            r.masked_channels.len(),
            out.header.nchans,
            100.0 * r.masked_fraction,
            r.clipped_spectra,
            100.0 * r.clipped_fraction,
            r.gated_spectra,
            100.0 * r.gated_fraction,
            r.birdies.len(),
            flagged
        );
        if r.nonfinite_samples > 0 {
            eprintln!(
                "missing data: {} NaN or infinite samples (in {} spectra) masked one by one (/rfi nonfinite_samples)",
                r.nonfinite_samples, r.nonfinite_spectra
            );
        }
    }
    if !folds.is_empty() {
        eprintln!(
            "folded {} candidate{} (plots in {}):",
            folds.len(),
            if folds.len() == 1 { "" } else { "s" },
            args.plot_dir().display()
        );
        for f in &folds {
            let r = &f.result;
            eprintln!(
                "  fold {}: P = {:.6} ms, DM = {:.2}, folded S/N = {:.1}, reduced chi2 = {:.1}, sigma = {:.1}",
                f.id,
                r.period_s * 1e3,
                r.dm,
                r.snr,
                r.reduced_chi2,
                r.sigma
            );
        }
    }
    if args.top > 0 {
        super::candidates::print_tables(
            (cfg.periodic || cfg.ffa).then_some(&out.candidates[..]),
            cfg.single_pulse.then_some(&out.single_pulses[..]),
            args.top,
            false,
            false,
        );
    }
    Ok(out)
}
