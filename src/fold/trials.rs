//! Effective number of independent trials of the fold optimiser, calibrated on noise.
//!
//! The grid of [`super::SearchGrid`] holds `n_period · n_pdot · n_dm` trials (65 · 9 · 41 =
//! 23 985 by default), but neighbouring trials are far from independent: one period step moves
//! the last sub-integration by 1/16 turn relative to the first (4 of 64 bins), so most
//! sub-integrations keep their rotation and the χ² of adjacent trials is strongly correlated;
//! the search is also coordinate-wise (DM curve, P–Ṗ map, DM curve, twice), not an exhaustive
//! scan of the cube. Counting the grid would overstate the trials factor; counting one trial
//! would understate it (issue 11: the best S/N of pure-noise folds exceeded 3 in 29.6 % of them).
//!
//! The effective count is measured instead, as the trials-factor calibrations of FFT searches are
//! (issue 10 item 2): `K` white-noise cubes of the same shape, counts, sub-integration times and
//! sub-band frequencies as the cube being optimised (cells `N(0, counts)`, fixed seeds) go
//! through the same grid search ([`super::optimise::grid_search`]); for each, the single-trial
//! χ² tail probability `p₁` at the selected trial is computed. Were the search `N` independent
//! trials, `P(p₁ < x) = 1 − (1 − x)^N` at every `x`; measured, the implied `N` is not one number
//! but grows with the level, so the model is `N_eff(L) = e^a·L^γ` with `L = −ln p₁`, fitted on
//! the noise cubes' quantiles ([`trials_model`]). `K` = [`CALIBRATION_CUBES`].
//!
//! The estimate is cached per cube shape and grid (period and Ṗ ranges are in Fourier bins and the
//! automatic DM step is one bin of delay, so the count does not depend on the period itself).
//! Measured (tests/fold.rs, default grid, 64 bins, 32 × 32 cube over 1000–1500 MHz): see
//! [`trials_model`].

use super::optimise::{aligned_profile, grid_search, stat_snr};
use super::stats::{chi2_ln_sf, reduced_chi2};
use super::{FoldConfig, FoldCube};
use ndarray::Array3;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::collections::HashMap;
use std::sync::Mutex;

/// Number of noise cubes of the calibration.
pub const CALIBRATION_CUBES: usize = 384;

static CACHE: Mutex<Option<HashMap<String, TrialsModel>>> = Mutex::new(None);

/// Cache key: shape, grid, and the shape of the sub-band delay distribution (relative `f⁻²`
/// offsets) and of the DM range in bins of delay.
fn key(cube: &FoldCube, cfg: &FoldConfig) -> String {
    let ftop2 = cube.ftop_mhz.powi(-2);
    let xs: Vec<f64> =
        cube.subband_freqs_mhz.iter().map(|f| if f.is_finite() { f.powi(-2) - ftop2 } else { f64::NAN }).collect();
    let xmax = xs.iter().cloned().filter(|x| x.is_finite()).fold(0.0f64, f64::max);
    let rel: Vec<String> =
        xs.iter().map(|x| if x.is_finite() && xmax > 0.0 { format!("{:.3}", x / xmax) } else { "n".into() }).collect();
    let dm_bins = if cfg.search.dm_range > 0.0 {
        let k = crate::consts::K_DM * (cube.fbottom_mhz.powi(-2) - ftop2);
        format!("{:.2}", cfg.search.dm_range * k * cube.nbins() as f64 / cube.period_s)
    } else {
        "auto".into()
    };
    let g = &cfg.search;
    format!(
        "{:?}|{} {} {} {} {}|{}|{}",
        cube.data.shape(),
        g.n_period,
        g.n_pdot,
        g.n_dm,
        g.period_range_bins,
        g.pdot_range_bins,
        dm_bins,
        rel.join(",")
    )
}

/// Single-trial ln Prob(Noise) of the grid search's selection on one white-noise cube shaped as
/// `cube` (seeded by `seed`).
pub(crate) fn noise_ln_p(cube: &FoldCube, cfg: &FoldConfig, seed: u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Array3::zeros(cube.data.raw_dim());
    for (d, &c) in data.iter_mut().zip(cube.counts.iter()) {
        let z: f64 = StandardNormal.sample(&mut rng);
        *d = z * c.max(0.0).sqrt();
    }
    let noise = FoldCube { data, ..cube.clone() };
    let go = grid_search(&noise, cfg, stat_snr);
    let (pr, pc) = aligned_profile(&noise, go.period_s, go.pdot, go.dm);
    let (chi2, dof) = reduced_chi2(&pr, &pc, noise.var_sample);
    chi2_ln_sf(chi2 * dof as f64, dof as f64)
}

/// Level-dependent effective-trials model: `ln N_eff = c₀ + c₁x + c₂x²` with `x = ln L`,
/// `L = −ln p₁`, on the calibrated range `[x_lo, x_hi]`; constant below it and continued along
/// its tangent above it (slope at least 0) (see the module doc and [`trials_model`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TrialsModel {
    /// `[c₀, c₁, c₂]`.
    pub coef: [f64; 3],
    /// Calibrated range of `x`.
    pub x_range: (f64, f64),
}

