//! Thrift binary protocol: type codes, the field ids of the contract, fixed
//! sizes, and a cursor that writes into an exactly-sized output slice.
//!
//! `docs/wire-format.md` describes the format these constants encode.

/// The longest method name a call may have (`getBatchPrediction` has 18
/// bytes): a longer one is refused before it is read.
pub const MAX_METHOD_NAME: usize = 256;

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
    /// `DataRecord.binaryFeatures`.
    pub const BINARY: i16 = 1;
    /// `DataRecord.continuousFeatures`.
    pub const CONTINUOUS: i16 = 2;
    /// `DataRecord.discreteFeatures`.
    pub const DISCRETE: i16 = 3;
    /// `DataRecord.stringFeatures`.
    pub const STRING: i16 = 4;
    /// `DataRecord.sparseBinaryFeatures`.
    pub const SPARSE_BINARY: i16 = 5;
    /// `DataRecord.sparseContinuousFeatures`.
    pub const SPARSE_CONTINUOUS: i16 = 6;
    /// `DataRecord.blobFeatures`.
    pub const BLOB: i16 = 7;
    /// `DataRecord.tensors`.
    pub const TENSORS: i16 = 8;
    /// `DataRecord.sparseTensors`.
    pub const SPARSE_TENSORS: i16 = 9;
    /// `SparseTensor`'s one union arm, `cooSparseTensor`.
    pub const COO_SPARSE_TENSOR: i16 = 1;
    /// `COOSparseTensor` fields.
    pub const COO_DENSE_SHAPE: i16 = 1;
    pub const COO_INDICES: i16 = 2;
    pub const COO_VALUES: i16 = 3;
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
    /// `BatchPredictionRequest.individualFeaturesList`.
    pub const INDIVIDUAL_FEATURES: i16 = 1;
    /// `BatchPredictionRequest.commonFeatures`.
    pub const COMMON_FEATURES: i16 = 2;
    /// `getBatchPrediction_args`: the request (`batchRequest`).
    pub const CALL_REQUEST: i16 = 1;
    /// `getBatchPrediction_result`: the response (success).
    pub const RESULT_SUCCESS: i16 = 0;
    /// `PredictionRequest.features` and `PredictionResponse.prediction`:
    /// the one record.
    pub const PREDICTION: i16 = 1;
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
/// Bytes of one continuous entry on the wire: an `i64` key, an `f64` value.
pub(crate) const CONTINUOUS_ENTRY: usize = 16;
/// Largest size of a list, map or binary: sizes are `i32` on the wire.
pub(crate) const MAX_SIZE: usize = i32::MAX as usize;

/// Appends Thrift headers to an owned buffer: the one way headers are
/// built outside the hot path (the per-tensor row templates built once per
/// call or per signature, the request writer's counts, and the decoder's
/// re-encoder). Field headers come from [`field_header`].
pub(crate) trait PutHeader {
    /// Appends raw bytes.
    fn put_bytes(&mut self, bytes: &[u8]);

    /// A field header: type and id.
    #[inline]
    fn field(&mut self, ttype: u8, id: i16) {
        self.put_bytes(&field_header(ttype, id));
    }
    /// A list (or set) header: element type and size.
    #[inline]
    fn list(&mut self, elem: u8, size: usize) {
        self.put_bytes(&[elem]);
        self.i32(to_i32(size));
    }
    /// A map header: key type, value type and size.
    #[inline]
    fn map(&mut self, key: u8, value: u8, size: usize) {
        self.put_bytes(&[key, value]);
        self.i32(to_i32(size));
    }
    /// A big-endian `i32`.
    #[inline]
    fn i32(&mut self, v: i32) {
        self.put_bytes(&v.to_be_bytes());
    }
    /// A big-endian `i64`.
    #[inline]
    fn i64(&mut self, v: i64) {
        self.put_bytes(&v.to_be_bytes());
    }
    /// The STOP that ends a struct.
    #[inline]
    fn stop(&mut self) {
        self.put_bytes(&[ttype::STOP]);
    }
}

