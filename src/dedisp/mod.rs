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

/// A dedispersion algorithm: turns an [`crate::io::Observation`] into DM-trial time series.
pub trait Dedisperser: Sync {
    /// Short name (`"direct"`, `"subband"`, `"fdmt"`, `"fdd"`).
    fn name(&self) -> &'static str;
    /// Dedisperses `obs` at each DM in `dms` (pc cm⁻³) after downsampling by `downsamp`,
    /// reading the observation in blocks so memory does not grow with its length.
    fn dedisperse(
        &self,
        obs: &mut dyn crate::io::Observation,
        dms: &[f64],
        downsamp: usize,
    ) -> Result<DedispersedSeries, DedispError>;
}

/// Downsamples a time-major block and transposes it to channel-major: the shared first step of
/// every dedisperser.
///
/// `src` is `[nt·downsamp][nchans]` row-major; columns `offset .. offset + nt` of each row of `buf`
/// (`[nchans][stride]`) receive the sum of `downsamp` adjacent samples, added in time order from
/// 0.0 (so results are bit-identical whatever the thread count). Non-finite input samples count
/// as 0. Parallel (rayon) over groups of 16 channels.
///
/// # Panics
/// If `src` is shorter than `nt·downsamp·nchans` or a row of `buf` shorter than `offset + nt`
/// (the callers' layout contract, never data-dependent).
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
    const GROUP: usize = 16;
    buf.par_chunks_mut(stride * GROUP).enumerate().for_each(|(g, rows)| {
        let c0 = g * GROUP;
        let nc = rows.len() / stride;
        for r in 0..nc {
            rows[r * stride + offset..r * stride + offset + nt].fill(0.0);
        }
        for t in 0..nt {
            for j in 0..downsamp {
                let base = (t * downsamp + j) * nchans + c0;
                for (r, x) in src[base..base + nc].iter().enumerate() {
                    rows[r * stride + offset + t] += if x.is_finite() { *x } else { 0.0 };
                }
            }
        }
    });
}

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
