//! `tianyan convert` (in progress).
use std::path::PathBuf;

/// Arguments of `tianyan convert`.
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// Input or output path.
    pub path: Option<PathBuf>,
}

/// Runs `tianyan convert`.
pub fn run(_args: ConvertArgs) -> anyhow::Result<()> {
    anyhow::bail!("tianyan convert is not implemented yet")
}
