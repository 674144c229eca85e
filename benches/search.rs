//! FFT periodicity search throughput: one 2^20-sample series, 16 harmonics (whole pipeline:
//! mean removal, real FFT, whitening, interbinning, 5 harmonic stages, thresholding), plus the
//! harmonic-sum kernel alone.
use criterion::{criterion_group, criterion_main, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::hint::black_box;
use tianyan::search::harmonic::harmonic_sum;
use tianyan::search::periodic::{search_series, PeriodicConfig};

fn bench_search(c: &mut Criterion) {
    let n = 1usize << 20;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let d = Normal::new(0.0f32, 1.0).unwrap();
    let mut x: Vec<f32> = (0..n).map(|_| d.sample(&mut rng)).collect();
    // a weak pulse train so the candidate path is exercised
    let mut t = 0.0f64;
    while (t as usize) < n {
        x[t as usize] += 1.0;
        t += 333.3;
    }
    let cfg = PeriodicConfig::default();
    let mut g = c.benchmark_group("search");
    g.sample_size(10);
    g.bench_function("search_series_2^20_nharm16", |b| {
        b.iter(|| black_box(search_series(black_box(&x), 64e-6, 0.0, &cfg)))
    });
    let p: Vec<f32> = x.iter().map(|v| v * v).collect();
    g.bench_function("harmonic_sum_16_2^20", |b| b.iter(|| black_box(harmonic_sum(black_box(&p), 16))));
    g.finish();
}

criterion_group!(benches, bench_search);
criterion_main!(benches);
