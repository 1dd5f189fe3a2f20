//! A naive scatter over the generated structs: the expectation bprwire's
//! `FeatureLayout::scatter` is tested against, and (as [`navi_style`]) the
//! contender of the R benchmarks, which does what Navi's converter does:
//! copy the request bytes, decode them into the generated structs
//! (`BTreeMap`s, a `Vec` per tensor), look each feature up in a std
//! `HashMap` (SipHash), and fill freshly allocated `Vec`s.
//!
//! Written from the semantics in bprwire's docs, not from its code: per
//! row, start from the defaults, apply `commonFeatures`, then the record's
//! own features; values keep their wire type until they are converted
//! with Rust's `as` into the output type.

use std::collections::HashMap;

use bprwire::features::{Array, ColumnRef, FeatureError, FeatureLayout, Location, OutputType, Skipped};
use bprwire::DataType;

use crate::twml::tensor::GeneralTensor;
use crate::{deserialize_request, BatchPredictionRequest, DataRecord};

/// A wire value before conversion.
#[derive(Clone, Copy, Debug)]
enum W {
    F32(f32),
    F64(f64),
    I64(i64),
}

/// Stores `w` at `i`, converted with `as`.
fn set(out: &mut Array, i: usize, w: W) {
    match (out, w) {
        (Array::F32(v), W::F32(x)) => v[i] = x,
        (Array::F32(v), W::F64(x)) => v[i] = x as f32,
        (Array::F32(v), W::I64(x)) => v[i] = x as f32,
        (Array::F64(v), W::F32(x)) => v[i] = x as f64,
        (Array::F64(v), W::F64(x)) => v[i] = x,
        (Array::F64(v), W::I64(x)) => v[i] = x as f64,
        (Array::I64(v), W::F32(x)) => v[i] = x as i64,
        (Array::I64(v), W::F64(x)) => v[i] = x as i64,
        (Array::I64(v), W::I64(x)) => v[i] = x,
        (Array::U8(v), W::F32(x)) => v[i] = x as u8,
        (Array::U8(v), W::F64(x)) => v[i] = x as u8,
        (Array::U8(v), W::I64(x)) => v[i] = x as u8,
    }
}

/// A fresh array of `len` elements, each `w`.
fn filled(dtype: OutputType, len: usize, w: W) -> Array {
    let mut a = Array::zeros(dtype, len);
    (0..len).for_each(|i| set(&mut a, i, w));
    a
}

/// One kind's columns: a std `HashMap` from id to column, as Navi keeps.
#[derive(Clone, Debug)]
struct Kind {
    columns: HashMap<i64, usize>,
    n: usize,
    dtype: OutputType,
    default: W,
}

/// The layout as the naive scatter keeps it.
#[derive(Clone, Debug)]
pub struct NaiveLayout {
    continuous: Option<Kind>,
    binary: Option<Kind>,
    discrete: Option<Kind>,
    tensors: Vec<(i64, usize, OutputType)>,
    tensor_index: HashMap<i64, usize>,
}

impl NaiveLayout {
    /// From bprwire's layout, through its public accessors only.
    pub fn new(layout: &FeatureLayout) -> NaiveLayout {
        use bprwire::features::FeatureKind as K;
        let kind = |ids: &[i64], k, default| {
            layout.output_type(k).map(|dtype| Kind {
                columns: ids.iter().enumerate().map(|(c, &id)| (id, c)).collect(),
                n: ids.len(),
                dtype,
                default,
            })
        };
        NaiveLayout {
            continuous: kind(
                layout.continuous_ids(),
                K::Continuous,
                W::F64(layout.continuous_default().unwrap_or(f64::NAN)),
            ),
            binary: kind(layout.binary_ids(), K::Binary, W::I64(0)),
            discrete: kind(
                layout.discrete_ids(),
                K::Discrete,
                W::I64(layout.discrete_default().unwrap_or(0)),
            ),
            tensors: layout
                .tensors()
                .iter()
                .map(|t| (t.id, t.width, t.dtype))
                .collect(),
            tensor_index: layout
                .tensors()
                .iter()
                .enumerate()
                .map(|(i, t)| (t.id, i))
                .collect(),
        }
    }
}

/// What the naive scatter makes: exactly `rows × n` elements per array.
#[derive(Clone, Debug)]
pub struct NaiveOutputs {
    pub rows: usize,
    pub continuous: Option<Array>,
    pub binary: Option<Array>,
    pub discrete: Option<Array>,
    pub tensors: Vec<(i64, Array)>,
    pub skipped: Skipped,
}

