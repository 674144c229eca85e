//! # tianyan (天眼)
//!
//! Synthetic FAST-style radio observations, pulsar searches and HDF5 candidates.
//!
//! Data flow (see `DESIGN.md` in the shared folder):
//! `sim` → observation file (`io::sigproc`, `io::psrfits`) → `dedisp` (DM trials) →
//! `search` (FFT periodicity, single pulse, sifting) → `fold` → `io::candidates` (HDF5).
//!
//! Units everywhere: frequencies in MHz, times in seconds, DM in pc cm⁻³,
//! accelerations in m s⁻², flux densities in mJy, epochs in MJD.

pub mod accuracy;
pub mod consts;
pub mod dedisp;
pub mod fold;
pub mod io;
pub mod pipeline;
pub mod plot;
pub mod search;
pub mod sim;

pub use io::memory::MemoryObservation;
pub use io::{open_observation, Header, IoError, Observation};
