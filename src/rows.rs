//! Plain row types shared by the search stages and the file writers (DESIGN.md, "Layout" and
//! "Candidate file"): the same structs the HDF5 writer stores. A leaf module: it uses no other
//! part of the crate, so `io` can write rows without knowing `search`.

use serde::{Deserialize, Serialize};

/// One periodicity candidate (a row of `/candidates`).
///
/// `harmonic_of` is the row index (in the sorted table) of a stronger candidate this one is a
/// harmonic of, or −1; `harmonic_num/harmonic_den` give the ratio f_this / f_parent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, hdf5::H5Type)]
#[repr(C)]
pub struct Candidate {
    /// Topocentric spin period, s.
    pub period_s: f64,
    /// Spin frequency, Hz (= 1 / period_s).
    pub frequency_hz: f64,
    /// Best DM trial, pc cm⁻³.
    pub dm: f64,
    /// Line-of-sight acceleration, m s⁻² (0 without an acceleration search): `−c z / (r T)` for
    /// drift `z` at mean Fourier bin `r` over an observation of `T` s (positive = receding faster,
    /// frequency decreasing; PRESTO's `accelsearch` reports the opposite sign of `z`).
    pub accel: f64,
    /// Signal-to-noise estimate from the summed normalised power (see `search::stats`).
    pub snr: f32,
    /// Gaussian-equivalent significance after the number-of-trials correction.
    pub sigma: f32,
    /// Summed normalised power over `nharm` harmonics (noise: mean `nharm`).
    pub power: f32,
    /// Number of harmonics summed for the best detection.
    pub nharm: u32,
    /// Fourier bin of the fundamental (fractional, interbinned), in units of 1/T.
    pub fft_bin: f64,
    /// Number of DM trials in which this signal was detected.
    pub n_dm_hits: u32,
    /// Index of the stronger candidate this one is a harmonic of, or −1.
    pub harmonic_of: i32,
    /// Numerator of the frequency ratio to `harmonic_of` (0 when not a harmonic).
    pub harmonic_num: u32,
    /// Denominator of the frequency ratio to `harmonic_of` (0 when not a harmonic).
    pub harmonic_den: u32,
    /// Which harmonic of the signal's fundamental this detection is, by the search's odd-harmonic
    /// test ([`crate::search::periodic`]): 1 when the detection is itself the fundamental; `D > 1`
    /// when the harmonics of `frequency_hz / D` that are not multiples of `frequency_hz` carry
    /// significant power (e.g. 2 for a narrow pulse found at twice its spin frequency). Sifting
    /// makes the detection at `frequency_hz / D` the family head.
    pub fund_harmonic: u32,
    /// PRESTO-style DM checks of sifting ([`crate::search::sift`]), bit flags, 0 when passed:
    /// 1 = the best DM is below the sift's `low_dm_cutoff` (2 pc cm⁻³ by default) although higher
    /// DMs were searched (terrestrial signals peak at DM 0); 2 = the signal was not seen in two
    /// adjacent DM trials (a dispersed pulsar is, on any grid finer than its DM width). Flagged
    /// signals are kept, ordered after the unflagged family heads.
    pub dm_flag: u32,
    /// Drift of the fundamental's frequency over the observation, Fourier bins, `z = ḟ T²`
    /// (PRESTO's `z` and sign: positive = frequency increasing; 0 without an acceleration search).
    pub z: f64,
    /// Which search found the signal: `fft` (HDF5 enum value 1), `ffa` (2) or `both` (3, the
    /// same signal found by both and merged by sifting; the row's other values are those of the
    /// more significant detection).
    pub search: SearchKind,
    /// Best boxcar width of an FFA detection, s (0 for FFT-only rows).
    pub width_s: f64,
}

/// The search that produced a [`Candidate`] (an HDF5 enum of base type `u8` in `/candidates`;
/// h5py reads it as integers 1, 2, 3 with the names in the dtype's enum metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, hdf5::H5Type)]
#[repr(u8)]
#[serde(rename_all = "lowercase")]
pub enum SearchKind {
    /// The FFT search with harmonic summing.
    Fft = 1,
    /// The fast folding algorithm.
    Ffa = 2,
    /// Both searches (merged by sifting).
    Both = 3,
}

impl SearchKind {
    /// The union of two labels (`fft` ∪ `ffa` = `both`).
    pub fn union(self, other: SearchKind) -> SearchKind {
        match (self as u8) | (other as u8) {
            1 => SearchKind::Fft,
            2 => SearchKind::Ffa,
            _ => SearchKind::Both,
        }
    }

    /// `fft`, `ffa` or `both`.
    pub fn name(self) -> &'static str {
        match self {
            SearchKind::Fft => "fft",
            SearchKind::Ffa => "ffa",
            SearchKind::Both => "both",
        }
    }
}

/// One single-pulse event (a row of `/single_pulses`), after clustering.
///
/// `time_s` is the start of the best boxcar in seconds from the first sample, referred to the
/// highest channel-centre frequency of the band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, hdf5::H5Type)]
#[repr(C)]
pub struct SinglePulse {
    /// Arrival time at the top of the band, s from the start of the observation.
    pub time_s: f64,
    /// Sample index of `time_s` at the native sampling time.
    pub sample: u64,
    /// Best DM, pc cm⁻³.
    pub dm: f64,
    /// Best boxcar width, s.
    pub width_s: f64,
    /// Best boxcar width, samples (native).
    pub width_samples: u32,
    /// Boxcar S/N (sum over the boxcar / (σ·sqrt(width))).
    pub snr: f32,
    /// Number of raw events merged into this one.
    pub n_members: u32,
    /// 1 when the event looks terrestrial: its best DM is so low that the dispersive sweep across
    /// the band is shorter than its width (indistinguishable from DM 0); 0 otherwise.
    /// See `search::single_pulse::flag_zero_dm`.
    pub rfi_flag: u8,
}

/// What the FFA search leaves besides its candidates: the group `/ffa` of the candidate file
/// (written by [`crate::io::candidates`], drawn by `tianyan plot`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FfaSummary {
    /// Effective independent trials of the FFA search, used in every FFA candidate's sigma.
    pub trials: f64,
    /// Period trials per DM trial, summed over the plan steps' series lengths (first step).
    pub ntrials_per_dm: usize,
    /// DM of every searched trial, pc cm⁻³ (search order).
    pub dms: Vec<f64>,
    /// Per DM: best S/N, its period (s) and boxcar width (s).
    pub best_snr: Vec<f32>,
    pub best_period_s: Vec<f64>,
    pub best_width_s: Vec<f64>,
    /// Edges of the log-spaced period cells of `grid_snr`, s (`ncells + 1`).
    pub grid_edges_s: Vec<f64>,
    /// Best S/N per DM and period cell, row-major `[ndm][ncells]` (NaN: no trial in the cell).
    pub grid_snr: Vec<f32>,
    /// The full periodogram of the DM with the highest S/N: its DM, trial periods (s) and S/N.
    pub best_dm: f64,
    pub best_dm_periods_s: Vec<f64>,
    pub best_dm_snr: Vec<f32>,
}
