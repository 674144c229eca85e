//! Periodic sources: pulse shapes, spin and acceleration, dispersion, scattering, flux or S/N.
//!
//! **Timing model.** Times `t` are seconds from the start of the first sample, referred to the top
//! channel centre `f_top`. The pulse phase (turns) of a constant line-of-sight acceleration `a`
//! (m s⁻², positive = accelerating away, so the apparent period grows; v = a·t, first-order
//! Doppler) is `φ(t) = φ0 + ν0 (t − a t² / (2c))`, with `ν0 = 1/period_s` the apparent spin
//! frequency at t = 0. (PRESTO's `accelsearch` counts positive z as an increasing frequency, the
//! opposite sign.) A pulsar in a binary ([`super::orbit`]) has `t` replaced by the emission time
//! since the start, `τ(t) = tₑ(t) − tₑ(0)`, from the exact inversion of the Roemer delay; its
//! `period_s` is then the spin period in the pulsar's frame, and the truth file records the
//! apparent spin frequency's derivatives over the observation (`fdot_hz_s`, `z`, `w`, ...). A channel at `f` sees `φ(t − d(f))`, `d(f) = K_DM · DM · (f⁻² − f_top⁻²)`
//! ([`crate::consts::K_DM`]). The main component peaks at integer phase.
//!
//! **Shape.** The main component (`shape` = `gauss`, `vonmises` or `tophat`, of full width at
//! half maximum `width_s`; default 5 % of the period) plus optional extra components, each with
//! its phase offset, FWHM and relative peak height. The profile is normalised to unit mean over
//! a period, so `mean_flux_mjy` is the period-averaged flux density. Von Mises:
//! `exp(κ (cos 2πΔφ − 1))`, `κ = ln 2 / (1 − cos(π W/P))`. Scattering: the profile is convolved
//! with `e^{−t/τ}/τ`, `τ(f) = τ_1GHz · (f / 1000 MHz)^−4.4` (Kolmogorov spectrum; Lorimer &
//! Kramer 2005 §4.2), τ evaluated for 16 groups of adjacent channels (±6 % across a group).
//!
//! **Spectrum.** `S(f) = S_ref (f / f_ref)^α` with `f_ref` the band centre (1250 MHz for the FAST
//! presets).
//!
//! **Integration.** Each sample is the exact average of the profile over the sample duration and
//! the channel width (see [`super::profile`]), so intra-channel dispersion smearing is real.
use super::orbit::{EmissionTable, Orbit};
use super::profile::{floor_f64, scatter_periodic, table_size, ProfileTable};
use super::{Band, SimError};
use crate::consts::{K_DM, SPEED_OF_LIGHT_M_S};
use crate::io::truth::{ComponentTruth, PulsarTruth};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Number of profile bins of the expected folded S/N.
pub const EXPECTED_SNR_NBINS: usize = 64;

/// Pulse component shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// Gaussian of the given FWHM.
    #[default]
    Gauss,
    /// Von Mises (periodic Gaussian) of the given FWHM.
    VonMises,
    /// Top hat of the given full width.
    TopHat,
}

impl Shape {
    fn parse(s: &str) -> Result<Shape, SimError> {
        match s {
            "gauss" | "gaussian" => Ok(Shape::Gauss),
            "vonmises" | "von-mises" => Ok(Shape::VonMises),
            "tophat" | "boxcar" => Ok(Shape::TopHat),
            _ => Err(SimError::Config(format!("unknown pulse shape '{s}' (gauss, vonmises, tophat)"))),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Shape::Gauss => "gauss",
            Shape::VonMises => "vonmises",
            Shape::TopHat => "tophat",
        }
    }
}

/// An extra profile component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// Shape.
    pub shape: Shape,
    /// Centre relative to the main component, turns.
    pub offset_phase: f64,
    /// FWHM (top hat: full width), s.
    pub fwhm_s: f64,
    /// Peak height relative to the main component.
    pub amplitude: f64,
}

/// A pulsar to inject. Give exactly one of `snr` (expected folded S/N) and `flux_mjy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PulsarSpec {
    /// Apparent period at t = 0, s.
    pub period_s: f64,
    /// DM, pc cm⁻³.
    pub dm: f64,
    /// Target expected folded S/N.
    #[serde(default)]
    pub snr: Option<f64>,
    /// Mean flux density at the band centre, mJy.
    #[serde(default)]
    pub flux_mjy: Option<f64>,
    /// FWHM of the main component, s (default 5 % of the period).
    #[serde(default)]
    pub width_s: Option<f64>,
    /// Shape of the main component.
    #[serde(default)]
    pub shape: Shape,
    /// Line-of-sight acceleration, m s⁻².
    #[serde(default)]
    pub accel: f64,
    /// Spectral index.
    #[serde(default)]
    pub spindex: f64,
    /// Phase at t = 0, turns (0–1).
    #[serde(default)]
    pub phase: f64,
    /// Scattering time at 1 GHz, s (0 = none).
    #[serde(default)]
    pub tau_1ghz_s: f64,
    /// Extra components.
    #[serde(default)]
    pub components: Vec<Component>,
    /// Keplerian binary orbit ([`super::orbit`]); `period_s` is then the spin period in the
    /// pulsar's frame.
    #[serde(default)]
    pub orbit: Option<Orbit>,
}

fn num(key: &str, v: &str, spec: &str) -> Result<f64, SimError> {
    let x: f64 = v.trim().parse().map_err(|_| SimError::Config(format!("'{key}={v}' in \"{spec}\": not a number")))?;
    if !x.is_finite() {
        return Err(SimError::Config(format!("'{key}={v}' in \"{spec}\": not finite")));
    }
    Ok(x)
}

