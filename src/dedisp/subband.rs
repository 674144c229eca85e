//! Two-stage subband dedispersion (the scheme of PRESTO's `prepsubband`).
//!
//! The `nchans` channels (file order) are split into `nsub` contiguous subbands. Requested DMs
//! are grouped around coarse ("nominal") DMs.
//!
//! * **Stage 1**: for each coarse DM `D`, each subband `s` is dedispersed on its own,
//!   `sub_{s,D}[u] = Σ_{c∈s} x_c[u + d1_c]`, with `d1_c = round(K_DM·D·(f_c⁻² − f_{s}⁻²)/t)`
//!   and `f_s` the highest channel centre of subband `s` (so the subband series is referred
//!   to its own top channel).
//! * **Stage 2**: for each requested (fine) DM `d` of the group,
//!   `out[t] = Σ_s sub_{s,D}[t + d2_s]`, `d2_s = round(K_DM·d·(f_s⁻² − f_top⁻²)/t)`, with
//!   `f_top` the highest channel centre of the band.
//!
//! Here `K_DM` = 4.148808e3 s MHz² pc⁻¹ cm³ and `t` the sampling time after downsampling.
//! Cost per output sample: `ncoarse·nchans + ndm·nsub` additions instead of `ndm·nchans`.
//!
//! # Coarse DM spacing (the smearing tolerance)
//! Using `D` instead of `d` inside a subband misplaces channel `c` by
//! `|d − D|·K_DM·(f_c⁻² − f_s⁻²)/t` samples. With `A` the largest in-subband sweep per unit DM
//! over all subbands (samples per pc cm⁻³, the lowest subband), the sorted requested DMs are
//! grouped greedily so that each group spans at most `2·max_smear_samples/A` and `D` is the
//! midpoint of the group: every channel is then within `max_smear_samples` of where the fine DM
//! puts it (before the two ±½-sample roundings). The default tolerance is one sample.
//!
//! # Output convention
//! As [`super::direct`]: `[ndm][nsamples_out]`, time referred to the highest channel centre,
//! only fully covered samples: `nsamples_out = nsamples/downsamp − M`, where `M` is the largest
//! composite delay `d1_c + d2_s` used (equal to direct's largest delay, or a sample or two
//! more from rounding the two stages separately and from the coarse DM of the top group).
//! At DM 0 every delay is 0 and the result is the channel sum (added per subband, then over
//! subbands, so equal to direct's to float rounding).
//!
//! # Blocks, memory, parallelism
//! The observation is read in blocks of `block_size` output samples into a channel-major buffer
//! `[nchans][block_size + M]` `f32` whose last `M` samples are carried to the next block (each
//! input sample read once). Each group of DMs uses a scratch `[nsub][block_size + M2]` (`M2` its
//! largest stage-2 delay). Rayon runs over DM groups, subbands (stage 1) and fine DMs (stage 2);
//! each output sample is written by one task with a fixed summation order, so results do not
//! depend on the thread count.
use super::direct::{dedisperse_block, TILE};
use super::{ArraySink, DedispError, DedispersedSeries, Dedisperser, TrialSink};
use crate::consts::K_DM;
use crate::io::{Header, Observation};
use ndarray::Array2;
use rayon::prelude::*;
use std::ops::Range;

/// One DM group's index and its fine DMs' output rows with their stage-2 delays.
type GroupOutputs<'a> = (usize, Vec<(&'a mut [f32], &'a [usize])>);

/// Two-stage subband dedispersion (module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubbandDedisperser {
    /// Number of subbands (1 ≤ nsub ≤ nchans); 0 chooses it with [`auto_nsub`].
    pub nsub: usize,
    /// Output samples (after downsampling) computed per block read from the observation (≥ 1).
    pub block_size: usize,
    /// Largest in-subband misplacement allowed from using the coarse DM, samples (> 0).
    pub max_smear_samples: f64,
}

impl Default for SubbandDedisperser {
    /// `nsub` automatic, `block_size` 8192, `max_smear_samples` 1.0.
    fn default() -> Self {
        SubbandDedisperser { nsub: 0, block_size: 8192, max_smear_samples: 1.0 }
    }
}

