//! Calibrates the effective-trials model of `tianyan::search::trials` on pure noise.
//!
//! `cargo run --release --example calibrate_trials -- series [M] [LOG2N]`: searches `M` (default
//! 2000) white-noise series of `2^LOG2N` (default 17) samples of 1 ms with the default periodic
//! search (0.1 Hz – 10 kHz, `NHARM` harmonics, default 16) and a low threshold, and prints, per harmonic stage
//! `H`, the number of candidates whose best stage is `H` with tail probability below `p`,
//! divided by `p × M × bins stage H searched` (→ `c_H`; `$FMAX` lowers the 10 kHz fundamental limit), at the tail probabilities of the 0, 1, 2 and 3σ
//! trials-corrected levels. `$ZMAX` runs the acceleration search (`c_H` then includes the drift
//! factor `accel_trials_factor(ZMAX)`, whose ratio to the zero-drift `c_H` calibrates it).
//!
//! `cargo run --release --example calibrate_trials -- obs [M] [DURATION_S]`: `M` (default 24)
//! pure-noise observations of the accuracy grid's set-up (`fast-l-band-lite`, 512 channels or `$NCHANS`,
//! 393.216 µs, 8 bits, DM 0–120 on the default plan), and prints the effective total trials
//! implied by the counts of sifted candidates below `p`, with the DM decorrelation constant `γ`
//! that makes `search_trials` reproduce it.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use tianyan::pipeline::{run_search, SearchConfig};
use tianyan::search::harmonic::harmonic_stages;
use tianyan::search::periodic::{search_series, PeriodicConfig};
use tianyan::search::stats::{chi2_logsf, ln_gauss_sf};
use tianyan::search::trials::search_sigma;
use tianyan::search::trials::{last_bin, search_trials_with, searched_bins, series_trials, stage_top_bin, DmSpan};
use tianyan::sim::{SimConfig, SimulatedObservation};

/// Per-trial tail probability at which a candidate reaches `sigma` after `w` trials.
fn p_at(sigma: f64, w: f64) -> f64 {
    let q = ln_gauss_sf(sigma).exp();
    -((-q).ln_1p() / w).exp_m1()
}

fn series(m: usize, log2n: u32) {
    let n = 1usize << log2n;
    let dt = 1e-3;
    let nharm: u32 = std::env::var("NHARM").ok().and_then(|s| s.parse().ok()).unwrap_or(16);
    let stages = harmonic_stages(nharm);
    let fmax: f64 = std::env::var("FMAX").ok().and_then(|s| s.parse().ok()).unwrap_or(1e4);
    let (lo, hi) = searched_bins(n, dt, 0.1, fmax).unwrap();
    let nbins = hi.floor() - lo.ceil() + 1.0;
    // Stage H tests fundamentals up to min(hi, k_last / H) only.
    let stage_bins = |h: u32| stage_top_bin(hi, last_bin(n), h).floor() - lo.ceil() + 1.0;
    let zmax: u32 = std::env::var("ZMAX").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let w = series_trials(lo, hi, last_bin(n), n as f64 * dt, &stages, DmSpan::SINGLE)
        * tianyan::search::trials::accel_trials_factor(zmax);
    let cfg = PeriodicConfig {
        zmax,
        nharm_max: nharm,
        fmax_hz: fmax,
        sigma_threshold: -1.5,
        max_candidates: 100_000,
        ..PeriodicConfig::default()
    };
    let all: Vec<(u32, f64, f32)> = (0..m)
        .into_par_iter()
        .flat_map_iter(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 + i as u64);
            let x: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
            search_series(&x, dt, 0.0, &cfg)
                .into_iter()
                .map(|c| (c.nharm, chi2_logsf(c.power as f64, c.nharm), c.sigma))
        })
        .collect();
    println!("{m} series of {n} samples, {nbins} bins searched, model W = {w:.4e} ({:.3} per bin)", w / nbins);
    println!("level  p          count   c_H per stage (1 2 4 8 16)            sum");
    for s in [-0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5] {
        let p = p_at(s, w);
        let lp = p.ln();
        let per: Vec<f64> = stages
            .iter()
            .map(|&h| {
                all.iter().filter(|(hh, l, _)| *hh == h && *l < lp).count() as f64 / (p * m as f64 * stage_bins(h))
            })
            .collect();
        let total = all.iter().filter(|(_, l, _)| *l < lp).count();
        println!(
            "{s:.1}σ  u={:.3}  {p:.3e}  {total:6}  {}  {:.3}",
            -lp,
            per.iter().map(|c| format!("{c:.3}")).collect::<Vec<_>>().join(" "),
            per.iter().sum::<f64>()
        );
    }
    if zmax > 0 {
        // The drift factor F that makes the counts of candidates at ≥ s sigma (sigma recomputed
        // with W = W₀ F from each candidate's power and stage) equal the prediction.
        let w0 = w / tianyan::search::trials::accel_trials_factor(zmax);
        let powers: Vec<(u32, f64)> = all
            .iter()
            .map(|&(h, l, _)| (h, l)) // (stage, ln p)
            .collect();
        for s in [0.0f64, 1.0, 2.0] {
            let want = -(m as f64) * (-ln_gauss_sf(s).exp()).ln_1p();
            let count = |f: f64| {
                powers
                    .iter()
                    .filter(|&&(_, l)| {
                        let sig = tianyan::search::stats::sigma_from_logp(tianyan::search::stats::logp_with_trials(
                            l,
                            tianyan::search::trials::trials_at(w0 * f, l, n),
                        ));
                        sig >= s
                    })
                    .count() as f64
            };
            let (mut lo_f, mut hi_f) = (1.0f64, 1e5f64);
            for _ in 0..60 {
                let mid = (lo_f * hi_f).sqrt();
                if count(mid) > want {
                    lo_f = mid;
                } else {
                    hi_f = mid;
                }
            }
            println!(
                "  drift factor F at {s}σ: {:.1} (κ = (F − 1)/zmax = {:.3}; count {:.0} vs {want:.1})",
                lo_f,
                (lo_f - 1.0) / zmax as f64,
                count(lo_f)
            );
        }
    }
    println!("reported sigma: observed / expected count (−M ln(1 − Q(s)))");
    for s in [0.0f32, 1.0, 2.0, 3.0, 4.0] {
        let obs = all.iter().filter(|x| x.2 >= s).count();
        let exp = -(m as f64) * (-ln_gauss_sf(s as f64).exp()).ln_1p();
        println!("  ≥ {s}σ: {obs} / {exp:.1}");
    }
}

