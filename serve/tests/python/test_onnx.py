"""bprwire-serve running an ONNX model (ONNX Runtime through the `ort`
crate, its library the one of PyPI's `onnxruntime` wheel): a small MLP
written with the `onnx` package (serve/examples/make_mlp.py) over the
test layout. The server's scores, on gRPC and REST, equal what
`onnxruntime`'s Python API computes from the arrays
`bprwire.FeatureLayout(...).scatter` gives for the same request bytes;
the response bytes decode with Apache Thrift Python to the same scores.
A model that does not fit the layout is refused at start, naming the
input.

Tolerance: float32 outputs of the same model on the same library may
differ in the last bits when ONNX Runtime's kernels block a batch
differently (the server batches requests together, the Python side runs
each request alone): rtol 1e-5, atol 1e-6.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402

import bprwire  # noqa: E402
from serving import CONTINUOUS_KEYS, LAYOUT, TENSOR_KEY, Server, random_request  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import make_mlp  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6
K = len(CONTINUOUS_KEYS)
INPUTS = '{ continuous = "continuous", binary = "binary", discrete = "discrete", "tensor.30" = "tensor_30", "tensor.31" = "tensor_31" }'


def library() -> str:
    libs = sorted((Path(ort.__file__).parent / "capi").glob("libonnxruntime.so*"))
    assert libs, "the onnxruntime wheel has no libonnxruntime.so"
    return str(libs[0])


@pytest.fixture
def mlp(tmp_path) -> Path:
    path = tmp_path / "mlp.onnx"
    import onnx

    onnx.save(make_mlp.make(LAYOUT, hidden=8, k=K, seed=5), path)
    return path


def onnx_server(tmp_path, model_path: Path, inputs: str = INPUTS, threads: int = 1) -> Server:
    return Server(
        tmp_path,
        model=f'kind = "onnx"\npath = "{model_path}"\ninputs = {inputs}\nthreads = {threads}',
        response=f'continuous = {{ output = "scores", keys = {CONTINUOUS_KEYS} }}\n'
        f'tensors = [{{ output = "logits", key = {TENSOR_KEY} }}]',
        env={"ORT_DYLIB_PATH": library()},
    )


def expected(session, layout, raw: bytes) -> dict[str, np.ndarray]:
    """onnxruntime's Python API on the arrays bprwire's scatter gives."""
    arrays = layout.scatter(raw)
    feeds = {i.name: arrays[i.name] for i in session.get_inputs()}
    rows = len(next(iter(feeds.values())))
    if rows == 0:
        return {"scores": np.zeros((0, K), np.float32), "logits": np.zeros((0, K), np.float32)}
    scores, logits = session.run(["scores", "logits"], feeds)
    return {"scores": scores, "logits": logits}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_onnx_scores_equal_onnxruntimes_python_api_on_bprwires_scatter(ts, tmp_path, mlp, protocol):
    from thrift.protocol.TBinaryProtocol import TBinaryProtocolFactory
    from thrift.TSerialization import deserialize

    srv = onnx_server(tmp_path, mlp, threads=2)
    try:
        session = ort.InferenceSession(str(mlp), providers=["CPUExecutionProvider"])
        layout = bprwire.FeatureLayout(LAYOUT)
        mod = grpcclient if protocol == "grpc" else httpclient
        c = (mod.InferenceServerClient(f"127.0.0.1:{srv.grpc_port}") if protocol == "grpc"
             else mod.InferenceServerClient(f"127.0.0.1:{srv.http_port}"))
        kw = {"binary_data": True} if protocol == "http" else {}
        rng = random.Random(21)
        checked = 0
        for _ in range(20):
            reqs = [random_request(ts, rng, records=rng.randrange(1, 9)) for _ in range(rng.randrange(1, 4))]
            raws = [ts.dumps(r) for r in reqs]
            inp = mod.InferInput("request", [len(raws)], "BYTES")
            inp.set_data_from_numpy(np.array(raws, dtype=object))
            outs = [mod.InferRequestedOutput(n, **kw) for n in ("response", "scores", "logits")]
            result = c.infer("bprwire", [inp], outputs=outs)
            want = [expected(session, layout, r) for r in raws]
            for name in ("scores", "logits"):
                got = result.as_numpy(name)
                np.testing.assert_allclose(got, np.concatenate([w[name] for w in want]), rtol=RTOL, atol=ATOL)
            for w, resp in zip(want, result.as_numpy("response")):
                decoded = deserialize(ts.prediction_service.BatchPredictionResponse(), resp, TBinaryProtocolFactory())
                assert len(decoded.predictions) == len(w["scores"])
                for rec, s, lg in zip(decoded.predictions, w["scores"], w["logits"]):
                    got = np.array([rec.continuousFeatures[k] for k in CONTINUOUS_KEYS])
                    np.testing.assert_allclose(got, s.astype(np.float64), rtol=RTOL, atol=ATOL)
                    raw = rec.tensors[TENSOR_KEY].rawTypedTensor
                    np.testing.assert_allclose(np.frombuffer(raw.content, "<f4"), lg, rtol=RTOL, atol=ATOL)
                    checked += 1
        assert checked > 20
        assert srv.stop() == 0, srv.log.read_text()
    finally:
        srv.kill()


def check_refused(tmp_path, model_path: Path, inputs: str, fragment: str, env: dict | None = None):
    """The server refuses the configuration at start (exit 2), naming it."""
    srv_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    with pytest.raises(AssertionError) as e:
        srv = Server(
            srv_dir,
            model=f'kind = "onnx"\npath = "{model_path}"\ninputs = {inputs}',
            response=f'continuous = {{ output = "scores", keys = {CONTINUOUS_KEYS} }}',
            env=env or {"ORT_DYLIB_PATH": library()},
        )
        srv.kill()
    log = (srv_dir / "serve.log").read_text()
    assert fragment in log, (fragment, log, str(e.value))


def test_a_model_that_does_not_fit_the_layout_is_refused_at_start_naming_the_input(tmp_path, mlp):
    check_refused(tmp_path, mlp, INPUTS.replace('"tensor_31"', '"tensor_99"'),
                  'the model has no input "tensor_99"')
    # The discrete array (int64) fed to a float input.
    check_refused(tmp_path, mlp, INPUTS.replace('discrete = "discrete"', 'discrete = "continuous"')
                  .replace('continuous = "continuous"', 'continuous = "discrete"'),
                  'model input "discrete" is Int64, the layout\'s continuous array is F32')
    # An array left out: the model's input has no feed.
    check_refused(tmp_path, mlp, INPUTS.replace(', "tensor.31" = "tensor_31"', ""),
                  'model input "tensor_31" is fed by no layout array')


def test_no_onnx_runtime_library_is_a_clear_error_at_start(tmp_path, mlp):
    check_refused(tmp_path, mlp, INPUTS, "ONNX Runtime library /nonexistent/libonnxruntime.so",
                  env={"ORT_DYLIB_PATH": "/nonexistent/libonnxruntime.so"})
