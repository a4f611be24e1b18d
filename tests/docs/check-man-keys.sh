#!/bin/sh
# Every configuration key documented in docs/configuration.md (its one
# "| section | key | default | reload | meaning |" table) must be described in
# confab.ini(5), under that section's heading: the table is the one list, so
# the man page cannot drift from it. A row like "message_rate / message_burst"
# names two keys.
#
#   tests/docs/check-man-keys.sh [CONFIGURATION.md [confab.ini.5]]
#
# Defaults: $srcdir/docs/configuration.md and man/confab.ini.5 in the build
# directory (make check runs it there). Exit 0: all present; 1: some missing
# (listed); 77 (skip): the page was not built (configure found no scdoc).
set -eu
srcdir=${srcdir:-.}
md=${1:-$srcdir/docs/configuration.md}
page=${2:-man/confab.ini.5}
if [ ! -f "$page" ]; then
  echo "check-man-keys: $page not built (no scdoc at configure time): skipped"
  exit 77
fi
[ -f "$md" ] || { echo "check-man-keys: $md not found" >&2; exit 1; }

# section<TAB>key, one per documented key
keys=$(awk -F'|' '
  /^\|[ \t]*section[ \t]*\|[ \t]*key[ \t]*\|/ { intable = 1; next }
  intable && /^\|[ \t]*-/ { next }
  intable && !/^\|/ { intable = 0 }
  intable {
    sec = $2; gsub(/[ \t`]/, "", sec)
    n = split($3, k, "/")
    for (i = 1; i <= n; i++) { key = k[i]; gsub(/[ \t`]/, "", key); if (key != "") print sec "\t" key }
  }' "$md")
count=$(printf '%s\n' "$keys" | grep -c . || true)
if [ "$count" -lt 40 ]; then
  echo "check-man-keys: only $count keys found in $md: has the table's header changed?" >&2
  exit 1
fi

# section<TAB>key as the page has them: .SS [section] headings, and keys as
# bold terms at the start of a line (\fBkey\fR, or several joined by " / ").
have=$(awk '
  /^\.S[SH] / { sec = ""; if (match($0, /\[[a-z_]+\]/)) sec = substr($0, RSTART + 1, RLENGTH - 2); next }
  sec != "" && /^\\fB[a-z_]+\\fR/ {
    line = $0
    while (match(line, /^\\fB[a-z_]+\\fR( \/ )?/)) {
      term = substr(line, RSTART, RLENGTH); sub(/ \/ $/, "", term)
      gsub(/\\fB|\\fR/, "", term)
      print sec "\t" term
      line = substr(line, RLENGTH + 1)
    }
  }' "$page")

missing=$(printf '%s\n' "$keys" | while IFS= read -r row; do
  printf '%s\n' "$have" | grep -qxF "$row" || printf '  [%s] %s\n' "${row%%	*}" "${row#*	}"
done)
if [ -n "$missing" ]; then
  echo "check-man-keys: keys in $md but not in $page:"
  printf '%s\n' "$missing"
  exit 1
fi
echo "check-man-keys: all $count keys of $md are in $page"
