//! FETCH-ready single-pulse cutouts: for one event, the dedispersed frequency–time plane and the
//! DM–time plane around it, written as the HDF5 file `your`'s `Candidate.save_h5` writes and FETCH
//! (Agarwal et al. 2020) classifies.
//!
//! The conventions are those of `your_candmaker.py` (your 0.6), which FETCH's models were trained on:
//! * the time axis is decimated by `width // 2` native samples (1 for a width of 1 or 2 samples)
//!   and cut to [`CUTOUT_NTIME`] = 256 bins with the event in bin 128;
//! * `data_freq_time` is `[time][frequency]`, channels in file order, dedispersed at the event's DM
//!   (delays referred to the highest channel, as the event time `tcand` is), the frequency axis
//!   brought to 256 channels (averaging adjacent channels, or repeating them when there are fewer);
//! * `data_dm_time` is `[dm][time]` over 256 DMs spaced evenly over `0 … 2·DM`, each row the
//!   band-summed series dedispersed at that DM, so a real burst makes a bow tie centred at row
//!   ~128, bin 128;
//! * each plane is normalised by subtracting its median and dividing by its standard deviation;
//! * root attributes `cand_id`, `tcand` (s, at the highest channel), `dm`, `dm_opt` (−1: not
//!   optimised), `snr`, `snr_opt` (−1), `width` (native samples), `label` (0), and the header
//!   values `fch1`, `foff`, `nchans`, `tsamp`, `tstart`, `nspectra`, `nbits`, `source_name`,
//!   `basename`, `filelist`, `filename`.
//!
//! The window is read once, in blocks, into a grid of decimated bins × channels (each channel
//! normalised by its mean and standard deviation over the window); channel delays are rounded to
//! whole decimated bins (at most half a bin, a quarter of the event's width, off). Memory: the grid
//! and its sample counts, `(256 + 2·DM sweep / bin) × nchans × 8` bytes, one read block and the two
//! planes ([`cutout_bytes`]), checked against a budget before reading.
use crate::consts::dispersion_delay_s;
use crate::io::{Header, IoError, Observation};
use crate::rows::SinglePulse;
use ndarray::Array2;
use std::path::Path;

/// Time bins (and DM rows, and channels) of a cutout, FETCH's input size.
pub const CUTOUT_NTIME: usize = 256;

/// One event's planes, ready to write.
#[derive(Debug, Clone)]
pub struct Cutout {
    /// `[256 time][256 frequency]`, normalised (median 0, standard deviation 1).
    pub data_freq_time: Array2<f32>,
    /// `[256 dm][256 time]`, normalised; row `k` at DM `2·dm·k/255`.
    pub data_dm_time: Array2<f32>,
    /// Event time at the highest channel, s from the start (the boxcar's centre).
    pub tcand_s: f64,
    /// DM of the event, pc cm⁻³.
    pub dm: f64,
    /// Width of the event, native samples.
    pub width_samples: u32,
    /// Time decimation, native samples per bin (`max(1, width // 2)`).
    pub decimation: usize,
    /// S/N of the event.
    pub snr: f32,
}

/// Bytes an event's cutout needs ([`make_cutout`]): the window grid and its sample counts
/// (4 + 4 bytes per bin and channel), one read block (4096 spectra of 4-byte samples) and the
/// two 256 × 256 planes.
pub fn cutout_bytes(header: &Header, event: &SinglePulse) -> usize {
    let ds = (event.width_samples as usize / 2).max(1);
    let sweep = dispersion_delay_s(2.0 * event.dm.max(0.0), header.fbottom_mhz(), header.ftop_mhz());
    let nbins = CUTOUT_NTIME + (sweep / (ds as f64 * header.tsamp_s)).ceil() as usize + 2;
    nbins * header.nchans * 8 + 4096 * header.nchans * 4 + 2 * CUTOUT_NTIME * CUTOUT_NTIME * 4
}

/// Normalises `a` in place by its median and standard deviation (`your.utils.math.normalise`);
/// a constant plane becomes all zeros.
fn normalise(a: &mut Array2<f32>) {
    let mut v: Vec<f32> = a.iter().copied().collect();
    let mid = v.len() / 2;
    let median = *v.select_nth_unstable_by(mid, f32::total_cmp).1;
    let n = a.len() as f64;
    let mean = a.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    a.mapv_inplace(|x| if sd > 0.0 { ((x as f64 - median as f64) / sd) as f32 } else { 0.0 });
}

