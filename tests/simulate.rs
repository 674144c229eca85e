//! Simulator tests: injected S/N against simple reference folders written here, determinism,
//! noise statistics, intra-channel smearing, bursts, acceleration, and the file round trip.
use ndarray::Array2;
use tianyan::consts::{K_DM, SPEED_OF_LIGHT_M_S};
use tianyan::io::truth::{read_truth, truth_path};
use tianyan::sim::{
    simulate_to_file, BurstSpec, OutputFormat, PulsarSpec, RfiSpec, SimConfig, SimulatedObservation, CHUNK_SAMPLES,
};
use tianyan::Observation;

fn lite(nchans: usize, duration_s: f64, seed: u64) -> SimConfig {
    SimConfig { preset: "fast-l-band-lite".into(), duration_s, nchans: Some(nchans), seed, ..SimConfig::default() }
}

fn read_all(obs: &mut SimulatedObservation, block: usize) -> Array2<f32> {
    let h = obs.header().clone();
    let mut out = Array2::zeros((h.nsamples as usize, h.nchans));
    let mut s = 0u64;
    while s < h.nsamples {
        let n = block.min((h.nsamples - s) as usize);
        let b = obs.read_block(s, n).unwrap();
        out.slice_mut(ndarray::s![s as usize..s as usize + n, ..]).assign(&b);
        s += n as u64;
    }
    out
}

/// Delay of each channel in whole samples (rounded), relative to the top channel.
fn rounded_delays(obs: &dyn Observation, dm: f64) -> Vec<i64> {
    let h = obs.header();
    let ftop = h.ftop_mhz();
    h.chan_freqs_mhz()
        .iter()
        .map(|&f| (K_DM * dm * (1.0 / (f * f) - 1.0 / (ftop * ftop)) / h.tsamp_s).round() as i64)
        .collect()
}

/// Reference folder: dedisperse with rounded delays, fold with `φ = ν0 (t − a t²/2c)` into
/// `NSUB × nb` (sub-integration, bin) cells, best boxcar on the summed profile with the noise
/// of one value estimated from the off-pulse rms of the sub-integrations.
fn fold_snr(obs: &mut dyn Observation, period_s: f64, dm: f64, accel: f64, nb: usize) -> f64 {
    const NSUB: usize = 16;
    let h = obs.header().clone();
    let delays = rounded_delays(obs, dm);
    let (t, nu0, ac) = (h.tsamp_s, 1.0 / period_s, accel / SPEED_OF_LIGHT_M_S);
    let dur = h.nsamples as f64 * t;
    let mut sum = vec![0.0f64; NSUB * nb];
    let mut cnt = vec![0.0f64; NSUB * nb];
    let block = 4096;
    let mut s = 0u64;
    while s < h.nsamples {
        let n = block.min((h.nsamples - s) as usize);
        let b = obs.read_block(s, n).unwrap();
        for (i, row) in b.outer_iter().enumerate() {
            let j = (s + i as u64) as i64;
            for (c, &v) in row.iter().enumerate() {
                let tt = (j - delays[c]) as f64 * t + 0.5 * t;
                let ph = nu0 * (tt - 0.5 * ac * tt * tt);
                let bin = ((ph - ph.floor()) * nb as f64) as usize % nb;
                let sub = ((tt / dur).clamp(0.0, 0.999_999) * NSUB as f64) as usize;
                sum[sub * nb + bin] += v as f64;
                cnt[sub * nb + bin] += 1.0;
            }
        }
        s += n as u64;
    }
    let prof: Vec<f64> = (0..nb)
        .map(|b| (0..NSUB).map(|k| sum[k * nb + b]).sum::<f64>() / (0..NSUB).map(|k| cnt[k * nb + b]).sum::<f64>())
        .collect();
    let nbin: f64 = cnt.iter().sum::<f64>() / nb as f64;
    // Noise of one value from the sub-integrations, excluding `excl` (cyclic window) bins.
    let sigma_x = |excl: &dyn Fn(usize) -> bool| {
        let (mut acc, mut k) = (0.0, 0.0);
        for sub in 0..NSUB {
            let off: Vec<usize> = (0..nb).filter(|&b| !excl(b) && cnt[sub * nb + b] > 0.0).collect();
            let m: Vec<f64> = off.iter().map(|&b| sum[sub * nb + b] / cnt[sub * nb + b]).collect();
            let mean = m.iter().sum::<f64>() / m.len() as f64;
            for (&b, &v) in off.iter().zip(&m) {
                acc += (v - mean).powi(2) * cnt[sub * nb + b];
            }
            k += m.len() as f64 - 1.0;
        }
        (acc / k).sqrt()
    };
    let best = |sig: f64| {
        let tot: f64 = prof.iter().sum();
        let mut best = (f64::NEG_INFINITY, 0, 1);
        for w in 1..=nb / 2 {
            for st in 0..nb {
                let on: f64 = (0..w).map(|k| prof[(st + k) % nb]).sum();
                let off = (tot - on) / (nb - w) as f64;
                let snr = (on - w as f64 * off) * nbin.sqrt() / (sig * (w as f64).sqrt());
                if snr > best.0 {
                    best = (snr, st, w);
                }
            }
        }
        best
    };
    let (_, st, w) = best(sigma_x(&|_| false));
    let inside = move |b: usize| ((b + nb - st + 1) % nb) < w + 2;
    best(sigma_x(&inside)).0
}

