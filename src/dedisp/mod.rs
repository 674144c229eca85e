//! Dedispersion: DM plans and algorithms behind one trait ([`Dedisperser`]).
//!
//! Convention (all algorithms): channel `c` at centre frequency `f_c` (MHz) is delayed by
//! `K_DM · DM · (f_c⁻² − f_top⁻²)` seconds relative to `f_top`, the highest channel centre
//! (`consts::K_DM` = 4.148808e3 s MHz² pc⁻¹ cm³). Output sample `t` of a DM trial is the sum over
//! channels of input sample `t + delay_c` (delay rounded to the nearest sample for the direct
//! method), so output times refer to the top of the band. Output has only fully-covered samples:
//! `nsamples_out = nsamples_in − max_delay` (no wrap-around, no padding; TRAPS B13).

pub mod direct;
pub mod fdmt;
pub mod fourier;
pub mod plan;
pub mod stream;
pub mod subband;

pub use direct::{dedisperse_series, DirectDedisperser};
pub use plan::{delay_samples, max_delay_samples, DmPlan, DmStep, GridKind, PlanConfig};

/// Errors of the dedispersion stage.
#[derive(Debug, thiserror::Error)]
pub enum DedispError {
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    #[error("{0}")]
    Invalid(String),
}

/// Dedispersed time series of one group of DM trials sharing one downsampling factor.
#[derive(Debug, Clone)]
pub struct DedispersedSeries {
    /// DM of each trial, pc cm⁻³, length `ndm`.
    pub dms: Vec<f64>,
    /// Sampling time of the output series, s (input tsamp × `downsamp`).
    pub tsamp_s: f64,
    /// Downsampling factor applied to the input before dedispersion.
    pub downsamp: usize,
    /// The series, `[ndm][nsamples_out]`: sum over channels, time referred to the top of the band.
    pub data: ndarray::Array2<f32>,
}

/// Receives dedispersed output block by block (what [`Dedisperser::stream`] writes to).
pub trait TrialSink {
    /// Columns `o0 .. o0 + len` of every trial: `rows` is `[ndm][len]` row-major (trial order as
    /// given to the dedisperser).
    ///
    /// # Errors
    /// [`DedispError`] when the sink cannot store the block (a scratch file write failed).
    fn put(&mut self, o0: usize, len: usize, rows: &[f32]) -> Result<(), DedispError>;
}

/// A [`TrialSink`] into an in-memory `[ndm][nout]` array.
pub struct ArraySink<'a>(pub &'a mut ndarray::Array2<f32>);

impl TrialSink for ArraySink<'_> {
    fn put(&mut self, o0: usize, len: usize, rows: &[f32]) -> Result<(), DedispError> {
        if len == 0 {
            return Ok(());
        }
        for (mut row, src) in self.0.outer_iter_mut().zip(rows.chunks(len)) {
            row.slice_mut(ndarray::s![o0..o0 + len]).iter_mut().zip(src).for_each(|(d, s)| *d = *s);
        }
        Ok(())
    }
}

/// A dedispersion algorithm: turns an [`crate::io::Observation`] into DM-trial time series.
///
/// Every implementation streams: [`Dedisperser::stream`] reads each input block once (cleaned by
/// the observation, downsampled and transposed once) and computes every requested trial from it,
/// writing the output block by block to a [`TrialSink`]; nothing is recomputed for other trials.
pub trait Dedisperser: Sync {
    /// Short name (`"direct"`, `"subband"`, `"fdmt"`, `"fdd"`).
    fn name(&self) -> &'static str;

    /// Downsampled input samples beyond an output sample that the trials `dms` need (the
    /// largest delay used, TRAPS B13): at most `n_in/downsamp − overlap` output samples exist.
    ///
    /// # Errors
    /// [`DedispError::Invalid`] for an unusable header or DM list.
    fn overlap(&self, header: &crate::io::Header, dms: &[f64], downsamp: usize) -> Result<usize, DedispError>;

