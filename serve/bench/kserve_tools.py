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
    python kserve_tools.py probe DIR HOST:GRPC_PORT HOST:HTTP_PORT
        one call of DIR/input/request over each protocol, and the model's
        config and metadata: prints what the server says (errors too).
    python kserve_tools.py summary OUT
        the tables of perf.sh's OUT/points/ (markdown).
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


def probe(folder: str, grpc_addr: str, http_addr: str) -> None:
    """One call of DIR/input/request over each protocol (tritonclient);
    prints what the server answered, error or not."""
    import numpy as np
    import tritonclient.grpc as tg
    import tritonclient.http as th

    body = (Path(folder) / "input" / "request").read_bytes()
    data = np.array([body], dtype=object)
    for kind, mod, addr in (("grpc", tg, grpc_addr), ("http", th, http_addr)):
        try:
            c = mod.InferenceServerClient(addr)
            i = mod.InferInput("request", [1], "BYTES")
            if kind == "http":
                i.set_data_from_numpy(data, binary_data=True)
                out = [th.InferRequestedOutput("response", binary_data=True)]
            else:
                i.set_data_from_numpy(data)
                out = [tg.InferRequestedOutput("response")]
            r = c.infer("bprwire", [i], outputs=out)
            print(f"tritonclient {kind} infer: ok, {len(r.as_numpy('response')[0])} response bytes")
        except Exception as e:  # what the server said
            print(f"tritonclient {kind} infer: {type(e).__name__}: {e}")
        for what, call in (("get_model_config", lambda: c.get_model_config("bprwire")),
                           ("get_model_metadata", lambda: c.get_model_metadata("bprwire"))):
            try:
                call()
                print(f"tritonclient {kind} {what}: ok")
            except Exception as e:
                print(f"tritonclient {kind} {what}: {type(e).__name__}: {e}")


def summary(out: str) -> None:
    """A markdown table per workload from perf.sh's points/: the last
    measurement of each point file (after a retry, the retry's)."""
    import re

    points = {}
    for f in sorted((Path(out) / "points").glob("*.txt")):
        w, server, proto, c = f.stem.split(".")
        text = f.read_text()
        last = text.rsplit("Request concurrency:", 1)[-1]

        def num(pattern):
            m = re.search(pattern, last)
            return float(m.group(1)) if m else None

        points[(w, server, proto, int(c[1:]))] = {
            "thr": num(r"Throughput: ([0-9.]+) infer/sec"),
            "p50": num(r"p50 latency: ([0-9]+) usec"),
            "p99": num(r"p99 latency: ([0-9]+) usec"),
            "retried": "not stable at" in text,
            "failed": "Failed to obtain stable measurement" in last or "Throughput:" not in last,
            "aborted": next((l.strip() for l in last.splitlines() if "what():" in l), None),
        }

    def ms(us):
        return "—" if us is None else f"{us / 1000:.2f}"

    def thr(x):
        return "—" if x is None else f"{x:,.1f}"

    for w in sorted({k[0] for k in points}):
        print(f"\n### {w}\n")
        print("| protocol | conc. | bprwire-serve infer/s | p50 ms | p99 ms | KServe infer/s | p50 ms | p99 ms "
              "| throughput ratio | bprwire p99 < KServe p50 |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for proto in ("grpc", "http"):
            for c in (1, 4):
                b = points.get((w, "bprwire-serve", proto, c))
                k = points.get((w, "kserve", proto, c))
                if not b or not k:
                    continue
                ratio = b["thr"] / k["thr"] if b["thr"] and k["thr"] else None
                below = (b["p99"] < k["p50"]) if b["p99"] is not None and k["p50"] is not None else None
                note = lambda p: (" (no stable result)" if p["failed"] else "") + (" (-s 60)" if p["retried"] else "")
                print(f"| {proto} | {c} | {thr(b['thr'])}{note(b)} | {ms(b['p50'])} | {ms(b['p99'])} "
                      f"| {thr(k['thr'])}{note(k)} | {ms(k['p50'])} | {ms(k['p99'])} "
                      f"| {'—' if ratio is None else f'{ratio:.1f}×'} "
                      f"| {'—' if below is None else ('yes' if below else 'no')} |")
    aborted = [(k, p["aborted"]) for k, p in points.items() if p["aborted"]]
    if aborted:
        print("\nperf_analyzer aborted after printing the client's numbers (the table keeps them) at: "
              + ", ".join(".".join(map(str, k)) for k, _ in aborted)
              + f" — {sorted({a for _, a in aborted})}")
    r1 = [(p, c, points[("R1", "bprwire-serve", p, c)]["thr"], points[("R1", "kserve", p, c)]["thr"])
          for p in ("grpc", "http") for c in (1, 4)
          if ("R1", "bprwire-serve", p, c) in points and ("R1", "kserve", p, c) in points]
    if r1:
        print("\nTarget 1, ≥ 20× KServe's throughput on R1: " + "; ".join(
            f"{p} c{c} {b / k:.1f}× {'met' if b / k >= 20 else 'NOT met'}" for p, c, b, k in r1 if b and k))
    t2 = [(w, p, points[(w, "bprwire-serve", p, 4)]["p99"], points[(w, "kserve", p, 4)]["p50"])
          for w in sorted({k[0] for k in points}) for p in ("grpc", "http")
          if (w, "bprwire-serve", p, 4) in points and (w, "kserve", p, 4) in points]
    if t2:
        print("Target 2, bprwire-serve's p99 below KServe's p50 at concurrency 4: " + "; ".join(
            f"{w} {p} {ms(b)} vs {ms(k)} ms {'met' if b is not None and k is not None and b < k else 'NOT met'}"
            for w, p, b, k in t2))


def main() -> None:
    a = sys.argv[1:]
    if a[:1] == ["request"] and len(a) == 2:
        request(a[1])
    elif a == ["port"]:
        port()
    elif a[:1] == ["wait"] and len(a) == 3:
        wait(a[1], a[2])
    elif a[:1] == ["summary"] and len(a) == 2:
        summary(a[1])
    elif a[:1] == ["probe"] and len(a) == 4:
        probe(a[1], a[2], a[3])
    elif a[:1] == ["check"] and len(a) >= 4:
        check(a[1], a[2], a[3:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
