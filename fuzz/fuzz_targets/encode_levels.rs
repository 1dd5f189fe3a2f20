//! The same request at every kernel level this CPU has: identical bytes
//! (or the identical refusal).
#![no_main]

use bprwire::Level;
use bprwire_fuzz::Case;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|case: Case| {
    let owned = case.build();
    owned.with_inputs(|bp| {
        let scalar = bp.clone().level(Level::Scalar).encode_to_vec();
        for level in Level::available() {
            let at = bp.clone().level(level).encode_to_vec();
            assert_eq!(at, scalar, "level {level} differs from scalar");
        }
    });
});
