//! Fast folding algorithm (FFA) periodicity search of one dedispersed time series.
//!
//! The FFA (Staelin 1969) folds a series of `m` rows of `p` bins at every drift of `0 … m−1`
//! bins across the rows in `m p log₂ m` additions instead of `m² p`, by folding the two halves of
//! the rows recursively and adding them with the shift their drift implies. This module follows
//! the formulation of riptide (Morello et al. 2020, MNRAS 497, 4654): any `m` (not only powers of
//! two), a period range searched in steps ("octaves") over which the number of phase bins runs
//! from `bins_min` to `bins_max` while the series is downsampled by a real factor between steps,
//! running-median dereddening, and boxcar matched filters with zero-mean, unit-norm templates of
//! widths growing ×1.5. The code is this crate's own.
//!
//! # Pipeline of [`search_series`]
//! 1. **Dereddening and normalisation** ([`normalise`]): the running median (window
//!    [`FfaConfig::rmed_width_s`]) is subtracted and the series divided by its standard
//!    deviation (one pass clipping beyond 6σ), so white noise has unit variance per native sample.
//! 2. **Steps** ([`FfaPlan`]): below `bins_min · tsamp` every integer period `p` samples is
//!    searched at native resolution; above it, step `s` downsamples by the real factor `f_s`
//!    (`f_0 = P_start / (bins_min tsamp)`, `f_{s+1} = f_s (bins_max + 1) / bins_min`) and searches
//!    `p = bins_min … bins_max` bins, up to `period_max`, as long as `m = ⌊n_s / p⌋ ≥ min_rows`.
//! 3. **Downsampling by a real factor `f`** ([`downsample`]): output sample `j` integrates the
//!    input over `[j f, (j+1) f)` samples, partial samples weighted by their covered fraction.
//! 4. **Transform** ([`ffa_transform`]) of the `m × p` rows of each `p`.
//! 5. **Matched filters**: for every folded profile, every width `w` of [`width_trials`] and every
//!    phase, the S/N of the circular boxcar template (below). The trial's S/N is the largest.
//!
//! # S/N, exactly
//! A template `h` of `p` bins is `a` on `w` contiguous bins (circularly) and `−b` elsewhere, with
//! `Σh = 0` and `Σh² = 1`: `a = √((p−w)/(p w))`, `b = √(w/(p(p−w)))` (riptide's templates). For a
//! folded profile `P` the S/N is `h·P / σ(h·P)` with `σ²(h·P)` the exact variance of `h·P` when the
//! normalised series is white noise of unit variance: with `f` the downsampling factor, each
//! downsampled sample has variance `f − g_l − g_r` and neighbours covariance `g`, where
//! `g = u(1−u)` for a sample boundary at fractional input position `u`; with `ḡ` the mean of `g`
//! over the step's boundaries (0 for integer `f`, → 1/6 for irrational `f`),
//!
//! ```text
//! σ²(h·P) = m · (f − 2 ḡ (a + b)²),      (a + b)² = p / (w (p − w)).
//! ```
//!
//! This is the S/N that folding the normalised series at the trial's period with the boxcar's
//! window would give: for integer `f` the variance is exactly `m f`, the number of input samples
//! per folded bin (TRAPS B21: riptide ≤ 0.2 used `(f−1)² + 1`, which understates the S/N by
//! `√((f−1)²+1)/√f`, ×0.35 at `f = 10`); for non-integer `f` the partial edge samples make the
//! downsampled samples slightly less noisy and correlated, which the `ḡ` term accounts for
//! (riptide's earlier `f − 1/3` is its large-`p`, `w = 1` limit). The one approximation: at the
//! one place per row where a circular shift joins the row's last and first samples, the profile's
//! neighbours are not time neighbours (an `O(1/p)` effect on the covariance term).
//!
//! # Trial periods (TRAPS B22)
//! The FFA's output `k` of a fold at `p` bins over `m` rows adds row `i` circularly shifted by
//! `s_i(k)`, a track of total drift ≈ `k` bins (the recursion rounds the drift of each half, so
//! `s_i(k)` is close to `k i/(m−1)` but not equal). A circular shift treats `p` bins as one turn,
//! so a signal of period `P` samples (`P > p`) drifts by `p (P − p)/P` bins per row, not `P − p`:
//! the track of slope `d` bins per row collects the period `P = p² / (p − d)`, not the naive
//! `p + d` (the difference, `d²/(p − d)`, is one trial spacing `1/(m−1)` when `m d² ≈ p`, e.g.
//! `p = 64`, `m = 256`, `d = 0.5`). Each trial is labelled `P = p² / (p − d_k)` samples times the
//! step's `f tsamp`, with `d_k` the least-squares slope of its actual track ([`track_slopes`]),
//! and the labels are listed in the plan ([`FfaPlan::periods_s`]).
//!
//! # Significance
//! On white noise every template output is standard normal; the reported `sigma` is the
//! Gaussian equivalent of `1 − (1 − Q(S/N))^W` with the effective independent trials
//! `W = c · Σ_trials p` per series ([`FFA_TRIALS_PER_PHASE`], calibrated on noise, `tests/ffa.rs`)
//! times the effectively independent DM trials ([`ffa_dm_factor`]).

use super::stats::{ln_gauss_sf, logp_with_trials, sigma_from_logp};
use super::Candidate;
use crate::rows::SearchKind;
use serde::{Deserialize, Serialize};

