//! Gating of broadband bursts of power in the zero-DM total: the "on" spectra of a periodic
//! broadband modulation (a 1–20 s periodic switching on part of the band, a radar's pulses),
//! and the wings of impulses too weak per spectrum for the clip.
//!
//! PRESTO's `prepsubband -clip` (Ransom's `clip_times`) judges one spectrum at a time; a 0.2 s
//! stretch of 3σ spectra passes it, and its comb of harmonics (issue 13's `fast-heavy` preset: a
//! 0.46 Hz periodic of 10 % duty cycle at 0.5σ per channel over 30 % of the band) then raises
//! the 0.5–10 Hz floor of every dedispersed spectrum below DM 100 by 5–30×. Here the zero-DM
//! total is binned ([`GATE_BIN_S`]), detrended with the medians of [`GATE_DETREND_S`] segments
//! interpolated linearly between segment centres (slow gain drifts and bandpass changes go; the
//! medians ignore bursts covering less than half a segment), normalised by the median over
//! segments of the residuals' `1.4826·MAD` (per spectrum), and searched with boxcars of
//! [`GATE_MIN_WIDTH_S`], twice that, … up to [`GATE_MAX_WIDTH_S`] (the single-pulse search's
//! matched-filter S/N, Cordes & McLaughlin 2003, eq. 13, on the DM-0 series). The bins of the
//! windows above the threshold form runs; each run is cut down to its highest-S/N stretch (the
//! burst's own edges), which is gated when it is at least [`GATE_MIN_WIDTH_S`] long, and the
//! rest of the run is searched again. Gated spectra are replaced by the baseline, as clipped
//! spectra are, and left out of every later statistic (baseline knots, channel statistics, the
//! clip's median).
//!
//! Only **long** bursts are gated: short ones are the clip's (one spectrum at a time, PRESTO's
//! rule), and a bright pulsar's pulses are short. `sigpyproc3/tutorial.fil` (P = 250 ms, DM 30
//! over 70 MHz: a 5 ms sweep) lost σ 90.9 → 49.4 when 2 ms boxcars gated its pulses (1.7 % of
//! the spectra); with boxcars of 16 ms and more at 6σ, 0.16 % (σ 86.2); at the default 8σ
//! nothing. A pulsar bright enough to exceed 8σ at DM 0 in 16 ms (per-pulse S/N about 16 in a
//! 4 ms pulse, sweep included) is gated, as PRESTO's clip removes one whose single spectra
//! exceed 6σ. A dispersed pulse is
//! spread over its sweep at DM 0 (issue 13's pulsar, S/N 1.5 per pulse at DM 40, is far below
//! any threshold).

/// Width of the bins of the zero-DM total that are searched, s (rounded to whole samples, at
/// least one).
pub const GATE_BIN_S: f64 = 0.002;
/// Narrowest boxcar and shortest gated stretch, s (see the module docs: shorter bursts are left
/// to the clip).
pub const GATE_MIN_WIDTH_S: f64 = 0.016;
/// Widest boxcar, s: a stretch of spectra 3σ above the zero-DM median (issue 13's 0.5σ periodic
/// over 154 of 512 channels: 3.4σ per spectrum) reaches 27σ in 64 spectra; wider boxcars would
/// add slow residuals of gain drifts (5–25 s) to the sums.
pub const GATE_MAX_WIDTH_S: f64 = 0.064;
/// Segments of the detrending medians, s: bursts shorter than half of it do not move them.
pub const GATE_DETREND_S: f64 = 0.5;

/// Median of the finite values of `v` (reordered); `None` when there are none.
fn median(v: &mut Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    Some(super::robust_centre_scale(&mut v.clone()).0)
}

