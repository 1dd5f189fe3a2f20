//! Every kernel at every level this machine has, against its scalar twin:
//! every length from 0 to 257 elements (continuous: keys, over the 64-key
//! chunk boundary, and records 0 to 3, with and without the STOP), and
//! every source and destination misalignment 0..63 — each misalignment
//! alone with the other side aligned, and both together on a diagonal.
//! The destination is wider than needed and pre-filled, so a write past
//! the end or a byte left unwritten shows.
//!
//! Prints which levels ran (`cargo test --test kernels -- --nocapture`).

use bprwire::kernels::{scalar, Kernels, Level, Records};

/// Deterministic bytes that include every f32/f64 class: NaNs with
/// payloads, infinities, subnormals, zeros of both signs.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let specials: [&[u8]; 6] = [
        &f32::NAN.to_le_bytes(),
        &[1, 0, 0xA0, 0x7F], // signalling NaN with a payload
        &f32::NEG_INFINITY.to_le_bytes(),
        &[1, 0, 0, 0], // smallest subnormal
        &(-0.0f32).to_le_bytes(),
        &0u32.to_le_bytes(),
    ];
    for (i, s) in specials.iter().enumerate() {
        let at = (i * 12) % len.max(1);
        if at + 4 <= len {
            v[at..at + 4].copy_from_slice(s);
        }
    }
    v
}

const OFFSETS: usize = 64;
const MAX_LEN: usize = 257;
const FILL: u8 = 0xA5;

/// (source misalignment, destination misalignment) pairs for one length.
fn alignments() -> impl Iterator<Item = (usize, usize)> {
    (0..OFFSETS).flat_map(|o| [(o, 0), (0, o), (o, OFFSETS - 1 - o)])
}

fn levels() -> Vec<&'static Kernels> {
    let levels: Vec<_> = Level::available()
        .map(|l| Kernels::for_level(l).expect("available"))
        .collect();
    println!(
        "kernel levels tested here: {:?}",
        levels.iter().map(|k| k.level().name()).collect::<Vec<_>>()
    );
    levels
}

/// Checks one element-wise kernel: `out_per_in` output bytes per input
/// byte, `elem` input bytes per element.
fn check_convert(
    name: &str,
    elem: usize,
    out_per_in: usize,
    twin: fn(&[u8], &mut [u8]),
    kernel: impl Fn(&Kernels, &[u8], &mut [u8]),
) {
    for k in levels() {
        for len in 0..=MAX_LEN {
            let n_in = len * elem;
            let n_out = n_in * out_per_in;
            let src_buf = bytes(n_in + OFFSETS, len as u64 * 0x9E37);
            let mut want = vec![FILL; n_out];
            for (s, d) in alignments() {
                let src = &src_buf[s..s + n_in];
                twin(src, &mut want);
                let mut dst = vec![FILL; n_out + OFFSETS + 8];
                kernel(k, src, &mut dst[d..d + n_out]);
                assert_eq!(
                    &dst[d..d + n_out],
                    &want[..],
                    "{name} at {}: len {len}, src +{s}, dst +{d}",
                    k.level()
                );
                assert!(
                    dst[..d].iter().chain(&dst[d + n_out..]).all(|&b| b == FILL),
                    "{name} at {}: wrote outside its destination (len {len}, dst +{d})",
                    k.level()
                );
            }
        }
    }
}

#[test]
fn swap8_matches_scalar() {
    check_convert("swap8", 8, 1, scalar::swap8, |k, s, d| k.swap8(s, d));
}

#[test]
fn swap4_matches_scalar() {
    check_convert("swap4", 4, 1, scalar::swap4, |k, s, d| k.swap4(s, d));
}

#[test]
fn f32_to_f64_be_matches_scalar() {
    check_convert("f32_to_f64_be", 4, 2, scalar::f32_to_f64_be, |k, s, d| {
        k.f32_to_f64_be(s, d)
    });
}

#[test]
fn bool_to_thrift_matches_scalar() {
    check_convert("bool_to_thrift", 1, 1, scalar::bool_to_thrift, |k, s, d| {
        k.bool_to_thrift(s, d)
    });
}

#[test]
fn bool_to_thrift_writes_only_0_and_1_at_every_level() {
    // Every byte value, at every position of a vector block and its tail.
    let src: Vec<u8> = (0..=255u8).chain(0..=255).chain([0, 1, 2, 0x80, 0xff]).collect();
    for k in levels() {
        for start in 0..OFFSETS {
            let src = &src[start..];
            let mut dst = vec![FILL; src.len()];
            k.bool_to_thrift(src, &mut dst);
            for (i, (&s, &d)) in src.iter().zip(&dst).enumerate() {
                assert_eq!(d, u8::from(s != 0), "at {}: byte {i} (0x{s:02x})", k.level());
            }
        }
    }
}

