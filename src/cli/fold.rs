//! `tianyan fold` (in progress).
use std::path::PathBuf;

/// Arguments of `tianyan fold`.
#[derive(clap::Args, Debug)]
pub struct FoldArgs {
    /// Input or output path.
    pub path: Option<PathBuf>,
}

/// Runs `tianyan fold`.
pub fn run(_args: FoldArgs) -> anyhow::Result<()> {
    anyhow::bail!("tianyan fold is not implemented yet")
}
