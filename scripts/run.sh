#!/usr/bin/env bash
# The main job from a fresh clone: builds perfopt (release, with its embedded browser viewer)
# and runs `perfopt demo` on its defaults — a real chat-room server on 127.0.0.1 under load
# from 200 simulated users for 20 s — with the live viewer at http://127.0.0.1:8080/
# (PORT=... to change). Prints the four summary sections, writes report.json and a
# self-contained report.html, then keeps serving the final report until Ctrl-C.
# Any arguments replace the default command line, e.g.
#   bash scripts/run.sh demo --cache-size 100        (see the cache advice appear)
#   bash scripts/run.sh monitor -- ./my-server       (watch any program)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
PERFOPT_SCRIPT=scripts/run.sh
. scripts/ensure-tools.sh
ensure_wasm_target
step "building perfopt (release; the first build takes a few minutes)"
cargo build --release -p perfopt --quiet
bin=target/release/perfopt
step "running perfopt ${*:-demo}"
if [ $# -gt 0 ]; then exec "$bin" "$@"; fi
exec "$bin" demo --serve "127.0.0.1:${PORT:-8080}"
