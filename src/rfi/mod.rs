//! Excision of radio-frequency interference, between reading and dedispersion.
//!
//! [`CleanedObservation`] wraps any [`Observation`] and hands the dedispersers normalised, masked
//! and clipped spectra. It measures the data ([`measure`]) in three passes over fixed **statistics
//! blocks** of [`RfiConfig::stat_block_samples`] samples (aligned on sample 0; the last block
//! absorbs a short tail), so every decision depends only on the data and the configuration, never
//! on how a reader later asks for blocks or on the thread count:
//!
//! 1. **Moments**: per-channel mean and variance (dropped, all-zero spectra left out).
//!    Non-finite samples (NaN, ±∞) are **missing data**, one sample at a time: left out of every
//!    statistic (each channel's moments use its own count of finite samples), read back as 0 (the
//!    channel mean after normalisation), counted ([`RfiReport::nonfinite_samples`]) and logged.
//!    They never zap a channel: only a channel with no finite sample at all has zero variance.
//! 2. **Robust channel statistics**: each block's zero-DM total power (sum over channels of the
//!    spectra normalised with pass 1) is measured by its median and `1.4826·MAD`; spectra beyond
//!    `clip_sigma` of it are left out of everything that follows (always, so that impulses never
//!    bias the statistics). With [`RfiConfig::gate`] (default) the zero-DM totals of the rest are
//!    binned and searched for bursts of 16 ms and longer ([`gate`]); the gated spectra are left out too.
//!    The block is then read again: from the spectra kept, per block and channel: the mean, the standard
//!    deviation, the ratio `var/mean²` of the raw data (the spectral kurtosis, [`sk`], Nita & Gary
//!    2010) and the largest normalised FFT power of the block's series ([`rfifind`]); and per
//!    channel the mean and standard deviation. The channel mask is then: zero variance
//!    ([`normalise::zap_mask`]), SK outside `±sk_sigma·sqrt(Var SK)` in more than `sk_chanfrac`
//!    of the blocks (rfifind's `-chanfrac` rule), IQRM ([`iqrm`], Morello et al. 2022) on the
//!    channel standard deviations, and rfifind's `-intfrac` rule. In channels that stay, single
//!    blocks with discrepant SK or rfifind statistics are masked (a time–frequency mask), and
//!    blocks where more than `-chanfrac` of the channels are bad are masked whole.
//! 3. **Clipping statistics**: with the final normalisation and mask, each block's zero-DM
//!    median and robust σ, and the spectra beyond `clip_sigma` (PRESTO `prepsubband`'s default
//!    `-clip 6`; Ransom's `clip_times`).
//!
//! Reading then returns `(x − b_c(t))/std_c` per channel, where the baseline `b_c(t)` is the
//! channel mean, or with [`RfiConfig::baseline`] (default) the channel means of the kept spectra
//! of each of [`RfiConfig::baseline_knots_per_block`] equal parts of each block (the knots),
//! interpolated linearly between knot centres (a high-pass below ~`1/(2·knot)`, 0.6 Hz for 0.8 s
//! knots: slow gain and bandpass drifts go, and their leakage into the Fourier search with them);
//! 0 for masked channels and cells; 0 (the baseline) for every spectrum whose zero-DM total lies
//! beyond `clip_sigma` robust σ of its block's median, and for every gated spectrum. With [`RfiConfig::zero_dm`] the mean over the
//! unmasked channels of each spectrum is then subtracted from them (zero-DM filtering, Eatough,
//! Keane & Lyne 2009, MNRAS 395, 410). Memory: the statistics passes read ~1 MiB pieces of
//! spectra ([`sub_block_rows`]) and hold one channel-major copy of a statistics block for the
//! rfifind FFTs, plus a few `f32` and flags per channel per statistics block (the size of an
//! rfifind mask), `4·q` bytes per channel per block for the baseline knots, and 12 bytes per
//! 2 ms of observation for the gate's binned zero-DM series (22 MB for an hour). Speed: the passes are parallel over spectra or channels (rayon), each channel
//! and spectrum still summed alone in time or channel order, so the mask is bit-identical
//! whatever the thread count (and to the serial loops it replaced).
//!
//! Everything decided is an [`RfiMask`]; [`maskfile`] writes it to HDF5 (`tianyan rfi FILE -o
//! mask.h5`) and reads it back, and [`CleanedObservation::with_mask`] applies it without
//! measuring again. [`birdies`] holds the periodic-RFI zapping used by the FFT search.

pub mod birdies;
pub mod gate;
pub mod iqrm;
pub mod maskfile;
pub mod normalise;
pub mod rfifind;
pub mod sk;

use crate::io::{is_dropped_spectrum, Header, IoError, Observation};
use birdies::{AutoBirdieConfig, Birdie};
use ndarray::Array2;
use rayon::prelude::*;
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
    /// A mask file made from another observation; the message names both.
    #[error("{0}")]
    MaskMismatch(String),
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
    /// Subtract a per-channel baseline interpolated between the statistics blocks' channel
    /// means instead of the whole-observation mean (removes slow gain and bandpass drifts).
    pub baseline: bool,
    /// Baseline knots per statistics block (default 4: 0.8 s at 393 µs): each block is cut into
    /// this many equal parts and the channel means of each part are the knots. Issue 13's
    /// `fast-heavy` gain drift (2 % sines of 5.8–16 s periods) lost the pulsar from σ 9.0 to 6.3
    /// with one knot per 3.2 s block (linear interpolation of a 5.8 s sine from 3.2 s knots
    /// leaves most of it); the error of linear interpolation is `(2π·h/P)²/8` of the amplitude for
    /// knots `h` apart.
    pub baseline_knots_per_block: usize,
    /// Gate long bursts of power in the zero-DM total (16 ms and longer, [`gate`]): their spectra
    /// are replaced by the baseline and left out of the statistics.
    pub gate: bool,
    /// Gating threshold, S/N of the zero-DM boxcar (default 8: at 6 the brightest pulses of
    /// `sigpyproc3/tutorial.fil` were gated, σ 90.9 → 86.2; issue 13's fast-heavy periodic is
    /// gated alike at 6 and 8 (σ 8.41, 8.26), only partly at 10 (seed 6: σ 6.16 → 3.64)).
    pub gate_sigma: f64,
    /// Zero-DM filtering (Eatough, Keane & Lyne 2009): subtract each spectrum's mean over the
    /// unmasked channels. Off by default: it also removes part of a low-DM pulsar whose pulse is
    /// not short compared with its dispersion sweep.
    pub zero_dm: bool,
    /// The rfifind-style cell mask ([`rfifind`]).
    pub rfifind: bool,
    /// rfifind's settings (PRESTO's documented defaults).
    pub rfifind_cfg: rfifind::RfifindConfig,
    /// A mask file (`tianyan rfi FILE -o mask.h5`) applied instead of measuring: the settings
    /// above that decide the mask are then those it was made with.
    pub mask_file: Option<PathBuf>,
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
            baseline: true,
            baseline_knots_per_block: 4,
            gate: true,
            gate_sigma: 8.0,
            zero_dm: false,
            rfifind: true,
            rfifind_cfg: rfifind::RfifindConfig::default(),
            mask_file: None,
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
        if self.baseline_knots_per_block == 0 || self.baseline_knots_per_block > self.stat_block_samples / 16 {
            return bad(format!(
                "baseline knots per block {} must be within 1–{} (at least 16 samples per knot)",
                self.baseline_knots_per_block,
                self.stat_block_samples / 16
            ));
        }
        if !(self.gate_sigma.is_finite() && self.gate_sigma > 0.0) {
            return bad(format!("gate sigma {} must be a positive number", self.gate_sigma));
        }
        self.rfifind_cfg.validate()?;
        Ok(())
    }
}

