//! SIGPROC filterbank (`.fil`) and time-series (`.tim`) reader and writer.
//!
//! # The format
//! A SIGPROC file is a keyword header followed by raw samples. Every header item is a
//! *string* (4-byte integer length, then that many bytes, no terminator); a keyword string is
//! followed by its value: a 4-byte integer, an 8-byte IEEE double, another string, or (for
//! `signed` only) one byte. The header opens with `HEADER_START` and closes with `HEADER_END`;
//! the data start at the byte after `HEADER_END`. This follows `read_header.c` / `send_stuff.c`
//! of SIGPROC (Lorimer, <https://sigproc.sourceforge.net>) and its later fork SixByNine/sigproc.
//!
//! Conventions applied here (see the shared TRAPS.md entries named in brackets):
//! * **Byte order** is decided from the first 4 bytes, which must encode 12 (the length of
//!   `HEADER_START`) either little-endian (`0C 00 00 00`) or big-endian (`00 00 00 0C`); any other
//!   start is "not a SIGPROC file" \[B06\]. In a big-endian file every header number and every
//!   16-/32-bit sample is big-endian.
//! * **Keywords**: all standard SIGPROC keywords are understood (ints `telescope_id`, `machine_id`,
//!   `data_type`, `barycentric`, `pulsarcentric`, `nbits`, `nchans`, `nifs`, `nbeams`, `ibeam`,
//!   `nsamples`; doubles `tstart`, `tsamp`, `fch1`, `foff`, `refdm`, `period`, `az_start`,
//!   `za_start`, `src_raj`, `src_dej`, `fchannel`; strings `rawdatafile`, `source_name`; the one-byte
//!   `signed`; the markers `FREQUENCY_START`/`FREQUENCY_END`). An unknown keyword is an error that
//!   names it and its byte offset: skipping it safely is impossible because its width is unknown \[B02\].
//! * **Strings** of any length (0 or hundreds of bytes) are read; the length prefix is always
//!   counted \[B04\]. Keywords are at most 64 bytes and values at most 1 MiB (a larger length means
//!   a corrupt header).
//! * **Frequency table**: `fchannel` values between `FREQUENCY_START` and `FREQUENCY_END` become
//!   [`Header::freqs_mhz`]; `fch1`/`foff` are then set to the first entry and the mean spacing \[B05\].
//! * **Sample count** = `data_bytes·8 / (nbits·nchans·nifs)` (integer division in bits, so sub-byte
//!   data whose spectra are not byte-aligned count correctly \[B08\]). A trailing partial spectrum is
//!   ignored with a warning. The legacy `nsamples` keyword: when it disagrees with the file size,
//!   the **smaller** of the two is used, with a warning \[B03\]; when a spectrum is shorter than a
//!   byte the zero padding of the last byte may hold one phantom spectrum, and a keyword one below
//!   the size's count that fills exactly the data bytes is used silently. The writer writes
//!   `nsamples` only for such files (`nchans·nbits < 8`), where the size alone is ambiguous.
//! * **Sample encoding**: 1, 2 and 4 bits are unsigned and packed **LSB-first** (the first channel
//!   in the lowest bits of a byte; confirmed on the sigpyproc3 Parkes files), as one continuous bit
//!   stream across spectra; 8 bits unsigned, or two's-complement `i8` when `signed` = 1;
//!   16 bits unsigned `u16` (or `i16` when `signed` = 1); 32 bits IEEE `f32`.
//! * **IFs**: a spectrum is stored as `[nifs][nchans]`; the reader sums the IFs by default, or keeps
//!   one ([`IfSelection`]).
//! * The header is parsed without touching the data; data are read block by block with
//!   seek + read at `u64` offsets, so files beyond 4 GiB work and memory is set by the block \[B28\].

use super::output::Staged;
use super::{Header, IoError, Observation};
use ndarray::{Array2, ArrayView2};
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Longest keyword accepted while parsing (longer means a corrupt header).
const MAX_KEY_LEN: usize = 64;
/// Longest string value accepted while parsing (1 MiB; longer means a corrupt header).
const MAX_STRING_LEN: usize = 1 << 20;
/// Bit widths supported for filterbank samples.
const SUPPORTED_NBITS: [u32; 6] = [1, 2, 4, 8, 16, 32];

/// Value type of each standard SIGPROC keyword.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Int,
    Double,
    Str,
    Byte,
    Marker,
}

fn keyword_kind(key: &str) -> Option<Kind> {
    Some(match key {
        "telescope_id" | "machine_id" | "data_type" | "barycentric" | "pulsarcentric" | "nbits" | "nchans" | "nifs"
        | "nbeams" | "ibeam" | "nsamples" => Kind::Int,
        "tstart" | "tsamp" | "fch1" | "foff" | "refdm" | "period" | "az_start" | "za_start" | "src_raj" | "src_dej"
        | "fchannel" => Kind::Double,
        "rawdatafile" | "source_name" => Kind::Str,
        "signed" => Kind::Byte,
        "FREQUENCY_START" | "FREQUENCY_END" | "HEADER_END" => Kind::Marker,
        _ => return None,
    })
}

/// Byte-order-aware primitive reader over the header, counting bytes consumed.
struct HeaderParser<'a, R: Read> {
    r: R,
    pos: u64,
    big_endian: bool,
    path: &'a Path,
}

