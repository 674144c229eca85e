//! Significance of a folded profile: boxcar S/N and reduced χ² against a flat profile.
//!
//! Both statistics take the profile as **sums** of per-channel-normalised samples per phase bin
//! (`profile[i]`), the number of samples summed into each bin (`counts[i]`) and the noise
//! variance of one summed sample (`var_sample`; 1 for the unit-variance data [`super::fold`]
//! produces). For white noise the expected variance of bin `i` is `var_sample · counts[i]`, so
//! neither statistic estimates the noise from the (few, possibly pulse-contaminated) profile
//! bins: this is the "white-noise" estimate of the reference pipeline in PROVENANCE.md.

/// Result of the boxcar search on a profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxcarSnr {
    /// Best S/N (see [`profile_snr`]).
    pub snr: f64,
    /// First bin of the best boxcar (it may wrap around the end of the profile).
    pub start_bin: usize,
    /// Width of the best boxcar in bins (1 ..= nbins/2).
    pub width_bins: usize,
}

/// Best boxcar S/N of a folded profile.
///
/// For every circular window of `w` bins (`w = 1 ..= max(1, nbins/2)`, every start bin):
/// * baseline per sample `b = Σ_off profile / Σ_off counts` over the bins outside the window;
/// * signal `S = Σ_on (profile[i] − b·counts[i])`;
/// * noise `σ_S = sqrt(var_sample · N_on · (1 + N_on / N_off))`, with `N_on`, `N_off` the sample
///   counts inside and outside the window: the white-noise variance of `S`, including the
///   uncertainty of the baseline;
/// * `S/N = S / σ_S`.
///
/// The maximum over windows is returned. Bins with zero counts are ignored. For an empty or
/// all-zero-count profile the S/N is 0.
pub fn profile_snr(profile: &[f64], counts: &[f64], var_sample: f64) -> BoxcarSnr {
    let n = profile.len().min(counts.len());
    let mut best = BoxcarSnr { snr: 0.0, start_bin: 0, width_bins: 1 };
    if n < 2 || var_sample <= 0.0 {
        return best;
    }
    // Circular prefix sums over two turns.
    let mut ps = vec![0.0; 2 * n + 1];
    let mut pc = vec![0.0; 2 * n + 1];
    for j in 0..2 * n {
        ps[j + 1] = ps[j] + profile[j % n];
        pc[j + 1] = pc[j] + counts[j % n];
    }
    let (tot_s, tot_c) = (ps[n], pc[n]);
    let wmax = (n / 2).max(1);
    let mut best_snr = f64::NEG_INFINITY;
    for w in 1..=wmax {
        for start in 0..n {
            let s_on = ps[start + w] - ps[start];
            let n_on = pc[start + w] - pc[start];
            let n_off = tot_c - n_on;
            if n_on <= 0.0 || n_off <= 0.0 {
                continue;
            }
            let b = (tot_s - s_on) / n_off;
            let signal = s_on - b * n_on;
            let sigma = (var_sample * n_on * (1.0 + n_on / n_off)).sqrt();
            let snr = signal / sigma;
            if snr > best_snr {
                best_snr = snr;
                best = BoxcarSnr { snr, start_bin: start, width_bins: w };
            }
        }
    }
    if !best_snr.is_finite() {
        best.snr = 0.0;
    }
    best
}

/// Reduced χ² of a profile against a flat profile, and its degrees of freedom.
///
/// `χ² = Σ_i (profile[i] − b·counts[i])² / (var_sample · counts[i])` with `b = Σ profile / Σ counts`
/// (the flat profile's level per sample, fitted: one parameter), `dof = n_used − 1` where
/// `n_used` is the number of bins with non-zero counts; returns `(χ²/dof, dof)`. For pure white
/// noise the expectation is 1 with standard deviation `sqrt(2/dof)`. This is the statistic
/// PRESTO's prepfold reports ("reduced χ²" of the profile against a constant), with the noise
/// variance taken from the data rather than from the profile.
/// Returns `(0.0, 0)` when fewer than two bins have counts.
pub fn reduced_chi2(profile: &[f64], counts: &[f64], var_sample: f64) -> (f64, usize) {
    let n = profile.len().min(counts.len());
    let used: Vec<usize> = (0..n).filter(|&i| counts[i] > 0.0).collect();
    if used.len() < 2 || var_sample <= 0.0 {
        return (0.0, 0);
    }
    let tot_s: f64 = used.iter().map(|&i| profile[i]).sum();
    let tot_c: f64 = used.iter().map(|&i| counts[i]).sum();
    let b = tot_s / tot_c;
    let chi2: f64 = used
        .iter()
        .map(|&i| {
            let d = profile[i] - b * counts[i];
            d * d / (var_sample * counts[i])
        })
        .sum();
    let dof = used.len() - 1;
    (chi2 / dof as f64, dof)
}

