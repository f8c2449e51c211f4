#!/usr/bin/env bash
# Ingest with event streams open, against ingest with none, in one run of one server:
# `hookrelay serve` loaded by wrk with unique ~120-byte events (scripts/unique-events.lua)
# in three settings per round, in turn so that they see the same machine load:
#   none     no stream open;
#   ten      10 streams (`curl -N` reading GET /events/stream to /dev/null) open and reading;
#   stalled  1 stream whose client sends its request and never reads a byte (bash
#            /dev/tcp): the server cuts it off once its buffer fills, and ingest must not
#            notice.
# Each ratio (ten/none, stalled/none) is taken within a round; the verdict uses the median
# over the rounds. Also reports the server's CPU time per request (/proc/PID/stat).
#
# Targets (issue 17): req/s with 10 streams >= 0.9 x none; with one stalled >= 0.95 x none.
#
# Env: DURATION (10s), WARMUP (3s), ROUNDS (5), CONNECTIONS (32), WORKERS ($(nproc)),
#      WRK_CPU (0; empty = don't pin wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-$(nproc)}
WRK_CPU=${WRK_CPU-0}
LUA=scripts/unique-events.lua
TICK=$(getconf CLK_TCK)

source scripts/lib.sh
need wrk curl
build --bin hookrelay
pin_wrk

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# load DURATION ID_BASE : prints "RPS CPU_US_PER_REQUEST NON2XX"
load() {
  local out t0 t1
  t0=$(cpu_ticks "${pid[hookrelay]}")
  out=$(ID_BASE=$2 "${pin[@]}" wrk -t1 -c"$CONNECTIONS" -d"$1" -s "$LUA" "${url[hookrelay]}/webhook")
  t1=$(cpu_ticks "${pid[hookrelay]}")
  awk -v cpu=$((t1 - t0)) -v tick="$TICK" '
    /^Requests\/sec:/ {rps = $2}
    / requests in / {n = $1}
    /Non-2xx/ {bad = $NF}
    END {printf "%.0f %.2f %d\n", rps, cpu * 1000000 / tick / n, bad}' <<<"$out"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

readers=()
# open_readers N : N streams read by curl into /dev/null; waits until the server counts them.
open_readers() {
  local i
  for i in $(seq 1 "$1"); do
    curl -sN "${url[hookrelay]}/events/stream" >/dev/null 2>&1 &
    readers+=($!)
  done
  until (($(metric "${url[hookrelay]}" hookrelay_streams_open) == $1)); do sleep 0.05; done
}

close_readers() {
  local p
  for p in "${readers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  readers=()
  until (($(metric "${url[hookrelay]}" hookrelay_streams_open) == 0)); do sleep 0.05; done
}

# open_stalled: one stream whose client never reads (fd 3 of this shell).
open_stalled() {
  local addr=${url[hookrelay]#http://}
  exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"
  printf 'GET /events/stream HTTP/1.1\r\nHost: %s\r\n\r\n' "$addr" >&3
  until (($(metric "${url[hookrelay]}" hookrelay_streams_open) == 1)); do sleep 0.05; done
}

close_stalled() { exec 3>&-; }

stop_all
start hookrelay "$HOOKRELAY" serve --port 0 --workers "$WORKERS" --max-events 100000
base=0
for _ in 1 2 3; do base=$((base + 10 ** 10)); load "$WARMUP" "$base" >/dev/null; done

echo "# bench-stream $(date -u +%FT%TZ) | $(nproc) CPUs | $(uname -r) | hookrelay --workers $WORKERS"
echo "# wrk -t1 -c$CONNECTIONS -d$DURATION, pinned: ${pin[*]:-no} | rounds: $ROUNDS"
echo "# per setting: req/s, server CPU time per request (us)"
printf '%-6s | %-15s | %-15s | %-15s | %-6s %-7s | %s\n' round "none" "ten streams" "one stalled" "ten" "stalled" "load"
: >"$tmp/rows"
status=0
cuts_before=$(metric "${url[hookrelay]}" hookrelay_streams_cut_total)
for r in $(seq 1 "$ROUNDS"); do
  row=()
  for setting in none ten stalled; do
    case $setting in
      ten) open_readers 10 ;;
      stalled) open_stalled ;;
    esac
    base=$((base + 10 ** 10))
    read -r rps cpu bad < <(load "$DURATION" "$base")
    if ((bad > 0)); then echo "$setting: $bad non-2xx answers" >&2; status=1; fi
    case $setting in
      ten) close_readers ;;
      stalled) close_stalled ;;
    esac
    row+=("$rps" "$cpu")
  done
  row+=("$(ratio "${row[2]}" "${row[0]}")" "$(ratio "${row[4]}" "${row[0]}")")
  echo "${row[*]}" >>"$tmp/rows"
  printf '%-6s | %7s %7s | %7s %7s | %7s %7s | %-6s %-7s | %s\n' "$r" "${row[@]}" "$(load_avg)"
done
med=()
for col in $(seq 1 8); do med+=("$(awk -v c="$col" '{print $c}' "$tmp/rows" | median)"); done
printf '%-6s | %7.0f %7.2f | %7.0f %7.2f | %7.0f %7.2f | %-6.3f %-7.3f |\n' median "${med[@]}"
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v >= t) ? "met" : "NOT met"}'; }
echo "ten streams / none: ${med[6]} (target >= 0.9: $(verdict "${med[6]}" 0.9)); one stalled / none: ${med[7]} (target >= 0.95: $(verdict "${med[7]}" 0.95))"
echo "stalled streams cut off during the run: $(($(metric "${url[hookrelay]}" hookrelay_streams_cut_total) - cuts_before)) of $ROUNDS"
exit "$status"
