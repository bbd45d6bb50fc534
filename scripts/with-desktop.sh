#!/usr/bin/env bash
# Runs a command inside a throwaway desktop session, as the console's tests
# and benchmarks need it: a temporary HOME, a private D-Bus session with an
# unlocked gnome-keyring (Secret Service), a virtual display (Xvfb) and
# tauri-driver (WebDriver for the console) on $E2E_PORT. Everything is
# stopped and deleted afterwards.
#
#   scripts/with-desktop.sh cargo test --workspace ...
#
# Env: TOOLS (where tauri-driver is, default /var/tmp/tollgate-tools),
#      E2E_PORT (the first port to try, default 4444). The command sees
#      CONSOLE_E2E_DRIVER (tauri-driver's address).
set -euo pipefail
TOOLS=${TOOLS:-/var/tmp/tollgate-tools}
SESSION_HOME=$(mktemp -d)
trap 'rm -rf "$SESSION_HOME"' EXIT
mkdir -p "$SESSION_HOME/data" "$SESSION_HOME/runtime" "$SESSION_HOME/config"
chmod 700 "$SESSION_HOME/runtime"
display=99
while [[ -e /tmp/.X11-unix/X$display || -e /tmp/.X$display-lock ]]; do display=$((display + 1)); done
# tauri-driver on $E2E_PORT and its WebKitWebDriver on the next port: both
# free, so two sessions on one machine never talk to each other's app.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=${E2E_PORT:-4444}
while ! port_free "$port" || ! port_free $((port + 1)); do port=$((port + 2)); done
export E2E_DISPLAY=":$display" E2E_PORT="$port" E2E_NATIVE_PORT=$((port + 1)) TAURI_DRIVER="$TOOLS/bin/tauri-driver"
export CONSOLE_E2E_DRIVER="http://127.0.0.1:$E2E_PORT"
env HOME="$SESSION_HOME" XDG_DATA_HOME="$SESSION_HOME/data" XDG_CONFIG_HOME="$SESSION_HOME/config" \
  XDG_RUNTIME_DIR="$SESSION_HOME/runtime" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" \
  RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
  dbus-run-session -- bash -c '
    # A non-empty password creates and unlocks the login collection.
    printf "%s" "console-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    Xvfb "$E2E_DISPLAY" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 & xvfb=$!
    export DISPLAY="$E2E_DISPLAY"
    "$TAURI_DRIVER" --port "$E2E_PORT" --native-port "$E2E_NATIVE_PORT" --native-driver /usr/bin/WebKitWebDriver >"$XDG_RUNTIME_DIR/tauri-driver.log" 2>&1 & driver=$!
    trap "kill $driver $xvfb 2>/dev/null" EXIT
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$E2E_PORT") 2>/dev/null && break; sleep 0.1; done
    "$@" || { status=$?; echo "--- tauri-driver log (last lines)"; tail -n 40 "$XDG_RUNTIME_DIR/tauri-driver.log"; exit $status; }' \
  with-desktop "$@"
