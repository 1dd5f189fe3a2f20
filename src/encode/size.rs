//! Every size rule of a response, in one place: the wire's `i32` limit
//! on lists, maps and strings, shape products, and the sums that make a
//! record's and the response's length. Both planners (the one-shot
//! [`Plan`](super::plan::Plan) and the prepared
//! [`Signature`](super::signature::Signature)) size through these, so
//! they cannot disagree.

use crate::encode::error::{Error, Input, Size};
use crate::wire::MAX_SIZE;

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
