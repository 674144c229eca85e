//! Real FFT of a time series of any length, red-noise whitening and interbinning.
//!
//! Conventions (all functions here):
//! - The spectrum of a real series `x[0..N]` is the unnormalised DFT
//!   `X_k = Σ_n x_n e^{−2πi k n / N}` for `k = 0 ..= N/2` (integer division), i.e. `N/2 + 1`
//!   complex values. Bin `k` is the frequency `k / (N · tsamp_s)` Hz. For even `N` the last value
//!   is the Nyquist bin (purely real); for odd `N` there is no Nyquist bin (TRAPS B16): `N = 1001`
//!   gives 501 bins, `0 ..= 500`, all ordinary.
//! - Powers are `|X_k|²`. After [`whiten_spectrum`] the powers of noise bins are unit-mean
//!   exponential (χ² with 2 dof, halved).
//! - DC (bin 0) and Nyquist are never searched (TRAPS B17); whitening sets DC to zero.
//!
//! FFT plans come from a per-thread [`realfft::RealFftPlanner`] (a `thread_local!`), so many
//! rayon workers can transform series of the same length at once without locking; each planner
//! caches its plans (`Arc`), so repeated lengths are planned once per thread.

use num_complex::Complex32;
use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

thread_local! {
    static PLANNER: RefCell<RealFftPlanner<f32>> = RefCell::new(RealFftPlanner::new());
}

/// Errors of the spectrum helpers.
#[derive(Debug, thiserror::Error)]
pub enum SpectrumError {
    /// PRESTO packing only exists for even lengths (PRESTO's `realfft` rejects odd ones).
    #[error("PRESTO packing needs an even number of samples, got {0}")]
    OddLength(usize),
    /// The spectrum length does not match `nsamples / 2 + 1`.
    #[error("spectrum has {got} bins but {nsamples} samples need {expected}")]
    LengthMismatch { got: usize, nsamples: usize, expected: usize },
}

/// Number of complex bins (`0 ..= N/2`) of the real FFT of `nsamples` samples: `N/2 + 1`.
pub fn nbins(nsamples: usize) -> usize {
    nsamples / 2 + 1
}

/// Whether the last bin of an `nsamples` spectrum is the Nyquist bin (true for even `N` ≥ 2).
pub fn has_nyquist(nsamples: usize) -> bool {
    nsamples >= 2 && nsamples % 2 == 0
}

/// Unnormalised real-to-complex DFT of `series` (any length, no padding):
/// returns `N/2 + 1` values `X_k = Σ_n x_n e^{−2πikn/N}` (see the module doc).
///
/// The input is copied (realfft uses its input as scratch). An empty series gives an empty
/// spectrum. Uses this thread's cached FFT plan for length `N`.
pub fn real_spectrum(series: &[f32]) -> Vec<Complex32> {
    let mut input = series.to_vec();
    real_spectrum_destructive(&mut input)
}

/// As [`real_spectrum`] but transforms `input` in place of a copy: `input` is used as FFT scratch
/// and holds garbage afterwards. Saves one allocation per series in the search loop.
pub fn real_spectrum_destructive(input: &mut [f32]) -> Vec<Complex32> {
    let n = input.len();
    if n == 0 {
        return Vec::new();
    }
    let mut out = vec![Complex32::new(0.0, 0.0); nbins(n)];
    PLANNER.with(|p| {
        let plan = p.borrow_mut().plan_fft_forward(n);
        // Buffer lengths come from the plan length, so process() cannot fail.
        plan.process(input, &mut out).expect("realfft buffers sized from the plan length");
    });
    // realfft leaves rounding residue in the imaginary parts of DC and Nyquist: make them exact.
    out[0].im = 0.0;
    if has_nyquist(n) {
        let last = out.len() - 1;
        out[last].im = 0.0;
    }
    out
}

