#!/usr/bin/env bash
# Build the libFuzzer targets and run each one over its seed corpus.
#
#   scripts/fuzz.sh [--smoke] [--time SECONDS] [-j JOBS] [TARGET...]
#
# Builds build-fuzz/ (CC=clang --enable-fuzzing; CONFAB_FUZZ_BUILD_DIR overrides)
# and runs every tests/fuzz/fuzz_*.c target (or only the TARGETs named, e.g. muc
# or fuzz_muc) for SECONDS each: 600 by default, 30 with --smoke. JOBS targets run
# at once (default: the number of CPUs). Each run starts from a temporary copy of
# tests/fuzz/corpus/<name>/, so the repository corpus is never modified.
# Crashes, leaks, timeouts (-timeout=10) and out-of-memory (-rss_limit_mb=2048)
# fail the target; the reproducer is kept in build-fuzz/fuzz-artifacts/<target>/
# and the log in build-fuzz/fuzz-logs/. UBSan findings abort (halt_on_error=1).
# Prints one line per target, then "N passed, N failed" as the last line; the
# exit status is non-zero if any target failed (a failed build is one failure).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BD=${CONFAB_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
secs=600
jobs=$(nproc 2>/dev/null || echo 2)
want=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) secs=30 ;;
    --time) secs=${2:?--time needs seconds}; shift ;;
    --time=*) secs=${1#--time=} ;;
    -j) jobs=${2:?-j needs a number}; shift ;;
    -j*) jobs=${1#-j} ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option: $1" >&2; exit 2 ;;
    *) t=${1#fuzz_}; want+=("fuzz_${t%.c}") ;;
  esac
  shift
done
case "$secs" in ''|*[!0-9]*) echo "fuzz.sh: --time wants whole seconds" >&2; exit 2 ;; esac
case "$jobs" in ''|*[!0-9]*|0) echo "fuzz.sh: -j wants a positive number" >&2; exit 2 ;; esac

# Every tests/fuzz/fuzz_*.c is a target (Makefile.am lists the same set).
targets=()
for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
  targets+=("$(basename "$src" .c)")
done
if [ ${#want[@]} -gt 0 ]; then
  for t in "${want[@]}"; do
    [ -f "$ROOT/tests/fuzz/$t.c" ] || { echo "fuzz.sh: no such target: $t" >&2; exit 2; }
  done
  targets=("${want[@]}")
fi

build_failed() {
  echo "fuzz.sh: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

# ---- build ----
command -v clang >/dev/null || build_failed "clang is not installed (scripts/deps.sh installs clang, libfuzzer-14-dev, libclang-rt-14-dev)"
if [ ! -x "$ROOT/configure" ] || [ "$ROOT/configure.ac" -nt "$ROOT/configure" ] \
   || [ "$ROOT/Makefile.am" -nt "$ROOT/configure" ] \
   || [ ! -f "$ROOT/Makefile.in" ] || [ "$ROOT/Makefile.am" -nt "$ROOT/Makefile.in" ]; then
  echo "fuzz: autoreconf -fi in $ROOT"
  (cd "$ROOT" && autoreconf -fi) || build_failed "autoreconf failed"
fi
mkdir -p "$BD" || build_failed "cannot create $BD"
BD=$(cd "$BD" && pwd)
if [ ! -f "$BD/Makefile" ] || ! grep -q -- '--enable-fuzzing' "$BD/config.status" 2>/dev/null; then
  echo "fuzz: configuring $BD (CC=clang --enable-fuzzing)"
  # shellcheck disable=SC2086  # extra flags are meant to be split
  (cd "$BD" && "$ROOT/configure" -q CC=clang --enable-fuzzing ${CONFAB_FUZZ_CONFIGURE_FLAGS:-}) \
    || build_failed "configure failed (see $BD/config.log)"
fi
progs=()
for t in "${targets[@]}"; do progs+=("tests/fuzz/$t"); done
echo "fuzz: make ${progs[*]} in $BD"
make -C "$BD" -j"$(nproc 2>/dev/null || echo 2)" "${progs[@]}" >"$BD/fuzz-build.log" 2>&1 \
  || { tail -n 40 "$BD/fuzz-build.log" >&2; build_failed "build failed (log: $BD/fuzz-build.log)"; }

# ---- run ----
work=$(mktemp -d "${TMPDIR:-/tmp}/confab-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$BD/fuzz-logs" "$BD/fuzz-artifacts"
export UBSAN_OPTIONS=${CONFAB_FUZZ_UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# run_one TARGET: fuzz it for $secs seconds; writes $work/TARGET.result
run_one() {
  local t=$1 name=${1#fuzz_}
  local corpus=$work/$t/corpus art=$BD/fuzz-artifacts/$t log=$BD/fuzz-logs/$t.log
  mkdir -p "$corpus" "$art"
  if [ -d "$ROOT/tests/fuzz/corpus/$name" ]; then
    cp -R "$ROOT/tests/fuzz/corpus/$name/." "$corpus/"
  fi
  local start=$SECONDS rc
  # libFuzzer stops itself at max_total_time; timeout only guards against a hang
  # outside its control (a stuck build of the corpus, a wedged process).
  timeout -k 10 $((secs + 120)) "$BD/tests/fuzz/$t" -max_total_time="$secs" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
    "$corpus" >"$log" 2>&1
  rc=$?
  local took=$((SECONDS - start))
  local execs cov corp
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  corp=$(grep -o 'corp: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  local verdict=PASS detail=""
  if [ "$rc" -ne 0 ]; then
    verdict=FAIL
    detail=$(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|fuzz_[a-z]+: ' "$log")
    local repro
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    [ -n "$repro" ] && detail="$detail; reproducer: $repro"
    [ -n "$detail" ] || detail="exit status $rc"
  fi
  printf '%-14s %s  %4ss  %10s execs  cov %-6s corpus %-5s %s\n' "$t" "$verdict" "$took" \
    "${execs:-?}" "${cov:-?}" "${corp:-?}" "$detail" >"$work/$t.result"
}

echo "fuzz: ${#targets[@]} target(s), ${secs}s each, $jobs at a time; logs in $BD/fuzz-logs"
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

passed=0
failed=0
echo
echo "==== fuzz summary ===="
for t in "${targets[@]}"; do
  if [ -f "$work/$t.result" ]; then
    cat "$work/$t.result"
    if grep -q ' PASS ' "$work/$t.result"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  else
    echo "$t FAIL (no result)"
    failed=$((failed + 1))
  fi
done
if [ "$failed" -gt 0 ]; then
  echo "reproduce: $BD/tests/fuzz/<target> <reproducer>  (FUZZ_MUC_TRACE=1 for fuzz_muc's stanza trace)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
