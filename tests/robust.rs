//! Robust readers, missing data and honest simulations (issue 11, items 3, 4 and 8).
//!
//! * Item 3: a candidate file whose record type is corrupted (one byte of a member offset) or
//!   lacks a field is one clear error from every reader (`candidates`, `fold --candidates`,
//!   `plot`) instead of a segfault inside libhdf5 or uninitialised memory; records hold no
//!   padding, so identical runs write identical record bytes.
//! * Item 4: NaN and ±∞ samples are missing data, masked one sample at a time and counted.
//! * Item 8: `simulate` refuses to saturate its data unless asked, and the truth's expected S/N
//!   includes quantisation and clipping.
mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use tianyan::io::candidates::{read_candidates, read_single_pulses, write_candidate_file, CandidateFile, RunInfo};
use tianyan::io::sigproc::{SigprocReader, SigprocWriter};
use tianyan::search::{Candidate, SinglePulse};
use tianyan::sim::{simulate_to_file, OutputFormat, PulsarSpec, SimConfig};
use tianyan::{Header, Observation};

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A small simulated 8-bit filterbank: 64 channels over 1000–1500 MHz, 1 ms samples, a 0.25 s
/// pulsar at DM 20 of expected S/N `snr`.
fn small_obs(dir: &Path, name: &str, duration_s: f64, snr: f64) -> PathBuf {
    let cfg = SimConfig {
        preset: "fast-l-band-lite".into(),
        duration_s,
        nchans: Some(64),
        tsamp_s: Some(1e-3),
        seed: 7,
        pulsars: vec![PulsarSpec::parse(&format!("period=0.25,dm=20,snr={snr}")).unwrap()],
        ..SimConfig::default()
    };
    let path = dir.join(name);
    simulate_to_file(&cfg, &path, OutputFormat::Filterbank).unwrap();
    path
}

/// Asserts that a CLI run failed with an exit code (not a signal) and returns its stderr.
fn failed_cleanly(o: &std::process::Output, what: &str) -> String {
    let e = stderr(o);
    assert_eq!(o.status.signal(), None, "{what}: killed by a signal: {e}");
    assert!(matches!(o.status.code(), Some(c) if c != 0), "{what}: must fail, got {:?}: {e}", o.status);
    assert!(!e.contains("panicked"), "{what}: {e}");
    e
}

// ------------------------------------------------------------------ 3. robust HDF5 reading

fn cand(p: f64, dm: f64, sigma: f32) -> Candidate {
    Candidate {
        period_s: p,
        frequency_hz: 1.0 / p,
        dm,
        accel: 0.0,
        z: 0.0,
        snr: sigma + 1.0,
        sigma,
        power: 30.0,
        nharm: 4,
        fft_bin: 8.0,
        n_dm_hits: 3,
        harmonic_of: -1,
        harmonic_num: 0,
        harmonic_den: 0,
        fund_harmonic: 1,
        dm_flag: 0,
        search: tianyan::search::SearchKind::Fft,
        width_s: 0.0,
    }
}

fn pulse(t: f64, snr: f32, flag: u8) -> SinglePulse {
    SinglePulse {
        time_s: t,
        sample: (t * 1000.0) as u64,
        dm: 20.0,
        width_s: 0.004,
        width_samples: 4,
        snr,
        n_members: 5,
        rfi_flag: flag,
    }
}

/// A candidate file for `obs` as the search records it (input name, size, header), with two
/// candidates and two single pulses.
fn cands_for(obs: &Path, h5: &Path) -> CandidateFile {
    let header = tianyan::open_observation(&[obs.to_path_buf()]).unwrap().header().clone();
    let cf = CandidateFile {
        run: RunInfo {
            command: "test".into(),
            input_file: obs.display().to_string(),
            input_size_bytes: std::fs::metadata(obs).unwrap().len(),
        },
        header,
        candidates: vec![cand(0.25, 20.0, 12.0), cand(0.125, 20.0, 8.0)],
        single_pulses: vec![pulse(1.0, 9.0, 0), pulse(0.5, 7.0, 1)],
        ..CandidateFile::default()
    };
    write_candidate_file(h5, &cf).unwrap();
    cf
}

/// Byte position of the 4-byte offset of compound member `name` in the datatype message (HDF5
/// datatype message version 1/2: the member name, NUL-padded to a multiple of 8, is followed by
/// its byte offset, little-endian), identified by the name and the expected offset. Exactly one
/// such member must exist in the file.
fn member_offset_pos(bytes: &[u8], name: &str, offset: u32) -> usize {
    let padded = (name.len() + 1).div_ceil(8) * 8;
    let mut pat = name.as_bytes().to_vec();
    pat.resize(padded, 0);
    pat.extend_from_slice(&offset.to_le_bytes());
    let hits: Vec<usize> = bytes.windows(pat.len()).enumerate().filter(|(_, w)| *w == pat).map(|(i, _)| i).collect();
    assert_eq!(hits.len(), 1, "member {name} at offset {offset}: {hits:?}");
    hits[0] + padded
}

