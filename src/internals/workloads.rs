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
//!
//! The request side has its own workloads, R1–R3 ([`requests`]).

use crate::{BatchPrediction, Tensor, TensorData, TensorEncoding};

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

impl Workload {
    /// The workload's prepared [`Signature`](crate::Signature) (keys,
    /// element types, row shapes, encoding), built once.
    pub fn signature(&self) -> crate::Signature {
        use crate::Element;
        let mut b = crate::Signature::builder().encoding(self.encoding);
        if let Some((keys, values, _)) = &self.continuous {
            let element = match values {
                ContinuousValues::F32(_) => Element::F32,
                ContinuousValues::F64(_) => Element::F64,
            };
            b = b.continuous(keys, element);
        }
        for (key, data, shape) in &self.dense {
            let element = match data {
                Data::F32(_) => Element::F32,
                Data::I64(_) => Element::I64,
                Data::Str(_) => Element::Str,
            };
            b = b.tensor(*key, element, &shape[1..]);
        }
        b.build().expect("workload signatures are valid")
    }

    /// The `&str` lists of the workload's string tensors (empty for the
    /// others), which [`prepared_batch`](Self::prepared_batch) borrows.
    pub fn str_lists(&self) -> Vec<Vec<&str>> {
        self.dense
            .iter()
            .map(|(_, d, _)| match d {
                Data::Str(v) => v.iter().map(String::as_str).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// The workload's batch as a prepared signature takes it: the batch
    /// size and the slices, borrowed (string tensors from `strs`, made by
    /// [`str_lists`](Self::str_lists)).
    pub fn prepared_batch<'a>(&'a self, strs: &'a [Vec<&'a str>]) -> PreparedBatch<'a> {
        let batch = self
            .continuous
            .as_ref()
            .map(|(_, _, shape)| shape[0])
            .or_else(|| self.dense.first().map(|(_, _, shape)| shape[0]))
            .unwrap_or(0);
        let values = self.continuous.as_ref().map(|(_, v, _)| match v {
            ContinuousValues::F32(v) => crate::Values::F32(v),
            ContinuousValues::F64(v) => crate::Values::F64(v),
        });
        let tensors = self
            .dense
            .iter()
            .zip(strs)
            .map(|((_, d, _), s)| match d {
                Data::F32(v) => TensorData::F32(v),
                Data::I64(v) => TensorData::I64(v),
                Data::Str(_) => TensorData::Str(s),
            })
            .collect();
        PreparedBatch {
            batch,
            values,
            tensors,
        }
    }
}

/// One workload's batch for a prepared [`Signature`](crate::Signature):
/// what a serving loop hands over per call.
#[derive(Clone, Debug)]
pub struct PreparedBatch<'a> {
    /// Records.
    pub batch: usize,
    /// The continuous values, if any.
    pub values: Option<crate::Values<'a>>,
    /// One per tensor, in the signature's order.
    pub tensors: Vec<TensorData<'a>>,
}

impl PreparedBatch<'_> {
    /// Encodes the batch through `signature` into `buf` (see
    /// [`Signature::encode_into`](crate::Signature::encode_into)).
    ///
    /// # Errors
    ///
    /// As `Signature::encode_into`.
    pub fn encode_into(&self, signature: &crate::Signature, buf: &mut [u8]) -> Result<usize, crate::Error> {
        signature.encode_into(self.batch, self.values, &self.tensors, buf)
    }
}

/// A request-side workload (R1–R3): a [`FeatureLayout`](crate::features::FeatureLayout)
/// and a `BatchPredictionRequest` written with it, for the scatter benches.
///
/// | id | request |
/// |---|---|
/// | R1 | Navi's home-timeline shape: 256 records; 5,293 continuous ids, ~800 present per record; 149 binary ids, ~40 present; three `floatTensor` embeddings of width 200; common features with 300 continuous and 10 binary |
/// | R2 | 1 record, 40 continuous features (per-call overhead) |
/// | R3 | 1,024 records × 64 continuous features, all present (dense) |
#[derive(Clone, Debug)]
pub struct RequestWorkload {
    /// `R1` … `R3`.
    pub id: &'static str,
    /// One line saying what it is.
    pub summary: &'static str,
    /// The model's layout.
    pub layout: crate::features::FeatureLayout,
    /// The encoded request.
    pub bytes: Vec<u8>,
    /// Its number of records.
    pub rows: usize,
}

