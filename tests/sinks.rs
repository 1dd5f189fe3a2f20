//! Every output sink writes exactly the bytes of `encode_into`, over the
//! generated cases (all input kinds, raw and typed, every kernel level):
//! - `Encoder::write_to(_with)` through staging buffers from the smallest
//!   allowed (which splits rows, strings and continuous records) to the
//!   default, into writers that take one byte at a time, a few bytes, or
//!   everything, that return `Interrupted`, and that fail or accept 0 bytes
//!   midway (then `WriteError::written` is exact and the writer holds that
//!   prefix, nothing more);
//! - bounded memory: every write the sink makes comes from the staging
//!   buffer, except pieces of the caller's input at least as long as it;
//! - `Vectored`: its chunks concatenate to the response for any borrowing
//!   threshold, its borrowed chunks point into the inputs, and
//!   `Vectored::write_to` / `sink::write_all_vectored` survive partial
//!   vectored writes, writers without vectored support, and failures;
//! - `Encoder::write_reply_to`: the reply message, framed or not, through
//!   the same staging, with failures counted over the whole message;
//! - feature `bytes`: `encode_to_bytes_mut` and `encode_to_buf_mut` into
//!   `BytesMut`, `Vec`, slices (too short: refused, untouched) and chains
//!   of small slices.
//!
//! Case counts: `PROPTEST_CASES` overrides the default of each property.

mod common;

use bprwire::sink::{self, Vectored, WriteError, MIN_STAGING};
use bprwire::Encoder;
use common::{case, Case, Inputs};
use proptest::prelude::*;
use proptest::sample::Index;
use std::io::{self, IoSlice, Write};

/// A writer with a script: takes at most `max` bytes a call, answers every
/// third call with `Interrupted` if asked, and after `limit` bytes fails
/// (or, with `zero`, accepts 0 bytes). Records every buffer it is offered.
struct Scripted {
    out: Vec<u8>,
    max: usize,
    limit: usize,
    interrupt: bool,
    zero: bool,
    vectored: bool,
    calls: usize,
    offered: Vec<(usize, usize)>, // (address, length) of each buffer offered
}

impl Scripted {
    fn new(max: usize) -> Self {
        Scripted {
            out: Vec::new(),
            max,
            limit: usize::MAX,
            interrupt: false,
            zero: false,
            vectored: true,
            calls: 0,
            offered: Vec::new(),
        }
    }

    /// How much of `want` bytes to take now, or the scripted error.
    fn admit(&mut self, want: usize) -> io::Result<usize> {
        self.calls += 1;
        if self.interrupt && self.calls.is_multiple_of(3) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "scripted"));
        }
        let room = self.limit - self.out.len();
        if room == 0 && want > 0 {
            return if self.zero {
                Ok(0)
            } else {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "scripted failure"))
            };
        }
        Ok(want.min(self.max).min(room))
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.offered.push((buf.as_ptr() as usize, buf.len()));
        let n = self.admit(buf.len())?;
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if !self.vectored {
            // std's default: the first non-empty slice only.
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            return self.write(first);
        }
        for b in bufs {
            self.offered.push((b.as_ptr() as usize, b.len()));
        }
        let mut n = self.admit(bufs.iter().map(|b| b.len()).sum())?;
        let taken = n;
        for b in bufs {
            let k = n.min(b.len());
            self.out.extend_from_slice(&b[..k]);
            n -= k;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The writer's knobs a case draws.
#[derive(Clone, Debug)]
struct Script {
    staging_extra: usize,
    max: usize,
    fail_at: Index,
    interrupt: bool,
    zero: bool,
    min_borrow: usize,
}

fn script() -> impl Strategy<Value = Script> {
    (
        0usize..400,
        prop_oneof![Just(1usize), 2usize..40, Just(usize::MAX)],
        any::<Index>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(0usize),
            Just(1),
            Just(sink::DEFAULT_MIN_BORROW),
            Just(usize::MAX),
            0usize..64
        ],
    )
        .prop_map(
            |(staging_extra, max, fail_at, interrupt, zero, min_borrow)| Script {
                staging_extra,
                max,
                fail_at,
                interrupt,
                zero,
                min_borrow,
            },
        )
}

