//! Optimisation of a folded candidate in period, period derivative and DM, by rotating the
//! sub-integrations and sub-bands of a [`FoldCube`] (PRESTO prepfold's approach: no re-reading).
//!
//! Rotations are by whole phase bins (nearest integer), so noise stays independent between bins
//! and the white-noise statistics of [`super::stats`] stay exact at every trial.
//!
//! Search order (two iterations): the DM curve at the current (P, Ṗ); the P–Ṗ map at the best
//! DM; then the DM curve again at the best (P, Ṗ). The maximised quantity is the boxcar S/N.

use super::stats::{profile_snr, reduced_chi2};
use super::{phase_at, FoldConfig, FoldCube};
use crate::consts::K_DM;
use ndarray::Array2;
use rayon::prelude::*;

/// The optimised fold of one candidate.
///
/// Arrays are aligned at the optimised parameters and hold sums of normalised samples (see
/// [`FoldCube`]); `*_counts` give the sample counts for the noise (`var = counts`).
#[derive(Debug, Clone, PartialEq)]
pub struct FoldResult {
    /// Optimised period at the first sample, s.
    pub period_s: f64,
    /// Optimised period derivative, s/s.
    pub pdot: f64,
    /// Optimised DM, pc cm⁻³ (centroid of the DM curve's peak, see [`optimise`]).
    pub dm: f64,
    /// Folded S/N: best boxcar S/N of the profile ([`super::stats::profile_snr`]).
    pub snr: f64,
    /// Reduced χ² of the profile against a flat one ([`super::stats::reduced_chi2`]).
    pub reduced_chi2: f64,
    /// Degrees of freedom of `reduced_chi2` (`nbins − 1`).
    pub dof: usize,
    /// Effective degrees of freedom of the χ² under white noise (see [`super::stats`]: every
    /// sample lands in one bin, so `nbins − 1`; measured on noise in tests/fold.rs).
    pub dof_eff: f64,
    /// Natural log of the single-trial probability that noise gives this χ² or more
    /// (prepfold's "Prob(Noise)"): `ln Q(dof_eff/2, reduced_chi2·dof_eff/2)`.
    pub ln_prob_noise: f64,
    /// Trials the optimiser's grid holds: `n_period · n_pdot · n_dm` (axes searched).
    pub ntrials: u64,
    /// Effective number of independent trials of the search at this χ² level, calibrated on
    /// noise cubes of the same shape ([`super::trials::trials_model`]); 1 without a search.
    pub ntrials_eff: f64,
    /// Gaussian-equivalent significance of the fold, corrected for `ntrials_eff`:
    /// `Q_gauss(sigma) = 1 − (1 − Prob(Noise))^ntrials_eff`. Under noise it is N(0, 1)
    /// distributed (tested at 1, 2 and 3σ in tests/fold.rs).
    pub sigma: f64,
    /// Period 1σ uncertainty, s, from the template fit of [`super::refine`] (NaN when the fit
    /// was refused: no pulse).
    pub period_err_s: f64,
    /// Ṗ 1σ uncertainty, s/s (NaN when Ṗ was not searched or the fit was refused).
    pub pdot_err: f64,
    /// DM 1σ uncertainty, pc cm⁻³ (NaN when DM was not searched, for single-frequency data, or
    /// when the fit was refused).
    pub dm_err: f64,
    /// Width of the best boxcar, bins.
    pub width_bins: usize,
    /// Start bin of the best boxcar.
    pub peak_bin: usize,
    /// Number of phase bins.
    pub nbins: usize,
    /// Observation length, s.
    pub tobs_s: f64,
    /// Folding period, Ṗ and DM the cube was made with (the starting point).
    pub fold_period_s: f64,
    /// See `fold_period_s`.
    pub fold_pdot: f64,
    /// See `fold_period_s`.
    pub fold_dm: f64,
    /// Profile `[nbins]` (sums) and its counts `[nbins]`.
    pub profile: Vec<f64>,
    /// Sample counts of `profile`.
    pub profile_counts: Vec<f64>,
    /// Phase vs time `[n_subints][nbins]`, sums over sub-bands.
    pub time_phase: Array2<f64>,
    /// Phase vs frequency `[n_subbands][nbins]`, sums over sub-integrations.
    pub freq_phase: Array2<f64>,
    /// Sub-integration centre times, s `[n_subints]`.
    pub subint_times_s: Vec<f64>,
    /// Sub-band effective frequencies, MHz `[n_subbands]`.
    pub subband_freqs_mhz: Vec<f64>,
    /// DM trials of the DM curve, pc cm⁻³ `[n_dm]`.
    pub dm_trials: Vec<f64>,
    /// S/N at each DM trial (at the optimised P, Ṗ) `[n_dm]`.
    pub dm_snr: Vec<f64>,
    /// Period trials of the P–Ṗ map, s `[n_period]`.
    pub period_trials_s: Vec<f64>,
    /// Ṗ trials of the P–Ṗ map `[n_pdot]`.
    pub pdot_trials: Vec<f64>,
    /// S/N map `[n_pdot][n_period]` at the optimised DM.
    pub ppdot_snr: Array2<f64>,
}

