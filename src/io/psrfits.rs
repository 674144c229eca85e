//! PSRFITS search-mode reader and writer.
//!
//! # Reading
//! [`open_psrfits`] opens one file, or several numbered files of one observation (FAST splits
//! an observation into `NAME_0001.fits`, `NAME_0002.fits`, …), as one continuous
//! [`Observation`]. Layout facts (PSRFITS definition, van Straten et al. 2010, PASA 27, 104,
//! and the behaviour of PRESTO's `psrfits.c` and `your`'s `psrfits.py`):
//!
//! * The `SUBINT` binary table is found by `EXTNAME` (FAST writes it as HDU 1, Parkes as HDU 3
//!   after a `HISTORY` table). Only `OBS_MODE = SEARCH` is read; fold-mode files are an error.
//! * Each row holds `NSBLK` samples in the order (time, pol, chan): the flat index of sample
//!   `t`, polarisation `p`, channel `c` is `(t·NPOL + p)·NCHAN + c`. Sub-byte samples
//!   (`NBITS` 1, 2, 4) are packed **most significant bits first** (the first channel sits in the
//!   high bits of a byte; confirmed on `parkes_4bit.sf`, see the data PROVENANCE). `NBITS` 8 is
//!   an unsigned byte (signed when `SIGNINT = 1`), 16 is `TFORM I` plus the column's `TZERO`
//!   (32768 for unsigned data), 32 is IEEE float (`TFORM E`).
//! * The row byte count is `NSBLK·NPOL·NCHAN·NBITS/8`; `TDIM` is never trusted (Parkes writes
//!   `(416,4,1024)` for 2048 4-bit samples). All table bytes are read raw with cfitsio's
//!   `fits_read_tblbytes` and decoded here, so a DATA column whose `TDIM` disagrees with its
//!   `TFORM` reads like any other.
//! * Values are `((raw − ZERO_OFF)·DAT_SCL[p][c] + DAT_OFFS[p][c])·DAT_WTS[c]` per row.
//! * Total intensity: `NPOL = 1` as stored; `POL_TYPE` `AABB` or `AABBCRCI` gives AA + BB (summed
//!   in `f32`, no integer overflow, TRAPS B25); `IQUV` gives I. Other `POL_TYPE`s are an error.
//! * Channel centres come from `DAT_FREQ` of the first row, never from `OBSFREQ`/`OBSBW`
//!   (TRAPS B24; Parkes writes `OBSBW = 0`). A `float32` `DAT_FREQ` that matches a uniform
//!   `CHAN_BW` grid to float32 precision is replaced by that grid in `f64`, centred on the
//!   mean of the stored values, so float32 rounding does not shift dispersion delays.
//! * `tstart = STT_IMJD + (STT_SMJD + STT_OFFS)/86400 + NSUBOFFS·NSBLK·TBIN/86400` (MJD).
//! * `nsamples = NAXIS2·NSBLK`, summed over the files, except that when `NSTOT` (total samples,
//!   a standard SUBINT keyword) falls inside the last row, the zero padding after it is dropped.
//! * `NAXIS2 = 0` is an error for a lone file and skipped with a warning as the last of several
//!   files (TRAPS B03(d)); a file shorter than its header promises is an error.
//!
//! Memory: the reader keeps one raw row buffer and at most two decoded rows
//! (`[NSBLK][NCHAN]` `f32` each), whatever the file size.
//!
//! # Writing
//! [`PsrfitsWriter`] writes FAST-style search-mode PSRFITS: primary HDU with the standard
//! keywords, `SUBINT` as HDU 1 with `NSBLK = 1024`, `NBITS = 8`, `NPOL = 1`, `POL_TYPE = AA+BB`.
//! A PSRFITS row cannot be partial, so the last row is padded with zeros and the real sample
//! count is written to `NSTOT`; this reader then drops the padding.

use super::{Header, IoError, Observation};
use ndarray::{Array2, ArrayView2};
use std::path::{Path, PathBuf};

/// Samples per row written by [`PsrfitsWriter`] (FAST's own files use 1024).
pub const WRITER_NSBLK: usize = 1024;

/// Telescope ITRF coordinates of FAST in metres (as listed by TEMPO2's `observatories.dat`).
const FAST_ITRF_M: [f64; 3] = [-1668557.0, 5506838.0, 2744934.0];

/// Opens one PSRFITS file, or several numbered files of one observation read as one stream.
///
/// Files are read in the order given. They must agree in `NCHAN`, `NPOL`, `NBITS`, `NSBLK`,
/// `TBIN`, `POL_TYPE` and channel frequencies.
///
/// # Errors
/// [`IoError::Format`] naming the file for: no `SUBINT` table, a non-SEARCH `OBS_MODE`, an
/// unsupported `NBITS` or `POL_TYPE`, `NAXIS2 = 0` (unless it is the last of several files), a
/// truncated file, or files that do not belong together; [`IoError::Os`] if a file cannot be read.
pub fn open_psrfits(paths: &[PathBuf]) -> Result<Box<dyn Observation>, IoError> {
    Ok(Box::new(PsrfitsReader::open(paths)?))
}

// ---------------------------------------------------------------------------------------------
// Thin wrapper round the cfitsio handle. All `unsafe` of this module lives here.
// ---------------------------------------------------------------------------------------------
mod cfits {
    use super::IoError;
    use fitsio::sys;
    use std::ffi::{CStr, CString};
    use std::os::raw::{c_char, c_int};
    use std::path::{Path, PathBuf};

    const KEY_NO_EXIST: c_int = 202;
    const BAD_HDU_NUM: c_int = 301;
    const BINARY_TBL: c_int = 2;

    /// An open cfitsio file. Closed on drop.
    pub(super) struct Fits {
        ptr: *mut sys::fitsfile,
        path: PathBuf,
    }

    // SAFETY: the handle is owned by exactly one `Fits` and only used through `&mut self`, so it
    // is never used from two threads at once; cfitsio is built reentrant by fitsio-src.
    unsafe impl Send for Fits {}

    fn cstr(path: &Path, s: &str) -> Result<CString, IoError> {
        CString::new(s).map_err(|_| IoError::format(path, format!("name {s:?} contains a NUL byte")))
    }

    /// The cfitsio status text plus the first detailed message on its error stack (then cleared).
    fn status_text(status: c_int) -> String {
        let mut short = [0 as c_char; 32];
        let mut detail = [0 as c_char; 81];
        // SAFETY: cfitsio writes at most 30 (ffgerr) and 80 (ffgmsg) characters plus a NUL.
        let (s, d) = unsafe {
            sys::ffgerr(status, short.as_mut_ptr());
            let got = sys::ffgmsg(detail.as_mut_ptr());
            sys::ffcmsg();
            let s = CStr::from_ptr(short.as_ptr()).to_string_lossy().into_owned();
            let d =
                if got > 0 { CStr::from_ptr(detail.as_ptr()).to_string_lossy().into_owned() } else { String::new() };
            (s, d)
        };
        if d.is_empty() || d == s {
            format!("cfitsio status {status}: {s}")
        } else {
            format!("cfitsio status {status}: {s} ({d})")
        }
    }

    impl Fits {
        fn err(&self, what: &str, status: c_int) -> IoError {
            IoError::format(&self.path, format!("{what}: {}", status_text(status)))
        }

        /// Opens an existing file read-only (plain disk file: no cfitsio extended-name syntax).
        pub fn open_readonly(path: &Path) -> Result<Fits, IoError> {
            let name = cstr(path, &path.to_string_lossy())?;
            let mut ptr: *mut sys::fitsfile = std::ptr::null_mut();
            let mut status = 0;
            // SAFETY: valid NUL-terminated name; cfitsio sets `ptr` on success.
            unsafe { sys::ffdkopn(&mut ptr, name.as_ptr(), 0, &mut status) };
            if status != 0 || ptr.is_null() {
                return Err(IoError::format(path, format!("cannot open as FITS: {}", status_text(status))));
            }
            Ok(Fits { ptr, path: path.to_path_buf() })
        }

        /// Creates a new, empty file at `path`, replacing any file of that name.
        pub fn create(path: &Path) -> Result<Fits, IoError> {
            if path.exists() {
                std::fs::remove_file(path).map_err(|e| IoError::os(path, e))?;
            }
            let name = cstr(path, &path.to_string_lossy())?;
            let mut ptr: *mut sys::fitsfile = std::ptr::null_mut();
            let mut status = 0;
            // SAFETY: valid NUL-terminated name; cfitsio sets `ptr` on success.
            unsafe { sys::ffdkinit(&mut ptr, name.as_ptr(), &mut status) };
            if status != 0 || ptr.is_null() {
                return Err(IoError::format(path, format!("cannot create FITS file: {}", status_text(status))));
            }
            Ok(Fits { ptr, path: path.to_path_buf() })
        }

