//! HDF5 candidate file: the contract with users (`DESIGN.md`, "Candidate file").
//!
//! Layout written by [`write_candidate_file`]:
//! * root attributes: `software`, `software_version`, `created_utc` (ISO 8601), `command`,
//!   `input_file`, `input_size_bytes` (when known), the observation header (`source_name`, `tstart_mjd`, `tsamp_s`, `fch1_mhz`,
//!   `foff_mhz`, `nchans`, `nsamples`, `nbits`), and the dispersion convention
//!   (`dm_constant` in s MHz² pc⁻¹ cm³ and `reference_frequency_mhz`, the highest channel centre);
//! * `/search`: one attribute per search parameter (flattened from the run's JSON configuration,
//!   nested keys joined with `.`), plus `config_json` (the whole configuration) and the dataset
//!   `dm_trials` (`f64`, pc cm⁻³: the DM grid the dedisperser really searched);
//! * `/candidates`: compound rows of [`Candidate`], sorted by `sigma` descending (every table is
//!   written packed, without padding bytes: [`write_table`]; readers check the stored record type
//!   before reading a row: [`check_table_type`]);
//! * `/single_pulses`: compound rows of [`SinglePulse`], unflagged rows first (`rfi_flag` 0),
//!   each group sorted by `snr` descending;
//! * `/rfi` (when the excision ran, [`crate::rfi::RfiReport`]): attributes `clipped_spectra`,
//!   `clipped_fraction`, `clip_sigma` (0: clipping off), `dropped_spectra`, `masked_fraction`,
//!   `stat_block_samples`, `nonfinite_samples` and `nonfinite_spectra` (NaN/±∞ input samples,
//!   masked one by one as missing data, and the spectra holding them); datasets
//!   `masked_channels` (u64, file order), `channel_flags` (u8 per
//!   channel: 1 zero variance, 2 spectral kurtosis, 4 IQRM), `cell_mask` (u8
//!   `[nblocks][nchans]`, 1 = block of a kept channel masked), `block_median`, `block_std`
//!   (f32, zero-DM total power per statistics block), `block_clipped` (u32), `gated` (u64
//!   `[n][2]`, the gated stretches of spectra, with attributes `gate_sigma` (0: gating off),
//!   `gated_spectra`, `gated_fraction`) and `birdies` (compound rows of
//!   [`crate::rfi::birdies::Birdie`]); the full list is in [`crate::rfi::maskfile`].
//!
//! * `/ffa` (with `search --ffa`, [`crate::rows::FfaSummary`]): attributes `trials` (effective
//!   independent trials of every FFA sigma), `ntrials_per_dm`, `best_dm`; datasets `dm` (f64,
//!   pc cm⁻³, one per DM trial searched), `best_snr` (f32), `best_period_s`, `best_width_s`
//!   (f64) per DM, `grid_edges_s` (f64, `ncells + 1` log-spaced period edges), `grid_snr` (f32
//!   `[ndm][ncells]`, the best S/N per DM and period cell, NaN where no trial fell), and the full
//!   periodogram of the best DM, `best_dm_periods_s` (f64) and `best_dm_snr` (f32), one per trial.
//!
//! `h5py` reads the tables as structured arrays: `pandas.DataFrame(f["candidates"][()])`.
//! The file is written under a temporary name and renamed when complete.

use crate::io::Header;
use crate::rows::{Candidate, FfaSummary, SinglePulse};
use hdf5::types::VarLenUnicode;
use std::path::{Path, PathBuf};

/// Errors of the candidate-file reader and writer; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CandidatesError {
    #[error("{path}: HDF5 error: {source}")]
    Hdf5 { path: PathBuf, source: hdf5::Error },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error("{path}: {source}")]
    Os { path: PathBuf, source: std::io::Error },
}

/// Provenance of one run, stored as root attributes.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The command line that produced the file.
    pub command: String,
    /// Input observation file(s), joined with `;` when several.
    pub input_file: String,
    /// Total size of the input file(s) in bytes (root attribute `input_size_bytes`; 0 = unknown,
    /// not written). `tianyan fold --candidates` checks it against the file it folds.
    pub input_size_bytes: u64,
}

