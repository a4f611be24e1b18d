#!/bin/sh
# Side-by-side client-mode benchmark (issue 6): the same confab-bench --mode client
# workload against (a) Prosody's mod_muc, (b) confabd through Prosody, (c) ejabberd's
# mod_muc, (b′) confabd through Prosody with mod_confab_multicast (--systems b2; issue 15),
# (d) confabd through ejabberd, (e) the same with XEP-0033 (ejabberd's mod_multicast),
# on loopback with a private PostgreSQL.
# Writes docs/bench/compare.md, compare.json and compare-*.png and prints the table.
#
#   scripts/bench-compare.sh            # default sizes, ~15 min on 2 cores (more when busy)
#   scripts/bench-compare.sh --quick    # ~5 min smoke run
#   scripts/bench-compare.sh --help     # sizes, rates, subsets (--systems a,b)
#
# CONFAB_BUILD: build directory with confabd, confabctl and confab-bench (default build/).
# Runs as root (PostgreSQL and ejabberd run as their own users through runuser).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${CONFAB_BUILD:=$ROOT/build}"
export CONFAB_BUILD
if ! command -v gnuplot >/dev/null 2>&1; then
  echo "bench-compare: installing gnuplot-nox for the plots" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 ||
    echo "bench-compare: no gnuplot: the table only" >&2
fi
exec /usr/bin/python3 "$ROOT/scripts/bench_compare.py" "$@"
