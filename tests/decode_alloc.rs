//! The decoder allocates nothing: decoding a response (of every field kind,
//! and hostile inputs that declare huge sizes) and iterating all of it
//! leaves the allocator untouched. A counting global allocator sees every
//! allocation of this test binary, and counts them per thread (the test
//! harness allocates on other threads).

use bprwire::decode::{self, GeneralTensor};
use bprwire::{BatchPrediction, Tensor};
use bprwire_reference::alloc_count::{allocated_by, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn the_counter_sees_allocations() {
    let (v, n) = allocated_by(|| vec![0u8; 100]);
    assert!(n >= 100 && v.len() == 100);
}

#[test]
fn decoding_and_iterating_allocate_nothing() {
    let keys: Vec<i64> = (0..50).collect();
    let values: Vec<f32> = (0..50 * 64).map(|i| i as f32).collect();
    let emb: Vec<f64> = (0..64 * 16).map(|i| i as f64).collect();
    let ids: Vec<i64> = (0..64 * 3).collect();
    let words: Vec<&str> = (0..64 * 2)
        .map(|i| if i % 2 == 0 { "héllo" } else { "" })
        .collect();
    let tensors = [
        Tensor::new(&emb, &[64, 16]),
        Tensor::new(&ids, &[64, 3]),
        Tensor::new(&words, &[64, 2]),
    ];
    for typed in [false, true] {
        let mut inputs = BatchPrediction::new()
            .continuous(&keys, &values, &[64, 50])
            .dense(&[1, 2, 3], &tensors);
        if typed {
            inputs = inputs.typed();
        }
        let bytes = inputs.encode_to_vec().unwrap();
        let (sum, n) = allocated_by(|| {
            let resp = decode::decode_response(&bytes).unwrap();
            let mut sum = 0.0f64;
            for rec in resp.records() {
                for (_, v) in rec.continuous_features.unwrap() {
                    sum += v;
                }
                for (_, t) in rec.tensors.unwrap() {
                    match t {
                        GeneralTensor::Raw(r) => sum += r.content.len() as f64,
                        GeneralTensor::Double(d) | GeneralTensor::Float(d) => {
                            sum += d.values.iter().sum::<f64>()
                        }
                        GeneralTensor::Int64(l) => sum += l.values.iter().sum::<i64>() as f64,
                        GeneralTensor::String(s) => {
                            sum += s.values.iter().map(str::len).sum::<usize>() as f64
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
            sum
        });
        assert!(sum > 0.0);
        assert_eq!(n, 0, "decoding allocated {n} bytes (typed: {typed})");
    }
}

#[test]
fn hostile_sizes_allocate_nothing() {
    // predictions declares 2^31-1 records; a record's map declares 2^31-1
    // entries; a string declares 2^31-1 bytes.
    let cases: [&[u8]; 3] = [
        &[0x0F, 0, 1, 0x0C, 0x7F, 0xFF, 0xFF, 0xFF, 0],
        &[
            0x0F, 0, 1, 0x0C, 0, 0, 0, 1, 0x0D, 0, 4, 0x0A, 0x0B, 0x7F, 0xFF, 0xFF, 0xFF,
        ],
        &[
            0x0F, 0, 1, 0x0C, 0, 0, 0, 1, 0x0B, 0, 99, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0,
        ],
    ];
    for bytes in cases {
        let (r, n) = allocated_by(|| decode::decode_response(bytes).map(|_| ()));
        assert!(r.is_err());
        assert_eq!(n, 0);
    }
}

#[test]
fn scattering_a_request_allocates_nothing_once_the_layout_and_buffers_exist() {
    use bprwire::features::{Buffers, FeatureLayout, OutputType, Rows};
    // Every kind, five tensor features (more than the outputs hold
    // inline), a common row: all built before counting starts.
    let ids: Vec<i64> = (0..300).map(|i| i * 1_000_003).collect();
    let mut layout = FeatureLayout::builder()
        .continuous(&ids, OutputType::F32, f64::NAN)
        .binary(&ids[..40], OutputType::I64)
        .discrete(&ids[..10], -1);
    for t in 0..5 {
        layout = layout.tensor(
            t,
            16,
            [OutputType::F32, OutputType::F64, OutputType::I64][t as usize % 3],
        );
    }
    let layout = layout.build().unwrap();
    let rows = 32;
    let cont: Vec<f32> = (0..rows * 300).map(|i| (i % 7) as f32).collect();
    let bin: Vec<i64> = (0..rows * 40).map(|i| (i % 2) as i64).collect();
    let disc: Vec<i64> = (0..rows * 10).map(|i| i as i64 % 5).collect();
    let t32: Vec<f32> = (0..rows * 16).map(|i| i as f32).collect();
    let t64: Vec<f64> = (0..rows * 16).map(|i| i as f64).collect();
    let ti: Vec<i64> = (0..rows * 16).map(|i| i as i64).collect();
    let mut r = Rows::new(rows)
        .continuous(&cont[..])
        .binary(&bin[..])
        .discrete(&disc[..]);
    for t in 0..5i64 {
        r = match t % 3 {
            0 => r.tensor(t, &t32[..]),
            1 => r.tensor(t, &t64[..]),
            _ => r.tensor(t, &ti[..]),
        };
    }
    let c_cont = vec![1.0f32; 300];
    let c_bin = vec![0i64; 40];
    let c_disc = [3i64; 10];
    let common = Rows::new(1)
        .continuous(&c_cont[..])
        .binary(&c_bin[..])
        .discrete(&c_disc[..])
        .tensor(0, &t32[..16])
        .tensor(1, &t64[..16])
        .tensor(2, &ti[..16])
        .tensor(3, &t32[..16])
        .tensor(4, &t64[..16]);
    let bytes = layout.write_request(&r, Some(&common)).unwrap().encode_to_vec();
    let request = decode::decode_request(&bytes).unwrap();
    let mut buffers = Buffers::new(&layout, rows).unwrap();
    let mut outputs = buffers.outputs();
    let (done, n) = allocated_by(|| {
        for _ in 0..3 {
            layout.scatter(&request, &mut outputs).unwrap();
        }
        layout.scatter_bytes(&bytes, &mut outputs).unwrap()
    });
    assert_eq!(done.rows, rows);
    assert_eq!(n, 0, "scatter allocated {n} bytes");
}
