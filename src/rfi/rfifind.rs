//! An rfifind-style time–frequency mask from per-block, per-channel statistics.
//!
//! PRESTO's `rfifind` (Ransom 2001) measures, for every interval of `-time` seconds and every
//! channel, the data mean, the standard deviation and the largest power of the interval's FFT,
//! and masks a cell whose mean or standard deviation lies more than `-timesig` (default 10) σ from
//! the typical value, or whose largest power is beyond the power of `-freqsig` (default 4) Gaussian
//! σ after the correction for the number of Fourier bins. A channel with more than `-intfrac`
//! (default 0.3) of its intervals bad is masked whole; an interval with more than `-chanfrac`
//! (default 0.7) of its channels bad is masked whole. These are the documented defaults of
//! `rfifind` (PRESTO's `rfifind -help`).
//!
//! Here the intervals are the excision's statistics blocks (so the SK and rfifind cells
//! coincide; PRESTO's `-time` default of 30 s would leave a 30 s observation one interval), and:
//! * the typical mean and standard deviation are per channel (median over the blocks), with
//!   scale `1.4826·MAD` over the blocks but at least the scatter pure noise gives a block of `L`
//!   samples (`σ/sqrt(L)` for the mean, `σ/sqrt(2L)` for the standard deviation), so a channel
//!   whose blocks agree unusually well does not flag noise;
//! * the power is `|X_k|²/(L·var)` of the block's channel series about its mean (unit-mean
//!   exponential for noise), `k ≥ 1`; the threshold `p` solves `n_bins·e^{−p} = Q(freqsig)`;
//! * a power peak at a Fourier bin where more than `broadband_frac` of the block's channels peak
//!   is not counted: that is a broadband signal (a bright pulsar, or zero-DM periodic RFI, which
//!   the birdie zapper handles), not a narrowband one in the channel.

use serde::{Deserialize, Serialize};

/// Settings (PRESTO `rfifind`'s defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RfifindConfig {
    /// `-timesig`: mean/std threshold, σ (default 10).
    pub timesig: f64,
    /// `-freqsig`: FFT power threshold, Gaussian σ after the bin-count correction (default 4).
    pub freqsig: f64,
    /// `-chanfrac`: a block with more than this fraction of bad channels is masked (default 0.7).
    pub chanfrac: f64,
    /// `-intfrac`: a channel with more than this fraction of bad blocks is masked (default 0.3).
    pub intfrac: f64,
    /// Power peaks shared by more than this fraction of a block's channels are broadband and not
    /// counted (default 0.1).
    pub broadband_frac: f64,
}

impl Default for RfifindConfig {
    fn default() -> Self {
        RfifindConfig { timesig: 10.0, freqsig: 4.0, chanfrac: 0.7, intfrac: 0.3, broadband_frac: 0.1 }
    }
}

impl RfifindConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// [`super::RfiError::Config`] naming the bad value.
    pub fn validate(&self) -> Result<(), super::RfiError> {
        let bad = |m: String| Err(super::RfiError::Config(m));
        if !(self.timesig.is_finite() && self.timesig > 0.0 && self.freqsig.is_finite() && self.freqsig > 0.0) {
            return bad(format!("rfifind timesig {} and freqsig {} must be positive", self.timesig, self.freqsig));
        }
        for (n, v) in [("chanfrac", self.chanfrac), ("intfrac", self.intfrac), ("broadband_frac", self.broadband_frac)]
        {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("rfifind {n} {v} must be within 0–1"));
            }
        }
        Ok(())
    }
}

/// One cell's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CellStats {
    /// Mean of the kept samples.
    pub mean: f32,
    /// Standard deviation of the kept samples.
    pub std: f32,
    /// Largest normalised FFT power (`k ≥ 1`).
    pub max_power: f32,
    /// Its Fourier bin.
    pub max_bin: u32,
    /// Kept samples.
    pub n: u32,
}

/// Upper-tail probability of the standard normal, `Q(x)` (Abramowitz & Stegun 7.1.26 through
/// `erfc`, accurate to 1.5e-7 absolute).
fn gauss_q(x: f64) -> f64 {
    let z = x / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * z.abs());
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erfc = poly * (-z * z).exp();
    let erfc = if z >= 0.0 { erfc } else { 2.0 - erfc };
    0.5 * erfc
}

/// The power threshold for `freqsig` over `nbins` bins: `p = ln(nbins / Q(freqsig))`.
pub fn power_threshold(freqsig: f64, nbins: usize) -> f64 {
    (nbins.max(1) as f64 / gauss_q(freqsig)).ln()
}

