//! Birdies: periodic interference zapped from every power spectrum before the harmonic sums.
//!
//! Two sources:
//! * a user zap list ([`parse_zaplist`]), in the spirit of PRESTO's `.zaplist`/`.birds` files:
//!   one line per birdie, `frequency_hz width_hz [nharm]`, `#` starts a comment;
//! * automatic detection in the zero-DM series ([`find_zero_dm_birdies`]): narrow lines that are
//!   strong at DM 0 and do not belong to a dispersed source.
//!
//! [`zap_halfbins`] sets to 0 the half-bin powers of a spectrum that fall inside any birdie (and,
//! for `nharm > 1`, its harmonics `k·f`, `k = 1..=nharm`, each with the same width in Hz), so no
//! harmonic sum can collect them.

use super::RfiError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One zapped periodicity (a row of `/rfi/birdies` in the candidate file).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, hdf5::H5Type)]
#[repr(C)]
pub struct Birdie {
    /// Centre frequency, Hz.
    pub frequency_hz: f64,
    /// Full width zapped around each harmonic, Hz (at least ±1 Fourier bin is always zapped).
    pub width_hz: f64,
    /// Harmonics zapped: `frequency_hz · k` for `k = 1 ..= nharm`.
    pub nharm: u32,
    /// 0: from the user's zap list; 1: found automatically in the zero-DM series.
    pub source: u8,
    /// Whitened power of the line at DM 0 (automatic birdies; 0 for zap-list entries).
    pub power: f32,
}

/// [`Birdie::source`] of a zap-list entry.
pub const SOURCE_ZAPLIST: u8 = 0;
/// [`Birdie::source`] of an automatically found zero-DM line.
pub const SOURCE_AUTO: u8 = 1;

/// Parses a zap list: one birdie per line, `frequency_hz width_hz [nharm]` separated by spaces,
/// tabs or commas; blank lines and text after `#` ignored.
///
/// # Errors
/// [`RfiError::Zaplist`] naming the file and line for an unreadable file, a line that does not
/// parse, a non-positive or non-finite frequency, a negative width or `nharm` of 0.
pub fn parse_zaplist(path: &Path) -> Result<Vec<Birdie>, RfiError> {
    let err = |line: usize, msg: String| RfiError::Zaplist { path: path.to_path_buf(), line, msg };
    let text = std::fs::read_to_string(path).map_err(|e| err(0, format!("cannot read: {e}")))?;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(|c: char| c.is_whitespace() || c == ',').filter(|s| !s.is_empty()).collect();
        if fields.len() < 2 || fields.len() > 3 {
            return Err(err(i + 1, format!("expected 'frequency_hz width_hz [nharm]', got '{line}'")));
        }
        let num = |s: &str, what: &str| -> Result<f64, RfiError> {
            s.parse::<f64>().map_err(|_| err(i + 1, format!("{what} '{s}' is not a number")))
        };
        let f = num(fields[0], "frequency")?;
        let w = num(fields[1], "width")?;
        if !(f.is_finite() && f > 0.0) {
            return Err(err(i + 1, format!("frequency {f} Hz must be positive")));
        }
        if !(w.is_finite() && w >= 0.0) {
            return Err(err(i + 1, format!("width {w} Hz must be zero or positive")));
        }
        let nharm = match fields.get(2) {
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| err(i + 1, format!("harmonic count '{s}' must be a whole number of at least 1")))?,
            None => 1,
        };
        out.push(Birdie { frequency_hz: f, width_hz: w, nharm, source: SOURCE_ZAPLIST, power: 0.0 });
    }
    Ok(out)
}

/// Zeroes the half-bin powers (`halfbin[j]` at frequency `j / (2·tobs_s)` Hz) inside every
/// birdie and its harmonics; each zapped range is `f ± max(width/2, 1/tobs)`. Returns the number
/// of half bins zeroed.
pub fn zap_halfbins(halfbin: &mut [f32], tobs_s: f64, birdies: &[Birdie]) -> usize {
    if tobs_s.is_nan() || tobs_s <= 0.0 {
        return 0;
    }
    let mut zeroed = 0;
    let n = halfbin.len();
    for b in birdies {
        for k in 1..=b.nharm.max(1) {
            let f = b.frequency_hz * k as f64;
            let half = (0.5 * b.width_hz).max(1.0 / tobs_s);
            let lo = ((f - half) * 2.0 * tobs_s).ceil().max(0.0) as usize;
            let hi = ((f + half) * 2.0 * tobs_s).floor();
            if hi < 0.0 || lo >= n {
                continue;
            }
            let hi = (hi as usize).min(n - 1);
            for v in &mut halfbin[lo..=hi] {
                if *v != 0.0 {
                    zeroed += 1;
                }
                *v = 0.0;
            }
        }
    }
    zeroed
}

