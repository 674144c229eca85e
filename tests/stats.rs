//! Significance statistics (`search::stats`) against values computed independently here.

use tianyan::search::stats::{
    candidate_sigma, chi2_logsf, ln_gauss_sf, logp_with_trials, sigma_from_logp, snr_from_power,
};

/// Independent one-sided Gaussian tail: composite Simpson integration of φ over [x, x + 40].
fn gauss_tail_simpson(x: f64) -> f64 {
    let n = 400_000usize; // even
    let b = x + 40.0;
    let h = (b - x) / n as f64;
    let phi = |t: f64| (-0.5 * t * t).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mut s = phi(x) + phi(b);
    for i in 1..n {
        let w = if i % 2 == 1 { 4.0 } else { 2.0 };
        s += w * phi(x + i as f64 * h);
    }
    s * h / 3.0
}

/// Independent inverse of the Gaussian tail by bisection on the Simpson tail.
fn sigma_independent(p: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0f64, 12.0f64);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if gauss_tail_simpson(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Direct (linear-space) Q(N, P) = e^{-P} Σ_{k<N} P^k/k!.
fn q_direct(n: u32, p: f64) -> f64 {
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for k in 1..n {
        term *= p / k as f64;
        sum += term;
    }
    (-p).exp() * sum
}

#[test]
fn power_10_one_harmonic_is_3_91_sigma() {
    // p = e^{-10} = 4.54e-5 → one-sided sigma ≈ 3.91
    let p = (-10.0f64).exp();
    assert!((p - 4.54e-5).abs() < 1e-7);
    let s_ref = sigma_independent(p);
    assert!((s_ref - 3.91).abs() < 0.01, "independent reference {s_ref}");
    let s = candidate_sigma(10.0, 1, 1.0);
    assert!((s - s_ref).abs() < 1e-6, "sigma {s} vs independent {s_ref}");
}

#[test]
fn sigma_matches_independent_for_several_cases() {
    // (power, nharm, ntrials) with p_trials computed directly here
    let cases = [(5.0, 1, 1.0), (20.0, 4, 1.0), (30.0, 8, 100.0), (25.0, 2, 1.0e4), (60.0, 16, 1.0e6)];
    for &(pw, n, nt) in &cases {
        let p = q_direct(n, pw);
        let pt = 1.0 - (1.0 - p).powf(nt);
        let s_ref = sigma_independent(pt);
        let s = candidate_sigma(pw, n, nt);
        assert!((s - s_ref).abs() < 1e-5, "P={pw} N={n} trials={nt}: {s} vs {s_ref}");
    }
}

#[test]
fn gaussian_tail_matches_simpson() {
    for &x in &[-2.0, 0.0, 0.7, 2.5, 3.0, 3.5, 6.0, 9.0] {
        let a = ln_gauss_sf(x).exp();
        let b = gauss_tail_simpson(x);
        assert!((a / b - 1.0).abs() < 1e-9, "x={x}: {a} vs {b}");
    }
}

#[test]
fn q_matches_direct_summation() {
    for &n in &[1u32, 2, 3, 4, 8, 16, 32] {
        for &p in &[0.1, 0.5, 3.0, 10.0, 40.0, 100.0, 300.0] {
            let a = chi2_logsf(p, n).exp();
            let b = q_direct(n, p);
            assert!((a / b - 1.0).abs() < 1e-11, "N={n} P={p}: {a} vs {b}");
        }
    }
    // closed forms: Q(1,P) = e^-P, Q(2,P) = e^-P (1+P)
    assert!((chi2_logsf(7.0, 1) + 7.0).abs() < 1e-12);
    assert!((chi2_logsf(7.0, 2) - (-7.0 + 8.0f64.ln())).abs() < 1e-12);
    assert_eq!(chi2_logsf(0.0, 4), 0.0);
}

#[test]
fn huge_powers_give_finite_monotonic_sigma() {
    let mut last = 0.0f64;
    for &p in &[1.0e2, 1.0e3, 1.0e4, 3.0e4, 1.0e5, 1.0e6] {
        let s = candidate_sigma(p, 16, 1.0e7);
        assert!(s.is_finite(), "P={p}: {s}");
        assert!(s > last, "not increasing at P={p}: {s} <= {last}");
        last = s;
    }
    // P = 1e5, N = 16: ln p from the dominant term k=15 of the sum (independent closed form),
    // then x from x²/2 + ln(x√(2π)) = −ln p (asymptotic tail) by fixed-point iteration.
    let p = 1.0e5f64;
    let mut lnfact15 = 0.0;
    for k in 2..=15 {
        lnfact15 += (k as f64).ln();
    }
    let lnp = -p + 15.0 * p.ln() - lnfact15; // other terms add < 2e-4 relative
    assert!((chi2_logsf(p, 16) - lnp).abs() < 1e-3);
    let mut x = (-2.0 * lnp).sqrt();
    for _ in 0..50 {
        x = (2.0 * (-lnp - (x * (2.0 * std::f64::consts::PI).sqrt()).ln())).sqrt();
    }
    let s = candidate_sigma(p, 16, 1.0);
    assert!((s - x).abs() < 1e-3, "sigma {s} vs asymptotic {x}");
    assert!((s - 446.0).abs() < 1.0);
}

#[test]
fn trials_correction_forms() {
    // moderate p: exact formula
    let lp = (1e-3f64).ln();
    let pt = 1.0 - (1.0 - 1e-3f64).powf(50.0);
    assert!((logp_with_trials(lp, 50.0) - pt.ln()).abs() < 1e-12);
    // tiny p: ≈ ntrials·p
    let lp = -200.0;
    assert!((logp_with_trials(lp, 1e6) - (-200.0 + 1e6f64.ln())).abs() < 1e-12);
    // more trials never increase sigma
    assert!(candidate_sigma(40.0, 4, 1e6) < candidate_sigma(40.0, 4, 1e3));
}

#[test]
fn sigma_sign_and_limits() {
    assert!(sigma_from_logp((0.5f64).ln()).abs() < 1e-9);
    let s = sigma_from_logp((0.841_344_746_068_543_f64).ln()); // Q(−1)
    assert!((s + 1.0).abs() < 1e-8, "{s}");
    assert!(sigma_from_logp(f64::NEG_INFINITY).is_infinite());
}

#[test]
fn snr_from_power_definition() {
    // snr = sqrt(2 (P − N)); noise-level power gives 0
    assert!((snr_from_power(58.0, 8) - 10.0).abs() < 1e-12);
    assert_eq!(snr_from_power(3.0, 4), 0.0);
}
