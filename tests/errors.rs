//! One test per error variant: the variant, a message that says what and
//! where, and an output buffer left exactly as it was.

use bprwire::{
    BatchPrediction, DataType, Error, Input, KeyMap, Size, StringKind, Tensor, TensorData, Values,
};

const FILL: u8 = 0xA7;

/// Encodes into a generous buffer and returns the error; asserts that the
/// buffer was not written and that the other entry points agree.
fn refused(bp: &BatchPrediction<'_>) -> Error {
    let mut buf = vec![FILL; 4096];
    let err = bp.encode_into(&mut buf).expect_err("must be refused");
    assert!(
        buf.iter().all(|&b| b == FILL),
        "buffer written before an error: {err}"
    );
    assert_eq!(bp.encoded_len().unwrap_err(), err);
    assert_eq!(bp.encode_to_vec().unwrap_err(), err);
    assert!(bp.encoder().is_err());
    err
}

fn msg(e: &Error) -> String {
    e.to_string()
}

#[test]
fn no_predictions() {
    assert_eq!(refused(&BatchPrediction::new()), Error::NoPredictions);
    // Dense inputs with no key are "empty" too, as in twml.
    let e = refused(&BatchPrediction::new().dense(&[], &[]));
    assert_eq!(e, Error::NoPredictions);
    assert!(msg(&e).contains("both absent or empty"));
}

#[test]
fn tensor_count_mismatch() {
    let t = [Tensor::new(&[1.0f32, 2.0], &[2])];
    let e = refused(&BatchPrediction::new().dense(&[1, 2], &t));
    assert_eq!(e, Error::TensorCountMismatch { keys: 2, tensors: 1 });
    assert!(msg(&e).contains("2 dense keys but 1 dense tensors"));
}

#[test]
fn continuous_rank() {
    let e = refused(&BatchPrediction::new().continuous(&[1], &[1.0f32], &[]));
    assert_eq!(e, Error::ContinuousRank { rank: 0 });
    let e = refused(&BatchPrediction::new().continuous(&[1], &[1.0f32], &[1, 1, 1]));
    assert_eq!(e, Error::ContinuousRank { rank: 3 });
    assert!(msg(&e).contains("[batch] or [batch, n]"));
}

#[test]
fn key_count_mismatch() {
    let v = [0.0f32; 6];
    let e = refused(&BatchPrediction::new().continuous(&[1, 2], &v, &[2, 3]));
    assert_eq!(e, Error::KeyCountMismatch { keys: 2, last_dim: 3 });
    // [batch] values take exactly one key.
    let e = refused(&BatchPrediction::new().continuous(&[1, 2], &v, &[6]));
    assert_eq!(e, Error::KeyCountMismatch { keys: 2, last_dim: 1 });
    assert!(msg(&e).contains("2 continuous keys"));
}

#[test]
fn scalar_tensor() {
    let t = [Tensor::new(&[1i64], &[])];
    let e = refused(&BatchPrediction::new().dense(&[42], &t));
    assert_eq!(
        e,
        Error::ScalarTensor {
            input: Input::Tensor { index: 0, key: 42 }
        }
    );
    assert_eq!(e.input(), Some(Input::Tensor { index: 0, key: 42 }));
    assert!(msg(&e).contains("key 42"));
}

#[test]
fn element_count_mismatch() {
    let e = refused(&BatchPrediction::new().continuous(&[1, 2], &[0.0f64; 5], &[3, 2]));
    assert_eq!(
        e,
        Error::ElementCountMismatch {
            input: Input::Continuous,
            shape: vec![3, 2].into(),
            expected: 6,
            found: 5
        }
    );
    let t = [Tensor::new(&[1i32, 2], &[2]), Tensor::new(&[1i32, 2, 3], &[2, 2])];
    let e = refused(&BatchPrediction::new().dense(&[5, 9], &t));
    assert_eq!(
        e,
        Error::ElementCountMismatch {
            input: Input::Tensor { index: 1, key: 9 },
            shape: vec![2, 2].into(),
            expected: 4,
            found: 3
        }
    );
    assert!(msg(&e).contains("dense tensor #1 (key 9)"), "{e}");
}

