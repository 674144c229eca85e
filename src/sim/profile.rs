//! Tabulated pulse shapes and their exact integration over a sample and a channel.
//!
//! A shape is tabulated as a piecewise-constant function `p` on `n` equal bins of the unit
//! interval `[0, 1)` (one pulse period for pulsars, one time window for bursts), with its first
//! and second antiderivatives `G = ∫p` and `H = ∫G` stored at the bin edges. Inside a bin `G` is
//! linear and `H` quadratic, so both are exact for the tabulated shape.
//!
//! **Integration over a sample and a channel.** A sample of duration `T` in a channel whose
//! dispersion delays span `[d_lo, d_hi]` (width `s = d_hi − d_lo`) records the mean of the
//! emitted signal over emission times `t − d`, `t ∈ [t_j, t_j + T]`, `d ∈ [d_lo, d_hi]`. The delay
//! is nearly linear in frequency across one channel (fractional width ≪ 1), so averaging over the
//! channel's frequencies is averaging over a uniform spread of delays. In shape coordinates
//! (`x`, with rate `ν = dx/dt`) the mean over the two boxes is the second difference
//!
//! ```text
//! mean = [H(x0 + a + b) − H(x0 + a) − H(x0 + b) + H(x0)] / (a · b),   a = νT, b = νs,
//! ```
//!
//! with `x0` the shape coordinate of the earliest emission time `t_j − d_hi`; for `b → 0` it
//! reduces to `[G(x0 + a) − G(x0)] / a`. This is the box (sample) ⊗ box (intra-channel
//! smearing) convolution, i.e. the trapezoid that SIGPROC-style smearing estimates describe
//! (Lorimer & Kramer 2005 §6.1), evaluated exactly rather than point-sampled.

/// A tabulated shape with its antiderivatives. See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct ProfileTable {
    n: usize,
    /// `1 / n`, exact: `n` is a power of two (see [`table_size`]), else the division is used.
    inv_n: Option<f64>,
    /// Bin values, length `n`.
    p: Vec<f64>,
    /// `G` at bin edges, length `n + 1` (`g[0] = 0`, `g[n]` = integral over the unit interval).
    g: Vec<f64>,
    /// `H` at bin edges, length `n + 1`.
    h: Vec<f64>,
    periodic: bool,
    /// Start of the smallest interval (cyclic for periodic shapes) outside which `p` is zero.
    on_start: f64,
    /// Length of that interval (1 = everywhere).
    on_len: f64,
}

impl ProfileTable {
    /// Tabulates bin values `p` (length ≥ 1). Periodic shapes repeat with period 1; aperiodic
    /// ones are zero outside `[0, 1)`.
    pub(crate) fn new(p: Vec<f64>, periodic: bool) -> Self {
        let n = p.len();
        let dx = 1.0 / n as f64;
        let mut g = vec![0.0; n + 1];
        let mut h = vec![0.0; n + 1];
        for k in 0..n {
            g[k + 1] = g[k] + p[k] * dx;
            h[k + 1] = h[k] + g[k] * dx + 0.5 * p[k] * dx * dx;
        }
        let (on_start, on_len) = support(&p, periodic);
        let inv_n = n.is_power_of_two().then(|| 1.0 / n as f64);
        ProfileTable { n, inv_n, p, g, h, periodic, on_start, on_len }
    }

    /// `(start, length)` of the smallest interval (cyclic for periodic shapes, in shape
    /// coordinates) outside which the shape is zero; [`Self::box_trapezoid`] returns exactly 0
    /// for a window `[x0, x0 + a + b]` (`a + b < 1`) that lies strictly outside it.
    pub(crate) fn support(&self) -> (f64, f64) {
        (self.on_start, self.on_len)
    }

    /// Integral of the shape over the unit interval.
    pub(crate) fn total(&self) -> f64 {
        self.g[self.n]
    }

    /// `(bin index, offset inside the bin)` of `r ∈ [0, 1]`. (Signed 32-bit conversions: one
    /// instruction each on x86-64, unlike `usize`; `n ≤ 2^18`.)
    #[inline(always)]
    fn locate(&self, r: f64) -> (usize, f64) {
        let pos = r * self.n as f64;
        let k = (pos as i32).clamp(0, self.n as i32 - 1);
        let d = pos - k as f64;
        (
            k as usize,
            match self.inv_n {
                Some(inv) => d * inv,
                None => d / self.n as f64,
            },
        )
    }

    #[inline(always)]
    fn g_in(&self, r: f64) -> f64 {
        let (k, u) = self.locate(r);
        self.g[k] + self.p[k] * u
    }

