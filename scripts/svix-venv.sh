#!/usr/bin/env bash
# Creates target/svix-venv, a Python virtual environment with the svix library from PyPI,
# for the test that signs requests with Svix's own code (tests/it/signing/inbound.rs).
# Prints the environment's python on success. Needs python3 with venv and pip, and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/svix-venv
if ! "$VENV/bin/python" -c 'import svix' 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'svix==2.9.1' >&2
fi
echo "$PWD/$VENV/bin/python"
