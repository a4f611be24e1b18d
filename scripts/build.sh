#!/usr/bin/env bash
# Build confab out of tree.
#
#   scripts/build.sh [--asan] [BUILDDIR]
#
# Default BUILDDIR is build/ (build-asan/ with --asan, which configures with
# --enable-sanitizers). Runs autoreconf in the source tree only when configure is
# missing or older than configure.ac/Makefile.am, configures BUILDDIR when it has
# no Makefile (or was configured with other options), then runs make -j$(nproc).
# Extra configure options: CONFAB_CONFIGURE_FLAGS="--disable-werror ..." (CC etc.
# from the environment are honoured by configure as usual).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
asan=0
builddir=
for arg in "$@"; do
  case "$arg" in
    --asan) asan=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build.sh: unknown option: $arg" >&2; exit 2 ;;
    *) builddir=$arg ;;
  esac
done
if [ -z "$builddir" ]; then
  if [ "$asan" = 1 ]; then builddir=$ROOT/build-asan; else builddir=$ROOT/build; fi
fi
mkdir -p "$builddir"
builddir=$(cd "$builddir" && pwd)

if [ "$builddir" = "$ROOT" ]; then
  echo "build.sh: refusing to build in the source tree; pass a build directory" >&2
  exit 2
fi
if [ -f "$ROOT/config.status" ] || [ -f "$ROOT/Makefile" ]; then
  echo "build.sh: the source tree $ROOT has been configured in place;" >&2
  echo "          out-of-tree builds need a clean tree: run 'make distclean' there first" >&2
  exit 1
fi

# 1. generate configure when needed
if [ ! -x "$ROOT/configure" ] || [ "$ROOT/configure.ac" -nt "$ROOT/configure" ] \
   || [ "$ROOT/Makefile.am" -nt "$ROOT/configure" ] \
   || [ ! -f "$ROOT/Makefile.in" ] || [ "$ROOT/Makefile.am" -nt "$ROOT/Makefile.in" ]; then
  echo "build: autoreconf -fi in $ROOT"
  (cd "$ROOT" && autoreconf -fi)
fi

# 2. configure when the build dir is new or was configured with other options
flags=()
[ "$asan" = 1 ] && flags+=(--enable-sanitizers)
# shellcheck disable=SC2206  # word splitting of the extra flags is intended
[ -n "${CONFAB_CONFIGURE_FLAGS:-}" ] && flags+=(${CONFAB_CONFIGURE_FLAGS})
want="${flags[*]:-}"
have=
if [ -x "$builddir/config.status" ]; then
  have=$(cd "$builddir" && ./config.status --config 2>/dev/null | tr -d "'") || have=
fi
if [ ! -f "$builddir/Makefile" ] || [ ! -x "$builddir/config.status" ] || [ "$have" != "$want" ]; then
  echo "build: configuring $builddir${want:+ ($want)}"
  (cd "$builddir" && "$ROOT/configure" ${flags[@]+"${flags[@]}"})
fi

# 3. make (automake's rebuild rules rerun automake/config.status when inputs change)
jobs=$(nproc 2>/dev/null || echo 2)
echo "build: make -j$jobs in $builddir"
make -C "$builddir" -j"$jobs"
