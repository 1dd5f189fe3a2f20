//! The layout: the one writer of a response's bytes ([`write_response`]),
//! which walks the records of a checked [`Plan`] (or of a prepared
//! signature's batch) and writes headers into any [`Emit`] output, leaving
//! every element loop to [`crate::kernels`].

use crate::error::Error;
use crate::input::BatchPrediction;
use crate::kernels::{Conversion, Level, Records};
use crate::plan::{ContinuousPlan, Kernel, Plan, RowKernel, Source, TensorPlan};
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
        let Ok(()) = self.plan.write(out);
    }

    /// Records `rows` into `out`, which must be exactly their length (see
    /// [`Plan::record_len`]): for the chunked sinks, which write whole
    /// records with the same code as `encode_into` when they fit.
    pub(crate) fn write_records(&self, rows: core::ops::Range<usize>, out: &mut Out<'_>) {
        for row in rows {
            let Ok(()) = self.plan.write_record(row, out);
        }
        debug_assert_eq!(out.remaining(), 0, "record_len disagrees with the bytes written");
    }
}

/// Where the pieces of a response go, in wire order: the one layout
/// writer ([`write_response`] and the functions under it) is generic over
/// it. The slice writer ([`Out`], behind `encode_into`) copies every piece
/// into place; the sinks stage pieces, or point at the caller's bytes
/// instead of copying them. Each output is monomorphised, so the slice
/// writer pays nothing for the others (its `Error` is `Infallible`).
pub(crate) trait Emit<'a> {
    /// What a sink's output can fail with.
    type Error;

    /// Bytes that live only as long as the encoder (headers, lengths).
    fn put(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;

    /// A row template (see [`Template`]).
    #[inline(always)]
    fn template(&mut self, t: &Template) -> Result<(), Self::Error> {
        self.put(t.bytes())
    }

    /// A big-endian `i32` (a list or string length).
    #[inline(always)]
    fn put_i32(&mut self, v: i32) -> Result<(), Self::Error> {
        self.put(&v.to_be_bytes())
    }

    /// Bytes from the caller's inputs that go out as they are (raw rows,
    /// string contents): a sink may point at them instead of copying.
    fn borrowed(&mut self, bytes: &'a [u8]) -> Result<(), Self::Error>;

    /// A fixed-size tensor row that needs converting: `src` turned by
    /// `kernel` into `row_out` bytes. A sink may call the kernel on any
    /// split of `src` at `conversion`'s element boundaries
    /// ([`Conversion::units`]).
    fn convert(
        &mut self,
        src: &'a [u8],
        row_out: usize,
        kernel: Kernel,
        conversion: Conversion,
    ) -> Result<(), Self::Error>;

    /// `rows` whole records of continuous entries (see [`Records`]):
    /// `values` holds their values, `rows × row_bytes` bytes.
    fn records(
        &mut self,
        records: &Records<'a>,
        values: &'a [u8],
        rows: usize,
        kernel: RowKernel,
    ) -> Result<(), Self::Error>;
}

/// The slice writer: every piece copied (or converted) into place.
impl<'a> Emit<'a> for Out<'_> {
    type Error = Infallible;

    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        Out::put(self, bytes);
        Ok(())
    }

    #[inline(always)]
    fn template(&mut self, t: &Template) -> Result<(), Infallible> {
        self.put_template(t);
        Ok(())
    }

    #[inline(always)]
    fn put_i32(&mut self, v: i32) -> Result<(), Infallible> {
        Out::put_i32(self, v);
        Ok(())
    }

    #[inline(always)]
    fn borrowed(&mut self, bytes: &'a [u8]) -> Result<(), Infallible> {
        Out::put(self, bytes);
        Ok(())
    }

    #[inline(always)]
    fn convert(
        &mut self,
        src: &'a [u8],
        row_out: usize,
        kernel: Kernel,
        _: Conversion,
    ) -> Result<(), Infallible> {
        kernel(src, self.take(row_out));
        Ok(())
    }

    #[inline(always)]
    fn records(
        &mut self,
        records: &Records<'a>,
        values: &'a [u8],
        rows: usize,
        kernel: RowKernel,
    ) -> Result<(), Infallible> {
        kernel(records, values, self.take(rows * records.record_len()));
        Ok(())
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

/// The whole response: the `predictions` list of `batch` records. With
/// [`write_head`], [`write_record`] and [`write_tail`] below, the one
/// layout of a response, for every output.
#[inline(always)]
pub(crate) fn write_response<'a, T: TensorRows<'a>, E: Emit<'a>>(
    batch: usize,
    continuous: Option<&ContinuousPlan<'a>>,
    tensors_head: &[u8; FIELD_HEADER + MAP_HEADER],
    tensors: &[T],
    e: &mut E,
) -> Result<(), E::Error> {
    write_head(batch, e)?;
    if let (Some(c), true) = (continuous, tensors.is_empty()) {
        // Continuous only: every record in one kernel call.
        e.records(&c.records, c.values, batch, c.kernel)?;
    } else {
        for row in 0..batch {
            write_record(row, continuous, tensors_head, tensors, e)?;
        }
    }
    write_tail(e)
}

