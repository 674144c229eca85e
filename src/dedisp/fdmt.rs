//! Fast Dispersion Measure Transform (FDMT; Zackay & Ofek 2017, ApJ 835, 11).
//!
//! Cost `2·N_f·N_t + N_t·N_Δ·log₂N_f` additions (plus the block overlap, below) instead of
//! direct's `N_t·N_f·N_DM`, where `N_Δ` is the largest delay across the band in samples.
//!
//! # The transform as implemented here
//! Channels are ordered by decreasing centre frequency `ν_0 > ν_1 > … > ν_{N−1}`; a channel
//! count that is not a power of two is padded **at the bottom** with zero-valued channels
//! continuing the channel spacing (they add nothing but widen the delay grid; padding at the
//! top would move the time reference). With `g(ν) = ν⁻²`, channel `i` owns the "cell"
//! `[g(e_i), g(e_{i+1})]` between its edges (Zackay & Ofek 2017 §3: a channel covers
//! `ν_i ± Δν/2`), `e_i = (ν_{i−1} + ν_i)/2` the edge shared with the channel above and
//! `e_N = ν_{N−1} − (ν_{N−2} − ν_{N−1})/2` the bottom edge of the band, so each channel sums
//! exactly the samples its own smeared pulse occupies. The one exception is the top channel,
//! whose cell starts at its centre (`e_0 = ν_0`): paths then start where direct's time reference
//! is, without samples before the start of the data, at the cost of the top channel's upper
//! half-sweep (1/(2N) of a smeared pulse's energy). A sub-band of `2^k` adjacent channels spans
//! the union of their cells; the full band spans `G = e_N⁻² − ν_0⁻²`. (Cells from one channel
//! centre to the next, used before, put every channel's window half a channel late and biased
//! the best DM low by 0.2 %: a DM 1500 burst in 256 × 1.95 MHz channels came out at 1497.)
//!
//! `A_k[b][d][τ]` is the sum over the channels of sub-band `b` (level `k`) along the
//! dispersion path that starts at the sub-band's top channel centre at sample `τ` and reaches
//! the bottom of its span at `τ + d`:
//!
//! * **Initialisation** (cumulative sums, Z&O eq. 20): `A_0[i][d][τ] = Σ_{j=0}^{d} x_i[τ + j]`
//!   for `d = 0 … D_i`: a channel with an intra-cell sweep of `d` samples contributes the
//!   `d + 1` samples the pulse crosses (the pulse is smeared over them).
//! * **Merge** (Z&O §3, one iteration per level, `log₂N_f` of them): sub-band `b` at level
//!   `k+1` is its upper half `u` followed by its lower half `l`;
//!   `A_{k+1}[b][d][τ] = A_k[u][d_u][τ] + A_k[l][d − d_u][τ + d_u]` with
//!   `d_u = round(d · W_u / W_b)` (`W` = span in `g`), i.e. the ν⁻² law with the delay of the
//!   upper half rounded to an integer.
//!
//! The delay ranges `D_b` of every sub-band are derived top-down from the largest row needed,
//! so every row a merge asks for exists. Row `d` of the full band uses, for channel `i`,
//! samples `τ + o_i … τ + o_i + d_i` with `o_0 = 0` and `o_{N−1} = d`.
//!
//! # DM grid
//! Row `d` is the delay `d` samples (after downsampling, `t = tsamp·downsamp`) between the
//! highest channel centre and the bottom edge of the (padded) band, i.e. `DM = d · t / (K_DM · G)`
//! with `K_DM` = 4.148808e3 s MHz² pc⁻¹ cm³ — for a power-of-two count of uniform channels
//! `d·t / (K_DM ((f_bot − |Δν|/2)⁻² − f_top⁻²))` with direct's channel-centre `f_bot`, `f_top`
//! ([`fdmt_dm_grid`]). [`Dedisperser::dedisperse`] maps each requested DM to the nearest row and
//! reports that row's DM in [`DedispersedSeries::dms`] (two DMs closer than one row give the
//! same series twice). With a single channel every DM is row 0 and the requested DM is reported.
//!
//! # Time reference and output length
//! Paths start at the top channel centre, so output sample `τ` refers to the highest channel
//! centre, as direct's; at DM 0 (row 0) the output is the channel sum. Only fully covered
//! samples are output: `nsamples_out = nsamples/downsamp − M`, `M` the largest input offset
//! any requested row touches in a real channel (`= d_max` without padding: direct's largest
//! delay plus the bottom channel's lower half-sweep, so a few samples fewer than direct).
//!
//! # Blocks, memory, parallelism
//! Blocks of `block_size` output samples; sub-band `b` needs `len + O_b` samples of each of its
//! `D_b + 1` rows, `O_b` the largest offset at which paths enter it. Level 0 is not stored
//! (with four channels or more level 1 is summed straight from the input: row `d` of a pair of
//! channels adds samples `0 ..= d_u` of the upper and `d_u ..= d` of the lower one, the
//! cumulative sums merged). Memory is two levels,
//! `2 · 4 · Σ_b (D_b + 1)(block_size + O_b)` bytes (≈ `8 (N_Δ + N_f)(block_size + N_Δ/2)`),
//! plus the channel-major input buffer `[nchans][block_size + M]`; the overlap is recomputed
//! for each block (a fraction ≈ `N_Δ/(2·block_size)` of extra work). Rayon runs over channels
//! (initialisation) and over sub-bands and rows (merges); each value has one writer and a
//! fixed summation order, so results do not depend on the thread count.
use super::subband::{sweep_error, ChannelBlocks};
use super::validate;
use super::{ArraySink, DedispError, DedispersedSeries, Dedisperser, TrialSink};
use crate::consts::K_DM;
use crate::io::{Header, Observation};
use ndarray::Array2;
use rayon::prelude::*;

