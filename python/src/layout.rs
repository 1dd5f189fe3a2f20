//! The request side: a feature layout built from the CLI's layout
//! description, scattering requests into numpy arrays and writing requests
//! from them.

use std::time::Instant;

use bprwire::decode::decode_request;
use bprwire::features::{Buffers, Column, ColumnRef, FeatureError, FeatureLayout, OutputType, Outputs, Rows};
use numpy::ndarray::{Ix2, IxDyn};
use numpy::{
    PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArray, PyReadwriteArray, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::alloc::new_array;
use crate::arrays::numpy;
use crate::buffers::hold;
use crate::errors::{dec, decode_error, encode_error, LayoutError};
use crate::gil::released;

/// One output of a layout: its name in the dicts, its columns and type.
struct Slot {
    name: String,
    kind: SlotKind,
    columns: usize,
    dtype: OutputType,
}

#[derive(Clone, Copy, PartialEq)]
enum SlotKind {
    Continuous,
    Binary,
    Discrete,
    Tensor(i64),
}

/// Which feature ids of a `BatchPredictionRequest` go to which column of
/// which dense array: the Python face of `bprwire::features::FeatureLayout`.
///
/// Built from the same description as the CLI's `bprwire scatter --layout
/// LAYOUT.json`, given as a dict (or as the JSON text)::
///
///     FeatureLayout({
///         "continuous": {"ids": [1, 2, 3], "dtype": "float32", "default": "nan"},
///         "binary":     {"ids": [10, 11], "dtype": "float32"},
///         "discrete":   {"ids": [20], "default": 0},
///         "tensors":    [{"id": 30, "width": 4, "dtype": "float32"}],
///     })
///
/// Every top-level key is optional; in a kind `ids` is required, `dtype`
/// is a numpy name (`float32` when left out) and the continuous default is
/// NaN (a float NaN or infinity is accepted as well as the strings).
/// Raises `LayoutError` naming the key at fault.
///
/// Outputs are named `continuous`, `binary`, `discrete` and
/// `tensor_<id>` (the CLI's file names), each a row-major `[rows, n]`
/// array (`[rows, width]` for a tensor).
#[pyclass(frozen, module = "bprwire", name = "FeatureLayout")]
pub struct Layout {
    layout: FeatureLayout,
    slots: Vec<Slot>,
    /// The description as JSON text (UTF-8: the JSON reader checked it).
    json: String,
}

/// The description as JSON text: a str or bytes as they are; a dict
/// through `json.dumps`, with a float default that JSON cannot hold (NaN,
/// infinities) written as the string the layout reads, and numpy scalars
/// and arrays through their `tolist()`.
fn description_text(description: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let py = description.py();
    if let Ok(s) = description.cast::<PyString>() {
        let text = crate::limited::utf8(s).map_err(|_| {
            LayoutError::new_err(
                "the layout description is a str that is not valid Unicode (a lone surrogate)",
            )
        })?;
        return Ok(text.as_bytes().to_vec());
    }
    if let Ok(b) = description.cast::<PyBytes>() {
        // As they are: the JSON reader refuses bytes that are not UTF-8.
        return Ok(b.as_bytes().to_vec());
    }
    let mut value = description.clone();
    if let Ok(d) = description.cast::<PyDict>() {
        if let Some(c) = d.get_item("continuous")? {
            if let Ok(c) = c.cast::<PyDict>() {
                if let Some(default) = c.get_item("default")? {
                    if let Ok(x) = default.extract::<f64>() {
                        if !x.is_finite() && default.cast::<PyString>().is_err() {
                            let name = if x.is_nan() {
                                "nan"
                            } else if x > 0.0 {
                                "inf"
                            } else {
                                "-inf"
                            };
                            let c2 = c.copy()?;
                            c2.set_item("default", name)?;
                            let d2 = d.copy()?;
                            d2.set_item("continuous", c2)?;
                            value = d2.into_any();
                        }
                    }
                }
            }
        }
    }
    let json = py.import("json")?;
    let tolist = py
        .import("operator")?
        .getattr("methodcaller")?
        .call1(("tolist",))?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("default", tolist)?;
    kwargs.set_item("allow_nan", false)?;
    let text: String = json
        .getattr("dumps")?
        .call((value,), Some(&kwargs))
        .map_err(|e| LayoutError::new_err(format!("the layout description cannot be written as JSON: {e}")))?
        .extract()?;
    Ok(text.into_bytes())
}

/// An output array borrowed for writing (checked by numpy's borrow
/// tracking, so two outputs cannot share memory).
enum Guard<'py> {
    F32(PyReadwriteArray<'py, f32, IxDyn>),
    F64(PyReadwriteArray<'py, f64, IxDyn>),
    I64(PyReadwriteArray<'py, i64, IxDyn>),
    U8(PyReadwriteArray<'py, u8, IxDyn>),
}

fn not_contiguous(name: &str) -> PyErr {
    decode_error(format!(
        "out[{name:?}]: the array is not C-contiguous (row-major); a Fortran-ordered array or a view with steps would get its rows scrambled"
    ))
}

impl<'py> Guard<'py> {
    /// `a` as the output `name` of `columns` columns: a writable,
    /// C-contiguous, aligned `[capacity, columns]` array in native order.
    fn new(name: &str, columns: usize, a: &Bound<'py, PyAny>) -> PyResult<Guard<'py>> {
        let borrow = |e: numpy::BorrowError| decode_error(format!("out[{name:?}]: {e}"));
        let u = a
            .cast::<PyUntypedArray>()
            .map_err(|_| decode_error(format!("out[{name:?}]: expected a numpy array")))?;
        // The scatter writes rows of `columns` elements front to back: any
        // other shape or order would scramble them.
        match u.shape() {
            [_, c] if *c == columns => {}
            shape => {
                return Err(decode_error(format!(
                    "out[{name:?}]: expected an array of shape [rows, {columns}], got {shape:?}"
                )))
            }
        }
        if !u.is_c_contiguous() {
            return Err(not_contiguous(name));
        }
        let descr = u.dtype();
        if !u.is_aligned() || descr.is_native_byteorder() == Some(false) {
            return Err(decode_error(format!(
                "out[{name:?}]: the array is not aligned in native byte order"
            )));
        }
        Ok(match (descr.kind(), descr.itemsize()) {
            (b'f', 4) => Guard::F32(a.cast::<PyArrayDyn<f32>>()?.try_readwrite().map_err(borrow)?),
            (b'f', 8) => Guard::F64(a.cast::<PyArrayDyn<f64>>()?.try_readwrite().map_err(borrow)?),
            (b'i', 8) => Guard::I64(a.cast::<PyArrayDyn<i64>>()?.try_readwrite().map_err(borrow)?),
            (b'u', 1) => Guard::U8(a.cast::<PyArrayDyn<u8>>()?.try_readwrite().map_err(borrow)?),
            _ => {
                return Err(decode_error(format!(
                    "out[{name:?}]: numpy dtype {} is not an output type (float32, float64, int64, uint8)",
                    descr.str()?
                )))
            }
        })
    }

    fn column(&mut self, name: &str) -> PyResult<Column<'_>> {
        Ok(match self {
            Guard::F32(a) => Column::F32(a.as_slice_mut().map_err(|_| not_contiguous(name))?),
            Guard::F64(a) => Column::F64(a.as_slice_mut().map_err(|_| not_contiguous(name))?),
            Guard::I64(a) => Column::I64(a.as_slice_mut().map_err(|_| not_contiguous(name))?),
            Guard::U8(a) => Column::U8(a.as_slice_mut().map_err(|_| not_contiguous(name))?),
        })
    }
}

/// Rows to write, borrowed read-only.
enum ReadGuard<'py> {
    F32(PyReadonlyArray<'py, f32, IxDyn>),
    F64(PyReadonlyArray<'py, f64, IxDyn>),
    I64(PyReadonlyArray<'py, i64, IxDyn>),
    U8(PyReadonlyArray<'py, u8, IxDyn>),
}

impl<'py> ReadGuard<'py> {
    /// `obj` as a C-contiguous, aligned array (copied once if it is not).
    fn new(what: &str, obj: &Bound<'py, PyAny>) -> PyResult<(ReadGuard<'py>, Vec<usize>)> {
        let py = obj.py();
        let mut a = numpy(py)?
            .ascontiguousarray
            .bind(py)
            .call1((obj,))?
            .cast_into::<PyUntypedArray>()?;
        let descr = a.dtype();
        if !a.is_aligned() || descr.is_native_byteorder() == Some(false) {
            // One aligned copy in native order.
            let dtype = descr.call_method1("newbyteorder", ("=",))?;
            a = a
                .call_method1("astype", (dtype,))?
                .cast_into::<PyUntypedArray>()?;
        }
        let shape = a.shape().to_vec();
        let descr = a.dtype();
        let borrow = |e: numpy::BorrowError| encode_error(format!("{what}: {e}"));
        let g = match (
            descr.kind(),
            descr.itemsize(),
            descr.is_native_byteorder() != Some(false),
        ) {
            (b'f', 4, true) => ReadGuard::F32(a.cast::<PyArrayDyn<f32>>()?.try_readonly().map_err(borrow)?),
            (b'f', 8, true) => ReadGuard::F64(a.cast::<PyArrayDyn<f64>>()?.try_readonly().map_err(borrow)?),
            (b'i', 8, true) => ReadGuard::I64(a.cast::<PyArrayDyn<i64>>()?.try_readonly().map_err(borrow)?),
            (b'u', 1, _) => ReadGuard::U8(a.cast::<PyArrayDyn<u8>>()?.try_readonly().map_err(borrow)?),
            _ => {
                return Err(encode_error(format!(
                    "{what}: numpy dtype {} is not a row type (float32, float64, int64, uint8)",
                    descr.str()?
                )))
            }
        };
        Ok((g, shape))
    }

    fn column(&self, what: &str) -> PyResult<ColumnRef<'_>> {
        let e = |_| encode_error(format!("{what}: the array is not C-contiguous"));
        Ok(match self {
            ReadGuard::F32(a) => ColumnRef::F32(a.as_slice().map_err(e)?),
            ReadGuard::F64(a) => ColumnRef::F64(a.as_slice().map_err(e)?),
            ReadGuard::I64(a) => ColumnRef::I64(a.as_slice().map_err(e)?),
            ReadGuard::U8(a) => ColumnRef::U8(a.as_slice().map_err(e)?),
        })
    }
}

/// A scatter error: the request did not decode, or does not fit.
fn scatter_error(e: FeatureError) -> PyErr {
    match e {
        FeatureError::Decode(d) => dec(d),
        other => decode_error(other.to_string()),
    }
}

impl Layout {
    fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == name)
    }

    /// The layout's outputs as `{name: (n, dtype)}` for messages.
    fn names(&self) -> String {
        let names: Vec<&str> = self.slots.iter().map(|s| s.name.as_str()).collect();
        format!("{names:?}")
    }

    /// Arrays bound to `rows` (a dict `{name: array}`) as library `Rows`.
    fn rows<'py, 'g>(
        &self,
        what: &str,
        given: &Bound<'py, PyAny>,
        guards: &'g mut Vec<(SlotKind, ReadGuard<'py>)>,
        single: bool,
    ) -> PyResult<Rows<'g>> {
        let d = given
            .cast::<PyDict>()
            .map_err(|_| encode_error(format!("{what}: expected a dict {{output name: array}}")))?;
        // The row count every array must have: the first array's, named
        // in the message when another disagrees.
        let mut count: Option<(usize, String)> = None;
        for (k, v) in d.iter() {
            let name = match k.extract::<i64>() {
                Ok(id) => format!("tensor_{id}"),
                Err(_) => k.extract::<String>()?,
            };
            let slot = self.slot(&name).ok_or_else(|| {
                encode_error(format!(
                    "{what}: the layout has no output {name:?} (its outputs are {})",
                    self.names()
                ))
            })?;
            let (g, shape) = ReadGuard::new(&format!("{what}[{name:?}]"), &v)?;
            let (n, columns) = (slot.columns, shape.get(1).copied());
            let rows = match (shape.len(), columns) {
                (2, Some(c)) if c == n => shape[0],
                (1, _) if single && shape[0] == n => 1,
                // One column: a flat array of the rows' values.
                (1, _) if !single && n == 1 => shape[0],
                _ => {
                    let expected = if single {
                        format!("[{n}] or [1, {n}]")
                    } else {
                        format!("[rows, {n}]")
                    };
                    return Err(encode_error(format!(
                        "{what}[{name:?}]: expected an array of shape {expected}, got {shape:?}"
                    )));
                }
            };
            match &count {
                None => count = Some((rows, name.clone())),
                Some((first, first_name)) if *first != rows => {
                    return Err(encode_error(format!(
                        "{what}: {first_name:?} has {first} rows but {name:?} has {rows}; \
                         every array must have the same number of rows"
                    )))
                }
                Some(_) => {}
            }
            guards.push((slot.kind, g));
        }
        let count = count.map(|(rows, _)| rows);
        let mut rows = Rows::new(count.unwrap_or(0));
        for (kind, g) in guards.iter() {
            let c = g.column(what)?;
            rows = match *kind {
                SlotKind::Continuous => rows.continuous(c),
                SlotKind::Binary => rows.binary(c),
                SlotKind::Discrete => match c {
                    ColumnRef::I64(s) => rows.discrete(s),
                    other => {
                        return Err(encode_error(format!(
                            "{what}[\"discrete\"]: discrete features are int64, found {}",
                            other.dtype()
                        )))
                    }
                },
                SlotKind::Tensor(id) => rows.tensor(id, c),
            };
        }
        Ok(rows)
    }
}

#[pymethods]
impl Layout {
    /// A layout from its description: a dict as the CLI's layout JSON
    /// holds it, or that JSON as text.
    #[new]
    fn new(description: &Bound<'_, PyAny>) -> PyResult<Self> {
        let json = description_text(description)?;
        let layout = FeatureLayout::from_json(&json).map_err(|e| LayoutError::new_err(e.to_string()))?;
        let json = String::from_utf8(json)
            .map_err(|e| LayoutError::new_err(format!("the layout description is not UTF-8: {e}")))?;
        let mut slots = Vec::new();
        use bprwire::features::FeatureKind as K;
        for (kind, name, ids) in [
            (SlotKind::Continuous, "continuous", layout.continuous_ids()),
            (SlotKind::Binary, "binary", layout.binary_ids()),
            (SlotKind::Discrete, "discrete", layout.discrete_ids()),
        ] {
            let k = match kind {
                SlotKind::Continuous => K::Continuous,
                SlotKind::Binary => K::Binary,
                _ => K::Discrete,
            };
            if let Some(dtype) = layout.output_type(k) {
                slots.push(Slot {
                    name: name.to_string(),
                    kind,
                    columns: ids.len(),
                    dtype,
                });
            }
        }
        for t in layout.tensors() {
            slots.push(Slot {
                name: format!("tensor_{}", t.id),
                kind: SlotKind::Tensor(t.id),
                columns: t.width,
                dtype: t.dtype,
            });
        }
        Ok(Layout { layout, slots, json })
    }

    /// The continuous feature ids, in column order.
    #[getter]
    fn continuous_ids(&self) -> Vec<i64> {
        self.layout.continuous_ids().to_vec()
    }

    /// The binary feature ids, in column order.
    #[getter]
    fn binary_ids(&self) -> Vec<i64> {
        self.layout.binary_ids().to_vec()
    }

    /// The discrete feature ids, in column order.
    #[getter]
    fn discrete_ids(&self) -> Vec<i64> {
        self.layout.discrete_ids().to_vec()
    }

    /// The outputs, in order: `{name: (columns, numpy dtype name)}`.
    #[getter]
    fn outputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for s in &self.slots {
            d.set_item(&s.name, (s.columns, s.dtype.numpy_name()))?;
        }
        Ok(d)
    }

    /// The description as JSON text (what the layout was built from).
    #[getter]
    fn description(&self) -> &str {
        &self.json
    }

    /// Decodes `request` (any bytes-like object; `bytes` read in place,
    /// others copied once) as a `BatchPredictionRequest` and scatters its
    /// features: returns `{name: array [rows, n]}`, one array per output,
    /// `rows` being the request's records.
    ///
    /// With `out` (a dict `{name: array}`, one writable C-contiguous numpy
    /// array per output, of the output's dtype, with room for `rows × n`
    /// elements: shape `[capacity, n]` is the usual) the features are
    /// written into those arrays' first `rows × n` elements instead, and
    /// the returned dict holds views of them (`out[name][:rows]`).
    ///
    /// The GIL is released while decoding and scattering requests of
    /// 16 KiB or more. Raises `DecodeError` for bytes that are not a
    /// request, a tensor feature of the wrong width or type (naming the
    /// record and id), and arrays in `out` that are missing, extra,
    /// mistyped or too small; on such an error `out` may hold a partial
    /// result.
    #[pyo3(signature = (request, *, out = None, max_rows = None))]
    fn scatter<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyAny>,
        out: Option<&Bound<'py, PyDict>>,
        max_rows: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (_owner, bytes) = hold(request)?;
        let req = released(py, bytes.len(), || decode_request(bytes)).map_err(dec)?;
        let rows = req.len();
        if let Some(max) = max_rows.filter(|&max| rows > max) {
            return Err(decode_error(format!(
                "the request has {rows} records, more than max_rows={max}; nothing was allocated"
            )));
        }
        let arrays: Vec<(&Slot, Bound<'py, PyAny>)> = match out {
            None => self
                .slots
                .iter()
                .map(|s| {
                    let dims = [rows, s.columns];
                    let what = || {
                        format!(
                            "scatter: output {:?} of {rows} rows × {} columns",
                            s.name, s.columns
                        )
                    };
                    let a = match s.dtype {
                        OutputType::F32 => new_array::<f32, Ix2>(py, &dims, true, what)?.into_any(),
                        OutputType::F64 => new_array::<f64, Ix2>(py, &dims, true, what)?.into_any(),
                        OutputType::I64 => new_array::<i64, Ix2>(py, &dims, true, what)?.into_any(),
                        OutputType::U8 => new_array::<u8, Ix2>(py, &dims, true, what)?.into_any(),
                    };
                    Ok((s, a))
                })
                .collect::<PyResult<_>>()?,
            Some(d) => {
                for k in d.keys() {
                    let name: String = k.extract()?;
                    if self.slot(&name).is_none() {
                        return Err(decode_error(format!(
                            "out: the layout has no output {name:?} (its outputs are {})",
                            self.names()
                        )));
                    }
                }
                let mut arrays = Vec::new();
                for s in &self.slots {
                    match d.get_item(&s.name)? {
                        Some(a) => arrays.push((s, a)),
                        None => {
                            return Err(decode_error(format!(
                                "out: no array for output {:?} (the layout's outputs are {})",
                                s.name,
                                self.names()
                            )))
                        }
                    }
                }
                arrays
            }
        };
        {
            let mut guards = arrays
                .iter()
                .map(|(s, a)| Guard::new(&s.name, s.columns, a).map(|g| (*s, g)))
                .collect::<PyResult<Vec<_>>>()?;
            let mut outputs = Outputs::new();
            for (s, g) in guards.iter_mut() {
                let c = g.column(&s.name)?;
                outputs = match s.kind {
                    SlotKind::Continuous => outputs.continuous(c),
                    SlotKind::Binary => outputs.binary(c),
                    SlotKind::Discrete => match c {
                        Column::I64(c) => outputs.discrete(c),
                        other => {
                            return Err(decode_error(format!(
                                "out[\"discrete\"]: discrete features are int64, found {}",
                                other.dtype()
                            )))
                        }
                    },
                    SlotKind::Tensor(id) => outputs.tensor(id, c),
                };
            }
            released(py, bytes.len(), || self.layout.scatter(&req, &mut outputs)).map_err(scatter_error)?;
        }
        let result = PyDict::new(py);
        for (s, a) in arrays {
            let a = if out.is_some() {
                a.get_item(pyo3::types::PySlice::new(py, 0, rows as isize, 1))?
            } else {
                a
            };
            result.set_item(&s.name, a)?;
        }
        Ok(result)
    }

    /// A `BatchPredictionRequest` from dense rows: `rows` a dict `{name:
    /// array [rows, n]}` with one array per output of the layout (as
    /// `scatter` returns them; a tensor may also be keyed by its int id),
    /// `common` an optional dict of the same arrays with one row, written
    /// as `commonFeatures`. A feature whose value is the one a reader would
    /// get without it (the common row's, else the default) is left out, so
    /// scattering the request gives `rows` back.
    ///
    /// Arrays must be `float32`, `float64`, `int64` or `uint8` as the
    /// layout's output says (others that are not C-contiguous are copied
    /// once). Raises `EncodeError` for a missing, extra, mistyped or
    /// mis-sized array, or a binary value other than 0 and 1.
    #[pyo3(signature = (rows, common = None))]
    fn write_request<'py>(
        &self,
        py: Python<'py>,
        rows: &Bound<'py, PyAny>,
        common: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut guards = Vec::new();
        let r = self.rows("rows", rows, &mut guards, false)?;
        let mut common_guards = Vec::new();
        let c = match common {
            Some(c) => Some(self.rows("common", c, &mut common_guards, true)?),
            None => None,
        };
        let request = self
            .layout
            .write_request(&r, c.as_ref())
            .map_err(|e| encode_error(e.to_string()))?;
        let len = request.encoded_len();
        PyBytes::new_with(py, len, |buf| {
            released(py, len, || request.encode_into(buf))
                .map(drop)
                .map_err(|e| encode_error(e.to_string()))
        })
    }

    /// For benchmarks: decodes and scatters `request` `n` times in Rust
    /// into buffers made once, and returns the mean nanoseconds per call.
    fn _bench_rust(&self, py: Python<'_>, request: &Bound<'_, PyAny>, n: usize) -> PyResult<f64> {
        let (_owner, bytes) = hold(request)?;
        let rows = decode_request(bytes).map_err(dec)?.len();
        let mut buffers = Buffers::new(&self.layout, rows).map_err(|e| encode_error(e.to_string()))?;
        py.detach(|| {
            let start = Instant::now();
            for _ in 0..n {
                let mut outputs = buffers.outputs();
                self.layout
                    .scatter_bytes(std::hint::black_box(bytes), &mut outputs)?;
            }
            Ok(start.elapsed().as_nanos() as f64 / n.max(1) as f64)
        })
        .map_err(scatter_error)
    }

    fn __repr__(&self) -> String {
        format!("FeatureLayout({})", self.json)
    }
}
