//! The vector operations the x86 algorithms need, once per register width:
//! [`Vector`] for `__m128i` (SSSE3), `__m256i` (AVX2) and `__m512i`
//! (AVX-512 F + BW). The algorithms in [`super::generic`] are written once
//! over this trait; each level's module instantiates them inside its own
//! `#[target_feature]` functions, which is where the instructions below
//! are compiled for that level.
//!
//! Every method is `unsafe`: the CPU must have the implementing type's
//! level, and every pointer must be valid for the bytes the method names.
//! Methods are `#[inline(always)]` and are called only from functions that
//! enable the level (the invariant of this module).

#![allow(clippy::missing_safety_doc)] // one contract for all, stated above

use core::arch::x86_64::*;

/// One SIMD register of bytes, seen as 16-byte lanes.
pub(super) trait Vector: Copy {
    /// Bytes in one vector.
    const BYTES: usize;

    /// The same 16-byte pattern in every lane.
    unsafe fn splat_lanes(bytes: [i8; 16]) -> Self;
    /// Loads [`Self::BYTES`] bytes at `p` (no alignment needed).
    unsafe fn load(p: *const u8) -> Self;
    /// Stores [`Self::BYTES`] bytes at `p` (no alignment needed).
    unsafe fn store(self, p: *mut u8);
    /// `pshufb` in every 16-byte lane by the lane of `ctrl`.
    unsafe fn shuffle(self, ctrl: Self) -> Self;
    /// Bitwise OR.
    unsafe fn or(self, other: Self) -> Self;
    /// 1 in each byte that is non-zero, 0 elsewhere.
    unsafe fn to_bools(self) -> Self;
    /// Loads `BYTES / 8` little-endian `f32` (`BYTES / 2` bytes at `p`)
    /// as native `f64`, in order.
    unsafe fn load_widened(p: *const u8) -> Self;
    /// The native `f64` in `self`, narrowed to `f32` as `as` does, stored
    /// in order at `p` (`BYTES / 2` bytes).
    unsafe fn store_narrowed(self, p: *mut u8);
    /// Loads `BYTES / 8` little-endian `f32` at `p` as native `f64`,
    /// spread so that 16-byte lane `i` holds values `i` and
    /// `i + BYTES / 16` (the order in which two in-lane shuffles put each
    /// value beside its key: [`super::generic::entries`]).
    unsafe fn load_spread_f32(p: *const u8) -> Self;
    /// As [`load_spread_f32`](Self::load_spread_f32), for little-endian
    /// `f64` (`BYTES` bytes at `p`).
    unsafe fn load_spread_f64(p: *const u8) -> Self;
}

impl Vector for __m128i {
    const BYTES: usize = 16;

    #[inline(always)]
    unsafe fn splat_lanes(bytes: [i8; 16]) -> Self {
        // SAFETY: reads the 16 bytes of a local array.
        unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
    }
    #[inline(always)]
    unsafe fn load(p: *const u8) -> Self {
        // SAFETY: the caller's contract (module docs).
        unsafe { _mm_loadu_si128(p.cast()) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut u8) {
        // SAFETY: the caller's contract (module docs).
        unsafe { _mm_storeu_si128(p.cast(), self) }
    }
    #[inline(always)]
    unsafe fn shuffle(self, ctrl: Self) -> Self {
        // SAFETY: register-only; the CPU has SSSE3 (module docs).
        unsafe { _mm_shuffle_epi8(self, ctrl) }
    }
    #[inline(always)]
    unsafe fn or(self, other: Self) -> Self {
        // SAFETY: register-only SSE2.
        unsafe { _mm_or_si128(self, other) }
    }
    #[inline(always)]
    unsafe fn to_bools(self) -> Self {
        // SAFETY: register-only SSE2. 0xFF where the byte is 0; its
        // complement AND 1 is the bool.
        unsafe { _mm_andnot_si128(_mm_cmpeq_epi8(self, _mm_setzero_si128()), _mm_set1_epi8(1)) }
    }
    #[inline(always)]
    unsafe fn load_widened(p: *const u8) -> Self {
        // SAFETY: reads 8 bytes at `p` (the caller's contract).
        unsafe { _mm_castpd_si128(_mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(p.cast())))) }
    }
    #[inline(always)]
    unsafe fn store_narrowed(self, p: *mut u8) {
        // SAFETY: writes 8 bytes at `p` (the caller's contract).
        unsafe { _mm_storel_epi64(p.cast(), _mm_castps_si128(_mm_cvtpd_ps(_mm_castsi128_pd(self)))) }
    }
    #[inline(always)]
    unsafe fn load_spread_f32(p: *const u8) -> Self {
        // SAFETY: as `load_widened` (one lane: the order is plain).
        unsafe { Self::load_widened(p) }
    }
    #[inline(always)]
    unsafe fn load_spread_f64(p: *const u8) -> Self {
        // SAFETY: as `load` (one lane: the order is plain).
        unsafe { Self::load(p) }
    }
}

impl Vector for __m256i {
    const BYTES: usize = 32;

