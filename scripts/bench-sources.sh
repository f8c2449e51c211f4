#!/usr/bin/env bash
# Userspace instructions per request of the sources of issue 15, against the event model
# in the same run, counted by callgrind as bench-instructions.sh counts them (repeatable
# on a busy machine): `--source event` without verification, `--source github` with its
# signature checked (X-Hub-Signature-256 over every body), and
# `--source schema:benches/record.schema.json` (20 properties, every one required and
# typed) with `--id-from /id`. The bodies are about 120 bytes (the record's 300). Prints
# each count and the throughput ratio it implies (event's instructions / the source's):
# the targets are github ≥ 0.9 and schema ≥ 0.8. Valgrind does not run the CPU's SHA
# instructions, so under callgrind SHA-256 is the portable code, slower than in use.
# Then the same three servers (one worker each, no valgrind) take ROUNDS rounds from
# post_events over CONNECTIONS keep-alive connections (32, as bench-ingest.sh's wrk): in
# each round the model, github, schema, and the model again, RATE_COUNT events each, and a
# source's ratio is its events/s over the mean of the two model runs around it. Short runs
# in many rounds keep a minute of other load on the machine from landing on one server
# only. The median of the per-round ratios (with its quartiles) is the figure the targets
# name. Each server's CPU time (user + system, /proc/PID/stat) summed over the rounds
# gives CPU per request and its ratios: what a request costs the server whether or not
# the client kept it busy. The connection count changes how often client and server
# wait for each other, and on a VM each wake-up costs (benches/README.md, "Sources: where
# the cost goes"); CONNECTIONS=8 was this script's setting before 2026-12-07.
# HOOKRELAY=PATH with BUILD=0 measures another build.
#
# WORKERS sets the throughput servers' `--workers` (1; `serve`'s default is one per CPU, 2
# here): with one worker the server's thread is the bottleneck and the ratio follows the
# server's CPU per request; with the default the client shares the CPUs as it would on a
# user's machine.
#
# Env: WARM (5000), COUNT (20000), ROUNDS (30), RATE_COUNT (10000), CONNECTIONS (32),
#      WORKERS (1), INSTRUCTIONS (1: the callgrind part; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."

WARM=${WARM:-5000}
COUNT=${COUNT:-20000}
ROUNDS=${ROUNDS:-30}
RATE_COUNT=${RATE_COUNT:-10000}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-1}
INSTRUCTIONS=${INSTRUCTIONS:-1}

source scripts/lib.sh
[[ $INSTRUCTIONS == 0 ]] || need valgrind
build --bin hookrelay --example post_events
POST=target/release/examples/post_events
START_TIMEOUT=60
declare -A per_request

