//! File formats and the format-neutral observation interface.
//!
//! * [`Header`]: everything a stage needs about an observation (band, channel frequencies,
//!   tsamp, nsamples, nbits, source, epoch). Both readers produce it; writers take it.
//! * [`Observation`]: `header()` plus block reads `[nsamples][nchans]` `f32`, implemented by the
//!   SIGPROC reader, the PSRFITS reader and the simulator's stream.
//! * [`open_observation`]: opens a file as an `Observation`, choosing the format by content.

pub mod candidates;
pub mod export;
pub mod h5file;
pub mod memory;
pub mod output;
pub mod presto;
pub mod psrfits;
pub mod sigproc;
pub mod truth;

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors from reading or writing observation files. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("{path}: {source}")]
    Os { path: PathBuf, source: std::io::Error },
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    #[error("{path}: not a SIGPROC filterbank or PSRFITS file (first bytes {first:02x?})")]
    UnknownFormat { path: PathBuf, first: Vec<u8> },
    #[error("{path}: requested samples {start}..{end} but the file has {nsamples}")]
    OutOfRange { path: PathBuf, start: u64, end: u64, nsamples: u64 },
}

impl IoError {
    /// Shorthand for a format error naming `path`.
    pub fn format(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        IoError::Format { path: path.as_ref().to_path_buf(), msg: msg.into() }
    }
    /// Checks a block request `start .. start + nsamples` against an observation of `total`
    /// samples; returns the end sample, or [`IoError::OutOfRange`] naming `path`.
    pub fn check_range(path: impl AsRef<Path>, start: u64, nsamples: usize, total: u64) -> Result<u64, IoError> {
        let end = start.saturating_add(nsamples as u64);
        if end > total {
            return Err(IoError::OutOfRange { path: path.as_ref().to_path_buf(), start, end, nsamples: total });
        }
        Ok(end)
    }
    /// Shorthand for an operating-system error naming `path`.
    pub fn os(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        IoError::Os { path: path.as_ref().to_path_buf(), source }
    }
}

/// Format-neutral observation header.
///
/// Channel frequencies are channel **centres** in MHz, in file order: channel `i` is at
/// `fch1_mhz + i·foff_mhz` unless `freqs_mhz` holds an explicit (possibly non-uniform) table
/// (SIGPROC `FREQUENCY_START`…`FREQUENCY_END`, or PSRFITS `DAT_FREQ`), which then wins.
/// `foff_mhz` may be negative (descending band, the usual SIGPROC order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Source name (SIGPROC `source_name`, PSRFITS `SRC_NAME`).
    pub source_name: String,
    /// Original raw data file name (SIGPROC `rawdatafile`), may be empty.
    pub rawdatafile: String,
    /// SIGPROC telescope id (FAST has no official id; tianyan writes 21 for FAST, see `sim::telescope`).
    pub telescope_id: i32,
    /// SIGPROC machine id.
    pub machine_id: i32,
    /// SIGPROC data type: 1 filterbank, 2 time series (0 is accepted as intensity data).
    pub data_type: i32,
    /// Start time, MJD (topocentric UTC).
    pub tstart_mjd: f64,
    /// Sampling time in seconds.
    pub tsamp_s: f64,
    /// Centre frequency of the first channel in the file, MHz.
    pub fch1_mhz: f64,
    /// Channel width in MHz (negative for a descending band).
    pub foff_mhz: f64,
    /// Explicit channel-centre table in MHz (file order), when the band is not uniform or came from a table.
    pub freqs_mhz: Option<Vec<f64>>,
    /// Number of frequency channels.
    pub nchans: usize,
    /// Bits per sample in the file (1, 2, 4, 8, 16, 32).
    pub nbits: u32,
    /// Number of IFs / polarisations stored in the file (SIGPROC `nifs`, PSRFITS `NPOL`).
    pub nifs: usize,
    /// Number of time samples (spectra) in the file.
    pub nsamples: u64,
    /// 8-bit samples are signed (SIGPROC `signed` = 1).
    pub signed: bool,
    /// Source right ascension, SIGPROC `src_raj` (hhmmss.s as a number).
    pub src_raj: Option<f64>,
    /// Source declination, SIGPROC `src_dej` (ddmmss.s as a number).
    pub src_dej: Option<f64>,
    /// Telescope azimuth at start, degrees.
    pub az_start: Option<f64>,
    /// Telescope zenith angle at start, degrees.
    pub za_start: Option<f64>,
    /// Reference DM of a dedispersed time series (SIGPROC `refdm`), pc cm⁻³.
    pub refdm: Option<f64>,
    /// Folding period (SIGPROC `period`), s.
    pub period: Option<f64>,
    /// SIGPROC `barycentric` flag.
    pub barycentric: Option<i32>,
    /// SIGPROC `pulsarcentric` flag.
    pub pulsarcentric: Option<i32>,
    /// SIGPROC `nbeams`.
    pub nbeams: Option<i32>,
    /// SIGPROC `ibeam`.
    pub ibeam: Option<i32>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            source_name: String::new(),
            rawdatafile: String::new(),
            telescope_id: 0,
            machine_id: 0,
            data_type: 1,
            tstart_mjd: 0.0,
            tsamp_s: 0.0,
            fch1_mhz: 0.0,
            foff_mhz: 0.0,
            freqs_mhz: None,
            nchans: 0,
            nbits: 8,
            nifs: 1,
            nsamples: 0,
            signed: false,
            src_raj: None,
            src_dej: None,
            az_start: None,
            za_start: None,
            refdm: None,
            period: None,
            barycentric: None,
            pulsarcentric: None,
            nbeams: None,
            ibeam: None,
        }
    }
}

