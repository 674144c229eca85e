//! Aggregation of accuracy results and the written report (`results.h5`, `summary.md`).

use super::grid::GridConfig;
use super::theory::{self, expected_false_alarms, poisson_band};
use super::{AccuracyError, InjectionResult, ResultLine};
use hdf5::types::VarLenUnicode;
use std::fmt::Write as _;
use std::path::Path;

/// Completeness and efficiency of one (S/N, duty cycle) cell of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletenessCell {
    /// Injected expected folded S/N.
    pub snr: f64,
    /// Duty cycle.
    pub duty: f64,
    /// Injections.
    pub n: u32,
    /// Injections matched by a candidate.
    pub detected: u32,
    /// `detected / n`.
    pub completeness: f64,
    /// Mean ideal detection probability of the cell's injections.
    pub ideal: f64,
    /// Median of `cand_snr / expected_snr` over detections (NaN when none).
    pub efficiency: f64,
    /// Median of `ideal_fourier_snr / expected_snr` over detections (NaN when none): what a
    /// perfect search would report with the same number of harmonics.
    pub ideal_efficiency: f64,
}

/// False alarms on the pure-noise observations at one significance level.
#[derive(Debug, Clone, PartialEq)]
pub struct FalseAlarmLevel {
    /// Trials-corrected significance level, σ.
    pub sigma: f64,
    /// Candidates with `sigma ≥` this level, summed over the noise observations.
    pub observed: u64,
    /// Predicted count for independent trials ([`theory::expected_false_alarms`]), summed.
    pub expected: f64,
    /// Poisson 3σ band of `expected`.
    pub band: (f64, f64),
}

/// Everything the report and the CI floors need.
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracySummary {
    /// One cell per (S/N, duty cycle), in grid order (all periods, DMs, nchans, tsamps pooled).
    pub cells: Vec<CompletenessCell>,
    /// Pure-noise observations.
    pub n_noise: u32,
    /// False alarms per level (the last is the detection threshold).
    pub false_alarms: Vec<FalseAlarmLevel>,
    /// Injections (with a pulsar).
    pub n_injections: u32,
    /// Candidates ≥ threshold matching nothing, summed over injections with a pulsar.
    pub unmatched_in_injections: u64,
    /// Detections matched at the fundamental (ratio 1/1).
    pub n_fundamental: u32,
    /// Detections matched at another harmonic ratio.
    pub n_harmonic: u32,
    /// Median |frequency error| of fundamental matches, Fourier bins.
    pub median_abs_freq_err_bins: f64,
    /// Median |DM error| of all matches, pc cm⁻³.
    pub median_abs_dm_err: f64,
    /// Median of |DM error| / local trial spacing over all matches.
    pub median_abs_dm_err_steps: f64,
    /// Median of |DM error| / the pulse's DM resolution (`dm_width_scale`) over all matches.
    pub median_abs_dm_err_width: f64,
    /// Median local DM trial spacing at the injected DMs, pc cm⁻³.
    pub median_dm_spacing: f64,
    /// Per duty cycle: (duty, median measured efficiency, median ideal efficiency, detections).
    pub efficiency_per_duty: Vec<(f64, f64, f64, u32)>,
    /// Sum of simulation + search wall-clock times, s.
    pub total_time_s: f64,
    /// Mean time of one observation, s.
    pub mean_time_s: f64,
}

impl AccuracySummary {
    /// Pooled (detected, n) at injected S/N `snr` over duty cycles `≤ max_duty`.
    pub fn completeness_at(&self, snr: f64, max_duty: f64) -> (u32, u32) {
        self.cells
            .iter()
            .filter(|c| (c.snr - snr).abs() < 1e-9 && c.duty <= max_duty + 1e-12)
            .fold((0, 0), |(d, n), c| (d + c.detected, n + c.n))
    }

    /// The false-alarm level at the detection threshold.
    pub fn at_threshold(&self) -> Option<&FalseAlarmLevel> {
        self.false_alarms.last()
    }
}

/// Median of finite values (NaN when none).
pub fn median(v: &[f64]) -> f64 {
    let mut x: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if x.is_empty() {
        return f64::NAN;
    }
    x.sort_by(f64::total_cmp);
    let n = x.len();
    if n % 2 == 1 {
        x[n / 2]
    } else {
        0.5 * (x[n / 2 - 1] + x[n / 2])
    }
}