/// Configuration of the FFA search (stored in the candidate file as provenance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FfaConfig {
    /// Shortest period searched, s. Default 0.1.
    pub period_min_s: f64,
    /// Longest period searched, s (also limited by `min_rows` folds in the data). Default 30.
    pub period_max_s: f64,
    /// Fewest phase bins of a downsampling step. Default 240 (riptide's default).
    pub bins_min: usize,
    /// Most phase bins of a downsampling step. Default 260 (riptide's default).
    pub bins_max: usize,
    /// Fewest rows (pulse periods in the data) a fold must have. Default 8 (riptide's `fpmin`).
    pub min_rows: usize,
    /// Width of the running median subtracted before the search, s. Default 4 s (riptide's).
    pub rmed_width_s: f64,
    /// Largest boxcar width as a fraction of the period. Default 0.2 (riptide's `ducy_max`).
    pub duty_max: f64,
    /// Ratio between consecutive boxcar widths. Default 1.5 (riptide's `wtsp`).
    pub width_step: f64,
    /// Detection threshold on the trials-corrected significance. Default 6.
    pub sigma_threshold: f64,
    /// Effective independent trials of the whole FFA search (all DM trials), from
    /// [`FfaPlan::trials`] × [`ffa_dm_factor`]; 0: the trials of the one series searched.
    pub total_trials: f64,
    /// At most this many candidates per series. Default 50.
    pub max_candidates: usize,
    /// Detections within this many Fourier bins (1/T) of a stronger one are the same signal.
    /// Default 1.5 (as [`super::sift::SiftConfig::freq_tol_bins`]).
    pub freq_tol_bins: f64,
}

impl Default for FfaConfig {
    fn default() -> Self {
        FfaConfig {
            period_min_s: 0.1,
            period_max_s: 30.0,
            bins_min: 240,
            bins_max: 260,
            min_rows: 8,
            rmed_width_s: 4.0,
            duty_max: 0.2,
            width_step: 1.5,
            sigma_threshold: 6.0,
            total_trials: 0.0,
            max_candidates: 50,
            freq_tol_bins: 1.5,
        }
    }
}

/// Errors of the FFA configuration.
#[derive(Debug, thiserror::Error)]
pub enum FfaError {
    #[error("FFA: {0}")]
    Config(String),
}

impl FfaConfig {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`FfaError::Config`] naming the bad parameter.
    pub fn validate(&self) -> Result<(), FfaError> {
        let bad = |m: String| Err(FfaError::Config(m));
        if !(self.period_min_s.is_finite() && self.period_min_s > 0.0) {
            return bad(format!("the shortest period {} s must be positive", self.period_min_s));
        }
        if !(self.period_max_s.is_finite() && self.period_max_s > self.period_min_s) {
            return bad(format!(
                "the longest period {} s must exceed the shortest {} s",
                self.period_max_s, self.period_min_s
            ));
        }
        if self.bins_min < 8 || self.bins_max < self.bins_min {
            return bad(format!("phase bins {}..{} must satisfy 8 ≤ min ≤ max", self.bins_min, self.bins_max));
        }
        if self.min_rows < 2 {
            return bad(format!("min_rows {} must be at least 2", self.min_rows));
        }
        if !(self.duty_max > 0.0 && self.duty_max < 1.0) {
            return bad(format!("duty_max {} must be in (0, 1)", self.duty_max));
        }
        if self.width_step.is_nan() || self.width_step <= 1.0 {
            return bad(format!("width_step {} must exceed 1", self.width_step));
        }
        if !(self.rmed_width_s.is_finite() && self.rmed_width_s > 0.0) {
            return bad(format!("rmed_width_s {} must be positive", self.rmed_width_s));
        }
        Ok(())
    }
}

/// Boxcar widths (bins) tried on a profile of `p` bins: 1, then `max(w + 1, ⌊step · w⌋)` while
/// `≤ duty_max · p` and `< p` (riptide's width trials). Always holds at least width 1.
pub fn width_trials(p: usize, duty_max: f64, step: f64) -> Vec<usize> {
    let mut w = vec![1usize];
    loop {
        let last = *w.last().unwrap_or(&1);
        let next = (last + 1).max((step * last as f64).floor() as usize);
        if next as f64 > duty_max * p as f64 || next >= p {
            break;
        }
        w.push(next);
    }
    w
}

