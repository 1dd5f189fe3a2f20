//! Reading `.npy` files: npyz parses the header, and the payload stays the
//! file's own bytes, so a little-endian fixed-size array reaches the encoder
//! as `Raw` bytes without a per-element conversion or a second copy.
//!
//! Every check a hostile or broken file could fail is made here, before the
//! data is touched, and reported as a [`CliError`] naming the file: npyz
//! itself is only given headers that are whole and whose shape fits in 64
//! bits (it multiplies dimensions without overflow checks).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use bprwire::DataType;
use npyz::{DType, Endianness, NpyHeader, Order, TypeChar};

use super::error::CliError;

/// The element types the CLI accepts, as numpy spells them (for messages
/// and `--help`).
pub const ACCEPTED_DTYPES: &str = "'<f4' '<f8' '<i4' '<i8' '|u1' '|b1' '<U…' '|S…'";

/// Element type of an array, as far as the encoder cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// A fixed-size type bprwire writes as a raw tensor: `size` bytes each,
    /// `big_endian` when the file stores them byte-swapped.
    Fixed {
        /// The wire type.
        dtype: DataType,
        /// Bytes per element.
        size: usize,
        /// Stored big-endian (`>`): must be swapped before encoding.
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
    /// Bytes one element takes in the file.
    fn item_size(self) -> Option<usize> {
        match self {
            Elem::Fixed { size, .. } => Some(size),
            Elem::Unicode { units, .. } => units.checked_mul(4),
            Elem::ByteStr { len } => Some(len),
        }
    }
}

/// One `.npy` file, read whole into memory and checked: C order, a dtype
/// from [`ACCEPTED_DTYPES`], exactly as many data bytes as the shape needs.
pub struct NpyArray {
    /// The path as given, for messages.
    pub path: PathBuf,
    /// The dtype as the header spells it (`<f4`, `|S5`, ...).
    pub descr: String,
    /// The element type.
    pub elem: Elem,
    /// The shape from the header.
    pub shape: Vec<usize>,
    /// The number of elements (the product of the shape).
    pub len: usize,
    bytes: Vec<u8>,
    data_start: usize,
}

impl NpyArray {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<NpyArray, CliError> {
        let bytes =
            std::fs::read(path).map_err(|e| CliError::file(path, format!("cannot read the file: {e}")))?;
        Self::parse(path, bytes)
    }

