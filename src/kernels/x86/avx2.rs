//! AVX2 kernels: 32-byte blocks, the remainder to the scalar twins.
//!
//! Every function here is either `#[target_feature(enable = "avx2")]` or
//! `#[inline(always)]` and called only from such functions (and from the
//! AVX-512 level, which requires AVX2 too).

use core::arch::x86_64::*;

use super::{check_same, check_widen, entries_tail, Entries, REVERSE4, REVERSE8};
use crate::kernels::{scalar, Records};

/// The same 16-byte pshufb control in both lanes.
#[inline(always)]
pub(super) fn ctrl(bytes: [i8; 16]) -> __m256i {
    // SAFETY: reads the 16 bytes of a local array (loadu: no alignment).
    // Called only where the CPU has AVX2 (module invariant).
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
    let rev = ctrl(REVERSE8);
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

/// Interleaves 4 keys `[k0 k1 | k2 k3]` with 4 swapped values
/// `[s0 s1 | s2 s3]` into the two 32-byte halves of 4 entries.
#[inline(always)]
fn interleave(k: __m256i, s: __m256i) -> (__m256i, __m256i) {
    // SAFETY: register-only AVX2 operations; the module's functions run
    // only where the CPU has AVX2.
    unsafe {
        let lo = _mm256_unpacklo_epi64(k, s); // k0 s0 | k2 s2
        let hi = _mm256_unpackhi_epi64(k, s); // k1 s1 | k3 s3
        (
            _mm256_permute2x128_si256(lo, hi, 0x20), // k0 s0 k1 s1
            _mm256_permute2x128_si256(lo, hi, 0x31), // k2 s2 k3 s3
        )
    }
}

/// `f32` entries, 4 per block.
pub(super) struct F32;
/// `f64` entries, 4 per block.
pub(super) struct F64;

/// Writes whole blocks of 4 entries with `load` giving the 4 values as
/// doubles; returns the entries done.
///
/// # Safety
///
/// As [`Entries::write`]; `load(i)` reads values `i..i + 4`.
#[inline(always)]
pub(super) unsafe fn entries(keys: &[[u8; 8]], dst: &mut [u8], load: impl Fn(usize) -> __m256i) -> usize {
    let (k, d, n) = (keys.as_ptr().cast::<u8>(), dst.as_mut_ptr(), keys.len());
    let rev = ctrl(REVERSE8);
    let mut j = 0;
    // SAFETY: key reads at `8j..8j + 32` within `8n`, writes at
    // `16j..16j + 64` within `16n == dst.len()`; unaligned.
    unsafe {
        while j + 4 <= n {
            let kk = _mm256_loadu_si256(k.add(8 * j).cast());
            let (a, b) = interleave(kk, _mm256_shuffle_epi8(load(j), rev));
            _mm256_storeu_si256(d.add(16 * j).cast(), a);
            _mm256_storeu_si256(d.add(16 * j + 32).cast(), b);
            j += 4;
        }
    }
    j
}

impl Entries for F32 {
    const ELEM: usize = 4;
    #[inline(always)]
    unsafe fn write(keys: &[[u8; 8]], values: &[u8], dst: &mut [u8]) {
        let v = values.as_ptr();
        // SAFETY: the caller's lengths hold; `load(j)` reads 16 bytes at
        // `4j`, within `values` for `j + 4 <= n`.
        let done = unsafe {
            entries(keys, dst, |j| {
                _mm256_castpd_si256(_mm256_cvtps_pd(_mm_loadu_ps(v.add(4 * j).cast())))
            })
        };
        entries_tail(&keys[done..], &values[4 * done..], &mut dst[16 * done..], 4);
    }
}

impl Entries for F64 {
    const ELEM: usize = 8;
    #[inline(always)]
    unsafe fn write(keys: &[[u8; 8]], values: &[u8], dst: &mut [u8]) {
        let v = values.as_ptr();
        // SAFETY: the caller's lengths hold; `load(j)` reads 32 bytes at
        // `8j`, within `values` for `j + 4 <= n`.
        let done = unsafe { entries(keys, dst, |j| _mm256_loadu_si256(v.add(8 * j).cast())) };
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