/// Which bins of a binned zero-DM series to gate.
///
/// `sums[k]` is the sum and `counts[k]` the number of zero-DM totals (normalised spectra, any
/// offset) in bin `k` (`counts[k] = 0`: no data, never gated, skipped by the statistics).
/// `segment` (bins, ≥ 1) is the detrending segment, `min_width` (bins, ≥ 1) the narrowest
/// boxcar and shortest gated stretch, `max_width` (bins) the widest boxcar, `sigma` the
/// threshold. Returns one flag per bin. Without data or spread: nothing gated.
///
/// Cost: O(nbins · log₂ max_width) plus a median per segment.
pub fn gate_bins(
    sums: &[f64],
    counts: &[u32],
    segment: usize,
    min_width: usize,
    max_width: usize,
    sigma: f64,
) -> Vec<bool> {
    let mut gated = vec![false; sums.len()];
    // The bursts bias the first segment medians and spreads (a 0.2 s burst fills 40 % of a 0.5 s
    // segment); later rounds measure both without the bins gated so far.
    for _ in 0..GATE_ROUNDS {
        let next = gate_round(sums, counts, &gated, segment, min_width, max_width, sigma);
        let grew = next.iter().zip(&gated).any(|(&a, &b)| a && !b);
        for (g, a) in gated.iter_mut().zip(next) {
            *g |= a;
        }
        if !grew {
            break;
        }
    }
    gated
}

/// Rounds of [`gate_bins`]: each measures the baseline and spread without the bins gated by
/// the rounds before.
const GATE_ROUNDS: usize = 3;

/// One round of [`gate_bins`]: the bins flagged in `skip` are left out of the segment medians
/// and spreads (they are still searched).
fn gate_round(
    sums: &[f64],
    counts: &[u32],
    skip: &[bool],
    segment: usize,
    min_width: usize,
    max_width: usize,
    sigma: f64,
) -> Vec<bool> {
    let min_width = min_width.max(1);
    let n = sums.len();
    let mut gated = vec![false; n];
    let seg = segment.max(1);
    let nseg = n.div_ceil(seg);
    if n == 0 {
        return gated;
    }
    let live = |k: usize| counts[k] > 0 && !skip[k];
    // Segment medians of the bin means (bins with data) and centres.
    let mut medians = Vec::with_capacity(nseg);
    let mut centres = Vec::with_capacity(nseg);
    for s in 0..nseg {
        let (a, b) = (s * seg, ((s + 1) * seg).min(n));
        let mut v: Vec<f64> = (a..b).filter(|&k| live(k)).map(|k| sums[k] / counts[k] as f64).collect();
        if let Some(m) = median(&mut v) {
            medians.push(m);
            centres.push(0.5 * (a + b) as f64 - 0.5);
        }
    }
    if medians.is_empty() {
        return gated;
    }
    let base = |k: usize| -> f64 {
        let t = k as f64;
        let last = centres.len() - 1;
        if t <= centres[0] {
            return medians[0];
        }
        if t >= centres[last] {
            return medians[last];
        }
        let j = centres.partition_point(|&c| c <= t);
        let (c0, c1) = (centres[j - 1], centres[j]);
        medians[j - 1] + (t - c0) / (c1 - c0) * (medians[j] - medians[j - 1])
    };
    // Residual sums per bin (sum over the bin's spectra of total − baseline).
    let res: Vec<f64> =
        (0..n).map(|k| if counts[k] > 0 { sums[k] - counts[k] as f64 * base(k) } else { 0.0 }).collect();
    // Per-spectrum σ: median over segments of 1.4826·MAD of res/sqrt(count) (unit σ per spectrum
    // whatever the count).
    let mut spreads = Vec::with_capacity(nseg);
    for s in 0..nseg {
        let (a, b) = (s * seg, ((s + 1) * seg).min(n));
        let mut v: Vec<f64> = (a..b).filter(|&k| live(k)).map(|k| res[k] / (counts[k] as f64).sqrt()).collect();
        if v.len() >= 8 {
            let sd = super::robust_centre_scale(&mut v).1;
            if sd.is_finite() && sd > 0.0 {
                spreads.push(sd);
            }
        }
    }
    let Some(sd) = median(&mut spreads) else {
        return gated;
    };
    // Prefix sums of residuals and counts, and the S/N of the spectra of bins `a .. e`.
    let mut ps = vec![0.0f64; n + 1];
    let mut pc = vec![0u64; n + 1];
    for k in 0..n {
        ps[k + 1] = ps[k] + res[k];
        pc[k + 1] = pc[k] + counts[k] as u64;
    }
    let snr = |a: usize, e: usize| -> f64 {
        let c = pc[e] - pc[a];
        if c == 0 {
            f64::NEG_INFINITY
        } else {
            (ps[e] - ps[a]) / (sd * (c as f64).sqrt())
        }
    };
    // Whether a boxcar of `min_width`, twice that, … `max_width` bins inside `a .. e` is above
    // the threshold.
    let any_window = |a: usize, e: usize| -> bool {
        let mut w = min_width;
        while w <= max_width && w <= e - a {
            if (a..=e - w).any(|k| snr(k, k + w) > sigma) {
                return true;
            }
            w *= 2;
        }
        false
    };
    // The bins of every window above the threshold (a difference array) form runs; each run is
    // cut down to its highest-S/N stretch (a top hat's own edges, not the windows that straddle
    // them: those added ~30 % to the gated spectra of issue 13's periodic), and the parts left
    // on either side are searched again.
    let mut mark = vec![0i64; n + 1];
    let mut w = min_width;
    while w <= max_width && w <= n {
        for k in 0..=(n - w) {
            if snr(k, k + w) > sigma {
                mark[k] += 1;
                mark[k + w] -= 1;
            }
        }
        w *= 2;
    }
    let mut runs = Vec::new();
    let (mut depth, mut start) = (0i64, 0usize);
    for (k, &m) in mark.iter().enumerate().take(n) {
        let was = depth > 0;
        depth += m;
        match (was, depth > 0) {
            (false, true) => start = k,
            (true, false) => runs.push((start, k)),
            _ => {}
        }
    }
    if depth > 0 {
        runs.push((start, n));
    }
    let mut stack = runs;
    while let Some((a, e)) = stack.pop() {
        if e <= a || !any_window(a, e) {
            continue;
        }
        if e - a > GATE_REFINE_MAX_BINS {
            gated[a..e].iter_mut().for_each(|g| *g = true);
            continue;
        }
        let (mut best, mut ba, mut be) = (f64::NEG_INFINITY, a, e);
        for i in a..e {
            for j in i + 1..=e {
                let v = snr(i, j);
                if v > best {
                    (best, ba, be) = (v, i, j);
                }
            }
        }
        if be - ba >= min_width {
            gated[ba..be].iter_mut().for_each(|g| *g = true);
        }
        stack.push((a, ba));
        stack.push((be, e));
    }
    gated
}

