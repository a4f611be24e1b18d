#!/usr/bin/env bash
# scripts/bench-e2e.sh — issue 5's end-to-end compliance benchmark. Not a test: it
# prints figures.
#
#   scripts/bench-e2e.sh [--quick] [--rate R] [--rooms M] [--occupants N]
#                        [--duration S] [--warmup S] [--backlog N] [--no-compliance] [--keep]
#
# Starts, on 127.0.0.1 only: a private PostgreSQL 15 (as the postgres user, fsync
# and synchronous_commit at their defaults: on) with two databases, confab and
# confab_compliance; Prosody with accounts user1..userK (K = M x N); confabd from
# $BUILD (default build/) with [storage] durability = commit, no per-occupant rate
# limits and [compliance] archiver set (policy relaxed: a slow archiver shows as
# lag, not as refused messages); confab-archiver. confab-bench --mode client then
# sends groupchat messages through Prosody at a fixed offered rate (default 5,000
# msg/s in 250 rooms x 2 occupants) for --duration seconds after --warmup.
# Meanwhile the outbox (compliance_outbox) is sampled 5 times a second. Afterwards,
# from the two databases:
#   - every groupchat message committed in confabd's messages table must have
#     exactly one `groupchat` event in the archive (missing / duplicated counted);
#   - lag of each event = archived_at - event_time (event_time: when confabd
#     accepted the message; archived_at: the archiver's transaction time, its
#     COMMIT follows within milliseconds): p50/p95/p99/max;
#   - outbox drain: from the last message accepted to the last event archived,
#     and the peak outbox size.
# Then (b), the sender's own throughput, without chat traffic competing for the
# router: the archiver is stopped, confab-bench sends --backlog messages (default
# 20,000, at up to 2,000 msg/s) so that their events pile up in the outbox, the
# archiver starts again and the script times the drain (first to last event
# archived) and counts the archiver's commits. --backlog 0 skips it.
# Prints a human summary and one RESULT json line. Everything started is stopped
# at the end. The box is shared: like bench-store.sh, the measured processes run
# at nice $BENCH_NICE (default -10) and the report gives the CPU of each process
# and of everything else during the window.
# --quick: 100 rooms x 2, 2,000 msg/s, 10 s, backlog 10,000 (a minute or two).
# --router ejabberd (or BENCH_ROUTER=ejabberd): ejabberd 23.01 instead of Prosody, users
# logging in anonymously (login_anon); Prosody 0.12 saturates one core before 5,000 msg/s.
# --no-compliance: the same run with [compliance] off (no archiver): what the
# router path costs by itself, to compare the reflection latency with.
# BUILD (or CONFAB_BUILD) names the build directory (default build/); CONFABD=PATH
# runs another confabd binary (e.g. built from an older commit) with the rest.
# BENCH_PROSODY_READ_SIZE: Prosody's read_size (default 256 KiB; its own default is
# 8 KiB); BENCH_LOG_LEVEL: the daemons' log level (default info); --keep keeps the
# work directory (logs, configs, the clusters).
# Needs root (PostgreSQL runs as postgres), prosody, psql and jq.
set -euo pipefail

ROOT=${CONFAB_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=scripts/prosody-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/prosody-lib.sh"
BUILD=${BUILD:-${CONFAB_BUILD:-$ROOT/build}}
CONFABD=${CONFABD:-$BUILD/confabd}   # e.g. one built from another commit, to compare
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
NICE=${BENCH_NICE:--10}
DOMAIN=localhost
MUC=conference.localhost
ARCH=archive.localhost
PASSWORD=bench

ROUTER=${BENCH_ROUTER:-prosody}
quick=0 keep=0 compliance=1 backlog="" rate="" rooms="" occupants="" duration="" warmup=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --no-compliance) compliance=0 ;;
    # each of these sets the variable of its own name
    --backlog|--rate|--rooms|--occupants|--duration|--warmup) printf -v "${1#--}" '%s' "$2"; shift ;;
    --router) ROUTER=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-e2e.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  : "${rate:=2000}" "${rooms:=100}" "${occupants:=2}" "${duration:=10}" "${warmup:=2}" "${backlog:=10000}"
