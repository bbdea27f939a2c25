#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for a bounded time, starting from the corpus in
# fuzz/corpus. A crash or a failed assertion fails the run and leaves the input in
# fuzz/artifacts/<target>/ (reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -O <target> <file>).
# New inputs the fuzzer finds go to a scratch directory; copy the useful ones into the corpus.
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(jwt_verify oauth_requests redirect_uri user_agent)

CARGO_FUZZ_VERSION=0.13.2
if ! command -v cargo-fuzz >/dev/null; then
  cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
# libFuzzer's instrumentation needs unstable compiler flags; the machine has only a stable
# toolchain, which accepts them under RUSTC_BOOTSTRAP. No sanitizer: the code is safe Rust
# (unsafe is forbidden), and a panic or a failed assertion is what the targets look for.
export RUSTC_BOOTSTRAP=1
flags=(--sanitizer none --release)
cargo fuzz build "${flags[@]}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  echo "== fuzz $target for ${seconds}s"
  mkdir -p "$scratch/$target"
  if ! cargo fuzz run "${flags[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$scratch/$target.log" 2>&1; then
    tail -n 60 "$scratch/$target.log" >&2
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E "^stat::(number_of_executed_units|new_units_added)|^#[0-9]+ +DONE" "$scratch/$target.log" || true
done
