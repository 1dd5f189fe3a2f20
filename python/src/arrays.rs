//! numpy arrays as encoder inputs: read in place when C-contiguous in
//! native byte order, copied once otherwise; strings converted once.

use bprwire::{DataType, Element, StringKind, TensorData, Values};
use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString};

use crate::errors::encode_error;
use crate::gil::Gil;

/// numpy's functions the binding calls, looked up once.
pub(crate) struct Numpy {
    pub(crate) asarray: Py<PyAny>,
    pub(crate) ascontiguousarray: Py<PyAny>,
    pub(crate) empty: Py<PyAny>,
}

static NUMPY: PyOnceLock<Numpy> = PyOnceLock::new();

pub(crate) fn numpy(py: Python<'_>) -> PyResult<&Numpy> {
    NUMPY.get_or_try_init(py, || {
        let np = py.import("numpy")?;
        Ok(Numpy {
            asarray: np.getattr("asarray")?.unbind(),
            ascontiguousarray: np.getattr("ascontiguousarray")?.unbind(),
            empty: np.getattr("empty")?.unbind(),
        })
    })
}

/// What the elements of an input array are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    F32,
    F64,
    I32,
    I64,
    U8,
    Bool,
    /// numpy `U<n>`: UCS-4, `n` code points per element.
    Unicode,
    /// numpy `S<n>`: `n` bytes per element, NUL-padded.
    Bytes,
    /// numpy `object`: `str` or `bytes` elements.
    Object,
}

impl Kind {
    fn of(kind: u8, itemsize: usize) -> Option<Kind> {
        Some(match (kind, itemsize) {
            (b'f', 4) => Kind::F32,
            (b'f', 8) => Kind::F64,
            (b'i', 4) => Kind::I32,
            (b'i', 8) => Kind::I64,
            (b'u', 1) => Kind::U8,
            (b'b', 1) => Kind::Bool,
            (b'U', _) => Kind::Unicode,
            (b'S', _) => Kind::Bytes,
            (b'O', _) => Kind::Object,
            _ => return None,
        })
    }

    fn data_type(self) -> Option<DataType> {
        Some(match self {
            Kind::F32 => DataType::Float,
            Kind::F64 => DataType::Double,
            Kind::I32 => DataType::Int32,
            Kind::I64 => DataType::Int64,
            Kind::U8 => DataType::Uint8,
            Kind::Bool => DataType::Bool,
            Kind::Unicode | Kind::Bytes | Kind::Object => return None,
        })
    }

    /// The signature element for this kind (`binary`: strings go to a
    /// `binaryTensor`).
    pub(crate) fn element(self, binary: bool) -> Element {
        match self {
            Kind::F32 => Element::F32,
            Kind::F64 => Element::F64,
            Kind::I32 => Element::I32,
            Kind::I64 => Element::I64,
            Kind::U8 => Element::U8,
            Kind::Bool => Element::Bool,
            Kind::Unicode | Kind::Bytes | Kind::Object if binary => Element::Binary,
            Kind::Unicode | Kind::Bytes | Kind::Object => Element::Str,
        }
    }
}

/// Strings converted from a `U` or object array: one UTF-8 (or byte)
/// buffer and the end offset of each element.
#[derive(Default)]
struct Strings {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Strings {
    fn push(&mut self, s: &[u8]) {
        self.bytes.extend_from_slice(s);
        self.ends.push(self.bytes.len());
    }

    fn slices(&self) -> Vec<&[u8]> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let s = &self.bytes[start..end];
                start = end;
                s
            })
            .collect()
    }
}

/// One input array, ready to be borrowed as encoder input. Holds the
/// array it reads (the caller's, or the one copy made of it) alive.
pub(crate) struct ArrayIn<'py> {
    array: Bound<'py, PyUntypedArray>,
    pub(crate) kind: Kind,
    strings: Option<Strings>,
    itemsize: usize,
}

/// Describes an input for error messages: `continuous values`, `tensor key 7 (index 0)`.
pub(crate) type What<'a> = &'a dyn Fn() -> String;

