//! `bprwire.decode`: a response's bytes into numpy arrays, through the
//! library's zero-copy decoder.

use std::collections::HashMap;
use std::sync::OnceLock;

use bprwire::decode::{self as wire, GeneralTensor, Record as WireRecord};
use bprwire::service::{self, Reply};
use bprwire::DataType;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyIndexError, PyKeyError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::alloc::{element_count, numpy_can_hold, vec_with_capacity};
use crate::arrays::numpy;
use crate::errors::{dec, decode_error};
use crate::out::released;

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
        let buffer = PyBuffer::<u8>::get(data)?;
        let len = buffer.item_count();
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

/// A decoded `BatchPredictionResponse` (from `bprwire.decode` or
/// `bprwire.decode_reply`): one record per batch row.
///
/// It keeps the decoded bytes: a `bytes` object passed to `decode` is
/// referenced (not copied); any other buffer was copied once when decoded.
/// The whole response was checked then; reading it here cannot fail on
/// the bytes, only on records that disagree (a tensor whose type or shape
/// differs between records).
///
/// `len(response)` is the number of records; `response[i]` is record `i`
/// (a `Record`); `continuous()` and `tensor(key)` gather a field over all
/// records into one array.
#[pyclass(frozen, module = "bprwire")]
pub struct Response {
    // Borrows `bytes`, which `owner` keeps alive; dropped before it.
    response: wire::Response<'static>,
    records: OnceLock<Vec<WireRecord<'static>>>,
    seqid: Option<i32>,
    len: usize,
    _owner: Owner,
}

impl Response {
    /// The records, collected once (a `MemoryError` if there is no room
    /// for them: a record can take one byte of input and ~100 here).
    fn records(&self) -> PyResult<&[WireRecord<'static>]> {
        if let Some(records) = self.records.get() {
            return Ok(records);
        }
        let n = self.response.len();
        let mut records = vec_with_capacity(n, || format!("the response's {n} records"))?;
        records.extend(self.response.records());
        Ok(self.records.get_or_init(|| records))
    }
}

/// Decodes `data` (any bytes-like object: `bytes`, `bytearray`,
/// `memoryview`, a numpy `uint8` array such as a writer's output) as a
/// `BatchPredictionResponse`.
///
/// `bytes` are read in place and kept referenced by the result; any other
/// buffer is copied once. The GIL is released while decoding inputs of
/// 16 KiB or more. Raises `DecodeError` (naming the byte offset, schema
/// item and record) if the bytes are not exactly one valid response.
#[pyfunction]
pub fn decode(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Response> {
    let (owner, bytes) = hold(data)?;
    let response = released(py, bytes.len(), || wire::decode_response(bytes)).map_err(dec)?;
    Ok(Response {
        response,
        records: OnceLock::new(),
        seqid: None,
        len: bytes.len(),
        _owner: owner,
    })
}

/// Decodes `data` as a `getBatchPrediction` reply (after the framed
/// transport's 4-byte length if `framed`) and returns its response, whose
/// `seqid` is the reply's.
///
/// Raises `DecodeError` if the bytes are not a valid reply, and also if
/// the reply carries an exception instead of a response (its message is
/// in the error's).
#[pyfunction]
#[pyo3(signature = (data, *, framed = false))]
pub fn decode_reply(py: Python<'_>, data: &Bound<'_, PyAny>, framed: bool) -> PyResult<Response> {
    let (owner, bytes) = hold(data)?;
    let message = released(py, bytes.len(), || service::decode_reply(bytes, framed)).map_err(dec)?;
    let response = match message.body {
        Reply::Success(r) => r,
        Reply::ServiceException { description } => {
            return Err(decode_error(format!(
                "the reply (seqid {}) carries a PredictionServiceException: {}",
                message.seqid,
                description.unwrap_or("(no description)")
            )))
        }
        Reply::ApplicationException { message: text, kind } => {
            return Err(decode_error(format!(
                "the reply (seqid {}) is a TApplicationException (type {}): {}",
                message.seqid,
                kind.map_or("unset".to_string(), |k| k.to_string()),
                text.unwrap_or("(no message)")
            )))
        }
    };
    Ok(Response {
        response,
        records: OnceLock::new(),
        seqid: Some(message.seqid),
        len: bytes.len(),
        _owner: owner,
    })
}

#[pymethods]
impl Response {
    /// The number of records (the batch size).
    fn __len__(&self) -> usize {
        self.response.len()
    }

    /// Record `index` (negative counts from the end).
    fn __getitem__(slf: &Bound<'_, Self>, index: isize) -> PyResult<Record> {
        let n = slf.get().response.len();
        let i = if index < 0 { index + n as isize } else { index };
        if i < 0 || i as usize >= n {
            return Err(PyIndexError::new_err(format!(
                "record {index} out of range for a response of {n} records"
            )));
        }
        Ok(Record {
            response: slf.clone().unbind(),
            index: i as usize,
        })
    }

    /// The reply's sequence id (`decode_reply`), or None (`decode`).
    #[getter]
    fn seqid(&self) -> Option<i32> {
        self.seqid
    }

    /// Bytes decoded (the response, or the whole reply).
    #[getter]
    fn encoded_len(&self) -> usize {
        self.len
    }

    /// Unknown fields that were skipped while decoding, at any depth.
    #[getter]
    fn skipped_fields(&self) -> usize {
        self.response.skipped_fields()
    }

    /// The continuous predictions of every record: `(keys, values)`, keys
    /// an `int64` array `[n]` in the order the first record holding each
    /// key has it, values a `float64` array `[len(self), n]` with NaN where
    /// a record lacks a key.
    fn continuous<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyArray1<i64>>, Bound<'py, PyAny>)> {
        let records = self.records()?;
        let (keys, values) = released(py, self.len, || continuous(records))?;
        let batch = records.len();
        let n = keys.len();
        let values = PyArray1::from_vec(py, values).reshape([batch, n])?.into_any();
        Ok((PyArray1::from_vec(py, keys), values))
    }

    /// Tensor `key` of every record, stacked: an array `[len(self),
    /// *shape]` of the tensor's element type (`float32` for a
    /// `rawTypedTensor` of FLOAT or a `floatTensor`, `float64`, `int32`,
    /// `int64`, `uint8`, `bool`; an object array of `str` for a
    /// `stringTensor`, of `bytes` for a `binaryTensor`). Raises `KeyError`
    /// if no record has it, `DecodeError` if a record lacks it or holds it
    /// with another type or shape than record 0.
    fn tensor<'py>(&self, py: Python<'py>, key: i64) -> PyResult<Bound<'py, PyAny>> {
        let records = self.records()?;
        match released(py, self.len, || gather(records, key))? {
            Some(g) => g.into_array(py, true),
            None => Err(PyKeyError::new_err(key)),
        }
    }

    /// The tensor keys of the first record, in wire order (empty if there
    /// is no record or it has no tensor).
    fn tensor_keys(&self) -> Vec<i64> {
        self.response
            .records()
            .next()
            .and_then(|r| r.tensors)
            .map(|m| m.iter().map(|(k, _)| k).collect())
            .unwrap_or_default()
    }

    fn __repr__(&self) -> String {
        format!(
            "<bprwire.Response: {} records, {} bytes>",
            self.response.len(),
            self.len
        )
    }
}

