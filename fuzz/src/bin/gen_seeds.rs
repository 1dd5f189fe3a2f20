//! Writes the seed corpora: deterministic pseudo-random byte strings, kept
//! when the `Case` they decode to is accepted by bprwire and covers a class
//! of input not seen yet (a continuous value kind, or a tensor element type
//! with an encoding, each with batch 0, 1 or more), or is refused for a rule not seen
//! yet, so every target starts from inputs that reach the encoder for every
//! kind the differential tests cover and from one of each refusal. Run by
//! `scripts/fuzz-seeds.sh`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use arbitrary::{Arbitrary, Unstructured};
use bprwire_fuzz::{Case, Elem, ValueKind};

/// The features of an accepted case: its continuous value kind and each
/// tensor's element type with the encoding, each with the batch class.
fn features(case: &Case) -> Vec<String> {
    let batch = match case.batch % 6 {
        0 => "b0",
        1 => "b1",
        _ => "bn",
    };
    let cont = case.continuous.as_ref().map(|c| match c.kind {
        ValueKind::F32 => "f32",
        ValueKind::F64 => "f64",
        ValueKind::Raw { wide: false, .. } => "raw4",
        ValueKind::Raw { wide: true, .. } => "raw8",
        ValueKind::RawOther { .. } => "rawother",
    });
    let mut out = vec![format!("continuous {cont:?} {batch}")];
    for t in case.tensors.iter().take(5) {
        let elem = match t.elem {
            Elem::Raw { code, .. } => format!("raw{}", code % 8),
            Elem::Padded { binary, .. } => format!("padded binary={binary}"),
            e => format!("{e:?}"),
        };
        out.push(format!("tensor {elem} typed={} {batch}", case.typed));
    }
    out
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    let mut seen = BTreeSet::new();
    let mut seeds = Vec::new();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..200_000 {
        let len = 16 + (x % 400) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        let Ok(case) = Case::arbitrary(&mut Unstructured::new(&bytes)) else {
            continue;
        };
        let owned = case.build();
        // Accepted inputs by class; refused ones by the rule they break.
        let keys = owned.with_inputs(|bp| match bp.encoder() {
            Ok(_) => features(&case),
            Err(e) => vec![format!("{e:?}")
                .split([' ', '{'])
                .next()
                .unwrap_or("")
                .to_string()],
        });
        let mut new = false;
        for k in keys {
            new |= seen.insert(k);
        }
        if new {
            seeds.push(bytes);
        }
    }
    for target in [
        "encode_vs_reference",
        "encode_levels",
        "encode_into_small_buffer",
        "signature",
    ] {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            let mut bytes = s.clone();
            if target == "encode_into_small_buffer" {
                bytes.extend_from_slice(&[(i * 7) as u8, 1]);
            }
            std::fs::write(dir.join(format!("seed-{i:04}")), bytes).unwrap();
        }
    }
    let decode = decode_seeds(&seeds);
    let dir = out.join("decode");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, s) in decode.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:04}")), s).unwrap();
    }
    let scatter = scatter_seeds(&decode);
    let dir = out.join("scatter");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, s) in scatter.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:04}")), s).unwrap();
    }
    // The `call` target: each request seed as a getBatchPrediction call
    // (cut byte, header, args { 1: request }), and one of another method.
    let dir = out.join("call");
    std::fs::create_dir_all(&dir).unwrap();
    let requests = decode.iter().filter(|s| s.first() == Some(&3)).map(|s| &s[1..]);
    let mut calls = 0;
    for (i, r) in requests.enumerate() {
        let method: &[u8] = if i == 0 {
            b"getPrediction"
        } else {
            b"getBatchPrediction"
        };
        let mut seed = vec![(i % 7) as u8];
        seed.extend(0x8001_0001u32.to_be_bytes());
        seed.extend((method.len() as i32).to_be_bytes());
        seed.extend(method);
        seed.extend((i as i32).to_be_bytes());
        seed.extend([0x0C, 0, 1]);
        seed.extend(r);
        seed.push(0);
        std::fs::write(dir.join(format!("seed-{i:04}")), seed).unwrap();
        calls += 1;
    }
    let npy = npy_seeds();
    let dir = out.join("npy");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, s) in npy.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:04}")), s).unwrap();
    }
    println!(
        "{} seeds per encoder target, {} for decode, {} for scatter, {} for call, {} for npy, in {}",
        seeds.len(),
        decode.len(),
        scatter.len(),
        calls,
        npy.len(),
        out.display()
    );
}

