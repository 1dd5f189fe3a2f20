//! AVX-512 kernels (F + BW): 64-byte blocks, the remainder to the AVX2
//! code (the level requires AVX2 too) and then to the scalar twins.
//!
//! `vpshufb` on 512 bits (BW) swaps bytes within each 16-byte lane; one
//! `vpermq` (F) first puts values `i` and `i + 4` in lane `i`, so the
//! continuous row needs no VBMI byte permute: 8 entries cost one widening,
//! one permute, two shuffles, two ORs with the laid-out keys and two stores.
//!
//! Every function here is either `#[target_feature(enable = "avx512f,
//! avx512bw,avx2")]` or `#[inline(always)]` and called only from such
//! functions.

use core::arch::x86_64::*;

use super::{
    avx2, check_narrow, check_same, check_widen, entries_tail, Entries, Spread, HIGH_IN_PLACE, LOW_TO_HIGH,
    REVERSE4, REVERSE8,
};
use crate::kernels::{scalar, Records};

/// A `#[target_feature]` function: safe to call only from code that has
/// the level enabled itself.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
#[inline]
fn ctrl(bytes: [i8; 16]) -> __m512i {
    // SAFETY: reads the 16 bytes of a local array (loadu: no alignment).
    unsafe { _mm512_broadcast_i32x4(_mm_loadu_si128(bytes.as_ptr().cast())) }
}

/// Shuffles every whole 64-byte block, then hands the rest to AVX2;
/// returns the bytes done.
///
/// # Safety
///
/// `src.len() == dst.len()` and the CPU has this level.
#[inline(always)]
unsafe fn shuffle(src: &[u8], dst: &mut [u8], bytes: [i8; 16]) -> usize {
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), src.len());
    // SAFETY: register-only; the caller guarantees the CPU has this
    // level (this function's `# Safety`).
    let c = unsafe { ctrl(bytes) };
    let mut i = 0;
    // SAFETY: accesses at `i..i + 128` or `i..i + 64`, ending at most at
    // `len`, the length of both slices; unaligned.
    unsafe {
        while i + 128 <= len {
            let a = _mm512_loadu_si512(s.add(i).cast());
            let b = _mm512_loadu_si512(s.add(i + 64).cast());
            _mm512_storeu_si512(d.add(i).cast(), _mm512_shuffle_epi8(a, c));
            _mm512_storeu_si512(d.add(i + 64).cast(), _mm512_shuffle_epi8(b, c));
            i += 128;
        }
        if i + 64 <= len {
            let a = _mm512_loadu_si512(s.add(i).cast());
            _mm512_storeu_si512(d.add(i).cast(), _mm512_shuffle_epi8(a, c));
            i += 64;
        }
    }
    // SAFETY: equal lengths still; the level includes AVX2.
    i + unsafe { avx2::shuffle(&src[i..], &mut dst[i..], avx2::ctrl(bytes)) }
}

#[target_feature(enable = "avx512f,avx512bw,avx2")]
pub(super) unsafe fn swap8(src: &[u8], dst: &mut [u8]) {
    check_same(src, dst, 8, "swap8");
    // SAFETY: lengths checked equal; the level's features are enabled here.
    let done = unsafe { shuffle(src, dst, REVERSE8) };
    scalar::swap8(&src[done..], &mut dst[done..]);
}

#[target_feature(enable = "avx512f,avx512bw,avx2")]
pub(super) unsafe fn swap4(src: &[u8], dst: &mut [u8]) {
    check_same(src, dst, 4, "swap4");
    // SAFETY: lengths checked equal; the level's features are enabled here.
    let done = unsafe { shuffle(src, dst, REVERSE4) };
    scalar::swap4(&src[done..], &mut dst[done..]);
}