/// One record of a `Response` (`response[i]`): its continuous map and
/// tensors. Holds a reference to the response (and so to its bytes).
#[pyclass(frozen, module = "bprwire")]
pub struct Record {
    response: Py<Response>,
    index: usize,
}

impl Record {
    fn record(&self, py: Python<'_>) -> PyResult<WireRecord<'static>> {
        Ok(self.response.bind(py).get().records()?[self.index])
    }
}

#[pymethods]
impl Record {
    /// Its position in the response.
    #[getter]
    fn index(&self) -> usize {
        self.index
    }

    /// Its continuous predictions as a dict `{key: value}` in wire order
    /// (empty if it has none).
    fn continuous<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        if let Some(m) = self.record(py)?.continuous_features {
            for (k, v) in m {
                d.set_item(k, v)?;
            }
        }
        Ok(d)
    }

    /// Its tensor `key` as an array of the tensor's shape and element type
    /// (as `Response.tensor`, without the batch dimension). Raises
    /// `KeyError` if the record has no such tensor.
    fn tensor<'py>(&self, py: Python<'py>, key: i64) -> PyResult<Bound<'py, PyAny>> {
        let record = [self.record(py)?];
        match gather(&record, key)? {
            Some(g) => g.into_array(py, false),
            None => Err(PyKeyError::new_err(key)),
        }
    }

    /// Its tensor keys, in wire order.
    fn tensor_keys(&self, py: Python<'_>) -> PyResult<Vec<i64>> {
        Ok(self
            .record(py)?
            .tensors
            .map(|m| m.iter().map(|(k, _)| k).collect())
            .unwrap_or_default())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let r = self.record(py)?;
        Ok(format!(
            "<bprwire.Record {}: {} continuous, {} tensors>",
            self.index,
            r.continuous_features.map_or(0, |m| m.len()),
            r.tensors.map_or(0, |m| m.len())
        ))
    }
}

/// Keys (first-seen order) and `[records, keys]` values, NaN where absent.
/// The values take `records × keys` doubles, which a small response can
/// make huge (each record its own key): a `MemoryError` if they cannot be
/// had, naming both counts.
fn continuous(records: &[WireRecord<'_>]) -> PyResult<(Vec<i64>, Vec<f64>)> {
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
struct Gathered {
    elements: Elements,
    rows: usize,
    shape: Vec<usize>,
}

impl Gathered {
    /// The numpy array `[rows, *shape]` (or `shape` alone if not `batched`).
    fn into_array<'py>(self, py: Python<'py>, batched: bool) -> PyResult<Bound<'py, PyAny>> {
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
fn gather(records: &[WireRecord<'static>], key: i64) -> PyResult<Option<Gathered>> {
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
