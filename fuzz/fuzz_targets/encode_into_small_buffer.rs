//! A buffer shorter than `encoded_len()` is refused with `BufferTooSmall`
//! and left untouched; one exactly as long is filled.
#![no_main]

use bprwire::Error;
use bprwire_fuzz::Case;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Case, u16)| {
    let (case, cut) = input;
    let owned = case.build();
    owned.with_inputs(|bp| {
        let Ok(enc) = bp.encoder() else { return };
        let len = enc.encoded_len();
        let short = usize::from(cut) % len.max(1);
        let mut buf = vec![0xEEu8; short];
        assert_eq!(
            enc.encode_into(&mut buf),
            Err(Error::BufferTooSmall {
                needed: len,
                available: short
            })
        );
        assert!(buf.iter().all(|&b| b == 0xEE), "a refused buffer was written to");
        let mut exact = vec![0u8; len];
        assert_eq!(enc.encode_into(&mut exact), Ok(len));
    });
});
