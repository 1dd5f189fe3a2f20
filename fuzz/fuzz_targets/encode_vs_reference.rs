//! Arbitrary requests against the reference: an accepted one must decode
//! (reference decoder) to exactly the data given, with `encoded_len()`
//! bytes and, for ascending keys, the reference encoder's bytes; a refused
//! one must name a rule the input really breaks, and leave the buffer as it
//! was.
#![no_main]

use bprwire_fuzz::{check_accepted, Case};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|case: Case| {
    let owned = case.build();
    owned.with_inputs(|bp| match bp.encoder() {
        Ok(enc) => {
            check_accepted(&owned, bp, &enc);
        }
        Err(err) => {
            if let Err(why) = owned.justify(&err) {
                panic!("refusal does not match its rule: {why}");
            }
            let mut buf = vec![0xEEu8; 4096];
            assert_eq!(bp.encode_into(&mut buf).unwrap_err(), err);
            assert!(buf.iter().all(|&b| b == 0xEE), "a refused input wrote bytes");
        }
    });
});
