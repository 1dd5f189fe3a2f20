//! The benchmark workloads W1–W7, defined once for the criterion and
//! iai-callgrind benches, the tests and `bprwire bench`.
//!
//! | id | input |
//! |---|---|
//! | W1 | continuous, batch 1, 8 keys, f32 (per-call overhead) |
//! | W2 | continuous, batch 128, 16 keys, f32 (typical serving batch) |
//! | W3 | continuous, batch 4096, 64 keys, f32 (large ads batch, ~4 MB out) |
//! | W4 | continuous, batch 1024, 32 keys, f64 |
//! | W5 | dense: key 100 → f32 `[256,128]`, key 200 → i64 `[256,4]` (raw) |
//! | W6 | dense: key 300 → string `[64,3]`, 5–40 byte strings |
//! | W7 | W5 with the typed encoding (byte-swap-bound) |
//!
//! Keys are 1..=n (dense keys as listed); values are deterministic but not
//! constant, so no branch predictor or compressor gets lucky.

use crate::{BatchPrediction, Tensor, TensorEncoding};

/// Owned element data of one workload tensor.
#[derive(Clone, Debug)]
enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
    Str(Vec<String>),
}

/// Continuous values of one workload.
#[derive(Clone, Debug)]
enum ContinuousValues {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// One workload: owned inputs, borrowed as a [`BatchPrediction`] on demand.
#[derive(Clone, Debug)]
pub struct Workload {
    /// `W1` … `W7`.
    pub id: &'static str,
    /// One line saying what it is.
    pub summary: &'static str,
    continuous: Option<(Vec<i64>, ContinuousValues, [usize; 2])>,
    dense: Vec<(i64, Data, Vec<usize>)>,
    encoding: TensorEncoding,
}

/// A deterministic sequence of well-spread 64-bit values (xorshift64*).
struct Seq(u64);

impl Seq {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// In [-1, 1), with 24 bits of variety: prediction-like scores.
    fn f32(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }
    fn f64(&mut self) -> f64 {
        ((self.next() >> 11) as f64 / (1u64 << 52) as f64) - 1.0
    }
}

fn continuous(id: &'static str, summary: &'static str, batch: usize, n: usize, wide: bool) -> Workload {
    let mut s = Seq(0x5EED ^ (batch * 31 + n) as u64);
    let keys = (1..=n as i64).collect();
    let values = if wide {
        ContinuousValues::F64((0..batch * n).map(|_| s.f64()).collect())
    } else {
        ContinuousValues::F32((0..batch * n).map(|_| s.f32()).collect())
    };
    Workload {
        id,
        summary,
        continuous: Some((keys, values, [batch, n])),
        dense: Vec::new(),
        encoding: TensorEncoding::Raw,
    }
}

fn w5(id: &'static str, summary: &'static str, encoding: TensorEncoding) -> Workload {
    let mut s = Seq(0xD5);
    let emb = Data::F32((0..256 * 128).map(|_| s.f32()).collect());
    let ids = Data::I64((0..256 * 4).map(|_| s.next() as i64).collect());
    Workload {
        id,
        summary,
        continuous: None,
        dense: vec![(100, emb, vec![256, 128]), (200, ids, vec![256, 4])],
        encoding,
    }
}

fn w6() -> Workload {
    let mut s = Seq(0x56);
    let strings = (0..64 * 3)
        .map(|_| {
            let len = 5 + (s.next() % 36) as usize;
            (0..len).map(|_| (b'a' + (s.next() % 26) as u8) as char).collect()
        })
        .collect();
    Workload {
        id: "W6",
        summary: "dense: key 300 -> string [64,3], 5-40 byte strings",
        continuous: None,
        dense: vec![(300, Data::Str(strings), vec![64, 3])],
        encoding: TensorEncoding::Raw,
    }
}

/// Every workload, W1 to W7, in order.
pub fn all() -> Vec<Workload> {
    vec![
        continuous("W1", "continuous, batch 1, 8 keys, f32", 1, 8, false),
        continuous("W2", "continuous, batch 128, 16 keys, f32", 128, 16, false),
        continuous("W3", "continuous, batch 4096, 64 keys, f32", 4096, 64, false),
        continuous("W4", "continuous, batch 1024, 32 keys, f64", 1024, 32, true),
        w5(
            "W5",
            "dense: key 100 -> f32 [256,128], key 200 -> i64 [256,4], raw",
            TensorEncoding::Raw,
        ),
        w6(),
        w5("W7", "W5 with the typed encoding", TensorEncoding::Typed),
    ]
}

/// The workload with this id (`W1` … `W7`, case-insensitive).
pub fn get(id: &str) -> Option<Workload> {
    all().into_iter().find(|w| w.id.eq_ignore_ascii_case(id))
}

impl Workload {
    /// Calls `f` with the workload's inputs, borrowed from `self`.
    pub fn with_inputs<R>(&self, f: impl FnOnce(&BatchPrediction<'_>) -> R) -> R {
        // String tensors borrow a list of `&str`, which must outlive them.
        let str_views: Vec<Vec<&str>> = self
            .dense
            .iter()
            .map(|(_, d, _)| match d {
                Data::Str(v) => v.iter().map(String::as_str).collect(),
                _ => Vec::new(),
            })
            .collect();
        let tensors: Vec<Tensor<'_>> = self
            .dense
            .iter()
            .zip(&str_views)
            .map(|((_, d, shape), views)| match d {
                Data::F32(v) => Tensor::new(v, shape),
                Data::I64(v) => Tensor::new(v, shape),
                Data::Str(_) => Tensor::new(&views[..], shape),
            })
            .collect();
        let keys: Vec<i64> = self.dense.iter().map(|(k, _, _)| *k).collect();
        let mut bp = BatchPrediction::new().encoding(self.encoding);
        if let Some((keys, values, shape)) = &self.continuous {
            bp = match values {
                ContinuousValues::F32(v) => bp.continuous(keys, v, shape),
                ContinuousValues::F64(v) => bp.continuous(keys, v, shape),
            };
        }
        if !tensors.is_empty() {
            bp = bp.dense(&keys, &tensors);
        }
        f(&bp)
    }
}
