//! FFT periodicity search of one dedispersed time series (or its spectrum).
//!
//! Pipeline (PRESTO accelsearch at zero acceleration, Ransom et al. 2002):
//! subtract the mean → real FFT of the full length (no padding, any `N`) → red-noise whitening
//! ([`spectrum::whiten_spectrum_with`]) → interbinning → incoherent harmonic sums over stages
//! 1, 2, 4, … `nharm_max` ([`harmonic`]) → per-stage power threshold from `sigma_threshold` →
//! birdie zapping ([`PeriodicConfig::zap`]) → local maxima → one candidate per signal (the stage
//! with the highest sigma wins; weaker peaks within 1 bin, or explainable as spectral leakage of a
//! stronger peak, are dropped) → the odd-harmonic test (is the detection a harmonic of `f/2`,
//! `f/3`, …?), which marks `Candidate::fund_harmonic` and adds the implied fundamental.
//!
//! Trials: every sigma is corrected for the effective number of independent trials `W` of the
//! whole search ([`super::trials`], calibrated on noise): the caller that searches many DM trials
//! sets [`PeriodicConfig::total_trials`] from [`super::trials::search_trials`]; left at 0, `W` is
//! that of the one series searched. Every half-bin and harmonic-sum power is unit-mean
//! exponential on whitened noise ([`super::spectrum::HalfBin`]), so `Q(H, P)` is exact per trial.
//!
//! Thread safety: FFT plans are cached per thread, so callers may run [`search_series`] on many
//! DM trials in parallel with rayon.

use super::harmonic::{harmonic_stages, stage_peaks, StagePeak, StageScan};
pub use super::spectrum::HalfBin;
use super::spectrum::{
    halfbin_grid, has_nyquist, nbins, real_spectrum_destructive, whiten_spectrum_with, WhitenConfig,
};
use super::stats::{chi2_logsf, snr_from_power};
use super::trials::{accel_trials_factor, last_bin, searched_bins, series_trials, DmSpan};
use super::trials::{search_power_for_sigma, search_sigma};
use super::Candidate;
use num_complex::Complex32;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// Configuration of the FFT periodicity search (stored in the candidate file as provenance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeriodicConfig {
    /// Largest number of harmonics summed (stages 1, 2, 4, … up to this; max 32). Default 16.
    pub nharm_max: u32,
    /// Detection threshold on the trials-corrected Gaussian significance. Default 6.
    pub sigma_threshold: f64,
    /// Lowest fundamental frequency searched, Hz (never below Fourier bin
    /// [`super::trials::MIN_FUNDAMENTAL_BIN`], i.e. ten rotations in the series). Default 0.1 Hz.
    pub fmin_hz: f64,
    /// Highest fundamental frequency searched, Hz (clamped below the Nyquist bin). Default 10 kHz.
    pub fmax_hz: f64,
    /// Effective independent trials of the whole search (all DM trials and stages), from
    /// [`super::trials::search_trials`]. `0` (default): the trials of this one series,
    /// [`super::trials::series_trials`] with [`super::trials::DmSpan::SINGLE`].
    pub total_trials: f64,
    /// How half bins are formed ([`HalfBin`]); default the 16-tap Fourier interpolation.
    pub halfbin: HalfBin,
    /// Red-noise whitening windows.
    pub whiten: WhitenConfig,
    /// At most this many candidates per series (the most significant). Default 1000.
    pub max_candidates: usize,
    /// Birdies zapped from the half-bin powers before the harmonic sums
    /// ([`crate::rfi::birdies::zap_halfbins`]); empty by default.
    pub zap: Vec<crate::rfi::birdies::Birdie>,
    /// Largest drift of the acceleration search, Fourier bins of the highest harmonic summed
    /// (PRESTO's `-zmax`; [`super::accel`]). 0 (default): the zero-drift search.
    pub zmax: u32,
}