/// Makes the cutout of `event` from `obs` ([module docs](self)).
///
/// # Errors
/// [`IoError::Format`] naming the observation when the event is not usable (non-finite or
/// negative time or DM), the observation has no channels, or the window grid needs more than
/// `max_bytes` ([`cutout_bytes`]); the reader's errors.
pub fn make_cutout(obs: &mut dyn Observation, event: &SinglePulse, max_bytes: usize) -> Result<Cutout, IoError> {
    let h = obs.header().clone();
    let what = obs.source_description();
    if !(event.time_s.is_finite() && event.time_s >= 0.0 && event.dm.is_finite() && event.dm >= 0.0) {
        return Err(IoError::format(&what, format!("event at t = {} s, DM {}: not usable", event.time_s, event.dm)));
    }
    if h.nchans == 0 || !(h.tsamp_s > 0.0) {
        return Err(IoError::format(&what, "no channels or no sampling time: cannot cut out an event"));
    }
    let need = cutout_bytes(&h, event);
    if need > max_bytes {
        return Err(IoError::format(
            &what,
            format!(
                "the cutout of the event at {:.4} s, DM {:.2} needs {} MB for its window; raise --max-memory-mb",
                event.time_s,
                event.dm,
                need.div_ceil(1 << 20)
            ),
        ));
    }
    let nchans = h.nchans;
    let ds = (event.width_samples as usize / 2).max(1);
    let nt = CUTOUT_NTIME;
    let freqs = h.chan_freqs_mhz();
    let ftop = h.ftop_mhz();
    let dt = ds as f64 * h.tsamp_s;
    let width = event.width_samples.max(1) as u64;
    // The boxcar's centre sample; bin `nt/2` of the cutout is centred on it.
    let centre = event.sample + width / 2;
    let tcand = centre as f64 * h.tsamp_s;
    let shift = |dm: f64, f: f64| (dispersion_delay_s(dm, f, ftop) / dt).round() as usize;
    let max_shift = freqs.iter().map(|&f| shift(2.0 * event.dm, f)).max().unwrap_or(0);
    let nbins = nt + max_shift + 1;
    // Grid bin b covers native samples [first + b·ds, first + (b + 1)·ds); bin nt/2 holds `centre`
    // in its middle.
    let first: i64 = centre as i64 - (nt / 2) as i64 * ds as i64 - (ds / 2) as i64;
    let mut grid = Array2::<f32>::zeros((nbins, nchans));
    let mut count = Array2::<u32>::zeros((nbins, nchans));
    let lo = first.max(0) as u64;
    let hi = ((first + (nbins * ds) as i64).max(0) as u64).min(h.nsamples);
    let mut start = lo;
    let mut block = Array2::<f32>::zeros((0, nchans));
    while start < hi {
        let len = (hi - start).min(4096) as usize;
        obs.read_block_into(start, len, &mut block)?;
        for (k, row) in block.rows().into_iter().enumerate() {
            let b = ((start + k as u64) as i64 - first) as usize / ds;
            let mut g = grid.row_mut(b);
            let mut n = count.row_mut(b);
            for c in 0..nchans {
                let v = row[c];
                if v.is_finite() {
                    g[c] += v;
                    n[c] += 1;
                }
            }
        }
        start += len as u64;
    }
    // Bin means, then each channel normalised over the bins that hold data; empty bins stay 0.
    for c in 0..nchans {
        let (mut s, mut s2, mut m) = (0.0f64, 0.0f64, 0usize);
        for b in 0..nbins {
            let n = count[[b, c]];
            if n > 0 {
                let v = grid[[b, c]] as f64 / n as f64;
                grid[[b, c]] = v as f32;
                s += v;
                s2 += v * v;
                m += 1;
            }
        }
        let mean = if m > 0 { s / m as f64 } else { 0.0 };
        let sd = if m > 1 { (s2 / m as f64 - mean * mean).max(0.0).sqrt() } else { 0.0 };
        for b in 0..nbins {
            grid[[b, c]] = if count[[b, c]] > 0 && sd > 1e-12 * mean.abs().max(1.0) {
                ((grid[[b, c]] as f64 - mean) / sd) as f32
            } else {
                0.0
            };
        }
    }
    // Frequency–time at the event's DM, channels brought to nt.
    let shifts: Vec<usize> = freqs.iter().map(|&f| shift(event.dm, f)).collect();
    let group = |o: usize| {
        let c0 = o * nchans / nt;
        let c1 = if nchans >= nt { ((o + 1) * nchans / nt).max(c0 + 1) } else { c0 + 1 };
        (c0, c1)
    };
    let mut ft = Array2::<f32>::zeros((nt, nt));
    for j in 0..nt {
        for o in 0..nt {
            let (c0, c1) = group(o);
            let acc: f32 = (c0..c1).map(|c| grid[[j + shifts[c], c]]).sum();
            ft[[j, o]] = acc / (c1 - c0) as f32;
        }
    }
    // DM–time over 0 … 2·DM.
    let mut dmt = Array2::<f32>::zeros((nt, nt));
    for k in 0..nt {
        let dm_k = 2.0 * event.dm * k as f64 / (nt - 1) as f64;
        let mut row = dmt.row_mut(k);
        for (c, &f) in freqs.iter().enumerate() {
            let s = shift(dm_k, f);
            for j in 0..nt {
                row[j] += grid[[j + s, c]];
            }
        }
    }
    normalise(&mut ft);
    normalise(&mut dmt);
    Ok(Cutout {
        data_freq_time: ft,
        data_dm_time: dmt,
        tcand_s: tcand,
        dm: event.dm,
        width_samples: event.width_samples.max(1),
        decimation: ds,
        snr: event.snr,
    })
}