    #[inline(always)]
    fn h_in(&self, r: f64) -> f64 {
        let (k, u) = self.locate(r);
        self.h[k] + self.g[k] * u + 0.5 * self.p[k] * u * u
    }

    /// First antiderivative `G(x) = ∫_0^x p`.
    #[inline(always)]
    pub(crate) fn big_g(&self, x: f64) -> f64 {
        if self.periodic {
            let n = floor_f64(x);
            n * self.total() + self.g_in(x - n)
        } else if x <= 0.0 {
            0.0
        } else if x >= 1.0 {
            self.total()
        } else {
            self.g_in(x)
        }
    }

    /// Second antiderivative `H(x) = ∫_0^x G` (valid for negative `x` too).
    #[inline(always)]
    pub(crate) fn big_h(&self, x: f64) -> f64 {
        if self.periodic {
            // The first two periods (where `box_trapezoid` evaluates) without the general
            // formula's zero terms; the same values bit for bit.
            if (0.0..1.0).contains(&x) {
                return self.h_in(x);
            }
            let tot = self.total();
            if (1.0..2.0).contains(&x) {
                let r = x - 1.0;
                return self.h[self.n] + r * tot + self.h_in(r);
            }
            let n = floor_f64(x);
            let r = x - n;
            0.5 * n * (n - 1.0) * tot + n * self.h[self.n] + n * r * tot + self.h_in(r)
        } else if x <= 0.0 {
            0.0
        } else if x >= 1.0 {
            self.h[self.n] + (x - 1.0) * self.total()
        } else {
            self.h_in(x)
        }
    }

    /// Largest bin value: no [`Self::box_trapezoid`] mean exceeds it.
    pub(crate) fn peak(&self) -> f64 {
        self.p.iter().copied().fold(0.0, f64::max)
    }

    /// Mean of the shape over the box `[x0, x0 + a]` convolved with the box `[0, b]`
    /// (see the module docs): the value one sample records. `a > 0`, `b ≥ 0`.
    /// For periodic shapes pass `x0` reduced to `[0, 1)` for full precision.
    #[inline(always)]
    pub(crate) fn box_trapezoid(&self, x0: f64, a: f64, b: f64) -> f64 {
        let w = a + b;
        // Quick exit when the whole window lies where the shape is zero.
        if self.periodic {
            if self.on_len < 1.0 && w < 1.0 {
                let rel = x0 - self.on_start;
                let rel = rel - floor_f64(rel);
                if rel > self.on_len && rel + w < 1.0 {
                    return 0.0;
                }
            }
        } else if x0 >= 1.0 || x0 + w <= 0.0 {
            return 0.0;
        }
        if b <= 1e-9 * a {
            (self.big_g(x0 + a) - self.big_g(x0)) / a
        } else {
            (self.big_h(x0 + a + b) - self.big_h(x0 + a) - self.big_h(x0 + b) + self.big_h(x0)) / (a * b)
        }
    }
}

/// `x.floor()` without a libm call (the crate is built for baseline x86-64, which has no
/// rounding instruction): truncation through `i64`, corrected for negative non-integers. Equal
/// to `floor` for every finite `x` except that `-0.0` gives `+0.0`; `floor` beyond ±2^52, NaN.
#[inline(always)]
pub(crate) fn floor_f64(x: f64) -> f64 {
    if x.abs() < 4_503_599_627_370_496.0 {
        let t = x as i64 as f64;
        if t > x {
            t - 1.0
        } else {
            t
        }
    } else {
        x.floor()
    }
}

/// Smallest interval outside which `p` is zero (below 1e-12 of its peak): `(start, len)` in
/// unit-interval coordinates; cyclic when `periodic`.
fn support(p: &[f64], periodic: bool) -> (f64, f64) {
    let n = p.len();
    let peak = p.iter().cloned().fold(0.0f64, f64::max);
    let thr = 1e-12 * peak;
    let on: Vec<bool> = p.iter().map(|&v| v.abs() > thr).collect();
    if !on.iter().any(|&b| b) {
        return (0.0, 0.0);
    }
    if !periodic {
        let first = on.iter().position(|&b| b).unwrap_or(0);
        let last = on.iter().rposition(|&b| b).unwrap_or(n - 1);
        return (first as f64 / n as f64, (last + 1 - first) as f64 / n as f64);
    }
    // Longest cyclic run of off bins.
    let (mut best_len, mut best_start) = (0usize, 0usize);
    let mut run = 0usize;
    for i in 0..2 * n {
        if !on[i % n] {
            run += 1;
            if run > best_len && run <= n {
                best_len = run;
                best_start = i + 1 - run;
            }
        } else {
            run = 0;
        }
    }
    if best_len == 0 {
        return (0.0, 1.0);
    }
    let on_start = ((best_start + best_len) % n) as f64 / n as f64;
    (on_start, (n - best_len) as f64 / n as f64)
}

