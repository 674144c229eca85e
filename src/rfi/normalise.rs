//! Whole-observation channel statistics and the plain per-channel normaliser.
//!
//! [`NormalisedObservation`] only subtracts each channel's mean and divides by its standard
//! deviation (zeroing zero-variance channels); [`super::CleanedObservation`] adds the excision
//! steps on top of the same normalisation. Moved here from the single-pulse module, which
//! re-exports these names.

use crate::io::{is_dropped_spectrum, Header, IoError, Observation};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// Configuration of per-channel normalisation before dedispersion ([`NormalisedObservation`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelNormConfig {
    /// Samples per block when reading the observation for statistics (default 4096).
    pub block_samples: usize,
    /// Zap channels whose excess kurtosis exceeds this (impulsive RFI); `None` (default) keeps them.
    pub max_excess_kurtosis: Option<f64>,
}

impl Default for ChannelNormConfig {
    fn default() -> Self {
        ChannelNormConfig { block_samples: 4096, max_excess_kurtosis: None }
    }
}

/// Per-channel statistics of a whole observation, each of length `nchans` (file order).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelStats {
    /// Mean of each channel (file units).
    pub mean: Vec<f64>,
    /// Standard deviation of each channel (file units, population form).
    pub std: Vec<f64>,
    /// Excess kurtosis `m4/m2² − 3` of each channel (0 for Gaussian noise; NaN when std is 0).
    pub excess_kurtosis: Vec<f64>,
    /// Spectra that were all zeros (missing data, see [`is_dropped_spectrum`]), left out of the statistics.
    pub n_dropped: u64,
    /// Samples that were NaN or ±∞ (missing data, one sample at a time), left out of their
    /// channel's statistics.
    pub n_nonfinite: u64,
}

/// Computes [`ChannelStats`] of `obs` in two passes of blocks of `block_samples` samples
/// (mean first, then central moments, for accuracy); memory is one block. Each channel's moments
/// use its own finite samples: a NaN or ±∞ sample is missing data and never makes its channel's
/// statistics non-finite.
///
/// # Errors
/// The observation's read errors.
pub fn channel_stats(obs: &mut dyn Observation, block_samples: usize) -> Result<ChannelStats, IoError> {
    let nchans = obs.header().nchans;
    let nsamp = obs.header().nsamples;
    let bs = block_samples.max(1) as u64;
    let mut sum = vec![0.0f64; nchans];
    let mut nfinite = vec![0u64; nchans];
    let mut start = 0u64;
    let mut n_dropped = 0u64;
    let mut n_nonfinite = 0u64;
    while start < nsamp {
        let len = bs.min(nsamp - start) as usize;
        let blk = obs.read_block(start, len)?;
        for row in blk.rows() {
            if is_dropped_spectrum(row.iter()) {
                n_dropped += 1;
                continue;
            }
            for (c, &v) in row.iter().enumerate().take(nchans) {
                if v.is_finite() {
                    sum[c] += v as f64;
                    nfinite[c] += 1;
                } else {
                    n_nonfinite += 1;
                }
            }
        }
        start += len as u64;
    }
    let count: Vec<f64> = nfinite.iter().map(|&n| n.max(1) as f64).collect();
    let mean: Vec<f64> = sum.iter().zip(&count).map(|(s, n)| s / n).collect();
    let mut m2 = vec![0.0f64; nchans];
    let mut m4 = vec![0.0f64; nchans];
    start = 0;
    while start < nsamp {
        let len = bs.min(nsamp - start) as usize;
        let blk = obs.read_block(start, len)?;
        for row in blk.rows() {
            if is_dropped_spectrum(row.iter()) {
                continue;
            }
            for c in 0..nchans.min(row.len()) {
                if !row[c].is_finite() {
                    continue;
                }
                let d = row[c] as f64 - mean[c];
                let d2 = d * d;
                m2[c] += d2;
                m4[c] += d2 * d2;
            }
        }
        start += len as u64;
    }
    let std: Vec<f64> = m2.iter().zip(&count).map(|(v, n)| (v / n).sqrt()).collect();
    let excess_kurtosis = m2
        .iter()
        .zip(&m4)
        .zip(&count)
        .map(|((&a, &b), &count)| {
            let v = a / count;
            if v > 0.0 {
                (b / count) / (v * v) - 3.0
            } else {
                f64::NAN
            }
        })
        .collect();
    Ok(ChannelStats { mean, std, excess_kurtosis, n_dropped, n_nonfinite })
}