/// Statistics of one channel's block series `x` (kept samples; clipped or dropped ones already
/// replaced by the mean of the rest, so they add no power).
pub fn cell_stats(x: &mut [f32], n_kept: usize) -> CellStats {
    let n = x.len();
    if n_kept < 2 || n < 4 {
        return CellStats::default();
    }
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n_kept as f64;
    cell_stats_from(x, n_kept, mean, var)
}

/// Channels per group of [`cell_stats_many`].
pub const CELL_GROUP: usize = 8;

/// [`cell_stats`] of each of the `k ≤` [`CELL_GROUP`] series of `n` samples in `xs`
/// (`[k][n]`) into `out` (`k` values), bit-identical to calling it on each: the sums for the mean
/// and variance of the `k` series are interleaved (each still in time order from −0.0, as
/// `Iterator::sum` runs), so they do not wait on one another.
// The time index drives all the series at once (the interleaving is the point).
#[allow(clippy::needless_range_loop)]
pub fn cell_stats_many(xs: &mut [f32], n: usize, n_kept: usize, out: &mut [CellStats]) {
    let k = out.len();
    if k != CELL_GROUP || n_kept < 2 || n < 4 {
        for (o, x) in out.iter_mut().zip(xs.chunks_exact_mut(n.max(1))) {
            *o = cell_stats(x, n_kept);
        }
        return;
    }
    let mut sum = [-0.0f64; CELL_GROUP];
    {
        let rows: [&[f32]; CELL_GROUP] = std::array::from_fn(|r| &xs[r * n..(r + 1) * n]);
        for t in 0..n {
            for r in 0..CELL_GROUP {
                sum[r] += rows[r][t] as f64;
            }
        }
    }
    let mean: [f64; CELL_GROUP] = std::array::from_fn(|r| sum[r] / n as f64);
    let mut sq = [-0.0f64; CELL_GROUP];
    {
        let rows: [&[f32]; CELL_GROUP] = std::array::from_fn(|r| &xs[r * n..(r + 1) * n]);
        for t in 0..n {
            for r in 0..CELL_GROUP {
                sq[r] += (rows[r][t] as f64 - mean[r]).powi(2);
            }
        }
    }
    for (r, (o, x)) in out.iter_mut().zip(xs.chunks_exact_mut(n)).enumerate() {
        *o = cell_stats_from(x, n_kept, mean[r], sq[r] / n_kept as f64);
    }
}

/// The rest of [`cell_stats`] once the mean and variance of `x` are known.
fn cell_stats_from(x: &mut [f32], n_kept: usize, mean: f64, var: f64) -> CellStats {
    let n = x.len();
    let mut out = CellStats { mean: mean as f32, std: var.sqrt() as f32, n: n_kept as u32, ..CellStats::default() };
    if var <= 0.0 {
        return out;
    }
    x.iter_mut().for_each(|v| *v = (*v as f64 - mean) as f32);
    let spec = crate::search::spectrum::real_spectrum_destructive(x);
    let norm = 1.0 / (n as f64 * var);
    // Bins 1 .. N/2 − 1 (DC and Nyquist left out).
    for (k, c) in spec.iter().enumerate().take(n / 2).skip(1) {
        let p = (c.norm_sqr() as f64 * norm) as f32;
        if p > out.max_power {
            out.max_power = p;
            out.max_bin = k as u32;
        }
    }
    out
}

