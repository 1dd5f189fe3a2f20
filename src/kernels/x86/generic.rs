//! Each x86 algorithm, written once over [`Vector`]: whole vectors only,
//! returning how much was done, so that a level can hand the rest to a
//! narrower vector and finally to the scalar twin.
//!
//! # Safety (every function here)
//!
//! The CPU has `V`'s level, and the slices have the lengths each function
//! states. The functions are `#[inline(always)]` and called only from the
//! `#[target_feature]` entry points of the levels (`super::level!`).

use super::vector::Vector;
use crate::kernels::Records;

/// pshufb control that reverses each 8-byte word of a 16-byte lane.
pub(super) const REVERSE8: [i8; 16] = [7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8];
/// pshufb control that reverses each 4-byte word of a 16-byte lane.
pub(super) const REVERSE4: [i8; 16] = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12];

/// pshufb control (per 16-byte lane): the low 8-byte word, reversed, into
/// the high word; zeros in the low word (where the key goes).
const LOW_TO_HIGH: [i8; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 7, 6, 5, 4, 3, 2, 1, 0];
/// pshufb control (per 16-byte lane): the high 8-byte word reversed in
/// place; zeros in the low word.
const HIGH_IN_PLACE: [i8; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 15, 14, 13, 12, 11, 10, 9, 8];

/// A key as it sits in the output: big-endian in the first 8 bytes, the
/// value's 8 bytes zero. Kernels OR the swapped values into a run of these
/// (one load-and-OR per 32 or 64 bytes) instead of shuffling keys and
/// values together.
pub(super) type Spread = [u8; Records::ENTRY];

/// Shuffles every whole vector of `src` into `dst` by the lane pattern
/// `ctrl` (two vectors per turn, then one); returns the bytes done.
///
/// # Safety
///
/// `src.len() == dst.len()`; the CPU has `V`'s level.
#[inline(always)]
pub(super) unsafe fn shuffle<V: Vector>(src: &[u8], dst: &mut [u8], ctrl: [i8; 16]) -> usize {
    let (s, d, len, n) = (src.as_ptr(), dst.as_mut_ptr(), src.len(), V::BYTES);
    let mut i = 0;
    // SAFETY: every access is `n` bytes at `i` or `i + n`, ending at most
    // at `len`, the length of both slices; the caller guarantees the level.
    unsafe {
        let c = V::splat_lanes(ctrl);
        while i + 2 * n <= len {
            let (a, b) = (V::load(s.add(i)), V::load(s.add(i + n)));
            a.shuffle(c).store(d.add(i));
            b.shuffle(c).store(d.add(i + n));
            i += 2 * n;
        }
        if i + n <= len {
            V::load(s.add(i)).shuffle(c).store(d.add(i));
            i += n;
        }
    }
    i
}

/// Widens every whole block of `V::BYTES / 2` input bytes (little-endian
/// `f32`) into `V::BYTES` of big-endian `f64`; returns the input bytes done.
///
/// # Safety
///
/// `dst.len() == 2 * src.len()`; the CPU has `V`'s level.
#[inline(always)]
pub(super) unsafe fn widen<V: Vector>(src: &[u8], dst: &mut [u8]) -> usize {
    let (s, d, len, half) = (src.as_ptr(), dst.as_mut_ptr(), src.len(), V::BYTES / 2);
    let mut i = 0;
    // SAFETY: reads of `half` bytes at `i` or `i + half` end at most at
    // `len`; writes of `2 * half` bytes at `2i` or `2i + 2 * half` end at
    // most at `2 * len == dst.len()`; the caller guarantees the level.
    unsafe {
        let rev = V::splat_lanes(REVERSE8);
        while i + 2 * half <= len {
            let (a, b) = (V::load_widened(s.add(i)), V::load_widened(s.add(i + half)));
            a.shuffle(rev).store(d.add(2 * i));
            b.shuffle(rev).store(d.add(2 * i + V::BYTES));
            i += 2 * half;
        }
        if i + half <= len {
            V::load_widened(s.add(i)).shuffle(rev).store(d.add(2 * i));
            i += half;
        }
    }
    i
}

