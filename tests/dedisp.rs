//! DM plans and direct dedispersion against naive references and the TRAPS entries
//! B12 (DM 0 identity), B13 (sweep longer than the data, no wrap) and B15 (delay rounding).
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tianyan::consts::K_DM;
use tianyan::dedisp::direct::dedisperse_block;
use tianyan::dedisp::plan::{delay_samples, max_delay_samples};
use tianyan::dedisp::{dedisperse_series, DedispError, Dedisperser, DirectDedisperser, DmPlan, PlanConfig};
use tianyan::{Header, MemoryObservation};

mod common;

fn header(nchans: usize, fch1_mhz: f64, foff_mhz: f64, tsamp_s: f64) -> Header {
    Header { nchans, fch1_mhz, foff_mhz, tsamp_s, nbits: 32, ..Header::default() }
}

/// Nearest-sample delays written out independently of the library.
fn naive_delays(h: &Header, dm: f64, tsamp_s: f64) -> Vec<usize> {
    let freqs: Vec<f64> = (0..h.nchans).map(|c| h.fch1_mhz + c as f64 * h.foff_mhz).collect();
    let ftop = freqs.iter().cloned().fold(f64::MIN, f64::max);
    freqs.iter().map(|f| (K_DM * dm * (1.0 / (f * f) - 1.0 / (ftop * ftop)) / tsamp_s).round() as usize).collect()
}

/// The plain triple loop: downsample by summing, then sum channels at their delays.
fn naive_dedisperse(h: &Header, data: &Array2<f32>, dm: f64, ds: usize, nout: usize) -> Vec<f32> {
    let d = naive_delays(h, dm, h.tsamp_s * ds as f64);
    let mut out = vec![0f32; nout];
    for (t, o) in out.iter_mut().enumerate() {
        let mut s = 0f32;
        for c in 0..h.nchans {
            let mut x = 0f32;
            for j in 0..ds {
                x += data[[(t + d[c]) * ds + j, c]];
            }
            s += x;
        }
        *o = s;
    }
    out
}

fn random_data(nsamples: usize, nchans: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((nsamples, nchans), |_| rng.gen_range(-3.0f32..3.0))
}

#[test]
fn direct_equals_naive_exactly() {
    // (nchans, fch1, foff, nsamples, block sizes); 37 channels leaves a remainder after 8-channel groups.
    let cases: &[(usize, f64, f64, usize, &[usize])] = &[
        (37, 1500.0, -8.0, 1001, &[50, 333, 1_000_000]),
        (37, 1212.0, 8.0, 1001, &[50, 333, 1_000_000]),
        // Long enough for several 4096-sample tiles in one block.
        (9, 1400.0, -40.0, 9001, &[5000, 7]),
    ];
    let dms = [0.0, 10.0, 55.5, 123.0];
    for (i, &(nchans, fch1, foff, nsamples, blocks)) in cases.iter().enumerate() {
        let h = header(nchans, fch1, foff, 1e-3);
        let data = random_data(nsamples, nchans, 42 + i as u64);
        for ds in [1usize, 2] {
            let maxd =
                dms.iter().map(|&dm| *naive_delays(&h, dm, 1e-3 * ds as f64).iter().max().unwrap()).max().unwrap();
            let nout = nsamples / ds - maxd;
            let reference: Vec<Vec<f32>> = dms.iter().map(|&dm| naive_dedisperse(&h, &data, dm, ds, nout)).collect();
            for &bs in blocks {
                if bs < 100 {
                    assert!(bs < maxd, "case {i}: block {bs} should be shorter than the sweep {maxd}");
                }
                let mut obs = MemoryObservation::new(h.clone(), data.clone());
                let out = DirectDedisperser { block_size: bs }.dedisperse(&mut obs, &dms, ds).unwrap();
                assert_eq!(out.data.dim(), (dms.len(), nout), "case {i} ds {ds} block {bs}");
                assert_eq!(out.downsamp, ds);
                assert!((out.tsamp_s - 1e-3 * ds as f64).abs() < 1e-15);
                for (k, r) in reference.iter().enumerate() {
                    let got = out.data.row(k).to_vec();
                    assert!(
                        got == *r,
                        "case {i} ds {ds} block {bs} DM {}: first diff at {:?}",
                        dms[k],
                        got.iter().zip(r).position(|(a, b)| a != b)
                    );
                }
            }
        }
    }
}

