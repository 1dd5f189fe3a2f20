"""``docs/kserve.md``'s manifests, taken from the page itself and checked
as a cluster would check them, short of a cluster:

- KServe's InferenceService CRD schema (v1beta1; a copy, descriptions
  dropped, in ``serve/tests/kserve/``, made by
  ``scripts/vendor-kserve-crd.py``), strict as ``kubectl apply`` with
  field validation: an unknown field is refused;
- Kubernetes' own schemas for the ConfigMap and the Service
  (``kubernetes-validate``, strict);
- Knative's rules, which no schema carries (knative.dev/serving's
  ``pkg/apis/serving`` field masks and ``k8s_validation.go``): pod fields
  its webhook refuses, one container port named ``http1`` or ``h2c`` and
  not one of queue-proxy's, probe kinds, read-only volume mounts; and
  that the server's own addresses stay off queue-proxy's ports, that the
  routed port is the server's, and that probes speak HTTP only to its
  HTTP port;
- ``bprwire-serve --check`` on the page's configuration, over the
  example repository laid out as the page says.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import tomllib

import pytest

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

from serving import ROOT, SERVE  # noqa: E402

DOC = ROOT / "docs" / "kserve.md"
SCHEMA = ROOT / "serve" / "tests" / "kserve" / "inferenceservice-v1beta1.schema.json"
KUBERNETES = "1.34.0"

# Queue-proxy's ports (knative.dev/networking: 8012 HTTP, 8013 HTTP/2,
# 8022 admin, 9090 autoscaler metrics, 9091 user metrics; 8008 profiling)
# and KServe's metric aggregation (9088).
RESERVED = {8012, 8013, 8022, 9090, 9091, 8008, 9088}
# Pod fields Knative's webhook refuses in a revision (its PodSpecMask lets
# through containers, volumes, service accounts, image pull secrets and
# a few behind feature flags), which KServe's predictor would pass on.
KNATIVE_REFUSED_POD_FIELDS = {
    "terminationGracePeriodSeconds", "activeDeadlineSeconds", "hostNetwork", "hostPID", "hostIPC",
    "hostUsers", "nodeName", "restartPolicy", "preemptionPolicy", "overhead", "readinessGates",
    "subdomain", "hostname", "hostnameOverride", "setHostnameAsFQDN", "os", "resourceClaims",
    "schedulingGates",
}
KNATIVE_REFUSED_CONTAINER_FIELDS = {"startupProbe", "lifecycle", "stdin", "stdinOnce", "tty", "resizePolicy", "restartPolicy"}
PROBE_KINDS = {"httpGet", "tcpSocket", "exec"}


def manifests() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert blocks, "no yaml blocks in docs/kserve.md"
    return [d for b in blocks for d in yaml.safe_load_all(b) if d]


def by_kind(kind: str) -> list[dict]:
    found = [d for d in manifests() if d["kind"] == kind]
    assert found, f"no {kind} in docs/kserve.md"
    return found


def strict(schema):
    """The CRD schema as an API server with strict field validation reads
    it: objects with listed properties take no others (unless marked to
    keep unknown fields)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def server_config() -> dict:
    (cm,) = by_kind("ConfigMap")
    return tomllib.loads(cm["data"]["serve.toml"])


