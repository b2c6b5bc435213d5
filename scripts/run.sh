#!/usr/bin/env bash
# The main job from a fresh clone: builds perfopt (with its embedded browser viewer) and
# monitors a sample workload (`perfopt stress`: two spinning threads, 8 MiB/s of allocations)
# for 30 s with the live viewer at http://127.0.0.1:8080/ (PORT=... to change). Writes
# report.json, prints the recommendations, then keeps serving the final report until Ctrl-C.
# Any arguments replace the default `monitor ...` command line: scripts/run.sh report show report.json
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-tools.sh
ensure_wasm_target
log "building perfopt (release; the first build takes a few minutes)"
cargo build --release -p perfopt --quiet
bin=target/release/perfopt
if [ $# -gt 0 ]; then exec "$bin" "$@"; fi
exec "$bin" monitor --duration "${DURATION:-30s}" --serve "127.0.0.1:${PORT:-8080}" --out report.json \
  -- "$bin" stress --duration 120s --threads 2 --mib-per-sec 8
