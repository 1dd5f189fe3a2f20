//! The decoder's error: what was wrong, where (byte offset), and in what.

use core::fmt;

/// Why bytes could not be decoded. Every variant is about the bytes at
/// [`DecodeError::offset`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ends inside an item.
    UnexpectedEnd {
        /// Bytes the item needs.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A list, set, map, string or binary declares a negative size.
    NegativeSize {
        /// The size read.
        size: i32,
    },
    /// A list, set or map declares more elements than the remaining bytes
    /// could hold, even at the smallest encoding of its element type:
    /// refused before any element is read. (A string or binary that is too
    /// long is [`BytesExceedInput`](Self::BytesExceedInput).)
    SizeExceedsInput {
        /// The size read.
        size: usize,
        /// The fewest bytes one element (one entry for a map) takes.
        min_element_bytes: usize,
        /// Bytes left after the container's header.
        remaining: usize,
    },
    /// A string or binary declares more bytes than the input has left.
    BytesExceedInput {
        /// The length read, in bytes.
        size: usize,
        /// Bytes left after the length.
        remaining: usize,
    },
    /// A type code that the binary protocol does not have (or `STOP` as
    /// an element type).
    InvalidType {
        /// The byte read.
        code: u8,
    },
    /// A known field, or a container's elements, with another type than
    /// the schema's.
    WrongType {
        /// The schema's type code.
        expected: u8,
        /// The type code found.
        found: u8,
    },
    /// A required field is absent.
    MissingField,
    /// A field appears twice in one struct (the reference keeps the
    /// last; a response that says two things is refused).
    DuplicateField {
        /// The field id.
        id: i16,
    },
    /// A union (`GeneralTensor`, `SparseTensor`, a service result) with
    /// no field or more than one.
    UnionFields {
        /// Known fields found.
        count: usize,
    },
    /// A bool that is neither 0 nor 1.
    InvalidBool {
        /// The byte read.
        byte: u8,
    },
    /// A Thrift `string` that is not UTF-8.
    InvalidUtf8 {
        /// Bytes of the string that are valid UTF-8.
        valid_up_to: usize,
    },
    /// Structs and containers nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// Bytes after the end of the response (or message).
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A message header that is not the strict binary protocol's
    /// (`0x8001` in the top half of the first word).
    BadVersion {
        /// The first word.
        word: u32,
    },
    /// A message type other than the one expected (a call where a reply
    /// was expected, or an unknown type).
    UnexpectedMessageType {
        /// The type read (1 CALL, 2 REPLY, 3 EXCEPTION, 4 ONEWAY).
        found: u8,
    },
    /// A reply to another method than `getBatchPrediction`.
    WrongMethod,
    /// A message type other than CALL or ONEWAY where a call was expected
    /// (a server reading its requests).
    NotACall {
        /// The type read (2 REPLY, 3 EXCEPTION, or an unknown type).
        found: u8,
    },
    /// A method name longer than [`MAX_METHOD_NAME`](crate::service::MAX_METHOD_NAME)
    /// bytes (no Thrift method is named so; refused before it is read).
    MethodNameTooLong {
        /// The length declared.
        size: usize,
    },
    /// A message that would need more than the reader's limit of bytes
    /// ([`MessageScanner`](crate::service::MessageScanner)): refused as
    /// soon as a declared size shows it, before those bytes arrive.
    MessageTooLarge {
        /// Bytes the message needs at least.
        needed: u64,
        /// The limit.
        limit: usize,
    },
    /// A frame length that disagrees with the bytes given.
    FrameLength {
        /// The length in the frame header.
        declared: i64,
        /// Bytes after the frame header.
        available: usize,
    },
}