/// The response's head: the `predictions` field and list header.
#[inline(always)]
pub(crate) fn write_head<'a, E: Emit<'a>>(batch: usize, e: &mut E) -> Result<(), E::Error> {
    e.put(&[ttype::LIST, 0, field::PREDICTIONS as u8, ttype::STRUCT])?;
    e.put_i32(crate::wire::to_i32(batch))
}

/// The STOP that ends the response.
#[inline(always)]
pub(crate) fn write_tail<'a, E: Emit<'a>>(e: &mut E) -> Result<(), E::Error> {
    e.put(&[ttype::STOP])
}

/// Record `row`: its continuous entries, its tensors, its STOP.
// Inlined into each of its loops, so that `encode_into`'s stays laid out
// as if it were the only one.
#[inline(always)]
pub(crate) fn write_record<'a, T: TensorRows<'a>, E: Emit<'a>>(
    row: usize,
    continuous: Option<&ContinuousPlan<'a>>,
    tensors_head: &[u8; FIELD_HEADER + MAP_HEADER],
    tensors: &[T],
    e: &mut E,
) -> Result<(), E::Error> {
    if let Some(c) = continuous {
        e.records(
            &c.records,
            &c.values[row * c.row_bytes..][..c.row_bytes],
            1,
            c.kernel,
        )?;
    }
    if !tensors.is_empty() {
        e.put(tensors_head)?;
        for t in tensors {
            write_tensor_row(t, row, e)?;
        }
    }
    e.put(&[ttype::STOP])
}

// Inlined into each record loop: with two callers and no hint, it was
// called out of line, 47 instructions more per tensor row (iai, W5).
#[inline(always)]
fn write_tensor_row<'a, T: TensorRows<'a>, E: Emit<'a>>(
    t: &T,
    row: usize,
    e: &mut E,
) -> Result<(), E::Error> {
    e.template(t.prefix())?;
    let row_in = t.row_in();
    match *t.source() {
        Source::Raw(bytes) => e.borrowed(&bytes[row * row_in..][..row_in])?,
        Source::Converted {
            bytes,
            kernel,
            conversion,
        } => {
            e.convert(&bytes[row * row_in..][..row_in], t.row_out(), kernel, conversion)?;
        }
        Source::Strings(strings) => {
            strings.try_for_each(row * row_in..(row + 1) * row_in, |s| {
                e.put_i32(crate::wire::to_i32(s.len()))?;
                e.borrowed(s)
            })?;
        }
    }
    e.template(t.suffix())
}

impl<'a> Plan<'a> {
    /// The whole response of this plan into `e`.
    #[inline]
    pub(crate) fn write<E: Emit<'a>>(&self, e: &mut E) -> Result<(), E::Error> {
        write_response(
            self.batch,
            self.continuous.as_ref(),
            &self.tensors_head,
            &self.tensors,
            e,
        )
    }

    /// Record `row` of this plan into `e`.
    #[inline]
    pub(crate) fn write_record<E: Emit<'a>>(&self, row: usize, e: &mut E) -> Result<(), E::Error> {
        write_record(
            row,
            self.continuous.as_ref(),
            &self.tensors_head,
            &self.tensors,
            e,
        )
    }
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
