//! Radio-frequency interference: a FAST-like model with every component in the truth file.
//!
//! Amplitudes are in units of the per-sample, per-channel radiometer noise σ (see [`super`]).
//! Everything random is drawn once, when the model is built, from the seed (ChaCha8 streams of
//! their own, independent of the noise: one per component), and the per-sample values are pure
//! functions of `(channel, absolute sample)`, so the data do not depend on the chunk, read block
//! or thread count. Components:
//!
//! * **Random narrowband channels** (the original mild model): `round(narrowband_fraction ·
//!   nchans)` random channels (none for a fraction of 0), each adding `A·(1 + sin(2πt/P))`, `A`
//!   uniform in `narrowband_sigma`, `P` uniform in 0.1–10 s (half of them constant: P = 0).
//! * **Persistent emitters** at fixed frequencies ([`EmitterSpec`]; the presets use the
//!   satellite-navigation signals inside FAST's 1000–1500 MHz band, [`gnss_emitters`]). The
//!   spectrum is the main lobe of a BPSK signal, `A·sinc²((f − f₀)/R_c)` for `|f − f₀| < R_c`
//!   (`R_c` the chip rate), taken at each channel centre. The power fluctuates slowly,
//!   `max(0, 1 + d·x(t))` with `x` a unit-variance sum of four sinusoids of periods 1–8 times
//!   `flicker_timescale_s` (satellite motion, multipath). The emitter is itself noise-like: the
//!   radiometer noise grows with the total power, `σ·(1 + P/T)` where `P` is the emitter's power
//!   in the sample and `T = sqrt(n_pol·Δν·t_samp)` the system temperature in σ units (radiometer
//!   equation, Lorimer & Kramer 2005 eq. A1.21), so it adds an independent Gaussian term of
//!   standard deviation `sqrt((1 + P/T)² − 1)`: a strong emitter raises the channel's variance
//!   as a real one does.
//! * **Intermittent narrowband bursts**: a Poisson number (`burst_rate_hz · duration`) of top
//!   hats in time and frequency, start uniform, duration and width log-uniform, centre uniform
//!   in the band, amplitude uniform in `burst_sigma`.
//! * **Broadband impulses at DM 0**: a Poisson number (`impulse_rate_hz · duration`) of top hats
//!   of power at uniform times, duration log-uniform in `impulse_duration_s`, the same in every
//!   channel; amplitude uniform in `impulse_sigma` (`impulse_index` = 0) or a power law
//!   `p(A) ∝ A^−α` between its bounds (`impulse_index` = α > 0; drawn by inverting the CDF).
//!   Each sample gets the amplitude times the fraction of the sample the impulse covers.
//! * **Periodic broadband modulation at DM 0** ([`PeriodicSpec`]): a pulse train of duty cycle
//!   `duty_cycle`, phase `f₀t + ḟt²/2` (all harmonics present), over all or a random contiguous
//!   part of the band: mains (50 Hz) and a 1–20 s periodic drifting by `drift_fraction` of its
//!   frequency over the observation.
//! * **Slow gain drift**: the whole quantised value (system power and signal) multiplied by
//!   `g(t, c) = 1 + Σ a_k sin(2πt/P_k + φ_k)·w_k(c)`, two components the same in every channel
//!   and two that tilt the bandpass (`w(c)` from −1 at the lowest to +1 at the highest
//!   frequency), periods log-uniform in 1–5 times `gain_drift_timescale_s`, RMS
//!   `gain_drift_rms` at the band edges; evaluated at knots every [`KNOT_SAMPLES`] samples and
//!   interpolated linearly.
//! * **Saturation**: rare events of `saturation_sigma` (beyond the 8-bit range's +9.9σ, so the
//!   digitiser clips them at 255) over a random 10–60 MHz sub-band of the aeronautical
//!   radionavigation band 960–1215 MHz (DME/TACAN), duration log-uniform.
//! * **Dropouts**: intervals whose spectra are all zeros (lost packets), which readers treat as
//!   missing data ([`crate::io::is_dropped_spectrum`]).
//!
//! Presets ([`RfiSpec::preset`]): `mild` (the original default: 1 % of channels at 1–4σ, 0.2
//! impulses/s of 1–3σ), `fast-typical` and `fast-heavy`. [`RfiSpec::parse`] reads a preset name
//! or a `key=value,...` spec (see its docs).
use super::noise::{rng_for, splitmix64, DOMAIN_RFI};
use super::{Band, SimError};
use crate::io::truth::{
    DropoutRfiTruth, EmitterRfiTruth, GainDriftRfiTruth, ImpulseRfiTruth, NarrowbandBurstRfiTruth, NarrowbandRfiTruth,
    PeriodicRfiTruth, RfiTruth, SaturationRfiTruth,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Spacing of the knots at which slow functions (emitter fluctuation, gain drift) are evaluated,
/// samples (absolute: knot `k` is sample `k·KNOT_SAMPLES`).
pub const KNOT_SAMPLES: u64 = 64;

/// A persistent narrowband emitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmitterSpec {
    /// Name of the signal.
    pub name: String,
    /// Centre frequency, MHz.
    pub centre_mhz: f64,
    /// Main-lobe half-width (the chip rate of a BPSK signal), MHz.
    pub half_width_mhz: f64,
    /// Added power at the lobe peak, σ.
    pub amplitude_sigma: f64,
    /// Relative RMS of the slow power fluctuation.
    pub flicker_depth: f64,
    /// Shortest fluctuation period, s.
    pub flicker_timescale_s: f64,
}

