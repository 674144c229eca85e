//! The ideal detection curve and the false-alarm prediction of the FFT periodicity search.
//!
//! # From folded S/N to Fourier power
//! Take a dedispersed time series of `N` samples with unit-variance white noise and a pulse
//! `A·g(φ)`, `g` a Gaussian of peak 1 and full width at half maximum `δ` turns (the duty cycle),
//! `σ_φ = δ / sqrt(8 ln 2)`. Its Fourier coefficient at harmonic `h` is `X_h = N·A·c_h` with
//!
//! ```text
//! c_h = ∫ g(φ) e^{−2πihφ} dφ = σ_φ √(2π) · exp(−2π² h² σ_φ²) = c_0 · exp(−(π h δ)² / (4 ln 2))
//! ```
//!
//! and, the search normalising powers to unit noise mean (`|noise|²` has mean `N`), the expected
//! signal part of the normalised power is `S_h = |X_h|²/N = N A² c_h²`.
//!
//! The simulator's `expected_snr` ([`crate::io::truth`]) is the best contiguous boxcar S/N of the
//! noiseless profile folded into `nb = 64` bins (averaged over four phase offsets of the bin
//! grid): bin `i` holds `(N/nb)·A·ḡ_i` with noise `sqrt(N/nb)`, so `S/N = sqrt(N)·A·B(δ)/sqrt(nb)`
//! with `B(δ) = max_{w,s} Σ_on (ḡ_i − ḡ_off)/sqrt(w)` a pure number of the shape. Hence
//!
//! ```text
//! S_h = (S/N)² · nb · c_h² / B(δ)²,
//! ```
//!
//! and Parseval gives `2 Σ_{h≥1} S_h = (S/N_matched)²`, the matched-filter S/N; the boxcar captures
//! `η(δ) = S/N / S/N_matched ≈ 0.94` of it for a well-sampled Gaussian ([`boxcar_efficiency`]).
//! Smearing by the sampling time and inside channels broadens the pulse; [`effective_duty`]
//! adds it in quadrature (a boxcar of width `t` has the variance of a Gaussian of FWHM
//! `t·sqrt(8 ln 2 / 12)`).
//!
//! # Detection probability
//! Harmonic stage `H` sums `P = Σ_{h≤H} |X_h + n_h|²/N`: `2P` is non-central χ² with `2H` degrees
//! of freedom and non-centrality `λ = 2 Σ_{h≤H} S_h`. Its tail is the Poisson mixture
//! `Pr(P > T) = Σ_j Pois(j; λ/2) · Q(H + j, T)` with `Q` the regularised upper incomplete gamma
//! function ([`crate::search::stats::chi2_logsf`]). The search thresholds stage `H` at
//! `T_H = search_power_for_sigma(σ_thr, H, W)`; the ideal completeness is the largest stage
//! probability `max_H Pr(P_H > T_H)` (a lower bound on the union of stages, which are strongly
//! correlated) for a signal exactly on a Fourier bin at the true DM: every real loss (scalloping
//! between bins, DM-grid mismatch, whitening) lowers the measured curve below it.
//!
//! # False alarms
//! The search reports trials-corrected significances, `p_trials = 1 − (1 − p)^ntrials`, with
//! `ntrials` the number of independent trials. On pure noise, with `ntrials` independent trials,
//! the expected number of trials whose `sigma` exceeds `s` is
//! `ntrials · (1 − (1 − Q_gauss(s))^{1/ntrials}) ≈ −ln(1 − Q_gauss(s))`, about `Q_gauss(s)` for
//! large `s` (≈ 1.0 × 10⁻⁹ per observation at 6σ) — whatever the number of trials.

use crate::search::stats::{chi2_logsf, ln_gauss_sf};
use crate::search::trials::search_power_for_sigma;

/// Number of folded-profile bins of the simulator's expected S/N
/// ([`crate::sim::pulsar::EXPECTED_SNR_NBINS`]).
pub const SNR_NBINS: usize = crate::sim::pulsar::EXPECTED_SNR_NBINS;

/// Relative Fourier amplitude of harmonic `h` of a Gaussian pulse of duty cycle `duty`
/// (FWHM / period): `exp(−(π h δ)² / (4 ln 2))` (1 at `h = 0`).
pub fn gaussian_harmonic_amplitude(h: u32, duty: f64) -> f64 {
    let x = std::f64::consts::PI * h as f64 * duty;
    (-(x * x) / (4.0 * std::f64::consts::LN_2)).exp()
}

/// Duty cycle broadened by sampling and intra-channel smearing, added in quadrature:
/// `sqrt(δ² + (8 ln 2 / 12)·(t_samp² + t_chan²)/P²)` (boxcars of those widths as Gaussians of
/// equal variance). `tsamp_s`: effective sampling time (after downsampling), `chan_smear_s`:
/// intra-channel dispersion smearing (L&K 2005 eq. 5.2), `period_s`: spin period.
pub fn effective_duty(duty: f64, period_s: f64, tsamp_s: f64, chan_smear_s: f64) -> f64 {
    let k = 8.0 * std::f64::consts::LN_2 / 12.0;
    (duty * duty + k * (tsamp_s * tsamp_s + chan_smear_s * chan_smear_s) / (period_s * period_s)).sqrt()
}

/// Unit-peak Gaussian of FWHM `duty` averaged over each of `nb` phase bins, with the pulse
/// centred at phase `offset` (turns); wraps around (periodic).
fn binned_gaussian(duty: f64, nb: usize, offset: f64) -> Vec<f64> {
    const SUB: usize = 32;
    let sigma = duty / (8.0 * std::f64::consts::LN_2).sqrt();
    (0..nb)
        .map(|i| {
            let mut acc = 0.0;
            for m in 0..SUB {
                let x = (i as f64 + (m as f64 + 0.5) / SUB as f64) / nb as f64 - offset;
                let d = (x + 0.5).rem_euclid(1.0) - 0.5;
                acc += [d - 1.0, d, d + 1.0].iter().map(|e| (-0.5 * (e / sigma).powi(2)).exp()).sum::<f64>();
            }
            acc / SUB as f64
        })
        .collect()
}

