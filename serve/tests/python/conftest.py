"""The Apache thrift library's Python classes of ``schema/`` for the server
tests: from ``BPRWIRE_THRIFT_PY`` (as ``.ci/run`` makes them), else
generated here with ``python/tests/thrift_gen.py`` (needs the thrift
compiler)."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def ts(tmp_path_factory) -> types.SimpleNamespace:
    """``data``, ``tensor``, ``prediction_service`` (ttypes), ``PredictionService``
    (the generated client), ``dumps(obj)`` and ``call_bytes(request, seqid)``
    (an unframed getBatchPrediction call, written by the generated client)."""
    given = os.environ.get("BPRWIRE_THRIFT_PY")
    if given:
        out = pathlib.Path(given)
    else:
        if shutil.which("thrift") is None and not os.environ.get("CI"):
            pytest.skip("thrift compiler not installed (apt-get install thrift-compiler)")
        spec = importlib.util.spec_from_file_location("thrift_gen", ROOT / "python" / "tests" / "thrift_gen.py")
        gen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gen)
        out = tmp_path_factory.mktemp("thrift_py")
        gen.generate(out)
    sys.path.insert(0, str(out))
    import data.ttypes as data  # noqa: E402
    import prediction_service.ttypes as prediction_service  # noqa: E402
    import tensor.ttypes as tensor  # noqa: E402
    from prediction_service import PredictionService  # noqa: E402
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TTransport
    from thrift.TSerialization import serialize

    def dumps(obj) -> bytes:
        return serialize(obj, TBinaryProtocol.TBinaryProtocolFactory())

    def call_bytes(request, seqid: int) -> bytes:
        buf = TTransport.TMemoryBuffer()
        c = PredictionService.Client(TBinaryProtocol.TBinaryProtocol(buf))
        c._seqid = seqid
        c.send_getBatchPrediction(request)
        return buf.getvalue()

    return types.SimpleNamespace(
        data=data,
        tensor=tensor,
        prediction_service=prediction_service,
        PredictionService=PredictionService,
        dumps=dumps,
        call_bytes=call_bytes,
    )


@pytest.fixture
def server(tmp_path):
    """bprwire-serve on the tests' default config (``serving.Server``),
    stopped by SIGTERM at the end, which must exit 0."""
    from serving import Server

    s = Server(tmp_path)
    try:
        yield s
        assert s.stop() == 0, s.log.read_text()
    finally:
        s.kill()
