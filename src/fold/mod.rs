//! Folding and candidate optimisation.
//!
//! * [`fold`] reads an [`Observation`] in blocks and folds it at a period, period derivative and
//!   DM into a [`FoldCube`] `[n_subints][n_subbands][n_bins]` (sums of normalised samples, with
//!   the number of samples summed into each cell).
//! * [`optimise`] searches a small grid in period, period derivative and DM around the folding
//!   parameters by rotating the sub-integrations and sub-bands of the cube (as PRESTO's prepfold
//!   does: the data are not read again), and returns a [`FoldResult`] with the best S/N
//!   ([`stats::profile_snr`]), reduced χ² ([`stats::reduced_chi2`]), parameters, uncertainties,
//!   profile, DM curve and P–Ṗ map.
//! * [`fold_top_candidates`] folds the strongest candidates of a search file and stores the
//!   results in it under `/folds` (see [`store`]).
//!
//! ## Phase model
//! `φ(t) = t/P − ½ Ṗ t²/P²` turns, with `t` in seconds from the first sample (`t = i·tsamp`),
//! `P` (`period_s`) and `Ṗ` (`pdot`, s/s) at that epoch: the first two terms of the Taylor series
//! of `∫ν dt` with `ν = 1/P(t)`, `P(t) = P + Ṗt`. An acceleration `a` (m s⁻², positive away from
//! the observer) is turned into `Ṗ = a·P/c` by [`pdot_from_accel`] (first-order Doppler).
//!
//! ## Dedispersion
//! A sample of channel `c` at time `t` is folded at phase `φ(t − Δt_c) ≈ φ(t) − Δt_c·ν(t)` with
//! `Δt_c = K_DM · dm · (f_c⁻² − f_top⁻²)` ([`crate::consts::K_DM`], `f_top` the highest channel
//! centre): each channel is dedispersed exactly (fractional phase, no rounding to samples)
//! before it is added to its sub-band.

pub mod bestprof;
pub mod optimise;
pub mod refine;
pub mod stats;
pub mod store;
pub mod trials;
mod trials_table;

pub use optimise::{optimise, FoldResult};
pub use store::{
    check_candidates_match, fold_top_candidates, fold_top_candidates_masked, read_folds, write_folds, FoldPageWriter,
    FoldPlots,
};

use crate::consts::{K_DM, SPEED_OF_LIGHT_M_S};
use crate::io::is_dropped_spectrum;
use crate::io::{IoError, Observation};
use ndarray::{Array2, Array3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Errors of folding, optimisation and the fold store.
#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    /// Reading the observation failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A folding parameter or configuration value is unusable (message says which and why).
    #[error("invalid fold parameter: {0}")]
    Invalid(String),
    /// The observation cannot be folded (too short, no usable channel...).
    #[error("{source_desc}: {msg}")]
    Data { source_desc: String, msg: String },
    /// HDF5 error on the candidate file.
    #[error("{path}: HDF5 error: {msg}")]
    Hdf5 { path: PathBuf, msg: String },
    /// Operating-system error on a file.
    #[error("{path}: {source}")]
    Os { path: PathBuf, source: std::io::Error },
    /// The candidate file was not made from the observation given (the message lists what differs).
    #[error("{0}")]
    Mismatch(String),
    /// Writing an output failed (the message names the user's path).
    #[error("{0}")]
    Output(String),
}

/// The optimisation grid of [`optimise`], in natural units of the data.
///
/// * period: `n_period` trials spanning `±period_range_bins` Fourier bins, one bin being
///   `ΔP = P²/T` (a phase drift of one turn over the observation length `T`);
/// * period derivative: `n_pdot` trials spanning `±pdot_range_bins`, one bin being
///   `ΔṖ = 2P²/T²` (a quadratic drift of one turn over `T`);
/// * DM: `n_dm` trials spanning `±dm_range` pc cm⁻³; `dm_range = 0` means automatic:
///   steps of one phase bin of extra delay across the band, `δDM = P / (n_bins·K_DM·(f_lo⁻² − f_hi⁻²))`.
///
/// A count of 1 disables the search along that axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchGrid {
    /// Number of period trials (odd keeps the folding period on the grid).
    pub n_period: usize,
    /// Number of period-derivative trials.
    pub n_pdot: usize,
    /// Number of DM trials.
    pub n_dm: usize,
    /// Half-range of the period search in Fourier bins (`P²/T` each).
    pub period_range_bins: f64,
    /// Half-range of the Ṗ search in bins of `2P²/T²`.
    pub pdot_range_bins: f64,
    /// Half-range of the DM search, pc cm⁻³ (0: automatic, see the type's doc).
    pub dm_range: f64,
}

