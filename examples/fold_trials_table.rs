//! Writes `src/fold/trials_table.rs`: the fold optimiser's effective-trials models
//! ([`tianyan::fold::trials::calibrate`], 384 noise cubes each) for the configurations users run
//! most, so that `tianyan fold` does not repeat the calibration at start-up.
//!
//! ```text
//! cargo run --release --example fold_trials_table > src/fold/trials_table.rs
//! cargo run --release --example fold_trials_table -- FILE... > table.rs   # also these observations' bands
//! ```
//!
//! Configurations: the default [`FoldConfig`] on the FAST L band (1000–1500 MHz, highest
//! frequency first, as `tianyan simulate`'s presets write it) at 64, 128, 256, 1024 and 4096 channels,
//! plus, for every FILE given, that observation's band. The cube of each is
//! [`reference_cube`] (the model depends on the cube's shape, the grid and the sub-bands'
//! relative delays, not on the data: see `tianyan::fold::trials`). Configurations with the same
//! key are calibrated once.
use tianyan::fold::trials::{calibrate, model_key, reference_cube};
use tianyan::fold::FoldConfig;
use tianyan::Header;

/// The FAST L band as `tianyan simulate` writes it: 1000–1500 MHz, channel centres, `foff < 0`.
fn fast_band(nchans: usize) -> Header {
    let foff = -500.0 / nchans as f64;
    Header {
        source_name: format!("FAST L band, {nchans} channels"),
        tsamp_s: 1e-3,
        fch1_mhz: 1500.0 + 0.5 * foff,
        foff_mhz: foff,
        nchans,
        nbits: 32,
        ..Header::default()
    }
}

fn main() -> anyhow::Result<()> {
    let cfg = FoldConfig::default();
    let mut headers: Vec<Header> = [64, 128, 256, 1024, 4096].iter().map(|&n| fast_band(n)).collect();
    for f in std::env::args().skip(1) {
        let obs = tianyan::open_observation(&[std::path::PathBuf::from(&f)])?;
        let mut h = obs.header().clone();
        h.source_name = f;
        headers.push(h);
    }
    let mut seen: Vec<String> = Vec::new();
    let mut rows: Vec<String> = Vec::new();
    for h in &headers {
        let cube = reference_cube(h, &cfg);
        let key = model_key(&cube, &cfg);
        if seen.contains(&key) {
            eprintln!("{}: same key as an earlier configuration", h.source_name);
            continue;
        }
        let t0 = std::time::Instant::now();
        let m = calibrate(&cube, &cfg);
        eprintln!("{}: {m:?} in {:.1} s", h.source_name, t0.elapsed().as_secs_f64());
        rows.push(format!(
            "    // {}\n    TableEntry {{\n        key: \"{key}\",\n        coef: [{:?}, {:?}, {:?}],\n        x_range: ({:?}, {:?}),\n    }},",
            h.source_name, m.coef[0], m.coef[1], m.coef[2], m.x_range.0, m.x_range.1
        ));
        seen.push(key);
    }
    print!(
        "//! Effective-trials models of the fold optimiser for common configurations (see
//! [`super::trials::table_model`]). Generated; do not edit by hand:
//! `cargo run --release --example fold_trials_table > src/fold/trials_table.rs`
//! (which runs [`super::trials::calibrate`] on each configuration listed in the example).

/// One table row: the [`super::trials::model_key`] and the fitted model.
pub(super) struct TableEntry {{
    /// [`super::trials::model_key`] of the configuration.
    pub key: &'static str,
    /// `[c₀, c₁, c₂]` of [`super::trials::TrialsModel`].
    pub coef: [f64; 3],
    /// Calibrated range of `x = ln L`.
    pub x_range: (f64, f64),
}}

/// The shipped models.
pub(super) const TABLE: &[TableEntry] = &[
{}
];
",
        rows.join("\n")
    );
    Ok(())
}