/// A broadband periodic modulation at DM 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodicSpec {
    /// Name (`mains`, `drifting`).
    pub name: String,
    /// Range of periods, s: the period is drawn log-uniform in it (equal bounds: fixed).
    pub period_s: (f64, f64),
    /// Fractional frequency change over the observation (`ḟ = f₀·drift/duration`).
    pub drift_fraction: f64,
    /// Fraction of each period that is on.
    pub duty_cycle: f64,
    /// Added power while on, per channel, σ.
    pub amplitude_sigma: f64,
    /// Fraction of the band covered (a random contiguous range; 1 = all channels).
    pub band_fraction: f64,
}

/// The satellite-navigation signals inside 1000–1500 MHz, scaled to `peak_sigma`, with their
/// fluctuation depth `flicker` and timescale `timescale_s`.
///
/// Centre frequencies and chip rates (main-lobe half-widths) from the signal specifications:
/// GPS L5 1176.45 MHz, 10.23 Mcps (IS-GPS-705), shared with Galileo E5a (Galileo OS SIS ICD) and
/// BeiDou B2a; Galileo E5b / BeiDou B2b 1207.14 MHz, 10.23 Mcps (Galileo OS SIS ICD); GPS L2
/// 1227.60 MHz, P(Y) code 10.23 Mcps (IS-GPS-200); BeiDou B3I 1268.52 MHz, 10.23 Mcps (BeiDou
/// ICD B3I); GPS L3 (the NUDET payload) 1381.05 MHz, ±10.23 MHz. These are the bands issue 13
/// names as FAST's persistent satellite interference (Zhang et al. 2020, RAA 20, 75; Wang et al.
/// 2021, RAA 21, 18: satellite signals are FAST's main L-band RFI). The relative strengths are
/// illustrative: L3 transmits only intermittently and is the weakest here.
pub fn gnss_emitters(peak_sigma: f64, flicker: f64, timescale_s: f64) -> Vec<EmitterSpec> {
    [
        ("GPS L5 / Galileo E5a / BeiDou B2a", 1176.45, 1.0),
        ("Galileo E5b / BeiDou B2b", 1207.14, 0.8),
        ("GPS L2", 1227.60, 0.6),
        ("BeiDou B3I", 1268.52, 1.0),
        ("GPS L3", 1381.05, 0.4),
    ]
    .into_iter()
    .map(|(name, f, rel)| EmitterSpec {
        name: name.into(),
        centre_mhz: f,
        half_width_mhz: 10.23,
        amplitude_sigma: peak_sigma * rel,
        flicker_depth: flicker,
        flicker_timescale_s: timescale_s,
    })
    .collect()
}

/// RFI settings (serde: written into the truth file's `config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RfiSpec {
    /// Preset this spec started from (`mild`, `fast-typical`, `fast-heavy`), or empty.
    pub preset: String,
    /// Fraction of channels with random narrowband RFI (0: none).
    pub narrowband_fraction: f64,
    /// Range of narrowband amplitudes, σ.
    pub narrowband_sigma: (f64, f64),
    /// Mean rate of broadband impulses, Hz.
    pub impulse_rate_hz: f64,
    /// Range of impulse amplitudes per channel, σ.
    pub impulse_sigma: (f64, f64),
    /// Power-law index α of the impulse amplitudes (`p(A) ∝ A^−α`); 0 = uniform.
    pub impulse_index: f64,
    /// Range of impulse durations, s.
    pub impulse_duration_s: (f64, f64),
    /// Persistent emitters at fixed frequencies.
    pub emitters: Vec<EmitterSpec>,
    /// Mean rate of intermittent narrowband bursts, Hz.
    pub burst_rate_hz: f64,
    /// Range of burst amplitudes, σ.
    pub burst_sigma: (f64, f64),
    /// Range of burst durations, s (log-uniform).
    pub burst_duration_s: (f64, f64),
    /// Range of burst widths, MHz (log-uniform).
    pub burst_width_mhz: (f64, f64),
    /// Broadband periodic modulations.
    pub periodic: Vec<PeriodicSpec>,
    /// RMS of the gain drift at the band edges (fraction; 0: none).
    pub gain_drift_rms: f64,
    /// Shortest gain-drift period, s.
    pub gain_drift_timescale_s: f64,
    /// Mean rate of dropouts, Hz.
    pub dropout_rate_hz: f64,
    /// Range of dropout durations, s (log-uniform).
    pub dropout_duration_s: (f64, f64),
    /// Mean rate of saturating events, Hz.
    pub saturation_rate_hz: f64,
    /// Range of saturating-event durations, s (log-uniform).
    pub saturation_duration_s: (f64, f64),
    /// Power of a saturating event, σ.
    pub saturation_sigma: f64,
}

impl Default for RfiSpec {
    /// The `mild` preset: 1 % of channels at 1–4 σ (peaks ≤ 8 σ, inside the 8-bit range); 0.2
    /// impulses per second of 1–3 σ per channel lasting 1–20 ms; nothing else.
    fn default() -> Self {
        RfiSpec {
            preset: String::new(),
            narrowband_fraction: 0.01,
            narrowband_sigma: (1.0, 4.0),
            impulse_rate_hz: 0.2,
            impulse_sigma: (1.0, 3.0),
            impulse_index: 0.0,
            impulse_duration_s: (1e-3, 2e-2),
            emitters: Vec::new(),
            burst_rate_hz: 0.0,
            burst_sigma: (2.0, 6.0),
            burst_duration_s: (0.5, 5.0),
            burst_width_mhz: (0.5, 4.0),
            periodic: Vec::new(),
            gain_drift_rms: 0.0,
            gain_drift_timescale_s: 10.0,
            dropout_rate_hz: 0.0,
            dropout_duration_s: (5e-3, 5e-2),
            saturation_rate_hz: 0.0,
            saturation_duration_s: (1e-3, 3e-2),
            saturation_sigma: 40.0,
        }
    }
}

