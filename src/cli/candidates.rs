//! `tianyan candidates` (in progress).
use std::path::PathBuf;

/// Arguments of `tianyan candidates`.
#[derive(clap::Args, Debug)]
pub struct CandidatesArgs {
    /// Input or output path.
    pub path: Option<PathBuf>,
}

/// Runs `tianyan candidates`.
pub fn run(_args: CandidatesArgs) -> anyhow::Result<()> {
    anyhow::bail!("tianyan candidates is not implemented yet")
}