        /// Names `path` instead of the file's real path in later errors (a temporary file
        /// written for the user's `path`).
        pub fn label_as(&mut self, path: &Path) {
            self.path = path.to_path_buf();
        }

        /// Moves to the binary table with `EXTNAME = name`; `Ok(false)` if there is none.
        pub fn move_to_table(&mut self, name: &str) -> Result<bool, IoError> {
            let mut n = cstr(&self.path, name)?.into_bytes_with_nul();
            let mut status = 0;
            // SAFETY: `n` is a NUL-terminated buffer cfitsio only reads.
            unsafe { sys::ffmnhd(self.ptr, BINARY_TBL, n.as_mut_ptr() as *mut c_char, 0, &mut status) };
            match status {
                0 => Ok(true),
                BAD_HDU_NUM => {
                    // SAFETY: clears cfitsio's global message stack only.
                    unsafe { sys::ffcmsg() };
                    Ok(false)
                }
                s => Err(self.err(&format!("looking for the {name} table"), s)),
            }
        }

        /// Moves to HDU number `n` (1 = primary).
        pub fn move_to_hdu(&mut self, n: i32) -> Result<(), IoError> {
            let mut status = 0;
            let mut typ = 0;
            // SAFETY: plain call on an open handle.
            unsafe { sys::ffmahd(self.ptr, n, &mut typ, &mut status) };
            if status != 0 {
                return Err(self.err(&format!("moving to HDU {n}"), status));
            }
            Ok(())
        }

        /// Raw value text of keyword `name` in the current HDU (quotes kept for strings),
        /// `None` if absent.
        fn key_raw(&mut self, name: &str) -> Result<Option<String>, IoError> {
            let k = cstr(&self.path, name)?;
            let mut val = [0 as c_char; 72];
            let mut status = 0;
            // SAFETY: cfitsio writes at most FLEN_VALUE (71) bytes including the NUL.
            unsafe { sys::ffgkey(self.ptr, k.as_ptr(), val.as_mut_ptr(), std::ptr::null_mut(), &mut status) };
            match status {
                0 => {
                    // SAFETY: NUL-terminated by cfitsio.
                    let s = unsafe { CStr::from_ptr(val.as_ptr()) }.to_string_lossy().trim().to_string();
                    Ok(Some(s))
                }
                KEY_NO_EXIST => {
                    // SAFETY: clears cfitsio's global message stack only.
                    unsafe { sys::ffcmsg() };
                    Ok(None)
                }
                s => Err(self.err(&format!("reading keyword {name}"), s)),
            }
        }

        /// String keyword (quotes and trailing blanks removed), `None` if absent.
        pub fn key_str(&mut self, name: &str) -> Result<Option<String>, IoError> {
            Ok(self.key_raw(name)?.map(|v| {
                let v = v.trim();
                let v = v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')).unwrap_or(v);
                v.replace("''", "'").trim_end().to_string()
            }))
        }

        /// Numeric keyword, `None` if absent or not a number (e.g. Parkes writes `'*'`).
        pub fn key_f64(&mut self, name: &str) -> Result<Option<f64>, IoError> {
            Ok(self.key_raw(name)?.and_then(|v| {
                let v = v.trim().trim_matches('\'').trim().replace(['D', 'd'], "E");
                v.parse::<f64>().ok()
            }))
        }

        /// Numeric keyword that must be present.
        pub fn key_f64_req(&mut self, name: &str, hdu: &str) -> Result<f64, IoError> {
            self.key_f64(name)?
                .ok_or_else(|| IoError::format(&self.path, format!("{hdu} keyword {name} is missing or not a number")))
        }

        /// `(NAXIS2, datastart byte offset)` of the current table.
        pub fn rows_and_datastart(&mut self) -> Result<(i64, i64), IoError> {
            let mut status = 0;
            let mut nrows: sys::LONGLONG = 0;
            let (mut head, mut data, mut end): (sys::LONGLONG, sys::LONGLONG, sys::LONGLONG) = (0, 0, 0);
            // SAFETY: plain calls on an open handle writing into local integers.
            unsafe {
                sys::ffgnrwll(self.ptr, &mut nrows, &mut status);
                sys::ffghadll(self.ptr, &mut head, &mut data, &mut end, &mut status);
            }
            if status != 0 {
                return Err(self.err("reading the table size", status));
            }
            Ok((nrows, data))
        }

        /// Reads the raw bytes of row `row` (0-based) into `buf` (`buf.len()` bytes from its start).
        pub fn read_row_bytes(&mut self, row: usize, buf: &mut [u8]) -> Result<(), IoError> {
            let mut status = 0;
            // SAFETY: `buf` has room for exactly the `buf.len()` bytes requested.
            unsafe { sys::ffgtbb(self.ptr, row as i64 + 1, 1, buf.len() as i64, buf.as_mut_ptr(), &mut status) };
            if status != 0 {
                return Err(self.err(&format!("reading row {row}"), status));
            }
            Ok(())
        }

        /// Writes `buf` as the raw bytes of row `row` (0-based), extending the table as needed.
        pub fn write_row_bytes(&mut self, row: usize, buf: &[u8]) -> Result<(), IoError> {
            let mut status = 0;
            // SAFETY: cfitsio only reads `buf.len()` bytes from the pointer (the C prototype is not const).
            unsafe { sys::ffptbb(self.ptr, row as i64 + 1, 1, buf.len() as i64, buf.as_ptr() as *mut u8, &mut status) };
            if status != 0 {
                return Err(self.err(&format!("writing row {row}"), status));
            }
            Ok(())
        }

        /// Writes an empty primary HDU (`NAXIS = 0`).
        pub fn write_empty_primary(&mut self) -> Result<(), IoError> {
            let mut status = 0;
            // SAFETY: naxis 0, so the null axes pointer is never read.
            unsafe { sys::ffphps(self.ptr, 8, 0, std::ptr::null_mut(), &mut status) };
            if status != 0 {
                return Err(self.err("writing the primary header", status));
            }
            Ok(())
        }

        /// Appends a binary table with the given column names, forms and units.
        pub fn create_table(&mut self, extname: &str, cols: &[(&str, String, &str)]) -> Result<(), IoError> {
            let mut owned: Vec<CString> = Vec::new();
            for (t, f, u) in cols {
                owned.push(cstr(&self.path, t)?);
                owned.push(cstr(&self.path, f)?);
                owned.push(cstr(&self.path, u)?);
            }
            let mut ttype: Vec<*mut c_char> = owned.iter().step_by(3).map(|c| c.as_ptr() as *mut c_char).collect();
            let mut tform: Vec<*mut c_char> =
                owned.iter().skip(1).step_by(3).map(|c| c.as_ptr() as *mut c_char).collect();
            let mut tunit: Vec<*mut c_char> =
                owned.iter().skip(2).step_by(3).map(|c| c.as_ptr() as *mut c_char).collect();
            let ext = cstr(&self.path, extname)?;
            let mut status = 0;
            // SAFETY: the arrays hold `cols.len()` valid NUL-terminated strings kept alive by
            // `owned`; cfitsio only reads them.
            unsafe {
                sys::ffcrtb(
                    self.ptr,
                    BINARY_TBL,
                    0,
                    cols.len() as c_int,
                    ttype.as_mut_ptr(),
                    tform.as_mut_ptr(),
                    tunit.as_mut_ptr(),
                    ext.as_ptr(),
                    &mut status,
                )
            };
            if status != 0 {
                return Err(self.err(&format!("creating table {extname}"), status));
            }
            Ok(())
        }

        /// Writes (or updates) a string keyword.
        pub fn put_str(&mut self, key: &str, val: &str, comment: &str) -> Result<(), IoError> {
            let (k, v, c) = (cstr(&self.path, key)?, cstr(&self.path, val)?, cstr(&self.path, comment)?);
            let mut status = 0;
            // SAFETY: NUL-terminated strings cfitsio only reads.
            unsafe { sys::ffukys(self.ptr, k.as_ptr(), v.as_ptr(), c.as_ptr(), &mut status) };
            if status != 0 {
                return Err(self.err(&format!("writing keyword {key}"), status));
            }
            Ok(())
        }

