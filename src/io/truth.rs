//! The truth file (`OUT.truth.json`) written beside every simulated observation.
//!
//! It records everything needed to judge a search of the simulated file: the observation
//! header, the seed and software version, the dispersion convention (constant and reference
//! frequency), the quantisation (scale, offset, clipped count), the telescope model, and every
//! injected signal with every parameter it was made with plus its **expected S/N**:
//!
//! * pulsars: `expected_snr` is the S/N of the noiseless, ideally dedispersed (exact delays),
//!   channel-summed profile folded with the true ephemeris into `snr_nbins` bins, **as it is
//!   injected** (after integration over each sample, intra-channel dispersion smearing and
//!   scattering), measured with the best contiguous boxcar of bins against the radiometer noise
//!   of a bin: `S/N = Σ_on (p_i − p̄_off) / (σ_bin · sqrt(n_on))`, where `p_i` is the summed
//!   profile in units of the per-sample-per-channel noise σ, `p̄_off` the mean of the bins outside
//!   the boxcar and `σ_bin = sqrt(nchans · nsamples / nbins)`.
//! * bursts: `expected_snr` is the S/N of the noiseless, dedispersed (per-channel delays rounded
//!   to the nearest sample, as an incoherent dedisperser does) channel-summed time series,
//!   measured with the best boxcar of `expected_width_samples` samples:
//!   `S/N = Σ_on s_j / sqrt(nchans · n_on)`.
//!
//! * **Quantisation and clipping**: both are measured on the data *as written*: every sample's
//!   noiseless signal `s` (σ units) in channel `c` is first replaced by its mean stored response
//!   `R_c(s) = (E[q | s] − E[q | 0]) / sd(q | 0)` in units of the stored noise σ
//!   ([`crate::sim::noise::QuantiserResponse`]: exact Gaussian level sums, the clamped-Gaussian
//!   mean for 8 and 16 bits). A weak signal keeps `η·s`, `η` the quantisation efficiency (0.798
//!   for 1 bit, 0.9387 for 2, 0.9942 for 4, 0.99984 for 8, 1 for floats), so an ordinary 8-bit
//!   simulation's `expected_snr` is 0.016 % below `expected_snr_unquantised`; a signal that
//!   drives samples into the clamps loses what the clamps cut off. `expected_snr_unquantised` is
//!   the value before this step (the requested S/N in `snr=` mode), and each pulsar's
//!   `saturated_fraction` the expected fraction of all values it clamps beyond pure noise.
//!
//! Both are the values a perfect search would report on average (a real search on noisy data
//! scatters by about ±1 around them and loses a little to trial-grid mismatch).
use super::{Header, IoError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Quantisation of the simulated data: `value = round(offset + scale · x)` clamped to
/// `[min_value, max_value]`, with `x` the signal plus noise in units of the radiometer noise σ
/// of one sample in one channel (so the noise has mean `offset` and standard deviation `scale`
/// counts). For `nbits = 32` (float) there is no rounding and no clamping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantisation {
    /// Bits per sample.
    pub nbits: u32,
    /// Mean of the noise, counts.
    pub offset: f64,
    /// Standard deviation of the noise (one radiometer σ), counts.
    pub scale: f64,
    /// Smallest representable value, counts.
    pub min_value: f64,
    /// Largest representable value, counts.
    pub max_value: f64,
    /// Number of values that were clamped to `min_value` or `max_value`.
    pub clipped: u64,
    /// Total number of values written (`nsamples · nchans`).
    pub total_values: u64,
    /// `clipped / total_values`, measured while writing.
    #[serde(default)]
    pub clipped_fraction: f64,
    /// Expected clamped fraction of pure noise (`P(clamped | s = 0)`, mean over channels:
    /// 0.317 for 1 bit, 0.134 for 2 bits, 0.012 for 4 bits, 1e-9 for 8 bits, 0 above).
    #[serde(default)]
    pub noise_clipped_fraction: f64,
    /// Quantisation efficiency `η` of a weak signal (mean over channels; `expected_snr` of a
    /// weak pulsar is `η` times its unquantised S/N): 0.798, 0.9387, 0.9942, 0.99984 for 1, 2, 4,
    /// 8 bits ([`crate::sim::noise::QuantiserResponse`]).
    #[serde(default)]
    pub efficiency: f64,
    /// Whether the simulation was allowed to saturate more than
    /// [`crate::sim::MAX_SATURATED_FRACTION`] of the values (`--allow-saturation`).
    #[serde(default)]
    pub saturation_allowed: bool,
}

