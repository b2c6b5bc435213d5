#!/usr/bin/env bash
# Runs every check and test of perfopt from a fresh clone, installing what is missing:
# the wasm target, wasm-bindgen-cli (the version in Cargo.lock), chromium + chromedriver.
#   lints -> core for wasm32 -> docs -> native tests (unit, property, doc, end-to-end with a
#   real browser) -> wasm tests in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-tools.sh

ensure_wasm_target
ensure_wasm_bindgen_cli
ensure_chromium

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy (native and wasm32)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p perfopt-web --target wasm32-unknown-unknown --all-targets -- -D warnings
# core's dev-dependencies (proptest, rand) do not build for wasm32: lint its library there.
cargo clippy -p perfopt-core --target wasm32-unknown-unknown --lib -- -D warnings
cargo clippy -p perfopt --features alloc-count --all-targets -- -D warnings
log "perfopt-core builds for wasm32-unknown-unknown"
cargo build -p perfopt-core --target wasm32-unknown-unknown
log "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
log "native tests (unit, property, doctests, end-to-end incl. headless Chromium)"
cargo test --workspace
log "profiler with the counting allocator (feature alloc-count)"
cargo test -p perfopt --features alloc-count --lib profile
log "wasm tests of perfopt-web in headless Chromium"
cargo test -p perfopt-web --target wasm32-unknown-unknown --tests
log "all tests passed"
