//! Plain, portable kernels: the definition of every kernel's output.
//!
//! Safe code only. Each kernel checks the lengths once and then loops with
//! `chunks_exact`, which lets the compiler drop the per-element bounds
//! checks. Inputs are little-endian element bytes; outputs are what the
//! Thrift binary protocol wants (big-endian, doubles widened from f32).

/// Raw copy (little-endian tensor content stays as it is).
#[inline]
pub fn copy(src: &[u8], dst: &mut [u8]) {
    dst.copy_from_slice(src);
}

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

/// Widens little-endian `f32` to big-endian `f64` (exact: every f32 is a
/// double; NaN payloads are kept the way the hardware conversion keeps them).
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

/// Thrift bools: one byte each, 0 or 1 (any non-zero input byte is true).
#[inline]
pub fn bool_to_thrift(src: &[u8], dst: &mut [u8]) {
    assert!(src.len() == dst.len(), "bool_to_thrift: bad lengths");
    for (d, s) in dst.iter_mut().zip(src) {
        *d = (*s != 0) as u8;
    }
}

/// One record's continuous map entries: `key_j | value_j` (16 bytes each),
/// keys already big-endian (swapped once per batch), values little-endian
/// `f32` widened to big-endian `f64`.
#[inline]
pub fn continuous_row_f32(keys_be: &[[u8; 8]], values: &[u8], dst: &mut [u8]) {
    let n = keys_be.len();
    assert!(
        values.len() == n * 4 && dst.len() == n * 16,
        "continuous_row_f32: bad lengths"
    );
    for ((d, k), v) in dst.chunks_exact_mut(16).zip(keys_be).zip(values.chunks_exact(4)) {
        let v = f32::from_le_bytes(v.try_into().unwrap()) as f64;
        d[..8].copy_from_slice(k);
        d[8..].copy_from_slice(&v.to_bits().to_be_bytes());
    }
}

/// As [`continuous_row_f32`], for little-endian `f64` values.
#[inline]
pub fn continuous_row_f64(keys_be: &[[u8; 8]], values: &[u8], dst: &mut [u8]) {
    let n = keys_be.len();
    assert!(
        values.len() == n * 8 && dst.len() == n * 16,
        "continuous_row_f64: bad lengths"
    );
    for ((d, k), v) in dst.chunks_exact_mut(16).zip(keys_be).zip(values.chunks_exact(8)) {
        let v = u64::from_le_bytes(v.try_into().unwrap());
        d[..8].copy_from_slice(k);
        d[8..].copy_from_slice(&v.to_be_bytes());
    }
}