/// Settings of the automatic zero-DM birdie search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoBirdieConfig {
    /// Whitened power (unit-mean noise, exponential) a zero-DM Fourier bin must reach. Default 40:
    /// the chance probability `e^{−40} ≈ 4·10⁻¹⁸` per bin leaves pure noise untouched in any
    /// observation.
    pub min_power: f64,
    /// The DM-0 power must be at least this multiple of the largest power at the same frequency
    /// over the probe DMs at which a zero-DM signal of that frequency is smeared
    /// (`f · sweep(DM) ≥ 0.5`, where its amplitude has fallen below `sinc(0.5) = 0.64`). Default 2.
    pub dm0_ratio: f64,
    /// Lowest frequency considered, Hz (below it red noise and the slow bandpass drifts rule).
    pub fmin_hz: f64,
    /// At most this many automatic birdies (the strongest). Default 200.
    pub max_birdies: usize,
    /// A birdie extends over the neighbouring bins whose power stays at or above this (its
    /// width and sinc² leakage), plus one bin each side. Default 6 (noise: e⁻⁶ = 0.25 % of bins).
    pub edge_power: f64,
    /// How far (in noise σ of the line's power, `sqrt(2p)`) a probe DM may beat DM 0 before the
    /// line counts as dispersed. Default 0.5: the tutorial pulsar's 9th harmonic (36 Hz, DM 30 in
    /// a 70 MHz band, hardly smeared at DM 0) measured 185 at DM 0 and 208 at DM 28.8.
    pub peak_tolerance: f64,
    /// Highest probe DM, pc cm⁻³ ([`probe_dms`]; default 100). Fixed, not the search's DM
    /// range, so a mask file and every search find the same birdies. Not higher: in a narrow
    /// band a low-DM pulsar's low harmonics are hardly smeared at DM 0, and a probe far above its
    /// DM smears them as it smears a DM-0 line (measured on `tutorial.fil`, 70 MHz band, pulsar
    /// at 4 Hz and DM 30: probes to DM 2200 zapped its 4 and 16 Hz harmonics, σ 90.6 → 80.5).
    pub probe_dm_max: f64,
}

impl Default for AutoBirdieConfig {
    fn default() -> Self {
        AutoBirdieConfig {
            min_power: 40.0,
            dm0_ratio: 2.0,
            fmin_hz: 1.0,
            max_birdies: 200,
            edge_power: 6.0,
            peak_tolerance: 0.5,
            probe_dm_max: 100.0,
        }
    }
}

/// DMs of the zero-DM birdie search's probe series (pc cm⁻³, ascending, DM 0 first): 0, then
/// 0.5 and factors of 1.5 up to `cfg.probe_dm_max`, stopping after the first whose band sweep
/// `τ(DM)` smears every frequency considered (`fmin_hz·τ ≥ 0.5`, where a zero-DM signal's
/// amplitude has fallen below `sinc(0.5)`: higher probes add nothing), and keeping only those
/// with `τ ≤ 0.1·duration` (so all series keep nearly the whole observation).
///
/// They depend only on the observation's band and length and on `cfg`, never on the DM range a
/// search asks for, so `tianyan rfi` (mask file) and `tianyan search` (any `--dm-max`) probe the
/// same series and find the same birdies.
pub fn probe_dms(header: &crate::io::Header, cfg: &AutoBirdieConfig) -> Vec<f64> {
    let span = header.fbottom_mhz().powi(-2) - header.ftop_mhz().powi(-2);
    let sweep = |dm: f64| crate::consts::K_DM * dm * span.max(0.0);
    let mut dms = vec![0.0f64];
    if !(span > 0.0 && cfg.fmin_hz > 0.0) {
        return dms;
    }
    let tau_all = 0.5 / cfg.fmin_hz;
    let mut dm = 0.5;
    while dm <= cfg.probe_dm_max && sweep(dm) <= 0.1 * header.duration_s() {
        dms.push(dm);
        if sweep(dm) >= tau_all {
            break;
        }
        dm *= 1.5;
    }
    dms
}

