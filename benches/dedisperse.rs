//! Direct dedispersion throughput, in DM-trials × channels × samples per second, against an
//! "add-throughput bound": a vectorised sum that reads exactly the same number of bytes
//! (ndm × nchans × nsamples `f32`) from the same block-sized buffer, with no delays and no writes.
//!
//! Input: 1024 channels (1500 → 988.5 MHz), 2^16 samples of 1 ms, 64 DMs 0..63 (max delay
//! 151 samples), in memory (`MemoryObservation`).
//!
//! * `direct/observation`: the whole `Dedisperser::dedisperse` (block reads, transpose, kernel).
//! * `direct/kernel`: `dedisperse_tiles` over prepared channel-major blocks (parallel over time
//!   tiles, all DMs per tile: the block is re-read from cache by each trial).
//! * `bound/sum`: the add-throughput bound over the same bytes, parallel over DMs (each pass
//!   streams the whole 36 MB block, so it measures memory-bound adds; a cache-blocked kernel
//!   can beat it).
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use tianyan::dedisp::direct::dedisperse_tiles;
use tianyan::dedisp::plan::delay_samples;
use tianyan::dedisp::{Dedisperser, DirectDedisperser};
use tianyan::{Header, MemoryObservation};

const NCHANS: usize = 1024;
const NSAMPLES: usize = 1 << 16;
const NDM: usize = 64;
const BLOCK: usize = 8192;

/// Sum of a slice with 16 independent accumulators (vectorisable without reassociation).
fn sum16(x: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..16 {
            acc[k] += c[k];
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

fn bench(c: &mut Criterion) {
    let header = Header { nchans: NCHANS, fch1_mhz: 1500.0, foff_mhz: -0.5, tsamp_s: 1e-3, ..Header::default() };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let data = Array2::from_shape_fn((NSAMPLES, NCHANS), |_| rng.gen_range(0.0f32..255.0));
    let dms: Vec<f64> = (0..NDM).map(|k| k as f64).collect();
    let delays: Vec<Vec<usize>> = dms.iter().map(|&dm| delay_samples(&header, dm, header.tsamp_s)).collect();
    let max_delay = delays.iter().flatten().copied().max().unwrap_or(0);
    let nout = NSAMPLES - max_delay;
    let stride = BLOCK + max_delay;

    // Channel-major blocks as the direct dedisperser builds them.
    let nblocks = nout.div_ceil(BLOCK);
    let blocks: Vec<Vec<f32>> = (0..nblocks)
        .map(|b| {
            let o0 = b * BLOCK;
            let mut buf = vec![0f32; NCHANS * stride];
            for ch in 0..NCHANS {
                for i in 0..stride.min(NSAMPLES - o0) {
                    buf[ch * stride + i] = data[[o0 + i, ch]];
                }
            }
            buf
        })
        .collect();

    let mut group = c.benchmark_group("dedisperse");
    group.sample_size(10);
    group.throughput(Throughput::Elements((NDM * NCHANS * nout) as u64));

    let obs = MemoryObservation::new(header.clone(), data);
    group.bench_function("direct/observation", |b| {
        let mut o = obs.clone();
        b.iter(|| DirectDedisperser { block_size: BLOCK }.dedisperse(&mut o, &dms, 1).map(|s| black_box(s.data.len())))
    });

    group.bench_function("direct/kernel", |b| {
        let mut out = vec![0f32; NDM * nout];
        b.iter(|| {
            for (k, blk) in blocks.iter().enumerate() {
                let o0 = k * BLOCK;
                let len = BLOCK.min(nout - o0);
                dedisperse_tiles(blk, stride, &delays, len, &mut out, nout, o0);
            }
            black_box(out[0])
        })
    });

    group.bench_function("bound/sum", |b| {
        b.iter(|| {
            let mut total = 0f32;
            for (k, blk) in blocks.iter().enumerate() {
                let len = BLOCK.min(nout - k * BLOCK);
                // Same bytes per DM as the kernel: nchans rows of `len` samples.
                let s: f32 = (0..NDM)
                    .into_par_iter()
                    .map(|dm| (0..NCHANS).map(|ch| sum16(&blk[ch * stride + dm % 2..][..len])).sum::<f32>())
                    .sum();
                total += s;
            }
            black_box(total)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