/// Issue 11: one corrupted byte of a member offset in `/candidates` crashed `candidates`,
/// `fold --candidates` and `plot` inside libhdf5 (`sigma` at byte 0x7f000024: SIGSEGV in
/// `H5Dread`, reproduced with the release build before this change), and a low byte moved
/// `sigma` to byte 164 of an 80-byte record, which was read silently. Both are now one error
/// naming the file, the table and the field, with an exit code; likewise in `/single_pulses`.
#[test]
fn corrupted_member_offset_is_a_clear_error_in_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let obs = small_obs(dir.path(), "obs.fil", 2.0, 30.0);
    let good = dir.path().join("good.h5");
    cands_for(&obs, &good);
    let bytes = std::fs::read(&good).unwrap();
    // sigma: after four f64 and snr (f32) at byte 36, packed and C layout alike.
    let sigma_at = member_offset_pos(&bytes, "sigma", 36);
    // rfi_flag: the last member of a single pulse, at byte 44.
    let flag_at = member_offset_pos(&bytes, "rfi_flag", 44);
    let cases = [
        ("sigma_high.h5", sigma_at + 3, 0x7f, "sigma"),
        ("sigma_low.h5", sigma_at, 0xa4, "sigma"),
        ("flag_high.h5", flag_at + 3, 0x40, "rfi_flag"),
    ];
    for (name, pos, value, field) in cases {
        let bad = dir.path().join(name);
        let mut b = bytes.clone();
        b[pos] = value;
        std::fs::write(&bad, &b).unwrap();
        let table = if field == "sigma" { "/candidates" } else { "/single_pulses" };
        let mut runs: Vec<(&str, Vec<String>)> = vec![("candidates", vec!["candidates".into(), s(&bad).into()])];
        if field == "sigma" {
            let plots = dir.path().join(format!("plots_{name}"));
            runs.push((
                "fold --candidates",
                vec!["fold".into(), s(&obs).into(), "--candidates".into(), s(&bad).into(), "--top".into(), "1".into()],
            ));
            runs.push(("plot", vec!["plot".into(), s(&bad).into(), "-o".into(), s(&plots).into()]));
            let err = read_candidates(&bad).unwrap_err().to_string();
            assert!(err.contains("sigma") && err.contains("corrupted"), "{err}");
        } else {
            let err = read_single_pulses(&bad).unwrap_err().to_string();
            assert!(err.contains("rfi_flag") && err.contains("corrupted"), "{err}");
        }
        for (what, args) in runs {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = common::tianyan(&args);
            let e = failed_cleanly(&o, &format!("{what} on {name}"));
            assert!(e.contains(name) && e.contains(table) && e.contains(field), "{what} on {name}: {e}");
            assert_eq!(e.trim().lines().count(), 1, "{what} on {name}: one error line: {e}");
        }
        assert_eq!(std::fs::read(&bad).unwrap(), b, "{name} is not touched");
    }
    // The intact file still reads, with every value.
    assert_eq!(read_candidates(&good).unwrap(), vec![cand(0.25, 20.0, 12.0), cand(0.125, 20.0, 8.0)]);
}

/// Rewrites `/candidates` of `h5` with records of type `T` (the same rows, one field changed).
fn replace_candidates<T: hdf5::H5Type>(h5: &Path, rows: &[T]) {
    let f = hdf5::File::open_rw(h5).unwrap();
    f.unlink("candidates").unwrap();
    f.new_dataset::<T>().shape(rows.len()).create("candidates").unwrap().write(rows).unwrap();
}

/// `Candidate` without `sigma`.
#[derive(hdf5::H5Type, Clone, Copy)]
#[repr(C)]
struct NoSigma {
    period_s: f64,
    frequency_hz: f64,
    dm: f64,
    accel: f64,
    snr: f32,
    power: f32,
    nharm: u32,
    fft_bin: f64,
    n_dm_hits: u32,
    harmonic_of: i32,
    harmonic_num: u32,
    harmonic_den: u32,
    fund_harmonic: u32,
    dm_flag: u32,
    z: f64,
    search: tianyan::search::SearchKind,
    width_s: f64,
}

