//! The C ABI against the Rust library, on generated inputs: the one-shot
//! writers and a prepared signature called through the `extern "C"`
//! functions give the bytes of `BatchPrediction` / `Signature` called from
//! Rust, or refuse what they refuse, with the library's message; the
//! scatter fills the arrays the Rust scatter fills. Element data goes in
//! as unaligned bytes (offset by one in a larger buffer), as C callers may
//! pass it. Then the guard: a panic inside an entry point is a status.

use std::ffi::{c_void, CStr};

use bprwire::features::{Buffers, FeatureLayout, OutputType, Rows};
use bprwire::{BatchPrediction, Element, Signature, Tensor, TensorData};
use bprwire_c::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn last_error() -> Option<String> {
    let p = bprwire_last_error();
    // SAFETY: bprwire's own NUL-terminated message, valid until the next call.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// `bytes` copied to offset 1 of a fresh buffer: misaligned for any type.
/// Bytes placed `offset` bytes past an 8-aligned address: offset 0 is
/// aligned for every element type (the ABI's typed path), others are not
/// for some (its raw-bytes path).
struct Placed {
    store: Vec<u64>,
    offset: usize,
}

impl Placed {
    fn new(bytes: &[u8], offset: usize) -> Placed {
        let mut store = vec![0u64; (bytes.len() + offset).div_ceil(8) + 1];
        // SAFETY: `store` has at least offset + len bytes; u8 has no alignment.
        let all = unsafe { std::slice::from_raw_parts_mut(store.as_mut_ptr().cast::<u8>(), store.len() * 8) };
        all[offset..offset + bytes.len()].copy_from_slice(bytes);
        Placed { store, offset }
    }
    fn ptr(&self) -> *const c_void {
        // SAFETY: within `store`.
        unsafe { self.store.as_ptr().cast::<u8>().add(self.offset).cast() }
    }
}

/// An `alloc` callback for the `_encode_alloc` writers: `ctx` is a
/// `Vec<u8>`, grown to the asked length (or refused, when it has a
/// capacity of 1: the test's way of saying "refuse").
unsafe extern "C" fn vec_alloc(ctx: *mut c_void, len: usize) -> *mut u8 {
    // SAFETY: the tests pass a `&mut Vec<u8>` as `ctx`.
    let v = unsafe { &mut *ctx.cast::<Vec<u8>>() };
    if v.capacity() == 1 {
        return std::ptr::null_mut();
    }
    v.resize(len, 0xAA);
    v.as_mut_ptr()
}

#[derive(Clone, Debug)]
enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
    Str(Vec<Vec<u8>>),
}

impl Data {
    fn code(&self) -> i32 {
        match self {
            Data::F32(_) => BPRWIRE_FLOAT,
            Data::F64(_) => BPRWIRE_DOUBLE,
            Data::I32(_) => BPRWIRE_INT32,
            Data::I64(_) => BPRWIRE_INT64,
            Data::U8(_) => BPRWIRE_UINT8,
            Data::Bool(_) => BPRWIRE_BOOL,
            Data::Str(_) => BPRWIRE_STRING,
        }
    }
    fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::U8(v) => v.len(),
            Data::Bool(v) => v.len(),
            Data::Str(v) => v.len(),
        }
    }
    fn le_bytes(&self) -> Vec<u8> {
        match self {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::U8(v) => v.clone(),
            Data::Bool(v) => v.iter().map(|&b| b as u8).collect(),
            Data::Str(_) => Vec::new(),
        }
    }
    fn element(&self) -> Element {
        match self {
            Data::F32(_) => Element::F32,
            Data::F64(_) => Element::F64,
            Data::I32(_) => Element::I32,
            Data::I64(_) => Element::I64,
            Data::U8(_) => Element::U8,
            Data::Bool(_) => Element::Bool,
            Data::Str(_) => Element::Str,
        }
    }
}

/// One tensor's data for Rust, borrowing `strs` for strings.
fn rust_data<'a>(d: &'a Data, strs: &'a [&'a [u8]]) -> TensorData<'a> {
    match d {
        Data::F32(v) => TensorData::F32(v),
        Data::F64(v) => TensorData::F64(v),
        Data::I32(v) => TensorData::I32(v),
        Data::I64(v) => TensorData::I64(v),
        Data::U8(v) => TensorData::U8(v),
        Data::Bool(v) => TensorData::Bool(v),
        Data::Str(_) => TensorData::Bytes(strs),
    }
}

