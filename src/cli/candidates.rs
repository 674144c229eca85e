//! `tianyan candidates cands.h5 [--top N] [--csv | --format F [-o OUT]]`: prints the candidate
//! tables of a search, or writes them in another tool's format (`tianyan::io::export`).
use anyhow::Context;
use std::path::{Path, PathBuf};
use tianyan::io::candidates::{read_candidates, read_dm_trials, read_root_f64_attr, read_single_pulses};
use tianyan::io::export;
use tianyan::io::output::{check_not_input, check_output_file, OutputSet, Staged};

/// Arguments of `tianyan candidates`.
#[derive(clap::Args, Debug)]
pub struct CandidatesArgs {
    /// HDF5 candidate file written by `tianyan search`.
    pub file: PathBuf,
    /// Print at most N rows of each table (0 = all).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Print comma-separated values (with a header line) instead of aligned columns.
    #[arg(long)]
    pub csv: bool,
    /// Include candidates flagged as harmonics of stronger ones (and, in the exported formats,
    /// single pulses flagged as RFI).
    #[arg(long)]
    pub all: bool,
    /// Output format: `table` (aligned columns), `csv`, `pulsarx` (PulsarX `psrfold_fil
    /// --candfile`: periodic candidates), `heimdall` (heimdall `.cand`: single pulses) or `presto`
    /// (`OUT.singlepulse` and an ACCEL-style `OUT_ACCEL.txt`; needs `-o OUT`).
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "pulsarx", "heimdall", "presto"])]
    pub format: String,
    /// Write the `pulsarx`/`heimdall` output to this file (atomically) instead of printing it;
    /// for `presto`, the base name of the two files. An existing output is replaced only when it
    /// is a file of the same format.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Runs `tianyan candidates`.
pub fn run(args: CandidatesArgs) -> anyhow::Result<()> {
    tianyan::io::check_regular_file(&args.file)?;
    match tianyan::io::output::existing_kind(&args.file) {
        Some(tianyan::io::output::ExistingKind::Candidates) | None => {}
        Some(k) => anyhow::bail!(
            "{}: is {}, not a tianyan candidate file (written by tianyan search)",
            args.file.display(),
            k.describe()
        ),
    }
    let cands = read_candidates(&args.file)?;
    let pulses = read_single_pulses(&args.file)?;
    let format = if args.csv { "csv" } else { args.format.as_str() };
    match format {
        "table" | "csv" => {
            if args.output.is_some() {
                anyhow::bail!("-o is for --format pulsarx, heimdall or presto; the table and CSV are printed");
            }
            // A table of a search that was not run (`search --periodic` / `--single-pulse`,
            // recorded in /search config_json) is left out rather than printed as "0".
            let (periodic, single_pulse) = searches_run(&args.file);
            print_tables(
                periodic.then_some(&cands[..]),
                single_pulse.then_some(&pulses[..]),
                args.top,
                format == "csv",
                args.all,
            );
            Ok(())
        }
        other => export(&args, other, &cands, &pulses),
    }
}

/// Whether the first line of an existing text file looks like output of `format`, so that
/// re-exporting may replace it.
fn looks_like(format: &str, first_line: &str) -> bool {
    match format {
        "pulsarx" => first_line.starts_with("#id dm acc"),
        "heimdall" => first_line.split('\t').count() == 9,
        "singlepulse" => first_line.starts_with(export::SINGLEPULSE_HEADER),
        "accel" => first_line.starts_with(export::ACCEL_SUMMARY_HEADER),
        _ => false,
    }
}

/// Refuses `out` when it is an input or an existing file that is not `format`'s own output.
fn check_text_output(input: &Path, out: &Path, format: &str) -> anyhow::Result<()> {
    check_not_input(&[input.to_path_buf()], out)?;
    check_output_file(out)?;
    if out.exists() {
        let first = std::fs::read(out)
            .ok()
            .and_then(|b| String::from_utf8(b.into_iter().take(4096).collect()).ok())
            .map(|t| t.lines().next().unwrap_or("").to_string());
        if !first.is_some_and(|l| l.is_empty() || looks_like(format, &l)) {
            anyhow::bail!(
                "{}: exists and is not a {format} file written by tianyan; refusing to replace it: remove it or \
                 choose another output",
                out.display()
            );
        }
    }
    Ok(())
}