#[test]
fn kernel_equals_naive_on_offset_slices() {
    let nchans = 13;
    let stride = 300;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let block: Vec<f32> = (0..nchans * stride).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let delays: Vec<usize> = (0..nchans).map(|c| c * 9).collect();
    for offset in [0usize, 17] {
        let n = stride - 12 * 9 - offset;
        let mut out = vec![f32::NAN; n];
        dedisperse_block(&block[offset..], stride, &delays, &mut out);
        for (t, o) in out.iter().enumerate() {
            let mut s = 0f32;
            for c in 0..nchans {
                s += block[c * stride + offset + delays[c] + t];
            }
            assert_eq!(*o, s, "offset {offset} t {t}");
        }
    }
}

/// TRAPS B12: DM 0 is the identity (every delay 0) and the series is the channel sum.
#[test]
fn b12_dm0_is_channel_sum() {
    let h = header(16, 1400.0, -1.0, 64e-6);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let data = Array2::from_shape_fn((256, 16), |_| rng.gen::<u8>() as f32);
    assert_eq!(delay_samples(&h, 0.0, h.tsamp_s), vec![0usize; 16]);
    let mut obs = MemoryObservation::new(h.clone(), data.clone());
    let series = dedisperse_series(&mut obs, 0.0).unwrap();
    assert_eq!(series.len(), 256);
    for t in 0..256 {
        let sum: f32 = (0..16).map(|c| data[[t, c]]).sum();
        assert_eq!(series[t], sum, "sample {t}");
        // The channels are distinct (a copy of one channel in all 16 would fail this).
        assert_ne!(series[t], 16.0 * data[[t, 15]], "sample {t}");
    }
}

fn b13_header() -> Header {
    header(64, 1500.0, -1.0, 1e-3)
}

