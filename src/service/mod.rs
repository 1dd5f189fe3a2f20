//! The service envelope around a response: the strict binary message
//! header of a `getBatchPrediction` reply, its result struct, the
//! exception replies, and the framed transport's length prefix. Both
//! directions: [`Encoder::encode_reply_into`] and friends write, and
//! [`decode_reply`] reads.
//!
//! ```
//! use bprwire::{service, BatchPrediction};
//!
//! let enc = BatchPrediction::new().continuous(&[7], &[0.5_f32], &[1]).encoder()?;
//! let env = service::Envelope { seqid: 42, framed: true };
//! let mut buf = vec![0u8; enc.reply_len(env)?]; // exact, known up front
//! enc.encode_reply_into(env, &mut buf)?;         // one pass, one buffer
//!
//! let msg = service::decode_reply(&buf, true)?;
//! assert_eq!(msg.seqid, 42);
//! assert!(matches!(msg.body, service::Reply::Success(r) if r.len() == 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::decode::{self, union, DecodeError, DecodeErrorKind, Item, Reader, Response};
use crate::encode::encoder::Encoder;
use crate::encode::error::{Error, Size};
use crate::encode::write::Out;
use crate::sink::{Counter, WriteError};
use crate::wire::{self, field, ttype, PutHeader, FIELD_HEADER, MAX_SIZE, STOP};

mod call;
mod scan;

pub use call::{decode_call, Call};
pub use scan::{MessageScanner, Scan};

pub use crate::wire::MAX_METHOD_NAME;

/// The method whose reply carries a `BatchPredictionResponse`.
pub const METHOD: &str = "getBatchPrediction";

/// The service's other method: one record in (a `PredictionRequest`), one
/// out (a `PredictionResponse`).
pub const PREDICTION_METHOD: &str = "getPrediction";

/// The strict binary protocol's version word; the message type is its low byte.
const VERSION_1: u32 = 0x8001_0000;

/// Thrift message types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// A request.
    Call = 1,
    /// A reply (a result, or a declared exception).
    Reply = 2,
    /// An undeclared failure (a `TApplicationException`).
    Exception = 3,
    /// A request with no reply.
    Oneway = 4,
}

/// Where a reply goes: the request's sequence id, and whether the
/// transport is framed (an `i32` byte length before the message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The sequence id of the request being answered.
    pub seqid: i32,
    /// Put the framed transport's length prefix in front.
    pub framed: bool,
}

/// The kinds of `TApplicationException` (the `type` field), as the Thrift
/// libraries number them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplicationErrorKind {
    /// 0: unknown (a handler failed).
    Unknown = 0,
    /// 1: no such method.
    UnknownMethod = 1,
    /// 2: a message type the server does not accept.
    InvalidMessageType = 2,
    /// 3: the reply names another method.
    WrongMethodName = 3,
    /// 4: the reply's sequence id is not the request's.
    BadSequenceId = 4,
    /// 5: the reply has no result.
    MissingResult = 5,
    /// 6: an internal error.
    InternalError = 6,
    /// 7: the request could not be read.
    ProtocolError = 7,
    /// 8: an invalid transform.
    InvalidTransform = 8,
    /// 9: an invalid protocol.
    InvalidProtocol = 9,
    /// 10: an unsupported client type.
    UnsupportedClientType = 10,
}

/// Bytes of the message header for [`METHOD`]: version word, name, seqid.
const HEADER_LEN: usize = I32 + I32 + METHOD.len() + I32;

/// Bytes of a big-endian `i32` (the version word, a string's length, the
/// seqid, the frame prefix, an exception's type).
const I32: usize = 4;

fn message_len(env: Envelope, body: usize) -> Result<usize, Error> {
    named_message_len(env, METHOD, body)
}

/// As [`message_len`], for a message of `method`.
fn named_message_len(env: Envelope, method: &str, body: usize) -> Result<usize, Error> {
    let header = I32 + string_len(method)? + I32;
    let message = header.checked_add(body).ok_or(too_large(usize::MAX))?;
    if !env.framed {
        return Ok(message);
    }
    if message > MAX_SIZE {
        return Err(too_large(message));
    }
    Ok(message + I32)
}

fn too_large(size: usize) -> Error {
    Error::TooLarge {
        input: None,
        what: Size::Frame,
        size: size as u64,
        limit: MAX_SIZE as u64,
    }
}