/// Dedispersed series (rounded delays) of the whole observation, `[nsamples − max_delay]`.
fn dedisperse(data: &Array2<f32>, delays: &[i64]) -> Vec<f64> {
    let maxd = *delays.iter().max().unwrap() as usize;
    let n = data.nrows() - maxd;
    (0..n).map(|k| delays.iter().enumerate().map(|(c, &d)| data[[k + d as usize, c]] as f64).sum()).collect()
}

#[test]
fn pulsar_target_snr_20_is_recovered_by_reference_folder() {
    let mut cfg = lite(256, 30.0, 11);
    cfg.pulsars.push(PulsarSpec::parse("period=0.2531,dm=71,snr=20").unwrap());
    let mut obs = SimulatedObservation::new(&cfg).unwrap();
    let truth = obs.truth("mem", OutputFormat::Filterbank, 0);
    // The requested S/N is the signal's before quantisation; the 8-bit data keep η = 0.99984 of it.
    assert!((truth.pulsars[0].expected_snr_unquantised - 20.0).abs() < 1e-9);
    let eta = truth.quantisation.efficiency;
    assert!((truth.pulsars[0].expected_snr - 20.0 * eta).abs() < 1e-4, "{}", truth.pulsars[0].expected_snr);
    let snr = fold_snr(&mut obs, 0.2531, 71.0, 0.0, 64);
    eprintln!("target 20, measured {snr:.2}");
    assert!((snr - 20.0).abs() < 0.15 * 20.0, "measured folded S/N {snr}");
}

#[test]
fn mean_flux_follows_radiometer_equation() {
    // Top-hat pulse of duty cycle W/P = 0.1: L&K eq. A1.21 applies directly.
    let (p, w, dur) = (0.5f64, 0.05f64, 30.0f64);
    let (tsys, g, bw) = (20.0, 16.0, 500e6);
    let target = 25.0;
    let flux_mjy = 1e3 * target * tsys / (g * (2.0 * dur * bw).sqrt() * ((p - w) / w).sqrt());
    let mut cfg = lite(256, dur, 5);
    cfg.pulsars.push(PulsarSpec::parse(&format!("period={p},dm=30,flux={flux_mjy},width={w},shape=tophat")).unwrap());
    let mut obs = SimulatedObservation::new(&cfg).unwrap();
    let t = obs.truth("mem", OutputFormat::Filterbank, 0);
    let a121 = t.pulsars[0].radiometer_snr;
    assert!((a121 - target).abs() < 0.05, "radiometer S/N in truth {a121}");
    let expected = t.pulsars[0].expected_snr;
    let snr = fold_snr(&mut obs, p, 30.0, 0.0, 64);
    eprintln!("flux {flux_mjy:.4} mJy: A1.21 {a121:.2}, truth expected {expected:.2}, measured {snr:.2}");
    assert!((snr - a121).abs() < 0.15 * a121, "measured {snr} vs radiometer {a121}");
    assert!((expected - a121).abs() < 0.10 * a121, "expected {expected} vs radiometer {a121}");
}

#[test]
fn same_seed_same_bytes_any_threads_and_blocks_and_seed_matters() {
    let mut cfg = lite(64, 3.0, 42);
    cfg.pulsars.push(PulsarSpec::parse("period=0.1,dm=50,snr=15,accel=10,tau=0.001").unwrap());
    cfg.bursts.push(BurstSpec::parse("time=1.0,dm=300,snr=10,width=0.003").unwrap());
    cfg.rfi = Some(RfiSpec { impulse_rate_hz: 2.0, ..RfiSpec::default() });
    cfg.bandpass = true;
    let run = |threads: usize, block: usize, cfg: &SimConfig| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
            let mut obs = SimulatedObservation::new(cfg).unwrap();
            read_all(&mut obs, block)
        })
    };
    let a = run(1, 1000, &cfg);
    assert!(a.nrows() > 3 * CHUNK_SAMPLES);
    let b = run(2, 4096, &cfg);
    let c = run(2, 777, &cfg);
    assert!(a == b, "1 vs 2 threads differ");
    assert!(a == c, "block sizes differ");
    let mut cfg2 = cfg.clone();
    cfg2.seed = 43;
    let d = run(2, 4096, &cfg2);
    let ndiff = a.iter().zip(d.iter()).filter(|(x, y)| x != y).count();
    assert!(ndiff > a.len() / 2, "different seed changed only {ndiff} values");
}

