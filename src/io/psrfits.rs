//! PSRFITS search-mode reader and writer. (in progress)
use super::{IoError, Observation};
use std::path::PathBuf;

/// Opens one PSRFITS file, or several numbered files of one observation read as one stream.
pub fn open_psrfits(paths: &[PathBuf]) -> Result<Box<dyn Observation>, IoError> {
    Err(IoError::format(&paths[0], "PSRFITS reader not yet implemented"))
}
