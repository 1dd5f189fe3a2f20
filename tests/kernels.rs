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

/// Bit patterns of `f64` that `f64_be_to_f32` must narrow exactly as
/// `as` does: NaNs (quiet and signalling, payloads above, at and below the
/// 29 bits the narrowing drops), infinities, zeros, the extremes, values
/// that round (ties to even both ways, onto and over `f32::MAX`, into and
/// out of the `f32` subnormals), and `f64` subnormals.
const SPECIAL_F64: [u64; 37] = [
    0x7ff8_0000_0000_0000, // f64::NAN
    0x7ff0_0000_0000_0001, // signalling NaN, payload only in the dropped bits
    0xfff4_0000_0000_0000, // negative signalling NaN, payload kept
    0x7ff8_0000_0000_0001, // quiet NaN, payload only in the dropped bits
    0x7fff_ffff_ffff_ffff, // NaN, every payload bit
    0xfff0_0000_2000_0000, // signalling NaN, payload in the lowest kept bit
    0xfff0_0000_1fff_ffff, // signalling NaN, payload just below it
    0x7ff0_0000_0000_0000, // +inf
    0xfff0_0000_0000_0000, // -inf
    0x0000_0000_0000_0000, // +0
    0x8000_0000_0000_0000, // -0
    0x7fef_ffff_ffff_ffff, // f64::MAX: to +inf
    0xffef_ffff_ffff_ffff, // f64::MIN: to -inf
    0x47ef_ffff_e000_0000, // f32::MAX, exact
    0x47ef_ffff_efff_ffff, // just under half an ulp above f32::MAX: f32::MAX
    0x47ef_ffff_f000_0000, // half an ulp above f32::MAX: a tie, to +inf
    0xc7ef_ffff_f000_0000, // the same, negative: to -inf
    0x3ff0_0000_1000_0000, // 1 + 2^-24: a tie, down to 1 (even)
    0x3ff0_0000_3000_0000, // 1 + 3 * 2^-24: a tie, up (even)
    0x3ff0_0000_1000_0001, // just over the tie: up
    0x3fb9_9999_9999_999a, // 0.1
    0xbfd5_5555_5555_5555, // -1/3
    0x36a0_0000_0000_0000, // 2^-149, the smallest f32 subnormal, exact
    0x3690_0000_0000_0000, // 2^-150: a tie, to +0 (even)
    0xb690_0000_0000_0000, // -2^-150: to -0
    0x3690_0000_0000_0001, // just over 2^-150: to 2^-149
    0x36a8_0000_0000_0000, // 3 * 2^-150: a tie, up to 2^-148 (even)
    0x3810_0000_0000_0000, // 2^-126, the smallest normal f32
    0x380f_ffff_f000_0000, // just under it: rounds up to it
    0x380f_ffff_e000_0000, // half an ulp under it: a tie, up to it (even)
    0x380f_ffff_c000_0000, // the largest f32 subnormal, exact
    0xb7f0_0000_0000_0000, // -2^-128, an f32 subnormal
    0x0000_0000_0000_0001, // the smallest f64 subnormal: +0
    0x800f_ffff_ffff_ffff, // the largest negative f64 subnormal: -0
    0x0010_0000_0000_0000, // f64::MIN_POSITIVE: +0
    0x4415_af1d_78b5_8c40, // 1e20, rounds
    0xc13e_8480_0000_0000, // -2e6, exact
];

/// `n` big-endian doubles: the specials above at every position of a
/// vector block and its tail (every third element), between random ones of
/// three kinds: any bit pattern (mostly beyond the range of `f32`), an
/// `f32` widened with random low bits (so it rounds), and an `f32` widened
/// with exactly half an ulp (a tie).
fn doubles_be(n: usize, seed: u64) -> Vec<u8> {
    let random = bytes(8 * n, seed);
    let mut out = Vec::with_capacity(8 * n);
    for (i, r) in random.chunks_exact(8).enumerate() {
        let r = u64::from_le_bytes(r.try_into().unwrap());
        let near_f32 = f64::from(f32::from_bits(r as u32)).to_bits();
        let bits = match i % 6 {
            0 | 3 => SPECIAL_F64[(i / 3 + n) % SPECIAL_F64.len()],
            1 => r,
            2 => near_f32 | (r >> 35),
            4 => (near_f32 & !0x1fff_ffff) | 0x1000_0000,
            _ => near_f32,
        };
        out.extend_from_slice(&bits.to_be_bytes());
    }
    out
}