impl<R: Read> HeaderParser<'_, R> {
    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N], IoError> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                IoError::format(
                    self.path,
                    format!("SIGPROC header ends early (reading {what} at byte offset {}); no HEADER_END", self.pos),
                )
            } else {
                IoError::os(self.path, e)
            }
        })?;
        self.pos += N as u64;
        Ok(b)
    }
    fn int(&mut self, what: &str) -> Result<i32, IoError> {
        let b = self.bytes::<4>(what)?;
        Ok(if self.big_endian { i32::from_be_bytes(b) } else { i32::from_le_bytes(b) })
    }
    fn double(&mut self, what: &str) -> Result<f64, IoError> {
        let b = self.bytes::<8>(what)?;
        Ok(if self.big_endian { f64::from_be_bytes(b) } else { f64::from_le_bytes(b) })
    }
    /// Reads a length-prefixed string of at most `max` bytes.
    fn string(&mut self, what: &str, max: usize) -> Result<String, IoError> {
        let at = self.pos;
        let len = self.int(what)?;
        if len < 0 || len as usize > max {
            return Err(IoError::format(
                self.path,
                format!("corrupt SIGPROC header: {what} length {len} at byte offset {at} (allowed 0..={max})"),
            ));
        }
        let mut buf = vec![0u8; len as usize];
        self.r.read_exact(&mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                IoError::format(self.path, format!("SIGPROC header ends inside {what} at byte offset {at}"))
            } else {
                IoError::os(self.path, e)
            }
        })?;
        self.pos += len as u64;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// Header values collected while parsing, before checks and defaults.
#[derive(Default)]
struct Raw {
    ints: std::collections::HashMap<&'static str, i32>,
    doubles: std::collections::HashMap<&'static str, f64>,
    fchannel: Vec<f64>,
    in_table: bool,
    saw_table: bool,
}

fn intern(key: &str) -> &'static str {
    // All keys passed here come from keyword_kind's list.
    const KEYS: [&str; 22] = [
        "telescope_id",
        "machine_id",
        "data_type",
        "barycentric",
        "pulsarcentric",
        "nbits",
        "nchans",
        "nifs",
        "nbeams",
        "ibeam",
        "nsamples",
        "tstart",
        "tsamp",
        "fch1",
        "foff",
        "refdm",
        "period",
        "az_start",
        "za_start",
        "src_raj",
        "src_dej",
        "fchannel",
    ];
    KEYS.iter().copied().find(|k| *k == key).unwrap_or("?")
}

/// Everything `parse_header` learns from the header bytes alone.
struct Parsed {
    header: Header,
    data_offset: u64,
    big_endian: bool,
    nsamples_keyword: Option<u64>,
}

