//! Reading numpy `.npy` files into bprwire's inputs (feature `npy`; the
//! `bprwire` CLI uses it).
//!
//! The header is parsed here, by a strict reader of the small Python
//! literal that numpy writes (`{'descr': '<f4', 'fortran_order': False,
//! 'shape': (3, 4), }`): every dimension is a decimal integer, the element
//! count and the data size are computed with checked arithmetic, and both
//! are checked against the bytes the file really has before anything is
//! done with them. Nothing is ever allocated in proportion to what a header
//! claims, only to the file's own size: a 128-byte file that claims 2^31
//! elements of zero bytes costs 128 bytes.
//!
//! The payload stays the file's own bytes: a little-endian fixed-size array
//! reaches the encoder as [`TensorData::Raw`] without a copy, and a bytes
//! array (`|S…`) as [`TensorData::Padded`], read in place. The two copies a
//! file can cost are a byte-swapped one (big-endian data) and a UTF-8 one
//! (unicode `<U…` data, converted into the same number of bytes), so memory
//! stays within twice the file.
//!
//! ```
//! use bprwire::npy::NpyArray;
//! use bprwire::{BatchPrediction, Tensor};
//!
//! // A [2, 2] float32 array, as numpy.save writes it.
//! let header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
//! let mut file = b"\x93NUMPY\x01\x00".to_vec();
//! file.extend((header.len() as u16 + 1).to_le_bytes());
//! file.extend(header);
//! file.push(b'\n');
//! file.extend([0.5f32, 1.0, 1.5, 2.0].iter().flat_map(|x| x.to_le_bytes()));
//!
//! let array = NpyArray::parse(file)?;
//! assert_eq!(array.shape(), &[2, 2]);
//! let elements = array.elements()?; // borrows the file's bytes here
//! let tensors = [Tensor::new(elements.tensor_data(Default::default()), array.shape())];
//! let enc = BatchPrediction::new().dense(&[7], &tensors).encoder()?;
//! assert_eq!(enc.batch_size(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::{DataType, StringKind, TensorData};

/// The element types accepted, as numpy spells them (for messages).
pub const ACCEPTED_DTYPES: &str = "'<f4' '<f8' '<i4' '<i8' '|u1' '|b1' '<U…' '|S…'";

/// Why a file is not an `.npy` array bprwire can read. The message says
/// what is wrong (the caller adds which file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyError(String);

impl NpyError {
    fn new(msg: impl Into<String>) -> Self {
        NpyError(msg.into())
    }

    fn header(msg: impl fmt::Display) -> Self {
        NpyError(format!("not a valid npy header: {msg}"))
    }
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NpyError {}

/// Element type of an array, as far as the encoder cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// A fixed-size type bprwire writes as a raw tensor.
    Fixed {
        /// The wire type.
        dtype: DataType,
        /// Bytes per element.
        size: usize,
        /// Stored big-endian (`>`): swapped before encoding.
        big_endian: bool,
    },
    /// numpy unicode `U<units>`: UTF-32 code units, NUL-padded.
    Unicode {
        /// Code units per element.
        units: usize,
        /// Stored big-endian (`>U`).
        big_endian: bool,
    },
    /// numpy bytes `S<len>`, NUL-padded.
    ByteStr {
        /// Bytes per element.
        len: usize,
    },
}

impl Elem {
    /// Bytes one element takes in the file (`None`: more than `usize`).
    fn item_size(self) -> Option<usize> {
        match self {
            Elem::Fixed { size, .. } => Some(size),
            Elem::Unicode { units, .. } => units.checked_mul(4),
            Elem::ByteStr { len } => Some(len),
        }
    }
}

/// One `.npy` file, read whole and checked: C order, a dtype from
/// [`ACCEPTED_DTYPES`], exactly as many data bytes as the shape needs.
#[derive(Clone, Debug)]
pub struct NpyArray {
    descr: String,
    elem: Elem,
    shape: Vec<usize>,
    len: usize,
    bytes: Vec<u8>,
    data_start: usize,
}

