//! `tianyan candidates cands.h5 [--top N] [--csv]`: prints the candidate tables of a search.
use std::path::PathBuf;
use tianyan::io::candidates::{read_candidates, read_single_pulses};

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
    /// Include candidates flagged as harmonics of stronger ones.
    #[arg(long)]
    pub all: bool,
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
    // A table of a search that was not run (`search --periodic` / `--single-pulse`, recorded in
    // /search config_json) is left out rather than printed as "0".
    let (periodic, single_pulse) = searches_run(&args.file);
    print_tables(periodic.then_some(&cands[..]), single_pulse.then_some(&pulses[..]), args.top, args.csv, args.all);
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
        println!("table,id,period_s,frequency_hz,dm,accel,z,snr,sigma,power,nharm,fft_bin,n_dm_hits,harmonic_of,harmonic_num,harmonic_den,fund_harmonic,dm_flag");
        for (i, c) in shown.iter().take(limit(shown.len())) {
            println!(
                "periodic,{i},{:.9},{:.6},{:.3},{:.3},{:.2},{:.2},{:.2},{:.2},{},{:.2},{},{},{},{},{},{}",
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
                c.dm_flag
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
    if !shown.is_empty() {
        println!(
            "{:>4} {:>14} {:>12} {:>9} {:>8} {:>8} {:>9} {:>5} {:>6} {:>9} {:>6}{}",
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
            if accel_cols { format!(" {:>10} {:>8}", "accel_m/s2", "z") } else { String::new() }
        );
        for (i, c) in shown.iter().take(limit(shown.len())) {
            let harm = if c.harmonic_of >= 0 {
                format!("{}({}/{})", c.harmonic_of, c.harmonic_num, c.harmonic_den)
            } else {
                "-".to_string()
            };
            println!(
                "{:>4} {:>14.6} {:>12.6} {:>9.3} {:>8.2} {:>8.2} {:>9.2} {:>5} {:>6} {:>9} {:>6}{}",
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
                if accel_cols { format!(" {:>10.3} {:>8.2}", c.accel, c.z) } else { String::new() }
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
