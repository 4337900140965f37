#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit, integration
# and tshark-verified tests of every crate.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# A clean build gains nothing from incremental state, which takes gigabytes.
export CARGO_INCREMENTAL=0
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -j2 -- -D warnings
cargo test --workspace -j2
