//! Where a message ends on the unframed (buffered) transport, whose
//! messages carry no length: the binary protocol's grammar walked over the
//! bytes received so far, resumable, so that a message arriving a byte at
//! a time costs each byte one look, not a rescan of all before it.

use super::{MAX_METHOD_NAME, VERSION_1};
use crate::decode::{fixed_width, min_width};
use crate::decode::{DecodeError, DecodeErrorKind, Item, MAX_DEPTH};
use crate::wire::ttype;

/// What [`MessageScanner::scan`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// The message is the first `n` bytes.
    Complete(usize),
    /// The message goes on: nothing more can be said before there are at
    /// least this many bytes (from the message's start).
    NeedMore(usize),
}

/// A container whose elements are being walked.
#[derive(Clone, Copy, Debug)]
enum Frame {
    /// Fields until STOP.
    Struct,
    /// `left` more elements of type `t` (a list or set).
    Elements { t: u8, left: usize },
    /// `left` more entries; `value_next` when the key has been walked.
    Entries {
        k: u8,
        v: u8,
        left: usize,
        value_next: bool,
    },
}

/// Finds the end of each strict binary message (any method) in a stream:
/// the header (version word, a method name of at most
/// [`MAX_METHOD_NAME`] bytes, the sequence id), then one struct, walked by
/// the protocol's grammar without building anything. Containers of fixed
/// width elements are stepped over whole. Type codes, sizes and nesting
/// (to [`MAX_DEPTH`]) are checked as the decoder checks them; whether the
/// struct is a valid request is left to the decoder
/// ([`Call::batch_request`](super::Call::batch_request)).
///
/// A message longer than `limit` is refused as soon as a declared size
/// shows it ([`DecodeErrorKind::MessageTooLarge`]), before its bytes
/// arrive.
///
/// ```
/// use bprwire::service::{MessageScanner, Scan};
///
/// let mut msg = 0x8001_0001u32.to_be_bytes().to_vec();
/// msg.extend(1i32.to_be_bytes());
/// msg.extend(b"m");
/// msg.extend(9i32.to_be_bytes());
/// msg.extend([0x0B, 0, 1, 0, 0, 0, 2, b'h', b'i', 0]); // { 1: "hi" }
/// let mut scanner = MessageScanner::new(1 << 20);
/// assert_eq!(scanner.scan(&msg[..10])?, Scan::NeedMore(13));
/// assert_eq!(scanner.scan(&[&msg[..], &[0x80]].concat())?, Scan::Complete(msg.len()));
/// # Ok::<(), bprwire::decode::DecodeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct MessageScanner {
    limit: usize,
    /// Bytes of the message walked so far.
    pos: usize,
    header_done: bool,
    /// Bytes of a string (or fixed-width container) still to step over.
    skip: usize,
    /// The type of the value that comes next, if one does.
    pending: Option<u8>,
    stack: Vec<Frame>,
}