#[test]
fn raw_byte_length() {
    let v = Values::Raw {
        dtype: DataType::Double,
        bytes: &[0u8; 12],
    };
    let e = refused(&BatchPrediction::new().continuous(&[1], v, &[1]));
    assert_eq!(
        e,
        Error::RawByteLength {
            input: Input::Continuous,
            dtype: DataType::Double,
            bytes: 12
        }
    );
    let t = [Tensor::new(
        TensorData::Raw {
            dtype: DataType::Int32,
            bytes: &[0u8; 7],
        },
        &[1],
    )];
    let e = refused(&BatchPrediction::new().dense(&[3], &t));
    assert_eq!(
        e,
        Error::RawByteLength {
            input: Input::Tensor { index: 0, key: 3 },
            dtype: DataType::Int32,
            bytes: 7
        }
    );
    assert!(
        msg(&e).contains("7 bytes is not a whole number of INT32 elements"),
        "{e}"
    );
}

#[test]
fn batch_size_mismatch() {
    // Between tensors.
    let t = [Tensor::new(&[1u8, 2], &[2]), Tensor::new(&[1u8, 2, 3], &[3])];
    let e = refused(&BatchPrediction::new().dense(&[10, 20], &t));
    assert_eq!(
        e,
        Error::BatchSizeMismatch {
            input: Input::Tensor { index: 1, key: 20 },
            batch: 2,
            found: 3
        }
    );
    assert!(msg(&e).contains("key 20"));
    // Between the continuous values and a tensor (twml does not check this one).
    let t = [Tensor::new(&[1u8, 2, 3], &[3])];
    let e = refused(
        &BatchPrediction::new()
            .continuous(&[1], &[0.5f32, 0.5], &[2])
            .dense(&[10], &t),
    );
    assert_eq!(
        e,
        Error::BatchSizeMismatch {
            input: Input::Tensor { index: 0, key: 10 },
            batch: 2,
            found: 3
        }
    );
}

#[test]
fn duplicate_key() {
    let e = refused(&BatchPrediction::new().continuous(&[4, 5, 4], &[0.0f32; 3], &[1, 3]));
    assert_eq!(
        e,
        Error::DuplicateKey {
            map: KeyMap::Continuous,
            key: 4,
            first: 0,
            second: 2
        }
    );
    assert!(msg(&e).contains("key 4 appears twice in the continuous keys"));
    // The sorted path (long key lists) reports the same first repeat.
    let mut keys: Vec<i64> = (0..100).rev().collect();
    keys[70] = 95;
    keys[80] = 30;
    let values = vec![0.0f32; 100];
    let e = refused(&BatchPrediction::new().continuous(&keys, &values, &[1, 100]));
    assert_eq!(
        e,
        Error::DuplicateKey {
            map: KeyMap::Continuous,
            key: 95,
            first: 4,
            second: 70
        }
    );
    let t = [Tensor::new(&[1i64], &[1]), Tensor::new(&[2i64], &[1])];
    let e = refused(&BatchPrediction::new().dense(&[7, 7], &t));
    assert_eq!(
        e,
        Error::DuplicateKey {
            map: KeyMap::Tensors,
            key: 7,
            first: 0,
            second: 1
        }
    );
}

#[test]
fn unsupported_data_type() {
    let v = Values::Raw {
        dtype: DataType::Int32,
        bytes: &[0u8; 4],
    };
    let e = refused(&BatchPrediction::new().continuous(&[1], v, &[1]));
    assert_eq!(
        e,
        Error::UnsupportedDataType {
            input: Input::Continuous,
            dtype: DataType::Int32
        }
    );
    assert!(msg(&e).contains("must be FLOAT or DOUBLE"));
    for dtype in [
        DataType::Byte,
        DataType::String,
        DataType::Reserved1,
        DataType::Reserved3,
    ] {
        let t = [Tensor::new(
            TensorData::Raw {
                dtype,
                bytes: &[0u8; 2],
            },
            &[2],
        )];
        let e = refused(&BatchPrediction::new().dense(&[11], &t));
        assert_eq!(
            e,
            Error::UnsupportedDataType {
                input: Input::Tensor { index: 0, key: 11 },
                dtype
            }
        );
        assert!(msg(&e).contains("key 11"));
    }
}

