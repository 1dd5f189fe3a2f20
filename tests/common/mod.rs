//! Owned, generated test inputs and the strategies that make them, shared by
//! the integration tests. A `Case` owns its data; `Case::inputs` borrows it
//! as the `BatchPrediction` bprwire encodes.

#![allow(dead_code)]

pub mod records;

use bprwire::{BatchPrediction, DataType, StringKind, Tensor, TensorData, TensorEncoding, Values};
use proptest::prelude::*;

#[derive(Clone, Debug)]
pub enum OwnedValues {
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// Little-endian bytes with a dtype (FLOAT or DOUBLE), at an odd offset
    /// so the library sees unaligned input.
    Raw(DataType, Vec<u8>),
}

#[derive(Clone, Debug)]
pub enum OwnedData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
    Str(Vec<String>),
    /// UTF-8 byte strings (a StringTensor).
    Bytes(Vec<Vec<u8>>),
    /// Any bytes (a binaryTensor).
    Binary(Vec<Vec<u8>>),
    /// Fixed-width NUL-padded strings, after a pad byte (see `unaligned`).
    Padded {
        bytes: Vec<u8>,
        width: usize,
        kind: StringKind,
    },
    Raw(DataType, Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct OwnedTensor {
    pub data: OwnedData,
    pub shape: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct Case {
    pub continuous: Option<(Vec<i64>, OwnedValues, Vec<usize>)>,
    pub dense: Option<(Vec<i64>, Vec<OwnedTensor>)>,
    pub typed: bool,
}

/// Raw byte vectors start with one pad byte so that `&v[1..]` is unaligned.
fn unaligned(v: &[u8]) -> &[u8] {
    &v[1..]
}

/// Borrowed string lists: a `Tensor` of strings borrows a slice of `&str`
/// (or `&[u8]`), which must outlive it; `Case::views` makes them.
pub enum StrView<'a> {
    None,
    Str(Vec<&'a str>),
    Bytes(Vec<&'a [u8]>),
    Binary(Vec<&'a [u8]>),
}

impl Case {
    pub fn views(&self) -> Vec<StrView<'_>> {
        let Some((_, ts)) = &self.dense else {
            return Vec::new();
        };
        ts.iter()
            .map(|t| match &t.data {
                OwnedData::Str(v) => StrView::Str(v.iter().map(String::as_str).collect()),
                OwnedData::Bytes(v) => StrView::Bytes(v.iter().map(Vec::as_slice).collect()),
                OwnedData::Binary(v) => StrView::Binary(v.iter().map(Vec::as_slice).collect()),
                _ => StrView::None,
            })
            .collect()
    }

    pub fn tensors<'a>(&'a self, views: &'a [StrView<'a>]) -> Vec<Tensor<'a>> {
        let Some((_, ts)) = &self.dense else {
            return Vec::new();
        };
        ts.iter()
            .zip(views)
            .map(|(t, view)| {
                let data = match (&t.data, view) {
                    (OwnedData::F32(v), _) => TensorData::F32(v),
                    (OwnedData::F64(v), _) => TensorData::F64(v),
                    (OwnedData::I32(v), _) => TensorData::I32(v),
                    (OwnedData::I64(v), _) => TensorData::I64(v),
                    (OwnedData::U8(v), _) => TensorData::U8(v),
                    (OwnedData::Bool(v), _) => TensorData::Bool(v),
                    (OwnedData::Raw(dtype, b), _) => TensorData::Raw {
                        dtype: *dtype,
                        bytes: unaligned(b),
                    },
                    (OwnedData::Padded { bytes, width, kind }, _) => TensorData::Padded {
                        bytes: unaligned(bytes),
                        width: *width,
                        kind: *kind,
                    },
                    (_, StrView::Str(s)) => TensorData::Str(s),
                    (_, StrView::Bytes(b)) => TensorData::Bytes(b),
                    (_, StrView::Binary(b)) => TensorData::Binary(b),
                    (_, StrView::None) => unreachable!("views() made a view for every string tensor"),
                };
                Tensor::new(data, &t.shape)
            })
            .collect()
    }

    pub fn inputs<'a>(&'a self, tensors: &'a [Tensor<'a>]) -> BatchPrediction<'a> {
        let mut bp = BatchPrediction::new();
        if let Some((keys, values, shape)) = &self.continuous {
            let values = match values {
                OwnedValues::F32(v) => Values::F32(v),
                OwnedValues::F64(v) => Values::F64(v),
                OwnedValues::Raw(dtype, b) => Values::Raw {
                    dtype: *dtype,
                    bytes: unaligned(b),
                },
            };
            bp = bp.continuous(keys, values, shape);
        }
        if let Some((keys, _)) = &self.dense {
            bp = bp.dense(keys, tensors);
        }
        bp.encoding(if self.typed {
            TensorEncoding::Typed
        } else {
            TensorEncoding::Raw
        })
    }

    /// True when every key list is strictly ascending (then bprwire's bytes
    /// must equal the reference encoder's exactly).
    pub fn keys_ascending(&self) -> bool {
        let asc = |k: &[i64]| k.windows(2).all(|w| w[0] < w[1]);
        self.continuous.as_ref().is_none_or(|(k, _, _)| asc(k))
            && self.dense.as_ref().is_none_or(|(k, _)| asc(k))
    }
}

