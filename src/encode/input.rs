//! Borrowed inputs: continuous prediction values and dense tensors.
//!
//! Nothing here copies element data; a [`Tensor`] is a view (element slice
//! plus shape) over the caller's memory.

use crate::encode::error::{Error, Input, Size};
use crate::encode::size::{add, check_size, mul};
use crate::kernels::{Conversion, Kernel, Kernels, Level};
use crate::wire;
use crate::DataType;
use smallvec::SmallVec;

/// A tensor shape. Four dimensions are stored inline (no allocation).
pub type Shape = SmallVec<[usize; 4]>;

/// Continuous prediction values, row-major (`values[i * n + j]` is row `i`,
/// key `j`).
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    /// `float32` predictions; widened to double as twml does: exactly,
    /// except that a signalling NaN comes out quiet (see
    /// `docs/wire-format.md`).
    F32(&'a [f32]),
    /// `float64` predictions.
    F64(&'a [f64]),
    /// Elements of type `dtype` given as their packed little-endian bytes
    /// (for callers that hold untyped buffers, such as a C caller or a `.npy`
    /// reader). Only [`DataType::Float`] and [`DataType::Double`] are accepted,
    /// as in twml; the bytes need no particular alignment.
    Raw {
        /// The element type.
        dtype: DataType,
        /// The elements' little-endian bytes.
        bytes: &'a [u8],
    },
}

impl<'a> Values<'a> {
    /// The values as little-endian bytes, whether they are `f64`, and
    /// their count; raw bytes checked to be whole FLOAT or DOUBLE
    /// elements (both planners read continuous values this way).
    #[inline(always)]
    pub(crate) fn checked(self) -> Result<(&'a [u8], bool, usize), Error> {
        Ok(match self {
            Values::F32(v) => (le_bytes(v), false, v.len()),
            Values::F64(v) => (le_bytes(v), true, v.len()),
            Values::Raw { dtype, bytes } => {
                let allowed = [DataType::Float, DataType::Double];
                let found = raw_elements(Input::Continuous, dtype, bytes, &allowed)?;
                (bytes, dtype == DataType::Double, found)
            }
        })
    }
}

impl<'a> From<&'a [f32]> for Values<'a> {
    fn from(v: &'a [f32]) -> Self {
        Values::F32(v)
    }
}

impl<'a> From<&'a [f64]> for Values<'a> {
    fn from(v: &'a [f64]) -> Self {
        Values::F64(v)
    }
}

impl<'a> From<&'a Vec<f32>> for Values<'a> {
    fn from(v: &'a Vec<f32>) -> Self {
        Values::F32(v)
    }
}

impl<'a> From<&'a Vec<f64>> for Values<'a> {
    fn from(v: &'a Vec<f64>) -> Self {
        Values::F64(v)
    }
}

impl<'a, const N: usize> From<&'a [f32; N]> for Values<'a> {
    fn from(v: &'a [f32; N]) -> Self {
        Values::F32(v)
    }
}

impl<'a, const N: usize> From<&'a [f64; N]> for Values<'a> {
    fn from(v: &'a [f64; N]) -> Self {
        Values::F64(v)
    }
}

