"""bprwire.decode on responses written by the Apache thrift library (an
independent writer, with layouts bprwire never writes), its errors, and
how it holds the decoded bytes."""

import gc
import sys

import numpy as np
import pytest

import bprwire


def response(tt, records):
    """A response of DataRecords built with the generated classes."""
    return tt.dumps(tt.ps.BatchPredictionResponse(predictions=records))


def general(tt, **arm):
    return tt.tensor.GeneralTensor(**arm)


def test_typed_arms_decode_to_their_dtypes(thrift_types):
    tt = thrift_types
    T = tt.tensor
    recs = []
    for i in range(3):
        recs.append(
            tt.data.DataRecord(
                continuousFeatures={5: 0.5 * i, 6: -1.0},
                tensors={
                    1: general(tt, int32Tensor=T.Int32Tensor(ints=[i, -i], shape=[2])),
                    2: general(tt, int64Tensor=T.Int64Tensor(longs=[1 << 40, i], shape=[1, 2])),
                    3: general(tt, floatTensor=T.FloatTensor(floats=[0.25, float(i)])),
                    4: general(tt, doubleTensor=T.DoubleTensor(doubles=[0.1 * i], shape=[1])),
                    5: general(tt, boolTensor=T.BoolTensor(booleans=[True, i % 2 == 0])),
                    6: general(tt, stringTensor=T.StringTensor(strings=["é", str(i)])),
                    7: general(tt, binaryTensor=T.BinaryTensor(binaries=[b"\xff", bytes([i])])),
                    8: general(
                        tt,
                        rawTypedTensor=T.RawTypedTensor(
                            dataType=T.DataType.INT32, content=np.array([i, 2], "<i4").tobytes(), shape=[2, 1]
                        ),
                    ),
                },
            )
        )
    r = bprwire.decode(response(tt, recs))
    assert len(r) == 3
    want = {
        1: (np.int32, [[0, 0], [1, -1], [2, -2]]),
        2: (np.int64, [[[1 << 40, 0]], [[1 << 40, 1]], [[1 << 40, 2]]]),
        3: (np.float32, [[0.25, 0.0], [0.25, 1.0], [0.25, 2.0]]),
        4: (np.float64, [[0.0], [0.1], [0.2]]),
        5: (np.bool_, [[True, True], [True, False], [True, True]]),
        8: (np.int32, [[[0], [2]], [[1], [2]], [[2], [2]]]),
    }
    for key, (dtype, values) in want.items():
        got = r.tensor(key)
        assert got.dtype == dtype, key
        np.testing.assert_array_equal(got, np.array(values, dtype=dtype))
    assert r.tensor(6).tolist() == [["é", "0"], ["é", "1"], ["é", "2"]]
    assert r.tensor(7).tolist() == [[b"\xff", b"\x00"], [b"\xff", b"\x01"], [b"\xff", b"\x02"]]
    keys, values = r.continuous()
    assert keys.tolist() == [5, 6]
    np.testing.assert_array_equal(values, [[0.0, -1.0], [0.5, -1.0], [1.0, -1.0]])
    assert r.tensor_keys() == [1, 2, 3, 4, 5, 6, 7, 8]


def test_records_with_other_keys_get_nan(thrift_types):
    tt = thrift_types
    recs = [
        tt.data.DataRecord(continuousFeatures={1: 1.0, 2: 2.0}),
        tt.data.DataRecord(continuousFeatures={2: 20.0, 3: 30.0}),
        tt.data.DataRecord(),
        tt.data.DataRecord(continuousFeatures={3: 300.0, 1: 100.0}),
    ]
    keys, values = bprwire.decode(response(tt, recs)).continuous()
    assert keys.tolist() == [1, 2, 3]
    nan = np.nan
    np.testing.assert_array_equal(
        values, [[1.0, 2.0, nan], [nan, 20.0, 30.0], [nan, nan, nan], [100.0, nan, 300.0]]
    )


def test_per_record_access(thrift_types):
    w = bprwire.BatchPredictionTensorWriter([4, 5])
    emb = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    names = np.array([["a"], ["b"], ["c"]])
    r = bprwire.decode(w.encode([emb, names]))
    assert [rec.index for rec in r] == [0, 1, 2]
    np.testing.assert_array_equal(r[1].tensor(4), emb[1])
    assert r[-1].tensor(5).tolist() == ["c"]
    assert r[0].tensor_keys() == [4, 5]
    assert r[0].continuous() == {}
    with pytest.raises(IndexError):
        r[3]
    with pytest.raises(IndexError):
        r[-4]
    with pytest.raises(KeyError):
        r[0].tensor(6)
    cont = bprwire.decode(bprwire.BatchPredictionWriter([8, 9]).encode(np.array([[1.5, 2.5]])))
    assert cont[0].continuous() == {8: 1.5, 9: 2.5}
    assert "1 records" in repr(cont)


