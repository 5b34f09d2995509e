# bench-shared: what the benchmarks of several instances on one Redis and
# one PostgreSQL share. Sourced by bench-cluster.sh and bench-two.sh after
# they set DB; it gives BIN, PG and REDIS their defaults, builds the
# binaries when missing, sets tmp (removed on exit, with the servers in
# pids), makes the database DB afresh, deletes the Redis keys under DB: and
# sets dbURL to the database.
BIN=${BIN:-./bin}
PG=${PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
REDIS=${REDIS:-redis://127.0.0.1:6379/0}
[ -x "$BIN/daogou" ] && [ -x "$BIN/daogou-load" ] || { go build -o "$BIN/daogou" ./cmd/daogou; go build -o "$BIN/daogou-load" ./cmd/daogou-load; }

tmp=$(mktemp -d)
pids=()
cleanup() { [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
redis-cli -u "$REDIS" --scan --pattern "$DB:*" | xargs -r redis-cli -u "$REDIS" del >/dev/null
dbURL=$(sed -E "s#/[^/?]+(\?|$)#/$DB\1#" <<<"$PG")
