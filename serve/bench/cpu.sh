#!/usr/bin/env bash
# The server's CPU time per request beside throughput and latency, and the
# same request's in-process work (decode + scatter + model + encode on one
# thread), for R2, R3 and R1 at concurrency 1 and 4 (docs/benchmarks.md).
# Loopback only; each server is started here and stopped by its pid.
#
#   serve/bench/cpu.sh [SERVE_BIN] [SECONDS]
#
# SERVE_BIN defaults to this tree's release build; give another build
# (an older commit's, say) to compare in the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
. serve/bench/start.sh
cargo build --release -q -p bprwire-serve
bin="${1:-$PWD/target/release/bprwire-serve}"
secs="${2:-4}"
load="$PWD/target/release/bprwire-load"
root=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$root"' EXIT
for w in R2 R3 R1; do
  dir="$root/$w"
  "$load" setup "$w" "$dir" >/dev/null
  echo "== $w: $("$load" inproc "$dir/serve.toml" "$dir/request.bin" --iterations 200)"
  start_server "$bin" "$dir/serve.toml" "$dir"
  for c in 1 4; do
    "$load" run "$thrift" "$dir/request.bin" --concurrency "$c" --seconds "$secs" --server-pid "$pid"
  done
  kill -TERM "$pid"
  wait "$pid"
  pid=
done
