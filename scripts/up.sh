#!/usr/bin/env bash
# Bring up the whole local confab system on loopback (README command 1). Run as root.
#
#   scripts/up.sh [start]   install missing packages, build, (re)start everything
#   scripts/up.sh stop      stop everything this script started
#   scripts/up.sh status    show what is running
#   scripts/up.sh restart confabd|archiver|prosody
#                           restart that one part with its current config (no build,
#                           no package install); the others keep running. Clients stay
#                           connected across a confabd or archiver restart (they rejoin
#                           rooms after XEP-0410 self-ping); a Prosody restart drops
#                           them, and confabd and the archiver reattach by themselves.
#
# Everything lives in ./.run/ (gitignored): a private PostgreSQL 15 cluster, a
# Prosody router, confabd and confab-archiver attached to it as XEP-0114
# components, their configs, logs and pidfiles. Re-running restarts cleanly; data
# (databases, accounts) is kept. Processes are stopped only through our pidfiles.
#
# Least privilege (docs/security.md, issue 13): PostgreSQL takes scram-sha-256
# passwords on 127.0.0.1 (the superuser only over its socket, as postgres).
# confabd logs in as `confab` (owner of its chat database, no superuser);
# the compliance schema is migrated by its owner `confab_compliance_owner`
# (confabctl compliance migrate); confab-archiver logs in as `archiver`, a member
# of the INSERT-only role confab_archiver; officers as `auditor` (confab_officer).
# Passwords are in .run/pgpass (0600). The archiver signs checkpoints of the
# hash chain with .run/checkpoint.pem into .run/checkpoints.log.
#
# CONFAB_BUILD=DIR uses (and builds) another build directory than ./build.
# CONFAB_RUN=DIR keeps the state somewhere else than ./.run (a second demo).
#
# Ports (loopback only), overridable from the environment:
#   CONFAB_C2S_PORT=5222  CONFAB_COMPONENT_PORT=5347  CONFAB_PG_PORT=55432
#   CONFAB_METRICS_PORT=9850 (confabd; the archiver's is the next port)
# (start saves them in .run/ports.env; stop, status and restart use the saved ones)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/prosody-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/prosody-lib.sh"
cd /  # the postgres user may not be able to enter the caller's directory
RUN=${CONFAB_RUN:-$ROOT/.run}
if [ "${1:-start}" != start ] && [ -f "$RUN/ports.env" ]; then
  # shellcheck disable=SC1091
  . "$RUN/ports.env"
fi
BUILD=${CONFAB_BUILD:-$ROOT/build}
PGBIN=/usr/lib/postgresql/15/bin
HOST=127.0.0.1
C2S_PORT=${CONFAB_C2S_PORT:-5222}
COMPONENT_PORT=${CONFAB_COMPONENT_PORT:-5347}
PG_PORT=${CONFAB_PG_PORT:-55432}
METRICS_PORT=${CONFAB_METRICS_PORT:-9850}
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
    echo "/tmp/confab-up-pg-$(printf '%s' "$RUN" | md5sum | cut -c1-12)"
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

# psql as the superuser, over the cluster's socket (peer authentication)
pg_admin() {
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$(pg_dir)" -p "$PG_PORT" "$@"
}

# Only scram-sha-256 passwords over TCP; the superuser only through the socket.
pg_hba() {
  cat >"$1/pg_hba.conf" <<'HBA'
# generated by scripts/up.sh; edits are overwritten on the next run
local   all   postgres                 peer
host    all   all        127.0.0.1/32  scram-sha-256
HBA
  chown postgres "$1/pg_hba.conf"
  chmod 600 "$1/pg_hba.conf"
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
    runuser -u postgres -- "$PGBIN/initdb" -D "$d/data" --auth-local=peer \
      --auth-host=scram-sha-256 -U postgres >"$RUN/initdb.log" 2>&1 \
      || { cat "$RUN/initdb.log" >&2; die "initdb failed"; }
  fi
  pg_hba "$d/data"
  port_in_use "$PG_PORT" && die "port $PG_PORT is in use; set CONFAB_PG_PORT to a free port"
  say "starting PostgreSQL on $HOST:$PG_PORT"
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" -l "$d/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -k $d -c listen_addresses=$HOST" start >/dev/null \
    || { tail -n 30 "$d/postgres.log" >&2; die "PostgreSQL did not start (log: $d/postgres.log)"; }
  pg_roles
}

