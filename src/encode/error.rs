//! The one error type of bprwire.

use crate::kernels::Level;
use crate::DataType;
use core::fmt;

/// Which input an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The continuous predictions (keys and values).
    Continuous,
    /// Dense tensor number `index`, stored under `key`.
    Tensor {
        /// Position in the tensor list.
        index: usize,
        /// Its key in the `tensors` map.
        key: i64,
    },
    /// The keys of one map, as a whole (an `ndarray` view of them).
    Keys(KeyMap),
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Continuous => f.write_str("continuous values"),
            Input::Tensor { index, key } => write!(f, "dense tensor #{index} (key {key})"),
            Input::Keys(map) => write!(f, "the {map}"),
        }
    }
}

/// Which of the two maps of a DataRecord a key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMap {
    /// `continuousFeatures` (field 2).
    Continuous,
    /// `tensors` (field 8).
    Tensors,
}

impl fmt::Display for KeyMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyMap::Continuous => "continuous keys",
            KeyMap::Tensors => "dense tensor keys",
        })
    }
}

/// A size that Thrift's binary protocol (or the address space) cannot hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// The number of records (the `predictions` list).
    Batch,
    /// Entries of one record's map (continuous keys or tensor keys).
    MapEntries(KeyMap),
    /// Elements in one row's typed list or string list.
    RowElements,
    /// Bytes of one row's `rawTypedTensor.content`.
    RowBytes,
    /// Bytes of string number `element` (counted over the whole tensor).
    StringBytes {
        /// Flat index of the string in the tensor.
        element: usize,
    },
    /// Dimension `axis` of the shape, written as an `i64`.
    Dimension {
        /// The axis.
        axis: usize,
    },
    /// The whole encoded response overflows `usize`.
    Response,
    /// A framed message: its length prefix is an `i32`.
    Frame,
    /// A string of a service message (an exception's text).
    MessageString,
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Batch => f.write_str("the batch size (records in the predictions list)"),
            Size::MapEntries(m) => write!(f, "the number of {m} (entries of one map)"),
            Size::RowElements => f.write_str("the elements of one row (one list)"),
            Size::RowBytes => f.write_str("the bytes of one row's raw content (one binary)"),
            Size::StringBytes { element } => write!(f, "the bytes of string #{element}"),
            Size::Dimension { axis } => write!(f, "dimension {axis} (an i64 on the wire)"),
            Size::Response => f.write_str("the encoded response"),
            Size::Frame => f.write_str("the framed message (its length prefix is an i32)"),
            Size::MessageString => f.write_str("the exception message's string"),
        }
    }
}

