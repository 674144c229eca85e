//! The RFI excision stage (`tianyan::rfi`): the search survives the simulator's RFI, clean data
//! lose nearly nothing, DM-0 impulses are clipped or flagged, the SK estimator and the clipping
//! follow their noise statistics, and nothing depends on block size or thread count.

use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use tianyan::pipeline::{run_search, SearchConfig, SearchOutput};
use tianyan::rfi::birdies::{parse_zaplist, Birdie};
use tianyan::rfi::sk::{sk_estimator, sk_variance};
use tianyan::rfi::{CleanedObservation, RfiConfig};
use tianyan::search::{Candidate, SinglePulse};
use tianyan::sim::{pulsar::PulsarSpec, RfiSpec, SimConfig, SimulatedObservation};
use tianyan::{Header, MemoryObservation, Observation};

const PERIOD: f64 = 0.3131;

/// Issue 13's measured case: `simulate --preset fast-l-band-lite --nchans 512 --duration 30
/// --seed 3 --pulsar "period=0.3131,dm=40,snr=15" [--rfi]`.
fn sim(rfi: bool) -> SimulatedObservation {
    let cfg = SimConfig {
        preset: "fast-l-band-lite".into(),
        nchans: Some(512),
        duration_s: 30.0,
        seed: 3,
        pulsars: vec![PulsarSpec::parse("period=0.3131,dm=40,snr=15").unwrap()],
        rfi: rfi.then(RfiSpec::default),
        ..SimConfig::default()
    };
    SimulatedObservation::new(&cfg).unwrap()
}

fn search_cfg(rfi: RfiConfig) -> SearchConfig {
    SearchConfig { dm_max: 100.0, rfi, ..SearchConfig::default() }
}

/// Every excision step off (zero-variance channels are still zapped, as before the stage existed).
fn excision_off() -> RfiConfig {
    RfiConfig { clip: false, mask: false, auto_birdies: false, ..RfiConfig::default() }
}

fn run(obs: impl Observation + 'static, cfg: &SearchConfig) -> SearchOutput {
    run_search(Box::new(obs), cfg, &mut |_, _| {}).unwrap()
}

/// The pulsar's candidate: within 2 Fourier bins of 1/P (30 s: 0.067 Hz), best DM within 10.
fn pulsar(cands: &[Candidate]) -> Option<Candidate> {
    cands.iter().copied().find(|c| (c.frequency_hz - 1.0 / PERIOD).abs() <= 2.0 / 30.0 && (c.dm - 40.0).abs() < 10.0)
}

fn sweep_s(h: &Header, dm: f64) -> f64 {
    tianyan::consts::K_DM * dm * (h.fbottom_mhz().powi(-2) - h.ftop_mhz().powi(-2))
}

#[test]
fn pulsar_survives_rfi_and_clean_data_loses_nothing() {
    // Measured here (DM 0–100, the simulator's stream): clean, excision off σ 11.10; clean,
    // excision on σ 11.10 (nothing masked or clipped); RFI, excision on σ 11.05 (71 spectra
    // clipped, channels 211 and 291 masked); RFI, excision off: no candidate. The CLI on the
    // written files, DM 0–1000: clean 11.47 before and after this stage, RFI 11.23 (issue 13:
    // PRESTO 11.8 with and without RFI; tianyan before this stage: nothing, σ 3.2 at --sigma 3).
    let clean_off = run(sim(false), &search_cfg(excision_off()));
    let clean_on = run(sim(false), &search_cfg(RfiConfig::default()));
    let rfi_on = run(sim(true), &search_cfg(RfiConfig::default()));
    let rfi_off = run(sim(true), &search_cfg(excision_off()));
    let s = |o: &SearchOutput| pulsar(&o.candidates).map(|c| c.sigma as f64);
    let (c_off, c_on, r_on) = (s(&clean_off).expect("clean, off"), s(&clean_on).expect("clean, on"), s(&rfi_on));
    eprintln!("sigma: clean off {c_off:.2}, clean on {c_on:.2}, rfi on {r_on:?}, rfi off {:?}", s(&rfi_off));
    let r_on = r_on.expect("the pulsar is found in the RFI run after excision");
    // Issue 13: within ~20 % of the clean run (15 % in its own test list).
    assert!(r_on >= 0.85 * c_off, "rfi {r_on} vs clean {c_off}");
    // Clean data: excision costs < 5 % of sigma and masks < 1 % of the data.
    assert!(c_on >= 0.95 * c_off, "clean on {c_on} vs off {c_off}");
    let rep = clean_on.rfi.as_ref().unwrap();
    assert!(rep.masked_fraction < 0.01, "clean masked fraction {}", rep.masked_fraction);
    assert!(rep.clipped_fraction < 1e-4, "clean clipped fraction {}", rep.clipped_fraction);
    // Without excision the DM-0 impulses wreck the search (measured: no candidate at all).
    assert!(s(&rfi_off).is_none_or(|x| x < 0.85 * c_off), "the RFI case no longer tests excision");

    // The RFI run's clipping removed the five impulses (71 spectra here) and the two modulated
    // emitters that change the channel's variance are masked.
    let rr = rfi_on.rfi.as_ref().unwrap();
    assert!(rr.clipped_spectra > 10, "clipped {}", rr.clipped_spectra);
    assert!(rr.masked_channels.contains(&291), "masked {:?}", rr.masked_channels);

    // Single pulses: no unflagged event that cannot be told from DM 0, and no bright
    // unflagged event at all (the impulses reached S/N 70–250 before excision).
    let h = rfi_on.header.clone();
    for p in &rfi_on.single_pulses {
        if p.rfi_flag == 0 {
            assert!(p.dm > 0.0 && sweep_s(&h, p.dm) >= p.width_s, "unflagged DM-0-like event {p:?}");
            assert!(p.snr < 20.0, "bright unflagged event {p:?}");
        }
    }
}

