//! Incoherent harmonic summing on the interbinned (half-bin) power array.
//!
//! Indexing (as PRESTO's accelsearch harmonic stages, Ransom et al. 2002 §2.4): the input is the
//! half-bin power array `p[i]`, `i` = twice the Fourier bin (from [`super::spectrum::interbin_powers`]).
//! Stage `H` sums harmonics `h = 1..=H`. Its output index `j` runs over the half-bin grid of the
//! **highest** harmonic, so the fundamental is `j/H` half bins = `j/(2H)` Fourier bins — a finer
//! fundamental grid for more harmonics, so that the `H`-th harmonic is never more than half a
//! half-bin off. Harmonic `h` of fundamental `j/H` half bins lies at `j·h/H` half bins and is
//! read from `p[round(j·h/H)]` (rounding half up). So
//!
//! ```text
//! S_H[j] = Σ_{h=1}^{H} p[ round(j·h/H) ],   j = 0 .. p.len()   (the H-th harmonic is p[j])
//! ```
//!
//! Noise in `S_H` has mean ≈ `H` (exactly `H` on integer bins; half bins carry the interbinning
//! excess, see `interbin_powers`).

/// Harmonic stages searched for a maximum of `nharm_max` harmonics: powers of two from 1 up to
/// `nharm_max` (rounded down to a power of two, at most 32). `nharm_max = 16` → `[1, 2, 4, 8, 16]`.
pub fn harmonic_stages(nharm_max: u32) -> Vec<u32> {
    let top = nharm_max.clamp(1, 32);
    let mut v = vec![1u32];
    while v[v.len() - 1] * 2 <= top {
        let next = v[v.len() - 1] * 2;
        v.push(next);
    }
    v
}

/// Harmonic sum of stage `nharm` over a half-bin power array: returns `S_H` of the module doc,
/// same length as `halfbin_powers`; entry `j` is the summed power for a fundamental at Fourier bin
/// `j / (2·nharm)`. Every harmonic of every entry lies inside the array by construction.
pub fn harmonic_sum(halfbin_powers: &[f32], nharm: u32) -> Vec<f32> {
    let mut out = vec![0.0f32; halfbin_powers.len()];
    harmonic_sum_into(halfbin_powers, nharm, &mut out);
    out
}

/// As [`harmonic_sum`] but into a caller-provided buffer (`out.len() == halfbin_powers.len()`,
/// else only the common prefix is written).
pub fn harmonic_sum_into(halfbin_powers: &[f32], nharm: u32, out: &mut [f32]) {
    let hh = nharm.max(1) as usize;
    let n = halfbin_powers.len().min(out.len());
    out[..n].fill(0.0);
    for h in 1..=hh {
        add_harmonic(&halfbin_powers[..n], h, hh, &mut out[..n]);
    }
}

/// Adds harmonic `h` of stage `hh` to a stage sum: `out[j] += src[round(j·h/hh)]` (rounding half
/// up), for every `j < out.len()`; `src` must hold index `round((out.len() − 1)·h/hh)`. Shared by
/// [`harmonic_sum_into`] and the acceleration search's
/// [`super::accel::accel_harmonic_sum_into`] (which reads each harmonic from its own drift row).
pub(crate) fn add_harmonic(src: &[f32], h: usize, hh: usize, out: &mut [f32]) {
    add_harmonic_from(src, h, hh, 0, out);
}

/// As [`add_harmonic`] for the block of output indices starting at `j0`: `out[i] +=
/// src[round((j0 + i)·h/hh)]` (rounding half up), `h ≤ hh`.
fn add_harmonic_from(src: &[f32], h: usize, hh: usize, j0: usize, out: &mut [f32]) {
    if h == hh {
        for (o, &p) in out.iter_mut().zip(&src[j0..]) {
            *o += p;
        }
        return;
    }
    match hh {
        2 => return add_harmonic_blocks::<2>(src, h, j0, out),
        4 => return add_harmonic_blocks::<4>(src, h, j0, out),
        8 => return add_harmonic_blocks::<8>(src, h, j0, out),
        16 => return add_harmonic_blocks::<16>(src, h, j0, out),
        32 => return add_harmonic_blocks::<32>(src, h, j0, out),
        _ => {}
    }
    add_harmonic_stepping(src, h, hh, j0, out);
}

