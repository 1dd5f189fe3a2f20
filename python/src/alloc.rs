//! Every allocation whose size comes from input, made fallibly: a refusal
//! is a `MemoryError` that names what was being made and its size, never
//! an abort of the interpreter and never a `PanicException`.

use numpy::npyffi::{npy_intp, PY_ARRAY_API};
use numpy::{Element, PyArray, PyArrayDescrMethods};
use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;

/// The `MemoryError` for `what`: `count` elements of `size` bytes each.
fn refused(what: &str, count: Option<usize>, size: usize, why: &str) -> PyErr {
    let size_text = match count.and_then(|n| n.checked_mul(size)) {
        Some(bytes) => format!("{bytes} bytes"),
        None => "more bytes than the address space holds".to_string(),
    };
    PyMemoryError::new_err(format!("{what}: {size_text} {why}"))
}

/// A `Vec` with room for exactly `len` elements, or a `MemoryError` naming
/// `what` (for example `continuous(): 300000 records × 300000 keys`).
pub(crate) fn vec_with_capacity<T>(len: usize, what: impl FnOnce() -> String) -> PyResult<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| refused(&what(), Some(len), size_of::<T>(), "cannot be allocated"))?;
    Ok(v)
}

/// The product of `dims`, or `None` if it overflows (a zero anywhere
/// makes it 0, whatever the others).
pub(crate) fn element_count(dims: &[usize]) -> Option<usize> {
    if dims.contains(&0) {
        return Some(0);
    }
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Whether numpy can make an array of `dims` with `itemsize`-byte
/// elements: the product of the non-zero dimensions times the item size
/// must fit an `npy_intp`, even for an empty array, and so must each
/// dimension.
pub(crate) fn numpy_can_hold(dims: &[usize], itemsize: usize) -> bool {
    dims.iter()
        .filter(|&&d| d != 0)
        .try_fold(itemsize, |n, &d| n.checked_mul(d))
        .is_some_and(|bytes| bytes <= isize::MAX as usize)
}

/// A new C-ordered numpy array of shape `dims` and element `T`, zeroed if
/// `zeroed`, else uninitialised (the caller writes every element before it
/// is seen). A shape numpy cannot hold, or memory numpy cannot get, is a
/// `MemoryError` naming `what` and the size.
pub(crate) fn new_array<'py, T: Element, D: numpy::ndarray::Dimension>(
    py: Python<'py>,
    dims: &[usize],
    zeroed: bool,
    what: impl FnOnce() -> String,
) -> PyResult<Bound<'py, PyArray<T, D>>> {
    let size = size_of::<T>();
    if !numpy_can_hold(dims, size) {
        return Err(refused(
            &format!("{}, shape {dims:?}", what()),
            element_count(dims),
            size,
            "is more than an array can hold",
        ));
    }
    // Every dimension is at most isize::MAX (checked above): no wrap.
    let mut shape: Vec<npy_intp> = dims.iter().map(|&d| d as npy_intp).collect();
    let descr = T::get_dtype(py).into_dtype_ptr();
    #[allow(
        unsafe_code,
        reason = "numpy's C API returns NULL with MemoryError set, which rust-numpy's constructors turn into a panic"
    )]
    // SAFETY: `shape` holds `shape.len()` dimensions, each at most
    // isize::MAX (numpy refuses more than 64 with an error set, not a
    // crash); `descr` is a new reference, which PyArray_Zeros/Empty steal;
    // the GIL is held.
    let ptr = unsafe {
        let nd = shape.len() as std::ffi::c_int;
        if zeroed {
            PY_ARRAY_API.PyArray_Zeros(py, nd, shape.as_mut_ptr(), descr, 0)
        } else {
            PY_ARRAY_API.PyArray_Empty(py, nd, shape.as_mut_ptr(), descr, 0)
        }
    };
    if ptr.is_null() {
        let err = PyErr::fetch(py);
        return Err(if err.is_instance_of::<PyMemoryError>(py) {
            PyMemoryError::new_err(format!("{}, shape {dims:?}: {}", what(), err.value(py)))
        } else {
            err
        });
    }
    #[allow(unsafe_code, reason = "taking ownership of the new array numpy returned")]
    // SAFETY: a non-NULL new reference to an ndarray of element `T` and
    // `dims.len()` dimensions, just made; `D` is that dimensionality (the
    // callers' types say so: Ix1/Ix2 for 1-D/2-D shapes, IxDyn otherwise).
    let array = unsafe { Bound::from_owned_ptr(py, ptr).cast_into_unchecked::<PyArray<T, D>>() };
    debug_assert!(D::NDIM.is_none_or(|n| n == dims.len()));
    Ok(array)
}
