//! Folds stored in a candidate file (HDF5) under `/folds`, and folding a search's top candidates.
//!
//! Layout added to the candidate file (DESIGN.md: later stages add datasets without changing the
//! others): `/folds` (attribute `config_json`, the [`FoldConfig`] of the first folds written) with
//! one group per fold, named by a sequence number (`/folds/0`, `/folds/1`, ...; a later run adds
//! the next numbers beside the existing ones and never replaces them):
//! * datasets `profile` (f64 `[nbins]`), `profile_counts` (f64 `[nbins]`), `time_phase`
//!   (f64 `[n_subints][nbins]`), `freq_phase` (f64 `[n_subbands][nbins]`), `subint_times_s`,
//!   `subband_freqs_mhz`, `dm_curve` (f64 `[n_dm][2]`: columns DM (pc cm⁻³) and S/N),
//!   `period_trials_s`, `pdot_trials`, `ppdot_snr` (f64 `[n_pdot][n_period]`);
//! * attributes `candidate_row` (i64: the row of `/candidates` folded, −1 for a fold not made from
//!   a candidate), `config_json` (this fold's [`FoldConfig`]), `period_s`, `pdot`, `dm`, `snr`,
//!   `reduced_chi2`, `dof`, `dof_eff` (effective χ² degrees of freedom), `ln_prob_noise` (natural
//!   log of the single-trial Prob(Noise)), `ntrials` (grid trials searched), `ntrials_eff`
//!   (effective independent trials), `sigma` (trials-corrected Gaussian significance), `period_err_s`, `pdot_err`, `dm_err`, `width_bins`, `peak_bin`,
//!   `nbins`, `tobs_s`, `fold_period_s`, `fold_pdot`, `fold_dm`, `png_path` (empty when no plot
//!   was written).
//!
//! The file is not modified in place: it is copied to a temporary name beside it, the copy is
//! updated and then renamed over the original (together with the fold plots), so a failure
//! leaves the original unchanged and no plot behind.
//!
//! Before folding, [`check_candidates_match`] makes sure the candidate file was made from the
//! observation given: the recorded input file names, size and header values must agree.

use super::{fold, optimise, pdot_from_accel, FoldConfig, FoldError, FoldResult};
use crate::io::open_observation;
use crate::io::output::{OutputSet, Staged};
use hdf5::types::VarLenUnicode;
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// Writes the diagnostic page of one fold to a file: `(result, observation header, path)`, the
/// error as one line of text. The caller supplies it (the command line passes
/// `tianyan::plot::plot_fold`), so that `fold` never uses `plot` (DESIGN.md: arrows point down
/// the flow only).
pub type FoldPageWriter<'a> = &'a dyn Fn(&FoldResult, &crate::io::Header, &Path) -> Result<(), String>;

/// Where and how to draw one page per fold: `dir/fold_<id>.png`, drawn by `draw`.
#[derive(Clone, Copy)]
pub struct FoldPlots<'a> {
    /// Output folder (created when missing, as part of the output set).
    pub dir: &'a Path,
    /// The page writer (see [`FoldPageWriter`]).
    pub draw: FoldPageWriter<'a>,
    /// Replace existing pages drawn from another file (or recording none); without it such a page
    /// is an error before any fold ([`crate::io::output::check_replaceable_page`]).
    pub overwrite: bool,
}

/// One stored fold: its group number, the candidate row it came from, the result and the path
/// of its PNG (if any).
#[derive(Debug, Clone)]
pub struct StoredFold {
    /// Group number under `/folds` (`/folds/<id>`).
    pub id: usize,
    /// Row index in `/candidates` of the candidate folded (`None` when not made from one).
    pub candidate_row: Option<usize>,
    /// The optimised fold.
    pub result: FoldResult,
    /// Path of the diagnostic PNG, when one was written.
    pub png_path: Option<PathBuf>,
}

fn h5e(path: &Path) -> impl Fn(hdf5::Error) -> FoldError + '_ {
    move |e| FoldError::Hdf5 { path: path.to_path_buf(), msg: e.to_string() }
}

fn put_scalar<T: hdf5::H5Type>(g: &hdf5::Group, path: &Path, name: &str, v: T) -> Result<(), FoldError> {
    g.new_attr::<T>().create(name).and_then(|a| a.write_scalar(&v)).map_err(h5e(path))
}