        /// Writes (or updates) an integer keyword.
        pub fn put_int(&mut self, key: &str, val: i64, comment: &str) -> Result<(), IoError> {
            let (k, c) = (cstr(&self.path, key)?, cstr(&self.path, comment)?);
            let mut status = 0;
            // SAFETY: NUL-terminated strings cfitsio only reads.
            unsafe { sys::ffukyj(self.ptr, k.as_ptr(), val, c.as_ptr(), &mut status) };
            if status != 0 {
                return Err(self.err(&format!("writing keyword {key}"), status));
            }
            Ok(())
        }

        /// Writes (or updates) a floating-point keyword with 17 significant digits.
        pub fn put_f64(&mut self, key: &str, val: f64, comment: &str) -> Result<(), IoError> {
            let (k, c) = (cstr(&self.path, key)?, cstr(&self.path, comment)?);
            let mut status = 0;
            // SAFETY: NUL-terminated strings cfitsio only reads.
            unsafe { sys::ffukyg(self.ptr, k.as_ptr(), val, 17, c.as_ptr(), &mut status) };
            if status != 0 {
                return Err(self.err(&format!("writing keyword {key}"), status));
            }
            Ok(())
        }

        /// Closes the file, reporting any error cfitsio hits while flushing.
        pub fn close(mut self) -> Result<(), IoError> {
            let mut status = 0;
            let ptr = std::mem::replace(&mut self.ptr, std::ptr::null_mut());
            // SAFETY: `ptr` came from a successful open/create and is closed exactly once.
            unsafe { sys::ffclos(ptr, &mut status) };
            if status != 0 {
                return Err(IoError::format(&self.path, format!("closing: {}", status_text(status))));
            }
            Ok(())
        }
    }

    impl Drop for Fits {
        fn drop(&mut self) {
            if !self.ptr.is_null() {
                let mut status = 0;
                // SAFETY: `ptr` came from a successful open/create and is closed exactly once.
                unsafe { sys::ffclos(self.ptr, &mut status) };
                self.ptr = std::ptr::null_mut();
            }
        }
    }
}

use cfits::Fits;

// ---------------------------------------------------------------------------------------------
// Table layout
// ---------------------------------------------------------------------------------------------

/// A fixed-width binary-table column: byte offset in the row, element code and count.
#[derive(Debug, Clone)]
struct Column {
    offset: usize,
    code: char,
    repeat: usize,
    bytes: usize,
}

/// Parses a binary-table `TFORM` (`rT…`): repeat count, type code and width in bytes.
fn parse_tform(tform: &str) -> Option<(usize, char, usize)> {
    let t = tform.trim();
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    let repeat: usize = if digits.is_empty() { 1 } else { digits.parse().ok()? };
    let code = t[digits.len()..].chars().next()?.to_ascii_uppercase();
    let bytes = match code {
        'L' | 'B' | 'A' => repeat,
        'X' => repeat.div_ceil(8),
        'I' => 2 * repeat,
        'J' | 'E' => 4 * repeat,
        'K' | 'D' | 'C' => 8 * repeat,
        'M' => 16 * repeat,
        'P' => 8 * repeat,
        'Q' => 16 * repeat,
        _ => return None,
    };
    Some((repeat, code, bytes))
}

impl Column {
    /// Reads element `i` of a float column (`E` or `D`; integer codes are accepted too).
    fn get_f64(&self, row: &[u8], i: usize) -> f64 {
        let o = self.offset;
        match self.code {
            'D' => f64::from_be_bytes(row[o + 8 * i..o + 8 * i + 8].try_into().unwrap_or([0; 8])),
            'E' => f32::from_be_bytes(row[o + 4 * i..o + 4 * i + 4].try_into().unwrap_or([0; 4])) as f64,
            'J' => i32::from_be_bytes(row[o + 4 * i..o + 4 * i + 4].try_into().unwrap_or([0; 4])) as f64,
            'I' => i16::from_be_bytes(row[o + 2 * i..o + 2 * i + 2].try_into().unwrap_or([0; 2])) as f64,
            'K' => i64::from_be_bytes(row[o + 8 * i..o + 8 * i + 8].try_into().unwrap_or([0; 8])) as f64,
            'B' => row[o + i] as f64,
            _ => 0.0,
        }
    }
}

/// How raw DATA elements are stored.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sample {
    /// 1, 2 or 4 bits, unsigned, packed MSB first.
    Packed(u32),
    /// Unsigned byte.
    U8,
    /// Two's-complement byte (`SIGNINT = 1`).
    I8,
    /// Big-endian `i16` (TFORM `I`).
    I16,
    /// Big-endian `i32` (TFORM `J`).
    I32,
    /// Big-endian IEEE `f32` (TFORM `E`).
    F32,
}

/// How total intensity is formed from the stored polarisations.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PolMode {
    /// Use polarisation 0 (NPOL 1, or I of IQUV).
    First,
    /// AA + BB (POL_TYPE AABB or AABBCRCI).
    SumFirstTwo,
}

/// Everything needed to decode the rows of one file.
#[derive(Debug, Clone)]
struct Layout {
    naxis1: usize,
    nsblk: usize,
    npol: usize,
    nchan: usize,
    nbits: u32,
    tbin: f64,
    pol_type: String,
    pol_mode: PolMode,
    sample: Sample,
    /// Physical = stored·TSCAL + TZERO for the DATA column.
    data_tscal: f64,
    data_tzero: f64,
    data: Column,
    data_bytes: usize,
    zero_off: f64,
    dat_freq: Option<Column>,
    dat_wts: Option<Column>,
    dat_offs: Option<Column>,
    dat_scl: Option<Column>,
}

/// One file of the observation.
struct Segment {
    path: PathBuf,
    layout: Layout,
    nrows: usize,
    /// Samples used from this file (NAXIS2·NSBLK, or less when NSTOT trims padding).
    nsamples: u64,
    /// First global sample of this file.
    start: u64,
}

