//! [`Vectored`]: the response as a list of slices, the big ones pointing
//! into the caller's tensors.

use super::{Counter, WriteError};
use crate::encode::write::{write_plan, Emit};
use crate::kernels::{Conversion, Records};
use crate::kernels::{Kernel, RowKernel};
use crate::Encoder;
use core::convert::Infallible;
use std::io::{IoSlice, Write};

/// Borrowed pieces shorter than this are copied into the owned buffer by
/// [`Encoder::vectored`]. Measured (`cargo bench --bench sinks --
/// row_bytes`, 1 MiB of raw rows to a Unix socket): borrowing every row
/// took 2.0x the time of copying the response at 512-byte rows and 1.3x at
/// 2 KiB, and 0.8x at 8 KiB. Each `iovec` costs the kernel more than a
/// short copy saves; see `docs/benchmarks.md`.
pub const DEFAULT_MIN_BORROW: usize = 8 * 1024;

/// Vectors handed to one `write_vectored` call: Linux's `IOV_MAX`.
const MAX_IOV: usize = 1024;

#[derive(Clone, Copy, Debug)]
enum Segment<'a> {
    /// The owned buffer up to this offset (from where the last owned
    /// segment ended).
    Owned { end: usize },
    /// Caller's bytes, as they are.
    Borrowed(&'a [u8]),
}

/// A response laid out for vectored I/O: the pieces that must be built
/// (headers, byte-swapped or widened data, short strings) in one owned
/// buffer, and raw tensor rows and long strings borrowed from the inputs.
/// Made by [`Encoder::vectored`]; the chunks, in order, are exactly the
/// bytes of [`Encoder::encode_into`].
///
/// A serving loop can keep one and refill it ([`Encoder::vectored_into`],
/// [`Vectored::recycle`]) so that its buffers are allocated once.
#[derive(Clone, Debug, Default)]
pub struct Vectored<'a> {
    owned: Vec<u8>,
    segments: Vec<Segment<'a>>,
    borrowed: usize,
    min_borrow: usize,
    /// Where the last owned segment ends: the owned bytes in use (the
    /// `Vec` may be longer, after `recycle`).
    sealed: usize,
}

impl<'a> Vectored<'a> {
    /// The response's chunks in order (owned and borrowed), none empty.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.segments.iter().map(move |s| match *s {
            Segment::Owned { end } => {
                let chunk = &self.owned[start..end];
                start = end;
                chunk
            }
            Segment::Borrowed(b) => b,
        })
    }

    /// The chunks as `IoSlice`s, for a `write_vectored` of your own (an
    /// async writer, say). [`write_to`](Self::write_to) needs no `Vec`.
    pub fn io_slices(&self) -> Vec<IoSlice<'_>> {
        self.chunks().map(IoSlice::new).collect()
    }

    /// The number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.segments.len()
    }

    /// Bytes of the whole response.
    pub fn len(&self) -> usize {
        self.sealed + self.borrowed
    }

    /// True for an empty plan (a default or recycled one; a response is
    /// never empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes that were built (copied or converted) into the owned buffer.
    pub fn copied_bytes(&self) -> usize {
        self.sealed
    }

    /// Bytes that point into the caller's inputs, not copied.
    pub fn borrowed_bytes(&self) -> usize {
        self.borrowed
    }

    /// Writes every chunk to `w` with vectored writes (up to 1024 chunks a
    /// call), retrying partial writes and `Interrupted`. Allocates nothing.
    /// Returns the bytes written.
    ///
    /// # Errors
    ///
    /// The first error of `w` other than `Interrupted` (a write of 0 bytes
    /// is `WriteZero`), as a [`WriteError`] whose
    /// [`written`](WriteError::written) is exactly what `w` accepted, a
    /// prefix of the response.
    pub fn write_to<W: Write + ?Sized>(&self, w: &mut W) -> Result<usize, WriteError> {
        let mut counter = Counter {
            written: 0,
            total: self.len(),
        };
        let mut batch = [IoSlice::new(&[]); MAX_IOV];
        let mut chunks = self.chunks();
        loop {
            let mut n = 0;
            for (slot, chunk) in batch.iter_mut().zip(chunks.by_ref()) {
                *slot = IoSlice::new(chunk);
                n += 1;
            }
            if n == 0 {
                return Ok(counter.written);
            }
            counter.write_all_vectored(w, &mut batch[..n])?;
        }
    }

    /// Empties the plan, keeping its buffers' capacity, for inputs of
    /// another lifetime (the next request's tensors).
    pub fn recycle<'b>(mut self) -> Vectored<'b> {
        self.segments.clear();
        // The owned bytes keep their length: refilling with a response of
        // the same size then zeroes nothing (they hold no borrowed data).
        Vectored {
            owned: self.owned,
            // An empty Vec of one element type into another of the same
            // size: collected in place, the allocation is kept.
            segments: self
                .segments
                .into_iter()
                .map(|_| unreachable!("cleared"))
                .collect(),
            borrowed: 0,
            min_borrow: self.min_borrow,
            sealed: 0,
        }
    }

    /// Ends the owned segment being built, if it has any bytes.
    fn close_owned(&mut self) {
        let end = self.owned.len();
        if end > self.sealed {
            self.segments.push(Segment::Owned { end });
            self.sealed = end;
        }
    }

    /// Room for `n` more owned bytes, returned for a kernel to fill.
    fn grow(&mut self, n: usize) -> &mut [u8] {
        let start = self.owned.len();
        self.owned.resize(start + n, 0);
        &mut self.owned[start..]
    }
}

