"""Fixtures for the TensorFlow op tests (of the installed ``bprwire_tfop``):
the Apache thrift library's
Python classes of ``schema/`` (from ``BPRWIRE_THRIFT_PY``, else generated
with ``python/tests/thrift_gen.py``) to decode what the ops write."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# `bprwire_tfop` is the installed one (the bprwire-tfop wheel, tfop/wheel.sh);
# to test a tree built in place by tfop/build.sh: PYTHONPATH=tfop.


@pytest.fixture(scope="session")
def thrift_classes(tmp_path_factory) -> types.SimpleNamespace:
    given = os.environ.get("BPRWIRE_THRIFT_PY")
    if given:
        out = pathlib.Path(given)
    else:
        spec = importlib.util.spec_from_file_location("thrift_gen", ROOT / "python" / "tests" / "thrift_gen.py")
        gen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gen)
        out = tmp_path_factory.mktemp("thrift_py")
        gen.generate(out)
    sys.path.insert(0, str(out))
    import prediction_service.ttypes as ps  # noqa: E402
    import tensor.ttypes as tensor  # noqa: E402
    from thrift.protocol import TBinaryProtocol
    from thrift.TSerialization import deserialize

    def response(b: bytes):
        return deserialize(ps.BatchPredictionResponse(), bytes(b), TBinaryProtocol.TBinaryProtocolFactory())

    return types.SimpleNamespace(response=response, tensor=tensor)