/// `Candidate` with `sigma` stored as f64.
#[derive(hdf5::H5Type, Clone, Copy)]
#[repr(C)]
struct SigmaF64 {
    period_s: f64,
    frequency_hz: f64,
    dm: f64,
    accel: f64,
    snr: f32,
    sigma: f64,
    power: f32,
    nharm: u32,
    fft_bin: f64,
    n_dm_hits: u32,
    harmonic_of: i32,
    harmonic_num: u32,
    harmonic_den: u32,
    fund_harmonic: u32,
    dm_flag: u32,
    z: f64,
    search: tianyan::search::SearchKind,
    width_s: f64,
}

/// Issue 11: a `/candidates` table without `sigma` was accepted and printed uninitialised memory
/// (libhdf5 converts compound members by name and leaves a missing one untouched). Now a missing
/// or mistyped field is an error naming the file, the table and the field, from the library and
/// from every command.
#[test]
fn missing_or_mistyped_field_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let obs = small_obs(dir.path(), "obs.fil", 2.0, 30.0);
    let good = dir.path().join("good.h5");
    let cf = cands_for(&obs, &good);
    let no_sigma = dir.path().join("no_sigma.h5");
    std::fs::copy(&good, &no_sigma).unwrap();
    let rows: Vec<NoSigma> = cf
        .candidates
        .iter()
        .map(|c| NoSigma {
            period_s: c.period_s,
            frequency_hz: c.frequency_hz,
            dm: c.dm,
            accel: c.accel,
            z: c.z,
            snr: c.snr,
            power: c.power,
            nharm: c.nharm,
            fft_bin: c.fft_bin,
            n_dm_hits: c.n_dm_hits,
            harmonic_of: c.harmonic_of,
            harmonic_num: c.harmonic_num,
            harmonic_den: c.harmonic_den,
            fund_harmonic: c.fund_harmonic,
            dm_flag: c.dm_flag,
            search: c.search,
            width_s: c.width_s,
        })
        .collect();
    replace_candidates(&no_sigma, &rows);
    let f64_sigma = dir.path().join("f64_sigma.h5");
    std::fs::copy(&good, &f64_sigma).unwrap();
    let rows: Vec<SigmaF64> = cf
        .candidates
        .iter()
        .map(|c| SigmaF64 {
            period_s: c.period_s,
            frequency_hz: c.frequency_hz,
            dm: c.dm,
            accel: c.accel,
            z: c.z,
            snr: c.snr,
            sigma: c.sigma as f64,
            power: c.power,
            nharm: c.nharm,
            fft_bin: c.fft_bin,
            n_dm_hits: c.n_dm_hits,
            harmonic_of: c.harmonic_of,
            harmonic_num: c.harmonic_num,
            harmonic_den: c.harmonic_den,
            fund_harmonic: c.fund_harmonic,
            dm_flag: c.dm_flag,
            search: c.search,
            width_s: c.width_s,
        })
        .collect();
    replace_candidates(&f64_sigma, &rows);
    for (bad, says) in
        [(&no_sigma, "no field 'sigma'"), (&f64_sigma, "field 'sigma' is stored as float64, expected float32")]
    {
        let err = read_candidates(bad).unwrap_err().to_string();
        assert!(err.contains(s(bad)) && err.contains(says), "{err}");
        let name = bad.file_name().unwrap().to_str().unwrap();
        let plots = dir.path().join("plots");
        for args in [
            vec!["candidates", s(bad)],
            vec!["fold", s(&obs), "--candidates", s(bad), "--top", "1"],
            vec!["plot", s(bad), "-o", s(&plots)],
        ] {
            let o = common::tianyan(&args);
            let e = failed_cleanly(&o, &format!("{args:?}"));
            assert!(e.contains(name) && e.contains("/candidates") && e.contains(says), "{args:?}: {e}");
        }
    }
}

/// Raw bytes of dataset `name` of `h5` as stored in the file (contiguous layout).
fn stored_bytes(h5: &Path, name: &str) -> Vec<u8> {
    let f = hdf5::File::open(h5).unwrap();
    let ds = f.dataset(name).unwrap();
    let size = ds.storage_size() as usize;
    let bytes = std::fs::read(h5).unwrap();
    match ds.offset() {
        Some(off) => bytes[off as usize..off as usize + size].to_vec(),
        None => {
            assert_eq!(ds.size(), 0, "{name}: a non-empty table is stored contiguously");
            Vec::new()
        }
    }
}

/// The packed little-endian encoding of single pulses, member by member in declaration order.
fn encode_pulses(ps: &[SinglePulse]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in ps {
        out.extend_from_slice(&p.time_s.to_le_bytes());
        out.extend_from_slice(&p.sample.to_le_bytes());
        out.extend_from_slice(&p.dm.to_le_bytes());
        out.extend_from_slice(&p.width_s.to_le_bytes());
        out.extend_from_slice(&p.width_samples.to_le_bytes());
        out.extend_from_slice(&p.snr.to_le_bytes());
        out.extend_from_slice(&p.n_members.to_le_bytes());
        out.push(p.rfi_flag);
    }
    out
}

