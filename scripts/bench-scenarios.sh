#!/usr/bin/env bash
# scripts/bench-scenarios.sh — issue 6's scenarios 1–5 with confab-bench in router
# mode (confabd alone, no XMPP router in the path). Not a test: it prints figures.
#
#   scripts/bench-scenarios.sh [--quick] [--only 1,2,3,4,5] [--keep]
#                              [--rates1 "R ..."] [--rates2 "R ..."] [--startup-rooms N]
#
#   1  one room of 1,000 occupants, every occupant sends: deliveries/s and latency
#      at each offered rate of --rates1 (msg/s; deliveries = rate x 1,000)
#   2  1,000 rooms of 20 occupants: the same at each rate of --rates2
#   3  join storm: 10,000 joins (500 rooms x 20 + their owners) with 20 messages of
#      history each, paced at 1,000 joins/s and all at once
#   4  --startup-rooms (default 100,000) idle persistent rooms in the database:
#      time to link up and to the first served stanza, RSS, compared with an
#      empty database (hibernated rooms should cost nothing)
#   5  memory: RSS per idle occupant (1,000 rooms x 20 occupants minus 1,000 rooms
#      x 1, no chat) and per loaded idle room (1,000 persistent rooms loaded by one
#      join each after start-up)
#
# Like bench-store.sh: a private PostgreSQL 15 on 127.0.0.1 (fsync and
# synchronous_commit on), a fresh confabd from $BUILD (default build/; CONFABD=PATH
# for another binary) per measurement with [storage] durability = commit and no
# per-occupant rate limits; waits (up to $QUIET_WAIT s, default 60) for a quiet machine before each
# measurement and reports the CPU other processes used; measured processes run at
# nice $BENCH_NICE (default -10). --quick shrinks everything (~4 min).
# Needs root, jq and psql.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-${CONFAB_BUILD:-$ROOT/build}}
CONFABD=${CONFABD:-$BUILD/confabd}   # e.g. one built from a clean snapshot of a commit
# the schema must be the one that confabd knows: its own build's confabctl when there is one
CONFABCTL=${CONFABCTL:-$(dirname "$CONFABD")/confabctl}
[ -x "$CONFABCTL" ] || CONFABCTL=$BUILD/confabctl
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
MUC=conference.bench.local
NICE=${BENCH_NICE:--10}

quick=0 keep=0 only="1,2,3,4,5" rates1="" rates2="" startup_rooms=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --only) only=$2; shift ;;
    --rates1) rates1=$2; shift ;;
    --rates2) rates2=$2; shift ;;
    --startup-rooms) startup_rooms=$2; shift ;;
    -h|--help) sed -n '2,27p' "$0" | grep -v '^set ' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-scenarios.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  : "${rates1:=100 300}" "${rates2:=1000 3000}" "${startup_rooms:=10000}"
  duration=4 warmup=1 storm_rooms=100 mem_rooms=200 touch=200
else
  : "${rates1:=250 500 1000 2000}" "${rates2:=1000 2500 5000 10000}" "${startup_rooms:=100000}"
  duration=10 warmup=3 storm_rooms=500 mem_rooms=1000 touch=1000
fi
want() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

for bin in "$CONFABD" "$BUILD/confab-bench" "$CONFABCTL"; do
  [ -x "$bin" ] || { echo "bench-scenarios.sh: $bin is not built" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "bench-scenarios.sh: needs jq" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench-scenarios.sh: run as root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/confab-scen-XXXXXX)
chmod 755 "$WORK"
chown postgres "$WORK"
results=$WORK/results.jsonl
: > "$results"
PGDATA=$WORK/pg
RUN=$(( $(date +%s) % 100000 ))