/// The delays and DM groups of one subband dedispersion run.
#[derive(Debug, Clone, PartialEq)]
pub struct SubbandPlan {
    /// Channel ranges (file order) of the subbands, length `nsub`.
    pub subbands: Vec<Range<usize>>,
    /// Coarse (stage-1) DMs, pc cm⁻³, length `ncoarse`.
    pub coarse_dms: Vec<f64>,
    /// For each coarse DM, the indices (into the requested DM list) of its fine DMs.
    pub members: Vec<Vec<usize>>,
    /// Stage-1 delays `[ncoarse][nchans]`, samples, relative to each subband's top channel.
    pub stage1_delays: Vec<Vec<usize>>,
    /// Stage-2 delays `[ndm][nsub]`, samples, of each subband's top channel relative to the band top.
    pub stage2_delays: Vec<Vec<usize>>,
    /// Largest composite delay `d1 + d2` (samples beyond an output sample that it needs).
    pub max_delay: usize,
    /// Worst in-subband misplacement from the coarse DM error, samples (≤ the tolerance).
    pub max_smear_samples: f64,
}

/// Splits `nchans` channels into `nsub` contiguous, balanced ranges (file order).
pub fn subband_ranges(nchans: usize, nsub: usize) -> Vec<Range<usize>> {
    (0..nsub).map(|s| s * nchans / nsub..(s + 1) * nchans / nsub).collect()
}

/// Largest in-subband dispersion sweep per unit DM over the subbands, samples per pc cm⁻³.
fn sweep_per_dm(freqs: &[f64], ranges: &[Range<usize>], tsamp_s: f64) -> f64 {
    ranges
        .iter()
        .map(|r| {
            let f = &freqs[r.clone()];
            let hi = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lo = f.iter().copied().fold(f64::INFINITY, f64::min);
            K_DM * (lo.powi(-2) - hi.powi(-2)) / tsamp_s
        })
        .fold(0.0, f64::max)
}

/// Groups the DMs: returns (coarse DMs, members). Groups span ≤ `2·tol/a` pc cm⁻³.
fn group_dms(dms: &[f64], a: f64, tol: f64) -> (Vec<f64>, Vec<Vec<usize>>) {
    let mut order: Vec<usize> = (0..dms.len()).collect();
    order.sort_by(|&i, &j| dms[i].total_cmp(&dms[j]));
    let width = if a > 0.0 { 2.0 * tol / a } else { f64::INFINITY };
    let (mut coarse, mut members) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < order.len() {
        let lo = dms[order[i]];
        let mut j = i;
        while j < order.len() && dms[order[j]] <= lo + width {
            j += 1;
        }
        let hi = dms[order[j - 1]];
        coarse.push(0.5 * (lo + hi));
        members.push(order[i..j].to_vec());
        i = j;
    }
    (coarse, members)
}

/// The number of subbands that minimises the estimated additions per output sample,
/// `ncoarse(nsub)·nchans + ndm·nsub`, over powers of two up to `nchans` (and `nchans` itself),
/// for DMs `dms` at sampling time `tsamp · downsamp` and tolerance `max_smear_samples`.
pub fn auto_nsub(header: &Header, dms: &[f64], downsamp: usize, max_smear_samples: f64) -> usize {
    let freqs = header.chan_freqs_mhz();
    let nchans = freqs.len().max(1);
    let t = header.tsamp_s * downsamp.max(1) as f64;
    let mut cands: Vec<usize> = (0..).map(|k| 1usize << k).take_while(|&n| n < nchans).collect();
    cands.push(nchans);
    let cost = |nsub: usize| {
        let a = sweep_per_dm(&freqs, &subband_ranges(nchans, nsub), t);
        let (coarse, _) = group_dms(dms, a, max_smear_samples);
        coarse.len() * nchans + dms.len() * nsub
    };
    cands.into_iter().min_by_key(|&n| cost(n)).unwrap_or(1)
}

/// The B13 error: the sweep needs `max_delay` samples but the data have `n_ds`.
pub(crate) fn sweep_error(
    obs: &dyn Observation,
    dms: &[f64],
    max_delay: usize,
    n_ds: usize,
    tsamp: f64,
) -> DedispError {
    let worst = dms.iter().copied().fold(0.0, f64::max);
    DedispError::Invalid(format!(
        "{}: the dispersion sweep at DM {worst} spans {max_delay} samples of {tsamp} s, \
         but the data have only {n_ds}; no fully covered output sample (lower the DM range)",
        obs.source_description()
    ))
}

