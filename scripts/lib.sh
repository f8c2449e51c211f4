#!/usr/bin/env bash
# The set-up every bench and soak script shares: tools from the system's packages, the
# release build, a temporary folder cleaned up on exit (with every server started here),
# servers started on 127.0.0.1 port 0, and small readers of their answers.
# Source it after `set -euo pipefail` and `cd` to the repository.
#
# Env: BENCH_DIR (where the temporary folder goes; default $TMPDIR or /tmp), BUILD (0: no
# release build, the binaries in target/release are used as they are).

# need TOOL... : installs each missing TOOL from the system's packages (as root), or says
# how and exits 2.
need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null && continue
    if [[ $(id -u) != 0 ]]; then
      echo "$tool not found: apt-get install $tool" >&2
      exit 2
    fi
    echo "$tool not found; installing it from the system's packages" >&2
    apt-get install -y "$tool" >/dev/null ||
      { apt-get update >/dev/null && apt-get install -y "$tool" >/dev/null; }
  done
}

# build ARGS... : `cargo build --release --quiet ARGS...`; sets HOOKRELAY to the binary
# (unless HOOKRELAY is set: another build of it to measure).
# BUILD=0 uses the binaries already in target/release as they are.
build() {
  [[ ${BUILD:-1} == 0 ]] || cargo build --release --quiet "$@"
  HOOKRELAY=${HOOKRELAY:-$PWD/target/release/hookrelay}
}

# pin_wrk: sets ${pin[@]}, the command prefix that pins wrk to CPU $WRK_CPU (nothing when
# WRK_CPU is empty or taskset is missing).
pin_wrk() {
  pin=()
  if [[ -n ${WRK_CPU:-} ]] && command -v taskset >/dev/null; then pin=(taskset -c "$WRK_CPU"); fi
}

tmp=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/hookrelay-bench.XXXXXX")
declare -A pid url
cleanup() {
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# start NAME CMD... : starts a server that prints `listening on http://ADDR` first, waits
# for that line (at most START_TIMEOUT seconds, default 10), and sets ${pid[NAME]} and
# ${url[NAME]}. A server that exits or does not start in time ends the script.
start() {
  local name=$1; shift
  # A server started again under the same name must not be found by its last run's line.
  rm -f "$tmp/$name.out"
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid[$name]=$!
  local deadline=$((SECONDS + ${START_TIMEOUT:-10}))
  until grep -q '^listening on ' "$tmp/$name.out" 2>/dev/null; do
    if ((SECONDS > deadline)) || ! kill -0 "${pid[$name]}" 2>/dev/null; then
      echo "$name did not start" >&2; cat "$tmp/$name.err" >&2; exit 1
    fi
    sleep 0.05
  done
  url[$name]=$(head -1 "$tmp/$name.out" | sed 's/^listening on //')
}

# stop NAME [SIGNAL] : stops one server (SIGTERM unless told) and waits for it.
stop() {
  kill -"${2:-TERM}" "${pid[$1]}" 2>/dev/null || true
  wait "${pid[$1]}" 2>/dev/null || true
  unset "pid[$1]"
}

# stop_all: stops every started server.
stop_all() {
  local name
  for name in "${!pid[@]}"; do stop "$name"; done
}

# metric URL SERIES : the value of one sample of URL/metrics (0 when absent).
metric() {
  curl -s "$1/metrics" | awk -v s="$2" 'index($0, s " ") == 1 {v = $2} END {print v + 0}'
}

readers=()
# open_readers URL N : N event streams of the server at URL read by curl into /dev/null;
# returns once the server counts them.
open_readers() {
  local i
  for i in $(seq 1 "$2"); do
    curl -sN "$1/events/stream" >/dev/null 2>&1 &
    readers+=($!)
  done
  until (($(metric "$1" hookrelay_streams_open) == $2)); do sleep 0.05; done
}

# close_readers [URL] : ends the readers; with URL, returns once that server counts none.
close_readers() {
  local p
  for p in "${readers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  readers=()
  [[ -z ${1:-} ]] || until (($(metric "$1" hookrelay_streams_open) == 0)); do sleep 0.05; done
}

# json_field URL FIELD : a top-level number from the JSON answer at URL.
json_field() {
  curl -fsS "$1" | sed -E "s/.*\"$2\":([0-9]+).*/\\1/"
}

# rss_kib PID : resident memory of a process, in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