    /// Checks `bytes`, the contents of the file at `path`.
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<NpyArray, CliError> {
        let err = |msg: String| CliError::file(path, msg);
        let header_end = check_preamble(&bytes).map_err(err)?;
        let mut rest = &bytes[..header_end];
        let header =
            NpyHeader::from_reader(&mut rest).map_err(|e| err(format!("not a valid npy header: {e}")))?;
        let data_start = header_end;

        if header.order() == Order::Fortran {
            return Err(err(
                "the array is in Fortran order (fortran_order: True), which is not supported: \
                 save it in C order (numpy.ascontiguousarray)"
                    .into(),
            ));
        }
        let (elem, descr) = match header.dtype() {
            DType::Plain(ts) => {
                let descr = ts.to_string();
                match elem_of(ts.type_char(), ts.size_field(), ts.endianness()) {
                    Some(elem) => (elem, descr),
                    None => {
                        return Err(err(format!(
                            "unsupported dtype '{descr}': accepted dtypes are {ACCEPTED_DTYPES}"
                        )))
                    }
                }
            }
            other => {
                return Err(err(format!(
                    "unsupported dtype {}: structured and sub-array dtypes are not supported (accepted: {ACCEPTED_DTYPES})",
                    other.descr()
                )))
            }
        };

        let shape: Vec<usize> = header
            .shape()
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<_, _>>()
            .map_err(|_| err(format!("shape {:?} does not fit in memory", header.shape())))?;
        let len = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| err(format!("shape {shape:?} has too many elements")))?;
        let needed = elem
            .item_size()
            .and_then(|size| size.checked_mul(len))
            .ok_or_else(|| {
                err(format!(
                    "shape {shape:?} of '{descr}' needs more bytes than fit in memory"
                ))
            })?;
        let found = bytes.len() - data_start;
        if found < needed {
            return Err(err(format!(
                "truncated data: shape {shape:?} of '{descr}' needs {needed} data bytes but the file has {found}"
            )));
        }
        if found > needed {
            return Err(err(format!(
                "{} unexpected bytes after the data: shape {shape:?} of '{descr}' needs {needed} data bytes but the file has {found}",
                found - needed
            )));
        }
        Ok(NpyArray {
            path: path.to_path_buf(),
            descr,
            elem,
            shape,
            len,
            bytes,
            data_start,
        })
    }

    /// The payload, exactly `len` elements.
    pub fn data(&self) -> &[u8] {
        &self.bytes[self.data_start..]
    }

    /// An error about this file.
    pub fn error(&self, msg: impl Into<String>) -> CliError {
        CliError::file(&self.path, msg)
    }

    /// For a fixed-size array: its wire type and its elements' little-endian
    /// bytes, borrowed from the file unless the file is big-endian (then
    /// swapped into a copy, the one case that copies).
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

    /// An int64 array of rank 1 as a `Vec<i64>` (keys are short, and the
    /// library wants them aligned). `what` names the flag in messages.
    pub fn keys(&self, what: &str) -> Result<Vec<i64>, CliError> {
        match self.fixed_le() {
            Some((DataType::Int64, bytes)) if self.shape.len() == 1 => Ok(bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("chunks of 8")))
                .collect()),
            Some((DataType::Int64, _)) => Err(self.error(format!(
                "{what} must be a 1-D array, but its shape is {:?}",
                self.shape
            ))),
            _ => Err(self.error(format!(
                "{what} must be int64 ('<i8'), but the dtype is '{}'",
                self.descr
            ))),
        }
    }

    /// A numpy unicode array as UTF-8, trailing NULs stripped (as numpy
    /// does when it reads an element).
    pub fn unicode(&self) -> Result<Utf8Strings, CliError> {
        let Elem::Unicode { units, big_endian } = self.elem else {
            unreachable!("unicode() on a non-unicode array");
        };
        let mut out = Utf8Strings {
            buf: String::new(),
            ends: Vec::with_capacity(self.len),
        };
        if units == 0 {
            out.ends.resize(self.len, 0);
            return Ok(out);
        }
        out.buf.reserve(self.data().len() / 4);
        for (i, elem) in self.data().chunks_exact(units * 4).enumerate() {
            let code = |c: &[u8]| {
                let c: [u8; 4] = c.try_into().expect("chunks of 4");
                if big_endian {
                    u32::from_be_bytes(c)
                } else {
                    u32::from_le_bytes(c)
                }
            };
            let used = elem
                .chunks_exact(4)
                .rposition(|c| code(c) != 0)
                .map_or(0, |p| p + 1);
            for c in elem[..used * 4].chunks_exact(4) {
                let u = code(c);
                let ch = char::from_u32(u).ok_or_else(|| {
                    self.error(format!(
                        "element {i} holds 0x{u:X}, which is not a Unicode scalar value"
                    ))
                })?;
                out.buf.push(ch);
            }
            out.ends.push(out.buf.len());
        }
        Ok(out)
    }

    /// A numpy bytes array as one slice per element, trailing NULs stripped
    /// (as numpy does), borrowed from the file.
    pub fn byte_strs(&self) -> Vec<&[u8]> {
        let Elem::ByteStr { len } = self.elem else {
            unreachable!("byte_strs() on a non-bytes array");
        };
        if len == 0 {
            return vec![&[][..]; self.len];
        }
        self.data()
            .chunks_exact(len)
            .map(|s| &s[..s.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1)])
            .collect()
    }
}

/// UTF-8 strings converted from a numpy unicode array, kept in one buffer.
pub struct Utf8Strings {
    buf: String,
    ends: Vec<usize>,
}

impl Utf8Strings {
    /// One `&str` per element, in order.
    pub fn strs(&self) -> Vec<&str> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let s = &self.buf[start..end];
                start = end;
                s
            })
            .collect()
    }
}