# Login roles with scram passwords, each database owned by its own role. Data
# made by an older up.sh (owned by postgres) is handed to those owners.
pg_roles() {
  pg_admin -d postgres \
    -v chat_pw="$CHAT_DB_PASSWORD" -v owner_pw="$COMPLIANCE_OWNER_PASSWORD" \
    -v archiver_pw="$ARCHIVER_DB_PASSWORD" -v auditor_pw="$AUDITOR_DB_PASSWORD" <<'SQL' \
    || die "could not create the database roles"
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I', r) FROM unnest(ARRAY['confab', 'confab_compliance_owner',
    'confab_archiver', 'confab_officer', 'archiver', 'auditor']) AS r
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE confab LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'chat_pw';
ALTER ROLE confab_compliance_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_pw';
ALTER ROLE confab_archiver NOLOGIN;
ALTER ROLE confab_officer NOLOGIN;
ALTER ROLE archiver LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'archiver_pw';
ALTER ROLE auditor LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'auditor_pw';
GRANT confab_archiver TO archiver;
GRANT confab_officer TO auditor;
SELECT format('CREATE DATABASE %I OWNER %I', d, o)
  FROM (VALUES ('confab', 'confab'), ('confab_compliance', 'confab_compliance_owner')) AS v (d, o)
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
ALTER DATABASE confab OWNER TO confab;
ALTER DATABASE confab_compliance OWNER TO confab_compliance_owner;
SQL
  pg_give confab confab
  pg_give confab_compliance confab_compliance_owner
}

# pg_give DB ROLE: what postgres owns in DB's public schema goes to ROLE
pg_give() {
  pg_admin -d "$1" -v owner="$2" <<'SQL' || die "could not hand $1's objects to $2"
SELECT format('ALTER %s %s OWNER TO %I',
              CASE WHEN c.relkind IN ('r', 'p') THEN 'TABLE' ELSE 'VIEW' END,
              c.oid::regclass, :'owner')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relowner = 'postgres'::regrole
    AND c.relkind IN ('r', 'p', 'v') \gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE WHEN p.prokind = 'a' THEN 'AGGREGATE'
              ELSE 'ROUTINE' END, p.oid::regprocedure, :'owner')
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = 'public' AND p.proowner = 'postgres'::regrole \gexec
SQL
}

# ---------------------------------------------------------------- Prosody

prosody_config() {
  mkdir -p "$RUN/prosody/data" "$RUN/prosody/certs"
  cat >"$PROSODY_CFG" <<EOF
-- generated by scripts/up.sh; edits are overwritten on the next run
$(prosody_cfg_base "$RUN/prosody" "info = \"$RUN/prosody.log\"" "$C2S_PORT" "$COMPONENT_PORT" "$HOST")
authentication = "internal_hashed"
storage = "internal"  -- flat files under data_path
-- confab's tap (contrib/prosody/mod_confab_tap.lua) copies every 1:1 message that
-- passes a client connection to confab-archiver (docs/compliance-protocol.md);
-- confab_multicast (contrib/prosody/mod_confab_multicast.lua) is the XEP-0033
-- service confabd hands each room broadcast to, once (docs/prosody.md)
plugin_paths = { "$ROOT/contrib/prosody" }
-- What Debian's /etc/prosody/prosody.cfg.lua enables, so that a real client works
-- as on a real server, plus 1:1 MAM (commented out there). Left out: tls (no
-- certificates), dialback (no s2s), limits (would throttle confab-bench), the
-- invites modules (no HTTP), admin_adhoc. mod_offline is loaded by Prosody itself.
modules_enabled = {
  "disco"; "roster"; "saslauth";
  "blocklist"; "bookmarks"; "carbons"; "pep"; "private"; "smacks";
  "vcard4"; "vcard_legacy"; "offline"; "mam";
  "csi_simple"; "ping"; "register"; "time"; "uptime"; "version";
  "admin_shell"; "posix";
  "confab_tap"; "confab_multicast";
}
allow_registration = false  -- mod_register only lets users change their password
archive_expires_after = "1w"  -- 1:1 MAM, as Debian's default suggests
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
dsn = host=$HOST port=$PG_PORT user=confab dbname=confab passfile=$RUN/pgpass

[compliance]
archiver = $ARCHIVE_DOMAIN
policy = relaxed

[archiver]
domain = $ARCHIVE_DOMAIN
router = $HOST:$COMPONENT_PORT
secret = $ARCHIVE_SECRET
dsn = host=$HOST port=$PG_PORT user=archiver dbname=confab_compliance passfile=$RUN/pgpass
senders = $MUC_DOMAIN, $XMPP_DOMAIN
checkpoint_key = $RUN/checkpoint.pem
checkpoint_file = $RUN/checkpoints.log

[metrics]
listen = $HOST:$METRICS_PORT
archiver_listen = $HOST:$((METRICS_PORT + 1))

[log]
level = info
EOF
  umask 022
}

