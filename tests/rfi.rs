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
    RfiConfig { clip: false, mask: false, auto_birdies: false, gate: false, ..RfiConfig::default() }
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
    // Measured here (DM 0–100, the simulator's stream): clean, excision off σ 11.11; clean,
    // excision on σ 11.14; RFI (mild), excision on σ 11.02; RFI, excision off: no candidate
    // (before the block baseline and rfifind steps: 11.10, 11.10, 11.05). Issue 13: PRESTO 11.8
    // with and without RFI; tianyan before the excision stage: nothing, σ 3.2 at --sigma 3.
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
    assert!(rep.gated_fraction < 1e-3, "clean gated fraction {}", rep.gated_fraction);
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

// ---------------------------------------------------------------------------------------------
// The FAST-like RFI model (`--rfi fast-typical`) and the excision against it.

/// Issue 13's case with any RFI spec and optional pulsar/burst.
fn sim_spec(
    rfi: Option<&str>,
    pulsar: bool,
    bursts: &[&str],
    nchans: usize,
    duration_s: f64,
    seed: u64,
) -> SimulatedObservation {
    let cfg = SimConfig {
        preset: "fast-l-band-lite".into(),
        nchans: Some(nchans),
        duration_s,
        seed,
        pulsars: if pulsar { vec![PulsarSpec::parse("period=0.3131,dm=40,snr=15").unwrap()] } else { vec![] },
        bursts: bursts.iter().map(|b| tianyan::sim::BurstSpec::parse(b).unwrap()).collect(),
        rfi: rfi.map(|s| RfiSpec::parse(s).unwrap()),
        ..SimConfig::default()
    };
    SimulatedObservation::new(&cfg).unwrap()
}

#[test]
fn fast_typical_rfi_keeps_the_pulsar_sigma() {
    // Measured (DM 0–100): clean σ 11.17, fast-typical σ 9.91 (58 channels masked, 175
    // spectra clipped, the 50 Hz family zapped). Issue 13: within 15 %.
    let clean = run(sim_spec(None, true, &[], 512, 30.0, 3), &search_cfg(RfiConfig::default()));
    let typ = run(sim_spec(Some("fast-typical"), true, &[], 512, 30.0, 3), &search_cfg(RfiConfig::default()));
    let s = |o: &SearchOutput| pulsar(&o.candidates).map(|c| c.sigma as f64);
    let (c, t) = (s(&clean).expect("clean"), s(&typ));
    eprintln!(
        "pulsar sigma: clean {c:.2}, fast-typical {t:?}; report {:?}",
        typ.rfi.as_ref().map(|r| (r.masked_channels.len(), r.clipped_spectra, r.birdies.len()))
    );
    let t = t.expect("the pulsar is found under fast-typical RFI");
    assert!(t >= 0.85 * c, "fast-typical σ {t} vs clean {c}");
    // No DM-0 periodic candidate left: the mains family is zapped.
    assert!(typ.candidates.iter().all(|c| c.dm > 0.0 || c.sigma < 6.0), "{:?}", typ.candidates);
}

