//! twml's two writer layers as prepared signatures: built once with the
//! keys, called on each batch's arrays.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bprwire::{
    BatchPrediction, Element, Encoder, Error, Signature, Tensor, TensorData, TensorEncoding, Values,
};
use numpy::PyArray2;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::arrays::{keys, ArrayIn, Kind};
use crate::buffers::writable;
use crate::errors::{enc, encode_error};
use crate::gil::Gil;
use crate::out::{envelope, into_buffer, to_array, to_bytes, Message};

/// Continuous predictions: keys built once, `float32`/`float64` values
/// `[batch, len(keys)]` (or `[batch]` with one key) per call.
///
/// The Python counterpart of twml's `BatchPredictionWriter` layer
/// (libtwml's `batch_prediction_response_writer` op): calling it returns the
/// serialized `BatchPredictionResponse` as a `uint8` array `[1, len]`.
/// Each record `i` gets `continuousFeatures = {keys[j]: values[i, j]}` (a
/// float32 is widened to double exactly). The prepared signatures (one per
/// dtype) are built here, so a repeated key raises `EncodeError` now, and
/// each call checks only the values' shape and dtype.
///
/// Values that are C-contiguous in native byte order are read in place;
/// any other array (a transpose, a slice with a step, big-endian) is
/// copied once with `numpy.ascontiguousarray`. Outputs of 16 KiB or more
/// are written with the GIL released.
#[pyclass(frozen, module = "bprwire")]
pub struct BatchPredictionWriter {
    keys: Vec<i64>,
    f32: Signature,
    f64: Signature,
}

impl BatchPredictionWriter {
    /// Reads `values` and hands the prepared call to `f`.
    fn batch<R>(&self, values: &Bound<'_, PyAny>, f: impl FnOnce(Call<'_>) -> PyResult<R>) -> PyResult<R> {
        let a = ArrayIn::continuous(values)?;
        let n = self.keys.len();
        let batch = match *a.shape() {
            [batch] if n == 1 => batch,
            [_] => return Err(enc(Error::KeyCountMismatch { keys: n, last_dim: 1 })),
            [batch, last] if last == n => batch,
            [_, last] => {
                return Err(enc(Error::KeyCountMismatch {
                    keys: n,
                    last_dim: last,
                }))
            }
            ref s => return Err(enc(Error::ContinuousRank { rank: s.len() })),
        };
        let signature = match a.kind {
            Kind::F64 => &self.f64,
            _ => &self.f32,
        };
        f(Call {
            signature,
            batch,
            values: Some(a.values().map_err(enc)?),
            tensors: &[],
            inputs: &[a.byte_range()],
            gil: a.gil(),
        })
    }
}

/// One prepared signature and what it was built for: each tensor's
/// element type and row shape.
struct Prepared {
    rows: Vec<(Element, Vec<usize>)>,
    signature: Arc<Signature>,
}

/// Prepared signatures kept per writer (the most recent first); past this
/// many, the oldest is dropped.
const CACHED_SIGNATURES: usize = 16;

/// Dense tensors: keys built once, one array per key per call.
///
/// The Python counterpart of twml's `BatchPredictionTensorWriter` layer
/// (libtwml's `batch_prediction_tensor_response_writer` op): called with a
/// list of arrays, `tensors[j]` under `keys[j]`, all with the same dim 0
/// (the batch); returns the serialized `BatchPredictionResponse` as a
/// `uint8` array `[1, len]`. Record `i` holds row `i` of each tensor.
///
/// Element types: `float32`, `float64`, `int32`, `int64`, `uint8`, `bool`
/// (a `rawTypedTensor` each, as twml writes; `typed=True` writes
/// big-endian typed lists instead), and strings: numpy `S` arrays (read in
/// place, trailing NULs dropped as numpy does), `U` arrays and object
/// arrays of `str`/`bytes` (converted to UTF-8 once). Strings go into a
/// `stringTensor` and must be UTF-8; `binary=True` writes them into a
/// `binaryTensor` (any bytes) instead, which twml's readers do not read.
///
/// A prepared signature is built on the first call with each combination
/// of element types and row shapes, and kept (the 16 most recent).
/// Numeric and `S` arrays that are C-contiguous in native byte order are
/// read in place; any other is copied once with `numpy.ascontiguousarray`.
/// Outputs of 16 KiB or more are written with the GIL released.
#[pyclass(frozen, module = "bprwire")]
pub struct BatchPredictionTensorWriter {
    keys: Vec<i64>,
    typed: bool,
    binary: bool,
    cache: Mutex<Vec<Prepared>>,
}

