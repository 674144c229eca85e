//! Single-pulse search: boxcar matched filtering of dedispersed time series, and clustering of
//! the raw events of one burst (seen at many DM trials and widths) into one row.
//!
//! Pipeline for one DM trial ([`search_dm_series`]):
//! 1. **Detrend**: subtract a running baseline made of block medians (blocks of about
//!    [`SinglePulseConfig::detrend_window_s`]) linearly interpolated between block centres; O(N).
//! 2. **Normalise**: divide by a robust noise σ, the median over blocks of each block's
//!    `1.4826 · MAD` of the detrended residuals (falling back to `IQR / 1.349` when the MAD is 0). Blocks with zero spread
//!    (constant stretches, zero padding) are set to 0 and never produce events, so constant
//!    input gives no events and no inf/NaN (TRAPS B29; PRESTO PR #32 fixed the crash an infinite
//!    σ caused in `single_pulse_search.py`).
//! 3. **Boxcars**: for each width `w` (PRESTO's list 1, 2, 3, 4, 6, 9, 14, 20, 30, 45, 70, 100,
//!    150, 220, 300, continued by factors of 1.5, up to the maximum width; PRESTO issue #217),
//!    `S/N(j, w) = Σ_{i=j}^{j+w−1} x_i / sqrt(w)` for the unit-variance series `x`, evaluated for
//!    every start `j` from a prefix sum. For white noise this S/N has unit variance; a top-hat
//!    of amplitude `A` and width `w` gives `A·sqrt(w)`.
//! 4. **Peaks**: every maximal run of starts with S/N ≥ threshold gives one event, at the run's
//!    best start: one event per peak per width, not one per sample.
//!
//! **Time convention**: `time_s` is the **start** of the best boxcar (as PRESTO and this
//! project's `PROVENANCE.md` verification), in seconds from the first sample of the series. The
//! dedispersed series of this crate already refer to the highest channel-centre frequency
//! (see `crate::dedisp`), so `time_s` is the arrival time at the top of the band.
//! `sample` is the same instant in native (not downsampled) samples.
//!
//! [`cluster`] merges events that are friends-of-friends in (DM trial, time, width);
//! [`search_dedispersed`] runs all DM trials of a [`DedispersedSeries`] in parallel and clusters.
//!
//! Raw filterbank data should be normalised per channel before dedispersion (channels with zero
//! variance zapped), so that a band-edge channel of zeros or a hot channel does not dominate the
//! sum: see [`crate::rfi`] ([`NormalisedObservation`], [`crate::rfi::CleanedObservation`]).

use crate::dedisp::DedispersedSeries;
pub use crate::io::is_dropped_spectrum;
use crate::io::Header;
/// The channel normalisation lives in the excision stage ([`crate::rfi`]); re-exported here.
pub use crate::rfi::normalise::{channel_stats, zap_mask, ChannelNormConfig, ChannelStats, NormalisedObservation};
use crate::rows::SinglePulse;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// PRESTO's single-pulse boxcar widths in samples (`single_pulse_search.py`; PRESTO issue #217).
pub const PRESTO_WIDTHS: [usize; 15] = [1, 2, 3, 4, 6, 9, 14, 20, 30, 45, 70, 100, 150, 220, 300];

/// Configuration of the single-pulse search (one plain serde struct, stored as provenance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SinglePulseConfig {
    /// Report events with boxcar S/N at or above this (default 6).
    pub snr_threshold: f32,
    /// Widest boxcar tried, s (default 0.1 s). Converted to samples of the searched series.
    pub max_width_s: f64,
    /// Explicit boxcar widths in samples of the searched series; `None` uses [`boxcar_widths`]
    /// up to `max_width_s`. Widths longer than the series are skipped.
    pub widths: Option<Vec<usize>>,
    /// Length of the blocks whose medians form the detrending baseline, s (default 1 s).
    pub detrend_window_s: f64,
    /// The detrending block is made at least this many times the widest boxcar (default 10), so
    /// that the baseline does not eat wide pulses or add noise to wide boxcars.
    pub min_detrend_widths: usize,
    /// How events are merged by [`search_dedispersed`].
    pub cluster: ClusterConfig,
}