impl Default for PeriodicConfig {
    fn default() -> Self {
        PeriodicConfig {
            nharm_max: 16,
            sigma_threshold: 6.0,
            fmin_hz: 0.1,
            fmax_hz: 1.0e4,
            total_trials: 0.0,
            halfbin: HalfBin::Kernel,
            whiten: WhitenConfig::default(),
            max_candidates: 1000,
            zap: Vec::new(),
            zmax: 0,
        }
    }
}

/// Searches one time series for periodic signals.
///
/// `series`: `nsamples` samples, any length (no power-of-two or even requirement), sampled every
/// `tsamp_s` seconds; `dm` (pc cm⁻³) is copied into the candidates. Returns candidates sorted by
/// `sigma` descending, each with `frequency_hz = fft_bin / (N · tsamp_s)`, `period_s = 1/frequency_hz`,
/// `fft_bin` the fractional fundamental bin, `n_dm_hits = 1`, `harmonic_of = −1`, and
/// `fund_harmonic` from the odd-harmonic test (`fundamental_divisor`): when a detection is found
/// to be the `D`-th harmonic of a lower fundamental that no other candidate of this series holds,
/// a candidate at `fft_bin / D` is added (at its best stage's sigma, which may be below
/// `sigma_threshold`: it is reported because its harmonics were detected).
/// Degenerate input (fewer than 8 samples, non-positive or non-finite `tsamp_s`) gives no
/// candidates. Non-finite samples are treated as 0.
pub fn search_series(series: &[f32], tsamp_s: f64, dm: f64, cfg: &PeriodicConfig) -> Vec<Candidate> {
    let n = series.len();
    if n < 8 || !(tsamp_s.is_finite() && tsamp_s > 0.0) {
        return Vec::new();
    }
    let (sum, count) =
        series.iter().filter(|v| v.is_finite()).fold((0.0f64, 0usize), |(s, c), &v| (s + v as f64, c + 1));
    let mean = if count > 0 { sum / count as f64 } else { 0.0 };
    let mut x: Vec<f32> = series.iter().map(|&v| if v.is_finite() { (v as f64 - mean) as f32 } else { 0.0 }).collect();
    let mut spec = real_spectrum_destructive(&mut x);
    drop(x);
    search_whitened(&mut spec, n, tsamp_s, dm, cfg)
}

/// Searches a complex spectrum (bins `0 ..= N/2` of the unnormalised real DFT of `nsamples`
/// samples, e.g. from [`super::spectrum::real_spectrum`] or a Fourier-domain dedisperser).
///
/// The spectrum is copied, whitened and searched exactly as in [`search_series`] (the same code
/// path). A spectrum whose length is not `nsamples/2 + 1` gives no candidates.
pub fn search_spectrum(
    spec: &[Complex32],
    nsamples: usize,
    tsamp_s: f64,
    dm: f64,
    cfg: &PeriodicConfig,
) -> Vec<Candidate> {
    if spec.len() != nbins(nsamples) || nsamples < 8 || !(tsamp_s.is_finite() && tsamp_s > 0.0) {
        tracing::warn!(
            "search_spectrum: {} bins for {} samples (expected {}), tsamp {} s: skipped",
            spec.len(),
            nsamples,
            nbins(nsamples),
            tsamp_s
        );
        return Vec::new();
    }
    let mut s = spec.to_vec();
    search_whitened(&mut s, nsamples, tsamp_s, dm, cfg)
}

