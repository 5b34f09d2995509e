#!/usr/bin/env bash
# bench-load: run cmd/daogou-load against freshly started servers with the
# settings of the load table in docs/benchmarks.md, and print its tables.
# The server is pinned to core 0, the generator to core 1 (taskset).
#
#   deploy/bench-load.sh [idle|relay|rules|all] [-- extra daogou-load flags]
#
# Environment: SESSIONS (19000), CONVERSATIONS (5000), RATE (5000),
# DURATION (20s), BIN (./bin, holding daogou and daogou-load).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
shift || true
[ "${1:-}" = "--" ] && shift
BIN=${BIN:-./bin}
SESSIONS=${SESSIONS:-19000}
CONVERSATIONS=${CONVERSATIONS:-5000}
RATE=${RATE:-5000}
DURATION=${DURATION:-20s}
PASSWORD=bench-pass-123
PORT=18481
ADMIN=18482 # the server's admin listener: memory is read after it returns what is free
[ -x "$BIN/daogou" ] && [ -x "$BIN/daogou-load" ] || { go build -o "$BIN/daogou" ./cmd/daogou; go build -o "$BIN/daogou-load" ./cmd/daogou-load; }
# The server runs on core 0 and the generator on core 1 when taskset and two
# cores are there (taskset execs: $! is the server's own pid).
PIN0=() PIN1=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then PIN0=(taskset -c 0) PIN1=(taskset -c 1); fi

tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# start runs a fresh server (new data directory) and waits for /readyz.
start() {
  [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  rm -rf "$tmp/data"
  GODEBUG=adaptivestackstart=0 "${PIN0[@]}" "$BIN/daogou" --addr 127.0.0.1:$PORT --data-dir "$tmp/data" \
    --demo-password $PASSWORD --log-level warn --pprof-addr 127.0.0.1:$ADMIN "$@" >"$tmp/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && return; sleep 0.1; done
  echo "server did not start:"; cat "$tmp/server.log"; exit 1
}

load() { "${PIN1[@]}" "$BIN/daogou-load" "$@" --url "http://127.0.0.1:$PORT" --server-pid "$pid" --progress=false; }

if [ "$mode" = idle ] || [ "$mode" = all ]; then
  echo "== idle: $SESSIONS shopper sessions on one instance"
  start
  load idle --sessions "$SESSIONS" --duration 30s --settle 15s --setup-timeout 10m \
    --source-ips 127.0.0.1-127.0.0.20 --admin-url http://127.0.0.1:$ADMIN "$@"
fi
if [ "$mode" = relay ] || [ "$mode" = all ]; then
  echo "== relay: $CONVERSATIONS conversations, $RATE shopper messages/s, each answered"
  start
  load relay --conversations "$CONVERSATIONS" --rate "$RATE" --duration "$DURATION" \
    --supervisor-password $PASSWORD --token-file "$tmp/tokens.json" "$@"
fi
if [ "$mode" = rules ] || [ "$mode" = all ]; then
  echo "== rules: $CONVERSATIONS conversations with silent agents"
  start --greeting-deadline 15s
  load rules --conversations "$CONVERSATIONS" --supervisor-password $PASSWORD "$@"
fi
