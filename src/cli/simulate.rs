//! `tianyan simulate` (in progress).
use std::path::PathBuf;

/// Arguments of `tianyan simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Input or output path.
    pub path: Option<PathBuf>,
}

/// Runs `tianyan simulate`.
pub fn run(_args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("tianyan simulate is not implemented yet")
}
