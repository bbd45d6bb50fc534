#!/usr/bin/env bash
# Load benchmark (docs/BENCHMARKS.md): release servers as separate processes,
# the load generator (crates/bench) on the same machine.
#
#   bash scripts/bench.sh sqlite        # one instance on an SQLite file
#   bash scripts/bench.sh postgres 1    # one instance on a throwaway PostgreSQL cluster
#   bash scripts/bench.sh postgres 2    # two instances on it
#
# BENCH_ARGS (e.g. "--clients 200 --secs 10 --users 1000", "--rate 5000" for
# an open-loop run) go to tollgate-bench. BENCH_NO_BUILD=1 skips the build.
# codes.max_sends is raised to 1,000,000 so the challenge path runs at full
# rate (the per-number limit would otherwise refuse the 6th code per user),
# and codes.send_window_secs cut to 1 s so that checking the limit still
# counts about as many earlier sends per number as in production (at most
# the limit, 5): with 1,200 numbers at 5,000 codes/s a 10-minute window
# would count ~80 per number by the end of a 20 s phase, work production
# never does (docs/BENCHMARKS.md, "The send limit's count").
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINE="${1:-sqlite}"
INSTANCES="${2:-1}"
TARGET="${CARGO_TARGET_DIR:-target}"
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release --workspace --locked >&2
WORK="$(mktemp -d /tmp/tollgate-bench.XXXXXX)"
# Copies: a build of another checkout into the same target directory must
# not swap the binaries under a running benchmark.
cp "$TARGET/release/tollgate-server" "$TARGET/release/tollgate-bench" "$WORK/"
BIN="$WORK/tollgate-server"
BENCH="$WORK/tollgate-bench"
PIDS=()
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
cleanup() {
  grep -h -i "error" "$WORK"/server-*.log 2>/dev/null | sort | uniq -c | sort -rn | head -8 >&2 || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -f "$WORK/pg/data/postmaster.pid" ]; then
    (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop >/dev/null 2>&1) || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export TOLLGATE_CODES__HMAC_KEY="YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktYmVuY2g="
export TOLLGATE_CODES__MAX_SENDS=1000000
export TOLLGATE_CODES__SEND_WINDOW_SECS=1
export TOLLGATE_SMS__PROVIDER=twilio
export TOLLGATE_SMS__TWILIO__ACCOUNT_SID=AC0123456789abcdef0123456789abcdef
export TOLLGATE_SMS__TWILIO__AUTH_TOKEN=bench
export TOLLGATE_SMS__TWILIO__FROM=+15005550006
export TOLLGATE_SMS__TWILIO__BASE_URL=http://127.0.0.1:9099
export TOLLGATE_EMAIL__PROVIDER=log
export TOLLGATE_OUTBOX__POLL_MS=100
export RUST_LOG=warn

if [ "$ENGINE" = postgres ]; then
  mkdir -p "$WORK/pg" && chown postgres "$WORK" "$WORK/pg"
  (cd / && runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null)
  PORT=$(( 20000 + RANDOM % 20000 ))
  (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w \
    -o "-p $PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB" start >/dev/null)
  (cd / && runuser -u postgres -- "$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" tollgate)
  export TOLLGATE_DATABASE__URL="postgres://postgres@127.0.0.1:$PORT/tollgate"
  export TOLLGATE_DATABASE__MAX_CONNECTIONS="${PG_POOL:-16}"
else
  export TOLLGATE_DATABASE__URL="sqlite://$WORK/bench.db"
fi

TOKEN="$("$BIN" service-token create --name bench | sed -n 's/^token: //p')"
URLS=()
for i in $(seq 1 "$INSTANCES"); do
  PORT_I=$(( 8180 + i ))
  TOLLGATE_SERVER__LISTEN="127.0.0.1:$PORT_I" "$BIN" serve 2>"$WORK/server-$i.log" &
  PIDS+=("$!")
  URLS+=("http://127.0.0.1:$PORT_I")
done
for url in "${URLS[@]}"; do
  for _ in $(seq 1 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
done
echo "== $ENGINE, $INSTANCES instance(s): $(nproc) cores, $(IFS=,; echo "${URLS[*]}")"
"$BENCH" --url "$(IFS=,; echo "${URLS[*]}")" --token "$TOKEN" ${BENCH_ARGS:-}
