"""twml's writer ops on bprwire, inside TensorFlow: eager, in a
``tf.function``, and in a Keras functional model. The bytes equal the
Python package's writers (``bprwire.BatchPredictionWriter`` /
``BatchPredictionTensorWriter``) on the same inputs, Apache Thrift Python
decodes them back to the inputs, refusals are ``InvalidArgumentError`` with
bprwire's message (and the process goes on), and a SavedModel ending in the
writer runs in a fresh process that loads only the op library.

One process for all of it but the reload test (TensorFlow imports slowly).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import keras

import bprwire
import bprwire_tfop

RNG = np.random.default_rng(3)


def three_ways_continuous(keys, values):
    """The op eager, in a tf.function, and in a Keras functional model."""
    eager = bprwire_tfop.batch_prediction_response_writer(tf.constant(keys, tf.int64), values).numpy()
    fn = tf.function(lambda v: bprwire_tfop.batch_prediction_response_writer(tf.constant(keys, tf.int64), v))
    graph = fn(tf.constant(values)).numpy()
    inp = keras.Input(shape=values.shape[1:], dtype=values.dtype.name)
    model = keras.Model(inp, bprwire_tfop.BatchPredictionWriter(keys)(inp))
    functional = np.asarray(model(values))
    return eager, graph, functional


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 3), (1, 1), (4, 3), (2, 1), (1,)])
def test_the_continuous_op_writes_the_python_writers_bytes_which_thrift_decodes(thrift_classes, dtype, shape):
    k = shape[-1] if len(shape) == 2 else 1
    keys = [int(x) for x in RNG.integers(-(2**62), 2**62, size=k)]
    values = RNG.normal(size=shape).astype(dtype)
    eager, graph, functional = three_ways_continuous(keys, values)
    expected = bprwire.BatchPredictionWriter(keys).encode(values)
    assert eager.dtype == np.uint8 and eager.shape == (1, len(expected))
    for got in (eager, graph, functional):
        assert got.tobytes() == expected
    resp = thrift_classes.response(expected)
    rows = values.reshape(values.shape[0], k)
    assert len(resp.predictions) == rows.shape[0]
    for rec, row in zip(resp.predictions, rows):
        assert rec.continuousFeatures == {key: float(v) for key, v in zip(keys, row)}


def dense_value(dtype, shape):
    if dtype == "string":
        words = np.array(["", "a", "héllo", "日本", "x" * 40], dtype=object)
        return words[RNG.integers(0, len(words), size=shape)].astype(object)
    if dtype in ("int32", "int64"):
        return RNG.integers(-(2**31), 2**31 - 1, size=shape).astype(dtype)
    return RNG.normal(size=shape).astype(dtype)


@pytest.mark.parametrize("batch", [0, 1, 3])
def test_the_tensor_op_writes_the_python_writers_bytes_for_every_dtype_and_rank(thrift_classes, batch):
    dtypes = ["string", "int32", "int64", "float32", "float64"]
    shapes = [(batch,), (batch, 2), (batch, 2, 3)]
    values = [dense_value(d, s) for d in dtypes for s in shapes]
    keys = list(range(100, 100 + len(values)))
    def to_tf(v):
        if v.dtype == object:  # strings, shape kept even when empty
            return tf.reshape(tf.constant([str(x) for x in v.ravel()], dtype=tf.string, shape=[v.size]), v.shape)
        return tf.constant(v)

    tf_values = [to_tf(v) for v in values]
    eager = bprwire_tfop.batch_prediction_tensor_response_writer(tf.constant(keys, tf.int64), tf_values).numpy()
    fn = tf.function(lambda *vs: bprwire_tfop.batch_prediction_tensor_response_writer(tf.constant(keys, tf.int64), list(vs)))
    graph = fn(*tf_values).numpy()
    layer = bprwire_tfop.BatchPredictionTensorWriter(keys)
    inputs = [keras.Input(shape=v.shape[1:], dtype="string" if v.dtype == object else v.dtype.name) for v in values]
    model = keras.Model(inputs, layer(inputs))
    functional = np.asarray(model(tf_values))
    py_values = [np.array([s.encode() for s in v.ravel()], dtype=object).reshape(v.shape) if v.dtype == object else v for v in values]
    expected = bprwire.BatchPredictionTensorWriter(keys).encode(
        [np.array([str(x) for x in v.ravel()], dtype="U40").reshape(v.shape) if v.dtype == object else v for v in values]
    )
    assert eager.tobytes() == expected
    assert graph.tobytes() == expected
    assert functional.tobytes() == expected
    resp = thrift_classes.response(expected)
    assert len(resp.predictions) == batch
    t = thrift_classes.tensor
    for i, rec in enumerate(resp.predictions):
        for key, v in zip(keys, py_values):
            got = rec.tensors[key]
            if v.dtype == object:
                assert got.stringTensor.strings == [s.decode() for s in np.atleast_1d(v[i]).ravel()]
            else:
                raw = got.rawTypedTensor
                want = {"int32": t.DataType.INT32, "int64": t.DataType.INT64, "float32": t.DataType.FLOAT, "float64": t.DataType.DOUBLE}
                assert raw.dataType == want[v.dtype.name]
                assert raw.content == np.ascontiguousarray(v[i]).astype(v.dtype.newbyteorder("<")).tobytes()


def test_output_shape_is_one_row_of_unknown_length():
    fn = tf.function(lambda v: bprwire_tfop.batch_prediction_response_writer(tf.constant([1, 2], tf.int64), v))
    concrete = fn.get_concrete_function(tf.TensorSpec([None, 2], tf.float32))
    assert concrete.output_shapes.as_list() == [1, None]
    assert bprwire_tfop.BatchPredictionWriter([1]).compute_output_shape((None, 1)) == (1, None)


def test_refusals_are_invalid_argument_with_bprwires_message_and_the_process_goes_on():
    op = bprwire_tfop.batch_prediction_response_writer
    tensor_op = bprwire_tfop.batch_prediction_tensor_response_writer
    with pytest.raises(tf.errors.InvalidArgumentError, match="last dimension of values and keys must match"):
        op(tf.constant([1, 2], tf.int64), tf.zeros([3, 3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"bprwire: .*7"):  # a repeated key, named
        op(tf.constant([7, 7], tf.int64), tf.zeros([1, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="UTF-8"):
        tensor_op(tf.constant([1], tf.int64), [tf.constant([b"\xff"])])
    with pytest.raises(tf.errors.InvalidArgumentError, match="not multiple of dense keys"):
        tensor_op(tf.constant([1, 2], tf.int64), [tf.zeros([1])] * 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one tensor per key"):
        tensor_op(tf.constant([1], tf.int64), [tf.zeros([1])] * 2)
    # Still running, and right.
    assert op(tf.constant([7], tf.int64), tf.constant([[0.5]])).numpy().shape == (1, 35)


def test_a_saved_model_ending_in_the_writer_runs_in_a_process_that_loads_only_the_op_library(tmp_path):
    keys = [1001, 1002, 1003]
    inp = keras.Input(shape=(4,), dtype="float32", name="features")
    scores = keras.layers.Dense(3, activation="sigmoid", name="scores")(inp)
    model = keras.Model(inp, bprwire_tfop.BatchPredictionWriter(keys, name="writer")(scores))
    archive = keras.export.ExportArchive()
    archive.track(model)
    # The scores too, from the same graph: the exported graph may compute
    # the Dense layer with other kernels than eager Keras (oneDNN's fused
    # ops on AVX-512 machines differ in the last bit), so the op's bytes
    # are checked against the scores of the same run.
    both = keras.Model(inp, [model.output, scores])
    archive.add_endpoint(
        name="serving_default",
        fn=lambda x: dict(zip(["prediction", "scores"], both(x))),
        input_signature=[tf.TensorSpec([None, 4], tf.float32, name="features")],
    )
    path = str(tmp_path / "model")
    archive.write_out(path)
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    expected = np.asarray(model(x)).tobytes()
    assert expected == bprwire.BatchPredictionWriter(keys).encode(np.asarray(model.layers[1](x)))
    np.save(tmp_path / "x.npy", x)
    # A fresh process: no bprwire_tfop, no keras model code; the library and the SavedModel only.
    script = f"""
