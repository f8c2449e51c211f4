#!/usr/bin/env bash
# Ingest throughput of `hookrelay serve` per store, in one run on this machine:
# --store memory, --store sqlite:… --sync normal, --store sqlite:… --sync full.
# wrk posts ~120-byte events, each with a unique event_id; the modes take turns for
# ROUNDS rounds and the median requests/s of each is compared with memory's.
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

if ! command -v wrk >/dev/null; then
    echo "wrk not found; installing it with apt-get" >&2
    apt-get install -y wrk >&2
fi
cargo build --release --quiet
BIN=$PWD/target/release/hookrelay

WORK=$(mktemp -d "$BENCH_DIR/hookrelay-bench.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# A unique event_id per request: thread number * 1e9 + a per-thread counter.
cat >"$WORK/post.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  counter = 0
  fmt = '{"event_id":%d,"timestamp":"2023-10-05T12:34:56Z","event_type":"bench.load","description":"ingest benchmark event"}'
  headers = {["Content-Type"] = "application/json"}
end
function request()
  counter = counter + 1
  return wrk.format("POST", "/webhook", headers, string.format(fmt, tid * 1000000000 + counter))
end
LUA

# Starts `hookrelay serve` with the given store arguments; sets SERVER_PID and ADDR.
start_server() {
    local out=$WORK/serve.out
    : >"$out"
    "$BIN" serve --port 0 --workers "$WORKERS" "$@" >"$out" 2>"$WORK/serve.err" &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        if ADDR=$(sed -n 's/^listening on //p' "$out") && [[ -n $ADDR ]]; then return; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/serve.err" >&2; exit 1; fi
        sleep 0.05
    done
    echo "hookrelay did not start" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=
}

# Prints the requests/s of one wrk run against a fresh server with the given store.
measure() {
    local name=$1
    shift
    rm -f "$WORK"/*.db*
    start_server "$@"
    wrk -t1 -c4 -d2s -s "$WORK/post.lua" "$ADDR" >/dev/null # warm-up
    local report
    report=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$WORK/post.lua" "$ADDR")
    stop_server
    if grep -q "Non-2xx" <<<"$report"; then
        echo "$name: some requests were refused:" >&2
        echo "$report" >&2
        exit 1
    fi
    awk '/^Requests\/sec:/ {printf "%d\n", $2}' <<<"$report"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A RESULTS
MODES=(memory normal full)
for round in $(seq 1 "$ROUNDS"); do
    for mode in "${MODES[@]}"; do
        case $mode in
        memory) rps=$(measure memory --store memory) ;;
        *) rps=$(measure "$mode" --store "sqlite:$WORK/events.db" --sync "$mode") ;;
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
