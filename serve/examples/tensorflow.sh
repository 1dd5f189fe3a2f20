#!/usr/bin/env bash
# Serves a TensorFlow SavedModel in one command, from the repository root:
#   serve/examples/tensorflow.sh      (extra arguments go to bprwire-serve, e.g. --check)
# The first time, a venv with tensorflow-cpu from PyPI (TF_VENV, default
# target/tf-venv); then the example Keras MLP exported over the example
# layout (serve/examples/saved_model/), and bprwire-serve started on
# serve/examples/tensorflow.toml with TensorFlow's C library from that wheel.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${TF_VENV:-target/tf-venv}"
if ! "$venv/bin/python" -c "import tensorflow" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check tensorflow-cpu==2.21.0 numpy==2.4.6
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
"$venv/bin/python" serve/examples/make_saved_model.py serve/examples/layout.json serve/examples/saved_model
BPRWIRE_TENSORFLOW_LIBRARY=$("$venv/bin/python" -c 'import os, tensorflow; print(os.path.join(os.path.dirname(tensorflow.__file__), "libtensorflow_cc.so.2"))' 2>/dev/null)
export BPRWIRE_TENSORFLOW_LIBRARY
exec cargo run --release -q -p bprwire-serve -- serve/examples/tensorflow.toml "$@"
