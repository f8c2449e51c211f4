#!/usr/bin/env bash
# Third-party checks of a running `hookrelay serve --port 0`:
#  1. Schemathesis (from PyPI, in a venv under target/) generates requests from the served
#     GET /openapi.json and checks every answer: no 5xx, status, Content-Type, headers and
#     body as described. A bounded number of examples per operation and a fixed seed keep
#     the run short and repeatable. scripts/schemathesis_hooks.py leaves out the few
#     requests whose answer OpenAPI cannot state (it says which and why). The server
#     requires an --admin-token, sent with every request; Schemathesis also tries each
#     admin operation without it (its ignored_auth check: 401 expected). A second,
#     shorter run sends POST /webhook to a server with --verify (401 for all).
#  2. `promtool check metrics` on a live /metrics: no family without HELP, no lint warning.
#     promtool comes from PATH, or from the Debian package `prometheus` unpacked under target/
#     (nothing is installed system-wide); when neither works the reason is printed.
#
# Exits non-zero on any finding. Without Python (or its venv module) it prints why it skips
# and exits 0, unless CI=true.
#
# Env: MAX_EXAMPLES (30 per operation), SEED (14), SCHEMATHESIS_VERSION (4.32.5),
#      PYTHON (python3), CI.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES=${MAX_EXAMPLES:-30}
SEED=${SEED:-14}
# Pinned: the CLI's flags changed across major versions.
SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
VENV=target/schemathesis-venv
PYTHON=${PYTHON:-python3}

source scripts/lib.sh

python_missing() {
  if [[ ${CI:-} == true ]]; then
    echo "schemathesis: $1, and CI=true: failing" >&2
    exit 1
  fi
  echo "schemathesis: skipped: $1"
}

# need_schemathesis: sets $st to a Schemathesis of the pinned version, made once in $VENV.
need_schemathesis() {
  st=$VENV/bin/st
  if [[ -x $st ]] && "$st" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then return; fi
  if ! command -v "$PYTHON" >/dev/null; then python_missing "$PYTHON not found"; return 1; fi
  if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then python_missing "$PYTHON has no venv module"; return 1; fi
  echo "schemathesis: installing $SCHEMATHESIS_VERSION from PyPI into $VENV"
  rm -rf "$VENV"
  # Debian's python3 without python3-venv has the module but cannot make a venv with pip.
  if ! "$PYTHON" -m venv "$VENV" >"$tmp/venv.log" 2>&1; then
    python_missing "$PYTHON -m venv failed: $(tail -1 "$tmp/venv.log")"
    return 1
  fi
  if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" >"$tmp/pip.log" 2>&1; then
    rm -rf "$VENV"
    python_missing "pip could not install schemathesis==$SCHEMATHESIS_VERSION: $(tail -1 "$tmp/pip.log")"
    return 1
  fi
}

# need_promtool: sets $promtool, or prints why there is none and returns 1.
need_promtool() {
  if promtool=$(command -v promtool); then return; fi
  promtool=target/promtool/usr/bin/promtool
  if [[ -x $promtool ]]; then return; fi
  if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    echo "promtool: skipped: not on PATH, and no apt-get/dpkg-deb to fetch the Debian package prometheus"
    return 1
  fi
  mkdir -p target/promtool
  if ! (cd target/promtool && apt-get download prometheus >"$tmp/apt.log" 2>&1); then
    echo "promtool: skipped: apt-get download prometheus failed (run apt-get update?): $(tail -1 "$tmp/apt.log")"
    return 1
  fi
  dpkg-deb -x target/promtool/prometheus_*.deb target/promtool
  rm -f target/promtool/prometheus_*.deb target/promtool/usr/bin/prometheus
}

cargo build --quiet --bin hookrelay
token=$(target/debug/hookrelay secret new --admin)
auth="Authorization: Bearer $token"
# A relay whose target refuses connections, so that deliveries exist to list and replay.
# Endpoints that Schemathesis makes (POST /endpoints) get deliveries too: every outbound
# request goes through a proxy at 127.0.0.1 port 1, where nothing listens, so whatever URL
# was generated, no delivery (nor a DNS lookup of its host) leaves this machine.
start hookrelay env ALL_PROXY=http://127.0.0.1:1 NO_PROXY= \
  target/debug/hookrelay serve --port 0 --admin-token "$token" \
  --forward-to http://127.0.0.1:1/hook --retry-schedule 1s,1s
base=${url[hookrelay]}
status=0

if need_promtool; then
  curl -sf -H "$auth" "$base/metrics" >"$tmp/metrics.txt"
  # promtool exits 0 on some lint findings it prints: any output is a finding.
  if "$promtool" check metrics <"$tmp/metrics.txt" >"$tmp/promtool.out" 2>&1 && [[ ! -s $tmp/promtool.out ]]; then
    echo "promtool: /metrics passes ($("$promtool" --version 2>&1 | head -1))"
  else
    echo "promtool: /metrics has findings:" >&2
    cat "$tmp/promtool.out" >&2
    status=1
  fi
fi

# schemathesis NAME ARGS…: runs Schemathesis against the server NAME, from the description
# it serves (read here with the admin token, which a server without one ignores); sets
# status=1 on a finding. Runs from target/schemathesis, where it keeps what `st replay ID`
# needs.
schemathesis() {
  local name=$1; shift
  local started=$SECONDS
  curl -sf -H "$auth" "${url[$name]}/openapi.json" >"$tmp/$name.openapi.json"
  mkdir -p target/schemathesis
  if (cd target/schemathesis && PYTHONPATH=../../scripts PYTHONDONTWRITEBYTECODE=1 \
    SCHEMATHESIS_HOOKS=schemathesis_hooks ../../"$st" run "$tmp/$name.openapi.json" \
    --url "${url[$name]}" \
    --checks all --max-examples "$MAX_EXAMPLES" --seed "$SEED" --generation-database none \
    --workers 1 --no-color --request-timeout 10 "$@"); then
    echo "schemathesis ($name): no findings in $((SECONDS - started))s"
  else
    echo "schemathesis ($name): findings above; the server's last log lines:" >&2
    tail -20 "$tmp/$name.err" >&2
    status=1
  fi
}

if need_schemathesis; then
  # GET /events/stream answers an endless stream: every generated request would run into
  # the request timeout. Its refusals (400, 401, 503) are covered by tests/it.
  schemathesis hookrelay --header "$auth" --exclude-path /events/stream
  # With --verify, POST /webhook answers 401 to every unsigned request: its error shape too.
  start verifying target/debug/hookrelay serve --port 0 --verify standard \
    --secret "$(target/debug/hookrelay secret new)"
  schemathesis verifying --include-path /webhook
fi
exit $status
