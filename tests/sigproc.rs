//! SIGPROC filterbank / time-series reader and writer: round trips, header cases, IFs, and the
//! real files in the shared data folder (skipped when absent, failing under CI=true).
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{s, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tianyan::io::sigproc::{read_header, read_tim, write_tim, IfSelection, SigprocReader, SigprocWriter};
use tianyan::{Header, IoError, Observation};

fn header(nchans: usize, nbits: u32, foff: f64) -> Header {
    Header {
        source_name: "RT".into(),
        telescope_id: 21,
        nchans,
        nbits,
        tsamp_s: 1e-4,
        fch1_mhz: if foff < 0.0 { 1500.0 } else { 1000.0 },
        foff_mhz: foff,
        tstart_mjd: 60000.125,
        ..Header::default()
    }
}

/// Random values exactly representable in the format.
fn random_block(rng: &mut ChaCha8Rng, n: usize, nchans: usize, nbits: u32, signed: bool) -> Array2<f32> {
    Array2::from_shape_fn((n, nchans), |_| match (nbits, signed) {
        (32, _) => rng.gen_range(-1e6f32..1e6f32),
        (8, true) => rng.gen_range(-128i32..=127) as f32,
        (16, true) => rng.gen_range(-32768i32..=32767) as f32,
        (b, _) => rng.gen_range(0u64..(1u64 << b)) as f32,
    })
}

#[test]
fn round_trip_every_nbits_and_both_foff_signs() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let cases = [(1, false), (2, false), (4, false), (8, false), (8, true), (16, false), (16, true), (32, false)];
    for (nbits, signed) in cases {
        for foff in [-0.5, 0.5] {
            // 13 channels: sub-byte spectra are not byte-aligned (continuous bit stream); 16: aligned.
            for nchans in [13usize, 16] {
                let mut h = header(nchans, nbits, foff);
                h.signed = signed;
                let data = random_block(&mut rng, 37, nchans, nbits, signed);
                let p = dir.path().join(format!("rt_{nbits}_{signed}_{foff}_{nchans}.fil"));
                let mut w = SigprocWriter::create(&p, &h).unwrap();
                // Uneven blocks so that sub-byte packing crosses write_block calls mid-byte.
                w.write_block(data.slice(s![0..3, ..])).unwrap();
                w.write_block(data.slice(s![3..20, ..])).unwrap();
                w.write_block(data.slice(s![20..37, ..])).unwrap();
                assert_eq!(w.finish().unwrap(), 37);
                let mut rd = SigprocReader::open(&p).unwrap();
                let rh = rd.header().clone();
                assert_eq!((rh.nbits, rh.nchans, rh.nsamples, rh.signed), (nbits, nchans, 37, signed));
                assert_eq!((rh.fch1_mhz, rh.foff_mhz, rh.tsamp_s, rh.tstart_mjd), (h.fch1_mhz, foff, 1e-4, 60000.125));
                assert_eq!(
                    rd.read_block(0, 37).unwrap(),
                    data,
                    "nbits {nbits} signed {signed} foff {foff} nchans {nchans}"
                );
                // A block starting inside a byte.
                assert_eq!(rd.read_block(5, 7).unwrap(), data.slice(s![5..12, ..]));
            }
        }
    }
}

