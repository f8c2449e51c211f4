#!/usr/bin/env bash
# Ingest throughput of `hookrelay serve` per store, in one run on this machine:
# --store memory, --store sqlite:… --sync normal, --store sqlite:… --sync full, and with
# PG_ADMIN_URL reachable, --store postgres://… with one instance (pg1) and with two
# instances on the same database (pg2: two wrk runs at once, half the connections each,
# requests/s summed).
# wrk posts ~120-byte events, each with a unique event_id (scripts/unique-events.lua);
# the modes take turns for ROUNDS rounds and the median requests/s of each is compared
# with memory's.
# Targets (issue 6): normal >= 0.5 x memory, full >= 0.2 x memory; (issue 16) postgres
# with synchronous_commit on >= 0.3 x memory.
#
# Usage: scripts/bench-store.sh
# Env:   DURATION=10s CONNECTIONS=32 THREADS=2 ROUNDS=3 WORKERS=2
#        BENCH_DIR=/path (where the database files go; default $TMPDIR or /tmp)
#        PG_ADMIN_URL=postgres://postgres@127.0.0.1:5432/test (a fresh database is made
#        beside it for each run and dropped; unset or unreachable: no postgres rows)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-2}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}

source scripts/lib.sh
need wrk
build --bin hookrelay
LUA=scripts/unique-events.lua

# Prints the requests/s of one wrk run against a fresh server with the given store.
measure() {
    local name=$1
    shift
    rm -f "$tmp"/*.db*
    start serve "$HOOKRELAY" serve --port 0 --workers "$WORKERS" "$@"
    wrk -t1 -c4 -d2s -s "$LUA" "${url[serve]}" >/dev/null # warm-up
    local report
    # Ids from 1e15 on, clear of the warm-up's.
    report=$(ID_BASE=1000000000000000 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" "${url[serve]}")
    stop serve
    if grep -q "Non-2xx" <<<"$report"; then
        echo "$name: some requests were refused:" >&2
        echo "$report" >&2
        exit 1
    fi
    awk '/^Requests\/sec:/ {printf "%d\n", $2}' <<<"$report"
}

PG_ADMIN_URL=${PG_ADMIN_URL-postgres://postgres@127.0.0.1:5432/test}
PG_DB=hookrelay_bench_$$
pg() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "$1" >/dev/null; }
# A fresh database for each postgres run: the URL of it.
fresh_pg() {
    pg "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
    pg "CREATE DATABASE $PG_DB"
    echo "${PG_ADMIN_URL%/*}/$PG_DB"
}

# Requests/s of two instances on one database, each loaded by its own wrk with half the
# connections, summed.
measure_two() {
    local db=$1 half=$((CONNECTIONS / 2)) a b
    start pga "$HOOKRELAY" serve --port 0 --workers "$WORKERS" --store "$db"
    start pgb "$HOOKRELAY" serve --port 0 --workers "$WORKERS" --store "$db"
    wrk -t1 -c4 -d2s -s "$LUA" "${url[pga]}" >/dev/null
    ID_BASE=1000000000000000 wrk -t1 -c"$half" -d"$DURATION" -s "$LUA" "${url[pga]}" >"$tmp/pga.wrk" &
    a=$!
    ID_BASE=2000000000000000 wrk -t1 -c"$half" -d"$DURATION" -s "$LUA" "${url[pgb]}" >"$tmp/pgb.wrk" &
    b=$!
    wait "$a" "$b"
    stop pga
    stop pgb
    if grep -q "Non-2xx" "$tmp/pga.wrk" "$tmp/pgb.wrk"; then
        echo "pg2: some requests were refused" >&2
        cat "$tmp/pga.wrk" "$tmp/pgb.wrk" >&2
        exit 1
    fi
    awk '/^Requests\/sec:/ {sum += $2} END {printf "%d\n", sum}' "$tmp/pga.wrk" "$tmp/pgb.wrk"
}

declare -A RESULTS
MODES=(memory normal full)
if [[ -n $PG_ADMIN_URL ]] && command -v psql >/dev/null && pg "SELECT 1" 2>/dev/null; then
    MODES+=(pg1 pg2)
    trap 'pg "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true; cleanup' EXIT
else
    echo "no PostgreSQL at PG_ADMIN_URL: postgres rows left out" >&2
fi
for round in $(seq 1 "$ROUNDS"); do
    for mode in "${MODES[@]}"; do
        case $mode in
        memory) rps=$(measure memory --store memory) ;;
        pg1) rps=$(measure pg1 --store "$(fresh_pg)") ;;
        pg2) rps=$(measure_two "$(fresh_pg)") ;;
        *) rps=$(measure "$mode" --store "sqlite:$tmp/events.db" --sync "$mode") ;;
        esac
        echo "round $round  $mode  $rps req/s" >&2
        RESULTS[$mode]+="$rps "
    done
done

mem=$(tr ' ' '\n' <<<"${RESULTS[memory]}" | grep . | median)
echo
echo "date:   $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "uptime: $(uptime)"
echo "cpus:   $(nproc); wrk -t$THREADS -c$CONNECTIONS -d$DURATION; serve --workers $WORKERS; $ROUNDS rounds, median"
echo "disk of the database files ($BENCH_DIR):"
df -h "$BENCH_DIR" | sed 's/^/    /'
findmnt -T "$BENCH_DIR" -o TARGET,SOURCE,FSTYPE,OPTIONS | sed 's/^/    /'
echo
printf '| store | requests/s (median) | rounds | ratio to memory | target |\n'
printf '|---|---|---|---|---|\n'
for mode in "${MODES[@]}"; do
    med=$(tr ' ' '\n' <<<"${RESULTS[$mode]}" | grep . | median)
    ratio=$(awk -v a="$med" -v b="$mem" 'BEGIN {printf "%.2f", a / b}')
    case $mode in
    memory) label="memory"; target="" ;;
    normal) label="sqlite --sync normal"; target=">= 0.5" ;;
    full) label="sqlite --sync full"; target=">= 0.2" ;;
    pg1) label="postgres, one instance"; target=">= 0.3" ;;
    pg2) label="postgres, two instances"; target="" ;;
    esac
    printf '| %s | %s | %s | %s | %s |\n' "$label" "$med" "${RESULTS[$mode]% }" "$ratio" "$target"
done
