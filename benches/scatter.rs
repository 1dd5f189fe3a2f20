//! Criterion benches of the request side: for each workload R1–R3, one
//! group holding
//!
//! - `bprwire`: decode the request and scatter it into buffers reused
//!   across requests (the serving-loop case);
//! - `bprwire_<level>`: the same with the kernel level forced;
//! - `navi_style`: what Navi's converter does — copy the bytes, decode them
//!   with the generated code, look each feature up in a std `HashMap`,
//!   fill fresh `Vec`s (`bprwire_reference::naive::navi_style`);
//! - `thrift_decode`: the generated decoder alone;
//! - `memcpy`: copy the request bytes (the physical floor).
//!
//! Throughput is the request size. Quote ratios taken from one run.
//!
//! `cargo bench --bench scatter [-- R1]`

use std::hint::black_box;
use std::time::Duration;

use bprwire::decode::decode_request;
use bprwire::features::Buffers;
use bprwire::internals::workloads;
use bprwire::Level;
use bprwire_reference::naive::{navi_style, NaiveLayout};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn benches(c: &mut Criterion) {
    for w in workloads::requests() {
        let mut g = c.benchmark_group(w.id);
        g.throughput(Throughput::Bytes(w.bytes.len() as u64));
        let mut buffers = Buffers::new(&w.layout, w.rows).unwrap();
        let mut outputs = buffers.outputs();
        g.bench_function("bprwire", |b| {
            b.iter(|| {
                w.layout
                    .scatter_bytes(black_box(&w.bytes), black_box(&mut outputs))
                    .unwrap()
            })
        });
        for level in Level::available() {
            g.bench_function(format!("bprwire_{level}"), |b| {
                b.iter(|| {
                    let req = decode_request(black_box(&w.bytes)).unwrap();
                    w.layout
                        .scatter_with(&req, black_box(&mut outputs), level)
                        .unwrap()
                })
            });
        }
        let naive = NaiveLayout::new(&w.layout);
        g.bench_function("navi_style", |b| {
            b.iter(|| navi_style(&naive, black_box(&w.bytes)).unwrap())
        });
        g.bench_function("thrift_decode", |b| {
            b.iter(|| bprwire_reference::deserialize_request(black_box(&w.bytes)).unwrap())
        });
        let mut copy = vec![0u8; w.bytes.len()];
        g.bench_function("memcpy", |b| {
            b.iter(|| black_box(&mut copy[..]).copy_from_slice(black_box(&w.bytes)))
        });
        g.finish();
    }
}

criterion_group! {
    name = scatter;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = benches
}
criterion_main!(scatter);
