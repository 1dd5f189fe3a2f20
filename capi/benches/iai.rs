//! The C ABI's own cost, in instructions (iai-callgrind): the same W1 and
//! W2 batches (continuous f32, `[1, 8]` and `[128, 16]`) and W5 (dense f32
//! `[256, 128]` and i64 `[256, 4]`) encoded through the Rust one-shot API
//! and through `bprwire_continuous_encode` / `bprwire_dense_encode`; the
//! difference is the boundary (argument checks, slices from pointers, the
//! status and thread-local message). `cargo bench -p bprwire-capi --bench iai`.

use std::ffi::c_void;
use std::hint::black_box;

use bprwire::{BatchPrediction, Tensor};
use bprwire_c::*;
use iai_callgrind::{library_benchmark, library_benchmark_group, main};

struct Continuous {
    keys: Vec<i64>,
    values: Vec<f32>,
    shape: [usize; 2],
    buf: Vec<u8>,
}

/// The thread's error slot, made before the measured call: a serving
/// thread pays its first use once, not per call.
fn warm() {
    black_box(bprwire_last_error());
}

fn continuous(batch: usize, n: usize) -> Continuous {
    warm();
    Continuous {
        keys: (1..=n as i64).collect(),
        values: (0..batch * n).map(|i| i as f32 * 0.5).collect(),
        shape: [batch, n],
        buf: vec![0u8; 64 + batch * (10 + 16 * n)],
    }
}

struct Dense {
    keys: [i64; 2],
    emb: Vec<f32>,
    ids: Vec<i64>,
    buf: Vec<u8>,
}

fn dense() -> Dense {
    warm();
    Dense {
        keys: [100, 200],
        emb: (0..256 * 128).map(|i| i as f32).collect(),
        ids: (0..256 * 4).collect(),
        buf: vec![0u8; 1 << 20],
    }
}

#[library_benchmark]
#[bench::w1(continuous(1, 8))]
#[bench::w2(continuous(128, 16))]
fn rust_continuous(mut c: Continuous) -> usize {
    let bp = BatchPrediction::new().continuous(&c.keys, &c.values[..], &c.shape);
    black_box(bp.encode_into(&mut c.buf).unwrap())
}

#[library_benchmark]
#[bench::w1(continuous(1, 8))]
#[bench::w2(continuous(128, 16))]
fn c_continuous(mut c: Continuous) -> usize {
    let mut written = 0;
    // SAFETY: every pointer is valid for its count.
    let st = unsafe {
        bprwire_continuous_encode(
            c.keys.as_ptr(),
            c.keys.len(),
            BPRWIRE_FLOAT,
            c.values.as_ptr().cast(),
            c.shape.as_ptr(),
            2,
            c.buf.as_mut_ptr(),
            c.buf.len(),
            &mut written,
        )
    };
    assert_eq!(st, BPRWIRE_OK);
    black_box(written)
}

#[library_benchmark]
#[bench::w5(dense())]
fn rust_dense(mut d: Dense) -> usize {
    let tensors = [
        Tensor::new(&d.emb[..], &[256, 128]),
        Tensor::new(&d.ids[..], &[256, 4]),
    ];
    let bp = BatchPrediction::new().dense(&d.keys, &tensors);
    black_box(bp.encode_into(&mut d.buf).unwrap())
}

#[library_benchmark]
#[bench::w5(dense())]
fn c_dense(mut d: Dense) -> usize {
    let (s1, s2) = ([256usize, 128], [256usize, 4]);
    let tensors = [
        bprwire_tensor {
            dtype: BPRWIRE_FLOAT,
            data: d.emb.as_ptr() as *const c_void,
            count: d.emb.len(),
            shape: s1.as_ptr(),
            rank: 2,
        },
        bprwire_tensor {
            dtype: BPRWIRE_INT64,
            data: d.ids.as_ptr() as *const c_void,
            count: d.ids.len(),
            shape: s2.as_ptr(),
            rank: 2,
        },
    ];
    let mut written = 0;
    // SAFETY: every pointer is valid for its count.
    let st = unsafe {
        bprwire_dense_encode(
            d.keys.as_ptr(),
            2,
            tensors.as_ptr(),
            d.buf.as_mut_ptr(),
            d.buf.len(),
            &mut written,
        )
    };
    assert_eq!(st, BPRWIRE_OK);
    black_box(written)
}

library_benchmark_group!(name = abi; benchmarks = rust_continuous, c_continuous, rust_dense, c_dense);
main!(library_benchmark_groups = abi);
