//! The one-shot writers of twml's two ops: continuous features, and dense
//! tensors, each sized, written into a buffer, or written into one the
//! caller allocates.

use std::ffi::c_void;

use bprwire::{BatchPrediction, DataType, Tensor, Values};

use crate::args::{aligned, buffer, held_strings, put, raw, slice, slice_mut, tensor_data, PerTensor, What};
use crate::error::{guard, Fail, BPRWIRE_ERR_ALLOC, BPRWIRE_ERR_INVALID, BPRWIRE_ERR_NULL};
use crate::types::{bprwire_tensor, BPRWIRE_DOUBLE, BPRWIRE_FLOAT};

/// Allocates the output of an `_encode_alloc` writer: called once, with
/// the exact encoded length, before anything is written; returns a buffer
/// of at least `len` writable bytes (owned by the caller), or NULL to
/// refuse (the writer then returns `BPRWIRE_ERR_ALLOC`). It must not
/// unwind (throw a C++ exception) into bprwire.
#[allow(non_camel_case_types)]
pub type bprwire_alloc_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, len: usize) -> *mut u8>;

/// Sizes `bp`, asks `alloc` for exactly that many bytes, writes them and
/// reports the count: one plan for both (the `_encoded_len` + `_encode`
/// pair plans twice).
///
/// # Safety
///
/// `alloc` must behave as [`bprwire_alloc_fn`] says; `written` NULL or
/// valid for a write.
#[inline(always)]
unsafe fn encode_alloc(
    bp: &BatchPrediction<'_>,
    alloc: bprwire_alloc_fn,
    ctx: *mut c_void,
    written: *mut usize,
) -> Result<(), Fail> {
    let Some(alloc) = alloc else {
        return Err(Fail::new(BPRWIRE_ERR_NULL, "alloc is NULL"));
    };
    if written.is_null() {
        return Err(Fail::new(BPRWIRE_ERR_NULL, "written is NULL"));
    }
    let encoder = bp.encoder()?;
    let len = encoder.encoded_len();
    // SAFETY: the caller's promise for `alloc`.
    let buf = unsafe { alloc(ctx, len) };
    if buf.is_null() {
        return Err(Fail::new(BPRWIRE_ERR_ALLOC, format!("alloc refused {len} bytes")));
    }
    // SAFETY: `alloc` promises `len` writable bytes at `buf`.
    let n = encoder.encode_into(unsafe { slice_mut(buf, len, "the allocated buffer")? })?;
    // SAFETY: checked non-null above; the caller promises it is writable.
    unsafe { put(written, n, "written") }
}

/// Runs `f` on the encoder of continuous predictions: `n_keys` keys and
/// values of `dtype` shaped `shape[0..rank]` (`[batch]` or `[batch, n_keys]`).
///
/// # Safety
///
/// The pointers must be valid for their counts (values: the shape's product).
#[inline(always)]
unsafe fn with_continuous(
    keys: *const i64,
    n_keys: usize,
    dtype_code: i32,
    values: *const c_void,
    shape: *const usize,
    rank: usize,
    f: impl FnOnce(&BatchPrediction<'_>) -> Result<(), Fail>,
) -> Result<(), Fail> {
    // SAFETY: passed on.
    let keys = unsafe { slice(keys, n_keys, "keys")? };
    // SAFETY: the caller's promise for these pointers, passed on.
    let shape = unsafe { slice(shape, rank, "shape")? };
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| Fail::new(BPRWIRE_ERR_INVALID, format!("shape {shape:?} overflows")))?;
    let d = match dtype_code {
        BPRWIRE_FLOAT => DataType::Float,
        BPRWIRE_DOUBLE => DataType::Double,
        other => {
            return Err(Fail::new(
                BPRWIRE_ERR_INVALID,
                format!("dtype {other}: continuous values are BPRWIRE_FLOAT or BPRWIRE_DOUBLE"),
            ))
        }
    };
    let what = "values";
    // Aligned values (what C and TensorFlow hand over) as typed slices, the
    // Rust API's own path; unaligned ones as raw bytes, which need none.
    let values = match d {
        DataType::Float if aligned(values as *const f32) => {
            // SAFETY: aligned (checked); the caller promises `count` elements of this type.
            Values::F32(unsafe { slice(values.cast(), count, what)? })
        }
        DataType::Double if aligned(values as *const f64) => {
            // SAFETY: aligned (checked); the caller promises `count` elements of this type.
            Values::F64(unsafe { slice(values.cast(), count, what)? })
        }
        _ => Values::Raw {
            dtype: d,
            // SAFETY: the caller promises `count` elements of `d` (bytes need no alignment).
            bytes: unsafe { raw(d, values, count, what)? },
        },
    };
    // The builder, not an encoder: its `encode_into` plans and writes in
    // one go (an `Encoder` would be built and copied first).
    f(&BatchPrediction::new().continuous(keys, values, shape))
}

