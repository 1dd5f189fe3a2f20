"""bprwire.feature_id (the Rust library's) against the same rule computed
with the PyPI ``mmh3`` package's MurmurHash3_x64_128."""

import random
import struct

import mmh3
import pytest

import bprwire


def reference(name: str) -> int:
    """twml's feature id, independently: libtwml's rule over mmh3."""
    k = name.find("#")
    if k > 0:
        h1 = mmh3.hash_bytes(name[:k].encode("utf-16-le"), 0)
        h = mmh3.hash_bytes(h1[:8] + name[k + 1 :].encode("utf-16-le"), 0)
    else:
        h = mmh3.hash_bytes(name.encode("utf-16-le"), 0)
    return struct.unpack("<q", h[:8])[0]


FIXED = [
    "",
    "a",
    "#",
    "#a",
    "#a#b",
    "a#",
    "a#b",
    "##",
    "a##b",
    "group#feature#x#y",
    "engagement_features.user#engagement.is_favorited",
    "é",
    "日本語#特徴",
    "emoji😀",
    "😀#😀",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢#x",
]


@pytest.mark.parametrize("name", FIXED)
def test_fixed_names(name):
    assert bprwire.feature_id(name) == reference(name)
    assert bprwire.feature_id(name.encode()) == reference(name)


def test_many_random_names_of_every_length():
    rng = random.Random(17)
    alphabet = "ab#.-_é日😀\u0000\uffff\U0010ffff"
    for n in range(0, 80):
        for _ in range(20):
            name = "".join(rng.choice(alphabet) for _ in range(n))
            assert bprwire.feature_id(name) == reference(name), repr(name)


def test_empty_name_is_zero_and_the_hash_position_matters():
    assert bprwire.feature_id("") == 0
    # '#' at 0 hashes the whole name; anywhere else splits group#feature.
    assert bprwire.feature_id("#ab") != bprwire.feature_id("ab")
    assert bprwire.feature_id("a#b") != reference_whole("a#b")


def reference_whole(name):
    return struct.unpack("<q", mmh3.hash_bytes(name.encode("utf-16-le"), 0)[:8])[0]


@pytest.mark.parametrize(
    "raw, offset",
    [(b"\xff", 0), (b"abc\x80", 3), (b"group#\xc3", 6), (b"\xed\xa0\x80", 0)],
)
def test_invalid_utf8_is_a_decode_error_with_the_offset(raw, offset):
    with pytest.raises(bprwire.DecodeError, match=f"offset {offset}") as e:
        bprwire.feature_id(raw)
    assert isinstance(e.value, ValueError)


def test_other_types_are_refused():
    with pytest.raises(TypeError):
        bprwire.feature_id(12)
    # A lone surrogate cannot be UTF-8: Python's own encoding error.
    with pytest.raises(UnicodeEncodeError):
        bprwire.feature_id("\ud800")
