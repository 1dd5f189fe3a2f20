"""What the example MLP writers (make_mlp.py for ONNX, make_saved_model.py
for TensorFlow) share, so that both write the same function: the inputs a
bprwire feature layout gives (one per dense array, named as bprwire's
Python `FeatureLayout.scatter` names it: `continuous`, `binary`,
`discrete`, `tensor_<id>`, in the server's order) and the seeded weights
(NaN read as 0, the arrays joined, `relu(x @ w1 + b1) @ w2 + b2` the
logits, their sigmoids the scores)."""

from __future__ import annotations

import numpy as np


def arrays(layout: dict) -> list[tuple[str, str, int]]:
    """(input name, numpy dtype, width) of each array the layout fills, in
    the server's order: continuous, binary, discrete, then each tensor."""
    out = []
    for kind, default in (("continuous", "float32"), ("binary", "uint8"), ("discrete", "int64")):
        spec = layout.get(kind)
        if spec and spec.get("ids"):
            out.append((kind, spec.get("dtype", default) if kind != "discrete" else "int64", len(spec["ids"])))
    for t in layout.get("tensors", []):
        out.append((f"tensor_{t['id']}", t.get("dtype", "float32"), t["width"]))
    return out


def weights(n_features: int, hidden: int, k: int, seed: int):
    """(w1 [n, hidden], b1 [hidden], w2 [hidden, k], b2 [k]), float32, from a
    seeded generator."""
    rng = np.random.default_rng(seed)
    return (
        rng.normal(0, 0.5, size=(n_features, hidden)).astype(np.float32),
        rng.normal(0, 0.1, size=hidden).astype(np.float32),
        rng.normal(0, 0.5, size=(hidden, k)).astype(np.float32),
        rng.normal(0, 0.1, size=k).astype(np.float32),
    )
