//! FDMT on pravirkr/dmt's reference problem (issue 12 benchmark (c)): 4096 channels over
//! 704–1216 MHz (0.125 MHz each), tsamp 81.92 µs, one block of 16 384 output samples, delay rows
//! 0 … 2048 (2049 delays), float32, random input. Prints the wall time per block of the whole
//! FDMT pass (reading the time-major block, downsample-transpose to channel-major, the
//! transform) and of the transpose alone, on 1 and 2 threads (best of `REPS` runs each). The
//! pass streams `NBLOCKS` consecutive blocks and the time is divided by `NBLOCKS`, so the
//! buffers allocated once per pass (as in a search, once per plan step) are not charged to
//! every block; the first figure printed is a single-block pass, allocation included.
//!
//! Usage: `cargo run --release --example fdmt_reference -- [REPS] [THREADS...]` (defaults 5; 1 2).
//! dmt's figures on the machine: 0.35 s (1 thread), 0.32 s (2 threads).
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
use tianyan::dedisp::fdmt::{fdmt_dm_grid, FdmtDedisperser};
use tianyan::dedisp::{transpose_downsample, ArraySink, Dedisperser};
use tianyan::{Header, MemoryObservation};

const NCHANS: usize = 4096;
const BLOCK: usize = 16_384;
const MAX_ROW: usize = 2048;
const NBLOCKS: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let threads: Vec<usize> =
        if args.len() > 2 { args[2..].iter().filter_map(|s| s.parse().ok()).collect() } else { vec![1, 2] };
    let mut header = Header {
        nchans: NCHANS,
        fch1_mhz: 1216.0 - 0.0625,
        foff_mhz: -0.125,
        tsamp_s: 81.92e-6,
        nbits: 32,
        ..Header::default()
    };
    // DMs of rows 0 ..= 2048 (the grid with rows per DM c: max DM = 2048 / c).
    let one = fdmt_dm_grid(&Header { nsamples: 1, ..header.clone() }, 1.0, 1);
    let c = (one.len() - 1) as f64; // rows per unit DM, rounded down; refine from row 1's DM
    let c = if one.len() > 1 { 1.0 / one[1] } else { c };
    let dms = fdmt_dm_grid(&header, MAX_ROW as f64 / c, 1);
    assert_eq!(dms.len(), MAX_ROW + 1, "rows 0..=2048");
    let ded = FdmtDedisperser { block_size: BLOCK };
    header.nsamples = 1 << 20;
    let overlap = ded.overlap(&header, &dms, 1).expect("valid header");
    let nsamples = NBLOCKS * BLOCK + overlap;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let data = Array2::from_shape_fn((nsamples, NCHANS), |_| rng.gen_range(-1.0f32..1.0));
    let obs = MemoryObservation::new(header, data);
    println!(
        "dmt reference: {NCHANS} ch 704–1216 MHz, 81.92 µs, {} delay rows (max DM {:.2}), block {BLOCK} + overlap {overlap}",
        dms.len(),
        dms[dms.len() - 1]
    );
    for &nt in &threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(nt).build().expect("thread pool");
        let (mut best_all, mut best_tr, mut best_one) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
        let mut out = Array2::<f32>::zeros((dms.len(), NBLOCKS * BLOCK));
        let mut one = Array2::<f32>::zeros((dms.len(), BLOCK));
        let mut buf = vec![0f32; NCHANS * (BLOCK + overlap)];
        let src = obs.data().as_slice().expect("standard layout");
        for _ in 0..reps {
            pool.install(|| {
                let t0 = Instant::now();
                transpose_downsample(src, NCHANS, 1, BLOCK + overlap, &mut buf, BLOCK + overlap, 0);
                best_tr = best_tr.min(t0.elapsed().as_secs_f64());
                let mut o = obs.clone();
                let t0 = Instant::now();
                ded.stream(&mut o, &dms, 1, NBLOCKS * BLOCK, &mut ArraySink(&mut out), &mut |_, _| {}).expect("fdmt");
                best_all = best_all.min(t0.elapsed().as_secs_f64() / NBLOCKS as f64);
                let t0 = Instant::now();
                ded.stream(&mut o, &dms, 1, BLOCK, &mut ArraySink(&mut one), &mut |_, _| {}).expect("fdmt");
                best_one = best_one.min(t0.elapsed().as_secs_f64());
            });
        }
        let sum: f64 = out.row(MAX_ROW).iter().map(|&x| x as f64).sum();
        println!(
            "threads {nt}: single-block pass {best_one:.3} s; FDMT per block in a {NBLOCKS}-block pass {best_all:.3} s (transpose of one block alone {best_tr:.3} s), checksum row 2048 {sum:.3}"
        );
    }
}
