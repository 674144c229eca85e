//! The synthetic sky and telescope: FAST-style filterbank data with pulsars, bursts, noise and RFI.
//!
//! * [`telescope`]: receiver/backend presets (`fast-l-band`, `fast-l-band-lite`).
//! * [`pulsar`], [`burst`]: the signals, integrated exactly over each sample and channel
//!   (`profile`), so dispersion smearing inside a channel is real.
//! * [`noise`]: radiometer noise, bandpass, quantisation; [`rfi`]: narrowband and zero-DM RFI.
//!
//! [`SimulatedObservation`] is an [`Observation`]: its `read_block` returns the quantised data
//! (`[nsamples][nchans]` `f32` counts, channels in descending frequency as in the file). Data are
//! generated in fixed chunks of [`CHUNK_SAMPLES`] samples; within a chunk every channel has its
//! own random stream keyed by `(seed, chunk, channel)` and channels are generated in parallel,
//! so the values are identical for any thread count and any read pattern, and memory is bounded
//! by one chunk. [`simulate_to_file`] writes the observation and its truth file
//! (`OUT.truth.json`, [`crate::io::truth`]).
//!
//! Signal levels are in units of the radiometer noise of one sample in one channel,
//! `σ_S = T_sys / (G · sqrt(n_pol · t_samp · Δν))` mJy (Lorimer & Kramer 2005, eq. A1.21).
pub mod burst;
pub mod noise;
pub mod orbit;
pub(crate) mod profile;
pub mod pulsar;
pub mod rfi;
pub mod telescope;

pub use burst::BurstSpec;
pub use noise::Quantiser;
pub use pulsar::{Component, PulsarSpec, Shape};
pub use rfi::RfiSpec;
pub use telescope::Telescope;

use crate::io::truth::{truth_path, write_truth_staged, Quantisation, TelescopeTruth, Truth};
use crate::io::{Header, IoError, Observation};
use ndarray::{s, Array2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Largest fraction of all values a simulation may saturate (clamp at 0 or `2^nbits − 1` beyond
/// what pure noise clamps) unless [`SimConfig::allow_saturation`] is set: 1 %. Above it the data
/// no longer carry the signal the configuration describes (issue 11: `dm=1e7` gave a 100 %
/// saturated file whose truth claimed S/N 10).
pub const MAX_SATURATED_FRACTION: f64 = 0.01;

/// Samples per generation chunk (fixed: part of the random-number layout).
pub const CHUNK_SAMPLES: usize = 2048;

/// Channels per parallel work item of [`SimulatedObservation::generate_chunk_into`]: 16 `f32`
/// fill one 64-byte cache line of an output row. Not part of the random-number layout.
const GROUP_CHANS: usize = 128;

thread_local! {
    /// Per-thread channel-major scratch of one channel group (`GROUP_CHANS × (CHUNK_SAMPLES + 16)`).
    static GROUP_SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A bad configuration value; the message names it.
    #[error("simulation config: {0}")]
    Config(String),
    /// Writing the output failed.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// SIGPROC filterbank (`.fil`).
    Filterbank,
    /// PSRFITS search mode (`.fits`).
    Psrfits,
}

impl OutputFormat {
    /// `"filterbank"` or `"psrfits"`.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Filterbank => "filterbank",
            OutputFormat::Psrfits => "psrfits",
        }
    }
}

impl std::str::FromStr for OutputFormat {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, SimError> {
        match s.to_ascii_lowercase().as_str() {
            "filterbank" | "fil" | "sigproc" => Ok(OutputFormat::Filterbank),
            "psrfits" | "fits" => Ok(OutputFormat::Psrfits),
            _ => Err(SimError::Config(format!("unknown output format '{s}' (filterbank or psrfits)"))),
        }
    }
}

