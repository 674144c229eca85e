//! Folds stored in a candidate file (HDF5) under `/folds`, and folding a search's top candidates.
//!
//! Layout added to the candidate file (DESIGN.md: later stages add datasets without changing the
//! others): `/folds` (attribute `config_json`, the [`FoldConfig`]) with one group per folded
//! candidate, named by its row index in `/candidates` (`/folds/0`, `/folds/1`, ...):
//! * datasets `profile` (f64 `[nbins]`), `profile_counts` (f64 `[nbins]`), `time_phase`
//!   (f64 `[n_subints][nbins]`), `freq_phase` (f64 `[n_subbands][nbins]`), `subint_times_s`,
//!   `subband_freqs_mhz`, `dm_curve` (f64 `[n_dm][2]`: columns DM (pc cm⁻³) and S/N),
//!   `period_trials_s`, `pdot_trials`, `ppdot_snr` (f64 `[n_pdot][n_period]`);
//! * attributes `period_s`, `pdot`, `dm`, `snr`, `reduced_chi2`, `dof`, `period_err_s`,
//!   `pdot_err`, `dm_err`, `width_bins`, `peak_bin`, `nbins`, `tobs_s`, `fold_period_s`,
//!   `fold_pdot`, `fold_dm`, `png_path` (empty when no plot was written).
//!
//! Writing replaces the whole `/folds` group and touches nothing else. The file is not modified
//! in place: it is copied to a temporary name beside it, the copy is updated and then renamed
//! over the original, so a failure leaves the original unchanged.

use super::{fold, optimise, pdot_from_accel, FoldConfig, FoldError, FoldResult};
use crate::io::open_observation;
use hdf5::types::VarLenUnicode;
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// One stored fold: the candidate's row index, the result and the path of its PNG (if any).
#[derive(Debug, Clone)]
pub struct StoredFold {
    /// Row index in `/candidates`.
    pub id: usize,
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

fn write_one(g: &hdf5::Group, path: &Path, f: &StoredFold) -> Result<(), FoldError> {
    let r = &f.result;
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
        ("fold_period_s", r.fold_period_s),
        ("fold_pdot", r.fold_pdot),
        ("fold_dm", r.fold_dm),
    ] {
        put_scalar(g, path, name, v)?;
    }
    put_scalar(g, path, "dof", r.dof as u64)?;
    put_scalar(g, path, "width_bins", r.width_bins as u64)?;
    put_scalar(g, path, "peak_bin", r.peak_bin as u64)?;
    put_scalar(g, path, "nbins", r.nbins as u64)?;
    let png = f.png_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    put_str(g, path, "png_path", &png)
}

/// Writes `folds` into `cands_h5` under `/folds/<id>/`, replacing any existing `/folds` group
/// and leaving everything else untouched (see the module doc for the layout and atomicity).
///
/// # Errors
/// [`FoldError::Os`] when the file cannot be copied or renamed, [`FoldError::Hdf5`] when it is
/// not an HDF5 file or a write fails.
pub fn write_folds(cands_h5: &Path, folds: &[StoredFold], cfg: &FoldConfig) -> Result<(), FoldError> {
    let name = cands_h5.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = cands_h5.with_file_name(format!(".{name}.folds.tmp{}", std::process::id()));
    let run = || -> Result<(), FoldError> {
        std::fs::copy(cands_h5, &tmp).map_err(|e| FoldError::Os { path: cands_h5.to_path_buf(), source: e })?;
        let file = hdf5::File::open_rw(&tmp).map_err(h5e(cands_h5))?;
        if file.link_exists("folds") {
            file.unlink("folds").map_err(h5e(cands_h5))?;
        }
        let root = file.create_group("folds").map_err(h5e(cands_h5))?;
        let json = serde_json::to_string(cfg).unwrap_or_default();
        put_str(&root, cands_h5, "config_json", &json)?;
        for f in folds {
            let g = root.create_group(&f.id.to_string()).map_err(h5e(cands_h5))?;
            write_one(&g, cands_h5, f)?;
        }
        file.close().map_err(h5e(cands_h5))?;
        std::fs::rename(&tmp, cands_h5).map_err(|e| FoldError::Os { path: cands_h5.to_path_buf(), source: e })
    };
    let out = run();
    if out.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    out
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
    let file = hdf5::File::open(cands_h5).map_err(h5e(cands_h5))?;
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
        out.push(StoredFold { id, result, png_path: if png.is_empty() { None } else { Some(PathBuf::from(png)) } });
    }
    Ok(out)
}

/// Folds the `top` strongest candidates of a search file (the first `top` rows of
/// `/candidates`, which the search writes sorted by sigma) on the observation `input_paths`,
/// optimises each ([`optimise`]), optionally writes a diagnostic PNG per candidate into
/// `plot_dir` (`fold_<id>.png`), and stores the results in `cands_h5` under `/folds`
/// ([`write_folds`]). A candidate's acceleration becomes `Ṗ = a·P/c` ([`pdot_from_accel`]).
///
/// Returns the results in candidate order.
///
/// # Errors
/// [`FoldError::Hdf5`] when the candidate file cannot be read, [`FoldError::Invalid`] for a
/// candidate with an unusable period, and the errors of [`fold`], [`crate::plot::plot_fold`]
/// and [`write_folds`].
pub fn fold_top_candidates(
    input_paths: &[PathBuf],
    cands_h5: &Path,
    top: usize,
    cfg: &FoldConfig,
    plot_dir: Option<&Path>,
) -> Result<Vec<FoldResult>, FoldError> {
    let cands = crate::io::candidates::read_candidates(cands_h5)
        .map_err(|e| FoldError::Hdf5 { path: cands_h5.to_path_buf(), msg: e.to_string() })?;
    let mut obs = open_observation(input_paths)?;
    if let Some(d) = plot_dir {
        std::fs::create_dir_all(d).map_err(|e| FoldError::Os { path: d.to_path_buf(), source: e })?;
    }
    let mut stored = Vec::new();
    for (id, c) in cands.iter().take(top).enumerate() {
        if !(c.period_s.is_finite() && c.period_s > 0.0) {
            return Err(FoldError::Invalid(format!(
                "{}: candidate {id} has period {} s",
                cands_h5.display(),
                c.period_s
            )));
        }
        let pdot = pdot_from_accel(c.accel, c.period_s);
        tracing::info!("folding candidate {id}: P = {} s, DM = {}, accel = {}", c.period_s, c.dm, c.accel);
        let cube = fold(obs.as_mut(), c.period_s, pdot, c.dm, cfg)?;
        let result = optimise(&cube, cfg);
        let png_path = match plot_dir {
            Some(d) => {
                let p = d.join(format!("fold_{id}.png"));
                crate::plot::plot_fold(&result, obs.header(), &p)?;
                Some(p)
            }
            None => None,
        };
        stored.push(StoredFold { id, result, png_path });
    }
    write_folds(cands_h5, &stored, cfg)?;
    Ok(stored.into_iter().map(|s| s.result).collect())
}
