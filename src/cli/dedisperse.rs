//! `tianyan dedisperse FILE --dm-min --dm-max [--dm-step S | --dm-list FILE] [--dedisp ALGO]
//! [--format sigproc|presto] -o DIR`: writes one time series per DM trial, a SIGPROC `.tim`
//! (32-bit float) or a PRESTO `.dat` + `.inf` pair.
//!
//! Each plan step is dedispersed in one pass over the input (the series held in memory when they
//! fit `--max-memory-mb`, else in a scratch file). Each series is `nsamples/downsamp − max_delay`
//! samples long (only fully covered samples; the max delay is that of the step's largest DM, as
//! in `tianyan search`), referred to the highest channel centre, with `refdm` the trial DM
//! (FDMT: its delay row's DM), `tsamp` the input tsamp × downsamp and `rawdatafile` the
//! canonical path of the observation (`;`-separated for several files). An existing series of
//! the same name is replaced only when it records the same observation (else an error before any
//! work, unless `--overwrite`).
use super::plan::PlanOptions;
use anyhow::Context;
use std::path::PathBuf;
use tianyan::dedisp::stream::TrialStore;
use tianyan::dedisp::{DedispKind, Dedisperser};
use tianyan::io::output::{check_not_input, OutputSet};

/// Arguments of `tianyan dedisperse`.
#[derive(clap::Args, Debug)]
pub struct DedisperseArgs {
    /// Observation file(s) (SIGPROC .fil, or PSRFITS files read as one observation).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub opts: PlanOptions,
    /// Output directory for the series (created if missing).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Series format: `sigproc` (`<stem>_DM<dm>.tim`, 32-bit float) or `presto`
    /// (`<stem>_DM<dm>.dat` + `.inf`, as PRESTO's `prepsubband` writes them; an odd-length series
    /// loses its last sample, as PRESTO's FFTs need an even length, and the `.inf` notes say so).
    #[arg(long, default_value = "sigproc", value_parser = ["sigproc", "presto"])]
    pub format: String,
    /// Output samples per block read from the input (memory ≈ 4·nchans·(block + max delay) bytes).
    #[arg(long, default_value_t = 8192)]
    pub block_size: usize,
    /// Dedispersion algorithm: direct, subband, fdmt, fdd (overlap-save Fourier domain) or auto
    /// (the cost model of `tianyan search`, per plan step).
    #[arg(long, default_value = "auto", value_parser = ["direct", "subband", "fdmt", "fdd", "auto"])]
    pub dedisp: String,
    /// Memory for the series of one plan step, MiB (beyond it they go to a scratch file in $TMPDIR).
    #[arg(long, default_value_t = 1024, value_parser = super::positive_usize)]
    pub max_memory_mb: usize,
    /// Dedisperse the excised data of this RFI mask (`tianyan rfi FILE -o mask.h5`): normalised,
    /// masked and clipped as `search --mask` does. A mask of another observation is an error.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// Replace existing series of the same names that were made from another observation (or
    /// record none); without it they are an error before any work.
    #[arg(long)]
    pub overwrite: bool,
}

/// Checks that the existing series `tim` may be replaced by a series of the observation recorded
/// as `source` (each series' `rawdatafile` holds the canonical path(s) of the observation it was
/// made from): it must be a SIGPROC file recording the same observation, unless `overwrite`.
/// Two observations with the same file name in different folders give the same series names;
/// this keeps one from silently replacing the other's series.
fn check_replaceable_tim(tim: &std::path::Path, source: &str, overwrite: bool) -> anyhow::Result<()> {
    use tianyan::io::output::{check_replaceable, ExistingKind};
    check_replaceable(tim, &[ExistingKind::Sigproc], "a SIGPROC time series")?;
    if overwrite || !tim.is_file() {
        return Ok(());
    }
    let recorded = tianyan::io::sigproc::read_header(tim).map(|(h, _)| h.rawdatafile).unwrap_or_default();
    if recorded != source {
        let what = if recorded.is_empty() {
            "records no observation".to_string()
        } else {
            format!("was made from {recorded}")
        };
        anyhow::bail!(
            "{}: exists and {what}, not from {source}; refusing to replace it: choose another folder, or pass --overwrite",
            tim.display()
        );
    }
    Ok(())
}

