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
//! [`ZigguratF32`], a 128-layer ziggurat (Marsaglia & Tsang 2000, *J. Stat. Softw.* 5(8)) that
//! takes a 7-bit layer index and a separate 25-bit signed value from each 32-bit word, so one
//! ChaCha8 `u64` gives two deviates (resolution ≈ 2e-7 σ, ample for quantised data).
use super::SimError;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::OnceLock;

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

    /// Quantises `x` (signal + noise in σ units) with bandpass gain `gain`: rounds half up and
    /// clamps; returns the value and whether it was clamped.
    #[inline]
    pub fn quantise(&self, x: f32, gain: f32) -> (f32, bool) {
        self.prepared(gain).apply(x)
    }

    /// Response of the quantiser to a signal, for the truth file's expected S/N
    /// ([`QuantiserResponse`]); `gain` is the channel's bandpass gain (1 without bandpass).
    pub fn response(&self, gain: f64) -> QuantiserResponse {
        let (mu0, sd) = (gain * self.offset, gain * self.scale);
        let hi = self.max_value;
        // Noise variance of q = clamp(round(v), 0, hi), v ~ N(mu0, sd²). q = Σ_k 1[v ≥ k − ½], so
        // E q = Σ_k Q(t_k) and E q² = Σ_k (2k − 1) Q(t_k), t_k = (k − ½ − mu0)/sd: exact.
        let var0 = match self.nbits {
            32 => 1.0,
            16 => sd * sd + 1.0 / 12.0, // clipping beyond ±16σ never happens; Sheppard's 1/12
            _ => {
                let (mut m1, mut m2) = (0.0, 0.0);
                for k in 1..=(hi as u64) {
                    let q = gauss_sf((k as f64 - 0.5 - mu0) / sd);
                    m1 += q;
                    m2 += (2 * k - 1) as f64 * q;
                }
                m2 - m1 * m1
            }
        };
        let mut levels0 = [0.0; 15];
        if self.nbits <= 4 {
            for (k, l) in levels0.iter_mut().enumerate().take(self.max_value as usize) {
                *l = gauss_sf((k as f64 + 0.5 - mu0) / sd);
            }
        }
        let mut r =
            QuantiserResponse { q: *self, mu0, sd, sd_q: var0.sqrt(), clip0: 0.0, tails0: 0.0, levels0, eta: 1.0 };
        r.tails0 = r.tails(mu0);
        r.clip0 = r.clip_probability(0.0);
        r.eta = match self.nbits {
            32 => 1.0,
            16 => sd / r.sd_q,
            _ => (1..=(self.max_value as u64)).map(|k| gauss_pdf((k as f64 - 0.5 - mu0) / sd)).sum::<f64>() / r.sd_q,
        };
        r
    }

    /// The rule with a channel's bandpass gain folded in, in `f32` for the inner loop.
    #[inline]
    pub(crate) fn prepared(&self, gain: f32) -> PreparedQuantiser {
        PreparedQuantiser {
            offset: (gain as f64 * self.offset) as f32,
            scale: (gain as f64 * self.scale) as f32,
            lo: self.min_value as f32,
            hi_i: if self.nbits == 32 { i32::MAX } else { self.max_value as i32 },
            float: self.nbits == 32,
        }
    }
}

/// [`Quantiser`] with the gain applied: `round(offset + scale · x)` clamped to `[lo, hi]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PreparedQuantiser {
    offset: f32,
    scale: f32,
    /// Smallest count as `f32` (0 for every integer `nbits`).
    lo: f32,
    /// Largest count as an integer (`2^nbits − 1`; unused for floats).
    hi_i: i32,
    float: bool,
}

