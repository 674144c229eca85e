//! `tianyan accuracy`: completeness, false alarms and parameter errors of the search against
//! theory, on simulated injections (see `tianyan::accuracy`).
use std::path::PathBuf;
use tianyan::accuracy::{report, run_accuracy, GridConfig};

/// Arguments of `tianyan accuracy`.
#[derive(clap::Args, Debug)]
pub struct AccuracyArgs {
    /// Report folder (results.jsonl, results.h5, summary.md, PNGs). A re-run into the same folder
    /// resumes: injections already in results.jsonl are skipped.
    #[arg(short = 'o', long = "out-dir", default_value = "accuracy-report")]
    pub path: PathBuf,
    /// Built-in grid: `default` (S/N 6–20 × duty 2.5–20 % × 4 seeds, 60 s) or `ci` (small).
    #[arg(long, default_value = "default")]
    pub profile: String,
    /// TOML file overriding keys of the profile (keys: see the README / `tianyan::accuracy::grid`).
    #[arg(long)]
    pub grid: Option<PathBuf>,
    /// Injections run at once (overrides the grid's `jobs`; 1 = sequential with a parallel search).
    #[arg(long)]
    pub jobs: Option<usize>,
}

/// Runs `tianyan accuracy`.
pub fn run(args: AccuracyArgs) -> anyhow::Result<()> {
    // The report is a folder: an existing file in its place is named, with what it is, before any
    // work (it was "File exists (os error 17)" after the grid was set up).
    if let Some(k) = tianyan::io::output::existing_kind(&args.path) {
        anyhow::bail!(
            "{}: -o is an existing file ({}), but accuracy writes a report folder (results.jsonl, results.h5, \
             summary.md, PNGs); give a folder name",
            args.path.display(),
            k.describe()
        );
    }
    let mut cfg = GridConfig::profile(&args.profile).map_err(anyhow::Error::msg)?;
    if let Some(g) = &args.grid {
        let text = std::fs::read_to_string(g).map_err(|e| anyhow::anyhow!("{}: {e}", g.display()))?;
        cfg = cfg.with_toml(&text, &g.display().to_string()).map_err(anyhow::Error::msg)?;
    }
    if let Some(j) = args.jobs {
        cfg.jobs = j;
    }
    let n = cfg.injections().len() as u64;
    eprintln!("accuracy: {n} observations (profile {}), report in {}", args.profile, args.path.display());
    let pb = super::progress::bar(n, "injections");
    let t0 = std::time::Instant::now();
    let summary = run_accuracy(&cfg, &args.path, &|d, t| {
        pb.set_length(t);
        pb.set_position(d);
    })?;
    pb.finish_and_clear();
    println!("{}", report::completeness_table(&cfg, &summary));
    if let Some(f) = summary.at_threshold() {
        println!(
            "false alarms at {}σ on {} noise observations: {} (predicted {:.2e})",
            f.sigma, summary.n_noise, f.observed, f.expected
        );
    }
    println!(
        "median |freq error| {:.3} bins, median |DM error| {:.3} pc cm^-3 ({:.2} trial steps); {:.1} s",
        summary.median_abs_freq_err_bins,
        summary.median_abs_dm_err,
        summary.median_abs_dm_err_steps,
        t0.elapsed().as_secs_f64()
    );
    println!("report: {}", args.path.join("summary.md").display());
    Ok(())
}
