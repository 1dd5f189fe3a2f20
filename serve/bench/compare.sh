#!/usr/bin/env bash
# Two server builds side by side on one noisy machine: for ROUNDS rounds,
# each workload (R2, R3, R1) and concurrency (1, 4) runs on build A, then
# on build B, each on a fresh server, so that drifts of the machine fall
# on both alike; then each figure's median over the rounds, and every
# round's throughput (the spread). Throughput, p50/p99 latency and the
# server's CPU time per request (/proc/<pid>/stat) from bprwire-load.
# Loopback only; each server is stopped by its pid.
#
#   serve/bench/compare.sh A_BIN B_BIN [ROUNDS] [SECONDS]
#
# WORKLOADS="R2" (say) runs only those; CONCURRENCY="1 4 16" (say) other
# concurrencies than 1 and 4.
set -euo pipefail
cd "$(dirname "$0")/../.."
. serve/bench/start.sh
[ $# -ge 2 ] || { echo "usage: $0 A_BIN B_BIN [ROUNDS] [SECONDS]" >&2; exit 2; }
a="$1" b="$2" rounds="${3:-5}" secs="${4:-2}"
cargo build --release -q -p bprwire-serve --bin bprwire-load
load="$PWD/target/release/bprwire-load"
root=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$root"' EXIT
workloads="${WORKLOADS:-R2 R3 R1}"
concurrency="${CONCURRENCY:-1 4}"
for w in $workloads; do "$load" setup "$w" "$root/$w" >/dev/null; done
for round in $(seq "$rounds"); do
  for w in $workloads; do
    for name in A B; do
      bin=$([ "$name" = A ] && echo "$a" || echo "$b")
      start_server "$bin" "$root/$w/serve.toml" "$root/$w"
      for c in $concurrency; do
        echo "$round $w $name $("$load" run "$thrift" "$root/$w/request.bin" --concurrency "$c" --seconds "$secs" --server-pid "$pid")"
      done
      kill -TERM "$pid"
      wait "$pid"
      pid=
    done
  done
done | tee "$root/runs.txt" >&2
python3 - "$root/runs.txt" <<'PY'
import collections, re, statistics, sys
runs = collections.defaultdict(list)
pattern = r"\d+ (R\d) ([AB]) concurrency\s+(\d+): .*?: (\d+) req/s.*p50 (\d+) us, p99 (\d+) us, server CPU ([\d.]+) us"
for line in open(sys.argv[1]):
    m = re.match(pattern, line)
    if m:
        w, build, c, *figures = m.groups()
        runs[(w, int(c), build)].append([float(x) for x in figures])
print("| workload | c | build | req/s | p50 us | p99 us | server CPU us/request | req/s of each round |")
print("|---|---:|---|---:|---:|---:|---:|---|")
for (w, c, build), v in sorted(runs.items(), key=lambda kv: (["R2", "R3", "R1"].index(kv[0][0]), kv[0][1], kv[0][2])):
    med = [statistics.median(x[i] for x in v) for i in range(4)]
    spread = ", ".join(str(int(x[0])) for x in v)
    print(f"| {w} | {c} | {build} | {med[0]:.0f} | {med[1]:.0f} | {med[2]:.0f} | {med[3]:.1f} | {spread} |")
PY
