//! Radio-frequency interference: persistent narrowband channels and broadband zero-DM impulses.
//!
//! Placement is drawn once from the seed (its own ChaCha8 stream, independent of the noise) and
//! recorded in the truth file. Amplitudes are in units of the per-sample, per-channel noise σ.
//! * Narrowband: `round(narrowband_fraction · nchans)` (at least 1) random channels, each adding
//!   `A · (1 + sin(2π t / P))` with `A` uniform in `narrowband_sigma` and `P` uniform in 0.1–10 s
//!   (half of the channels constant instead: P = 0).
//! * Impulses: a Poisson number (mean `impulse_rate_hz · duration`) of top-hat bursts of power at
//!   uniform random times, duration log-uniform in `impulse_duration_s`, amplitude uniform in
//!   `impulse_sigma`, the same in every channel (DM 0). Each sample gets the amplitude times the
//!   fraction of the sample the impulse covers.
use super::noise::{rng_for, DOMAIN_RFI};
use crate::io::truth::{ImpulseRfiTruth, NarrowbandRfiTruth, RfiTruth};
use rand::Rng;
use rand_distr::{Distribution, Poisson};
use serde::{Deserialize, Serialize};

/// RFI settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfiSpec {
    /// Fraction of channels with narrowband RFI.
    pub narrowband_fraction: f64,
    /// Range of narrowband amplitudes, σ.
    pub narrowband_sigma: (f64, f64),
    /// Mean rate of broadband impulses, Hz.
    pub impulse_rate_hz: f64,
    /// Range of impulse amplitudes per channel, σ.
    pub impulse_sigma: (f64, f64),
    /// Range of impulse durations, s.
    pub impulse_duration_s: (f64, f64),
}

impl Default for RfiSpec {
    /// 1 % of channels at 1–4 σ (peaks ≤ 8 σ, inside the 8-bit range); 0.2 impulses per second of
    /// 1–3 σ per channel lasting 1–20 ms.
    fn default() -> Self {
        RfiSpec {
            narrowband_fraction: 0.01,
            narrowband_sigma: (1.0, 4.0),
            impulse_rate_hz: 0.2,
            impulse_sigma: (1.0, 3.0),
            impulse_duration_s: (1e-3, 2e-2),
        }
    }
}

/// RFI placed in one observation.
#[derive(Debug, Clone)]
pub(crate) struct RfiModel {
    pub truth: RfiTruth,
    /// Per channel: index into `truth.narrowband`, if any.
    nb_of: Vec<Option<usize>>,
    tsamp: f64,
}

impl RfiModel {
    pub(crate) fn new(spec: &RfiSpec, nchans: usize, tsamp: f64, duration: f64, seed: u64) -> Self {
        let mut rng = rng_for(seed, DOMAIN_RFI, 0, 0);
        let uni = |rng: &mut rand_chacha::ChaCha8Rng, (a, b): (f64, f64)| if b > a { rng.gen_range(a..b) } else { a };
        let nnb = ((spec.narrowband_fraction * nchans as f64).round() as usize).clamp(1, nchans);
        let mut chans: Vec<usize> = rand::seq::index::sample(&mut rng, nchans, nnb).into_vec();
        chans.sort_unstable();
        let narrowband: Vec<NarrowbandRfiTruth> = chans
            .iter()
            .map(|&c| NarrowbandRfiTruth {
                channel: c,
                amplitude_sigma: uni(&mut rng, spec.narrowband_sigma),
                modulation_period_s: if rng.gen_bool(0.5) { rng.gen_range(0.1..10.0) } else { 0.0 },
            })
            .collect();
        let mean = spec.impulse_rate_hz * duration;
        let count = if mean > 0.0 { Poisson::new(mean).map(|p| p.sample(&mut rng) as usize).unwrap_or(0) } else { 0 };
        let mut impulses: Vec<ImpulseRfiTruth> = (0..count)
            .map(|_| {
                let (lo, hi) = spec.impulse_duration_s;
                let d = if hi > lo { (lo.ln() + rng.gen::<f64>() * (hi.ln() - lo.ln())).exp() } else { lo };
                ImpulseRfiTruth {
                    time_s: rng.gen::<f64>() * duration,
                    duration_s: d,
                    amplitude_sigma: uni(&mut rng, spec.impulse_sigma),
                }
            })
            .collect();
        impulses.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        let mut nb_of = vec![None; nchans];
        for (i, n) in narrowband.iter().enumerate() {
            nb_of[n.channel] = Some(i);
        }
        RfiModel { truth: RfiTruth { narrowband, impulses }, nb_of, tsamp }
    }

    /// Adds RFI (σ units) to channel `c`, samples `j0 ..`.
    pub(crate) fn add_to_channel(&self, c: usize, j0: u64, out: &mut [f32]) {
        let t = self.tsamp;
        if let Some(i) = self.nb_of[c] {
            let nb = &self.truth.narrowband[i];
            for (k, v) in out.iter_mut().enumerate() {
                let tm = (j0 + k as u64) as f64 * t + 0.5 * t;
                let m = if nb.modulation_period_s > 0.0 {
                    1.0 + (2.0 * std::f64::consts::PI * tm / nb.modulation_period_s).sin()
                } else {
                    1.0
                };
                *v += (nb.amplitude_sigma * m) as f32;
            }
        }
        let (t0, t1) = (j0 as f64 * t, (j0 + out.len() as u64) as f64 * t);
        for imp in &self.truth.impulses {
            let (a, b) = (imp.time_s, imp.time_s + imp.duration_s);
            if b <= t0 || a >= t1 {
                continue;
            }
            let k0 = ((a - t0) / t).floor().max(0.0) as usize;
            let k1 = (((b - t0) / t).ceil() as usize).min(out.len());
            for k in k0..k1 {
                let s0 = t0 + k as f64 * t;
                let cover = (b.min(s0 + t) - a.max(s0)).max(0.0) / t;
                out[k] += (imp.amplitude_sigma * cover) as f32;
            }
        }
    }
}
