//! Effective number of independent trials of the FFT periodicity search, for the trials
//! correction of every reported `sigma` (one rule for `search`, `accuracy` and the tests).
//!
//! A search tests many correlated statistics: integer and half bins, the finer fundamental grid
//! of each harmonic stage (stage `H` has `2H` grid points per Fourier bin), several stages at once,
//! and neighbouring DM trials that share most of their noise. Counting all of them as independent
//! overstates the trials (and understates sigma); counting only integer bins understates them.
//! This module uses a model whose constants were **calibrated on pure noise** with the search
//! itself (`cargo run --release --example calibrate_trials`), and the test `tests/calibration.rs`
//! checks the resulting false-alarm counts against theory at several levels.
//!
//! # Model
//! The search's reported `sigma` of a candidate of summed power `P` in stage `H` is
//! the Gaussian equivalent of `p_trials = 1 − (1 − p)^{W(p)}`, `p = Q(H, P)` ([`search_sigma`]),
//! with one trials count for every stage of every DM trial of the observation, growing slowly
//! with the level ([`TRIALS_LEVEL_EXPONENT`]):
//!
//! ```text
//! W(p) = W₀ · (−ln p / u₀)^α(N)
//! W₀ = Σ_steps Σ_H c_H · Σ_{k = k_lo}^{k_hi(H)} n_dm(k / T, H)
//! k_hi(H) = min(k_hi, k_last / H)
//! n_dm(f, H) = min(ndm, 1 + γ · f · D · H / Σ_{h≤H} 1/h)
//! ```
//!
//! - `c_H` ([`STAGE_TRIALS_PER_BIN`]): effective independent trials per fundamental Fourier bin
//!   that stage `H` adds to the union of stages, after the search keeps one candidate per signal.
//!   Stage `H` sums harmonics up to the spectrum's last bin `k_last`, so it tests fundamentals up
//!   to `k_last / H` only, whatever `fmax` allows; `c_H` counts trials per bin of that range.
//!   Measured as the number of single-series noise candidates whose best stage is `H` and whose
//!   tail probability is below `p`, divided by `p × (bins stage H searched)`, at `−ln p = u₀`.
//! - `n_dm`: the number of effectively independent DM trials at fundamental frequency `f`. Two
//!   trials `δDM` apart shift channel `c` by `K δDM (ν_c⁻² − ν_top⁻²)`; the summed harmonic `h`
//!   decorrelates once `h f` times the delay span reaches ~1, so a span `D = K·ΔDM·(ν_lo⁻² −
//!   ν_hi⁻²)` holds about `1 + f D` independent trials at one harmonic; for the sum of harmonics
//!   `1..H` the correlation length in delay is `(Σ 1/h)/(H f)` (the mean of the harmonics'
//!   sinc² correlation lengths). `γ` ([`DM_DECORRELATION`]) was calibrated on noise
//!   observations; `n_dm` never exceeds the number of trials `ndm` actually searched.
//!
//! With `W` right, the expected number of sifted noise candidates above `s` sigma per observation
//! is `−ln(1 − Q_gauss(s))` ([`crate::accuracy::theory::expected_false_alarms`]). Measured on
//! 30 000 white-noise series of 2¹⁵ samples (`tests/calibration.rs`): 1.005, 0.98, 0.91 and 2.1
//! times the prediction at 1, 2, 3 and 4σ (5206/5183, 679/690, 37/40.5, 2/0.95), all inside the
//! Poisson band, and 1.06 at 0σ (the level model is least accurate far below any threshold).

use super::stats::{chi2_logsf, logp_with_trials, sigma_from_logp};
use crate::consts::K_DM;
use crate::dedisp::{max_delay_samples, DmPlan};
use crate::io::Header;

