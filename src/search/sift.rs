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
    /// `harmonic_tol_bins · (1 + (p/q) / nharm_parent)`: the parent's fundamental is known to
    /// about `1/nharm` bins (harmonic summing refines it) and its error is multiplied by the ratio.
    /// Default 1.0.
    pub harmonic_tol_bins: f64,
    /// Largest numerator and denominator tried for fractional ratios `p/q` (q > 1). Default 16.
    pub max_ratio_term: u32,
    /// Largest integer harmonic number `p` tried for ratios `p/1` (narrow pulses have many
    /// harmonics, e.g. PSR B1804−08 shows its 17th). Default 64.
    pub max_harmonic: u32,
    /// Drop signals whose best detection is at DM 0 (terrestrial interference). Default false.
    pub no_dm0: bool,
    /// Drop signals detected in fewer DM trials than this. Default 1 (keep all).
    pub min_dm_hits: u32,
}

impl Default for SiftConfig {
    fn default() -> Self {
        SiftConfig {
            freq_tol_bins: 1.5,
            harmonic_tol_bins: 1.0,
            max_ratio_term: 16,
            max_harmonic: 64,
            no_dm0: false,
            min_dm_hits: 1,
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

/// Sifts candidates from many DM trials (and/or searches) of one observation.
///
/// 1. **Merge**: in order of decreasing `sigma`, each candidate joins the first stronger kept
///    signal whose frequency is within `freq_tol_bins / T` Hz (T from that signal's
///    `fft_bin / frequency_hz`); the kept row is the best-sigma detection, and `n_dm_hits` becomes
///    the number of distinct DM values merged (or the largest incoming `n_dm_hits`, if higher).
/// 2. **Filter**: `no_dm0` drops signals whose best DM is 0 (|dm| < 10⁻⁹); signals with fewer than
///    `min_dm_hits` hits are dropped.
/// 3. **Sort** by `sigma` descending (ties: higher power first, then lower frequency).
/// 4. **Harmonics**: for each candidate `i`, the strongest earlier candidate `j` that is not itself
///    a harmonic and satisfies `|f_i − (p/q) f_j| ≤ harmonic_tol_bins · (1 + (p/q)/nharm_j) / T`
///    for some reduced `p/q ≠ 1` (`p, q ≤ max_ratio_term`, or `q = 1, p ≤ max_harmonic`), sets `harmonic_of = j` (index in the returned
///    list), `harmonic_num = p`, `harmonic_den = q` (so `f_i / f_j ≈ p/q`: `2/1` is the second
///    harmonic, `1/2` a sub-harmonic). The simplest ratio (smallest `q`, then `p`) wins. A ratio is
///    only accepted when the tolerance (as a fraction of `f_j`) is below `1/(2q²)`, the half-spacing
///    of fractions with denominator ≤ q, so that it is unambiguous. Candidates are kept, only
///    flagged.
pub fn sift(cands: Vec<Candidate>, cfg: &SiftConfig) -> Vec<Candidate> {
    let mut cands = cands;
    cands.retain(|c| c.frequency_hz.is_finite() && c.frequency_hz > 0.0 && c.sigma.is_finite());
    sort_by_sigma(&mut cands);

    // 1. merge by frequency
    struct Group {
        best: Candidate,
        dms: Vec<f64>,
        max_hits: u32,
    }
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
            }
            None => groups.push(Group { best: c, dms: vec![c.dm], max_hits: c.n_dm_hits }),
        }
    }

    // 2. filter
    let mut out: Vec<Candidate> = groups
        .into_iter()
        .map(|g| {
            let mut c = g.best;
            c.n_dm_hits = (g.dms.len() as u32).max(g.max_hits);
            c.harmonic_of = -1;
            c.harmonic_num = 0;
            c.harmonic_den = 0;
            c
        })
        .filter(|c| !(cfg.no_dm0 && c.dm.abs() < 1e-9))
        .filter(|c| c.n_dm_hits >= cfg.min_dm_hits)
        .collect();

    // 3. sort
    sort_by_sigma(&mut out);

    // 4. harmonics
    let qmax = cfg.max_ratio_term.max(1);
    for i in 1..out.len() {
        let fi = out[i].frequency_hz;
        let t = tobs_of(&out[i]);
        let mut best: Option<(usize, u32, u32)> = None;
        'parents: for (j, parent) in out.iter().enumerate().take(i) {
            if parent.harmonic_of >= 0 {
                continue;
            }
            let fj = parent.frequency_hz;
            let nh_j = parent.nharm.max(1) as f64;
            for q in 1..=qmax {
                let pmax = if q == 1 { cfg.max_harmonic.max(qmax) } else { qmax };
                for p in 1..=pmax {
                    if p == q || gcd(p, q) != 1 {
                        continue;
                    }
                    let ratio = p as f64 / q as f64;
                    let tol_hz = cfg.harmonic_tol_bins * (1.0 + ratio / nh_j) / t;
                    if tol_hz / fj >= 1.0 / (2.0 * (q * q) as f64) {
                        continue;
                    }
                    if (fi - ratio * fj).abs() <= tol_hz {
                        best = Some((j, p, q));
                        break 'parents;
                    }
                }
            }
        }
        if let Some((j, p, q)) = best {
            out[i].harmonic_of = j as i32;
            out[i].harmonic_num = p;
            out[i].harmonic_den = q;
        }
    }
    out
}

fn sort_by_sigma(v: &mut [Candidate]) {
    v.sort_by(|a, b| {
        b.sigma.total_cmp(&a.sigma).then(b.power.total_cmp(&a.power)).then(a.frequency_hz.total_cmp(&b.frequency_hz))
    });
}