/// The most bytes before the response in a reply: frame prefix, message
/// header, the result struct's field 0 header.
const REPLY_HEAD: usize = I32 + HEADER_LEN + FIELD_HEADER;

/// The bytes before the response in a reply of `total` bytes, and how many.
fn reply_head(env: Envelope, total: usize) -> ([u8; REPLY_HEAD], usize) {
    let mut head = [0u8; REPLY_HEAD];
    let len = if env.framed { REPLY_HEAD } else { REPLY_HEAD - 4 };
    let mut out = Out::new(&mut head[..len]);
    put_header(&mut out, env, METHOD, total, MessageType::Reply);
    out.field(ttype::STRUCT, field::RESULT_SUCCESS);
    debug_assert_eq!(out.remaining(), 0, "REPLY_HEAD disagrees with the header written");
    (head, len)
}

fn put_header(out: &mut Out<'_>, env: Envelope, method: &str, total: usize, kind: MessageType) {
    if env.framed {
        out.put_i32(wire::to_i32(total - I32));
    }
    out.put(&(VERSION_1 | kind as u32).to_be_bytes());
    out.put_i32(wire::to_i32(method.len()));
    out.put(method.as_bytes());
    out.put_i32(env.seqid);
}

impl Encoder<'_> {
    /// The exact length of the reply [`encode_reply_into`](Self::encode_reply_into)
    /// writes: message header, result struct around the response, and the
    /// frame prefix if `env.framed`.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] (`Size::Frame`) when a framed message would not
    /// fit the prefix's `i32` (or the length overflows `usize`).
    ///
    /// ```
    /// use bprwire::{service::Envelope, BatchPrediction};
    ///
    /// let enc = BatchPrediction::new().continuous(&[7], &[0.5f32], &[1]).encoder()?;
    /// let plain = enc.reply_len(Envelope { seqid: 1, framed: false })?;
    /// assert_eq!(enc.reply_len(Envelope { seqid: 1, framed: true })?, plain + 4);
    /// # Ok::<(), bprwire::Error>(())
    /// ```
    pub fn reply_len(&self, env: Envelope) -> Result<usize, Error> {
        // Result struct: field 0 header, the response, STOP.
        let body = self
            .encoded_len()
            .checked_add(FIELD_HEADER + STOP)
            .ok_or(too_large(usize::MAX))?;
        message_len(env, body)
    }

    /// Writes a successful `getBatchPrediction` reply carrying the
    /// response, in one pass into the first [`reply_len`](Self::reply_len)
    /// bytes of `buf`; returns that length. No allocation.
    ///
    /// # Errors
    ///
    /// As [`reply_len`](Self::reply_len), and [`Error::BufferTooSmall`] for
    /// a buffer shorter than the reply (nothing is written then).
    ///
    /// ```
    /// use bprwire::{service::{self, Envelope, Reply}, BatchPrediction};
    ///
    /// let enc = BatchPrediction::new().continuous(&[7], &[0.5f32], &[1]).encoder()?;
    /// let env = Envelope { seqid: 42, framed: true };
    /// let mut buf = vec![0u8; enc.reply_len(env)?];
    /// enc.encode_reply_into(env, &mut buf)?;
    /// let reply = service::decode_reply(&buf, true).unwrap();
    /// assert_eq!(reply.seqid, 42);
    /// assert!(matches!(reply.body, Reply::Success(r) if r.len() == 1));
    /// # Ok::<(), bprwire::Error>(())
    /// ```
    pub fn encode_reply_into(&self, env: Envelope, buf: &mut [u8]) -> Result<usize, Error> {
        let len = self.reply_len(env)?;
        let dst = wire::prefix_mut(buf, len)?;
        let (head, head_len) = reply_head(env, len);
        debug_assert_eq!(
            head_len,
            len - self.encoded_len() - 1,
            "reply_len disagrees with the head"
        );
        let (head_bytes, rest) = dst.split_at_mut(head_len);
        head_bytes.copy_from_slice(&head[..head_len]);
        // The response goes straight after the header, in the same buffer
        // (through encode_into: a second caller of the record writer made
        // the compiler lay it out worse, +15% instructions on W5).
        let (body, stop) = rest.split_at_mut(self.encoded_len());
        self.encode_into(body)?;
        stop[0] = ttype::STOP;
        Ok(len)
    }

    /// Writes the reply of [`encode_reply_into`](Self::encode_reply_into)
    /// to `w` in bounded memory: the response goes through the staging
    /// buffer of [`write_to`](Self::write_to) (at most
    /// [`DEFAULT_STAGING`](crate::sink::DEFAULT_STAGING) bytes), never
    /// whole, so a reply of any size the format allows needs no buffer of
    /// its size. Returns [`reply_len`](Self::reply_len).
    ///
    /// # Errors
    ///
    /// A writer error, as [`write_to`](Self::write_to) reports it, with
    /// [`written`](crate::sink::WriteError::written) and
    /// [`total`](crate::sink::WriteError::total) counted over the whole
    /// message (frame prefix included). A framed message too long for its
    /// `i32` prefix is refused before any byte is written, as an
    /// `InvalidInput` error that carries the [`Error`] ([`reply_len`](Self::reply_len)
    /// tells it apart first).
    ///
    /// ```
    /// use bprwire::{service::Envelope, BatchPrediction};
    ///
    /// let enc = BatchPrediction::new().continuous(&[7], &[0.5_f32], &[1]).encoder()?;
    /// let env = Envelope { seqid: 3, framed: true };
    /// let mut out = Vec::new(); // a socket, a file, a pipe...
    /// assert_eq!(enc.write_reply_to(env, &mut out)?, enc.reply_len(env)?);
    /// assert_eq!(out, enc.encode_reply_to_vec(env)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_reply_to<W: std::io::Write + ?Sized>(
        &self,
        env: Envelope,
        w: &mut W,
    ) -> Result<usize, WriteError> {
        let total = self.reply_len(env);
        let mut counter = Counter {
            written: 0,
            total: *total.as_ref().unwrap_or(&0),
        };
        let total =
            total.map_err(|e| counter.fail(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
        let (head, head_len) = reply_head(env, total);
        counter.write_all(w, &head[..head_len])?;
        self.stage_to(w, &mut self.default_staging(), &mut counter)?;
        counter.write_all(w, &[ttype::STOP])?;
        debug_assert_eq!(
            counter.written, total,
            "reply_len disagrees with the bytes written"
        );
        Ok(total)
    }

    /// The reply in a new `Vec` (see [`encode_reply_into`](Self::encode_reply_into)).
    ///
    /// # Errors
    ///
    /// As [`reply_len`](Self::reply_len).
    pub fn encode_reply_to_vec(&self, env: Envelope) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0u8; self.reply_len(env)?];
        self.encode_reply_into(env, &mut buf)?;
        Ok(buf)
    }
}

