#!/usr/bin/env bash
# A Thrift bystander's latency alone, then while four clients post 4 MB
# KServe REST bodies of JSON (docs/benchmarks.md, "Hardening 3"): one R2
# client (closed loop) on the Thrift port for SECONDS, then the same with
# the JSON load, in one run; the server's CPU seconds per phase and its
# peak RSS. Loopback only; the server is started here and stopped by its
# pid.
#
#   serve/bench/bystander.sh [SERVE_BIN] [SECONDS]
#
# SERVE_BIN defaults to this tree's release build (built if missing); give
# another build (e.g. an older commit's) to compare.
set -euo pipefail
cd "$(dirname "$0")/../.."
. serve/bench/start.sh
cargo build --release -q -p bprwire-serve
bin="${1:-$PWD/target/release/bprwire-serve}"
secs="${2:-5}"
load="$PWD/target/release/bprwire-load"
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
"$load" setup R2 "$dir" >/dev/null
start_server "$bin" "$dir/serve.toml" "$dir"
"$load" bystander "$thrift" "$http" "$dir/request.bin" --seconds "$secs" --server-pid "$pid"
kill -TERM "$pid"
wait "$pid"
pid=