/// The telescope model the data were made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelescopeTruth {
    /// Preset name (`fast-l-band`, `fast-l-band-lite`).
    pub preset: String,
    /// System temperature, K.
    pub tsys_k: f64,
    /// Telescope gain, K/Jy.
    pub gain_k_per_jy: f64,
    /// Number of polarisations summed.
    pub npol: u32,
    /// Lower band edge, MHz.
    pub band_low_mhz: f64,
    /// Upper band edge, MHz.
    pub band_high_mhz: f64,
    /// Radiometer noise of one sample in one channel, mJy (`T_sys / (G · sqrt(npol · tsamp · Δν))`).
    pub sigma_sample_mjy: f64,
    /// Whether a bandpass shape multiplies each channel (mean and σ scale together).
    pub bandpass: bool,
}

/// One pulse-profile component. Phases are in turns (0–1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentTruth {
    /// `gauss`, `vonmises` or `tophat`.
    pub shape: String,
    /// Centre of the component relative to the main component, turns.
    pub offset_phase: f64,
    /// Full width at half maximum (top-hat: full width), s.
    pub fwhm_s: f64,
    /// Peak height relative to the main component.
    pub amplitude: f64,
}

/// An injected pulsar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PulsarTruth {
    /// Spin period at the start of the observation (t = 0), s.
    pub period_s: f64,
    /// Apparent spin period at the middle of the observation (changed by `accel`), s.
    pub period_mid_s: f64,
    /// Spin frequency at t = 0, Hz.
    pub frequency_hz: f64,
    /// Dispersion measure, pc cm⁻³.
    pub dm: f64,
    /// Line-of-sight acceleration, m s⁻² (positive = receding, period increases with time).
    pub accel: f64,
    /// Pulse phase at t = 0 (turns; the main component is at integer phase).
    pub phase: f64,
    /// Time of the first main-component peak at the top channel centre, s from the first sample.
    pub first_peak_s: f64,
    /// The binary orbit, if any (then `period_s` and `frequency_hz` are the spin in the pulsar's
    /// frame, and the apparent spin is described by the fields below).
    #[serde(default)]
    pub orbit: Option<crate::sim::orbit::Orbit>,
    /// Apparent spin frequency at the middle of the observation from a quadratic least-squares fit
    /// `ν(t) ≈ f + ḟ (t − T/2) + f̈ (t − T/2)²/2` over the observation (top channel), Hz.
    #[serde(default)]
    pub f_mid_hz: f64,
    /// `ḟ` of that fit, Hz s⁻¹.
    #[serde(default)]
    pub fdot_hz_s: f64,
    /// `f̈` of that fit, Hz s⁻².
    #[serde(default)]
    pub fddot_hz_s2: f64,
    /// Drift of the fundamental over the observation in Fourier bins, `z = ḟ T²` (PRESTO's sign:
    /// positive = frequency increasing; Ransom, Eikenberry & Middleditch 2002).
    #[serde(default)]
    pub z: f64,
    /// Change of the drift, `w = f̈ T³` (PRESTO's jerk parameter; Andersen & Ransom 2018).
    #[serde(default)]
    pub w: f64,
    /// Mean line-of-sight acceleration over the observation, `−c ḟ / f`, m s⁻² (tianyan's sign,
    /// as `accel`: positive = receding faster, frequency decreasing).
    #[serde(default)]
    pub accel_mean: f64,
    /// Mean line-of-sight jerk, `−c f̈ / f`, m s⁻³ (same sign convention).
    #[serde(default)]
    pub jerk_mean: f64,
    /// Spectral index α (`S ∝ f^α`).
    pub spindex: f64,
    /// Reference frequency of the flux density and spectral index, MHz.
    pub spectral_ref_mhz: f64,
    /// Scattering time at 1 GHz (s; 0 = none), scaling as `f^-4.4`.
    pub tau_1ghz_s: f64,
    /// Profile components (the first is the main one).
    pub components: Vec<ComponentTruth>,
    /// Mean flux density at `spectral_ref_mhz`, mJy.
    pub mean_flux_mjy: f64,
    /// The S/N that was asked for (`snr=` mode), if any.
    pub requested_snr: Option<f64>,
    /// Expected folded S/N of the data as written, quantisation and clipping included (see the
    /// module docs for the exact definition).
    pub expected_snr: f64,
    /// The same S/N before quantisation (the signal as injected, in float units): equal to
    /// `requested_snr` in `snr=` mode.
    #[serde(default)]
    pub expected_snr_unquantised: f64,
    /// Expected fraction of all values clamped because of this pulsar, beyond the clamping of
    /// pure noise (`simulate` refuses more than [`crate::sim::MAX_SATURATED_FRACTION`] unless
    /// asked with `--allow-saturation`).
    #[serde(default)]
    pub saturated_fraction: f64,
    /// Number of profile bins used for `expected_snr`.
    pub snr_nbins: usize,
    /// Lorimer & Kramer (2005) eq. A1.21 S/N for a top-hat pulse of the main component's FWHM,
    /// for comparison: `S_mean · G · sqrt(npol · t_obs · Δν) / T_sys · sqrt((P − W)/W)`.
    pub radiometer_snr: f64,
}

