#!/usr/bin/env bash
# Builds every cargo-fuzz target (nightly, address sanitizer), replays the
# saved regression inputs in fuzz/regressions/<target>/, then runs each
# target for N seconds (default 60) from the generated seeds. Any finding
# (panic, sanitizer report, leak, timeout) exits non-zero; libFuzzer leaves
# the input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz build
scripts/fuzz-seeds.sh
# Memory limits per target: for `npy` (a file's header may claim any
# size), an allocation sized by a header, not by the input, is a finding.
limits() {
  case "$1" in
    npy) echo "-malloc_limit_mb=32 -rss_limit_mb=512" ;;
  esac
}
for target in $(cargo +nightly fuzz list); do
  [ "$target" = gen_seeds ] && continue
  mkdir -p "fuzz/corpus/$target"
  if compgen -G "fuzz/regressions/$target/*" >/dev/null; then
    echo "-- $target: replaying fuzz/regressions/$target"
    cargo +nightly fuzz run "$target" fuzz/regressions/"$target"/* -- -runs=1 $(limits "$target")
  fi
  echo "-- $target: ${secs}s"
  log="fuzz/smoke-$target.log"
  if ! cargo +nightly fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
      -max_total_time="$secs" -print_final_stats=1 $(limits "$target") >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target found a problem (input saved in fuzz/artifacts/$target/)"
    exit 1
  fi
  grep -E '^#[0-9]+ +DONE|^stat::number_of_executed_units' "$log"
done