/// Splits `"k=v,k=v"` into pairs.
pub(crate) fn split_spec(spec: &str) -> Result<Vec<(String, String)>, SimError> {
    spec.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) =
                p.split_once('=').ok_or_else(|| SimError::Config(format!("'{p}' in \"{spec}\" is not key=value")))?;
            Ok((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

impl PulsarSpec {
    /// Parses the command-line form, e.g. `"period=0.2531,dm=71,snr=20,width=0.01,accel=5"`.
    ///
    /// Keys: `period` (s, required), `dm` (pc cm⁻³, required), `snr` (expected folded S/N) or
    /// `flux` (mean flux density, mJy) — exactly one, `width` (FWHM s, default 5 % of the period),
    /// `shape` (`gauss`|`vonmises`|`tophat`), `accel` (m s⁻²), `spindex`, `phase` (0–1),
    /// `tau` (scattering time at 1 GHz, s), and `comp=OFFSET:FWHM_S:AMP[:SHAPE]` (repeatable extra
    /// component; OFFSET in turns). A binary orbit ([`Orbit`]): `pb` (orbital period; seconds, or
    /// with a unit `s`/`m`/`h`/`d`, e.g. `pb=2.5h`), `x` (projected semi-major axis, lt-s), `ecc`,
    /// `omega` (longitude of periastron, degrees) and `t0` (periastron time, s from the first
    /// sample); `pb` and `x` are required together.
    ///
    /// # Errors
    /// [`SimError::Config`] naming the spec and the offending key (unknown key, bad number,
    /// missing or out-of-range value).
    pub fn parse(spec: &str) -> Result<PulsarSpec, SimError> {
        let mut p = PulsarSpec {
            period_s: f64::NAN,
            dm: f64::NAN,
            snr: None,
            flux_mjy: None,
            width_s: None,
            shape: Shape::Gauss,
            accel: 0.0,
            spindex: 0.0,
            phase: 0.0,
            tau_1ghz_s: 0.0,
            components: vec![],
            orbit: None,
        };
        let mut orbit = Orbit { pb_s: f64::NAN, x_lts: f64::NAN, ecc: 0.0, omega_deg: 0.0, t0_s: 0.0 };
        let mut orbit_keys = false;
        for (k, v) in split_spec(spec)? {
            match k.as_str() {
                "period" => p.period_s = num(&k, &v, spec)?,
                "dm" => p.dm = num(&k, &v, spec)?,
                "snr" => p.snr = Some(num(&k, &v, spec)?),
                "flux" => p.flux_mjy = Some(num(&k, &v, spec)?),
                "width" => p.width_s = Some(num(&k, &v, spec)?),
                "shape" => p.shape = Shape::parse(&v)?,
                "accel" => p.accel = num(&k, &v, spec)?,
                "spindex" => p.spindex = num(&k, &v, spec)?,
                "phase" => p.phase = num(&k, &v, spec)?,
                "tau" => p.tau_1ghz_s = num(&k, &v, spec)?,
                "pb" => {
                    orbit.pb_s = super::orbit::parse_duration_s(&v)
                        .map_err(|e| SimError::Config(format!("'pb={v}' in \"{spec}\": {e}")))?;
                    orbit_keys = true;
                }
                "x" => {
                    orbit.x_lts = num(&k, &v, spec)?;
                    orbit_keys = true;
                }
                "ecc" => {
                    orbit.ecc = num(&k, &v, spec)?;
                    orbit_keys = true;
                }
                "omega" => {
                    orbit.omega_deg = num(&k, &v, spec)?;
                    orbit_keys = true;
                }
                "t0" => {
                    orbit.t0_s = super::orbit::parse_duration_s(&v)
                        .map_err(|e| SimError::Config(format!("'t0={v}' in \"{spec}\": {e}")))?;
                    orbit_keys = true;
                }
                "comp" => {
                    let f: Vec<&str> = v.split(':').collect();
                    if f.len() < 3 || f.len() > 4 {
                        return Err(SimError::Config(format!(
                            "'comp={v}' in \"{spec}\": expected OFFSET:FWHM_S:AMP[:SHAPE]"
                        )));
                    }
                    p.components.push(Component {
                        offset_phase: num("comp offset", f[0], spec)?,
                        fwhm_s: num("comp fwhm", f[1], spec)?,
                        amplitude: num("comp amplitude", f[2], spec)?,
                        shape: if f.len() == 4 { Shape::parse(f[3])? } else { Shape::Gauss },
                    });
                }
                _ => {
                    return Err(SimError::Config(format!(
                        "unknown key '{k}' in pulsar \"{spec}\" (known: period, dm, snr, flux, width, shape, accel, spindex, phase, tau, comp, pb, x, ecc, omega, t0)"
                    )))
                }
            }
        }
        if orbit_keys {
            if orbit.pb_s.is_nan() || orbit.x_lts.is_nan() {
                return Err(SimError::Config(format!(
                    "pulsar \"{spec}\": a binary orbit needs both pb= (orbital period) and x= (projected semi-major axis, lt-s)"
                )));
            }
            p.orbit = Some(orbit);
        }
        p.validate().map_err(|e| SimError::Config(format!("pulsar \"{spec}\": {e}")))?;
        Ok(p)
    }

    /// FWHM of the main component, s.
    pub fn width(&self) -> f64 {
        self.width_s.unwrap_or(0.05 * self.period_s)
    }

    /// Checks ranges; returns a message naming the bad value.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.period_s.is_finite() && self.period_s > 0.0) {
            return Err("period= (s, > 0) is required".into());
        }
        if !(self.dm.is_finite() && self.dm >= 0.0) {
            return Err("dm= (pc cm^-3, >= 0) is required".into());
        }
        match (self.snr, self.flux_mjy) {
            (Some(s), None) if s > 0.0 => {}
            (None, Some(f)) if f >= 0.0 => {}
            (Some(_), Some(_)) => return Err("give snr= or flux=, not both".into()),
            (None, None) => return Err("give snr= (expected folded S/N) or flux= (mean mJy)".into()),
            _ => return Err("snr must be > 0 and flux >= 0".into()),
        }
        let w = self.width();
        if !(w > 0.0 && w < self.period_s) {
            return Err(format!("width {w} s must be > 0 and < the period"));
        }
        if !(0.0..1.0).contains(&self.phase) {
            return Err("phase must be in [0, 1)".into());
        }
        if self.tau_1ghz_s < 0.0 {
            return Err("tau must be >= 0".into());
        }
        if self.accel.abs() > 1e6 {
            return Err("|accel| must be <= 1e6 m s^-2".into());
        }
        if let Some(o) = &self.orbit {
            o.validate()?;
        }
        for c in &self.components {
            if !(c.fwhm_s > 0.0 && c.fwhm_s < self.period_s && c.amplitude >= 0.0) {
                return Err("each comp needs 0 < FWHM < period and AMP >= 0".into());
            }
        }
        Ok(())
    }

    fn all_components(&self) -> Vec<Component> {
        let mut v = vec![Component { shape: self.shape, offset_phase: 0.0, fwhm_s: self.width(), amplitude: 1.0 }];
        v.extend(self.components.iter().cloned());
        v
    }
}

