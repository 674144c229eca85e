//! Sifting: merge one signal's detections across DM trials and flag harmonically related
//! candidates (after PRESTO's `sifting.py`: duplicate removal by frequency, DM-hit counting,
//! harmonic flagging).

use super::Candidate;
use serde::{Deserialize, Serialize};

/// Configuration of [`sift`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SiftConfig {
    /// Detections whose fundamentals differ by at most this many Fourier bins (1/T) are the same
    /// signal (merged across DM trials). Default 1.5.
    pub freq_tol_bins: f64,
    /// Base tolerance, bins, for a harmonic relation `f = (p/q)·f_parent`. The tolerance used is
    /// `harmonic_tol_bins · (1/nharm_child + (p/q)/nharm_parent) / T`: a detection summed over
    /// `nharm` harmonics has its fundamental on a grid of `1/(2·nharm)` bins and is known to about
    /// `1/nharm` bins, and the parent's error is multiplied by the ratio. Default 1.0.
    pub harmonic_tol_bins: f64,
    /// Base tolerance, Fourier bins of drift, for the drift part of a harmonic relation: a
    /// candidate at `f ≈ (p/q)·f_parent` is its harmonic only when also
    /// `|z − (p/q)·z_parent| ≤ z_tol_bins · (1/nharm_child + (p/q)/nharm_parent)` (harmonic `h` of
    /// a signal drifting by `z` bins drifts by `h·z`; the search's drift grid has a step of 2 bins
    /// at the highest harmonic, so a fundamental's `z` is known to about `2/nharm`). Always true
    /// without an acceleration search (all `z = 0`). Default 2.0.
    pub z_tol_bins: f64,
    /// Largest numerator and denominator tried for fractional ratios `p/q` (q > 1). Default 16.
    pub max_ratio_term: u32,
    /// Largest integer harmonic number `p` tried for ratios `p/1` (narrow pulses have many
    /// harmonics, e.g. PSR B1804−08 shows its 17th). Default 64.
    pub max_harmonic: u32,
    /// Drop signals whose best detection is at DM 0 (terrestrial interference). Default false.
    pub no_dm0: bool,
    /// Drop signals detected in fewer DM trials than this. Default 1 (keep all).
    pub min_dm_hits: u32,
    /// Signals whose best DM is below this (pc cm⁻³) get `dm_flag` bit 1 when the search went
    /// above it. Default 2.0, PRESTO `sifting.py`'s `low_DM_cutoff` (which drops them).
    pub low_dm_cutoff: f64,
}

impl Default for SiftConfig {
    fn default() -> Self {
        SiftConfig {
            freq_tol_bins: 1.5,
            harmonic_tol_bins: 1.0,
            z_tol_bins: 2.0,
            max_ratio_term: 16,
            max_harmonic: 64,
            no_dm0: false,
            min_dm_hits: 1,
            low_dm_cutoff: 2.0,
        }
    }
}

