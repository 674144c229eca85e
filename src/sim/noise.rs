//! Radiometer noise, bandpass and quantisation.
//!
//! Inside the simulator every value is first built in units of the radiometer noise σ of one
//! sample in one channel, `σ_S = T_sys / (G · sqrt(n_pol · t_samp · Δν))` (Lorimer & Kramer 2005,
//! eq. A1.21): noise is `N(0, 1)` and a signal of flux density `S` adds `S / σ_S`. The value is
//! then quantised as `round(b_c · (offset + scale · x))`, clamped to the `nbits` range, where
//! `b_c` is the (optional) bandpass gain of channel `c` (1 without bandpass).
//!
//! | nbits | offset | scale (σ) | range | clipping of pure noise |
//! |---|---|---|---|---|
//! | 1 | 0.5 | 1 | 0–1 | always (1-bit sign) |
//! | 2 | 1.5 | 1 | 0–3 | beyond ±1.5σ (13 %) |
//! | 4 | 7.5 | 3 | 0–15 | beyond ±2.5σ (1.2 %) |
//! | 8 | 96 | 16 | 0–255 | below −6σ / above +9.9σ (≈ 1e-9): headroom for bright signals |
//! | 16 | 32768 | 2048 | 0–65535 | never in practice |
//! | 32 | 0 | 1 | float | none (no rounding) |
//!
//! Rounding adds a uniform error of variance 1/12 count², so the measured standard deviation of
//! 8-bit noise is `sqrt(16² + 1/12) = 16.0026` counts.
//!
//! Random numbers: every (chunk, channel) pair has its own `ChaCha8Rng`, keyed by a SplitMix64
//! expansion of `(seed, chunk index)` with the channel as ChaCha stream number, so the values do
//! not depend on the thread count or on how the stream is read. Gaussian deviates come from
//! `rand_distr::StandardNormal` (ziggurat).
use super::SimError;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Quantisation rule of one `nbits`. See the module table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiser {
    /// Bits per sample.
    pub nbits: u32,
    /// Mean of the noise, counts.
    pub offset: f64,
    /// Standard deviation of the noise, counts.
    pub scale: f64,
    /// Smallest value, counts.
    pub min_value: f64,
    /// Largest value, counts.
    pub max_value: f64,
}

impl Quantiser {
    /// The rule for `nbits` (1, 2, 4, 8, 16 or 32).
    ///
    /// # Errors
    /// [`SimError::Config`] for any other `nbits`.
    pub fn for_nbits(nbits: u32) -> Result<Quantiser, SimError> {
        let (offset, scale) = match nbits {
            1 => (0.5, 1.0),
            2 => (1.5, 1.0),
            4 => (7.5, 3.0),
            8 => (96.0, 16.0),
            16 => (32768.0, 2048.0),
            32 => (0.0, 1.0),
            _ => return Err(SimError::Config(format!("nbits must be 1, 2, 4, 8, 16 or 32, not {nbits}"))),
        };
        let (min_value, max_value) =
            if nbits == 32 { (f64::NEG_INFINITY, f64::INFINITY) } else { (0.0, ((1u64 << nbits) - 1) as f64) };
        Ok(Quantiser { nbits, offset, scale, min_value, max_value })
    }

    /// Quantises `x` (signal + noise in σ units) with bandpass gain `gain`; returns the value
    /// and whether it was clamped.
    #[inline]
    pub fn quantise(&self, x: f32, gain: f32) -> (f32, bool) {
        let v = gain as f64 * (self.offset + self.scale * x as f64);
        if self.nbits == 32 {
            return (v as f32, false);
        }
        let r = v.round();
        if r < self.min_value {
            (self.min_value as f32, true)
        } else if r > self.max_value {
            (self.max_value as f32, true)
        } else {
            (r as f32, false)
        }
    }
}

/// An illustrative receiver bandpass: a gentle parabolic droop (−30 % at the band edges) times
/// logistic roll-offs 15 MHz inside each edge, floored at 0.25. Gains per channel, file order.
pub fn bandpass_gains(freqs_mhz: &[f64], band_low_mhz: f64, band_high_mhz: f64) -> Vec<f32> {
    let centre = 0.5 * (band_low_mhz + band_high_mhz);
    let half = 0.5 * (band_high_mhz - band_low_mhz);
    freqs_mhz
        .iter()
        .map(|&f| {
            let u = (f - centre) / half;
            let droop = 1.0 - 0.3 * u * u;
            let lo = 1.0 / (1.0 + (-(f - band_low_mhz - 15.0) / 4.0).exp());
            let hi = 1.0 / (1.0 + ((f - band_high_mhz + 15.0) / 4.0).exp());
            (droop * lo * hi).max(0.25) as f32
        })
        .collect()
}

/// SplitMix64 step (Steele, Lea & Flood 2014), used to derive independent keys.
#[inline]
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A ChaCha8 generator for `(seed, domain, index)`, on ChaCha stream `stream`.
pub(crate) fn rng_for(seed: u64, domain: u64, index: u64, stream: u64) -> ChaCha8Rng {
    let mut st = seed ^ domain.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ index.wrapping_mul(0xA076_1D64_78BD_642F);
    let mut key = [0u8; 32];
    for w in key.chunks_exact_mut(8) {
        w.copy_from_slice(&splitmix64(&mut st).to_le_bytes());
    }
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(stream);
    rng
}

/// RNG domain of the noise (keys differ from RFI placement).
pub(crate) const DOMAIN_NOISE: u64 = 1;
/// RNG domain of RFI placement.
pub(crate) const DOMAIN_RFI: u64 = 2;

/// Adds unit Gaussian noise to `signal` (σ units) for channel `chan` of chunk `chunk`, quantises
/// in place with `q` and `gain`, and returns the number of clamped values.
pub(crate) fn add_noise_and_quantise(
    signal: &mut [f32],
    seed: u64,
    chunk: u64,
    chan: usize,
    q: &Quantiser,
    gain: f32,
) -> u64 {
    let mut rng = rng_for(seed, DOMAIN_NOISE, chunk, chan as u64);
    let mut clipped = 0u64;
    for v in signal.iter_mut() {
        let n: f32 = StandardNormal.sample(&mut rng);
        let (out, c) = q.quantise(*v + n, gain);
        *v = out;
        clipped += c as u64;
    }
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiser_clamps_and_rounds() {
        let q = Quantiser::for_nbits(8).unwrap();
        assert_eq!(q.quantise(0.0, 1.0), (96.0, false));
        assert_eq!(q.quantise(1.0, 1.0), (112.0, false));
        assert_eq!(q.quantise(20.0, 1.0), (255.0, true));
        assert_eq!(q.quantise(-7.0, 1.0), (0.0, true));
        assert!(Quantiser::for_nbits(3).is_err());
    }
}
