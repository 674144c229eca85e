//! `tianyan`: the command-line front. Parses, sets up logging, calls `cli::*::run`.
mod cli;

use clap::{Parser, Subcommand};

/// tianyan (天眼): synthetic FAST-style observations and pulsar searches.
#[derive(Parser, Debug)]
#[command(name = "tianyan", version, about, long_about = None)]
struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Every subcommand accepts negative numbers as option values (`--duration -1`), so that clap's
/// error, or the option's own range check, names the option instead of "unexpected argument".
#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate a FAST-style observation (filterbank or PSRFITS) with pulsars, pulses, noise and RFI.
    #[command(allow_negative_numbers = true)]
    Simulate(cli::simulate::SimulateArgs),
    /// Print an observation's header and derived values.
    #[command(allow_negative_numbers = true)]
    Header(cli::header::HeaderArgs),
    /// Dedisperse and search an observation; write candidates to HDF5.
    #[command(allow_negative_numbers = true)]
    Search(cli::search::SearchArgs),
    /// Measure the RFI excision of an observation and write a reusable mask (`search --mask`).
    #[command(allow_negative_numbers = true)]
    Rfi(cli::rfi::RfiArgs),
    /// Print the candidate table of an HDF5 candidate file.
    #[command(allow_negative_numbers = true)]
    Candidates(cli::candidates::CandidatesArgs),
    /// Dedisperse an observation into SIGPROC .tim time series.
    #[command(allow_negative_numbers = true)]
    Dedisperse(cli::dedisperse::DedisperseArgs),
    /// Print the DM plan for an observation.
    #[command(allow_negative_numbers = true)]
    Plan(cli::plan::PlanArgs),
    /// Convert between SIGPROC filterbank and PSRFITS search mode.
    #[command(allow_negative_numbers = true)]
    Convert(cli::convert::ConvertArgs),
    /// Fold an observation at a period and DM (or the top candidates of a search).
    #[command(allow_negative_numbers = true)]
    Fold(cli::fold::FoldArgs),
    /// Write FETCH-ready HDF5 cutouts (frequency-time and DM-time planes) of the best single pulses.
    #[command(allow_negative_numbers = true)]
    Cutout(cli::cutout::CutoutArgs),
    /// Write PNG diagnostics for a candidate file.
    #[command(allow_negative_numbers = true)]
    Plot(cli::plot::PlotArgs),
    /// Simulate a FAST-style observation with a pulsar, search it, print the candidates.
    #[command(allow_negative_numbers = true)]
    Demo(cli::demo::DemoArgs),
    /// Measure detection completeness, false alarms and parameter errors.
    #[command(allow_negative_numbers = true)]
    Accuracy(cli::accuracy::AccuracyArgs),
}

fn main() {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`tianyan header x.fil | head`) would
    // panic; restore the default action and end quietly, as other command-line tools do.
    #[cfg(unix)]
    // SAFETY: called once at start-up before any other thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    // Ctrl-C and friends remove the hidden staged outputs of an unfinished command (and the
    // folders it created) instead of leaving them behind.
    if let Err(e) = tianyan::io::output::install_interrupt_cleanup() {
        eprintln!(
            "warning: cannot install the Ctrl-C cleanup ({e}); an interrupted run may leave hidden .tianyan-* files"
        );
    }
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIANYAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();

    let result = match cli.command {
        Command::Simulate(a) => cli::simulate::run(a),
        Command::Header(a) => cli::header::run(a),
        Command::Search(a) => cli::search::run(a),
        Command::Rfi(a) => cli::rfi::run(a),
        Command::Candidates(a) => cli::candidates::run(a),
        Command::Dedisperse(a) => cli::dedisperse::run(a),
        Command::Plan(a) => cli::plan::run(a),
        Command::Convert(a) => cli::convert::run(a),
        Command::Fold(a) => cli::fold::run(a),
        Command::Cutout(a) => cli::cutout::run(a),
        Command::Plot(a) => cli::plot::run(a),
        Command::Demo(a) => cli::demo::run(a),
        Command::Accuracy(a) => cli::accuracy::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {}", error_line(&e));
        std::process::exit(1);
    }
}

/// One line for an error and its causes, leaving out a cause whose text the line already holds
/// (our error types print their source inside their own message).
fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