def port(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def test_every_inference_service_passes_kserves_crd_schema():
    schema = strict(json.loads(SCHEMA.read_text()))
    validator = jsonschema.Draft7Validator(schema)
    for isvc in by_kind("InferenceService"):
        assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
        errors = sorted(validator.iter_errors(isvc), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_crd_check_refuses_what_a_cluster_refuses():
    # The check can fail: an unknown field and a wrong type are caught.
    schema = strict(json.loads(SCHEMA.read_text()))
    isvc = by_kind("InferenceService")[0]
    bad = json.loads(json.dumps(isvc))
    bad["spec"]["predictor"]["containers"][0]["portz"] = []
    bad["spec"]["predictor"]["minReplicas"] = "one"
    messages = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(bad)]
    assert any("portz" in m for m in messages), messages
    assert any("'one'" in m for m in messages), messages


def test_the_configmap_and_the_service_pass_kubernetes_schemas():
    for doc in manifests():
        if doc["kind"] in ("ConfigMap", "Service"):
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    bad = dict(by_kind("Service")[0], spec={"selectr": {}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES, strict=True)


def test_knatives_rules_hold_for_every_predictor():
    listen = server_config()["listen"]
    server_ports = {name: port(addr) for name, addr in listen.items()}
    assert not (set(server_ports.values()) & RESERVED), f"the server listens on queue-proxy's ports: {server_ports}"
    for isvc in by_kind("InferenceService"):
        name = isvc["metadata"]["name"]
        annotations = isvc["metadata"].get("annotations", {})
        assert annotations.get("serving.kserve.io/deploymentMode") in ("Serverless", "Knative"), name
        predictor = isvc["spec"]["predictor"]
        refused = KNATIVE_REFUSED_POD_FIELDS & set(predictor)
        assert not refused, f"{name}: Knative refuses {refused}"
        (container,) = predictor["containers"]
        refused = KNATIVE_REFUSED_CONTAINER_FIELDS & set(container)
        assert not refused, f"{name}: Knative refuses {refused}"
        (routed,) = container["ports"]  # Knative routes one port
        assert routed["containerPort"] not in RESERVED, name
        assert routed.get("name", "") in ("", "http1", "h2c"), name
        protocol = {server_ports["http"]: "http1", server_ports["grpc"]: "h2c"}.get(routed["containerPort"])
        assert protocol == routed.get("name", "http1"), f"{name}: port {routed} is not the server's {protocol} port"
        for kind in ("readinessProbe", "livenessProbe"):
            probe = container[kind]
            (handler,) = PROBE_KINDS & set(probe)
            target = probe[handler].get("port", routed["containerPort"])
            assert target in server_ports.values(), f"{name}: {kind} on {target}, where the server does not listen"
            if handler == "httpGet":
                assert target == server_ports["http"], f"{name}: an HTTP/1.1 {kind} on port {target}, not the HTTP port"
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env.get("PROTOCOL") == "v2", name
        assert env.get("STORAGE_URI", "").endswith("/"), f"{name}: STORAGE_URI names the repository folder"
        mounts = {m["name"] for m in container.get("volumeMounts", [])}
        assert all(m.get("readOnly") for m in container.get("volumeMounts", [])), f"{name}: Knative mounts read-only"
        assert mounts <= {v["name"] for v in predictor.get("volumes", [])}, name
        assert predictor.get("minReplicas", 0) >= 1, f"{name}: scaled to zero, the Thrift Service has no pod"
        assert predictor["timeout"] > server_config()["limits"]["shutdown_deadline_s"], name


def test_the_direct_service_exposes_thrift_and_both_protocols_of_the_predictor():
    (svc,) = by_kind("Service")
    listen = server_config()["listen"]
    targets = {p["targetPort"] for p in svc["spec"]["ports"]}
    assert targets == {port(a) for a in listen.values()}
    names = {d["metadata"]["name"] for d in by_kind("InferenceService")}
    assert svc["spec"]["selector"]["serving.kserve.io/inferenceservice"] in names


def test_bprwire_serve_checks_the_pages_configuration(tmp_path):
    # /mnt/models as the storage initializer leaves it: the repository.
    models = tmp_path / "mnt-models"
    shutil.copytree(ROOT / "serve" / "examples" / "repository" / "models", models)
    (cm,) = by_kind("ConfigMap")
    text = cm["data"]["serve.toml"].replace('"/mnt/models"', json.dumps(str(models)))
    config = tmp_path / "serve.toml"
    config.write_text(text)
    out = subprocess.run([str(SERVE), str(config), "--check"], capture_output=True, timeout=60,
                         env={**os.environ, "BPRWIRE_LOG": "warn"})
    assert out.returncode == 0, out.stderr.decode()
    # And refuses it with the repository gone, naming the key.
    shutil.rmtree(models)
    out = subprocess.run([str(SERVE), str(config), "--check"], capture_output=True, timeout=60)
    assert out.returncode == 2 and b"repository.path" in out.stderr, out.stderr.decode()
