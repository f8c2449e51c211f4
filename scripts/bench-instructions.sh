#!/usr/bin/env bash
# Userspace instructions per POST /webhook, counted by valgrind's callgrind: repeatable
# whatever else the machine is doing, so it is how changes to the hot path are compared
# (it does not see kernel time, cache misses or scheduling; bench-ingest.sh does).
# Each server runs with one worker under callgrind; WARM events are posted, the counters
# are zeroed, COUNT more distinct events are posted, and the total is divided by COUNT.
# hookrelay runs with --max-events 10000, so eviction is part of every measured insert;
# hookrelay_admin_token runs the same with an --admin-token, which POST /webhook (a public
# endpoint) must not pay for.
#
# Env: WARM (20000), COUNT (50000).
set -euo pipefail
cd "$(dirname "$0")/.."

WARM=${WARM:-20000}
COUNT=${COUNT:-50000}

source scripts/lib.sh
need valgrind
build --bin hookrelay --example bare --example post_events
POST=target/release/examples/post_events
# Under callgrind a server takes far longer to print its address.
START_TIMEOUT=60

# measure NAME CMD... : prints "NAME: N instructions/request"
measure() {
  local name=$1; shift
  start "$name" valgrind --tool=callgrind --callgrind-out-file="$tmp/$name.callgrind" "$@" \
    --port 0 --workers 1
  local target="${url[$name]}/webhook"
  "$POST" --url "$target" --count "$WARM" --first-id 1 --connections 8 >/dev/null
  callgrind_control -z "${pid[$name]}" >/dev/null 2>&1
  "$POST" --url "$target" --count "$COUNT" --first-id 100000000 --connections 8 >/dev/null
  callgrind_control -d "${pid[$name]}" >/dev/null 2>&1
  # Killed, not stopped: a graceful exit would write a last, newer dump of nothing.
  stop "$name" KILL
  local dump total
  dump=$(ls -t "$tmp/$name.callgrind".* | head -1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "$name: $((total / COUNT)) instructions/request"
}

echo "# bench-instructions $(date -u +%FT%TZ) | $(git rev-parse --short HEAD) | WARM=$WARM COUNT=$COUNT"
measure bare target/release/examples/bare
measure bare_read target/release/examples/bare --read-body
measure hookrelay target/release/hookrelay serve --max-events 10000
measure hookrelay_admin_token target/release/hookrelay serve --max-events 10000 \
  --admin-token "$(target/release/hookrelay secret new --admin)"
