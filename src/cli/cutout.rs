//! `tianyan cutout cands.h5 [--top N] [--files OBS...] -o cutouts/`: FETCH-ready HDF5 cutouts of
//! the best single pulses of a search (`tianyan::cutout`), one `<cand_id>.h5` per event, all
//! written together.
use anyhow::Context;
use std::path::{Path, PathBuf};
use tianyan::io::output::{check_not_input, OutputSet};

/// Arguments of `tianyan cutout`.
#[derive(clap::Args, Debug)]
pub struct CutoutArgs {
    /// HDF5 candidate file written by `tianyan search`.
    pub candidates: PathBuf,
    /// Output folder (created if missing).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Cut out the N best single pulses (by S/N; RFI-flagged events only with --all).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Include single pulses flagged as RFI.
    #[arg(long)]
    pub all: bool,
    /// The observation the candidates came from (default: the one the candidate file records,
    /// or the same file name beside it); checked to match the candidate file.
    #[arg(long, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Memory for one event's window, MiB.
    #[arg(long, default_value_t = 1024)]
    pub max_memory_mb: usize,
}

/// True when `path` is a cutout (an HDF5 file with `data_freq_time`) made from the observation
/// `filelist` (its `filelist` attribute), so that a new cutout of the same event may replace it.
fn is_cutout_of(path: &Path, filelist: &str) -> bool {
    tianyan::io::h5file::open(path)
        .map(|f| {
            f.link_exists("data_freq_time")
                && f.attr("filelist")
                    .and_then(|a| a.read_scalar::<hdf5::types::VarLenUnicode>())
                    .map(|v| v.as_str() == filelist)
                    .unwrap_or(false)
        })
        .unwrap_or(false)
}

/// Makes the cutouts of `events` from `obs` (read from `files`) and stages them as
/// `<out_dir>/<cand_id>.h5` into `set` (the folder created with the set); none may be one of
/// `inputs`, and an existing file of that name must be a cutout. `max_bytes` bounds one event's
/// window. Returns each file with its cutout.
///
/// # Errors
/// The cutout's, the folder's and HDF5's errors, naming the path.
pub fn stage_cutouts(
    obs: &mut dyn tianyan::Observation,
    files: &[PathBuf],
    inputs: &[PathBuf],
    events: &[tianyan::search::SinglePulse],
    out_dir: &Path,
    max_bytes: usize,
    set: &mut OutputSet,
) -> anyhow::Result<Vec<(PathBuf, tianyan::cutout::Cutout)>> {
    let header = obs.header().clone();
    set.ensure_dir(out_dir)?;
    let mut written = Vec::new();
    for ev in events {
        let cut = tianyan::cutout::make_cutout(obs, ev, max_bytes)
            .with_context(|| format!("cutout of the event at {:.4} s, DM {:.2}", ev.time_s, ev.dm))?;
        let path = out_dir.join(format!("{}.h5", tianyan::cutout::cand_id(&header, &cut)));
        check_not_input(inputs, &path)?;
        let filelist = files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",");
        if path.exists() && !is_cutout_of(&path, &filelist) {
            anyhow::bail!(
                "{}: exists and is not a cutout of {filelist}; refusing to replace it: remove it or choose another folder",
                path.display()
            );
        }
        set.add(tianyan::cutout::write_cutout_staged(&path, &header, files, &cut)?);
        written.push((path, cut));
    }
    Ok(written)
}

/// Runs `tianyan cutout`.
pub fn run(args: CutoutArgs) -> anyhow::Result<()> {
    if args.top == 0 || args.max_memory_mb == 0 {
        anyhow::bail!("--top and --max-memory-mb must be at least 1");
    }
    let pulses = tianyan::io::candidates::read_single_pulses(&args.candidates)?;
    let files = if args.files.is_empty() {
        super::plot::recorded_observation(&args.candidates).map_err(anyhow::Error::msg)?
    } else {
        args.files.clone()
    };
    let mut obs = tianyan::open_observation(&files)?;
    tianyan::fold::check_candidates_match(&args.candidates, &files, obs.header())?;
    let events: Vec<_> = pulses.iter().filter(|p| args.all || p.rfi_flag == 0).take(args.top).copied().collect();
    if events.is_empty() {
        println!("{}: no single pulse to cut out", args.candidates.display());
        return Ok(());
    }
    let mut inputs = files.clone();
    inputs.push(args.candidates.clone());
    let mut set = OutputSet::new();
    let written =
        stage_cutouts(obs.as_mut(), &files, &inputs, &events, &args.output, args.max_memory_mb << 20, &mut set)?;
    set.commit()?;
    println!(
        "wrote {} FETCH-ready cutout{} to {}:",
        written.len(),
        if written.len() == 1 { "" } else { "s" },
        args.output.display()
    );
    for (p, c) in &written {
        println!(
            "  {}  (tcand {:.4} s, DM {:.2}, S/N {:.1}, width {} samples, {}x time decimation)",
            p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            c.tcand_s,
            c.dm,
            c.snr,
            c.width_samples,
            c.decimation
        );
    }
    Ok(())
}
