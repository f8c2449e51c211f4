#!/usr/bin/env bash
# Ingest throughput of `hookrelay serve` per store, in one run on this machine:
# --store memory, --store sqlite:… --sync normal, --store sqlite:… --sync full, and with
# PG_ADMIN_URL reachable, --store postgres://… with one instance (pg1) and with two
# instances on the same database (pg2: two wrk runs at once, half the connections each,
# requests/s summed).
# wrk posts ~120-byte events, each with a unique event_id (scripts/unique-events.lua);
# the modes take turns for ROUNDS rounds and the median requests/s of each is compared
# with memory's.
# Targets (issue 19, raised from issue 6's 0.5 and 0.2): normal >= 0.7 x memory, full >= 0.5 x
# memory; (issue 16) postgres with synchronous_commit on >= 0.3 x memory. Beside each row,
# the CPU the PostgreSQL server used during the measured run (its processes' utime +
# stime), the CPU of the hookrelay process(es) and the CPU busy on the whole machine (from
# /proc/stat: wrk, hookrelay, PostgreSQL and anything else running), all in cores.
# PICK="memory pg1 pg2" picks rows (default: all, postgres when reachable; memory is the
# reference of the ratios).
#
# Usage: scripts/bench-store.sh
# Env:   DURATION=10s CONNECTIONS=32 THREADS=2 ROUNDS=3 WORKERS=2
#        BENCH_DIR=/path (where the database files go; default $TMPDIR or /tmp)
#        PG_ADMIN_URL=postgres://postgres@127.0.0.1:5432/test (a fresh database is made
#        beside it for each run and dropped; unset or unreachable: no postgres rows)
#        PG_PARAMS=sslmode=disable (query of the store's URL; the default `prefer` uses
#        TLS when the server offers it, as libpq does)
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
    local before after serve_before machine_before
    before=$(pg_ticks); serve_before=$(proc_ticks "${pid[serve]}"); machine_before=$(busy_ticks)
    report=$(ID_BASE=1000000000000000 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" "${url[serve]}")
    after=$(pg_ticks)
    echo "$(cpu_share "$before" "$after") $(cpu_share "$serve_before" "$(proc_ticks "${pid[serve]}")") $(cpu_share "$machine_before" "$(busy_ticks)")" >"$tmp/$name.cpu"
    stop serve
    if grep -q "Non-2xx" <<<"$report"; then
        echo "$name: some requests were refused:" >&2
        echo "$report" >&2
        exit 1
    fi
    awk '/^Requests\/sec:/ {printf "%d\n", $2}' <<<"$report"
}

