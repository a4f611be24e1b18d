#!/usr/bin/env bash
# Run every test: README command 2, and what CI runs (.ci/run).
#
#   scripts/test.sh [--quick] [--no-deps] [--no-fuzz] [-- PYTEST_ARGS...]
#
# 1. scripts/deps.sh (installs missing Debian packages; skipped with --no-deps)
# 2. normal build in build/: make check (cmocka unit tests), then the integration
#    tests (pytest, real Prosody/ejabberd/PostgreSQL on loopback) against build/,
#    then Prosody's scansion MUC specs (tests/scansion/, fetched from Debian's
#    prosody 13.0.1 source): one test per spec against confabd, and one test for
#    the runner's self-check against Prosody's own MUC (passes at >= 18 of 19)
# 3. fuzz smoke: scripts/fuzz.sh --smoke (every libFuzzer target 30 s, build-fuzz/;
#    each target counts as one test); skipped with --quick or --no-fuzz
# 4. the same as 2 in a sanitizer build, build-asan/ (--enable-sanitizers:
#    ASan+UBSan; scansion against confabd only); skipped with --quick
# 5. the Debian package: scripts/package.sh builds it (nocheck, parallel=2) in a
#    copy of the tree, runs lintian, installs it on this machine and smoke-tests
#    the installed files; each check counts as one test; skipped with --quick
# The last line printed is "N passed, N failed" over all suites; the exit status
# is non-zero if anything failed (a build that fails counts as one failure).
# CONFAB_BUILD_DIR / CONFAB_ASAN_BUILD_DIR override the two build directories.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3   # Debian's interpreter: sees python3-slixmpp/pytest/psycopg
quick=0
deps=1
fuzz=1
pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-deps) deps=0 ;;
    --no-fuzz) fuzz=0 ;;
    --) shift; pytest_args=("$@"); break ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

cd "$ROOT" || exit 1
export PYTHONDONTWRITEBYTECODE=1

if [ "$deps" = 1 ]; then
  bash scripts/deps.sh || { echo "test.sh: installing dependencies failed" >&2; echo "0 passed, 1 failed"; exit 1; }
fi

# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

note() { printf '\n==== %s ====\n' "$*"; }

# count_unit BUILDDIR -> prints "PASSED FAILED" from the cmocka lines in the
# automake test logs; a test whose .trs says FAIL/ERROR but whose log has no
# cmocka failure (crash, sanitizer abort, no summary) counts as one failure.
count_unit() {
  $PY - "$1" <<'EOF'
import re, sys, pathlib
bd = pathlib.Path(sys.argv[1])
passed = failed = 0
for trs in sorted(bd.glob("tests/*/*.trs")):
    log = trs.with_suffix(".log")
    result = ""
    for line in trs.read_text(errors="replace").splitlines():
        if line.startswith(":test-result:"):
            result = line.split(":", 2)[2].strip()
    text = log.read_text(errors="replace") if log.exists() else ""
    p = sum(int(n) for n in re.findall(r"^\[  PASSED  \] (\d+) test\(s\)", text, re.M))
    f = sum(int(n) for n in re.findall(r"^\[  FAILED  \] (\d+) test\(s\)", text, re.M))
    if result in ("FAIL", "ERROR", "XPASS") and f == 0:
        f = 1
        print(f"unit: {log.name}: {result} without a cmocka failure summary (crash?)", file=sys.stderr)
    if p == 0 and f == 0 and result == "PASS":
        p = 1  # a passing test binary that does not print cmocka's summary
    passed += p
    failed += f
print(passed, failed)
EOF
}

# run_counted LABEL SCRIPT ARGS...: scripts/SCRIPT, which ends with its own
# "N passed, N failed"; no such line, or a failed run with none failed, is a failure.
run_counted() {
  local label=$1 script=$2 log rc last p f
  shift 2
  log=$(mktemp)
  bash "scripts/$script" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  last=$(tail -n 1 "$log")
  rm -f "$log"
  if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  else
    echo "test.sh: $script printed no summary (rc $rc)" >&2
    p=0 f=1
  fi
  add "$label" "$p" "$f"
}

