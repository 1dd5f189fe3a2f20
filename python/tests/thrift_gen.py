"""Generates the Apache thrift library's Python classes of ``schema/``.

``python thrift_gen.py OUT`` (as ``.ci/run`` does), or ``generate(out)``
(as ``conftest.py`` does). Needs the ``thrift`` compiler (Debian's
thrift-compiler 0.17). The schema's ``namespace py`` lines are dropped
first, so each file becomes a module of its own name (``data``,
``tensor``, ``prediction_service``): ``data.thrift`` and ``tensor.thrift``
share one namespace, and the generator would write both into one
``ttypes.py``.
"""

import pathlib
import subprocess
import sys

SCHEMA = pathlib.Path(__file__).resolve().parents[2] / "schema"


def generate(out: pathlib.Path) -> None:
    """Writes the generated packages into ``out``."""
    idl = out / "idl"
    idl.mkdir(parents=True, exist_ok=True)
    for f in SCHEMA.glob("*.thrift"):
        lines = [l for l in f.read_text().splitlines() if not l.startswith("namespace py ")]
        (idl / f.name).write_text("\n".join(lines) + "\n")
    subprocess.run(
        ["thrift", "-r", "--gen", "py", "-out", str(out), str(idl / "prediction_service.thrift")],
        check=True,
    )


if __name__ == "__main__":
    generate(pathlib.Path(sys.argv[1]))