/// `ln Γ(a)` for `a > 0`: Stirling's series (A&S 6.1.41, terms to `a⁻⁷`) after raising the
/// argument above 10 with `Γ(a) = Γ(a+1)/a`; absolute error below 10⁻¹³.
pub fn ln_gamma(a: f64) -> f64 {
    if a.is_nan() || a <= 0.0 {
        return f64::NAN;
    }
    let mut z = a;
    let mut shift = 0.0;
    while z < 10.0 {
        shift += z.ln();
        z += 1.0;
    }
    let z2 = z * z;
    let series =
        1.0 / (12.0 * z) - 1.0 / (360.0 * z * z2) + 1.0 / (1260.0 * z * z2 * z2) - 1.0 / (1680.0 * z * z2 * z2 * z2);
    (z - 0.5) * z.ln() - z + 0.5 * (2.0 * std::f64::consts::PI).ln() + series - shift
}

/// Natural log of the regularised upper incomplete gamma function `Q(a, x) = Γ(a, x)/Γ(a)`,
/// `a > 0`, `x ≥ 0`: the power series of `P = 1 − Q` (A&S 6.5.29) for `x < a + 1`, else the
/// continued fraction of `Γ(a, x)` (A&S 6.5.31, modified Lentz) in log form, so tiny tails do
/// not underflow (`ln Q(31.5, 1000) ≈ −885`).
pub fn ln_gamma_q(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || a <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 0.0;
    }
    if x.is_infinite() {
        return f64::NEG_INFINITY;
    }
    let ln_pref = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term < sum * 1e-16 {
                break;
            }
        }
        let p = (ln_pref + sum.ln()).exp();
        return (-p).ln_1p();
    }
    let tiny = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / tiny;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < tiny {
            d = tiny;
        }
        c = b + an / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (ln_pref + h.ln()).min(0.0)
}

/// Natural log of the probability that χ² with `dof` (possibly non-integer, effective) degrees of
/// freedom reaches `chi2` (the total, not the reduced value): `ln Q(dof/2, chi2/2)`.
pub fn chi2_ln_sf(chi2: f64, dof: f64) -> f64 {
    ln_gamma_q(0.5 * dof, 0.5 * chi2)
}

/// Calibrated significance of a fold (see [`fold_significance`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoldSignificance {
    /// Effective degrees of freedom of the χ².
    pub dof_eff: f64,
    /// ln of the single-trial probability that noise gives the χ² or more (prepfold's Prob(Noise)).
    pub ln_prob_noise: f64,
    /// Gaussian-equivalent significance after the trials correction.
    pub sigma: f64,
}

/// Effective degrees of freedom per χ² degree of freedom of a fold. prepfold spreads each
/// sample over the bins its duration covers, which correlates neighbouring bins, and corrects
/// the dof for it (PRESTO's `DOF_corr`); [`super::fold`] puts every sample in exactly one bin,
/// so bins of white noise are independent and the factor is 1. Measured on noise folds in
/// tests/fold.rs (`fold_chi2_dof_is_measured_on_noise`: effective dof `2·mean²/var` of
/// `χ²_total` within its sampling error of `nbins − 1`).
pub const DOF_EFF_PER_DOF: f64 = 1.0;