#[test]
fn writer_rounds_to_nearest_and_clamps() {
    let dir = tempfile::tempdir().unwrap();
    let input = [-3.6f32, 0.4, 0.5, 2.5, 126.6, 300.0, f32::NAN, -0.5];
    let cases: [(u32, bool, [f32; 8]); 3] = [
        (8, false, [0.0, 0.0, 1.0, 3.0, 127.0, 255.0, 0.0, 0.0]),
        (8, true, [-4.0, 0.0, 1.0, 3.0, 127.0, 127.0, 0.0, -1.0]),
        (2, false, [0.0, 0.0, 1.0, 3.0, 3.0, 3.0, 0.0, 0.0]),
    ];
    for (nbits, signed, want) in cases {
        let mut h = header(8, nbits, -1.0);
        h.signed = signed;
        let p = dir.path().join(format!("q{nbits}{signed}.fil"));
        let mut w = SigprocWriter::create(&p, &h).unwrap();
        w.write_block(ndarray::ArrayView2::from_shape((1, 8), &input).unwrap()).unwrap();
        w.finish().unwrap();
        let got = SigprocReader::open(&p).unwrap().read_block(0, 1).unwrap();
        assert_eq!(got.as_slice().unwrap(), &want, "nbits {nbits} signed {signed}");
    }
    let mut h = header(2, 8, -1.0);
    h.signed = true;
    let p = dir.path().join("clamp.fil");
    let mut w = SigprocWriter::create(&p, &h).unwrap();
    w.write_block(ndarray::ArrayView2::from_shape((1, 2), &[-200.0f32, 1000.0]).unwrap()).unwrap();
    w.finish().unwrap();
    assert_eq!(SigprocReader::open(&p).unwrap().read_block(0, 1).unwrap().as_slice().unwrap(), &[-128.0, 127.0]);
}

#[test]
fn writer_is_atomic_and_checks_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("never.fil");
    {
        let mut w = SigprocWriter::create(&p, &header(4, 8, -1.0)).unwrap();
        w.write_block(Array2::<f32>::zeros((3, 4)).view()).unwrap();
        let e = w.write_block(Array2::<f32>::zeros((3, 5)).view()).unwrap_err();
        assert!(e.to_string().contains("5 channels"), "{e}");
        assert!(!p.exists(), "nothing at the target before finish");
        // dropped without finish
    }
    assert!(!p.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temporary file removed on drop");
    assert!(SigprocWriter::create(&p, &header(4, 3, -1.0)).is_err(), "nbits 3 refused");
    assert!(SigprocWriter::create(&p, &header(0, 8, -1.0)).is_err(), "nchans 0 refused");
}

fn raw_header(keys: &[(&str, Val)]) -> Vec<u8> {
    let mut b = Vec::new();
    let s = |b: &mut Vec<u8>, t: &str| {
        b.extend_from_slice(&(t.len() as i32).to_le_bytes());
        b.extend_from_slice(t.as_bytes());
    };
    s(&mut b, "HEADER_START");
    for (k, v) in keys {
        s(&mut b, k);
        match v {
            Val::I(i) => b.extend_from_slice(&i.to_le_bytes()),
            Val::D(d) => b.extend_from_slice(&d.to_le_bytes()),
            Val::B(x) => b.push(*x),
        }
    }
    s(&mut b, "HEADER_END");
    b
}
enum Val {
    I(i32),
    D(f64),
    B(u8),
}

fn write_raw(dir: &Path, name: &str, hdr: &[u8], data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(hdr).unwrap();
    f.write_all(data).unwrap();
    p
}

#[test]
fn signed_keyword_is_one_byte_and_gives_i8() {
    let dir = tempfile::tempdir().unwrap();
    let hdr = raw_header(&[
        ("nchans", Val::I(4)),
        ("nbits", Val::I(8)),
        ("signed", Val::B(1)),
        ("tsamp", Val::D(1e-3)),
        ("fch1", Val::D(1400.0)),
        ("foff", Val::D(-1.0)),
    ]);
    let p = write_raw(dir.path(), "s.fil", &hdr, &[0x80, 0xff, 0x00, 0x7f]);
    let (h, off) = read_header(&p).unwrap();
    assert!(h.signed);
    assert_eq!(off, hdr.len() as u64);
    let b = SigprocReader::open(&p).unwrap().read_block(0, 1).unwrap();
    assert_eq!(b.as_slice().unwrap(), &[-128.0, -1.0, 0.0, 127.0]);
}