/// Largest `f32` block requested per `read_block` call when filling a block buffer, bytes
/// (8 MiB; at least one downsampled sample is read per call).
pub(crate) const READ_BYTES: usize = 8 << 20;

/// Downsampled samples per `read_block` call for `nchans` channels at `downsamp`.
pub(crate) fn read_chunk(nchans: usize, downsamp: usize) -> usize {
    (READ_BYTES / (4 * nchans.max(1) * downsamp.max(1))).max(1)
}

/// A channel-major buffer `[nchans][stride]` holding downsampled samples `o0 .. o0 + stride` of
/// the observation (zeros beyond its end), with the last `overlap` samples carried over in
/// memory when the next block follows on, so every input sample is read once.
pub(crate) struct ChannelBlocks {
    nchans: usize,
    downsamp: usize,
    n_ds: usize,
    overlap: usize,
    stride: usize,
    /// The buffer, `buf[c·stride + i]` = channel `c` (file order), downsampled sample `o0 + i`.
    pub(crate) buf: Vec<f32>,
    loaded: Option<(usize, usize)>,
}

impl ChannelBlocks {
    /// A buffer for blocks of up to `block` output samples needing `overlap` samples beyond.
    pub(crate) fn new(nchans: usize, downsamp: usize, n_ds: usize, block: usize, overlap: usize) -> Self {
        let stride = block + overlap;
        ChannelBlocks { nchans, downsamp, n_ds, overlap, stride, buf: vec![0f32; nchans * stride], loaded: None }
    }

    /// Bytes held by the buffer and by one read of the observation.
    pub(crate) fn bytes(nchans: usize, downsamp: usize, block: usize, overlap: usize) -> usize {
        4 * nchans * (block + overlap)
            + super::read_bytes(nchans, read_chunk(nchans, downsamp).min(block + overlap) * downsamp.max(1))
    }

    /// Row length of the buffer.
    pub(crate) fn stride(&self) -> usize {
        self.stride
    }

    /// Fills the buffer with downsampled samples `o0 .. o0 + len + overlap` (`len` ≤ block).
    pub(crate) fn load(&mut self, obs: &mut dyn Observation, o0: usize, len: usize) -> Result<(), DedispError> {
        let (stride, ov) = (self.stride, self.overlap);
        let mut col = 0;
        if let Some((p0, plen)) = self.loaded {
            if p0 + plen == o0 && ov > 0 {
                for c in 0..self.nchans {
                    self.buf.copy_within(c * stride + plen..c * stride + plen + ov, c * stride);
                }
                col = ov;
            }
        }
        let end = len + ov;
        while col < end {
            let s = o0 + col;
            if s >= self.n_ds {
                for c in 0..self.nchans {
                    self.buf[c * stride + col..c * stride + end].fill(0.0);
                }
                break;
            }
            let n = (end - col).min(self.n_ds - s).min(read_chunk(self.nchans, self.downsamp));
            super::read_channel_major(obs, s, s + n, self.downsamp, &mut self.buf, stride, col)?;
            col += n;
        }
        self.loaded = Some((o0, len));
        Ok(())
    }
}