impl Default for SearchGrid {
    fn default() -> Self {
        SearchGrid { n_period: 65, n_pdot: 9, n_dm: 41, period_range_bins: 2.0, pdot_range_bins: 2.0, dm_range: 0.0 }
    }
}

/// Fewest turns of the folding period the data must hold for [`fold`]: `T/P ≥ 4`.
///
/// Why 4: the optimiser searches the period over ±2 Fourier bins of `P²/T` (the default
/// [`SearchGrid::period_range_bins`]), i.e. ±`2P/N` for `N = T/P` turns; at `N = 4` its lowest
/// trial is `P/2`, and below `N = 2` it would reach zero and negative periods (a 0.31 s file
/// folded at 0.2531 s, 1.2 turns, reported P = −0.0754 s). With fewer than 4 pulses in the data
/// a "profile" is a handful of single pulses, and the period is not measured by folding at all
/// (the single-pulse search is the tool). Fewer turns than sub-integrations are allowed: a
/// sub-integration then holds part of a turn, as in prepfold.
pub const MIN_FOLD_TURNS: f64 = 4.0;

/// Configuration of [`fold`] and [`optimise`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FoldConfig {
    /// Phase bins per turn.
    pub nbins: usize,
    /// Sub-integrations (time slices of equal sample count).
    pub nsubints: usize,
    /// Sub-bands (contiguous channel groups; capped at the number of channels).
    pub nsubbands: usize,
    /// Samples per read block; 0 chooses `max(4096, 20·P/tsamp)` capped at 2²⁶ values per block.
    /// Memory is `block_size · nchans · 4` bytes.
    pub block_size: usize,
    /// Subtract each block's per-channel mean (a high-pass filter against slow baseline drifts).
    /// Applied only when a block spans at least 10 periods, so a pulse never biases its own
    /// baseline by phase.
    pub detrend: bool,
    /// The optimisation grid.
    pub search: SearchGrid,
}

impl Default for FoldConfig {
    fn default() -> Self {
        FoldConfig {
            nbins: 64,
            nsubints: 32,
            nsubbands: 32,
            block_size: 0,
            detrend: true,
            search: SearchGrid::default(),
        }
    }
}

/// A folded observation: sums of per-channel-normalised samples by sub-integration, sub-band
/// and phase bin.
///
/// Every channel is scaled to zero mean and unit variance before folding (channels with zero
/// variance are skipped), so the noise variance of one summed sample is `var_sample = 1` and
/// that of a cell is `counts`.
#[derive(Debug, Clone)]
pub struct FoldCube {
    /// `[n_subints][n_subbands][n_bins]` sums.
    pub data: Array3<f64>,
    /// `[n_subints][n_subbands][n_bins]` number of channel-samples summed.
    pub counts: Array3<f64>,
    /// Noise variance of one summed (normalised) sample: 1.
    pub var_sample: f64,
    /// Folding period at the first sample, s.
    pub period_s: f64,
    /// Folding period derivative, s/s.
    pub pdot: f64,
    /// Folding DM, pc cm⁻³.
    pub dm: f64,
    /// Sampling time, s.
    pub tsamp_s: f64,
    /// Number of samples folded.
    pub nsamples: u64,
    /// Observation length `nsamples · tsamp`, s.
    pub tobs_s: f64,
    /// Centre time of each sub-integration, s from the first sample, `[n_subints]`.
    pub subint_times_s: Vec<f64>,
    /// Effective frequency of each sub-band, MHz, `[n_subbands]`: `(mean of f_c⁻²)^(−1/2)` over
    /// its usable channels (the frequency whose delay is the channels' mean delay); NaN when the
    /// sub-band has no usable channel.
    pub subband_freqs_mhz: Vec<f64>,
    /// Dispersion reference: the highest channel centre, MHz.
    pub ftop_mhz: f64,
    /// Lowest channel centre, MHz.
    pub fbottom_mhz: f64,
    /// Number of channels used (non-zero variance).
    pub nchans_used: usize,
    /// Whether per-block baselines were subtracted (see [`FoldConfig::detrend`]).
    pub detrended: bool,
}

