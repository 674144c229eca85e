//! `tianyan fold`: fold an observation at a given period and DM, or fold the top candidates of a
//! search file and store the results in it (`/folds`, see `tianyan::fold::store`).
//!
//! ```text
//! tianyan fold FILE... --period P --dm DM [--pdot X | --accel A] [--nbins 64] [-o fold.png]
//! tianyan fold FILE... --candidates cands.h5 [--top 5] [--plot-dir plots/]
//! ```
//!
//! With `--mask mask.h5` (`tianyan rfi FILE -o mask.h5`) the excised data are folded: normalised,
//! masked and clipped as `search --mask` dedisperses them.
use anyhow::{bail, Context};
use std::path::PathBuf;
use tianyan::fold::{fold, fold_top_candidates_masked, optimise, pdot_from_accel, FoldConfig, FoldPlots, FoldResult};
use tianyan::io::output::{check_not_input, check_output_file, check_replaceable, ExistingKind};

/// Arguments of `tianyan fold`.
#[derive(clap::Args, Debug)]
pub struct FoldArgs {
    /// Observation file(s): SIGPROC filterbank or PSRFITS (several files of one observation).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Folding period at the start of the observation, s.
    #[arg(long, required_unless_present = "candidates")]
    pub period: Option<f64>,
    /// Folding DM, pc cm⁻³.
    #[arg(long, default_value_t = 0.0)]
    pub dm: f64,
    /// Period derivative, s/s.
    #[arg(long, conflicts_with = "accel")]
    pub pdot: Option<f64>,
    /// Line-of-sight acceleration, m s⁻² (gives Ṗ = a·P/c).
    #[arg(long)]
    pub accel: Option<f64>,
    /// Phase bins.
    #[arg(long, default_value_t = 64)]
    pub nbins: usize,
    /// Sub-integrations.
    #[arg(long, default_value_t = 32)]
    pub nsubints: usize,
    /// Sub-bands.
    #[arg(long, default_value_t = 32)]
    pub nsubbands: usize,
    /// Do not optimise P, Ṗ and DM (report the fold at the given values).
    #[arg(long)]
    pub no_search: bool,
    /// Write the diagnostic PNG here (single-fold mode).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Search candidate file (HDF5): fold its top candidates and store them under /folds.
    #[arg(long, conflicts_with_all = ["period", "pdot", "accel", "output"])]
    pub candidates: Option<PathBuf>,
    /// Number of signals to fold (with --candidates): the first N family heads, harmonic rows skipped.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Folder for one PNG per folded candidate (with --candidates).
    #[arg(long)]
    pub plot_dir: Option<PathBuf>,
    /// Fold the excised data of this RFI mask (`tianyan rfi FILE -o mask.h5`): normalised, masked
    /// and clipped as `search --mask` does. A mask of another observation is an error.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// With --plot-dir: replace pages there that were drawn from another file (or record none);
    /// with -o: replace a page drawn from a candidate or mask file. Without it they are an error
    /// before any fold.
    #[arg(long)]
    pub overwrite: bool,
}

/// `±` and the uncertainty, or the reason there is none.
fn pm(err: f64, fmt: impl Fn(f64) -> String, why: &str) -> String {
    if err.is_finite() {
        format!("± {}", fmt(err))
    } else {
        format!("({why})")
    }
}