fn string_len(s: &str) -> Result<usize, Error> {
    if s.len() > MAX_SIZE {
        return Err(Error::TooLarge {
            input: None,
            what: Size::MessageString,
            size: s.len() as u64,
            limit: MAX_SIZE as u64,
        });
    }
    Ok(I32 + s.len())
}

fn put_string(out: &mut Out<'_>, s: &str) {
    out.put_i32(wire::to_i32(s.len()));
    out.put(s.as_bytes());
}

/// A `getBatchPrediction` reply declaring failure: the result struct's
/// field 1, a `PredictionServiceException` (with its optional description).
///
/// # Errors
///
/// [`Error::TooLarge`] for a description over `i32::MAX` bytes
/// (`Size::MessageString`) or a framed message over the prefix's `i32`.
///
/// ```
/// use bprwire::service::{self, Envelope, Reply};
///
/// let bytes = service::service_exception_reply(Envelope { seqid: 3, framed: false }, Some("busy"))?;
/// let reply = service::decode_reply(&bytes, false).unwrap();
/// assert_eq!(reply.body, Reply::ServiceException { description: Some("busy") });
/// # Ok::<(), bprwire::Error>(())
/// ```
pub fn service_exception_reply(env: Envelope, description: Option<&str>) -> Result<Vec<u8>, Error> {
    service_exception_reply_to(METHOD, env, description)
}

