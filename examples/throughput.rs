//! Throughput of `tianyan search` on a file: per-stage times and peak memory (issue 12).
//!
//! ```text
//! cargo run --release --example throughput -- FILE [--downsamp N] [--dm-min D] [--dm-max D]
//!     [--dm-step S] [--dedisp auto|direct|subband|fdmt|fdd] [--max-memory-mb M] [--threads T]
//!     [--periodic-only] [--single-pulse-only]
//! ```
//! Reference (a) of the issue is PRESTO's `prepsubband -downsamp 8 -lodm 0 -dmstep 0.5
//! -numdms 401`, then `realfft` and `accelsearch -zmax 0 -numharm 16`, on the 1 GiB W1 file
//! (`python3 /work/shared/bench/make_input.py -o /tmp/w1.fil`):
//! `throughput /tmp/w1.fil --downsamp 8 --dm-max 200 --dm-step 0.5 --periodic-only`.
//! Reference (b): a 60 s `fast-l-band` file on the default grid, DM 0–1000, both searches.
//!
//! Prints the wall time of each stage (reading and cleaning are timed inside the reader; the
//! FFT and single-pulse searches also as thread-seconds), the total, the CPU time and the peak
//! resident memory (`VmHWM` of /proc/self/status), and the machine's load average beside them
//! (the machine may be shared).
use std::time::Instant;
use tianyan::pipeline::{run_search, SearchConfig};

fn status_kib(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn cpu_seconds() -> Option<f64> {
    // utime + stime of this process, clock ticks (field 14 and 15 of /proc/self/stat).
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args.first().ok_or_else(|| anyhow::anyhow!("usage: throughput FILE [options]"))?;
    let mut cfg = SearchConfig::default();
    let mut threads = None;
    let mut i = 1;
    let val = |i: usize| args.get(i + 1).ok_or_else(|| anyhow::anyhow!("{} needs a value", args[i]));
    while i < args.len() {
        match args[i].as_str() {
            "--downsamp" => {
                cfg.plan.downsamp = val(i)?.parse()?;
                cfg.plan.max_downsamp = cfg.plan.max_downsamp.max(cfg.plan.downsamp);
                i += 1;
            }
            "--dm-min" => {
                cfg.dm_min = val(i)?.parse()?;
                i += 1;
            }
            "--dm-max" => {
                cfg.dm_max = val(i)?.parse()?;
                i += 1;
            }
            "--dm-step" => {
                cfg.dm_step = Some(val(i)?.parse()?);
                i += 1;
            }
            "--dedisp" => {
                cfg.dedisp = val(i)?.parse().map_err(anyhow::Error::msg)?;
                i += 1;
            }
            "--max-memory-mb" => {
                cfg.max_memory_mb = val(i)?.parse()?;
                i += 1;
            }
            "--threads" => {
                threads = Some(val(i)?.parse::<usize>()?);
                i += 1;
            }
            "--periodic-only" => cfg.single_pulse = false,
            "--single-pulse-only" => cfg.periodic = false,
            other => anyhow::bail!("unknown option {other}"),
        }
        i += 1;
    }
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global()?;
    }
    let t0 = Instant::now();
    let obs = tianyan::open_observation(&[std::path::PathBuf::from(file)])?;
    let h = obs.header().clone();
    let out = run_search(obs, &cfg, &mut |_, _| {})?;
    let wall = t0.elapsed().as_secs_f64();
    let t = &out.times;
    println!(
        "{file}: {} channels × {} samples of {:.3} µs ({:.1} s); {} DM trials ({}), {} threads",
        h.nchans,
        h.nsamples,
        h.tsamp_s * 1e6,
        h.duration_s(),
        out.dm_trials.len(),
        out.dedisperser,
        rayon::current_num_threads()
    );
    for r in &out.steps {
        println!(
            "  step: {} trials DM {:.2}–{:.2} ×{} {}{}: series {} (FFT {}), block {}, {}",
            r.dms.len(),
            r.dms[0],
            r.dms[r.dms.len() - 1],
            r.downsamp,
            r.kind,
            if r.fused { " (fused)" } else { "" },
            r.nout,
            r.fft_len,
            r.block_size,
            if r.in_memory { "in memory" } else { "scratch file" }
        );
    }
    println!("  excision stats {:8.2} s", t.excision_stats_s);
    println!("  read+clean     {:8.2} s", t.read_s);
    println!("  zero-DM probes {:8.2} s", t.birdies_s);
    println!("  dedisperse     {:8.2} s", t.dedisperse_s);
    println!(
        "  search         {:8.2} s   (FFT+harmonics {:.2} thread-s, single pulse {:.2} thread-s)",
        t.search_s, t.periodic_thread_s, t.single_pulse_thread_s
    );
    println!("  sift+cluster   {:8.2} s", t.sift_s);
    println!("  total wall     {wall:8.2} s, CPU {:.2} s", cpu_seconds().unwrap_or(f64::NAN));
    println!(
        "  peak RSS {:.0} MiB (budget {} MiB); {} candidates, {} single pulses",
        status_kib("VmHWM:").unwrap_or(0) as f64 / 1024.0,
        cfg.max_memory_mb,
        out.candidates.len(),
        out.single_pulses.len()
    );
    if let Some(c) = out.candidates.first() {
        println!("  top: P {:.6} s DM {:.2} sigma {:.2}", c.period_s, c.dm, c.sigma);
    }
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("  load average: {}", l.trim());
    }
    Ok(())
}
