#!/usr/bin/env bash
# Ingest throughput of `hookrelay serve` per store, in one run on this machine:
# --store memory, --store sqlite:… --sync normal, --store sqlite:… --sync full.
# wrk posts ~120-byte events, each with a unique event_id (scripts/unique-events.lua);
# the modes take turns for ROUNDS rounds and the median requests/s of each is compared
# with memory's.
# Targets (issue 6): normal >= 0.5 x memory, full >= 0.2 x memory.
#
# Usage: scripts/bench-store.sh
# Env:   DURATION=10s CONNECTIONS=32 THREADS=2 ROUNDS=3 WORKERS=2
#        BENCH_DIR=/path (where the database files go; default $TMPDIR or /tmp)
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


declare -A RESULTS
MODES=(memory normal full)
for round in $(seq 1 "$ROUNDS"); do
    for mode in "${MODES[@]}"; do
        case $mode in
        memory) rps=$(measure memory --store memory) ;;
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
    esac
    printf '| %s | %s | %s | %s | %s |\n' "$label" "$med" "${RESULTS[$mode]% }" "$ratio" "$target"
done
