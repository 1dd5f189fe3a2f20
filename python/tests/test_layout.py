"""FeatureLayout: built from the CLI's layout description; scatter checked
against requests written by the Apache thrift library and a plain-Python
reading of them; write_request read back by thrift and by scatter."""

import json

import numpy as np
import pytest

import bprwire

DESCRIPTION = {
    "continuous": {"ids": [1, 2, 3], "dtype": "float32", "default": "nan"},
    "binary": {"ids": [10, 11], "dtype": "float32"},
    "discrete": {"ids": [20], "default": -1},
    "tensors": [{"id": 30, "width": 2, "dtype": "float32"}, {"id": 31, "width": 3, "dtype": "int64"}],
}


def layout():
    return bprwire.FeatureLayout(DESCRIPTION)


def test_built_from_a_dict_json_text_or_bytes():
    want = layout()
    for d in (json.dumps(DESCRIPTION), json.dumps(DESCRIPTION).encode()):
        assert bprwire.FeatureLayout(d).outputs == want.outputs
    assert want.outputs == {
        "continuous": (3, "float32"),
        "binary": (2, "float32"),
        "discrete": (1, "int64"),
        "tensor_30": (2, "float32"),
        "tensor_31": (3, "int64"),
    }
    assert want.continuous_ids == [1, 2, 3] and want.binary_ids == [10, 11] and want.discrete_ids == [20]
    # numpy ids, and float NaN / infinity defaults, are accepted in a dict.
    l2 = bprwire.FeatureLayout({"continuous": {"ids": np.array([4, 5]), "default": float("-inf")}})
    assert l2.continuous_ids == [4, 5]
    assert json.loads(l2.description)["continuous"]["default"] == "-inf"
    assert bprwire.FeatureLayout({}).outputs == {}


@pytest.mark.parametrize(
    "description, needle",
    [
        ({"tensor": []}, 'unknown key "tensor" in the top level'),
        ({"binary": {"ids": [1, 2.5]}}, "binary.ids[1]: 2.5 is not an integer"),
        ({"binary": {"ids": [1], "dtype": "float64"}}, "binary features cannot be float64"),
        ({"continuous": {"ids": [1, 2, 1]}}, "continuous feature id 1 is given twice"),
        ({"tensors": [{"id": 1}]}, 'tensors[0]: "width" is missing'),
        ({"discrete": {"ids": [1], "dtype": "float32"}}, "discrete features are always int64"),
        ('{"binary": {"ids": [1], "ids": [2]}}', 'the key "ids" is repeated'),
        ("[]", "expected an object"),
        ({"binary": {"ids": [object()]}}, "cannot be written as JSON"),
    ],
)
def test_description_errors_name_the_key(description, needle):
    with pytest.raises(bprwire.LayoutError) as e:
        bprwire.FeatureLayout(description)
    assert needle in str(e.value)
    assert isinstance(e.value, ValueError)


def reference_scatter(tt, request, description):
    """The documented semantics, in plain Python over thrift's structs."""
    records = request.individualFeaturesList
    common = request.commonFeatures or tt.data.DataRecord()
    rows = len(records)
    c = description["continuous"]
    out = {
        "continuous": np.full((rows, len(c["ids"])), float(c["default"]), np.float32),
        "binary": np.zeros((rows, len(description["binary"]["ids"])), np.float32),
        "discrete": np.full((rows, 1), description["discrete"]["default"], np.int64),
    }
    for t in description["tensors"]:
        out[f"tensor_{t['id']}"] = np.zeros((rows, t["width"]), np.dtype(t["dtype"]))

    def values(g):
        if g.floatTensor:
            return g.floatTensor.floats
        if g.doubleTensor:
            return g.doubleTensor.doubles
        if g.int64Tensor:
            return g.int64Tensor.longs
        raw = g.rawTypedTensor
        return np.frombuffer(raw.content, {0: "<f4", 1: "<f8", 3: "<i8"}[raw.dataType]).tolist()

    for i, rec in enumerate(records):
        for src in (common, rec):
            for j, fid in enumerate(c["ids"]):
                if src.continuousFeatures and fid in src.continuousFeatures:
                    out["continuous"][i, j] = src.continuousFeatures[fid]
            for j, fid in enumerate(description["binary"]["ids"]):
                if src.binaryFeatures and fid in src.binaryFeatures:
                    out["binary"][i, j] = 1
            if src.discreteFeatures and 20 in src.discreteFeatures:
                out["discrete"][i, 0] = src.discreteFeatures[20]
            for t in description["tensors"]:
                if src.tensors and t["id"] in src.tensors:
                    out[f"tensor_{t['id']}"][i] = values(src.tensors[t["id"]])
    return out


