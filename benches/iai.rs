//! Instruction counts under callgrind (stable on noisy shared machines):
//! bprwire and the reference's build + encode, per workload; and decoding
//! the same bytes with bprwire's decoder and with the reference's; and the
//! request side (R1–R3): bprwire's decode + scatter against a Navi-style
//! converter.
//!
//! `cargo bench --bench iai` (needs `cargo install iai-callgrind-runner
//! --version 0.16.1 --locked`; `.ci/run` installs it).
//!
//! Each benchmark borrows the workload's inputs inside the measured
//! function (`Workload::with_inputs`: a few small allocations for the
//! tensor workloads, none for the continuous ones), the same for both
//! sides. Building the workload's data happens in `setup`, and freeing it
//! after the function returns, both outside the measurement.

use std::hint::black_box;

use ::bprwire::internals::workloads::{self, Workload};
use ::bprwire::Level;
use iai_callgrind::{library_benchmark, library_benchmark_group, main};

/// Outside the measurement: the workload's data and an output buffer of the
/// right size (bprwire) or capacity (the reference).
fn setup(id: &str) -> (Workload, Vec<u8>) {
    let w = workloads::get(id).expect("known workload");
    let len = w.with_inputs(|bp| bp.encoded_len().unwrap());
    (w, vec![0u8; len])
}

#[library_benchmark]
#[benches::workloads(args = ["W1", "W2", "W3", "W4", "W5", "W6", "W7"], setup = setup)]
fn bprwire((w, mut buf): (Workload, Vec<u8>)) -> (Workload, Vec<u8>) {
    w.with_inputs(|bp| {
        let enc = black_box(bp).encoder().unwrap();
        black_box(enc.encode_into(black_box(&mut buf)).unwrap());
    });
    // Returned, so that freeing the workload is not measured.
    (w, buf)
}

type Prepared = Box<(::bprwire::Signature, workloads::PreparedBatch<'static>, Vec<u8>)>;

/// Outside the measurement: the workload (leaked, so that the slices
/// handed over can borrow it here), its prepared signature, the batch as
/// the signature takes it, and an output buffer of the right size; boxed,
/// so that handing them to the measured function moves one pointer.
fn setup_prepared(id: &str) -> Prepared {
    let (w, buf) = setup(id);
    let w: &'static Workload = Box::leak(Box::new(w));
    let strs: &'static [Vec<&'static str>] = Vec::leak(w.str_lists());
    Box::new((w.signature(), w.prepared_batch(strs), buf))
}

// A prepared signature (built in setup): per call, only the per-batch
// checks and the encoding (`Signature::encode_into`).
#[library_benchmark]
#[benches::workloads(args = ["W1", "W2", "W3", "W4", "W5", "W6", "W7"], setup = setup_prepared)]
fn bprwire_prepared(mut p: Prepared) -> Prepared {
    let (signature, batch, buf) = &mut *p;
    black_box(batch.encode_into(black_box(signature), black_box(buf)).unwrap());
    p
}

#[library_benchmark]
#[benches::workloads(args = ["W1", "W2", "W3", "W4", "W5", "W6", "W7"], setup = setup)]
fn thrift_build_encode((w, mut buf): (Workload, Vec<u8>)) -> (Workload, Vec<u8>) {
    w.with_inputs(|bp| {
        // Dropping the built structs is part of the reference's cost.
        let resp = bprwire_reference::build(black_box(bp));
        bprwire_reference::serialize_into(&resp, black_box(&mut buf));
    });
    (w, buf)
}

/// Outside the measurement: W6's strings (leaked, so that the borrowed
/// lists are built here too, not in the measured function) as `&str`s or
/// as `&[u8]`s, and an output buffer of the right size.
/// W6's strings three ways (outside the measurement): `&str`s, byte
/// slices, and one NUL-padded buffer of 40-byte elements (a numpy `S40`
/// array, as the Python package passes it).
struct W6Strings {
    strs: Vec<&'static str>,
    bytes: Vec<&'static [u8]>,
    padded: Vec<u8>,
}

/// Which of the three a benchmark encodes.
#[derive(Clone, Copy)]
enum StringsAs {
    Str,
    Bytes,
    Padded,
}

/// W6's longest string: the padded elements' width.
const W6_WIDTH: usize = 40;

fn setup_w6_strings(how: StringsAs) -> (W6Strings, StringsAs, Vec<u8>) {
    let w = workloads::get("W6").expect("known workload");
    let strings: Vec<String> = w.with_inputs(|bp| match bp.dense_input().unwrap().tensors[0].data() {
        ::bprwire::TensorData::Str(v) => v.iter().map(|s| s.to_string()).collect(),
        _ => unreachable!("W6 is a string tensor"),
    });
    let strings: &'static [String] = Vec::leak(strings);
    let mut padded = vec![0u8; strings.len() * W6_WIDTH];
    for (element, s) in padded.chunks_exact_mut(W6_WIDTH).zip(strings) {
        element[..s.len()].copy_from_slice(s.as_bytes());
    }
    let inputs = W6Strings {
        strs: strings.iter().map(String::as_str).collect(),
        bytes: strings.iter().map(String::as_bytes).collect(),
        padded,
    };
    let len = w.with_inputs(|bp| bp.encoded_len().unwrap());
    (inputs, how, vec![0u8; len])
}