/// Parses a SIGPROC header from `r`, which must be positioned at byte 0. Reads exactly the header
/// bytes (through `HEADER_END`) and nothing after them. `header.nsamples` is left 0.
fn parse_header<R: Read>(r: R, path: &Path) -> Result<Parsed, IoError> {
    let mut p = HeaderParser { r, pos: 0, big_endian: false, path };
    let first: [u8; 4] = match p.bytes::<4>("the first 4 bytes") {
        Ok(b) => b,
        Err(_) => return Err(IoError::UnknownFormat { path: path.to_path_buf(), first: vec![] }),
    };
    p.big_endian = match first {
        [12, 0, 0, 0] => false,
        [0, 0, 0, 12] => true,
        _ => {
            return Err(IoError::format(
                path,
                format!(
                    "not a SIGPROC file: first 4 bytes {first:02x?} encode neither 12 little-endian nor big-endian"
                ),
            ))
        }
    };
    let mut start = [0u8; 12];
    p.r.read_exact(&mut start).map_err(|_| IoError::format(path, "not a SIGPROC file: too short for HEADER_START"))?;
    p.pos += 12;
    if &start != b"HEADER_START" {
        return Err(IoError::format(path, "not a SIGPROC file: does not start with HEADER_START"));
    }

    let mut h = Header::default();
    let mut raw = Raw::default();
    loop {
        let key_at = p.pos;
        let key = p.string("keyword", MAX_KEY_LEN)?;
        let kind = keyword_kind(&key).ok_or_else(|| {
            IoError::format(
                path,
                format!(
                    "unknown SIGPROC header keyword {key:?} at byte offset {key_at}; its value width is unknown, \
                     so the header cannot be read past it"
                ),
            )
        })?;
        match kind {
            Kind::Marker => match key.as_str() {
                "HEADER_END" => break,
                "FREQUENCY_START" => {
                    raw.in_table = true;
                    raw.saw_table = true;
                }
                _ => raw.in_table = false,
            },
            Kind::Int => {
                let v = p.int(&key)?;
                raw.ints.insert(intern(&key), v);
            }
            Kind::Double => {
                let v = p.double(&key)?;
                if key == "fchannel" {
                    if !raw.in_table {
                        return Err(IoError::format(
                            path,
                            format!("fchannel outside FREQUENCY_START/FREQUENCY_END at byte offset {key_at}"),
                        ));
                    }
                    raw.fchannel.push(v);
                } else {
                    raw.doubles.insert(intern(&key), v);
                }
            }
            Kind::Str => {
                let v = p.string(&key, MAX_STRING_LEN)?;
                if key == "source_name" {
                    h.source_name = v;
                } else {
                    h.rawdatafile = v;
                }
            }
            Kind::Byte => {
                let b = p.bytes::<1>(&key)?;
                h.signed = b[0] != 0;
            }
        }
    }
    let data_offset = p.pos;

    let need_int = |k: &str| -> Result<i32, IoError> {
        raw.ints.get(k).copied().ok_or_else(|| IoError::format(path, format!("SIGPROC header has no {k}")))
    };
    let nbits = need_int("nbits")?;
    if nbits < 0 || !SUPPORTED_NBITS.contains(&(nbits as u32)) {
        return Err(IoError::format(path, format!("unsupported nbits {nbits} (supported: 1, 2, 4, 8, 16, 32)")));
    }
    h.nbits = nbits as u32;
    let nchans = need_int("nchans")?;
    if nchans < 1 {
        return Err(IoError::format(path, format!("invalid nchans {nchans}")));
    }
    h.nchans = nchans as usize;
    let nifs = raw.ints.get("nifs").copied().unwrap_or(1);
    if nifs < 1 {
        return Err(IoError::format(path, format!("invalid nifs {nifs}")));
    }
    h.nifs = nifs as usize;
    h.telescope_id = raw.ints.get("telescope_id").copied().unwrap_or(0);
    h.machine_id = raw.ints.get("machine_id").copied().unwrap_or(0);
    h.data_type = raw.ints.get("data_type").copied().unwrap_or(1);
    h.barycentric = raw.ints.get("barycentric").copied();
    h.pulsarcentric = raw.ints.get("pulsarcentric").copied();
    h.nbeams = raw.ints.get("nbeams").copied();
    h.ibeam = raw.ints.get("ibeam").copied();
    let nsamples_keyword = raw.ints.get("nsamples").map(|&v| v.max(0) as u64);

    h.tsamp_s =
        raw.doubles.get("tsamp").copied().ok_or_else(|| IoError::format(path, "SIGPROC header has no tsamp"))?;
    if !(h.tsamp_s.is_finite() && h.tsamp_s > 0.0) {
        return Err(IoError::format(path, format!("invalid tsamp {} s", h.tsamp_s)));
    }
    h.tstart_mjd = raw.doubles.get("tstart").copied().unwrap_or(0.0);
    h.refdm = raw.doubles.get("refdm").copied();
    h.period = raw.doubles.get("period").copied();
    h.az_start = raw.doubles.get("az_start").copied();
    h.za_start = raw.doubles.get("za_start").copied();
    h.src_raj = raw.doubles.get("src_raj").copied();
    h.src_dej = raw.doubles.get("src_dej").copied();

    if raw.saw_table {
        if raw.fchannel.len() != h.nchans {
            return Err(IoError::format(
                path,
                format!("frequency table has {} fchannel entries but nchans is {}", raw.fchannel.len(), h.nchans),
            ));
        }
        let t = raw.fchannel;
        h.fch1_mhz = t[0];
        h.foff_mhz = if t.len() > 1 { (t[t.len() - 1] - t[0]) / (t.len() - 1) as f64 } else { 0.0 };
        h.freqs_mhz = Some(t);
    } else {
        h.fch1_mhz = raw
            .doubles
            .get("fch1")
            .copied()
            .ok_or_else(|| IoError::format(path, "SIGPROC header has neither fch1 nor a FREQUENCY_START table"))?;
        h.foff_mhz = match raw.doubles.get("foff") {
            Some(&f) => f,
            None if h.nchans == 1 => 0.0,
            None => return Err(IoError::format(path, "SIGPROC header has no foff (and no frequency table)")),
        };
    }
    h.check_physical(path)?;
    Ok(Parsed { header: h, data_offset, big_endian: p.big_endian, nsamples_keyword })
}

/// Bits in one stored spectrum (`nbits · nchans · nifs`).
fn bits_per_spectrum(h: &Header) -> u64 {
    h.nbits as u64 * h.nchans as u64 * h.nifs as u64
}

/// Parses the header of `path` and sets `nsamples` from the file size (and the `nsamples`
/// keyword, the smaller winning). Returns the header, data offset and byte order.
fn header_of_file(path: &Path) -> Result<(Header, u64, bool), IoError> {
    super::check_regular_file(path)?;
    let file = File::open(path).map_err(|e| IoError::os(path, e))?;
    let file_len = file.metadata().map_err(|e| IoError::os(path, e))?.len();
    // A small buffer: the parser stops at HEADER_END, so at most one 4 KiB page of data is touched.
    let parsed = parse_header(std::io::BufReader::with_capacity(4096, file), path)?;
    let mut h = parsed.header;
    let data_bytes = file_len.saturating_sub(parsed.data_offset);
    let bps = bits_per_spectrum(&h);
    let from_size = data_bytes.saturating_mul(8) / bps;
    let used_bytes = (from_size * bps).div_ceil(8);
    if data_bytes > used_bytes {
        tracing::warn!(
            "{}: {} trailing byte(s) after {} whole spectra ignored (partial final spectrum)",
            path.display(),
            data_bytes - used_bytes,
            from_size
        );
    }
    h.nsamples = match parsed.nsamples_keyword {
        // A spectrum shorter than a byte: the zero padding of the last byte can look like one
        // more spectrum; the keyword (which tianyan writes for such files) settles it [B08].
        Some(k) if k < from_size && (k * bps).div_ceil(8) == data_bytes => k,
        Some(k) if k != from_size => {
            let n = k.min(from_size);
            tracing::warn!(
                "{}: header nsamples = {k} disagrees with the file size ({from_size} spectra); using {n}",
                path.display()
            );
            n
        }
        _ => from_size,
    };
    Ok((h, parsed.data_offset, parsed.big_endian))
}