/// Aggregates result lines of the grid `cfg`.
pub fn summarise(cfg: &GridConfig, lines: &[ResultLine]) -> AccuracySummary {
    let rows: Vec<&InjectionResult> = lines.iter().map(|l| &l.row).filter(|r| r.noise == 0).collect();
    let mut cells = Vec::new();
    for &duty in &cfg.duty_cycle {
        for &snr in &cfg.snr {
            let sel: Vec<&&InjectionResult> =
                rows.iter().filter(|r| (r.snr_injected - snr).abs() < 1e-9 && (r.duty - duty).abs() < 1e-12).collect();
            let n = sel.len() as u32;
            let det: Vec<&&&InjectionResult> = sel.iter().filter(|r| r.matched == 1).collect();
            let eff: Vec<f64> = det.iter().map(|r| r.cand_snr as f64 / r.expected_snr).collect();
            let ieff: Vec<f64> = det.iter().map(|r| r.ideal_fourier_snr / r.expected_snr).collect();
            cells.push(CompletenessCell {
                snr,
                duty,
                n,
                detected: det.len() as u32,
                completeness: if n > 0 { det.len() as f64 / n as f64 } else { f64::NAN },
                ideal: if n > 0 { sel.iter().map(|r| r.ideal_probability).sum::<f64>() / n as f64 } else { f64::NAN },
                efficiency: median(&eff),
                ideal_efficiency: median(&ieff),
            });
        }
    }
    let noise: Vec<&ResultLine> = lines.iter().filter(|l| l.row.noise == 1).collect();
    let probe = cfg.noise_probe_sigma.min(cfg.sigma_threshold);
    let mut levels: Vec<f64> = [probe, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        .iter()
        .copied()
        .filter(|&s| s >= probe && s < cfg.sigma_threshold)
        .collect();
    levels.dedup();
    levels.push(cfg.sigma_threshold);
    let false_alarms = levels
        .iter()
        .map(|&s| {
            let observed = noise.iter().map(|l| l.noise_sigmas.iter().filter(|&&x| x as f64 >= s).count() as u64).sum();
            let expected: f64 = noise.iter().map(|l| expected_false_alarms(s, l.row.ntrials)).sum();
            FalseAlarmLevel { sigma: s, observed, expected, band: poisson_band(expected, 3.0) }
        })
        .collect();
    let matched: Vec<&&InjectionResult> = rows.iter().filter(|r| r.matched == 1).collect();
    let fund: Vec<f64> =
        matched.iter().filter(|r| r.ratio_num == 1 && r.ratio_den == 1).map(|r| r.freq_err_bins.abs()).collect();
    let mut efficiency_per_duty = Vec::new();
    for &duty in &cfg.duty_cycle {
        let d: Vec<&&&InjectionResult> = matched.iter().filter(|r| (r.duty - duty).abs() < 1e-12).collect();
        efficiency_per_duty.push((
            duty,
            median(&d.iter().map(|r| r.cand_snr as f64 / r.expected_snr).collect::<Vec<_>>()),
            median(&d.iter().map(|r| r.ideal_fourier_snr / r.expected_snr).collect::<Vec<_>>()),
            d.len() as u32,
        ));
    }
    let total_time_s: f64 = lines.iter().map(|l| l.row.elapsed_s).sum();
    AccuracySummary {
        cells,
        n_noise: noise.len() as u32,
        false_alarms,
        n_injections: rows.len() as u32,
        unmatched_in_injections: rows.iter().map(|r| r.n_unmatched_above as u64).sum(),
        n_fundamental: fund.len() as u32,
        n_harmonic: (matched.len() - fund.len()) as u32,
        median_abs_freq_err_bins: median(&fund),
        median_abs_dm_err: median(&matched.iter().map(|r| r.dm_err.abs()).collect::<Vec<_>>()),
        median_abs_dm_err_steps: median(
            &matched.iter().filter(|r| r.dm_spacing > 0.0).map(|r| r.dm_err.abs() / r.dm_spacing).collect::<Vec<_>>(),
        ),
        median_abs_dm_err_width: median(
            &matched
                .iter()
                .filter(|r| r.dm_width_scale > 0.0)
                .map(|r| r.dm_err.abs() / r.dm_width_scale)
                .collect::<Vec<_>>(),
        ),
        median_dm_spacing: median(&rows.iter().map(|r| r.dm_spacing).collect::<Vec<_>>()),
        efficiency_per_duty,
        total_time_s,
        mean_time_s: if lines.is_empty() { 0.0 } else { total_time_s / lines.len() as f64 },
    }
}

/// The completeness table as Markdown (used by `summary.md` and printed by the CI test).
pub fn completeness_table(cfg: &GridConfig, s: &AccuracySummary) -> String {
    let mut t = String::new();
    let _ = write!(t, "| S/N |");
    for d in &cfg.duty_cycle {
        let _ = write!(t, " δ = {:.1} % measured (ideal) |", d * 100.0);
    }
    let _ = write!(t, "\n|---|");
    for _ in &cfg.duty_cycle {
        let _ = write!(t, "---|");
    }
    t.push('\n');
    for &snr in &cfg.snr {
        let _ = write!(t, "| {snr} |");
        for &duty in &cfg.duty_cycle {
            match s.cells.iter().find(|c| c.snr == snr && c.duty == duty) {
                Some(c) => {
                    let _ = write!(
                        t,
                        " {}/{} = {:.0} % ({:.0} %) |",
                        c.detected,
                        c.n,
                        100.0 * c.completeness,
                        100.0 * c.ideal
                    );
                }
                None => t.push_str(" – |"),
            }
        }
        t.push('\n');
    }
    t
}

/// `summary.md`: completeness with the ideal curve, false alarms against the prediction, parameter
/// errors, efficiency, run times, and the derivation of the ideal curve.
pub fn summary_markdown(cfg: &GridConfig, s: &AccuracySummary) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# tianyan accuracy report\n");
    let _ = writeln!(
        m,
        "Observations: preset `{}`, {} s, {} bits, nchans {:?}, tsamp {:?} s; periods {:?} s; DMs {:?}; \
         search DM 0–{}, {} harmonics, threshold {}σ (trials-corrected), {}–{} Hz. \
         {} injections with a pulsar ({} seeds per point) and {} pure-noise observations. \
         Match: frequency within {} Fourier bins of h·f or f/h (h ≤ {}), DM within max({} trial steps, {} % of DM, {} × the pulse's DM resolution).\n",
        cfg.preset,
        cfg.duration_s,
        cfg.nbits,
        cfg.nchans,
        cfg.tsamp_s,
        cfg.period_s,
        cfg.dm,
        cfg.dm_max,
        cfg.nharm,
        cfg.sigma_threshold,
        cfg.fmin_hz,
        cfg.fmax_hz,
        s.n_injections,
        cfg.seeds,
        s.n_noise,
        cfg.match_tol_bins,
        cfg.match_max_harmonic,
        cfg.match_dm_steps,
        cfg.match_dm_frac * 100.0,
        cfg.match_dm_widths
    );
    let _ = writeln!(m, "## Completeness (detected/injected, ideal in brackets)\n");
    m.push_str(&completeness_table(cfg, s));
    let _ = writeln!(m, "\n## False alarms on pure noise ({} observations)\n", s.n_noise);
    let _ = writeln!(m, "| level σ | observed | predicted (independent trials) | Poisson 3σ band |\n|---|---|---|---|");
    for f in &s.false_alarms {
        let _ = writeln!(
            m,
            "| {:.1} | {} | {:.3e} | [{:.2}, {:.2}] |",
            f.sigma, f.observed, f.expected, f.band.0, f.band.1
        );
    }
    let _ = writeln!(
        m,
        "\nCandidates ≥ {}σ matching nothing injected (and not flagged by sifting as a harmonic of a stronger candidate), in the {} observations with a pulsar: {}.\n",
        cfg.sigma_threshold, s.n_injections, s.unmatched_in_injections
    );
    let _ = writeln!(m, "## Parameter errors\n");
    let _ = writeln!(
        m,
        "- matched at the fundamental: {}, at another harmonic ratio: {}\n\
         - median |frequency error| (fundamental matches): {:.3} Fourier bins\n\
         - median |DM error|: {:.3} pc cm⁻³ = {:.2} local trial steps (median step {:.3} pc cm⁻³) = {:.3} \
         of the pulse's DM resolution (the DM error whose band sweep equals the pulse FWHM)\n",
        s.n_fundamental,
        s.n_harmonic,
        s.median_abs_freq_err_bins,
        s.median_abs_dm_err,
        s.median_abs_dm_err_steps,
        s.median_dm_spacing,
        s.median_abs_dm_err_width
    );
    let _ = writeln!(m, "## Search efficiency\n");
    let _ = writeln!(
        m,
        "Recovered Fourier S/N (`snr` = sqrt(2(P − N))) over the injected folded S/N, median over detections; \
         ideal: the same ratio for a noiseless signal on a Fourier bin at the true DM with the same harmonics \
         (sqrt(2 Σ S_h)); it exceeds 1 because a matched filter beats the simulator's boxcar S/N.\n"
    );
    let _ = writeln!(m, "| duty cycle | measured | ideal | measured/ideal | detections |\n|---|---|---|---|---|");
    for &(d, e, ie, n) in &s.efficiency_per_duty {
        let _ = writeln!(m, "| {:.1} % | {:.3} | {:.3} | {:.3} | {} |", d * 100.0, e, ie, e / ie, n);
    }
    let _ = writeln!(
        m,
        "\nBoxcar efficiency η(δ) = boxcar S/N / matched-filter S/N of the ideal Gaussian: {}.\n",
        cfg.duty_cycle
            .iter()
            .map(|&d| format!("{:.1} %: {:.3}", d * 100.0, theory::boxcar_efficiency(d)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(m, "## Run time\n");
    let _ = writeln!(
        m,
        "{:.1} s of simulation + search in total, {:.2} s per observation (jobs = {}).\n",
        s.total_time_s, s.mean_time_s, cfg.jobs
    );
    let _ = writeln!(m, "## The ideal curve\n");
    let _ = writeln!(
        m,
        "A Gaussian pulse of duty cycle δ (FWHM/period) has harmonic amplitudes c_h = c_0·exp(−(π h δ)²/(4 ln 2)). \
         With N samples of unit noise and pulse amplitude A the normalised signal power of harmonic h is \
         S_h = N A² c_h². The simulator's folded S/N is the best boxcar of the 64-bin profile, \
         S/N = sqrt(N)·A·B(δ)/sqrt(64), so S_h = (S/N)²·64·c_h²/B(δ)² (B computed numerically; δ broadened \
         in quadrature by the sampling time and the intra-channel smearing). Stage H sums H powers: 2P is \
         non-central χ² with 2H degrees of freedom and non-centrality 2 Σ_(h≤H) S_h. The ideal completeness is \
         max_H Pr(P_H > T_H), T_H the search's threshold power for {}σ after the search's number of trials \
         (integer bins × stages × DM trials). It assumes the signal sits on a Fourier bin at the true DM; \
         the injections are spread uniformly between bins, so scalloping alone lowers the measured curve. \
         False alarms: with n independent trials the expected count above σ is n·(1 − (1 − Q(σ))^(1/n)) ≈ −ln(1 − Q(σ)).",
        cfg.sigma_threshold
    );
    m
}

/// Writes `results.h5`: `/results` (one [`InjectionResult`] row per injection, grid order),
/// `/noise_sigmas` (f32, the sigma of every candidate of the pure-noise runs) with
/// `/noise_run` (u32, the index of its run among the noise rows), and root attributes
/// `software`, `software_version`, `created_utc`, `grid_json`. Written under a temporary name
/// and renamed.
///
/// # Errors
/// [`AccuracyError::File`] naming `path` when HDF5 or the rename fails.
pub fn write_results_h5(path: &Path, cfg: &GridConfig, lines: &[ResultLine]) -> Result<(), AccuracyError> {
    let err = |msg: String| AccuracyError::File { path: path.into(), msg };
    let staged = crate::io::output::Staged::new(path);
    let tmp = staged.tmp().to_path_buf();
    let write = || -> Result<(), hdf5::Error> {
        let f = hdf5::File::create(&tmp)?;
        let s = |k: &str, v: &str| -> Result<(), hdf5::Error> {
            let v: VarLenUnicode = v.replace('\0', " ").parse().unwrap_or_default();
            f.new_attr::<VarLenUnicode>().create(k)?.write_scalar(&v)
        };
        s("software", "tianyan")?;
        s("software_version", env!("CARGO_PKG_VERSION"))?;
        s("created_utc", &crate::io::candidates::now_utc_iso8601())?;
        s("grid_json", &serde_json::to_string(cfg).unwrap_or_default())?;
        let rows: Vec<InjectionResult> = lines.iter().map(|l| l.row).collect();
        crate::io::candidates::write_table(&f, "results", &rows)?;
        let mut sig = Vec::new();
        let mut run = Vec::new();
        for (i, l) in lines.iter().filter(|l| l.row.noise == 1).enumerate() {
            sig.extend(l.noise_sigmas.iter().copied());
            run.extend(std::iter::repeat_n(i as u32, l.noise_sigmas.len()));
        }
        f.new_dataset::<f32>().shape(sig.len()).create("noise_sigmas")?.write(&sig)?;
        f.new_dataset::<u32>().shape(run.len()).create("noise_run")?.write(&run)?;
        f.flush()
    };
    // Dropped uncommitted on an error, `staged` removes the temporary.
    match write() {
        Ok(()) => staged.commit().map_err(|e| err(e.to_string())),
        Err(e) => Err(err(staged.relabel(&format!("HDF5 error: {e}")))),
    }
}