impl<A: smallvec::Array<Item = u8>> PutHeader for smallvec::SmallVec<A> {
    #[inline]
    fn put_bytes(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl PutHeader for Vec<u8> {
    #[inline]
    fn put_bytes(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A size already checked against [`MAX_SIZE`] by the planner.
#[inline]
pub(crate) fn to_i32(size: usize) -> i32 {
    debug_assert!(size <= MAX_SIZE, "size {size} was not checked against i32::MAX");
    size as i32
}

/// Whether `s` is UTF-8: a string under 64 bytes is first tried as ASCII
/// (inline, a word at a time), the rest go to simdutf8 (which hands short
/// inputs to std's validator, whose setup dominates on short strings; see
/// docs/benchmarks.md for the counts).
#[inline(always)]
pub(crate) fn is_utf8(s: &[u8]) -> bool {
    const SIMD_FROM: usize = 64;
    (s.len() < SIMD_FROM && is_ascii_short(s)) || utf8_validate(s)
}

/// simdutf8's check, out of line (the rare path for short strings).
#[inline(never)]
fn utf8_validate(s: &[u8]) -> bool {
    simdutf8::basic::from_utf8(s).is_ok()
}

/// Whether a string of fewer than 64 bytes is ASCII: its 8-byte words
/// OR-ed together, the last one overlapping the one before (no byte loop);
/// shorter ones by two overlapping 4-byte words. About half the cost of
/// `<[u8]>::is_ascii` on strings of a few dozen bytes (iai, W6 decode).
#[inline(always)]
fn is_ascii_short(s: &[u8]) -> bool {
    let word = |i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let n = s.len();
    if n >= 8 {
        let mut acc = word(n - 8);
        for w in s.chunks_exact(8) {
            acc |= u64::from_le_bytes(w.try_into().expect("chunks of 8"));
        }
        acc & 0x8080_8080_8080_8080 == 0
    } else if n >= 4 {
        let half = |i: usize| u32::from_le_bytes(s[i..i + 4].try_into().expect("4 bytes"));
        (half(0) | half(n - 4)) & 0x8080_8080 == 0
    } else {
        s.iter().all(|&b| b < 0x80)
    }
}

/// A buffer shorter than what is to be written into it: the needed and
/// the available bytes, which each caller turns into its error type's
/// `BufferTooSmall`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooSmall {
    pub(crate) needed: usize,
    pub(crate) available: usize,
}

/// Checks that `available` bytes hold `needed`: the one check behind every
/// `BufferTooSmall` (responses, replies, requests, `BufMut`s). Nothing is
/// written when it fails.
#[inline(always)]
pub(crate) fn check_room(needed: usize, available: usize) -> Result<(), TooSmall> {
    if needed <= available {
        Ok(())
    } else {
        Err(TooSmall { needed, available })
    }
}

/// The first `len` bytes of `buf`, after [`check_room`].
#[inline(always)]
pub(crate) fn prefix_mut(buf: &mut [u8], len: usize) -> Result<&mut [u8], TooSmall> {
    check_room(len, buf.len())?;
    Ok(&mut buf[..len])
}

/// Field header and map header: `0D 00 <id> <key> <value> <n as i32 BE>`.
/// A fixed array (the kernels copy it per record), built from
/// [`field_header`] like every other header.
pub(crate) fn map_head(id: i16, value: u8, n: usize) -> [u8; FIELD_HEADER + MAP_HEADER] {
    let [map, i0, i1] = field_header(ttype::MAP, id);
    let [n0, n1, n2, n3] = to_i32(n).to_be_bytes();
    [map, i0, i1, ttype::I64, value, n0, n1, n2, n3]
}

#[cfg(test)]
mod tests {
    use super::{is_ascii_short, is_utf8};

    /// The word-at-a-time ASCII check against std's, for every length up
    /// to 64 and a high bit at every position (and none).
    #[test]
    fn is_ascii_short_matches_std_at_every_length_and_position() {
        for len in 0..64 {
            let clean: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(is_ascii_short(&clean), "len {len}");
            for at in 0..len {
                for high in [0x80u8, 0xc3, 0xff] {
                    let mut s = clean.clone();
                    s[at] = high;
                    assert_eq!(
                        is_ascii_short(&s),
                        s.is_ascii(),
                        "len {len}, 0x{high:02x} at {at}"
                    );
                }
            }
        }
    }

    /// `is_utf8` against std's validator: ASCII, multi-byte characters, and
    /// broken sequences at every length around the 64-byte switch.
    #[test]
    fn is_utf8_matches_std() {
        let pieces: [&[u8]; 6] = [
            b"abc",
            "é".as_bytes(),
            "日本".as_bytes(),
            "🦀".as_bytes(),
            b"\xff",
            b"\xe6\x97",
        ];
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..140 {
            for _ in 0..20 {
                let mut s = Vec::new();
                while s.len() < len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly valid pieces, sometimes a broken one.
                    let piece = pieces[(x % if x.is_multiple_of(7) { 6 } else { 4 }) as usize];
                    s.extend_from_slice(piece);
                }
                assert_eq!(is_utf8(&s), core::str::from_utf8(&s).is_ok(), "{s:02x?}");
            }
        }
    }
}