/// Significance of a fold from its reduced χ² (`reduced_chi2` with `dof` degrees of freedom, see
/// [`reduced_chi2`]) and the effective number of independent trials searched:
/// * `dof_eff = DOF_EFF_PER_DOF · dof`;
/// * `ln Prob(Noise) = ln Q(dof_eff/2, reduced_chi2·dof_eff/2)` (χ² tail, [`chi2_ln_sf`]);
/// * `sigma = Q_gauss⁻¹(1 − (1 − Prob(Noise))^ntrials_eff)` (PRESTO's candidate-sigma convention,
///   [`crate::search::stats::logp_with_trials`], [`crate::search::stats::sigma_from_logp`]);
///   negative when noise would do better more often than not.
///
/// `dof = 0` gives NaN values.
pub fn fold_significance(reduced_chi2: f64, dof: usize, ntrials_eff: f64) -> FoldSignificance {
    if dof == 0 {
        return FoldSignificance { dof_eff: f64::NAN, ln_prob_noise: f64::NAN, sigma: f64::NAN };
    }
    let dof_eff = DOF_EFF_PER_DOF * dof as f64;
    let ln_p = chi2_ln_sf(reduced_chi2 * dof_eff, dof_eff);
    let ln_pt = crate::search::stats::logp_with_trials(ln_p, ntrials_eff);
    FoldSignificance { dof_eff, ln_prob_noise: ln_p, sigma: crate::search::stats::sigma_from_logp(ln_pt) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive twin of `profile_snr`: explicit loops over windows and bins, no prefix sums.
    fn naive_snr(p: &[f64], c: &[f64]) -> f64 {
        let n = p.len();
        let mut best = f64::NEG_INFINITY;
        for w in 1..=n / 2 {
            for s in 0..n {
                let on: Vec<usize> = (0..w).map(|k| (s + k) % n).collect();
                let (mut so, mut no, mut sf, mut nf) = (0.0, 0.0, 0.0, 0.0);
                for i in 0..n {
                    if on.contains(&i) {
                        so += p[i];
                        no += c[i];
                    } else {
                        sf += p[i];
                        nf += c[i];
                    }
                }
                let snr = (so - sf / nf * no) / (no * (1.0 + no / nf)).sqrt();
                best = best.max(snr);
            }
        }
        best
    }

    #[test]
    fn boxcar_snr_matches_naive_twin() {
        let n = 32;
        let c: Vec<f64> = (0..n).map(|i| 100.0 + (i % 3) as f64).collect();
        let p: Vec<f64> = (0..n)
            .map(|i| {
                let x = i as f64;
                (x * 1.7).sin() * 10.0 + if (30..32).contains(&i) || i == 0 { 60.0 } else { 0.0 }
            })
            .collect();
        let fast = profile_snr(&p, &c, 1.0);
        let slow = naive_snr(&p, &c);
        assert!((fast.snr - slow).abs() < 1e-9 * slow.abs().max(1.0), "{} vs {}", fast.snr, slow);
        // The pulse wraps: bins 30, 31, 0.
        assert_eq!(fast.start_bin, 30);
        assert_eq!(fast.width_bins, 3);
    }

    #[test]
    fn chi2_of_flat_profile_is_zero_and_of_known_profile_is_exact() {
        let c = vec![4.0; 8];
        let flat = vec![8.0; 8];
        assert_eq!(reduced_chi2(&flat, &c, 1.0), (0.0, 7));
        // One bin 4 above the others: mean level shifts by 0.5, χ² = (3.5²+7·0.5²)/4 = 3.5.
        let mut p = flat.clone();
        p[3] += 4.0;
        let (r, dof) = reduced_chi2(&p, &c, 1.0);
        assert_eq!(dof, 7);
        assert!((r - 3.5 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn incomplete_gamma_matches_closed_forms() {
        // Γ(n) = (n−1)!; Γ(½) = √π.
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        // Integer a: Q(n, x) = e^{−x} Σ_{k<n} x^k/k! (the search's chi2_logsf), both branches.
        for &(n, x) in &[(1u32, 0.3), (3, 1.5), (5, 20.0), (32, 10.0), (32, 60.0), (16, 1e4)] {
            let want = crate::search::stats::chi2_logsf(x, n);
            let got = ln_gamma_q(n as f64, x);
            assert!((got - want).abs() < 1e-9 * want.abs().max(1.0), "a={n} x={x}: {got} vs {want}");
        }
        // Half-integer a = ½: Q(½, x) = erfc(√x) = 2·Q_gauss(√(2x)).
        for &x in &[0.1f64, 1.0, 4.5, 50.0] {
            let want = std::f64::consts::LN_2 + crate::search::stats::ln_gauss_sf((2.0 * x).sqrt());
            let got = ln_gamma_q(0.5, x);
            assert!((got - want).abs() < 1e-9 * want.abs().max(1.0), "x={x}: {got} vs {want}");
        }
    }
}
