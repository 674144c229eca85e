//! Fourier-domain dedispersion (FDD, `dedisp::fourier`) against naive references, the direct
//! dedisperser, analytic fractionally delayed pulses, TRAPS B13 (no wrap-around), and the fused
//! FDD + periodicity search against direct dedispersion + `search_series`.
use ndarray::Array2;
use num_complex::Complex64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tianyan::consts::K_DM;
use tianyan::dedisp::fourier::{
    band_limits, fdd_periodic_search, fractional_delays, shift_and_sum, ChannelSpectra, FddDedisperser, LANES,
};
use tianyan::dedisp::{DedispError, Dedisperser, DirectDedisperser};
use tianyan::search::periodic::{search_series, PeriodicConfig};
use tianyan::search::Candidate;
use tianyan::{Header, IoError, MemoryObservation, Observation};

mod common;

fn header(nchans: usize, fch1_mhz: f64, foff_mhz: f64, tsamp_s: f64) -> Header {
    Header { nchans, fch1_mhz, foff_mhz, tsamp_s, nbits: 32, ..Header::default() }
}

/// Delays (s) relative to the top channel centre, written out independently of the library.
fn naive_delays_s(h: &Header, dm: f64) -> Vec<f64> {
    let freqs: Vec<f64> = (0..h.nchans).map(|c| h.fch1_mhz + c as f64 * h.foff_mhz).collect();
    let ftop = freqs.iter().cloned().fold(f64::MIN, f64::max);
    freqs.iter().map(|f| K_DM * dm * (1.0 / (f * f) - 1.0 / (ftop * ftop))).collect()
}

fn noise(nsamples: usize, nchans: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((nsamples, nchans), |_| rng.sample::<f32, _>(StandardNormal))
}

/// Adds a Gaussian pulse (σ `sigma_s`, peak `amp` per channel) arriving at the top channel at
/// `t0_s`, evaluated at the exact (fractional) delay of each channel.
fn add_pulse(data: &mut Array2<f32>, h: &Header, dm: f64, t0_s: f64, sigma_s: f64, amp: f32) {
    let d = naive_delays_s(h, dm);
    for ((n, c), v) in data.indexed_iter_mut() {
        let x = (n as f64 * h.tsamp_s - t0_s - d[c]) / sigma_s;
        if x.abs() < 12.0 {
            *v += amp * (-0.5 * x * x).exp() as f32;
        }
    }
}

