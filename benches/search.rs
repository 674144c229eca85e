//! FFT periodicity search throughput: one 2^20-sample series, 16 harmonics (whole pipeline:
//! mean removal, real FFT, whitening, interbinning, 5 harmonic stages, thresholding), plus the
//! harmonic-sum kernel alone, all five stages of harmonic sums with their peak scan, and the
//! whitening of a 2^19-bin spectrum.
use criterion::{criterion_group, criterion_main, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::hint::black_box;
use tianyan::search::harmonic::{harmonic_stages, harmonic_sum, stage_peaks, StageScan};
use tianyan::search::periodic::{search_series, PeriodicConfig};
use tianyan::search::spectrum::{real_spectrum, whiten_spectrum};

/// Stage sums one stage at a time (each from scratch, `H` passes) and the local-maximum scan:
/// the periodic search's stage loop before the incremental kernel.
fn stages_one_by_one(p: &[f32], thr: &[f32]) -> usize {
    let mut npeaks = 0;
    for (s, &hh) in harmonic_stages(16).iter().enumerate() {
        let sums = harmonic_sum(p, hh);
        for j in 1..sums.len() {
            let v = sums[j];
            if v < thr[s] {
                continue;
            }
            let right = if j + 1 < sums.len() { sums[j + 1] } else { f32::NEG_INFINITY };
            if v < sums[j - 1] || v <= right {
                continue;
            }
            npeaks += 1;
        }
    }
    npeaks
}

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
    // Thresholds at about 6σ single-trial for each stage (few peaks, as in a search).
    let thr: Vec<f32> = harmonic_stages(16).iter().map(|&h| h as f32 + 9.0 * (h as f32).sqrt() + 8.0).collect();
    g.bench_function("harmonic_stages_1-16_with_peaks_2^20_one_by_one", |b| {
        b.iter(|| black_box(stages_one_by_one(black_box(&p), &thr)))
    });
    let mut sums = Vec::new();
    let mut peaks = Vec::new();
    g.bench_function("harmonic_stages_1-16_with_peaks_2^20_incremental", |b| {
        b.iter(|| {
            peaks.clear();
            let scan = |hh: u32| StageScan { jlo: 1, jhi: p.len(), threshold: thr[hh.trailing_zeros() as usize] };
            stage_peaks(black_box(&p), 16, scan, &mut sums, &mut peaks);
            black_box(peaks.len())
        })
    });
    let spec = real_spectrum(&x);
    g.bench_function("whiten_spectrum_2^19_bins", |b| {
        b.iter_batched(
            || spec.clone(),
            |mut s| black_box(whiten_spectrum(&mut s).nwindows),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_search);
criterion_main!(benches);
