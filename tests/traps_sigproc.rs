//! TRAPS entries for the SIGPROC reader/writer (B02, B03, B04, B05, B06, B08, B10, B27, B28).
//! Each test builds its input byte by byte (an independent encoder, not the crate's writer, unless
//! the writer is what is under test) and asserts the values the TRAPS entry gives.
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tianyan::io::sigproc::{read_header, SigprocReader, SigprocWriter};
use tianyan::{Header, IoError, Observation};

/// Hand encoder of SIGPROC headers (either byte order).
struct Raw {
    be: bool,
    buf: Vec<u8>,
}
impl Raw {
    fn new(be: bool) -> Self {
        let mut r = Raw { be, buf: Vec::new() };
        r.s("HEADER_START");
        r
    }
    fn i32b(&self, v: i32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn s(&mut self, s: &str) -> &mut Self {
        let l = self.i32b(s.len() as i32);
        self.buf.extend_from_slice(&l);
        self.buf.extend_from_slice(s.as_bytes());
        self
    }
    fn int(&mut self, k: &str, v: i32) -> &mut Self {
        self.s(k);
        let b = self.i32b(v);
        self.buf.extend_from_slice(&b);
        self
    }
    fn dbl(&mut self, k: &str, v: f64) -> &mut Self {
        self.s(k);
        let b = if self.be { v.to_be_bytes() } else { v.to_le_bytes() };
        self.buf.extend_from_slice(&b);
        self
    }
    fn string(&mut self, k: &str, v: &str) -> &mut Self {
        self.s(k).s(v)
    }
    fn end(&mut self) -> Vec<u8> {
        self.s("HEADER_END");
        self.buf.clone()
    }
}

fn write_file(dir: &Path, name: &str, header: &[u8], data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(header).unwrap();
    f.write_all(data).unwrap();
    p
}

/// The minimal 8-bit header used by several recipes.
fn basic(be: bool, nchans: i32, nbits: i32) -> Raw {
    let mut r = Raw::new(be);
    r.string("source_name", "TEST").int("telescope_id", 21).int("machine_id", 10).int("data_type", 1);
    r.dbl("fch1", 1500.0).dbl("foff", -1.0).int("nchans", nchans).int("nbits", nbits);
    r.dbl("tstart", 60000.5).dbl("tsamp", 1e-3).int("nifs", 1);
    r
}

/// Runs `f` while capturing `tracing` output; returns (result, captured text).
fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf(Arc::new(Mutex::new(Vec::new())));
    let b2 = buf.clone();
    let sub = tracing_subscriber::fmt().with_writer(move || b2.clone()).with_ansi(false).finish();
    let out = tracing::subscriber::with_default(sub, f);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, text)
}

// ------------------------------------------------------------------ B02

