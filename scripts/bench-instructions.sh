#!/usr/bin/env bash
# Userspace instructions per POST /webhook, counted by valgrind's callgrind: repeatable
# whatever else the machine is doing, so it is how changes to the hot path are compared
# (it does not see kernel time, cache misses or scheduling; bench-ingest.sh does).
# Each server runs with one worker under callgrind; WARM events are posted, the counters
# are zeroed, COUNT more distinct events are posted, and the total is divided by COUNT.
# hookrelay runs with --max-events 10000, so eviction is part of every measured insert;
# hookrelay_admin_token runs the same with an --admin-token, which POST /webhook (a public
# endpoint) must not pay for.
# hookrelay_10_streams: the same as hookrelay with 10 event streams open and read
# (`curl -N` on GET /events/stream into /dev/null, opened before WARM): every event is
# rendered once and written to ten clients; the difference from hookrelay is the streams'
# cost per event.
# relay_per_event: `serve --forward-to` a bare sink (not under callgrind); after WARM
# events, COUNT more are posted and delivered (the count is read once the server has been
# idle for a second): all of the relay's userspace instructions, receiving and delivering,
# divided by COUNT.
#
# Env: WARM (20000), COUNT (50000), ONLY (names of the measurements to run, space-separated;
# all by default), BIN_DIR (the hookrelay binary and examples to measure, e.g. another
# commit's build; default target/release, built here).
set -euo pipefail
cd "$(dirname "$0")/.."

WARM=${WARM:-20000}
COUNT=${COUNT:-50000}

source scripts/lib.sh
need valgrind curl
if [[ -n ${BIN_DIR:-} ]]; then
  BIN=$BIN_DIR EXAMPLES=$BIN_DIR
else
  build --bin hookrelay --example bare --example post_events
  BIN=target/release EXAMPLES=target/release/examples
fi
POST=$EXAMPLES/post_events
ONLY=${ONLY:-bare bare_read hookrelay hookrelay_10_streams hookrelay_admin_token relay_per_event}
STREAMS=10
wanted() { [[ " $ONLY " == *" $1 "* ]]; }
# Under callgrind a server takes far longer to print its address.
START_TIMEOUT=60

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# idle PID : waits until PID has used (almost) no CPU for a second: the relay has drained.
idle() {
  local before after
  after=$(cpu_ticks "$1")
  while :; do
    sleep 1
    before=$after after=$(cpu_ticks "$1")
    ((after - before <= 1)) && return
  done
}

# measure NAME CMD... : prints "NAME: N instructions/request"; with STREAMS_OPEN=N set,
# N event streams are open and read throughout.
measure() {
  local name=$1; shift
  wanted "$name" || return 0
  start "$name" valgrind --tool=callgrind --callgrind-out-file="$tmp/$name.callgrind" "$@" \
    --port 0 --workers 1
  local target="${url[$name]}/webhook"
  ((${STREAMS_OPEN:-0} == 0)) || open_readers "${url[$name]}" "$STREAMS_OPEN"
  "$POST" --url "$target" --count "$WARM" --first-id 1 --connections 8 >/dev/null
  idle "${pid[$name]}"
  callgrind_control -z "${pid[$name]}" >/dev/null 2>&1
  "$POST" --url "$target" --count "$COUNT" --first-id 100000000 --connections 8 >/dev/null
  idle "${pid[$name]}"
  callgrind_control -d "${pid[$name]}" >/dev/null 2>&1
  close_readers
  # Killed, not stopped: a graceful exit would write a last, newer dump of nothing.
  stop "$name" KILL
  local dump total
  dump=$(ls -t "$tmp/$name.callgrind".* | head -1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "$name: $((total / COUNT)) instructions/request"
}

echo "# bench-instructions $(date -u +%FT%TZ) | $(git rev-parse --short HEAD) | ${BIN_DIR:-target/release} | WARM=$WARM COUNT=$COUNT | load $(cut -d' ' -f1-3 /proc/loadavg)"
measure bare "$EXAMPLES/bare"
measure bare_read "$EXAMPLES/bare" --read-body
measure hookrelay "$BIN/hookrelay" serve --max-events 10000
STREAMS_OPEN=$STREAMS measure hookrelay_10_streams "$BIN/hookrelay" serve --max-events 10000
wanted hookrelay_admin_token &&
  measure hookrelay_admin_token "$BIN/hookrelay" serve --max-events 10000 \
    --admin-token "$("$BIN/hookrelay" secret new --admin)"
if wanted relay_per_event; then
  start sink "$EXAMPLES/bare" --port 0 --workers 1
  measure relay_per_event "$BIN/hookrelay" serve --max-events 10000 \
    --forward-to "${url[sink]}/webhook"
  stop sink
fi