/// Everything a simulation is made from (serde; written into the truth file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Telescope preset ([`Telescope::preset`]).
    pub preset: String,
    /// Duration, s (`nsamples = round(duration_s / tsamp_s)`).
    pub duration_s: f64,
    /// Channel count override (band edges kept).
    pub nchans: Option<usize>,
    /// Sampling time override, s.
    pub tsamp_s: Option<f64>,
    /// Bits per sample override (1, 2, 4, 8, 16, 32).
    pub nbits: Option<u32>,
    /// Random seed.
    pub seed: u64,
    /// Pulsars to inject.
    pub pulsars: Vec<PulsarSpec>,
    /// Bursts to inject.
    pub bursts: Vec<BurstSpec>,
    /// RFI, if wanted.
    pub rfi: Option<RfiSpec>,
    /// Apply the illustrative bandpass ([`noise::bandpass_gains`]).
    pub bandpass: bool,
    /// Source name written to the header.
    pub source_name: String,
    /// Start MJD written to the header.
    pub tstart_mjd: f64,
    /// Write the data even when the signals saturate more than [`MAX_SATURATED_FRACTION`] of
    /// the values (`simulate --allow-saturation`); otherwise that is an error.
    pub allow_saturation: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            preset: "fast-l-band".into(),
            duration_s: 10.0,
            nchans: None,
            tsamp_s: None,
            nbits: None,
            seed: 1,
            pulsars: vec![],
            bursts: vec![],
            rfi: None,
            bandpass: false,
            source_name: "tianyan_sim".into(),
            tstart_mjd: 60000.0,
            allow_saturation: false,
        }
    }
}

/// Band and radiometer constants shared by the signal models.
#[derive(Debug, Clone)]
pub(crate) struct Band {
    pub freqs: Vec<f64>,
    pub chan_bw_mhz: f64,
    pub ftop_mhz: f64,
    pub tsamp_s: f64,
    pub nsamples: u64,
    pub duration_s: f64,
    pub sigma_mjy: f64,
    pub spectral_ref_mhz: f64,
    pub tsys_k: f64,
    pub gain_k_per_jy: f64,
    pub npol: f64,
    pub bandwidth_hz: f64,
}

/// A simulated observation, generated on demand in chunks. See the module docs.
pub struct SimulatedObservation {
    cfg: SimConfig,
    header: Header,
    telescope: Telescope,
    band: Band,
    quant: Quantiser,
    gains: Vec<f32>,
    pulsars: Vec<pulsar::PulsarModel>,
    bursts: Vec<burst::BurstModel>,
    rfi: Option<rfi::RfiModel>,
    /// Mean over channels of the pure-noise clamped fraction and of the quantisation efficiency.
    noise_clip: f64,
    efficiency: f64,
    /// Last generated chunk: index, length, `[len][nchans]` values.
    cache: Option<(u64, usize, Vec<f32>)>,
}