/// Unit-mean profile bin values of `comps` for a pulsar of period `period_s`, `n` bins.
fn profile_bins(comps: &[Component], period_s: f64, n: usize) -> Vec<f64> {
    const SUB: usize = 8;
    let wrap = |d: f64| (d + 0.5).rem_euclid(1.0) - 0.5;
    let mut p = vec![0.0; n];
    for c in comps {
        let w = c.fwhm_s / period_s;
        let sigma = w / (8.0 * std::f64::consts::LN_2).sqrt();
        let kappa = std::f64::consts::LN_2 / (1.0 - (std::f64::consts::PI * w).cos()).max(1e-300);
        for (k, pk) in p.iter_mut().enumerate() {
            let mut acc = 0.0;
            for m in 0..SUB {
                let x = (k as f64 + (m as f64 + 0.5) / SUB as f64) / n as f64;
                let d = wrap(x - c.offset_phase);
                acc += match c.shape {
                    Shape::Gauss => [d - 1.0, d, d + 1.0].iter().map(|&e| (-0.5 * (e / sigma).powi(2)).exp()).sum(),
                    Shape::VonMises => (kappa * ((2.0 * std::f64::consts::PI * d).cos() - 1.0)).exp(),
                    Shape::TopHat => (d.abs() < 0.5 * w) as u8 as f64,
                };
            }
            *pk += c.amplitude * acc / SUB as f64;
        }
    }
    let mean = p.iter().sum::<f64>() / n as f64;
    if mean > 0.0 {
        p.iter_mut().for_each(|v| *v /= mean);
    }
    p
}

/// A pulsar prepared for injection into one band: tables and per-channel constants.
#[derive(Debug, Clone)]
pub(crate) struct PulsarModel {
    pub spec: PulsarSpec,
    nu0: f64,
    /// `accel / c`, s⁻¹.
    a_c: f64,
    /// The orbit's emission-time map and `tₑ(0)`, when the pulsar is in a binary.
    orbit: Option<(EmissionTable, f64)>,
    /// Bound on `|d²ν/dt²|` (Hz s⁻²) used to widen the rate bounds of [`Self::on_ranges`].
    rate_curvature: f64,
    tsamp: f64,
    tables: Vec<ProfileTable>,
    /// Per channel: table index, delay of the channel's low edge (s), delay spread (s),
    /// spectral factor `(f/f_ref)^α`.
    table_of: Vec<usize>,
    d_hi: Vec<f64>,
    spread: Vec<f64>,
    d_centre: Vec<f64>,
    spec_factor: Vec<f64>,
    /// Mean flux at f_ref in σ units of one sample in one channel.
    amp_ref: f64,
    pub expected_snr: f64,
    /// The expected S/N before quantisation (`expected_snr` before [`Self::apply_quantisation`]).
    pub expected_snr_unquantised: f64,
    /// Expected fraction of all samples clamped because of this pulsar (beyond pure noise's).
    pub saturated_fraction: f64,
    pub mean_flux_mjy: f64,
    pub radiometer_snr: f64,
}