    /// Estimated bytes of working memory of [`Dedisperser::stream`] for `dms` at `downsamp` with
    /// this dedisperser's block size (input buffer, algorithm levels or spectra, the
    /// `[ndm][block]` output block and the reader's block), not counting the sink.
    fn work_bytes(&self, header: &crate::io::Header, dms: &[f64], downsamp: usize) -> usize;

    /// Dedisperses `obs` at each DM in `dms` (pc cm⁻³) after downsampling by `downsamp` and writes
    /// output samples `0 .. nout` of every trial to `sink`, block by block, in one pass over the
    /// observation. Output sample `t` is the same whatever `nout`, the block size or the thread
    /// count. `progress(done, total)` counts input samples. Returns the DM of each output row
    /// (FDMT: the DM of its delay row).
    ///
    /// # Errors
    /// [`DedispError::Invalid`] for bad parameters or `nout + overlap > n_in/downsamp` (TRAPS B13);
    /// [`DedispError::Io`] from the reader; the sink's errors.
    fn stream(
        &self,
        obs: &mut dyn crate::io::Observation,
        dms: &[f64],
        downsamp: usize,
        nout: usize,
        sink: &mut dyn TrialSink,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<f64>, DedispError>;

    /// Dedisperses `obs` at each DM in `dms` (pc cm⁻³) after downsampling by `downsamp`,
    /// reading the observation in blocks so memory does not grow with its length. Output
    /// `[ndm][n_in/downsamp − overlap]` ([`Dedisperser::stream`] into an array).
    ///
    /// # Errors
    /// As [`Dedisperser::stream`]; a sweep not shorter than the data is [`DedispError::Invalid`].
    fn dedisperse(
        &self,
        obs: &mut dyn crate::io::Observation,
        dms: &[f64],
        downsamp: usize,
    ) -> Result<DedispersedSeries, DedispError> {
        validate(obs, dms, downsamp, 1, self.name())?;
        let header = obs.header().clone();
        let m = self.overlap(&header, dms, downsamp)?;
        let n_ds = (header.nsamples / downsamp as u64) as usize;
        let tsamp_s = header.tsamp_s * downsamp as f64;
        if m >= n_ds {
            return Err(subband::sweep_error(obs, dms, m, n_ds, tsamp_s));
        }
        let mut data = ndarray::Array2::<f32>::zeros((dms.len(), n_ds - m));
        let dms_out = self.stream(obs, dms, downsamp, n_ds - m, &mut ArraySink(&mut data), &mut |_, _| {})?;
        Ok(DedispersedSeries { dms: dms_out, tsamp_s, downsamp, data })
    }
}

/// The dedispersion algorithm of a search or a plan step (`--dedisp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DedispKind {
    /// The cost model's choice per plan step (`crate::pipeline::choose_dedisperser`).
    Auto,
    /// [`direct::DirectDedisperser`].
    Direct,
    /// [`subband::SubbandDedisperser`].
    Subband,
    /// [`fdmt::FdmtDedisperser`].
    Fdmt,
    /// [`fourier::FddDedisperser`] (fused with the FFT search in a pipeline).
    Fdd,
}

impl DedispKind {
    /// The command-line name (`auto`, `direct`, `subband`, `fdmt`, `fdd`).
    pub fn name(self) -> &'static str {
        match self {
            DedispKind::Auto => "auto",
            DedispKind::Direct => "direct",
            DedispKind::Subband => "subband",
            DedispKind::Fdmt => "fdmt",
            DedispKind::Fdd => "fdd",
        }
    }

    /// The dedisperser of this kind with `block_size` output samples per block; `None` for
    /// [`DedispKind::Auto`] (resolve it per plan step first).
    pub fn make(self, block_size: usize) -> Option<Box<dyn Dedisperser>> {
        let block_size = block_size.max(1);
        Some(match self {
            DedispKind::Auto => return None,
            DedispKind::Direct => Box::new(DirectDedisperser { block_size }),
            DedispKind::Subband => Box::new(subband::SubbandDedisperser { block_size, ..Default::default() }),
            DedispKind::Fdmt => Box::new(fdmt::FdmtDedisperser { block_size }),
            DedispKind::Fdd => Box::new(fourier::FddDedisperser { block_size, ..Default::default() }),
        })
    }
}

