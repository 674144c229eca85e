//! Single-pulse search: TRAPS B29, synthetic detections, false-alarm rate, clustering, and the
//! real FRB 180417 / FRB 121102 files (PROVENANCE.md sections A, B, G).
mod common;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tianyan::consts::dispersion_delay_s;
use tianyan::dedisp::direct::DirectDedisperser;
use tianyan::dedisp::{DedispersedSeries, Dedisperser};
use tianyan::search::single_pulse::{
    boxcar_search, cluster, detrend_normalise, search_dedispersed, search_dm_series, BoxcarHit, ChannelNormConfig,
    ClusterConfig, NormalisedObservation, SinglePulseConfig,
};
use tianyan::search::SinglePulse;
use tianyan::{Header, MemoryObservation};

fn normal_series(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.sample::<f32, _>(StandardNormal)).collect()
}

/// Naive twin of `boxcar_search`: direct O(N·w) sums, same run/peak rule.
fn naive_boxcar_search(x: &[f32], widths: &[usize], threshold: f32) -> Vec<BoxcarHit> {
    let mut hits = Vec::new();
    for &w in widths {
        if w == 0 || w > x.len() {
            continue;
        }
        // Noise of width-w sums: 1.4826·MAD of sums at starts max(1, w/2) apart (sorted medians).
        let sum = |j: usize| x[j..j + w].iter().map(|&v| v as f64).sum::<f64>();
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let k = v.len();
            if k % 2 == 1 {
                v[k / 2]
            } else {
                0.5 * (v[k / 2 - 1] + v[k / 2])
            }
        };
        let sums: Vec<f64> = (0..=x.len() - w).step_by((w / 2).max(1)).map(sum).collect();
        let sigma = if sums.len() >= 64 {
            let med = median(sums.clone());
            1.4826 * median(sums.iter().map(|s| (s - med).abs()).collect())
        } else {
            (w as f64).sqrt()
        };
        let snr: Vec<f32> = (0..=x.len() - w).map(|j| (sum(j) / sigma) as f32).collect();
        let mut j = 0;
        while j < snr.len() {
            if snr[j] >= threshold {
                let mut best = j;
                while j < snr.len() && snr[j] >= threshold {
                    if snr[j] > snr[best] {
                        best = j;
                    }
                    j += 1;
                }
                hits.push(BoxcarHit { start: best, width: w, snr: snr[best] });
            } else {
                j += 1;
            }
        }
    }
    hits
}

#[test]
fn boxcar_search_matches_naive_twin() {
    let mut x = normal_series(5000, 11);
    for v in &mut x[2000..2030] {
        *v += 1.5;
    }
    let widths = [1, 2, 3, 4, 6, 9, 14, 20, 30, 45];
    let fast = boxcar_search(&x, &widths, 2.5);
    let slow = naive_boxcar_search(&x, &widths, 2.5);
    assert!(fast.len() > 10, "expected hits, got {}", fast.len());
    assert_eq!(fast.len(), slow.len());
    for (a, b) in fast.iter().zip(&slow) {
        assert_eq!((a.start, a.width), (b.start, b.width));
        // The fast code takes medians of f32 sums; agreement to 1e-3 relative.
        assert!((a.snr - b.snr).abs() < 1e-3 * b.snr.abs().max(1.0), "{a:?} vs {b:?}");
    }
}