/// Reads the SIGPROC header of `path` without reading its data.
///
/// Returns the header (with `nsamples` derived from the file size as described in the module docs,
/// possibly 0) and the data offset in bytes (the byte after `HEADER_END`).
///
/// # Errors
/// [`IoError::Os`] if the file cannot be opened; [`IoError::Format`] for a file that is not SIGPROC,
/// an unknown keyword (named, with its byte offset), a truncated header, missing `nbits`/`nchans`/
/// `tsamp`/`fch1`, or unsupported `nbits`.
pub fn read_header(path: &Path) -> Result<(Header, u64), IoError> {
    let (h, off, _) = header_of_file(path)?;
    Ok((h, off))
}

/// Which IF (polarisation) a [`SigprocReader`] returns when `nifs > 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IfSelection {
    /// Sum of all IFs (the default; total intensity for AA/BB data).
    #[default]
    Sum,
    /// Only IF `k` (0-based).
    Keep(usize),
}

/// Block reader of a SIGPROC filterbank file (see the module docs for the conventions).
///
/// Memory is bounded by the requested block; the file is read with seek + read at `u64` offsets.
pub struct SigprocReader {
    path: PathBuf,
    header: Header,
    file: File,
    data_offset: u64,
    big_endian: bool,
    ifs: IfSelection,
    /// Raw bytes of the last block read (reused).
    buf: Vec<u8>,
}

impl SigprocReader {
    /// Opens `path` and parses its header (never reads the data). IFs are summed by default.
    ///
    /// # Errors
    /// Those of [`read_header`], and [`IoError::Format`] "… contains no samples" when the file holds
    /// no complete spectrum.
    pub fn open(path: &Path) -> Result<Self, IoError> {
        let (header, data_offset, big_endian) = header_of_file(path)?;
        if header.nsamples == 0 {
            return Err(IoError::format(
                path,
                format!("SIGPROC file contains no samples (header of {data_offset} bytes and no complete spectrum)"),
            ));
        }
        let file = File::open(path).map_err(|e| IoError::os(path, e))?;
        Ok(SigprocReader {
            path: path.to_path_buf(),
            header,
            file,
            data_offset,
            big_endian,
            ifs: IfSelection::Sum,
            buf: Vec::new(),
        })
    }

    /// Chooses which IF `read_block` returns when `nifs > 1`.
    ///
    /// # Errors
    /// [`IoError::Format`] when `Keep(k)` has `k >= nifs`.
    pub fn with_if_selection(mut self, ifs: IfSelection) -> Result<Self, IoError> {
        if let IfSelection::Keep(k) = ifs {
            if k >= self.header.nifs {
                return Err(IoError::format(
                    &self.path,
                    format!("IF {k} requested but the file has nifs = {}", self.header.nifs),
                ));
            }
        }
        self.ifs = ifs;
        Ok(self)
    }

    /// Byte offset of the first data byte (the byte after `HEADER_END`).
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// True when the file is big-endian (first bytes `00 00 00 0C`).
    pub fn is_big_endian(&self) -> bool {
        self.big_endian
    }
}

/// Decodes `count` consecutive stored values starting `first_bit` bits into `buf`, calling
/// `out(i, value)` for value `i`.
fn decode_values(
    buf: &[u8],
    first_bit: u64,
    count: usize,
    nbits: u32,
    signed: bool,
    big_endian: bool,
    mut out: impl FnMut(usize, f32),
) {
    match nbits {
        1 | 2 | 4 => {
            let mask = (1u8 << nbits) - 1;
            let nb = nbits as u64;
            for i in 0..count {
                let b = first_bit + i as u64 * nb;
                out(i, ((buf[(b >> 3) as usize] >> (b & 7)) & mask) as f32);
            }
        }
        8 => {
            let s = (first_bit / 8) as usize;
            if signed {
                buf[s..s + count].iter().enumerate().for_each(|(i, &v)| out(i, v as i8 as f32));
            } else {
                buf[s..s + count].iter().enumerate().for_each(|(i, &v)| out(i, v as f32));
            }
        }
        16 => {
            let s = (first_bit / 8) as usize;
            for (i, c) in buf[s..s + 2 * count].chunks_exact(2).enumerate() {
                let b = [c[0], c[1]];
                let u = if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) };
                out(i, if signed { u as i16 as f32 } else { u as f32 });
            }
        }
        _ => {
            let s = (first_bit / 8) as usize;
            for (i, c) in buf[s..s + 4 * count].chunks_exact(4).enumerate() {
                let b = [c[0], c[1], c[2], c[3]];
                out(i, if big_endian { f32::from_be_bytes(b) } else { f32::from_le_bytes(b) });
            }
        }
    }
}

impl Observation for SigprocReader {
    fn header(&self) -> &Header {
        &self.header
    }

