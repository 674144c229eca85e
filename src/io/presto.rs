//! PRESTO time series: the `.inf` text that describes a series and the `.dat` file of its samples.
//!
//! A `.dat` holds `N` little-endian 32-bit floats and nothing else; its `.inf` (same base name) holds
//! one `label = value` line per field, with the labels PRESTO's `writeinf` prints (the `=` in
//! column 41), then `Any additional notes:` and free text to the end of the file. PRESTO's FFT tools
//! want an even `N`. Writers other than PRESTO's vary the label spacing (riptide#1, peasoup PR #10),
//! so [`read_inf`] matches each label by its leading words with the spacing collapsed, and
//! [`format_inf`] writes PRESTO's exact spelling and spacing: reading and writing a PRESTO (or
//! sigpyproc) `.inf` gives back the same bytes (test `tests/interop.rs`).
//!
//! Only radio observations are read (`Type of observation (EM band) = Radio`): the other bands
//! have other fields. [`PrestoSeries`] reads a `.dat` as a one-channel [`Observation`], so
//! `tianyan search x.dat` (or `x.inf`) searches a PRESTO series as it searches a `.tim`.
use super::output::Staged;
use super::{Header, IoError, Observation};
use ndarray::Array2;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The fields of a radio `.inf` file (PRESTO's `infodata`, radio fields only).
#[derive(Debug, Clone, PartialEq)]
pub struct Inf {
    /// `Data file name without suffix`: the base name of the `.dat`/`.inf` pair.
    pub basename: String,
    /// `Telescope used` (e.g. `FAST`, `GBT`).
    pub telescope: String,
    /// `Instrument used`.
    pub instrument: String,
    /// `Object being observed`.
    pub object: String,
    /// `J2000 Right Ascension (hh:mm:ss.ssss)`, as written.
    pub ra: String,
    /// `J2000 Declination     (dd:mm:ss.ssss)`, as written.
    pub dec: String,
    /// `Data observed by`.
    pub observer: String,
    /// `Epoch of observation (MJD)`: integer day.
    pub epoch_mjd_int: i64,
    /// `Epoch of observation (MJD)`: fraction of the day in [0, 1) (PRESTO prints 15 decimals).
    pub epoch_mjd_frac: f64,
    /// `Barycentered?           (1 yes, 0 no)`.
    pub barycentred: bool,
    /// `Number of bins in the time series`: samples in the `.dat`.
    pub nsamples: u64,
    /// `Width of each time series bin (sec)`: sampling time, s.
    pub tsamp_s: f64,
    /// `On/Off bin pair #N` lines (first and last sample of each stretch of real data), present
    /// when `Any breaks in the data?` is 1; empty otherwise.
    pub onoff: Vec<(u64, u64)>,
    /// `Beam diameter (arcsec)`.
    pub beam_diameter_arcsec: f64,
    /// `Dispersion measure (cm-3 pc)`: the DM the series was dedispersed at.
    pub dm: f64,
    /// `Central freq of low channel (MHz)`.
    pub lofreq_mhz: f64,
    /// `Total bandwidth (MHz)`.
    pub bandwidth_mhz: f64,
    /// `Number of channels`.
    pub nchans: u64,
    /// `Channel bandwidth (MHz)` (positive).
    pub chan_bw_mhz: f64,
    /// `Data analyzed by`.
    pub analyser: String,
    /// Everything after the `Any additional notes:` line, verbatim (newlines included).
    pub notes: String,
}

impl Inf {
    /// Epoch of the first sample, MJD (as one `f64`: about 1 µs resolution at today's MJDs).
    pub fn epoch_mjd(&self) -> f64 {
        self.epoch_mjd_int as f64 + self.epoch_mjd_frac
    }

    /// The `.inf` of a dedispersed series of `nsamples` samples of `tsamp_s` s at `dm`, made
    /// from the observation `header` it came from, with base name `basename`. Unknown values
    /// are PRESTO's `unset`; the beam diameter is 0 (not known from a SIGPROC header).
    pub fn for_series(header: &Header, basename: &str, nsamples: u64, tsamp_s: f64, dm: f64, notes: &str) -> Inf {
        let telescope = super::psrfits::telescope_name(header.telescope_id).unwrap_or("unset").to_string();
        let ra =
            header.src_raj.map_or_else(|| "00:00:00.0000".into(), |v| super::psrfits::sigproc_to_sexagesimal(v, false));
        let dec =
            header.src_dej.map_or_else(|| "00:00:00.0000".into(), |v| super::psrfits::sigproc_to_sexagesimal(v, false));
        let mjd = header.tstart_mjd;
        let (int, frac) = (mjd.floor(), mjd - mjd.floor());
        let nchans = header.nchans.max(1) as u64;
        let chan_bw = header.chan_bw_mhz().abs();
        Inf {
            basename: basename.into(),
            telescope,
            instrument: "unset".into(),
            object: if header.source_name.is_empty() { "unset".into() } else { header.source_name.clone() },
            ra,
            dec,
            observer: "unset".into(),
            epoch_mjd_int: int as i64,
            epoch_mjd_frac: frac,
            barycentred: header.barycentric.unwrap_or(0) == 1,
            nsamples,
            tsamp_s,
            onoff: Vec::new(),
            beam_diameter_arcsec: 0.0,
            dm,
            lofreq_mhz: header.fbottom_mhz(),
            bandwidth_mhz: chan_bw * nchans as f64,
            nchans,
            chan_bw_mhz: chan_bw,
            analyser: "tianyan".into(),
            notes: if notes.is_empty() { String::new() } else { format!("    {}\n", notes.trim_end()) },
        }
    }

    /// The header of the series as tianyan's one-channel observation: `fch1` the centre of the
    /// highest channel of the original band (tianyan's dispersion reference), `foff` minus the
    /// channel width, `refdm` the DM, 32-bit samples, `data_type` 2.
    pub fn header(&self) -> Header {
        let ftop = self.lofreq_mhz + (self.nchans.max(1) - 1) as f64 * self.chan_bw_mhz;
        Header {
            source_name: if self.object == "unset" { String::new() } else { self.object.clone() },
            telescope_id: super::psrfits::telescope_id(&self.telescope),
            data_type: 2,
            tstart_mjd: self.epoch_mjd(),
            tsamp_s: self.tsamp_s,
            fch1_mhz: ftop,
            foff_mhz: -self.chan_bw_mhz,
            nchans: 1,
            nbits: 32,
            nifs: 1,
            nsamples: self.nsamples,
            src_raj: super::psrfits::sexagesimal_to_sigproc(&self.ra),
            src_dej: super::psrfits::sexagesimal_to_sigproc(&self.dec),
            refdm: Some(self.dm),
            barycentric: Some(self.barycentred as i32),
            ..Header::default()
        }
    }
}

/// `x` as C's `%g` with the shortest digits that read back to the same `f64` (Python's `repr`):
/// plain digits for decimal exponents −4 … 15, else `d.ddde±XX`. PRESTO-family writers print the
/// `.inf` numbers this way (`0.00016384`, `7.2e-05`, `200`).
pub fn fmt_shortest_g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let e = format!("{x:e}"); // shortest round-trip digits, e.g. "7.2e-5"
    let (mant, exp) = e.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    if (-4..16).contains(&exp) {
        format!("{x}")
    } else {
        format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

/// One `.inf` line: a space, the label padded to 39 characters, `=  `, the value.
fn inf_line(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!(" {label:<39}=  {value}\n"));
}

/// The text of `inf` in PRESTO's layout (labels, spacing and number formats of `writeinf`).
pub fn format_inf(inf: &Inf) -> String {
    let mut s = String::new();
    inf_line(&mut s, "Data file name without suffix", &inf.basename);
    inf_line(&mut s, "Telescope used", &inf.telescope);
    inf_line(&mut s, "Instrument used", &inf.instrument);
    inf_line(&mut s, "Object being observed", &inf.object);
    inf_line(&mut s, "J2000 Right Ascension (hh:mm:ss.ssss)", &inf.ra);
    inf_line(&mut s, "J2000 Declination     (dd:mm:ss.ssss)", &inf.dec);
    inf_line(&mut s, "Data observed by", &inf.observer);
    let frac = format!("{:.15}", inf.epoch_mjd_frac);
    let frac = frac.strip_prefix('0').unwrap_or(&frac);
    inf_line(&mut s, "Epoch of observation (MJD)", &format!("{}{frac}", inf.epoch_mjd_int));
    inf_line(&mut s, "Barycentered?           (1 yes, 0 no)", if inf.barycentred { "1" } else { "0" });
    inf_line(&mut s, "Number of bins in the time series", &format!("{:<11}", inf.nsamples));
    inf_line(&mut s, "Width of each time series bin (sec)", &fmt_shortest_g(inf.tsamp_s));
    inf_line(&mut s, "Any breaks in the data? (1 yes, 0 no)", if inf.onoff.is_empty() { "0" } else { "1" });
    for (i, (on, off)) in inf.onoff.iter().enumerate() {
        inf_line(&mut s, &format!("On/Off bin pair #{:3}", i + 1), &format!("{on:<11}, {off:<11}"));
    }
    inf_line(&mut s, "Type of observation (EM band)", "Radio");
    inf_line(&mut s, "Beam diameter (arcsec)", &fmt_shortest_g(inf.beam_diameter_arcsec));
    inf_line(&mut s, "Dispersion measure (cm-3 pc)", &fmt_shortest_g(inf.dm));
    inf_line(&mut s, "Central freq of low channel (MHz)", &fmt_shortest_g(inf.lofreq_mhz));
    inf_line(&mut s, "Total bandwidth (MHz)", &fmt_shortest_g(inf.bandwidth_mhz));
    inf_line(&mut s, "Number of channels", &inf.nchans.to_string());
    inf_line(&mut s, "Channel bandwidth (MHz)", &fmt_shortest_g(inf.chan_bw_mhz));
    inf_line(&mut s, "Data analyzed by", &inf.analyser);
    s.push_str(" Any additional notes:\n");
    s.push_str(&inf.notes);
    s
}

/// Parses the text of a `.inf` file (`path` names it in errors).
///
/// Labels are matched by their leading words with runs of spaces collapsed, so other writers'
/// spacing is accepted. `Number of bins in the time series` and `Width of each time series bin`
/// are required; other missing fields keep neutral values (`unset`, 0).
///
/// # Errors
/// [`IoError::Format`] naming `path` and the label for a missing required field, a value that is
/// not a number, a sampling time that is not positive, zero samples, or a non-radio EM band.
pub fn parse_inf(text: &str, path: &Path) -> Result<Inf, IoError> {
    let mut inf = Inf {
        basename: String::new(),
        telescope: "unset".into(),
        instrument: "unset".into(),
        object: "unset".into(),
        ra: "00:00:00.0000".into(),
        dec: "00:00:00.0000".into(),
        observer: "unset".into(),
        epoch_mjd_int: 0,
        epoch_mjd_frac: 0.0,
        barycentred: false,
        nsamples: 0,
        tsamp_s: 0.0,
        onoff: Vec::new(),
        beam_diameter_arcsec: 0.0,
        dm: 0.0,
        lofreq_mhz: 0.0,
        bandwidth_mhz: 0.0,
        nchans: 1,
        chan_bw_mhz: 0.0,
        analyser: "unset".into(),
        notes: String::new(),
    };
    let (mut have_n, mut have_dt) = (false, false);
    let bad = |label: &str, value: &str| IoError::format(path, format!("`{label}` = '{value}' is not a valid value"));
    let num = |label: &str, v: &str| -> Result<f64, IoError> {
        v.trim().parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| bad(label, v))
    };
    let int = |label: &str, v: &str| -> Result<u64, IoError> {
        let x = num(label, v)?;
        if x < 0.0 || x.fract() != 0.0 || x > 9.0e15 {
            return Err(bad(label, v));
        }
        Ok(x as u64)
    };
    let mut rest = text;
    while !rest.is_empty() {
        let (line, next) = match rest.find('\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        rest = next;
        let key_all: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if key_all.starts_with("Any additional notes") {
            inf.notes = rest.to_string();
            break;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue; // blank or free-text lines before the notes
        };
        let key: String = key.split_whitespace().collect::<Vec<_>>().join(" ");
        let v = value.trim();
        let k = key.as_str();
        if k.starts_with("Data file name") {
            inf.basename = v.into();
        } else if k.starts_with("Telescope used") {
            inf.telescope = v.into();
        } else if k.starts_with("Instrument used") {
            inf.instrument = v.into();
        } else if k.starts_with("Object being observed") {
            inf.object = v.into();
        } else if k.starts_with("J2000 Right Ascension") {
            inf.ra = v.into();
        } else if k.starts_with("J2000 Declination") {
            inf.dec = v.into();
        } else if k.starts_with("Data observed by") {
            inf.observer = v.into();
        } else if k.starts_with("Epoch of observation") {
            let (i, f) = v.split_once('.').unwrap_or((v, "0"));
            inf.epoch_mjd_int = i.trim().parse().map_err(|_| bad(k, v))?;
            inf.epoch_mjd_frac = format!("0.{f}").parse().map_err(|_| bad(k, v))?;
        } else if k.starts_with("Barycentered?") {
            inf.barycentred = int(k, v)? == 1;
        } else if k.starts_with("Number of bins in the time series") {
            inf.nsamples = int(k, v)?;
            have_n = true;
        } else if k.starts_with("Width of each time series bin") {
            inf.tsamp_s = num(k, v)?;
            have_dt = true;
        } else if k.starts_with("Any breaks in the data?") {
            // The On/Off lines that follow say where.
        } else if k.starts_with("On/Off bin pair") {
            let (a, b) = v.split_once(',').ok_or_else(|| bad(k, v))?;
            inf.onoff.push((int(k, a)?, int(k, b)?));
        } else if k.starts_with("Type of observation") {
            if !v.eq_ignore_ascii_case("radio") {
                return Err(IoError::format(
                    path,
                    format!("is a PRESTO .inf of a '{v}' observation; only radio series are read"),
                ));
            }
        } else if k.starts_with("Beam diameter") {
            inf.beam_diameter_arcsec = num(k, v)?;
        } else if k.starts_with("Dispersion measure") {
            inf.dm = num(k, v)?;
        } else if k.starts_with("Central freq of low channel") {
            inf.lofreq_mhz = num(k, v)?;
        } else if k.starts_with("Total bandwidth") {
            inf.bandwidth_mhz = num(k, v)?;
        } else if k.starts_with("Number of channels") {
            inf.nchans = int(k, v)?;
        } else if k.starts_with("Channel bandwidth") {
            inf.chan_bw_mhz = num(k, v)?.abs();
        } else if k.starts_with("Data analyzed by") {
            inf.analyser = v.into();
        }
    }
    if !have_n || !have_dt {
        let missing = if !have_n { "Number of bins in the time series" } else { "Width of each time series bin (sec)" };
        return Err(IoError::format(path, format!("not a PRESTO .inf file: no `{missing}` line")));
    }
    if !(inf.tsamp_s > 0.0) {
        return Err(IoError::format(path, format!("sampling time {} s is not positive", inf.tsamp_s)));
    }
    if inf.nsamples == 0 {
        return Err(IoError::format(path, "the time series has no samples (Number of bins = 0)"));
    }
    Ok(inf)
}

/// Reads and parses a `.inf` file ([`parse_inf`]).
///
/// # Errors
/// [`IoError::Os`] when it cannot be read, [`IoError::Format`] when it is larger than 1 MiB, not
/// UTF-8 text, or not a valid radio `.inf`.
pub fn read_inf(path: &Path) -> Result<Inf, IoError> {
    super::check_regular_file(path)?;
    let len = std::fs::metadata(path).map_err(|e| IoError::os(path, e))?.len();
    if len > 1 << 20 {
        return Err(IoError::format(path, format!("is {len} bytes: too large for a PRESTO .inf file")));
    }
    let bytes = std::fs::read(path).map_err(|e| IoError::os(path, e))?;
    let text =
        String::from_utf8(bytes).map_err(|_| IoError::format(path, "is not a text file (PRESTO .inf expected)"))?;
    parse_inf(&text, path)
}

/// The `.dat` and `.inf` paths of a PRESTO series given either of them, its `.fft`, or the
/// base name.
pub fn pair_paths(path: &Path) -> (PathBuf, PathBuf) {
    let base = match path.extension().and_then(|e| e.to_str()) {
        Some("dat") | Some("inf") | Some("fft") => path.with_extension(""),
        _ => path.to_path_buf(),
    };
    let add = |ext: &str| {
        let mut s = base.clone().into_os_string();
        s.push(".");
        s.push(ext);
        PathBuf::from(s)
    };
    (add("dat"), add("inf"))
}

/// A PRESTO `.dat` time series read in blocks as a one-channel observation ([`Inf::header`]).
pub struct PrestoSeries {
    dat: PathBuf,
    file: std::fs::File,
    header: Header,
    inf: Inf,
    raw: Vec<u8>,
}

impl PrestoSeries {
    /// Opens the series named by `path` (its `.dat`, its `.inf` or the base name).
    ///
    /// # Errors
    /// Those of [`read_inf`]; [`IoError::Format`] naming the `.dat` when its size is not
    /// 4 × `Number of bins` bytes.
    pub fn open(path: &Path) -> Result<PrestoSeries, IoError> {
        let (dat, inf_path) = pair_paths(path);
        if !inf_path.exists() {
            return Err(IoError::format(
                path,
                format!("a PRESTO .dat needs its .inf beside it: {} is missing", inf_path.display()),
            ));
        }
        let inf = read_inf(&inf_path)?;
        super::check_regular_file(&dat)?;
        let file = std::fs::File::open(&dat).map_err(|e| IoError::os(&dat, e))?;
        let len = file.metadata().map_err(|e| IoError::os(&dat, e))?.len();
        if len != 4 * inf.nsamples {
            return Err(IoError::format(
                &dat,
                format!(
                    "holds {len} bytes, but {} says {} samples of 4 bytes ({} bytes)",
                    inf_path.display(),
                    inf.nsamples,
                    4 * inf.nsamples
                ),
            ));
        }
        let header = inf.header();
        Ok(PrestoSeries { dat, file, header, inf, raw: Vec::new() })
    }

    /// The parsed `.inf`.
    pub fn inf(&self) -> &Inf {
        &self.inf
    }

    /// Reads the whole series.
    ///
    /// # Errors
    /// [`IoError::Os`] naming the `.dat` on a read failure.
    pub fn read_all(&mut self) -> Result<Vec<f32>, IoError> {
        let n = self.header.nsamples as usize;
        let a = self.read_block(0, n)?;
        Ok(a.into_raw_vec_and_offset().0)
    }
}

impl Observation for PrestoSeries {
    fn header(&self) -> &Header {
        &self.header
    }

    fn read_block(&mut self, start_sample: u64, nsamples: usize) -> Result<Array2<f32>, IoError> {
        let mut out = Array2::zeros((0, 1));
        self.read_block_into(start_sample, nsamples, &mut out)?;
        Ok(out)
    }

    fn read_block_into(&mut self, start_sample: u64, nsamples: usize, out: &mut Array2<f32>) -> Result<(), IoError> {
        IoError::check_range(&self.dat, start_sample, nsamples, self.header.nsamples)?;
        self.raw.resize(4 * nsamples, 0);
        self.file.seek(SeekFrom::Start(4 * start_sample)).map_err(|e| IoError::os(&self.dat, e))?;
        self.file.read_exact(&mut self.raw).map_err(|e| IoError::os(&self.dat, e))?;
        super::reshape_reuse(out, nsamples, 1);
        for (o, b) in out.iter_mut().zip(self.raw.chunks_exact(4)) {
            *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(())
    }

    fn source_description(&self) -> String {
        self.dat.display().to_string()
    }
}

/// Writes a series as a PRESTO pair `<base>.dat` + `<base>.inf`, both staged (to be committed
/// together with [`crate::io::output::OutputSet`]). `inf.nsamples` must equal `data.len()`.
///
/// # Errors
/// [`IoError::Format`] when the lengths differ; [`IoError::Os`] naming the file on a write error.
pub fn write_series_staged(base: &Path, inf: &Inf, data: &[f32]) -> Result<(Staged, Staged), IoError> {
    let (dat, inf_path) = pair_paths(base);
    if inf.nsamples != data.len() as u64 {
        return Err(IoError::format(&dat, format!("{} samples given but the .inf says {}", data.len(), inf.nsamples)));
    }
    let sd = Staged::new(&dat);
    {
        let f = std::fs::File::create(sd.tmp()).map_err(|e| IoError::os(&dat, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        for v in data {
            w.write_all(&v.to_le_bytes()).map_err(|e| IoError::os(&dat, e))?;
        }
        w.flush().map_err(|e| IoError::os(&dat, e))?;
    }
    let si = Staged::new(&inf_path);
    std::fs::write(si.tmp(), format_inf(inf)).map_err(|e| IoError::os(&inf_path, e))?;
    Ok((sd, si))
}

/// Reads a PRESTO `.fft` (the real FFT of a series: `N/2` complex `f32` pairs, bin 0 holding DC in
/// its real part and the Nyquist bin in its imaginary part; forward transform `Σ x_n e^{−2πikn/N}`,
/// unnormalised, as numpy's `rfft`, checked on the shared `GBT_J1807-0847.fft` against its `.dat`)
/// with its `.inf`, and returns the series it transforms (inverse real FFT, divided by `N`) as a
/// one-channel observation, so `tianyan search x.fft` searches it like the `.dat`. The whole
/// series is held in memory (`4 N` bytes, as the `.fft` itself).
///
/// # Errors
/// Those of [`read_inf`]; [`IoError::Format`] naming the `.fft` when the `.inf` is missing, `N` is
/// odd, or the file is not `4 N` bytes.
pub fn open_fft(path: &Path) -> Result<crate::io::memory::MemoryObservation, IoError> {
    let (_, inf_path) = pair_paths(path);
    if !inf_path.exists() {
        return Err(IoError::format(
            path,
            format!("a PRESTO .fft needs its .inf beside it: {} is missing", inf_path.display()),
        ));
    }
    let inf = read_inf(&inf_path)?;
    super::check_regular_file(path)?;
    let n = inf.nsamples as usize;
    if n % 2 != 0 {
        return Err(IoError::format(
            path,
            format!("{} says {n} samples: a PRESTO .fft needs an even length", inf_path.display()),
        ));
    }
    let len = std::fs::metadata(path).map_err(|e| IoError::os(path, e))?.len();
    if len != 4 * n as u64 {
        return Err(IoError::format(
            path,
            format!(
                "holds {len} bytes, but {} says {n} samples ({} bytes of N/2 complex values)",
                inf_path.display(),
                4 * n
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| IoError::os(path, e))?;
    let v: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let half = n / 2;
    let mut spec: Vec<num_complex::Complex32> = (0..=half)
        .map(|k| match k {
            0 => num_complex::Complex32::new(v[0], 0.0),
            k if k == half => num_complex::Complex32::new(v[1], 0.0),
            k => num_complex::Complex32::new(v[2 * k], v[2 * k + 1]),
        })
        .collect();
    let mut planner = realfft::RealFftPlanner::<f32>::new();
    let c2r = planner.plan_fft_inverse(n);
    let mut series = vec![0f32; n];
    c2r.process(&mut spec, &mut series).map_err(|e| IoError::format(path, format!("inverse FFT: {e}")))?;
    let scale = 1.0 / n as f32;
    let data = ndarray::Array2::from_shape_fn((n, 1), |(i, _)| series[i] * scale);
    Ok(crate::io::memory::MemoryObservation::new(inf.header(), data).with_description(path.display().to_string()))
}
