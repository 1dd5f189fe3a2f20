"""The models and the Python baseline of serve/bench/tensorflow.sh.

    python tensorflow_models.py write ROOT HIDDEN RECORDS
        ROOT/layout.json (the example layout), ROOT/mlp.onnx (make_mlp.py)
        and the same MLP as two SavedModels (make_saved_model.py, the same
        weights): ROOT/dense (scores and logits) and ROOT/written (ending in
        twml's writer op); ROOT/request.bin, one request of RECORDS
        records, and ROOT/call.bin, the same as a getBatchPrediction call
        (bprwire-load's input); the server configs ROOT/{onnx,tf_dense,tf_written}/serve.toml;
        and a check that ONNX Runtime and TensorFlow agree on the request.

    python tensorflow_models.py metrics HTTP_ADDR
        From a server's /metrics: the model's mean time per batch and the
        mean requests per batch.

    python tensorflow_models.py python ROOT SECONDS
        The same SavedModel called from Python for SECONDS, as a Python
        server would call it per request: bprwire's scatter of the request
        bytes, `tf.saved_model.load(...).signatures["serving_default"]`,
        bprwire's writer over the scores. Prints requests/s and the
        process's CPU time per request.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples"))
KEYS = [1001, 1002]


def config(layout: Path, model: str, response: str) -> str:
    return f"""[listen]
thrift = "127.0.0.1:0"
http = "127.0.0.1:0"
[layout]
path = "{layout}"
[model]
{model}
{response}
[batching]
workers = 2
max_records = 256
[limits]
max_records_per_request = 4096
"""


def write(root: Path, hidden: int, records: int) -> None:
    import onnx
    import onnxruntime as ort
    import tensorflow as tf

    import bprwire
    import make_mlp
    import make_saved_model

    layout = json.loads((HERE.parent / "examples" / "layout.json").read_text())
    (root / "layout.json").write_text(json.dumps(layout))
    onnx.save(make_mlp.make(layout, hidden=hidden, k=len(KEYS), seed=7), root / "mlp.onnx")
    model = make_saved_model.build(layout, hidden=hidden, k=len(KEYS), seed=7)
    make_saved_model.export(model, layout, str(root / "dense"))
    make_saved_model.export(model, layout, str(root / "written"), writer_keys=KEYS)
    rng = np.random.default_rng(5)
    lay = bprwire.FeatureLayout(layout)
    rows = {name: ((rng.random((records, width)) < 0.5) if name == "binary"
                   else rng.normal(size=(records, width)) * 3).astype(dtype)
            for name, (width, dtype) in lay.outputs.items()}
    request = lay.write_request(rows)
    (root / "request.bin").write_bytes(request)
    # The same as a getBatchPrediction call message, for bprwire-load:
    # header (CALL, name, seqid 0), the arguments' field 1, STOP.
    name = b"getBatchPrediction"
    head = (0x80010001).to_bytes(4, "big") + len(name).to_bytes(4, "big") + name + (0).to_bytes(4, "big")
    (root / "call.bin").write_bytes(head + b"\x0c\x00\x01" + request + b"\x00")
    # ONNX Runtime and TensorFlow compute the same function.
    arrays = lay.scatter(request)
    session = ort.InferenceSession(str(root / "mlp.onnx"), providers=["CPUExecutionProvider"])
    onnx_scores = session.run(["scores"], {i.name: arrays[i.name] for i in session.get_inputs()})[0]
    tf_scores = model({n: tf.constant(arrays[n]) for n in make_saved_model.specs(layout)})["scores"].numpy()
    np.testing.assert_allclose(tf_scores, onnx_scores, rtol=1e-4, atol=1e-5)
    continuous = f'[response]\ncontinuous = {{ output = "scores", keys = {KEYS} }}'
    tfop = HERE.parent.parent / "tfop" / "bprwire_tfop" / "libbprwire_tfop.so"
    configs = {
        "onnx": (f'kind = "onnx"\npath = "{root / "mlp.onnx"}"\nthreads = 1\ninputs = '
                 '{ continuous = "continuous", binary = "binary", discrete = "discrete", "tensor.401" = "tensor_401" }',
                 continuous),
        "tf_dense": (f'kind = "tensorflow"\npath = "{root / "dense"}"', continuous),
        "tf_written": (f'kind = "tensorflow"\npath = "{root / "written"}"\nresponse_output = "response"\n'
                       f'op_libraries = ["{tfop}"]', ""),
    }
    for name, (model_toml, response) in configs.items():
        (root / name).mkdir()
        (root / name / "serve.toml").write_text(config(root / "layout.json", model_toml, response))


def python_baseline(root: Path, seconds: float) -> None:
    import tensorflow as tf

    import bprwire
    import make_saved_model

    layout = json.loads((root / "layout.json").read_text())
    lay = bprwire.FeatureLayout(layout)
    writer = bprwire.BatchPredictionWriter(KEYS)
    signature = tf.saved_model.load(str(root / "dense")).signatures["serving_default"]
    names = list(make_saved_model.specs(layout))
    request = (root / "request.bin").read_bytes()

    def one() -> bytes:
        arrays = lay.scatter(request)
        scores = signature(**{n: tf.constant(arrays[n]) for n in names})["scores"]
        return writer.encode(scores.numpy())

    for _ in range(50):  # warm up (tracing, pools)
        one()
    n, cpu0, t0 = 0, time.process_time(), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        one()
        n += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(f"python: {n / wall:.0f} req/s, CPU {cpu / n * 1e6:.1f} us/request ({n} requests)")


def metrics(addr: str) -> None:
    import re
    import urllib.request

    text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=5).read().decode()

    def get(name: str) -> float:
        return float(re.search(r"^bprwire_" + name + r"\{[^}]*\} (\S+)", text, re.M)[1])

    per_batch = get("model_seconds_sum") / get("model_seconds_count") * 1e6
    print(f"{per_batch:.1f} us/batch, {get('batch_requests_sum') / get('batch_requests_count'):.2f} requests/batch")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    what, root = sys.argv[1], Path(sys.argv[2])
    if what == "metrics":
        metrics(sys.argv[2])
    elif what == "write":
        write(root, int(sys.argv[3]), int(sys.argv[4]))
    else:
        python_baseline(root, float(sys.argv[3]))
