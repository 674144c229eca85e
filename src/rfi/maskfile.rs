//! The `/rfi` group (candidate files and mask files) and reusable mask files.
//!
//! `/rfi` holds what the excision did ([`RfiReport`]): attributes `clipped_spectra`,
//! `clipped_fraction`, `clip_sigma` (0: clipping off), `dropped_spectra`, `masked_fraction`,
//! `stat_block_samples`, `nblocks`, `baseline`, `baseline_knots_per_block` (rows of
//! `block_mean` per block), `gate_sigma` (0: gating off), `gated_spectra`, `gated_fraction`,
//! `zero_dm` (0/1), `sk_skipped` (string: why
//! spectral kurtosis was skipped, empty when it ran); datasets `masked_channels`
//! (u64), `channel_flags` (u8 per channel: 1 zero variance, 2 SK, 4 IQRM, 8 rfifind `-intfrac`),
//! `cell_mask` (u8 `[nblocks][nchans]`: 1 SK, 2 rfifind mean/std, 4 rfifind power, 8 whole
//! block), `block_flags` (u8 per block), `block_median`, `block_std` (f32 per block: zero-DM
//! total's median and robust σ), `block_clipped` (u32 per block), `clipped_samples` (u64),
//! `gated` (u64 `[n][2]`: the gated stretches `[first sample, end)`) and
//! `birdies` ([`Birdie`] rows).
//!
//! A **mask file** (`tianyan rfi FILE -o mask.h5`) is an HDF5 file with that `/rfi` group plus
//! `/rfi/normalisation/{mean, scale, block_mean}` (what reading the cleaned data needs) and
//! root attributes naming its origin: `software`, `software_version`, `kind = "tianyan rfi
//! mask"`, `input_file`, `header_json` (the whole header) and the header values `nchans`,
//! `nsamples`, `tsamp_s`, `fch1_mhz`, `foff_mhz`, `nbits`, `tstart_mjd`, `source_name`.

use super::{RfiError, RfiMask, RfiReport};
use crate::io::Header;
use hdf5::types::VarLenUnicode;
use ndarray::Array2;
use std::path::Path;

fn str_attr(loc: &hdf5::Location, name: &str, v: &str) -> hdf5::Result<()> {
    let s: VarLenUnicode = v.replace('\0', " ").parse().map_err(|e| hdf5::Error::from(format!("{e}")))?;
    loc.new_attr::<VarLenUnicode>().create(name)?.write_scalar(&s)
}

fn num_attr<T: hdf5::H5Type>(loc: &hdf5::Location, name: &str, v: T) -> hdf5::Result<()> {
    loc.new_attr::<T>().create(name)?.write_scalar(&v)
}

