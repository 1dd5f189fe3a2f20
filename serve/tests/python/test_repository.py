"""bprwire-serve's model repository driven by Triton's own clients
(``tritonclient.grpc`` and ``tritonclient.http``): the repository index,
a new version loaded and answering (its scores checked against numpy),
a version asked for by number, unload and load, and the protocol's
answers while the model is unloaded.

Loopback only, ports the server picks, every server stopped by its pid.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

tritonclient = pytest.importorskip("tritonclient")
import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from serving import CONTINUOUS_KEYS, RTOL, Server, expected_scores, random_request  # noqa: E402

MODEL = "bprwire"


def clients(srv: Server):
    return [
        (grpcclient, grpcclient.InferenceServerClient(f"127.0.0.1:{srv.grpc_port}")),
        (httpclient, httpclient.InferenceServerClient(f"127.0.0.1:{srv.http_port}", network_timeout=30.0)),
    ]


def index(mod, c) -> list[tuple[str, str, str]]:
    if mod is grpcclient:
        models = c.get_model_repository_index(as_json=True).get("models", [])
    else:
        models = c.get_model_repository_index()
    return sorted((m["name"], m.get("version", ""), m.get("state", "")) for m in models)


def scores(ts, mod, c, request, version: str = "") -> np.ndarray:
    i = mod.InferInput("request", [1], "BYTES")
    i.set_data_from_numpy(np.array([ts.dumps(request)], dtype=object))
    out = [mod.InferRequestedOutput("response", binary_data=True)] if mod is httpclient else [mod.InferRequestedOutput("response")]
    result = c.infer(MODEL, [i], outputs=out, model_version=version)
    from thrift.protocol.TBinaryProtocol import TBinaryProtocolFactory
    from thrift.TSerialization import deserialize

    raw = result.as_numpy("response")[0]
    response = deserialize(ts.prediction_service.BatchPredictionResponse(), raw, TBinaryProtocolFactory())
    return np.array([[rec.continuousFeatures[k] for k in CONTINUOUS_KEYS] for rec in response.predictions])


def test_versions_loaded_and_unloaded_through_the_repository_extension(tmp_path, ts):
    srv = Server(tmp_path, repository=True)
    try:
        rng = random.Random(32)
        request = random_request(ts, rng, records=3)
        v1, v2 = (expected_scores(ts.dumps(request), s).astype(np.float64) for s in (1.0, -1.0))
        for mod, c in clients(srv):
            assert index(mod, c) == [(MODEL, "1", "READY")]
            np.testing.assert_allclose(scores(ts, mod, c, request), v1, rtol=RTOL, atol=0)
        # Version 2 (weights negated) copied in, loaded on request.
        srv.put_version(2, -1.0)
        (gmod, g), (hmod, h) = clients(srv)
        g.load_model(MODEL)
        for mod, c in ((gmod, g), (hmod, h)):
            assert index(mod, c) == [(MODEL, "2", "READY")]
            np.testing.assert_allclose(scores(ts, mod, c, request), v2, rtol=RTOL, atol=0)
            np.testing.assert_allclose(scores(ts, mod, c, request, "2"), v2, rtol=RTOL, atol=0)
            with pytest.raises(InferenceServerException) as e:
                scores(ts, mod, c, request, "1")
            assert "no version 1 serving" in str(e.value)
        # Unloaded over HTTP: not ready, and calls get UNAVAILABLE / 503.
        h.unload_model(MODEL)
        for mod, c in ((gmod, g), (hmod, h)):
            assert not c.is_model_ready(MODEL)
            assert index(mod, c) == [(MODEL, "", "UNAVAILABLE")]
            with pytest.raises(InferenceServerException) as e:
                scores(ts, mod, c, request)
            assert str(e.value.status()) in ("StatusCode.UNAVAILABLE", "503"), e.value
            assert "no version loaded" in str(e.value)
        # Loaded again over HTTP.
        h.load_model(MODEL)
        for mod, c in ((gmod, g), (hmod, h)):
            assert c.is_model_ready(MODEL)
            np.testing.assert_allclose(scores(ts, mod, c, request), v2, rtol=RTOL, atol=0)
        # An unknown model: a clean error on both protocols.
        for mod, c in ((gmod, g), (hmod, h)):
            with pytest.raises(InferenceServerException):
                c.load_model("absent")
        assert 'bprwire_model_loads_total{model="bprwire",outcome="loaded"} 3' in srv.metrics()
        assert srv.stop() == 0, srv.log.read_text()
    finally:
        srv.kill()
