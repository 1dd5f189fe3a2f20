//! Output sinks beyond a plain slice: any [`std::io::Write`] in bounded
//! memory, a vectored plan whose big pieces point into the caller's
//! tensors, and (feature `bytes`) any [`bytes::BufMut`].
//!
//! Every sink writes exactly the bytes of [`Encoder::encode_into`]; the
//! tests check it for every generated case, for writers that take one byte
//! at a time, and for writers that fail midway.
//!
//! **To a writer, in bounded memory** ([`Encoder::write_to`]): the
//! response goes out through a staging buffer of at most
//! [`DEFAULT_STAGING`] bytes (or the caller's own buffer, with
//! [`Encoder::write_to_with`]), so a 1 GB response needs no 1 GB buffer.
//!
//! ```
//! use bprwire::{BatchPrediction, Tensor};
//!
//! let emb = vec![0.5_f32; 1024 * 64];
//! let tensors = [Tensor::new(&emb, &[1024, 64])];
//! let enc = BatchPrediction::new().dense(&[7], &tensors).encoder()?;
//! let mut out = Vec::new(); // a socket, a file, a pipe...
//! let mut staging = [0u8; 4096];
//! let n = enc.write_to_with(&mut out, &mut staging)?;
//! assert_eq!(n, enc.encoded_len());
//! assert_eq!(out, enc.encode_to_vec());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Vectored, zero-copy** ([`Encoder::vectored`]): raw tensor rows and
//! string contents of at least [`DEFAULT_MIN_BORROW`] bytes (8 KiB; your
//! choice with [`Encoder::vectored_into`]) are not copied; headers,
//! converted data and short pieces go to one owned buffer. Below a few
//! KiB per row, copying is faster than one more `iovec`. [`Vectored::write_to`] writes it with as few
//! `writev` calls as the writer allows, handling partial writes.
//!
//! The owned buffer is small only when most of the response is borrowed:
//! it holds [`Vectored::copied_bytes`], which is the whole response less
//! [`Vectored::borrowed_bytes`]. With rows and strings shorter than the
//! threshold, typed (converted) tensors or continuous records, that is
//! nearly everything: an 889 MB response of short rows took 870 MB. For
//! bounded memory whatever the shape, use [`Encoder::write_to`].
//!
//! ```
//! use bprwire::{BatchPrediction, Tensor};
//!
//! let emb = vec![0.5_f32; 16 * 4096];                // rows of 16 KiB
//! let tensors = [Tensor::new(&emb, &[16, 4096])];
//! let enc = BatchPrediction::new().dense(&[7], &tensors).encoder()?;
//! let plan = enc.vectored();
//! assert_eq!(plan.borrowed_bytes(), 16 * 4096 * 4);    // the rows, not copied
//! let mut out = Vec::new();
//! plan.write_to(&mut out)?;
//! assert_eq!(out, enc.encode_to_vec());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **What has been written when a writer fails.** The writer is called
//! with the response's bytes strictly in order, and an `Interrupted` error
//! is retried; any other error (or a writer that accepts 0 bytes) stops the
//! encoding and comes back as a [`WriteError`], whose
//! [`written`](WriteError::written) is the exact number of bytes the writer
//! accepted: the first `written` bytes of the response, and nothing after
//! them. A failed response cannot be resumed; what the peer received is a
//! truncated message, so the connection is best closed.
//!
//! [`Encoder::encode_into`]: crate::Encoder::encode_into
//! [`Encoder::write_to`]: crate::Encoder::write_to
//! [`Encoder::write_to_with`]: crate::Encoder::write_to_with
//! [`Encoder::vectored`]: crate::Encoder::vectored
//! [`Encoder::vectored_into`]: crate::Encoder::vectored_into

use std::fmt;
use std::io::{self, IoSlice, Write};

#[cfg(feature = "bytes")]
mod buf;
mod stage;
mod vectored;
mod write;

pub use vectored::{Vectored, DEFAULT_MIN_BORROW};
pub use write::{DEFAULT_STAGING, MIN_STAGING};

