//! `tianyan header` (in progress).
use std::path::PathBuf;

/// Arguments of `tianyan header`.
#[derive(clap::Args, Debug)]
pub struct HeaderArgs {
    /// Input or output path.
    pub path: Option<PathBuf>,
}

/// Runs `tianyan header`.
pub fn run(_args: HeaderArgs) -> anyhow::Result<()> {
    anyhow::bail!("tianyan header is not implemented yet")
}
