//! twml's feature ids: the 64-bit id that twml puts on the wire for a
//! feature name (libtwml's `twml_get_feature_id`).
//!
//! ```
//! // A name without `#` is hashed whole; `group#feature` hashes the group,
//! // then the feature after the first 8 bytes of the group's hash.
//! let id = bprwire::feature_id("user.age");
//! assert_ne!(id, bprwire::feature_id("user#age"));
//! assert_eq!(bprwire::feature_id(""), 0);
//! assert!(bprwire::feature_id_bytes(b"\xff").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The rule is on [`feature_id`].

use core::fmt;

/// A feature name given as bytes that are not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureNameError {
    valid_up_to: usize,
}

impl FeatureNameError {
    /// The byte offset of the first byte that is not part of valid UTF-8.
    pub fn valid_up_to(&self) -> usize {
        self.valid_up_to
    }
}

impl fmt::Display for FeatureNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "feature name is not valid UTF-8: invalid byte at offset {}",
            self.valid_up_to
        )
    }
}

impl std::error::Error for FeatureNameError {}

/// twml's feature id of `name`.
///
/// The rule (libtwml's `twml_get_feature_id`):
///
/// 1. If the first `#` of the name is at a position `k > 0`, the name is
///    `group#feature`: `h1 = MurmurHash3_x64_128(UTF-16LE(group), seed 0)`;
///    the id's hash is `MurmurHash3_x64_128(h1[..8] ++ UTF-16LE(feature),
///    seed 0)`, `feature` being everything after that first `#` (further
///    `#`s included).
/// 2. Otherwise (no `#`, or the first `#` at position 0) the hash is
///    `MurmurHash3_x64_128(UTF-16LE(name), seed 0)`.
/// 3. The id is the hash's first 8 bytes read as a little-endian `i64`.
///
/// UTF-16 is taken from the UTF-8 name, with surrogate pairs for characters
/// above U+FFFF. The empty name hashes to 16 zero bytes: id 0.
///
/// MurmurHash3_x64_128 is implemented here (about forty lines) rather than
/// taken from a crate; `tests/feature_id.rs` checks it against vectors
/// computed by an independent implementation.
pub fn feature_id(name: &str) -> i64 {
    let hash = match name.find('#') {
        Some(k) if k > 0 => {
            let group = murmur3_x64_128(&utf16le(&name[..k]), 0);
            let mut buf = Vec::with_capacity(8 + 2 * (name.len() - k));
            buf.extend_from_slice(&group[..8]);
            push_utf16le(&mut buf, &name[k + 1..]);
            murmur3_x64_128(&buf, 0)
        }
        _ => murmur3_x64_128(&utf16le(name), 0),
    };
    i64::from_le_bytes(hash[..8].try_into().expect("16 bytes"))
}

/// [`feature_id`] of a name given as UTF-8 bytes.
///
/// # Errors
///
/// [`FeatureNameError`] (with the offset of the first bad byte) if `name`
/// is not valid UTF-8, as twml refuses it.
pub fn feature_id_bytes(name: &[u8]) -> Result<i64, FeatureNameError> {
    match core::str::from_utf8(name) {
        Ok(s) => Ok(feature_id(s)),
        Err(e) => Err(FeatureNameError {
            valid_up_to: e.valid_up_to(),
        }),
    }
}

fn utf16le(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 * s.len());
    push_utf16le(&mut v, s);
    v
}

fn push_utf16le(out: &mut Vec<u8>, s: &str) {
    for unit in s.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[inline]
fn mix_k1(k1: u64) -> u64 {
    k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2)
}

#[inline]
fn mix_k2(k2: u64) -> u64 {
    k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1)
}

/// MurmurHash3_x64_128 of `data` with `seed`: the 16 bytes the reference
/// C implementation writes (`h1` then `h2`, each little-endian).
pub(crate) fn murmur3_x64_128(data: &[u8], seed: u32) -> [u8; 16] {
    let mut h1 = u64::from(seed);
    let mut h2 = u64::from(seed);
    let mut blocks = data.chunks_exact(16);
    for block in &mut blocks {
        let k1 = u64::from_le_bytes(block[..8].try_into().expect("8 bytes"));
        let k2 = u64::from_le_bytes(block[8..].try_into().expect("8 bytes"));
        h1 ^= mix_k1(k1);
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        h2 ^= mix_k2(k2);
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        // The tail's bytes as two little-endian words, zero-filled: the
        // reference's fall-through switch, byte by byte.
        let mut padded = [0u8; 16];
        padded[..tail.len()].copy_from_slice(tail);
        let k1 = u64::from_le_bytes(padded[..8].try_into().expect("8 bytes"));
        let k2 = u64::from_le_bytes(padded[8..].try_into().expect("8 bytes"));
        if tail.len() > 8 {
            h2 ^= mix_k2(k2);
        }
        h1 ^= mix_k1(k1);
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&h1.to_le_bytes());
    out[8..].copy_from_slice(&h2.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_hashes_to_zero() {
        assert_eq!(murmur3_x64_128(b"", 0), [0; 16]);
        assert_eq!(feature_id(""), 0);
    }

    #[test]
    fn the_group_rule_needs_a_hash_after_position_zero() {
        // `#` at 0 hashes the whole name, so it differs from the name without it.
        assert_ne!(feature_id("#a"), feature_id("a"));
        assert_eq!(
            feature_id("#a#b"),
            i64::from_le_bytes(murmur3_x64_128(&utf16le("#a#b"), 0)[..8].try_into().unwrap())
        );
    }
}