/// Issue 11: the padding bytes of every `/single_pulses` record (3 after `rfi_flag` in the
/// 48-byte `#[repr(C)]` record) held leftover memory, so identical runs wrote different files.
/// Here the padding of the in-memory records is filled with 0xAA before writing: the stored
/// table must be exactly the packed 45-byte encoding of the values (it was 48-byte records
/// carrying the 0xAA bytes), and reads back equal.
#[test]
fn records_are_written_without_padding() {
    let dir = tempfile::tempdir().unwrap();
    let obs = small_obs(dir.path(), "obs.fil", 1.0, 30.0);
    let header = tianyan::open_observation(std::slice::from_ref(&obs)).unwrap().header().clone();
    let mut pulses = vec![pulse(0.25, 9.5, 0), pulse(0.75, 8.25, 1), pulse(0.5, 7.0, 0)];
    let size = std::mem::size_of::<SinglePulse>();
    let end_of_last_member = std::mem::offset_of!(SinglePulse, rfi_flag) + 1;
    assert_eq!((size, end_of_last_member), (48, 45), "the in-memory record has 3 padding bytes");
    // SAFETY: writes only the padding bytes (after `rfi_flag`) of records inside the vector.
    unsafe {
        let base = pulses.as_mut_ptr() as *mut u8;
        for i in 0..pulses.len() {
            for k in end_of_last_member..size {
                *base.add(i * size + k) = 0xAA;
            }
        }
    }
    let cf = CandidateFile { header, single_pulses: pulses.clone(), ..CandidateFile::default() };
    let h5 = dir.path().join("pad.h5");
    write_candidate_file(&h5, &cf).unwrap();
    assert_eq!(stored_bytes(&h5, "single_pulses"), encode_pulses(&pulses));
    assert_eq!(read_single_pulses(&h5).unwrap(), pulses);
    let f = hdf5::File::open(&h5).unwrap();
    for table in ["candidates", "single_pulses"] {
        let t = f.dataset(table).unwrap().dtype().unwrap();
        let hdf5::types::TypeDescriptor::Compound(c) = t.to_descriptor().unwrap() else { panic!("{table}") };
        let members: usize = c.fields.iter().map(|m| m.ty.size()).sum();
        assert_eq!(c.size, members, "/{table}: packed, no padding byte");
    }
}

/// Every dataset under `g`, with its path.
fn datasets(g: &hdf5::Group, prefix: &str, out: &mut Vec<String>) {
    for name in g.member_names().unwrap() {
        let path = format!("{prefix}{name}");
        if let Ok(sub) = g.group(&name) {
            datasets(&sub, &format!("{path}/"), out);
        } else {
            out.push(path);
        }
    }
}

/// Two identical `search` runs write identical files: every dataset (`/candidates`,
/// `/single_pulses`, `/search/dm_trials`, every `/rfi` table) holds the same stored bytes, and the
/// whole files differ at most inside the 20-character `created_utc` timestamp (libhdf5 stores no
/// object times here; measured: 1 differing byte for runs a second apart). The second run writes
/// to the same path as the first (moved aside), so the recorded `command` is the same too.
#[test]
fn identical_runs_write_identical_records() {
    let dir = tempfile::tempdir().unwrap();
    let obs = small_obs(dir.path(), "obs.fil", 4.0, 30.0);
    let out = dir.path().join("run.h5");
    let outs: Vec<PathBuf> = (0..2).map(|i| dir.path().join(format!("run{i}.h5"))).collect();
    for o in &outs {
        let r = common::tianyan(&["search", s(&obs), "-o", s(&out), "--dm-max", "40"]);
        assert!(r.status.success(), "{}", stderr(&r));
        std::fs::rename(&out, o).unwrap();
    }
    let f = hdf5::File::open(&outs[0]).unwrap();
    let mut names = Vec::new();
    datasets(&f, "", &mut names);
    for want in ["candidates", "single_pulses", "search/dm_trials", "rfi/birdies", "rfi/channel_flags"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    assert!(read_single_pulses(&outs[0]).unwrap().len() + read_candidates(&outs[0]).unwrap().len() > 0);
    for n in &names {
        assert_eq!(stored_bytes(&outs[0], n), stored_bytes(&outs[1], n), "/{n} differs between identical runs");
    }
    let created: hdf5::types::VarLenUnicode = f.attr("created_utc").unwrap().read_scalar().unwrap();
    drop(f);
    let (a, b) = (std::fs::read(&outs[0]).unwrap(), std::fs::read(&outs[1]).unwrap());
    assert_eq!(a.len(), b.len());
    let stamp = created.as_str().as_bytes();
    assert_eq!(stamp.len(), 20, "{created}");
    let at: Vec<usize> = a.windows(stamp.len()).enumerate().filter(|(_, w)| *w == stamp).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "the timestamp is stored once");
    let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert!(differ.iter().all(|&i| (at[0]..at[0] + 20).contains(&i)), "bytes {differ:?} differ outside created_utc");
}

