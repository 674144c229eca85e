//! `tianyan demo`: the README's main command. Simulates a FAST-style observation with a pulsar,
//! searches it, prints the candidates next to the injected truth.
use std::path::PathBuf;
use tianyan::sim::{simulate_to_file_with_progress, OutputFormat, SimConfig};

/// Arguments of `tianyan demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder for the observation, its truth file, the candidates and the plots.
    #[arg(short, long, default_value = "demo-out")]
    pub out_dir: PathBuf,
    /// Telescope preset (`fast-l-band-lite`: 1024 channels, 393.216 µs; `fast-l-band`: 4096, 49.152 µs).
    #[arg(long, default_value = "fast-l-band-lite")]
    pub preset: String,
    /// Observation length, s.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// Injected pulsar (keys as `tianyan simulate --pulsar`).
    #[arg(long, default_value = "period=0.2531,dm=71,snr=20")]
    pub pulsar: String,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Highest DM searched, pc cm⁻³.
    #[arg(long, default_value_t = 200.0)]
    pub dm_max: f64,
    /// Fold and plot this many top candidates (0 = none).
    #[arg(long, default_value_t = 3)]
    pub fold_top: usize,
}

/// Runs `tianyan demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    if let Some(k) = tianyan::io::output::existing_kind(&args.out_dir) {
        anyhow::bail!(
            "{}: -o is an existing file ({}), but demo writes a folder (observation, truth, candidates, plots); give \
             a folder name",
            args.out_dir.display(),
            k.describe()
        );
    }
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot create the output folder: {e}", args.out_dir.display()))?;
    let obs_path = args.out_dir.join("demo.fil");
    let cfg = SimConfig {
        preset: args.preset.clone(),
        duration_s: args.duration,
        seed: args.seed,
        pulsars: vec![tianyan::sim::pulsar::PulsarSpec::parse(&args.pulsar)?],
        source_name: "DEMO_PSR".into(),
        ..SimConfig::default()
    };
    eprintln!(
        "1/3 simulating {} s of {} with pulsar \"{}\" (seed {})",
        args.duration, args.preset, args.pulsar, args.seed
    );
    let pb = super::progress::bar(0, "simulate");
    let truth = simulate_to_file_with_progress(&cfg, &obs_path, OutputFormat::Filterbank, &mut |d, t| {
        pb.set_length(t);
        pb.set_position(d);
    })?;
    pb.finish_and_clear();
    eprintln!("    wrote {} and its truth file", obs_path.display());

    eprintln!("2/3 searching DM 0–{} for periodic signals", args.dm_max);
    let search = super::search::SearchArgs {
        files: vec![obs_path.clone()],
        output: args.out_dir.join("demo_candidates.h5"),
        dm_min: 0.0,
        dm_max: args.dm_max,
        dm_step: None,
        dm_list: None,
        tolerance: 1.25,
        grid: tianyan::dedisp::GridKind::Ddplan,
        coherent_dm: 0.0,
        time_res: 0.0,
        nsub: 0,
        downsamp: 1,
        dedisp: "direct".into(),
        nharm: 16,
        zmax: 0,
        sigma: 6.0,
        fmin: 0.1,
        fmax: 1000.0,
        ffa: false,
        ffa_pmin: 0.1,
        ffa_pmax: 30.0,
        ffa_bins_min: 240,
        ffa_bins_max: 260,
        sp_snr: 6.0,
        max_width: 0.1,
        periodic: true,
        single_pulse: false,
        no_dm0: true,
        no_normalise: false,
        no_clip: false,
        clip_sigma: 6.0,
        no_rfi_mask: false,
        zaplist: None,
        no_auto_zap: false,
        no_baseline: false,
        no_rfifind: false,
        baseline_knots: 4,
        no_gate: false,
        gate_sigma: 8.0,
        zero_dm: false,
        mask: None,
        max_memory_mb: 1024,
        threads: None,
        top: 10,
        fold_top: args.fold_top,
        overwrite: false,
        cutouts: 0,
    };
    let out = super::search::search_and_write(&search)?;

    eprintln!("3/3 injected truth vs the search");
    for p in &truth.pulsars {
        println!(
            "injected pulsar: P = {:.6} ms (f = {:.6} Hz), DM = {:.2}, expected folded S/N = {:.1}",
            p.period_s * 1e3,
            p.frequency_hz,
            p.dm,
            p.expected_snr
        );
        let tobs = truth.header.duration_s();
        let best = out.candidates.iter().enumerate().find(|(_, c)| {
            (1..=16).any(|h| ((c.frequency_hz - h as f64 * p.frequency_hz) * tobs).abs() <= 1.0)
                || (2..=16).any(|h| ((c.frequency_hz * h as f64 - p.frequency_hz) * tobs).abs() <= 1.0)
        });
        match best {
            Some((i, c)) => println!(
                "recovered as candidate {i}: P = {:.6} ms, DM = {:.2}, sigma = {:.1}, {:.2} Fourier bins from the truth",
                c.period_s * 1e3,
                c.dm,
                c.sigma,
                (c.frequency_hz - p.frequency_hz) * tobs
            ),
            None => println!("NOT recovered by the search"),
        }
    }
    println!("files: {}", args.out_dir.display());
    Ok(())
}