impl Header {
    /// Channel-centre frequencies in MHz, file order, length `nchans`.
    pub fn chan_freqs_mhz(&self) -> Vec<f64> {
        match &self.freqs_mhz {
            Some(t) => t.clone(),
            None => (0..self.nchans).map(|i| self.fch1_mhz + i as f64 * self.foff_mhz).collect(),
        }
    }

    /// Absolute channel width in MHz (from `foff`, or the mean spacing of the table).
    pub fn chan_bw_mhz(&self) -> f64 {
        match &self.freqs_mhz {
            Some(t) if t.len() > 1 => ((t[t.len() - 1] - t[0]) / (t.len() - 1) as f64).abs(),
            _ => self.foff_mhz.abs(),
        }
    }

    /// Highest channel-centre frequency, MHz: tianyan's dispersion reference frequency.
    pub fn ftop_mhz(&self) -> f64 {
        self.chan_freqs_mhz().into_iter().fold(f64::NEG_INFINITY, f64::max)
    }

    /// Lowest channel-centre frequency, MHz.
    pub fn fbottom_mhz(&self) -> f64 {
        self.chan_freqs_mhz().into_iter().fold(f64::INFINITY, f64::min)
    }

    /// Band edges `(low, high)` in MHz: the outer edges of the extreme channels
    /// (centre ± half a channel width). TRAPS B10.
    pub fn band_edges_mhz(&self) -> (f64, f64) {
        let h = 0.5 * self.chan_bw_mhz();
        (self.fbottom_mhz() - h, self.ftop_mhz() + h)
    }

    /// Total bandwidth in MHz (`nchans · |foff|`).
    pub fn bandwidth_mhz(&self) -> f64 {
        let (lo, hi) = self.band_edges_mhz();
        hi - lo
    }

    /// Band centre in MHz (midpoint of the band edges; not `fch1 + nchans·foff/2`, TRAPS B10).
    pub fn centre_freq_mhz(&self) -> f64 {
        let (lo, hi) = self.band_edges_mhz();
        0.5 * (lo + hi)
    }

