//! Simulator throughput in channel-samples per second (values generated, quantised and
//! transposed into `[nsamples][nchans]`), through `generate_chunk_into` with a reused buffer as
//! `simulate_to_file` does.
//!
//! * `noise_only`: FAST L-band channels (4096), one chunk of 2048 samples of pure noise — the
//!   floor set by Gaussian generation and quantisation.
//! * `pulsar_burst`: the same with a pulsar (DM 71) and a burst (DM 500) injected.
//! * `normals_1thread`: the bare cost of one `ChaCha8Rng` + `StandardNormal` (ziggurat) deviate,
//!   single-threaded, for comparison.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tianyan::sim::{BurstSpec, PulsarSpec, SimConfig, SimulatedObservation, CHUNK_SAMPLES};

fn bench(c: &mut Criterion) {
    let base = SimConfig { preset: "fast-l-band".into(), duration_s: 2.0, seed: 1, ..SimConfig::default() };
    let mut with_signals = base.clone();
    with_signals.pulsars.push(PulsarSpec::parse("period=0.2531,dm=71,snr=20").unwrap());
    with_signals.bursts.push(BurstSpec::parse("time=0.05,dm=500,snr=12,width=0.002").unwrap());
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10);
    for (name, cfg) in [("noise_only", base), ("pulsar_burst", with_signals)] {
        let obs = SimulatedObservation::new(&cfg).unwrap();
        let nchans = 4096u64;
        g.throughput(Throughput::Elements(nchans * CHUNK_SAMPLES as u64));
        let mut buf = Vec::new();
        g.bench_function(name, |b| b.iter(|| black_box(obs.generate_chunk_into(black_box(0), &mut buf))));
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
