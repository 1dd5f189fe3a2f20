"""bprwire-serve's TensorFlow Serving gRPC API (``tensorflow.serving.
PredictionService``, what Navi speaks and its clients call) against the
``tensorflow-serving-api`` 2.21.0 client's own stub and messages: Predict
with ``tf.make_tensor_proto`` of request bytes (one and several elements)
answers ``make_ndarray``-able tensors equal to the Thrift port's scores; a
Navi-style client reading ``float_val`` only; the ``response`` output
decoded by Apache Thrift Python equal to the Thrift port's reply;
GetModelMetadata; TensorFlow Serving's error statuses; the vendored protos
against the wheel's descriptors. Its REST API (``/v1/models/...``) in both
forms with ``b64``, model status and metadata (read with the wheel's
``json_format``), and its HTTP error codes.

Loopback only, ports the server picks, every server stopped by its pid.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_serving")
import grpc  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    classification_pb2,
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving import CONTINUOUS_KEYS, K, ROOT, Server, random_request  # noqa: E402

MODEL = "bprwire"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("tfserving"))
    yield srv
    assert srv.stop() == 0, srv.log.read_text()


def stub(srv: Server):
    channel = grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}")
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def predict_request(raws: list[bytes], name: str = MODEL, **kw) -> predict_pb2.PredictRequest:
    r = predict_pb2.PredictRequest()
    r.model_spec.name = name
    r.inputs["examples"].CopyFrom(tf.make_tensor_proto(raws, dtype=tf.string))
    for k, v in kw.items():
        if k == "output_filter":
            r.output_filter.extend(v)
        elif k == "version":
            r.model_spec.version.value = v
        elif k == "signature_name":
            r.model_spec.signature_name = v
    return r


def thrift_scores(ts, srv: Server, request) -> tuple[np.ndarray, object]:
    """The Thrift port's answer to `request`: its scores and the response."""
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport

    sock = TSocket.TSocket("127.0.0.1", srv.port)
    sock.setTimeout(10_000)
    transport = TTransport.TFramedTransport(sock)
    transport.open()
    try:
        c = ts.PredictionService.Client(TBinaryProtocol.TBinaryProtocol(transport, strictWrite=True))
        response = c.getBatchPrediction(request)
    finally:
        transport.close()
    scores = np.array([[rec.continuousFeatures[k] for k in CONTINUOUS_KEYS] for rec in response.predictions])
    return scores.reshape(-1, K), response


@pytest.mark.parametrize("elements", [1, 4])
def test_predict_answers_make_ndarray_tensors_equal_to_the_thrift_ports_scores(ts, server, elements):
    rng = random.Random(60 + elements)
    s = stub(server)
    for _ in range(5):
        reqs = [random_request(ts, rng, records=rng.randrange(0, 6)) for _ in range(elements)]
        answer = s.Predict(predict_request([ts.dumps(r) for r in reqs]), timeout=20)
        assert answer.model_spec.name == MODEL and answer.model_spec.version.value == 1
        assert answer.model_spec.signature_name == "serving_default"
        got = tf.make_ndarray(answer.outputs["scores"])
        want = np.concatenate([thrift_scores(ts, server, r)[0] for r in reqs])
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_array_equal(got.astype(np.float64), want)
        # A Navi-style client: float_val only, rows in request order.
        np.testing.assert_array_equal(np.array(answer.outputs["scores"].float_val, np.float64), want.reshape(-1))


def test_the_response_output_is_the_thrift_ports_reply_decoded_by_apache_thrift(ts, server):
    from thrift.protocol.TBinaryProtocol import TBinaryProtocolFactory
    from thrift.TSerialization import deserialize

    rng = random.Random(71)
    reqs = [random_request(ts, rng, records=3) for _ in range(3)]
    answer = stub(server).Predict(predict_request([ts.dumps(r) for r in reqs], output_filter=["response", "scores"]),
                                  timeout=20)
    assert set(answer.outputs) == {"response", "scores"}
    responses = tf.make_ndarray(answer.outputs["response"])
    assert responses.shape == (3,)
    for raw, req in zip(responses, reqs):
        got = deserialize(ts.prediction_service.BatchPredictionResponse(), raw, TBinaryProtocolFactory())
        assert got == thrift_scores(ts, server, req)[1]


