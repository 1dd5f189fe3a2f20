//! Criterion benches: for each workload W1–W7, one group holding
//!
//! - `bprwire`: check + encode into a reused buffer (the serving-loop case);
//! - `bprwire_<level>`: the same with the kernel level forced, for every
//!   level this CPU has (`scalar`, `ssse3`, `avx2`, `avx512`);
//! - `bprwire_prepared`: a prepared `Signature` (built once): the
//!   per-batch checks + `encode_into` a reused buffer;
//! - `bprwire_vec`: check + encode into a fresh `Vec`;
//! - `thrift_build_encode`: build the generated structs from the same slices,
//!   then serialize with `TBinaryOutputProtocol` into a reused `Vec`;
//! - `thrift_encode`: serialize already-built structs only;
//! - `memcpy`: copy a buffer of exactly the output size (the physical floor).
//!
//! Throughput is the output size, so criterion's GB/s are comparable across
//! the five. Quote ratios taken from one run: the machine is shared and noisy.
//!
//! `cargo bench --bench encode [-- W3]`

use std::hint::black_box;
use std::time::Duration;

use bprwire::internals::workloads;
use bprwire::Level;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

fn bench_workload(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, w: &workloads::Workload) {
    w.with_inputs(|bp| {
        let len = bp.encoded_len().expect("workloads are valid");
        g.throughput(Throughput::Bytes(len as u64));

        let mut buf = vec![0u8; len];
        g.bench_function("bprwire", |b| {
            b.iter(|| {
                let enc = black_box(bp).encoder().unwrap();
                enc.encode_into(black_box(&mut buf)).unwrap()
            })
        });
        // The same at every kernel level this CPU has (forced).
        for level in Level::available() {
            let forced = bp.clone().level(level);
            g.bench_function(format!("bprwire_{level}"), |b| {
                b.iter(|| {
                    let enc = black_box(&forced).encoder().unwrap();
                    enc.encode_into(black_box(&mut buf)).unwrap()
                })
            });
        }
        // A prepared signature: the per-batch checks and the encoding only.
        let signature = w.signature();
        let strs = w.str_lists();
        let batch = w.prepared_batch(&strs);
        g.bench_function("bprwire_prepared", |b| {
            b.iter(|| {
                batch
                    .encode_into(black_box(&signature), black_box(&mut buf))
                    .unwrap()
            })
        });
        g.bench_function("bprwire_vec", |b| {
            b.iter(|| black_box(bp).encode_to_vec().unwrap())
        });

        let mut out = Vec::with_capacity(len);
        g.bench_function("thrift_build_encode", |b| {
            b.iter(|| {
                let resp = bprwire_reference::build(black_box(bp));
                bprwire_reference::serialize_into(&resp, black_box(&mut out));
            })
        });
        let built = bprwire_reference::build(bp);
        g.bench_function("thrift_encode", |b| {
            b.iter(|| bprwire_reference::serialize_into(black_box(&built), black_box(&mut out)))
        });

        let src = bp.encode_to_vec().unwrap();
        g.bench_function("memcpy", |b| {
            b.iter(|| black_box(&mut buf[..]).copy_from_slice(black_box(&src)))
        });
    });
}

fn benches(c: &mut Criterion) {
    for w in workloads::all() {
        let mut g = c.benchmark_group(w.id);
        bench_workload(&mut g, &w);
        g.finish();
    }
}

criterion_group! {
    name = encode;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches
}
criterion_main!(encode);
