#!/usr/bin/env bash
# Self-test of scripts/ensure-tools.sh (issue 8): runs its ensure_* steps on a PATH that holds
# none of the tools they install, with stub installers (cargo, rustup, apt-get, sudo) that
# record what they are asked to do, and checks that
#   1. every install path is reached (and nothing else is run when the tools are present),
#   2. a failing installer ends the script with one line naming the step and the command,
#   3. a tool still missing after its installer ran is a clear error, not a silent exit.
# Needs only bash and coreutils; runs in a second, no install happens for real.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# A bin folder with the few real utilities the script may use, and nothing else.
real_bin="$work/real"
mkdir -p "$real_bin"
for tool in awk grep id cat mkdir chmod rm mktemp; do
  ln -s "$(command -v "$tool")" "$real_bin/$tool"
done

# new_case NAME: a fresh HOME and stub folder; the stubs append their argv to $work/NAME/calls.
new_case() {
  case_dir="$work/$1"
  mkdir -p "$case_dir/home" "$case_dir/stubs"
  calls="$case_dir/calls"
  : >"$calls"
  local s
  # rustup: knows only the host target until `target add` is run.
  cat >"$case_dir/stubs/rustup" <<STUB
#!/bin/bash
echo "rustup \$*" >>"$calls"
if [ "\$1 \$2" = "target list" ]; then echo x86_64-unknown-linux-gnu; fi
exit \${STUB_RUSTUP_RC:-0}
STUB
  # cargo install wasm-bindgen-cli --version =X puts a wasm-bindgen X into \$HOME/.cargo/bin.
  cat >"$case_dir/stubs/cargo" <<STUB
#!/bin/bash
echo "cargo \$*" >>"$calls"
[ "\${STUB_CARGO_RC:-0}" = 0 ] || exit "\$STUB_CARGO_RC"
if [ "\$1 \$2" = "install wasm-bindgen-cli" ] && [ -z "\${STUB_CARGO_NOOP:-}" ]; then
  mkdir -p "\$HOME/.cargo/bin"
  printf '#!/bin/bash\necho "wasm-bindgen %s"\n' "\${4#=}" >"\$HOME/.cargo/bin/wasm-bindgen"
  chmod +x "\$HOME/.cargo/bin/wasm-bindgen"
fi
STUB
  # apt-get install P… makes stub commands for the tools those packages bring.
  cat >"$case_dir/stubs/apt-get" <<STUB
#!/bin/bash
echo "apt-get \$*" >>"$calls"
[ "\${STUB_APT_RC:-0}" = 0 ] || exit "\$STUB_APT_RC"
[ -n "\${STUB_APT_NOOP:-}" ] && exit 0
for p in "\$@"; do
  case "\$p" in
    chromium) t="chromium" ;; chromium-driver) t="chromedriver" ;;
    prometheus) t="prometheus promtool" ;; *) t="" ;;
  esac
  for x in \$t; do printf '#!/bin/bash\n' >"$case_dir/stubs/\$x"; chmod +x "$case_dir/stubs/\$x"; done
done
STUB
  cat >"$case_dir/stubs/sudo" <<STUB
#!/bin/bash
echo "sudo \$1" >>"$calls"
exec "\$@"
STUB
  for s in rustup cargo apt-get sudo; do chmod +x "$case_dir/stubs/$s"; done
}

# run_steps STEPS…: sources ensure-tools.sh as test.sh does and runs the steps, on the
# stub PATH only. Sets $rc and $err (stderr).
run_steps() {
  err=$(cd "$repo" && env -i HOME="$case_dir/home" PATH="$case_dir/stubs:$real_bin" \
    STUB_CARGO_RC="${STUB_CARGO_RC:-0}" STUB_APT_RC="${STUB_APT_RC:-0}" \
    STUB_APT_NOOP="${STUB_APT_NOOP:-}" STUB_CARGO_NOOP="${STUB_CARGO_NOOP:-}" \
    /bin/bash -c 'set -Eeuo pipefail; PERFOPT_SCRIPT=selftest; . scripts/ensure-tools.sh; for s in "$@"; do "$s"; done' \
    selftest "$@" 2>&1 >/dev/null)
  rc=$?
}

