//! PNG diagnostics (plotters, bitmap backend).
//!
//! * [`plot_fold`]: one page per folded candidate, like PRESTO prepfold's: header text, profile
//!   (two turns), phase–time and phase–frequency greyscales, S/N against DM, and the P–Ṗ map.
//! * [`plot_candidates`]: the candidates of a search, period against DM, marker size by sigma.
//! * [`plot_single_pulses`]: the single-pulse events of a search, DM against time (marker size by
//!   S/N, like PRESTO's `single_pulse_search.py`), S/N against DM, events per DM, and
//!   ([`plot_single_pulses_with_waterfalls`]) dedispersed waterfalls of the best events
//!   ([`waterfall::waterfall_data`]).
//!
//! Text is drawn with the DejaVu Sans font read at run time from
//! `/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf` (Debian package `fonts-dejavu-core`), or
//! from the file named by the environment variable `TIANYAN_FONT`; no system font library is
//! needed. A missing font is a [`PlotError::Font`] that says what to install.
//!
//! Files are written under a temporary name beside the target and renamed when complete.

pub mod waterfall;

use crate::fold::FoldResult;
use crate::io::Header;
use crate::search::{Candidate, SinglePulse};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Default font file (Debian/Ubuntu `fonts-dejavu-core`).
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Size of [`plot_fold`] pages, pixels (width, height).
pub const FOLD_PLOT_SIZE: (u32, u32) = (1200, 900);
/// Size of [`plot_single_pulses`] pages, pixels (width, height).
pub const SINGLE_PULSE_PLOT_SIZE: (u32, u32) = (1100, 850);
/// Extra height of a single-pulse page with a row of waterfalls, pixels.
pub const WATERFALL_ROW_HEIGHT: u32 = 420;
/// Most waterfalls drawn on a single-pulse page.
pub const MAX_WATERFALLS: usize = 4;
/// Size of [`plot_candidates`] pages, pixels (width, height).
pub const CANDIDATES_PLOT_SIZE: (u32, u32) = (1000, 700);

/// Errors of the plotting functions.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The font file could not be loaded.
    #[error("font {path}: {msg} (install the Debian package fonts-dejavu-core, or set TIANYAN_FONT to a .ttf file)")]
    Font { path: PathBuf, msg: String },
    /// Drawing or encoding the image failed.
    #[error("{path}: drawing failed: {msg}")]
    Draw { path: PathBuf, msg: String },
    /// Renaming the finished file failed.
    #[error("{path}: {source}")]
    Os { path: PathBuf, source: std::io::Error },
}

static FONT: OnceLock<Result<(), (PathBuf, String)>> = OnceLock::new();

/// Registers the font used for all text (once per process).
fn ensure_font() -> Result<(), PlotError> {
    let r = FONT.get_or_init(|| {
        let path = std::env::var_os("TIANYAN_FONT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_FONT));
        let bytes = std::fs::read(&path).map_err(|e| (path.clone(), e.to_string()))?;
        let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, leaked)
            .map_err(|_| (path.clone(), "not a usable TrueType/OpenType font".to_string()))
    });
    r.clone().map_err(|(path, msg)| PlotError::Font { path, msg })
}

/// Writes a PNG through a temporary `.png` file beside `path`, renamed when complete.
fn with_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
) -> Result<(), PlotError> {
    ensure_font()?;
    let name = path.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}.png", std::process::id()));
    let res = (|| {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root)?;
        root.present().map_err(|e| e.to_string())
    })();
    match res {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| PlotError::Os { path: path.to_path_buf(), source: e }),
        Err(msg) => {
            let _ = std::fs::remove_file(&tmp);
            Err(PlotError::Draw { path: path.to_path_buf(), msg })
        }
    }
}

fn es<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Per-bin mean of a row minus the row's mean level, as (sum − level·count)/sqrt(count)
/// (units of σ); rows are `[n_rows][nbins]` sums. Used for the greyscales.
fn normalise_rows(d: &ndarray::Array2<f64>) -> ndarray::Array2<f64> {
    let mut out = d.clone();
    for mut r in out.rows_mut() {
        let m = r.mean().unwrap_or(0.0);
        r.mapv_inplace(|v| v - m);
    }
    out
}

/// Greyscale image of `[n_rows][nbins]` (two turns in phase) into `area`; `y` spans `y_range`.
fn greyscale(
    area: &DrawingArea<BitMapBackend, Shift>,
    title: &str,
    d: &ndarray::Array2<f64>,
    y_edges: (f64, f64),
    y_desc: &str,
) -> Result<(), String> {
    let (nr, nb) = (d.nrows(), d.ncols());
    let (y0, y1) = if y_edges.0 < y_edges.1 { y_edges } else { (y_edges.1, y_edges.0) };
    let y1 = if y1 > y0 { y1 } else { y0 + 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..2f64, y0..y1)
        .map_err(es)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .disable_mesh()
        .x_labels(5)
        .x_desc("phase (turns)")
        .y_desc(y_desc)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(es)?;
    if nr == 0 || nb == 0 {
        return Ok(());
    }
    let n = normalise_rows(d);
    let lo = n.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = n.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let dy = (y_edges.1 - y_edges.0) / nr as f64;
    let mut cells = Vec::with_capacity(2 * nr * nb);
    for r in 0..nr {
        let ya = y_edges.0 + r as f64 * dy;
        for turn in 0..2 {
            for b in 0..nb {
                let v = ((n[[r, b]] - lo) / span).clamp(0.0, 1.0);
                let g = (255.0 * (1.0 - v)) as u8; // dark = bright signal
                let x0 = turn as f64 + b as f64 / nb as f64;
                let x1 = x0 + 1.0 / nb as f64;
                cells.push(Rectangle::new([(x0, ya), (x1, ya + dy)], RGBColor(g, g, g).filled()));
            }
        }
    }
    chart.draw_series(cells).map_err(es)?;
    Ok(())
}