/// Reads the SUBINT layout and checks that it can be decoded.
fn read_layout(f: &mut Fits, path: &Path) -> Result<Layout, IoError> {
    let bad = |msg: String| IoError::format(path, msg);
    let int_key = |f: &mut Fits, name: &str| -> Result<usize, IoError> {
        let v = f.key_f64_req(name, "SUBINT")?;
        if v < 0.0 || v.fract() != 0.0 || v > 1e12 {
            return Err(IoError::format(path, format!("SUBINT keyword {name} = {v} is not a count")));
        }
        Ok(v as usize)
    };
    let naxis1 = int_key(f, "NAXIS1")?;
    let nsblk = int_key(f, "NSBLK")?;
    let nchan = int_key(f, "NCHAN")?;
    let npol = match f.key_f64("NPOL")? {
        Some(v) if v >= 1.0 && v.fract() == 0.0 => v as usize,
        Some(v) => return Err(bad(format!("SUBINT keyword NPOL = {v} is not a positive count"))),
        None => return Err(bad("SUBINT keyword NPOL is missing".into())),
    };
    let nbits_f = f.key_f64_req("NBITS", "SUBINT")?;
    let tbin = f.key_f64_req("TBIN", "SUBINT")?;
    if nsblk == 0 || nchan == 0 {
        return Err(bad(format!("SUBINT has NSBLK = {nsblk}, NCHAN = {nchan}; both must be positive")));
    }
    if !(tbin.is_finite() && tbin > 0.0) {
        return Err(bad(format!("SUBINT keyword TBIN = {tbin} is not a positive sampling time")));
    }
    let nbits = nbits_f as u32;
    if ![1, 2, 4, 8, 16, 32].contains(&nbits) || nbits_f.fract() != 0.0 {
        return Err(bad(format!("NBITS = {nbits_f} is not supported (1, 2, 4, 8, 16 or 32)")));
    }
    let pol_type = f.key_str("POL_TYPE")?.unwrap_or_default().trim().to_ascii_uppercase();
    let pol_mode = if npol == 1 {
        PolMode::First
    } else {
        match (pol_type.as_str(), npol) {
            ("AABB", 2) | ("AABBCRCI", 4) => PolMode::SumFirstTwo,
            ("IQUV", 4) => PolMode::First,
            _ => {
                return Err(bad(format!(
                    "POL_TYPE {pol_type:?} with NPOL = {npol} is not supported \
                     (tianyan reads NPOL 1, AABB, AABBCRCI or IQUV)"
                )))
            }
        }
    };
    let zero_off = f.key_f64("ZERO_OFF")?.unwrap_or(0.0);
    let signint = f.key_f64("SIGNINT")?.unwrap_or(0.0) == 1.0;

    // Columns: offsets from the TFORMs, checked against NAXIS1.
    let tfields = int_key(f, "TFIELDS")?;
    let mut offset = 0usize;
    let mut cols: Vec<(String, Column, usize)> = Vec::with_capacity(tfields);
    for n in 1..=tfields {
        let name = f.key_str(&format!("TTYPE{n}"))?.unwrap_or_default().trim().to_ascii_uppercase();
        let tform = f.key_str(&format!("TFORM{n}"))?.ok_or_else(|| bad(format!("TFORM{n} is missing")))?;
        let (repeat, code, bytes) =
            parse_tform(&tform).ok_or_else(|| bad(format!("column {name} has an unreadable TFORM{n} = {tform:?}")))?;
        cols.push((name, Column { offset, code, repeat, bytes }, n));
        offset += bytes;
    }
    if offset != naxis1 {
        return Err(bad(format!("the SUBINT columns add up to {offset} bytes per row but NAXIS1 = {naxis1}")));
    }
    let find = |want: &str| cols.iter().find(|(n, _, _)| n == want).map(|(_, c, i)| (c.clone(), *i));
    let (data, data_n) = find("DATA").ok_or_else(|| bad("the SUBINT table has no DATA column".into()))?;
    let data_tzero = f.key_f64(&format!("TZERO{data_n}"))?.unwrap_or(0.0);
    let data_tscal = f.key_f64(&format!("TSCAL{data_n}"))?.unwrap_or(1.0);

    let bits = nsblk as u128 * npol as u128 * nchan as u128 * nbits as u128;
    if bits % 8 != 0 {
        return Err(bad(format!("NSBLK·NPOL·NCHAN·NBITS = {bits} bits is not a whole number of bytes")));
    }
    let data_bytes = (bits / 8) as usize;
    if data.bytes < data_bytes {
        return Err(bad(format!(
            "DATA column holds {} bytes per row but NSBLK·NPOL·NCHAN·NBITS/8 = {data_bytes}",
            data.bytes
        )));
    }
    if data.bytes > data_bytes {
        tracing::warn!(
            "{}: DATA column holds {} bytes per row, more than NSBLK·NPOL·NCHAN·NBITS/8 = {data_bytes}; using the first {data_bytes}",
            path.display(),
            data.bytes
        );
    }
    let sample = match (nbits, data.code) {
        (1 | 2 | 4, 'B' | 'X') => Sample::Packed(nbits),
        (8, 'B') if signint && data_tzero == 0.0 => Sample::I8,
        (8, 'B') => Sample::U8,
        (16, 'I') => Sample::I16,
        (32, 'E') => Sample::F32,
        (32, 'J') => Sample::I32,
        (b, c) => return Err(bad(format!("NBITS = {b} with a DATA column of type {c} is not supported"))),
    };
    let fcol = |name: &str, n: usize| -> Result<Option<Column>, IoError> {
        match find(name) {
            None => Ok(None),
            Some((c, _)) if c.repeat >= n && matches!(c.code, 'E' | 'D' | 'J' | 'I' | 'K' | 'B') => Ok(Some(c)),
            Some((c, _)) => Err(bad(format!(
                "column {name} has {} elements of type {}; expected at least {n} numbers",
                c.repeat, c.code
            ))),
        }
    };
    let dat_freq = fcol("DAT_FREQ", nchan)?;
    let dat_wts = fcol("DAT_WTS", nchan)?;
    // DAT_OFFS/DAT_SCL are indexed [pol][chan]; some writers store only NCHAN values.
    let dat_offs = fcol("DAT_OFFS", nchan)?;
    let dat_scl = fcol("DAT_SCL", nchan)?;
    Ok(Layout {
        naxis1,
        nsblk,
        npol,
        nchan,
        nbits,
        tbin,
        pol_type,
        pol_mode,
        sample,
        data_tscal,
        data_tzero,
        data,
        data_bytes,
        zero_off,
        dat_freq,
        dat_wts,
        dat_offs,
        dat_scl,
    })
}

/// Decodes one raw row into `out` (`[NSBLK][NCHAN]` total intensity).
///
/// Value of pol `p`, channel `c`: `((stored·TSCAL + TZERO − ZERO_OFF)·DAT_SCL[p][c] +
/// DAT_OFFS[p][c])·DAT_WTS[c]`, summed over the polarisations the [`PolMode`] selects.
fn decode_row(row: &[u8], lay: &Layout, out: &mut Array2<f32>) {
    let (nchan, npol, nsblk) = (lay.nchan, lay.npol, lay.nsblk);
    let npol_used = match lay.pol_mode {
        PolMode::First => 1,
        PolMode::SumFirstTwo => 2,
    };
    // Per (pol, chan) linear map: value = stored·a + b.
    let mut a = vec![0f32; npol_used * nchan];
    let mut b = vec![0f32; npol_used * nchan];
    for p in 0..npol_used {
        for c in 0..nchan {
            let pc_index = |col: &Column| if col.repeat >= npol * nchan { p * nchan + c } else { c };
            let scl = lay.dat_scl.as_ref().map_or(1.0, |col| col.get_f64(row, pc_index(col)));
            let offs = lay.dat_offs.as_ref().map_or(0.0, |col| col.get_f64(row, pc_index(col)));
            let wts = lay.dat_wts.as_ref().map_or(1.0, |col| col.get_f64(row, c));
            a[p * nchan + c] = (lay.data_tscal * scl * wts) as f32;
            b[p * nchan + c] = (((lay.data_tzero - lay.zero_off) * scl + offs) * wts) as f32;
        }
    }
    let data = &row[lay.data.offset..lay.data.offset + lay.data_bytes];
    let stored = |k: usize| -> f32 {
        match lay.sample {
            Sample::Packed(nb) => {
                let bit = k * nb as usize;
                let shift = 8 - nb as usize - (bit % 8);
                ((data[bit / 8] >> shift) & ((1u8 << nb) - 1)) as f32
            }
            Sample::U8 => data[k] as f32,
            Sample::I8 => data[k] as i8 as f32,
            Sample::I16 => i16::from_be_bytes([data[2 * k], data[2 * k + 1]]) as f32,
            Sample::I32 => i32::from_be_bytes([data[4 * k], data[4 * k + 1], data[4 * k + 2], data[4 * k + 3]]) as f32,
            Sample::F32 => f32::from_be_bytes([data[4 * k], data[4 * k + 1], data[4 * k + 2], data[4 * k + 3]]),
        }
    };
    for t in 0..nsblk {
        let mut orow = out.row_mut(t);
        for c in 0..nchan {
            let mut v = 0f32;
            for p in 0..npol_used {
                let k = (t * npol + p) * nchan + c;
                v += stored(k) * a[p * nchan + c] + b[p * nchan + c];
            }
            orow[c] = v;
        }
    }
}

/// Channel centres (MHz) from the first row's DAT_FREQ, as `f64`.
///
/// A float32 column that matches a uniform grid of spacing `chan_bw` to float32 precision is
/// replaced by that grid computed in `f64` about the mean of the stored values.
fn channel_freqs(row: &[u8], lay: &Layout, chan_bw: Option<f64>) -> Option<Vec<f64>> {
    let col = lay.dat_freq.as_ref()?;
    let stored: Vec<f64> = (0..lay.nchan).map(|c| col.get_f64(row, c)).collect();
    if stored.iter().any(|f| !f.is_finite()) {
        return None;
    }
    if col.code == 'E' && lay.nchan > 1 {
        if let Some(bw) = chan_bw.filter(|b| *b != 0.0 && b.is_finite()) {
            let n = lay.nchan as f64;
            let mean = stored.iter().sum::<f64>() / n;
            let step = if stored[lay.nchan - 1] >= stored[0] { bw.abs() } else { -bw.abs() };
            let grid: Vec<f64> = (0..lay.nchan).map(|i| mean + (i as f64 - 0.5 * (n - 1.0)) * step).collect();
            let fmax = stored.iter().fold(0f64, |m, f| m.max(f.abs()));
            let tol = 4e-7 * fmax + 1e-9;
            if grid.iter().zip(&stored).all(|(g, s)| (g - s).abs() <= tol) {
                return Some(grid);
            }
        }
    }
    Some(stored)
}