/// Why the naive scatter refused a request (the tensor errors bprwire
/// reports, by location and feature id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NaiveError {
    /// Not a request.
    Decode(String),
    /// Element count other than the width.
    Width { at: Location, id: i64 },
    /// Not a numeric arm.
    Type { at: Location, id: i64 },
    /// Raw content not whole elements.
    RawContent { at: Location, id: i64 },
}

/// Scatters a decoded request, row by row, counting the skipped ids.
pub fn scatter(layout: &NaiveLayout, req: &BatchPredictionRequest) -> Result<NaiveOutputs, NaiveError> {
    scatter_counting(layout, req, true)
}

fn scatter_counting(
    layout: &NaiveLayout,
    req: &BatchPredictionRequest,
    count: bool,
) -> Result<NaiveOutputs, NaiveError> {
    let common = req.common_features.clone().unwrap_or_default();
    let rows = req.individual_features_list.len();
    let mut skipped = Skipped::default();
    // No record, no row: bprwire does not read the common record then.
    if rows == 0 {
        let none = |k: &Option<Kind>| k.as_ref().map(|k| Array::zeros(k.dtype, 0));
        return Ok(NaiveOutputs {
            rows,
            continuous: none(&layout.continuous),
            binary: none(&layout.binary),
            discrete: none(&layout.discrete),
            tensors: layout
                .tensors
                .iter()
                .map(|&(id, _, t)| (id, Array::zeros(t, 0)))
                .collect(),
            skipped,
        });
    }
    // Each occurrence of an unknown id counts once: the common record's
    // once, not once per row.
    if count {
        count_skipped(layout, &common, &mut skipped);
        for r in &req.individual_features_list {
            count_skipped(layout, r, &mut skipped);
        }
    }
    // Tensors first: bprwire checks the common record's tensors before any
    // record's, then the records in order.
    let common_tensors = tensor_values(layout, &common, Location::Common)?;
    let mut record_tensors = Vec::with_capacity(rows);
    for (i, r) in req.individual_features_list.iter().enumerate() {
        record_tensors.push(tensor_values(layout, r, Location::Record(i))?);
    }

    let fresh = |k: &Option<Kind>| k.as_ref().map(|k| filled(k.dtype, rows * k.n, k.default));
    let mut out = NaiveOutputs {
        rows,
        continuous: fresh(&layout.continuous),
        binary: fresh(&layout.binary),
        discrete: fresh(&layout.discrete),
        tensors: layout
            .tensors
            .iter()
            .map(|&(id, width, t)| (id, Array::zeros(t, rows * width)))
            .collect(),
        skipped,
    };
    // Row by row, as Navi does: the common record's features, then the
    // record's own, each looked up in the HashMap.
    for (i, record) in req.individual_features_list.iter().enumerate() {
        for rec in [&common, record] {
            if let (Some(k), Some(a)) = (&layout.continuous, &mut out.continuous) {
                for (id, v) in rec.continuous_features.iter().flatten() {
                    if let Some(&c) = k.columns.get(id) {
                        set(a, i * k.n + c, W::F64(v.0));
                    }
                }
            }
            if let (Some(k), Some(a)) = (&layout.binary, &mut out.binary) {
                for id in rec.binary_features.iter().flatten() {
                    if let Some(&c) = k.columns.get(id) {
                        set(a, i * k.n + c, W::I64(1));
                    }
                }
            }
            if let (Some(k), Some(a)) = (&layout.discrete, &mut out.discrete) {
                for (id, v) in rec.discrete_features.iter().flatten() {
                    if let Some(&c) = k.columns.get(id) {
                        set(a, i * k.n + c, W::I64(*v));
                    }
                }
            }
        }
        for (t, (_, a)) in out.tensors.iter_mut().enumerate() {
            let width = layout.tensors[t].1;
            if let Some(values) = record_tensors[i][t].as_ref().or(common_tensors[t].as_ref()) {
                for (k, w) in values.iter().enumerate() {
                    set(a, i * width + k, *w);
                }
            }
        }
    }
    Ok(out)
}

fn count_skipped(layout: &NaiveLayout, r: &DataRecord, skipped: &mut Skipped) {
    let unknown = |k: &Option<Kind>, id: &i64| k.as_ref().is_none_or(|k| !k.columns.contains_key(id));
    skipped.continuous += r
        .continuous_features
        .iter()
        .flatten()
        .filter(|(id, _)| unknown(&layout.continuous, id))
        .count();
    skipped.binary += r
        .binary_features
        .iter()
        .flatten()
        .filter(|id| unknown(&layout.binary, id))
        .count();
    skipped.discrete += r
        .discrete_features
        .iter()
        .flatten()
        .filter(|(id, _)| unknown(&layout.discrete, id))
        .count();
    skipped.tensors += r
        .tensors
        .iter()
        .flatten()
        .filter(|(id, _)| !layout.tensor_index.contains_key(id))
        .count();
}