/// TRAPS B29: top-hat of width 9, amplitude 2 at sample 5000 in unit-variance noise.
#[test]
fn b29_top_hat_width9_snr_and_start_time() {
    let tsamp = 1e-3;
    let cfg = SinglePulseConfig { snr_threshold: 3.0, ..Default::default() };
    let run = |seed: u64| -> SinglePulse {
        let mut x = normal_series(10_000, seed);
        for v in &mut x[5000..5009] {
            *v += 2.0;
        }
        let ev: Vec<SinglePulse> = search_dm_series(&x, 0.0, tsamp, 1, &cfg)
            .into_iter()
            .filter(|e| (4950..5050).contains(&e.sample))
            .collect();
        *ev.iter().max_by(|a, b| a.snr.total_cmp(&b.snr)).expect("pulse found")
    };
    let best = run(29);
    println!("B29 seed 29: {best:?}");
    assert!([6, 9, 14].contains(&best.width_samples), "best width {}", best.width_samples);
    assert!((best.snr - 6.0).abs() <= 1.5, "S/N {}", best.snr);
    assert!((5000..=5008).contains(&best.sample), "start sample {}", best.sample);
    assert!((best.time_s - best.sample as f64 * tsamp).abs() < 1e-12);
    // Over 200 noise realisations: the S/N of the true boxcar (start 5000, width 9) after
    // detrending and normalisation averages 2·sqrt(9) = 6 (standard error 0.07), the best event
    // slightly more (the maximum over starts and widths picks up noise), and the start sits at 5000.
    let seeds = 100..300u64;
    let nseeds = seeds.clone().count() as f64;
    let mut mean_true = 0.0;
    for seed in seeds.clone() {
        let mut x = normal_series(10_000, seed);
        for v in &mut x[5000..5009] {
            *v += 2.0;
        }
        let (y, sigma) = detrend_normalise(&x, 1000);
        assert!((sigma - 1.0).abs() < 0.1, "sigma {sigma}");
        mean_true += y[5000..5009].iter().map(|&v| v as f64).sum::<f64>() / 3.0 / nseeds;
    }
    let runs: Vec<SinglePulse> = seeds.map(run).collect();
    let mean_best = runs.iter().map(|e| e.snr as f64).sum::<f64>() / nseeds;
    let n9 = runs.iter().filter(|e| e.width_samples == 9).count();
    let in_window = runs.iter().filter(|e| (4996..=5008).contains(&e.sample)).count();
    println!(
        "B29 200 seeds: mean S/N of the true boxcar {mean_true:.3}, of the best event {mean_best:.3}, \
         width 9 in {n9}/200, start 4996..5008 in {in_window}/200"
    );
    assert!((mean_true - 6.0).abs() < 0.25, "mean true-boxcar S/N {mean_true}");
    assert!((mean_true..=mean_true + 0.6).contains(&mean_best), "mean best S/N {mean_best}");
    assert!(in_window >= 180, "start near 5000 in only {in_window}/200 runs");
}

/// TRAPS B29: boxcar normalisation on noiseless data: Σx/sqrt(w).
#[test]
fn b29_boxcar_normalisation_noiseless() {
    let mut x = vec![0.0f32; 10_000];
    for v in &mut x[5000..5009] {
        *v = 2.0;
    }
    let best = |w: usize| -> BoxcarHit {
        let h = boxcar_search(&x, &[w], 0.1);
        assert_eq!(h.len(), 1, "one peak per width, got {h:?}");
        h[0]
    };
    let expect_3 = 2.0 * 3.0 / 3f32.sqrt(); // 3.464
    let expect_27 = 2.0 * 9.0 / 27f32.sqrt(); // 3.464
    assert!((best(3).snr - expect_3).abs() < 1e-5, "{:?}", best(3));
    assert!((best(27).snr - expect_27).abs() < 1e-5, "{:?}", best(27));
    assert!((best(9).snr - 6.0).abs() < 1e-5);
    assert_eq!(best(9).start, 5000);
    assert_eq!(best(3).start, 5000);
}

