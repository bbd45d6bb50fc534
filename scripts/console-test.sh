#!/usr/bin/env bash
# Tests of the desktop console (src-tauri + ui) on a fresh Debian 12 machine:
# installs the system packages and tauri-driver they need, checks the
# generated TypeScript bindings, runs the Rust tests (with a real
# gnome-keyring-daemon on a private D-Bus session, and the real-window test
# under Xvfb through tauri-driver + WebKitWebDriver) and the vitest suite.
#
#   scripts/console-test.sh            # setup + all tests
#   scripts/console-test.sh setup      # apt packages, npm ci, ui/dist (what any
#                                      # cargo build/clippy of the workspace needs)
#   scripts/console-test.sh test       # tests only (after setup)
#   SKIP_APT=1 scripts/console-test.sh # packages already there
#
# Env: CARGO_TARGET_DIR (default: target/), JOBS (cargo -j, default 1), NICE (default 19),
#      TOOLS (where tauri-driver is installed, default /var/tmp/tollgate-tools),
#      FEATURES (cargo features of the test run), E2E_PORT (tauri-driver, default 4444).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-1}
NICE=${NICE:-19}
PHASE=${1:-all}
TOOLS=${TOOLS:-/var/tmp/tollgate-tools}
# Every cargo step of CI uses these features (one feature set: no rebuilds).
FEATURES=${FEATURES:-tollgate-console/keyring-daemon-tests,tollgate-console/e2e-tests}
run() { echo "+ $*" >&2; nice -n "$NICE" "$@"; }
case "$PHASE" in all|setup|test) ;; *) echo "usage: $0 [all|setup|test]" >&2; exit 2;; esac

if [[ "$PHASE" != test ]]; then

PACKAGES=(libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev librsvg2-dev libayatana-appindicator3-dev
  build-essential pkg-config libssl-dev xvfb xauth file webkit2gtk-driver
  gnome-keyring libsecret-tools dbus dbus-x11 imagemagick)
# Only when something is missing (dpkg knows): a machine set up once skips apt.
if [[ -z "${SKIP_APT:-}" ]] && ! dpkg -s "${PACKAGES[@]}" >/dev/null 2>&1; then
  SUDO=; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi
command -v node >/dev/null || { echo "Node 20+ and npm are required (see docs/design toolchain)" >&2; exit 1; }

# tauri-driver (WebDriver for Tauri apps), kept outside the clone so CI reuses it.
if ! [[ -x "$TOOLS/bin/tauri-driver" ]]; then
  run cargo install tauri-driver --locked --version '^2' --root "$TOOLS"
fi

# UI dependencies, and the bundle the Rust build embeds (generate_context! needs ui/dist).
run npm --prefix ui ci --no-audit --no-fund
run npm --prefix ui run build
fi
[[ "$PHASE" == setup ]] && exit 0

# 1. UI: type check and vitest.
run npm --prefix ui run typecheck
run npm --prefix ui test

# 2. Rust: every test of the workspace, the console's keyring-daemon and
#    real-window tests included, in a throwaway desktop session: a private
#    D-Bus with an unlocked gnome-keyring, Xvfb and tauri-driver.
run env TOOLS="$TOOLS" bash scripts/with-desktop.sh \
  cargo test --workspace --locked -j "$JOBS" --features "$FEATURES"

echo "console tests: OK" >&2