/// Runs of more bins than this are gated whole (the search for their best stretch is quadratic).
const GATE_REFINE_MAX_BINS: usize = 2048;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn binned(x: &[f64], bin: usize) -> (Vec<f64>, Vec<u32>) {
        let sums = x.chunks(bin).map(|c| c.iter().sum()).collect();
        let counts = x.chunks(bin).map(|c| c.len() as u32).collect();
        (sums, counts)
    }

    /// A 3σ top hat of 500 spectra every 5000 on a slow drift of ±4σ (period 15 000 spectra) is
    /// gated whole, and no bin far from it is; pure noise gates nothing at 6σ.
    #[test]
    fn gates_a_periodic_top_hat_on_a_drift_and_nothing_on_noise() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let nd = Normal::new(0.0, 1.0).unwrap();
        let n = 80_000;
        let noise: Vec<f64> = (0..n).map(|_| nd.sample(&mut rng)).collect();
        let (s, c) = binned(&noise, 5);
        assert!(gate_bins(&s, &c, 250, 4, 16, 6.0).iter().all(|&g| !g));
        let on = |t: usize| t % 5000 >= 2000 && t % 5000 < 2500;
        let x: Vec<f64> = (0..n)
            .map(|t| {
                noise[t]
                    + 4.0 * (2.0 * std::f64::consts::PI * t as f64 / 15_000.0).sin()
                    + if on(t) { 3.0 } else { 0.0 }
            })
            .collect();
        let (s, c) = binned(&x, 5);
        let g = gate_bins(&s, &c, 250, 4, 16, 6.0);
        for (k, &gk) in g.iter().enumerate() {
            let t = k * 5;
            if on(t) && on(t + 4) {
                assert!(gk, "bin {k} (inside a top hat) not gated");
            }
            // More than two bins from every top hat: the runs of windows that straddle a top
            // hat's edge (up to 15 bins) are cut back to its own edges.
            if (0..=10).all(|d| !on(t.saturating_sub(d)) && !on(t + 4 + d)) {
                assert!(!gk, "bin {k} gated outside the top hats");
            }
        }
        // About the top hats' 10 % of the spectra (16-bin windows straddling both edges of each
        // 100-bin top hat would add up to 30 % to it).
        let frac = g.iter().filter(|&&x| x).count() as f64 / g.len() as f64;
        assert!((0.099..0.105).contains(&frac), "gated fraction {frac}");
    }
}