impl PulsarModel {
    /// Prepares `spec` for `band`; scales the amplitude to the target S/N or from the flux.
    pub(crate) fn new(spec: &PulsarSpec, band: &Band) -> Result<Self, SimError> {
        spec.validate().map_err(|e| SimError::Config(format!("pulsar: {e}")))?;
        let comps = spec.all_components();
        let min_w = comps.iter().map(|c| c.fwhm_s).fold(f64::INFINITY, f64::min) / spec.period_s;
        let scattered = spec.tau_1ghz_s > 0.0;
        let n = table_size(min_w, 1024, if scattered { 1 << 16 } else { 1 << 18 });
        let base = profile_bins(&comps, spec.period_s, n);
        let nchans = band.freqs.len();
        let ngroups = if scattered { nchans.min(16) } else { 1 };
        let group_of = |c: usize| c * ngroups / nchans;
        let tables: Vec<ProfileTable> = (0..ngroups)
            .map(|g| {
                if !scattered {
                    return ProfileTable::new(base.clone(), true);
                }
                let c0 = (g * nchans).div_ceil(ngroups);
                let c1 = ((g + 1) * nchans).div_ceil(ngroups).max(c0 + 1);
                let fmid = band.freqs[(c0 + c1 - 1) / 2];
                let tau = spec.tau_1ghz_s * (fmid / 1000.0).powf(-4.4);
                ProfileTable::new(scatter_periodic(&base, tau / spec.period_s * n as f64), true)
            })
            .collect();
        let half = 0.5 * band.chan_bw_mhz;
        let delay = |f: f64| K_DM * spec.dm * (1.0 / (f * f) - 1.0 / (band.ftop_mhz * band.ftop_mhz));
        let d_hi: Vec<f64> = band.freqs.iter().map(|&f| delay(f - half)).collect();
        let d_lo: Vec<f64> = band.freqs.iter().map(|&f| delay(f + half)).collect();
        let spread = d_hi.iter().zip(&d_lo).map(|(h, l)| h - l).collect();
        let d_centre = band.freqs.iter().map(|&f| delay(f)).collect();
        let spec_factor = band.freqs.iter().map(|&f| (f / band.spectral_ref_mhz).powf(spec.spindex)).collect();
        let max_delay = d_hi.iter().cloned().fold(0.0, f64::max);
        let orbit = spec.orbit.map(|o| {
            let table = EmissionTable::new(o, -max_delay - 1.0, band.duration_s + 1.0);
            let te0 = table.at(0.0).0;
            (table, te0)
        });
        // ν = ν0 (1 − a_c τ) τ', τ = tₑ − tₑ(0). Each time derivative of the Roemer delay brings a
        // factor dE/dt ≤ n / (1 − e), so |d³tₑ/dt³| ≲ x n³ / (1 − e)⁵ up to an O(1) factor (taken
        // as 20, with 2 for the slope's (1 ± β)⁻¹ factors); constant acceleration adds a_c |τ''|.
        let rate_curvature = spec.orbit.map_or(0.0, |o| {
            let n = o.mean_motion();
            40.0 * o.x_lts * n.powi(3) / (1.0 - o.ecc).powi(5) * (1.0 + spec.accel.abs() / SPEED_OF_LIGHT_M_S)
                + 40.0 * spec.accel.abs() / SPEED_OF_LIGHT_M_S * o.x_lts * n * n / (1.0 - o.ecc).powi(3)
        }) / spec.period_s;
        let mut m = PulsarModel {
            spec: spec.clone(),
            nu0: 1.0 / spec.period_s,
            a_c: spec.accel / SPEED_OF_LIGHT_M_S,
            orbit,
            rate_curvature,
            tsamp: band.tsamp_s,
            tables,
            table_of: (0..nchans).map(group_of).collect(),
            d_hi,
            spread,
            d_centre,
            spec_factor,
            amp_ref: 1.0,
            expected_snr: 0.0,
            expected_snr_unquantised: 0.0,
            saturated_fraction: 0.0,
            mean_flux_mjy: 0.0,
            radiometer_snr: 0.0,
        };
        let snr_unit = m.folded_snr(band); // S/N for amp_ref = 1 (mean flux = 1 σ_S)
        let (amp, flux) = match (spec.snr, spec.flux_mjy) {
            (Some(s), _) => {
                if !(snr_unit > 0.0) {
                    return Err(SimError::Config(format!(
                        "pulsar period={} dm={}: the profile is smeared flat, no S/N can be reached",
                        spec.period_s, spec.dm
                    )));
                }
                let a = s / snr_unit;
                (a, a * band.sigma_mjy)
            }
            (None, Some(f)) => (f / band.sigma_mjy, f),
            _ => unreachable!("validated"),
        };
        m.amp_ref = amp;
        m.expected_snr = amp * snr_unit;
        m.expected_snr_unquantised = m.expected_snr;
        m.mean_flux_mjy = flux;
        // L&K 2005 eq. A1.21 for a top hat of width W = main FWHM.
        let w = spec.width();
        let p = spec.period_s;
        m.radiometer_snr = flux * 1e-3 * band.gain_k_per_jy * (band.npol * band.duration_s * band.bandwidth_hz).sqrt()
            / band.tsys_k
            * ((p - w) / w).sqrt();
        Ok(m)
    }

    /// Pulse phase (turns) at time `t` (s, referred to f_top) and the phase rate (Hz).
    #[inline]
    pub(crate) fn phase_and_rate(&self, t: f64) -> (f64, f64) {
        let a_c = self.a_c;
        let (tau, slope) = match &self.orbit {
            Some((table, te0)) => {
                let (te, s) = table.at(t);
                (te - te0, s)
            }
            None => (t, 1.0),
        };
        (self.spec.phase + self.nu0 * (tau - 0.5 * a_c * tau * tau), self.nu0 * (1.0 - a_c * tau) * slope)
    }

    /// Bounds `(ν_min, ν_max)` of the phase rate over arrival times `[ta, tb]`.
    ///
    /// Without an orbit the rate is linear in time and its ends bound it. With one, the rate is
    /// sampled at 9 points and the bounds widened by `max|ν''| h² / 8` (`h` the sampling step), the
    /// largest amount a function of bounded second derivative can leave the piecewise-linear
    /// interpolation of its samples.
    fn rate_bounds(&self, ta: f64, tb: f64) -> (f64, f64) {
        let (_, nua) = self.phase_and_rate(ta);
        let (_, nub) = self.phase_and_rate(tb);
        let (mut lo, mut hi) = (nua.min(nub), nua.max(nub));
        if self.orbit.is_some() {
            const K: usize = 8;
            for k in 1..K {
                let (_, nu) = self.phase_and_rate(ta + (tb - ta) * k as f64 / K as f64);
                lo = lo.min(nu);
                hi = hi.max(nu);
            }
            let h = (tb - ta) / K as f64;
            let slack = self.rate_curvature * h * h / 8.0 + 1e-12 * hi;
            lo -= slack;
            hi += slack;
        }
        (lo, hi)
    }