run_pass() {  # run_pass NAME BUILDDIR [--asan]
  local name=$1 bd=$2
  shift 2
  note "$name: build ($bd)"
  if ! bash scripts/build.sh "$@" "$bd"; then
    echo "test.sh: $name build failed" >&2
    add "$name build" 0 1
    return
  fi

  note "$name: unit tests (make check)"
  rm -f "$bd"/tests/unit/*.trs "$bd"/tests/unit/*.log
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  make -C "$bd" -j"$jobs" check
  local make_rc=$?
  local counts p f
  counts=$(count_unit "$bd") || counts="0 1"
  read -r p f <<<"$counts"
  if [ "$make_rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "test.sh: make check failed (rc $make_rc) with no failing unit test counted: build error?" >&2
    f=1
  fi
  if [ "$make_rc" -ne 0 ] && [ -f "$bd/test-suite.log" ]; then
    cat "$bd/test-suite.log"
  fi
  add "$name unit" "$p" "$f"

  note "$name: integration tests (pytest, CONFAB_BUILD=$bd)"
  local junit=$bd/integration-junit.xml
  rm -f "$junit"
  CONFAB_BUILD=$bd bash scripts/integration.sh --junitxml="$junit" \
    ${pytest_args[@]+"${pytest_args[@]}"}
  add_junit "$name integration" "$junit" $? "test.sh: pytest"

  run_scansion "$name" "$bd"
}

# run_scansion NAME BUILDDIR: Prosody 13.0.1's scansion MUC specs (tests/scansion/).
# Against confabd: one test per spec (a failed fetch is one failure). In the normal
# pass also the self-check against Prosody 0.12's own MUC, as ONE test that passes
# when at least SCANSION_SELFCHECK_MIN specs pass (0.12 fails muc_outcast_reason).
SCANSION_SELFCHECK_MIN=18
run_scansion() {
  local name=$1 bd=$2 out rc p f last counts
  note "$name: scansion specs against confabd (CONFAB_BUILD=$bd)"
  local junit=$bd/scansion-junit.xml
  rm -f "$junit"
  CONFAB_BUILD=$bd $PY tests/scansion/run_scansion.py --target confabd --junit "$junit"
  add_junit "$name scansion" "$junit" $? "test.sh: scansion runner"

  [ "$name" = normal ] || return 0
  note "scansion self-check against Prosody's own MUC"
  out=$(mktemp)
  $PY tests/scansion/run_scansion.py --target prosody 2>&1 | tee "$out"
  last=$(tail -n 1 "$out")
  rm -f "$out"
  if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]] \
     && [ "${BASH_REMATCH[1]}" -ge "$SCANSION_SELFCHECK_MIN" ]; then
    echo "scansion self-check: Prosody's MUC passed ${BASH_REMATCH[1]} of $((BASH_REMATCH[1] + BASH_REMATCH[2])) (need $SCANSION_SELFCHECK_MIN)"
    add "scansion self-check" 1 0
  else
    echo "test.sh: scansion self-check: Prosody's MUC: '${last}' (need $SCANSION_SELFCHECK_MIN passed)" >&2
    add "scansion self-check" 0 1
  fi
}

run_pass normal "${CONFAB_BUILD_DIR:-$ROOT/build}"

# Fuzz smoke: fuzz.sh ends with its own "N passed, N failed" (one per target; a
# failed build is one failure).
if [ "$quick" = 0 ] && [ "$fuzz" = 1 ]; then
  note "fuzz smoke (scripts/fuzz.sh --smoke)"
  run_counted "fuzz smoke" fuzz.sh --smoke
else
  echo
  echo "test.sh: fuzz smoke skipped"
fi

if [ "$quick" = 0 ]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  run_pass sanitizers "${CONFAB_ASAN_BUILD_DIR:-$ROOT/build-asan}" --asan
else
  echo
  echo "test.sh: --quick: sanitizer pass skipped"
fi

# The Debian package (docs/operations.md): package.sh ends with its own
# "N passed, N failed" (a failed package build is one failure).
if [ "$quick" = 0 ]; then
  note "Debian package (scripts/package.sh)"
  run_counted "debian package" package.sh
else
  echo
  echo "test.sh: --quick: Debian package step skipped"
fi

note summary
for line in "${summary[@]}"; do echo "$line"; done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