/// Sizes over i32::MAX without touching 2 GiB: `vec![0; n]` is calloc'd and
/// the planner never reads element data, so the pages are never faulted in.
#[test]
fn too_large_row_bytes_and_elements() {
    let big = 1usize << 31;
    let zeros = vec![0u8; big];
    let t = [Tensor::new(&zeros[..], &[1, big])];
    let e = refused(&BatchPrediction::new().dense(&[1], &t));
    assert_eq!(
        e,
        Error::TooLarge {
            input: Some(Input::Tensor { index: 0, key: 1 }),
            what: Size::RowBytes,
            size: big as u64,
            limit: i32::MAX as u64
        }
    );
    assert!(msg(&e).contains("over the limit of 2147483647"), "{e}");
    // Typed bool list: element count.
    let t = [Tensor::new(
        TensorData::Raw {
            dtype: DataType::Bool,
            bytes: &zeros,
        },
        &[1, big],
    )];
    let e = refused(&BatchPrediction::new().dense(&[1], &t).typed());
    assert!(
        matches!(
            e,
            Error::TooLarge {
                what: Size::RowElements,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn too_large_string() {
    let big = vec![0u8; 1usize << 31];
    let strings: [&[u8]; 2] = [b"ok", &big];
    let t = [Tensor::new(&strings, &[1, 2])];
    let e = refused(&BatchPrediction::new().dense(&[8], &t));
    assert!(
        matches!(
            e,
            Error::TooLarge {
                what: Size::StringBytes { element: 1 },
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn too_large_dims_batch_and_product() {
    // A dimension over i64::MAX (zero elements, so the data is empty).
    let huge = i64::MAX as usize + 1;
    let t = [Tensor::new(&[] as &[u8], &[0, huge])];
    let e = refused(&BatchPrediction::new().dense(&[1], &t));
    assert!(
        matches!(
            e,
            Error::TooLarge {
                what: Size::Dimension { axis: 1 },
                ..
            }
        ),
        "{e:?}"
    );
    // A product that overflows usize: said as an overflow, with the dims.
    let t = [Tensor::new(&[] as &[u8], &[2, usize::MAX])];
    let e = refused(&BatchPrediction::new().dense(&[1], &t));
    assert_eq!(
        e,
        Error::ShapeOverflow {
            input: Input::Tensor { index: 0, key: 1 },
            shape: vec![2, usize::MAX].into()
        }
    );
    assert!(msg(&e).contains(&format!("shape [2, {}]", usize::MAX)), "{e}");
    assert!(msg(&e).contains("overflows"), "{e}");
    assert!(!msg(&e).contains("over the limit"), "{e}");
    // A row shape that overflows behind a zero batch names the whole shape.
    let t = [Tensor::new(&[] as &[u8], &[0, usize::MAX, 2])];
    let e = refused(&BatchPrediction::new().dense(&[1], &t));
    assert!(
        matches!(&e, Error::ShapeOverflow { shape, .. } if shape[..] == [0, usize::MAX, 2]),
        "{e:?}"
    );
    // More records than a Thrift list holds.
    let e = refused(&BatchPrediction::new().continuous(&[], &[] as &[f32], &[1 << 31, 0]));
    assert!(
        matches!(
            e,
            Error::TooLarge {
                input: None,
                what: Size::Batch,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(msg(&e).contains("batch size"));
}

#[test]
fn buffer_too_small() {
    let bp = BatchPrediction::new().continuous(&[7], &[0.5f32], &[1, 1]);
    let enc = bp.encoder().unwrap();
    assert_eq!(enc.encoded_len(), 35);
    let mut buf = vec![FILL; 34];
    let e = enc.encode_into(&mut buf).unwrap_err();
    assert_eq!(
        e,
        Error::BufferTooSmall {
            needed: 35,
            available: 34
        }
    );
    assert!(buf.iter().all(|&b| b == FILL));
    assert!(msg(&e).contains("34 bytes is too small: the response needs 35"));
    let mut empty: [u8; 0] = [];
    assert!(matches!(
        enc.encode_into(&mut empty),
        Err(Error::BufferTooSmall {
            needed: 35,
            available: 0
        })
    ));
}

#[test]
fn byte_strings_that_are_not_utf8_are_refused_for_a_string_tensor() {
    // Row 1, element 1 of a [2, 2] tensor: "ok", "a", "b", then b"x\xff\xfe".
    let strings: [&[u8]; 4] = [b"ok", b"a", b"b", b"x\xff\xfe"];
    let t = [Tensor::new(TensorData::Bytes(&strings), &[2, 2])];
    let e = refused(&BatchPrediction::new().dense(&[42], &t));
    assert_eq!(
        e,
        Error::InvalidUtf8 {
            input: Input::Tensor { index: 0, key: 42 },
            row: 1,
            element: 1,
            valid_up_to: 1
        }
    );
    let m = msg(&e);
    assert!(m.contains("key 42") && m.contains("row 1, element 1"), "{m}");
    assert!(m.contains("binaryTensor"), "{m}");
    // Fixed-width text is checked the same way (after its NUL padding goes).
    let padded = b"ok\0\0\xff\0\0\0";
    let t = [Tensor::new(
        TensorData::Padded {
            bytes: padded,
            width: 4,
            kind: StringKind::Text,
        },
        &[2],
    )];
    let e = refused(&BatchPrediction::new().dense(&[7], &t));
    assert_eq!(
        e,
        Error::InvalidUtf8 {
            input: Input::Tensor { index: 0, key: 7 },
            row: 1,
            element: 0,
            valid_up_to: 0
        }
    );
}

#[test]
fn the_same_bytes_are_accepted_as_a_binary_tensor() {
    let strings: [&[u8]; 2] = [b"\xff\xfe", b""];
    let t = [Tensor::new(TensorData::Binary(&strings), &[2])];
    assert!(BatchPrediction::new().dense(&[1], &t).encoder().is_ok());
    let padded = b"\xff\xfe\0";
    let t = [Tensor::new(
        TensorData::Padded {
            bytes: padded,
            width: 3,
            kind: StringKind::Binary,
        },
        &[1],
    )];
    assert!(BatchPrediction::new().dense(&[1], &t).encoder().is_ok());
}

#[test]
fn padded_strings_must_be_whole_elements() {
    let t = [Tensor::new(
        TensorData::Padded {
            bytes: b"abcde",
            width: 2,
            kind: StringKind::Text,
        },
        &[2],
    )];
    let e = refused(&BatchPrediction::new().dense(&[3], &t));
    assert_eq!(
        e,
        Error::PaddedLength {
            input: Input::Tensor { index: 0, key: 3 },
            width: 2,
            bytes: 5
        }
    );
    assert!(
        msg(&e).contains("5 bytes is not a whole number of 2-byte strings"),
        "{e}"
    );
    let t = [Tensor::new(
        TensorData::Padded {
            bytes: b"a",
            width: 0,
            kind: StringKind::Binary,
        },
        &[1],
    )];
    let e = refused(&BatchPrediction::new().dense(&[3], &t));
    assert!(
        matches!(
            e,
            Error::PaddedLength {
                width: 0,
                bytes: 1,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(msg(&e).contains("width 0 hold no bytes"), "{e}");
    // Width 0 and no bytes: as many empty strings as the shape says.
    let t = [Tensor::new(
        TensorData::Padded {
            bytes: b"",
            width: 0,
            kind: StringKind::Text,
        },
        &[3, 2],
    )];
    let enc = BatchPrediction::new().dense(&[3], &t).encoder().unwrap();
    assert_eq!(enc.batch_size(), 3);
}

/// A header can claim 2^31-1 empty fixed-width strings in a few bytes:
/// planning them is O(1) (no loop over the claimed count), and the size is
/// exact.
#[test]
fn two_billion_empty_padded_strings_plan_at_once() {
    let len = |rows: usize| {
        let t = [Tensor::new(
            TensorData::Padded {
                bytes: b"",
                width: 0,
                kind: StringKind::Text,
            },
            &[rows],
        )];
        let len = BatchPrediction::new()
            .dense(&[1], &t)
            .encoder()
            .unwrap()
            .encoded_len();
        len
    };
    let (one, two) = (len(1), len(2));
    let n = i32::MAX as usize;
    assert_eq!(len(n), one + (n - 1) * (two - one));
}
