#!/usr/bin/env bash
# Ingest with event streams open, against ingest with none, in one run of one server:
# `hookrelay serve` loaded by wrk with unique ~120-byte events (scripts/unique-events.lua)
# in three settings:
#   none     no stream open;
#   ten      10 streams (`curl -N` reading GET /events/stream to /dev/null) open and reading;
#   stalled  1 stream whose client sends its request and never reads a byte (bash
#            /dev/tcp): the server cuts it off once its buffer fills, and ingest must not
#            notice.
# On a shared machine the load of the moment moves req/s more than streams do, so each
# setting is measured between two runs of `none` (A/B/A/C/A in a round, and A/C/A/B/A in
# the next): a ratio is the setting over the mean of the `none` runs on either side. The
# verdict uses the median over rounds; the spread (min–max of the per-round ratios) is
# printed beside it, and `none/none` (each `none` run over the one before it) shows how
# far two runs of the same setting differ on this machine at this time.
# Also reports the server's CPU time per request (/proc/PID/stat), and with valgrind
# (INSTRUCTIONS=1, the default when it is installed) the userspace instructions of the
# whole server per POST /webhook under callgrind with 0 and with 10 streams open (one
# worker; WARM events, then COUNT counted; independent of the machine's load).
#
# Targets (issue 17): req/s with 10 streams >= 0.9 x none; with one stalled >= 0.95 x none.
#
# Env: DURATION (5s), WARMUP (3s), ROUNDS (7), CONNECTIONS (32), WORKERS ($(nproc)),
#      WRK_CPU (0; empty = don't pin wrk), INSTRUCTIONS (1 with valgrind), WARM (5000),
#      COUNT (20000).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-3s}
ROUNDS=${ROUNDS:-7}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-$(nproc)}
WRK_CPU=${WRK_CPU-0}
LUA=scripts/unique-events.lua
TICK=$(getconf CLK_TCK)

INSTRUCTIONS=${INSTRUCTIONS:-$(command -v valgrind >/dev/null && echo 1 || echo 0)}
WARM=${WARM:-5000}
COUNT=${COUNT:-20000}

source scripts/lib.sh
need wrk curl
build --bin hookrelay --example post_events
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

# idle PID : waits until PID has used (almost) no CPU for a second.
idle() {
  local before after
  after=$(cpu_ticks "$1")
  while :; do
    sleep 1
    before=$after after=$(cpu_ticks "$1")
    ((after - before <= 1)) && return
  done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

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

# run SETTING : one load in SETTING; sets RPS and CPU.
run() {
  case $1 in
    ten) open_readers "${url[hookrelay]}" 10 ;;
    stalled) open_stalled ;;
  esac
  base=$((base + 10 ** 10))
  local bad
  read -r RPS CPU bad < <(load "$DURATION" "$base")
  if ((bad > 0)); then echo "$1: $bad non-2xx answers" >&2; status=1; fi
  case $1 in
    ten) close_readers "${url[hookrelay]}" ;;
    stalled) close_stalled ;;
  esac
}

echo "# bench-stream $(date -u +%FT%TZ) | $(git rev-parse --short HEAD) | $(nproc) CPUs | $(uname -r) | hookrelay --workers $WORKERS"
echo "# wrk -t1 -c$CONNECTIONS -d$DURATION, pinned: ${pin[*]:-no} | rounds: $ROUNDS, each none/B/none/C/none"
echo "# req/s (server CPU us per request); B is ten streams in odd rounds and the stalled one in even rounds, C the other;"
echo "# ratios against the mean of the none runs around"
printf '%-5s | %-14s | %-14s | %-14s | %-14s | %-14s | %-5s %-7s %-9s | %s\n' \
  round none B none C none ten stalled none/none load
: >"$tmp/ratios"
status=0
cuts_before=$(metric "${url[hookrelay]}" hookrelay_streams_cut_total)
for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then order=(none ten none stalled none); else order=(none stalled none ten none); fi
  rps=() cells=()
  declare -A at=()
  for i in "${!order[@]}"; do
    run "${order[$i]}"
    rps+=("$RPS") cells+=("$RPS ($CPU)")
    [[ ${order[$i]} == none ]] || at[${order[$i]}]=$i
  done
  around() { awk -v a="${rps[$1 - 1]}" -v b="${rps[$1 + 1]}" -v x="${rps[$1]}" 'BEGIN {printf "%.3f", x / ((a + b) / 2)}'; }
  ten=$(around "${at[ten]}") stalled=$(around "${at[stalled]}")
  # The none runs' spread: the larger of the two steps between neighbours, as a ratio.
  noise=$(awk -v a="${rps[0]}" -v b="${rps[2]}" -v c="${rps[4]}" 'function d(x, y) {r = y / x; return r < 1 ? 1 / r : r}
    BEGIN {m = d(a, b); if (d(b, c) > m) m = d(b, c); printf "%.3f", m}')
  echo "$ten $stalled $noise" >>"$tmp/ratios"
  printf '%-5s | %-14s | %-14s | %-14s | %-14s | %-14s | %-5s %-7s %-9s | %s\n' \
    "$r" "${cells[@]}" "$ten" "$stalled" "$noise" "$(load_avg)"
done
col() { awk -v c="$1" '{print $c}' "$tmp/ratios"; }
spread() { col "$1" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s–%s", lo, hi}'; }
ten_med=$(col 1 | median) stalled_med=$(col 2 | median) noise_med=$(col 3 | median)
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v >= t) ? "met" : "NOT met"}'; }
echo "ten streams / none: median $ten_med, rounds $(spread 1) (target >= 0.9: $(verdict "$ten_med" 0.9))"
echo "one stalled / none: median $stalled_med, rounds $(spread 2) (target >= 0.95: $(verdict "$stalled_med" 0.95))"
echo "none / none (largest step between neighbouring none runs): median $noise_med, rounds $(spread 3)"
echo "stalled streams cut off during the run: $(($(metric "${url[hookrelay]}" hookrelay_streams_cut_total) - cuts_before)) of $ROUNDS"
stop hookrelay

if [[ $INSTRUCTIONS == 1 ]]; then
  # instructions STREAMS : the whole server's instructions per POST /webhook under callgrind.
  instructions() {
    # A name of its own: the output file of an earlier server would be read as this one's.
    local name=callgrind_$1
    START_TIMEOUT=60 start "$name" valgrind --tool=callgrind \
      --callgrind-out-file="$tmp/$name.callgrind" "$HOOKRELAY" serve --port 0 --workers 1 \
      --max-events 100000
    ((${1} == 0)) || open_readers "${url[$name]}" "$1"
    local target="${url[$name]}/webhook"
    "$POST" --url "$target" --count "$WARM" --first-id 1 --connections 8 >/dev/null
    idle "${pid[$name]}"
    callgrind_control -z "${pid[$name]}" >/dev/null 2>&1
    "$POST" --url "$target" --count "$COUNT" --first-id 100000000 --connections 8 >/dev/null
    idle "${pid[$name]}"
    callgrind_control -d "${pid[$name]}" >/dev/null 2>&1
    close_readers
    stop "$name" KILL
    local dump total
    dump=$(ls -t "$tmp/$name.callgrind".* | head -1)
    total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    INSTR=$((total / COUNT))
  }
  need valgrind
  POST=target/release/examples/post_events
  instructions 0
  none=$INSTR
  instructions 10
  ten=$INSTR
  echo "instructions per POST /webhook, whole server (callgrind, 1 worker, WARM=$WARM COUNT=$COUNT): no stream $none, 10 streams $ten ($(ratio "$ten" "$none") x)"
fi
exit "$status"
