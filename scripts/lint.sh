#!/usr/bin/env bash
# The gates every change passes: formatting, clippy with warnings as errors (which enforces the
# workspace's unwrap/expect/panic denies and forbids unsafe code), rustdoc with warnings as
# errors, and cargo-deny on bans, licenses and sources (deny.toml; no advisory download).
# scripts/test.sh runs this first.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "== cargo deny check bans licenses sources"
if ! command -v cargo-deny >/dev/null; then
  echo "cargo-deny is missing: cargo install cargo-deny --locked --version 0.20.2 (.ci/run does this)" >&2
  exit 1
fi
cargo deny --log-level error check bans licenses sources