fn obs(m: usize, duration_s: f64) {
    let stages = harmonic_stages(16);
    let env = |k: &str, d: f64| std::env::var(k).ok().and_then(|s| s.parse().ok()).unwrap_or(d);
    let (fmin, fmax) = (env("FMIN", 0.5), env("FMAX", 500.0));
    let scfg = SearchConfig {
        dm_min: 0.0,
        dm_max: 120.0,
        periodic: true,
        single_pulse: false,
        periodic_cfg: PeriodicConfig {
            sigma_threshold: -2.0,
            fmin_hz: fmin,
            fmax_hz: fmax,
            max_candidates: 100_000,
            ..PeriodicConfig::default()
        },
        ..SearchConfig::default()
    };
    // (summed power, stage) of every sifted noise candidate
    let mut cands: Vec<(f64, u32)> = Vec::new();
    let mut sigmas: Vec<f32> = Vec::new();
    let mut w_model = 0.0;
    let mut header = None;
    let mut plan = None;
    for i in 0..m {
        let sim = SimConfig {
            preset: "fast-l-band-lite".into(),
            duration_s,
            nchans: Some(env("NCHANS", 512.0) as usize),
            tsamp_s: Some(3.93216e-4),
            nbits: Some(8),
            seed: 5000 + i as u64,
            source_name: "NOISE".into(),
            ..SimConfig::default()
        };
        let o = SimulatedObservation::new(&sim).expect("simulation");
        let out = run_search(Box::new(o), &scfg, &mut |_, _| {}).expect("search");
        w_model = out.periodic_trials;
        cands.extend(out.candidates.iter().map(|c| (c.power as f64, c.nharm)));
        sigmas.extend(out.candidates.iter().map(|c| c.sigma));
        header = Some(out.header.clone());
        plan = Some(out.plan.clone());
        eprintln!("obs {i}: {} candidates, W = {:.4e}", out.candidates.len(), out.periodic_trials);
    }
    let (header, plan) = (header.unwrap(), plan.unwrap());
    let nsamples = header.nsamples as usize;
    let expected = |s: f64| -(m as f64) * (-ln_gauss_sf(s).exp()).ln_1p();
    println!("{m} noise observations of {duration_s} s, {fmin}–{fmax} Hz; model W = {w_model:.4e}");
    println!("reported sigma: observed / expected count (−M ln(1 − Q(s)))");
    for s in [-1.0f32, 0.0, 1.0, 2.0, 3.0] {
        let obs = sigmas.iter().filter(|&&x| x >= s).count();
        println!("  ≥ {s}σ: {obs} / {:.2}", expected(s as f64));
    }
    // γ that reproduces the count at each level, re-evaluating every candidate's sigma with the
    // trials model at that γ (candidates were kept down to −2σ, so counts at ≥ 0σ are complete
    // for any γ that lowers sigma).
    let count_at = |g: f64, s: f64| {
        let w = search_trials_with(&header, &plan, &stages, fmin, fmax, g);
        cands.iter().filter(|&&(p, h)| search_sigma(p, h, w, nsamples) >= s).count() as f64
    };
    for s in [0.0, 1.0] {
        let target = expected(s);
        let (mut a, mut b) = (0.0, 256.0);
        if count_at(b, s) > target {
            println!("{s}σ: even γ = 256 leaves {} > {target:.2}", count_at(b, s));
            continue;
        }
        if count_at(a, s) < target {
            println!("{s}σ: γ = 0 gives {} < {target:.2}", count_at(a, s));
            continue;
        }
        for _ in 0..40 {
            let mid = 0.5 * (a + b);
            if count_at(mid, s) > target {
                a = mid;
            } else {
                b = mid;
            }
        }
        println!("{s}σ: γ = {:.3} reproduces the count {target:.2}", 0.5 * (a + b));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("series");
    match mode {
        "obs" => obs(
            args.get(2).and_then(|s| s.parse().ok()).unwrap_or(24),
            args.get(3).and_then(|s| s.parse().ok()).unwrap_or(30.0),
        ),
        _ => series(
            args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000),
            args.get(3).and_then(|s| s.parse().ok()).unwrap_or(17),
        ),
    }
}