impl PreparedQuantiser {
    /// Quantised value and whether it was clamped.
    ///
    /// Rounds half up through a saturating integer cast (no libm `roundf`, no branches, so the
    /// loop vectorises): with `y = offset + scale·x + 0.5`, the value is `trunc(y)` clamped to
    /// `[0, hi]`, which equals `floor(y)` for `y ≥ 0` and 0 below; `y < 0` or `trunc(y) > hi`
    /// counts as clamped.
    #[inline(always)]
    pub(crate) fn apply(&self, x: f32) -> (f32, bool) {
        let v = self.offset + self.scale * x;
        if self.float {
            return (v, false);
        }
        let y = v + 0.5;
        let r = y as i32; // saturating; NaN → 0
        #[allow(clippy::neg_cmp_op_on_partial_ord)] // NaN counts as clamped
        let clamped = !(y >= self.lo) | (r > self.hi_i);
        (r.clamp(0, self.hi_i) as f32, clamped)
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

/// Upper tail of the standard normal distribution, `Q(x) = ½ erfc(x/√2)` (libm's erfc, accurate
/// to about one ulp, so differences of nearby tails keep their precision).
pub fn gauss_sf(x: f64) -> f64 {
    0.5 * libm::erfc(x / std::f64::consts::SQRT_2)
}

/// Standard normal density.
fn gauss_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// `E[(v − c)⁺]` for `v ~ N(μ, σ²)`: `σ·(φ(z) − z·Q(z))`, `z = (c − μ)/σ`.
fn excess_above(mu: f64, sd: f64, c: f64) -> f64 {
    let z = (c - mu) / sd;
    sd * (gauss_pdf(z) - z * gauss_sf(z))
}

/// How the quantiser of one channel passes a signal: a sample is `x = s + n`, `n ~ N(0, 1)` (σ
/// units), stored as `q = clamp(round(b·(offset + scale·x)), 0, 2^nbits − 1)` (`b` the bandpass
/// gain; [`Quantiser`]).
///
/// * [`Self::signal`]: the expected change of the stored value caused by `s`, in units of the
///   stored noise's standard deviation, `R(s) = (E[q | s] − E[q | 0]) / sd(q | 0)`. The search
///   normalises each channel by its noise σ, so a signal `s` becomes `R(s)` on average; the truth
///   file's expected S/N is the folded S/N of `R` applied to every sample of the noiseless signal
///   (`crate::io::truth`). For a weak signal `R(s) = η·s` with the quantisation efficiency
///   `η = Σ_k φ(t_k) / sd(q)` (the linear response of a quantiser to a mean shift of Gaussian noise;
///   thresholds `t_k = (k − ½ − b·offset)/(b·scale)`): 0.798 = √(2/π) for 1 bit, 0.9387 for 2 bits,
///   0.9942 for 4 bits, 0.99984 = 16/√(16² + 1/12) for 8 bits. A strong signal saturates:
///   `E[q | s]` stops at `2^nbits − 1`, and `R(s)` levels off.
/// * [`Self::clip_probability`]: `P(q clamped | s) = Φ((−½ − b·(offset + scale·s))/(b·scale)) +
///   Q((hi + ½ − b·(offset + scale·s))/(b·scale))`, the quantity counted as `clipped`.
///
/// Exact sums over the levels for nbits ≤ 4; for 8 and 16 bits (≥ 4 counts per σ, gain ≥ ¼) the
/// mean is that of the clamped Gaussian `E[clamp(v, 0, hi)] = μ − E[(v − hi)⁺] + E[(0 − v)⁺]`,
/// `v ~ N(b·(offset + scale·s), (b·scale)²)` (the level sum is the midpoint rule of that integral;
/// the rounding bias is below `e^(−2π²·16)`), and the noise variance is the exact level sum for
/// 8 bits and `(b·scale)² + 1/12` (Sheppard) for 16 bits. 32-bit floats: `R(s) = s`, no clipping.
#[derive(Debug, Clone, Copy)]
pub struct QuantiserResponse {
    q: Quantiser,
    /// `b·offset`, counts.
    mu0: f64,
    /// `b·scale`, counts per σ.
    sd: f64,
    /// `sd(q | 0)`, counts.
    sd_q: f64,
    /// `P(clamped | 0)`.
    clip0: f64,
    /// 8 and 16 bits: the tail terms of the clamped-Gaussian mean at `s = 0`.
    tails0: f64,
    /// 1, 2, 4 bits: `Q(t_k)` of every level at `s = 0`.
    levels0: [f64; 15],
    /// The efficiency `η` ([`Self::efficiency`]).
    eta: f64,
}

impl QuantiserResponse {
    /// `−E[(v − hi)⁺] + E[(−v)⁺]` for `v ~ N(m, sd²)`: the clamped-Gaussian mean minus `m`.
    fn tails(&self, m: f64) -> f64 {
        -excess_above(m, self.sd, self.q.max_value) + excess_above(-m, self.sd, 0.0)
    }

    /// Whether both clamps lie at least 6 σ from `mu` (8 and 16 bits). Between two such means
    /// the tail terms change by less than `Q(6) ≈ 1e-9` of the mean shift and the clamped
    /// fraction by less than 1e-9, so the response is taken as linear there (a fast path: the
    /// noise of 8-bit data sits exactly 6 σ above 0).
    fn far_from_clamps(&self, mu: f64) -> bool {
        (self.q.max_value - mu) >= 6.0 * self.sd && mu >= 6.0 * self.sd
    }

    /// Whether `R` is linear (`R(s) = η·s`, no clamping beyond noise's, to 1e-9) for every
    /// signal in `0 ..= s_max`: always for floats, for 8 and 16 bits while the clamps stay 6 σ
    /// away (see [`Self::far_from_clamps`]); never claimed for 1, 2 and 4 bits.
    pub fn is_linear_up_to(&self, s_max: f64) -> bool {
        match self.q.nbits {
            32 => true,
            8 | 16 => self.far_from_clamps(self.mu0) && self.far_from_clamps(self.mu0 + self.sd * s_max),
            _ => false,
        }
    }

    /// `E[q | s] − E[q | 0]` in counts.
    fn mean_shift(&self, s: f64) -> f64 {
        let (mu, sd) = (self.mu0 + self.sd * s, self.sd);
        match self.q.nbits {
            32 => s,
            8 | 16 => {
                // μ − E[(v − hi)⁺] + E[(−v)⁺], differenced against s = 0 term by term.
                if self.far_from_clamps(mu) && self.far_from_clamps(self.mu0) {
                    self.sd * s
                } else {
                    self.sd * s + (self.tails(mu) - self.tails0)
                }
            }
            _ => self
                .levels0
                .iter()
                .take(self.q.max_value as usize)
                .enumerate()
                .map(|(k, q0)| gauss_sf((k as f64 + 0.5 - mu) / sd) - q0)
                .sum(),
        }
    }

    /// `R(s)`: the mean stored response to a signal `s` (σ units), in units of the stored noise σ.
    pub fn signal(&self, s: f64) -> f64 {
        if s == 0.0 {
            return 0.0;
        }
        self.mean_shift(s) / self.sd_q
    }

    /// The quantisation efficiency `η = R'(0) = Σ_k φ(t_k) / sd(q)` (see the type's docs;
    /// 16 bits: the continuum limit `b·scale / sd(q)`).
    pub fn efficiency(&self) -> f64 {
        self.eta
    }

    /// Probability that a sample with signal `s` (σ units) is clamped to 0 or `2^nbits − 1`.
    pub fn clip_probability(&self, s: f64) -> f64 {
        if self.q.nbits == 32 {
            return 0.0;
        }
        let mu = self.mu0 + self.sd * s;
        if self.q.nbits >= 8 && self.far_from_clamps(mu) && s != 0.0 && self.far_from_clamps(self.mu0) {
            return self.clip0;
        }
        gauss_sf((mu + 0.5) / self.sd) + gauss_sf((self.q.max_value + 0.5 - mu) / self.sd)
    }

    /// `P(clamped | 0)`: the fraction of pure-noise samples clamped.
    pub fn noise_clip_probability(&self) -> f64 {
        self.clip0
    }
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
///
/// Draw order (fixed, part of the output): for each pair of samples one `u64`, low half → first
/// sample, high half → second (rejections draw further `u32`s in between); an odd last sample
/// takes one `u32`. Deviates are drawn in blocks of [`NOISE_BLOCK`] into a stack buffer, then the
/// block is added and quantised in a separate, vectorisable pass.
pub(crate) fn add_noise_and_quantise(
    signal: &mut [f32],
    seed: u64,
    chunk: u64,
    chan: usize,
    q: &Quantiser,
    gain: f32,
) -> u64 {
    let mut rng = rng_for(seed, DOMAIN_NOISE, chunk, chan as u64);
    let pq = q.prepared(gain);
    let zig = ZigguratF32::get();
    let mut clipped = 0u64;
    let mut noise = [0f32; NOISE_BLOCK];
    for block in signal.chunks_mut(NOISE_BLOCK) {
        let nz = &mut noise[..block.len()];
        let mut pairs = nz.chunks_exact_mut(2);
        for pair in &mut pairs {
            let w = rng.next_u64();
            pair[0] = zig.sample(w as u32, &mut rng);
            pair[1] = zig.sample((w >> 32) as u32, &mut rng);
        }
        for v in pairs.into_remainder() {
            *v = zig.sample(rng.next_u32(), &mut rng);
        }
        if pq.float {
            for (v, &n) in block.iter_mut().zip(nz.iter()) {
                *v = pq.apply(*v + n).0;
            }
        } else {
            let mut c = 0u32;
            for (v, &n) in block.iter_mut().zip(nz.iter()) {
                let (o, k) = pq.apply(*v + n);
                *v = o;
                c += k as u32;
            }
            clipped += c as u64;
        }
    }
    clipped
}

/// [`add_noise_and_quantise`] with a per-sample gain `gain_t` (same length as `signal`) on top
/// of the channel's `gain`: the value is `round(gain_t[k]·gain·(offset + scale·x))`, clamped.
/// Same draws as [`add_noise_and_quantise`], so `gain_t ≡ 1` gives the same bits.
pub(crate) fn add_noise_and_quantise_with_gain(
    signal: &mut [f32],
    seed: u64,
    chunk: u64,
    chan: usize,
    q: &Quantiser,
    gain: f32,
    gain_t: &[f32],
) -> u64 {
    assert_eq!(signal.len(), gain_t.len(), "one gain per sample");
    let mut rng = rng_for(seed, DOMAIN_NOISE, chunk, chan as u64);
    let zig = ZigguratF32::get();
    let mut clipped = 0u64;
    let mut noise = [0f32; NOISE_BLOCK];
    for (block, gblock) in signal.chunks_mut(NOISE_BLOCK).zip(gain_t.chunks(NOISE_BLOCK)) {
        let nz = &mut noise[..block.len()];
        let mut pairs = nz.chunks_exact_mut(2);
        for pair in &mut pairs {
            let w = rng.next_u64();
            pair[0] = zig.sample(w as u32, &mut rng);
            pair[1] = zig.sample((w >> 32) as u32, &mut rng);
        }
        for v in pairs.into_remainder() {
            *v = zig.sample(rng.next_u32(), &mut rng);
        }
        for ((v, &n), &g) in block.iter_mut().zip(nz.iter()).zip(gblock) {
            let (o, k) = q.prepared(gain * g).apply(*v + n);
            *v = o;
            clipped += k as u64;
        }
    }
    clipped
}

/// Deviates per block of [`add_noise_and_quantise`] (even, so pairs never straddle blocks).
pub(crate) const NOISE_BLOCK: usize = 256;

/// Tables of a 128-layer ziggurat for the standard normal in `f32`
/// (Marsaglia & Tsang 2000, "The Ziggurat Method for Generating Random Variables", with their
/// `r = 3.442619855899` and layer area `v = 9.91256303526217e-3`).
///
/// Each 32-bit word supplies the layer index (low 7 bits) and, independently, a signed 25-bit
/// value (high 25 bits); rejections (≈ 1.2 %) draw more words from the generator.
pub struct ZigguratF32 {
    /// Acceptance thresholds on |value| per layer.
    kn: [u32; 128],
    /// Value → x scale per layer.
    wn: [f32; 128],
    /// Density at the layer edges.
    fnv: [f32; 128],
}

impl ZigguratF32 {
    const R: f64 = 3.442619855899;
    const V: f64 = 9.91256303526217e-3;
    const M: f64 = 16777216.0; // 2^24: |value| < 2^24 for a signed 25-bit integer

    fn new() -> Self {
        let (mut kn, mut wn, mut fnv) = ([0u32; 128], [0f32; 128], [0f32; 128]);
        let mut dn = Self::R;
        let mut tn = dn;
        let q = Self::V / (-0.5 * dn * dn).exp();
        kn[0] = ((dn / q) * Self::M) as u32;
        kn[1] = 0;
        wn[0] = (q / Self::M) as f32;
        wn[127] = (dn / Self::M) as f32;
        fnv[0] = 1.0;
        fnv[127] = (-0.5 * dn * dn).exp() as f32;
        for i in (1..=126).rev() {
            dn = (-2.0 * (Self::V / dn + (-0.5 * dn * dn).exp()).ln()).sqrt();
            kn[i + 1] = ((dn / tn) * Self::M) as u32;
            tn = dn;
            fnv[i] = (-0.5 * dn * dn).exp() as f32;
            wn[i] = (dn / Self::M) as f32;
        }
        ZigguratF32 { kn, wn, fnv }
    }

    /// The shared tables.
    pub fn get() -> &'static ZigguratF32 {
        static Z: OnceLock<ZigguratF32> = OnceLock::new();
        Z.get_or_init(ZigguratF32::new)
    }

    /// A standard normal deviate from the 32-bit word `u` (more words from `rng` on rejection).
    #[inline]
    pub fn sample<R: RngCore>(&self, mut u: u32, rng: &mut R) -> f32 {
        loop {
            let iz = (u & 127) as usize;
            let hz = (u as i32) >> 7; // signed 25-bit value
            if hz.unsigned_abs() < self.kn[iz] {
                return hz as f32 * self.wn[iz];
            }
            if let Some(x) = self.fix(hz, iz, rng) {
                return x;
            }
            u = rng.next_u32();
        }
    }

    /// The slow path: the base strip's tail or the wedge test. `None` = rejected, draw again.
    #[cold]
    fn fix<R: RngCore>(&self, hz: i32, iz: usize, rng: &mut R) -> Option<f32> {
        let uni = |rng: &mut R| ((rng.next_u32() >> 8) as f64 + 0.5) / 16777216.0;
        let x = hz as f64 * self.wn[iz] as f64;
        if iz == 0 {
            // Tail beyond r (Marsaglia 1964).
            loop {
                let xt = -uni(rng).ln() / Self::R;
                let y = -uni(rng).ln();
                if y + y >= xt * xt {
                    let v = Self::R + xt;
                    return Some(if hz > 0 { v } else { -v } as f32);
                }
            }
        }
        let f0 = self.fnv[iz - 1] as f64;
        let f1 = self.fnv[iz] as f64;
        if f1 + uni(rng) * (f0 - f1) < (-0.5 * x * x).exp() {
            Some(x as f32)
        } else {
            None
        }
    }
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

    /// Naive twin of [`QuantiserResponse`]: the real quantiser applied to `N = 400 000` Gaussian
    /// samples plus a constant signal `s`. The mean shift over the noise σ (both measured) must
    /// match `R(s)` and the clamped fraction `P(clamped | s)`, within 5 standard errors of the
    /// Monte Carlo (`sd(q)/sqrt(N)` per mean, so ≈ 0.0022 on `R`; `sqrt(p(1−p)/N)` on `P`), for
    /// weak, strong and saturating signals, every integer nbits and a bandpass gain of ½.
    #[test]
    fn response_matches_the_quantiser_on_random_noise() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        const N: usize = 400_000;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let noise: Vec<f32> = (0..N).map(|_| StandardNormal.sample(&mut rng)).collect();
        for nbits in [1, 2, 4, 8, 16] {
            let q = Quantiser::for_nbits(nbits).unwrap();
            for gain in [1.0f32, 0.5] {
                let r = q.response(gain as f64);
                let stats = |s: f32| {
                    let (mut m1, mut m2, mut clipped) = (0.0f64, 0.0f64, 0usize);
                    for &n in &noise {
                        let (v, c) = q.quantise(n + s, gain);
                        m1 += v as f64;
                        m2 += (v as f64).powi(2);
                        clipped += c as usize;
                    }
                    let m = m1 / N as f64;
                    (m, (m2 / N as f64 - m * m).sqrt(), clipped as f64 / N as f64)
                };
                let (mean0, sd0, clip0) = stats(0.0);
                let p0 = r.noise_clip_probability();
                assert!((clip0 - p0).abs() < 5.0 * (p0 * (1.0 - p0) / N as f64).sqrt() + 1e-9, "{nbits} {gain}");
                for s in [0.05f32, 0.5, 3.0, 12.0] {
                    let (mean, _, clip) = stats(s);
                    let measured = (mean - mean0) / sd0;
                    let want = r.signal(s as f64);
                    // Monte Carlo error: the means have standard errors ≤ sd(q)/sqrt(N) (1/sqrt(N)
                    // in R units), and the measured σ divides R with relative error 1/sqrt(2N)
                    // (0.0011: 0.011 on R = 9.9 of a saturating 8-bit s = 12). 5 of each.
                    let tol = 5.0 * (1.0 / (N as f64).sqrt() + want.abs() / (2.0 * N as f64).sqrt());
                    assert!((measured - want).abs() < tol, "nbits {nbits} gain {gain} s {s}: {measured} vs {want}");
                    let p = r.clip_probability(s as f64);
                    assert!(
                        (clip - p).abs() < 5.0 * (p * (1.0 - p) / N as f64).sqrt() + 1e-9,
                        "nbits {nbits} s {s}: clip {clip} vs {p}"
                    );
                }
            }
        }
        // The documented efficiencies.
        let eta = |n| Quantiser::for_nbits(n).unwrap().response(1.0).efficiency();
        assert!((eta(1) - (2.0 / std::f64::consts::PI).sqrt()).abs() < 1e-12);
        assert!((eta(2) - 0.9387).abs() < 1e-4 && (eta(4) - 0.9942).abs() < 1e-4, "{} {}", eta(2), eta(4));
        assert!((eta(8) - 16.0 / (256.0f64 + 1.0 / 12.0).sqrt()).abs() < 1e-6, "{}", eta(8));
    }

    /// Naive twin of `add_noise_and_quantise`: one sample at a time in the documented draw
    /// order, quantised with libm `floor` and explicit clamping (no block split, no branchless
    /// tricks). Bit-identical for integer and float `nbits`, even and odd lengths, with gain.
    #[test]
    fn blocked_noise_and_quantiser_match_naive_twin() {
        let z = ZigguratF32::get();
        for nbits in [1u32, 2, 4, 8, 16, 32] {
            let q = Quantiser::for_nbits(nbits).unwrap();
            for (chan, len, gain) in [(0usize, 2048usize, 1.0f32), (5, 777, 0.8), (9, 1, 1.3)] {
                let signal: Vec<f32> = (0..len).map(|i| ((i % 97) as f32 - 40.0) * 0.05).collect();
                let mut fast = signal.clone();
                let clipped = add_noise_and_quantise(&mut fast, 3, 11, chan, &q, gain);
                let mut rng = rng_for(3, DOMAIN_NOISE, 11, chan as u64);
                let mut normals = Vec::with_capacity(len);
                while normals.len() + 2 <= len {
                    let w = rng.next_u64();
                    normals.push(z.sample(w as u32, &mut rng));
                    normals.push(z.sample((w >> 32) as u32, &mut rng));
                }
                if normals.len() < len {
                    normals.push(z.sample(rng.next_u32(), &mut rng));
                }
                let (off, sc) = ((gain as f64 * q.offset) as f32, (gain as f64 * q.scale) as f32);
                let mut naive_clipped = 0u64;
                for i in 0..len {
                    let v = off + sc * (signal[i] + normals[i]);
                    let want = if nbits == 32 {
                        v
                    } else {
                        let r = (v + 0.5).floor();
                        let c = r.clamp(q.min_value as f32, q.max_value as f32);
                        naive_clipped += (c != r) as u64;
                        c
                    };
                    assert_eq!(fast[i].to_bits(), want.to_bits(), "nbits {nbits} chan {chan} sample {i}");
                }
                assert_eq!(clipped, naive_clipped, "nbits {nbits} chan {chan}");
            }
        }
    }

    /// The fast ziggurat against the normal distribution's known values (moments and CDF
    /// points Φ(−3) = 0.0013499, Φ(−2) = 0.0227501, Φ(−1) = 0.1586553, Φ(0.5) = 0.6914625,
    /// Φ(2.5) = 0.9937903), within 5 binomial standard errors on 4M deviates.
    #[test]
    fn ziggurat_matches_normal_distribution() {
        let z = ZigguratF32::get();
        let mut rng = rng_for(7, DOMAIN_NOISE, 0, 0);
        let n = 1usize << 22;
        let xs: Vec<f64> = (0..n)
            .map(|_| {
                let u = rng.next_u32();
                z.sample(u, &mut rng) as f64
            })
            .collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let kurt = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n as f64 / (var * var);
        assert!(mean.abs() < 5.0 / (n as f64).sqrt(), "mean {mean}");
        assert!((var - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt(), "var {var}");
        assert!((kurt - 3.0).abs() < 5.0 * (24.0 / n as f64).sqrt(), "kurtosis {kurt}");
        for (x, p) in [(-3.0, 0.0013499), (-2.0, 0.0227501), (-1.0, 0.1586553), (0.5, 0.6914625), (2.5, 0.9937903)] {
            let got = xs.iter().filter(|&&v| v < x).count() as f64 / n as f64;
            let se = (p * (1.0 - p) / n as f64).sqrt();
            assert!((got - p).abs() < 5.0 * se, "CDF({x}) = {got}, expected {p}");
        }
        assert!(xs.iter().any(|&v| v > 3.6) && xs.iter().any(|&v| v < -3.6), "tails beyond r are produced");
    }
}
