//! Excision of radio-frequency interference, between reading and dedispersion.
//!
//! [`CleanedObservation`] wraps any [`Observation`] and hands the dedispersers normalised, masked
//! and clipped spectra. It measures the data in three passes over fixed **statistics blocks** of
//! [`RfiConfig::stat_block_samples`] samples (aligned on sample 0; the last block absorbs a short
//! tail), so every decision depends only on the data and the configuration, never on how a
//! reader later asks for blocks or on the thread count:
//!
//! 1. **Moments**: per-channel mean and variance (dropped, all-zero spectra left out).
//!    Non-finite samples (NaN, ±∞) are **missing data**, one sample at a time: left out of every
//!    statistic (each channel's moments use its own count of finite samples), read back as 0 (the
//!    channel mean after normalisation), counted ([`RfiReport::nonfinite_samples`]) and logged.
//!    They never zap a channel: only a channel with no finite sample at all has zero variance.
//! 2. **Robust channel statistics**: each block's zero-DM total power (sum over channels of the
//!    spectra normalised with pass 1) is measured by its median and `1.4826·MAD`; spectra beyond
//!    `clip_sigma` of it are left out of everything that follows (always, so that impulses never
//!    bias the statistics). From the rest: the final channel mean and standard deviation, and per
//!    block and channel the ratio `var/mean²` of the raw data, which gives the spectral kurtosis
//!    ([`sk`], Nita & Gary 2010). The channel mask is then: zero variance ([`normalise::zap_mask`]),
//!    SK outside `±sk_sigma·sqrt(Var SK)` in more than `sk_chanfrac` of the blocks (rfifind's
//!    `-chanfrac` rule), and IQRM ([`iqrm`], Morello et al. 2022) on the channel standard
//!    deviations. In channels that stay, single blocks with discrepant SK are masked (a
//!    time–frequency mask, as rfifind's).
//! 3. **Clipping statistics**: with the final normalisation and mask, each block's zero-DM
//!    median and robust σ, and the spectra beyond `clip_sigma` (PRESTO `prepsubband`'s default
//!    `-clip 6`; Ransom's `clip_times`).
//!
//! Reading then returns `(x − mean)/std` per channel, 0 for masked channels and cells, and 0 (the
//! channel means) for every spectrum whose zero-DM total lies beyond `clip_sigma` robust σ of its
//! block's median. Memory: one statistics block of spectra, plus one `f32` and one flag per
//! channel per statistics block (the size of an rfifind mask).
//!
//! [`birdies`] holds the periodic-RFI zapping used by the FFT search.

pub mod birdies;
pub mod iqrm;
pub mod normalise;
pub mod sk;

use crate::io::{is_dropped_spectrum, Header, IoError, Observation};
use birdies::{AutoBirdieConfig, Birdie};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Errors of the excision stage.
#[derive(Debug, thiserror::Error)]
pub enum RfiError {
    #[error(transparent)]
    Io(#[from] IoError),
    /// A zap list that cannot be read or parsed (line 0: the file itself).
    #[error("{path}: line {line}: {msg}")]
    Zaplist { path: PathBuf, line: usize, msg: String },
    /// A bad configuration value; the message names it.
    #[error("RFI excision settings: {0}")]
    Config(String),
}

/// Settings of the excision stage (stored in the candidate file's `/search` group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RfiConfig {
    /// Samples per statistics block (default 8192, 3.2 s at 393 µs). Fixed per run: the
    /// excision does not depend on the read block size.
    pub stat_block_samples: usize,
    /// Replace spectra whose zero-DM total power is beyond `clip_sigma` by the channel means.
    pub clip: bool,
    /// Clipping threshold in robust σ of the zero-DM total (default 6, PRESTO prepsubband's).
    pub clip_sigma: f64,
    /// Mask channels and cells by spectral kurtosis and IQRM (zero-variance channels are always
    /// masked).
    pub mask: bool,
    /// A block's SK is discrepant beyond this many of its expected σ (default 5).
    pub sk_sigma: f64,
    /// A channel is masked when more than this fraction of its blocks have discrepant SK
    /// (default 0.7, rfifind's `-chanfrac`).
    pub sk_chanfrac: f64,
    /// IQRM outlier threshold in IQR-derived σ (default 5; Morello et al. 2022 use 3, which
    /// masked 7 of 512 channels of an RFI-free 30 s simulation — each channel faces about 20
    /// lagged comparisons, so a 3σ one-sided tail fires for ~2.5 % of clean channels).
    pub iqrm_threshold: f64,
    /// IQRM radius as a fraction of the channel count (default 0.1, Morello et al. 2022).
    pub iqrm_radius_frac: f64,
    /// Birdies zapped from every power spectrum (the user's zap list).
    pub zaplist: Vec<Birdie>,
    /// Look for strong zero-DM periodicities and zap them too.
    pub auto_birdies: bool,
    /// Settings of the automatic birdie search.
    pub auto: AutoBirdieConfig,
}

