"""What the server tests share: the layout, the linear model's weights and
its scores in numpy (over ``bprwire.FeatureLayout(...).scatter``), the
server process (a config of its own, ports the kernel picks, stopped by
its pid), random requests, and the check of a response against numpy."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import struct
import subprocess
import threading
import urllib.request
from pathlib import Path

import numpy as np

import bprwire

ROOT = Path(__file__).resolve().parents[3]
SERVE = Path(os.environ.get("BPRWIRE_SERVE", ROOT / "target" / "release" / "bprwire-serve"))

LAYOUT = {
    "continuous": {"ids": [1, 2, 3, 4, 5, 6], "dtype": "float32", "default": "nan"},
    "binary": {"ids": [10, 11, 12], "dtype": "float32"},
    "discrete": {"ids": [20, 21], "default": 0},
    "tensors": [{"id": 30, "width": 4, "dtype": "float32"}, {"id": 31, "width": 2, "dtype": "float64"}],
}
N_FEATURES = 6 + 3 + 2 + 4 + 2
K = 3
CONTINUOUS_KEYS = [1001, 1002, 1003]
TENSOR_KEY = 2001
# How close a served float32 score must be to numpy's float64 x @ w + b,
# rounded to float32: the server sums in another order (left to right, no
# FMA), so the f64 sums differ by a few ulps of f64, which rounding to f32
# hides except at a tie: 2 ulps of f32 covers that.
RTOL = 2.5e-7


def weights() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(24)
    return rng.normal(0, 0.3, size=(N_FEATURES, K)), rng.normal(0, 0.1, size=K)


def expected_scores(request_bytes: bytes, scale: float = 1.0) -> np.ndarray:
    """The model (its weights and bias times `scale`), in numpy, on the
    arrays bprwire's Python scatter gives."""
    layout = bprwire.FeatureLayout(LAYOUT)
    a = layout.scatter(request_bytes)
    x = np.concatenate(
        [a["continuous"], a["binary"], a["discrete"], a["tensor_30"], a["tensor_31"]], axis=1
    ).astype(np.float64)
    x[np.isnan(x)] = 0.0
    w, b = weights()
    z = x @ (w * scale) + b * scale
    with np.errstate(over="ignore"):  # exp(-z) of a very negative z is inf: the score is 0
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


# ---- the server process ----