/// PRESTO `.fft` packing of a real spectrum of `nsamples` (even) samples: `N/2` complex values,
/// bin 0 holding DC in its real part and Nyquist in its imaginary part (PRESTO FAQ; TRAPS B17).
///
/// `spec` must be the `N/2 + 1` bins from [`real_spectrum`]. For `x = 1..=8` this gives bin 0 =
/// `36 − 4i`. Errors: odd `nsamples` ([`SpectrumError::OddLength`]) or a wrong spectrum length.
pub fn presto_pack(spec: &[Complex32], nsamples: usize) -> Result<Vec<Complex32>, SpectrumError> {
    if nsamples % 2 != 0 {
        return Err(SpectrumError::OddLength(nsamples));
    }
    if spec.len() != nbins(nsamples) {
        return Err(SpectrumError::LengthMismatch { got: spec.len(), nsamples, expected: nbins(nsamples) });
    }
    let half = nsamples / 2;
    let mut out = spec[..half].to_vec();
    if half > 0 {
        out[0] = Complex32::new(spec[0].re, spec[half].re);
    }
    Ok(out)
}

/// `|X_k|²` of each bin.
pub fn powers(spec: &[Complex32]) -> Vec<f32> {
    spec.iter().map(|c| c.norm_sqr()).collect()
}

/// Parameters of the running-median red-noise removal ([`whiten_spectrum_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WhitenConfig {
    /// Width (bins) of the first median window, at the lowest frequencies (PRESTO: 6).
    pub start_width: usize,
    /// Window width grows as `start_width + growth · k` at bin `k` (constant width in log f,
    /// so windows grow logarithmically in number: one per `ln(1 + growth)` of ln f).
    pub growth: f64,
    /// Largest window width, bins.
    pub max_width: usize,
    /// Window levels are smoothed by a weighted straight-line fit in (ln k, ln level) over this
    /// many windows on each side (0 = no smoothing). Default 2.
    pub smooth_windows: usize,
}

impl Default for WhitenConfig {
    fn default() -> Self {
        WhitenConfig { start_width: 6, growth: 0.2, max_width: 1000, smooth_windows: 2 }
    }
}

/// Largest relative error of the whitening scale from interpolating it between anchor bins
/// instead of evaluating `exp`/`ln` at every bin ([`whiten_spectrum_with`]): 2⁻²⁵, half the
/// `f32` rounding of the scaled values.
const WHITEN_INTERP_TOL: f64 = 2.98e-8;

/// Local noise level used for whitening, one value per bin (`median / ln 2`), returned by
/// [`whiten_spectrum_with`] for diagnostics.
#[derive(Debug, Clone)]
pub struct WhitenInfo {
    /// Estimated mean noise power at each bin before whitening (`local median / ln 2`),
    /// length = spectrum length; entry 0 (DC) is 0.
    pub level: Vec<f32>,
    /// Number of median windows used.
    pub nwindows: usize,
}

/// Expected value of the `i`-th smallest (1-based) of `m` unit-mean exponential variates:
/// `Σ_{j=0}^{i−1} 1/(m − j)` (Rényi representation).
fn expected_order_stat(m: usize, i: usize) -> f64 {
    (0..i.min(m)).map(|j| 1.0 / (m - j) as f64).sum()
}

/// Removes red noise and normalises `spec` in place with the default [`WhitenConfig`].
/// See [`whiten_spectrum_with`].
pub fn whiten_spectrum(spec: &mut [Complex32]) -> WhitenInfo {
    whiten_spectrum_with(spec, &WhitenConfig::default())
}