impl Default for RfiConfig {
    fn default() -> Self {
        RfiConfig {
            stat_block_samples: 8192,
            clip: true,
            clip_sigma: 6.0,
            mask: true,
            sk_sigma: 5.0,
            sk_chanfrac: 0.7,
            iqrm_threshold: 5.0,
            iqrm_radius_frac: 0.1,
            zaplist: Vec::new(),
            auto_birdies: true,
            auto: AutoBirdieConfig::default(),
        }
    }
}

impl RfiConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// [`RfiError::Config`] naming the first bad value.
    pub fn validate(&self) -> Result<(), RfiError> {
        let bad = |m: String| Err(RfiError::Config(m));
        if self.stat_block_samples < 64 {
            return bad(format!("stat_block_samples {} must be at least 64", self.stat_block_samples));
        }
        if !(self.clip_sigma.is_finite() && self.clip_sigma > 0.0) {
            return bad(format!("clip sigma {} must be a positive number", self.clip_sigma));
        }
        if !(self.sk_sigma.is_finite() && self.sk_sigma > 0.0) {
            return bad(format!("SK sigma {} must be a positive number", self.sk_sigma));
        }
        if !(0.0..=1.0).contains(&self.sk_chanfrac) {
            return bad(format!("SK channel fraction {} must be within 0–1", self.sk_chanfrac));
        }
        if !(self.iqrm_threshold.is_finite() && self.iqrm_threshold > 0.0) {
            return bad(format!("IQRM threshold {} must be a positive number", self.iqrm_threshold));
        }
        if !(self.iqrm_radius_frac.is_finite() && self.iqrm_radius_frac > 0.0) {
            return bad(format!("IQRM radius fraction {} must be positive", self.iqrm_radius_frac));
        }
        Ok(())
    }
}

/// Channel flag bit: zero (or non-finite) variance.
pub const FLAG_ZERO_VARIANCE: u8 = 1;
/// Channel flag bit: spectral kurtosis discrepant in more than `sk_chanfrac` of the blocks.
pub const FLAG_SK: u8 = 2;
/// Channel flag bit: IQRM outlier of the channel standard deviations.
pub const FLAG_IQRM: u8 = 4;

