//! twml's feature ids (`bprwire::feature_id`) against fixed vectors.
//!
//! The expected ids were computed by an independent implementation of the
//! rule: Python with the PyPI `mmh3` package (5.3.1, `mmh3.hash_bytes(data,
//! 0)`, its own C MurmurHash3_x64_128), as `python/tests/test_feature_id.py`
//! does for many more names:
//!
//! ```python
//! def ref(name):
//!     k = name.find('#')
//!     if k > 0:
//!         h1 = mmh3.hash_bytes(name[:k].encode('utf-16-le'), 0)
//!         h = mmh3.hash_bytes(h1[:8] + name[k + 1:].encode('utf-16-le'), 0)
//!     else:
//!         h = mmh3.hash_bytes(name.encode('utf-16-le'), 0)
//!     return struct.unpack('<q', h[:8])[0]
//! ```

use bprwire::{feature_id, feature_id_bytes};

const VECTORS: &[(&str, i64)] = &[
    // The empty name: MurmurHash3 of nothing is 16 zero bytes.
    ("", 0),
    ("a", -7591212652331886403),
    ("user.age", 1589670941332718913),
    // `#` at position 0: the whole name is hashed, `#` included.
    ("#", -3511212329378449922),
    ("#a", 3782576237958626049),
    ("#a#b", 571603646235759833),
    // group#feature, with an empty feature and with further `#`s.
    ("a#", -8349083716213703533),
    ("a#b", -3734086814676416176),
    ("group#feature#x#y", 8902772656609894233),
    (
        "engagement_features.user#engagement.is_favorited",
        -8787418974293460107,
    ),
    ("meta.record_weight_type", 3187261133739241639),
    // Non-ASCII: 2-byte and 3-byte UTF-8, and characters above U+FFFF
    // (UTF-16 surrogate pairs), in the group and in the feature.
    ("é", -8822982382499129721),
    ("日本語#特徴", -1768212578066204088),
    ("emoji😀", -9066490875563792265),
    ("😀#😀", 4530736732190333652),
    // Lengths around MurmurHash3's 16-byte blocks (UTF-16: 14, 16, 30, 34 bytes).
    ("xxxxxxx", -5459637575211275544),
    ("xxxxxxxx", -3263902183725346681),
    ("yyyyyyyyyyyyyyy", 6667844905243606916),
    ("zzzzzzzzzzzzzzzzz", -2242598960788964114),
];

#[test]
fn ids_match_an_independent_implementation() {
    for &(name, want) in VECTORS {
        assert_eq!(feature_id(name), want, "{name:?}");
        assert_eq!(feature_id_bytes(name.as_bytes()), Ok(want), "{name:?}");
    }
}

#[test]
fn a_surrogate_pair_is_not_two_replacement_characters() {
    // U+1F600 is D83D DE00 in UTF-16; hashing it as U+FFFD would differ.
    assert_ne!(feature_id("emoji😀"), feature_id("emoji\u{fffd}\u{fffd}"));
    assert_ne!(feature_id("emoji😀"), feature_id("emoji\u{fffd}"));
}

#[test]
fn invalid_utf8_is_an_error_with_its_offset() {
    for (bytes, at) in [
        (&b"\xff"[..], 0),
        (b"abc\x80", 3),
        (b"group#\xc3", 6),         // a truncated 2-byte sequence
        (b"\xed\xa0\x80", 0),       // an encoded surrogate (not UTF-8)
        (b"ok\xf4\x90\x80\x80", 2), // above U+10FFFF
    ] {
        let e = feature_id_bytes(bytes).expect_err("not UTF-8");
        assert_eq!(e.valid_up_to(), at, "{bytes:?}");
        assert!(e.to_string().contains(&format!("offset {at}")), "{e}");
    }
}