/// The PRESTO twin of [`check_replaceable_tim`]: an existing `.dat`/`.inf` pair may be replaced
/// only when its `.inf` is tianyan's and its notes name the same observation (`source`), or with
/// `overwrite`; a `.dat` without its `.inf` is never replaced silently.
fn check_replaceable_presto(
    dat: &std::path::Path,
    inf: &std::path::Path,
    source: &str,
    overwrite: bool,
) -> anyhow::Result<()> {
    if overwrite || (!dat.exists() && !inf.exists()) {
        return Ok(());
    }
    let recorded = tianyan::io::presto::read_inf(inf).ok().filter(|i| i.analyser == "tianyan").map(|i| i.notes);
    match recorded {
        Some(notes) if notes.contains(&format!("from {source}.")) => Ok(()),
        Some(_) => anyhow::bail!(
            "{}: exists and was made from another observation, not from {source}; refusing to replace it: choose \
             another folder, or pass --overwrite",
            inf.display()
        ),
        None => anyhow::bail!(
            "{}: exists and is not a PRESTO series written by tianyan dedisperse; refusing to replace it: choose \
             another folder, or pass --overwrite",
            if inf.exists() { inf.display() } else { dat.display() }
        ),
    }
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
    if args.block_size == 0 || args.max_memory_mb == 0 {
        anyhow::bail!("--block-size and --max-memory-mb must be at least 1");
    }
    let kind: DedispKind = args.dedisp.parse().map_err(anyhow::Error::msg)?;
    if args.output.exists() && !args.output.is_dir() {
        anyhow::bail!(
            "{}: -o is an existing file, but dedisperse writes one .tim series per DM trial into a folder; give a \
             folder name",
            args.output.display()
        );
    }
    let mut obs = tianyan::open_observation(&args.files)?;
    if let Some(m) = &args.mask {
        // The excised data (normalised, masked, clipped) as `search --mask` dedisperses them.
        let mask = tianyan::rfi::maskfile::read_mask(m)?;
        tianyan::rfi::check_mask_input(&mask, m, &args.files)?;
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
    let presto = args.format == "presto";
    let base_path = |dm: f64| args.output.join(format!("{stem}_DM{dm:.decimals$}"));
    let tim_path = |dm: f64| args.output.join(format!("{stem}_DM{dm:.decimals$}.tim"));
    // Each series records the observation it was made from (canonical paths, `;`-separated).
    let source = args.files.iter().map(|f| tianyan::io::output::source_tag(f)).collect::<Vec<_>>().join(";");
    for dm in plan.dms() {
        let paths = if presto {
            let (d, i) = tianyan::io::presto::pair_paths(&base_path(dm));
            vec![d, i]
        } else {
            vec![tim_path(dm)]
        };
        for p in &paths {
            check_not_input(&args.files, p)?;
            if p.is_dir() {
                anyhow::bail!("{}: a folder is in the way of this output series", p.display());
            }
        }
        if presto {
            check_replaceable_presto(&paths[0], &paths[1], &source, args.overwrite)?;
        } else {
            check_replaceable_tim(&paths[0], &source, args.overwrite)?;
        }
    }
    let budget = args.max_memory_mb << 20;
    let pb = super::progress::bar(plan.steps.len() as u64 * header.nsamples, "dedispersing");
    let mut written = 0usize;
    for (i, step) in plan.steps.iter().enumerate() {
        let ds = step.downsamp.max(1);
        let step_kind = if kind == DedispKind::Auto {
            tianyan::pipeline::choose_dedisperser(&header, &step.dms, ds, args.max_memory_mb).0
        } else {
            kind
        };
        let dd: Box<dyn Dedisperser> = step_kind.make(args.block_size).expect("auto resolved above");
        let m = dd.overlap(&header, &step.dms, ds).with_context(|| format!("dedispersing {source}"))?;
        let n_ds = (header.nsamples / ds as u64) as usize;
        if m >= n_ds {
            anyhow::bail!(
                "{source}: the {step_kind} sweep spans {m} samples but the data have only {n_ds}; lower --dm-max"
            );
        }
        let nout = n_ds - m;
        let mut store = TrialStore::new(step.dms.len(), nout, step.dms.len() * nout * 4 <= budget)?;
        let base = i as u64 * header.nsamples;
        let dms = dd
            .stream(obs.as_mut(), &step.dms, ds, nout, &mut store, &mut |done, _| pb.set_position(base + done))
            .with_context(|| format!("dedispersing {source}"))?;
        let mut series = Vec::new();
        for (j, dm) in dms.iter().enumerate() {
            store.read_rows(j..j + 1, &mut series)?;
            let mut h = header.clone();
            h.tsamp_s = header.tsamp_s * ds as f64;
            h.refdm = Some(*dm);
            if presto {
                let odd = series.len() % 2 == 1;
                let n = series.len() - odd as usize;
                let base = base_path(step.dms[j]);
                let name = base.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
                let note = format!(
                    "Dedispersed by tianyan {} dedisperse ({step_kind}, downsampled {ds}x) from {source}.{}",
                    env!("CARGO_PKG_VERSION"),
                    if odd { " The last sample was dropped for an even length." } else { "" }
                );
                let inf = tianyan::io::presto::Inf::for_series(&header, &name, n as u64, h.tsamp_s, *dm, &note);
                let (dat, inf) = tianyan::io::presto::write_series_staged(&base, &inf, &series[..n])?;
                set.add(dat);
                set.add(inf);
            } else {
                h.rawdatafile = source.clone();
                set.add(tianyan::io::sigproc::write_tim_staged(&tim_path(step.dms[j]), &h, &series)?);
            }
            written += 1;
        }
        pb.set_position((i as u64 + 1) * header.nsamples);
    }
    pb.finish_and_clear();
    set.commit()?;
    println!("wrote {written} time series to {}", args.output.display());
    Ok(())
}
