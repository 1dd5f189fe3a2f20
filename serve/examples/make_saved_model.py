"""Writes a small Keras MLP over a bprwire feature layout as a TensorFlow
SavedModel, for bprwire-serve's `kind = "tensorflow"`: its
`serving_default` signature takes one input per layout array, named as the
array (`continuous`, `binary`, `discrete`, `tensor_<id>`), each
`[rows, width]` of the array's type; NaN (a missing continuous feature) is
read as 0; the arrays are joined, a hidden layer (ReLU), then two outputs:
`logits` and `scores` (their sigmoids), `[rows, k]` float32.

With `--writer KEY,...` the signature ends in twml's writer op instead
(`BatchPredictionWriter` of bprwire's `tfop`, built with tfop/build.sh):
its one output, `response`, is the `BatchPredictionResponse` of the
scores under those keys (uint8 `[1, len]`), for `response_output`.
With `--requests` its one input is `requests`, the serialized
`BatchPredictionRequest`s (string `[n]`), scattered into the layout's
arrays by tfop's `BatchPredictionRequestScatter`, for `request_input`.

    python make_saved_model.py LAYOUT.json OUT_DIR [--hidden 8] [--k 2] [--seed 7] [--writer 1001,1002] [--requests]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import keras
import tensorflow as tf

from mlp_spec import arrays, weights


def specs(layout: dict) -> dict[str, tf.TensorSpec]:
    """The signature's inputs: one per layout array."""
    return {name: tf.TensorSpec([None, width], tf.as_dtype(dtype), name=name) for name, dtype, width in arrays(layout)}


def build(layout: dict, hidden: int = 8, k: int = 2, seed: int = 7) -> keras.Model:
    """The Keras functional model: inputs named after the layout's arrays,
    outputs `{"scores", "logits"}`; the weights of mlp_spec.py (those of
    make_mlp.py's ONNX model for the same seed)."""
    inputs = {n: keras.Input(shape=s.shape[1:], dtype=s.dtype.name, name=n) for n, s in specs(layout).items()}
    parts = [keras.ops.nan_to_num(keras.ops.cast(x, "float32"), nan=0.0) for x in inputs.values()]
    x = keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    hidden_layer = keras.layers.Dense(hidden, activation="relu")
    logits_layer = keras.layers.Dense(k, name="logits")
    logits = logits_layer(hidden_layer(x))
    scores = keras.layers.Activation("sigmoid", name="scores")(logits)
    w1, b1, w2, b2 = weights(sum(w for _, _, w in arrays(layout)), hidden, k, seed)
    hidden_layer.set_weights([w1, b1])
    logits_layer.set_weights([w2, b2])
    return keras.Model(inputs, {"scores": scores, "logits": logits})


def tfop():
    """bprwire's TensorFlow ops: the installed bprwire-tfop wheel, else
    the tree's tfop/ (built in place with tfop/build.sh)."""
    try:
        import bprwire_tfop
    except ImportError:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tfop"))
        import bprwire_tfop
    return bprwire_tfop


def export(model: keras.Model, layout: dict, path: str, writer_keys: list[int] | None = None,
           requests: bool = False) -> str:
    """`model` as a SavedModel at `path`: the signature takes the layout's
    arrays (or, with `requests`, the serialized requests) and gives
    `scores` and `logits` (or, with `writer_keys`, the writer op's
    `response`)."""
    signature = specs(layout)
    if writer_keys is not None:
        writer = tfop().BatchPredictionWriter(keys=writer_keys)
    if requests:
        scatter = tfop().BatchPredictionRequestScatter(layout)

    def head(out):
        if writer_keys is not None:
            return {"response": writer(out["scores"])}
        return {"scores": out["scores"], "logits": out["logits"]}

    def serve(*xs):
        return head(model(dict(zip(signature, xs))))

    def serve_requests(requests):
        arrays = scatter(requests)
        return head(model({n: arrays[n] for n in signature}))

    # Keras' ExportArchive tracks the model's variables so that
    # TensorFlow's C++ loader (TF_LoadSessionFromSavedModel, as TensorFlow
    # Serving uses) restores them: a bare tf.Module does not.
    archive = keras.export.ExportArchive()
    archive.track(model)
    if requests:
        archive.add_endpoint(name="serving_default", fn=serve_requests,
                             input_signature=[tf.TensorSpec([None], tf.string, name="requests")])
    else:
        archive.add_endpoint(name="serving_default", fn=serve, input_signature=list(signature.values()))
    archive.write_out(path, verbose=False)
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("layout")
    p.add_argument("out")
    p.add_argument("--hidden", type=int, default=8)
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--writer", help="comma-separated int64 keys: end in twml's writer op")
    p.add_argument("--requests", action="store_true", help="take the serialized requests (tfop's scatter op)")
    a = p.parse_args()
    with open(a.layout) as f:
        layout = json.load(f)
    keys = [int(k) for k in a.writer.split(",")] if a.writer else None
    export(build(layout, a.hidden, a.k, a.seed), layout, a.out, keys, a.requests)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