    /// Adds this pulsar (σ units) to `out`, samples `j0 ..` of channel `c`.
    ///
    /// Only the samples whose integration window can reach the profile's support
    /// ([`ProfileTable::support`]) are evaluated ([`Self::on_ranges`]); the others would add
    /// exactly zero. The value of an evaluated sample does not depend on `j0` or `out.len()`.
    pub(crate) fn add_to_channel(&self, c: usize, j0: u64, out: &mut [f32]) {
        let table = &self.tables[self.table_of[c]];
        let amp = self.amp_ref * self.spec_factor[c];
        let (dh, sp, t) = (self.d_hi[c], self.spread[c], self.tsamp);
        self.on_ranges(c, j0, out.len(), |lo, hi| {
            for (i, v) in out[lo..hi].iter_mut().enumerate() {
                let ta = (j0 + (lo + i) as u64) as f64 * t - dh;
                let (x, nu) = self.phase_and_rate(ta);
                let val = table.box_trapezoid(x - floor_f64(x), nu * t, nu * sp);
                *v += (amp * val) as f32;
            }
        });
    }

    /// Calls `f(lo, hi)` for disjoint increasing index ranges of samples `j0 .. j0 + len` of
    /// channel `c` that cover every sample whose window can overlap the pulse's support.
    ///
    /// Sample `j` of channel `c` integrates phases `[x_j, x_j + w_j]`, `x_j = φ(j·T − d_hi)`,
    /// `w_j = ν_j (T + s_c)`. Across the block the phase rate `ν` lies within
    /// [`Self::rate_bounds`] (its two ends when it is linear in time), so `x_0 + ν_min·i·T ≤ x_i ≤ x_0 + ν_max·i·T`; with the
    /// support `[k + σ0, k + σ0 + σL]` of pulse `k` this bounds the samples that may overlap it.
    /// Two samples and a relative 1e-12 of the phase are added on each side against rounding.
    /// Falls back to the whole block when the shape has no gap, the window reaches a full turn
    /// or the phase rate is not positive.
    fn on_ranges(&self, c: usize, j0: u64, len: usize, mut f: impl FnMut(usize, usize)) {
        if len == 0 {
            return;
        }
        let table = &self.tables[self.table_of[c]];
        let (on_start, on_len) = table.support();
        let (dh, sp, t) = (self.d_hi[c], self.spread[c], self.tsamp);
        let (ta, tb) = (j0 as f64 * t - dh, (j0 + len as u64 - 1) as f64 * t - dh);
        let (xa, _) = self.phase_and_rate(ta);
        let (xb, _) = self.phase_and_rate(tb);
        let (nu_min, nu_max) = self.rate_bounds(ta, tb);
        let w_max = nu_max * (t + sp);
        if !(on_len < 1.0 && w_max < 1.0 && nu_min > 0.0 && xa.is_finite() && xb.is_finite()) {
            f(0, len);
            return;
        }
        let eps = 1e-12 * (xa.abs() + xb.abs() + 1.0);
        let (step_min, step_max) = (nu_min * t, nu_max * t);
        let mut done = 0usize;
        let mut k = (xa - on_start - on_len).floor() - 1.0;
        loop {
            // Phase (relative to x_0) where the windows start to reach pulse k, and past which
            // they have left it.
            let a = k + on_start - w_max - xa - eps;
            let b = k + on_start + on_len - xa + eps;
            if a > xb - xa + eps {
                break;
            }
            let lo = ((a / step_max).floor() - 2.0).max(0.0);
            let hi = ((b / step_min).ceil() + 3.0).max(0.0);
            let lo = (lo.min(len as f64) as usize).max(done);
            let hi = hi.min(len as f64) as usize;
            if hi > lo {
                f(lo, hi);
                done = hi;
            }
            if done >= len {
                break;
            }
            k += 1.0;
        }
    }

    /// Expected folded S/N for `amp_ref = 1` (definition in [`crate::io::truth`]), averaged over
    /// four phase offsets of the bin grid.
    fn folded_snr(&self, band: &Band) -> f64 {
        let (fine, _) = self.fine_profile(band, &|_, v| (v, 0.0));
        self.snr_of_fine(band, &fine)
    }

    /// The channel-summed profile on [`EXPECTED_SNR_NBINS`]` × 16` fine phase points, each
    /// channel's value mapped by `map(c, s)` where `s` is the signal one sample of channel `c`
    /// holds at that phase for `amp_ref = 1` (after sample integration, smearing and scattering);
    /// `map` returns `(value, extra)` and the `extra`s are summed over channels and points.
    fn fine_profile(&self, band: &Band, map: &(dyn Fn(usize, f64) -> (f64, f64) + Sync)) -> (Vec<f64>, f64) {
        const M: usize = 16;
        let nfine = EXPECTED_SNR_NBINS * M;
        let nchans = band.freqs.len();
        let a = self.nu0 * self.tsamp;
        let block = 64;
        let partial: Vec<(Vec<f64>, f64)> = (0..nchans.div_ceil(block))
            .into_par_iter()
            .map(|b| {
                let mut acc = vec![0.0; nfine];
                let mut extra = 0.0;
                for c in b * block..((b + 1) * block).min(nchans) {
                    let table = &self.tables[self.table_of[c]];
                    let shift = self.nu0 * (self.d_hi[c] - self.d_centre[c]);
                    for (i, v) in acc.iter_mut().enumerate() {
                        let x = ((i as f64 + 0.5) / nfine as f64 - shift).rem_euclid(1.0);
                        let (val, e) =
                            map(c, self.spec_factor[c] * table.box_trapezoid(x, a, self.nu0 * self.spread[c]));
                        *v += val;
                        extra += e;
                    }
                }
                (acc, extra)
            })
            .collect();
        let mut fine = vec![0.0; nfine];
        let mut extra = 0.0;
        for (p, e) in &partial {
            fine.iter_mut().zip(p).for_each(|(f, v)| *f += v);
            extra += e;
        }
        (fine, extra)
    }