/// Finds zero-DM birdies.
///
/// `p0`: whitened Fourier powers (unit-mean noise, bin `k` at `k/tobs_s` Hz) of the DM-0 series;
/// `probe_max[k]`: the largest whitened power at bin `k` over the probe DM series whose band sweep
/// `τ(DM)` satisfies `f·τ ≥ 0.5` (+∞ where none does); `probe_all_max[k]`: the largest over every
/// probe DM. A bin is a birdie when it is a local maximum with `p0 ≥ min_power`,
/// `p0 ≥ dm0_ratio · probe_max` and `p0 + peak_tolerance·sqrt(2·p0) ≥ probe_all_max`: a dispersed pulsar is at
/// least as strong at a DM near its own as at DM 0, while a zero-DM line is smeared away at the
/// probes and strongest at DM 0.
/// Each birdie covers the bins around its peak down to `edge_power`, plus one bin each side
/// (strong lines leak into many bins). A line with at least two of its harmonics 2–16 among
/// the others (within half their widths, at least 2 bins) is a family: a further birdie at the
/// refined fundamental, 4 bins wide, covers every harmonic up to the highest frequency of `p0`.
/// Sorted by frequency.
pub fn find_zero_dm_birdies(
    p0: &[f32],
    probe_max: &[f32],
    probe_all_max: &[f32],
    tobs_s: f64,
    cfg: &AutoBirdieConfig,
) -> Vec<Birdie> {
    let n = p0.len().min(probe_max.len()).min(probe_all_max.len());
    let kmin = ((cfg.fmin_hz * tobs_s).ceil() as usize).max(2);
    let mut found: Vec<Birdie> = Vec::new();
    // Frequency of each birdie's peak bin.
    let mut peaks: Vec<f64> = Vec::new();
    let mut k = kmin;
    while k + 1 < n {
        let p = p0[k] as f64;
        // Peaked at DM 0: no probe DM, smearing or not, beats it by more than `peak_tolerance`
        // noise σ of a line's power (sqrt(2p) in unit-mean noise). A pulsar whose own sweep is
        // too short to smear this harmonic is still stronger near its own DM; a zero-DM line is
        // matched at the smallest probes, whose series differ from DM 0 by sub-sample shifts.
        let peaked = p + cfg.peak_tolerance * (2.0 * p).sqrt() >= probe_all_max[k] as f64;
        if p < cfg.min_power
            || p < p0[k - 1] as f64
            || p <= p0[k + 1] as f64
            || p < cfg.dm0_ratio * probe_max[k] as f64
            || !peaked
        {
            k += 1;
            continue;
        }
        // The line's extent: out to where its power (and sinc² leakage) falls below edge_power.
        let mut lo = k;
        while lo > 1 && p0[lo - 1] as f64 >= cfg.edge_power {
            lo -= 1;
        }
        let mut hi = k;
        while hi + 1 < n && p0[hi + 1] as f64 >= cfg.edge_power {
            hi += 1;
        }
        found.push(Birdie {
            frequency_hz: 0.5 * (lo + hi) as f64 / tobs_s,
            width_hz: (hi - lo + 2) as f64 / tobs_s,
            nharm: 1,
            source: SOURCE_AUTO,
            power: p as f32,
        });
        peaks.push(k as f64 / tobs_s);
        k = hi + 1;
    }
    // Harmonic families (mains and other periodic interference with a non-sinusoidal waveform):
    // a line with at least two of its harmonics 2..=16 among the others adds a family birdie at
    // the fundamental refined from its highest member's peak bin (error ≤ 0.5 bin / k), ±2 bins
    // wide, zapping every harmonic up to the highest frequency of `p0`, so no harmonic sum
    // collects the weaker harmonics left below `min_power`.
    let fmax = n as f64 / tobs_s;
    let mut families = Vec::new();
    for (i, b) in found.iter().enumerate() {
        let f0 = peaks[i];
        let mut members = 0;
        let mut best = (1usize, f0);
        for k in 2..=16usize {
            let tol = (0.5 * b.width_hz * k as f64).max(2.0 / tobs_s);
            if let Some(j) = (0..found.len()).find(|&j| (peaks[j] - f0 * k as f64).abs() <= tol) {
                members += 1;
                best = (k, peaks[j]);
            }
        }
        let f = best.1 / best.0 as f64;
        if members >= 2 && !families.iter().any(|o: &Birdie| (o.frequency_hz - f).abs() <= 2.0 / tobs_s) {
            families.push(Birdie {
                frequency_hz: f,
                width_hz: 4.0 / tobs_s,
                nharm: ((fmax / f).floor() as u32).max(1),
                source: SOURCE_AUTO,
                power: b.power,
            });
        }
    }
    found.extend(families);
    found.sort_by(|a, b| a.frequency_hz.total_cmp(&b.frequency_hz).then(a.nharm.cmp(&b.nharm)));
    if found.len() > cfg.max_birdies {
        found.sort_by(|a, b| b.power.total_cmp(&a.power));
        found.truncate(cfg.max_birdies);
        found.sort_by(|a, b| a.frequency_hz.total_cmp(&b.frequency_hz));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zaps_harmonics_with_at_least_one_bin() {
        let tobs = 10.0;
        let mut hb = vec![1.0f32; 2 * 1000];
        let b = Birdie { frequency_hz: 50.0, width_hz: 0.0, nharm: 2, source: 0, power: 0.0 };
        zap_halfbins(&mut hb, tobs, &[b]);
        // 50 Hz = half bin 1000; ±1 Fourier bin = ±2 half bins; 100 Hz is past the end.
        assert!(hb[998..=1002].iter().all(|&v| v == 0.0));
        assert_eq!(hb[997], 1.0);
        assert_eq!(hb[1003], 1.0);
    }

    #[test]
    fn probe_dms_depend_on_the_data_only() {
        // 1000–1500 MHz, 30 s: τ(DM) = K_DM·DM·(1000⁻² − 1500⁻²) = 2.305 ms per pc cm⁻³.
        let h = crate::io::Header {
            nchans: 512,
            nsamples: 76294,
            tsamp_s: 393.216e-6,
            fch1_mhz: 1499.51171875,
            foff_mhz: -500.0 / 512.0,
            ..crate::io::Header::default()
        };
        let cfg = AutoBirdieConfig::default();
        // To DM 100: 0.5·1.5¹³ = 97.3 is the last (τ 0.22 s < 0.5 s: no early stop).
        let dms = probe_dms(&h, &cfg);
        assert_eq!(dms.len(), 15, "{dms:?}");
        assert_eq!(dms[0], 0.0);
        assert!((dms[14] - 0.5 * 1.5f64.powi(13)).abs() < 1e-9);
        // fmin 10 Hz: stop after the first τ ≥ 0.05 s, 0.5·1.5⁹ = 19.2 (τ 0.0443) is below it,
        // 28.8 (τ 0.0665) the last.
        let dms = probe_dms(&h, &AutoBirdieConfig { fmin_hz: 10.0, ..cfg.clone() });
        assert!((dms.last().unwrap() - 0.5 * 1.5f64.powi(10)).abs() < 1e-9, "{dms:?}");
        // 1 s of data: τ ≤ 0.1 s keeps DM ≤ 43.5, so the last probe is 0.5·1.5¹¹ = 43.25.
        let short = crate::io::Header { nsamples: 2543, ..h.clone() };
        let dms = probe_dms(&short, &cfg);
        assert!((dms.last().unwrap() - 0.5 * 1.5f64.powi(11)).abs() < 1e-9, "{dms:?}");
    }

    #[test]
    fn auto_needs_power_and_zero_dm_excess() {
        let mut p0 = vec![1.0f32; 1000];
        let mut probe = vec![1.0f32; 1000];
        p0[500] = 100.0; // zero-DM line: smeared at the probes
        p0[300] = 100.0; // dispersed source: as strong at a probe DM
        probe[300] = 120.0;
        p0[200] = 20.0; // too weak
        let mut all = probe.clone();
        p0[700] = 100.0; // a low-DM pulsar's harmonic: not smeared at the probes, but stronger at its DM
        all[700] = 150.0;
        let b = find_zero_dm_birdies(&p0, &probe, &all, 10.0, &AutoBirdieConfig::default());
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].frequency_hz, 50.0);
    }
}