/// FDMT dedispersion (module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdmtDedisperser {
    /// Output samples (after downsampling) computed per block (≥ 1).
    pub block_size: usize,
}

impl Default for FdmtDedisperser {
    /// `block_size` 8192 samples.
    fn default() -> Self {
        FdmtDedisperser { block_size: 8192 }
    }
}

/// One sub-band of one FDMT level.
#[derive(Debug, Clone)]
struct Band {
    /// Rows `0 ..= max_delay`.
    nrows: usize,
    /// Largest offset (samples) at which a path enters the sub-band.
    excess: usize,
    /// For levels ≥ 1: delay of the upper half for each row.
    du: Vec<usize>,
}

/// The FDMT geometry for one header, downsampling and largest row.
#[derive(Debug, Clone)]
pub struct FdmtPlan {
    /// Channel count after padding to a power of two.
    pub nchans_padded: usize,
    /// Channel centres in FDMT order (decreasing), padded, MHz.
    pub freqs_mhz: Vec<f64>,
    /// Rows per unit DM, `K_DM · G / t` (0 for a single channel).
    pub rows_per_dm: f64,
    /// FDMT index → file channel, for the real channels.
    order: Vec<usize>,
    /// `levels[k]` has `nchans_padded >> k` bands.
    levels: Vec<Vec<Band>>,
}