    /// The S/N of a fine profile from [`Self::fine_profile`] (best boxcar of
    /// [`EXPECTED_SNR_NBINS`] bins, averaged over four phase offsets of the bin grid).
    fn snr_of_fine(&self, band: &Band, fine: &[f64]) -> f64 {
        const M: usize = 16;
        let nb = EXPECTED_SNR_NBINS;
        let nfine = fine.len();
        let nchans = band.freqs.len();
        let norm = (band.nsamples as f64 / (nb as f64 * nchans as f64)).sqrt();
        let mut total = 0.0;
        for o in 0..4 {
            let off = o * M / 4;
            let bins: Vec<f64> =
                (0..nb).map(|b| (0..M).map(|m| fine[(b * M + off + m) % nfine]).sum::<f64>() / M as f64).collect();
            total += best_boxcar_profile(&bins);
        }
        norm * total / 4.0
    }

    /// Makes `expected_snr` account for quantisation and clipping, and measures how much of the
    /// data this pulsar saturates (`saturated_fraction`), before any data are made.
    ///
    /// `resp[c]` is channel `c`'s quantiser response ([`crate::sim::noise::QuantiserResponse`]).
    /// Every sample's noiseless signal `s` (the fine profile of [`Self::fine_profile`], at the
    /// final amplitude) is replaced by its mean stored response `R_c(s)` in units of the stored
    /// noise σ, and the folded S/N is measured as before; `saturated_fraction` is the mean over
    /// channels and phase of `P_c(clamped | s) − P_c(clamped | 0)`. The pulse phase sweeps
    /// uniformly through the fine points over the observation, so both are time averages.
    pub(crate) fn apply_quantisation(&mut self, band: &Band, resp: &[crate::sim::noise::QuantiserResponse]) {
        let amp = self.amp_ref;
        // Fast path: one response for every channel (no bandpass), linear over every signal the
        // pulsar reaches (the largest is at most amp · max spectral factor · profile peak): the
        // result is then η times the unquantised S/N, with nothing saturated (to 1e-9).
        let peak = self.tables.iter().map(|t| t.peak()).fold(0.0, f64::max);
        let s_max = amp.abs() * self.spec_factor.iter().copied().fold(0.0, f64::max) * peak * (1.0 + 1e-9);
        let eta = resp.first().map(|r| r.efficiency()).unwrap_or(1.0);
        if resp.iter().all(|r| r.is_linear_up_to(s_max) && r.efficiency() == eta) {
            self.expected_snr = eta * self.expected_snr_unquantised;
            self.saturated_fraction = 0.0;
            return;
        }
        let map = |c: usize, v: f64| {
            if v == 0.0 {
                return (0.0, 0.0);
            }
            let s = amp * v;
            let r = &resp[c];
            (r.signal(s), r.clip_probability(s) - r.noise_clip_probability())
        };
        let (fine, extra) = self.fine_profile(band, &map);
        self.expected_snr = self.snr_of_fine(band, &fine);
        self.saturated_fraction = (extra / (fine.len() * band.freqs.len()) as f64).max(0.0);
    }

    /// Time (s, top channel) of the first main-component peak at or after t = 0: the first root
    /// of `φ(t) = ⌈φ(0)⌉` (Newton's method from the constant-rate guess).
    fn first_peak_s(&self) -> f64 {
        let (x0, nu0) = self.phase_and_rate(0.0);
        let target = x0.ceil();
        let mut t = (target - x0) / nu0;
        for _ in 0..20 {
            let (x, nu) = self.phase_and_rate(t);
            let dt = (target - x) / nu;
            t += dt;
            if dt.abs() < 1e-13 {
                break;
            }
        }
        t
    }

    /// Least-squares fit of the apparent spin frequency over the observation,
    /// `ν(t) ≈ f + ḟ (t − T/2) + f̈ (t − T/2)² / 2`, from 257 evenly spaced samples of the exact
    /// rate; returns `(f, ḟ, f̈)` (Hz, Hz s⁻¹, Hz s⁻²). PRESTO's drifts are `z = ḟ T²` and
    /// `w = f̈ T³` (Ransom et al. 2002; Andersen & Ransom 2018).
    fn drift(&self, duration_s: f64) -> (f64, f64, f64) {
        const N: usize = 257;
        let half = 0.5 * duration_s;
        // Normal equations of the fit in u = (t − T/2) / (T/2) ∈ [−1, 1], for conditioning.
        let mut ata = [[0.0f64; 3]; 3];
        let mut aty = [0.0f64; 3];
        for k in 0..N {
            let u = -1.0 + 2.0 * k as f64 / (N - 1) as f64;
            let (_, nu) = self.phase_and_rate(half * (1.0 + u));
            let row = [1.0, u, 0.5 * u * u];
            for i in 0..3 {
                aty[i] += row[i] * nu;
                for j in 0..3 {
                    ata[i][j] += row[i] * row[j];
                }
            }
        }
        let c = solve3(ata, aty);
        if half > 0.0 {
            (c[0], c[1] / half, c[2] / (half * half))
        } else {
            (c[0], 0.0, 0.0)
        }
    }

