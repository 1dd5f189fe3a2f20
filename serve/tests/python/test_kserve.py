"""bprwire-serve on the KServe v2 protocol, against Triton's own Python
clients (``tritonclient.grpc`` and ``tritonclient.http``, pinned in
``.ci/run``): nobody here wrote them. BYTES requests (several per call)
and a UINT8 one; the ``response`` tensor decoded by Apache Thrift Python
and its scores checked against numpy over ``bprwire.FeatureLayout(...).
scatter``; the native ``scores`` output; health, metadata, config and
statistics; every error's status; the fault tests of the Thrift front end
that apply (an oversized message, overload, shutdown).

Loopback only, ports the server picks, every loop bounded, every server
stopped by its pid.
"""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest

tritonclient = pytest.importorskip("tritonclient")
import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from serving import Server, check_response, expected_scores, random_request  # noqa: E402

MODEL = "bprwire"
PROTOCOLS = ["grpc", "http"]


def connect(protocol: str, srv: Server):
    if protocol == "grpc":
        return grpcclient, grpcclient.InferenceServerClient(f"127.0.0.1:{srv.grpc_port}")
    return httpclient, httpclient.InferenceServerClient(f"127.0.0.1:{srv.http_port}", network_timeout=30.0)


def bytes_input(mod, requests: list[bytes]):
    i = mod.InferInput("request", [len(requests)], "BYTES")
    i.set_data_from_numpy(np.array(requests, dtype=object))
    return i


def outputs(mod, *names):
    if mod is httpclient:
        return [mod.InferRequestedOutput(n, binary_data=True) for n in names]
    return [mod.InferRequestedOutput(n) for n in names]


def decode(ts, data: bytes):
    from thrift.protocol.TBinaryProtocol import TBinaryProtocolFactory
    from thrift.TSerialization import deserialize

    return deserialize(ts.prediction_service.BatchPredictionResponse(), data, TBinaryProtocolFactory())


