//! Prints every noise candidate of `M` white-noise series of `2^LOG2N` samples of 1 ms searched
//! with the default periodic search at a low threshold, one line each:
//! `(series, fft_bin, nharm, power, sigma)`.
//!
//! `cargo run --release --example tail_probe -- M LOG2N [THRESHOLD_SIGMA]` (threshold default −0.5).
//! Used to find where the heaviest noise tail sits (the lowest Fourier bins, see
//! `tianyan::search::trials::MIN_FUNDAMENTAL_BIN`): sort the output by its last column.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use tianyan::search::periodic::{search_series, PeriodicConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let m: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let log2n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(15);
    let threshold: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(-0.5);
    let n = 1usize << log2n;
    let cfg = PeriodicConfig { sigma_threshold: threshold, max_candidates: 100_000, ..PeriodicConfig::default() };
    let all: Vec<(usize, f64, u32, f32, f32)> = (0..m)
        .into_par_iter()
        .flat_map_iter(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 + i as u64);
            let x: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
            search_series(&x, 1e-3, 0.0, &cfg).into_iter().map(move |c| (i, c.fft_bin, c.nharm, c.power, c.sigma))
        })
        .collect();
    for c in all {
        println!("{c:?}");
    }
}
