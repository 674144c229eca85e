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
