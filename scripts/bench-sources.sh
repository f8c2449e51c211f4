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
# Then the same three servers (one worker each, no valgrind) take ROUNDS rounds of
# RATE_COUNT events each from post_events, in turn, and the median of the per-round
# throughput ratios is printed: the figure the targets name, noisier on a busy machine.
# Each round also reads each server's CPU time (user + system, /proc/PID/stat) over its
# RATE_COUNT events: CPU per request, and its ratios, say what a request costs the server
# whether or not the client kept it busy.
# HOOKRELAY=PATH with BUILD=0 measures another build.
#
# Env: WARM (5000), COUNT (20000), ROUNDS (5), RATE_COUNT (40000).
set -euo pipefail
cd "$(dirname "$0")/.."

WARM=${WARM:-5000}
COUNT=${COUNT:-20000}
ROUNDS=${ROUNDS:-5}
RATE_COUNT=${RATE_COUNT:-40000}

source scripts/lib.sh
need valgrind
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

echo "# bench-sources $(date -u +%FT%TZ) | $(git rev-parse --short HEAD) | WARM=$WARM COUNT=$COUNT"
measure event event --source event
measure github github --source github --secret bench-secret
measure schema record --source schema:benches/record.schema.json --id-from /id
for name in github schema; do
  awk -v e="${per_request[event]}" -v s="${per_request[$name]}" -v n="$name" \
    'BEGIN {printf "%s / event throughput (event instructions / %s instructions): %.3f\n", n, n, e / s}'
done

# Throughput, the three servers taking turns in each round.
start t_event "$HOOKRELAY" serve --max-events 10000 --port 0 --workers 1 --source event
start t_github "$HOOKRELAY" serve --max-events 10000 --port 0 --workers 1 --source github \
  --secret bench-secret
start t_schema "$HOOKRELAY" serve --max-events 10000 --port 0 --workers 1 \
  --source schema:benches/record.schema.json --id-from /id
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rate() { # NAME KIND FIRST-ID : events per second, and the server's CPU µs per event
  local t0 t1 rps
  t0=$(cpu_ticks "${pid[$1]}")
  rps=$("$POST" --url "${url[$1]}/webhook" --as "$2" --count "$RATE_COUNT" --first-id "$3" \
    --connections 8 | sed -E 's/.*\(([0-9]+)\/s\).*/\1/')
  t1=$(cpu_ticks "${pid[$1]}")
  awk -v r="$rps" -v c=$((t1 - t0)) -v t="$TICK" -v n="$RATE_COUNT" \
    'BEGIN {printf "%s %.2f\n", r, c * 1000000 / t / n}'
}
: >"$tmp/github.ratios"; : >"$tmp/schema.ratios"; : >"$tmp/github.cpu"; : >"$tmp/schema.cpu"
for ((round = 1; round <= ROUNDS; round++)); do
  first=$((round * 10000000))
  read -r e ec < <(rate t_event event "$first")
  read -r g gc < <(rate t_github github "$first")
  read -r s sc < <(rate t_schema record "$first")
  echo "round $round: event $e/s ${ec}µs, github $g/s ${gc}µs, schema $s/s ${sc}µs (CPU per event) | load $(cut -d' ' -f1 /proc/loadavg)"
  awk -v e="$e" -v g="$g" 'BEGIN {print g / e}' >>"$tmp/github.ratios"
  awk -v e="$e" -v s="$s" 'BEGIN {print s / e}' >>"$tmp/schema.ratios"
  awk -v e="$ec" -v g="$gc" 'BEGIN {print e / g}' >>"$tmp/github.cpu"
  awk -v e="$ec" -v s="$sc" 'BEGIN {print e / s}' >>"$tmp/schema.cpu"
done
echo "github / event throughput, median of $ROUNDS rounds: $(median <"$tmp/github.ratios")"
echo "schema / event throughput, median of $ROUNDS rounds: $(median <"$tmp/schema.ratios")"
echo "github / event, event CPU per request / github's, median: $(median <"$tmp/github.cpu")"
echo "schema / event, event CPU per request / schema's, median: $(median <"$tmp/schema.cpu")"
