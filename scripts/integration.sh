#!/usr/bin/env bash
# Run the integration tests (pytest; real Prosody, ejabberd and PostgreSQL on loopback).
#
#   scripts/integration.sh [PYTEST_ARGS...]      e.g. -k disco, -x, -v
#
# Binaries come from $CONFAB_BUILD, else the current directory when it holds a
# built confabd (so `make check-integration` in any build dir tests that build),
# else <repo>/build. Needs root (routers and PostgreSQL run as their own users).
# CONFAB_TEST_ROUTERS=prosody limits the router matrix; see docs/testing.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${CONFAB_BUILD:-}" ]; then
  if [ -x "$PWD/confabd" ]; then CONFAB_BUILD=$PWD; else CONFAB_BUILD=$ROOT/build; fi
fi
export CONFAB_BUILD
export PYTHONDONTWRITEBYTECODE=1
cd "$ROOT"
# /usr/bin/python3, not whatever python3 is first on PATH: Debian's interpreter is
# the one that sees python3-slixmpp, python3-pytest and python3-psycopg.
exec /usr/bin/python3 -m pytest tests/integration "$@"