/// `dst[b] += src[(b + shift) mod n]`: rotate `src` left by `shift` bins and add.
fn add_rotated(dst: &mut [f64], src: &[f64], shift: i64) {
    let n = src.len() as i64;
    let s = shift.rem_euclid(n) as usize;
    let n = n as usize;
    for (b, d) in dst.iter_mut().enumerate().take(n) {
        let j = b + s;
        *d += src[if j >= n { j - n } else { j }];
    }
}

fn linspace(centre: f64, half: f64, n: usize) -> Vec<f64> {
    if n <= 1 {
        return vec![centre];
    }
    (0..n).map(|i| centre - half + 2.0 * half * i as f64 / (n - 1) as f64).collect()
}

/// Context of the shifts for one cube.
struct Shifts<'a> {
    cube: &'a FoldCube,
    nbins: usize,
}

impl Shifts<'_> {
    /// Bin shift of sub-integration `k` for trial (p, pd) relative to the cube's folding model.
    fn subint(&self, k: usize, p: f64, pd: f64) -> i64 {
        let t = self.cube.subint_times_s[k];
        let d = phase_at(t, self.cube.period_s, self.cube.pdot) - phase_at(t, p, pd);
        (d * self.nbins as f64).round() as i64
    }
    /// Bin shift of sub-band `s` for trial DM `dm` (extra delay relative to the folding DM).
    fn subband(&self, s: usize, dm: f64, p: f64) -> i64 {
        let f = self.cube.subband_freqs_mhz[s];
        if !f.is_finite() {
            return 0;
        }
        let dt = K_DM * (dm - self.cube.dm) * (1.0 / (f * f) - 1.0 / (self.cube.ftop_mhz * self.cube.ftop_mhz));
        (dt / p * self.nbins as f64).round() as i64
    }
    /// `[n_subbands][nbins]` sums and counts, sub-integrations aligned for (p, pd).
    fn freq_phase(&self, p: f64, pd: f64) -> (Array2<f64>, Array2<f64>) {
        let (nsub, nsb, nb) = (self.cube.nsubints(), self.cube.nsubbands(), self.nbins);
        let mut d = Array2::zeros((nsb, nb));
        let mut c = Array2::zeros((nsb, nb));
        for k in 0..nsub {
            let sh = self.subint(k, p, pd);
            for s in 0..nsb {
                let src = self.cube.data.slice(ndarray::s![k, s, ..]).to_vec();
                let srcc = self.cube.counts.slice(ndarray::s![k, s, ..]).to_vec();
                add_rotated(d.row_mut(s).as_slice_mut().expect("contiguous"), &src, sh);
                add_rotated(c.row_mut(s).as_slice_mut().expect("contiguous"), &srcc, sh);
            }
        }
        (d, c)
    }
    /// `[n_subints][nbins]` sums and counts, sub-bands aligned for `dm`.
    fn time_phase(&self, dm: f64, p: f64) -> (Array2<f64>, Array2<f64>) {
        let (nsub, nsb, nb) = (self.cube.nsubints(), self.cube.nsubbands(), self.nbins);
        let mut d = Array2::zeros((nsub, nb));
        let mut c = Array2::zeros((nsub, nb));
        let shifts: Vec<i64> = (0..nsb).map(|s| self.subband(s, dm, p)).collect();
        for k in 0..nsub {
            for (s, &sh) in shifts.iter().enumerate() {
                let src = self.cube.data.slice(ndarray::s![k, s, ..]).to_vec();
                let srcc = self.cube.counts.slice(ndarray::s![k, s, ..]).to_vec();
                add_rotated(d.row_mut(k).as_slice_mut().expect("contiguous"), &src, sh);
                add_rotated(c.row_mut(k).as_slice_mut().expect("contiguous"), &srcc, sh);
            }
        }
        (d, c)
    }
}