/// A tensor of `batch` rows of `row` elements (maybe a mismatched count).
fn data(n: usize) -> impl Strategy<Value = Data> {
    prop_oneof![
        vec(any::<f32>(), n).prop_map(Data::F32),
        vec(any::<f64>(), n).prop_map(Data::F64),
        vec(any::<i32>(), n).prop_map(Data::I32),
        vec(any::<i64>(), n).prop_map(Data::I64),
        vec(any::<u8>(), n).prop_map(Data::U8),
        vec(any::<bool>(), n).prop_map(Data::Bool),
        // Mostly UTF-8, sometimes not.
        vec(
            prop_oneof![4 => "\\PC{0,5}".prop_map(String::into_bytes), 1 => vec(any::<u8>(), 0..4)],
            n
        )
        .prop_map(Data::Str),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    batch: usize,
    keys: Vec<i64>,
    shapes: Vec<Vec<usize>>,
    data: Vec<Data>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0usize..4,
        vec((prop_oneof![Just(1usize), 0usize..4], 0usize..3, -3i64..3), 0..4),
        any::<bool>(),
    )
        .prop_flat_map(|(batch, specs, off_by_one)| {
            let keys: Vec<i64> = specs.iter().map(|s| s.2).collect();
            let shapes: Vec<Vec<usize>> = specs
                .iter()
                .map(|&(w, extra, _)| {
                    if extra == 0 {
                        vec![batch]
                    } else {
                        vec![batch, w, extra]
                    }
                })
                .collect();
            let counts: Vec<usize> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| s.iter().product::<usize>() + usize::from(off_by_one && i == 0))
                .collect();
            let data: Vec<_> = counts.into_iter().map(data).collect();
            (Just(batch), Just(keys), Just(shapes), data).prop_map(|(batch, keys, shapes, data)| Case {
                batch,
                keys,
                shapes,
                data,
            })
        })
}