/// An injected single pulse / FRB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurstTruth {
    /// Arrival time of the Gaussian centre at the top channel centre, s from the first sample.
    pub time_s: f64,
    /// Dispersion measure, pc cm⁻³.
    pub dm: f64,
    /// Intrinsic full width at half maximum, s.
    pub width_s: f64,
    /// Fluence at `spectral_ref_mhz`, Jy ms.
    pub fluence_jy_ms: f64,
    /// Spectral index α.
    pub spindex: f64,
    /// Reference frequency of the fluence and spectral index, MHz.
    pub spectral_ref_mhz: f64,
    /// Scattering time at 1 GHz, s (0 = none).
    pub tau_1ghz_s: f64,
    /// The S/N that was asked for, if any.
    pub requested_snr: Option<f64>,
    /// Expected dedispersed boxcar S/N of the data as written, quantisation and clipping
    /// included (see the module docs).
    pub expected_snr: f64,
    /// The same S/N before quantisation: equal to `requested_snr` in `snr=` mode.
    #[serde(default)]
    pub expected_snr_unquantised: f64,
    /// Width of the best boxcar, samples.
    pub expected_width_samples: usize,
    /// First sample of the best boxcar in the dedispersed series (time at the top channel).
    pub expected_start_sample: u64,
}

/// A narrowband RFI channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NarrowbandRfiTruth {
    /// Channel index (file order).
    pub channel: usize,
    /// Mean added power, in units of the noise σ.
    pub amplitude_sigma: f64,
    /// Modulation period, s (the power goes as `1 + sin(2πt/P)`); 0 = constant.
    pub modulation_period_s: f64,
}

/// A broadband zero-DM impulse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImpulseRfiTruth {
    /// Start time, s.
    pub time_s: f64,
    /// Duration (top hat), s.
    pub duration_s: f64,
    /// Added power in every channel, units of the noise σ.
    pub amplitude_sigma: f64,
}

