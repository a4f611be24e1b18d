#!/bin/sh
# systemd-analyze verify of the units this build generates (confabd.service,
# confab-archiver.service), with ExecStart= pointed at this build's binaries
# (verify insists that they exist). Exit 77 (skip) without systemd-analyze
# (Debian package systemd). make check runs it in the build directory.
set -eu
command -v systemd-analyze >/dev/null 2>&1 || { echo "verify-units: no systemd-analyze: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in confabd.service confab-archiver.service; do
  [ -f "$unit" ] || { echo "verify-units: $unit not generated" >&2; exit 1; }
  sed "s|^ExecStart=[^ ]*/\\(confab[a-z-]*\\) |ExecStart=$PWD/\\1 |" "$unit" > "$tmp/$unit"
  grep -q "^ExecStart=$PWD/" "$tmp/$unit" || { echo "verify-units: no ExecStart= in $unit" >&2; exit 1; }
done
systemd-analyze verify "$tmp/confabd.service" "$tmp/confab-archiver.service"
echo "verify-units: systemd-analyze verify: both units OK"
