//! Fourier-domain dedispersion (FDD) against direct dedispersion followed by a real FFT per
//! trial ("direct-then-FFT"): both produce one spectrum per DM trial, ready for the periodicity
//! search (which is the same afterwards and not timed here).
//!
//! Input (reduced from 1024 × 2^18 × 512 to fit two shared cores): 1024 channels over
//! 1500 → 1000 MHz, 2^16 samples of 98.304 µs (6.4 s), in memory (`MemoryObservation`),
//! 128 DM trials, at low DM (0..127, max delay 1.7k samples) and high DM (1000..1127,
//! max delay 26k samples).
//!
//! * `direct_then_fft/{low,high}`: `DirectDedisperser::dedisperse` + `real_spectrum` of each trial.
//! * `fdd/{low,high}`: reading, one FFT per channel of the padded series (`ChannelSpectra`),
//!   then `shift_and_sum` over the trials in groups of 16 (what `fdd_periodic_search` does
//!   before searching).
//! * `fdd_band_limited/{low,high}`: the same with per-channel intra-channel-smearing cut-offs.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use tianyan::dedisp::fourier::{band_limits, fast_len, fractional_delays, shift_and_sum, ChannelSpectra};
use tianyan::dedisp::{Dedisperser, DirectDedisperser};
use tianyan::search::spectrum::real_spectrum;
use tianyan::{Header, MemoryObservation, Observation};

const NCHANS: usize = 1024;
const NSAMPLES: usize = 1 << 16;
const NDM: usize = 128;

/// FDD spectra of every trial (summed over bins so nothing is optimised away).
fn fdd_spectra(obs: &mut dyn Observation, dms: &[f64], band_limit: bool) -> f32 {
    let h = obs.header().clone();
    let shifts: Vec<f64> = dms.iter().flat_map(|&dm| fractional_delays(&h, dm, h.tsamp_s)).collect();
    let maxd = shifts.iter().cloned().fold(0.0, f64::max).ceil() as usize;
    let nfft = fast_len(NSAMPLES + maxd);
    let raw = obs.read_block(0, NSAMPLES).unwrap();
    let mut rows = vec![0f32; NCHANS * nfft];
    // Transpose 16 channels per task (contiguous 64-byte reads per time row), then remove means.
    rows.par_chunks_mut(nfft * 16).enumerate().for_each(|(g, grp)| {
        for (t, row) in raw.outer_iter().enumerate() {
            for (r, v) in row.iter().skip(g * 16).take(16).enumerate() {
                grp[r * nfft + t] = *v;
            }
        }
        for r in grp.chunks_mut(nfft) {
            let mean = r[..NSAMPLES].iter().map(|&v| v as f64).sum::<f64>() / NSAMPLES as f64;
            r[..NSAMPLES].iter_mut().for_each(|v| *v = (*v as f64 - mean) as f32);
        }
    });
    let sp = ChannelSpectra::from_rows(&mut rows, nfft).unwrap();
    drop(rows);
    let limits: Option<Vec<usize>> =
        band_limit.then(|| dms.iter().flat_map(|&dm| band_limits(&h, dm, h.tsamp_s, nfft)).collect());
    let mut acc = 0f32;
    for j0 in (0..dms.len()).step_by(16) {
        let r = j0 * NCHANS..(j0 + 16).min(dms.len()) * NCHANS;
        let specs = shift_and_sum(&sp, &shifts[r.clone()], limits.as_ref().map(|l| &l[r])).unwrap();
        acc += specs.iter().map(|s| s[1].re).sum::<f32>();
    }
    acc
}

fn direct_then_fft(obs: &mut dyn Observation, dms: &[f64]) -> f32 {
    let out = DirectDedisperser::default().dedisperse(obs, dms, 1).unwrap();
    let rows: Vec<Vec<f32>> = out.data.outer_iter().map(|r| r.to_vec()).collect();
    rows.par_iter().map(|r| real_spectrum(r)[1].re).sum()
}

fn bench(c: &mut Criterion) {
    let header = Header {
        nchans: NCHANS,
        fch1_mhz: 1500.0,
        foff_mhz: -500.0 / NCHANS as f64,
        tsamp_s: 98.304e-6,
        ..Header::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let data = Array2::from_shape_fn((NSAMPLES, NCHANS), |_| rng.gen_range(0.0f32..255.0));
    let mut obs = MemoryObservation::new(header, data);
    let mut g = c.benchmark_group("fdd_vs_direct");
    g.sample_size(10);
    for (name, dm0) in [("low", 0.0), ("high", 1000.0)] {
        let dms: Vec<f64> = (0..NDM).map(|k| dm0 + k as f64).collect();
        g.bench_function(format!("direct_then_fft/{name}"), |b| b.iter(|| black_box(direct_then_fft(&mut obs, &dms))));
        g.bench_function(format!("fdd/{name}"), |b| b.iter(|| black_box(fdd_spectra(&mut obs, &dms, false))));
        g.bench_function(format!("fdd_band_limited/{name}"), |b| {
            b.iter(|| black_box(fdd_spectra(&mut obs, &dms, true)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