/// Subtracts a running median of `width` samples from `x` and divides by the standard deviation.
///
/// The median is evaluated on windows of `width` samples centred every `max(width/8, 1)` samples
/// and interpolated linearly between those centres (constant beyond the first and last); the
/// standard deviation is taken after one pass clipping samples beyond 6σ (so bright pulses do not
/// lower the S/N of what they are in). Non-finite samples become 0 after the subtraction. A
/// constant series becomes all zeros (no division by zero).
pub fn normalise(x: &mut [f32], width: usize) {
    let n = x.len();
    if n == 0 {
        return;
    }
    for v in x.iter_mut() {
        if !v.is_finite() {
            *v = f32::NAN;
        }
    }
    let width = width.clamp(1, n);
    let stride = (width / 8).max(1);
    let mut centres: Vec<(f64, f32)> = Vec::new();
    let mut buf: Vec<f32> = Vec::with_capacity(width);
    let mut c = 0usize;
    loop {
        let lo = c.saturating_sub(width / 2);
        let hi = (lo + width).min(n);
        let lo = hi.saturating_sub(width);
        buf.clear();
        buf.extend(x[lo..hi].iter().copied().filter(|v| v.is_finite()));
        if !buf.is_empty() {
            let mid = buf.len() / 2;
            let (_, med, _) = buf.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
            centres.push((c as f64, *med));
        }
        if c + 1 >= n {
            break;
        }
        c = (c + stride).min(n - 1);
    }
    if centres.is_empty() {
        x.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let mut seg = 0usize;
    for (i, v) in x.iter_mut().enumerate() {
        let t = i as f64;
        while seg + 1 < centres.len() && centres[seg + 1].0 <= t {
            seg += 1;
        }
        let (t0, m0) = centres[seg];
        let med = if seg + 1 < centres.len() && t > t0 {
            let (t1, m1) = centres[seg + 1];
            m0 as f64 + (m1 as f64 - m0 as f64) * (t - t0) / (t1 - t0)
        } else {
            m0 as f64
        };
        *v = if v.is_finite() { (*v as f64 - med) as f32 } else { 0.0 };
    }
    let sd = |x: &[f32], clip: f64| {
        let (mut s, mut s2, mut k) = (0.0f64, 0.0f64, 0usize);
        for &v in x {
            let v = v as f64;
            if v.abs() <= clip {
                s += v;
                s2 += v * v;
                k += 1;
            }
        }
        if k < 2 {
            return 0.0;
        }
        let mean = s / k as f64;
        ((s2 / k as f64 - mean * mean).max(0.0)).sqrt()
    };
    let s0 = sd(x, f64::INFINITY);
    let s1 = if s0 > 0.0 { sd(x, 6.0 * s0) } else { 0.0 };
    if s1 > 0.0 && s1.is_finite() {
        let inv = (1.0 / s1) as f32;
        x.iter_mut().for_each(|v| *v *= inv);
    } else {
        x.iter_mut().for_each(|v| *v = 0.0);
    }
}

/// Downsamples `x` by the real factor `f ≥ 1`: output sample `j` is the integral of the input over
/// `[j f, (j+1) f)` input samples (a partial input sample counts with its covered fraction), for
/// `j < ⌊len/f⌋`. Returns the samples and `ḡ`, the mean of `u(1−u)` over the interior boundaries
/// `u = frac(j f)`, `j = 1 … n−1` (0 for integer `f`): see the module docs for its use.
pub fn downsample(x: &[f32], f: f64) -> (Vec<f32>, f64) {
    downsample_prefixed(x, &prefix_sums(x), f)
}

/// `[0, x₀, x₀ + x₁, …]` in f64 (`x.len() + 1` values), for [`downsample_prefixed`].
pub fn prefix_sums(x: &[f32]) -> Vec<f64> {
    let mut pre = Vec::with_capacity(x.len() + 1);
    let mut s = 0.0f64;
    pre.push(0.0);
    for &v in x {
        s += v as f64;
        pre.push(s);
    }
    pre
}

/// [`downsample`] with the prefix sums of `x` ([`prefix_sums`]) made once for every step.
pub fn downsample_prefixed(x: &[f32], pre: &[f64], f: f64) -> (Vec<f32>, f64) {
    let n_in = x.len();
    let f = f.max(1.0);
    let n_out = ((n_in as f64) / f).floor() as usize;
    if n_out == 0 || pre.len() != n_in + 1 {
        return (Vec::new(), 0.0);
    }
    // Cumulative integral C(t) = Σ_{i < ⌊t⌋} x_i + frac(t) x_⌊t⌋.
    let cum = |t: f64| -> (f64, f64) {
        let i = (t as usize).min(n_in);
        let u = t - i as f64;
        let c = if i < n_in && u > 0.0 { pre[i] + u * x[i] as f64 } else { pre[i] };
        (c, u)
    };
    let mut out = Vec::with_capacity(n_out);
    let mut gsum = 0.0f64;
    let mut prev = 0.0f64;
    for j in 0..n_out {
        let t1 = ((j + 1) as f64 * f).min(n_in as f64);
        let (c1, u) = cum(t1);
        out.push((c1 - prev) as f32);
        prev = c1;
        if j + 1 < n_out {
            gsum += u * (1.0 - u);
        }
    }
    let gbar = if n_out > 1 { gsum / (n_out - 1) as f64 } else { 0.0 };
    (out, gbar)
}

/// Rounded `num / den` for non-negative integers (half up).
#[inline]
fn rdiv(num: usize, den: usize) -> usize {
    (2 * num + den) / (2 * den)
}

/// The indices the FFA merge of a block of `m ≥ 2` rows (head `h = ⌊m/2⌋` rows, tail `m − h`)
/// uses for output `k` (total drift `k` bins over rows `0 … m−1`): the head's output
/// `round(k (h−1)/(m−1))`, the circular shift of the tail `c = round(k h/(m−1))` bins (the drift
/// at the tail's first row) and the tail's output `k − c`, so that every track ends exactly at
/// drift `k` on the last row (rounding both the tail's shift and its drift independently lets
/// the two half-bin roundings add up: a 3-row track of drift 1 would end at 2).
#[inline]
fn merge_indices(m: usize, k: usize) -> (usize, usize, usize) {
    let h = m / 2;
    let c = rdiv(k * h, m - 1);
    (rdiv(k * (h - 1), m - 1), k - c, c)
}

/// The FFA transform of `x` (row-major `m × p`, `m = x.len() / p`, extra samples ignored).
///
/// Output row `k` (`0 ≤ k < m`) is the profile `out[k][j] = Σ_i x[i][(j + s_i(k)) mod p]` where
/// the track `s_i(k)` is defined recursively: for `m = 1`, `s_0 = 0`; otherwise, with `h = ⌊m/2⌋`,
/// `c = round(k h/(m−1))`, `s_i(k) = s_i^head(round(k (h−1)/(m−1)))` for the first `h` rows and
/// `s_{h+i}(k) = c + s_i^tail(k − c)` for the others (shifts taken mod `p`; rounding half up).
/// `s_0(k) = 0`, `s_{m−1}(k) = k` and `s_i(k) ≈ k i/(m−1)`.
/// Cost: `m p ⌈log₂ m⌉` additions. `out` and `scratch` must hold `m p` values.
///
/// # Panics
/// If `p == 0` or the buffers are shorter than `m p` (internal callers size them).
pub fn ffa_transform(x: &[f32], p: usize, out: &mut [f32], scratch: &mut [f32]) {
    let m = x.len() / p;
    if m == 0 {
        return;
    }
    ffa_rec_dispatch(have_avx2(), &x[..m * p], m, p, &mut out[..m * p], &mut scratch[..m * p]);
}

/// One level of the FFA recursion: output row `k` of the `m` rows is head row `kh` plus tail row
/// `kt` rotated left by `c` ([`merge_indices`]).
#[inline(always)]
fn merge_level(head: &[f32], tail: &[f32], m: usize, p: usize, out: &mut [f32]) {
    for k in 0..m {
        let (kh, kt, c) = merge_indices(m, k);
        let c = c % p;
        let hr = &head[kh * p..(kh + 1) * p];
        let tr = &tail[kt * p..(kt + 1) * p];
        let o = &mut out[k * p..(k + 1) * p];
        let n1 = p - c;
        for ((o, &a), &b) in o[..n1].iter_mut().zip(&hr[..n1]).zip(&tr[c..]) {
            *o = a + b;
        }
        for ((o, &a), &b) in o[n1..].iter_mut().zip(&hr[n1..]).zip(&tr[..c]) {
            *o = a + b;
        }
    }
}

/// The recursion of [`ffa_transform`] (`$name` calls itself; `$($unsafe)?` for the AVX2 copy).
macro_rules! ffa_recursion {
    ($(#[$attr:meta])* $name:ident $(, $unsafe:ident)?) => {
        $(#[$attr])*
        $($unsafe)? fn $name(x: &[f32], m: usize, p: usize, out: &mut [f32], scratch: &mut [f32]) {
            if m == 1 {
                out[..p].copy_from_slice(&x[..p]);
                return;
            }
            let h = m / 2;
            {
                let (sh, st) = scratch.split_at_mut(h * p);
                let (oh, ot) = out.split_at_mut(h * p);
                $name(&x[..h * p], h, p, sh, oh);
                $name(&x[h * p..], m - h, p, st, ot);
            }
            let (head, tail) = scratch.split_at(h * p);
            merge_level(head, tail, m, p, out);
        }
    };
}

ffa_recursion!(ffa_rec);
ffa_recursion!(
    /// [`ffa_rec`] compiled for AVX2 (the same additions in the same order: identical results).
    ///
    /// # Safety
    /// The CPU must support AVX2 (checked by the caller).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    ffa_rec_avx2, unsafe
);

/// Whether the AVX2 copies of the kernels can run here.
fn have_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`ffa_rec`], through its AVX2 copy when `avx2`.
fn ffa_rec_dispatch(avx2: bool, x: &[f32], m: usize, p: usize, out: &mut [f32], scratch: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only when the CPU supports AVX2 (`have_avx2`).
        unsafe { ffa_rec_avx2(x, m, p, out, scratch) };
        return;
    }
    let _ = avx2;
    ffa_rec(x, m, p, out, scratch);
}

/// The least-squares slope (bins per row) of each track `s_i(k)`, `k = 0 … m−1`, of the FFA of
/// `m` rows ([`ffa_transform`]), from the track moments `Σ s_i` and `Σ i s_i` combined through the
/// same recursion (shifts not reduced mod `p`). `m = 1` gives `[0]`.
pub fn track_slopes(m: usize) -> Vec<f64> {
    let mom = track_moments(m);
    if m < 2 {
        return vec![0.0; m];
    }
    let mf = m as f64;
    let si = mf * (mf - 1.0) / 2.0;
    let sii = (mf - 1.0) * mf * (2.0 * mf - 1.0) / 6.0;
    let den = mf * sii - si * si;
    mom.iter().map(|&(s, is)| (mf * is - si * s) / den).collect()
}

/// `(Σ_i s_i(k), Σ_i i s_i(k))` for every output `k` of the FFA of `m` rows.
fn track_moments(m: usize) -> Vec<(f64, f64)> {
    if m <= 1 {
        return vec![(0.0, 0.0); m];
    }
    let h = m / 2;
    let t = m - h;
    let head = track_moments(h);
    let tail = track_moments(t);
    let (hf, tf) = (h as f64, t as f64);
    (0..m)
        .map(|k| {
            let (kh, kt, c) = merge_indices(m, k);
            let c = c as f64;
            let (sh, ish) = head[kh];
            let (st, ist) = tail[kt];
            let s = sh + st + c * tf;
            let is = ish + ist + hf * st + c * (tf * (tf - 1.0) / 2.0 + hf * tf);
            (s, is)
        })
        .collect()
}

/// One downsampling step of an [`FfaPlan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FfaStep {
    /// Downsampling factor (real, ≥ 1).
    pub ds: f64,
    /// Samples of the downsampled series, `⌊n / ds⌋`.
    pub n_ds: usize,
    /// Smallest and largest number of phase bins `p` folded in this step.
    pub p_lo: usize,
    pub p_hi: usize,
}