/// TRAPS B29: a constant series (zero variance) gives no events and no inf/NaN, at any threshold.
#[test]
fn b29_constant_series_no_events() {
    for value in [0.0f32, 7.0, -3.5e6] {
        let x = vec![value; 10_000];
        for thr in [6.0f32, 0.0, -10.0] {
            let cfg = SinglePulseConfig { snr_threshold: thr, ..Default::default() };
            let ev = search_dm_series(&x, 10.0, 1e-3, 1, &cfg);
            assert!(ev.is_empty(), "value {value} threshold {thr}: {} events", ev.len());
        }
    }
    // Half constant (zero padding), half noise with a pulse: events only from the noisy half, all finite.
    let mut x = normal_series(20_000, 5);
    for v in &mut x[10_000..] {
        *v = 0.0;
    }
    for v in &mut x[3000..3010] {
        *v += 4.0;
    }
    let ev = search_dm_series(&x, 10.0, 1e-3, 1, &SinglePulseConfig::default());
    assert!(ev.iter().all(|e| e.snr.is_finite() && e.time_s.is_finite()));
    assert!(ev.iter().all(|e| e.sample < 10_000), "event in the constant half: {ev:?}");
    let top = ev.iter().max_by(|a, b| a.snr.total_cmp(&b.snr)).expect("pulse found");
    assert!((2995..=3005).contains(&top.sample) && top.snr > 10.0, "{top:?}");
    // A whole DedispersedSeries of constants.
    let s =
        DedispersedSeries { dms: vec![0.0, 1.0], tsamp_s: 1e-3, downsamp: 1, data: Array2::from_elem((2, 5000), 3.0) };
    assert!(search_dedispersed(&s, &SinglePulseConfig { snr_threshold: 0.0, ..Default::default() }).is_empty());
}

