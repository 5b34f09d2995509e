#!/usr/bin/env bash
# bench-two: the relay on two instances that share one Redis and one
# PostgreSQL, sessions spread over both (most messages cross from one
# instance to the other through Redis). Both servers on core 0, the
# generator on core 1; PostgreSQL and Redis unpinned.
#
#   deploy/bench-two.sh [-- extra daogou-load flags]
#
# Environment: CONVERSATIONS (500), RATE shopper messages a second (500),
# DURATION (15s), PG (an admin URL; the database bench_two is dropped and
# made again), REDIS (redis://127.0.0.1:6379/0; keys under bench_two: are
# deleted first), BIN (./bin, holding daogou and daogou-load), SERVER_ARGS
# (more flags for both servers, split on spaces).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = "--" ] && shift
CONVERSATIONS=${CONVERSATIONS:-500}
RATE=${RATE:-500}
DURATION=${DURATION:-15s}
DB=bench_two
PASSWORD=bench-pass-123
PIN0=() PIN1=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then PIN0=(taskset -c 0) PIN1=(taskset -c 1); fi
. deploy/bench-shared.sh
"$BIN/daogou" agent add --postgres "$dbURL" --email boss@bench.test --name Boss --role supervisor --password "$PASSWORD" >"$tmp/add.log" 2>&1

for i in 1 2; do
  GODEBUG=adaptivestackstart=0 "${PIN0[@]}" "$BIN/daogou" --addr "127.0.0.1:$((18400 + i))" --redis "$REDIS" --redis-prefix "$DB:" \
    --postgres "$dbURL" --pg-max-conns 16 --data-dir "$tmp/data$i" --log-level warn ${SERVER_ARGS:-} >"$tmp/server$i.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$((18400 + i))/readyz" >/dev/null && break; sleep 0.1; done
done

"${PIN1[@]}" "$BIN/daogou-load" relay --url http://127.0.0.1:18401,http://127.0.0.1:18402 \
  --conversations "$CONVERSATIONS" --rate "$RATE" --agent-rate 8 --duration "$DURATION" \
  --supervisor-email boss@bench.test --supervisor-password "$PASSWORD" \
  --server-pid "${pids[0]},${pids[1]}" --progress=false "$@"
