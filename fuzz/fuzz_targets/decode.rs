//! Arbitrary bytes into the decoder. The first byte picks what is decoded:
//! 0 a bare `BatchPredictionResponse`, 1 a `getBatchPrediction` reply
//! message, 2 a framed reply, 3 a `BatchPredictionRequest`. For any input:
//! - no panic, and an error's offset lies inside the input;
//! - the fast path and the general reader (`decode_response_general`)
//!   accept the same responses with the same views, and refuse the same
//!   ones with the same error;
//! - decoding allocates nothing (a counting allocator checks it), so no
//!   input can make it allocate more than its own size;
//! - what decodes re-encodes (`Response::reencode`) to bytes no longer than
//!   the input, which decode again to the same bytes; to exactly the input
//!   when the decoder calls it canonical;
//! - the reference decoder reads an accepted response to the same values
//!   (its one documented difference: it refuses a skipped unknown STRING
//!   that is not UTF-8);
//! - an accepted exception reply, written again by bprwire's writers,
//!   decodes to the same message;
//! - an accepted response cut by record counts (`Response::split`, as a
//!   server cuts a model's response by request) gives parts that decode,
//!   hold those counts, and join back to the re-encoding; counts that do
//!   not add up give `None`.

#![no_main]

use bprwire::decode::{self, Response};
use bprwire::service::{self, ApplicationErrorKind, Envelope, Reply};
use bprwire_reference::alloc_count::{allocated_by, Counting};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn no_alloc<T>(f: impl FnOnce() -> T) -> T {
    let (t, n) = allocated_by(f);
    assert_eq!(n, 0, "the decoder allocated {n} bytes");
    t
}

/// Walks every view (no allocation), re-encodes, and checks the
/// re-encoding. `input` is the response's own bytes if known.
fn check_response(view: &Response<'_>, input: Option<&[u8]>) -> Vec<u8> {
    no_alloc(|| {
        let mut n = 0usize;
        for r in view.records() {
            n += r.continuous_features.map_or(0, |m| m.iter().count());
            n += r.tensors.map_or(0, |m| {
                m.iter().map(|(_, t)| t.element_count().unwrap_or(0)).count()
            });
            n += r.sparse_tensors.map_or(0, |m| m.iter().count());
        }
        std::hint::black_box(n);
    });
    let again = view.reencode();
    assert!(again.len() <= view.encoded_len(), "re-encoding grew");
    if let Some(input) = input {
        if view.is_canonical() {
            assert_eq!(again, input, "canonical input re-encoded differently");
        }
    }
    let view2 = decode::decode_response(&again).expect("a re-encoding decodes");
    assert!(view2.is_canonical());
    assert_eq!(view2.reencode(), again);
    check_split(view, &again);
    again
}

/// Cuts the response into parts of 1, 2, 3, ... records (the last takes
/// what is left): each decodes with its count, and the parts' records,
/// joined, are the whole response's re-encoding.
fn check_split(view: &Response<'_>, reencoded: &[u8]) {
    let n = view.len();
    let mut counts = Vec::new();
    let (mut left, mut next) = (n, 1);
    while left > 0 {
        let c = next.min(left);
        counts.push(c);
        left -= c;
        next += 1;
    }
    let parts = view.split(&counts).expect("the counts add up");
    let mut joined = Vec::new();
    for (part, &c) in parts.iter().zip(&counts) {
        let p = decode::decode_response(part).expect("a part decodes");
        assert_eq!(p.len(), c);
        // Each part: field header (3), list header (5), the records, STOP.
        joined.extend_from_slice(&part[8..part.len() - 1]);
    }
    // The whole response: the same headers around all the records.
    assert_eq!(joined, reencoded[8..reencoded.len() - 1], "the parts' records are the whole's");
    assert!(view.split(&[n + 1]).is_none());
}

