#!/usr/bin/env bash
# Run Prosody's scansion MUC specs against confabd ($CONFAB_BUILD, default build/), or one spec: run.sh muc_password
#
#   tests/scansion/run.sh [--target prosody] [--lenient] [-v] [SPEC ...]
#
# Fetches the specs on first use (tests/scansion/fetch-specs.sh), then runs
# tests/scansion/run_scansion.py with Debian's python3; see docs/testing.md.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 "$HERE/run_scansion.py" "$@"
