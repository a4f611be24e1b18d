#!/usr/bin/env bash
# Run the unit tests and the integration suite under valgrind memcheck.
#
#   scripts/valgrind.sh [--unit-only | --integration-only] [PYTEST_ARGS...]
#
# Builds build-valgrind/ (a plain build without jemalloc: valgrind cannot run ASan
# binaries, nor follow jemalloc's arenas; CONFAB_VALGRIND_BUILD_DIR overrides), then
# 1. runs every cmocka unit test binary, and tests/db/test_db against a private
#    PostgreSQL (tests/db/run.sh), under valgrind: one binary is one test, and it
#    fails on a test failure or on any valgrind error;
# 2. runs the integration suite (pytest; PYTEST_ARGS, e.g. test files or -k, narrow
#    it; default: all of tests/integration) with every confabd and confab-archiver
#    started under valgrind (CONFAB_DAEMON_WRAPPER, see tests/integration/
#    confabtest.py) and CONFAB_TEST_SLOW=3; a daemon whose valgrind report lists
#    errors fails the test that stops it.
# Valgrind: --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=97
# (CONFAB_VALGRIND_FLAGS adds options, e.g. --track-origins=yes). Invalid reads and
# writes, uses of uninitialised values, bad frees and definite leaks are errors;
# "still reachable" and "possibly lost" are not. Reports of the unit tests go to
# BUILDDIR/valgrind/. The last line is "N passed, N failed"; the exit status is
# non-zero if anything failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BD=${CONFAB_VALGRIND_BUILD_DIR:-$ROOT/build-valgrind}
PY=/usr/bin/python3
unit=1
integration=1
pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --unit-only) integration=0 ;;
    --integration-only) unit=0 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) pytest_args+=("$1") ;;
  esac
  shift
done
VG_EXIT=97
# shellcheck disable=SC2206  # extra flags are meant to be split
VG=(valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=$VG_EXIT
    --num-callers=30 ${CONFAB_VALGRIND_FLAGS:-})

# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
finish() {
  printf '\n==== valgrind summary ====\n'
  for line in "${summary[@]}"; do echo "$line"; done
  echo "$total_pass passed, $total_fail failed"
  [ "$total_fail" -eq 0 ]
  exit
}

command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed (scripts/deps.sh)" >&2; add build 0 1; finish; }
cd "$ROOT" || exit 1
export PYTHONDONTWRITEBYTECODE=1

echo "==== build ($BD) ===="
if ! CONFAB_CONFIGURE_FLAGS="--without-jemalloc ${CONFAB_CONFIGURE_FLAGS:-}" bash scripts/build.sh "$BD"; then
  add build 0 1
  finish
fi
if grep -q -- '--enable-sanitizers\|--enable-fuzzing' "$BD/config.status" 2>/dev/null; then
  echo "valgrind.sh: $BD is a sanitizer/fuzzing build; valgrind needs a plain one" >&2
  add build 0 1
  finish
fi

if [ "$unit" = 1 ]; then
  echo "==== unit tests under valgrind ===="
  # build the check programs without running them
  if ! make -C "$BD" -j"$(nproc 2>/dev/null || echo 2)" check TESTS= >/dev/null; then
    add "unit build" 0 1
    finish
  fi
  # the list automake runs (Makefile.am's unit_tests)
  tests=$(printf 'print-unit-tests:\n\t@echo $(unit_tests)\n' \
          | make -s -C "$BD" -f Makefile -f - print-unit-tests)
  logdir=$BD/valgrind
  rm -rf "$logdir"
  mkdir -p "$logdir"
  p=0 f=0
  for t in $tests; do
    name=$(basename "$t")
    TEST_DATA_DIR=$ROOT/tests/unit/data "${VG[@]}" --log-file="$logdir/$name.vg.log" \
      "$BD/$t" >"$logdir/$name.out" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
      verdict=PASS; p=$((p + 1))
    elif [ "$rc" -eq 77 ]; then
      verdict=SKIP
    elif [ "$rc" -eq "$VG_EXIT" ]; then
      verdict="FAIL (valgrind errors: $logdir/$name.vg.log)"; f=$((f + 1))
    else
      verdict="FAIL (exit $rc: $logdir/$name.out)"; f=$((f + 1))
    fi
    # valgrind errors also show in the log when the tests themselves failed
    if [ "$rc" -ne "$VG_EXIT" ] && [ -s "$logdir/$name.vg.log" ] \
       && grep -q 'ERROR SUMMARY: [1-9]' "$logdir/$name.vg.log"; then
      verdict="$verdict + valgrind errors: $logdir/$name.vg.log"
    fi
    printf '%-24s %s\n' "$name" "$verdict"
  done
  # db.c against a real PostgreSQL (skipped, exit 77, without PostgreSQL 15)
  CONFAB_TEST_WRAPPER="${VG[*]} --log-file=$logdir/test_db.vg.log" \
    bash tests/db/run.sh "$BD/tests/db/test_db" >"$logdir/test_db.out" 2>&1
  rc=$?
  case "$rc" in
    0) p=$((p + 1)); echo "test_db                  PASS" ;;
    77) echo "test_db                  SKIP (no PostgreSQL 15)" ;;
    *) f=$((f + 1)); echo "test_db                  FAIL (exit $rc: $logdir/test_db.out, $logdir/test_db.vg.log)" ;;
  esac
  add "unit (valgrind)" "$p" "$f"
fi

if [ "$integration" = 1 ]; then
  echo "==== integration tests, daemons under valgrind ===="
  [ ${#pytest_args[@]} -gt 0 ] || pytest_args=(tests/integration)
  junit=$BD/valgrind-integration-junit.xml
  rm -f "$junit"
  CONFAB_BUILD=$BD CONFAB_DAEMON_WRAPPER="${VG[*]}" CONFAB_TEST_SLOW=${CONFAB_TEST_SLOW:-3} \
    $PY -m pytest --junitxml="$junit" "${pytest_args[@]}"
  add_junit "integration (valgrind)" "$junit" $? "valgrind.sh: pytest"
fi

finish
