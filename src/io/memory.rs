//! An in-memory observation, for tests, small inputs and the simulator's stream.
use super::{Header, IoError, Observation};
use ndarray::{s, Array2};

/// An observation held in memory as `[nsamples][nchans]` `f32`.
///
/// `header.nsamples` and `header.nchans` are set from the array's shape.
#[derive(Debug, Clone)]
pub struct MemoryObservation {
    header: Header,
    data: Array2<f32>,
    description: Option<String>,
}

impl MemoryObservation {
    /// Wraps `data` (`[nsamples][nchans]`) with `header`; nsamples/nchans are taken from `data`.
    pub fn new(mut header: Header, data: Array2<f32>) -> Self {
        header.nsamples = data.nrows() as u64;
        header.nchans = data.ncols();
        MemoryObservation { header, data, description: None }
    }

    /// The same observation, described as `description` (e.g. the file it was made from) in
    /// messages instead of `<memory>`.
    pub fn with_description(mut self, description: String) -> Self {
        self.description = Some(description);
        self
    }

    /// The whole data array, `[nsamples][nchans]`.
    pub fn data(&self) -> &Array2<f32> {
        &self.data
    }
}

impl Observation for MemoryObservation {
    fn header(&self) -> &Header {
        &self.header
    }
    fn read_block(&mut self, start_sample: u64, nsamples: usize) -> Result<Array2<f32>, IoError> {
        let end = IoError::check_range("<memory>", start_sample, nsamples, self.header.nsamples)?;
        Ok(self.data.slice(s![start_sample as usize..end as usize, ..]).to_owned())
    }
    fn source_description(&self) -> String {
        self.description.clone().unwrap_or_else(|| "<memory>".to_string())
    }
}