/// Removes red noise and normalises a complex spectrum in place so that noise powers become
/// unit-mean exponential.
///
/// `spec`: bins `0 ..= N/2` as from [`real_spectrum`] (any scaling; a Fourier-domain dedisperser
/// can pass its spectra directly). Method (after PRESTO's `rednoise` and accelsearch local power
/// normalisation, Ransom et al. 2002 §2.2): bins from 1 upward are cut into consecutive windows of
/// width `w(k) = clamp(start_width + growth·k, start_width, max_width)` at the window start `k`;
/// the median power of each window, divided by the expected median of that many unit-mean
/// exponentials (→ ln 2 for wide windows; exact order-statistic mean for narrow ones), estimates
/// the local mean noise power at the window centre. These window levels are smoothed by a
/// weighted straight-line fit in (ln k, ln level) over `smooth_windows` neighbours on each side
/// (exact for a power-law red spectrum, and ~√5 less scatter than single narrow windows), then
/// interpolated linearly in (ln k, ln level) between window centres and held constant outside the
/// first/last centres. Each complex value is multiplied by `1/√level`. The median is insensitive
/// to a few strong signal bins.
///
/// Window widths grow with frequency (small at low frequency where red noise changes fast; up to
/// `max_width` at high frequency). The cap is larger than PRESTO's ~200 bins on purpose: the median
/// of `n` exponential powers has a relative error of about 1.44/√n, and threshold false-alarm
/// rates grow by roughly `exp(12.5 ε²)` at power 5 for a relative level error `ε`
/// (200 bins: ≈ +9 %, 1000 bins: ≈ +2 %).
///
/// DC is set to 0. The Nyquist bin (if any) is normalised like the others but must not be searched.
pub fn whiten_spectrum_with(spec: &mut [Complex32], cfg: &WhitenConfig) -> WhitenInfo {
    let nb = spec.len();
    let mut level = vec![0.0f32; nb];
    if nb == 0 {
        return WhitenInfo { level, nwindows: 0 };
    }
    spec[0] = Complex32::new(0.0, 0.0);
    if nb < 2 {
        return WhitenInfo { level, nwindows: 0 };
    }
    let start_width = cfg.start_width.max(1);
    let max_width = cfg.max_width.max(start_width);
    // (ln centre, ln level) of each window.
    let mut knots: Vec<(f64, f64, f64)> = Vec::new();
    // Window centres, bins (≥ 1), in step with `knots`.
    let mut centres: Vec<f64> = Vec::new();
    let mut scratch: Vec<f32> = Vec::with_capacity(max_width);
    let mut k = 1usize;
    while k < nb {
        let w = ((start_width as f64 + cfg.growth.max(0.0) * k as f64).round() as usize).clamp(start_width, max_width);
        let mut end = (k + w).min(nb);
        // Merge a short tail into the previous window rather than estimating from a few bins.
        if nb - end < start_width {
            end = nb;
        }
        scratch.clear();
        scratch.extend(spec[k..end].iter().map(|c| c.norm_sqr()));
        let m = scratch.len();
        let mid = m / 2;
        let med = if m % 2 == 1 {
            *scratch.select_nth_unstable_by(mid, f32::total_cmp).1
        } else {
            let hi = *scratch.select_nth_unstable_by(mid, f32::total_cmp).1;
            let lo = scratch[..mid].iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            0.5 * (lo + hi)
        };
        // Unbiased level: divide by the expected value of that order statistic of m unit
        // exponentials, E[X_(i)] = H_m − H_{m−i} (Rényi), which tends to ln 2 for large m.
        let e_med = if m % 2 == 1 {
            expected_order_stat(m, mid + 1)
        } else {
            0.5 * (expected_order_stat(m, mid) + expected_order_stat(m, mid + 1))
        };
        let lev = (med as f64 / e_med).max(f64::MIN_POSITIVE);
        let centre = 0.5 * (k as f64 + (end - 1) as f64);
        // ln of a noisy level is biased low by ≈ var/2 = (1/(m ln²2))/2 (Jensen): add it back.
        let jensen = 0.5 / (m as f64 * std::f64::consts::LN_2.powi(2));
        knots.push((centre.max(1.0).ln(), lev.ln() + jensen, m as f64));
        centres.push(centre.max(1.0));
        k = end;
    }
    // Smooth: weighted (by window size) straight-line fit of ln level vs ln k over neighbouring
    // windows, evaluated at each window centre. Exact for a power-law spectrum; reduces the
    // scatter of the level by about √(2·smooth_windows + 1).
    let sw = cfg.smooth_windows;
    let smoothed: Vec<(f64, f64)> = (0..knots.len())
        .map(|i| {
            let a = i.saturating_sub(sw);
            let b = (i + sw + 1).min(knots.len());
            let (mut sw0, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for &(x, y, w) in &knots[a..b] {
                sw0 += w;
                sx += w * x;
                sy += w * y;
                sxx += w * x * x;
                sxy += w * x * y;
            }
            let xi = knots[i].0;
            let den = sw0 * sxx - sx * sx;
            let yi = if b - a >= 2 && den.abs() > 1e-12 * sw0 * sw0 {
                let slope = (sw0 * sxy - sx * sy) / den;
                let icpt = (sy - slope * sx) / sw0;
                icpt + slope * xi
            } else {
                sy / sw0
            };
            (xi, yi)
        })
        .collect();
    let knots = smoothed;
    apply_levels(spec, &centres, &knots, &mut level);
    WhitenInfo { level, nwindows: knots.len() }
}

/// Scales bins `1..` of `spec` by `level^(−1/2)` and stores `level` (see [`whiten_spectrum_with`]):
/// `ln level` is interpolated linearly in `ln k` between the window centres `centres` (bins,
/// increasing, ≥ 1) whose smoothed `(ln centre, ln level)` are `knots`, and held constant below
/// the first and above the last centre. Between two centres the scale is a power law `C·k^a`,
/// computed with `ln`/`exp` only at anchor bins spaced so that linear interpolation in `k`
/// between them errs by less than [`WHITEN_INTERP_TOL`] (relative) — a few thousand `exp` per
/// spectrum instead of one `ln` and one `exp` per bin.
fn apply_levels(spec: &mut [Complex32], centres: &[f64], knots: &[(f64, f64)], level: &mut [f32]) {
    let nb = spec.len();
    // Interpolate ln level linearly in ln k between window centres (constant outside the first
    // and last centre) and scale each bin by level^(−1/2). Between two centres this is a power
    // law, scale ∝ k^a; it is evaluated exactly (ln, exp) only at anchor bins and linearly in k
    // between them (see `WHITEN_INTERP_TOL`).
    let nk = knots.len();
    let mut apply = |kk: usize, scale: f64| {
        let sc = scale as f32;
        level[kk] = if scale > 0.0 { (1.0 / (scale * scale)) as f32 } else { 0.0 };
        spec[kk] *= sc;
    };
    let scale_of = |ll: f64| {
        let lev = ll.exp();
        if lev > 0.0 && lev.is_finite() {
            1.0 / lev.sqrt()
        } else {
            0.0
        }
    };
    let c_first = centres[0];
    let c_last = centres[nk - 1];
    let mut kk = 1usize;
    // Below (and at) the first centre, or a single window: constant.
    while kk < nb && (nk == 1 || kk as f64 <= c_first) {
        apply(kk, scale_of(knots[0].1));
        kk += 1;
    }
    // Between centres: bin kk belongs to the segment whose upper centre is the first ≥ kk.
    let mut seg = 0usize;
    while kk < nb && (kk as f64) < c_last {
        while centres[seg + 1] < kk as f64 {
            seg += 1;
        }
        let (x0, y0) = knots[seg];
        let (x1, y1) = knots[seg + 1];
        let ll_at = |k: usize| y0 + (y1 - y0) * ((k as f64).ln() - x0) / (x1 - x0);
        // Last bin of this segment: ≤ its upper centre and below the last centre.
        let c1 = centres[seg + 1];
        let mut end = (c1.floor() as usize).min(nb - 1);
        if end as f64 >= c_last {
            end = (c_last.ceil() as usize).saturating_sub(1).min(nb - 1);
        }
        if end < kk {
            end = kk;
        }
        // Anchor spacing: linear interpolation of k^a over [k, k + d] errs by at most
        // |a(a−1)|/8·(d/k)² relative, so d/k = √(8·tol/|a(a−1)|) keeps it below tol.
        let a = -0.5 * (y1 - y0) / (x1 - x0);
        let safe = y0.abs() < 600.0 && y1.abs() < 600.0;
        let frac = if safe { (8.0 * WHITEN_INTERP_TOL / (a * (a - 1.0)).abs().max(1e-6)).sqrt() } else { 0.0 };
        let mut ka = kk;
        let mut sa = scale_of(ll_at(ka));
        loop {
            let d = ((ka as f64 * frac) as usize).max(1);
            let kb = (ka + d).min(end);
            if kb == ka {
                apply(ka, sa);
                break;
            }
            let sb = scale_of(ll_at(kb));
            let inc = (sb - sa) / (kb - ka) as f64;
            for k in ka..kb {
                apply(k, sa + inc * (k - ka) as f64);
            }
            ka = kb;
            sa = sb;
        }
        kk = end + 1;
    }
    // At and above the last centre: constant.
    while kk < nb {
        apply(kk, scale_of(knots[nk - 1].1));
        kk += 1;
    }
}

/// How the half bins `k + ½` of the power grid searched by the harmonic sums are formed
/// ([`halfbin_grid`]). Every method gives unit-mean exponential noise powers on whitened noise,
/// so the χ² significance of [`super::stats`] holds on every grid point.
///
/// Sensitivity (fraction of a sinusoid's power recovered at the best point of the half-bin grid,
/// over frequency offsets 0…1 bin; computed for a pure tone, see `tests/search.rs`):
///
/// | method | worst | mean | cost per half bin |
/// |---|---|---|---|
/// | [`HalfBin::Kernel`] (16 taps, default) | 0.811 | 0.925 | 16 complex multiply-adds |
/// | [`HalfBin::Interbin`] (2 taps, PRESTO `interbin` × 8/π²) | 0.752 | 0.861 | 1 complex subtraction |
/// | [`HalfBin::Plain`] (no half bins) | 0.405 | 0.774 | none |
/// | zero-padding the FFT ×2 (not offered) | 0.811 | 0.935 | a 2N FFT and 2× whitening |
///
/// The kernel method matches ×2 zero-padding in worst case and comes within 1 % on average at a
/// fraction of its cost, and it works on spectra that arrive without their time series (the
/// Fourier-domain dedisperser).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HalfBin {
    /// Fourier interpolation of `A(k+½)` from the 16 nearest bins ([`kernel_halfbin_powers`]).
    #[default]
    Kernel,
    /// PRESTO's two-bin interbinning, rescaled to unit-mean noise ([`interbin_powers`]).
    Interbin,
    /// Half bins take the larger neighbouring bin power ([`halfbin_powers_plain`]); their noise
    /// is the maximum of two correlated exponentials, so this method is for comparisons only.
    Plain,
}