/// The elements of a dense tensor, row-major, borrowed from the caller.
#[derive(Clone, Copy, Debug)]
pub enum TensorData<'a> {
    /// `float32` elements.
    F32(&'a [f32]),
    /// `float64` elements.
    F64(&'a [f64]),
    /// `int32` elements.
    I32(&'a [i32]),
    /// `int64` elements.
    I64(&'a [i64]),
    /// `uint8` elements.
    U8(&'a [u8]),
    /// `bool` elements.
    Bool(&'a [bool]),
    /// UTF-8 strings (a `StringTensor` on the wire).
    Str(&'a [&'a str]),
    /// Byte strings for a `StringTensor`. Its elements are Thrift
    /// `string`s, which every Thrift reader refuses unless they are UTF-8,
    /// so each one is checked: one that is not UTF-8 is refused with
    /// [`Error::InvalidUtf8`](crate::Error::InvalidUtf8). Use
    /// [`TensorData::Binary`] for arbitrary bytes.
    Bytes(&'a [&'a [u8]]),
    /// Arbitrary byte strings, written as they are into a `binaryTensor`
    /// (`GeneralTensor` arm 8, a `list<binary>`). Chosen only explicitly:
    /// twml's readers accept arms 1 to 7 and throw on this one.
    Binary(&'a [&'a [u8]]),
    /// Fixed-width strings as a numpy `S<width>` array stores them, read in
    /// place: element `i` is `bytes[i * width..(i + 1) * width]` without its
    /// trailing NUL bytes (as numpy reads it). `bytes` must be a whole
    /// number of elements; with `width` 0 it must be empty, and every
    /// element (as many as the shape says) is the empty string.
    Padded {
        /// The elements, `width` bytes each.
        bytes: &'a [u8],
        /// Bytes per element.
        width: usize,
        /// Which tensor they go into: a `StringTensor` (UTF-8, checked) or
        /// a `binaryTensor`.
        kind: StringKind,
    },
    /// Elements of type `dtype` given as their packed little-endian bytes, as
    /// `RawTypedTensor.content` holds them; no alignment is needed. `dtype`
    /// must be one twml encodes as a raw tensor (`FLOAT`, `DOUBLE`, `INT32`,
    /// `INT64`, `UINT8`, `BOOL`); a `BOOL` byte other than 0 is `true`.
    Raw {
        /// The element type.
        dtype: DataType,
        /// The elements' little-endian bytes.
        bytes: &'a [u8],
    },
}

impl TensorData<'_> {
    /// Whether these are strings for a `binaryTensor` (any bytes).
    pub(crate) fn is_binary(&self) -> bool {
        matches!(
            self,
            TensorData::Binary(_)
                | TensorData::Padded {
                    kind: StringKind::Binary,
                    ..
                }
        )
    }

    /// Whether these are strings for a `stringTensor` that must be
    /// checked to be UTF-8 (`&str`s are by type).
    pub(crate) fn checks_utf8(&self) -> bool {
        matches!(
            self,
            TensorData::Bytes(_)
                | TensorData::Padded {
                    kind: StringKind::Text,
                    ..
                }
        )
    }

    /// The element type named on the wire.
    pub fn dtype(&self) -> DataType {
        match self {
            TensorData::F32(_) => DataType::Float,
            TensorData::F64(_) => DataType::Double,
            TensorData::I32(_) => DataType::Int32,
            TensorData::I64(_) => DataType::Int64,
            TensorData::U8(_) => DataType::Uint8,
            TensorData::Bool(_) => DataType::Bool,
            TensorData::Str(_) | TensorData::Bytes(_) | TensorData::Binary(_) | TensorData::Padded { .. } => {
                DataType::String
            }
            TensorData::Raw { dtype, .. } => *dtype,
        }
    }

    /// Number of elements (for `Raw`, whole elements of `dtype`; for a
    /// dtype bprwire cannot encode, the byte count; for `Padded`, whole
    /// elements of `width`, and 0 for width 0, whose count only the shape
    /// gives).
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::Bool(v) => v.len(),
            TensorData::Str(v) => v.len(),
            TensorData::Bytes(v) | TensorData::Binary(v) => v.len(),
            TensorData::Padded { bytes, width, .. } => bytes.len().checked_div(*width).unwrap_or(0),
            TensorData::Raw { dtype, bytes } => bytes.len() / dtype.fixed_size().unwrap_or(1),
        }
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

macro_rules! tensor_data_from {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl<'a> From<&'a [$t]> for TensorData<'a> {
            fn from(v: &'a [$t]) -> Self { TensorData::$v(v) }
        }
        impl<'a> From<&'a Vec<$t>> for TensorData<'a> {
            fn from(v: &'a Vec<$t>) -> Self { TensorData::$v(v) }
        }
        impl<'a, const N: usize> From<&'a [$t; N]> for TensorData<'a> {
            fn from(v: &'a [$t; N]) -> Self { TensorData::$v(v) }
        }
    )*};
}