/// What the excision did (the `/rfi` group of the candidate file).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RfiReport {
    /// Samples per statistics block.
    pub stat_block_samples: usize,
    /// Number of statistics blocks.
    pub nblocks: usize,
    /// Per channel (file order): OR of [`FLAG_ZERO_VARIANCE`], [`FLAG_SK`], [`FLAG_IQRM`]; 0 = kept.
    pub channel_flags: Vec<u8>,
    /// Masked channels (file order).
    pub masked_channels: Vec<usize>,
    /// `[nblocks][nchans]`: 1 where a block of a kept channel was masked for discrepant SK.
    pub cell_mask: Array2<u8>,
    /// Per block: median of the zero-DM total power (normalised units).
    pub block_median: Vec<f32>,
    /// Per block: robust σ (`1.4826·MAD`) of the zero-DM total power.
    pub block_std: Vec<f32>,
    /// Per block: spectra clipped.
    pub block_clipped: Vec<u32>,
    /// Spectra clipped in all (0 when clipping is off).
    pub clipped_spectra: u64,
    /// Clipped spectra over spectra with data.
    pub clipped_fraction: f64,
    /// All-zero (dropped) spectra, treated as missing.
    pub dropped_spectra: u64,
    /// Fraction of the data (channels × samples) masked by the channel and cell masks.
    pub masked_fraction: f64,
    /// Samples (channel × time) that were NaN or ±∞ in the input: each is missing data, left out
    /// of the statistics and read as 0 (the channel mean), never zapping its channel.
    pub nonfinite_samples: u64,
    /// Spectra holding at least one non-finite sample.
    pub nonfinite_spectra: u64,
    /// Birdies zapped from the power spectra (zap list and automatic).
    pub birdies: Vec<Birdie>,
    /// Clipping threshold used, robust σ (0 when clipping is off).
    pub clip_sigma: f64,
}