#[test]
fn f64_be_to_f32_matches_scalar() {
    // As `check_convert`, but with the doubles laid out at each source
    // misalignment, so that the specials stay whole.
    for k in levels() {
        for len in 0..=MAX_LEN {
            let (n_in, n_out) = (8 * len, 4 * len);
            let values = doubles_be(len, len as u64 * 0x9E37);
            let mut want = vec![FILL; n_out];
            scalar::f64_be_to_f32(&values, &mut want);
            // Exactly sized buffers of their own, so that a read or write
            // past either end is out of bounds (and caught under ASan).
            let mut exact = vec![FILL; n_out];
            k.f64_be_to_f32(&values, &mut exact);
            assert_eq!(
                exact,
                want,
                "f64_be_to_f32 at {}: len {len}, own buffers",
                k.level()
            );
            for (s, d) in alignments() {
                let mut src_buf = vec![FILL; n_in + OFFSETS];
                src_buf[s..s + n_in].copy_from_slice(&values);
                let mut dst = vec![FILL; n_out + OFFSETS + 8];
                k.f64_be_to_f32(&src_buf[s..s + n_in], &mut dst[d..d + n_out]);
                assert_eq!(
                    &dst[d..d + n_out],
                    &want[..],
                    "f64_be_to_f32 at {}: len {len}, src +{s}, dst +{d}",
                    k.level()
                );
                assert!(
                    dst[..d].iter().chain(&dst[d + n_out..]).all(|&b| b == FILL),
                    "f64_be_to_f32 at {}: wrote outside its destination (len {len}, dst +{d})",
                    k.level()
                );
            }
        }
    }
}

#[test]
fn scalar_f64_be_to_f32_is_f64_as_f32() {
    for len in [0, 1, 5, 36, 257, 1000] {
        let src = doubles_be(len, 7 + len as u64);
        let mut got = vec![0u8; 4 * len];
        scalar::f64_be_to_f32(&src, &mut got);
        for (i, (c, g)) in src.chunks(8).zip(got.chunks(4)).enumerate() {
            let v = f64::from_be_bytes(c.try_into().unwrap());
            let want = (std::hint::black_box(v) as f32).to_bits();
            assert_eq!(
                g,
                &want.to_le_bytes(),
                "element {i} of {len}: {:#018x}",
                v.to_bits()
            );
        }
    }
}

/// The bits every level writes for the NaNs and the roundings, spelled
/// out: what `cvtsd2ss`/`cvtpd2ps` make, which is what `as` compiles to
/// on x86-64 (Rust leaves the NaN payload of a cast to the platform).
#[cfg(target_arch = "x86_64")]
#[test]
fn f64_be_to_f32_quiets_nans_keeping_their_top_payload_bits_at_every_level() {
    let cases: [(u64, u32); 18] = [
        (0x7ff0_0000_0000_0001, 0x7fc0_0000),
        (0xfff4_0000_0000_0000, 0xffe0_0000),
        (0x7ff8_0000_0000_0001, 0x7fc0_0000),
        (0x7fff_ffff_ffff_ffff, 0x7fff_ffff),
        (0xfff0_0000_2000_0000, 0xffc0_0001),
        (0xfff0_0000_1fff_ffff, 0xffc0_0000),
        (0x7ff0_0000_0000_0000, 0x7f80_0000),
        (0x7fef_ffff_ffff_ffff, 0x7f80_0000),
        (0x47ef_ffff_efff_ffff, 0x7f7f_ffff),
        (0xc7ef_ffff_f000_0000, 0xff80_0000),
        (0x3ff0_0000_1000_0000, 0x3f80_0000),
        (0x3ff0_0000_3000_0000, 0x3f80_0002),
        (0x3690_0000_0000_0000, 0x0000_0000),
        (0xb690_0000_0000_0000, 0x8000_0000),
        (0x36a8_0000_0000_0000, 0x0000_0002),
        (0x380f_ffff_e000_0000, 0x0080_0000),
        (0x380f_ffff_c000_0000, 0x007f_ffff),
        (0x800f_ffff_ffff_ffff, 0x8000_0000),
    ];
    for k in levels() {
        // Each case at every position of a 64-element run (every lane of
        // every block, and the tails).
        for at in 0..64 {
            for &(from, to) in &cases {
                let mut src = 1.0f64.to_be_bytes().repeat(64);
                src[8 * at..8 * at + 8].copy_from_slice(&from.to_be_bytes());
                let mut dst = vec![0u8; 4 * 64];
                k.f64_be_to_f32(&src, &mut dst);
                let got = u32::from_le_bytes(dst[4 * at..4 * at + 4].try_into().unwrap());
                assert_eq!(got, to, "at {}: {from:#018x} at {at} gave {got:#010x}", k.level());
            }
        }
    }
}

#[test]
fn f64_be_to_f32_panics_on_bad_lengths_at_every_level() {
    // (source bytes, destination bytes): a destination that is not whole
    // floats, a source that is not twice the destination.
    let bad = [(6, 3), (16, 4), (8, 8), (0, 4), (64, 31), (120, 64)];
    for k in levels() {
        for (n_in, n_out) in bad {
            let (src, mut dst) = (vec![0u8; n_in], vec![0u8; n_out]);
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| k.f64_be_to_f32(&src, &mut dst)));
            assert!(
                r.is_err(),
                "at {}: {n_in} bytes into {n_out} did not panic",
                k.level()
            );
        }
        let (src, mut dst) = (vec![0u8; 0], vec![0u8; 0]);
        k.f64_be_to_f32(&src, &mut dst); // empty is fine
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