/// Half-width (taps on each side) of the Fourier-interpolation kernel of [`HalfBin::Kernel`].
pub const HALFBIN_KERNEL_HALF_TAPS: usize = 8;

/// The half-bin power grid of `spec` by `method`: `2·len − 1` powers, index `j` at Fourier bin
/// `j/2` (even `j`: `|A_{j/2}|²`). See [`HalfBin`].
pub fn halfbin_grid(spec: &[Complex32], method: HalfBin) -> Vec<f32> {
    match method {
        HalfBin::Kernel => kernel_halfbin_powers(spec, HALFBIN_KERNEL_HALF_TAPS),
        HalfBin::Interbin => interbin_powers(spec),
        HalfBin::Plain => halfbin_powers_plain(spec),
    }
}

/// Powers on the half-bin grid with `A(k+½)` Fourier-interpolated from the `2·half_taps`
/// nearest bins.
///
/// The DFT of an `N`-sample series at the fractional bin `r` is
/// `A(r) = Σ_m A_m e^{iπ(m−r)(N−1)/N} sin(π(m−r)) / (N sin(π(m−r)/N))` (the Dirichlet kernel,
/// e.g. Ransom et al. 2002 eq. 2 at z = 0); for `r = k + ½` and `N ≫ 1` this is
/// `A(k+½) ≈ (i/π) Σ_j A_{k+j} / (j − ½)`, `j = 1−half_taps ..= half_taps`. Truncating the sum
/// keeps a fraction `Σ |w_j|²` of the noise variance (0.975 for 8 taps a side; the infinite sum
/// is 1); each half bin is divided by the variance of the taps it used, so whitened noise gives
/// unit-mean exponential powers exactly, also at the edges of the spectrum where fewer taps exist
/// (bin 0, DC, is never used as a tap: whitening zeroes it). Returns `2·len − 1` powers; even
/// indices are the plain bin powers. `half_taps = 1` is PRESTO's interbinning scaled by `8/π²`.
pub fn kernel_halfbin_powers(spec: &[Complex32], half_taps: usize) -> Vec<f32> {
    let nb = spec.len();
    if nb == 0 {
        return Vec::new();
    }
    let m = half_taps.max(1) as isize;
    let w: Vec<f32> = (1 - m..=m).map(|j| (1.0 / (std::f64::consts::PI * (j as f64 - 0.5))) as f32).collect();
    let full_var: f32 = w.iter().map(|x| x * x).sum();
    let mut out = vec![0.0f32; 2 * nb - 1];
    for k in 0..nb {
        out[2 * k] = spec[k].norm_sqr();
    }
    let lo_full = m as usize; // first k whose taps k+1−m ≥ 1
    let hi_full = nb as isize - m; // k + m ≤ nb − 1
    for k in 0..nb.saturating_sub(1) {
        let ki = k as isize;
        let (acc, var) = if (k >= lo_full) && ki < hi_full {
            let base = (ki + 1 - m) as usize;
            let mut acc = Complex32::new(0.0, 0.0);
            for (t, &wt) in w.iter().enumerate() {
                acc += spec[base + t] * wt;
            }
            (acc, full_var)
        } else {
            let mut acc = Complex32::new(0.0, 0.0);
            let mut var = 0.0f32;
            for (t, &wt) in w.iter().enumerate() {
                let idx = ki + 1 - m + t as isize;
                if idx >= 1 && idx < nb as isize {
                    acc += spec[idx as usize] * wt;
                    var += wt * wt;
                }
            }
            (acc, var)
        };
        out[2 * k + 1] = if var > 0.0 { acc.norm_sqr() / var } else { 0.0 };
    }
    out
}

