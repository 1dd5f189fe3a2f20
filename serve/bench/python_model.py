"""The model both Python baselines serve (baseline_server.py: Apache
Thrift's server; kserve_baseline.py: the KServe Python server): the layout,
weights and response keys of a ``bprwire-load setup`` folder, a Python
scatter of a decoded ``BatchPredictionRequest`` into numpy arrays by dict
lookups, and the logistic model in numpy (``x @ w + b``): what a Python
user writes without bprwire."""

import json
import tomllib
from pathlib import Path

import numpy as np


def load_model(folder: Path):
    """The model of a ``bprwire-load setup`` folder: (index maps, weights,
    bias, response keys)."""
    layout = json.loads((folder / "layout.json").read_text())
    w = np.load(folder / "weights.npy")
    b = np.load(folder / "bias.npy")
    config = tomllib.loads((folder / "serve.toml").read_text())
    cont_spec = config.get("response", {}).get("continuous")
    if not cont_spec:
        raise SystemExit(f"{folder}/serve.toml: only [response] continuous = {{ keys = [...] }} is served here")
    keys = cont_spec["keys"]
    if not all(isinstance(k, int) for k in keys):
        raise SystemExit(f"{folder}/serve.toml: response keys must be integers here, got {keys!r}")
    if len(keys) != len(b):
        raise SystemExit(f"{folder}/serve.toml: {len(keys)} response keys for {len(b)} model outputs")
    return {
        "cont": {i: j for j, i in enumerate(layout.get("continuous", {}).get("ids", []))},
        "binary": {i: j for j, i in enumerate(layout.get("binary", {}).get("ids", []))},
        "disc": {i: j for j, i in enumerate(layout.get("discrete", {}).get("ids", []))},
        "tensors": [(t["id"], t["width"]) for t in layout.get("tensors", [])],
        "w": w,
        "b": b,
        "keys": keys,
    }


def scores(m, request) -> np.ndarray:
    """Float32 scores [records, k] of a decoded ``BatchPredictionRequest``:
    the scatter (the record's own values over the common features'), then
    the model."""
    cont, binary, disc, tensors = m["cont"], m["binary"], m["disc"], m["tensors"]
    records = request.individualFeaturesList or []
    n = len(records)
    xc = np.full((n, len(cont)), np.nan, dtype=np.float32)
    xb = np.zeros((n, len(binary)), dtype=np.float32)
    xd = np.zeros((n, len(disc)), dtype=np.int64)
    xt = {tid: np.zeros((n, width), dtype=np.float32) for tid, width in tensors}
    common = request.commonFeatures
    for i, record in enumerate(records):
        for r in (common, record):  # the record's own values win
            if r is None:
                continue
            if r.continuousFeatures:
                for k, v in r.continuousFeatures.items():
                    j = cont.get(k)
                    if j is not None:
                        xc[i, j] = v
            if r.binaryFeatures:
                for k in r.binaryFeatures:
                    j = binary.get(k)
                    if j is not None:
                        xb[i, j] = 1
            if r.discreteFeatures:
                for k, v in r.discreteFeatures.items():
                    j = disc.get(k)
                    if j is not None:
                        xd[i, j] = v
            if r.tensors:
                for k, t in r.tensors.items():
                    if k in xt and t.floatTensor is not None:
                        xt[k][i, :] = t.floatTensor.floats
    x = np.concatenate([xc, xb, xd] + [xt[tid] for tid, _ in tensors], axis=1).astype(np.float64)
    x[np.isnan(x)] = 0.0
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-(x @ m["w"] + m["b"])))).astype(np.float32)
