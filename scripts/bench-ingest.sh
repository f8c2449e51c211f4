#!/usr/bin/env bash
# Loads `hookrelay serve --workers N` and the bare axum handler (examples/bare.rs, answers 200
# without reading the body) side by side in one run, at N = 1 and N = the number of CPUs.
# Every request is a ~120-byte event with a unique event_id (scripts/unique-events.lua), so
# hookrelay pays validation, a dedup lookup that misses, storage, and, once its store holds
# --max-events events, eviction of the oldest. Runs alternate bare / hookrelay for ROUNDS
# rounds so both see the same machine load; the verdict compares medians.
#
# Targets (issue 2): hookrelay req/s >= 0.9 x bare, hookrelay p99 <= 1.5 x bare p99.
#
# Env: DURATION (10s), WARMUP (3s), ROUNDS (3), CONNECTIONS (32), MAX_EVENTS (100000),
#      WORKERS ("1 $(nproc)"), WRK_CPU (0; empty = don't pin wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
MAX_EVENTS=${MAX_EVENTS:-100000}
WORKERS=${WORKERS:-"1 $(nproc)"}
WRK_CPU=${WRK_CPU-0}
LUA=scripts/unique-events.lua

if ! command -v wrk >/dev/null; then
  echo "wrk not found; installing it from the system's packages" >&2
  apt-get install -y wrk >/dev/null
fi
cargo build --release --quiet --bin hookrelay --example bare
HOOKRELAY=target/release/hookrelay
BARE=target/release/examples/bare

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# start NAME CMD... : starts a server on 127.0.0.1:0, waits for its first line, sets $url.
start() {
  local name=$1; shift
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  local deadline=$((SECONDS + 10))
  until grep -q '^listening on ' "$tmp/$name.out" 2>/dev/null; do
    if ((SECONDS > deadline)); then echo "$name did not start" >&2; cat "$tmp/$name.err" >&2; exit 1; fi
    sleep 0.05
  done
  url=$(head -1 "$tmp/$name.out" | sed 's/^listening on //')
}

stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}

pin=()
if [[ -n $WRK_CPU ]] && command -v taskset >/dev/null; then pin=(taskset -c "$WRK_CPU"); fi

# load URL DURATION ID_BASE : prints "RPS P99_US NON2XX"
load() {
  local out
  out=$(ID_BASE=$3 "${pin[@]}" wrk -t1 -c"$CONNECTIONS" -d"$2" --latency -s "$LUA" "$1/webhook")
  local rps p99 non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : 0; printf "%.0f", v * m}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$rps $p99 ${non2xx:-0}"
}

median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "# bench-ingest $(date -u +%FT%TZ) | $(nproc) CPUs | $(uname -r)"
echo "# wrk -t1 -c$CONNECTIONS -d$DURATION, pinned: ${pin[*]:-no} | rounds: $ROUNDS | hookrelay --max-events $MAX_EVENTS"
status=0
base=0
for n in $WORKERS; do
  stop_all
  start bare "$BARE" --port 0 --workers "$n"; bare_url=$url
  start hookrelay "$HOOKRELAY" serve --port 0 --workers "$n" --max-events "$MAX_EVENTS"; hr_url=$url
  # Warm up both; hookrelay's store is filled to --max-events so eviction is in every run.
  load "$bare_url" "$WARMUP" 0 >/dev/null
  base=$((base + 10 ** 10))
  while :; do
    load "$hr_url" "$WARMUP" "$base" >/dev/null
    base=$((base + 10 ** 10))
    stored=$(curl -s "$hr_url/healthz" | sed -E 's/.*"events":([0-9]+).*/\1/')
    ((stored >= MAX_EVENTS)) && break
  done
  echo
  echo "## workers = $n   (load before: $(uptime | sed 's/.*load average: //'))"
  printf '%-6s %12s %12s %10s %10s %9s %9s  %s\n' round bare_rps hr_rps rps_ratio bare_p99 hr_p99 p99_ratio load
  : >"$tmp/rows"
  for r in $(seq 1 "$ROUNDS"); do
    read -r b_rps b_p99 b_bad < <(load "$bare_url" "$DURATION" "$base"); base=$((base + 10 ** 10))
    read -r h_rps h_p99 h_bad < <(load "$hr_url" "$DURATION" "$base"); base=$((base + 10 ** 10))
    if ((b_bad + h_bad > 0)); then echo "non-2xx answers: bare $b_bad, hookrelay $h_bad" >&2; status=1; fi
    echo "$b_rps $h_rps $b_p99 $h_p99" >>"$tmp/rows"
    printf '%-6s %12.0f %12.0f %10.3f %8sus %7sus %9.3f  %s\n' "$r" "$b_rps" "$h_rps" \
      "$(echo "$h_rps / $b_rps" | bc -l)" "$b_p99" "$h_p99" "$(echo "$h_p99 / $b_p99" | bc -l)" \
      "$(uptime | sed 's/.*load average: //' | cut -d, -f1)"
  done
  b_rps=$(awk '{print $1}' "$tmp/rows" | median); h_rps=$(awk '{print $2}' "$tmp/rows" | median)
  b_p99=$(awk '{print $3}' "$tmp/rows" | median); h_p99=$(awk '{print $4}' "$tmp/rows" | median)
  rps_ratio=$(echo "$h_rps / $b_rps" | bc -l); p99_ratio=$(echo "$h_p99 / $b_p99" | bc -l)
  rps_ok=$(echo "$rps_ratio >= 0.9" | bc -l); p99_ok=$(echo "$p99_ratio <= 1.5" | bc -l)
  printf '%-6s %12.0f %12.0f %10.3f %8sus %7sus %9.3f\n' median "$b_rps" "$h_rps" "$rps_ratio" "$b_p99" "$h_p99" "$p99_ratio"
  echo "workers=$n: req/s ratio $(printf %.3f "$rps_ratio") (target >= 0.9: $( ((rps_ok)) && echo met || echo NOT met)), p99 ratio $(printf %.3f "$p99_ratio") (target <= 1.5: $( ((p99_ok)) && echo met || echo NOT met))"
  curl -s "$hr_url/healthz"; echo
done
exit "$status"
