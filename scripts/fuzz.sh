#!/usr/bin/env bash
# Coverage-guided fuzzing of perfopt with libFuzzer through cargo-fuzz, on stable Rust
# (`-s none`: no sanitizer, so no nightly `-Z` flags are needed; Rust's own checks —
# bounds, overflow in debug-assertions builds, panics — are what find bugs).
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Runs each target (default: all five) for the given time (default 600 s) on the seed corpus
# in fuzz/corpus/<target>/, adding new inputs there; prints executions and coverage; a crash
# is saved under fuzz/artifacts/<target>/ and the script exits non-zero. Turn each crash into
# a regression test by copying it into fuzz/corpus/<target>/ (the replay test
# tests/tests/fuzz_replay.rs runs every corpus file in `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(report_json rules_file chat_line machines pool_machine)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2
# -O: release with debug assertions (overflow checks stay on).
cargo fuzz build -s none -O
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t for ${secs}s"
  cargo fuzz run -s none -O "$t" "corpus/$t" -- \
      -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 > "artifacts/$t/last-run.log" 2>&1 || status=1
  grep -E 'DONE|^stat::(number_of_executed_units|new_units_added)|SUMMARY|panicked' \
      "artifacts/$t/last-run.log" || true
  grep -q '^Done [0-9]* runs' "artifacts/$t/last-run.log" || { echo "$t: crashed, see fuzz/artifacts/$t/"; status=1; }
done
exit $status