#[test]
fn b02a_every_standard_keyword_parses_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Raw::new(false);
    r.string("rawdatafile", "obs.raw").string("source_name", "J1234+5678");
    r.int("telescope_id", 4).int("data_type", 0).int("barycentric", 1).int("pulsarcentric", 0);
    r.dbl("tstart", 58543.330387241345).dbl("tsamp", 0.000512).dbl("fch1", 4030.0).dbl("foff", -4.0);
    r.dbl("refdm", 56.712).dbl("period", 0.0337).dbl("az_start", 123.25).dbl("za_start", 11.5);
    r.dbl("src_raj", 53431.9).dbl("src_dej", 220052.1);
    r.int("nbits", 8).int("nifs", 1).int("nbeams", 13).int("ibeam", 4);
    r.int("machine_id", 10).int("nchans", 4); // machine_id immediately before nchans
    let hdr = r.end();
    let data: Vec<u8> = (0..40u8).collect();
    let p = write_file(dir.path(), "a.fil", &hdr, &data);
    let (h, off) = read_header(&p).unwrap();
    assert_eq!(off, hdr.len() as u64, "data offset = byte after HEADER_END");
    assert_eq!(h.rawdatafile, "obs.raw");
    assert_eq!(h.source_name, "J1234+5678");
    assert_eq!((h.telescope_id, h.machine_id, h.data_type), (4, 10, 0));
    assert_eq!((h.barycentric, h.pulsarcentric), (Some(1), Some(0)));
    assert_eq!((h.nbeams, h.ibeam), (Some(13), Some(4)));
    assert_eq!((h.nbits, h.nchans, h.nifs, h.nsamples), (8, 4, 1, 10));
    assert_eq!(h.tstart_mjd, 58543.330387241345);
    assert_eq!(h.tsamp_s, 0.000512);
    assert_eq!((h.fch1_mhz, h.foff_mhz), (4030.0, -4.0));
    assert_eq!((h.refdm, h.period), (Some(56.712), Some(0.0337)));
    assert_eq!((h.az_start, h.za_start), (Some(123.25), Some(11.5)));
    assert_eq!((h.src_raj, h.src_dej), (Some(53431.9), Some(220052.1)));
    assert!(!h.signed);
    let mut rd = SigprocReader::open(&p).unwrap();
    let b = rd.read_block(9, 1).unwrap();
    assert_eq!(b.row(0).to_vec(), vec![36.0, 37.0, 38.0, 39.0]);
}

#[test]
fn b02b_unknown_keyword_is_an_error_naming_key_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Raw::new(false);
    r.string("source_name", "X").int("machine_id", 10).int("nchans", 4).int("nbits", 8).dbl("tsamp", 1e-3);
    let key_offset = r.buf.len();
    r.int("start_sample", 7).dbl("fch1", 1500.0).dbl("foff", -1.0);
    let hdr = r.end();
    let p = write_file(dir.path(), "b.fil", &hdr, &[0u8; 40]);
    let e = read_header(&p).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, IoError::Format { .. }));
    assert!(msg.contains("start_sample"), "{msg}");
    assert!(msg.contains(&format!("byte offset {key_offset}")), "{msg}");
    assert!(msg.contains("b.fil"), "error names the file: {msg}");
    assert!(SigprocReader::open(&p).is_err());
}

// ------------------------------------------------------------------ B03

#[test]
fn b03a_truncated_tail_ignored_with_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = basic(false, 8, 8);
    r.int("nsamples", 1000);
    let hdr = r.end();
    let mut data: Vec<u8> = (0..900 * 8).map(|i| (i % 256) as u8).collect();
    data.extend_from_slice(&[1, 2, 3, 4, 5]);
    let p = write_file(dir.path(), "a.fil", &hdr, &data);
    let (rd, logs) = capture_logs(|| SigprocReader::open(&p));
    let mut rd = rd.unwrap();
    assert_eq!(rd.header().nsamples, 900);
    assert!(logs.contains("5 trailing byte"), "warning expected, got: {logs}");
    let last = rd.read_block(899, 1).unwrap();
    assert_eq!(last[[0, 7]], ((899 * 8 + 7) % 256) as f32);
    assert!(matches!(rd.read_block(899, 2), Err(IoError::OutOfRange { .. })));
}

#[test]
fn b03b_nsamples_keyword_smaller_than_file_wins_with_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = basic(false, 8, 8);
    r.int("nsamples", 800);
    let hdr = r.end();
    let data = vec![9u8; 1000 * 8];
    let p = write_file(dir.path(), "b.fil", &hdr, &data);
    let (rd, logs) = capture_logs(|| SigprocReader::open(&p));
    let mut rd = rd.unwrap();
    assert_eq!(rd.header().nsamples, 800, "documented: the smaller of keyword and file size");
    assert!(logs.contains("nsamples = 800"), "warning expected, got: {logs}");
    assert_eq!(rd.read_block(0, 800).unwrap().shape(), &[800, 8]);
    assert!(matches!(rd.read_block(800, 1), Err(IoError::OutOfRange { .. })));
}

