//! Opening HDF5 files when another process may briefly hold their lock.
//!
//! libhdf5 (1.10 and later) `flock`s a file while it is open and opens it without close-on-exec.
//! A child process forked by any thread of the program (to run h5py, a plotting script, another
//! tianyan) while a file is open shares that lock until it execs (or, when the descriptor is not
//! close-on-exec, until it exits), so an open of the same file in that moment fails with
//! "unable to lock file, errno = 11". Such a holder goes away within milliseconds, so
//! [`open`] and [`open_rw`] retry a failed lock for up to [`LOCK_RETRY`] before giving up; a
//! file that really is held by a writer still fails, with HDF5's message.

use std::path::Path;
use std::time::{Duration, Instant};

/// How long [`open`] and [`open_rw`] keep retrying an open that fails on the file lock.
pub const LOCK_RETRY: Duration = Duration::from_secs(2);

fn with_retry(path: &Path, rw: bool) -> hdf5::Result<hdf5::File> {
    let deadline = Instant::now() + LOCK_RETRY;
    let mut pause = Duration::from_millis(1);
    loop {
        let r = if rw { hdf5::File::open_rw(path) } else { hdf5::File::open(path) };
        match r {
            Err(e) if e.to_string().contains("unable to lock file") && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// Opens `path` read-only, retrying while its lock is briefly held (see the module docs).
///
/// # Errors
/// HDF5's error when the file cannot be opened, or is still locked after [`LOCK_RETRY`].
pub fn open(path: &Path) -> hdf5::Result<hdf5::File> {
    with_retry(path, false)
}

/// Opens `path` read-write, retrying while its lock is briefly held (see the module docs).
///
/// # Errors
/// As [`open`].
pub fn open_rw(path: &Path) -> hdf5::Result<hdf5::File> {
    with_retry(path, true)
}