    #[inline(always)]
    unsafe fn splat_lanes(bytes: [i8; 16]) -> Self {
        // SAFETY: reads the 16 bytes of a local array; the CPU has AVX2.
        unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(bytes.as_ptr().cast())) }
    }
    #[inline(always)]
    unsafe fn load(p: *const u8) -> Self {
        // SAFETY: the caller's contract (module docs).
        unsafe { _mm256_loadu_si256(p.cast()) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut u8) {
        // SAFETY: the caller's contract (module docs).
        unsafe { _mm256_storeu_si256(p.cast(), self) }
    }
    #[inline(always)]
    unsafe fn shuffle(self, ctrl: Self) -> Self {
        // SAFETY: register-only; the CPU has AVX2.
        unsafe { _mm256_shuffle_epi8(self, ctrl) }
    }
    #[inline(always)]
    unsafe fn or(self, other: Self) -> Self {
        // SAFETY: register-only; the CPU has AVX2.
        unsafe { _mm256_or_si256(self, other) }
    }
    #[inline(always)]
    unsafe fn to_bools(self) -> Self {
        // SAFETY: register-only; the CPU has AVX2. As for `__m128i`.
        unsafe {
            _mm256_andnot_si256(
                _mm256_cmpeq_epi8(self, _mm256_setzero_si256()),
                _mm256_set1_epi8(1),
            )
        }
    }
    #[inline(always)]
    unsafe fn load_widened(p: *const u8) -> Self {
        // SAFETY: reads 16 bytes at `p` (the caller's contract).
        unsafe { _mm256_castpd_si256(_mm256_cvtps_pd(_mm_loadu_ps(p.cast()))) }
    }
    #[inline(always)]
    unsafe fn store_narrowed(self, p: *mut u8) {
        // SAFETY: writes 16 bytes at `p` (the caller's contract).
        unsafe { _mm_storeu_ps(p.cast(), _mm256_cvtpd_ps(_mm256_castsi256_pd(self))) }
    }
    #[inline(always)]
    unsafe fn load_spread_f32(p: *const u8) -> Self {
        // SAFETY: reads 16 bytes at `p` (the caller's contract). The
        // permute orders the floats [v0 v2 v1 v3] before widening.
        unsafe {
            _mm256_castpd_si256(_mm256_cvtps_pd(_mm_permute_ps(
                _mm_loadu_ps(p.cast()),
                0b11_01_10_00,
            )))
        }
    }
    #[inline(always)]
    unsafe fn load_spread_f64(p: *const u8) -> Self {
        // SAFETY: reads 32 bytes at `p` (the caller's contract).
        unsafe { _mm256_permute4x64_epi64(_mm256_loadu_si256(p.cast()), 0b11_01_10_00) }
    }
}

impl Vector for __m512i {
    const BYTES: usize = 64;

    #[inline(always)]
    unsafe fn splat_lanes(bytes: [i8; 16]) -> Self {
        // SAFETY: reads the 16 bytes of a local array; the CPU has AVX-512 F.
        unsafe { _mm512_broadcast_i32x4(_mm_loadu_si128(bytes.as_ptr().cast())) }
    }
    #[inline(always)]
    unsafe fn load(p: *const u8) -> Self {
        // SAFETY: the caller's contract (module docs).
        unsafe { _mm512_loadu_si512(p.cast()) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut u8) {
        // SAFETY: the caller's contract (module docs).
        unsafe { _mm512_storeu_si512(p.cast(), self) }
    }
    #[inline(always)]
    unsafe fn shuffle(self, ctrl: Self) -> Self {
        // SAFETY: register-only; the CPU has AVX-512 BW.
        unsafe { _mm512_shuffle_epi8(self, ctrl) }
    }
    #[inline(always)]
    unsafe fn or(self, other: Self) -> Self {
        // SAFETY: register-only; the CPU has AVX-512 F.
        unsafe { _mm512_or_si512(self, other) }
    }
    #[inline(always)]
    unsafe fn to_bools(self) -> Self {
        // SAFETY: register-only; the CPU has AVX-512 BW. 1 where the byte
        // is non-zero, 0 elsewhere.
        unsafe { _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(self, self), _mm512_set1_epi8(1)) }
    }
    #[inline(always)]
    unsafe fn load_widened(p: *const u8) -> Self {
        // SAFETY: reads 32 bytes at `p` (the caller's contract).
        unsafe { _mm512_castpd_si512(_mm512_cvtps_pd(_mm256_loadu_ps(p.cast()))) }
    }
    #[inline(always)]
    unsafe fn store_narrowed(self, p: *mut u8) {
        // SAFETY: writes 32 bytes at `p` (the caller's contract).
        unsafe { _mm256_storeu_ps(p.cast(), _mm512_cvtpd_ps(_mm512_castsi512_pd(self))) }
    }
    #[inline(always)]
    unsafe fn load_spread_f32(p: *const u8) -> Self {
        // SAFETY: as `load_widened`, then a register-only permute (F).
        unsafe { _mm512_permutexvar_epi64(spread_order(), Self::load_widened(p)) }
    }
    #[inline(always)]
    unsafe fn load_spread_f64(p: *const u8) -> Self {
        // SAFETY: as `load`, then a register-only permute (F).
        unsafe { _mm512_permutexvar_epi64(spread_order(), Self::load(p)) }
    }
}

/// Qword order `[0 4 1 5 2 6 3 7]`: after it, 128-bit lane `i` holds
/// elements `i` and `i + 4`. A constant; the compiler hoists it out of
/// the loops.
///
/// # Safety
///
/// The CPU has AVX-512 F.
#[inline(always)]
unsafe fn spread_order() -> __m512i {
    // SAFETY: register-only; the caller's contract.
    unsafe { _mm512_setr_epi64(0, 4, 1, 5, 2, 6, 3, 7) }
}
