//! Matching search candidates to an injected pulsar.
//!
//! A candidate of frequency `f_c` matches a pulsar of frequency `f` when, for some ratio
//! `r = h` or `r = 1/h` with `1 ≤ h ≤ max_harmonic`, `|f_c − r·f|·T ≤ tol_bins` (Fourier bins of
//! the observation length `T`), and its DM is within `max(dm_steps · ΔDM_local, dm_frac · DM)`
//! of the true DM, `ΔDM_local` being the spacing of the searched trials around the true DM.
//! Among ratios within tolerance the one with the smallest `|f_c − r·f|` wins.

use crate::search::Candidate;

/// Match tolerances (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchTolerance {
    /// Frequency tolerance, Fourier bins (1/T).
    pub tol_bins: f64,
    /// Largest harmonic and sub-harmonic number.
    pub max_harmonic: u32,
    /// DM tolerance in local trial spacings.
    pub dm_steps: f64,
    /// DM tolerance as a fraction of the true DM.
    pub dm_frac: f64,
    /// DM tolerance in units of the pulse's own DM resolution (the DM error whose band sweep
    /// equals the pulse FWHM, passed to [`find_match`]); 0 disables this term.
    pub dm_widths: f64,
}

impl MatchTolerance {
    /// The DM tolerance `max(dm_steps · dm_spacing, dm_frac · dm, dm_widths · dm_width_scale)`.
    pub fn dm_tolerance(&self, dm: f64, dm_spacing: f64, dm_width_scale: f64) -> f64 {
        (self.dm_steps * dm_spacing).max(self.dm_frac * dm).max(self.dm_widths * dm_width_scale)
    }
}

/// A successful match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchInfo {
    /// Index of the candidate in the list given.
    pub index: usize,
    /// `f_c / f ≈ num / den` (1/1 the fundamental).
    pub num: u32,
    /// See `num`.
    pub den: u32,
    /// `(f_c − (num/den)·f)·T`, Fourier bins.
    pub freq_err_bins: f64,
    /// `dm_c − dm`, pc cm⁻³.
    pub dm_err: f64,
}

/// Spacing of the trial grid `dm_trials` (any order) around `dm`: the mean of the gaps on
/// either side of the nearest trial (one side at the ends); 0 with fewer than two trials.
pub fn local_dm_spacing(dm_trials: &[f64], dm: f64) -> f64 {
    let mut t: Vec<f64> = dm_trials.iter().copied().filter(|x| x.is_finite()).collect();
    t.sort_by(f64::total_cmp);
    t.dedup();
    if t.len() < 2 {
        return 0.0;
    }
    let i =
        t.iter().enumerate().min_by(|a, b| (a.1 - dm).abs().total_cmp(&(b.1 - dm).abs())).map(|(i, _)| i).unwrap_or(0);
    let left = if i > 0 { Some(t[i] - t[i - 1]) } else { None };
    let right = if i + 1 < t.len() { Some(t[i + 1] - t[i]) } else { None };
    match (left, right) {
        (Some(a), Some(b)) => 0.5 * (a + b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => 0.0,
    }
}

/// The frequency ratio `num/den` and error in bins if `freq_hz` is a harmonic or sub-harmonic
/// of `true_freq_hz` within `tol.tol_bins` bins of a `tobs_s` observation.
pub fn harmonic_match(freq_hz: f64, true_freq_hz: f64, tobs_s: f64, tol: &MatchTolerance) -> Option<(u32, u32, f64)> {
    let mut best: Option<(u32, u32, f64)> = None;
    for h in 1..=tol.max_harmonic.max(1) {
        for (num, den) in [(h, 1u32), (1u32, h)] {
            if den > 1 && num == 1 && h == 1 {
                continue;
            }
            let err = (freq_hz - true_freq_hz * num as f64 / den as f64) * tobs_s;
            if err.abs() <= tol.tol_bins && best.is_none_or(|b| err.abs() < b.2.abs()) {
                best = Some((num, den, err));
            }
        }
    }
    best
}

/// The first candidate (in the order given: the search's sigma order) that matches the pulsar
/// of frequency `true_freq_hz` and DM `true_dm` (module docs); `dm_spacing` is
/// [`local_dm_spacing`] of the searched trials, `dm_width_scale` the pulse's DM resolution.
pub fn find_match(
    cands: &[Candidate],
    true_freq_hz: f64,
    true_dm: f64,
    tobs_s: f64,
    dm_spacing: f64,
    dm_width_scale: f64,
    tol: &MatchTolerance,
) -> Option<MatchInfo> {
    let dm_tol = tol.dm_tolerance(true_dm, dm_spacing, dm_width_scale);
    cands.iter().enumerate().find_map(|(index, c)| {
        let dm_err = c.dm - true_dm;
        if dm_err.abs() > dm_tol + 1e-9 {
            return None;
        }
        harmonic_match(c.frequency_hz, true_freq_hz, tobs_s, tol).map(|(num, den, freq_err_bins)| MatchInfo {
            index,
            num,
            den,
            freq_err_bins,
            dm_err,
        })
    })
}