fn print_result(r: &FoldResult) {
    let why = if r.sigma.is_finite() && r.sigma < 1.0 { "no pulse to time" } else { "not fitted" };
    println!("period_s      {:.10} {}", r.period_s, pm(r.period_err_s, |e| format!("{e:.2e}"), why));
    println!("pdot          {:.4e} {}", r.pdot, pm(r.pdot_err, |e| format!("{e:.1e}"), why));
    if r.dm_err.is_finite() {
        println!("dm            {:.3} ± {:.3}", r.dm, r.dm_err);
    } else if r.subband_freqs_mhz.iter().filter(|f| f.is_finite()).count() < 2 {
        println!("dm            {:.3} (not constrained: one frequency)", r.dm);
    } else {
        println!("dm            {:.3} ({why})", r.dm);
    }
    println!("snr           {:.2}   (best boxcar {} of {} bins)", r.snr, r.width_bins, r.nbins);
    println!("reduced_chi2  {:.3}   (dof {}, effective dof {:.1})", r.reduced_chi2, r.dof, r.dof_eff);
    println!("prob_noise    {}   (single trial, χ² tail)", tianyan::plot::format_ln_prob(r.ln_prob_noise));
    println!(
        "sigma         {:.2}   (after {:.0} effective of {} P/Pdot/DM trials searched)",
        r.sigma, r.ntrials_eff, r.ntrials
    );
}

/// The fold page writer handed to `tianyan::fold::store` (which does not use `plot` itself):
/// [`tianyan::plot::plot_fold`], its error as one line.
pub fn draw_fold_page(r: &FoldResult, header: &tianyan::io::Header, path: &std::path::Path) -> Result<(), String> {
    tianyan::plot::plot_fold(r, header, path).map_err(|e| e.to_string())
}

