//! `DmPlan::ddplan` against the PRESTO `DDplan.py` tables in `../shared/reference/ddplan/`:
//! every table is reproduced step for step (same DM steps, downsampling, trial counts, and
//! step boundaries to the table's 3 decimals).
use tianyan::dedisp::{DmPlan, GridKind, PlanConfig};
use tianyan::Header;

/// A header with `nchans` channels over `bw` MHz centred on `fctr` (channel centres at
/// `fctr ± (bw − bw/nchans)/2`), as `DDplan.py -f fctr -b bw -n nchans -t dt` describes.
fn header(fctr: f64, bw: f64, nchans: usize, dt: f64) -> Header {
    let cw = bw / nchans as f64;
    Header { nchans, fch1_mhz: fctr + 0.5 * bw - 0.5 * cw, foff_mhz: -cw, tsamp_s: dt, nbits: 8, ..Header::default() }
}

/// (low DM, high DM, dDM, downsamp, #DMs) of each table row.
fn read_table(name: &str) -> Vec<(f64, f64, f64, usize, usize)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/ddplan").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let body = text.split("WorkFract").nth(1).expect("a DDplan table");
    body.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|p| p.len() == 6 || p.len() == 9)
        .map(|p| {
            let n = if p.len() == 9 { p[5] } else { p[4] };
            (
                p[0].parse().unwrap(),
                p[1].parse().unwrap(),
                p[2].parse().unwrap(),
                p[3].parse().unwrap(),
                n.parse().unwrap(),
            )
        })
        .collect()
}

fn check(name: &str, h: &Header, lo: f64, hi: f64, nsub: usize, res_ms: f64) {
    let cfg = PlanConfig { nsub, time_res_s: res_ms * 1e-3, ..PlanConfig::default() };
    assert_eq!(cfg.grid, GridKind::Ddplan, "DDplan is the default grid");
    let plan = DmPlan::grid(h, lo, hi, &cfg).unwrap();
    let table = read_table(name);
    eprintln!("{name}:\n{}", plan.describe(h));
    assert_eq!(plan.grid, "ddplan");
    assert_eq!(plan.steps.len(), table.len(), "{name}: number of steps");
    for (st, &(t_lo, t_hi, t_ddm, t_ds, t_n)) in plan.steps.iter().zip(&table) {
        let ddm = if st.dms.len() > 1 { st.dms[1] - st.dms[0] } else { t_ddm };
        // Tables print DMs to 3 decimals and dDM to 2.
        assert!((ddm - t_ddm).abs() < 1e-6, "{name}: dDM {ddm} vs {t_ddm}");
        assert_eq!(st.downsamp, t_ds, "{name}: downsamp at DM {t_lo}");
        assert_eq!(st.dms.len(), t_n, "{name}: trials of the step from DM {t_lo}");
        assert!((st.dms[0] - t_lo).abs() < 5e-4, "{name}: step starts at {} vs {t_lo}", st.dms[0]);
        let end = st.dms[st.dms.len() - 1] + ddm;
        assert!((end - t_hi).abs() < 5e-4, "{name}: step ends at {end} vs {t_hi}");
    }
}

#[test]
fn ddplan_fast_4096_channels_0_1000() {
    check("fast4096_0_1000.txt", &header(1250.0, 500.0, 4096, 49.152e-6), 0.0, 1000.0, 0, 0.0);
}

#[test]
fn ddplan_fast_4096_channels_64_subbands_0_3000() {
    check("fast4096_0_3000_sub64.txt", &header(1250.0, 500.0, 4096, 49.152e-6), 0.0, 3000.0, 64, 0.0);
}

#[test]
fn ddplan_coarse_256_channels_0_2000() {
    check("coarse256_0_2000.txt", &header(1400.0, 500.0, 256, 64e-6), 0.0, 2000.0, 0, 0.0);
}

#[test]
fn ddplan_lite_and_w1_1024_channels() {
    check("lite1024_0_200.txt", &header(1250.0, 500.0, 1024, 393.216e-6), 0.0, 200.0, 0, 0.0);
    check("w1_1024_0_200.txt", &header(1250.0, 500.0, 1024, 98.304e-6), 0.0, 200.0, 0, 0.0);
}

#[test]
fn ddplan_resolution_1ms_with_32_subbands() {
    check("w1_1024_0_200_r1.txt", &header(1250.0, 500.0, 1024, 98.304e-6), 0.0, 200.0, 32, 1.0);
}

#[test]
fn ddplan_parkes_96_channels_0_500() {
    check("parkes_96_0_500.txt", &header(1382.0, 288.0, 96, 250e-6), 0.0, 500.0, 0, 0.0);
}

/// DDplan -c: with channels coherently dedispersed at DM 557 the channel smearing vanishes there,
/// so full time resolution is kept up to past 557 (without it the 64 × 12.5 MHz band downsamples
/// from the first step).
#[test]
fn ddplan_coherent_dm_keeps_resolution_near_the_coherent_dm() {
    let h = header(1380.78125, 800.0, 64, 81.92e-6);
    let plain = DmPlan::ddplan(&h, 0.0, 1000.0, &PlanConfig::default()).unwrap();
    let coh = DmPlan::ddplan(&h, 0.0, 1000.0, &PlanConfig { coherent_dm: 557.0, ..PlanConfig::default() }).unwrap();
    let ds_at = |p: &DmPlan, dm: f64| p.steps.iter().find(|s| *s.dms.last().unwrap() >= dm).unwrap().downsamp;
    assert!(ds_at(&plain, 557.0) >= 16, "{}", plain.describe(&h));
    assert_eq!(ds_at(&coh, 557.0), 1, "{}", coh.describe(&h));
    assert!(coh.ntrials() > plain.ntrials());
}
