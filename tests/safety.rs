//! Data safety (issue 11): no command writes over an input, outputs appear all together or not at
//! all, options and headers are checked before any work, non-regular inputs are refused, sub-byte
//! sample counts are right, `fold --candidates` refuses another observation's candidates and adds
//! folds beside the old ones, `convert` keeps the telescope, and HDF5 files stay lockable while a
//! child process runs.
//!
//! Each test reproduces one failure reported in the issue; the comment above it says which.
mod common;

use std::path::{Path, PathBuf};
use tianyan::io::candidates::{read_candidates, write_candidate_file, CandidateFile, RunInfo};
use tianyan::io::sigproc::{read_header, SigprocReader, SigprocWriter};
use tianyan::search::Candidate;
use tianyan::sim::{simulate_to_file, OutputFormat, PulsarSpec, SimConfig};
use tianyan::{Header, Observation};

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// A small simulated filterbank: 64 channels over FAST's 1000–1500 MHz, 1 ms samples, a bright
/// 0.25 s pulsar at DM 20.
fn small_obs(dir: &Path, name: &str, duration_s: f64, seed: u64) -> PathBuf {
    let cfg = SimConfig {
        preset: "fast-l-band-lite".into(),
        duration_s,
        nchans: Some(64),
        tsamp_s: Some(1e-3),
        seed,
        pulsars: vec![PulsarSpec::parse("period=0.25,dm=20,snr=40").unwrap()],
        ..SimConfig::default()
    };
    let path = dir.join(name);
    simulate_to_file(&cfg, &path, OutputFormat::Filterbank).unwrap();
    path
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Names in `dir` (sorted), hidden ones included: a leftover temporary shows up here.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

// ------------------------------------------------------------------ 1. never over an input

/// `search X -o X` and `fold X -o X` overwrote the observation and exited 0. Now they refuse,
/// naming the path, for the same path and for the same file through a symbolic or hard link,
/// and the input is byte-for-byte unchanged.
#[test]
fn commands_refuse_to_write_over_their_input() {
    let dir = tempfile::tempdir().unwrap();
    let fil = small_obs(dir.path(), "obs.fil", 2.0, 1);
    let before = std::fs::read(&fil).unwrap();
    let sym = dir.path().join("sym.h5");
    std::os::unix::fs::symlink(&fil, &sym).unwrap();
    let hard = dir.path().join("hard.h5");
    std::fs::hard_link(&fil, &hard).unwrap();
    let f = s(&fil);
    for out in [fil.as_path(), sym.as_path(), hard.as_path()] {
        let o = out.to_str().unwrap();
        let runs: Vec<Vec<&str>> = vec![
            vec!["search", f, "-o", o, "--dm-max", "50"],
            vec!["fold", f, "--period", "0.25", "--dm", "20", "-o", o],
            vec!["fold", f, "--candidates", o],
            vec!["convert", f, "-o", o, "--format", "filterbank"],
        ];
        for args in runs {
            let r = common::tianyan(&args);
            let e = stderr(&r);
            assert!(!r.status.success(), "{args:?} must fail");
            assert!(e.contains(o) && e.contains("input"), "{args:?}: {e}");
            assert!(!e.contains("panicked"), "{e}");
        }
    }
    assert_eq!(std::fs::read(&fil).unwrap(), before, "the observation is untouched");
    // dedisperse: a series path that is a link to the input is refused too.
    let out = dir.path().join("series");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&fil, out.join("obs_DM10.00.tim")).unwrap();
    let r = common::tianyan(&["dedisperse", f, "--dm-list", s(&dm_list(dir.path(), &[0.0, 10.0])), "-o", s(&out)]);
    assert!(!r.status.success() && stderr(&r).contains("obs_DM10.00.tim"), "{}", stderr(&r));
    assert_eq!(std::fs::read(&fil).unwrap(), before);
}

fn dm_list(dir: &Path, dms: &[f64]) -> PathBuf {
    let p = dir.join("dms.txt");
    std::fs::write(&p, dms.iter().map(|d| format!("{d}\n")).collect::<String>()).unwrap();
    p
}