#[test]
fn fast_heavy_rfi_keeps_the_pulsar_above_threshold() {
    // Issue 13's case under `--rfi fast-heavy` (seed 3): before the gate and the finer baseline
    // knots the pulsar was lost (σ 2.28 at --sigma 2: its 0.46 Hz periodic's comb and the 5.8 s
    // gain drift); now σ 8.26 against 11.24 clean (CLI, 8-bit files, DM 0–100). Over seeds 3, 4,
    // 6, 7 (5 saturates the 8-bit file) the fast-heavy/clean ratio was 0.73, 0.65, 0.54, 0.70
    // (σ 8.26, 5.58, 6.16, 6.46 against 11.24, 8.53, 11.47, 9.29): this seed is asserted above
    // the default threshold 6, and at ≥ 0.5 of clean, the lowest ratio over those seeds less
    // a margin.
    let cfg = search_cfg(RfiConfig::default());
    let clean = run(sim_spec(None, true, &[], 512, 30.0, 3), &cfg);
    let heavy = run(sim_spec(Some("fast-heavy"), true, &[], 512, 30.0, 3), &cfg);
    let s = |o: &SearchOutput| pulsar(&o.candidates).map(|c| c.sigma as f64);
    let (c, h) = (s(&clean).expect("clean"), s(&heavy));
    let r = heavy.rfi.as_ref().unwrap();
    eprintln!(
        "pulsar sigma: clean {c:.2}, fast-heavy {h:?}; gated {} ({:.3}), clipped {}, masked {:.3}",
        r.gated_spectra, r.gated_fraction, r.clipped_spectra, r.masked_fraction
    );
    let h = h.expect("the pulsar is found under fast-heavy RFI at the default threshold");
    assert!(h >= 6.0 && h >= 0.5 * c, "fast-heavy σ {h} vs clean {c}");
    // The drifting periodic's "on" stretches (10 % duty cycle) are gated, not much more.
    assert!((0.05..0.2).contains(&r.gated_fraction), "gated fraction {}", r.gated_fraction);
    // Gating off (recorded as gate_sigma 0) loses the pulsar again: the step is what finds it.
    let off = run(
        sim_spec(Some("fast-heavy"), true, &[], 512, 30.0, 3),
        &search_cfg(RfiConfig { gate: false, ..RfiConfig::default() }),
    );
    assert_eq!(off.rfi.as_ref().unwrap().gate_sigma, 0.0);
    assert!(s(&off).is_none_or(|x| x < 6.0), "without the gate: {:?}", s(&off));
}

#[test]
fn fast_typical_rfi_keeps_the_frb_snr() {
    // An FRB at S/N 12 (DM 500, 2 ms): the best unflagged single pulse near its time and DM.
    let burst = "time=11.3,dm=500,snr=12,width=0.002";
    let cfg = SearchConfig { periodic: false, dm_max: 700.0, ..search_cfg(RfiConfig::default()) };
    let find = |o: &SearchOutput| {
        o.single_pulses
            .iter()
            .filter(|p| p.rfi_flag == 0 && (p.dm - 500.0).abs() < 25.0 && (p.time_s - 11.3).abs() < 0.05)
            .map(|p| p.snr as f64)
            .fold(None, |a: Option<f64>, s| Some(a.map_or(s, |a| a.max(s))))
    };
    let clean = run(sim_spec(None, false, &[burst], 512, 30.0, 5), &cfg);
    let typ = run(sim_spec(Some("fast-typical"), false, &[burst], 512, 30.0, 5), &cfg);
    let (c, t) = (find(&clean).expect("clean FRB"), find(&typ));
    eprintln!("FRB S/N: clean {c:.2}, fast-typical {t:?}");
    let t = t.expect("the FRB is found under fast-typical RFI");
    assert!(t >= 0.85 * c, "fast-typical S/N {t} vs clean {c}");
    // It stays the top unflagged single pulse.
    let top = typ.single_pulses.iter().find(|p| p.rfi_flag == 0).unwrap();
    assert!((top.dm - 500.0).abs() < 25.0, "top unflagged pulse {top:?}");
}

#[test]
fn rfi_only_file_gives_no_more_candidates_than_noise() {
    // Pure-noise prediction: periodic candidates above the trials-corrected σ 6 have a chance
    // probability Q(6) ≈ 1e-9 per observation, so 0 is expected; unflagged single pulses above
    // S/N 6 are counted on pure-noise runs of the same shape (seeds 11–12) and the RFI-only
    // run may exceed their mean λ by at most 3·sqrt(λ) + 1 (a Poisson upper bound).
    let cfg = search_cfg(RfiConfig::default());
    let unflagged = |o: &SearchOutput| o.single_pulses.iter().filter(|p| p.rfi_flag == 0).count() as f64;
    let noise: Vec<SearchOutput> =
        [11u64, 12].iter().map(|&s| run(sim_spec(None, false, &[], 512, 30.0, s), &cfg)).collect();
    let lambda = noise.iter().map(unflagged).sum::<f64>() / noise.len() as f64;
    let rfi = run(sim_spec(Some("fast-typical"), false, &[], 512, 30.0, 11), &cfg);
    eprintln!(
        "noise: periodic {:?}, unflagged pulses {:?}; RFI-only: periodic {} {:?}, unflagged pulses {}",
        noise.iter().map(|o| o.candidates.len()).collect::<Vec<_>>(),
        noise.iter().map(unflagged).collect::<Vec<_>>(),
        rfi.candidates.len(),
        rfi.candidates.iter().map(|c| (c.frequency_hz, c.dm, c.sigma)).collect::<Vec<_>>(),
        unflagged(&rfi)
    );
    assert!(noise.iter().all(|o| o.candidates.is_empty()), "pure noise gave periodic candidates");
    assert!(rfi.candidates.is_empty(), "RFI-only periodic candidates: {:?}", rfi.candidates);
    assert!(unflagged(&rfi) <= lambda + 3.0 * lambda.sqrt() + 1.0, "{} vs λ {lambda}", unflagged(&rfi));
}

