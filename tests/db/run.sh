#!/usr/bin/env bash
# Run the db.c tests (tests/db/test_db) against a private PostgreSQL 15 cluster.
#
#   tests/db/run.sh [TEST_BINARY]
#
# Creates a throw-away cluster in a temp dir (initdb as the postgres user when run
# as root, as the current user otherwise), listening on 127.0.0.1:$CONFAB_TEST_PG_PORT
# (default: a free port) with TLS on, signed by a test CA made here with openssl; exports
# what test_db reads and always stops and removes the cluster on exit.
#
#   CONFAB_TEST_DSN          plain TCP DSN (key=value form)
#   CONFAB_TEST_PG_STOP      command: stop the server at once (pg_ctl -m immediate)
#   CONFAB_TEST_PG_START     command: start it again and wait until it accepts connections
#   CONFAB_TEST_SSL_DSN      host=localhost sslmode=verify-full against the test CA
#   CONFAB_TEST_SSL_BAD_DSN  the same by IP address: the certificate does not match
#   CONFAB_TEST_OTHER_CA     a CA certificate that did not sign the server's
#
# CONFAB_TEST_WRAPPER runs the binary under something, e.g.
#   CONFAB_TEST_WRAPPER="valgrind --error-exitcode=1 --leak-check=full" tests/db/run.sh
# Exit status: the test binary's; 77 (skip) when PostgreSQL 15 is not installed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${1:-${CONFAB_TEST_DB_BIN:-}}
if [ -z "$BIN" ]; then
  for c in ./tests/db/test_db "$HERE/test_db"; do
    if [ -x "$c" ]; then BIN=$c; break; fi
  done
fi
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "run.sh: test binary not found (pass it as the argument or CONFAB_TEST_DB_BIN)" >&2
  exit 99
fi
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
  echo "run.sh: PostgreSQL 15 server binaries not found in $PGBIN: skipped" >&2
  exit 77
fi
# A port nobody holds now (not a fixed one: two builds' checks may run at once).
PORT=${CONFAB_TEST_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

D=$(mktemp -d /tmp/confab-dbtest.XXXXXX)
AS=()
if [ "$(id -u)" = 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "run.sh: running as root but there is no postgres user: skipped" >&2
    rmdir "$D"
    exit 77
  fi
  AS=(runuser -u postgres --)
fi
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$D/pg" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ${#AS[@]} -gt 0 ]; then chown postgres "$D"; fi
"${AS[@]}" "$PGBIN/initdb" -D "$D/pg" -A trust -U postgres >"$D/initdb.log" 2>&1 || {
  cat "$D/initdb.log" >&2
  exit 99
}

# Test CA and a server certificate for "localhost" (DNS SAN only, no IP SAN).
SSL=0
if command -v openssl >/dev/null 2>&1; then
  (
    cd "$D"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout ca.key -out ca.crt -days 2 -subj "/CN=confab test CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout server.key -out server.csr -subj "/CN=localhost"
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out server.crt -days 2 -extfile server.ext
    # A CA that signed nothing here: TLS verification against it fails.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout other-ca.key -out other-ca.crt -days 2 -subj "/CN=confab other CA" \
      -addext basicConstraints=critical,CA:TRUE
  ) >"$D/openssl.log" 2>&1 && SSL=1
  if [ "$SSL" = 1 ]; then
    install -m 0600 "$D/server.key" "$D/pg/server.key"
    install -m 0644 "$D/server.crt" "$D/pg/server.crt"
    if [ ${#AS[@]} -gt 0 ]; then chown postgres "$D/pg/server.key" "$D/pg/server.crt"; fi
  else
    echo "run.sh: openssl failed, TLS tests will be skipped:" >&2
    cat "$D/openssl.log" >&2
  fi
fi

cat >>"$D/pg/postgresql.conf" <<EOF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$D'
fsync = on
synchronous_commit = on
EOF
if [ "$SSL" = 1 ]; then
  printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" >>"$D/pg/postgresql.conf"
fi

START="${AS[*]} $PGBIN/pg_ctl -D $D/pg -l $D/pg.log -w -t 60 start"
STOP="${AS[*]} $PGBIN/pg_ctl -D $D/pg -m immediate -w -t 60 stop"
if ! $START >/dev/null; then
  cat "$D/pg.log" >&2
  exit 99
fi
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
  -c 'CREATE DATABASE confab_test' >/dev/null

export CONFAB_TEST_DSN="host=127.0.0.1 port=$PORT user=postgres dbname=confab_test sslmode=disable"
export CONFAB_TEST_PG_STOP="$STOP >/dev/null"
export CONFAB_TEST_PG_START="$START >/dev/null"
if [ "$SSL" = 1 ]; then
  export CONFAB_TEST_SSL_DSN="host=localhost port=$PORT user=postgres dbname=confab_test sslmode=verify-full sslrootcert=$D/ca.crt"
  export CONFAB_TEST_SSL_BAD_DSN="host=127.0.0.1 port=$PORT user=postgres dbname=confab_test sslmode=verify-full sslrootcert=$D/ca.crt"
  export CONFAB_TEST_OTHER_CA="$D/other-ca.crt"
fi

rc=0
# shellcheck disable=SC2086
${CONFAB_TEST_WRAPPER:-} "$BIN" || rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
  echo "run.sh: test_db exited $rc; server log:" >&2
  tail -n 50 "$D/pg.log" >&2 || true
fi
exit "$rc"
