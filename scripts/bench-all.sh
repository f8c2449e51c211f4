#!/usr/bin/env bash
# Every speed and memory target of the open issues in one go, each script with shorter
# settings than its own defaults (about 12 minutes on a quiet 2-core machine), then one
# line per target: the figure, the goal, met or not. Each script's whole output is kept
# in $LOGS (printed at the start) for the rows behind a figure.
#
# Env: LOGS (target/bench-all/<date>), ONLY ("ingest tail memory store relay sources
#      stream endpoints page": the scripts to run), QUICK (1: the short settings; 0: each
#      script's own defaults, much longer).
set -uo pipefail
cd "$(dirname "$0")/.."

ONLY=${ONLY:-"ingest tail memory store relay sources stream endpoints page"}
LOGS=${LOGS:-target/bench-all/$(date -u +%Y%m%dT%H%M%SZ)}
QUICK=${QUICK:-1}
mkdir -p "$LOGS"
echo "# bench-all $(date -u +%FT%TZ) | $(git rev-parse --short HEAD) | $(nproc) CPUs | load $(cut -d' ' -f1-3 /proc/loadavg) | logs in $LOGS"

# The release binaries once; every script after that uses them as they are.
cargo build --release --quiet --bin hookrelay --example bare --example post_events || exit 1
export BUILD=0

# run NAME SCRIPT [VAR=VALUE...] : runs one script with the short settings, logs it.
run() {
  local name=$1 script=$2 rc t0=$SECONDS; shift 2
  ((QUICK)) || set --
  env "$@" "scripts/$script" >"$LOGS/$name.log" 2>&1
  rc=$?
  echo "# $name: $((SECONDS - t0)) s, exit $rc, load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$LOGS/times"
}

# line TARGET FIGURE GOAL OP : one summary line; OP is >= or <=.
line() {
  local ok
  ok=$(awk -v v="$2" -v g="$3" -v op="$4" 'BEGIN {
    if (v == "" || v !~ /^[0-9.]+$/) {print "no figure"; exit}
    print ((op == ">=") ? v >= g : v <= g) ? "met" : "NOT met"}')
  printf '%-46s %12s   goal %s %-8s %s\n' "$1" "${2:--}" "$4" "$3" "$ok"
}

for s in $ONLY; do
  case $s in
  ingest) run ingest bench-ingest.sh DURATION=5s WARMUP=2s ROUNDS=3 ;;
  tail) run tail bench-tail.sh DURATION=5s ROUNDS=2; run tail_full bench-tail.sh DURATION=5s ROUNDS=2 PREFILL=1 ;;
  memory) run memory bench-memory.sh; run memory_webhook bench-memory.sh WEBHOOK_HEADERS=1 ;;
  store) run store bench-store.sh DURATION=5s ROUNDS=3 PICK="memory normal full" ;;
  relay) run relay bench-relay.sh DURATION=5s ROUNDS=3 ;;
  sources) run sources bench-sources.sh WARM=2000 COUNT=5000 ROUNDS=20 RATE_COUNT=10000 ;;
  stream) run stream bench-stream.sh DURATION=5s ROUNDS=3 ;;
  endpoints) run endpoints bench-endpoints.sh DURATION=5s ROUNDS=2 ;;
  page) run page bench-page.sh ROUNDS=3 ;;
  esac
done

echo
for s in $ONLY; do
  log=$LOGS/$s.log
  case $s in
  ingest)
    sed -nE 's/^workers=([0-9]+), ([a-z]+): hookrelay\/bare req\/s ([0-9.]+).*p99 ([0-9.]+).*/\1 \2 \3 \4/p' "$log" |
      while read -r n place rps p99; do
        line "ingest req/s, $n worker(s), wrk $place" "$rps" 0.95 ">="
        line "ingest p99, $n worker(s), wrk $place" "$p99" 1.2 "<="
      done ;;
  tail)
    sed -nE 's/^max-events=([0-9]+) filling: hookrelay\/bare p99 ([0-9.]+).*/\1 \2/p' "$log" |
      while read -r size p99; do line "tail p99 while filling, --max-events $size" "$p99" 1.2 "<="; done
    sed -nE 's/^max-events=([0-9]+) (full, evicting|filling past [0-9]+): hookrelay\/bare p99 ([0-9.]+).*/\1 \3 \2/p' "$LOGS/tail_full.log" |
      while read -r size p99 state; do line "tail p99 prefilled ($state), --max-events $size" "$p99" 1.2 "<="; done ;;
  memory)
    line "memory bytes/event (bench headers)" "$(sed -nE 's/.* = ([0-9]+) bytes\/event/\1/p' "$log")" 200 "<="
    line "memory bytes/event (+ Standard Webhooks headers)" \
      "$(sed -nE 's/.* = ([0-9]+) bytes\/event/\1/p' "$LOGS/memory_webhook.log")" 200 "<=" ;;
  store)
    line "sqlite --sync normal / memory" "$(sed -nE 's/^\| sqlite --sync normal \| [0-9]+ \| [^|]+ \| ([0-9.]+) .*/\1/p' "$log")" 0.7 ">="
    line "sqlite --sync full / memory" "$(sed -nE 's/^\| sqlite --sync full \| [0-9]+ \| [^|]+ \| ([0-9.]+) .*/\1/p' "$log")" 0.5 ">=" ;;
  relay)
    line "relay / bare req/s (0 lost: see log)" "$(sed -nE 's/^memory: relay throughput ratio \(median\) ([0-9.]+).*/\1/p' "$log")" 0.5 ">=" ;;
  sources)
    line "github / event throughput" "$(sed -nE 's/^github \/ event throughput, median.*: ([0-9.]+).*/\1/p' "$log")" 0.9 ">="
    line "schema / event throughput" "$(sed -nE 's/^schema \/ event throughput, median.*: ([0-9.]+).*/\1/p' "$log")" 0.8 ">=" ;;
  stream)
    line "ingest with 10 streams / none" "$(sed -nE 's/^ten streams \/ none: median ([0-9.]+).*/\1/p' "$log")" 0.9 ">="
    line "ingest with 1 stalled stream / none" "$(sed -nE 's/^one stalled \/ none: median ([0-9.]+).*/\1/p' "$log")" 0.95 ">=" ;;
  endpoints)
    line "100 filtering endpoints / one" "$(sed -nE 's/^many\/one throughput ratio \(median\) ([0-9.]+).*/\1/p' "$log")" 0.9 ">=" ;;
  page)
    line "page first load, 100,000 events: ms" "$(sed -nE 's/^full: median interactive ([0-9.]+) ms.*/\1/p' "$log")" 1000 "<="
    line "page first load, 100,000 events: bytes" "$(sed -nE 's/^full: .*until interactive ([0-9.]+) B.*/\1/p' "$log")" 100000 "<=" ;;
  esac
done
echo
cat "$LOGS/times"