tensor_data_from! {
    f32 => F32, f64 => F64, i32 => I32, i64 => I64, u8 => U8, bool => Bool,
    &'a str => Str, &'a [u8] => Bytes,
}

/// Which `GeneralTensor` arm byte strings go into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StringKind {
    /// A `StringTensor` (arm 2): Thrift `string`s, which must be UTF-8
    /// (checked; refused with [`Error::InvalidUtf8`](crate::Error::InvalidUtf8)).
    #[default]
    Text,
    /// A `binaryTensor` (arm 8, `list<binary>`): any bytes. twml's readers
    /// do not read this arm.
    Binary,
}

/// A dense tensor: borrowed elements and a shape whose dim 0 is the batch.
#[derive(Clone, Debug)]
pub struct Tensor<'a> {
    data: TensorData<'a>,
    shape: Shape,
    /// The strides of an array view that was not contiguous (feature
    /// `ndarray`): such a tensor has no data, and the encoder refuses it
    /// with [`Error::NotContiguous`](crate::Error::NotContiguous), naming
    /// its key.
    strided: Option<Box<[isize]>>,
}

impl<'a> Tensor<'a> {
    /// A tensor of `shape` over `data` (row-major). Nothing is checked here:
    /// the encoder checks rank, element count and batch size, and reports
    /// a mismatch with the tensor's key.
    pub fn new(data: impl Into<TensorData<'a>>, shape: &[usize]) -> Self {
        Tensor {
            data: data.into(),
            shape: Shape::from_slice(shape),
            strided: None,
        }
    }

    /// A tensor that stands for a non-contiguous view: refused at encoding.
    #[cfg(feature = "ndarray")]
    pub(crate) fn strided(data: TensorData<'a>, shape: &[usize], strides: &[isize]) -> Self {
        Tensor {
            data,
            shape: Shape::from_slice(shape),
            strided: Some(strides.into()),
        }
    }

    /// For a tensor made from a non-contiguous array view, its strides.
    pub(crate) fn strides_if_strided(&self) -> Option<&[isize]> {
        self.strided.as_deref()
    }

    /// The elements.
    #[inline]
    pub fn data(&self) -> &TensorData<'a> {
        &self.data
    }

    /// The shape; dim 0 is the batch.
    #[inline]
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
}

/// How dense tensors of fixed-size types go on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TensorEncoding {
    /// twml's encoding: a `rawTypedTensor` holding the row's little-endian
    /// bytes (strings as a `stringTensor`). No byte-swapping.
    #[default]
    Raw,
    /// Typed big-endian lists: `floatTensor` (f32 widened to double),
    /// `doubleTensor`, `int32Tensor`, `int64Tensor`, `boolTensor`. `uint8` has
    /// no typed list in the schema and stays a `rawTypedTensor`; strings stay a
    /// `stringTensor`.
    Typed,
}

/// Continuous predictions: `keys` (length `n`) and `values` shaped `[batch]`
/// (then `n` must be 1) or `[batch, n]`.
#[derive(Clone, Debug)]
pub struct Continuous<'a> {
    /// Prediction keys, one per column.
    pub keys: &'a [i64],
    /// The values, row-major.
    pub values: Values<'a>,
    /// `[batch]` or `[batch, n]`.
    pub shape: Shape,
}

/// Dense tensor predictions: one tensor per key, all with the same dim 0.
#[derive(Clone, Copy, Debug)]
pub struct Dense<'a> {
    /// One key per tensor.
    pub keys: &'a [i64],
    /// The tensors, in key order.
    pub tensors: &'a [Tensor<'a>],
}

