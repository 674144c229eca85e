//! Single-pulse search throughput: one DM series of 2^20 samples, all widths up to 0.1 s
//! (tsamp 1 ms: widths 1 … 70), and clustering of many raw events.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tianyan::search::single_pulse::{cluster, search_dm_series, ClusterConfig, SinglePulseConfig};
use tianyan::search::SinglePulse;

fn bench_search(c: &mut Criterion) {
    let n = 1usize << 20;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x: Vec<f32> = (0..n).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
    let cfg = SinglePulseConfig::default();
    let mut g = c.benchmark_group("single_pulse");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("search_dm_series_2^20_samples", |b| {
        b.iter(|| search_dm_series(std::hint::black_box(&x), 100.0, 1e-3, 1, &cfg))
    });
    // Low threshold: many events per series, to time the peak finding too.
    let cfg3 = SinglePulseConfig { snr_threshold: 3.0, ..Default::default() };
    g.bench_function("search_dm_series_2^20_samples_threshold3", |b| {
        b.iter(|| search_dm_series(std::hint::black_box(&x), 100.0, 1e-3, 1, &cfg3))
    });
    // Clustering 100 000 events over 200 DM trials.
    let grid: Vec<f64> = (0..200).map(|i| i as f64 * 0.5).collect();
    let events: Vec<SinglePulse> = (0..100_000)
        .map(|_| {
            let w = [1u32, 2, 4, 9, 20][rng.gen_range(0..5)];
            SinglePulse {
                time_s: rng.gen_range(0.0..1000.0),
                sample: 0,
                dm: grid[rng.gen_range(0..200)],
                width_s: w as f64 * 1e-3,
                width_samples: w,
                snr: rng.gen_range(6.0..10.0),
                n_members: 1,
                rfi_flag: 0,
            }
        })
        .collect();
    let ccfg = ClusterConfig { dm_trials: grid, ..Default::default() };
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("cluster_100k_events", |b| b.iter(|| cluster(events.clone(), &ccfg)));
    g.finish();
}

criterion_group!(benches, bench_search);
criterion_main!(benches);
