//! Physical constants and the conventions built on them, in one cited place.

/// Dispersion constant k_DM in s MHz² pc⁻¹ cm³: delay `t = K_DM · DM · (f⁻² − f_ref⁻²)` with `f` in MHz.
///
/// Value 4.148808e3 from Lorimer & Kramer (2005), *Handbook of Pulsar Astronomy*, eq. 4.7
/// (e²/(2π m_e c)). Other tools use other values (see TRAPS B15):
/// 4.15e3 (dedisp, SIGPROC `dedisperse`), 4149 (some FRB codes) and 1/2.41e-4 = 4149.38
/// (the TEMPO convention, which defines DM in those units). tianyan uses 4.148808e3 for
/// injection and dedispersion alike, so an injected pulse recovers its own DM exactly.
pub const K_DM: f64 = 4.148808e3;

/// Alternative dispersion constant of dedisp / SIGPROC (s MHz² pc⁻¹ cm³), for comparison only.
pub const K_DM_DEDISP: f64 = 4.15e3;
/// Alternative dispersion constant of the TEMPO convention, 1/2.41e-4 (s MHz² pc⁻¹ cm³), for comparison only.
pub const K_DM_TEMPO: f64 = 1.0 / 2.41e-4;

/// Dispersion delay in seconds of frequency `freq_mhz` relative to `ref_freq_mhz` at `dm` (pc cm⁻³).
///
/// `t = K_DM · dm · (f⁻² − f_ref⁻²)`; positive when `freq_mhz < ref_freq_mhz`.
pub fn dispersion_delay_s(dm: f64, freq_mhz: f64, ref_freq_mhz: f64) -> f64 {
    K_DM * dm * (1.0 / (freq_mhz * freq_mhz) - 1.0 / (ref_freq_mhz * ref_freq_mhz))
}

/// Boltzmann-free radiometer equation (Lorimer & Kramer 2005, eq. A1.21):
/// the rms noise in flux-density units (mJy) of one sample is
/// `σ_S = T_sys / (G · sqrt(n_pol · t_int · Δν))`, with `T_sys` in K, `G` in K/Jy, `t_int` in s,
/// `Δν` in Hz. Returns mJy.
pub fn radiometer_sigma_mjy(tsys_k: f64, gain_k_per_jy: f64, npol: f64, tint_s: f64, bw_hz: f64) -> f64 {
    1e3 * tsys_k / (gain_k_per_jy * (npol * tint_s * bw_hz).sqrt())
}

/// Speed of light in m s⁻¹ (exact, SI).
pub const SPEED_OF_LIGHT_M_S: f64 = 299_792_458.0;

#[cfg(test)]
mod tests {
    use super::*;

    /// TRAPS B15: DM 1000 between 1130 and 1465 MHz with dt = 1.26647 ms.
    #[test]
    fn b15_delay_in_samples_for_each_constant() {
        let dt = 1.26647e-3;
        let d = |k: f64| k * 1000.0 * (1.0 / (1130.0f64 * 1130.0) - 1.0 / (1465.0f64 * 1465.0)) / dt;
        assert!((dispersion_delay_s(1000.0, 1130.0, 1465.0) - 1.31605).abs() < 1e-4);
        assert!((d(K_DM) - 1039.15).abs() < 0.01);
        assert!((d(K_DM_DEDISP) - 1039.45).abs() < 0.01);
        assert!((d(K_DM_TEMPO) - 1039.29).abs() < 0.01);
        assert!((d(4149.0) - 1039.20).abs() < 0.01);
    }
}