// ------------------------------------------------------------------ 4. non-finite data

/// Converts 8-bit `src` to a 32-bit float filterbank `dst` (power-like data, mean 96 counts) with
/// `poke(sample, row)` applied to each spectrum.
fn to_float(src: &Path, dst: &Path, poke: &dyn Fn(u64, &mut [f32])) -> Header {
    let mut r = SigprocReader::open(src).unwrap();
    let mut h = r.header().clone();
    h.nbits = 32;
    let mut w = SigprocWriter::create(dst, &h).unwrap();
    let n = h.nsamples;
    let mut start = 0u64;
    while start < n {
        let len = 4096.min(n - start) as usize;
        let mut blk = r.read_block(start, len).unwrap();
        for (i, mut row) in blk.rows_mut().into_iter().enumerate() {
            poke(start + i as u64, row.as_slice_mut().unwrap());
        }
        w.write_block(blk.view()).unwrap();
        start += len as u64;
    }
    w.finish().unwrap();
    h
}

/// The best candidate near P = 0.25 s, DM 20 of a candidate file: (sigma, snr).
fn pulsar_sigma(h5: &Path) -> (f32, f32) {
    let c = read_candidates(h5).unwrap();
    let best = c
        .iter()
        .find(|c| (c.period_s - 0.25).abs() < 0.002 && (c.dm - 20.0).abs() < 10.0)
        .unwrap_or_else(|| panic!("{h5:?}: the pulsar is lost: {c:?}"));
    (best.sigma, best.snr)
}

fn rfi_attr(h5: &Path, name: &str) -> u64 {
    hdf5::File::open(h5).unwrap().group("rfi").unwrap().attr(name).unwrap().read_scalar::<u64>().unwrap()
}

/// Issue 11: one NaN sample zeroed its whole channel and one all-+∞ spectrum zeroed every
/// channel (0 candidates, exit 0). Now each non-finite sample is missing data on its own: the
/// pulsar is found at the same sigma as in the clean file, no channel is masked that the clean
/// run kept, and the number of masked samples is reported exactly in `/rfi` and on stderr.
#[test]
fn nonfinite_samples_are_masked_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let src = small_obs(dir.path(), "src.fil", 8.0, 25.0);
    let nchans = 64u64;
    type Poke = Box<dyn Fn(u64, &mut [f32])>;
    let cases: Vec<(&str, Poke, u64, u64)> = vec![
        ("clean", Box::new(|_, _| {}), 0, 0),
        (
            "nan",
            Box::new(|t, row| {
                if t == 3001 {
                    row[10] = f32::NAN;
                }
            }),
            1,
            1,
        ),
        (
            "pinf",
            Box::new(|t, row| {
                if t == 2000 {
                    row.fill(f32::INFINITY);
                }
            }),
            nchans,
            1,
        ),
        (
            "ninf",
            Box::new(|t, row| {
                if t == 2000 {
                    row.fill(f32::NEG_INFINITY);
                }
            }),
            nchans,
            1,
        ),
        (
            // A NaN in every 100th sample of channel 5: 1 % of one channel is missing.
            "nan_column",
            Box::new(|t, row| {
                if t % 100 == 0 {
                    row[5] = f32::NAN;
                }
            }),
            80,
            80,
        ),
    ];
    let mut clean: Option<((f32, f32), Vec<u64>)> = None;
    for (name, poke, n_samples, n_spectra) in cases {
        let fil = dir.path().join(format!("{name}.fil"));
        to_float(&src, &fil, poke.as_ref());
        let h5 = dir.path().join(format!("{name}.h5"));
        let r = common::tianyan(&["search", s(&fil), "-o", s(&h5), "--dm-max", "40"]);
        let e = stderr(&r);
        assert!(r.status.success(), "{name}: {e}");
        assert_eq!(rfi_attr(&h5, "nonfinite_samples"), n_samples, "{name}");
        assert_eq!(rfi_attr(&h5, "nonfinite_spectra"), n_spectra, "{name}");
        let line = format!("missing data: {n_samples} NaN or infinite samples (in {n_spectra} spectra)");
        assert_eq!(e.contains(&line), n_samples > 0, "{name}: {e}");
        let masked: Vec<u64> =
            hdf5::File::open(&h5).unwrap().dataset("rfi/masked_channels").unwrap().read_raw::<u64>().unwrap();
        let found = pulsar_sigma(&h5);
        eprintln!("{name}: sigma {} snr {}, masked channels {masked:?}", found.0, found.1);
        match &clean {
            None => clean = Some((found, masked)),
            Some((c, cm)) => {
                assert_eq!(&masked, cm, "{name}: the same channels are masked as in the clean file");
                // One missing spectrum out of 8000 (or 80 samples of one channel out of 512 000)
                // moves the channel statistics and the folded signal by a few 1e-4 relative:
                // measured Δsigma +0.003 (one NaN), −0.020 (one ±∞ spectrum), +0.037 (80 NaNs in
                // one channel), Δsnr the same. 0.1 fails for a lost channel (S/N × √(63/64):
                // −0.19 of S/N 24; the masked-channel check above catches it directly too) and
                // for a lost band (no candidate at all).
                assert!((found.0 - c.0).abs() < 0.1, "{name}: sigma {} vs clean {}", found.0, c.0);
                assert!((found.1 - c.1).abs() < 0.1, "{name}: snr {} vs clean {}", found.1, c.1);
            }
        }
    }
}

