#!/usr/bin/env bash
# Bring up the whole local confab system on loopback (README command 1). Run as root.
#
#   scripts/up.sh [start]   install missing packages, build, (re)start everything
#   scripts/up.sh stop      stop everything this script started
#   scripts/up.sh status    show what is running
#
# Everything lives in ./.run/ (gitignored): a private PostgreSQL 15 cluster, a
# Prosody router, confabd and confab-archiver attached to it as XEP-0114
# components, their configs, logs and pidfiles. Re-running restarts cleanly; data
# (databases, accounts) is kept. Processes are stopped only through our pidfiles.
#
# Ports (loopback only), overridable from the environment:
#   CONFAB_C2S_PORT=5222  CONFAB_COMPONENT_PORT=5347  CONFAB_PG_PORT=55432
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd /  # the postgres user may not be able to enter the caller's directory
RUN=$ROOT/.run
BUILD=$ROOT/build
PGBIN=/usr/lib/postgresql/15/bin
HOST=127.0.0.1
C2S_PORT=${CONFAB_C2S_PORT:-5222}
COMPONENT_PORT=${CONFAB_COMPONENT_PORT:-5347}
PG_PORT=${CONFAB_PG_PORT:-55432}
XMPP_DOMAIN=localhost
MUC_DOMAIN=conference.localhost
ARCHIVE_DOMAIN=archive.localhost
PROSODY_CFG=$RUN/prosody/prosody.cfg.lua

