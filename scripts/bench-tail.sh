#!/usr/bin/env bash
# The tail while a store fills (issue 19): for each --max-events size, a fresh
# `hookrelay serve --workers N --max-events SIZE` and the bare axum handler (examples/bare.rs)
# take turns under wrk (one thread, CONNECTIONS connections, not pinned unless WRK_CPU is
# set, a unique ~120-byte event per request: scripts/unique-events.lua). hookrelay is
# restarted before each of its runs, so every run is of an empty store filling (at the
# smallest size, it is full within a second and then evicts). p99 and req/s ratios are
# taken within a round; the verdict uses their medians. Beside each hookrelay run: its
# minor page faults and resident memory at the end.
#
# Without PREFILL, a 5 s run stores some 600,000 events, so the 1M and 10M servers do the
# same work (--max-events only says when eviction starts). PREFILL=1 posts
# min(SIZE, PREFILL_MAX) events (examples/post_events) into each fresh hookrelay before
# wrk starts: at 100,000 and 1,000,000 the run then measures a full store that evicts, and
# at 10,000,000 one that goes on filling past 2,000,000 (its index and memory larger than
# any smaller store's).
#
# Target (issue 19): hookrelay p99 <= 1.2 x the bare handler's at every size.
#
# Env: SIZES ("100000 1000000 10000000"), DURATION (5s), ROUNDS (3), CONNECTIONS (64),
#      WORKERS (1), WRK_CPU (empty: not pinned), PREFILL (0), PREFILL_MAX (2000000).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"100000 1000000 10000000"}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
WORKERS=${WORKERS:-1}
PREFILL=${PREFILL:-0}
PREFILL_MAX=${PREFILL_MAX:-2000000}
LUA=scripts/unique-events.lua

source scripts/lib.sh
need wrk
build --bin hookrelay --example bare --example post_events
BARE=target/release/examples/bare
POST=target/release/examples/post_events
pin_wrk

# load NAME : prints "RPS P99_US MINOR_FAULTS RSS_KIB"
load() {
  local out f0 f1
  f0=$(awk '{print $10}' "/proc/${pid[$1]}/stat")
  # Above any id the prefill posted.
  out=$(ID_BASE=1000000000000 "${pin[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA" "${url[$1]}/webhook")
  f1=$(awk '{print $10}' "/proc/${pid[$1]}/stat")
  awk -v f=$((f1 - f0)) -v rss="$(rss_kib "${pid[$1]}")" '
    /^Requests\/sec:/ {rps = $2}
    $1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
                 p99 = v * ((u == "us") ? 1 : (u == "ms") ? 1000 : 1000000)}
    END {printf "%.0f %.0f %d %d\n", rps, p99, f, rss}' <<<"$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

echo "# bench-tail $(date -u +%FT%TZ) | $(nproc) CPUs | wrk -t1 -c$CONNECTIONS -d$DURATION, pinned: ${pin[*]:-no} | workers $WORKERS | rounds $ROUNDS"
start bare "$BARE" --port 0 --workers "$WORKERS"
for size in $SIZES; do
  echo
  echo "## --max-events $size"
  printf '%-5s | %-14s | %-30s | %-7s %-7s | %s\n' round "bare rps/p99" "hookrelay rps/p99/faults/rss" "rps" "p99" load
  : >"$tmp/rows"
  for r in $(seq 1 "$ROUNDS"); do
    read -r brps bp99 _ _ < <(load bare)
    start hookrelay "$HOOKRELAY" serve --port 0 --workers "$WORKERS" --max-events "$size"
    if ((PREFILL)); then
      "$POST" --url "${url[hookrelay]}/webhook" --count "$((size < PREFILL_MAX ? size : PREFILL_MAX))" \
        --connections 32 >/dev/null
    fi
    read -r hrps hp99 faults rss < <(load hookrelay)
    stop hookrelay
    echo "$(ratio "$hrps" "$brps") $(ratio "$hp99" "$bp99")" >>"$tmp/rows"
    printf '%-5s | %6s %7s | %6s %7s %7s %8s | %-7s %-7s | %s\n' "$r" "$brps" "$bp99" "$hrps" "$hp99" "$faults" "$rss" \
      $(tail -1 "$tmp/rows") "$(cut -d' ' -f1-3 /proc/loadavg)"
  done
  rps=$(awk '{print $1}' "$tmp/rows" | median)
  p99=$(awk '{print $2}' "$tmp/rows" | median)
  ok=$(awk -v v="$p99" 'BEGIN {print (v <= 1.2) ? "met" : "NOT met"}')
  if ((PREFILL && size <= PREFILL_MAX)); then state="full, evicting"
  elif ((PREFILL)); then state="filling past $PREFILL_MAX"
  else state="filling"; fi
  echo "max-events=$size $state: hookrelay/bare p99 $(printf %.3f "$p99") (target <= 1.2: $ok), req/s $(printf %.3f "$rps")"
done
