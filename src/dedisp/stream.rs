//! Where the dedispersed series of one plan step live between dedispersion and search.
//!
//! A [`TrialStore`] holds `[ndm][nout]` `f32` series. It is in memory when that fits the
//! search's budget, otherwise in an anonymous scratch file (created with `tempfile`, in
//! `$TMPDIR`, deleted when the store is dropped) written and read with positional I/O
//! (`pwrite`/`pread`), so the series never count against the process's memory: the page cache
//! holds what the machine can spare. Either way every trial is dedispersed in one pass over the
//! observation ([`super::Dedisperser::stream`]) and read back in chunks of rows for the search.
//!
//! (A memory map was the other choice; its resident pages count in the process's RSS until
//! unmapped, which would make the budget depend on the kernel's reclaim, so explicit I/O is used.)
use super::{DedispError, TrialSink};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Series of one plan step, `[ndm][nout]` `f32`, in memory or in a scratch file.
pub struct TrialStore {
    ndm: usize,
    nout: usize,
    place: Place,
}

enum Place {
    Memory(Vec<f32>),
    File(File),
}

fn io_err(what: &str, e: std::io::Error) -> DedispError {
    DedispError::Invalid(format!("dedispersion scratch file ({}): {what}: {e}", std::env::temp_dir().display()))
}

impl TrialStore {
    /// A store of `ndm` series of `nout` samples: in memory when `in_memory`, else a scratch file.
    ///
    /// # Errors
    /// [`DedispError::Invalid`] when the scratch file cannot be created or sized.
    pub fn new(ndm: usize, nout: usize, in_memory: bool) -> Result<TrialStore, DedispError> {
        let place = if in_memory {
            Place::Memory(vec![0f32; ndm * nout])
        } else {
            let f = tempfile::tempfile().map_err(|e| io_err("cannot create", e))?;
            f.set_len((ndm * nout * 4) as u64).map_err(|e| io_err("cannot size", e))?;
            Place::File(f)
        };
        Ok(TrialStore { ndm, nout, place })
    }

    /// Number of series.
    pub fn ndm(&self) -> usize {
        self.ndm
    }

    /// Samples per series.
    pub fn nout(&self) -> usize {
        self.nout
    }

    /// Whether the series are in memory.
    pub fn in_memory(&self) -> bool {
        matches!(self.place, Place::Memory(_))
    }

    /// The in-memory series `[ndm][nout]`, or `None` for a file store.
    pub fn as_slice(&self) -> Option<&[f32]> {
        match &self.place {
            Place::Memory(v) => Some(v),
            Place::File(_) => None,
        }
    }

    /// Copies series `rows` into `buf` (`[rows.len()][nout]`, resized).
    ///
    /// # Errors
    /// [`DedispError::Invalid`] when the scratch file cannot be read.
    pub fn read_rows(&self, rows: std::ops::Range<usize>, buf: &mut Vec<f32>) -> Result<(), DedispError> {
        let n = self.nout;
        buf.resize(rows.len() * n, 0.0);
        match &self.place {
            Place::Memory(v) => buf.copy_from_slice(&v[rows.start * n..rows.end * n]),
            Place::File(f) => {
                let bytes = as_bytes_mut(buf);
                f.read_exact_at(bytes, (rows.start * n * 4) as u64).map_err(|e| io_err("read failed", e))?;
            }
        }
        Ok(())
    }
}

impl TrialSink for TrialStore {
    fn put(&mut self, o0: usize, len: usize, rows: &[f32]) -> Result<(), DedispError> {
        let n = self.nout;
        if len == 0 {
            return Ok(());
        }
        let len_here = len.min(n.saturating_sub(o0));
        for (j, src) in rows.chunks(len).enumerate().take(self.ndm) {
            let src = &src[..len_here];
            match &mut self.place {
                Place::Memory(v) => v[j * n + o0..j * n + o0 + len_here].copy_from_slice(src),
                Place::File(f) => f
                    .write_all_at(as_bytes(src), ((j * n + o0) * 4) as u64)
                    .map_err(|e| io_err("write failed (disk full?)", e))?,
            }
        }
        Ok(())
    }
}

fn as_bytes(x: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte pattern is a valid u8; the length is in bytes.
    unsafe { std::slice::from_raw_parts(x.as_ptr() as *const u8, std::mem::size_of_val(x)) }
}

fn as_bytes_mut(x: &mut [f32]) -> &mut [u8] {
    // SAFETY: as `as_bytes`; every byte pattern read back is a valid f32 (written by `put`).
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr() as *mut u8, std::mem::size_of_val(x)) }
}

/// Smallest even length `≥ n` whose prime factors are all 2, 3, 5 or 7 (a fast real-FFT
/// length: rustfft has dedicated butterflies for these radices, and realfft's even path is a
/// half-length complex FFT).
///
/// The search pads a series of `n` samples with its mean to this length, as PRESTO pads its
/// `.dat` series to a length with small factors (`prepsubband`'s `choose_good_N`): no sample is
/// dropped. The padding is at most 1.6 % of `n` for `n` between 10⁵ and 10⁶ (the largest gap
/// between such numbers there; 2 % between 10⁴ and 10⁵; 5-smooth lengths alone leave gaps of
/// 2.8 %).
pub fn fast_len_above(n: usize) -> usize {
    let smooth = |mut m: usize| {
        for p in [2, 3, 5, 7] {
            while m % p == 0 {
                m /= p;
            }
        }
        m == 1
    };
    let mut m = (n.max(2) + 1) & !1;
    while !smooth(m) {
        m += 2;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_len_above_is_smooth_even_and_close() {
        for n in [16usize, 17, 1000, 75_743, 1 << 20, 999_983, 1_228_800 - 1] {
            let m = fast_len_above(n);
            assert!(m >= n && m % 2 == 0, "{n} → {m}");
            let mut r = m;
            for p in [2, 3, 5, 7] {
                while r % p == 0 {
                    r /= p;
                }
            }
            assert_eq!(r, 1, "{n} → {m} not 7-smooth");
            // Measured largest gap between even 7-smooth numbers above 10³: 4 %.
            assert!(m - n <= n / 25 + 2, "{n} → {m} pads too much");
        }
        assert_eq!(fast_len_above(1 << 20), 1 << 20);
        assert_eq!(fast_len_above(75_743), 76_800); // the prime length of the issue → 2^10 · 3 · 5²
        assert_eq!(fast_len_above(11), 12);
    }

    #[test]
    fn file_and_memory_stores_agree() {
        let (ndm, n) = (3, 10);
        let mut a = TrialStore::new(ndm, n, true).unwrap();
        let mut b = TrialStore::new(ndm, n, false).unwrap();
        for o0 in (0..n).step_by(4) {
            let len = 4.min(n - o0);
            let rows: Vec<f32> = (0..ndm * len).map(|i| (o0 * 100 + i) as f32).collect();
            a.put(o0, len, &rows).unwrap();
            b.put(o0, len, &rows).unwrap();
        }
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.read_rows(1..3, &mut x).unwrap();
        b.read_rows(1..3, &mut y).unwrap();
        assert_eq!(x, y);
        assert_eq!(x[0], 4.0); // trial 1, sample 0 of the first 4-sample block
        assert_eq!(x[4], 404.0); // trial 1, sample 4: the block at 4, its value 1·4 + 0
    }
}