impl FoldCube {
    /// Number of phase bins.
    pub fn nbins(&self) -> usize {
        self.data.shape()[2]
    }
    /// Number of sub-integrations.
    pub fn nsubints(&self) -> usize {
        self.data.shape()[0]
    }
    /// Number of sub-bands.
    pub fn nsubbands(&self) -> usize {
        self.data.shape()[1]
    }
}

/// Period derivative (s/s) that an acceleration `accel_m_s2` (positive away from the observer)
/// gives to a period `period_s`: `Ṗ = a·P/c` (first-order Doppler, as in PRESTO's accelsearch).
pub fn pdot_from_accel(accel_m_s2: f64, period_s: f64) -> f64 {
    accel_m_s2 * period_s / SPEED_OF_LIGHT_M_S
}

/// Rotational phase (turns) at `t_s` for the phase model of the module doc.
pub fn phase_at(t_s: f64, period_s: f64, pdot: f64) -> f64 {
    t_s / period_s - 0.5 * pdot * t_s * t_s / (period_s * period_s)
}

/// Splits `n` into `parts` contiguous ranges of (nearly) equal length; range `k` is
/// `[k·n/parts, (k+1)·n/parts)`.
fn split_bounds(n: u64, parts: usize) -> Vec<u64> {
    (0..=parts).map(|k| ((k as u128 * n as u128) / parts as u128) as u64).collect()
}

