//! A zero-copy decoder for `BatchPredictionResponse`: views into the input
//! bytes, checked in one pass, with no allocation.
//!
//! ```
//! use bprwire::{decode, BatchPrediction};
//!
//! let bytes = BatchPrediction::new()
//!     .continuous(&[7, 8], &[0.5_f32, 0.25], &[1, 2])
//!     .encode_to_vec()?;
//! let response = decode::decode_response(&bytes)?;
//! for record in response.records() {
//!     for (key, value) in record.continuous_features.unwrap() {
//!         println!("{key} -> {value}");
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`decode_response`] reads the whole input once and checks everything
//! the reference (generated) decoder checks, and more. If it succeeds, the
//! returned [`Response`] is a set of views ([`Record`], [`List`], [`Map`],
//! [`GeneralTensor`], ...) that borrow the input: iterating them re-reads
//! bytes already checked, so it cannot fail and allocates nothing.
//!
//! Guarantees, for any input (the `decode` fuzz target checks them):
//! - no panic; an error names the byte offset, the schema item
//!   (`DataRecord.tensors`, ...) and the record index;
//! - no allocation at all while decoding or iterating (only
//!   [`List::to_vec`] and [`Response::reencode`] allocate, at most the
//!   input's size);
//! - every declared size is checked against the bytes left before a loop
//!   runs over it, so work is linear in the input size;
//! - nesting is limited to [`MAX_DEPTH`] structs and containers, so
//!   recursion is bounded.
//!
//! `docs/decoder.md` lists every check and how this decoder is stricter
//! than the reference.

mod element;
mod error;
mod fast;
mod reader;
mod record;

pub use element::{Element, Iter, List, Map, MapIter, Set};
pub use error::{DecodeError, DecodeErrorKind, Item};
pub use record::{CooSparseTensor, GeneralTensor, RawTensor, Record, SparseTensor, TypedTensor};

pub(crate) use element::sealed::Wire;
pub use reader::MAX_DEPTH;
pub(crate) use reader::{fixed_width, min_width, Reader};
pub(crate) use record::union;

use crate::wire::{field, ttype, PutHeader};

/// A decoded `BatchPredictionResponse`, borrowing the input. Two responses
/// are equal when their records are (whatever unknown fields were skipped;
/// doubles compare as `f64`, so a NaN makes a response unequal to itself:
/// compare [`reencode`](Response::reencode)d bytes to compare bits).
#[derive(Clone, Copy, Debug)]
pub struct Response<'a> {
    predictions: List<'a, Record<'a>>,
    skipped: usize,
    canonical: bool,
    len: usize,
}

impl<'a> Response<'a> {
    /// The `predictions` list: one [`Record`] per batch row.
    pub fn predictions(&self) -> List<'a, Record<'a>> {
        self.predictions
    }

    /// The records, in order (the same as `predictions().iter()`).
    pub fn records(&self) -> Iter<'a, Record<'a>> {
        self.predictions.iter()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.predictions.len()
    }

    /// True when the response has no record.
    pub fn is_empty(&self) -> bool {
        self.predictions.is_empty()
    }

    /// Unknown fields that were skipped (at any depth).
    pub fn skipped_fields(&self) -> usize {
        self.skipped
    }

    /// True when [`reencode`](Self::reencode) gives back the input bytes
    /// exactly: no unknown field, and the fields of every struct in
    /// ascending id order (as bprwire and the Thrift libraries write them).
    pub fn is_canonical(&self) -> bool {
        self.canonical
    }

    /// Bytes of the encoded response that was decoded.
    pub fn encoded_len(&self) -> usize {
        self.len
    }