// W6's strings as `&str`, as `&[u8]` (`TensorData::Bytes`) and as padded
// fixed-width text (`TensorData::Padded`), with no allocation inside: the
// same bytes out. The byte strings and the padded ones need the UTF-8
// check a StringTensor needs (`&str`s need none); the padded ones are also
// trimmed of their NULs.
#[library_benchmark]
#[bench::w6_str(setup = setup_w6_strings, args = (StringsAs::Str))]
#[bench::w6_bytes(setup = setup_w6_strings, args = (StringsAs::Bytes))]
#[bench::w6_padded(setup = setup_w6_strings, args = (StringsAs::Padded))]
fn bprwire_strings((inputs, how, mut buf): (W6Strings, StringsAs, Vec<u8>)) -> (W6Strings, Vec<u8>) {
    {
        let data = match how {
            StringsAs::Str => ::bprwire::TensorData::Str(&inputs.strs),
            StringsAs::Bytes => ::bprwire::TensorData::Bytes(&inputs.bytes),
            StringsAs::Padded => ::bprwire::TensorData::Padded {
                bytes: &inputs.padded,
                width: W6_WIDTH,
                kind: ::bprwire::StringKind::Text,
            },
        };
        let tensors = [::bprwire::Tensor::new(data, &[64, 3])];
        let bp = ::bprwire::BatchPrediction::new().dense(&[300], &tensors);
        let enc = black_box(&bp).encoder().unwrap();
        black_box(enc.encode_into(black_box(&mut buf)).unwrap());
    }
    (inputs, buf)
}

/// Outside the measurement: as [`setup`], at a forced kernel level.
fn setup_level(id: &str, level: &str) -> (Workload, Level, Vec<u8>) {
    let (w, buf) = setup(id);
    (w, Level::from_name(level).expect("level name"), buf)
}

// bprwire with the kernel level forced. valgrind does not emulate
// AVX-512, so the levels measured here are scalar, SSSE3 and AVX2 (the
// `bprwire` bench above runs the best of these, AVX2, on this machine).
#[library_benchmark]
#[benches::levels(
    args = [
        ("W1", "scalar"), ("W1", "ssse3"), ("W2", "scalar"), ("W2", "ssse3"),
        ("W3", "scalar"), ("W3", "ssse3"), ("W4", "scalar"), ("W4", "ssse3"),
        ("W5", "scalar"), ("W5", "ssse3"), ("W6", "scalar"), ("W6", "ssse3"),
        ("W7", "scalar"), ("W7", "ssse3"),
    ],
    setup = setup_level
)]
fn bprwire_level((w, level, mut buf): (Workload, Level, Vec<u8>)) -> (Workload, Vec<u8>) {
    w.with_inputs(|bp| {
        let enc = black_box(bp.clone().level(level)).encoder().unwrap();
        black_box(enc.encode_into(black_box(&mut buf)).unwrap());
    });
    (w, buf)
}

/// Outside the measurement: the workload's encoded bytes.
fn setup_decode(id: &str) -> Vec<u8> {
    workloads::get(id)
        .expect("known workload")
        .with_inputs(|bp| bp.encode_to_vec().unwrap())
}

// bprwire's decoder: check the whole response, then read every
// continuous value and every tensor's content (what a client does).
#[library_benchmark]
#[benches::workloads(args = ["W1", "W2", "W3", "W4", "W5", "W6", "W7"], setup = setup_decode)]
fn bprwire_decode(bytes: Vec<u8>) -> Vec<u8> {
    let resp = ::bprwire::decode::decode_response(black_box(&bytes)).unwrap();
    let mut sum = 0.0f64;
    for rec in resp.records() {
        for (_, v) in rec.continuous_features.into_iter().flatten() {
            sum += v;
        }
        for (_, t) in rec.tensors.into_iter().flatten() {
            if let ::bprwire::decode::GeneralTensor::Raw(r) = t {
                sum += black_box(r.content).len() as f64;
            } else {
                sum += t.element_count().unwrap_or(0) as f64;
            }
        }
    }
    black_box(sum);
    bytes
}

// The reference decoder into the generated structs (dropping them
// included).
#[library_benchmark]
#[benches::workloads(args = ["W1", "W2", "W3", "W4", "W5", "W6", "W7"], setup = setup_decode)]
fn thrift_decode(bytes: Vec<u8>) -> Vec<u8> {
    black_box(bprwire_reference::deserialize(black_box(&bytes)).unwrap());
    bytes
}