/// Convolves periodic bin values with a one-sided exponential of `tau_bins` bins
/// (`(1/τ) e^{−t/τ}`, a thin-screen scattering tail), preserving the integral. Exact for the
/// recursive (IIR) form `y_k = α y_{k−1} + (1 − α) p_k`, `α = e^{−1/τ}`, in its periodic steady state.
pub(crate) fn scatter_periodic(p: &[f64], tau_bins: f64) -> Vec<f64> {
    if tau_bins <= 1e-3 {
        return p.to_vec();
    }
    let alpha = (-1.0 / tau_bins).exp();
    let n = p.len();
    let mut y = 0.0;
    for &v in p {
        y = alpha * y + (1.0 - alpha) * v;
    }
    // Steady state: the state entering the period satisfies s = α^n s + y(0-start).
    let an = alpha.powi(n as i32);
    let mut y = if an < 1.0 { y / (1.0 - an) } else { y };
    let mut out = Vec::with_capacity(n);
    for &v in p {
        y = alpha * y + (1.0 - alpha) * v;
        out.push(y);
    }
    out
}

/// Aperiodic version of [`scatter_periodic`]: starts from zero; the window must be long enough
/// for the tail to decay (the caller adds ≥ 12 τ).
pub(crate) fn scatter_aperiodic(p: &[f64], tau_bins: f64) -> Vec<f64> {
    if tau_bins <= 1e-3 {
        return p.to_vec();
    }
    let alpha = (-1.0 / tau_bins).exp();
    let mut y = 0.0;
    p.iter()
        .map(|&v| {
            y = alpha * y + (1.0 - alpha) * v;
            y
        })
        .collect()
}

/// Table size: a power of two giving at least 20 bins across the narrowest feature of
/// fractional width `min_width` (of the unit interval), clamped to `[lo, hi]`.
pub(crate) fn table_size(min_width: f64, lo: usize, hi: usize) -> usize {
    let want = if min_width > 0.0 { (20.0 / min_width).ceil() } else { hi as f64 };
    let want = want.min(hi as f64) as usize;
    want.next_power_of_two().clamp(lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive twin of `box_trapezoid`: brute-force double average of a known shape.
    #[test]
    fn box_trapezoid_matches_brute_force() {
        let n = 4096;
        let wrap = |d: f64| (d + 0.5).rem_euclid(1.0) - 0.5;
        let shape = move |x: f64| {
            (-0.5 * (wrap(x - 0.4) / 0.02).powi(2)).exp() + 0.5 * (-0.5 * (wrap(x - 0.7) / 0.01).powi(2)).exp()
        };
        let p: Vec<f64> = (0..n)
            .map(|k| (0..8).map(|m| shape((k as f64 + (m as f64 + 0.5) / 8.0) / n as f64)).sum::<f64>() / 8.0)
            .collect();
        let t = ProfileTable::new(p, true);
        for &(x0, a, b) in
            &[(0.28, 0.01, 0.0), (0.45, 0.003, 0.02), (0.66, 0.05, 0.07), (0.95, 0.02, 0.3), (0.1, 0.004, 1.7)]
        {
            let m = 600;
            let mut acc = 0.0;
            for i in 0..m {
                for j in 0..m {
                    let x = x0 + a * (i as f64 + 0.5) / m as f64 + b * (j as f64 + 0.5) / m as f64;
                    acc += shape(x);
                }
            }
            let brute = acc / (m * m) as f64;
            let fast = t.box_trapezoid(x0, a, b);
            assert!((fast - brute).abs() < 2e-3 * brute.abs().max(1e-2), "x0={x0} a={a} b={b}: {fast} vs {brute}");
        }
    }

    #[test]
    fn scattering_preserves_area_and_delays() {
        let mut p = vec![0.0; 1024];
        p[100] = 1024.0;
        let s = scatter_periodic(&p, 30.0);
        let area: f64 = s.iter().sum::<f64>() / 1024.0;
        assert!((area - 1.0).abs() < 1e-9);
        let mean_bin: f64 = s.iter().enumerate().map(|(i, v)| i as f64 * v).sum::<f64>() / s.iter().sum::<f64>();
        assert!((mean_bin - 130.0).abs() < 1.0, "{mean_bin}");
    }

    #[test]
    fn support_of_narrow_pulse() {
        let mut p = vec![0.0; 100];
        p[98] = 1.0;
        p[1] = 1.0;
        let (s, l) = support(&p, true);
        assert!((s - 0.98).abs() < 1e-12 && (l - 0.04).abs() < 1e-12, "{s} {l}");
    }
}