fn check_continuous(
    name: &str,
    elem: usize,
    twin: fn(&Records<'_>, &[u8], &mut [u8]),
    kernel: impl Fn(&Kernels, &Records<'_>, &[u8], &mut [u8]),
) {
    let all_keys: Vec<i64> = (0..MAX_LEN as i64)
        .map(|i| i.wrapping_mul(0x0123_4567_89AB_CDEF) ^ i64::MIN)
        .collect();
    for k in levels() {
        for n in 0..=MAX_LEN {
            for (rows, stop) in [(1, false), (1, true), (0, true), (3, true), (2, false)] {
                let records = Records {
                    head: [0x0D, 0, 2, 0x0A, 4, 1, 2, 3, n as u8],
                    keys: &all_keys[..n],
                    stop,
                };
                let n_in = rows * n * elem;
                let n_out = rows * records.record_len();
                let src_buf = bytes(n_in + OFFSETS, (n * 7 + rows) as u64);
                let mut want = vec![FILL; n_out];
                // Every alignment for one record; a cheaper sample for more.
                let pairs: Vec<_> = if rows == 1 {
                    alignments().collect()
                } else {
                    vec![(0, 0), (3, 61), (63, 1)]
                };
                for (s, d) in pairs {
                    let src = &src_buf[s..s + n_in];
                    twin(&records, src, &mut want);
                    let mut dst = vec![FILL; n_out + OFFSETS + 8];
                    kernel(k, &records, src, &mut dst[d..d + n_out]);
                    assert_eq!(
                        &dst[d..d + n_out],
                        &want[..],
                        "{name} at {}: {n} keys, {rows} records, stop {stop}, src +{s}, dst +{d}",
                        k.level()
                    );
                    assert!(
                        dst[..d].iter().chain(&dst[d + n_out..]).all(|&b| b == FILL),
                        "{name} at {}: wrote outside its destination",
                        k.level()
                    );
                }
            }
        }
    }
}

#[test]
fn continuous_f32_matches_scalar() {
    check_continuous("continuous_f32", 4, scalar::continuous_f32, |k, r, v, d| {
        k.continuous_f32(r, v, d)
    });
}

#[test]
fn continuous_f64_matches_scalar() {
    check_continuous("continuous_f64", 8, scalar::continuous_f64, |k, r, v, d| {
        k.continuous_f64(r, v, d)
    });
}

/// The scalar twins themselves against a definition written differently
/// (per element, with std's conversions), so the twin is not only checked
/// against itself.
#[test]
fn scalar_twins_match_their_definition() {
    let src = bytes(8 * 40, 99);
    let mut got = vec![0u8; src.len() * 2];
    scalar::swap8(&src, &mut got[..src.len()]);
    for (i, c) in src.chunks(8).enumerate() {
        let v = i64::from_le_bytes(c.try_into().unwrap());
        assert_eq!(&got[8 * i..8 * i + 8], &v.to_be_bytes());
    }
    scalar::swap4(&src, &mut got[..src.len()]);
    for (i, c) in src.chunks(4).enumerate() {
        let v = i32::from_le_bytes(c.try_into().unwrap());
        assert_eq!(&got[4 * i..4 * i + 4], &v.to_be_bytes());
    }
    scalar::f32_to_f64_be(&src, &mut got);
    for (i, c) in src.chunks(4).enumerate() {
        let v = f32::from_le_bytes(c.try_into().unwrap()) as f64;
        assert_eq!(&got[8 * i..8 * i + 8], &v.to_bits().to_be_bytes());
    }
    scalar::bool_to_thrift(&src, &mut got[..src.len()]);
    for (i, &b) in src.iter().enumerate() {
        assert_eq!(got[i], u8::from(b != 0));
    }
    let keys = [7i64, -1, i64::MIN];
    let records = Records {
        head: [9; 9],
        keys: &keys,
        stop: true,
    };
    let values = [
        1.5f32.to_le_bytes(),
        (-2.0f32).to_le_bytes(),
        f32::INFINITY.to_le_bytes(),
    ]
    .concat();
    let mut out = vec![0xFFu8; records.record_len()];
    scalar::continuous_f32(&records, &values, &mut out);
    let mut want = vec![9u8; 9];
    for (k, v) in keys.iter().zip([1.5f64, -2.0, f64::INFINITY]) {
        want.extend_from_slice(&k.to_be_bytes());
        want.extend_from_slice(&v.to_be_bytes());
    }
    want.push(0);
    assert_eq!(out, want);
}

#[test]
fn levels_are_consistent() {
    assert!(Level::Scalar.is_available());
    assert_eq!(Level::available().last(), Some(Level::best()));
    assert_eq!(Kernels::best().level(), Level::best());
    for level in Level::ALL {
        assert_eq!(Level::from_name(level.name()), Some(level));
        match Kernels::for_level(level) {
            Ok(k) => assert_eq!(k.level(), level),
            Err(e) => assert!(!level.is_available(), "{e}"),
        }
    }
}
