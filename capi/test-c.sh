#!/usr/bin/env bash
# The C ABI's C test (tests/c/test_bprwire.c), compiled with cc against
# include/bprwire.h and run three ways:
#   plain     the static library (release), and the shared one
#   asan      library (nightly Rust) and test both built with the address sanitizer
#   valgrind  the plain static build under memcheck
# Usage: capi/test-c.sh [plain|asan|valgrind|all]   (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
target_dir=${CARGO_TARGET_DIR:-target}
cflags=(-std=c11 -Wall -Wextra -Werror -g -Icapi/include)
libs=(-lpthread -ldl -lm)

if [[ $what == plain || $what == valgrind || $what == all ]]; then
  cargo build -q --release -p bprwire-capi
  cc "${cflags[@]}" capi/tests/c/test_bprwire.c "$target_dir/release/libbprwire_c.a" "${libs[@]}" -o "$out/static"
  cc "${cflags[@]}" capi/tests/c/test_bprwire.c -L"$target_dir/release" -lbprwire_c "${libs[@]}" -o "$out/shared"
  if [[ $what != valgrind ]]; then
    echo "-- static"; "$out/static"
    echo "-- shared"; LD_LIBRARY_PATH="$target_dir/release" "$out/shared"
  fi
  if [[ $what != plain ]]; then
    echo "-- valgrind memcheck (static)"
    valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "$out/static"
  fi
fi
if [[ $what == asan || $what == all ]]; then
  echo "-- address sanitizer"
  RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target/asan \
    cargo +nightly build -q --release -p bprwire-capi --target x86_64-unknown-linux-gnu
  cc "${cflags[@]}" -fsanitize=address capi/tests/c/test_bprwire.c \
    target/asan/x86_64-unknown-linux-gnu/release/libbprwire_c.a "${libs[@]}" -o "$out/asan"
  ASAN_OPTIONS=detect_leaks=1 "$out/asan"
fi
