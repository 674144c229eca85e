//! `tianyan dedisperse FILE --dm-min --dm-max [--dm-step S | --dm-list FILE] -o DIR`:
//! writes one SIGPROC time series (`.tim`, 32-bit float) per DM trial with direct dedispersion.
//!
//! Each series is `nsamples/downsamp − max_delay` samples long (only fully covered samples; the
//! max delay is that of the largest DM in the batch the trial was computed with), referred to
//! the highest channel centre, with `refdm` the trial DM and `tsamp` the input tsamp × downsamp.
use super::plan::PlanOptions;
use anyhow::Context;
use std::path::PathBuf;
use tianyan::dedisp::DirectDedisperser;
use tianyan::io::output::{check_not_input, OutputSet};

/// Arguments of `tianyan dedisperse`.
#[derive(clap::Args, Debug)]
pub struct DedisperseArgs {
    /// Observation file(s) (SIGPROC .fil, or PSRFITS files read as one observation).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub opts: PlanOptions,
    /// Output directory for the `.tim` files (created if missing).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Output samples per block read from the input (memory ≈ 4·nchans·(block + max delay) bytes).
    #[arg(long, default_value_t = 8192)]
    pub block_size: usize,
    /// DM trials dedispersed per pass over the input (memory of the output grows with it).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Dedisperse the excised data of this RFI mask (`tianyan rfi FILE -o mask.h5`): normalised,
    /// masked and clipped as `search --mask` does. A mask of another observation is an error.
    #[arg(long)]
    pub mask: Option<PathBuf>,
}

/// Decimal places that keep every trial's file name distinct (at least 2).
fn dm_decimals(dms: &[f64]) -> usize {
    let mut sorted = dms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let min_gap = sorted.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 0.0).fold(f64::INFINITY, f64::min);
    if min_gap.is_finite() {
        ((-min_gap.log10()).ceil().max(0.0) as usize + 1).clamp(2, 9)
    } else {
        2
    }
}

/// Runs `tianyan dedisperse`.
pub fn run(args: DedisperseArgs) -> anyhow::Result<()> {
    if args.batch == 0 {
        anyhow::bail!("--batch must be at least 1");
    }
    let mut obs = tianyan::open_observation(&args.files)?;
    if let Some(m) = &args.mask {
        // The excised data (normalised, masked, clipped) as `search --mask` dedisperses them.
        let mask = tianyan::rfi::maskfile::read_mask(m)?;
        obs = Box::new(tianyan::rfi::CleanedObservation::with_mask(obs, mask)?);
    }
    let header = obs.header().clone();
    let source = obs.source_description();
    let plan = args.opts.plan(&header).with_context(|| format!("DM plan for {source}"))?;
    // Check every step fits the data before writing anything (TRAPS B13: no partial output set).
    for step in &plan.steps {
        let dm_hi = step.dms.iter().copied().fold(0.0, f64::max);
        let tsamp = header.tsamp_s * step.downsamp as f64;
        let sweep = tianyan::dedisp::max_delay_samples(&header, dm_hi, tsamp);
        let n = header.nsamples / step.downsamp.max(1) as u64;
        if sweep as u64 >= n {
            anyhow::bail!(
                "{source}: at DM {dm_hi} the dispersion sweep spans {sweep} samples of {tsamp} s but the data have \
                 only {n}; lower --dm-max"
            );
        }
    }
    // Every series or none: each .tim is written under a temporary name and all are renamed at
    // the end; the folder is created now (and removed again on failure) so an unwritable output
    // is found before the work. No series may overwrite an input.
    let mut set = OutputSet::new();
    set.ensure_dir(&args.output)?;
    let stem = args.files[0].file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "series".into());
    let decimals = dm_decimals(&plan.dms());
    let tim_path = |dm: f64| args.output.join(format!("{stem}_DM{dm:.decimals$}.tim"));
    for dm in plan.dms() {
        let p = tim_path(dm);
        check_not_input(&args.files, &p)?;
        if p.is_dir() {
            anyhow::bail!("{}: a folder is in the way of this output series", p.display());
        }
    }
    let dd = DirectDedisperser { block_size: args.block_size };

    let passes: usize = plan.steps.iter().map(|s| s.dms.len().div_ceil(args.batch)).sum();
    let pb = super::progress::bar(passes as u64 * header.nsamples, "dedispersing");
    let mut pass = 0u64;
    let mut written = 0usize;
    for step in &plan.steps {
        for dms in step.dms.chunks(args.batch) {
            let base = pass * header.nsamples;
            let out = dd
                .dedisperse_with_progress(obs.as_mut(), dms, step.downsamp, &mut |done, _| pb.set_position(base + done))
                .with_context(|| format!("dedispersing {source}"))?;
            for (dm, row) in out.dms.iter().zip(out.data.outer_iter()) {
                let mut h = header.clone();
                h.tsamp_s = out.tsamp_s;
                h.refdm = Some(*dm);
                let series = row.to_vec();
                set.add(tianyan::io::sigproc::write_tim_staged(&tim_path(*dm), &h, &series)?);
                written += 1;
            }
            pass += 1;
            pb.set_position(pass * header.nsamples);
        }
    }
    pb.finish_and_clear();
    set.commit()?;
    println!("wrote {written} time series to {}", args.output.display());
    Ok(())
}