fn put_str(g: &hdf5::Group, path: &Path, name: &str, v: &str) -> Result<(), FoldError> {
    let s: VarLenUnicode = v
        .replace('\0', " ")
        .parse()
        .map_err(|e| FoldError::Hdf5 { path: path.to_path_buf(), msg: format!("attribute {name}: {e}") })?;
    g.new_attr::<VarLenUnicode>().create(name).and_then(|a| a.write_scalar(&s)).map_err(h5e(path))
}

fn put_1d(g: &hdf5::Group, path: &Path, name: &str, v: &[f64]) -> Result<(), FoldError> {
    g.new_dataset_builder().with_data(v).create(name).map(|_| ()).map_err(h5e(path))
}

fn put_2d(g: &hdf5::Group, path: &Path, name: &str, v: &Array2<f64>) -> Result<(), FoldError> {
    g.new_dataset_builder().with_data(v.view()).create(name).map(|_| ()).map_err(h5e(path))
}

fn write_one(g: &hdf5::Group, path: &Path, f: &StoredFold, cfg_json: &str) -> Result<(), FoldError> {
    let r = &f.result;
    put_scalar(g, path, "candidate_row", f.candidate_row.map(|c| c as i64).unwrap_or(-1))?;
    put_str(g, path, "config_json", cfg_json)?;
    put_1d(g, path, "profile", &r.profile)?;
    put_1d(g, path, "profile_counts", &r.profile_counts)?;
    put_2d(g, path, "time_phase", &r.time_phase)?;
    put_2d(g, path, "freq_phase", &r.freq_phase)?;
    put_1d(g, path, "subint_times_s", &r.subint_times_s)?;
    put_1d(g, path, "subband_freqs_mhz", &r.subband_freqs_mhz)?;
    let mut dmc = Array2::zeros((r.dm_trials.len(), 2));
    for (i, (d, s)) in r.dm_trials.iter().zip(&r.dm_snr).enumerate() {
        dmc[[i, 0]] = *d;
        dmc[[i, 1]] = *s;
    }
    put_2d(g, path, "dm_curve", &dmc)?;
    put_1d(g, path, "period_trials_s", &r.period_trials_s)?;
    put_1d(g, path, "pdot_trials", &r.pdot_trials)?;
    put_2d(g, path, "ppdot_snr", &r.ppdot_snr)?;
    for (name, v) in [
        ("period_s", r.period_s),
        ("pdot", r.pdot),
        ("dm", r.dm),
        ("snr", r.snr),
        ("reduced_chi2", r.reduced_chi2),
        ("period_err_s", r.period_err_s),
        ("pdot_err", r.pdot_err),
        ("dm_err", r.dm_err),
        ("tobs_s", r.tobs_s),
        ("dof_eff", r.dof_eff),
        ("ln_prob_noise", r.ln_prob_noise),
        ("ntrials_eff", r.ntrials_eff),
        ("sigma", r.sigma),
        ("fold_period_s", r.fold_period_s),
        ("fold_pdot", r.fold_pdot),
        ("fold_dm", r.fold_dm),
    ] {
        put_scalar(g, path, name, v)?;
    }
    put_scalar(g, path, "dof", r.dof as u64)?;
    put_scalar(g, path, "ntrials", r.ntrials)?;
    put_scalar(g, path, "width_bins", r.width_bins as u64)?;
    put_scalar(g, path, "peak_bin", r.peak_bin as u64)?;
    put_scalar(g, path, "nbins", r.nbins as u64)?;
    let png = f.png_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    put_str(g, path, "png_path", &png)
}

/// The group number the next fold added to `cands_h5` gets: one more than the largest existing
/// `/folds/<n>`, 0 when there is none.
///
/// # Errors
/// [`FoldError::Hdf5`] when the file cannot be read.
pub fn next_fold_id(cands_h5: &Path) -> Result<usize, FoldError> {
    let file = crate::io::h5file::open(cands_h5).map_err(h5e(cands_h5))?;
    next_id_in(&file, cands_h5)
}

fn next_id_in(file: &hdf5::File, label: &Path) -> Result<usize, FoldError> {
    if !file.link_exists("folds") {
        return Ok(0);
    }
    let root = file.group("folds").map_err(h5e(label))?;
    let names = root.member_names().map_err(h5e(label))?;
    Ok(names.iter().filter_map(|n| n.parse::<usize>().ok()).max().map_or(0, |m| m + 1))
}