# measure NAME KIND SERVE-ARGS... : instructions per request of one server.
measure() {
  local name=$1 kind=$2; shift 2
  start "$name" valgrind --tool=callgrind --callgrind-out-file="$tmp/$name.callgrind" \
    "$HOOKRELAY" serve --max-events 10000 --port 0 --workers 1 "$@"
  local target="${url[$name]}/webhook"
  "$POST" --url "$target" --as "$kind" --count "$WARM" --first-id 1 --connections 8 >/dev/null
  callgrind_control -z "${pid[$name]}" >/dev/null 2>&1
  "$POST" --url "$target" --as "$kind" --count "$COUNT" --first-id 100000000 --connections 8 >/dev/null
  callgrind_control -d "${pid[$name]}" >/dev/null 2>&1
  stop "$name" KILL
  local dump total
  dump=$(ls -t "$tmp/$name.callgrind".* | head -1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  per_request[$name]=$((total / COUNT))
  echo "$name: ${per_request[$name]} instructions/request"
}

echo "# bench-sources $(date -u +%FT%TZ) | $(git rev-parse --short HEAD) | WARM=$WARM COUNT=$COUNT ROUNDS=$ROUNDS RATE_COUNT=$RATE_COUNT CONNECTIONS=$CONNECTIONS WORKERS=$WORKERS"
if [[ $INSTRUCTIONS != 0 ]]; then
measure event event --source event
measure github github --source github --secret bench-secret
measure schema record --source schema:benches/record.schema.json --id-from /id
for name in github schema; do
  awk -v e="${per_request[event]}" -v s="${per_request[$name]}" -v n="$name" \
    'BEGIN {printf "%s / event throughput (event instructions / %s instructions): %.3f\n", n, n, e / s}'
done
fi

# Throughput, the three servers taking turns in each round.
start t_event "$HOOKRELAY" serve --max-events 10000 --port 0 --workers "$WORKERS" --source event
start t_github "$HOOKRELAY" serve --max-events 10000 --port 0 --workers "$WORKERS" --source github \
  --secret bench-secret
start t_schema "$HOOKRELAY" serve --max-events 10000 --port 0 --workers "$WORKERS" \
  --source schema:benches/record.schema.json --id-from /id
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A cpu_sum rate_of
next_id=0
# rate NAME KIND : sets ${rate_of[NAME]} to events/s, adds the server's CPU ticks.
rate() {
  local t0 t1
  next_id=$((next_id + 10000000))
  t0=$(cpu_ticks "${pid[$1]}")
  rate_of[$1]=$("$POST" --url "${url[$1]}/webhook" --as "$2" --count "$RATE_COUNT" \
    --first-id "$next_id" --connections "$CONNECTIONS" | sed -E 's/.*\(([0-9]+)\/s\).*/\1/')
  t1=$(cpu_ticks "${pid[$1]}")
  cpu_sum[$1]=$((${cpu_sum[$1]:-0} + t1 - t0))
}
# A round to warm up, not counted.
rate t_event event; rate t_github github; rate t_schema record
cpu_sum=()
: >"$tmp/github.ratios"; : >"$tmp/schema.ratios"
for ((round = 1; round <= ROUNDS; round++)); do
  rate t_event event; e1=${rate_of[t_event]}
  rate t_github github; rate t_schema record
  rate t_event event; e2=${rate_of[t_event]}
  awk -v a="$e1" -v b="$e2" -v g="${rate_of[t_github]}" 'BEGIN {print 2 * g / (a + b)}' >>"$tmp/github.ratios"
  awk -v a="$e1" -v b="$e2" -v s="${rate_of[t_schema]}" 'BEGIN {print 2 * s / (a + b)}' >>"$tmp/schema.ratios"
  if ((round % 10 == 0)); then
    echo "round $round: event $e1/s, $e2/s, github ${rate_of[t_github]}/s, schema ${rate_of[t_schema]}/s | load $(cut -d' ' -f1 /proc/loadavg)"
  fi
done
# quartiles < VALUES : "MEDIAN (quartiles Q1–Q3)", the median by lib.sh's `median`.
quartiles() {
  local sorted
  sorted=$(sort -g)
  printf '%.3f (quartiles %s)' "$(median <<<"$sorted")" \
    "$(awk '{v[NR] = $1} END {printf "%.3f–%.3f", v[int(NR / 4) + 1], v[int(3 * NR / 4) + 1]}' <<<"$sorted")"
}
per_event() { awk -v c="${cpu_sum[$1]}" -v t="$TICK" -v n=$((RATE_COUNT * ROUNDS * $2)) 'BEGIN {printf "%.2f", c * 1000000 / t / n}'; }
ev=$(per_event t_event 2); gh=$(per_event t_github 1); sc=$(per_event t_schema 1)
echo "github / event throughput, median of $ROUNDS rounds, $CONNECTIONS connections: $(quartiles <"$tmp/github.ratios")"
echo "schema / event throughput, median of $ROUNDS rounds, $CONNECTIONS connections: $(quartiles <"$tmp/schema.ratios")"
echo "CPU per request (server, all rounds): event ${ev} µs, github ${gh} µs, schema ${sc} µs; event's / github's $(awk -v a="$ev" -v b="$gh" 'BEGIN {printf "%.3f", a / b}'), event's / schema's $(awk -v a="$ev" -v b="$sc" 'BEGIN {printf "%.3f", a / b}')"
