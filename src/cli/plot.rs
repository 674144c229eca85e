//! `tianyan plot cands.h5 -o plots/`: writes `candidates.png` (period vs DM of `/candidates`),
//! `single_pulses.png` (DM vs time of `/single_pulses`, when the file holds any, with dedispersed
//! waterfalls of the best events read from the observation the file records, when it is reachable),
//! `fold_<id>.png` for every fold stored under `/folds`, and `rfi_mask.png` (the RFI mask over
//! time and frequency) when the file has an `/rfi` group, and `ffa_periodogram.png` (S/N against
//! trial period at the best DM) when it has an `/ffa` group (`search --ffa`). Given a mask file (`tianyan rfi`),
//! it writes `rfi_mask.png` only.
use std::path::{Path, PathBuf};
use tianyan::io::output::{check_not_input, OutputSet, Staged};
use tianyan::io::Header;

/// Arguments of `tianyan plot`.
#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// HDF5 candidate file written by `tianyan search` (and `tianyan fold --candidates`).
    pub path: PathBuf,
    /// Output folder (created when missing).
    #[arg(short, long, default_value = "plots")]
    pub output: PathBuf,
    /// Replace pages in the output folder that were drawn from another file (or record none);
    /// without it such a page is an error before anything is drawn.
    #[arg(long)]
    pub overwrite: bool,
}

/// Checks, before drawing, that every page of `pages` may be replaced by a page of `source`
/// ([`tianyan::io::output::check_replaceable_page`]: a PNG drawn from the same file, unless
/// `overwrite`) and is not the input.
fn check_pages(source: &Path, pages: &[&Path], overwrite: bool) -> anyhow::Result<()> {
    for p in pages {
        check_not_input(&[source.to_path_buf()], p)?;
        tianyan::io::output::check_replaceable_page(p, source, overwrite)?;
    }
    Ok(())
}

/// Marks a drawn page (still under its temporary name) with the file it was drawn from.
fn tag(staged: &Staged, source: &Path) -> anyhow::Result<()> {
    tianyan::io::output::tag_png(
        staged.tmp(),
        tianyan::io::output::PNG_SOURCE_KEY,
        &tianyan::io::output::source_tag(source),
    )
    .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))
}

/// The observation header as far as the candidate file's root attributes give it.
fn header_from_file(path: &std::path::Path) -> Header {
    let mut h = Header::default();
    if let Ok(f) = tianyan::io::h5file::open(path) {
        let num = |name: &str| f.attr(name).and_then(|a| a.read_scalar::<f64>()).ok();
        if let Ok(s) = tianyan::io::candidates::read_root_string_attr(path, "source_name") {
            h.source_name = s;
        }
        h.tstart_mjd = num("tstart_mjd").unwrap_or(0.0);
        h.tsamp_s = num("tsamp_s").unwrap_or(0.0);
        h.fch1_mhz = num("fch1_mhz").unwrap_or(0.0);
        h.foff_mhz = num("foff_mhz").unwrap_or(0.0);
        h.nsamples = f.attr("nsamples").and_then(|a| a.read_scalar::<u64>()).unwrap_or(0);
    }
    h
}

/// Sub-bands of a waterfall (at most; fewer when the observation has fewer channels).
const WATERFALL_SUBBANDS: usize = 64;

/// The observation a candidate file was made from: its recorded `input_file` (`;`-separated),
/// each path as recorded or, when that is gone, the same file name beside the candidate file.
pub(crate) fn recorded_observation(cands_h5: &Path) -> Result<Vec<PathBuf>, String> {
    let rec = tianyan::io::candidates::read_root_string_attr(cands_h5, "input_file").unwrap_or_default();
    if rec.trim().is_empty() {
        return Err(format!("{} does not record the observation it was made from", cands_h5.display()));
    }
    let here = cands_h5.parent().unwrap_or(Path::new("."));
    rec.split(';')
        .map(|s| {
            let p = PathBuf::from(s.trim());
            if p.is_file() {
                return Ok(p);
            }
            let beside = p.file_name().map(|n| here.join(n));
            match beside {
                Some(b) if b.is_file() => Ok(b),
                _ => Err(format!(
                    "the observation {} (recorded in {}) is not reachable",
                    p.display(),
                    cands_h5.display()
                )),
            }
        })
        .collect()
}

/// Dedispersed waterfalls of the best unflagged events ([`tianyan::plot::best_events`]) read from
/// the observation the candidate file records, after checking it is that observation
/// ([`tianyan::fold::check_candidates_match`]); the reason as text when it cannot.
fn event_waterfalls(
    cands_h5: &Path,
    pulses: &[tianyan::search::SinglePulse],
) -> Result<Vec<tianyan::plot::waterfall::Waterfall>, String> {
    let best = tianyan::plot::best_events(pulses, tianyan::plot::MAX_WATERFALLS);
    if best.is_empty() {
        return Ok(Vec::new());
    }
    let files = recorded_observation(cands_h5)?;
    let mut obs = tianyan::open_observation(&files).map_err(|e| e.to_string())?;
    tianyan::fold::check_candidates_match(cands_h5, &files, obs.header()).map_err(|e| e.to_string())?;
    best.iter()
        .map(|p| {
            tianyan::plot::waterfall::waterfall_data(
                obs.as_mut(),
                p.time_s + 0.5 * p.width_s,
                p.dm,
                p.width_s,
                WATERFALL_SUBBANDS,
            )
            .map_err(|e| e.to_string())
        })
        .collect()
}

