//! The CPython functions this package calls that joined the limited API
//! after 3.9, the oldest version its abi3 wheels run on: the buffer
//! protocol (limited API since 3.11) and a `str`'s cached UTF-8 (since
//! 3.10). PyO3 hides them from an abi3 build below those versions;
//! CPython has exported them, with these signatures and this `Py_buffer`
//! layout, since 3.3, and the stable ABI adopted them unchanged, so they
//! are declared here as CPython's headers declare them, for both wheels
//! (`abi3-py310`, and `abi3-py39`).
//!
//! [`Exported`] is a buffer export (what `pyo3::buffer::PyBuffer<u8>`
//! was to this package): requested as `PyBUF_FULL_RO`, accepted only as
//! bytes (format `B`, items of 1 byte), released under the GIL when
//! dropped. [`utf8`] is a `str`'s UTF-8, borrowed.

#![allow(
    unsafe_code,
    reason = "declarations of CPython's own C functions, and the buffer they fill"
)]

use std::ffi::{c_char, c_int, c_void, CStr};

use pyo3::exceptions::PyBufferError;
use pyo3::ffi::{PyObject, Py_ssize_t};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// CPython's `Py_buffer` (`Include/pybuffer.h`; the same since 3.3).
#[repr(C)]
struct PyBufferView {
    buf: *mut c_void,
    obj: *mut PyObject,
    len: Py_ssize_t,
    itemsize: Py_ssize_t,
    readonly: c_int,
    ndim: c_int,
    format: *mut c_char,
    shape: *mut Py_ssize_t,
    strides: *mut Py_ssize_t,
    suboffsets: *mut Py_ssize_t,
    internal: *mut c_void,
}

/// `PyBUF_FULL_RO`: any layout (strides, suboffsets) and the format, not
/// asking for write access, as PyO3's `PyBuffer::get` asks.
const PYBUF_FULL_RO: c_int = 0x100 | 0x10 | 0x08 | 0x04;

extern "C" {
    fn PyObject_GetBuffer(obj: *mut PyObject, view: *mut PyBufferView, flags: c_int) -> c_int;
    fn PyBuffer_Release(view: *mut PyBufferView);
    fn PyBuffer_IsContiguous(view: *const PyBufferView, order: c_char) -> c_int;
    fn PyBuffer_ToContiguous(
        buf: *mut c_void,
        view: *const PyBufferView,
        len: Py_ssize_t,
        order: c_char,
    ) -> c_int;
    fn PyUnicode_AsUTF8AndSize(unicode: *mut PyObject, size: *mut Py_ssize_t) -> *const c_char;
}

/// A buffer exported to us by a Python object, of bytes; released when
/// dropped.
pub(crate) struct Exported {
    // Boxed: an exporter may point the view's fields into the view itself,
    // so it must not move while exported.
    view: Box<PyBufferView>,
}

// SAFETY: the export is an owned reference to the exporter plus memory the
// exporter keeps alive until release; release takes the GIL (`Drop`), from
// whichever thread drops it (as PyO3's `PyBuffer` is `Send`).
unsafe impl Send for Exported {}

impl Exported {
    /// `obj`'s buffer, if it exports one of bytes (format `B` or none,
    /// items of 1 byte; any layout).
    ///
    /// # Errors
    ///
    /// `BufferError` when `obj` exports no buffer, or one of other items.
    pub(crate) fn get(obj: &Bound<'_, PyAny>) -> PyResult<Exported> {
        let mut view = Box::new(PyBufferView {
            buf: std::ptr::null_mut(),
            obj: std::ptr::null_mut(),
            len: 0,
            itemsize: 0,
            readonly: 0,
            ndim: 0,
            format: std::ptr::null_mut(),
            shape: std::ptr::null_mut(),
            strides: std::ptr::null_mut(),
            suboffsets: std::ptr::null_mut(),
            internal: std::ptr::null_mut(),
        });
        // SAFETY: `obj` is a live object (we hold the GIL through `obj`);
        // `view` is a zeroed `Py_buffer` that CPython fills.
        if unsafe { PyObject_GetBuffer(obj.as_ptr(), &mut *view, PYBUF_FULL_RO) } != 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        let exported = Exported { view };
        if exported.view.itemsize != 1 || !exported.format_is_bytes() {
            return Err(PyBufferError::new_err(
                "buffer contents are not compatible with u8",
            ));
        }
        Ok(exported)
    }