def test_tensors_that_disagree_between_records(thrift_types):
    tt = thrift_types
    T = tt.tensor
    f = lambda v, shape=None: general(tt, floatTensor=T.FloatTensor(floats=v, shape=shape))  # noqa: E731
    cases = [
        ([{1: f([1.0])}, {1: f([1.0, 2.0])}], "record 1"),
        ([{1: f([1.0])}, {1: general(tt, doubleTensor=T.DoubleTensor(doubles=[1.0]))}], "record 1 holds a doubleTensor"),
        ([{1: f([1.0])}, {}], "record 1 has no such tensor"),
        ([{}, {1: f([1.0])}], "record 0 has no such tensor"),
        ([{1: f([1.0, 2.0], shape=[3])}], "does not hold its 2 elements"),
        ([{1: f([1.0], shape=[-1])}], "negative dimension"),
        (
            [{1: general(tt, rawTypedTensor=T.RawTypedTensor(dataType=T.DataType.STRING, content=b"ab"))}],
            "data type 5",
        ),
    ]
    for tensors, needle in cases:
        data = response(tt, [tt.data.DataRecord(tensors=t) for t in tensors])
        with pytest.raises(bprwire.DecodeError) as e:
            bprwire.decode(data).tensor(1)
        assert needle in str(e.value), (needle, str(e.value))
    with pytest.raises(KeyError):
        bprwire.decode(response(tt, [tt.data.DataRecord()])).tensor(1)


def test_bad_bytes_name_the_offset():
    good = bprwire.BatchPredictionWriter([1]).encode(np.array([0.5], np.float32))
    with pytest.raises(bprwire.DecodeError, match="byte") as e:
        bprwire.decode(good[:-3])
    assert isinstance(e.value, ValueError)
    with pytest.raises(bprwire.DecodeError, match="at byte 35.*after the end"):
        bprwire.decode(good + b"\x00")
    with pytest.raises(bprwire.DecodeError, match="at byte 0"):
        bprwire.decode(b"\x08\x00\x01")
    with pytest.raises(bprwire.DecodeError):
        bprwire.decode(b"")
    with pytest.raises(TypeError):
        bprwire.decode(12)
    with pytest.raises(bprwire.DecodeError, match="(?i)frame"):
        bprwire.decode_reply(b"\x00\x00\x00\x09abc", framed=True)


def test_exception_replies_raise(thrift_types):
    from thrift.protocol.TBinaryProtocol import TBinaryProtocol
    from thrift.Thrift import TMessageType
    from thrift.transport.TTransport import TMemoryBuffer
    import prediction_service.PredictionService as service

    buf = TMemoryBuffer()
    proto = TBinaryProtocol(buf)
    proto.writeMessageBegin("getBatchPrediction", TMessageType.REPLY, 5)
    result = service.getBatchPrediction_result(
        predictionServiceException=thrift_types.ps.PredictionServiceException(description="model not loaded")
    )
    result.write(proto)
    proto.writeMessageEnd()
    with pytest.raises(bprwire.DecodeError, match="seqid 5.*model not loaded"):
        bprwire.decode_reply(buf.getvalue())


def test_bytes_are_referenced_and_other_buffers_copied():
    values = np.arange(8, dtype=np.float32).reshape(2, 4)
    data = bprwire.BatchPredictionWriter([1, 2, 3, 4]).encode(values)
    before = sys.getrefcount(data)
    r = bprwire.decode(data)
    assert sys.getrefcount(data) == before + 1  # held, not copied
    del r
    gc.collect()
    assert sys.getrefcount(data) == before
    # The response outlives the caller's reference to its bytes.
    r = bprwire.decode(bytes(data))
    gc.collect()
    np.testing.assert_array_equal(r.continuous()[1], values)
    # A bytearray is copied: changing it later does not change the response.
    mutable = bytearray(data)
    r = bprwire.decode(mutable)
    mutable[:] = b"\x00" * len(mutable)
    np.testing.assert_array_equal(r.continuous()[1], values)
    # A writer's uint8 [1, len] output decodes as it is.
    out = bprwire.BatchPredictionWriter([1, 2, 3, 4])(values)
    np.testing.assert_array_equal(bprwire.decode(out).continuous()[1], values)
    np.testing.assert_array_equal(bprwire.decode(memoryview(data)).continuous()[1], values)