#[allow(clippy::too_many_arguments)]
/// Builds a `[nsamples][nchans]` observation of unit-variance noise with a top-hat pulse of
/// `width` samples and per-channel amplitude `amp`, arriving at sample `t0` at the top channel
/// and dispersed at `dm` (delays rounded to the nearest sample, as the direct dedisperser does).
fn dispersed_obs(
    nchans: usize,
    fch1: f64,
    foff: f64,
    tsamp: f64,
    nsamples: usize,
    dm: f64,
    t0: usize,
    width: usize,
    amp: f32,
    seed: u64,
) -> MemoryObservation {
    let header = Header {
        source_name: "sp_test".into(),
        tsamp_s: tsamp,
        fch1_mhz: fch1,
        foff_mhz: foff,
        nchans,
        nbits: 32,
        ..Default::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Array2::<f32>::zeros((nsamples, nchans));
    data.iter_mut().for_each(|v| *v = rng.sample::<f32, _>(StandardNormal));
    for c in 0..nchans {
        let f = fch1 + c as f64 * foff;
        let d = (dispersion_delay_s(dm, f, fch1) / tsamp).round() as usize;
        for t in t0 + d..(t0 + d + width).min(nsamples) {
            data[[t, c]] += amp;
        }
    }
    MemoryObservation::new(header, data)
}

/// TRAPS B29, dispersed case: a pulse arriving at sample 5000 at 1500 MHz (the top channel of
/// 64 × 1 MHz, 1500 → 1437 MHz, tsamp 1 ms) is reported at sample 5000 after dedispersion.
#[test]
fn b29_dispersed_pulse_time_referred_to_top_of_band() {
    let dm = 500.0;
    let mut obs = dispersed_obs(64, 1500.0, -1.0, 1e-3, 10_000, dm, 5000, 9, 0.5, 291);
    let dms: Vec<f64> = (0..21).map(|i| 480.0 + 2.0 * i as f64).collect();
    let s = DirectDedisperser::default().dedisperse(&mut obs, &dms, 1).expect("dedisperse");
    let ev = search_dedispersed(&s, &SinglePulseConfig::default());
    let top = ev.first().expect("pulse found");
    println!("B29 dispersed: top {top:?}, {} clusters", ev.len());
    assert!((top.dm - dm).abs() <= 2.0, "DM {}", top.dm);
    assert!((5000..=5008).contains(&top.sample), "sample {} (expected 5000, start of boxcar)", top.sample);
    assert!((top.time_s - 5.0).abs() <= 0.0085, "time {}", top.time_s);
    // Expected S/N: 64·0.5·9 / (8·3) = 12.
    assert!((top.snr - 12.0).abs() < 2.5, "S/N {}", top.snr);
    assert!(top.n_members > 5);
}

/// A pulse of known S/N 12 (top-hat, 20 samples) at DM 300 in 64 channels 1500 → 1248 MHz.
#[test]
fn synthetic_snr12_pulse_found_at_dm_time_width() {
    let (nchans, width, dm, t0, tsamp) = (64usize, 20usize, 300.0, 12_000usize, 5e-4);
    // Dedispersed noise σ = sqrt(64) = 8; S/N = 64·a·w / (8·sqrt(w)) = 8·a·sqrt(w) = 12.
    let amp = (12.0 / (8.0 * (width as f64).sqrt())) as f32;
    let dms: Vec<f64> = (0..41).map(|i| 200.0 + 5.0 * i as f64).collect();
    for seed in [1u64, 2, 3] {
        let mut obs = dispersed_obs(nchans, 1500.0, -4.0, tsamp, 1 << 15, dm, t0, width, amp, seed);
        let s = DirectDedisperser::default().dedisperse(&mut obs, &dms, 1).expect("dedisperse");
        let ev = search_dedispersed(&s, &SinglePulseConfig::default());
        let top = ev.first().expect("pulse found");
        println!("seed {seed}: top {top:?}; next {:?}", ev.get(1));
        assert!((top.dm - dm).abs() <= 5.0, "DM {} not within 1 trial of {dm}", top.dm);
        assert!(
            (top.time_s - t0 as f64 * tsamp).abs() <= 2.0 * top.width_s,
            "time {} vs {}",
            top.time_s,
            t0 as f64 * tsamp
        );
        let ratio = top.width_samples as f64 / width as f64;
        assert!((1.0 / 1.5..=1.5).contains(&ratio), "width {}", top.width_samples);
        assert!((top.snr - 12.0).abs() < 2.5, "S/N {}", top.snr);
        assert!(ev.get(1).is_none_or(|e| e.snr < 7.0), "second event {:?}", ev.get(1));
    }
}

/// Pure Gaussian noise, 64 DM trials × 2^17 samples, 3 seeds: nothing above S/N 7 after clustering.
#[test]
fn pure_noise_no_event_above_7() {
    let (ndm, n) = (64usize, 1usize << 17);
    let mut raw_above6 = 0usize;
    let mut clustered_above6 = 0usize;
    let mut width1_above4 = 0usize;
    for seed in [7u64, 8, 9] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut data = Array2::<f32>::zeros((ndm, n));
        data.iter_mut().for_each(|v| *v = rng.sample::<f32, _>(StandardNormal));
        let dms: Vec<f64> = (0..ndm).map(|i| i as f64).collect();
        let cfg = SinglePulseConfig::default();
        let cfg1 = SinglePulseConfig { snr_threshold: 4.0, widths: Some(vec![1]), ..Default::default() };
        for (row, &dm) in data.rows().into_iter().zip(&dms) {
            let row = row.as_slice().unwrap();
            raw_above6 += search_dm_series(row, dm, 1e-3, 1, &cfg).len();
            width1_above4 += search_dm_series(row, dm, 1e-3, 1, &cfg1).len();
        }
        let s = DedispersedSeries { dms, tsamp_s: 1e-3, downsamp: 1, data };
        let ev = search_dedispersed(&s, &cfg);
        clustered_above6 += ev.len();
        if let Some(top) = ev.first() {
            assert!(top.snr < 7.0, "seed {seed}: noise event {top:?}");
        }
    }
    let samples = (3 * ndm * n) as f64;
    println!(
        "pure noise: {raw_above6} raw events >= 6 ({:.2e} per sample per trial), {clustered_above6} clusters",
        raw_above6 as f64 / samples
    );
    // Noise calibration: width-1 events above 4 are single samples above 4σ (runs of two are
    // ~3e-5 times rarer); expected count = samples · P(z ≥ 4) = samples · 3.167e-5 (Poisson σ ≈ 28).
    let expected4 = samples * 3.167e-5;
    println!("width 1, S/N >= 4: {width1_above4} events, Gaussian expectation {expected4:.0}");
    assert!((width1_above4 as f64 - expected4).abs() < 0.15 * expected4, "{width1_above4} vs {expected4}");
    // Gaussian tail P(>6σ) ≈ 1e-9 per independent trial; with ~15 correlated widths the raw rate
    // must stay far below 1e-6 per sample.
    assert!((raw_above6 as f64) / samples < 1e-6);
}