/// Writes `r` into the (new, empty) group `g` (layout in the module docs).
///
/// # Errors
/// HDF5 errors.
pub fn write_rfi_group(g: &hdf5::Group, r: &RfiReport) -> hdf5::Result<()> {
    num_attr(g, "clipped_spectra", r.clipped_spectra)?;
    num_attr(g, "clipped_fraction", r.clipped_fraction)?;
    num_attr(g, "clip_sigma", r.clip_sigma)?;
    num_attr(g, "dropped_spectra", r.dropped_spectra)?;
    num_attr(g, "masked_fraction", r.masked_fraction)?;
    num_attr(g, "stat_block_samples", r.stat_block_samples as u64)?;
    num_attr(g, "nblocks", r.nblocks as u64)?;
    num_attr(g, "baseline", r.baseline as u8)?;
    num_attr(g, "baseline_knots_per_block", r.baseline_knots_per_block as u64)?;
    num_attr(g, "gate_sigma", r.gate_sigma)?;
    num_attr(g, "gated_spectra", r.gated_spectra)?;
    num_attr(g, "gated_fraction", r.gated_fraction)?;
    num_attr(g, "zero_dm", r.zero_dm as u8)?;
    num_attr(g, "nonfinite_samples", r.nonfinite_samples)?;
    num_attr(g, "nonfinite_spectra", r.nonfinite_spectra)?;
    str_attr(g, "sk_skipped", &r.sk_skipped)?;
    let masked: Vec<u64> = r.masked_channels.iter().map(|&c| c as u64).collect();
    g.new_dataset_builder().with_data(&masked).create("masked_channels")?;
    g.new_dataset_builder().with_data(&r.channel_flags).create("channel_flags")?;
    g.new_dataset_builder().with_data(&r.cell_mask).create("cell_mask")?;
    g.new_dataset_builder().with_data(&r.block_flags).create("block_flags")?;
    g.new_dataset_builder().with_data(&r.block_median).create("block_median")?;
    g.new_dataset_builder().with_data(&r.block_std).create("block_std")?;
    g.new_dataset_builder().with_data(&r.block_clipped).create("block_clipped")?;
    g.new_dataset_builder().with_data(&r.clipped_samples).create("clipped_samples")?;
    let gated: Vec<u64> = r.gated.iter().flatten().copied().collect();
    let gated = Array2::from_shape_vec((r.gated.len(), 2), gated).map_err(|e| hdf5::Error::from(format!("{e}")))?;
    g.new_dataset_builder().with_data(&gated).create("gated")?;
    crate::io::candidates::write_table(g, "birdies", &r.birdies)?;
    Ok(())
}

/// Reads a `/rfi` group written by [`write_rfi_group`]. Datasets added later (`block_flags`,
/// `clipped_samples`, `gated`) and attributes (`nblocks`, `baseline`, `zero_dm`, the gate's)
/// may be absent in older files and read as empty / derived / 0; `baseline_knots_per_block`
/// reads as 1 (one knot per block, as such files were made).
///
/// # Errors
/// HDF5 errors (a missing `channel_flags` or `cell_mask`).
pub fn read_rfi_group(g: &hdf5::Group) -> hdf5::Result<RfiReport> {
    let a_u64 = |n: &str| g.attr(n).and_then(|a| a.read_scalar::<u64>()).unwrap_or(0);
    let a_f64 = |n: &str| g.attr(n).and_then(|a| a.read_scalar::<f64>()).unwrap_or(0.0);
    let a_u8 = |n: &str| g.attr(n).and_then(|a| a.read_scalar::<u8>()).unwrap_or(0);
    let cell_mask: Array2<u8> = g.dataset("cell_mask")?.read_2d()?;
    let opt = |n: &str| g.dataset(n).ok();
    Ok(RfiReport {
        stat_block_samples: a_u64("stat_block_samples") as usize,
        nblocks: cell_mask.nrows(),
        channel_flags: g.dataset("channel_flags")?.read_raw()?,
        masked_channels: g.dataset("masked_channels")?.read_raw::<u64>()?.into_iter().map(|c| c as usize).collect(),
        block_flags: opt("block_flags")
            .map(|d| d.read_raw())
            .transpose()?
            .unwrap_or_else(|| vec![0; cell_mask.nrows()]),
        cell_mask,
        clipped_samples: opt("clipped_samples").map(|d| d.read_raw()).transpose()?.unwrap_or_default(),
        gated: match opt("gated") {
            Some(d) => {
                let a: Array2<u64> = d.read_2d()?;
                a.rows().into_iter().filter(|r| r.len() == 2).map(|r| [r[0], r[1]]).collect()
            }
            None => Vec::new(),
        },
        gated_spectra: a_u64("gated_spectra"),
        gated_fraction: a_f64("gated_fraction"),
        gate_sigma: a_f64("gate_sigma"),
        baseline_knots_per_block: (a_u64("baseline_knots_per_block") as usize).max(1),
        block_median: g.dataset("block_median")?.read_raw()?,
        block_std: g.dataset("block_std")?.read_raw()?,
        block_clipped: g.dataset("block_clipped")?.read_raw()?,
        clipped_spectra: a_u64("clipped_spectra"),
        clipped_fraction: a_f64("clipped_fraction"),
        dropped_spectra: a_u64("dropped_spectra"),
        nonfinite_samples: a_u64("nonfinite_samples"),
        nonfinite_spectra: a_u64("nonfinite_spectra"),
        masked_fraction: a_f64("masked_fraction"),
        birdies: g.dataset("birdies")?.read_raw()?,
        clip_sigma: a_f64("clip_sigma"),
        baseline: a_u8("baseline") != 0,
        zero_dm: a_u8("zero_dm") != 0,
        sk_skipped: g
            .attr("sk_skipped")
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
    })
}