/// The trials of an FFA search of `n` samples of `tsamp_s` seconds: steps, and the exact trial
/// periods (TRAPS B22). Depends only on `(n, tsamp_s, cfg)`, so it is made once for all DM trials
/// of a plan step.
#[derive(Debug, Clone, PartialEq)]
pub struct FfaPlan {
    /// Series length, samples.
    pub n: usize,
    /// Sampling time, s.
    pub tsamp_s: f64,
    /// The steps, in order of increasing period.
    pub steps: Vec<FfaStep>,
    /// Period of every trial, s, in search order (step, `p`, drift `k`); not monotonic across
    /// the boundaries between `p`s (see the module docs).
    pub periods_s: Vec<f64>,
    /// Phase bins `p` of every trial.
    pub bins: Vec<u16>,
    /// Downsampling step of every trial.
    pub step_of: Vec<u16>,
    /// Boxcar widths per bins `p` (index `p − min p` over the plan; widths in bins).
    widths: Vec<Vec<usize>>,
    p_min: usize,
    /// Σ over trials of `p` (phase positions tested), the base of the trials count.
    pub phase_trials: f64,
}

impl FfaPlan {
    /// Builds the plan (module docs, "Pipeline" step 2). An empty plan (no trial) when the data
    /// are too short for `min_rows` periods of `period_min_s` or the range is empty.
    ///
    /// # Errors
    /// [`FfaError::Config`] from [`FfaConfig::validate`] or a non-positive `tsamp_s`.
    pub fn new(n: usize, tsamp_s: f64, cfg: &FfaConfig) -> Result<FfaPlan, FfaError> {
        cfg.validate()?;
        if !(tsamp_s.is_finite() && tsamp_s > 0.0) {
            return Err(FfaError::Config(format!("sampling time {tsamp_s} s must be positive")));
        }
        let mut steps: Vec<FfaStep> = Vec::new();
        let pmax_samples = cfg.period_max_s / tsamp_s;
        let p_first = (cfg.period_min_s / tsamp_s).ceil().max(2.0) as usize;
        // Native-resolution step below bins_min.
        if p_first < cfg.bins_min {
            let p_hi = (cfg.bins_min - 1).min(pmax_samples.floor() as usize).min(n / cfg.min_rows);
            if p_hi >= p_first {
                steps.push(FfaStep { ds: 1.0, n_ds: n, p_lo: p_first, p_hi });
            }
        }
        let mut ds = (cfg.period_min_s / (cfg.bins_min as f64 * tsamp_s)).max(1.0);
        loop {
            let n_ds = (n as f64 / ds).floor() as usize;
            let p_hi = cfg.bins_max.min((pmax_samples / ds).floor() as usize).min(n_ds / cfg.min_rows);
            if p_hi < cfg.bins_min || cfg.bins_min as f64 * ds > pmax_samples {
                break;
            }
            steps.push(FfaStep { ds, n_ds, p_lo: cfg.bins_min, p_hi });
            ds *= (cfg.bins_max + 1) as f64 / cfg.bins_min as f64;
        }
        let p_min = steps.iter().map(|s| s.p_lo).min().unwrap_or(1);
        let p_max = steps.iter().map(|s| s.p_hi).max().unwrap_or(1);
        let widths: Vec<Vec<usize>> =
            (p_min..=p_max.max(p_min)).map(|p| width_trials(p, cfg.duty_max, cfg.width_step)).collect();
        let mut periods_s = Vec::new();
        let mut bins = Vec::new();
        let mut step_of = Vec::new();
        let mut phase_trials = 0.0;
        for (si, st) in steps.iter().enumerate() {
            for p in st.p_lo..=st.p_hi {
                let m = st.n_ds / p;
                let pf = p as f64;
                for d in track_slopes(m) {
                    periods_s.push(pf * pf / (pf - d) * st.ds * tsamp_s);
                    bins.push(p as u16);
                    step_of.push(si as u16);
                }
                phase_trials += (m * p) as f64;
            }
        }
        Ok(FfaPlan { n, tsamp_s, steps, periods_s, bins, step_of, widths, p_min, phase_trials })
    }

