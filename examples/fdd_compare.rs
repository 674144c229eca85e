//! Times the stages of Fourier-domain dedispersion against direct-then-FFT on a synthetic
//! observation (1024 channels, 2^16 samples of 98.304 µs, 128 DM trials from `DM0`, default 0):
//! `cargo run --release --example fdd_compare [DM0]`.
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::time::Instant;
use tianyan::dedisp::fourier::{band_limits, fast_len, fractional_delays, shift_and_sum, ChannelSpectra};
use tianyan::dedisp::{Dedisperser, DirectDedisperser};
use tianyan::search::spectrum::real_spectrum;
use tianyan::{Header, MemoryObservation, Observation};

fn main() {
    let dm0: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let (nchans, nsamples, ndm) = (1024usize, 1usize << 16, 128usize);
    let h =
        Header { nchans, fch1_mhz: 1500.0, foff_mhz: -500.0 / nchans as f64, tsamp_s: 98.304e-6, ..Header::default() };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let data = Array2::from_shape_fn((nsamples, nchans), |_| rng.gen_range(0.0f32..255.0));
    let mut obs = MemoryObservation::new(h.clone(), data);
    let dms: Vec<f64> = (0..ndm).map(|k| dm0 + k as f64).collect();

    let t = Instant::now();
    let out = DirectDedisperser::default().dedisperse(&mut obs, &dms, 1).unwrap();
    let t_dd = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let s: f32 =
        out.data.outer_iter().collect::<Vec<_>>().par_iter().map(|r| real_spectrum(r.as_slice().unwrap())[1].re).sum();
    let t_fft = t.elapsed().as_secs_f64();
    println!("direct {t_dd:.3} s + FFTs {t_fft:.3} s = {:.3} s ({s})", t_dd + t_fft);

    let t = Instant::now();
    let shifts: Vec<f64> = dms.iter().flat_map(|&dm| fractional_delays(&h, dm, h.tsamp_s)).collect();
    let maxd = shifts.iter().cloned().fold(0.0, f64::max).ceil() as usize;
    let nfft = fast_len(nsamples + maxd);
    let raw = obs.read_block(0, nsamples).unwrap();
    let mut rows = vec![0f32; nchans * nfft];
    for (t, row) in raw.outer_iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            rows[c * nfft + t] = *v;
        }
    }
    let t_read = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let sp = ChannelSpectra::from_rows(&mut rows, nfft).unwrap();
    let t_chfft = t.elapsed().as_secs_f64();
    for band_limit in [false, true] {
        let limits: Option<Vec<usize>> =
            band_limit.then(|| dms.iter().flat_map(|&dm| band_limits(&h, dm, h.tsamp_s, nfft)).collect());
        let t = Instant::now();
        let mut acc = 0f32;
        for j0 in (0..ndm).step_by(16) {
            let r = j0 * nchans..(j0 + 16).min(ndm) * nchans;
            let specs = shift_and_sum(&sp, &shifts[r.clone()], limits.as_ref().map(|l| &l[r])).unwrap();
            acc += specs.iter().map(|s| s[1].re).sum::<f32>();
        }
        let t_k = t.elapsed().as_secs_f64();
        let frac = limits.map_or(1.0, |l| {
            l.iter().map(|&k| k.min(nfft / 2 + 1)).sum::<usize>() as f64 / (l.len() * (nfft / 2 + 1)) as f64
        });
        println!(
            "FDD (band_limit {band_limit}, bins kept {:.1} %): read {t_read:.3} s + channel FFTs {t_chfft:.3} s + shift/sum {t_k:.3} s = {:.3} s; ns per (DM, channel, bin) {:.3} ({acc})",
            100.0 * frac,
            t_read + t_chfft + t_k,
            t_k * 1e9 / (ndm * nchans * (nfft / 2 + 1)) as f64 / frac
        );
    }
}