else
  : "${rate:=5000}" "${rooms:=250}" "${occupants:=2}" "${duration:=30}" "${warmup:=5}" "${backlog:=20000}"
fi
users=$(( rooms * occupants ))

for bin in "$CONFABD" "$BUILD/confab-archiver" "$BUILD/confab-bench" "$BUILD/confabctl"; do
  [ -x "$bin" ] || { echo "bench-e2e.sh: $bin is not built" >&2; exit 1; }
done
case "$ROUTER" in
  prosody|ejabberd) ;;
  *) echo "bench-e2e.sh: --router is prosody or ejabberd" >&2; exit 2 ;;
esac
RNAME=$ROUTER
for c in "$([ "$ROUTER" = prosody ] && echo prosody || echo ejabberdctl)" psql jq; do
  command -v "$c" >/dev/null || { echo "bench-e2e.sh: needs $c" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench-e2e.sh: run as root (PostgreSQL runs as postgres)" >&2; exit 1; }

# CPU seconds (user + system) of a process, of the whole PostgreSQL cluster, and
# of the whole machine (in clock ticks, /proc/stat).
cpu_of() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_cpu() {
  local total=0 p
  for p in $PGPID $(pgrep -P "$PGPID"); do total=$(awk -v a="$total" -v b="$(cpu_of "$p")" 'BEGIN {print a + b}'); done
  echo "$total"
}
busy_all() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

WORK=$(mktemp -d /tmp/confab-bench-e2e.XXXXXX)
chmod 755 "$WORK"
chown postgres "$WORK"
PGDATA=$WORK/pg
PROSODY_PID="" CONFABD_PID="" ARCH_PID="" SAMPLER_PID=""
stop_pid() {   # stop_pid PID: TERM, then KILL after 10 s
  local p=$1 i
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() {
  stop_pid "$SAMPLER_PID"; stop_pid "$CONFABD_PID"; stop_pid "$ARCH_PID"; stop_pid "$PROSODY_PID"
  if [ "$ROUTER" = ejabberd ] && [ -n "${EJ_NODE:-}" ]; then
    pkill -TERM -u ejabberd -f -- "$EJ_NODE" 2>/dev/null || true
  fi
  if [ -f "$PGDATA/postmaster.pid" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
  if [ "$keep" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PGPORT=$(free_port) C2S=$(free_port) COMP=$(free_port)
SECRET_MUC=m$RANDOM$RANDOM SECRET_ARCH=a$RANDOM$RANDOM
psqlc() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres "$@"; }

echo "== machine"
echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //');" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$ROUTER" = ejabberd ]; then
  rver="ejabberd $(dpkg-query -W -f '${Version}' ejabberd 2>/dev/null || echo '?')"
else
  rver=$(prosodyctl about 2>/dev/null | grep -m1 '^Prosody' || echo 'Prosody ?')
fi
echo "$("$PGBIN/postgres" --version); $rver"
echo "confab $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'); build $BUILD, confabd $CONFABD; measured processes at nice $NICE"

# ---------------------------------------------------------------- PostgreSQL
mkdir -p "$PGDATA"; chown postgres "$PGDATA"; chmod 700 "$PGDATA"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres --no-sync >/dev/null
# Durability at the defaults (fsync, synchronous_commit, full_page_writes on); room
# for WAL so that no checkpoint is forced during the run.
nice -n "$NICE" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/postgres.log" -w -t 60 \
  -o "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=30min" \
  start >/dev/null
PGPID=$(head -1 "$PGDATA/postmaster.pid")
psqlc -d postgres -c 'CREATE DATABASE confab' -c 'CREATE DATABASE confab_compliance'
echo "PostgreSQL on 127.0.0.1:$PGPORT: fsync=$(psqlc -d postgres -c 'SHOW fsync'), synchronous_commit=$(psqlc -d postgres -c 'SHOW synchronous_commit')"

# ---------------------------------------------------------------- ejabberd (--router ejabberd)
# Users log in anonymously (login_anon: any user1..userK, any password), as
# scripts/bench_compare.py does: ejabberdctl register costs a second per user.
start_ejabberd() {
  EJ_NODE="confabe2e$$@localhost"
  mkdir -p "$WORK/ejabberd"
  cat > "$WORK/ejabberd/ejabberd.yml" <<EJEOF
# generated by scripts/bench-e2e.sh
hosts: [$DOMAIN]
loglevel: warning
certfiles: []
listen:
  - port: $C2S
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: false
  - port: $COMP
    ip: "127.0.0.1"
    module: ejabberd_service
    global_routes: false
    hosts:
      "$MUC":
        password: "$SECRET_MUC"
      "$ARCH":
        password: "$SECRET_ARCH"
$(cat "$ROOT/scripts/bench-ejabberd.yml")
EJEOF
  printf 'EJABBERD_CONFIG_PATH=%s\nERLANG_NODE=%s\nERL_DIST_PORT=%s\nINET_DIST_INTERFACE=127.0.0.1\n' \
    "$WORK/ejabberd/ejabberd.yml" "$EJ_NODE" "$(free_port)" > "$WORK/ejabberd/ejabberdctl.cfg"
  chown -R ejabberd "$WORK/ejabberd"
  (cd "$WORK/ejabberd" && exec nice -n "$NICE" runuser -u ejabberd -- env HOME="$WORK/ejabberd" \
    ejabberdctl --ctl-config "$WORK/ejabberd/ejabberdctl.cfg" --config "$WORK/ejabberd/ejabberd.yml" \
    --spool "$WORK/ejabberd/db" --logs "$WORK/ejabberd" --node "$EJ_NODE" foreground \
    > "$WORK/ejabberd/ejabberd.out" 2>&1) &
  PROSODY_PID=$!
  for _ in $(seq 900); do
    (exec 3<>"/dev/tcp/127.0.0.1/$C2S") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$COMP") 2>/dev/null && break
    sleep 0.1
  done
}

if [ "$ROUTER" = ejabberd ]; then
  start_ejabberd
else
# ---------------------------------------------------------------- Prosody
mkdir -p "$WORK/prosody/data/$DOMAIN/accounts" "$WORK/prosody/certs"
# internal_plain's store written directly (prosodyctl register costs ~0.3 s a user)
for ((i = 1; i <= users; i++)); do
  printf 'return {\n\t["password"] = "%s";\n};\n' "$PASSWORD" > "$WORK/prosody/data/$DOMAIN/accounts/user$i.dat"
done
cat > "$WORK/prosody/prosody.cfg.lua" <<EOF
-- generated by scripts/bench-e2e.sh
$(prosody_cfg_base "$WORK/prosody" "warn = \"$WORK/prosody/prosody.log\"" "$C2S" "$COMP" 127.0.0.1)
authentication = "internal_plain"
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "posix"; }
-- confabd's component stream carries every reflection and every compliance event:
-- read it in big chunks (Prosody's default is 8 KiB per read), no Nagle delays
network_settings = { read_size = ${BENCH_PROSODY_READ_SIZE:-262144}; nagle = false }
VirtualHost "$DOMAIN"
Component "$MUC"
  component_secret = "$SECRET_MUC"
Component "$ARCH"
  component_secret = "$SECRET_ARCH"
EOF
nice -n "$NICE" prosody --config "$WORK/prosody/prosody.cfg.lua" -F > "$WORK/prosody/prosody.out" 2>&1 &
PROSODY_PID=$!
for _ in $(seq 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$C2S") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$COMP") 2>/dev/null && break
  sleep 0.1
done

fi

# ---------------------------------------------------------------- confabd and the archiver
cat > "$WORK/confab.ini" <<EOF
; generated by scripts/bench-e2e.sh
[component]
domain = $MUC
router = 127.0.0.1:$COMP
secret = $SECRET_MUC
[storage]
dsn = host=127.0.0.1 port=$PGPORT user=postgres dbname=confab
durability = commit
[muc]
; rooms outlive the run, so that their messages can be counted afterwards
persistent_default = true
$(cat "$ROOT/scripts/bench-muc.ini")
[compliance]
archiver = $([ "$compliance" = 1 ] && echo "$ARCH")
policy = relaxed
[archiver]
domain = $ARCH
router = 127.0.0.1:$COMP
secret = $SECRET_ARCH
dsn = host=127.0.0.1 port=$PGPORT user=postgres dbname=confab_compliance
senders = $MUC
[log]
level = ${BENCH_LOG_LEVEL:-info}
EOF
"$BUILD/confabctl" -c "$WORK/confab.ini" db migrate >/dev/null
# wait_log FILE PATTERN PID: until the daemon logs PATTERN (30 s)
wait_log() {
  for _ in $(seq 300); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { tail -20 "$1" >&2; echo "bench-e2e.sh: $1: the daemon exited" >&2; exit 1; }
    sleep 0.1
  done
  tail -20 "$1" >&2; echo "bench-e2e.sh: $1: no '$2' within 30 s" >&2; exit 1
}
nice -n "$NICE" "$BUILD/confab-archiver" -c "$WORK/confab.ini" -f > "$WORK/archiver.log" 2>&1 &
ARCH_PID=$!
wait_log "$WORK/archiver.log" "link up" "$ARCH_PID"
nice -n "$NICE" "$CONFABD" -c "$WORK/confab.ini" -f > "$WORK/confabd.log" 2>&1 &
CONFABD_PID=$!
wait_log "$WORK/confabd.log" "link up" "$CONFABD_PID"
wait_log "$WORK/confabd.log" "walls in force" "$CONFABD_PID" # rooms answer wait until then

# ---------------------------------------------------------------- the run
# The outbox, 5 times a second: "epoch_ms count" lines.
(
  while :; do
    n=$(psqlc -d confab -c "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint || ' ' || count(*) FROM compliance_outbox" 2>/dev/null || true)
    [ -n "$n" ] && echo "$n"
    sleep 0.2
  done
) > "$WORK/outbox.samples" &
SAMPLER_PID=$!

echo
echo "== $rooms rooms x $occupants occupants ($users users, every occupant sends), $rate msg/s offered," \
     "${duration} s measured after ${warmup} s warm-up, through $ROUTER"
if [ "$ROUTER" = ejabberd ]; then
  PROSODY_REAL=$(pgrep -u ejabberd -n -f "beam.smp.*$EJ_NODE" 2>/dev/null || echo "$PROSODY_PID")
else
  PROSODY_REAL=$(pgrep -P "$PROSODY_PID" -n lua 2>/dev/null || echo "$PROSODY_PID")
fi
nice -n "$NICE" "$BUILD/confab-bench" --mode client --server "127.0.0.1:$C2S" --domain "$DOMAIN" \
  --password "$PASSWORD" --muc "$MUC" --room-prefix e2e --rooms "$rooms" --occupants "$occupants" \
  --rate "$rate" --duration "$duration" --warmup "$warmup" --drain 5 --label e2e --quiet \
  --pid "confabd=$CONFABD_PID" --pid "archiver=$ARCH_PID" --pid "$RNAME=$PROSODY_REAL" \
  --pid "postgres=$PGPID" > "$WORK/bench.out" 2> "$WORK/bench.err" || true
grep -v '^RESULT ' "$WORK/bench.out" || true
BENCH=$(grep '^RESULT ' "$WORK/bench.out" | sed 's/^RESULT //' || true)
[ -n "$BENCH" ] || { echo "  (no result from confab-bench; see below)"; tail -20 "$WORK/bench.err"; BENCH='{"ok":false}'; }
if [ "$compliance" = 0 ]; then
  echo "RESULT $(echo "$BENCH" | jq -c '{bench: "e2e-no-compliance", rate, rooms, sent, rejected, lost,
    reflect_ms: .lat_reflect, other_cpu_pct, cpu_s: ((.procs // {}) | map_values(.cpu_s)), window_s}')"
  exit 0
fi

# Drain: wait until the outbox is empty (at most 120 s more).
for _ in $(seq 600); do
  [ "$(psqlc -d confab -c 'SELECT count(*) FROM compliance_outbox')" = 0 ] && break
  sleep 0.2
done
sleep 0.5
stop_pid "$SAMPLER_PID"; SAMPLER_PID=""
left=$(psqlc -d confab -c 'SELECT count(*) FROM compliance_outbox')
# The daemons' statistics reach pg_stat_* when their connections close.
stop_pid "$CONFABD_PID"; CONFABD_PID=""
stop_pid "$ARCH_PID"; ARCH_PID=""
sleep 0.5

# ---------------------------------------------------------------- from the databases
# The run's messages, keyed by their body (confab-bench makes each one unique),
# copied into the compliance database to be joined with the events.
psqlc -d confab_compliance -c "CREATE TABLE bench_msgs (room text, body text, ts timestamptz)"
psqlc -d confab -c "COPY (SELECT r.jid, m.body, m.ts FROM messages m JOIN rooms r ON r.id = m.room_id
                          WHERE r.jid LIKE 'e2e%' AND m.body IS NOT NULL) TO STDOUT" \
  | psqlc -d confab_compliance -c "COPY bench_msgs FROM STDIN"
psqlc -d confab_compliance -c "CREATE INDEX ON bench_msgs (body)" -c "ANALYZE bench_msgs"
read -r stored events missing dup extra <<<"$(psqlc -d confab_compliance -F ' ' -c "
  WITH ev AS (SELECT body, count(*) AS n FROM events
              WHERE type = 'groupchat' AND room LIKE 'e2e%' GROUP BY body)
  SELECT (SELECT count(*) FROM bench_msgs),
         (SELECT coalesce(sum(n), 0) FROM ev),
         (SELECT count(*) FROM bench_msgs m WHERE NOT EXISTS (SELECT 1 FROM ev WHERE ev.body = m.body)),
         (SELECT coalesce(sum(n - 1), 0) FROM ev WHERE n > 1),
         (SELECT count(*) FROM ev WHERE NOT EXISTS (SELECT 1 FROM bench_msgs m WHERE m.body = ev.body))")"
lag=$(psqlc -d confab_compliance -c "
  SELECT json_build_object(
    'n', count(*),
    'p50', round((percentile_cont(0.50) WITHIN GROUP (ORDER BY l))::numeric, 1),
    'p95', round((percentile_cont(0.95) WITHIN GROUP (ORDER BY l))::numeric, 1),
    'p99', round((percentile_cont(0.99) WITHIN GROUP (ORDER BY l))::numeric, 1),
    'max', round(max(l)::numeric, 1),
    'first_event', min(event_time), 'last_event', max(event_time),
    'drain_ms', round((extract(epoch FROM max(archived_at) - max(event_time)) * 1000)::numeric, 1),
    'archived_per_s', round((count(*) / greatest(extract(epoch FROM max(archived_at) - min(archived_at)), 0.001))::numeric, 1))
  FROM (SELECT extract(epoch FROM archived_at - event_time) * 1000 AS l, event_time, archived_at
        FROM events WHERE type = 'groupchat' AND room LIKE 'e2e%') x")
# Lag by second of the run: where it grows.
persec=$(psqlc -d confab_compliance -c "
  SELECT string_agg(s || 's:' || n || '/' || p99, ' ' ORDER BY s) FROM (
    SELECT floor(extract(epoch FROM event_time - (SELECT min(event_time) FROM events WHERE type = 'groupchat' AND room LIKE 'e2e%')))::int AS s,
           count(*) AS n,
           round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM archived_at - event_time) * 1000)) AS p99
    FROM events WHERE type = 'groupchat' AND room LIKE 'e2e%' GROUP BY 1) x")
peak=$(awk 'BEGIN {m = 0} $2 > m {m = $2} END {print m}' "$WORK/outbox.samples")
commits=$(psqlc -d confab_compliance -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'confab_compliance'")
# How the sender used the outbox table; confabd logs its counters when it stops
# (rows taken as they committed versus read back from the table).
outbox_stats="$(psqlc -d confab -c "SELECT 'rows inserted ' || n_tup_ins || ', deleted ' || n_tup_del FROM pg_stat_user_tables WHERE relname = 'compliance_outbox'"); $(grep -o 'compliance: sender: .*' "$WORK/confabd.log" | sed 's/^compliance: sender: //' || true)"
errs="$(grep -c -E ' (ERROR|WARN):' "$WORK/confabd.log" || true) $(grep -c -E ' (ERROR|WARN):' "$WORK/archiver.log" || true)"

jl() { echo "$lag" | jq -r "$1"; }
jb() { echo "$BENCH" | jq -r "$1"; }
echo
echo "== from the databases"
echo "groupchat messages committed in confabd: $stored; groupchat events archived: $events"
echo "messages without an event: $missing; duplicated events: $dup; events without a message: $extra; outbox left: $left"
echo "lag (archived_at - event_time) over $(jl .n) events: p50 $(jl .p50) ms, p95 $(jl .p95) ms, p99 $(jl .p99) ms, max $(jl .max) ms"
echo "outbox: peak $peak rows (sampled every 0.2 s); drain after the last message accepted: $(jl .drain_ms) ms"
echo "archive rate over the run: $(jl .archived_per_s) events/s; transactions committed in confab_compliance: $commits"
echo "outbox table: $outbox_stats"
echo "per second of the run (events/p99 ms): $persec"
echo "CPU in the measured window: confabd $(jb '.procs.confabd.cpu_s // "?"') s, archiver $(jb '.procs.archiver.cpu_s // "?"') s," \
     "$RNAME $(jb ".procs.$RNAME.cpu_s // \"?\"") s, postgres $(jb '.procs.postgres.cpu_s // "?"') s, bench $(jb '.bench_cpu_win_s // "?"') s" \
     "over $(jb '.window_s // "?"') s; other processes $(jb '.other_cpu_pct // "?"') % of a core"
echo "warnings/errors in the logs (confabd, archiver): $errs"

# ---------------------------------------------------------------- (b) backlog drain
bl='{}'
if [ "$backlog" -gt 0 ]; then
  echo
  blrate=$(( rate < 2000 ? rate : 2000 ))
  bldur=$(( (backlog + blrate - 1) / blrate ))
  echo "== (b) backlog drain: $(( blrate * bldur )) messages at $blrate msg/s with the archiver stopped, then the archiver starts"
  nice -n "$NICE" "$CONFABD" -c "$WORK/confab.ini" -f >> "$WORK/confabd.log" 2>&1 &
  CONFABD_PID=$!
  for _ in $(seq 300); do [ "$(grep -c 'walls in force' "$WORK/confabd.log")" -ge 2 ] && break; sleep 0.1; done
  nice -n "$NICE" "$BUILD/confab-bench" --mode client --server "127.0.0.1:$C2S" --domain "$DOMAIN" \
    --password "$PASSWORD" --muc "$MUC" --room-prefix blg --rooms "$rooms" --occupants "$occupants" \
    --rate "$blrate" --duration "$bldur" --warmup 0 --drain 2 --label backlog --quiet \
    > "$WORK/backlog.out" 2> "$WORK/backlog.err" || true
  # until the router has delivered everything: the outbox stops growing for 1 s
  queued=-1
  for _ in $(seq 120); do
    n=$(psqlc -d confab -c 'SELECT count(*) FROM compliance_outbox')
    [ "$n" = "$queued" ] && break
    queued=$n
    sleep 1
  done
  c0=$(psqlc -d confab_compliance -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'confab_compliance'")
  t0=$(date +%s%3N)
  nice -n "$NICE" "$BUILD/confab-archiver" -c "$WORK/confab.ini" -f >> "$WORK/archiver.log" 2>&1 &
  ARCH_PID=$!
  # CPU from the first acknowledgement on (not the archiver's start nor the
  # sender's retry backoff)
  for _ in $(seq 1200); do
    [ "$(psqlc -d confab -c 'SELECT count(*) FROM compliance_outbox')" -lt "$queued" ] && break
    sleep 0.02
  done
  tc=$(date +%s%3N)
  cpu0="$(cpu_of "$CONFABD_PID") $(cpu_of "$PROSODY_REAL") $(pg_cpu) $(busy_all)"
  a0=$(cpu_of "$ARCH_PID")
  for _ in $(seq 1200); do
    [ "$(psqlc -d confab -c 'SELECT count(*) FROM compliance_outbox')" = 0 ] && break
    sleep 0.1
  done
  t1=$(date +%s%3N)
  cpu1="$(cpu_of "$CONFABD_PID") $(cpu_of "$PROSODY_REAL") $(pg_cpu) $(busy_all) $(awk -v a="$(cpu_of "$ARCH_PID")" -v b="$a0" 'BEGIN {print a - b}')"
  bl_left=$(psqlc -d confab -c 'SELECT count(*) FROM compliance_outbox')
  stop_pid "$CONFABD_PID"; CONFABD_PID=""
  stop_pid "$ARCH_PID"; ARCH_PID=""
  sleep 0.5
  c1=$(psqlc -d confab_compliance -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'confab_compliance'")
  bl=$(psqlc -d confab_compliance -c "
    SELECT json_build_object('queued', $queued, 'left', $bl_left, 'events', count(*),
      'wall_ms', $t1 - $t0,
      'drain_ms', round((extract(epoch FROM max(archived_at) - min(archived_at)) * 1000)::numeric, 1),
      'events_per_s', round((count(*) / greatest(extract(epoch FROM max(archived_at) - min(archived_at)), 0.001))::numeric, 1),
      'archive_commits', $c1 - $c0)
    FROM events WHERE room LIKE 'blg%'")
  echo "outbox held $queued events; archived $(echo "$bl" | jq .events) events (of every type) in $(echo "$bl" | jq .drain_ms) ms" \
       "from the first to the last: $(echo "$bl" | jq .events_per_s) events/s, in $(echo "$bl" | jq .archive_commits) archiver transactions;" \
       "outbox empty $(echo "$bl" | jq .wall_ms) ms after the archiver started (its start and the sender's retry backoff included); left $bl_left"
  # fields: confabd prosody postgres busy (before), the same and the archiver (after), t0 t1
  echo "$cpu0 $cpu1 $tc $t1" | awk '{ w = ($11 - $10) / 1000; if (w <= 0) w = 1;
    other = ($8 - $4) / 100 - (($5 - $1) + ($6 - $2) + ($7 - $3) + $9);
    printf "CPU while draining (%.1f s): confabd %.0f%%, archiver %.0f%%, router %.0f%%, postgres %.0f%%, other processes %.0f%% of a core\n",
           w, 100 * ($5 - $1) / w, 100 * $9 / w, 100 * ($6 - $2) / w, 100 * ($7 - $3) / w, 100 * (other > 0 ? other : 0) / w }'
  echo "sender: $(grep -o 'compliance: sender: .*' "$WORK/confabd.log" | tail -1 | sed 's/^compliance: sender: //' || true)"
fi

echo
echo "== summary (goal in issue 5: lag p99 <= 1 s at 5,000 room messages/s)"
echo "offered $rate msg/s, sent $(jb '.sent // 0'), rejected $(jb '.rejected // 0'), lost $(jb '.lost // 0');" \
     "committed $stored; archived once $(( events - dup )); missing $missing, duplicated $dup;" \
     "lag p50 $(jl .p50) ms, p99 $(jl .p99) ms, max $(jl .max) ms; drain $(jl .drain_ms) ms; outbox peak $peak"
[ "$backlog" -gt 0 ] && echo "backlog of $(echo "$bl" | jq .queued) events drained at $(echo "$bl" | jq .events_per_s) events/s"
echo "RESULT $(jq -nc --argjson bench "$BENCH" --argjson lag "$lag" \
  --arg rate "$rate" --arg rooms "$rooms" --arg occ "$occupants" --arg stored "$stored" \
  --arg events "$events" --arg missing "$missing" --arg dup "$dup" --arg extra "$extra" \
  --arg left "$left" --arg peak "$peak" --arg commits "$commits" --argjson bl "$bl" \
  '{bench: "e2e", rate: ($rate|tonumber), rooms: ($rooms|tonumber), occupants: ($occ|tonumber),
    sent: ($bench.sent // 0), rejected: ($bench.rejected // 0), client_lost: ($bench.lost // 0),
    committed: ($stored|tonumber), events: ($events|tonumber), missing: ($missing|tonumber),
    duplicated: ($dup|tonumber), unmatched_events: ($extra|tonumber), outbox_left: ($left|tonumber),
    lag_ms: {p50: $lag.p50, p95: $lag.p95, p99: $lag.p99, max: $lag.max},
    drain_ms: $lag.drain_ms, outbox_peak: ($peak|tonumber), archive_commits: ($commits|tonumber),
    other_cpu_pct: ($bench.other_cpu_pct // null),
    cpu_s: (($bench.procs // {}) | map_values(.cpu_s)), window_s: ($bench.window_s // null),
    reflect_p99_ms: ($bench.lat_reflect.p99 // null), backlog: $bl}')"
