//! Files for other tools (issue 16): PRESTO `.inf`/`.dat` series read and written exactly, searched
//! like any series; candidate tables exported as PulsarX candfiles, heimdall `.cand` and PRESTO
//! `.singlepulse` / ACCEL-style text, each read back and compared with the HDF5 rows.
mod common;

use std::path::{Path, PathBuf};
use tianyan::io::candidates::{read_candidates, read_single_pulses};
use tianyan::io::presto::{format_inf, read_inf, PrestoSeries};
use tianyan::io::sigproc::read_tim;
use tianyan::Observation;

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn run_ok(args: &[&str]) -> String {
    let out = common::tianyan(args);
    assert!(out.status.success(), "tianyan {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The two PRESTO series of the shared data (sigpyproc3's test files, PROVENANCE.md) read into
/// their fields and written back give the same bytes, spacing and number formats included
/// (`0.00016384`, `7.2e-05`, the 15-decimal epoch, the padded bin count, the notes).
#[test]
fn presto_inf_files_read_back_exactly() {
    for name in ["sigpyproc3/GBT_J1807-0847.inf", "sigpyproc3/Lband_DM0.00.inf"] {
        let Some(p) = common::shared_data(name) else { return };
        let text = std::fs::read_to_string(&p).unwrap();
        let inf = read_inf(&p).unwrap();
        assert_eq!(format_inf(&inf), text, "{name}");
    }
    let p = common::shared_data("sigpyproc3/GBT_J1807-0847.inf").unwrap();
    let inf = read_inf(&p).unwrap();
    assert_eq!((inf.nsamples, inf.tsamp_s, inf.dm, inf.nchans), (131072, 0.00016384, 112.3802, 256));
    assert_eq!((inf.epoch_mjd_int, inf.lofreq_mhz, inf.bandwidth_mhz), (59313, 720.78125, 200.0));
    assert!((inf.epoch_mjd_frac - 0.309837974340741).abs() < 1e-15);
}

/// Other writers' label spacing is accepted (riptide#1: keyed parsers broke on it), and a bad or
/// missing required value is an error naming the file and the label.
#[test]
fn presto_inf_parsing_is_lenient_in_spacing_and_strict_in_values() {
    let p = Path::new("x.inf");
    let squeezed = " Number of bins in the time series = 1000\n Width of each time series bin (sec) =  1e-3\n Dispersion measure (cm-3 pc)  = 5.5\n";
    let inf = tianyan::io::presto::parse_inf(squeezed, p).unwrap();
    assert_eq!((inf.nsamples, inf.tsamp_s, inf.dm), (1000, 1e-3, 5.5));
    let e = tianyan::io::presto::parse_inf(" Width of each time series bin (sec) = 1e-3\n", p).unwrap_err().to_string();
    assert!(e.contains("x.inf") && e.contains("Number of bins"), "{e}");
    let e = tianyan::io::presto::parse_inf(&squeezed.replace("1e-3", "fast"), p).unwrap_err().to_string();
    assert!(e.contains("x.inf") && e.contains("Width of each time series bin") && e.contains("fast"), "{e}");
}

/// A `.dat` reads as its little-endian `f32` bytes, block by block as whole (the first values
/// as numpy's `fromfile(dtype="<f4")` prints them: 444259, 445709, 445747), and a `.dat` whose size
/// disagrees with its `.inf`, or that has no `.inf`, is an error naming both.
#[test]
fn presto_dat_reads_its_samples_and_checks_its_length() {
    let Some(dat) = common::shared_data("sigpyproc3/GBT_J1807-0847.dat") else { return };
    let mut series = PrestoSeries::open(&dat).unwrap();
    assert_eq!(series.header().nchans, 1);
    assert_eq!(series.header().refdm, Some(112.3802));
    let x = series.read_all().unwrap();
    assert_eq!(x.len(), 131072);
    assert_eq!(&x[..3], &[444259.0, 445709.0, 445747.0]);
    let bytes = std::fs::read(&dat).unwrap();
    let want: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(x, want);
    let block = series.read_block(1000, 5000).unwrap();
    assert_eq!(block.shape(), &[5000, 1]);
    assert_eq!(block.as_slice().unwrap(), &want[1000..6000]);
    // A truncated copy: the error names the .dat and the .inf.
    let tmp = tempfile::tempdir().unwrap();
    let d2 = tmp.path().join("cut.dat");
    std::fs::write(&d2, &std::fs::read(&dat).unwrap()[..4000]).unwrap();
    std::fs::copy(dat.with_extension("inf"), tmp.path().join("cut.inf")).unwrap();
    let e = PrestoSeries::open(&d2).err().expect("a short .dat is refused").to_string();
    assert!(e.contains("cut.dat") && e.contains("cut.inf") && e.contains("131072"), "{e}");
    std::fs::remove_file(tmp.path().join("cut.inf")).unwrap();
    let e = PrestoSeries::open(&d2).err().expect("a .dat without .inf is refused").to_string();
    assert!(e.contains("cut.inf") && e.contains("missing"), "{e}");
}

/// `tianyan search x.dat` searches the PRESTO series at its DM and finds J1807−0847 at its
/// period (163.73 ms; PROVENANCE.md: P0 ≈ 0.1637275 s), with the DM of the `.inf`.
#[test]
fn search_reads_a_presto_series() {
    let Some(dat) = common::shared_data("sigpyproc3/GBT_J1807-0847.dat") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let h5 = tmp.path().join("c.h5");
    run_ok(&["search", s(&dat), "-o", s(&h5)]);
    let c = &read_candidates(&h5).unwrap()[0];
    assert!((c.period_s - 0.163735).abs() < 2e-5, "period {}", c.period_s);
    assert_eq!(c.dm, 112.3802);
    assert!(c.sigma > 50.0, "sigma {}", c.sigma);
    // A one-channel series has no band to measure a sweep across: its pulses (the pulsar's, at
    // DM 112) are not flagged as DM-0 RFI (they all were, before).
    let sp = read_single_pulses(&h5).unwrap();
    assert!(!sp.is_empty() && sp.iter().all(|p| p.rfi_flag == 0 && p.dm == 112.3802));
}

/// `dedisperse --format presto` writes `.dat` + `.inf` pairs holding exactly the samples of the
/// `.tim` series of the same run (less the last one when the length is odd), with the trial's
/// DM, the sampling time and the band in the `.inf`; an even length; every pair or none.
#[test]
fn dedisperse_presto_pairs_equal_the_sigproc_series() {
    let tmp = tempfile::tempdir().unwrap();
    let fil = tmp.path().join("obs.fil");
    run_ok(&[
        "simulate",
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "64",
        "--duration",
        "8",
        "--seed",
        "16",
        "--pulsar",
        "period=0.25,dm=30,snr=30",
        "-o",
        s(&fil),
    ]);
    let (tims, prestos) = (tmp.path().join("tims"), tmp.path().join("presto"));
    let common_args = ["--dm-min", "20", "--dm-max", "40", "--dm-step", "5", "--dedisp", "direct"];
    let mut a = vec!["dedisperse", s(&fil), "-o", s(&tims)];
    a.extend(common_args);
    run_ok(&a);
    let mut b = vec!["dedisperse", s(&fil), "-o", s(&prestos), "--format", "presto"];
    b.extend(common_args);
    run_ok(&b);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&prestos).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    assert_eq!(names.len(), 10, "5 trials × (.dat + .inf): {names:?}");
    for dm in ["20.00", "25.00", "30.00", "35.00", "40.00"] {
        let (_, y) = read_tim(&tims.join(format!("obs_DM{dm}.tim"))).unwrap();
        let dat = prestos.join(format!("obs_DM{dm}.dat"));
        let mut series = PrestoSeries::open(&dat).unwrap();
        let x = series.read_all().unwrap();
        assert_eq!(x.len() % 2, 0, "even length");
        assert_eq!(x.len(), y.len() - y.len() % 2);
        assert_eq!(&x[..], &y[..x.len()], "DM {dm}");
        let inf = series.inf();
        assert_eq!(inf.dm, dm.parse::<f64>().unwrap());
        assert_eq!(inf.basename, format!("obs_DM{dm}"));
        assert_eq!(inf.nchans, 64);
        assert!((inf.lofreq_mhz + (inf.nchans - 1) as f64 * inf.chan_bw_mhz - 1500.0).abs() < 8.0);
        assert!(inf.analyser == "tianyan" && inf.notes.contains("Dedispersed by tianyan"));
    }
}

/// The exports carry the HDF5 rows: PulsarX ids from 1 with F0 at the start of the series and
/// S/N; heimdall's 9 tab-separated columns with the events' S/N and DM; PRESTO's `.singlepulse`
/// DM/S/N/downfact; the ACCEL-style summary's period and sigma. An existing file of another kind is
/// never replaced, and the presto pair appears together.
#[test]
fn candidate_exports_carry_the_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let fil = tmp.path().join("obs.fil");
    run_ok(&[
        "simulate",
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "64",
        "--duration",
        "10",
        "--seed",
        "17",
        "--pulsar",
        "period=0.25,dm=30,snr=30",
        "--burst",
        "time=4,dm=60,snr=40,width=0.005",
        "-o",
        s(&fil),
    ]);
    let h5 = tmp.path().join("c.h5");
    run_ok(&["search", s(&fil), "-o", s(&h5), "--dm-max", "100"]);
    let cands: Vec<_> = read_candidates(&h5).unwrap().into_iter().filter(|c| c.harmonic_of < 0).collect();
    let pulses: Vec<_> = read_single_pulses(&h5).unwrap().into_iter().filter(|p| p.rfi_flag == 0).collect();
    assert!(!cands.is_empty() && !pulses.is_empty());

    let px = run_ok(&["candidates", s(&h5), "--format", "pulsarx", "--top", "0"]);
    let lines: Vec<&str> = px.lines().collect();
    assert_eq!(lines[0], "#id dm acc F0 F1 S/N");
    assert_eq!(lines.len(), cands.len() + 1);
    for (i, (line, c)) in lines[1..].iter().zip(&cands).enumerate() {
        let v: Vec<f64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        assert_eq!(v.len(), 6);
        assert_eq!(v[0], (i + 1) as f64);
        assert!((v[1] - c.dm).abs() < 1e-4 && (v[3] - c.frequency_hz).abs() < 1e-9 && v[4] == 0.0);
        assert!((v[5] - c.snr as f64).abs() < 0.006);
    }

    let hd = run_ok(&["candidates", s(&h5), "--format", "heimdall", "--top", "0"]);
    assert_eq!(hd.lines().count(), pulses.len());
    for (line, p) in hd.lines().zip(&pulses) {
        let v: Vec<&str> = line.split('\t').collect();
        assert_eq!(v.len(), 9, "{line}");
        assert!((v[0].parse::<f64>().unwrap() - p.snr as f64).abs() < 1e-3);
        assert!((v[5].parse::<f64>().unwrap() - p.dm).abs() < 1e-3);
        assert_eq!(v[7].parse::<u64>().unwrap(), p.sample);
    }

    // An existing file of another kind is not replaced; the presto pair appears together.
    let other = tmp.path().join("notes.txt");
    std::fs::write(&other, "my notes\n").unwrap();
    let out = common::tianyan(&["candidates", s(&h5), "--format", "pulsarx", "-o", s(&other)]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("notes.txt"));
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "my notes\n");
    let base = tmp.path().join("obs");
    run_ok(&["candidates", s(&h5), "--format", "presto", "-o", s(&base), "--top", "0"]);
    let sp = std::fs::read_to_string(tmp.path().join("obs.singlepulse")).unwrap();
    assert_eq!(sp.lines().next(), Some(tianyan::io::export::SINGLEPULSE_HEADER));
    assert_eq!(sp.lines().count(), pulses.len() + 1);
    let first: Vec<f64> = sp.lines().nth(1).unwrap().split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!((first[0] - pulses[0].dm).abs() < 0.006 && (first[1] - pulses[0].snr as f64).abs() < 0.006);
    assert_eq!(first[4], pulses[0].width_samples as f64);
    let acc = std::fs::read_to_string(tmp.path().join("obs_ACCEL.txt")).unwrap();
    let row: Vec<f64> = acc.lines().nth(1).unwrap().split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!((row[1] - cands[0].sigma as f64).abs() < 0.006 && (row[4] - cands[0].period_s * 1e3).abs() < 1e-6);
    // Re-exporting replaces the tool's own files.
    run_ok(&["candidates", s(&h5), "--format", "presto", "-o", s(&base), "--top", "1"]);
    assert_eq!(std::fs::read_to_string(tmp.path().join("obs.singlepulse")).unwrap().lines().count(), 2);
}

