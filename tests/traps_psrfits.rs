//! TRAPS entries for the PSRFITS reader: B03(d), B24, B25, B26. Each test builds a small
//! PSRFITS file with the `fitsio` crate in a temporary folder and checks the values the
//! reader returns against the entry's expected values.
use fitsio::tables::{ColumnDataType, ColumnDescription};
use fitsio::FitsFile;
use std::path::{Path, PathBuf};
use tianyan::io::psrfits::open_psrfits;

/// The DATA column of a test file.
enum Data {
    /// TFORM `nB`, bytes per row.
    Bytes(Vec<Vec<u8>>),
    /// TFORM `nI`, values per row.
    Shorts(Vec<Vec<i16>>),
    /// TFORM `nE`, values per row.
    Floats(Vec<Vec<f32>>),
}

/// A small search-mode PSRFITS file.
struct Spec {
    obsfreq: f64,
    obsbw: f64,
    obsnchan: i64,
    nchan: usize,
    npol: usize,
    nbits: i64,
    nsblk: usize,
    tbin: f64,
    chan_bw: f64,
    pol_type: &'static str,
    obs_mode: &'static str,
    freqs: Vec<f64>,
    freq_f32: bool,
    data: Data,
    tdim: Option<String>,
    tzero: Option<f64>,
    zero_off: f64,
    nrows: usize,
    /// STT_OFFS, s (the start time within the second; later files of a sequence start later).
    stt_offs: f64,
}

impl Spec {
    fn new(nchan: usize, npol: usize, nbits: i64, nsblk: usize, data: Data) -> Spec {
        let nrows = match &data {
            Data::Bytes(r) => r.len(),
            Data::Shorts(r) => r.len(),
            Data::Floats(r) => r.len(),
        };
        Spec {
            obsfreq: 1400.0,
            obsbw: -(nchan as f64),
            obsnchan: nchan as i64,
            nchan,
            npol,
            nbits,
            nsblk,
            tbin: 1e-3,
            chan_bw: -1.0,
            pol_type: "AA+BB",
            obs_mode: "SEARCH",
            freqs: (0..nchan).map(|i| 1400.0 + 0.5 * (nchan as f64 - 1.0) - i as f64).collect(),
            freq_f32: false,
            data,
            tdim: None,
            tzero: None,
            zero_off: 0.0,
            nrows,
            stt_offs: 0.25,
        }
    }

