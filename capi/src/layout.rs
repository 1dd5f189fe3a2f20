//! `bprwire_layout`: the request side, a feature layout read from JSON,
//! its arrays, and a request scattered into them.

use bprwire::features::{Column, FeatureLayout, Outputs};

use crate::args::{handle, put, put_new, slice, slice_mut, What};
use crate::error::{guard, Fail, BPRWIRE_ERR_BUFFER_TOO_SMALL, BPRWIRE_ERR_DECODE, BPRWIRE_ERR_INVALID};
use crate::types::{
    bprwire_array, bprwire_output, BPRWIRE_BINARY, BPRWIRE_CONTINUOUS, BPRWIRE_DISCRETE, BPRWIRE_DOUBLE,
    BPRWIRE_FLOAT, BPRWIRE_INT64, BPRWIRE_TENSOR, BPRWIRE_UINT8,
};

/// A feature layout (opaque). Thread-safe to share.
#[allow(non_camel_case_types)]
pub struct bprwire_layout(FeatureLayout);

/// Reads a feature layout from its JSON description (`docs/features.md`;
/// `len` bytes, no terminator needed). `*out` is set on success; free it
/// with [`bprwire_layout_free`].
///
/// # Safety
///
/// `json` valid for `len` bytes; `out` for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_layout_from_json(
    json: *const u8,
    len: usize,
    out: *mut *mut bprwire_layout,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        let text = unsafe { slice(json, len, "json")? };
        let layout =
            FeatureLayout::from_json(text).map_err(|e| Fail::new(BPRWIRE_ERR_INVALID, e.to_string()))?;
        // SAFETY: checked for NULL by `put_new`.
        unsafe { put_new(out, bprwire_layout(layout), "out") }
    })
}

/// Frees a layout (NULL is ignored).
///
/// # Safety
///
/// `layout` must come from [`bprwire_layout_from_json`] and not be used again.
#[no_mangle]
pub unsafe extern "C" fn bprwire_layout_free(layout: *mut bprwire_layout) {
    if !layout.is_null() {
        // SAFETY: made by Box::into_raw; given back once (caller).
        drop(unsafe { Box::from_raw(layout) });
    }
}

/// The dense arrays the layout fills, in the order every bprwire binding
/// uses (continuous, binary, discrete, then each tensor as added): sets
/// `*n` to their number and, when `capacity` is not 0, writes them to
/// `arrays[0..*n]`. `capacity` 0 (`arrays` may then be NULL) asks for the
/// number alone; a `capacity` under it is `BPRWIRE_ERR_BUFFER_TOO_SMALL`
/// (nothing written but `*n`).
///
/// # Safety
///
/// `arrays` writable for `capacity` entries; `n` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_layout_arrays(
    layout: *const bprwire_layout,
    arrays: *mut bprwire_array,
    capacity: usize,
    n: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's promise for the handle, passed on.
        let layout = unsafe { &handle(layout, "layout")?.0 };
        let list = layout_arrays(layout);
        // SAFETY: checked for NULL by `put`.
        unsafe { put(n, list.len(), "n")? };
        if capacity == 0 {
            return Ok(());
        }
        if capacity < list.len() {
            return Err(Fail::new(
                BPRWIRE_ERR_BUFFER_TOO_SMALL,
                format!("arrays: room for {capacity}, the layout has {}", list.len()),
            ));
        }
        // SAFETY: the caller's promise for `arrays`, passed on.
        let out = unsafe { slice_mut(arrays, list.len(), "arrays")? };
        out.copy_from_slice(&list);
        Ok(())
    })
}

/// What [`bprwire_layout_arrays`] lists.
fn layout_arrays(layout: &FeatureLayout) -> Vec<bprwire_array> {
    use bprwire::features::FeatureKind;
    let code = |t: bprwire::features::OutputType| match t {
        bprwire::features::OutputType::F32 => BPRWIRE_FLOAT,
        bprwire::features::OutputType::F64 => BPRWIRE_DOUBLE,
        bprwire::features::OutputType::I64 => BPRWIRE_INT64,
        bprwire::features::OutputType::U8 => BPRWIRE_UINT8,
    };
    let mut out = Vec::new();
    for (kind, k, width) in [
        (
            FeatureKind::Continuous,
            BPRWIRE_CONTINUOUS,
            layout.continuous_ids().len(),
        ),
        (FeatureKind::Binary, BPRWIRE_BINARY, layout.binary_ids().len()),
        (
            FeatureKind::Discrete,
            BPRWIRE_DISCRETE,
            layout.discrete_ids().len(),
        ),
    ] {
        if let Some(t) = layout.output_type(kind) {
            out.push(bprwire_array {
                kind: k,
                tensor_id: 0,
                dtype: code(t),
                width,
            });
        }
    }
    out.extend(layout.tensors().iter().map(|t| bprwire_array {
        kind: BPRWIRE_TENSOR,
        tensor_id: t.id,
        dtype: code(t.dtype),
        width: t.width,
    }));
    out
}