import numpy as np, tensorflow as tf
tf.load_op_library({bprwire_tfop.LIBRARY!r})
m = tf.saved_model.load({path!r})
out = m.signatures["serving_default"](features=tf.constant(np.load({str(tmp_path / 'x.npy')!r})))
print(out["scores"].numpy().astype("<f4").tobytes().hex())
print(out["prediction"].numpy().tobytes().hex())
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    scores_hex, prediction_hex = run.stdout.strip().splitlines()[-2:]
    fresh_scores = np.frombuffer(bytes.fromhex(scores_hex), dtype="<f4").reshape(5, 3)
    np.testing.assert_allclose(fresh_scores, np.asarray(model.layers[1](x)), rtol=1e-6, atol=1e-7)
    assert bytes.fromhex(prediction_hex) == bprwire.BatchPredictionWriter(keys).encode(fresh_scores)
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    show = subprocess.run([cli, "show", "--dir", path, "--tag_set", "serve", "--signature_def", "serving_default"],
                          capture_output=True, text=True, timeout=300)
    assert show.returncode == 0, show.stderr[-3000:]
    out = show.stdout[show.stdout.index("outputs"):]
    assert "prediction" in out and "DT_UINT8" in out and "shape: (1, -1)" in out, show.stdout


# ---- the request side ----

