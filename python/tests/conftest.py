"""Shared fixtures: the Apache thrift library's generated classes, as an
independent reader and writer of the same schema.

The classes are generated from the repository's ``schema/*.thrift`` by
``thrift_gen.py`` into a temporary directory, unless ``BPRWIRE_THRIFT_PY``
names a directory that already holds them (``.ci/run`` generates them
once).
"""

import os
import pathlib
import shutil
import sys
import types

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import thrift_gen  # noqa: E402

import bprwire  # noqa: E402


@pytest.fixture(autouse=True)
def no_rust_panic():
    """Fails any test during which the package's Rust code panicked, even
    if the ``PanicException`` (a ``BaseException``, which ``except
    Exception`` does not catch) was caught: a panic is always a bug."""
    before = bprwire._panics()
    yield
    panics = bprwire._panics() - before
    if panics:
        pytest.fail(f"{panics} Rust panic(s) during this test (see the panic message above)")



@pytest.fixture(scope="session")
def thrift_types(tmp_path_factory) -> types.SimpleNamespace:
    """The generated modules: ``ps`` (prediction_service), ``data``,
    ``tensor``, and ``loads``/``dumps`` through the accelerated binary
    protocol (checked to be the C extension)."""
    given = os.environ.get("BPRWIRE_THRIFT_PY")
    if given:
        out = pathlib.Path(given)
    else:
        if shutil.which("thrift") is None and not os.environ.get("CI"):
            pytest.skip("thrift compiler not installed (apt-get install thrift-compiler)")
        out = tmp_path_factory.mktemp("thrift_py")
        thrift_gen.generate(out)
    sys.path.insert(0, str(out))
    import data.ttypes as data  # noqa: E402
    import prediction_service.ttypes as ps  # noqa: E402
    import tensor.ttypes as tensor  # noqa: E402
    from thrift.protocol import fastbinary  # noqa: F401  (the C extension must be there)
    from thrift.protocol.TBinaryProtocol import TBinaryProtocolAcceleratedFactory
    from thrift.TSerialization import deserialize, serialize

    factory = TBinaryProtocolAcceleratedFactory()

    def loads(cls, b):
        return deserialize(cls(), bytes(b), factory)

    def dumps(obj):
        return serialize(obj, factory)

    return types.SimpleNamespace(ps=ps, data=data, tensor=tensor, loads=loads, dumps=dumps)