/// Each layout tensor's values in `r`, if it has it (checked).
fn tensor_values(
    layout: &NaiveLayout,
    r: &DataRecord,
    at: Location,
) -> Result<Vec<Option<Vec<W>>>, NaiveError> {
    let mut out = vec![None; layout.tensors.len()];
    for (id, t) in r.tensors.iter().flatten() {
        let Some(&i) = layout.tensor_index.get(id) else {
            continue;
        };
        let values = values_of(t).map_err(|bad| match bad {
            Bad::Type => NaiveError::Type { at, id: *id },
            Bad::Content => NaiveError::RawContent { at, id: *id },
        })?;
        if values.len() != layout.tensors[i].1 {
            return Err(NaiveError::Width { at, id: *id });
        }
        out[i] = Some(values);
    }
    Ok(out)
}

enum Bad {
    Type,
    Content,
}

fn values_of(t: &GeneralTensor) -> Result<Vec<W>, Bad> {
    Ok(match t {
        GeneralTensor::FloatTensor(t) => t.floats.iter().map(|v| W::F64(v.0)).collect(),
        GeneralTensor::DoubleTensor(t) => t.doubles.iter().map(|v| W::F64(v.0)).collect(),
        GeneralTensor::Int32Tensor(t) => t.ints.iter().map(|&v| W::I64(v.into())).collect(),
        GeneralTensor::Int64Tensor(t) => t.longs.iter().map(|&v| W::I64(v)).collect(),
        GeneralTensor::BoolTensor(t) => t.booleans.iter().map(|&v| W::I64(v.into())).collect(),
        GeneralTensor::RawTypedTensor(t) => {
            let dtype = DataType::from_code(t.data_type.0).ok_or(Bad::Type)?;
            let size = dtype.fixed_size().ok_or(Bad::Type)?;
            if t.content.len() % size != 0 {
                return Err(Bad::Content);
            }
            let c = &t.content;
            match dtype {
                DataType::Float => c
                    .chunks_exact(4)
                    .map(|b| W::F32(f32::from_le_bytes(b.try_into().unwrap())))
                    .collect(),
                DataType::Double => c
                    .chunks_exact(8)
                    .map(|b| W::F64(f64::from_le_bytes(b.try_into().unwrap())))
                    .collect(),
                DataType::Int32 => c
                    .chunks_exact(4)
                    .map(|b| W::I64(i32::from_le_bytes(b.try_into().unwrap()).into()))
                    .collect(),
                DataType::Int64 => c
                    .chunks_exact(8)
                    .map(|b| W::I64(i64::from_le_bytes(b.try_into().unwrap())))
                    .collect(),
                DataType::Uint8 => c.iter().map(|&b| W::I64(b.into())).collect(),
                DataType::Bool => c.iter().map(|&b| W::I64((b != 0).into())).collect(),
                _ => return Err(Bad::Type),
            }
        }
        GeneralTensor::StringTensor(_) | GeneralTensor::BinaryTensor(_) => return Err(Bad::Type),
    })
}

/// What Navi's converter does per request, with the layout's ids: copy the
/// bytes (Navi copies them into a `TBufferChannel`), decode them with the
/// generated code, then [`scatter`] (std `HashMap` lookups, fresh `Vec`s)
/// without counting the skipped ids (Navi does not count them).
pub fn navi_style(layout: &NaiveLayout, bytes: &[u8]) -> Result<NaiveOutputs, NaiveError> {
    let copy = bytes.to_vec();
    let req = deserialize_request(&copy).map_err(NaiveError::Decode)?;
    scatter_counting(layout, &req, false)
}

/// Every element's bits, whatever the type (NaN equals itself): how the
/// tests and the fuzz target compare arrays.
pub fn bits(a: &Array, len: usize) -> Vec<u64> {
    match a.as_ref() {
        ColumnRef::F32(v) => v[..len].iter().map(|x| x.to_bits().into()).collect(),
        ColumnRef::F64(v) => v[..len].iter().map(|x| x.to_bits()).collect(),
        ColumnRef::I64(v) => v[..len].iter().map(|&x| x as u64).collect(),
        ColumnRef::U8(v) => v[..len].iter().map(|&x| x.into()).collect(),
    }
}

/// The naive error bprwire's error stands for (`None` for other errors).
pub fn as_naive(e: &FeatureError) -> Option<NaiveError> {
    Some(match *e {
        FeatureError::TensorWidth { at, id, .. } => NaiveError::Width { at, id },
        FeatureError::TensorType { at, id, .. } => NaiveError::Type { at, id },
        FeatureError::RawContent { at, id, .. } => NaiveError::RawContent { at, id },
        _ => return None,
    })
}
