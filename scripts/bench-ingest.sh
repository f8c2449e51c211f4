#!/usr/bin/env bash
# Loads `hookrelay serve --workers N` and the bare axum handler (examples/bare.rs, answers 200
# without reading the body) side by side in one run, at N = 1 and N = the number of CPUs.
# Every request is a ~120-byte event with a unique event_id (scripts/unique-events.lua), so
# hookrelay pays validation, a dedup lookup that misses, storage, and, once its store holds
# --max-events events, eviction of the oldest. A third server, `bare --read-body`, reads the
# body and does nothing else: it shows what reading a body through axum/hyper costs alone.
# Rounds alternate the servers so they see the same machine load; each ratio is taken
# within a round and the verdict uses its median over the rounds.
# Besides wrk's req/s and p99, each run reports the server's CPU time per request (user +
# system, from /proc/PID/stat), which shows efficiency even when wrk is the bottleneck.
#
# Everything is measured in both placements of wrk: pinned to CPU $WRK_CPU, and not pinned.
#
# Targets (issue 19; issue 2 asked 0.9 and 1.5): hookrelay req/s >= 0.95 x bare, hookrelay
# p99 <= 1.2 x bare p99, at each worker count and in each placement.
#
# Env: DURATION (10s), WARMUP (3s), ROUNDS (5), CONNECTIONS (32), MAX_EVENTS (100000),
#      WORKERS ("1 $(nproc)"), WRK_CPU (0: the CPU of the pinned placement),
#      PLACEMENTS ("pinned unpinned").
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-32}
MAX_EVENTS=${MAX_EVENTS:-100000}
WORKERS=${WORKERS:-"1 $(nproc)"}
WRK_CPU=${WRK_CPU:-0}
PLACEMENTS=${PLACEMENTS:-"pinned unpinned"}
LUA=scripts/unique-events.lua
TICK=$(getconf CLK_TCK)

source scripts/lib.sh
need wrk
build --bin hookrelay --example bare
BARE=target/release/examples/bare

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# load NAME DURATION ID_BASE : prints "RPS P99_US CPU_US_PER_REQUEST NON2XX"
load() {
  local out t0 t1
  t0=$(cpu_ticks "${pid[$1]}")
  out=$(ID_BASE=$3 "${pin[@]}" wrk -t1 -c"$CONNECTIONS" -d"$2" --latency -s "$LUA" "${url[$1]}/webhook")
  t1=$(cpu_ticks "${pid[$1]}")
  awk -v cpu=$((t1 - t0)) -v tick="$TICK" '
    /^Requests\/sec:/ {rps = $2}
    / requests in / {n = $1}
    $1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
                 p99 = v * ((u == "us") ? 1 : (u == "ms") ? 1000 : 1000000)}
    /Non-2xx/ {bad = $NF}
    END {printf "%.0f %.0f %.2f %d\n", rps, p99, cpu * 1000000 / tick / n, bad}' <<<"$out"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

servers=(bare bare_read hookrelay)
echo "# bench-ingest $(date -u +%FT%TZ) | $(nproc) CPUs | $(uname -r)"
echo "# wrk -t1 -c$CONNECTIONS -d$DURATION | placements: $PLACEMENTS | rounds: $ROUNDS | hookrelay --max-events $MAX_EVENTS"
echo "# per server: req/s, p99 latency (us), server CPU time per request (us)"
status=0
base=0
for placement in $PLACEMENTS; do
if [[ $placement == pinned ]]; then pin_wrk; else pin=(); fi
for n in $WORKERS; do
  stop_all
  start bare "$BARE" --port 0 --workers "$n"
  start bare_read "$BARE" --port 0 --workers "$n" --read-body
  start hookrelay "$HOOKRELAY" serve --port 0 --workers "$n" --max-events "$MAX_EVENTS"
  load bare "$WARMUP" 0 >/dev/null
  load bare_read "$WARMUP" 0 >/dev/null
  # hookrelay is warmed up until its store is full, so eviction is part of every run.
  while :; do
    base=$((base + 10 ** 10))
    load hookrelay "$WARMUP" "$base" >/dev/null
    stored=$(curl -s "${url[hookrelay]}/healthz" | sed -E 's/.*"events":([0-9]+).*/\1/')
    ((stored >= MAX_EVENTS)) && break
  done
  echo
  echo "## workers = $n, wrk ${placement}${pin[*]:+ (${pin[*]})}"
  printf '%-6s | %-22s | %-22s | %-22s | %-8s %-8s | %s\n' round "bare rps/p99/cpu" "bare_read rps/p99/cpu" "hookrelay rps/p99/cpu" "rps" "p99" "load"
  : >"$tmp/rows"
  for r in $(seq 1 "$ROUNDS"); do
    row=()
    for s in "${servers[@]}"; do
      base=$((base + 10 ** 10))
      read -r rps p99 cpu bad < <(load "$s" "$DURATION" "$base")
      if ((bad > 0)); then echo "$s: $bad non-2xx answers" >&2; status=1; fi
      row+=("$rps" "$p99" "$cpu")
    done
    # Ratios are taken within a round (runs seconds apart), then the median over rounds.
    row+=("$(ratio "${row[6]}" "${row[0]}")" "$(ratio "${row[7]}" "${row[1]}")"
      "$(ratio "${row[6]}" "${row[3]}")" "$(ratio "${row[8]}" "${row[2]}")" "$(ratio "${row[5]}" "${row[2]}")")
    echo "${row[*]}" >>"$tmp/rows"
    printf '%-6s | %7s %6s %7s | %7s %6s %7s | %7s %6s %7s | %-8s %-8s | %s\n' "$r" "${row[@]:0:11}" "$(load_avg)"
  done
  med=()
  for col in $(seq 1 14); do med+=("$(awk -v c="$col" '{print $c}' "$tmp/rows" | median)"); done
  for i in 9 10 11 12 13; do med[i]=$(printf %.3f "${med[i]}"); done
  printf '%-6s | %7.0f %6.0f %7.2f | %7.0f %6.0f %7.2f | %7.0f %6.0f %7.2f | %-8s %-8s |\n' median "${med[@]:0:11}"
  verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {ok = (op == ">=") ? v >= t : v <= t; print ok ? "met" : "NOT met"}'; }
  echo "workers=$n, $placement: hookrelay/bare req/s ${med[9]} (target >= 0.95: $(verdict "${med[9]}" 0.95 ">=")), p99 ${med[10]} (target <= 1.2: $(verdict "${med[10]}" 1.2 "<="))"
  echo "workers=$n, $placement: hookrelay/bare_read req/s ${med[11]}; CPU per request hookrelay/bare ${med[12]}, bare_read/bare ${med[13]}"
  echo "hookrelay /healthz: $(curl -s "${url[hookrelay]}/healthz")"
done
done
exit "$status"