/// Everything one candidate file holds.
#[derive(Debug, Clone, Default)]
pub struct CandidateFile {
    /// Root provenance attributes.
    pub run: RunInfo,
    /// Observation header of the searched file.
    pub header: Header,
    /// Search parameters as a JSON object (written flattened into `/search` attributes).
    pub search_config: serde_json::Value,
    /// The DM trials really searched, pc cm⁻³.
    pub dm_trials: Vec<f64>,
    /// Periodicity candidates, sorted by sigma descending.
    pub candidates: Vec<Candidate>,
    /// Single-pulse events, sorted by S/N descending.
    pub single_pulses: Vec<SinglePulse>,
    /// What the RFI excision did, written to `/rfi` when present.
    pub rfi: Option<crate::rfi::RfiReport>,
    /// The FFA search's periodogram summary, written to `/ffa` when present.
    pub ffa: Option<FfaSummary>,
}

fn h5err(path: &Path) -> impl Fn(hdf5::Error) -> CandidatesError + '_ {
    move |source| CandidatesError::Hdf5 { path: path.to_path_buf(), source }
}

fn vlu(path: &Path, s: &str) -> Result<VarLenUnicode, CandidatesError> {
    // VarLenUnicode cannot hold NUL bytes; replace them so odd header strings never abort a write.
    s.replace('\0', " ").parse::<VarLenUnicode>().map_err(|e| CandidatesError::Invalid {
        path: path.to_path_buf(),
        msg: format!("string attribute not representable: {e}"),
    })
}

fn attr_str(loc: &hdf5::Location, path: &Path, name: &str, value: &str) -> Result<(), CandidatesError> {
    let v = vlu(path, value)?;
    loc.new_attr::<VarLenUnicode>().create(name).and_then(|a| a.write_scalar(&v)).map_err(h5err(path))
}

fn attr_num<T: hdf5::H5Type>(loc: &hdf5::Location, path: &Path, name: &str, value: T) -> Result<(), CandidatesError> {
    loc.new_attr::<T>().create(name).and_then(|a| a.write_scalar(&value)).map_err(h5err(path))
}

/// Writes scalar JSON values as attributes of `loc`, flattening nested objects with `.`.
fn write_json_attrs(
    loc: &hdf5::Location,
    path: &Path,
    prefix: &str,
    value: &serde_json::Value,
) -> Result<(), CandidatesError> {
    use serde_json::Value;
    let obj = match value {
        Value::Object(m) => m,
        Value::Null => return Ok(()),
        other => return attr_str(loc, path, if prefix.is_empty() { "value" } else { prefix }, &other.to_string()),
    };
    for (k, v) in obj {
        let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Null => attr_str(loc, path, &name, "none")?,
            Value::Bool(b) => attr_num(loc, path, &name, *b as u8)?,
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    attr_num(loc, path, &name, i)?
                } else if let Some(u) = n.as_u64() {
                    attr_num(loc, path, &name, u)?
                } else {
                    attr_num(loc, path, &name, n.as_f64().unwrap_or(f64::NAN))?
                }
            }
            Value::String(s) => attr_str(loc, path, &name, s)?,
            Value::Array(a) if a.iter().all(|x| x.is_number()) && !a.is_empty() => {
                let xs: Vec<f64> = a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
                loc.new_attr::<f64>()
                    .shape(xs.len())
                    .create(name.as_str())
                    .and_then(|at| at.write(&xs))
                    .map_err(h5err(path))?
            }
            Value::Array(_) => attr_str(loc, path, &name, &v.to_string())?,
            Value::Object(_) => write_json_attrs(loc, path, &name, v)?,
        }
    }
    Ok(())
}

/// Current UTC time as ISO 8601 (`YYYY-MM-DDThh:mm:ssZ`), from the system clock.
pub fn now_utc_iso8601() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil inverse).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem / 60) % 60, rem % 60)
}

/// Writes a complete candidate file to `path` (temporary name, renamed when complete).
///
/// Candidates are written in the order given; callers sort them (`search::sift` does).
///
/// # Errors
/// [`CandidatesError`] naming `path` when HDF5 fails or the file cannot be renamed.
pub fn write_candidate_file(path: &Path, file: &CandidateFile) -> Result<(), CandidatesError> {
    write_candidate_file_staged(path, file)?.commit().map_err(from_io)
}

