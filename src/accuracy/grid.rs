//! The injection grid of `tianyan accuracy`: built-in profiles and the TOML file that overrides them.
//!
//! Every key is optional in a grid file; a missing key keeps the profile's value. Keys:
//!
//! | key | meaning | default | ci |
//! |---|---|---|---|
//! | `preset` | telescope preset | `fast-l-band-lite` | same |
//! | `duration_s` | observation length, s | 60 | 20 |
//! | `nbits` | bits per sample | 8 | 8 |
//! | `snr` | injected expected folded S/N values | 6, 8, 10, 12, 15, 20 | 10, 15 |
//! | `duty_cycle` | Gaussian FWHM / period values | 0.025, 0.05, 0.1, 0.2 | 0.025, 0.05, 0.1 |
//! | `period_s` | nominal periods, s (each seed shifts the frequency by a random fraction of a Fourier bin) | 0.2531 | 0.2531 |
//! | `dm` | injected DMs, pc cm⁻³ | 60 | 60 |
//! | `nchans` | channel counts | 1024 | 256 |
//! | `tsamp_s` | sampling times, s | 3.93216e-4 | 3.93216e-4 |
//! | `seeds` | injections per grid point (K) | 4 | 5 |
//! | `noise_runs` | pure-noise observations (first `nchans`/`tsamp_s` of the lists) | 8 | 3 |
//! | `base_seed` | seed mixed into every injection's seed | 1 | 1 |
//! | `dm_max` | highest DM searched | 120 | 100 |
//! | `nharm` | most harmonics summed | 16 | 16 |
//! | `sigma_threshold` | detection threshold (trials-corrected σ) | 6 | 6 |
//! | `fmin_hz`, `fmax_hz` | searched fundamental range | 0.5, 500 | same |
//! | `noise_probe_sigma` | reporting threshold of the pure-noise searches | −2 | −2 |
//! | `match_tol_bins` | frequency match tolerance, Fourier bins | 2 | 2 |
//! | `match_max_harmonic` | harmonics and sub-harmonics h ≤ this are matches | 16 | 16 |
//! | `match_dm_steps`, `match_dm_frac`, `match_dm_widths` | DM tolerance max(steps × local trial spacing, frac × DM, widths × the DM error whose band sweep equals the pulse FWHM) | 2, 0.05, 1 | same |
//! | `jobs` | injections run at once (1 = one at a time with a parallel search) | 1 | 1 |

use serde::{Deserialize, Serialize};

/// The whole accuracy-run configuration (a profile, possibly overridden by a TOML file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GridConfig {
    /// Telescope preset of the simulator.
    pub preset: String,
    /// Observation length, s.
    pub duration_s: f64,
    /// Bits per sample.
    pub nbits: u32,
    /// Injected expected folded S/N values (simulator definition).
    pub snr: Vec<f64>,
    /// Duty cycles (Gaussian FWHM / period).
    pub duty_cycle: Vec<f64>,
    /// Nominal periods, s.
    pub period_s: Vec<f64>,
    /// Injected DMs, pc cm⁻³.
    pub dm: Vec<f64>,
    /// Channel counts.
    pub nchans: Vec<usize>,
    /// Sampling times, s.
    pub tsamp_s: Vec<f64>,
    /// Injections (seeds) per grid point.
    pub seeds: u32,
    /// Pure-noise observations.
    pub noise_runs: u32,
    /// Seed mixed into every injection's seed.
    pub base_seed: u64,
    /// Highest DM searched, pc cm⁻³ (the lowest is 0).
    pub dm_max: f64,
    /// Most harmonics summed.
    pub nharm: u32,
    /// Detection threshold, trials-corrected Gaussian σ.
    pub sigma_threshold: f64,
    /// Lowest fundamental searched, Hz.
    pub fmin_hz: f64,
    /// Highest fundamental searched, Hz.
    pub fmax_hz: f64,
    /// Reporting threshold of the pure-noise searches (σ; low so that counts are large enough
    /// to compare with the prediction at several levels).
    pub noise_probe_sigma: f64,
    /// Frequency match tolerance, Fourier bins (1/T).
    pub match_tol_bins: f64,
    /// Largest harmonic / sub-harmonic number accepted as a match.
    pub match_max_harmonic: u32,
    /// DM tolerance in local trial spacings.
    pub match_dm_steps: f64,
    /// DM tolerance as a fraction of the DM.
    pub match_dm_frac: f64,
    /// DM tolerance in units of the pulse's DM resolution (DM error whose band sweep equals the
    /// pulse's effective FWHM).
    pub match_dm_widths: f64,
    /// Injections run at once (1: sequential injections, each search parallel).
    pub jobs: usize,
}

impl Default for GridConfig {
    fn default() -> Self {
        GridConfig {
            preset: "fast-l-band-lite".into(),
            duration_s: 30.0,
            nbits: 8,
            snr: vec![6.0, 8.0, 10.0, 12.0, 15.0, 20.0],
            duty_cycle: vec![0.025, 0.05, 0.1, 0.2],
            period_s: vec![0.2531],
            dm: vec![60.0],
            nchans: vec![512],
            tsamp_s: vec![3.93216e-4],
            seeds: 4,
            noise_runs: 8,
            base_seed: 1,
            dm_max: 120.0,
            nharm: 16,
            sigma_threshold: 6.0,
            fmin_hz: 0.5,
            fmax_hz: 500.0,
            noise_probe_sigma: -2.0,
            match_tol_bins: 2.0,
            match_max_harmonic: 16,
            match_dm_steps: 2.0,
            match_dm_frac: 0.05,
            match_dm_widths: 1.0,
            jobs: 1,
        }
    }
}

