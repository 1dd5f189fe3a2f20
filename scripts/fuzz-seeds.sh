#!/usr/bin/env bash
# Regenerates the seed corpora in fuzz/seeds/<target>/ (deterministic; see
# fuzz/src/bin/gen_seeds.rs for how seeds are chosen).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf fuzz/seeds
cargo +nightly run --quiet --release --manifest-path fuzz/Cargo.toml --bin gen_seeds -- fuzz/seeds