/// Channel flag bit: zero (or non-finite) variance.
pub const FLAG_ZERO_VARIANCE: u8 = 1;
/// Channel flag bit: spectral kurtosis discrepant in more than `sk_chanfrac` of the blocks.
pub const FLAG_SK: u8 = 2;
/// Channel flag bit: IQRM outlier of the channel standard deviations.
pub const FLAG_IQRM: u8 = 4;

/// Channel flag bit: bad in more than rfifind's `-intfrac` of the blocks.
pub const FLAG_RFIFIND: u8 = 8;

/// Cell mask bit: spectral kurtosis discrepant in this block.
pub const CELL_SK: u8 = 1;
/// Cell mask bit: rfifind's mean or standard-deviation test.
pub const CELL_RFIFIND_STAT: u8 = 2;
/// Cell mask bit: rfifind's FFT-power test.
pub const CELL_RFIFIND_POWER: u8 = 4;
/// Cell mask bit: the whole block is masked (more than `-chanfrac` of its channels bad).
pub const CELL_BLOCK: u8 = 8;

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
    /// `[nblocks][nchans]`: OR of [`CELL_SK`], [`CELL_RFIFIND_STAT`], [`CELL_RFIFIND_POWER`],
    /// [`CELL_BLOCK`] where a block of a kept channel is masked; 0 = kept.
    pub cell_mask: Array2<u8>,
    /// Per block: 1 where the whole block is masked (rfifind's `-chanfrac` rule).
    pub block_flags: Vec<u8>,
    /// Samples of the clipped spectra, ascending.
    pub clipped_samples: Vec<u64>,
    /// Whether the block baseline was subtracted.
    pub baseline: bool,
    /// Baseline knots per statistics block (1 in masks made before the knots were finer).
    pub baseline_knots_per_block: usize,
    /// Gated stretches of spectra `[first, end)` (samples, ascending, disjoint; [`gate`]).
    pub gated: Vec<[u64; 2]>,
    /// Spectra inside the gated stretches.
    pub gated_spectra: u64,
    /// Gated spectra over spectra with data.
    pub gated_fraction: f64,
    /// Gating threshold used, S/N (0 when gating is off).
    pub gate_sigma: f64,
    /// Whether zero-DM filtering was applied.
    pub zero_dm: bool,
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
    /// Why spectral kurtosis was skipped for the whole observation ([`sk::sk_applicability`]:
    /// the samples are not chi-squared power); empty when it ran (or masking is off).
    pub sk_skipped: String,
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

/// Everything the excision decided: enough to apply it again without measuring ([`maskfile`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RfiMask {
    /// Header of the observation measured (checked when the mask is applied to a file).
    pub header: Header,
    /// Description of the measured input (its file name).
    pub input: String,
    /// Per channel (file order): the mean subtracted without a block baseline.
    pub mean: Vec<f32>,
    /// Per channel: `1/std`, 0 for masked channels.
    pub scale: Vec<f32>,
    /// `[nblocks · q][nchans]` channel means of each part of each block (the baseline knots; `q`
    /// = [`RfiReport::baseline_knots_per_block`], block `b`'s part `j` is row `b·q + j`); empty
    /// (0 rows) when the baseline is off.
    pub block_mean: Array2<f32>,
    /// What was decided and measured (masks, clipping statistics, birdies).
    pub report: RfiReport,
    /// Fingerprint of the data measured ([`content_digest`]); `None` for masks written before
    /// it was recorded.
    pub content_digest: Option<ContentDigest>,
}

/// A fingerprint of an observation's data: the FNV-1a 64-bit hash of the bit patterns of the
/// first `samples` spectra as the reader returns them (`f32`, little-endian, spectrum by
/// spectrum). It tells apart two observations with the same header values, and recognises the
/// same data under another file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentDigest {
    /// Spectra hashed: `min(nsamples, DIGEST_SAMPLES)`.
    pub samples: u64,
    /// FNV-1a 64 of their values.
    pub fnv1a64: u64,
}

/// Spectra hashed by [`content_digest`] (at most): a few ms to read, and already ≥ 10⁵ values
/// for 64 channels, so two noise realisations never collide.
pub const DIGEST_SAMPLES: u64 = 2048;

