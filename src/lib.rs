//! # tianyan (天眼)
//!
//! Synthetic FAST-style radio observations, pulsar searches and HDF5 candidates.
//!
//! Data flow (see `DESIGN.md` in the shared folder):
//! `sim` → observation file (`io::sigproc`, `io::psrfits`) → `rfi` (excision) → `dedisp` (DM trials) →
//! `search` (FFT periodicity, single pulse, sifting) → `fold` → `io::candidates` (HDF5).
//!
//! Units everywhere: frequencies in MHz, times in seconds, DM in pc cm⁻³,
//! accelerations in m s⁻², flux densities in mJy, epochs in MJD.
//!
//! # Example: inject a pulsar and find it
//!
//! The simulator's stream is an [`Observation`], so it goes straight into the search:
//!
//! ```
//! use tianyan::pipeline::{run_search, SearchConfig};
//! use tianyan::sim::{pulsar::PulsarSpec, SimConfig, SimulatedObservation};
//!
//! let sim = SimConfig {
//!     preset: "fast-l-band-lite".into(),  // 1000–1500 MHz, 393.216 µs
//!     nchans: Some(128),
//!     duration_s: 20.0,
//!     seed: 7,
//!     pulsars: vec![PulsarSpec::parse("period=0.2531,dm=40,snr=25").unwrap()],
//!     ..SimConfig::default()
//! };
//! let obs = SimulatedObservation::new(&sim).unwrap();
//! let cfg = SearchConfig { dm_max: 80.0, single_pulse: false, ..SearchConfig::default() };
//! let out = run_search(Box::new(obs), &cfg, &mut |_, _| {}).unwrap();
//! let best = &out.candidates[0];
//! assert!((best.frequency_hz - 1.0 / 0.2531).abs() * 20.0 <= 1.0); // within one Fourier bin
//! assert!((best.dm - 40.0).abs() < 4.0);
//! ```

pub mod accuracy;
pub mod consts;
pub mod cutout;
pub mod dedisp;
pub mod fold;
pub mod io;
pub mod pipeline;
pub mod plot;
pub mod rfi;
pub mod rows;
pub mod search;
pub mod sim;

pub use io::memory::MemoryObservation;
pub use io::{open_observation, Header, IoError, Observation};
