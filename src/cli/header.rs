//! `tianyan header FILE`: prints an observation's header and the values derived from it.
//!
//! Any format `tianyan::open_observation` understands (SIGPROC filterbank, PSRFITS) is accepted.
//! Frequencies are channel centres (TRAPS B10): the band edges are half a channel beyond the
//! extreme centres, and the centre frequency is the midpoint of the edges.
use std::path::PathBuf;

/// Arguments of `tianyan header`.
#[derive(clap::Args, Debug)]
pub struct HeaderArgs {
    /// Observation file (SIGPROC .fil or PSRFITS).
    pub path: PathBuf,
    /// Print the header as JSON (the `Header` structure) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tianyan header`.
pub fn run(args: HeaderArgs) -> anyhow::Result<()> {
    let obs = tianyan::open_observation(std::slice::from_ref(&args.path))?;
    let h = obs.header();
    if args.json {
        println!("{}", serde_json::to_string_pretty(h)?);
        return Ok(());
    }
    let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_else(|| "-".into());
    let opti = |v: Option<i32>| v.map(|x| format!("{x}")).unwrap_or_else(|| "-".into());
    let (lo, hi) = h.band_edges_mhz();
    println!("file                 {}", obs.source_description());
    println!("source_name          {}", h.source_name);
    println!("rawdatafile          {}", h.rawdatafile);
    println!("telescope_id         {}", h.telescope_id);
    println!("machine_id           {}", h.machine_id);
    println!("data_type            {}", h.data_type);
    println!("tstart (MJD)         {:.12}", h.tstart_mjd);
    println!("tsamp (s)            {}", h.tsamp_s);
    println!("nsamples             {}", h.nsamples);
    println!("duration (s)         {:.6}", h.duration_s());
    println!("nchans               {}", h.nchans);
    println!("nbits                {}{}", h.nbits, if h.signed { " (signed)" } else { "" });
    println!("nifs                 {}", h.nifs);
    println!("fch1 (MHz)           {}", h.fch1_mhz);
    println!("foff (MHz)           {}", h.foff_mhz);
    if h.freqs_mhz.is_some() {
        println!("frequency table      yes (non-uniform channel centres)");
    }
    println!("channel centres (MHz) {:.6} .. {:.6}", h.fbottom_mhz(), h.ftop_mhz());
    println!("band edges (MHz)     {lo:.6} .. {hi:.6}");
    println!("bandwidth (MHz)      {:.6}", h.bandwidth_mhz());
    println!("centre freq (MHz)    {:.6}", h.centre_freq_mhz());
    println!("src_raj / src_dej    {} / {}", opt(h.src_raj), opt(h.src_dej));
    println!("az_start / za_start  {} / {}", opt(h.az_start), opt(h.za_start));
    println!("refdm                {}", opt(h.refdm));
    println!("period (s)           {}", opt(h.period));
    println!("barycentric          {}", opti(h.barycentric));
    println!("pulsarcentric        {}", opti(h.pulsarcentric));
    println!("nbeams / ibeam       {} / {}", opti(h.nbeams), opti(h.ibeam));
    Ok(())
}