/// Calibrated effective trials per searched fundamental Fourier bin of harmonic stage `H`
/// (`(H, c_H)`), for the half-bin grid of [`super::spectrum::HalfBin::Kernel`].
/// Source: `cargo run --release --example calibrate_trials` (module docs).
///
/// Measured at the reference level [`TRIALS_REF_LEVEL`] on 8 000 white-noise series of 2¹⁷
/// samples of 1 ms searched from 0.1 Hz to the Nyquist frequency (≈ 65 500 bins, of which stage
/// `H` reaches `65 535 / H`), for 8, 16 and 32 harmonics (stage values agreeing to ±4 % between
/// those runs), first as trials per bin of the whole range and converted here to trials per bin
/// of each stage's own range (× 65 522 / (65 535/H − 13)). A check with the per-stage
/// normalisation (`NHARM=32 calibrate_trials series 1500 17`) gave 2.03, 3.07, 5.5, 12.1, 22.9,
/// 57.1 at 0σ. The values are close to `0.8–0.96 × 2H`: stage `H` tests `2H` fundamental grid
/// points per bin. (Until 2026-12-07 every stage was counted over the whole `k_lo..k_hi` range,
/// which under-counted the higher stages by up to a factor `H` when `fmax` is below Nyquist:
/// 2.5–3.6 × too many noise candidates at 0–2σ on the accuracy grid's `fmax = 500 Hz`.)
pub const STAGE_TRIALS_PER_BIN: [(u32, f64); 6] = [(1, 1.92), (2, 3.16), (4, 6.36), (8, 13.8), (16, 27.6), (32, 56.7)];

/// Effective independent drift trials per bin of `zmax` in the acceleration search
/// ([`accel_trials_factor`]), calibrated on pure noise with
/// `NHARM=8 ZMAX=Z FMAX=2000 cargo run --release --example calibrate_trials -- series 600 15`
/// (600 white-noise series of 2¹⁵ samples; the example prints the factor `F` that makes the count
/// of candidates at ≥ s sigma equal the prediction): κ = (F − 1)/Z was 0.69, 0.76, 0.73, 0.67 at
/// 0σ (≈ 416 candidates each) and 0.62, 0.75, 0.65, 0.58 at 1σ (≈ 104) for Z = 20, 50, 100, 200.
pub const ACCEL_TRIALS_PER_Z: f64 = 0.7;

/// Factor by which the acceleration search's drift rows multiply every stage's trials:
/// `1 + κ · zmax` with `κ` = [`ACCEL_TRIALS_PER_Z`] (1 for `zmax = 0`). The rows `z = −zmax …
/// zmax` step 2 are `zmax + 1` per fundamental bin in every stage (stage `H` tests fundamental
/// drifts `z/H`, on a grid `H` times finer); the measured κ ≈ 0.7 per unit of `zmax`
/// (≈ 1.4 per row) says neighbouring rows are nearly independent.
pub fn accel_trials_factor(zmax: u32) -> f64 {
    1.0 + ACCEL_TRIALS_PER_Z * zmax as f64
}

/// Reference level `u₀ = −ln p` at which [`STAGE_TRIALS_PER_BIN`] holds.
pub const TRIALS_REF_LEVEL: f64 = 13.0;

/// Exponent `α` of the level dependence of the effective trials, `W(p) = W₀ (−ln p / u₀)^α`.
///
/// The number of noise peaks with tail probability below `p` grows faster than `p`: on a
/// correlated grid, rarer excursions are more often distinct peaks (Rice's formula gives
/// `α = ½` for a smooth χ² process), and short series have the larger excess (their whitening
/// levels rest on fewer bins). Measured between the 0σ and 3σ levels: about 0.85 for 2¹⁵ samples
/// (32 000 series), 0.6 for 2¹⁷ (8 000), 0.2 ± 0.6 for 2²⁰ (1 000). [`level_exponent`] is the
/// straight-line fit `α = 0.6 − 0.13 (log₂ N − 17)`, clamped to [0, 1].
pub const TRIALS_LEVEL_EXPONENT: f64 = 0.6;

/// `α` for a series of `nsamples` samples: `clamp(0.6 − 0.13 (log₂ N − 17), 0, 1)`
/// ([`TRIALS_LEVEL_EXPONENT`]).
pub fn level_exponent(nsamples: usize) -> f64 {
    let l = (nsamples.max(2) as f64).log2();
    (TRIALS_LEVEL_EXPONENT - 0.13 * (l - 17.0)).clamp(0.0, 1.0)
}

