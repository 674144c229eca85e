//! The HDF5 candidate file: round trip through tianyan's reader and through Python's h5py.
mod common;
use tianyan::io::candidates::{
    read_candidates, read_dm_trials, read_root_string_attr, read_single_pulses, write_candidate_file, CandidateFile,
    RunInfo,
};
use tianyan::search::{Candidate, SinglePulse};
use tianyan::Header;

fn sample_file() -> CandidateFile {
    let header = Header {
        source_name: "J0000+0000".into(),
        tstart_mjd: 60000.5,
        tsamp_s: 49.152e-6,
        fch1_mhz: 1499.93896484375,
        foff_mhz: -0.1220703125,
        nchans: 4096,
        nbits: 8,
        nsamples: 1 << 20,
        ..Header::default()
    };
    let c = |f: f64, dm: f64, sigma: f32, h: i32| Candidate {
        period_s: 1.0 / f,
        frequency_hz: f,
        dm,
        accel: 0.0,
        z: 0.0,
        snr: sigma * 1.5,
        sigma,
        power: sigma * 10.0,
        nharm: 8,
        fft_bin: f * 60.0,
        n_dm_hits: 7,
        harmonic_of: h,
        harmonic_num: if h >= 0 { 2 } else { 0 },
        harmonic_den: if h >= 0 { 1 } else { 0 },
        fund_harmonic: 1,
        dm_flag: 0,
        search: tianyan::search::SearchKind::Fft,
        width_s: 0.0,
    };
    CandidateFile {
        run: RunInfo {
            command: "tianyan search x.fil -o c.h5".into(),
            input_file: "x.fil".into(),
            ..RunInfo::default()
        },
        header,
        search_config: serde_json::json!({"dm_min": 0.0, "dm_max": 200.0, "nharm": 16, "sigma": 6.0,
            "dedisp": "direct", "no_dm0": true, "periodic": {"fmax_hz": 1000.0}}),
        dm_trials: vec![0.0, 0.5, 1.0, 1.5],
        candidates: vec![c(3.951, 71.0, 25.0, -1), c(7.902, 71.5, 12.0, 0)],
        single_pulses: vec![SinglePulse {
            time_s: 2.0289,
            sample: 1602,
            dm: 475.3,
            width_s: 0.0025,
            width_samples: 2,
            snr: 15.8,
            n_members: 40,
            rfi_flag: 0,
        }],
        rfi: None,
        ffa: None,
    }
}

#[test]
fn round_trip_through_tianyan_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.h5");
    let cf = sample_file();
    write_candidate_file(&path, &cf).unwrap();
    assert_eq!(read_candidates(&path).unwrap(), cf.candidates);
    assert_eq!(read_single_pulses(&path).unwrap(), cf.single_pulses);
    assert_eq!(read_dm_trials(&path).unwrap(), cf.dm_trials);
    assert_eq!(read_root_string_attr(&path, "input_file").unwrap(), "x.fil");
    assert_eq!(read_root_string_attr(&path, "software").unwrap(), "tianyan");
    let created = read_root_string_attr(&path, "created_utc").unwrap();
    assert_eq!(created.len(), 20, "ISO 8601 UTC timestamp, got {created}");
    assert!(created.starts_with("20") && created.ends_with('Z'));
    // No temporary file is left beside the output.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn empty_tables_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.h5");
    let mut cf = sample_file();
    cf.candidates.clear();
    cf.single_pulses.clear();
    write_candidate_file(&path, &cf).unwrap();
    assert!(read_candidates(&path).unwrap().is_empty());
    assert!(read_single_pulses(&path).unwrap().is_empty());
}

#[test]
fn reading_a_non_candidate_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.h5");
    std::fs::write(&path, b"this is not hdf5").unwrap();
    let err = read_candidates(&path).unwrap_err().to_string();
    assert!(err.contains("not.h5"), "{err}");
}

/// Python users open the file with h5py and pandas-style structured arrays.
#[test]
fn h5py_reads_candidates_and_attributes() {
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    let have_h5py =
        common::command("python3").args(["-c", "import h5py, numpy"]).status().map(|s| s.success()).unwrap_or(false);
    if !have_h5py {
        assert!(!ci, "CI=true but python3 with h5py is missing");
        eprintln!("SKIP: python3 with h5py not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.h5");
    write_candidate_file(&path, &sample_file()).unwrap();
    let script = r#"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
c = f["candidates"][()]
assert c.dtype.names[:10] == ("period_s","frequency_hz","dm","accel","snr","sigma","power","nharm","fft_bin","n_dm_hits"), c.dtype.names
assert c.dtype["period_s"] == np.float64 and c.dtype["snr"] == np.float32 and c.dtype["nharm"] == np.uint32
assert len(c) == 2 and abs(c["frequency_hz"][0] - 3.951) < 1e-12 and c["dm"][0] == 71.0
assert list(c["sigma"]) == sorted(c["sigma"], reverse=True)
assert c["harmonic_of"][1] == 0
sp = f["single_pulses"][()]
assert abs(sp["time_s"][0] - 2.0289) < 1e-12 and sp["width_samples"][0] == 2
a = f.attrs
for k in ["software","software_version","created_utc","command","input_file","source_name","tstart_mjd",
          "tsamp_s","fch1_mhz","foff_mhz","nchans","nsamples","nbits","dm_constant","reference_frequency_mhz"]:
    assert k in a, k
assert a["software"] == "tianyan" and a["nchans"] == 4096 and a["dm_constant"] == 4148.808
assert list(f["search/dm_trials"][()]) == [0.0, 0.5, 1.0, 1.5]
s = f["search"].attrs
assert s["dm_max"] == 200.0 and s["nharm"] == 16 and s["dedisp"] == "direct" and s["periodic.fmax_hz"] == 1000.0
print("h5py-ok")
"#;
    let out = common::command("python3").arg("-c").arg(script).arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("h5py-ok"), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}
