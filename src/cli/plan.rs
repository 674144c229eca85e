//! `tianyan plan FILE --dm-min --dm-max [--dm-step S | --dm-list FILE] [--tolerance T]`:
//! prints the DM plan (trial grid, downsampling, smearing) for an observation's header.
use anyhow::Context;
use std::path::PathBuf;
use tianyan::dedisp::{DmPlan, PlanConfig};
use tianyan::Header;

/// How the DM trials are chosen; shared by `tianyan plan` and `tianyan dedisperse`.
#[derive(clap::Args, Debug, Clone)]
pub struct PlanOptions {
    /// Lowest trial DM, pc cm⁻³.
    #[arg(long, default_value_t = 0.0)]
    pub dm_min: f64,
    /// Highest trial DM, pc cm⁻³ (a DDplan grid's last trial may exceed it by less than one step).
    #[arg(long, default_value_t = tianyan::dedisp::plan::DEFAULT_DM_MAX)]
    pub dm_max: f64,
    /// Fixed DM step, pc cm⁻³ (instead of the DDplan-style grid; no downsampling).
    #[arg(long, conflicts_with = "dm_list")]
    pub dm_step: Option<f64>,
    /// Text file of trial DMs, one per line, `#` comments (overrides --dm-min/--dm-max).
    #[arg(long)]
    pub dm_list: Option<PathBuf>,
    /// Tianyan grid tolerance: allowed ratio of half-step DM smearing to the other smearing terms.
    #[arg(long, default_value_t = 1.25)]
    pub tolerance: f64,
    /// Smallest intrinsic pulse width searched for, s (adds to the smearing budget).
    #[arg(long, default_value_t = 0.0)]
    pub min_width: f64,
    /// Largest downsampling factor of a generated grid.
    #[arg(long, default_value_t = 256)]
    pub max_downsamp: usize,
    /// Which generated grid: `ddplan` (PRESTO DDplan.py's steps, the default) or `tianyan`
    /// (cheaper: downsamples at about 0.6× DDplan's DM).
    #[arg(long, default_value = "ddplan")]
    pub grid: tianyan::dedisp::GridKind,
    /// DM the channels were coherently dedispersed to, pc cm⁻³ (DDplan -c; 0 = none).
    #[arg(long, default_value_t = 0.0)]
    pub coherent_dm: f64,
    /// Acceptable time resolution of the DDplan grid, ms (DDplan -r; 0 = the best the data allow).
    #[arg(long, default_value_t = 0.0)]
    pub time_res: f64,
    /// Subbands in the DDplan grid's smearing budget (DDplan -s; 0 = none).
    #[arg(long, default_value_t = 0)]
    pub nsub: usize,
    /// Downsampling of every trial of --dm-step/--dm-list (prepsubband -downsamp), and the
    /// first factor of a generated grid.
    #[arg(long, default_value_t = 1)]
    pub downsamp: usize,
}

impl PlanOptions {
    /// Builds the plan these options ask for, for an observation with `header`.
    pub fn plan(&self, header: &Header) -> anyhow::Result<DmPlan> {
        if self.downsamp == 0 {
            anyhow::bail!("--downsamp must be at least 1");
        }
        let mut plan = if let Some(list) = &self.dm_list {
            DmPlan::from_file(list)?
        } else if let Some(step) = self.dm_step {
            DmPlan::fixed_step(self.dm_min, self.dm_max, step)?
        } else {
            return Ok(DmPlan::grid(header, self.dm_min, self.dm_max, &self.config())?);
        };
        plan.steps.iter_mut().for_each(|s| s.downsamp = self.downsamp);
        Ok(plan)
    }

    /// The grid configuration of these options.
    pub fn config(&self) -> PlanConfig {
        PlanConfig {
            grid: self.grid,
            tolerance: self.tolerance,
            min_width_s: self.min_width,
            max_downsamp: self.max_downsamp.max(self.downsamp),
            downsamp: self.downsamp,
            nsub: self.nsub,
            coherent_dm: self.coherent_dm,
            time_res_s: self.time_res * 1e-3,
        }
    }
}

