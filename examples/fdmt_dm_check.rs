//! FDMT against direct on a simulated narrow burst (issue 12 item 5): prints each algorithm's
//! best trial and S/N over trials one sample of sweep apart (`t / (K_DM (f_bot⁻² − f_top⁻²))`),
//! 15 each side of the injected DM, with the S/N of the trials around the best.
//!
//! Usage: `cargo run --release --example fdmt_dm_check -- NCHANS TSAMP_S DM WIDTH_S SNR [DURATION_S]`
//! (fast-l-band-lite band, 1000–1500 MHz; the duration defaults to the sweep + 1 s), e.g.
//! `fdmt_dm_check 1024 393.216e-6 71 0.0005 300`.
use tianyan::consts::K_DM;
use tianyan::dedisp::fdmt::FdmtDedisperser;
use tianyan::dedisp::{Dedisperser, DirectDedisperser};
use tianyan::Observation;
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
fn snr(y: &[f32]) -> f64 {
    let mut best = f64::MIN;
    for w in [1usize, 2, 3, 4, 6, 8, 12, 16, 24, 32] {
        let s: Vec<f64> = y.windows(w).map(|x| x.iter().map(|&v| v as f64).sum()).collect();
        let med = median(&mut s.clone());
        let mad = median(&mut s.iter().map(|v| (v - med).abs()).collect::<Vec<_>>()) * 1.4826;
        let peak = s.iter().cloned().fold(f64::MIN, f64::max);
        best = best.max((peak - med) / mad);
    }
    best
}
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nch: usize = args[1].parse().unwrap();
    let tsamp: f64 = args[2].parse().unwrap();
    let dm: f64 = args[3].parse().unwrap();
    let width: f64 = args[4].parse().unwrap();
    let bsnr: f64 = args[5].parse().unwrap();
    let dur: f64 = args.get(6).map(|s| s.parse().unwrap()).unwrap_or(0.0);
    let dur = if dur > 0.0 { dur } else { 1.0 + K_DM * dm * (1000f64.powi(-2) - 1500f64.powi(-2)) };
    let sim = tianyan::sim::SimConfig {
        preset: "fast-l-band-lite".into(),
        duration_s: dur,
        nchans: Some(nch),
        tsamp_s: Some(tsamp),
        nbits: Some(32),
        seed: 11,
        bursts: vec![tianyan::sim::BurstSpec::parse(&format!("time=0.3,dm={dm},snr={bsnr},width={width}")).unwrap()],
        ..tianyan::sim::SimConfig::default()
    };
    let obs = tianyan::sim::SimulatedObservation::new(&sim).unwrap();
    let h = obs.header().clone();
    let f = h.chan_freqs_mhz();
    let (ftop, fbot) = (h.ftop_mhz(), h.fbottom_mhz());
    let step = tsamp / (K_DM * (fbot.powi(-2) - ftop.powi(-2)));
    let dms: Vec<f64> = (-15..=15).map(|k| dm + k as f64 * step).filter(|d| *d >= 0.0).collect();
    let _ = f;
    let mut res = vec![];
    for a in [Box::new(DirectDedisperser::default()) as Box<dyn Dedisperser>, Box::new(FdmtDedisperser::default())] {
        let mut o = tianyan::sim::SimulatedObservation::new(&sim).unwrap();
        let out = a.dedisperse(&mut o, &dms, 1).unwrap();
        let s: Vec<f64> = (0..out.dms.len()).map(|k| snr(out.data.row(k).as_slice().unwrap())).collect();
        let ib = (0..s.len()).max_by(|&x, &y| s[x].total_cmp(&s[y])).unwrap();
        let line: Vec<String> =
            (ib.saturating_sub(4)..(ib + 5).min(s.len())).map(|k| format!("{:.2}@{:.1}", out.dms[k], s[k])).collect();
        println!(
            "{:>6} nch {nch} dm {dm} step {step:.3}: best trial {} (dm {:.3}, true idx {}) snr {:.1} | {}",
            a.name(),
            ib,
            out.dms[ib],
            dms.iter().position(|d| (*d - dm).abs() < 1e-9).unwrap(),
            s[ib],
            line.join(" ")
        );
        res.push(ib);
    }
}