thread_local! {
    /// Per-thread stage-sum buffer and peak list of [`search_whitened`] (reused across DM trials).
    static STAGE_SCRATCH: RefCell<(Vec<f32>, Vec<StagePeak>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    /// Per-thread cache of stage thresholds, keyed by (σ, nharm, trials, nsamples) bit patterns.
    static THRESHOLDS: RefCell<Vec<(ThresholdKey, f32)>> = const { RefCell::new(Vec::new()) };
}

/// Key of the stage-threshold cache: bit patterns of (σ, nharm, trials, nsamples).
type ThresholdKey = (u64, u32, u64, usize);

/// Stage-sum buffers larger than this many `f32` (64 MiB) are freed after use instead of kept
/// for the thread's next series.
const MAX_KEPT_SCRATCH: usize = 16 << 20;

/// The stage threshold `search_power_for_sigma(sigma, nharm, ntrials, nsamples)` as `f32`,
/// computed once per thread for each distinct argument set (a bisection of ~40 steps, formerly
/// repeated for every DM trial). The cache keeps the 64 most recent sets.
fn stage_threshold(sigma: f64, nharm: u32, ntrials: f64, nsamples: usize) -> f32 {
    let key = (sigma.to_bits(), nharm, ntrials.to_bits(), nsamples);
    THRESHOLDS.with(|cell| {
        let mut cache = cell.borrow_mut();
        if let Some(&(_, thr)) = cache.iter().find(|(k, _)| *k == key) {
            return thr;
        }
        let thr = search_power_for_sigma(sigma, nharm, ntrials, nsamples) as f32;
        if cache.len() >= 64 {
            cache.remove(0);
        }
        cache.push((key, thr));
        thr
    })
}

/// A local maximum above threshold in one harmonic stage.
#[derive(Debug, Clone, Copy)]
struct Peak {
    nharm: u32,
    /// Fundamental, fractional Fourier bins.
    fbin: f64,
    power: f64,
    sigma: f64,
}

/// Summed power of stage `nharm` at fundamental `fbin` (nearest fine-grid point).
fn stage_power_at(halfbin: &[f32], nharm: u32, fbin: f64) -> f64 {
    let hh = nharm as f64;
    let mut s = 0.0f64;
    for h in 1..=nharm {
        let idx = (fbin * 2.0 * h as f64).round() as usize;
        if idx < halfbin.len() {
            s += halfbin[idx] as f64;
        }
    }
    s - hh
}

fn search_whitened(
    spec: &mut [Complex32],
    nsamples: usize,
    tsamp_s: f64,
    dm: f64,
    cfg: &PeriodicConfig,
) -> Vec<Candidate> {
    whiten_spectrum_with(spec, &cfg.whiten);
    // Never search Nyquist (TRAPS B17): drop it from the power array.
    let nb_search = if has_nyquist(nsamples) { spec.len() - 1 } else { spec.len() };
    if nb_search < 3 {
        return Vec::new();
    }
    let mut halfbin = halfbin_grid(&spec[..nb_search], cfg.halfbin);
    // DC and the half bin next to it carry no signal information (DC is zeroed by whitening).
    halfbin[0] = 0.0;
    halfbin[1] = 0.0;

    let tobs = nsamples as f64 * tsamp_s;
    if !cfg.zap.is_empty() {
        crate::rfi::birdies::zap_halfbins(&mut halfbin, tobs, &cfg.zap);
    }
    let Some((lo, hi)) = searched_bins(nsamples, tsamp_s, cfg.fmin_hz, cfg.fmax_hz) else {
        return Vec::new();
    };
    let stages = harmonic_stages(cfg.nharm_max);
    let ntrials = if cfg.total_trials > 0.0 {
        cfg.total_trials
    } else {
        series_trials(lo, hi, last_bin(nsamples), tobs, &stages, DmSpan::SINGLE) * accel_trials_factor(cfg.zmax)
    };
    if cfg.zmax > 0 {
        return search_accel_plane(
            &spec[..nb_search],
            &halfbin,
            nsamples,
            tsamp_s,
            dm,
            cfg,
            (lo, hi),
            &stages,
            ntrials,
        );
    }

    // All stages in one incremental pass with the peak test fused in (harmonic::stage_peaks);
    // thresholds come from a per-thread cache (one bisection per stage and series length).
    let stage_hits = STAGE_SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        let (sums, hits) = &mut *scratch;
        hits.clear();
        let n_hb = halfbin.len();
        let scan = |hh: u32| {
            let scale = 2.0 * hh as f64;
            StageScan {
                jlo: ((lo * scale).ceil() as usize).max(1),
                jhi: ((hi * scale).floor() as usize).min(n_hb - 1),
                threshold: stage_threshold(cfg.sigma_threshold, hh, ntrials, nsamples),
            }
        };
        stage_peaks(&halfbin, cfg.nharm_max, scan, sums, hits);
        if sums.capacity() > MAX_KEPT_SCRATCH {
            *sums = Vec::new();
        }
        hits.clone()
    });
    let mut peaks: Vec<Peak> = stage_hits
        .iter()
        .map(|h| {
            let power = h.power as f64;
            Peak {
                nharm: h.nharm,
                fbin: h.j as f64 / (2.0 * h.nharm as f64),
                power,
                sigma: search_sigma(power, h.nharm, ntrials, nsamples),
            }
        })
        .collect();
    peaks.sort_by(|a, b| b.sigma.total_cmp(&a.sigma).then(b.power.total_cmp(&a.power)).then(a.fbin.total_cmp(&b.fbin)));

    // One candidate per signal: drop peaks within 1 bin of a stronger one, and peaks whose excess
    // power could be sinc² leakage of a stronger one (≤ 4·E/(π d)², d in bins, E the stronger
    // signal's largest excess over all stages; harmonic h leaks ≤ 1/(π h d)²).
    let mut accepted: Vec<(Peak, f64)> = Vec::new();
    for pk in peaks {
        if accepted.len() >= cfg.max_candidates {
            break;
        }
        let excess = pk.power - pk.nharm as f64;
        let dominated = accepted.iter().any(|(a, ea)| {
            let d = (pk.fbin - a.fbin).abs();
            d <= 1.0 || excess <= 4.0 * ea / (std::f64::consts::PI * d).powi(2)
        });
        if dominated {
            continue;
        }
        let e = stages.iter().map(|&hh| stage_power_at(&halfbin, hh, pk.fbin)).fold(excess, f64::max);
        accepted.push((pk, e));
    }

    let lo_bin = lo.max(1.0);
    let mut out: Vec<Candidate> = Vec::with_capacity(accepted.len());
    let make = |pk: &Peak, fund_harmonic: u32| {
        let f = pk.fbin / tobs;
        Candidate {
            period_s: 1.0 / f,
            frequency_hz: f,
            dm,
            accel: 0.0,
            z: 0.0,
            snr: snr_from_power(pk.power, pk.nharm) as f32,
            sigma: pk.sigma as f32,
            power: pk.power as f32,
            nharm: pk.nharm,
            fft_bin: pk.fbin,
            n_dm_hits: 1,
            harmonic_of: -1,
            harmonic_num: 0,
            harmonic_den: 0,
            fund_harmonic,
            dm_flag: 0,
            search: crate::rows::SearchKind::Fft,
            width_s: 0.0,
        }
    };
    let accepted_bins: Vec<f64> = accepted.iter().map(|(pk, _)| pk.fbin).collect();
    let mut implied: Vec<Candidate> = Vec::new();
    for (pk, _) in &accepted {
        let d = fundamental_divisor(&halfbin, pk.fbin, pk.nharm, lo_bin);
        out.push(make(pk, d));
        if d > 1 {
            let g = pk.fbin / d as f64;
            let known = accepted_bins.iter().chain(implied.iter().map(|c| &c.fft_bin)).any(|&b| (b - g).abs() <= 1.0);
            if !known {
                let best = best_stage_at(&halfbin, &stages, g, ntrials, nsamples);
                implied.push(make(&best, 1));
            }
        }
    }
    out.extend(implied);
    out.sort_by(|a, b| b.sigma.total_cmp(&a.sigma).then(a.fft_bin.total_cmp(&b.fft_bin)));
    out
}

