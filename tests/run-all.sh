#!/usr/bin/env bash
# The project's test command (README): unit, property and integration tests,
# then the end-to-end suites.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
cargo test --workspace
