#!/usr/bin/env bash
# The KServe v2 benchmark (not in CI): Triton's perf_analyzer against
# bprwire-serve and, in the same run, against the KServe Python model
# server (kserve_baseline.py: the same model with Apache Thrift's Python
# classes and a Python scatter), R1- and R2-shaped requests, gRPC and HTTP,
# concurrency 1 and 4, on 127.0.0.1 only. Builds nothing.
#
#   serve/bench/perf.sh [MEASUREMENT_MS]     (default 3000; ~5 min in all)
#
# Environment (defaults in brackets):
#   BPRWIRE_BIN     folder of bprwire-serve and bprwire-load [${CARGO_TARGET_DIR:-target}/release]
#   KSERVE_PY       a Python with kserve, numpy, thrift [python3]
#   TRITON_PY       a Python with tritonclient[grpc,http], numpy, thrift [python3]
#   PERF_ANALYZER   perf_analyzer [beside TRITON_PY, else on PATH]; it needs
#                   libb64.so.0d (Debian libb64-0d) and libcudart.so.12
#                   (PyPI nvidia-cuda-runtime-cu12, found in TRITON_PY)
#   THRIFT_PY       the Python classes of schema/ [generated with the thrift compiler]
#   PERF_OUT        where the outputs go [a new temporary folder, kept]
#   MAX_TRIALS      perf_analyzer --max-trials [5]
#   STABILITY       perf_analyzer -s, in % [25]; a point that does not
#                   settle is run once more with -s 60 (said in its output)
#   WORKLOADS       [R1 R2]
set -euo pipefail
cd "$(dirname "$0")/../.."
here=serve/bench
ms="${1:-3000}"
bin="${BPRWIRE_BIN:-${CARGO_TARGET_DIR:-target}/release}"
kpy="${KSERVE_PY:-python3}"
tpy="${TRITON_PY:-python3}"
pa="${PERF_ANALYZER:-$(dirname "$(command -v "$tpy")")/perf_analyzer}"
[ -x "$pa" ] || pa=$(command -v perf_analyzer)
trials="${MAX_TRIALS:-5}"
stab="${STABILITY:-25}"
out="${PERF_OUT:-$(mktemp -d /tmp/bprwire-perf.XXXXXX)}"
mkdir -p "$out/points"
tools="$here/kserve_tools.py"
for f in "$bin/bprwire-serve" "$bin/bprwire-load" "$pa"; do
  [ -x "$f" ] || { echo "perf.sh: $f is missing (this script builds nothing)" >&2; exit 2; }
done
cudart=$("$tpy" -c 'import nvidia.cuda_runtime as m; print(list(m.__path__)[0] + "/lib")' 2>/dev/null || true)
export LD_LIBRARY_PATH="${cudart:+$cudart:}${LD_LIBRARY_PATH:-}"
gen="${THRIFT_PY:-$out/thrift_py}"
[ -d "$gen" ] || python3 python/tests/thrift_gen.py "$gen" >/dev/null

