#!/usr/bin/env bash
# Build the Debian package, install it on this machine and smoke-test it
# (issue 18; docs/operations.md). Run as root (it installs the package).
#
#   scripts/package.sh [--no-install] [OUTDIR]
#
# 1. copies the working tree (git ls-files: tracked and new, not ignored) to
#    OUTDIR/src (default OUTDIR: /tmp/confab-deb), so the source tree is never
#    configured or cleaned by debhelper;
# 2. dpkg-buildpackage -us -uc -b with DEB_BUILD_OPTIONS="nocheck parallel=2";
# 3. lintian on the .changes: no E: tags;
# 4. apt-get install ./confab_*.deb, then checks against the installed files:
#    --version, --check-config of /etc/confab/confab.ini as the confab user,
#    confabctl --help, man -w for the four pages, systemd-analyze verify of the
#    installed units, the schema and the Prosody modules, and each installed
#    daemon serving /metrics and /health ([metrics]) without router or database.
# Each check prints PASS/FAIL; the last line is "N passed, N failed" (a failed
# build is one failure and stops there).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
install=1
out=
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "package.sh: unknown option: $arg" >&2; exit 2 ;;
    *) out=$arg ;;
  esac
done
out=${out:-/tmp/confab-deb}
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }
check() {  # check NAME COMMAND...: PASS when the command exits 0
  local name=$1 log
  shift
  log=$(mktemp)
  if "$@" >"$log" 2>&1; then ok "$name"; else bad "$name" "$(tail -n 20 "$log")"; fi
  rm -f "$log"
}

rm -rf "$out"
mkdir -p "$out/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
   | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
   | tar --null -T - -cf -) | tar -C "$out/src" -xf - || { bad "copy the source tree"; finish; }
# a configure made in the source tree may be stale for this copy: start clean
rm -f "$out/src/configure" "$out/src/config.h.in"

echo "== dpkg-buildpackage in $out/src"
if (cd "$out/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
     > "$out/build.log" 2>&1; then
  ok "dpkg-buildpackage -us -uc -b"
else
  bad "dpkg-buildpackage -us -uc -b" "$(tail -n 30 "$out/build.log")"
  finish
fi
ls -l "$out"/*.deb

changes=$(ls "$out"/confab_*.changes | head -n 1)
echo "== lintian $changes"
lintian --tag-display-limit 0 "$changes" > "$out/lintian.log" 2>&1
cat "$out/lintian.log"
if grep -q '^E: ' "$out/lintian.log"; then
  bad "lintian: no errors" "$(grep '^E: ' "$out/lintian.log")"
else
  ok "lintian: no errors ($(grep -c '^W: ' "$out/lintian.log") warnings)"
fi

[ "$install" = 1 ] || finish
deb=$(ls "$out"/confab_*.deb | head -n 1)
echo "== apt-get install $deb"
check "apt-get install the package" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "$deb"
version=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
for prog in confabd confab-archiver; do
  check "$prog --version is $version" sh -c "/usr/sbin/$prog --version | grep -qx '$prog $version'"
  check "$prog --check-config /etc/confab/confab.ini as confab" \
    runuser -u confab -- "/usr/sbin/$prog" -c /etc/confab/confab.ini --check-config
done
check "confabctl --help" /usr/bin/confabctl --help
for page in confabd confab-archiver confabctl confab.ini; do
  check "man -w $page" man -w "$page"
done
check "config is root:confab 0640" sh -c '[ "$(stat -c %U:%G:%a /etc/confab/confab.ini)" = root:confab:640 ]'
check "units installed, not enabled" sh -c 'for u in confabd confab-archiver; do
    [ -f /lib/systemd/system/$u.service ] || exit 1
    [ ! -e /etc/systemd/system/multi-user.target.wants/$u.service ] || exit 1; done'
if command -v systemd-analyze >/dev/null; then
  check "systemd-analyze verify (installed units)" \
    systemd-analyze verify /lib/systemd/system/confabd.service /lib/systemd/system/confab-archiver.service
fi
# The installed daemons run and serve their metrics (no router, no database needed:
# /health says why it is not healthy, /metrics shows the link down).
metrics_smoke() {
  local prog=$1 key=$2 port dir pid rc=1
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dir=$(mktemp -d)
  sed -e "s/^listen = *.*$//" -e "s/^archiver_listen = *.*$//" /etc/confab/confab.ini \
    > "$dir/confab.ini"
  printf '\n[metrics]\n%s = 127.0.0.1:%s\n' "$key" "$port" >> "$dir/confab.ini"
  chown -R confab "$dir"
  runuser -u confab -- "/usr/sbin/$prog" -c "$dir/confab.ini" -f > "$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do
    if python3 - "$port" <<'PY'
import sys, urllib.request, urllib.error
port = sys.argv[1]
m = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
assert "confab_link_up 0" in m, m[:400]
try:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
    sys.exit(1)
except urllib.error.HTTPError as e:
    assert e.code == 503, e.code
PY
    then rc=0; break; fi
    sleep 0.2
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  [ "$rc" = 0 ] || cat "$dir/log"
  rm -rf "$dir"
  return "$rc"
}
check "installed confabd serves /metrics and /health" metrics_smoke confabd listen
check "installed confab-archiver serves /metrics and /health" metrics_smoke confab-archiver archiver_listen
check "schemas and Prosody module" sh -c 'ls /usr/share/confab/schema/chat/*.sql \
    /usr/share/confab/schema/compliance/*.sql /usr/share/confab/prosody/mod_confab_tap.lua \
    /usr/share/confab/prosody/mod_confab_multicast.lua \
    /usr/share/confab/prosody/mod_confab_export.lua >/dev/null'
finish