    /// Checks that the header describes a possible observation, so an impossible value is
    /// refused when the header is read (naming `path`) instead of failing later:
    /// `nchans ≥ 1`; `nbits` one of 1, 2, 4, 8, 16, 32; `tsamp` finite within
    /// [`TSAMP_RANGE_S`]; every channel centre finite, above 0 and at most [`MAX_FREQ_MHZ`];
    /// `foff` finite and non-zero when there are several channels (a frequency table must
    /// have distinct entries), so the band cannot reach or cross 0 MHz (lower band edge > 0);
    /// `tstart` finite.
    ///
    /// # Errors
    /// [`IoError::Format`] naming `path` and the value.
    pub fn check_physical(&self, path: &Path) -> Result<(), IoError> {
        let bad = |msg: String| Err(IoError::format(path, format!("impossible header value: {msg}")));
        if self.nchans == 0 {
            return bad("nchans = 0".into());
        }
        if ![1, 2, 4, 8, 16, 32].contains(&self.nbits) {
            return bad(format!("nbits = {} (supported: 1, 2, 4, 8, 16, 32)", self.nbits));
        }
        let (lo, hi) = TSAMP_RANGE_S;
        if !(self.tsamp_s.is_finite() && (lo..=hi).contains(&self.tsamp_s)) {
            return bad(format!("tsamp = {:e} s (expected {lo:e} to {hi:e} s)", self.tsamp_s));
        }
        if !self.tstart_mjd.is_finite() {
            return bad(format!("tstart = {} (MJD)", self.tstart_mjd));
        }
        if !self.fch1_mhz.is_finite() || self.fch1_mhz <= 0.0 {
            return bad(format!("fch1 = {} MHz (must be above 0)", self.fch1_mhz));
        }
        if !self.foff_mhz.is_finite() || (self.nchans > 1 && self.foff_mhz == 0.0 && self.freqs_mhz.is_none()) {
            return bad(format!("foff = {} MHz with {} channels", self.foff_mhz, self.nchans));
        }
        let freqs = self.chan_freqs_mhz();
        if let Some(f) = freqs.iter().find(|f| !f.is_finite() || **f <= 0.0 || **f > MAX_FREQ_MHZ) {
            return bad(format!(
                "a channel centre at {f} MHz (fch1 {} MHz, foff {} MHz, {} channels: the band must lie within 0–{MAX_FREQ_MHZ:e} MHz)",
                self.fch1_mhz, self.foff_mhz, self.nchans
            ));
        }
        if self.nchans > 1 && self.chan_bw_mhz() == 0.0 {
            return bad("every channel has the same frequency".into());
        }
        let (edge, _) = self.band_edges_mhz();
        if edge <= 0.0 {
            return bad(format!("the band's lower edge is {edge} MHz: the band reaches 0 MHz"));
        }
        Ok(())
    }

    /// Duration of the observation in seconds (`nsamples · tsamp`).
    pub fn duration_s(&self) -> f64 {
        self.nsamples as f64 * self.tsamp_s
    }
}

/// Sampling times accepted by [`Header::check_physical`], s: 1 ns (voltage sampling of a 1 GHz
/// band) to 10⁴ s (a heavily downsampled series).
pub const TSAMP_RANGE_S: (f64, f64) = (1e-9, 1e4);

/// Highest channel frequency accepted by [`Header::check_physical`], MHz (1 THz: far above any
/// pulsar receiver; a larger value is a corrupt header).
pub const MAX_FREQ_MHZ: f64 = 1e6;

/// Refuses a path that is not a regular file (a FIFO, device, socket or folder) before it is
/// opened: opening a FIFO blocks until a writer appears, and the readers need to seek.
///
/// # Errors
/// [`IoError::Os`] when `path` cannot be examined, [`IoError::Format`] naming what it is.
pub fn check_regular_file(path: &Path) -> Result<(), IoError> {
    let m = std::fs::metadata(path).map_err(|e| IoError::os(path, e))?;
    if m.is_file() {
        return Ok(());
    }
    let what = {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            let t = m.file_type();
            if t.is_fifo() {
                "a FIFO (named pipe)"
            } else if t.is_socket() {
                "a socket"
            } else if t.is_block_device() || t.is_char_device() {
                "a device"
            } else if t.is_dir() {
                "a folder"
            } else {
                "not a regular file"
            }
        }
        #[cfg(not(unix))]
        {
            if m.is_dir() {
                "a folder"
            } else {
                "not a regular file"
            }
        }
    };
    Err(IoError::format(path, format!("is {what}; tianyan reads only regular files (it seeks in them)")))
}

/// An observation read (or generated) in blocks.
///
/// `read_block(start_sample, nsamples)` returns an array of shape `[nsamples][nchans]`
/// (time-major, channels in file order) of `f32` values in the file's units (raw counts
/// for integer data, after any PSRFITS scaling). Reading past the end is an
/// [`IoError::OutOfRange`]; callers clip to `header().nsamples`.
/// Implementations keep memory bounded by the block size, never by the file size.
pub trait Observation: Send {
    /// The observation header.
    fn header(&self) -> &Header;
    /// Reads samples `start_sample .. start_sample + nsamples` as `[nsamples][nchans]` `f32`.
    fn read_block(&mut self, start_sample: u64, nsamples: usize) -> Result<Array2<f32>, IoError>;
    /// [`Self::read_block`] into `out` (reshaped to `[nsamples][nchans]`), reusing its
    /// allocation: readers that override it avoid a fresh allocation (and the kernel's zeroing of
    /// its pages) per block. The values are exactly those of `read_block`.
    ///
    /// # Errors
    /// As [`Self::read_block`]; `out` is unspecified after an error.
    fn read_block_into(&mut self, start_sample: u64, nsamples: usize, out: &mut Array2<f32>) -> Result<(), IoError> {
        *out = self.read_block(start_sample, nsamples)?;
        Ok(())
    }
    /// A short description of where the data come from (file path(s) or "simulator").
    fn source_description(&self) -> String;
}

