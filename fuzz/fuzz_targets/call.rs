//! Arbitrary bytes as a server reads them: the first byte says where to
//! cut the rest into pieces, the rest is a call message. For any input:
//! - `decode_call` and `Call::batch_request` never panic, and an error's
//!   offset lies inside the input;
//! - `Call::prediction_request` never panics either, and the request it
//!   makes of a `getPrediction` call decodes as one record;
//! - the unframed transport's `MessageScanner`, fed the message in
//!   pieces, says what it says when given it whole (the same end, the same
//!   `NeedMore`, the same error);
//! - a message that decodes as a call with its request is delimited by
//!   the scanner exactly at its end.

#![no_main]

use bprwire::service::{self, MessageScanner, Scan};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|input: &[u8]| {
    let Some((&cut_seed, msg)) = input.split_first() else {
        return;
    };
    let decoded = service::decode_call(msg).map(|c| c.batch_request().map(|r| r.len()));
    match &decoded {
        Err(e) | Ok(Err(e)) => assert!(
            e.offset() <= msg.len(),
            "offset {} past {}",
            e.offset(),
            msg.len()
        ),
        Ok(Ok(_)) => {}
    }
    if let Ok(call) = service::decode_call(msg) {
        match call.prediction_request() {
            Ok(request) => {
                let one = bprwire::decode::decode_request(&request).map(|r| r.len());
                assert!(matches!(one, Ok(1) | Err(_)), "{one:?}");
            }
            Err(e) => assert!(e.offset() <= msg.len()),
        }
    }
    let whole = MessageScanner::new(LIMIT).scan(msg);
    // Pieces: cuts every (cut_seed + 1) bytes, so 1-byte pieces are tried.
    let step = usize::from(cut_seed) + 1;
    let mut scanner = MessageScanner::new(LIMIT);
    let mut pieces = Ok(Scan::NeedMore(0));
    let mut end = 0;
    while end < msg.len() {
        end = (end + step).min(msg.len());
        pieces = scanner.scan(&msg[..end]);
        if !matches!(pieces, Ok(Scan::NeedMore(_))) {
            break;
        }
    }
    if msg.is_empty() {
        pieces = scanner.scan(msg);
    }
    assert_eq!(pieces, whole, "pieces of {step} bytes disagree with the whole");
    if let Ok(Scan::NeedMore(n)) = whole {
        assert!(n > msg.len(), "NeedMore({n}) with {} bytes given", msg.len());
    }
    if let Ok(Ok(_)) = decoded {
        assert_eq!(
            whole,
            Ok(Scan::Complete(msg.len())),
            "a decoded call is not delimited at its end"
        );
    }
});
