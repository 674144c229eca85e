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
    if h == hh {
        for (o, &p) in out.iter_mut().zip(src) {
            *o += p;
        }
        return;
    }
    // idx = (j·h + H/2) div H and rem = (j·h + H/2) mod H, stepped in j without division.
    let mut idx = 0usize;
    let mut rem = hh / 2;
    for o in out.iter_mut() {
        *o += src[idx];
        rem += h;
        while rem >= hh {
            rem -= hh;
            idx += 1;
        }
    }
}
