"""TensorFlow Serving's Predict path against KServe v2's gRPC infer path on
the same requests, one server: for ROUNDS rounds, each path at
concurrency 1 and 4 (threads, each a closed loop of calls holding the same
request), for SECONDS each; throughput and the server's CPU time per call
(user + system from /proc/<pid>/stat before and after). Both calls ask for
the same output (`scores`, the model's rows). Loopback only; the server is
stopped by its pid.

    python serve/bench/tfserving.py [ROUNDS] [SECONDS] [RECORDS]

Needs a venv with tensorflow (for tf.make_tensor_proto), the
tensorflow-serving-api client, tritonclient[grpc] and bprwire's wheel, and
a release build of bprwire-serve (BPRWIRE_SERVE, as the tests).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import bprwire  # noqa: E402
import grpc  # noqa: E402
import tensorflow as tf  # noqa: E402
import tritonclient.grpc as grpcclient  # noqa: E402
from serving import LAYOUT, Server  # noqa: E402
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def request_bytes(records: int) -> bytes:
    layout = bprwire.FeatureLayout(LAYOUT)
    rng = np.random.default_rng(3)
    rows = {name: ((rng.random((records, w)) < 0.5) if name == "binary" else rng.normal(size=(records, w)) * 2).astype(d)
            for name, (w, d) in layout.outputs.items()}
    return layout.write_request(rows)


def predict_call(srv: Server, raw: bytes):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}"))
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "bprwire"
    req.inputs["examples"].CopyFrom(tf.make_tensor_proto([raw], dtype=tf.string))
    req.output_filter.append("scores")
    return lambda: stub.Predict(req, timeout=10)


def kserve_call(srv: Server, raw: bytes):
    c = grpcclient.InferenceServerClient(f"127.0.0.1:{srv.grpc_port}")
    inp = grpcclient.InferInput("request", [1], "BYTES")
    inp.set_data_from_numpy(np.array([raw], dtype=object))
    out = [grpcclient.InferRequestedOutput("scores")]
    return lambda: c.infer("bprwire", [inp], outputs=out)


def run(srv: Server, make, raw: bytes, concurrency: int, seconds: float) -> tuple[float, float]:
    calls = [make(srv, raw) for _ in range(concurrency)]
    for call in calls:
        call()  # connect, warm up
    counts = [0] * concurrency
    stop = time.perf_counter() + seconds

    def loop(i: int):
        while time.perf_counter() < stop:
            calls[i]()
            counts[i] += 1

    cpu0, t0 = cpu_seconds(srv.proc.pid), time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    wall, cpu = time.perf_counter() - t0, cpu_seconds(srv.proc.pid) - cpu0
    n = sum(counts)
    return n / wall, cpu / n * 1e6


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    records = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    raw = request_bytes(records)
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    srv = Server(Path(tempfile.mkdtemp()))
    try:
        for _ in range(rounds):
            for name, make in (("KServe v2 gRPC ModelInfer", kserve_call), ("TF Serving gRPC Predict", predict_call)):
                for c in (1, 4):
                    results.setdefault((name, c), []).append(run(srv, make, raw, c, seconds))
        assert srv.stop() == 0
    finally:
        srv.kill()
    print(f"requests of {records} records, the built-in logistic model, {rounds} rounds of {seconds:.0f} s")
    print("| path | c | calls/s | server CPU us/call | calls/s of each round |")
    print("|---|---:|---:|---:|---|")
    for (name, c), v in results.items():
        spread = ", ".join(f"{x[0]:.0f}" for x in v)
        print(f"| {name} | {c} | {statistics.median(x[0] for x in v):.0f} | "
              f"{statistics.median(x[1] for x in v):.1f} | {spread} |")


if __name__ == "__main__":
    main()