/// [`add_harmonic_from`] by stepping the index: `idx = (j·h + H/2) div H` and `rem = (j·h + H/2)
/// mod H` advanced in `j` without division. Any `hh`.
fn add_harmonic_stepping(src: &[f32], h: usize, hh: usize, j0: usize, out: &mut [f32]) {
    // (A `while`, not an `if`: the compiler keeps it a branch, which predicts the periodic
    // pattern; an `if` became a conditional move, a loop-carried dependency 2× slower.)
    let start = j0 * h + hh / 2;
    let mut idx = start / hh;
    let mut rem = start % hh;
    for o in out.iter_mut() {
        *o += src[idx];
        rem += h;
        while rem >= hh {
            rem -= hh;
            idx += 1;
        }
    }
}

/// [`add_harmonic_from`] for a stage of `HH` harmonics (the power-of-two stages): output
/// `j = b·HH + t` reads `src[b·h + off[t]]` with `off[t] = (t·h + HH/2) div HH`, a pattern that
/// repeats every `HH` outputs, so the loop over blocks has no data-dependent branch (1.4–2× faster
/// than stepping for the odd harmonics of the acceleration search). Outputs before the first
/// whole block and after the last go through [`add_harmonic_stepping`].
fn add_harmonic_blocks<const HH: usize>(src: &[f32], h: usize, j0: usize, out: &mut [f32]) {
    let head = ((HH - j0 % HH) % HH).min(out.len());
    let (first, rest) = out.split_at_mut(head);
    add_harmonic_stepping(src, h, HH, j0, first);
    let jb = j0 + head; // a multiple of HH
    let mut off = [0usize; HH];
    for (t, o) in off.iter_mut().enumerate() {
        *o = (t * h + HH / 2) / HH;
    }
    let nblocks = rest.len() / HH;
    let (blocks, tail) = rest.split_at_mut(nblocks * HH);
    let mut base = jb / HH * h;
    for ob in blocks.chunks_exact_mut(HH) {
        // off[t] ≤ h, so the block reads within src[base ..= base + h] (cut at the array's end:
        // the last block may need less).
        let sb = &src[base..(base + h + 1).min(src.len())];
        for t in 0..HH {
            ob[t] += sb[off[t]];
        }
        base += h;
    }
    add_harmonic_stepping(src, h, HH, jb + nblocks * HH, tail);
}

/// The search window and power threshold of one harmonic stage, for [`stage_peaks`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageScan {
    /// First output index tested (≥ 1; half-bin grid of the stage's highest harmonic).
    pub jlo: usize,
    /// Last output index tested (inclusive; values past the array are clamped).
    pub jhi: usize,
    /// Summed power at or above which a local maximum is reported.
    pub threshold: f32,
}

/// A local maximum above threshold of one harmonic stage ([`stage_peaks`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StagePeak {
    /// The stage (number of harmonics summed).
    pub nharm: u32,
    /// Output index: the fundamental is at `j / (2·nharm)` Fourier bins.
    pub j: usize,
    /// Summed power `S_H[j]`.
    pub power: f32,
}

/// Output indices per block of the incremental harmonic sum (16 KiB of `f32`, so a block and the
/// harmonics' source streams stay in L1/L2 cache between the additions).
const STAGE_BLOCK: usize = 4096;

