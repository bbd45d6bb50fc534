#!/usr/bin/env bash
# Builds and runs the demo: `tollgate-server demo` on loopback with a fresh
# SQLite database full of demo data, SMS and email to the log. It prints the
# server URL and a service token; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Only the server: the console is not part of the demo yet.
cargo build --locked --bin tollgate-server
exec "${CARGO_TARGET_DIR:-target}/debug/tollgate-server" demo --listen "${DEMO_LISTEN:-127.0.0.1:8080}" "$@"