impl SimulatedObservation {
    /// Prepares the observation: telescope, header, signal models (amplitudes scaled to the
    /// requested S/N or flux). Generates no data yet.
    ///
    /// # Errors
    /// [`SimError::Config`] for an unknown preset, bad overrides (nchans 0, tsamp ≤ 0, nbits not
    /// 1/2/4/8/16/32, duration shorter than one sample) or a bad pulsar/burst spec.
    pub fn new(cfg: &SimConfig) -> Result<Self, SimError> {
        let mut tel = Telescope::preset(&cfg.preset)?;
        if let Some(n) = cfg.nchans {
            if n == 0 || n > 1 << 20 {
                return Err(SimError::Config(format!("nchans must be 1 ..= 1048576, not {n}")));
            }
            tel.nchans = n;
        }
        if let Some(t) = cfg.tsamp_s {
            if !(t.is_finite() && t > 0.0 && t < 10.0) {
                return Err(SimError::Config(format!("tsamp must be > 0 and < 10 s, not {t}")));
            }
            tel.tsamp_s = t;
        }
        if let Some(b) = cfg.nbits {
            tel.nbits = b;
        }
        let quant = Quantiser::for_nbits(tel.nbits)?;
        if !(cfg.duration_s.is_finite() && cfg.duration_s > 0.0) {
            return Err(SimError::Config(format!("duration must be > 0 s, not {}", cfg.duration_s)));
        }
        let nsamples = (cfg.duration_s / tel.tsamp_s).round() as u64;
        if nsamples == 0 {
            return Err(SimError::Config("duration is shorter than one sample".into()));
        }
        let freqs = tel.chan_freqs_mhz();
        let header = Header {
            source_name: cfg.source_name.clone(),
            rawdatafile: String::new(),
            telescope_id: tel.telescope_id,
            machine_id: telescope::SIM_MACHINE_ID,
            data_type: 1,
            tstart_mjd: cfg.tstart_mjd,
            tsamp_s: tel.tsamp_s,
            fch1_mhz: tel.fch1_mhz(),
            foff_mhz: -tel.chan_bw_mhz(),
            freqs_mhz: None,
            nchans: tel.nchans,
            nbits: tel.nbits,
            nifs: 1,
            nsamples,
            signed: false,
            ..Header::default()
        };
        let band = Band {
            chan_bw_mhz: tel.chan_bw_mhz(),
            ftop_mhz: header.ftop_mhz(),
            tsamp_s: tel.tsamp_s,
            nsamples,
            duration_s: nsamples as f64 * tel.tsamp_s,
            sigma_mjy: tel.sigma_sample_mjy(),
            spectral_ref_mhz: 0.5 * (tel.band_low_mhz + tel.band_high_mhz),
            tsys_k: tel.tsys_k,
            gain_k_per_jy: tel.gain_k_per_jy,
            npol: tel.npol as f64,
            bandwidth_hz: (tel.band_high_mhz - tel.band_low_mhz) * 1e6,
            freqs,
        };
        let gains = if cfg.bandpass {
            noise::bandpass_gains(&band.freqs, tel.band_low_mhz, tel.band_high_mhz)
        } else {
            vec![1.0; tel.nchans]
        };
        let mut pulsars =
            cfg.pulsars.iter().map(|p| pulsar::PulsarModel::new(p, &band)).collect::<Result<Vec<_>, _>>()?;
        let mut bursts = cfg.bursts.iter().map(|b| burst::BurstModel::new(b, &band)).collect::<Result<Vec<_>, _>>()?;
        // Quantisation and clipping: each channel's response (one per distinct gain).
        let mut resp: Vec<noise::QuantiserResponse> = Vec::with_capacity(tel.nchans);
        for (c, &g) in gains.iter().enumerate() {
            let r = match resp.last() {
                Some(prev) if gains[c - 1] == g => *prev,
                _ => quant.response(g as f64),
            };
            resp.push(r);
        }
        let nch = resp.len().max(1) as f64;
        let noise_clip = resp.iter().map(|r| r.noise_clip_probability()).sum::<f64>() / nch;
        let efficiency = resp.iter().map(|r| r.efficiency()).sum::<f64>() / nch;
        for p in &mut pulsars {
            p.apply_quantisation(&band, &resp);
        }
        for b in &mut bursts {
            b.apply_quantisation(&band, &resp);
        }
        let saturated: f64 = pulsars.iter().map(|p| p.saturated_fraction).sum();
        if saturated > MAX_SATURATED_FRACTION && !cfg.allow_saturation {
            let worst = pulsars
                .iter()
                .max_by(|a, b| a.saturated_fraction.total_cmp(&b.saturated_fraction))
                .expect("a positive sum has a term");
            return Err(SimError::Config(format!(
                "pulsar period={} dm={} saturates {:.2} % of the {}-bit values (clamped at 0 or {} beyond the {:.2} % \
                 pure noise clamps), more than the {} % allowed: its expected S/N would drop from {:.1} to {:.1}. \
                 Lower its snr= or flux=, use more bits (--nbits), or pass --allow-saturation to write it anyway",
                worst.spec.period_s,
                worst.spec.dm,
                100.0 * saturated,
                tel.nbits,
                quant.max_value,
                100.0 * noise_clip,
                100.0 * MAX_SATURATED_FRACTION,
                worst.expected_snr_unquantised,
                worst.expected_snr
            )));
        }
        if let Some(r) = &cfg.rfi {
            r.validate().map_err(|e| SimError::Config(format!("RFI: {e}")))?;
        }
        let rfi = cfg.rfi.as_ref().map(|r| rfi::RfiModel::new(r, &band, cfg.seed));
        Ok(SimulatedObservation {
            cfg: cfg.clone(),
            header,
            telescope: tel,
            band,
            quant,
            gains,
            pulsars,
            bursts,
            rfi,
            noise_clip,
            efficiency,
            cache: None,
        })
    }

    /// The quantisation rule in use.
    pub fn quantiser(&self) -> &Quantiser {
        &self.quant
    }

    /// The telescope model in use (after overrides).
    pub fn telescope(&self) -> &Telescope {
        &self.telescope
    }

    /// Number of chunks ([`CHUNK_SAMPLES`] samples each, the last possibly shorter).
    pub fn nchunks(&self) -> u64 {
        self.header.nsamples.div_ceil(CHUNK_SAMPLES as u64)
    }