    /// Reads spectra `start_sample .. start_sample + nsamples` as `[nsamples][nchans]` `f32`
    /// (raw counts; IFs summed or selected per [`IfSelection`]).
    ///
    /// # Errors
    /// [`IoError::OutOfRange`] past the end; [`IoError::Os`] on a read failure.
    fn read_block(&mut self, start_sample: u64, nsamples: usize) -> Result<Array2<f32>, IoError> {
        let mut out = Array2::<f32>::zeros((0, self.header.nchans));
        self.read_block_into(start_sample, nsamples, &mut out)?;
        Ok(out)
    }

    /// As [`Self::read_block`], into `out` (its allocation and the byte buffer are reused). 8-bit
    /// single-IF data are converted in parallel (rayon); the values do not depend on it.
    fn read_block_into(&mut self, start_sample: u64, nsamples: usize, out: &mut Array2<f32>) -> Result<(), IoError> {
        let h = &self.header;
        let end = IoError::check_range(&self.path, start_sample, nsamples, h.nsamples)?;
        let (nchans, nifs) = (h.nchans, h.nifs);
        super::reshape_reuse(out, nsamples, nchans);
        if nsamples == 0 {
            return Ok(());
        }
        let bps = bits_per_spectrum(h);
        let bit0 = start_sample * bps;
        let byte0 = bit0 / 8;
        let byte1 = (end * bps).div_ceil(8);
        let buf = &mut self.buf;
        buf.resize((byte1 - byte0) as usize, 0);
        self.file.seek(SeekFrom::Start(self.data_offset + byte0)).map_err(|e| IoError::os(&self.path, e))?;
        self.file.read_exact(buf).map_err(|e| IoError::os(&self.path, e))?;
        let first_bit = bit0 - byte0 * 8;
        let per_spec = nchans * nifs;
        let flat = out.as_slice_mut().expect("reshape_reuse gives a contiguous array");
        let (nbits, signed, be) = (h.nbits, h.signed, self.big_endian);
        if nifs > 1 {
            flat.fill(0.0);
        }
        match (nifs, self.ifs) {
            (1, _) if nbits == 8 && first_bit == 0 => {
                use rayon::prelude::*;
                const CHUNK: usize = 1 << 16;
                flat.par_chunks_mut(CHUNK).zip(buf[..nsamples * nchans].par_chunks(CHUNK)).for_each(|(o, b)| {
                    if signed {
                        o.iter_mut().zip(b).for_each(|(o, &v)| *o = v as i8 as f32);
                    } else {
                        o.iter_mut().zip(b).for_each(|(o, &v)| *o = v as f32);
                    }
                });
            }
            (1, _) => decode_values(buf, first_bit, nsamples * nchans, nbits, signed, be, |i, v| flat[i] = v),
            (_, IfSelection::Sum) => decode_values(buf, first_bit, nsamples * per_spec, nbits, signed, be, |i, v| {
                let (s, r) = (i / per_spec, i % per_spec);
                flat[s * nchans + r % nchans] += v;
            }),
            (_, IfSelection::Keep(k)) => {
                decode_values(buf, first_bit, nsamples * per_spec, nbits, signed, be, |i, v| {
                    let (s, r) = (i / per_spec, i % per_spec);
                    if r / nchans == k {
                        flat[s * nchans + r % nchans] = v;
                    }
                })
            }
        }
        Ok(())
    }

    fn source_description(&self) -> String {
        self.path.display().to_string()
    }
}

// ---------------------------------------------------------------- writing

fn put_str(w: &mut impl Write, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as i32).to_le_bytes())?;
    w.write_all(s.as_bytes())
}
fn put_int(w: &mut impl Write, key: &str, v: i32) -> std::io::Result<()> {
    put_str(w, key)?;
    w.write_all(&v.to_le_bytes())
}
fn put_double(w: &mut impl Write, key: &str, v: f64) -> std::io::Result<()> {
    put_str(w, key)?;
    w.write_all(&v.to_le_bytes())
}

/// Uniform spacing of a frequency table, if it has one (to 1e-9 relative); `None` when not uniform.
fn uniform_spacing(t: &[f64]) -> Option<f64> {
    if t.len() < 2 {
        return Some(0.0);
    }
    let d = (t[t.len() - 1] - t[0]) / (t.len() - 1) as f64;
    let tol = 1e-9 * t.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    t.iter().enumerate().all(|(i, &f)| (f - (t[0] + i as f64 * d)).abs() <= tol).then_some(d)
}

