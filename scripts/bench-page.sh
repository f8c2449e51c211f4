#!/usr/bin/env bash
# The inspector page's first load: two `hookrelay serve` on 127.0.0.1:0, one empty and one
# holding EVENTS events of about 120 bytes (posted with examples/post_events.rs), each
# opened ROUNDS times in headless Chromium through chromedriver (examples/page_load.rs), a
# fresh browser session with an empty cache every time, the two servers alternating. Each
# load reports when the page's `hookrelay-interactive` mark came (ms after navigation
# start: the first rows are on screen and the page answers input) and the bytes
# transferred by then, as the browser's resource timing counts them (headers included;
# nothing is compressed: hookrelay sends the files as they are).
#
# Targets (issue 17): first load <= 100 KB transferred, interactive within 1 s with
# 100,000 events kept.
#
# Env: EVENTS (100000), ROUNDS (5), CHROMIUM (/usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-100000}
ROUNDS=${ROUNDS:-5}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

source scripts/lib.sh
command -v chromedriver >/dev/null && [[ -x $CHROMIUM ]] || {
  echo "needs chromium and chromedriver: apt-get install chromium chromium-driver" >&2
  exit 2
}
build --bin hookrelay --example post_events
# The WebDriver client is not what is measured: a debug build is enough.
cargo build --quiet --example page_load
LOAD=target/debug/examples/page_load

start empty "$HOOKRELAY" serve --port 0 --max-events "$EVENTS"
start full "$HOOKRELAY" serve --port 0 --max-events "$EVENTS"
target/release/examples/post_events --url "${url[full]}/webhook" --count "$EVENTS" --connections 16
kept=$(json_field "${url[full]}/healthz" events)
[[ $kept == "$EVENTS" ]] || { echo "the full server keeps $kept events, not $EVENTS" >&2; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chromedriver --port="$port" >"$tmp/chromedriver.log" 2>&1 &
pid[chromedriver]=$!
until curl -sf "http://127.0.0.1:$port/status" >/dev/null; do sleep 0.05; done

echo "# bench-page $(date -u +%FT%TZ) | $(nproc) CPUs | $(uname -r) | load: $(uptime | sed 's/.*load average: //')"
echo "# $("$CHROMIUM" --version 2>/dev/null) | commit $(git rev-parse --short HEAD)"
for ((round = 1; round <= ROUNDS; round++)); do
  for name in empty full; do
    line=$("$LOAD" --webdriver "http://127.0.0.1:$port" --url "${url[$name]}/" --rounds 1 --chromium "$CHROMIUM")
    echo "$name $line" | tee -a "$tmp/loads"
  done
done

field() { sed -E "s/.*\"$1\":([0-9.]+).*/\\1/"; }
for name in empty full; do
  interactive=$(grep "^$name " "$tmp/loads" | field interactive_ms | median)
  page=$(grep "^$name " "$tmp/loads" | field page_bytes | median)
  total=$(grep "^$name " "$tmp/loads" | field total_bytes | median)
  settled=$(grep "^$name " "$tmp/loads" | field settled_bytes | median)
  asked=$(grep "^$name " "$tmp/loads" | field events_asked | median)
  echo "$name: median interactive ${interactive} ms; page and assets ${page} B; until interactive ${total} B; after 2 s ${settled} B; events asked for ${asked}"
done