    /// Generates chunk `index`: `([len][nchans]` quantised counts, number of clamped values).
    /// Channels are generated in parallel (rayon); the result does not depend on the thread count.
    /// An index at or beyond [`Self::nchunks`] gives an empty array.
    pub fn generate_chunk(&self, index: u64) -> (Array2<f32>, u64) {
        let mut out = Vec::new();
        let (len, clipped) = self.generate_chunk_into(index, &mut out);
        let arr = Array2::from_shape_vec((len, self.header.nchans), out).expect("shape matches length");
        (arr, clipped)
    }

    /// [`Self::generate_chunk`] into a reusable buffer (`[len][nchans]` row-major, resized);
    /// returns `(len, clipped)`.
    ///
    /// Work is split over groups of [`GROUP_CHANS`] adjacent channels (rayon). Within a group each
    /// channel is generated over the whole chunk in a channel-major scratch column (signals,
    /// then noise and quantisation, as the random-number layout requires), and the group is then
    /// written into the output rows, one `GROUP_CHANS`-wide contiguous run per sample: no
    /// separate transpose pass over the chunk and no zero fill of the output.
    pub fn generate_chunk_into(&self, index: u64, out: &mut Vec<f32>) -> (usize, u64) {
        let nchans = self.header.nchans;
        let j0 = index * CHUNK_SAMPLES as u64;
        let len = (self.header.nsamples.saturating_sub(j0) as usize).min(CHUNK_SAMPLES);
        if len == 0 {
            out.clear();
            return (0, 0);
        }
        if out.len() != len * nchans {
            // Every value is overwritten below, so a reused buffer of the right size is not refilled.
            out.clear();
            out.resize(len * nchans, 0.0);
        }
        let mut view = ndarray::ArrayViewMut2::from_shape((len, nchans), &mut out[..]).expect("shape matches length");
        let clipped = view
            .axis_chunks_iter_mut(ndarray::Axis(1), GROUP_CHANS)
            .into_par_iter()
            .enumerate()
            .map(|(g, tile)| {
                GROUP_SCRATCH.with(|cell| {
                    let mut scratch = cell.borrow_mut();
                    self.generate_group(index, j0, g * GROUP_CHANS, tile, &mut scratch)
                })
            })
            .sum();
        (len, clipped)
    }

    /// Generates channels `c0 .. c0 + tile.ncols()` of the chunk starting at sample `j0` into
    /// `tile` (`[len][ncols]`, a column block of the chunk); `scratch` is reused working memory.
    /// Returns the number of clamped values.
    fn generate_group(
        &self,
        index: u64,
        j0: u64,
        c0: usize,
        mut tile: ndarray::ArrayViewMut2<'_, f32>,
        scratch: &mut Vec<f32>,
    ) -> u64 {
        let (len, ng) = tile.dim();
        // Column stride padded by one cache line so the `ng` column streams read back in the
        // transpose do not all map to the same L1 sets.
        let stride = len + 16;
        scratch.clear();
        scratch.resize(ng * stride, 0.0);
        let mut clipped = 0u64;
        for (k, col) in scratch.chunks_exact_mut(stride).enumerate() {
            let c = c0 + k;
            let col = &mut col[..len];
            for p in &self.pulsars {
                p.add_to_channel(c, j0, col);
            }
            for b in &self.bursts {
                b.add_to_channel(c, j0, col);
            }
            clipped += self.noise_and_rfi(c, index, j0, col);
        }
        for (r, mut row) in tile.rows_mut().into_iter().enumerate() {
            for (v, &x) in row.iter_mut().zip(scratch[r..].iter().step_by(stride)) {
                *v = x;
            }
        }
        clipped
    }

    /// Adds the RFI, noise and quantisation to channel `c`'s column `col` (signals already in
    /// it) of chunk `index` starting at sample `j0`, then the RFI dropouts; returns the number
    /// of clamped values. With a gain drift the quantised value is `round(g(t)·b_c·(offset +
    /// scale·x))` ([`noise::add_noise_and_quantise_with_gain`]).
    fn noise_and_rfi(&self, c: usize, index: u64, j0: u64, col: &mut [f32]) -> u64 {
        let Some(r) = &self.rfi else {
            return noise::add_noise_and_quantise(col, self.cfg.seed, index, c, &self.quant, self.gains[c]);
        };
        r.add_to_channel(c, j0, col);
        let mut g = vec![0f32; col.len()];
        let clipped = if r.gain_curve(c, j0, &mut g) {
            noise::add_noise_and_quantise_with_gain(col, self.cfg.seed, index, c, &self.quant, self.gains[c], &g)
        } else {
            noise::add_noise_and_quantise(col, self.cfg.seed, index, c, &self.quant, self.gains[c])
        };
        r.apply_dropouts(j0, col);
        clipped
    }