#[test]
fn unclipped_impulses_are_flagged_and_kept_out_of_the_top() {
    // Clipping off: the impulses come through (measured S/N 70–250 at DM 0–0.3) and must all be
    // flagged; flagged rows follow every unflagged one.
    let cfg = SearchConfig { periodic: false, ..search_cfg(RfiConfig { clip: false, ..RfiConfig::default() }) };
    let out = run(sim(true), &cfg);
    let h = out.header.clone();
    let bright: Vec<&SinglePulse> = out.single_pulses.iter().filter(|p| p.snr > 30.0).collect();
    assert!(bright.len() >= 3, "the impulses should be seen without clipping: {:?}", out.single_pulses);
    assert!(bright.iter().all(|p| p.rfi_flag == 1), "{bright:?}");
    for p in &out.single_pulses {
        let zero_like = p.dm <= 0.0 || sweep_s(&h, p.dm) < p.width_s;
        assert_eq!(p.rfi_flag == 1, zero_like, "{p:?}");
    }
    let first_flagged = out.single_pulses.iter().position(|p| p.rfi_flag == 1).unwrap();
    assert!(out.single_pulses[first_flagged..].iter().all(|p| p.rfi_flag == 1));
}

#[test]
fn sk_on_gaussian_noise_has_unit_mean_and_variance_4_over_m() {
    // Power of complex Gaussian voltages, |v|² (exponential: N·d = 1). M = 1024, 4000 blocks.
    let (m, nblocks) = (1024usize, 4000usize);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    let sk: Vec<f64> = (0..nblocks)
        .map(|_| {
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for _ in 0..m {
                let (re, im): (f64, f64) = (StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng));
                let p = 0.5 * (re * re + im * im);
                s1 += p;
                s2 += p * p;
            }
            sk_estimator(s1, s2, m as f64, 1.0)
        })
        .collect();
    let mean = sk.iter().sum::<f64>() / nblocks as f64;
    let var = sk.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nblocks - 1) as f64;
    let expect_var = sk_variance(m as f64, 1.0);
    assert!((expect_var * m as f64 - 4.0).abs() < 0.03, "formula {expect_var}");
    // Mean: standard error sqrt(4/M/nblocks) = 9.9e-4; 4 standard errors.
    assert!((mean - 1.0).abs() < 4.0 * (expect_var / nblocks as f64).sqrt(), "mean {mean}");
    // Variance: relative standard error of a sample variance ≈ sqrt(2/nblocks) = 2.2 % (SK is
    // nearly Gaussian at M = 1024); 4 standard errors = 9 %.
    assert!((var / expect_var - 1.0).abs() < 0.09, "variance {var} vs {expect_var}");
}

