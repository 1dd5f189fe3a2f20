//! The server's direction: a call message read in place, its header first
//! (so that a server can answer an unknown method by name and sequence
//! id), then `getBatchPrediction`'s argument, the request.

use super::{read_any_header, Envelope, MessageType, METHOD, PREDICTION_METHOD};
use crate::decode::{self, find_field, DecodeError, DecodeErrorKind, Item, Reader, Request};
use crate::wire::{field, ttype};

/// A call message, its header read and checked, its arguments not yet
/// (see [`batch_request`](Call::batch_request)). Borrows the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call<'a> {
    /// CALL, or ONEWAY (which takes no reply).
    pub message_type: MessageType,
    /// The method called (UTF-8, at most [`MAX_METHOD_NAME`](super::MAX_METHOD_NAME) bytes).
    pub method: &'a str,
    /// The sequence id, to be given back in the reply.
    pub seqid: i32,
    message: &'a [u8],
    args_at: usize,
}

/// Reads the header of a call message that is exactly `message` (the
/// frame's contents on the framed transport; what a
/// [`MessageScanner`](super::MessageScanner) delimited on the unframed
/// one): the strict version word, a CALL or ONEWAY type, the method name
/// and the sequence id. The arguments are read by
/// [`Call::batch_request`].
///
/// # Errors
///
/// A [`DecodeError`] within the message header: a first word that is not
/// strict binary (`BadVersion`), another message type (`NotACall`), a
/// method name longer than [`MAX_METHOD_NAME`](super::MAX_METHOD_NAME)
/// (`MethodNameTooLong`) or not UTF-8, a message that ends early.
///
/// ```
/// use bprwire::service::{decode_call, MessageType};
///
/// let mut msg = 0x8001_0001u32.to_be_bytes().to_vec(); // strict, CALL
/// msg.extend(18i32.to_be_bytes());
/// msg.extend(b"getBatchPrediction");
/// msg.extend(7i32.to_be_bytes());                     // seqid
/// msg.extend([0x0C, 0, 1, 0x0F, 0, 1, 0x0C, 0, 0, 0, 0, 0, 0]); // args { request { [] } }
/// let call = decode_call(&msg)?;
/// assert_eq!((call.message_type, call.method, call.seqid), (MessageType::Call, "getBatchPrediction", 7));
/// assert_eq!(call.batch_request()?.len(), 0);
/// # Ok::<(), bprwire::decode::DecodeError>(())
/// ```
pub fn decode_call(message: &[u8]) -> Result<Call<'_>, DecodeError> {
    let mut r = Reader::new(message);
    let header = read_any_header(&mut r).and_then(|(message_type, _, method, seqid)| {
        let message_type = match message_type {
            1 => MessageType::Call,
            4 => MessageType::Oneway,
            found => return Err(r.err_at(3, DecodeErrorKind::NotACall { found })),
        };
        Ok((message_type, method, seqid))
    });
    let (message_type, method, seqid) = header.map_err(|e| e.within(Item::MessageHeader))?;
    Ok(Call {
        message_type,
        method,
        seqid,
        message,
        args_at: r.pos(),
    })
}

const ARGS: &[(i16, u8, Item)] = &[(field::CALL_REQUEST, ttype::STRUCT, Item::CallRequest)];

/// `getPrediction_args`: field 1, the `PredictionRequest`.
const PREDICTION_ARGS: &[(i16, u8, Item)] =
    &[(field::CALL_REQUEST, ttype::STRUCT, Item::PredictionCallRequest)];

/// `PredictionRequest`: field 1, the record.
const PREDICTION_REQUEST: &[(i16, u8, Item)] =
    &[(field::PREDICTION, ttype::STRUCT, Item::PredictionFeatures)];

/// A `BatchPredictionRequest`'s bytes before its one record: field 1, a
/// list of one struct.
const ONE_RECORD_HEAD: [u8; 8] = [ttype::LIST, 0, 1, ttype::STRUCT, 0, 0, 0, 1];

impl<'a> Call<'a> {
    /// Where the reply goes: this call's sequence id, on a framed
    /// transport or not.
    pub fn envelope(&self, framed: bool) -> Envelope {
        Envelope {
            seqid: self.seqid,
            framed,
        }
    }

    /// Whether this is a call of `getBatchPrediction`.
    pub fn is_batch_prediction(&self) -> bool {
        self.method == METHOD
    }

    /// Whether this is a call of `getPrediction` (one record in, one out).
    pub fn is_prediction(&self) -> bool {
        self.method == PREDICTION_METHOD
    }