impl SubbandDedisperser {
    /// The subbands, DM groups and delays for `dms` (pc cm⁻³) at downsampling `downsamp`.
    ///
    /// # Errors
    /// [`DedispError::Invalid`] when `nsub > nchans`, `max_smear_samples ≤ 0`, or the header
    /// has no channels, a non-positive frequency or tsamp.
    pub fn plan(&self, header: &Header, dms: &[f64], downsamp: usize) -> Result<SubbandPlan, DedispError> {
        let freqs = header.chan_freqs_mhz();
        let nchans = freqs.len();
        if nchans == 0 || !(header.tsamp_s > 0.0) || freqs.iter().any(|f| !(*f > 0.0 && f.is_finite())) {
            return Err(DedispError::Invalid(
                "subband dedispersion: header has no channels, a bad frequency or tsamp".into(),
            ));
        }
        if !(self.max_smear_samples > 0.0 && self.max_smear_samples.is_finite()) {
            return Err(DedispError::Invalid(format!(
                "subband smearing tolerance {} samples is not positive",
                self.max_smear_samples
            )));
        }
        let nsub = if self.nsub == 0 { auto_nsub(header, dms, downsamp, self.max_smear_samples) } else { self.nsub };
        if nsub > nchans {
            return Err(DedispError::Invalid(format!("nsub = {nsub} is larger than the {nchans} channels")));
        }
        let t = header.tsamp_s * downsamp.max(1) as f64;
        let subbands = subband_ranges(nchans, nsub);
        let a = sweep_per_dm(&freqs, &subbands, t);
        let (coarse_dms, members) = group_dms(dms, a, self.max_smear_samples);
        let g = |f: f64| f.powi(-2);
        let f_top = freqs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sub_top: Vec<f64> =
            subbands.iter().map(|r| freqs[r.clone()].iter().copied().fold(f64::NEG_INFINITY, f64::max)).collect();
        let mut chan_top = vec![0.0; nchans];
        for (s, r) in subbands.iter().enumerate() {
            chan_top[r.clone()].iter_mut().for_each(|x| *x = sub_top[s]);
        }
        let stage1_delays: Vec<Vec<usize>> = coarse_dms
            .iter()
            .map(|&dm| (0..nchans).map(|c| (K_DM * dm * (g(freqs[c]) - g(chan_top[c])) / t).round() as usize).collect())
            .collect();
        let stage2_delays: Vec<Vec<usize>> = dms
            .iter()
            .map(|&dm| sub_top.iter().map(|&fs| (K_DM * dm * (g(fs) - g(f_top)) / t).round() as usize).collect())
            .collect();
        let mut max_delay = 0;
        let mut max_smear: f64 = 0.0;
        for (k, mem) in members.iter().enumerate() {
            for (s, r) in subbands.iter().enumerate() {
                let d1 = stage1_delays[k][r.clone()].iter().copied().max().unwrap_or(0);
                let d2 = mem.iter().map(|&j| stage2_delays[j][s]).max().unwrap_or(0);
                max_delay = max_delay.max(d1 + d2);
            }
            for &j in mem {
                max_smear = max_smear.max((dms[j] - coarse_dms[k]).abs() * a);
            }
        }
        Ok(SubbandPlan {
            subbands,
            coarse_dms,
            members,
            stage1_delays,
            stage2_delays,
            max_delay,
            max_smear_samples: max_smear,
        })
    }