/// Everything that can go wrong when encoding. Every check runs before a
/// byte is written: on error, the output buffer is untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Neither continuous predictions nor any dense tensor was given
    /// (twml: "Continuous values and dense tensors are both empty").
    NoPredictions,
    /// The number of dense tensors differs from the number of dense keys
    /// (twml: "Number of tensors not equal to number of keys").
    TensorCountMismatch {
        /// Dense keys given.
        keys: usize,
        /// Dense tensors given.
        tensors: usize,
    },
    /// Continuous values must be shaped `[batch]` or `[batch, n]`.
    ContinuousRank {
        /// The rank given.
        rank: usize,
    },
    /// The number of continuous keys differs from the last dimension of the
    /// values (twml: "The sizes of keys and values need to match").
    KeyCountMismatch {
        /// Keys given.
        keys: usize,
        /// Last dimension of the values (1 for `[batch]`).
        last_dim: usize,
    },
    /// A dense tensor of rank 0: dim 0 must be the batch.
    ScalarTensor {
        /// Which tensor ([`Input::Tensor`]).
        input: Input,
    },
    /// The element count does not match the product of the shape.
    ElementCountMismatch {
        /// Which input.
        input: Input,
        /// The shape given.
        shape: Box<[usize]>,
        /// Elements the shape calls for.
        expected: usize,
        /// Elements given.
        found: usize,
    },
    /// A raw byte buffer is not a whole number of elements.
    RawByteLength {
        /// Which input.
        input: Input,
        /// Its declared element type.
        dtype: DataType,
        /// Bytes given.
        bytes: usize,
    },
    /// A dense tensor's dim 0 differs from the batch size (twml: "Batch size
    /// (dim 0) for all tensors must be the same"). The batch size comes from
    /// the continuous values if given, else from the first tensor.
    BatchSizeMismatch {
        /// Which tensor ([`Input::Tensor`]).
        input: Input,
        /// The batch size.
        batch: usize,
        /// The tensor's dim 0.
        found: usize,
    },
    /// A key appears twice in one key list: a Thrift map with a repeated key
    /// is ambiguous (twml silently kept the last value).
    DuplicateKey {
        /// Which key list.
        map: KeyMap,
        /// The key.
        key: i64,
        /// Position of its first occurrence.
        first: usize,
        /// Position of its second occurrence.
        second: usize,
    },
    /// An element type twml does not encode (continuous values other than
    /// FLOAT/DOUBLE, tensors of BYTE or a reserved type, `Raw` STRING).
    UnsupportedDataType {
        /// Which input.
        input: Input,
        /// The type given.
        dtype: DataType,
    },
    /// The product of a shape's dimensions (none of them 0) overflows
    /// `usize`: no buffer can hold that many elements.
    ShapeOverflow {
        /// Which input.
        input: Input,
        /// The shape given.
        shape: Box<[usize]>,
    },
    /// A size over what the wire can hold: every Thrift list, map and binary
    /// size is an `i32`, every dimension an `i64`.
    TooLarge {
        /// Which input (`None` for the response as a whole).
        input: Option<Input>,
        /// What is too large.
        what: Size,
        /// Its value (saturated at `u64::MAX`).
        size: u64,
        /// The largest value allowed.
        limit: u64,
    },
    /// The output buffer is shorter than the encoded response.
    BufferTooSmall {
        /// Bytes the response needs ([`Encoder::encoded_len`](crate::Encoder::encoded_len)).
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// An array view (feature `ndarray`) is not contiguous in row-major
    /// ("C") order: bprwire borrows elements as one slice and does not
    /// gather strided ones. `view.as_standard_layout()` makes a contiguous
    /// copy to pass instead.
    NotContiguous {
        /// Which input.
        input: Input,
        /// The view's shape.
        shape: Box<[usize]>,
        /// The view's strides, in elements.
        strides: Box<[isize]>,
    },
    /// A string of a `StringTensor` is not UTF-8 (from
    /// [`TensorData::Bytes`](crate::TensorData::Bytes) or a text
    /// [`TensorData::Padded`](crate::TensorData::Padded)). Thrift readers
    /// refuse such a `string`; arbitrary bytes belong in a `binaryTensor`
    /// ([`TensorData::Binary`](crate::TensorData::Binary) or
    /// [`StringKind::Binary`](crate::StringKind::Binary)).
    InvalidUtf8 {
        /// Which input.
        input: Input,
        /// The record (batch row) the string is in.
        row: usize,
        /// The string's position within the row (row-major over the
        /// dimensions after the batch).
        element: usize,
        /// How many of its leading bytes are valid UTF-8.
        valid_up_to: usize,
    },
    /// The bytes of fixed-width strings ([`TensorData::Padded`](crate::TensorData::Padded))
    /// are not a whole number of `width`-byte elements (with `width` 0,
    /// not empty).
    PaddedLength {
        /// Which input.
        input: Input,
        /// Bytes per element.
        width: usize,
        /// Bytes given.
        bytes: usize,
    },
    /// [`BatchPrediction::level`](crate::BatchPrediction::level) forced a
    /// kernel level this CPU lacks (or that `BPRWIRE_MAX_LEVEL` rules out).
    LevelUnavailable {
        /// The level asked for.
        level: Level,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoPredictions => f.write_str(
                "nothing to encode: continuous values and dense tensors are both absent or empty",
            ),
            Error::TensorCountMismatch { keys, tensors } => write!(
                f,
                "{keys} dense keys but {tensors} dense tensors: there must be one tensor per key"
            ),
            Error::ContinuousRank { rank } => write!(
                f,
                "continuous values have rank {rank}: they must be shaped [batch] or [batch, n]"
            ),
            Error::KeyCountMismatch { keys, last_dim } => write!(
                f,
                "{keys} continuous keys but the values' last dimension is {last_dim}: the sizes of keys and values must match"
            ),
            Error::ScalarTensor { input } => write!(f, "{input} has rank 0: dim 0 must be the batch"),
            Error::ElementCountMismatch { input, shape, expected, found } => write!(
                f,
                "{input}: shape {shape:?} calls for {expected} elements but {found} were given"
            ),
            Error::RawByteLength { input, dtype, bytes } => write!(
                f,
                "{input}: {bytes} bytes is not a whole number of {dtype} elements"
            ),
            Error::BatchSizeMismatch { input, batch, found } => write!(
                f,
                "{input} has dim 0 = {found} but the batch size is {batch}: dim 0 must be the same for every input"
            ),
            Error::DuplicateKey { map, key, first, second } => write!(
                f,
                "key {key} appears twice in the {map} (positions {first} and {second}): a Thrift map cannot hold a repeated key"
            ),
            Error::UnsupportedDataType { input, dtype } => match input {
                Input::Continuous => write!(
                    f,
                    "continuous values of type {dtype}: predictions must be FLOAT or DOUBLE"
                ),
                Input::Tensor { .. } | Input::Keys(_) => write!(
                    f,
                    "{input} has element type {dtype}, which twml does not encode (FLOAT, DOUBLE, INT32, INT64, UINT8, BOOL or strings)"
                ),
            },
            Error::InvalidUtf8 { input, row, element, valid_up_to } => write!(
                f,
                "{input}: the string in row {row}, element {element} is not UTF-8 (valid up to byte {valid_up_to}): a StringTensor holds Thrift strings, which readers refuse unless they are UTF-8; write arbitrary bytes as a binaryTensor (TensorData::Binary, StringKind::Binary)"
            ),
            Error::PaddedLength { input, width: 0, bytes } => write!(
                f,
                "{input}: fixed-width strings of width 0 hold no bytes, but {bytes} were given"
            ),
            Error::PaddedLength { input, width, bytes } => write!(
                f,
                "{input}: {bytes} bytes is not a whole number of {width}-byte strings"
            ),
            Error::ShapeOverflow { input, shape } => write!(
                f,
                "{input}: the shape {shape:?} has more elements than a {}-bit count holds (the product of its dimensions overflows)",
                usize::BITS
            ),
            Error::TooLarge { input, what, size, limit } => {
                if let Some(input) = input {
                    write!(f, "{input}: ")?;
                }
                write!(f, "{what} is {size}, over the limit of {limit}")
            }
            Error::NotContiguous { input, shape, strides } => write!(
                f,
                "{input}: the array view (shape {shape:?}, strides {strides:?}) is not contiguous in row-major order; bprwire borrows elements as one slice and does not gather strided ones: pass `view.as_standard_layout()` (a copy) instead"
            ),
            Error::BufferTooSmall { needed, available } => write!(
                f,
                "output buffer of {available} bytes is too small: the response needs {needed}"
            ),
            Error::LevelUnavailable { level } => write!(
                f,
                "kernel level {level} was forced, but it is not available here (CPU has it: {}; BPRWIRE_MAX_LEVEL cap: {}; available: {})",
                level.cpu_has(),
                Level::cap(),
                Level::available().map(Level::name).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

impl Error {
    /// The input the error is about, for the errors that name one (one
    /// accessor, so that a caller who maps errors back to its own
    /// arguments matches no variant). `None` for errors about the call as
    /// a whole ([`Error::NoPredictions`], [`Error::BufferTooSmall`], ...)
    /// and for those that name a key list by [`KeyMap`]
    /// ([`Error::DuplicateKey`]).
    ///
    /// ```
    /// use bprwire::{BatchPrediction, Input, Tensor};
    ///
    /// let t = [Tensor::new(&[1i64], &[])]; // rank 0
    /// let err = BatchPrediction::new().dense(&[42], &t).encoder().err().unwrap();
    /// assert_eq!(err.input(), Some(Input::Tensor { index: 0, key: 42 }));
    /// ```
    pub fn input(&self) -> Option<Input> {
        match self {
            Error::ScalarTensor { input }
            | Error::BatchSizeMismatch { input, .. }
            | Error::ElementCountMismatch { input, .. }
            | Error::RawByteLength { input, .. }
            | Error::UnsupportedDataType { input, .. }
            | Error::ShapeOverflow { input, .. }
            | Error::NotContiguous { input, .. }
            | Error::InvalidUtf8 { input, .. }
            | Error::PaddedLength { input, .. }
            | Error::TooLarge {
                input: Some(input), ..
            } => Some(*input),
            Error::ContinuousRank { .. } | Error::KeyCountMismatch { .. } => Some(Input::Continuous),
            Error::NoPredictions
            | Error::TensorCountMismatch { .. }
            | Error::DuplicateKey { .. }
            | Error::TooLarge { input: None, .. }
            | Error::BufferTooSmall { .. }
            | Error::LevelUnavailable { .. } => None,
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::wire::TooSmall> for Error {
    #[inline]
    fn from(e: crate::wire::TooSmall) -> Error {
        Error::BufferTooSmall {
            needed: e.needed,
            available: e.available,
        }
    }
}

impl From<crate::kernels::Unavailable> for Error {
    fn from(e: crate::kernels::Unavailable) -> Error {
        Error::LevelUnavailable { level: e.0 }
    }
}