#[test]
fn b03c_header_only_file_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let hdr = basic(false, 8, 8).end();
    let p = write_file(dir.path(), "c.fil", &hdr, &[]);
    let (h, off) = read_header(&p).unwrap();
    assert_eq!(h.nsamples, 0);
    assert_eq!(off, hdr.len() as u64);
    let msg = SigprocReader::open(&p).err().expect("open must fail").to_string();
    assert!(msg.contains("contains no samples") && msg.contains("c.fil"), "{msg}");
    let msg = tianyan::open_observation(&[p]).err().expect("must fail").to_string();
    assert!(msg.contains("contains no samples"), "{msg}");
}

// ------------------------------------------------------------------ B04

#[test]
fn b04_empty_and_150_char_strings() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..40u8).collect();
    // (1) empty source_name: four zero bytes, no characters.
    let mut r = Raw::new(false);
    r.string("source_name", "").int("machine_id", 0).dbl("fch1", 1500.0).dbl("foff", -1.0);
    r.int("nchans", 4).int("nbits", 8).dbl("tsamp", 1e-3).int("nifs", 1);
    let hdr1 = r.end();
    assert_eq!(&hdr1[20..31], b"source_name");
    assert_eq!(&hdr1[31..35], &[0, 0, 0, 0]);
    let p1 = write_file(dir.path(), "empty.fil", &hdr1, &data);
    // (2) 150-character rawdatafile.
    let long: String = (0..150).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let mut r2 = basic(false, 4, 8);
    r2.string("rawdatafile", &long);
    let hdr2 = r2.end();
    let p2 = write_file(dir.path(), "long.fil", &hdr2, &data);

    let (h1, off1) = read_header(&p1).unwrap();
    assert_eq!(h1.source_name, "");
    assert_eq!(off1, hdr1.len() as u64);
    assert_eq!(h1.nsamples, 10);
    let (h2, off2) = read_header(&p2).unwrap();
    assert_eq!(h2.rawdatafile, long);
    assert_eq!(h2.rawdatafile.len(), 150);
    assert_eq!(off2, hdr2.len() as u64);
    assert_eq!(h2.nsamples, 10);
    for p in [&p1, &p2] {
        let mut rd = SigprocReader::open(p).unwrap();
        assert_eq!(
            rd.read_block(0, 10).unwrap().as_slice().unwrap(),
            &(0..40).map(|v| v as f32).collect::<Vec<_>>()[..]
        );
    }
}

// ------------------------------------------------------------------ B05

