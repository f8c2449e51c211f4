#!/usr/bin/env bash
# Shared by the load scripts: wrk from the system's packages, a temporary folder cleaned up
# on exit, and servers started on 127.0.0.1 port 0. Source it after `set -euo pipefail`.

# need_wrk: installs wrk from the system's packages when it is missing.
need_wrk() {
  if ! command -v wrk >/dev/null; then
    echo "wrk not found; installing it from the system's packages" >&2
    apt-get install -y wrk >/dev/null
  fi
}

# pin_wrk: sets ${pin[@]}, the command prefix that pins wrk to CPU $WRK_CPU (nothing when
# WRK_CPU is empty or taskset is missing).
pin_wrk() {
  pin=()
  if [[ -n ${WRK_CPU:-} ]] && command -v taskset >/dev/null; then pin=(taskset -c "$WRK_CPU"); fi
}

tmp=$(mktemp -d)
declare -A pid url
cleanup() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# start NAME CMD... : starts a server that prints `listening on http://ADDR` first, waits
# for that line, and sets ${pid[NAME]} and ${url[NAME]}.
start() {
  local name=$1; shift
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid[$name]=$!
  local deadline=$((SECONDS + 10))
  until grep -q '^listening on ' "$tmp/$name.out" 2>/dev/null; do
    if ((SECONDS > deadline)); then echo "$name did not start" >&2; cat "$tmp/$name.err" >&2; exit 1; fi
    sleep 0.05
  done
  url[$name]=$(head -1 "$tmp/$name.out" | sed 's/^listening on //')
}

# stop_all: stops every started server.
stop_all() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pid=()
}

# metric URL SERIES : the value of one sample of URL/metrics (0 when absent).
metric() {
  curl -s "$1/metrics" | awk -v s="$2" 'index($0, s " ") == 1 {v = $2} END {print v + 0}'
}

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
