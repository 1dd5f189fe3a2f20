//! Python buffers as byte slices: an input held for as long as something
//! reads it (`hold`), and an output written in place (`writable`).

use std::ops::Range;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::alloc::vec_with_capacity;
use crate::errors::encode_error;
use crate::limited::Exported;

/// Keeps the decoded bytes alive: the caller's `bytes` object (read in
/// place), or the one copy made of any other buffer.
pub(crate) enum Owner {
    Bytes(#[allow(dead_code)] Py<PyBytes>),
    Copy(#[allow(dead_code)] Box<[u8]>),
}

/// The bytes of `data` and what keeps them alive. A `bytes` object is
/// immutable, so it is read in place; any other buffer (`bytearray`,
/// `memoryview`, numpy array) could change while the GIL is released or
/// after decoding, so it is copied once.
pub(crate) fn hold(data: &Bound<'_, PyAny>) -> PyResult<(Owner, &'static [u8])> {
    let py = data.py();
    let (owner, ptr, len) = if let Ok(b) = data.cast::<PyBytes>() {
        let bytes = b.as_bytes();
        (Owner::Bytes(b.clone().unbind()), bytes.as_ptr(), bytes.len())
    } else {
        let buffer = Exported::get(data)?;
        let len = buffer.len_bytes();
        let mut copy = vec_with_capacity(len, || format!("a copy of the {len}-byte input buffer"))?;
        copy.resize(len, 0);
        buffer.copy_to_slice(py, &mut copy)?;
        let copy = copy.into_boxed_slice();
        let (ptr, len) = (copy.as_ptr(), copy.len());
        (Owner::Copy(copy), ptr, len)
    };
    #[allow(
        unsafe_code,
        reason = "the bytes outlive the Response that holds their owner beside them"
    )]
    // SAFETY: `ptr..ptr + len` is the content of an immutable `bytes`
    // object or of a boxed slice, both owned by `owner`: neither moves nor
    // changes while `owner` lives, and every holder of the returned slice
    // (a `Response`) keeps `owner` beside it and drops it last.
    let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(ptr, len) };
    Ok((owner, bytes))
}

/// `out`'s buffer as bytes: a buffer of bytes as it is; any other
/// (a `float32` array, a memoryview of ints) through a C-contiguous
/// `memoryview(out).cast("B")` of the same memory.
fn byte_buffer(out: &Bound<'_, PyAny>) -> PyResult<Exported> {
    match Exported::get(out) {
        Ok(buffer) => Ok(buffer),
        Err(first) => {
            let py = out.py();
            let Ok(view) = py.import("builtins")?.getattr("memoryview")?.call1((out,)) else {
                return Err(first);
            };
            // Only plain data may be written over: never object pointers
            // (numpy exports an object array as format "O") or anything
            // else whose bytes are not values.
            let format: String = view.getattr("format")?.extract()?;
            let code = format.trim_start_matches(['@', '=', '<', '>', '!']);
            if code.len() != 1 || !"bBhHiIlLqQnNefd?c".contains(code) {
                return Err(encode_error(format!(
                    "out: a buffer of format {format:?} cannot be written as bytes (plain numbers or bytes only)"
                )));
            }
            if !view.getattr("c_contiguous")?.extract::<bool>()? {
                return Err(encode_error("out: the buffer is not C-contiguous"));
            }
            let bytes = view
                .call_method1("cast", ("B",))
                .map_err(|e| encode_error(format!("out: the buffer cannot be written as bytes: {e}")))?;
            Exported::get(&bytes)
        }
    }
}

/// `out` as a writable byte slice: any writable, C-contiguous buffer (of
/// any element type, written by bytes) that overlaps none of `inputs` (the
/// byte ranges an encoder reads). The slice is valid while the returned
/// `Exported` (the export) is kept.
pub(crate) fn writable<'b>(
    out: &Bound<'_, PyAny>,
    inputs: &[Range<usize>],
) -> PyResult<(Exported, &'b mut [u8])> {
    let buffer = byte_buffer(out)?;
    if buffer.readonly() {
        return Err(encode_error("out: the buffer is read-only"));
    }
    if !buffer.is_c_contiguous() {
        return Err(encode_error("out: the buffer is not C-contiguous"));
    }
    let start = buffer.buf_ptr() as usize;
    let range = start..start + buffer.len_bytes();
    if !range.is_empty() && inputs.iter().any(|r| r.start < range.end && range.start < r.end) {
        return Err(encode_error("out: the buffer overlaps an input array"));
    }
    #[allow(unsafe_code, reason = "the exported buffer, as a slice for the encoder")]
    let buf: &mut [u8] = if range.is_empty() {
        &mut []
    } else {
        // SAFETY: a writable, C-contiguous buffer of `len_bytes` bytes,
        // exported to us (so not resized or freed) until `buffer` drops,
        // which the caller keeps while it uses the slice; it overlaps no
        // input, and no other Rust reference to it exists.
        unsafe { std::slice::from_raw_parts_mut(buffer.buf_ptr() as *mut u8, buffer.len_bytes()) }
    };
    Ok((buffer, buf))
}
