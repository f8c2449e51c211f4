#!/usr/bin/env bash
# Relay throughput: wrk loads `hookrelay serve --forward-to SINK`, where SINK is the bare axum
# handler (examples/bare.rs); in the same run, the bare handler alone is loaded the same way.
# Relay throughput = deliveries acknowledged by the sink per second, from the start of the
# load until the queue has drained. Every request is a ~120-byte event with a unique
# event_id (scripts/unique-events.lua).
#
# Target (issue 3): relay throughput >= 0.4 x the bare handler's requests/s, with zero lost
# deliveries: every accepted event (2xx answer) delivered once the queue is empty.
#
# Deliveries are counted at the sink, by webhook-id (for each store's relay, a bare
# handler of its own with --count-webhook-ids): `delivered` is the distinct ids it received, `repeats` the requests
# beyond one per id (at-least-once: a delivery made again, always with the same webhook-id),
# `lost` = accepted - delivered - dead. The sink's counts are read before the relay's, so
# an event accepted while the counts are read is never counted as delivered first.
#
# Env: DURATION (10s), CONNECTIONS (32), ROUNDS (7), WORKERS (default runtime threads),
#      MAX_PENDING (1000000), WRK_CPU (0; empty = don't pin wrk),
#      STORES (memory; a list, e.g. "memory postgres", runs each store's relay in every
#      round, side by side; STORE=postgres means "memory postgres"). postgres = a fresh
#      database beside PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/test, made
#      for the run and dropped after it: the relay through the shared queue of issue 16.
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

STORES=${STORES:-${STORE:-memory}}
[[ $STORES == postgres ]] && STORES="memory postgres"
declare -A store_url=([memory]=memory)
if [[ " $STORES " == *" postgres "* ]]; then
  PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}
  PG_DB=hookrelay_bench_relay_$$
  pg() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c "$1" >/dev/null; }
  pg "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
  pg "CREATE DATABASE $PG_DB"
  trap 'stop_all; pg "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true; cleanup' EXIT
  store_url[postgres]=${PG_ADMIN_URL%/*}/$PG_DB
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
echo "# wrk -t1 -c$CONNECTIONS -d$DURATION, pinned: ${pin[*]:-no} | rounds: $ROUNDS | hookrelay ${workers[*]:-(default workers)} --max-pending $MAX_PENDING | stores: $STORES"
start sink "$BARE" --port 0 "${workers[@]}"; sink_url=${url[sink]}
# Each store's relay delivers to a counting sink of its own: a delivery that comes late
# is counted for its store.
for s in $STORES; do
  start "counter_$s" "$BARE" --port 0 "${workers[@]}" --count-webhook-ids
  start "relay_$s" "$HOOKRELAY" serve --port 0 "${workers[@]}" --forward-to "${url[counter_$s]}/webhook" \
    --max-pending "$MAX_PENDING" --store "${store_url[$s]}"
done

# counts STORE : "REQUESTS DISTINCT_IDS" received so far by the sink of STORE's relay.
counts() { curl -fsS "${url[counter_$1]}/counts"; }

printf '%-6s %-9s %11s %11s %8s %10s %10s %8s %9s %s\n' round store bare_rps relay_eps ratio accepted delivered repeats drain_s lost
status=0
base=0
declare -A accepted_before=() dead_before=() requests_before=() distinct_before=()
for s in $STORES; do
  accepted_before[$s]=0; dead_before[$s]=0; requests_before[$s]=0; distinct_before[$s]=0
done
for r in $(seq 1 "$ROUNDS"); do
  read -r _ bare_rps _ < <(load "$sink_url" "$base"); base=$((base + 10 ** 10))
  for s in $STORES; do
    relay_url=${url[relay_$s]}
    started=$(now)
    read -r _ _ _ < <(load "$relay_url" "$base"); base=$((base + 10 ** 10))
    loaded=$(now)
    deadline=$((SECONDS + 120))
    # Drained when every event accepted in this round is at the sink or dead. The relay's
    # accepted count is read after the sink's counts, and again each time: requests in
    # flight when wrk stopped are still being accepted.
    while :; do
      read -r requests distinct < <(counts "$s")
      dead_total=$(metric "$relay_url" 'hookrelay_deliveries_total{outcome="dead"}')
      accepted_total=$(metric "$relay_url" 'hookrelay_events_received_total{result="accepted"}')
      accepted=$((accepted_total - accepted_before[$s]))
      delivered=$((distinct - distinct_before[$s]))
      dead=$((dead_total - dead_before[$s]))
      ((delivered + dead >= accepted)) && break
      if ((SECONDS > deadline)); then echo "the $s queue did not drain in 120 s" >&2; status=1; break; fi
      sleep 0.05
    done
    drained=$(now)
    repeats=$((requests - requests_before[$s] - delivered))
    accepted_before[$s]=$accepted_total; dead_before[$s]=$dead_total
    requests_before[$s]=$requests; distinct_before[$s]=$distinct
    lost=$((accepted - delivered - dead))
    ((lost == 0)) || status=1
    eps=$(echo "$delivered / ($drained - $started)" | bc -l)
    ratio=$(echo "$eps / $bare_rps" | bc -l)
    echo "$ratio" >>"$tmp/ratios_$s"
    echo "$eps" >>"$tmp/eps_$s"
    printf '%-6s %-9s %11.0f %11.0f %8.3f %10d %10d %8d %9.2f %s\n' "$r" "$s" "$bare_rps" "$eps" "$ratio" \
      "$accepted" "$delivered" "$repeats" "$(echo "$drained - $loaded" | bc -l)" "$lost"
  done
done
for s in $STORES; do
  median=$(median <"$tmp/ratios_$s")
  echo "$s: relay throughput ratio (median) $(printf %.3f "$median"), $(printf %.0f "$(median <"$tmp/eps_$s")") deliveries/s (median); dead: $(metric "${url[relay_$s]}" 'hookrelay_deliveries_total{outcome="dead"}')"
done
if [[ " $STORES " == *" memory "* ]]; then
  ok=$(echo "$(median <"$tmp/ratios_memory") >= 0.4" | bc -l)
  echo "memory relay target >= 0.4: $( ((ok)) && echo met || echo NOT met)"
fi
if [[ " $STORES " == *" memory "* && " $STORES " == *" postgres "* ]]; then
  echo "postgres / memory deliveries/s (medians): $(printf %.3f "$(echo "$(median <"$tmp/eps_postgres") / $(median <"$tmp/eps_memory")" | bc -l)")"
fi
for s in $STORES; do
  read -r requests distinct < <(counts "$s")
  echo "$s: at its sink $requests requests, $distinct distinct webhook-ids ($((requests - distinct)) repeats); accepted $(metric "${url[relay_$s]}" 'hookrelay_events_received_total{result="accepted"}')"
done
echo "lost deliveries: $( ((status == 0)) && echo 0 || echo 'SOME (see rows)')"
exit "$status"