#[test]
fn missing_required_keys_and_truncated_header_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let no_fch1 = raw_header(&[("nchans", Val::I(4)), ("nbits", Val::I(8)), ("tsamp", Val::D(1e-3))]);
    let p = write_raw(dir.path(), "nofch1.fil", &no_fch1, &[0; 4]);
    assert!(read_header(&p).unwrap_err().to_string().contains("fch1"));
    let mut cut = raw_header(&[("nchans", Val::I(4)), ("nbits", Val::I(8)), ("tsamp", Val::D(1e-3))]);
    cut.truncate(cut.len() - 6);
    let p = write_raw(dir.path(), "cut.fil", &cut, &[]);
    let msg = read_header(&p).unwrap_err().to_string();
    assert!(msg.contains("header ends"), "{msg}");
    let bad_bits = raw_header(&[
        ("nchans", Val::I(4)),
        ("nbits", Val::I(12)),
        ("tsamp", Val::D(1e-3)),
        ("fch1", Val::D(1.0)),
        ("foff", Val::D(1.0)),
    ]);
    let p = write_raw(dir.path(), "b12.fil", &bad_bits, &[0; 12]);
    assert!(read_header(&p).unwrap_err().to_string().contains("nbits 12"));
}

#[test]
fn several_ifs_are_summed_or_selected() {
    let dir = tempfile::tempdir().unwrap();
    let hdr = raw_header(&[
        ("nchans", Val::I(3)),
        ("nbits", Val::I(8)),
        ("nifs", Val::I(2)),
        ("tsamp", Val::D(1e-3)),
        ("fch1", Val::D(1400.0)),
        ("foff", Val::D(-1.0)),
    ]);
    // Two spectra of layout [nifs][nchans].
    let p = write_raw(dir.path(), "ifs.fil", &hdr, &[1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60]);
    let mut rd = SigprocReader::open(&p).unwrap();
    assert_eq!(rd.header().nsamples, 2);
    assert_eq!(rd.read_block(0, 2).unwrap().as_slice().unwrap(), &[11.0, 22.0, 33.0, 44.0, 55.0, 66.0]);
    let mut k1 = SigprocReader::open(&p).unwrap().with_if_selection(IfSelection::Keep(1)).unwrap();
    assert_eq!(k1.read_block(0, 2).unwrap().as_slice().unwrap(), &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
    let mut k0 = SigprocReader::open(&p).unwrap().with_if_selection(IfSelection::Keep(0)).unwrap();
    assert_eq!(k0.read_block(1, 1).unwrap().as_slice().unwrap(), &[4.0, 5.0, 6.0]);
    assert!(SigprocReader::open(&p).unwrap().with_if_selection(IfSelection::Keep(2)).is_err());
}

#[test]
fn tim_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = header(64, 8, -1.0);
    h.refdm = Some(112.3802);
    let data: Vec<f32> = (0..100_000).map(|i| (i as f32 * 0.37).sin() * 1e3 + 0.125).collect();
    let p = dir.path().join("x.tim");
    write_tim(&p, &h, &data).unwrap();
    let (rh, back) = read_tim(&p).unwrap();
    assert_eq!(back, data);
    assert_eq!((rh.data_type, rh.nbits, rh.nchans, rh.nifs, rh.nsamples), (2, 32, 1, 1, 100_000));
    assert_eq!(rh.refdm, Some(112.3802));
    assert_eq!(rh.fch1_mhz, 1500.0, "fch1 = reference (highest) frequency");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary left behind");
    // A filterbank is not a time series.
    let f = dir.path().join("y.fil");
    let mut w = SigprocWriter::create(&f, &header(4, 8, -1.0)).unwrap();
    w.write_block(Array2::<f32>::zeros((2, 4)).view()).unwrap();
    w.finish().unwrap();
    assert!(read_tim(&f).unwrap_err().to_string().contains("nchans = 4"));
}

#[test]
fn read_past_end_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.fil");
    let mut w = SigprocWriter::create(&p, &header(4, 8, -1.0)).unwrap();
    w.write_block(Array2::<f32>::ones((5, 4)).view()).unwrap();
    w.finish().unwrap();
    let mut rd = SigprocReader::open(&p).unwrap();
    assert!(matches!(rd.read_block(3, 3), Err(IoError::OutOfRange { start: 3, end: 6, nsamples: 5, .. })));
    assert!(matches!(rd.read_block(u64::MAX, 2), Err(IoError::OutOfRange { .. })));
    assert_eq!(rd.read_block(5, 0).unwrap().shape(), &[0, 4]);
}

