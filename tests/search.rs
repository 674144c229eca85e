//! FFT periodicity search: spectrum conventions (TRAPS B16, B17), whitening statistics,
//! interbinning, harmonic summing, noise false alarms, red noise, sifting and real data.

mod common;

use num_complex::Complex32;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tianyan::search::harmonic::{harmonic_stages, harmonic_sum};
use tianyan::search::periodic::{search_series, search_spectrum, PeriodicConfig};
use tianyan::search::sift::{sift, sift_on_grid, SiftConfig};
use tianyan::search::spectrum::{
    halfbin_powers_plain, interbin_powers, powers, presto_pack, real_spectrum, whiten_spectrum,
};
use tianyan::search::Candidate;

fn noise(n: usize, seed: u64, sigma: f32) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = Normal::new(0.0f32, sigma).unwrap();
    (0..n).map(|_| d.sample(&mut rng)).collect()
}

fn add_tone(x: &mut [f32], freq_hz: f64, tsamp_s: f64, amp: f64) {
    for (i, v) in x.iter_mut().enumerate() {
        *v += (amp * (2.0 * std::f64::consts::PI * freq_hz * i as f64 * tsamp_s).cos()) as f32;
    }
}

/// Plain O(N²) DFT in f64: the naive twin of `real_spectrum`.
fn naive_dft(x: &[f32]) -> Vec<(f64, f64)> {
    let n = x.len();
    (0..=n / 2)
        .map(|k| {
            let mut re = 0.0;
            let mut im = 0.0;
            for (t, &v) in x.iter().enumerate() {
                let ph = -2.0 * std::f64::consts::PI * ((k * t) % n) as f64 / n as f64;
                re += v as f64 * ph.cos();
                im += v as f64 * ph.sin();
            }
            (re, im)
        })
        .collect()
}

#[test]
fn real_spectrum_matches_naive_dft_any_length() {
    for &n in &[7usize, 8, 30, 101, 256, 1001] {
        let x = noise(n, 40 + n as u64, 1.0);
        let fast = real_spectrum(&x);
        let slow = naive_dft(&x);
        assert_eq!(fast.len(), n / 2 + 1);
        let scale = (n as f64).sqrt();
        for (a, b) in fast.iter().zip(&slow) {
            assert!((a.re as f64 - b.0).abs() < 1e-4 * scale, "n={n}");
            assert!((a.im as f64 - b.1).abs() < 1e-4 * scale, "n={n}");
        }
    }
}

#[test]
fn b17_dft_values_and_presto_packing() {
    let x: Vec<f32> = (1..=8).map(|v| v as f32).collect();
    let s = real_spectrum(&x);
    assert_eq!(s.len(), 5);
    let expect = [(36.0, 0.0), (-4.0, 9.6569), (-4.0, 4.0), (-4.0, 1.6569), (-4.0, 0.0)];
    for (c, e) in s.iter().zip(expect.iter()) {
        assert!((c.re - e.0).abs() < 1e-4 && (c.im - e.1).abs() < 1e-4, "{c} vs {e:?}");
    }
    let packed = presto_pack(&s, 8).unwrap();
    assert_eq!(packed.len(), 4);
    assert_eq!(packed[0], Complex32::new(36.0, -4.0));
    assert!((packed[1].im - 9.6569).abs() < 1e-4);
    // odd lengths have no PRESTO packing
    assert!(presto_pack(&real_spectrum(&noise(9, 1, 1.0)), 9).is_err());
}

#[test]
fn b17_search_never_reports_dc_or_nyquist() {
    // Spectrum with enormous DC and Nyquist terms over white noise.
    let n = 4096usize;
    let x = noise(n, 17, 1.0);
    let mut spec = real_spectrum(&x);
    spec[0] = Complex32::new(1.0e6, 0.0);
    let last = spec.len() - 1;
    spec[last] = Complex32::new(1.0e6, 0.0);
    let cfg = PeriodicConfig { fmin_hz: 0.0, ..Default::default() };
    let c = search_spectrum(&spec, n, 1e-3, 0.0, &cfg);
    for cand in &c {
        assert!(cand.fft_bin >= 1.0 && cand.fft_bin < (n / 2) as f64 - 0.5, "reported {cand:?}");
    }
    // Same through search_series: a constant offset plus an alternating (Nyquist) sequence.
    let y: Vec<f32> = x.iter().enumerate().map(|(i, v)| v + 1000.0 + if i % 2 == 0 { 50.0 } else { -50.0 }).collect();
    let c = search_series(&y, 1e-3, 0.0, &cfg);
    for cand in &c {
        assert!(cand.fft_bin >= 1.0 && cand.fft_bin < (n / 2) as f64 - 0.5, "reported {cand:?}");
    }
}

