//! Single dispersed pulses (FRB-like bursts).
//!
//! A burst is a Gaussian of full width at half maximum `width_s` whose centre reaches the top
//! channel centre `f_top` at `time_s` (seconds from the start of the first sample), dispersed with
//! `d(f) = K_DM · DM · (f⁻² − f_top⁻²)`, optionally scattered (`τ(f) = τ_1GHz (f/1 GHz)^−4.4`,
//! one-sided exponential), with fluence `F(f) = F_ref (f / f_ref)^α` (Jy ms, `f_ref` the band
//! centre). Each sample is the exact average over the sample and the channel (see
//! [`super::profile`]).
//!
//! Expected S/N (definition in [`crate::io::truth`]): noiseless channel sum after shifting each
//! channel by its delay rounded to the nearest sample, best boxcar of any width.
use super::profile::{scatter_aperiodic, table_size, ProfileTable};
use super::pulsar::split_spec;
use super::{Band, SimError};
use crate::consts::K_DM;
use crate::io::truth::BurstTruth;
use serde::{Deserialize, Serialize};

/// A burst to inject. Give exactly one of `snr` and `fluence_jy_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurstSpec {
    /// Arrival time of the centre at f_top, s from the first sample.
    pub time_s: f64,
    /// DM, pc cm⁻³.
    pub dm: f64,
    /// Intrinsic FWHM, s (default 1 ms).
    #[serde(default)]
    pub width_s: Option<f64>,
    /// Target expected dedispersed boxcar S/N.
    #[serde(default)]
    pub snr: Option<f64>,
    /// Fluence at the band centre, Jy ms.
    #[serde(default)]
    pub fluence_jy_ms: Option<f64>,
    /// Spectral index.
    #[serde(default)]
    pub spindex: f64,
    /// Scattering time at 1 GHz, s.
    #[serde(default)]
    pub tau_1ghz_s: f64,
}

impl BurstSpec {
    /// Parses `"time=2.0,dm=500,snr=12,width=0.002"`. Keys: `time` (s, required), `dm` (required),
    /// `snr` or `fluence` (Jy ms) — exactly one, `width` (FWHM s, default 0.001), `spindex`, `tau`
    /// (s at 1 GHz).
    ///
    /// # Errors
    /// [`SimError::Config`] naming the spec and the bad key or value.
    pub fn parse(spec: &str) -> Result<BurstSpec, SimError> {
        let mut b = BurstSpec {
            time_s: f64::NAN,
            dm: f64::NAN,
            width_s: None,
            snr: None,
            fluence_jy_ms: None,
            spindex: 0.0,
            tau_1ghz_s: 0.0,
        };
        for (k, v) in split_spec(spec)? {
            let x: f64 = v
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite())
                .ok_or_else(|| SimError::Config(format!("'{k}={v}' in burst \"{spec}\": not a finite number")))?;
            match k.as_str() {
                "time" => b.time_s = x,
                "dm" => b.dm = x,
                "width" => b.width_s = Some(x),
                "snr" => b.snr = Some(x),
                "fluence" => b.fluence_jy_ms = Some(x),
                "spindex" => b.spindex = x,
                "tau" => b.tau_1ghz_s = x,
                _ => {
                    return Err(SimError::Config(format!(
                        "unknown key '{k}' in burst \"{spec}\" (known: time, dm, snr, fluence, width, spindex, tau)"
                    )))
                }
            }
        }
        b.validate().map_err(|e| SimError::Config(format!("burst \"{spec}\": {e}")))?;
        Ok(b)
    }

    /// FWHM, s.
    pub fn width(&self) -> f64 {
        self.width_s.unwrap_or(1e-3)
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), String> {
        if !self.time_s.is_finite() {
            return Err("time= (s) is required".into());
        }
        if !(self.dm.is_finite() && self.dm >= 0.0) {
            return Err("dm= (>= 0) is required".into());
        }
        if !(self.width() > 0.0) {
            return Err("width must be > 0".into());
        }
        if self.tau_1ghz_s < 0.0 {
            return Err("tau must be >= 0".into());
        }
        match (self.snr, self.fluence_jy_ms) {
            (Some(s), None) if s > 0.0 => Ok(()),
            (None, Some(f)) if f >= 0.0 => Ok(()),
            (Some(_), Some(_)) => Err("give snr= or fluence=, not both".into()),
            (None, None) => Err("give snr= or fluence= (Jy ms)".into()),
            _ => Err("snr must be > 0 and fluence >= 0".into()),
        }
    }
}

/// A burst prepared for one band.
#[derive(Debug, Clone)]
pub(crate) struct BurstModel {
    pub spec: BurstSpec,
    tsamp: f64,
    /// Window start (s, emission time referred to f_top) and length (s).
    w0: f64,
    wlen: f64,
    tables: Vec<ProfileTable>,
    table_of: Vec<usize>,
    d_hi: Vec<f64>,
    d_centre: Vec<f64>,
    spread: Vec<f64>,
    spec_factor: Vec<f64>,
    /// Fluence at f_ref in σ·s units.
    amp_ref: f64,
    pub expected_snr: f64,
    /// The expected S/N before quantisation.
    pub expected_snr_unquantised: f64,
    pub expected_width: usize,
    pub expected_start: u64,
    pub fluence_jy_ms: f64,
}

