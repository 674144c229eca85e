//! PNG diagnostics: files are written, decode as PNG (the `png` crate) with the stated size,
//! and contain drawing (not a blank page); `tianyan plot` writes the overview and one page per
//! stored fold.
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::path::Path;
use tianyan::fold::{fold, optimise, FoldConfig, FoldResult};
use tianyan::search::Candidate;
use tianyan::{Header, MemoryObservation};

/// Decodes a PNG fully; returns (width, height, fraction of non-white pixels).
fn decode_png(path: &Path) -> (u32, u32, f64) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(file).read_info().expect("valid PNG header");
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG decodes");
    let bpp = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let n = px.len() / bpp;
    let dark = px.chunks(bpp).filter(|p| p.iter().take(3).any(|&v| v < 250)).count();
    (info.width, info.height, dark as f64 / n as f64)
}

/// A small synthetic pulsar (16 channels 1200–1400 MHz, 1 ms, 20 s, P 0.2 s, DM 50), folded.
fn small_fold() -> (FoldResult, Header) {
    let h = Header {
        source_name: "PLOT_TEST".into(),
        tsamp_s: 1e-3,
        fch1_mhz: 1400.0,
        foff_mhz: -12.5,
        nchans: 16,
        nbits: 32,
        tstart_mjd: 60000.0,
        ..Header::default()
    };
    let freqs = h.chan_freqs_mhz();
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let n = 20000;
    let mut d = Array2::<f32>::zeros((n, 16));
    for i in 0..n {
        for c in 0..16 {
            let t = i as f64 * 1e-3 - tianyan::consts::dispersion_delay_s(50.0, freqs[c], 1400.0);
            let ph = (t / 0.2).rem_euclid(1.0);
            let x: f64 = StandardNormal.sample(&mut rng);
            d[[i, c]] = (x + if (ph - 0.5).abs() < 0.02 { 1.0 } else { 0.0 }) as f32;
        }
    }
    let mut obs = MemoryObservation::new(h.clone(), d);
    let cfg = FoldConfig { nsubbands: 16, ..FoldConfig::default() };
    let cube = fold(&mut obs, 0.2, 0.0, 50.0, &cfg).unwrap();
    (optimise(&cube, &cfg), h)
}

fn cand(p: f64, dm: f64, sigma: f32, harmonic_of: i32) -> Candidate {
    Candidate {
        period_s: p,
        frequency_hz: 1.0 / p,
        dm,
        accel: 0.0,
        z: 0.0,
        snr: sigma,
        sigma,
        power: 0.0,
        nharm: 4,
        fft_bin: 0.0,
        n_dm_hits: 3,
        harmonic_of,
        harmonic_num: 0,
        harmonic_den: 0,
        fund_harmonic: 1,
        dm_flag: 0,
        search: tianyan::search::SearchKind::Fft,
        width_s: 0.0,
    }
}

#[test]
fn fold_plot_png_decodes_at_1200x900() {
    let (r, h) = small_fold();
    assert!(r.snr > 10.0, "test pulsar folds: {}", r.snr);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fold.png");
    tianyan::plot::plot_fold(&r, &h, &p).expect("plot_fold");
    let (w, hgt, dark) = decode_png(&p);
    assert_eq!((w, hgt), tianyan::plot::FOLD_PLOT_SIZE);
    assert_eq!((w, hgt), (1200, 900));
    assert!(dark > 0.05 && dark < 0.9, "fraction of drawn pixels {dark}");
    // No temporary file left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn candidate_overview_png_decodes_including_empty() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("candidates.png");
    let cands = vec![cand(0.2531, 71.0, 30.0, -1), cand(0.12655, 71.0, 12.0, 0), cand(1.7, 3.0, 7.0, -1)];
    tianyan::plot::plot_candidates(&cands, &p).expect("plot_candidates");
    let (w, h, dark) = decode_png(&p);
    assert_eq!((w, h), (1000, 700));
    assert!(dark > 0.01, "drawn {dark}");
    let e = dir.path().join("empty.png");
    tianyan::plot::plot_candidates(&[], &e).expect("empty overview");
    assert_eq!(decode_png(&e).0, 1000);
}

#[test]
fn missing_output_folder_is_a_clear_error() {
    let (r, h) = small_fold();
    let e = tianyan::plot::plot_fold(&r, &h, Path::new("/nonexistent-dir-tianyan/x.png")).unwrap_err().to_string();
    assert!(e.contains("/nonexistent-dir-tianyan/x.png"), "{e}");
}