def status(e: InferenceServerException) -> str:
    return str(e.status())


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_triton_clients_get_numpys_scores_for_several_requests_per_call(ts, server, protocol):
    mod, c = connect(protocol, server)
    rng = random.Random(11 if protocol == "grpc" else 12)
    for _ in range(25):
        reqs = [random_request(ts, rng) for _ in range(rng.randrange(1, 6))]
        raw = [ts.dumps(r) for r in reqs]
        result = c.infer(MODEL, [bytes_input(mod, raw)], outputs=outputs(mod, "response", "scores"))
        responses = result.as_numpy("response")
        assert responses.shape == (len(reqs),)
        for req, resp in zip(reqs, responses):
            check_response(ts, req, decode(ts, resp))
        # The native output: every request's rows, in order.
        want = np.concatenate([expected_scores(r) for r in raw]) if raw else np.zeros((0, 3))
        got = result.as_numpy("scores")
        rows = sum(len(r.individualFeaturesList) for r in reqs)
        if rows == 0:  # no bytes: the HTTP client makes an empty float64 array of them
            assert got.size == 0
            continue
        assert got.dtype == np.float32 and got.shape == (rows, 3)
        np.testing.assert_allclose(got, want.reshape(got.shape), rtol=2.5e-7, atol=0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_uint8_tensor_is_one_request_and_the_default_output_is_the_response(ts, server, protocol):
    mod, c = connect(protocol, server)
    req = random_request(ts, random.Random(3), records=4)
    raw = np.frombuffer(ts.dumps(req), dtype=np.uint8)
    i = mod.InferInput("request", [raw.size], "UINT8")
    i.set_data_from_numpy(raw)
    if mod is httpclient:
        result = c.infer(MODEL, [i], outputs=outputs(mod, "response"))
    else:
        result = c.infer(MODEL, [i])
    (resp,) = result.as_numpy("response")
    check_response(ts, req, decode(ts, resp))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_health_metadata_config_and_statistics_describe_the_model(ts, server, protocol):
    mod, c = connect(protocol, server)
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready(MODEL)
    if protocol == "grpc":  # the gRPC client raises the server's NOT_FOUND
        with pytest.raises(InferenceServerException, match='no model "other"'):
            c.is_model_ready("other")
    else:  # the HTTP client says False for the 404
        assert not c.is_model_ready("other")
    md = c.get_model_metadata(MODEL)
    cfg = c.get_model_config(MODEL)
    meta = c.get_server_metadata()
    if protocol == "grpc":
        md = {"name": md.name, "inputs": [(t.name, t.datatype, list(t.shape)) for t in md.inputs],
              "outputs": [(t.name, t.datatype, list(t.shape)) for t in md.outputs]}
        cfg = {"max_batch_size": cfg.config.max_batch_size, "input": [(t.name, list(t.dims)) for t in cfg.config.input]}
        extensions = list(meta.extensions)
    else:
        md = {"name": md["name"], "inputs": [(t["name"], t["datatype"], t["shape"]) for t in md["inputs"]],
              "outputs": [(t["name"], t["datatype"], t["shape"]) for t in md["outputs"]]}
        cfg = {"max_batch_size": cfg["max_batch_size"], "input": [(t["name"], t["dims"]) for t in cfg["input"]]}
        extensions = meta["extensions"]
    assert md == {"name": MODEL, "inputs": [("request", "BYTES", [-1])],
                  "outputs": [("response", "BYTES", [-1]), ("scores", "FP32", [-1, 3])]}
    assert cfg == {"max_batch_size": 0, "input": [("request", [-1])]}
    assert "statistics" in extensions
    req = random_request(ts, random.Random(5), records=3)
    c.infer(MODEL, [bytes_input(mod, [ts.dumps(req)] * 2)], outputs=outputs(mod, "response"))
    stats = c.get_inference_statistics(MODEL)
    if protocol == "grpc":
        s = stats.model_stats[0]
        counts = (s.inference_count, s.inference_stats.success.count)
    else:
        s = stats["model_stats"][0]
        counts = (s["inference_count"], s["inference_stats"]["success"]["count"])
    assert counts == (6, 2), counts


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_error_has_its_status_and_the_server_keeps_serving(ts, server, protocol):
    mod, c = connect(protocol, server)
    good = ts.dumps(random_request(ts, random.Random(7), records=2))
    codes = {
        "grpc": {"invalid": "StatusCode.INVALID_ARGUMENT", "not_found": "StatusCode.NOT_FOUND",
                 "too_large": "StatusCode.RESOURCE_EXHAUSTED"},
        "http": {"invalid": "400", "not_found": "404", "too_large": "413"},
    }[protocol]

    def expect(code, fragment, call):
        with pytest.raises(InferenceServerException) as e:
            call()
        assert status(e.value) == codes[code], (status(e.value), str(e.value))
        assert fragment in str(e.value), str(e.value)

    expect("not_found", 'no model "nope"', lambda: c.infer("nope", [bytes_input(mod, [good])]))
    expect("invalid", "request 1: not a BatchPredictionRequest",
           lambda: c.infer(MODEL, [bytes_input(mod, [good, b"\x05junk"])], outputs=outputs(mod, "response")))
    f = mod.InferInput("request", [2], "FP32")
    f.set_data_from_numpy(np.zeros(2, np.float32))
    expect("invalid", "is FP32", lambda: c.infer(MODEL, [f], outputs=outputs(mod, "response")))
    other = mod.InferInput("features", [1], "BYTES")
    other.set_data_from_numpy(np.array([good], dtype=object))
    expect("invalid", 'unknown input "features"', lambda: c.infer(MODEL, [other], outputs=outputs(mod, "response")))
    expect("invalid", 'unknown output "nope"',
           lambda: c.infer(MODEL, [bytes_input(mod, [good])], outputs=outputs(mod, "nope")))
    big = ts.dumps(random_request(ts, random.Random(8), records=1001))  # over max_records_per_request
    expect("too_large", "1001 records", lambda: c.infer(MODEL, [bytes_input(mod, [big])], outputs=outputs(mod, "response")))
    # Still serving.
    result = c.infer(MODEL, [bytes_input(mod, [good])], outputs=outputs(mod, "response"))
    assert len(result.as_numpy("response")) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_message_over_the_limit_is_refused_whole(ts, server, protocol):
    mod, c = connect(protocol, server)
    blob = b"\x00" * (1 << 20)  # the server's max_message_bytes, plus the framing around it
    with pytest.raises(InferenceServerException) as e:
        c.infer(MODEL, [bytes_input(mod, [blob])], outputs=outputs(mod, "response"))
    want = "StatusCode.RESOURCE_EXHAUSTED" if protocol == "grpc" else "413"
    assert status(e.value) == want, (status(e.value), str(e.value))
    assert "limit" in str(e.value), str(e.value)  # the server's own message, read by the client
    good = ts.dumps(random_request(ts, random.Random(9), records=1))
    assert len(c.infer(MODEL, [bytes_input(mod, [good])], outputs=outputs(mod, "response")).as_numpy("response")) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_overload_is_resource_exhausted_and_passes(ts, tmp_path, protocol):
    # Requests of 50 records, over a batch of 1: each is charged its own
    # input arrays (50 rows), so a few fill max_queued_bytes; a call of 20
    # is submitted faster than a worker can answer 18 of them.
    # (max_records_per_request 50: the server refuses a configuration whose
    # largest request, with its arrays, could never be queued.)
    srv = Server(tmp_path, batching={"workers": 1, "max_records": 1},
                 limits={"max_message_bytes": 8192, "max_queued_bytes": 16384, "max_records_per_request": 50})
    try:
        mod, c = connect(protocol, srv)
        many = ts.dumps(ts.prediction_service.BatchPredictionRequest(
            individualFeaturesList=[ts.data.DataRecord() for _ in range(50)]))
        with pytest.raises(InferenceServerException) as e:
            c.infer(MODEL, [bytes_input(mod, [many] * 20)], outputs=outputs(mod, "response"))
        want = "StatusCode.RESOURCE_EXHAUSTED" if protocol == "grpc" else "429"
        assert status(e.value) == want and "overloaded" in str(e.value), str(e.value)
        # What was queued drains; a call of one request is answered again.
        deadline = time.monotonic() + 10
        while True:
            try:
                r = c.infer(MODEL, [bytes_input(mod, [many])], outputs=outputs(mod, "response"))
                assert len(r.as_numpy("response")) == 1
                break
            except InferenceServerException:
                assert time.monotonic() < deadline, "still overloaded after 10 s"
                time.sleep(0.05)
        # More requests in one call than the queue holds: refused whole.
        with pytest.raises(InferenceServerException) as e:
            c.infer(MODEL, [bytes_input(mod, [b""] * 1025)], outputs=outputs(mod, "response"))
        want = "StatusCode.RESOURCE_EXHAUSTED" if protocol == "grpc" else "413"
        assert status(e.value) == want and "1025 requests in one call" in str(e.value), str(e.value)
        assert srv.stop() == 0, srv.log.read_text()
    finally:
        srv.kill()


def test_sigterm_answers_calls_in_flight_then_refuses_and_exits_0(ts, tmp_path):
    srv = Server(tmp_path)
    try:
        rng = random.Random(13)
        reqs = [ts.dumps(random_request(ts, rng, records=8)) for _ in range(8)]
        answered, refused, other = [0], [0], []
        stop = threading.Event()

        def load(i):
            mod, c = connect("grpc" if i % 2 == 0 else "http", srv)
            for n in range(400):
                if stop.is_set():
                    return
                try:
                    r = c.infer(MODEL, [bytes_input(mod, reqs)], outputs=outputs(mod, "response"))
                    assert len(r.as_numpy("response")) == len(reqs)
                    answered[0] += 1
                except InferenceServerException as e:
                    if "shutting down" in str(e) or status(e) in ("StatusCode.UNAVAILABLE", "503"):
                        refused[0] += 1
                    else:
                        other.append(str(e))
                    return
                except Exception as e:  # the connection closed as the server exited
                    if "onnect" not in str(e) and "closed" not in str(e).lower() and "reset" not in str(e).lower():
                        other.append(repr(e))
                    return

        threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        assert answered[0] > 0
        code = srv.stop()
        stop.set()
        for t in threads:
            t.join(20)
        assert code == 0, srv.log.read_text()
        assert not other, other[:3]
    finally:
        srv.kill()