/// The candidate-file error for an [`IoError`] (same path, same message).
fn from_io(e: crate::io::IoError) -> CandidatesError {
    use crate::io::IoError;
    match e {
        IoError::Os { path, source } => CandidatesError::Os { path, source },
        IoError::Format { path, msg } => CandidatesError::Invalid { path, msg },
        other => CandidatesError::Invalid { path: PathBuf::new(), msg: other.to_string() },
    }
}

/// As [`write_candidate_file`] but leaves the complete file under its temporary name, so later
/// stages (folds) can be added and it can appear together with its plots
/// ([`crate::io::output::OutputSet`]). Errors name `path`.
pub fn write_candidate_file_staged(
    path: &Path,
    file: &CandidateFile,
) -> Result<crate::io::output::Staged, CandidatesError> {
    let staged = crate::io::output::Staged::new(path);
    // HDF5's own messages name the file it was given: put the user's path in their place.
    write_to(staged.tmp(), path, file).map_err(|e| match e {
        CandidatesError::Hdf5 { path, source } => {
            CandidatesError::Invalid { path, msg: format!("HDF5 error: {}", staged.relabel(&source.to_string())) }
        }
        other => other,
    })?;
    Ok(staged)
}

fn write_to(tmp: &Path, path: &Path, cf: &CandidateFile) -> Result<(), CandidatesError> {
    let f = hdf5::File::create(tmp).map_err(h5err(path))?;
    let h = &cf.header;
    attr_str(&f, path, "software", "tianyan")?;
    attr_str(&f, path, "software_version", env!("CARGO_PKG_VERSION"))?;
    attr_str(&f, path, "created_utc", &now_utc_iso8601())?;
    attr_str(&f, path, "command", &cf.run.command)?;
    attr_str(&f, path, "input_file", &cf.run.input_file)?;
    if cf.run.input_size_bytes > 0 {
        attr_num(&f, path, "input_size_bytes", cf.run.input_size_bytes)?;
    }
    attr_str(&f, path, "source_name", &h.source_name)?;
    attr_num(&f, path, "tstart_mjd", h.tstart_mjd)?;
    attr_num(&f, path, "tsamp_s", h.tsamp_s)?;
    attr_num(&f, path, "fch1_mhz", h.fch1_mhz)?;
    attr_num(&f, path, "foff_mhz", h.foff_mhz)?;
    attr_num(&f, path, "nchans", h.nchans as u64)?;
    attr_num(&f, path, "nsamples", h.nsamples)?;
    attr_num(&f, path, "nbits", h.nbits)?;
    attr_num(&f, path, "dm_constant", crate::consts::K_DM)?;
    attr_num(&f, path, "reference_frequency_mhz", if h.nchans > 0 { h.ftop_mhz() } else { 0.0 })?;

    let g = f.create_group("search").map_err(h5err(path))?;
    write_json_attrs(&g, path, "", &cf.search_config)?;
    attr_str(&g, path, "config_json", &cf.search_config.to_string())?;
    g.new_dataset::<f64>()
        .shape(cf.dm_trials.len())
        .create("dm_trials")
        .and_then(|d| d.write(&cf.dm_trials))
        .map_err(h5err(path))?;
    write_table(&f, "candidates", &cf.candidates).map_err(h5err(path))?;
    write_table(&f, "single_pulses", &cf.single_pulses).map_err(h5err(path))?;
    if let Some(r) = &cf.rfi {
        write_rfi(&f, path, r)?;
    }
    if let Some(s) = &cf.ffa {
        write_ffa(&f, path, s)?;
    }
    f.flush().map_err(h5err(path))?;
    Ok(())
}