    /// Number of period trials.
    pub fn len(&self) -> usize {
        self.periods_s.len()
    }

    /// True when the plan holds no trial.
    pub fn is_empty(&self) -> bool {
        self.periods_s.is_empty()
    }

    /// Boxcar widths (bins) tried at `p` bins.
    pub fn widths_for(&self, p: usize) -> &[usize] {
        &self.widths[p - self.p_min]
    }

    /// Effective independent trials of one series: [`FFA_TRIALS_PER_PHASE`] × `Σ_trials p`.
    pub fn trials(&self) -> f64 {
        (FFA_TRIALS_PER_PHASE * self.phase_trials).max(1.0)
    }

    /// Bytes of FFA work per searching thread (normalised copy, downsampled series, transform
    /// output and scratch, prefix sums, periodogram).
    pub fn bytes_per_thread(&self) -> usize {
        self.n * (4 + 4 + 4 + 4 + 8) + self.len() * 5
    }
}

/// Effective independent trials per tested phase position `Σ_trials p` of one series
/// ([`FfaPlan::trials`]): the fraction of noise series whose best trial reaches `s` sigma is then
/// `Q(s)`. Calibrated on pure noise (`CALIBRATE=1 cargo test --release --test ffa noise --
/// --nocapture`: 600 white series of 2¹⁵ samples of 1 ms, periods 1–3 s, bins 240–260; the
/// factor that puts each level on the prediction was 2.50, 2.94, 3.08 and 2.47 at 0, 1, 2 and
/// 3σ, from 494, 239, 41 and 2 series with a per-phase factor of 1). It exceeds 1 because the
/// boxcar widths add partly independent trials to every phase.
pub const FFA_TRIALS_PER_PHASE: f64 = 2.9;

