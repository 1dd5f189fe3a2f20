//! [`Encoder::write_to`]: the response to any `io::Write`, through a
//! bounded staging buffer.

use super::stage::Staged;
use super::{Counter, WriteError};
use crate::Encoder;
use std::io::{self, Write};

/// The staging buffer [`Encoder::write_to`] allocates (or less, for a
/// smaller response): large enough that a socket or file sees few, large
/// writes, small enough to stay in L2.
pub const DEFAULT_STAGING: usize = 64 * 1024;

/// The shortest staging buffer [`Encoder::write_to_with`] accepts.
pub const MIN_STAGING: usize = 64;

impl Encoder<'_> {
    /// Writes the response to `w` through a staging buffer of at most
    /// [`DEFAULT_STAGING`] bytes, allocated for this call (use
    /// [`write_to_with`](Self::write_to_with) to bring your own). Returns
    /// the number of bytes written, [`encoded_len`](Self::encoded_len).
    ///
    /// Raw tensor rows at least as long as the staging buffer go to `w`
    /// directly, without being copied into it. `w` sees the response in
    /// order, in calls of at most the staging size (or one whole such row);
    /// wrap it in nothing, it is buffered already.
    ///
    /// # Errors
    ///
    /// The first error of `w` other than `Interrupted` (a write of 0 bytes
    /// is `WriteZero`), as a [`WriteError`] whose
    /// [`written`](WriteError::written) is exactly what `w` accepted, a
    /// prefix of the response (see the [module docs](crate::sink)).
    ///
    /// ```
    /// let enc = bprwire::BatchPrediction::new().continuous(&[7], &[0.5f32], &[1]).encoder()?;
    /// let mut out = Vec::new();
    /// let n = enc.write_to(&mut out).unwrap();
    /// assert_eq!((n, out), (enc.encoded_len(), enc.encode_to_vec()));
    /// # Ok::<(), bprwire::Error>(())
    /// ```
    pub fn write_to<W: Write + ?Sized>(&self, w: &mut W) -> Result<usize, WriteError> {
        let mut staging = self.default_staging();
        self.write_to_with(w, &mut staging)
    }

    /// The staging buffer [`write_to`](Self::write_to) allocates.
    pub(crate) fn default_staging(&self) -> Vec<u8> {
        vec![0u8; self.encoded_len().clamp(MIN_STAGING, DEFAULT_STAGING)]
    }

    /// As [`write_to`](Self::write_to), staging in `staging` (its whole
    /// length, at least [`MIN_STAGING`] bytes), so that the call
    /// allocates nothing.
    ///
    /// # Errors
    ///
    /// As [`write_to`](Self::write_to); a staging buffer shorter than
    /// [`MIN_STAGING`] is an `InvalidInput` error with nothing written.
    pub fn write_to_with<W: Write + ?Sized>(
        &self,
        w: &mut W,
        staging: &mut [u8],
    ) -> Result<usize, WriteError> {
        let mut counter = Counter {
            written: 0,
            total: self.encoded_len(),
        };
        self.stage_to(w, staging, &mut counter)?;
        debug_assert_eq!(
            counter.written, counter.total,
            "encoded_len disagrees with the bytes written"
        );
        Ok(counter.written)
    }

    /// Writes the response to `w` through `staging`, counting in `counter`
    /// (which may already have counted bytes of a message around it).
    pub(crate) fn stage_to<W: Write + ?Sized>(
        &self,
        w: &mut W,
        staging: &mut [u8],
        counter: &mut Counter,
    ) -> Result<(), WriteError> {
        if staging.len() < MIN_STAGING {
            return Err(counter.fail(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a staging buffer of {} bytes is too short: it must have at least {MIN_STAGING}",
                    staging.len()
                ),
            )));
        }
        let mut stage = Staged::new(staging, |bytes: &[u8]| counter.write_all(w, bytes));
        stage.response(self)?;
        stage.flush()
    }
}
