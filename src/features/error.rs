//! Errors of the feature layout: building it ([`LayoutError`]), and
//! scattering or writing requests with it ([`FeatureError`]).

use core::fmt;

use super::output_type::OutputType;
use crate::decode::DecodeError;

/// A kind of feature, as a layout groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeatureKind {
    /// `DataRecord.continuousFeatures` (field 2).
    Continuous,
    /// `DataRecord.binaryFeatures` (field 1).
    Binary,
    /// `DataRecord.discreteFeatures` (field 3).
    Discrete,
    /// `DataRecord.tensors` (field 8).
    Tensor,
}

impl fmt::Display for FeatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeatureKind::Continuous => "continuous",
            FeatureKind::Binary => "binary",
            FeatureKind::Discrete => "discrete",
            FeatureKind::Tensor => "tensor",
        })
    }
}

/// Why a [`LayoutBuilder`](super::LayoutBuilder) or a
/// [`Buffers`](super::Buffers) was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// One id given twice for one kind (for tensors: two tensors with one
    /// id). A request could not say which column it meant.
    RepeatedId {
        /// The kind.
        kind: FeatureKind,
        /// The id.
        id: i64,
        /// Position of its first occurrence.
        first: usize,
        /// Position of its second occurrence.
        second: usize,
    },
    /// An output type the kind cannot have.
    OutputType {
        /// The kind.
        kind: FeatureKind,
        /// The type given.
        dtype: OutputType,
        /// The types it can have.
        allowed: &'static [OutputType],
    },
    /// More ids of one kind than a Thrift map can hold (`i32::MAX`).
    TooManyColumns {
        /// The kind.
        kind: FeatureKind,
        /// Ids given.
        count: usize,
    },
    /// `rows × columns` elements overflow the address space, or cannot
    /// be allocated.
    TooLarge {
        /// Rows asked for.
        rows: usize,
        /// Columns of the array.
        columns: usize,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::RepeatedId {
                kind,
                id,
                first,
                second,
            } => write!(
                f,
                "{kind} feature id {id} is given twice (positions {first} and {second})"
            ),
            LayoutError::OutputType { kind, dtype, allowed } => {
                write!(f, "{kind} features cannot be {dtype}: use ")?;
                for (i, t) in allowed.iter().enumerate() {
                    let sep = match i {
                        0 => "",
                        i if i + 1 == allowed.len() => " or ",
                        _ => ", ",
                    };
                    write!(f, "{sep}{t}")?;
                }
                Ok(())
            }
            LayoutError::TooManyColumns { kind, count } => write!(
                f,
                "{count} {kind} feature ids are more than a Thrift map holds (2^31-1)"
            ),
            LayoutError::TooLarge { rows, columns } => {
                write!(
                    f,
                    "{rows} rows of {columns} columns cannot be allocated (more memory than \
                     the address space holds or the allocator gives)"
                )
            }
        }
    }
}

impl std::error::Error for LayoutError {}

/// One output (or input) array of a layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// The continuous features' array.
    Continuous,
    /// The binary features' array.
    Binary,
    /// The discrete features' array.
    Discrete,
    /// The array of tensor feature `id`.
    Tensor {
        /// The feature id.
        id: i64,
    },
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Continuous => f.write_str("the continuous array"),
            Output::Binary => f.write_str("the binary array"),
            Output::Discrete => f.write_str("the discrete array"),
            Output::Tensor { id } => write!(f, "the array of tensor {id}"),
        }
    }
}

/// Where in a request (or in the rows written as one) a value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Location {
    /// Record `n` of `individualFeaturesList` (row `n`).
    Record(usize),
    /// The request's `commonFeatures` (the common row).
    Common,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Record(n) => write!(f, "record {n}"),
            Location::Common => f.write_str("commonFeatures"),
        }
    }
}