/// Preset names accepted by [`RfiSpec::preset`].
pub const PRESETS: [&str; 3] = ["mild", "fast-typical", "fast-heavy"];

fn mains(amplitude_sigma: f64) -> PeriodicSpec {
    // 50 Hz (China's grid frequency); a 30 % duty cycle gives every harmonic.
    PeriodicSpec {
        name: "mains".into(),
        period_s: (0.02, 0.02),
        drift_fraction: 0.0,
        duty_cycle: 0.3,
        amplitude_sigma,
        band_fraction: 1.0,
    }
}

fn drifting(amplitude_sigma: f64, drift_fraction: f64) -> PeriodicSpec {
    PeriodicSpec {
        name: "drifting".into(),
        period_s: (1.0, 20.0),
        drift_fraction,
        duty_cycle: 0.1,
        amplitude_sigma,
        band_fraction: 0.3,
    }
}

impl RfiSpec {
    /// A named preset.
    ///
    /// * `mild`: [`RfiSpec::default`] (plain `--rfi`).
    /// * `fast-typical`: the five GNSS emitters ([`gnss_emitters`], 3σ peak, 30 % fluctuation on
    ///   5 s and longer), 0.1 narrowband bursts/s (2–6σ, 0.5–5 s, 0.5–4 MHz), 0.3 impulses/s
    ///   with a power law α = 2.5 between 1 and 60σ (1–20 ms), 50 Hz mains at 0.03σ, a 1–20 s
    ///   periodic at 0.02σ on 30 % of the band drifting 2 % (just below detection on issue 13's
    ///   30 s case; 0.03σ is found at σ 9.8), 1 % gain drift (timescale 10 s),
    ///   0.05 dropouts/s (5–50 ms) and 0.01 saturating events/s.
    /// * `fast-heavy`: GNSS at 8σ with 50 % fluctuation on 2 s and longer, 0.2 bursts/s at 3–12σ, 1 impulse/s from
    ///   2 to 200σ (α = 2), mains at 0.1σ, the drifting periodic at 0.5σ drifting 5 %, 3 % gain
    ///   drift (5 s), 0.05 dropouts/s and 0.05 saturating events/s.
    ///
    /// # Errors
    /// [`SimError::Config`] for an unknown name, listing the known ones.
    pub fn preset(name: &str) -> Result<RfiSpec, SimError> {
        let mut s = match name {
            "mild" => RfiSpec::default(),
            "fast-typical" => RfiSpec {
                narrowband_fraction: 0.0,
                impulse_rate_hz: 0.3,
                impulse_sigma: (1.0, 60.0),
                impulse_index: 2.5,
                emitters: gnss_emitters(3.0, 0.3, 5.0),
                burst_rate_hz: 0.1,
                burst_sigma: (2.0, 6.0),
                periodic: vec![mains(0.03), drifting(0.02, 0.02)],
                gain_drift_rms: 0.01,
                gain_drift_timescale_s: 10.0,
                dropout_rate_hz: 0.05,
                saturation_rate_hz: 0.01,
                ..RfiSpec::default()
            },
            "fast-heavy" => RfiSpec {
                narrowband_fraction: 0.0,
                impulse_rate_hz: 1.0,
                impulse_sigma: (2.0, 200.0),
                impulse_index: 2.0,
                emitters: gnss_emitters(8.0, 0.5, 2.0),
                burst_rate_hz: 0.2,
                burst_sigma: (3.0, 12.0),
                periodic: vec![mains(0.1), drifting(0.5, 0.05)],
                gain_drift_rms: 0.03,
                gain_drift_timescale_s: 5.0,
                dropout_rate_hz: 0.05,
                saturation_rate_hz: 0.05,
                ..RfiSpec::default()
            },
            _ => {
                return Err(SimError::Config(format!(
                    "unknown RFI preset '{name}' (known: {}; or a key=value spec)",
                    PRESETS.join(", ")
                )))
            }
        };
        s.preset = name.into();
        Ok(s)
    }