/// Calibrated `γ` of the effective-DM-trials model (module docs).
///
/// `cargo run --release --example calibrate_trials -- obs M T` (pure-noise `fast-l-band-lite`
/// observations, DM 0–120 on the default plan) fits the `γ` whose reported sigmas give the
/// predicted count of sifted candidates at ≥ 1σ: 3.2 (128 channels, 8 s, 0.5–500 Hz, 48
/// observations), 3.0 (128 channels, 8 s, 0.1 Hz–Nyquist, 48), 1.1 (512 channels, 30 s,
/// 0.5–500 Hz, 24; only 5 candidates ≥ 1σ, so ±45 %). At ≥ 0σ the same runs want 3.4, 7.0 and 2.0:
/// far below any threshold the level model under-counts (see [`TRIALS_LEVEL_EXPONENT`]).
pub const DM_DECORRELATION: f64 = 3.0;

/// Effective trials at tail probability `exp(logp)` of a search whose reference-level trials are
/// `w_ref` ([`search_trials`]), for series of `nsamples` samples: `w_ref · (−logp / u₀)^α` with
/// `α = `[`level_exponent`]`(nsamples)` (module docs), at least 1.
pub fn trials_at(w_ref: f64, logp: f64, nsamples: usize) -> f64 {
    let u = (-logp).max(1.0);
    (w_ref * (u / TRIALS_REF_LEVEL).powf(level_exponent(nsamples))).max(1.0)
}

/// The significance the periodic search reports for summed power `power` of `nharm` harmonics in
/// a search of reference-level trials `w_ref` on series of `nsamples` samples:
/// `sigma_from_logp(logp_with_trials(ln Q, W(p)))` with `W(p) = `[`trials_at`]`(w_ref, ln Q,
/// nsamples)` and `Q` the χ² tail of [`super::stats::chi2_logsf`]. Increasing in `power`.
pub fn search_sigma(power: f64, nharm: u32, w_ref: f64, nsamples: usize) -> f64 {
    let logp = chi2_logsf(power, nharm);
    sigma_from_logp(logp_with_trials(logp, trials_at(w_ref, logp, nsamples)))
}