impl<'py> ArrayIn<'py> {
    /// Reads `obj` (a numpy array, or anything `numpy.asarray` takes) as an
    /// input. A C-contiguous array in native byte order is read in place;
    /// any other is copied once by `numpy.ascontiguousarray`. `U` and
    /// object arrays are converted to UTF-8 once.
    pub(crate) fn new(obj: &Bound<'py, PyAny>, what: What<'_>) -> PyResult<ArrayIn<'py>> {
        let py = obj.py();
        let mut array = as_array(obj)?;
        let descr = array.dtype();
        let native = descr.is_native_byteorder() != Some(false);
        if !array.is_c_contiguous() || !native {
            let dtype = descr.call_method1("newbyteorder", ("=",))?;
            array = numpy(py)?
                .ascontiguousarray
                .bind(py)
                .call1((&array, dtype))?
                .cast_into::<PyUntypedArray>()?;
        }
        let descr = array.dtype();
        let itemsize = descr.itemsize();
        let Some(kind) = Kind::of(descr.kind(), itemsize) else {
            return Err(encode_error(format!(
                "{}: numpy dtype {} is not one bprwire encodes \
                 (float32, float64, int32, int64, uint8, bool, str, bytes)",
                what(),
                descr.str()?
            )));
        };
        let strings = match kind {
            Kind::Unicode => Some(unicode_strings(&array, itemsize, what)?),
            Kind::Object => Some(object_strings(&array, what)?),
            _ => None,
        };
        Ok(ArrayIn {
            array,
            kind,
            strings,
            itemsize,
        })
    }

    /// Reads `obj` as continuous values: `float32` or `float64` (another
    /// dtype is refused here, naming the two, before any string
    /// conversion).
    pub(crate) fn continuous(obj: &Bound<'py, PyAny>) -> PyResult<ArrayIn<'py>> {
        let what = || "continuous values".to_string();
        let array = as_array(obj)?;
        let descr = array.dtype();
        if !matches!(
            Kind::of(descr.kind(), descr.itemsize()),
            Some(Kind::F32 | Kind::F64)
        ) {
            return Err(encode_error(format!(
                "{}: numpy dtype {} is not a continuous value type (float32, float64)",
                what(),
                descr.str()?
            )));
        }
        ArrayIn::new(array.as_any(), &what)
    }

    /// Whether the GIL may be released while this input is read: not for
    /// an `S` array, read in place with sizes that depend on its bytes.
    pub(crate) fn gil(&self) -> Gil {
        match self.kind {
            Kind::Bytes => Gil::Hold,
            _ => Gil::MayRelease,
        }
    }

    /// The array's shape.
    pub(crate) fn shape(&self) -> &[usize] {
        self.array.shape()
    }

    /// The array's bytes (C order), borrowed from numpy's buffer.
    #[allow(unsafe_code, reason = "numpy's buffer, read in place")]
    pub(crate) fn bytes(&self) -> &[u8] {
        let len = self.array.len() * self.itemsize;
        if len == 0 {
            return &[];
        }
        // SAFETY: the array is C-contiguous (checked or made so in `new`),
        // so its `len * itemsize` bytes start at `data`; `self.array` keeps
        // the array, and so its buffer, alive for the borrow of `self`.
        unsafe {
            let data = (*self.array.as_array_ptr()).fields.data as *const u8;
            std::slice::from_raw_parts(data, len)
        }
    }

    /// The byte range this input reads, to refuse an output that overlaps it.
    pub(crate) fn byte_range(&self) -> std::ops::Range<usize> {
        let b = self.bytes();
        let start = b.as_ptr() as usize;
        start..start + b.len()
    }

    /// The converted strings' slices (empty for other kinds); keep them
    /// alive while the [`TensorData`] of [`data`](Self::data) is used.
    pub(crate) fn string_slices(&self) -> Vec<&[u8]> {
        self.strings.as_ref().map(Strings::slices).unwrap_or_default()
    }

    /// The elements as encoder input; `slices` from
    /// [`string_slices`](Self::string_slices).
    pub(crate) fn data<'s>(&'s self, slices: &'s [&'s [u8]], binary: bool) -> TensorData<'s> {
        let kind = if binary {
            StringKind::Binary
        } else {
            StringKind::Text
        };
        match self.kind {
            Kind::Bytes => TensorData::Padded {
                bytes: self.bytes(),
                width: self.itemsize,
                kind,
            },
            Kind::Unicode | Kind::Object if binary => TensorData::Binary(slices),
            Kind::Unicode | Kind::Object => TensorData::Bytes(slices),
            k => TensorData::Raw {
                dtype: k.data_type().expect("a fixed-size kind"),
                bytes: self.bytes(),
            },
        }
    }

    /// The elements as continuous values (float32 / float64; any other
    /// type is refused by the encoder, naming the input).
    pub(crate) fn values(&self) -> Result<Values<'_>, bprwire::Error> {
        match self.kind.data_type() {
            Some(dtype) => Ok(Values::Raw {
                dtype,
                bytes: self.bytes(),
            }),
            None => Err(bprwire::Error::UnsupportedDataType {
                input: bprwire::Input::Continuous,
                dtype: DataType::String,
            }),
        }
    }
}