    /// Parses the command-line form: a preset name (`mild`, `fast-typical`, `fast-heavy`), or
    /// `key=value,...` starting from `preset=NAME` if given (else from `mild`). Keys:
    /// `preset`; `narrowband` (fraction of channels), `narrowband_sigma=LO:HI`;
    /// `impulse_rate` (Hz), `impulse_sigma=LO:HI`, `impulse_index` (α, 0 = uniform),
    /// `impulse_duration=LO:HI` (s); `gnss=PEAK` (σ; replaces the emitters by the five GNSS
    /// signals at that peak, 0 removes them), `flicker=DEPTH`, `flicker_time=S`;
    /// `burst_rate` (Hz), `burst_sigma=LO:HI`, `burst_duration=LO:HI` (s), `burst_width=LO:HI`
    /// (MHz); `mains=SIGMA` (50 Hz; 0 removes), `periodic=SIGMA` (the drifting 1–20 s one; 0
    /// removes), `periodic_period=LO:HI` (s), `periodic_drift=FRACTION`; `gain_drift=RMS`,
    /// `gain_time=S`; `dropout_rate` (Hz), `dropout_duration=LO:HI`; `saturation_rate` (Hz),
    /// `saturation_sigma`. A single number where a range is asked fixes both ends.
    ///
    /// # Errors
    /// [`SimError::Config`] naming the spec and the offending key (unknown key or preset, bad
    /// number, out-of-range value).
    pub fn parse(spec: &str) -> Result<RfiSpec, SimError> {
        let spec_t = spec.trim();
        if !spec_t.contains('=') {
            return RfiSpec::preset(if spec_t.is_empty() { "mild" } else { spec_t });
        }
        let pairs = super::pulsar::split_spec(spec_t)?;
        let base = pairs.iter().find(|(k, _)| k == "preset").map(|(_, v)| v.as_str()).unwrap_or("mild");
        let mut s = RfiSpec::preset(base)?;
        if !pairs.iter().any(|(k, _)| k == "preset") {
            s.preset.clear();
        }
        let bad = |k: &str, v: &str, why: &str| SimError::Config(format!("'{k}={v}' in RFI spec \"{spec}\": {why}"));
        let (mut flicker, mut flicker_time) = (None, None);
        for (k, v) in &pairs {
            let num = |x: &str| -> Result<f64, SimError> {
                x.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| bad(k, v, "not a finite number >= 0"))
            };
            let range = || -> Result<(f64, f64), SimError> {
                let (a, b) = match v.split_once(':') {
                    Some((a, b)) => (num(a)?, num(b)?),
                    None => (num(v)?, num(v)?),
                };
                if a > b {
                    return Err(bad(k, v, "the range's low end is above its high end"));
                }
                Ok((a, b))
            };
            let periodic =
                |s: &mut RfiSpec, name: &str| -> Option<usize> { s.periodic.iter().position(|p| p.name == name) };
            match k.as_str() {
                "preset" => {}
                "narrowband" => s.narrowband_fraction = num(v)?,
                "narrowband_sigma" => s.narrowband_sigma = range()?,
                "impulse_rate" => s.impulse_rate_hz = num(v)?,
                "impulse_sigma" => s.impulse_sigma = range()?,
                "impulse_index" => s.impulse_index = num(v)?,
                "impulse_duration" => s.impulse_duration_s = range()?,
                "gnss" => {
                    let a = num(v)?;
                    s.emitters = if a > 0.0 { gnss_emitters(a, 0.3, 5.0) } else { Vec::new() };
                }
                "flicker" => flicker = Some(num(v)?),
                "flicker_time" => flicker_time = Some(num(v)?),
                "burst_rate" => s.burst_rate_hz = num(v)?,
                "burst_sigma" => s.burst_sigma = range()?,
                "burst_duration" => s.burst_duration_s = range()?,
                "burst_width" => s.burst_width_mhz = range()?,
                "mains" => {
                    let a = num(v)?;
                    s.periodic.retain(|p| p.name != "mains");
                    if a > 0.0 {
                        s.periodic.push(mains(a));
                    }
                }
                "periodic" => {
                    let a = num(v)?;
                    match periodic(&mut s, "drifting") {
                        Some(i) if a > 0.0 => s.periodic[i].amplitude_sigma = a,
                        Some(i) => {
                            s.periodic.remove(i);
                        }
                        None if a > 0.0 => s.periodic.push(drifting(a, 0.02)),
                        None => {}
                    }
                }
                "periodic_period" | "periodic_drift" => {
                    let i = periodic(&mut s, "drifting")
                        .ok_or_else(|| bad(k, v, "no drifting periodic (give periodic= first)"))?;
                    if k == "periodic_period" {
                        s.periodic[i].period_s = range()?;
                    } else {
                        s.periodic[i].drift_fraction = num(v)?;
                    }
                }
                "gain_drift" => s.gain_drift_rms = num(v)?,
                "gain_time" => s.gain_drift_timescale_s = num(v)?,
                "dropout_rate" => s.dropout_rate_hz = num(v)?,
                "dropout_duration" => s.dropout_duration_s = range()?,
                "saturation_rate" => s.saturation_rate_hz = num(v)?,
                "saturation_sigma" => s.saturation_sigma = num(v)?,
                _ => {
                    return Err(bad(
                        k,
                        v,
                        "unknown key (known: preset, narrowband, narrowband_sigma, impulse_rate, impulse_sigma, \
                         impulse_index, impulse_duration, gnss, flicker, flicker_time, burst_rate, burst_sigma, \
                         burst_duration, burst_width, mains, periodic, periodic_period, periodic_drift, gain_drift, \
                         gain_time, dropout_rate, dropout_duration, saturation_rate, saturation_sigma)",
                    ))
                }
            }
        }
        for e in &mut s.emitters {
            if let Some(d) = flicker {
                e.flicker_depth = d;
            }
            if let Some(t) = flicker_time {
                e.flicker_timescale_s = t;
            }
        }
        s.validate().map_err(|e| SimError::Config(format!("RFI spec \"{spec}\": {e}")))?;
        Ok(s)
    }

    /// Checks ranges (durations, widths and timescales > 0 where their component is on, duty
    /// cycles and fractions in range).
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn validate(&self) -> Result<(), String> {
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !(0.0..=1.0).contains(&self.narrowband_fraction) {
            return Err(format!("narrowband fraction {} must be within 0–1", self.narrowband_fraction));
        }
        if self.impulse_rate_hz > 0.0 && !(pos(self.impulse_duration_s.0) && pos(self.impulse_sigma.0)) {
            return Err("impulse durations and amplitudes must be > 0".into());
        }
        if self.burst_rate_hz > 0.0 && !(pos(self.burst_duration_s.0) && pos(self.burst_width_mhz.0)) {
            return Err("burst durations and widths must be > 0".into());
        }
        for e in &self.emitters {
            if !(pos(e.centre_mhz) && pos(e.half_width_mhz) && pos(e.flicker_timescale_s)) || e.flicker_depth < 0.0 {
                return Err(format!("emitter '{}': centre, width and flicker time must be > 0", e.name));
            }
        }
        for p in &self.periodic {
            if !(pos(p.period_s.0) && p.period_s.1 >= p.period_s.0) {
                return Err(format!("periodic '{}': periods must be > 0", p.name));
            }
            if !(p.duty_cycle > 0.0 && p.duty_cycle < 1.0 && p.band_fraction > 0.0 && p.band_fraction <= 1.0) {
                return Err(format!("periodic '{}': duty cycle and band fraction must be within 0–1", p.name));
            }
        }
        if self.gain_drift_rms > 0.0 && !(self.gain_drift_rms < 0.5 && pos(self.gain_drift_timescale_s)) {
            return Err("gain drift RMS must be below 0.5 and its timescale > 0".into());
        }
        if self.dropout_rate_hz > 0.0 && !pos(self.dropout_duration_s.0) {
            return Err("dropout durations must be > 0".into());
        }
        if self.saturation_rate_hz > 0.0 && !pos(self.saturation_duration_s.0) {
            return Err("saturation durations must be > 0".into());
        }
        Ok(())
    }
}