/// PRESTO's interbinning (Ransom et al. 2002 §2.3; PRESTO `interbin`) rescaled to unit-mean noise:
/// powers on a half-bin grid.
///
/// Returns `2·len − 1` powers; index `j` is frequency bin `j/2`. Even `j` are the ordinary powers
/// `|A_{j/2}|²`; odd `j = 2k+1` are `(8/π²)·|(π/4)(A_k − A_{k+1})|² = ½|A_k − A_{k+1}|²`. PRESTO's
/// unscaled form recovers all of a mid-bin sinusoid's power but its noise has mean π²/8 ≈ 1.234
/// (`A_k − A_{k+1}` of independent unit-mean bins has variance 2): treated as unit-mean it
/// overstates every significance. After the rescaling noise is unit-mean exponential and a
/// mid-bin tone keeps 8/π² ≈ 0.81 of its power (the plain nearest bin keeps 4/π² ≈ 0.41).
pub fn interbin_powers(spec: &[Complex32]) -> Vec<f32> {
    let nb = spec.len();
    if nb == 0 {
        return Vec::new();
    }
    let mut out = vec![0.0f32; 2 * nb - 1];
    for k in 0..nb {
        out[2 * k] = spec[k].norm_sqr();
        if k + 1 < nb {
            out[2 * k + 1] = 0.5 * (spec[k] - spec[k + 1]).norm_sqr();
        }
    }
    out
}