/// Declares [`Item`]: one variant per schema or protocol item, with its name.
macro_rules! items {
    ($($(#[$doc:meta])* $v:ident => $name:literal,)*) => {
        /// Where a decode error is, as data: the schema field being read
        /// (`DataRecord.tensors`), the struct whose own bytes were wrong
        /// (`GeneralTensor` for a union with no arm), or a protocol item
        /// (`message header`). Set only when an error happens, by the
        /// innermost field the error passes through on its way out.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Item {
            $($(#[$doc])* #[doc = concat!("`", $name, "`")] $v,)*
        }

        impl Item {
            /// The name, as `Struct.field` of the schema (or the protocol
            /// item); empty for [`Item::Top`].
            pub fn name(self) -> &'static str {
                match self {
                    $(Item::$v => $name,)*
                }
            }
        }
    };
}

items! {
    /// Outside any struct (bytes after the end of the input).
    Top => "",
    Response => "BatchPredictionResponse",
    Predictions => "BatchPredictionResponse.predictions",
    Request => "BatchPredictionRequest",
    IndividualFeaturesList => "BatchPredictionRequest.individualFeaturesList",
    CommonFeatures => "BatchPredictionRequest.commonFeatures",
    BinaryFeatures => "DataRecord.binaryFeatures",
    ContinuousFeatures => "DataRecord.continuousFeatures",
    DiscreteFeatures => "DataRecord.discreteFeatures",
    StringFeatures => "DataRecord.stringFeatures",
    SparseBinaryFeatures => "DataRecord.sparseBinaryFeatures",
    SparseContinuousFeatures => "DataRecord.sparseContinuousFeatures",
    BlobFeatures => "DataRecord.blobFeatures",
    Tensors => "DataRecord.tensors",
    SparseTensors => "DataRecord.sparseTensors",
    GeneralTensor => "GeneralTensor",
    RawTypedTensorArm => "GeneralTensor.rawTypedTensor",
    StringTensorArm => "GeneralTensor.stringTensor",
    Int32TensorArm => "GeneralTensor.int32Tensor",
    Int64TensorArm => "GeneralTensor.int64Tensor",
    FloatTensorArm => "GeneralTensor.floatTensor",
    DoubleTensorArm => "GeneralTensor.doubleTensor",
    BoolTensorArm => "GeneralTensor.boolTensor",
    BinaryTensorArm => "GeneralTensor.binaryTensor",
    RawDataType => "RawTypedTensor.dataType",
    RawContent => "RawTypedTensor.content",
    RawShape => "RawTypedTensor.shape",
    StringTensorStrings => "StringTensor.strings",
    StringTensorShape => "StringTensor.shape",
    Int32TensorInts => "Int32Tensor.ints",
    Int32TensorShape => "Int32Tensor.shape",
    Int64TensorLongs => "Int64Tensor.longs",
    Int64TensorShape => "Int64Tensor.shape",
    FloatTensorFloats => "FloatTensor.floats",
    FloatTensorShape => "FloatTensor.shape",
    DoubleTensorDoubles => "DoubleTensor.doubles",
    DoubleTensorShape => "DoubleTensor.shape",
    BoolTensorBooleans => "BoolTensor.booleans",
    BoolTensorShape => "BoolTensor.shape",
    BinaryTensorBinaries => "BinaryTensor.binaries",
    BinaryTensorShape => "BinaryTensor.shape",
    SparseTensor => "SparseTensor",
    CooSparseTensorArm => "SparseTensor.cooSparseTensor",
    CooDenseShape => "COOSparseTensor.denseShape",
    CooIndices => "COOSparseTensor.indices",
    CooValues => "COOSparseTensor.values",
    FrameHeader => "frame header",
    MessageHeader => "message header",
    Message => "message",
    ApplicationException => "TApplicationException",
    ApplicationExceptionMessage => "TApplicationException.message",
    ApplicationExceptionType => "TApplicationException.type",
    Result => "getBatchPrediction_result",
    ResultSuccess => "getBatchPrediction_result.success",
    ResultException => "getBatchPrediction_result.predictionServiceException",
    ServiceException => "PredictionServiceException",
    ServiceExceptionDescription => "PredictionServiceException.description",
    /// A call's argument struct.
    CallArgs => "getBatchPrediction_args",
    /// A call's request argument.
    CallRequest => "getBatchPrediction_args.batchRequest",
    /// A `getPrediction` call's argument struct.
    PredictionArgs => "getPrediction_args",
    /// A `getPrediction` call's request argument.
    PredictionCallRequest => "getPrediction_args.request",
    /// A `PredictionRequest`'s record.
    PredictionFeatures => "PredictionRequest.features",
}

/// A refusal from the decoder: the kind, the byte offset (from the start of
/// the input given to the decoder) and the item being read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub(crate) kind: DecodeErrorKind,
    pub(crate) offset: usize,
    /// `None` until the error passes through the innermost field (or
    /// struct) that it is about.
    pub(crate) item: Option<Item>,
    pub(crate) record: Option<usize>,
}

impl DecodeError {
    /// What was wrong.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.kind
    }

    /// Byte offset of the offending item, from the start of the input.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The item being read, as `Struct.field` of the schema (for example
    /// `DataRecord.tensors`), or a protocol item (`message header`): the
    /// name of [`schema_item`](Self::schema_item).
    pub fn item(&self) -> &'static str {
        self.schema_item().name()
    }

    /// The item being read, as data.
    pub fn schema_item(&self) -> Item {
        self.item.unwrap_or(Item::Top)
    }

    /// The error, about `item` if no inner item claimed it first (called
    /// on the way out of each field and struct: the innermost one wins).
    #[cold]
    pub(crate) fn within(mut self, item: Item) -> Self {
        self.item.get_or_insert(item);
        self
    }

    /// The index of the `DataRecord` in `predictions` being read, if any.
    pub fn record(&self) -> Option<usize> {
        self.record
    }
}

