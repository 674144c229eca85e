//! Interrupted commands leave nothing behind (issue 11, second fresh-user trial): Ctrl-C used to
//! leave the hidden staged outputs (`.tianyan-PID-N.NAME`: 53 MB for `simulate`, hundreds of
//! partial `.tim` files for `dedisperse`) and the folders a command had created. Now SIGINT,
//! SIGTERM and SIGHUP remove them, and the process still ends by the signal (a shell sees 130).
//!
//! Each test starts the real binary, waits until its staged temporary exists (so the signal
//! arrives in the middle of writing, after the handler is installed), sends the signal and checks
//! the folder. The commands are sized to write for about a second or more after the first
//! temporary appears while the folder is polled every 5 ms, so the signal cannot arrive after
//! the command finished.
mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Every name in `dir` and below, hidden ones included, relative to `dir`, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// True when some name under `dir` is a staged temporary.
fn has_staged(dir: &Path) -> bool {
    tree(dir).iter().any(|n| n.rsplit('/').next().is_some_and(|b| b.starts_with(".tianyan-")))
}

/// Runs `tianyan args` in `dir`, sends `signal` as soon as a staged temporary appears under
/// `dir`, and returns the exit status and stderr.
fn interrupt(dir: &Path, args: &[&str], signal: libc::c_int) -> (std::process::ExitStatus, String) {
    let mut child = common::command(env!("CARGO_BIN_EXE_tianyan"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tianyan");
    let t0 = Instant::now();
    while !has_staged(dir) {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("tianyan {args:?} ended ({st}) before any staged output was seen");
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no staged output after 120 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill(2) on our own child's pid, which has not been reaped (try_wait saw it running).
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    let out = child.wait_with_output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Ctrl-C in the middle of `simulate`: the staged observation (and truth file) are removed, no
/// output appears, and the process ends by SIGINT, saying what it removed.
#[test]
fn ctrl_c_during_simulate_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "simulate",
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "256",
        "--duration",
        "60",
        "--seed",
        "5",
        "--pulsar",
        "period=0.3,dm=40,snr=15",
        "-o",
        "obs.fil",
    ];
    let (status, err) = interrupt(tmp.path(), &args, libc::SIGINT);
    assert_eq!(status.signal(), Some(libc::SIGINT), "ends by the signal, stderr: {err}");
    assert!(err.contains("interrupted (SIGINT): removed"), "says what it removed: {err}");
    assert_eq!(tree(tmp.path()), Vec::<String>::new(), "nothing is left: {err}");
}

/// SIGTERM (what `kill` and batch systems send) in the middle of `dedisperse` into a folder it
/// creates (`new/tims`): every partial `.tim` is removed and so are both created folders, while the
/// input observation and its truth file are untouched.
#[test]
fn sigterm_during_dedisperse_removes_partial_series_and_created_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = common::tianyan(&[
        "simulate",
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "256",
        "--duration",
        "20",
        "--seed",
        "6",
        "-o",
        tmp.path().join("obs.fil").to_str().unwrap(),
    ]);
    assert!(sim.status.success(), "{}", String::from_utf8_lossy(&sim.stderr));
    let before = tree(tmp.path());
    let input = std::fs::read(tmp.path().join("obs.fil")).unwrap();
    let (status, err) =
        interrupt(tmp.path(), &["dedisperse", "obs.fil", "-o", "new/tims", "--dm-max", "1000"], libc::SIGTERM);
    assert_eq!(status.signal(), Some(libc::SIGTERM), "ends by the signal, stderr: {err}");
    assert!(err.contains("terminated (SIGTERM): removed"), "says what it removed: {err}");
    assert_eq!(tree(tmp.path()), before, "only the input and its truth file remain: {err}");
    assert_eq!(std::fs::read(tmp.path().join("obs.fil")).unwrap(), input, "the input is unchanged");
}
