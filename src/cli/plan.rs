//! `tianyan plan` (in progress).
use std::path::PathBuf;

/// Arguments of `tianyan plan`.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Input or output path.
    pub path: Option<PathBuf>,
}

/// Runs `tianyan plan`.
pub fn run(_args: PlanArgs) -> anyhow::Result<()> {
    anyhow::bail!("tianyan plan is not implemented yet")
}