/// Writes a little-endian SIGPROC header with only standard keywords, their exact names and
/// widths (ints 4 bytes, doubles 8, `signed` 1 byte) \[B27\]. `nifs` is written as 1 (the data
/// written are one IF). `nsamples`, when given, is written last before `HEADER_END` (so its value
/// is the 4 bytes ending 14 bytes before the end of the header); otherwise it is not written.
/// Empty strings and `None` fields are omitted.
fn write_header_bytes(w: &mut impl Write, h: &Header, nifs: i32, nsamples: Option<i32>) -> std::io::Result<()> {
    put_str(w, "HEADER_START")?;
    if !h.rawdatafile.is_empty() {
        put_str(w, "rawdatafile")?;
        put_str(w, &h.rawdatafile)?;
    }
    if !h.source_name.is_empty() {
        put_str(w, "source_name")?;
        put_str(w, &h.source_name)?;
    }
    put_int(w, "telescope_id", h.telescope_id)?;
    put_int(w, "machine_id", h.machine_id)?;
    put_int(w, "data_type", h.data_type)?;
    for (k, v) in [("src_raj", h.src_raj), ("src_dej", h.src_dej), ("az_start", h.az_start), ("za_start", h.za_start)] {
        if let Some(v) = v {
            put_double(w, k, v)?;
        }
    }
    for (k, v) in [("barycentric", h.barycentric), ("pulsarcentric", h.pulsarcentric)] {
        if let Some(v) = v {
            put_int(w, k, v)?;
        }
    }
    match h.freqs_mhz.as_deref().map(|t| (t, uniform_spacing(t))) {
        Some((t, None)) => {
            put_str(w, "FREQUENCY_START")?;
            for &f in t {
                put_double(w, "fchannel", f)?;
            }
            put_str(w, "FREQUENCY_END")?;
        }
        Some((t, Some(d))) => {
            put_double(w, "fch1", t[0])?;
            put_double(w, "foff", d)?;
        }
        None => {
            put_double(w, "fch1", h.fch1_mhz)?;
            put_double(w, "foff", h.foff_mhz)?;
        }
    }
    put_int(w, "nchans", h.nchans as i32)?;
    put_int(w, "nbits", h.nbits as i32)?;
    put_double(w, "tstart", h.tstart_mjd)?;
    put_double(w, "tsamp", h.tsamp_s)?;
    put_int(w, "nifs", nifs)?;
    for (k, v) in [("refdm", h.refdm), ("period", h.period)] {
        if let Some(v) = v {
            put_double(w, k, v)?;
        }
    }
    for (k, v) in [("nbeams", h.nbeams), ("ibeam", h.ibeam)] {
        if let Some(v) = v {
            put_int(w, k, v)?;
        }
    }
    if h.signed {
        put_str(w, "signed")?;
        w.write_all(&[1u8])?;
    }
    if let Some(n) = nsamples {
        put_int(w, "nsamples", n)?;
    }
    put_str(w, "HEADER_END")
}

/// Bytes from the start of an `nsamples` value written by [`write_header_bytes`] to the end of
/// the header: the 4-byte value, then `HEADER_END` with its 4-byte length.
const NSAMPLES_VALUE_FROM_END: u64 = 4 + 4 + 10;

/// Checks that `h` can be written: supported `nbits`, `nchans ≥ 1`, finite positive `tsamp`,
/// frequency table of length `nchans`, `signed` only with 8 or 16 bits.
fn check_writable(path: &Path, h: &Header) -> Result<(), IoError> {
    if !SUPPORTED_NBITS.contains(&h.nbits) {
        return Err(IoError::format(path, format!("cannot write nbits {} (supported: 1, 2, 4, 8, 16, 32)", h.nbits)));
    }
    if h.nchans == 0 || h.nchans > i32::MAX as usize {
        return Err(IoError::format(path, format!("cannot write nchans {}", h.nchans)));
    }
    if !(h.tsamp_s.is_finite() && h.tsamp_s > 0.0) {
        return Err(IoError::format(path, format!("cannot write tsamp {} s", h.tsamp_s)));
    }
    if let Some(t) = &h.freqs_mhz {
        if t.len() != h.nchans {
            return Err(IoError::format(path, format!("frequency table has {} entries, nchans {}", t.len(), h.nchans)));
        }
    }
    if h.signed && !(h.nbits == 8 || h.nbits == 16) {
        return Err(IoError::format(
            path,
            format!("signed samples are only supported with 8 or 16 bits, not {}", h.nbits),
        ));
    }
    Ok(())
}

/// Streaming SIGPROC filterbank writer (little-endian, one IF).
///
/// Data go to a hidden temporary file beside the target ([`Staged`]); [`SigprocWriter::finish`]
/// flushes and renames it into place ([`SigprocWriter::finish_staged`] leaves the rename to the
/// caller, for outputs that must appear together). Dropping the writer without finishing removes
/// the temporary. Errors name the target path, never the temporary.
///
/// Samples are rounded to the nearest integer (halves away from zero) and clamped to the range of
/// `nbits`: `0..=2^nbits − 1` unsigned, `−128..=127` (8-bit) or `−32768..=32767` (16-bit) when
/// `header.signed`; NaN becomes 0. 32-bit data are written as `f32` unchanged. Sub-byte samples
/// are packed LSB-first as one continuous bit stream (a final partial byte is zero-padded).
/// When a spectrum is shorter than a byte (`nchans · nbits < 8`) the zero padding could hold a
/// whole spectrum, so the file size alone cannot give the sample count \[B08\]: the `nsamples`
/// keyword is then written (filled in by `finish`), and only then.
/// The file holds one IF: `nifs` is written as 1 whatever `header.nifs` says. Only standard
/// keywords are written (TRAPS B27); empty strings and `None` fields are left out.
pub struct SigprocWriter {
    path: PathBuf,
    staged: Option<Staged>,
    out: Option<BufWriter<File>>,
    nchans: usize,
    nbits: u32,
    signed: bool,
    nsamples: u64,
    /// Byte offset of the `nsamples` value to fill in at `finish`, when the keyword is written.
    nsamples_at: Option<u64>,
    /// Pending bits of a partly filled byte (sub-byte data) and how many are used.
    acc: u8,
    acc_bits: u32,
    scratch: Vec<u8>,
}