/// Tick label for an axis value: no floating-point residue (`0.30000000000000004` → `0.3`),
/// at most 4 significant digits, trailing zeros dropped, and a short exponent form (`1e-10`,
/// `2.5e6`) outside `[10⁻³, 10⁵)` so that labels never run out of the label area.
pub fn tick_label(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.3e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        return format!("{}e{}", trim(m.to_string()), e);
    }
    // 4 significant digits.
    let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
    let s = trim(format!("{v:.decimals$}"));
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// A probability given by its natural log, written `1.23e-45` (mantissa and decimal exponent, so
/// values far below the `f64` range still print); `0` for `ln p = −∞`, `n/a` for NaN.
pub fn format_ln_prob(ln_p: f64) -> String {
    if !ln_p.is_finite() {
        return if ln_p.is_nan() { "n/a".into() } else { "0".into() };
    }
    let l10 = ln_p / std::f64::consts::LN_10;
    let e = l10.floor();
    format!("{:.2}e{}", 10f64.powf(l10 - e), e as i64)
}

/// Draws one line of text at `pos`, in the largest font size from `size` down to 10 that keeps it
/// within `max_width` pixels (so a long header line never runs off the page).
fn draw_fitted_text(
    area: &DrawingArea<BitMapBackend, Shift>,
    text: &str,
    size: u32,
    max_width: i32,
    pos: (i32, i32),
) -> Result<(), String> {
    let mut s = size;
    while s > 10 {
        let style = TextStyle::from(("sans-serif", s).into_font());
        match area.estimate_text_size(text, &style) {
            Ok((w, _)) if w as i32 <= max_width => break,
            Ok(_) => s -= 1,
            Err(e) => return Err(es(e)),
        }
    }
    area.draw_text(text, &("sans-serif", s).into_font().color(&BLACK), pos).map_err(es)
}

fn fmt_opt(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3e}")
    } else {
        "n/a".into()
    }
}