// ------------------------------------------------------------------ real files

fn read_all(p: &Path) -> (Header, Array2<f32>) {
    let mut rd = SigprocReader::open(p).unwrap();
    let h = rd.header().clone();
    let d = rd.read_block(0, h.nsamples as usize).unwrap();
    (h, d)
}

#[test]
fn real_your_28_fil_and_small_fil() {
    let (Some(p28), Some(psmall)) = (common::shared_data("your/28.fil"), common::shared_data("your/small.fil")) else {
        return;
    };
    let (h, off) = read_header(&p28).unwrap();
    assert_eq!(off, 327);
    assert_eq!((h.nchans, h.nbits, h.nifs, h.nsamples), (336, 8, 1, 5120));
    assert_eq!((h.fch1_mhz, h.foff_mhz, h.tsamp_s), (1465.0, -1.0, 0.00126646875));
    assert_eq!((h.source_name.as_str(), h.telescope_id, h.rawdatafile.as_str()), ("src1", 7, "ics_beams/28.fil"));
    assert!((h.tstart_mjd - 58682.620316710374).abs() < 1e-9);
    assert_eq!(h.fbottom_mhz(), 1130.0);
    assert!((h.duration_s() - 6.484).abs() < 1e-3);

    let (hs, offs) = read_header(&psmall).unwrap();
    assert_eq!(offs, 389);
    assert_eq!((hs.nsamples, hs.data_type, hs.telescope_id), (10, 0, 6));
    assert_eq!((hs.barycentric, hs.pulsarcentric, hs.nbeams, hs.ibeam), (Some(0), Some(0), Some(1), Some(0)));
    let (_, small) = read_all(&psmall);
    let mut rd = SigprocReader::open(&p28).unwrap();
    assert_eq!(rd.read_block(0, 10).unwrap(), small, "small.fil = 28.fil samples 0-9");
    // A block in the middle equals the same rows of a whole-file read.
    let (_, all) = read_all(&p28);
    assert_eq!(rd.read_block(2560, 100).unwrap(), all.slice(s![2560..2660, ..]));
}

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().map(|&x| x as f64).sum::<f64>() / n, b.iter().map(|&x| x as f64).sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    sab / (saa * sbb).sqrt()
}

/// Naive reference decoder of the raw data bytes: `msb_first` chooses the bit order.
fn naive_unpack(bytes: &[u8], nbits: u32, count: usize, msb_first: bool) -> Vec<f32> {
    let per_byte = (8 / nbits) as usize;
    let mask = (1u16 << nbits) as u8 - 1;
    (0..count)
        .map(|i| {
            let byte = bytes[i / per_byte];
            let k = (i % per_byte) as u32;
            let shift = if msb_first { 8 - nbits * (k + 1) } else { nbits * k };
            ((byte >> shift) & mask) as f32
        })
        .collect()
}

