//! Prepared signatures write the bytes of the one-shot API: every generated
//! case (continuous values of both types, tensors of every element type and
//! string kind, raw and typed encodings, batches 0 to 6) is encoded both
//! ways, at every kernel level; and each per-batch check refuses what it
//! should, naming the input.

mod common;

use bprwire::{
    DataType, Element, Error, Input, Level, Signature, StringKind, TensorData, TensorEncoding, Values,
};
use common::{case, Case, Inputs, OwnedData, OwnedValues};
use proptest::prelude::*;

fn element(d: &OwnedData) -> Element {
    match d {
        OwnedData::F32(_) => Element::F32,
        OwnedData::F64(_) => Element::F64,
        OwnedData::I32(_) => Element::I32,
        OwnedData::I64(_) => Element::I64,
        OwnedData::U8(_) => Element::U8,
        OwnedData::Bool(_) => Element::Bool,
        OwnedData::Str(_) | OwnedData::Bytes(_) => Element::Str,
        OwnedData::Binary(_) => Element::Binary,
        OwnedData::Padded {
            kind: StringKind::Text,
            ..
        } => Element::Str,
        OwnedData::Padded {
            kind: StringKind::Binary,
            ..
        } => Element::Binary,
        OwnedData::Raw(dtype, _) => match dtype {
            DataType::Float => Element::F32,
            DataType::Double => Element::F64,
            DataType::Int32 => Element::I32,
            DataType::Int64 => Element::I64,
            DataType::Uint8 => Element::U8,
            _ => Element::Bool,
        },
    }
}

/// The signature of a case's inputs, and its batch size.
fn signature_of(case: &Case, level: Level) -> (Signature, usize) {
    let mut b = Signature::builder().level(level).encoding(if case.typed {
        TensorEncoding::Typed
    } else {
        TensorEncoding::Raw
    });
    let mut batch = None;
    if let Some((keys, values, shape)) = &case.continuous {
        let wide = match values {
            OwnedValues::F64(_) => true,
            OwnedValues::Raw(dtype, _) => *dtype == DataType::Double,
            OwnedValues::F32(_) => false,
        };
        b = b.continuous(keys, if wide { Element::F64 } else { Element::F32 });
        batch = Some(shape[0]);
    }
    if let Some((keys, tensors)) = &case.dense {
        for (key, t) in keys.iter().zip(tensors) {
            b = b.tensor(*key, element(&t.data), &t.shape[1..]);
            batch = batch.or(Some(t.shape[0]));
        }
    }
    (
        b.build().expect("a valid case has a valid signature"),
        batch.unwrap_or(0),
    )
}