/// A failure after `limit` bytes: `WriteError` says so exactly, and the
/// writer holds that prefix.
fn check_failure(
    result: Result<usize, WriteError>,
    w: &Scripted,
    expected: &[u8],
    limit: usize,
    what: &str,
) -> Result<(), TestCaseError> {
    if limit >= expected.len() {
        prop_assert_eq!(result.map_err(|e| e.to_string()), Ok(expected.len()), "{}", what);
        prop_assert_eq!(&w.out[..], expected, "{}", what);
        return Ok(());
    }
    let err = match result {
        Err(e) => e,
        Ok(n) => {
            return Err(TestCaseError::fail(format!(
                "{what}: wrote {n} past a failure at {limit}"
            )))
        }
    };
    prop_assert_eq!(err.written(), limit, "{}: {}", what, err);
    prop_assert_eq!(err.total(), expected.len());
    let kind = if w.zero {
        io::ErrorKind::WriteZero
    } else {
        io::ErrorKind::BrokenPipe
    };
    prop_assert_eq!(err.io_error().kind(), kind);
    prop_assert_eq!(
        io::Error::from(err).kind(),
        kind,
        "the kind survives into io::Error"
    );
    prop_assert_eq!(&w.out[..], &expected[..limit], "{}", what);
    Ok(())
}

fn check_write_to(enc: &Encoder<'_>, expected: &[u8], s: &Script) -> Result<(), TestCaseError> {
    let len = expected.len();
    // Whole responses, several staging sizes, writers of every pace.
    for staging_len in [MIN_STAGING, MIN_STAGING + s.staging_extra, 4096] {
        let mut staging = vec![0xA5u8; staging_len];
        let range = staging.as_ptr_range();
        let (lo, hi) = (range.start as usize, range.end as usize);
        let mut w = Scripted::new(s.max);
        w.interrupt = s.interrupt;
        prop_assert_eq!(
            enc.write_to_with(&mut w, &mut staging).map_err(|e| e.to_string()),
            Ok(len)
        );
        prop_assert_eq!(&w.out[..], expected, "staging {}", staging_len);
        // Bounded: a write from outside the staging buffer is one of the
        // caller's pieces, first offered whole and at least as long as the
        // staging capacity (a slow writer is then offered its rest).
        let mut whole_ends = Vec::new();
        for &(at, n) in &w.offered {
            if at >= lo && at + n <= hi {
                continue;
            }
            if n >= staging_len {
                whole_ends.push(at + n);
            }
            prop_assert!(
                whole_ends.contains(&(at + n)),
                "a {}-byte write from outside a {}-byte staging buffer",
                n,
                staging_len
            );
        }
    }
    let mut w = Scripted::new(s.max);
    prop_assert_eq!(enc.write_to(&mut w).map_err(|e| e.to_string()), Ok(len));
    prop_assert_eq!(&w.out[..], expected, "default staging");

    // Failing (or accepting nothing) midway.
    let limit = s.fail_at.index(len + 1);
    let mut w = Scripted::new(s.max);
    (w.limit, w.zero, w.interrupt) = (limit, s.zero, s.interrupt);
    let mut staging = vec![0u8; MIN_STAGING + s.staging_extra];
    let result = enc.write_to_with(&mut w, &mut staging);
    check_failure(result, &w, expected, limit, "write_to_with")
}

/// `write_reply_to` writes exactly `encode_reply_to_vec`'s bytes, framed
/// and not, and counts a failure over the whole message.
fn check_write_reply_to(enc: &Encoder<'_>, s: &Script) -> Result<(), TestCaseError> {
    for framed in [false, true] {
        let env = bprwire::service::Envelope { seqid: -7, framed };
        let expected = enc.encode_reply_to_vec(env).unwrap();
        let mut w = Scripted::new(s.max);
        w.interrupt = s.interrupt;
        prop_assert_eq!(
            enc.write_reply_to(env, &mut w).map_err(|e| e.to_string()),
            Ok(expected.len())
        );
        prop_assert_eq!(&w.out, &expected, "framed {}", framed);
        let limit = s.fail_at.index(expected.len() + 1);
        let mut w = Scripted::new(s.max);
        (w.limit, w.zero, w.interrupt) = (limit, s.zero, s.interrupt);
        let result = enc.write_reply_to(env, &mut w);
        check_failure(result, &w, &expected, limit, "write_reply_to")?;
    }
    Ok(())
}

