//! `tianyan plot` (in progress).
use std::path::PathBuf;

/// Arguments of `tianyan plot`.
#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// Input or output path.
    pub path: Option<PathBuf>,
}

/// Runs `tianyan plot`.
pub fn run(_args: PlotArgs) -> anyhow::Result<()> {
    anyhow::bail!("tianyan plot is not implemented yet")
}
