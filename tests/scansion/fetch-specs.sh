#!/usr/bin/env bash
# Fetch Prosody 13.0.1's MUC scansion specs from Debian trixie's source package (never committed).
#
#   tests/scansion/fetch-specs.sh            -> prints the specs directory on stdout
#
# Cache: ${CONFAB_SCANSION_CACHE:-/var/cache/confab-scansion}. A second run with the
# tarball and extracted specs in place needs no network.
#
# What is verified:
#   1. apt itself verifies trixie's InRelease with Debian's archive keyring
#      (/usr/share/keyrings/debian-archive-keyring.gpg on bookworm already holds the
#      trixie signing keys), and the Sources index against InRelease's hashes; no
#      [trusted=yes]. A signature failure makes `apt-get update` fail and so this script.
#   2. We take prosody_13.0.1.orig.tar.gz's SHA-256 from the Checksums-Sha256 field of
#      the `Package: prosody` stanza of that verified Sources index and compare it with
#      the tarball's (sha256sum). The mirror answers 404 for the .dsc and the
#      .orig.tar.gz.asc, so apt-get source exits non-zero; we tolerate that and rely on
#      the checksum instead.
#   The verified checksum is stored next to the tarball (prosody.orig.sha256) so a
#   cached run re-checks the tarball against it without the network.
set -euo pipefail

VERSION=13.0.1
TARBALL=prosody_${VERSION}.orig.tar.gz
CACHE=${CONFAB_SCANSION_CACHE:-/var/cache/confab-scansion}
SPECS=$CACHE/prosody-$VERSION/spec/scansion
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { echo "fetch-specs: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$CACHE"
cd "$CACHE"

# apt's _apt sandbox user must be able to write the download dir; as root we just
# turn the sandbox off for this private configuration.
APT=(apt-get -q
     -o Dir::Etc::SourceList="$CACHE/sources.list"
     -o Dir::Etc::SourceParts=/dev/null
     -o Dir::State::Lists="$CACHE/lists"
     -o Dir::State::Status=/var/lib/dpkg/status
     -o Dir::Cache="$CACHE/apt-cache"
     -o APT::Sandbox::User=root
     -o Acquire::Languages=none
     -o APT::Update::Error-Mode=any
     -o Acquire::IndexTargets::deb::Packages::DefaultEnabled=false
     -o Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false)

have_tarball_ok() {
  [ -s "$TARBALL" ] && [ -s prosody.orig.sha256 ] \
    && [ "$(sha256sum "$TARBALL" | cut -d' ' -f1)" = "$(cat prosody.orig.sha256)" ]
}

if ! have_tarball_ok; then
  echo "deb-src [signed-by=$KEYRING] http://deb.debian.org/debian trixie main" > sources.list
  mkdir -p lists/partial apt-cache/archives/partial
  log "apt-get update (trixie deb-src, signature checked with $KEYRING)"
  "${APT[@]}" update >&2 || die "apt-get update of trixie's Sources failed (no network, or the signature did not verify)"

  # The verified Sources index (apt keeps it lz4/xz/gz compressed; cat-file decompresses).
  sources=$(ls lists/*_dists_trixie_main_source_Sources* 2>/dev/null | head -n 1)
  [ -n "$sources" ] || die "no Sources index in $CACHE/lists after apt-get update"
  want=$(/usr/lib/apt/apt-helper cat-file "$sources" | awk -v tb="$TARBALL" '
    /^Package: /        { pkg = $2; in_sha = 0; next }
    /^Version: /        { ver = $2 }
    /^Checksums-Sha256:/ { in_sha = (pkg == "prosody"); next }
    /^[^ ]/             { in_sha = 0 }
    in_sha && $3 == tb && !found { print $1; found = 1 }')  # no early exit: SIGPIPE + pipefail
  [ -n "$want" ] || die "no SHA-256 for $TARBALL in the Package: prosody stanza of $sources (trixie no longer has $VERSION?)"
  log "Sources index (signed InRelease) says sha256($TARBALL) = $want"

  rm -f "$TARBALL"
  log "apt-get source --download-only prosody (404s for .dsc/.asc expected)"
  "${APT[@]}" source --download-only "prosody" >&2 || log "apt-get source exited non-zero (expected: the mirror has no .dsc); checking the tarball"
  [ -s "$TARBALL" ] || die "$TARBALL was not downloaded"
  got=$(sha256sum "$TARBALL" | cut -d' ' -f1)
  [ "$got" = "$want" ] || { rm -f "$TARBALL"; die "sha256 mismatch for $TARBALL: got $got, Sources says $want"; }
  echo "$want" > prosody.orig.sha256
  rm -rf "prosody-$VERSION"
  log "tarball verified"
else
  log "using cached $CACHE/$TARBALL (sha256 matches the recorded index checksum)"
fi

# Extract the MUC specs (those addressing conference.localhost) and the reference config.
if [ ! -f "$SPECS/.extracted" ]; then
  rm -rf "prosody-$VERSION"
  tar -xzf "$TARBALL" "prosody-$VERSION/spec/scansion" \
    || die "extracting spec/scansion from $TARBALL failed"
  # keep only the MUC specs plus prosody.cfg.lua and admins.txt
  for f in "$SPECS"/*; do
    case "$(basename "$f")" in
      prosody.cfg.lua|admins.txt) ;;
      *.scs) grep -q 'conference\.localhost' "$f" || rm -f "$f" ;;
      *) rm -rf "$f" ;;
    esac
  done
  touch "$SPECS/.extracted"
fi
n=$(ls "$SPECS"/*.scs 2>/dev/null | wc -l)
[ "$n" -gt 0 ] || die "no MUC specs in $SPECS"
log "$n MUC specs in $SPECS"
echo "$SPECS"