/// As [`service_exception_reply`], for a call of `method` (such as
/// [`PREDICTION_METHOD`], whose result declares the same exception).
///
/// # Errors
///
/// As [`service_exception_reply`]; a method name over `i32::MAX` bytes.
pub fn service_exception_reply_to(
    method: &str,
    env: Envelope,
    description: Option<&str>,
) -> Result<Vec<u8>, Error> {
    // Result: field 1 header, the exception struct, STOP.
    // Exception: [field 1 header + string], STOP.
    let desc = match description {
        Some(d) => FIELD_HEADER + string_len(d)?,
        None => 0,
    };
    let len = named_message_len(env, method, FIELD_HEADER + desc + STOP + STOP)?;
    let mut buf = vec![0u8; len];
    let mut out = Out::new(&mut buf);
    put_header(&mut out, env, method, len, MessageType::Reply);
    out.field(ttype::STRUCT, field::RESULT_EXCEPTION);
    if let Some(d) = description {
        out.field(ttype::STRING, field::EXCEPTION_DESCRIPTION);
        put_string(&mut out, d);
    }
    out.stop(); // the exception struct
    out.stop(); // the result struct
    debug_assert_eq!(out.remaining(), 0);
    Ok(buf)
}

/// A successful `getPrediction` reply: its result's field 0, a
/// `PredictionResponse` whose field 1 (`prediction`) is `record`, the
/// bytes of one `DataRecord` struct (its fields and STOP), as
/// [`one_record`] finds them in a response of one record.
///
/// # Errors
///
/// [`Error::TooLarge`] for a framed message over the prefix's `i32`.
///
/// ```
/// use bprwire::service::{self, Envelope};
/// use bprwire::BatchPrediction;
///
/// let response = BatchPrediction::new().continuous(&[7], &[0.5_f32], &[1]).encoder()?.encode_to_vec();
/// let record = service::one_record(&response).expect("one record");
/// let reply = service::prediction_reply(Envelope { seqid: 9, framed: false }, record)?;
/// assert_eq!(&reply[8..21], b"getPrediction");
/// # Ok::<(), bprwire::Error>(())
/// ```
pub fn prediction_reply(env: Envelope, record: &[u8]) -> Result<Vec<u8>, Error> {
    // Result: field 0 header, PredictionResponse { field 1 header, the
    // record }, STOP, STOP.
    let body = FIELD_HEADER
        .checked_add(FIELD_HEADER + STOP + STOP)
        .and_then(|n| n.checked_add(record.len()))
        .ok_or(too_large(usize::MAX))?;
    let len = named_message_len(env, PREDICTION_METHOD, body)?;
    let mut buf = vec![0u8; len];
    let mut out = Out::new(&mut buf);
    put_header(&mut out, env, PREDICTION_METHOD, len, MessageType::Reply);
    out.field(ttype::STRUCT, field::RESULT_SUCCESS);
    out.field(ttype::STRUCT, field::PREDICTION);
    out.put(record);
    out.stop(); // the PredictionResponse
    out.stop(); // the result struct
    debug_assert_eq!(out.remaining(), 0);
    Ok(buf)
}

/// A successful `getBatchPrediction` reply carrying `response`, the bytes
/// of a `BatchPredictionResponse` written elsewhere (by a model's writer
/// op, say) and already checked by the caller: its result's field 0 is
/// those bytes as they are.
///
/// # Errors
///
/// [`Error::TooLarge`] for a framed message over the prefix's `i32`.
///
/// ```
/// use bprwire::service::{self, Envelope, Reply};
/// use bprwire::BatchPrediction;
///
/// let response = BatchPrediction::new().continuous(&[7], &[0.5_f32], &[1]).encode_to_vec()?;
/// let env = Envelope { seqid: 3, framed: true };
/// let reply = service::batch_reply(env, &response)?;
/// let enc = BatchPrediction::new().continuous(&[7], &[0.5_f32], &[1]).encoder()?;
/// assert_eq!(reply, enc.encode_reply_to_vec(env)?);
/// # Ok::<(), bprwire::Error>(())
/// ```
pub fn batch_reply(env: Envelope, response: &[u8]) -> Result<Vec<u8>, Error> {
    // Result: field 0 header, the response, STOP.
    let body = response
        .len()
        .checked_add(FIELD_HEADER + STOP)
        .ok_or(too_large(usize::MAX))?;
    let len = message_len(env, body)?;
    let mut buf = vec![0u8; len];
    let mut out = Out::new(&mut buf);
    put_header(&mut out, env, METHOD, len, MessageType::Reply);
    out.field(ttype::STRUCT, field::RESULT_SUCCESS);
    out.put(response);
    out.stop();
    debug_assert_eq!(out.remaining(), 0);
    Ok(buf)
}