/// A full disk left a data file without its truth file (`simulate`) and 20 of 130 series
/// (`dedisperse`). A destination that cannot take its file (here a non-empty folder in its
/// place, which no rename can replace) now fails the whole command and leaves no file at all.
#[test]
fn failed_commands_leave_no_partial_output_set() {
    let dir = tempfile::tempdir().unwrap();
    let fil = small_obs(dir.path(), "obs.fil", 2.0, 2);

    // simulate: the truth file cannot be written → no data file either.
    let sim = dir.path().join("sim.fil");
    let blocker = dir.path().join("sim.fil.truth.json");
    std::fs::create_dir_all(blocker.join("keep")).unwrap();
    let r = common::tianyan(&["simulate", "-o", s(&sim), "--preset", "fast-l-band-lite", "--duration", "1"]);
    assert!(!r.status.success());
    assert!(stderr(&r).contains("sim.fil.truth.json"), "{}", stderr(&r));
    assert!(!sim.exists(), "no data file without its truth file");

    // dedisperse: one series cannot be placed → none of the three is left.
    let out = dir.path().join("series");
    std::fs::create_dir_all(out.join("obs_DM10.00.tim/keep")).unwrap();
    let list = dm_list(dir.path(), &[0.0, 10.0, 20.0]);
    let r = common::tianyan(&["dedisperse", s(&fil), "--dm-list", s(&list), "-o", s(&out)]);
    assert!(!r.status.success());
    assert_eq!(names(&out), vec!["obs_DM10.00.tim"], "only the blocking folder remains: {}", stderr(&r));

    // search --fold-top: a plot cannot be placed → no candidate file either.
    let h5 = dir.path().join("c.h5");
    std::fs::create_dir_all(dir.path().join("c_plots/fold_0.png/keep")).unwrap();
    let r = common::tianyan(&["search", s(&fil), "-o", s(&h5), "--dm-max", "40", "--fold-top", "1"]);
    assert!(!r.status.success(), "{}", stderr(&r));
    assert!(!h5.exists(), "no candidate file without its plots: {}", stderr(&r));
    assert_eq!(names(&dir.path().join("c_plots")), vec!["fold_0.png"]);

    // plot: the overview and the fold pages appear together.
    let r = common::tianyan(&["search", s(&fil), "-o", s(&h5), "--dm-max", "40", "--top", "0"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let r = common::tianyan(&["fold", s(&fil), "--candidates", s(&h5), "--top", "1"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let plots = dir.path().join("plots");
    std::fs::create_dir_all(plots.join("fold_0.png/keep")).unwrap();
    let r = common::tianyan(&["plot", s(&h5), "-o", s(&plots)]);
    assert!(!r.status.success());
    assert_eq!(names(&plots), vec!["fold_0.png"], "no candidates.png without the fold page");
    // Nothing hidden is left anywhere.
    assert!(names(dir.path()).iter().all(|n| !n.starts_with('.')), "{:?}", names(dir.path()));
}

// ------------------------------------------------------------------ 2. check before working

/// `-o nodir/c.h5` failed only after the whole search and named the hidden temporary; bad
/// option values were accepted. Now each is refused before the observation is read (the
/// "searching ..." line is printed once the data are opened), naming the user's path or option.
#[test]
fn output_folder_and_options_are_checked_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let fil = small_obs(dir.path(), "obs.fil", 2.0, 3);
    let f = s(&fil);
    let nodir = dir.path().join("nodir/c.h5");
    let r = common::tianyan(&["search", f, "-o", s(&nodir), "--dm-max", "40"]);
    let e = stderr(&r);
    assert!(!r.status.success());
    assert!(e.contains("nodir") && e.contains("does not exist"), "{e}");
    assert!(!e.contains(".tianyan-") && !e.contains("c.h5.tmp"), "names no temporary: {e}");
    assert!(!e.contains("searching"), "refused before reading the data: {e}");

    // An output folder that cannot be written (sysfs takes no new files, even from root).
    let r = common::tianyan(&["search", f, "-o", "/sys/c.h5", "--dm-max", "40"]);
    let e = stderr(&r);
    assert!(!r.status.success() && e.contains("/sys") && !e.contains("searching"), "{e}");

    let c = s(&dir.path().join("c.h5")).to_string();
    for (extra, flag) in [
        (vec!["--fmin", "10", "--fmax", "5"], "--fmax"),
        (vec!["--max-memory-mb", "0"], "--max-memory-mb"),
        (vec!["--sp-snr", "0"], "--sp-snr"),
        (vec!["--sigma=-1"], "--sigma"),
        (vec!["--dm-min", "50", "--dm-max", "10"], "--dm-max"),
        (vec!["--max-width", "0"], "--max-width"),
    ] {
        let mut args = vec!["search", f, "-o", c.as_str()];
        args.extend(extra.iter().copied());
        let r = common::tianyan(&args);
        let e = stderr(&r);
        assert!(!r.status.success(), "{extra:?} accepted");
        assert!(e.contains(flag) && !e.contains("searching"), "{extra:?}: {e}");
    }
    // A DM range the data cannot hold (every sweep longer than the 2 s of data).
    let r = common::tianyan(&["search", f, "-o", c.as_str(), "--dm-min", "5000", "--dm-max", "6000"]);
    let e = stderr(&r);
    assert!(!r.status.success() && e.contains("obs.fil") && e.contains("longer than the data"), "{e}");
    assert!(!dir.path().join("c.h5").exists());
}

/// `mkfifo p.fil; tianyan header p.fil` hung. Now a FIFO (or a folder) is refused at once, by
/// every command that reads an observation. The child is killed after 60 s only so that a
/// regression fails instead of hanging the suite (the answer is immediate).
#[test]
fn fifo_and_other_non_regular_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("p.fil");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let folder = dir.path().join("d.fil");
    std::fs::create_dir(&folder).unwrap();
    for (input, what) in [(&fifo, "FIFO"), (&folder, "folder")] {
        for cmd in [vec!["header", s(input)], vec!["search", s(input), "-o", s(&dir.path().join("c.h5"))]] {
            let mut child = common::command(env!("CARGO_BIN_EXE_tianyan"))
                .args(&cmd)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut waited = 0;
            while child.try_wait().unwrap().is_none() {
                if waited > 600 {
                    child.kill().unwrap();
                    panic!("{cmd:?} hangs on a {what}");
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
                waited += 1;
            }
            let out = child.wait_with_output().unwrap();
            let e = stderr(&out);
            assert!(!out.status.success());
            assert!(e.contains(s(input)) && e.contains(what), "{cmd:?}: {e}");
        }
    }
    let e = read_header(&fifo).unwrap_err().to_string();
    assert!(e.contains("FIFO"), "{e}");
}

/// A minimal little-endian SIGPROC header with the given values, then `data` bytes.
fn sigproc_bytes(fch1: f64, foff: f64, nchans: i32, nbits: i32, tsamp: f64, data: usize) -> Vec<u8> {
    let mut b = Vec::new();
    let st = |b: &mut Vec<u8>, s: &str| {
        b.extend_from_slice(&(s.len() as i32).to_le_bytes());
        b.extend_from_slice(s.as_bytes());
    };
    st(&mut b, "HEADER_START");
    for (k, v) in [("fch1", fch1), ("foff", foff), ("tsamp", tsamp), ("tstart", 60000.0)] {
        st(&mut b, k);
        b.extend_from_slice(&v.to_le_bytes());
    }
    for (k, v) in [("nchans", nchans), ("nbits", nbits), ("nifs", 1), ("data_type", 1)] {
        st(&mut b, k);
        b.extend_from_slice(&v.to_le_bytes());
    }
    st(&mut b, "HEADER_END");
    b.extend(std::iter::repeat_n(7u8, data));
    b
}

/// Sixteen impossible header values were accepted by `header` and failed later with errors that
/// did not name the file. Each is now refused when the header is read, naming the file.
#[test]
fn impossible_header_values_are_refused_at_header_read() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.fil");
    std::fs::write(&good, sigproc_bytes(1500.0, -1.0, 4, 8, 1e-3, 400)).unwrap();
    assert_eq!(read_header(&good).unwrap().0.nsamples, 100, "the valid twin reads");
    let cases: [(&str, Vec<u8>); 10] = [
        ("fch1 0", sigproc_bytes(0.0, -1.0, 4, 8, 1e-3, 400)),
        ("fch1 negative", sigproc_bytes(-1400.0, -1.0, 4, 8, 1e-3, 400)),
        ("foff NaN", sigproc_bytes(1500.0, f64::NAN, 4, 8, 1e-3, 400)),
        ("foff 0", sigproc_bytes(1500.0, 0.0, 4, 8, 1e-3, 400)),
        ("band crossing 0 MHz", sigproc_bytes(100.0, -40.0, 4, 8, 1e-3, 400)),
        ("tsamp 1e-300", sigproc_bytes(1500.0, -1.0, 4, 8, 1e-300, 400)),
        ("tsamp 0", sigproc_bytes(1500.0, -1.0, 4, 8, 0.0, 400)),
        ("tsamp negative", sigproc_bytes(1500.0, -1.0, 4, 8, -1e-3, 400)),
        ("nchans 0", sigproc_bytes(1500.0, -1.0, 0, 8, 1e-3, 400)),
        ("nbits 3", sigproc_bytes(1500.0, -1.0, 4, 3, 1e-3, 400)),
    ];
    for (what, bytes) in cases {
        let p = dir.path().join(format!("{}.fil", what.replace(' ', "_")));
        std::fs::write(&p, bytes).unwrap();
        let e = read_header(&p).expect_err(what).to_string();
        assert!(e.contains(s(&p)), "{what}: error names the file: {e}");
        let r = common::tianyan(&["header", s(&p)]);
        assert!(!r.status.success() && stderr(&r).contains(s(&p)), "{what}: {}", stderr(&r));
    }
    // PSRFITS: channel frequencies below 0 MHz are refused by the reader, naming the file.
    let fits = dir.path().join("neg.fits");
    let h = Header { fch1_mhz: -100.0, foff_mhz: -1.0, nchans: 4, tsamp_s: 1e-3, nbits: 8, ..Header::default() };
    let mut w = tianyan::io::psrfits::PsrfitsWriter::create(&fits, &h).unwrap();
    w.write_block(ndarray::Array2::<f32>::zeros((8, 4)).view()).unwrap();
    w.finish().unwrap();
    let e = tianyan::open_observation(std::slice::from_ref(&fits)).err().expect("refused").to_string();
    assert!(e.contains("neg.fits") && e.contains("impossible header value"), "{e}");
}

// ------------------------------------------------------------------ 5. sub-byte sample counts

/// `simulate --nchans 3 --nbits 2` wrote 127 spectra but `header` reported 128 (the zero padding
/// of the last byte read as one more spectrum). Now the count is exact.
#[test]
fn three_channel_two_bit_file_reads_back_its_own_count() {
    let dir = tempfile::tempdir().unwrap();
    let fil = dir.path().join("sub.fil");
    let r = common::tianyan(&[
        "simulate",
        "-o",
        s(&fil),
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "3",
        "--nbits",
        "2",
        "--tsamp",
        "0.001",
        "--duration",
        "0.127",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(String::from_utf8_lossy(&r.stdout).contains("127 samples"), "{}", String::from_utf8_lossy(&r.stdout));
    let r = common::tianyan(&["header", "--json", s(&fil)]);
    let h: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(h["nsamples"], 127);
}

/// Round trip through the writer and the reader for every spectrum length `nchans · nbits` below
/// and around a byte, and sample counts that leave 0 to 7 padding bits: the count and every
/// value come back exactly.
#[test]
fn sub_byte_round_trip_for_every_spectrum_length() {
    let dir = tempfile::tempdir().unwrap();
    for nbits in [1u32, 2, 4] {
        for nchans in 1..=9usize {
            for nsamples in [1usize, 2, 3, 5, 7, 8, 127] {
                let h = Header { fch1_mhz: 1500.0, foff_mhz: -1.0, nchans, nbits, tsamp_s: 1e-3, ..Header::default() };
                let max = (1u32 << nbits) as usize;
                let data = ndarray::Array2::from_shape_fn((nsamples, nchans), |(t, c)| ((t * 7 + c * 3) % max) as f32);
                let p = dir.path().join(format!("b{nbits}_c{nchans}_n{nsamples}.fil"));
                let mut w = SigprocWriter::create(&p, &h).unwrap();
                w.write_block(data.view()).unwrap();
                assert_eq!(w.finish().unwrap(), nsamples as u64);
                let mut r = SigprocReader::open(&p).unwrap();
                assert_eq!(r.header().nsamples, nsamples as u64, "nbits {nbits}, nchans {nchans}");
                assert_eq!(r.read_block(0, nsamples).unwrap(), data, "nbits {nbits}, nchans {nchans}, n {nsamples}");
            }
        }
    }
}

// ------------------------------------------------------------------ 6. HDF5 lock and children

/// `candidates_h5::empty_tables_are_valid` failed with "unable to lock file, errno = 11" when a
/// test spawned a child (h5py) while it wrote: libhdf5 opens files without close-on-exec, the
/// child inherited the descriptor and held the file's lock after the writer closed it. A child
/// spawned with `common::command` inherits no descriptor, so the reopen works while it runs.
#[test]
fn hdf5_file_can_be_reopened_while_a_child_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.h5");
    write_candidate_file(&path, &CandidateFile { header: header_like(), ..CandidateFile::default() }).unwrap();
    // Open (and lock) the file, start a child while it is open, close it, open it again: with a
    // child that inherited the descriptor the second open fails with errno 11.
    let f = hdf5::File::open_rw(&path).unwrap();
    let mut child = common::command("sleep").arg("30").spawn().unwrap();
    drop(f);
    let res = read_candidates(&path);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(res.unwrap().is_empty());
}

fn header_like() -> Header {
    Header { fch1_mhz: 1500.0, foff_mhz: -1.0, nchans: 64, tsamp_s: 1e-3, nsamples: 2000, ..Header::default() }
}

// ------------------------------------------------------------------ 7. fold --candidates, convert

fn cand(p: f64, dm: f64) -> Candidate {
    Candidate {
        period_s: p,
        frequency_hz: 1.0 / p,
        dm,
        accel: 0.0,
        z: 0.0,
        snr: 20.0,
        sigma: 20.0,
        power: 0.0,
        nharm: 1,
        fft_bin: 0.0,
        n_dm_hits: 1,
        harmonic_of: -1,
        harmonic_num: 0,
        harmonic_den: 0,
        fund_harmonic: 1,
        dm_flag: 0,
        search: tianyan::search::SearchKind::Fft,
        width_s: 0.0,
    }
}

/// A candidate file for `obs` as the search records it (input name, size, header).
fn cands_for(obs: &Path, h5: &Path) {
    let header = tianyan::open_observation(&[obs.to_path_buf()]).unwrap().header().clone();
    let cf = CandidateFile {
        run: RunInfo {
            command: "test".into(),
            input_file: obs.display().to_string(),
            input_size_bytes: std::fs::metadata(obs).unwrap().len(),
        },
        header,
        candidates: vec![cand(0.25, 20.0)],
        ..CandidateFile::default()
    };
    write_candidate_file(h5, &cf).unwrap();
}

/// `fold FILE --candidates other.h5` folded another observation's candidates without a word,
/// replaced the existing `/folds` and labelled the plot with the other file's name. Now a file
/// whose recorded input differs (name, size or header values) is refused and left unchanged, and
/// a second fold of the right observation is added beside the first, each recording its row.
#[test]
fn fold_candidates_must_match_and_folds_are_added() {
    let dir = tempfile::tempdir().unwrap();
    let a = small_obs(dir.path(), "a.fil", 2.0, 4);
    let b = small_obs(dir.path(), "b.fil", 3.0, 5);
    let twin = dir.path().join("a_copy.fil");
    std::fs::copy(&a, &twin).unwrap();
    let h5 = dir.path().join("a.h5");
    cands_for(&a, &h5);
    let before = std::fs::read(&h5).unwrap();
    for (other, differs) in [(&b, "nsamples"), (&twin, "input file")] {
        let r = common::tianyan(&["fold", s(other), "--candidates", s(&h5), "--top", "1"]);
        let e = stderr(&r);
        assert!(!r.status.success(), "{other:?} accepted");
        assert!(e.contains("a.h5") && e.contains("another observation") && e.contains(differs), "{e}");
        assert_eq!(std::fs::read(&h5).unwrap(), before, "the candidate file is unchanged");
    }
    let plots = dir.path().join("plots");
    for _ in 0..2 {
        let r = common::tianyan(&["fold", s(&a), "--candidates", s(&h5), "--top", "1", "--plot-dir", s(&plots)]);
        assert!(r.status.success(), "{}", stderr(&r));
    }
    let folds = tianyan::fold::read_folds(&h5).unwrap();
    let ids: Vec<(usize, Option<usize>)> = folds.iter().map(|f| (f.id, f.candidate_row)).collect();
    assert_eq!(ids, vec![(0, Some(0)), (1, Some(0))], "the second fold is added beside the first");
    // Each page has PRESTO's .bestprof of the same fold beside it (issue 16).
    assert_eq!(names(&plots), vec!["fold_0.bestprof", "fold_0.png", "fold_1.bestprof", "fold_1.png"]);
    // Within a third of a Fourier bin (P²/T = 0.031 s for T = 2 s) of the injected 0.25 s.
    assert!(folds.iter().all(|f| (f.result.period_s - 0.25).abs() < 0.01), "both fold the 0.25 s pulsar");
}

/// `convert` relabelled an ASKAP file as FAST: the PSRFITS writer always wrote TELESCOP = FAST.
/// Now the telescope id survives SIGPROC → PSRFITS → SIGPROC (7, which the ASKAP file of
/// `your/28.fil` carries and SIGPROC names GMRT; 4 Parkes), and FAST files stay FAST.
#[test]
fn convert_keeps_the_telescope() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for id in [7, 4, 21] {
        let p = dir.path().join(format!("t{id}.fil"));
        let h = Header { telescope_id: id, ..header_like() };
        let mut w = SigprocWriter::create(&p, &h).unwrap();
        w.write_block(ndarray::Array2::<f32>::from_elem((64, 64), 5.0).view()).unwrap();
        w.finish().unwrap();
        inputs.push((p, id));
    }
    if let Some(real) = common::shared_data("your/28.fil") {
        inputs.push((real, 7));
    }
    for (fil, id) in inputs {
        let stem = fil.file_stem().unwrap().to_string_lossy().into_owned();
        let fits = dir.path().join(format!("{stem}_conv.fits"));
        let back = dir.path().join(format!("{stem}_back.fil"));
        let r = common::tianyan(&["convert", s(&fil), "-o", s(&fits)]);
        assert!(r.status.success(), "{}", stderr(&r));
        let h = tianyan::open_observation(std::slice::from_ref(&fits)).unwrap().header().clone();
        assert_eq!(h.telescope_id, id, "{fil:?} → PSRFITS");
        let r = common::tianyan(&["convert", s(&fits), "-o", s(&back)]);
        assert!(r.status.success(), "{}", stderr(&r));
        assert_eq!(read_header(&back).unwrap().0.telescope_id, id, "{fil:?} → PSRFITS → SIGPROC");
    }
}

/// What a new user hit: `simulate --duration -1` was "unexpected argument '-1'" (no option
/// named); now negative numbers reach the option's own check, whose message names the option
/// and the allowed range (also for other numeric options of `simulate`), and nothing is written.
/// `dedisperse -o X.fil` with an existing file named the file twice ("X.fil: X.fil is not a
/// folder"); now one sentence names it once and says a folder is needed.
#[test]
fn cli_errors_name_the_option_and_the_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.fil");
    for (opt, val, range) in [
        ("--duration", "-1", "> 0"),
        ("--tsamp", "-0.001", "> 0"),
        ("--nchans", "-3", "≥ 1"),
        ("--seed", "-3", "from 0"),
        ("--nbits", "3", "one of 1, 2, 4, 8, 16, 32"),
    ] {
        // A small file if the value were accepted; the option under test replaces its default here.
        let mut args = vec!["simulate", "-o", s(&out)];
        for (o, v) in [("--duration", "1"), ("--tsamp", "0.001"), ("--nchans", "16")] {
            if o != opt {
                args.extend([o, v]);
            }
        }
        args.extend([opt, val]);
        let r = common::tianyan(&args);
        let e = stderr(&r);
        assert!(!r.status.success(), "{opt} {val} accepted");
        assert!(e.contains(opt) && e.contains(range) && e.contains(val), "{opt} {val}: {e}");
        assert!(!e.contains("unexpected argument"), "{opt} {val}: {e}");
    }
    assert_eq!(names(dir.path()), Vec::<String>::new(), "nothing written");
    // Negative values of other commands' options are now values too, checked by the command.
    let fil = small_obs(dir.path(), "obs.fil", 2.0, 3);
    let r = common::tianyan(&["fold", s(&fil), "--period", "0.25", "--dm", "-5"]);
    let e = stderr(&r);
    assert!(!r.status.success() && e.contains("--dm") && !e.contains("unexpected argument"), "{e}");

    let wrong = dir.path().join("X.fil");
    std::fs::write(&wrong, b"not a folder").unwrap();
    let r = common::tianyan(&["dedisperse", s(&fil), "--dm-max", "20", "-o", s(&wrong)]);
    let e = stderr(&r);
    assert!(!r.status.success());
    assert_eq!(e.matches("X.fil").count(), 1, "names the file once: {e}");
    assert!(e.contains("folder") && e.trim().lines().count() == 1, "one clear line: {e}");
    assert_eq!(std::fs::read(&wrong).unwrap(), b"not a folder", "the file is untouched");
}

// ------------------------------------------------------------------ found by the fresh-user trial

/// A fresh user overwrote a mask with `search X --mask M -o M`, a truth file with
/// `search X -o X.truth.json`, and had a mask of another observation with the same header
/// accepted. Now: the mask is an input (refused as output), an existing non-HDF5 file is never
/// replaced by an HDF5 output, and a mask records and checks the files it was made from. Every
/// refused file is byte-for-byte unchanged.
#[test]
fn masks_and_other_kept_files_are_never_replaced_or_mixed_up() {
    let dir = tempfile::tempdir().unwrap();
    let x = small_obs(dir.path(), "x.fil", 2.0, 1);
    let y = small_obs(dir.path(), "y.fil", 2.0, 2);
    let mask = dir.path().join("mask.h5");
    let out = common::tianyan(&["rfi", s(&x), "-o", s(&mask)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mask_bytes = std::fs::read(&mask).unwrap();
    let truth = dir.path().join("x.fil.truth.json");
    let truth_bytes = std::fs::read(&truth).unwrap();

    let out = common::tianyan(&["search", s(&x), "--mask", s(&mask), "-o", s(&mask), "--dm-max", "30"]);
    assert!(!out.status.success() && stderr(&out).contains("the output is an input"), "{}", stderr(&out));
    let out = common::tianyan(&["search", s(&x), "-o", s(&truth), "--dm-max", "30"]);
    assert!(!out.status.success() && stderr(&out).contains("is not an HDF5 file"), "{}", stderr(&out));
    let out = common::tianyan(&["rfi", s(&x), "-o", s(&truth)]);
    assert!(!out.status.success() && stderr(&out).contains("is not an HDF5 file"), "{}", stderr(&out));
    // A candidate file is not replaced by a mask, nor a mask by a candidate file.
    let cands = dir.path().join("c0.h5");
    let out = common::tianyan(&["search", s(&x), "-o", s(&cands), "--dm-max", "30", "--periodic"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cands_bytes = std::fs::read(&cands).unwrap();
    let out = common::tianyan(&["rfi", s(&x), "-o", s(&cands)]);
    assert!(!out.status.success() && stderr(&out).contains("is a candidate file"), "{}", stderr(&out));
    let out = common::tianyan(&["search", s(&y), "-o", s(&mask), "--dm-max", "30"]);
    assert!(!out.status.success() && stderr(&out).contains("is an RFI mask file"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&cands).unwrap(), cands_bytes);
    assert_eq!(std::fs::read(&mask).unwrap(), mask_bytes);
    assert_eq!(std::fs::read(&truth).unwrap(), truth_bytes);

    // y.fil has x.fil's header values (same simulation set-up, another seed).
    let c = dir.path().join("c.h5");
    for args in [
        vec!["search", s(&y), "--mask", s(&mask), "-o", s(&c), "--dm-max", "30"],
        vec!["fold", s(&y), "--period", "0.25", "--dm", "20", "--mask", s(&mask)],
        vec![
            "dedisperse",
            s(&y),
            "--dm-min",
            "19",
            "--dm-max",
            "21",
            "--mask",
            s(&mask),
            "-o",
            s(&dir.path().join("series")),
        ],
    ] {
        let out = common::tianyan(&args);
        let err = stderr(&out);
        assert!(!out.status.success() && err.contains("was made from") && err.contains("x.fil"), "{args:?}: {err}");
    }
    assert!(!c.exists() && !dir.path().join("series").exists());
}

// ------------------------------------------------------------------ second fresh-user trial

fn md5ish(paths: &[&Path]) -> Vec<Option<Vec<u8>>> {
    paths.iter().map(|p| std::fs::read(p).ok()).collect()
}

fn run_fails_with(args: &[&str], words: &[&str]) {
    let r = common::tianyan(args);
    let e = stderr(&r);
    assert!(!r.status.success(), "{args:?} must fail: {e}");
    for w in words {
        assert!(e.contains(w), "{args:?}: '{w}' missing in: {e}");
    }
    // One error line (clap adds a "For more information" hint after its own).
    assert!(!e.contains("panicked") && e.lines().filter(|l| l.starts_with("error")).count() == 1, "{e}");
}

/// `fold -o P` turned an observation, a truth file, a mask and a candidate file into PNGs;
/// `convert -o y.fil` replaced another observation (its truth file then described other data);
/// `simulate -o` replaced a candidate file and a truth file. Now an existing output is replaced
/// only by its own kind (a PNG by a page, a simulation by a simulation, an observation of the
/// format by `convert` when no truth file is beside it), else one line naming the path and what
/// it is, before any work; every refused file is byte-for-byte unchanged.
#[test]
fn outputs_replace_only_files_of_their_own_kind() {
    let dir = tempfile::tempdir().unwrap();
    let x = small_obs(dir.path(), "x.fil", 2.0, 1);
    let y = small_obs(dir.path(), "y.fil", 2.0, 2);
    let y_truth = dir.path().join("y.fil.truth.json");
    let mask = dir.path().join("mask.h5");
    assert!(common::tianyan(&["rfi", s(&y), "-o", s(&mask)]).status.success());
    let cands = dir.path().join("c.h5");
    cands_for(&y, &cands);
    let png = dir.path().join("f.png");
    let kept = [y.as_path(), y_truth.as_path(), mask.as_path(), cands.as_path()];
    let before = md5ish(&kept);
    fn fold<'a>(x: &'a Path, out: &'a Path) -> Vec<&'a str> {
        vec!["fold", s(x), "--period", "0.25", "--dm", "20", "--no-search", "-o", s(out)]
    }
    for (out, what) in [
        (&y, "a SIGPROC file"),
        (&y_truth, "a tianyan truth file"),
        (&mask, "a tianyan RFI mask file"),
        (&cands, "a tianyan candidate file"),
    ] {
        run_fails_with(&fold(&x, out), &[s(out), what, "refusing"]);
        if out != &y {
            // (y.fil is a simulation with its truth file: simulate may replace it, below.)
            run_fails_with(&["simulate", "-o", s(out), "--preset", "fast-l-band-lite", "--duration", "1"], &[s(out)]);
        }
    }
    for out in [&y_truth, &mask, &cands] {
        run_fails_with(&["convert", s(&x), "-o", s(out), "--format", "filterbank"], &[s(out), "refusing"]);
    }
    // convert onto another observation whose truth file is beside it.
    run_fails_with(&["convert", s(&x), "-o", s(&y)], &[s(&y), "never replaces an existing file", "--overwrite"]);
    run_fails_with(&["convert", s(&x), "-o", s(&y), "--overwrite"], &[s(&y), "y.fil.truth.json", "other data"]);
    // simulate onto an observation without a truth file (real data) or whose truth name is taken.
    let real = dir.path().join("real.fil");
    std::fs::copy(&x, &real).unwrap();
    run_fails_with(
        &["simulate", "-o", s(&real), "--preset", "fast-l-band-lite", "--duration", "1"],
        &["real.fil", "without a truth file"],
    );
    let z = dir.path().join("z.fil");
    std::fs::copy(&cands, dir.path().join("z.fil.truth.json")).unwrap();
    run_fails_with(
        &["simulate", "-o", s(&z), "--preset", "fast-l-band-lite", "--duration", "1"],
        &["z.fil.truth.json", "a tianyan candidate file"],
    );
    assert!(!z.exists());
    assert_eq!(md5ish(&kept), before, "nothing refused was touched");
    assert_eq!(std::fs::read(&real).unwrap(), std::fs::read(&x).unwrap());
    // Their own kind is replaced: a page by a page, a simulation by a simulation, a conversion.
    for _ in 0..2 {
        let r = common::tianyan(&fold(&x, &png));
        assert!(r.status.success(), "{}", stderr(&r));
    }
    let r = common::tianyan(&[
        "simulate",
        "-o",
        s(&y),
        "--preset",
        "fast-l-band-lite",
        "--duration",
        "1",
        "--nchans",
        "16",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let conv = dir.path().join("conv.fil");
    for _ in 0..2 {
        let r = common::tianyan(&["convert", s(&x), "-o", s(&conv), "--overwrite"]);
        assert!(r.status.success(), "{}", stderr(&r));
    }
    // ... but not a PSRFITS file by a filterbank.
    let fits = dir.path().join("x.fits");
    assert!(common::tianyan(&["convert", s(&x), "-o", s(&fits)]).status.success());
    run_fails_with(
        &["convert", s(&x), "-o", s(&fits), "--format", "filterbank", "--overwrite"],
        &["x.fits", "a FITS file"],
    );
}

/// The third fresh-user trial replaced files of other kinds or other origins: `convert` replaced
/// real observations, `search -o`/`rfi -o` any HDF5 file (a FETCH cutout), `cutout` the cutout of
/// another observation, `fold -o x.bestprof` lost its page, and `simulate` trusted a stale truth
/// file beside real data. Each is refused now, naming the file, and nothing is touched.
#[test]
fn third_trial_findings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let x = small_obs(dir.path(), "x.fil", 2.0, 1);
    let y = small_obs(dir.path(), "y.fil", 2.0, 2);
    // convert never replaces an existing observation unless asked.
    let real = dir.path().join("real.fil");
    std::fs::copy(&y, &real).unwrap();
    let before = std::fs::read(&real).unwrap();
    run_fails_with(&["convert", s(&x), "-o", s(&real)], &["real.fil", "never replaces", "--overwrite"]);
    assert_eq!(std::fs::read(&real).unwrap(), before);
    // search -o / rfi -o onto an HDF5 file tianyan did not write as that kind.
    let other = dir.path().join("other.h5");
    hdf5::File::create(&other).unwrap().new_dataset::<f32>().shape(4).create("data_freq_time").unwrap();
    let other_before = std::fs::read(&other).unwrap();
    run_fails_with(
        &["search", s(&x), "-o", s(&other), "--dm-max", "30"],
        &["other.h5", "not a tianyan candidate file"],
    );
    run_fails_with(&["rfi", s(&x), "-o", s(&other)], &["other.h5", "not a tianyan RFI mask"]);
    assert_eq!(std::fs::read(&other).unwrap(), other_before);
    // fold -o x.bestprof would have put the text over the page's own name.
    run_fails_with(
        &["fold", s(&x), "--period", "0.25", "--dm", "20", "-o", s(&dir.path().join("f.bestprof"))],
        &["f.bestprof", ".png"],
    );
    assert!(!dir.path().join("f.bestprof").exists());
    // simulate beside a truth file that describes another file (a stale truth beside real data).
    let data = dir.path().join("data.fil");
    std::fs::copy(&x, &data).unwrap();
    std::fs::copy(dir.path().join("y.fil.truth.json"), dir.path().join("data.fil.truth.json")).unwrap();
    let data_before = std::fs::read(&data).unwrap();
    run_fails_with(
        &["simulate", "-o", s(&data), "--preset", "fast-l-band-lite", "--duration", "1"],
        &["data.fil", "does not describe it"],
    );
    assert_eq!(std::fs::read(&data).unwrap(), data_before);
    // cutout onto the same-named cutout of another observation.
    let h5 = dir.path().join("c.h5");
    let r = common::tianyan(&["search", s(&x), "-o", s(&h5), "--dm-max", "30", "--single-pulse", "--sp-snr", "5"]);
    assert!(r.status.success(), "{}", stderr(&r));
    // The S/N 40 pulsar's single pulses (about 14 each over 8 turns) are found.
    assert!(tianyan::io::candidates::read_single_pulses(&h5).unwrap().iter().any(|p| p.rfi_flag == 0));
    {
        let cuts = dir.path().join("cuts");
        let r = common::tianyan(&["cutout", s(&h5), "-o", s(&cuts), "--top", "1"]);
        assert!(r.status.success(), "{}", stderr(&r));
        let made: Vec<PathBuf> = std::fs::read_dir(&cuts).unwrap().map(|e| e.unwrap().path()).collect();
        // Make it look like another observation's cutout, then cut out again.
        let f = hdf5::File::open_rw(&made[0]).unwrap();
        f.attr("filelist")
            .unwrap()
            .write_scalar(&"elsewhere.fil".parse::<hdf5::types::VarLenUnicode>().unwrap())
            .unwrap();
        drop(f);
        let kept = std::fs::read(&made[0]).unwrap();
        run_fails_with(&["cutout", s(&h5), "-o", s(&cuts), "--top", "1"], &["not a cutout of", "refusing"]);
        assert_eq!(std::fs::read(&made[0]).unwrap(), kept);
    }
}

/// `plot` replaced a fold page that another candidate file's `/folds` points to, and
/// `dedisperse` replaced the `.tim` series of another observation with the same file name. Now
/// every page records the file it was drawn from (a PNG text chunk) and every series the
/// observation it was made from (`rawdatafile`); a page or series of another file is refused
/// before any work unless `--overwrite`, and re-running into the same folder works.
#[test]
fn pages_and_series_of_other_files_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&da).unwrap();
    std::fs::create_dir_all(&db).unwrap();
    let a = small_obs(&da, "obs.fil", 2.0, 1);
    let b = small_obs(&db, "obs.fil", 2.0, 2);
    let (ca, cb) = (da.join("c.h5"), db.join("c.h5"));
    for (obs, c) in [(&a, &ca), (&b, &cb)] {
        cands_for(obs, c);
        let r = common::tianyan(&["fold", s(obs), "--candidates", s(c), "--top", "1"]);
        assert!(r.status.success(), "{}", stderr(&r));
    }
    let plots = dir.path().join("plots");
    let r = common::tianyan(&["plot", s(&ca), "-o", s(&plots)]);
    assert!(r.status.success(), "{}", stderr(&r));
    let page = plots.join("fold_0.png");
    let page_a = std::fs::read(&page).unwrap();
    run_fails_with(&["plot", s(&cb), "-o", s(&plots)], &["plots/", "drawn from", "a/c.h5", "--overwrite"]);
    // a/c.h5's second fold goes to plots/fold_1.png; b/c.h5's next fold (id 1) may not take it.
    let r = common::tianyan(&["fold", s(&a), "--candidates", s(&ca), "--top", "1", "--plot-dir", s(&plots)]);
    assert!(r.status.success(), "{}", stderr(&r));
    let folds_b = std::fs::read(&cb).unwrap();
    run_fails_with(
        &["fold", s(&b), "--candidates", s(&cb), "--top", "1", "--plot-dir", s(&plots)],
        &["fold_1.png", "a/c.h5"],
    );
    assert_eq!(std::fs::read(&cb).unwrap(), folds_b, "no fold added to b/c.h5");
    // fold -o onto a page of a candidate file is refused too.
    run_fails_with(&["fold", s(&b), "--period", "0.25", "--dm", "20", "--no-search", "-o", s(&page)], &["a/c.h5"]);
    assert_eq!(std::fs::read(&page).unwrap(), page_a, "the page of a/c.h5 is unchanged");
    let r = common::tianyan(&["plot", s(&ca), "-o", s(&plots)]);
    assert!(r.status.success(), "the same file's pages are replaced: {}", stderr(&r));
    let r = common::tianyan(&["plot", s(&cb), "-o", s(&plots), "--overwrite"]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_ne!(std::fs::read(&page).unwrap(), page_a);

    let series = dir.path().join("series");
    let ded = |obs: &Path, extra: &[&str]| {
        let mut args = vec!["dedisperse", s(obs), "--dm-min", "19", "--dm-max", "21", "-o", s(&series)];
        args.extend(extra);
        common::tianyan(&args)
    };
    assert!(ded(&a, &[]).status.success());
    let tim = series.join("obs_DM19.00.tim");
    let tim_a = std::fs::read(&tim).unwrap();
    let r = ded(&b, &[]);
    let e = stderr(&r);
    assert!(!r.status.success() && e.contains("obs_DM19.00.tim") && e.contains("a/obs.fil"), "{e}");
    assert_eq!(std::fs::read(&tim).unwrap(), tim_a);
    assert!(ded(&a, &[]).status.success(), "the same observation's series are replaced");
    assert!(ded(&b, &["--overwrite"]).status.success());
    assert_ne!(std::fs::read(&tim).unwrap(), tim_a);
}

/// `fold` of a period close to or above the data length returned nonsense with exit 0 (a 0.31 s
/// file folded at 0.2531 s gave P −0.0754 s; a 10 s file at P 100 s gave Ṗ −129.7, DM 4572).
/// Now fewer than `MIN_FOLD_TURNS` turns is an error before any data are read, and the optimiser
/// cannot leave the physical range: folds of pure noise at DM 0 (where half of the DM window
/// used to be negative) report P > 0 and DM ≥ 0, also at 4.2 turns.
#[test]
fn fold_needs_turns_and_stays_physical() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.fil");
    let r = common::tianyan(&[
        "simulate",
        "-o",
        s(&short),
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "64",
        "--tsamp",
        "0.001",
        "--duration",
        "0.31",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let x = small_obs(dir.path(), "x.fil", 2.0, 1);
    for (f, p) in [(&short, "0.2531"), (&x, "100"), (&x, "0.6")] {
        let png = dir.path().join("p.png");
        run_fails_with(&["fold", s(f), "--period", p, "--dm", "10", "-o", s(&png)], &[s(f), "turns"]);
        assert!(!png.exists());
    }
    // Pure noise (no pulsar), folded at DM 0 at several periods.
    let noise = dir.path().join("noise.fil");
    let cfg = SimConfig {
        preset: "fast-l-band-lite".into(),
        duration_s: 2.0,
        nchans: Some(64),
        tsamp_s: Some(1e-3),
        seed: 9,
        ..SimConfig::default()
    };
    simulate_to_file(&cfg, &noise, OutputFormat::Filterbank).unwrap();
    let fcfg = tianyan::fold::FoldConfig::default();
    for p in [0.0123, 0.0311, 0.0577, 0.1013, 0.2503, 0.4762] {
        let mut obs = tianyan::open_observation(std::slice::from_ref(&noise)).unwrap();
        let cube = tianyan::fold::fold(obs.as_mut(), p, 0.0, 0.0, &fcfg).unwrap();
        let r = tianyan::fold::optimise(&cube, &fcfg);
        assert!(r.period_s > 0.0 && r.period_s + r.pdot * r.tobs_s > 0.0, "P {p}: {} {}", r.period_s, r.pdot);
        assert!(r.dm >= 0.0, "P {p}: DM {}", r.dm);
        assert!(r.dm_trials.iter().all(|d| *d >= 0.0), "P {p}: {:?}", r.dm_trials);
        assert!(r.period_trials_s.iter().all(|q| *q > 0.0));
    }
}

/// The mask check was by file name and header: another file with the mask's name and header
/// values was accepted, and a byte-identical copy of the right file under another name was
/// refused. Now the data are compared (a fingerprint of the first spectra): the copy is
/// accepted, the impostor refused with both files named.
#[test]
fn mask_is_matched_by_content_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let x = small_obs(dir.path(), "x.fil", 2.0, 1);
    let mask = dir.path().join("mask.h5");
    assert!(common::tianyan(&["rfi", s(&x), "-o", s(&mask)]).status.success());
    let copy = dir.path().join("renamed.fil");
    std::fs::copy(&x, &copy).unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let impostor = small_obs(&other, "x.fil", 2.0, 2); // same name, same header values
    let c = dir.path().join("c.h5");
    let r = common::tianyan(&["search", s(&copy), "--mask", s(&mask), "-o", s(&c), "--dm-max", "30"]);
    assert!(r.status.success(), "a copy of the right data is accepted: {}", stderr(&r));
    for args in [
        vec!["search", s(&impostor), "--mask", s(&mask), "-o", s(&c), "--dm-max", "30"],
        vec!["fold", s(&impostor), "--period", "0.25", "--dm", "20", "--mask", s(&mask)],
        vec!["dedisperse", s(&impostor), "--dm-max", "21", "--mask", s(&mask), "-o", s(&dir.path().join("ser"))],
    ] {
        run_fails_with(&args, &["mask.h5", s(&impostor), "was made from", "differ"]);
    }
    assert!(!dir.path().join("ser").exists());
}

/// Smaller things a fresh user met: `--zmax 5` was recorded as 5 though 6 was searched;
/// `--max-memory-mb -5` got clap's "invalid digit"; `accuracy -o x.fil` said "File exists (os
/// error 17)"; `plot`/`candidates` of a non-HDF5 file printed raw H5Fopen text; `plan` had no
/// `--zmax`; `--periodic` still printed "Single-pulse events: 0"; `fold --candidates` without
/// `--mask` folded the raw data of an excised search.
#[test]
fn smaller_fresh_user_findings() {
    let dir = tempfile::tempdir().unwrap();
    let x = small_obs(dir.path(), "x.fil", 2.0, 1);
    let c = dir.path().join("c.h5");
    let r = common::tianyan(&["search", s(&x), "-o", s(&c), "--dm-max", "25", "--periodic", "--zmax", "5"]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(!String::from_utf8_lossy(&r.stdout).contains("Single-pulse"), "{}", String::from_utf8_lossy(&r.stdout));
    let r = common::tianyan(&["candidates", s(&c)]);
    assert!(!String::from_utf8_lossy(&r.stdout).contains("Single-pulse"));
    let cfg: serde_json::Value = serde_json::from_str(
        hdf5::File::open(&c)
            .unwrap()
            .group("search")
            .unwrap()
            .attr("config_json")
            .unwrap()
            .read_scalar::<hdf5::types::VarLenUnicode>()
            .unwrap()
            .as_str(),
    )
    .unwrap();
    assert_eq!(cfg["periodic_cfg"]["zmax"], 6, "the searched zmax is recorded");
    for cmd in ["search", "dedisperse", "plan"] {
        run_fails_with(
            &[cmd, s(&x), "--max-memory-mb", "-5", "-o", s(&dir.path().join("o"))][..if cmd == "plan" { 4 } else { 6 }],
            &["--max-memory-mb", "≥ 1", "-5"],
        );
    }
    run_fails_with(&["accuracy", "-o", s(&x), "--profile", "ci"], &[s(&x), "existing file", "folder"]);
    for cmd in ["plot", "candidates"] {
        run_fails_with(&[cmd, s(&x)], &[s(&x), "not a tianyan candidate file"]);
    }
    // plan --zmax counts the (r, z) planes: a budget they do not fit is reported per step.
    let r = common::tianyan(&["plan", s(&x), "--dm-max", "20", "--zmax", "200", "--max-memory-mb", "1"]);
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success() && out.contains("no estimate") && out.contains("--zmax 200"), "{out}");

    // fold --candidates applies the excision the search recorded: the same fold as --fold-top.
    let c2 = dir.path().join("c2.h5");
    let r = common::tianyan(&["search", s(&x), "-o", s(&c2), "--dm-max", "25", "--fold-top", "1", "--top", "0"]);
    assert!(r.status.success(), "{}", stderr(&r));
    let r = common::tianyan(&["fold", s(&x), "--candidates", s(&c2), "--top", "1"]);
    assert!(r.status.success() && stderr(&r).contains("excised data"), "{}", stderr(&r));
    let folds = tianyan::fold::read_folds(&c2).unwrap();
    assert_eq!(folds.len(), 2);
    let (a, b) = (&folds[0].result, &folds[1].result);
    assert_eq!((a.period_s, a.dm, a.snr), (b.period_s, b.dm, b.snr), "the same data folded");
}
