//! Issue 12 benchmark (d): the direct dedispersion kernel against this machine's measured
//! memory bandwidth and f32 add rate.
//!
//! Measures, on 1 thread and on all of rayon's threads (best of `REPS`):
//! * STREAM-like copy (`b[i] = a[i]`, 8 bytes moved per element) and sum (`Σ a[i]`, 4 bytes)
//!   over 64 Mi `f32` (256 MiB, far beyond the caches);
//! * the f32 add rate: 32 independent accumulators over a 4 KiB array in L1 (vectorised adds,
//!   no memory traffic);
//! * the direct kernel (`DirectDedisperser::stream`, reading included) on 1024 channels ×
//!   2^16 samples of tsamp 196.608 µs, 512 trials over DM 0–1000: adds = nchans · ndm · nout,
//!   the bytes of its unavoidable traffic (input read once, output written once) and of its
//!   operand loads (one `f32` per add, served by the caches: the tiles keep the block there).
//!
//! Prints each rate and the kernel's fraction of the add rate and of the bandwidth.
//! Usage: `cargo run --release --example kernel_roofline -- [REPS]` (default 3).
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Instant;
use tianyan::dedisp::{ArraySink, Dedisperser, DirectDedisperser};
use tianyan::{Header, MemoryObservation};

fn best<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Sum with 32 independent accumulators (vectorisable; a plain `iter().sum()` is one dependent chain).
fn sum32(x: &[f32]) -> f32 {
    let mut acc = [0f32; 32];
    for ch in x.chunks_exact(32) {
        for l in 0..32 {
            acc[l] += ch[l];
        }
    }
    acc.iter().sum::<f32>() + x.chunks_exact(32).remainder().iter().sum::<f32>()
}

fn add_rate(reps: usize) -> f64 {
    use rayon::prelude::*;
    let n_threads = rayon::current_num_threads();
    let a: Vec<f32> = (0..1024).map(|i| (i % 7) as f32 * 1e-3).collect();
    const PASSES: usize = 20_000;
    let t = best(reps, || {
        let s: f32 = (0..n_threads)
            .into_par_iter()
            .map(|_| {
                let mut acc = [0f32; 32];
                for _ in 0..PASSES {
                    for ch in black_box(&a).chunks_exact(32) {
                        for l in 0..32 {
                            acc[l] += ch[l];
                        }
                    }
                }
                acc.iter().sum::<f32>()
            })
            .sum();
        black_box(s);
    });
    (n_threads * PASSES * a.len()) as f64 / t
}

fn main() {
    use rayon::prelude::*;
    let reps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let n = 64usize << 20;
    let a: Vec<f32> = (0..n).map(|i| (i % 13) as f32).collect();
    let mut b = vec![0f32; n];
    let nchans = 1024usize;
    let nsamples = 1usize << 16;
    let header = Header {
        nchans,
        fch1_mhz: 1500.0 - 250.0 / nchans as f64,
        foff_mhz: -500.0 / nchans as f64,
        tsamp_s: 4.0 * 49.152e-6,
        nbits: 32,
        ..Header::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let data = Array2::from_shape_fn((nsamples, nchans), |_| rng.gen_range(-1.0f32..1.0));
    let obs = MemoryObservation::new(header.clone(), data);
    let dms: Vec<f64> = (0..512).map(|k| 1000.0 * k as f64 / 511.0).collect();
    let ded = DirectDedisperser::default();
    let m = ded.overlap(&header, &dms, 1).expect("valid");
    let nout = nsamples - m;
    let mut out = Array2::<f32>::zeros((dms.len(), nout));
    for nt in [1usize, rayon::current_num_threads().max(2)] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(nt).build().expect("pool");
        pool.install(|| {
            let t_copy = best(reps, || b.par_chunks_mut(1 << 16).zip(a.par_chunks(1 << 16)).for_each(|(d, s)| d.copy_from_slice(s)));
            let t_sum = best(reps, || {
                black_box(a.par_chunks(1 << 16).map(sum32).sum::<f32>());
            });
            let adds = add_rate(reps);
            let t_dir = best(reps, || {
                let mut o = obs.clone();
                ded.stream(&mut o, &dms, 1, nout, &mut ArraySink(&mut out), &mut |_, _| {}).expect("direct");
            });
            let bw_copy = 8.0 * n as f64 / t_copy;
            let bw_sum = 4.0 * n as f64 / t_sum;
            let k_adds = (nchans * dms.len() * nout) as f64 / t_dir;
            let k_bytes = 4.0 * (nchans * nsamples + dms.len() * nout) as f64 / t_dir;
            println!(
                "threads {nt}: copy {:.2} GB/s, sum {:.2} GB/s, f32 adds {:.2} G/s | direct 1024 ch × 512 trials × {nout}: {t_dir:.3} s, {:.2} G adds/s = {:.1} % of the add rate; {:.3} GB/s of unavoidable traffic = {:.1} % of sum bandwidth; operand loads (4 B per add, from cache) {:.1} GB/s = {:.0} % of sum bandwidth",
                bw_copy / 1e9,
                bw_sum / 1e9,
                adds / 1e9,
                k_adds / 1e9,
                100.0 * k_adds / adds,
                k_bytes / 1e9,
                100.0 * k_bytes / bw_sum,
                4.0 * k_adds / 1e9,
                100.0 * 4.0 * k_adds / bw_sum
            );
        });
    }
}