/// Channel centres in FDMT order (decreasing) padded to a power of two, the file channel of
/// each real one, and rows per unit DM.
fn geometry(header: &Header, downsamp: usize) -> Result<(Vec<f64>, Vec<usize>, f64), DedispError> {
    let freqs = header.chan_freqs_mhz();
    if freqs.is_empty() || freqs.iter().any(|f| !(*f > 0.0 && f.is_finite())) || !(header.tsamp_s > 0.0) {
        return Err(DedispError::Invalid("FDMT: header has no channels, a bad frequency or tsamp".into()));
    }
    let mut order: Vec<usize> = (0..freqs.len()).collect();
    order.sort_by(|&a, &b| freqs[b].total_cmp(&freqs[a]));
    let n = freqs.len().next_power_of_two();
    let mut nu: Vec<f64> = order.iter().map(|&c| freqs[c]).collect();
    let last = nu[nu.len() - 1];
    let step = header.chan_bw_mhz();
    for k in 1..=n - freqs.len() {
        let f = last - k as f64 * step;
        if !(f > 0.0) {
            return Err(DedispError::Invalid(format!(
                "FDMT: padding {} channels to {n} would need a frequency {f} MHz ≤ 0",
                freqs.len()
            )));
        }
        nu.push(f);
    }
    let bnd = cell_boundaries(&nu);
    if !(bnd[n] > 0.0 && bnd[n].is_finite()) {
        let bottom = if n > 1 { nu[n - 1] - 0.5 * (nu[n - 2] - nu[n - 1]) } else { nu[0] };
        return Err(DedispError::Invalid(format!(
            "FDMT: the bottom edge of the band, {bottom} MHz, is not above 0 MHz"
        )));
    }
    let t = header.tsamp_s * downsamp.max(1) as f64;
    let g_span = bnd[n] - bnd[0];
    Ok((nu, order, K_DM * g_span / t))
}

/// Cell boundaries in `g = ν⁻²` of channels with centres `nu` (MHz, decreasing, padded):
/// `n + 1` values, `b_0 = ν_0⁻²` (the top channel's centre), `b_i = ((ν_{i−1} + ν_i)/2)⁻²` and
/// `b_n = (ν_{n−1} − (ν_{n−2} − ν_{n−1})/2)⁻²` (module documentation). A single channel's cell
/// is its centre alone. The bottom edge may be ≤ 0 MHz; [`geometry`] checks it.
fn cell_boundaries(nu: &[f64]) -> Vec<f64> {
    let n = nu.len();
    let mut b = Vec::with_capacity(n + 1);
    b.push(nu[0].powi(-2));
    for i in 1..n {
        b.push((0.5 * (nu[i - 1] + nu[i])).powi(-2));
    }
    if n >= 2 {
        let bottom = nu[n - 1] - 0.5 * (nu[n - 2] - nu[n - 1]);
        b.push(if bottom > 0.0 { bottom.powi(-2) } else { f64::INFINITY });
    } else {
        b.push(b[0]);
    }
    b
}

/// The DMs (pc cm⁻³) of the FDMT delay rows `0 ..= round(max_dm · K_DM·G/t)` for this header at
/// sampling time `t = tsamp · downsamp`: `DM_d = d·t / (K_DM·G)`, `G = e_bot⁻² − f_top⁻²` from the
/// top channel centre to the bottom edge of the band after padding (module documentation). Returns `[0.0]` for a single
/// channel and an empty list for an unusable header or a negative/non-finite `max_dm`.
pub fn fdmt_dm_grid(header: &Header, max_dm: f64, downsamp: usize) -> Vec<f64> {
    let Ok((_, _, c)) = geometry(header, downsamp) else { return Vec::new() };
    if !(max_dm >= 0.0 && max_dm.is_finite()) {
        return Vec::new();
    }
    if !(c > 0.0) {
        return vec![0.0];
    }
    let top = (max_dm * c).round() as usize;
    (0..=top).map(|d| d as f64 / c).collect()
}

