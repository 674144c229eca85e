//! Spectral kurtosis: the generalised estimator of Nita & Gary (2010).
//!
//! For `M` power samples `x_i` of one channel, each the sum of `N·d` squared Gaussian voltages
//! (`N` accumulated spectra, shape `d`), with `S₁ = Σ x_i` and `S₂ = Σ x_i²`, the generalised
//! spectral kurtosis estimator is (Nita & Gary 2010, MNRAS 406, L60, eq. 8)
//!
//! `SK = (M·N·d + 1)/(M − 1) · (M·S₂/S₁² − 1)`,
//!
//! whose expectation is exactly 1 for Gaussian (chi-squared power) noise and whose variance is
//! (their eq. 9) `Var(SK) = 2·Nd·(Nd + 1)·M² / ((M − 1)·(M·Nd + 2)·(M·Nd + 3))`, which tends to
//! `4/M` for `Nd = 1` (raw power samples) and to `2/M` for large `Nd` (integrated filterbank data).
//! Non-Gaussian signals (impulses, intermittent or modulated emitters) move SK away from 1.
//!
//! Filterbank files carry an arbitrary gain per channel, so `N·d` is not known from the header.
//! [`super::CleanedObservation`] estimates it per channel as the median over statistics blocks of
//! `mean²/variance` (`Nd = mean²/var` for a Gamma-distributed power), which a minority of
//! interference-hit blocks cannot move; channels whose mean is not positive (zero-mean floats)
//! have no usable `Nd` and are not judged by SK.
//!
//! SK is only valid on **power** samples: positive, chi-squared-like, with `mean/std = sqrt(Nd)
//! ≥ 1`. Zero-mean float data (already normalised, or voltage-like) break that: `var/mean²` is
//! then dominated by how close each block's mean falls to 0 and flags channels at random
//! (measured: 16 of 64 channels of clean zero-mean Gaussian data). [`sk_applicability`] checks
//! each channel's `mean/std` before SK is used and says why it is skipped.

/// The generalised SK estimator from the sums `s1 = Σx`, `s2 = Σx²` of `m` samples, each of
/// shape `nd` (= N·d). Returns NaN when `m < 2` or `s1` is 0.
pub fn sk_estimator(s1: f64, s2: f64, m: f64, nd: f64) -> f64 {
    if m < 2.0 || s1 == 0.0 {
        return f64::NAN;
    }
    (m * nd + 1.0) / (m - 1.0) * (m * s2 / (s1 * s1) - 1.0)
}

/// The same estimator written with the sample variance-to-squared-mean ratio
/// `r = var/mean² = M·S₂/S₁² − 1` (population variance of the block), which is what the
/// excision stage stores per block and channel.
pub fn sk_from_ratio(r: f64, m: f64, nd: f64) -> f64 {
    if m < 2.0 {
        return f64::NAN;
    }
    (m * nd + 1.0) / (m - 1.0) * r
}

/// Expected variance of [`sk_estimator`] on Gaussian noise (Nita & Gary 2010, eq. 9):
/// `2·Nd·(Nd+1)·M² / ((M−1)·(M·Nd+2)·(M·Nd+3))`; ≈ `4/M` for `nd = 1`.
pub fn sk_variance(m: f64, nd: f64) -> f64 {
    if m < 2.0 {
        return f64::INFINITY;
    }
    2.0 * nd * (nd + 1.0) * m * m / ((m - 1.0) * (m * nd + 2.0) * (m * nd + 3.0))
}

/// Smallest `mean/std` of a channel that SK judges: power samples with `Nd ≥ 1` accumulations
/// have `mean/std = sqrt(Nd) ≥ 1` (an exponential, `Nd = 1`, has mean = std), so a channel below
/// 1 cannot hold chi-squared power samples.
pub const SK_MIN_MEAN_OVER_STD: f64 = 1.0;

/// Which channels SK may judge, from each channel's mean and standard deviation over the whole
/// observation (`mean`, `std`: one value per channel; `live`: channels not already masked).
///
/// A channel is judged when `mean ≥ SK_MIN_MEAN_OVER_STD · std` (see
/// [`SK_MIN_MEAN_OVER_STD`]). When fewer than half of the live channels pass, the data are not
/// power samples at all (zero-mean or normalised floats) and SK is skipped for the whole
/// observation: `Err(reason)`, a sentence for the log and the `/rfi` group's `sk_skipped`.
pub fn sk_applicability(mean: &[f64], std: &[f64], live: &[bool]) -> Result<Vec<bool>, String> {
    let ok: Vec<bool> = mean
        .iter()
        .zip(std)
        .zip(live)
        .map(|((&m, &s), &l)| l && m.is_finite() && s.is_finite() && s > 0.0 && m >= SK_MIN_MEAN_OVER_STD * s)
        .collect();
    let nlive = live.iter().filter(|&&l| l).count();
    let npass = ok.iter().filter(|&&o| o).count();
    if nlive > 0 && 2 * npass < nlive {
        let mut r: Vec<f64> = (0..mean.len())
            .filter(|&c| live[c] && std[c] > 0.0)
            .map(|c| mean[c] / std[c])
            .filter(|r| r.is_finite())
            .collect();
        let med = if r.is_empty() { f64::NAN } else { super::robust_centre_scale(&mut r).0 };
        return Err(format!(
            "spectral kurtosis skipped: {} of {nlive} channels have mean < {SK_MIN_MEAN_OVER_STD}·std (median mean/std \
             {med:.3}), so the samples are not chi-squared power (zero-mean or normalised data)",
            nlive - npass
        ));
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variance_limits() {
        // Nd = 1: 4 M² / ((M−1)(M+2)(M+3)) → 4/M.
        let m = 1.0e6;
        assert!((sk_variance(m, 1.0) * m - 4.0).abs() < 1e-4);
        assert!((sk_variance(m, 1.0e4) * m - 2.0).abs() < 1e-3);
    }

    #[test]
    fn applicability_needs_power_samples() {
        let live = [true, true, true, false];
        // Power-like channels (mean/std = 6, 1.2) pass, a zero-mean one does not.
        let ok = sk_applicability(&[96.0, 1.2, 0.01, 0.0], &[16.0, 1.0, 1.0, 0.0], &live).unwrap();
        assert_eq!(ok, vec![true, true, false, false]);
        // Mostly zero-mean: skipped for the whole observation, with a reason.
        let why = sk_applicability(&[0.01, -0.02, 5.0], &[1.0, 1.0, 1.0], &[true; 3]).unwrap_err();
        assert!(why.contains("2 of 3 channels"), "{why}");
    }

    #[test]
    fn constant_power_gives_zero_minus_bias() {
        // A constant (fully coherent) signal: M S2 / S1² = 1, SK = 0.
        assert_eq!(sk_estimator(10.0, 10.0, 10.0, 1.0), 0.0);
        assert!(sk_estimator(0.0, 1.0, 10.0, 1.0).is_nan());
    }
}