#[test]
fn real_parkes_sub_byte_files_are_lsb_first() {
    let Some(p8) = common::shared_data("sigpyproc3/parkes_8bit_1.fil") else { return };
    let (h8, d8) = read_all(&p8);
    assert_eq!((h8.nchans, h8.nsamples, h8.fch1_mhz, h8.foff_mhz), (832, 4096, 4030.0, -4.0));
    let d8 = d8.as_slice().unwrap().to_vec();
    for (nbits, want) in [(1u32, 0.784), (2, 0.926), (4, 0.977)] {
        let Some(p) = common::shared_data(&format!("sigpyproc3/parkes_{nbits}bit.fil")) else { return };
        let (h, d) = read_all(&p);
        assert_eq!((h.nbits, h.nchans, h.nsamples), (nbits, 832, 4096));
        let d = d.as_slice().unwrap();
        let r = pearson(d, &d8);
        assert!((r - want).abs() < 0.02, "{nbits}-bit LSB-first correlation {r:.3}, expected {want}");
        // Naive twins: LSB-first equals the reader exactly; MSB-first does not correlate.
        let (_, off) = read_header(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let raw = &bytes[off as usize..];
        let lsb = naive_unpack(raw, nbits, d.len(), false);
        assert_eq!(lsb, d, "{nbits}-bit reader = naive LSB-first decoder");
        let msb = naive_unpack(raw, nbits, d.len(), true);
        let rm = pearson(&msb, &d8);
        assert!(rm.abs() < 0.1, "{nbits}-bit MSB-first correlation {rm:.3} should be near 0");
    }
}

#[test]
fn real_tutorial_fil_2bit_values() {
    let Some(p) = common::shared_data("sigpyproc3/tutorial.fil") else { return };
    let mut rd = SigprocReader::open(&p).unwrap();
    let h = rd.header().clone();
    assert_eq!((h.nchans, h.nbits, h.nsamples), (64, 2, 187520));
    assert_eq!((h.fch1_mhz, h.foff_mhz, h.tsamp_s), (1510.0, -1.09, 0.00032));
    assert_eq!(h.source_name, "P: 250.000000000000 ms, DM: 30.000");
    let mut counts = [0u64; 4];
    let mut start = 0u64;
    while start < h.nsamples {
        let n = (h.nsamples - start).min(30_000) as usize;
        for &v in rd.read_block(start, n).unwrap().iter() {
            counts[v as usize] += 1;
        }
        start += n as u64;
    }
    assert_eq!(counts[0] + counts[3], 0, "only values 1 and 2 occur: {counts:?}");
    assert!(counts[1] > 0 && counts[2] > 0);
    assert_eq!(counts.iter().sum::<u64>(), 187520 * 64);
}

#[test]
fn real_tim_files() {
    if let Some(p) = common::shared_data("sigpyproc3/GBT_J1807-0847.tim") {
        let (h, d) = read_tim(&p).unwrap();
        assert_eq!(d.len(), 131130);
        assert_eq!((h.nsamples, h.data_type, h.nbits, h.nchans), (131130, 2, 32, 1));
        assert_eq!(h.refdm, Some(112.3802));
        assert_eq!(h.fch1_mhz, 920.0);
        assert_eq!(h.tsamp_s, 0.00016384);
        assert_eq!(read_header(&p).unwrap().1, 318);
        assert!(d.iter().all(|v| v.is_finite()));
        // The same samples through the block reader (1 channel).
        let mut rd = SigprocReader::open(&p).unwrap();
        assert_eq!(rd.read_block(1000, 50).unwrap().column(0).to_vec(), d[1000..1050].to_vec());
    }
    if let Some(p) = common::shared_data("sigpyproc3/Lband_DM0.00.tim") {
        let (h, d) = read_tim(&p).unwrap();
        assert_eq!(d.len(), 66250);
        assert_eq!((h.data_type, h.nbits, h.refdm, h.fch1_mhz), (2, 32, Some(0.0), 1447.5));
        assert!(d.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn cli_header_prints_derived_values_and_json() {
    let Some(p) = common::shared_data("your/28.fil") else { return };
    let exe = env!("CARGO_BIN_EXE_tianyan");
    let out = std::process::Command::new(exe).arg("header").arg(&p).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |label: &str| -> String {
        let line = text.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label} in {text}"));
        line[label.len()..].trim().to_string()
    };
    assert_eq!(field("nsamples"), "5120");
    assert_eq!(field("bandwidth (MHz)"), "336.000000");
    assert_eq!(field("centre freq (MHz)"), "1297.500000");
    assert_eq!(field("band edges (MHz)"), "1129.500000 .. 1465.500000");
    assert_eq!(field("channel centres (MHz)"), "1130.000000 .. 1465.000000");
    let out = std::process::Command::new(exe).arg("header").arg("--json").arg(&p).output().unwrap();
    assert!(out.status.success());
    let h: Header = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((h.nchans, h.nsamples, h.source_name.as_str()), (336, 5120, "src1"));
}