    /// The truth record.
    pub(crate) fn truth(&self, band: &Band) -> PulsarTruth {
        let s = &self.spec;
        let (_, nu_mid) = self.phase_and_rate(0.5 * band.duration_s);
        let drift = self.drift(band.duration_s);
        PulsarTruth {
            period_s: s.period_s,
            period_mid_s: 1.0 / nu_mid,
            frequency_hz: self.nu0,
            dm: s.dm,
            accel: s.accel,
            phase: s.phase,
            first_peak_s: self.first_peak_s(),
            orbit: s.orbit,
            f_mid_hz: drift.0,
            fdot_hz_s: drift.1,
            fddot_hz_s2: drift.2,
            z: drift.1 * band.duration_s.powi(2),
            w: drift.2 * band.duration_s.powi(3),
            accel_mean: -SPEED_OF_LIGHT_M_S * drift.1 / drift.0,
            jerk_mean: -SPEED_OF_LIGHT_M_S * drift.2 / drift.0,
            spindex: s.spindex,
            spectral_ref_mhz: band.spectral_ref_mhz,
            tau_1ghz_s: s.tau_1ghz_s,
            components: s
                .all_components()
                .iter()
                .map(|c| ComponentTruth {
                    shape: c.shape.name().into(),
                    offset_phase: c.offset_phase,
                    fwhm_s: c.fwhm_s,
                    amplitude: c.amplitude,
                })
                .collect(),
            mean_flux_mjy: self.mean_flux_mjy,
            requested_snr: s.snr,
            expected_snr: self.expected_snr,
            expected_snr_unquantised: self.expected_snr_unquantised,
            saturated_fraction: self.saturated_fraction,
            snr_nbins: EXPECTED_SNR_NBINS,
            radiometer_snr: self.radiometer_snr,
        }
    }
}

