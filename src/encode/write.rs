//! The one layout writer of a response ([`write_response`] and the
//! functions under it), which walks the records of a checked plan (or of
//! a prepared signature's batch) and writes headers into any [`Emit`]
//! output, leaving every element loop to [`crate::kernels`]; and [`Out`],
//! the slice cursor behind `encode_into`.

use crate::encode::input::Source;
use crate::encode::layout::{Template, TEMPLATE_BLOCK};
use crate::encode::plan::{ContinuousPlan, Plan, TensorPlan};
use crate::kernels::{Conversion, Kernel, Records, RowKernel};
use crate::wire::{field, field_header, ttype, PutHeader, FIELD_HEADER, MAP_HEADER};
use core::convert::Infallible;

/// Writes sequentially into a slice that the size computation made exactly
/// as long as the response. Each call slices once, so a wrong size
/// computation panics here instead of writing out of bounds; tests prove
/// that `encoded_len()` always equals the bytes written.
pub(crate) struct Out<'b> {
    rest: &'b mut [u8],
}

impl<'b> Out<'b> {
    #[inline]
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Out { rest: buf }
    }

    /// The next `n` bytes, handed out for a kernel to fill.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> &'b mut [u8] {
        let (head, tail) = core::mem::take(&mut self.rest).split_at_mut(n);
        self.rest = tail;
        head
    }

    #[inline]
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        self.take(bytes.len()).copy_from_slice(bytes);
    }

    #[inline]
    pub(crate) fn put_i32(&mut self, v: i32) {
        self.put(&v.to_be_bytes());
    }

    /// Writes a per-row template. A short one is copied as a whole 64-byte
    /// block when the output has room (one fixed-size copy instead of a
    /// `memcpy` call of a run-time length); the bytes past its length are
    /// scratch that the next writes overwrite, since the output is written
    /// front to back and to its last byte.
    #[inline]
    pub(crate) fn put_template(&mut self, t: &Template) {
        match t {
            Template::Short { bytes, len } => {
                let len = usize::from(*len);
                if let Some(block) = self.rest.get_mut(..TEMPLATE_BLOCK) {
                    block.copy_from_slice(&bytes.0);
                    self.take(len);
                } else {
                    self.put(&bytes.0[..len]);
                }
            }
            Template::Long(bytes) => self.put(bytes),
        }
    }

    /// Bytes not yet written.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }
}

/// Headers written into place (the reply envelope's).
impl PutHeader for Out<'_> {
    #[inline]
    fn put_bytes(&mut self, bytes: &[u8]) {
        self.put(bytes);
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

    /// Whether this output writes runs of records its own way
    /// ([`record_run`](Self::record_run)). Known at compile time, so the
    /// others keep the plain record loop.
    const WRITES_RUNS: bool = false;

    /// Records from `row` on (up to `batch`), each written by `record`;
    /// returns the row after the last one written (more than `row`). One
    /// record by default; a sink that writes runs of whole records its own
    /// way (the staging sink) overrides it and sets
    /// [`WRITES_RUNS`](Self::WRITES_RUNS).
    #[inline(always)]
    fn record_run(
        &mut self,
        row: usize,
        batch: usize,
        record: &mut impl FnMut(&mut Self, usize) -> Result<(), Self::Error>,
    ) -> Result<usize, Self::Error> {
        let _ = batch;
        record(self, row)?;
        Ok(row + 1)
    }
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

/// The whole response of a one-shot `plan` into `e`.
#[inline]
pub(crate) fn write_plan<'a, E: Emit<'a>>(plan: &Plan<'a>, e: &mut E) -> Result<(), E::Error> {
    write_response(
        plan.batch,
        plan.continuous.as_ref(),
        &plan.tensors_head,
        &plan.tensors,
        e,
    )
}

/// Record `row` of a one-shot `plan` into `e`.
#[inline]
pub(crate) fn write_plan_record<'a, E: Emit<'a>>(
    plan: &Plan<'a>,
    row: usize,
    e: &mut E,
) -> Result<(), E::Error> {
    write_record(
        row,
        plan.continuous.as_ref(),
        &plan.tensors_head,
        &plan.tensors,
        e,
    )
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
    } else if E::WRITES_RUNS {
        let mut record = |e: &mut E, row| write_record(row, continuous, tensors_head, tensors, e);
        let mut row = 0;
        while row < batch {
            row = e.record_run(row, batch, &mut record)?;
        }
    } else {
        // The slice writer and the vectored sink: no closure in the loop
        // (one cost 1.6% of W5's instructions through a prepared signature).
        for row in 0..batch {
            write_record(row, continuous, tensors_head, tensors, e)?;
        }
    }
    write_tail(e)
}

/// The response's head: the `predictions` field and list header.
#[inline(always)]
pub(crate) fn write_head<'a, E: Emit<'a>>(batch: usize, e: &mut E) -> Result<(), E::Error> {
    let [list, id0, id1] = field_header(ttype::LIST, field::PREDICTIONS);
    e.put(&[list, id0, id1, ttype::STRUCT])?;
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