impl MessageScanner {
    /// A scanner for messages of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        MessageScanner {
            limit,
            pos: 0,
            header_done: false,
            skip: 0,
            pending: None,
            stack: Vec::new(),
        }
    }

    /// Forgets the message being walked (done by [`scan`](Self::scan) when
    /// it returns [`Scan::Complete`], so that the next call starts a new
    /// message).
    pub fn reset(&mut self) {
        self.pos = 0;
        self.header_done = false;
        self.skip = 0;
        self.pending = None;
        self.stack.clear();
    }

    /// Walks on through `buf`: the bytes received so far of one message,
    /// from its first byte (each call passes what the previous one did,
    /// and maybe more; only the new bytes are looked at). Bytes past the
    /// message's end (the next message, pipelined) are not looked at.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] (offsets from the message's start) for bytes that
    /// cannot begin a valid message whatever follows: a first word that is
    /// not strict binary, a method name over [`MAX_METHOD_NAME`] bytes or
    /// of negative length, an invalid type code, a negative size, nesting
    /// deeper than [`MAX_DEPTH`], a message over the limit. The scanner
    /// must be [`reset`](Self::reset) before it is used again.
    ///
    /// # Panics
    ///
    /// Never for any bytes; `buf` shorter than a previous call's (which
    /// breaks the contract above) is taken as no new bytes.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Scan, DecodeError> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(buf.len().saturating_sub(self.pos));
                self.pos += n;
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(Scan::NeedMore(self.pos + self.skip));
                }
            }
            if !self.header_done {
                if let Some(more) = self.header(buf)? {
                    return Ok(more);
                }
                continue;
            }
            if let Some(t) = self.pending.take() {
                if let Some(more) = self.value(buf, t)? {
                    self.pending = Some(t);
                    return Ok(more);
                }
                continue;
            }
            match self.stack.last_mut() {
                None => {
                    let end = self.pos;
                    self.reset();
                    return Ok(Scan::Complete(end));
                }
                Some(Frame::Struct) => {
                    if let Some(more) = self.need(buf, 1)? {
                        return Ok(more);
                    }
                    let t = buf[self.pos];
                    if t == ttype::STOP {
                        self.pos += 1;
                        self.stack.pop();
                        continue;
                    }
                    if let Some(more) = self.need(buf, 3)? {
                        return Ok(more);
                    }
                    self.pos += 3;
                    self.pending = Some(t);
                }
                Some(Frame::Elements { t, left }) => match left.checked_sub(1) {
                    None => {
                        self.stack.pop();
                    }
                    Some(rest) => {
                        *left = rest;
                        self.pending = Some(*t);
                    }
                },
                Some(Frame::Entries {
                    k,
                    v,
                    left,
                    value_next,
                }) => {
                    if *value_next {
                        *value_next = false;
                        self.pending = Some(*v);
                    } else if let Some(rest) = left.checked_sub(1) {
                        *left = rest;
                        *value_next = true;
                        self.pending = Some(*k);
                    } else {
                        self.stack.pop();
                    }
                }
            }
        }
    }

    /// `Some(NeedMore)` unless `n` more bytes are there; an error if the
    /// message would pass the limit.
    fn need(&self, buf: &[u8], n: usize) -> Result<Option<Scan>, DecodeError> {
        let end = self.pos.saturating_add(n);
        if end > self.limit {
            return Err(self.too_large(end as u64));
        }
        Ok((buf.len() < end).then_some(Scan::NeedMore(end)))
    }

    fn too_large(&self, needed: u64) -> DecodeError {
        error(
            self.pos,
            DecodeErrorKind::MessageTooLarge {
                needed,
                limit: self.limit,
            },
        )
    }

    /// The message header, whole or not at all.
    fn header(&mut self, buf: &[u8]) -> Result<Option<Scan>, DecodeError> {
        // The version word is judged as soon as it is there: a client
        // speaking another protocol is refused at its fourth byte.
        if let Some(more) = self.need(buf, 4)? {
            return Ok(Some(more));
        }
        let word = be_u32(buf, 0);
        if word & 0xffff_ff00 != VERSION_1 {
            return Err(error(0, DecodeErrorKind::BadVersion { word }).within(Item::MessageHeader));
        }
        if let Some(more) = self.need(buf, 8)? {
            return Ok(Some(more));
        }
        let size = be_u32(buf, 4) as i32;
        let name = match usize::try_from(size) {
            Err(_) => {
                return Err(error(4, DecodeErrorKind::NegativeSize { size }).within(Item::MessageHeader))
            }
            Ok(n) if n > MAX_METHOD_NAME => {
                return Err(
                    error(4, DecodeErrorKind::MethodNameTooLong { size: n }).within(Item::MessageHeader)
                )
            }
            Ok(n) => n,
        };
        if let Some(more) = self.need(buf, 8 + name + 4)? {
            return Ok(Some(more));
        }
        self.pos += 8 + name + 4;
        self.header_done = true;
        self.pending = Some(ttype::STRUCT);
        Ok(None)
    }

    /// Steps into or over one value of type `t` at `pos` (`None` when done,
    /// `Some(NeedMore)` with nothing consumed when its header is not all
    /// there).
    fn value(&mut self, buf: &[u8], t: u8) -> Result<Option<Scan>, DecodeError> {
        if let Some(w) = fixed_width(t) {
            self.skip = w;
            return Ok(None);
        }
        let at = self.pos;
        match t {
            ttype::STRING => {
                if let Some(more) = self.need(buf, 4)? {
                    return Ok(Some(more));
                }
                self.pos += 4;
                self.skip = self.size(buf, at, 1)?;
            }
            ttype::STRUCT => self.push(at, Frame::Struct)?,
            ttype::LIST | ttype::SET => {
                if let Some(more) = self.need(buf, 5)? {
                    return Ok(Some(more));
                }
                let e = buf[at];
                let min = min_width(e).ok_or_else(|| invalid_type(at, e))?;
                self.pos += 5;
                let left = self.size(buf, at + 1, min)?;
                match fixed_width(e) {
                    Some(w) => self.skip = left * w,
                    None => self.push(at, Frame::Elements { t: e, left })?,
                }
            }
            ttype::MAP => {
                if let Some(more) = self.need(buf, 6)? {
                    return Ok(Some(more));
                }
                let (k, v) = (buf[at], buf[at + 1]);
                let kmin = min_width(k).ok_or_else(|| invalid_type(at, k))?;
                let vmin = min_width(v).ok_or_else(|| invalid_type(at + 1, v))?;
                self.pos += 6;
                let left = self.size(buf, at + 2, kmin + vmin)?;
                match (fixed_width(k), fixed_width(v)) {
                    (Some(kw), Some(vw)) => self.skip = left * (kw + vw),
                    _ => self.push(
                        at,
                        Frame::Entries {
                            k,
                            v,
                            left,
                            value_next: false,
                        },
                    )?,
                }
            }
            code => return Err(invalid_type(at, code)),
        }
        Ok(None)
    }

    /// The size at `at` (already received), refused when negative or when
    /// that many elements of `min` bytes would take the message over the
    /// limit.
    fn size(&self, buf: &[u8], at: usize, min: usize) -> Result<usize, DecodeError> {
        let size = be_u32(buf, at) as i32;
        let Ok(n) = usize::try_from(size) else {
            return Err(error(at, DecodeErrorKind::NegativeSize { size }));
        };
        let needed = (self.pos as u64).saturating_add(n as u64 * min as u64);
        if needed > self.limit as u64 {
            return Err(self.too_large(needed));
        }
        Ok(n)
    }

    fn push(&mut self, at: usize, frame: Frame) -> Result<(), DecodeError> {
        if self.stack.len() == MAX_DEPTH {
            return Err(error(at, DecodeErrorKind::TooDeep { limit: MAX_DEPTH }));
        }
        self.stack.push(frame);
        Ok(())
    }
}

fn be_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn error(offset: usize, kind: DecodeErrorKind) -> DecodeError {
    DecodeError {
        kind,
        offset,
        item: None,
        record: None,
    }
}

fn invalid_type(at: usize, code: u8) -> DecodeError {
    error(at, DecodeErrorKind::InvalidType { code })
}