/// Solves the 3×3 system `a x = b` by Gaussian elimination with partial pivoting (singular
/// systems give non-finite values).
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> [f64; 3] {
    for col in 0..3 {
        let p = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs())).unwrap_or(col);
        a.swap(col, p);
        b.swap(col, p);
        for r in col + 1..3 {
            let f = a[r][col] / a[col][col];
            for k in col..3 {
                a[r][k] -= f * a[col][k];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = [0.0; 3];
    for r in (0..3).rev() {
        let s: f64 = (r + 1..3).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    x
}

/// Best cyclic boxcar `Σ_on (p_i − p̄_off) / sqrt(n_on)` of a profile, widths 1 .. n/2.
pub(crate) fn best_boxcar_profile(p: &[f64]) -> f64 {
    let n = p.len();
    let total: f64 = p.iter().sum();
    let mut best = f64::NEG_INFINITY;
    for w in 1..=n / 2 {
        for s in 0..n {
            let on: f64 = (0..w).map(|k| p[(s + k) % n]).sum();
            let off_mean = (total - on) / (n - w) as f64;
            let snr = (on - w as f64 * off_mean) / (w as f64).sqrt();
            if snr > best {
                best = snr;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keys_and_errors() {
        let p = PulsarSpec::parse(
            "period=0.2531,dm=71,snr=20,width=0.01,accel=5,spindex=-1.4,phase=0.25,comp=0.3:0.005:0.5:vonmises",
        )
        .unwrap();
        assert_eq!(p.period_s, 0.2531);
        assert_eq!(p.width(), 0.01);
        assert_eq!(p.components.len(), 1);
        assert_eq!(p.components[0].shape, Shape::VonMises);
        assert!((PulsarSpec::parse("period=0.5,dm=10,flux=0.1").unwrap().width() - 0.025).abs() < 1e-15);
        let e = PulsarSpec::parse("period=0.5,dm=10,snr=5,colour=red").unwrap_err().to_string();
        assert!(e.contains("unknown key 'colour'"), "{e}");
        assert!(PulsarSpec::parse("period=0.5,dm=10").is_err());
        assert!(PulsarSpec::parse("period=0.5,dm=10,snr=5,flux=1").is_err());
        assert!(PulsarSpec::parse("period=abc,dm=10,snr=5").is_err());
    }

    /// Naive twin of `add_to_channel`: every sample evaluated, no on-pulse windowing.
    fn add_to_channel_naive(m: &PulsarModel, c: usize, j0: u64, out: &mut [f32]) {
        let table = &m.tables[m.table_of[c]];
        let amp = m.amp_ref * m.spec_factor[c];
        for (i, v) in out.iter_mut().enumerate() {
            let ta = (j0 + i as u64) as f64 * m.tsamp - m.d_hi[c];
            let (x, nu) = m.phase_and_rate(ta);
            *v += (amp * table.box_trapezoid(x - x.floor(), nu * m.tsamp, nu * m.spread[c])) as f32;
        }
    }

    /// The windowed injection equals the naive one bit for bit (pulse shapes with narrow and
    /// wide support, acceleration, scattering, several pulses per block, odd block lengths),
    /// and the window skips most samples of a narrow pulse.
    #[test]
    fn on_pulse_window_matches_naive_injection() {
        let specs = [
            ("fast-l-band", "period=0.2531,dm=71,snr=20"),
            ("fast-l-band", "period=0.005,dm=20,snr=30,accel=20000"),
            ("fast-l-band", "period=0.0031,dm=300,snr=25,shape=tophat,width=0.0002,accel=-3000"),
            ("fast-l-band-lite", "period=0.05,dm=300,snr=30,tau=0.002"),
            ("fast-l-band-lite", "period=0.7,dm=1500,snr=20,width=0.01,comp=0.3:0.005:0.5:vonmises"),
            ("fast-l-band", "period=0.0047,dm=30,snr=20,pb=2h,x=1.2,t0=1000"),
            ("fast-l-band", "period=0.003,dm=50,snr=30,pb=1200,x=0.05,ecc=0.85,omega=200,t0=10"),
            ("fast-l-band", "period=0.011,dm=90,snr=30,pb=20m,x=0.1,ecc=0.3,t0=-300,accel=50"),
        ];
        let (mut evaluated, mut total) = (0usize, 0usize);
        for (preset, spec) in specs {
            let cfg = super::super::SimConfig {
                preset: preset.into(),
                duration_s: 30.0,
                nchans: Some(64),
                pulsars: vec![PulsarSpec::parse(spec).unwrap()],
                ..Default::default()
            };
            let obs = super::super::SimulatedObservation::new(&cfg).unwrap();
            let m = &obs.pulsars[0];
            for c in [0usize, 17, 40, 63] {
                for (j0, len) in [(0u64, 2048usize), (2048, 2048), (61_000, 1999), (300_000, 777), (7, 1)] {
                    let mut fast = vec![0f32; len];
                    let mut naive = vec![0f32; len];
                    m.add_to_channel(c, j0, &mut fast);
                    add_to_channel_naive(m, c, j0, &mut naive);
                    let bad = fast.iter().zip(&naive).position(|(a, b)| a.to_bits() != b.to_bits());
                    assert!(bad.is_none(), "{spec} chan {c} j0 {j0}: sample {bad:?} differs");
                    if spec.starts_with("period=0.2531") {
                        m.on_ranges(c, j0, len, |lo, hi| evaluated += hi - lo);
                        total += len;
                    }
                }
            }
        }
        eprintln!("on-pulse window: evaluated {evaluated} of {total} samples");
        // Gaussian FWHM 5 %: support (1e-12 of the peak) is about 32 % of a period.
        assert!((evaluated as f64) < 0.6 * total as f64, "evaluated {evaluated} of {total}");
    }

    /// Circular orbit, ω = 0: `Δ_R = x sin E`, `E = n (tₑ − t₀)`. Where `E = π/2` the
    /// line-of-sight speed is 0 and `Δ_R'' = −x n²`, so `ḟ = −ν Δ_R''` and the mean acceleration is
    /// `−c x n²`; where `E = 0`, `Δ_R''' = −x n³` and the jerk is `−c x n³`. The observation (30 s)
    /// is 0.4 % of the orbit, so the fit over it differs from these point values by O((nT)²) ≈
    /// 7e-4 relative; 1 % is asserted.
    #[test]
    fn truth_drift_matches_circular_orbit_derivatives() {
        let (pb, x, p, t_obs) = (7200.0, 1.5, 0.004, 30.0);
        let n = 2.0 * std::f64::consts::PI / pb;
        for (t0, quantity) in [(15.0 - pb / 4.0, "accel"), (15.0, "jerk")] {
            let spec = format!("period={p},dm=10,snr=20,pb={pb},x={x},t0={t0}");
            let cfg = super::super::SimConfig {
                preset: "fast-l-band-lite".into(),
                duration_s: t_obs,
                nchans: Some(16),
                pulsars: vec![PulsarSpec::parse(&spec).unwrap()],
                ..Default::default()
            };
            let obs = super::super::SimulatedObservation::new(&cfg).unwrap();
            let tr = obs.pulsars[0].truth(&obs.band);
            let t_obs = obs.band.duration_s;
            let c = SPEED_OF_LIGHT_M_S;
            if quantity == "accel" {
                let want = -c * x * n * n;
                assert!((tr.accel_mean - want).abs() < 0.01 * want.abs(), "accel {} vs {want}", tr.accel_mean);
                assert!((tr.z - tr.fdot_hz_s * t_obs * t_obs).abs() <= 1e-12 * tr.z.abs());
                // z = ḟ T² with ḟ = −a f / c.
                let z_want = -want / c * (1.0 / p) * t_obs * t_obs;
                assert!((tr.z - z_want).abs() < 0.01 * z_want.abs(), "z {} vs {z_want}", tr.z);
            } else {
                let want = -c * x * n.powi(3);
                assert!((tr.jerk_mean - want).abs() < 0.01 * want.abs(), "jerk {} vs {want}", tr.jerk_mean);
                assert!(tr.accel_mean.abs() < 0.01 * c * x * n * n, "accel at E = 0: {}", tr.accel_mean);
            }
            assert_eq!(tr.orbit, PulsarSpec::parse(&spec).unwrap().orbit);
            // The first peak is where the phase reaches the next integer.
            let (x_peak, _) = obs.pulsars[0].phase_and_rate(tr.first_peak_s);
            assert!((x_peak - x_peak.round()).abs() < 1e-9 && tr.first_peak_s >= 0.0);
        }
    }

    #[test]
    fn orbit_keys_parse_and_are_checked() {
        let p = PulsarSpec::parse("period=0.005,dm=10,snr=10,pb=2.5h,x=1.1,ecc=0.1,omega=30,t0=-60").unwrap();
        let o = p.orbit.unwrap();
        assert_eq!((o.pb_s, o.x_lts, o.ecc, o.omega_deg, o.t0_s), (9000.0, 1.1, 0.1, 30.0, -60.0));
        let e = PulsarSpec::parse("period=0.005,dm=10,snr=10,pb=2h").unwrap_err().to_string();
        assert!(e.contains("x="), "{e}");
        let e = PulsarSpec::parse("period=0.005,dm=10,snr=10,pb=2h,x=1,ecc=1.2").unwrap_err().to_string();
        assert!(e.contains("ecc"), "{e}");
    }

    #[test]
    fn profile_has_unit_mean_and_right_fwhm() {
        let comps = [Component { shape: Shape::Gauss, offset_phase: 0.0, fwhm_s: 0.1, amplitude: 1.0 }];
        let p = profile_bins(&comps, 1.0, 4096);
        let mean = p.iter().sum::<f64>() / 4096.0;
        assert!((mean - 1.0).abs() < 1e-12);
        let peak = p[0].max(p[4095]);
        let above = p.iter().filter(|&&v| v >= 0.5 * peak).count() as f64 / 4096.0;
        assert!((above - 0.1).abs() < 0.002, "{above}");
    }
}
