//! A fold as PRESTO's `.bestprof` text: `# Key = value` header lines in `prepfold`'s order and
//! spelling, a line of `#`, then one `bin value` line per phase bin of the best profile. Tools that
//! read PRESTO folds (PRESTO's `bestprof` Python class, `pygedm`-style scripts, PICS feature
//! extractors) parse the header by the text before `=` and the profile from the numbered lines.
//!
//! Values tianyan does not have (barycentric periods, orbits) are written `N/A`, as `prepfold`
//! does for a topocentric fold. `Prob(Noise)` is the single-trial probability with its Gaussian
//! equivalent, as `prepfold` prints it.
use super::optimise::FoldResult;
use crate::io::Header;

/// The `.bestprof` text of fold `r` of the observation `input` (file names as given) with
/// `header`; `candidate` names the fold (e.g. `PSR_0253.1ms` or a candidate id).
pub fn format_bestprof(r: &FoldResult, header: &Header, input: &str, candidate: &str) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("# {k:<17}=  {v}\n"));
    let telescope = crate::io::psrfits::telescope_name(header.telescope_id).unwrap_or("Unknown");
    let counts: f64 = r.profile_counts.iter().sum();
    let total: f64 = r.profile.iter().sum();
    let e = |x: f64| crate::io::export::fmt_c_exp(x, 6);
    let nb = r.profile.len().max(1) as f64;
    let pavg = total / nb;
    let psd = (r.profile.iter().map(|v| (v - pavg).powi(2)).sum::<f64>() / nb).sqrt();
    line("Input file", input.to_string());
    line("Candidate", candidate.to_string());
    line("Telescope", telescope.to_string());
    line("Epoch_topo", format!("{:.15}", header.tstart_mjd));
    line("Epoch_bary (MJD)", "N/A".into());
    line("T_sample", format!("{}", header.tsamp_s));
    line("Data Folded", format!("{}", header.nsamples));
    line("Data Avg", e(if counts > 0.0 { total / counts } else { 0.0 }));
    line("Data StdDev", "N/A".into());
    line("Profile Bins", format!("{}", r.profile.len()));
    line("Profile Avg", e(pavg));
    line("Profile StdDev", e(psd));
    line("Reduced chi-sqr", format!("{:.3}", r.reduced_chi2));
    // prepfold: "# Prob(Noise)      <  1e-20   (~11.2 sigma)"; tianyan's single-trial probability.
    let ln_p = r.ln_prob_noise.max(-690.0); // e^-690 ≈ 1e-300: below it, the f64 floor is printed
    let single_sigma = crate::search::stats::sigma_from_logp(r.ln_prob_noise);
    let p = crate::io::export::fmt_c_exp(ln_p.exp(), 3);
    s.push_str(&format!("# {:<17}<  {p}   (~{single_sigma:.1} sigma)\n", "Prob(Noise)"));
    let mut line = |k: &str, v: String| s.push_str(&format!("# {k:<17}=  {v}\n"));
    line("Best DM", format!("{:.3}", r.dm));
    let err = |x: f64| if x.is_finite() { crate::io::export::fmt_c_exp(x, 3) } else { "N/A".into() };
    line("P_topo (ms)", format!("{:.12} +/- {}", r.period_s * 1e3, err(r.period_err_s * 1e3)));
    line("P'_topo (s/s)", format!("{} +/- {}", e(r.pdot), err(r.pdot_err)));
    line("P''_topo (s/s^2)", "0 +/- 0".into());
    for k in [
        "P_bary (ms)",
        "P'_bary (s/s)",
        "P''_bary (s/s^2)",
        "P_orb (s)",
        "asin(i)/c (s)",
        "eccentricity",
        "w (rad)",
        "T_peri",
    ] {
        line(k, "N/A".into());
    }
    s.push_str("######################################################\n");
    for (i, v) in r.profile.iter().enumerate() {
        s.push_str(&format!("{i:>4}  {}\n", crate::io::export::fmt_c_exp(*v, 7)));
    }
    s
}