#[test]
fn b05_frequency_table_read_and_pulse_aligns_at_dm_100() {
    let dir = tempfile::tempdir().unwrap();
    let table = [1500.0, 1499.0, 1490.0, 1470.0];
    let tsamp = 1e-5; // 10 µs, so 7.603 ms = 760 samples
    let mut r = Raw::new(false);
    r.string("source_name", "B05").int("machine_id", 0).int("telescope_id", 0).int("data_type", 1);
    r.s("FREQUENCY_START");
    for f in table {
        r.dbl("fchannel", f);
    }
    r.s("FREQUENCY_END");
    r.int("nchans", 4).int("nbits", 8).dbl("tsamp", tsamp).dbl("tstart", 60000.0).int("nifs", 1);
    let hdr = r.end();
    // Inject a DM 100 pulse at sample 100 (at 1500 MHz) using exactly the table.
    let nsamp = 1000usize;
    let expected_ms = [0.0, 0.2461, 2.4834, 7.6030];
    let mut data = vec![10u8; nsamp * 4];
    for (c, &f) in table.iter().enumerate() {
        let d = tianyan::consts::dispersion_delay_s(100.0, f, 1500.0);
        assert!((d * 1e3 - expected_ms[c]).abs() < 5e-4, "delay ch{c} = {} ms", d * 1e3);
        let s = 100 + (d / tsamp).round() as usize;
        data[s * 4 + c] = 200;
    }
    let p = write_file(dir.path(), "table.fil", &hdr, &data);
    let mut rd = SigprocReader::open(&p).unwrap();
    let h = rd.header().clone();
    assert_eq!(h.freqs_mhz.as_deref(), Some(&table[..]));
    assert_eq!(h.chan_freqs_mhz(), table.to_vec());
    assert!(h.fbottom_mhz() > 1000.0, "never silently 0 MHz");
    assert_eq!(h.ftop_mhz(), 1500.0);
    // Naive dedispersion with the header's frequencies aligns the pulse at sample 100.
    let block = rd.read_block(0, nsamp).unwrap();
    let freqs = h.chan_freqs_mhz();
    let mut series = vec![0f32; nsamp];
    for (c, &f) in freqs.iter().enumerate() {
        let shift = (tianyan::consts::dispersion_delay_s(100.0, f, h.ftop_mhz()) / tsamp).round() as usize;
        for t in 0..nsamp - shift {
            series[t] += block[[t + shift, c]];
        }
    }
    assert_eq!(series[100], 800.0);
    assert!(series.iter().enumerate().filter(|&(t, _)| t != 100 && t < 200).all(|(_, &v)| v <= 40.0 + 190.0));

    // Writer: a non-uniform table is written as FREQUENCY_START..END and reads back exactly.
    let out = dir.path().join("table_out.fil");
    let mut w = SigprocWriter::create(&out, &h).unwrap();
    w.write_block(block.view()).unwrap();
    assert_eq!(w.finish().unwrap(), nsamp as u64);
    let (h2, _) = read_header(&out).unwrap();
    assert_eq!(h2.freqs_mhz.as_deref(), Some(&table[..]));
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.windows(15).any(|w| w == b"FREQUENCY_START"));
}

// ------------------------------------------------------------------ B06

#[test]
fn b06_big_endian_header_8bit_and_16bit() {
    let dir = tempfile::tempdir().unwrap();
    let data8: Vec<u8> = (0..40u8).map(|v| v * 3).collect();
    let le = write_file(dir.path(), "le.fil", &basic(false, 4, 8).end(), &data8);
    let be_hdr = basic(true, 4, 8).end();
    assert_eq!(&be_hdr[..4], &[0, 0, 0, 12]);
    let be = write_file(dir.path(), "be.fil", &be_hdr, &data8);
    let (hl, _) = read_header(&le).unwrap();
    let (hb, offb) = read_header(&be).unwrap();
    assert_eq!(hl, hb, "big-endian header values identical to the little-endian twin");
    assert_eq!(offb, be_hdr.len() as u64);
    let bl = SigprocReader::open(&le).unwrap().read_block(0, 10).unwrap();
    let bb = SigprocReader::open(&be).unwrap().read_block(0, 10).unwrap();
    assert_eq!(bl, bb);
    assert_eq!(bb[[3, 2]], (14 * 3) as f32);

    // 16-bit big-endian samples.
    let vals: Vec<u16> = vec![1, 256, 65535, 4660, 0, 772, 32768, 43981];
    let data16: Vec<u8> = vals.iter().flat_map(|v| v.to_be_bytes()).collect();
    let p16 = write_file(dir.path(), "be16.fil", &basic(true, 4, 16).end(), &data16);
    let mut rd = SigprocReader::open(&p16).unwrap();
    assert!(rd.is_big_endian());
    assert_eq!(rd.header().nsamples, 2);
    let b = rd.read_block(0, 2).unwrap();
    assert_eq!(b.as_slice().unwrap(), &vals.iter().map(|&v| v as f32).collect::<Vec<_>>()[..]);
}