/// Parses a sexagesimal `hh:mm:ss.s` / `±dd:mm:ss.s` string into SIGPROC's `hhmmss.s` number.
pub(crate) fn sexagesimal_to_sigproc(s: &str) -> Option<f64> {
    let s = s.trim();
    let (sign, body) = match s.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, s.strip_prefix('+').unwrap_or(s)),
    };
    let parts: Vec<&str> = body.split(':').collect();
    if parts.len() != 3 {
        return None;
    }
    let h: f64 = parts[0].trim().parse().ok()?;
    let m: f64 = parts[1].trim().parse().ok()?;
    let sec: f64 = parts[2].trim().parse().ok()?;
    Some(sign * (h * 10000.0 + m * 100.0 + sec))
}

/// SIGPROC `hhmmss.s` number to `hh:mm:ss.ssss`.
pub(crate) fn sigproc_to_sexagesimal(v: f64, signed: bool) -> String {
    let sign = if v < 0.0 {
        "-"
    } else if signed {
        "+"
    } else {
        ""
    };
    let a = v.abs();
    let h = (a / 10000.0).floor();
    let m = ((a - h * 10000.0) / 100.0).floor();
    let s = a - h * 10000.0 - m * 100.0;
    format!("{sign}{:02}:{:02}:{:07.4}", h as i64, m as i64, s)
}

/// SIGPROC telescope ids and names, from SIGPROC's `aliases.c` (`telescope_name`), with 21 for
/// FAST as tianyan writes it. The PSRFITS writer puts the name in `TELESCOP`; the reader maps it
/// back, so a conversion keeps the telescope.
const TELESCOPES: [(i32, &str); 19] = [
    (0, "Fake"),
    (1, "Arecibo"),
    (2, "Ooty"),
    (3, "Nancay"),
    (4, "Parkes"),
    (5, "Jodrell"),
    (6, "GBT"),
    (7, "GMRT"),
    (8, "Effelsberg"),
    (9, "140ft"),
    (10, "SRT"),
    (11, "LOFAR"),
    (12, "CANBERRA"),
    (13, "GOLDSTONE"),
    (14, "ROBLEDO"),
    (15, "VLA"),
    (20, "CHIME"),
    (21, "FAST"),
    (64, "MeerKAT"),
];

/// SIGPROC telescope id for a PSRFITS `TELESCOP` name (case-insensitive, with common aliases);
/// 0 ("Fake") when the name is not known.
pub(crate) fn telescope_id(name: &str) -> i32 {
    let n = name.trim().to_ascii_uppercase();
    let alias = match n.as_str() {
        "PKS" | "MURRIYANG" => "PARKES",
        "AO" => "ARECIBO",
        "LOVELL" | "JODRELL BANK" => "JODRELL",
        "GB" | "GREEN BANK" => "GBT",
        "EFF" => "EFFELSBERG",
        "MEERKAT" | "MK" => "MEERKAT",
        other => other,
    };
    TELESCOPES.iter().find(|(_, t)| t.eq_ignore_ascii_case(alias)).map_or(0, |(id, _)| *id)
}

/// PSRFITS `TELESCOP` name for a SIGPROC telescope id (`None` for an id SIGPROC does not name).
pub(crate) fn telescope_name(id: i32) -> Option<&'static str> {
    TELESCOPES.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

/// Block reader of one PSRFITS search-mode file or a sequence of files of one observation.
///
/// [`Observation::read_block`] returns `[nsamples][nchans]` `f32` total intensity after the
/// PSRFITS scaling (see the module docs). Memory is bounded by two decoded rows.
pub struct PsrfitsReader {
    header: Header,
    segments: Vec<Segment>,
    /// The currently open file (segment index, handle).
    open: Option<(usize, Fits)>,
    /// Raw bytes of one row.
    raw: Vec<u8>,
    /// Decoded rows `[NSBLK][NCHAN]`, keyed by (segment, row); at most two.
    cache: Vec<((usize, usize), Array2<f32>)>,
}