    /// Writes the response again from the views, element by element:
    /// fields in ascending id order, unknown fields dropped. The result
    /// decodes to an equal `Response`, and equals the input when
    /// [`is_canonical`](Self::is_canonical).
    pub fn reencode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        self.write(&mut out);
        out
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.field(ttype::LIST, field::PREDICTIONS);
        self.predictions.write(out);
        out.stop();
    }

    /// The response cut into consecutive responses of `counts[i]` records
    /// each, in order, every one written as [`reencode`](Self::reencode)
    /// writes: what a server does with one response written for a batch
    /// that merged several requests. One pass over the records.
    ///
    /// `None` when the counts do not add up to [`len`](Self::len).
    ///
    /// ```
    /// let bytes = bprwire::BatchPrediction::new()
    ///     .continuous(&[7], &[0.5f32, 0.25, 0.125], &[3, 1])
    ///     .encode_to_vec()?;
    /// let response = bprwire::decode::decode_response(&bytes)?;
    /// let parts = response.split(&[1, 2]).expect("3 records");
    /// assert_eq!(bprwire::decode::decode_response(&parts[1])?.len(), 2);
    /// assert!(response.split(&[1, 1]).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split(&self, counts: &[usize]) -> Option<Vec<Vec<u8>>> {
        let total = counts.iter().try_fold(0usize, |a, &c| a.checked_add(c))?;
        if total != self.len() {
            return None;
        }
        let mut records = self.records();
        let parts = counts
            .iter()
            .map(|&count| {
                let mut out = Vec::new();
                out.field(ttype::LIST, field::PREDICTIONS);
                out.list(ttype::STRUCT, count);
                for record in records.by_ref().take(count) {
                    record.write(&mut out);
                }
                out.stop();
                out
            })
            .collect();
        Some(parts)
    }
}

impl PartialEq for Response<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.predictions == other.predictions
    }
}

/// Decodes a `BatchPredictionResponse` that is exactly `bytes` (a byte
/// after its end is an error).
///
/// Records and tensors in the layout bprwire (and twml) writes are read by
/// a fast path that checks the same things; anything else goes through the
/// general reader. Both give the same views and the same errors
/// ([`decode_response_general`] reads everything the general way, for
/// tests that compare them).
///
/// # Errors
///
/// A [`DecodeError`] with the byte offset, what was wrong
/// ([`DecodeErrorKind`]) and the path of items being read, for bytes
/// that are not such a response: truncated, a wrong field type, a size
/// over what the input can hold, a missing required field, an invalid
/// string, nesting too deep, trailing bytes. No input panics.
///
/// ```
/// let bytes = bprwire::BatchPrediction::new()
///     .continuous(&[7], &[0.5f32], &[1])
///     .encode_to_vec()
///     .unwrap();
/// let response = bprwire::decode::decode_response(&bytes)?;
/// assert_eq!(response.len(), 1);
/// let err = bprwire::decode::decode_response(&bytes[..bytes.len() - 1]).unwrap_err();
/// assert!(err.offset() < bytes.len()); // where the cut-off item starts
/// # Ok::<(), bprwire::decode::DecodeError>(())
/// ```
pub fn decode_response(bytes: &[u8]) -> Result<Response<'_>, DecodeError> {
    decode_with(Reader::new(bytes))
}

/// [`decode_response`] with the fast path off: every struct through the
/// general reader. The views and errors are the same, only slower; it
/// exists so that tests and fuzz targets can check exactly that.
///
/// # Errors
///
/// As [`decode_response`], the same error for the same bytes.
pub fn decode_response_general(bytes: &[u8]) -> Result<Response<'_>, DecodeError> {
    let mut r = Reader::new(bytes);
    r.fast = false;
    decode_with(r)
}

fn decode_with(mut r: Reader<'_>) -> Result<Response<'_>, DecodeError> {
    let resp = read_response(&mut r)?;
    if r.remaining() != 0 {
        return Err(r.err_at(r.pos(), DecodeErrorKind::TrailingBytes { count: r.remaining() }));
    }
    Ok(resp)
}

const RESPONSE: &[(i16, u8, Item)] = &[(field::PREDICTIONS, ttype::LIST, Item::Predictions)];

/// Reads a response struct at the reader's position (also the body of a
/// service reply's field 0).
pub(crate) fn read_response<'a>(r: &mut Reader<'a>) -> Result<Response<'a>, DecodeError> {
    let start = r.pos();
    let mut predictions = None;
    r.fields(RESPONSE, |r, _| {
        predictions = Some(read_records(r)?);
        Ok(())
    })
    .map_err(|e| e.within(Item::Response))?;
    let predictions = r.required(predictions, Item::Predictions, start)?;
    Ok(Response {
        predictions,
        skipped: r.skipped,
        canonical: r.canonical,
        len: r.pos() - start,
    })
}