    /// Reads the arguments as `getPrediction`'s: a struct whose field 1
    /// is a `PredictionRequest`, whose field 1 is the record (unknown
    /// fields skipped, with the decoder's limits), ending the message; and
    /// returns the `BatchPredictionRequest` of that one record (a copy of
    /// its bytes), which [`decode_request`](crate::decode::decode_request)
    /// then reads with all its checks. So a server answers `getPrediction`
    /// as a batch of one.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`]: a malformed argument struct or request, no
    /// request or no record (`MissingField`), bytes after the arguments.
    ///
    /// ```
    /// use bprwire::service::decode_call;
    ///
    /// let mut msg = 0x8001_0001u32.to_be_bytes().to_vec(); // strict, CALL
    /// msg.extend(13i32.to_be_bytes());
    /// msg.extend(b"getPrediction");
    /// msg.extend(5i32.to_be_bytes());                     // seqid
    /// // args { request { features { } } }
    /// msg.extend([0x0C, 0, 1, 0x0C, 0, 1, 0, 0, 0]);
    /// let call = decode_call(&msg)?;
    /// assert!(call.is_prediction());
    /// let request = call.prediction_request()?;
    /// assert_eq!(bprwire::decode::decode_request(&request)?.len(), 1);
    /// # Ok::<(), bprwire::decode::DecodeError>(())
    /// ```
    pub fn prediction_request(&self) -> Result<Vec<u8>, DecodeError> {
        let mut r = Reader::new(self.message);
        r.pos_add(self.args_at);
        let mut record = None;
        r.fields(PREDICTION_ARGS, |r, _| {
            let at = r.pos();
            let mut found = None;
            r.fields(PREDICTION_REQUEST, |r, _| {
                let start = r.pos();
                r.skip(ttype::STRUCT, start)?;
                found = Some(r.since(start));
                Ok(())
            })?;
            record = Some(r.required(found, Item::PredictionFeatures, at)?);
            Ok(())
        })
        .map_err(|e| e.within(Item::PredictionArgs))?;
        let record = r.required(record, Item::PredictionCallRequest, self.args_at)?;
        if r.remaining() != 0 {
            let kind = DecodeErrorKind::TrailingBytes { count: r.remaining() };
            return Err(r.err_at(r.pos(), kind).within(Item::Message));
        }
        let mut request = Vec::with_capacity(ONE_RECORD_HEAD.len() + record.len() + 1);
        request.extend_from_slice(&ONE_RECORD_HEAD);
        request.extend_from_slice(record);
        request.push(ttype::STOP);
        Ok(request)
    }

    /// The argument struct's bytes (after the header, to the end of the
    /// message).
    pub fn args(&self) -> &'a [u8] {
        &self.message[self.args_at..]
    }

    /// The number of records the request in the arguments declares, read
    /// without decoding them: the argument struct's and the request's
    /// fields before `individualFeaturesList` are stepped over (with the
    /// decoder's limits), then the list's header is read. Cheap whatever
    /// the request's size, so that a server can refuse too many records
    /// or plan a batch before it decodes; [`batch_request`](Self::batch_request)
    /// still does every check.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for what is read on the way: a field header, a
    /// skipped value, no request or no `individualFeaturesList`, either of
    /// the wrong type, a list whose elements are not structs or that
    /// declares more than the remaining bytes could hold.
    pub fn batch_request_records(&self) -> Result<usize, DecodeError> {
        let mut r = Reader::new(self.message);
        r.pos_add(self.args_at);
        find_field(&mut r, field::CALL_REQUEST, ttype::STRUCT, Item::CallRequest)
            .map_err(|e| e.within(Item::CallArgs))?;
        decode::read_request_records(&mut r)
    }

    /// Reads the arguments as `getBatchPrediction`'s: a struct whose field
    /// 1 is the `BatchPredictionRequest` (unknown fields skipped), ending
    /// the message. The request is decoded in place with the checks of
    /// [`decode_request`](crate::decode::decode_request); error offsets
    /// count from the start of the message.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`]: a malformed argument struct or request, no
    /// request (`MissingField` within `getBatchPrediction_args.batchRequest`),
    /// bytes after the arguments (`TrailingBytes`).
    pub fn batch_request(&self) -> Result<Request<'a>, DecodeError> {
        let mut r = Reader::new(self.message);
        r.pos_add(self.args_at);
        let mut request = None;
        r.fields(ARGS, |r, _| {
            request = Some(decode::read_request(r, false)?);
            Ok(())
        })
        .map_err(|e| e.within(Item::CallArgs))?;
        let request = r.required(request, Item::CallRequest, self.args_at)?;
        if r.remaining() != 0 {
            let kind = DecodeErrorKind::TrailingBytes { count: r.remaining() };
            return Err(r.err_at(r.pos(), kind).within(Item::Message));
        }
        Ok(request)
    }
}
