#!/usr/bin/env bash
# The whole test suite: unit tests, the storage conformance suite against every backend, the
# end-to-end tests over real HTTP against both deployments (embedded, MongoDB + Redis),
# schemathesis against the OpenAPI document, and the fuzz targets.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

# Formatting, clippy and rustdoc with warnings as errors: a change that fails them fails CI.
scripts/lint.sh

# The end-to-end tests start the real `sigil` binary too (kill -9, SIGTERM, replicas), and
# the example resource server of sigil-keys.
cargo build --workspace --bins --tests
cargo build -p sigil-keys --features client --examples

source scripts/services.sh

echo "== deployment files"
VENV=target/test-venv scripts/validate-deploy.sh

echo "== all tests; end-to-end tests on the embedded store"
SIGIL_TEST_BACKEND=embedded cargo test --workspace "$@"

echo "== end-to-end tests again on MongoDB + Redis"
SIGIL_TEST_BACKEND=mongo-redis cargo test -p sigil-tests --test api "$@" -- \
  --skip store_conformance:: --skip replicas:: --skip drain:: --skip faults:: --skip durability::acknowledged \
  --skip durability::cli --skip durability::sigterm \
  --skip browser_login:: --skip key_rotation::rotation_under_load --skip openapi:: --skip profiler::

echo "== schemathesis against /openapi.json (every phase, the admin token survives)"
scripts/schemathesis.sh

# Each fuzz target for a bounded time from the corpus in fuzz/corpus (SIGIL_FUZZ_SECONDS,
# default 60); a crash fails the run.
echo "== fuzz targets"
scripts/fuzz.sh "${SIGIL_FUZZ_SECONDS:-60}"