/// All harmonic stages `1, 2, 4, … ≤ nharm_max` ([`harmonic_stages`]) of `halfbin_powers`, built
/// incrementally, with the threshold and local-maximum test fused into the summing.
///
/// Stage `2H` is stage `H` plus the odd harmonics: with the indexing of the module doc, the even
/// harmonics `h = 2h'` of `S_2H[j]` read `p[round(j·2h'/2H)] = p[round(j·h'/H)]`, which are exactly
/// the terms of `S_H[j]` at the **same** index `j`, so
///
/// ```text
/// S_2H[j] = S_H[j] + Σ_{h odd, h < 2H} p[ round(j·h/2H) ]
/// ```
///
/// and all stages together take `nharm_max` harmonic additions per index instead of
/// `2·nharm_max − 1`. Each stage is summed in blocks of [`STAGE_BLOCK`] indices in place in `sums`
/// (resized to `halfbin_powers.len()`; reuse it across calls to avoid allocation), and the
/// finished part of each block is scanned at once: index `j ∈ [jlo, jhi]` of stage `H` is a peak
/// when `S_H[j] ≥ threshold`, `S_H[j] ≥ S_H[j−1]` and `S_H[j] > S_H[j+1]` (`S_H[n] = −∞`), with
/// `scan(H)` giving the window and threshold of stage `H`. Peaks are appended to `peaks` by
/// stage, then index. On return `sums` holds the last stage's sums.
///
/// The sums equal [`harmonic_sum`]'s up to the order of the `f32` additions (the even harmonics
/// first): a relative difference of a few `f32` ulps.
pub fn stage_peaks(
    halfbin_powers: &[f32],
    nharm_max: u32,
    mut scan: impl FnMut(u32) -> StageScan,
    sums: &mut Vec<f32>,
    peaks: &mut Vec<StagePeak>,
) {
    let p = halfbin_powers;
    let n = p.len();
    sums.clear();
    sums.resize(n, 0.0);
    if n == 0 {
        return;
    }
    // Stage 1 is the power array itself.
    scan_peaks(p, 1, 0, n, scan(1), peaks);
    let stages = harmonic_stages(nharm_max);
    if stages.len() == 1 {
        sums.copy_from_slice(p);
    }
    for &hh2 in &stages[1..] {
        let hh2 = hh2 as usize;
        let win = scan(hh2 as u32);
        let mut b0 = 0;
        while b0 < n {
            let b1 = (b0 + STAGE_BLOCK).min(n);
            if hh2 == 2 {
                sums[b0..b1].copy_from_slice(&p[b0..b1]);
            }
            for h in (1..hh2).step_by(2) {
                add_harmonic_from(p, h, hh2, b0, &mut sums[b0..b1]);
            }
            // Indices whose right neighbour is now final: [b0 − 1, b1 − 1), and n − 1 at the end.
            let end = if b1 == n { n } else { b1 - 1 };
            scan_peaks(sums, hh2 as u32, b0.saturating_sub(1), end, win, peaks);
            b0 = b1;
        }
    }
}