/// Outside the measurement: a request workload (its layout and bytes) and
/// buffers for its outputs.
fn setup_scatter(id: &str) -> (workloads::RequestWorkload, ::bprwire::features::Buffers) {
    let w = workloads::get_request(id).expect("known request workload");
    let buffers = ::bprwire::features::Buffers::new(&w.layout, w.rows).unwrap();
    (w, buffers)
}

// bprwire's request side: decode the request, scatter it into reused
// buffers.
#[library_benchmark]
#[benches::workloads(args = ["R1", "R2", "R3"], setup = setup_scatter)]
fn bprwire_scatter(
    (w, mut buffers): (workloads::RequestWorkload, ::bprwire::features::Buffers),
) -> (workloads::RequestWorkload, ::bprwire::features::Buffers) {
    let done = w
        .layout
        .scatter_bytes(black_box(&w.bytes), &mut buffers.outputs())
        .unwrap();
    black_box(done);
    (w, buffers)
}

/// Outside the measurement: a request workload and Navi's `HashMap`s.
fn setup_navi(id: &str) -> (workloads::RequestWorkload, bprwire_reference::naive::NaiveLayout) {
    let w = workloads::get_request(id).expect("known request workload");
    let naive = bprwire_reference::naive::NaiveLayout::new(&w.layout);
    (w, naive)
}

// What Navi does: copy, generated decode, HashMap lookups, fresh Vecs
// (freeing them included).
#[library_benchmark]
#[benches::workloads(args = ["R1", "R2", "R3"], setup = setup_navi)]
fn navi_style(
    (w, naive): (workloads::RequestWorkload, bprwire_reference::naive::NaiveLayout),
) -> (workloads::RequestWorkload, bprwire_reference::naive::NaiveLayout) {
    black_box(bprwire_reference::naive::navi_style(&naive, black_box(&w.bytes)).unwrap());
    (w, naive)
}

/// A writer that accepts every byte, vectored too, and keeps none: the
/// sinks' own instructions, without a system call.
struct Null;

impl std::io::Write for Null {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(black_box(buf).len())
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        Ok(black_box(bufs).iter().map(|b| b.len()).sum())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// The sinks, to `Null`, with their buffers reused (64 KiB staging; a plan
// that has held the same response): compare with `encode::bprwire`.
fn setup_staging(id: &str) -> (Workload, Vec<u8>) {
    let w = workloads::get(id).expect("known workload");
    (w, vec![0u8; ::bprwire::sink::DEFAULT_STAGING])
}

#[library_benchmark]
#[benches::workloads(args = ["W3", "W5", "W6", "W7"], setup = setup_staging)]
fn sink_write_to((w, mut buf): (Workload, Vec<u8>)) -> (Workload, Vec<u8>) {
    w.with_inputs(|bp| {
        let enc = black_box(bp).encoder().unwrap();
        black_box(enc.write_to_with(&mut Null, black_box(&mut buf)).unwrap());
    });
    (w, buf)
}

fn setup_vectored(id: &str) -> (Workload, ::bprwire::sink::Vectored<'static>, usize) {
    let w = workloads::get(id).expect("known workload");
    let min_borrow = if id == "W5" {
        1
    } else {
        ::bprwire::sink::DEFAULT_MIN_BORROW
    };
    // Warm the plan's buffers on a copy of the inputs, then keep only them.
    let plan = w.with_inputs(|bp| {
        let mut plan = ::bprwire::sink::Vectored::default();
        bp.encoder().unwrap().vectored_into(&mut plan, min_borrow);
        plan.recycle()
    });
    (w, plan, min_borrow)
}

// W5 borrowing every raw row (1025 chunks); the others with the default
// threshold (nothing borrowed: one chunk written by `encode_into`).
#[library_benchmark]
#[benches::workloads(args = ["W3", "W5", "W6", "W7"], setup = setup_vectored)]
fn sink_vectored(
    (w, plan, min_borrow): (Workload, ::bprwire::sink::Vectored<'static>, usize),
) -> (Workload, ::bprwire::sink::Vectored<'static>) {
    let plan = w.with_inputs(|bp| {
        let mut plan = plan.recycle();
        let enc = black_box(bp).encoder().unwrap();
        enc.vectored_into(&mut plan, min_borrow);
        black_box(plan.write_to(&mut Null).unwrap());
        plan.recycle()
    });
    (w, plan)
}

library_benchmark_group!(name = encode; benchmarks = bprwire, bprwire_prepared, bprwire_strings, bprwire_level, thrift_build_encode);
library_benchmark_group!(name = decode; benchmarks = bprwire_decode, thrift_decode);
library_benchmark_group!(name = sink; benchmarks = sink_write_to, sink_vectored);
library_benchmark_group!(name = scatter; benchmarks = bprwire_scatter, navi_style);
main!(library_benchmark_groups = encode, decode, sink, scatter);