/// The name of a binary-protocol type code, for messages.
pub(crate) fn type_name(code: u8) -> &'static str {
    match code {
        0 => "STOP",
        2 => "BOOL",
        3 => "BYTE",
        4 => "DOUBLE",
        6 => "I16",
        8 => "I32",
        10 => "I64",
        11 => "STRING",
        12 => "STRUCT",
        13 => "MAP",
        14 => "SET",
        15 => "LIST",
        _ => "invalid",
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeErrorKind::UnexpectedEnd { needed, remaining } => {
                write!(f, "input ends early: {needed} bytes needed, {remaining} left")
            }
            DecodeErrorKind::NegativeSize { size } => write!(f, "negative size {size}"),
            DecodeErrorKind::SizeExceedsInput {
                size,
                min_element_bytes,
                remaining,
            } => write!(
                f,
                "declares {size} elements (or map entries) of at least {min_element_bytes} bytes each, but only {remaining} bytes are left"
            ),
            DecodeErrorKind::BytesExceedInput { size, remaining } => write!(
                f,
                "declares a string (or binary) of {size} bytes, but only {remaining} bytes are left"
            ),
            DecodeErrorKind::InvalidType { code } => write!(f, "invalid type code {code}"),
            DecodeErrorKind::WrongType { expected, found } => write!(
                f,
                "type {} ({found}) where the schema has {} ({expected})",
                type_name(found),
                type_name(expected)
            ),
            DecodeErrorKind::MissingField => f.write_str("required field is missing"),
            DecodeErrorKind::DuplicateField { id } => write!(f, "field {id} appears twice"),
            DecodeErrorKind::UnionFields { count } => {
                write!(f, "union has {count} known fields set; exactly one is required")
            }
            DecodeErrorKind::InvalidBool { byte } => write!(f, "bool byte {byte} is neither 0 nor 1"),
            DecodeErrorKind::InvalidUtf8 { valid_up_to } => {
                write!(f, "string is not UTF-8 (valid up to byte {valid_up_to} of it)")
            }
            DecodeErrorKind::TooDeep { limit } => write!(f, "nested deeper than {limit} levels"),
            DecodeErrorKind::TrailingBytes { count } => {
                write!(f, "{count} bytes after the end of the message, where nothing may follow")
            }
            DecodeErrorKind::BadVersion { word } => write!(
                f,
                "first word {word:#010x} is not a strict binary message header (0x8001_00TT)"
            ),
            DecodeErrorKind::UnexpectedMessageType { found } => {
                write!(f, "message type {found}, expected REPLY (2) or EXCEPTION (3)")
            }
            DecodeErrorKind::WrongMethod => f.write_str("method name is not getBatchPrediction"),
            DecodeErrorKind::NotACall { found } => {
                write!(f, "message type {found}, expected CALL (1) or ONEWAY (4)")
            }
            DecodeErrorKind::MethodNameTooLong { size } => write!(
                f,
                "method name of {size} bytes (at most {} are read)",
                crate::wire::MAX_METHOD_NAME
            ),
            DecodeErrorKind::MessageTooLarge { needed, limit } => {
                write!(f, "message needs at least {needed} bytes, over the limit of {limit}")
            }
            DecodeErrorKind::FrameLength { declared, available } => write!(
                f,
                "frame header declares {declared} bytes but {available} follow it"
            ),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}", self.offset)?;
        if let Some(r) = self.record {
            write!(f, " (record {r})")?;
        }
        match self.item() {
            // Outside any struct: no schema item to name.
            "" => write!(f, ": {}", self.kind),
            item => write!(f, ", in {item}: {}", self.kind),
        }
    }
}

impl std::error::Error for DecodeError {}