/// A persistent narrowband emitter at a fixed frequency (e.g. a satellite-navigation signal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmitterRfiTruth {
    /// Name of the signal (e.g. `"GPS L5 / Galileo E5a"`).
    pub name: String,
    /// Centre frequency, MHz.
    pub centre_mhz: f64,
    /// Half-width of the main spectral lobe (first null of the BPSK sinc², = chip rate), MHz.
    pub half_width_mhz: f64,
    /// Added power at the lobe peak, units of the noise σ.
    pub amplitude_sigma: f64,
    /// Relative RMS of the slow power fluctuation (0 = steady).
    pub flicker_depth: f64,
    /// Shortest period of the fluctuation, s (its components have periods of 1–8 times this).
    pub flicker_timescale_s: f64,
    /// The fluctuation's components: `(period_s, phase_rad)`.
    pub flicker_components: Vec<(f64, f64)>,
    /// Affected channels (file order), first and last inclusive; `None` when outside the band.
    pub channels: Option<(usize, usize)>,
}

/// An intermittent narrowband burst: a top hat in time and frequency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NarrowbandBurstRfiTruth {
    /// Start time, s.
    pub time_s: f64,
    /// Duration, s.
    pub duration_s: f64,
    /// Lower and upper frequency edges, MHz.
    pub fmin_mhz: f64,
    /// Upper frequency edge, MHz.
    pub fmax_mhz: f64,
    /// Channels (file order) whose centre lies inside, first and last inclusive.
    pub channels: (usize, usize),
    /// Added power, units of the noise σ.
    pub amplitude_sigma: f64,
}

/// A broadband periodic modulation at DM 0 (a pulse train, `duty_cycle` of each period on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodicRfiTruth {
    /// Name (`"mains"`, `"drifting"`).
    pub name: String,
    /// Frequency at t = 0, Hz.
    pub frequency_hz: f64,
    /// Frequency derivative, Hz/s (phase `f0·t + ḟ·t²/2`).
    pub fdot_hz_per_s: f64,
    /// Fraction of each period that is on.
    pub duty_cycle: f64,
    /// Added power while on, per channel, units of the noise σ.
    pub amplitude_sigma: f64,
    /// Affected channels (file order), first and last inclusive.
    pub channels: (usize, usize),
}

/// Slow multiplicative gain drift: `g(t, c) = 1 + Σ_k a_k·sin(2πt/P_k + φ_k)·(1 if global, u_c if
/// tilt)`, with `u_c` running linearly from −1 (lowest frequency) to +1 (highest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GainDriftRfiTruth {
    /// RMS of the gain change (fraction).
    pub rms_fraction: f64,
    /// Components: `(amplitude, period_s, phase_rad, tilt)`; tilt false = same in every channel.
    pub components: Vec<(f64, f64, f64, bool)>,
}

/// An interval of data dropped by the backend (all-zero spectra).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DropoutRfiTruth {
    /// First zeroed sample.
    pub first_sample: u64,
    /// Zeroed samples.
    pub nsamples: u64,
}

/// A very strong event that saturates the digitiser over a sub-band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaturationRfiTruth {
    /// Start time, s.
    pub time_s: f64,
    /// Duration, s.
    pub duration_s: f64,
    /// Channels (file order), first and last inclusive.
    pub channels: (usize, usize),
    /// Added power, units of the noise σ (beyond the 8-bit range's +9.9σ).
    pub amplitude_sigma: f64,
}

