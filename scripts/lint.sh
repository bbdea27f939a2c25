#!/usr/bin/env bash
# The gates every change passes: formatting, clippy with warnings as errors (which enforces the
# workspace's unwrap/expect/panic denies and forbids unsafe code), and rustdoc with warnings as
# errors. scripts/test.sh runs this first.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