impl SigprocWriter {
    /// Creates the temporary file beside `path` and writes `header` (see the module docs for the
    /// keywords written: standard names only, `signed` only when true, `nsamples` only when a
    /// spectrum is shorter than a byte, `FREQUENCY_START` table when `freqs_mhz` is non-uniform).
    ///
    /// # Errors
    /// [`IoError::Format`] for an unwritable header (see the checks above), [`IoError::Os`] on I/O failure.
    pub fn create(path: &Path, header: &Header) -> Result<SigprocWriter, IoError> {
        check_writable(path, header)?;
        let staged = Staged::new(path);
        let file = File::create(staged.tmp()).map_err(|e| IoError::os(path, e))?;
        let bps = header.nbits as u64 * header.nchans as u64;
        let mut head = Vec::new();
        write_header_bytes(&mut head, header, 1, (bps < 8).then_some(0)).map_err(|e| IoError::os(path, e))?;
        let nsamples_at = (bps < 8).then(|| head.len() as u64 - NSAMPLES_VALUE_FROM_END);
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&head).map_err(|e| IoError::os(path, e))?;
        Ok(SigprocWriter {
            path: path.to_path_buf(),
            staged: Some(staged),
            out: Some(out),
            nchans: header.nchans,
            nbits: header.nbits,
            signed: header.signed,
            nsamples: 0,
            nsamples_at,
            acc: 0,
            acc_bits: 0,
            scratch: Vec::new(),
        })
    }

    /// Appends spectra: `block` is `[nsamples][nchans]` in file channel order.
    ///
    /// # Errors
    /// [`IoError::Format`] when the block has the wrong number of channels; [`IoError::Os`] on I/O failure.
    pub fn write_block(&mut self, block: ArrayView2<f32>) -> Result<(), IoError> {
        if block.ncols() != self.nchans {
            return Err(IoError::format(
                &self.path,
                format!("block has {} channels but the header says {}", block.ncols(), self.nchans),
            ));
        }
        let mut bytes = std::mem::take(&mut self.scratch);
        bytes.clear();
        let (lo, hi) = match (self.nbits, self.signed) {
            (8, true) => (-128.0f32, 127.0f32),
            (16, true) => (-32768.0, 32767.0),
            (n, _) if n < 32 => (0.0, ((1u64 << n) - 1) as f32),
            _ => (f32::NEG_INFINITY, f32::INFINITY),
        };
        let q = |v: f32| if v.is_nan() { 0.0 } else { v.round().clamp(lo, hi) };
        // `iter()` visits the block in logical row-major order ([nsamples][nchans]) for any layout.
        let vals = block.iter();
        bytes.reserve(block.len() * self.nbits as usize / 8 + 1);
        match (self.nbits, self.signed) {
            (1 | 2 | 4, _) => {
                for &v in vals {
                    self.acc |= (q(v) as u8) << self.acc_bits;
                    self.acc_bits += self.nbits;
                    if self.acc_bits == 8 {
                        bytes.push(self.acc);
                        self.acc = 0;
                        self.acc_bits = 0;
                    }
                }
            }
            (8, true) => bytes.extend(vals.map(|&v| q(v) as i8 as u8)),
            (8, false) => bytes.extend(vals.map(|&v| q(v) as u8)),
            (16, true) => vals.for_each(|&v| bytes.extend_from_slice(&(q(v) as i16).to_le_bytes())),
            (16, false) => vals.for_each(|&v| bytes.extend_from_slice(&(q(v) as u16).to_le_bytes())),
            _ => vals.for_each(|&v| bytes.extend_from_slice(&v.to_le_bytes())),
        }
        let res = match self.out.as_mut() {
            Some(out) => out.write_all(&bytes).map_err(|e| IoError::os(&self.path, e)),
            None => Err(IoError::format(&self.path, "writer already finished")),
        };
        self.scratch = bytes;
        res?;
        self.nsamples += block.nrows() as u64;
        Ok(())
    }

    /// Flushes (zero-padding a final partial byte of sub-byte data, filling in `nsamples` when it
    /// is written), renames the temporary file to the target path and returns the number of
    /// spectra written.
    ///
    /// # Errors
    /// [`IoError::Os`] when flushing or renaming fails (the temporary is then removed).
    pub fn finish(self) -> Result<u64, IoError> {
        let (n, staged) = self.finish_staged()?;
        staged.commit()?;
        Ok(n)
    }

    /// As [`SigprocWriter::finish`] but without the final rename: returns the spectra written and
    /// the complete temporary file, to be committed together with other outputs
    /// ([`crate::io::output::OutputSet`]).
    ///
    /// # Errors
    /// [`IoError::Os`] when flushing fails; [`IoError::Format`] when a sub-byte file holds more
    /// spectra than the 4-byte `nsamples` keyword can count.
    pub fn finish_staged(mut self) -> Result<(u64, Staged), IoError> {
        let mut out = self.out.take().ok_or_else(|| IoError::format(&self.path, "writer already finished"))?;
        let staged = self.staged.take().ok_or_else(|| IoError::format(&self.path, "writer already finished"))?;
        if self.nsamples_at.is_some() && self.nsamples > i32::MAX as u64 {
            return Err(IoError::format(
                &self.path,
                format!("{} spectra do not fit the 4-byte nsamples keyword of a sub-byte file", self.nsamples),
            ));
        }
        let res = (|| {
            if self.acc_bits > 0 {
                out.write_all(&[self.acc])?;
            }
            out.flush()?;
            if let Some(at) = self.nsamples_at {
                let f = out.get_mut();
                f.seek(SeekFrom::Start(at))?;
                f.write_all(&(self.nsamples as i32).to_le_bytes())?;
            }
            out.get_ref().sync_all()
        })();
        drop(out);
        res.map_err(|e| IoError::os(&self.path, e))?;
        Ok((self.nsamples, staged))
    }
}