/// Pure Gaussian noise, `nchans × nsamp`, unit variance, from `seed`.
fn noise_obs(nchans: usize, nsamp: usize, seed: u64) -> MemoryObservation {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let data = Array2::from_shape_simple_fn((nsamp, nchans), || {
        let v: f64 = StandardNormal.sample(&mut rng);
        100.0 + 10.0 * v as f32
    });
    let header = Header { tsamp_s: 1e-3, fch1_mhz: 1500.0, foff_mhz: -1.0, nbits: 32, ..Header::default() };
    MemoryObservation::new(header, data)
}

#[test]
fn clip_rate_on_noise_matches_the_gaussian_tail() {
    let nsamp = 262_144;
    for (sigma, expect) in [(3.0f64, 2.0 * 0.001_349_898), (6.0, 2.0 * 9.87e-10)] {
        let cfg = RfiConfig { clip_sigma: sigma, mask: false, ..RfiConfig::default() };
        let c = CleanedObservation::new(Box::new(noise_obs(32, nsamp, 5)), &cfg).unwrap();
        let got = c.report().clipped_spectra as f64;
        let want = expect * nsamp as f64;
        eprintln!("clip {sigma}σ: {got} clipped, Gaussian tail predicts {want:.3}");
        if sigma == 3.0 {
            // 708 expected: Poisson 3.8 %, plus the per-block MAD scale error (1.166/sqrt(8192)
            // = 1.3 % in σ, ×9.8 in the 3σ tail rate, over 32 blocks: 2.3 %); 15 % ≈ 3 σ.
            assert!((got / want - 1.0).abs() < 0.15, "{got} vs {want}");
        } else {
            assert!(got <= 2.0, "{got} spectra clipped at 6σ on pure noise");
        }
    }
}

#[test]
fn excision_does_not_depend_on_read_block_size_or_threads() {
    let cfg = RfiConfig::default();
    let read_all = |reads: usize| -> Array2<f32> {
        let mut c = CleanedObservation::new(Box::new(sim(true)), &cfg).unwrap();
        let n = c.header().nsamples as usize;
        let mut out = Array2::<f32>::zeros((n, c.header().nchans));
        let mut s = 0usize;
        while s < n {
            let len = reads.min(n - s);
            out.slice_mut(ndarray::s![s..s + len, ..]).assign(&c.read_block(s as u64, len).unwrap());
            s += len;
        }
        out
    };
    let a = read_all(1000);
    assert_eq!(a, read_all(8192));
    assert_eq!(a, read_all(77_777));

    let with_threads = |n: usize, block: usize| -> SearchOutput {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        let cfg = SearchConfig { block_size: block, ..search_cfg(RfiConfig::default()) };
        pool.install(|| run(sim(true), &cfg))
    };
    let one = with_threads(1, 8192);
    let two = with_threads(2, 3000);
    assert_eq!(one.rfi, two.rfi);
    assert_eq!(one.candidates, two.candidates);
    assert_eq!(one.single_pulses, two.single_pulses);
}

/// Noise plus a broadband 50 Hz square-wave modulation (mains-like, all channels, DM 0).
fn mains_obs() -> MemoryObservation {
    let mut o = noise_obs(64, 65_536, 9).data().clone();
    for (t, mut row) in o.rows_mut().into_iter().enumerate() {
        // 1 ms sampling: 20 samples per period, on for 10.
        if (t % 20) < 10 {
            row.iter_mut().for_each(|v| *v += 0.5);
        }
    }
    let header = Header { tsamp_s: 1e-3, fch1_mhz: 1500.0, foff_mhz: -4.0, nbits: 32, ..Header::default() };
    MemoryObservation::new(header, o)
}

#[test]
fn zero_dm_mains_family_is_found_and_zapped() {
    let near_mains = |c: &Candidate| {
        let r = c.frequency_hz / 50.0;
        (r - r.round()).abs() * 50.0 < 0.2 && r.round() >= 1.0
    };
    let base = SearchConfig { dm_max: 200.0, single_pulse: false, ..SearchConfig::default() };
    let off = run(
        mains_obs(),
        &SearchConfig { rfi: RfiConfig { auto_birdies: false, ..RfiConfig::default() }, ..base.clone() },
    );
    assert!(off.candidates.iter().any(near_mains), "the 50 Hz family should be detected without zapping");
    let on = run(mains_obs(), &base);
    let birdies = &on.rfi.as_ref().unwrap().birdies;
    eprintln!("birdies: {:?}", birdies.iter().map(|b| b.frequency_hz).collect::<Vec<_>>());
    for f in [50.0, 150.0, 250.0] {
        assert!(birdies.iter().any(|b| (b.frequency_hz - f).abs() < 0.1), "no birdie at {f} Hz");
    }
    let left: Vec<&Candidate> = on.candidates.iter().filter(|c| near_mains(c)).collect();
    assert!(left.is_empty(), "50 Hz family left after zapping: {left:?}");
}

