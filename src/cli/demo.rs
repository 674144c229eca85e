//! `tianyan demo` (in progress).
use std::path::PathBuf;

/// Arguments of `tianyan demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Input or output path.
    pub path: Option<PathBuf>,
}

/// Runs `tianyan demo`.
pub fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("tianyan demo is not implemented yet")
}
