//! `tianyan dedisperse` (in progress).
use std::path::PathBuf;

/// Arguments of `tianyan dedisperse`.
#[derive(clap::Args, Debug)]
pub struct DedisperseArgs {
    /// Input or output path.
    pub path: Option<PathBuf>,
}

/// Runs `tianyan dedisperse`.
pub fn run(_args: DedisperseArgs) -> anyhow::Result<()> {
    anyhow::bail!("tianyan dedisperse is not implemented yet")
}
