//! The worked example of `docs/wire-format.md`, byte for byte.

use bprwire::BatchPrediction;

#[test]
fn spec_worked_example_35_bytes() {
    let expected: [u8; 35] = [
        0x0F, 0x00, 0x01, 0x0C, 0x00, 0x00, 0x00, 0x01, // predictions: list<struct>, 1 element
        0x0D, 0x00, 0x02, 0x0A, 0x04, 0x00, 0x00, 0x00, 0x01, // field 2: map<i64,double>, 1 entry
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, // key 7
        0x3F, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 0.5
        0x00, // end of DataRecord
        0x00, // end of BatchPredictionResponse
    ];
    let bp = BatchPrediction::new().continuous(&[7], &[0.5f32], &[1, 1]);
    assert_eq!(bp.encoded_len().unwrap(), 35);
    assert_eq!(bp.encode_to_vec().unwrap(), expected);
    // [batch] values (n = 1) are the same response.
    let flat = BatchPrediction::new().continuous(&[7], &[0.5f32], &[1]);
    assert_eq!(flat.encode_to_vec().unwrap(), expected);
    // And the reference encoder agrees.
    let reference = bprwire_reference::serialize(&bprwire_reference::build(&bp));
    assert_eq!(reference, expected);
}

#[test]
fn closed_form_size_for_continuous_only() {
    for batch in [0usize, 1, 2, 7, 64] {
        for n in 1usize..6 {
            let keys: Vec<i64> = (0..n as i64).collect();
            let values = vec![1.5f32; batch * n];
            let bp = BatchPrediction::new().continuous(&keys, &values, &[batch, n]);
            assert_eq!(bp.encoded_len().unwrap(), 9 + batch * (10 + 16 * n));
            assert_eq!(bp.encode_to_vec().unwrap().len(), 9 + batch * (10 + 16 * n));
        }
    }
}

/// The shared benchmark workloads are valid inputs the reference agrees on
/// (benches compare against it, so a wrong workload would mislead them).
#[test]
fn workloads_encode_like_the_reference() {
    let all = bprwire::internals::workloads::all();
    assert_eq!(
        all.iter().map(|w| w.id).collect::<Vec<_>>(),
        ["W1", "W2", "W3", "W4", "W5", "W6", "W7"]
    );
    for w in &all {
        w.with_inputs(|bp| {
            let bytes = bp.encode_to_vec().unwrap();
            let reference = bprwire_reference::serialize(&bprwire_reference::build(bp));
            assert_eq!(bytes, reference, "{}", w.id);
        });
    }
    // W3 is the ~4 MB large batch: 9 + 4096 * (10 + 16 * 64) bytes.
    bprwire::internals::workloads::get("w3")
        .unwrap()
        .with_inputs(|bp| {
            assert_eq!(bp.encoded_len().unwrap(), 9 + 4096 * (10 + 16 * 64));
        });
}

/// What the docs say of f32 widening: exact for every value that is not a
/// NaN; a signalling NaN comes out quiet, at every level, as twml's C++
/// cast makes it.
#[test]
fn a_signalling_nan_is_widened_quiet_at_every_level() {
    let values = [f32::from_bits(0x7f80_0001), 0.1, f32::from_bits(0xffc0_1234)];
    for level in bprwire::Level::available() {
        let bytes = BatchPrediction::new()
            .continuous(&[1, 2, 3], &values, &[1, 3])
            .level(level)
            .encode_to_vec()
            .unwrap();
        let value = |j: usize| u64::from_be_bytes(bytes[8 + 9 + 16 * j + 8..][..8].try_into().unwrap());
        assert_eq!(value(0), 0x7ff8_0000_2000_0000, "at {level}");
        assert_eq!(value(1), f64::from(0.1f32).to_bits(), "at {level}");
        assert_eq!(value(2), 0xfff8_0246_8000_0000, "at {level}");
    }
}
