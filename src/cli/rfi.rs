//! `tianyan rfi FILE -o mask.h5`: measures the RFI excision of an observation (the same stage
//! `search` runs) and writes it as a reusable mask file ([`tianyan::rfi::maskfile`]) for
//! `search --mask`, `dedisperse --mask` and `plot`.
use std::path::PathBuf;
use tianyan::pipeline::SearchConfig;
use tianyan::rfi::{maskfile, CleanedObservation, RfiConfig};

/// Arguments of `tianyan rfi`.
#[derive(clap::Args, Debug)]
pub struct RfiArgs {
    /// Observation file(s) (SIGPROC .fil, or PSRFITS files read as one observation).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output mask file (HDF5).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Samples per statistics block (the mask's time resolution).
    #[arg(long, default_value_t = 8192)]
    pub stat_block: usize,
    /// Do not clip spectra whose zero-DM total power is an outlier.
    #[arg(long)]
    pub no_clip: bool,
    /// Clipping threshold: robust σ of the zero-DM total power (PRESTO prepsubband's default 6).
    #[arg(long, default_value_t = 6.0)]
    pub clip_sigma: f64,
    /// Do not mask channels and cells (SK, IQRM, rfifind); zero-variance channels still are.
    #[arg(long)]
    pub no_rfi_mask: bool,
    /// Do not mask cells by rfifind-style block statistics.
    #[arg(long)]
    pub no_rfifind: bool,
    /// rfifind -timesig: mean/std threshold, σ.
    #[arg(long, default_value_t = 10.0)]
    pub timesig: f64,
    /// rfifind -freqsig: FFT power threshold, Gaussian σ after the bin-count correction.
    #[arg(long, default_value_t = 4.0)]
    pub freqsig: f64,
    /// rfifind -chanfrac: blocks with more than this fraction of bad channels are masked.
    #[arg(long, default_value_t = 0.7)]
    pub chanfrac: f64,
    /// rfifind -intfrac: channels with more than this fraction of bad blocks are masked.
    #[arg(long, default_value_t = 0.3)]
    pub intfrac: f64,
    /// Do not subtract the per-block channel baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Baseline knots per statistics block (1 = one per block).
    #[arg(long, default_value_t = 4)]
    pub baseline_knots: usize,
    /// Do not gate bursts of power in the zero-DM total (boxcars of 16–64 ms above --gate-sigma).
    #[arg(long)]
    pub no_gate: bool,
    /// Gating threshold: S/N of the zero-DM boxcar.
    #[arg(long, default_value_t = 8.0)]
    pub gate_sigma: f64,
    /// Zero-DM filtering (Eatough et al. 2009) when the mask is applied.
    #[arg(long)]
    pub zero_dm: bool,
    /// Zap list to store with the mask (`frequency_hz width_hz [nharm]` per line).
    #[arg(long)]
    pub zaplist: Option<PathBuf>,
    /// Do not look for zero-DM birdies (their probe DMs depend on the data only, so `search`
    /// with any `--dm-max` finds the same ones).
    #[arg(long)]
    pub no_auto_zap: bool,
}

/// Runs `tianyan rfi`.
pub fn run(args: RfiArgs) -> anyhow::Result<()> {
    tianyan::io::output::check_not_input(&args.files, &args.output)?;
    tianyan::io::output::check_replaceable_hdf5(&args.output, tianyan::io::output::Hdf5Output::Mask)?;
    tianyan::io::output::check_output_file(&args.output)?;
    let mut rfi = RfiConfig {
        stat_block_samples: args.stat_block,
        clip: !args.no_clip,
        clip_sigma: args.clip_sigma,
        mask: !args.no_rfi_mask,
        rfifind: !args.no_rfifind,
        baseline: !args.no_baseline,
        zero_dm: args.zero_dm,
        baseline_knots_per_block: args.baseline_knots,
        gate: !args.no_gate,
        gate_sigma: args.gate_sigma,
        auto_birdies: !args.no_auto_zap,
        ..RfiConfig::default()
    };
    rfi.rfifind_cfg.timesig = args.timesig;
    rfi.rfifind_cfg.freqsig = args.freqsig;
    rfi.rfifind_cfg.chanfrac = args.chanfrac;
    rfi.rfifind_cfg.intfrac = args.intfrac;
    if let Some(z) = &args.zaplist {
        rfi.zaplist = tianyan::rfi::birdies::parse_zaplist(z)?;
    }
    rfi.validate()?;
    let obs = tianyan::open_observation(&args.files)?;
    let header = obs.header().clone();
    let name = args.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ");
    let mut cleaned = CleanedObservation::new(obs, &rfi)?;
    let mut mask = cleaned.mask().clone();
    mask.input = name;
    if rfi.auto_birdies {
        // The plan only sets the probes' time resolution (its finest downsampling, 1 by default
        // as in `search`); the probe DMs do not depend on its DM range (birdies::probe_dms).
        let cfg = SearchConfig { rfi: rfi.clone(), ..SearchConfig::default() };
        let plan = tianyan::pipeline::build_plan(&header, &cfg)?;
        let found = tianyan::pipeline::zero_dm_birdies(&mut cleaned, &header, &plan, &cfg)?;
        mask.report.birdies.extend(found);
    }
    maskfile::write_mask(&args.output, &mask)?;
    let r = &mask.report;
    println!(
        "wrote {}: {} of {} channels masked, {} of {} blocks masked whole, {:.3} % of the data masked, {} spectra \
         clipped ({:.4} %), {} gated, {} birdies",
        args.output.display(),
        r.masked_channels.len(),
        header.nchans,
        r.block_flags.iter().filter(|&&f| f != 0).count(),
        r.nblocks,
        100.0 * r.masked_fraction,
        r.clipped_spectra,
        100.0 * r.clipped_fraction,
        r.gated_spectra,
        r.birdies.len()
    );
    Ok(())
}
