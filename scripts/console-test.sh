#!/usr/bin/env bash
# Tests of the desktop console (src-tauri + ui) on a fresh Debian 12 machine:
# installs the system packages they need, checks the generated TypeScript
# bindings, runs the Rust tests (with a real gnome-keyring-daemon on a private
# D-Bus session) and the vitest suite.
#
#   scripts/console-test.sh            # setup + all tests
#   scripts/console-test.sh setup      # apt packages, npm ci, ui/dist (what any
#                                      # cargo build/clippy of the workspace needs)
#   scripts/console-test.sh test       # tests only (after setup)
#   SKIP_APT=1 scripts/console-test.sh # packages already there
#
# Env: CARGO_TARGET_DIR (default: target/), JOBS (cargo -j, default 1), NICE (default 19).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-1}
NICE=${NICE:-19}
PHASE=${1:-all}
run() { echo "+ $*" >&2; nice -n "$NICE" "$@"; }
case "$PHASE" in all|setup|test) ;; *) echo "usage: $0 [all|setup|test]" >&2; exit 2;; esac

if [[ "$PHASE" != test ]]; then

if [[ -z "${SKIP_APT:-}" ]]; then
  SUDO=; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev librsvg2-dev libayatana-appindicator3-dev \
    build-essential pkg-config libssl-dev xvfb xauth file \
    gnome-keyring libsecret-tools dbus dbus-x11 >/dev/null
fi
command -v node >/dev/null || { echo "Node 20+ and npm are required (see docs/design toolchain)" >&2; exit 1; }

# UI dependencies, and the bundle the Rust build embeds (generate_context! needs ui/dist).
run npm --prefix ui ci --no-audit --no-fund
run npm --prefix ui run build
fi
[[ "$PHASE" == setup ]] && exit 0

# 1. UI: type check and vitest.
run npm --prefix ui run typecheck
run npm --prefix ui test

# 2. Rust: every test of the workspace, the console's keyring-daemon tests
#    included, inside a private D-Bus session with an unlocked gnome-keyring.
KEYRING_HOME=$(mktemp -d)
trap 'rm -rf "$KEYRING_HOME"' EXIT
mkdir -p "$KEYRING_HOME/data" "$KEYRING_HOME/runtime" "$KEYRING_HOME/config"
chmod 700 "$KEYRING_HOME/runtime"
export CONSOLE_CARGO="cargo test --workspace --locked -j $JOBS --features tollgate-console/keyring-daemon-tests"
run env HOME="$KEYRING_HOME" XDG_DATA_HOME="$KEYRING_HOME/data" XDG_CONFIG_HOME="$KEYRING_HOME/config" \
  XDG_RUNTIME_DIR="$KEYRING_HOME/runtime" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" \
  RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
  dbus-run-session -- sh -c '
    # A non-empty password creates and unlocks the login collection.
    printf "%s" "console-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    exec $CONSOLE_CARGO'

echo "console tests: OK" >&2
