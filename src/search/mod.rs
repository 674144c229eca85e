//! Search stages: FFT periodicity search, single-pulse search, sifting.
pub mod candidate;
pub use candidate::{Candidate, SinglePulse};
pub mod single_pulse;
