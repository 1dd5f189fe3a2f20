//! The layout: walks the records of a checked [`Plan`] and writes headers,
//! leaving every element loop to [`crate::kernels`].

use crate::error::Error;
use crate::input::BatchPrediction;
use crate::kernels::Level;
use crate::plan::{ContinuousPlan, Plan, Source, TensorPlan};
use crate::wire::{field, ttype, Out, Template, FIELD_HEADER, MAP_HEADER};
use core::convert::Infallible;

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
    pub fn new(inputs: &BatchPrediction<'a>) -> Result<Self, Error> {
        Ok(Encoder {
            plan: Plan::new(inputs)?,
        })
    }

    /// An encoder of a plan made elsewhere (a prepared [`Signature`](crate::Signature)).
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
        let Some(dst) = buf.get_mut(..len) else {
            return Err(Error::BufferTooSmall {
                needed: len,
                available: buf.len(),
            });
        };
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

    fn write(&self, out: &mut Out<'_>) {
        let p = &self.plan;
        write_response(p.batch, p.continuous.as_ref(), &p.tensors_head, &p.tensors, out);
    }

    /// Records `rows` into `out`, which must be exactly their length (see
    /// [`Plan::record_len`]): for the chunked sinks, which write whole
    /// records with the same code as `encode_into` when they fit.
    pub(crate) fn write_records(&self, rows: core::ops::Range<usize>, out: &mut Out<'_>) {
        let p = &self.plan;
        for row in rows {
            write_record(row, p.continuous.as_ref(), &p.tensors_head, &p.tensors, out);
        }
        debug_assert_eq!(out.remaining(), 0, "record_len disagrees with the bytes written");
    }
}

/// One tensor's rows, as the record writer needs them: the templates
/// around each row and the row's data. Implemented by the one-shot plan's
/// tensors (templates built per call) and by a prepared signature's
/// (templates borrowed from the signature): the writer is monomorphised
/// for each, so neither pays a branch per row.
pub(crate) trait TensorRows<'a> {
    /// Map key, union field, and the tensor struct up to the row's data.
    fn prefix(&self) -> &Template;
    /// The shape field and the two STOPs.
    fn suffix(&self) -> &Template;
    /// The elements, and the kernel of a fixed-size row.
    fn source(&self) -> &Source<'a>;
    /// Input per row: bytes for fixed-size elements, strings for strings.
    fn row_in(&self) -> usize;
    /// Output bytes of a fixed-size row.
    fn row_out(&self) -> usize;
}

impl<'a> TensorRows<'a> for TensorPlan<'a> {
    #[inline(always)]
    fn prefix(&self) -> &Template {
        &self.prefix
    }
    #[inline(always)]
    fn suffix(&self) -> &Template {
        &self.suffix
    }
    #[inline(always)]
    fn source(&self) -> &Source<'a> {
        &self.source
    }
    #[inline(always)]
    fn row_in(&self) -> usize {
        self.row_in
    }
    #[inline(always)]
    fn row_out(&self) -> usize {
        self.row_out
    }
}

/// The whole response: the `predictions` list of `batch` records. The one
/// layout of a response, for every caller that writes into one slice.
#[inline(always)]
pub(crate) fn write_response<'a, T: TensorRows<'a>>(
    batch: usize,
    continuous: Option<&ContinuousPlan<'a>>,
    tensors_head: &[u8; FIELD_HEADER + MAP_HEADER],
    tensors: &[T],
    out: &mut Out<'_>,
) {
    out.put(&[ttype::LIST, 0, field::PREDICTIONS as u8, ttype::STRUCT]);
    out.put_i32(crate::wire::to_i32(batch));
    if let (Some(c), true) = (continuous, tensors.is_empty()) {
        // Continuous only: every record in one kernel call.
        let dst = out.take(batch * c.records.record_len());
        (c.kernel)(&c.records, c.values, dst);
        out.put_u8(ttype::STOP);
        return;
    }
    for row in 0..batch {
        write_record(row, continuous, tensors_head, tensors, out);
    }
    out.put_u8(ttype::STOP);
}

// Inlined into each of its loops, so that `encode_into`'s stays laid out
// as if it were the only one.
#[inline(always)]
fn write_record<'a, T: TensorRows<'a>>(
    row: usize,
    continuous: Option<&ContinuousPlan<'a>>,
    tensors_head: &[u8; FIELD_HEADER + MAP_HEADER],
    tensors: &[T],
    out: &mut Out<'_>,
) {
    if let Some(c) = continuous {
        let dst = out.take(c.records.record_len());
        (c.kernel)(&c.records, &c.values[row * c.row_bytes..][..c.row_bytes], dst);
    }
    if !tensors.is_empty() {
        out.put(tensors_head);
        for t in tensors {
            write_tensor_row(t, row, out);
        }
    }
    out.put_u8(ttype::STOP);
}

// Inlined into each record loop: with two callers and no hint, it was
// called out of line, 47 instructions more per tensor row (iai, W5).
#[inline(always)]
fn write_tensor_row<'a, T: TensorRows<'a>>(t: &T, row: usize, out: &mut Out<'_>) {
    out.put_template(t.prefix());
    let row_in = t.row_in();
    match *t.source() {
        Source::Fixed { bytes, kernel } => {
            kernel(&bytes[row * row_in..][..row_in], out.take(t.row_out()));
        }
        Source::Strings(strings) => {
            let _ = strings.try_for_each(row * row_in..(row + 1) * row_in, |s| {
                out.put_i32(crate::wire::to_i32(s.len()));
                out.put(s);
                Ok::<(), Infallible>(())
            });
        }
    }
    out.put_template(t.suffix());
}

impl<'a> BatchPrediction<'a> {
    /// Runs every check and computes the exact size: the [`Encoder`] for
    /// these inputs. Keep it to size and encode with one pass of checks
    /// ([`encoded_len`](Self::encoded_len) then
    /// [`encode_into`](Self::encode_into) on `self` runs them twice).
    ///
    /// # Errors
    ///
    /// As [`Encoder::new`].
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