    /// The truth record for this observation (`clipped` = clamped values counted while writing).
    pub fn truth(&self, output_file: &str, format: OutputFormat, clipped: u64) -> Truth {
        Truth {
            software: "tianyan".into(),
            software_version: env!("CARGO_PKG_VERSION").into(),
            output_file: output_file.into(),
            format: format.name().into(),
            header: self.header.clone(),
            seed: self.cfg.seed,
            dm_constant: crate::consts::K_DM,
            dm_reference_freq_mhz: self.band.ftop_mhz,
            telescope: TelescopeTruth {
                preset: self.telescope.name.clone(),
                tsys_k: self.telescope.tsys_k,
                gain_k_per_jy: self.telescope.gain_k_per_jy,
                npol: self.telescope.npol,
                band_low_mhz: self.telescope.band_low_mhz,
                band_high_mhz: self.telescope.band_high_mhz,
                sigma_sample_mjy: self.band.sigma_mjy,
                bandpass: self.cfg.bandpass,
            },
            quantisation: Quantisation {
                nbits: self.quant.nbits,
                offset: self.quant.offset,
                scale: self.quant.scale,
                min_value: self.quant.min_value.max(-f64::MAX),
                max_value: self.quant.max_value.min(f64::MAX),
                clipped,
                total_values: self.header.nsamples * self.header.nchans as u64,
                clipped_fraction: clipped as f64 / (self.header.nsamples * self.header.nchans as u64).max(1) as f64,
                noise_clipped_fraction: self.noise_clip,
                efficiency: self.efficiency,
                saturation_allowed: self.cfg.allow_saturation,
            },
            pulsars: self.pulsars.iter().map(|p| p.truth(&self.band)).collect(),
            bursts: self.bursts.iter().map(|b| b.truth(&self.band)).collect(),
            rfi: self.rfi.as_ref().map(|r| r.truth.clone()),
            config: serde_json::to_value(&self.cfg).unwrap_or(serde_json::Value::Null),
        }
    }
}

impl Observation for SimulatedObservation {
    fn header(&self) -> &Header {
        &self.header
    }

    fn read_block(&mut self, start_sample: u64, nsamples: usize) -> Result<Array2<f32>, IoError> {
        let end = IoError::check_range("<simulator>", start_sample, nsamples, self.header.nsamples)?;
        let mut out = Array2::zeros((nsamples, self.header.nchans));
        let cs = CHUNK_SAMPLES as u64;
        let mut pos = start_sample;
        while pos < end {
            let idx = pos / cs;
            if self.cache.as_ref().map(|(i, _, _)| *i) != Some(idx) {
                let mut v = self.cache.take().map(|(_, _, v)| v).unwrap_or_default();
                let (len, _) = self.generate_chunk_into(idx, &mut v);
                self.cache = Some((idx, len, v));
            }
            let nchans = self.header.nchans;
            let (_, len, v) = self.cache.as_ref().expect("just filled");
            let chunk = ndarray::ArrayView2::from_shape((*len, nchans), &v[..]).expect("chunk shape");
            let a = (pos - idx * cs) as usize;
            let b = ((end - idx * cs) as usize).min(chunk.nrows());
            let o = (pos - start_sample) as usize;
            out.slice_mut(s![o..o + (b - a), ..]).assign(&chunk.slice(s![a..b, ..]));
            pos += (b - a) as u64;
        }
        Ok(out)
    }

    fn source_description(&self) -> String {
        format!("simulator (preset {}, seed {})", self.telescope.name, self.cfg.seed)
    }
}

