#!/usr/bin/env bash
# Sets up and runs every test of the workspace on a fresh Debian/Ubuntu
# machine: formatting, lints, unit and integration tests.
#
# Needs: a Rust toolchain (rustup) with clippy and rustfmt. Nothing from apt
# yet: SQLite is bundled, TLS is rustls, and the tests bring their own
# SMTP server and Twilio-shaped endpoint on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! command -v cargo >/dev/null; then
  echo "error: cargo not found; install Rust with rustup first" >&2
  exit 1
fi
for component in clippy rustfmt; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
