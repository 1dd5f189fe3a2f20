//! TensorFlow Serving's `Predict` request on arbitrary bytes, as both of
//! its protocols read it: the gRPC message
//! (`tensorflow.serving.PredictRequest`), then the reading of its
//! `examples` tensor (the one input, `DT_STRING`, its shape against its
//! elements); the REST body (`instances` or `inputs`, `b64` strings); the
//! REST path (`name[/versions/N|/labels/L][/metadata|:verb]`). Nothing may
//! panic, and nothing may allocate more than a small multiple of the input
//! (the smoke run sets `-malloc_limit_mb`): a shape or a JSON list says
//! how many elements to expect, never how many to reserve.
#![no_main]

use bprwire_serve::frontend::tfserving::{grpc, rest};
use bprwire_serve::proto::tensorflow::serving::PredictRequest;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = PredictRequest::decode(data) {
        if let Ok(requests) = grpc::requests("examples", request.inputs) {
            // Each element is a slice of the message.
            assert!(requests.iter().map(|r| r.len()).sum::<usize>() <= data.len());
        }
    }
    if let Ok(call) = rest::parse(data, "examples") {
        // Each element is at most its text's bytes (base64 only shrinks).
        assert!(!call.requests.is_empty());
        assert!(call.requests.iter().map(|r| r.len()).sum::<usize>() <= data.len());
    }
    if let Ok(path) = std::str::from_utf8(data) {
        if let Some(r) = rest::resource(path) {
            assert!(!r.name.is_empty() && !r.name.contains(['/', ':']));
        }
    }
});
