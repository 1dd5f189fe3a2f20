//! A fixed-size staging buffer that pieces are written into and that is
//! handed to an output function whenever it is full: the core of the
//! bounded-memory sinks (`io::Write`, and `BufMut`s that are not one
//! contiguous slice).

use super::walk::{walk, walk_head, walk_record, walk_tail, Emit};
use crate::kernels::Records;
use crate::plan::{Kernel, RowKernel};
use crate::wire::Out;
use crate::Encoder;

/// Bytes at the front of the staging buffer that are never sent: a
/// continuous record split across flushes is written by its kernel
/// together with the 9 bytes before it (the kernel writes a record head),
/// and those 9 bytes must be in the buffer.
pub(crate) const HEADROOM: usize = 9;

/// Writes pieces into `buf[HEADROOM..]` and passes each full buffer (and a
/// borrowed piece at least as large as the buffer, without copying it) to
/// `out`.
pub(crate) struct Staged<'s, F> {
    buf: &'s mut [u8],
    pos: usize,
    out: F,
}

impl<'s, F, E> Staged<'s, F>
where
    F: FnMut(&[u8]) -> Result<(), E>,
{
    /// `buf` must be longer than `HEADROOM + 16` (one continuous entry);
    /// the public entry points check their own, larger minimum.
    pub(crate) fn new(buf: &'s mut [u8], out: F) -> Self {
        assert!(buf.len() >= HEADROOM + 16, "staging buffer too short");
        Staged {
            buf,
            pos: HEADROOM,
            out,
        }
    }

    /// Sends what is staged.
    pub(crate) fn flush(&mut self) -> Result<(), E> {
        if self.pos > HEADROOM {
            (self.out)(&self.buf[HEADROOM..self.pos])?;
            self.pos = HEADROOM;
        }
        Ok(())
    }

    /// Writes the whole response. Runs of whole records that fit go
    /// through the encoder's own record writer (the `encode_into` code);
    /// a record larger than the buffer goes piece by piece.
    pub(crate) fn response(&mut self, enc: &Encoder<'_>) -> Result<(), E> {
        let plan = enc.plan();
        if plan.tensors.is_empty() {
            // Continuous only: `records` already writes runs of records.
            return walk(plan, self);
        }
        walk_head(plan, self)?;
        let mut row = 0;
        while row < plan.batch {
            let first = plan.record_len(row);
            if first > self.capacity() {
                walk_record(plan, row, self)?;
                row += 1;
                continue;
            }
            if first > self.free() {
                self.flush()?;
            }
            let (mut end, mut len) = (row + 1, first);
            if plan.has_strings {
                while end < plan.batch {
                    let next = plan.record_len(end);
                    if len + next > self.free() {
                        break;
                    }
                    len += next;
                    end += 1;
                }
            } else {
                end = (row + self.free() / first).min(plan.batch);
                len = (end - row) * first;
            }
            enc.write_records(row..end, &mut Out::new(&mut self.buf[self.pos..][..len]));
            self.pos += len;
            row = end;
        }
        walk_tail(self)
    }

    fn capacity(&self) -> usize {
        self.buf.len() - HEADROOM
    }

    fn free(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Room for at least `unit` bytes, flushing if needed.
    fn room_for(&mut self, unit: usize) -> Result<usize, E> {
        if self.free() < unit {
            self.flush()?;
        }
        Ok(self.free())
    }
}

impl<'a, F, E> Emit<'a> for Staged<'_, F>
where
    F: FnMut(&[u8]) -> Result<(), E>,
{
    type Error = E;

    #[inline]
    fn put(&mut self, mut bytes: &[u8]) -> Result<(), E> {
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            // The common case: it fits.
            dst.copy_from_slice(bytes);
            self.pos += bytes.len();
            return Ok(());
        }
        while !bytes.is_empty() {
            let n = self.room_for(1)?.min(bytes.len());
            self.buf[self.pos..][..n].copy_from_slice(&bytes[..n]);
            self.pos += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    fn borrowed(&mut self, bytes: &'a [u8]) -> Result<(), E> {
        if bytes.len() >= self.capacity() {
            // Staging it would only add a copy: send it as it is.
            self.flush()?;
            (self.out)(bytes)
        } else {
            self.put(bytes)
        }
    }

    fn convert(
        &mut self,
        mut src: &'a [u8],
        (unit_in, unit_out): (usize, usize),
        kernel: Kernel,
    ) -> Result<(), E> {
        while !src.is_empty() {
            let n = (self.room_for(unit_out)? / unit_out).min(src.len() / unit_in);
            kernel(&src[..n * unit_in], &mut self.buf[self.pos..][..n * unit_out]);
            self.pos += n * unit_out;
            src = &src[n * unit_in..];
        }
        Ok(())
    }

    fn records(
        &mut self,
        records: &Records<'a>,
        mut values: &'a [u8],
        row_bytes: usize,
        kernel: RowKernel,
    ) -> Result<(), E> {
        let record_len = records.record_len();
        if record_len <= self.capacity() {
            while !values.is_empty() {
                let n = (self.room_for(record_len)? / record_len).min(values.len() / row_bytes);
                kernel(
                    records,
                    &values[..n * row_bytes],
                    &mut self.buf[self.pos..][..n * record_len],
                );
                self.pos += n * record_len;
                values = &values[n * row_bytes..];
            }
            return Ok(());
        }
        // A record larger than the buffer: its head, its entries in pieces,
        // its STOP. The kernel writes a head before the entries it is given,
        // so each piece is written starting 9 bytes early, with a "head"
        // that is a copy of the 9 bytes already there.
        let keys = records.keys.len();
        let elem = row_bytes / keys;
        for row in values.chunks_exact(row_bytes) {
            self.put(&records.head)?;
            let mut done = 0;
            while done < keys {
                let n = (self.room_for(16)? / 16).min(keys - done);
                let start = self.pos - HEADROOM;
                let piece = Records {
                    head: self.buf[start..self.pos].try_into().expect("9 bytes"),
                    keys: &records.keys[done..done + n],
                    stop: false,
                };
                kernel(
                    &piece,
                    &row[done * elem..][..n * elem],
                    &mut self.buf[start..][..HEADROOM + 16 * n],
                );
                self.pos += 16 * n;
                done += n;
            }
            if records.stop {
                self.put(&[crate::wire::ttype::STOP])?;
            }
        }
        Ok(())
    }
}