impl PsrfitsReader {
    /// Opens `paths` (one file, or several files of one observation in order).
    ///
    /// # Errors
    /// As [`open_psrfits`].
    pub fn open(paths: &[PathBuf]) -> Result<PsrfitsReader, IoError> {
        let first = paths.first().ok_or_else(|| IoError::format("<none>", "no PSRFITS file given"))?;
        let mut segments: Vec<Segment> = Vec::new();
        let mut header = Header::default();
        let mut first_freqs: Vec<f64> = Vec::new();
        let mut nstot_last: Option<f64> = None;
        for (i, path) in paths.iter().enumerate() {
            let is_last = i + 1 == paths.len();
            super::check_regular_file(path)?;
            let mut f = Fits::open_readonly(path)?;
            f.move_to_hdu(1)?;
            let obs_mode = f.key_str("OBS_MODE")?;
            match obs_mode.as_deref().map(|s| s.trim().to_ascii_uppercase()) {
                Some(m) if m == "SEARCH" || m == "SRCH" => {}
                Some(m) => {
                    return Err(IoError::format(
                        path,
                        format!(
                        "OBS_MODE = {m}: only SEARCH-mode PSRFITS can be read (fold-mode archives are not time series)"
                    ),
                    ))
                }
                None => tracing::warn!("{}: no OBS_MODE keyword; assuming SEARCH mode", path.display()),
            }
            // Start time of this file from its primary header (checked against the sequence).
            let file_start =
                (f.key_f64("STT_IMJD")?, f.key_f64("STT_SMJD")?.unwrap_or(0.0), f.key_f64("STT_OFFS")?.unwrap_or(0.0));
            let primary = if i == 0 {
                Some((
                    f.key_str("SRC_NAME")?.unwrap_or_default(),
                    f.key_str("TELESCOP")?.unwrap_or_default(),
                    f.key_f64("STT_IMJD")?,
                    f.key_f64("STT_SMJD")?.unwrap_or(0.0),
                    f.key_f64("STT_OFFS")?.unwrap_or(0.0),
                    f.key_str("RA")?,
                    f.key_str("DEC")?,
                ))
            } else {
                None
            };
            if !f.move_to_table("SUBINT")? {
                return Err(IoError::format(path, "no SUBINT binary table (not a PSRFITS search-mode file)"));
            }
            let layout = read_layout(&mut f, path)?;
            let (nrows, datastart) = f.rows_and_datastart()?;
            let nrows = usize::try_from(nrows).unwrap_or(0);
            if nrows == 0 {
                if paths.len() > 1 && is_last && !segments.is_empty() {
                    tracing::warn!(
                        "{}: the SUBINT table has no rows (NAXIS2 = 0; the observation stopped); skipping this last file",
                        path.display()
                    );
                    continue;
                }
                return Err(IoError::format(path, "the SUBINT table has no rows (NAXIS2 = 0): no data to read"));
            }
            let need = datastart as u128 + layout.naxis1 as u128 * nrows as u128;
            let have = std::fs::metadata(path).map_err(|e| IoError::os(path, e))?.len() as u128;
            if have < need {
                let complete = (have.saturating_sub(datastart as u128)) / layout.naxis1.max(1) as u128;
                return Err(IoError::format(
                    path,
                    format!(
                        "file is truncated: NAXIS2 = {nrows} rows of {} bytes need {need} bytes but the file has {have} ({complete} complete rows)",
                        layout.naxis1
                    ),
                ));
            }
            let nsuboffs = f.key_f64("NSUBOFFS")?.unwrap_or(0.0);
            let chan_bw = f.key_f64("CHAN_BW")?;
            if is_last {
                nstot_last = f.key_f64("NSTOT")?;
            }
            let mut raw = vec![0u8; layout.naxis1];
            f.read_row_bytes(0, &mut raw)?;
            let freqs = channel_freqs(&raw, &layout, chan_bw);

            if let Some((src, telescop, imjd, smjd, offs, ra, dec)) = primary {
                let imjd = imjd.ok_or_else(|| IoError::format(path, "primary keyword STT_IMJD is missing"))?;
                let freqs = match freqs {
                    Some(fr) => fr,
                    None => {
                        return Err(IoError::format(path, "no usable DAT_FREQ column: channel frequencies unknown"));
                    }
                };
                let n = layout.nchan;
                let spacing = if n > 1 { (freqs[n - 1] - freqs[0]) / (n - 1) as f64 } else { 0.0 };
                let foff = match chan_bw.filter(|b| *b != 0.0 && b.is_finite()) {
                    Some(bw) if n > 1 => {
                        if bw.signum() != spacing.signum() || ((bw.abs() - spacing.abs()) / bw.abs()).abs() > 0.01 {
                            tracing::warn!(
                                "{}: CHAN_BW = {bw} MHz disagrees with the DAT_FREQ spacing {spacing} MHz; using DAT_FREQ",
                                path.display()
                            );
                            spacing
                        } else {
                            bw.abs() * spacing.signum()
                        }
                    }
                    Some(bw) => bw,
                    None => spacing,
                };
                header = Header {
                    source_name: src.trim().to_string(),
                    telescope_id: telescope_id(&telescop),
                    data_type: 1,
                    tstart_mjd: imjd + (smjd + offs) / 86400.0 + nsuboffs * layout.nsblk as f64 * layout.tbin / 86400.0,
                    tsamp_s: layout.tbin,
                    fch1_mhz: freqs[0],
                    foff_mhz: foff,
                    freqs_mhz: Some(freqs.clone()),
                    nchans: n,
                    nbits: layout.nbits,
                    nifs: layout.npol,
                    nsamples: 0,
                    signed: matches!(layout.sample, Sample::I8),
                    src_raj: ra.as_deref().and_then(sexagesimal_to_sigproc),
                    src_dej: dec.as_deref().and_then(sexagesimal_to_sigproc),
                    ..Header::default()
                };
                header.check_physical(path)?;
                first_freqs = freqs;
            } else {
                let l0 = &segments[0].layout;
                let same = l0.nchan == layout.nchan
                    && l0.npol == layout.npol
                    && l0.nbits == layout.nbits
                    && l0.nsblk == layout.nsblk
                    && l0.pol_type == layout.pol_type
                    && ((l0.tbin - layout.tbin) / l0.tbin).abs() < 1e-9;
                if !same {
                    return Err(IoError::format(
                        path,
                        format!(
                            "does not continue {}: NCHAN/NPOL/NBITS/NSBLK/TBIN/POL_TYPE differ \
                             ({}/{}/{}/{}/{}/{} vs {}/{}/{}/{}/{}/{})",
                            segments[0].path.display(),
                            layout.nchan,
                            layout.npol,
                            layout.nbits,
                            layout.nsblk,
                            layout.tbin,
                            layout.pol_type,
                            l0.nchan,
                            l0.npol,
                            l0.nbits,
                            l0.nsblk,
                            l0.tbin,
                            l0.pol_type
                        ),
                    ));
                }
                let fr = freqs.unwrap_or_default();
                if fr.len() != first_freqs.len() || fr.iter().zip(&first_freqs).any(|(a, b)| (a - b).abs() > 1e-6) {
                    return Err(IoError::format(
                        path,
                        format!("channel frequencies (DAT_FREQ) differ from {}", segments[0].path.display()),
                    ));
                }
                let rows_before: usize = segments.iter().map(|s| s.nrows).sum();
                // Files of one observation follow each other: this file must start where the
                // previous ones end (to within one sample), from STT_* plus NSUBOFFS.
                if let (Some(imjd), smjd, offs) = file_start {
                    let start = imjd + (smjd + offs) / 86400.0 + nsuboffs * layout.nsblk as f64 * layout.tbin / 86400.0;
                    let samples_before: u64 = segments.iter().map(|s| s.nsamples).sum();
                    let expected = header.tstart_mjd + samples_before as f64 * layout.tbin / 86400.0;
                    let gap_s = (start - expected) * 86400.0;
                    if gap_s.abs() > layout.tbin.max(1e-6) {
                        return Err(IoError::format(
                            path,
                            format!(
                                "does not continue {}: it starts at MJD {start:.9} but the files before it end at \
                                 MJD {expected:.9} ({gap_s:+.6} s); give only the numbered files of one observation, in order",
                                segments[segments.len() - 1].path.display()
                            ),
                        ));
                    }
                }
                if nsuboffs != 0.0 && nsuboffs != rows_before as f64 {
                    tracing::warn!(
                        "{}: NSUBOFFS = {nsuboffs} but the files before it hold {rows_before} rows; reading them as contiguous",
                        path.display()
                    );
                }
            }
            let start = segments.last().map_or(0, |s| s.start + s.nsamples);
            let nsamples = nrows as u64 * layout.nsblk as u64;
            segments.push(Segment { path: path.clone(), layout, nrows, nsamples, start });
        }
        // NSTOT inside the last row marks zero padding after the real samples.
        if let (Some(nstot), Some(last)) = (nstot_last, segments.last_mut()) {
            let nsblk = last.layout.nsblk as f64;
            let total = (last.start + last.nsamples) as f64;
            let local = last.nsamples as f64;
            if nstot.fract() == 0.0 && nstot > total - nsblk && nstot < total {
                last.nsamples -= (total - nstot) as u64;
            } else if paths.len() > 1 && nstot.fract() == 0.0 && nstot > local - nsblk && nstot < local {
                last.nsamples = nstot as u64;
            }
        }
        let total: u64 = segments.iter().map(|s| s.nsamples).sum();
        header.nsamples = total;
        let naxis1 = segments.iter().map(|s| s.layout.naxis1).max().unwrap_or(0);
        if segments.is_empty() {
            return Err(IoError::format(first, "no readable PSRFITS rows"));
        }
        Ok(PsrfitsReader { header, segments, open: None, raw: vec![0; naxis1], cache: Vec::with_capacity(2) })
    }

    /// Paths of the files read, in order (a skipped empty last file is not listed).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }

    /// The PSRFITS `POL_TYPE` of the files (upper case, e.g. `AABBCRCI`).
    pub fn pol_type(&self) -> &str {
        &self.segments[0].layout.pol_type
    }

    /// Index of the cached decoded row `(seg, row)`, decoding it if needed.
    fn row(&mut self, seg: usize, row: usize) -> Result<usize, IoError> {
        if let Some(i) = self.cache.iter().position(|(k, _)| *k == (seg, row)) {
            return Ok(i);
        }
        if self.open.as_ref().map(|(s, _)| *s) != Some(seg) {
            self.open = None;
            let path = &self.segments[seg].path;
            let mut f = Fits::open_readonly(path)?;
            if !f.move_to_table("SUBINT")? {
                return Err(IoError::format(path, "SUBINT table disappeared"));
            }
            self.open = Some((seg, f));
        }
        let lay = &self.segments[seg].layout;
        let buf = &mut self.raw[..lay.naxis1];
        if let Some((_, f)) = self.open.as_mut() {
            f.read_row_bytes(row, buf)?;
        }
        let mut arr =
            if self.cache.len() >= 2 { self.cache.remove(0).1 } else { Array2::<f32>::zeros((lay.nsblk, lay.nchan)) };
        decode_row(buf, lay, &mut arr);
        self.cache.push(((seg, row), arr));
        Ok(self.cache.len() - 1)
    }
}

impl Observation for PsrfitsReader {
    fn header(&self) -> &Header {
        &self.header
    }

    fn read_block(&mut self, start_sample: u64, nsamples: usize) -> Result<Array2<f32>, IoError> {
        let end = IoError::check_range(&self.segments[0].path, start_sample, nsamples, self.header.nsamples)?;
        let mut out = Array2::<f32>::zeros((nsamples, self.header.nchans));
        let mut s = start_sample;
        while s < end {
            let seg = self.segments.iter().position(|g| s >= g.start && s < g.start + g.nsamples).ok_or_else(|| {
                IoError::format(&self.segments[0].path, format!("sample {s} is in no file of the sequence"))
            })?;
            let (g_start, g_n, nsblk) =
                (self.segments[seg].start, self.segments[seg].nsamples, self.segments[seg].layout.nsblk as u64);
            let local = s - g_start;
            let row = (local / nsblk) as usize;
            let within = (local % nsblk) as usize;
            let take = (nsblk - within as u64).min(end - s).min(g_start + g_n - s) as usize;
            let ci = self.row(seg, row)?;
            let src = self.cache[ci].1.slice(ndarray::s![within..within + take, ..]);
            let o = (s - start_sample) as usize;
            out.slice_mut(ndarray::s![o..o + take, ..]).assign(&src);
            s += take as u64;
        }
        Ok(out)
    }