/// Precision and recall of the time–frequency mask against the truth file's narrowband bursts.
#[test]
fn mask_flags_intermittent_narrowband_bursts() {
    // Bursts only (2–6σ, 2–8 s, 0.5–4 MHz), 128 channels over 60 s: 18 blocks of 8192 samples.
    let spec = "preset=mild,narrowband=0,impulse_rate=0,burst_rate=0.25,burst_duration=2:8";
    let obs = sim_spec(Some(spec), false, &[], 128, 60.0, 21);
    let truth = obs.truth("x", tianyan::sim::OutputFormat::Filterbank, 0).rfi.unwrap();
    assert!(truth.narrowband_bursts.len() >= 3, "{:?}", truth.narrowband_bursts);
    let h = obs.header().clone();
    let c = CleanedObservation::new(Box::new(obs), &RfiConfig::default()).unwrap();
    let r = c.report();
    let (nb, nc, l) = (r.nblocks, h.nchans, r.stat_block_samples as f64 * h.tsamp_s);
    let block_s = |b: usize| (b as f64 * l, if b + 1 == nb { h.duration_s() } else { (b + 1) as f64 * l });
    // Overlap (s) of each cell with the bursts.
    let mut overlap = vec![0.0f64; nb * nc];
    for bu in &truth.narrowband_bursts {
        for b in 0..nb {
            let (t0, t1) = block_s(b);
            let o = (t1.min(bu.time_s + bu.duration_s) - t0.max(bu.time_s)).max(0.0);
            for ch in bu.channels.0..=bu.channels.1 {
                overlap[b * nc + ch] += o;
            }
        }
    }
    let flagged = |b: usize, ch: usize| r.channel_flags[ch] != 0 || r.cell_mask[[b, ch]] != 0;
    // Truth cells: a burst covers at least a quarter of the block (shorter overlaps shift the
    // block's statistics by less than the tests resolve at 2σ and are not required).
    let truth_cells: Vec<usize> = (0..nb * nc).filter(|&i| overlap[i] >= 0.25 * l).collect();
    let hit = truth_cells.iter().filter(|&&i| flagged(i / nc, i % nc)).count();
    let all_flagged: Vec<usize> = (0..nb * nc).filter(|&i| flagged(i / nc, i % nc)).collect();
    let correct = all_flagged.iter().filter(|&&i| overlap[i] > 0.0).count();
    let recall = hit as f64 / truth_cells.len() as f64;
    let precision = correct as f64 / all_flagged.len().max(1) as f64;
    eprintln!(
        "bursts {}, truth cells {}, flagged {}, recall {recall:.3}, precision {precision:.3}",
        truth.narrowband_bursts.len(),
        truth_cells.len(),
        all_flagged.len()
    );
    assert!(!truth_cells.is_empty());
    assert!(recall >= 0.9, "recall {recall}");
    assert!(precision >= 0.9, "precision {precision}");
}