fn both_ways(case: &Case) -> Result<(), TestCaseError> {
    let views = case.views();
    let tensors = case.tensors(&views);
    let bp = case.inputs(&tensors);
    let one_shot = bp
        .encode_to_vec()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let values = bp.continuous_input().map(|c| c.values);
    let data: Vec<TensorData<'_>> = tensors.iter().map(|t| *t.data()).collect();
    for level in Level::available() {
        let (sig, batch) = signature_of(case, level);
        let enc = sig
            .encoder(batch, values, &data)
            .map_err(|e| TestCaseError::fail(format!("{level}: {e}")))?;
        prop_assert_eq!(enc.encoded_len(), one_shot.len());
        prop_assert_eq!(&enc.encode_to_vec(), &one_shot, "{}", level);
        // The direct path, into a buffer with room to spare.
        let mut buf = vec![0xAAu8; one_shot.len() + 3];
        let n = sig
            .encode_into(batch, values, &data, &mut buf)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&buf[..n], &one_shot[..]);
        prop_assert_eq!(&buf[n..], &[0xAA; 3]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Every case, encoded through a prepared signature, gives the one-shot
    /// API's bytes at every level.
    #[test]
    fn a_prepared_signature_writes_the_one_shot_bytes(case in case(Inputs::Both)) {
        both_ways(&case)?;
    }

    #[test]
    fn dense_only_signatures_write_the_one_shot_bytes(case in case(Inputs::Dense)) {
        both_ways(&case)?;
    }
}

fn w1_like() -> Signature {
    Signature::builder()
        .continuous(&[1, 2, 3], Element::F32)
        .tensor(100, Element::F32, &[2])
        .tensor(200, Element::Str, &[1])
        .build()
        .unwrap()
}

#[test]
fn per_batch_checks_name_the_input() {
    let sig = w1_like();
    let (scores, emb, words) = ([0.5f32; 6], [1.0f32; 4], ["a", "b"]);
    let good = [TensorData::F32(&emb), TensorData::Str(&words)];
    assert!(sig.encoder(2, Some(Values::F32(&scores)), &good).is_ok());
    // Continuous values of the wrong length.
    assert!(matches!(
        sig.encoder(2, Some(Values::F32(&scores[..5])), &good),
        Err(Error::ElementCountMismatch {
            input: Input::Continuous,
            expected: 6,
            found: 5,
            ..
        })
    ));
    // Of the wrong type.
    assert!(matches!(
        sig.encoder(2, Some(Values::F64(&[0.5; 6])), &good),
        Err(Error::UnsupportedDataType {
            input: Input::Continuous,
            dtype: DataType::Double
        })
    ));
    // A tensor of another element type, or length.
    let ints = [1i64; 4];
    assert!(matches!(
        sig.encoder(
            2,
            Some(Values::F32(&scores)),
            &[TensorData::I64(&ints), TensorData::Str(&words)]
        ),
        Err(Error::UnsupportedDataType {
            input: Input::Tensor { index: 0, key: 100 },
            dtype: DataType::Int64
        })
    ));
    assert!(matches!(
        sig.encoder(
            2,
            Some(Values::F32(&scores)),
            &[TensorData::F32(&emb[..3]), TensorData::Str(&words)]
        ),
        Err(Error::ElementCountMismatch {
            input: Input::Tensor { index: 0, key: 100 },
            expected: 4,
            found: 3,
            ..
        })
    ));
    // A missing tensor; bytes that are not UTF-8 for a stringTensor.
    assert!(matches!(
        sig.encoder(2, Some(Values::F32(&scores)), &good[..1]),
        Err(Error::TensorCountMismatch { keys: 2, tensors: 1 })
    ));
    let bad: [&[u8]; 2] = [b"ok", b"\xff"];
    assert!(matches!(
        sig.encoder(
            2,
            Some(Values::F32(&scores)),
            &[TensorData::F32(&emb), TensorData::Bytes(&bad)]
        ),
        Err(Error::InvalidUtf8 {
            input: Input::Tensor { index: 1, key: 200 },
            row: 1,
            element: 0,
            valid_up_to: 0
        })
    ));
    // No continuous values for a signature that has them.
    assert!(matches!(
        sig.encoder(2, None, &good),
        Err(Error::ElementCountMismatch {
            input: Input::Continuous,
            ..
        })
    ));
}

#[test]
fn a_short_buffer_is_refused_before_writing() {
    let sig = w1_like();
    let (scores, emb, words) = ([0.5f32; 6], [1.0f32; 4], ["a", "b"]);
    let data = [TensorData::F32(&emb), TensorData::Str(&words)];
    let len = sig
        .encoder(2, Some(Values::F32(&scores)), &data)
        .unwrap()
        .encoded_len();
    let mut buf = vec![7u8; len - 1];
    assert_eq!(
        sig.encode_into(2, Some(Values::F32(&scores)), &data, &mut buf),
        Err(Error::BufferTooSmall {
            needed: len,
            available: len - 1
        })
    );
    assert!(buf.iter().all(|&b| b == 7));
}

#[test]
fn a_signature_refuses_what_no_batch_could_fix() {
    assert_eq!(Signature::builder().build().unwrap_err(), Error::NoPredictions);
    assert!(matches!(
        Signature::builder().continuous(&[1, 2, 1], Element::F32).build(),
        Err(Error::DuplicateKey {
            key: 1,
            first: 0,
            second: 2,
            ..
        })
    ));
    assert!(matches!(
        Signature::builder().continuous(&[1], Element::I64).build(),
        Err(Error::UnsupportedDataType {
            input: Input::Continuous,
            dtype: DataType::Int64
        })
    ));
    assert!(matches!(
        Signature::builder()
            .tensor(7, Element::F32, &[1])
            .tensor(7, Element::F64, &[1])
            .build(),
        Err(Error::DuplicateKey { key: 7, .. })
    ));
}