/// The record of a `BatchPredictionResponse` of exactly one record, as
/// this crate's encoder writes it (field 1, a list of one struct, the
/// record, STOP): the bytes [`prediction_reply`] takes. `None` for any
/// other response.
pub fn one_record(response: &[u8]) -> Option<&[u8]> {
    const HEAD: [u8; 8] = [ttype::LIST, 0, 1, ttype::STRUCT, 0, 0, 0, 1];
    let rest = response.strip_prefix(&HEAD)?;
    match rest.split_last() {
        Some((&ttype::STOP, record)) if !record.is_empty() => Some(record),
        _ => None,
    }
}

/// An EXCEPTION message for `getBatchPrediction`: a
/// `TApplicationException { 1: message, 2: type }`, as the Thrift
/// libraries write it for a failure the service did not declare.
///
/// # Errors
///
/// As [`service_exception_reply`], for `message`.
pub fn application_exception(
    env: Envelope,
    message: &str,
    kind: ApplicationErrorKind,
) -> Result<Vec<u8>, Error> {
    application_exception_to(METHOD, env, message, kind)
}

/// As [`application_exception`], for a call of `method` (the method the
/// client called, as Thrift servers answer an unknown one).
///
/// # Errors
///
/// As [`application_exception`], for `message` and `method`.
pub fn application_exception_to(
    method: &str,
    env: Envelope,
    message: &str,
    kind: ApplicationErrorKind,
) -> Result<Vec<u8>, Error> {
    let len = named_message_len(
        env,
        method,
        FIELD_HEADER + string_len(message)? + FIELD_HEADER + I32 + STOP,
    )?;
    let mut buf = vec![0u8; len];
    let mut out = Out::new(&mut buf);
    put_header(&mut out, env, method, len, MessageType::Exception);
    out.field(ttype::STRING, field::APPLICATION_MESSAGE);
    put_string(&mut out, message);
    out.field(ttype::I32, field::APPLICATION_TYPE);
    out.i32(kind as i32);
    out.stop();
    debug_assert_eq!(out.remaining(), 0);
    Ok(buf)
}

/// A decoded `getBatchPrediction` reply.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Message<'a> {
    /// REPLY or EXCEPTION.
    pub message_type: MessageType,
    /// The sequence id (match it against the request's).
    pub seqid: i32,
    /// What the reply carries.
    pub body: Reply<'a>,
}

/// What a `getBatchPrediction` reply carries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reply<'a> {
    /// The response (result field 0).
    Success(Response<'a>),
    /// A declared `PredictionServiceException` (result field 1).
    ServiceException {
        /// Its description, if set.
        description: Option<&'a str>,
    },
    /// An EXCEPTION message's `TApplicationException`.
    ApplicationException {
        /// Its message, if set.
        message: Option<&'a str>,
        /// Its type (see [`ApplicationErrorKind`]), if set.
        kind: Option<i32>,
    },
}

/// Strips the framed transport's length prefix: `bytes` must be exactly
/// one frame.
///
/// # Errors
///
/// A [`DecodeError`] (within the frame header) when `bytes` is shorter
/// than the prefix or the prefix does not declare exactly the bytes that
/// follow it.
///
/// ```
/// assert_eq!(bprwire::service::unframe(&[0, 0, 0, 2, 7, 8]).unwrap(), &[7, 8]);
/// assert!(bprwire::service::unframe(&[0, 0, 0, 3, 7, 8]).is_err());
/// ```
pub fn unframe(bytes: &[u8]) -> Result<&[u8], DecodeError> {
    let mut r = Reader::new(bytes);
    let declared = r.i32().map_err(|e| e.within(Item::FrameHeader))?;
    let body = &bytes[4..];
    if usize::try_from(declared).ok() != Some(body.len()) {
        let kind = DecodeErrorKind::FrameLength {
            declared: declared.into(),
            available: body.len(),
        };
        return Err(r.err_at(0, kind).within(Item::FrameHeader));
    }
    Ok(body)
}