impl FdmtPlan {
    /// The FDMT geometry for rows `0 ..= max_row` (module documentation).
    ///
    /// # Errors
    /// [`DedispError::Invalid`] for a header with no channels, a non-positive frequency or
    /// tsamp, or padding that would reach a non-positive frequency.
    pub fn new(header: &Header, downsamp: usize, max_row: usize) -> Result<FdmtPlan, DedispError> {
        let (nu, order, rows_per_dm) = geometry(header, downsamp)?;
        let n = nu.len();
        let nlev = n.trailing_zeros() as usize;
        // Cell boundaries in g = ν⁻²: channel i spans [b_i, b_{i+1}].
        let bnd = cell_boundaries(&nu);
        let width = |k: usize, b: usize| bnd[(b + 1) << k] - bnd[b << k];
        let mut levels: Vec<Vec<Band>> = vec![Vec::new(); nlev + 1];
        let top_rows = if rows_per_dm > 0.0 { max_row + 1 } else { 1 };
        levels[nlev] = vec![Band { nrows: top_rows, excess: 0, du: Vec::new() }];
        for k in (1..=nlev).rev() {
            let nb = n >> (k - 1);
            let mut child = vec![Band { nrows: 1, excess: 0, du: Vec::new() }; nb];
            for b in 0..(n >> k) {
                let (wu, wb) = (width(k - 1, 2 * b), width(k, b));
                let band = &mut levels[k][b];
                band.du = (0..band.nrows)
                    .map(|d| if wb > 0.0 { (d as f64 * wu / wb).round() as usize } else { 0 }.min(d))
                    .collect();
                let du_max = band.du.iter().copied().max().unwrap_or(0);
                let dl_max = band.du.iter().enumerate().map(|(d, &u)| d - u).max().unwrap_or(0);
                child[2 * b] = Band { nrows: du_max + 1, excess: band.excess, du: Vec::new() };
                child[2 * b + 1] = Band { nrows: dl_max + 1, excess: band.excess + du_max, du: Vec::new() };
            }
            levels[k - 1] = child;
        }
        Ok(FdmtPlan { nchans_padded: n, freqs_mhz: nu, rows_per_dm, order, levels })
    }

    /// Per real channel (FDMT order), the `(offset, delay)` of row `row`'s path: channel `i`
    /// contributes samples `τ + offset ..= τ + offset + delay` to output sample `τ`.
    fn trace(&self, row: usize) -> Vec<(usize, usize)> {
        let nlev = self.levels.len() - 1;
        let mut cur = vec![(0usize, row)];
        for k in (1..=nlev).rev() {
            let mut next = Vec::with_capacity(cur.len() * 2);
            for (b, &(off, d)) in cur.iter().enumerate() {
                let du = self.levels[k][b].du[d];
                next.push((off, du));
                next.push((off + du, d - du));
            }
            cur = next;
        }
        cur.truncate(self.order.len());
        cur
    }

    /// Input samples beyond an output sample that the initialisation reads (buffer overlap).
    fn alloc_overlap(&self) -> usize {
        self.levels[0][..self.order.len()].iter().map(|b| b.excess + b.nrows - 1).max().unwrap_or(0)
    }
}

/// Splits `buf` into per-band slices of `nrows · (len + excess)` values.
fn split_bands<'a>(mut buf: &'a mut [f32], bands: &[Band], len: usize) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(bands.len());
    for b in bands {
        let (head, tail) = buf.split_at_mut(b.nrows * (len + b.excess));
        out.push(head);
        buf = tail;
    }
    out
}

/// Start offsets of each band's region in a level buffer.
fn band_offsets(bands: &[Band], len: usize) -> (Vec<usize>, usize) {
    let mut offs = Vec::with_capacity(bands.len());
    let mut o = 0;
    for b in bands {
        offs.push(o);
        o += b.nrows * (len + b.excess);
    }
    (offs, o)
}

/// One merge row: `out[τ] = up[τ] + lo[τ + du]`.
#[inline]
fn merge_row(out: &mut [f32], up: &[f32], lo: &[f32], du: usize) {
    let n = out.len();
    let (up, lo) = (&up[..n], &lo[du..du + n]);
    for t in 0..n {
        out[t] = up[t] + lo[t];
    }
}

/// `out[τ] += x[τ]` over `out`'s length.
#[inline]
fn add_row(out: &mut [f32], x: &[f32]) {
    let x = &x[..out.len()];
    for (o, v) in out.iter_mut().zip(x) {
        *o += *v;
    }
}