def test_prometheus_finds_the_metrics_where_tensorflow_serving_puts_them(server):
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/monitoring/prometheus/metrics", timeout=5) as r:
        assert b"bprwire_requests_total" in r.read()


def test_get_model_metadata_answers_the_signature(server):
    r = get_model_metadata_pb2.GetModelMetadataRequest()
    r.model_spec.name = MODEL
    r.metadata_field.append("signature_def")
    answer = stub(server).GetModelMetadata(r, timeout=10)
    sigs = get_model_metadata_pb2.SignatureDefMap()
    assert answer.metadata["signature_def"].Unpack(sigs)
    sig = sigs.signature_def["serving_default"]
    assert sig.inputs["examples"].dtype == tf.string.as_datatype_enum
    assert sig.outputs["scores"].dtype == tf.float32.as_datatype_enum
    assert [d.size for d in sig.outputs["scores"].tensor_shape.dim] == [-1, K]
    assert sig.method_name == "tensorflow/serving/predict"


def test_errors_are_tensorflow_servings_statuses(ts, server):
    s = stub(server)
    raw = ts.dumps(random_request(ts, random.Random(3), records=1))

    def status(request, call=None):
        with pytest.raises(grpc.RpcError) as e:
            (call or s.Predict)(request, timeout=10)
        return e.value.code(), e.value.details()

    code, text = status(predict_request([raw], name="nope"))
    assert code == grpc.StatusCode.NOT_FOUND and "Servable not found for request: Latest(nope" in text
    code, text = status(predict_request([raw], version=9))
    assert code == grpc.StatusCode.NOT_FOUND and "Specific(bprwire, 9)" in text
    code, text = status(predict_request([raw], signature_name="classify"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "classify" in text
    assert status(predict_pb2.PredictRequest())[0] == grpc.StatusCode.INVALID_ARGUMENT  # no model_spec
    extra = predict_request([raw])
    extra.inputs["other"].CopyFrom(tf.make_tensor_proto([1.0]))
    code, text = status(extra)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "other" in text
    missing = predict_pb2.PredictRequest()
    missing.model_spec.name = MODEL
    missing.inputs["features"].CopyFrom(tf.make_tensor_proto([raw]))
    code, text = status(missing)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "examples" in text and "features" in text
    floats = predict_pb2.PredictRequest()
    floats.model_spec.name = MODEL
    floats.inputs["examples"].CopyFrom(tf.make_tensor_proto([1.0, 2.0]))
    code, text = status(floats)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "DT_FLOAT" in text
    code, text = status(predict_request([raw], output_filter=["nope"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "nope" in text
    code, text = status(predict_request([raw, b"\x08not a request"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and re.search(r"1", text)
    code, _ = status(classification_pb2.ClassificationRequest(), s.Classify)
    assert code == grpc.StatusCode.UNIMPLEMENTED
    # A client's name is echoed cut, however long.
    code, text = status(predict_request([raw], name="n" * 100_000))
    assert code == grpc.StatusCode.NOT_FOUND and len(text) < 1200, len(text)
    # The server goes on.
    assert s.Predict(predict_request([raw]), timeout=10).outputs["scores"].float_val


def rest(srv: Server, path: str, body=None, method=None) -> tuple[int, dict]:
    """A REST call to the HTTP port: its status and JSON answer (which may
    hold NaN, as TensorFlow Serving's does)."""
    import json
    import urllib.error
    import urllib.request

    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(f"http://127.0.0.1:{srv.http_port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def b64(raw: bytes) -> dict:
    import base64

    return {"b64": base64.b64encode(raw).decode()}


def test_rest_predict_in_both_forms_equals_the_thrift_ports_scores(ts, server):
    rng = random.Random(81)
    for _ in range(4):
        reqs = [random_request(ts, rng, records=rng.randrange(1, 5)) for _ in range(rng.randrange(1, 4))]
        raws = [ts.dumps(r) for r in reqs]
        want = np.concatenate([thrift_scores(ts, server, r)[0] for r in reqs])
        # The row form, bare and named: one prediction per record.
        for instances in ([b64(r) for r in raws], [{"examples": b64(r)} for r in raws]):
            code, answer = rest(server, f"/v1/models/{MODEL}:predict", {"instances": instances})
            assert code == 200, answer
            got = np.array(answer["predictions"], np.float32)
            assert got.shape == want.shape
            np.testing.assert_array_equal(got.astype(np.float64), want)
        # The column form, versioned.
        code, answer = rest(server, f"/v1/models/{MODEL}/versions/1:predict",
                            {"signature_name": "serving_default", "inputs": {"examples": [b64(r) for r in raws]}})
        assert code == 200, answer
        np.testing.assert_array_equal(np.array(answer["outputs"], np.float32).astype(np.float64), want)


def test_rest_status_and_metadata_read_as_tensorflow_servings_messages(server):
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_status_pb2

    code, status = rest(server, f"/v1/models/{MODEL}")
    assert code == 200, status
    parsed = json_format.ParseDict(status, get_model_status_pb2.GetModelStatusResponse())
    [v] = parsed.model_version_status
    assert v.version == 1 and v.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert rest(server, f"/v1/models/{MODEL}/versions/1")[0] == 200
    code, meta = rest(server, f"/v1/models/{MODEL}/metadata")
    assert code == 200, meta
    assert meta["model_spec"]["name"] == MODEL and meta["model_spec"]["version"] == "1"
    sigs = json_format.ParseDict(meta["metadata"]["signature_def"], get_model_metadata_pb2.SignatureDefMap())
    sig = sigs.signature_def["serving_default"]
    assert sig.inputs["examples"].dtype == tf.string.as_datatype_enum
    assert [d.size for d in sig.outputs["scores"].tensor_shape.dim] == [-1, K]
    assert sig.method_name == "tensorflow/serving/predict"


def test_rest_errors_are_tensorflow_servings_http_codes(ts, server):
    raw = ts.dumps(random_request(ts, random.Random(5), records=1))
    one = {"instances": [b64(raw)]}

    def refused(path, body, code, says):
        got, answer = rest(server, path, body, method="POST" if body is not None else "GET")
        assert got == code and says in answer["error"], (path, got, answer)

    refused("/v1/models/nope:predict", one, 404, "Latest(nope")
    refused(f"/v1/models/{MODEL}/versions/9:predict", one, 404, "Specific(bprwire, 9)")
    refused(f"/v1/models/{MODEL}/labels/stable:predict", one, 404, "label")
    refused("/v1/models/nope", None, 404, "nope")
    refused(f"/v1/models/{MODEL}:predict", {"signature_name": "classify", **one}, 400, "classify")
    refused(f"/v1/models/{MODEL}:predict", b"{not json", 400, "JSON")
    refused(f"/v1/models/{MODEL}:predict", {"instances": [{"examples": b64(raw), "other": b64(raw)}]}, 400, "other")
    refused(f"/v1/models/{MODEL}:predict", {"inputs": {"features": [b64(raw)]}}, 400, "examples")
    refused(f"/v1/models/{MODEL}:predict", {"instances": [b64(b"\x08not a request")]}, 400, "0")
    refused(f"/v1/models/{MODEL}:classify", one, 501, "classify")
    refused(f"/v1/models/{MODEL}:explode", one, 400, "Malformed request")
    big = ts.dumps(random_request(ts, random.Random(6), records=1001))
    refused(f"/v1/models/{MODEL}:predict", {"instances": [b64(big)]}, 429, "1001")
    refused(f"/v1/models/{MODEL}:predict", {"instances": [b64(b"x" * (1 << 20))]}, 413, "body")
    # A name as long as the body allows is echoed cut, not whole.
    code, answer = rest(server, "/v1/models/" + "n" * 10_000 + ":predict", one, method="POST")
    assert code == 404 and len(answer["error"]) < 1200, len(answer["error"])
    # The server goes on.
    assert rest(server, f"/v1/models/{MODEL}:predict", one)[0] == 200


def test_the_input_name_is_the_configs(ts, tmp_path):
    """`[tfserving] input` names the input (Navi's --input)."""
    srv = Server(tmp_path, appended='\n[tfserving]\ninput = "requests"\n')
    try:
        raw = ts.dumps(random_request(ts, random.Random(9), records=2))
        r = predict_request([raw])
        r.inputs["requests"].CopyFrom(r.inputs.pop("examples"))
        answer = stub(srv).Predict(r, timeout=10)
        assert tf.make_ndarray(answer.outputs["scores"]).shape == (2, K)
        with pytest.raises(grpc.RpcError) as e:
            stub(srv).Predict(predict_request([raw]), timeout=10)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and '"requests"' in e.value.details()
        assert srv.stop() == 0
    finally:
        srv.kill()


def test_the_vendored_protos_match_the_tensorflow_serving_api_wheels_descriptors():
    """Every message and field of serve/proto/tensorflow_serving.proto
    (and of TensorProto), by name: the same number and type as the
    wheel's."""
    from tensorflow.core.framework import tensor_pb2
    from tensorflow_serving.apis import model_pb2, regression_pb2, inference_pb2

    real = {
        "ModelSpec": model_pb2.ModelSpec.DESCRIPTOR,
        "PredictRequest": predict_pb2.PredictRequest.DESCRIPTOR,
        "PredictResponse": predict_pb2.PredictResponse.DESCRIPTOR,
        "SignatureDefMap": get_model_metadata_pb2.SignatureDefMap.DESCRIPTOR,
        "GetModelMetadataRequest": get_model_metadata_pb2.GetModelMetadataRequest.DESCRIPTOR,
        "GetModelMetadataResponse": get_model_metadata_pb2.GetModelMetadataResponse.DESCRIPTOR,
        "ClassificationRequest": classification_pb2.ClassificationRequest.DESCRIPTOR,
        "ClassificationResponse": classification_pb2.ClassificationResponse.DESCRIPTOR,
        "RegressionRequest": regression_pb2.RegressionRequest.DESCRIPTOR,
        "RegressionResponse": regression_pb2.RegressionResponse.DESCRIPTOR,
        "MultiInferenceRequest": inference_pb2.MultiInferenceRequest.DESCRIPTOR,
        "MultiInferenceResponse": inference_pb2.MultiInferenceResponse.DESCRIPTOR,
        "TensorProto": tensor_pb2.TensorProto.DESCRIPTOR,
    }
    scalar = {"int64": 3, "int32": 5, "bool": 8, "string": 9, "bytes": 12, "float": 2, "double": 1}
    checked = 0
    for path in ("tensorflow_serving.proto", "tensorflow.proto"):
        text = (ROOT / "serve" / "proto" / path).read_text()
        message = None
        for line in text.splitlines():
            line = line.split("//")[0].strip()
            if m := re.match(r"message (\w+) \{", line):
                message = m[1] if m[1] in real else None
            elif line.startswith("service"):
                message = None
            elif message and (m := re.match(r"(repeated )?(map<[\w.]+, [\w.]+>|[\w.]+) (\w+) = (\d+);", line)):
                f = real[message].fields_by_name[m[3]]
                assert f.number == int(m[4]), (message, line)
                kind = m[2]
                if kind in scalar:
                    assert f.type == scalar[kind], (message, line)
                elif not kind.startswith("map<"):
                    named = f.message_type or f.enum_type
                    assert named.full_name.endswith(kind.split(".")[-1]), (message, line)
                checked += 1
    assert checked == 24  # 14 of TensorFlow Serving's, 10 of TensorProto
    from tensorflow_serving.apis import prediction_service_pb2

    service = prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"]
    assert [m.name for m in service.methods] == ["Classify", "Regress", "Predict", "MultiInference", "GetModelMetadata"]
