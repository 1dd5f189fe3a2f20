//! The refusal path of forced kernel levels, on any machine: with
//! `BPRWIRE_MAX_LEVEL=scalar` every SIMD level is unavailable, so forcing
//! one must be a typed error (never a run of code the process may not use),
//! and the default still encodes, at the scalar level.
//!
//! One test in its own binary: the cap is read once per process, so it is
//! set before anything asks for a level.

use bprwire::kernels::{Kernels, Unavailable};
use bprwire::{BatchPrediction, Error, Level};

#[test]
fn capped_levels_are_refused_and_scalar_still_encodes() {
    std::env::set_var("BPRWIRE_MAX_LEVEL", "scalar");
    assert_eq!(Level::cap(), Level::Scalar);
    assert_eq!(Level::best(), Level::Scalar);
    assert_eq!(Level::available().collect::<Vec<_>>(), [Level::Scalar]);

    let keys = [1i64, 2, 3, 4, 5];
    let values = [0.5f32; 10];
    let inputs = BatchPrediction::new().continuous(&keys, &values, &[2, 5]);
    let expected = inputs.encode_to_vec().unwrap();
    assert_eq!(inputs.encoder().unwrap().level(), Level::Scalar);

    for level in [Level::Ssse3, Level::Avx2, Level::Avx512] {
        assert!(!level.is_available());
        assert_eq!(Kernels::for_level(level).unwrap_err(), Unavailable(level));
        let err = inputs.clone().level(level).encoder().err().expect("refused");
        assert_eq!(err, Error::LevelUnavailable { level });
        let msg = err.to_string();
        assert!(
            msg.contains(level.name()) && msg.contains("BPRWIRE_MAX_LEVEL cap: scalar"),
            "{msg}"
        );
        // Nothing is written when refused.
        let mut buf = vec![0xEEu8; expected.len()];
        assert!(inputs.clone().level(level).encode_into(&mut buf).is_err());
        assert!(buf.iter().all(|&b| b == 0xEE));
    }
    let forced = inputs.clone().level(Level::Scalar).encode_to_vec().unwrap();
    assert_eq!(forced, expected);
}
