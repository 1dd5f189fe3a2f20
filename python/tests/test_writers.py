"""The writers and one-off encode: every dtype and shape, each output read
back twice, by bprwire.decode and by the Apache thrift library's generated
classes (an independent reader), and compared with the inputs."""

import struct

import numpy as np
import pytest

import bprwire

RAW_CODES = {
    np.dtype(np.float32): 0,
    np.dtype(np.float64): 1,
    np.dtype(np.int32): 2,
    np.dtype(np.int64): 3,
    np.dtype(np.uint8): 4,
    np.dtype(np.bool_): 7,
}


def rng():
    return np.random.default_rng(7)


def numeric(dtype, shape, r=None):
    r = r or rng()
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return r.integers(0, 2, size=shape).astype(bool)
    if dtype.kind == "f":
        return r.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return r.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def as_text(a):
    """The strings numpy holds in `a` (S: bytes without trailing NULs)."""
    return [x if isinstance(x, (str, bytes)) else str(x) for x in a.reshape(-1).tolist()]


def check_continuous(tt, data, keys, values):
    """`data` holds one record per row with {keys[j]: values[i, j]}."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), len(keys))
    resp = tt.loads(tt.ps.BatchPredictionResponse, data)
    assert len(resp.predictions) == len(values)
    for rec, row in zip(resp.predictions, values):
        assert list(rec.continuousFeatures.keys()) == list(keys)
        got = np.array(list(rec.continuousFeatures.values()))
        np.testing.assert_array_equal(got, row)
    keys_back, values_back = bprwire.decode(data).continuous()
    assert keys_back.dtype == np.int64 and values_back.dtype == np.float64
    if len(values) == 0:  # no record: no key to read back
        assert keys_back.tolist() == [] and values_back.shape == (0, 0)
        return
    assert keys_back.tolist() == list(keys)
    np.testing.assert_array_equal(values_back, values)


def check_tensor(tt, data, key, array, typed=False, binary=False):
    """Record i holds row i of `array` under `key`, as twml writes it."""
    resp = tt.loads(tt.ps.BatchPredictionResponse, data)
    assert len(resp.predictions) == array.shape[0]
    row_shape = list(array.shape[1:])
    for i, rec in enumerate(resp.predictions):
        t = rec.tensors[key]
        row = array[i]
        if array.dtype.kind in "SUO":
            if binary:
                got = t.binaryTensor.binaries
                want = [x.encode() if isinstance(x, str) else x for x in as_text(row)]
            else:
                got = t.stringTensor.strings
                want = [x.decode() if isinstance(x, bytes) else x for x in as_text(row)]
            shape = (t.binaryTensor or t.stringTensor).shape
            assert got == want
        elif typed and array.dtype != np.uint8:
            arm, field = {
                "f4": ("floatTensor", "floats"),
                "f8": ("doubleTensor", "doubles"),
                "i4": ("int32Tensor", "ints"),
                "i8": ("int64Tensor", "longs"),
                "b1": ("boolTensor", "booleans"),
            }[array.dtype.str[1:]]
            arm = getattr(t, arm)
            np.testing.assert_array_equal(np.array(getattr(arm, field), dtype=array.dtype), row.reshape(-1))
            shape = arm.shape
        else:
            raw = t.rawTypedTensor
            assert raw.dataType == RAW_CODES[array.dtype]
            assert raw.content == np.ascontiguousarray(row).tobytes()
            shape = raw.shape
        assert shape == row_shape
    # And bprwire's own decoder gives the array back, dtype and shape
    # (without a record, there is nothing to say what the tensor was).
    if array.shape[0] == 0:
        with pytest.raises(KeyError):
            bprwire.decode(data).tensor(key)
        return
    back = bprwire.decode(data).tensor(key)
    assert back.shape == array.shape
    if array.dtype.kind in "SUO":
        want = as_text(array)
        if binary:
            want = [x.encode() if isinstance(x, str) else x for x in want]
        else:
            want = [x.decode() if isinstance(x, bytes) else x for x in want]
        assert back.dtype == object and back.reshape(-1).tolist() == want
    else:
        assert back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)


# ---- continuous -------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch, n", [(1, 1), (1, 8), (3, 5), (128, 16), (0, 4)])
def test_continuous_every_dtype_and_shape(thrift_types, dtype, batch, n):
    keys = list(range(100, 100 + n))
    values = numeric(dtype, (batch, n))
    w = bprwire.BatchPredictionWriter(keys)
    out = w(values)
    assert out.dtype == np.uint8 and out.shape == (1, w.encoded_len(values))
    data = out.tobytes()
    assert data == w.encode(values)
    check_continuous(thrift_types, data, keys, values)


def test_continuous_one_key_takes_a_vector(thrift_types):
    values = np.array([0.5, -1.0, 3.25], dtype=np.float32)
    data = bprwire.BatchPredictionWriter([42]).encode(values)
    check_continuous(thrift_types, data, [42], values.reshape(3, 1))


def test_float32_is_widened_exactly(thrift_types):
    values = np.array([[np.float32(0.1), np.float32(1e-40), np.inf, -0.0]], dtype=np.float32)
    data = bprwire.BatchPredictionWriter([1, 2, 3, 4]).encode(values)
    rec = thrift_types.loads(thrift_types.ps.BatchPredictionResponse, data).predictions[0]
    got = list(rec.continuousFeatures.values())
    assert got == [float(np.float32(0.1)), float(np.float32(1e-40)), float("inf"), -0.0]
    assert struct.pack(">d", got[3]) == struct.pack(">d", -0.0)


def test_keys_as_list_tuple_or_array_and_any_input_layout():
    values = numeric(np.float64, (4, 3))
    want = bprwire.BatchPredictionWriter([5, 6, 7]).encode(values)
    for keys in ([5, 6, 7], (5, 6, 7), np.array([5, 6, 7]), np.array([5, 6, 7], dtype=np.int32)):
        assert bprwire.BatchPredictionWriter(keys).encode(values) == want
    w = bprwire.BatchPredictionWriter([5, 6, 7])
    # Not C-contiguous (Fortran order, a step), big-endian, a nested list: copied once, same bytes.
    assert w.encode(np.asfortranarray(values)) == want
    wide = np.zeros((4, 6))
    wide[:, ::2] = values
    assert w.encode(wide[:, ::2]) == want
    assert w.encode(values.astype(">f8")) == want
    assert w.encode(values.tolist()) == want


def test_continuous_errors_name_the_problem():
    w = bprwire.BatchPredictionWriter([1, 2])
    cases = [
        (np.zeros((3, 3), np.float32), "keys"),
        (np.zeros(3, np.float32), "keys"),
        (np.zeros((1, 2, 2), np.float32), "rank"),
        (np.zeros((2, 2), np.int64), "INT64"),
        (np.zeros((2, 2), np.float16), "float16"),
        (np.array([["a", "b"]]), "continuous"),
    ]
    for values, needle in cases:
        with pytest.raises(bprwire.EncodeError) as e:
            w(values)
        assert needle.lower() in str(e.value).lower(), str(e.value)
    with pytest.raises(bprwire.EncodeError, match="key 1"):
        bprwire.BatchPredictionWriter([1, 2, 1])


# ---- dense tensors ----------------------------------------------------------

NUMERIC = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_]
SHAPES = [(3,), (2, 5), (2, 3, 4), (1, 1, 1, 2), (0, 3)]


@pytest.mark.parametrize("typed", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", NUMERIC)
def test_every_numeric_dtype_and_shape(thrift_types, dtype, shape, typed):
    a = numeric(dtype, shape)
    w = bprwire.BatchPredictionTensorWriter([9], typed=typed)
    data = w.encode([a])
    assert w([a]).tobytes() == data
    check_tensor(thrift_types, data, 9, a, typed=typed)


def test_bool_arrays_whose_bytes_are_not_0_or_1_are_written_as_1(thrift_types):
    raw = np.array([[0, 1, 2, 255]], dtype=np.uint8)
    a = raw.view(np.bool_)
    data = bprwire.BatchPredictionTensorWriter([1]).encode([a])
    t = thrift_types.loads(thrift_types.ps.BatchPredictionResponse, data).predictions[0].tensors[1]
    assert t.rawTypedTensor.content == bytes([0, 1, 1, 1])


STRINGS = [
    np.array([[b"ab", b"c"], [b"", b"de\x00f"]]),  # S: trailing NULs are padding, inner ones kept
    np.array([["x", "yé"], ["z😀", ""]]),  # U: UCS-4, non-BMP included
    np.array([["p", b"q"], [b"r", "s"]], dtype=object),  # object: str and bytes
    np.array(["only", "one", "dim"]),
    np.array([[["a"], ["b"]], [["c"], ["d"]]], dtype=object),
]


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("index", range(len(STRINGS)))
def test_strings_of_every_kind(thrift_types, index, binary):
    a = STRINGS[index]
    w = bprwire.BatchPredictionTensorWriter([300], binary=binary)
    data = w.encode([a])
    check_tensor(thrift_types, data, 300, a, binary=binary)


def test_strings_must_be_utf8_unless_binary(thrift_types):
    a = np.array([[b"ok", b"\xff\xfe"]])
    with pytest.raises(bprwire.EncodeError, match="300") as e:
        bprwire.BatchPredictionTensorWriter([300]).encode([a])
    assert "utf-8" in str(e.value).lower()
    data = bprwire.BatchPredictionTensorWriter([300], binary=True).encode([a])
    t = thrift_types.loads(thrift_types.ps.BatchPredictionResponse, data).predictions[0].tensors[300]
    assert t.binaryTensor.binaries == [b"ok", b"\xff\xfe"]
    obj = np.array([b"\xc3"], dtype=object)
    with pytest.raises(bprwire.EncodeError, match="300"):
        bprwire.BatchPredictionTensorWriter([300]).encode([obj])


def test_several_tensors_and_signature_cache(thrift_types):
    w = bprwire.BatchPredictionTensorWriter([100, 200, 300])
    r = rng()
    for batch, width in [(2, 4), (3, 4), (2, 5), (2, 4), (0, 1)]:
        emb = r.standard_normal((batch, width)).astype(np.float32)
        ids = r.integers(0, 1 << 40, size=(batch, 2))
        names = np.array([[f"n{i}{j}" for j in range(3)] for i in range(batch)]).reshape(batch, 3)
        data = w.encode([emb, ids, names])
        for key, a in [(100, emb), (200, ids), (300, names)]:
            check_tensor(thrift_types, data, key, a)


def test_writer_and_one_off_encode_agree(thrift_types):
    keys = [1, 2, 3]
    scores = numeric(np.float32, (4, 3))
    emb = numeric(np.float64, (4, 2))
    one_off = bprwire.encode(continuous=(keys, scores), dense={7: emb})
    resp = thrift_types.loads(thrift_types.ps.BatchPredictionResponse, one_off)
    for i, rec in enumerate(resp.predictions):
        assert list(rec.continuousFeatures.values()) == scores[i].astype(np.float64).tolist()
        assert rec.tensors[7].rawTypedTensor.content == emb[i].tobytes()
    assert bprwire.encode(dense={7: emb}) == bprwire.BatchPredictionTensorWriter([7]).encode([emb])
    assert bprwire.encode((keys, scores)) == bprwire.BatchPredictionWriter(keys).encode(scores)
    typed = bprwire.encode(dense={7: emb}, typed=True)
    assert typed == bprwire.BatchPredictionTensorWriter([7], typed=True).encode([emb])
    check_tensor(thrift_types, typed, 7, emb, typed=True)
    s = np.array([b"a\xff"])
    assert bprwire.encode(dense={1: s}, binary=True) == bprwire.BatchPredictionTensorWriter([1], binary=True).encode([s])


def test_one_off_errors():
    with pytest.raises(bprwire.EncodeError, match="(?i)neither|no predictions|empty"):
        bprwire.encode()
    with pytest.raises(bprwire.EncodeError, match="pair"):
        bprwire.encode(continuous=np.zeros((2, 2)))
    with pytest.raises(bprwire.EncodeError, match="(?i)batch"):
        bprwire.encode(continuous=([1], np.zeros(3, np.float32)), dense={5: np.zeros((2, 1), np.float32)})
    with pytest.raises(bprwire.EncodeError, match="dict"):
        bprwire.encode(dense=[np.zeros(3)])


def test_tensor_errors_name_key_and_index():
    w = bprwire.BatchPredictionTensorWriter([10, 20])
    f = np.zeros((2, 3), np.float32)
    cases = [
        ([f], "(?i)number of tensors|tensors"),
        ([f, np.float32(1.0)], "20"),
        ([f, np.zeros((3, 3), np.float32)], "20"),
        ([f, np.zeros((2, 3), np.float16)], "tensor key 20 \\(index 1\\).*float16"),
        ([f, np.zeros((2, 3), np.complex64)], "tensor key 20"),
        ([f, np.zeros((2, 3), np.int16)], "tensor key 20"),
        ([f, np.zeros((2, 3), np.uint32)], "tensor key 20"),
        ([f, np.array([1, "a"], dtype=object)], "tensor key 20.*element 0 is a int"),
        ([np.array(["\ud800", "b"]), f], "tensor key 10.*element 0.*0xd800"),
    ]
    for tensors, pattern in cases:
        with pytest.raises(bprwire.EncodeError, match=pattern):
            w.encode(tensors)
    with pytest.raises(bprwire.EncodeError, match="10"):
        bprwire.BatchPredictionTensorWriter([10, 10])
    with pytest.raises(bprwire.EncodeError):
        bprwire.BatchPredictionTensorWriter([])


# ---- outputs ----------------------------------------------------------------


def test_encode_into_every_kind_of_buffer():
    w = bprwire.BatchPredictionTensorWriter([1, 2])
    tensors = [numeric(np.float32, (3, 4)), numeric(np.int64, (3,))]
    want = w.encode(tensors)
    n = w.encoded_len(tensors)
    assert n == len(want)
    for make in (
        lambda k: bytearray(b"\xaa" * k),
        lambda k: np.full(k, 0xAA, dtype=np.uint8),
        lambda k: memoryview(bytearray(b"\xaa" * k)),
        lambda k: np.full((2, k), 0xAA, dtype=np.uint8)[1],
    ):
        buf = make(n + 5)
        assert w.encode_into(tensors, buf) == n
        assert bytes(buf[:n]) == want
        assert bytes(buf[n:]) == b"\xaa" * 5


def test_encode_into_refusals_leave_the_buffer_untouched():
    w = bprwire.BatchPredictionWriter([1, 2])
    values = numeric(np.float32, (2, 2))
    small = bytearray(b"\x11" * (w.encoded_len(values) - 1))
    with pytest.raises(bprwire.EncodeError, match="(?i)buffer"):
        w.encode_into(values, small)
    assert small == bytearray(b"\x11" * len(small))
    with pytest.raises(bprwire.EncodeError, match="read-only"):
        w.encode_into(values, bytes(100))
    with pytest.raises(bprwire.EncodeError, match="C-contiguous"):
        w.encode_into(values, np.zeros((200, 2), np.uint8)[:, 0])
    big = numeric(np.float32, (64, 2))
    with pytest.raises(bprwire.EncodeError, match="overlaps"):
        w.encode_into(big, big.view(np.uint8).reshape(-1))
    with pytest.raises(TypeError):
        w.encode_into(values, "not a buffer")


def test_reply_envelope_read_by_thrift(thrift_types):
    from thrift.protocol.TBinaryProtocol import TBinaryProtocol
    from thrift.transport.TTransport import TMemoryBuffer
    import prediction_service.PredictionService as service

    keys = [3, 4]
    values = numeric(np.float32, (5, 2))
    w = bprwire.BatchPredictionWriter(keys)
    for framed in (False, True):
        data = w.reply(values, seqid=77, framed=framed)
        assert data == bprwire.reply((keys, values), seqid=77, framed=framed)
        body = data
        if framed:
            assert struct.unpack(">i", data[:4])[0] == len(data) - 4
            body = data[4:]
        proto = TBinaryProtocol(TMemoryBuffer(body))
        name, mtype, seqid = proto.readMessageBegin()
        assert (name, mtype, seqid) == ("getBatchPrediction", 2, 77)
        result = service.getBatchPrediction_result()
        result.read(proto)
        assert [list(r.continuousFeatures.values()) for r in result.success.predictions] == values.astype(
            float
        ).tolist()
        back = bprwire.decode_reply(data, framed=framed)
        assert back.seqid == 77 and len(back) == 5
        np.testing.assert_array_equal(back.continuous()[1], values)
    t = bprwire.BatchPredictionTensorWriter([9]).reply([values], seqid=-1)
    assert bprwire.decode_reply(t).seqid == -1


def test_the_utf8_hint_names_the_python_switch():
    with pytest.raises(bprwire.EncodeError) as e:
        bprwire.BatchPredictionTensorWriter([3]).encode([np.array([b"\xff"])])
    assert "binary=True" in str(e.value) and "TensorData" not in str(e.value)