# CPU time of every PostgreSQL server process so far, in clock ticks (utime + stime).
pg_ticks() {
    local p total=0 stat
    for p in $(pgrep -x postgres 2>/dev/null); do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        # Fields after the command name, which ends with ')': utime is the 12th, stime the 13th.
        read -r -a f <<<"${stat##*) }"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# proc_ticks PID... : CPU time of these processes (all their threads) so far, in clock ticks.
proc_ticks() {
    local p total=0 stat
    for p in "$@"; do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        read -r -a f <<<"${stat##*) }"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# busy_ticks: CPU time spent busy on the whole machine so far (every CPU, /proc/stat), in
# clock ticks: user, nice, system, irq, softirq, steal.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# cpu_share BEFORE AFTER: the PostgreSQL server's CPU over the measured run, as cores used
# (1.00 = one core busy throughout).
cpu_share() {
    local seconds=${DURATION%s}
    awk -v d="$(($2 - $1))" -v hz="$(getconf CLK_TCK)" -v s="$seconds" 'BEGIN {printf "%.2f", d / hz / s}'
}

PG_ADMIN_URL=${PG_ADMIN_URL-postgres://postgres@127.0.0.1:5432/test}
PG_DB=hookrelay_bench_$$
pg() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "$1" >/dev/null; }
# A fresh database for each postgres run: the URL of it.
fresh_pg() {
    pg "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
    pg "CREATE DATABASE $PG_DB"
    echo "${PG_ADMIN_URL%/*}/$PG_DB${PG_PARAMS:+?$PG_PARAMS}"
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
    local before serve_before machine_before
    before=$(pg_ticks); serve_before=$(proc_ticks "${pid[pga]}" "${pid[pgb]}"); machine_before=$(busy_ticks)
    wait "$a" "$b"
    echo "$(cpu_share "$before" "$(pg_ticks)") $(cpu_share "$serve_before" "$(proc_ticks "${pid[pga]}" "${pid[pgb]}")") $(cpu_share "$machine_before" "$(busy_ticks)")" >"$tmp/pg2.cpu"
    stop pga
    stop pgb
    if grep -q "Non-2xx" "$tmp/pga.wrk" "$tmp/pgb.wrk"; then
        echo "pg2: some requests were refused" >&2
        cat "$tmp/pga.wrk" "$tmp/pgb.wrk" >&2
        exit 1
    fi
    awk '/^Requests\/sec:/ {sum += $2} END {printf "%d\n", sum}' "$tmp/pga.wrk" "$tmp/pgb.wrk"
}

declare -A RESULTS CPU SERVE_CPU BUSY
MODES=(memory normal full)
if [[ -n $PG_ADMIN_URL ]] && command -v psql >/dev/null && pg "SELECT 1" 2>/dev/null; then
    MODES+=(pg1 pg2)
    trap 'pg "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true; cleanup' EXIT
else
    echo "no PostgreSQL at PG_ADMIN_URL: postgres rows left out" >&2
fi
if [[ -n ${PICK:-} ]]; then read -r -a MODES <<<"$PICK"; fi
for round in $(seq 1 "$ROUNDS"); do
    for mode in "${MODES[@]}"; do
        case $mode in
        memory) rps=$(measure memory --store memory) ;;
        pg1) rps=$(measure pg1 --store "$(fresh_pg)") ;;
        pg2) rps=$(measure_two "$(fresh_pg)") ;;
        *) rps=$(measure "$mode" --store "sqlite:$tmp/events.db" --sync "$mode") ;;
        esac
        read -r cpu serve_cpu busy < <(cat "$tmp/$mode.cpu" 2>/dev/null || echo 0 0 0)
        echo "round $round  $mode  $rps req/s  (CPU in cores: PostgreSQL $cpu, hookrelay $serve_cpu, machine busy $busy)" >&2
        RESULTS[$mode]+="$rps "
        CPU[$mode]+="$cpu "
        SERVE_CPU[$mode]+="$serve_cpu "
        BUSY[$mode]+="$busy "
    done
done

mem=$(tr ' ' '\n' <<<"${RESULTS[memory]}" | grep . | median)
echo
echo "date:   $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "uptime: $(uptime)"
echo "cpus:   $(nproc); wrk -t$THREADS -c$CONNECTIONS -d$DURATION; serve --workers $WORKERS; $ROUNDS rounds, median"
if [[ " ${MODES[*]} " == *" pg"* ]]; then
    echo "postgres: $(psql -X -Atc 'SELECT version()' "$PG_ADMIN_URL" | cut -d, -f1); synchronous_commit $(psql -X -Atc 'SHOW synchronous_commit' "$PG_ADMIN_URL"), shared_buffers $(psql -X -Atc 'SHOW shared_buffers' "$PG_ADMIN_URL")"
fi
echo "disk of the database files ($BENCH_DIR):"
df -h "$BENCH_DIR" | sed 's/^/    /'
findmnt -T "$BENCH_DIR" -o TARGET,SOURCE,FSTYPE,OPTIONS | sed 's/^/    /'
echo
printf '| store | requests/s (median) | rounds | ratio to memory | target | CPU, cores (medians): PostgreSQL / hookrelay / machine busy |\n'
printf '|---|---|---|---|---|---|\n'
for mode in "${MODES[@]}"; do
    med=$(tr ' ' '\n' <<<"${RESULTS[$mode]}" | grep . | median)
    ratio=$(awk -v a="$med" -v b="$mem" 'BEGIN {printf "%.2f", a / b}')
    case $mode in
    memory) label="memory"; target="" ;;
    normal) label="sqlite --sync normal"; target=">= 0.7" ;;
    full) label="sqlite --sync full"; target=">= 0.5" ;;
    pg1) label="postgres, one instance"; target=">= 0.3" ;;
    pg2) label="postgres, two instances"; target="" ;;
    esac
    cores=$(tr ' ' '\n' <<<"${CPU[$mode]}" | grep . | median)
    cores="$cores / $(tr ' ' '\n' <<<"${SERVE_CPU[$mode]}" | grep . | median) / $(tr ' ' '\n' <<<"${BUSY[$mode]}" | grep . | median)"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$med" "${RESULTS[$mode]% }" "$ratio" "$target" "$cores"
done