impl<'a> Emit<'a> for Vectored<'a> {
    type Error = Infallible;

    fn put(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        self.owned.extend_from_slice(bytes);
        Ok(())
    }

    fn borrowed(&mut self, bytes: &'a [u8]) -> Result<(), Infallible> {
        if bytes.len() < self.min_borrow.max(1) {
            return self.put(bytes);
        }
        self.close_owned();
        self.segments.push(Segment::Borrowed(bytes));
        self.borrowed += bytes.len();
        Ok(())
    }

    fn convert(
        &mut self,
        src: &'a [u8],
        row_out: usize,
        kernel: Kernel,
        _: Conversion,
    ) -> Result<(), Infallible> {
        kernel(src, self.grow(row_out));
        Ok(())
    }

    fn records(
        &mut self,
        records: &Records<'a>,
        values: &'a [u8],
        rows: usize,
        kernel: RowKernel,
    ) -> Result<(), Infallible> {
        kernel(records, values, self.grow(rows * records.record_len()));
        Ok(())
    }
}

impl<'a> Encoder<'a> {
    /// The response as a [`Vectored`] plan: raw tensor rows and strings of
    /// at least [`DEFAULT_MIN_BORROW`] bytes point into the inputs,
    /// everything else is built into one owned buffer, which is as large as
    /// what is not borrowed (the whole response, less the borrowed pieces;
    /// see the [module docs](crate::sink)).
    pub fn vectored(&self) -> Vectored<'a> {
        let mut v = Vectored::default();
        self.vectored_into(&mut v, DEFAULT_MIN_BORROW);
        v
    }

    /// Refills `v` (keeping its buffers) with the response, borrowing
    /// pieces of at least `min_borrow` bytes (0 borrows every non-empty
    /// piece, `usize::MAX` none).
    pub fn vectored_into(&self, v: &mut Vectored<'a>, min_borrow: usize) {
        v.segments.clear();
        v.borrowed = 0;
        v.sealed = 0;
        v.min_borrow = min_borrow;
        if self.plan().borrows_any(min_borrow) {
            v.owned.clear();
            let Ok(()) = write_plan(self.plan(), v);
        } else {
            // Nothing to borrow: one owned chunk, written by `encode_into`
            // (resizing down, or to a length it had, zeroes nothing).
            v.owned.resize(self.encoded_len(), 0);
            self.encode_into(&mut v.owned).expect("sized to encoded_len");
        }
        v.close_owned();
        debug_assert_eq!(v.len(), self.encoded_len(), "encoded_len disagrees with the plan");
    }
}