/// Collapses rows of `(sums, counts)` with per-row shifts into one profile.
fn collapse(d: &Array2<f64>, c: &Array2<f64>, shifts: &[i64]) -> (Vec<f64>, Vec<f64>) {
    let nb = d.ncols();
    let mut p = vec![0.0; nb];
    let mut pc = vec![0.0; nb];
    for (r, &sh) in shifts.iter().enumerate() {
        add_rotated(&mut p, d.row(r).as_slice().expect("contiguous"), sh);
        add_rotated(&mut pc, c.row(r).as_slice().expect("contiguous"), sh);
    }
    (p, pc)
}

/// Best DM from a DM curve: centroid of `snr − thr` over the contiguous run of trials around
/// the maximum where `snr ≥ thr`, `thr = max − ½(max − min)`. For a sharp peak this is the peak;
/// for a broad, flat-topped curve (narrow bands, where the DM is weakly constrained) it is the
/// centre of the plateau rather than the position of the largest noise fluctuation on it.
fn dm_centroid(dms: &[f64], snr: &[f64]) -> f64 {
    let (imax, &smax) = snr.iter().enumerate().fold((0, &f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
    let smin = snr.iter().cloned().fold(f64::INFINITY, f64::min);
    if dms.len() < 3 || smax.partial_cmp(&smin) != Some(std::cmp::Ordering::Greater) {
        return dms.get(imax).copied().unwrap_or(0.0);
    }
    let thr = smax - 0.5 * (smax - smin);
    let mut lo = imax;
    while lo > 0 && snr[lo - 1] >= thr {
        lo -= 1;
    }
    let mut hi = imax;
    while hi + 1 < snr.len() && snr[hi + 1] >= thr {
        hi += 1;
    }
    let (mut sw, mut swx) = (0.0, 0.0);
    for i in lo..=hi {
        let w = snr[i] - thr;
        sw += w;
        swx += w * dms[i];
    }
    if sw > 0.0 {
        swx / sw
    } else {
        dms[imax]
    }
}

/// Vertex of the parabola through three equally spaced points (offset in steps from the middle),
/// clamped to ±0.5 step; 0 when the points are not a maximum.
fn parabola_offset(ym: f64, y0: f64, yp: f64) -> f64 {
    let den = ym - 2.0 * y0 + yp;
    if den >= 0.0 {
        return 0.0;
    }
    (0.5 * (ym - yp) / den).clamp(-0.5, 0.5)
}

/// The statistic the grid search maximises at every trial: a function of the profile sums, their
/// counts and the noise variance per sample.
pub(crate) type Statistic = fn(&[f64], &[f64], f64) -> f64;

/// Boxcar S/N of a profile (the statistic [`optimise`] maximises: for a narrow pulse it locates the
/// optimum more reliably than χ², which spreads the pulse's power over all bins).
pub(crate) fn stat_snr(p: &[f64], c: &[f64], v: f64) -> f64 {
    profile_snr(p, c, v).snr
}

/// Reduced χ² of a profile against a flat one (what prepfold maximises). Kept for comparison: with
/// it, a 15σ pulsar folded one Fourier bin and two DM steps off was trapped on the P–Ṗ ridge at
/// S/N 7.8 (tests/fold.rs `optimiser_returns_from_one_fourier_bin_and_two_dm_trials_off`).
#[allow(dead_code)]
pub(crate) fn stat_chi2(p: &[f64], c: &[f64], v: f64) -> f64 {
    reduced_chi2(p, c, v).0
}

/// Outcome of the grid search of [`optimise`].
pub(crate) struct GridOutcome {
    pub period_s: f64,
    pub pdot: f64,
    pub dm: f64,
    pub dm_trials: Vec<f64>,
    pub dm_stat: Vec<f64>,
    pub period_trials: Vec<f64>,
    pub pdot_trials: Vec<f64>,
    pub map: Array2<f64>,
    /// `K_DM (f_bottom⁻² − f_top⁻²)`, 0 without DM information.
    pub band_k: f64,
}

/// The grid search of [`optimise`] (see there), maximising `stat`.
pub(crate) fn grid_search(cube: &FoldCube, cfg: &FoldConfig, stat: Statistic) -> GridOutcome {
    let nb = cube.nbins();
    let sh = Shifts { cube, nbins: nb };
    let g = &cfg.search;
    let t = cube.tobs_s.max(f64::MIN_POSITIVE);
    let p0 = cube.period_s;
    let dp = p0 * p0 / t; // one Fourier bin
    let dpd = 2.0 * p0 * p0 / (t * t);
    // The trials stay physical: every period trial ≥ P/2 > 0, and |ΔṖ|·T ≤ P/2 so the period
    // stays positive over the data (bounds reached only below 8 turns with the default grid).
    let period_trials = linspace(p0, (g.period_range_bins * dp).min(0.5 * p0), g.n_period.max(1));
    let pdot_trials = linspace(cube.pdot, (g.pdot_range_bins * dpd).min(0.5 * p0 / t), g.n_pdot.max(1));
    let fin: Vec<f64> = cube.subband_freqs_mhz.iter().cloned().filter(|f| f.is_finite()).collect();
    let flo = fin.iter().cloned().fold(f64::INFINITY, f64::min);
    let fhi = fin.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let band_k = if fin.len() >= 2 && fhi > flo {
        K_DM * (1.0 / (cube.fbottom_mhz * cube.fbottom_mhz) - 1.0 / (cube.ftop_mhz * cube.ftop_mhz))
    } else {
        0.0
    };
    let dm_trials = if band_k > 0.0 && g.n_dm > 1 {
        let half = if g.dm_range > 0.0 {
            g.dm_range
        } else {
            let step = p0 / (nb as f64 * band_k);
            step * (g.n_dm - 1) as f64 / 2.0
        };
        // DM ≥ 0: a window that would reach below 0 is moved up to start at 0 (same trials
        // and spacing), so the optimiser cannot report a negative DM.
        linspace(cube.dm.max(half), half, g.n_dm)
    } else {
        vec![cube.dm]
    };

    let dm_curve = |p: f64, pd: f64| -> Vec<f64> {
        let (fd, fc) = sh.freq_phase(p, pd);
        dm_trials
            .par_iter()
            .map(|&dm| {
                let shifts: Vec<i64> = (0..cube.nsubbands()).map(|s| sh.subband(s, dm, p)).collect();
                let (pr, pc) = collapse(&fd, &fc, &shifts);
                stat(&pr, &pc, cube.var_sample)
            })
            .collect()
    };
    let ppdot_map = |dm: f64, p_ref: f64| -> Array2<f64> {
        let (td, tc) = sh.time_phase(dm, p_ref);
        let rows: Vec<Vec<f64>> = pdot_trials
            .par_iter()
            .map(|&pd| {
                period_trials
                    .iter()
                    .map(|&p| {
                        let shifts: Vec<i64> = (0..cube.nsubints()).map(|k| sh.subint(k, p, pd)).collect();
                        let (pr, pc) = collapse(&td, &tc, &shifts);
                        stat(&pr, &pc, cube.var_sample)
                    })
                    .collect()
            })
            .collect();
        let mut m = Array2::zeros((pdot_trials.len(), period_trials.len()));
        for (j, r) in rows.iter().enumerate() {
            for (i, v) in r.iter().enumerate() {
                m[[j, i]] = *v;
            }
        }
        m
    };

    let (mut p, mut pd) = (cube.period_s, cube.pdot);
    let mut map = Array2::zeros((pdot_trials.len(), period_trials.len()));
    for _iter in 0..2 {
        let curve = dm_curve(p, pd);
        let dm_iter = dm_centroid(&dm_trials, &curve);
        map = ppdot_map(dm_iter, p);
        let (mut jb, mut ib, mut best) = (0, 0, f64::NEG_INFINITY);
        for ((j, i), &v) in map.indexed_iter() {
            if v > best {
                best = v;
                jb = j;
                ib = i;
            }
        }
        p = period_trials[ib];
        pd = pdot_trials[jb];
        if ib > 0 && ib + 1 < period_trials.len() {
            let o = parabola_offset(map[[jb, ib - 1]], map[[jb, ib]], map[[jb, ib + 1]]);
            p += o * (period_trials[1] - period_trials[0]);
        }
        if jb > 0 && jb + 1 < pdot_trials.len() {
            let o = parabola_offset(map[[jb - 1, ib]], map[[jb, ib]], map[[jb + 1, ib]]);
            pd += o * (pdot_trials[1] - pdot_trials[0]);
        }
    }
    let dm_stat = dm_curve(p, pd);
    let dm = dm_centroid(&dm_trials, &dm_stat);
    GridOutcome { period_s: p, pdot: pd, dm, dm_trials, dm_stat, period_trials, pdot_trials, map, band_k }
}

/// Profile `[nbins]` sums and counts of `cube` aligned (whole-bin rotations) at `(p, pd, dm)`.
pub(crate) fn aligned_profile(cube: &FoldCube, p: f64, pd: f64, dm: f64) -> (Vec<f64>, Vec<f64>) {
    let sh = Shifts { cube, nbins: cube.nbins() };
    let band_shifts: Vec<i64> = (0..cube.nsubbands()).map(|s| sh.subband(s, dm, p)).collect();
    let (fd, fc) = sh.freq_phase(p, pd);
    collapse(&fd, &fc, &band_shifts)
}

/// Number of grid trials of `cfg.search` on `cube`: `n_period · n_pdot · n_dm`, with `n_dm = 1`
/// when the cube carries no DM information.
pub fn grid_trials(cube: &FoldCube, cfg: &FoldConfig) -> u64 {
    let fin = cube.subband_freqs_mhz.iter().filter(|f| f.is_finite()).count();
    let n_dm = if fin >= 2 { cfg.search.n_dm.max(1) } else { 1 };
    (cfg.search.n_period.max(1) * cfg.search.n_pdot.max(1) * n_dm) as u64
}

/// Optimises a folded candidate in period, Ṗ and DM on the grid of `cfg.search` (see
/// [`super::SearchGrid`]) and measures the result.
///
/// * Grid search: the DM estimate is the centroid of the DM curve's peak (see the private
///   `dm_centroid`: centroid above half of the curve's range), the period and Ṗ estimates the
///   maximum of the P–Ṗ map refined by a three-point parabola along each axis; the maximised
///   statistic is the boxcar S/N. Rotations are by whole bins.
/// * S/N, χ² and the significance are those of the profile at the grid optimum ([`super::stats`]):
///   `Prob(Noise)` from χ² with `dof_eff` degrees of freedom, and `sigma` corrected for the
///   effective number of trials of the search at that level ([`super::trials::trials_model`]).
/// * The reported P, Ṗ and DM and their 1σ uncertainties come from the template fit of
///   [`super::refine::refine`] started at the grid optimum (fractional phase shifts, sandwich
///   covariance, jackknife errors); when `sigma < 1` or the fit is refused (noise), the grid
///   optimum is reported with NaN errors.
///   Only searched axes are fitted (a count of 1 in the grid fixes that parameter).
///
/// A cube with a single sub-band (or all sub-bands at one frequency) has no DM information:
/// the DM curve then has one trial and `dm_err` is NaN.
pub fn optimise(cube: &FoldCube, cfg: &FoldConfig) -> FoldResult {
    let nb = cube.nbins();
    let sh = Shifts { cube, nbins: nb };
    let go = grid_search(cube, cfg, stat_snr);
    let (p, pd, dm) = (go.period_s, go.pdot, go.dm);

    // Final aligned products.
    let sub_shifts: Vec<i64> = (0..cube.nsubints()).map(|k| sh.subint(k, p, pd)).collect();
    let band_shifts: Vec<i64> = (0..cube.nsubbands()).map(|s| sh.subband(s, dm, p)).collect();
    let (td, _tc) = sh.time_phase(dm, p);
    let (fd, fc) = sh.freq_phase(p, pd);
    let mut time_phase = Array2::zeros(td.raw_dim());
    for (k, &shift) in sub_shifts.iter().enumerate() {
        add_rotated(time_phase.row_mut(k).as_slice_mut().expect("contiguous"), td.row(k).as_slice().expect("c"), shift);
    }
    let mut freq_phase = Array2::zeros(fd.raw_dim());
    for (s, &shift) in band_shifts.iter().enumerate() {
        add_rotated(freq_phase.row_mut(s).as_slice_mut().expect("contiguous"), fd.row(s).as_slice().expect("c"), shift);
    }
    let (profile, profile_counts) = collapse(&fd, &fc, &band_shifts);
    let bx = profile_snr(&profile, &profile_counts, cube.var_sample);
    let (chi2, dof) = reduced_chi2(&profile, &profile_counts, cube.var_sample);
    let searched = cfg.search.n_period > 1 || cfg.search.n_pdot > 1 || (cfg.search.n_dm > 1 && go.band_k > 0.0);
    let ntrials = if searched { grid_trials(cube, cfg) } else { 1 };
    let model = if searched { super::trials::trials_model(cube, cfg) } else { super::trials::TrialsModel::one() };
    let ln_p1 = super::stats::fold_significance(chi2, dof, 1.0).ln_prob_noise;
    // Correlated trials cannot make more independent ones than the grid holds.
    let ntrials_eff = model.n_eff(ln_p1).min(ntrials as f64);
    let sig = super::stats::fold_significance(chi2, dof, ntrials_eff);
    // No pulse to time below 1σ (noise): the grid optimum is reported with NaN uncertainties.
    let refined = if sig.sigma < 1.0 {
        None
    } else {
        super::refine::refine(cube, p, pd, dm, cfg.search.n_pdot > 1, cfg.search.n_dm > 1 && go.band_k > 0.0)
    };
    // The fit may not leave the physical range: a period that is not positive at the start or
    // the end of the data falls back to the grid optimum (no uncertainties), and a DM below 0
    // is reported at 0, the boundary (the grid's DM trials are all ≥ 0).
    let t_obs = cube.tobs_s;
    let (rp, rpd, rdm, ep, epd, edm) = match refined {
        Some(r) if r.period_s > 0.0 && r.period_s + r.pdot * t_obs > 0.0 && r.dm.is_finite() => {
            (r.period_s, r.pdot, r.dm.max(0.0), r.period_err_s, r.pdot_err, r.dm_err)
        }
        _ => (p, pd, dm, f64::NAN, f64::NAN, f64::NAN),
    };
    FoldResult {
        period_s: rp,
        pdot: rpd,
        dm: rdm,
        snr: bx.snr,
        reduced_chi2: chi2,
        dof,
        dof_eff: sig.dof_eff,
        ln_prob_noise: sig.ln_prob_noise,
        ntrials,
        ntrials_eff,
        sigma: sig.sigma,
        period_err_s: ep,
        pdot_err: epd,
        dm_err: edm,
        width_bins: bx.width_bins,
        peak_bin: bx.start_bin,
        nbins: nb,
        tobs_s: cube.tobs_s,
        fold_period_s: cube.period_s,
        fold_pdot: cube.pdot,
        fold_dm: cube.dm,
        profile,
        profile_counts,
        time_phase,
        freq_phase,
        subint_times_s: cube.subint_times_s.clone(),
        subband_freqs_mhz: cube.subband_freqs_mhz.clone(),
        dm_trials: go.dm_trials,
        dm_snr: go.dm_stat,
        period_trials_s: go.period_trials,
        pdot_trials: go.pdot_trials,
        ppdot_snr: go.map,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_left_shift() {
        let mut d = vec![0.0; 4];
        add_rotated(&mut d, &[0.0, 1.0, 2.0, 3.0], 1);
        assert_eq!(d, vec![1.0, 2.0, 3.0, 0.0]);
        let mut d = vec![0.0; 4];
        add_rotated(&mut d, &[0.0, 1.0, 2.0, 3.0], -5);
        assert_eq!(d, vec![3.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn dm_centroid_of_symmetric_plateau_is_its_centre() {
        let dms: Vec<f64> = (0..61).map(|i| i as f64).collect();
        // Flat top 20..40 with a noise bump at 24, falling outside.
        let snr: Vec<f64> = dms
            .iter()
            .map(|&d| {
                if (20.0..=40.0).contains(&d) {
                    90.0 + if d == 24.0 { 1.0 } else { 0.0 }
                } else {
                    90.0 - (d - 30.0).abs()
                }
            })
            .collect();
        let c = dm_centroid(&dms, &snr);
        assert!((c - 30.0).abs() < 1.0, "{c}");
    }
}