/// The exact length of twml's `BatchPredictionResponseWriter` output:
/// keys `[n_keys]`, values of `dtype` (`BPRWIRE_FLOAT`/`BPRWIRE_DOUBLE`)
/// shaped `[batch]` (one key) or `[batch, n_keys]`.
///
/// # Safety
///
/// The pointers must be valid for their counts; `len` for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_continuous_encoded_len(
    keys: *const i64,
    n_keys: usize,
    dtype: i32,
    values: *const c_void,
    shape: *const usize,
    rank: usize,
    len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_continuous(keys, n_keys, dtype, values, shape, rank, |e| {
                put(len, e.encoded_len()?, "len")
            })
        }
    })
}

/// Writes what [`bprwire_continuous_encoded_len`] measures into `buf`.
///
/// # Safety
///
/// As [`bprwire_continuous_encoded_len`]; `buf` writable for `capacity` bytes.
#[no_mangle]
pub unsafe extern "C" fn bprwire_continuous_encode(
    keys: *const i64,
    n_keys: usize,
    dtype: i32,
    values: *const c_void,
    shape: *const usize,
    rank: usize,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_continuous(keys, n_keys, dtype, values, shape, rank, |e| {
                let n = e.encode_into(buffer(buf, capacity)?)?;
                put(written, n, "written")
            })
        }
    })
}

/// [`bprwire_continuous_encode`] into a buffer that `alloc(ctx, len)`
/// provides once the exact length is known (a framework's output tensor,
/// an arena): one call, one plan. `*written` is the length on success.
///
/// # Safety
///
/// As [`bprwire_continuous_encoded_len`]; `alloc` as [`bprwire_alloc_fn`]
/// says; `written` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_continuous_encode_alloc(
    keys: *const i64,
    n_keys: usize,
    dtype: i32,
    values: *const c_void,
    shape: *const usize,
    rank: usize,
    alloc: bprwire_alloc_fn,
    ctx: *mut c_void,
    written: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_continuous(keys, n_keys, dtype, values, shape, rank, |e| {
                encode_alloc(e, alloc, ctx, written)
            })
        }
    })
}

/// Runs `f` on the encoder of dense tensors: one per key.
///
/// # Safety
///
/// The pointers must be valid for their counts.
#[inline(always)]
unsafe fn with_dense(
    keys: *const i64,
    n: usize,
    tensors: *const bprwire_tensor,
    f: impl FnOnce(&BatchPrediction<'_>) -> Result<(), Fail>,
) -> Result<(), Fail> {
    // SAFETY: passed on.
    let keys = unsafe { slice(keys, n, "keys")? };
    // SAFETY: the caller's promise for these pointers, passed on.
    let ts = unsafe { slice(tensors, n, "tensors")? };
    // SAFETY: passed on.
    let held = unsafe { held_strings(ts.iter().map(|t| (t.dtype, t.data, t.count)))? };
    let mut built = PerTensor::with_capacity(ts.len());
    for (i, (t, h)) in ts.iter().zip(&held).enumerate() {
        let what = What::at("tensors", i);
        // SAFETY: passed on.
        let shape = unsafe { slice(t.shape, t.rank, what.field(".shape"))? };
        // SAFETY: the caller's promise for these pointers, passed on.
        let data = unsafe { tensor_data(t.dtype, t.data, t.count, h, what)? };
        built.push(Tensor::new(data, shape));
    }
    f(&BatchPrediction::new().dense(keys, &built))
}

/// The exact length of twml's `BatchPredictionTensorResponseWriter`
/// output: `n` keys, one tensor each (any rank ≥ 1, dim 0 the batch).
///
/// # Safety
///
/// The pointers must be valid for their counts; `len` for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_dense_encoded_len(
    keys: *const i64,
    n: usize,
    tensors: *const bprwire_tensor,
    len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe { with_dense(keys, n, tensors, |e| put(len, e.encoded_len()?, "len")) }
    })
}

/// Writes what [`bprwire_dense_encoded_len`] measures into `buf`.
///
/// # Safety
///
/// As [`bprwire_dense_encoded_len`]; `buf` writable for `capacity` bytes.
#[no_mangle]
pub unsafe extern "C" fn bprwire_dense_encode(
    keys: *const i64,
    n: usize,
    tensors: *const bprwire_tensor,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_dense(keys, n, tensors, |e| {
                let n = e.encode_into(buffer(buf, capacity)?)?;
                put(written, n, "written")
            })
        }
    })
}

/// [`bprwire_dense_encode`] into a buffer that `alloc(ctx, len)` provides
/// once the exact length is known: one call, one plan.
///
/// # Safety
///
/// As [`bprwire_dense_encoded_len`]; `alloc` as [`bprwire_alloc_fn`] says;
/// `written` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_dense_encode_alloc(
    keys: *const i64,
    n: usize,
    tensors: *const bprwire_tensor,
    alloc: bprwire_alloc_fn,
    ctx: *mut c_void,
    written: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe { with_dense(keys, n, tensors, |e| encode_alloc(e, alloc, ctx, written)) }
    })
}