/// Effectively independent DM trials of an FFA search over a DM span: `min(ndm, 1 + D/τ)` with
/// `D = K ΔDM (ν_lo⁻² − ν_hi⁻²)` the change of the band's dispersion delay over the span and
/// `τ = period_min / bins_max` the finest phase bin searched (two DM trials whose delays
/// differ by one bin fold the noise of different samples into the narrowest boxcar). A model,
/// not calibrated across DM trials.
pub fn ffa_dm_factor(ndm: usize, dm_span: f64, flo_mhz: f64, fhi_mhz: f64, cfg: &FfaConfig, tsamp_s: f64) -> f64 {
    if ndm <= 1 {
        return 1.0;
    }
    let d = crate::consts::K_DM * dm_span.abs() * (flo_mhz.powi(-2) - fhi_mhz.powi(-2)).abs();
    let tau = (cfg.period_min_s / cfg.bins_max as f64).max(tsamp_s);
    (1.0 + d / tau).min(ndm as f64)
}

/// The FFA periodogram of one series: the best S/N of every trial of its [`FfaPlan`] and the
/// index of the best width in [`FfaPlan::widths_for`].
#[derive(Debug, Clone, PartialEq)]
pub struct Periodogram {
    /// Best S/N over phases and widths, per trial (plan order).
    pub snr: Vec<f32>,
    /// Index of the best width, per trial.
    pub width_idx: Vec<u8>,
}

/// Profiles whose matched filters are computed together ([`periodogram`]).
const LANES: usize = 8;

/// Normalises `series` ([`normalise`]) and computes its periodogram on `plan`.
///
/// `series`: `plan.n` samples (more are ignored; fewer give S/N 0 everywhere).
pub fn periodogram(series: &[f32], plan: &FfaPlan, cfg: &FfaConfig) -> Periodogram {
    let nt = plan.len();
    let mut pg = Periodogram { snr: vec![0.0; nt], width_idx: vec![0; nt] };
    if series.len() < plan.n || plan.is_empty() {
        return pg;
    }
    let mut x = series[..plan.n].to_vec();
    let rmed = (cfg.rmed_width_s / plan.tsamp_s).round().max(1.0) as usize;
    normalise(&mut x, rmed);
    let pre = prefix_sums(&x);
    let avx2 = have_avx2();
    let mut idx = 0usize;
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    let mut prefix = Vec::new();
    let mut prefix8: Vec<[f32; LANES]> = Vec::new();
    for st in &plan.steps {
        let (y, gbar) = if st.ds == 1.0 { (x.clone(), 0.0) } else { downsample_prefixed(&x, &pre, st.ds) };
        for p in st.p_lo..=st.p_hi {
            let m = y.len() / p;
            out.resize(m * p, 0.0);
            scratch.resize(m * p, 0.0);
            ffa_rec_dispatch(avx2, &y[..m * p], m, p, &mut out[..m * p], &mut scratch[..m * p]);
            let widths = plan.widths_for(p);
            // Per width: coefficients of (box sum, profile total) in the S/N.
            let coefs: Vec<(f32, f32)> = widths
                .iter()
                .map(|&w| {
                    let (pf, wf) = (p as f64, w as f64);
                    let a = ((pf - wf) / (pf * wf)).sqrt();
                    let b = (wf / (pf * (pf - wf))).sqrt();
                    let var = m as f64 * (st.ds - 2.0 * gbar * (a + b) * (a + b));
                    let sd = var.max(1e-12).sqrt();
                    (((a + b) / sd) as f32, (b / sd) as f32)
                })
                .collect();
            let (snr_out, w_out) = (&mut pg.snr[idx..idx + m], &mut pg.width_idx[idx..idx + m]);
            score_dispatch(avx2, &out[..m * p], m, p, widths, &coefs, &mut prefix8, &mut prefix, snr_out, w_out);
            idx += m;
        }
    }
    debug_assert_eq!(idx, nt);
    pg
}

