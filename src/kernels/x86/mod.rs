//! x86-64 kernels: SSSE3, AVX2 and AVX-512 (F + BW).
//!
//! As memchr does, each algorithm is written once: [`vector::Vector`] is
//! the handful of operations a register width offers (`__m128i`,
//! `__m256i`, `__m512i`), and [`generic`] holds the loops over it. The
//! `level!` macro below makes each level's module: `#[target_feature]`
//! entry points that run a generic loop at the level's vector, then at any
//! narrower vector the level includes, then hand the rest to the scalar
//! twin, so every length is correct at every level.
//!
//! The entry points are `unsafe` only because the CPU must have the
//! level; their slice arguments are checked like the scalar ones. They
//! become safe functions in the level's table of functions below
//! ([`Fns`]), which `kernels/mod.rs` puts in that level's
//! [`Kernels`](super::Kernels) and hands out only for a level that
//! [`Level::is_available`](super::Level::is_available) confirmed: the
//! invariant every `unsafe` call in this module relies on. No safe
//! function here executes an instruction beyond x86-64's baseline.

#![allow(unsafe_code)]

use core::mem::MaybeUninit;

mod generic;
mod vector;

use super::fns::Fns;
use super::records::Records;
use super::scalar;
use generic::{Spread, REVERSE4, REVERSE8};

/// A level's table: each entry wraps that level's `#[target_feature]`
/// function in a safe one.
macro_rules! table {
    ($name:ident, $module:ident) => {
        pub(super) const $name: Fns = Fns {
            // SAFETY: these functions are reachable only through the
            // `Kernels` of this table's level (`kernels/mod.rs`), handed out
            // only after `Level::is_available` returned true for it, so the
            // CPU has the features they enable; the functions check their
            // slice lengths themselves.
            swap8: |s, d| unsafe { $module::swap8(s, d) },
            // SAFETY: as above.
            swap4: |s, d| unsafe { $module::swap4(s, d) },
            // SAFETY: as above.
            f32_to_f64_be: |s, d| unsafe { $module::f32_to_f64_be(s, d) },
            // SAFETY: as above.
            f64_be_to_f32: |s, d| unsafe { $module::f64_be_to_f32(s, d) },
            // SAFETY: as above.
            bool_to_thrift: |s, d| unsafe { $module::bool_to_thrift(s, d) },
            // SAFETY: as above.
            continuous_f32: |r, v, d| unsafe { $module::continuous_f32(r, v, d) },
            // SAFETY: as above.
            continuous_f64: |r, v, d| unsafe { $module::continuous_f64(r, v, d) },
        };
    };
}