/// Seeds of the `scatter` target: a length byte, layout spec bytes, then
/// a request: requests written by the feature writer (every kind, with
/// and without common features) and the `decode` target's request seeds,
/// each with a few spec byte strings.
fn scatter_seeds(decode: &[Vec<u8>]) -> Vec<Vec<u8>> {
    use bprwire::features::{FeatureLayout, OutputType, Rows};
    let layout = FeatureLayout::builder()
        .continuous(&[1, 2, 3], OutputType::F32, f64::NAN)
        .binary(&[4, 5], OutputType::U8)
        .discrete(&[6], -1)
        .tensor(7, 2, OutputType::F32)
        .build()
        .unwrap();
    let (cont, bin, disc, emb) = (
        [0.5f32, f32::NAN, 2.0, 1.0, 1.0, 1.0],
        [1u8, 0, 1, 1],
        [3i64, -1],
        [0.25f32, 0.0, -1.0, 9.0],
    );
    let rows = Rows::new(2)
        .continuous(&cont[..])
        .binary(&bin[..])
        .discrete(&disc[..])
        .tensor(7, &emb[..]);
    let common = Rows::new(1)
        .continuous(&cont[3..])
        .binary(&bin[..2])
        .discrete(&disc[..1])
        .tensor(7, &emb[..2]);
    let mut requests = vec![
        layout.write_request(&rows, None).unwrap().encode_to_vec(),
        layout
            .write_request(&rows, Some(&common))
            .unwrap()
            .encode_to_vec(),
    ];
    requests.extend(
        decode
            .iter()
            .filter(|s| s.first() == Some(&3))
            .map(|s| s[1..].to_vec()),
    );
    let specs: [&[u8]; 4] = [
        &[
            1, 3, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 5, 2, 1, 1, 6, 0, 1, 7, 2, 0,
        ],
        &[1, 2, 3, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        &[0, 0, 0, 1, 7, 2, 0],
        &[],
    ];
    let mut out = Vec::new();
    for r in &requests {
        for spec in specs {
            let mut seed = vec![spec.len() as u8];
            seed.extend_from_slice(spec);
            seed.extend_from_slice(r);
            out.push(seed);
        }
    }
    out
}

/// Seeds of the `decode` target (first byte: 0 response, 1 reply, 2 framed
/// reply, 3 request): bprwire's encodings and replies of every accepted seed
/// case, the exception replies, and reference encodings of records that use
/// all nine DataRecord fields and every GeneralTensor arm, as responses and
/// as requests.
fn decode_seeds(cases: &[Vec<u8>]) -> Vec<Vec<u8>> {
    use bprwire::service::{self, ApplicationErrorKind, Envelope};
    let with_mode = |mode: u8, b: Vec<u8>| [vec![mode], b].concat();
    let mut out = Vec::new();
    for (i, bytes) in cases.iter().enumerate() {
        let Ok(case) = Case::arbitrary(&mut Unstructured::new(bytes)) else {
            continue;
        };
        let encoded = case.build().with_inputs(|bp| {
            let enc = bp.encoder().ok()?;
            let env = Envelope {
                seqid: i as i32,
                framed: i % 2 == 0,
            };
            Some((
                enc.encode_to_vec(),
                enc.encode_reply_to_vec(env).ok()?,
                env.framed,
            ))
        });
        if let Some((resp, reply, framed)) = encoded {
            out.push(with_mode(0, resp));
            out.push(with_mode(if framed { 2 } else { 1 }, reply));
        }
    }
    for framed in [false, true] {
        let mode = 1 + u8::from(framed);
        let env = Envelope { seqid: 7, framed };
        out.push(with_mode(
            mode,
            service::service_exception_reply(env, Some("no model")).unwrap(),
        ));
        out.push(with_mode(
            mode,
            service::service_exception_reply(env, None).unwrap(),
        ));
        out.push(with_mode(
            mode,
            service::application_exception(env, "boom", ApplicationErrorKind::InternalError).unwrap(),
        ));
    }
    for resp in all_field_responses() {
        out.push(with_mode(0, bprwire_reference::serialize(&resp)));
        // The same records as a request, with and without common features.
        let records = resp.predictions;
        let common = records.first().cloned();
        for common in [None, common] {
            let req = bprwire_reference::BatchPredictionRequest::new(records.clone(), common);
            out.push(with_mode(3, bprwire_reference::serialize_request(&req)));
        }
    }
    out
}

/// Responses whose records use every DataRecord field and every
/// GeneralTensor arm, built with the reference's structs.
fn all_field_responses() -> Vec<bprwire_reference::BatchPredictionResponse> {
    use bprwire_reference::twml::data::DataRecord;
    use bprwire_reference::twml::tensor as t;
    use std::collections::{BTreeMap, BTreeSet};
    use thrift::OrderedFloat as F;
    let shape = || Some(vec![2i64, 1]);
    let arms = vec![
        t::GeneralTensor::RawTypedTensor(t::RawTypedTensor::new(
            t::DataType(0),
            vec![0, 0, 128, 63],
            shape(),
        )),
        t::GeneralTensor::StringTensor(t::StringTensor::new(vec!["a".into(), "bé".into()], shape())),
        t::GeneralTensor::Int32Tensor(t::Int32Tensor::new(vec![1, -2], shape())),
        t::GeneralTensor::Int64Tensor(t::Int64Tensor::new(vec![3, -4], None)),
        t::GeneralTensor::FloatTensor(t::FloatTensor::new(vec![F(0.5), F(-1.0)], shape())),
        t::GeneralTensor::DoubleTensor(t::DoubleTensor::new(vec![F(f64::NAN)], None)),
        t::GeneralTensor::BoolTensor(t::BoolTensor::new(vec![true, false], shape())),
        t::GeneralTensor::BinaryTensor(t::BinaryTensor::new(vec![vec![0xff, 0], vec![]], None)),
    ];
    let mut out = Vec::new();
    for (i, arm) in arms.into_iter().enumerate() {
        let sparse = t::SparseTensor::CooSparseTensor(t::COOSparseTensor::new(
            vec![4, 4],
            t::Int64Tensor::new(vec![0, 1, 2, 3], shape()),
            arm.clone(),
        ));
        let rec = DataRecord::new(
            Some(BTreeSet::from([1, 2])),
            Some(BTreeMap::from([(1, F(0.25)), (2, F(-0.0))])),
            Some(BTreeMap::from([(3, 4)])),
            Some(BTreeMap::from([(5, "five".to_string())])),
            Some(BTreeMap::from([(
                6,
                BTreeSet::from(["x".to_string(), "y".to_string()]),
            )])),
            Some(BTreeMap::from([(7, BTreeMap::from([("w".to_string(), F(1.5))]))])),
            Some(BTreeMap::from([(8, vec![1, 2, 3])])),
            Some(BTreeMap::from([(i as i64, arm)])),
            Some(BTreeMap::from([(9, sparse)])),
        );
        let empty = DataRecord::new(None, None, None, None, None, None, None, None, None);
        out.push(bprwire_reference::BatchPredictionResponse::new(vec![rec, empty]));
    }
    out
}

/// An npy file (format `version`.0) with this header dict text and data.
fn npy_file(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x93, b'N', b'U', b'M', b'P', b'Y', version, 0];
    let text = format!("{dict}\n");
    if version == 1 {
        out.extend((text.len() as u16).to_le_bytes());
    } else {
        out.extend((text.len() as u32).to_le_bytes());
    }
    out.extend(text.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Seeds of the `npy` target: a valid file of every accepted dtype (both
/// byte orders where numpy has them), shapes of rank 0 to 3 with zero
/// dims, the three format versions, and the hostile headers found so far.
fn npy_seeds() -> Vec<Vec<u8>> {
    let dict = |descr: &str, shape: &str| {
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
    };
    let mut out = Vec::new();
    for (descr, size) in [
        ("<f4", 4),
        (">f4", 4),
        ("<f8", 8),
        (">f8", 8),
        ("<i4", 4),
        (">i4", 4),
        ("<i8", 8),
        (">i8", 8),
        ("|u1", 1),
        ("|b1", 1),
        ("<U2", 8),
        (">U2", 8),
        ("|S3", 3),
        ("|S0", 0),
        ("<U0", 0),
    ] {
        for (shape, count) in [
            ("(2, 3)", 6usize),
            ("(4,)", 4),
            ("()", 1),
            ("(0, 5)", 0),
            ("(2, 1, 2)", 4),
        ] {
            let data: Vec<u8> = (0..count * size)
                .map(|i| {
                    if descr.contains('U') {
                        (i % 4 == 0) as u8 * 0x61
                    } else {
                        i as u8
                    }
                })
                .collect();
            out.push(npy_file(1, &dict(descr, shape), &data));
        }
    }
    out.push(npy_file(2, &dict("<f4", "(1,)"), &[0, 0, 128, 63]));
    out.push(npy_file(3, &dict("|S2", "(1,)"), b"\xff\xfe"));
    out.push(npy_file(
        1,
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
        &[0; 16],
    ));
    out.push(npy_file(
        1,
        "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }",
        &[0; 4],
    ));
    // The hostile ones: a header claiming 2^31-1 empty strings; hex and
    // underscored dims; an overflowing shape.
    out.push(npy_file(1, &dict("|S0", "(2147483647,)"), &[]));
    out.push(npy_file(1, &dict("<U0", "(2147483647,)"), &[]));
    out.push(npy_file(1, &dict("<f4", "(0x100000000, 0x100000000)"), &[]));
    out.push(npy_file(1, &dict("<f4", "(4_294_967_296, 4_294_967_296)"), &[]));
    out.push(npy_file(1, &dict("<f4", "(1099511627776, 1099511627776)"), &[]));
    out.push(npy_file(1, &dict("<f4", "(2147483647, 0)"), &[]));
    out
}