/// Bad cells from the statistics `stats[b * nchans + c]`, for channels not in `ignore`:
/// returns `[nblocks × nchans]` bits ([`super::CELL_RFIFIND_STAT`], [`super::CELL_RFIFIND_POWER`]).
pub fn bad_cells(stats: &[CellStats], nblocks: usize, nchans: usize, ignore: &[bool], cfg: &RfifindConfig) -> Vec<u8> {
    let mut bits = vec![0u8; nblocks * nchans];
    // Broadband power peaks: bins where many channels peak in the same block.
    let mut broadband: Vec<std::collections::HashSet<u32>> = vec![Default::default(); nblocks];
    for (b, bb) in broadband.iter_mut().enumerate() {
        let mut count: std::collections::HashMap<u32, usize> = Default::default();
        let mut judged = 0usize;
        for c in (0..nchans).filter(|&c| !ignore[c]) {
            let s = &stats[b * nchans + c];
            if s.n > 0 {
                judged += 1;
                *count.entry(s.max_bin).or_default() += 1;
            }
        }
        for (bin, n) in count {
            if n as f64 > cfg.broadband_frac * judged as f64 && n > 1 {
                bb.insert(bin);
            }
        }
    }
    for c in (0..nchans).filter(|&c| !ignore[c]) {
        let col: Vec<CellStats> = (0..nblocks).map(|b| stats[b * nchans + c]).filter(|s| s.n > 0).collect();
        if col.len() < 3 {
            continue;
        }
        let mut means: Vec<f64> = col.iter().map(|s| s.mean as f64).collect();
        let mut stds: Vec<f64> = col.iter().map(|s| s.std as f64).collect();
        let (m_med, m_sc) = super::robust_centre_scale(&mut means);
        let (s_med, s_sc) = super::robust_centre_scale(&mut stds);
        let typical_n = col.iter().map(|s| s.n as f64).fold(0.0, f64::max);
        let m_sc = m_sc.max(s_med / typical_n.sqrt());
        let s_sc = s_sc.max(s_med / (2.0 * typical_n).sqrt());
        for b in 0..nblocks {
            let s = &stats[b * nchans + c];
            if s.n == 0 {
                continue;
            }
            let mut v = 0u8;
            if (s.mean as f64 - m_med).abs() > cfg.timesig * m_sc || (s.std as f64 - s_med).abs() > cfg.timesig * s_sc {
                v |= super::CELL_RFIFIND_STAT;
            }
            let thr = power_threshold(cfg.freqsig, (s.n as usize / 2).max(1));
            if s.max_power as f64 > thr && !broadband[b].contains(&s.max_bin) {
                v |= super::CELL_RFIFIND_POWER;
            }
            bits[b * nchans + c] = v;
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_tail_and_threshold() {
        // Q(4) = 3.167e-5, Q(1) = 0.158655.
        assert!((gauss_q(4.0) / 3.167_124e-5 - 1.0).abs() < 1e-2);
        assert!((gauss_q(1.0) - 0.158_655).abs() < 1e-6);
        assert!((gauss_q(-1.0) - 0.841_345).abs() < 1e-6);
        // 4096 bins: ln(4096 / 3.167e-5) = 18.68.
        assert!((power_threshold(4.0, 4096) - 18.678).abs() < 0.01);
    }

    /// The grouped kernel is bit-identical to one call per series (its naive twin), for a full
    /// group and for a short tail, with a tone, noise and a constant series.
    #[test]
    fn cell_stats_many_matches_cell_stats() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let n = 1000;
        for k in [CELL_GROUP, 3] {
            let mut xs: Vec<f32> = (0..k * n)
                .map(|_| {
                    10.0 + {
                        let v: f64 = StandardNormal.sample(&mut rng);
                        v as f32
                    }
                })
                .collect();
            xs[..n].iter_mut().enumerate().for_each(|(i, v)| *v += (i as f32 * 0.3).sin());
            xs[n..2 * n].fill(4.0);
            let want: Vec<CellStats> = xs.clone().chunks_exact_mut(n).map(|x| cell_stats(x, 900)).collect();
            let mut got = vec![CellStats::default(); k];
            cell_stats_many(&mut xs, n, 900, &mut got);
            assert_eq!(got, want, "group of {k}");
            assert!(want[0].max_power > 50.0 && want[1].std == 0.0);
        }
    }

    /// A sinusoid in one channel's block is flagged by the power test; noise is not.
    #[test]
    fn power_test_flags_a_tone() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (nb, nc, l) = (4usize, 16usize, 4096usize);
        let mut stats = vec![CellStats::default(); nb * nc];
        for b in 0..nb {
            for c in 0..nc {
                let mut x: Vec<f32> = (0..l).map(|_| StandardNormal.sample(&mut rng)).collect();
                if b == 2 && c == 5 {
                    // Amplitude 0.2: power N·A²/(4σ²) ≈ 41, above the threshold 18.0 for 2048 bins.
                    x.iter_mut().enumerate().for_each(|(i, v)| *v += 0.2 * (i as f32 * 0.37).sin());
                }
                stats[b * nc + c] = cell_stats(&mut x, l);
            }
        }
        let bits = bad_cells(&stats, nb, nc, &vec![false; nc], &RfifindConfig::default());
        let flagged: Vec<usize> = (0..nb * nc).filter(|&i| bits[i] != 0).collect();
        assert_eq!(flagged, vec![2 * nc + 5]);
        assert_eq!(bits[2 * nc + 5], crate::rfi::CELL_RFIFIND_POWER);
    }
}