impl Default for SinglePulseConfig {
    fn default() -> Self {
        SinglePulseConfig {
            snr_threshold: 6.0,
            max_width_s: 0.1,
            widths: None,
            detrend_window_s: 1.0,
            min_detrend_widths: 10,
            cluster: ClusterConfig::default(),
        }
    }
}

/// Configuration of the friends-of-friends clustering of single-pulse events ([`cluster`]).
///
/// Two events are friends when (a) their DM trial indices differ by at most `dm_link_trials`
/// and (b) the gap between their boxcars `[time_s, time_s + width_s)` is at most
/// `time_link_s + time_link_widths · min(width_a, width_b)` (overlapping boxcars always qualify).
/// A cluster is the transitive closure of friendship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterConfig {
    /// The DM trial grid, pc cm⁻³, used to turn an event's DM into a trial index (nearest
    /// trial). Empty: the distinct DMs present among the events are used as the grid, so DMs
    /// with no events are skipped over (pass the grid to avoid that).
    pub dm_trials: Vec<f64>,
    /// Largest difference of DM trial index between friends (default 2).
    pub dm_link_trials: usize,
    /// Allowed gap between friends' boxcars in units of the narrower width (default 1).
    pub time_link_widths: f64,
    /// Allowed gap between friends' boxcars in seconds, added to the above (default 0).
    pub time_link_s: f64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { dm_trials: Vec::new(), dm_link_trials: 2, time_link_widths: 1.0, time_link_s: 0.0 }
    }
}

/// One boxcar detection in a normalised series (before conversion to a [`SinglePulse`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxcarHit {
    /// First sample of the boxcar (series samples).
    pub start: usize,
    /// Boxcar width (series samples).
    pub width: usize,
    /// `Σ x / sqrt(width)` over the boxcar.
    pub snr: f32,
}

/// Boxcar widths in samples: PRESTO's list (see [`PRESTO_WIDTHS`]) continued beyond 300 by
/// factors of 1.5 (450, 675, ...), keeping those `<= max_width` (at least width 1).
pub fn boxcar_widths(max_width: usize) -> Vec<usize> {
    let max_width = max_width.max(1);
    let mut out: Vec<usize> = PRESTO_WIDTHS.iter().copied().filter(|&w| w <= max_width).collect();
    let mut w = 300usize;
    loop {
        w = (w as f64 * 1.5).round() as usize;
        if w > max_width {
            break;
        }
        out.push(w);
    }
    out
}