/// Appends the peaks of stage `nharm` among indices `[from, to) ∩ [win.jlo, win.jhi]` of the
/// finished sums `s` (see [`stage_peaks`] for the test).
fn scan_peaks(s: &[f32], nharm: u32, from: usize, to: usize, win: StageScan, peaks: &mut Vec<StagePeak>) {
    let n = s.len();
    let lo = from.max(win.jlo).max(1);
    let hi = to.min(win.jhi.saturating_add(1)).min(n);
    if lo >= hi {
        return;
    }
    let thr = win.threshold;
    for j in lo..hi {
        let v = s[j];
        if v < thr {
            continue;
        }
        let right = if j + 1 < n { s[j + 1] } else { f32::NEG_INFINITY };
        if v < s[j - 1] || v <= right {
            continue;
        }
        peaks.push(StagePeak { nharm, j, power: v });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive twin: `S_H[j] = Σ_h p[round(j·h/H)]` by floating-point rounding, in `f64`.
    fn naive_sum(p: &[f32], hh: u32) -> Vec<f64> {
        (0..p.len())
            .map(|j| (1..=hh).map(|h| p[(j as f64 * h as f64 / hh as f64 + 0.5).floor() as usize] as f64).sum())
            .collect()
    }

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        // xorshift64*, exponential powers (unit mean) like whitened noise
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                let u = ((s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                (-u.ln()) as f32
            })
            .collect()
    }

    #[test]
    fn incremental_stages_match_naive_sums_and_peaks() {
        // Lengths below, at and across block boundaries; every stage up to 32 harmonics.
        for (n, seed) in [(1usize, 1u64), (2, 2), (3, 3), (37, 4), (4095, 5), (4096, 6), (4097, 7), (10_001, 8)] {
            let p = noise(n, seed);
            for nharm_max in [1u32, 2, 4, 8, 16, 32] {
                let mut sums = Vec::new();
                let mut peaks = Vec::new();
                // Thresholds near the noise mean + 1.5 σ so that many peaks are tested.
                let scan = |hh: u32| StageScan {
                    jlo: 1 + hh as usize,
                    jhi: n.saturating_sub(2 + hh as usize),
                    threshold: hh as f32 + 1.5 * (hh as f32).sqrt(),
                };
                stage_peaks(&p, nharm_max, scan, &mut sums, &mut peaks);
                let mut want = Vec::new();
                for hh in harmonic_stages(nharm_max) {
                    let s = naive_sum(&p, hh);
                    let w = scan(hh);
                    for j in w.jlo.max(1)..=w.jhi.min(n.saturating_sub(1)) {
                        let right = if j + 1 < n { s[j + 1] } else { f64::NEG_INFINITY };
                        if s[j] >= w.threshold as f64 && s[j] >= s[j - 1] && s[j] > right {
                            want.push((hh, j));
                        }
                    }
                    if hh == *harmonic_stages(nharm_max).last().unwrap() {
                        // The last stage's sums, to f32 rounding of ≤ 32 additions (relative 2⁻¹⁸).
                        for (a, b) in sums.iter().zip(&s) {
                            assert!((*a as f64 - b).abs() <= 4e-6 * b.abs().max(1.0), "n {n} H {hh}: {a} vs {b}");
                        }
                    }
                }
                let got: Vec<(u32, usize)> = peaks.iter().map(|pk| (pk.nharm, pk.j)).collect();
                assert_eq!(got, want, "n {n} nharm_max {nharm_max}");
                for pk in &peaks {
                    assert_eq!(pk.power, sums_of(&p, pk.nharm)[pk.j]);
                }
            }
        }
    }

    /// The stage sums of [`stage_peaks`] for one stage (its last stage).
    fn sums_of(p: &[f32], hh: u32) -> Vec<f32> {
        let mut sums = Vec::new();
        let mut peaks = Vec::new();
        stage_peaks(p, hh, |_| StageScan { jlo: 1, jhi: 0, threshold: f32::INFINITY }, &mut sums, &mut peaks);
        sums
    }

    /// Every harmonic of every stage size (block path and stepping path, any start `j0`) against
    /// the formula `out[i] += src[round((j0 + i)·h/hh)]` evaluated in f64 (naive twin).
    #[test]
    fn add_harmonic_from_matches_the_rounding_formula() {
        let p = noise(5000, 21);
        for hh in [1usize, 2, 3, 4, 6, 8, 16, 32] {
            for h in 1..=hh {
                for j0 in [0usize, 1, 5, 31, 64, 77] {
                    let len = ((p.len() - 1) * hh / h).saturating_sub(j0 + 1).min(4000);
                    let mut got = vec![0.5f32; len];
                    add_harmonic_from(&p, h, hh, j0, &mut got);
                    for (i, g) in got.iter().enumerate() {
                        let idx = (((j0 + i) * h) as f64 / hh as f64 + 0.5).floor() as usize;
                        assert_eq!(*g, 0.5 + p[idx], "h {h} H {hh} j0 {j0} i {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn add_harmonic_from_matches_whole_array_stepping() {
        let p = noise(9000, 11);
        for hh in [2usize, 3, 8, 16, 32] {
            for h in 1..=hh {
                let mut whole = vec![0.0f32; p.len()];
                add_harmonic(&p, h, hh, &mut whole);
                for j0 in [0usize, 1, 4095, 4096, 5000] {
                    let mut part = vec![0.0f32; p.len() - j0];
                    add_harmonic_from(&p, h, hh, j0, &mut part);
                    assert_eq!(&part[..], &whole[j0..], "h {h} H {hh} j0 {j0}");
                }
            }
        }
    }
}