/// `your`'s candidate id: `cand_tstart_<MJD>_tcand_<s>_dm_<DM>_snr_<S/N>`.
pub fn cand_id(header: &Header, c: &Cutout) -> String {
    format!("cand_tstart_{:.12}_tcand_{:.7}_dm_{:.5}_snr_{:.5}", header.tstart_mjd, c.tcand_s, c.dm, c.snr)
}

/// Writes `cutout` of an observation with `header`, read from `files`, to `path` in `your`'s
/// layout ([module docs](self)), under a temporary name ([`crate::io::output::Staged`], returned
/// uncommitted so a set of cutouts appears together).
///
/// # Errors
/// [`IoError::Format`] naming `path` on an HDF5 error.
pub fn write_cutout_staged(
    path: &Path,
    header: &Header,
    files: &[std::path::PathBuf],
    cutout: &Cutout,
) -> Result<crate::io::output::Staged, IoError> {
    use hdf5::types::VarLenUnicode;
    let staged = crate::io::output::Staged::new(path);
    let write = || -> hdf5::Result<()> {
        let f = hdf5::File::create(staged.tmp())?;
        let s = |k: &str, v: &str| -> hdf5::Result<()> {
            let v: VarLenUnicode = v.replace('\0', " ").parse().unwrap_or_default();
            f.new_attr::<VarLenUnicode>().create(k)?.write_scalar(&v)
        };
        let x = |k: &str, v: f64| -> hdf5::Result<()> { f.new_attr::<f64>().create(k)?.write_scalar(&v) };
        let i = |k: &str, v: i64| -> hdf5::Result<()> { f.new_attr::<i64>().create(k)?.write_scalar(&v) };
        s("cand_id", &cand_id(header, cutout))?;
        x("tcand", cutout.tcand_s)?;
        x("dm", cutout.dm)?;
        x("dm_opt", -1.0)?;
        x("snr", cutout.snr as f64)?;
        x("snr_opt", -1.0)?;
        i("width", cutout.width_samples as i64)?;
        i("label", 0)?;
        x("fch1", header.fch1_mhz)?;
        x("foff", header.foff_mhz)?;
        i("nchans", header.nchans as i64)?;
        x("tsamp", header.tsamp_s)?;
        x("tstart", header.tstart_mjd)?;
        i("nspectra", header.nsamples as i64)?;
        i("nbits", header.nbits as i64)?;
        s("source_name", &header.source_name)?;
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        let first = names.first().cloned().unwrap_or_default();
        let base = Path::new(&first).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        s("basename", &base)?;
        s("filename", &first)?;
        s("filelist", &names.join(","))?;
        i("time_decimation_factor", cutout.decimation as i64)?;
        f.new_dataset_builder().with_data(&cutout.data_freq_time).create("data_freq_time")?;
        f.new_dataset_builder().with_data(&cutout.data_dm_time).create("data_dm_time")?;
        f.flush()
    };
    write().map_err(|e| IoError::format(path, format!("HDF5 error: {}", staged.relabel(&e.to_string()))))?;
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::K_DM;
    use crate::MemoryObservation;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// 128 channels over 1000–1500 MHz, 1 ms, 6 s of unit noise plus a dispersed 4 ms boxcar
    /// burst of `amp` σ per channel-sample, starting at `t0` at the top channel.
    fn burst_obs(t0: f64, dm: f64, amp: f32) -> MemoryObservation {
        let nchans = 128;
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
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let data = Array2::from_shape_fn((6000, nchans), |(i, c)| {
            let z: f32 = StandardNormal.sample(&mut rng);
            let t = i as f64 * 1e-3 - K_DM * dm * (freqs[c].powi(-2) - ftop.powi(-2));
            z + if (t0..t0 + 0.004).contains(&(t + 1e-9)) { amp } else { 0.0 }
        });
        MemoryObservation::new(h, data)
    }

    /// The burst lands straight (same bin in every channel) at bin 128 of the frequency–time plane,
    /// and the DM–time plane peaks at its DM (row ~128 of 0…2·DM) and bin 128: FETCH's bow tie.
    #[test]
    fn burst_is_straight_and_the_bow_tie_is_centred() {
        let (t0, dm) = (2.0, 150.0);
        let mut obs = burst_obs(t0, dm, 1.0);
        let ev = SinglePulse {
            time_s: t0,
            sample: 2000,
            dm,
            width_s: 0.004,
            width_samples: 4,
            snr: 20.0,
            n_members: 1,
            rfi_flag: 0,
        };
        let c = make_cutout(&mut obs, &ev, 1 << 30).unwrap();
        assert_eq!(c.data_freq_time.shape(), &[256, 256]);
        assert_eq!(c.data_dm_time.shape(), &[256, 256]);
        assert_eq!(c.decimation, 2);
        // The 4 ms burst (samples 2000–2003, centre 2002) fills bins 127, 128, 129 of 2 ms with 1, 2
        // and 1 samples; channel delays are rounded to whole bins (±½ bin). Band-summed: bin 128.
        let prof: Vec<f32> = (0..256).map(|j| c.data_freq_time.row(j).sum()).collect();
        let peak = (0..256).max_by(|&a, &b| prof[a].total_cmp(&prof[b])).unwrap();
        assert!((127..=128).contains(&peak), "FT peak at bin {peak}");
        // Every 32-channel quarter of the band peaks within the burst's bins (a straight burst; a
        // swept one would move by tens of bins per quarter: the sweep at DM 150 is 173 bins).
        for q in 0..4 {
            let p: Vec<f32> =
                (0..256).map(|j| c.data_freq_time.row(j).slice(ndarray::s![q * 64..(q + 1) * 64]).sum()).collect();
            let pk = (0..256).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
            assert!((127..=129).contains(&pk), "quarter {q}: peak at bin {pk}");
        }
        let (mut best, mut at) = (f32::MIN, (0, 0));
        for ((k, j), &v) in c.data_dm_time.indexed_iter() {
            if v > best {
                (best, at) = (v, (k, j));
            }
        }
        // Row k is at DM 300·k/255: DM 150 is row 127.5; the DM half-width of a 4 ms burst over this
        // band is ~1 DM unit ≈ 1 row.
        assert!((125..=130).contains(&at.0) && (127..=128).contains(&at.1), "DM–time peak at {at:?}");
        // The DM-0 row has no peak at bin 128: the burst is smeared over the sweep.
        let zero_row_peak = c.data_dm_time.row(0).iter().cloned().fold(f32::MIN, f32::max);
        assert!(zero_row_peak < 0.3 * best, "DM 0 row {zero_row_peak} vs peak {best}");
    }

    /// A window that does not fit the budget is an error naming the need, before any read.
    #[test]
    fn window_over_budget_is_an_error() {
        let mut obs = burst_obs(2.0, 150.0, 1.0);
        let ev = SinglePulse {
            time_s: 2.0,
            sample: 2000,
            dm: 150.0,
            width_s: 0.004,
            width_samples: 4,
            snr: 20.0,
            n_members: 1,
            rfi_flag: 0,
        };
        let e = make_cutout(&mut obs, &ev, 1000).unwrap_err().to_string();
        assert!(e.contains("--max-memory-mb"), "{e}");
    }
}