/// What the C ABI's one-shot dense writer says: the bytes, or the code and message.
fn c_dense(c: &Case, offset: usize) -> Result<Vec<u8>, (i32, String)> {
    let strs: Vec<Vec<bprwire_str>> = c
        .data
        .iter()
        .map(|d| match d {
            Data::Str(v) => v
                .iter()
                .map(|s| bprwire_str {
                    ptr: s.as_ptr(),
                    len: s.len(),
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    let raws: Vec<Placed> = c
        .data
        .iter()
        .map(|d| Placed::new(&d.le_bytes(), offset))
        .collect();
    let tensors: Vec<bprwire_tensor> = c
        .data
        .iter()
        .enumerate()
        .map(|(i, d)| bprwire_tensor {
            dtype: d.code(),
            data: if let Data::Str(_) = d {
                strs[i].as_ptr().cast()
            } else {
                raws[i].ptr()
            },
            count: d.len(),
            shape: c.shapes[i].as_ptr(),
            rank: c.shapes[i].len(),
        })
        .collect();
    let mut len = 0usize;
    // SAFETY: every pointer is valid for its count, for this call.
    let st = unsafe { bprwire_dense_encoded_len(c.keys.as_ptr(), c.keys.len(), tensors.as_ptr(), &mut len) };
    if st != BPRWIRE_OK {
        return Err((st, last_error().unwrap_or_default()));
    }
    let mut buf = vec![0u8; len];
    let mut written = 0usize;
    // SAFETY: as above; `buf` has `len` bytes.
    let st = unsafe {
        bprwire_dense_encode(
            c.keys.as_ptr(),
            c.keys.len(),
            tensors.as_ptr(),
            buf.as_mut_ptr(),
            len,
            &mut written,
        )
    };
    assert_eq!((st, written), (BPRWIRE_OK, len), "{:?}", last_error());
    // The allocating writer: the same bytes, in a buffer of exactly `len`.
    let mut out: Vec<u8> = Vec::new();
    let mut n = 0usize;
    // SAFETY: as above; `vec_alloc` gets a `&mut Vec<u8>`.
    let st = unsafe {
        bprwire_dense_encode_alloc(
            c.keys.as_ptr(),
            c.keys.len(),
            tensors.as_ptr(),
            Some(vec_alloc),
            (&mut out as *mut Vec<u8>).cast(),
            &mut n,
        )
    };
    assert_eq!((st, n), (BPRWIRE_OK, len), "{:?}", last_error());
    assert_eq!(out, buf);
    Ok(buf)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Dense tensors of every element type, shapes consistent or not, keys
    /// repeated or not, strings UTF-8 or not: the C ABI writes the Rust
    /// one-shot API's bytes, or refuses with its error's message; and a
    /// prepared signature made through the ABI for the same outputs
    /// writes the same bytes.
    #[test]
    fn the_dense_writer_and_signatures_through_the_abi_agree_with_rust(c in case(), offset in 0usize..8) {
        let held: Vec<Vec<&[u8]>> = c.data.iter().map(|d| match d {
            Data::Str(v) => v.iter().map(|s| s.as_slice()).collect(),
            _ => Vec::new(),
        }).collect();
        let tensors: Vec<Tensor<'_>> = c.data.iter().zip(&held).zip(&c.shapes)
            .map(|((d, h), s)| Tensor::new(rust_data(d, h), s))
            .collect();
        let rust = BatchPrediction::new().dense(&c.keys, &tensors).encode_to_vec();
        let through_c = c_dense(&c, offset);
        match (&rust, &through_c) {
            (Ok(r), Ok(t)) => prop_assert_eq!(r, t),
            (Err(e), Err((code, msg))) => {
                prop_assert_eq!(*code, BPRWIRE_ERR_INVALID);
                prop_assert_eq!(msg, &e.to_string());
            }
            _ => prop_assert!(false, "rust {:?} vs C {:?}", rust, through_c),
        }
        // The prepared path, when the one-shot one accepts.
        if let Ok(bytes) = rust {
            let specs: Vec<bprwire_tensor_spec> = c.data.iter().zip(&c.shapes).zip(&c.keys)
                .map(|((d, s), &key)| bprwire_tensor_spec { key, dtype: d.code(), row_shape: s[1..].as_ptr(), row_rank: s.len() - 1 })
                .collect();
            let mut sig = std::ptr::null_mut();
            // SAFETY: valid pointers for this call.
            let st = unsafe { bprwire_signature_new(std::ptr::null(), 0, 0, specs.as_ptr(), specs.len(), &mut sig) };
            prop_assert_eq!(st, BPRWIRE_OK, "{:?}", last_error());
            let rust_sig = c.data.iter().zip(&c.shapes).zip(&c.keys)
                .fold(Signature::builder(), |b, ((d, s), &k)| b.tensor(k, d.element(), &s[1..]))
                .build().unwrap();
            let batch_data: Vec<TensorData<'_>> = c.data.iter().zip(&held).map(|(d, h)| rust_data(d, h)).collect();
            let mut rbuf = vec![0u8; bytes.len()];
            prop_assert_eq!(rust_sig.encode_into(c.batch, None, &batch_data, &mut rbuf).unwrap(), bytes.len());
            prop_assert_eq!(&rbuf, &bytes);
            let strs: Vec<Vec<bprwire_str>> = held.iter().map(|v| v.iter().map(|s| bprwire_str { ptr: s.as_ptr(), len: s.len() }).collect()).collect();
            let raws: Vec<Placed> = c.data.iter().map(|d| Placed::new(&d.le_bytes(), offset)).collect();
            let data: Vec<bprwire_data> = c.data.iter().enumerate().map(|(i, d)| bprwire_data {
                dtype: d.code(),
                data: if let Data::Str(_) = d { strs[i].as_ptr().cast() } else { raws[i].ptr() },
                count: d.len(),
            }).collect();
            let mut buf = vec![0u8; bytes.len()];
            let mut written = 0;
            // SAFETY: valid pointers for this call; `sig` from bprwire_signature_new.
            let st = unsafe { bprwire_signature_encode(sig, c.batch, std::ptr::null(), 0, data.as_ptr(), data.len(), buf.as_mut_ptr(), buf.len(), &mut written) };
            // SAFETY: made above, freed once.
            unsafe { bprwire_signature_free(sig) };
            prop_assert_eq!(st, BPRWIRE_OK, "{:?}", last_error());
            prop_assert_eq!(&buf, &bytes);
        }
    }

    /// Continuous predictions, f32 or f64, `[batch]` or `[batch, cols]`
    /// with `cols` that may not be the key count (the ABI takes as many
    /// values as the shape says): the ABI's writer says what Rust's does.
    #[test]
    fn the_continuous_writer_through_the_abi_agrees_with_rust(
        batch in 0usize..4,
        keys in vec(-2i64..3, 1..4),
        flat in any::<bool>(),
        wide in any::<bool>(),
        cols in 0usize..4,
        seed in vec(any::<f64>(), 16),
        offset in 0usize..8,
    ) {
        let shape: Vec<usize> = if flat { vec![batch] } else { vec![batch, cols] };
        let count = shape.iter().product::<usize>();
        let v64: Vec<f64> = (0..count).map(|i| seed[i % seed.len()]).collect();
        let v32: Vec<f32> = v64.iter().map(|&x| x as f32).collect();
        let (rust, bytes, code) = if wide {
            (BatchPrediction::new().continuous(&keys, &v64[..], &shape).encode_to_vec(), Placed::new(&v64.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>(), offset), BPRWIRE_DOUBLE)
        } else {
            (BatchPrediction::new().continuous(&keys, &v32[..], &shape).encode_to_vec(), Placed::new(&v32.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>(), offset), BPRWIRE_FLOAT)
        };
        let mut len = 0;
        // SAFETY: valid pointers for this call.
        let st = unsafe { bprwire_continuous_encoded_len(keys.as_ptr(), keys.len(), code, bytes.ptr(), shape.as_ptr(), shape.len(), &mut len) };
        match rust {
            Ok(r) => {
                prop_assert_eq!((st, len), (BPRWIRE_OK, r.len()));
                let mut buf = vec![0u8; len];
                let mut written = 0;
                // SAFETY: as above.
                let st = unsafe { bprwire_continuous_encode(keys.as_ptr(), keys.len(), code, bytes.ptr(), shape.as_ptr(), shape.len(), buf.as_mut_ptr(), len, &mut written) };
                prop_assert_eq!(st, BPRWIRE_OK);
                prop_assert_eq!(&buf, &r);
                let mut out: Vec<u8> = Vec::new();
                // SAFETY: as above; `vec_alloc` gets a `&mut Vec<u8>`.
                let st = unsafe { bprwire_continuous_encode_alloc(keys.as_ptr(), keys.len(), code, bytes.ptr(), shape.as_ptr(), shape.len(), Some(vec_alloc), (&mut out as *mut Vec<u8>).cast(), &mut written) };
                prop_assert_eq!((st, written), (BPRWIRE_OK, r.len()));
                prop_assert_eq!(out, r);
            }
            Err(e) => {
                prop_assert_eq!(st, BPRWIRE_ERR_INVALID);
                prop_assert_eq!(last_error(), Some(e.to_string()));
                let mut out: Vec<u8> = Vec::new();
                let mut written = 0;
                // SAFETY: as above.
                let st = unsafe { bprwire_continuous_encode_alloc(keys.as_ptr(), keys.len(), code, bytes.ptr(), shape.as_ptr(), shape.len(), Some(vec_alloc), (&mut out as *mut Vec<u8>).cast(), &mut written) };
                prop_assert_eq!(st, BPRWIRE_ERR_INVALID);
                prop_assert!(out.is_empty(), "nothing allocated for a refused input");
                prop_assert_eq!(last_error(), Some(e.to_string()));
            }
        }
    }
}

#[test]
fn the_scatter_through_the_abi_fills_what_the_rust_scatter_fills() {
    let layout = FeatureLayout::builder()
        .continuous(&[1, 2, 3], OutputType::F64, f64::NAN)
        .binary(&[4, 5], OutputType::U8)
        .discrete(&[6], -1)
        .tensor(7, 2, OutputType::F32)
        .build()
        .unwrap();
    let (cont, bin, disc, emb) = (
        [0.5f64, f64::NAN, 2.0, 1.0, 1.0, 1.0],
        [1u8, 0, 1, 1],
        [3i64, -1],
        [0.25f32, 0.0, -1.0, 9.0],
    );
    let rows = Rows::new(2)
        .continuous(&cont[..])
        .binary(&bin[..])
        .discrete(&disc[..])
        .tensor(7, &emb[..]);
    let request = layout.write_request(&rows, None).unwrap().encode_to_vec();
    let mut expected = Buffers::new(&layout, 2).unwrap();
    layout.scatter_bytes(&request, &mut expected.outputs()).unwrap();

    let json = layout.to_json();
    let mut l = std::ptr::null_mut();
    // SAFETY: valid pointers for this call.
    assert_eq!(
        unsafe { bprwire_layout_from_json(json.as_ptr(), json.len(), &mut l) },
        BPRWIRE_OK
    );
    let (mut c, mut b, mut d, mut t) = (vec![0f64; 6], vec![9u8; 4], vec![0i64; 2], vec![0f32; 4]);
    let outs = [
        bprwire_output {
            kind: BPRWIRE_CONTINUOUS,
            tensor_id: 0,
            dtype: BPRWIRE_DOUBLE,
            data: c.as_mut_ptr().cast(),
            count: 6,
        },
        bprwire_output {
            kind: BPRWIRE_BINARY,
            tensor_id: 0,
            dtype: BPRWIRE_UINT8,
            data: b.as_mut_ptr().cast(),
            count: 4,
        },
        bprwire_output {
            kind: BPRWIRE_DISCRETE,
            tensor_id: 0,
            dtype: BPRWIRE_INT64,
            data: d.as_mut_ptr().cast(),
            count: 2,
        },
        bprwire_output {
            kind: BPRWIRE_TENSOR,
            tensor_id: 7,
            dtype: BPRWIRE_FLOAT,
            data: t.as_mut_ptr().cast(),
            count: 4,
        },
    ];
    let mut n = 0;
    // SAFETY: each output array is valid for its count; `l` from the ABI.
    let st = unsafe {
        bprwire_layout_scatter(
            l,
            request.as_ptr(),
            request.len(),
            outs.as_ptr(),
            outs.len(),
            &mut n,
        )
    };
    assert_eq!((st, n), (BPRWIRE_OK, 2), "{:?}", last_error());
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&c), bits(expected.continuous().unwrap().as_f64().unwrap()));
    assert_eq!(b, expected.binary().unwrap().as_u8().unwrap());
    assert_eq!(d, expected.discrete().unwrap().as_i64().unwrap());
    assert_eq!(t, expected.tensor(7).unwrap().as_f32().unwrap());
    // An array left out: the Rust scatter's refusal, nothing written.
    let mut before = c.clone();
    before[0] = 42.0;
    c[0] = 42.0;
    // SAFETY: as above.
    let st =
        unsafe { bprwire_layout_scatter(l, request.as_ptr(), request.len(), outs[..3].as_ptr(), 3, &mut n) };
    assert_eq!(st, BPRWIRE_ERR_INVALID);
    assert!(last_error().unwrap().contains('7'), "{:?}", last_error());
    assert_eq!(bits(&c), bits(&before));
    // SAFETY: made above, freed once.
    unsafe { bprwire_layout_free(l) };
}

#[test]
fn the_layout_lists_its_arrays_and_a_request_its_records_as_the_rust_library_says() {
    let layout = FeatureLayout::builder()
        .continuous(&[1, 2, 3], OutputType::F64, f64::NAN)
        .discrete(&[6], -1)
        .tensor(7, 2, OutputType::F32)
        .tensor(8, 5, OutputType::I64)
        .build()
        .unwrap();
    let json = layout.to_json();
    let mut l = std::ptr::null_mut();
    // SAFETY: valid pointers for this call.
    assert_eq!(
        unsafe { bprwire_layout_from_json(json.as_ptr(), json.len(), &mut l) },
        BPRWIRE_OK
    );
    let mut n = 0;
    // SAFETY: capacity 0 with no array: the count alone.
    assert_eq!(
        unsafe { bprwire_layout_arrays(l, std::ptr::null_mut(), 0, &mut n) },
        BPRWIRE_OK
    );
    assert_eq!(n, 4);
    let mut short = [bprwire_array::default(); 3];
    // SAFETY: `short` holds 3 entries.
    let st = unsafe { bprwire_layout_arrays(l, short.as_mut_ptr(), 3, &mut n) };
    assert_eq!(st, BPRWIRE_ERR_BUFFER_TOO_SMALL);
    assert_eq!(short, [bprwire_array::default(); 3], "nothing written");
    let mut got = [bprwire_array::default(); 4];
    // SAFETY: `got` holds 4 entries.
    assert_eq!(
        unsafe { bprwire_layout_arrays(l, got.as_mut_ptr(), 4, &mut n) },
        BPRWIRE_OK
    );
    let entry = |kind, tensor_id, dtype, width| bprwire_array {
        kind,
        tensor_id,
        dtype,
        width,
    };
    assert_eq!(
        got,
        [
            entry(BPRWIRE_CONTINUOUS, 0, BPRWIRE_DOUBLE, 3),
            entry(BPRWIRE_DISCRETE, 0, BPRWIRE_INT64, 1),
            entry(BPRWIRE_TENSOR, 7, BPRWIRE_FLOAT, 2),
            entry(BPRWIRE_TENSOR, 8, BPRWIRE_INT64, 5),
        ]
    );
    // The records a request declares, as the Rust library counts them.
    let cont = [0.5f64; 9];
    let disc = [1i64; 3];
    let (t7, t8) = ([0.25f32; 6], [1i64; 15]);
    let rows = Rows::new(3)
        .continuous(&cont[..])
        .discrete(&disc[..])
        .tensor(7, &t7[..])
        .tensor(8, &t8[..]);
    let request = layout.write_request(&rows, None).unwrap().encode_to_vec();
    let mut records = 0;
    // SAFETY: valid pointers for this call.
    let st = unsafe { bprwire_request_records(request.as_ptr(), request.len(), &mut records) };
    assert_eq!((st, records), (BPRWIRE_OK, 3));
    assert_eq!(bprwire::decode::request_records(&request).unwrap(), 3);
    // SAFETY: one byte that is no request.
    let st = unsafe { bprwire_request_records([0x08u8].as_ptr(), 1, &mut records) };
    assert_eq!(st, BPRWIRE_ERR_DECODE);
    assert!(last_error().is_some());
    // SAFETY: made above, freed once.
    unsafe { bprwire_layout_free(l) };
}

#[test]
fn the_allocating_writers_refuse_a_missing_callback_a_refused_buffer_and_a_missing_count() {
    let (keys, values, shape) = ([7i64, 9], [0.5f32, 1.5], [1usize, 2]);
    let call = |alloc: bprwire_c::bprwire_alloc_fn, out: &mut Vec<u8>, written: *mut usize| {
        // SAFETY: valid pointers for this call; `out` is the callback's Vec.
        let st = unsafe {
            bprwire_continuous_encode_alloc(
                keys.as_ptr(),
                2,
                BPRWIRE_FLOAT,
                values.as_ptr().cast(),
                shape.as_ptr(),
                2,
                alloc,
                (out as *mut Vec<u8>).cast(),
                written,
            )
        };
        (st, last_error())
    };
    let mut n = 0usize;
    let mut out = Vec::new();
    assert_eq!(
        call(None, &mut out, &mut n),
        (BPRWIRE_ERR_NULL, Some("alloc is NULL".into()))
    );
    assert_eq!(
        call(Some(vec_alloc), &mut out, std::ptr::null_mut()),
        (BPRWIRE_ERR_NULL, Some("written is NULL".into()))
    );
    assert!(
        out.is_empty(),
        "the callback is not called when the count has nowhere to go"
    );
    let mut refuse = Vec::with_capacity(1);
    let expected = BatchPrediction::new()
        .continuous(&keys, &values[..], &shape)
        .encode_to_vec()
        .unwrap();
    assert_eq!(
        call(Some(vec_alloc), &mut refuse, &mut n),
        (
            BPRWIRE_ERR_ALLOC,
            Some(format!("alloc refused {} bytes", expected.len()))
        )
    );
    assert_eq!(call(Some(vec_alloc), &mut out, &mut n), (BPRWIRE_OK, None));
    assert_eq!((n, out), (expected.len(), expected));
}