/// Simulates `cfg` into `path` (format `format`) and writes `path.truth.json`; returns the truth.
/// Both files appear together (temporary names, renamed only when both are complete); the output
/// folder is checked before any data are generated, and an existing `path` (or truth file) is
/// replaced only when it is a simulation: an observation of `format` with a tianyan truth file
/// beside it.
///
/// # Errors
/// [`SimError::Config`] for a bad configuration (PSRFITS output needs nbits = 8), and — unless
/// [`SimConfig::allow_saturation`] — for signals that clamp more than [`MAX_SATURATED_FRACTION`]
/// of the values beyond pure noise (predicted for pulsars before any data are made, measured for
/// everything after; no file is left behind); [`SimError::Io`] when writing fails or when an
/// existing output is of another kind (named, before any data are generated).
pub fn simulate_to_file(cfg: &SimConfig, path: &Path, format: OutputFormat) -> Result<Truth, SimError> {
    simulate_to_file_with_progress(cfg, path, format, &mut |_, _| {})
}

/// [`simulate_to_file`] calling `progress(samples_done, samples_total)` after each chunk.
pub fn simulate_to_file_with_progress(
    cfg: &SimConfig,
    path: &Path,
    format: OutputFormat,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Truth, SimError> {
    let obs = SimulatedObservation::new(cfg)?;
    crate::io::output::check_output_file(path)?;
    crate::io::output::check_output_file(&truth_path(path))?;
    // An existing output is replaced only by its own kind: the data file only when it is an
    // observation of the format written, its truth file only when it is a tianyan truth file
    // (never a candidate file, a mask, a page or anything else kept under that name).
    use crate::io::output::{check_replaceable, ExistingKind};
    match format {
        OutputFormat::Filterbank => check_replaceable(path, &[ExistingKind::Sigproc], "a SIGPROC filterbank")?,
        OutputFormat::Psrfits => check_replaceable(path, &[ExistingKind::Fits], "a PSRFITS file")?,
    }
    check_replaceable(&truth_path(path), &[ExistingKind::Truth], "the simulation's truth file")?;
    // ... and only a simulation: an observation without a truth file beside it (real data) is kept.
    if path.is_file() && !truth_path(path).is_file() {
        return Err(SimError::Io(crate::io::IoError::format(
            path,
            "exists and is an observation without a truth file beside it (not a tianyan simulation); refusing to \
             replace it: remove it or choose another output",
        )));
    }
    // ... whose truth file really describes it (a stale truth file beside real data does not make
    // the data a simulation): same file name, channels, samples and sampling time.
    if path.is_file() {
        let base = |s: &str| Path::new(s).file_name().map(|n| n.to_os_string());
        let described =
            match (crate::io::truth::read_truth(&truth_path(path)), crate::io::open_observation(&[path.to_path_buf()]))
            {
                (Ok(t), Ok(o)) => {
                    let h = o.header();
                    base(&t.output_file) == path.file_name().map(|n| n.to_os_string())
                        && t.header.nchans == h.nchans
                        && t.header.nsamples == h.nsamples
                        && t.header.tsamp_s == h.tsamp_s
                }
                _ => false,
            };
        if !described {
            return Err(SimError::Io(crate::io::IoError::format(
                path,
                format!(
                    "exists, and the truth file beside it ({}) does not describe it (another file name, channel or \
                     sample count): it is not the simulation that truth file records; refusing to replace it: remove \
                     both or choose another output",
                    truth_path(path).display()
                ),
            )));
        }
    }
    let header = obs.header.clone();
    enum Writer {
        Sigproc(crate::io::sigproc::SigprocWriter),
        Psrfits(crate::io::psrfits::PsrfitsWriter),
    }
    let mut writer = match format {
        OutputFormat::Filterbank => Writer::Sigproc(crate::io::sigproc::SigprocWriter::create(path, &header)?),
        OutputFormat::Psrfits => {
            if header.nbits != 8 {
                return Err(SimError::Config(format!(
                    "{}: the PSRFITS writer stores 8-bit data only, not nbits = {}",
                    path.display(),
                    header.nbits
                )));
            }
            Writer::Psrfits(crate::io::psrfits::PsrfitsWriter::create(path, &header)?)
        }
    };
    let mut clipped = 0u64;
    let mut buf = Vec::new();
    for idx in 0..obs.nchunks() {
        let (len, c) = obs.generate_chunk_into(idx, &mut buf);
        let chunk = ndarray::ArrayView2::from_shape((len, header.nchans), &buf[..]).expect("chunk shape");
        clipped += c;
        match &mut writer {
            Writer::Sigproc(w) => w.write_block(chunk)?,
            Writer::Psrfits(w) => w.write_block(chunk)?,
        }
        progress((idx * CHUNK_SAMPLES as u64 + chunk.nrows() as u64).min(header.nsamples), header.nsamples);
    }
    let (_, data) = match writer {
        Writer::Sigproc(w) => w.finish_staged()?,
        Writer::Psrfits(w) => w.finish_staged()?,
    };
    let truth = obs.truth(&path.display().to_string(), format, clipped);
    // The prediction in `new` covers the pulsars; this catches bursts and RFI too. Nothing has
    // been renamed into place yet, so an error leaves no file behind.
    let q = &truth.quantisation;
    if q.clipped_fraction - q.noise_clipped_fraction > MAX_SATURATED_FRACTION && !cfg.allow_saturation {
        return Err(SimError::Config(format!(
            "{}: {:.2} % of the {}-bit values were clamped (pure noise: {:.2} %), more than {} % beyond noise: \
             the signals saturate the data. Lower their snr=/flux=, use more bits (--nbits), or pass \
             --allow-saturation to write it anyway",
            path.display(),
            100.0 * q.clipped_fraction,
            q.nbits,
            100.0 * q.noise_clipped_fraction,
            100.0 * MAX_SATURATED_FRACTION
        )));
    }
    // The observation and its truth appear together or not at all.
    let mut set = crate::io::output::OutputSet::new();
    set.add(data);
    set.add(write_truth_staged(&truth_path(path), &truth)?);
    set.commit()?;
    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive twin of `generate_chunk_into`: each channel's whole column in turn (signals, then
    /// noise and quantisation), copied element by element into `[len][nchans]`. The grouped,
    /// parallel generator must give the same bits, for a channel count that leaves a partial
    /// group and for the short last chunk.
    #[test]
    fn grouped_generation_matches_naive_twin() {
        let cfg = SimConfig {
            preset: "fast-l-band".into(),
            duration_s: 0.15,
            nchans: Some(150),
            seed: 4,
            pulsars: vec![PulsarSpec::parse("period=0.03,dm=80,snr=40,accel=300").unwrap()],
            bursts: vec![BurstSpec::parse("time=0.01,dm=100,snr=30,width=0.001").unwrap()],
            rfi: Some(RfiSpec {
                impulse_rate_hz: 50.0,
                narrowband_fraction: 0.05,
                dropout_rate_hz: 30.0,
                saturation_rate_hz: 30.0,
                ..RfiSpec::preset("fast-heavy").unwrap()
            }),
            bandpass: true,
            ..SimConfig::default()
        };
        let obs = SimulatedObservation::new(&cfg).unwrap();
        let nchans = obs.header.nchans;
        assert!(obs.nchunks() >= 2 && obs.header.nsamples % CHUNK_SAMPLES as u64 != 0);
        let mut buf = Vec::new();
        for index in 0..obs.nchunks() {
            let (len, clipped) = obs.generate_chunk_into(index, &mut buf);
            let j0 = index * CHUNK_SAMPLES as u64;
            let mut naive = vec![0f32; len * nchans];
            let mut naive_clipped = 0;
            for c in 0..nchans {
                let mut col = vec![0f32; len];
                for p in &obs.pulsars {
                    p.add_to_channel(c, j0, &mut col);
                }
                for b in &obs.bursts {
                    b.add_to_channel(c, j0, &mut col);
                }
                let r = obs.rfi.as_ref().unwrap();
                r.add_to_channel(c, j0, &mut col);
                // The gain drift multiplies the whole quantiser input: with g(t) = 1 the noise
                // path is the plain one.
                let mut g = vec![0f32; len];
                assert!(r.gain_curve(c, j0, &mut g));
                naive_clipped +=
                    noise::add_noise_and_quantise_with_gain(&mut col, cfg.seed, index, c, &obs.quant, obs.gains[c], &g);
                r.apply_dropouts(j0, &mut col);
                for (r, v) in col.iter().enumerate() {
                    naive[r * nchans + c] = *v;
                }
            }
            assert_eq!(buf.len(), naive.len());
            let bad = buf.iter().zip(&naive).position(|(a, b)| a.to_bits() != b.to_bits());
            assert!(bad.is_none(), "chunk {index}: value {bad:?} differs");
            assert_eq!(clipped, naive_clipped, "chunk {index}");
        }
    }
}