check() { # check DESCRIPTION CONDITION…
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: $what" >&2
    echo "  exit: $rc; calls:" >&2
    sed 's/^/    /' "$calls" >&2
    echo "  stderr:" >&2
    printf '%s\n' "$err" | sed 's/^/    /' >&2
  fi
}
called() { grep -qF -- "$1" "$calls"; }
not_called() { ! grep -qF -- "$1" "$calls"; }
err_has() { printf '%s' "$err" | grep -qF -- "$1"; }

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$repo/Cargo.lock")

# 1. A bare machine: every tool missing, every installer reached, exit 0.
new_case bare
run_steps ensure_wasm_target ensure_wasm_bindgen_cli ensure_chromium ensure_prometheus
check "bare machine: the steps succeed" test "$rc" = 0
check "bare machine: the wasm target is added" called "rustup target add wasm32-unknown-unknown"
check "bare machine: wasm-bindgen-cli $want is installed" called "cargo install wasm-bindgen-cli --version =$want"
check "bare machine: apt-get update runs once" test "$(grep -c 'apt-get update' "$calls")" = 1
check "bare machine: chromium and chromium-driver are installed" called "install -y -qq chromium chromium-driver"
check "bare machine: prometheus is installed" called "install -y -qq prometheus"
check "bare machine: each step is announced" err_has "wasm-bindgen-cli (the version in Cargo.lock)"

# 2. Same machine again: everything is there now, so nothing is installed.
: >"$calls"
printf '#!/bin/bash\necho wasm32-unknown-unknown\n' >"$case_dir/stubs/rustup"
run_steps ensure_wasm_target ensure_wasm_bindgen_cli ensure_chromium ensure_prometheus
check "tools present: the steps succeed" test "$rc" = 0
check "tools present: nothing is installed" not_called "install"

# 3. An old wasm-bindgen on PATH is replaced by the Cargo.lock version.
new_case old
printf '#!/bin/bash\necho "wasm-bindgen 0.0.1"\n' >"$case_dir/stubs/wasm-bindgen"
chmod +x "$case_dir/stubs/wasm-bindgen"
run_steps ensure_wasm_bindgen_cli
check "old wasm-bindgen: the locked version is installed" called "cargo install wasm-bindgen-cli --version =$want"
check "old wasm-bindgen: says what it found" err_has "found: 0.0.1"

# 4. A failing installer: non-zero exit and one line naming the step and the command.
new_case aptfails
STUB_APT_RC=100 run_steps ensure_chromium
check "apt-get fails: non-zero exit" test "$rc" != 0
check "apt-get fails: the step is named" err_has 'FAILED at step "chromium and chromedriver"'
check "apt-get fails: the command is named" err_has "apt-get update"

new_case cargofails
STUB_CARGO_RC=101 run_steps ensure_wasm_bindgen_cli ensure_chromium
check "cargo install fails: non-zero exit" test "$rc" != 0
check "cargo install fails: step and command named" err_has 'FAILED at step "wasm-bindgen-cli (the version in Cargo.lock)" (exit 101): cargo install'
check "cargo install fails: later steps do not run" not_called "apt-get"

# 5. An installer that succeeds without installing: a clear error, not a silent exit.
new_case aptnoop
STUB_APT_NOOP=1 run_steps ensure_chromium
check "apt-get installs nothing: non-zero exit" test "$rc" != 0
check "apt-get installs nothing: says what is missing" err_has "chromium is still missing after apt-get install"

new_case cargonoop
STUB_CARGO_NOOP=1 run_steps ensure_wasm_bindgen_cli
check "cargo installs nothing: non-zero exit" test "$rc" != 0
check "cargo installs nothing: says what is missing" err_has "is not on PATH after cargo install"

echo "ensure-tools self-test: $passed passed, $failed failed"
[ "$failed" = 0 ]
