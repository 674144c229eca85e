//! Search stages: FFT periodicity search, single-pulse search, sifting.
/// The row types live in the leaf module [`crate::rows`]; re-exported here for the search stages.
pub use crate::rows::{Candidate, SearchKind, SinglePulse};
pub mod accel;
pub mod ffa;
pub mod harmonic;
pub mod periodic;
pub mod sift;
pub mod single_pulse;
pub mod spectrum;
pub mod stats;
pub mod trials;