impl BatchPredictionTensorWriter {
    fn encoding(&self) -> TensorEncoding {
        if self.typed {
            TensorEncoding::Typed
        } else {
            TensorEncoding::Raw
        }
    }

    /// The prepared signature for these arrays, built once.
    fn signature(&self, arrays: &[ArrayIn<'_>]) -> PyResult<Arc<Signature>> {
        let matches = |p: &Prepared| {
            p.rows.len() == arrays.len()
                && p.rows
                    .iter()
                    .zip(arrays)
                    .all(|((e, row), a)| *e == a.kind.element(self.binary) && row[..] == a.shape()[1..])
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = cache.iter().position(matches) {
            if i != 0 {
                let p = cache.remove(i);
                cache.insert(0, p);
            }
            return Ok(Arc::clone(&cache[0].signature));
        }
        let rows: Vec<(Element, Vec<usize>)> = arrays
            .iter()
            .map(|a| (a.kind.element(self.binary), a.shape()[1..].to_vec()))
            .collect();
        let mut builder = Signature::builder().encoding(self.encoding());
        for (key, (element, row)) in self.keys.iter().zip(&rows) {
            builder = builder.tensor(*key, *element, row);
        }
        let signature = Arc::new(builder.build().map_err(enc)?);
        cache.insert(
            0,
            Prepared {
                rows,
                signature: Arc::clone(&signature),
            },
        );
        cache.truncate(CACHED_SIGNATURES);
        Ok(signature)
    }

    /// Reads and checks the arrays: one per key, each of rank >= 1, all
    /// with the first one's dim 0.
    fn arrays<'py>(&self, tensors: &Bound<'py, PyAny>) -> PyResult<(Vec<ArrayIn<'py>>, usize)> {
        let items: Vec<Bound<'py, PyAny>> = if let Ok(l) = tensors.cast::<PyList>() {
            l.iter().collect()
        } else if let Ok(t) = tensors.cast::<PyTuple>() {
            t.iter().collect()
        } else {
            tensors.try_iter()?.collect::<PyResult<_>>()?
        };
        if items.len() != self.keys.len() {
            return Err(enc(Error::TensorCountMismatch {
                keys: self.keys.len(),
                tensors: items.len(),
            }));
        }
        let mut arrays = Vec::with_capacity(items.len());
        for (index, (item, &key)) in items.iter().zip(&self.keys).enumerate() {
            arrays.push(ArrayIn::new(item, &|| {
                format!("tensor key {key} (index {index})")
            })?);
        }
        let batch = arrays[0].shape().first().copied().unwrap_or(0);
        if arrays.iter().any(|a| a.shape().first() != Some(&batch)) {
            return Err(self.shape_error(&arrays));
        }
        Ok((arrays, batch))
    }

