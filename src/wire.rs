//! Thrift binary protocol: type codes, the field ids of the contract, fixed
//! sizes, and a cursor that writes into an exactly-sized output slice.
//!
//! `docs/wire-format.md` describes the format these constants encode.

/// Thrift type codes (binary protocol).
pub(crate) mod ttype {
    pub const STOP: u8 = 0;
    pub const BOOL: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const DOUBLE: u8 = 4;
    pub const I16: u8 = 6;
    pub const I32: u8 = 8;
    pub const I64: u8 = 10;
    pub const STRING: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const MAP: u8 = 13;
    pub const SET: u8 = 14;
    pub const LIST: u8 = 15;
}

/// Field ids of the contract.
pub(crate) mod field {
    /// `BatchPredictionResponse.predictions`.
    pub const PREDICTIONS: i16 = 1;
    /// `DataRecord.continuousFeatures`.
    pub const CONTINUOUS: i16 = 2;
    /// `DataRecord.tensors`.
    pub const TENSORS: i16 = 8;
    /// `GeneralTensor` union arms.
    pub const RAW_TYPED_TENSOR: i16 = 1;
    pub const STRING_TENSOR: i16 = 2;
    pub const INT32_TENSOR: i16 = 3;
    pub const INT64_TENSOR: i16 = 4;
    pub const FLOAT_TENSOR: i16 = 5;
    pub const DOUBLE_TENSOR: i16 = 6;
    pub const BOOL_TENSOR: i16 = 7;
    pub const BINARY_TENSOR: i16 = 8;
    /// `RawTypedTensor` fields.
    pub const RAW_DATA_TYPE: i16 = 1;
    pub const RAW_CONTENT: i16 = 2;
    pub const RAW_SHAPE: i16 = 3;
    /// The element list of every typed tensor (and of `StringTensor`).
    pub const TYPED_VALUES: i16 = 1;
    /// The shape of every typed tensor (and of `StringTensor`).
    pub const TYPED_SHAPE: i16 = 2;
    /// `getBatchPrediction_result`: the response (success).
    pub const RESULT_SUCCESS: i16 = 0;
    /// `getBatchPrediction_result`: a `PredictionServiceException`.
    pub const RESULT_EXCEPTION: i16 = 1;
    /// `PredictionServiceException.description`.
    pub const EXCEPTION_DESCRIPTION: i16 = 1;
    /// `TApplicationException.message`.
    pub const APPLICATION_MESSAGE: i16 = 1;
    /// `TApplicationException.type`.
    pub const APPLICATION_TYPE: i16 = 2;
}

/// A field header: type code, then the id (an `i16`, big-endian; every id
/// of the contract fits its low byte).
pub(crate) const fn field_header(ttype: u8, id: i16) -> [u8; FIELD_HEADER] {
    let [hi, lo] = id.to_be_bytes();
    [ttype, hi, lo]
}

/// Field header: type (1) + id (2).
pub(crate) const FIELD_HEADER: usize = 3;
/// List header: element type (1) + size (4).
pub(crate) const LIST_HEADER: usize = 5;
/// Map header: key type (1) + value type (1) + size (4).
pub(crate) const MAP_HEADER: usize = 6;
/// The STOP byte that ends a struct.
pub(crate) const STOP: usize = 1;
/// Largest size of a list, map or binary: sizes are `i32` on the wire.
pub(crate) const MAX_SIZE: usize = i32::MAX as usize;

/// Writes sequentially into a slice that the size computation made exactly
/// as long as the response. Each call slices once, so a wrong size
/// computation panics here instead of writing out of bounds; tests prove
/// that `encoded_len()` always equals the bytes written.
pub(crate) struct Out<'b> {
    rest: &'b mut [u8],
}

