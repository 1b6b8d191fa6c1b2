#!/usr/bin/env bash
# chatvault against plaintext SQLite and SQLCipher, on the same workload and
# the same data, in one run (BENCHMARKS.md, "Against the peers").
#
#   scripts/compare.sh [--rounds N] [--messages N] [--conversations N] [--reps N]
#                      [--spread N] [--short N]
#
# Builds the two workers in release mode (the first build compiles SQLCipher
# and OpenSSL: a few minutes), runs them alternately, and prints the figures
# (medians over the rounds), the ratios and the targets as markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
compare_target="${CARGO_TARGET_DIR:-compare/target}"
cargo build --quiet --release --example compare_worker
cargo build --quiet --release --manifest-path compare/Cargo.toml
exec "$compare_target/release/chatvault-compare" run \
  --chatvault-worker "$target/release/examples/compare_worker" "$@"
