//! Dedispersed waterfalls of single-pulse events (frequency against time around an event, with
//! the band-summed profile), as PRESTO's `waterfaller.py` and heimdall's candidate plots show
//! them: channels shifted by their cold-plasma delay at the event's DM
//! ([`crate::consts::dispersion_delay_s`], referred to the highest channel centre as every
//! single-pulse time is), summed into at most a few dozen sub-bands and into time bins of about
//! half the event's width.
//!
//! The data are read in blocks of [`WATERFALL_BLOCK`] spectra (memory bounded whatever the DM
//! sweep), twice: once for each channel's mean and standard deviation over the samples read,
//! once to add the normalised samples into their cells. Non-finite samples and channels of zero
//! variance are left out (they add to no cell and no count).

use crate::consts::dispersion_delay_s;
use crate::io::{IoError, Observation};
use ndarray::Array2;

/// Spectra read per block.
pub const WATERFALL_BLOCK: usize = 4096;

/// Time bins of a waterfall (odd, so one bin is centred on the event).
pub const WATERFALL_NTIME: usize = 129;

/// A dedispersed waterfall around one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Waterfall {
    /// `[n_subbands][n_time]` cells in σ: the sum of the channel-normalised samples of the cell
    /// divided by the square root of their number (so pure noise is N(0, 1) in every cell), 0
    /// where a cell has no sample (outside the observation).
    pub data: Array2<f64>,
    /// Mean channel frequency of each sub-band, MHz, `[n_subbands]` (file channel order).
    pub subband_freqs_mhz: Vec<f64>,
    /// Centre of each time bin relative to the event's centre, s, `[n_time]`; the event is at 0,
    /// in bin `n_time / 2`.
    pub times_s: Vec<f64>,
    /// Band-summed profile in σ, `[n_time]`: all of a bin's samples summed, over the square root
    /// of their number.
    pub profile: Vec<f64>,
    /// Time bin width, s (a whole number of samples).
    pub dt_s: f64,
    /// DM the channels were shifted at, pc cm⁻³.
    pub dm: f64,
    /// Centre time of the event at the top of the band, s from the start of the observation.
    pub centre_time_s: f64,
}