/// Powers on the same half-bin grid as [`interbin_powers`] but without interbinning
/// (odd indices take the larger neighbouring bin power); used to compare with interbinning.
pub fn halfbin_powers_plain(spec: &[Complex32]) -> Vec<f32> {
    let nb = spec.len();
    if nb == 0 {
        return Vec::new();
    }
    let mut out = vec![0.0f32; 2 * nb - 1];
    for k in 0..nb {
        out[2 * k] = spec[k].norm_sqr();
        if k + 1 < nb {
            out[2 * k + 1] = spec[k].norm_sqr().max(spec[k + 1].norm_sqr());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive twin of [`apply_levels`]: `ln`/`exp` at every bin (the interpolation as written
    /// before anchors were used).
    fn exact_levels(nb: usize, knots: &[(f64, f64)]) -> Vec<f64> {
        let mut out = vec![0.0f64; nb];
        let mut seg = 0usize;
        for (kk, o) in out.iter_mut().enumerate().skip(1) {
            let lk = (kk as f64).ln();
            let ll = if knots.len() == 1 || lk <= knots[0].0 {
                knots[0].1
            } else if lk >= knots[knots.len() - 1].0 {
                knots[knots.len() - 1].1
            } else {
                while knots[seg + 1].0 < lk {
                    seg += 1;
                }
                let (x0, y0) = knots[seg];
                let (x1, y1) = knots[seg + 1];
                y0 + (y1 - y0) * (lk - x0) / (x1 - x0)
            };
            *o = ll.exp();
        }
        out
    }

    #[test]
    fn anchored_levels_match_per_bin_ln_exp() {
        // Window centres as whitening makes them (widths 6 + 0.2 k up to 1000) with ln levels of
        // steep red noise (slopes −4 … +3 between windows, and a jump), a flat stretch and noise.
        for (nb, seed) in [(2usize, 1u64), (9, 2), (100, 3), (5_000, 4), (300_001, 5)] {
            let mut centres = Vec::new();
            let mut k = 1usize;
            while k < nb {
                let w = ((6.0 + 0.2 * k as f64).round() as usize).clamp(6, 1000);
                let end = (k + w).min(nb);
                centres.push((0.5 * (k + end - 1) as f64).max(1.0));
                k = end;
            }
            let mut s = seed;
            let knots: Vec<(f64, f64)> = centres
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    let jitter = ((s >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.3;
                    let slope = [-4.0, -1.5, 0.0, 0.5, 3.0][i % 5];
                    if seed % 2 == 1 {
                        // A smooth power law (red noise ∝ k^−1.5 on a floor): long anchor spans.
                        (c.ln(), (1.0 + 50.0 * c.powf(-1.5)).ln())
                    } else {
                        (c.ln(), 2.0 + slope * c.ln() / 5.0 + jitter + if i == 7 { 3.0 } else { 0.0 })
                    }
                })
                .collect();
            let mut spec = vec![Complex32::new(1.0, -2.0); nb];
            spec[0] = Complex32::new(0.0, 0.0);
            let mut level = vec![0.0f32; nb];
            apply_levels(&mut spec, &centres, &knots, &mut level);
            let want = exact_levels(nb, &knots);
            for kk in 1..nb {
                // Interpolation error ≤ WHITEN_INTERP_TOL in the scale (2 of it in the level),
                // plus f32 rounding of the stored values.
                let rel = (level[kk] as f64 - want[kk]).abs() / want[kk];
                assert!(rel < 3e-7, "nb {nb} bin {kk}: level {} vs {} ({rel:e})", level[kk], want[kk]);
                let sc = 1.0 / want[kk].sqrt();
                let re = (spec[kk].re as f64 - sc).abs() / sc;
                assert!(re < 2e-7, "nb {nb} bin {kk}: scale {} vs {sc} ({re:e})", spec[kk].re);
            }
        }
    }
}