fn response(bytes: &[u8]) {
    let decoded = no_alloc(|| decode::decode_response(bytes));
    // The general reader alone (no fast path) must agree exactly: the same
    // views, counters and re-encoding, or the same error.
    let general = no_alloc(|| decode::decode_response_general(bytes));
    match (&decoded, &general) {
        (Ok(f), Ok(g)) => {
            assert_eq!(f.reencode(), g.reencode(), "fast and general views differ");
            assert_eq!(
                (f.len(), f.skipped_fields(), f.is_canonical(), f.encoded_len()),
                (g.len(), g.skipped_fields(), g.is_canonical(), g.encoded_len())
            );
        }
        (Err(f), Err(g)) => assert_eq!(f, g, "fast and general errors differ"),
        _ => panic!("fast {decoded:?} but general {general:?}"),
    }
    let view = match decoded {
        Ok(v) => v,
        Err(e) => {
            assert!(
                e.offset() <= bytes.len(),
                "offset {} past {} bytes",
                e.offset(),
                bytes.len()
            );
            let _ = e.to_string();
            return;
        }
    };
    check_response(&view, Some(bytes));
    match bprwire_reference::deserialize(bytes) {
        Ok(reference) => assert_eq!(
            bprwire_reference::serialize(&bprwire_reference::from_view(&view)),
            bprwire_reference::serialize(&reference),
            "the reference reads other values"
        ),
        Err(e) => assert!(
            view.skipped_fields() > 0,
            "the reference refuses what bprwire accepts: {e}"
        ),
    }
}

fn reply(bytes: &[u8], framed: bool) {
    let decoded = no_alloc(|| service::decode_reply(bytes, framed));
    let msg = match decoded {
        Ok(m) => m,
        Err(e) => {
            assert!(e.offset() <= bytes.len());
            let _ = e.to_string();
            return;
        }
    };
    let env = Envelope {
        seqid: msg.seqid,
        framed,
    };
    let written = match msg.body {
        Reply::Success(resp) => {
            check_response(&resp, None);
            return;
        }
        Reply::ServiceException { description } => {
            service::service_exception_reply(env, description).unwrap()
        }
        Reply::ApplicationException { message, kind } => {
            // Only what the writer can express: a message and a known kind.
            let (Some(message), Some(kind)) = (message, kind) else {
                return;
            };
            let Some(kind) = known_kind(kind) else { return };
            service::application_exception(env, message, kind).unwrap()
        }
    };
    let again = service::decode_reply(&written, framed).expect("written reply decodes");
    assert_eq!(again, msg);
}

fn known_kind(k: i32) -> Option<ApplicationErrorKind> {
    use ApplicationErrorKind::*;
    [
        Unknown,
        UnknownMethod,
        InvalidMessageType,
        WrongMethodName,
        BadSequenceId,
        MissingResult,
        InternalError,
        ProtocolError,
        InvalidTransform,
        InvalidProtocol,
        UnsupportedClientType,
    ]
    .get(usize::try_from(k).ok()?)
    .copied()
}

/// A request: no panic, no allocation, an error inside the input, the
/// same result with the fast path off; what
/// decodes re-encodes to bytes that decode again to the same, exactly the
/// input when canonical; the reference reads the same values (or refuses
/// only a skipped unknown STRING that is not UTF-8).
fn request(bytes: &[u8]) {
    let fast = no_alloc(|| decode::decode_request(bytes));
    // The fast path and the general reader: the same views or the same error.
    match (&fast, decode::decode_request_general(bytes)) {
        (Ok(a), Ok(b)) => assert_eq!(a.reencode(), b.reencode(), "fast and general requests differ"),
        (Err(a), Err(b)) => assert_eq!(*a, b, "fast and general request errors differ"),
        (a, b) => panic!("fast {a:?} but general {b:?}"),
    }
    // The record count a server admits a request by, read alone: the
    // full decode's count whenever that succeeds (and never a panic).
    let records = no_alloc(|| decode::request_records(bytes));
    if let Ok(v) = &fast {
        assert_eq!(records, Ok(v.len()), "the count read alone differs");
    }
    let view = match fast {
        Ok(v) => v,
        Err(e) => {
            assert!(
                e.offset() <= bytes.len(),
                "offset {} past {} bytes",
                e.offset(),
                bytes.len()
            );
            return;
        }
    };
    let again = view.reencode();
    if view.is_canonical() {
        assert_eq!(again, bytes, "canonical request re-encoded differently");
    }
    let view2 = decode::decode_request(&again).expect("a re-encoded request decodes");
    assert_eq!(view2.reencode(), again);
    match bprwire_reference::deserialize_request(bytes) {
        Ok(reference) => assert_eq!(
            bprwire_reference::serialize_request(&bprwire_reference::request_from_view(&view)),
            bprwire_reference::serialize_request(&reference),
            "the reference reads another request"
        ),
        Err(e) => assert!(
            view.skipped_fields() > 0,
            "the reference refuses what bprwire accepts: {e}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => response(bytes),
        1 => reply(bytes, false),
        2 => reply(bytes, true),
        _ => request(bytes),
    }
});