/// `--format pulsarx | heimdall | presto`.
fn export(
    args: &CandidatesArgs,
    format: &str,
    cands: &[tianyan::search::Candidate],
    pulses: &[tianyan::search::SinglePulse],
) -> anyhow::Result<()> {
    let file = &args.file;
    let limit = |n: usize| if args.top == 0 { n } else { n.min(args.top) };
    let heads: Vec<tianyan::search::Candidate> =
        cands.iter().filter(|c| args.all || c.harmonic_of < 0).copied().collect();
    let heads = &heads[..limit(heads.len())];
    let events: Vec<tianyan::search::SinglePulse> =
        pulses.iter().filter(|p| args.all || p.rfi_flag == 0).copied().collect();
    let events = &events[..limit(events.len())];
    let tsamp = read_root_f64_attr(file, "tsamp_s").with_context(|| format!("{}: no tsamp_s", file.display()))?;
    let nsamples = read_root_f64_attr(file, "nsamples").unwrap_or(0.0);
    let tobs = tsamp * nsamples;
    let text_of = |fmt: &str| -> anyhow::Result<String> {
        Ok(match fmt {
            "pulsarx" => export::pulsarx_candfile(heads, tobs),
            "heimdall" => export::heimdall_cands(events, &read_dm_trials(file)?, tsamp),
            "singlepulse" => export::presto_singlepulse(events, tsamp),
            _ => export::presto_accel_summary(heads, tobs),
        })
    };
    let stage = |path: &Path, fmt: &str| -> anyhow::Result<Staged> {
        check_text_output(file, path, fmt)?;
        let staged = Staged::new(path);
        std::fs::write(staged.tmp(), text_of(fmt)?).with_context(|| format!("writing {}", path.display()))?;
        Ok(staged)
    };
    match (format, &args.output) {
        ("presto", None) => anyhow::bail!("--format presto writes two files: give their base name with -o"),
        ("presto", Some(base)) => {
            let with = |suffix: &str| {
                let mut s = base.clone().into_os_string();
                s.push(suffix);
                PathBuf::from(s)
            };
            let (sp, acc) = (with(".singlepulse"), with("_ACCEL.txt"));
            let mut set = OutputSet::new();
            set.add(stage(&sp, "singlepulse")?);
            set.add(stage(&acc, "accel")?);
            set.commit()?;
            println!(
                "wrote {} ({} single pulses) and {} ({} periodic candidates)",
                sp.display(),
                events.len(),
                acc.display(),
                heads.len()
            );
        }
        (fmt, Some(out)) => {
            stage(out, fmt)?.commit()?;
            let n = if fmt == "pulsarx" { heads.len() } else { events.len() };
            println!("wrote {} ({n} {})", out.display(), if fmt == "pulsarx" { "candidates" } else { "single pulses" });
        }
        (fmt, None) => print!("{}", text_of(fmt)?),
    }
    Ok(())
}

/// Which searches the candidate file's run made: `(periodic, single_pulse)` from the recorded
/// configuration (`/search` attribute `config_json`); both true when it is not recorded.
fn searches_run(path: &std::path::Path) -> (bool, bool) {
    let cfg = tianyan::io::h5file::open(path)
        .ok()
        .and_then(|f| f.group("search").ok())
        .and_then(|g| g.attr("config_json").ok())
        .and_then(|a| a.read_scalar::<hdf5::types::VarLenUnicode>().ok())
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s.as_str()).ok());
    let flag = |k: &str| cfg.as_ref().and_then(|c| c.get(k)).and_then(|v| v.as_bool()).unwrap_or(true);
    (flag("periodic"), flag("single_pulse"))
}

/// Prints the periodic and single-pulse tables: at most `top` rows each (0 = all), as CSV or
/// aligned columns; harmonics of stronger candidates only when `all`.
/// A table whose search was not run is `None` and left out.
pub fn print_tables(
    cands: Option<&[tianyan::search::Candidate]>,
    pulses: Option<&[tianyan::search::SinglePulse]>,
    top: usize,
    csv: bool,
    all: bool,
) {
    if csv {
        if let Some(c) = cands {
            print_periodic(c, top, true, all);
        }
        if let Some(p) = pulses {
            print_single_pulses(p, top, true);
        }
    } else {
        if let Some(c) = cands {
            print_periodic(c, top, false, all);
        }
        if let Some(p) = pulses {
            print_single_pulses(p, top, false);
        }
    }
}

