//! A small streaming JSON writer for `inspect`: values go straight to the
//! output, so a large response needs no document in memory.

use std::io::{self, Write};

/// Writes `s` as a JSON string.
pub fn string(w: &mut dyn Write, s: &str) -> io::Result<()> {
    w.write_all(b"\"")?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&[u8]> = match c {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            _ => None,
        };
        if esc.is_some() || (c as u32) < 0x20 {
            w.write_all(&s.as_bytes()[start..i])?;
            match esc {
                Some(e) => w.write_all(e)?,
                None => write!(w, "\\u{:04x}", c as u32)?,
            }
            start = i + c.len_utf8();
        }
    }
    w.write_all(&s.as_bytes()[start..])?;
    w.write_all(b"\"")
}

/// Writes bytes as a JSON string of lowercase hex.
pub fn hex(w: &mut dyn Write, b: &[u8]) -> io::Result<()> {
    w.write_all(b"\"")?;
    for x in b {
        write!(w, "{x:02x}")?;
    }
    w.write_all(b"\"")
}

/// Writes a double: a JSON number when finite (shortest form that reads
/// back to the same bits), else the string `"NaN"`, `"inf"` or `"-inf"`,
/// which JSON has no number for.
pub fn double(w: &mut dyn Write, x: f64) -> io::Result<()> {
    if x.is_finite() {
        write!(w, "{x:?}")
    } else if x.is_nan() {
        w.write_all(b"\"NaN\"")
    } else if x > 0.0 {
        w.write_all(b"\"inf\"")
    } else {
        w.write_all(b"\"-inf\"")
    }
}

/// Writes `[a, b, ...]`, each element by `f`.
pub fn array<T>(
    w: &mut dyn Write,
    items: impl IntoIterator<Item = T>,
    mut f: impl FnMut(&mut dyn Write, T) -> io::Result<()>,
) -> io::Result<()> {
    w.write_all(b"[")?;
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            w.write_all(b", ")?;
        }
        f(w, item)?;
    }
    w.write_all(b"]")
}

/// Writes `{"k": v, ...}` with integer keys (as strings, as JSON requires).
pub fn int_object<T>(
    w: &mut dyn Write,
    items: impl IntoIterator<Item = (i64, T)>,
    mut f: impl FnMut(&mut dyn Write, T) -> io::Result<()>,
) -> io::Result<()> {
    w.write_all(b"{")?;
    for (i, (k, v)) in items.into_iter().enumerate() {
        if i > 0 {
            w.write_all(b", ")?;
        }
        write!(w, "\"{k}\": ")?;
        f(w, v)?;
    }
    w.write_all(b"}")
}
