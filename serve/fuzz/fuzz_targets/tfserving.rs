//! TensorFlow Serving's `Predict` request on arbitrary bytes: the gRPC
//! message (`tensorflow.serving.PredictRequest`), then the reading of its
//! `examples` tensor (the one input, `DT_STRING`, its shape against its
//! elements). Nothing may panic, and nothing may allocate more than a
//! small multiple of the input (the smoke run sets `-malloc_limit_mb`): a
//! shape says how many elements to expect, never how many to reserve.
#![no_main]

use bprwire_serve::frontend::tfserving;
use bprwire_serve::proto::tensorflow::serving::PredictRequest;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = PredictRequest::decode(data) else {
        return;
    };
    if let Ok(requests) = tfserving::requests("examples", request.inputs) {
        // Each element is a slice of the message.
        assert!(requests.iter().map(|r| r.len()).sum::<usize>() <= data.len());
    }
});