impl GridConfig {
    /// The built-in profile `name`: `default` (the full grid) or `ci` (small, for CI).
    ///
    /// # Errors
    /// A message naming the unknown profile.
    pub fn profile(name: &str) -> Result<GridConfig, String> {
        match name {
            "default" => Ok(GridConfig::default()),
            "ci" => Ok(GridConfig {
                duration_s: 20.0,
                snr: vec![10.0, 15.0],
                duty_cycle: vec![0.025, 0.05, 0.1],
                nchans: vec![256],
                seeds: 5,
                noise_runs: 3,
                dm_max: 100.0,
                ..GridConfig::default()
            }),
            other => Err(format!("unknown accuracy profile '{other}' (default, ci)")),
        }
    }

    /// Applies the keys of a TOML grid file over `self`. Unknown keys are an error.
    ///
    /// # Errors
    /// A message naming the file and the TOML problem.
    pub fn with_toml(&self, text: &str, origin: &str) -> Result<GridConfig, String> {
        let over: toml::Table = text.parse().map_err(|e| format!("{origin}: not valid TOML: {e}"))?;
        let mut base = toml::Table::try_from(self).map_err(|e| format!("{origin}: {e}"))?;
        for (k, v) in over {
            base.insert(k, v);
        }
        let cfg: GridConfig = toml::Value::Table(base).try_into().map_err(|e| format!("{origin}: {e}"))?;
        cfg.validate().map_err(|e| format!("{origin}: {e}"))?;
        Ok(cfg)
    }

    /// Checks ranges; returns a message naming the bad key.
    pub fn validate(&self) -> Result<(), String> {
        let pos = |name: &str, v: &[f64]| -> Result<(), String> {
            if v.is_empty() || v.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
                Err(format!("{name} must be a non-empty list of positive numbers"))
            } else {
                Ok(())
            }
        };
        pos("snr", &self.snr)?;
        pos("duty_cycle", &self.duty_cycle)?;
        pos("period_s", &self.period_s)?;
        pos("tsamp_s", &self.tsamp_s)?;
        if self.duty_cycle.iter().any(|&d| d >= 0.5) {
            return Err("duty_cycle values must be < 0.5".into());
        }
        if self.dm.is_empty() || self.dm.iter().any(|d| !(d.is_finite() && *d >= 0.0 && *d <= self.dm_max)) {
            return Err(format!("dm must be a non-empty list of values in [0, dm_max = {}]", self.dm_max));
        }
        if self.nchans.is_empty() || self.nchans.contains(&0) {
            return Err("nchans must be a non-empty list of positive integers".into());
        }
        if !(self.duration_s.is_finite() && self.duration_s > 0.0) {
            return Err("duration_s must be > 0".into());
        }
        if self.seeds == 0 {
            return Err("seeds must be >= 1".into());
        }
        if !(self.match_tol_bins > 0.0
            && self.match_dm_steps >= 0.0
            && self.match_dm_frac >= 0.0
            && self.match_dm_widths >= 0.0)
        {
            return Err("match tolerances must be positive".into());
        }
        if self.jobs == 0 {
            return Err("jobs must be >= 1".into());
        }
        Ok(())
    }

    /// Every injection of the grid (points × seeds), then the pure-noise runs, in a fixed order.
    pub fn injections(&self) -> Vec<Injection> {
        let mut v = Vec::new();
        for &nchans in &self.nchans {
            for &tsamp_s in &self.tsamp_s {
                for &period_s in &self.period_s {
                    for &dm in &self.dm {
                        for &duty in &self.duty_cycle {
                            for &snr in &self.snr {
                                for k in 0..self.seeds {
                                    v.push(Injection { snr, duty, period_s, dm, nchans, tsamp_s, seed_index: k });
                                }
                            }
                        }
                    }
                }
            }
        }
        for k in 0..self.noise_runs {
            v.push(Injection {
                snr: 0.0,
                duty: 0.0,
                period_s: 0.0,
                dm: 0.0,
                nchans: self.nchans[0],
                tsamp_s: self.tsamp_s[0],
                seed_index: k,
            });
        }
        v
    }
}

/// One injection: a grid point and a seed index. `snr == 0` marks a pure-noise run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Injection {
    /// Injected expected folded S/N (0: pure noise).
    pub snr: f64,
    /// Duty cycle (FWHM / period).
    pub duty: f64,
    /// Nominal period, s.
    pub period_s: f64,
    /// DM, pc cm⁻³.
    pub dm: f64,
    /// Channels.
    pub nchans: usize,
    /// Sampling time, s.
    pub tsamp_s: f64,
    /// Seed index `0 .. seeds`.
    pub seed_index: u32,
}

impl Injection {
    /// Whether this is a pure-noise run.
    pub fn is_noise(&self) -> bool {
        self.snr <= 0.0
    }

    /// The resume key: every parameter that changes the result, as text. Two runs with equal keys
    /// (and equal `preset`, `duration_s`, `nbits`, `base_seed` and search settings, which are
    /// included by the caller through `context`) give the same bytes.
    pub fn key(&self, context: &str) -> String {
        if self.is_noise() {
            format!("{context}|noise|nchans={}|tsamp={:e}|k={}", self.nchans, self.tsamp_s, self.seed_index)
        } else {
            format!(
                "{context}|snr={}|duty={}|period={:e}|dm={}|nchans={}|tsamp={:e}|k={}",
                self.snr, self.duty, self.period_s, self.dm, self.nchans, self.tsamp_s, self.seed_index
            )
        }
    }
}

/// 64-bit FNV-1a hash of `s` followed by a SplitMix64 finaliser: the simulation seed of a key
/// (deterministic across runs, platforms and thread counts).
pub fn seed_of(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}
