#!/usr/bin/env bash
# Install the Debian 12 packages confab needs to build, test and run its demo.
#
#   scripts/deps.sh            everything: build, unit + integration tests, fuzzing, demo
#   scripts/deps.sh --runtime  only what scripts/up.sh needs to build and run the demo
#   scripts/deps.sh --check    list missing packages and exit 1 if any (installs nothing)
#
# Installs only what is missing (checked with dpkg-query), so a second run is a
# no-op that needs no network. Installing needs root; everything is non-interactive.
set -euo pipefail

build_pkgs=(
  build-essential autoconf automake libtool pkg-config autoconf-archive
  libuv1-dev libexpat1-dev libpq-dev libssl-dev libidn11-dev libinih-dev uuid-dev
  libicu-dev libjansson-dev libcmocka-dev libstrophe-dev uthash-dev
  libsystemd-dev scdoc libmicrohttpd-dev libjemalloc-dev libldap-dev
)
# the demo: private PostgreSQL cluster + Prosody router; ss/ps/runuser for the scripts
run_pkgs=(postgresql prosody procps iproute2 util-linux)
# tests: ejabberd as a second router, Python clients, console clients driven in tmux
# (test_clients_terminal.py), fuzzing, valgrind; the Debian package (scripts/package.sh:
# dpkg-buildpackage, lintian, systemd-analyze verify, man -w); a private OpenLDAP slapd
# and its ldapadd/ldapmodify for confabctl group sync (test_categories_ctl.py)
test_pkgs=(
  ejabberd python3 python3-slixmpp python3-pytest python3-psycopg python3-prometheus-client
  tmux profanity poezio prometheus
  clang libclang-rt-14-dev libfuzzer-14-dev valgrind libxml2-utils
  debhelper dpkg-dev fakeroot lintian systemd man-db
  slapd ldap-utils
)

mode=all
for arg in "$@"; do
  case "$arg" in
    --runtime) mode=runtime ;;
    --check) mode=check ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deps.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

wanted=("${build_pkgs[@]}" "${run_pkgs[@]}")
[ "$mode" = runtime ] || wanted+=("${test_pkgs[@]}")

missing=()
for p in "${wanted[@]}"; do
  # "ii" = installed; anything else (absent, half-configured, removed) needs installing
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  case "$status" in
    ii*) ;;
    *) missing+=("$p") ;;
  esac
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#wanted[@]} packages installed"
  exit 0
fi

echo "deps: missing: ${missing[*]}"
if [ "$mode" = check ]; then
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: installing packages needs root; run: sudo $0 $*" >&2
  exit 1
fi

# The prosody, ejabberd and postgresql packages try to start their system services
# from postinst. We run our own private instances on loopback, so keep the
# distribution services from starting (and occupying 5222/5347/5432) during the
# install, with Debian's policy-rc.d mechanism. An existing policy is left alone.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# temporary, from confab scripts/deps.sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
echo "deps: installed ${#missing[@]} packages"
