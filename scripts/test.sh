#!/usr/bin/env bash
# Sets up and runs every test of the workspace on a fresh Debian/Ubuntu
# machine: formatting, lints, unit and integration tests — the API tests
# twice, on SQLite and on PostgreSQL (a throwaway cluster this script starts
# on 127.0.0.1 and removes on exit).
#
# Needs: a Rust toolchain (rustup) with clippy and rustfmt, and PostgreSQL's
# server binaries (Debian's `postgresql` package: installed with apt-get
# when missing and running as root). SQLite is bundled, TLS is rustls, and
# the tests bring their own SMTP server and Twilio-shaped endpoint.
#
# TOLLGATE_TEST_POSTGRES_URL=postgres://USER@HOST:PORT (no database name)
# uses that cluster instead of starting one; each test creates its own
# database on it.
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

# ------------------------------------------------------------ PostgreSQL

pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

PG_DIR=""
stop_postgres() {
  if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
    if [ -f "$PG_DIR/data/postmaster.pid" ]; then
      as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
  fi
}

# Runs a PostgreSQL tool as the `postgres` user when we are root (the server
# refuses to run as root), from / so that it may read its working folder.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

start_postgres() {
  PG_BIN="$(pg_bin || true)"
  if [ -z "$PG_BIN" ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "error: PostgreSQL server binaries not found; run 'apt-get install -y postgresql' as root" >&2
      exit 1
    fi
    echo "== installing PostgreSQL (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    PG_BIN="$(pg_bin || true)"
    [ -n "$PG_BIN" ] || { echo "error: PostgreSQL binaries still missing after apt-get" >&2; exit 1; }
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
  fi
  PG_DIR="$(mktemp -d /tmp/tollgate-pg.XXXXXX)"
  trap stop_postgres EXIT
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
  local port attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    # Taken if something answers there.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      continue
    fi
    if as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 30 \
        -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null; then
      export TOLLGATE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port"
      echo "== PostgreSQL $("$PG_BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port (throwaway, $PG_DIR)"
      return
    fi
    echo "   port $port did not work (attempt $attempt); trying another" >&2
  done
  echo "error: could not start PostgreSQL; its log:" >&2
  cat "$PG_DIR/postgres.log" >&2 || true
  exit 1
}

# ------------------------------------------------------------ the steps

# Started first, so a missing package or a broken cluster fails fast.
if [ -z "${TOLLGATE_TEST_POSTGRES_URL:-}" ]; then
  start_postgres
fi

# The console (src-tauri + ui): its system packages (WebKitGTK, keyring),
# npm packages and ui/dist, which any cargo build of the workspace needs.
echo "== console setup"
JOBS="${JOBS:-2}" NICE=0 bash scripts/console-test.sh setup

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked \
  --features tollgate-console/keyring-daemon-tests,tollgate-console/e2e-tests -- -D warnings
echo "== cargo test (SQLite)"
# vitest, then every Rust test of the workspace inside a private D-Bus
# session with an unlocked gnome-keyring (the console's keyring tests).
env -u TOLLGATE_TEST_POSTGRES_URL JOBS="${JOBS:-2}" NICE=0 bash scripts/console-test.sh test
# Same package selection, so nothing is rebuilt: only the API test binary
# runs again (the unit tests do not touch a database).
echo "== cargo test (PostgreSQL): the API tests, multi-instance ones included"
cargo test --workspace --locked --test api \
  --features tollgate-console/keyring-daemon-tests,tollgate-console/e2e-tests