/// Narrows every whole block of `V::BYTES` input bytes (big-endian `f64`)
/// into `V::BYTES / 2` of little-endian `f32`; returns the output bytes
/// done (the input done is twice that).
///
/// # Safety
///
/// `src.len() == 2 * dst.len()`; the CPU has `V`'s level.
#[inline(always)]
pub(super) unsafe fn narrow<V: Vector>(src: &[u8], dst: &mut [u8]) -> usize {
    let (s, d, len, half) = (src.as_ptr(), dst.as_mut_ptr(), dst.len(), V::BYTES / 2);
    let mut i = 0;
    // SAFETY: writes of `half` bytes at `i` or `i + half` end at most at
    // `len`; reads of `2 * half` bytes at `2i` or `2i + 2 * half` end at
    // most at `2 * len == src.len()`; the caller guarantees the level.
    unsafe {
        let rev = V::splat_lanes(REVERSE8);
        while i + 2 * half <= len {
            let (a, b) = (V::load(s.add(2 * i)), V::load(s.add(2 * i + V::BYTES)));
            a.shuffle(rev).store_narrowed(d.add(i));
            b.shuffle(rev).store_narrowed(d.add(i + half));
            i += 2 * half;
        }
        if i + half <= len {
            V::load(s.add(2 * i)).shuffle(rev).store_narrowed(d.add(i));
            i += half;
        }
    }
    i
}

/// Thrift bools (1 for a non-zero byte) in whole vectors; returns the
/// bytes done.
///
/// # Safety
///
/// `src.len() == dst.len()`; the CPU has `V`'s level.
#[inline(always)]
pub(super) unsafe fn bools<V: Vector>(src: &[u8], dst: &mut [u8]) -> usize {
    let (s, d, len, n) = (src.as_ptr(), dst.as_mut_ptr(), src.len(), V::BYTES);
    let mut i = 0;
    // SAFETY: accesses of `n` bytes at `i`, ending at most at `len`, the
    // length of both slices; the caller guarantees the level.
    unsafe {
        while i + n <= len {
            V::load(s.add(i)).to_bools().store(d.add(i));
            i += n;
        }
    }
    i
}

/// Writes whole blocks of `V::BYTES / 8` continuous entries (`key | value`,
/// 16 bytes each): `load(j)` gives values `j..j + V::BYTES / 8` as native
/// `f64` spread over the lanes (see [`Vector::load_spread_f32`]), and two
/// in-lane shuffles put each value, byte-swapped, beside its laid-out key.
/// Returns the entries done.
///
/// # Safety
///
/// `dst.len() == 16 * keys.len()`; `load(j)` may read values `j..j +
/// V::BYTES / 8` for `j + V::BYTES / 8 <= keys.len()`; the CPU has `V`'s
/// level.
#[inline(always)]
pub(super) unsafe fn entries<V: Vector>(keys: &[Spread], dst: &mut [u8], load: impl Fn(usize) -> V) -> usize {
    let (k, d, n) = (keys.as_ptr().cast::<u8>(), dst.as_mut_ptr(), keys.len());
    let per = V::BYTES / 8;
    // SAFETY: register-only; the caller guarantees the level.
    let (low, high) = unsafe { (V::splat_lanes(LOW_TO_HIGH), V::splat_lanes(HIGH_IN_PLACE)) };
    // One block: `per` entries at `j`, `2 * V::BYTES` output bytes.
    let block = |j: usize| {
        // SAFETY: with `j + per <= n`, key reads at `16j..16j + 16 * per`
        // lie within `16n`, and so do the writes at the same offsets of
        // `dst` (`16n` bytes); `load(j)` is the caller's; unaligned.
        unsafe {
            let w = load(j);
            let a = w.shuffle(low).or(V::load(k.add(16 * j)));
            let b = w.shuffle(high).or(V::load(k.add(16 * j + V::BYTES)));
            a.store(d.add(16 * j));
            b.store(d.add(16 * j + V::BYTES));
        }
    };
    // Counted loops (two blocks per turn), which compile to fewer
    // instructions per block than a `while j + per <= n` loop.
    for pair in 0..n / (2 * per) {
        block(2 * per * pair);
        block(2 * per * pair + per);
    }
    if n % (2 * per) >= per {
        block(n / (2 * per) * (2 * per));
    }
    n / per * per
}
