#!/usr/bin/env bash
# The demo, one command on a fresh Debian/Ubuntu machine with Rust and Node:
# installs the console's prerequisites (WebKitGTK and friends, apt; the UI's
# npm packages), builds the UI, the console and the server, then opens the
# console signed in to an embedded `tollgate-server demo` (a child process
# on loopback with a fresh SQLite database of demo data; SMS and email go to
# its log). Closing the console stops the server.
#
#   bash scripts/demo.sh               # the console, signed in
#   bash scripts/demo.sh --server-only # just the demo server on $DEMO_LISTEN
#                                      # (default 127.0.0.1:8080); prints url:,
#                                      # token: (a manager) and service_token:
#
# Without a display (no $DISPLAY/$WAYLAND_DISPLAY, e.g. over SSH) the console
# runs on a virtual one (Xvfb) and a screenshot is saved as
# $DEMO_SHOT (default ./tollgate-demo.png) once it is up.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
TARGET=${CARGO_TARGET_DIR:-target}

if [[ "${1:-}" == --server-only ]]; then
  cargo build --locked --workspace --bins
  exec "$TARGET/debug/tollgate-server" demo --listen "${DEMO_LISTEN:-127.0.0.1:8080}"
fi

# apt packages (only when missing), npm ci and ui/dist.
JOBS=${JOBS:-2} NICE=0 bash scripts/console-test.sh setup
cargo build --locked --workspace --bins
CONSOLE=("$TARGET/debug/tollgate-console" --demo-server "$PWD/$TARGET/debug/tollgate-server")
[[ "$TARGET" = /* ]] && CONSOLE=("$TARGET/debug/tollgate-console" --demo-server "$TARGET/debug/tollgate-server")

if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
  exec "${CONSOLE[@]}"
fi

display=99
while [[ -e /tmp/.X11-unix/X$display || -e /tmp/.X$display-lock ]]; do display=$((display + 1)); done
echo "No display: running the console on a virtual one (Xvfb :$display)." >&2
Xvfb ":$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null' EXIT
export DISPLAY=":$display"
"${CONSOLE[@]}" &
console=$!
trap 'kill $console $xvfb 2>/dev/null' EXIT
shot=${DEMO_SHOT:-$PWD/tollgate-demo.png}
sleep 8
if command -v import >/dev/null && import -window root "$shot" 2>/dev/null; then
  echo "The console is up; a screenshot of it: $shot. Ctrl-C stops the demo." >&2
else
  echo "The console is up on DISPLAY=:$display. Ctrl-C stops the demo." >&2
fi
wait $console
