#!/usr/bin/env bash
# Whole-process time of `hookrelay send --to URL --event-id N` against curl doing the same
# POST (same body bytes, Content-Type and User-Agent), both timed by hyperfine against one
# local receiver on 127.0.0.1:0. Rounds repeat the pair so both see the same machine load.
#
# Target (issue 2): hookrelay send <= 1.5 x curl.
#
# Env: RECEIVER (bare | hookrelay; default bare, the examples/bare.rs handler), RUNS (200),
#      WARMUP (20), ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/.."

RECEIVER=${RECEIVER:-bare}
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-20}
ROUNDS=${ROUNDS:-3}

source scripts/lib.sh
need hyperfine curl
build --bin hookrelay --example bare

case $RECEIVER in
  bare) start receiver target/release/examples/bare --port 0 --workers 1 ;;
  hookrelay) start receiver "$HOOKRELAY" serve --port 0 --workers 1 ;;
  *) echo "RECEIVER must be bare or hookrelay" >&2; exit 2 ;;
esac
target="${url[receiver]}/webhook"

# The exact request hookrelay sends, taken from its own --dry-run. A fixed timestamp keeps
# every body identical (so hookrelay serve as the receiver answers "duplicate", not 409).
timestamp=2023-10-05T12:34:56Z
"$HOOKRELAY" send --to "$target" --event-id 123 --timestamp "$timestamp" --dry-run >"$tmp/dry"
tail -n 1 "$tmp/dry" | tr -d '\n' >"$tmp/body"
agent=$(sed -n 's/^user-agent: //p' "$tmp/dry")

send_cmd="$HOOKRELAY send --to $target --event-id 123 --timestamp $timestamp"
curl_cmd="curl -sS --fail -X POST -H Content-Type:application/json -H User-Agent:$agent --data-binary @$tmp/body $target"
# Both must succeed before they are timed.
$send_cmd >/dev/null 2>"$tmp/send.err" || { cat "$tmp/send.err" >&2; exit 1; }
$curl_cmd >/dev/null

echo "# bench-send $(date -u +%FT%TZ) | $(nproc) CPUs | $(uname -r) | receiver: $RECEIVER"
echo "# body ($(wc -c <"$tmp/body") bytes): $(cat "$tmp/body")"
printf '%-6s %14s %14s %8s  %s\n' round send_mean_ms curl_mean_ms ratio load
: >"$tmp/ratios"
for r in $(seq 1 "$ROUNDS"); do
  load=$(uptime | sed 's/.*load average: //' | cut -d, -f1)
  hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$tmp/h.json" \
    "$send_cmd" "$curl_cmd" >/dev/null
  read -r s c < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(r[0]["mean"] * 1000, r[1]["mean"] * 1000)' "$tmp/h.json")
  ratio=$(echo "$s / $c" | bc -l)
  echo "$ratio" >>"$tmp/ratios"
  printf '%-6s %14.3f %14.3f %8.3f  %s\n' "$r" "$s" "$c" "$ratio" "$load"
done
median=$(median <"$tmp/ratios")
ok=$(echo "$median <= 1.5" | bc -l)
echo "median ratio send/curl: $(printf %.3f "$median") (target <= 1.5: $( ((ok)) && echo met || echo NOT met))"