fn check_vectored(
    enc: &Encoder<'_>,
    expected: &[u8],
    s: &Script,
    inputs: &[(usize, usize)],
) -> Result<(), TestCaseError> {
    let len = expected.len();
    let mut plan = Vectored::default();
    for min_borrow in [s.min_borrow, 0, usize::MAX] {
        enc.vectored_into(&mut plan, min_borrow);
        prop_assert_eq!(plan.len(), len);
        prop_assert_eq!(plan.copied_bytes() + plan.borrowed_bytes(), len);
        prop_assert_eq!(plan.chunks().count(), plan.chunk_count());
        prop_assert!(plan.chunks().all(|c| !c.is_empty()), "an empty chunk");
        prop_assert_eq!(
            &plan.chunks().collect::<Vec<_>>().concat(),
            expected,
            "min_borrow {}",
            min_borrow
        );
        // What is not copied points into the inputs, and is long enough.
        let mut borrowed = 0;
        for c in plan.chunks() {
            let at = c.as_ptr() as usize;
            if inputs.iter().any(|&(lo, hi)| at >= lo && at + c.len() <= hi) {
                prop_assert!(c.len() >= min_borrow.max(1));
                borrowed += c.len();
            }
        }
        prop_assert_eq!(borrowed, plan.borrowed_bytes());
        if min_borrow == usize::MAX {
            prop_assert_eq!(plan.borrowed_bytes(), 0);
        }
    }
    enc.vectored_into(&mut plan, s.min_borrow);
    for vectored in [true, false] {
        let mut w = Scripted::new(s.max);
        (w.interrupt, w.vectored) = (s.interrupt, vectored);
        prop_assert_eq!(plan.write_to(&mut w).map_err(|e| e.to_string()), Ok(len));
        prop_assert_eq!(&w.out[..], expected, "vectored writer: {}", vectored);

        let limit = s.fail_at.index(len + 1);
        let mut w = Scripted::new(s.max);
        (w.limit, w.zero, w.interrupt, w.vectored) = (limit, s.zero, s.interrupt, vectored);
        check_failure(plan.write_to(&mut w), &w, expected, limit, "Vectored::write_to")?;

        let mut w = Scripted::new(s.max);
        (w.limit, w.zero, w.interrupt, w.vectored) = (limit, s.zero, s.interrupt, vectored);
        let mut slices = plan.io_slices();
        check_failure(
            sink::write_all_vectored(&mut w, &mut slices),
            &w,
            expected,
            limit,
            "write_all_vectored",
        )?;
    }
    // Refilled for inputs of another lifetime, it keeps its buffers.
    let recycled: Vectored<'static> = plan.recycle();
    prop_assert!(recycled.is_empty() && recycled.chunk_count() == 0);
    Ok(())
}

