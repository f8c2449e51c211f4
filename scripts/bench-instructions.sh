#!/usr/bin/env bash
# Userspace instructions per POST /webhook, counted by valgrind's callgrind: repeatable
# whatever else the machine is doing, so it is how changes to the hot path are compared
# (it does not see kernel time, cache misses or scheduling; bench-ingest.sh does).
# Each server runs with one worker under callgrind; WARM events are posted, the counters
# are zeroed, COUNT more distinct events are posted, and the total is divided by COUNT.
# hookrelay runs with --max-events 10000, so eviction is part of every measured insert.
#
# Env: WARM (20000), COUNT (50000).
set -euo pipefail
cd "$(dirname "$0")/.."

WARM=${WARM:-20000}
COUNT=${COUNT:-50000}
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 2; }
cargo build --release --quiet --bin hookrelay --example bare --example post_events
POST=target/release/examples/post_events

tmp=$(mktemp -d)
pid=
cleanup() {
  [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# measure NAME CMD... : prints "NAME: N instructions/request"
measure() {
  local name=$1; shift
  valgrind --tool=callgrind --callgrind-out-file="$tmp/$name.out" "$@" --port 0 --workers 1 \
    >"$tmp/$name.stdout" 2>"$tmp/$name.err" &
  pid=$!
  local deadline=$((SECONDS + 60))
  until grep -q '^listening on ' "$tmp/$name.stdout" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "$name did not start" >&2; cat "$tmp/$name.err" >&2; exit 1; }
    sleep 0.2
  done
  local url
  url="$(head -1 "$tmp/$name.stdout" | sed 's/^listening on //')/webhook"
  "$POST" --url "$url" --count "$WARM" --first-id 1 --connections 8 >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  "$POST" --url "$url" --count "$COUNT" --first-id 100000000 --connections 8 >/dev/null
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  pid=
  local dump total
  dump=$(ls -t "$tmp/$name.out".* | head -1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "$name: $((total / COUNT)) instructions/request"
}

echo "# bench-instructions $(date -u +%FT%TZ) | $(git rev-parse --short HEAD) | WARM=$WARM COUNT=$COUNT"
measure bare target/release/examples/bare
measure bare_read target/release/examples/bare --read-body
measure hookrelay target/release/hookrelay serve --max-events 10000
