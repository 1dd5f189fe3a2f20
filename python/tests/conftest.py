"""Shared fixtures: the Apache thrift library's generated classes, as an
independent reader and writer of the same schema.

The classes are generated from the repository's ``schema/*.thrift`` by
``thrift --gen py`` (Debian's thrift-compiler 0.17) into a temporary
directory, unless ``BPRWIRE_THRIFT_PY`` names a directory that already
holds them (``.ci/run`` generates them once). The schema's ``namespace py``
lines are dropped first: ``data.thrift`` and ``tensor.thrift`` share one
namespace, and the generator would write both into one ``ttypes.py``.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import types

import pytest

SCHEMA = pathlib.Path(__file__).resolve().parents[2] / "schema"


def generate_thrift_py(out: pathlib.Path) -> None:
    """Generates the Python classes of ``schema/`` into ``out``."""
    src = out / "idl"
    src.mkdir(parents=True, exist_ok=True)
    for f in SCHEMA.glob("*.thrift"):
        lines = [l for l in f.read_text().splitlines() if not l.startswith("namespace py ")]
        (src / f.name).write_text("\n".join(lines) + "\n")
    subprocess.run(
        ["thrift", "-r", "--gen", "py", "-out", str(out), str(src / "prediction_service.thrift")],
        check=True,
    )


@pytest.fixture(scope="session")
def thrift_types(tmp_path_factory) -> types.SimpleNamespace:
    """The generated modules: ``ps`` (prediction_service), ``data``,
    ``tensor``, and ``loads``/``dumps`` through the accelerated binary
    protocol (checked to be the C extension)."""
    given = os.environ.get("BPRWIRE_THRIFT_PY")
    if given:
        out = pathlib.Path(given)
    else:
        if shutil.which("thrift") is None:
            pytest.skip("thrift compiler not installed (apt-get install thrift-compiler)")
        out = tmp_path_factory.mktemp("thrift_py")
        generate_thrift_py(out)
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