/// The inputs of one `BatchPredictionResponse`, as twml's writer ops take
/// them: continuous predictions, dense tensors, or both.
///
/// Building one checks nothing; [`BatchPrediction::encoder`] runs every
/// check and computes the exact encoded size.
#[derive(Clone, Debug, Default)]
pub struct BatchPrediction<'a> {
    pub(crate) continuous: Option<Continuous<'a>>,
    pub(crate) dense: Option<Dense<'a>>,
    pub(crate) encoding: TensorEncoding,
    pub(crate) level: Option<Level>,
}

impl<'a> BatchPrediction<'a> {
    /// No inputs yet (encoding one is an error: twml refuses it too).
    #[inline]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the continuous predictions: `values` shaped `shape`, which is
    /// `[batch]` or `[batch, keys.len()]`.
    #[inline]
    pub fn continuous(mut self, keys: &'a [i64], values: impl Into<Values<'a>>, shape: &[usize]) -> Self {
        self.continuous = Some(Continuous {
            keys,
            values: values.into(),
            shape: Shape::from_slice(shape),
        });
        self
    }

    /// Sets the dense tensors, `tensors[j]` under `keys[j]`.
    #[inline]
    pub fn dense(mut self, keys: &'a [i64], tensors: &'a [Tensor<'a>]) -> Self {
        self.dense = Some(Dense { keys, tensors });
        self
    }

    /// Chooses how fixed-size dense tensors are written (default: raw, as twml).
    pub fn encoding(mut self, encoding: TensorEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Shorthand for `.encoding(TensorEncoding::Typed)`.
    pub fn typed(self) -> Self {
        self.encoding(TensorEncoding::Typed)
    }

    /// Forces the kernel level (default: [`Level::best`], detected once).
    /// The bytes are the same at every level; this is for tests and
    /// benchmarks. Encoding fails with [`Error::LevelUnavailable`](crate::Error::LevelUnavailable)
    /// if the CPU lacks the level.
    pub fn level(mut self, level: Level) -> Self {
        self.level = Some(level);
        self
    }

    /// The forced kernel level, if any.
    pub fn forced_level(&self) -> Option<Level> {
        self.level
    }

    /// The continuous predictions, if set.
    pub fn continuous_input(&self) -> Option<&Continuous<'a>> {
        self.continuous.as_ref()
    }

    /// The dense tensors, if set.
    pub fn dense_input(&self) -> Option<&Dense<'a>> {
        self.dense.as_ref()
    }

    /// The tensor encoding chosen.
    pub fn tensor_encoding(&self) -> TensorEncoding {
        self.encoding
    }
}

/// The element source of a dense tensor.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// Fixed-size elements as little-endian bytes, turned into their wire
    /// bytes by `kernel` (chosen once per call by the conversion and the
    /// level). A sink may convert a row in pieces cut at multiples of
    /// `conversion.units()`.
    Converted {
        bytes: &'a [u8],
        kernel: Kernel,
        conversion: Conversion,
    },
    /// Fixed-size elements whose little-endian bytes are their wire bytes
    /// (a `rawTypedTensor`'s content, or `uint8`): copied as they are, or
    /// borrowed by a sink.
    Raw(&'a [u8]),
    /// Strings (for a `StringTensor` or a `binaryTensor`: the row template
    /// says which).
    Strings(Strings<'a>),
}

impl<'a> Source<'a> {
    /// This source with `conversion` applied: fixed-size elements become
    /// [`Source::Converted`] by that conversion's kernel at `kernels`'
    /// level; without a conversion, or for strings, it is unchanged.
    pub(crate) fn converted(self, conversion: Option<Conversion>, kernels: &Kernels) -> Source<'a> {
        match (self, conversion) {
            (Source::Raw(bytes), Some(conversion)) => Source::Converted {
                bytes,
                kernel: kernels.convert(conversion),
                conversion,
            },
            (source, _) => source,
        }
    }

    /// Whether the elements are fixed-size (raw or converted).
    pub(crate) fn is_fixed(&self) -> bool {
        !matches!(self, Source::Strings(_))
    }
}