/// The fold is missing-data safe too: a NaN sample dropped its channel (NaN variance) and an
/// all-+∞ spectrum every channel ("every channel has zero variance"). Now every channel is folded
/// and the S/N stays within 0.1 of the clean file's (measured: −0.004 for the NaN, +0.023 for the
/// +∞ spectrum, of 24.04; a dropped channel costs 0.19).
#[test]
fn fold_masks_nonfinite_samples() {
    let dir = tempfile::tempdir().unwrap();
    let src = small_obs(dir.path(), "src.fil", 8.0, 25.0);
    let mut snrs = Vec::new();
    for name in ["clean", "nan", "pinf"] {
        let fil = dir.path().join(format!("{name}.fil"));
        let poke = |t: u64, row: &mut [f32]| match name {
            "nan" if t == 3001 => row[10] = f32::NAN,
            "pinf" if t == 2000 => row.fill(f32::INFINITY),
            _ => {}
        };
        to_float(&src, &fil, &poke);
        let mut obs: Box<dyn Observation> = tianyan::open_observation(std::slice::from_ref(&fil)).unwrap();
        let cfg = tianyan::fold::FoldConfig::default();
        let cube = tianyan::fold::fold(obs.as_mut(), 0.25, 0.0, 20.0, &cfg).unwrap();
        assert_eq!(cube.nchans_used, 64, "{name}: every channel is folded");
        let nbins = cube.data.shape()[2];
        let profile: Vec<f64> = (0..nbins).map(|j| cube.data.slice(ndarray::s![.., .., j]).sum()).collect();
        let counts: Vec<f64> = (0..nbins).map(|j| cube.counts.slice(ndarray::s![.., .., j]).sum()).collect();
        assert!(profile.iter().all(|v| v.is_finite()), "{name}");
        snrs.push(tianyan::fold::stats::profile_snr(&profile, &counts, cube.var_sample).snr);
    }
    eprintln!("fold S/N clean, nan, pinf: {snrs:?}");
    for (name, snr) in ["nan", "pinf"].iter().zip(&snrs[1..]) {
        assert!((snr - snrs[0]).abs() < 0.1, "{name}: fold S/N {snr} vs clean {}", snrs[0]);
    }
}

/// `channel_stats` (the plain normaliser's statistics) leaves each NaN/±∞ sample out of its own
/// channel only: its mean and standard deviation equal those of the channel's finite samples
/// computed directly (naive twin, to 1e-12 relative), the other channels are untouched, and the
/// count is exact. Before, one NaN made its channel's statistics NaN (the channel was zapped) and
/// an all-+∞ spectrum every channel's.
#[test]
fn channel_stats_leave_out_nonfinite_samples() {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    let (n, nchans) = (3000usize, 8usize);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let normal = Normal::new(96.0f32, 16.0).unwrap();
    let mut data = ndarray::Array2::from_shape_fn((n, nchans), |_| normal.sample(&mut rng));
    data[[10, 3]] = f32::NAN;
    data[[20, 3]] = f32::NEG_INFINITY;
    data.row_mut(1000).fill(f32::INFINITY);
    let header = Header { nchans, nbits: 32, tsamp_s: 1e-3, fch1_mhz: 1500.0, foff_mhz: -1.0, ..Header::default() };
    let mut obs = tianyan::io::memory::MemoryObservation::new(header, data.clone());
    let st = tianyan::rfi::normalise::channel_stats(&mut obs, 512).unwrap();
    assert_eq!(st.n_nonfinite, 2 + nchans as u64);
    for c in 0..nchans {
        let v: Vec<f64> = data.column(c).iter().filter(|x| x.is_finite()).map(|&x| x as f64).collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!((st.mean[c] - m).abs() < 1e-12 * m, "channel {c}: mean {} vs {m}", st.mean[c]);
        assert!((st.std[c] - sd).abs() < 1e-12 * sd, "channel {c}: std {} vs {sd}", st.std[c]);
    }
    assert!(tianyan::rfi::normalise::zap_mask(&st, None).iter().all(|z| !z), "no channel is zapped");
}