/// Adds a pulsar: Gaussian pulses (σ `sigma_s`) every `period_s`, exact fractional delays.
fn add_pulsar(data: &mut Array2<f32>, h: &Header, dm: f64, period_s: f64, sigma_s: f64, amp: f32) {
    let d = naive_delays_s(h, dm);
    for ((n, c), v) in data.indexed_iter_mut() {
        let ph = (n as f64 * h.tsamp_s - d[c]) / period_s;
        let x = (ph - ph.round()) * period_s / sigma_s;
        *v += amp * (-0.5 * x * x).exp() as f32;
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// Peak boxcar S/N of a series (median baseline, MAD noise), and its position.
fn boxcar_snr(x: &[f32], w: usize) -> (f64, usize) {
    let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let med = median(&xs);
    let dev: Vec<f64> = xs.iter().map(|v| (v - med).abs()).collect();
    let sigma = 1.4826 * median(&dev);
    let mut best = (f64::MIN, 0);
    let mut s: f64 = xs[..w].iter().sum();
    for t in 0..=xs.len() - w {
        if t > 0 {
            s += xs[t + w - 1] - xs[t - 1];
        }
        let snr = (s - w as f64 * med) / ((w as f64).sqrt() * sigma);
        if snr > best.0 {
            best = (snr, t);
        }
    }
    best
}

/// B12-style identity: at DM 0 FDD is the channel sum (also with a large mean, several blocks,
/// more trials than one DM group, and downsampling 2), to 1e-4 of the largest |sum|.
#[test]
fn dm0_equals_channel_sum() {
    let h = header(48, 1400.0, -2.0, 1e-3);
    for (mean, ds) in [(0.0f32, 1usize), (100.0, 1), (3.0, 2)] {
        let mut data = noise(3001, 48, 7);
        data.mapv_inplace(|v| v + mean);
        let mut obs = MemoryObservation::new(h.clone(), data.clone());
        let dms = vec![0.0; 11];
        let out = FddDedisperser { block_size: 700, band_limit: false }.dedisperse(&mut obs, &dms, ds).unwrap();
        let n = 3001 / ds;
        assert_eq!(out.data.dim(), (11, n));
        let sums: Vec<f64> =
            (0..n).map(|t| (0..48).map(|c| (0..ds).map(|j| data[[t * ds + j, c]] as f64).sum::<f64>()).sum()).collect();
        let scale = sums.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for row in out.data.outer_iter() {
            let err = row.iter().zip(&sums).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
            assert!(err <= 1e-4 * scale, "mean {mean} ds {ds}: max error {err} vs scale {scale}");
        }
    }
}

/// Naive twin of the kernel: f64 DFT of each channel, times e^{2πikτ/N}, summed; bins at or
/// above a channel's limit (rounded up to LANES) excluded; the Nyquist bin keeps its real part.
fn naive_shift_sum(rows: &[Vec<f32>], shifts: &[f64], limits: Option<&[usize]>) -> Vec<Vec<Complex64>> {
    let nchans = rows.len();
    let n = rows[0].len();
    let nb = n / 2 + 1;
    let spectra: Vec<Vec<Complex64>> = rows
        .iter()
        .map(|r| {
            (0..nb)
                .map(|k| {
                    r.iter()
                        .enumerate()
                        .map(|(t, &x)| {
                            Complex64::from_polar(x as f64, -std::f64::consts::TAU * ((k * t) % n) as f64 / n as f64)
                        })
                        .sum()
                })
                .collect()
        })
        .collect();
    (0..shifts.len() / nchans)
        .map(|j| {
            let mut y = vec![Complex64::new(0.0, 0.0); nb];
            for c in 0..nchans {
                let tau = shifts[j * nchans + c];
                let lim = limits.map_or(nb, |l| l[j * nchans + c].div_ceil(LANES) * LANES);
                for k in 0..nb.min(lim) {
                    y[k] +=
                        spectra[c][k] * Complex64::from_polar(1.0, std::f64::consts::TAU * k as f64 * tau / n as f64);
                }
            }
            if n % 2 == 0 {
                y[nb - 1].im = 0.0;
            }
            y
        })
        .collect()
}

/// The fast kernel (recurrence phasors, chunks, DM groups, band limits) equals the naive f64 DFT
/// twin to 1e-4 of the largest |Y|, for odd and even lengths spanning several bin chunks.
#[test]
fn kernel_matches_naive_dft() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for n in [1999usize, 2500] {
        let nchans = 5;
        let rows: Vec<Vec<f32>> = (0..nchans).map(|_| (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()).collect();
        let ndm = 11;
        let shifts: Vec<f64> = (0..ndm * nchans).map(|_| rng.gen_range(-40.0..300.0)).collect();
        let limits: Vec<usize> = (0..ndm * nchans).map(|_| rng.gen_range(0..n / 2 + 10)).collect();
        let mut flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let sp = ChannelSpectra::from_rows(&mut flat, n).unwrap();
        for lim in [None, Some(limits.as_slice())] {
            let fast = shift_and_sum(&sp, &shifts, lim).unwrap();
            let naive = naive_shift_sum(&rows, &shifts, lim);
            assert_eq!(fast.len(), ndm);
            for (f, r) in fast.iter().zip(&naive) {
                assert_eq!(f.len(), n / 2 + 1);
                let scale = r.iter().fold(0.0f64, |m, z| m.max(z.norm()));
                let err = f
                    .iter()
                    .zip(r)
                    .map(|(a, b)| (Complex64::new(a.re as f64, a.im as f64) - b).norm())
                    .fold(0.0, f64::max);
                assert!(err <= 1e-4 * scale, "n {n} limits {}: error {err} vs {scale}", lim.is_some());
            }
        }
    }
}

/// A smooth pulse delayed by the exact fractional delay in each channel comes out as
/// `nchans ×` the undelayed pulse at the top-of-band time (analytic twin of the whole
/// dedisperser: sign, delay formula, blocks and guards), to 1e-3 of the peak.
#[test]
fn fractional_delays_match_analytic_pulse() {
    let h = header(32, 1500.0, -9.5, 1e-3);
    let (dm, t0, sigma) = (37.3, 1.5003, 3e-3);
    let mut data = Array2::zeros((4000, 32));
    add_pulse(&mut data, &h, dm, t0, sigma, 1.0);
    let lib = fractional_delays(&h, dm, 1e-3);
    let naive = naive_delays_s(&h, dm);
    for (a, b) in lib.iter().zip(&naive) {
        assert!((a - b / 1e-3).abs() < 1e-9, "delay {a} vs {}", b / 1e-3);
    }
    for bs in [500usize, 100_000] {
        let mut obs = MemoryObservation::new(h.clone(), data.clone());
        let out = FddDedisperser { block_size: bs, band_limit: false }.dedisperse(&mut obs, &[dm], 1).unwrap();
        let row = out.data.row(0);
        let maxd = naive.iter().cloned().fold(0.0, f64::max) / 1e-3;
        assert_eq!(row.len(), 4000 - (maxd - 1e-9).ceil() as usize);
        let err = row
            .iter()
            .enumerate()
            .map(|(t, &y)| (y as f64 - 32.0 * (-0.5 * ((t as f64 * 1e-3 - t0) / sigma).powi(2)).exp()).abs())
            .fold(0.0, f64::max);
        assert!(err <= 1e-3 * 32.0, "block {bs}: max deviation {err} from the analytic pulse");
    }
}

/// 64 channels over 1500 → 1000 MHz, 1 ms.
fn wide_header() -> Header {
    header(64, 1500.0, -500.0 / 64.0, 1e-3)
}

/// A dispersed pulse in noise: FDD and direct agree on the best DM (within one trial of each
/// other and of the truth) and on the peak boxcar S/N (within 5 %).
#[test]
fn pulse_same_best_dm_and_snr_as_direct() {
    let h = wide_header();
    let mut data = noise(8192, 64, 11);
    add_pulse(&mut data, &h, 60.0, 4.0, 4e-3, 1.3);
    let dms: Vec<f64> = (0..=20).map(|k| 40.0 + 2.0 * k as f64).collect();
    let best = |out: &tianyan::dedisp::DedispersedSeries| {
        out.data
            .outer_iter()
            .enumerate()
            .map(|(k, r)| (boxcar_snr(r.as_slice().unwrap(), 8).0, k))
            .fold((f64::MIN, 0), |a, b| if b.0 > a.0 { b } else { a })
    };
    let mut obs = MemoryObservation::new(h.clone(), data.clone());
    let fdd = FddDedisperser { block_size: 3000, band_limit: false }.dedisperse(&mut obs, &dms, 1).unwrap();
    let mut obs = MemoryObservation::new(h, data);
    let dir = DirectDedisperser::default().dedisperse(&mut obs, &dms, 1).unwrap();
    let (sf, kf) = best(&fdd);
    let (sd, kd) = best(&dir);
    eprintln!("pulse: FDD S/N {sf:.2} at DM {}, direct S/N {sd:.2} at DM {}", dms[kf], dms[kd]);
    assert!(kf.abs_diff(kd) <= 1 && (dms[kf] - 60.0).abs() <= 2.0);
    assert!(sf > 15.0, "FDD S/N {sf}");
    assert!((sf - sd).abs() <= 0.05 * sd, "FDD {sf} vs direct {sd}");
}

const PSR_P: f64 = 0.2531;
const PSR_DM: f64 = 50.0;

fn pulsar_obs() -> (Header, Array2<f32>) {
    let h = wide_header();
    let mut data = noise(32768, 64, 21);
    add_pulsar(&mut data, &h, PSR_DM, PSR_P, 4.25e-3, 0.12);
    (h, data)
}

fn psr_dms() -> Vec<f64> {
    (0..=20).map(|k| 30.0 + 2.0 * k as f64).collect()
}

/// The same fixed trials count for both dedispersers, so their sigmas compare directly.
fn psr_cfg(ntrials_dm: usize) -> PeriodicConfig {
    PeriodicConfig { nharm_max: 8, fmin_hz: 1.0, total_trials: 1e5 * ntrials_dm as f64, ..PeriodicConfig::default() }
}

/// The strongest candidate whose frequency is within 2 bins (of `tobs_s`) of the pulsar's.
fn psr_cand(cands: &[Candidate], tobs_s: f64) -> Option<Candidate> {
    cands
        .iter()
        .filter(|c| (c.frequency_hz - 1.0 / PSR_P).abs() <= 2.0 / tobs_s)
        .max_by(|a, b| a.sigma.total_cmp(&b.sigma))
        .cloned()
}

/// Best (DM index, candidate) of direct (or FDD) series searched by `search_series`.
fn best_over_series(out: &tianyan::dedisp::DedispersedSeries, cfg: &PeriodicConfig) -> (usize, Candidate) {
    let n = out.data.ncols();
    out.data
        .outer_iter()
        .enumerate()
        .filter_map(|(k, r)| {
            psr_cand(&search_series(r.as_slice().unwrap(), out.tsamp_s, out.dms[k], cfg), n as f64 * out.tsamp_s)
                .map(|c| (k, c))
        })
        .max_by(|a, b| a.1.sigma.total_cmp(&b.1.sigma))
        .expect("pulsar detected in some trial")
}

/// A periodic pulsar: FDD and direct series give the same best DM (within one trial) and the
/// FFT-search S/N agrees within 5 %.
#[test]
fn pulsar_same_best_dm_and_snr_as_direct() {
    let (h, data) = pulsar_obs();
    let dms = psr_dms();
    let cfg = psr_cfg(dms.len());
    let mut obs = MemoryObservation::new(h.clone(), data.clone());
    let fdd = FddDedisperser::default().dedisperse(&mut obs, &dms, 1).unwrap();
    let mut obs = MemoryObservation::new(h, data);
    let dir = DirectDedisperser::default().dedisperse(&mut obs, &dms, 1).unwrap();
    let (kf, cf) = best_over_series(&fdd, &cfg);
    let (kd, cd) = best_over_series(&dir, &cfg);
    eprintln!(
        "pulsar: FDD snr {:.2} sigma {:.2} DM {}, direct snr {:.2} sigma {:.2} DM {}",
        cf.snr, cf.sigma, dms[kf], cd.snr, cd.sigma, dms[kd]
    );
    assert!(kf.abs_diff(kd) <= 1 && (dms[kf] - PSR_DM).abs() <= 2.0);
    assert!(cd.sigma > 8.0, "direct sigma {}", cd.sigma);
    assert!((cf.snr - cd.snr).abs() <= 0.05 * cd.snr, "FDD snr {} vs direct {}", cf.snr, cd.snr);
}

/// Sub-sample advantage: a narrow pulse (σ = 0.5 samples) whose channel delays fall between
/// samples. FDD's exact delays keep more of its peak than direct's rounded ones; S/N (peak over
/// robust noise, same noise realisation) of FDD ≥ direct, noise-free peak gain reported.
#[test]
fn subsample_delays_beat_rounded_delays() {
    let h = wide_header();
    let dm = 43.217;
    let t0 = 2.0004;
    let mut signal = Array2::zeros((4096, 64));
    add_pulse(&mut signal, &h, dm, t0, 0.5e-3, 2.5);
    let mut noisy = noise(4096, 64, 5);
    noisy += &signal;
    let run = |data: &Array2<f32>, fdd: bool| -> Vec<f32> {
        let mut obs = MemoryObservation::new(h.clone(), data.clone());
        let out = if fdd {
            FddDedisperser::default().dedisperse(&mut obs, &[dm], 1).unwrap()
        } else {
            DirectDedisperser::default().dedisperse(&mut obs, &[dm], 1).unwrap()
        };
        out.data.row(0).to_vec()
    };
    let t0i = (t0 / 1e-3).round() as usize;
    let peak = |x: &[f32]| x[t0i - 2..=t0i + 2].iter().cloned().fold(f32::MIN, f32::max) as f64;
    let (pf, pd) = (peak(&run(&signal, true)), peak(&run(&signal, false)));
    let snr = |x: &[f32]| {
        let (s, t) = boxcar_snr(x, 1);
        assert!(t.abs_diff(t0i) <= 1, "peak at {t}, expected {t0i}");
        s
    };
    let (sf, sd) = (snr(&run(&noisy, true)), snr(&run(&noisy, false)));
    eprintln!(
        "sub-sample: noise-free peak FDD {pf:.2} / direct {pd:.2} (gain {:.3}); S/N FDD {sf:.2} / direct {sd:.2} (gain {:.3})",
        pf / pd,
        sf / sd
    );
    assert!(pf > 1.05 * pd, "noise-free peak: FDD {pf} vs direct {pd}");
    assert!(sf >= sd, "S/N: FDD {sf} vs direct {sd}");
}

fn b13_header() -> Header {
    header(64, 1500.0, -1.0, 1e-3)
}

/// TRAPS B13 (a): a sweep (≈600 samples) longer than the data (500) is a clear error, for the
/// block dedisperser and the fused search.
#[test]
fn b13_sweep_longer_than_data_is_an_error() {
    let h = b13_header();
    let mut obs = MemoryObservation::new(h, Array2::zeros((500, 64)));
    let e1 = FddDedisperser::default().dedisperse(&mut obs, &[3631.4], 1).unwrap_err();
    let e2 = fdd_periodic_search(&mut obs, &[3631.4], 1, &PeriodicConfig::default()).unwrap_err();
    for e in [e1, e2] {
        match &e {
            DedispError::Invalid(msg) => assert!(msg.contains("500") && msg.contains("600"), "message: {msg}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}

/// TRAPS B13 (b), FDD version: valid-only output (2000 − ceil(max delay) samples), and no
/// wrap-around. (i) A pulse in every channel at sample 10 (undispersed) dedispersed at DM
/// 3631.4 leaves nothing beyond the first few output samples (a circular shift would put the
/// low channels' pulse at 10 − τ + 2000, inside the valid range). (ii) A dispersed pulse at the
/// end of the valid range appears there (peak 64 ± 2 %) and nothing appears near the start.
#[test]
fn b13_no_wraparound_fdd() {
    let h = b13_header();
    let dm = 3631.4;
    let maxd = naive_delays_s(&h, dm).into_iter().fold(0.0, f64::max) / 1e-3;
    assert!((maxd - 600.0).abs() < 0.5, "max delay {maxd}");
    let nout = 2000 - (maxd - 1e-9).ceil() as usize;
    let mut early = Array2::zeros((2000, 64));
    for c in 0..64 {
        for n in 0..40 {
            early[[n, c]] = (-0.5 * ((n as f64 - 10.0) / 1.5).powi(2)).exp() as f32;
        }
    }
    let mut late = Array2::zeros((2000, 64));
    let tp = nout - 15;
    add_pulse(&mut late, &h, dm, tp as f64 * 1e-3, 2e-3, 1.0);
    for bs in [16384usize, 300] {
        let fdd = FddDedisperser { block_size: bs, band_limit: false };
        let mut obs = MemoryObservation::new(h.clone(), early.clone());
        let y = fdd.dedisperse(&mut obs, &[dm], 1).unwrap().data.row(0).to_vec();
        assert_eq!(y.len(), nout);
        let tail = y[40..].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(tail < 0.01, "block {bs}: |y| up to {tail} after sample 40 (wrap-around?)");

        let mut obs = MemoryObservation::new(h.clone(), late.clone());
        let y = fdd.dedisperse(&mut obs, &[dm], 1).unwrap().data.row(0).to_vec();
        let (imax, vmax) = y.iter().enumerate().fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
        assert!(imax.abs_diff(tp) <= 1 && (vmax - 64.0).abs() < 0.02 * 64.0, "block {bs}: peak {vmax} at {imax}");
        let head = y[..nout - 100].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(head < 0.064, "block {bs}: |y| up to {head} away from the pulse");
    }
}

/// The fused search (one FFT per channel, spectra straight into `search_spectrum`) finds the
/// pulsar at the right frequency (within 1 bin) and DM (within one trial), with sigma within
/// 10 % of direct dedispersion + `search_series`.
#[test]
fn fused_search_matches_direct_search() {
    let (h, data) = pulsar_obs();
    let dms = psr_dms();
    let cfg = psr_cfg(dms.len());
    let tobs = 32768.0 * 1e-3;
    let mut obs = MemoryObservation::new(h.clone(), data.clone());
    let cands = fdd_periodic_search(&mut obs, &dms, 1, &cfg).unwrap();
    assert!(cands.windows(2).all(|w| w[0].sigma >= w[1].sigma), "sorted by sigma");
    let top = psr_cand(&cands, tobs).expect("pulsar found by the fused search");
    let mut obs = MemoryObservation::new(h, data);
    let dir = DirectDedisperser::default().dedisperse(&mut obs, &dms, 1).unwrap();
    let (kd, cd) = best_over_series(&dir, &cfg);
    eprintln!(
        "fused: f {:.5} Hz DM {} sigma {:.2} snr {:.2}; direct+search_series: DM {} sigma {:.2} snr {:.2}",
        top.frequency_hz, top.dm, top.sigma, top.snr, dms[kd], cd.sigma, cd.snr
    );
    assert!((top.frequency_hz - 1.0 / PSR_P).abs() <= 1.0 / tobs, "frequency {}", top.frequency_hz);
    assert!((top.dm - PSR_DM).abs() <= 2.0 && (top.dm - dms[kd]).abs() <= 2.0, "DM {}", top.dm);
    assert!((top.sigma - cd.sigma).abs() <= 0.1 * cd.sigma, "sigma {} vs direct {}", top.sigma, cd.sigma);
    assert!(
        (cands[0].frequency_hz * PSR_P - (cands[0].frequency_hz * PSR_P).round()).abs() < 0.01,
        "top candidate is a harmonic of the pulsar"
    );
}

/// Band-limiting at high DM (few wide channels, 68 Hz top-channel cut-off vs 1 kHz Nyquist):
/// the pulsar is still found at the right frequency and DM, with sigma ≥ 90 % of the
/// full-band fused search (fewer bins searched also means fewer trials).
#[test]
fn band_limited_fused_search_keeps_the_pulsar() {
    let h = header(16, 1500.0, -20.0, 0.5e-3);
    let mut data = noise(32768, 16, 31);
    let (p, dm) = (0.1, 300.0);
    add_pulsar(&mut data, &h, dm, p, 6e-3, 0.25);
    let dms: Vec<f64> = (0..=10).map(|k| 250.0 + 10.0 * k as f64).collect();
    let cfg = psr_cfg(dms.len());
    let tobs = 32768.0 * 0.5e-3;
    // Cut-offs against the formula written out here: bins ≤ N·tsamp / t_chan, t_chan = 2 K_DM DM Δν / f³.
    let lim = band_limits(&h, dm, 0.5e-3, 32768);
    for (c, &l) in lim.iter().enumerate() {
        let f = 1500.0 - 20.0 * c as f64;
        let t_chan = 2.0 * K_DM * dm * 20.0 / (f * f * f);
        assert_eq!(l, (32768.0 * 0.5e-3 / t_chan).floor() as usize + 1, "channel {c}");
    }
    assert!(lim[0] < 1200 && lim[15] < lim[0], "top-channel cut-off {} bins of 16385", lim[0]);
    let mut res = Vec::new();
    for band_limit in [false, true] {
        let mut obs = MemoryObservation::new(h.clone(), data.clone());
        let cands = FddDedisperser { block_size: 4096, band_limit }.periodic_search(&mut obs, &dms, 1, &cfg).unwrap();
        let top = cands
            .iter()
            .filter(|c| (c.frequency_hz - 1.0 / p).abs() <= 1.0 / tobs)
            .max_by(|a, b| a.sigma.total_cmp(&b.sigma))
            .cloned()
            .expect("pulsar found");
        assert!((top.dm - dm).abs() <= 10.0, "band_limit {band_limit}: DM {}", top.dm);
        res.push(top.sigma);
    }
    eprintln!("band-limit: sigma full band {:.2}, band-limited {:.2}", res[0], res[1]);
    assert!(res[0] > 8.0 && res[1] >= 0.9 * res[0], "sigma {res:?}");
}

/// Same bytes whatever the thread count (1 or 2 rayon threads), block and fused paths.
#[test]
fn deterministic_across_thread_counts() {
    let h = wide_header();
    let mut data = noise(6000, 64, 2);
    add_pulsar(&mut data, &h, 30.0, 0.05, 2e-3, 0.3);
    let dms: Vec<f64> = (0..13).map(|k| 5.0 * k as f64).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut obs = MemoryObservation::new(h.clone(), data.clone());
            let s = FddDedisperser { block_size: 1000, band_limit: true }.dedisperse(&mut obs, &dms, 1).unwrap();
            let mut obs = MemoryObservation::new(h.clone(), data.clone());
            let c = fdd_periodic_search(&mut obs, &dms, 2, &psr_cfg(13)).unwrap();
            (s.data, c.iter().map(|c| (c.sigma.to_bits(), c.fft_bin.to_bits(), c.dm.to_bits())).collect::<Vec<_>>())
        })
    };
    let (a, b) = (run(1), run(2));
    assert!(a.0 == b.0, "series differ between 1 and 2 threads");
    assert!(!a.1.is_empty() && a.1 == b.1, "candidates differ between 1 and 2 threads");
}

/// An observation whose header promises far more data than could be transformed at once.
struct HugeObservation(Header);
impl Observation for HugeObservation {
    fn header(&self) -> &Header {
        &self.0
    }
    fn read_block(&mut self, _: u64, _: usize) -> Result<Array2<f32>, IoError> {
        panic!("the memory limit must be checked before reading");
    }
    fn source_description(&self) -> String {
        "huge.fil".into()
    }
}

/// Bad parameters and over-large fused transforms are clear errors, never panics.
#[test]
fn invalid_inputs_are_errors() {
    let mut huge = HugeObservation(Header { nsamples: 1 << 30, ..header(4096, 1500.0, -0.1, 1e-4) });
    let err = fdd_periodic_search(&mut huge, &[10.0], 1, &PeriodicConfig::default()).unwrap_err();
    assert!(
        matches!(&err, DedispError::Invalid(m) if m.contains("--dedisp direct") && m.contains("huge.fil")),
        "{err}"
    );

    let h = wide_header();
    let mut obs = MemoryObservation::new(h, Array2::zeros((1000, 64)));
    let ok = FddDedisperser::default();
    for (fdd, dms, ds) in [
        (ok, vec![1.0], 0usize),
        (FddDedisperser { block_size: 0, band_limit: false }, vec![1.0], 1),
        (ok, vec![-1.0], 1),
        (ok, vec![f64::NAN], 1),
        (ok, vec![], 1),
    ] {
        assert!(matches!(fdd.dedisperse(&mut obs, &dms, ds), Err(DedispError::Invalid(_))), "dms {dms:?} ds {ds}");
        assert!(matches!(
            fdd.periodic_search(&mut obs, &dms, ds, &PeriodicConfig::default()),
            Err(DedispError::Invalid(_))
        ));
    }
}

/// Real data: FRB 180417 (`your/28.fil`, DM 475.28) dedispersed by FDD peaks at the same DM
/// (within one 0.5 trial) and time as direct dedispersion, with S/N within 10 %.
#[test]
fn frb180417_fdd_peaks_at_direct_dm() {
    use tianyan::search::single_pulse::{ChannelNormConfig, NormalisedObservation};
    let Some(path) = common::shared_data("your/28.fil") else { return };
    let dms: Vec<f64> = (0..=40).map(|k| 465.0 + 0.5 * k as f64).collect();
    let mut best = Vec::new();
    for fdd in [true, false] {
        let inner = tianyan::open_observation(&[path.clone()]).unwrap();
        let mut obs = NormalisedObservation::new(inner, &ChannelNormConfig::default()).unwrap();
        let out = if fdd {
            FddDedisperser::default().dedisperse(&mut obs, &dms, 1).unwrap()
        } else {
            DirectDedisperser::default().dedisperse(&mut obs, &dms, 1).unwrap()
        };
        let b = out
            .data
            .outer_iter()
            .enumerate()
            .map(|(k, r)| {
                let (s, t) = boxcar_snr(r.as_slice().unwrap(), 2);
                (s, k, t)
            })
            .fold((f64::MIN, 0, 0), |a, b| if b.0 > a.0 { b } else { a });
        best.push((b, out.tsamp_s));
    }
    let ((sf, kf, tf), ts) = best[0];
    let ((sd, kd, td), _) = best[1];
    eprintln!(
        "FRB 180417: FDD S/N {sf:.2} DM {} t {:.5} s; direct S/N {sd:.2} DM {} t {:.5} s",
        dms[kf],
        tf as f64 * ts,
        dms[kd],
        td as f64 * ts
    );
    assert!(kf.abs_diff(kd) <= 1, "DM {} vs {}", dms[kf], dms[kd]);
    assert!((dms[kf] - 475.284).abs() <= 1.5);
    assert!(tf.abs_diff(td) <= 2 && (tf as f64 * ts - 2.02888).abs() <= 3.0 * ts);
    assert!((sf - sd).abs() <= 0.1 * sd, "S/N {sf} vs {sd}");
}