/// Writes `mask`'s `normalisation` group (`mean`, `scale`, `block_mean`) into the `/rfi` group
/// `g`: with the [`RfiReport`] there, what reading the cleaned data needs. `search` writes it into
/// its candidate file, so `fold --candidates` folds what the search saw
/// ([`read_candidates_mask`]).
pub fn write_normalisation(g: &hdf5::Group, mask: &RfiMask) -> hdf5::Result<()> {
    let n = g.create_group("normalisation")?;
    n.new_dataset_builder().with_data(&mask.mean).create("mean")?;
    n.new_dataset_builder().with_data(&mask.scale).create("scale")?;
    n.new_dataset_builder().with_data(&mask.block_mean).create("block_mean")?;
    Ok(())
}

/// The RFI mask a candidate file records: its `/rfi` group with `/rfi/normalisation` (written by
/// `search` since this was added), for the observation of `header` (the caller has checked that
/// the candidate file belongs to it). `None` when the file records no excision, or only its
/// report (older files).
///
/// # Errors
/// [`RfiError::Io`] naming `path` when the group is there but unreadable.
pub fn read_candidates_mask(path: &Path, header: &Header) -> Result<Option<RfiMask>, RfiError> {
    let bad = |msg: String| RfiError::Io(crate::io::IoError::Format { path: path.to_path_buf(), msg });
    let f = crate::io::h5file::open(path).map_err(|e| bad(format!("not an HDF5 file: {e}")))?;
    let Ok(g) = f.group("rfi") else { return Ok(None) };
    let Ok(n) = g.group("normalisation") else { return Ok(None) };
    let report = read_rfi_group(&g).map_err(|e| bad(format!("/rfi: {e}")))?;
    let mean = n.dataset("mean").and_then(|d| d.read_raw()).map_err(|e| bad(format!("mean: {e}")))?;
    let scale = n.dataset("scale").and_then(|d| d.read_raw()).map_err(|e| bad(format!("scale: {e}")))?;
    let block_mean = n.dataset("block_mean").and_then(|d| d.read_2d()).map_err(|e| bad(format!("block_mean: {e}")))?;
    Ok(Some(RfiMask {
        header: header.clone(),
        input: format!("the search recorded in {}", path.display()),
        mean,
        scale,
        block_mean,
        report,
        content_digest: None,
    }))
}