/// A decoded `BatchPredictionRequest`, borrowing the input: the records
/// (`individualFeaturesList`, one per example) and the `commonFeatures`
/// shared by all of them, if any. The same views and guarantees as a
/// [`Response`]; an error in a record names its index in the list.
///
/// ```
/// use bprwire::decode;
///
/// // individualFeaturesList: 1 record with continuous feature 7 -> 0.5.
/// let mut bytes = vec![0x0F, 0, 1, 0x0C, 0, 0, 0, 1, 0x0D, 0, 2, 0x0A, 0x04, 0, 0, 0, 1];
/// bytes.extend(7i64.to_be_bytes());
/// bytes.extend(0.5f64.to_be_bytes());
/// bytes.extend([0, 0]); // end of the record, end of the request
/// let request = decode::decode_request(&bytes)?;
/// assert_eq!(request.len(), 1);
/// assert!(request.common_features().is_none());
/// let record = request.records().next().unwrap();
/// assert_eq!(record.continuous_features.unwrap().iter().next(), Some((7, 0.5)));
/// # Ok::<(), decode::DecodeError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    records: List<'a, Record<'a>>,
    common: Option<Record<'a>>,
    skipped: usize,
    canonical: bool,
    bytes: &'a [u8],
}

impl<'a> Request<'a> {
    /// The `individualFeaturesList`: one [`Record`] per example.
    pub fn individual_features(&self) -> List<'a, Record<'a>> {
        self.records
    }

    /// The records, in order.
    pub fn records(&self) -> Iter<'a, Record<'a>> {
        self.records.iter()
    }

    /// The `commonFeatures`, if the request has them: features that apply
    /// to every record.
    pub fn common_features(&self) -> Option<Record<'a>> {
        self.common
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when the request has no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Unknown fields that were skipped (at any depth).
    pub fn skipped_fields(&self) -> usize {
        self.skipped
    }

    /// True when [`reencode`](Self::reencode) gives back the input exactly.
    pub fn is_canonical(&self) -> bool {
        self.canonical
    }

    /// Bytes of the encoded request that was decoded.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    /// The encoded request that was decoded, as it is in the input (inside
    /// a call message, the argument's bytes alone): what a model that
    /// reads requests itself is given.
    ///
    /// ```
    /// use bprwire::service;
    ///
    /// let request = [0x0F, 0, 1, 0x0C, 0, 0, 0, 0, 0]; // no record
    /// let mut call = vec![0x80, 1, 0, 1, 0, 0, 0, 18];
    /// call.extend(b"getBatchPrediction");
    /// call.extend([0, 0, 0, 7, 0x0C, 0, 1]);
    /// call.extend(request);
    /// call.push(0); // end of the arguments
    /// let decoded = service::decode_call(&call)?.batch_request()?;
    /// assert_eq!(decoded.bytes(), &request);
    /// # Ok::<(), bprwire::decode::DecodeError>(())
    /// ```
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Writes the request again from the views (fields in ascending id
    /// order, unknown fields dropped).
    pub fn reencode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len());
        out.field(ttype::LIST, field::INDIVIDUAL_FEATURES);
        self.records.write(&mut out);
        if let Some(common) = &self.common {
            out.field(ttype::STRUCT, field::COMMON_FEATURES);
            common.write(&mut out);
        }
        out.stop();
        out
    }
}

impl PartialEq for Request<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.records == other.records && self.common == other.common
    }
}

const REQUEST: &[(i16, u8, Item)] = &[
    (
        field::INDIVIDUAL_FEATURES,
        ttype::LIST,
        Item::IndividualFeaturesList,
    ),
    (field::COMMON_FEATURES, ttype::STRUCT, Item::CommonFeatures),
];

/// Decodes a `BatchPredictionRequest` that is exactly `bytes` (a byte after
/// its end is an error), with the checks, limits and error offsets of
/// [`decode_response`]. Unknown fields are skipped, as Thrift's own
/// readers do.
///
/// # Errors
///
/// As [`decode_response`], for bytes that are not such a request.
pub fn decode_request(bytes: &[u8]) -> Result<Request<'_>, DecodeError> {
    decode_request_with(Reader::new(bytes))
}

/// The number of records of the `BatchPredictionRequest` that is `bytes`,
/// read without decoding them: the fields before `individualFeaturesList`
/// are stepped over, and the list's declared size is checked against the
/// bytes left (at least one byte per record). What a server needs to
/// admit a request (its size, its batch) before the request is decoded in
/// full, where it is scattered.
///
/// # Errors
///
/// A [`DecodeError`] for what is read on the way: a field header, a
/// skipped value, no `individualFeaturesList` or one of the wrong type, a
/// list whose elements are not structs or that declares more than the
/// remaining bytes could hold. The records themselves, and what follows
/// the list, are not checked ([`decode_request`] does).
///
/// # Examples
///
/// ```
/// let request = [0x0F, 0x00, 0x01, 0x0C, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00];
/// assert_eq!(bprwire::decode::request_records(&request).unwrap(), 2);
/// assert!(bprwire::decode::request_records(&[0x00]).is_err()); // no list
/// ```
pub fn request_records(bytes: &[u8]) -> Result<usize, DecodeError> {
    read_request_records(&mut Reader::new(bytes))
}