/// Whether each channel should be zapped: zero (or non-finite) variance — e.g. the all-zero band
/// edge of the FRB 121102 file, channels 53–63 — or, when `max_excess_kurtosis` is set, excess
/// kurtosis above it. A channel is zero-variance when `std <= 1e-6 · (|mean| + 1e-30)` or 0.
pub fn zap_mask(stats: &ChannelStats, max_excess_kurtosis: Option<f64>) -> Vec<bool> {
    stats
        .std
        .iter()
        .zip(&stats.mean)
        .zip(&stats.excess_kurtosis)
        .map(|((&s, &m), &k)| {
            let flat = !(s.is_finite() && m.is_finite()) || s <= 0.0 || s <= 1e-6 * (m.abs() + 1e-30);
            // A NaN kurtosis (zero variance) counts as hot too; such channels are flat anyway.
            let hot = matches!(max_excess_kurtosis, Some(t) if k.is_nan() || k > t);
            flat || hot
        })
        .collect()
}

/// An [`Observation`] whose channels are normalised to zero mean and unit variance
/// (whole-observation statistics), with zapped channels (see [`zap_mask`]) set to 0.
/// Missing spectra (all channels exactly 0, [`is_dropped_spectrum`]) and missing samples (NaN,
/// ±∞, one at a time) become 0 after normalisation, i.e. the channel means: they add nothing to a dedispersed series instead of a
/// deep negative step that the detrender would turn into false pulses.
///
/// Dedispersing this instead of the raw data weights every channel equally and keeps
/// zero-variance channels from producing NaN or hiding the signal (the verification pipeline of
/// `PROVENANCE.md` does the same). Reads pass through block by block; memory is one block.
pub struct NormalisedObservation {
    inner: Box<dyn Observation>,
    mean: Vec<f32>,
    scale: Vec<f32>,
    zapped: Vec<bool>,
}

impl NormalisedObservation {
    /// Measures `inner`'s channel statistics ([`channel_stats`], two passes over the data) and
    /// wraps it.
    ///
    /// # Errors
    /// The observation's read errors.
    pub fn new(mut inner: Box<dyn Observation>, cfg: &ChannelNormConfig) -> Result<Self, IoError> {
        let stats = channel_stats(inner.as_mut(), cfg.block_samples)?;
        if stats.n_dropped > 0 {
            tracing::warn!(
                "{}: {} spectra are all zeros (dropped or padding) and are treated as missing data",
                inner.source_description(),
                stats.n_dropped
            );
        }
        if stats.n_nonfinite > 0 {
            tracing::warn!(
                "{}: {} samples are NaN or infinite and are treated as missing data",
                inner.source_description(),
                stats.n_nonfinite
            );
        }
        let zapped = zap_mask(&stats, cfg.max_excess_kurtosis);
        let mean = stats.mean.iter().map(|&m| if m.is_finite() { m as f32 } else { 0.0 }).collect();
        let scale = stats.std.iter().zip(&zapped).map(|(&s, &z)| if z { 0.0 } else { (1.0 / s) as f32 }).collect();
        Ok(NormalisedObservation { inner, mean, scale, zapped })
    }

    /// Which channels (file order) are zapped.
    pub fn zapped(&self) -> &[bool] {
        &self.zapped
    }
}

impl Observation for NormalisedObservation {
    fn header(&self) -> &Header {
        self.inner.header()
    }
    fn read_block(&mut self, start_sample: u64, nsamples: usize) -> Result<Array2<f32>, IoError> {
        let mut blk = self.inner.read_block(start_sample, nsamples)?;
        for mut row in blk.rows_mut() {
            if is_dropped_spectrum(row.iter()) {
                continue;
            }
            for (c, v) in row.iter_mut().enumerate() {
                let z = if c < self.scale.len() && !self.zapped[c] { (*v - self.mean[c]) * self.scale[c] } else { 0.0 };
                *v = if z.is_finite() { z } else { 0.0 };
            }
        }
        Ok(blk)
    }
    fn source_description(&self) -> String {
        format!("{} (channel-normalised)", self.inner.source_description())
    }
}
