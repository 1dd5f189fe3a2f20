//! A response's records gathered into dense numpy arrays: the continuous
//! predictions as `[records, keys]`, a tensor key as `[records, *shape]`.

use std::collections::HashMap;

use bprwire::decode::{GeneralTensor, Record as WireRecord};
use bprwire::DataType;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::alloc::{element_count, numpy_can_hold, vec_with_capacity};
use crate::arrays::numpy;
use crate::errors::decode_error;

/// Keys (first-seen order) and `[records, keys]` values, NaN where absent.
/// The values take `records × keys` doubles, which a small response can
/// make huge (each record its own key): a `MemoryError` if they cannot be
/// had, naming both counts.
pub(crate) fn continuous(records: &[WireRecord<'_>]) -> PyResult<(Vec<i64>, Vec<f64>)> {
    let mut keys: Vec<i64> = Vec::new();
    let mut column: HashMap<i64, usize> = HashMap::new();
    for r in records {
        for (k, _) in r.continuous_features.into_iter().flatten() {
            if let std::collections::hash_map::Entry::Vacant(e) = column.entry(k) {
                e.insert(keys.len());
                keys.push(k);
            }
        }
    }
    let n = keys.len();
    let what = || {
        format!(
            "continuous(): {} records × {n} distinct keys, as float64",
            records.len()
        )
    };
    let len = records.len().checked_mul(n);
    let mut values = vec_with_capacity(len.unwrap_or(usize::MAX), what)?;
    values.resize(len.unwrap_or(0), f64::NAN);
    for (row, r) in values.chunks_exact_mut(n.max(1)).zip(records) {
        for (j, (k, v)) in r.continuous_features.into_iter().flatten().enumerate() {
            // Records written from one batch have the same keys in the same
            // order: no lookup then.
            let col = if keys.get(j) == Some(&k) { j } else { column[&k] };
            row[col] = v;
        }
    }
    Ok((keys, values))
}

/// A tensor's elements gathered over records.
enum Elements {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
    Str(Vec<&'static str>),
    Binary(Vec<&'static [u8]>),
}

/// One tensor key gathered over records: elements and the row shape.
pub(crate) struct Gathered {
    elements: Elements,
    rows: usize,
    shape: Vec<usize>,
}

impl Gathered {
    /// The numpy array `[rows, *shape]` (or `shape` alone if not `batched`).
    pub(crate) fn into_array<'py>(self, py: Python<'py>, batched: bool) -> PyResult<Bound<'py, PyAny>> {
        let mut dims = Vec::with_capacity(self.shape.len() + 1);
        if batched {
            dims.push(self.rows);
        }
        dims.extend_from_slice(&self.shape);
        let flat = match self.elements {
            Elements::F32(v) => PyArray1::from_vec(py, v).into_any(),
            Elements::F64(v) => PyArray1::from_vec(py, v).into_any(),
            Elements::I32(v) => PyArray1::from_vec(py, v).into_any(),
            Elements::I64(v) => PyArray1::from_vec(py, v).into_any(),
            Elements::U8(v) => PyArray1::from_vec(py, v).into_any(),
            Elements::Bool(v) => PyArray1::from_vec(py, v).into_any(),
            Elements::Str(v) => object_array(py, PyList::new(py, v)?)?,
            Elements::Binary(v) => {
                let items = v.into_iter().map(|b| PyBytes::new(py, b));
                object_array(py, PyList::new(py, items)?)?
            }
        };
        flat.call_method1("reshape", (dims,))
    }
}

/// A 1-D object array of `items`' elements.
fn object_array<'py>(py: Python<'py>, items: Bound<'py, PyList>) -> PyResult<Bound<'py, PyAny>> {
    let n = items.len();
    let np = numpy(py)?;
    let a = np.empty.bind(py).call1((n, "object"))?;
    for (i, item) in items.iter().enumerate() {
        a.set_item(i, item)?;
    }
    Ok(a)
}

/// What a tensor is, to compare records: arm, raw dtype, row shape.
#[derive(PartialEq)]
struct Form {
    arm: &'static str,
    dtype: Option<i32>,
    shape: Vec<usize>,
}

fn form(t: &GeneralTensor<'_>, key: i64, record: usize) -> Result<Form, String> {
    let count = t.element_count().ok_or_else(|| {
        let what = match t {
            GeneralTensor::Raw(r) => format!("rawTypedTensor of data type {}", r.data_type),
            other => other.arm_name().to_string(),
        };
        format!("tensor key {key}, record {record}: a {what} cannot be read as an array")
    })?;
    let shape = match t.shape() {
        None => vec![count],
        Some(dims) => {
            let mut shape = Vec::with_capacity(dims.len());
            for d in dims {
                shape.push(usize::try_from(d).map_err(|_| {
                    format!("tensor key {key}, record {record}: negative dimension {d} in its shape")
                })?);
            }
            if element_count(&shape) != Some(count) {
                return Err(format!(
                    "tensor key {key}, record {record}: shape {shape:?} does not hold its {count} elements"
                ));
            }
            shape
        }
    };
    let dtype = match t {
        GeneralTensor::Raw(r) => Some(r.data_type),
        _ => None,
    };
    Ok(Form {
        arm: t.arm_name(),
        dtype,
        shape,
    })
}

fn describe(f: &Form) -> String {
    match f.dtype.map(DataType::from_code) {
        Some(Some(d)) => format!("{} of {d:?} shaped {:?}", f.arm, f.shape),
        Some(None) => format!(
            "{} of data type {} shaped {:?}",
            f.arm,
            f.dtype.unwrap_or(-1),
            f.shape
        ),
        None => format!("{} shaped {:?}", f.arm, f.shape),
    }
}

fn le_chunks<const N: usize>(b: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    b.chunks_exact(N).map(|c| c.try_into().expect("N bytes"))
}

/// numpy's limit on the number of dimensions of an array.
const NPY_MAXDIMS: usize = 64;

/// Tensor `key` over `records` (None if no record has it): a
/// `DecodeError` if the records disagree or their shape cannot be a numpy
/// array, a `MemoryError` if the elements cannot be had.
pub(crate) fn gather(records: &[WireRecord<'static>], key: i64) -> PyResult<Option<Gathered>> {
    gather_elements(records, key).map_err(|e| match e {
        Gather::Decode(msg) => decode_error(msg),
        Gather::Memory(err) => err,
    })
}

/// Why a gather failed.
enum Gather {
    Decode(String),
    Memory(PyErr),
}

impl From<String> for Gather {
    fn from(msg: String) -> Gather {
        Gather::Decode(msg)
    }
}

/// A `Vec` for `n` elements of a gathered tensor.
fn elements<T>(n: usize, key: i64, rows: usize) -> Result<Vec<T>, Gather> {
    vec_with_capacity(n, || {
        format!("tensor({key}): {rows} records of {} elements", n / rows.max(1))
    })
    .map_err(Gather::Memory)
}

fn gather_elements(records: &[WireRecord<'static>], key: i64) -> Result<Option<Gathered>, Gather> {
    let find = |r: &WireRecord<'static>| {
        r.tensors
            .and_then(|m| m.iter().find(|(k, _)| *k == key).map(|(_, t)| t))
    };
    let Some((first_index, first)) = records
        .iter()
        .enumerate()
        .find_map(|(i, r)| find(r).map(|t| (i, t)))
    else {
        return Ok(None);
    };
    if first_index != 0 {
        return Err(
            format!("tensor key {key}: record 0 has no such tensor, record {first_index} has").into(),
        );
    }
    let want = form(&first, key, 0)?;
    // The whole array, [records, *shape]: numpy must be able to hold it
    // (an empty tensor can declare any shape), and its elements fit memory.
    let rows = records.len();
    let mut dims = vec![rows];
    dims.extend_from_slice(&want.shape);
    let per_row = element_count(&want.shape).unwrap_or(usize::MAX);
    let total = rows.saturating_mul(per_row);
    let itemsize = match first {
        GeneralTensor::Raw(r) => r.dtype().and_then(DataType::fixed_size).unwrap_or(8),
        GeneralTensor::Int32(_) | GeneralTensor::Float(_) => 4,
        GeneralTensor::Bool(_) => 1,
        _ => 8,
    };
    if dims.len() > NPY_MAXDIMS || !numpy_can_hold(&dims, itemsize) {
        return Err(format!(
            "tensor key {key}: an array of shape {dims:?} ({} dimensions, {itemsize}-byte elements) \
             is more than numpy can make",
            dims.len()
        )
        .into());
    }
    let mut elements = match first {
        GeneralTensor::Raw(r) => match r.dtype() {
            Some(DataType::Float) => Elements::F32(elements(total, key, rows)?),
            Some(DataType::Double) => Elements::F64(elements(total, key, rows)?),
            Some(DataType::Int32) => Elements::I32(elements(total, key, rows)?),
            Some(DataType::Int64) => Elements::I64(elements(total, key, rows)?),
            Some(DataType::Uint8) => Elements::U8(elements(total, key, rows)?),
            Some(DataType::Bool) => Elements::Bool(elements(total, key, rows)?),
            _ => {
                return Err(format!(
                    "tensor key {key}: a rawTypedTensor of data type {} cannot be read as an array",
                    r.data_type
                )
                .into())
            }
        },
        GeneralTensor::String(_) => Elements::Str(elements(total, key, rows)?),
        GeneralTensor::Int32(_) => Elements::I32(elements(total, key, rows)?),
        GeneralTensor::Int64(_) => Elements::I64(elements(total, key, rows)?),
        GeneralTensor::Float(_) => Elements::F32(elements(total, key, rows)?),
        GeneralTensor::Double(_) => Elements::F64(elements(total, key, rows)?),
        GeneralTensor::Bool(_) => Elements::Bool(elements(total, key, rows)?),
        GeneralTensor::Binary(_) => Elements::Binary(elements(total, key, rows)?),
    };
    for (i, r) in records.iter().enumerate() {
        let t = find(r)
            .ok_or_else(|| format!("tensor key {key}: record {i} has no such tensor, record 0 has"))?;
        let got = form(&t, key, i)?;
        if got != want {
            return Err(format!(
                "tensor key {key}: record {i} holds a {} where record 0 holds a {}",
                describe(&got),
                describe(&want)
            )
            .into());
        }
        match (&mut elements, t) {
            (Elements::F32(v), GeneralTensor::Raw(r)) => {
                v.extend(le_chunks::<4>(r.content).map(f32::from_le_bytes))
            }
            (Elements::F64(v), GeneralTensor::Raw(r)) => {
                v.extend(le_chunks::<8>(r.content).map(f64::from_le_bytes))
            }
            (Elements::I32(v), GeneralTensor::Raw(r)) => {
                v.extend(le_chunks::<4>(r.content).map(i32::from_le_bytes))
            }
            (Elements::I64(v), GeneralTensor::Raw(r)) => {
                v.extend(le_chunks::<8>(r.content).map(i64::from_le_bytes))
            }
            (Elements::U8(v), GeneralTensor::Raw(r)) => v.extend_from_slice(r.content),
            (Elements::Bool(v), GeneralTensor::Raw(r)) => v.extend(r.content.iter().map(|&b| b != 0)),
            (Elements::Str(v), GeneralTensor::String(t)) => v.extend(t.values),
            (Elements::I32(v), GeneralTensor::Int32(t)) => v.extend(t.values),
            (Elements::I64(v), GeneralTensor::Int64(t)) => v.extend(t.values),
            // A floatTensor holds f32 values widened: narrowing is exact.
            (Elements::F32(v), GeneralTensor::Float(t)) => v.extend(t.values.iter().map(|x| x as f32)),
            (Elements::F64(v), GeneralTensor::Double(t)) => v.extend(t.values),
            (Elements::Bool(v), GeneralTensor::Bool(t)) => v.extend(t.values),
            (Elements::Binary(v), GeneralTensor::Binary(t)) => v.extend(t.values),
            _ => unreachable!("the form (arm and dtype) matched record 0's"),
        }
    }
    Ok(Some(Gathered {
        elements,
        rows: records.len(),
        shape: want.shape,
    }))
}