fn write_ffa(f: &hdf5::File, path: &Path, s: &FfaSummary) -> Result<(), CandidatesError> {
    let g = f.create_group("ffa").map_err(h5err(path))?;
    attr_num(&g, path, "trials", s.trials)?;
    attr_num(&g, path, "ntrials_per_dm", s.ntrials_per_dm as u64)?;
    attr_num(&g, path, "best_dm", s.best_dm)?;
    let ncells = s.grid_edges_s.len().saturating_sub(1);
    let d1 = |name: &str, v: &[f64]| g.new_dataset::<f64>().shape(v.len()).create(name).and_then(|d| d.write(v));
    let f1 = |name: &str, v: &[f32]| g.new_dataset::<f32>().shape(v.len()).create(name).and_then(|d| d.write(v));
    d1("dm", &s.dms).map_err(h5err(path))?;
    f1("best_snr", &s.best_snr).map_err(h5err(path))?;
    d1("best_period_s", &s.best_period_s).map_err(h5err(path))?;
    d1("best_width_s", &s.best_width_s).map_err(h5err(path))?;
    d1("grid_edges_s", &s.grid_edges_s).map_err(h5err(path))?;
    if ncells > 0 && s.grid_snr.len() == s.dms.len() * ncells {
        g.new_dataset::<f32>()
            .shape((s.dms.len(), ncells))
            .create("grid_snr")
            .and_then(|d| d.write_raw(&s.grid_snr))
            .map_err(h5err(path))?;
    }
    d1("best_dm_periods_s", &s.best_dm_periods_s).map_err(h5err(path))?;
    f1("best_dm_snr", &s.best_dm_snr).map_err(h5err(path))?;
    Ok(())
}

/// Reads `/ffa` of a candidate file; `None` when the file has no such group (a search without
/// `--ffa`).
///
/// # Errors
/// [`CandidatesError`] naming `path` when the group exists but a dataset is missing, mistyped
/// or of inconsistent length.
pub fn read_ffa(path: &Path) -> Result<Option<FfaSummary>, CandidatesError> {
    crate::io::check_regular_file(path).map_err(from_io)?;
    let f = crate::io::h5file::open(path).map_err(h5err(path))?;
    if !f.link_exists("ffa") {
        return Ok(None);
    }
    let bad = |msg: String| CandidatesError::Invalid { path: path.to_path_buf(), msg: format!("/ffa: {msg}") };
    let g = f.group("ffa").map_err(|e| bad(format!("not a group ({e})")))?;
    let rd64 = |name: &str| -> Result<Vec<f64>, CandidatesError> {
        g.dataset(name).and_then(|d| d.read_raw::<f64>()).map_err(|e| bad(format!("{name}: {e}")))
    };
    let rd32 = |name: &str| -> Result<Vec<f32>, CandidatesError> {
        g.dataset(name).and_then(|d| d.read_raw::<f32>()).map_err(|e| bad(format!("{name}: {e}")))
    };
    let attr = |name: &str| -> Result<f64, CandidatesError> {
        g.attr(name).and_then(|a| a.read_scalar::<f64>()).map_err(|e| bad(format!("attribute {name}: {e}")))
    };
    let s = FfaSummary {
        trials: attr("trials")?,
        ntrials_per_dm: g
            .attr("ntrials_per_dm")
            .and_then(|a| a.read_scalar::<u64>())
            .map_err(|e| bad(format!("attribute ntrials_per_dm: {e}")))? as usize,
        best_dm: attr("best_dm")?,
        dms: rd64("dm")?,
        best_snr: rd32("best_snr")?,
        best_period_s: rd64("best_period_s")?,
        best_width_s: rd64("best_width_s")?,
        grid_edges_s: rd64("grid_edges_s")?,
        grid_snr: if g.link_exists("grid_snr") { rd32("grid_snr")? } else { Vec::new() },
        best_dm_periods_s: rd64("best_dm_periods_s")?,
        best_dm_snr: rd32("best_dm_snr")?,
    };
    let n = s.dms.len();
    if s.best_snr.len() != n || s.best_period_s.len() != n || s.best_width_s.len() != n {
        return Err(bad(format!("per-DM datasets disagree in length with dm ({n})")));
    }
    if s.best_dm_periods_s.len() != s.best_dm_snr.len() {
        return Err(bad("best_dm_periods_s and best_dm_snr differ in length".into()));
    }
    Ok(Some(s))
}

fn write_rfi(f: &hdf5::File, path: &Path, r: &crate::rfi::RfiReport) -> Result<(), CandidatesError> {
    let g = f.create_group("rfi").map_err(h5err(path))?;
    crate::rfi::maskfile::write_rfi_group(&g, r).map_err(h5err(path))
}