/// Runs `tianyan fold`.
pub fn run(args: FoldArgs) -> anyhow::Result<()> {
    let mut cfg =
        FoldConfig { nbins: args.nbins, nsubints: args.nsubints, nsubbands: args.nsubbands, ..FoldConfig::default() };
    if args.no_search {
        cfg.search.n_period = 1;
        cfg.search.n_pdot = 1;
        cfg.search.n_dm = 1;
    }
    // Read (and so check) the mask before any long work; it is matched to the data on opening.
    let mask = args.mask.as_deref().map(tianyan::rfi::maskfile::read_mask).transpose()?;
    if let (Some(m), Some(p)) = (&mask, &args.mask) {
        tianyan::rfi::check_mask_input(m, p, &args.files)?;
    }
    // The mask is an input: no output may replace it.
    let inputs: Vec<PathBuf> = args.files.iter().cloned().chain(args.mask.iter().cloned()).collect();
    if let Some(h5) = &args.candidates {
        // The candidate file is rewritten (folds are added): it must not be an input either.
        check_not_input(&inputs, h5)?;
        // Without --mask, the excision the search recorded (its /rfi with the normalisation) is
        // applied, so the fold sees what the search saw; a file recording only the report
        // (older searches) gets the raw data and a note.
        let mut mask = mask;
        if mask.is_none() && hdf5::File::open(h5).map(|f| f.group("rfi").is_ok()).unwrap_or(false) {
            let header = tianyan::open_observation(&args.files)?.header().clone();
            mask = tianyan::rfi::maskfile::read_candidates_mask(h5, &header)?;
            if mask.is_some() {
                eprintln!("folding the excised data: the RFI excision recorded in {}:/rfi", h5.display());
            } else {
                eprintln!(
                    "note: {} records the search's RFI excision but not its normalisation (an older file), so this \
                     fold reads the raw data of {}; to fold what the search saw, give --mask (tianyan rfi FILE -o \
                     mask.h5)",
                    h5.display(),
                    args.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ")
                );
            }
        }
        check_output_file(h5)?;
        if let Some(d) = &args.plot_dir {
            if d.exists() && !d.is_dir() {
                bail!("{}: --plot-dir is a file, not a folder", d.display());
            }
        }
        let plots =
            args.plot_dir.as_deref().map(|dir| FoldPlots { dir, draw: &draw_fold_page, overwrite: args.overwrite });
        let results = fold_top_candidates_masked(&args.files, h5, args.top, &cfg, plots, mask)?;
        for (id, r) in results.iter().enumerate() {
            println!("# candidate {id}");
            print_result(r);
        }
        println!("wrote {} fold(s) to {}:/folds", results.len(), h5.display());
        return Ok(());
    }
    let Some(period) = args.period else { bail!("--period is required without --candidates") };
    super::search::positive("--period", period)?;
    if !args.dm.is_finite() || args.dm < 0.0 {
        bail!("--dm must be a number ≥ 0 pc cm⁻³ (got {})", args.dm);
    }
    if let Some(png) = &args.output {
        check_not_input(&inputs, png)?;
        // A fold page replaces only a PNG image, never an observation, a truth file, a mask or a
        // candidate file that happens to have the name.
        check_replaceable(png, &[ExistingKind::Png], "a PNG fold page")?;
        // ... and not a page drawn from a candidate or mask file (whose /folds point to it).
        if let Some(src) = tianyan::io::output::read_png_text(png, tianyan::io::output::PNG_SOURCE_KEY) {
            let kept = matches!(
                tianyan::io::output::existing_kind(std::path::Path::new(&src)),
                Some(ExistingKind::Candidates | ExistingKind::Mask)
            );
            if kept && !args.overwrite {
                bail!(
                    "{}: exists and is a page drawn from {src}; refusing to replace it (that file's /folds may point \
                     to it): choose another output, or pass --overwrite",
                    png.display()
                );
            }
        }
        check_output_file(png)?;
        // The PRESTO-style .bestprof beside the page replaces only an earlier .bestprof.
        let bp = png.with_extension("bestprof");
        if bp == *png {
            bail!(
                "{}: -o is the fold page (a PNG); its .bestprof text goes beside it: give a name ending in .png",
                png.display()
            );
        }
        check_not_input(&inputs, &bp)?;
        if bp.exists() {
            let head = std::fs::read(&bp).ok().map(|b| b.starts_with(b"# Input file")).unwrap_or(false);
            if !head {
                bail!(
                    "{}: exists and is not a .bestprof fold text; refusing to replace it: choose another output",
                    bp.display()
                );
            }
        }
    }
    let pdot = match (args.pdot, args.accel) {
        (Some(p), _) => p,
        (None, Some(a)) => pdot_from_accel(a, period),
        (None, None) => 0.0,
    };
    let mut obs = tianyan::open_observation(&args.files)?;
    if let Some(m) = mask {
        obs = Box::new(tianyan::fold::store::masked(obs, m)?);
    }
    let cube = fold(obs.as_mut(), period, pdot, args.dm, &cfg)?;
    let r = optimise(&cube, &cfg);
    print_result(&r);
    if let Some(png) = &args.output {
        // Drawn under a temporary name, marked with the observation it was folded from, renamed.
        let staged = tianyan::io::output::Staged::new(png);
        tianyan::plot::plot_fold(&r, obs.header(), staged.tmp())
            .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))
            .with_context(|| format!("writing {}", png.display()))?;
        let source = args.files.iter().map(|f| tianyan::io::output::source_tag(f)).collect::<Vec<_>>().join(";");
        tianyan::io::output::tag_png(staged.tmp(), tianyan::io::output::PNG_SOURCE_KEY, &source)
            .map_err(|e| anyhow::anyhow!(staged.relabel(&e.to_string())))?;
        // The same fold as PRESTO's .bestprof text beside the page; both appear together.
        let bp = png.with_extension("bestprof");
        let staged_bp = tianyan::io::output::Staged::new(&bp);
        let names = args.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(",");
        let text = tianyan::fold::bestprof::format_bestprof(
            &r,
            obs.header(),
            &names,
            &format!("P{:.6}ms_DM{:.2}", r.period_s * 1e3, r.dm),
        );
        std::fs::write(staged_bp.tmp(), text).with_context(|| format!("writing {}", bp.display()))?;
        let mut set = tianyan::io::output::OutputSet::new();
        set.add(staged);
        set.add(staged_bp);
        set.commit()?;
        println!("wrote {} and {}", png.display(), bp.display());
    }
    Ok(())
}