fn ev(time_s: f64, dm: f64, width: u32, snr: f32) -> SinglePulse {
    let tsamp = 1e-3;
    SinglePulse {
        time_s,
        sample: (time_s / tsamp).round() as u64,
        dm,
        width_s: width as f64 * tsamp,
        width_samples: width,
        snr,
        n_members: 1,
        rfi_flag: 0,
    }
}

/// A burst seen at 20 neighbouring DM trials and 3 widths is one event; a second burst 1 s later
/// stays separate.
#[test]
fn cluster_burst_over_20_dms_and_3_widths() {
    let grid: Vec<f64> = (0..100).map(|i| 100.0 + i as f64).collect();
    let mut events = Vec::new();
    for (burst, t_c) in [(0, 2.0f64), (1, 3.0)] {
        for k in 0..20 {
            let dm = 140.0 + k as f64;
            // The arrival time drifts with the DM error (sweep residual), the S/N peaks at the centre.
            let t = t_c + 0.0004 * (k as f64 - 10.0);
            for (wi, w) in [4u32, 6, 9].into_iter().enumerate() {
                let snr = 12.0 + burst as f32 - 0.3 * (k as f32 - 10.0).abs() - 0.5 * wi as f32;
                events.push(ev(t - 0.001 * wi as f64, dm, w, snr));
            }
        }
    }
    events.push(ev(2.5, 300.0 - 100.0, 2, 6.1)); // unrelated noise event
    let out = cluster(events, &ClusterConfig { dm_trials: grid, ..Default::default() });
    println!("{out:?}");
    assert_eq!(out.len(), 3);
    assert_eq!((out[0].time_s, out[0].dm, out[0].snr, out[0].n_members), (3.0, 150.0, 13.0, 60));
    assert_eq!((out[1].time_s, out[1].dm, out[1].snr, out[1].n_members), (2.0, 150.0, 12.0, 60));
    assert_eq!(out[2].n_members, 1);
}