/// The matched filters of the `m` folded profiles `out` (`m × p`): for each profile, the best S/N
/// over the `widths` (coefficients `coefs` of the box sum and the profile total) and phases, and
/// the index of the best width, into `snr_out` and `w_out`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn score_profiles(
    out: &[f32],
    m: usize,
    p: usize,
    widths: &[usize],
    coefs: &[(f32, f32)],
    prefix8: &mut Vec<[f32; LANES]>,
    prefix: &mut Vec<f32>,
    snr_out: &mut [f32],
    w_out: &mut [u8],
) {
    let wmax = *widths.last().unwrap_or(&1);
    // Eight profiles at a time, one per lane: eight independent prefix-sum chains and
    // vectorised box differences. Each lane adds its profile in the same order as the
    // one-profile path below, so the results do not depend on the grouping.
    let mut k = 0usize;
    prefix8.resize(p + wmax + 1, [0.0f32; LANES]);
    while k + LANES <= m {
        let rows: [&[f32]; LANES] = std::array::from_fn(|l| &out[(k + l) * p..(k + l + 1) * p]);
        let mut acc = [0.0f32; LANES];
        prefix8[0] = acc;
        for j in 0..p + wmax {
            let jj = if j < p { j } else { j - p };
            for l in 0..LANES {
                acc[l] += rows[l][jj];
            }
            prefix8[j + 1] = acc;
        }
        let total = prefix8[p];
        let mut best = [f32::NEG_INFINITY; LANES];
        let mut best_w = [0u8; LANES];
        for (wi, (&w, &(ca, cb))) in widths.iter().zip(coefs).enumerate() {
            let mut mx = [f32::NEG_INFINITY; LANES];
            for (hi, lo) in prefix8[w..w + p].iter().zip(&prefix8[..p]) {
                for l in 0..LANES {
                    let v = hi[l] - lo[l];
                    mx[l] = if v > mx[l] { v } else { mx[l] };
                }
            }
            for l in 0..LANES {
                let snr = ca * mx[l] - cb * total[l];
                if snr > best[l] {
                    best[l] = snr;
                    best_w[l] = wi as u8;
                }
            }
        }
        snr_out[k..k + LANES].copy_from_slice(&best);
        w_out[k..k + LANES].copy_from_slice(&best_w);
        k += LANES;
    }
    prefix.resize(p + wmax + 1, 0.0f32);
    for k in k..m {
        let prof = &out[k * p..(k + 1) * p];
        prefix[0] = 0.0;
        let mut s = 0.0f32;
        for j in 0..p + wmax {
            s += prof[if j < p { j } else { j - p }];
            prefix[j + 1] = s;
        }
        let total = prefix[p];
        let mut best = f32::NEG_INFINITY;
        let mut best_w = 0u8;
        for (wi, (&w, &(ca, cb))) in widths.iter().zip(coefs).enumerate() {
            let mx = max_diff(&prefix[w..w + p], &prefix[..p]);
            let snr = ca * mx - cb * total;
            if snr > best {
                best = snr;
                best_w = wi as u8;
            }
        }
        snr_out[k] = best;
        w_out[k] = best_w;
    }
}

/// [`score_profiles`] compiled for AVX2 (identical results).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn score_profiles_avx2(
    out: &[f32],
    m: usize,
    p: usize,
    widths: &[usize],
    coefs: &[(f32, f32)],
    prefix8: &mut Vec<[f32; LANES]>,
    prefix: &mut Vec<f32>,
    snr_out: &mut [f32],
    w_out: &mut [u8],
) {
    score_profiles(out, m, p, widths, coefs, prefix8, prefix, snr_out, w_out)
}

/// [`score_profiles`], through its AVX2 copy when `avx2`.
#[allow(clippy::too_many_arguments)]
fn score_dispatch(
    avx2: bool,
    out: &[f32],
    m: usize,
    p: usize,
    widths: &[usize],
    coefs: &[(f32, f32)],
    prefix8: &mut Vec<[f32; LANES]>,
    prefix: &mut Vec<f32>,
    snr_out: &mut [f32],
    w_out: &mut [u8],
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only when the CPU supports AVX2 (`have_avx2`).
        unsafe { score_profiles_avx2(out, m, p, widths, coefs, prefix8, prefix, snr_out, w_out) };
        return;
    }
    let _ = avx2;
    score_profiles(out, m, p, widths, coefs, prefix8, prefix, snr_out, w_out);
}

/// `max_j (a[j] − b[j])` over equal-length slices (−∞ when empty), in 8 independent lanes so
/// the compiler vectorises it (a comparison-select, not `f32::max`, whose NaN rule blocks that).
#[inline(always)]
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for k in 0..8 {
            let v = x[k] - y[k];
            lanes[k] = if v > lanes[k] { v } else { lanes[k] };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for (x, y) in ar.iter().zip(br) {
        let v = x - y;
        m = if v > m { v } else { m };
    }
    lanes.iter().fold(m, |acc, &v| if v > acc { v } else { acc })
}

/// Significance of FFA S/N `snr` for `ntrials` effective trials: the Gaussian equivalent of
/// `1 − (1 − Q(snr))^ntrials` ([`super::stats::logp_with_trials`]).
pub fn ffa_sigma(snr: f64, ntrials: f64) -> f64 {
    sigma_from_logp(logp_with_trials(ln_gauss_sf(snr), ntrials))
}