/// [`request_records`] on a reader at the start of a request struct's
/// fields (a bare request's first byte; a call's argument).
pub(crate) fn read_request_records(r: &mut Reader<'_>) -> Result<usize, DecodeError> {
    find_field(
        r,
        field::INDIVIDUAL_FEATURES,
        ttype::LIST,
        Item::IndividualFeaturesList,
    )
    .map_err(|e| e.within(Item::Request))?;
    r.expect_type(ttype::STRUCT)
        .and_then(|()| r.size(1))
        .map_err(|e| e.within(Item::IndividualFeaturesList))
}

/// Steps over a struct's fields up to field `id`, which must have type
/// `t`; leaves the reader at its value.
pub(crate) fn find_field(r: &mut Reader<'_>, id: i16, t: u8, item: Item) -> Result<(), DecodeError> {
    let start = r.pos();
    loop {
        let at = r.pos();
        match r.field()? {
            None => return Err(r.err_at(start, DecodeErrorKind::MissingField).within(item)),
            Some((found, fid)) if fid == id => {
                if found != t {
                    let kind = DecodeErrorKind::WrongType { expected: t, found };
                    return Err(r.err_at(at, kind).within(item));
                }
                return Ok(());
            }
            Some((found, _)) => r.skip(found, at)?,
        }
    }
}

/// [`decode_request`] with the fast path off (see
/// [`decode_response_general`]): the same views and errors, for the tests
/// and fuzz targets that compare the two.
///
/// # Errors
///
/// As [`decode_request`], the same error for the same bytes.
pub fn decode_request_general(bytes: &[u8]) -> Result<Request<'_>, DecodeError> {
    let mut r = Reader::new(bytes);
    r.fast = false;
    decode_request_with(r)
}

// Out of line, with the request built straight into its return slot:
// inlined into the scatter, the request was built and then copied
// (memcpy), +1% instructions on R2 under iai.
#[inline(never)]
fn decode_request_with(mut r: Reader<'_>) -> Result<Request<'_>, DecodeError> {
    read_request(&mut r, true)
}

/// A `BatchPredictionRequest` struct at the reader's position: the whole
/// input (`whole`: a byte after it is an error), or a call's argument.
// The trailing check is made here, before the views are built, rather
// than by the caller: returned through one more `Result`, the request
// cost the scatter's R2 (one small request) +3% instructions under iai.
#[inline(always)]
pub(crate) fn read_request<'a>(r: &mut Reader<'a>, whole: bool) -> Result<Request<'a>, DecodeError> {
    let start = r.pos();
    let (mut records, mut common) = (None, None);
    r.fields(REQUEST, |r, id| {
        match id {
            field::INDIVIDUAL_FEATURES => records = Some(read_records(r)?),
            _ => common = Some(Record::read(r)?),
        }
        Ok(())
    })
    .map_err(|e| e.within(Item::Request))?;
    let records = r.required(records, Item::IndividualFeaturesList, start)?;
    if whole && r.remaining() != 0 {
        return Err(r.err_at(r.pos(), DecodeErrorKind::TrailingBytes { count: r.remaining() }));
    }
    Ok(Request {
        records,
        common,
        skipped: r.skipped,
        canonical: r.canonical,
        bytes: r.since(start),
    })
}

/// A list of records (`predictions`, `individualFeaturesList`), record by
/// record, so an error can say which.
fn read_records<'a>(r: &mut Reader<'a>) -> Result<List<'a, Record<'a>>, DecodeError> {
    r.enter()?;
    r.expect_type(ttype::STRUCT)?;
    let len = r.size(1)?;
    let start = r.pos();
    for i in 0..len {
        // Checked only: the views are built again when iterated.
        if r.fast_record_check() {
            continue;
        }
        Record::read(r).map_err(|mut e| {
            e.record = Some(i);
            e
        })?;
    }
    r.leave();
    Ok(List::from_parts(r.since(start), len))
}