pids=()
# Stops one process we started: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  local p=$1 i
  kill -TERM "$p" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then echo "perf.sh: pid $p ignored SIGTERM: SIGKILL" >&2; kill -KILL "$p" 2>/dev/null || true; fi
  wait "$p" 2>/dev/null || true
  local kept=()
  for i in "${pids[@]}"; do [ "$i" = "$p" ] || kept+=("$i"); done
  pids=("${kept[@]}")
}
cleanup() { for p in "${pids[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT

# Every listening socket of pid $1 is on loopback.
loopback_only() {
  local p=$1 bad
  bad=$(ss -ltnpH | grep "pid=$p," | awk '{print $4}' | grep -v -E '^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]|\[::1\]):' || true)
  ss -ltnpH | grep "pid=$p," | awk '{print "  listening: " $4}'
  [ -z "$bad" ] || { echo "perf.sh: pid $p listens beyond loopback: $bad" >&2; exit 1; }
}

start_bprwire() { # DIR -> $bpid $bgrpc $bhttp
  local dir=$1 i
  "$bin/bprwire-serve" "$dir/serve.toml" >"$dir/bprwire.out" 2>"$dir/bprwire.log" &
  bpid=$!; pids+=("$bpid")
  for i in $(seq 100); do grep -q "grpc on" "$dir/bprwire.out" 2>/dev/null && break; sleep 0.1; done
  bgrpc=$(sed -n 's/.*grpc on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir/bprwire.out")
  bhttp=$(sed -n 's/.*http on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir/bprwire.out")
  [ -n "$bgrpc" ] && [ -n "$bhttp" ] || { cat "$dir/bprwire.log"; exit 1; }
  cat "$dir/bprwire.out"
  loopback_only "$bpid"
}

start_kserve() { # DIR [--stock] -> $kpid $kgrpc $khttp
  local dir=$1; shift
  khttp=$(python3 "$tools" port); kgrpc=$(python3 "$tools" port)
  "$kpy" "$here/kserve_baseline.py" "$dir" "$khttp" "$kgrpc" "$gen" "$@" >"$dir/kserve$*.out" 2>"$dir/kserve$*.log" &
  kpid=$!; pids+=("$kpid")
  python3 "$tools" wait "http://127.0.0.1:$khttp/v2/health/ready" 60 || { tail -20 "$dir/kserve$*.log"; exit 1; }
  for i in $(seq 50); do ss -ltnpH | grep "pid=$kpid," | grep -q ":$kgrpc " && break; sleep 0.1; done
  cat "$dir/kserve$*.out"
  loopback_only "$kpid"
}

# One perf_analyzer point; its whole output in points/, its summary lines on stdout.
point() { # W SERVER PROTO PORT C DIR
  local w=$1 server=$2 proto=$3 port=$4 c=$5 dir=$6 s=$stab
  local f="$out/points/$w.$server.$proto.c$c.txt"
  local cmd=("$pa" -m bprwire -i "$proto" -u "127.0.0.1:$port" --input-data "$dir/input.json" --shape request:1
             --concurrency-range "$c:$c" -p "$ms" --max-trials "$trials")
  run_pa() { local rc=0; echo "\$ ${cmd[*]} -s $1"; timeout 300 "${cmd[@]}" -s "$1" 2>&1 || rc=$?; [ $rc = 0 ] || echo "(perf_analyzer exit $rc)"; }
  { run_pa "$s"; } >"$f" 2>&1
  if grep -q "Failed to obtain stable measurement" "$f"; then
    s=60
    { echo "(not stable at -s $stab: again at -s $s)"; run_pa "$s"; } >>"$f" 2>&1
  fi
  echo "== $w $server $proto concurrency $c (-s $s)"
  grep -E "Request count:|Throughput:|Avg latency:|p(50|90|95|99) latency:|Avg (gRPC|HTTP) time:|Avg request latency:|[Ee]rror|what\(\)|Aborted|Failed|exit [0-9]|not stable" "$f" \
    | sed 's/^/    /' || true
}

versions() {
  echo "bprwire-serve: $bin/bprwire-serve, built $(date -u -r "$bin/bprwire-serve" '+%F %T UTC'), sha256 $(sha256sum "$bin/bprwire-serve" | cut -c1-12)"
  echo "repo: $(git log -1 --format='%h %s' 2>/dev/null | cut -c1-80)"
  echo "kserve: $("$kpy" -c 'import importlib.metadata as m; print(m.version("kserve"))')"
  echo "tritonclient: $("$tpy" -c 'import importlib.metadata as m; print(m.version("tritonclient"))')"
  echo "perf_analyzer: $("$pa" --version 2>&1 | grep -i version | head -1 || true)"
  echo "thrift (kserve side): $("$kpy" -c 'import importlib.metadata as m; print(m.version("thrift"))')"
  echo "numpy (kserve side): $("$kpy" -c 'import numpy; print(numpy.__version__)')"
  echo "measurement: -p $ms ms, --max-trials $trials, -s $stab %; $(nproc) cores"
}

echo "outputs in $out"
versions | tee "$out/versions.txt"
start=$SECONDS
read -r -a workloads <<<"${WORKLOADS:-R1 R2}"
for w in "${workloads[@]}"; do
  dir="$out/$w"
  "$bin/bprwire-load" setup "$w" "$dir"
  # Overload is not what is measured: no request is dropped. gRPC on a free port.
  sed -i 's/drop_after_ms = 90.0/drop_after_ms = 60000.0/; s/shutdown_deadline_s = .*/shutdown_deadline_s = 120.0/; s/^http = \(.*\)$/http = \1\ngrpc = "127.0.0.1:0"/' "$dir/serve.toml"
  python3 "$tools" request "$dir"
  echo "-- $w: servers"
  start_bprwire "$dir"
  start_kserve "$dir"
  echo "-- $w: the same request over the same protocol, both servers (tritonclient)"
  "$tpy" "$tools" check "$gen" "$dir" "bprwire-serve=127.0.0.1:$bgrpc,$bhttp" "kserve=127.0.0.1:$kgrpc,$khttp"
  echo "-- $w: perf_analyzer"
  for proto in grpc http; do
    for c in 1 4; do
      if [ "$proto" = grpc ]; then bp=$bgrpc kp=$kgrpc; else bp=$bhttp kp=$khttp; fi
      point "$w" bprwire-serve "$proto" "$bp" "$c" "$dir"
      point "$w" kserve "$proto" "$kp" "$c" "$dir"
    done
  done
  stop_pid "$kpid"; stop_pid "$bpid"
  echo "-- $w: server warnings and errors"
  grep -h -i -E "warn|error|exception|traceback" "$dir/bprwire.log" "$dir/kserve.log" | grep -v "uvicorn.error INFO" \
    | sed -E 's/^[0-9-]+[ T][0-9:.]+Z? ([0-9]+ )?//' | cut -c1-300 | sort | uniq -c | sort -rn | head -10 || true
done

# KServe as it is (no Triton config, its own REST decode): what perf_analyzer
# and tritonclient say to it. Short: each refusal comes at once.
if [ "${STOCK_PROBE:-1}" = 1 ]; then
  probe=${workloads[-1]}   # the last workload set up (R2 by default)
  dir="$out/$probe"
  echo "-- stock KServe (kserve_baseline.py --stock), $probe"
  start_kserve "$dir" --stock
  for proto in grpc http; do
    if [ "$proto" = grpc ]; then kp=$kgrpc; else kp=$khttp; fi
    echo "\$ perf_analyzer -m bprwire -i $proto -u 127.0.0.1:$kp --input-data $dir/input.json --shape request:1 --concurrency-range 1:1 -p 500 --max-trials 2"
    timeout 60 "$pa" -m bprwire -i "$proto" -u "127.0.0.1:$kp" --input-data "$dir/input.json" --shape request:1 \
      --concurrency-range 1:1 -p 500 --max-trials 2 2>&1 | grep -v '^\s*$' | tail -4 | sed 's/^/    /' || true
  done
  "$tpy" "$tools" probe "$dir" "127.0.0.1:$kgrpc" "127.0.0.1:$khttp" | cut -c1-300 | sed 's/^/    /'
  echo "  stock server log (errors):"
  grep -h -E "Error|error|Exception" "$dir/kserve--stock.log" | grep -v "uvicorn.error INFO" | cut -c1-300 \
    | sort | uniq -c | sort -rn | head -6 | sed 's/^/    /' || true
  stop_pid "$kpid"
fi

echo "-- summary ($((SECONDS - start)) s)"
python3 "$tools" summary "$out" | tee "$out/summary.md"
echo "outputs in $out"