/// Runs `tianyan plot`. The pages appear together at the end, or none of them. Every page that
/// exists already must be a page drawn from the same file (unless `--overwrite`), checked before
/// anything is drawn.
pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    use tianyan::io::output::ExistingKind;
    tianyan::io::check_regular_file(&args.path)?;
    match tianyan::io::output::existing_kind(&args.path) {
        Some(ExistingKind::Candidates | ExistingKind::Mask) => {}
        Some(k) => anyhow::bail!(
            "{}: is {}, not a tianyan candidate file (tianyan search) or RFI mask file (tianyan rfi)",
            args.path.display(),
            k.describe()
        ),
        None => {}
    }
    if let Ok(mask) = tianyan::rfi::maskfile::read_mask(&args.path) {
        let png = args.output.join("rfi_mask.png");
        check_pages(&args.path, &[&png], args.overwrite)?;
        let mut set = OutputSet::new();
        set.ensure_dir(&args.output)?;
        let staged = Staged::new(&png);
        tianyan::plot::plot_rfi_mask(&mask.report, &mask.header, staged.tmp())
            .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
        tag(&staged, &args.path)?;
        set.add(staged);
        set.commit()?;
        println!("wrote {} (RFI mask of {})", png.display(), mask.input);
        return Ok(());
    }
    let cands = tianyan::io::candidates::read_candidates(&args.path)?;
    // The /rfi group, when the search recorded one.
    let rfi = tianyan::io::h5file::open(&args.path)
        .ok()
        .and_then(|f| f.group("rfi").ok())
        .and_then(|g| tianyan::rfi::maskfile::read_rfi_group(&g).ok());
    let folds = tianyan::fold::read_folds(&args.path)?;
    let pulses = tianyan::io::candidates::read_single_pulses(&args.path)?;
    let overview = args.output.join("candidates.png");
    let sp = args.output.join("single_pulses.png");
    let rfi_png = args.output.join("rfi_mask.png");
    let pages: Vec<PathBuf> = folds.iter().map(|f| args.output.join(format!("fold_{}.png", f.id))).collect();
    let mut all: Vec<&Path> = vec![&overview];
    if !pulses.is_empty() {
        all.push(&sp);
    }
    if rfi.is_some() {
        all.push(&rfi_png);
    }
    all.extend(pages.iter().map(|p| p.as_path()));
    check_pages(&args.path, &all, args.overwrite)?;
    let mut set = OutputSet::new();
    set.ensure_dir(&args.output)?;
    let staged = Staged::new(&overview);
    tianyan::plot::plot_candidates(&cands, staged.tmp())
        .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
    tag(&staged, &args.path)?;
    set.add(staged);
    let header = header_from_file(&args.path);
    let mut lines = vec![format!("wrote {} ({} candidates)", overview.display(), cands.len())];
    if !pulses.is_empty() {
        let staged = Staged::new(&sp);
        let waterfalls = match event_waterfalls(&args.path, &pulses) {
            Ok(w) => w,
            Err(why) => {
                tracing::warn!("single-pulse page without waterfalls: {why}");
                Vec::new()
            }
        };
        tianyan::plot::plot_single_pulses_with_waterfalls(&pulses, &header, &waterfalls, staged.tmp())
            .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
        tag(&staged, &args.path)?;
        set.add(staged);
        lines.push(format!("wrote {} ({} single pulses, {} waterfalls)", sp.display(), pulses.len(), waterfalls.len()));
    }
    for (f, png) in folds.iter().zip(&pages) {
        let staged = Staged::new(png);
        tianyan::plot::plot_fold(&f.result, &header, staged.tmp())
            .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
        tag(&staged, &args.path)?;
        set.add(staged);
        lines.push(format!("wrote {} (S/N {:.1})", png.display(), f.result.snr));
    }
    if let Some(f) = tianyan::io::candidates::read_ffa(&args.path)? {
        let png = args.output.join("ffa_periodogram.png");
        check_pages(&args.path, &[&png], args.overwrite)?;
        let staged = Staged::new(&png);
        tianyan::plot::plot_ffa_periodogram(&f, staged.tmp())
            .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
        tag(&staged, &args.path)?;
        set.add(staged);
        lines.push(format!("wrote {} (FFA periodogram of DM {:.2})", png.display(), f.best_dm));
    }
    if let Some(r) = &rfi {
        let staged = Staged::new(&rfi_png);
        let mut h = header.clone();
        h.nchans = r.channel_flags.len();
        tianyan::plot::plot_rfi_mask(r, &h, staged.tmp())
            .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
        tag(&staged, &args.path)?;
        set.add(staged);
        lines.push(format!("wrote {} (RFI mask)", rfi_png.display()));
    }
    set.commit()?;
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