#[test]
fn zaplist_parses_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("a.zaplist");
    std::fs::write(&good, "# freq width\n50.0 0.2 4\n\n38.88, 0.05 # comment\n").unwrap();
    let b = parse_zaplist(&good).unwrap();
    assert_eq!(
        b,
        vec![
            Birdie { frequency_hz: 50.0, width_hz: 0.2, nharm: 4, source: 0, power: 0.0 },
            Birdie { frequency_hz: 38.88, width_hz: 0.05, nharm: 1, source: 0, power: 0.0 },
        ]
    );
    let bad = dir.path().join("b.zaplist");
    std::fs::write(&bad, "50 0.1\n-3 0.1\n").unwrap();
    let e = parse_zaplist(&bad).unwrap_err().to_string();
    assert!(e.contains("b.zaplist") && e.contains("line 2"), "{e}");
}

/// `tianyan search` runs the excision by default and records it in `/rfi`; a bad zap list is a
/// clear error before any work, and no output is written.
#[test]
fn cli_records_the_excision_in_the_candidate_file() {
    let dir = tempfile::tempdir().unwrap();
    let fil = dir.path().join("x.fil");
    let bin = env!("CARGO_BIN_EXE_tianyan");
    let st = std::process::Command::new(bin)
        .args(["simulate", "--preset", "fast-l-band-lite", "--nchans", "128", "--duration", "10", "--seed", "3"])
        .args(["--pulsar", "period=0.3131,dm=40,snr=15", "--rfi", "-o", fil.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let zap = dir.path().join("z.zaplist");
    std::fs::write(&zap, "50 0.1 3\n").unwrap();
    let h5 = dir.path().join("c.h5");
    let st = std::process::Command::new(bin)
        .args(["search", fil.to_str().unwrap(), "--dm-max", "80", "--zaplist", zap.to_str().unwrap()])
        .args(["-o", h5.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success(), "{text}");
    assert!(text.contains("RFI excision:"), "{text}");
    let f = hdf5::File::open(&h5).unwrap();
    let g = f.group("rfi").expect("/rfi group");
    let clipped: u64 = g.attr("clipped_spectra").unwrap().read_scalar().unwrap();
    let sigma: f64 = g.attr("clip_sigma").unwrap().read_scalar().unwrap();
    assert!(clipped > 0, "the simulated impulses are clipped");
    assert_eq!(sigma, 6.0);
    let flags = g.dataset("channel_flags").unwrap().read_raw::<u8>().unwrap();
    assert_eq!(flags.len(), 128);
    let birdies = g.dataset("birdies").unwrap().read_raw::<Birdie>().unwrap();
    assert!(birdies.iter().any(|b| b.frequency_hz == 50.0 && b.nharm == 3 && b.source == 0), "{birdies:?}");
    let sp = tianyan::io::candidates::read_single_pulses(&h5).unwrap();
    assert!(sp.iter().all(|p| p.rfi_flag == 1 || p.snr < 20.0), "{sp:?}");

    // --no-clip: nothing clipped, recorded as clip_sigma 0.
    let st = std::process::Command::new(bin)
        .args(["search", fil.to_str().unwrap(), "--dm-max", "80", "--no-clip", "--no-rfi-mask", "--periodic"])
        .args(["-o", h5.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(st.status.success());
    let g = hdf5::File::open(&h5).unwrap().group("rfi").unwrap();
    assert_eq!(g.attr("clipped_spectra").unwrap().read_scalar::<u64>().unwrap(), 0);
    assert_eq!(g.attr("clip_sigma").unwrap().read_scalar::<f64>().unwrap(), 0.0);

    let bad = dir.path().join("bad.zaplist");
    std::fs::write(&bad, "fifty 0.1\n").unwrap();
    let out2 = dir.path().join("never.h5");
    let st = std::process::Command::new(bin)
        .args(["search", fil.to_str().unwrap(), "--zaplist", bad.to_str().unwrap(), "-o", out2.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&st.stderr);
    assert!(!st.status.success());
    assert!(text.contains("bad.zaplist") && text.contains("line 1"), "{text}");
    assert!(!out2.exists());
}
