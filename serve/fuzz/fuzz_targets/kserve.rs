//! The KServe v2 request parsers on arbitrary bytes: a REST infer body
//! (JSON and binary-extension parts, the first two bytes choosing where
//! the JSON ends), a gRPC `ModelInferRequest` message, and the `request`
//! tensor's reading (the BYTES splitter, the UINT8 forms) after either.
//! Nothing may panic, and nothing may allocate more than a small multiple
//! of the input (the smoke run sets `-malloc_limit_mb`): a shape or a
//! length prefix says how much to expect, never how much to reserve.
#![no_main]

use bprwire_serve::frontend::kserve::{self, grpc, rest};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let inputs = if mode & 1 == 0 {
        // REST: [json_len: u16 LE] [body]
        let Some((len, body)) = rest.split_at_checked(2) else {
            return;
        };
        let json_len = usize::from(u16::from_le_bytes([len[0], len[1]])).min(body.len());
        match rest::parse(Bytes::copy_from_slice(body), json_len) {
            Ok(call) => call.inputs,
            Err(_) => return,
        }
    } else {
        let Ok(request) = grpc::pb::ModelInferRequest::decode(rest) else {
            return;
        };
        match grpc::infer_inputs(request) {
            Ok((inputs, _)) => inputs,
            Err(_) => return,
        }
    };
    // The queue's size bounds the requests of one call (mode's high bits
    // vary it a little).
    let _ = kserve::requests(inputs, 1 + usize::from(mode >> 1));
});