/// Folds `obs` at `period_s`, `pdot` and `dm` into a [`FoldCube`].
///
/// Two passes over the data, each in blocks (memory bounded by the block size, see
/// [`FoldConfig::block_size`]): the first measures each channel's mean and variance (after the
/// per-block baseline removal when detrending), the second normalises each sample to unit
/// variance, dedisperses it to the top of the band by a fractional phase and adds it to its
/// `[subint][subband][bin]` cell. Sub-bands are folded in parallel (rayon); each cell is summed
/// in sample order by one task, so the result does not depend on the thread count.
/// All-zero spectra and NaN/±∞ samples are missing data: left out of both passes (a non-finite
/// sample alone, never its channel; each channel's statistics use its own count of finite
/// samples), so they add nothing to a cell and nothing to its count.
///
/// # Errors
/// [`FoldError::Invalid`] for a non-positive or non-finite period, negative/non-finite DM,
/// `nbins < 4`, zero sub-integrations or sub-bands; [`FoldError::Data`] when the observation has
/// fewer samples than sub-integrations, fewer than [`MIN_FOLD_TURNS`] turns of the period, or no
/// channel with non-zero variance (all checked before any data are read);
/// [`FoldError::Io`] from the reader.
pub fn fold(
    obs: &mut dyn Observation,
    period_s: f64,
    pdot: f64,
    dm: f64,
    cfg: &FoldConfig,
) -> Result<FoldCube, FoldError> {
    if !(period_s.is_finite() && period_s > 0.0) {
        return Err(FoldError::Invalid(format!("period {period_s} s must be positive and finite")));
    }
    if !pdot.is_finite() || !dm.is_finite() {
        return Err(FoldError::Invalid(format!("pdot {pdot} and dm {dm} must be finite")));
    }
    if cfg.nbins < 4 || cfg.nsubints == 0 || cfg.nsubbands == 0 {
        return Err(FoldError::Invalid(format!(
            "nbins ({}) must be >= 4, nsubints ({}) and nsubbands ({}) >= 1",
            cfg.nbins, cfg.nsubints, cfg.nsubbands
        )));
    }
    let h = obs.header().clone();
    let desc = obs.source_description();
    let data_err = |msg: String| FoldError::Data { source_desc: desc.clone(), msg };
    if !(h.tsamp_s.is_finite() && h.tsamp_s > 0.0) {
        return Err(data_err(format!("sampling time {} s is not positive", h.tsamp_s)));
    }
    let nsamples = h.nsamples;
    let nchans = h.nchans;
    if nchans == 0 || nsamples < cfg.nsubints as u64 || nsamples < 2 {
        return Err(data_err(format!(
            "{nsamples} samples x {nchans} channels: too few to fold into {} sub-integrations",
            cfg.nsubints
        )));
    }
    let turns = nsamples as f64 * h.tsamp_s / period_s;
    if turns < MIN_FOLD_TURNS {
        return Err(data_err(format!(
            "{:.4} s of data hold only {turns:.2} turns of the period {period_s} s; folding needs at least \
             {MIN_FOLD_TURNS} turns (a period of at most {:.6} s) or more data",
            nsamples as f64 * h.tsamp_s,
            nsamples as f64 * h.tsamp_s / MIN_FOLD_TURNS
        )));
    }
    let freqs = h.chan_freqs_mhz();
    if freqs.len() != nchans || freqs.iter().any(|f| !(f.is_finite() && *f > 0.0)) {
        return Err(data_err("channel frequencies are missing or not positive".into()));
    }
    let ftop = freqs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let fbot = freqs.iter().cloned().fold(f64::INFINITY, f64::min);
    let delays: Vec<f64> = freqs.iter().map(|&f| K_DM * dm * (1.0 / (f * f) - 1.0 / (ftop * ftop))).collect();

    // Block partition (the same in both passes).
    let block_len = if cfg.block_size > 0 {
        cfg.block_size
    } else {
        let want = (20.0 * period_s / h.tsamp_s).ceil().max(4096.0);
        let cap = ((1usize << 26) / nchans).max(256) as f64;
        want.min(cap) as usize
    };
    let nblocks = (nsamples.div_ceil(block_len as u64)).max(1) as usize;
    let bounds = split_bounds(nsamples, nblocks);
    let min_block = bounds.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(0);
    let detrend = cfg.detrend && (min_block as f64 * h.tsamp_s) >= 10.0 * period_s;

    // Pass 1: per-channel mean and variance.
    let mut sum = vec![0.0f64; nchans];
    let mut sumsq = vec![0.0f64; nchans];
    let mut shift: Option<Vec<f64>> = None;
    let mut nfinite = vec![0u64; nchans];
    // All-zero spectra are missing data (dropped packets, PSRFITS padding): left out of both passes.
    for b in 0..nblocks {
        let (s0, s1) = (bounds[b], bounds[b + 1]);
        let len = (s1 - s0) as usize;
        let blk = obs.read_block(s0, len)?;
        if blk.ncols() != nchans || blk.nrows() != len {
            return Err(data_err(format!("reader returned a {:?} block, expected [{len}][{nchans}]", blk.shape())));
        }
        let centre: Vec<f64> = if detrend {
            block_means(&blk)
        } else {
            shift
                .get_or_insert_with(|| blk.row(0).iter().map(|&v| if v.is_finite() { v as f64 } else { 0.0 }).collect())
                .clone()
        };
        for row in blk.rows() {
            if is_dropped_spectrum(row.iter()) {
                continue;
            }
            for (c, &v) in row.iter().enumerate() {
                // NaN and ±∞ samples are missing data, left out one by one (never the channel).
                if !v.is_finite() {
                    continue;
                }
                let d = v as f64 - centre[c];
                sum[c] += d;
                sumsq[c] += d * d;
                nfinite[c] += 1;
            }
        }
    }
    let mut mean = vec![0.0f64; nchans];
    let mut weight = vec![0.0f64; nchans];
    for c in 0..nchans {
        let n = nfinite[c].max(1) as f64;
        let m = sum[c] / n;
        let var = (sumsq[c] / n - m * m).max(0.0);
        let base = shift.as_ref().map(|s| s[c]).unwrap_or(0.0);
        mean[c] = base + m; // global mean (used only without detrending)
        let scale = mean[c].abs().max(1e-30);
        if var.is_finite() && var > 1e-24 * scale * scale && var > 0.0 {
            weight[c] = 1.0 / var.sqrt();
        }
    }
    let nchans_used = weight.iter().filter(|&&w| w > 0.0).count();
    if nchans_used == 0 {
        return Err(data_err("every channel has zero variance: nothing to fold".into()));
    }

    // Sub-bands: contiguous channel ranges.
    let nsb = cfg.nsubbands.min(nchans);
    let sb_bounds: Vec<usize> = (0..=nsb).map(|k| k * nchans / nsb).collect();
    let subband_freqs_mhz: Vec<f64> = (0..nsb)
        .map(|s| {
            let used: Vec<f64> =
                (sb_bounds[s]..sb_bounds[s + 1]).filter(|&c| weight[c] > 0.0).map(|c| freqs[c].powi(-2)).collect();
            if used.is_empty() {
                f64::NAN
            } else {
                (used.iter().sum::<f64>() / used.len() as f64).powf(-0.5)
            }
        })
        .collect();

    let nbins = cfg.nbins;
    let nsub = cfg.nsubints;
    let sub_bounds = split_bounds(nsamples, nsub);
    // Per-subband accumulators [nsub][nbins], folded in parallel.
    let mut acc: Vec<(Array2<f64>, Array2<f64>)> =
        (0..nsb).map(|_| (Array2::zeros((nsub, nbins)), Array2::zeros((nsub, nbins)))).collect();

    // Pass 2: fold.
    for b in 0..nblocks {
        let (s0, s1) = (bounds[b], bounds[b + 1]);
        let len = (s1 - s0) as usize;
        let blk = obs.read_block(s0, len)?;
        if blk.ncols() != nchans || blk.nrows() != len {
            return Err(data_err(format!("reader returned a {:?} block, expected [{len}][{nchans}]", blk.shape())));
        }
        let centre = if detrend { block_means(&blk) } else { mean.clone() };
        let dropped: Vec<bool> = blk.rows().into_iter().map(|r| is_dropped_spectrum(r.iter())).collect();
        let mut phase = Vec::with_capacity(len);
        let mut nu = Vec::with_capacity(len);
        let mut subint = Vec::with_capacity(len);
        let mut k = sub_bounds.partition_point(|&x| x <= s0).saturating_sub(1);
        for i in 0..len {
            let g = s0 + i as u64;
            while k + 1 < nsub && g >= sub_bounds[k + 1] {
                k += 1;
            }
            let t = g as f64 * h.tsamp_s;
            phase.push(phase_at(t, period_s, pdot));
            nu.push(1.0 / period_s - pdot * t / (period_s * period_s));
            subint.push(k);
        }
        acc.par_iter_mut().enumerate().for_each(|(s, (sums, cnts))| {
            let chans: Vec<usize> = (sb_bounds[s]..sb_bounds[s + 1]).filter(|&c| weight[c] > 0.0).collect();
            if chans.is_empty() {
                return;
            }
            let nb = nbins as f64;
            for i in 0..len {
                if dropped[i] {
                    continue;
                }
                let row = blk.row(i);
                let (ph, f, k) = (phase[i], nu[i], subint[i]);
                for &c in &chans {
                    if !row[c].is_finite() {
                        continue;
                    }
                    let p = ph - delays[c] * f;
                    let mut bin = ((p - p.floor()) * nb) as usize;
                    if bin >= nbins {
                        bin = nbins - 1;
                    }
                    sums[[k, bin]] += (row[c] as f64 - centre[c]) * weight[c];
                    cnts[[k, bin]] += 1.0;
                }
            }
        });
    }

    let mut data = Array3::zeros((nsub, nsb, nbins));
    let mut counts = Array3::zeros((nsub, nsb, nbins));
    for (s, (sums, cnts)) in acc.iter().enumerate() {
        for k in 0..nsub {
            for j in 0..nbins {
                data[[k, s, j]] = sums[[k, j]];
                counts[[k, s, j]] = cnts[[k, j]];
            }
        }
    }
    let subint_times_s = (0..nsub).map(|k| 0.5 * (sub_bounds[k] + sub_bounds[k + 1]) as f64 * h.tsamp_s).collect();
    Ok(FoldCube {
        data,
        counts,
        var_sample: 1.0,
        period_s,
        pdot,
        dm,
        tsamp_s: h.tsamp_s,
        nsamples,
        tobs_s: nsamples as f64 * h.tsamp_s,
        subint_times_s,
        subband_freqs_mhz,
        ftop_mhz: ftop,
        fbottom_mhz: fbot,
        nchans_used,
        detrended: detrend,
    })
}

/// Per-channel mean of the finite samples of a `[nsamples][nchans]` block, f64 (0 for a
/// channel without any).
fn block_means(blk: &Array2<f32>) -> Vec<f64> {
    let mut m = vec![0.0f64; blk.ncols()];
    let mut n = vec![0u64; blk.ncols()];
    for row in blk.rows() {
        for (c, &v) in row.iter().enumerate() {
            if v.is_finite() {
                m[c] += v as f64;
                n[c] += 1;
            }
        }
    }
    m.iter_mut().zip(&n).for_each(|(x, &k)| *x /= k.max(1) as f64);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdot_from_accel_is_doppler() {
        // 10 m/s² at P = 0.1 s: Ṗ = 1e-1 · 10 / c.
        let p = pdot_from_accel(10.0, 0.1);
        assert!((p - 3.3356409519815204e-9).abs() < 1e-20);
    }

    #[test]
    fn split_bounds_cover_everything() {
        let b = split_bounds(10, 3);
        assert_eq!(b, vec![0, 3, 6, 10]);
    }
}
