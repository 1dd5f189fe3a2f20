//! AVX2 kernels: 32-byte blocks, the remainder to the scalar twins.
//!
//! Every function here is either `#[target_feature(enable = "avx2")]` or
//! `#[inline(always)]` and called only from such functions (and from the
//! AVX-512 level, which requires AVX2 too).

use core::arch::x86_64::*;

use super::{
    check_narrow, check_same, check_widen, entries_tail, Entries, Spread, HIGH_IN_PLACE, LOW_TO_HIGH,
    REVERSE4, REVERSE8,
};
use crate::kernels::{scalar, Records};

/// The same 16-byte pshufb control in both lanes. A `#[target_feature]`
/// function: safe to call only from code that has AVX2 enabled itself,
/// so no caller can reach it on a CPU without it by mistake.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn ctrl(bytes: [i8; 16]) -> __m256i {
    // SAFETY: reads the 16 bytes of a local array (loadu: no alignment).
    unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(bytes.as_ptr().cast())) }
}

/// Shuffles every whole 32-byte block of `src` into `dst` by `ctrl`;
/// returns the bytes done (a multiple of 32).
///
/// # Safety
///
/// `src.len() == dst.len()` and the CPU has AVX2.
#[inline(always)]
pub(super) unsafe fn shuffle(src: &[u8], dst: &mut [u8], ctrl: __m256i) -> usize {
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), src.len());
    let mut i = 0;
    // SAFETY: every access is at `i..i + 64` or `i..i + 32`
    // with that end at most `len`, the length of both slices; unaligned
    // loads and stores need no alignment.
    unsafe {
        while i + 64 <= len {
            let a = _mm256_loadu_si256(s.add(i).cast());
            let b = _mm256_loadu_si256(s.add(i + 32).cast());
            _mm256_storeu_si256(d.add(i).cast(), _mm256_shuffle_epi8(a, ctrl));
            _mm256_storeu_si256(d.add(i + 32).cast(), _mm256_shuffle_epi8(b, ctrl));
            i += 64;
        }
        if i + 32 <= len {
            let a = _mm256_loadu_si256(s.add(i).cast());
            _mm256_storeu_si256(d.add(i).cast(), _mm256_shuffle_epi8(a, ctrl));
            i += 32;
        }
    }
    i
}

#[target_feature(enable = "avx2")]
pub(super) unsafe fn swap8(src: &[u8], dst: &mut [u8]) {
    check_same(src, dst, 8, "swap8");
    // SAFETY: lengths checked equal; AVX2 is enabled here.
    let done = unsafe { shuffle(src, dst, ctrl(REVERSE8)) };
    scalar::swap8(&src[done..], &mut dst[done..]);
}

#[target_feature(enable = "avx2")]
pub(super) unsafe fn swap4(src: &[u8], dst: &mut [u8]) {
    check_same(src, dst, 4, "swap4");
    // SAFETY: lengths checked equal; AVX2 is enabled here.
    let done = unsafe { shuffle(src, dst, ctrl(REVERSE4)) };
    scalar::swap4(&src[done..], &mut dst[done..]);
}

/// Widens every whole block of 4 floats; returns the input bytes done.
///
/// # Safety
///
/// `dst.len() == 2 * src.len()` and the CPU has AVX2.
#[inline(always)]
pub(super) unsafe fn widen(src: &[u8], dst: &mut [u8]) -> usize {
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), src.len());
    // SAFETY: register-only; the caller guarantees the CPU has this
    // level (this function's `# Safety`).
    let rev = unsafe { ctrl(REVERSE8) };
    let mut i = 0;
    // SAFETY: reads at `i..i + 16` (or `+ 32`) within `len`, writes at
    // `2i..2i + 32` (or `+ 64`) within `2 * len == dst.len()`; unaligned.
    unsafe {
        while i + 32 <= len {
            let a = _mm256_cvtps_pd(_mm_loadu_ps(s.add(i).cast()));
            let b = _mm256_cvtps_pd(_mm_loadu_ps(s.add(i + 16).cast()));
            _mm256_storeu_si256(
                d.add(2 * i).cast(),
                _mm256_shuffle_epi8(_mm256_castpd_si256(a), rev),
            );
            _mm256_storeu_si256(
                d.add(2 * i + 32).cast(),
                _mm256_shuffle_epi8(_mm256_castpd_si256(b), rev),
            );
            i += 32;
        }
        if i + 16 <= len {
            let a = _mm256_cvtps_pd(_mm_loadu_ps(s.add(i).cast()));
            _mm256_storeu_si256(
                d.add(2 * i).cast(),
                _mm256_shuffle_epi8(_mm256_castpd_si256(a), rev),
            );
            i += 16;
        }
    }
    i
}