/// TRAPS B13 (a): a sweep (600 samples) longer than the data (500) is a clear error.
#[test]
fn b13_sweep_longer_than_data_is_an_error() {
    let h = b13_header();
    assert_eq!(max_delay_samples(&h, 3631.4, 1e-3), 600);
    let mut obs = MemoryObservation::new(h, Array2::zeros((500, 64)));
    let err = DirectDedisperser::default().dedisperse(&mut obs, &[3631.4], 1).unwrap_err();
    match &err {
        DedispError::Invalid(msg) => {
            assert!(msg.contains("600") && msg.contains("500"), "message should give both lengths: {msg}")
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// TRAPS B13 (b): valid-only output, 2000 − 600 samples, no wrap-around echo.
#[test]
fn b13_no_wraparound_valid_only_output() {
    let h = b13_header();
    let mut data = Array2::zeros((2000, 64));
    data.row_mut(0).fill(1.0f32);
    for bs in [8192usize, 256] {
        let mut obs = MemoryObservation::new(h.clone(), data.clone());
        let out = DirectDedisperser { block_size: bs }.dedisperse(&mut obs, &[3631.4], 1).unwrap();
        let s = out.data.row(0);
        assert_eq!(s.len(), 1400);
        assert_eq!(s[0], 1.0, "only the top channel contributes at sample 0");
        assert!(s.iter().skip(1).all(|&x| x == 0.0), "block {bs}: non-zero after sample 0");
    }
}

/// TRAPS B15: an injected pulse using the same nearest-sample delays recovers its DM exactly.
#[test]
fn b15_injected_pulse_recovers_its_dm() {
    let tsamp = 1.26647e-3;
    // 336 channels, 1465 → 1130 MHz.
    let h = header(336, 1465.0, -1.0, tsamp);
    let d = naive_delays(&h, 1000.0, tsamp);
    assert_eq!(*d.iter().max().unwrap(), 1039, "1039.15 samples rounds to 1039");
    assert_eq!(delay_samples(&h, 1000.0, tsamp), d);
    let t0 = 100;
    let mut data = Array2::zeros((2000, 336));
    for (c, dc) in d.iter().enumerate() {
        data[[t0 + dc, c]] = 1.0f32;
    }
    let dms: Vec<f64> = (990..=1010).map(|x| x as f64).collect();
    let mut obs = MemoryObservation::new(h, data);
    let out = DirectDedisperser::default().dedisperse(&mut obs, &dms, 1).unwrap();
    let peaks: Vec<f32> = out.data.outer_iter().map(|r| r.iter().cloned().fold(f32::MIN, f32::max)).collect();
    let best = peaks.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert_eq!(dms[best], 1000.0);
    assert_eq!(peaks[best], 336.0, "all channels line up at DM 1000");
    assert_eq!(out.data[[best, t0]], 336.0, "at the injected time");
    for (k, p) in peaks.iter().enumerate() {
        if k != best {
            assert!(*p < 336.0, "DM {} also reaches the full peak", dms[k]);
        }
    }
}

/// FAST L-band-like header: 4096 channels of 0.1220703125 MHz over 1000–1500 MHz, 49.152 µs.
fn fast_header() -> Header {
    let foff = 0.1220703125;
    header(4096, 1500.0 - foff / 2.0, -foff, 49.152e-6)
}

#[test]
fn plan_ddplan_covers_range_and_respects_tolerance() {
    let h = fast_header();
    let cfg = PlanConfig::default();
    assert_eq!(cfg.tolerance, 1.25);
    let (dm_min, dm_max) = (0.0, 2000.0);
    let plan = DmPlan::tianyan_grid(&h, dm_min, dm_max, &cfg).unwrap();
    let dms = plan.dms();
    println!("{}", plan.describe(&h));
    assert_eq!(dms[0], dm_min);
    assert!(dms.windows(2).all(|w| w[1] > w[0]), "trials ascend");
    let last_step = dms[dms.len() - 1] - dms[dms.len() - 2];
    assert!(*dms.last().unwrap() >= dm_max && dms.last().unwrap() - last_step < dm_max);
    assert!(plan.steps.len() >= 3, "several steps over 0–2000");

    // Exact band sweep per unit DM between the extreme channel centres.
    let (f_bot, f_top) = (1000.0 + 0.1220703125 / 2.0, 1500.0 - 0.1220703125 / 2.0);
    let sweep_per_dm = K_DM * (1.0 / (f_bot * f_bot) - 1.0 / (f_top * f_top));
    let f_c_ghz: f64 = 1.25;
    let mut prev_step = 0.0;
    let mut prev_ds = 0;
    for (i, st) in plan.steps.iter().enumerate() {
        // Spacing inside a step, and to the next step's first trial for a single-trial step.
        let step = if st.dms.len() > 1 { st.dms[1] - st.dms[0] } else { plan.steps[i + 1].dms[0] - st.dms[0] };
        for w in st.dms.windows(2) {
            assert!((w[1] - w[0] - step).abs() < 1e-6, "uniform spacing within step {i}");
        }
        assert!(step >= prev_step - 1e-12, "DM step grows with DM (step {i}: {step} < {prev_step})");
        assert!(st.downsamp >= prev_ds && st.downsamp.is_power_of_two());
        for &dm in &st.dms {
            let t_half = 0.5 * step * sweep_per_dm;
            let t_chan = 8.3e-6 * dm * 0.1220703125 / f_c_ghz.powi(3);
            let t_samp = h.tsamp_s * st.downsamp as f64;
            let other = (t_samp * t_samp + t_chan * t_chan).sqrt();
            assert!(t_half <= cfg.tolerance * other * (1.0 + 1e-9), "DM {dm}: {t_half} > 1.25 × {other}");
        }
        prev_step = step;
        prev_ds = st.downsamp;
    }
    let first_step = plan.steps[0].dms[1] - plan.steps[0].dms[0];
    assert!(prev_step > 10.0 * first_step, "step at DM 2000 ({prev_step}) ≫ step at DM 0 ({first_step})");
    assert!(prev_ds > 1);
    // Contiguous: the gap between steps is at most the larger of the two spacings.
    for w in plan.steps.windows(2) {
        let gap = w[1].dms[0] - w[0].dms.last().unwrap();
        let s1 = if w[1].dms.len() > 1 { w[1].dms[1] - w[1].dms[0] } else { gap };
        assert!(gap > 0.0 && gap <= s1 + 1e-9, "gap {gap} between steps");
    }
    let text = plan.describe(&h);
    assert_eq!(text.lines().count(), 3 + plan.steps.len());
}

#[test]
fn plan_fixed_list_and_file_give_exactly_what_was_asked() {
    let p = DmPlan::fixed_step(0.0, 10.0, 0.5).unwrap();
    let want: Vec<f64> = (0..=20).map(|k| k as f64 * 0.5).collect();
    assert_eq!(p.dms(), want);
    assert_eq!(p.steps[0].downsamp, 1);
    let p = DmPlan::fixed_step(3.0, 3.0, 1.0).unwrap();
    assert_eq!(p.dms(), vec![3.0]);
    let p = DmPlan::fixed_step(0.0, 1.0, 0.1).unwrap();
    assert_eq!(p.dms().len(), 11);
    assert_eq!(*p.dms().last().unwrap(), 1.0);

    let list = vec![5.0, 1.5, 70.25];
    assert_eq!(DmPlan::from_list(list.clone()).unwrap().dms(), list);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dms.txt");
    std::fs::write(&path, "# trial DMs\n0\n\n12.5  # a comment\n 100.75\n").unwrap();
    assert_eq!(DmPlan::from_file(&path).unwrap().dms(), vec![0.0, 12.5, 100.75]);
    std::fs::write(&path, "1\nabc\n").unwrap();
    let msg = DmPlan::from_file(&path).unwrap_err().to_string();
    assert!(msg.contains("dms.txt:2") && msg.contains("abc"), "{msg}");
}

#[test]
fn plan_errors() {
    let h = fast_header();
    let cfg = PlanConfig::default();
    assert!(DmPlan::ddplan(&h, 10.0, 5.0, &cfg).is_err());
    assert!(DmPlan::ddplan(&h, -1.0, 5.0, &cfg).is_err());
    assert!(DmPlan::fixed_step(0.0, 10.0, 0.0).is_err());
    assert!(DmPlan::fixed_step(0.0, 10.0, -1.0).is_err());
    assert!(DmPlan::fixed_step(5.0, 1.0, 1.0).is_err());
    assert!(DmPlan::from_list(vec![1.0, -2.0]).is_err());
    assert!(DmPlan::from_list(vec![]).is_err());
    let bad = Header { tsamp_s: 0.0, ..h };
    assert!(DmPlan::ddplan(&bad, 0.0, 5.0, &cfg).is_err());
}

/// Real data: FRB 180417 (ASKAP, `your/28.fil`; truth DM 475.284, t = 2.02888 s at the top of the
/// band, S/N 15.8–16.8 per PROVENANCE.md) is recovered by direct dedispersion over 465–485.
#[test]
fn frb180417_recovered_at_known_dm_and_time() {
    let Some(path) = common::shared_data("your/28.fil") else { return };
    let mut obs = tianyan::open_observation(&[path]).unwrap();
    let tsamp = obs.header().tsamp_s;
    let dms: Vec<f64> = (0..=40).map(|k| 465.0 + 0.5 * k as f64).collect();
    let out = DirectDedisperser::default().dedisperse(obs.as_mut(), &dms, 1).unwrap();
    // Boxcar of 2 samples (the burst width), S/N against median and MAD.
    let mut best = (f64::MIN, 0usize, 0usize);
    for (k, row) in out.data.outer_iter().enumerate() {
        let x: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        let mut sorted = x.clone();
        sorted.sort_by(f64::total_cmp);
        let med = sorted[sorted.len() / 2];
        let mut dev: Vec<f64> = x.iter().map(|v| (v - med).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let sigma = 1.4826 * dev[dev.len() / 2];
        for t in 0..x.len() - 1 {
            let snr = (x[t] + x[t + 1] - 2.0 * med) / (2f64.sqrt() * sigma);
            if snr > best.0 {
                best = (snr, k, t);
            }
        }
    }
    let (snr, k, t) = best;
    assert!((dms[k] - 475.284).abs() <= 1.5, "best DM {}", dms[k]);
    assert!((t as f64 * tsamp - 2.02888).abs() <= 3.0 * tsamp, "burst at {} s", t as f64 * tsamp);
    assert!(snr > 13.0 && snr < 20.0, "S/N {snr} (reference 15.8–16.8)");
}

/// Naive twin of `transpose_downsample`: `buf[c][offset + t] = Σ_{j<ds} clean(src[t·ds + j][c])`
/// added in time order from 0.0, non-finite samples as 0.
fn naive_transpose(src: &[f32], nchans: usize, ds: usize, nt: usize, stride: usize, offset: usize) -> Vec<f32> {
    let mut buf = vec![-7.0f32; nchans * stride];
    for c in 0..nchans {
        for t in 0..nt {
            let mut acc = 0.0f32;
            for j in 0..ds {
                let x = src[(t * ds + j) * nchans + c];
                acc += if x.is_finite() { x } else { 0.0 };
            }
            buf[c * stride + offset + t] = acc;
        }
    }
    buf
}

#[test]
fn transpose_downsample_equals_naive_twin_bit_for_bit() {
    use tianyan::dedisp::transpose_downsample;
    // Shapes across the kernel's tiles (8 channels × 16 samples, 256 channels per task) and their
    // remainders, with NaN and ±inf samples; columns outside offset .. offset + nt untouched.
    for &(nchans, nt, ds, offset) in
        &[(300usize, 37usize, 3usize, 5usize), (8, 16, 1, 0), (513, 50, 1, 2), (5, 3, 4, 1)]
    {
        let stride = offset + nt + 3;
        let mut rng = ChaCha8Rng::seed_from_u64(nchans as u64);
        let mut src: Vec<f32> = (0..nt * ds * nchans).map(|_| rng.gen_range(-3.0f32..3.0)).collect();
        for (k, bad) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY].into_iter().enumerate() {
            let i = (k * 7919) % src.len();
            src[i] = bad;
        }
        let want = naive_transpose(&src, nchans, ds, nt, stride, offset);
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut buf = vec![-7.0f32; nchans * stride];
            pool.install(|| transpose_downsample(&src, nchans, ds, nt, &mut buf, stride, offset));
            let same = buf.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{nchans} ch × {nt} samples, downsamp {ds}, offset {offset}, {threads} threads");
        }
    }
}
