//! A prepared signature against the one-shot API, on the same inputs.
//!
//! The signature is the one the case implies: its continuous keys and
//! element type, each tensor's key, element type and row shape (its shape
//! after dim 0), the case's encoding. Then:
//!
//! - whatever the one-shot API accepts, the signature accepts too and
//!   writes the same bytes, through `Signature::encode_into` and through
//!   `Signature::encoder` (whose length is exact);
//! - whatever the signature accepts, when the case's shapes are the ones
//!   the signature saw (a `[batch]` or `[batch, n]` continuous shape, every
//!   tensor `[batch, row shape...]`), the one-shot API accepts too;
//! - a buffer one byte short is refused with `BufferTooSmall` and left as
//!   it was.
#![no_main]

use bprwire::{Element, Error, Signature, TensorData, TensorEncoding, Values};
use bprwire_fuzz::Case;
use libfuzzer_sys::fuzz_target;

const FILL: u8 = 0x5C;

fuzz_target!(|case: Case| {
    let owned = case.build();
    let one_shot = owned.with_inputs(|bp| bp.encode_to_vec());
    owned.with_parts(|parts| {
        let mut builder = Signature::builder();
        // The batch the signature is called with: dim 0 of the first input.
        let mut batch = None;
        // Whether every shape is the one the signature sees.
        let mut consistent = true;
        let mut values = None;
        if let Some((keys, v, shape)) = parts.continuous {
            let element = match v {
                Values::F32(_) => Element::F32,
                Values::F64(_) => Element::F64,
                // Raw values of another type: declared F32, which the data
                // then contradicts (both APIs refuse them).
                Values::Raw { dtype, bytes } => {
                    Element::of(&TensorData::Raw { dtype, bytes }).unwrap_or(Element::F32)
                }
            };
            builder = builder.continuous(keys, element);
            batch = shape.first().copied();
            consistent &= match shape {
                [_] => keys.len() == 1,
                [_, n] => *n == keys.len(),
                _ => false,
            };
            values = Some(v);
        }
        let mut data: Vec<TensorData<'_>> = Vec::new();
        if let Some((keys, tensors)) = parts.dense {
            consistent &= keys.len() == tensors.len();
            for (&key, t) in keys.iter().zip(tensors) {
                let shape = t.shape();
                let row_shape = shape.get(1..).unwrap_or(&[]);
                let Some(element) = Element::of(t.data()) else {
                    // Raw bytes of a type no tensor has: the one-shot API
                    // refuses them, and no signature can declare them.
                    assert!(one_shot.is_err(), "a raw tensor of no element type was accepted");
                    return;
                };
                builder = builder.tensor(key, element, row_shape);
                consistent &= !shape.is_empty() && batch.is_none_or(|b| shape[0] == b);
                batch = batch.or(shape.first().copied());
                data.push(*t.data());
            }
        }
        if parts.typed {
            builder = builder.encoding(TensorEncoding::Typed);
        }
        let batch = batch.unwrap_or(0);
        let signature = builder.build();
        let encoded = signature.as_ref().map_err(Error::clone).and_then(|s| {
            let encoder = s.encoder(batch, values, &data)?;
            let bytes = encoder.encode_to_vec();
            assert_eq!(bytes.len(), encoder.encoded_len());
            let mut buf = vec![FILL; bytes.len() + 7];
            let n = s
                .encode_into(batch, values, &data, &mut buf)
                .expect("encoder() accepted it");
            assert_eq!(
                &buf[..n],
                &bytes[..],
                "Signature::encode_into differs from its encoder"
            );
            assert!(buf[n..].iter().all(|&b| b == FILL), "wrote past the response");
            if n > 0 {
                let mut short = vec![FILL; n - 1];
                let refused = s.encode_into(batch, values, &data, &mut short);
                assert!(
                    matches!(refused, Err(Error::BufferTooSmall { .. })),
                    "{refused:?}"
                );
                assert!(short.iter().all(|&b| b == FILL), "a refused buffer was written");
            }
            Ok(bytes)
        });
        match (&one_shot, &encoded) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "the signature's bytes differ from the one-shot API's"),
            (Ok(_), Err(e)) => panic!("the one-shot API accepted what the signature refused: {e}"),
            (Err(e), Ok(_)) => assert!(
                !consistent,
                "the signature accepted, with the same shapes, what the one-shot API refused: {e}"
            ),
            (Err(_), Err(_)) => {}
        }
    });
});
