#!/usr/bin/env bash
# Load script: times GET /v1/admin/users over a large seeded user base (default 100,000 users)
# on MongoDB + Redis, over real HTTP. Prints the median and 95th percentile per query.
# Usage: scripts/bench-admin-users.sh [users]
# Export SIGIL_TEST_MONGODB_URI and SIGIL_TEST_REDIS_URL to measure your own servers (a real
# mongod) instead of the ones services.sh starts; SIGIL_TEST_BACKEND=embedded measures redb.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p sigil-tests --bin bench-admin-users
source scripts/services.sh
SIGIL_TEST_BACKEND=${SIGIL_TEST_BACKEND:-mongo-redis} \
  target/release/bench-admin-users --users "${1:-100000}"