/// One level's `#[target_feature]` entry points. Each runs an algorithm of
/// [`generic`] at the level's widest vector, then at each narrower vector
/// listed (all within the level's features), then hands the rest to the
/// scalar twin: every algorithm is written once, every level instantiates
/// it, and every length is correct at every level.
macro_rules! level {
    ($(#[$doc:meta])* mod $name:ident, $features:literal, [$($v:ty),+]) => {
        $(#[$doc])*
        mod $name {
            use core::arch::x86_64::*;

            use super::vector::Vector;
            use super::{
                check_narrow, check_same, check_widen, entries_tail, generic, Entries, Spread, REVERSE4,
                REVERSE8,
            };
            use crate::kernels::{scalar, Records};

            #[target_feature(enable = $features)]
            pub(super) unsafe fn swap8(src: &[u8], dst: &mut [u8]) {
                check_same(src, dst, 8, "swap8");
                let mut done = 0;
                $(
                    // SAFETY: lengths checked equal, and both slices are cut
                    // at `done`; this function enables every listed vector's
                    // level.
                    done += unsafe { generic::shuffle::<$v>(&src[done..], &mut dst[done..], REVERSE8) };
                )+
                scalar::swap8(&src[done..], &mut dst[done..]);
            }

            #[target_feature(enable = $features)]
            pub(super) unsafe fn swap4(src: &[u8], dst: &mut [u8]) {
                check_same(src, dst, 4, "swap4");
                let mut done = 0;
                $(
                    // SAFETY: as in `swap8`.
                    done += unsafe { generic::shuffle::<$v>(&src[done..], &mut dst[done..], REVERSE4) };
                )+
                scalar::swap4(&src[done..], &mut dst[done..]);
            }

            #[target_feature(enable = $features)]
            pub(super) unsafe fn f32_to_f64_be(src: &[u8], dst: &mut [u8]) {
                check_widen(src, dst);
                let mut done = 0;
                $(
                    // SAFETY: `dst` is twice `src` (checked), and both are
                    // cut at `done` and `2 * done`; the level is enabled.
                    done += unsafe { generic::widen::<$v>(&src[done..], &mut dst[2 * done..]) };
                )+
                scalar::f32_to_f64_be(&src[done..], &mut dst[2 * done..]);
            }

            #[target_feature(enable = $features)]
            pub(super) unsafe fn f64_be_to_f32(src: &[u8], dst: &mut [u8]) {
                check_narrow(src, dst);
                let mut done = 0;
                $(
                    // SAFETY: `src` is twice `dst` (checked), and both are
                    // cut at `2 * done` and `done`; the level is enabled.
                    done += unsafe { generic::narrow::<$v>(&src[2 * done..], &mut dst[done..]) };
                )+
                scalar::f64_be_to_f32(&src[2 * done..], &mut dst[done..]);
            }

            #[target_feature(enable = $features)]
            pub(super) unsafe fn bool_to_thrift(src: &[u8], dst: &mut [u8]) {
                check_same(src, dst, 1, "bool_to_thrift");
                let mut done = 0;
                $(
                    // SAFETY: as in `swap8`.
                    done += unsafe { generic::bools::<$v>(&src[done..], &mut dst[done..]) };
                )+
                scalar::bool_to_thrift(&src[done..], &mut dst[done..]);
            }

            /// Continuous entries from values of `ELEM` bytes (`f32` or `f64`).
            pub(super) struct Values<const ELEM: usize>;

            impl<const ELEM: usize> Entries for Values<ELEM> {
                const ELEM: usize = ELEM;
                #[inline(always)]
                unsafe fn write(keys: &[Spread], values: &[u8], dst: &mut [u8]) {
                    let v = values.as_ptr();
                    let mut done = 0;
                    $(
                        let base = done;
                        // SAFETY: `Entries::write`'s contract holds for the
                        // keys and entries from `base` on; `load(j)` reads
                        // `ELEM * per` bytes at `ELEM * (base + j)`, within
                        // `values` while `base + j + per <= keys.len()`.
                        done += unsafe {
                            generic::entries::<$v>(&keys[base..], &mut dst[16 * base..], |j| {
                                let p = v.add(ELEM * (base + j));
                                if ELEM == 4 {
                                    <$v as Vector>::load_spread_f32(p)
                                } else {
                                    <$v as Vector>::load_spread_f64(p)
                                }
                            })
                        };
                    )+
                    entries_tail(&keys[done..], &values[ELEM * done..], &mut dst[16 * done..], ELEM);
                }
            }

            #[target_feature(enable = $features)]
            pub(super) unsafe fn continuous_f32(records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
                // SAFETY: the level's features are enabled here.
                unsafe { super::continuous::<Values<4>>(records, values, dst) }
            }

            #[target_feature(enable = $features)]
            pub(super) unsafe fn continuous_f64(records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
                // SAFETY: the level's features are enabled here.
                unsafe { super::continuous::<Values<8>>(records, values, dst) }
            }
        }
    };
}

level!(
    /// SSSE3: 16-byte vectors (`pshufb` for the byte swaps, SSE2 for the
    /// widening and the narrowing).
    mod ssse3, "ssse3", [__m128i]
);
level!(
    /// AVX2: 32-byte vectors.
    mod avx2, "avx2", [__m256i]
);
level!(
    /// AVX-512 (F + BW): 64-byte vectors, the remainder in 32-byte ones
    /// (the level requires AVX2 too). `vpshufb` on 512 bits (BW) swaps
    /// bytes within each 16-byte lane; one `vpermq` (F) first puts values
    /// `i` and `i + 4` in lane `i`, so the continuous entries need no VBMI
    /// byte permute: 8 entries cost one widening, one permute, two
    /// shuffles, two ORs with the laid-out keys and two stores.
    mod avx512, "avx512f,avx512bw,avx2", [__m512i, __m256i]
);

table!(SSSE3, ssse3);
table!(AVX2, avx2);
table!(AVX512, avx512);

/// Checks the lengths of a same-size conversion (as the scalar twins do).
#[inline(always)]
fn check_same(src: &[u8], dst: &[u8], elem: usize, what: &str) {
    assert!(
        src.len() == dst.len() && src.len().is_multiple_of(elem),
        "{what}: bad lengths"
    );
}

/// Checks the lengths of the f32 → f64 widening.
#[inline(always)]
fn check_widen(src: &[u8], dst: &[u8]) {
    assert!(
        src.len().is_multiple_of(4) && dst.len() == src.len() * 2,
        "f32_to_f64_be: bad lengths"
    );
}

/// Checks the lengths of the big-endian f64 → f32 narrowing.
#[inline(always)]
fn check_narrow(src: &[u8], dst: &[u8]) {
    assert!(
        dst.len().is_multiple_of(4) && src.len() == dst.len() * 2,
        "f64_be_to_f32: bad lengths"
    );
}

/// Writes one run of continuous entries: `key_j | value_j`, 16 bytes each.
pub(super) trait Entries {
    /// Input bytes per value (4 for `f32`, 8 for `f64`).
    const ELEM: usize;

    /// Writes `keys.len()` entries.
    ///
    /// # Safety
    ///
    /// `values.len() == keys.len() * ELEM`, `dst.len() == keys.len() * Records::ENTRY`,
    /// and the CPU has the features of the implementing level. Inlined into
    /// that level's `#[target_feature]` functions.
    unsafe fn write(keys: &[Spread], values: &[u8], dst: &mut [u8]);
}

/// Entries up to which the scalar twin writes a call's records.
const SMALL: usize = 16;

/// Keys laid out at a time in a stack buffer: once per call, not once per
/// record, and no heap for any key count.
const KEY_CHUNK: usize = 64;

/// The record loop shared by every level: for each chunk of up to
/// [`KEY_CHUNK`] keys, lay the keys out once, then write that chunk's
/// entries in every record (heads with the first chunk, STOPs with the
/// last).
///
/// # Safety
///
/// The CPU has the features `E` needs.
#[inline(always)]
pub(super) unsafe fn continuous<E: Entries>(records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
    let rows = records.rows(values.len(), dst.len(), E::ELEM);
    let (n, len) = (records.keys.len(), records.record_len());
    // A handful of entries (one request's scores): laying the keys out and
    // setting up the vector loop costs more than the entries themselves
    // (W1, 8 entries: 200 instructions here, 85 in the scalar twin).
    if n * rows <= SMALL {
        return if E::ELEM == 4 {
            scalar::continuous_f32_rows(records, values, dst, rows)
        } else {
            scalar::continuous_f64_rows(records, values, dst, rows)
        };
    }
    // Left uninitialised: zeroing all 1 KiB cost W1 77 of its
    // instructions; each chunk writes (key, zeros) into the entries it uses.
    let mut spread = [MaybeUninit::<Spread>::uninit(); KEY_CHUNK];
    for (c, chunk) in records.keys.chunks(KEY_CHUNK).enumerate() {
        for (s, k) in spread.iter_mut().zip(chunk) {
            let mut entry: Spread = [0; Records::ENTRY];
            entry[..8].copy_from_slice(&k.to_be_bytes());
            s.write(entry);
        }
        // SAFETY: the loop above wrote the first `chunk.len()` entries
        // (`chunk.len() <= KEY_CHUNK`); `MaybeUninit<Spread>` has the layout
        // of `Spread`.
        let keys: &[Spread] =
            unsafe { core::slice::from_raw_parts(spread.as_ptr().cast::<Spread>(), chunk.len()) };
        let (first, last) = (c == 0, c * KEY_CHUNK + chunk.len() == n);
        let (vin, vout) = (
            c * KEY_CHUNK * E::ELEM,
            Records::HEAD + Records::ENTRY * c * KEY_CHUNK,
        );
        let row_in = n * E::ELEM;
        for (record, row_values) in dst.chunks_exact_mut(len).zip(values.chunks_exact(row_in)) {
            if first {
                record[..Records::HEAD].copy_from_slice(&records.head);
            }
            let v = &row_values[vin..][..chunk.len() * E::ELEM];
            let d = &mut record[vout..][..Records::ENTRY * chunk.len()];
            // SAFETY: `v` and `d` were sliced to exactly `chunk.len()` values
            // and entries; the caller guarantees the CPU features.
            unsafe { E::write(keys, v, d) };
            if last && records.stop {
                record[len - 1] = 0;
            }
        }
    }
}

/// The scalar tail of an [`Entries`] run (fewer entries than one block).
/// It repeats the scalar twin's per-entry conversion rather than sharing a
/// helper with it: sharing one changed the code generated for the AVX2
/// record loop and cost 3% more instructions on W3 (688,089 → 708,568).
#[inline(always)]
fn entries_tail(keys: &[Spread], values: &[u8], dst: &mut [u8], elem: usize) {
    for ((d, k), v) in dst
        .chunks_exact_mut(Records::ENTRY)
        .zip(keys)
        .zip(values.chunks_exact(elem))
    {
        let bits = if elem == 4 {
            (f32::from_le_bytes(v.try_into().unwrap()) as f64).to_bits()
        } else {
            u64::from_le_bytes(v.try_into().unwrap())
        };
        d[..8].copy_from_slice(&k[..8]);
        d[8..].copy_from_slice(&bits.to_be_bytes());
    }
}