impl NpyArray {
    /// Checks `bytes`, the contents of an `.npy` file, and keeps them.
    ///
    /// # Errors
    ///
    /// An [`NpyError`] saying what is wrong: not an npy file, a version
    /// other than 1.0, 2.0 or 3.0, a truncated or malformed header, Fortran
    /// order, an element type outside [`ACCEPTED_DTYPES`], a shape whose
    /// element count or byte size overflows, or data that is shorter or
    /// longer than the shape needs.
    pub fn parse(bytes: Vec<u8>) -> Result<NpyArray, NpyError> {
        let d = describe(&bytes)?;
        let (shown, descr, needed) = (Dims(&d.shape), &d.descr, d.data_len);
        let found = bytes.len() - d.data_start;
        if found < needed {
            return Err(NpyError::new(format!(
                "truncated data: shape {shown} of '{descr}' needs {needed} data bytes but the file has {found}"
            )));
        }
        if found > needed {
            return Err(NpyError::new(format!(
                "{} unexpected bytes after the data: shape {shown} of '{descr}' needs {needed} data bytes but the file has {found}",
                found - needed
            )));
        }
        Ok(NpyArray {
            descr: d.descr,
            elem: d.elem,
            shape: d.shape,
            len: d.len,
            bytes,
            data_start: d.data_start,
        })
    }

    /// The length a whole `.npy` file must have, from its first bytes
    /// (`head`: at least the magic string, the version, the header length
    /// and the header), so that a reader can check a file's size against
    /// its own header before reading its data.
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse), for everything the header says.
    pub fn file_len(head: &[u8]) -> Result<usize, NpyError> {
        let d = describe(head)?;
        d.data_start.checked_add(d.data_len).ok_or_else(|| {
            NpyError::new(format!(
                "shape {} of '{}' needs more bytes than fit in memory",
                Dims(&d.shape),
                d.descr
            ))
        })
    }
}

impl NpyArray {
    /// The dtype as the header spells it (`<f4`, `|S5`, ...).
    pub fn descr(&self) -> &str {
        &self.descr
    }

    /// The element type.
    pub fn elem(&self) -> Elem {
        self.elem
    }

    /// The shape from the header.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of elements (the product of the shape).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The payload: exactly the bytes of the elements.
    pub fn data(&self) -> &[u8] {
        &self.bytes[self.data_start..]
    }

    /// For a fixed-size array, its wire type and its elements' little-endian
    /// bytes: borrowed from the file, unless the file is big-endian (then
    /// swapped into a copy, the one case that copies). `None` for strings.
    pub fn fixed_le(&self) -> Option<(DataType, Cow<'_, [u8]>)> {
        let Elem::Fixed {
            dtype,
            size,
            big_endian,
        } = self.elem
        else {
            return None;
        };
        let data = self.data();
        if !big_endian || size == 1 {
            return Some((dtype, Cow::Borrowed(data)));
        }
        let mut swapped = data.to_vec();
        for chunk in swapped.chunks_exact_mut(size) {
            chunk.reverse();
        }
        Some((dtype, Cow::Owned(swapped)))
    }

    /// An int64 array of rank 1 as `i64`s (keys). `what` names the input in
    /// messages (e.g. `--keys`).
    ///
    /// # Errors
    ///
    /// When the array is not int64 or not 1-D.
    pub fn keys(&self, what: &str) -> Result<Vec<i64>, NpyError> {
        match self.fixed_le() {
            Some((DataType::Int64, bytes)) if self.shape.len() == 1 => Ok(bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("chunks of 8")))
                .collect()),
            Some((DataType::Int64, _)) => Err(NpyError::new(format!(
                "{what} must be a 1-D array, but its shape is {}",
                Dims(&self.shape)
            ))),
            _ => Err(NpyError::new(format!(
                "{what} must be int64 ('<i8'), but the dtype is '{}'",
                self.descr
            ))),
        }
    }

    /// The elements, ready to encode: fixed-size types as little-endian
    /// bytes ([`fixed_le`](Self::fixed_le)); strings as fixed-width,
    /// NUL-padded elements, the form [`TensorData::Padded`] reads: a bytes
    /// array (`|S…`) as the file holds it, a unicode array (`<U…`)
    /// converted to UTF-8, each element in as many bytes as it had in the
    /// file (4 per code unit, which UTF-8 never exceeds). Trailing NULs are
    /// not part of an element, as numpy reads them.
    ///
    /// # Errors
    ///
    /// A unicode element holding a value that is not a Unicode scalar value
    /// (a surrogate, or above U+10FFFF), named by its index.
    pub fn elements(&self) -> Result<Elements<'_>, NpyError> {
        Ok(match self.elem {
            Elem::Fixed { .. } => {
                let (dtype, bytes) = self.fixed_le().expect("a fixed-size array");
                Elements::Fixed { dtype, bytes }
            }
            Elem::ByteStr { len } => Elements::Strings {
                bytes: Cow::Borrowed(self.data()),
                width: len,
                unicode: false,
            },
            Elem::Unicode { units, big_endian } => Elements::Strings {
                bytes: Cow::Owned(self.unicode_to_utf8(units, big_endian)?),
                width: units * 4, // item_size() was checked when the file was parsed
                unicode: true,
            },
        })
    }

    fn unicode_to_utf8(&self, units: usize, big_endian: bool) -> Result<Vec<u8>, NpyError> {
        let width = units * 4;
        let data = self.data();
        let mut out = vec![0u8; data.len()];
        if width == 0 {
            return Ok(out);
        }
        for (i, (elem, dst)) in data
            .chunks_exact(width)
            .zip(out.chunks_exact_mut(width))
            .enumerate()
        {
            let mut at = 0;
            for c in elem.chunks_exact(4) {
                let c: [u8; 4] = c.try_into().expect("chunks of 4");
                let u = if big_endian {
                    u32::from_be_bytes(c)
                } else {
                    u32::from_le_bytes(c)
                };
                let ch = char::from_u32(u).ok_or_else(|| {
                    NpyError::new(format!(
                        "element {i} holds 0x{u:X}, which is not a Unicode scalar value"
                    ))
                })?;
                // At most 4 bytes per code unit: always fits in `width`.
                at += ch.encode_utf8(&mut dst[at..]).len();
            }
        }
        Ok(out)
    }
}

