//! Admission: the checks a request passes before it is queued (records,
//! the batch's bytes, shutdown, `max_queued_bytes`), and the ledger of the
//! work admitted and not yet answered.

use std::sync::Arc;

use crate::config::Limits;
use crate::metrics::Failure;

/// The checks before a request is queued, for one engine.
#[derive(Debug)]
pub struct Admission {
    pub(super) ledger: Arc<Ledger>,
    limits: Limits,
    /// Records per batch: a request larger runs alone, with input arrays
    /// of its own.
    max_records: usize,
    /// Bytes of one row of the input arrays.
    row_bytes: usize,
}

impl Admission {
    /// Admission under `limits` for batches of `max_records` rows of
    /// `row_bytes` bytes, counting in `ledger` (the server's, shared by
    /// every model).
    pub fn new(limits: Limits, ledger: Arc<Ledger>, max_records: usize, row_bytes: usize) -> Admission {
        Admission {
            ledger,
            limits,
            max_records,
            row_bytes,
        }
    }

    /// The checks before a request is queued: its record count (and, for
    /// a request larger than a batch, the bytes of its own input arrays
    /// against `limits.max_batch_bytes`), and its share of
    /// `max_queued_bytes` (its message, and those arrays).
    ///
    /// # Errors
    ///
    /// Why not, and what the client is told.
    pub fn admit(&self, records: usize, message_bytes: usize) -> Result<Held, (Failure, String)> {
        if records > self.limits.max_records_per_request {
            let why = format!(
                "{records} records, over the limit of {} per request",
                self.limits.max_records_per_request
            );
            return Err((Failure::TooManyRecords, why));
        }
        let arrays_bytes = records.saturating_mul(self.row_bytes);
        if arrays_bytes > self.limits.max_batch_bytes {
            let why = format!(
                "{records} records need {arrays_bytes} bytes of input arrays, over limits.max_batch_bytes ({})",
                self.limits.max_batch_bytes
            );
            return Err((Failure::TooManyRecords, why));
        }
        let arrays = if records > self.max_records {
            arrays_bytes
        } else {
            0
        };
        let charge = message_bytes.saturating_add(arrays);
        Held::take(&self.ledger, charge, self.limits.max_queued_bytes).ok_or_else(|| {
            let why = format!(
                "overloaded: over {} bytes of requests already queued",
                self.limits.max_queued_bytes
            );
            (Failure::Overloaded, why)
        })
    }
}

/// The work admitted and not yet answered: bytes of the jobs alive
/// (queued or running) and of their replies not yet written (against
/// `limits.max_queued_bytes`), and how many calls that is (what shutdown
/// waits for).
#[derive(Debug, Default)]
pub struct Ledger {
    bytes: std::sync::atomic::AtomicUsize,
    calls: std::sync::atomic::AtomicUsize,
    /// A request is running on its connection's thread (one at a time in
    /// the whole server: however a model stalls, the other connection
    /// threads stay free for calls and probes).
    inline: std::sync::atomic::AtomicBool,
}

impl Ledger {
    /// Calls admitted whose replies are not yet written (or dropped).
    pub fn owed(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The server's one inline run, if no other request holds it.
    pub fn inline(&self) -> Option<Inline<'_>> {
        use std::sync::atomic::Ordering;
        self.inline
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Inline(self))
    }
}

/// The server's one inline run, held (see [`Ledger::inline`]).
#[derive(Debug)]
pub struct Inline<'a>(&'a Ledger);

impl Drop for Inline<'_> {
    fn drop(&mut self) {
        self.0.inline.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// One call's entry in the [`Ledger`], from admission until its reply is
/// written (or dropped).
#[derive(Debug)]
pub struct Held {
    ledger: Arc<Ledger>,
    bytes: usize,
}

impl Held {
    /// Counts a call of `bytes` in, unless that would pass `limit`.
    pub fn take(ledger: &Arc<Ledger>, bytes: usize, limit: usize) -> Option<Held> {
        use std::sync::atomic::Ordering;
        ledger
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_add(bytes).filter(|&n| n <= limit)
            })
            .ok()?;
        ledger.calls.fetch_add(1, Ordering::AcqRel);
        Some(Held {
            ledger: ledger.clone(),
            bytes,
        })
    }

    /// Counts `bytes` instead (work already admitted: not checked).
    pub fn resize(&mut self, bytes: usize) {
        use std::sync::atomic::Ordering;
        if bytes >= self.bytes {
            self.ledger.bytes.fetch_add(bytes - self.bytes, Ordering::AcqRel);
        } else {
            self.ledger.bytes.fetch_sub(self.bytes - bytes, Ordering::AcqRel);
        }
        self.bytes = bytes;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        self.ledger.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.ledger.calls.fetch_sub(1, Ordering::AcqRel);
    }
}