free_port() {
  local low p
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  for _ in $(seq 200); do
    p=$(( 20000 + RANDOM % (low - 20001) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "bench-scenarios.sh: no free port" >&2; exit 1
}

cleanup() {
  if [ -f "$PGDATA/postmaster.pid" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
  if [ "$keep" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
  return 0
}
trap cleanup EXIT

PGPORT=$(free_port)
psqlc() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d confab "$@"; }

echo "== machine"
echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //');" \
     "memory $(free -g | awk '/^Mem:/{print $2}') GiB; kernel $(uname -r)"
echo "$("$PGBIN/postgres" --version); measured processes at nice $NICE; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "confab $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'); bench $BUILD/confab-bench; confabd $CONFABD"

mkdir -p "$PGDATA"; chown postgres "$PGDATA"; chmod 700 "$PGDATA"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres --no-sync >/dev/null
nice -n "$NICE" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/postgres.log" -w -t 60 \
  -o "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=8GB" \
  start >/dev/null
PGPID=$(head -1 "$PGDATA/postmaster.pid")
psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c 'CREATE DATABASE confab'

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
quiet() {
  local b0 b1 pct waited=0
  while :; do
    b0=$(busy); sleep 2; b1=$(busy)
    pct=$(( (b1 - b0) * 100 / $(getconf CLK_TCK) / 2 ))
    if [ "$pct" -lt 20 ]; then return 0; fi
    if [ "$waited" -ge "${QUIET_WAIT:-60}" ]; then
      echo "   (the machine is busy: other processes use ${pct}% of a core; measuring anyway)"
      return 0
    fi
    waited=$(( waited + 2 ))
  done
}

SECRET=scen-$RANDOM$RANDOM
write_cfg() {
  cat > "$1" <<EOF
; generated by scripts/bench-scenarios.sh
[component]
domain = $MUC
router = 127.0.0.1:$2
secret = $SECRET
[storage]
dsn = host=127.0.0.1 port=$PGPORT user=postgres dbname=confab
durability = commit
[muc]
message_rate = 0
presence_rate = 0
max_occupants = 100000
[log]
level = warn
EOF
}
write_cfg "$WORK/migrate.ini" "$(free_port)"
"$CONFABCTL" -c "$WORK/migrate.ini" db migrate >/dev/null

LAST=""
bench() {
  local name=$1; shift
  local port cfg out
  port=$(free_port)
  cfg=$WORK/$name.ini
  write_cfg "$cfg" "$port"
  out=$WORK/$name.out
  quiet
  echo "   \$ confab-bench -c $name.ini --pg-pid PG --label $name $* --spawn -- confabd -c $name.ini -f"
  nice -n "$NICE" "$BUILD/confab-bench" -c "$cfg" --pg-pid "$PGPID" --label "$name" --quiet \
    --timeout 120 "$@" \
    --spawn --spawn-log "$WORK/$name.confabd.log" -- "$CONFABD" -c "$cfg" -f \
    > "$out" 2> "$WORK/$name.err" || true
  LAST=$(grep '^RESULT ' "$out" | sed 's/^RESULT //' || true)
  if [ -z "$LAST" ]; then
    echo "   (no result; see $WORK/$name.err)"; tail -5 "$WORK/$name.err" >&2
    LAST='{"ok":false}'
  fi
  echo "$LAST" >> "$results"
}
j() { echo "$LAST" | jq -r "$1"; }
chat_line() {
  echo "   $1 msg/s offered: $(j .deliveries_per_s) deliveries/s; latency (all copies) p50 $(j .lat_all.p50)" \
       "p95 $(j .lat_all.p95) p99 $(j .lat_all.p99) p99.9 $(j .lat_all.p999) max $(j .lat_all.max) ms;" \
       "lost $(j .lost) dup $(j .dup) rejected $(j .rejected); confabd $(j .confabd_cpu_pct)%," \
       "postgres $(j .pg_cpu_pct)%, bench $(j .bench_cpu_pct)%, other $(j .other_cpu_pct)% of a core;" \
       "confabd RSS $(j .confabd_rss_kb) KiB"
}
summary=()

if want 1; then
  echo; echo "== scenario 1: one room of 1,000 occupants, all sending"
  for rate in $rates1; do
    # joins paced: each join into a room of n costs n presences (O(n^2) in all)
    bench "s1-$rate" --scenario chat --rooms 1 --occupants 1000 --rate "$rate" --join-rate 100 \
      --duration "$duration" --warmup "$warmup" --drain 10 --history 0 \
      --room-prefix "s1r${RUN}x$rate"
    chat_line "$rate"
    summary+=("1: $rate msg/s x 1000: $(j .deliveries_per_s) deliveries/s, p99 $(j .lat_all.p99) ms, lost $(j .lost), dup $(j .dup), confabd $(j .confabd_cpu_pct)%")
  done
fi

if want 2; then
  echo; echo "== scenario 2: 1,000 rooms of 20 occupants, all sending"
  for rate in $rates2; do
    bench "s2-$rate" --scenario chat --rooms 1000 --occupants 20 --rate "$rate" --join-rate 2000 \
      --duration "$duration" --warmup "$warmup" --drain 10 --history 0 \
      --room-prefix "s2r${RUN}x$rate"
    chat_line "$rate"
    summary+=("2: $rate msg/s x 20: $(j .deliveries_per_s) deliveries/s, p99 $(j .lat_all.p99) ms, lost $(j .lost), dup $(j .dup), confabd $(j .confabd_cpu_pct)%")
  done
fi

if want 3; then
  echo; echo "== scenario 3: join storm, $(( storm_rooms * 20 )) joins with 20 history messages"
  for jr in 1000 0; do
    bench "s3-$jr" --scenario storm --rooms "$storm_rooms" --occupants 21 --prefill 20 \
      --history 20 --join-rate "$jr" --persistent --room-prefix "s3r${RUN}x$jr"
    line="$(j .joins) joins at $([ "$jr" = 0 ] && echo once || echo "$jr/s"): $(j .joins_per_s) joins/s,"
    line="$line p50 $(j .lat_join.p50) p99 $(j .lat_join.p99) max $(j .lat_join.max) ms,"
    line="$line $(j .history_per_join) history messages per join, failed $(j .joins_failed);"
    line="$line confabd RSS $(j .confabd_rss_kb) KiB, other $(j .other_cpu_pct)% of a core"
    echo "   $line"
    summary+=("3: $line")
  done
fi

if want 4 || want 5; then
  echo; echo "== start-up with an empty database"
  bench s4-empty --scenario startup --room-prefix none --touch 0 --settle-ms 1000
  rss_empty=$(j .rss_kb)
  echo "   link up $(j .link_up_ms) ms, first served $(j .first_served_ms) ms, RSS $rss_empty KiB"
fi

if want 4; then
  echo; echo "== scenario 4: $startup_rooms idle persistent rooms in the database"
  psqlc <<SQL
INSERT INTO rooms (jid, creator, locked, persistent, logging, name)
SELECT 'big' || g || '@$MUC', 'owner' || g || '@bench.local', false, true, true, 'Room ' || g
FROM generate_series(0, $startup_rooms - 1) g;
INSERT INTO affiliations (room_id, jid, affiliation)
SELECT id, creator, 'owner' FROM rooms WHERE jid LIKE 'big%';
VACUUM ANALYZE rooms;
SQL
  for i in 1 2 3; do
    bench "s4-startup-$i" --scenario startup --room-prefix big --touch "$touch" --settle-ms 1000
    echo "   run $i: link up $(j .link_up_ms) ms, first served $(j .first_served_ms) ms," \
         "RSS $(j .rss_kb) KiB (empty database: $rss_empty KiB), $(j .rss_touched_kb) KiB" \
         "with $touch rooms loaded"
  done
  summary+=("4: $startup_rooms rooms: link up $(j .link_up_ms) ms, first served $(j .first_served_ms) ms, RSS $(j .rss_kb) KiB vs $rss_empty KiB empty: $(j "(.rss_kb - $rss_empty) * 1024 / $startup_rooms | floor") bytes per hibernated room")
  summary+=("5: per loaded idle persistent room: $(j "(.rss_touched_kb - .rss_kb) / $touch * 100 | round / 100") KiB ($touch rooms loaded by one join each)")
fi

if want 5; then
  echo; echo "== scenario 5: memory per idle occupant ($mem_rooms rooms, no chat)"
  bench s5-one --scenario chat --rooms "$mem_rooms" --occupants 1 --rate 0 --duration 2 \
    --warmup 0 --drain 0 --history 0 --settle-ms 1000 --room-prefix "s5r${RUN}a"
  one=$(j .confabd_rss_kb)
  bench s5-twenty --scenario chat --rooms "$mem_rooms" --occupants 20 --rate 0 --duration 2 --join-rate 2000 \
    --warmup 0 --drain 0 --history 0 --settle-ms 1000 --room-prefix "s5r${RUN}b"
  twenty=$(j .confabd_rss_kb)
  per_occ=$(awk -v a="$one" -v b="$twenty" -v n="$(( mem_rooms * 19 ))" 'BEGIN{printf "%.2f", (b - a) / n}')
  per_room=$(awk -v a="$one" -v e="${rss_empty:-0}" -v n="$mem_rooms" 'BEGIN{printf "%.2f", (a - e) / n}')
  echo "   RSS: empty $rss_empty KiB; $mem_rooms rooms x 1 occupant $one KiB;" \
       "$mem_rooms rooms x 20 occupants $twenty KiB"
  summary+=("5: per idle occupant: $per_occ KiB ((RSS with ${mem_rooms}x20 - ${mem_rooms}x1) / $(( mem_rooms * 19 )))")
  summary+=("5: per new room with its one occupant: $per_room KiB ((RSS with ${mem_rooms}x1 - empty) / $mem_rooms)")
fi

echo
echo "== summary (issue 6 goals: >= 1,000,000 deliveries/s in 1; <= 2 KiB per idle occupant; <= 4 KiB per loaded idle room; 0 per hibernated room)"
for l in "${summary[@]}"; do echo "$l"; done
echo
echo "== RESULT lines"
cat "$results"