say() { printf 'up: %s\n' "$*"; }
die() { printf 'up: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- process helpers

# pid_of PIDFILE EXE_SUBSTRING: print the pid if it is alive and really ours
pid_of() {
  local pidfile=$1 what=$2 pid
  [ -f "$pidfile" ] || return 1
  pid=$(head -n1 "$pidfile" 2>/dev/null | tr -dc '0-9')
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # guard against a recycled pid: the command line must name what we started
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$what" || return 1
  echo "$pid"
}

# stop_pidfile NAME PIDFILE EXE_SUBSTRING [TIMEOUT]
stop_pidfile() {
  local name=$1 pidfile=$2 what=$3 timeout=${4:-10} pid i
  if pid=$(pid_of "$pidfile" "$what"); then
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name did not stop within ${timeout}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

port_accepts() { timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

port_in_use() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# wait_port NAME PORT PIDFILE EXE SECONDS LOG
wait_port() {
  local name=$1 port=$2 pidfile=$3 what=$4 secs=$5 log=$6 i
  for ((i = 0; i < secs * 10; i++)); do
    port_accepts "$port" && return 0
    if ! pid_of "$pidfile" "$what" >/dev/null; then
      tail -n 30 "$log" >&2 || true
      die "$name exited during start-up (log: $log)"
    fi
    sleep 0.1
  done
  tail -n 30 "$log" >&2 || true
  die "$name does not accept connections on $HOST:$port after ${secs}s (log: $log)"
}

# ---------------------------------------------------------------- PostgreSQL

pg_dir() {
  # The cluster runs as the postgres user, which must be able to reach its directory.
  if [ -L "$RUN/pg" ]; then
    readlink -f "$RUN/pg"
  elif runuser -u postgres -- test -x "$RUN" 2>/dev/null; then
    echo "$RUN/pg"
  else
    echo "/tmp/confab-up-pg-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)"
  fi
}

pg_stop() {
  local d
  d=$(pg_dir)
  if [ -f "$d/data/postmaster.pid" ]; then
    say "stopping PostgreSQL ($d/data)"
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" -m fast -w -t 30 stop >/dev/null || true
  fi
}

pg_start() {
  local d
  d=$(pg_dir)
  if [ "$d" != "$RUN/pg" ] && [ ! -L "$RUN/pg" ]; then
    mkdir -p "$d"
    ln -sfn "$d" "$RUN/pg"
    say "note: $RUN is not reachable by the postgres user; cluster lives in $d"
  fi
  mkdir -p "$d"
  chown postgres "$d"
  chmod 700 "$d"
  if [ ! -f "$d/data/PG_VERSION" ]; then
    say "initdb $d/data"
    runuser -u postgres -- "$PGBIN/initdb" -D "$d/data" -A trust -U postgres >"$RUN/initdb.log" 2>&1 \
      || { cat "$RUN/initdb.log" >&2; die "initdb failed"; }
  fi
  port_in_use "$PG_PORT" && die "port $PG_PORT is in use; set CONFAB_PG_PORT to a free port"
  say "starting PostgreSQL on $HOST:$PG_PORT"
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" -l "$d/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -k $d -c listen_addresses=$HOST" start >/dev/null \
    || { tail -n 30 "$d/postgres.log" >&2; die "PostgreSQL did not start (log: $d/postgres.log)"; }
  local db
  for db in confab confab_compliance; do
    if [ -z "$(psql -X -h $HOST -p "$PG_PORT" -U postgres -d postgres -tAc \
              "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
      psql -X -q -h $HOST -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $db" \
        || die "could not create database $db"
      say "created database $db"
    fi
  done
}

# ---------------------------------------------------------------- Prosody

prosody_config() {
  mkdir -p "$RUN/prosody/data" "$RUN/prosody/certs"
  cat >"$PROSODY_CFG" <<EOF
-- generated by scripts/up.sh; edits are overwritten on the next run
run_as_root = true
pidfile = "$RUN/prosody/prosody.pid"
data_path = "$RUN/prosody/data"
certificates = "$RUN/prosody/certs"
log = { info = "$RUN/prosody.log" }
c2s_ports = { $C2S_PORT }; c2s_interfaces = { "$HOST" }
component_ports = { $COMPONENT_PORT }; component_interfaces = { "$HOST" }
s2s_ports = { }; c2s_direct_tls_ports = { }; s2s_direct_tls_ports = { }
http_ports = { }; https_ports = { }
-- loopback demo: no certificates, so plaintext with PLAIN authentication is allowed
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
-- confab's tap (contrib/prosody/mod_confab_tap.lua) copies every 1:1 message that
-- passes a client connection to confab-archiver (docs/compliance-protocol.md)
plugin_paths = { "$ROOT/contrib/prosody" }
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "version"; "posix"; "confab_tap" }
VirtualHost "$XMPP_DOMAIN"
  confab_tap_archiver = "$ARCHIVE_DOMAIN"
Component "$MUC_DOMAIN"
  component_secret = "$MUC_SECRET"
Component "$ARCHIVE_DOMAIN"
  component_secret = "$ARCHIVE_SECRET"
EOF
}

prosody_start() {
  port_in_use "$C2S_PORT" && die "port $C2S_PORT is in use; set CONFAB_C2S_PORT to a free port"
  port_in_use "$COMPONENT_PORT" && die "port $COMPONENT_PORT is in use; set CONFAB_COMPONENT_PORT to a free port"
  say "starting Prosody (c2s $HOST:$C2S_PORT, components $HOST:$COMPONENT_PORT)"
  setsid prosody --config "$PROSODY_CFG" -F </dev/null >>"$RUN/prosody.out" 2>&1 &
  echo $! >"$RUN/prosody.pid"
  wait_port Prosody "$C2S_PORT" "$RUN/prosody.pid" "$PROSODY_CFG" 30 "$RUN/prosody.log"
  wait_port Prosody "$COMPONENT_PORT" "$RUN/prosody.pid" "$PROSODY_CFG" 30 "$RUN/prosody.log"
}

register() {  # register USER PASSWORD (overwrites the password of an existing account)
  prosodyctl --config "$PROSODY_CFG" register "$1" "$XMPP_DOMAIN" "$2" \
    >>"$RUN/prosodyctl.log" 2>&1 || { tail -n 20 "$RUN/prosodyctl.log" >&2; die "could not create $1@$XMPP_DOMAIN"; }
}

# ---------------------------------------------------------------- confab daemons

confab_config() {
  umask 077
  cat >"$RUN/confab.ini" <<EOF
; generated by scripts/up.sh; edits are overwritten on the next run
[component]
domain = $MUC_DOMAIN
router = $HOST:$COMPONENT_PORT
secret = $MUC_SECRET

[service]
name = Chatrooms

[storage]
dsn = host=$HOST port=$PG_PORT user=postgres dbname=confab

[compliance]
archiver = $ARCHIVE_DOMAIN
policy = relaxed

[archiver]
domain = $ARCHIVE_DOMAIN
router = $HOST:$COMPONENT_PORT
secret = $ARCHIVE_SECRET
dsn = host=$HOST port=$PG_PORT user=postgres dbname=confab_compliance
senders = $MUC_DOMAIN, $XMPP_DOMAIN

[log]
level = info
EOF
  umask 022
}

# start_daemon NAME LOGFILE PIDFILE
start_daemon() {
  local name=$1 log=$2 pidfile=$3 offset i
  offset=$(stat -c %s "$log" 2>/dev/null || echo 0)
  say "starting $name"
  setsid "$BUILD/$name" -c "$RUN/confab.ini" -f </dev/null >>"$log" 2>&1 &
  echo $! >"$pidfile"
  for ((i = 0; i < 150; i++)); do
    if tail -c +"$((offset + 1))" "$log" | grep -q 'link up'; then
      tail -c +"$((offset + 1))" "$log" | grep 'link up' | tail -n1 | sed 's/^/  /'
      return 0
    fi
    if ! pid_of "$pidfile" "$BUILD/$name -c $RUN/confab.ini" >/dev/null; then
      tail -c +"$((offset + 1))" "$log" | tail -n 30 >&2
      die "$name exited during start-up (log: $log)"
    fi
    sleep 0.1
  done
  tail -c +"$((offset + 1))" "$log" | tail -n 30 >&2
  die "$name did not attach to the router within 15s (log: $log)"
}

# ---------------------------------------------------------------- commands

do_stop() {
  stop_pidfile confabd "$RUN/confabd.pid" "$BUILD/confabd -c $RUN/confab.ini"
  stop_pidfile confab-archiver "$RUN/archiver.pid" "$BUILD/confab-archiver -c $RUN/confab.ini"
  stop_pidfile Prosody "$RUN/prosody.pid" "$PROSODY_CFG" 15
  pg_stop
}

do_status() {
  local pid
  if pid=$(pid_of "$RUN/confabd.pid" "$BUILD/confabd -c $RUN/confab.ini"); then
    echo "confabd: running (pid $pid)"; else echo "confabd: stopped"; fi
  if pid=$(pid_of "$RUN/archiver.pid" "$BUILD/confab-archiver -c $RUN/confab.ini"); then
    echo "confab-archiver: running (pid $pid)"; else echo "confab-archiver: stopped"; fi
  if pid=$(pid_of "$RUN/prosody.pid" "$PROSODY_CFG"); then
    echo "Prosody: running (pid $pid, c2s $HOST:$C2S_PORT)"; else echo "Prosody: stopped"; fi
  if [ -f "$(pg_dir)/data/postmaster.pid" ] && \
     runuser -u postgres -- "$PGBIN/pg_ctl" -D "$(pg_dir)/data" status >/dev/null 2>&1; then
    echo "PostgreSQL: running ($HOST:$PG_PORT)"
  else
    echo "PostgreSQL: stopped"
  fi
}

do_start() {
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0): it installs packages and runs PostgreSQL as the postgres user"
  mkdir -p "$RUN"
  chmod 755 "$RUN"

  bash "$ROOT/scripts/deps.sh" --runtime
  bash "$ROOT/scripts/build.sh"

  do_stop

  # secrets and demo passwords: made once, kept so clients keep working across restarts
  if [ ! -f "$RUN/secrets.env" ]; then
    (
      umask 077
      gen() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
      printf 'MUC_SECRET=%s\nARCHIVE_SECRET=%s\nALICE_PASSWORD=%s\nBOB_PASSWORD=%s\n' \
        "$(gen)" "$(gen)" "alice-$(gen | cut -c1-8)" "bob-$(gen | cut -c1-8)" >"$RUN/secrets.env"
    )
  fi
  # shellcheck disable=SC1091
  . "$RUN/secrets.env"

  pg_start
  prosody_config
  prosody_start
  register alice "$ALICE_PASSWORD"
  register bob "$BOB_PASSWORD"

  confab_config
  "$BUILD/confabd" -c "$RUN/confab.ini" --check-config >/dev/null \
    || die "confabd rejects $RUN/confab.ini (see above)"
  start_daemon confabd "$RUN/confabd.log" "$RUN/confabd.pid"
  start_daemon confab-archiver "$RUN/archiver.log" "$RUN/archiver.pid"

  say "smoke check: alice asks $MUC_DOMAIN for disco#info through Prosody"
  local smoke_ok=1
  if [ -x "$BUILD/confab-xmpp" ]; then
    local target
    for target in "$MUC_DOMAIN" "$ARCHIVE_DOMAIN"; do
      if ! "$BUILD/confab-xmpp" --jid "alice@$XMPP_DOMAIN" --password "$ALICE_PASSWORD" \
           --server "$HOST" --port "$C2S_PORT" --timeout 10 disco "$target"; then
        echo "up: smoke check FAILED: disco $target" >&2
        smoke_ok=0
      fi
    done
  else
    echo "up: $BUILD/confab-xmpp is missing; smoke check skipped" >&2
    smoke_ok=0
  fi

  cat <<EOF

confab is up (everything on $HOST; state, configs and logs in $RUN/).

Connect an XMPP client (Gajim, Dino, Profanity, ...):
  server   $HOST   port $C2S_PORT   (no TLS; plain authentication is allowed on loopback)
  accounts alice@$XMPP_DOMAIN  password $ALICE_PASSWORD
           bob@$XMPP_DOMAIN    password $BOB_PASSWORD
  MUC service (confabd)          $MUC_DOMAIN
  compliance archiver            $ARCHIVE_DOMAIN

From the shell:
  $BUILD/confab-xmpp --jid alice@$XMPP_DOMAIN --password $ALICE_PASSWORD --server $HOST --port $C2S_PORT disco $MUC_DOMAIN

Logs:  $RUN/confabd.log  $RUN/archiver.log  $RUN/prosody.log  $RUN/pg/postgres.log
SQL:   psql -h $HOST -p $PG_PORT -U postgres confab
Stop:  scripts/up.sh stop      (status: scripts/up.sh status)
EOF
  if [ "$smoke_ok" = 0 ]; then
    echo "up: the system is running but the smoke check failed; see the logs above" >&2
    exit 1
  fi
}

case "${1:-start}" in
  start|restart) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  -h|--help) sed -n '2,14p' "$ROOT/scripts/up.sh" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command: $1 (start | stop | status)" ;;
esac