    /// The library's error for arrays of rank 0 or of differing dim 0 (the
    /// one-shot API's checks name the tensor and its key).
    fn shape_error(&self, arrays: &[ArrayIn<'_>]) -> PyErr {
        let slices: Vec<Vec<&[u8]>> = arrays.iter().map(ArrayIn::string_slices).collect();
        let tensors: Vec<Tensor<'_>> = arrays
            .iter()
            .zip(&slices)
            .map(|(a, s)| Tensor::new(a.data(s, self.binary), a.shape()))
            .collect();
        let checked = BatchPrediction::new()
            .dense(&self.keys, &tensors)
            .encoder()
            .map(drop);
        match checked {
            Err(e) => enc(e),
            Ok(()) => encode_error("the tensors' shapes do not agree on a batch size"),
        }
    }

    /// Reads `tensors` and hands the prepared call to `f`.
    fn batch<R>(&self, tensors: &Bound<'_, PyAny>, f: impl FnOnce(Call<'_>) -> PyResult<R>) -> PyResult<R> {
        let (arrays, batch) = self.arrays(tensors)?;
        let signature = self.signature(&arrays)?;
        let slices: Vec<Vec<&[u8]>> = arrays.iter().map(ArrayIn::string_slices).collect();
        let data: Vec<TensorData<'_>> = arrays
            .iter()
            .zip(&slices)
            .map(|(a, s)| a.data(s, self.binary))
            .collect();
        let inputs: Vec<Range<usize>> = arrays.iter().map(ArrayIn::byte_range).collect();
        f(Call {
            signature: &signature,
            batch,
            values: None,
            tensors: &data,
            inputs: &inputs,
            gil: crate::arrays::gil_of(&arrays),
        })
    }
}

/// One call's inputs, bound to a prepared signature.
struct Call<'a> {
    signature: &'a Signature,
    batch: usize,
    values: Option<Values<'a>>,
    tensors: &'a [TensorData<'a>],
    /// The byte ranges read (an output buffer must not overlap them).
    inputs: &'a [Range<usize>],
    /// Whether the GIL may be released while the inputs are read.
    gil: Gil,
}

impl Call<'_> {
    fn encoder(&self) -> PyResult<Encoder<'_>> {
        self.signature
            .encoder(self.batch, self.values, self.tensors)
            .map_err(enc)
    }

    /// Mean nanoseconds of `n` encodes in Rust (the signature's encoder,
    /// then `encode_into` one reused buffer: `out`'s if given), with the
    /// GIL released.
    fn bench(&self, py: Python<'_>, n: usize, out: Option<&Bound<'_, PyAny>>) -> PyResult<f64> {
        let len = self.encoder()?.encoded_len();
        let mut own;
        let (_export, buf) = match out {
            Some(o) => {
                let (export, buf) = writable(o, self.inputs)?;
                (Some(export), buf)
            }
            None => {
                own = vec![0u8; len];
                (None, &mut own[..])
            }
        };
        py.detach(|| {
            let start = Instant::now();
            for _ in 0..n {
                let e = self.signature.encoder(
                    self.batch,
                    std::hint::black_box(self.values),
                    std::hint::black_box(self.tensors),
                )?;
                e.encode_into(buf)?;
            }
            Ok(start.elapsed().as_nanos() as f64 / n.max(1) as f64)
        })
        .map_err(enc)
    }
}

