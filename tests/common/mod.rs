//! Shared helpers for integration tests.
#![allow(dead_code)]
use std::path::PathBuf;

/// Path of a file in the shared real-data folder (`TIANYAN_DATA`, else `../shared/data` beside the
/// crate). Returns `None` (and prints why) when it is missing, so the caller skips; under `CI=true`
/// a missing file is a failure.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let base = std::env::var_os("TIANYAN_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let p = base.join(rel);
    if p.exists() {
        Some(p)
    } else if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("CI=true but the shared data file {} is missing", p.display());
    } else {
        eprintln!("SKIP: shared data file {} not found (set TIANYAN_DATA)", p.display());
        None
    }
}

/// A `Command` for `program` whose child inherits no file descriptor except stdin, stdout and
/// stderr.
///
/// libhdf5 opens files without `O_CLOEXEC`, so a child spawned while another test thread holds an
/// HDF5 file open inherits that descriptor and, with it, the file's `flock` lock: the lock then
/// outlives the writer's close until the child exits, and the writer's next `H5Fopen` of the
/// same file fails with "unable to lock file, errno = 11". Marking every inherited descriptor
/// close-on-exec in the child (between fork and exec) removes the race entirely.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(program);
    // SAFETY: close_range is a single async-signal-safe system call; it only sets FD_CLOEXEC on
    // descriptors 3 and up, so the standard streams and std's own exec-error pipe (already
    // close-on-exec) behave as before.
    unsafe {
        cmd.pre_exec(|| {
            if libc::close_range(3, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Runs the tianyan binary with `args` (descriptors not inherited, see [`command`]).
pub fn tianyan(args: &[&str]) -> std::process::Output {
    command(env!("CARGO_BIN_EXE_tianyan")).args(args).output().expect("run the tianyan binary")
}
