//! The sinks' memory promises, seen by a counting global allocator:
//! - `write_to_with` (the caller's staging buffer) and `Vectored::write_to`
//!   allocate nothing;
//! - `vectored_into` into a plan that has served a response of the same
//!   shape allocates nothing, and `recycle` keeps its buffers;
//! - `write_to` allocates one staging buffer, no larger than
//!   `DEFAULT_STAGING`, even for a response of many megabytes, and still
//!   writes every byte right;
//! - feature `bytes`: `encode_to_bytes_mut` makes exactly one allocation,
//!   of exactly `encoded_len()` bytes, into an empty `BytesMut`.

use bprwire::sink::{Vectored, DEFAULT_MIN_BORROW, DEFAULT_STAGING, MIN_STAGING};
use bprwire::{BatchPrediction, Tensor};
use bprwire_reference::alloc_count::{allocated_by, Counting};
use std::io::{self, Write};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A writer that counts and checks bytes against the expected response,
/// without storing them (so it allocates nothing itself).
struct Checking<'e> {
    expected: &'e [u8],
    at: usize,
    calls: usize,
}

impl Write for Checking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.expected.len() - self.at);
        assert_eq!(buf[..n], self.expected[self.at..][..n], "at byte {}", self.at);
        self.at += n;
        self.calls += 1;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// ~6.6 MB: a continuous map of 5000 keys per record (a record longer than
/// any staging buffer here), raw f32 rows of 32 KiB, typed i64 ids, strings.
struct Big {
    keys: Vec<i64>,
    values: Vec<f32>,
    emb: Vec<f32>,
    ids: Vec<i64>,
    words: Vec<&'static str>,
}

impl Big {
    fn tensors(&self) -> [Tensor<'_>; 3] {
        [
            Tensor::new(&self.emb, &[48, 8192]),
            Tensor::new(&self.ids, &[48, 300]),
            Tensor::new(&self.words, &[48, 2]),
        ]
    }

    /// The continuous map and `tensors` under keys 1, 2, ...
    fn inputs<'a>(&'a self, tensors: &'a [Tensor<'a>]) -> BatchPrediction<'a> {
        let keys = &[1, 2, 3][..tensors.len()];
        BatchPrediction::new()
            .continuous(&self.keys, &self.values, &[48, 5000])
            .dense(keys, tensors)
    }
}

impl<'e> Checking<'e> {
    fn new(expected: &'e [u8]) -> Self {
        Checking {
            expected,
            at: 0,
            calls: 0,
        }
    }
}

fn big() -> Big {
    let rows = 48;
    Big {
        keys: (0..5000).collect(),
        values: (0..rows * 5000).map(|i| i as f32 * 0.5).collect(),
        emb: (0..rows * 8192).map(|i| i as f32).collect(),
        ids: (0..rows * 300).collect(),
        words: (0..rows * 2)
            .map(|i| if i % 3 == 0 { "twml" } else { "bprwire" })
            .collect(),
    }
}

#[test]
fn the_counter_sees_allocations() {
    let (v, n) = allocated_by(|| vec![0u8; 100]);
    assert!(n >= 100 && v.len() == 100);
}

#[test]
fn staged_and_vectored_writes_allocate_nothing() {
    let b = big();
    let tensors = b.tensors();
    for typed in [false, true] {
        let mut inputs = b.inputs(&tensors);
        if typed {
            inputs = inputs.typed();
        }
        let enc = inputs.encoder().unwrap();
        let expected = enc.encode_to_vec();
        assert!(expected.len() > 5_000_000);

        for staging_len in [MIN_STAGING, 1000, DEFAULT_STAGING] {
            let mut staging = vec![0u8; staging_len];
            let mut w = Checking::new(&expected);
            let (r, bytes) = allocated_by(|| enc.write_to_with(&mut w, &mut staging));
            assert_eq!(r.unwrap(), expected.len());
            assert_eq!((w.at, bytes), (expected.len(), 0), "staging {staging_len}");
        }

        let mut plan = Vectored::default();
        enc.vectored_into(&mut plan, DEFAULT_MIN_BORROW);
        let (_, bytes) = allocated_by(|| enc.vectored_into(&mut plan, DEFAULT_MIN_BORROW));
        assert_eq!(bytes, 0, "refilling a plan of the same shape");
        let mut w = Checking::new(&expected);
        let (r, bytes) = allocated_by(|| plan.write_to(&mut w));
        assert_eq!((r.unwrap(), w.at, bytes), (expected.len(), expected.len(), 0));

        // The next request's inputs (another lifetime): the recycled plan
        // is refilled without allocating.
        let copied = plan.copied_bytes();
        let b2 = big();
        let t2 = b2.tensors();
        let mut i2 = b2.inputs(&t2);
        if typed {
            i2 = i2.typed();
        }
        let e2 = i2.encoder().unwrap();
        let mut next = plan.recycle();
        let (_, bytes) = allocated_by(|| e2.vectored_into(&mut next, DEFAULT_MIN_BORROW));
        assert_eq!(bytes, 0, "a recycled plan keeps its buffers");
        assert_eq!(next.copied_bytes(), copied);
        assert_eq!(next.chunks().collect::<Vec<_>>().concat(), expected);
    }
}

#[test]
fn write_to_stages_in_bounded_memory() {
    let b = big();
    let tensors = [Tensor::new(&b.emb, &[48, 8192])];
    let enc = b.inputs(&tensors).encoder().unwrap();
    let expected = enc.encode_to_vec();
    let mut w = Checking::new(&expected);
    let (r, bytes) = allocated_by(|| enc.write_to(&mut w));
    assert_eq!(r.unwrap(), expected.len());
    assert_eq!(w.at, expected.len());
    assert!(
        bytes <= DEFAULT_STAGING,
        "{bytes} bytes allocated for a {}-byte response",
        expected.len()
    );
    // Few, large writes: about one per staging buffer.
    assert!(
        w.calls <= expected.len() / (DEFAULT_STAGING - 9) + 2,
        "{} calls",
        w.calls
    );
}

#[cfg(feature = "bytes")]
#[test]
fn encode_to_bytes_mut_reserves_exactly_once() {
    let b = big();
    let tensors = [Tensor::new(&b.emb, &[48, 8192])];
    let enc = b.inputs(&tensors).encoder().unwrap();
    let mut buf = bytes::BytesMut::new();
    let (n, bytes) = allocated_by(|| enc.encode_to_bytes_mut(&mut buf));
    assert_eq!(n, enc.encoded_len());
    assert_eq!(
        bytes,
        enc.encoded_len(),
        "one allocation of exactly encoded_len bytes"
    );
    assert_eq!(&buf[..], &enc.encode_to_vec()[..]);
}
