#!/usr/bin/env bash
# The TensorFlow engine against the ONNX engine, on one MLP exported both
# ways (the same weights: serve/examples/mlp_spec.py), and against the same
# SavedModel called from Python; and the writer op's mode (the model
# writes the response) against the server encoding it. For ROUNDS rounds,
# each server (onnx, tf_dense, tf_written) runs fresh, at concurrency 1
# and 4, then the Python loop; medians over the rounds. bprwire-load's
# throughput, p50/p99 latency and the server's CPU time per request
# (/proc/<pid>/stat). Loopback only; each server stopped by its pid.
#
#   serve/bench/tensorflow.sh VENV [ROUNDS] [SECONDS] [HIDDEN] [RECORDS]
#
# VENV: a venv with tensorflow-cpu 2.21.0, onnx, onnxruntime and bprwire's
# wheel, for which tfop/build.sh has built the op library.
set -euo pipefail
cd "$(dirname "$0")/../.."
. serve/bench/start.sh
[ $# -ge 1 ] || { echo "usage: $0 VENV [ROUNDS] [SECONDS] [HIDDEN] [RECORDS]" >&2; exit 2; }
venv="$1" rounds="${2:-3}" secs="${3:-3}" hidden="${4:-256}" records="${5:-16}"
py="$venv/bin/python"
cargo build --release -q -p bprwire-serve --bin bprwire-serve --bin bprwire-load
bin="$PWD/target/release/bprwire-serve" load="$PWD/target/release/bprwire-load"
root=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$root"' EXIT
export TF_CPP_MIN_LOG_LEVEL=2
BPRWIRE_TENSORFLOW_LIBRARY=$("$py" -c 'import os, tensorflow; print(os.path.join(os.path.dirname(tensorflow.__file__), "libtensorflow_cc.so.2"))')
ORT_DYLIB_PATH=$("$py" -c 'import glob, os, onnxruntime; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))[0])')
export BPRWIRE_TENSORFLOW_LIBRARY ORT_DYLIB_PATH
"$py" serve/bench/tensorflow_models.py write "$root" "$hidden" "$records"
for round in $(seq "$rounds"); do
  for name in onnx tf_dense tf_written; do
    start_server "$bin" "$root/$name/serve.toml" "$root/$name"
    for c in 1 4; do
      echo "$round $name $("$load" run "$thrift" "$root/call.bin" --concurrency "$c" --seconds "$secs" --server-pid "$pid")"
    done
    # The model's own time per batch and the requests per batch, both
    # concurrencies together (the server's histograms).
    echo "$round $name model $("$py" serve/bench/tensorflow_models.py metrics "$http")"
    kill -TERM "$pid"
    wait "$pid"
    pid=
  done
  echo "$round $("$py" serve/bench/tensorflow_models.py python "$root" "$secs")"
done | tee "$root/runs.txt" >&2
python3 - "$root/runs.txt" "$hidden" "$records" <<'PY'
import collections, re, statistics, sys
runs = collections.defaultdict(list)
models = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r"\d+ (\w+) concurrency\s+(\d+): .*?: (\d+) req/s.*p50 (\d+) us, p99 (\d+) us, server CPU ([\d.]+) us", line)
    if m:
        name, c, *figures = m.groups()
        runs[(name, int(c))].append([float(x) for x in figures])
    m = re.match(r"\d+ (\w+) model ([\d.]+) us/batch, ([\d.]+) requests/batch", line)
    if m:
        models[m[1]].append((float(m[2]), float(m[3])))
    m = re.match(r"\d+ python: (\d+) req/s, CPU ([\d.]+) us/request", line)
    if m:
        runs[("python (tf.saved_model.load, one thread)", 1)].append([float(m[1]), float("nan"), float("nan"), float(m[2])])
print(f"MLP hidden {sys.argv[2]}, requests of {sys.argv[3]} records")
print("| engine | c | req/s | p50 us | p99 us | CPU us/request | req/s of each round |")
print("|---|---:|---:|---:|---:|---:|---|")
for (name, c), v in runs.items():
    med = [statistics.median(x[i] for x in v) for i in range(4)]
    spread = ", ".join(str(int(x[0])) for x in v)
    cells = " | ".join("-" if f != f else f"{f:.0f}" for f in med[1:3])
    print(f"| {name} | {c} | {med[0]:.0f} | {cells} | {med[3]:.1f} | {spread} |")
print()
print("| engine | the model's time per batch, us (median of rounds) | requests per batch |")
print("|---|---:|---:|")
for name, v in models.items():
    print(f"| {name} | {statistics.median(x[0] for x in v):.1f} | {statistics.median(x[1] for x in v):.2f} |")
PY