class Server:
    """bprwire-serve on a config of its own, ports chosen by the kernel."""

    def __init__(self, tmp: Path, model: str | None = None, response: str | None = None, env: dict | None = None,
                 repository: bool = False, fill_version=None, appended: str = "", **overrides):
        """`model` and `response`: TOML for those sections (default: the
        logistic model over `weights()`, continuous and tensor keys; an
        empty `response` for a model that writes its own);
        `overrides`: `batching` and `limits` values. `repository`: the
        model as version 1 of model "bprwire" in a repository at
        `tmp/models` (see `put_version`, and `fill_version` for a version
        of another kind than the linear model's weights), not polled.
        `appended`: TOML appended to the server's file."""
        w, b = weights()
        np.save(tmp / "w.npy", w)
        np.save(tmp / "b.npy", b)
        (tmp / "layout.json").write_text(json.dumps(LAYOUT))
        batching = {"max_records": 64, "max_wait_ms": 2.0, "drop_after_ms": 2000.0, "queue_requests": 1024, "workers": 2}
        limits = {"max_message_bytes": 1 << 20, "max_records_per_request": 1000, "read_timeout_s": 2.0,
                  "idle_timeout_s": 30.0, "shutdown_deadline_s": 10.0}
        batching.update(overrides.get("batching", {}))
        limits.update(overrides.get("limits", {}))
        model = model or 'kind = "logistic"\nweights = "w.npy"\nbias = "b.npy"'
        response = response if response is not None else (
            f'continuous = {{ output = "scores", keys = {CONTINUOUS_KEYS} }}\n'
            f'tensors = [{{ output = "scores", key = {TENSOR_KEY} }}]'
        )
        toml = f"""
[listen]
thrift = "127.0.0.1:0"
http = "127.0.0.1:0"
grpc = "127.0.0.1:0"
[layout]
path = "layout.json"
[model]
{model}
[response]
{response}
[batching]
{chr(10).join(f"{k} = {v}" for k, v in batching.items())}
[limits]
{chr(10).join(f"{k} = {v}" for k, v in limits.items())}
"""
        if repository:
            # The same sections as the model's own model.toml; the server's
            # file keeps [listen], [limits] and names the folder.
            head, rest = toml.split("[layout]", 1)
            sections, limits_part = rest.split("[limits]", 1)
            self.models = tmp / "models"
            (self.models / "bprwire").mkdir(parents=True)
            (self.models / "bprwire" / "layout.json").write_text(json.dumps(LAYOUT))
            (self.models / "bprwire" / "model.toml").write_text("[layout]" + sections)
            self.fill_version = fill_version
            self.put_version(1, 1.0)
            toml = head + '[repository]\npath = "models"\npoll_s = 0\ncontrol_api = true\n[limits]' + limits_part
        (tmp / "serve.toml").write_text(toml + appended)
        self.proc = subprocess.Popen(
            [str(SERVE), str(tmp / "serve.toml")],
            stdout=subprocess.PIPE,
            stderr=open(tmp / "serve.log", "wb"),
            stdin=subprocess.DEVNULL,
            env={**os.environ, "BPRWIRE_LOG": "warn", **(env or {})},
        )
        self.log = tmp / "serve.log"
        line = self._first_line(timeout=20)
        m = re.match(
            r"bprwire-serve: thrift on 127\.0\.0\.1:(\d+), http on 127\.0\.0\.1:(\d+), grpc on 127\.0\.0\.1:(\d+)", line
        )
        assert m, f"unexpected first line {line!r}; log: {self.log.read_text()}"
        self.port, self.http_port, self.grpc_port = int(m[1]), int(m[2]), int(m[3])

    def _first_line(self, timeout: float) -> str:
        box: list[str] = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline().decode()), daemon=True)
        t.start()
        t.join(timeout)
        if not box:
            self.kill()
            raise AssertionError("the server printed no address line in time")
        return box[0]

    def put_version(self, version: int, scale: float):
        """Version `version` of the repository's model: `weights()` times
        `scale` (or what `fill_version(folder, scale)` writes), written
        under a temporary name and renamed into place."""
        partial = self.models / "bprwire" / f".{version}.partial"
        partial.mkdir()
        if self.fill_version:
            self.fill_version(partial, scale)
        else:
            w, b = weights()
            np.save(partial / "w.npy", w * scale)
            np.save(partial / "b.npy", b * scale)
        partial.rename(self.models / "bprwire" / str(version))

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM by pid; the exit code (killed, and a failure, past `timeout`)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("the server did not exit in time after SIGTERM")

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def random_request(ts, rng: random.Random, records: int | None = None):
    d, t = ts.data, ts.tensor

    def record():
        known_c = [i for i in LAYOUT["continuous"]["ids"] if rng.random() < 0.6]
        cont = {i: rng.choice([rng.uniform(-3, 3), float("nan"), 0.0, 1e3]) for i in known_c}
        cont.update({rng.randrange(100, 10**12): rng.uniform(-1, 1) for _ in range(rng.randrange(3))})  # unknown ids
        binary = {i for i in LAYOUT["binary"]["ids"] if rng.random() < 0.5} | {rng.randrange(100, 10**6)}
        disc = {i: rng.randrange(-5, 6) for i in LAYOUT["discrete"]["ids"] if rng.random() < 0.7}
        tensors = {}
        if rng.random() < 0.7:
            tensors[30] = t.GeneralTensor(floatTensor=t.FloatTensor(floats=[rng.uniform(-2, 2) for _ in range(4)]))
        if rng.random() < 0.5:
            raw = struct.pack("<2d", rng.uniform(-1, 1), rng.uniform(-1, 1))
            tensors[31] = t.GeneralTensor(rawTypedTensor=t.RawTypedTensor(dataType=t.DataType.DOUBLE, content=raw))
        return d.DataRecord(
            binaryFeatures=binary or None,
            continuousFeatures=cont or None,
            discreteFeatures=disc or None,
            stringFeatures={7: "ignored"} if rng.random() < 0.2 else None,
            tensors=tensors or None,
        )

    n = rng.randrange(0, 9) if records is None else records
    common = record() if rng.random() < 0.4 else None
    return ts.prediction_service.BatchPredictionRequest(
        individualFeaturesList=[record() for _ in range(n)], commonFeatures=common
    )


def check_response(ts, request, response):
    expected = expected_scores(ts.dumps(request))
    assert len(response.predictions) == len(request.individualFeaturesList)
    for i, rec in enumerate(response.predictions):
        got = np.array([rec.continuousFeatures[k] for k in CONTINUOUS_KEYS], dtype=np.float64)
        np.testing.assert_allclose(got, expected[i].astype(np.float64), rtol=RTOL, atol=0)
        raw = rec.tensors[TENSOR_KEY].rawTypedTensor
        assert raw.dataType == ts.tensor.DataType.FLOAT
        np.testing.assert_array_equal(np.frombuffer(raw.content, "<f4"), got.astype(np.float32))


