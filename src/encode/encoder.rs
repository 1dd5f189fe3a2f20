//! [`Encoder`]: a checked response (its [`Plan`]), ready to encode into a
//! slice, a `Vec`, or any sink (`crate::sink`) through the one layout
//! writer (`super::write`).

use crate::encode::error::Error;
use crate::encode::input::BatchPrediction;
use crate::encode::plan::Plan;
use crate::encode::write::{write_plan, write_plan_record, Out};
use crate::kernels::Level;
use crate::wire::prefix_mut;

/// A checked response, ready to encode: every input check has passed and
/// the exact size is known. Made by [`BatchPrediction::encoder`]; it
/// borrows the inputs and can encode any number of times.
pub struct Encoder<'a> {
    plan: Plan<'a>,
}

impl<'a> Encoder<'a> {
    /// Checks `inputs` and computes the exact encoded size (from shapes and
    /// string lengths; no element is read).
    ///
    /// # Errors
    ///
    /// The first check `inputs` fail, as an [`Error`] naming the input (see
    /// the variants); a model whose outputs keep their keys, types and row
    /// shapes across calls can run the checks that do not depend on the
    /// batch once, with a [`Signature`](crate::Signature).
    // Inlined, and the plan mapped rather than unwrapped and wrapped
    // again: each move of the plan (768 bytes) is a `memcpy` call (W1:
    // two of them, 80 instructions each at the time, before).
    #[inline]
    pub fn new(inputs: &BatchPrediction<'a>) -> Result<Self, Error> {
        Plan::new(inputs).map(Encoder::from_plan)
    }

    /// An encoder of a plan made elsewhere (a prepared [`Signature`](crate::Signature)).
    #[inline(always)]
    pub(crate) fn from_plan(plan: Plan<'a>) -> Self {
        Encoder { plan }
    }

    /// The exact number of bytes [`encode_into`](Self::encode_into) writes.
    #[inline]
    pub fn encoded_len(&self) -> usize {
        self.plan.len
    }

    /// The kernel level this encoder uses ([`Level::best`] unless the
    /// inputs asked for one with [`BatchPrediction::level`]).
    pub fn level(&self) -> Level {
        self.plan.kernels.level()
    }

    /// The checked plan, for the sinks that walk it piece by piece.
    pub(crate) fn plan(&self) -> &Plan<'a> {
        &self.plan
    }

    /// The number of records (`DataRecord`s) in the response.
    #[inline]
    pub fn batch_size(&self) -> usize {
        self.plan.batch
    }

    /// Writes the response into the first [`encoded_len`](Self::encoded_len)
    /// bytes of `buf` and returns that length. No allocation.
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] if `buf` is shorter than
    /// [`encoded_len`](Self::encoded_len); nothing is written then.
    ///
    /// ```
    /// let enc = bprwire::BatchPrediction::new().continuous(&[7], &[0.5f32], &[1]).encoder()?;
    /// let mut buf = [0u8; 64];
    /// let n = enc.encode_into(&mut buf)?;
    /// assert_eq!(n, enc.encoded_len());
    /// assert!(enc.encode_into(&mut buf[..n - 1]).is_err());
    /// # Ok::<(), bprwire::Error>(())
    /// ```
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let len = self.plan.len;
        let dst = prefix_mut(buf, len)?;
        let mut out = Out::new(dst);
        self.write(&mut out);
        debug_assert_eq!(out.remaining(), 0, "encoded_len disagrees with the bytes written");
        Ok(len)
    }

    /// Makes `buf` exactly the encoded response, reusing its allocation (a
    /// serving loop that keeps one `Vec` pays no allocation and no zeroing
    /// once the buffer has grown to its working size).
    ///
    /// # Panics
    ///
    /// Only if the allocator fails to grow `buf` (as `Vec::resize` does).
    pub fn encode_into_vec(&self, buf: &mut Vec<u8>) {
        buf.resize(self.plan.len, 0);
        self.encode_into(buf).expect("buffer sized to encoded_len");
    }

    /// The encoded response in a new `Vec`.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.encode_into_vec(&mut buf);
        buf
    }

    /// Records `rows` into `out`, which must be exactly their length (see
    /// [`Plan::record_len`]): for the staging sink, which writes runs of
    /// whole records with the same code as `encode_into` when they fit.
    /// (Here rather than on `Plan`: there, `write_to` W5 took 4% more
    /// instructions, measured with iai.)
    pub(crate) fn write_records(&self, rows: core::ops::Range<usize>, out: &mut Out<'_>) {
        for row in rows {
            let Ok(()) = write_plan_record(&self.plan, row, out);
        }
        debug_assert_eq!(out.remaining(), 0, "record_len disagrees with the bytes written");
    }

    fn write(&self, out: &mut Out<'_>) {
        let Ok(()) = write_plan(&self.plan, out);
    }
}

/// The one-shot shorthands of [`Encoder`] on the inputs themselves: here,
/// beside the encoder they build (the inputs' own file is below it).
impl<'a> BatchPrediction<'a> {
    /// Runs every check and computes the exact size: the [`Encoder`] for
    /// these inputs. Keep it to size and encode with one pass of checks
    /// ([`encoded_len`](Self::encoded_len) then
    /// [`encode_into`](Self::encode_into) on `self` runs them twice).
    ///
    /// # Errors
    ///
    /// As [`Encoder::new`].
    #[inline]
    pub fn encoder(&self) -> Result<Encoder<'a>, Error> {
        Encoder::new(self)
    }

    /// The exact encoded size (runs the checks; see [`Encoder::encoded_len`]).
    ///
    /// # Errors
    ///
    /// As [`Encoder::new`].
    pub fn encoded_len(&self) -> Result<usize, Error> {
        Ok(self.encoder()?.encoded_len())
    }

    /// Checks and encodes into `buf` (see [`Encoder::encode_into`]).
    ///
    /// # Errors
    ///
    /// As [`Encoder::new`], then [`Error::BufferTooSmall`].
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.encoder()?.encode_into(buf)
    }

    /// Checks and encodes into a new `Vec`.
    ///
    /// # Errors
    ///
    /// As [`Encoder::new`].
    pub fn encode_to_vec(&self) -> Result<Vec<u8>, Error> {
        Ok(self.encoder()?.encode_to_vec())
    }
}