    /// As [`Dedisperser::dedisperse`], calling `progress(done, total)` (input samples) after each block.
    ///
    /// # Errors
    /// [`DedispError::Invalid`] when `downsamp` or `block_size` is 0, a DM is negative or not
    /// finite, the header is unusable, `nsub > nchans`, or the largest composite delay is not
    /// shorter than the downsampled data (TRAPS B13: an error, never a wrapped or padded series).
    /// [`DedispError::Io`] from the reader.
    pub fn dedisperse_with_progress(
        &self,
        obs: &mut dyn Observation,
        dms: &[f64],
        downsamp: usize,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<DedispersedSeries, DedispError> {
        super::validate(obs, dms, downsamp, self.block_size, "subband")?;
        let header = obs.header().clone();
        let tsamp_out = header.tsamp_s * downsamp as f64;
        if dms.is_empty() {
            return Ok(DedispersedSeries { dms: vec![], tsamp_s: tsamp_out, downsamp, data: Array2::zeros((0, 0)) });
        }
        let m = self.overlap(&header, dms, downsamp)?;
        let n_ds = (header.nsamples / downsamp as u64) as usize;
        if m >= n_ds {
            return Err(sweep_error(obs, dms, m, n_ds, tsamp_out));
        }
        let mut data = Array2::<f32>::zeros((dms.len(), n_ds - m));
        self.stream(obs, dms, downsamp, n_ds - m, &mut ArraySink(&mut data), progress)?;
        Ok(DedispersedSeries { dms: dms.to_vec(), tsamp_s: tsamp_out, downsamp, data })
    }

    /// The streaming pass of [`Dedisperser::stream`].
    fn stream_impl(
        &self,
        obs: &mut dyn Observation,
        dms: &[f64],
        downsamp: usize,
        nout: usize,
        sink: &mut dyn TrialSink,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<f64>, DedispError> {
        super::validate(obs, dms, downsamp, self.block_size, "subband")?;
        let header = obs.header().clone();
        if dms.is_empty() {
            return Ok(Vec::new());
        }
        let plan = self.plan(&header, dms, downsamp)?;
        let nchans = header.nchans;
        let tsamp_out = header.tsamp_s * downsamp as f64;
        let n_ds = (header.nsamples / downsamp as u64) as usize;
        let m = plan.max_delay;
        if m + nout > n_ds || nout == 0 {
            return Err(sweep_error(obs, dms, m, n_ds, tsamp_out));
        }
        let block = self.block_size.min(nout);
        let mut blocks = ChannelBlocks::new(nchans, downsamp, n_ds, block, m);
        let stride = blocks.stride();
        let total = (n_ds * downsamp) as u64;
        let mut stage = vec![0f32; dms.len() * block];
        // Largest stage-2 delay of each group.
        let m2: Vec<usize> = plan
            .members
            .iter()
            .map(|mem| mem.iter().flat_map(|&j| plan.stage2_delays[j].iter().copied()).max().unwrap_or(0))
            .collect();
        let nsub = plan.subbands.len();

        let mut o0 = 0;
        while o0 < nout {
            let len = block.min(nout - o0);
            blocks.load(obs, o0, len)?;
            let buf = &blocks.buf;
            // Hand each group the output rows of its fine DMs.
            let rows = &mut stage[..dms.len() * len];
            let mut slots: Vec<Option<&mut [f32]>> = rows.chunks_mut(len).map(Some).collect();
            let groups: Vec<GroupOutputs> = plan
                .members
                .iter()
                .enumerate()
                .map(|(k, mem)| {
                    let outs = mem
                        .iter()
                        .filter_map(|&j| slots[j].take().map(|r| (r, plan.stage2_delays[j].as_slice())))
                        .collect();
                    (k, outs)
                })
                .collect();
            let plan_ref = &plan;
            let m2_ref = &m2;
            groups.into_par_iter().for_each(|(k, outs)| {
                let sstride = len + m2_ref[k];
                let mut sub = vec![0f32; nsub * sstride];
                // Stage 1: each subband at the coarse DM.
                sub.par_chunks_mut(sstride).zip(plan_ref.subbands.par_iter()).for_each(|(srow, r)| {
                    let d1 = &plan_ref.stage1_delays[k][r.clone()];
                    let base = &buf[r.start * stride..];
                    srow.chunks_mut(TILE).enumerate().for_each(|(i, tile)| {
                        dedisperse_block(&base[i * TILE..], stride, d1, tile);
                    });
                });
                // Stage 2: subbands at each fine DM.
                let sub = &sub;
                outs.into_par_iter().for_each(|(out, d2)| {
                    out.chunks_mut(TILE).enumerate().for_each(|(i, tile)| {
                        dedisperse_block(&sub[i * TILE..], sstride, d2, tile);
                    });
                });
            });
            sink.put(o0, len, &stage[..dms.len() * len])?;
            o0 += len;
            progress(((o0 + m).min(n_ds) * downsamp) as u64, total);
        }
        Ok(dms.to_vec())
    }
}

impl Dedisperser for SubbandDedisperser {
    fn name(&self) -> &'static str {
        "subband"
    }

    /// The largest composite delay of [`SubbandDedisperser::plan`] for all of `dms`.
    fn overlap(&self, header: &Header, dms: &[f64], downsamp: usize) -> Result<usize, DedispError> {
        if dms.is_empty() {
            return Ok(0);
        }
        Ok(self.plan(header, dms, downsamp)?.max_delay)
    }

    /// Input buffer, output block, and one `[nsub][block + M2]` scratch per thread.
    fn work_bytes(&self, header: &Header, dms: &[f64], downsamp: usize) -> usize {
        let Ok(plan) = self.plan(header, dms, downsamp) else { return 0 };
        let m2 = plan.stage2_delays.iter().flatten().copied().max().unwrap_or(0);
        let threads = rayon::current_num_threads().max(1).min(plan.coarse_dms.len().max(1));
        ChannelBlocks::bytes(header.nchans, downsamp, self.block_size, plan.max_delay)
            + 4 * dms.len() * self.block_size
            + threads * 4 * plan.subbands.len() * (self.block_size + m2)
    }

    /// Subband dedispersion (module documentation), every group of the plan of all `dms` from
    /// one pass; DMs exactly as requested.
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