/// SK and IQRM flag the persistent GNSS emitters (fast-typical's, nothing else).
#[test]
fn sk_and_iqrm_flag_the_gnss_emitters() {
    let spec = "preset=fast-typical,impulse_rate=0,burst_rate=0,mains=0,periodic=0,gain_drift=0,dropout_rate=0,saturation_rate=0";
    let obs = sim_spec(Some(spec), false, &[], 512, 30.0, 3);
    let truth = obs.truth("x", tianyan::sim::OutputFormat::Filterbank, 0).rfi.unwrap();
    let freqs = obs.header().chan_freqs_mhz();
    let c = CleanedObservation::new(Box::new(obs), &RfiConfig::default()).unwrap();
    let flags = &c.report().channel_flags;
    // Channels where an emitter adds at least 1.5σ (its lobe's core), and channels outside
    // every lobe.
    let amp = |f: f64| {
        truth
            .emitters
            .iter()
            .map(|e| {
                let x = (f - e.centre_mhz) / e.half_width_mhz;
                if x.abs() >= 1.0 {
                    0.0
                } else if x == 0.0 {
                    e.amplitude_sigma
                } else {
                    e.amplitude_sigma * ((std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)).powi(2)
                }
            })
            .sum::<f64>()
    };
    let strong: Vec<usize> = (0..freqs.len()).filter(|&ch| amp(freqs[ch]) >= 1.5).collect();
    let outside: Vec<usize> = (0..freqs.len()).filter(|&ch| amp(freqs[ch]) == 0.0).collect();
    let by = |bits: u8| strong.iter().filter(|&&ch| flags[ch] & bits != 0).count();
    let sk_iqrm = tianyan::rfi::FLAG_SK | tianyan::rfi::FLAG_IQRM;
    eprintln!(
        "strong channels {}: flagged by SK {}, IQRM {}, SK or IQRM {}, any {}; outside flagged {}",
        strong.len(),
        by(tianyan::rfi::FLAG_SK),
        by(tianyan::rfi::FLAG_IQRM),
        by(sk_iqrm),
        by(0xFF),
        outside.iter().filter(|&&ch| flags[ch] != 0).count()
    );
    assert!(strong.len() > 20);
    assert!(by(sk_iqrm) as f64 >= 0.9 * strong.len() as f64, "SK/IQRM flagged {} of {}", by(sk_iqrm), strong.len());
    assert!(by(tianyan::rfi::FLAG_SK) > 0 && by(tianyan::rfi::FLAG_IQRM) > 0, "both methods take part");
    let false_flags = outside.iter().filter(|&&ch| flags[ch] != 0).count();
    assert!(false_flags as f64 <= 0.01 * outside.len() as f64, "{false_flags} channels outside the lobes masked");
}

/// The RFI model's data depend only on the seed: not on the read pattern or the thread count.
#[test]
fn rfi_model_is_deterministic_and_independent_of_blocks_and_threads() {
    let read = |block: usize, threads: usize| -> Array2<f32> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut o = sim_spec(Some("fast-heavy"), true, &[], 96, 12.0, 8);
            let n = o.header().nsamples as usize;
            let mut out = Array2::<f32>::zeros((n, 96));
            let mut s = 0;
            while s < n {
                let len = block.min(n - s);
                out.slice_mut(ndarray::s![s..s + len, ..]).assign(&o.read_block(s as u64, len).unwrap());
                s += len;
            }
            out
        })
    };
    let a = read(30_517, 1);
    assert_eq!(a, read(1000, 2));
    assert_eq!(a, read(4096, 3));
    let t1 = sim_spec(Some("fast-heavy"), true, &[], 96, 12.0, 8).truth("x", tianyan::sim::OutputFormat::Filterbank, 0);
    let t2 = sim_spec(Some("fast-heavy"), true, &[], 96, 12.0, 8).truth("x", tianyan::sim::OutputFormat::Filterbank, 0);
    assert_eq!(t1.rfi, t2.rfi);
    // Every component is there, and the dropouts are all-zero spectra.
    let r = t1.rfi.unwrap();
    assert!(!r.emitters.is_empty() && !r.impulses.is_empty() && r.periodic.len() == 2 && r.gain_drift.is_some());
    for d in &r.dropouts {
        let row = a.row(d.first_sample as usize);
        assert!(row.iter().all(|&v| v == 0.0), "dropout at {} not zero", d.first_sample);
    }
    // Another seed gives other RFI.
    let t3 = sim_spec(Some("fast-heavy"), true, &[], 96, 12.0, 9).truth("x", tianyan::sim::OutputFormat::Filterbank, 0);
    assert_ne!(Some(r), t3.rfi);
}

