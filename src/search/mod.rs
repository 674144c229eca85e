//! Search stages: FFT periodicity search, single-pulse search, sifting.
pub mod candidate;
pub use candidate::{Candidate, SinglePulse};
pub mod harmonic;
pub mod periodic;
pub mod sift;
pub mod single_pulse;
pub mod spectrum;
pub mod stats;
pub mod trials;
