//! Acceleration search on binary pulsars (issue 14): a pulse train whose arrival times follow a
//! Keplerian orbit ([`tianyan::sim::orbit`]) is searched at `zmax = 0` and with the drift plane.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tianyan::search::periodic::{search_series, PeriodicConfig};
use tianyan::sim::orbit::Orbit;

/// `n` samples of `tsamp` s: unit-variance white noise plus Gaussian pulses of peak `amp` and
/// width `sigma_turns` at the phase `ν₀ (tₑ(t) − tₑ(0))` of a pulsar of spin period `period_s` in
/// `orbit`; returns the series and the apparent mean frequency and drift `z = ḟ T²` (PRESTO's sign)
/// from the exact rate at the start, middle and end.
fn binary_series(
    n: usize,
    tsamp: f64,
    period_s: f64,
    orbit: &Orbit,
    amp: f64,
    sigma_turns: f64,
    seed: u64,
) -> (Vec<f32>, f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nu0 = 1.0 / period_s;
    let te0 = orbit.emission_time(0.0).0;
    let x: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f64 * tsamp;
            let ph = nu0 * (orbit.emission_time(t).0 - te0);
            let d = ph - ph.round();
            let noise: f64 = StandardNormal.sample(&mut rng);
            (noise + amp * (-0.5 * (d / sigma_turns).powi(2)).exp()) as f32
        })
        .collect();
    let tobs = n as f64 * tsamp;
    let rate = |t: f64| nu0 * orbit.emission_time(t).1;
    let f_mean = nu0 * (orbit.emission_time(tobs).0 - te0) / tobs;
    let fdot = (rate(tobs) - rate(0.0)) / tobs;
    (x, f_mean, fdot * tobs * tobs)
}

/// A 20 ms pulsar in a 2 h circular orbit with x = 3.5 lt-s, observed for 262 s around the
/// orbit's largest acceleration (|a| ≈ 800 m s⁻²): its fundamental drifts by z ≈ 9 bins, its 8th
/// harmonic by ≈ 74. At zmax = 0 the signal is smeared over many bins; with zmax = 100 it is
/// the top candidate at the right mean frequency (within 1 bin) and drift (within 2 bins: the
/// fundamental's grid step is 2/H bins and the orbit is not exactly a constant drift), and the
/// acceleration search's sigma is well above the zero-drift one.
#[test]
fn binary_pulsar_is_found_with_its_drift() {
    let (n, tsamp, period) = (1usize << 18, 1e-3, 0.02);
    let pb = 7200.0;
    let tobs = n as f64 * tsamp;
    // Largest acceleration where the eccentric anomaly is π/2 (Δ_R'' = −x n²): put it mid-scan.
    let orbit = Orbit { pb_s: pb, x_lts: 3.5, ecc: 0.0, omega_deg: 0.0, t0_s: 0.5 * tobs - 0.25 * pb };
    let (x, f_mean, z_true) = binary_series(n, tsamp, period, &orbit, 0.25, 0.04, 7);
    assert!(z_true > 8.0 && z_true < 11.0, "test set-up: z = {z_true}");
    let base = PeriodicConfig { nharm_max: 8, sigma_threshold: 2.0, fmax_hz: 400.0, ..PeriodicConfig::default() };
    let flat = search_series(&x, tsamp, 0.0, &base);
    let accel = search_series(&x, tsamp, 0.0, &PeriodicConfig { zmax: 100, ..base.clone() });
    let near = |c: &&tianyan::search::Candidate| ((c.frequency_hz - f_mean) * tobs).abs() <= 1.0 + c.z.abs();
    let best_flat = flat.iter().filter(near).map(|c| c.sigma).fold(f32::NEG_INFINITY, f32::max);
    let top = &accel[0];
    eprintln!(
        "truth f {f_mean:.6} Hz z {z_true:.2}; accel top: f {:.6} z {:.2} sigma {:.2} nharm {}; best zero-drift sigma near f: {best_flat:.2}",
        top.frequency_hz, top.z, top.sigma, top.nharm
    );
    assert!(
        ((top.frequency_hz - f_mean) * tobs).abs() <= 1.0,
        "mean frequency off by {} bins",
        (top.frequency_hz - f_mean) * tobs
    );
    assert!((top.z - z_true).abs() <= 2.0, "z {} vs {z_true}", top.z);
    // accel = −c z / (r T): the sign follows the frequency's drift.
    let want_accel = -299_792_458.0 * top.z / (top.frequency_hz * tobs * tobs);
    assert!((top.accel - want_accel).abs() <= 1e-9 * want_accel.abs());
    assert!(top.sigma > best_flat + 3.0, "accel sigma {} vs zero-drift {best_flat}", top.sigma);
}

/// The (r, z) plane counts against `--max-memory-mb`: a search whose planes do not fit is refused
/// before any data are read (a fresh user saw 288 MB peak under `--max-memory-mb 100`), naming
/// the option; the same search with room for the planes runs.
#[test]
fn accel_planes_that_do_not_fit_the_budget_are_an_error() {
    let run = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_tianyan")).args(args).output().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fil = dir.path().join("b.fil");
    let f = fil.to_str().unwrap();
    let out = run(&[
        "simulate",
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "32",
        "--duration",
        "60",
        "--seed",
        "4",
        "--pulsar",
        "period=0.005,dm=10,snr=20,pb=2h,x=1.5",
        "-o",
        f,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let h5 = dir.path().join("b.h5");
    let h = h5.to_str().unwrap();
    // 152 588 samples → 76 295 bins; zmax 200: 201 rows × 8 B × 76 295 ≈ 117 MiB per thread.
    let out = run(&[
        "search",
        f,
        "-o",
        h,
        "--dm-min",
        "9",
        "--dm-max",
        "11",
        "--periodic",
        "--zmax",
        "200",
        "--max-memory-mb",
        "64",
        "--threads",
        "1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("(r, z) planes need") && err.contains("--max-memory-mb 64"), "{err}");
    assert!(!h5.exists());
    let out = run(&[
        "search",
        f,
        "-o",
        h,
        "--dm-min",
        "9",
        "--dm-max",
        "11",
        "--periodic",
        "--zmax",
        "20",
        "--max-memory-mb",
        "64",
        "--threads",
        "1",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
