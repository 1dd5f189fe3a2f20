"""Writes a small MLP as an ONNX model (with the `onnx` package) over a
bprwire feature layout: one model input per layout array, named as the
array (`continuous`, `binary`, `discrete`, `tensor_<id>`), each
`[rows, width]` of the array's type; NaN (a missing continuous feature)
read as 0; the arrays concatenated, a hidden layer (ReLU), and two
outputs: `scores` (sigmoid, `[rows, k]` float32) and `logits`
(`[rows, k]` float32).

    python make_mlp.py LAYOUT.json OUT.onnx [--hidden 8] [--k 2] [--seed 7]

The weights come from a seeded generator (mlp_spec.py), the same as
make_saved_model.py's for the same seed: both write the same function."""

from __future__ import annotations

import argparse
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mlp_spec import arrays, weights

DTYPES = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE, "int64": TensorProto.INT64, "uint8": TensorProto.UINT8}


def make(layout: dict, hidden: int = 8, k: int = 2, seed: int = 7) -> onnx.ModelProto:
    ins = arrays(layout)
    n = sum(w for _, _, w in ins)
    w1, b1, w2, b2 = weights(n, hidden, k, seed)
    nodes, inputs, parts = [], [], []
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    for name, dtype, width in ins:
        inputs.append(helper.make_tensor_value_info(name, DTYPES[dtype], ["rows", width]))
        x = name
        if dtype != "float32":
            nodes.append(helper.make_node("Cast", [x], [f"{name}_f32"], to=TensorProto.FLOAT))
            x = f"{name}_f32"
        nodes.append(helper.make_node("IsNaN", [x], [f"{name}_nan"]))
        nodes.append(helper.make_node("Where", [f"{name}_nan", "zero", x], [f"{name}_clean"]))
        parts.append(f"{name}_clean")
    nodes += [
        helper.make_node("Concat", parts, ["x"], axis=1),
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h"]),
        helper.make_node("MatMul", ["h", "w2"], ["z0"]),
        helper.make_node("Add", ["z0", "b2"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["scores"]),
    ]
    init = [zero] + [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    outputs = [
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["rows", k]),
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["rows", k]),
    ]
    graph = helper.make_graph(nodes, "bprwire_mlp", inputs, outputs, init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("layout")
    ap.add_argument("out")
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    with open(a.layout) as f:
        layout = json.load(f)
    onnx.save(make(layout, a.hidden, a.k, a.seed), a.out)
    print(f"wrote {a.out}: inputs {[n for n, _, _ in arrays(layout)]}, outputs scores and logits [rows, {a.k}]")


if __name__ == "__main__":
    main()
