//! Direct (brute-force) incoherent dedispersion with integer-sample delays.
//!
//! For each DM trial, output sample `t` is `Σ_c x_c[t + d_c]` where `x_c` is channel `c`
//! (after summing `downsamp` adjacent input samples) and `d_c` its delay from
//! [`delay_samples`](super::plan::delay_samples) (nearest sample, relative to the top channel).
//! Channels are added in file order starting from 0.0, so the result is bit-for-bit that of a
//! plain triple loop, whatever the block size or the thread count.
//!
//! # Blocks and memory
//! The observation is read in blocks of `block_size` (downsampled) samples. A channel-major
//! buffer `[nchans][block_size + max_delay]` `f32` holds the block plus the `max_delay`
//! samples the sweep needs beyond it; the overlap is carried over from one block to the next
//! in memory, so every input sample is read once. Memory is
//! `4 · nchans · (block_size + max_delay)` bytes plus one read block plus the output
//! `[ndm][nsamples_out]`.
//!
//! # Parallelism
//! Within a block, rayon runs over tiles of [`TILE`] output samples; each task computes all DM
//! trials of its tile ([`dedisperse_tiles`]). Each output sample is computed by one task in a
//! fixed order, so results do not depend on the thread count.
use super::plan::delay_samples;
use super::subband::{sweep_error, ChannelBlocks};
use super::{ArraySink, DedispError, DedispersedSeries, Dedisperser, TrialSink};
use crate::io::{Header, Observation};
use ndarray::Array2;
use rayon::prelude::*;

/// Output samples per parallel task. A task computes every DM trial for its tile, so the
/// part of the block it reads (`nchans × (TILE + delay spread)` samples) stays in cache
/// while the trials reuse it.
pub const TILE: usize = 256;

/// Direct dedispersion, parallel over DM trials and time tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectDedisperser {
    /// Output samples (after downsampling) computed per block read from the observation (≥ 1).
    pub block_size: usize,
}

impl Default for DirectDedisperser {
    /// `block_size` 8192 samples: 32 MiB of buffer per 1024 channels, plus the sweep overlap.
    fn default() -> Self {
        DirectDedisperser { block_size: 8192 }
    }
}

/// The dedispersion kernel on one channel-major block.
///
/// `block` holds `nchans = delays.len()` rows of `stride` samples each (`block[c·stride + i]`
/// is channel `c`, sample `i`); `out[t] = Σ_c block[c·stride + delays[c] + t]` for
/// `t < out.len()`, summed over channels in order from 0.0 (overwrites `out`).
///
/// `block` may start part-way along the rows (a sub-slice `&buf[k..]`), which shifts every
/// row by `k` samples; that is how a time tile is computed.
///
/// # Panics
/// If `c·stride + delays[c] + out.len() > block.len()` for some channel (the caller's layout
/// contract, not data-dependent).
pub fn dedisperse_block(block: &[f32], stride: usize, delays: &[usize], out: &mut [f32]) {
    let n = out.len();
    out.fill(0.0);
    let row = |c: usize| &block[c * stride + delays[c]..c * stride + delays[c] + n];
    let mut c = 0;
    // Eight channels per pass over `out`: one load/store of `out` per eight rows. The
    // additions stay in channel order ((((o + r0) + r1) + …) + r7), so rounding matches a
    // one-channel-at-a-time loop exactly.
    while c + 8 <= delays.len() {
        let (r0, r1, r2, r3) = (row(c), row(c + 1), row(c + 2), row(c + 3));
        let (r4, r5, r6, r7) = (row(c + 4), row(c + 5), row(c + 6), row(c + 7));
        let (r0, r1, r2, r3, r4, r5, r6, r7) =
            (&r0[..n], &r1[..n], &r2[..n], &r3[..n], &r4[..n], &r5[..n], &r6[..n], &r7[..n]);
        let out = &mut out[..n];
        for t in 0..n {
            out[t] = out[t] + r0[t] + r1[t] + r2[t] + r3[t] + r4[t] + r5[t] + r6[t] + r7[t];
        }
        c += 8;
    }
    while c < delays.len() {
        let r = row(c);
        for (o, x) in out.iter_mut().zip(r) {
            *o += *x;
        }
        c += 1;
    }
}

/// All DM trials over one channel-major block, parallel over time tiles of [`TILE`] samples.
///
/// `block` is `[nchans][stride]` (as for [`dedisperse_block`]); `delays[i]` are trial `i`'s
/// per-channel delays. Writes `out[i·out_stride + out_offset + t]` for `t < len`, i.e. columns
/// `out_offset .. out_offset + len` of the `[ndm][out_stride]` output. Each trial of each tile
/// is [`dedisperse_block`] on `&block[tile_start..]`.
///
/// # Panics
/// If a row or output index falls outside `block` or `out` (the caller's layout contract).
pub fn dedisperse_tiles(
    block: &[f32],
    stride: usize,
    delays: &[Vec<usize>],
    len: usize,
    out: &mut [f32],
    out_stride: usize,
    out_offset: usize,
) {
    let ndm = delays.len();
    let ntiles = len.div_ceil(TILE);
    let tiles: Vec<Vec<f32>> = (0..ntiles)
        .into_par_iter()
        .map(|k| {
            let t0 = k * TILE;
            let n = TILE.min(len - t0);
            let mut tile = vec![0f32; ndm * n];
            for (d, o) in delays.iter().zip(tile.chunks_mut(n)) {
                dedisperse_block(&block[t0..], stride, d, o);
            }
            tile
        })
        .collect();
    for (k, tile) in tiles.iter().enumerate() {
        let t0 = k * TILE;
        let n = TILE.min(len - t0);
        for (i, src) in tile.chunks(n).enumerate() {
            let at = i * out_stride + out_offset + t0;
            out[at..at + n].copy_from_slice(src);
        }
    }
}