#[test]
fn b16_odd_and_other_lengths() {
    let dt: f64 = 1e-3;
    let f0: f64 = 50.0 / (1001.0 * dt); // 49.95005 Hz
    assert!((f0 - 49.95005).abs() < 1e-5);
    for &n in &[1001usize, 1000, 1024] {
        let mut x = noise(n, 16, 1.0);
        add_tone(&mut x, f0, dt, 0.5);
        let spec = real_spectrum(&x);
        assert_eq!(spec.len(), n / 2 + 1);
        let cfg = PeriodicConfig::default();
        let c = search_series(&x, dt, 0.0, &cfg);
        assert!(!c.is_empty(), "n={n}: no candidate");
        let top = &c[0];
        let t = n as f64 * dt;
        assert!((top.frequency_hz - f0).abs() <= 0.5 / t, "n={n}: {} Hz", top.frequency_hz);
        assert!((top.fft_bin / t - top.frequency_hz).abs() < 1e-9);
        if n == 1001 {
            assert_eq!(spec.len(), 501);
            // peak of the raw powers (excluding DC) at bin 50
            let p = powers(&spec);
            let kmax = (1..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
            assert_eq!(kmax, 50);
            assert_eq!(top.fft_bin, 50.0);
            assert!((top.frequency_hz - 49.95005).abs() < 1e-5, "{}", top.frequency_hz);
        }
    }
}

#[test]
fn interbinning_recovers_half_bin_tone() {
    let n = 4096usize;
    let dt = 1e-3;
    let t = n as f64 * dt;
    // reference: same amplitude tone exactly on bin 100
    let mut on = vec![0.0f32; n];
    add_tone(&mut on, 100.0 / t, dt, 1.0);
    let p_ref = powers(&real_spectrum(&on))[100];
    let mut off = vec![0.0f32; n];
    add_tone(&mut off, 100.5 / t, dt, 1.0);
    let spec = real_spectrum(&off);
    let ib = interbin_powers(&spec);
    assert_eq!(ib.len(), 2 * spec.len() - 1);
    let kept = ib[201] / p_ref;
    let plain = halfbin_powers_plain(&spec)[201] / p_ref;
    let kern = tianyan::search::spectrum::kernel_halfbin_powers(&spec, 8)[201] / p_ref;
    println!("half-bin tone: kernel keeps {kern:.3}, interbinned keeps {kept:.3}, nearest bin keeps {plain:.3}");
    // Unit-mean interbinning keeps 8/π² of a mid-bin tone (PRESTO's π²/8-inflated form keeps
    // all of it). The 8-taps-a-side kernel keeps Σ_j 1/(π²(j−½)²) over j = −7..=8, 0.9747.
    let pi2 = std::f32::consts::PI.powi(2);
    assert!((kept - 8.0 / pi2).abs() < 0.01, "interbinning kept {kept}");
    let w2: f32 = (-7..=8).map(|j: i32| 1.0 / (pi2 * (j as f32 - 0.5).powi(2))).sum();
    assert!((kern - w2).abs() < 0.01, "kernel kept {kern}, expected {w2}");
    assert!((plain - 4.0 / std::f32::consts::PI.powi(2)).abs() < 0.02, "plain {plain}");
    // and the search reports the half bin
    let mut x = noise(n, 5, 1.0);
    add_tone(&mut x, 100.5 / t, dt, 0.6);
    let c = search_series(&x, dt, 0.0, &PeriodicConfig::default());
    assert!((c[0].fft_bin - 100.5).abs() <= 0.25, "{:?}", c[0]);
    let c_plain = search_series(
        &x,
        dt,
        0.0,
        &PeriodicConfig { halfbin: tianyan::search::spectrum::HalfBin::Plain, ..Default::default() },
    );
    assert!(c[0].power > 1.8 * c_plain[0].power, "{} vs {}", c[0].power, c_plain[0].power);
}

#[test]
fn harmonic_sum_matches_naive_twin() {
    let p: Vec<f32> = noise(5001, 3, 1.0).iter().map(|v| v * v).collect();
    for &h in &harmonic_stages(32) {
        let fast = harmonic_sum(&p, h);
        for (j, &got) in fast.iter().enumerate() {
            let mut s = 0.0f64;
            for k in 1..=h {
                let idx = ((j as f64) * k as f64 / h as f64 + 0.5).floor() as usize;
                s += p[idx] as f64;
            }
            assert!((got as f64 - s).abs() < 1e-3 * s.max(1.0), "H={h} j={j}");
        }
    }
    assert_eq!(harmonic_stages(16), vec![1, 2, 4, 8, 16]);
    assert_eq!(harmonic_stages(32), vec![1, 2, 4, 8, 16, 32]);
}

#[test]
fn pulse_train_gains_from_harmonic_summing() {
    let n = 1 << 16;
    let dt = 1e-3;
    let period_samples = 100.37;
    let mut x = noise(n, 9, 1.0);
    let mut t = 3.0;
    while (t as usize) < n {
        x[t as usize] += 2.0;
        t += period_samples;
    }
    let f_true = 1.0 / (period_samples * dt);
    let bin_hz = 1.0 / (n as f64 * dt);
    let best = |nh: u32| {
        let c = search_series(&x, dt, 0.0, &PeriodicConfig { nharm_max: nh, ..Default::default() });
        c.into_iter().find(|c| (c.frequency_hz - f_true).abs() <= bin_hz).map(|c| (c.sigma, c.nharm))
    };
    let (s1, _) = best(1).expect("fundamental not found with 1 harmonic");
    let (s8, n8) = best(8).expect("fundamental not found with 8 harmonics");
    let (s16, n16) = best(16).expect("fundamental not found with 16 harmonics");
    println!("pulse train sigma: nharm1 {s1:.1}, nharm8 {s8:.1} ({n8}), nharm16 {s16:.1} ({n16})");
    assert!(s8 > s1 + 3.0 && s16 > s1 + 3.0);
    assert!(n16 >= 8);
    // top candidate of the 16-harmonic search is the fundamental
    let c = search_series(&x, dt, 0.0, &PeriodicConfig::default());
    assert!((c[0].frequency_hz - f_true).abs() <= bin_hz, "top {:?}", c[0]);
}

#[test]
fn gaussian_noise_false_alarms_and_power_statistics() {
    // N_bins searched integer bins (1..N/2−1). Expected count of normalised powers > 5:
    // N_bins·e^{−5}; Poisson σ = √expected; require |count − expected| < 3σ per seed.
    let n = 1 << 18;
    let mut total = 0usize;
    let mut total_exp = 0.0;
    for seed in 0..5u64 {
        let x = noise(n, 1000 + seed, 1.0);
        let c = search_series(&x, 1e-3, 0.0, &PeriodicConfig::default());
        for cand in &c {
            assert!(cand.sigma < 7.0, "seed {seed}: noise candidate {cand:?}");
        }
        let mut spec = real_spectrum(&x);
        whiten_spectrum(&mut spec);
        let p = powers(&spec);
        let nb = n / 2 - 1;
        let count = p[1..n / 2].iter().filter(|&&v| v > 5.0).count();
        let expected = nb as f64 * (-5.0f64).exp();
        println!("seed {seed}: {count} powers > 5, expected {expected:.1} ± {:.1}; {} cands", expected.sqrt(), c.len());
        assert!((count as f64 - expected).abs() < 3.0 * expected.sqrt());
        total += count;
        total_exp += expected;
    }
    println!("all seeds: {total} vs {total_exp:.1} ± {:.1}", total_exp.sqrt());
    assert!((total as f64 - total_exp).abs() < 3.0 * total_exp.sqrt());
}

#[test]
fn red_noise_random_walk_gives_no_candidates() {
    let n = 1 << 18;
    let w = noise(n, 77, 1.0);
    let steps = noise(n, 78, 0.2);
    let mut walk = 0.0f32;
    let x: Vec<f32> = w
        .iter()
        .zip(&steps)
        .map(|(a, s)| {
            walk += s;
            a + walk
        })
        .collect();
    // the red noise dominates the raw low-frequency spectrum by orders of magnitude
    let raw = powers(&real_spectrum(&x));
    let white_level = n as f32; // E|X_k|² of unit white noise
    assert!(raw[10..20].iter().sum::<f32>() / 10.0 > 1000.0 * white_level);
    let c = search_series(&x, 1e-3, 0.0, &PeriodicConfig::default());
    for cand in &c {
        println!("red-noise candidate {cand:?}");
    }
    assert!(c.is_empty(), "{} candidates from red noise", c.len());
}

fn cand(freq_hz: f64, tobs: f64, dm: f64, sigma: f32) -> Candidate {
    Candidate {
        period_s: 1.0 / freq_hz,
        frequency_hz: freq_hz,
        dm,
        accel: 0.0,
        z: 0.0,
        snr: sigma,
        sigma,
        power: sigma * sigma,
        nharm: 1,
        fft_bin: freq_hz * tobs,
        n_dm_hits: 1,
        harmonic_of: -1,
        harmonic_num: 0,
        harmonic_den: 0,
        fund_harmonic: 1,
        dm_flag: 0,
        search: tianyan::search::SearchKind::Fft,
        width_s: 0.0,
    }
}

#[test]
fn sift_merges_dms_and_flags_harmonics() {
    let t = 100.0; // s; bin = 0.01 Hz
    let f = 10.0; // 1000 bins
    let mut v = Vec::new();
    // one signal at 5 neighbouring DMs, frequency jitter ±0.3 bins, best at DM 50
    for (i, dm) in [48.0, 49.0, 50.0, 51.0, 52.0].iter().enumerate() {
        let jitter = (i as f64 - 2.0) * 0.15 / t;
        v.push(cand(f + jitter, t, *dm, 20.0 - (i as f32 - 2.0).abs()));
    }
    // 2nd harmonic and 1/2 sub-harmonic, weaker, 0.4 bin off
    v.push(cand(2.0 * f + 0.4 / t, t, 50.0, 12.0));
    v.push(cand(0.5 * f - 0.4 / t, t, 51.0, 9.0));
    // unrelated signal at √2·f (no ratio p/q ≤ 16 within tolerance), at two DMs
    v.push(cand(f * std::f64::consts::SQRT_2, t, 30.0, 15.0));
    v.push(cand(f * std::f64::consts::SQRT_2 + 0.5 / t, t, 31.0, 14.0));
    let out = sift(v.clone(), &SiftConfig::default());
    assert_eq!(out.len(), 4, "{out:#?}");
    let sig: Vec<f32> = out.iter().map(|c| c.sigma).collect();
    assert_eq!(sig, vec![20.0, 15.0, 12.0, 9.0]);
    assert_eq!(out[0].n_dm_hits, 5);
    assert_eq!(out[0].dm, 50.0);
    assert_eq!(out[0].harmonic_of, -1);
    assert_eq!(out[1].n_dm_hits, 2);
    assert_eq!(out[1].harmonic_of, -1, "unrelated signal flagged: {:?}", out[1]);
    assert_eq!((out[2].harmonic_of, out[2].harmonic_num, out[2].harmonic_den), (0, 2, 1));
    assert_eq!((out[3].harmonic_of, out[3].harmonic_num, out[3].harmonic_den), (0, 1, 2));

    // no_dm0: a DM-0 signal is dropped, the others stay
    let mut w = v;
    w.push(cand(6.1234, t, 0.0, 30.0));
    w.push(cand(6.1234, t, 1.0, 25.0));
    let keep = sift(w.clone(), &SiftConfig::default());
    // kept, but flagged by the low-DM check and ordered after the pulsar despite its sigma 30
    let dm0 = keep.iter().position(|c| c.dm == 0.0).expect("the DM-0 signal is kept");
    assert_eq!(keep[dm0].dm_flag, 1, "{:?}", keep[dm0]);
    assert_eq!(keep[0].dm, 50.0);
    assert!(dm0 > 1, "DM-0 signal at row {dm0}");
    let dropped = sift(w, &SiftConfig { no_dm0: true, ..Default::default() });
    assert_eq!(dropped.len(), 4);
    assert!(dropped.iter().all(|c| c.dm != 0.0));
    // min_dm_hits drops the single-DM harmonics
    let strict = sift(dropped, &SiftConfig { min_dm_hits: 2, ..Default::default() });
    assert_eq!(strict.len(), 2);
}

/// Issue 14 item 3, sifting in (f, z): one drifting signal's detections at several DMs and
/// drifts merge into one row; its second harmonic (twice the frequency, twice the drift) is
/// flagged; a signal at twice the frequency but an unrelated drift (another binary) is not.
#[test]
fn sift_relates_harmonics_in_frequency_and_drift() {
    let t = 100.0;
    let f = 10.0;
    let with_z = |freq: f64, dm: f64, sigma: f32, z: f64| Candidate { z, ..cand(freq, t, dm, sigma) };
    let v = vec![
        with_z(f, 50.0, 20.0, 40.0),
        with_z(f + 0.2 / t, 51.0, 18.0, 38.0),
        with_z(f - 0.3 / t, 49.0, 17.0, 42.0),
        // second harmonic: drift 2 × 40
        with_z(2.0 * f + 0.3 / t, 50.0, 12.0, 81.0),
        // same frequency ratio, drift −30: another signal
        with_z(2.0 * f - 0.3 / t + 3.0 / t, 50.0, 11.0, -30.0),
    ];
    let out = sift(v, &SiftConfig::default());
    assert_eq!(out.len(), 3, "{out:#?}");
    assert_eq!((out[0].n_dm_hits, out[0].z, out[0].harmonic_of), (3, 40.0, -1));
    let h2 = out.iter().find(|c| c.z == 81.0).expect("the second harmonic row");
    assert_eq!((h2.harmonic_of, h2.harmonic_num, h2.harmonic_den), (0, 2, 1), "{h2:?}");
    let other = out.iter().find(|c| c.z == -30.0).expect("the other binary's row");
    assert_eq!(other.harmonic_of, -1, "unrelated drift flagged as a harmonic: {other:?}");
    // Without the drift check (huge tolerance) the other binary would be taken for a harmonic
    // (its frequency is within the ratio tolerance of 2/1 or a near ratio), so the check matters.
    let loose = sift(
        vec![with_z(f, 50.0, 20.0, 40.0), with_z(2.0 * f + 0.3 / t, 50.0, 11.0, -30.0)],
        &SiftConfig { z_tol_bins: 1e9, ..Default::default() },
    );
    assert_eq!(loose[1].harmonic_of, 0, "{loose:#?}");
}

/// Issue 10 item 4, PRESTO-style DM checks (`sifting.py`'s `remove_DM_problems`): a signal
/// peaking below DM 2 when higher DMs were searched gets `dm_flag` bit 1; one not seen in two
/// adjacent DM trials of the searched grid gets bit 2; both stay in the table, sigma unchanged,
/// after the unflagged heads.
#[test]
fn sift_dm_checks_flag_low_dm_and_isolated_hits() {
    let t = 100.0;
    let grid: Vec<f64> = (0..=100).map(|k| k as f64).collect();
    let mut v = Vec::new();
    // pulsar at DM 40, seen in trials 39–41
    for (dm, s) in [(39.0, 11.0), (40.0, 12.0), (41.0, 11.5)] {
        v.push(cand(7.0, t, dm, s));
    }
    // interference peaking at DM 0, seen at 0 and 1: bit 1
    v.push(cand(50.0, t, 0.0, 20.0));
    v.push(cand(50.0, t, 1.0, 18.0));
    // a single-trial detection at DM 70: bit 2
    v.push(cand(3.3, t, 70.0, 14.0));
    // two hits two trials apart (60 and 62), no adjacent pair: bit 2
    v.push(cand(4.4, t, 60.0, 13.0));
    v.push(cand(4.4, t, 62.0, 12.5));
    // single hit at DM 0.5: both bits
    v.push(cand(9.9, t, 0.5, 16.0));
    let out = sift_on_grid(v, &SiftConfig::default(), &grid);
    let flag = |f: f64| out.iter().find(|c| (c.frequency_hz - f).abs() < 1e-9).map(|c| (c.dm_flag, c.sigma)).unwrap();
    assert_eq!(flag(7.0), (0, 12.0));
    assert_eq!(flag(50.0), (1, 20.0));
    assert_eq!(flag(3.3), (2, 14.0));
    assert_eq!(flag(4.4), (2, 13.0));
    assert_eq!(flag(9.9), (3, 16.0));
    assert_eq!(out[0].frequency_hz, 7.0, "the only signal passing the DM checks is row 0: {out:#?}");
    // without a grid the candidates' own DMs are the grid: 60 and 62 are then neighbours
    let own = sift(vec![cand(4.4, t, 60.0, 13.0), cand(4.4, t, 62.0, 12.5)], &SiftConfig::default());
    assert_eq!(own[0].dm_flag, 0);
    // a single-DM search (a .tim file) has nothing to compare: no bit 2, and no bit 1 at DM 0
    let one = sift_on_grid(vec![cand(5.0, t, 0.0, 9.0)], &SiftConfig::default(), &[0.0]);
    assert_eq!(one[0].dm_flag, 0);
}

#[test]
fn real_data_b1804_08_is_top_candidate() {
    let Some(path) = common::shared_data("sigpyproc3/GBT_J1807-0847.tim") else { return };
    let (hdr, data) = tianyan::io::sigproc::read_tim(&path).expect("read .tim");
    assert_eq!(data.len(), 131_130);
    let dm = hdr.refdm.unwrap_or(0.0);
    let c = search_series(&data, hdr.tsamp_s, dm, &PeriodicConfig::default());
    let c = sift(c, &SiftConfig::default());
    for x in c.iter().take(8) {
        println!(
            "f {:.5} Hz  P {:.7} s  sigma {:.1}  power {:.0}  nharm {}  harm_of {} ({}/{})",
            x.frequency_hz, x.period_s, x.sigma, x.power, x.nharm, x.harmonic_of, x.harmonic_num, x.harmonic_den
        );
    }
    let top = &c[0];
    let t = data.len() as f64 * hdr.tsamp_s;
    // truth: F0 ≈ 6.1077 Hz (ATNF); the FFT fundamental is within 1 bin (1/T = 0.0466 Hz)
    assert!((top.frequency_hz - 6.1077).abs() < 1.0 / t, "top {:?}", top);
    assert!(top.sigma > 50.0);
    assert_eq!(top.harmonic_of, -1);
    // the 2nd harmonic and the 1/2 sub-harmonic are reported and flagged as harmonics of row 0
    for (num, den) in [(2u32, 1u32), (1, 2)] {
        let f = top.frequency_hz * num as f64 / den as f64;
        let h = c
            .iter()
            .find(|x| (x.frequency_hz - f).abs() < 2.0 / t)
            .unwrap_or_else(|| panic!("no candidate at {num}/{den} of the fundamental"));
        assert_eq!((h.harmonic_of, h.harmonic_num, h.harmonic_den), (0, num, den));
    }
    // no unflagged candidate is within 1 bin of a harmonic of the pulsar
    for x in c.iter().skip(1).filter(|x| x.harmonic_of < 0) {
        let r = x.frequency_hz / top.frequency_hz;
        assert!((r - r.round()).abs() * top.fft_bin > 1.0 || r.round() == 0.0, "unflagged {x:?}");
    }
}

#[test]
fn whitening_flattens_power_law_spectrum() {
    // Complex Gaussian noise shaped by a red power law: E|X_k|² = 1e4·(k/10)^−2 + 1 (×N scale).
    let nb = 1 << 17;
    let re = noise(nb, 91, 1.0);
    let im = noise(nb, 92, 1.0);
    let mut spec: Vec<Complex32> = (0..nb)
        .map(|k| {
            let kk = (k.max(1)) as f32;
            let lev = 1e4 * (kk / 10.0).powi(-2) + 1.0;
            Complex32::new(re[k], im[k]) * (0.5 * lev).sqrt() * 300.0
        })
        .collect();
    whiten_spectrum(&mut spec);
    let p = powers(&spec);
    assert_eq!(p[0], 0.0);
    for (a, b) in [(2usize, 50usize), (50, 500), (500, 5000), (5000, nb)] {
        let m = p[a..b].iter().map(|&v| v as f64).sum::<f64>() / (b - a) as f64;
        let tol = 4.0 / ((b - a) as f64).sqrt() + 0.03;
        println!("bins {a}..{b}: mean whitened power {m:.3} (tol {tol:.3})");
        assert!((m - 1.0).abs() < tol, "bins {a}..{b}: mean {m}");
    }
}
