//! Every size rule of a response, in one place: the wire's `i32` limit
//! on lists, maps and strings, shape products, and the sums that make a
//! record's and the response's length. Both planners (the one-shot
//! [`Plan`](super::plan::Plan) and the prepared
//! [`Signature`](super::signature::Signature)) size through these, so
//! they cannot disagree.

use crate::encode::error::{Error, Input, Size};
use crate::wire::{CONTINUOUS_ENTRY, FIELD_HEADER, LIST_HEADER, MAP_HEADER, MAX_SIZE, STOP};

pub(crate) fn too_large(input: Option<Input>, what: Size, size: usize, limit: usize) -> Error {
    Error::TooLarge {
        input,
        what,
        size: size as u64,
        limit: limit as u64,
    }
}

pub(crate) fn check_size(input: Option<Input>, what: Size, size: usize) -> Result<(), Error> {
    if size > MAX_SIZE {
        Err(too_large(input, what, size, MAX_SIZE))
    } else {
        Ok(())
    }
}

/// Product of `dims` (all of `shape`, or its tail), refusing overflow; a
/// zero anywhere makes it zero, even when the other dimensions alone would
/// overflow. The error names the whole `shape`.
pub(crate) fn product(input: Input, shape: &[usize], dims: &[usize]) -> Result<usize, Error> {
    if dims.contains(&0) {
        return Ok(0);
    }
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::ShapeOverflow {
            input,
            shape: shape.into(),
        })
}

/// Adds to a running total, refusing overflow of the response size.
pub(crate) fn add(total: usize, more: usize) -> Result<usize, Error> {
    total
        .checked_add(more)
        .ok_or(too_large(None, Size::Response, usize::MAX, usize::MAX))
}

pub(crate) fn mul(a: usize, b: usize) -> Result<usize, Error> {
    a.checked_mul(b)
        .ok_or(too_large(None, Size::Response, usize::MAX, usize::MAX))
}

/// The bytes of one record apart from its strings' contents, summed in
/// wire order by both planners: the STOP that ends it, a continuous map
/// of `n` entries (none for `n == 0`, as twml writes), the `tensors` map
/// header when there are tensors, and each tensor's templates and
/// fixed-size row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordLen(usize);

impl RecordLen {
    /// An empty record: its STOP.
    pub(crate) fn new() -> RecordLen {
        RecordLen(STOP)
    }

    /// Plus a continuous map of `n` entries.
    pub(crate) fn continuous(self, n: usize) -> Result<RecordLen, Error> {
        if n == 0 {
            return Ok(self);
        }
        let map = add(FIELD_HEADER + MAP_HEADER, mul(CONTINUOUS_ENTRY, n)?)?;
        Ok(RecordLen(add(self.0, map)?))
    }

    /// Plus the `tensors` map's field and map header.
    pub(crate) fn tensors_map(self) -> Result<RecordLen, Error> {
        Ok(RecordLen(add(self.0, FIELD_HEADER + MAP_HEADER)?))
    }

    /// Plus one tensor's row: its templates' bytes (map key, union arm,
    /// tensor struct, shape: [`templates_len`](crate::encode::layout::templates_len))
    /// and its fixed-size data (`row_out`, 0 for strings).
    pub(crate) fn tensor_row(self, templates: usize, row_out: usize) -> Result<RecordLen, Error> {
        Ok(RecordLen(add(add(self.0, templates)?, row_out)?))
    }

    /// The bytes.
    pub(crate) fn get(self) -> usize {
        self.0
    }
}

/// The whole response: the `predictions` field and list header, `batch`
/// records of `record` bytes, `strings` bytes of string contents (length
/// prefixes included), and the STOP that ends the response.
#[inline(always)]
pub(crate) fn response_len(batch: usize, record: usize, strings: usize) -> Result<usize, Error> {
    add(
        add(FIELD_HEADER + LIST_HEADER + STOP, mul(batch, record)?)?,
        strings,
    )
}

/// Checks that an input holds the `expected` elements its shape (given
/// only for the error, built only then) says.
#[inline(always)]
pub(crate) fn check_count(
    input: Input,
    expected: usize,
    found: usize,
    shape: impl FnOnce() -> Box<[usize]>,
) -> Result<(), Error> {
    if found == expected {
        return Ok(());
    }
    Err(Error::ElementCountMismatch {
        input,
        shape: shape(),
        expected,
        found,
    })
}
