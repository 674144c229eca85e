//! `tianyan convert IN... -o OUT [--format filterbank|psrfits] [--nbits 8|32]`: converts between
//! SIGPROC filterbank and PSRFITS search mode, streaming blocks (memory does not grow with the
//! file).
//!
//! Several inputs are read as one PSRFITS observation (numbered FAST files). The output format
//! comes from `--format`, else from OUT's extension (`.fil` → filterbank, `.fits`/`.sf` →
//! PSRFITS). Values are the reader's total intensity after any PSRFITS scaling
//! (`tianyan::io::psrfits`). PSRFITS output is always 8-bit (values rounded and clamped to
//! 0..255); filterbank output is 8-bit when the input is integer data of at most 8 bits whose
//! values fit 0..255, else 32-bit float, unless `--nbits` says otherwise. Clamped values are
//! counted and reported. The telescope (SIGPROC `telescope_id`, PSRFITS `TELESCOP`) is kept.
//! The output must not be one of the inputs (same path or the same file through a link); an
//! existing output is replaced only when it is an observation of the format written and has no
//! truth file (`OUT.truth.json`) beside it.
use std::path::{Path, PathBuf};
use tianyan::io::output::{check_not_input, check_output_file, check_replaceable, ExistingKind};
use tianyan::io::psrfits::PsrfitsWriter;
use tianyan::io::sigproc::SigprocWriter;
use tianyan::{Header, IoError};

/// Output format of `tianyan convert`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutFormat {
    /// SIGPROC filterbank (`.fil`).
    Filterbank,
    /// PSRFITS search mode (`.fits`), FAST style, 8-bit.
    Psrfits,
}

/// Arguments of `tianyan convert`.
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// Input file(s): one SIGPROC/PSRFITS file, or several PSRFITS files of one observation in order.
    #[arg(required = true)]
    pub input: Vec<PathBuf>,
    /// Output file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Output format (default: from the output file's extension).
    #[arg(long, value_enum)]
    pub format: Option<OutFormat>,
    /// Bits per sample of a filterbank output: 8 (rounded, clamped to 0..255) or 32 (float).
    #[arg(long)]
    pub nbits: Option<u32>,
    /// Samples per block read and written.
    #[arg(long, default_value_t = 8192)]
    pub block: usize,
    /// Replace an existing output file (an observation of the format written; never an input).
    #[arg(long)]
    pub overwrite: bool,
}

/// The output format for `path` from its extension.
pub fn format_from_extension(path: &Path) -> Option<OutFormat> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "fil" | "filterbank" => Some(OutFormat::Filterbank),
        "fits" | "sf" | "psrfits" => Some(OutFormat::Psrfits),
        _ => None,
    }
}

enum Writer {
    Fil(SigprocWriter),
    Fits(PsrfitsWriter),
}

impl Writer {
    fn write_block(&mut self, b: ndarray::ArrayView2<f32>) -> Result<(), IoError> {
        match self {
            Writer::Fil(w) => w.write_block(b),
            Writer::Fits(w) => w.write_block(b),
        }
    }
    fn finish(self) -> Result<u64, IoError> {
        match self {
            Writer::Fil(w) => w.finish(),
            Writer::Fits(w) => w.finish(),
        }
    }
}

/// Runs `tianyan convert`.
pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let format = match args.format.or_else(|| format_from_extension(&args.output)) {
        Some(f) => f,
        None => anyhow::bail!(
            "{}: cannot tell the output format from the extension; use --format filterbank|psrfits",
            args.output.display()
        ),
    };
    if args.block == 0 {
        anyhow::bail!("--block must be positive");
    }
    check_not_input(&args.input, &args.output)?;
    // An existing observation may be real data: it is replaced only when asked.
    if args.output.is_file() && !args.overwrite {
        anyhow::bail!(
            "{}: exists; convert never replaces an existing file (it may be real data); refusing to replace it: \
             remove it, choose another output, or pass --overwrite",
            args.output.display()
        );
    }
    // An existing output is replaced only by its own kind (an observation of the format written),
    // and never while a truth file beside it would then describe other data.
    match format {
        OutFormat::Filterbank => check_replaceable(&args.output, &[ExistingKind::Sigproc], "a SIGPROC filterbank")?,
        OutFormat::Psrfits => check_replaceable(&args.output, &[ExistingKind::Fits], "a PSRFITS file")?,
    }
    let truth = tianyan::io::truth::truth_path(&args.output);
    if truth.exists() {
        anyhow::bail!(
            "{}: {} is beside it and would then describe other data; refusing to write this output: remove both \
             or choose another output",
            args.output.display(),
            truth.display()
        );
    }
    check_output_file(&args.output)?;
    let mut obs = tianyan::open_observation(&args.input)?;
    let h_in = obs.header().clone();
    let nsamples = h_in.nsamples;
    let first_n = (args.block as u64).min(nsamples) as usize;
    let first = obs.read_block(0, first_n)?;
    let fits_u8 = |v: &f32| v.fract() == 0.0 && (0.0..=255.0).contains(v);
    let nbits = match (format, args.nbits) {
        (OutFormat::Psrfits, None | Some(8)) => 8,
        (OutFormat::Psrfits, Some(b)) => anyhow::bail!("PSRFITS output is 8-bit only (got --nbits {b})"),
        (OutFormat::Filterbank, Some(b @ (8 | 32))) => b,
        (OutFormat::Filterbank, Some(b)) => anyhow::bail!("--nbits must be 8 or 32 (got {b})"),
        (OutFormat::Filterbank, None) if h_in.nbits <= 8 && first.iter().all(fits_u8) => 8,
        (OutFormat::Filterbank, None) => 32,
    };
    let header = Header {
        nbits,
        nifs: 1,
        signed: false,
        data_type: 1,
        rawdatafile: args.input[0].file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        ..h_in.clone()
    };
    let mut w = match format {
        OutFormat::Filterbank => Writer::Fil(SigprocWriter::create(&args.output, &header)?),
        OutFormat::Psrfits => Writer::Fits(PsrfitsWriter::create(&args.output, &header)?),
    };
    let pb = crate::cli::progress::bar(nsamples, "converting");
    let mut clamped = 0u64;
    let mut s = 0u64;
    let mut block = Some(first);
    while s < nsamples {
        let b = match block.take() {
            Some(b) => b,
            None => obs.read_block(s, (args.block as u64).min(nsamples - s) as usize)?,
        };
        if nbits == 8 {
            clamped += b.iter().filter(|v| !(-0.5..255.5).contains(*v)).count() as u64;
        }
        w.write_block(b.view())?;
        s += b.nrows() as u64;
        pb.set_position(s);
    }
    pb.finish_and_clear();
    let written = w.finish()?;
    if clamped > 0 {
        tracing::warn!("{clamped} values outside 0..255 were clamped to fit 8-bit output");
        eprintln!("warning: {clamped} values outside 0..255 were clamped to fit 8-bit output");
    }
    println!(
        "wrote {} ({} samples x {} channels, {}-bit {})",
        args.output.display(),
        written,
        header.nchans,
        nbits,
        match format {
            OutFormat::Filterbank => "filterbank",
            OutFormat::Psrfits => "PSRFITS",
        }
    );
    Ok(())
}
