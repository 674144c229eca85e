//! Time per dedispersed trial of the FFT search with and without the acceleration search
//! (issue 14's figure: PRESTO `accelsearch -zmax 200 -numharm 8` takes 1.07 s per 2¹⁷-sample trial
//! on one core of these machines, 0.15 s at `-zmax 0`).
//!
//! `cargo run --release --example accel_bench -- [LOG2N] [REPEATS]` (defaults 17 and 3): searches
//! `REPEATS` white-noise series of `2^LOG2N` samples of 0.786 ms with 8 harmonics at zmax 0, 50
//! and 200 on one rayon thread and prints the median wall time per series, plus the time of the
//! (r, z) plane alone. Each figure also gives the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`),
//! which other jobs on a loaded machine inflate much less than the wall time.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::time::Instant;
use tianyan::search::accel::{power_plane, KernelBank};
use tianyan::search::periodic::{search_series, PeriodicConfig};

/// CPU seconds used by the calling thread so far.
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let log2n: u32 = args.first().and_then(|s| s.parse().ok()).unwrap_or(17);
    let repeats: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let n = 1usize << log2n;
    let tsamp = 0.786e-3;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
    pool.install(|| {
        for zmax in [0u32, 50, 200] {
            let cfg = PeriodicConfig { nharm_max: 8, zmax, ..PeriodicConfig::default() };
            let _ = KernelBank::cached(zmax.max(2));
            let (mut times, mut cpus): (Vec<f64>, Vec<f64>) = (0..repeats)
                .map(|_| {
                    let (t, c0) = (Instant::now(), thread_cpu_s());
                    let c = search_series(&x, tsamp, 0.0, &cfg);
                    std::hint::black_box(c);
                    (t.elapsed().as_secs_f64(), thread_cpu_s() - c0)
                })
                .unzip();
            times.sort_by(f64::total_cmp);
            cpus.sort_by(f64::total_cmp);
            let plane = if zmax > 0 {
                let spec = tianyan::search::spectrum::real_spectrum(&x);
                let bank = KernelBank::cached(zmax);
                let (t, c0) = (Instant::now(), thread_cpu_s());
                std::hint::black_box(power_plane(&spec, &bank));
                format!(", plane alone {:.3} s ({:.3} CPU-s)", t.elapsed().as_secs_f64(), thread_cpu_s() - c0)
            } else {
                String::new()
            };
            println!(
                "2^{log2n} samples, zmax {zmax:3}, 8 harmonics: {:.3} s per trial ({:.3} CPU-s; medians of {repeats}){plane}",
                times[times.len() / 2],
                cpus[cpus.len() / 2]
            );
        }
    });
}