#[target_feature(enable = "avx2")]
pub(super) unsafe fn f32_to_f64_be(src: &[u8], dst: &mut [u8]) {
    check_widen(src, dst);
    // SAFETY: lengths checked; AVX2 is enabled here.
    let done = unsafe { widen(src, dst) };
    scalar::f32_to_f64_be(&src[done..], &mut dst[2 * done..]);
}

/// Loads 4 big-endian doubles (32 bytes) at `p` and narrows them to
/// floats.
///
/// # Safety
///
/// 32 bytes are readable at `p`; the CPU has AVX2.
#[inline(always)]
unsafe fn narrow4(p: *const u8, rev: __m256i) -> __m128 {
    // SAFETY: reads exactly 32 bytes at `p` (the caller's promise).
    unsafe {
        _mm256_cvtpd_ps(_mm256_castsi256_pd(_mm256_shuffle_epi8(
            _mm256_loadu_si256(p.cast()),
            rev,
        )))
    }
}

/// Narrows every whole block of 4 big-endian doubles; returns the output
/// bytes done (a multiple of 16; the input done is twice that).
///
/// # Safety
///
/// `src.len() == 2 * dst.len()` and the CPU has AVX2.
#[inline(always)]
pub(super) unsafe fn narrow(src: &[u8], dst: &mut [u8]) -> usize {
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), dst.len());
    // SAFETY: register-only; the caller guarantees the CPU has this
    // level (this function's `# Safety`).
    let rev = unsafe { ctrl(REVERSE8) };
    let mut i = 0;
    // SAFETY: writes at `i..i + 32` (or `+ 16`) within `len == dst.len()`,
    // reads at `2i..2i + 64` (or `+ 32`) within `2 * len == src.len()`;
    // unaligned.
    unsafe {
        while i + 32 <= len {
            let a = narrow4(s.add(2 * i), rev);
            let b = narrow4(s.add(2 * i + 32), rev);
            _mm_storeu_ps(d.add(i).cast(), a);
            _mm_storeu_ps(d.add(i + 16).cast(), b);
            i += 32;
        }
        if i + 16 <= len {
            _mm_storeu_ps(d.add(i).cast(), narrow4(s.add(2 * i), rev));
            i += 16;
        }
    }
    i
}

#[target_feature(enable = "avx2")]
pub(super) unsafe fn f64_be_to_f32(src: &[u8], dst: &mut [u8]) {
    check_narrow(src, dst);
    // SAFETY: lengths checked; AVX2 is enabled here.
    let done = unsafe { narrow(src, dst) };
    scalar::f64_be_to_f32(&src[2 * done..], &mut dst[done..]);
}

/// Booleans in whole 32-byte blocks; returns the bytes done.
///
/// # Safety
///
/// `src.len() == dst.len()` and the CPU has AVX2.
#[inline(always)]
pub(super) unsafe fn bools(src: &[u8], dst: &mut [u8]) -> usize {
    let (s, d, len) = (src.as_ptr(), dst.as_mut_ptr(), src.len());
    // SAFETY: register-only AVX operations; the caller promises AVX2.
    let (zero, one) = unsafe { (_mm256_setzero_si256(), _mm256_set1_epi8(1)) };
    let mut i = 0;
    // SAFETY: accesses at `i..i + 32` with that end at most `len`, the
    // length of both slices; unaligned.
    unsafe {
        while i + 32 <= len {
            let v = _mm256_loadu_si256(s.add(i).cast());
            // 0xFF where the byte is 0; its complement AND 1 is the bool.
            let is_zero = _mm256_cmpeq_epi8(v, zero);
            _mm256_storeu_si256(d.add(i).cast(), _mm256_andnot_si256(is_zero, one));
            i += 32;
        }
    }
    i
}

#[target_feature(enable = "avx2")]
pub(super) unsafe fn bool_to_thrift(src: &[u8], dst: &mut [u8]) {
    check_same(src, dst, 1, "bool_to_thrift");
    // SAFETY: lengths checked equal; AVX2 is enabled here.
    let done = unsafe { bools(src, dst) };
    scalar::bool_to_thrift(&src[done..], &mut dst[done..]);
}

/// `f32` entries, 4 per block.
pub(super) struct F32;
/// `f64` entries, 4 per block.
pub(super) struct F64;