/// Adds `folds` to the HDF5 file `h5` (opened read-write in place; `label` is the path named in
/// errors) as `/folds/<id>/`, beside any folds already there. A fold whose group exists is an
/// error, never a replacement.
pub(crate) fn add_folds(h5: &Path, label: &Path, folds: &[StoredFold], cfg: &FoldConfig) -> Result<(), FoldError> {
    let file = crate::io::h5file::open_rw(h5).map_err(h5e(label))?;
    let json = serde_json::to_string(cfg).unwrap_or_default();
    let root = if file.link_exists("folds") {
        file.group("folds").map_err(h5e(label))?
    } else {
        let g = file.create_group("folds").map_err(h5e(label))?;
        put_str(&g, label, "config_json", &json)?;
        g
    };
    for f in folds {
        let name = f.id.to_string();
        if root.link_exists(&name) {
            return Err(FoldError::Invalid(format!(
                "{}: /folds/{name} already exists; folds are added, never replaced",
                label.display()
            )));
        }
        let g = root.create_group(&name).map_err(h5e(label))?;
        write_one(&g, label, f, &json)?;
    }
    file.close().map_err(h5e(label))
}

/// Copies `cands_h5` to a temporary file beside it and adds `folds` to the copy
/// ([`add_folds`]); the returned file is committed (renamed over the original) by the caller,
/// alone or together with the fold plots.
fn copy_with_folds(cands_h5: &Path, folds: &[StoredFold], cfg: &FoldConfig) -> Result<Staged, FoldError> {
    let staged = Staged::new(cands_h5);
    std::fs::copy(cands_h5, staged.tmp()).map_err(|e| FoldError::Os { path: cands_h5.to_path_buf(), source: e })?;
    add_folds(staged.tmp(), cands_h5, folds, cfg).map_err(|e| relabel(e, &staged))?;
    Ok(staged)
}

/// HDF5's messages name the file it opened: put the user's path in place of the temporary.
fn relabel(e: FoldError, staged: &Staged) -> FoldError {
    match e {
        FoldError::Hdf5 { path, msg } => FoldError::Hdf5 { path, msg: staged.relabel(&msg) },
        other => other,
    }
}

/// Adds `folds` to `cands_h5` under `/folds/<id>/` (ids from [`next_fold_id`]), beside the folds
/// already stored, leaving everything else untouched (see the module doc for the layout and
/// atomicity).
///
/// # Errors
/// [`FoldError::Os`] when the file cannot be copied or renamed, [`FoldError::Hdf5`] when it is
/// not an HDF5 file or a write fails, [`FoldError::Invalid`] when a fold's group already exists.
pub fn write_folds(cands_h5: &Path, folds: &[StoredFold], cfg: &FoldConfig) -> Result<(), FoldError> {
    copy_with_folds(cands_h5, folds, cfg)?.commit().map_err(|e| FoldError::Invalid(e.to_string()))
}

fn get_f64(g: &hdf5::Group, path: &Path, name: &str) -> Result<f64, FoldError> {
    g.attr(name).and_then(|a| a.read_scalar::<f64>()).map_err(h5e(path))
}
fn get_u64(g: &hdf5::Group, path: &Path, name: &str) -> Result<u64, FoldError> {
    g.attr(name).and_then(|a| a.read_scalar::<u64>()).map_err(h5e(path))
}
fn get_1d(g: &hdf5::Group, path: &Path, name: &str) -> Result<Vec<f64>, FoldError> {
    g.dataset(name).and_then(|d| d.read_raw::<f64>()).map_err(h5e(path))
}
fn get_2d(g: &hdf5::Group, path: &Path, name: &str) -> Result<Array2<f64>, FoldError> {
    g.dataset(name).and_then(|d| d.read_2d::<f64>()).map_err(h5e(path))
}