/// The [`ContentDigest`] of `obs`'s first `min(nsamples, DIGEST_SAMPLES)` spectra.
///
/// # Errors
/// The reader's errors.
pub fn content_digest(obs: &mut dyn Observation) -> Result<ContentDigest, crate::io::IoError> {
    let samples = obs.header().nsamples.min(DIGEST_SAMPLES);
    let blk = obs.read_block(0, samples as usize)?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in blk.iter() {
        for b in v.to_bits().to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    Ok(ContentDigest { samples, fnv1a64: h })
}

impl RfiMask {
    /// The block of sample `t`.
    fn block_of(&self, t: u64) -> usize {
        ((t / self.report.stat_block_samples as u64) as usize).min(self.report.nblocks.saturating_sub(1))
    }

    /// First sample and length of block `b`.
    fn block_range(&self, b: usize) -> (u64, usize) {
        block_range(self.header.nsamples, self.report.stat_block_samples, self.report.nblocks, b)
    }

    /// The baseline of every channel at sample `t` into `out`: the block means interpolated
    /// linearly between block centres (constant before the first and after the last), or the
    /// channel means without a baseline.
    #[cfg(test)]
    fn baseline_at(&self, t: u64, out: &mut [f32]) {
        match self.baseline_knots(t) {
            None => out.copy_from_slice(&self.mean),
            Some((b0, b1, w)) => {
                let (r0, r1) = (self.block_mean.row(b0), self.block_mean.row(b1));
                for ((o, &a), &z) in out.iter_mut().zip(r0.iter()).zip(r1.iter()) {
                    *o = a + w * (z - a);
                }
            }
        }
    }

    /// Knots per block (at least 1).
    fn knots_per_block(&self) -> usize {
        self.report.baseline_knots_per_block.max(1)
    }

    /// The knot of sample `t`: row `b·q + j` of [`Self::block_mean`] ([`knot_part`]).
    fn knot_of(&self, t: u64) -> usize {
        let q = self.knots_per_block();
        let b = self.block_of(t);
        let (s, n) = self.block_range(b);
        b * q + knot_part((t - s) as usize, n, q)
    }

    /// Centre of knot `k` (samples, from the start of the observation).
    fn knot_centre(&self, k: usize) -> f64 {
        let q = self.knots_per_block();
        let (s, n) = self.block_range(k / q);
        let (a, e) = knot_bounds(n, q, k % q);
        s as f64 + 0.5 * (a + e) as f64
    }

    /// The two baseline knots around sample `t` and the weight of the second: the baseline of
    /// channel `c` is `a + w·(z − a)` (`f32`) with `a`, `z` the knots' means of `c` (linear
    /// interpolation between knot centres, constant before the first and after the last).
    /// `None` without a baseline (the channel means are subtracted).
    fn baseline_knots(&self, t: u64) -> Option<(usize, usize, f32)> {
        let nk = self.block_mean.nrows();
        if nk == 0 {
            return None;
        }
        let tc = t as f64 + 0.5;
        let k = self.knot_of(t).min(nk - 1);
        let (k0, k1) = if tc < self.knot_centre(k) { (k.saturating_sub(1), k) } else { (k, (k + 1).min(nk - 1)) };
        let (c0, c1) = (self.knot_centre(k0), self.knot_centre(k1));
        let w = if k1 > k0 { ((tc - c0) / (c1 - c0)).clamp(0.0, 1.0) as f32 } else { 0.0 };
        Some((k0, k1, w))
    }

    /// Whether sample `t` lies in a gated stretch.
    fn is_gated(&self, t: u64) -> bool {
        in_intervals(&self.report.gated, t)
    }

    /// One spectrum (sample `t`) normalised and masked, exactly as [`normalise_row`] with the
    /// baseline at `t` and the cell mask `cells` of its block: `out[c] = (raw[c] − b_c(t))·scale[c]`,
    /// 0 where masked or not finite.
    fn normalise_at(&self, t: u64, raw: &[f32], out: &mut [f32], cells: &[bool]) {
        let scale = &self.scale;
        let knots = self.baseline_knots(t);
        let (r0, r1, w) = match knots {
            Some((b0, b1, w)) => (
                self.block_mean.row(b0).to_slice().expect("standard layout"),
                self.block_mean.row(b1).to_slice().expect("standard layout"),
                w,
            ),
            None => (&self.mean[..], &self.mean[..], 0.0),
        };
        let n = out.len();
        let (raw, r0, r1, scale, cells) = (&raw[..n], &r0[..n], &r1[..n], &scale[..n], &cells[..n]);
        #[inline(always)]
        fn one(raw: f32, base: f32, scale: f32, cell: bool) -> f32 {
            // Branch-free (vectorised); the same values as the branches of `normalise_row`.
            let z = (raw - base) * scale;
            let z = if scale == 0.0 || cell { 0.0 } else { z };
            // `is_finite` as a comparison (false for NaN too).
            if z.abs() < f32::INFINITY {
                z
            } else {
                0.0
            }
        }
        if knots.is_some() {
            for c in 0..n {
                out[c] = one(raw[c], r0[c] + w * (r1[c] - r0[c]), scale[c], cells[c]);
            }
        } else {
            for c in 0..n {
                out[c] = one(raw[c], r0[c], scale[c], cells[c]);
            }
        }
    }
}

/// The part (baseline knot) of offset `i` in a block of `n` samples cut into `q` equal parts:
/// `⌊i·q/n⌋`, so part `j` holds offsets `⌈j·n/q⌉ .. ⌈(j+1)·n/q⌉` ([`knot_bounds`]).
fn knot_part(i: usize, n: usize, q: usize) -> usize {
    ((i as u64 * q as u64) / n.max(1) as u64) as usize
}

/// Offsets `[first, end)` of part `j` of a block of `n` samples cut into `q` parts.
fn knot_bounds(n: usize, q: usize, j: usize) -> (usize, usize) {
    let c = |j: usize| (j * n).div_ceil(q);
    (c(j), c(j + 1))
}

/// Whether `t` lies in one of the ascending, disjoint `[first, end)` stretches `iv`.
fn in_intervals(iv: &[[u64; 2]], t: u64) -> bool {
    let i = iv.partition_point(|v| v[0] <= t);
    i > 0 && t < iv[i - 1][1]
}

/// First sample and length of block `b` of `nblocks` blocks of `l` samples over `nsamp`.
fn block_range(nsamp: u64, l: usize, nblocks: usize, b: usize) -> (u64, usize) {
    let s = b as u64 * l as u64;
    let e = if b + 1 == nblocks { nsamp } else { s + l as u64 };
    (s, (e - s) as usize)
}

/// An [`Observation`] with the excision applied (see the module docs).
pub struct CleanedObservation {
    inner: Box<dyn Observation>,
    mask: RfiMask,
    /// `[nblocks × nchans]`, true where the cell is masked.
    cells: Vec<bool>,
    /// Per block: unmasked channels (zero-DM filtering).
    kept: Vec<usize>,
}

/// One spectrum, normalised and masked: `out[c] = (raw[c] − base[c])·scale[c]`, 0 where
/// `scale` is 0, the cell is masked or the value is not finite.
fn normalise_row(raw: &[f32], out: &mut [f32], base: &[f32], scale: &[f32], cells: Option<&[bool]>) {
    for c in 0..out.len() {
        let masked = scale[c] == 0.0 || cells.is_some_and(|m| m[c]);
        let z = if masked { 0.0 } else { (raw[c] - base[c]) * scale[c] };
        out[c] = if z.is_finite() { z } else { 0.0 };
    }
}

/// Zero-DM total power of a normalised spectrum (f64, in channel order).
fn zero_dm(row: &[f32]) -> f64 {
    row.iter().map(|&v| v as f64).sum()
}

/// The settings for a one-channel observation (a dedispersed time series, e.g. a SIGPROC `.tim`
/// with its `refdm`), or `None` for filterbank data.
///
/// Such a series is not at DM 0 and has no other channel to compare with: its "zero-DM total" is
/// the dedispersed signal itself, so clipping it removes a bright pulsar's pulses, and the
/// channel and cell masks (SK, IQRM, rfifind's FFT-power test) judge the pulsar as interference
/// and can mask the only channel (measured on B1804-08's `GBT_J1807-0847.tim`: rfifind masked
/// it whole, no candidate; without rfifind, clipping took 2476 samples and σ fell from 153.6 to
/// 118.5). Clipping and masking are turned off (with a log line); normalisation, the block
/// baseline and the missing-data handling stay.
fn dedispersed_series_config(cfg: &RfiConfig, inner: &dyn Observation) -> Option<RfiConfig> {
    if inner.header().nchans != 1 || !(cfg.clip || cfg.mask || cfg.gate) {
        return None;
    }
    tracing::info!(
        "{}: one channel (a dedispersed series): zero-DM clipping and channel/cell masking do not apply",
        inner.source_description()
    );
    Some(RfiConfig { clip: false, mask: false, gate: false, ..cfg.clone() })
}

/// Spectra per group of [`zero_dm_rows`]: their sums run as independent chains.
const ZERO_DM_GROUP: usize = 8;
/// Spectra per rayon task of the row-parallel loops (results do not depend on it).
const ROWS_PER_TASK: usize = 64;
/// Channels per rayon task of the channel-parallel accumulations over time-major blocks: the
/// channels split evenly over the threads in multiples of 64, so each task reads long contiguous
/// pieces of every spectrum (64-channel pieces, 256 bytes from each 4 KiB spectrum, defeat the
/// prefetcher: measured ~5 ns per sample). Results do not depend on it: every channel is still
/// accumulated alone, in time order.
fn chans_per_task(nchans: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    (nchans.div_ceil(threads).div_ceil(64) * 64).max(64)
}

/// `out[c·n + offset + t] = f(t, c, x[t·nchans + c])`: the time-major spectra `x` (`[rows][nchans]`)
/// transposed into columns `offset ..` of the channel-major `out` (`[nchans][n]`), parallel over groups of channels ([`chans_per_task`]; rayon). Each strip of
/// 64 spectra goes through a local buffer: the reads are long runs of each spectrum (the
/// prefetcher follows them) and the writes runs of 64 samples (64-channel tiles read 256 bytes of
/// each 4 KiB spectrum and waited on memory: measured 6 ns per sample).
fn transpose_block(
    x: &[f32],
    nchans: usize,
    n: usize,
    offset: usize,
    out: &mut [f32],
    f: impl Fn(usize, usize, f32) -> f32 + Sync,
) {
    const TILE: usize = 64;
    let rows = x.len() / nchans.max(1);
    let group = chans_per_task(nchans);
    out.par_chunks_mut(group * n).enumerate().for_each(|(g, o)| {
        let c0 = g * group;
        let w = o.len() / n;
        // `[w][TILE]`: a strip of TILE spectra, transposed.
        let mut tile = vec![0.0f32; w * TILE];
        for t0 in (0..rows).step_by(TILE) {
            let h = (rows - t0).min(TILE);
            for i in 0..h {
                let t = t0 + i;
                let row = &x[t * nchans + c0..t * nchans + c0 + w];
                for (j, &v) in row.iter().enumerate() {
                    tile[j * TILE + i] = f(t, c0 + j, v);
                }
            }
            for (j, tr) in tile.chunks_exact(TILE).enumerate() {
                let o0 = j * n + offset + t0;
                o[o0..o0 + h].copy_from_slice(&tr[..h]);
            }
        }
    });
}

/// [`zero_dm`] of each spectrum of `norm` (`[k][nchans]`, `k ≤` [`ZERO_DM_GROUP`]) into `out`:
/// every spectrum is summed in channel order from 0, exactly as [`zero_dm`] sums it (bit-identical),
/// but the `k` sums are interleaved so they do not wait on one another.
// The channel index drives all the spectra at once (the interleaving is the point).
#[allow(clippy::needless_range_loop)]
fn zero_dm_rows(norm: &[f32], nchans: usize, out: &mut [f64]) {
    let k = out.len();
    if k != ZERO_DM_GROUP {
        for (o, row) in out.iter_mut().zip(norm.chunks_exact(nchans)) {
            *o = zero_dm(row);
        }
        return;
    }
    // From −0.0, as `Iterator::sum` of f64 starts.
    let mut acc = [-0.0f64; ZERO_DM_GROUP];
    let rows: [&[f32]; ZERO_DM_GROUP] = std::array::from_fn(|r| &norm[r * nchans..(r + 1) * nchans]);
    for c in 0..nchans {
        for r in 0..ZERO_DM_GROUP {
            acc[r] += rows[r][c] as f64;
        }
    }
    out.copy_from_slice(&acc);
}

/// Normalises spectrum `t` (`raw`) into `out`, for [`zero_dm_totals`].
type NormRow<'a> = dyn Fn(usize, &[f32], &mut [f32]) + Sync + 'a;

/// For each spectrum `t` of `x` (`[n][nchans]`, row-major) not dropped: normalises it with
/// `norm_row(t, raw, out)` and returns its zero-DM total ([`zero_dm`], bit-identical); `None`
/// for dropped (all-zero) spectra. Parallel over spectra (rayon); the result does not depend on
/// the thread count.
fn zero_dm_totals(x: &[f32], nchans: usize, norm_row: &NormRow<'_>) -> Vec<Option<f64>> {
    let n = x.len() / nchans.max(1);
    let mut out = vec![None; n];
    if nchans == 0 {
        return out;
    }
    out.par_chunks_mut(ROWS_PER_TASK).enumerate().for_each_init(
        || (vec![0.0f32; ZERO_DM_GROUP * nchans], Vec::with_capacity(ZERO_DM_GROUP)),
        |(norm, idx), (task, o)| {
            let t0 = task * ROWS_PER_TASK;
            let mut sums = [0.0f64; ZERO_DM_GROUP];
            let mut flush = |idx: &mut Vec<usize>, norm: &[f32], o: &mut [Option<f64>]| {
                let k = idx.len();
                zero_dm_rows(&norm[..k * nchans], nchans, &mut sums[..k]);
                for (&i, &z) in idx.iter().zip(&sums[..k]) {
                    o[i] = Some(z);
                }
                idx.clear();
            };
            for i in 0..o.len() {
                let t = t0 + i;
                let raw = &x[t * nchans..(t + 1) * nchans];
                if is_dropped_spectrum(raw.iter()) {
                    continue;
                }
                let k = idx.len();
                norm_row(t, raw, &mut norm[k * nchans..(k + 1) * nchans]);
                idx.push(i);
                if idx.len() == ZERO_DM_GROUP {
                    flush(idx, norm, o);
                }
            }
            flush(idx, norm, o);
        },
    );
    out
}

/// Spectra per read of the statistics passes: about 1 MiB of `f32`, so each piece stays in the
/// cache while it is normalised, summed and transposed (whole 32 MiB statistics blocks went
/// through memory once per use). At least 64.
fn sub_block_rows(nchans: usize) -> usize {
    ((1usize << 20) / (4 * nchans.max(1))).max(64)
}

/// The sub-blocks `(first sample, length)` of `n` samples from `s`, [`sub_block_rows`] each.
fn sub_blocks(s: u64, n: usize, nchans: usize) -> impl Iterator<Item = (u64, usize)> {
    let step = sub_block_rows(nchans);
    (0..n).step_by(step).map(move |i| (s + i as u64, step.min(n - i)))
}

/// Block `blk` as a contiguous row-major slice (copied only when the reader's array is not).
fn block_slice(blk: &Array2<f32>) -> std::borrow::Cow<'_, [f32]> {
    match blk.as_slice() {
        Some(x) => std::borrow::Cow::Borrowed(x),
        None => std::borrow::Cow::Owned(blk.iter().copied().collect()),
    }
}