/// The element type for a numpy type string, if the CLI accepts it.
fn elem_of(ty: TypeChar, size: u64, endian: Endianness) -> Option<Elem> {
    let big_endian = endian == Endianness::Big;
    let fixed = |dtype: DataType| {
        Some(Elem::Fixed {
            dtype,
            size: dtype.fixed_size()?,
            big_endian,
        })
    };
    match (ty, size) {
        (TypeChar::Float, 4) => fixed(DataType::Float),
        (TypeChar::Float, 8) => fixed(DataType::Double),
        (TypeChar::Int, 4) => fixed(DataType::Int32),
        (TypeChar::Int, 8) => fixed(DataType::Int64),
        (TypeChar::Uint, 1) => fixed(DataType::Uint8),
        (TypeChar::Bool, 1) => fixed(DataType::Bool),
        (TypeChar::UnicodeStr, n) => Some(Elem::Unicode {
            units: usize::try_from(n).ok()?,
            big_endian,
        }),
        (TypeChar::ByteStr, n) => Some(Elem::ByteStr {
            len: usize::try_from(n).ok()?,
        }),
        _ => None,
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Checks the magic, the version and that the header is whole, and that the
/// header's shape cannot overflow npyz's unchecked arithmetic. Returns where
/// the header ends (and the data begins).
fn check_preamble(bytes: &[u8]) -> Result<usize, String> {
    if !bytes.starts_with(MAGIC) {
        return Err(if MAGIC.starts_with(bytes) && !bytes.is_empty() {
            "truncated: the file ends inside the npy magic string".into()
        } else if bytes.is_empty() {
            "not an npy file: the file is empty".into()
        } else {
            "not an npy file: it does not start with the npy magic string \\x93NUMPY".into()
        });
    }
    let (Some(&major), Some(&minor)) = (bytes.get(6), bytes.get(7)) else {
        return Err("truncated: the file ends before the npy format version".into());
    };
    let (len_bytes, start) = match (major, minor) {
        (1, 0) => (2, 10),
        (2, 0) | (3, 0) => (4, 12),
        _ => {
            return Err(format!(
                "unsupported npy format version {major}.{minor} (1.0, 2.0 and 3.0 are)"
            ))
        }
    };
    let Some(len) = bytes.get(8..8 + len_bytes) else {
        return Err("truncated: the file ends before the npy header length".into());
    };
    let header_len = len.iter().rev().fold(0usize, |acc, &b| acc << 8 | b as usize);
    let end = start + header_len;
    if end > bytes.len() {
        return Err(format!(
            "truncated header: the npy header is {header_len} bytes but the file ends {} bytes into it",
            bytes.len() - start
        ));
    }
    check_shape_fits(&bytes[start..end])?;
    Ok(end)
}

/// Refuses a header whose `'shape'` tuple has a product (over its non-zero
/// dimensions, which bounds every partial product npyz computes) above
/// `u64::MAX`. A shape this function cannot read is left to npyz, which
/// reports malformed headers itself.
fn check_shape_fits(header: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(header);
    for key in ["'shape'", "\"shape\""] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(key) {
            let after = text[from + pos + key.len()..].trim_start();
            from += pos + key.len();
            let Some(after) = after.strip_prefix(':') else {
                continue;
            };
            let after = after.trim_start();
            let Some(inner) = after.strip_prefix(['(', '[']) else {
                continue;
            };
            let Some(close) = inner.find([')', ']']) else {
                continue;
            };
            let mut product: Option<u64> = Some(1);
            for dim in inner[..close].split(',').map(str::trim).filter(|d| !d.is_empty()) {
                let Ok(d) = dim.parse::<u64>() else { return Ok(()) };
                if d != 0 {
                    product = product.and_then(|p| p.checked_mul(d));
                }
            }
            if product.is_none() {
                return Err(format!(
                    "shape ({}) has more elements than a 64-bit count can hold",
                    inner[..close].trim()
                ));
            }
        }
    }
    Ok(())
}
