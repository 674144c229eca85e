//! `tianyan search` (in progress).
use std::path::PathBuf;

/// Arguments of `tianyan search`.
#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// Input or output path.
    pub path: Option<PathBuf>,
}

/// Runs `tianyan search`.
pub fn run(_args: SearchArgs) -> anyhow::Result<()> {
    anyhow::bail!("tianyan search is not implemented yet")
}