/// riptide's end-to-end FFA pipeline (`rffa`, riptide-ffa from PyPI) searches the PRESTO series
/// `dedisperse --format presto` writes and finds the injected pulsar at its period and DM, at an
/// S/N near the injected one (measured: P 0.300017 s, DM 30, S/N 24.6 for an injected 25; the
/// bound of 15 allows riptide's dereddening and width-grid losses with a wide margin).
/// Skipped when `rffa` is not installed, except under `CI=true` (`make test` installs it).
#[test]
fn riptide_finds_the_pulsar_in_presto_series() {
    let have = common::command("rffa").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    if !have {
        assert!(
            std::env::var("CI").map(|v| v != "true").unwrap_or(true),
            "CI=true but riptide's rffa is not installed"
        );
        eprintln!("SKIP: riptide's rffa not installed (pip install riptide-ffa)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fil = tmp.path().join("obs.fil");
    run_ok(&[
        "simulate",
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "64",
        "--duration",
        "20",
        "--seed",
        "18",
        "--pulsar",
        "period=0.3,dm=30,snr=25",
        "-o",
        s(&fil),
    ]);
    let dat = tmp.path().join("dat");
    run_ok(&[
        "dedisperse",
        s(&fil),
        "-o",
        s(&dat),
        "--format",
        "presto",
        "--dm-min",
        "25",
        "--dm-max",
        "35",
        "--dm-step",
        "5",
    ]);
    let cfg = tmp.path().join("rffa.yaml");
    std::fs::write(&cfg, RFFA_CONFIG).unwrap();
    let out_dir = tmp.path().join("rffa_out");
    std::fs::create_dir(&out_dir).unwrap();
    let mut infs: Vec<String> = std::fs::read_dir(&dat)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "inf"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    infs.sort();
    assert_eq!(infs.len(), 3);
    let out = common::command("rffa")
        .args(["-c", s(&cfg), "-o", s(&out_dir), "--log-level", "WARNING"])
        .args(&infs)
        .output()
        .unwrap();
    assert!(out.status.success(), "rffa: {}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(out_dir.join("candidates.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("period,freq,dm,width,ducy,snr"));
    let best: Vec<f64> =
        lines.next().expect("riptide found a candidate").split(',').map(|x| x.parse().unwrap()).collect();
    assert!((best[0] - 0.3).abs() < 1e-3, "riptide's period {}", best[0]);
    assert_eq!(best[2], 30.0, "riptide's DM");
    assert!(best[5] > 15.0, "riptide's S/N {}", best[5]);
}

/// riptide's example pipeline configuration cut to one period range (0.2–0.5 s, 240–260 bins).
const RFFA_CONFIG: &str = "processes: 1
data:
  format: presto
  fmin:
  fmax:
  nchans:
dmselect:
  min: 0.0
  max: 1000.0
  dmsinb_max: 45.0
dereddening:
  rmed_width: 5.0
  rmed_minpts: 101
ranges:
  - name: 'short'
    ffa_search:
      period_min: 0.20
      period_max: 0.50
      bins_min: 240
      bins_max: 260
      fpmin: 8
      wtsp: 1.5
    find_peaks:
      smin: 6.0
    candidates:
      bins: 256
      subints: 32
clustering:
  radius: 0.2
harmonic_flagging:
  denom_max: 100
  phase_distance_max: 1.0
  dm_distance_max: 3.0
  snr_distance_max: 3.0
candidate_filters:
  dm_min:
  snr_min: 7.0
  remove_harmonics: True
  max_number:
plot_candidates: False
";

/// `tianyan cutout` writes FETCH's input for the best single pulse of a search: `your` (PyPI)
/// reads the file and draws it with its own `plot_h5`, both planes are 256 × 256 `float32`, the
/// burst stands straight in `data_freq_time` (every quarter of the band peaks at time bin 127–128)
/// and the DM–time bow tie peaks at the burst's DM row (±3 of 127.5: a 4 ms burst spans about a DM
/// unit, a row is 2.4) and bin 127–128. Skipped without `your` except under `CI=true`.
#[test]
fn fetch_cutout_opens_in_your_with_fetch_shapes() {
    let have =
        common::command("python3").args(["-c", "import your, h5py"]).status().map(|s| s.success()).unwrap_or(false);
    if !have {
        assert!(std::env::var("CI").map(|v| v != "true").unwrap_or(true), "CI=true but `your` is not installed");
        eprintln!("SKIP: python3 with `your` not installed (pip install your)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fil = tmp.path().join("frb.fil");
    run_ok(&[
        "simulate",
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "256",
        "--duration",
        "6",
        "--seed",
        "21",
        "--burst",
        "time=3.0,dm=300,snr=30,width=0.004",
        "-o",
        s(&fil),
    ]);
    let h5 = tmp.path().join("c.h5");
    run_ok(&["search", s(&fil), "-o", s(&h5), "--single-pulse", "--dm-max", "600"]);
    let best = read_single_pulses(&h5).unwrap()[0];
    assert!((best.dm - 300.0).abs() < 5.0 && (best.time_s - 3.0).abs() < 0.01, "search found {best:?}");
    let dir = tmp.path().join("fetch");
    let out = run_ok(&["cutout", s(&h5), "-o", s(&dir), "--top", "1"]);
    assert!(out.contains("wrote 1 FETCH-ready cutout"), "{out}");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    let (ftpeaks, dmt) = check_cutout_with_your(&files[0]);
    for p in ftpeaks {
        assert!((127.0..=128.0).contains(&p), "a band quarter peaks at bin {p}");
    }
    assert!((dmt[0] - 127.5 * best.dm / 300.0).abs() <= 3.0 && (127.0..=128.0).contains(&dmt[1]), "{dmt:?}");
    assert!(files[0].with_extension("png").exists(), "your's plot_h5 drew the cutout");
}

/// Opens a cutout with h5py and `your` (whose `plot_h5` draws it beside the file), checks FETCH's
/// shapes and types, and returns the peak time bin of each quarter of the band in
/// `data_freq_time` and the (row, bin) of the maximum of `data_dm_time`.
fn check_cutout_with_your(file: &Path) -> (Vec<f64>, Vec<f64>) {
    let script = r#"
import sys, h5py, numpy as np
from your.utils.plotter import plot_h5
fn = sys.argv[1]
with h5py.File(fn, "r") as f:
    ft, dmt = f["data_freq_time"][:], f["data_dm_time"][:]
    a = f.attrs
    print("shapes", ft.shape, dmt.shape, ft.dtype, dmt.dtype)
    print("attrs", a["tcand"], a["dm"], a["snr"], a["width"], a["dm_opt"], a["label"], a["nchans"], a["tsamp"], a["cand_id"])
    quarters = [int(ft[:, q * 64:(q + 1) * 64].sum(1).argmax()) for q in range(4)]
    k, j = np.unravel_index(int(dmt.argmax()), dmt.shape)
    print("ftpeaks", *quarters)
    print("dmtpeak", k, j)
plot_h5(fn, save=True)
"#;
    let out = common::command("python3").args(["-c", script, s(file)]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "your/h5py: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("shapes (256, 256) (256, 256) float32 float32"), "{text}");
    assert!(file.with_extension("png").exists(), "your's plot_h5 drew the cutout");
    let nums = |tag: &str| -> Vec<f64> {
        let line = text.lines().find(|l| l.starts_with(tag)).unwrap_or_else(|| panic!("no {tag} in {text}"));
        line.split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect()
    };
    (nums("ftpeaks"), nums("dmtpeak"))
}

/// True when python3 can import `your` and h5py; under `CI=true` their absence is a failure.
fn have_your() -> bool {
    let have =
        common::command("python3").args(["-c", "import your, h5py"]).status().map(|s| s.success()).unwrap_or(false);
    if !have {
        assert!(std::env::var("CI").map(|v| v != "true").unwrap_or(true), "CI=true but `your` is not installed");
        eprintln!("SKIP: python3 with `your` not installed (pip install your)");
    }
    have
}

/// The README's FRB example: FRB 180417 in `your/28.fil` (truth: t 2.02888 s, DM 475.3) comes out
/// of `search` as the top single pulse and `cutout` makes it a FETCH input that `your` opens: the
/// burst straight at bin 127–128 in each quarter of the band (2 ± 1 samples: width 2 samples,
/// no decimation) and the bow tie's peak at the DM row (474/948·255 = 127.5 ± 3) and bin 126–129.
#[test]
fn fetch_cutout_of_the_readme_frb() {
    let Some(fil) = common::shared_data("your/28.fil") else { return };
    if !have_your() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let h5 = tmp.path().join("c.h5");
    run_ok(&["search", s(&fil), "-o", s(&h5)]);
    let best = read_single_pulses(&h5).unwrap()[0];
    assert!((best.dm - 475.3).abs() < 5.0 && (best.time_s - 2.029).abs() < 0.01, "{best:?}");
    let dir = tmp.path().join("fetch");
    run_ok(&["cutout", s(&h5), "-o", s(&dir), "--top", "1"]);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    let (ftpeaks, dmt) = check_cutout_with_your(&files[0]);
    for p in ftpeaks {
        assert!((126.0..=129.0).contains(&p), "a band quarter peaks at bin {p}");
    }
    assert!((dmt[0] - 127.5).abs() <= 3.0 && (126.0..=129.0).contains(&dmt[1]), "{dmt:?}");
}

/// `fold -o f.png` writes PRESTO's `.bestprof` beside the page: `# Key = value` header lines in
/// prepfold's spelling (the period in ms near the injected 250 ms, within 0.1 %; the DM within
/// 3 of the injected 30 over this 500 MHz band), a `#` line, then one numbered line per profile bin
/// (as many as `Profile Bins` says), far from flat (reduced χ² > 10; noise gives about 1). A file of another kind under the
/// `.bestprof` name is kept and the fold refused.
#[test]
fn fold_writes_a_bestprof_beside_the_page() {
    let tmp = tempfile::tempdir().unwrap();
    let fil = tmp.path().join("psr.fil");
    run_ok(&[
        "simulate",
        "--preset",
        "fast-l-band-lite",
        "--nchans",
        "64",
        "--duration",
        "10",
        "--seed",
        "19",
        "--pulsar",
        "period=0.25,dm=30,snr=40",
        "-o",
        s(&fil),
    ]);
    let png = tmp.path().join("f.png");
    run_ok(&["fold", s(&fil), "--period", "0.25", "--dm", "30", "-o", s(&png)]);
    let text = std::fs::read_to_string(tmp.path().join("f.bestprof")).unwrap();
    let value = |key: &str| -> String {
        let line =
            text.lines().find(|l| l.starts_with(&format!("# {key}"))).unwrap_or_else(|| panic!("no {key}: {text}"));
        line.split_once(['=', '<']).unwrap().1.trim().to_string()
    };
    let p_ms: f64 = value("P_topo (ms)").split_whitespace().next().unwrap().parse().unwrap();
    assert!((p_ms - 250.0).abs() < 0.25, "P_topo {p_ms} ms");
    let dm: f64 = value("Best DM").parse().unwrap();
    assert!((dm - 30.0).abs() < 3.0, "best DM {dm}");
    let nbins: usize = value("Profile Bins").parse().unwrap();
    assert!(value("Prob(Noise)").contains("sigma") && value("Telescope") == "FAST");
    let body: Vec<(usize, f64)> = text
        .lines()
        .skip_while(|l| !l.starts_with("####"))
        .skip(1)
        .map(|l| {
            let mut it = l.split_whitespace();
            (it.next().unwrap().parse().unwrap(), it.next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(body.len(), nbins);
    assert!(body.iter().enumerate().all(|(i, (b, _))| *b == i));
    // A bright pulsar: the profile is far from flat (noise gives a reduced χ² near 1).
    let chi2: f64 = value("Reduced chi-sqr").parse().unwrap();
    assert!(chi2 > 10.0, "reduced chi-square {chi2}");
    // search --fold-top: each fold page has its .bestprof beside it.
    let h5 = tmp.path().join("c.h5");
    run_ok(&["search", s(&fil), "-o", s(&h5), "--periodic", "--dm-max", "60", "--fold-top", "1"]);
    let bp = std::fs::read_to_string(tmp.path().join("c_plots/fold_0.bestprof")).unwrap();
    assert!(bp.starts_with("# Input file") && bp.contains("# Candidate        =  cand0_P"), "{bp}");
    // Another kind of file under the .bestprof name is kept.
    let png2 = tmp.path().join("g.png");
    std::fs::write(tmp.path().join("g.bestprof"), "my notes\n").unwrap();
    let out = common::tianyan(&["fold", s(&fil), "--period", "0.25", "--dm", "30", "-o", s(&png2)]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("g.bestprof"));
    assert_eq!(std::fs::read_to_string(tmp.path().join("g.bestprof")).unwrap(), "my notes\n");
    assert!(!png2.exists());
}

/// `search --cutouts 1` writes the same cutout `tianyan cutout` makes from the search's file, in
/// `<output stem>_cutouts/`, together with the candidate file; `--periodic --cutouts` is refused.
#[test]
fn search_cutouts_equal_the_cutout_command() {
    let Some(fil) = common::shared_data("your/28.fil") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let h5 = tmp.path().join("c.h5");
    run_ok(&["search", s(&fil), "-o", s(&h5), "--cutouts", "1"]);
    let from_search: Vec<PathBuf> =
        std::fs::read_dir(tmp.path().join("c_cutouts")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(from_search.len(), 1);
    let dir = tmp.path().join("again");
    run_ok(&["cutout", s(&h5), "-o", s(&dir), "--top", "1"]);
    let again = dir.join(from_search[0].file_name().unwrap());
    let read = |p: &Path| {
        let f = hdf5::File::open(p).unwrap();
        let a: Vec<f32> = f.dataset("data_freq_time").unwrap().read_raw().unwrap();
        let b: Vec<f32> = f.dataset("data_dm_time").unwrap().read_raw().unwrap();
        (a, b)
    };
    assert_eq!(read(&from_search[0]), read(&again), "same planes from search --cutouts and cutout");
    let out = common::tianyan(&["search", s(&fil), "-o", s(&tmp.path().join("p.h5")), "--periodic", "--cutouts", "1"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--cutouts 1 needs the single-pulse")
    );
}

/// A PRESTO `.fft` reads back as the series it transforms: the shared `GBT_J1807-0847.fft`
/// (sigpyproc's, f32) gives the `.dat`'s samples (mean 4.45e5, sd 3753) within 0.5: numpy's f64
/// inverse of the same file is already up to 0.095 off (the writer's own f32 rounding; its
/// Nyquist term is 1.4 % off), and an f32 inverse of 2^17 points adds about 2^-24 · 4.5e5 · 17 ≈
/// 0.5 at most (measured: 0.156). `search x.fft` finds the same pulsar as `search x.dat`.
#[test]
fn presto_fft_reads_back_as_its_series_and_is_searched() {
    let (Some(fft), Some(dat)) =
        (common::shared_data("sigpyproc3/GBT_J1807-0847.fft"), common::shared_data("sigpyproc3/GBT_J1807-0847.dat"))
    else {
        return;
    };
    let mut from_fft = tianyan::io::open_observation(std::slice::from_ref(&fft)).unwrap();
    let x = from_fft.read_block(0, 131072).unwrap();
    let y = PrestoSeries::open(&dat).unwrap().read_all().unwrap();
    let mean = y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
    let sd = (y.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / y.len() as f64).sqrt();
    let worst = x.iter().zip(&y).map(|(a, b)| (*a as f64 - *b as f64).abs()).fold(0.0, f64::max);
    eprintln!("largest difference {worst} (mean {mean}, sd {sd})");
    assert!(worst < 0.5, "largest difference {worst} (mean {mean}, sd {sd})");
    assert!(from_fft.source_description().ends_with("GBT_J1807-0847.fft"));
    let tmp = tempfile::tempdir().unwrap();
    let h5 = tmp.path().join("c.h5");
    run_ok(&["search", s(&fft), "-o", s(&h5), "--periodic"]);
    let c = &read_candidates(&h5).unwrap()[0];
    assert!((c.period_s - 0.163735).abs() < 2e-5 && c.dm == 112.3802, "{c:?}");
}