/// The acceleration search of a whitened spectrum (`cfg.zmax > 0`; [`super::accel`]).
///
/// Builds the `(r, z)` power plane, zaps the birdies along each drift row (a constant tone at bin
/// `f T` appears in row `z` at start bins `f T − z … f T`), and for each harmonic stage keeps, per
/// top-harmonic half bin, the best drift row; local maxima of that best-over-z curve above the
/// stage's threshold become peaks. One candidate per signal as in the zero-drift search (peaks
/// within 1 bin of a stronger one, or explainable as its leakage, are dropped). The odd-harmonic
/// test runs only for peaks at zero drift (on `halfbin`, the zero-drift grid); drifting peaks get
/// `fund_harmonic = 1`. Candidates carry the **mean** frequency over the observation
/// (`r + z/2` of the fundamental), its drift `z` and `accel = −c z / (r T)`.
#[allow(clippy::too_many_arguments)]
fn search_accel_plane(
    spec: &[Complex32],
    halfbin: &[f32],
    nsamples: usize,
    tsamp_s: f64,
    dm: f64,
    cfg: &PeriodicConfig,
    (lo, hi): (f64, f64),
    stages: &[u32],
    ntrials: f64,
) -> Vec<Candidate> {
    use super::accel::{best_over_drift, power_plane, KernelBank};
    let tobs = nsamples as f64 * tsamp_s;
    let bank = KernelBank::cached(cfg.zmax);
    let mut rows = power_plane(spec, &bank);
    for (zi, row) in rows.iter_mut().enumerate() {
        row[0] = 0.0;
        row[1] = 0.0;
        if !cfg.zap.is_empty() {
            let z = bank.z_of(zi) as f64;
            let shifted: Vec<crate::rfi::birdies::Birdie> = cfg
                .zap
                .iter()
                .flat_map(|b| {
                    (1..=b.nharm.max(1)).map(move |k| crate::rfi::birdies::Birdie {
                        frequency_hz: b.frequency_hz * k as f64 - 0.5 * z / tobs,
                        width_hz: b.width_hz + z.abs() / tobs,
                        nharm: 1,
                        ..*b
                    })
                })
                .collect();
            crate::rfi::birdies::zap_halfbins(row, tobs, &shifted);
        }
    }
    #[derive(Clone, Copy)]
    struct ZPeak {
        pk: Peak,
        /// Drift of the fundamental, bins.
        z: f64,
    }
    let n = rows[0].len();
    let (best_all, best_zi_all) = best_over_drift(&rows, &bank, stages, n);
    let mut peaks: Vec<ZPeak> = Vec::new();
    for (si, &hh) in stages.iter().enumerate() {
        let (best, best_zi) = (&best_all[si], &best_zi_all[si]);
        let thr = stage_threshold(cfg.sigma_threshold, hh, ntrials, nsamples);
        let scale = 2.0 * hh as f64;
        let jlo = ((lo * scale).ceil() as usize).max(1);
        let jhi = ((hi * scale).floor() as usize).min(n - 1);
        for j in jlo..=jhi {
            let p = best[j];
            if p < thr {
                continue;
            }
            let right = if j + 1 < n { best[j + 1] } else { f32::NEG_INFINITY };
            if p < best[j - 1] || p <= right {
                continue;
            }
            let power = p as f64;
            let z = bank.z_of(best_zi[j] as usize) as f64 / hh as f64;
            peaks.push(ZPeak {
                pk: Peak {
                    nharm: hh,
                    fbin: j as f64 / scale,
                    power,
                    sigma: search_sigma(power, hh, ntrials, nsamples),
                },
                z,
            });
        }
    }
    peaks.sort_by(|a, b| {
        b.pk.sigma.total_cmp(&a.pk.sigma).then(b.pk.power.total_cmp(&a.pk.power)).then(a.pk.fbin.total_cmp(&b.pk.fbin))
    });
    // One candidate per signal (compare mean frequencies, which do not depend on the drift row).
    let mean_bin = |p: &ZPeak| p.pk.fbin + 0.5 * p.z;
    let mut accepted: Vec<(ZPeak, f64)> = Vec::new();
    for zp in peaks {
        if accepted.len() >= cfg.max_candidates {
            break;
        }
        let excess = zp.pk.power - zp.pk.nharm as f64;
        let dominated = accepted.iter().any(|(a, ea)| {
            let d = (mean_bin(&zp) - mean_bin(a)).abs();
            d <= 1.0 + 0.5 * (zp.z - a.z).abs() || excess <= 4.0 * ea / (std::f64::consts::PI * d).powi(2)
        });
        if dominated {
            continue;
        }
        accepted.push((zp, excess));
    }
    let lo_bin = lo.max(1.0);
    let mut out: Vec<Candidate> = accepted
        .iter()
        .map(|(zp, _)| {
            let pk = zp.pk;
            let r_mean = mean_bin(zp);
            let f = r_mean / tobs;
            let fund_harmonic = if zp.z == 0.0 { fundamental_divisor(halfbin, pk.fbin, pk.nharm, lo_bin) } else { 1 };
            Candidate {
                period_s: 1.0 / f,
                frequency_hz: f,
                dm,
                accel: -crate::consts::SPEED_OF_LIGHT_M_S * zp.z / (r_mean * tobs),
                z: zp.z,
                snr: snr_from_power(pk.power, pk.nharm) as f32,
                sigma: pk.sigma as f32,
                power: pk.power as f32,
                nharm: pk.nharm,
                fft_bin: r_mean,
                n_dm_hits: 1,
                harmonic_of: -1,
                harmonic_num: 0,
                harmonic_den: 0,
                fund_harmonic,
                dm_flag: 0,
                search: crate::rows::SearchKind::Fft,
                width_s: 0.0,
            }
        })
        .collect();
    out.sort_by(|a, b| b.sigma.total_cmp(&a.sigma).then(a.fft_bin.total_cmp(&b.fft_bin)));
    out
}