    /// The format says unsigned bytes: none given (that means `B`), or
    /// `B` after an optional byte-order character.
    fn format_is_bytes(&self) -> bool {
        if self.view.format.is_null() {
            return true;
        }
        // SAFETY: a non-NULL format of an export is a NUL-terminated
        // string that lives as long as the export.
        let format = unsafe { CStr::from_ptr(self.view.format) }.to_bytes();
        let code = format
            .strip_prefix(b"@")
            .or(format.strip_prefix(b"="))
            .unwrap_or(format);
        let code = code
            .strip_prefix(b"<")
            .or(code.strip_prefix(b">"))
            .or(code.strip_prefix(b"!"))
            .unwrap_or(code);
        code == b"B"
    }

    /// The start of the buffer's memory.
    pub(crate) fn buf_ptr(&self) -> *mut c_void {
        self.view.buf
    }

    /// Its length in bytes.
    pub(crate) fn len_bytes(&self) -> usize {
        usize::try_from(self.view.len).unwrap_or(0)
    }

    /// Whether the exporter refuses writes.
    pub(crate) fn readonly(&self) -> bool {
        self.view.readonly != 0
    }

    /// Whether its bytes are one C-contiguous run.
    pub(crate) fn is_c_contiguous(&self) -> bool {
        // SAFETY: a view CPython filled and not yet released.
        unsafe { PyBuffer_IsContiguous(&*self.view, b'C' as c_char) != 0 }
    }

    /// Its bytes copied, in C order, into `dst` (exactly
    /// [`len_bytes`](Self::len_bytes) long).
    ///
    /// # Errors
    ///
    /// `BufferError` when `dst` has another length; CPython's error if the
    /// copy fails.
    pub(crate) fn copy_to_slice(&self, py: Python<'_>, dst: &mut [u8]) -> PyResult<()> {
        if dst.len() != self.len_bytes() {
            return Err(PyBufferError::new_err(
                "slice to copy to is not the buffer's length",
            ));
        }
        // SAFETY: a live view; `dst` is writable for exactly the view's
        // `len` bytes (checked), which CPython copies in C order.
        let status = unsafe {
            PyBuffer_ToContiguous(
                dst.as_mut_ptr().cast(),
                &*self.view,
                self.view.len,
                b'C' as c_char,
            )
        };
        if status != 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(())
    }
}

impl Drop for Exported {
    fn drop(&mut self) {
        // SAFETY: a view CPython filled and not yet released, released once,
        // with the GIL held.
        Python::attach(|_| unsafe { PyBuffer_Release(&mut *self.view) });
    }
}

/// `s` as UTF-8, borrowed from the `str` (CPython caches it there), as
/// PyO3's `PyString::to_str` gives it.
///
/// # Errors
///
/// Python's `UnicodeEncodeError` when it has none (a lone surrogate).
pub(crate) fn utf8<'a>(s: &'a Bound<'_, PyString>) -> PyResult<&'a str> {
    let mut size: Py_ssize_t = 0;
    // SAFETY: `s` is a live `str`; CPython returns a pointer to its cached
    // UTF-8 (valid as long as `s`) and its length, or NULL with an error set.
    let ptr = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if ptr.is_null() {
        return Err(PyErr::fetch(s.py()));
    }
    // SAFETY: `size` bytes at `ptr`, owned by `s` (borrowed for `'a`).
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), usize::try_from(size).unwrap_or(0)) };
    // SAFETY: CPython's UTF-8 form of a `str` is valid UTF-8.
    Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
}
