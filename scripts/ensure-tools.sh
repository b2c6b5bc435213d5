# Sourced by scripts/run.sh and scripts/test.sh: installs what a fresh machine with only the
# Rust toolchain lacks. Each step is skipped when its tool is already there.

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

ensure_wasm_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# The wasm-bindgen CLI (for wasm-bindgen-test-runner) must match the wasm-bindgen crate in
# Cargo.lock exactly.
ensure_wasm_bindgen_cli() {
  local want have
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
  if [ "$have" != "$want" ]; then
    log "installing wasm-bindgen-cli $want (found: ${have:-none}; takes ~3 min)"
    # --locked fails here (a pinned dependency is not served), so install without it.
    cargo install wasm-bindgen-cli --version "=$want"
  fi
}

ensure_chromium() {
  # prometheus (with promtool): tests/tests/prometheus_e2e.rs scrapes /metrics with it.
  if ! command -v chromedriver >/dev/null || [ ! -x /usr/bin/chromium ] \
    || ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    log "installing Debian's chromium, chromium-driver and prometheus"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver prometheus >/dev/null
  fi
}

export PATH="$HOME/.cargo/bin:$PATH"