/// `obj` as a numpy array: itself, or `numpy.asarray(obj)`.
fn as_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
    match obj.cast::<PyUntypedArray>() {
        Ok(a) => Ok(a.clone()),
        Err(_) => {
            let py = obj.py();
            Ok(numpy(py)?
                .asarray
                .bind(py)
                .call1((obj,))?
                .cast_into::<PyUntypedArray>()?)
        }
    }
}

/// A `U<n>` array's elements as UTF-8: trailing NULs dropped, as numpy
/// reads them.
fn unicode_strings(array: &Bound<'_, PyUntypedArray>, itemsize: usize, what: What<'_>) -> PyResult<Strings> {
    let n = array.len();
    let width = itemsize / 4;
    let mut out = Strings {
        bytes: Vec::with_capacity(n * width),
        ends: Vec::with_capacity(n),
    };
    if n == 0 || width == 0 {
        out.ends.resize(n, 0);
        return Ok(out);
    }
    #[allow(unsafe_code, reason = "numpy's buffer, read in place")]
    // SAFETY: C-contiguous, native order, `n * itemsize` bytes at `data`,
    // kept alive by `array`.
    let bytes =
        unsafe { std::slice::from_raw_parts((*array.as_array_ptr()).fields.data as *const u8, n * itemsize) };
    let mut utf8 = [0u8; 4];
    for (i, element) in bytes.chunks_exact(itemsize).enumerate() {
        // Trailing NUL code points are padding (numpy drops them too).
        let mut len = width;
        while len > 0 && element[4 * (len - 1)..4 * len] == [0; 4] {
            len -= 1;
        }
        let units = &element[..4 * len];
        let unit = |c: &[u8]| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
        // All ASCII (checked without branches, so it vectorizes): one byte
        // a code point, no char conversion.
        if units.chunks_exact(4).fold(0, |acc, c| acc | unit(c)) < 0x80 {
            out.bytes.extend(units.chunks_exact(4).map(|c| c[0]));
        } else {
            for (j, c) in units.chunks_exact(4).enumerate() {
                let u = unit(c);
                let Some(c) = char::from_u32(u) else {
                    return Err(encode_error(format!(
                        "{}: element {i} has code point {u:#x} at position {j}, \
                         which is not a Unicode scalar value (cannot be UTF-8)",
                        what()
                    )));
                };
                out.bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
        out.ends.push(out.bytes.len());
    }
    Ok(out)
}

/// An object array's elements (each `str`, written as UTF-8, or `bytes`).
fn object_strings(array: &Bound<'_, PyUntypedArray>, what: What<'_>) -> PyResult<Strings> {
    let py = array.py();
    let n = array.len();
    let mut out = Strings::default();
    out.ends.reserve(n);
    if n == 0 {
        return Ok(out);
    }
    #[allow(unsafe_code, reason = "an object array's pointers, read in place")]
    // SAFETY: a C-contiguous object array holds `n` object pointers at
    // `data`; the array holds a reference to each, and the GIL is held
    // while they are read here.
    let items = unsafe {
        std::slice::from_raw_parts(
            (*array.as_array_ptr()).fields.data as *const *mut pyo3::ffi::PyObject,
            n,
        )
    };
    for (i, &ptr) in items.iter().enumerate() {
        if ptr.is_null() {
            return Err(encode_error(format!("{}: element {i} is NULL", what())));
        }
        #[allow(unsafe_code, reason = "an element of an object array")]
        // SAFETY: a valid object pointer owned by the array (checked non-null).
        let item = unsafe { Bound::from_borrowed_ptr(py, ptr) };
        if let Ok(s) = item.cast::<PyString>() {
            let text = crate::limited::utf8(s).map_err(|_| {
                encode_error(format!(
                    "{}: element {i} is a str that is not valid Unicode (it holds a lone \
                     surrogate), so it has no UTF-8 form",
                    what()
                ))
            })?;
            out.push(text.as_bytes());
        } else if let Ok(b) = item.cast::<PyBytes>() {
            out.push(b.as_bytes());
        } else {
            return Err(encode_error(format!(
                "{}: element {i} is a {}, not str or bytes",
                what(),
                item.get_type().name()?
            )));
        }
    }
    Ok(out)
}

/// Reads a sequence of keys (a list, a tuple, an int64 array...) as `i64`s.
pub(crate) fn keys(obj: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        let a = a.call_method0("tolist")?;
        return a.extract();
    }
    obj.extract()
}

/// [`Gil::Hold`] if any of `arrays` is read in place with a
/// content-dependent size.
pub(crate) fn gil_of(arrays: &[ArrayIn<'_>]) -> Gil {
    if arrays.iter().any(|a| matches!(a.gil(), Gil::Hold)) {
        Gil::Hold
    } else {
        Gil::MayRelease
    }
}
