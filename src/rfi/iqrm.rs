//! IQRM: inter-quartile range mitigation of channels (Morello et al. 2022, MNRAS 510, 1393).
//!
//! A per-channel statistic `s` (here the standard deviation) is compared with that of its
//! neighbours at lags `±k` for `k` in a geometric sequence up to a radius. For each lag the
//! differences `d_i = s_i − s_{i+k}` are formed; high outliers of `d` (above the median plus
//! `threshold` times the IQR-derived standard deviation `IQR/1.349`) are votes against channel `i`
//! cast by channel `i+k`. A channel is flagged when at least one channel that voted against it
//! received fewer votes itself: a bright channel is suspicious relative to a cleaner neighbour,
//! while the clean neighbours of a bright channel, whose differences are low, never get votes.
//! Lagged differences cancel a smooth bandpass, so the method needs no baseline fit.

use std::collections::BTreeSet;

/// Lags `1 ..= radius` spaced geometrically by a factor 1.5, at least 1 apart, rounded (1, 2, 3, 5,
/// 7, 10, 15, ...).
pub fn iqrm_lags(radius: usize) -> Vec<usize> {
    let mut lags = Vec::new();
    let mut x = 1.0f64;
    while (x.round() as usize) <= radius.max(1) {
        let k = x.round() as usize;
        if lags.last() != Some(&k) {
            lags.push(k);
        }
        x = (x * 1.5).max(x + 1.0);
    }
    lags
}

/// Quantile `q` (0–1, linear interpolation) of `v` (sorted copy).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// IQRM mask of the statistic `s` (one value per channel). `ignore[i]` channels (already masked:
/// zero variance) neither vote nor receive votes. `radius` is the largest lag in channels,
/// `threshold` the outlier level in IQR-derived standard deviations (Morello et al. use 3).
/// Returns `true` for flagged channels. Non-finite values are ignored like masked channels.
pub fn iqrm_mask(s: &[f64], ignore: &[bool], radius: usize, threshold: f64) -> Vec<bool> {
    let n = s.len();
    let skip = |i: usize| ignore.get(i).copied().unwrap_or(false) || !s[i].is_finite();
    let mut voters: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for k in iqrm_lags(radius) {
        if k >= n {
            break;
        }
        for sign in [1i64, -1] {
            let pairs: Vec<(usize, usize)> = (0..n)
                .filter_map(|i| {
                    let j = i as i64 + sign * k as i64;
                    (j >= 0 && (j as usize) < n).then_some((i, j as usize))
                })
                .filter(|&(i, j)| !skip(i) && !skip(j))
                .collect();
            if pairs.len() < 8 {
                continue;
            }
            let d: Vec<f64> = pairs.iter().map(|&(i, j)| s[i] - s[j]).collect();
            let mut sorted = d.clone();
            sorted.sort_by(f64::total_cmp);
            let med = quantile(&sorted, 0.5);
            let std = (quantile(&sorted, 0.75) - quantile(&sorted, 0.25)) / 1.349;
            if !(std.is_finite() && std > 0.0) {
                continue;
            }
            let cut = med + threshold * std;
            for (&(i, j), &v) in pairs.iter().zip(&d) {
                if v > cut {
                    voters[i].insert(j);
                }
            }
        }
    }
    (0..n).map(|i| voters[i].iter().any(|&j| voters[j].len() < voters[i].len())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_are_geometric_and_unique() {
        assert_eq!(iqrm_lags(10), vec![1, 2, 3, 5, 7, 10]);
        assert_eq!(iqrm_lags(0), vec![1]);
    }

    #[test]
    fn flags_a_bright_channel_on_a_slope_but_not_its_neighbours() {
        // A linear bandpass slope with small alternating jitter, and one channel 50 % brighter.
        let mut s: Vec<f64> =
            (0..200).map(|i| 10.0 + 0.01 * i as f64 + if i % 2 == 0 { 0.01 } else { -0.01 }).collect();
        s[77] *= 1.5;
        s[150] *= 1.2;
        let m = iqrm_mask(&s, &[false; 200], 20, 3.0);
        let flagged: Vec<usize> = (0..200).filter(|&i| m[i]).collect();
        assert_eq!(flagged, vec![77, 150]);
    }
}
