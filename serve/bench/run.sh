#!/usr/bin/env bash
# The serving benchmark of docs/benchmarks.md (not in CI): bprwire-serve
# and the Python baseline (baseline_server.py) under the same closed-loop
# load generator, side by side in one run, on 127.0.0.1 only.
#
#   serve/bench/run.sh [SECONDS]     (default 5 s per point)
#
# Needs: a Python with numpy and thrift (PYTHON, default python3) and the
# thrift compiler for the generated classes (or THRIFT_PY, a folder of them).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
py="${PYTHON:-python3}"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release -q -p bprwire-serve
bin=${CARGO_TARGET_DIR:-target}/release
gen="${THRIFT_PY:-$work/thrift_py}"
[ -d "$gen" ] || "$py" python/tests/thrift_gen.py "$gen" >/dev/null

# Starts a server in the background (its pid kept for stop); waits for
# its address line and sets $port.
start() { # name cmd...
  local out="$work/$1.out"; shift
  "$@" >"$out" 2>"$out.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q "thrift on" "$out" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's/.*thrift on 127.0.0.1:\([0-9]*\).*/\1/p' "$out" | head -1)
  [ -n "$port" ] || { cat "$out.log"; exit 1; }
}
stop() { kill -TERM "${pids[-1]}"; wait "${pids[-1]}" || true; unset 'pids[-1]'; }
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for w in R1 R2 R3; do
  dir="$work/$w"
  "$bin/bprwire-load" setup "$w" "$dir"
  # Overload is not what is measured: no request is dropped.
  sed -i 's/drop_after_ms = 90.0/drop_after_ms = 60000.0/; s/shutdown_deadline_s = .*/shutdown_deadline_s = 120.0/' "$dir/serve.toml"
  "$bin/bprwire-load" inproc "$dir/serve.toml" "$dir/request.bin" --iterations 500
  for mode in eager wait off; do
    cfg="$dir/serve-$mode.toml"
    cp "$dir/serve.toml" "$cfg"
    case $mode in
      wait) sed -i 's/^\[batching\]/[batching]\neager = false/' "$cfg" ;;
      off)  sed -i 's/^max_records = .*/max_records = 1/' "$cfg" ;;
    esac
    start "$w-$mode" "$bin/bprwire-serve" "$cfg"
    echo "-- $w bprwire-serve, batching $mode (max_wait_ms 2.0 when waiting)"
    for c in 1 4 16; do "$bin/bprwire-load" run "127.0.0.1:$port" "$dir/request.bin" --concurrency $c --seconds "$secs"; done
    stop
  done
  start "$w-py" "$py" serve/bench/baseline_server.py "$dir" "$(free_port)" "$gen"
  echo "-- $w Python baseline (Apache Thrift TThreadedServer + numpy)"
  for c in 1 4 16; do "$bin/bprwire-load" run "127.0.0.1:$port" "$dir/request.bin" --concurrency $c --seconds "$secs"; done
  stop
done
