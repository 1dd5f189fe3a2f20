//! Arbitrary bytes as a `.npy` file, through `bprwire::npy` (the reader the
//! CLI uses) and on into the encoder's planner. For any input:
//! - no panic (the header grammar, checked arithmetic on every dimension);
//! - nothing is allocated in proportion to what the header claims: the
//!   smoke run sets `-malloc_limit_mb` and `-rss_limit_mb` low (see
//!   `scripts/fuzz-smoke.sh`), so an allocation sized by a header is a
//!   finding; the conversions are checked to be no larger than the input;
//! - an accepted array's elements, as a tensor, are planned (and encoded
//!   and decoded again when the response is small) or refused with an
//!   error, never a panic.

#![no_main]

use bprwire::npy::{Elements, NpyArray};
use bprwire::{BatchPrediction, StringKind, Tensor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(array) = NpyArray::parse(data.to_vec()) else {
        return;
    };
    assert!(array.data().len() <= data.len());
    let _ = array.keys("--keys");
    let Ok(elements) = array.elements() else {
        return;
    };
    match &elements {
        Elements::Fixed { bytes, .. } | Elements::Strings { bytes, .. } => {
            assert_eq!(bytes.len(), array.data().len(), "a conversion changed the size")
        }
    }
    for kind in [StringKind::Text, StringKind::Binary] {
        let tensors = [Tensor::new(elements.tensor_data(kind), array.shape())];
        let inputs = BatchPrediction::new().dense(&[1], &tensors);
        let Ok(enc) = inputs.encoder() else {
            continue;
        };
        if enc.encoded_len() > 1 << 20 {
            continue; // legal, but the user's disk is what limits it
        }
        let bytes = enc.encode_to_vec();
        let view = bprwire::decode::decode_response(&bytes).expect("bprwire decodes what it wrote");
        assert_eq!(view.len(), enc.batch_size());
    }
});