/// Writes the one-page diagnostic of a folded candidate to `path` (PNG, [`FOLD_PLOT_SIZE`]).
///
/// Panels: header text (source, epoch, P ± err, Ṗ ± err, DM ± err, S/N, reduced χ² and its
/// effective dof, Prob(Noise), trials-corrected sigma with the trial counts, boxcar width, T); profile over two turns (in σ per bin, baseline removed); phase–time and
/// phase–frequency greyscales (rows baseline-removed, dark = bright); S/N against DM trial;
/// the P–Ṗ S/N map (offsets from the optimised values, greyscale).
///
/// # Errors
/// [`PlotError::Font`] without the font, [`PlotError::Draw`] / [`PlotError::Os`] when the
/// picture cannot be drawn or written.
pub fn plot_fold(result: &FoldResult, header: &Header, path: &Path) -> Result<(), PlotError> {
    let r = result;
    with_png(path, FOLD_PLOT_SIZE, |root| {
        let (top, body) = root.split_vertically(126);
        let lines = [
            format!(
                "{}   MJD {:.6}   T = {:.2} s   nbins {}",
                if header.source_name.is_empty() { "(unnamed source)" } else { header.source_name.as_str() },
                header.tstart_mjd,
                r.tobs_s,
                r.nbins
            ),
            format!(
                "P = {:.9} ± {} s   Pdot = {:.3e} ± {}   DM = {:.2} ± {} pc/cc",
                r.period_s,
                fmt_opt(r.period_err_s),
                r.pdot,
                fmt_opt(r.pdot_err),
                r.dm,
                fmt_opt(r.dm_err),
            ),
            format!(
                "S/N = {:.1} (boxcar {} bins)   reduced chi2 = {:.2} (dof {:.0})   Prob(Noise) = {}",
                r.snr,
                r.width_bins,
                r.reduced_chi2,
                r.dof_eff,
                format_ln_prob(r.ln_prob_noise),
            ),
            format!(
                "sigma = {:.1} ({:.0} eff. of {} trials)   folded at P = {:.9} s, Pdot = {:.3e}, DM = {:.2}",
                r.sigma, r.ntrials_eff, r.ntrials, r.fold_period_s, r.fold_pdot, r.fold_dm
            ),
        ];
        let width = top.dim_in_pixel().0 as i32 - 40;
        for (i, l) in lines.iter().enumerate() {
            draw_fitted_text(&top, l, 19, width, (20, 8 + 29 * i as i32))?;
        }
        let cols = body.split_evenly((1, 3));
        // Column 1: profile + phase-time.
        let (prof_area, tp_area) = cols[0].split_vertically(260);
        let nb = r.profile.len().max(1);
        let level = r.profile.iter().sum::<f64>() / r.profile_counts.iter().sum::<f64>().max(1e-300);
        let z: Vec<f64> = r
            .profile
            .iter()
            .zip(&r.profile_counts)
            .map(|(&s, &c)| if c > 0.0 { (s - level * c) / c.sqrt() } else { 0.0 })
            .collect();
        let zmin = z.iter().cloned().fold(f64::INFINITY, f64::min).min(0.0);
        let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max).max(zmin + 1.0);
        let pad = 0.05 * (zmax - zmin);
        let mut ch = ChartBuilder::on(&prof_area)
            .caption("Profile (2 turns)", ("sans-serif", 16))
            .margin(6)
            .x_label_area_size(30)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..2f64, (zmin - pad)..(zmax + pad))
            .map_err(es)?;
        ch.configure_mesh()
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .disable_mesh()
            .x_labels(5)
            .x_desc("phase (turns)")
            .y_desc("σ per bin")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(es)?;
        let pts: Vec<(f64, f64)> = (0..2 * nb)
            .flat_map(|j| {
                let x0 = j as f64 / nb as f64;
                let v = z[j % nb];
                [(x0, v), (x0 + 1.0 / nb as f64, v)]
            })
            .collect();
        ch.draw_series(LineSeries::new(pts, &BLACK)).map_err(es)?;
        let tmax = r.tobs_s.max(1e-9);
        greyscale(&tp_area, "Phase vs time", &r.time_phase, (0.0, tmax), "time (s)")?;
        // Column 2: phase-frequency.
        let f = &r.subband_freqs_mhz;
        let (fa, fb) = match (f.first(), f.last()) {
            (Some(a), Some(b)) if a.is_finite() && b.is_finite() && f.len() > 1 => {
                let half = 0.5 * (b - a) / (f.len() - 1) as f64;
                (a - half, b + half)
            }
            (Some(a), _) if a.is_finite() => (a - 0.5, a + 0.5),
            _ => (0.0, f.len().max(1) as f64),
        };
        greyscale(&cols[1], "Phase vs frequency", &r.freq_phase, (fa, fb), "frequency (MHz)")?;
        // Column 3: DM curve + P-Pdot map.
        let (dm_area, pp_area) = cols[2].split_vertically(380);
        let dlo = r.dm_trials.iter().cloned().fold(f64::INFINITY, f64::min);
        let dhi = r.dm_trials.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let (dlo, dhi) = if dhi > dlo { (dlo, dhi) } else { (dlo - 1.0, dlo + 1.0) };
        let slo = r.dm_snr.iter().cloned().fold(f64::INFINITY, f64::min);
        let shi = r.dm_snr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let (slo, shi) = if shi > slo { (slo, shi) } else { (slo - 1.0, slo + 1.0) };
        let mut ch = ChartBuilder::on(&dm_area)
            .caption("S/N vs DM", ("sans-serif", 16))
            .margin(6)
            .x_label_area_size(30)
            .y_label_area_size(55)
            .build_cartesian_2d(dlo..dhi, slo..shi + 0.05 * (shi - slo))
            .map_err(es)?;
        ch.configure_mesh()
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .disable_mesh()
            .x_labels(6)
            .x_desc("DM (pc/cc)")
            .y_desc("S/N")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(es)?;
        let pts: Vec<(f64, f64)> = r.dm_trials.iter().cloned().zip(r.dm_snr.iter().cloned()).collect();
        ch.draw_series(LineSeries::new(pts.clone(), &BLUE)).map_err(es)?;
        ch.draw_series(pts.iter().map(|&p| Circle::new(p, 2, BLUE.filled()))).map_err(es)?;
        ch.draw_series(std::iter::once(PathElement::new(vec![(r.dm, slo), (r.dm, shi)], RED))).map_err(es)?;
        // P-Pdot map in offsets from the optimum: x in ms... use Fourier-bin-free units: μs and s/s.
        let m = &r.ppdot_snr;
        let np = r.period_trials_s.len();
        let npd = r.pdot_trials.len();
        let dx = if np > 1 { r.period_trials_s[1] - r.period_trials_s[0] } else { 1e-9 };
        let dyp = if npd > 1 { r.pdot_trials[1] - r.pdot_trials[0] } else { 1e-15 };
        let x0 = (r.period_trials_s.first().copied().unwrap_or(r.period_s) - r.period_s) * 1e6 - 0.5 * dx * 1e6;
        let x1 = (r.period_trials_s.last().copied().unwrap_or(r.period_s) - r.period_s) * 1e6 + 0.5 * dx * 1e6;
        let y0 = r.pdot_trials.first().copied().unwrap_or(r.pdot) - r.pdot - 0.5 * dyp;
        let y1 = r.pdot_trials.last().copied().unwrap_or(r.pdot) - r.pdot + 0.5 * dyp;
        let mut ch = ChartBuilder::on(&pp_area)
            .caption("P-Pdot S/N", ("sans-serif", 16))
            .margin(6)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(es)?;
        ch.configure_mesh()
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .disable_mesh()
            .x_labels(5)
            .y_labels(7)
            .x_desc("P - P_best (μs)")
            .y_desc("Pdot - Pdot_best")
            .y_label_formatter(&|v| format!("{v:.1e}"))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(es)?;
        let lo = m.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = m.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let span = if hi > lo { hi - lo } else { 1.0 };
        let mut cells = Vec::with_capacity(np * npd);
        for j in 0..m.nrows() {
            for i in 0..m.ncols() {
                let v = ((m[[j, i]] - lo) / span).clamp(0.0, 1.0);
                let g = (255.0 * (1.0 - v)) as u8;
                let cx = (r.period_trials_s[i] - r.period_s) * 1e6;
                let cy = r.pdot_trials[j] - r.pdot;
                cells.push(Rectangle::new(
                    [(cx - 0.5 * dx * 1e6, cy - 0.5 * dyp), (cx + 0.5 * dx * 1e6, cy + 0.5 * dyp)],
                    RGBColor(g, g, g).filled(),
                ));
            }
        }
        ch.draw_series(cells).map_err(es)?;
        ch.draw_series(std::iter::once(Cross::new((0.0, 0.0), 6, RED.stroke_width(2)))).map_err(es)?;
        Ok(())
    })
}