impl std::fmt::Display for DedispKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DedispKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => DedispKind::Auto,
            "direct" => DedispKind::Direct,
            "subband" => DedispKind::Subband,
            "fdmt" => DedispKind::Fdmt,
            "fdd" => DedispKind::Fdd,
            other => {
                return Err(format!(
                    "unknown dedispersion algorithm '{other}' (use direct, subband, fdmt, fdd or auto)"
                ))
            }
        })
    }
}

/// Bytes of one `read_block` call of `rows` spectra: the `f32` block the reader returns plus
/// its raw bytes (at most another `f32`'s worth).
pub(crate) fn read_bytes(nchans: usize, rows: usize) -> usize {
    2 * 4 * nchans * rows
}

/// Downsamples a time-major block and transposes it to channel-major: the shared first step of
/// every dedisperser.
///
/// `src` is `[nt·downsamp][nchans]` row-major; columns `offset .. offset + nt` of each row of `buf`
/// (`[nchans][stride]`) receive the sum of `downsamp` adjacent samples, added in time order from
/// 0.0 (so results are bit-identical whatever the thread count). Non-finite input samples count
/// as 0. Parallel (rayon) over groups of [`TRANSPOSE_GROUP`] channels; within a group, time runs
/// in steps of 16 samples and each step is transposed in register tiles of 8 channels × 16
/// samples, so the 16 input rows are read as contiguous runs and the group's output rows
/// (256 × 64 bytes per step) stay in cache until complete. (The earlier loop, 16 channels × all
/// samples per task, touched a new 4 KiB page per sample; on a 4096 × 18 432 block, 1 thread,
/// a standalone loop of each: 0.6–1.0 s before, 0.21 s tiled, on this loaded machine.)
///
/// # Panics
/// If `src` is shorter than `nt·downsamp·nchans` or a row of `buf` shorter than `offset + nt`
/// (the callers' layout contract, never data-dependent).
#[allow(clippy::needless_range_loop)] // tile[j][i] is written across rows: the index is the point
pub fn transpose_downsample(
    src: &[f32],
    nchans: usize,
    downsamp: usize,
    nt: usize,
    buf: &mut [f32],
    stride: usize,
    offset: usize,
) {
    use rayon::prelude::*;
    const TW: usize = 16;
    const CW: usize = 8;
    let clean = |x: f32| if x.is_finite() { x } else { 0.0 };
    buf.par_chunks_mut(stride * TRANSPOSE_GROUP).enumerate().for_each(|(g, rows)| {
        let c0 = g * TRANSPOSE_GROUP;
        let nc = rows.len() / stride;
        let mut t0 = 0;
        while t0 < nt {
            let tw = TW.min(nt - t0);
            let mut c = 0;
            while c < nc {
                let cw = CW.min(nc - c);
                let mut tile = [[0f32; TW]; CW];
                if cw == CW && tw == TW {
                    for i in 0..TW {
                        let base = (t0 + i) * downsamp * nchans + c0 + c;
                        let s: &[f32; CW] = src[base..base + CW].try_into().expect("CW samples");
                        for j in 0..CW {
                            tile[j][i] = 0.0 + clean(s[j]);
                        }
                        for k in 1..downsamp {
                            let b = base + k * nchans;
                            let s: &[f32; CW] = src[b..b + CW].try_into().expect("CW samples");
                            for j in 0..CW {
                                tile[j][i] += clean(s[j]);
                            }
                        }
                    }
                } else {
                    for i in 0..tw {
                        let base = (t0 + i) * downsamp * nchans + c0 + c;
                        for j in 0..cw {
                            tile[j][i] = 0.0 + clean(src[base + j]);
                        }
                        for k in 1..downsamp {
                            let b = base + k * nchans;
                            for j in 0..cw {
                                tile[j][i] += clean(src[b + j]);
                            }
                        }
                    }
                }
                for (j, t) in tile.iter().enumerate().take(cw) {
                    let o = (c + j) * stride + offset + t0;
                    rows[o..o + tw].copy_from_slice(&t[..tw]);
                }
                c += cw;
            }
            t0 += tw;
        }
    });
}