/// Smallest S/N whose [`ffa_sigma`] reaches `sigma` (bisection).
pub fn ffa_snr_for_sigma(sigma: f64, ntrials: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0f64, 100.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if ffa_sigma(mid, ntrials) < sigma {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Candidates of one periodogram: trials at or above the S/N of `cfg.sigma_threshold` (with
/// `cfg.total_trials`, or the plan's own trials when 0), strongest first; a trial within
/// `freq_tol_bins / T` of a stronger kept one is the same signal and dropped; at most
/// `max_candidates`. Rows carry `search = Ffa`, `snr`, `sigma`, `width_s` (best boxcar × the
/// step's bin time), `nharm = 1`, `power = snr²`, `fft_bin = f T` (T = `n tsamp`), `n_dm_hits = 1`.
pub fn candidates(pg: &Periodogram, plan: &FfaPlan, dm: f64, cfg: &FfaConfig) -> Vec<Candidate> {
    let ntrials = if cfg.total_trials > 0.0 { cfg.total_trials } else { plan.trials() };
    let thr = ffa_snr_for_sigma(cfg.sigma_threshold, ntrials) as f32;
    let tobs = plan.n as f64 * plan.tsamp_s;
    let mut hits: Vec<usize> = (0..pg.snr.len()).filter(|&i| pg.snr[i] >= thr).collect();
    hits.sort_by(|&a, &b| pg.snr[b].total_cmp(&pg.snr[a]).then(a.cmp(&b)));
    let tol = cfg.freq_tol_bins / tobs;
    let mut out: Vec<Candidate> = Vec::new();
    for i in hits {
        if out.len() >= cfg.max_candidates {
            break;
        }
        let f = 1.0 / plan.periods_s[i];
        if out.iter().any(|c| (c.frequency_hz - f).abs() <= tol) {
            continue;
        }
        let p = plan.bins[i] as usize;
        let st = &plan.steps[plan.step_of[i] as usize];
        let w = plan.widths_for(p)[pg.width_idx[i] as usize];
        let snr = pg.snr[i] as f64;
        out.push(Candidate {
            period_s: plan.periods_s[i],
            frequency_hz: f,
            dm,
            accel: 0.0,
            snr: snr as f32,
            sigma: ffa_sigma(snr, ntrials) as f32,
            power: (snr * snr) as f32,
            nharm: 1,
            fft_bin: f * tobs,
            n_dm_hits: 1,
            harmonic_of: -1,
            harmonic_num: 0,
            harmonic_den: 0,
            fund_harmonic: 1,
            dm_flag: 0,
            z: 0.0,
            search: SearchKind::Ffa,
            width_s: w as f64 * st.ds * plan.tsamp_s,
        });
    }
    out
}

/// Summary of one series' periodogram for `/ffa`: the best trial, and the best S/N in each cell
/// of a log-spaced period grid.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodogramSummary {
    /// Best S/N of the series.
    pub best_snr: f32,
    /// Its period, s.
    pub best_period_s: f64,
    /// Its boxcar width, s.
    pub best_width_s: f64,
    /// Best S/N in each cell of [`summary_grid`] (NaN where no trial falls).
    pub grid_snr: Vec<f32>,
}

/// Edges of the `ncells` log-spaced period cells from `pmin` to `pmax` s (`ncells + 1` values).
pub fn summary_grid(pmin: f64, pmax: f64, ncells: usize) -> Vec<f64> {
    let (a, b) = (pmin.ln(), pmax.ln());
    (0..=ncells).map(|i| (a + (b - a) * i as f64 / ncells as f64).exp()).collect()
}

/// Summarises `pg` on the grid `edges` ([`summary_grid`]).
pub fn summarise(pg: &Periodogram, plan: &FfaPlan, edges: &[f64]) -> PeriodogramSummary {
    let ncells = edges.len().saturating_sub(1);
    let mut grid = vec![f32::NAN; ncells];
    let (mut best, mut bi) = (f32::NEG_INFINITY, usize::MAX);
    for (i, (&s, &p)) in pg.snr.iter().zip(&plan.periods_s).enumerate() {
        if s > best {
            best = s;
            bi = i;
        }
        if ncells > 0 && p >= edges[0] && p < edges[ncells] {
            let c = edges.partition_point(|&e| e <= p).saturating_sub(1).min(ncells - 1);
            if grid[c].is_nan() || s > grid[c] {
                grid[c] = s;
            }
        }
    }
    if bi == usize::MAX {
        return PeriodogramSummary { best_snr: 0.0, best_period_s: 0.0, best_width_s: 0.0, grid_snr: grid };
    }
    let p = plan.bins[bi] as usize;
    let st = &plan.steps[plan.step_of[bi] as usize];
    PeriodogramSummary {
        best_snr: best,
        best_period_s: plan.periods_s[bi],
        best_width_s: plan.widths_for(p)[pg.width_idx[bi] as usize] as f64 * st.ds * plan.tsamp_s,
        grid_snr: grid,
    }
}

/// Searches one series: [`FfaPlan::new`], [`periodogram`], [`candidates`].
///
/// # Errors
/// [`FfaError`] for a bad configuration.
pub fn search_series(series: &[f32], tsamp_s: f64, dm: f64, cfg: &FfaConfig) -> Result<Vec<Candidate>, FfaError> {
    let plan = FfaPlan::new(series.len(), tsamp_s, cfg)?;
    let pg = periodogram(series, &plan, cfg);
    Ok(candidates(&pg, &plan, dm, cfg))
}
