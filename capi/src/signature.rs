//! `bprwire_signature`: a prepared signature, made once and encoded per
//! batch.

use std::ffi::c_void;

use bprwire::{DataType, Element, Signature, TensorData, Values};

use crate::args::{
    buffer, dtype, handle, held_strings, put, put_new, raw, slice, tensor_data, PerTensor, What,
};
use crate::error::{guard, Fail, BPRWIRE_ERR_INVALID};
use crate::types::{bprwire_data, bprwire_tensor_spec, BPRWIRE_DOUBLE, BPRWIRE_FLOAT};

/// A prepared signature (opaque): a model's outputs checked and laid out
/// once. Thread-safe to share: encoding does not change it.
#[allow(non_camel_case_types)]
pub struct bprwire_signature(Signature);

/// Makes a prepared signature: `n_continuous` continuous keys (values of
/// `continuous_dtype`, `BPRWIRE_FLOAT` or `BPRWIRE_DOUBLE`; ignored when
/// there are none) and `n_tensors` tensor outputs. `*out` is set on
/// success; free it with [`bprwire_signature_free`].
///
/// # Safety
///
/// The pointers must be valid for their counts; `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_signature_new(
    continuous_keys: *const i64,
    n_continuous: usize,
    continuous_dtype: i32,
    tensors: *const bprwire_tensor_spec,
    n_tensors: usize,
    out: *mut *mut bprwire_signature,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's promises, passed on.
        let keys = unsafe { slice(continuous_keys, n_continuous, "continuous_keys")? };
        // SAFETY: the caller's promise for these pointers, passed on.
        let specs = unsafe { slice(tensors, n_tensors, "tensors")? };
        let mut b = Signature::builder();
        if !keys.is_empty() {
            let element = match continuous_dtype {
                BPRWIRE_FLOAT => Element::F32,
                BPRWIRE_DOUBLE => Element::F64,
                other => {
                    return Err(Fail::new(
                        BPRWIRE_ERR_INVALID,
                        format!(
                            "continuous_dtype {other}: continuous values are BPRWIRE_FLOAT or BPRWIRE_DOUBLE"
                        ),
                    ))
                }
            };
            b = b.continuous(keys, element);
        }
        for (i, s) in specs.iter().enumerate() {
            let what = What::at("tensors", i);
            // The library's own mapping of a raw type to its element.
            let element = match dtype(s.dtype, what)? {
                DataType::String => Element::Str,
                d => Element::of(&TensorData::Raw { dtype: d, bytes: &[] }).expect("a numeric type"),
            };
            // SAFETY: the caller's promise for row_shape.
            let row = unsafe { slice(s.row_shape, s.row_rank, what.field(".row_shape"))? };
            b = b.tensor(s.key, element, row);
        }
        let sig = b.build()?;
        // SAFETY: `out` is the caller's pointer, checked for NULL by `put_new`.
        unsafe { put_new(out, bprwire_signature(sig), "out") }
    })
}

/// Frees a signature (NULL is ignored).
///
/// # Safety
///
/// `sig` must come from [`bprwire_signature_new`] and not be used again.
#[no_mangle]
pub unsafe extern "C" fn bprwire_signature_free(sig: *mut bprwire_signature) {
    if !sig.is_null() {
        // SAFETY: made by Box::into_raw in bprwire_signature_new; the caller
        // gives it back once.
        drop(unsafe { Box::from_raw(sig) });
    }
}

/// Checks `sig` and one batch's pointers and runs `f` on the signature, the
/// continuous values and the tensors' data.
///
/// # Safety
///
/// The pointers must be valid for their counts.
unsafe fn with_batch(
    sig: *const bprwire_signature,
    continuous: *const c_void,
    continuous_count: usize,
    tensors: *const bprwire_data,
    n_tensors: usize,
    f: impl FnOnce(&Signature, Option<Values<'_>>, &[TensorData<'_>]) -> Result<(), Fail>,
) -> Result<(), Fail> {
    // SAFETY: the caller's promise for the handle, passed on.
    let sig = unsafe { &handle(sig, "sig")?.0 };
    // SAFETY: the caller's promises, passed on.
    let data = unsafe { slice(tensors, n_tensors, "tensors")? };
    // SAFETY: passed on.
    let held = unsafe { held_strings(data.iter().map(|d| (d.dtype, d.data, d.count)))? };
    let mut bound = PerTensor::with_capacity(data.len());
    for (i, (d, h)) in data.iter().zip(&held).enumerate() {
        // SAFETY: passed on.
        bound.push(unsafe { tensor_data(d.dtype, d.data, d.count, h, What::at("tensors", i))? });
    }
    let values = if sig.continuous_keys().is_empty() && continuous.is_null() && continuous_count == 0 {
        None
    } else {
        let element = if continuous_count == 0 {
            DataType::Float
        } else {
            continuous_dtype(sig)
        };
        // SAFETY: passed on.
        let bytes = unsafe { raw(element, continuous, continuous_count, "continuous")? };
        Some(Values::Raw {
            dtype: element,
            bytes,
        })
    };
    f(sig, values, &bound)
}

/// The continuous values' type a signature was made with (FLOAT if none).
fn continuous_dtype(sig: &Signature) -> DataType {
    match sig.continuous_element() {
        Some(Element::F64) => DataType::Double,
        _ => DataType::Float,
    }
}

/// The exact length of the response [`bprwire_signature_encode`] writes
/// for this batch: `batch` records, `continuous_count` continuous values
/// (`batch × keys`, of the signature's type; NULL and 0 when it has no
/// continuous keys), one `bprwire_data` per tensor output in order.
///
/// # Safety
///
/// The pointers must be valid for their counts; `len` for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_signature_encoded_len(
    sig: *const bprwire_signature,
    batch: usize,
    continuous: *const c_void,
    continuous_count: usize,
    tensors: *const bprwire_data,
    n_tensors: usize,
    len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_batch(
                sig,
                continuous,
                continuous_count,
                tensors,
                n_tensors,
                |s, values, data| put(len, s.encoder(batch, values, data)?.encoded_len(), "len"),
            )
        }
    })
}

/// Encodes one batch (as [`bprwire_signature_encoded_len`]) into the first
/// bytes of `buf` and sets `*written`. `BPRWIRE_ERR_BUFFER_TOO_SMALL`
/// (nothing written) if `capacity` is short.
///
/// # Safety
///
/// As [`bprwire_signature_encoded_len`]; `buf` writable for `capacity` bytes.
#[no_mangle]
pub unsafe extern "C" fn bprwire_signature_encode(
    sig: *const bprwire_signature,
    batch: usize,
    continuous: *const c_void,
    continuous_count: usize,
    tensors: *const bprwire_data,
    n_tensors: usize,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_batch(
                sig,
                continuous,
                continuous_count,
                tensors,
                n_tensors,
                |s, values, data| {
                    // Straight into the buffer: the signature's own
                    // `encode_into` keeps its templates (no Encoder).
                    let n = s.encode_into(batch, values, data, buffer(buf, capacity)?)?;
                    put(written, n, "written")
                },
            )
        }
    })
}
