#!/usr/bin/env bash
# Regenerates the reference Rust code from schema/ with the official Apache
# Thrift compiler (0.17, Debian's thrift-compiler). The output is checked in
# under tests/reference/src/twml/ and must never be edited by hand.
#
#   scripts/gen-reference.sh            # regenerate in place
#   scripts/gen-reference.sh --check    # fail if the checked-in code differs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
want="0.17.0"
have=$(thrift --version | awk '{print $3}')
if [ "$have" != "$want" ]; then
  echo "gen-reference: need thrift $want, found '$have'" >&2
  exit 2
fi
out="$root/tests/reference/src/twml"
if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  for f in "$root"/schema/*.thrift; do thrift -out "$tmp" --gen rs "$f"; done
  if ! diff -ru "$out" "$tmp"; then
    echo "gen-reference: tests/reference/src/twml is out of sync with schema/; run scripts/gen-reference.sh" >&2
    exit 1
  fi
  echo "gen-reference: reference in sync with schema/"
else
  rm -f "$out"/*.rs
  mkdir -p "$out"
  for f in "$root"/schema/*.thrift; do thrift -out "$out" --gen rs "$f"; done
  ls "$out"
fi