log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# start_daemon NAME LOGFILE PIDFILE: start it (appending to LOGFILE), wait for its link
start_daemon() {
  local name=$1 log=$2 pidfile=$3 offset
  offset=$(log_size "$log")
  say "starting $name"
  setsid "$BUILD/$name" -c "$RUN/confab.ini" -f </dev/null >>"$log" 2>&1 &
  echo $! >"$pidfile"
  wait_link "$name" "$log" "$pidfile" "$offset" started
}

# wait_link NAME LOGFILE PIDFILE OFFSET [started]: wait for 'link up' written after
# OFFSET; a confabd just started also for its walls (rooms answer `wait` until it
# has read them)
wait_link() {
  local name=$1 log=$2 pidfile=$3 offset=$4 started=${5:-}
  wait_line "$name" "$log" "$pidfile" "$offset" 'link up' "attach to the router"
  if [ "$name" = confabd ] && [ -n "$started" ]; then
    wait_line "$name" "$log" "$pidfile" "$offset" 'control: walls in force' \
      "read its categories and walls from the database"
  fi
}

# wait_line NAME LOGFILE PIDFILE OFFSET PATTERN WHAT: a line after OFFSET, for 15 s
wait_line() {
  local name=$1 log=$2 pidfile=$3 offset=$4 pattern=$5 what=$6 i
  for ((i = 0; i < 150; i++)); do
    if tail -c +"$((offset + 1))" "$log" | grep -q "$pattern"; then
      tail -c +"$((offset + 1))" "$log" | grep "$pattern" | tail -n1 | sed 's/^/  /'
      return 0
    fi
    if ! pid_of "$pidfile" "$BUILD/$name -c $RUN/confab.ini" >/dev/null; then
      tail -c +"$((offset + 1))" "$log" | tail -n 30 >&2
      die "$name exited during start-up (log: $log)"
    fi
    sleep 0.1
  done
  tail -c +"$((offset + 1))" "$log" | tail -n 30 >&2
  die "$name did not $what within 15s (log: $log)"
}

# ---------------------------------------------------------------- commands

# secrets and demo passwords: made once, kept so clients keep working across restarts
load_secrets() {
  if [ ! -f "$RUN/secrets.env" ]; then
    (
      umask 077
      gen() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
      printf 'MUC_SECRET=%s\nARCHIVE_SECRET=%s\nALICE_PASSWORD=%s\nBOB_PASSWORD=%s\n' \
        "$(gen)" "$(gen)" "alice-$(gen | cut -c1-8)" "bob-$(gen | cut -c1-8)" >"$RUN/secrets.env"
    )
  fi
  # database passwords (added to an older secrets.env on its first run with them)
  if ! grep -q '^AUDITOR_DB_PASSWORD=' "$RUN/secrets.env"; then
    (
      umask 077
      gen() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
      printf 'CHAT_DB_PASSWORD=%s\nCOMPLIANCE_OWNER_PASSWORD=%s\nARCHIVER_DB_PASSWORD=%s\nAUDITOR_DB_PASSWORD=%s\n' \
        "$(gen)" "$(gen)" "$(gen)" "$(gen)" >>"$RUN/secrets.env"
    )
  fi
  # shellcheck disable=SC1091
  . "$RUN/secrets.env"
  (
    umask 077
    printf '%s:%s:*:%s:%s\n' \
      "$HOST" "$PG_PORT" confab "$CHAT_DB_PASSWORD" \
      "$HOST" "$PG_PORT" confab_compliance_owner "$COMPLIANCE_OWNER_PASSWORD" \
      "$HOST" "$PG_PORT" archiver "$ARCHIVER_DB_PASSWORD" \
      "$HOST" "$PG_PORT" auditor "$AUDITOR_DB_PASSWORD" >"$RUN/pgpass"
  )
}