/// Channels per parallel task of [`transpose_downsample`].
pub const TRANSPOSE_GROUP: usize = 256;

/// Reads downsampled samples `a .. b` of `obs` into columns `offset ..` of the channel-major
/// buffer `rows` (`[nchans][stride]`), summing `downsamp` input samples per output sample
/// ([`transpose_downsample`]). A block of the wrong shape from the reader is an error.
pub(crate) fn read_channel_major(
    obs: &mut dyn crate::io::Observation,
    a: usize,
    b: usize,
    downsamp: usize,
    rows: &mut [f32],
    stride: usize,
    offset: usize,
) -> Result<(), DedispError> {
    let nchans = obs.header().nchans;
    let nt = b - a;
    if nt == 0 {
        return Ok(());
    }
    let raw = obs.read_block((a * downsamp) as u64, nt * downsamp)?;
    if raw.ncols() != nchans || raw.nrows() != nt * downsamp {
        return Err(DedispError::Invalid(format!(
            "{}: reader returned a {}×{} block, expected {}×{nchans}",
            obs.source_description(),
            raw.nrows(),
            raw.ncols(),
            nt * downsamp
        )));
    }
    let raw = raw.as_standard_layout();
    let src = raw.as_slice().ok_or_else(|| DedispError::Invalid("reader returned a non-contiguous block".into()))?;
    transpose_downsample(src, nchans, downsamp, nt, rows, stride, offset);
    Ok(())
}

/// Checks the arguments every dedisperser shares: `downsamp` and `block_size` ≥ 1, every DM
/// finite and ≥ 0, a header with channels, a positive finite tsamp and `nchans` positive channel
/// frequencies. `name` labels the block-size message.
///
/// # Errors
/// [`DedispError::Invalid`] naming the observation and the problem.
pub(crate) fn validate(
    obs: &dyn crate::io::Observation,
    dms: &[f64],
    downsamp: usize,
    block_size: usize,
    name: &str,
) -> Result<(), DedispError> {
    let header = obs.header();
    if downsamp == 0 {
        return Err(DedispError::Invalid("downsampling factor must be ≥ 1".into()));
    }
    if block_size == 0 {
        return Err(DedispError::Invalid(format!("{name} dedispersion block size must be ≥ 1")));
    }
    if let Some(d) = dms.iter().find(|d| !(**d >= 0.0 && d.is_finite())) {
        return Err(DedispError::Invalid(format!("DM {d} is negative or not finite")));
    }
    if header.nchans == 0 || !(header.tsamp_s > 0.0 && header.tsamp_s.is_finite()) {
        return Err(DedispError::Invalid(format!(
            "{}: header has {} channels and tsamp {} s",
            obs.source_description(),
            header.nchans,
            header.tsamp_s
        )));
    }
    let freqs = header.chan_freqs_mhz();
    if freqs.len() != header.nchans {
        return Err(DedispError::Invalid(format!(
            "{}: header frequency table does not have {} channels",
            obs.source_description(),
            header.nchans
        )));
    }
    if let Some(f) = freqs.iter().find(|f| !(**f > 0.0 && f.is_finite())) {
        return Err(DedispError::Invalid(format!(
            "{}: channel frequency {f} MHz is not positive",
            obs.source_description()
        )));
    }
    Ok(())
}
