//! `bprwire.decode`: a response's bytes into numpy arrays, through the
//! library's zero-copy decoder.

use std::sync::OnceLock;

use bprwire::decode::{self as wire, Record as WireRecord};
use bprwire::service::{self, Reply};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::{PyIndexError, PyKeyError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::alloc::vec_with_capacity;
use crate::buffers::{hold, Owner};
use crate::errors::{dec, decode_error};
use crate::gather::{continuous, gather};
use crate::gil::released;

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