/// `B(δ)` of the module docs: the best-boxcar statistic of a unit-peak Gaussian of duty cycle
/// `duty` in [`SNR_NBINS`] bins, averaged over four phase offsets (0, ¼, ½, ¾ bin) as the
/// simulator does.
pub fn boxcar_statistic(duty: f64) -> f64 {
    let nb = SNR_NBINS;
    (0..4)
        .map(|o| {
            crate::sim::pulsar::best_boxcar_profile(&binned_gaussian(duty, nb, 0.5 + o as f64 / (4.0 * nb as f64)))
        })
        .sum::<f64>()
        / 4.0
}

/// Expected signal powers `S_h`, `h = 1 ..= nharm` (index `h − 1`), normalised to unit noise mean,
/// of a Gaussian pulse with folded S/N `snr` (simulator definition) and duty cycle `duty`:
/// `S_h = snr² · nb · c_h² / B(δ)²` (module docs).
pub fn expected_harmonic_powers(snr: f64, duty: f64, nharm: u32) -> Vec<f64> {
    let b = boxcar_statistic(duty);
    let sigma_phi = duty / (8.0 * std::f64::consts::LN_2).sqrt();
    let c0 = sigma_phi * (2.0 * std::f64::consts::PI).sqrt();
    (1..=nharm)
        .map(|h| {
            let c = c0 * gaussian_harmonic_amplitude(h, duty);
            snr * snr * SNR_NBINS as f64 * c * c / (b * b)
        })
        .collect()
}

/// `η(δ)`: boxcar S/N over matched-filter S/N, `S/N / sqrt(2 Σ_{h≥1} S_h)` (≤ 1).
pub fn boxcar_efficiency(duty: f64) -> f64 {
    let n = ((4.0 / duty.max(1e-4)).ceil() as u32).clamp(8, 100_000);
    let s: f64 = expected_harmonic_powers(1.0, duty, n).iter().sum();
    1.0 / (2.0 * s).sqrt()
}

/// `ln Pr(P > threshold)` for `P = Σ` of `nharm` powers whose signal parts sum to `signal`
/// (the non-central χ² tail of the module docs, Poisson mixture summed in log space).
pub fn ln_detection_probability(signal: f64, nharm: u32, threshold: f64) -> f64 {
    let n = nharm.max(1);
    if signal.is_nan() || signal <= 0.0 {
        return chi2_logsf(threshold, n);
    }
    let mu = signal;
    let jmax = (mu + 12.0 * mu.sqrt() + 40.0).ceil() as u32;
    let mut terms = Vec::with_capacity(jmax as usize + 1);
    let mut ln_fact = 0.0f64;
    for j in 0..=jmax {
        if j > 0 {
            ln_fact += (j as f64).ln();
        }
        let ln_pois = -mu + j as f64 * mu.ln() - ln_fact;
        terms.push(ln_pois + chi2_logsf(threshold, n + j));
    }
    let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    (m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()).min(0.0)
}

/// Ideal detection probability of one signal: `max_H Pr(P_H > T_H)` over the harmonic stages
/// `stages` (1, 2, 4, …), with `powers[h−1] = S_h` and `T_H = search_power_for_sigma(sigma, H, ntrials, nsamples)`
/// (`ntrials`: the search's reference-level trials `W₀`, [`crate::search::trials`]; `nsamples`:
/// samples in the searched time series, which sets the level exponent of the trials model).
/// Returns `(probability, best stage)`.
pub fn ideal_detection_probability(
    powers: &[f64],
    stages: &[u32],
    sigma: f64,
    ntrials: f64,
    nsamples: usize,
) -> (f64, u32) {
    let mut best = (0.0, stages.first().copied().unwrap_or(1));
    for &hh in stages {
        let s: f64 = powers.iter().take(hh as usize).sum();
        let thr = search_power_for_sigma(sigma, hh, ntrials, nsamples);
        let p = ln_detection_probability(s, hh, thr).exp();
        if p > best.0 {
            best = (p, hh);
        }
    }
    best
}

/// Expected number of noise trials with trials-corrected significance ≥ `sigma` in one
/// observation searched with `ntrials` independent trials:
/// `ntrials · (1 − (1 − Q_gauss(sigma))^{1/ntrials})` (module docs).
pub fn expected_false_alarms(sigma: f64, ntrials: f64) -> f64 {
    let n = ntrials.max(1.0);
    let p = ln_gauss_sf(sigma).exp();
    -n * ((-p).ln_1p() / n).exp_m1()
}

/// Expected matched S/N sum over the first `nharm` harmonics: `sqrt(2 Σ_{h≤H} S_h)` — what the
/// search's `snr` ([`crate::search::stats::snr_from_power`]) estimates for an ideally placed signal.
pub fn expected_fourier_snr(snr: f64, duty: f64, nharm: u32) -> f64 {
    (2.0 * expected_harmonic_powers(snr, duty, nharm).iter().sum::<f64>()).sqrt()
}

/// Poisson two-sided band `[max(0, μ − k√μ), μ + k√μ]`, as used for the false-alarm check; for
/// tiny `μ` the upper end is at least `μ + k√μ` and the count must be 0 when that is < 1.
pub fn poisson_band(mu: f64, k: f64) -> (f64, f64) {
    ((mu - k * mu.sqrt()).max(0.0), mu + k * mu.sqrt())
}
