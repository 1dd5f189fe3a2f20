#!/usr/bin/env bash
# Memory checks in place of Miri (which cannot be installed here):
#  1. the address sanitizer (nightly) on the test suites, every kernel level
#     this CPU has;
#  2. valgrind memcheck on the differential and error suites at the scalar
#     level (valgrind does not emulate AVX-512, and the scalar code is the
#     safe path Miri would have checked).
# Case counts are lowered: these runs are 10-50x slower than plain tests.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu

echo "== address sanitizer (nightly), all levels"
# allocator_may_return_null: an allocation larger than memory fails (NULL)
# as it does under the system allocator, instead of ASan aborting: the
# tests of fallible allocation (Buffers::new of 8 TiB) need it. Every
# other ASan finding still aborts the run.
ASAN_OPTIONS="allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" PROPTEST_CASES="${PROPTEST_CASES:-120}" \
  CARGO_TARGET_DIR=target/asan \
  cargo +nightly test --target "$target" -p bprwire --all-features --lib \
    --test kernels --test differential --test errors --test worked_example --test level_cap \
    --test decode --test decode_alloc --test service --test sinks --test sink_alloc --test arrays \
    --test features --test signature

echo "== valgrind memcheck, scalar level"
exes=$(cargo test -p bprwire --all-features --no-run --test differential --test errors --test decode --test sinks 2>&1 \
  | sed -n 's/.*Executable .*(\(.*\))$/\1/p')
for exe in $exes; do
  echo "-- $exe"
  BPRWIRE_MAX_LEVEL=scalar PROPTEST_CASES="${MEMCHECK_CASES:-40}" \
    valgrind --quiet --error-exitcode=99 --track-origins=yes "$exe" --test-threads=2
done
echo "memcheck: clean"