/// Arguments of `tianyan plan`.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Observation file(s) (SIGPROC .fil, or PSRFITS files read as one observation).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub opts: PlanOptions,
    /// Print the plan as JSON (the `DmPlan` structure) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Dedispersion algorithm to report, as `tianyan search --dedisp` (`auto` shows the cost
    /// model's choice per step and why).
    #[arg(long, default_value = "auto", value_parser = ["direct", "subband", "fdmt", "fdd", "auto"])]
    pub dedisp: String,
    /// Memory budget, MiB, as `tianyan search --max-memory-mb` (for the memory estimates).
    #[arg(long, default_value_t = 1024, value_parser = super::positive_usize)]
    pub max_memory_mb: usize,
    /// Acceleration search drift, as `tianyan search --zmax` (odd values round up): its (r, z)
    /// planes are counted in the memory estimates, and a budget they do not fit is reported.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1200))]
    pub zmax: u32,
}

/// Runs `tianyan plan`.
pub fn run(args: PlanArgs) -> anyhow::Result<()> {
    let obs = tianyan::open_observation(&args.files)?;
    let header = obs.header().clone();
    let mut plan = args.opts.plan(&header).with_context(|| format!("DM plan for {}", obs.source_description()))?;
    if args.max_memory_mb == 0 {
        anyhow::bail!("--max-memory-mb must be above 0");
    }
    let kind: tianyan::dedisp::DedispKind = args.dedisp.parse().map_err(anyhow::Error::msg)?;
    let mut cfg = tianyan::pipeline::SearchConfig { max_memory_mb: args.max_memory_mb, ..Default::default() };
    cfg.periodic_cfg.zmax = tianyan::search::accel::searched_zmax(args.zmax);
    let mib = |b: usize| b as f64 / (1u64 << 20) as f64;
    let mut choices = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for step in &plan.steps {
        let (kind, why) = if kind == tianyan::dedisp::DedispKind::Auto {
            tianyan::pipeline::choose_dedisperser(&header, &step.dms, step.downsamp.max(1), args.max_memory_mb)
        } else {
            (kind, "the --dedisp setting".to_string())
        };
        let (lo, hi) = (step.dms.first().copied().unwrap_or(0.0), step.dms.last().copied().unwrap_or(0.0));
        choices.push(format!("  DM {lo:.3}–{hi:.3}: {kind} ({why})"));
        // Memory per group of trials, as `tianyan search` would run it (trials whose sweep is
        // longer than the data are dropped there; here the estimate is skipped).
        match tianyan::pipeline::plan_step_runs(&header, step, kind, &cfg) {
            Ok(runs) => {
                for r in runs {
                    choices.push(format!(
                        "    {} trials, series of {} samples (FFT {}), block {}, series {} ({:.0} MiB), \
                         estimated peak {:.0} MiB (dedispersion {:.0}, search {:.0})",
                        r.dms.len(),
                        r.nout,
                        r.fft_len,
                        r.block_size,
                        if r.fused {
                            "as fused FDD spectra"
                        } else if r.in_memory {
                            "in memory"
                        } else {
                            "in a scratch file"
                        },
                        mib(r.dms.len() * r.nout * 4),
                        mib(r.peak_bytes()),
                        mib(r.dedisp_bytes),
                        mib(r.search_bytes)
                    ));
                }
            }
            Err(e) => choices.push(format!("    no estimate: {e}")),
        }
        if !names.contains(&kind.to_string()) {
            names.push(kind.to_string());
        }
    }
    plan.algorithm = names.join("+");
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", plan.describe(&header));
        println!("dedispersion per step (memory budget {} MiB, one pass over the data per step):", args.max_memory_mb);
        for c in &choices {
            println!("{c}");
        }
    }
    Ok(())
}