fn print_periodic(cands: &[tianyan::search::Candidate], top: usize, csv: bool, all: bool) {
    let limit = |n: usize| if top == 0 { n } else { n.min(top) };
    let shown: Vec<(usize, &tianyan::search::Candidate)> =
        cands.iter().enumerate().filter(|(_, c)| all || c.harmonic_of < 0).collect();
    if csv {
        println!("table,id,period_s,frequency_hz,dm,accel,z,snr,sigma,power,nharm,fft_bin,n_dm_hits,harmonic_of,harmonic_num,harmonic_den,fund_harmonic,dm_flag,search,width_s");
        for (i, c) in shown.iter().take(limit(shown.len())) {
            println!(
                "periodic,{i},{:.9},{:.6},{:.3},{:.3},{:.2},{:.2},{:.2},{:.2},{},{:.2},{},{},{},{},{},{},{},{:.6}",
                c.period_s,
                c.frequency_hz,
                c.dm,
                c.accel,
                c.z,
                c.snr,
                c.sigma,
                c.power,
                c.nharm,
                c.fft_bin,
                c.n_dm_hits,
                c.harmonic_of,
                c.harmonic_num,
                c.harmonic_den,
                c.fund_harmonic,
                c.dm_flag,
                c.search.name(),
                c.width_s
            );
        }
        return;
    }
    let nharmonics = cands.len() - cands.iter().filter(|c| c.harmonic_of < 0).count();
    println!(
        "Periodic candidates: {} ({} harmonics hidden{})",
        cands.len(),
        if all { 0 } else { nharmonics },
        if all { "" } else { "; --all shows them" }
    );
    // Acceleration columns only when an acceleration search ran (some drift is non-zero).
    let accel_cols = shown.iter().any(|(_, c)| c.z != 0.0);
    // FFA columns (search label, boxcar width) only when an FFA search ran.
    let ffa_cols = shown.iter().any(|(_, c)| c.search != tianyan::search::SearchKind::Fft);
    if !shown.is_empty() {
        println!(
            "{:>4} {:>14} {:>12} {:>9} {:>8} {:>8} {:>9} {:>5} {:>6} {:>9} {:>6}{}{}",
            "id",
            "period_ms",
            "freq_hz",
            "dm",
            "sigma",
            "snr",
            "power",
            "nharm",
            "n_dm",
            "harm_of",
            "dmflag",
            if accel_cols { format!(" {:>10} {:>8}", "accel_m/s2", "z") } else { String::new() },
            if ffa_cols { format!(" {:>6} {:>9}", "search", "width_ms") } else { String::new() },
        );
        for (i, c) in shown.iter().take(limit(shown.len())) {
            let harm = if c.harmonic_of >= 0 {
                format!("{}({}/{})", c.harmonic_of, c.harmonic_num, c.harmonic_den)
            } else {
                "-".to_string()
            };
            println!(
                "{:>4} {:>14.6} {:>12.6} {:>9.3} {:>8.2} {:>8.2} {:>9.2} {:>5} {:>6} {:>9} {:>6}{}{}",
                i,
                c.period_s * 1e3,
                c.frequency_hz,
                c.dm,
                c.sigma,
                c.snr,
                c.power,
                c.nharm,
                c.n_dm_hits,
                harm,
                c.dm_flag,
                if accel_cols { format!(" {:>10.3} {:>8.2}", c.accel, c.z) } else { String::new() },
                if ffa_cols { format!(" {:>6} {:>9.3}", c.search.name(), c.width_s * 1e3) } else { String::new() },
            );
        }
    }
}

fn print_single_pulses(pulses: &[tianyan::search::SinglePulse], top: usize, csv: bool) {
    let limit = |n: usize| if top == 0 { n } else { n.min(top) };
    if csv {
        println!("table,id,time_s,sample,dm,width_s,width_samples,snr,n_members,rfi_flag");
        for (i, p) in pulses.iter().take(limit(pulses.len())).enumerate() {
            println!(
                "single_pulse,{i},{:.6},{},{:.3},{:.6},{},{:.2},{},{}",
                p.time_s, p.sample, p.dm, p.width_s, p.width_samples, p.snr, p.n_members, p.rfi_flag
            );
        }
        return;
    }
    println!("Single-pulse events: {}", pulses.len());
    if !pulses.is_empty() {
        println!(
            "{:>4} {:>11} {:>10} {:>9} {:>10} {:>6} {:>8} {:>8} {:>4}",
            "id", "time_s", "sample", "dm", "width_ms", "width", "snr", "members", "rfi"
        );
        for (i, p) in pulses.iter().take(limit(pulses.len())).enumerate() {
            println!(
                "{:>4} {:>11.5} {:>10} {:>9.3} {:>10.4} {:>6} {:>8.2} {:>8} {:>4}",
                i,
                p.time_s,
                p.sample,
                p.dm,
                p.width_s * 1e3,
                p.width_samples,
                p.snr,
                p.n_members,
                if p.rfi_flag != 0 { "yes" } else { "-" }
            );
        }
    }
}
