//! Plain, portable kernels: the definition of every kernel's output.
//!
//! Safe code only. Each kernel checks the lengths once and then loops with
//! `chunks_exact`, which lets the compiler drop the per-element bounds
//! checks. Inputs are little-endian element bytes; outputs are what the
//! Thrift binary protocol wants (big-endian, doubles widened from f32).
//! The one kernel of the other direction, [`f64_be_to_f32`], reads the
//! wire's big-endian doubles and writes native little-endian `f32`.

use super::Records;

/// Reverses every 8-byte element: little-endian `i64`/`f64` to big-endian.
#[inline]
pub fn swap8(src: &[u8], dst: &mut [u8]) {
    assert!(
        src.len() == dst.len() && src.len().is_multiple_of(8),
        "swap8: bad lengths"
    );
    for (d, s) in dst.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
        let v = u64::from_le_bytes(s.try_into().unwrap());
        d.copy_from_slice(&v.to_be_bytes());
    }
}

/// Reverses every 4-byte element: little-endian `i32` to big-endian.
#[inline]
pub fn swap4(src: &[u8], dst: &mut [u8]) {
    assert!(
        src.len() == dst.len() && src.len().is_multiple_of(4),
        "swap4: bad lengths"
    );
    for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
        let v = u32::from_le_bytes(s.try_into().unwrap());
        d.copy_from_slice(&v.to_be_bytes());
    }
}

/// Widens little-endian `f32` to big-endian `f64`: exact for every value
/// that is not a NaN. A NaN keeps its sign and payload and comes out quiet,
/// as the hardware conversion (and twml's C++ cast) makes it: a signalling
/// NaN `0x7f800001` becomes `0x7ff8000020000000`.
#[inline]
pub fn f32_to_f64_be(src: &[u8], dst: &mut [u8]) {
    assert!(
        src.len().is_multiple_of(4) && dst.len() == src.len() * 2,
        "f32_to_f64_be: bad lengths"
    );
    for (d, s) in dst.chunks_exact_mut(8).zip(src.chunks_exact(4)) {
        let v = f32::from_le_bytes(s.try_into().unwrap()) as f64;
        d.copy_from_slice(&v.to_bits().to_be_bytes());
    }
}

/// Narrows big-endian `f64` (the elements of a Thrift `list<double>`) to
/// little-endian `f32`, each exactly as `f64 as f32`: rounded to nearest,
/// ties to even; beyond `f32::MAX` (after rounding) to an infinity; below
/// the smallest `f32` subnormal (after rounding) to a zero of the same
/// sign. A NaN keeps its sign and the top 22 bits of its payload below the
/// quiet bit, and comes out quiet, as the x86 conversions (`cvtsd2ss`,
/// `cvtpd2ps`) make it: the signalling NaN `0x7ff0000000000001` becomes
/// `0x7fc00000`, `0xfff4000000000000` becomes `0xffe00000`.
///
/// `src.len() == 2 * dst.len()`, `dst.len()` a multiple of 4; panics
/// otherwise. (Big-endian `f64` to native `f64`, no narrowing, is
/// [`swap8`]: reversing the bytes is its own inverse.)
#[inline]
pub fn f64_be_to_f32(src: &[u8], dst: &mut [u8]) {
    assert!(
        dst.len().is_multiple_of(4) && src.len() == dst.len() * 2,
        "f64_be_to_f32: bad lengths"
    );
    for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(8)) {
        let v = f64::from_be_bytes(s.try_into().unwrap()) as f32;
        d.copy_from_slice(&v.to_bits().to_le_bytes());
    }
}

/// Thrift bools: one byte each, 0 or 1 (any non-zero input byte is true).
#[inline]
pub fn bool_to_thrift(src: &[u8], dst: &mut [u8]) {
    assert!(src.len() == dst.len(), "bool_to_thrift: bad lengths");
    for (d, s) in dst.iter_mut().zip(src) {
        *d = (*s != 0) as u8;
    }
}

/// Whole records of continuous entries from little-endian `f32` values:
/// per record the head, then `key | value` (big-endian key, value widened
/// to a big-endian `f64`) for every key, then the STOP if asked for.
#[inline]
pub fn continuous_f32(records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
    let rows = records.rows(values.len(), dst.len(), 4);
    continuous_f32_rows(records, values, dst, rows)
}

/// As [`continuous_f32`], for little-endian `f64` values.
#[inline]
pub fn continuous_f64(records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
    let rows = records.rows(values.len(), dst.len(), 8);
    continuous_f64_rows(records, values, dst, rows)
}

/// [`continuous_f32`] for lengths already checked by [`Records::rows`]
/// (the SIMD levels hand small calls here without checking twice).
#[inline(always)]
pub(crate) fn continuous_f32_rows(records: &Records<'_>, values: &[u8], dst: &mut [u8], rows: usize) {
    write_records(records, values, dst, rows, 4, |v| {
        (f32::from_le_bytes(v.try_into().unwrap()) as f64).to_bits()
    })
}

/// [`continuous_f64`] for lengths already checked by [`Records::rows`].
#[inline(always)]
pub(crate) fn continuous_f64_rows(records: &Records<'_>, values: &[u8], dst: &mut [u8], rows: usize) {
    write_records(records, values, dst, rows, 8, |v| {
        u64::from_le_bytes(v.try_into().unwrap())
    })
}

/// Writes `rows` records; the lengths were checked by [`Records::rows`].
#[inline(always)]
fn write_records(
    records: &Records<'_>,
    values: &[u8],
    dst: &mut [u8],
    rows: usize,
    elem: usize,
    bits: impl Fn(&[u8]) -> u64,
) {
    let (n, len) = (records.keys.len(), records.record_len());
    for row in 0..rows {
        let record = &mut dst[row * len..][..len];
        let (head, rest) = record.split_at_mut(Records::HEAD);
        head.copy_from_slice(&records.head);
        let row_values = &values[row * n * elem..][..n * elem];
        for ((d, k), v) in rest
            .chunks_exact_mut(Records::ENTRY)
            .zip(records.keys)
            .zip(row_values.chunks_exact(elem))
        {
            d[..8].copy_from_slice(&k.to_be_bytes());
            d[8..].copy_from_slice(&bits(v).to_be_bytes());
        }
        if records.stop {
            rest[Records::ENTRY * n] = 0;
        }
    }
}
