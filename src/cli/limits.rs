//! The CLI's limits on what it reads and what it makes, so that no input
//! (`/dev/zero`, an endless stdin, a small request of many empty records)
//! can make it grow until the OOM killer ends it:
//!
//! - a layout file is read up to [`LAYOUT_BYTES`] (fixed: a layout of
//!   millions of ids is far below it);
//! - a request (`scatter`), a file to `inspect` and each `.npy` input of
//!   `encode` up to a limit the user can raise (`--max-request-bytes`,
//!   `--max-input-bytes`);
//! - `scatter` refuses a request of more rows than `--max-rows`, or whose
//!   arrays would take more than `--max-output-bytes`, before it allocates
//!   them.
//!
//! Reading stops at the limit plus one byte ([`read_capped`]): nothing is
//! read, let alone allocated, past it.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::error::CliError;

/// The largest layout file `scatter --layout` reads: 64 MiB.
pub const LAYOUT_BYTES: u64 = 64 << 20;

// The defaults of the byte limits are in `main.rs`, as clap shows them:
// `--max-request-bytes` (scatter) and `--max-input-bytes` (inspect) 256MiB,
// `--max-input-bytes` (encode, per .npy file) 4GiB, `--max-output-bytes`
// (scatter) 1GiB.

/// `--max-rows` of `scatter` when not given.
pub const DEFAULT_MAX_ROWS: u64 = 1_000_000;

/// A limit and the flag that sets it (`None`: fixed), for messages.
#[derive(Clone, Copy, Debug)]
pub struct Cap {
    /// The most bytes allowed.
    pub bytes: u64,
    /// The flag that raises it, e.g. `--max-request-bytes`.
    pub flag: Option<&'static str>,
}

impl Cap {
    /// The limit, and how to raise it.
    fn describe(&self) -> String {
        match self.flag {
            Some(flag) => format!("{} ({flag}; raise it with {flag} N)", size(self.bytes)),
            None => size(self.bytes),
        }
    }
}

/// `n` bytes, with a binary unit when it is a round number of one:
/// `268435456 bytes (256 MiB)`.
pub fn size(n: u64) -> String {
    let unit = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")]
        .into_iter()
        .find(|&(shift, _)| n >= 1 << shift && n.is_multiple_of(1 << shift));
    match unit {
        Some((shift, name)) => format!("{n} bytes ({} {name})", n >> shift),
        None => format!("{n} bytes"),
    }
}

/// The whole of `path` (stdin for `-`), at most `cap.bytes` bytes: a file
/// known to be longer is refused without being read, and a stream is read
/// up to the limit plus one byte. `what` names the input in messages
/// (e.g. "a request"). Every error names `path`.
pub fn read_capped(path: &Path, cap: Cap, what: &str) -> Result<Vec<u8>, CliError> {
    let too_big = |len: Option<u64>| {
        let len = match len {
            Some(n) => format!("is {n} bytes, more than"),
            None => "is longer than".to_string(),
        };
        CliError::file(
            path,
            format!("{len} {what} may be: the limit is {}", cap.describe()),
        )
    };
    let read = |r: &mut dyn Read, hint: u64| -> Result<Vec<u8>, io::Error> {
        read_at_most(r, cap.bytes.saturating_add(1), hint)
    };
    let bytes = if path.as_os_str() == "-" {
        read(&mut io::stdin().lock(), 0)
            .map_err(|e| CliError::file(path, format!("cannot read stdin: {e}")))?
    } else {
        let mut file = File::open(path).map_err(|e| CliError::file(path, format!("cannot read: {e}")))?;
        let len = file
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map_or(0, |m| m.len());
        if len > cap.bytes {
            return Err(too_big(Some(len)));
        }
        read(&mut file, len).map_err(|e| CliError::file(path, format!("cannot read: {e}")))?
    };
    if bytes.len() as u64 > cap.bytes {
        return Err(too_big(None));
    }
    Ok(bytes)
}

/// Reads `r` to its end or to `limit` bytes, whichever comes first, into
/// a buffer that never holds more than `limit` bytes (first `hint` bytes,
/// a regular file's length, then doubling), allocated fallibly.
fn read_at_most(r: &mut dyn Read, limit: u64, hint: u64) -> io::Result<Vec<u8>> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut bytes: Vec<u8> = Vec::new();
    let reserve = |bytes: &mut Vec<u8>, capacity: usize| {
        bytes
            .try_reserve_exact(capacity.saturating_sub(bytes.len()))
            .map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e))
    };
    reserve(&mut bytes, usize::try_from(hint).unwrap_or(0).min(limit))?;
    let mut chunk = vec![0u8; 1 << 16];
    while bytes.len() < limit {
        let want = chunk.len().min(limit - bytes.len());
        let n = match r.read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if bytes.capacity() - bytes.len() < n {
            let grown = bytes.capacity().saturating_mul(2).max(bytes.len() + n).min(limit);
            reserve(&mut bytes, grown)?;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    Ok(bytes)
}

/// Parses a byte count for a `--max-…-bytes` flag: a number of bytes, or
/// one with a binary unit (`64K`, `256M`, `4G`, `1T`, also written `KiB`,
/// `MiB`, ...; `0` allows only empty inputs).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        _ => {
            return Err(format!(
                "'{s}' is not a byte count (a number, optionally with K, M, G or T: 256M)"
            ))
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a byte count (a number, optionally with K, M, G or T: 256M)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("'{s}' is more than {} bytes", u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_and_sizes() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("64K"), Ok(64 << 10));
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("4g"), Ok(4 << 30));
        assert_eq!(parse_bytes("1T"), Ok(1 << 40));
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("1.5G").is_err());
        assert!(parse_bytes("2X").is_err());
        assert!(parse_bytes("99999999999T").unwrap_err().contains("more than"));
        assert_eq!(size(256 << 20), "268435456 bytes (256 MiB)");
        assert_eq!(size(1000), "1000 bytes");
        assert_eq!(size(0), "0 bytes");
    }

    /// An endless stream is read to the limit and no further, and the
    /// buffer never grows past it.
    #[test]
    fn reading_stops_at_the_limit() {
        for limit in [0, 1, 1000, (1 << 16) + 1, 3 << 20] {
            let got = read_at_most(&mut io::repeat(7), limit, 0).unwrap();
            assert_eq!(got.len() as u64, limit);
            assert!(
                got.capacity() as u64 <= limit.max(1),
                "{limit}: {}",
                got.capacity()
            );
        }
        let got = read_at_most(&mut &b"short"[..], 100, 5).unwrap();
        assert_eq!(got, b"short");
        let got = read_at_most(&mut &b"short"[..], 3, 1 << 40).unwrap();
        assert_eq!(got, b"sho");
    }
}