/// f32 from every class: any bit pattern (signalling NaNs with payloads,
/// subnormals) and the named specials.
pub fn f32s() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => any::<u32>().prop_map(f32::from_bits),
        2 => -1.0e3f32..1.0e3,
        1 => prop::sample::select(vec![
            0.0f32, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN,
            f32::MIN_POSITIVE, f32::MIN_POSITIVE / 2.0, -f32::MIN_POSITIVE / 4.0, f32::MAX, f32::MIN,
            f32::from_bits(0x7f80_0001), f32::from_bits(0xffc0_1234),
        ]),
    ]
}

pub fn f64s() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<u64>().prop_map(f64::from_bits),
        2 => -1.0e6f64..1.0e6,
        1 => prop::sample::select(vec![
            0.0f64, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -f64::NAN,
            f64::MIN_POSITIVE, 5e-324, -5e-324, f64::MAX, f64::MIN,
            f64::from_bits(0x7ff0_0000_0000_0001),
        ]),
    ]
}

pub fn key() -> impl Strategy<Value = i64> {
    prop_oneof![
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(0i64),
        1 => Just(-1i64),
        4 => any::<i64>(),
        4 => -50i64..50,
    ]
}

/// `n` distinct keys, ascending or shuffled.
pub fn keys(n: usize) -> impl Strategy<Value = Vec<i64>> {
    (prop::collection::btree_set(key(), n), any::<bool>()).prop_flat_map(|(set, ascending)| {
        let v: Vec<i64> = set.into_iter().collect();
        if ascending {
            Just(v).boxed()
        } else {
            Just(v).prop_shuffle().boxed()
        }
    })
}

/// Any bytes: UTF-8 or not, with NULs (trailing ones too) and bytes above 0x7F.
pub fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..12),
        1 => strings().prop_map(String::into_bytes),
        1 => Just(vec![0xff, 0xfe, 0]),
    ]
}

/// `strings` as fixed-width elements of `width` = the longest plus `extra`
/// bytes, NUL-padded after a pad byte (with no strings and `extra` 0, width 0
/// and no bytes).
fn padded(strings: Vec<Vec<u8>>, extra: usize, kind: StringKind) -> OwnedData {
    let width = strings.iter().map(Vec::len).max().unwrap_or(0) + extra;
    let mut bytes = vec![0xA5u8];
    for s in &strings {
        bytes.extend_from_slice(s);
        bytes.resize(bytes.len() + width - s.len(), 0);
    }
    OwnedData::Padded { bytes, width, kind }
}

pub fn strings() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        3 => "[a-z]{0,12}",
        3 => "\\PC{0,8}",
        1 => Just("naïve 日本語 🦀".to_string()),
    ]
}

fn le<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    let mut out = vec![0xA5u8]; // pad byte: see `unaligned`
    for &x in v {
        out.extend_from_slice(&f(x));
    }
    out
}