#[test]
fn noise_statistics_match_quantisation() {
    for (nbits, mean, std) in [(8u32, 96.0f64, (256.0f64 + 1.0 / 12.0).sqrt()), (32, 0.0, 1.0)] {
        let mut cfg = lite(32, 4.0, 3);
        cfg.nbits = Some(nbits);
        let mut obs = SimulatedObservation::new(&cfg).unwrap();
        assert_eq!(obs.quantiser().offset, mean);
        let data = read_all(&mut obs, 3000);
        let n = data.nrows() as f64;
        for c in 0..data.ncols() {
            let col = data.column(c);
            let m = col.iter().map(|&v| v as f64).sum::<f64>() / n;
            let s = (col.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
            assert!((m - mean).abs() < 5.0 * std / n.sqrt(), "nbits {nbits} chan {c}: mean {m}");
            assert!((s / std - 1.0).abs() < 5.0 / (2.0 * n).sqrt(), "nbits {nbits} chan {c}: std {s} vs {std}");
            if nbits == 8 {
                assert!(col.iter().all(|&v| v == v.round() && (0.0..=255.0).contains(&v)));
            }
        }
    }
}

#[test]
fn narrow_pulse_is_smeared_by_the_intra_channel_amount() {
    // 64 channels of 7.8125 MHz, DM 1000: smearing 19–64 ms ≫ tsamp 49 µs.
    let mut cfg = SimConfig {
        preset: "fast-l-band".into(),
        duration_s: 3.0,
        nchans: Some(64),
        nbits: Some(32),
        seed: 9,
        ..SimConfig::default()
    };
    cfg.bursts.push(BurstSpec::parse("time=0.3,dm=1000,fluence=500,width=0.000001").unwrap());
    let mut obs = SimulatedObservation::new(&cfg).unwrap();
    let h = obs.header().clone();
    let data = read_all(&mut obs, 8192);
    let freqs = h.chan_freqs_mhz();
    let bw = h.chan_bw_mhz();
    for c in [0usize, 31, 63] {
        let f = freqs[c];
        let formula = 8.3e-6 * 1000.0 * bw * (f / 1000.0).powi(-3);
        let centre = (0.3 + K_DM * 1000.0 * (1.0 / (f * f) - 1.0 / (freqs[0] * freqs[0]))) / h.tsamp_s;
        let half = (formula / h.tsamp_s) as i64;
        let (lo, hi) = ((centre as i64 - half - 100) as usize, (centre as i64 + half + 100) as usize);
        let col = data.column(c);
        let w: Vec<f64> = (lo..hi).map(|j| col[j] as f64).collect();
        let tot: f64 = w.iter().sum();
        let mu = w.iter().enumerate().map(|(i, v)| i as f64 * v).sum::<f64>() / tot;
        let var = w.iter().enumerate().map(|(i, v)| (i as f64 - mu).powi(2) * v).sum::<f64>() / tot;
        // Box of width s convolved with the sample box: variance (s² + T²)/12 (in samples).
        let s = (12.0 * var - 1.0).sqrt() * h.tsamp_s;
        eprintln!("chan {c} f {f:.2}: measured smearing {:.3} ms, formula {:.3} ms", s * 1e3, formula * 1e3);
        assert!((s / formula - 1.0).abs() < 0.03, "chan {c}: {s} vs {formula}");
        // And it is centred where the dispersion delay says.
        assert!(
            (lo as f64 + mu + 0.5 - centre).abs() < 0.02 * half as f64,
            "chan {c}: centre {} vs {centre}",
            lo as f64 + mu
        );
    }
}

#[test]
fn burst_target_snr_12_at_the_right_time() {
    let mut cfg = lite(256, 6.0, 21);
    cfg.bursts.push(BurstSpec::parse("time=2.0,dm=500,snr=12,width=0.002").unwrap());
    let mut obs = SimulatedObservation::new(&cfg).unwrap();
    let truth = obs.truth("mem", OutputFormat::Filterbank, 0);
    assert!((truth.bursts[0].expected_snr_unquantised - 12.0).abs() < 1e-9);
    let eta = truth.quantisation.efficiency;
    assert!((truth.bursts[0].expected_snr - 12.0 * eta).abs() < 1e-4, "{}", truth.bursts[0].expected_snr);
    let tsamp = obs.header().tsamp_s;
    let delays = rounded_delays(&obs, 500.0);
    let data = read_all(&mut obs, 4096);
    let series = dedisperse(&data, &delays);
    // Noise: rms of the series away from the burst.
    let t0 = (2.0 / tsamp) as usize;
    let off: Vec<f64> = series.iter().enumerate().filter(|(k, _)| k.abs_diff(t0) > 200).map(|(_, &v)| v).collect();
    let mean = off.iter().sum::<f64>() / off.len() as f64;
    let sd = (off.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / off.len() as f64).sqrt();
    let mut best = (0.0, 0usize, 0usize);
    for w in 1..=64 {
        for s in 0..series.len() - w {
            let snr = series[s..s + w].iter().map(|v| v - mean).sum::<f64>() / (sd * (w as f64).sqrt());
            if snr > best.0 {
                best = (snr, s, w);
            }
        }
    }
    let (snr, s, w) = best;
    let tc = (s as f64 + 0.5 * w as f64) * tsamp;
    eprintln!("burst: S/N {snr:.2} width {w} at {tc:.4} s");
    assert!((snr - 12.0).abs() < 0.2 * 12.0, "burst S/N {snr}");
    assert!((tc - 2.0).abs() < 0.003, "burst centre at {tc} s");
}

#[test]
fn accelerated_pulsar_folds_better_with_its_acceleration() {
    let mut cfg = SimConfig {
        preset: "fast-l-band".into(),
        duration_s: 20.0,
        nchans: Some(64),
        seed: 17,
        ..SimConfig::default()
    };
    cfg.pulsars.push(PulsarSpec::parse("period=0.005,dm=20,snr=30,accel=20000").unwrap());
    let mut obs = SimulatedObservation::new(&cfg).unwrap();
    let t = obs.truth("mem", OutputFormat::Filterbank, 0);
    let with = fold_snr(&mut obs, 0.005, 20.0, 20000.0, 64);
    // Best constant period: the one at mid-observation.
    let without = fold_snr(&mut obs, t.pulsars[0].period_mid_s, 20.0, 0.0, 64);
    eprintln!("accelerated fold S/N {with:.2}, unaccelerated {without:.2}");
    assert!((with - 30.0).abs() < 0.2 * 30.0, "accelerated fold {with}");
    assert!(with > 1.5 * without, "accel {with} vs none {without}");
}

#[test]
fn file_round_trip_and_truth() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.fil");
    let mut cfg = lite(64, 2.0, 8);
    cfg.pulsars.push(PulsarSpec::parse("period=0.3,dm=40,snr=12").unwrap());
    cfg.rfi = Some(RfiSpec::default());
    let truth = simulate_to_file(&cfg, &path, OutputFormat::Filterbank).unwrap();
    let back = read_truth(&truth_path(&path)).unwrap();
    assert_eq!(back, truth);
    assert_eq!(back.dm_constant, K_DM);
    assert_eq!(back.header.telescope_id, 21);
    let mut file = tianyan::open_observation(&[path.clone()]).unwrap();
    let mut sim = SimulatedObservation::new(&cfg).unwrap();
    let h = file.header().clone();
    assert_eq!(h.nsamples, sim.header().nsamples);
    assert!((h.fch1_mhz - sim.header().fch1_mhz).abs() < 1e-9 && h.foff_mhz < 0.0);
    let a = file.read_block(0, h.nsamples as usize).unwrap();
    let b = sim.read_block(0, h.nsamples as usize).unwrap();
    assert!(a == b, "file differs from stream");
    assert_eq!(back.quantisation.total_values, h.nsamples * 64);
    assert!(back.rfi.as_ref().unwrap().narrowband.len() == 1);
}

#[test]
fn bad_specs_are_clear_errors() {
    let e = PulsarSpec::parse("period=0.1,dm=5,snr=10,wdith=0.01").unwrap_err().to_string();
    assert!(e.contains("wdith"), "{e}");
    let e = BurstSpec::parse("time=1,dm=5").unwrap_err().to_string();
    assert!(e.contains("snr"), "{e}");
    let cfg = SimConfig { preset: "nope".into(), ..SimConfig::default() };
    assert!(SimulatedObservation::new(&cfg).is_err());
    let cfg = SimConfig { nbits: Some(3), ..SimConfig::default() };
    assert!(SimulatedObservation::new(&cfg).is_err());
}