def thrift_request(tt, rows=5, common=True):
    T = tt.tensor
    r = np.random.default_rng(3)
    recs = []
    for i in range(rows):
        rec = tt.data.DataRecord(
            continuousFeatures={fid: float(r.standard_normal()) for fid in (1, 3, 99) if r.random() < 0.7},
            binaryFeatures={fid for fid in (10, 11, 12) if r.random() < 0.5},
            discreteFeatures={20: int(r.integers(-5, 5))} if i % 2 else None,
            tensors={
                30: [
                    T.GeneralTensor(floatTensor=T.FloatTensor(floats=[0.5, float(i)])),
                    T.GeneralTensor(doubleTensor=T.DoubleTensor(doubles=[0.25, -float(i)])),
                    T.GeneralTensor(
                        rawTypedTensor=T.RawTypedTensor(dataType=0, content=np.array([i, 1], "<f4").tobytes())
                    ),
                ][i % 3],
                31: T.GeneralTensor(int64Tensor=T.Int64Tensor(longs=[i, 1 << 50, -i])),
            }
            if i != 2
            else None,
        )
        recs.append(rec)
    c = tt.data.DataRecord(continuousFeatures={2: 7.0, 3: 8.0}, binaryFeatures={11}) if common else None
    return tt.ps.BatchPredictionRequest(individualFeaturesList=recs, commonFeatures=c)


@pytest.mark.parametrize("common", [False, True])
def test_scatter_matches_a_plain_reading_of_thrift_requests(thrift_types, common):
    tt = thrift_types
    request = thrift_request(tt, common=common)
    data = tt.dumps(request)
    got = layout().scatter(data)
    want = reference_scatter(tt, request, DESCRIPTION)
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == want[name].dtype and got[name].shape == want[name].shape, name
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert bprwire.request_info(data) == (5, common)