/// Reads every fold stored under `/folds` of `cands_h5`, sorted by id; empty when there is none.
///
/// # Errors
/// [`FoldError::Hdf5`] when the file cannot be read or a fold group lacks a field.
pub fn read_folds(cands_h5: &Path) -> Result<Vec<StoredFold>, FoldError> {
    let file = crate::io::h5file::open(cands_h5).map_err(h5e(cands_h5))?;
    if !file.link_exists("folds") {
        return Ok(Vec::new());
    }
    let root = file.group("folds").map_err(h5e(cands_h5))?;
    let mut ids: Vec<usize> =
        root.member_names().map_err(h5e(cands_h5))?.iter().filter_map(|n| n.parse().ok()).collect();
    ids.sort_unstable();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let g = root.group(&id.to_string()).map_err(h5e(cands_h5))?;
        let p = cands_h5;
        let dmc = get_2d(&g, p, "dm_curve")?;
        let png: String = g
            .attr("png_path")
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        let result = FoldResult {
            period_s: get_f64(&g, p, "period_s")?,
            pdot: get_f64(&g, p, "pdot")?,
            dm: get_f64(&g, p, "dm")?,
            snr: get_f64(&g, p, "snr")?,
            reduced_chi2: get_f64(&g, p, "reduced_chi2")?,
            dof: get_u64(&g, p, "dof")? as usize,
            // Folds written before the calibrated significance existed lack these: NaN / 0.
            dof_eff: get_f64(&g, p, "dof_eff").unwrap_or(f64::NAN),
            ln_prob_noise: get_f64(&g, p, "ln_prob_noise").unwrap_or(f64::NAN),
            ntrials: get_u64(&g, p, "ntrials").unwrap_or(0),
            ntrials_eff: get_f64(&g, p, "ntrials_eff").unwrap_or(f64::NAN),
            sigma: get_f64(&g, p, "sigma").unwrap_or(f64::NAN),
            period_err_s: get_f64(&g, p, "period_err_s")?,
            pdot_err: get_f64(&g, p, "pdot_err")?,
            dm_err: get_f64(&g, p, "dm_err")?,
            width_bins: get_u64(&g, p, "width_bins")? as usize,
            peak_bin: get_u64(&g, p, "peak_bin")? as usize,
            nbins: get_u64(&g, p, "nbins")? as usize,
            tobs_s: get_f64(&g, p, "tobs_s")?,
            fold_period_s: get_f64(&g, p, "fold_period_s")?,
            fold_pdot: get_f64(&g, p, "fold_pdot")?,
            fold_dm: get_f64(&g, p, "fold_dm")?,
            profile: get_1d(&g, p, "profile")?,
            profile_counts: get_1d(&g, p, "profile_counts")?,
            time_phase: get_2d(&g, p, "time_phase")?,
            freq_phase: get_2d(&g, p, "freq_phase")?,
            subint_times_s: get_1d(&g, p, "subint_times_s")?,
            subband_freqs_mhz: get_1d(&g, p, "subband_freqs_mhz")?,
            dm_trials: dmc.column(0).to_vec(),
            dm_snr: dmc.column(1).to_vec(),
            period_trials_s: get_1d(&g, p, "period_trials_s")?,
            pdot_trials: get_1d(&g, p, "pdot_trials")?,
            ppdot_snr: get_2d(&g, p, "ppdot_snr")?,
        };
        // Files written before folds were numbered apart from candidates: the group name was the row.
        let candidate_row = match g.attr("candidate_row").and_then(|a| a.read_scalar::<i64>()) {
            Ok(r) => usize::try_from(r).ok(),
            Err(_) => Some(id),
        };
        out.push(StoredFold {
            id,
            candidate_row,
            result,
            png_path: if png.is_empty() { None } else { Some(PathBuf::from(png)) },
        });
    }
    Ok(out)
}

/// Root attribute `name` of an open HDF5 file as `f64`, if present and numeric.
fn root_f64(f: &hdf5::File, name: &str) -> Option<f64> {
    f.attr(name).ok().and_then(|a| a.read_scalar::<f64>().ok())
}

/// Root attribute `name` as `u64` (written as an unsigned integer), if present.
fn root_u64(f: &hdf5::File, name: &str) -> Option<u64> {
    let a = f.attr(name).ok()?;
    a.read_scalar::<u64>().ok().or_else(|| a.read_scalar::<u32>().ok().map(u64::from))
}