/// Writes an overview of a search's candidates to `path` (PNG, [`CANDIDATES_PLOT_SIZE`]):
/// period (log axis) against DM, marker radius growing with sigma (3 px at the weakest up to
/// 15 px at the strongest), harmonics (`harmonic_of ≥ 0`) in grey, others in blue.
/// An empty list gives an empty frame with a note.
///
/// # Errors
/// As [`plot_fold`].
pub fn plot_candidates(cands: &[Candidate], path: &Path) -> Result<(), PlotError> {
    with_png(path, CANDIDATES_PLOT_SIZE, |root| {
        let ok: Vec<&Candidate> =
            cands.iter().filter(|c| c.period_s.is_finite() && c.period_s > 0.0 && c.dm.is_finite()).collect();
        let pmin = ok.iter().map(|c| c.period_s).fold(f64::INFINITY, f64::min);
        let pmax = ok.iter().map(|c| c.period_s).fold(f64::NEG_INFINITY, f64::max);
        let (pmin, pmax) = if ok.is_empty() { (1e-3, 10.0) } else { (pmin / 1.5, pmax * 1.5) };
        let dmax = ok.iter().map(|c| c.dm).fold(0.0f64, f64::max);
        let dmin = ok.iter().map(|c| c.dm).fold(0.0f64, f64::min);
        let (dmin, dmax) = (dmin - 0.05 * (dmax - dmin + 1.0), dmax + 0.05 * (dmax - dmin + 1.0));
        let mut ch = ChartBuilder::on(root)
            .caption(format!("Candidates ({})", cands.len()), ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((pmin..pmax).log_scale(), dmin..dmax)
            .map_err(es)?;
        ch.configure_mesh()
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .x_desc("period (s)")
            .y_desc("DM (pc/cc)")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(es)?;
        if ok.is_empty() {
            root.draw_text("no periodic candidates", &("sans-serif", 24).into_font().color(&BLACK), (420, 340))
                .map_err(es)?;
            return Ok(());
        }
        let smin = ok.iter().map(|c| c.sigma as f64).fold(f64::INFINITY, f64::min);
        let smax = ok.iter().map(|c| c.sigma as f64).fold(f64::NEG_INFINITY, f64::max);
        let span = if smax > smin { smax - smin } else { 1.0 };
        // Weakest first so the strongest are drawn on top.
        let mut order = ok.clone();
        order.sort_by(|a, b| a.sigma.partial_cmp(&b.sigma).unwrap_or(std::cmp::Ordering::Equal));
        let radius = |c: &Candidate| (3.0 + 12.0 * ((c.sigma as f64 - smin) / span).clamp(0.0, 1.0)) as i32;
        let grey = RGBColor(150, 150, 150);
        let blue = RGBColor(30, 80, 200);
        ch.draw_series(
            order
                .iter()
                .filter(|c| c.harmonic_of >= 0)
                .map(|c| Circle::new((c.period_s, c.dm), radius(c), grey.mix(0.7).filled())),
        )
        .map_err(es)?
        .label("harmonic of a stronger candidate")
        .legend(move |(x, y)| Circle::new((x + 8, y), 5, grey.mix(0.7).filled()));
        ch.draw_series(
            order
                .iter()
                .filter(|c| c.harmonic_of < 0)
                .map(|c| Circle::new((c.period_s, c.dm), radius(c), blue.mix(0.7).filled())),
        )
        .map_err(es)?
        .label("family head (marker size: sigma)")
        .legend(move |(x, y)| Circle::new((x + 8, y), 5, blue.mix(0.7).filled()));
        ch.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(es)?;
        Ok(())
    })
}

/// Writes the FFA periodogram of the best DM of a search to `path` (PNG,
/// [`CANDIDATES_PLOT_SIZE`]): the S/N of every trial against its period (log axis), one point per
/// trial (riptide's periodogram plot), with the best trial marked and named in the caption.
/// A summary without trials gives an empty frame with a note.
///
/// # Errors
/// As [`plot_fold`].
pub fn plot_ffa_periodogram(s: &crate::rows::FfaSummary, path: &Path) -> Result<(), PlotError> {
    with_png(path, CANDIDATES_PLOT_SIZE, |root| {
        let pts: Vec<(f64, f64)> = s
            .best_dm_periods_s
            .iter()
            .zip(&s.best_dm_snr)
            .filter(|(p, v)| p.is_finite() && **p > 0.0 && v.is_finite())
            .map(|(&p, &v)| (p, v as f64))
            .collect();
        let pmin = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let pmax = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let (pmin, pmax) = if pts.is_empty() { (0.1, 10.0) } else { (pmin / 1.02, pmax * 1.02) };
        let smax = pts.iter().map(|p| p.1).fold(1.0f64, f64::max);
        let smin = pts.iter().map(|p| p.1).fold(0.0f64, f64::min);
        let best = pts.iter().cloned().fold((f64::NAN, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
        let caption = if pts.is_empty() {
            "FFA periodogram".to_string()
        } else {
            format!("FFA periodogram, DM {:.2}: best S/N {:.1} at P = {:.6} s", s.best_dm, best.1, best.0)
        };
        let mut ch = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((pmin..pmax).log_scale(), smin..smax * 1.05)
            .map_err(es)?;
        ch.configure_mesh()
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .x_desc("trial period (s)")
            .y_desc("S/N (best boxcar)")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(es)?;
        if pts.is_empty() {
            root.draw_text("no FFA trials", &("sans-serif", 24).into_font().color(&BLACK), (420, 340)).map_err(es)?;
            return Ok(());
        }
        let blue = RGBColor(30, 80, 200);
        ch.draw_series(pts.iter().map(|&(p, v)| Circle::new((p, v), 1, blue.filled()))).map_err(es)?;
        ch.draw_series(std::iter::once(Circle::new(best, 6, RED.stroke_width(2)))).map_err(es)?;
        Ok(())
    })
}

/// Writes the single-pulse page of a search to `path` (PNG, [`SINGLE_PULSE_PLOT_SIZE`]), in the
/// manner of PRESTO's `single_pulse_search.py`: DM against time with marker area growing with S/N
/// (top), S/N against DM and the number of events per DM (bottom). Events flagged as DM-0 RFI
/// (`rfi_flag ≠ 0`) are grey, others blue; the five strongest are listed in the title area.
/// `header` gives the title (source name) and the time axis (observation length).
///
/// # Errors
/// As [`plot_fold`].
pub fn plot_single_pulses(pulses: &[SinglePulse], header: &Header, path: &Path) -> Result<(), PlotError> {
    plot_single_pulses_with_waterfalls(pulses, header, &[], path)
}

/// The events whose waterfalls a single-pulse page shows: the `n` strongest (by S/N) not flagged
/// as DM-0 RFI, with finite time, DM, width and S/N, strongest first.
pub fn best_events(pulses: &[SinglePulse], n: usize) -> Vec<SinglePulse> {
    let mut ok: Vec<SinglePulse> = pulses
        .iter()
        .filter(|p| {
            p.rfi_flag == 0 && p.time_s.is_finite() && p.dm.is_finite() && p.snr.is_finite() && p.width_s.is_finite()
        })
        .cloned()
        .collect();
    ok.sort_by(|a, b| b.snr.total_cmp(&a.snr).then(a.time_s.total_cmp(&b.time_s)));
    ok.truncate(n);
    ok
}

/// [`plot_single_pulses`] with a row of dedispersed waterfalls below (at most
/// [`MAX_WATERFALLS`], from [`waterfall::waterfall_data`], e.g. of [`best_events`]): each shows
/// frequency against time around its event (cells in σ, dark = bright) above the band-summed
/// profile. The page is [`WATERFALL_ROW_HEIGHT`] pixels taller when `waterfalls` is not empty.
///
/// # Errors
/// As [`plot_fold`].
pub fn plot_single_pulses_with_waterfalls(
    pulses: &[SinglePulse],
    header: &Header,
    waterfalls: &[waterfall::Waterfall],
    path: &Path,
) -> Result<(), PlotError> {
    let (w, h) = SINGLE_PULSE_PLOT_SIZE;
    let size = if waterfalls.is_empty() { (w, h) } else { (w, h + WATERFALL_ROW_HEIGHT) };
    with_png(path, size, |page| {
        let (root, wf_row) = page.split_vertically(h);
        if !waterfalls.is_empty() {
            let cols = wf_row.split_evenly((1, waterfalls.len().min(MAX_WATERFALLS)));
            for (area, wf) in cols.iter().zip(waterfalls) {
                draw_waterfall(area, wf)?;
            }
        }
        let root = &root;
        let ok: Vec<&SinglePulse> =
            pulses.iter().filter(|p| p.time_s.is_finite() && p.dm.is_finite() && p.snr.is_finite()).collect();
        let (title, body) = root.split_vertically(70);
        let name = if header.source_name.is_empty() { "(unnamed source)" } else { header.source_name.as_str() };
        let mut best = ok.clone();
        best.sort_by(|a, b| b.snr.total_cmp(&a.snr));
        let top: Vec<String> =
            best.iter().take(5).map(|p| format!("start t={:.3}s DM={:.1} S/N={:.1}", p.time_s, p.dm, p.snr)).collect();
        title
            .draw_text(
                &format!("Single pulses: {name}, {} events", ok.len()),
                &("sans-serif", 22).into_font().color(&BLACK),
                (20, 8),
            )
            .map_err(es)?;
        title
            .draw_text(
                &format!("strongest: {}", top.join("; ")),
                &("sans-serif", 14).into_font().color(&BLACK),
                (20, 42),
            )
            .map_err(es)?;
        let (upper, lower) = body.split_vertically(470);
        let lows = lower.split_evenly((1, 2));
        let tmax = ok.iter().map(|p| p.time_s).fold(header.duration_s().max(0.0), f64::max).max(1e-3);
        let dmax = ok.iter().map(|p| p.dm).fold(1.0f64, f64::max) * 1.05;
        let smin = ok.iter().map(|p| p.snr as f64).fold(f64::INFINITY, f64::min);
        let smax = ok.iter().map(|p| p.snr as f64).fold(f64::NEG_INFINITY, f64::max);
        // One S/N only (e.g. a single event): mid-sized markers.
        let (smin, span) = if smax > smin { (smin, smax - smin) } else { (smin - 1.0, 2.0) };
        let blue = RGBColor(30, 80, 200);
        let grey = RGBColor(150, 150, 150);
        let colour = |p: &SinglePulse| if p.rfi_flag != 0 { grey } else { blue };
        // DM vs time.
        let mut ch = ChartBuilder::on(&upper)
            .caption("DM vs time (marker size: S/N)", ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..tmax * 1.02, 0f64..dmax)
            .map_err(es)?;
        ch.configure_mesh()
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .x_desc("time (s)")
            .y_desc("DM (pc/cc)")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(es)?;
        if ok.is_empty() {
            upper
                .draw_text("no single pulses", &("sans-serif", 24).into_font().color(&BLACK), (450, 220))
                .map_err(es)?;
        }
        let mut order = ok.clone();
        order.sort_by(|a, b| a.snr.total_cmp(&b.snr));
        ch.draw_series(order.iter().filter(|p| p.rfi_flag == 0).map(|p| {
            let rad = 2.0 + 14.0 * ((p.snr as f64 - smin) / span).clamp(0.0, 1.0);
            Circle::new((p.time_s, p.dm), rad as i32, colour(p).mix(0.6).filled())
        }))
        .map_err(es)?
        .label("event")
        .legend(move |(x, y)| Circle::new((x + 8, y), 5, blue.mix(0.6).filled()));
        ch.draw_series(order.iter().filter(|p| p.rfi_flag != 0).map(|p| {
            let rad = 2.0 + 14.0 * ((p.snr as f64 - smin) / span).clamp(0.0, 1.0);
            Circle::new((p.time_s, p.dm), rad as i32, colour(p).mix(0.6).filled())
        }))
        .map_err(es)?
        .label("flagged as DM-0 RFI")
        .legend(move |(x, y)| Circle::new((x + 8, y), 5, grey.mix(0.6).filled()));
        ch.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(es)?;
        // S/N vs DM.
        let (s0, s1) = if ok.is_empty() { (0.0, 10.0) } else { (smin.min(0.0), smax * 1.1) };
        let mut ch = ChartBuilder::on(&lows[0])
            .caption("S/N vs DM", ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..dmax, s0..s1)
            .map_err(es)?;
        ch.configure_mesh()
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .x_desc("DM (pc/cc)")
            .y_desc("S/N")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(es)?;
        ch.draw_series(ok.iter().map(|p| Circle::new((p.dm, p.snr as f64), 3, colour(p).filled()))).map_err(es)?;
        // Events per DM (30 bins).
        let nbin = 30usize;
        let mut counts = vec![0u32; nbin];
        for p in &ok {
            let b = ((p.dm / dmax * nbin as f64) as usize).min(nbin - 1);
            counts[b] += 1;
        }
        let cmax = counts.iter().cloned().max().unwrap_or(0).max(1) as f64;
        let mut ch = ChartBuilder::on(&lows[1])
            .caption("Number of events vs DM", ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..dmax, 0f64..cmax * 1.1)
            .map_err(es)?;
        ch.configure_mesh()
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .x_desc("DM (pc/cc)")
            .y_desc("events")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(es)?;
        let w = dmax / nbin as f64;
        ch.draw_series(counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(i, &c)| {
            Rectangle::new([(i as f64 * w, 0.0), ((i + 1) as f64 * w, c as f64)], blue.mix(0.7).filled())
        }))
        .map_err(es)?;
        Ok(())
    })
}

/// One waterfall (image above, band-summed profile below) into `area`; time in ms from the event.
fn draw_waterfall(area: &DrawingArea<BitMapBackend, Shift>, wf: &waterfall::Waterfall) -> Result<(), String> {
    let (nsub, nt) = wf.data.dim();
    let ah = area.dim_in_pixel().1;
    let (img_area, prof_area) = area.split_vertically(ah * 62 / 100);
    let ms = |t: f64| t * 1e3;
    let (x0, x1) = match (wf.times_s.first(), wf.times_s.last()) {
        (Some(&a), Some(&b)) if b > a => (ms(a - 0.5 * wf.dt_s), ms(b + 0.5 * wf.dt_s)),
        _ => (-1.0, 1.0),
    };
    let f = &wf.subband_freqs_mhz;
    let fstep = if f.len() > 1 { (f[f.len() - 1] - f[0]) / (f.len() - 1) as f64 } else { 1.0 };
    let (fa, fb) = match (f.first(), f.last()) {
        (Some(&a), Some(&b)) => (a.min(b) - 0.5 * fstep.abs(), a.max(b) + 0.5 * fstep.abs()),
        _ => (0.0, 1.0),
    };
    let mut ch = ChartBuilder::on(&img_area)
        .caption(format!("centre t = {:.3} s, DM = {:.1}", wf.centre_time_s, wf.dm), ("sans-serif", 14))
        .margin(5)
        .x_label_area_size(22)
        .y_label_area_size(48)
        .build_cartesian_2d(x0..x1, fa..fb)
        .map_err(es)?;
    ch.configure_mesh()
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .disable_mesh()
        .x_labels(4)
        .y_labels(5)
        .y_desc("MHz")
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(es)?;
    // Colour scale: from −2σ to the brightest cell (at least 3σ), dark = bright.
    let hi = wf.data.iter().copied().fold(3.0f64, f64::max);
    let lo = -2.0;
    let mut cells = Vec::with_capacity(nsub * nt);
    for (b, &fb) in f.iter().enumerate().take(nsub) {
        let (y0, y1) = (fb - 0.5 * fstep.abs(), fb + 0.5 * fstep.abs());
        for j in 0..nt {
            let v = ((wf.data[[b, j]] - lo) / (hi - lo)).clamp(0.0, 1.0);
            let g = (255.0 * (1.0 - v)) as u8;
            let xa = ms(wf.times_s[j] - 0.5 * wf.dt_s);
            cells.push(Rectangle::new([(xa, y0), (xa + ms(wf.dt_s), y1)], RGBColor(g, g, g).filled()));
        }
    }
    ch.draw_series(cells).map_err(es)?;
    let pmin = wf.profile.iter().copied().fold(0.0f64, f64::min);
    let pmax = wf.profile.iter().copied().fold(1.0f64, f64::max);
    let pad = 0.05 * (pmax - pmin);
    let mut ch = ChartBuilder::on(&prof_area)
        .margin(5)
        .x_label_area_size(30)
        .y_label_area_size(48)
        .build_cartesian_2d(x0..x1, (pmin - pad)..(pmax + pad))
        .map_err(es)?;
    ch.configure_mesh()
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .disable_mesh()
        .x_labels(4)
        .y_labels(4)
        .x_desc("time from event (ms)")
        .y_desc("σ")
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(es)?;
    let pts: Vec<(f64, f64)> = wf
        .times_s
        .iter()
        .zip(&wf.profile)
        .flat_map(|(&t, &p)| [(ms(t - 0.5 * wf.dt_s), p), (ms(t + 0.5 * wf.dt_s), p)])
        .collect();
    ch.draw_series(LineSeries::new(pts, &BLACK)).map_err(es)?;
    Ok(())
}

/// Size of [`plot_rfi_mask`] pages, pixels (width, height).
pub const RFI_PLOT_SIZE: (u32, u32) = (1100, 800);

/// The RFI mask over time and frequency (the `/rfi` group of a candidate or mask file): one
/// cell per statistics block and channel, coloured by why it is masked — whole channel
/// (grey), SK (red), rfifind mean/std (orange), rfifind FFT power (purple), whole block
/// (black); kept cells white. A strip above shows the clipped spectra per block. Time runs from
/// 0 to `nblocks · stat_block_samples · tsamp` (the last block may be shorter); frequency from
/// the header's channel frequencies (file order, any sign of `foff`).
///
/// # Errors
/// [`PlotError`] for a missing font or a failed write.
pub fn plot_rfi_mask(r: &crate::rfi::RfiReport, header: &Header, path: &Path) -> Result<(), PlotError> {
    use crate::rfi::{CELL_BLOCK, CELL_RFIFIND_POWER, CELL_RFIFIND_STAT, CELL_SK};
    with_png(path, RFI_PLOT_SIZE, |root| {
        let (nb, nc) = r.cell_mask.dim();
        let tblock = r.stat_block_samples as f64 * header.tsamp_s.max(0.0);
        // The last block absorbs the tail: it ends at the end of the data when that is known.
        let tend = header.nsamples as f64 * header.tsamp_s;
        let tmax = if tend > 0.0 { tend } else { (nb as f64 * tblock).max(1e-9) };
        let t1 = |b: usize| if b + 1 == nb { tmax } else { (b + 1) as f64 * tblock };
        let freqs = header.chan_freqs_mhz();
        let half = 0.5 * header.foff_mhz.abs();
        let (fmin, fmax) = if freqs.len() == nc && nc > 0 {
            let lo = freqs.iter().copied().fold(f64::INFINITY, f64::min) - half;
            let hi = freqs.iter().copied().fold(f64::NEG_INFINITY, f64::max) + half;
            (lo, hi.max(lo + 1e-9))
        } else {
            (0.0, nc.max(1) as f64)
        };
        let fr = |c: usize| {
            if freqs.len() == nc && nc > 0 {
                (freqs[c] - half, freqs[c] + half)
            } else {
                (c as f64, c as f64 + 1.0)
            }
        };
        let (top, bottom) = root.split_vertically(170);
        let masked_chans = r.channel_flags.iter().filter(|&&f| f != 0).count();
        let mut ch = ChartBuilder::on(&top)
            .caption(
                format!(
                    "RFI mask: {masked_chans} of {nc} channels, {:.2} % of the data masked; {} spectra clipped ({:.3} %)",
                    100.0 * r.masked_fraction,
                    r.clipped_spectra,
                    100.0 * r.clipped_fraction
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(20)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..tmax, 0.0..(r.block_clipped.iter().copied().max().unwrap_or(0).max(1) as f64 * 1.1))
            .map_err(es)?;
        ch.configure_mesh().y_desc("clipped").label_style(("sans-serif", 12)).disable_x_mesh().draw().map_err(es)?;
        ch.draw_series(r.block_clipped.iter().enumerate().map(|(b, &n)| {
            let t0 = b as f64 * tblock;
            Rectangle::new([(t0, 0.0), (t0 + 0.9 * (t1(b) - t0), n as f64)], RGBColor(200, 60, 40).filled())
        }))
        .map_err(es)?;
        let mut ch = ChartBuilder::on(&bottom)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..tmax, fmin..fmax)
            .map_err(es)?;
        ch.configure_mesh()
            .x_desc("time (s)")
            .y_desc("frequency (MHz)")
            .label_style(("sans-serif", 14))
            .disable_mesh()
            .draw()
            .map_err(es)?;
        let colour = |b: usize, c: usize| -> Option<RGBColor> {
            let cell = r.cell_mask[[b, c]];
            if r.channel_flags.get(c).copied().unwrap_or(0) != 0 {
                Some(RGBColor(150, 150, 150))
            } else if cell & CELL_BLOCK != 0 {
                Some(RGBColor(0, 0, 0))
            } else if cell & CELL_SK != 0 {
                Some(RGBColor(220, 40, 40))
            } else if cell & CELL_RFIFIND_STAT != 0 {
                Some(RGBColor(240, 150, 20))
            } else if cell & CELL_RFIFIND_POWER != 0 {
                Some(RGBColor(130, 50, 180))
            } else {
                None
            }
        };
        ch.draw_series((0..nb).flat_map(|b| (0..nc).map(move |c| (b, c))).filter_map(|(b, c)| {
            colour(b, c).map(|col| {
                let (f0, f1) = fr(c);
                Rectangle::new([(b as f64 * tblock, f0), (t1(b), f1)], col.filled())
            })
        }))
        .map_err(es)?;
        // Legend.
        let legend = [
            ("channel masked", RGBColor(150, 150, 150)),
            ("SK", RGBColor(220, 40, 40)),
            ("rfifind mean/std", RGBColor(240, 150, 20)),
            ("rfifind power", RGBColor(130, 50, 180)),
            ("whole block", RGBColor(0, 0, 0)),
        ];
        for (i, (name, col)) in legend.iter().enumerate() {
            let x = 90 + 190 * i as i32;
            bottom.draw(&Rectangle::new([(x, 12), (x + 14, 26)], col.filled())).map_err(es)?;
            bottom.draw_text(name, &("sans-serif", 14).into_font().color(&BLACK), (x + 20, 12)).map_err(es)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short_and_exact() {
        assert_eq!(tick_label(0.1 + 0.2), "0.3");
        assert_eq!(tick_label(0.30000000000000004), "0.3");
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(-0.0000000000001), "-1e-13");
        assert_eq!(tick_label(1e-10), "1e-10");
        assert_eq!(tick_label(2.5e6), "2.5e6");
        assert_eq!(tick_label(1234.5678), "1235");
        assert_eq!(tick_label(71.0), "71");
        assert_eq!(tick_label(0.0025), "0.0025");
        assert_eq!(tick_label(-12.5), "-12.5");
        assert_eq!(tick_label(99999.0), "99999");
        // No label longer than 10 characters ("-6.358e-70") over a sweep of magnitudes and float residues.
        for k in -300..300 {
            let v = 1.7f64.powi(k) * (0.1 + 0.2);
            let l = tick_label(v);
            assert!(l.len() <= 10, "{v} -> {l}");
        }
    }
}