impl<'b> Out<'b> {
    #[inline]
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Out { rest: buf }
    }

    /// The next `n` bytes, handed out for a kernel to fill.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> &'b mut [u8] {
        let (head, tail) = core::mem::take(&mut self.rest).split_at_mut(n);
        self.rest = tail;
        head
    }

    #[inline]
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        self.take(bytes.len()).copy_from_slice(bytes);
    }

    #[inline]
    pub(crate) fn put_u8(&mut self, b: u8) {
        self.take(1)[0] = b;
    }

    #[inline]
    pub(crate) fn put_i32(&mut self, v: i32) {
        self.put(&v.to_be_bytes());
    }

    /// Writes a per-row template. A short one is copied as a whole 64-byte
    /// block when the output has room (one fixed-size copy instead of a
    /// `memcpy` call of a run-time length); the bytes past its length are
    /// scratch that the next writes overwrite, since the output is written
    /// front to back and to its last byte.
    #[inline]
    pub(crate) fn put_template(&mut self, t: &Template) {
        match t {
            Template::Short { bytes, len } => {
                let len = usize::from(*len);
                if let Some(block) = self.rest.get_mut(..TEMPLATE_BLOCK) {
                    block.copy_from_slice(bytes);
                    self.take(len);
                } else {
                    self.put(&bytes[..len]);
                }
            }
            Template::Long(bytes) => self.put(bytes),
        }
    }

    /// Bytes not yet written.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }
}

/// Bytes of a short template, copied as one block.
const TEMPLATE_BLOCK: usize = 64;

/// Bytes written around every row of a tensor (built once per call).
#[derive(Clone, Debug)]
pub(crate) enum Template {
    /// Up to 64 bytes, zero-padded to a full block.
    Short { bytes: [u8; TEMPLATE_BLOCK], len: u8 },
    /// Longer (a shape of rank 8 or more).
    Long(Vec<u8>),
}

impl Template {
    pub(crate) fn new(b: &[u8]) -> Self {
        match b.len() {
            len @ 0..=TEMPLATE_BLOCK => {
                let mut bytes = [0u8; TEMPLATE_BLOCK];
                bytes[..len].copy_from_slice(b);
                Template::Short {
                    bytes,
                    len: len as u8,
                }
            }
            _ => Template::Long(b.to_vec()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Template::Short { len, .. } => usize::from(*len),
            Template::Long(b) => b.len(),
        }
    }

    /// The template's bytes, without the padding.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Template::Short { bytes, len } => &bytes[..usize::from(*len)],
            Template::Long(b) => b,
        }
    }
}

/// Appends Thrift headers to a small owned buffer (the per-tensor row
/// templates built once per call, and the fixed response head).
pub(crate) trait PutHeader {
    fn field(&mut self, ttype: u8, id: i16);
    fn list(&mut self, elem: u8, size: usize);
    fn i32(&mut self, v: i32);
    fn i64(&mut self, v: i64);
}

impl<A: smallvec::Array<Item = u8>> PutHeader for smallvec::SmallVec<A> {
    fn field(&mut self, ttype: u8, id: i16) {
        self.push(ttype);
        self.extend_from_slice(&id.to_be_bytes());
    }
    fn list(&mut self, elem: u8, size: usize) {
        self.push(elem);
        self.i32(to_i32(size));
    }
    fn i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
}

/// A size already checked against [`MAX_SIZE`] by the planner.
#[inline]
pub(crate) fn to_i32(size: usize) -> i32 {
    debug_assert!(size <= MAX_SIZE, "size {size} was not checked against i32::MAX");
    size as i32
}

/// Whether `s` is UTF-8: SIMD (simdutf8) for long strings; a short one is
/// first tried as ASCII, a word at a time, which costs a third of the
/// validators' short-input path (simdutf8 hands inputs under 64 bytes to
/// std's; iai, W6 as byte strings: 34 against 94 instructions a string,
/// see docs/benchmarks.md).
#[inline]
pub(crate) fn is_utf8(s: &[u8]) -> bool {
    const SIMD_FROM: usize = 64;
    if s.len() < SIMD_FROM {
        s.is_ascii() || simdutf8::basic::from_utf8(s).is_ok()
    } else {
        simdutf8::basic::from_utf8(s).is_ok()
    }
}