SCATTER_LAYOUT = {
    "continuous": {"ids": [1, 2, 3], "dtype": "float64", "default": "nan"},
    "binary": {"ids": [4, 5], "dtype": "uint8"},
    "discrete": {"ids": [6], "default": -1},
    "tensors": [{"id": 7, "width": 2, "dtype": "float32"}, {"id": 8, "width": 3, "dtype": "int64"}],
}


def requests(n: int) -> list[bytes]:
    """`n` requests of 0-5 records each, written by bprwire's Python
    request writer from random rows (NaN continuous values left missing)."""
    layout = bprwire.FeatureLayout(SCATTER_LAYOUT)
    out = []
    for _ in range(n):
        r = int(RNG.integers(0, 6))
        cont = RNG.normal(size=(r, 3))
        cont[RNG.random((r, 3)) < 0.3] = np.nan
        out.append(layout.write_request({
            "continuous": cont,
            "binary": (RNG.random((r, 2)) < 0.5).astype(np.uint8),
            "discrete": RNG.integers(-5, 5, size=(r, 1)),
            "tensor_7": RNG.normal(size=(r, 2)).astype(np.float32),
            "tensor_8": RNG.integers(-9, 9, size=(r, 3)),
        }))
    return out


def test_the_request_scatter_op_fills_what_bprwires_python_scatter_fills_eager_in_a_graph_and_in_keras():
    raws = requests(7)
    layout = bprwire.FeatureLayout(SCATTER_LAYOUT)
    want = [layout.scatter(r) for r in raws]
    eager = bprwire_tfop.batch_prediction_request_scatter(tf.constant(raws), SCATTER_LAYOUT)
    fn = tf.function(lambda x: bprwire_tfop.batch_prediction_request_scatter(x, SCATTER_LAYOUT))
    graph = fn(tf.constant(raws))
    inp = keras.Input(shape=(), dtype="string")
    model = keras.Model(inp, bprwire_tfop.BatchPredictionRequestScatter(SCATTER_LAYOUT)(inp))
    functional = model(tf.constant(raws))
    for got in (eager, graph, functional):
        assert list(got) == [*layout.outputs, "records"]
        for name in layout.outputs:
            expected = np.concatenate([w[name] for w in want])
            assert got[name].dtype == tf.as_dtype(expected.dtype) and tuple(got[name].shape) == expected.shape
            np.testing.assert_array_equal(np.asarray(got[name]), expected)  # NaN == NaN here
        assert list(np.asarray(got["records"])) == [len(w["continuous"]) for w in want]
    # No request: arrays of no row.
    none = bprwire_tfop.batch_prediction_request_scatter(tf.constant([], tf.string), SCATTER_LAYOUT)
    assert none["tensor_8"].shape == (0, 3) and none["records"].shape == (0,)


def test_a_malformed_request_is_invalid_argument_naming_it_and_the_attributes_are_checked():
    good = requests(2)
    for bad, text in [(b"\x08\x00\x01junk", "requests[1]: bprwire:"), (good[0][:-1], "requests[1]: bprwire:")]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(text)):
            bprwire_tfop.batch_prediction_request_scatter(tf.constant([good[1], bad]), SCATTER_LAYOUT)
    arrays = bprwire_tfop.layout_arrays(SCATTER_LAYOUT)
    with pytest.raises(tf.errors.InvalidArgumentError, match="the layout says int64 of width 3"):
        bprwire_tfop._ops.batch_prediction_request_scatter(
            requests=tf.constant(good), layout=json.dumps(SCATTER_LAYOUT),
            out_types=[d for _, d, _ in arrays], widths=[w for _, _, w in arrays[:-1]] + [4])
    # In a graph the shape function refuses it when the op is added (an
    # imported graph too), rather than aborting the process.
    widths = [w for _, _, w in arrays] + [1]
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="widths has 6 entries, out_types 5"):
        tf.function(lambda x: bprwire_tfop._ops.batch_prediction_request_scatter(
            requests=x, layout=json.dumps(SCATTER_LAYOUT), out_types=[d for _, d, _ in arrays], widths=widths))(
            tf.constant(good))
    with pytest.raises(tf.errors.InvalidArgumentError, match="layout: bprwire:"):
        bprwire_tfop._ops.batch_prediction_request_scatter(
            requests=tf.constant(good), layout='{"continuous": 3}', out_types=[tf.float32], widths=[1])
