//! The response as a stream of pieces, for the sinks that cannot take the
//! whole response as one slice: [`walk`] visits the same layout as
//! `Encoder::encode_into`, in order, and an [`Emit`] decides where each
//! piece goes (a staging buffer, an owned buffer, or a borrowed slice).
//!
//! `encode_into` keeps its own loop on purpose: it is the hot path, and a
//! second caller of its writer made the compiler lay it out worse (see
//! `docs/benchmarks.md`). The sink tests prove both write the same bytes.

use crate::kernels::Records;
use crate::plan::{Kernel, Plan, RowKernel, Source};
use crate::wire::{self, field, ttype};

/// Where the pieces of a response go, in order.
pub(crate) trait Emit<'a> {
    type Error;

    /// Bytes that live only as long as the encoder (headers, row templates).
    fn put(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;

    /// Bytes from the caller's inputs that go out as they are (raw tensor
    /// content, string contents): a sink may point at them instead of
    /// copying.
    fn borrowed(&mut self, bytes: &'a [u8]) -> Result<(), Self::Error>;

    /// `src`, whole elements of `units.0` bytes, turned by `kernel` into
    /// `units.1` bytes each. A sink may call the kernel on any split of
    /// `src` at element boundaries.
    fn convert(&mut self, src: &'a [u8], units: (usize, usize), kernel: Kernel) -> Result<(), Self::Error>;

    /// Whole records of continuous entries: `values` holds the records'
    /// values, `row_bytes` per record (see [`crate::kernels::Records`]).
    fn records(
        &mut self,
        records: &Records<'a>,
        values: &'a [u8],
        row_bytes: usize,
        kernel: RowKernel,
    ) -> Result<(), Self::Error>;
}

/// Visits the response of `plan` piece by piece, in wire order.
pub(crate) fn walk<'a, E: Emit<'a>>(plan: &Plan<'a>, e: &mut E) -> Result<(), E::Error> {
    walk_head(plan, e)?;
    if let (Some(c), true) = (&plan.continuous, plan.tensors.is_empty()) {
        e.records(&c.records, c.values, c.row_bytes, c.kernel)?;
    } else {
        for row in 0..plan.batch {
            walk_record(plan, row, e)?;
        }
    }
    walk_tail(e)
}

/// The response's head: the `predictions` field and list header.
pub(crate) fn walk_head<'a, E: Emit<'a>>(plan: &Plan<'a>, e: &mut E) -> Result<(), E::Error> {
    let [b0, b1, b2, b3] = wire::to_i32(plan.batch).to_be_bytes();
    e.put(&[
        ttype::LIST,
        0,
        field::PREDICTIONS as u8,
        ttype::STRUCT,
        b0,
        b1,
        b2,
        b3,
    ])
}

/// The STOP that ends the response.
pub(crate) fn walk_tail<'a, E: Emit<'a>>(e: &mut E) -> Result<(), E::Error> {
    e.put(&[ttype::STOP])
}

/// Record `row`, piece by piece.
pub(crate) fn walk_record<'a, E: Emit<'a>>(plan: &Plan<'a>, row: usize, e: &mut E) -> Result<(), E::Error> {
    if let Some(c) = &plan.continuous {
        let values = &c.values[row * c.row_bytes..][..c.row_bytes];
        e.records(&c.records, values, c.row_bytes, c.kernel)?;
    }
    if !plan.tensors.is_empty() {
        e.put(&plan.tensors_head)?;
        for t in &plan.tensors {
            e.put(t.prefix.bytes())?;
            match t.source {
                Source::Fixed { bytes, kernel } => {
                    let row = &bytes[row * t.row_in..][..t.row_in];
                    match t.conversion {
                        None => e.borrowed(row)?,
                        Some(c) => e.convert(row, c.units(), kernel)?,
                    }
                }
                Source::Strings(strings) => {
                    strings.try_for_each(row * t.row_in..(row + 1) * t.row_in, |s| {
                        e.put(&wire::to_i32(s.len()).to_be_bytes())?;
                        e.borrowed(s)
                    })?;
                }
            }
            e.put(t.suffix.bytes())?;
        }
    }
    e.put(&[ttype::STOP])
}