// ---------------------------------------------------------------- time series

/// Reads a SIGPROC time series (`.tim`): one channel, one IF, 8-, 16- or 32-bit samples.
///
/// Returns the header (with `nsamples` = the length of the returned vector) and the samples as
/// `f32` (raw counts for integer data). The whole series is read: a `.tim` is one dedispersed
/// series, meant to fit in memory.
///
/// # Errors
/// Those of [`read_header`]; [`IoError::Format`] when `nchans`/`nifs` is not 1, `nbits` is below 8,
/// or the file holds no samples.
pub fn read_tim(path: &Path) -> Result<(Header, Vec<f32>), IoError> {
    let (h, off, be) = header_of_file(path)?;
    if h.nchans != 1 || h.nifs != 1 {
        return Err(IoError::format(
            path,
            format!("not a time series: nchans = {}, nifs = {} (expected 1 and 1)", h.nchans, h.nifs),
        ));
    }
    if h.nbits < 8 {
        return Err(IoError::format(path, format!("time series with nbits {} not supported (8, 16 or 32)", h.nbits)));
    }
    if h.nsamples == 0 {
        return Err(IoError::format(path, "SIGPROC time series contains no samples"));
    }
    let nbytes = h.nsamples as usize * (h.nbits as usize / 8);
    let mut f = File::open(path).map_err(|e| IoError::os(path, e))?;
    f.seek(SeekFrom::Start(off)).map_err(|e| IoError::os(path, e))?;
    let mut buf = vec![0u8; nbytes];
    f.read_exact(&mut buf).map_err(|e| IoError::os(path, e))?;
    let mut data = vec![0f32; h.nsamples as usize];
    decode_values(&buf, 0, data.len(), h.nbits, h.signed, be, |i, v| data[i] = v);
    Ok((h, data))
}

/// Writes a SIGPROC time series (`.tim`) atomically: `data_type` 2, `nbits` 32 (`f32`),
/// `nchans` 1, `nifs` 1, `refdm` from `header.refdm`.
///
/// `fch1` is the reference frequency of the series: the highest channel centre of `header`
/// ([`Header::ftop_mhz`], tianyan's dispersion reference; equal to `fch1_mhz` for a 1-channel
/// header); `foff` is `header.foff_mhz`. Other fields are copied from `header`.
///
/// # Errors
/// [`IoError::Format`] for invalid `tsamp`; [`IoError::Os`] on I/O failure.
pub fn write_tim(path: &Path, header: &Header, data: &[f32]) -> Result<(), IoError> {
    write_tim_staged(path, header, data)?.commit()
}

/// As [`write_tim`] but leaves the complete file under its temporary name, to be committed with
/// the other series of a run ([`crate::io::output::OutputSet`]: every `.tim` or none).
///
/// # Errors
/// As [`write_tim`]; errors name `path`.
pub fn write_tim_staged(path: &Path, header: &Header, data: &[f32]) -> Result<Staged, IoError> {
    let mut h = header.clone();
    if header.nchans > 0 {
        h.fch1_mhz = header.ftop_mhz();
    }
    h.freqs_mhz = None;
    h.data_type = 2;
    h.nbits = 32;
    h.nchans = 1;
    h.nifs = 1;
    h.signed = false;
    h.nsamples = data.len() as u64;
    let mut w = SigprocWriter::create(path, &h)?;
    for chunk in data.chunks(1 << 16) {
        let v = ndarray::ArrayView2::from_shape((chunk.len(), 1), chunk).expect("shape matches length");
        w.write_block(v)?;
    }
    Ok(w.finish_staged()?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that fails on every read: placed after the header bytes, it proves the parser
    /// never asks for a byte past `HEADER_END` (TRAPS B28).
    struct Forbidden;
    impl Read for Forbidden {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("parser read into the data section"))
        }
    }

    #[test]
    fn b28_parser_stops_at_header_end() {
        let h = Header { nchans: 4096, nbits: 8, tsamp_s: 1e-3, fch1_mhz: 1500.0, foff_mhz: -0.1, ..Header::default() };
        let mut bytes = Vec::new();
        write_header_bytes(&mut bytes, &h, 1, None).unwrap();
        let p = parse_header(bytes.as_slice().chain(Forbidden), Path::new("mem")).unwrap();
        assert_eq!(p.data_offset, bytes.len() as u64);
        assert_eq!(p.header.nchans, 4096);
    }

    #[test]
    fn uniform_spacing_detects_tables() {
        assert_eq!(uniform_spacing(&[1500.0, 1499.0, 1498.0]), Some(-1.0));
        assert_eq!(uniform_spacing(&[1500.0, 1499.0, 1490.0, 1470.0]), None);
    }
}
