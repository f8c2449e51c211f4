#!/usr/bin/env bash
# Relay throughput: wrk loads `hookrelay serve --forward-to SINK`, where SINK is the bare axum
# handler (examples/bare.rs); in the same run, the bare handler alone is loaded the same way.
# Relay throughput = deliveries acknowledged by the sink per second, from the start of the
# load until the queue has drained. Every request is a ~120-byte event with a unique
# event_id (scripts/unique-events.lua).
#
# Target (issue 3): relay throughput >= 0.4 x the bare handler's requests/s, with zero lost
# deliveries: delivered = accepted (2xx answers) once the queue is empty.
#
# Env: DURATION (10s), CONNECTIONS (32), ROUNDS (7), WORKERS (default runtime threads),
#      MAX_PENDING (1000000), WRK_CPU (0; empty = don't pin wrk),
#      STORE (memory; `postgres` = a fresh database beside PG_ADMIN_URL, default
#      postgres://postgres@127.0.0.1:5432/test, made for the run and dropped after it:
#      the relay through the shared queue of issue 16).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-7}
MAX_PENDING=${MAX_PENDING:-1000000}
WRK_CPU=${WRK_CPU-0}
LUA=scripts/unique-events.lua
workers=()
[[ -n ${WORKERS:-} ]] && workers=(--workers "$WORKERS")

source scripts/lib.sh
need wrk
build --bin hookrelay --example bare
BARE=target/release/examples/bare

pin_wrk

STORE=${STORE:-memory}
if [[ $STORE == postgres ]]; then
  PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}
  PG_DB=hookrelay_bench_relay_$$
  pg() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "$1" >/dev/null; }
  pg "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
  pg "CREATE DATABASE $PG_DB"
  trap 'stop_all; pg "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true; cleanup' EXIT
  STORE=${PG_ADMIN_URL%/*}/$PG_DB
fi

# load URL ID_BASE : prints "REQUESTS RPS NON2XX"
load() {
  local out
  out=$(ID_BASE=$2 "${pin[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" "$1/webhook")
  local requests rps non2xx
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$requests $rps ${non2xx:-0}"
}

now() { date +%s.%N; }

echo "# bench-relay $(date -u +%FT%TZ) | $(nproc) CPUs | $(uname -r) | load: $(uptime | sed 's/.*load average: //')"
echo "# wrk -t1 -c$CONNECTIONS -d$DURATION, pinned: ${pin[*]:-no} | rounds: $ROUNDS | hookrelay ${workers[*]:-(default workers)} --max-pending $MAX_PENDING --store ${STORE%%://*}"
start sink "$BARE" --port 0 "${workers[@]}"; sink_url=${url[sink]}
start relay "$HOOKRELAY" serve --port 0 "${workers[@]}" --forward-to "$sink_url/webhook" \
  --max-pending "$MAX_PENDING" --store "$STORE"; relay_url=${url[relay]}

printf '%-6s %11s %11s %10s %10s %10s %9s %s\n' round bare_rps relay_eps ratio accepted delivered drain_s lost
status=0
base=0
delivered_before=0
dead_before=0
accepted_before=0
for r in $(seq 1 "$ROUNDS"); do
  read -r _ bare_rps _ < <(load "$sink_url" "$base"); base=$((base + 10 ** 10))
  started=$(now)
  read -r _ _ _ < <(load "$relay_url" "$base"); base=$((base + 10 ** 10))
  loaded=$(now)
  deadline=$((SECONDS + 120))
  # The relay's own counters (the queue-depth gauge may be a cached count of a shared
  # store): drained when every event accepted in this round is delivered or dead. wrk
  # leaves out requests still in flight when it stops, so the relay's count is the one.
  while :; do
    # Read again each time: requests in flight when wrk stopped are still being accepted.
    accepted_total=$(metric "$relay_url" 'hookrelay_events_received_total{result="accepted"}')
    accepted=$((accepted_total - accepted_before))
    delivered_total=$(metric "$relay_url" 'hookrelay_deliveries_total{outcome="delivered"}')
    dead_total=$(metric "$relay_url" 'hookrelay_deliveries_total{outcome="dead"}')
    ((delivered_total + dead_total - delivered_before - dead_before >= accepted)) && break
    if ((SECONDS > deadline)); then echo "the queue did not drain in 120 s" >&2; status=1; break; fi
    sleep 0.05
  done
  drained=$(now)
  accepted_before=$accepted_total
  dead_before=$dead_total
  delivered=$((delivered_total - delivered_before)); delivered_before=$delivered_total
  lost=$((accepted - delivered))
  ((lost == 0)) || status=1
  eps=$(echo "$delivered / ($drained - $started)" | bc -l)
  ratio=$(echo "$eps / $bare_rps" | bc -l)
  echo "$ratio" >>"$tmp/ratios"
  printf '%-6s %11.0f %11.0f %10.3f %10d %10d %9.2f %s\n' "$r" "$bare_rps" "$eps" "$ratio" \
    "$accepted" "$delivered" "$(echo "$drained - $loaded" | bc -l)" "$lost"
done
median=$(median <"$tmp/ratios")
ok=$(echo "$median >= 0.4" | bc -l)
echo "relay throughput ratio (median) $(printf %.3f "$median") (target >= 0.4: $( ((ok)) && echo met || echo NOT met)); lost deliveries: $( ((status == 0)) && echo 0 || echo 'SOME (see rows)')"
echo "dead: $(metric "$relay_url" 'hookrelay_deliveries_total{outcome="dead"}'); accepted and delivered are the relay's own counters"
exit "$status"