/// The strings of a tensor, however the caller holds them. Every layout
/// and sizing loop reaches them through [`Strings::try_for_each`], so each
/// way of holding them is written once.
#[derive(Clone, Copy)]
pub(crate) enum Strings<'a> {
    /// `&str`s (UTF-8 by type).
    Str(&'a [&'a str]),
    /// Byte slices.
    Bytes(&'a [&'a [u8]]),
    /// Fixed-width, NUL-padded elements (checked: a whole number of
    /// `width`-byte elements, none at all for width 0).
    Padded { bytes: &'a [u8], width: usize },
}

impl<'a> Strings<'a> {
    /// Calls `f` with the bytes of each string in `elements` (flat indices,
    /// which the planner checked against the shape), in order; stops at the
    /// first error. Matches on the representation once per call, so that
    /// each loop is monomorphic.
    #[inline(always)]
    pub(crate) fn try_for_each<E>(
        self,
        elements: core::ops::Range<usize>,
        mut f: impl FnMut(&'a [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            Strings::Str(v) => v[elements].iter().try_for_each(|s| f(s.as_bytes())),
            Strings::Bytes(v) => v[elements].iter().try_for_each(|s| f(s)),
            Strings::Padded { width: 0, .. } => elements.into_iter().try_for_each(|_| f(&[])),
            Strings::Padded { bytes, width } => bytes[elements.start * width..elements.end * width]
                .chunks_exact(width)
                .try_for_each(|s| f(trim_nuls(s))),
        }
    }

    /// The number of strings, given the shape's element count (which is
    /// the only count a width-0 `Padded` has).
    fn count(self, expected: usize) -> usize {
        match self {
            Strings::Str(v) => v.len(),
            Strings::Bytes(v) => v.len(),
            Strings::Padded { width: 0, .. } => expected,
            Strings::Padded { bytes, width } => bytes.len() / width,
        }
    }
}

/// A fixed-width string without its trailing NUL bytes (as numpy reads an
/// `S` element).
///
/// Scans back a word at a time (both the sizing and the writing pass trim
/// each element): W6's strings as 40-byte padded text, iai
/// `bprwire_strings` `w6_padded`, took 78,226 instructions with the
/// byte-at-a-time `rposition`, 44,037 with this.
#[inline(always)]
pub(crate) fn trim_nuls(s: &[u8]) -> &[u8] {
    let mut end = s.len();
    while let Some(word) = end.checked_sub(8).map(|start| &s[start..end]) {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        if w != 0 {
            // The last byte in memory is the most significant: its zero
            // bytes are the word's leading zeros.
            return &s[..end - (w.leading_zeros() / 8) as usize];
        }
        end -= 8;
    }
    while end > 0 && s[end - 1] == 0 {
        end -= 1;
    }
    &s[..end]
}

