//! SSSE3 kernels: 16-byte blocks (`pshufb` for the byte swaps, SSE2 for
//! the widening and the narrowing), the remainder to the scalar twins.
//!
//! Every function here is either `#[target_feature(enable = "ssse3")]` or
//! `#[inline(always)]` and called only from such functions.

use core::arch::x86_64::*;

use super::{
    check_narrow, check_same, check_widen, entries_tail, Entries, Spread, HIGH_IN_PLACE, LOW_TO_HIGH,
    REVERSE4, REVERSE8,
};
use crate::kernels::{scalar, Records};

#[inline(always)]
fn ctrl(bytes: [i8; 16]) -> __m128i {
    // SAFETY: reads the 16 bytes of a local array (loadu: no alignment).
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
}

/// Shuffles every whole 16-byte block; returns the bytes done.
///
/// # Safety
///
/// `src.len() == dst.len()` and the CPU has SSSE3.
#[inline(always)]
unsafe fn shuffle(src: &[u8], dst: &mut [u8], ctrl: __m128i) -> usize {
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), src.len());
    let mut i = 0;
    // SAFETY: accesses at `i..i + 32` or `i..i + 16`, ending at most at
    // `len`, the length of both slices; unaligned.
    unsafe {
        while i + 32 <= len {
            let a = _mm_loadu_si128(s.add(i).cast());
            let b = _mm_loadu_si128(s.add(i + 16).cast());
            _mm_storeu_si128(d.add(i).cast(), _mm_shuffle_epi8(a, ctrl));
            _mm_storeu_si128(d.add(i + 16).cast(), _mm_shuffle_epi8(b, ctrl));
            i += 32;
        }
        if i + 16 <= len {
            let a = _mm_loadu_si128(s.add(i).cast());
            _mm_storeu_si128(d.add(i).cast(), _mm_shuffle_epi8(a, ctrl));
            i += 16;
        }
    }
    i
}

#[target_feature(enable = "ssse3")]
pub(super) unsafe fn swap8(src: &[u8], dst: &mut [u8]) {
    check_same(src, dst, 8, "swap8");
    // SAFETY: lengths checked equal; SSSE3 is enabled here.
    let done = unsafe { shuffle(src, dst, ctrl(REVERSE8)) };
    scalar::swap8(&src[done..], &mut dst[done..]);
}

#[target_feature(enable = "ssse3")]
pub(super) unsafe fn swap4(src: &[u8], dst: &mut [u8]) {
    check_same(src, dst, 4, "swap4");
    // SAFETY: lengths checked equal; SSSE3 is enabled here.
    let done = unsafe { shuffle(src, dst, ctrl(REVERSE4)) };
    scalar::swap4(&src[done..], &mut dst[done..]);
}

/// Loads 2 floats (8 bytes) at `p` and widens them to doubles.
///
/// # Safety
///
/// 8 bytes are readable at `p`.
#[inline(always)]
unsafe fn load2(p: *const u8) -> __m128i {
    // SAFETY: reads exactly 8 bytes at `p` (the caller's promise).
    unsafe { _mm_castpd_si128(_mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(p.cast())))) }
}

#[target_feature(enable = "ssse3")]
pub(super) unsafe fn f32_to_f64_be(src: &[u8], dst: &mut [u8]) {
    check_widen(src, dst);
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), src.len());
    let rev = ctrl(REVERSE8);
    let mut i = 0;
    // SAFETY: reads at `i..i + 16` within `len`, writes at `2i..2i + 32`
    // within `2 * len == dst.len()` (checked above); unaligned.
    unsafe {
        while i + 16 <= len {
            let a = load2(s.add(i));
            let b = load2(s.add(i + 8));
            _mm_storeu_si128(d.add(2 * i).cast(), _mm_shuffle_epi8(a, rev));
            _mm_storeu_si128(d.add(2 * i + 16).cast(), _mm_shuffle_epi8(b, rev));
            i += 16;
        }
    }
    scalar::f32_to_f64_be(&src[i..], &mut dst[2 * i..]);
}

/// Loads 2 big-endian doubles (16 bytes) at `p` and narrows them to
/// floats, in the low 8 bytes (the high 8 are zero).
///
/// # Safety
///
/// 16 bytes are readable at `p`; the CPU has SSSE3.
#[inline(always)]
unsafe fn narrow2(p: *const u8, rev: __m128i) -> __m128 {
    // SAFETY: reads exactly 16 bytes at `p` (the caller's promise).
    unsafe { _mm_cvtpd_ps(_mm_castsi128_pd(_mm_shuffle_epi8(_mm_loadu_si128(p.cast()), rev))) }
}