/// Median and `1.4826·MAD` of `v` (reordered). `(0, 0)` for an empty slice.
pub fn robust_centre_scale(v: &mut [f64]) -> (f64, f64) {
    fn median(v: &mut [f64]) -> f64 {
        let n = v.len();
        let (lo, m, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
        let m = *m;
        if n % 2 == 1 {
            m
        } else {
            0.5 * (m + lo.iter().copied().fold(f64::NEG_INFINITY, f64::max))
        }
    }
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let med = median(v);
    for x in v.iter_mut() {
        *x = (*x - med).abs();
    }
    (med, 1.4826 * median(v))
}

/// An [`Observation`] with the excision applied (see the module docs).
pub struct CleanedObservation {
    inner: Box<dyn Observation>,
    mean: Vec<f32>,
    /// `1/std`, 0 for masked channels.
    scale: Vec<f32>,
    block: usize,
    nblocks: usize,
    /// `[nblocks × nchans]`, true where the cell is masked.
    cells: Vec<bool>,
    clip: bool,
    clip_sigma: f64,
    median: Vec<f64>,
    std: Vec<f64>,
    report: RfiReport,
}

/// One spectrum, normalised and masked: `out[c] = (raw[c] − mean[c])·scale[c]`, 0 where
/// `scale` is 0, the cell is masked or the value is not finite.
fn normalise_row(raw: &[f32], out: &mut [f32], mean: &[f32], scale: &[f32], cells: Option<&[bool]>) {
    for c in 0..out.len() {
        let masked = scale[c] == 0.0 || cells.is_some_and(|m| m[c]);
        let z = if masked { 0.0 } else { (raw[c] - mean[c]) * scale[c] };
        out[c] = if z.is_finite() { z } else { 0.0 };
    }
}

/// Zero-DM total power of a normalised spectrum (f64, in channel order).
fn zero_dm(row: &[f32]) -> f64 {
    row.iter().map(|&v| v as f64).sum()
}

impl CleanedObservation {
    /// Measures `inner` (three passes of statistics blocks; see the module docs) and wraps it.
    ///
    /// # Errors
    /// [`RfiError::Config`] for bad settings, or the observation's read errors.
    pub fn new(mut inner: Box<dyn Observation>, cfg: &RfiConfig) -> Result<Self, RfiError> {
        cfg.validate()?;
        let h = inner.header().clone();
        let nchans = h.nchans;
        let nsamp = h.nsamples;
        let l = cfg.stat_block_samples as u64;
        // The last block takes a tail shorter than half a block, so every block has ≥ L/2 samples.
        let nblocks = (((nsamp + l / 2) / l) as usize).max(1);
        let range = |b: usize| -> (u64, usize) {
            let s = b as u64 * l;
            let e = if b + 1 == nblocks { nsamp } else { s + l };
            (s, (e - s) as usize)
        };

        // Pass 1: moments.
        // Per channel: sum, sum of squares and count of the finite samples of spectra with data.
        let mut sum = vec![0.0f64; nchans];
        let mut sumsq = vec![0.0f64; nchans];
        let mut nfinite = vec![0u64; nchans];
        let mut dropped = 0u64;
        let (mut nonfinite, mut nonfinite_spectra) = (0u64, 0u64);
        for b in 0..nblocks {
            let (s, n) = range(b);
            let blk = inner.read_block(s, n)?;
            for row in blk.rows() {
                if is_dropped_spectrum(row.iter()) {
                    dropped += 1;
                    continue;
                }
                let before = nonfinite;
                for (c, &v) in row.iter().enumerate() {
                    if v.is_finite() {
                        let v = v as f64;
                        sum[c] += v;
                        sumsq[c] += v * v;
                        nfinite[c] += 1;
                    } else {
                        nonfinite += 1;
                    }
                }
                nonfinite_spectra += (nonfinite > before) as u64;
            }
        }
        let mean1: Vec<f64> = (0..nchans).map(|c| sum[c] / nfinite[c].max(1) as f64).collect();
        let std1: Vec<f64> =
            (0..nchans).map(|c| (sumsq[c] / nfinite[c].max(1) as f64 - mean1[c] * mean1[c]).max(0.0).sqrt()).collect();
        let flat = |s: f64, m: f64| !(s.is_finite() && m.is_finite()) || s <= 0.0 || s <= 1e-6 * (m.abs() + 1e-30);
        let mean1_f: Vec<f32> = mean1.iter().map(|&m| m as f32).collect();
        let scale1: Vec<f32> =
            std1.iter().zip(&mean1).map(|(&s, &m)| if flat(s, m) { 0.0 } else { (1.0 / s) as f32 }).collect();

        // Pass 2: robust channel statistics with a preliminary clip.
        let mut d1 = vec![0.0f64; nchans];
        let mut d2 = vec![0.0f64; nchans];
        // Finite samples kept per channel (whole observation) and per block and channel.
        let mut kept = vec![0u64; nchans];
        let mut ratio = vec![f32::NAN; nblocks * nchans];
        let mut block_m = vec![0u32; nblocks * nchans];
        let mut norm = vec![0.0f32; nchans];
        for b in 0..nblocks {
            let (s, n) = range(b);
            let blk = inner.read_block(s, n)?;
            let mut z: Vec<Option<f64>> = Vec::with_capacity(n);
            for row in blk.rows() {
                if is_dropped_spectrum(row.iter()) {
                    z.push(None);
                    continue;
                }
                let raw = row.as_slice().map(|x| x.to_vec()).unwrap_or_else(|| row.to_vec());
                normalise_row(&raw, &mut norm, &mean1_f, &scale1, None);
                z.push(Some(zero_dm(&norm)));
            }
            let mut zs: Vec<f64> = z.iter().flatten().copied().collect();
            let (med, sd) = robust_centre_scale(&mut zs);
            let mut bs1 = vec![0.0f64; nchans];
            let mut bs2 = vec![0.0f64; nchans];
            let bm = &mut block_m[b * nchans..(b + 1) * nchans];
            for (row, zt) in blk.rows().into_iter().zip(&z) {
                let Some(zt) = zt else { continue };
                if sd > 0.0 && (zt - med).abs() > cfg.clip_sigma * sd {
                    continue;
                }
                for (c, &v) in row.iter().enumerate() {
                    if v.is_finite() {
                        let d = v as f64 - mean1[c];
                        bs1[c] += d;
                        bs2[c] += d * d;
                        bm[c] += 1;
                    }
                }
            }
            for c in 0..nchans {
                let m = bm[c] as usize;
                kept[c] += m as u64;
                d1[c] += bs1[c];
                d2[c] += bs2[c];
                if m >= 2 {
                    let dm = bs1[c] / m as f64;
                    let var = (bs2[c] / m as f64 - dm * dm).max(0.0);
                    let mu = mean1[c] + dm;
                    if mu > 0.0 {
                        ratio[b * nchans + c] = (var / (mu * mu)) as f32;
                    }
                }
            }
        }
        let mean: Vec<f64> = (0..nchans).map(|c| mean1[c] + d1[c] / kept[c].max(1) as f64).collect();
        let std: Vec<f64> = (0..nchans)
            .map(|c| {
                let kc = kept[c].max(1) as f64;
                let dm = d1[c] / kc;
                (d2[c] / kc - dm * dm).max(0.0).sqrt()
            })
            .collect();

        // The channel mask.
        let mut flags: Vec<u8> =
            (0..nchans).map(|c| if flat(std[c], mean[c]) { FLAG_ZERO_VARIANCE } else { 0 }).collect();
        let mut cells = vec![false; nblocks * nchans];
        if cfg.mask {
            for c in 0..nchans {
                if flags[c] != 0 {
                    continue;
                }
                let mut rs: Vec<f64> =
                    (0..nblocks).map(|b| ratio[b * nchans + c] as f64).filter(|r| r.is_finite() && *r > 0.0).collect();
                if rs.is_empty() {
                    continue;
                }
                let (rmed, _) = robust_centre_scale(&mut rs);
                let nd = 1.0 / rmed;
                let (mut judged, mut bad) = (0usize, 0usize);
                for b in 0..nblocks {
                    let r = ratio[b * nchans + c] as f64;
                    let mb = block_m[b * nchans + c] as f64;
                    if !r.is_finite() || mb < 16.0 {
                        continue;
                    }
                    judged += 1;
                    let skv = sk::sk_from_ratio(r, mb, nd);
                    if (skv - 1.0).abs() > cfg.sk_sigma * sk::sk_variance(mb, nd).sqrt() {
                        bad += 1;
                        cells[b * nchans + c] = true;
                    }
                }
                if judged > 0 && bad as f64 > cfg.sk_chanfrac * judged as f64 {
                    flags[c] |= FLAG_SK;
                }
            }
            let ignore: Vec<bool> = flags.iter().map(|&f| f != 0).collect();
            let radius = ((cfg.iqrm_radius_frac * nchans as f64).round() as usize).max(1);
            // On the std itself (Morello et al.). std/mean would cancel gains, but a channel whose
            // mean is lifted by a constant emitter then looks low, and all its neighbours high:
            // measured 42 of 512 channels masked on issue 13's RFI case instead of 2.
            let iq = iqrm::iqrm_mask(&std, &ignore, radius, cfg.iqrm_threshold);
            for c in 0..nchans {
                if iq[c] {
                    flags[c] |= FLAG_IQRM;
                }
            }
        }
        // Masked channels need no cell mask; kept channels keep their discrepant cells.
        for c in 0..nchans {
            if flags[c] != 0 {
                (0..nblocks).for_each(|b| cells[b * nchans + c] = false);
            }
        }
        let mean_f: Vec<f32> = mean.iter().map(|&m| if m.is_finite() { m as f32 } else { 0.0 }).collect();
        let scale: Vec<f32> = (0..nchans).map(|c| if flags[c] != 0 { 0.0 } else { (1.0 / std[c]) as f32 }).collect();

        // Pass 3: zero-DM clipping statistics with the final normalisation and mask.
        let mut median = vec![0.0f64; nblocks];
        let mut bstd = vec![0.0f64; nblocks];
        let mut bclip = vec![0u32; nblocks];
        for b in 0..nblocks {
            let (s, n) = range(b);
            let blk = inner.read_block(s, n)?;
            let cm = &cells[b * nchans..(b + 1) * nchans];
            let mut zs: Vec<f64> = Vec::with_capacity(n);
            for row in blk.rows() {
                if is_dropped_spectrum(row.iter()) {
                    continue;
                }
                let raw = row.as_slice().map(|x| x.to_vec()).unwrap_or_else(|| row.to_vec());
                normalise_row(&raw, &mut norm, &mean_f, &scale, Some(cm));
                zs.push(zero_dm(&norm));
            }
            let all = zs.clone();
            let (med, sd) = robust_centre_scale(&mut zs);
            median[b] = med;
            bstd[b] = sd;
            if cfg.clip && sd > 0.0 {
                bclip[b] = all.iter().filter(|&&z| (z - med).abs() > cfg.clip_sigma * sd).count() as u32;
            }
        }
        let clipped: u64 = bclip.iter().map(|&v| v as u64).sum();
        let with_data = nsamp.saturating_sub(dropped);
        let masked_cells = cells.iter().filter(|&&m| m).count() as f64 * cfg.stat_block_samples as f64;
        let masked_chans = flags.iter().filter(|&&f| f != 0).count() as f64 * nsamp as f64;
        let report = RfiReport {
            stat_block_samples: cfg.stat_block_samples,
            nblocks,
            masked_channels: (0..nchans).filter(|&c| flags[c] != 0).collect(),
            channel_flags: flags,
            cell_mask: Array2::from_shape_fn((nblocks, nchans), |(b, c)| cells[b * nchans + c] as u8),
            block_median: median.iter().map(|&v| v as f32).collect(),
            block_std: bstd.iter().map(|&v| v as f32).collect(),
            block_clipped: bclip,
            clipped_spectra: clipped,
            clipped_fraction: if with_data > 0 { clipped as f64 / with_data as f64 } else { 0.0 },
            dropped_spectra: dropped,
            masked_fraction: if nsamp > 0 && nchans > 0 {
                ((masked_cells + masked_chans) / (nsamp as f64 * nchans as f64)).min(1.0)
            } else {
                0.0
            },
            nonfinite_samples: nonfinite,
            nonfinite_spectra,
            birdies: cfg.zaplist.clone(),
            clip_sigma: if cfg.clip { cfg.clip_sigma } else { 0.0 },
        };
        if dropped > 0 {
            tracing::warn!(
                "{}: {} spectra are all zeros (dropped or padding) and are treated as missing data",
                inner.source_description(),
                dropped
            );
        }
        if nonfinite > 0 {
            tracing::warn!(
                "{}: {} samples (in {} spectra) are NaN or infinite and are treated as missing data",
                inner.source_description(),
                nonfinite,
                nonfinite_spectra
            );
        }
        Ok(CleanedObservation {
            inner,
            mean: mean_f,
            scale,
            block: cfg.stat_block_samples,
            nblocks,
            cells,
            clip: cfg.clip,
            clip_sigma: cfg.clip_sigma,
            median,
            std: bstd,
            report,
        })
    }

    /// What the excision did.
    pub fn report(&self) -> &RfiReport {
        &self.report
    }

    /// Which channels (file order) are masked.
    pub fn masked(&self) -> Vec<bool> {
        self.report.channel_flags.iter().map(|&f| f != 0).collect()
    }
}

impl Observation for CleanedObservation {
    fn header(&self) -> &Header {
        self.inner.header()
    }
    fn read_block(&mut self, start_sample: u64, nsamples: usize) -> Result<Array2<f32>, IoError> {
        let mut blk = self.inner.read_block(start_sample, nsamples)?;
        let nchans = self.mean.len();
        let mut norm = vec![0.0f32; nchans];
        for (i, mut row) in blk.rows_mut().into_iter().enumerate() {
            if is_dropped_spectrum(row.iter()) {
                continue;
            }
            let t = start_sample + i as u64;
            let b = ((t / self.block as u64) as usize).min(self.nblocks - 1);
            let raw = row.to_vec();
            normalise_row(&raw, &mut norm, &self.mean, &self.scale, Some(&self.cells[b * nchans..(b + 1) * nchans]));
            let sd = self.std[b];
            let clipped = self.clip && sd > 0.0 && (zero_dm(&norm) - self.median[b]).abs() > self.clip_sigma * sd;
            for (v, &z) in row.iter_mut().zip(&norm) {
                *v = if clipped { 0.0 } else { z };
            }
        }
        Ok(blk)
    }
    fn source_description(&self) -> String {
        format!("{} (RFI-excised)", self.inner.source_description())
    }
}