/// Why a request could not be scattered, or rows not written as one.
/// Context is built only when the error happens.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FeatureError {
    /// The request bytes are not a valid `BatchPredictionRequest`.
    Decode(DecodeError),
    /// The layout has this output, the caller gave no array for it.
    MissingArray {
        /// Which array.
        output: Output,
    },
    /// The caller gave an array the layout does not have.
    ExtraArray {
        /// Which array.
        output: Output,
    },
    /// An array of another element type than the layout's.
    ArrayType {
        /// Which array.
        output: Output,
        /// The layout's type.
        expected: OutputType,
        /// The array's type.
        found: OutputType,
    },
    /// An output array with room for fewer than `rows × n` elements.
    ArrayTooSmall {
        /// Which array.
        output: Output,
        /// Elements the request needs (saturated at `usize::MAX`).
        needed: usize,
        /// Elements the array has.
        capacity: usize,
    },
    /// Rows to write whose array is not exactly `rows × n` elements.
    ArrayLength {
        /// Which array.
        output: Output,
        /// Elements expected (saturated at `usize::MAX`).
        expected: usize,
        /// Elements given.
        found: usize,
    },
    /// A tensor feature whose element count is not the layout's width.
    TensorWidth {
        /// Where.
        at: Location,
        /// The feature id.
        id: i64,
        /// Elements it has.
        elements: usize,
        /// The layout's width.
        width: usize,
    },
    /// A tensor feature whose arm (or raw data type) is not numeric.
    TensorType {
        /// Where.
        at: Location,
        /// The feature id.
        id: i64,
        /// What it is (`stringTensor`, `rawTypedTensor of STRING`, ...).
        found: &'static str,
    },
    /// A raw tensor whose content is not a whole number of elements.
    RawContent {
        /// Where.
        at: Location,
        /// The feature id.
        id: i64,
        /// Its `dataType` code.
        data_type: i32,
        /// Bytes of content.
        bytes: usize,
    },
    /// A binary feature value other than 0 or 1, in rows to write.
    BinaryValue {
        /// Where.
        at: Location,
        /// The feature id.
        id: i64,
        /// The value (as `f64`).
        value: f64,
    },
    /// A row with 0 for a binary feature that the common row has: a record
    /// cannot remove a common binary feature.
    BinaryUnset {
        /// Row number.
        row: usize,
        /// The feature id.
        id: i64,
    },
    /// The common row to write is not one row.
    CommonRows {
        /// Its rows.
        found: usize,
    },
    /// The request to write has more of something than a Thrift list
    /// holds (`i32::MAX`), or more bytes than memory.
    TooLarge {
        /// What: `records`, `elements of one tensor row`, `bytes`.
        what: &'static str,
        /// How many (saturated at `usize::MAX`).
        size: usize,
    },
    /// [`FeatureLayout::scatter_with`](super::FeatureLayout::scatter_with)
    /// forced a kernel level this CPU lacks (or `BPRWIRE_MAX_LEVEL` rules out).
    LevelUnavailable {
        /// The level asked for.
        level: crate::Level,
    },
    /// The rows changed while the request was being written (another
    /// thread wrote to the arrays between sizing and writing, or during
    /// the write): the bytes in the buffer are not a request. Only a
    /// caller that lends memory others write to (a Python array while the
    /// GIL is released, a C caller) can see it.
    RowsChanged,
    /// The buffer to write into is too small.
    BufferTooSmall {
        /// Bytes the request needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
}

impl fmt::Display for FeatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeatureError::Decode(e) => write!(f, "{e}"),
            FeatureError::MissingArray { output } => {
                write!(f, "no array was given for {output}, which the layout has")
            }
            FeatureError::ExtraArray { output } => {
                write!(f, "{output} was given, but the layout has no such output")
            }
            FeatureError::ArrayType {
                output,
                expected,
                found,
            } => write!(f, "{output} is {found}, the layout says {expected}"),
            FeatureError::ArrayTooSmall {
                output,
                needed,
                capacity,
            } => write!(
                f,
                "{output} holds {capacity} elements, the request needs {needed}"
            ),
            FeatureError::ArrayLength {
                output,
                expected,
                found,
            } => write!(f, "{output} has {found} elements, the rows need exactly {expected}"),
            FeatureError::TensorWidth {
                at,
                id,
                elements,
                width,
            } => write!(
                f,
                "{at}: tensor feature {id} has {elements} elements, the layout's width is {width}"
            ),
            FeatureError::TensorType { at, id, found } => write!(
                f,
                "{at}: tensor feature {id} is a {found}, not a numeric tensor"
            ),
            FeatureError::RawContent {
                at,
                id,
                data_type,
                bytes,
            } => write!(
                f,
                "{at}: tensor feature {id}: {bytes} bytes of raw content are not whole elements of data type {data_type}"
            ),
            FeatureError::BinaryValue { at, id, value } => write!(
                f,
                "{at}: binary feature {id} is {value}, binary values must be 0 or 1"
            ),
            FeatureError::BinaryUnset { row, id } => write!(
                f,
                "row {row}: binary feature {id} is 0 but the common row has it, and a record cannot remove a common feature"
            ),
            FeatureError::CommonRows { found } => {
                write!(f, "the common row must be 1 row, it has {found}")
            }
            FeatureError::TooLarge { what, size } => write!(
                f,
                "the request is too large to write: {size} {what}"
            ),
            FeatureError::LevelUnavailable { level } => write!(
                f,
                "kernel level {level} was forced, but it is not available here"
            ),
            FeatureError::RowsChanged => f.write_str(
                "the rows changed while the request was being written (another thread wrote \
                 to them); the buffer does not hold a request",
            ),
            FeatureError::BufferTooSmall { needed, available } => write!(
                f,
                "output buffer of {available} bytes is too small: the request needs {needed}"
            ),
        }
    }
}

impl From<crate::wire::TooSmall> for FeatureError {
    fn from(e: crate::wire::TooSmall) -> FeatureError {
        FeatureError::BufferTooSmall {
            needed: e.needed,
            available: e.available,
        }
    }
}

impl From<crate::kernels::Unavailable> for FeatureError {
    fn from(e: crate::kernels::Unavailable) -> FeatureError {
        FeatureError::LevelUnavailable { level: e.0 }
    }
}

impl std::error::Error for FeatureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FeatureError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for FeatureError {
    fn from(e: DecodeError) -> Self {
        FeatureError::Decode(e)
    }
}