#[target_feature(enable = "ssse3")]
pub(super) unsafe fn f64_be_to_f32(src: &[u8], dst: &mut [u8]) {
    check_narrow(src, dst);
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), dst.len());
    let rev = ctrl(REVERSE8);
    let mut i = 0;
    // SAFETY: writes at `i..i + 16` (or `+ 8`) within `len == dst.len()`,
    // reads at `2i..2i + 32` (or `+ 16`) within `2 * len == src.len()`
    // (checked above); unaligned.
    unsafe {
        while i + 16 <= len {
            let a = narrow2(s.add(2 * i), rev);
            let b = narrow2(s.add(2 * i + 16), rev);
            _mm_storeu_ps(d.add(i).cast(), _mm_movelh_ps(a, b));
            i += 16;
        }
        if i + 8 <= len {
            let a = narrow2(s.add(2 * i), rev);
            _mm_storel_epi64(d.add(i).cast(), _mm_castps_si128(a));
            i += 8;
        }
    }
    scalar::f64_be_to_f32(&src[2 * i..], &mut dst[i..]);
}

#[target_feature(enable = "ssse3")]
pub(super) unsafe fn bool_to_thrift(src: &[u8], dst: &mut [u8]) {
    check_same(src, dst, 1, "bool_to_thrift");
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), src.len());
    let (zero, one) = (_mm_setzero_si128(), _mm_set1_epi8(1));
    let mut i = 0;
    // SAFETY: accesses at `i..i + 16` within `len`, the length of both
    // slices (checked above); unaligned.
    unsafe {
        while i + 16 <= len {
            let is_zero = _mm_cmpeq_epi8(_mm_loadu_si128(s.add(i).cast()), zero);
            _mm_storeu_si128(d.add(i).cast(), _mm_andnot_si128(is_zero, one));
            i += 16;
        }
    }
    scalar::bool_to_thrift(&src[i..], &mut dst[i..]);
}

/// Writes whole blocks of 2 entries, `load(j)` giving values `j, j + 1` as
/// doubles; returns the entries done.
///
/// # Safety
///
/// As [`Entries::write`]; `load(j)` reads values `j..j + 2`.
#[inline(always)]
unsafe fn entries(keys: &[Spread], dst: &mut [u8], load: impl Fn(usize) -> __m128i) -> usize {
    let (k, d, n) = (keys.as_ptr().cast::<u8>(), dst.as_mut_ptr(), keys.len());
    let (low, high) = (ctrl(LOW_TO_HIGH), ctrl(HIGH_IN_PLACE));
    let mut j = 0;
    // SAFETY: key reads at `16j..16j + 32` within `16n`, writes at the same
    // offsets of `dst` (`16n` bytes); unaligned.
    unsafe {
        while j + 2 <= n {
            let w = load(j);
            let a = _mm_or_si128(_mm_shuffle_epi8(w, low), _mm_loadu_si128(k.add(16 * j).cast()));
            let b = _mm_or_si128(
                _mm_shuffle_epi8(w, high),
                _mm_loadu_si128(k.add(16 * j + 16).cast()),
            );
            _mm_storeu_si128(d.add(16 * j).cast(), a);
            _mm_storeu_si128(d.add(16 * j + 16).cast(), b);
            j += 2;
        }
    }
    j
}

struct F32;
struct F64;

impl Entries for F32 {
    const ELEM: usize = 4;
    #[inline(always)]
    unsafe fn write(keys: &[Spread], values: &[u8], dst: &mut [u8]) {
        let v = values.as_ptr();
        // SAFETY: the caller's lengths hold; `load(j)` reads 8 bytes at `4j`,
        // within `values` for `j + 2 <= n`.
        let done = unsafe { entries(keys, dst, |j| load2(v.add(4 * j))) };
        entries_tail(&keys[done..], &values[4 * done..], &mut dst[16 * done..], 4);
    }
}

impl Entries for F64 {
    const ELEM: usize = 8;
    #[inline(always)]
    unsafe fn write(keys: &[Spread], values: &[u8], dst: &mut [u8]) {
        let v = values.as_ptr();
        // SAFETY: the caller's lengths hold; `load(j)` reads 16 bytes at
        // `8j`, within `values` for `j + 2 <= n`.
        let done = unsafe { entries(keys, dst, |j| _mm_loadu_si128(v.add(8 * j).cast())) };
        entries_tail(&keys[done..], &values[8 * done..], &mut dst[16 * done..], 8);
    }
}

#[target_feature(enable = "ssse3")]
pub(super) unsafe fn continuous_f32(records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
    // SAFETY: SSSE3 is enabled here.
    unsafe { super::continuous::<F32>(records, values, dst) }
}

#[target_feature(enable = "ssse3")]
pub(super) unsafe fn continuous_f64(records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
    // SAFETY: SSSE3 is enabled here.
    unsafe { super::continuous::<F64>(records, values, dst) }
}