/// Checks the stored record type of table `table` (dataset `ds` of `path`) against the record
/// type `T` the reader will convert it to, before any row is read.
///
/// libhdf5 converts compound records member by member, by name: a member missing from the file
/// leaves its field of `T` uninitialised, and a member offset that points outside the record (one
/// corrupted byte in the datatype message) makes `H5Dread` read and write outside its buffers
/// (a segfault inside libhdf5, reproduced with issue 11's bit flips). So this requires:
/// * a compound type with exactly `T`'s member names, each of `T`'s type (class and size);
/// * every member at the offset of one of the two layouts tianyan writes or wrote — packed
///   ([`write_table`], written since records carry no padding) or `T`'s C layout (earlier
///   files) — and the record size of that layout;
/// * a one-dimensional dataset whose stored bytes (contiguous layout) hold all its rows, within
///   the file's length.
///
/// # Errors
/// [`CandidatesError::Invalid`] naming `path`, the table and the first offending member.
pub fn check_table_type<T: hdf5::H5Type>(path: &Path, table: &str, ds: &hdf5::Dataset) -> Result<(), CandidatesError> {
    use hdf5::types::{CompoundType, TypeDescriptor};
    let bad = |msg: String| CandidatesError::Invalid { path: path.to_path_buf(), msg: format!("/{table}: {msg}") };
    let TypeDescriptor::Compound(want) = T::type_descriptor() else {
        return Err(bad("the reader's record type is not a compound type".into()));
    };
    let file_desc =
        ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| bad(format!("unreadable record type ({e})")))?;
    let TypeDescriptor::Compound(got) = file_desc else {
        return Err(bad(format!("holds {file_desc} values, not tianyan records")));
    };
    for w in &want.fields {
        match got.fields.iter().find(|g| g.name == w.name) {
            None => {
                return Err(bad(format!(
                    "no field '{}' ({}) in the records: not a table written by this tianyan version",
                    w.name, w.ty
                )))
            }
            Some(g) if g.ty != w.ty => {
                return Err(bad(format!("field '{}' is stored as {}, expected {}", w.name, g.ty, w.ty)))
            }
            Some(_) => {}
        }
    }
    if let Some(g) = got.fields.iter().find(|g| !want.fields.iter().any(|w| w.name == g.name)) {
        return Err(bad(format!("unexpected field '{}' ({}) in the records", g.name, g.ty)));
    }
    let packed = want.to_packed_repr();
    let c_repr = want.to_c_repr();
    let offset_in = |l: &CompoundType, name: &str| l.fields.iter().find(|f| f.name == name).map(|f| f.offset);
    let fits =
        |l: &CompoundType| l.size == got.size && got.fields.iter().all(|g| offset_in(l, &g.name) == Some(g.offset));
    if !(fits(&packed) || fits(&c_repr)) {
        let msg = match got
            .fields
            .iter()
            .find(|g| offset_in(&packed, &g.name) != Some(g.offset) && offset_in(&c_repr, &g.name) != Some(g.offset))
        {
            Some(g) => {
                let (p, c) = (offset_in(&packed, &g.name).unwrap_or(0), offset_in(&c_repr, &g.name).unwrap_or(0));
                let expected =
                    if p == c { format!("{p}") } else { format!("{p} (or {c} in files of earlier versions)") };
                format!(
                    "field '{}' is at byte {} of a {}-byte record, expected byte {expected}: the record type is corrupted",
                    g.name, g.offset, got.size
                )
            }
            None => format!(
                "records are {} bytes, expected {} (or {} in files of earlier versions): the record type is corrupted",
                got.size, packed.size, c_repr.size
            ),
        };
        return Err(bad(msg));
    }
    let shape = ds.shape();
    if shape.len() != 1 {
        return Err(bad(format!("has {} dimensions, expected a 1-D table", shape.len())));
    }
    let need = (shape[0] as u128) * (got.size as u128);
    if let Some(offset) = ds.offset() {
        let stored = ds.storage_size() as u128;
        let file_len = std::fs::metadata(path).map(|m| m.len() as u128).unwrap_or(u128::MAX);
        if stored < need || offset as u128 + stored > file_len {
            return Err(bad(format!(
                "{} records of {} bytes need {need} bytes, but {stored} bytes are stored at byte {offset} of a \
                 {file_len}-byte file: the table is truncated or corrupted",
                shape[0], got.size
            )));
        }
    } else if need > 0 && !ds.is_chunked() {
        return Err(bad(format!("{} records declared but no data stored: the table is corrupted", shape[0])));
    }
    Ok(())
}

