#!/usr/bin/env bash
# Ingest over each protocol the main listener speaks, side by side in one run: HTTP/1.1
# on plain TCP and over TLS (keep-alive connections), and HTTP/2 with prior knowledge and
# over TLS (ALPN h2, many streams on few connections). h2load (Debian's nghttp2-client)
# posts the same event each time, so after the first request every answer is the
# duplicate path (200, `"duplicate":true`): the same work for every protocol. Rounds
# alternate the protocols so they see the same machine load; the verdict uses each
# ratio's median over the rounds.
#
# Targets (issue 13): TLS HTTP/1.1 req/s >= 0.7 x plain HTTP/1.1; HTTP/2 req/s >= HTTP/1.1.
#
# Env: REQUESTS (200000), ROUNDS (5), CONNECTIONS (32, for HTTP/1.1), H2_CONNECTIONS (4),
#      STREAMS (64, per HTTP/2 connection), WORKERS (2).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-200000}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-32}
H2_CONNECTIONS=${H2_CONNECTIONS:-4}
STREAMS=${STREAMS:-64}
WORKERS=${WORKERS:-2}

source scripts/lib.sh
if ! command -v h2load >/dev/null; then
  echo "h2load not found: apt-get install nghttp2-client" >&2
  exit 2
fi
need openssl
build --bin hookrelay

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
printf '%s' '{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "bench", "description": "protocols"}' \
  >"$tmp/event.json"

start plain "$HOOKRELAY" serve --port 0 --workers "$WORKERS" --max-events 100000
start tls "$HOOKRELAY" serve --port 0 --workers "$WORKERS" --max-events 100000 \
  --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem"

# run NAME : prints the req/s of one h2load run of the protocol NAME
run() {
  local args
  case $1 in
    h1) args=(--h1 -c"$CONNECTIONS" -m1 "${url[plain]}/webhook") ;;
    h1_tls) args=(--h1 -c"$CONNECTIONS" -m1 "${url[tls]}/webhook") ;;
    h2) args=(-c"$H2_CONNECTIONS" -m"$STREAMS" "${url[plain]}/webhook") ;;
    h2_tls) args=(-c"$H2_CONNECTIONS" -m"$STREAMS" "${url[tls]}/webhook") ;;
  esac
  h2load -n"$REQUESTS" -d "$tmp/event.json" -H 'content-type: application/json' "${args[@]}" |
    awk '/^finished in/ {gsub(",", "", $4); print $4}
         /^status codes:/ && $5 != 0 {print "non-2xx answers: " $0 > "/dev/stderr"}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

protocols=(h1 h1_tls h2 h2_tls)
echo "# bench-protocols $(date -u +%FT%TZ) | $(nproc) CPUs | load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# h2load -n$REQUESTS; HTTP/1.1: -c$CONNECTIONS; HTTP/2: -c$H2_CONNECTIONS -m$STREAMS; --workers $WORKERS"
printf '%-6s %10s %10s %10s %10s %8s %8s %8s\n' round h1 h1_tls h2 h2_tls tls/h1 h2/h1 h2tls/h1tls
tls_ratios=() h2_ratios=() h2tls_ratios=()
for round in $(seq "$ROUNDS"); do
  declare -A rps=()
  # Alternate the order so no protocol always runs first.
  order=("${protocols[@]}")
  ((round % 2 == 0)) && order=(h2_tls h2 h1_tls h1)
  for p in "${order[@]}"; do rps[$p]=$(run "$p"); done
  tls_ratios+=("$(ratio "${rps[h1_tls]}" "${rps[h1]}")")
  h2_ratios+=("$(ratio "${rps[h2]}" "${rps[h1]}")")
  h2tls_ratios+=("$(ratio "${rps[h2_tls]}" "${rps[h1_tls]}")")
  printf '%-6s %10s %10s %10s %10s %8s %8s %8s\n' "$round" "${rps[h1]}" "${rps[h1_tls]}" \
    "${rps[h2]}" "${rps[h2_tls]}" "${tls_ratios[-1]}" "${h2_ratios[-1]}" "${h2tls_ratios[-1]}"
done
tls=$(printf '%s\n' "${tls_ratios[@]}" | median)
h2=$(printf '%s\n' "${h2_ratios[@]}" | median)
h2tls=$(printf '%s\n' "${h2tls_ratios[@]}" | median)
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v >= t) ? "ok" : "MISSED"}'; }
echo "median TLS/plain (HTTP/1.1): $tls (target >= 0.7: $(verdict "$tls" 0.7))"
echo "median HTTP/2 / HTTP/1.1 (plain): $h2 (target >= 1: $(verdict "$h2" 1))"
echo "median HTTP/2 / HTTP/1.1 (TLS): $h2tls (target >= 1: $(verdict "$h2tls" 1))"