/// Sets `*records` to the number of records the `BatchPredictionRequest`
/// in `request[0..len]` declares, read without decoding them (cheap
/// whatever the request's size): to size the arrays of
/// [`bprwire_layout_scatter`] before scattering. `BPRWIRE_ERR_DECODE` for
/// bytes that are not a request's start; the scatter still checks
/// everything.
///
/// # Safety
///
/// `request` valid for `len` bytes; `records` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_request_records(request: *const u8, len: usize, records: *mut usize) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        let bytes = unsafe { slice(request, len, "request")? };
        let n = bprwire::decode::request_records(bytes)
            .map_err(|e| Fail::new(BPRWIRE_ERR_DECODE, e.to_string()))?;
        // SAFETY: checked for NULL by `put`.
        unsafe { put(records, n, "records") }
    })
}

/// Decodes the `BatchPredictionRequest` in `request[0..len]` and scatters
/// it into the caller's arrays (one `bprwire_output` per output the
/// layout has, each with room for `rows × n` elements); sets `*rows` to
/// the request's record count. `BPRWIRE_ERR_DECODE` for bytes that are
/// not a request (arrays untouched), `BPRWIRE_ERR_INVALID` for arrays that
/// do not match the layout or lack room (untouched) or for a request the
/// layout refuses (then the arrays hold a partial result).
///
/// # Safety
///
/// `request` valid for `len` bytes; each output's `data` writable for
/// `count` elements of its type, aligned, not overlapping another;
/// `rows` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_layout_scatter(
    layout: *const bprwire_layout,
    request: *const u8,
    len: usize,
    outputs: *const bprwire_output,
    n_outputs: usize,
    rows: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's promise for the handle, passed on.
        let layout = unsafe { &handle(layout, "layout")?.0 };
        // SAFETY: passed on.
        let bytes = unsafe { slice(request, len, "request")? };
        // SAFETY: the caller's promise for these pointers, passed on.
        let outs = unsafe { slice(outputs, n_outputs, "outputs")? };
        let mut o = Outputs::new();
        for (i, out) in outs.iter().enumerate() {
            let what = What::at("outputs", i);
            // SAFETY: the caller's promise for each array, passed on.
            let column: Column<'_> = unsafe {
                match out.dtype {
                    BPRWIRE_FLOAT => Column::F32(slice_mut(out.data as *mut f32, out.count, what)?),
                    BPRWIRE_DOUBLE => Column::F64(slice_mut(out.data as *mut f64, out.count, what)?),
                    BPRWIRE_INT64 => Column::I64(slice_mut(out.data as *mut i64, out.count, what)?),
                    BPRWIRE_UINT8 => Column::U8(slice_mut(out.data as *mut u8, out.count, what)?),
                    other => {
                        return Err(Fail::new(
                            BPRWIRE_ERR_INVALID,
                            format!(
                                "{what}: dtype {other} is not an output type (FLOAT, DOUBLE, INT64, UINT8)"
                            ),
                        ))
                    }
                }
            };
            o = match (out.kind, column) {
                (BPRWIRE_CONTINUOUS, c) => o.continuous(c),
                (BPRWIRE_BINARY, c) => o.binary(c),
                (BPRWIRE_DISCRETE, Column::I64(c)) => o.discrete(c),
                (BPRWIRE_DISCRETE, _) => {
                    return Err(Fail::new(
                        BPRWIRE_ERR_INVALID,
                        format!("{what}: discrete outputs are BPRWIRE_INT64"),
                    ))
                }
                (BPRWIRE_TENSOR, c) => o.tensor(out.tensor_id, c),
                (other, _) => {
                    return Err(Fail::new(
                        BPRWIRE_ERR_INVALID,
                        format!("{what}: kind {other} is not an output kind"),
                    ))
                }
            };
        }
        let done = layout.scatter_bytes(bytes, &mut o).map_err(|e| {
            let code = match e {
                bprwire::features::FeatureError::Decode(_) => BPRWIRE_ERR_DECODE,
                _ => BPRWIRE_ERR_INVALID,
            };
            Fail::new(code, e.to_string())
        })?;
        // SAFETY: checked for NULL by `put`.
        unsafe { put(rows, done.rows, "rows") }
    })
}
