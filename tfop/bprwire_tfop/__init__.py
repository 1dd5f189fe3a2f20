"""twml's writer ops and Keras layers, on bprwire; and the request side.

``tfop/build.sh`` builds ``libbprwire_tfop.so`` beside this file, against
the TensorFlow this Python imports; ``tfop/wheel.sh`` packs both into the
``bprwire-tfop`` wheel, which requires that TensorFlow's minor release. Loading it registers twml's two ops,
``BatchPredictionResponseWriter`` and ``BatchPredictionTensorResponseWriter``
(names, attributes, inputs and outputs as libtwml registers them), so a
graph or SavedModel that uses them runs with this library in place of
libtwml; and bprwire's ``BatchPredictionRequestScatter``, serialized
``BatchPredictionRequest`` messages in, a feature layout's dense arrays out (the
``BatchPredictionRequestScatter`` layer), so a whole model can take the
raw request bytes and end in the writer.

    import bprwire_tfop
    layer = bprwire_tfop.BatchPredictionWriter(keys=[1001, 1002])
    response = layer(scores)            # uint8 [1, len]: the Thrift bytes

A process that only serves a SavedModel needs only the library:
``tf.load_op_library(bprwire_tfop.LIBRARY)`` (or its path), then
``tf.saved_model.load``.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libbprwire_tfop.so")


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def _load():
    if not os.path.exists(LIBRARY):
        raise ImportError(f"{LIBRARY} is not built: run tfop/build.sh (or install the bprwire-tfop wheel)")
    built_for = open(os.path.join(os.path.dirname(LIBRARY), "TF_VERSION")).read().strip()
    # A minor release keeps TensorFlow's C++ ABI across its patch releases
    # (the wheel requires tensorflow-cpu==X.Y.*, as tensorflow-text does).
    if _minor(built_for) != _minor(tf.__version__):
        raise ImportError(
            f"{LIBRARY} was built for TensorFlow {built_for}, this is {tf.__version__}: "
            "install the bprwire-tfop wheel built for it, or run tfop/build.sh again"
        )
    return tf.load_op_library(LIBRARY)


_ops = _load()


def batch_prediction_response_writer(keys, values):
    """twml's ``BatchPredictionResponseWriter``: ``keys`` int64 ``[k]``,
    ``values`` float/double ``[batch, k]`` -> uint8 ``[1, len]``."""
    return _ops.batch_prediction_response_writer(keys=keys, values=values)


def batch_prediction_tensor_response_writer(keys, values):
    """twml's ``BatchPredictionTensorResponseWriter``: ``keys`` int64 ``[n]``,
    ``values`` a list of ``n`` tensors (string, int32, int64, float, double;
    dim 0 the batch) -> uint8 ``[1, len]``."""
    return _ops.batch_prediction_tensor_response_writer(keys=keys, values=list(values))


def layout_arrays(layout) -> list[tuple[str, tf.DType, int]]:
    """(name, dtype, width) of each dense array of ``layout`` (a dict or
    its JSON), in the op's order: as bprwire's Python ``FeatureLayout``
    names, types and orders them (its ``outputs``)."""
    import bprwire

    outputs = bprwire.FeatureLayout(layout).outputs
    return [(name, tf.as_dtype(dtype), int(width)) for name, (width, dtype) in outputs.items()]


def batch_prediction_request_scatter(requests, layout) -> dict:
    """bprwire's ``BatchPredictionRequestScatter``: serialized requests
    (string ``[n]``) -> ``{name: [records, width]}`` for each of the
    layout's arrays (named as ``bprwire.FeatureLayout.scatter`` names them),
    and ``records`` (int64 ``[n]``, each request's record count)."""
    arrays = layout_arrays(layout)
    text = layout if isinstance(layout, str) else json.dumps(layout)
    outs, records = _ops.batch_prediction_request_scatter(
        requests=requests, layout=text, out_types=[d for _, d, _ in arrays], widths=[w for _, _, w in arrays]
    )
    return {**{n: t for (n, _, _), t in zip(arrays, outs)}, "records": records}


@keras.saving.register_keras_serializable(package="bprwire")
class BatchPredictionRequestScatter(keras.layers.Layer):
    """Serialized ``BatchPredictionRequest`` messages (string ``[n]``) as the
    layout's dense arrays, ``{name: [records, width]}`` (and ``records``,
    each request's record count): the first layer of a model that takes
    the raw request bytes."""

    def __init__(self, layout, **kwargs):
        super().__init__(**kwargs)
        self.layout = layout if isinstance(layout, str) else json.dumps(layout)
        self._arrays = layout_arrays(self.layout)

    def call(self, requests):
        return batch_prediction_request_scatter(requests, self.layout)

    def compute_output_spec(self, requests):
        out = {n: keras.KerasTensor((None, w), dtype=d.name) for n, d, w in self._arrays}
        return {**out, "records": keras.KerasTensor((None,), dtype="int64")}

    def get_config(self):
        return {**super().get_config(), "layout": self.layout}


class _Writer(keras.layers.Layer):
    """What both writer layers share: the keys, the output's shape and
    type (one row of bytes), the config."""

    def __init__(self, keys, **kwargs):
        # The values go out as they come: no cast of float64 to the
        # layer's float32 compute type (Keras' default for float inputs).
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.keys = [int(k) for k in keys]

    def compute_output_shape(self, input_shape):
        return (1, None)

    def compute_output_spec(self, values):
        return keras.KerasTensor((1, None), dtype="uint8")

    def get_config(self):
        return {**super().get_config(), "keys": self.keys}


@keras.saving.register_keras_serializable(package="bprwire")
class BatchPredictionWriter(_Writer):
    """twml's ``BatchPredictionWriter``: the continuous predictions of a model
    (``[batch, len(keys)]``, float32 or float64) as a ``BatchPredictionResponse``,
    one ``DataRecord`` per row with a ``continuousFeatures`` map under ``keys``.
    Returns the Thrift bytes, uint8 ``[1, len]``."""

    def call(self, values):
        return batch_prediction_response_writer(tf.constant(self.keys, dtype=tf.int64), values)


@keras.saving.register_keras_serializable(package="bprwire")
class BatchPredictionTensorWriter(_Writer):
    """twml's ``BatchPredictionTensorWriter``: dense tensors (a list, one per
    key; dim 0 the batch) as a ``BatchPredictionResponse`` in twml's raw
    encoding. Returns the Thrift bytes, uint8 ``[1, len]``."""

    def call(self, values):
        if not isinstance(values, (list, tuple)):
            values = [values]
        return batch_prediction_tensor_response_writer(tf.constant(self.keys, dtype=tf.int64), values)
