"""The dense arrays a bprwire feature layout fills, as the example model
writers (make_mlp.py for ONNX, make_saved_model.py for TensorFlow) name
their inputs: one per array, named as bprwire's Python
`FeatureLayout.scatter` names it (`continuous`, `binary`, `discrete`,
`tensor_<id>`), in the server's order."""

from __future__ import annotations


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