/// Zero-DM filtering leaves each spectrum's unmasked channels summing to 0 and removes a
/// broadband DM-0 modulation.
#[test]
fn zero_dm_filter_removes_broadband_signal() {
    let mut o = noise_obs(64, 16_384, 4).data().clone();
    for (t, mut row) in o.rows_mut().into_iter().enumerate() {
        let m = if (t / 800) % 2 == 0 { 3.0 } else { 0.0 };
        row.iter_mut().for_each(|v| *v += m);
    }
    let header = Header { tsamp_s: 1e-3, fch1_mhz: 1500.0, foff_mhz: -4.0, nbits: 32, ..Header::default() };
    let cfg = RfiConfig { zero_dm: true, clip: false, ..RfiConfig::default() };
    let mut c = CleanedObservation::new(Box::new(MemoryObservation::new(header.clone(), o.clone())), &cfg).unwrap();
    let d = c.read_block(0, 16_384).unwrap();
    let worst = d.rows().into_iter().map(|r| r.iter().map(|&v| v as f64).sum::<f64>().abs()).fold(0.0, f64::max);
    assert!(worst < 1e-3, "row sum {worst}");
    // Without it the square wave is in every channel: on/off means differ by 0.3 normalised σ.
    let mut c = CleanedObservation::new(
        Box::new(MemoryObservation::new(header, o)),
        &RfiConfig { clip: false, ..RfiConfig::default() },
    )
    .unwrap();
    let d = c.read_block(0, 16_384).unwrap();
    let on: f64 = (0..800).map(|t| d[[t, 7]] as f64).sum::<f64>() / 800.0;
    let off: f64 = (800..1600).map(|t| d[[t, 7]] as f64).sum::<f64>() / 800.0;
    assert!(on - off > 0.1, "on {on} off {off}");
}