impl DirectDedisperser {
    /// As [`Dedisperser::dedisperse`], calling `progress(done, total)` (input samples) after each block.
    ///
    /// # Errors
    /// [`DedispError::Invalid`] when `downsamp` or `block_size` is 0, a DM is negative or not
    /// finite, the header is unusable (no channels, tsamp ≤ 0), or the dispersion sweep of the
    /// largest DM (in downsampled samples) is not shorter than the downsampled data (TRAPS B13:
    /// an error, never a wrapped or padded series). [`DedispError::Io`] from the reader.
    pub fn dedisperse_with_progress(
        &self,
        obs: &mut dyn Observation,
        dms: &[f64],
        downsamp: usize,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<DedispersedSeries, DedispError> {
        super::validate(obs, dms, downsamp, self.block_size, "direct")?;
        let header = obs.header().clone();
        let tsamp_out = header.tsamp_s * downsamp as f64;
        let max_delay = self.overlap(&header, dms, downsamp)?;
        let n_ds = (header.nsamples / downsamp as u64) as usize;
        if max_delay >= n_ds {
            let worst = dms.iter().copied().fold(0.0, f64::max);
            return Err(DedispError::Invalid(format!(
                "{}: the dispersion sweep at DM {worst} spans {max_delay} samples of {tsamp_out} s, \
                 but the data have only {n_ds}; no fully covered output sample (lower the DM range)",
                obs.source_description()
            )));
        }
        let nout = n_ds - max_delay;
        let mut data = Array2::<f32>::zeros((dms.len(), nout));
        self.stream(obs, dms, downsamp, nout, &mut ArraySink(&mut data), progress)?;
        Ok(DedispersedSeries { dms: dms.to_vec(), tsamp_s: tsamp_out, downsamp, data })
    }
}

impl Dedisperser for DirectDedisperser {
    fn name(&self) -> &'static str {
        "direct"
    }

    /// The largest per-channel delay of any trial (nearest sample, [`delay_samples`]).
    fn overlap(&self, header: &Header, dms: &[f64], downsamp: usize) -> Result<usize, DedispError> {
        let t = header.tsamp_s * downsamp.max(1) as f64;
        Ok(dms.iter().map(|&dm| delay_samples(header, dm, t).into_iter().max().unwrap_or(0)).max().unwrap_or(0))
    }

    /// `[nchans][block + M]` input, the `[ndm][block]` output block (twice: tiles, then the
    /// block handed to the sink) and one read.
    fn work_bytes(&self, header: &Header, dms: &[f64], downsamp: usize) -> usize {
        let m = self.overlap(header, dms, downsamp).unwrap_or(0);
        ChannelBlocks::bytes(header.nchans, downsamp, self.block_size, m) + 2 * 4 * dms.len() * self.block_size
    }

    /// Direct dedispersion (module documentation): one pass, each block of `block_size` output
    /// samples computed for every trial from one channel-major buffer whose last `M` samples are
    /// carried to the next block.
    fn stream(
        &self,
        obs: &mut dyn Observation,
        dms: &[f64],
        downsamp: usize,
        nout: usize,
        sink: &mut dyn TrialSink,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<f64>, DedispError> {
        super::validate(obs, dms, downsamp, self.block_size, "direct")?;
        let header = obs.header().clone();
        let tsamp_out = header.tsamp_s * downsamp as f64;
        let delays: Vec<Vec<usize>> = dms.iter().map(|&dm| delay_samples(&header, dm, tsamp_out)).collect();
        let max_delay = delays.iter().flatten().copied().max().unwrap_or(0);
        let n_ds = (header.nsamples / downsamp as u64) as usize;
        if max_delay + nout > n_ds || nout == 0 {
            return Err(sweep_error(obs, dms, max_delay, n_ds, tsamp_out));
        }
        let block = self.block_size.min(nout);
        let mut blocks = ChannelBlocks::new(header.nchans, downsamp, n_ds, block, max_delay);
        let stride = blocks.stride();
        let mut stage = vec![0f32; dms.len() * block];
        let total = (n_ds * downsamp) as u64;
        let mut o0 = 0usize;
        while o0 < nout {
            let len = block.min(nout - o0);
            blocks.load(obs, o0, len)?;
            let out = &mut stage[..dms.len() * len];
            dedisperse_tiles(&blocks.buf, stride, &delays, len, out, len, 0);
            sink.put(o0, len, out)?;
            o0 += len;
            progress(((o0 + max_delay) * downsamp) as u64, total);
        }
        Ok(dms.to_vec())
    }
}

/// One dedispersed time series at `dm` (no downsampling), length `nsamples − max_delay`,
/// with the default [`DirectDedisperser`].
///
/// # Errors
/// As [`DirectDedisperser::dedisperse_with_progress`].
pub fn dedisperse_series(obs: &mut dyn Observation, dm: f64) -> Result<Vec<f32>, DedispError> {
    let s = DirectDedisperser::default().dedisperse(obs, &[dm], 1)?;
    Ok(s.data.row(0).to_vec())
}
