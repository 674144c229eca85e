//! `tianyan plot cands.h5 -o plots/`: writes `candidates.png` (period vs DM of `/candidates`),
//! `single_pulses.png` (DM vs time of `/single_pulses`, when the file holds any),
//! `fold_<id>.png` for every fold stored under `/folds`, and `rfi_mask.png` (the RFI mask over
//! time and frequency) when the file has an `/rfi` group. Given a mask file (`tianyan rfi`),
//! it writes `rfi_mask.png` only.
use std::path::PathBuf;
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

/// Runs `tianyan plot`. The pages appear together at the end, or none of them.
pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    if let Ok(mask) = tianyan::rfi::maskfile::read_mask(&args.path) {
        let mut set = OutputSet::new();
        set.ensure_dir(&args.output)?;
        let png = args.output.join("rfi_mask.png");
        check_not_input(std::slice::from_ref(&args.path), &png)?;
        let staged = Staged::new(&png);
        tianyan::plot::plot_rfi_mask(&mask.report, &mask.header, staged.tmp())
            .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
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
    let mut set = OutputSet::new();
    set.ensure_dir(&args.output)?;
    let inputs = [args.path.clone()];
    let overview = args.output.join("candidates.png");
    check_not_input(&inputs, &overview)?;
    let pages: Vec<PathBuf> = folds.iter().map(|f| args.output.join(format!("fold_{}.png", f.id))).collect();
    for p in &pages {
        check_not_input(&inputs, p)?;
    }
    let staged = Staged::new(&overview);
    tianyan::plot::plot_candidates(&cands, staged.tmp())
        .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
    set.add(staged);
    let header = header_from_file(&args.path);
    let mut lines = vec![format!("wrote {} ({} candidates)", overview.display(), cands.len())];
    if !pulses.is_empty() {
        let sp = args.output.join("single_pulses.png");
        check_not_input(&inputs, &sp)?;
        let staged = Staged::new(&sp);
        tianyan::plot::plot_single_pulses(&pulses, &header, staged.tmp())
            .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
        set.add(staged);
        lines.push(format!("wrote {} ({} single pulses)", sp.display(), pulses.len()));
    }
    for (f, png) in folds.iter().zip(&pages) {
        let staged = Staged::new(png);
        tianyan::plot::plot_fold(&f.result, &header, staged.tmp())
            .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
        set.add(staged);
        lines.push(format!("wrote {} (S/N {:.1})", png.display(), f.result.snr));
    }
    if let Some(r) = &rfi {
        let png = args.output.join("rfi_mask.png");
        check_not_input(&inputs, &png)?;
        let staged = Staged::new(&png);
        let mut h = header.clone();
        h.nchans = r.channel_flags.len();
        tianyan::plot::plot_rfi_mask(r, &h, staged.tmp())
            .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
        set.add(staged);
        lines.push(format!("wrote {} (RFI mask)", png.display()));
    }
    set.commit()?;
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