#[test]
fn b06_other_starts_are_not_sigproc() {
    let dir = tempfile::tempdir().unwrap();
    let mut hdr = basic(false, 4, 8).end();
    hdr[0] = 13; // length 13: neither order encodes 12
    let p = write_file(dir.path(), "bad.fil", &hdr, &[0u8; 40]);
    let msg = read_header(&p).unwrap_err().to_string();
    assert!(msg.contains("not a SIGPROC file"), "{msg}");
    let p2 = write_file(dir.path(), "text.fil", b"hello world, this is not a header", &[]);
    assert!(read_header(&p2).unwrap_err().to_string().contains("not a SIGPROC file"));
    assert!(matches!(tianyan::open_observation(&[p2]), Err(IoError::UnknownFormat { .. })));
}

// ------------------------------------------------------------------ B08

#[test]
fn b08a_4bit_96_channels_sample_count() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..48_000u32).map(|i| (i % 256) as u8).collect();
    let p = write_file(dir.path(), "a.fil", &basic(false, 96, 4).end(), &data);
    let mut rd = SigprocReader::open(&p).unwrap();
    assert_eq!(rd.header().nsamples, 1000);
    // Spectrum 999 occupies bytes 999*48 .. 1000*48; channel 2k is the low nibble of byte k.
    let b = rd.read_block(999, 1).unwrap();
    let byte0 = (999 * 48 % 256) as u8;
    assert_eq!(b[[0, 0]], (byte0 & 0x0f) as f32);
    assert_eq!(b[[0, 1]], (byte0 >> 4) as f32);
}

