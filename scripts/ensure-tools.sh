# Sourced by scripts/run.sh and scripts/test.sh: installs what a fresh machine with only the
# Rust toolchain lacks, and makes every failure say where it happened. Each `ensure_*` step is
# skipped when its tool is already there, and checks the tool is there after installing it.
#
# Every probe of a tool that may be absent is guarded (`command -v` first, `|| true` on the
# pipeline): under `set -euo pipefail` an unguarded `$(absent-tool --version | awk …)` ends
# the script silently with status 127 before the install step (issue 8).
# scripts/tests/ensure-tools.sh checks these paths with stub installers.

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The step being run, named in the one-line error the ERR trap prints.
PERFOPT_STEP="start"
PERFOPT_STEP_NO=0
step() {
  PERFOPT_STEP_NO=$((PERFOPT_STEP_NO + 1))
  PERFOPT_STEP="$*"
  log "[$PERFOPT_STEP_NO] $*"
}

# One line on any failure: the script, the step, the failing command and its status.
perfopt_on_err() {
  local rc=$? cmd=$BASH_COMMAND
  # Inside as_root the failing command reads `"$@"`: name what it expanded to.
  [ "$cmd" != '"$@"' ] || cmd=$PERFOPT_ROOT_CMD
  printf '%s: FAILED at step "%s" (exit %d): %s\n' \
    "${PERFOPT_SCRIPT:-${0##*/}}" "$PERFOPT_STEP" "$rc" "$cmd" >&2
}
# -E: the trap also fires inside functions (the ensure_* steps).
set -E
trap perfopt_on_err ERR

die() {
  printf '%s: step "%s": %s\n' "${PERFOPT_SCRIPT:-${0##*/}}" "$PERFOPT_STEP" "$*" >&2
  exit 1
}

PERFOPT_ROOT_CMD=
as_root() {
  PERFOPT_ROOT_CMD="$*"
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    die "need root to run: $* (run as root, or install it yourself)"; fi
}

have() { command -v "$1" >/dev/null 2>&1; }

ensure_wasm_target() {
  step "wasm32-unknown-unknown target"
  if ! (rustup target list --installed 2>/dev/null || true) | grep -qx wasm32-unknown-unknown; then
    log "installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# The version of the wasm-bindgen CLI on PATH, or nothing when it is absent.
wasm_bindgen_cli_version() {
  have wasm-bindgen || return 0
  wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true
}

# The wasm-bindgen CLI (for wasm-bindgen-test-runner) must match the wasm-bindgen crate in
# Cargo.lock exactly.
ensure_wasm_bindgen_cli() {
  step "wasm-bindgen-cli (the version in Cargo.lock)"
  local want found
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  [ -n "$want" ] || die "no wasm-bindgen package in Cargo.lock: run cargo generate-lockfile"
  found=$(wasm_bindgen_cli_version)
  if [ "$found" != "$want" ]; then
    log "installing wasm-bindgen-cli $want (found: ${found:-none}; takes ~3 min)"
    # --locked fails here (a pinned dependency is not served), so install without it.
    cargo install wasm-bindgen-cli --version "=$want"
    found=$(wasm_bindgen_cli_version)
    [ "$found" = "$want" ] ||
      die "wasm-bindgen $want is not on PATH after cargo install (found: ${found:-none}); add \$CARGO_HOME/bin to PATH"
  fi
}

# Installs Debian packages unless every named tool is already on PATH.
#   ensure_apt_tools "tool1 tool2" pkg1 pkg2
PERFOPT_APT_UPDATED=
ensure_apt_tools() {
  local tools=$1 t missing=
  shift
  for t in $tools; do have "$t" || missing="$missing $t"; done
  [ -n "$missing" ] || return 0
  log "installing Debian's $* (missing:$missing)"
  if [ -z "$PERFOPT_APT_UPDATED" ]; then
    as_root apt-get update -qq
    PERFOPT_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
  for t in $tools; do have "$t" || die "$t is still missing after apt-get install $*"; done
}

ensure_chromium() {
  step "chromium and chromedriver"
  ensure_apt_tools "chromium chromedriver" chromium chromium-driver
}

ensure_prometheus() {
  step "prometheus and promtool"
  ensure_apt_tools "prometheus promtool" prometheus
}

export PATH="$HOME/.cargo/bin:$PATH"
