//! The `bprwire` Python package's native module (`bprwire._bprwire`):
//! numpy arrays in, the Thrift bytes of a twml `BatchPredictionResponse`
//! out, and back, through the `bprwire` crate.

#![deny(unsafe_code)] // allowed item by item, each with its reason
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod alloc;
mod arrays;
mod buffers;
mod errors;
mod gather;
mod gil;
mod layout;
mod limited;
mod out;
mod response;
mod writer;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use bprwire::{BatchPrediction, Encoder, Tensor, TensorData};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

use arrays::{keys, ArrayIn};
use errors::{dec, enc, encode_error};
use gil::Gil;
use out::{envelope, to_bytes, Message};

/// twml's feature id of a feature name (libtwml's `twml_get_feature_id`):
/// MurmurHash3_x64_128 of the name's UTF-16LE (for `group#feature`, of
/// the group's hash followed by the feature), first 8 bytes as a
/// little-endian int64. `name` is a `str`, or `bytes` holding UTF-8
/// (anything else raises `DecodeError`, with the offset of the first bad
/// byte). The empty name has id 0.
#[pyfunction]
fn feature_id(name: &Bound<'_, PyAny>) -> PyResult<i64> {
    if let Ok(s) = name.cast::<PyString>() {
        return Ok(bprwire::feature_id(limited::utf8(s)?));
    }
    if let Ok(b) = name.cast::<PyBytes>() {
        return bprwire::feature_id_bytes(b.as_bytes()).map_err(|e| errors::decode_error(e.to_string()));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "feature_id() takes a str or bytes, not {}",
        name.get_type().name()?
    )))
}

/// The inputs of a one-off `encode`/`reply` call, read from Python.
struct OneOff<'py> {
    continuous: Option<(Vec<i64>, ArrayIn<'py>)>,
    dense_keys: Vec<i64>,
    dense: Vec<ArrayIn<'py>>,
}

impl<'py> OneOff<'py> {
    fn new(continuous: Option<&Bound<'py, PyAny>>, dense: Option<&Bound<'py, PyAny>>) -> PyResult<Self> {
        let continuous = match continuous {
            None => None,
            Some(c) => {
                let pair = c
                    .cast::<PyTuple>()
                    .ok()
                    .filter(|t| t.len() == 2)
                    .ok_or_else(|| encode_error("continuous: expected a pair (keys, values)"))?;
                let keys = keys(&pair.get_item(0)?)?;
                let values = ArrayIn::continuous(&pair.get_item(1)?)?;
                Some((keys, values))
            }
        };
        let mut dense_keys = Vec::new();
        let mut arrays = Vec::new();
        if let Some(d) = dense {
            let d = d
                .cast::<PyDict>()
                .map_err(|_| encode_error("dense: expected a dict {key: array}"))?;
            for (index, (k, v)) in d.iter().enumerate() {
                let key: i64 = k.extract()?;
                arrays.push(ArrayIn::new(&v, &|| format!("tensor key {key} (index {index})"))?);
                dense_keys.push(key);
            }
        }
        Ok(OneOff {
            continuous,
            dense_keys,
            dense: arrays,
        })
    }

    fn with_encoder<R>(
        &self,
        typed: bool,
        binary: bool,
        f: impl FnOnce(&Encoder<'_>, Gil) -> PyResult<R>,
    ) -> PyResult<R> {
        let slices: Vec<Vec<&[u8]>> = self.dense.iter().map(ArrayIn::string_slices).collect();
        let data: Vec<TensorData<'_>> = self
            .dense
            .iter()
            .zip(&slices)
            .map(|(a, s)| a.data(s, binary))
            .collect();
        let tensors: Vec<Tensor<'_>> = self
            .dense
            .iter()
            .zip(data)
            .map(|(a, d)| Tensor::new(d, a.shape()))
            .collect();
        let mut bp = BatchPrediction::new();
        if let Some((keys, values)) = &self.continuous {
            bp = bp.continuous(keys, values.values().map_err(enc)?, values.shape());
        }
        if !self.dense.is_empty() || self.continuous.is_none() {
            bp = bp.dense(&self.dense_keys, &tensors);
        }
        if typed {
            bp = bp.typed();
        }
        let e = bp.encoder().map_err(enc)?;
        f(&e, crate::arrays::gil_of(&self.dense))
    }
}

/// One `BatchPredictionResponse` from arrays, for one-off calls (a writer
/// is faster when the same keys come back): `continuous=(keys, values)`
/// with `values` `float32`/`float64` `[batch, len(keys)]` (or `[batch]`
/// with one key), `dense={key: array}` with every array's dim 0 the batch
/// (the types `BatchPredictionTensorWriter` takes), `typed` and `binary`
/// as there. Returns `bytes`.
///
/// C-contiguous arrays are read in place, others copied once. Raises
/// `EncodeError` naming the key, tensor or dimension at fault.
#[pyfunction]
#[pyo3(signature = (continuous = None, dense = None, *, typed = false, binary = false))]
fn encode<'py>(
    py: Python<'py>,
    continuous: Option<&Bound<'py, PyAny>>,
    dense: Option<&Bound<'py, PyAny>>,
    typed: bool,
    binary: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    OneOff::new(continuous, dense)?
        .with_encoder(typed, binary, |e, gil| to_bytes(py, e, Message::Response, gil))
}

