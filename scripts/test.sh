#!/usr/bin/env bash
# Runs every check and test of perfopt from a fresh clone, installing what is missing:
# the wasm target, wasm-bindgen-cli (the version in Cargo.lock), chromium + chromedriver.
#   lints -> core for wasm32 -> docs -> native tests (unit, property, doc, end-to-end with a
#   real browser) -> wasm tests in headless Chromium.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
PERFOPT_SCRIPT=scripts/test.sh
. scripts/ensure-tools.sh

step "set-up script self-test (stub installers, no tool on PATH)"
bash scripts/tests/ensure-tools.sh

ensure_wasm_target
ensure_wasm_bindgen_cli
ensure_chromium
ensure_prometheus

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (native and wasm32)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p perfopt-web --target wasm32-unknown-unknown --all-targets -- -D warnings
# core's dev-dependencies (proptest, rand) do not build for wasm32: lint its library there.
cargo clippy -p perfopt-core --target wasm32-unknown-unknown --lib -- -D warnings
cargo clippy -p perfopt --features alloc-count --all-targets -- -D warnings
step "perfopt-core builds for wasm32-unknown-unknown"
cargo build -p perfopt-core --target wasm32-unknown-unknown
step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
step "native tests (unit, property, doctests, end-to-end incl. headless Chromium)"
cargo test --workspace
step "the metrics-crate bridge (feature metrics)"
cargo clippy -p perfopt --features metrics --lib --tests -- -D warnings
cargo test -p perfopt --features metrics --lib metrics_bridge
step "profiler with the counting allocator (feature alloc-count)"
cargo test -p perfopt --features alloc-count --lib profile
step "a consumer crate: perfopt without default features beside another rusqlite"
# Outside the workspace (tests/consumer has its own manifest and lock file).
cargo run --quiet --manifest-path tests/consumer/Cargo.toml --target-dir target/consumer
step "perfopt without default features brings no clap, axum, sqlite or wasm tooling"
consumer_tree=$(cargo tree --manifest-path tests/consumer/Cargo.toml -p perfopt -e normal,build --prefix none)
for crate in clap axum libsqlite3-sys wasm-bindgen-cli-support; do
  if printf '%s\n' "$consumer_tree" | grep -q "^$crate "; then
    echo "perfopt with default-features = false depends on $crate (see cargo tree -p perfopt in tests/consumer)" >&2
    exit 1
  fi
done
step "wasm tests of perfopt-web in headless Chromium"
cargo test -p perfopt-web --target wasm32-unknown-unknown --tests
log "all tests passed"
