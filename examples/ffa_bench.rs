//! Times the FFA periodogram of one dedispersed series searched `NDM` times (as many DM trials),
//! in parallel over the copies with rayon, and prints the best S/N and its period.
//!
//! `cargo run --release --example ffa_bench -- SERIES.tim NDM PMIN PMAX BINS_MIN BINS_MAX`
//! (any file `tianyan::open_observation` reads as one channel: SIGPROC `.tim`, PRESTO `.dat`).
use rayon::prelude::*;
use tianyan::search::ffa::{periodogram, FfaConfig, FfaPlan};

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 7 {
        anyhow::bail!("usage: ffa_bench SERIES NDM PMIN PMAX BINS_MIN BINS_MAX");
    }
    let mut obs = tianyan::open_observation(&[a[1].clone().into()])?;
    let h = obs.header().clone();
    anyhow::ensure!(h.nchans == 1, "{}: not a one-channel series", a[1]);
    let x: Vec<f32> = obs.read_block(0, h.nsamples as usize)?.iter().copied().collect();
    let ndm: usize = a[2].parse()?;
    let cfg = FfaConfig {
        period_min_s: a[3].parse()?,
        period_max_s: a[4].parse()?,
        bins_min: a[5].parse()?,
        bins_max: a[6].parse()?,
        ..FfaConfig::default()
    };
    let t = std::time::Instant::now();
    let plan = FfaPlan::new(x.len(), h.tsamp_s, &cfg)?;
    let t_plan = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let best: Vec<(f32, f64, f64)> = (0..ndm)
        .into_par_iter()
        .map(|_| {
            let pg = periodogram(&x, &plan, &cfg);
            let i = (0..pg.snr.len()).max_by(|&a, &b| pg.snr[a].total_cmp(&pg.snr[b])).unwrap_or(0);
            let mean = pg.snr.iter().map(|&v| v as f64).sum::<f64>() / pg.snr.len().max(1) as f64;
            (pg.snr[i], plan.periods_s[i], mean)
        })
        .collect();
    let wall = t.elapsed().as_secs_f64();
    println!(
        "tianyan FFA: {} samples of {:.6} ms, {} trials per series, {} steps; plan {:.3} s; {ndm} series in {wall:.2} s \
         ({:.3} s each, {} threads); best S/N {:.2} at P {:.7} s; mean trial S/N {:.3}",
        x.len(),
        h.tsamp_s * 1e3,
        plan.len(),
        plan.steps.len(),
        t_plan,
        wall / ndm as f64,
        rayon::current_num_threads(),
        best[0].0,
        best[0].1,
        best[0].2
    );
    Ok(())
}