impl TrialsModel {
    /// One trial (no search).
    pub fn one() -> TrialsModel {
        TrialsModel { coef: [0.0; 3], x_range: (0.0, 0.0) }
    }

    /// Effective trials at the single-trial tail probability `exp(ln_p1)`, at least 1.
    pub fn n_eff(&self, ln_p1: f64) -> f64 {
        if ln_p1.is_nan() {
            return 1.0;
        }
        let [c0, c1, c2] = self.coef;
        let q = |x: f64| c0 + c1 * x + c2 * x * x;
        let (lo, hi) = self.x_range;
        let x = (-ln_p1).max(1e-3).ln();
        let ln_n = if x <= lo {
            q(lo)
        } else if x <= hi {
            q(x)
        } else {
            q(hi) + (c1 + 2.0 * c2 * hi).max(0.0) * (x - hi)
        };
        ln_n.exp().max(1.0)
    }
}

/// Least-squares quadratic through `(x, y)` points; `None` when degenerate.
#[allow(clippy::needless_range_loop)]
fn fit_quadratic(pts: &[(f64, f64)]) -> Option<[f64; 3]> {
    let mut a = [[0.0f64; 3]; 3];
    let mut b = [0.0f64; 3];
    for &(x, y) in pts {
        let v = [1.0, x, x * x];
        for i in 0..3 {
            b[i] += v[i] * y;
            for j in 0..3 {
                a[i][j] += v[i] * v[j];
            }
        }
    }
    // Gaussian elimination (3 × 3, partial pivoting).
    let mut m: Vec<Vec<f64>> = (0..3).map(|i| vec![a[i][0], a[i][1], a[i][2], b[i]]).collect();
    for c in 0..3 {
        let piv = (c..3).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))?;
        if m[piv][c].abs() < 1e-12 {
            return None;
        }
        m.swap(c, piv);
        for r in 0..3 {
            if r != c {
                let f = m[r][c] / m[c][c];
                for j in c..4 {
                    m[r][j] -= f * m[c][j];
                }
            }
        }
    }
    Some([m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]])
}

/// Effective-trials model of [`super::optimise`]'s search on cubes shaped as `cube` with
/// `cfg.search` (see the module doc). Deterministic (fixed seeds); cached per shape and grid.
///
/// Fit: every order statistic `p₁,(i)` of the noise cubes with plotting position
/// `q = (i + ½)/K` between 0.02 and 0.97 gives the implied count `N_q = ln(1 − q)/ln(1 − p₁,(i))`
/// (what `1 − (1 − p₁)^N = q` needs) and a point `(ln L, ln N)`; a least-squares quadratic
/// through them smooths the calibration's own sampling noise. Measured with the default grid on a 32 × 32 × 64 cube
/// (tests/fold.rs): `N` grows from about 10 at the median to about 400 at `p₁ ~ 10⁻⁵`, close to
/// `γ = 2` — the number of independent trials a correlated search makes grows with the level,
/// as the Euler-characteristic approximation of the maximum of a χ² random field predicts
/// (Worsley 1994, Adv. Appl. Prob. 26, 13), which is why a single trials factor cannot hold at
/// 1σ and at 3σ at once.
pub fn trials_model(cube: &FoldCube, cfg: &FoldConfig) -> TrialsModel {
    let k = key(cube, cfg);
    if let Some(v) = CACHE.lock().ok().and_then(|c| c.as_ref().and_then(|m| m.get(&k).cloned())) {
        return v;
    }
    use rayon::prelude::*;
    let mut lp: Vec<f64> =
        (0..CALIBRATION_CUBES as u64).into_par_iter().map(|i| noise_ln_p(cube, cfg, 0x7ea1_0000 + i)).collect();
    lp.sort_by(|a, b| a.total_cmp(b));
    let kf = lp.len() as f64;
    let pts: Vec<(f64, f64)> = lp
        .iter()
        .enumerate()
        .filter_map(|(i, &x)| {
            let q = (i as f64 + 0.5) / kf;
            let denom = (-x.exp()).ln_1p();
            if !(0.02..=0.97).contains(&q) || denom.is_nan() || denom >= 0.0 || !x.is_finite() {
                return None;
            }
            let n = (1.0f64 - q).ln() / denom;
            (n > 0.0).then(|| ((-x).max(1e-3).ln(), n.ln()))
        })
        .collect();
    let model = match fit_quadratic(&pts) {
        Some(coef) if pts.len() >= 10 => {
            let lo = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
            let hi = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
            TrialsModel { coef, x_range: (lo, hi) }
        }
        _ => TrialsModel::one(),
    };
    tracing::debug!("fold trials calibration: {model:?} ({k})");
    if let Ok(mut c) = CACHE.lock() {
        c.get_or_insert_with(HashMap::new).insert(k, model.clone());
    }
    model
}