/// Injected RFI. Every component with its parameters; the lists added after the first two are
/// empty in truth files written before they existed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfiTruth {
    /// Persistent narrowband channels.
    pub narrowband: Vec<NarrowbandRfiTruth>,
    /// Broadband zero-DM impulses.
    pub impulses: Vec<ImpulseRfiTruth>,
    /// The spec's preset name, or empty.
    #[serde(default)]
    pub preset: String,
    /// Power-law index α of the impulse amplitudes (`p(A) ∝ A^−α`; 0 = uniform).
    #[serde(default)]
    pub impulse_amplitude_index: f64,
    /// Persistent narrowband emitters at fixed frequencies.
    #[serde(default)]
    pub emitters: Vec<EmitterRfiTruth>,
    /// Intermittent narrowband bursts.
    #[serde(default)]
    pub narrowband_bursts: Vec<NarrowbandBurstRfiTruth>,
    /// Broadband periodic modulations.
    #[serde(default)]
    pub periodic: Vec<PeriodicRfiTruth>,
    /// Slow gain drift, if any.
    #[serde(default)]
    pub gain_drift: Option<GainDriftRfiTruth>,
    /// Dropped intervals (all-zero spectra).
    #[serde(default)]
    pub dropouts: Vec<DropoutRfiTruth>,
    /// Saturating events.
    #[serde(default)]
    pub saturation: Vec<SaturationRfiTruth>,
}

/// Everything known about a simulated observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// `"tianyan"`.
    pub software: String,
    /// Crate version that made the file.
    pub software_version: String,
    /// Output file this truth describes (as given).
    pub output_file: String,
    /// Output format, `filterbank` or `psrfits`.
    pub format: String,
    /// Observation header as written.
    pub header: Header,
    /// Random seed.
    pub seed: u64,
    /// Dispersion constant used for injection, s MHz² pc⁻¹ cm³.
    pub dm_constant: f64,
    /// Reference frequency of all dispersion delays and arrival times, MHz (top channel centre).
    pub dm_reference_freq_mhz: f64,
    /// Telescope model.
    pub telescope: TelescopeTruth,
    /// Quantisation and clipping.
    pub quantisation: Quantisation,
    /// Injected pulsars.
    pub pulsars: Vec<PulsarTruth>,
    /// Injected single pulses.
    pub bursts: Vec<BurstTruth>,
    /// Injected RFI, if any.
    pub rfi: Option<RfiTruth>,
    /// The simulation configuration, as given (for repeating the run).
    pub config: serde_json::Value,
}

/// The truth-file path for an observation path: `OUT` → `OUT.truth.json`.
pub fn truth_path(observation: &Path) -> std::path::PathBuf {
    let mut s = observation.as_os_str().to_os_string();
    s.push(".truth.json");
    std::path::PathBuf::from(s)
}

/// Writes `truth` as pretty JSON to `path`, atomically.
///
/// # Errors
/// [`IoError::Os`] when the file cannot be written, [`IoError::Format`] if serialisation fails.
pub fn write_truth(path: &Path, truth: &Truth) -> Result<(), IoError> {
    write_truth_staged(path, truth)?.commit()
}

/// Writes `truth` as pretty JSON to a temporary file beside `path` and returns it uncommitted,
/// so it can appear together with its observation ([`super::output::OutputSet`]).
///
/// # Errors
/// As [`write_truth`]; errors name `path`.
pub fn write_truth_staged(path: &Path, truth: &Truth) -> Result<super::output::Staged, IoError> {
    let text =
        serde_json::to_string_pretty(truth).map_err(|e| IoError::format(path, format!("cannot encode truth: {e}")))?;
    let staged = super::output::Staged::new(path);
    std::fs::write(staged.tmp(), text.as_bytes()).map_err(|e| IoError::os(path, e))?;
    Ok(staged)
}

/// Reads a truth file.
///
/// # Errors
/// [`IoError::Os`] when it cannot be read, [`IoError::Format`] when it is not a valid truth file.
pub fn read_truth(path: &Path) -> Result<Truth, IoError> {
    let text = std::fs::read_to_string(path).map_err(|e| IoError::os(path, e))?;
    serde_json::from_str(&text).map_err(|e| IoError::format(path, format!("not a tianyan truth file: {e}")))
}