impl BurstModel {
    pub(crate) fn new(spec: &BurstSpec, band: &Band) -> Result<Self, SimError> {
        spec.validate().map_err(|e| SimError::Config(format!("burst: {e}")))?;
        let w = spec.width();
        let nchans = band.freqs.len();
        let fmin = band.freqs.iter().cloned().fold(f64::INFINITY, f64::min) - 0.5 * band.chan_bw_mhz;
        let tau_max = spec.tau_1ghz_s * (fmin / 1000.0).powf(-4.4);
        let w0 = spec.time_s - 3.0 * w;
        let wlen = 6.0 * w + 12.0 * tau_max;
        let scattered = spec.tau_1ghz_s > 0.0;
        let n = table_size(w / wlen, 256, if scattered { 1 << 16 } else { 1 << 18 });
        let sigma = w / (8.0 * std::f64::consts::LN_2).sqrt() / wlen;
        let c = (spec.time_s - w0) / wlen;
        let mut base: Vec<f64> = (0..n)
            .map(|k| {
                (0..8)
                    .map(|m| {
                        let x = (k as f64 + (m as f64 + 0.5) / 8.0) / n as f64;
                        (-0.5 * ((x - c) / sigma).powi(2)).exp()
                    })
                    .sum::<f64>()
            })
            .collect();
        let s: f64 = base.iter().sum::<f64>() / n as f64;
        base.iter_mut().for_each(|v| *v /= s);
        let ngroups = if scattered { nchans.min(16) } else { 1 };
        let tables = (0..ngroups)
            .map(|g| {
                if !scattered {
                    return ProfileTable::new(base.clone(), false);
                }
                let c0 = (g * nchans).div_ceil(ngroups);
                let c1 = ((g + 1) * nchans).div_ceil(ngroups).max(c0 + 1);
                let tau = spec.tau_1ghz_s * (band.freqs[(c0 + c1 - 1) / 2] / 1000.0).powf(-4.4);
                ProfileTable::new(scatter_aperiodic(&base, tau / wlen * n as f64), false)
            })
            .collect();
        let half = 0.5 * band.chan_bw_mhz;
        let delay = |f: f64| K_DM * spec.dm * (1.0 / (f * f) - 1.0 / (band.ftop_mhz * band.ftop_mhz));
        let d_hi: Vec<f64> = band.freqs.iter().map(|&f| delay(f - half)).collect();
        let spread = band.freqs.iter().zip(&d_hi).map(|(&f, h)| h - delay(f + half)).collect();
        let mut m = BurstModel {
            spec: spec.clone(),
            tsamp: band.tsamp_s,
            w0,
            wlen,
            tables,
            table_of: (0..nchans).map(|c| c * ngroups / nchans).collect(),
            d_hi,
            d_centre: band.freqs.iter().map(|&f| delay(f)).collect(),
            spread,
            spec_factor: band.freqs.iter().map(|&f| (f / band.spectral_ref_mhz).powf(spec.spindex)).collect(),
            amp_ref: 1.0,
            expected_snr: 0.0,
            expected_snr_unquantised: 0.0,
            expected_width: 1,
            expected_start: 0,
            fluence_jy_ms: 0.0,
        };
        let (snr_unit, width, start) = m.dedispersed_snr(band);
        let (amp, fluence) = match (spec.snr, spec.fluence_jy_ms) {
            (Some(s), _) => {
                if !(snr_unit > 0.0) {
                    return Err(SimError::Config(format!(
                        "burst time={} dm={}: it lies outside the observation, no S/N can be reached",
                        spec.time_s, spec.dm
                    )));
                }
                let a = s / snr_unit;
                (a, a * band.sigma_mjy) // σ·s × mJy/σ = mJy s = Jy ms
            }
            (None, Some(f)) => (f / band.sigma_mjy, f),
            _ => unreachable!("validated"),
        };
        m.amp_ref = amp;
        m.expected_snr = amp * snr_unit;
        m.expected_snr_unquantised = m.expected_snr;
        m.expected_width = width;
        m.expected_start = start;
        m.fluence_jy_ms = fluence;
        Ok(m)
    }