do_stop() {
  stop_pidfile confabd "$RUN/confabd.pid" "$BUILD/confabd -c $RUN/confab.ini"
  stop_pidfile confab-archiver "$RUN/archiver.pid" "$BUILD/confab-archiver -c $RUN/confab.ini"
  stop_pidfile Prosody "$RUN/prosody.pid" "$PROSODY_CFG" 15
  pg_stop
}

pg_running() {
  [ -f "$(pg_dir)/data/postmaster.pid" ] &&
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$(pg_dir)/data" status >/dev/null 2>&1
}

do_status() {
  local pid
  if pid=$(pid_of "$RUN/confabd.pid" "$BUILD/confabd -c $RUN/confab.ini"); then
    echo "confabd: running (pid $pid)"; else echo "confabd: stopped"; fi
  if pid=$(pid_of "$RUN/archiver.pid" "$BUILD/confab-archiver -c $RUN/confab.ini"); then
    echo "confab-archiver: running (pid $pid)"; else echo "confab-archiver: stopped"; fi
  if pid=$(pid_of "$RUN/prosody.pid" "$PROSODY_CFG"); then
    echo "Prosody: running (pid $pid, c2s $HOST:$C2S_PORT)"; else echo "Prosody: stopped"; fi
  if pg_running; then
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
  # A sanitizer build directory (the test suite's CONFAB_BUILD) stays one:
  # configuring it plainly would mix instrumented and plain objects.
  local build_flags=()
  if [ -x "$BUILD/config.status" ] && "$BUILD/config.status" --config | grep -q -- --enable-sanitizers; then
    build_flags+=(--asan)
  fi
  bash "$ROOT/scripts/build.sh" "${build_flags[@]}" "$BUILD"

  do_stop

  printf 'CONFAB_C2S_PORT=%s\nCONFAB_COMPONENT_PORT=%s\nCONFAB_PG_PORT=%s\nCONFAB_METRICS_PORT=%s\n' \
    "$C2S_PORT" "$COMPONENT_PORT" "$PG_PORT" "$METRICS_PORT" >"$RUN/ports.env"
  load_secrets
  OWNER_DSN="host=$HOST port=$PG_PORT user=confab_compliance_owner dbname=confab_compliance passfile=$RUN/pgpass"
  AUDITOR_DSN="host=$HOST port=$PG_PORT user=auditor dbname=confab_compliance passfile=$RUN/pgpass"

  pg_start
  prosody_config
  prosody_start
  register alice "$ALICE_PASSWORD"
  register bob "$BOB_PASSWORD"

  confab_config
  # the archiver's checkpoint key: made once, readable by root (the archiver) only
  if [ ! -f "$RUN/checkpoint.pem" ]; then
    "$BUILD/confabctl" -c "$RUN/confab.ini" compliance keygen --out "$RUN/checkpoint.pem" \
      >/dev/null || die "could not make the checkpoint key"
    say "made the checkpoint key $RUN/checkpoint.pem (public half: checkpoint.pem.pub)"
  fi
  "$BUILD/confabd" -c "$RUN/confab.ini" --check-config >/dev/null \
    || die "confabd rejects $RUN/confab.ini (see above)"
  "$BUILD/confab-archiver" -c "$RUN/confab.ini" --check-config >/dev/null \
    || die "confab-archiver rejects $RUN/confab.ini (see above)"
  # migrations as the owners; the daemons then only check the versions
  "$BUILD/confabctl" -c "$RUN/confab.ini" db migrate | sed 's/^/  /' \
    || die "the chat schema migration failed"
  "$BUILD/confabctl" -c "$RUN/confab.ini" compliance migrate --dsn "$OWNER_DSN" \
    | sed 's/^/  /' || die "the compliance schema migration failed"
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

Metrics: http://$HOST:$METRICS_PORT/metrics  http://$HOST:$((METRICS_PORT + 1))/metrics  (and /health)
Logs:  $RUN/confabd.log  $RUN/archiver.log  $RUN/prosody.log  $RUN/pg/postgres.log
SQL:   PGPASSFILE=$RUN/pgpass psql -h $HOST -p $PG_PORT -U confab confab
       (superuser: runuser -u postgres -- psql -h $(pg_dir) -p $PG_PORT)
Audit: $BUILD/confabctl -c $RUN/confab.ini compliance verify --dsn "$AUDITOR_DSN" \\
         --checkpoints $RUN/checkpoints.log --pubkey $RUN/checkpoint.pem.pub
Stop:  scripts/up.sh stop      (status: scripts/up.sh status)
EOF
  if [ "$smoke_ok" = 0 ]; then
    echo "up: the system is running but the smoke check failed; see the logs above" >&2
    exit 1
  fi
}