/// `tianyan rfi` writes a mask that `search --mask` applies to give the same result as measuring;
/// a mask of another observation is a clear error before any output.
#[test]
fn cli_mask_file_round_trip_and_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_tianyan");
    let sim = |name: &str, nchans: &str| {
        let p = dir.path().join(name);
        let st = std::process::Command::new(bin)
            .args(["simulate", "--preset", "fast-l-band-lite", "--nchans", nchans, "--duration", "10", "--seed", "4"])
            .args(["--pulsar", "period=0.3131,dm=40,snr=20", "--rfi", "fast-typical", "-o", p.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        p
    };
    let a = sim("a.fil", "128");
    let b = sim("b.fil", "64");
    let mask = dir.path().join("m.h5");
    let st = std::process::Command::new(bin)
        // No DM range: the mask's birdies are those any search finds (here one to DM 80).
        .args(["rfi", a.to_str().unwrap(), "-o", mask.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let m = tianyan::rfi::maskfile::read_mask(&mask).unwrap();
    assert_eq!(m.header.nchans, 128);
    assert!(m.input.contains("a.fil"), "{}", m.input);
    assert!(m.report.clipped_spectra > 0 && !m.report.clipped_samples.is_empty());
    let search = |file: &std::path::Path, out: &str, extra: &[&str]| {
        let o = dir.path().join(out);
        let st = std::process::Command::new(bin)
            .args(["search", file.to_str().unwrap(), "--dm-max", "80", "-o", o.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        (st, o)
    };
    let (s1, o1) = search(&a, "c1.h5", &[]);
    let (s2, o2) = search(&a, "c2.h5", &["--mask", mask.to_str().unwrap()]);
    assert!(s1.status.success() && s2.status.success(), "{}", String::from_utf8_lossy(&s2.stderr));
    let c1 = tianyan::io::candidates::read_candidates(&o1).unwrap();
    let c2 = tianyan::io::candidates::read_candidates(&o2).unwrap();
    assert!(!c1.is_empty());
    // The same birdies (the probe DMs do not depend on the search's DM range): before, the mask
    // (probes to DM 1000) and a search to DM 100 zapped different 50 Hz lines of a fast-typical
    // file and `search --mask` gave one more candidate.
    let g = hdf5::File::open(&o1).unwrap().group("rfi").unwrap();
    let searched = tianyan::rfi::maskfile::read_rfi_group(&g).unwrap().birdies;
    assert!(!m.report.birdies.is_empty(), "fast-typical's mains family is found");
    assert_eq!(m.report.birdies, searched);
    assert_eq!(c1, c2, "the mask file reproduces the measured excision");
    let (s3, o3) = search(&b, "c3.h5", &["--mask", mask.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&s3.stderr);
    assert!(!s3.status.success());
    // Named by file (the mask records a.fil) before the header (nchans 128 vs 64) is compared.
    assert!(text.contains("a.fil") && text.contains("b.fil") && text.contains("was made from"), "{text}");
    assert!(!o3.exists());
    // `tianyan plot` draws the mask (from the mask file and from the candidate file's /rfi).
    for (src, dir_name) in [(&mask, "pm"), (&o1, "pc")] {
        let out = dir.path().join(dir_name);
        let st = std::process::Command::new(bin)
            .args(["plot", src.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        let dec = png::Decoder::new(std::fs::File::open(out.join("rfi_mask.png")).unwrap());
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), tianyan::plot::RFI_PLOT_SIZE);
        // Masked channels are drawn in grey (150, 150, 150): the GNSS emitters of fast-typical.
        let grey = buf.chunks(info.line_size / info.width as usize).filter(|p| p[..3] == [150, 150, 150]).count();
        assert!(grey > 1000, "{grey} grey pixels");
    }
    // A file that is not a mask.
    let (s4, _) = search(&a, "c4.h5", &["--mask", o1.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&s4.stderr).contains("not a tianyan RFI mask"));
}

/// `fold --mask` folds the excised data (issue 13: masks usable by search, fold and dedisperse),
/// with the same mask checks as `search --mask`.
#[test]
fn cli_fold_uses_the_mask() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_tianyan");
    let sim = |name: &str, nchans: &str| {
        let p = dir.path().join(name);
        let st = std::process::Command::new(bin)
            .args(["simulate", "--preset", "fast-l-band-lite", "--nchans", nchans, "--duration", "10", "--seed", "5"])
            .args(["--pulsar", "period=0.3131,dm=40,snr=20", "--rfi", "fast-heavy", "--allow-saturation"])
            .args(["-o", p.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        p
    };
    let a = sim("a.fil", "128");
    let b = sim("b.fil", "64");
    let mask = dir.path().join("m.h5");
    let st = std::process::Command::new(bin)
        .args(["rfi", a.to_str().unwrap(), "--no-auto-zap", "-o", mask.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let fold = |file: &std::path::Path, extra: &[&str]| {
        std::process::Command::new(bin)
            .args(["fold", file.to_str().unwrap(), "--period", "0.3131", "--dm", "40", "--no-search"])
            .args(extra)
            .output()
            .unwrap()
    };
    // (S/N, best boxcar width in bins) from the printed result.
    let snr = |o: &std::process::Output| -> (f64, usize) {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let line = text.lines().find(|l| l.starts_with("snr")).unwrap_or_else(|| panic!("{text}"));
        let w: Vec<&str> = line.split_whitespace().collect();
        (w[1].parse().unwrap(), w[4].parse().unwrap())
    };
    let clean = {
        let p = dir.path().join("c.fil");
        let st = std::process::Command::new(bin)
            .args(["simulate", "--preset", "fast-l-band-lite", "--nchans", "128", "--duration", "10", "--seed", "5"])
            .args(["--pulsar", "period=0.3131,dm=40,snr=20", "-o", p.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(st.status.success());
        snr(&fold(&p, &[]))
    };
    let raw = snr(&fold(&a, &[]));
    let cleaned = snr(&fold(&a, &["--mask", mask.to_str().unwrap()]));
    // Measured: the same pulsar without RFI S/N 19.38 (boxcar 4 of 64 bins); fast-heavy raw
    // 54.16 (boxcar 17: the interference's profile, not the pulse's); with the mask 17.11
    // (boxcar 4). The mask drops 37 of 128 channels (29 % of the data): S/N × sqrt(0.71) = 0.84
    // expected, hence 0.75–1.05 of the clean fold.
    assert!(raw.1 >= 2 * clean.1, "the raw fold is the interference's: {raw:?} vs clean {clean:?}");
    assert_eq!(cleaned.1, clean.1, "masked {cleaned:?} clean {clean:?}");
    let ratio = cleaned.0 / clean.0;
    assert!((0.75..=1.05).contains(&ratio), "masked {cleaned:?} clean {clean:?}");
    // The mask of another observation: an error naming both files, and no plot written.
    let png = dir.path().join("f.png");
    let o = fold(&b, &["--mask", mask.to_str().unwrap(), "-o", png.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    // Named by file (the mask records a.fil) before the header (nchans 128 vs 64) is compared.
    assert!(text.contains("a.fil") && text.contains("b.fil") && text.contains("was made from"), "{text}");
    assert!(!png.exists());
}

/// Spectral kurtosis assumes chi-squared power samples; on clean zero-mean float data (already
/// normalised, or voltage-like) `var/mean²` flagged channels at random (16 of 64 before). It is
/// now skipped with the reason recorded, and < 1 % of the channels are masked.
#[test]
fn sk_is_skipped_on_zero_mean_float_data() {
    let (nchans, nsamp) = (64, 65536);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(31);
    let data = Array2::from_shape_simple_fn((nsamp, nchans), || {
        let v: f64 = StandardNormal.sample(&mut rng);
        v as f32
    });
    let header = Header { tsamp_s: 1e-3, fch1_mhz: 1500.0, foff_mhz: -1.0, nbits: 32, ..Header::default() };
    let zero_mean = MemoryObservation::new(header, data);
    let c = CleanedObservation::new(Box::new(zero_mean), &RfiConfig::default()).unwrap();
    let r = c.report();
    assert!(r.sk_skipped.contains("not chi-squared power"), "{}", r.sk_skipped);
    assert!(r.masked_channels.len() as f64 <= 0.01 * nchans as f64, "{:?}", r.masked_channels);
    assert!(r.masked_fraction < 0.01, "{}", r.masked_fraction);
    // Power-like data (mean 100, σ 10) keep SK.
    let c = CleanedObservation::new(Box::new(noise_obs(nchans, nsamp, 31)), &RfiConfig::default()).unwrap();
    assert!(c.report().sk_skipped.is_empty());
}

/// A fresh user's `search r.fil --fold-top 1` on issue 13's fast-typical file stored a fold of
/// the interference (P 315.27 ms, DM −0.43, S/N 62.8) while the search had found the pulsar at
/// DM 37.7: the fold read the raw data. Now `--fold-top` folds the search's excised data; measured
/// on the same set-up: P 313.311 ms, DM 42.42, S/N 13.6. The fold must land on the pulsar: period
/// within 0.2 % of the truth (the fold's P is referred to t = 0 and optimised, measured 0.07 % off)
/// and DM within 40 ± 8 (the DM curve of a 0.3 s pulsar with a 15 ms pulse is ~±5 wide here).
#[test]
fn search_fold_top_folds_the_excised_data() {
    let run = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_tianyan")).args(args).output().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fil = dir.path().join("r.fil");
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    let out = run(&[
        "simulate",
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "512",
        "--duration",
        "30",
        "--seed",
        "3",
        "--pulsar",
        "period=0.3131,dm=40,snr=15",
        "--rfi",
        "fast-typical",
        "-o",
        &p(&fil),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let h5 = dir.path().join("r.h5");
    let out = run(&["search", &p(&fil), "-o", &p(&h5), "--dm-max", "100", "--periodic", "--fold-top", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let folds = tianyan::fold::read_folds(&h5).unwrap();
    assert_eq!(folds.len(), 1);
    let r = &folds[0].result;
    assert!((r.period_s - 0.3131).abs() < 0.002 * 0.3131, "fold P {} s", r.period_s);
    assert!((r.dm - 40.0).abs() < 8.0, "fold DM {}", r.dm);
}