#[test]
fn b08b_one_channel_4bit_low_nibble_first() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(dir.path(), "b.fil", &basic(false, 1, 4).end(), &[0x10, 0x32, 0x54, 0x76, 0x98]);
    let mut rd = SigprocReader::open(&p).unwrap();
    assert_eq!(rd.header().nsamples, 10);
    let b = rd.read_block(0, 10).unwrap();
    assert_eq!(b.as_slice().unwrap(), &(0..10).map(|v| v as f32).collect::<Vec<_>>()[..]);
    // Blocks starting mid-byte: no duplicated or shifted samples.
    for s in 0..10u64 {
        assert_eq!(rd.read_block(s, 1).unwrap()[[0, 0]], s as f32);
    }
    assert_eq!(rd.read_block(3, 4).unwrap().column(0).to_vec(), vec![3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn b08c_three_channel_2bit_continuous_bit_stream() {
    let dir = tempfile::tempdir().unwrap();
    // Stream values 0,1,2,3,0,1,2,3,... LSB-first: each byte is 0b11_10_01_00 = 0xE4.
    let p = write_file(dir.path(), "c.fil", &basic(false, 3, 2).end(), &[0xE4, 0xE4, 0xE4]);
    let mut rd = SigprocReader::open(&p).unwrap();
    assert_eq!(rd.header().nsamples, 4);
    let b = rd.read_block(0, 4).unwrap();
    let want = [[0.0, 1.0, 2.0], [3.0, 0.0, 1.0], [2.0, 3.0, 0.0], [1.0, 2.0, 3.0]];
    for (s, row) in want.iter().enumerate() {
        assert_eq!(b.row(s).to_vec(), row.to_vec(), "spectrum {s}");
        assert_eq!(rd.read_block(s as u64, 1).unwrap().row(0).to_vec(), row.to_vec());
    }
    // Writer packs the same continuous stream.
    let out = dir.path().join("c_out.fil");
    let mut w = SigprocWriter::create(&out, rd.header()).unwrap();
    w.write_block(b.slice(ndarray::s![0..1, ..])).unwrap(); // split mid-byte on purpose
    w.write_block(b.slice(ndarray::s![1..4, ..])).unwrap();
    assert_eq!(w.finish().unwrap(), 4);
    let (_, off) = read_header(&out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[off as usize..], &[0xE4, 0xE4, 0xE4]);
}

// ------------------------------------------------------------------ B10

#[test]
fn b10_centre_frequency_band_edges_and_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let hdrs = [(1387.4275, -0.125), (1259.5525, 0.125)];
    for (i, (fch1, foff)) in hdrs.into_iter().enumerate() {
        let mut r = Raw::new(false);
        r.int("machine_id", 0).dbl("fch1", fch1).dbl("foff", foff).int("nchans", 1024).int("nbits", 8);
        r.dbl("tsamp", 1e-3).int("nifs", 1);
        let p = write_file(dir.path(), &format!("b10_{i}.fil"), &r.end(), &[0u8; 1024]);
        let (h, _) = read_header(&p).unwrap();
        assert!((h.fbottom_mhz() - 1259.5525).abs() < 1e-9, "lowest centre {}", h.fbottom_mhz());
        assert!((h.ftop_mhz() - 1387.4275).abs() < 1e-9);
        assert!((h.centre_freq_mhz() - 1323.49).abs() < 1e-9, "centre {}", h.centre_freq_mhz());
        let (lo, hi) = h.band_edges_mhz();
        assert!((lo - 1259.49).abs() < 1e-9 && (hi - 1387.49).abs() < 1e-9, "edges {lo} {hi}");
        assert!((h.bandwidth_mhz() - 128.0).abs() < 1e-9);
        // The buggy formula fch1 + nchans*foff/2 is half a channel away.
        let buggy = fch1 + 1024.0 * foff / 2.0;
        assert!((buggy - h.centre_freq_mhz()).abs() > 0.06);
    }
}

// ------------------------------------------------------------------ B27

#[test]
fn b27_writer_keyword_names_and_widths_byte_level() {
    let dir = tempfile::tempdir().unwrap();
    let h = Header {
        rawdatafile: "in.raw".into(),
        source_name: "J0000+0000".into(),
        refdm: Some(56.7),
        period: Some(0.033),
        nbeams: Some(13),
        ibeam: Some(4),
        barycentric: Some(0),
        nchans: 4,
        nbits: 8,
        tsamp_s: 6.4e-5,
        fch1_mhz: 1500.0,
        foff_mhz: -0.5,
        tstart_mjd: 59000.25,
        ..Header::default()
    };
    let data: Vec<f32> = (0..40).map(|v| (v * 6) as f32).collect();
    let out = dir.path().join("b27.fil");
    let mut w = SigprocWriter::create(&out, &h).unwrap();
    w.write_block(ndarray::ArrayView2::from_shape((10, 4), &data).unwrap()).unwrap();
    w.finish().unwrap();
    let bytes = std::fs::read(&out).unwrap();

    // Independent byte-level walk with the SIGPROC widths.
    let width = |k: &str| -> Option<usize> {
        match k {
            "telescope_id" | "machine_id" | "data_type" | "barycentric" | "pulsarcentric" | "nbits" | "nchans"
            | "nifs" | "nbeams" | "ibeam" => Some(4),
            "tstart" | "tsamp" | "fch1" | "foff" | "refdm" | "period" | "az_start" | "za_start" | "src_raj"
            | "src_dej" => Some(8),
            _ => None,
        }
    };
    let rd_i32 = |at: usize| i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let rd_f64 = |at: usize| f64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let mut pos = 0usize;
    let next_str = |pos: &mut usize| {
        let l = rd_i32(*pos) as usize;
        let s = String::from_utf8(bytes[*pos + 4..*pos + 4 + l].to_vec()).unwrap();
        *pos += 4 + l;
        s
    };
    assert_eq!(next_str(&mut pos), "HEADER_START");
    let mut keys = Vec::new();
    let mut ints = std::collections::HashMap::new();
    let mut dbls = std::collections::HashMap::new();
    let mut strs = std::collections::HashMap::new();
    loop {
        let k = next_str(&mut pos);
        if k == "HEADER_END" {
            break;
        }
        keys.push(k.clone());
        match (k.as_str(), width(&k)) {
            ("rawdatafile" | "source_name", _) => {
                let v = next_str(&mut pos);
                strs.insert(k, v);
            }
            (_, Some(4)) => {
                ints.insert(k, rd_i32(pos));
                pos += 4;
            }
            (_, Some(8)) => {
                dbls.insert(k, rd_f64(pos));
                pos += 8;
            }
            _ => panic!("non-standard keyword {k:?} written"),
        }
    }
    for k in ["rawdatafile", "source_name", "refdm", "period", "nbeams", "ibeam", "barycentric"] {
        assert!(keys.iter().any(|x| x == k), "keyword {k} missing; got {keys:?}");
    }
    assert!(!keys.iter().any(|k| k == "signed" || k == "nsamples"), "{keys:?}");
    assert_eq!(strs["rawdatafile"], "in.raw");
    assert_eq!(strs["source_name"], "J0000+0000");
    assert_eq!((dbls["refdm"], dbls["period"]), (56.7, 0.033));
    assert_eq!((ints["nbeams"], ints["ibeam"], ints["barycentric"]), (13, 4, 0));
    assert_eq!((ints["nchans"], ints["nbits"], ints["nifs"]), (4, 8, 1));
    assert_eq!(bytes.len() - pos, 40);
    assert_eq!(&bytes[pos..], &data.iter().map(|&v| v as u8).collect::<Vec<_>>()[..]);
    // Round trip through the crate's reader.
    let mut rd = SigprocReader::open(&out).unwrap();
    let back = rd.header().clone();
    assert_eq!(back.rawdatafile, "in.raw");
    assert_eq!(
        (back.refdm, back.period, back.nbeams, back.ibeam, back.barycentric),
        (Some(56.7), Some(0.033), Some(13), Some(4), Some(0))
    );
    assert_eq!(rd.read_block(0, 10).unwrap().as_slice().unwrap(), &data[..]);
}

// ------------------------------------------------------------------ B28

#[test]
fn b28_sparse_5gib_file_header_and_marker() {
    let dir = tempfile::tempdir().unwrap();
    let nchans = 4096usize;
    let nspec: u64 = 1_310_720;
    // 4096 channels of 1 MHz below 1500 MHz would reach below 0 MHz (an impossible header, refused
    // at read): a second, later `foff` of 0.1 MHz keeps the band at 1500–1090.5 MHz.
    let hdr = basic(false, nchans as i32, 8).dbl("foff", -0.1).end();
    let p = dir.path().join("big.fil");
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(&hdr).unwrap();
    f.set_len(hdr.len() as u64 + nspec * nchans as u64).unwrap(); // 5 GiB hole
    let marker_at = hdr.len() as u64 + 1_200_000 * nchans as u64;
    assert_eq!(marker_at, 4_915_200_000 + hdr.len() as u64);
    f.seek(SeekFrom::Start(marker_at)).unwrap();
    let marker: Vec<u8> = (0..nchans).map(|c| (c % 251) as u8).collect();
    f.write_all(&marker).unwrap();
    drop(f);

    // The header read looks at the header only (the parser never requests a byte past HEADER_END:
    // see the unit test io::sigproc::tests::b28_parser_stops_at_header_end); the sample count comes
    // from the file length, so offsets beyond 4 GiB are handled in u64.
    let (h, off) = read_header(&p).unwrap();
    assert_eq!(off, hdr.len() as u64);
    assert_eq!(h.nsamples, nspec);
    let mut rd = SigprocReader::open(&p).unwrap();
    let b = rd.read_block(1_199_999, 3).unwrap();
    assert_eq!(b.shape(), &[3, nchans]);
    for c in 0..nchans {
        assert_eq!(b[[1, c]], (c % 251) as f32, "channel {c}");
        assert_eq!(b[[0, c]], 0.0);
        assert_eq!(b[[2, c]], 0.0);
    }
    let last = rd.read_block(nspec - 1, 1).unwrap();
    assert!(last.iter().all(|&v| v == 0.0));
    assert!(matches!(rd.read_block(nspec, 1), Err(IoError::OutOfRange { .. })));
}