/// Observation length `T` (s) implied by a candidate: `fft_bin / frequency_hz`. Falls back to 1 s
/// when it cannot be formed (then tolerances are in Hz).
fn tobs_of(c: &Candidate) -> f64 {
    let t = c.fft_bin / c.frequency_hz;
    if t.is_finite() && t > 0.0 {
        t
    } else {
        1.0
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// One signal: its best detection and the DM trials it was seen in.
struct Group {
    best: Candidate,
    dms: Vec<f64>,
    max_hits: u32,
}

/// Folds detection `c` into the label and FFA width of the signal it joined: `search` becomes
/// the union of the labels (`fft` ∪ `ffa` = `both`); a row without an FFA width takes the
/// strongest FFA detection's.
fn merge_label(best: &mut Candidate, c: &Candidate) {
    best.search = best.search.union(c.search);
    if best.width_s == 0.0 && c.width_s > 0.0 {
        best.width_s = c.width_s;
    }
}

/// Sifts candidates from many DM trials (and/or searches) of one observation.
///
/// 1. **Merge**: in order of decreasing `sigma`, each candidate joins the first stronger kept
///    signal whose frequency is within `freq_tol_bins / T` Hz (the *mean* frequency over the
///    observation, which does not depend on the drift row that found it, so detections of one
///    signal at different DMs and drifts `z` merge) (T from that signal's
///    `fft_bin / frequency_hz`); the kept row is the best-sigma detection, `n_dm_hits` becomes
///    the number of distinct DM values merged (or the largest incoming `n_dm_hits`, if higher), and
///    the signal's DM span is `[min, max]` of the merged DMs; its `search` label is the union of
///    the merged rows' (`fft` and `ffa` detections of one signal make one `both` row), and a row
///    without an FFA boxcar width takes the strongest merged FFA detection's `width_s`.
/// 2. **Filter**: `no_dm0` drops signals whose best DM is 0 (|dm| < 10⁻⁹); signals with fewer than
///    `min_dm_hits` hits are dropped.
/// 3. **Harmonic families.** Two signals can be related only when their DM spans overlap after each
///    is widened by one DM step on either side (the gap to the nearest other DM among all input
///    candidates): a harmonic is the same pulsar, so it peaks at the same DM (PRESTO's sifting
///    checks DMs the same way). Then:
///    - a signal whose search row has `fund_harmonic = D > 1` (the odd-harmonic test of
///      [`super::periodic`] found that it is the `D`-th harmonic of `f/D`) becomes harmonic `D/1` of
///      the strongest DM-compatible signal within tolerance of `f/D`, whatever their sigmas;
///    - with an acceleration search, a harmonic relation `p/q` in frequency also needs the drifts in
///      the same ratio (`z_tol_bins`): sifting is in `(f, z)`;
///    - every other signal, in order of decreasing *family strength* (a signal's own sigma, or the
///      highest sigma of the signals attached to it by the first rule), is compared with the
///      family heads found so far; it becomes a harmonic of the first one (strongest family first)
///      with `|f − (p/q)·f_head| ≤ harmonic_tol_bins · (1/nharm + (p/q)/nharm_head) / T` for
///      some reduced `p/q ≠ 1` (`p, q ≤ max_ratio_term`, or `q = 1, p ≤ max_harmonic`); the
///      simplest ratio (smallest `q`, then `p`) wins; otherwise it heads a new family.
///
///    `harmonic_of` is the index of the head in the returned list, `harmonic_num/harmonic_den`
///    give `f / f_head ≈ p/q` (`2/1` the second harmonic, `1/2` a sub-harmonic). Harmonics are
///    kept, only flagged.
/// 4. **Order**: family heads first, strongest family first (so row 0 is the fundamental of the
///    strongest signal even when its second harmonic has the higher sigma), then the harmonics by
///    decreasing sigma; `harmonic_of` always points to an earlier row.
pub fn sift(cands: Vec<Candidate>, cfg: &SiftConfig) -> Vec<Candidate> {
    sift_on_grid(cands, cfg, &[])
}

/// [`sift`] with the DM trials searched (`dm_grid`, pc cm⁻³, any order) given for the DM
/// checks: the adjacency of DM hits is judged on this grid; empty: on the distinct DMs of the
/// candidates themselves (which skips trials where nothing was detected).
///
/// **DM checks** (after PRESTO `sifting.py`'s `remove_DM_problems`, which drops what it flags):
/// a signal gets `dm_flag` bit 1 when its best DM is below `low_dm_cutoff` while the grid goes
/// above it, and bit 2 when the grid has more than one trial and no two of the signal's DM hits
/// are adjacent trials (one hit only included). Sigma is not changed (it stays calibrated over
/// all candidates); flagged family heads are ordered after the unflagged ones.
pub fn sift_on_grid(cands: Vec<Candidate>, cfg: &SiftConfig, dm_grid: &[f64]) -> Vec<Candidate> {
    let mut cands = cands;
    cands.retain(|c| c.frequency_hz.is_finite() && c.frequency_hz > 0.0 && c.sigma.is_finite());
    sort_by_sigma(&mut cands);
    let mut all_dms: Vec<f64> = cands.iter().map(|c| c.dm).filter(|d| d.is_finite()).collect();
    all_dms.sort_by(f64::total_cmp);
    all_dms.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    let mut grid: Vec<f64> = dm_grid.iter().cloned().filter(|d| d.is_finite()).collect();
    grid.sort_by(f64::total_cmp);
    grid.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    if grid.is_empty() {
        grid = all_dms.clone();
    }

    // 1. merge by frequency
    let mut groups: Vec<Group> = Vec::new();
    for c in cands {
        let found = groups.iter_mut().find(|g| {
            let tol_hz = cfg.freq_tol_bins / tobs_of(&g.best);
            (c.frequency_hz - g.best.frequency_hz).abs() <= tol_hz
        });
        match found {
            Some(g) => {
                if !g.dms.iter().any(|&d| (d - c.dm).abs() < 1e-9) {
                    g.dms.push(c.dm);
                }
                g.max_hits = g.max_hits.max(c.n_dm_hits);
                merge_label(&mut g.best, &c);
            }
            None => groups.push(Group { best: c, dms: vec![c.dm], max_hits: c.n_dm_hits }),
        }
    }

    // 2. filter
    let groups: Vec<(Candidate, (f64, f64))> = groups
        .into_iter()
        .map(|g| {
            let mut c = g.best;
            c.n_dm_hits = (g.dms.len() as u32).max(g.max_hits);
            c.harmonic_of = -1;
            c.harmonic_num = 0;
            c.harmonic_den = 0;
            c.dm_flag = dm_flag(&g.dms, c.dm, &grid, cfg.low_dm_cutoff);
            let lo = g.dms.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = g.dms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            (c, (lo - dm_step_at(&all_dms, lo), hi + dm_step_at(&all_dms, hi)))
        })
        .filter(|(c, _)| !(cfg.no_dm0 && c.dm.abs() < 1e-9))
        .filter(|(c, _)| c.n_dm_hits >= cfg.min_dm_hits)
        .collect();
    let (mut cands, spans): (Vec<Candidate>, Vec<(f64, f64)>) = groups.into_iter().unzip();
    let n = cands.len();
    let dm_ok = |i: usize, j: usize| spans[i].0 <= spans[j].1 && spans[j].0 <= spans[i].1;
    let close = |i: usize, j: usize, ratio: f64, cands: &[Candidate]| {
        let (ci, cj) = (&cands[i], &cands[j]);
        let spread = 1.0 / ci.nharm.max(1) as f64 + ratio / cj.nharm.max(1) as f64;
        let tol_hz = cfg.harmonic_tol_bins * spread / tobs_of(ci);
        (ci.frequency_hz - ratio * cj.frequency_hz).abs() <= tol_hz
            && (ci.z - ratio * cj.z).abs() <= cfg.z_tol_bins * spread
    };

    // 3a. detections the search identified as the D-th harmonic of a lower fundamental
    let mut parent: Vec<Option<(usize, u32, u32)>> = vec![None; n];
    for i in 0..n {
        let d = cands[i].fund_harmonic;
        if d > 1 {
            let ratio = d as f64;
            parent[i] = (0..n).find(|&k| k != i && dm_ok(i, k) && close(i, k, ratio, &cands)).map(|k| (k, d, 1));
        }
    }
    resolve_chains(&mut parent);
    let mut strength: Vec<f32> = cands.iter().map(|c| c.sigma).collect();
    for i in 0..n {
        if let Some((k, _, _)) = parent[i] {
            strength[k] = strength[k].max(cands[i].sigma);
        }
    }
    // 3b. families in order of strength
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| strength[b].total_cmp(&strength[a]).then(a.cmp(&b)));
    let qmax = cfg.max_ratio_term.max(1);
    let mut heads: Vec<usize> = Vec::new();
    for &i in &order {
        if parent[i].is_some() {
            continue;
        }
        let mut found: Option<(usize, u32, u32)> = None;
        'heads: for &j in &heads {
            if !dm_ok(i, j) {
                continue;
            }
            for q in 1..=qmax {
                let pmax = if q == 1 { cfg.max_harmonic.max(qmax) } else { qmax };
                for p in 1..=pmax {
                    if p == q || gcd(p, q) != 1 {
                        continue;
                    }
                    if close(i, j, p as f64 / q as f64, &cands) {
                        found = Some((j, p, q));
                        break 'heads;
                    }
                }
            }
        }
        match found {
            Some(f) => parent[i] = Some(f),
            None => heads.push(i),
        }
    }

    // a forced parent may itself have joined another family in 3b: point at the head
    resolve_chains(&mut parent);

    // 4. heads first (strongest family first, those passing the DM checks before the flagged
    // ones), then harmonics by sigma
    let mut harmonics: Vec<usize> = (0..n).filter(|&i| parent[i].is_some()).collect();
    harmonics.sort_by(|&a, &b| cands[b].sigma.total_cmp(&cands[a].sigma).then(a.cmp(&b)));
    let (good, flagged): (Vec<usize>, Vec<usize>) = heads.iter().partition(|&&i| cands[i].dm_flag == 0);
    let new_order: Vec<usize> = good.into_iter().chain(flagged).chain(harmonics).collect();
    let mut new_index = vec![0usize; n];
    for (r, &i) in new_order.iter().enumerate() {
        new_index[i] = r;
    }
    for i in 0..n {
        if let Some((k, p, q)) = parent[i] {
            let c = &mut cands[i];
            c.harmonic_of = new_index[k] as i32;
            c.harmonic_num = p;
            c.harmonic_den = q;
        }
    }
    new_order.into_iter().map(|i| cands[i]).collect()
}

