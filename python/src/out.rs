//! Where encoded bytes go: a new numpy `uint8 [1, len]` array (twml's
//! ops), a new `bytes`, or the caller's writable buffer.

use std::ops::Range;

use bprwire::service::Envelope;
use bprwire::Encoder;
use numpy::ndarray::Ix2;
use numpy::{PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::alloc::new_array;
use crate::buffers::writable;
use crate::errors::{enc, encode_error};
use crate::gil::{released, Gil};

/// What to write: the response, or a `getBatchPrediction` reply around it.
#[derive(Clone, Copy)]
pub(crate) enum Message {
    Response,
    Reply(Envelope),
}

impl Message {
    pub(crate) fn len(self, e: &Encoder<'_>) -> PyResult<usize> {
        match self {
            Message::Response => Ok(e.encoded_len()),
            Message::Reply(env) => e.reply_len(env).map_err(enc),
        }
    }

    fn write(self, e: &Encoder<'_>, buf: &mut [u8]) -> Result<usize, bprwire::Error> {
        match self {
            Message::Response => e.encode_into(buf),
            Message::Reply(env) => e.encode_reply_into(env, buf),
        }
    }
}

/// The message in a new numpy `uint8` array of shape `[1, len]` (a
/// `MemoryError` if numpy cannot have it).
pub(crate) fn to_array<'py>(
    py: Python<'py>,
    e: &Encoder<'_>,
    m: Message,
    gil: Gil,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let len = m.len(e)?;
    // Every one of the `len` bytes is written below before the array is
    // handed out (encode_into writes exactly `len` bytes or fails, and on
    // failure the array is dropped unseen).
    let array = new_array::<u8, Ix2>(py, &[1, len], false, || "the encoded response".to_string())?;
    #[allow(
        unsafe_code,
        reason = "writing into the new array numpy made, before anyone sees it"
    )]
    // SAFETY: a new C-contiguous array no one else can reach yet.
    let buf = unsafe { array.as_slice_mut() }.map_err(|e| encode_error(e.to_string()))?;
    let n = released(py, gil.work(len), || m.write(e, buf)).map_err(enc)?;
    debug_assert_eq!(n, len);
    Ok(array)
}

/// The message in a new `bytes`.
pub(crate) fn to_bytes<'py>(
    py: Python<'py>,
    e: &Encoder<'_>,
    m: Message,
    gil: Gil,
) -> PyResult<Bound<'py, PyBytes>> {
    let len = m.len(e)?;
    PyBytes::new_with(py, len, |buf| {
        released(py, gil.work(len), || m.write(e, buf))
            .map(drop)
            .map_err(enc)
    })
}

/// The message into the start of `out`, any writable C-contiguous buffer
/// of bytes (`bytearray`, numpy `uint8` array, `memoryview`); returns its
/// length. `inputs` are the byte ranges the encoder reads: an `out` that
/// overlaps one is refused.
pub(crate) fn into_buffer(
    py: Python<'_>,
    e: &Encoder<'_>,
    m: Message,
    gil: Gil,
    out: &Bound<'_, PyAny>,
    inputs: &[Range<usize>],
) -> PyResult<usize> {
    let len = m.len(e)?;
    let (buffer, buf) = writable(out, inputs)?;
    if buf.len() < len {
        return Err(enc(bprwire::Error::BufferTooSmall {
            needed: len,
            available: buf.len(),
        }));
    }
    let n = released(py, gil.work(len), || m.write(e, buf)).map_err(enc)?;
    drop(buffer);
    Ok(n)
}

/// The `Envelope` of a reply.
pub(crate) fn envelope(seqid: i32, framed: bool) -> Message {
    Message::Reply(Envelope { seqid, framed })
}
