//! PNG plots of an accuracy run (plotters, bitmap backend), written beside `summary.md`:
//!
//! * `completeness.png`: completeness against injected S/N, one colour per duty cycle, measured
//!   (solid, points) with the ideal curve (dashed) beside it;
//! * `snr_recovered.png`: recovered Fourier S/N against injected folded S/N (with y = x);
//! * `errors.png`: histograms of the frequency error (Fourier bins, fundamental matches) and of
//!   the DM error (pc cm⁻³);
//! * `false_alarms.png`: false alarms on pure noise against the prediction, per σ level (log y).
//!
//! The font is the one `crate::plot` uses: DejaVu Sans from [`crate::plot::DEFAULT_FONT`] or the
//! file named by `TIANYAN_FONT`. Each file is written under a temporary name and renamed.

use super::grid::GridConfig;
use super::report::AccuracySummary;
use super::theory;
use super::ResultLine;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static FONT: OnceLock<Result<(), String>> = OnceLock::new();

fn ensure_font() -> Result<(), String> {
    FONT.get_or_init(|| {
        let path = std::env::var_os("TIANYAN_FONT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(crate::plot::DEFAULT_FONT));
        let bytes = std::fs::read(&path).map_err(|e| format!("font {}: {e}", path.display()))?;
        let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, leaked)
            .map_err(|_| format!("font {}: not a usable TrueType font", path.display()))
    })
    .clone()
}

fn es<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
) -> Result<(), String> {
    ensure_font()?;
    let name = path.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}.png", std::process::id()));
    let res = (|| {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(es)?;
        draw(&root)?;
        root.present().map_err(es)
    })();
    match res {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(format!("{}: {e}", path.display()))
        }
    }
}

fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ];
    C[i % C.len()]
}

/// Dashed polyline (plotters 0.3 has no dashed series with our feature set).
fn dashed(pts: &[(f64, f64)], n: usize) -> Vec<Vec<(f64, f64)>> {
    let mut fine = Vec::new();
    for w in pts.windows(2) {
        for k in 0..n {
            let a = k as f64 / n as f64;
            fine.push((w[0].0 + a * (w[1].0 - w[0].0), w[0].1 + a * (w[1].1 - w[0].1)));
        }
    }
    if let Some(&l) = pts.last() {
        fine.push(l);
    }
    fine.chunks(2).step_by(2).map(|c| c.to_vec()).filter(|c| c.len() == 2).collect()
}

