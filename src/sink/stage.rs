//! A fixed-size staging buffer that pieces are written into and that is
//! handed to an output function whenever it is full: the core of the
//! bounded-memory sinks (`io::Write`, and `BufMut`s that are not one
//! contiguous slice).

use crate::encode::write::{write_plan, Emit, Out};
use crate::kernels::{Conversion, Records};
use crate::kernels::{Kernel, RowKernel};
use crate::Encoder;

/// Entries per piece of a continuous record larger than the staging
/// buffer (written through a scratch record of 521 bytes on the stack).
const PIECE: usize = 32;

/// Writes pieces into `buf` and passes each full buffer (and a borrowed
/// piece at least as large as the buffer, without copying it) to `out`.
pub(crate) struct Staged<'s, F> {
    buf: &'s mut [u8],
    pos: usize,
    out: F,
}

impl<'s, F, E> Staged<'s, F>
where
    F: FnMut(&[u8]) -> Result<(), E>,
{
    /// `buf` must hold at least one continuous entry
    /// ([`Records::ENTRY`] bytes); the public entry points check their
    /// own, larger minimum.
    pub(crate) fn new(buf: &'s mut [u8], out: F) -> Self {
        assert!(buf.len() >= Records::ENTRY, "staging buffer too short");
        Staged { buf, pos: 0, out }
    }

    /// Sends what is staged.
    pub(crate) fn flush(&mut self) -> Result<(), E> {
        if self.pos > 0 {
            (self.out)(&self.buf[..self.pos])?;
            self.pos = 0;
        }
        Ok(())
    }

    /// Writes the whole response through the one layout writer
    /// (`crate::encode::write::write_response`). Runs of whole records
    /// that fit are written straight into the buffer by the slice writer
    /// ([`Runs`]); a record larger than the buffer goes piece by piece
    /// through this sink.
    pub(crate) fn response(&mut self, enc: &Encoder<'_>) -> Result<(), E> {
        write_plan(enc.plan(), &mut Runs { stage: self, enc })
    }

    fn capacity(&self) -> usize {
        self.buf.len()
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
        row_out: usize,
        kernel: Kernel,
        conversion: Conversion,
    ) -> Result<(), E> {
        let (unit_in, unit_out) = conversion.units();
        debug_assert_eq!(row_out, src.len() / unit_in * unit_out);
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
        rows: usize,
        kernel: RowKernel,
    ) -> Result<(), E> {
        if rows == 0 {
            return Ok(());
        }
        let (record_len, row_bytes) = (records.record_len(), values.len() / rows);
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
        // its STOP. Kernels write whole records, so each piece is written as
        // a record of its own into a scratch record on the stack, and only
        // its entries are staged (one more copy, on this rare path only).
        let elem = row_bytes / records.keys.len();
        let mut scratch = [0u8; Records::HEAD + Records::ENTRY * PIECE];
        for row in values.chunks_exact(row_bytes) {
            self.put(&records.head)?;
            for (keys, piece_values) in records.keys.chunks(PIECE).zip(row.chunks(PIECE * elem)) {
                let piece = Records {
                    head: records.head,
                    keys,
                    stop: false,
                };
                let written = &mut scratch[..piece.record_len()];
                kernel(&piece, piece_values, written);
                self.put(&written[Records::HEAD..])?;
            }
            if records.stop {
                self.put(&[crate::wire::ttype::STOP])?;
            }
        }
        Ok(())
    }
}

/// The staging sink while it writes one plan's response: every piece goes
/// to the stage, and runs of whole records that fit its free space are
/// written into it in one go (the plan knows each record's length).
struct Runs<'r, 's, 'a, F> {
    stage: &'r mut Staged<'s, F>,
    enc: &'r Encoder<'a>,
}

impl<'a, F, E> Emit<'a> for Runs<'_, '_, 'a, F>
where
    F: FnMut(&[u8]) -> Result<(), E>,
{
    type Error = E;
    const WRITES_RUNS: bool = true;

    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), E> {
        self.stage.put(bytes)
    }

    #[inline]
    fn borrowed(&mut self, bytes: &'a [u8]) -> Result<(), E> {
        self.stage.borrowed(bytes)
    }

    #[inline]
    fn convert(
        &mut self,
        src: &'a [u8],
        row_out: usize,
        kernel: Kernel,
        conversion: Conversion,
    ) -> Result<(), E> {
        self.stage.convert(src, row_out, kernel, conversion)
    }

    #[inline]
    fn records(
        &mut self,
        records: &Records<'a>,
        values: &'a [u8],
        rows: usize,
        kernel: RowKernel,
    ) -> Result<(), E> {
        self.stage.records(records, values, rows, kernel)
    }

    fn record_run(
        &mut self,
        row: usize,
        batch: usize,
        record: &mut impl FnMut(&mut Self, usize) -> Result<(), E>,
    ) -> Result<usize, E> {
        let (enc, stage) = (self.enc, &mut *self.stage);
        let plan = enc.plan();
        let first = plan.record_len(row);
        if first > stage.capacity() {
            // Larger than the buffer: piece by piece.
            record(self, row)?;
            return Ok(row + 1);
        }
        if first > stage.free() {
            stage.flush()?;
        }
        let (mut end, mut len) = (row + 1, first);
        if plan.has_strings {
            while end < batch {
                let next = plan.record_len(end);
                if len + next > stage.free() {
                    break;
                }
                len += next;
                end += 1;
            }
        } else {
            end = (row + stage.free() / first).min(batch);
            len = (end - row) * first;
        }
        enc.write_records(row..end, &mut Out::new(&mut stage.buf[stage.pos..][..len]));
        stage.pos += len;
        Ok(end)
    }
}