/// Element data of `len` elements of a random supported type.
pub fn tensor_data(len: usize) -> impl Strategy<Value = OwnedData> {
    use prop::collection::vec;
    prop_oneof![
        vec(f32s(), len).prop_map(OwnedData::F32),
        vec(f64s(), len).prop_map(OwnedData::F64),
        vec(any::<i32>(), len).prop_map(OwnedData::I32),
        vec(prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX)], len).prop_map(OwnedData::I64),
        vec(any::<u8>(), len).prop_map(OwnedData::U8),
        vec(any::<bool>(), len).prop_map(OwnedData::Bool),
        vec(strings(), len).prop_map(OwnedData::Str),
        vec(strings(), len).prop_map(|v| OwnedData::Bytes(v.into_iter().map(String::into_bytes).collect())),
        vec(any_bytes(), len).prop_map(OwnedData::Binary),
        (vec(strings(), len), 0usize..3).prop_map(|(v, extra)| padded(
            v.into_iter().map(String::into_bytes).collect(),
            extra,
            StringKind::Text
        )),
        (vec(any_bytes(), len), 0usize..3).prop_map(|(v, extra)| padded(v, extra, StringKind::Binary)),
        vec(f32s(), len).prop_map(|v| OwnedData::Raw(DataType::Float, le(&v, f32::to_le_bytes))),
        vec(any::<i64>(), len).prop_map(|v| OwnedData::Raw(DataType::Int64, le(&v, i64::to_le_bytes))),
        vec(any::<i32>(), len).prop_map(|v| OwnedData::Raw(DataType::Int32, le(&v, i32::to_le_bytes))),
        vec(f64s(), len).prop_map(|v| OwnedData::Raw(DataType::Double, le(&v, f64::to_le_bytes))),
        // Raw BOOL bytes other than 0/1: true (the byte 1) in raw and typed mode.
        vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], len)
            .prop_map(|v| OwnedData::Raw(DataType::Bool, le(&v, |b: u8| [b]))),
    ]
}

/// A tensor with dim 0 = `batch`, rank 1..=4, other dims 0..=4.
pub fn tensor(batch: usize) -> impl Strategy<Value = OwnedTensor> {
    prop::collection::vec(0usize..=4, 0..=3).prop_flat_map(move |rest| {
        let mut shape = vec![batch];
        shape.extend(rest);
        let len = shape.iter().product();
        tensor_data(len).prop_map(move |data| OwnedTensor {
            data,
            shape: shape.clone(),
        })
    })
}

pub fn continuous(batch: usize) -> impl Strategy<Value = (Vec<i64>, OwnedValues, Vec<usize>)> {
    (0usize..=6, any::<bool>()).prop_flat_map(move |(n, flat)| {
        let (n, shape) = if flat && n >= 1 {
            (1, vec![batch])
        } else {
            (n, vec![batch, n])
        };
        let len = batch * n;
        let values = prop_oneof![
            3 => prop::collection::vec(f32s(), len).prop_map(OwnedValues::F32),
            2 => prop::collection::vec(f64s(), len).prop_map(OwnedValues::F64),
            1 => prop::collection::vec(f32s(), len)
                .prop_map(|v| OwnedValues::Raw(DataType::Float, le(&v, f32::to_le_bytes))),
            1 => prop::collection::vec(f64s(), len)
                .prop_map(|v| OwnedValues::Raw(DataType::Double, le(&v, f64::to_le_bytes))),
        ];
        (keys(n), values, Just(shape))
    })
}

pub fn dense(batch: usize) -> impl Strategy<Value = (Vec<i64>, Vec<OwnedTensor>)> {
    (0usize..=4).prop_flat_map(move |k| (keys(k), prop::collection::vec(tensor(batch), k)))
}

/// Which inputs a case has.
#[derive(Clone, Copy, Debug)]
pub enum Inputs {
    Continuous,
    Dense,
    Both,
}

/// A valid case: batch 0..=6 (0 and 1 often), inputs as asked.
pub fn case(which: Inputs) -> impl Strategy<Value = Case> {
    prop_oneof![Just(0usize), Just(1usize), 0usize..=6]
        .prop_flat_map(move |batch| {
            let c = match which {
                Inputs::Dense => Just(None).boxed(),
                _ => continuous(batch).prop_map(Some).boxed(),
            };
            let d = match which {
                Inputs::Continuous => Just(None).boxed(),
                // Dense alone needs at least one key, or there is nothing to encode.
                Inputs::Dense => dense(batch)
                    .prop_filter("dense alone needs a tensor", |d| !d.0.is_empty())
                    .prop_map(Some)
                    .boxed(),
                Inputs::Both => dense(batch).prop_map(Some).boxed(),
            };
            (c, d, any::<bool>())
        })
        .prop_map(|(continuous, dense, typed)| Case {
            continuous,
            dense,
            typed,
        })
}