    fn source_description(&self) -> String {
        let p: Vec<String> = self.segments.iter().map(|s| s.path.display().to_string()).collect();
        p.join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

/// Writer of FAST-style PSRFITS search-mode files (8-bit, one polarisation `AA+BB`,
/// `NSBLK = 1024`), with the same API as the SIGPROC writer.
///
/// Data are written to a temporary file beside `path` and renamed at [`PsrfitsWriter::finish`];
/// a writer dropped without `finish` removes its temporary file.
pub struct PsrfitsWriter {
    fits: Option<Fits>,
    path: PathBuf,
    /// The temporary file being written; removed when dropped unfinished.
    staged: Option<super::output::Staged>,
    nchans: usize,
    tbin: f64,
    /// Bytes of one row before DATA: TSUBINT, OFFS_SUB, DAT_FREQ, DAT_WTS, DAT_OFFS, DAT_SCL.
    prefix: Vec<u8>,
    /// DATA of the row being filled, `[NSBLK][NCHAN]` bytes.
    data: Vec<u8>,
    filled: usize,
    rows: usize,
    nsamples: u64,
}

/// Gregorian calendar date and time `YYYY-MM-DDThh:mm:ss` of an MJD (UTC, no leap seconds).
fn mjd_to_iso(mjd: f64) -> String {
    let days = mjd.floor() as i64;
    let secs = ((mjd - days as f64) * 86400.0).floor().clamp(0.0, 86399.0) as i64;
    // Civil-from-days (H. Hinnant's algorithm), days counted from 1970-01-01 = MJD 40587.
    let z = days - 40587 + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
}

impl PsrfitsWriter {
    /// Creates `path` (via a temporary file) and writes the primary header and an empty SUBINT
    /// table for `header` (its `nchans`, channel frequencies, `tsamp_s`, `tstart_mjd`,
    /// `source_name`, `src_raj`/`src_dej`). The data are always written as 8-bit, NPOL 1.
    ///
    /// # Errors
    /// [`IoError::Format`] if `nchans` is 0 or `tsamp_s` is not positive, or cfitsio fails.
    pub fn create(path: &Path, header: &Header) -> Result<PsrfitsWriter, IoError> {
        let nchans = header.nchans;
        if nchans == 0 {
            return Err(IoError::format(path, "cannot write PSRFITS with nchans = 0"));
        }
        if !(header.tsamp_s.is_finite() && header.tsamp_s > 0.0) {
            return Err(IoError::format(path, format!("cannot write PSRFITS with tsamp = {} s", header.tsamp_s)));
        }
        let freqs = header.chan_freqs_mhz();
        if freqs.len() != nchans {
            return Err(IoError::format(path, format!("{} channel frequencies for nchans = {nchans}", freqs.len())));
        }
        let staged = super::output::Staged::new(path);
        let mut f = Fits::create(staged.tmp()).map_err(|e| IoError::format(path, staged.relabel(&e.to_string())))?;
        f.label_as(path);
        let nsblk = WRITER_NSBLK;
        let foff = if header.foff_mhz != 0.0 {
            header.foff_mhz
        } else if nchans > 1 {
            (freqs[nchans - 1] - freqs[0]) / (nchans - 1) as f64
        } else {
            0.0
        };
        let r = (|| -> Result<(), IoError> {
            f.write_empty_primary()?;
            f.put_str("HDRVER", "6.1", "Header version")?;
            f.put_str("FITSTYPE", "PSRFITS", "FITS definition for pulsar data files")?;
            let date = mjd_to_iso(header.tstart_mjd);
            f.put_str("DATE", &date, "File creation date (set to DATE-OBS: reproducible output)")?;
            f.put_str("OBSERVER", "tianyan", "Observer name(s)")?;
            f.put_str("PROJID", "tianyan", "Project name")?;
            // The telescope of the header (a converted file keeps its own); FAST's position and
            // receiver only for FAST.
            let is_fast = telescope_name(header.telescope_id) == Some("FAST");
            f.put_str("TELESCOP", telescope_name(header.telescope_id).unwrap_or("unknown"), "Telescope name")?;
            if is_fast {
                f.put_f64("ANT_X", FAST_ITRF_M[0], "[m] Antenna ITRF X-coordinate")?;
                f.put_f64("ANT_Y", FAST_ITRF_M[1], "[m] Antenna ITRF Y-coordinate")?;
                f.put_f64("ANT_Z", FAST_ITRF_M[2], "[m] Antenna ITRF Z-coordinate")?;
            }
            f.put_str("FRONTEND", if is_fast { "19BEAM" } else { "unknown" }, "Receiver ID")?;
            f.put_int("IBEAM", header.ibeam.unwrap_or(1) as i64, "Beam ID for multibeam systems")?;
            f.put_int("NRCVR", 2, "Number of receiver polarisation channels")?;
            f.put_str("FD_POLN", "LIN", "LIN or CIRC")?;
            f.put_str("BACKEND", "tianyan", "Backend ID")?;
            f.put_str("OBS_MODE", "SEARCH", "(PSR, CAL, SEARCH)")?;
            f.put_str("DATE-OBS", &date, "Date of observation (YYYY-MM-DDThh:mm:ss UTC)")?;
            let (lo, hi) = header.band_edges_mhz();
            f.put_f64("OBSFREQ", 0.5 * (lo + hi), "[MHz] Centre frequency for observation")?;
            f.put_f64("OBSBW", (hi - lo) * if foff < 0.0 { -1.0 } else { 1.0 }, "[MHz] Bandwidth for observation")?;
            f.put_int("OBSNCHAN", nchans as i64, "Number of frequency channels (original)")?;
            f.put_f64("CHAN_DM", 0.0, "DM used to de-disperse each channel (pc/cm^3)")?;
            f.put_str("SRC_NAME", header.source_name.trim(), "Source or scan ID")?;
            f.put_str("COORD_MD", "J2000", "Coordinate mode")?;
            f.put_f64("EQUINOX", 2000.0, "Equinox of coords")?;
            f.put_str(
                "RA",
                &sigproc_to_sexagesimal(header.src_raj.unwrap_or(0.0), false),
                "Right ascension (hh:mm:ss.ssss)",
            )?;
            f.put_str(
                "DEC",
                &sigproc_to_sexagesimal(header.src_dej.unwrap_or(0.0), true),
                "Declination (-dd:mm:ss.sss)",
            )?;
            f.put_str("TRK_MODE", "TRACK", "Track mode")?;
            let imjd = header.tstart_mjd.floor();
            let secs = (header.tstart_mjd - imjd) * 86400.0;
            let smjd = secs.floor();
            f.put_int("STT_IMJD", imjd as i64, "Start MJD (UTC days) (J - long integer)")?;
            f.put_int("STT_SMJD", smjd as i64, "[s] Start time (sec past UTC 00h) (J)")?;
            f.put_f64("STT_OFFS", secs - smjd, "[s] Start time offset (D)")?;
            f.put_f64("STT_LST", 0.0, "[s] Start LST (D)")?;
            let n = nchans;
            f.create_table(
                "SUBINT",
                &[
                    ("TSUBINT", "1D".into(), "s"),
                    ("OFFS_SUB", "1D".into(), "s"),
                    ("DAT_FREQ", format!("{n}D"), "MHz"),
                    ("DAT_WTS", format!("{n}E"), ""),
                    ("DAT_OFFS", format!("{n}E"), ""),
                    ("DAT_SCL", format!("{n}E"), ""),
                    ("DATA", format!("{}B", nsblk * n), "Jy"),
                ],
            )?;
            f.put_str("TDIM7", &format!("({n},1,{nsblk})"), "Dimensions (NCHAN,NPOL,NSBLK)")?;
            f.put_str("INT_TYPE", "TIME", "Time axis")?;
            f.put_str("INT_UNIT", "SEC", "Unit of time axis")?;
            f.put_str("SCALE", "FluxDen", "Intensity units")?;
            f.put_int("NPOL", 1, "Nr of polarisations")?;
            f.put_str("POL_TYPE", "AA+BB", "Polarisation identifier")?;
            f.put_f64("TBIN", header.tsamp_s, "[s] Time per bin or sample")?;
            f.put_int("NBIN", 1, "Nr of bins (PSR/CAL mode; else 1)")?;
            f.put_int("NBIN_PRD", 0, "Nr of bins/pulse period (for gated data)")?;
            f.put_f64("PHS_OFFS", 0.0, "Phase offset of bin 0 for gated data")?;
            f.put_int("NBITS", 8, "Nr of bits/datum")?;
            f.put_f64("ZERO_OFF", 0.0, "Zero offset for SEARCH-mode data")?;
            f.put_int("SIGNINT", 0, "1 for signed ints in SEARCH-mode data, else 0")?;
            f.put_int("NSUBOFFS", 0, "Subint offset (Contiguous SEARCH-mode files)")?;
            f.put_int("NCHAN", n as i64, "Number of channels in this file")?;
            f.put_f64("CHAN_BW", foff, "[MHz] Channel width")?;
            f.put_f64("DM", 0.0, "[cm-3 pc] DM for post-detection dedispersion")?;
            f.put_f64("RM", 0.0, "[rad m-2] RM for post-detection deFaraday")?;
            f.put_int("NCHNOFFS", 0, "Channel offset for split files")?;
            f.put_int("NSBLK", nsblk as i64, "Samples/row (SEARCH mode, else 1)")?;
            f.put_int("NSTOT", 0, "Total number of samples (the last row is zero padded)")?;
            Ok(())
        })();
        if let Err(e) = r {
            drop(f);
            return Err(e);
        }
        let mut prefix = Vec::with_capacity(16 + 20 * nchans);
        prefix.extend_from_slice(&(nsblk as f64 * header.tsamp_s).to_be_bytes());
        prefix.extend_from_slice(&0f64.to_be_bytes()); // OFFS_SUB, set per row
        for fr in &freqs {
            prefix.extend_from_slice(&fr.to_be_bytes());
        }
        for v in [1f32, 0f32, 1f32] {
            for _ in 0..nchans {
                prefix.extend_from_slice(&v.to_be_bytes());
            }
        }
        Ok(PsrfitsWriter {
            fits: Some(f),
            path: path.to_path_buf(),
            staged: Some(staged),
            nchans,
            tbin: header.tsamp_s,
            prefix,
            data: vec![0u8; nsblk * nchans],
            filled: 0,
            rows: 0,
            nsamples: 0,
        })
    }

    fn flush_row(&mut self) -> Result<(), IoError> {
        let tsub = WRITER_NSBLK as f64 * self.tbin;
        let offs_sub = (self.rows as f64 + 0.5) * tsub;
        self.prefix[8..16].copy_from_slice(&offs_sub.to_be_bytes());
        let mut row = Vec::with_capacity(self.prefix.len() + self.data.len());
        row.extend_from_slice(&self.prefix);
        row.extend_from_slice(&self.data);
        let f = self.fits.as_mut().ok_or_else(|| IoError::format(&self.path, "writer already finished"))?;
        f.write_row_bytes(self.rows, &row)?;
        self.rows += 1;
        self.filled = 0;
        self.data.iter_mut().for_each(|b| *b = 0);
        Ok(())
    }

    /// Appends `block` (`[nsamples][nchans]`, channel order as in the header), each value
    /// rounded to the nearest integer and clamped to 0..=255 (NaN → 0).
    ///
    /// # Errors
    /// [`IoError::Format`] if the block has the wrong number of channels, or cfitsio fails.
    pub fn write_block(&mut self, block: ArrayView2<f32>) -> Result<(), IoError> {
        if block.ncols() != self.nchans {
            return Err(IoError::format(
                &self.path,
                format!("block has {} channels, the file has {}", block.ncols(), self.nchans),
            ));
        }
        for spec in block.rows() {
            let o = self.filled * self.nchans;
            for (d, &v) in self.data[o..o + self.nchans].iter_mut().zip(spec.iter()) {
                *d = if v.is_nan() { 0 } else { v.round().clamp(0.0, 255.0) as u8 };
            }
            self.filled += 1;
            self.nsamples += 1;
            if self.filled == WRITER_NSBLK {
                self.flush_row()?;
            }
        }
        Ok(())
    }

    /// Pads the last row with zeros, records the real sample count in `NSTOT`, closes and
    /// renames the file into place. Returns the number of samples written (without padding).
    ///
    /// # Errors
    /// [`IoError::Format`] if no sample was written (a PSRFITS file needs at least one row),
    /// or cfitsio fails; [`IoError::Os`] if the rename fails. No output is left on error.
    pub fn finish(self) -> Result<u64, IoError> {
        let (n, staged) = self.finish_staged()?;
        staged.commit()?;
        Ok(n)
    }

    /// As [`PsrfitsWriter::finish`] but without the final rename: returns the samples written and
    /// the complete temporary file, to be committed together with other outputs
    /// ([`crate::io::output::OutputSet`]).
    ///
    /// # Errors
    /// As [`PsrfitsWriter::finish`]; the temporary is removed on error.
    pub fn finish_staged(mut self) -> Result<(u64, super::output::Staged), IoError> {
        let r = (|| -> Result<(), IoError> {
            if self.nsamples == 0 {
                return Err(IoError::format(&self.path, "no samples written: a PSRFITS file needs at least one row"));
            }
            if self.filled > 0 {
                self.flush_row()?;
            }
            let mut f = self.fits.take().ok_or_else(|| IoError::format(&self.path, "writer already finished"))?;
            f.put_int("NSTOT", self.nsamples as i64, "Total number of samples (the last row is zero padded)")?;
            f.close()
        })();
        self.fits = None;
        let staged = self.staged.take().ok_or_else(|| IoError::format(&self.path, "writer already finished"))?;
        r?;
        Ok((self.nsamples, staged))
    }
}

impl Drop for PsrfitsWriter {
    fn drop(&mut self) {
        // Not finished: close the file; dropping `staged` then removes the partial temporary.
        self.fits = None;
        self.staged = None;
    }
}

/// The PSRFITS keywords `tianyan header` shows, as `(name, value text)` in a fixed order,
/// absent keywords left out: from the primary HDU `TELESCOP`, `OBSERVER`, `PROJID`, `FRONTEND`,
/// `BACKEND`, `OBS_MODE`, `SRC_NAME`, `RA`, `DEC` (sexagesimal strings as written), `STT_IMJD`,
/// `STT_SMJD`, `STT_OFFS`, `OBSFREQ`, `OBSBW`, `OBSNCHAN`, `CHAN_DM`, `BMAJ`, `BMIN`; from
/// `SUBINT` `NPOL`, `POL_TYPE`, `NSBLK`, `NCHAN`, `NBITS`, `TBIN`, `NSUBOFFS`, `NSTOT`, `NAXIS2`,
/// `ZERO_OFF`.
///
/// # Errors
/// [`IoError`] naming `path` when it is not a FITS file or has no `SUBINT` table.
pub fn psrfits_keywords(path: &Path) -> Result<Vec<(String, String)>, IoError> {
    let mut f = Fits::open_readonly(path)?;
    let mut out = Vec::new();
    f.move_to_hdu(1)?;
    for k in [
        "TELESCOP", "OBSERVER", "PROJID", "FRONTEND", "BACKEND", "OBS_MODE", "SRC_NAME", "RA", "DEC", "STT_IMJD",
        "STT_SMJD", "STT_OFFS", "OBSFREQ", "OBSBW", "OBSNCHAN", "CHAN_DM", "BMAJ", "BMIN",
    ] {
        if let Some(v) = f.key_str(k)? {
            out.push((k.to_string(), v));
        }
    }
    if !f.move_to_table("SUBINT")? {
        return Err(IoError::format(path, "no SUBINT table: not a PSRFITS search-mode file"));
    }
    for k in ["NPOL", "POL_TYPE", "NSBLK", "NCHAN", "NBITS", "TBIN", "NSUBOFFS", "NSTOT", "NAXIS2", "ZERO_OFF"] {
        if let Some(v) = f.key_str(k)? {
            out.push((k.to_string(), v));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tform_widths() {
        assert_eq!(parse_tform("336E"), Some((336, 'E', 1344)));
        assert_eq!(parse_tform("1D"), Some((1, 'D', 8)));
        assert_eq!(parse_tform("D"), Some((1, 'D', 8)));
        assert_eq!(parse_tform("16X"), Some((16, 'X', 2)));
        assert_eq!(parse_tform("1703936B"), Some((1703936, 'B', 1703936)));
        assert_eq!(parse_tform("Z"), None);
    }

    #[test]
    fn mjd_dates() {
        assert_eq!(mjd_to_iso(40587.0), "1970-01-01T00:00:00");
        assert_eq!(mjd_to_iso(51544.5), "2000-01-01T12:00:00");
        assert_eq!(mjd_to_iso(58682.0), "2019-07-18T00:00:00");
    }

    #[test]
    fn sexagesimal_round_trip() {
        let v = sexagesimal_to_sigproc("12:26:37.6361").unwrap_or(0.0);
        assert!((v - 122637.6361).abs() < 1e-6);
        let d = sexagesimal_to_sigproc("-08:47:43.7463").unwrap_or(0.0);
        assert!((d + 84743.7463).abs() < 1e-6);
        assert_eq!(sigproc_to_sexagesimal(-84743.7463, true), "-08:47:43.7463");
    }
}