#[target_feature(enable = "avx512f,avx512bw,avx2")]
pub(super) unsafe fn f32_to_f64_be(src: &[u8], dst: &mut [u8]) {
    check_widen(src, dst);
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), src.len());
    let rev = ctrl(REVERSE8);
    let mut i = 0;
    // SAFETY: reads at `i..i + 32` within `len`, writes at `2i..2i + 64`
    // within `2 * len == dst.len()` (checked above); unaligned.
    unsafe {
        while i + 32 <= len {
            let a = _mm512_cvtps_pd(_mm256_loadu_ps(s.add(i).cast()));
            _mm512_storeu_si512(
                d.add(2 * i).cast(),
                _mm512_shuffle_epi8(_mm512_castpd_si512(a), rev),
            );
            i += 32;
        }
    }
    // SAFETY: `dst[2i..]` is twice `src[i..]`; the level includes AVX2.
    i += unsafe { avx2::widen(&src[i..], &mut dst[2 * i..]) };
    scalar::f32_to_f64_be(&src[i..], &mut dst[2 * i..]);
}

#[target_feature(enable = "avx512f,avx512bw,avx2")]
pub(super) unsafe fn f64_be_to_f32(src: &[u8], dst: &mut [u8]) {
    check_narrow(src, dst);
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), dst.len());
    let rev = ctrl(REVERSE8);
    let mut i = 0;
    // SAFETY: writes at `i..i + 32` within `len == dst.len()`, reads at
    // `2i..2i + 64` within `2 * len == src.len()` (checked above);
    // unaligned.
    unsafe {
        while i + 32 <= len {
            let w = _mm512_shuffle_epi8(_mm512_loadu_si512(s.add(2 * i).cast()), rev);
            _mm256_storeu_ps(d.add(i).cast(), _mm512_cvtpd_ps(_mm512_castsi512_pd(w)));
            i += 32;
        }
    }
    // SAFETY: `src[2i..]` is twice `dst[i..]`; the level includes AVX2.
    i += unsafe { avx2::narrow(&src[2 * i..], &mut dst[i..]) };
    scalar::f64_be_to_f32(&src[2 * i..], &mut dst[i..]);
}

#[target_feature(enable = "avx512f,avx512bw,avx2")]
pub(super) unsafe fn bool_to_thrift(src: &[u8], dst: &mut [u8]) {
    check_same(src, dst, 1, "bool_to_thrift");
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), src.len());
    let one = _mm512_set1_epi8(1);
    let mut i = 0;
    // SAFETY: accesses at `i..i + 64` within `len`, the length of both
    // slices (checked above); unaligned.
    unsafe {
        while i + 64 <= len {
            let v = _mm512_loadu_si512(s.add(i).cast());
            // 1 where the byte is non-zero, 0 elsewhere.
            let nonzero = _mm512_test_epi8_mask(v, v);
            _mm512_storeu_si512(d.add(i).cast(), _mm512_maskz_mov_epi8(nonzero, one));
            i += 64;
        }
    }
    // SAFETY: equal lengths still; the level includes AVX2.
    i += unsafe { avx2::bools(&src[i..], &mut dst[i..]) };
    scalar::bool_to_thrift(&src[i..], &mut dst[i..]);
}