/// Reads and dedisperses the window of `obs` around an event centred at `centre_time_s` (s from
/// the first sample, at the highest channel centre) of DM `dm` (pc cm⁻³) and width `width_s` (s):
/// [`WATERFALL_NTIME`] time bins of `max(1, round(width_s / 2 / tsamp))` samples each, centred on
/// the event, and `min(max_subbands, nchans)` sub-bands of adjacent channels.
///
/// Sample `i` of channel `c` (time `i·tsamp`) goes to the time bin of `i·tsamp − Δt_c`, with
/// `Δt_c = K_DM · dm · (f_c⁻² − f_top⁻²)` ([`dispersion_delay_s`]), after subtracting the
/// channel's mean and dividing by its standard deviation over the samples read.
///
/// # Errors
/// [`IoError`] from the reader; [`IoError::Format`] for a non-finite or negative time, DM or
/// width, or `max_subbands == 0`.
pub fn waterfall_data(
    obs: &mut dyn Observation,
    centre_time_s: f64,
    dm: f64,
    width_s: f64,
    max_subbands: usize,
) -> Result<Waterfall, IoError> {
    let h = obs.header().clone();
    let what = obs.source_description();
    if !(centre_time_s.is_finite() && dm.is_finite() && dm >= 0.0 && width_s.is_finite() && width_s >= 0.0) {
        return Err(IoError::format(
            &what,
            format!("waterfall of an event at t = {centre_time_s} s, DM {dm}, width {width_s} s: not a usable event"),
        ));
    }
    if max_subbands == 0 || h.nchans == 0 || h.tsamp_s.is_nan() || h.tsamp_s <= 0.0 {
        return Err(IoError::format(&what, "waterfall: no sub-band, channel or sampling time"));
    }
    let nchans = h.nchans;
    let nsub = max_subbands.min(nchans);
    let freqs = h.chan_freqs_mhz();
    let ftop = h.ftop_mhz();
    let delays: Vec<f64> = freqs.iter().map(|&f| dispersion_delay_s(dm, f, ftop)).collect();
    let max_delay = delays.iter().copied().fold(0.0f64, f64::max);
    let ds = ((0.5 * width_s / h.tsamp_s).round() as u64).max(1);
    let dt = ds as f64 * h.tsamp_s;
    let nt = WATERFALL_NTIME;
    let half = (nt / 2) as f64;
    // Bin j covers [t0 + j·dt, t0 + (j + 1)·dt) of dedispersed time; bin nt/2 is centred on the event.
    let t0 = centre_time_s - (half + 0.5) * dt;
    let t1 = t0 + nt as f64 * dt;
    let first = (t0 / h.tsamp_s).floor().max(0.0) as u64;
    let last = (((t1 + max_delay) / h.tsamp_s).ceil().max(0.0) as u64).min(h.nsamples);
    let sub_of = |c: usize| c * nsub / nchans;
    let mut subband_freqs_mhz = vec![0.0; nsub];
    let mut per_sub = vec![0usize; nsub];
    for (c, &f) in freqs.iter().enumerate() {
        subband_freqs_mhz[sub_of(c)] += f;
        per_sub[sub_of(c)] += 1;
    }
    for (f, n) in subband_freqs_mhz.iter_mut().zip(&per_sub) {
        *f /= (*n).max(1) as f64;
    }
    let times_s: Vec<f64> = (0..nt).map(|j| (j as f64 - half) * dt).collect();
    let mut data = Array2::<f64>::zeros((nsub, nt));
    let mut counts = Array2::<f64>::zeros((nsub, nt));
    if last <= first {
        let profile = vec![0.0; nt];
        return Ok(Waterfall { data, subband_freqs_mhz, times_s, profile, dt_s: dt, dm, centre_time_s });
    }
    // Pass 1: channel means and standard deviations over the samples read.
    let mut sum = vec![0.0f64; nchans];
    let mut sum2 = vec![0.0f64; nchans];
    let mut n = vec![0u64; nchans];
    let mut start = first;
    while start < last {
        let len = (last - start).min(WATERFALL_BLOCK as u64) as usize;
        let block = obs.read_block(start, len)?;
        for row in block.rows() {
            for (c, &v) in row.iter().enumerate() {
                if v.is_finite() {
                    let v = v as f64;
                    sum[c] += v;
                    sum2[c] += v * v;
                    n[c] += 1;
                }
            }
        }
        start += len as u64;
    }
    let stats: Vec<Option<(f64, f64)>> = (0..nchans)
        .map(|c| {
            if n[c] < 2 {
                return None;
            }
            let m = sum[c] / n[c] as f64;
            let var = (sum2[c] / n[c] as f64 - m * m).max(0.0);
            (var > 1e-12 * m.abs().max(1.0).powi(2)).then(|| (m, var.sqrt()))
        })
        .collect();
    // Pass 2: normalised samples into their (sub-band, dedispersed time bin) cells.
    let mut start = first;
    while start < last {
        let len = (last - start).min(WATERFALL_BLOCK as u64) as usize;
        let block = obs.read_block(start, len)?;
        for (k, row) in block.rows().into_iter().enumerate() {
            let t = (start + k as u64) as f64 * h.tsamp_s;
            for (c, &v) in row.iter().enumerate() {
                let Some((m, s)) = stats[c] else { continue };
                if !v.is_finite() {
                    continue;
                }
                let j = ((t - delays[c] - t0) / dt).floor();
                if j < 0.0 || j >= nt as f64 {
                    continue;
                }
                let (b, j) = (sub_of(c), j as usize);
                data[[b, j]] += (v as f64 - m) / s;
                counts[[b, j]] += 1.0;
            }
        }
        start += len as u64;
    }
    let mut profile = vec![0.0; nt];
    for (j, p) in profile.iter_mut().enumerate() {
        let s: f64 = data.column(j).sum();
        let c: f64 = counts.column(j).sum();
        *p = if c > 0.0 { s / c.sqrt() } else { 0.0 };
    }
    data.zip_mut_with(&counts, |d, &c| *d = if c > 0.0 { *d / c.sqrt() } else { 0.0 });
    Ok(Waterfall { data, subband_freqs_mhz, times_s, profile, dt_s: dt, dm, centre_time_s })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::K_DM;
    use crate::io::Header;
    use crate::MemoryObservation;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// 64 channels over 1000–1500 MHz, 1 ms, 3 s of unit noise plus a dispersed Gaussian burst
    /// (FWHM 4 ms, peak `amp` σ per channel-sample) centred at `t_burst` at the top channel.
    fn burst_obs(t_burst: f64, dm: f64, amp: f64, seed: u64) -> MemoryObservation {
        let nchans = 64;
        let foff = -500.0 / nchans as f64;
        let h = Header {
            tsamp_s: 1e-3,
            fch1_mhz: 1500.0 + 0.5 * foff,
            foff_mhz: foff,
            nchans,
            nbits: 32,
            ..Header::default()
        };
        let freqs = h.chan_freqs_mhz();
        let ftop = h.ftop_mhz();
        let n = 3000;
        let sig = 0.004 / (8.0 * 2f64.ln()).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let data = Array2::from_shape_fn((n, nchans), |(i, c)| {
            let z: f64 = StandardNormal.sample(&mut rng);
            let t = i as f64 * 1e-3 - K_DM * dm * (freqs[c].powi(-2) - ftop.powi(-2));
            (z + amp * (-0.5 * ((t - t_burst) / sig).powi(2)).exp()) as f32
        });
        MemoryObservation::new(h, data)
    }

    fn argmax(v: impl Iterator<Item = f64>) -> usize {
        v.enumerate().fold((0, f64::NEG_INFINITY), |b, (i, x)| if x > b.1 { (i, x) } else { b }).0
    }

    /// The burst, dedispersed at its DM, lands in the centre column of every sub-band and the
    /// summed profile peaks at the event time (bin `n_time / 2`, time 0); off-pulse cells are
    /// unit-variance noise; at DM 0 the swept burst (0.69 s across the band) leaves the window.
    #[test]
    fn dedispersed_burst_lands_in_the_centre_column() {
        let (t_burst, dm) = (1.2, 300.0);
        let mut obs = burst_obs(t_burst, dm, 3.0, 5);
        let wf = waterfall_data(&mut obs, t_burst, dm, 0.004, 16).unwrap();
        let nt = WATERFALL_NTIME;
        let mid = nt / 2;
        assert_eq!(wf.data.dim(), (16, nt));
        assert_eq!(wf.dt_s, 0.002, "bins of half the width: 2 samples");
        assert_eq!(wf.times_s[mid], 0.0);
        assert_eq!(argmax(wf.profile.iter().copied()), mid, "profile {:?}", &wf.profile[mid - 3..=mid + 3]);
        for b in 0..16 {
            // Per sub-band: 4 channels × 2 samples of ≈ 2.7σ signal each ≈ 7σ in the centre cell, against
            // the largest of 128 unit-noise cells (≈ 2.7σ): the centre must win in every sub-band.
            assert_eq!(argmax(wf.data.row(b).iter().copied()), mid, "sub-band {b}: {:?}", wf.data.row(b));
        }
        // Expected centre-bin profile: 64 ch × 2 samples of mean 3·ḡ (ḡ ≈ 0.9 over ±1 ms of a 4 ms FWHM
        // Gaussian), over sqrt(128): ≈ 30σ; the adjacent bins hold the wings. 20σ leaves room for the noise.
        assert!(wf.profile[mid] > 20.0, "centre {}", wf.profile[mid]);
        // Off-pulse cells (|j − mid| > 5): mean 0 and σ 1 within 10 % (1 900 cells: the standard error
        // of σ is 1.6 %; the burst inflates the channel σ used by about 1 %).
        let off: Vec<f64> = (0..16)
            .flat_map(|b| (0..nt).filter(|j| j.abs_diff(mid) > 5).map(move |j| (b, j)))
            .map(|(b, j)| wf.data[[b, j]])
            .collect();
        let m = off.iter().sum::<f64>() / off.len() as f64;
        let sd = (off.iter().map(|x| (x - m).powi(2)).sum::<f64>() / off.len() as f64).sqrt();
        assert!(m.abs() < 0.1 && (sd - 1.0).abs() < 0.1, "off-pulse mean {m}, sd {sd}");
        // Not dedispersed: no bright centre.
        let flat = waterfall_data(&mut obs, t_burst, 0.0, 0.004, 16).unwrap();
        assert!(flat.profile[mid] < 0.3 * wf.profile[mid], "DM 0 centre {}", flat.profile[mid]);
    }

    /// An event at the very start reads only what exists: bins before the first sample are 0.
    #[test]
    fn event_at_the_edge_reads_inside_the_observation() {
        let mut obs = burst_obs(0.01, 50.0, 3.0, 6);
        let wf = waterfall_data(&mut obs, 0.01, 50.0, 0.004, 64).unwrap();
        assert_eq!(wf.data.dim(), (64, WATERFALL_NTIME));
        assert_eq!(wf.profile[0], 0.0, "before the first sample");
        assert_eq!(argmax(wf.profile.iter().copied()), WATERFALL_NTIME / 2);
        assert!(waterfall_data(&mut obs, f64::NAN, 50.0, 0.004, 64).is_err());
        assert!(waterfall_data(&mut obs, 1.0, 50.0, 0.004, 0).is_err());
    }
}
