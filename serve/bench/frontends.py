"""The server's CPU time per call on each front end, for the same request
and model, one server: Thrift (a framed `getBatchPrediction`, raw socket),
KServe v2 gRPC `ModelInfer` and REST `infer` (tritonclient, the request as
one BYTES element, binary on the wire), TensorFlow Serving gRPC `Predict`
(tensorflow-serving-api) and REST `:predict` (`{"b64": ...}` instances).
For ROUNDS rounds, each path at concurrency 1 and 4 (threads, each a closed
loop of calls holding the same request), for SECONDS each: throughput and
the server's CPU time per call (user + system from /proc/<pid>/stat before
and after). Every path asks for the same output (`scores`, the model's
rows). Loopback only; the server is stopped by its pid.

    python serve/bench/frontends.py [ROUNDS] [SECONDS] [RECORDS] [PATH...]

PATH: thrift, kserve-grpc, kserve-rest, tfs-grpc, tfs-rest (default all).
Needs a venv with tensorflow (for tf.make_tensor_proto), the
tensorflow-serving-api client, tritonclient[grpc] and bprwire's
wheel, and a release build of bprwire-serve (BPRWIRE_SERVE, as the tests).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import statistics
import struct
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


def post_call(srv: Server, path: str, body: bytes, head: dict):
    """A closed loop's call: `body` POSTed to `path` on one kept-alive
    connection, its answer read whole (200 or an assertion)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=10)

    def call():
        conn.request("POST", path, body, head)
        r = conn.getresponse()
        data = r.read()
        assert r.status == 200, data[:200]
        return data

    return call


def kserve_rest_call(srv: Server, raw: bytes):
    """KServe's binary extension, as tritonclient.http writes it (its
    gevent client cannot be shared by threads): a JSON header, then the
    BYTES element, its 4-byte length first."""
    header = json.dumps({
        "inputs": [{"name": "request", "shape": [1], "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw) + 4}}],
        "outputs": [{"name": "scores", "parameters": {"binary_data": True}}],
    }).encode()
    body = header + struct.pack("<I", len(raw)) + raw
    head = {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"}
    return post_call(srv, "/v2/models/bprwire/infer", body, head)


def tfs_rest_call(srv: Server, raw: bytes):
    body = json.dumps({"instances": [{"b64": base64.b64encode(raw).decode()}]}).encode()
    return post_call(srv, "/v1/models/bprwire:predict", body, {"Content-Type": "application/json"})


def thrift_call(srv: Server, raw: bytes):
    """`getBatchPrediction(request)`, framed, on one socket: the call's
    envelope and args struct around the request's own bytes."""
    method = b"getBatchPrediction"
    msg = (struct.pack(">Ii", 0x80010001, len(method)) + method + struct.pack(">i", 1)
           + b"\x0c\x00\x01" + raw + b"\x00")
    frame = struct.pack(">i", len(msg)) + msg
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def exact(n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            assert chunk, "server closed"
            buf += chunk
        return bytes(buf)

    def call():
        sock.sendall(frame)
        reply = exact(struct.unpack(">i", exact(4))[0])
        assert reply[:4] == b"\x80\x01\x00\x02", reply[:40]  # a REPLY, not an EXCEPTION
        return reply

    return call


PATHS = {
    "thrift": ("Thrift getBatchPrediction", thrift_call),
    "kserve-grpc": ("KServe v2 gRPC ModelInfer", kserve_call),
    "kserve-rest": ("KServe v2 REST infer (binary)", kserve_rest_call),
    "tfs-grpc": ("TF Serving gRPC Predict", predict_call),
    "tfs-rest": ("TF Serving REST :predict", tfs_rest_call),
}


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
    paths = sys.argv[4:] or list(PATHS)
    raw = request_bytes(records)
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    srv = Server(Path(tempfile.mkdtemp()))
    try:
        for _ in range(rounds):
            for name, make in (PATHS[p] for p in paths):
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