/// An array's elements as the encoder takes them (see [`NpyArray::elements`]).
#[derive(Clone, Debug)]
pub enum Elements<'a> {
    /// A fixed-size type: little-endian bytes, borrowed from the file unless
    /// they had to be swapped.
    Fixed {
        /// The wire type.
        dtype: DataType,
        /// The elements' little-endian bytes.
        bytes: Cow<'a, [u8]>,
    },
    /// Strings, `width` bytes each, NUL-padded.
    Strings {
        /// The elements.
        bytes: Cow<'a, [u8]>,
        /// Bytes per element.
        width: usize,
        /// Converted from a unicode array (so always text).
        unicode: bool,
    },
}

impl Elements<'_> {
    /// The elements as a tensor's data: [`TensorData::Raw`] or
    /// [`TensorData::Padded`]. A bytes array goes into the arm
    /// `bytes_kind` says; a unicode array is always a `StringTensor`.
    pub fn tensor_data(&self, bytes_kind: StringKind) -> TensorData<'_> {
        match self {
            Elements::Fixed { dtype, bytes } => TensorData::Raw { dtype: *dtype, bytes },
            Elements::Strings {
                bytes,
                width,
                unicode,
            } => TensorData::Padded {
                bytes,
                width: *width,
                kind: if *unicode { StringKind::Text } else { bytes_kind },
            },
        }
    }
}

/// A shape as numpy prints it: `(3,)`, `(2, 3)`, `()`.
struct Dims<'a>(&'a [usize]);

