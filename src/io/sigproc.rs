//! SIGPROC filterbank (`.fil`) and time-series (`.tim`) reader and writer. (in progress)
use super::{Header, IoError, Observation};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// Block reader of a SIGPROC filterbank file.
pub struct SigprocReader {
    path: PathBuf,
    header: Header,
}

impl SigprocReader {
    /// Opens `path` and parses its header (never reads the data).
    pub fn open(path: &Path) -> Result<Self, IoError> {
        Err(IoError::format(path, "SIGPROC reader not yet implemented"))
    }
}

impl Observation for SigprocReader {
    fn header(&self) -> &Header {
        &self.header
    }
    fn read_block(&mut self, _start_sample: u64, _nsamples: usize) -> Result<Array2<f32>, IoError> {
        Err(IoError::format(&self.path, "not yet implemented"))
    }
    fn source_description(&self) -> String {
        self.path.display().to_string()
    }
}