/// Writes `rows` as the record table `name` of `loc`, packed: members back to back in declaration
/// order, so no record holds padding bytes. libhdf5 converts each record from `T`'s in-memory
/// `#[repr(C)]` layout member by member; the uninitialised padding of that layout (e.g. 3 bytes
/// after `rfi_flag` in every [`SinglePulse`]) is never copied, and identical runs write identical
/// record bytes. Used for `/candidates`, `/single_pulses`, `/rfi/birdies` and `results.h5`.
///
/// # Errors
/// HDF5's error.
pub fn write_table<T: hdf5::H5Type>(loc: &hdf5::Group, name: &str, rows: &[T]) -> hdf5::Result<hdf5::Dataset> {
    let ds = loc.new_dataset::<T>().packed(true).shape(rows.len()).create(name)?;
    ds.write(rows)?;
    Ok(ds)
}

/// Opens table `table` of `path` and reads it as `T` after [`check_table_type`].
fn read_table<T: hdf5::H5Type>(path: &Path, f: &hdf5::File, table: &str) -> Result<Vec<T>, CandidatesError> {
    let ds = f.dataset(table).map_err(|e| CandidatesError::Invalid {
        path: path.to_path_buf(),
        msg: format!("/{table}: cannot open the table: {e}"),
    })?;
    check_table_type::<T>(path, table, &ds)?;
    ds.read_raw::<T>().map_err(h5err(path))
}

/// Reads `/candidates` of a candidate file (sorted by sigma, as written).
///
/// # Errors
/// [`CandidatesError`] naming `path` when it is not an HDF5 candidate file, or when the table's
/// record type is not [`Candidate`]'s ([`check_table_type`]: a missing or mistyped field, a
/// corrupted member offset).
pub fn read_candidates(path: &Path) -> Result<Vec<Candidate>, CandidatesError> {
    crate::io::check_regular_file(path).map_err(from_io)?;
    let f = crate::io::h5file::open(path).map_err(h5err(path))?;
    if !f.link_exists("candidates") {
        return Err(CandidatesError::Invalid {
            path: path.to_path_buf(),
            msg: "no /candidates dataset: not a tianyan candidate file".into(),
        });
    }
    read_table::<Candidate>(path, &f, "candidates")
}

/// Reads `/single_pulses` of a candidate file; an empty list when the dataset is absent.
///
/// # Errors
/// As [`read_candidates`], for [`SinglePulse`] records.
pub fn read_single_pulses(path: &Path) -> Result<Vec<SinglePulse>, CandidatesError> {
    let f = crate::io::h5file::open(path).map_err(h5err(path))?;
    if !f.link_exists("single_pulses") {
        return Ok(Vec::new());
    }
    read_table::<SinglePulse>(path, &f, "single_pulses")
}

/// Reads a string root attribute (e.g. `input_file`) of a candidate file.
pub fn read_root_string_attr(path: &Path, name: &str) -> Result<String, CandidatesError> {
    let f = crate::io::h5file::open(path).map_err(h5err(path))?;
    let a = f.attr(name).map_err(h5err(path))?;
    let v: VarLenUnicode = a.read_scalar().map_err(h5err(path))?;
    Ok(v.as_str().to_string())
}

/// Reads a numeric root attribute (e.g. `tsamp_s`, `nsamples`) of a candidate file as `f64`.
///
/// # Errors
/// [`CandidatesError`] naming `path` when the file or the attribute cannot be read.
pub fn read_root_f64_attr(path: &Path, name: &str) -> Result<f64, CandidatesError> {
    let f = crate::io::h5file::open(path).map_err(h5err(path))?;
    let a = f.attr(name).map_err(h5err(path))?;
    a.read_scalar::<f64>().or_else(|_| a.read_scalar::<u64>().map(|v| v as f64)).map_err(h5err(path))
}

/// Reads `/search/dm_trials` (pc cm⁻³).
pub fn read_dm_trials(path: &Path) -> Result<Vec<f64>, CandidatesError> {
    let f = crate::io::h5file::open(path).map_err(h5err(path))?;
    let d = f.dataset("search/dm_trials").map_err(h5err(path))?;
    d.read_raw::<f64>().map_err(h5err(path))
}