/// File name (last component) of a path given as text.
fn base_name(s: &str) -> String {
    Path::new(s.trim()).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Checks that the candidate file `cands_h5` was made from the observation `input_paths` (header
/// `header`): the recorded input file names (`input_file`, compared by file name so a moved
/// folder still matches), total size (`input_size_bytes`, when recorded) and header values
/// (`nchans`, `nbits`, `nsamples`, `tsamp_s`, `fch1_mhz`, `foff_mhz`, `tstart_mjd`) must agree.
/// Values a file does not record are not compared.
///
/// # Errors
/// [`FoldError::Mismatch`] listing every difference; [`FoldError::Hdf5`] when the file cannot be read.
pub fn check_candidates_match(
    cands_h5: &Path,
    input_paths: &[PathBuf],
    header: &crate::io::Header,
) -> Result<(), FoldError> {
    let f = crate::io::h5file::open(cands_h5).map_err(h5e(cands_h5))?;
    let mut diffs: Vec<String> = Vec::new();
    let recorded = crate::io::candidates::read_root_string_attr(cands_h5, "input_file").unwrap_or_default();
    if !recorded.trim().is_empty() {
        let want: Vec<String> = recorded.split(';').map(base_name).collect();
        let got: Vec<String> = input_paths.iter().map(|p| base_name(&p.to_string_lossy())).collect();
        if want != got {
            diffs.push(format!("input file {} ≠ {}", want.join(";"), got.join(";")));
        }
    }
    if let Some(size) = root_u64(&f, "input_size_bytes") {
        let got: u64 = input_paths.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        if got != size {
            diffs.push(format!("size {size} ≠ {got} bytes"));
        }
    }
    for (name, got) in [("nchans", header.nchans as u64), ("nbits", header.nbits as u64), ("nsamples", header.nsamples)]
    {
        if let Some(v) = root_u64(&f, name) {
            if v != got {
                diffs.push(format!("{name} {v} ≠ {got}"));
            }
        }
    }
    // The same reader gives the same doubles for the same file; the tolerance only absorbs a
    // last-bit difference after a format conversion.
    let close = |a: f64, b: f64| a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs());
    for (name, got) in [
        ("tsamp_s", header.tsamp_s),
        ("fch1_mhz", header.fch1_mhz),
        ("foff_mhz", header.foff_mhz),
        ("tstart_mjd", header.tstart_mjd),
    ] {
        if let Some(v) = root_f64(&f, name) {
            if !close(v, got) {
                diffs.push(format!("{name} {v} ≠ {got}"));
            }
        }
    }
    if diffs.is_empty() {
        return Ok(());
    }
    let given = input_paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ");
    Err(FoldError::Mismatch(format!(
        "{}: the candidates were made from another observation than {given} (recorded ≠ given: {}); fold the \
         observation the search read",
        cands_h5.display(),
        diffs.join(", ")
    )))
}

/// Folds the first `top` rows of `cands` on `obs`, numbering the folds from `first_id`, and writes
/// one diagnostic PNG per fold (`fold_<id>.png`) into `plots.dir` (drawn by `plots.draw`), staged in `set` so the plots
/// appear only together with the candidate file.
#[allow(clippy::too_many_arguments)]
fn fold_rows(
    obs: &mut dyn crate::io::Observation,
    cands: &[crate::search::Candidate],
    top: usize,
    first_id: usize,
    cfg: &FoldConfig,
    plots: Option<FoldPlots<'_>>,
    set: &mut OutputSet,
    cands_h5: &Path,
) -> Result<Vec<StoredFold>, FoldError> {
    let mut stored = Vec::new();
    // Every page this call writes may replace only a page drawn from the same candidate file
    // (another file's /folds may point to it); checked before any fold.
    if let Some(pl) = plots {
        let n = cands.iter().filter(|c| c.harmonic_of < 0).take(top).count();
        for id in first_id..first_id + n {
            crate::io::output::check_replaceable_page(&pl.dir.join(format!("fold_{id}.png")), cands_h5, pl.overwrite)?;
            // The PRESTO .bestprof beside each page replaces only an earlier .bestprof.
            let bp = pl.dir.join(format!("fold_{id}.bestprof"));
            if bp.exists() && !std::fs::read(&bp).map(|b| b.starts_with(b"# Input file")).unwrap_or(false) {
                return Err(FoldError::Output(format!(
                    "{}: exists and is not a .bestprof fold text; refusing to replace it",
                    bp.display()
                )));
            }
        }
    }
    let source = crate::io::output::source_tag(cands_h5);
    // Only family heads (harmonic_of < 0) are folded: a harmonic row is the same pulsar at P/2,
    // 2P, …, and folding it again costs a fold and shows the user the same star twice.
    let mut k = 0;
    for (row, c) in cands.iter().enumerate().filter(|(_, c)| c.harmonic_of < 0).take(top) {
        if !(c.period_s.is_finite() && c.period_s > 0.0) {
            return Err(FoldError::Invalid(format!(
                "{}: candidate {row} has period {} s",
                cands_h5.display(),
                c.period_s
            )));
        }
        // A candidate whose period the data hold fewer than MIN_FOLD_TURNS times cannot be
        // folded (see there): it is skipped with a warning, the others are folded.
        let tobs_s = obs.header().nsamples as f64 * obs.header().tsamp_s;
        if tobs_s / c.period_s < super::MIN_FOLD_TURNS {
            tracing::warn!(
                "{}: candidate {row} (P = {} s) not folded: the {tobs_s:.3} s of data hold only {:.2} turns (at least {} needed)",
                cands_h5.display(),
                c.period_s,
                tobs_s / c.period_s,
                super::MIN_FOLD_TURNS
            );
            continue;
        }
        let id = first_id + k;
        k += 1;
        // A candidate's period is its mean over the observation (the acceleration search reports
        // the mean frequency); the fold's phase model is referred to t = 0: P₀ = P̄ − Ṗ T/2.
        let pdot = pdot_from_accel(c.accel, c.period_s);
        let tobs = obs.header().nsamples as f64 * obs.header().tsamp_s;
        let p_start = c.period_s - 0.5 * pdot * tobs;
        tracing::info!("folding candidate {row}: P = {} s, DM = {}, accel = {}", c.period_s, c.dm, c.accel);
        let cube = fold(obs, p_start, pdot, c.dm, cfg)?;
        let result = optimise(&cube, cfg);
        let png_path = match plots {
            Some(pl) => {
                let p = pl.dir.join(format!("fold_{id}.png"));
                let staged = Staged::new(&p);
                (pl.draw)(&result, obs.header(), staged.tmp()).map_err(|e| FoldError::Output(staged.relabel(&e)))?;
                crate::io::output::tag_png(staged.tmp(), crate::io::output::PNG_SOURCE_KEY, &source)
                    .map_err(|e| FoldError::Output(staged.relabel(&e.to_string())))?;
                set.add(staged);
                // PRESTO's text of the same fold beside the page, committed with it.
                let bp = pl.dir.join(format!("fold_{id}.bestprof"));
                let staged_bp = Staged::new(&bp);
                let text = super::bestprof::format_bestprof(
                    &result,
                    obs.header(),
                    &obs.source_description(),
                    &format!("cand{row}_P{:.6}ms_DM{:.2}", result.period_s * 1e3, result.dm),
                );
                std::fs::write(staged_bp.tmp(), text)
                    .map_err(|e| FoldError::Output(format!("{}: {e}", bp.display())))?;
                set.add(staged_bp);
                Some(p)
            }
            None => None,
        };
        stored.push(StoredFold { id, candidate_row: Some(row), result, png_path });
    }
    Ok(stored)
}

/// Folds the `top` strongest family heads (rows with `harmonic_of < 0`) into a candidate file
/// that is still staged (written
/// under its temporary name by [`crate::io::candidates::write_candidate_file_staged`]), adding
/// the plots to `set`; the caller commits the file and the plots together.
///
/// # Errors
/// As [`fold_top_candidates`].
pub fn fold_top_candidates_staged(
    obs: &mut dyn crate::io::Observation,
    cands: &[crate::search::Candidate],
    staged_h5: &Staged,
    top: usize,
    cfg: &FoldConfig,
    plots: Option<FoldPlots<'_>>,
    set: &mut OutputSet,
) -> Result<Vec<StoredFold>, FoldError> {
    let label = staged_h5.path();
    if let Some(pl) = plots {
        set.ensure_dir(pl.dir)?;
    }
    let first_id = {
        let file = crate::io::h5file::open(staged_h5.tmp()).map_err(h5e(label)).map_err(|e| relabel(e, staged_h5))?;
        next_id_in(&file, label)?
    };
    let stored = fold_rows(obs, cands, top, first_id, cfg, plots, set, label)?;
    add_folds(staged_h5.tmp(), label, &stored, cfg).map_err(|e| relabel(e, staged_h5))?;
    Ok(stored)
}

/// Folds the `top` strongest signals of a search file (the first `top` family heads of
/// `/candidates`, rows with `harmonic_of < 0`, which sifting writes first, strongest family first) on the observation `input_paths`,
/// optimises each ([`optimise`]), optionally writes a diagnostic PNG per fold into `plots.dir`
/// (`fold_<id>.png`, drawn by `plots.draw`), and adds the results to `cands_h5` under `/folds` beside the folds already
/// there ([`write_folds`]); the updated file and the plots appear together or not at all.
/// The candidate file must have been made from `input_paths` ([`check_candidates_match`]).
/// A candidate's acceleration becomes `Ṗ = a·P/c` ([`pdot_from_accel`]).
///
/// Returns the results in candidate order.
///
/// # Errors
/// [`FoldError::Hdf5`] when the candidate file cannot be read, [`FoldError::Mismatch`] when it
/// belongs to another observation, [`FoldError::Invalid`] for a candidate with an unusable
/// period, [`FoldError::Output`] when a page cannot be drawn, and the errors of [`fold`] and
/// [`write_folds`].
pub fn fold_top_candidates(
    input_paths: &[PathBuf],
    cands_h5: &Path,
    top: usize,
    cfg: &FoldConfig,
    plots: Option<FoldPlots<'_>>,
) -> Result<Vec<FoldResult>, FoldError> {
    fold_top_candidates_masked(input_paths, cands_h5, top, cfg, plots, None)
}

/// [`fold_top_candidates`] on the excised data of an RFI mask (`tianyan rfi FILE -o mask.h5`,
/// [`crate::rfi::maskfile::read_mask`]): normalised, masked and clipped as `search --mask`
/// dedisperses them ([`crate::rfi::CleanedObservation::with_mask`]); `None` folds the raw data.
///
/// # Errors
/// As [`fold_top_candidates`]; [`FoldError::Mismatch`] when the mask belongs to another
/// observation ([`crate::rfi::check_mask_matches`]; the message names both), before any fold.
pub fn fold_top_candidates_masked(
    input_paths: &[PathBuf],
    cands_h5: &Path,
    top: usize,
    cfg: &FoldConfig,
    plots: Option<FoldPlots<'_>>,
    mask: Option<crate::rfi::RfiMask>,
) -> Result<Vec<FoldResult>, FoldError> {
    use crate::io::candidates::CandidatesError;
    let cands = crate::io::candidates::read_candidates(cands_h5).map_err(|e| match e {
        CandidatesError::Hdf5 { path, source } => FoldError::Hdf5 { path, msg: source.to_string() },
        CandidatesError::Invalid { path, msg } => FoldError::Data { source_desc: path.display().to_string(), msg },
        CandidatesError::Os { path, source } => FoldError::Os { path, source },
    })?;
    let mut obs = open_observation(input_paths)?;
    check_candidates_match(cands_h5, input_paths, obs.header())?;
    if let Some(m) = mask {
        obs = Box::new(masked(obs, m)?);
    }
    let mut set = OutputSet::new();
    if let Some(pl) = plots {
        set.ensure_dir(pl.dir)?;
    }
    let first_id = next_fold_id(cands_h5)?;
    let stored = fold_rows(obs.as_mut(), &cands, top, first_id, cfg, plots, &mut set, cands_h5)?;
    set.add(copy_with_folds(cands_h5, &stored, cfg)?);
    set.commit()?;
    Ok(stored.into_iter().map(|s| s.result).collect())
}

/// `obs` with the RFI mask `mask` applied ([`crate::rfi::CleanedObservation::with_mask`]).
///
/// # Errors
/// [`FoldError::Mismatch`] when the mask was made from another observation (the message names
/// both and the first differing header value).
pub fn masked(
    obs: Box<dyn crate::io::Observation>,
    mask: crate::rfi::RfiMask,
) -> Result<crate::rfi::CleanedObservation, FoldError> {
    crate::rfi::CleanedObservation::with_mask(obs, mask).map_err(|e| match e {
        crate::rfi::RfiError::Io(io) => FoldError::Io(io),
        other => FoldError::Mismatch(other.to_string()),
    })
}
