//! Fourier-domain acceleration search: the `(r, z)` plane of a whitened spectrum and its
//! harmonic sums (Ransom, Eikenberry & Middleditch 2002, "RE&M" below).
//!
//! **Signal model.** A signal whose frequency drifts linearly from `r₀` to `r₀ + z` Fourier bins
//! over the observation (`z = ḟ T²`, PRESTO's sign: positive = frequency increasing) has DFT
//! `X_k ≈ N a G(r₀ − k, z)` with the Fourier response
//!
//! ```text
//! G(q, z) = ∫₀¹ exp(2πi (q u + z u² / 2)) du          (RE&M eq. 29 with the drift centred differently)
//! ```
//!
//! Its power is spread over about `|z|` bins. The matched filter at trial `(r, z)` is the
//! correlation `A(r, z) = Σ_k X_k G*(r − k, z)` over the bins where `|G|` is not negligible
//! (`q ∈ [min(0, −z) − W, max(0, −z) + W]`, [`KERNEL_MARGIN_BINS`] = `W`), and the normalised power
//! `P(r, z) = |A|² / Σ_k |G(r − k, z)|²` is, on whitened noise (`E|X_k|² = 1`), unit-mean
//! exponential at every `(r, z)` — the same statistics as the zero-drift search, so harmonic sums
//! are χ² with `2H` degrees of freedom. This module reports `r` as the frequency **at the start**
//! of the observation in the plane and converts it to the mean frequency `r₀ + z/2` for candidates.
//!
//! **Grid.** `r` in half bins (PRESTO's `numbetween = 2`), `z` in steps of [`Z_STEP`] bins from
//! `−zmax` to `zmax`. Harmonic stage `H` is indexed, as in PRESTO, by its highest harmonic:
//! the point `(j/2, z)` of the plane is harmonic `H` of the fundamental `(j/(2H), z/H)`, and
//! harmonic `h` is read at the nearest grid point to `(j h/(2H), z h/H)`
//! ([`super::harmonic`] for the `z = 0` case).
//!
//! **Kernels.** `G` is evaluated for each `z` as the midpoint-rule sum
//! `(1/M) Σ_n exp(2πi (q u_n + z u_n²/2))`, `u_n = (n + ½)/M`, for all integer `q` at once by one
//! FFT of length `M` ≥ 8 (|z| + 2W) (error `O((|z| + |q|)²/M²)`, below 1e-4 here; the naive twin
//! test compares with a direct sum). The correlation runs as overlap-save FFT convolution with
//! segments of [`SEGMENT_LEN`] bins, one kernel spectrum per `(z, half-bin offset)` built once per
//! `zmax` and cached.
use num_complex::Complex32;
use num_complex::Complex64;
use rustfft::FftPlanner;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Step of the drift grid, Fourier bins (PRESTO's `ACCEL_DZ = 2`).
pub const Z_STEP: i32 = 2;

/// Bins of the response kept on each side of the drift's sweep (`W` in the module docs). With
/// `W = 16` the kept part of `Σ|G|²` is above 0.985 for every `z` and both half-bin offsets (the
/// sinc² tails beyond `W` bins on both sides hold about `2/(π² W)` ≈ 1.3 %), as PRESTO's
/// 16-bin interpolation half-width.
pub const KERNEL_MARGIN_BINS: i32 = 16;

/// Shortest overlap-save FFT segment (complex bins); a bank uses at least 4× its kernels' spread.
pub const SEGMENT_LEN: usize = 4096;

/// Fourier response `G(q, z)` by the midpoint rule with `m` points (see the module docs),
/// evaluated for one `q` directly. Used by tests as the naive twin and for single values.
pub fn response_direct(q: f64, z: f64, m: usize) -> Complex64 {
    let mut s = Complex64::new(0.0, 0.0);
    for n in 0..m {
        let u = (n as f64 + 0.5) / m as f64;
        let ph = 2.0 * std::f64::consts::PI * (q * u + 0.5 * z * u * u);
        s += Complex64::from_polar(1.0, ph);
    }
    s / m as f64
}

/// Range of integer `q` (inclusive) kept in the kernel of drift `z`.
pub fn kernel_q_range(z: i32) -> (i32, i32) {
    (0i32.min(-z) - KERNEL_MARGIN_BINS, 0i32.max(-z) + KERNEL_MARGIN_BINS)
}

/// `G(q + s, z)` for the integer `q` of [`kernel_q_range`], `s` = 0 or ½, from one FFT
/// (module docs). Returns `(q_lo, values)`.
fn response_row(z: i32, s: f64, planner: &mut FftPlanner<f64>) -> (i32, Vec<Complex64>) {
    let (q_lo, q_hi) = kernel_q_range(z);
    let span = (q_hi - q_lo + 1) as usize;
    let m = (8 * (span + z.unsigned_abs() as usize)).next_power_of_two().max(256);
    // d_n = exp(2πi (s u_n + z u_n²/2)); Σ_n d_n e^{−2πi k u_n} = e^{−iπk/M} · FFT(d)_k, and
    // G(s − k, z) = that / M. We need q = −k from q_lo to q_hi, i.e. k = −q.
    let mut buf: Vec<Complex64> = (0..m)
        .map(|n| {
            let u = (n as f64 + 0.5) / m as f64;
            Complex64::from_polar(1.0, 2.0 * std::f64::consts::PI * (s * u + 0.5 * z as f64 * u * u))
        })
        .collect();
    planner.plan_fft_forward(m).process(&mut buf);
    let vals = (q_lo..=q_hi)
        .map(|q| {
            let k = -q as i64;
            let idx = k.rem_euclid(m as i64) as usize;
            let tw = Complex64::from_polar(1.0, -std::f64::consts::PI * k as f64 / m as f64);
            buf[idx] * tw / m as f64
        })
        .collect();
    (q_lo, vals)
}

/// One correlation kernel: `h[i] = G*(q_lo + i + s, z)` as the FFT of its zero-padded copy.
struct Kernel {
    /// `q_lo` of the kernel.
    q_lo: i32,
    /// Number of taps `K`.
    taps: usize,
    /// FFT (the bank's segment length) of `h` zero-padded, scaled by `1 / length` (so that the
    /// inverse FFT gives the circular convolution directly): real parts.
    spectrum_re: Vec<f32>,
    /// Imaginary parts of the same (kept apart so that the product loop vectorises).
    spectrum_im: Vec<f32>,
    /// `Σ_i |h_i|²`: the noise mean of `|A|²`.
    norm: f32,
}

/// The kernels of one `zmax`: index `2·zi + s` for drift `z = −zmax + Z_STEP·zi`, offset `s/2`.
pub struct KernelBank {
    zmax: i32,
    /// Overlap-save segment length.
    seg_len: usize,
    kernels: Vec<Kernel>,
}

impl KernelBank {
    /// Builds the bank for drifts `−zmax ..= zmax` in steps of [`Z_STEP`] (`zmax` is rounded up to
    /// a multiple of the step). Costs one length-`M` FFT per kernel.
    pub fn new(zmax: u32) -> KernelBank {
        let zmax = (zmax as i32 + Z_STEP - 1) / Z_STEP * Z_STEP;
        let spread = (2 * zmax + 2 * KERNEL_MARGIN_BINS + 1) as usize;
        let seg_len = SEGMENT_LEN.max((4 * spread).next_power_of_two());
        let mut planner = FftPlanner::<f64>::new();
        let mut p32 = FftPlanner::<f32>::new();
        let fwd = p32.plan_fft_forward(seg_len);
        let mut kernels = Vec::new();
        let mut z = -zmax;
        while z <= zmax {
            for s in [0.0, 0.5] {
                let (q_lo, vals) = response_row(z, s, &mut planner);
                let taps = vals.len();
                let norm: f64 = vals.iter().map(|v| v.norm_sqr()).sum();
                let mut spectrum = vec![Complex32::new(0.0, 0.0); seg_len];
                for (i, v) in vals.iter().enumerate() {
                    let c = v.conj() / seg_len as f64;
                    spectrum[i] = Complex32::new(c.re as f32, c.im as f32);
                }
                fwd.process(&mut spectrum);
                let spectrum_re = spectrum.iter().map(|c| c.re).collect();
                let spectrum_im = spectrum.iter().map(|c| c.im).collect();
                kernels.push(Kernel { q_lo, taps, spectrum_re, spectrum_im, norm: norm as f32 });
            }
            z += Z_STEP;
        }
        KernelBank { zmax, seg_len, kernels }
    }

    /// The bank for `zmax`, built once per process and shared.
    pub fn cached(zmax: u32) -> Arc<KernelBank> {
        static CACHE: OnceLock<Mutex<HashMap<u32, Arc<KernelBank>>>> = OnceLock::new();
        let m = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
        g.entry(zmax).or_insert_with(|| Arc::new(KernelBank::new(zmax))).clone()
    }

    /// Largest drift of the bank (a multiple of [`Z_STEP`]).
    pub fn zmax(&self) -> i32 {
        self.zmax
    }

    /// Number of drift rows `2 zmax / Z_STEP + 1`.
    pub fn nz(&self) -> usize {
        self.kernels.len() / 2
    }

    /// Drift of row `zi`, bins.
    pub fn z_of(&self, zi: usize) -> i32 {
        -self.zmax + Z_STEP * zi as i32
    }
}

/// The normalised power plane of a whitened spectrum: `rows[zi][j] = P(j/2, z_zi)` for half-bin
/// index `j = 0 .. 2·nbins` (`nbins = spec.len()`), `r` the frequency at the start of the
/// observation (module docs). Noise powers are unit-mean exponential.
///
/// Memory: `nz × 2·nbins` f32 ([`plane_bytes`]).
pub fn power_plane(spec: &[Complex32], bank: &KernelBank) -> Vec<Vec<f32>> {
    let nb = spec.len();
    let len = bank.seg_len;
    let mut planner = FftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(len);
    let inv = planner.plan_fft_inverse(len);
    // Overlap-save. Kernel (q_lo, K) gives y(m) = Σ_i h[i] X(m − q_lo − i); a segment holding
    // X[b0 .. b0 + L) gives it, by circular convolution, at c = m − q_lo − b0 for
    // K − 1 ≤ c < L. With b0 = m0 − max(q_hi), q_hi = q_lo + K − 1, every kernel is valid for
    // m ∈ [m0, m0 + step) when step = L − (max q_hi − min q_lo) − 1.
    let max_q_hi = bank.kernels.iter().map(|k| k.q_lo as i64 + k.taps as i64 - 1).max().unwrap_or(0);
    let min_q_lo = bank.kernels.iter().map(|k| k.q_lo as i64).min().unwrap_or(0);
    let step = len as i64 - (max_q_hi - min_q_lo) - 1;
    assert!(step > 0, "segment too short for the kernels");
    let nz = bank.nz();
    let mut rows = vec![vec![0.0f32; 2 * nb]; nz];
    let mut seg = vec![Complex32::new(0.0, 0.0); len];
    let mut works = [vec![Complex32::new(0.0, 0.0); len], vec![Complex32::new(0.0, 0.0); len]];
    let (mut seg_re, mut seg_im) = (vec![0.0f32; len], vec![0.0f32; len]);
    let mut m0: i64 = 0;
    while m0 < nb as i64 {
        let b0 = m0 - max_q_hi;
        for (i, v) in seg.iter_mut().enumerate() {
            let idx = b0 + i as i64;
            *v = if idx >= 0 && (idx as usize) < nb { spec[idx as usize] } else { Complex32::new(0.0, 0.0) };
        }
        fwd.process(&mut seg);
        for ((r, i), c) in seg_re.iter_mut().zip(seg_im.iter_mut()).zip(&seg) {
            (*r, *i) = (c.re, c.im);
        }
        let m_end = (m0 + step).min(nb as i64);
        let cnt = (m_end - m0) as usize;
        for (zi, row) in rows.iter_mut().enumerate() {
            let mut c0 = [0usize; 2];
            let mut inv_norm = [0.0f32; 2];
            for (s, work) in works.iter_mut().enumerate() {
                let k = &bank.kernels[2 * zi + s];
                // Complex product from split real/imaginary arrays (vectorises; the product of
                // interleaved Complex32 did not).
                let (kr, ki) = (&k.spectrum_re[..len], &k.spectrum_im[..len]);
                let (ar, ai) = (&seg_re[..len], &seg_im[..len]);
                for (i, w) in work[..len].iter_mut().enumerate() {
                    *w = Complex32::new(ar[i] * kr[i] - ai[i] * ki[i], ar[i] * ki[i] + ai[i] * kr[i]);
                }
                inv.process(work);
                inv_norm[s] = 1.0 / k.norm;
                c0[s] = (m0 - k.q_lo as i64 - b0) as usize;
            }
            // Both half-bin offsets written together: row[2m] from offset 0, row[2m + 1] from ½.
            let dst = &mut row[2 * m0 as usize..2 * m_end as usize];
            let (w0, w1) = (&works[0][c0[0]..c0[0] + cnt], &works[1][c0[1]..c0[1] + cnt]);
            for ((d, a), b) in dst.chunks_exact_mut(2).zip(w0).zip(w1) {
                d[0] = a.norm_sqr() * inv_norm[0];
                d[1] = b.norm_sqr() * inv_norm[1];
            }
        }
        m0 += step;
    }
    rows
}

/// The `zmax` the search uses for a requested `zmax`: rounded up to a multiple of [`Z_STEP`]
/// (drifts are searched in steps of 2, PRESTO's convention), as [`KernelBank::new`] does.
/// This is the value to record and to count trials with.
pub fn searched_zmax(zmax: u32) -> u32 {
    zmax.div_ceil(Z_STEP as u32) * Z_STEP as u32
}

/// Bytes of the plane of a spectrum of `nbins` bins at `zmax` (`(2 zmax/Z_STEP + 1) · 2 nbins · 4`).
pub fn plane_bytes(nbins: usize, zmax: u32) -> usize {
    let zr = (zmax as usize).div_ceil(Z_STEP as usize) * Z_STEP as usize;
    (2 * zr / Z_STEP as usize + 1) * 2 * nbins * 4
}

/// Harmonic sum of stage `nharm` at drift row `zi` of the top harmonic: entry `j` is
/// `Σ_{h=1}^{H} rows[zi_h][round(j h / H)]`, `zi_h` the row nearest to `z h / H`
/// (module docs). `out.len()` ≤ the rows' length.
pub fn accel_harmonic_sum_into(rows: &[Vec<f32>], bank: &KernelBank, zi: usize, nharm: u32, out: &mut [f32]) {
    let hh = nharm.max(1) as usize;
    let z = bank.z_of(zi) as f64;
    let n = out.len().min(rows[zi].len());
    out[..n].fill(0.0);
    for h in 1..=hh {
        let zh = z * h as f64 / hh as f64;
        let zi_h = ((zh + bank.zmax as f64) / Z_STEP as f64).round().clamp(0.0, (bank.nz() - 1) as f64) as usize;
        super::harmonic::add_harmonic(&rows[zi_h][..n], h, hh, &mut out[..n]);
    }
}

/// Best harmonic sum over the drift rows, for every stage at once: `best[si][j]` is the largest
/// over `zi` of [`accel_harmonic_sum_into`]`(rows, bank, zi, stages[si])[j]`, and `best_zi[si][j]`
/// the row that gave it (the first, on ties). `n` is the length of the sums (≤ the rows' length).
///
/// Built incrementally as the zero-drift search does ([`super::harmonic`]): for a top-harmonic row
/// `zi`, harmonic `2k` of stage `2H` is read at index `round(j·2k/2H) = round(j·k/H)` of row
/// `round(z·2k/2H) = round(z·k/H)` — exactly harmonic `k` of stage `H` at the same `(j, zi)` — so
/// `S_2H = S_H + Σ_{odd h < 2H}` and stages 1…16 cost 16 row reads per `zi` instead of 31. A stage
/// that is not the double of the previous one is summed from scratch. Only the summation order
/// differs from the direct sums (f32 rounding, ≲ 1e-6 relative). Memory: `(1 + stages) · n` f32
/// and `stages · n` u32.
pub fn best_over_drift(
    rows: &[Vec<f32>],
    bank: &KernelBank,
    stages: &[u32],
    n: usize,
) -> (Vec<Vec<f32>>, Vec<Vec<u32>>) {
    let n = n.min(rows.first().map_or(0, |r| r.len()));
    let mut best = vec![vec![f32::NEG_INFINITY; n]; stages.len()];
    let mut best_zi = vec![vec![0u32; n]; stages.len()];
    let mut sums = vec![0.0f32; n];
    let last_row = (bank.nz() - 1) as f64;
    for zi in 0..bank.nz() {
        let z = bank.z_of(zi) as f64;
        let mut prev: u32 = 0;
        for (si, &hh) in stages.iter().enumerate() {
            let hh_us = hh.max(1) as usize;
            let row_of = |h: usize| -> usize {
                let zh = z * h as f64 / hh_us as f64;
                ((zh + bank.zmax as f64) / Z_STEP as f64).round().clamp(0.0, last_row) as usize
            };
            if prev > 0 && hh == 2 * prev {
                for h in (1..hh_us).step_by(2) {
                    super::harmonic::add_harmonic(&rows[row_of(h)][..n], h, hh_us, &mut sums);
                }
            } else {
                sums.fill(0.0);
                for h in 1..=hh_us {
                    super::harmonic::add_harmonic(&rows[row_of(h)][..n], h, hh_us, &mut sums);
                }
            }
            prev = hh;
            // Branch-free selects, so that the loop vectorises (a rare-taken `if` did not).
            let zi32 = zi as u32;
            let (b, bz) = (&mut best[si][..n], &mut best_zi[si][..n]);
            for j in 0..n {
                let take = sums[j] > b[j];
                bz[j] = if take { zi32 } else { bz[j] };
                b[j] = if take { sums[j] } else { b[j] };
            }
        }
    }
    (best, best_zi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    /// `nb` bins of whitened complex noise (`E|X_k|² = 1`), seeded.
    fn white_spectrum(nb: usize, seed: u64) -> Vec<Complex32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..nb)
            .map(|_| {
                let re: f32 = rng.sample(StandardNormal);
                let im: f32 = rng.sample(StandardNormal);
                Complex32::new(re, im) * std::f32::consts::FRAC_1_SQRT_2
            })
            .collect()
    }

    /// The incremental best-over-drift sums equal the direct per-row sums (naive twin) to f32
    /// rounding, for the doubling stages and for a stage list with a gap (summed from scratch).
    #[test]
    fn best_over_drift_matches_direct_sums() {
        let nb = 3000;
        let spec = white_spectrum(nb, 3);
        let bank = KernelBank::new(30);
        let rows = power_plane(&spec, &bank);
        let n = rows[0].len();
        for stages in [vec![1u32, 2, 4, 8, 16], vec![1u32, 4, 8]] {
            let (best, best_zi) = best_over_drift(&rows, &bank, &stages, n);
            let mut sums = vec![0.0f32; n];
            for (si, &hh) in stages.iter().enumerate() {
                let mut want = vec![f32::NEG_INFINITY; n];
                let mut per_row = Vec::new();
                for zi in 0..bank.nz() {
                    accel_harmonic_sum_into(&rows, &bank, zi, hh, &mut sums);
                    for j in 0..n {
                        want[j] = want[j].max(sums[j]);
                    }
                    per_row.push(sums.clone());
                }
                for j in 0..n {
                    let tol = 1e-5 * (1.0 + want[j].abs());
                    assert!((best[si][j] - want[j]).abs() <= tol, "H {hh} j {j}: {} vs {}", best[si][j], want[j]);
                    // The reported row attains the maximum (ties may pick another row).
                    let at = per_row[best_zi[si][j] as usize][j];
                    assert!((at - want[j]).abs() <= tol, "H {hh} j {j}: row value {at} vs {}", want[j]);
                }
            }
        }
    }

    #[test]
    fn response_at_zero_drift_is_the_sinc() {
        // G(q, 0) = (e^{2πiq} − 1)/(2πiq); at q = ½: (−2)/(πi) = 2i/π.
        let g = response_direct(0.5, 0.0, 20000);
        assert!((g - Complex64::new(0.0, 2.0 / std::f64::consts::PI)).norm() < 1e-6, "{g}");
        let g0 = response_direct(0.0, 0.0, 100);
        assert!((g0 - Complex64::new(1.0, 0.0)).norm() < 1e-12);
    }

    /// The FFT-built kernel rows against the direct sum (naive twin) for several drifts and both
    /// half-bin offsets; both are the same midpoint rule, so they agree to FFT rounding. The
    /// midpoint rule itself is checked against a 16× finer rule (error O(((|z|+|q|)/M)²)).
    #[test]
    fn kernel_rows_match_direct_sum() {
        let mut planner = FftPlanner::<f64>::new();
        for z in [-40, -6, 0, 2, 17, 100] {
            for s in [0.0, 0.5] {
                let (q_lo, vals) = response_row(z, s, &mut planner);
                let span = vals.len();
                let m = (8 * (span + z.unsigned_abs() as usize)).next_power_of_two().max(256);
                for (i, v) in vals.iter().enumerate().step_by(3) {
                    let q = (q_lo + i as i32) as f64 + s;
                    let d = response_direct(q, z as f64, m);
                    assert!((v - d).norm() < 1e-9, "z {z} q {q}: {v} vs {d}");
                    let fine = response_direct(q, z as f64, 16 * m);
                    assert!((v - fine).norm() < 1e-4, "z {z} q {q}: {v} vs fine {fine}");
                }
                let kept: f64 = vals.iter().map(|v| v.norm_sqr()).sum();
                assert!(kept > 0.985 && kept < 1.0 + 1e-6, "z {z} s {s}: kept power {kept}");
            }
        }
    }

    /// The overlap-save plane equals the direct correlation (naive twin) on random input.
    #[test]
    fn plane_matches_direct_correlation() {
        let nb = 9000;
        let spec = white_spectrum(nb, 11);
        let bank = KernelBank::new(20);
        let rows = power_plane(&spec, &bank);
        let mut planner = FftPlanner::<f64>::new();
        for zi in [0usize, 3, 10, 20] {
            let z = bank.z_of(zi);
            for s in [0usize, 1] {
                let (q_lo, vals) = response_row(z, 0.5 * s as f64, &mut planner);
                let norm: f64 = vals.iter().map(|v| v.norm_sqr()).sum();
                for m in [0usize, 1, 17, 4000, 4500, 8191, nb - 1] {
                    let mut a = Complex64::new(0.0, 0.0);
                    for (i, g) in vals.iter().enumerate() {
                        let k = m as i64 - q_lo as i64 - i as i64;
                        if k >= 0 && (k as usize) < nb {
                            let x = spec[k as usize];
                            a += Complex64::new(x.re as f64, x.im as f64) * g.conj();
                        }
                    }
                    let want = a.norm_sqr() / norm;
                    let got = rows[zi][2 * m + s] as f64;
                    assert!((got - want).abs() < 1e-4 * (1.0 + want), "z {z} s {s} m {m}: {got} vs {want}");
                }
            }
        }
    }

    /// On white unit-mean noise every row of the plane has unit-mean exponential powers:
    /// mean 1 ± 3/√n_eff and P(>3) = e^{−3} (the mean over 2 × 20 000 correlated points per row
    /// has a spread of about 1/√20 000 ≈ 0.007 times the correlation length in bins, ≲ 0.02).
    #[test]
    fn noise_plane_is_unit_mean_exponential() {
        let nb = 20_000;
        let spec = white_spectrum(nb, 5);
        let bank = KernelBank::new(50);
        let rows = power_plane(&spec, &bank);
        for (zi, row) in rows.iter().enumerate() {
            let inner = &row[200..2 * nb - 200];
            let mean = inner.iter().map(|&v| v as f64).sum::<f64>() / inner.len() as f64;
            let frac = inner.iter().filter(|&&v| v > 3.0).count() as f64 / inner.len() as f64;
            assert!((mean - 1.0).abs() < 0.05, "row {zi}: mean {mean}");
            assert!((frac - (-3.0f64).exp()).abs() < 0.01, "row {zi}: P(>3) {frac}");
        }
    }

    /// A linearly drifting sinusoid on the grid (r₀ a half bin, z a multiple of 2) is recovered
    /// at its (r, z) with its full power less the kernel's truncation (≤ 1.5 %) and the midpoint
    /// rule's error, where the zero-drift row keeps only a fraction.
    #[test]
    fn drifting_signal_peaks_at_its_drift() {
        let n = 1 << 15;
        let (r0, z) = (3000.5f64, 60.0f64);
        let amp = 0.05f64;
        // x_t = amp cos(2π (r0 u + z u²/2)), u = t/N; its DFT at k ≈ (N amp / 2) G(r0 − k, z).
        let x: Vec<f32> = (0..n)
            .map(|t| {
                let u = t as f64 / n as f64;
                (amp * (2.0 * std::f64::consts::PI * (r0 * u + 0.5 * z * u * u)).cos()) as f32
            })
            .collect();
        let spec = crate::search::spectrum::real_spectrum(&x);
        // Pure signal: normalise so that a unit-mean noise level would be 1 (|X|² of noise of
        // variance σ² per sample is N σ²; take σ = 1).
        let scale = 1.0 / (n as f32).sqrt();
        let spec: Vec<Complex32> = spec.iter().map(|c| c * scale).collect();
        let bank = KernelBank::new(100);
        let rows = power_plane(&spec, &bank);
        let expected = (n as f64) * amp * amp / 4.0;
        let (mut best, mut best_zi, mut best_j) = (0.0f32, 0, 0);
        for (zi, row) in rows.iter().enumerate() {
            for (j, &p) in row.iter().enumerate() {
                if p > best {
                    (best, best_zi, best_j) = (p, zi, j);
                }
            }
        }
        let z_found = bank.z_of(best_zi) as f64;
        let r_found = best_j as f64 / 2.0;
        assert!((z_found - z).abs() <= 2.0, "z {z_found}");
        assert!((r_found - r0).abs() <= 1.0, "r {r_found}");
        assert!((best as f64) > 0.97 * expected && (best as f64) < 1.02 * expected, "power {best} vs {expected}");
        let zero_row = &rows[bank.nz() / 2];
        let zero_best = zero_row.iter().cloned().fold(0.0f32, f32::max) as f64;
        assert!(zero_best < 0.2 * expected, "z = 0 row keeps {zero_best} of {expected}");
    }
}