/// Decodes a `getBatchPrediction` reply (REPLY or EXCEPTION) that is
/// exactly `bytes`, after the frame prefix if `framed`. Error offsets
/// count from the start of `bytes`.
///
/// # Errors
///
/// A [`DecodeError`] naming the byte offset and the item being read for
/// bytes that are not such a reply (a bad frame, version, method name or
/// message type, a malformed result struct or response).
pub fn decode_reply(bytes: &[u8], framed: bool) -> Result<Message<'_>, DecodeError> {
    let (base, body) = if framed {
        (I32, unframe(bytes)?)
    } else {
        (0, bytes)
    };
    read_message(body).map_err(|mut e| {
        e.offset += base;
        e
    })
}

const RESULT: &[(i16, u8, Item)] = &[
    (field::RESULT_SUCCESS, ttype::STRUCT, Item::ResultSuccess),
    (field::RESULT_EXCEPTION, ttype::STRUCT, Item::ResultException),
];
const SERVICE_EXCEPTION: &[(i16, u8, Item)] = &[(
    field::EXCEPTION_DESCRIPTION,
    ttype::STRING,
    Item::ServiceExceptionDescription,
)];
const APPLICATION_EXCEPTION: &[(i16, u8, Item)] = &[
    (
        field::APPLICATION_MESSAGE,
        ttype::STRING,
        Item::ApplicationExceptionMessage,
    ),
    (
        field::APPLICATION_TYPE,
        ttype::I32,
        Item::ApplicationExceptionType,
    ),
];

/// The message header of a reply: the strict version word and type, the
/// method name (`getBatchPrediction`), the sequence id.
fn read_header(r: &mut Reader<'_>) -> Result<(MessageType, i32), DecodeError> {
    let (message_type, name_at, method, seqid) = read_any_header(r)?;
    let message_type = match message_type {
        2 => MessageType::Reply,
        3 => MessageType::Exception,
        found => return Err(r.err_at(3, DecodeErrorKind::UnexpectedMessageType { found })),
    };
    if method != METHOD {
        return Err(r.err_at(name_at, DecodeErrorKind::WrongMethod));
    }
    Ok((message_type, seqid))
}

/// Any strict binary message header: the type byte, where the name is,
/// the name, the sequence id. The name is at most [`MAX_METHOD_NAME`]
/// bytes, checked before it is read.
fn read_any_header<'a>(r: &mut Reader<'a>) -> Result<(u8, usize, &'a str, i32), DecodeError> {
    let word = r.i32()? as u32;
    if word & 0xffff_ff00 != VERSION_1 {
        return Err(r.err_at(0, DecodeErrorKind::BadVersion { word }));
    }
    let name_at = r.pos();
    let size = usize::try_from(r.i32()?).unwrap_or(0);
    if size > MAX_METHOD_NAME {
        return Err(r.err_at(name_at, DecodeErrorKind::MethodNameTooLong { size }));
    }
    r.rewind(name_at);
    let method = r.string()?;
    Ok(((word & 0xff) as u8, name_at, method, r.i32()?))
}

fn read_message(bytes: &[u8]) -> Result<Message<'_>, DecodeError> {
    let mut r = Reader::new(bytes);
    let (message_type, seqid) = read_header(&mut r).map_err(|e| e.within(Item::MessageHeader))?;
    let body = match message_type {
        MessageType::Exception => {
            let (mut message, mut kind) = (None, None);
            r.fields(APPLICATION_EXCEPTION, |r, id| {
                match id {
                    field::APPLICATION_MESSAGE => message = Some(r.string()?),
                    _ => kind = Some(r.i32()?),
                }
                Ok(())
            })
            .map_err(|e| e.within(Item::ApplicationException))?;
            Reply::ApplicationException { message, kind }
        }
        // The result struct has exactly one field set: a union.
        _ => union(&mut r, Item::Result, RESULT, |r, id| {
            Ok(match id {
                field::RESULT_SUCCESS => Reply::Success(decode::read_response(r)?),
                _ => {
                    let mut description = None;
                    r.fields(SERVICE_EXCEPTION, |r, _| {
                        description = Some(r.string()?);
                        Ok(())
                    })
                    .map_err(|e| e.within(Item::ServiceException))?;
                    Reply::ServiceException { description }
                }
            })
        })?,
    };
    if r.remaining() != 0 {
        let kind = DecodeErrorKind::TrailingBytes { count: r.remaining() };
        return Err(r.err_at(r.pos(), kind).within(Item::Message));
    }
    Ok(Message {
        message_type,
        seqid,
        body,
    })
}