/// Writes `mask` to `path` atomically (a temporary file renamed when complete).
///
/// # Errors
/// [`RfiError::Io`] naming `path` when it cannot be written.
pub fn write_mask(path: &Path, mask: &RfiMask) -> Result<(), RfiError> {
    crate::io::output::check_output_file(path)?;
    let staged = crate::io::output::Staged::new(path);
    let err = |e: hdf5::Error| {
        RfiError::Io(crate::io::IoError::Format {
            path: path.to_path_buf(),
            msg: staged.relabel(&format!("writing the mask: {e}")),
        })
    };
    {
        let f = hdf5::File::create(staged.tmp()).map_err(err)?;
        let h = &mask.header;
        str_attr(&f, "software", "tianyan").map_err(err)?;
        str_attr(&f, "software_version", env!("CARGO_PKG_VERSION")).map_err(err)?;
        str_attr(&f, "kind", "tianyan rfi mask").map_err(err)?;
        str_attr(&f, "input_file", &mask.input).map_err(err)?;
        str_attr(&f, "header_json", &serde_json::to_string(h).unwrap_or_default()).map_err(err)?;
        num_attr(&f, "nchans", h.nchans as u64).map_err(err)?;
        num_attr(&f, "nsamples", h.nsamples).map_err(err)?;
        num_attr(&f, "tsamp_s", h.tsamp_s).map_err(err)?;
        num_attr(&f, "fch1_mhz", h.fch1_mhz).map_err(err)?;
        num_attr(&f, "foff_mhz", h.foff_mhz).map_err(err)?;
        num_attr(&f, "nbits", h.nbits).map_err(err)?;
        num_attr(&f, "tstart_mjd", h.tstart_mjd).map_err(err)?;
        str_attr(&f, "source_name", &h.source_name).map_err(err)?;
        if let Some(d) = mask.content_digest {
            num_attr(&f, "content_digest_samples", d.samples).map_err(err)?;
            num_attr(&f, "content_digest_fnv1a64", d.fnv1a64).map_err(err)?;
        }
        let g = f.create_group("rfi").map_err(err)?;
        write_rfi_group(&g, &mask.report).map_err(err)?;
        write_normalisation(&g, mask).map_err(err)?;
        f.flush().map_err(err)?;
    }
    staged.commit()?;
    Ok(())
}

/// Reads a mask file written by [`write_mask`].
///
/// # Errors
/// [`RfiError::Io`] naming `path` when it is missing, not HDF5, or not a tianyan mask file.
pub fn read_mask(path: &Path) -> Result<RfiMask, RfiError> {
    crate::io::check_regular_file(path)?;
    let bad = |msg: String| RfiError::Io(crate::io::IoError::Format { path: path.to_path_buf(), msg });
    let f = crate::io::h5file::open(path).map_err(|e| bad(format!("not an HDF5 file: {e}")))?;
    let kind: String = f
        .attr("kind")
        .and_then(|a| a.read_scalar::<VarLenUnicode>())
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    if kind != "tianyan rfi mask" {
        return Err(bad("not a tianyan RFI mask file (made by `tianyan rfi FILE -o mask.h5`)".into()));
    }
    let s = |n: &str| -> Result<String, RfiError> {
        f.attr(n)
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map(|s| s.as_str().to_string())
            .map_err(|e| bad(format!("attribute {n}: {e}")))
    };
    let header: Header = serde_json::from_str(&s("header_json")?).map_err(|e| bad(format!("header_json: {e}")))?;
    let g = f.group("rfi").map_err(|e| bad(format!("/rfi: {e}")))?;
    let report = read_rfi_group(&g).map_err(|e| bad(format!("/rfi: {e}")))?;
    let n = g.group("normalisation").map_err(|e| bad(format!("/rfi/normalisation: {e}")))?;
    let mean = n.dataset("mean").and_then(|d| d.read_raw()).map_err(|e| bad(format!("mean: {e}")))?;
    let scale = n.dataset("scale").and_then(|d| d.read_raw()).map_err(|e| bad(format!("scale: {e}")))?;
    let block_mean = n.dataset("block_mean").and_then(|d| d.read_2d()).map_err(|e| bad(format!("block_mean: {e}")))?;
    let num = |n: &str| f.attr(n).and_then(|a| a.read_scalar::<u64>()).ok();
    let content_digest = match (num("content_digest_samples"), num("content_digest_fnv1a64")) {
        (Some(samples), Some(fnv1a64)) => Some(crate::rfi::ContentDigest { samples, fnv1a64 }),
        _ => None,
    };
    Ok(RfiMask { header, input: s("input_file")?, mean, scale, block_mean, report, content_digest })
}
