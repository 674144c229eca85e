//! Direct vs subband vs FDMT dedispersion, in memory, on a FAST-like band (1000–1500 MHz,
//! tsamp 4 × 49.152 µs), DMs evenly spaced over 0–1000 pc cm⁻³ (largest sweep ≈ 11 700 samples).
//!
//! Sizes: 1024 and 4096 channels × 512 and 2048 trials, 2^16 samples (not 2^18: 2^18 × 4096
//! channels is 4 GiB of input, and direct at that size takes minutes per run on 2 cores).
//! One short measurement each (`sample_size(10)`); `examples/dedisp_compare.rs` prints the same
//! comparison as a table with ratios and S/N.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;
use tianyan::dedisp::fdmt::FdmtDedisperser;
use tianyan::dedisp::subband::SubbandDedisperser;
use tianyan::dedisp::{Dedisperser, DirectDedisperser};
use tianyan::{Header, MemoryObservation};

const NSAMPLES: usize = 1 << 16;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("dedisp_algorithms");
    group.sample_size(10).warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(1));
    for nchans in [1024usize, 4096] {
        let header = Header {
            nchans,
            fch1_mhz: 1500.0 - 250.0 / nchans as f64,
            foff_mhz: -500.0 / nchans as f64,
            tsamp_s: 4.0 * 49.152e-6,
            nbits: 32,
            ..Header::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let data = Array2::from_shape_fn((NSAMPLES, nchans), |_| rng.gen_range(-1.0f32..1.0));
        let obs = MemoryObservation::new(header, data);
        for ndm in [512usize, 2048] {
            let dms: Vec<f64> = (0..ndm).map(|k| 1000.0 * k as f64 / (ndm - 1) as f64).collect();
            let algs: [Box<dyn Dedisperser>; 3] = [
                Box::new(DirectDedisperser::default()),
                Box::new(SubbandDedisperser::default()),
                Box::new(FdmtDedisperser::default()),
            ];
            for a in algs.iter() {
                let id = format!("{}/{nchans}ch/{ndm}dm", a.name());
                group.bench_function(id, |b| {
                    b.iter(|| {
                        let mut o = obs.clone();
                        black_box(a.dedisperse(&mut o, &dms, 1).map(|s| s.data.len()).unwrap_or(0))
                    })
                });
            }
        }
    }
    group.finish();
}

/// Issue 12 benchmark (c): FDMT on pravirkr/dmt's reference problem (4096 channels over
/// 704–1216 MHz, 81.92 µs, one block of 16 384 output samples, delay rows 0 … 2048, float32),
/// the whole pass (read, transpose, transform) and the transpose alone, on 1 thread
/// (`examples/fdmt_reference.rs` prints the same on 1 and 2 threads). dmt: 0.35 s (1 thread).
fn bench_fdmt_reference(c: &mut Criterion) {
    use tianyan::dedisp::fdmt::fdmt_dm_grid;
    use tianyan::dedisp::{transpose_downsample, ArraySink};
    const NCH: usize = 4096;
    const BLOCK: usize = 16_384;
    let mut header = Header {
        nchans: NCH,
        fch1_mhz: 1216.0 - 0.0625,
        foff_mhz: -0.125,
        tsamp_s: 81.92e-6,
        nbits: 32,
        ..Header::default()
    };
    let row1 = fdmt_dm_grid(&header, 1.0, 1)[1];
    let dms = fdmt_dm_grid(&header, 2048.0 * row1, 1);
    let ded = FdmtDedisperser { block_size: BLOCK };
    header.nsamples = 1 << 20;
    let overlap = ded.overlap(&header, &dms, 1).expect("valid header");
    let n = BLOCK + overlap;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let data = Array2::from_shape_fn((n, NCH), |_| rng.gen_range(-1.0f32..1.0));
    let obs = MemoryObservation::new(header, data);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let mut group = c.benchmark_group("fdmt_reference");
    group.sample_size(10).warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(5));
    let mut out = Array2::<f32>::zeros((dms.len(), BLOCK));
    let mut o = obs.clone();
    group.bench_function("fdmt_block_1thread", |b| {
        b.iter(|| {
            pool.install(|| {
                ded.stream(&mut o, &dms, 1, BLOCK, &mut ArraySink(&mut out), &mut |_, _| {}).expect("fdmt");
            })
        })
    });
    let src = obs.data().as_slice().expect("standard layout");
    let mut buf = vec![0f32; NCH * n];
    group.bench_function("transpose_1thread", |b| {
        b.iter(|| pool.install(|| transpose_downsample(src, NCH, 1, n, &mut buf, n, 0)))
    });
    group.bench_function("transpose_downsamp4_1thread", |b| {
        b.iter(|| pool.install(|| transpose_downsample(src, NCH, 4, n / 4, &mut buf[..NCH * (n / 4)], n / 4, 0)))
    });
    group.finish();
}

criterion_group!(benches, bench, bench_fdmt_reference);
criterion_main!(benches);
