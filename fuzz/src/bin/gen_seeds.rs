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
    for target in ["encode_vs_reference", "encode_levels", "encode_into_small_buffer"] {
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
    println!("{} seeds per target in {}", seeds.len(), out.display());
}
