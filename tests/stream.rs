//! Streaming dedispersion (issue 12): the candidates and single pulses do not depend on how the
//! work is split — memory budget (down to budgets that force a scratch file, one trial searched
//! at a time and the smallest dedispersion block), thread count and block size.
use tianyan::dedisp::DedispKind;
use tianyan::pipeline::{run_search, SearchConfig, SearchOutput};
use tianyan::sim::burst::BurstSpec;
use tianyan::sim::pulsar::PulsarSpec;
use tianyan::sim::{SimConfig, SimulatedObservation};

/// 256 channels of FAST's L band, 20 s at 393 µs: a pulsar and two bursts.
fn sim() -> SimulatedObservation {
    let cfg = SimConfig {
        preset: "fast-l-band".into(),
        nchans: Some(256),
        tsamp_s: Some(393.216e-6),
        duration_s: 20.0,
        seed: 41,
        pulsars: vec![PulsarSpec::parse("period=0.3131,dm=40,snr=14").unwrap()],
        bursts: vec![
            BurstSpec::parse("time=5.0,dm=60,snr=14,width=0.004").unwrap(),
            BurstSpec::parse("time=13.0,dm=25,snr=11,width=0.002").unwrap(),
        ],
        ..SimConfig::default()
    };
    SimulatedObservation::new(&cfg).unwrap()
}

fn run(kind: DedispKind, max_memory_mb: usize, threads: usize, block_size: usize) -> SearchOutput {
    run_with(SearchConfig { dedisp: kind, max_memory_mb, block_size, ..SearchConfig::default() }, threads)
}

fn run_with(cfg: SearchConfig, threads: usize) -> SearchOutput {
    let cfg = SearchConfig { dm_max: 100.0, ..cfg };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| run_search(Box::new(sim()), &cfg, &mut |_, _| {}).unwrap())
}

/// Every field of every row, exactly (`PartialEq` on the row types compares all fields, floats
/// bit for bit up to -0/+0 and NaN, neither of which a row carries).
fn assert_same(a: &SearchOutput, b: &SearchOutput, what: &str) {
    assert_eq!(a.dm_trials, b.dm_trials, "{what}: DM trials");
    assert_eq!(a.candidates.len(), b.candidates.len(), "{what}: candidate count");
    for (x, y) in a.candidates.iter().zip(&b.candidates) {
        assert_eq!(format!("{x:?}"), format!("{y:?}"), "{what}: candidate");
    }
    assert_eq!(a.candidates, b.candidates, "{what}: candidates");
    assert_eq!(a.single_pulses, b.single_pulses, "{what}: single pulses");
}

#[test]
fn candidates_do_not_depend_on_budget_threads_or_block_size() {
    for kind in [DedispKind::Direct, DedispKind::Fdmt, DedispKind::Subband] {
        let reference = run(kind, 1024, 2, 8192);
        // The test means something only if there is something to compare.
        assert!(!reference.candidates.is_empty(), "{kind}: no periodic candidates");
        assert!(!reference.single_pulses.is_empty(), "{kind}: no single pulses");
        assert!(reference.steps.iter().all(|r| r.in_memory), "{kind}: 1 GiB keeps the series in memory");
        // The pulsar is found at its period (the comparison below is of a real detection).
        let top = &reference.candidates[0];
        assert!(
            ((1.0 / top.frequency_hz) / 0.3131 - 1.0).abs() < 1e-3,
            "{kind}: top period {}",
            1.0 / top.frequency_hz
        );
        for (mb, threads, block) in [(1024, 1, 8192), (1024, 2, 1000), (16, 2, 8192), (2, 1, 8192), (1, 2, 3000)] {
            let other = run(kind, mb, threads, block);
            if mb <= 2 {
                // Small budgets really split the work: series in a scratch file, searched a few at a time.
                assert!(other.steps.iter().any(|r| !r.in_memory && r.chunk_rows < r.dms.len()), "{kind} {mb} MiB");
            }
            assert_same(&reference, &other, &format!("{kind}, {mb} MiB, {threads} threads, block {block}"));
        }
    }
    // With the FFT padded to fast lengths, too.
    let padded = |mb, threads| {
        run_with(
            SearchConfig { dedisp: DedispKind::Direct, max_memory_mb: mb, pad_fft: true, ..Default::default() },
            threads,
        )
    };
    assert_same(&padded(1024, 2), &padded(1, 1), "direct, padded FFT, 1 GiB/2 threads vs 1 MiB/1 thread");
}

#[test]
fn fdd_does_not_depend_on_threads_or_block_size() {
    // Fused FDD holds the channel spectra of the whole series (never split by the budget; a
    // budget below them is an error before any work).
    let reference = run(DedispKind::Fdd, 1024, 2, 16384);
    assert!(!reference.candidates.is_empty());
    for (threads, block) in [(1, 16384), (2, 4096)] {
        assert_same(&reference, &run(DedispKind::Fdd, 1024, threads, block), &format!("fdd {threads} threads {block}"));
    }
    let cfg = SearchConfig { dm_max: 100.0, dedisp: DedispKind::Fdd, max_memory_mb: 1, ..SearchConfig::default() };
    let err = run_search(Box::new(sim()), &cfg, &mut |_, _| {}).unwrap_err().to_string();
    assert!(err.contains("--max-memory-mb") && err.contains("MiB"), "{err}");
}

#[test]
fn series_keep_every_sample_and_ffts_are_padded_to_fast_lengths() {
    let cfg = SearchConfig { dm_max: 100.0, pad_fft: true, ..SearchConfig::default() };
    let out = run_search(Box::new(sim()), &cfg, &mut |_, _| {}).unwrap();
    assert!(!out.candidates.is_empty());
    let n = out.header.nsamples as usize;
    for r in &out.steps {
        assert_eq!(r.nout, n / r.downsamp - r.overlap, "series keep every fully covered sample");
        let mut m = r.fft_len;
        for p in [2, 3, 5, 7] {
            while m % p == 0 {
                m /= p;
            }
        }
        assert_eq!(m, 1, "FFT length {} is 7-smooth", r.fft_len);
        // Largest gap between even 7-smooth numbers of this size (10³–10⁵): 4 %.
        assert!(r.fft_len >= r.nout && r.fft_len - r.nout <= r.nout / 25, "{} for {}", r.fft_len, r.nout);
    }
}