/// `dm_flag` of a signal with DM hits `hits`, best DM `best_dm`, on the sorted DM `grid`
/// ([`sift_on_grid`]).
fn dm_flag(hits: &[f64], best_dm: f64, grid: &[f64], low_dm_cutoff: f64) -> u32 {
    let mut flag = 0;
    if best_dm < low_dm_cutoff && grid.last().is_some_and(|&top| top > low_dm_cutoff) {
        flag |= 1;
    }
    if grid.len() > 1 {
        let nearest = |dm: f64| {
            let pos = grid.partition_point(|&g| g < dm);
            if pos == 0 {
                0
            } else if pos >= grid.len() || (dm - grid[pos - 1]) <= (grid[pos] - dm) {
                pos - 1
            } else {
                pos
            }
        };
        let mut idx: Vec<usize> = hits.iter().map(|&d| nearest(d)).collect();
        idx.sort_unstable();
        idx.dedup();
        if !idx.windows(2).any(|w| w[1] - w[0] == 1) {
            flag |= 2;
        }
    }
    flag
}

/// Makes every `parent` entry point at a family head (an entry with no parent), composing the
/// ratios along the way (a detection at 4f pointing to 2f pointing to f becomes 4/1 of f).
/// Cycles (impossible by construction, guarded anyway) are cut after 8 hops.
fn resolve_chains(parent: &mut [Option<(usize, u32, u32)>]) {
    for i in 0..parent.len() {
        let mut cur = parent[i];
        let mut hops = 0;
        while let Some((k, p, q)) = cur {
            match parent[k] {
                Some((k2, p2, q2)) if k2 != i && hops < 8 => {
                    let (num, den) = (p * p2, q * q2);
                    let g = gcd(num, den).max(1);
                    cur = Some((k2, num / g, den / g));
                    hops += 1;
                }
                _ => break,
            }
        }
        parent[i] = cur;
    }
}

/// The DM step at `dm` in the sorted, deduplicated list `dms`: the gap to its nearest neighbour
/// (0 when there is only one DM).
fn dm_step_at(dms: &[f64], dm: f64) -> f64 {
    let pos = dms.partition_point(|&d| d < dm - 1e-9);
    let mut step = f64::INFINITY;
    if pos > 0 {
        step = step.min((dm - dms[pos - 1]).abs());
    }
    if pos + 1 < dms.len() {
        step = step.min((dms[pos + 1] - dm).abs());
    } else if pos < dms.len() && (dms[pos] - dm).abs() > 1e-9 {
        step = step.min((dms[pos] - dm).abs());
    }
    if step.is_finite() {
        step
    } else {
        0.0
    }
}

fn sort_by_sigma(v: &mut [Candidate]) {
    v.sort_by(|a, b| {
        b.sigma.total_cmp(&a.sigma).then(b.power.total_cmp(&a.power)).then(a.frequency_hz.total_cmp(&b.frequency_hz))
    });
}
