#!/usr/bin/env bash
# bench-cluster: idle shopper sessions on several instances that share one
# Redis and one PostgreSQL, one generator process per instance (each process
# may hold at most ~19,000 sockets), and the generators' tables at the end.
#
#   deploy/bench-cluster.sh
#
# Environment: INSTANCES (5), SESSIONS per instance (19000), RATE new
# sessions a second per generator (60), HOLD (60s), PG (an admin URL; the
# database bench_cluster is dropped and made again), REDIS
# (redis://127.0.0.1:6379/0; keys under bench_cluster: are deleted first),
# BIN (./bin, holding daogou and daogou-load).
set -euo pipefail
cd "$(dirname "$0")/.."
INSTANCES=${INSTANCES:-5}
SESSIONS=${SESSIONS:-19000}
RATE=${RATE:-60}
HOLD=${HOLD:-60s}
DB=bench_cluster
. deploy/bench-shared.sh

for i in $(seq "$INSTANCES"); do
  GODEBUG=adaptivestackstart=0 "$BIN/daogou" --addr "127.0.0.1:$((18500 + i))" --redis "$REDIS" --redis-prefix "$DB:" \
    --postgres "$dbURL" --pg-max-conns 16 --pprof-addr "127.0.0.1:$((6070 + i))" --data-dir "$tmp/data$i" --demo-password bench-pass-123 --log-level warn \
    >"$tmp/server$i.log" 2>&1 &
  pids+=($!)
  sleep 2 # one at a time: each migrates and rebuilds on start
done
for i in $(seq "$INSTANCES"); do
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$((18500 + i))/readyz" >/dev/null && break; sleep 0.2; done
done

gens=()
for i in $(seq "$INSTANCES"); do
  "$BIN/daogou-load" idle --sessions "$SESSIONS" --duration "$HOLD" --settle 20s --setup-timeout 20m \
    --connect-rate "$RATE" --source-ips "127.0.0.$((10 * i + 1))-127.0.0.$((10 * i + 9))" \
    --url "http://127.0.0.1:$((18500 + i))" --server-pid "${pids[$((i - 1))]}" --progress=false >"$tmp/gen$i.txt" 2>&1 &
  gens+=($!)
done
wait "${gens[@]}" || true
for i in $(seq "$INSTANCES"); do
  echo "== instance $i"
  cat "$tmp/gen$i.txt"
done
