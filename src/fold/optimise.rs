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
    /// Period uncertainty, s: `P²·σ_φ/T` with `σ_φ = (boxcar width in turns)/S/N`.
    pub period_err_s: f64,
    /// Ṗ uncertainty: `2P²·σ_φ/T²`.
    pub pdot_err: f64,
    /// DM uncertainty, pc cm⁻³: `σ_φ·P / (K_DM·(f_lo⁻² − f_hi⁻²))`; NaN for single-frequency data.
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

/// Optimises a folded candidate in period, Ṗ and DM on the grid of `cfg.search` (see
/// [`super::SearchGrid`]) and measures the result.
///
/// * The DM estimate is the centroid of the DM curve's peak (see the private `dm_centroid`:
///   centroid above half of the curve's range), the period and Ṗ estimates the maximum of the
///   P–Ṗ map refined by a three-point parabola along each axis.
/// * S/N and χ² are those of the profile at the final parameters ([`super::stats`]).
/// * Uncertainties use the usual timing estimate of the phase error of a profile,
///   `σ_φ ≈ W/(S/N)` (W the pulse width in turns, here the best boxcar width): a phase error
///   `σ_φ` at the ends of the observation of length T corresponds to `δν = σ_φ/T`, so
///   `δP = P²σ_φ/T`, `δṖ = 2P²σ_φ/T²`, and across the band to `δDM = σ_φ·P/(K_DM(f_lo⁻²−f_hi⁻²))`.
///   They are order-of-magnitude (1σ-like) values, not fitted errors.
///
/// A cube with a single sub-band (or all sub-bands at one frequency) has no DM information:
/// the DM curve then has one trial and `dm_err` is NaN.
pub fn optimise(cube: &FoldCube, cfg: &FoldConfig) -> FoldResult {
    let nb = cube.nbins();
    let sh = Shifts { cube, nbins: nb };
    let g = &cfg.search;
    let t = cube.tobs_s.max(f64::MIN_POSITIVE);
    let p0 = cube.period_s;
    let dp = p0 * p0 / t; // one Fourier bin
    let dpd = 2.0 * p0 * p0 / (t * t);
    let period_trials = linspace(p0, g.period_range_bins * dp, g.n_period.max(1));
    let pdot_trials = linspace(cube.pdot, g.pdot_range_bins * dpd, g.n_pdot.max(1));
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
        linspace(cube.dm, half, g.n_dm)
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
                profile_snr(&pr, &pc, cube.var_sample).snr
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
                        profile_snr(&pr, &pc, cube.var_sample).snr
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
    let dm_snr = dm_curve(p, pd);
    let dm = dm_centroid(&dm_trials, &dm_snr);

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
    let sigma_phi = bx.width_bins as f64 / nb as f64 / bx.snr.max(1.0);
    FoldResult {
        period_s: p,
        pdot: pd,
        dm,
        snr: bx.snr,
        reduced_chi2: chi2,
        dof,
        period_err_s: p * p * sigma_phi / t,
        pdot_err: 2.0 * p * p * sigma_phi / (t * t),
        dm_err: if band_k > 0.0 { sigma_phi * p / band_k } else { f64::NAN },
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
        dm_trials,
        dm_snr,
        period_trials_s: period_trials,
        pdot_trials,
        ppdot_snr: map,
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