/// A writer failed: how far the response got, and why it stopped.
#[derive(Debug)]
pub struct WriteError {
    written: usize,
    total: usize,
    source: io::Error,
}

impl WriteError {
    /// Bytes the writer accepted: exactly the first `written` bytes of the
    /// response (of the whole message, for a reply).
    pub fn written(&self) -> usize {
        self.written
    }

    /// Bytes of the whole response (of the whole message, for a reply).
    pub fn total(&self) -> usize {
        self.total
    }

    /// The writer's error.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }

    /// The writer's error, by value.
    pub fn into_io_error(self) -> io::Error {
        self.source
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "writing the response stopped after {} of {} bytes: {}",
            self.written, self.total, self.source
        )
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Keeps the writer's error kind, so `?` in a function returning
/// `io::Result` still sees `WouldBlock`, `BrokenPipe`, ...
impl From<WriteError> for io::Error {
    fn from(e: WriteError) -> io::Error {
        io::Error::new(e.source.kind(), e)
    }
}

/// Counts the bytes a writer accepts across calls, for [`WriteError::written`].
pub(crate) struct Counter {
    pub(crate) written: usize,
    pub(crate) total: usize,
}

impl Counter {
    pub(crate) fn fail(&self, source: io::Error) -> WriteError {
        WriteError {
            written: self.written,
            total: self.total,
            source,
        }
    }

    /// `write_all`, counting what the writer accepts.
    pub(crate) fn write_all<W: Write + ?Sized>(
        &mut self,
        w: &mut W,
        mut bytes: &[u8],
    ) -> Result<(), WriteError> {
        while !bytes.is_empty() {
            match w.write(bytes) {
                Ok(0) => return Err(self.fail(zero())),
                Ok(n) if n > bytes.len() => return Err(self.fail(overcount(n, bytes.len()))),
                Ok(n) => {
                    self.written += n;
                    bytes = &bytes[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(())
    }

    /// `write_all_vectored`, counting what the writer accepts.
    pub(crate) fn write_all_vectored<W: Write + ?Sized>(
        &mut self,
        w: &mut W,
        mut bufs: &mut [IoSlice<'_>],
    ) -> Result<(), WriteError> {
        // Skip leading empty slices, so a writer is never asked to write nothing.
        IoSlice::advance_slices(&mut bufs, 0);
        let mut left: usize = bufs.iter().map(|b| b.len()).sum();
        while left > 0 {
            match w.write_vectored(bufs) {
                Ok(0) => return Err(self.fail(zero())),
                Ok(n) if n > left => return Err(self.fail(overcount(n, left))),
                Ok(n) => {
                    self.written += n;
                    left -= n;
                    IoSlice::advance_slices(&mut bufs, n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(())
    }
}

fn zero() -> io::Error {
    io::Error::new(io::ErrorKind::WriteZero, "the writer accepted 0 bytes")
}

fn overcount(n: usize, given: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the writer reported writing {n} bytes out of {given} given"),
    )
}

/// Writes every byte of `bufs` with vectored writes, retrying partial
/// writes and `Interrupted` errors (what the unstable
/// `Write::write_all_vectored` does). Returns the number of bytes written.
/// Like std's, it advances the slices in `bufs` as it goes: their contents
/// afterwards are unspecified.
///
/// A writer without a real `write_vectored` (the default method writes the
/// first non-empty slice only) still gets every byte, one slice per call.
///
/// # Errors
///
/// The first error of `w` other than `Interrupted` (a write of 0 bytes is
/// `WriteZero`), as a [`WriteError`] whose [`written`](WriteError::written)
/// says how many bytes the writer accepted.
pub fn write_all_vectored<W: Write + ?Sized>(
    w: &mut W,
    bufs: &mut [IoSlice<'_>],
) -> Result<usize, WriteError> {
    let total = bufs.iter().map(|b| b.len()).sum();
    let mut counter = Counter { written: 0, total };
    counter.write_all_vectored(w, bufs)?;
    Ok(counter.written)
}
