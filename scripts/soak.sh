#!/usr/bin/env bash
# Soak: SOAK_SECONDS (60) of wrk at full rate against `hookrelay serve --forward-to` a
# local sink (a second `hookrelay serve`), with valid, invalid and duplicate payloads
# (scripts/soak.lua). Then checks and prints:
#   - no 5xx other than deliberate 503s, and no socket errors;
#   - accepted (the relay's own count) = stored at the relay (events + evicted), and the
#     200s without "duplicate" that wrk counted fall short of it by at most the requests
#     wrk cut off in flight when its time ran out (one per connection);
#   - after draining: delivered = accepted, nothing dead, and the sink stored them all;
#   - resident memory at the end within 10% of the memory after the first 10 s
#     (--max-events caps the store, so a leak would show).
# Exits 1 when a check fails. Needs wrk (installed with apt-get when missing and root).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TOTAL=${SOAK_SECONDS:-60}
THREADS=${SOAK_THREADS:-2}
CONNECTIONS=${SOAK_CONNECTIONS:-64}
MAX_EVENTS=${SOAK_MAX_EVENTS:-20000}
# Small enough that the delivery queue is full (the sink is slower than wrk) well within
# the first 10 s, so that memory at 10 s and at the end compare like with like.
MAX_PENDING=${SOAK_MAX_PENDING:-5000}

source scripts/lib.sh
need wrk
build --bin hookrelay

start sink "$HOOKRELAY" serve --port 0 --max-events 10000000 --max-inflight 4096
SINK_PID=${pid[sink]}
SINK=${url[sink]}
start relay "$HOOKRELAY" serve --port 0 --max-events "$MAX_EVENTS" --max-pending "$MAX_PENDING" \
    --forward-to "$SINK/webhook" --forward-concurrency 32 --retry-schedule 1s,2s,5s,10s
RELAY_PID=${pid[relay]}
RELAY=${url[relay]}

echo "soak: $(date -u +%FT%TZ), nproc $(nproc), load$(uptime | sed 's/.*load average//')"
echo "soak: relay $RELAY -> sink $SINK; wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_TOTAL}s"
export SOAK_COUNTS=$tmp/counts
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_TOTAL}s" -s scripts/soak.lua "$RELAY" \
    >"$tmp/wrk.txt" &
WRK_PID=$!
sleep 10
RSS_10S=$(rss_kib "$RELAY_PID")
OPEN_10S=$(metric "$RELAY" hookrelay_delivery_queue_depth)
wait "$WRK_PID"
RSS_END=$(rss_kib "$RELAY_PID")
OPEN_END=$(metric "$RELAY" hookrelay_delivery_queue_depth)
cat "$tmp/wrk.txt"
COUNTS=$(cat "$SOAK_COUNTS")
echo "soak: $COUNTS"
count() { echo "$COUNTS" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# Drain: wait until no delivery is open (at most 120 s).
for _ in $(seq 1 240); do
    OPEN=$(metric "$RELAY" hookrelay_delivery_queue_depth)
    [ "$OPEN" = 0 ] && break
    sleep 0.5
done

ACCEPTED=$(metric "$RELAY" 'hookrelay_events_received_total{result="accepted"}')
CLIENT_ACCEPTED=$(count accepted)
STORED=$(( $(json_field "$RELAY/healthz" events) + $(json_field "$RELAY/healthz" evicted) ))
DELIVERED=$(metric "$RELAY" 'hookrelay_deliveries_total{outcome="delivered"}')
DEAD=$(metric "$RELAY" 'hookrelay_deliveries_total{outcome="dead"}')
AT_SINK=$(( $(json_field "$SINK/healthz" events) + $(json_field "$SINK/healthz" evicted) ))
SINK_RSS=$(rss_kib "$SINK_PID")
GROWTH=$(awk -v a="$RSS_10S" -v b="$RSS_END" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')

FAILED=0
check() { # check DESCRIPTION CONDITION…
    local what=$1
    shift
    if "$@"; then echo "ok    $what"; else echo "FAIL  $what"; FAILED=1; fi
}
echo "soak: accepted $ACCEPTED (wrk saw $CLIENT_ACCEPTED), stored at relay $STORED, delivered $DELIVERED, dead $DEAD," \
    "stored at sink $AT_SINK, open $OPEN"
echo "soak: relay RSS ${RSS_10S} KiB at 10 s (queue $OPEN_10S), ${RSS_END} KiB at the end" \
    "(queue $OPEN_END): ${GROWTH}%; sink RSS ${SINK_RSS} KiB"
check "no 5xx other than deliberate 503 ($(count s5xx))" [ "$(count s5xx)" = 0 ]
check "no socket errors or timeouts" [ "$(count connect_errors)$(count read_errors)$(count write_errors)$(count timeouts)" = 0000 ]
check "accepted = stored at the relay" [ "$ACCEPTED" = "$STORED" ]
within_cutoff() { [ "$CLIENT_ACCEPTED" -le "$ACCEPTED" ] && [ $((ACCEPTED - CLIENT_ACCEPTED)) -le "$CONNECTIONS" ]; }
check "wrk saw all accepted but those cut off in flight (at most $CONNECTIONS)" within_cutoff
check "queue drained" [ "$OPEN" = 0 ]
check "delivered = accepted" [ "$DELIVERED" = "$ACCEPTED" ]
check "nothing dead" [ "$DEAD" = 0 ]
check "stored at the sink = accepted" [ "$AT_SINK" = "$ACCEPTED" ]
check "RSS at the end within 10% of RSS at 10 s" \
    awk -v g="$GROWTH" 'BEGIN { exit !(g <= 10 && g >= -10) }'
exit "$FAILED"