# restart one part with the config and secrets the last start left in .run/
do_restart() {
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
  if [ ! -f "$RUN/confab.ini" ] || [ ! -f "$PROSODY_CFG" ] || [ ! -f "$RUN/secrets.env" ]; then
    die "nothing to restart: run scripts/up.sh first"
  fi
  load_secrets
  case "$1" in
    confabd|archiver|confab-archiver|prosody)
      if ! pid_of "$RUN/prosody.pid" "$PROSODY_CFG" >/dev/null || ! pg_running; then
        die "the system is not up (scripts/up.sh status); start it with scripts/up.sh"
      fi ;;
  esac
  case "$1" in
    confabd)
      stop_pidfile confabd "$RUN/confabd.pid" "$BUILD/confabd -c $RUN/confab.ini"
      start_daemon confabd "$RUN/confabd.log" "$RUN/confabd.pid" ;;
    archiver|confab-archiver)
      stop_pidfile confab-archiver "$RUN/archiver.pid" "$BUILD/confab-archiver -c $RUN/confab.ini"
      start_daemon confab-archiver "$RUN/archiver.log" "$RUN/archiver.pid" ;;
    prosody)
      local c_off a_off i
      c_off=$(log_size "$RUN/confabd.log")
      a_off=$(log_size "$RUN/archiver.log")
      stop_pidfile Prosody "$RUN/prosody.pid" "$PROSODY_CFG" 15
      # the listening sockets may linger for a moment after the process is gone
      for ((i = 0; i < 50; i++)); do
        port_in_use "$C2S_PORT" || port_in_use "$COMPONENT_PORT" || break
        sleep 0.1
      done
      prosody_start
      # confabd and the archiver reconnect by themselves ([link] reconnect_max)
      if pid_of "$RUN/confabd.pid" "$BUILD/confabd -c $RUN/confab.ini" >/dev/null; then
        wait_link confabd "$RUN/confabd.log" "$RUN/confabd.pid" "$c_off"
      fi
      if pid_of "$RUN/archiver.pid" "$BUILD/confab-archiver -c $RUN/confab.ini" >/dev/null; then
        wait_link confab-archiver "$RUN/archiver.log" "$RUN/archiver.pid" "$a_off"
      fi ;;
    "") do_start ;;
    *) die "unknown part: $1 (confabd | archiver | prosody)" ;;
  esac
}

case "${1:-start}" in
  start) do_start ;;
  restart) do_restart "${2:-}" ;;
  stop) do_stop ;;
  status) do_status ;;
  -h|--help) sed -n '2,18p' "$ROOT/scripts/up.sh" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command: $1 (start | stop | status | restart [confabd|archiver|prosody])" ;;
esac