/// Measures `inner` with `cfg` (three passes of statistics blocks; see the module docs).
///
/// # Errors
/// [`RfiError::Config`] for bad settings, or the observation's read errors.
pub fn measure(inner: &mut dyn Observation, cfg: &RfiConfig) -> Result<RfiMask, RfiError> {
    cfg.validate()?;
    let series_cfg = dedispersed_series_config(cfg, &*inner);
    let cfg = series_cfg.as_ref().unwrap_or(cfg);
    let h = inner.header().clone();
    let nchans = h.nchans;
    let nsamp = h.nsamples;
    let l = cfg.stat_block_samples as u64;
    // The last block takes a tail shorter than half a block, so every block has ≥ L/2 samples.
    let nblocks = (((nsamp + l / 2) / l) as usize).max(1);
    let range = |b: usize| block_range(nsamp, cfg.stat_block_samples, nblocks, b);

    // Pass 1: moments. Per channel: sum, sum of squares and count of the finite samples of
    // spectra with data (non-finite samples are missing data, module docs).
    let mut sum = vec![0.0f64; nchans];
    let mut sumsq = vec![0.0f64; nchans];
    let mut nfinite = vec![0u64; nchans];
    let mut dropped = 0u64;
    let (mut nonfinite, mut nonfinite_spectra) = (0u64, 0u64);
    // One reused block buffer; channels accumulate in parallel groups, each channel in time order
    // (bit-identical to a serial loop, whatever the thread count).
    let mut blk = Array2::<f32>::zeros((0, nchans));
    for (s, n) in sub_blocks(0, nsamp as usize, nchans) {
        inner.read_block_into(s, n, &mut blk)?;
        let x = block_slice(&blk);
        let x: &[f32] = &x;
        // Per spectrum: dropped, or holding a non-finite sample.
        let kinds: Vec<(bool, bool)> = x
            .par_chunks(nchans.max(1))
            .map(|row| {
                let dropped = is_dropped_spectrum(row.iter());
                (dropped, !dropped && !row.iter().all(|v| v.is_finite()))
            })
            .collect();
        dropped += kinds.iter().filter(|k| k.0).count() as u64;
        nonfinite_spectra += kinds.iter().filter(|k| k.1).count() as u64;
        let group = chans_per_task(nchans);
        nonfinite += sum
            .par_chunks_mut(group)
            .zip(sumsq.par_chunks_mut(group))
            .zip(nfinite.par_chunks_mut(group))
            .enumerate()
            .map(|(g, ((s1, s2), nf))| {
                let c0 = g * group;
                let w = s1.len();
                let mut bad = 0u64;
                for (row, &(drop, nonfin)) in x.chunks_exact(nchans).zip(&kinds) {
                    if drop {
                        continue;
                    }
                    let r = &row[c0..c0 + w];
                    if !nonfin {
                        for (((a, q), f), &v) in s1.iter_mut().zip(s2.iter_mut()).zip(nf.iter_mut()).zip(r) {
                            let v = v as f64;
                            *a += v;
                            *q += v * v;
                            *f += 1;
                        }
                    } else {
                        for (((a, q), f), &v) in s1.iter_mut().zip(s2.iter_mut()).zip(nf.iter_mut()).zip(r) {
                            if v.is_finite() {
                                let v = v as f64;
                                *a += v;
                                *q += v * v;
                                *f += 1;
                            } else {
                                bad += 1;
                            }
                        }
                    }
                }
                bad
            })
            .sum::<u64>();
    }
    let mean1: Vec<f64> = (0..nchans).map(|c| sum[c] / nfinite[c].max(1) as f64).collect();
    let std1: Vec<f64> =
        (0..nchans).map(|c| (sumsq[c] / nfinite[c].max(1) as f64 - mean1[c] * mean1[c]).max(0.0).sqrt()).collect();
    if nonfinite > 0 {
        tracing::warn!(
            "{}: {nonfinite} NaN or infinite samples (in {nonfinite_spectra} spectra) are missing data, masked one by one",
            inner.source_description()
        );
    }
    let flat = |s: f64, m: f64| !(s.is_finite() && m.is_finite()) || s <= 0.0 || s <= 1e-6 * (m.abs() + 1e-30);
    let mean1_f: Vec<f32> = mean1.iter().map(|&m| m as f32).collect();
    let scale1: Vec<f32> =
        std1.iter().zip(&mean1).map(|(&s, &m)| if flat(s, m) { 0.0 } else { (1.0 / s) as f32 }).collect();

    // Pass 2a: the zero-DM totals with the pass-1 normalisation. Per block: the preliminary
    // clip (spectra beyond `clip_sigma` of the block's median, left out of everything that
    // follows); and the binned series that the gate searches ([`gate`]).
    let gate_bin = if h.tsamp_s > 0.0 { ((gate::GATE_BIN_S / h.tsamp_s).round() as usize).max(1) } else { 1 };
    let nbins = if cfg.gate { (nsamp as usize).div_ceil(gate_bin) } else { 0 };
    let mut gate_sum = vec![0.0f64; nbins];
    let mut gate_count = vec![0u32; nbins];
    let mut pre_clipped: Vec<u64> = Vec::new();
    for b in 0..nblocks {
        let (s, n) = range(b);
        // Zero-DM totals of the block's spectra, a cache-sized piece at a time.
        let mut z: Vec<Option<f64>> = Vec::with_capacity(n);
        for (s0, n0) in sub_blocks(s, n, nchans) {
            inner.read_block_into(s0, n0, &mut blk)?;
            let x = block_slice(&blk);
            z.extend(zero_dm_totals(&x, nchans, &|_, raw, out| normalise_row(raw, out, &mean1_f, &scale1, None)));
        }
        let mut zs: Vec<f64> = z.iter().flatten().copied().collect();
        let (med, sd) = robust_centre_scale(&mut zs);
        for (i, zt) in z.iter().enumerate() {
            let Some(zt) = *zt else { continue };
            let t = s + i as u64;
            if sd > 0.0 && (zt - med).abs() > cfg.clip_sigma * sd {
                pre_clipped.push(t);
            } else if cfg.gate {
                let k = t as usize / gate_bin;
                gate_sum[k] += zt;
                gate_count[k] += 1;
            }
        }
    }
    let gated: Vec<[u64; 2]> = if cfg.gate {
        let segment = ((gate::GATE_DETREND_S / (gate_bin as f64 * h.tsamp_s)).round() as usize).max(1);
        let bins_of = |s: f64| ((s / (gate_bin as f64 * h.tsamp_s)).round() as usize).max(1);
        let (min_width, max_width) = (bins_of(gate::GATE_MIN_WIDTH_S), bins_of(gate::GATE_MAX_WIDTH_S));
        let bins = gate::gate_bins(&gate_sum, &gate_count, segment, min_width, max_width, cfg.gate_sigma);
        let mut iv: Vec<[u64; 2]> = Vec::new();
        for (k, _) in bins.iter().enumerate().filter(|(_, &g)| g) {
            let (a, e) = ((k * gate_bin) as u64, (((k + 1) * gate_bin) as u64).min(nsamp));
            match iv.last_mut() {
                Some(last) if last[1] == a => last[1] = e,
                _ => iv.push([a, e]),
            }
        }
        iv
    } else {
        Vec::new()
    };
    drop((gate_sum, gate_count));

    // Pass 2b: robust per-block, per-channel statistics of the spectra kept (with data, not
    // clipped in pass 2a, not gated), and the baseline knots.
    let q = if cfg.baseline { cfg.baseline_knots_per_block.max(1) } else { 1 };
    let mut d1 = vec![0.0f64; nchans];
    let mut d2 = vec![0.0f64; nchans];
    // Sum over blocks of the squared deviations about each block's own channel mean.
    let mut dev_blk = vec![0.0f64; nchans];
    let mut kept = 0u64;
    let mut ratio = vec![f32::NAN; nblocks * nchans];
    let mut bmean = vec![0.0f32; nblocks * nchans];
    // `[nblocks · q][nchans]`: the knots' channel means (with the baseline).
    let mut kmean = vec![0.0f32; if cfg.baseline { nblocks * q * nchans } else { 0 }];
    // Per block and channel: variance about the block mean (NaN for blocks without data).
    let mut bvar = vec![f64::NAN; nblocks * nchans];
    let mut stats = vec![rfifind::CellStats::default(); nblocks * nchans];
    let mut block_m = vec![0usize; nblocks];
    // Channel-major copy of a block for the rfifind statistics (reused).
    let mut series: Vec<f32> = Vec::new();
    for b in 0..nblocks {
        let (s, n) = range(b);
        let mut m = 0usize;
        let mut bs1 = vec![0.0f64; nchans];
        let mut bs2 = vec![0.0f64; nchans];
        // `[nchans][q]`: per channel the sums over each knot's kept spectra (filled for q > 1;
        // one knot is the block).
        let mut ks1 = vec![0.0f64; nchans * q];
        let mut km = vec![0usize; q];
        let rfifind_cells = cfg.mask && cfg.rfifind;
        if rfifind_cells {
            series.resize(n * nchans, 0.0);
        }
        // The block again, piece by piece: channel groups in parallel, each channel over the kept
        // spectra in time order; and the channel-major copy for the rfifind statistics, with NaN
        // for what is filled with the block mean below.
        for (s0, n0) in sub_blocks(s, n, nchans) {
            inner.read_block_into(s0, n0, &mut blk)?;
            let x = block_slice(&blk);
            let x: &[f32] = &x;
            let k0 = (s0 - s) as usize;
            let keep: Vec<bool> = x
                .par_chunks(nchans.max(1))
                .enumerate()
                .map(|(i, row)| {
                    let t = s0 + i as u64;
                    !is_dropped_spectrum(row.iter())
                        && pre_clipped.binary_search(&t).is_err()
                        && !in_intervals(&gated, t)
                })
                .collect();
            let keep = &keep[..];
            for (i, _) in keep.iter().enumerate().filter(|(_, &k)| k) {
                m += 1;
                km[knot_part(k0 + i, n, q)] += 1;
            }
            let group = chans_per_task(nchans);
            bs1.par_chunks_mut(group)
                .zip(bs2.par_chunks_mut(group))
                .zip(ks1.par_chunks_mut(group * q))
                .enumerate()
                .for_each(|(g, ((s1, s2), ks))| {
                    let c0 = g * group;
                    let w = s1.len();
                    let mu = &mean1[c0..c0 + w];
                    for (i, (row, _)) in x.chunks_exact(nchans).zip(keep).enumerate().filter(|(_, (_, &k))| k) {
                        let r = &row[c0..c0 + w];
                        for (((a, sq), &v), &mc) in s1.iter_mut().zip(s2.iter_mut()).zip(r).zip(mu) {
                            let d = if v.is_finite() { v as f64 - mc } else { 0.0 };
                            *a += d;
                            *sq += d * d;
                        }
                        if q > 1 {
                            let j = knot_part(k0 + i, n, q);
                            for (cc, (&v, &mc)) in r.iter().zip(mu).enumerate() {
                                ks[cc * q + j] += if v.is_finite() { v as f64 - mc } else { 0.0 };
                            }
                        }
                    }
                });
            if rfifind_cells {
                transpose_block(x, nchans, n, k0, &mut series, |t, _, v| if keep[t] { v } else { f32::NAN });
            }
        }
        kept += m as u64;
        block_m[b] = m;
        for c in 0..nchans {
            d1[c] += bs1[c];
            d2[c] += bs2[c];
            if m >= 1 {
                let dm = bs1[c] / m as f64;
                bmean[b * nchans + c] = (mean1[c] + dm) as f32;
                dev_blk[c] += (bs2[c] - bs1[c] * dm).max(0.0);
            } else {
                bmean[b * nchans + c] = mean1[c] as f32;
            }
            if m >= 2 {
                let dm = bs1[c] / m as f64;
                let var = (bs2[c] / m as f64 - dm * dm).max(0.0);
                bvar[b * nchans + c] = var;
                let mu = mean1[c] + dm;
                if mu > 0.0 {
                    ratio[b * nchans + c] = (var / (mu * mu)) as f32;
                }
            }
        }
        if cfg.baseline {
            // The knots: a part with fewer than a quarter of its spectra kept takes the block mean.
            for j in 0..q {
                let (a, e) = knot_bounds(n, q, j);
                let row = &mut kmean[(b * q + j) * nchans..(b * q + j + 1) * nchans];
                for c in 0..nchans {
                    row[c] = if q > 1 && km[j] >= 1 && 4 * km[j] >= e - a {
                        (mean1[c] + ks1[c * q + j] / km[j] as f64) as f32
                    } else {
                        bmean[b * nchans + c]
                    };
                }
            }
        }
        if rfifind_cells {
            // Each channel's block series, clipped, dropped and non-finite samples at the block
            // mean, then one FFT each.
            let fill = &bmean[b * nchans..(b + 1) * nchans];
            stats[b * nchans..(b + 1) * nchans]
                .par_chunks_mut(rfifind::CELL_GROUP)
                .zip(series.par_chunks_mut(rfifind::CELL_GROUP * n))
                .enumerate()
                .for_each(|(g, (o, xc))| {
                    for (j, x) in xc.chunks_exact_mut(n).enumerate() {
                        let f = fill[g * rfifind::CELL_GROUP + j];
                        x.iter_mut().filter(|v| !v.is_finite()).for_each(|v| *v = f);
                    }
                    rfifind::cell_stats_many(xc, n, m, o)
                });
        }
    }
    let kc = kept.max(1) as f64;
    let mean: Vec<f64> = (0..nchans).map(|c| mean1[c] + d1[c] / kc).collect();
    // With the baseline: the median over blocks of the within-block variance, so intermittent
    // RFI in a few blocks (left to the cell mask) neither scales the whole channel down nor
    // makes IQRM mask it (the median of χ²_k/k lies ≈ 2/(3k) below its mean: 8e-5 at k = 8192).
    let std: Vec<f64> = (0..nchans)
        .map(|c| {
            if cfg.baseline {
                let mut v: Vec<f64> = (0..nblocks).map(|b| bvar[b * nchans + c]).filter(|v| v.is_finite()).collect();
                if v.is_empty() {
                    (dev_blk[c] / kc).sqrt()
                } else {
                    robust_centre_scale(&mut v).0.sqrt()
                }
            } else {
                let dm = d1[c] / kc;
                (d2[c] / kc - dm * dm).max(0.0).sqrt()
            }
        })
        .collect();

    // The channel mask.
    let mut flags: Vec<u8> = (0..nchans).map(|c| if flat(std[c], mean[c]) { FLAG_ZERO_VARIANCE } else { 0 }).collect();
    let mut cells = vec![0u8; nblocks * nchans];
    let mut block_flags = vec![0u8; nblocks];
    let mut sk_skipped = String::new();
    if cfg.mask {
        // SK only where the samples can be chi-squared power (sk::sk_applicability).
        let live: Vec<bool> = flags.iter().map(|&f| f == 0).collect();
        let sk_ok = sk::sk_applicability(&mean, &std, &live).unwrap_or_else(|why| {
            tracing::info!("{}: {why}", inner.source_description());
            sk_skipped = why;
            vec![false; nchans]
        });
        for c in 0..nchans {
            if flags[c] != 0 || !sk_ok[c] {
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
                let mb = block_m[b] as f64;
                if !r.is_finite() || mb < 16.0 {
                    continue;
                }
                judged += 1;
                let skv = sk::sk_from_ratio(r, mb, nd);
                if (skv - 1.0).abs() > cfg.sk_sigma * sk::sk_variance(mb, nd).sqrt() {
                    bad += 1;
                    cells[b * nchans + c] |= CELL_SK;
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
        if cfg.rfifind {
            let ignore: Vec<bool> = flags.iter().map(|&f| f != 0).collect();
            let bits = rfifind::bad_cells(&stats, nblocks, nchans, &ignore, &cfg.rfifind_cfg);
            for (c, &ig) in ignore.iter().enumerate() {
                if ig {
                    continue;
                }
                let judged = (0..nblocks).filter(|&b| stats[b * nchans + c].n > 0).count();
                let bad = (0..nblocks).filter(|&b| bits[b * nchans + c] != 0).count();
                if judged > 0 && bad as f64 > cfg.rfifind_cfg.intfrac * judged as f64 {
                    flags[c] |= FLAG_RFIFIND;
                }
            }
            for (cell, &bit) in cells.iter_mut().zip(&bits) {
                *cell |= bit;
            }
            // -chanfrac: a block with too many bad channels goes whole.
            let live = flags.iter().filter(|&&f| f == 0).count();
            for (b, bf) in block_flags.iter_mut().enumerate() {
                let bad = (0..nchans).filter(|&c| flags[c] == 0 && cells[b * nchans + c] != 0).count();
                if live > 0 && bad as f64 > cfg.rfifind_cfg.chanfrac * live as f64 {
                    *bf = 1;
                    (0..nchans).for_each(|c| cells[b * nchans + c] |= CELL_BLOCK);
                }
            }
        }
    }
    // Masked channels need no cell mask; kept channels keep their discrepant cells.
    for c in 0..nchans {
        if flags[c] != 0 {
            (0..nblocks).for_each(|b| cells[b * nchans + c] = 0);
        }
    }
    let mean_f: Vec<f32> = mean.iter().map(|&m| if m.is_finite() { m as f32 } else { 0.0 }).collect();
    let scale: Vec<f32> = (0..nchans).map(|c| if flags[c] != 0 { 0.0 } else { (1.0 / std[c]) as f32 }).collect();
    let block_mean = if cfg.baseline {
        Array2::from_shape_vec((nblocks * q, nchans), kmean).expect("shape")
    } else {
        Array2::zeros((0, nchans))
    };
    let masked_cells = cells.iter().filter(|&&m| m != 0).count() as f64 * cfg.stat_block_samples as f64;
    let masked_chans = flags.iter().filter(|&&f| f != 0).count() as f64 * nsamp as f64;
    let content_digest = Some(content_digest(inner)?);
    let mut mask = RfiMask {
        content_digest,
        header: h.clone(),
        input: inner.source_description(),
        mean: mean_f,
        scale,
        block_mean,
        report: RfiReport {
            stat_block_samples: cfg.stat_block_samples,
            nblocks,
            masked_channels: (0..nchans).filter(|&c| flags[c] != 0).collect(),
            channel_flags: flags,
            cell_mask: Array2::from_shape_vec((nblocks, nchans), cells).expect("shape"),
            block_flags,
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
            baseline: cfg.baseline,
            baseline_knots_per_block: q,
            gated_spectra: gated.iter().map(|iv| iv[1] - iv[0]).sum(),
            gated,
            gate_sigma: if cfg.gate { cfg.gate_sigma } else { 0.0 },
            zero_dm: cfg.zero_dm,
            sk_skipped,
            ..RfiReport::default()
        },
    };

    // Pass 3: zero-DM clipping statistics with the final normalisation and mask.
    drop(series);
    let mut median = vec![0.0f64; nblocks];
    let mut bstd = vec![0.0f64; nblocks];
    let mut bclip = vec![0u32; nblocks];
    let mut clipped_samples = Vec::new();
    let cellb: Vec<bool> = mask.report.cell_mask.iter().map(|&v| v != 0).collect();
    for b in 0..nblocks {
        let (s, n) = range(b);
        let cm = &cellb[b * nchans..(b + 1) * nchans];
        let m = &mask;
        let mut zs: Vec<(u64, f64)> = Vec::with_capacity(n);
        for (s0, n0) in sub_blocks(s, n, nchans) {
            inner.read_block_into(s0, n0, &mut blk)?;
            let x = block_slice(&blk);
            let z = zero_dm_totals(&x, nchans, &|i, raw, out| m.normalise_at(s0 + i as u64, raw, out, cm));
            zs.extend(
                z.iter()
                    .enumerate()
                    .filter_map(|(i, z)| z.map(|z| (s0 + i as u64, z)))
                    .filter(|&(t, _)| !m.is_gated(t)),
            );
        }
        let mut v: Vec<f64> = zs.iter().map(|p| p.1).collect();
        let (med, sd) = robust_centre_scale(&mut v);
        median[b] = med;
        bstd[b] = sd;
        if cfg.clip && sd > 0.0 {
            for &(t, z) in &zs {
                if (z - med).abs() > cfg.clip_sigma * sd {
                    bclip[b] += 1;
                    clipped_samples.push(t);
                }
            }
        }
    }
    let clipped: u64 = bclip.iter().map(|&v| v as u64).sum();
    let with_data = nsamp.saturating_sub(dropped);
    let r = &mut mask.report;
    r.block_median = median.iter().map(|&v| v as f32).collect();
    r.block_std = bstd.iter().map(|&v| v as f32).collect();
    r.block_clipped = bclip;
    r.clipped_spectra = clipped;
    r.clipped_samples = clipped_samples;
    r.clipped_fraction = if with_data > 0 { clipped as f64 / with_data as f64 } else { 0.0 };
    r.gated_fraction = if with_data > 0 { r.gated_spectra as f64 / with_data as f64 } else { 0.0 };
    if dropped > 0 {
        tracing::warn!(
            "{}: {} spectra are all zeros (dropped or padding) and are treated as missing data",
            inner.source_description(),
            dropped
        );
    }
    Ok(mask)
}

impl CleanedObservation {
    /// Measures `inner` ([`measure`]) and wraps it; with [`RfiConfig::mask_file`] reads that
    /// mask instead ([`maskfile::read_mask`], [`Self::with_mask`]).
    ///
    /// # Errors
    /// [`RfiError::Config`] for bad settings or a mask of another observation; the mask file's
    /// or the observation's read errors.
    pub fn new(mut inner: Box<dyn Observation>, cfg: &RfiConfig) -> Result<Self, RfiError> {
        let mask = match &cfg.mask_file {
            Some(p) => {
                let mut m = maskfile::read_mask(p)?;
                m.input = format!("{} (mask file {})", m.input, p.display());
                m
            }
            None => measure(inner.as_mut(), cfg)?,
        };
        Self::with_mask(inner, mask)
    }

    /// Wraps `inner` with a mask measured before (e.g. read from a mask file), without measuring.
    ///
    /// # Errors
    /// [`RfiError::MaskMismatch`] when the mask was made from another observation: its header's
    /// nchans, nsamples, tsamp, fch1 or foff differ from `inner`'s (the message names both).
    pub fn with_mask(inner: Box<dyn Observation>, mut mask: RfiMask) -> Result<Self, RfiError> {
        check_mask_matches(&mask, inner.header(), &inner.source_description())?;
        // Rows of the baseline knots are read as slices ([`RfiMask::normalise_at`]).
        if !mask.block_mean.is_standard_layout() {
            mask.block_mean = mask.block_mean.as_standard_layout().into_owned();
        }
        let nchans = mask.header.nchans;
        let nblocks = mask.report.nblocks;
        let cells: Vec<bool> = mask.report.cell_mask.iter().map(|&v| v != 0).collect();
        let kept = (0..nblocks)
            .map(|b| (0..nchans).filter(|&c| mask.scale[c] != 0.0 && !cells[b * nchans + c]).count())
            .collect();
        Ok(CleanedObservation { inner, mask, cells, kept })
    }

    /// What the excision did.
    pub fn report(&self) -> &RfiReport {
        &self.mask.report
    }

    /// Everything the excision decided (for a mask file).
    pub fn mask(&self) -> &RfiMask {
        &self.mask
    }

    /// Which channels (file order) are masked.
    pub fn masked(&self) -> Vec<bool> {
        self.mask.report.channel_flags.iter().map(|&f| f != 0).collect()
    }
}

/// Checks that the mask read from `mask_path` was made from the data of the files `inputs`: the
/// fingerprint of their first spectra ([`content_digest`]) must equal the one the mask records,
/// so a copy of the right file under another name is accepted and another file with the same
/// name and header values is refused (the header itself is compared by
/// [`check_mask_matches`]). A mask without a recorded fingerprint (older files) is checked by
/// the file names it records instead; one that records neither passes.
///
/// # Errors
/// [`RfiError::MaskMismatch`] naming the mask file, the recorded and the given files;
/// [`RfiError::Io`] when the inputs cannot be read.
pub fn check_mask_input(
    mask: &RfiMask,
    mask_path: &std::path::Path,
    inputs: &[std::path::PathBuf],
) -> Result<(), RfiError> {
    let given = inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ");
    let recorded = if mask.input.trim().is_empty() { "another observation" } else { mask.input.trim() };
    if let Some(want) = mask.content_digest {
        let mut obs = crate::io::open_observation(inputs)?;
        let samples = obs.header().nsamples.min(DIGEST_SAMPLES);
        let got = if samples == want.samples { Some(content_digest(obs.as_mut())?) } else { None };
        return if got == Some(want) {
            Ok(())
        } else {
            Err(RfiError::MaskMismatch(format!(
                "the RFI mask {} was made from {recorded}, and the data of {given} differ from it (first {} spectra \
                 compared): make one for this observation with `tianyan rfi`",
                mask_path.display(),
                want.samples
            )))
        };
    }
    if mask.input.trim().is_empty() {
        return Ok(());
    }
    let name =
        |s: &str| std::path::Path::new(s).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let rec: Vec<String> = mask.input.split_whitespace().map(name).collect();
    let giv: Vec<String> = inputs.iter().map(|p| name(&p.to_string_lossy())).collect();
    if rec == giv {
        Ok(())
    } else {
        Err(RfiError::MaskMismatch(format!(
            "the RFI mask {} was made from {recorded}, not {given}: make one for this observation with `tianyan rfi`",
            mask_path.display(),
        )))
    }
}

/// Checks that `mask` was made from an observation with `header` (nchans, nsamples, tsamp,
/// fch1, foff).
///
/// # Errors
/// [`RfiError::MaskMismatch`] naming the mask's input, `what` and the first differing value.
pub fn check_mask_matches(mask: &RfiMask, header: &Header, what: &str) -> Result<(), RfiError> {
    let m = &mask.header;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-30);
    let diff = if m.nchans != header.nchans {
        Some(format!("nchans {} vs {}", m.nchans, header.nchans))
    } else if m.nsamples != header.nsamples {
        Some(format!("nsamples {} vs {}", m.nsamples, header.nsamples))
    } else if !close(m.tsamp_s, header.tsamp_s) {
        Some(format!("tsamp {:e} s vs {:e} s", m.tsamp_s, header.tsamp_s))
    } else if !close(m.fch1_mhz, header.fch1_mhz) {
        Some(format!("fch1 {} MHz vs {} MHz", m.fch1_mhz, header.fch1_mhz))
    } else if !close(m.foff_mhz, header.foff_mhz) {
        Some(format!("foff {} MHz vs {} MHz", m.foff_mhz, header.foff_mhz))
    } else if mask.mean.len() != header.nchans
        || mask.report.cell_mask.dim() != (mask.report.nblocks, header.nchans)
        || (mask.block_mean.nrows() != 0
            && mask.block_mean.dim() != (mask.report.nblocks * mask.knots_per_block(), header.nchans))
    {
        Some("the mask's arrays do not match its header".to_string())
    } else {
        None
    };
    match diff {
        Some(d) => Err(RfiError::MaskMismatch(format!(
            "the RFI mask made from {} does not belong to {what}: {d}",
            if mask.input.is_empty() { "another observation" } else { &mask.input }
        ))),
        None => Ok(()),
    }
}

impl Observation for CleanedObservation {
    fn header(&self) -> &Header {
        self.inner.header()
    }
    fn read_block(&mut self, start_sample: u64, nsamples: usize) -> Result<Array2<f32>, IoError> {
        let mut blk = Array2::<f32>::zeros((0, self.mask.scale.len()));
        self.read_block_into(start_sample, nsamples, &mut blk)?;
        Ok(blk)
    }

    /// The excised spectra, in place in the reader's block; parallel over spectra (rayon), each
    /// spectrum computed exactly as alone (the values do not depend on the thread count).
    fn read_block_into(&mut self, start_sample: u64, nsamples: usize, blk: &mut Array2<f32>) -> Result<(), IoError> {
        self.inner.read_block_into(start_sample, nsamples, blk)?;
        let nchans = self.mask.scale.len();
        if blk.ncols() != nchans || nchans == 0 {
            return Ok(());
        }
        if !blk.is_standard_layout() {
            *blk = blk.as_standard_layout().into_owned();
        }
        let x = blk.as_slice_mut().expect("standard layout");
        let (mask, cells, kept) = (&self.mask, &self.cells, &self.kept);
        let r = &mask.report;
        x.par_chunks_mut(ROWS_PER_TASK * nchans).enumerate().for_each_init(
            || vec![0.0f32; nchans],
            |norm, (task, rows)| {
                for (j, row) in rows.chunks_exact_mut(nchans).enumerate() {
                    if is_dropped_spectrum(row.iter()) {
                        continue;
                    }
                    let t = start_sample + (task * ROWS_PER_TASK + j) as u64;
                    // The spectra pass 3 found beyond the clip level (exactly those, also from a mask file).
                    if r.clipped_samples.binary_search(&t).is_ok() || mask.is_gated(t) {
                        row.fill(0.0);
                        continue;
                    }
                    let b = mask.block_of(t);
                    let cm = &cells[b * nchans..(b + 1) * nchans];
                    mask.normalise_at(t, row, norm, cm);
                    if r.zero_dm && kept[b] > 0 {
                        let m = (zero_dm(norm) / kept[b] as f64) as f32;
                        for ((v, &x), (&s, &cmask)) in row.iter_mut().zip(norm.iter()).zip(mask.scale.iter().zip(cm)) {
                            *v = if s != 0.0 && !cmask { x - m } else { 0.0 };
                        }
                    } else {
                        row.copy_from_slice(norm);
                    }
                }
            },
        );
        Ok(())
    }
    fn source_description(&self) -> String {
        format!("{} (RFI-excised)", self.inner.source_description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::memory::MemoryObservation;
    use rand::{Rng, SeedableRng};

    /// Noise with dropped spectra, NaN and ±inf samples, a hot channel and an impulse: `nchans`
    /// (not a multiple of 64) × `nsamp` (not a multiple of the pieces) samples.
    fn messy(nchans: usize, nsamp: usize, seed: u64) -> MemoryObservation {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut data = Array2::from_shape_simple_fn((nsamp, nchans), || 100.0 + 10.0 * (rng.gen::<f32>() - 0.5));
        data.row_mut(17).fill(0.0);
        data.row_mut(5000).fill(0.0);
        data[[33, 4]] = f32::NAN;
        data[[9000, 7]] = f32::INFINITY;
        data[[12000, 8]] = f32::NEG_INFINITY;
        data.column_mut(3).iter_mut().for_each(|v| *v *= 3.0);
        data.row_mut(7000).iter_mut().for_each(|v| *v += 200.0);
        let header = Header { tsamp_s: 1e-3, fch1_mhz: 1500.0, foff_mhz: -1.0, nbits: 32, ..Header::default() };
        MemoryObservation::new(header, data)
    }

    fn cfg() -> RfiConfig {
        RfiConfig { stat_block_samples: 4096, ..RfiConfig::default() }
    }

    /// The grouped, row-parallel zero-DM totals equal the one-spectrum-at-a-time sum (naive twin),
    /// bit for bit, with dropped spectra and a count that is not a multiple of the group.
    #[test]
    fn zero_dm_totals_match_the_serial_sum() {
        let obs = messy(100, 20_003, 1);
        let x = obs.data().as_slice().unwrap().to_vec();
        let scale: Vec<f32> = (0..100).map(|c| if c == 9 { 0.0 } else { 0.1 + c as f32 * 1e-3 }).collect();
        let base = vec![99.0f32; 100];
        let got = zero_dm_totals(&x, 100, &|_, raw, out| normalise_row(raw, out, &base, &scale, None));
        let mut norm = vec![0.0f32; 100];
        for (t, row) in x.chunks_exact(100).enumerate() {
            let want = if is_dropped_spectrum(row.iter()) {
                None
            } else {
                normalise_row(row, &mut norm, &base, &scale, None);
                Some(zero_dm(&norm))
            };
            assert_eq!(got[t].map(f64::to_bits), want.map(f64::to_bits), "spectrum {t}");
        }
        assert!(got[17].is_none() && got[18].is_some());
    }

    /// The tiled transpose puts every sample where the naive double loop does (naive twin).
    #[test]
    fn transpose_block_matches_the_naive_loop() {
        let (nchans, rows, n, off) = (130, 77, 200, 50);
        let x: Vec<f32> = (0..rows * nchans).map(|i| i as f32).collect();
        let mut got = vec![-1.0f32; nchans * n];
        transpose_block(&x, nchans, n, off, &mut got, |t, c, v| v + (t * 1000 + c) as f32 * 0.0);
        for c in 0..nchans {
            for t in 0..n {
                let want = if (off..off + rows).contains(&t) { x[(t - off) * nchans + c] } else { -1.0 };
                assert_eq!(got[c * n + t], want, "channel {c} sample {t}");
            }
        }
    }

    /// Normalising with the fused baseline equals `baseline_at` then `normalise_row` (naive twin),
    /// with and without the block baseline.
    #[test]
    fn normalise_at_matches_baseline_then_normalise() {
        for baseline in [true, false] {
            let mut obs = messy(100, 20_000, 2);
            let mask = measure(&mut obs, &RfiConfig { baseline, ..cfg() }).unwrap();
            let cells: Vec<bool> = (0..100).map(|c| c % 11 == 0).collect();
            let (mut a, mut b, mut base) = (vec![0.0f32; 100], vec![0.0f32; 100], vec![0.0f32; 100]);
            for t in [0u64, 33, 2047, 2048, 9000, 19_999] {
                let raw = obs.data().row(t as usize).to_vec();
                mask.normalise_at(t, &raw, &mut a, &cells);
                mask.baseline_at(t, &mut base);
                normalise_row(&raw, &mut b, &base, &mask.scale, Some(&cells));
                assert_eq!(a, b, "sample {t}, baseline {baseline}");
            }
        }
    }

    /// The whole measurement and the excised spectra are identical at 1 and 3 threads (the
    /// parallel loops keep every sum's order).
    #[test]
    fn measure_and_reading_do_not_depend_on_threads() {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut c = CleanedObservation::new(Box::new(messy(100, 20_000, 3)), &cfg()).unwrap();
                let blk = c.read_block(1000, 9000).unwrap();
                (c.mask().clone(), blk)
            })
        };
        let (m1, b1) = run(1);
        let (m3, b3) = run(3);
        assert_eq!(m1, m3);
        assert_eq!(b1, b3);
        assert_eq!(m1.report.nonfinite_samples, 3);
        assert_eq!(m1.report.dropped_spectra, 2);
        assert!(m1.report.clipped_samples.contains(&7000));
    }
}