/// The rows of `dms`, their DMs, the plan and `M` (largest input offset of a used row).
struct Rows {
    rows: Vec<usize>,
    row_dms: Vec<f64>,
    plan: FdmtPlan,
    m_in: usize,
}

fn plan_rows(header: &Header, dms: &[f64], downsamp: usize) -> Result<Rows, DedispError> {
    let (_, _, c) = geometry(header, downsamp)?;
    let rows: Vec<usize> = dms.iter().map(|&dm| if c > 0.0 { (dm * c).round() as usize } else { 0 }).collect();
    let row_dms: Vec<f64> = rows.iter().zip(dms).map(|(&r, &dm)| if c > 0.0 { r as f64 / c } else { dm }).collect();
    let max_row = rows.iter().copied().max().unwrap_or(0);
    let plan = FdmtPlan::new(header, downsamp, max_row)?;
    let mut used = rows.clone();
    used.sort_unstable();
    used.dedup();
    let m_in = used.iter().flat_map(|&r| plan.trace(r).into_iter().map(|(o, d)| o + d)).max().unwrap_or(0);
    Ok(Rows { rows, row_dms, plan, m_in })
}

impl FdmtDedisperser {
    /// As [`Dedisperser::dedisperse`], calling `progress(done, total)` (input samples) after each block.
    ///
    /// # Errors
    /// [`DedispError::Invalid`] when `downsamp` or `block_size` is 0, a DM is negative or not
    /// finite, the header is unusable, or the sweep of the largest requested row is not
    /// shorter than the downsampled data (TRAPS B13: an error, never wrapped output).
    /// [`DedispError::Io`] from the reader.
    pub fn dedisperse_with_progress(
        &self,
        obs: &mut dyn Observation,
        dms: &[f64],
        downsamp: usize,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<DedispersedSeries, DedispError> {
        validate(obs, dms, downsamp, self.block_size, "FDMT")?;
        let header = obs.header().clone();
        let r = plan_rows(&header, dms, downsamp)?;
        let tsamp_out = header.tsamp_s * downsamp as f64;
        let n_ds = (header.nsamples / downsamp as u64) as usize;
        if r.m_in >= n_ds {
            return Err(sweep_error(obs, &r.row_dms, r.m_in, n_ds, tsamp_out));
        }
        let nout = n_ds - r.m_in;
        let mut data = Array2::<f32>::zeros((dms.len(), nout));
        if dms.is_empty() {
            return Ok(DedispersedSeries { dms: vec![], tsamp_s: tsamp_out, downsamp, data });
        }
        let row_dms = self.stream(obs, dms, downsamp, nout, &mut ArraySink(&mut data), progress)?;
        Ok(DedispersedSeries { dms: row_dms, tsamp_s: tsamp_out, downsamp, data })
    }

    /// The streaming pass of [`Dedisperser::stream`]: every level computed once per block for all rows.
    fn stream_impl(
        &self,
        obs: &mut dyn Observation,
        dms: &[f64],
        downsamp: usize,
        nout: usize,
        sink: &mut dyn TrialSink,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<f64>, DedispError> {
        validate(obs, dms, downsamp, self.block_size, "FDMT")?;
        let header = obs.header().clone();
        let Rows { rows, row_dms, plan, m_in } = plan_rows(&header, dms, downsamp)?;
        let tsamp_out = header.tsamp_s * downsamp as f64;
        let n_ds = (header.nsamples / downsamp as u64) as usize;
        if m_in + nout > n_ds || nout == 0 {
            return Err(sweep_error(obs, &row_dms, m_in, n_ds, tsamp_out));
        }
        if dms.is_empty() {
            return Ok(Vec::new());
        }
        let block = self.block_size.min(nout);
        let overlap = plan.alloc_overlap();
        let mut blocks = ChannelBlocks::new(header.nchans, downsamp, n_ds, block, overlap);
        let stride = blocks.stride();
        let nreal = plan.order.len();
        let nlev = plan.levels.len() - 1;
        let total = (n_ds * downsamp) as u64;
        let (mut cur, mut next): (Vec<f32>, Vec<f32>) = (Vec::new(), Vec::new());
        let mut stage = vec![0f32; rows.len() * block];

        let mut o0 = 0;
        while o0 < nout {
            let len = block.min(nout - o0);
            blocks.load(obs, o0, len)?;
            let buf = &blocks.buf;
            // Level 1 straight from the input when there are two levels or more (level 0, the
            // largest buffer, is never stored: row d of sub-band b sums samples 0 ..= d_u of its
            // upper channel and d_u ..= d of its lower one, the same samples as the cumulative
            // sums of level 0 merged); with one or two channels, level 0 as cumulative sums.
            let first = if nlev >= 2 { 2 } else { 1 };
            if nlev >= 2 {
                let (_, size1) = band_offsets(&plan.levels[1], len);
                cur.resize(size1, 0.0);
                let parts = split_bands(&mut cur, &plan.levels[1], len);
                parts.into_par_iter().zip(plan.levels[1].par_iter()).enumerate().for_each(|(b, (part, band))| {
                    let t = len + band.excess;
                    let chan =
                        |i: usize| (i < nreal).then(|| &buf[plan.order[i] * stride..(plan.order[i] + 1) * stride]);
                    let (xu, xl) = (chan(2 * b), chan(2 * b + 1));
                    for (d, row) in part.chunks_exact_mut(t).enumerate() {
                        let du = band.du[d];
                        row.fill(0.0);
                        if let Some(x) = xu {
                            for j in 0..=du {
                                add_row(row, &x[j..j + t]);
                            }
                        }
                        if let Some(x) = xl {
                            for j in du..=d {
                                add_row(row, &x[j..j + t]);
                            }
                        }
                    }
                });
            } else {
                let (_, size0) = band_offsets(&plan.levels[0], len);
                cur.resize(size0, 0.0);
                let parts = split_bands(&mut cur, &plan.levels[0], len);
                parts.into_par_iter().enumerate().for_each(|(i, part)| {
                    let t = len + plan.levels[0][i].excess;
                    if i >= nreal {
                        part.fill(0.0);
                        return;
                    }
                    let x = &buf[plan.order[i] * stride..(plan.order[i] + 1) * stride];
                    part[..t].copy_from_slice(&x[..t]);
                    for d in 1..plan.levels[0][i].nrows {
                        let (prev, row) = part[(d - 1) * t..(d + 1) * t].split_at_mut(t);
                        merge_row(row, prev, x, d);
                    }
                });
            }
            // Merges up to the level below the top.
            for k in first..nlev {
                let (src_offs, _) = band_offsets(&plan.levels[k - 1], len);
                let (_, size) = band_offsets(&plan.levels[k], len);
                next.resize(size, 0.0);
                let src = &cur;
                let below = &plan.levels[k - 1];
                let parts = split_bands(&mut next, &plan.levels[k], len);
                parts.into_par_iter().zip(plan.levels[k].par_iter()).enumerate().for_each(|(b, (part, band))| {
                    let t = len + band.excess;
                    let (u, l) = (2 * b, 2 * b + 1);
                    let (tu, tl) = (len + below[u].excess, len + below[l].excess);
                    part.par_chunks_mut(t).enumerate().for_each(|(d, row)| {
                        let du = band.du[d];
                        let up = &src[src_offs[u] + du * tu..][..tu];
                        let lo = &src[src_offs[l] + (d - du) * tl..][..tl];
                        merge_row(row, up, lo, du);
                    });
                });
                std::mem::swap(&mut cur, &mut next);
            }
            // Top level: only the requested rows, into the output block.
            let out_rows = &mut stage[..rows.len() * len];
            let src = &cur;
            if nlev == 0 {
                out_rows.par_chunks_mut(len).for_each(|row| row.copy_from_slice(&src[..len]));
            } else {
                let below = &plan.levels[nlev - 1];
                let (src_offs, _) = band_offsets(below, len);
                let top = &plan.levels[nlev][0];
                let (tu, tl) = (len + below[0].excess, len + below[1].excess);
                out_rows.par_chunks_mut(len).zip(rows.par_iter()).for_each(|(row, &d)| {
                    let du = top.du[d];
                    let up = &src[src_offs[0] + du * tu..][..tu];
                    let lo = &src[src_offs[1] + (d - du) * tl..][..tl];
                    merge_row(row, up, lo, du);
                });
            }
            sink.put(o0, len, out_rows)?;
            o0 += len;
            progress(((o0 + m_in).min(n_ds) * downsamp) as u64, total);
        }
        Ok(row_dms)
    }
}

impl FdmtDedisperser {
    /// Additions per output sample of [`Dedisperser::stream`] for `dms` at `downsamp` with this
    /// block size, counted from the plan: every level's rows `Σ_k Σ_b (D_b + 1)`, each computed
    /// for `block + O_b` samples per `block` output samples (the block overlap is recomputed, a
    /// second partial pass), plus the copy of the channel-major input. `None` for an unusable
    /// header. This is what `crate::pipeline::choose_dedisperser` charges FDMT (the memory
    /// traffic of a level is one read of two rows and one write per addition).
    pub fn adds_per_sample(&self, header: &Header, dms: &[f64], downsamp: usize) -> Option<f64> {
        let r = plan_rows(header, dms, downsamp).ok()?;
        let block = self.block_size.max(1) as f64;
        let nlev = r.plan.levels.len() - 1;
        let mut adds = 0.0;
        for (k, level) in r.plan.levels.iter().enumerate() {
            for b in level {
                // the top level computes only the requested rows
                let rows = if k == nlev && nlev > 0 { dms.len() as f64 } else { b.nrows as f64 };
                adds += rows * (block + b.excess as f64) / block;
            }
        }
        Some(adds)
    }
}

impl Dedisperser for FdmtDedisperser {
    fn name(&self) -> &'static str {
        "fdmt"
    }

    /// `M`: the largest input offset any requested row touches in a real channel.
    fn overlap(&self, header: &Header, dms: &[f64], downsamp: usize) -> Result<usize, DedispError> {
        Ok(plan_rows(header, dms, downsamp)?.m_in)
    }

    /// Input buffer, the two largest levels held (`4 Σ_b (D_b + 1)(block + O_b)` bytes each;
    /// level 0 is not held when there are four channels or more) and the output block.
    fn work_bytes(&self, header: &Header, dms: &[f64], downsamp: usize) -> usize {
        let Ok(r) = plan_rows(header, dms, downsamp) else { return 0 };
        // Levels held in memory: 1 … nlev−1 (level 1 is computed from the input), or level 0
        // alone for one or two channels; the top level goes straight to the output block.
        let nlev = r.plan.levels.len() - 1;
        let held = if nlev >= 2 { &r.plan.levels[1..nlev] } else { &r.plan.levels[..1] };
        let mut sizes: Vec<usize> = held.iter().map(|l| band_offsets(l, self.block_size).1).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let levels = 4 * (sizes.first().copied().unwrap_or(0) + sizes.get(1).copied().unwrap_or(0));
        ChannelBlocks::bytes(header.nchans, downsamp, self.block_size, r.plan.alloc_overlap())
            + levels
            + 4 * dms.len() * self.block_size
    }

    /// FDMT (module documentation) of all `dms` in one pass; returns the DMs of the rows used.
    fn stream(
        &self,
        obs: &mut dyn Observation,
        dms: &[f64],
        downsamp: usize,
        nout: usize,
        sink: &mut dyn TrialSink,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<f64>, DedispError> {
        self.stream_impl(obs, dms, downsamp, nout, sink, progress)
    }
}