/// Little-endian bytes of a fixed-size slice. bprwire builds only for
/// little-endian targets (see lib.rs), where this is the memory as it is.
pub(crate) fn le_bytes<T: bytemuck::NoUninit>(v: &[T]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// Checks a `Raw { dtype, bytes }` source: `dtype` must be one of `allowed`
/// and `bytes` whole elements. Returns the element count.
pub(crate) fn raw_elements(
    input: Input,
    dtype: DataType,
    bytes: &[u8],
    allowed: &[DataType],
) -> Result<usize, Error> {
    let size = match dtype.fixed_size() {
        Some(size) if allowed.contains(&dtype) => size,
        _ => return Err(Error::UnsupportedDataType { input, dtype }),
    };
    if !bytes.len().is_multiple_of(size) {
        return Err(Error::RawByteLength {
            input,
            dtype,
            bytes: bytes.len(),
        });
    }
    Ok(bytes.len() / size)
}

pub(crate) const RAW_TENSOR_TYPES: [DataType; 6] = [
    DataType::Float,
    DataType::Double,
    DataType::Int32,
    DataType::Int64,
    DataType::Uint8,
    DataType::Bool,
];

/// The element source of `data` ([`Source::Raw`] for fixed-size elements,
/// until [`Source::converted`] applies a layout's conversion) and its
/// element count: `None` for width-0 fixed-width
/// strings, which only the shape counts. Checks what the data alone
/// decides: raw bytes of a supported type and whole elements, padded
/// bytes a whole number of elements.
pub(crate) fn source_of<'a>(
    input: Input,
    data: &TensorData<'a>,
) -> Result<(Source<'a>, Option<usize>), Error> {
    let strings = |s: Strings<'a>| (Source::Strings(s), Some(s.count(0)));
    Ok(match *data {
        TensorData::F32(v) => (Source::Raw(le_bytes(v)), Some(v.len())),
        TensorData::F64(v) => (Source::Raw(le_bytes(v)), Some(v.len())),
        TensorData::I32(v) => (Source::Raw(le_bytes(v)), Some(v.len())),
        TensorData::I64(v) => (Source::Raw(le_bytes(v)), Some(v.len())),
        TensorData::U8(v) => (Source::Raw(v), Some(v.len())),
        TensorData::Bool(v) => (Source::Raw(le_bytes(v)), Some(v.len())),
        TensorData::Str(v) => strings(Strings::Str(v)),
        TensorData::Bytes(v) | TensorData::Binary(v) => strings(Strings::Bytes(v)),
        TensorData::Padded { bytes, width, .. } => {
            let whole = bytes
                .len()
                .checked_rem(width)
                .map_or(bytes.is_empty(), |r| r == 0);
            if !whole {
                return Err(Error::PaddedLength {
                    input,
                    width,
                    bytes: bytes.len(),
                });
            }
            let (source, found) = strings(Strings::Padded { bytes, width });
            (source, found.filter(|_| width > 0))
        }
        TensorData::Raw { dtype, bytes } => (
            Source::Raw(bytes),
            Some(raw_elements(input, dtype, bytes, &RAW_TENSOR_TYPES)?),
        ),
    })
}

/// Wire bytes of all `count` strings of a tensor (a 4-byte length and the
/// bytes each), checking each one's length and, if `UTF8`, its encoding.
pub(crate) fn string_bytes<const UTF8: bool>(
    input: Input,
    strings: Strings<'_>,
    count: usize,
    row_elems: usize,
) -> Result<usize, Error> {
    if let Strings::Padded { width: 0, .. } = strings {
        // Every string is empty: no loop, whatever the count (a header
        // can claim 2^31 of them in a few bytes).
        return mul(count, 4);
    }
    let mut total = 0usize;
    let mut element = 0usize;
    strings.try_for_each(0..count, |s| {
        check_size(Some(input), Size::StringBytes { element }, s.len())?;
        if UTF8 && !wire::is_utf8(s) {
            return Err(not_utf8(input, s, element, row_elems));
        }
        total = add(total, 4 + s.len())?;
        element += 1;
        Ok(())
    })?;
    Ok(total)
}

/// The error for string number `element` (flat), built only when one is
/// found: where it is, and how far it is valid.
#[cold]
fn not_utf8(input: Input, s: &[u8], element: usize, row_elems: usize) -> Error {
    Error::InvalidUtf8 {
        input,
        // A string exists, so rows hold at least one.
        row: element / row_elems,
        element: element % row_elems,
        valid_up_to: core::str::from_utf8(s).err().map_or(s.len(), |e| e.valid_up_to()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trim_nuls_matches_rposition_at_every_length_and_position() {
        let naive = |s: &[u8]| match s.iter().rposition(|&b| b != 0) {
            Some(last) => s[..=last].to_vec(),
            None => Vec::new(),
        };
        for len in 0..40 {
            for ones in 0..=len {
                for gap in 0..=ones {
                    // Non-zero bytes up to `ones`, with a zero at `gap`
                    // (inner NULs stay: only trailing ones are padding).
                    let mut s = vec![0u8; len];
                    s[..ones].fill(0x41);
                    if gap < ones {
                        s[gap] = 0;
                    }
                    assert_eq!(super::trim_nuls(&s), &naive(&s)[..], "{s:?}");
                }
            }
        }
    }
}