/// Makes `out` a standard-layout `[rows][cols]` array, keeping its allocation where it is large
/// enough. Its values are unspecified (finite: old values or 0); callers overwrite every one.
pub fn reshape_reuse(out: &mut Array2<f32>, rows: usize, cols: usize) {
    if out.dim() == (rows, cols) && out.is_standard_layout() {
        return;
    }
    let (mut v, offset) = std::mem::take(out).into_raw_vec_and_offset();
    if offset.unwrap_or(0) != 0 {
        v = Vec::new();
    }
    v.resize(rows * cols, 0.0);
    *out = Array2::from_shape_vec((rows, cols), v).expect("a vector of rows·cols values");
}

/// Opens an observation file, choosing the reader by content (not only by extension):
/// SIGPROC files start with the length-prefixed string `HEADER_START` (either byte order),
/// FITS files with `SIMPLE  =`. A `.dat` or `.inf` path is a PRESTO time series
/// ([`presto::PrestoSeries`], one channel), which has no magic bytes; a `.fft` path its PRESTO
/// spectrum, transformed back to the series ([`presto::open_fft`]).
///
/// Several paths are read as one continuous PSRFITS observation (FAST splits observations
/// into numbered files); a single path may be any of the formats.
///
/// # Errors
/// [`IoError::UnknownFormat`] when the content is neither; the reader's own errors otherwise.
pub fn open_observation(paths: &[PathBuf]) -> Result<Box<dyn Observation>, IoError> {
    let first = paths.first().ok_or_else(|| IoError::format("<none>", "no input file given"))?;
    // A PRESTO series has no magic bytes: it is known by its `.dat`/`.inf` name.
    let ext = first.extension().and_then(|e| e.to_str());
    if matches!(ext, Some("dat") | Some("inf") | Some("fft")) {
        if paths.len() > 1 {
            return Err(IoError::format(&paths[1], "several PRESTO series cannot be read as one observation"));
        }
        if ext == Some("fft") {
            return Ok(Box::new(presto::open_fft(first)?));
        }
        return Ok(Box::new(presto::PrestoSeries::open(first)?));
    }
    for p in paths {
        check_regular_file(p)?;
    }
    let mut magic = [0u8; 16];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(first).map_err(|e| IoError::os(first, e))?;
        let mut got = 0;
        while got < magic.len() {
            let k = f.read(&mut magic[got..]).map_err(|e| IoError::os(first, e))?;
            if k == 0 {
                break;
            }
            got += k;
        }
        got
    };
    if n >= 9 && &magic[..9] == b"SIMPLE  =" {
        return psrfits::open_psrfits(paths);
    }
    if n >= 16 && (&magic[4..16] == b"HEADER_START") {
        if paths.len() > 1 {
            return Err(IoError::format(&paths[1], "several SIGPROC files cannot be read as one observation"));
        }
        return Ok(Box::new(sigproc::SigprocReader::open(first)?));
    }
    Err(IoError::UnknownFormat { path: first.clone(), first: magic[..n].to_vec() })
}

/// A spectrum whose every channel is exactly 0 is missing data, not sky: backends and writers
/// insert such spectra for dropped packets and to pad the last PSRFITS row (`your/28.fits` ends
/// with 403 of them). Real intensities are never zero in every channel at once.
pub fn is_dropped_spectrum<'a>(mut values: impl Iterator<Item = &'a f32>) -> bool {
    values.all(|&v| v == 0.0)
}

/// Writes `path` atomically: `write` fills a temporary file next to it ([`output::Staged`]),
/// which is renamed to `path` only when `write` succeeds. A failed write leaves no partial output.
/// `write` should name `path` (not the temporary it is given) in its errors.
pub fn write_atomically<T>(path: &Path, write: impl FnOnce(&Path) -> Result<T, IoError>) -> Result<T, IoError> {
    let staged = output::Staged::new(path);
    let v = write(staged.tmp())?;
    staged.commit()?;
    Ok(v)
}