/// `tianyan plot cands.h5 -o dir` writes candidates.png and fold_<id>.png for each stored fold.
#[test]
fn cli_plot_writes_overview_and_fold_pages() {
    use tianyan::fold::store::{write_folds, StoredFold};
    use tianyan::io::candidates::{write_candidate_file, CandidateFile};
    let (r, h) = small_fold();
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("cands.h5");
    let cf = CandidateFile {
        header: h,
        candidates: vec![cand(0.2, 50.0, 20.0, -1), cand(0.1, 50.0, 9.0, 0)],
        ..CandidateFile::default()
    };
    write_candidate_file(&h5, &cf).unwrap();
    write_folds(
        &h5,
        &[StoredFold { id: 0, candidate_row: Some(0), result: r, png_path: None }],
        &FoldConfig::default(),
    )
    .unwrap();
    let out = dir.path().join("plots");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_tianyan"))
        .args(["plot", h5.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    assert_eq!(decode_png(&out.join("candidates.png")).0, 1000);
    let (w, hh, _) = decode_png(&out.join("fold_0.png"));
    assert_eq!((w, hh), (1200, 900));
    // A file that is not HDF5: clear error naming it, non-zero exit.
    let bad = dir.path().join("bad.h5");
    std::fs::write(&bad, b"not hdf5").unwrap();
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_tianyan"))
        .args(["plot", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!st.status.success());
    assert!(String::from_utf8_lossy(&st.stderr).contains("bad.h5"));
}

/// Issue 11 item 10: a candidate file with bursts (3 single pulses, one flagged as DM-0 RFI) and
/// no periodic candidate gets a single-pulse page (`single_pulses.png`, 1100 × 850) with drawing
/// on it — `plot` used to say only "no candidates" — and a file without single pulses gets none.
#[test]
fn cli_plot_writes_single_pulse_page() {
    use tianyan::io::candidates::{write_candidate_file, CandidateFile};
    use tianyan::search::SinglePulse;
    let (_, h) = small_fold();
    let dir = tempfile::tempdir().unwrap();
    let sp = |t: f64, dm: f64, snr: f32, rfi: u8| SinglePulse {
        time_s: t,
        sample: (t / 1e-3) as u64,
        dm,
        width_s: 2e-3,
        width_samples: 2,
        snr,
        n_members: 20,
        rfi_flag: rfi,
    };
    let run = |pulses: Vec<SinglePulse>, name: &str| {
        let h5 = dir.path().join(format!("{name}.h5"));
        let cf = CandidateFile { header: h.clone(), single_pulses: pulses, ..CandidateFile::default() };
        write_candidate_file(&h5, &cf).unwrap();
        let out = dir.path().join(name);
        let st = std::process::Command::new(env!("CARGO_BIN_EXE_tianyan"))
            .args(["plot", h5.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        (out, String::from_utf8_lossy(&st.stdout).to_string())
    };
    let (out, stdout) = run(vec![sp(2.0, 475.0, 16.0, 0), sp(7.5, 120.0, 9.0, 0), sp(12.0, 0.0, 30.0, 1)], "bursts");
    // The file records no observation: the page is drawn without waterfalls, and the log says why.
    assert!(stdout.contains("single_pulses.png (3 single pulses, 0 waterfalls)"), "{stdout}");
    let (w, hh, dark) = decode_png(&out.join("single_pulses.png"));
    assert_eq!((w, hh), (1100, 850));
    // Axes, grids, text and markers: measured 25.4 % non-white; 2 % is far below any drawn page.
    eprintln!("single-pulse page: {:.1} % non-white pixels", 100.0 * dark);
    assert!(dark > 0.02, "single-pulse page nearly blank: {dark}");
    let (out, _) = run(Vec::new(), "none");
    assert!(!out.join("single_pulses.png").exists());
    assert!(out.join("candidates.png").exists());
}

/// Issue 11 item 10 (waterfalls): a simulated file with one burst, and a candidate file recording
/// it with the burst as its strongest unflagged single pulse (a flagged DM-0 event is stronger
/// but gets no waterfall). `plot` draws the page with one waterfall (the page grows by
/// `WATERFALL_ROW_HEIGHT`) whose data, recomputed here, peak at the event in the centre column;
/// with the observation moved away the page is still drawn, without waterfalls, and the log says
/// the observation is not reachable.
#[test]
fn cli_plot_single_pulse_page_has_waterfalls_of_the_best_events() {
    use tianyan::io::candidates::{write_candidate_file, CandidateFile, RunInfo};
    use tianyan::plot::waterfall::{waterfall_data, WATERFALL_NTIME};
    use tianyan::search::SinglePulse;
    use tianyan::sim::{simulate_to_file, BurstSpec, OutputFormat, SimConfig};
    let dir = tempfile::tempdir().unwrap();
    let fil = dir.path().join("burst.fil");
    let cfg = SimConfig {
        preset: "fast-l-band-lite".into(),
        duration_s: 3.0,
        nchans: Some(64),
        tsamp_s: Some(1e-3),
        seed: 9,
        bursts: vec![BurstSpec::parse("time=1.5,dm=200,snr=40,width=0.004").unwrap()],
        ..SimConfig::default()
    };
    simulate_to_file(&cfg, &fil, OutputFormat::Filterbank).unwrap();
    let mut obs = tianyan::open_observation(std::slice::from_ref(&fil)).unwrap();
    let h = obs.header().clone();
    let (width, t_start) = (0.004, 1.5 - 0.002);
    let sp = |t: f64, dm: f64, snr: f32, rfi: u8| SinglePulse {
        time_s: t,
        sample: (t / 1e-3) as u64,
        dm,
        width_s: width,
        width_samples: 4,
        snr,
        n_members: 10,
        rfi_flag: rfi,
    };
    let h5 = dir.path().join("c.h5");
    let cf = CandidateFile {
        run: RunInfo { input_file: fil.display().to_string(), ..RunInfo::default() },
        header: h.clone(),
        single_pulses: vec![sp(t_start, 200.0, 40.0, 0), sp(0.7, 0.0, 60.0, 1)],
        ..CandidateFile::default()
    };
    write_candidate_file(&h5, &cf).unwrap();
    let plot = |name: &str| {
        let out = dir.path().join(name);
        let st = std::process::Command::new(env!("CARGO_BIN_EXE_tianyan"))
            .args(["plot", h5.to_str().unwrap(), "-o", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        (out, String::from_utf8_lossy(&st.stdout).to_string(), String::from_utf8_lossy(&st.stderr).to_string())
    };
    let (out, stdout, _) = plot("with");
    assert!(stdout.contains("(2 single pulses, 1 waterfalls)"), "{stdout}");
    let (w, hh, dark) = decode_png(&out.join("single_pulses.png"));
    let (w0, h0) = tianyan::plot::SINGLE_PULSE_PLOT_SIZE;
    assert_eq!((w, hh), (w0, h0 + tianyan::plot::WATERFALL_ROW_HEIGHT));
    assert!(dark > 0.02, "page nearly blank: {dark}");
    // The waterfall the page shows: the event's centre, its DM and width, 64 sub-bands at most.
    let wf = waterfall_data(obs.as_mut(), t_start + 0.5 * width, 200.0, width, 64).unwrap();
    let mid = WATERFALL_NTIME / 2;
    let peak = (0..WATERFALL_NTIME).max_by(|&a, &b| wf.profile[a].total_cmp(&wf.profile[b])).unwrap();
    eprintln!("waterfall profile peak {:.1} sigma at bin {peak} (centre {mid})", wf.profile[peak]);
    assert_eq!(peak, mid, "the burst lands in the centre column");
    // S/N 40 over a 4 ms boxcar, binned in 2 ms: the centre bin holds about half the boxcar's
    // signal over sqrt(1/2) of its noise, ≈ 40/√2 ≈ 28σ; 15σ leaves room for the bin phase.
    assert!(wf.profile[mid] > 15.0, "centre {}", wf.profile[mid]);
    // Observation gone: page without waterfalls, the reason in the log.
    std::fs::rename(&fil, dir.path().join("moved.fil")).unwrap();
    let (out, stdout, stderr) = plot("without");
    assert!(stdout.contains("(2 single pulses, 0 waterfalls)"), "{stdout}");
    assert!(stderr.contains("not reachable") && stderr.contains("burst.fil"), "{stderr}");
    assert_eq!(decode_png(&out.join("single_pulses.png")).1, h0);
}