/// Uniform in `[a, b)` (`a` when the range is empty).
fn uniform(rng: &mut ChaCha8Rng, (a, b): (f64, f64)) -> f64 {
    if b > a {
        rng.gen_range(a..b)
    } else {
        a
    }
}

/// Log-uniform in `[a, b)`.
fn log_uniform(rng: &mut ChaCha8Rng, (a, b): (f64, f64)) -> f64 {
    if b > a && a > 0.0 {
        (a.ln() + rng.gen::<f64>() * (b.ln() - a.ln())).exp()
    } else {
        a
    }
}

/// A Poisson count of mean `mean` (0 for a non-positive mean).
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> usize {
    if mean > 0.0 {
        Poisson::new(mean).map(|p| p.sample(rng) as usize).unwrap_or(0)
    } else {
        0
    }
}

/// Channels (file order) whose centres lie in `[lo, hi]` MHz, first and last; `None` if none.
fn channels_in(freqs: &[f64], lo: f64, hi: f64) -> Option<(usize, usize)> {
    let inside: Vec<usize> = (0..freqs.len()).filter(|&c| freqs[c] >= lo && freqs[c] <= hi).collect();
    Some((*inside.first()?, *inside.last()?))
}

/// A standard-normal-like deviate that is a pure function of `(key, channel, sample)`: the
/// Irwin–Hall sum of four 16-bit uniforms from one SplitMix64 output, scaled to unit variance
/// (its tails end at ±3.46σ, ample for the small extra noise of an emitter).
#[inline]
fn hash_normal(key: u64, c: usize, j: u64) -> f32 {
    let mut st = key ^ (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ j.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    let z = splitmix64(&mut st);
    let s = (z & 0xFFFF) + ((z >> 16) & 0xFFFF) + ((z >> 32) & 0xFFFF) + (z >> 48);
    ((s as f64 / 65536.0 - 2.0) * 3f64.sqrt()) as f32
}

/// Fills `out[k]` with `f` at sample `j0 + k`, interpolated linearly between knots at multiples
/// of [`KNOT_SAMPLES`] (times at sample centres).
fn knots_into(j0: u64, out: &mut [f32], tsamp: f64, f: impl Fn(f64) -> f64) {
    if out.is_empty() {
        return;
    }
    let k0 = j0 / KNOT_SAMPLES;
    let k1 = (j0 + out.len() as u64).div_ceil(KNOT_SAMPLES);
    let vals: Vec<f64> = (k0..=k1).map(|k| f((k * KNOT_SAMPLES) as f64 * tsamp + 0.5 * tsamp)).collect();
    for (i, v) in out.iter_mut().enumerate() {
        let j = j0 + i as u64;
        let k = (j / KNOT_SAMPLES - k0) as usize;
        let w = (j % KNOT_SAMPLES) as f64 / KNOT_SAMPLES as f64;
        *v = (vals[k] * (1.0 - w) + vals[k + 1] * w) as f32;
    }
}

/// An emitter as placed: truth plus per-channel weights.
#[derive(Debug, Clone)]
struct Emitter {
    /// `(amplitudes of the 4 unit-variance components)`: each `sqrt(1/2)` so the sum has unit variance.
    comps: Vec<(f64, f64)>,
    depth: f64,
}

impl Emitter {
    fn power(&self, t: f64) -> f64 {
        let x: f64 = self.comps.iter().map(|&(p, ph)| (2.0 * PI * t / p + ph).sin()).sum::<f64>() * 0.5f64.sqrt();
        (1.0 + self.depth * x).max(0.0)
    }
}

/// RFI placed in one observation.
#[derive(Debug, Clone)]
pub(crate) struct RfiModel {
    pub truth: RfiTruth,
    /// Per channel: index into `truth.narrowband`, if any.
    nb_of: Vec<Option<usize>>,
    /// Per channel: `(emitter index, peak amplitude in this channel σ)`.
    em_of: Vec<Vec<(usize, f64)>>,
    emitters: Vec<Emitter>,
    /// System noise in σ units, `sqrt(n_pol·Δν·t_samp)`.
    tsys_sigma: f64,
    /// Key of the emitters' self-noise.
    noise_key: u64,
    /// Per channel: the bandpass-tilt weight of the gain drift, −1 (lowest f) … +1 (highest).
    tilt: Vec<f64>,
    tsamp: f64,
}

impl RfiModel {
    /// Places the RFI of `spec` in `band` (all draws from `seed`, see the module docs).
    pub(crate) fn new(spec: &RfiSpec, band: &Band, seed: u64) -> Self {
        let nchans = band.freqs.len();
        let tsamp = band.tsamp_s;
        let duration = band.duration_s;
        let freqs = &band.freqs;
        // The original stream (domain RFI, index 0): unchanged draws for the mild model.
        let mut rng = rng_for(seed, DOMAIN_RFI, 0, 0);
        let narrowband: Vec<NarrowbandRfiTruth> = if spec.narrowband_fraction > 0.0 {
            let nnb = ((spec.narrowband_fraction * nchans as f64).round() as usize).clamp(1, nchans);
            let mut chans: Vec<usize> = rand::seq::index::sample(&mut rng, nchans, nnb).into_vec();
            chans.sort_unstable();
            chans
                .iter()
                .map(|&c| NarrowbandRfiTruth {
                    channel: c,
                    amplitude_sigma: uniform(&mut rng, spec.narrowband_sigma),
                    modulation_period_s: if rng.gen_bool(0.5) { rng.gen_range(0.1..10.0) } else { 0.0 },
                })
                .collect()
        } else {
            Vec::new()
        };
        let count = poisson(&mut rng, spec.impulse_rate_hz * duration);
        let mut impulses: Vec<ImpulseRfiTruth> = (0..count)
            .map(|_| {
                let d = log_uniform(&mut rng, spec.impulse_duration_s);
                let time_s = rng.gen::<f64>() * duration;
                let (lo, hi) = spec.impulse_sigma;
                let amplitude_sigma = if spec.impulse_index > 0.0 && hi > lo && lo > 0.0 {
                    let u: f64 = rng.gen();
                    let a = spec.impulse_index;
                    if (a - 1.0).abs() < 1e-12 {
                        lo * (hi / lo).powf(u)
                    } else {
                        let e = 1.0 - a;
                        (lo.powf(e) + u * (hi.powf(e) - lo.powf(e))).powf(1.0 / e)
                    }
                } else {
                    uniform(&mut rng, spec.impulse_sigma)
                };
                ImpulseRfiTruth { time_s, duration_s: d, amplitude_sigma }
            })
            .collect();
        impulses.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        let mut nb_of = vec![None; nchans];
        for (i, n) in narrowband.iter().enumerate() {
            nb_of[n.channel] = Some(i);
        }

        // Emitters (stream 1).
        let mut rng = rng_for(seed, DOMAIN_RFI, 1, 0);
        let mut em_of = vec![Vec::new(); nchans];
        let mut emitters = Vec::new();
        let mut em_truth = Vec::new();
        for (i, e) in spec.emitters.iter().enumerate() {
            let comps: Vec<(f64, f64)> = (0..4)
                .map(|_| {
                    let p = log_uniform(&mut rng, (e.flicker_timescale_s, 8.0 * e.flicker_timescale_s));
                    (p, rng.gen::<f64>() * 2.0 * PI)
                })
                .collect();
            let chans = channels_in(freqs, e.centre_mhz - e.half_width_mhz, e.centre_mhz + e.half_width_mhz);
            for (c, &f) in freqs.iter().enumerate() {
                let x = (f - e.centre_mhz) / e.half_width_mhz;
                if x.abs() < 1.0 {
                    let s = if x == 0.0 { 1.0 } else { ((PI * x).sin() / (PI * x)).powi(2) };
                    em_of[c].push((i, e.amplitude_sigma * s));
                }
            }
            em_truth.push(EmitterRfiTruth {
                name: e.name.clone(),
                centre_mhz: e.centre_mhz,
                half_width_mhz: e.half_width_mhz,
                amplitude_sigma: e.amplitude_sigma,
                flicker_depth: e.flicker_depth,
                flicker_timescale_s: e.flicker_timescale_s,
                flicker_components: comps.clone(),
                channels: chans,
            });
            emitters.push(Emitter { comps, depth: e.flicker_depth });
        }
        let noise_key = rng.gen::<u64>();

        // Narrowband bursts (stream 2).
        let mut rng = rng_for(seed, DOMAIN_RFI, 2, 0);
        let (flo, fhi) = (
            freqs.iter().copied().fold(f64::INFINITY, f64::min) - 0.5 * band.chan_bw_mhz,
            freqs.iter().copied().fold(f64::NEG_INFINITY, f64::max) + 0.5 * band.chan_bw_mhz,
        );
        let mut bursts = Vec::new();
        for _ in 0..poisson(&mut rng, spec.burst_rate_hz * duration) {
            let d = log_uniform(&mut rng, spec.burst_duration_s);
            let t = rng.gen::<f64>() * (duration + d) - d;
            let w = log_uniform(&mut rng, spec.burst_width_mhz);
            let f0 = flo + rng.gen::<f64>() * (fhi - flo);
            let a = uniform(&mut rng, spec.burst_sigma);
            // At least the nearest channel: a burst narrower than a channel still lands in one.
            let chans = channels_in(freqs, f0 - 0.5 * w, f0 + 0.5 * w).unwrap_or_else(|| {
                let c =
                    (0..nchans).min_by(|&a, &b| (freqs[a] - f0).abs().total_cmp(&(freqs[b] - f0).abs())).unwrap_or(0);
                (c, c)
            });
            bursts.push(NarrowbandBurstRfiTruth {
                time_s: t,
                duration_s: d,
                fmin_mhz: f0 - 0.5 * w,
                fmax_mhz: f0 + 0.5 * w,
                channels: chans,
                amplitude_sigma: a,
            });
        }
        bursts.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));

        // Periodic modulations (stream 3).
        let mut rng = rng_for(seed, DOMAIN_RFI, 3, 0);
        let periodic: Vec<PeriodicRfiTruth> = spec
            .periodic
            .iter()
            .map(|p| {
                let period = log_uniform(&mut rng, p.period_s);
                let n = ((p.band_fraction * nchans as f64).round() as usize).clamp(1, nchans.max(1));
                let first = if n < nchans { rng.gen_range(0..=nchans - n) } else { 0 };
                PeriodicRfiTruth {
                    name: p.name.clone(),
                    frequency_hz: 1.0 / period,
                    fdot_hz_per_s: p.drift_fraction / period / duration,
                    duty_cycle: p.duty_cycle,
                    amplitude_sigma: p.amplitude_sigma,
                    channels: (first, first + n - 1),
                }
            })
            .collect();

        // Gain drift (stream 4).
        let mut rng = rng_for(seed, DOMAIN_RFI, 4, 0);
        let gain_drift = (spec.gain_drift_rms > 0.0).then(|| {
            // Two global and two tilt sinusoids of amplitude a: RMS a·sqrt(2) at the band edges.
            let a = spec.gain_drift_rms / 2f64.sqrt();
            let t = spec.gain_drift_timescale_s;
            GainDriftRfiTruth {
                rms_fraction: spec.gain_drift_rms,
                components: [false, false, true, true]
                    .into_iter()
                    .map(|tilt| (a, log_uniform(&mut rng, (t, 5.0 * t)), rng.gen::<f64>() * 2.0 * PI, tilt))
                    .collect(),
            }
        });
        let tilt: Vec<f64> = if fhi > flo {
            freqs.iter().map(|&f| 2.0 * (f - flo) / (fhi - flo) - 1.0).collect()
        } else {
            vec![0.0; nchans]
        };

        // Dropouts (stream 5).
        let mut rng = rng_for(seed, DOMAIN_RFI, 5, 0);
        let nsamp = band.nsamples;
        let mut dropouts: Vec<DropoutRfiTruth> = (0..poisson(&mut rng, spec.dropout_rate_hz * duration))
            .map(|_| {
                let d = log_uniform(&mut rng, spec.dropout_duration_s);
                let first = ((rng.gen::<f64>() * duration / tsamp) as u64).min(nsamp.saturating_sub(1));
                let n = ((d / tsamp).round() as u64).max(1).min(nsamp - first);
                DropoutRfiTruth { first_sample: first, nsamples: n }
            })
            .collect();
        dropouts.sort_by_key(|d| d.first_sample);

        // Saturation (stream 6): DME/TACAN band 960–1215 MHz.
        let mut rng = rng_for(seed, DOMAIN_RFI, 6, 0);
        let mut saturation = Vec::new();
        for _ in 0..poisson(&mut rng, spec.saturation_rate_hz * duration) {
            let d = log_uniform(&mut rng, spec.saturation_duration_s);
            let t = rng.gen::<f64>() * duration;
            let w = uniform(&mut rng, (10.0, 60.0));
            let lo = 960.0 + rng.gen::<f64>() * (1215.0 - 960.0 - w);
            if let Some(ch) = channels_in(freqs, lo, lo + w) {
                saturation.push(SaturationRfiTruth {
                    time_s: t,
                    duration_s: d,
                    channels: ch,
                    amplitude_sigma: spec.saturation_sigma,
                });
            }
        }

        let tsys_sigma = (band.npol * band.chan_bw_mhz * 1e6 * tsamp).sqrt();
        RfiModel {
            truth: RfiTruth {
                narrowband,
                impulses,
                preset: spec.preset.clone(),
                impulse_amplitude_index: spec.impulse_index,
                emitters: em_truth,
                narrowband_bursts: bursts,
                periodic,
                gain_drift,
                dropouts,
                saturation,
            },
            nb_of,
            em_of,
            emitters,
            tsys_sigma,
            noise_key,
            tilt,
            tsamp,
        }
    }

    /// Adds a top hat `[a, b)` s of `amp` σ to `out` (samples from `j0`), weighting each sample
    /// by the fraction of it covered.
    fn add_tophat(&self, j0: u64, out: &mut [f32], a: f64, b: f64, amp: f64) {
        let t = self.tsamp;
        let (t0, t1) = (j0 as f64 * t, (j0 + out.len() as u64) as f64 * t);
        if b <= t0 || a >= t1 {
            return;
        }
        let k0 = ((a - t0) / t).floor().max(0.0) as usize;
        let k1 = (((b - t0) / t).ceil() as usize).min(out.len());
        for (k, v) in out.iter_mut().enumerate().take(k1).skip(k0) {
            let s0 = t0 + k as f64 * t;
            let cover = (b.min(s0 + t) - a.max(s0)).max(0.0) / t;
            *v += (amp * cover) as f32;
        }
    }

    /// Adds the additive RFI (σ units) to channel `c`, samples `j0 ..`.
    pub(crate) fn add_to_channel(&self, c: usize, j0: u64, out: &mut [f32]) {
        let t = self.tsamp;
        if let Some(i) = self.nb_of[c] {
            let nb = &self.truth.narrowband[i];
            for (k, v) in out.iter_mut().enumerate() {
                let tm = (j0 + k as u64) as f64 * t + 0.5 * t;
                let m = if nb.modulation_period_s > 0.0 {
                    1.0 + (2.0 * PI * tm / nb.modulation_period_s).sin()
                } else {
                    1.0
                };
                *v += (nb.amplitude_sigma * m) as f32;
            }
        }
        for imp in &self.truth.impulses {
            self.add_tophat(j0, out, imp.time_s, imp.time_s + imp.duration_s, imp.amplitude_sigma);
        }
        if !self.em_of[c].is_empty() {
            let mut p = vec![0f32; out.len()];
            let mut total = vec![0f32; out.len()];
            for &(i, amp) in &self.em_of[c] {
                let e = &self.emitters[i];
                knots_into(j0, &mut p, t, |tm| amp * e.power(tm));
                total.iter_mut().zip(&p).for_each(|(a, &b)| *a += b);
            }
            let inv_t = (1.0 / self.tsys_sigma) as f32;
            for (k, (v, &pw)) in out.iter_mut().zip(&total).enumerate() {
                let r = pw * inv_t;
                *v += pw + (2.0 * r + r * r).sqrt() * hash_normal(self.noise_key, c, j0 + k as u64);
            }
        }
        for b in &self.truth.narrowband_bursts {
            if (b.channels.0..=b.channels.1).contains(&c) {
                self.add_tophat(j0, out, b.time_s, b.time_s + b.duration_s, b.amplitude_sigma);
            }
        }
        for p in &self.truth.periodic {
            if !(p.channels.0..=p.channels.1).contains(&c) {
                continue;
            }
            let amp = p.amplitude_sigma as f32;
            for (k, v) in out.iter_mut().enumerate() {
                let tm = (j0 + k as u64) as f64 * t + 0.5 * t;
                let ph = tm * (p.frequency_hz + 0.5 * p.fdot_hz_per_s * tm);
                if ph - ph.floor() < p.duty_cycle {
                    *v += amp;
                }
            }
        }
        for s in &self.truth.saturation {
            if (s.channels.0..=s.channels.1).contains(&c) {
                self.add_tophat(j0, out, s.time_s, s.time_s + s.duration_s, s.amplitude_sigma);
            }
        }
    }

    /// The gain-drift multiplier of channel `c` at samples `j0 ..` into `out`; false (and `out`
    /// untouched) when there is no gain drift.
    pub(crate) fn gain_curve(&self, c: usize, j0: u64, out: &mut [f32]) -> bool {
        let Some(g) = &self.truth.gain_drift else { return false };
        let w = self.tilt[c];
        knots_into(j0, out, self.tsamp, |tm| {
            1.0 + g
                .components
                .iter()
                .map(|&(a, p, ph, tilt)| a * (2.0 * PI * tm / p + ph).sin() * if tilt { w } else { 1.0 })
                .sum::<f64>()
        });
        true
    }

    /// Zeroes the dropped samples of `out` (samples `j0 ..`, one channel, after quantisation).
    pub(crate) fn apply_dropouts(&self, j0: u64, out: &mut [f32]) {
        let j1 = j0 + out.len() as u64;
        for d in &self.truth.dropouts {
            let (a, b) = (d.first_sample.max(j0), (d.first_sample + d.nsamples).min(j1));
            if a < b {
                out[(a - j0) as usize..(b - j0) as usize].iter_mut().for_each(|v| *v = 0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_specs_parse() {
        assert_eq!(RfiSpec::parse("").unwrap(), RfiSpec { preset: "mild".into(), ..RfiSpec::default() });
        let t = RfiSpec::parse("fast-typical").unwrap();
        assert_eq!(t.emitters.len(), 5);
        let s = RfiSpec::parse("preset=fast-heavy,mains=0,impulse_sigma=3:30,gnss=2").unwrap();
        assert!(s.periodic.iter().all(|p| p.name != "mains"));
        assert_eq!(s.impulse_sigma, (3.0, 30.0));
        assert!((s.emitters[0].amplitude_sigma - 2.0).abs() < 1e-12);
        let e = RfiSpec::parse("impulse_rate=-1").unwrap_err().to_string();
        assert!(e.contains("impulse_rate=-1"), "{e}");
        let e = RfiSpec::parse("fast-typo").unwrap_err().to_string();
        assert!(e.contains("fast-typical"), "{e}");
        let e = RfiSpec::parse("impulse_sigma=5:1").unwrap_err().to_string();
        assert!(e.contains("low end"), "{e}");
        assert!(RfiSpec::parse("bogus=1").is_err());
    }

    /// The power-law amplitudes follow `p(A) ∝ A^−α`: for α = 2.5 on [1, 60] the fraction above
    /// 2 is `(2^−1.5 − 60^−1.5)/(1 − 60^−1.5)` = 0.3506.
    #[test]
    fn impulse_amplitudes_follow_the_power_law() {
        let spec =
            RfiSpec { impulse_rate_hz: 2000.0, impulse_sigma: (1.0, 60.0), impulse_index: 2.5, ..RfiSpec::default() };
        let band = Band {
            freqs: vec![1400.0],
            chan_bw_mhz: 1.0,
            ftop_mhz: 1400.0,
            tsamp_s: 1e-3,
            nsamples: 10_000,
            duration_s: 10.0,
            sigma_mjy: 1.0,
            spectral_ref_mhz: 1400.0,
            tsys_k: 20.0,
            gain_k_per_jy: 16.0,
            npol: 2.0,
            bandwidth_hz: 1e6,
        };
        let m = RfiModel::new(&spec, &band, 1);
        let n = m.truth.impulses.len() as f64;
        assert!(n > 19_000.0);
        let above = m.truth.impulses.iter().filter(|i| i.amplitude_sigma > 2.0).count() as f64 / n;
        let want = (2f64.powf(-1.5) - 60f64.powf(-1.5)) / (1.0 - 60f64.powf(-1.5));
        // Binomial standard error sqrt(p(1−p)/n) ≈ 0.0034 at n = 20 000; 4 of them.
        assert!((above - want).abs() < 4.0 * (want * (1.0 - want) / n).sqrt(), "{above} vs {want}");
        assert!(m.truth.impulses.iter().all(|i| (1.0..=60.0).contains(&i.amplitude_sigma)));
    }
}
