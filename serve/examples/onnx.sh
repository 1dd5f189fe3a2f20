#!/usr/bin/env bash
# Serves an ONNX model in one command, from the repository root:
#   serve/examples/onnx.sh            (extra arguments go to bprwire-serve, e.g. --check)
# The first time, a venv with onnx and onnxruntime from PyPI (ONNX_VENV,
# default target/onnx-venv); then the example MLP written over the
# example layout (serve/examples/mlp.onnx), and bprwire-serve started on
# serve/examples/onnx.toml with ONNX Runtime's library from that wheel.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${ONNX_VENV:-target/onnx-venv}"
if ! "$venv/bin/python" -c "import onnx, onnxruntime" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check onnx==1.22.0 onnxruntime==1.32.0 numpy==1.26.4
fi
"$venv/bin/python" serve/examples/make_mlp.py serve/examples/layout.json serve/examples/mlp.onnx
lib=$("$venv/bin/python" -c 'import glob, os, onnxruntime; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))[0])')
export ORT_DYLIB_PATH="$lib"
exec cargo run --release -q -p bprwire-serve -- serve/examples/onnx.toml "$@"