#[cfg(feature = "bytes")]
fn check_buf_mut(enc: &Encoder<'_>, expected: &[u8], s: &Script) -> Result<(), TestCaseError> {
    use bytes::{BufMut, BytesMut};
    let len = expected.len();

    let mut b = BytesMut::from(&b"before"[..]);
    prop_assert_eq!(enc.encode_to_bytes_mut(&mut b), len);
    prop_assert_eq!(&b[..6], b"before");
    prop_assert_eq!(&b[6..], expected);

    let mut b = BytesMut::new();
    prop_assert_eq!(enc.encode_to_buf_mut(&mut b), Ok(len));
    prop_assert_eq!(&b[..], expected);
    let mut v = vec![1u8, 2];
    prop_assert_eq!(enc.encode_to_buf_mut(&mut v), Ok(len));
    prop_assert_eq!(&v[2..], expected);

    // A slice: exact, and one byte short (refused, untouched).
    let mut exact = vec![0xEEu8; len];
    prop_assert_eq!(enc.encode_to_buf_mut(&mut &mut exact[..]), Ok(len));
    prop_assert_eq!(&exact[..], expected);
    let mut short = vec![0xEEu8; len - 1];
    prop_assert_eq!(
        enc.encode_to_buf_mut(&mut &mut short[..]),
        Err(bprwire::Error::BufferTooSmall {
            needed: len,
            available: len - 1
        })
    );
    prop_assert!(short.iter().all(|&x| x == 0xEE));

    // Not contiguous: a chain of three slices cut anywhere.
    let cut1 = s.fail_at.index(len + 1);
    let cut2 = cut1 + (s.staging_extra % (len - cut1 + 1));
    let (mut a, mut b, mut c) = (vec![0u8; cut1], vec![0u8; cut2 - cut1], vec![0u8; len - cut2]);
    let mut chain = (&mut a[..]).chain_mut(&mut b[..]).chain_mut(&mut c[..]);
    prop_assert_eq!(enc.encode_to_buf_mut(&mut chain), Ok(len));
    prop_assert_eq!(&[a, b, c].concat(), expected);
    Ok(())
}

#[cfg(not(feature = "bytes"))]
fn check_buf_mut(_: &Encoder<'_>, _: &[u8], _: &Script) -> Result<(), TestCaseError> {
    Ok(())
}

/// Address ranges of the case's input memory (tensor elements, strings).
fn input_ranges(case: &Case) -> Vec<(usize, usize)> {
    use common::OwnedData;
    let range = |p: *const u8, n: usize| (p as usize, p as usize + n);
    let mut out = Vec::new();
    for t in case.dense.iter().flat_map(|(_, ts)| ts) {
        match &t.data {
            OwnedData::F32(v) => out.push(range(v.as_ptr().cast(), v.len() * 4)),
            OwnedData::F64(v) => out.push(range(v.as_ptr().cast(), v.len() * 8)),
            OwnedData::I32(v) => out.push(range(v.as_ptr().cast(), v.len() * 4)),
            OwnedData::I64(v) => out.push(range(v.as_ptr().cast(), v.len() * 8)),
            OwnedData::U8(v) => out.push(range(v.as_ptr(), v.len())),
            OwnedData::Bool(v) => out.push(range(v.as_ptr().cast(), v.len())),
            OwnedData::Raw(_, v) | OwnedData::Padded { bytes: v, .. } => out.push(range(v.as_ptr(), v.len())),
            OwnedData::Str(v) => out.extend(v.iter().map(|s| range(s.as_ptr(), s.len()))),
            OwnedData::Bytes(v) | OwnedData::Binary(v) => {
                out.extend(v.iter().map(|s| range(s.as_ptr(), s.len())))
            }
        }
    }
    out
}

fn check(case: &Case, s: &Script) -> Result<(), TestCaseError> {
    let views = case.views();
    let tensors = case.tensors(&views);
    let inputs = case.inputs(&tensors);
    let enc = inputs.encoder().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let expected = enc.encode_to_vec();
    check_write_to(&enc, &expected, s)?;
    check_write_reply_to(&enc, s)?;
    check_vectored(&enc, &expected, s, &input_ranges(case))?;
    check_buf_mut(&enc, &expected, s)?;
    // The chunked sinks call the kernels on pieces: at every level.
    for level in bprwire::Level::available() {
        let enc = inputs.clone().level(level).encoder().unwrap();
        let mut w = Scripted::new(usize::MAX);
        let mut staging = [0u8; MIN_STAGING];
        enc.write_to_with(&mut w, &mut staging).unwrap();
        prop_assert_eq!(&w.out, &expected, "staged at level {}", level);
        let plan = enc.vectored();
        prop_assert_eq!(
            &plan.chunks().collect::<Vec<_>>().concat(),
            &expected,
            "vectored at level {}",
            level
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn continuous_only(c in case(Inputs::Continuous), s in script()) {
        check(&c, &s)?;
    }

    #[test]
    fn dense_only(c in case(Inputs::Dense), s in script()) {
        check(&c, &s)?;
    }

    #[test]
    fn continuous_and_dense(c in case(Inputs::Both), s in script()) {
        check(&c, &s)?;
    }
}