/// Writes whole blocks of 8 entries, `load(j)` giving values `j..j + 8` as
/// doubles in the order `[v0 v4 | v1 v5 | v2 v6 | v3 v7]` (so two in-lane
/// shuffles put each value, swapped, beside its key), then blocks of 4
/// with AVX2; returns the entries done.
///
/// # Safety
///
/// As [`Entries::write`]; `load(j)` reads values `j..j + 8`, `load4(j)`
/// values `j..j + 4`.
#[inline(always)]
unsafe fn entries(
    keys: &[Spread],
    dst: &mut [u8],
    load: impl Fn(usize) -> __m512i,
    load4: impl Fn(usize) -> __m256i,
) -> usize {
    let (k, d, n) = (keys.as_ptr().cast::<u8>(), dst.as_mut_ptr(), keys.len());
    // SAFETY: register-only; the caller guarantees the CPU has this
    // level (this function's `# Safety`).
    let (low, high) = unsafe { (ctrl(LOW_TO_HIGH), ctrl(HIGH_IN_PLACE)) };
    let mut j = 0;
    // SAFETY: key reads at `16j..16j + 128` within `16n`, writes at the
    // same offsets of `dst` (`16n` bytes); unaligned.
    unsafe {
        while j + 8 <= n {
            let w = load(j);
            let a = _mm512_or_si512(
                _mm512_shuffle_epi8(w, low),
                _mm512_loadu_si512(k.add(16 * j).cast()),
            );
            let b = _mm512_or_si512(
                _mm512_shuffle_epi8(w, high),
                _mm512_loadu_si512(k.add(16 * j + 64).cast()),
            );
            _mm512_storeu_si512(d.add(16 * j).cast(), a);
            _mm512_storeu_si512(d.add(16 * j + 64).cast(), b);
            j += 8;
        }
    }
    // SAFETY: the remaining keys and entries keep the caller's lengths;
    // `load4` reads within `values` while `j + 4 <= n`; the level includes AVX2.
    j + unsafe { avx2::entries(&keys[j..], &mut dst[16 * j..], |i| load4(j + i)) }
}

/// Qword order `[0 4 1 5 2 6 3 7]`: after it, 128-bit lane `i` holds
/// elements `i` and `i + 4`.
/// A `#[target_feature]` function: safe to call only from code that has
/// the level enabled itself.
#[target_feature(enable = "avx512f,avx512bw,avx2")]
#[inline]
fn spread_order() -> __m512i {
    _mm512_setr_epi64(0, 4, 1, 5, 2, 6, 3, 7)
}

struct F32;
struct F64;

impl Entries for F32 {
    const ELEM: usize = 4;
    #[inline(always)]
    unsafe fn write(keys: &[Spread], values: &[u8], dst: &mut [u8]) {
        let v = values.as_ptr();
        // SAFETY: register-only; `Entries::write`'s contract: the CPU has
        // this level.
        let order = unsafe { spread_order() };
        // SAFETY: the caller's lengths hold; `load(j)` reads 32 bytes at
        // `4j` (`j + 8 <= n`), `load4(j)` 16 bytes (`j + 4 <= n`).
        let done = unsafe {
            entries(
                keys,
                dst,
                |j| {
                    let w = _mm512_cvtps_pd(_mm256_loadu_ps(v.add(4 * j).cast()));
                    _mm512_permutexvar_epi64(order, _mm512_castpd_si512(w))
                },
                |j| avx2::load_f32(v.add(4 * j)),
            )
        };
        entries_tail(&keys[done..], &values[4 * done..], &mut dst[16 * done..], 4);
    }
}

impl Entries for F64 {
    const ELEM: usize = 8;
    #[inline(always)]
    unsafe fn write(keys: &[Spread], values: &[u8], dst: &mut [u8]) {
        let v = values.as_ptr();
        // SAFETY: register-only; `Entries::write`'s contract: the CPU has
        // this level.
        let order = unsafe { spread_order() };
        // SAFETY: the caller's lengths hold; `load(j)` reads 64 bytes at
        // `8j` (`j + 8 <= n`), `load4(j)` 32 bytes (`j + 4 <= n`).
        let done = unsafe {
            entries(
                keys,
                dst,
                |j| _mm512_permutexvar_epi64(order, _mm512_loadu_si512(v.add(8 * j).cast())),
                |j| avx2::load_f64(v.add(8 * j)),
            )
        };
        entries_tail(&keys[done..], &values[8 * done..], &mut dst[16 * done..], 8);
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx2")]
pub(super) unsafe fn continuous_f32(records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
    // SAFETY: the level's features are enabled here.
    unsafe { super::continuous::<F32>(records, values, dst) }
}

#[target_feature(enable = "avx512f,avx512bw,avx2")]
pub(super) unsafe fn continuous_f64(records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
    // SAFETY: the level's features are enabled here.
    unsafe { super::continuous::<F64>(records, values, dst) }
}
