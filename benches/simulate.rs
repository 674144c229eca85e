//! Simulator throughput in channel-samples per second (values generated, quantised and laid out
//! as `[nsamples][nchans]`), through `generate_chunk_into` with a reused buffer as
//! `simulate_to_file` does. One chunk of [`CHUNK_SAMPLES`] samples per iteration, cycling over
//! the first [`NCYCLE`] chunks (0.8 s, about three pulsar periods, so on- and off-pulse chunks
//! both count), FAST L-band (8-bit), at 1024 and 4096 channels, on the global rayon pool (all
//! cores):
//!
//! * `noise_only/N`: pure noise — the floor set by Gaussian generation and quantisation.
//! * `pulsar/N`: with a pulsar (P = 0.2531 s, DM 71, S/N 20); the chunk is on-pulse.
//! * `pulsar_burst/N`: the pulsar plus a burst (DM 500, 2 ms) whose sweep crosses the chunk.
//! * `noise_only_1thread/4096`: the noise case on a one-thread pool (parallel-split overhead).
//! * `normals_1thread`: the bare cost of one `ChaCha8Rng` + `StandardNormal` (ziggurat) deviate,
//!   single-threaded, for comparison.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tianyan::sim::{BurstSpec, PulsarSpec, SimConfig, SimulatedObservation, CHUNK_SAMPLES};

/// Chunks cycled over by each case.
const NCYCLE: u64 = 8;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10);
    for nchans in [1024usize, 4096] {
        let base = SimConfig {
            preset: "fast-l-band".into(),
            duration_s: 2.0,
            nchans: Some(nchans),
            seed: 1,
            ..SimConfig::default()
        };
        let mut pulsar = base.clone();
        pulsar.pulsars.push(PulsarSpec::parse("period=0.2531,dm=71,snr=20").unwrap());
        let mut pulsar_burst = pulsar.clone();
        pulsar_burst.bursts.push(BurstSpec::parse("time=0.05,dm=500,snr=12,width=0.002").unwrap());
        // (The burst sweeps through the band during the first ~1.2 s: it is in every cycled chunk.)
        g.throughput(Throughput::Elements((nchans * CHUNK_SAMPLES) as u64));
        for (name, cfg) in [("noise_only", base.clone()), ("pulsar", pulsar), ("pulsar_burst", pulsar_burst)] {
            let obs = SimulatedObservation::new(&cfg).unwrap();
            let (mut buf, mut k) = (Vec::new(), 0u64);
            g.bench_function(BenchmarkId::new(name, nchans), |b| {
                b.iter(|| {
                    k = (k + 1) % NCYCLE;
                    black_box(obs.generate_chunk_into(black_box(k), &mut buf))
                })
            });
        }
        if nchans == 4096 {
            let obs = SimulatedObservation::new(&base).unwrap();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            let (mut buf, mut k) = (Vec::new(), 0u64);
            g.bench_function(BenchmarkId::new("noise_only_1thread", nchans), |b| {
                b.iter(|| {
                    k = (k + 1) % NCYCLE;
                    pool.install(|| black_box(obs.generate_chunk_into(black_box(k), &mut buf)))
                })
            });
        }
    }
    g.throughput(Throughput::Elements(1 << 20));
    g.bench_function("normals_1thread", |b| {
        use rand::SeedableRng;
        use rand_distr::Distribution;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut buf = vec![0f32; 1 << 20];
        b.iter(|| {
            for v in buf.iter_mut() {
                *v = rand_distr::StandardNormal.sample(&mut rng);
            }
            black_box(buf[7])
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
