//! `tianyan accuracy` (in progress).
use std::path::PathBuf;

/// Arguments of `tianyan accuracy`.
#[derive(clap::Args, Debug)]
pub struct AccuracyArgs {
    /// Input or output path.
    pub path: Option<PathBuf>,
}

/// Runs `tianyan accuracy`.
pub fn run(_args: AccuracyArgs) -> anyhow::Result<()> {
    anyhow::bail!("tianyan accuracy is not implemented yet")
}
