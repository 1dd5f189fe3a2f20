"""Helpers of serve/bench/perf.sh (standard library, plus tritonclient,
numpy and thrift for ``check``).

    python kserve_tools.py request DIR
        DIR/input/request: the bare BatchPredictionRequest of
        DIR/request.bin (bprwire-load's unframed getBatchPrediction CALL);
        DIR/input.json: the same as perf_analyzer's JSON --input-data (one
        BYTES element, "b64"), the form perf_analyzer sends unchanged.
    python kserve_tools.py port
        a free TCP port on 127.0.0.1.
    python kserve_tools.py wait URL SECONDS
        waits (bounded) until GET URL answers 200.
    python kserve_tools.py check GEN DIR NAME=HOST:GRPC_PORT,HTTP_PORT ...
        sends DIR/input/request (and a 3-element call of it) over gRPC and
        HTTP (tritonclient) to each server, decodes each `response`
        element with the Thrift classes of GEN and compares the scores of
        every server with the first's (float32 rounding). Exit 1 on a
        mismatch.
"""

import struct
import sys
import time
import urllib.request
from pathlib import Path


def bare_request(msg: bytes) -> bytes:
    """The BatchPredictionRequest inside an unframed strict-binary CALL:
    version/type (4), name (4 + len), seqid (4), the args struct's field 1
    header (0x0C, 0x00 0x01), the request struct, the args' STOP."""
    if msg[:4] != b"\x80\x01\x00\x01":
        raise SystemExit("request.bin: not a strict binary CALL message")
    (name_len,) = struct.unpack(">i", msg[4:8])
    at = 8 + name_len + 4
    if msg[at:at + 3] != b"\x0c\x00\x01" or msg[-1:] != b"\x00":
        raise SystemExit("request.bin: not getBatchPrediction(1: BatchPredictionRequest)")
    return msg[at + 3:-1]


def request(folder: str) -> None:
    """DIR/input/request (the bare request) and DIR/input.json (the same
    as perf_analyzer's JSON --input-data: one BYTES element, b64)."""
    import base64
    import json

    d = Path(folder)
    body = bare_request((d / "request.bin").read_bytes())
    (d / "input").mkdir(exist_ok=True)
    (d / "input" / "request").write_bytes(body)
    # perf_analyzer reads a BYTES file of an --input-data directory as text,
    # one element per line (std::getline): a Thrift request holding a 0x0A
    # byte becomes several elements, each missing its newlines. Its JSON
    # form's "b64" is copied as the tensor's raw data unchanged, so for
    # BYTES it must be the serialized tensor: a 4-byte little-endian length,
    # then the element.
    element = struct.pack("<I", len(body)) + body
    doc = {"data": [{"request": {"b64": base64.b64encode(element).decode("ascii"), "shape": [1]}}]}
    (d / "input.json").write_text(json.dumps(doc))
    print(f"{d}/input/request: {len(body)} bytes ({body.count(10)} newline bytes); "
          f"{d}/input.json: the same as one b64 BYTES element")


def port() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def wait(url: str, seconds: str) -> None:
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url}: not ready after {seconds} s")


def check(gen: str, folder: str, servers: list) -> None:
    import numpy as np
    import tritonclient.grpc as tg
    import tritonclient.http as th

    sys.path.insert(0, gen)
    from prediction_service.ttypes import BatchPredictionRequest, BatchPredictionResponse
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TTransport

    body = (Path(folder) / "input" / "request").read_bytes()
    req = BatchPredictionRequest()
    t = TTransport.TMemoryBuffer(body)
    req.read(TBinaryProtocol.TBinaryProtocol(t))
    records = len(req.individualFeaturesList)

    def decode(element: bytes):
        r = BatchPredictionResponse()
        r.read(TBinaryProtocol.TBinaryProtocol(TTransport.TMemoryBuffer(element)))
        keys = sorted(r.predictions[0].continuousFeatures) if r.predictions else []
        return keys, np.array([[p.continuousFeatures[k] for k in keys] for p in r.predictions])

    def call(kind, host, port, n):
        data = np.array([body] * n, dtype=object)
        if kind == "grpc":
            c = tg.InferenceServerClient(f"{host}:{port}")
            i = tg.InferInput("request", [n], "BYTES")
            i.set_data_from_numpy(data)
            res = c.infer("bprwire", [i], outputs=[tg.InferRequestedOutput("response")])
        else:
            c = th.InferenceServerClient(f"{host}:{port}", network_timeout=120.0)
            i = th.InferInput("request", [n], "BYTES")
            i.set_data_from_numpy(data, binary_data=True)
            res = c.infer("bprwire", [i], outputs=[th.InferRequestedOutput("response", binary_data=True)])
        out = res.as_numpy("response")
        assert out.shape == (n,), out.shape
        return [decode(e) for e in out]

    reference = None
    ok = True
    for spec in servers:
        name, addr = spec.split("=", 1)
        host, ports = addr.rsplit(":", 1)
        grpc_port, http_port = ports.split(",")
        for kind, p in (("grpc", grpc_port), ("http", http_port)):
            for n in (1, 3):
                got = call(kind, host, p, n)
                worst, same = 0.0, True
                for keys, s in got:
                    if s.shape[0] != records:
                        print(f"{name} {kind} n={n}: {s.shape[0]} predictions for {records} records")
                        ok = same = False
                        continue
                    if reference is None:
                        reference = (keys, s)
                        print(f"reference: {name} {kind}: {records} records, keys {keys}, "
                              f"first record's scores {s[0].tolist()}")
                    if keys != reference[0] or s.shape != reference[1].shape:
                        ok = same = False
                        continue
                    worst = max(worst, float(np.max(np.abs(s - reference[1]))))
                    # float32 scores: within a few float32 ulps of the reference.
                    if not np.allclose(s, reference[1], rtol=1e-6, atol=1e-7):
                        ok = same = False
                print(f"{name} {kind} call of {n}: {len(got)} responses, max |score - reference| = {worst:.3g}"
                      f"{'' if same else '  MISMATCH'}")
    if not ok:
        raise SystemExit(1)


def main() -> None:
    a = sys.argv[1:]
    if a[:1] == ["request"] and len(a) == 2:
        request(a[1])
    elif a == ["port"]:
        port()
    elif a[:1] == ["wait"] and len(a) == 3:
        wait(a[1], a[2])
    elif a[:1] == ["check"] and len(a) >= 4:
        check(a[1], a[2], a[3:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