    fn write(&self, path: &Path) {
        let _ = std::fs::remove_file(path);
        let mut f = FitsFile::create(path).open().expect("create fits");
        let p = f.primary_hdu().expect("primary");
        p.write_key(&mut f, "FITSTYPE", "PSRFITS").unwrap();
        p.write_key(&mut f, "TELESCOP", "FAST").unwrap();
        p.write_key(&mut f, "OBS_MODE", self.obs_mode).unwrap();
        p.write_key(&mut f, "OBSFREQ", self.obsfreq).unwrap();
        p.write_key(&mut f, "OBSBW", self.obsbw).unwrap();
        p.write_key(&mut f, "OBSNCHAN", self.obsnchan).unwrap();
        p.write_key(&mut f, "SRC_NAME", "TEST").unwrap();
        p.write_key(&mut f, "STT_IMJD", 60000i64).unwrap();
        p.write_key(&mut f, "STT_SMJD", 43200i64).unwrap();
        p.write_key(&mut f, "STT_OFFS", self.stt_offs).unwrap();
        let n = self.nchan;
        let per_row = self.nsblk * self.npol * n;
        let (data_type, data_repeat) = match &self.data {
            Data::Bytes(r) => (ColumnDataType::Byte, r.first().map_or(per_row * self.nbits as usize / 8, |x| x.len())),
            Data::Shorts(_) => (ColumnDataType::Short, per_row),
            Data::Floats(_) => (ColumnDataType::Float, per_row),
        };
        let freq_type = if self.freq_f32 { ColumnDataType::Float } else { ColumnDataType::Double };
        let cols = [
            ColumnDescription::new("TSUBINT").with_type(ColumnDataType::Double).create().unwrap(),
            ColumnDescription::new("OFFS_SUB").with_type(ColumnDataType::Double).create().unwrap(),
            ColumnDescription::new("DAT_FREQ").with_type(freq_type).that_repeats(n).create().unwrap(),
            ColumnDescription::new("DAT_WTS").with_type(ColumnDataType::Float).that_repeats(n).create().unwrap(),
            ColumnDescription::new("DAT_OFFS")
                .with_type(ColumnDataType::Float)
                .that_repeats(n * self.npol)
                .create()
                .unwrap(),
            ColumnDescription::new("DAT_SCL")
                .with_type(ColumnDataType::Float)
                .that_repeats(n * self.npol)
                .create()
                .unwrap(),
            ColumnDescription::new("DATA").with_type(data_type).that_repeats(data_repeat).create().unwrap(),
        ];
        let t = f.create_table("SUBINT".to_string(), &cols).expect("table");
        t.write_key(&mut f, "NPOL", self.npol as i64).unwrap();
        t.write_key(&mut f, "POL_TYPE", self.pol_type).unwrap();
        t.write_key(&mut f, "TBIN", self.tbin).unwrap();
        t.write_key(&mut f, "NBITS", self.nbits).unwrap();
        t.write_key(&mut f, "NCHAN", n as i64).unwrap();
        t.write_key(&mut f, "CHAN_BW", self.chan_bw).unwrap();
        t.write_key(&mut f, "NSBLK", self.nsblk as i64).unwrap();
        t.write_key(&mut f, "ZERO_OFF", self.zero_off).unwrap();
        t.write_key(&mut f, "NSUBOFFS", 0i64).unwrap();
        if let Some(d) = &self.tdim {
            t.write_key(&mut f, "TDIM7", d.as_str()).unwrap();
        }
        if self.nrows > 0 {
            let r = self.nrows;
            t.write_col(&mut f, "TSUBINT", &vec![self.tbin * self.nsblk as f64; r]).unwrap();
            t.write_col(&mut f, "OFFS_SUB", &(0..r).map(|i| (i as f64 + 0.5) * self.tbin).collect::<Vec<_>>()).unwrap();
            if self.freq_f32 {
                let v: Vec<f32> = (0..r).flat_map(|_| self.freqs.iter().map(|x| *x as f32)).collect();
                t.write_col(&mut f, "DAT_FREQ", &v).unwrap();
            } else {
                let v: Vec<f64> = (0..r).flat_map(|_| self.freqs.iter().copied()).collect();
                t.write_col(&mut f, "DAT_FREQ", &v).unwrap();
            }
            t.write_col(&mut f, "DAT_WTS", &vec![1f32; r * n]).unwrap();
            t.write_col(&mut f, "DAT_OFFS", &vec![0f32; r * n * self.npol]).unwrap();
            t.write_col(&mut f, "DAT_SCL", &vec![1f32; r * n * self.npol]).unwrap();
            match &self.data {
                Data::Bytes(rows) => t.write_col(&mut f, "DATA", &rows.concat()).unwrap(),
                Data::Shorts(rows) => t.write_col(&mut f, "DATA", &rows.concat()).unwrap(),
                Data::Floats(rows) => t.write_col(&mut f, "DATA", &rows.concat()).unwrap(),
            };
        }
        // After the data, so cfitsio stores the values as given (no scaling on write).
        if let Some(z) = self.tzero {
            t.write_key(&mut f, "TZERO7", z).unwrap();
        }
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn read_all(paths: &[PathBuf]) -> (tianyan::Header, ndarray::Array2<f32>) {
    let mut obs = open_psrfits(paths).expect("open");
    let h = obs.header().clone();
    let d = obs.read_block(0, h.nsamples as usize).expect("read");
    (h, d)
}

#[test]
fn b24_channel_frequencies_from_dat_freq_not_obsfreq() {
    let dir = tmp();
    let path = dir.path().join("b24.fits");
    let mut s = Spec::new(4, 1, 8, 1024, Data::Bytes(vec![vec![7u8; 4 * 1024]]));
    s.obsfreq = 1000.0;
    s.obsbw = 800.0;
    s.obsnchan = 8;
    s.chan_bw = -100.0;
    s.tbin = 0.001;
    s.freqs = vec![1150.0, 1050.0, 950.0, 850.0];
    s.write(&path);
    let (h, d) = read_all(&[path]);
    assert_eq!(h.chan_freqs_mhz(), vec![1150.0, 1050.0, 950.0, 850.0]);
    assert_eq!(h.fch1_mhz, 1150.0);
    assert_eq!(h.foff_mhz, -100.0);
    assert_eq!(h.nchans, 4);
    assert!((h.centre_freq_mhz() - 1000.0).abs() < 1e-9, "centre {}", h.centre_freq_mhz());
    assert!((h.bandwidth_mhz() - 400.0).abs() < 1e-9, "bw {}", h.bandwidth_mhz());
    assert_eq!(h.tsamp_s, 0.001);
    assert_eq!(h.nsamples, 1024);
    assert!(d.iter().all(|&v| v == 7.0));
}

/// B24, second half: a DM 50 pulse injected with the DAT_FREQ channel centres is recovered at DM 50
/// by dedispersion (a reader that took the band from OBSFREQ/OBSBW would scale the DM).
#[test]
fn b24_dedispersion_recovers_dm_50() {
    use tianyan::dedisp::{direct::DirectDedisperser, Dedisperser};
    let dir = tmp();
    let path = dir.path().join("b24dm.fits");
    let freqs = [1150.0f64, 1050.0, 950.0, 850.0];
    let (tsamp, t0) = (0.001, 100usize);
    let mut row = vec![10u8; 4 * 1024];
    for (c, f) in freqs.iter().enumerate() {
        let delay = (tianyan::consts::dispersion_delay_s(50.0, *f, 1150.0) / tsamp).round() as usize;
        row[(t0 + delay) * 4 + c] = 200;
    }
    let mut s = Spec::new(4, 1, 8, 1024, Data::Bytes(vec![row]));
    s.obsfreq = 1000.0;
    s.obsbw = 800.0;
    s.obsnchan = 8;
    s.chan_bw = -100.0;
    s.tbin = tsamp;
    s.freqs = freqs.to_vec();
    s.write(&path);
    let mut obs = tianyan::open_observation(&[path]).unwrap();
    let dms: Vec<f64> = (0..=100).map(f64::from).collect();
    let out = DirectDedisperser::default().dedisperse(obs.as_mut(), &dms, 1).unwrap();
    let peaks: Vec<f32> = (0..dms.len()).map(|i| out.data.row(i).iter().cloned().fold(f32::MIN, f32::max)).collect();
    let best = (0..dms.len()).max_by(|&a, &b| peaks[a].total_cmp(&peaks[b])).unwrap();
    assert_eq!(dms[best], 50.0, "best DM {} (peaks {:?})", dms[best], &peaks[45..56]);
    assert_eq!(peaks[best], 800.0, "all four channels align at DM 50");
    assert!(peaks[49] < 800.0 && peaks[51] < 800.0);
    assert_eq!(out.data[[best, t0]], 800.0, "the pulse is at sample {t0}, referred to 1150 MHz");
}

#[test]
fn b24_float32_dat_freq_becomes_exact_uniform_grid() {
    // 64 channels of 0.1 MHz (not representable in float32): the reader must give an f64 grid
    // with exactly uniform spacing, so dispersion delays are not shifted by float32 rounding.
    let dir = tmp();
    let path = dir.path().join("f32freq.fits");
    let n = 64;
    let mut s = Spec::new(n, 1, 8, 16, Data::Bytes(vec![vec![1u8; n * 16]]));
    s.chan_bw = 0.1;
    s.freqs = (0..n).map(|i| 1000.0 + 0.1 * i as f64).collect();
    s.freq_f32 = true;
    s.write(&path);
    let (h, _) = read_all(&[path]);
    let f = h.chan_freqs_mhz();
    for i in 1..n {
        assert!((f[i] - f[i - 1] - 0.1).abs() < 1e-9, "spacing {} at {i}", f[i] - f[i - 1]);
    }
    for (i, fi) in f.iter().enumerate() {
        assert!((fi - (1000.0 + 0.1 * i as f64)).abs() < 1e-4, "channel {i}: {fi}");
    }
    assert!((h.foff_mhz - 0.1).abs() < 1e-12);
}

fn one_sample_4pol(pol_type: &'static str, npol: usize, vals: &[u8]) -> Vec<f32> {
    let dir = tmp();
    let path = dir.path().join("pol.fits");
    // NCHAN = 2, one sample; both channels hold the same per-pol value.
    let mut row = Vec::new();
    for v in vals {
        row.push(*v);
        row.push(*v);
    }
    let mut s = Spec::new(2, npol, 8, 1, Data::Bytes(vec![row]));
    s.pol_type = pol_type;
    s.write(&path);
    let (h, d) = read_all(&[path]);
    assert_eq!(h.nifs, npol);
    assert_eq!(d.dim(), (1, 2));
    d.iter().copied().collect()
}

#[test]
fn b25a_aabbcrci_gives_aa_plus_bb() {
    let v = one_sample_4pol("AABBCRCI", 4, &[10, 20, 200, 250]);
    assert_eq!(v, vec![30.0, 30.0], "AA+BB must be 30, not 480");
}

#[test]
fn b25b_iquv_gives_i() {
    let v = one_sample_4pol("IQUV", 4, &[30, 5, 6, 7]);
    assert_eq!(v, vec![30.0, 30.0]);
}

#[test]
fn b25c_aabb_sum_does_not_wrap() {
    let v = one_sample_4pol("AABB", 2, &[200, 200]);
    assert_eq!(v, vec![400.0, 400.0], "200 + 200 must be 400, never 144");
}

#[test]
fn b25_unknown_pol_type_is_a_clear_error() {
    let dir = tmp();
    let path = dir.path().join("badpol.fits");
    let mut s = Spec::new(2, 4, 8, 1, Data::Bytes(vec![vec![0u8; 8]]));
    s.pol_type = "XXYYZZWW";
    s.write(&path);
    let e = open_psrfits(std::slice::from_ref(&path)).err().expect("must fail").to_string();
    assert!(e.contains("POL_TYPE") && e.contains("badpol.fits"), "{e}");
}

#[test]
fn b26a_float32_data_exact() {
    let dir = tmp();
    let path = dir.path().join("f32.fits");
    let vals = vec![1.5f32, -2.0, 1.0e6, 0.0, 1.5, -2.0, 1.0e6, 0.0];
    let s = Spec::new(4, 1, 32, 2, Data::Floats(vec![vals.clone()]));
    s.write(&path);
    let (h, d) = read_all(&[path]);
    assert_eq!(h.nbits, 32);
    assert_eq!(d.row(0).to_vec(), vec![1.5, -2.0, 1.0e6, 0.0]);
    assert_eq!(d.row(1).to_vec(), vec![1.5, -2.0, 1.0e6, 0.0]);
}

#[test]
fn b26b_16bit_signed_and_unsigned() {
    let dir = tmp();
    let path = dir.path().join("i16.fits");
    let vals = vec![-1i16, 0, 1, 32767, 5, 6, 7, 8];
    Spec::new(4, 1, 16, 2, Data::Shorts(vec![vals.clone()])).write(&path);
    let (_, d) = read_all(&[path]);
    assert_eq!(d.row(0).to_vec(), vec![-1.0, 0.0, 1.0, 32767.0]);
    assert_eq!(d.row(1).to_vec(), vec![5.0, 6.0, 7.0, 8.0]);

    // Unsigned 16-bit: stored i16 + TZERO 32768.
    let path = dir.path().join("u16.fits");
    let mut s = Spec::new(4, 1, 16, 2, Data::Shorts(vec![vec![-32768i16, -1, 0, 32767, 0, 0, 0, 0]]));
    s.tzero = Some(32768.0);
    s.write(&path);
    let (_, d) = read_all(&[path]);
    assert_eq!(d.row(0).to_vec(), vec![0.0, 32767.0, 32768.0, 65535.0]);
}

#[test]
fn b26c_1bit_msb_first() {
    let dir = tmp();
    let path = dir.path().join("1bit.fits");
    Spec::new(8, 1, 1, 2, Data::Bytes(vec![vec![0x80, 0x01]])).write(&path);
    let (h, d) = read_all(&[path]);
    assert_eq!(h.nbits, 1);
    assert_eq!(d.row(0).to_vec(), vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(d.row(1).to_vec(), vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn b26d_4bit_flat_data_with_inconsistent_tdim() {
    let dir = tmp();
    let path = dir.path().join("4bit.fits");
    let mut s = Spec::new(8, 1, 4, 2, Data::Bytes(vec![vec![0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0]]));
    s.tdim = Some("(8,1,2)".to_string()); // claims 16 elements; the column holds 8 bytes
    s.write(&path);
    let (_, d) = read_all(&[path]);
    assert_eq!(d.row(0).to_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    assert_eq!(d.row(1).to_vec(), vec![9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 0.0]);
}

#[test]
fn b26_unsupported_nbits_is_a_clear_error() {
    let dir = tmp();
    let path = dir.path().join("3bit.fits");
    Spec::new(8, 1, 3, 8, Data::Bytes(vec![vec![0u8; 24]])).write(&path);
    let e = open_psrfits(&[path]).err().expect("must fail").to_string();
    assert!(e.contains("NBITS") && e.contains("3bit.fits"), "{e}");
}

#[test]
fn b03d_zero_rows_alone_is_an_error() {
    let dir = tmp();
    let path = dir.path().join("empty_0001.fits");
    let mut s = Spec::new(4, 1, 8, 16, Data::Bytes(vec![]));
    s.nrows = 0;
    s.write(&path);
    let e = open_psrfits(&[path]).err().expect("must fail").to_string();
    assert!(e.contains("NAXIS2 = 0") && e.contains("empty_0001.fits"), "{e}");
}

#[test]
fn b03d_zero_rows_as_last_file_is_skipped() {
    let dir = tmp();
    let p1 = dir.path().join("obs_0001.fits");
    let p2 = dir.path().join("obs_0002.fits");
    let row: Vec<u8> = (0..4 * 16).map(|i| i as u8).collect();
    Spec::new(4, 1, 8, 16, Data::Bytes(vec![row.clone(), row.clone()])).write(&p1);
    let mut s = Spec::new(4, 1, 8, 16, Data::Bytes(vec![]));
    s.nrows = 0;
    s.write(&p2);
    let (h, d) = read_all(&[p1, p2.clone()]);
    assert_eq!(h.nsamples, 32);
    assert_eq!(d[[17, 3]], 7.0); // sample 1 of row 1, channel 3 = byte 1*4+3
                                 // An empty file that is NOT last is an error.
    let e = open_psrfits(&[p2, dir.path().join("obs_0001.fits")]).err().expect("must fail").to_string();
    assert!(e.contains("NAXIS2 = 0"), "{e}");
}

#[test]
fn fold_mode_is_a_clear_error() {
    let dir = tmp();
    let path = dir.path().join("fold.fits");
    let mut s = Spec::new(4, 1, 8, 16, Data::Bytes(vec![vec![0u8; 64]]));
    s.obs_mode = "PSR";
    s.write(&path);
    let e = open_psrfits(&[path]).err().expect("must fail").to_string();
    assert!(e.contains("OBS_MODE") && e.contains("fold.fits"), "{e}");
}

#[test]
fn truncated_file_is_a_clear_error() {
    let dir = tmp();
    let path = dir.path().join("trunc.fits");
    let rows: Vec<Vec<u8>> = (0..4).map(|_| vec![3u8; 256 * 64]).collect();
    Spec::new(256, 1, 8, 64, Data::Bytes(rows)).write(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 20000).unwrap();
    drop(f);
    let e = open_psrfits(&[path]).err().expect("must fail").to_string();
    assert!(e.contains("truncated") && e.contains("trunc.fits"), "{e}");
}

#[test]
fn sequence_of_files_reads_as_one_stream() {
    let dir = tmp();
    let p1 = dir.path().join("seq_0001.fits");
    let p2 = dir.path().join("seq_0002.fits");
    let mk =
        |base: u8| -> Vec<Vec<u8>> { (0..2).map(|r| (0..4 * 8).map(|i| base + r * 40 + i as u8).collect()).collect() };
    Spec::new(4, 1, 8, 8, Data::Bytes(mk(0))).write(&p1);
    // The second file starts where the first ends: 2 rows × 8 samples × 1 ms later.
    let mut s2 = Spec::new(4, 1, 8, 8, Data::Bytes(mk(100)));
    s2.stt_offs = 0.25 + 16.0 * 1e-3;
    s2.write(&p2);
    // The same second file with the first file's start time does not continue it: an error
    // naming both files, never two overlapping stretches read as one.
    let p2b = dir.path().join("seq_0002b.fits");
    Spec::new(4, 1, 8, 8, Data::Bytes(mk(100))).write(&p2b);
    let e = open_psrfits(&[p1.clone(), p2b]).err().expect("overlapping files must fail").to_string();
    assert!(e.contains("seq_0002b.fits") && e.contains("does not continue") && e.contains("seq_0001.fits"), "{e}");
    let mut obs = open_psrfits(&[p1.clone(), p2.clone()]).unwrap();
    assert_eq!(obs.header().nsamples, 32);
    // A block spanning the file boundary (samples 14..18).
    let b = obs.read_block(14, 4).unwrap();
    assert_eq!(b[[0, 0]], (40 + 6 * 4) as f32);
    assert_eq!(b[[1, 3]], (40 + 7 * 4 + 3) as f32);
    assert_eq!(b[[2, 0]], 100.0);
    assert_eq!(b[[3, 2]], (100 + 4 + 2) as f32);
    assert!(obs.read_block(30, 3).is_err());
    // Mismatched channel count is rejected.
    let p3 = dir.path().join("seq_0003.fits");
    Spec::new(8, 1, 8, 8, Data::Bytes(vec![vec![0u8; 64]])).write(&p3);
    let e = open_psrfits(&[p1, p3]).err().expect("must fail").to_string();
    assert!(e.contains("seq_0003.fits"), "{e}");
}