/// Naive twin of `cluster`: O(N²) friends-of-friends with the same friendship rule.
fn naive_cluster(events: &[SinglePulse], grid: &[f64], cfg: &ClusterConfig) -> Vec<(u64, u32)> {
    let n = events.len();
    let trial = |dm: f64| {
        grid.iter()
            .enumerate()
            .min_by(|a, b| (a.1 - dm).abs().total_cmp(&(b.1 - dm).abs()))
            .map(|(i, _)| i as i64)
            .unwrap()
    };
    let friends = |a: &SinglePulse, b: &SinglePulse| {
        let gap = a.time_s.max(b.time_s) - (a.time_s + a.width_s).min(b.time_s + b.width_s);
        (trial(a.dm) - trial(b.dm)).abs() <= cfg.dm_link_trials as i64
            && gap <= cfg.time_link_s + cfg.time_link_widths * a.width_s.min(b.width_s)
    };
    let mut label: Vec<usize> = (0..n).collect();
    loop {
        let mut changed = false;
        for i in 0..n {
            for j in 0..n {
                if label[j] < label[i] && friends(&events[i], &events[j]) {
                    label[i] = label[j];
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut out: Vec<(u64, u32)> = (0..n)
        .filter(|r| label.contains(r))
        .map(|r| {
            let members: Vec<usize> = (0..n).filter(|&i| label[i] == r).collect();
            let best = members.iter().copied().max_by(|&a, &b| events[a].snr.total_cmp(&events[b].snr)).unwrap();
            (events[best].sample, members.len() as u32)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn cluster_matches_naive_twin() {
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let grid: Vec<f64> = (0..30).map(|i| 2.0 * i as f64).collect();
    let widths = [1u32, 2, 4, 9, 20];
    let events: Vec<SinglePulse> = (0..400)
        .map(|_| {
            // Distinct S/N values so the brightest member is unique.
            ev(
                rng.gen_range(0..20_000) as f64 * 1e-3,
                grid[rng.gen_range(0..30)],
                widths[rng.gen_range(0..5)],
                rng.gen_range(6.0f32..20.0),
            )
        })
        .collect();
    let cfg = ClusterConfig { dm_trials: grid.clone(), dm_link_trials: 2, time_link_widths: 1.0, time_link_s: 0.002 };
    let fast = cluster(events.clone(), &cfg);
    let mut fast_rows: Vec<(u64, u32)> = fast.iter().map(|e| (e.sample, e.n_members)).collect();
    fast_rows.sort();
    let slow = naive_cluster(&events, &grid, &cfg);
    assert!(fast.len() < 400 && fast.len() > 100, "{} clusters", fast.len());
    assert_eq!(fast_rows, slow);
    assert_eq!(fast.iter().map(|e| e.n_members).sum::<u32>(), 400);
    assert!(fast.windows(2).all(|w| w[0].snr >= w[1].snr));
}

/// Dedisperses a real file (channel-normalised, zero-variance channels zapped) over `dms`
/// and returns the clustered events.
fn search_real(path: &std::path::Path, dms: &[f64]) -> Option<(Vec<SinglePulse>, usize)> {
    let obs = tianyan::open_observation(&[path.to_path_buf()]).expect("open the real file");
    let mut norm = NormalisedObservation::new(obs, &ChannelNormConfig::default()).expect("channel stats");
    let nzap = norm.zapped().iter().filter(|&&z| z).count();
    let s = DirectDedisperser::default().dedisperse(&mut norm, dms, 1).expect("dedisperse");
    Some((search_dedispersed(&s, &SinglePulseConfig::default()), nzap))
}

fn check_frb(ev: &[SinglePulse], dm: f64, t: f64, snr: f32, label: &str) {
    let top = ev.first().expect("no events");
    println!("{label}: top {top:?}");
    for e in ev.iter().take(4) {
        println!("  {e:?}");
    }
    assert!((top.dm - dm).abs() <= 0.01 * dm, "{label}: DM {} vs {dm}", top.dm);
    assert!((top.time_s - t).abs() <= 2.0 * top.width_s, "{label}: t {} vs {t} (width {} s)", top.time_s, top.width_s);
    assert!((top.snr - snr).abs() <= 0.25 * snr, "{label}: S/N {} vs {snr}", top.snr);
}

/// FRB 180417 (PROVENANCE A): DM 475.28, t 2.029 s (boxcar start 2.0276 s), S/N 15.8.
#[test]
fn real_frb180417_28_fil() {
    let Some(p) = common::shared_data("your/28.fil") else { return };
    let dms: Vec<f64> = (0..=300).map(|i| 400.0 + 0.5 * i as f64).collect();
    let Some((ev, nzap)) = search_real(&p, &dms) else { return };
    println!("28.fil: {nzap} channels zapped, {} clusters", ev.len());
    check_frb(&ev, 475.284, 2.02888, 15.8, "28.fil");
}

/// The same burst in PSRFITS (PROVENANCE B; 403 zero-padded samples at the end).
#[test]
fn real_frb180417_28_fits() {
    let Some(p) = common::shared_data("your/28.fits") else { return };
    let dms: Vec<f64> = (0..=300).map(|i| 400.0 + 0.5 * i as f64).collect();
    let Some((ev, nzap)) = search_real(&p, &dms) else { return };
    println!("28.fits: {nzap} channels zapped, {} clusters", ev.len());
    check_frb(&ev, 475.284, 2.02888, 15.8, "28.fits");
}

/// FRB 121102 (PROVENANCE G): DM 565.3, t 2.0 s, S/N 12.5; channels 53–63 are all zero.
#[test]
fn real_frb121102_burstfit() {
    let Some(p) = common::shared_data("burstfit/tcand_2_dm_565.30000_snr_11.92560.fil") else { return };
    let dms: Vec<f64> = (0..=100).map(|i| 540.0 + 0.5 * i as f64).collect();
    let Some((ev, nzap)) = search_real(&p, &dms) else { return };
    println!("121102: {nzap} channels zapped, {} clusters", ev.len());
    assert_eq!(nzap, 11, "channels 53-63 are zero-variance");
    check_frb(&ev, 565.3, 2.0, 12.5, "121102");
}