def test_scatter_into_caller_arrays(thrift_types):
    tt = thrift_types
    data = tt.dumps(thrift_request(tt))
    l = layout()
    want = l.scatter(data)
    out = {name: np.full((8, n), 9, dtype=dtype) for name, (n, dtype) in l.outputs.items()}
    got = l.scatter(data, out=out)
    for name in want:
        assert np.shares_memory(got[name], out[name])
        np.testing.assert_array_equal(got[name], want[name])
        np.testing.assert_array_equal(out[name][5:], np.full_like(out[name][5:], 9))
    # Mistakes in `out`, each named.
    bad = dict(out, continuous=np.zeros((8, 3), np.float64))
    with pytest.raises(bprwire.DecodeError, match="continuous"):
        l.scatter(data, out=bad)
    with pytest.raises(bprwire.DecodeError, match="continuous"):
        l.scatter(data, out=dict(out, continuous=np.zeros((2, 3), np.float32)))
    with pytest.raises(bprwire.DecodeError, match="no array for output \"binary\""):
        l.scatter(data, out={k: v for k, v in out.items() if k != "binary"})
    with pytest.raises(bprwire.DecodeError, match="no output \"extra\""):
        l.scatter(data, out=dict(out, extra=np.zeros(3)))
    with pytest.raises(bprwire.DecodeError, match="discrete"):
        l.scatter(data, out=dict(out, discrete=np.zeros((8, 1), np.float32)))
    with pytest.raises(bprwire.DecodeError, match="C-contiguous"):
        l.scatter(data, out=dict(out, tensor_30=np.zeros((8, 4), np.float32)[:, ::2]))
    shared = np.zeros((8, 3), np.float32)
    one = bprwire.FeatureLayout({"continuous": {"ids": [1, 2, 3]}, "tensors": [{"id": 5, "width": 3}]})
    with pytest.raises(bprwire.DecodeError, match="tensor_5"):
        one.scatter(data, out={"continuous": shared, "tensor_5": shared})
    frozen = np.zeros((8, 3), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(bprwire.DecodeError, match="continuous"):
        bprwire.FeatureLayout({"continuous": {"ids": [1]}}).scatter(data, out={"continuous": frozen})


def test_scatter_errors(thrift_types):
    tt = thrift_types
    T = tt.tensor
    l = layout()
    with pytest.raises(bprwire.DecodeError, match="at byte"):
        l.scatter(b"\x0f\x00\x01\x0c\x00\x00\x00\x05")
    wide = tt.ps.BatchPredictionRequest(
        individualFeaturesList=[
            tt.data.DataRecord(),
            tt.data.DataRecord(tensors={30: T.GeneralTensor(floatTensor=T.FloatTensor(floats=[1.0, 2.0, 3.0]))}),
        ]
    )
    with pytest.raises(bprwire.DecodeError, match="30") as e:
        l.scatter(tt.dumps(wide))
    assert "record 1" in str(e.value)
    text = tt.ps.BatchPredictionRequest(
        individualFeaturesList=[
            tt.data.DataRecord(tensors={31: T.GeneralTensor(stringTensor=T.StringTensor(strings=["a", "b", "c"]))})
        ]
    )
    with pytest.raises(bprwire.DecodeError, match="stringTensor"):
        l.scatter(tt.dumps(text))
    empty = l.scatter(tt.dumps(tt.ps.BatchPredictionRequest(individualFeaturesList=[])))
    assert {k: v.shape for k, v in empty.items()} == {
        "continuous": (0, 3),
        "binary": (0, 2),
        "discrete": (0, 1),
        "tensor_30": (0, 2),
        "tensor_31": (0, 3),
    }


def rows_for(l, n, seed=5):
    r = np.random.default_rng(seed)
    return {
        "continuous": np.where(r.random((n, 3)) < 0.3, np.nan, r.standard_normal((n, 3))).astype(np.float32),
        "binary": r.integers(0, 2, (n, 2)).astype(np.float32),
        "discrete": r.integers(-3, 3, (n, 1)),
        "tensor_30": r.standard_normal((n, 2)).astype(np.float32),
        31: r.integers(-9, 9, (n, 3)),
    }


def test_write_request_round_trips_and_thrift_reads_it(thrift_types):
    tt = thrift_types
    l = layout()
    rows = rows_for(l, 6)
    common = dict(
        rows_for(l, 1, seed=9),
        continuous=np.array([[0.5, np.nan, 1.0]], np.float32),
        binary=np.array([0, 1], np.float32),
    )
    rows["binary"][:, 1] = 1  # a row cannot unset a common binary feature
    for c in (None, common):
        data = l.write_request(rows, c)
        back = l.scatter(data)
        for name, a in rows.items():
            name = f"tensor_{name}" if isinstance(name, int) else name
            np.testing.assert_array_equal(back[name], a, err_msg=name)
        req = tt.loads(tt.ps.BatchPredictionRequest, data)
        assert len(req.individualFeaturesList) == 6
        np.testing.assert_array_equal(
            reference_scatter(tt, req, DESCRIPTION)["tensor_31"], rows[31]
        )
        if c is not None:
            assert req.commonFeatures.continuousFeatures == {1: 0.5, 3: 1.0}
            assert req.commonFeatures.binaryFeatures == {11}
    # The scatter output feeds straight back.
    assert l.write_request(l.scatter(data)) == l.write_request(rows)


def test_write_request_errors():
    l = layout()
    rows = rows_for(l, 4)
    cases = [
        (dict(rows, binary=np.full((4, 2), 2, np.float32)), "binary"),
        (dict(rows, continuous=np.zeros((4, 2), np.float32)), "continuous"),
        (dict(rows, continuous=np.zeros((4, 3), np.float64)), "continuous"),
        (dict(rows, discrete=np.zeros((4, 1), np.float32)), "discrete"),
        (dict(rows, extra=np.zeros((4, 1))), 'no output "extra"'),
        ({k: v for k, v in rows.items() if k != "binary"}, "binary"),
        (dict(rows, continuous=np.zeros((4, 3), np.float16)), "float16"),
    ]
    for given, needle in cases:
        with pytest.raises(bprwire.EncodeError) as e:
            l.write_request(given)
        assert needle in str(e.value), (needle, str(e.value))
    with pytest.raises(bprwire.EncodeError, match="dict"):
        l.write_request([1, 2])


def test_write_request_takes_any_layout_of_rows_and_scatter_refuses_unaligned_out():
    l = layout()
    rows = rows_for(l, 4)
    want = l.write_request(rows)
    # Big-endian, Fortran order, a step: copied once, the same request.
    other = dict(rows, continuous=rows["continuous"].astype(">f4"), discrete=np.asfortranarray(rows["discrete"]))
    wide = np.zeros((4, 4), np.float32)
    wide[:, ::2] = rows["tensor_30"]
    other["tensor_30"] = wide[:, ::2]
    assert l.write_request(other) == want
    raw = np.zeros(4 * 3 * 4 + 1, np.uint8)
    unaligned = raw[1:].view(np.float32).reshape(4, 3)
    assert not unaligned.flags.aligned
    with pytest.raises(bprwire.DecodeError, match="aligned"):
        bprwire.FeatureLayout({"continuous": {"ids": [1, 2, 3]}}).scatter(want, out={"continuous": unaligned})
