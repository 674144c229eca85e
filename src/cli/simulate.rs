//! `tianyan simulate`: writes a FAST-style observation and its truth file (`OUT.truth.json`).
//!
//! Thin layer over [`tianyan::sim::simulate_to_file_with_progress`]; see `tianyan::sim` for the
//! models and `tianyan::io::truth` for the expected-S/N definitions.
use std::path::PathBuf;
use tianyan::sim::{BurstSpec, OutputFormat, PulsarSpec, RfiSpec, SimConfig};

/// Arguments of `tianyan simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Output observation file; the truth goes to OUT.truth.json.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Output format.
    #[arg(long, default_value = "filterbank", value_parser = ["filterbank", "psrfits"])]
    pub format: String,
    /// Telescope preset: fast-l-band (4096 ch, 49.152 µs) or fast-l-band-lite (1024 ch, 393.216 µs).
    #[arg(long, default_value = "fast-l-band")]
    pub preset: String,
    /// Duration, s.
    #[arg(long, default_value_t = 10.0, value_parser = super::positive_f64)]
    pub duration: f64,
    /// Number of channels (band edges 1000–1500 MHz kept).
    #[arg(long, value_parser = super::positive_usize)]
    pub nchans: Option<usize>,
    /// Sampling time, s.
    #[arg(long, value_parser = super::positive_f64)]
    pub tsamp: Option<f64>,
    /// Bits per sample (1, 2, 4, 8, 16, 32).
    #[arg(long, value_parser = super::nbits)]
    pub nbits: Option<u32>,
    /// Random seed.
    #[arg(long, default_value_t = 1, value_parser = super::whole_u64)]
    pub seed: u64,
    /// A pulsar, e.g. "period=0.2531,dm=71,snr=20[,width=0.01][,accel=..][,spindex=..][,phase=..][,flux=mJy][,shape=..][,tau=..][,comp=OFF:FWHM:AMP][,pb=2h,x=LT_S[,ecc=..][,omega=DEG][,t0=S]]" (repeatable; pb/x/ecc/omega/t0 put it in a Keplerian binary orbit).
    #[arg(long = "pulsar")]
    pub pulsars: Vec<String>,
    /// A single pulse, e.g. "time=2.0,dm=500,snr=12,width=0.002[,fluence=Jy ms][,spindex=..][,tau=..]" (repeatable).
    #[arg(long = "burst")]
    pub bursts: Vec<String>,
    /// Add RFI: a preset (mild, fast-typical, fast-heavy) or a spec "preset=fast-typical,impulse_rate=1,mains=0,..."
    /// (keys in tianyan::sim::rfi::RfiSpec::parse). Plain --rfi is the mild preset (1 % narrowband channels at
    /// 1–4 σ, 0.2 broadband zero-DM impulses per second).
    #[arg(long, num_args = 0..=1, default_missing_value = "mild", value_name = "PRESET|SPEC")]
    pub rfi: Option<String>,
    /// Apply an illustrative receiver bandpass.
    #[arg(long)]
    pub bandpass: bool,
    /// Source name for the header.
    #[arg(long, default_value = "tianyan_sim")]
    pub source_name: String,
    /// Write the file even when the signals saturate more than 1 % of the values (clamped at 0
    /// or 2^nbits − 1 beyond pure noise); without it that is an error.
    #[arg(long)]
    pub allow_saturation: bool,
}

/// Runs `tianyan simulate`.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let format: OutputFormat = args.format.parse()?;
    let cfg = SimConfig {
        preset: args.preset,
        duration_s: args.duration,
        nchans: args.nchans,
        tsamp_s: args.tsamp,
        nbits: args.nbits,
        seed: args.seed,
        pulsars: args.pulsars.iter().map(|s| PulsarSpec::parse(s)).collect::<Result<_, _>>()?,
        bursts: args.bursts.iter().map(|s| BurstSpec::parse(s)).collect::<Result<_, _>>()?,
        rfi: args.rfi.as_deref().map(RfiSpec::parse).transpose()?,
        bandpass: args.bandpass,
        source_name: args.source_name,
        allow_saturation: args.allow_saturation,
        ..SimConfig::default()
    };
    let mut bar: Option<indicatif::ProgressBar> = None;
    let truth = tianyan::sim::simulate_to_file_with_progress(&cfg, &args.output, format, &mut |done, total| {
        let b = bar.get_or_insert_with(|| super::progress::bar(total, "simulating"));
        b.set_position(done);
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let h = &truth.header;
    let snrs: Vec<String> = truth
        .pulsars
        .iter()
        .map(|p| format!("P={} s DM={} S/N {:.1}", p.period_s, p.dm, p.expected_snr))
        .chain(truth.bursts.iter().map(|b| format!("burst t={} s DM={} S/N {:.1}", b.time_s, b.dm, b.expected_snr)))
        .collect();
    println!(
        "wrote {} ({}, {} ch x {} samples, tsamp {} s, {} bit, seed {}; {} clipped) + {}{}{}",
        args.output.display(),
        truth.format,
        h.nchans,
        h.nsamples,
        h.tsamp_s,
        h.nbits,
        truth.seed,
        truth.quantisation.clipped,
        tianyan::io::truth::truth_path(&args.output).display(),
        if snrs.is_empty() { "" } else { "; " },
        snrs.join("; ")
    );
    Ok(())
}
