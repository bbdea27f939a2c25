#!/usr/bin/env bash
# The whole test suite: unit tests, the storage conformance suite and the end-to-end tests
# over real HTTP. Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

# The end-to-end tests start the real `sigil` binary too (kill -9, SIGTERM).
cargo build --workspace --bins
cargo test --workspace "$@"