impl fmt::Display for Dims<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [d] => write!(f, "({d},)"),
            dims => {
                f.write_str("(")?;
                for (i, d) in dims.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{d}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// The element type for a numpy type string, if bprwire accepts it.
fn elem_of(descr: &str) -> Option<Elem> {
    let (big_endian, rest) = match descr.as_bytes().first()? {
        b'>' => (true, &descr[1..]),
        b'<' | b'|' | b'=' => (false, &descr[1..]),
        _ => (false, descr),
    };
    let ty = rest.chars().next()?;
    let digits = &rest[ty.len_utf8()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let size: usize = digits.parse().ok()?;
    let fixed = |dtype: DataType| {
        Some(Elem::Fixed {
            dtype,
            size: dtype.fixed_size()?,
            big_endian,
        })
    };
    match (ty, size) {
        ('f', 4) => fixed(DataType::Float),
        ('f', 8) => fixed(DataType::Double),
        ('i', 4) => fixed(DataType::Int32),
        ('i', 8) => fixed(DataType::Int64),
        ('u', 1) => fixed(DataType::Uint8),
        ('b', 1) => fixed(DataType::Bool),
        ('U', units) => Some(Elem::Unicode { units, big_endian }),
        ('S' | 'a', len) => Some(Elem::ByteStr { len }),
        _ => None,
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// What an `.npy` header says, checked: the dtype, the shape, the element
/// count, where the data starts and how many bytes it takes.
struct Described {
    descr: String,
    elem: Elem,
    shape: Vec<usize>,
    len: usize,
    data_start: usize,
    data_len: usize,
}

fn describe(bytes: &[u8]) -> Result<Described, NpyError> {
    let (start, end) = preamble(bytes)?;
    let header = Header::parse(&bytes[start..end])?;
    if header.fortran_order {
        return Err(NpyError::new(
            "the array is in Fortran order (fortran_order: True), which is not supported: \
             save it in C order (numpy.ascontiguousarray)",
        ));
    }
    let descr = header.descr;
    let elem = elem_of(&descr).ok_or_else(|| {
        NpyError::new(format!(
            "unsupported dtype '{descr}': accepted dtypes are {ACCEPTED_DTYPES}"
        ))
    })?;
    let shape = header.shape;
    let shown = Dims(&shape);
    let len = if shape.contains(&0) {
        0
    } else {
        shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                NpyError::new(format!(
                    "shape {shown} has more elements than a {}-bit count holds",
                    usize::BITS
                ))
            })?
    };
    let needed = elem
        .item_size()
        .and_then(|size| size.checked_mul(len))
        .ok_or_else(|| {
            NpyError::new(format!(
                "shape {shown} of '{descr}' needs more bytes than fit in memory"
            ))
        })?;
    Ok(Described {
        descr,
        elem,
        shape,
        len,
        data_start: end,
        data_len: needed,
    })
}

/// Checks the magic, the version and that the header is whole. Returns
/// where the header text starts and ends (and the data begins).
fn preamble(bytes: &[u8]) -> Result<(usize, usize), NpyError> {
    if !bytes.starts_with(MAGIC) {
        return Err(NpyError::new(if bytes.is_empty() {
            "not an npy file: the file is empty"
        } else if MAGIC.starts_with(bytes) {
            "truncated: the file ends inside the npy magic string"
        } else {
            "not an npy file: it does not start with the npy magic string \\x93NUMPY"
        }));
    }
    let (Some(&major), Some(&minor)) = (bytes.get(6), bytes.get(7)) else {
        return Err(NpyError::new(
            "truncated: the file ends before the npy format version",
        ));
    };
    let (len_bytes, start) = match (major, minor) {
        (1, 0) => (2, 10),
        (2, 0) | (3, 0) => (4, 12),
        _ => {
            return Err(NpyError::new(format!(
                "unsupported npy format version {major}.{minor} (1.0, 2.0 and 3.0 are)"
            )))
        }
    };
    let Some(len) = bytes.get(8..8 + len_bytes) else {
        return Err(NpyError::new(
            "truncated: the file ends before the npy header length",
        ));
    };
    // At most 2^32 - 1: fits in usize on the 64-bit targets bprwire builds for.
    let header_len = len.iter().rev().fold(0usize, |acc, &b| acc << 8 | usize::from(b));
    let end = start + header_len;
    if end > bytes.len() {
        return Err(NpyError::new(format!(
            "truncated header: the npy header is {header_len} bytes but the file ends {} bytes into it",
            bytes.len() - start
        )));
    }
    Ok((start, end))
}

/// The three entries of an npy header.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

impl Header {
    /// Parses the header text: a Python dict literal with exactly the keys
    /// `descr` (a string), `fortran_order` (`True`/`False`) and `shape` (a
    /// tuple of decimal integers), then white space to the end.
    fn parse(text: &[u8]) -> Result<Header, NpyError> {
        let mut p = Parser { text, at: 0 };
        p.expect(b'{')?;
        let (mut descr, mut fortran_order, mut shape) = (None, None, None);
        loop {
            p.skip_space();
            if p.eat(b'}') {
                break;
            }
            let key = p.string()?;
            p.skip_space();
            p.expect(b':')?;
            p.skip_space();
            let repeated = match key {
                "descr" => {
                    if p.peek() == Some(b'[') {
                        return Err(NpyError::new(format!(
                            "unsupported dtype: structured dtypes (a list of fields) are not supported (accepted: {ACCEPTED_DTYPES})"
                        )));
                    }
                    descr.replace(p.string()?.to_string()).is_some()
                }
                "fortran_order" => fortran_order.replace(p.boolean()?).is_some(),
                "shape" => shape.replace(p.shape()?).is_some(),
                other => return Err(NpyError::header(format!("unexpected key '{other}'"))),
            };
            if repeated {
                return Err(NpyError::header(format!("the key '{key}' appears twice")));
            }
            p.skip_space();
            if !p.eat(b',') {
                p.skip_space();
                p.expect(b'}')?;
                break;
            }
        }
        p.skip_space();
        if p.at != text.len() {
            return Err(NpyError::header(format!(
                "unexpected bytes after the dict, at byte {}",
                p.at
            )));
        }
        let missing = |key| NpyError::header(format!("the key '{key}' is missing"));
        Ok(Header {
            descr: descr.ok_or_else(|| missing("descr"))?,
            fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
            shape: shape.ok_or_else(|| missing("shape"))?,
        })
    }
}

/// A cursor over the header text.
struct Parser<'t> {
    text: &'t [u8],
    at: usize,
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        self.at += usize::from(found);
        found
    }

    fn expect(&mut self, b: u8) -> Result<(), NpyError> {
        if self.eat(b) {
            return Ok(());
        }
        Err(NpyError::header(match self.peek() {
            Some(found) => format!(
                "expected '{}' at byte {} but found {:?}",
                char::from(b),
                self.at,
                char::from(found)
            ),
            None => format!(
                "expected '{}' at byte {} but the header ends",
                char::from(b),
                self.at
            ),
        }))
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A quoted string without escapes, printable ASCII.
    fn string(&mut self) -> Result<&'t str, NpyError> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(NpyError::header(format!(
                    "expected a quoted string at byte {}",
                    self.at
                )))
            }
        };
        let start = self.at + 1;
        let len = self.text[start..]
            .iter()
            .position(|&b| b == quote)
            .ok_or_else(|| NpyError::header(format!("the string at byte {} is not closed", self.at)))?;
        let s = &self.text[start..start + len];
        if !s.iter().all(|&b| (b' '..=b'~').contains(&b) && b != b'\\') {
            return Err(NpyError::header(format!(
                "the string at byte {} holds a byte that is not printable ASCII, or an escape",
                self.at
            )));
        }
        self.at = start + len + 1;
        Ok(core::str::from_utf8(s).expect("printable ASCII"))
    }

    fn boolean(&mut self) -> Result<bool, NpyError> {
        for (word, value) in [(&b"True"[..], true), (b"False", false)] {
            if self.text[self.at..].starts_with(word) {
                self.at += word.len();
                return Ok(value);
            }
        }
        Err(NpyError::header(format!(
            "fortran_order must be True or False (at byte {})",
            self.at
        )))
    }

    /// A tuple of decimal integers: `()`, `(3,)`, `(2, 3)`, `(2, 3,)`.
    fn shape(&mut self) -> Result<Vec<usize>, NpyError> {
        if !self.eat(b'(') {
            return Err(NpyError::header(format!(
                "the shape must be a tuple of integers, such as (2, 3) (at byte {})",
                self.at
            )));
        }
        let mut dims = Vec::new();
        let mut comma = false;
        loop {
            self.skip_space();
            if self.eat(b')') {
                break;
            }
            if !dims.is_empty() && !comma {
                return Err(NpyError::header(format!(
                    "expected ',' or ')' in the shape at byte {}",
                    self.at
                )));
            }
            dims.push(self.dimension()?);
            self.skip_space();
            comma = self.eat(b',');
        }
        if dims.len() == 1 && !comma {
            return Err(NpyError::header(
                "the shape (n) is a number, not a tuple: a 1-D shape is written (n,)",
            ));
        }
        Ok(dims)
    }

    /// One dimension: decimal digits (Python 2's `L` suffix allowed),
    /// nothing else (no sign, no hex, no underscores), at most `usize::MAX`.
    fn dimension(&mut self) -> Result<usize, NpyError> {
        let start = self.at;
        let end = self.text[start..]
            .iter()
            .position(|b| matches!(b, b',' | b')' | b' ' | b'\t' | b'\n' | b'\r'))
            .map_or(self.text.len(), |n| start + n);
        let token = &self.text[start..end];
        self.at = end;
        let digits = token.strip_suffix(b"L").unwrap_or(token);
        let shown = String::from_utf8_lossy(token);
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(NpyError::header(format!(
                "the dimension '{shown}' at byte {start} is not a non-negative decimal integer"
            )));
        }
        core::str::from_utf8(digits)
            .expect("ASCII digits")
            .parse()
            .map_err(|_| {
                NpyError::header(format!(
                    "the dimension {shown} at byte {start} is larger than {}",
                    usize::MAX
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> Result<Header, NpyError> {
        Header::parse(text.as_bytes())
    }

    #[test]
    fn the_headers_numpy_writes_parse() {
        let h = header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }          \n").unwrap();
        assert_eq!(
            h,
            Header {
                descr: "<f4".into(),
                fortran_order: false,
                shape: vec![3, 4]
            }
        );
        assert_eq!(
            header("{'descr': '|S0', 'fortran_order': True, 'shape': (7,), }")
                .unwrap()
                .shape,
            [7]
        );
        assert_eq!(
            header("{\"shape\": (), \"descr\": \"<i8\", \"fortran_order\": False}")
                .unwrap()
                .shape,
            [0usize; 0]
        );
        assert_eq!(
            header("{'descr':'<i8','fortran_order':False,'shape':(2L, 3L)}")
                .unwrap()
                .shape,
            [2, 3]
        );
    }

    #[test]
    fn a_files_length_is_read_from_its_header_alone() {
        let text = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }\n";
        let mut file = b"\x93NUMPY\x01\x00".to_vec();
        file.extend_from_slice(&(text.len() as u16).to_le_bytes());
        file.extend_from_slice(text.as_bytes());
        let head = file.len();
        file.resize(head + 48, 0);
        assert_eq!(NpyArray::file_len(&file[..head]), Ok(head + 48));
        assert_eq!(NpyArray::file_len(&file), Ok(file.len()));
        assert!(NpyArray::parse(file.clone()).is_ok());
        let cut = NpyArray::file_len(&file[..head - 1]).unwrap_err();
        assert!(cut.to_string().contains("truncated header"), "{cut}");
    }

    #[test]
    fn dimensions_other_than_decimal_integers_are_refused() {
        for dims in [
            "(0x100000000, 0x100000000)",
            "(1_000,)",
            "(-1,)",
            "(+1,)",
            "(1.0,)",
            "(1e3,)",
            "(a,)",
        ] {
            let text = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
            let e = header(&text).unwrap_err().to_string();
            assert!(e.contains("is not a non-negative decimal integer"), "{dims}: {e}");
        }
        let e = header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("larger than"), "{e}");
    }

    #[test]
    fn malformed_dicts_are_refused_with_what_is_wrong() {
        let cases = [
            ("{'fortran_order': False, 'shape': (1,), }", "'descr' is missing"),
            ("{'descr': '<f4', 'shape': (1,), }", "'fortran_order' is missing"),
            ("{'descr': '<f4', 'fortran_order': False}", "'shape' is missing"),
            (
                "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
                "appears twice",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
                "unexpected key 'x'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}",
                "True or False",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
                "must be a tuple",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1)}",
                "not a tuple",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}",
                "expected ',' or ')'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x",
                "after the dict",
            ),
            (
                "{'descr': '<\\f4', 'fortran_order': False, 'shape': (1,)}",
                "escape",
            ),
            (
                "{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}",
                "expected '}' at byte 17",
            ),
            ("not python", "expected '{'"),
            ("{'descr': '<f4'", "header ends"),
        ];
        for (text, needle) in cases {
            let e = header(text).unwrap_err().to_string();
            assert!(e.starts_with("not a valid npy header: "), "{text}: {e}");
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn dtypes_are_read_strictly() {
        assert_eq!(
            elem_of("<f4"),
            Some(Elem::Fixed {
                dtype: DataType::Float,
                size: 4,
                big_endian: false
            })
        );
        assert_eq!(
            elem_of(">i8"),
            Some(Elem::Fixed {
                dtype: DataType::Int64,
                size: 8,
                big_endian: true
            })
        );
        assert_eq!(elem_of("|S0"), Some(Elem::ByteStr { len: 0 }));
        assert_eq!(
            elem_of(">U3"),
            Some(Elem::Unicode {
                units: 3,
                big_endian: true
            })
        );
        for bad in [
            "", "<", "<f", "<f2", "<M8[ns]", "|O", "<U+1", "<U 1", "|b2", "<c8", "<é4",
        ] {
            assert_eq!(elem_of(bad), None, "{bad}");
        }
    }
}