    /// Adds the burst (σ units) to channel `c`, samples `j0 ..`.
    pub(crate) fn add_to_channel(&self, c: usize, j0: u64, out: &mut [f32]) {
        let t = self.tsamp;
        // Samples that can overlap the window: emission times t_j − d ∈ [w0, w0 + wlen].
        let first = ((self.w0 + self.d_hi[c] - self.spread[c]) / t - 2.0).floor();
        let last = ((self.w0 + self.wlen + self.d_hi[c]) / t + 2.0).ceil();
        if last < j0 as f64 || first > (j0 + out.len() as u64) as f64 {
            return;
        }
        let lo = (first.max(j0 as f64) as u64 - j0) as usize;
        let hi = ((last as u64).saturating_sub(j0) as usize + 1).min(out.len());
        let table = &self.tables[self.table_of[c]];
        let amp = self.amp_ref * self.spec_factor[c] / self.wlen;
        for i in lo..hi {
            let x0 = (((j0 + i as u64) as f64 * t - self.d_hi[c]) - self.w0) / self.wlen;
            let val = table.box_trapezoid(x0, t / self.wlen, self.spread[c] / self.wlen);
            out[i] += (amp * val) as f32;
        }
    }

    /// Makes `expected_snr` account for quantisation and clipping: each sample's noiseless
    /// signal `s` in channel `c` becomes its mean stored response `resp[c].signal(s)` in units of
    /// the stored noise σ ([`crate::sim::noise::QuantiserResponse`]), and the dedispersed series
    /// is measured with the same boxcar (`expected_width`, `expected_start`) as before.
    pub(crate) fn apply_quantisation(&mut self, band: &Band, resp: &[crate::sim::noise::QuantiserResponse]) {
        let Some((k0, series)) = self.series(band, &|c, v| resp[c].signal(v)) else {
            return;
        };
        let a = (self.expected_start.saturating_sub(k0) as usize).min(series.len());
        let b = (a + self.expected_width).min(series.len());
        let on: f64 = series[a..b].iter().sum();
        self.expected_snr = on / ((band.freqs.len() * self.expected_width) as f64).sqrt();
    }

    /// The noiseless dedispersed series (rounded delays) around the burst at the current
    /// `amp_ref`, each sample's value `v` of channel `c` mapped through `map(c, v)`: the first
    /// sample index and the series; `None` when the burst lies outside the observation.
    fn series(&self, band: &Band, map: &dyn Fn(usize, f64) -> f64) -> Option<(u64, Vec<f64>)> {
        let t = self.tsamp;
        let nchans = band.freqs.len();
        let max_spread = self.spread.iter().cloned().fold(0.0, f64::max);
        let k0 = ((self.w0 - max_spread) / t - 3.0).floor().max(0.0) as u64;
        let k1 = ((self.w0 + self.wlen + max_spread) / t + 3.0).ceil().max(0.0) as u64;
        let k1 = k1.min(band.nsamples);
        if k1 <= k0 {
            return None;
        }
        let len = (k1 - k0) as usize;
        let mut series = vec![0.0f64; len];
        let mut buf = vec![0.0f32; len];
        for c in 0..nchans {
            let r = (self.d_centre[c] / t).round() as u64;
            if k0 + r >= band.nsamples {
                continue;
            }
            buf.iter_mut().for_each(|v| *v = 0.0);
            self.add_to_channel(c, k0 + r, &mut buf);
            let valid = ((band.nsamples - (k0 + r)) as usize).min(len);
            for i in 0..valid {
                series[i] += map(c, buf[i] as f64);
            }
        }
        Some((k0, series))
    }

    /// Expected S/N at the current `amp_ref` (1 while scaling): returns `(snr, width_samples,
    /// start_sample)`.
    fn dedispersed_snr(&self, band: &Band) -> (f64, usize, u64) {
        let Some((k0, series)) = self.series(band, &|_, v| v) else {
            return (0.0, 1, 0);
        };
        let len = series.len();
        let nchans = band.freqs.len();
        let mut prefix = vec![0.0; len + 1];
        for i in 0..len {
            prefix[i + 1] = prefix[i] + series[i];
        }
        let (mut best, mut bw, mut bs) = (0.0, 1usize, k0);
        // All widths up to 256 samples, then steps of ~2 % (keeps this O(len · 600)).
        let mut widths: Vec<usize> = (1..=len.min(256)).collect();
        let mut w = 256.0f64;
        while (w as usize) < len {
            w = (w * 1.02).ceil();
            widths.push((w as usize).min(len));
        }
        for w in widths {
            for s in 0..=len - w {
                let snr = (prefix[s + w] - prefix[s]) / ((nchans * w) as f64).sqrt();
                if snr > best {
                    (best, bw, bs) = (snr, w, k0 + s as u64);
                }
            }
        }
        (best, bw, bs)
    }

    pub(crate) fn truth(&self, band: &Band) -> BurstTruth {
        BurstTruth {
            time_s: self.spec.time_s,
            dm: self.spec.dm,
            width_s: self.spec.width(),
            fluence_jy_ms: self.fluence_jy_ms,
            spindex: self.spec.spindex,
            spectral_ref_mhz: band.spectral_ref_mhz,
            tau_1ghz_s: self.spec.tau_1ghz_s,
            requested_snr: self.spec.snr,
            expected_snr: self.expected_snr,
            expected_snr_unquantised: self.expected_snr_unquantised,
            expected_width_samples: self.expected_width,
            expected_start_sample: self.expected_start,
        }
    }
}
