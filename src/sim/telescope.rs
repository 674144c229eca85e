//! Telescope presets: the FAST 19-beam L-band receiver and a light variant for quick runs.
//!
//! FAST figures: system temperature ≈ 20 K and gain ≈ 16 K/Jy (central beam, zenith angle < 26.4°)
//! from Jiang et al. 2019, *Sci. China Phys. Mech. Astron.* 62, 959502 ("Commissioning progress of
//! FAST") and Jiang et al. 2020, *RAA* 20, 064 ("The fundamental performance of FAST with 19-beam
//! receiver at L band"). The 19-beam receiver covers 1.05–1.45 GHz usefully; its digital backend
//! (ROACH2 spectrometer, the CRAFTS/GPPS search mode) records 1000–1500 MHz in 4096 channels of
//! 0.1220703125 MHz with 49.152 µs sampling, 8 bits, two polarisations summed (Li et al. 2018,
//! *IEEE Microwave Mag.* 19, 112; Han et al. 2021, *RAA* 21, 107 for GPPS).
//!
//! SIGPROC has no official telescope id for FAST; tianyan writes [`FAST_TELESCOPE_ID`] = 21 and
//! machine id 0 ("FAKE": the data are simulated).
use super::SimError;

/// SIGPROC `telescope_id` tianyan writes for FAST (not an official SIGPROC value).
pub const FAST_TELESCOPE_ID: i32 = 21;
/// SIGPROC `machine_id` of simulated data (0 = FAKE in SIGPROC's table).
pub const SIM_MACHINE_ID: i32 = 0;

/// A receiver + backend model.
///
/// Channels are uniform and descending (SIGPROC order): channel `i` is centred at
/// `fch1_mhz + i · foff_mhz` with `foff_mhz = −(band_high − band_low)/nchans` and
/// `fch1_mhz = band_high − |foff|/2` (the top channel centre).
#[derive(Debug, Clone, PartialEq)]
pub struct Telescope {
    /// Preset name.
    pub name: String,
    /// Lower band edge, MHz.
    pub band_low_mhz: f64,
    /// Upper band edge, MHz.
    pub band_high_mhz: f64,
    /// Number of channels.
    pub nchans: usize,
    /// Sampling time, s.
    pub tsamp_s: f64,
    /// Bits per sample.
    pub nbits: u32,
    /// Number of polarisations summed into total intensity.
    pub npol: u32,
    /// System temperature, K.
    pub tsys_k: f64,
    /// Gain, K/Jy.
    pub gain_k_per_jy: f64,
    /// SIGPROC telescope id.
    pub telescope_id: i32,
}

impl Telescope {
    /// Looks up a preset by name.
    ///
    /// * `fast-l-band`: 4096 × 0.1220703125 MHz over 1000–1500 MHz, tsamp 49.152 µs, 8 bits, npol 2,
    ///   T_sys 20 K, G 16 K/Jy.
    /// * `fast-l-band-lite`: the same band and telescope with 1024 channels (0.48828125 MHz) and
    ///   tsamp 393.216 µs (8 × 49.152 µs), i.e. 32 × fewer values per second: for quick runs and tests.
    ///
    /// # Errors
    /// [`SimError::Config`] for an unknown name (the message lists the presets).
    pub fn preset(name: &str) -> Result<Telescope, SimError> {
        let fast = Telescope {
            name: "fast-l-band".into(),
            band_low_mhz: 1000.0,
            band_high_mhz: 1500.0,
            nchans: 4096,
            tsamp_s: 49.152e-6,
            nbits: 8,
            npol: 2,
            tsys_k: 20.0,
            gain_k_per_jy: 16.0,
            telescope_id: FAST_TELESCOPE_ID,
        };
        match name {
            "fast-l-band" => Ok(fast),
            "fast-l-band-lite" => Ok(Telescope { name: name.into(), nchans: 1024, tsamp_s: 8.0 * 49.152e-6, ..fast }),
            _ => Err(SimError::Config(format!(
                "unknown telescope preset '{name}' (known: fast-l-band, fast-l-band-lite)"
            ))),
        }
    }

    /// Channel width in MHz (positive).
    pub fn chan_bw_mhz(&self) -> f64 {
        (self.band_high_mhz - self.band_low_mhz) / self.nchans as f64
    }

    /// Top channel centre, MHz (SIGPROC `fch1`).
    pub fn fch1_mhz(&self) -> f64 {
        self.band_high_mhz - 0.5 * self.chan_bw_mhz()
    }

    /// Channel-centre frequencies in file (descending) order, MHz, length `nchans`.
    pub fn chan_freqs_mhz(&self) -> Vec<f64> {
        let (f1, df) = (self.fch1_mhz(), self.chan_bw_mhz());
        (0..self.nchans).map(|i| f1 - i as f64 * df).collect()
    }

    /// Radiometer noise of one sample of one channel, mJy (Lorimer & Kramer 2005 eq. A1.21,
    /// [`crate::consts::radiometer_sigma_mjy`]).
    pub fn sigma_sample_mjy(&self) -> f64 {
        crate::consts::radiometer_sigma_mjy(
            self.tsys_k,
            self.gain_k_per_jy,
            self.npol as f64,
            self.tsamp_s,
            self.chan_bw_mhz() * 1e6,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_preset_band_and_channels() {
        let t = Telescope::preset("fast-l-band").unwrap();
        assert_eq!(t.chan_bw_mhz(), 0.1220703125);
        let f = t.chan_freqs_mhz();
        assert!((f[0] - 1499.93896484375).abs() < 1e-9);
        assert!((f[4095] - 1000.06103515625).abs() < 1e-9);
        assert!(Telescope::preset("arecibo").is_err());
    }
}