/// A whole `getBatchPrediction` reply around the response `encode` would
/// write for the same arguments: the strict message header with `seqid`,
/// the result struct, and the framed transport's 4-byte length first if
/// `framed`. Returns `bytes`.
#[pyfunction]
#[pyo3(signature = (continuous = None, dense = None, *, typed = false, binary = false, seqid = 0, framed = false))]
fn reply<'py>(
    py: Python<'py>,
    continuous: Option<&Bound<'py, PyAny>>,
    dense: Option<&Bound<'py, PyAny>>,
    typed: bool,
    binary: bool,
    seqid: i32,
    framed: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    OneOff::new(continuous, dense)?.with_encoder(typed, binary, |e, gil| {
        to_bytes(py, e, envelope(seqid, framed), gil)
    })
}

/// Decodes `data` as a `BatchPredictionRequest` and returns `(records,
/// has_common_features)`: a quick check of a request's bytes (scatter
/// them with a `FeatureLayout`). Raises `DecodeError` as `decode` does.
#[pyfunction]
fn request_info(data: &Bound<'_, PyAny>) -> PyResult<(usize, bool)> {
    let (_owner, bytes) = buffers::hold(data)?;
    let r = bprwire::decode::decode_request(bytes).map_err(dec)?;
    Ok((r.len(), r.common_features().is_some()))
}

/// Panics seen in this module's Rust code since it was loaded.
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic of this module's Rust code (any thread), then hands
/// it to the hook that was there (which prints it): a panic is a bug here
/// even when PyO3 turns it into a `PanicException` that someone catches.
fn count_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::Relaxed);
            previous(info)
        }));
    });
}

/// For tests: the number of panics of the module's Rust code so far
/// (the test suite fails any test during which it grows).
#[pyfunction]
fn _panics() -> usize {
    PANICS.load(Ordering::Relaxed)
}

/// bprwire's native module, re-exported whole by the `bprwire` package
/// (import that): the writers, `encode`/`reply`, `decode`/`decode_reply`,
/// `FeatureLayout`, `feature_id` and the exceptions.
#[pymodule]
fn _bprwire(m: &Bound<'_, PyModule>) -> PyResult<()> {
    count_panics();
    let py = m.py();
    m.add("EncodeError", py.get_type::<errors::EncodeError>())?;
    m.add("DecodeError", py.get_type::<errors::DecodeError>())?;
    m.add("LayoutError", py.get_type::<errors::LayoutError>())?;
    m.add_class::<writer::BatchPredictionWriter>()?;
    m.add_class::<writer::BatchPredictionTensorWriter>()?;
    m.add_class::<response::Response>()?;
    m.add_class::<response::Record>()?;
    m.add_class::<layout::Layout>()?;
    m.add_function(wrap_pyfunction!(feature_id, m)?)?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(reply, m)?)?;
    m.add_function(wrap_pyfunction!(response::decode, m)?)?;
    m.add_function(wrap_pyfunction!(response::decode_reply, m)?)?;
    m.add_function(wrap_pyfunction!(request_info, m)?)?;
    m.add_function(wrap_pyfunction!(_panics, m)?)?;
    m.add("RELEASE_GIL_FROM", gil::RELEASE_GIL_FROM)?;
    Ok(())
}