/// Writes whole blocks of 4 entries; `load(j)` gives values `j..j + 4` as
/// doubles in the order `[v0 v2 | v1 v3]`, so that two in-lane shuffles
/// put each value, swapped, beside its key. Returns the entries done.
///
/// # Safety
///
/// As [`Entries::write`]; `load(j)` reads values `j..j + 4`.
#[inline(always)]
pub(super) unsafe fn entries(keys: &[Spread], dst: &mut [u8], load: impl Fn(usize) -> __m256i) -> usize {
    let (k, d, n) = (keys.as_ptr().cast::<u8>(), dst.as_mut_ptr(), keys.len());
    // SAFETY: register-only; the caller guarantees the CPU has this
    // level (this function's `# Safety`).
    let (low, high) = unsafe { (ctrl(LOW_TO_HIGH), ctrl(HIGH_IN_PLACE)) };
    // One block: 4 entries at `j`, 64 output bytes.
    let block = |j: usize| {
        // SAFETY: with `j + 4 <= n`, key reads at `16j..16j + 64` lie
        // within `16n`, and writes at the same offsets of `dst` (`16n`
        // bytes); unaligned.
        unsafe {
            let w = load(j);
            let a = _mm256_or_si256(
                _mm256_shuffle_epi8(w, low),
                _mm256_loadu_si256(k.add(16 * j).cast()),
            );
            let b = _mm256_or_si256(
                _mm256_shuffle_epi8(w, high),
                _mm256_loadu_si256(k.add(16 * j + 32).cast()),
            );
            _mm256_storeu_si256(d.add(16 * j).cast(), a);
            _mm256_storeu_si256(d.add(16 * j + 32).cast(), b);
        }
    };
    // Counted loops (two blocks per turn), which compile to fewer
    // instructions per block than a `while j + 4 <= n` loop.
    for pair in 0..n / 8 {
        block(8 * pair);
        block(8 * pair + 4);
    }
    if n % 8 >= 4 {
        block(n / 8 * 8);
    }
    n / 4 * 4
}

/// Four `f32` at `p` as doubles `[v0 v2 | v1 v3]`.
///
/// # Safety
///
/// 16 bytes are readable at `p`; the CPU has AVX2.
#[inline(always)]
pub(super) unsafe fn load_f32(p: *const u8) -> __m256i {
    // SAFETY: reads exactly 16 bytes at `p` (the caller's promise).
    unsafe {
        _mm256_castpd_si256(_mm256_cvtps_pd(_mm_permute_ps(
            _mm_loadu_ps(p.cast()),
            0b11_01_10_00,
        )))
    }
}

/// Four `f64` at `p` as `[v0 v2 | v1 v3]`.
///
/// # Safety
///
/// 32 bytes are readable at `p`; the CPU has AVX2.
#[inline(always)]
pub(super) unsafe fn load_f64(p: *const u8) -> __m256i {
    // SAFETY: reads exactly 32 bytes at `p` (the caller's promise).
    unsafe { _mm256_permute4x64_epi64(_mm256_loadu_si256(p.cast()), 0b11_01_10_00) }
}

impl Entries for F32 {
    const ELEM: usize = 4;
    #[inline(always)]
    unsafe fn write(keys: &[Spread], values: &[u8], dst: &mut [u8]) {
        let v = values.as_ptr();
        // SAFETY: the caller's lengths hold; `load(j)` reads 16 bytes at
        // `4j`, within `values` for `j + 4 <= n`.
        let done = unsafe { entries(keys, dst, |j| load_f32(v.add(4 * j))) };
        entries_tail(&keys[done..], &values[4 * done..], &mut dst[16 * done..], 4);
    }
}

impl Entries for F64 {
    const ELEM: usize = 8;
    #[inline(always)]
    unsafe fn write(keys: &[Spread], values: &[u8], dst: &mut [u8]) {
        let v = values.as_ptr();
        // SAFETY: the caller's lengths hold; `load(j)` reads 32 bytes at
        // `8j`, within `values` for `j + 4 <= n`.
        let done = unsafe { entries(keys, dst, |j| load_f64(v.add(8 * j))) };
        entries_tail(&keys[done..], &values[8 * done..], &mut dst[16 * done..], 8);
    }
}

#[target_feature(enable = "avx2")]
pub(super) unsafe fn continuous_f32(records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
    // SAFETY: AVX2 is enabled here.
    unsafe { super::continuous::<F32>(records, values, dst) }
}

#[target_feature(enable = "avx2")]
pub(super) unsafe fn continuous_f64(records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
    // SAFETY: AVX2 is enabled here.
    unsafe { super::continuous::<F64>(records, values, dst) }
}