/// Writes the four PNGs into `dir`.
///
/// # Errors
/// A message naming the file when the font is missing or drawing fails.
pub fn write_plots(dir: &Path, cfg: &GridConfig, lines: &[ResultLine], s: &AccuracySummary) -> Result<(), String> {
    let rows: Vec<_> = lines.iter().map(|l| l.row).filter(|r| r.noise == 0).collect();
    let smax = cfg.snr.iter().cloned().fold(1.0, f64::max) * 1.1;
    let smin = cfg.snr.iter().cloned().fold(f64::INFINITY, f64::min).min(smax) * 0.8;

    png(&dir.join("completeness.png"), (1000, 700), |root| {
        let mut ch = ChartBuilder::on(root)
            .caption("Completeness vs injected S/N (solid: measured, dashed: ideal)", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(smin..smax, 0f64..1.05f64)
            .map_err(es)?;
        ch.configure_mesh()
            .x_label_formatter(&|v| crate::plot::tick_label(*v))
            .y_label_formatter(&|v| crate::plot::tick_label(*v))
            .x_desc("injected folded S/N")
            .y_desc("completeness")
            .draw()
            .map_err(es)?;
        for (i, &d) in cfg.duty_cycle.iter().enumerate() {
            let col = colour(i);
            let mut cells: Vec<_> = s.cells.iter().filter(|c| c.duty == d && c.n > 0).collect();
            cells.sort_by(|a, b| a.snr.total_cmp(&b.snr));
            let meas: Vec<(f64, f64)> = cells.iter().map(|c| (c.snr, c.completeness)).collect();
            ch.draw_series(LineSeries::new(meas.clone(), col.stroke_width(2)))
                .map_err(es)?
                .label(format!("δ = {:.1} %", d * 100.0))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
            ch.draw_series(meas.iter().map(|&p| Circle::new(p, 4, col.filled()))).map_err(es)?;
            // Ideal curve on a fine S/N grid, at the first grid point's effective duty cycle.
            let r0 = rows.iter().find(|r| r.duty == d);
            if let Some(r0) = r0 {
                let stages = crate::search::harmonic::harmonic_stages(cfg.nharm);
                let ideal: Vec<(f64, f64)> = (0..=40)
                    .map(|k| {
                        let snr = smin + (smax - smin) * k as f64 / 40.0;
                        let p = theory::expected_harmonic_powers(snr, r0.duty_eff, cfg.nharm.max(1));
                        let n = (r0.tobs_s / r0.tsamp_s).round().max(2.0) as usize;
                        (snr, theory::ideal_detection_probability(&p, &stages, cfg.sigma_threshold, r0.ntrials, n).0)
                    })
                    .collect();
                for seg in dashed(&ideal, 4) {
                    ch.draw_series(LineSeries::new(seg, col.stroke_width(1))).map_err(es)?;
                }
            }
        }
        ch.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(es)?;
        Ok(())
    })?;

    png(&dir.join("snr_recovered.png"), (900, 700), |root| {
        let ymax = rows.iter().map(|r| r.cand_snr as f64).fold(smax, f64::max) * 1.05;
        let mut ch = ChartBuilder::on(root)
            .caption("Recovered Fourier S/N vs injected folded S/N", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..smax, 0f64..ymax)
            .map_err(es)?;
        ch.configure_mesh()
            .x_label_formatter(&|v| crate::plot::tick_label(*v))
            .y_label_formatter(&|v| crate::plot::tick_label(*v))
            .x_desc("injected folded S/N")
            .y_desc("candidate snr")
            .draw()
            .map_err(es)?;
        ch.draw_series(LineSeries::new(vec![(0.0, 0.0), (smax, smax)], BLACK.stroke_width(1))).map_err(es)?;
        for (i, &d) in cfg.duty_cycle.iter().enumerate() {
            let col = colour(i);
            ch.draw_series(
                rows.iter()
                    .filter(|r| r.duty == d && r.matched == 1)
                    .map(|r| Circle::new((r.expected_snr, r.cand_snr as f64), 3, col.filled())),
            )
            .map_err(es)?
            .label(format!("δ = {:.1} %", d * 100.0))
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, col.filled()));
        }
        ch.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(es)?;
        Ok(())
    })?;

    png(&dir.join("errors.png"), (1200, 500), |root| {
        let (a, b) = root.split_horizontally(600);
        let hist = |area: &DrawingArea<BitMapBackend, Shift>,
                    vals: Vec<f64>,
                    lim: f64,
                    title: &str,
                    xd: &str|
         -> Result<(), String> {
            const NB: usize = 24;
            let mut counts = [0u32; NB];
            for v in vals {
                let k = ((v + lim) / (2.0 * lim) * NB as f64).floor();
                if (0.0..NB as f64).contains(&k) {
                    counts[k as usize] += 1;
                }
            }
            let cmax = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
            let mut ch = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(45)
                .build_cartesian_2d(-lim..lim, 0f64..cmax)
                .map_err(es)?;
            ch.configure_mesh()
                .x_label_formatter(&|v| crate::plot::tick_label(*v))
                .y_label_formatter(&|v| crate::plot::tick_label(*v))
                .x_desc(xd)
                .y_desc("injections")
                .draw()
                .map_err(es)?;
            let w = 2.0 * lim / NB as f64;
            ch.draw_series(counts.iter().enumerate().map(|(k, &c)| {
                let x0 = -lim + k as f64 * w;
                Rectangle::new([(x0, 0.0), (x0 + w, c as f64)], colour(0).filled())
            }))
            .map_err(es)?;
            Ok(())
        };
        let fe: Vec<f64> = rows
            .iter()
            .filter(|r| r.matched == 1 && r.ratio_num == 1 && r.ratio_den == 1)
            .map(|r| r.freq_err_bins)
            .collect();
        hist(&a, fe, cfg.match_tol_bins, "Frequency error (fundamental matches)", "f_cand − f_true, Fourier bins")?;
        let de: Vec<f64> = rows.iter().filter(|r| r.matched == 1).map(|r| r.dm_err).collect();
        let dlim = de.iter().map(|x| x.abs()).fold(s.median_dm_spacing.max(0.1) * 3.0, f64::max) * 1.05;
        hist(&b, de, dlim, "DM error", "DM_cand − DM_true, pc cm⁻³")?;
        Ok(())
    })?;

    png(&dir.join("false_alarms.png"), (900, 650), |root| {
        let lo = 1e-10f64;
        let hi = s.false_alarms.iter().map(|f| (f.observed as f64).max(f.band.1)).fold(1.0, f64::max) * 3.0;
        let xs: Vec<f64> = s.false_alarms.iter().map(|f| f.sigma).collect();
        let (x0, x1) = (
            xs.iter().cloned().fold(f64::INFINITY, f64::min) - 0.5,
            xs.iter().cloned().fold(-f64::INFINITY, f64::max) + 0.5,
        );
        let mut ch = ChartBuilder::on(root)
            .caption(format!("False alarms on {} noise observations", s.n_noise), ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, (lo..hi).log_scale())
            .map_err(es)?;
        ch.configure_mesh()
            .x_label_formatter(&|v| crate::plot::tick_label(*v))
            .y_label_formatter(&|v| crate::plot::tick_label(*v))
            .x_desc("trials-corrected significance σ")
            .y_desc("candidates ≥ σ")
            .draw()
            .map_err(es)?;
        ch.draw_series(LineSeries::new(
            s.false_alarms.iter().map(|f| (f.sigma, f.expected.max(lo))),
            BLACK.stroke_width(2),
        ))
        .map_err(es)?
        .label("predicted (independent trials)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        ch.draw_series(s.false_alarms.iter().map(|f| {
            PathElement::new(vec![(f.sigma, f.band.0.max(lo)), (f.sigma, f.band.1.max(lo))], BLACK.stroke_width(1))
        }))
        .map_err(es)?;
        ch.draw_series(
            s.false_alarms.iter().map(|f| Circle::new((f.sigma, (f.observed as f64).max(lo)), 5, colour(3).filled())),
        )
        .map_err(es)?
        .label("observed (0 drawn at the bottom)")
        .legend(|(x, y)| Circle::new((x + 10, y), 5, colour(3).filled()));
        ch.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(es)?;
        Ok(())
    })?;
    Ok(())
}