/// Tail-probability threshold (natural log) of the odd-harmonic test in [`fundamental_divisor`]:
/// p = 10⁻⁶ (4.75 σ one-sided), strict because every accepted candidate of every DM trial is tested
/// with up to four divisors, and a false "f/q is the fundamental" would demote a real signal.
const FUNDAMENTAL_LN_P: f64 = -13.815_510_557_964_274;

/// Smallest fraction of the detection's own mean excess power per harmonic that the non-multiple
/// harmonics of `f/q` must carry on average, on top of the significance test: sinc² leakage of a
/// bright signal into bins ≥ f/2 away is ≤ 2/(π² (F/2)²) of its power, under 1 % once the
/// fundamental is above 10 bins, so a 5 % floor keeps bright signals from being halved by their own
/// leakage.
const FUNDAMENTAL_MIN_FRACTION: f64 = 0.05;

/// Sum of the half-bin powers at the harmonics `k·g`, `k = 1 … kmax`, `r ∤ k`, and how many were
/// summed (harmonics past the end of the spectrum, or at DC, are skipped).
fn nonmultiple_sum(halfbin: &[f32], g: f64, r: u32, kmax: u32) -> (f64, u32) {
    let mut sum = 0.0f64;
    let mut m = 0u32;
    for k in 1..=kmax {
        if k % r == 0 {
            continue;
        }
        let idx = (2.0 * k as f64 * g).round() as usize;
        if idx < 2 || idx >= halfbin.len() {
            continue;
        }
        sum += halfbin[idx] as f64;
        m += 1;
    }
    (sum, m)
}

