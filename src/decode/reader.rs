//! A bounds-checked cursor over the input, and the skipping of unknown
//! fields. Every read either succeeds or names the offset and the item.

use super::error::{DecodeError, DecodeErrorKind, Item};
use crate::wire::ttype;

/// The deepest nesting of structs and containers accepted. The schema
/// itself needs 9 (a string inside a sparse tensor's values); the rest is
/// room for unknown fields, which are skipped. Thrift's own libraries use 64.
pub const MAX_DEPTH: usize = 64;

/// The cursor. `skipped`
/// counts unknown fields, `canonical` turns false when the input is valid
/// but is not what an encoder writing fields in ascending id order without
/// unknown fields would produce.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
    pub(crate) skipped: usize,
    pub(crate) canonical: bool,
    /// Whether records and tensors in bprwire's layout take the fast path
    /// (`decode/fast.rs`); off only to test the general reader alone.
    pub(crate) fast: bool,
    /// The bytes were checked already (a view being iterated): the fast
    /// path needs only the extents of strings and bools, not their checks.
    pub(crate) trusted: bool,
}

pub(crate) type Result<T> = core::result::Result<T, DecodeError>;

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            depth: 0,
            skipped: 0,
            canonical: true,
            fast: true,
            trusted: false,
        }
    }

    /// A reader over bytes a [`Reader::new`] already checked (a view's
    /// contents, re-read when it is iterated).
    #[inline]
    pub(crate) fn checked(buf: &'a [u8]) -> Self {
        Reader {
            trusted: true,
            ..Reader::new(buf)
        }
    }

    /// The whole input.
    #[inline(always)]
    pub(crate) fn buf(&self) -> &'a [u8] {
        self.buf
    }

    /// The nesting depth (structs and containers entered).
    #[inline]
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Moves back to `pos` (a position this reader was at).
    #[inline]
    pub(crate) fn rewind(&mut self, pos: usize) {
        debug_assert!(pos <= self.pos);
        self.pos = pos;
    }

    /// The next `N` bytes, if there are that many (nothing consumed).
    #[inline(always)]
    pub(crate) fn peek<const N: usize>(&self) -> Option<&'a [u8; N]> {
        self.buf.get(self.pos..)?.first_chunk::<N>()
    }

    /// Moves past `n` bytes that [`peek`](Self::peek) showed are there.
    #[inline(always)]
    pub(crate) fn pos_add(&mut self, n: usize) {
        debug_assert!(n <= self.remaining());
        self.pos += n;
    }

    /// The next `n` bytes, consumed; `None` (nothing consumed) if the input
    /// ends first. The fast path's read: no error is built.
    #[inline(always)]
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.buf.get(self.pos..)?.get(..n)?;
        self.pos += n;
        Some(b)
    }

    /// Consumes `expected` if the input continues with exactly it (a
    /// fixed-size compare, no loop).
    #[inline(always)]
    pub(crate) fn take_if<const N: usize>(&mut self, expected: [u8; N]) -> bool {
        let found = self.peek::<N>() == Some(&expected);
        if found {
            self.pos += N;
        }
        found
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes read since `start`.
    pub(crate) fn since(&self, start: usize) -> &'a [u8] {
        &self.buf[start..self.pos]
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// An error about the item starting at `offset`.
    pub(crate) fn err_at(&self, offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            kind,
            offset,
            item: None,
            record: None,
        }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        match self.buf.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => Err(self.err_at(
                self.pos,
                DecodeErrorKind::UnexpectedEnd {
                    needed: n,
                    remaining: self.remaining(),
                },
            )),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let b = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub(crate) fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    pub(crate) fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(u64::from_be_bytes(self.array()?)))
    }

    pub(crate) fn bool(&mut self) -> Result<bool> {
        let at = self.pos;
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            byte => Err(self.err_at(at, DecodeErrorKind::InvalidBool { byte })),
        }
    }

    /// A container or binary size: refused when negative, or when `size`
    /// elements of at least `min_bytes` each cannot fit in what is left.
    /// This bound is what keeps a hostile size from driving a long loop or
    /// a large allocation.
    pub(crate) fn size(&mut self, min_bytes: usize) -> Result<usize> {
        let (at, size) = self.declared_size()?;
        let remaining = self.remaining();
        if size.checked_mul(min_bytes).is_none_or(|n| n > remaining) {
            return Err(self.err_at(
                at,
                DecodeErrorKind::SizeExceedsInput {
                    size,
                    min_element_bytes: min_bytes,
                    remaining,
                },
            ));
        }
        Ok(size)
    }

    /// A size field (container or binary): where it was, and its value,
    /// refused if negative.
    fn declared_size(&mut self) -> Result<(usize, usize)> {
        let at = self.pos;
        let size = self.i32()?;
        match usize::try_from(size) {
            Ok(size) => Ok((at, size)),
            Err(_) => Err(self.err_at(at, DecodeErrorKind::NegativeSize { size })),
        }
    }

    pub(crate) fn binary(&mut self) -> Result<&'a [u8]> {
        let (at, size) = self.declared_size()?;
        let remaining = self.remaining();
        if size > remaining {
            return Err(self.err_at(at, DecodeErrorKind::BytesExceedInput { size, remaining }));
        }
        self.bytes(size)
    }

    pub(crate) fn string(&mut self) -> Result<&'a str> {
        let at = self.pos;
        let b = self.binary()?;
        core::str::from_utf8(b).map_err(|e| {
            self.err_at(
                at,
                DecodeErrorKind::InvalidUtf8 {
                    valid_up_to: e.valid_up_to(),
                },
            )
        })
    }

    /// Reads a type code that must be `expected`.
    pub(crate) fn expect_type(&mut self, expected: u8) -> Result<()> {
        let at = self.pos;
        let found = self.u8()?;
        if found == expected {
            Ok(())
        } else {
            Err(self.err_at(at, DecodeErrorKind::WrongType { expected, found }))
        }
    }

    /// Enters a struct or container: one level deeper.
    pub(crate) fn enter(&mut self) -> Result<()> {
        if self.depth == MAX_DEPTH {
            return Err(self.err_at(self.pos, DecodeErrorKind::TooDeep { limit: MAX_DEPTH }));
        }
        self.depth += 1;
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// A field header: `None` at STOP, else the type and the id.
    pub(crate) fn field(&mut self) -> Result<Option<(u8, i16)>> {
        let t = self.u8()?;
        if t == ttype::STOP {
            return Ok(None);
        }
        Ok(Some((t, self.i16()?)))
    }

    /// A struct's field loop. `on_field` gets each known field (type
    /// already checked against `schema`, which maps an id to its type and
    /// schema item) and reads it; unknown ids are skipped, as Thrift
    /// requires. A field seen twice is refused (ids are below 16 in this
    /// schema: one bit each). An error from a field's value is about that
    /// field unless an inner one claimed it; one from the struct's own
    /// bytes (a field header, an unknown field) is left for the enclosing
    /// field or struct. Re-reading checked bytes skips the checks.
    pub(crate) fn fields(
        &mut self,
        schema: &[(i16, u8, Item)],
        mut on_field: impl FnMut(&mut Self, i16) -> Result<()>,
    ) -> Result<()> {
        self.enter()?;
        let mut seen = 0u16;
        let mut last = i16::MIN;
        loop {
            let at = self.pos;
            let Some((t, id)) = self.field()? else { break };
            if id <= last {
                self.canonical = false;
            }
            last = id;
            match schema.iter().find(|f| f.0 == id) {
                Some(&(_, expected, item)) => {
                    if !self.trusted {
                        if t != expected {
                            let kind = DecodeErrorKind::WrongType { expected, found: t };
                            return Err(self.err_at(at, kind).within(item));
                        }
                        let bit = 1u16 << id;
                        if seen & bit != 0 {
                            return Err(self
                                .err_at(at, DecodeErrorKind::DuplicateField { id })
                                .within(item));
                        }
                        seen |= bit;
                    }
                    on_field(self, id).map_err(|e| e.within(item))?;
                }
                None => {
                    self.skipped += 1;
                    self.canonical = false;
                    self.skip(t, at)?;
                }
            }
        }
        self.leave();
        Ok(())
    }

    /// The value of a required field, or `MissingField` naming it, at the
    /// start of its struct (`at`).
    pub(crate) fn required<T>(&self, value: Option<T>, item: Item, at: usize) -> Result<T> {
        value.ok_or_else(|| self.err_at(at, DecodeErrorKind::MissingField).within(item))
    }

    /// Skips one value of type `t` (an unknown field). `at` is where its
    /// header started, for an invalid type code.
    pub(crate) fn skip(&mut self, t: u8, at: usize) -> Result<()> {
        if let Some(n) = fixed_width(t) {
            self.bytes(n)?;
            return Ok(());
        }
        match t {
            ttype::STRING => {
                self.binary()?;
            }
            ttype::STRUCT => {
                self.enter()?;
                loop {
                    let at = self.pos;
                    let Some((t, _)) = self.field()? else { break };
                    self.skip(t, at)?;
                }
                self.leave();
            }
            ttype::MAP => {
                self.enter()?;
                let kat = self.pos;
                let k = self.u8()?;
                let vat = self.pos;
                let v = self.u8()?;
                let (kmin, vmin) = (self.min_width(k, kat)?, self.min_width(v, vat)?);
                let n = self.size(kmin + vmin)?;
                match (fixed_width(k), fixed_width(v)) {
                    // size() checked n * (kw + vw) <= remaining.
                    (Some(kw), Some(vw)) => {
                        self.bytes(n * (kw + vw))?;
                    }
                    _ => {
                        for _ in 0..n {
                            self.skip(k, kat)?;
                            self.skip(v, vat)?;
                        }
                    }
                }
                self.leave();
            }
            ttype::LIST | ttype::SET => {
                self.enter()?;
                let eat = self.pos;
                let e = self.u8()?;
                let n = self.size(self.min_width(e, eat)?)?;
                match fixed_width(e) {
                    Some(w) => {
                        self.bytes(n * w)?;
                    }
                    None => {
                        for _ in 0..n {
                            self.skip(e, eat)?;
                        }
                    }
                }
                self.leave();
            }
            code => return Err(self.err_at(at, DecodeErrorKind::InvalidType { code })),
        }
        Ok(())
    }

    /// The fewest bytes a value of type `t` takes; refuses invalid codes.
    fn min_width(&self, t: u8, at: usize) -> Result<usize> {
        min_width(t).ok_or_else(|| self.err_at(at, DecodeErrorKind::InvalidType { code: t }))
    }
}

/// The fewest bytes a value of type `t` takes; `None` for a code that is
/// not a type (STOP included).
pub(crate) fn min_width(t: u8) -> Option<usize> {
    fixed_width(t).or(match t {
        ttype::STRING => Some(4),
        ttype::STRUCT => Some(1),
        ttype::MAP => Some(6),
        ttype::LIST | ttype::SET => Some(5),
        _ => None,
    })
}

/// Bytes of a fixed-width type, `None` for the others.
pub(crate) fn fixed_width(t: u8) -> Option<usize> {
    match t {
        ttype::BOOL | ttype::BYTE => Some(1),
        ttype::I16 => Some(2),
        ttype::I32 => Some(4),
        ttype::DOUBLE | ttype::I64 => Some(8),
        _ => None,
    }
}
