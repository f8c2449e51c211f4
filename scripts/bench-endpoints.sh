#!/usr/bin/env bash
# Relay throughput with many endpoints: two `hookrelay serve` relays to the same sink (the
# bare axum handler, examples/bare.rs), loaded in turn in every round with the same events
# (event_type cycling over type.0 … type.99, scripts/typed-events.lua):
#   one  — one endpoint (POST /endpoints) taking every type;
#   many — ENDPOINTS endpoints (100), endpoint i filtering on type.i alone.
# Throughput = deliveries acknowledged per second from the start of the load until the
# relay's queue has drained (its own counters). Each endpoint has its own workers
# (--forward-concurrency, here CONCURRENCY per endpoint).
#
# Target (issue 18): many >= 0.9 x one, same run; choosing an event's endpoints does not
# grow with the endpoints that do not want it.
#
# ONE_CONCURRENCY gives the one-endpoint relay another --forward-concurrency: with
# ONE_CONCURRENCY=$((ENDPOINTS * CONCURRENCY)) both relays have as many delivery workers,
# so that the ratio shows the cost of choosing among endpoints alone.
#
# Env: DURATION (5s), CONNECTIONS (32), ROUNDS (3), ENDPOINTS (100), CONCURRENCY (2),
#      ONE_CONCURRENCY (CONCURRENCY), WRK_CPU (0; empty = don't pin wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
ENDPOINTS=${ENDPOINTS:-100}
CONCURRENCY=${CONCURRENCY:-2}
ONE_CONCURRENCY=${ONE_CONCURRENCY:-$CONCURRENCY}
WRK_CPU=${WRK_CPU-0}
LUA=scripts/typed-events.lua

source scripts/lib.sh
need wrk
need curl
build --bin hookrelay --example bare
BARE=target/release/examples/bare
pin_wrk

load() {
  ID_BASE=$2 TYPES=$ENDPOINTS "${pin[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" "$1/webhook" >/dev/null
}
now() { date +%s.%N; }
add_endpoint() {
  curl -sf -X POST "$1/endpoints" -H 'Content-Type: application/json' -d "$2" >/dev/null
}

echo "# bench-endpoints $(date -u +%FT%TZ) | $(nproc) CPUs | load: $(uptime | sed 's/.*load average: //')"
echo "# wrk -t1 -c$CONNECTIONS -d$DURATION | rounds: $ROUNDS | $ENDPOINTS endpoints, --forward-concurrency $CONCURRENCY (one endpoint: $ONE_CONCURRENCY)"
start sink "$BARE" --port 0; sink_url=${url[sink]}
start one "$HOOKRELAY" serve --port 0 --forward-concurrency "$ONE_CONCURRENCY" --max-pending 10000000
start many "$HOOKRELAY" serve --port 0 --forward-concurrency "$CONCURRENCY" --max-pending 10000000
add_endpoint "${url[one]}" "{\"url\": \"$sink_url/webhook\"}"
for i in $(seq 0 $((ENDPOINTS - 1))); do
  add_endpoint "${url[many]}" "{\"url\": \"$sink_url/webhook\", \"filter_types\": [\"type.$i\"]}"
done

# finished URL: deliveries delivered or dead so far.
finished() {
  echo $(( $(metric "$1" 'hookrelay_deliveries_total{outcome="delivered"}') + $(metric "$1" 'hookrelay_deliveries_total{outcome="dead"}') ))
}

# throughput URL ID_BASE: deliveries per second of one loaded round, drained.
throughput() {
  local started drained accepted done_ before deadline=$((SECONDS + 120))
  before=$(finished "$1")
  started=$(now)
  load "$1" "$2"
  while :; do
    accepted=$(metric "$1" 'hookrelay_events_received_total{result="accepted"}')
    done_=$(finished "$1")
    ((done_ >= accepted)) && break
    if ((SECONDS > deadline)); then echo "the queue of $1 did not drain in 120 s" >&2; exit 1; fi
    sleep 0.05
  done
  drained=$(now)
  local delivered=$((done_ - before))
  echo "$delivered / ($drained - $started)" | bc -l
}

printf '%-6s %12s %12s %8s\n' round one_eps many_eps ratio
base=0
for r in $(seq 1 "$ROUNDS"); do
  one=$(throughput "${url[one]}" "$base"); base=$((base + 10 ** 10))
  many=$(throughput "${url[many]}" "$base"); base=$((base + 10 ** 10))
  ratio=$(echo "$many / $one" | bc -l)
  echo "$ratio" >>"$tmp/ratios"
  printf '%-6s %12.0f %12.0f %8.3f\n' "$r" "$one" "$many" "$ratio"
done
median=$(median <"$tmp/ratios")
ok=$(echo "$median >= 0.9" | bc -l)
echo "many/one throughput ratio (median) $(printf %.3f "$median") (target >= 0.9: $( ((ok)) && echo met || echo NOT met))"