/// Distinct hash-like ids (as twml's feature ids are).
fn feature_ids(s: &mut Seq, n: usize) -> Vec<i64> {
    let mut ids: Vec<i64> = Vec::with_capacity(n);
    while ids.len() < n {
        let id = s.next() as i64;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// `rows × n` values where about `present` per row are set (a value in
/// [-1, 1)) and the rest are `absent`.
fn sparse_rows(s: &mut Seq, rows: usize, n: usize, present: usize, set: f32, absent: f32) -> Vec<f32> {
    (0..rows * n)
        .map(|_| {
            if (s.next() % n as u64) < present as u64 {
                if set.is_nan() {
                    s.f32()
                } else {
                    set
                }
            } else {
                absent
            }
        })
        .collect()
}

fn request(
    id: &'static str,
    summary: &'static str,
    layout: crate::features::FeatureLayout,
    rows: &crate::features::Rows<'_>,
    common: Option<&crate::features::Rows<'_>>,
) -> RequestWorkload {
    let bytes = layout
        .write_request(rows, common)
        .expect("workload rows fit their layout")
        .encode_to_vec();
    RequestWorkload {
        id,
        summary,
        rows: rows.len(),
        bytes,
        layout,
    }
}

fn r1() -> RequestWorkload {
    use crate::features::{FeatureLayout, OutputType, Rows};
    let mut s = Seq(0x21);
    let (rows, nc, nb, width) = (256, 5293, 149, 200);
    let cont_ids = feature_ids(&mut s, nc);
    let bin_ids = feature_ids(&mut s, nb);
    let mut layout = FeatureLayout::builder()
        .continuous(&cont_ids, OutputType::F32, f64::NAN)
        .binary(&bin_ids, OutputType::I64);
    for t in 0..3 {
        layout = layout.tensor(1000 + t, width, OutputType::F32);
    }
    let layout = layout.build().expect("distinct ids");
    let own = sparse_rows(&mut s, rows, nc, 800, f32::NAN, f32::NAN);
    let bin: Vec<i64> = sparse_rows(&mut s, rows, nb, 40, 1.0, 0.0)
        .iter()
        .map(|&v| v as i64)
        .collect();
    let emb: Vec<Vec<f32>> = (0..3)
        .map(|_| (0..rows * width).map(|_| s.f32()).collect())
        .collect();
    let c_cont = sparse_rows(&mut s, 1, nc, 300, f32::NAN, f32::NAN);
    // A row is the common features with the record's own over them: the
    // records carry only their own (~800) continuous features.
    let cont: Vec<f32> = own
        .iter()
        .enumerate()
        .map(|(i, &v)| if v.is_nan() { c_cont[i % nc] } else { v })
        .collect();
    // The common binary features are in every row too (a record cannot
    // remove one).
    let c_bin: Vec<i64> = (0..nb).map(|j| i64::from(j % 15 == 0)).collect();
    let bin: Vec<i64> = bin.iter().enumerate().map(|(i, &v)| v | c_bin[i % nb]).collect();
    let zeros = vec![0f32; width];
    let mut r = Rows::new(rows).continuous(&cont[..]).binary(&bin[..]);
    let mut common = Rows::new(1).continuous(&c_cont[..]).binary(&c_bin[..]);
    for (t, e) in emb.iter().enumerate() {
        r = r.tensor(1000 + t as i64, &e[..]);
        common = common.tensor(1000 + t as i64, &zeros[..]);
    }
    request(
        "R1",
        "256 records; 5,293 continuous ids (~800 present), 149 binary (~40), 3 floatTensor [200]; common 300 + 10",
        layout,
        &r,
        Some(&common),
    )
}

fn dense_continuous(id: &'static str, summary: &'static str, rows: usize, n: usize) -> RequestWorkload {
    use crate::features::{FeatureLayout, OutputType, Rows};
    let mut s = Seq(0x3000 + (rows * n) as u64);
    let ids = feature_ids(&mut s, n);
    let layout = FeatureLayout::builder()
        .continuous(&ids, OutputType::F32, f64::NAN)
        .build()
        .expect("distinct ids");
    let values: Vec<f32> = (0..rows * n).map(|_| s.f32()).collect();
    let rows = Rows::new(rows).continuous(&values[..]);
    request(id, summary, layout, &rows, None)
}

/// Every request workload, R1 to R3, in order.
pub fn requests() -> Vec<RequestWorkload> {
    vec![
        r1(),
        dense_continuous("R2", "1 record, 40 continuous features", 1, 40),
        dense_continuous(
            "R3",
            "1,024 records x 64 continuous features, all present",
            1024,
            64,
        ),
    ]
}

/// The request workload with this id (`R1` … `R3`, case-insensitive).
pub fn get_request(id: &str) -> Option<RequestWorkload> {
    requests().into_iter().find(|w| w.id.eq_ignore_ascii_case(id))
}
