#!/usr/bin/env bash
# Builds every cargo-fuzz target (nightly, address sanitizer) of both fuzz
# projects (fuzz/: the library; serve/fuzz/: the server's request
# parsers), replays the saved regression inputs in <dir>/regressions/<target>/,
# then runs each target for N seconds (default 60) from its seeds. Any
# finding (panic, sanitizer report, leak, timeout) exits non-zero;
# libFuzzer leaves the input in <dir>/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz build
cargo +nightly fuzz build --fuzz-dir serve/fuzz
scripts/fuzz-seeds.sh
# Memory limits per target: for `npy` (a file's header may claim any
# size), `kserve` and `tfserving` (a shape or a length prefix may claim any count), an
# allocation sized by a claim, not by the input, is a finding.
limits() {
  case "$1" in
    npy) echo "-malloc_limit_mb=32 -rss_limit_mb=512" ;;
    kserve | tfserving) echo "-malloc_limit_mb=64 -rss_limit_mb=1024" ;;
  esac
}
for dir in fuzz serve/fuzz; do
  for target in $(cargo +nightly fuzz list --fuzz-dir "$dir"); do
    [ "$target" = gen_seeds ] && continue
    mkdir -p "$dir/corpus/$target"
    if compgen -G "$dir/regressions/$target/*" >/dev/null; then
      echo "-- $target: replaying $dir/regressions/$target"
      cargo +nightly fuzz run --fuzz-dir "$dir" "$target" "$dir"/regressions/"$target"/* -- -runs=1 $(limits "$target")
    fi
    echo "-- $target: ${secs}s"
    log="$dir/smoke-$target.log"
    if ! cargo +nightly fuzz run --fuzz-dir "$dir" "$target" "$dir/corpus/$target" "$dir/seeds/$target" -- \
        -max_total_time="$secs" -print_final_stats=1 $(limits "$target") >"$log" 2>&1; then
      tail -n 60 "$log"
      echo "fuzz target $target found a problem (input saved in $dir/artifacts/$target/)"
      exit 1
    fi
    grep -E '^#[0-9]+ +DONE|^stat::number_of_executed_units' "$log"
  done
done