/// Smallest summed power whose [`search_sigma`] reaches `sigma` (bisection to 10⁻⁹ relative):
/// the detection threshold of stage `nharm`.
pub fn search_power_for_sigma(sigma: f64, nharm: u32, w_ref: f64, nsamples: usize) -> f64 {
    let n = nharm.max(1) as f64;
    let (mut lo, mut hi) = (0.0f64, n + 10.0);
    while search_sigma(hi, nharm, w_ref, nsamples) < sigma {
        hi *= 2.0;
        if hi > 1e300 {
            return f64::INFINITY;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if search_sigma(mid, nharm, w_ref, nsamples) < sigma {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-9 * hi {
            break;
        }
    }
    hi
}

/// `c_H` of [`STAGE_TRIALS_PER_BIN`] for stage `nharm` (stages are powers of two; another value
/// takes the next stage below).
pub fn stage_trials_per_bin(nharm: u32) -> f64 {
    STAGE_TRIALS_PER_BIN.iter().rev().find(|(h, _)| *h <= nharm.max(1)).map(|x| x.1).unwrap_or(1.0)
}

/// The DM trials of one group of series searched together: how many and the dispersion delay
/// span (s) across the band between the lowest and highest of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DmSpan {
    /// Number of DM trials (≥ 1).
    pub ndm: usize,
    /// `K_DM · (DM_max − DM_min) · (ν_lo⁻² − ν_hi⁻²)`, seconds (0 for one trial).
    pub delay_span_s: f64,
}

impl DmSpan {
    /// One series alone.
    pub const SINGLE: DmSpan = DmSpan { ndm: 1, delay_span_s: 0.0 };
}

/// `Σ_{h=1}^{H} 1/h`.
fn harmonic_number(nharm: u32) -> f64 {
    (1..=nharm.max(1)).map(|h| 1.0 / h as f64).sum()
}

/// `Σ_{k=k_lo}^{k_hi} min(cap, 1 + a·k)` in closed form (integers `k`, `a ≥ 0`).
fn sum_capped_linear(k_lo: f64, k_hi: f64, a: f64, cap: f64) -> f64 {
    let (lo, hi) = (k_lo.ceil(), k_hi.floor());
    if hi < lo {
        return 0.0;
    }
    if a <= 0.0 || cap <= 1.0 {
        return hi - lo + 1.0;
    }
    // 1 + a k ≤ cap for k ≤ kc
    let kc = ((cap - 1.0) / a).floor();
    let mut s = 0.0;
    let a_hi = hi.min(kc);
    if a_hi >= lo {
        let n = a_hi - lo + 1.0;
        s += n + a * (lo + a_hi) * n / 2.0;
    }
    let b_lo = lo.max(kc + 1.0);
    if hi >= b_lo {
        s += (hi - b_lo + 1.0) * cap;
    }
    s
}

/// Effective trials of the harmonic stages `stages` over the integer Fourier bins
/// `k_lo ..= k_hi` of a series of length `tobs_s` seconds whose spectrum ends at bin `k_last`
/// ([`last_bin`]), for the DM trials `span` (module docs: `Σ_H c_H Σ_{k ≤ k_hi(H)} n_dm(k/T, H)`,
/// `k_hi(H) = min(k_hi, k_last / H)`).
pub fn series_trials(k_lo: f64, k_hi: f64, k_last: f64, tobs_s: f64, stages: &[u32], span: DmSpan) -> f64 {
    series_trials_with(k_lo, k_hi, k_last, tobs_s, stages, span, DM_DECORRELATION)
}

/// [`series_trials`] with the DM decorrelation constant `gamma` given (for calibration).
pub fn series_trials_with(
    k_lo: f64,
    k_hi: f64,
    k_last: f64,
    tobs_s: f64,
    stages: &[u32],
    span: DmSpan,
    gamma: f64,
) -> f64 {
    let cap = span.ndm.max(1) as f64;
    stages
        .iter()
        .map(|&hh| {
            let k_hi_stage = stage_top_bin(k_hi, k_last, hh);
            let a = if tobs_s > 0.0 {
                gamma * span.delay_span_s.max(0.0) * hh as f64 / harmonic_number(hh) / tobs_s
            } else {
                0.0
            };
            stage_trials_per_bin(hh) * sum_capped_linear(k_lo, k_hi_stage, a, cap)
        })
        .sum()
}

/// Lowest fundamental Fourier bin the periodic search tests (at least this many rotations in the
/// series), whatever `fmin_hz` asks for.
///
/// Below it the whitening level ([`super::spectrum::whiten_spectrum_with`]) rests on the first
/// 6–7-bin median window alone, extrapolated to the band edge, and its estimation error gives the
/// normalised powers a tail far heavier than χ²: on 40 000 white-noise series of 2¹⁵ samples
/// (`cargo run --release --example tail_probe -- 40000 15`) the counts at ≥ 4σ were 8 with bins
/// from 3.3 up (prediction 1.3; 6 of the 8 below bin 8) and 2 from bin 10 up, while the 1–3σ counts
/// were within 1.5 Poisson σ of the prediction from bin 10 up. Longer periods are the FFA's range.
pub const MIN_FUNDAMENTAL_BIN: f64 = 10.0;

/// Last Fourier bin of a series of `nsamples` samples that the search uses (the Nyquist bin of an
/// even length is left out: it has one degree of freedom, not two).
pub fn last_bin(nsamples: usize) -> f64 {
    let nb = nsamples / 2 + 1;
    let nb_search = if nsamples >= 2 && nsamples % 2 == 0 { nb - 1 } else { nb };
    nb_search.saturating_sub(1) as f64
}

/// Highest fundamental bin stage `nharm` tests: `min(k_hi, k_last / nharm)` (its `nharm`-th
/// harmonic must lie in the spectrum, [`super::harmonic::harmonic_sum`]).
pub fn stage_top_bin(k_hi: f64, k_last: f64, nharm: u32) -> f64 {
    k_hi.min(k_last / nharm.max(1) as f64)
}

/// Fourier bins `[k_lo, k_hi]` searched in a series of `nsamples` samples of `tsamp_s` between
/// `fmin_hz` and `fmax_hz` (never below [`MIN_FUNDAMENTAL_BIN`], never the Nyquist bin) — the
/// rule of [`super::periodic::search_series`]. `None` when the range is empty.
pub fn searched_bins(nsamples: usize, tsamp_s: f64, fmin_hz: f64, fmax_hz: f64) -> Option<(f64, f64)> {
    let nb = nsamples / 2 + 1;
    let nb_search = if nsamples >= 2 && nsamples % 2 == 0 { nb - 1 } else { nb };
    if nb_search < 3 {
        return None;
    }
    let tobs = nsamples as f64 * tsamp_s;
    let last_bin = (nb_search - 1) as f64;
    let lo = (fmin_hz * tobs).max(MIN_FUNDAMENTAL_BIN);
    let hi = if fmax_hz.is_finite() { (fmax_hz * tobs).min(last_bin) } else { last_bin };
    if hi < lo {
        None
    } else {
        Some((lo, hi))
    }
}

/// Total effective trials `W` of a periodic search of the observation `header` over the DM
/// `plan`, with stages `stages` between `fmin_hz` and `fmax_hz`: the sum over plan steps of
/// [`series_trials`], each step's series being `nsamples/downsamp − max_delay` samples long at
/// `tsamp · downsamp` (the direct dedisperser's output, see [`crate::dedisp`]). At least 1.
pub fn search_trials(header: &Header, plan: &DmPlan, stages: &[u32], fmin_hz: f64, fmax_hz: f64) -> f64 {
    search_trials_with(header, plan, stages, fmin_hz, fmax_hz, DM_DECORRELATION)
}

/// [`search_trials`] with the DM decorrelation constant `gamma` given (for calibration).
pub fn search_trials_with(
    header: &Header,
    plan: &DmPlan,
    stages: &[u32],
    fmin_hz: f64,
    fmax_hz: f64,
    gamma: f64,
) -> f64 {
    let nch = header.nchans.max(1) as f64;
    let f1 = header.fch1_mhz;
    let f2 = header.fch1_mhz + header.foff_mhz * (nch - 1.0);
    let (flo, fhi) = (f1.min(f2), f1.max(f2));
    let band = if flo > 0.0 && nch > 1.0 { flo.powi(-2) - fhi.powi(-2) } else { 0.0 };
    let mut w = 0.0;
    for step in &plan.steps {
        if step.dms.is_empty() {
            continue;
        }
        let ds = step.downsamp.max(1);
        let tsamp = header.tsamp_s * ds as f64;
        let (dmin, dmax) = step.dms.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &d| (a.min(d), b.max(d)));
        let n_ds = header.nsamples as usize / ds;
        let nout = n_ds.saturating_sub(max_delay_samples(header, dmax, tsamp));
        if let Some((lo, hi)) = searched_bins(nout, tsamp, fmin_hz, fmax_hz) {
            let span = DmSpan { ndm: step.dms.len(), delay_span_s: K_DM * (dmax - dmin) * band };
            w += series_trials_with(lo, hi, last_bin(nout), nout as f64 * tsamp, stages, span, gamma);
        }
    }
    w.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_sum_matches_loop() {
        for &(lo, hi, a, cap) in
            &[(1.0, 100.0, 0.3, 7.0), (3.0, 50.0, 0.0, 5.0), (1.0, 10.0, 5.0, 3.0), (2.5, 9.2, 0.1, 40.0)]
        {
            let mut s = 0.0;
            let mut k = f64::ceil(lo);
            while k <= hi {
                s += f64::min(cap, 1.0 + a * k);
                k += 1.0;
            }
            assert!((sum_capped_linear(lo, hi, a, cap) - s).abs() < 1e-9 * s, "{lo} {hi} {a} {cap}");
        }
    }
}