// ------------------------------------------------------------------ 8. honest simulations

/// Issue 11: `simulate --pulsar "period=0.5,dm=1e7,snr=10"` wrote a 100 %-saturated file with
/// exit 0 and a truth file claiming S/N 10. Now it is an error naming the pulsar and the option
/// (before any data are made, and no file is left); with `--allow-saturation` the file is written
/// and its truth records the clamped fraction and the S/N the saturated data really carry.
#[test]
fn saturating_simulation_needs_allow_saturation() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sat.fil");
    let base = [
        "simulate",
        "-o",
        s(&out),
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "64",
        "--duration",
        "2",
        "--pulsar",
        "period=0.5,dm=1e7,snr=10",
    ];
    let o = common::tianyan(&base);
    let e = failed_cleanly(&o, "saturated simulate");
    assert!(e.contains("period=0.5") && e.contains("--allow-saturation") && e.contains("saturates"), "{e}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "no file is left behind");

    let mut args = base.to_vec();
    args.push("--allow-saturation");
    let o = common::tianyan(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let truth = tianyan::io::truth::read_truth(&tianyan::io::truth::truth_path(&out)).unwrap();
    let q = &truth.quantisation;
    let p = &truth.pulsars[0];
    assert!(q.saturation_allowed);
    assert_eq!(q.clipped_fraction, q.clipped as f64 / q.total_values as f64);
    // The smeared pulse lifts every sample far above 255 counts: nearly every value clamps, and
    // the prediction made before writing agrees with the count made while writing.
    assert!(q.clipped_fraction > 0.9, "clipped fraction {}", q.clipped_fraction);
    assert!((p.saturated_fraction - (q.clipped_fraction - q.noise_clipped_fraction)).abs() < 0.01, "{p:?} {q:?}");
    assert!((p.expected_snr_unquantised - 10.0).abs() < 1e-9, "{p:?}");
    // Saturated samples carry no pulse: the expected S/N is far below the requested 10.
    assert!(p.expected_snr < 1.0, "expected S/N {} of a saturated pulsar", p.expected_snr);
}

/// The efficiency `η = Σ_k φ(t_k) / sd(q)` of the simulator's quantiser, computed here from the
/// quantisation table of `tianyan::sim::noise` (offset, scale, 2^nbits levels) with a numerical
/// Gaussian integral, independent of the library's erfc-based code.
fn efficiency_by_quadrature(offset: f64, scale: f64, nbits: u32) -> f64 {
    let hi = (1u64 << nbits) - 1;
    let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    // Moments of q(x) = clamp(round(offset + scale·x), 0, hi) by the midpoint rule on ±12σ.
    let (n, lo, width) = (2_400_000usize, -12.0, 24.0);
    let dx = width / n as f64;
    let (mut m1, mut m2) = (0.0, 0.0);
    for i in 0..n {
        let x = lo + (i as f64 + 0.5) * dx;
        let q = (offset + scale * x + 0.5).floor().clamp(0.0, hi as f64);
        m1 += q * pdf(x) * dx;
        m2 += q * q * pdf(x) * dx;
    }
    let slope: f64 = (1..=hi).map(|k| pdf((k as f64 - 0.5 - offset) / scale)).sum();
    slope / (m2 - m1 * m1).sqrt()
}

/// An ordinary simulation's expected S/N is its unquantised value times the quantisation
/// efficiency of its nbits (a weak signal passes linearly), and nothing saturates: 8 bits lose
/// 0.016 %, 4 bits 0.58 %, 2 bits 6.1 %, 1 bit 20 % (√(2/π)); 32-bit floats lose nothing.
#[test]
fn ordinary_expected_snr_includes_the_quantisation_loss() {
    let table = [(1u32, 0.5, 1.0), (2, 1.5, 1.0), (4, 7.5, 3.0), (8, 96.0, 16.0)];
    for (nbits, offset, scale) in table {
        let cfg = SimConfig {
            preset: "fast-l-band-lite".into(),
            duration_s: 30.0,
            nchans: Some(64),
            tsamp_s: Some(1e-3),
            nbits: Some(nbits),
            pulsars: vec![PulsarSpec::parse("period=0.25,dm=20,snr=20").unwrap()],
            ..SimConfig::default()
        };
        let obs = tianyan::sim::SimulatedObservation::new(&cfg).unwrap();
        let t = obs.truth("x.fil", OutputFormat::Filterbank, 0);
        let p = &t.pulsars[0];
        let eta = efficiency_by_quadrature(offset, scale, nbits);
        assert!(
            (t.quantisation.efficiency - eta).abs() < 1e-6,
            "nbits {nbits}: η {} vs {eta}",
            t.quantisation.efficiency
        );
        // A weak signal passes as η·s up to a cubic term (1 bit: R(s) = 2Φ(s) − 1 ≈ η·s·(1 − s²/6)),
        // which shrinks as 1/duration for a fixed S/N. Measured on these 30 s, 64-channel files:
        // ratio/η − 1 = −7.3e-4 (1 bit), −3.3e-4 (2), −6.4e-5 (4), 2e-10 (8); on 4 s files the
        // 1-bit value is −5.5e-3, 7.5 times larger, as the cubic term predicts. 1e-3 allows the
        // 1-bit term and fails for a truth without quantisation at 1, 2 and 4 bits (1 − η ≥ 5.8e-3);
        // at 8 bits `ratio < 1` and the exact `efficiency` check above catch it.
        let ratio = p.expected_snr / p.expected_snr_unquantised;
        eprintln!("nbits {nbits}: expected S/N {} = {ratio} of unquantised, η {eta}", p.expected_snr);
        assert!((ratio / eta - 1.0).abs() < 1e-3, "nbits {nbits}: ratio {ratio} vs η {eta}");
        assert!(ratio < 1.0, "nbits {nbits}: quantisation loses S/N");
        assert!((p.expected_snr_unquantised - 20.0).abs() < 1e-9);
        assert!(p.saturated_fraction < 1e-3, "nbits {nbits}: {}", p.saturated_fraction);
    }
    // With a bandpass every channel has its own gain b and efficiency η_b (the full per-sample
    // response path): the truth's ratio is a signal-weighted mean of the channels' η, so it lies
    // between their extremes (1e-3 slack for the 2-bit cubic term, as above).
    for nbits in [2u32, 8] {
        let cfg = SimConfig {
            preset: "fast-l-band-lite".into(),
            duration_s: 30.0,
            nchans: Some(64),
            tsamp_s: Some(1e-3),
            nbits: Some(nbits),
            bandpass: true,
            pulsars: vec![PulsarSpec::parse("period=0.25,dm=20,snr=20").unwrap()],
            ..SimConfig::default()
        };
        let obs = tianyan::sim::SimulatedObservation::new(&cfg).unwrap();
        let h = obs.header().clone();
        let freqs: Vec<f64> = (0..h.nchans).map(|c| h.fch1_mhz + c as f64 * h.foff_mhz).collect();
        let q = tianyan::sim::Quantiser::for_nbits(nbits).unwrap();
        let etas: Vec<f64> = tianyan::sim::noise::bandpass_gains(&freqs, 1000.0, 1500.0)
            .iter()
            .map(|&g| q.response(g as f64).efficiency())
            .collect();
        let (lo, hi) = etas.iter().fold((f64::MAX, 0.0f64), |(a, b), &e| (a.min(e), b.max(e)));
        let p = &obs.truth("x.fil", OutputFormat::Filterbank, 0).pulsars[0];
        let ratio = p.expected_snr / p.expected_snr_unquantised;
        eprintln!("bandpass nbits {nbits}: ratio {ratio}, channel η {lo} .. {hi}");
        assert!(lo < hi, "the bandpass changes η across the band");
        assert!(ratio > lo * (1.0 - 1e-3) && ratio < hi, "nbits {nbits}: ratio {ratio} outside η {lo} .. {hi}");
    }
    let cfg = SimConfig {
        preset: "fast-l-band-lite".into(),
        duration_s: 4.0,
        nchans: Some(64),
        nbits: Some(32),
        pulsars: vec![PulsarSpec::parse("period=0.25,dm=20,snr=20").unwrap()],
        ..SimConfig::default()
    };
    let t = tianyan::sim::SimulatedObservation::new(&cfg).unwrap().truth("x.fil", OutputFormat::Filterbank, 0);
    assert_eq!(t.pulsars[0].expected_snr, t.pulsars[0].expected_snr_unquantised);
    assert_eq!((t.quantisation.efficiency, t.quantisation.noise_clipped_fraction), (1.0, 0.0));
}