/// The methods both writers have, over their `batch` (which reads one
/// call's arrays).
macro_rules! writer_methods {
    ($writer:ident { $($own:tt)* }) => {
        #[pymethods]
        impl $writer {
            $($own)*

            /// The response for `inputs`, as twml's op returns it: a numpy
            /// `uint8` array of shape `[1, len]`.
            fn __call__<'py>(
                &self,
                py: Python<'py>,
                inputs: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyArray2<u8>>> {
                self.batch(inputs, |c| to_array(py, &c.encoder()?, Message::Response, c.gil))
            }

            /// The response for `inputs`, as `bytes`.
            fn encode<'py>(&self, py: Python<'py>, inputs: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
                self.batch(inputs, |c| to_bytes(py, &c.encoder()?, Message::Response, c.gil))
            }

            /// Writes the response for `inputs` into the start of `out` (any
            /// writable, C-contiguous buffer: `bytearray`, numpy `uint8`
            /// array, `memoryview`) and returns its length. A buffer shorter
            /// than `encoded_len(inputs)`, or one that overlaps an input
            /// array, raises `EncodeError` and is left untouched.
            fn encode_into(&self, py: Python<'_>, inputs: &Bound<'_, PyAny>, out: &Bound<'_, PyAny>) -> PyResult<usize> {
                self.batch(inputs, |c| into_buffer(py, &c.encoder()?, Message::Response, c.gil, out, c.inputs))
            }

            /// The exact length of the response for `inputs`, in bytes.
            fn encoded_len(&self, inputs: &Bound<'_, PyAny>) -> PyResult<usize> {
                self.batch(inputs, |c| Ok(c.encoder()?.encoded_len()))
            }

            /// A whole `getBatchPrediction` reply carrying the response for
            /// `inputs`: the strict message header with `seqid`, the result
            /// struct, and the framed transport's 4-byte length first if
            /// `framed`.
            #[pyo3(signature = (inputs, *, seqid = 0, framed = false))]
            fn reply<'py>(
                &self,
                py: Python<'py>,
                inputs: &Bound<'py, PyAny>,
                seqid: i32,
                framed: bool,
            ) -> PyResult<Bound<'py, PyBytes>> {
                self.batch(inputs, |c| to_bytes(py, &c.encoder()?, envelope(seqid, framed), c.gil))
            }

            /// For benchmarks: encodes `inputs` `n` times in Rust (the
            /// prepared signature's encoder, then `encode_into` a reused
            /// buffer, `out`'s if given) and returns the mean nanoseconds
            /// per call, the binding left out.
            #[pyo3(signature = (inputs, n, out = None))]
            fn _bench_rust(
                &self,
                py: Python<'_>,
                inputs: &Bound<'_, PyAny>,
                n: usize,
                out: Option<&Bound<'_, PyAny>>,
            ) -> PyResult<f64> {
                self.batch(inputs, |c| c.bench(py, n, out))
            }
        }
    };
}

writer_methods!(BatchPredictionWriter {
    /// A writer for continuous predictions under `keys` (a sequence of
    /// ints, one per column of the values).
    ///
    /// Raises `EncodeError` if a key is repeated.
    #[new]
    fn new(keys: &Bound<'_, PyAny>) -> PyResult<Self> {
        let keys = self::keys(keys)?;
        let build = |element| {
            Signature::builder()
                .continuous(&keys, element)
                .build()
                .map_err(enc)
        };
        Ok(BatchPredictionWriter {
            f32: build(Element::F32)?,
            f64: build(Element::F64)?,
            keys,
        })
    }

    /// The continuous keys, in column order.
    #[getter]
    fn keys(&self) -> Vec<i64> {
        self.keys.clone()
    }

    fn __repr__(&self) -> String {
        format!("BatchPredictionWriter(keys={:?})", self.keys)
    }
});

writer_methods!(BatchPredictionTensorWriter {
    /// A writer for dense tensors under `keys` (a sequence of ints, one per
    /// tensor). `typed=True` writes typed big-endian lists instead of raw
    /// tensors; `binary=True` writes strings into a `binaryTensor`.
    ///
    /// Raises `EncodeError` if a key is repeated or `keys` is empty.
    #[new]
    #[pyo3(signature = (keys, *, typed = false, binary = false))]
    fn new(keys: &Bound<'_, PyAny>, typed: bool, binary: bool) -> PyResult<Self> {
        let keys = self::keys(keys)?;
        // The keys' checks (repeats, none at all) are the signature's.
        let mut builder = Signature::builder();
        for &key in &keys {
            builder = builder.tensor(key, Element::U8, &[]);
        }
        builder.build().map_err(enc)?;
        Ok(BatchPredictionTensorWriter {
            keys,
            typed,
            binary,
            cache: Mutex::new(Vec::new()),
        })
    }

    /// The tensor keys, in order.
    #[getter]
    fn keys(&self) -> Vec<i64> {
        self.keys.clone()
    }

    /// Whether typed big-endian lists are written instead of raw tensors.
    #[getter]
    fn typed(&self) -> bool {
        self.typed
    }

    /// Whether strings go into a `binaryTensor` instead of a `stringTensor`.
    #[getter]
    fn binary(&self) -> bool {
        self.binary
    }

    fn __repr__(&self) -> String {
        format!(
            "BatchPredictionTensorWriter(keys={:?}, typed={}, binary={})",
            self.keys,
            if self.typed { "True" } else { "False" },
            if self.binary { "True" } else { "False" }
        )
    }
});