/// Median of `v` (reordered in place); `v` must be non-empty and hold no NaN.
fn median_in_place(v: &mut [f32]) -> f32 {
    let n = v.len();
    let mid = n / 2;
    let (lo, m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
    let m = *m;
    if n % 2 == 1 {
        m
    } else {
        let below = lo.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        0.5 * (below + m)
    }
}

/// Value of rank `k` (0-based) of `v` (reordered in place).
fn rank_in_place(v: &mut [f32], k: usize) -> f32 {
    *v.select_nth_unstable_by(k, f32::total_cmp).1
}

/// Detrends `series` with interpolated block medians and divides by a robust σ.
///
/// `block_len` (samples, clamped to `1..=len`) is the detrending block; a trailing block
/// shorter than half of it is merged into the previous one. The baseline is the block medians
/// linearly interpolated between block centres (constant before the first and after the last
/// centre). A block is *flat* when more than half of its raw values equal its median and its
/// raw interquartile range is 0 (a constant stretch, zero padding). The spread of every other
/// block is `1.4826·MAD` of its detrended residuals, or `IQR/1.349` if that MAD is 0;
/// σ is the median spread of the non-flat blocks with non-zero spread. Returns the normalised series (flat blocks and
/// non-finite input samples set to 0) and σ; σ = 0 (and an all-zero series) when every block is
/// flat or the series is empty. The output never holds inf or NaN.
pub fn detrend_normalise(series: &[f32], block_len: usize) -> (Vec<f32>, f64) {
    let n = series.len();
    if n == 0 {
        return (Vec::new(), 0.0);
    }
    let b = block_len.clamp(1, n);
    // Block boundaries.
    let mut bounds: Vec<(usize, usize)> = (0..n).step_by(b).map(|s| (s, (s + b).min(n))).collect();
    if bounds.len() > 1 {
        let (s, e) = bounds[bounds.len() - 1];
        if 2 * (e - s) < b {
            bounds.pop();
            let last = bounds.len() - 1;
            bounds[last].1 = e;
        }
    }
    let nb = bounds.len();
    let mut centres = Vec::with_capacity(nb);
    let mut medians = Vec::with_capacity(nb);
    let mut flat = Vec::with_capacity(nb);
    let mut scratch: Vec<f32> = Vec::with_capacity(bounds.iter().map(|(s, e)| e - s).max().unwrap_or(0));
    for &(s, e) in &bounds {
        scratch.clear();
        scratch.extend(series[s..e].iter().copied().filter(|x| x.is_finite()));
        centres.push(0.5 * (s + e - 1) as f64);
        if scratch.is_empty() {
            medians.push(0.0);
            flat.push(true);
            continue;
        }
        let med = median_in_place(&mut scratch);
        medians.push(med as f64);
        // A block is flat when its raw values have zero spread (constant stretch, zero padding).
        let m = scratch.len();
        let lo = rank_in_place(&mut scratch, m / 4);
        let hi = rank_in_place(&mut scratch, (3 * m) / 4);
        let mad_zero = scratch.iter().filter(|&&x| x == med).count() * 2 > m;
        flat.push(mad_zero && lo == hi);
    }
    // Residuals from the interpolated baseline (NaN marks non-finite input for now).
    let mut out = vec![0.0f32; n];
    for (bi, &(s, e)) in bounds.iter().enumerate() {
        for i in s..e {
            let x = series[i];
            if !x.is_finite() {
                out[i] = f32::NAN;
                continue;
            }
            let t = i as f64;
            // Baseline: linear interpolation between the medians of the neighbouring block centres.
            let base = if nb == 1 || t <= centres[0] {
                medians[0]
            } else if t >= centres[nb - 1] {
                medians[nb - 1]
            } else {
                let (a, c) = if t < centres[bi] { (bi - 1, bi) } else { (bi, bi + 1) };
                let f = (t - centres[a]) / (centres[c] - centres[a]);
                medians[a] * (1.0 - f) + medians[c] * f
            };
            out[i] = (x as f64 - base) as f32;
        }
    }
    // Robust spread of the residuals of each block.
    let mut spreads = Vec::with_capacity(nb);
    for (bi, &(s, e)) in bounds.iter().enumerate() {
        if flat[bi] {
            spreads.push(0.0f64);
            continue;
        }
        scratch.clear();
        scratch.extend(out[s..e].iter().copied().filter(|x| x.is_finite()));
        if scratch.is_empty() {
            spreads.push(0.0f64);
            continue;
        }
        let m = scratch.len();
        let q1 = rank_in_place(&mut scratch, m / 4);
        let q3 = rank_in_place(&mut scratch, (3 * m) / 4);
        let med = median_in_place(&mut scratch);
        for x in scratch.iter_mut() {
            *x = (*x - med).abs();
        }
        let mad = median_in_place(&mut scratch) as f64;
        let spread = if mad > 0.0 { 1.4826 * mad } else { (q3 - q1) as f64 / 1.349 };
        spreads.push(if spread.is_finite() { spread } else { 0.0 });
    }
    let mut live: Vec<f64> = spreads.iter().copied().filter(|&s| s > 0.0).collect();
    if live.is_empty() {
        return (vec![0.0; n], 0.0);
    }
    live.sort_by(f64::total_cmp);
    let k = live.len();
    let sigma = if k % 2 == 1 { live[k / 2] } else { 0.5 * (live[k / 2 - 1] + live[k / 2]) };
    let inv = 1.0 / sigma;
    for (bi, &(s, e)) in bounds.iter().enumerate() {
        let dead = spreads[bi] <= 0.0;
        for v in &mut out[s..e] {
            let z = (*v as f64 * inv) as f32;
            // Flat blocks and non-finite input carry no information: 0.
            *v = if dead || !z.is_finite() { 0.0 } else { z };
        }
    }
    (out, sigma)
}

/// Integer key of `x` whose `i32` order is `f32::total_cmp`'s (flip the magnitude bits of
/// negative values); [`from_order_key`] inverts it.
fn order_key(x: f32) -> i32 {
    let b = x.to_bits() as i32;
    b ^ (((b >> 31) as u32) >> 1) as i32
}

/// Inverse of [`order_key`] (the same bit flip: the sign bit is unchanged).
fn from_order_key(k: i32) -> f32 {
    f32::from_bits((k ^ (((k >> 31) as u32) >> 1) as i32) as u32)
}

/// [`median_in_place`] on [`order_key`] keys: the same value (the same elements are selected,
/// and the even-length mean is taken in `f32` as there). `v` must be non-empty.
fn median_of_keys(v: &mut [i32]) -> f32 {
    let n = v.len();
    let mid = n / 2;
    let (lo, m, _) = v.select_nth_unstable(mid);
    let m = from_order_key(*m);
    if n % 2 == 1 {
        m
    } else {
        let below = from_order_key(lo.iter().copied().max().unwrap_or(i32::MIN));
        0.5 * (below + m)
    }
}

/// Robust noise level of width-`w` boxcar sums of a series given by its prefix sums.
///
/// For white unit-variance noise this is `sqrt(w)`. Dedispersed series are not always white:
/// FDMT (and any dedisperser that integrates along the sweep inside a channel, or a backend's
/// own smoothing) correlates neighbouring samples, and then `sqrt(w)` underestimates the noise of
/// a sum and inflates S/N. So the level is measured: `1.4826 × MAD` of the sums over starts spaced
/// `max(1, w/2)` apart (the burst itself is an outlier the median ignores). With fewer than 64
/// sums, or a zero MAD (a mostly constant series), `sqrt(w)` is used.
pub fn boxcar_noise(prefix: &[f64], w: usize) -> f64 {
    let n = prefix.len().saturating_sub(1);
    let white = (w as f64).sqrt();
    if w == 0 || w > n {
        return white.max(1.0);
    }
    let stride = (w / 2).max(1);
    // The sums as integer keys of the same total order (`f32::total_cmp`): the selections below
    // compare integers instead of re-deriving the order of two floats at every comparison, and
    // pick the same elements, so the MAD is bit-identical to selecting on the floats.
    let mut keys: Vec<i32> =
        (0..=(n - w)).step_by(stride).map(|j| order_key((prefix[j + w] - prefix[j]) as f32)).collect();
    if keys.len() < 64 {
        return white;
    }
    let med = median_of_keys(&mut keys);
    for k in keys.iter_mut() {
        *k = order_key((from_order_key(*k) - med).abs());
    }
    let mad = median_of_keys(&mut keys) as f64;
    let est = 1.4826 * mad;
    if est.is_finite() && est > 0.0 {
        est
    } else {
        white
    }
}

/// Boxcar search of a zero-mean, unit-variance series `x` (already detrended and normalised).
///
/// For each width `w` in `widths` (skipping 0 and widths longer than `x`), computes
/// `S/N(j) = Σ_{i=j}^{j+w−1} x_i / σ_w` for every start `j` from an `f64` prefix sum, with
/// `σ_w` the measured noise of width-`w` sums ([`boxcar_noise`]; `sqrt(w)` for white noise), and
/// reports one [`BoxcarHit`] per maximal run of starts with `S/N ≥ threshold`, at the run's
/// maximum. Hits are ordered by width (input order), then start. Cost O(len · nwidths).
pub fn boxcar_search(x: &[f32], widths: &[usize], threshold: f32) -> Vec<BoxcarHit> {
    let n = x.len();
    let mut prefix = Vec::with_capacity(n + 1);
    let mut acc = 0.0f64;
    prefix.push(0.0);
    for &v in x {
        acc += v as f64;
        prefix.push(acc);
    }
    let mut hits = Vec::new();
    for &w in widths {
        if w == 0 || w > n {
            continue;
        }
        let inv = 1.0 / boxcar_noise(&prefix, w);
        let mut best: Option<(usize, f32)> = None;
        for j in 0..=(n - w) {
            let snr = ((prefix[j + w] - prefix[j]) * inv) as f32;
            if snr >= threshold {
                match best {
                    Some((_, b)) if b >= snr => {}
                    _ => best = Some((j, snr)),
                }
            } else if let Some((start, snr_b)) = best.take() {
                hits.push(BoxcarHit { start, width: w, snr: snr_b });
            }
        }
        if let Some((start, snr_b)) = best {
            hits.push(BoxcarHit { start, width: w, snr: snr_b });
        }
    }
    hits
}

/// The boxcar widths (series samples) and detrending block (series samples) that
/// [`search_dm_series`] uses for a series of `n` samples at `tsamp_s`.
pub fn search_plan(n: usize, tsamp_s: f64, cfg: &SinglePulseConfig) -> (Vec<usize>, usize) {
    let widths: Vec<usize> = match &cfg.widths {
        Some(w) => w.iter().copied().filter(|&w| w >= 1 && w <= n).collect(),
        None => {
            let maxw = if tsamp_s > 0.0 && cfg.max_width_s.is_finite() {
                (cfg.max_width_s / tsamp_s).floor().max(1.0).min(n.max(1) as f64) as usize
            } else {
                1
            };
            boxcar_widths(maxw).into_iter().filter(|&w| w <= n).collect()
        }
    };
    let wmax = widths.iter().copied().max().unwrap_or(1);
    let window = if tsamp_s > 0.0 && cfg.detrend_window_s.is_finite() && cfg.detrend_window_s > 0.0 {
        (cfg.detrend_window_s / tsamp_s).round().min(usize::MAX as f64 / 2.0) as usize
    } else {
        0
    };
    let block = window.max(cfg.min_detrend_widths.saturating_mul(wmax)).max(64).min(n.max(1));
    (widths, block)
}

/// Single-pulse search of one dedispersed time series.
///
/// * `series`: one DM trial, time referred to the top of the band, sampling `tsamp_s` (s),
///   which is the native sampling time × `downsamp`.
/// * `dm`: the trial's DM (pc cm⁻³), copied into the events.
///
/// Detrends and normalises ([`detrend_normalise`]) with the block of [`search_plan`], runs
/// [`boxcar_search`] with the widths of [`search_plan`] and `cfg.snr_threshold`, and returns one
/// [`SinglePulse`] per hit (unclustered, `n_members` = 1) with `time_s` = boxcar start × `tsamp_s`,
/// `sample` = start × `downsamp` (native samples), `width_s` = width × `tsamp_s` and
/// `width_samples` = width × `downsamp`. Empty or constant input gives no events.
pub fn search_dm_series(
    series: &[f32],
    dm: f64,
    tsamp_s: f64,
    downsamp: usize,
    cfg: &SinglePulseConfig,
) -> Vec<SinglePulse> {
    if series.is_empty() {
        return Vec::new();
    }
    let downsamp = downsamp.max(1);
    let (widths, block) = search_plan(series.len(), tsamp_s, cfg);
    let (x, sigma) = detrend_normalise(series, block);
    if sigma <= 0.0 {
        return Vec::new();
    }
    boxcar_search(&x, &widths, cfg.snr_threshold)
        .into_iter()
        .map(|h| SinglePulse {
            time_s: h.start as f64 * tsamp_s,
            sample: (h.start * downsamp) as u64,
            dm,
            width_s: h.width as f64 * tsamp_s,
            width_samples: (h.width * downsamp).min(u32::MAX as usize) as u32,
            snr: h.snr,
            n_members: 1,
            rfi_flag: 0,
        })
        .collect()
}

/// Marks terrestrial-looking events and moves them below the astrophysical ones.
///
/// An event gets `rfi_flag = 1` when its best DM is not positive or when the dispersive sweep
/// across the band at that DM, `τ = k_DM · DM · (f_bottom⁻² − f_top⁻²)`, is shorter than its
/// boxcar width: such an event cannot be told from a DM-0 (broadband, undispersed) impulse.
/// The rows are then ordered unflagged first, each group by S/N descending (stable otherwise),
/// so the top of the table holds only candidates with a measurable dispersion.
///
/// A one-channel input (a dedispersed `.tim` or PRESTO `.dat`) has no band to measure a sweep
/// across: nothing is flagged (every event of such a series would otherwise look undispersed).
pub fn flag_zero_dm(events: &mut Vec<SinglePulse>, header: &Header) {
    if header.nchans <= 1 {
        return;
    }
    let (fb, ft) = (header.fbottom_mhz(), header.ftop_mhz());
    let span = if fb > 0.0 && ft > 0.0 { fb.powi(-2) - ft.powi(-2) } else { 0.0 };
    for e in events.iter_mut() {
        let sweep = crate::consts::K_DM * e.dm * span;
        e.rfi_flag = (e.dm <= 0.0 || sweep < e.width_s) as u8;
    }
    events.sort_by(|a, b| a.rfi_flag.cmp(&b.rfi_flag).then(b.snr.total_cmp(&a.snr)));
}

fn uf_find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Merges single-pulse events into clusters (friends-of-friends, see [`ClusterConfig`]) and
/// returns one row per cluster: its brightest member, with `n_members` = the sum of the members'
/// `n_members` (the cluster size for raw events). Rows are sorted by `snr` descending (ties by
/// time, then DM).
///
/// Events are swept in order of start time, keeping an active list of earlier events that can
/// still reach the current one, so the cost is O(N log N + N · active); a union–find merges.
pub fn cluster(events: Vec<SinglePulse>, cfg: &ClusterConfig) -> Vec<SinglePulse> {
    let n = events.len();
    if n == 0 {
        return Vec::new();
    }
    // DM trial index of each event.
    let mut grid: Vec<f64> =
        if cfg.dm_trials.is_empty() { events.iter().map(|e| e.dm).collect() } else { cfg.dm_trials.clone() };
    grid.retain(|d| d.is_finite());
    grid.sort_by(f64::total_cmp);
    grid.dedup();
    let trial_of = |dm: f64| -> i64 {
        if grid.is_empty() {
            return 0;
        }
        let p = grid.partition_point(|&g| g < dm);
        if p == 0 {
            0
        } else if p >= grid.len() {
            grid.len() as i64 - 1
        } else if (dm - grid[p - 1]) <= (grid[p] - dm) {
            p as i64 - 1
        } else {
            p as i64
        }
    };
    let trials: Vec<i64> = events.iter().map(|e| trial_of(e.dm)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| events[a].time_s.total_cmp(&events[b].time_s).then(a.cmp(&b)));

    let link_w = cfg.time_link_widths.max(0.0);
    let link_s = cfg.time_link_s.max(0.0);
    let dm_link = cfg.dm_link_trials as i64;
    let mut parent: Vec<usize> = (0..n).collect();
    // Active events j with reach_j = t_j + w_j + link_s + link_w·w_j >= t_i may be friends of i.
    let mut active: Vec<usize> = Vec::new();
    for &i in &order {
        let ei = &events[i];
        let mut k = 0;
        while k < active.len() {
            let j = active[k];
            let ej = &events[j];
            let reach = ej.time_s + ej.width_s * (1.0 + link_w) + link_s;
            if reach < ei.time_s {
                active.swap_remove(k);
                continue;
            }
            k += 1;
            if (trials[i] - trials[j]).abs() > dm_link {
                continue;
            }
            let gap = ei.time_s.max(ej.time_s) - (ei.time_s + ei.width_s).min(ej.time_s + ej.width_s);
            if gap <= link_s + link_w * ei.width_s.min(ej.width_s) {
                let (ri, rj) = (uf_find(&mut parent, i), uf_find(&mut parent, j));
                if ri != rj {
                    parent[ri.max(rj)] = ri.min(rj);
                }
            }
        }
        active.push(i);
    }
    // Brightest member and member count of each cluster.
    let mut best: Vec<Option<usize>> = vec![None; n];
    let mut count: Vec<u64> = vec![0; n];
    for i in 0..n {
        let r = uf_find(&mut parent, i);
        count[r] += events[i].n_members.max(1) as u64;
        let better = match best[r] {
            None => true,
            Some(b) => {
                let (eb, ei) = (&events[b], &events[i]);
                ei.snr > eb.snr || (ei.snr == eb.snr && (ei.time_s, ei.dm) < (eb.time_s, eb.dm))
            }
        };
        if better {
            best[r] = Some(i);
        }
    }
    let mut out: Vec<SinglePulse> = (0..n)
        .filter_map(|r| {
            best[r].map(|b| {
                let mut e = events[b];
                e.n_members = count[r].min(u32::MAX as u64) as u32;
                e
            })
        })
        .collect();
    out.sort_by(|a, b| b.snr.total_cmp(&a.snr).then(a.time_s.total_cmp(&b.time_s)).then(a.dm.total_cmp(&b.dm)));
    out
}

/// Searches every DM trial of `series` (`[ndm][nsamples]`) in parallel (rayon) with
/// [`search_dm_series`] and clusters the events with `cfg.cluster`, using `series.dms` as the
/// DM grid when `cfg.cluster.dm_trials` is empty. Returns clustered rows sorted by `snr`
/// descending. The result does not depend on the number of threads.
pub fn search_dedispersed(series: &DedispersedSeries, cfg: &SinglePulseConfig) -> Vec<SinglePulse> {
    let ndm = series.data.nrows().min(series.dms.len());
    let events: Vec<SinglePulse> = (0..ndm)
        .into_par_iter()
        .map(|d| {
            let row = series.data.row(d);
            let owned;
            let slice = match row.as_slice() {
                Some(s) => s,
                None => {
                    owned = row.to_vec();
                    &owned[..]
                }
            };
            search_dm_series(slice, series.dms[d], series.tsamp_s, series.downsamp, cfg)
        })
        .flatten_iter()
        .collect();
    let mut ccfg = cfg.cluster.clone();
    if ccfg.dm_trials.is_empty() {
        ccfg.dm_trials = series.dms.clone();
    }
    cluster(events, &ccfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_presto_list() {
        assert_eq!(boxcar_widths(30), vec![1, 2, 3, 4, 6, 9, 14, 20, 30]);
        assert_eq!(boxcar_widths(0), vec![1]);
        let w = boxcar_widths(1000);
        assert_eq!(&w[..15], &PRESTO_WIDTHS);
        assert_eq!(&w[15..], &[450, 675]);
    }

    #[test]
    fn key_median_equals_float_median() {
        // Naive twin: the float selection (`median_in_place`) on values with ties, ±0, negatives
        // and both parities; the key order is total_cmp's, and the keys round-trip.
        let mut s = 7u64;
        for n in [1usize, 2, 3, 10, 11, 1000, 1001] {
            let v: Vec<f32> = (0..n)
                .map(|i| {
                    s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    let r = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 8.0;
                    match i % 7 {
                        0 => r.round(),
                        1 => -0.0,
                        2 => 0.0,
                        _ => r,
                    }
                })
                .collect();
            for (a, b) in v.iter().zip(&v[1..]) {
                assert_eq!(a.total_cmp(b), order_key(*a).cmp(&order_key(*b)));
                assert_eq!(from_order_key(order_key(*a)).to_bits(), a.to_bits());
            }
            let mut keys: Vec<i32> = v.iter().map(|&x| order_key(x)).collect();
            let mut vals = v.clone();
            // Equal values (the sign of a zero median may differ: `f32::max` of ±0 is either).
            assert_eq!(median_of_keys(&mut keys), median_in_place(&mut vals), "n {n}");
        }
    }

    #[test]
    fn median_even_and_odd() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn detrend_removes_linear_baseline_and_guards_flat() {
        let x: Vec<f32> = (0..4000).map(|i| 100.0 + 0.01 * i as f32 + if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let (y, sigma) = detrend_normalise(&x, 500);
        assert!((sigma - 1.4826).abs() < 0.1, "sigma {sigma}");
        let mean: f32 = y[250..3750].iter().sum::<f32>() / 3500.0;
        assert!(mean.abs() < 0.05, "mean {mean}");
        let (z, s0) = detrend_normalise(&[5.0; 1000], 100);
        assert_eq!(s0, 0.0);
        assert!(z.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn cluster_merges_overlaps_only() {
        let ev = |t: f64, dm: f64, snr: f32| SinglePulse {
            time_s: t,
            sample: 0,
            dm,
            width_s: 0.01,
            width_samples: 10,
            snr,
            n_members: 1,
            rfi_flag: 0,
        };
        let cfg = ClusterConfig { dm_trials: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], ..Default::default() };
        let out = cluster(vec![ev(1.0, 1.0, 7.0), ev(1.005, 2.0, 9.0), ev(1.5, 2.0, 8.0), ev(1.0, 6.0, 6.5)], &cfg);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].snr, 9.0);
        assert_eq!(out[0].n_members, 2);
        assert_eq!(out[1].snr, 8.0);
        assert_eq!(out[2].snr, 6.5);
    }
}
