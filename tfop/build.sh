#!/usr/bin/env bash
# Builds the TensorFlow op library tfop/bprwire_tfop/libbprwire_tfop.so
# against the TensorFlow that PYTHON (default python3) imports, with that
# TensorFlow's own compile and link flags (its C++ ABI flag included), and
# the C ABI's static library linked in with its symbols hidden. The .so is
# (TensorFlow's own headers warn of their deprecations; those are off.)
# tied to that TensorFlow version: the version is written beside it
# (TF_VERSION) and checked when the module loads.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
cargo build --release -q -p bprwire-capi
target=${CARGO_TARGET_DIR:-target}
# One import of TensorFlow (slow): compile flags, link flags, version.
mapfile -t tf < <("$py" -c '
import tensorflow as tf
print(" ".join(tf.sysconfig.get_compile_flags()))
print(" ".join(tf.sysconfig.get_link_flags()))
print(tf.__version__)' 2>/dev/null)
read -r -a cflags <<<"${tf[0]}"
read -r -a lflags <<<"${tf[1]}"
out=tfop/bprwire_tfop/libbprwire_tfop.so
g++ -std=c++17 -shared -fPIC -O2 -Wall -Wno-deprecated-declarations "${cflags[@]}" -Icapi/include tfop/src/bprwire_ops.cc -o "$out" \
  "$target/release/libbprwire_c.a" "${lflags[@]}" -Wl,--exclude-libs,ALL -Wl,--no-undefined -Wl,--strip-debug -lpthread -ldl -lm
echo "${tf[2]}" >tfop/bprwire_tfop/TF_VERSION
echo "built $out for TensorFlow ${tf[2]}"