/// Primes tried by the odd-harmonic test.
const FUNDAMENTAL_PRIMES: [u32; 4] = [2, 3, 5, 7];

/// The odd-harmonic test: is a detection at fundamental bin `fbin` (stage `nharm`) really a
/// harmonic of a lower fundamental `fbin / D`?
///
/// For a prime `q ∈ {2, 3, 5, 7}` and `g = fbin/q` it sums the half-bin powers at the harmonics
/// `k·g`, `k = 1 … q·nharm`, `q ∤ k`: the harmonics of `g` up to the detection's highest harmonic
/// that a signal whose fundamental is `fbin` does not have. Under that hypothesis these
/// `m = (q−1)·nharm` powers are noise, unit-mean exponential, so their sum is Gamma(m, 1)
/// ([`chi2_logsf`]); the sum is *significant* when its tail probability is below 10⁻⁶ and its mean
/// excess is at least [`FUNDAMENTAL_MIN_FRACTION`] of the detection's own mean excess per harmonic.
/// `g` is accepted as the new fundamental only when, in addition, the same sum is significant for
/// every other prime `r` (the harmonics of `g` that are not multiples of `r·g`): otherwise `g`
/// would itself be a sub-harmonic, as `F/2` is when the detection is the `3/2` harmonic of a
/// narrow pulsar at `F` (the harmonics of `F/2` that are not multiples of `3F/2` include `F`, `2F`,
/// but no odd multiple of `F/2` has power). The test then repeats from `g` (so `D` can be 4, 6, …).
///
/// This decides between `f` and `f/2` by whether the odd harmonics of `f/2` carry power, as a
/// pulsar astronomer does by eye (a narrow pulse has all its harmonics; a signal at `f` has nothing
/// at the odd multiples of `f/2`), instead of comparing sigmas, which favour `2f` for narrow pulses
/// because 16 harmonics of `2f` reach twice as far up the spectrum.
///
/// Returns `D ≥ 1`; the fundamental is never moved below bin `lo_bin` (the searched range).
fn fundamental_divisor(halfbin: &[f32], fbin: f64, nharm: u32, lo_bin: f64) -> u32 {
    let own_excess = (stage_power_at(halfbin, nharm, fbin) / nharm as f64).max(0.0);
    let significant = |g: f64, r: u32, kmax: u32| {
        let (sum, m) = nonmultiple_sum(halfbin, g, r, kmax);
        m > 0
            && chi2_logsf(sum, m) < FUNDAMENTAL_LN_P
            && (sum - m as f64) / m as f64 >= FUNDAMENTAL_MIN_FRACTION * own_excess
    };
    let mut d = 1u32;
    let mut f = fbin;
    'outer: while d < 64 {
        for q in FUNDAMENTAL_PRIMES {
            let g = f / q as f64;
            if g < lo_bin {
                continue;
            }
            let kmax = q * nharm;
            if significant(g, q, kmax) && FUNDAMENTAL_PRIMES.iter().all(|&r| r == q || significant(g, r, kmax)) {
                d *= q;
                f = g;
                continue 'outer;
            }
        }
        break;
    }
    d
}

/// The best harmonic stage (highest sigma) at fundamental `fbin`, taking the local maximum of each
/// stage's fine grid within ±2 grid points (the grid of stage `H` has `2H` points per bin).
fn best_stage_at(halfbin: &[f32], stages: &[u32], fbin: f64, ntrials: f64, nsamples: usize) -> Peak {
    let mut best: Option<Peak> = None;
    for &hh in stages {
        let scale = 2.0 * hh as f64;
        let j0 = (fbin * scale).round() as i64;
        for j in (j0 - 2)..=(j0 + 2) {
            if j < 1 {
                continue;
            }
            let fb = j as f64 / scale;
            let power = stage_power_at(halfbin, hh, fb) + hh as f64;
            let sigma = search_sigma(power, hh, ntrials, nsamples);
            if best.map_or(true, |b| sigma > b.sigma) {
                best = Some(Peak { nharm: hh, fbin: fb, power, sigma });
            }
        }
    }
    best.unwrap_or(Peak { nharm: 1, fbin, power: 0.0, sigma: 0.0 })
}
