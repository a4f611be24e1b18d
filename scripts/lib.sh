# scripts/lib.sh — the pass/fail tally that test.sh and valgrind.sh share, so
# both count a junit report the same way. Sourced, not run; uses $PY.
# shellcheck shell=bash

total_pass=0
total_fail=0
summary=()

add() {  # add LABEL PASSED FAILED
  total_pass=$((total_pass + $2))
  total_fail=$((total_fail + $3))
  summary+=("$(printf '%-28s passed=%-4s failed=%s' "$1" "$2" "$3")")
}

# count_junit FILE -> prints "PASSED FAILED" (errors count as failures; a test that
# passed but whose fixture teardown failed is one failure, not one of each)
count_junit() {
  $PY - "$1" <<'PYEOF'
import sys
import xml.etree.ElementTree as ET
status = {}
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    key = (case.get("classname"), case.get("name"))
    tags = {child.tag for child in case}
    if tags & {"failure", "error"}:
        s = "failed"
    elif "skipped" in tags:
        s = "skipped"
    else:
        s = "passed"
    if status.get(key) != "failed":
        status[key] = s
vals = list(status.values())
print(vals.count("passed"), vals.count("failed"))
PYEOF
}

# add_junit LABEL FILE RC WHO: adds what the junit report FILE counts. A run that
# exited non-zero with nothing failed (pytest's 5: nothing collected) is one
# failure, not a pass; no report at all is one failure, which WHO is blamed for.
add_junit() {
  local label=$1 junit=$2 rc=$3 who=$4 counts p f
  if [ -f "$junit" ] && counts=$(count_junit "$junit"); then
    read -r p f <<<"$counts"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  else
    echo "$who wrote no junit report (rc $rc)" >&2
    p=0 f=1
  fi
  add "$label" "$p" "$f"
}
