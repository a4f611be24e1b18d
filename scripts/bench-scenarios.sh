#!/usr/bin/env bash
# scripts/bench-scenarios.sh — issue 6's scenarios 1–5 with confab-bench in router
# mode (confabd alone, no XMPP router in the path). Not a test: it prints figures.
#
#   scripts/bench-scenarios.sh [--quick] [--only 1,2,3,4,5] [--keep]
#                              [--rates1 "R ..."] [--rates2 "R ..."] [--startup-rooms N]
#                              [--big-room N]
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
#   6  large room (issue 16): one room of --big-room (default 5,000) occupants joins
#      (paced, $S6_JOIN_RATE joins/s, default 200; 0: all at once) and chats (every occupant sends, 20 msg/s in all), first
#      with [muc] presence_limit = 0 (before: every presence to everyone), then with
#      presence_limit = 75 (after: non-moderators' presence to moderators only):
#      joins/s, deliveries/s and the presences confabd sent. Not in the default
#      --only list: run it with --only 6
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
ME=bench-scenarios.sh
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
BUILD=${BUILD:-${CONFAB_BUILD:-$ROOT/build}}
CONFABD=${CONFABD:-$BUILD/confabd}   # e.g. one built from a clean snapshot of a commit
# the schema must be the one that confabd knows: its own build's confabctl when there is one
CONFABCTL=${CONFABCTL:-$(dirname "$CONFABD")/confabctl}
[ -x "$CONFABCTL" ] || CONFABCTL=$BUILD/confabctl
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
MUC=conference.bench.local
NICE=${BENCH_NICE:--10}

quick=0 keep=0 only="1,2,3,4,5" rates1="" rates2="" startup_rooms="" big_room=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --only) only=$2; shift ;;
    --rates1) rates1=$2; shift ;;
    --rates2) rates2=$2; shift ;;
    --startup-rooms) startup_rooms=$2; shift ;;
    --big-room) big_room=$2; shift ;;
    -h|--help) sed -n '2,34p' "$0" | grep -v '^set ' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-scenarios.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  : "${rates1:=100 300}" "${rates2:=1000 3000}" "${startup_rooms:=10000}" "${big_room:=300}"
  duration=4 warmup=1 storm_rooms=100 mem_rooms=200 touch=200
else
  : "${rates1:=250 500 1000 2000}" "${rates2:=1000 2500 5000 10000}" "${startup_rooms:=100000}"
  : "${big_room:=5000}"
  duration=10 warmup=3 storm_rooms=500 mem_rooms=1000 touch=1000
fi

for bin in "$CONFABD" "$BUILD/confab-bench" "$CONFABCTL"; do
  [ -x "$bin" ] || { echo "bench-scenarios.sh: $bin is not built" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "bench-scenarios.sh: needs jq" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench-scenarios.sh: run as root" >&2; exit 1; }

make_work /tmp/confab-scen-XXXXXX
results=$WORK/results.jsonl
: > "$results"
PGDATA=$WORK/pg
RUN=$(( $(date +%s) % 100000 ))

cleanup() {
  bench_pg_stop
  remove_work
  return 0
}
trap cleanup EXIT

PGPORT=$(free_port)

echo "== machine"
machine_line
echo "$("$PGBIN/postgres" --version); measured processes at nice $NICE; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(confab_rev); bench $BUILD/confab-bench; confabd $CONFABD"

# shellcheck disable=SC2119  # no extra initdb arguments
bench_pg_init
bench_pg_start "-c shared_buffers=1GB -c max_wal_size=8GB"
create_chat_db

SECRET=scen-$RANDOM$RANDOM LOG_LEVEL=warn
bench_migrate "$CONFABCTL"

LAST=""
bench() {
  local name=$1; shift
  quiet 60
  echo "   \$ confab-bench -c $name.ini --pg-pid PG --label $name $* --spawn -- confabd -c $name.ini -f"
  bench_run "$name" "$CONFABD" --timeout 120 "$@"
}
chat_line() {
  echo "   $1 msg/s offered: $(j .deliveries_per_s) deliveries/s; latency (all copies) p50 $(j .lat_all.p50)" \
       "p95 $(j .lat_all.p95) p99 $(j .lat_all.p99) p99.9 $(j .lat_all.p999) max $(j .lat_all.max) ms;" \
       "lost $(j .lost) dup $(j .dup) rejected $(j .rejected); confabd $(j .confabd_cpu_pct)%," \
       "postgres $(j .pg_cpu_pct)%, bench $(j .bench_cpu_pct)%, other $(j .other_cpu_pct)% of a core;" \
       "confabd RSS $(j .confabd_rss_kb) KiB"
}
summary=()

# chat_scenario N ROOMS OCCUPANTS JOIN_RATE RATE...: everyone sends, at each rate
chat_scenario() {
  local n=$1 rooms=$2 occupants=$3 join_rate=$4 rate
  shift 4
  for rate in "$@"; do
    bench "s$n-$rate" --scenario chat --rooms "$rooms" --occupants "$occupants" --rate "$rate" \
      --join-rate "$join_rate" --duration "$duration" --warmup "$warmup" --drain 10 --history 0 \
      --room-prefix "s${n}r${RUN}x$rate"
    chat_line "$rate"
    summary+=("$n: $rate msg/s x $occupants: $(j .deliveries_per_s) deliveries/s, p99 $(j .lat_all.p99) ms, lost $(j .lost), dup $(j .dup), confabd $(j .confabd_cpu_pct)%")
  done
}

if want 1; then
  echo; echo "== scenario 1: one room of 1,000 occupants, all sending"
  # joins paced: each join into a room of n costs n presences (O(n^2) in all)
  # shellcheck disable=SC2086  # the rates are a word list
  chat_scenario 1 1 1000 100 $rates1
fi

if want 2; then
  echo; echo "== scenario 2: 1,000 rooms of 20 occupants, all sending"
  # shellcheck disable=SC2086
  chat_scenario 2 1000 20 2000 $rates2
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
  big_rooms_sql "$startup_rooms" | psqlc
  for i in 1 2 3; do
    bench "s4-startup-$i" --scenario startup --room-prefix big --touch "$touch" --settle-ms 1000
    echo "   run $i: link up $(j .link_up_ms) ms, first served $(j .first_served_ms) ms," \
         "RSS $(j .rss_kb) KiB (empty database: $rss_empty KiB), $(j .rss_touched_kb) KiB" \
         "with $touch rooms loaded, $(j .rss_warm_kb) KiB after the first $(( touch / 4 )):" \
         "$(j .touch_marginal_kb) KiB per room after those"
  done
  summary+=("4: $startup_rooms rooms: link up $(j .link_up_ms) ms, first served $(j .first_served_ms) ms, RSS $(j .rss_kb) KiB vs $rss_empty KiB empty: $(j "(.rss_kb - $rss_empty) * 1024 / $startup_rooms | floor") bytes per hibernated room")
  summary+=("5: per loaded idle persistent room: $(j .touch_marginal_kb) KiB (RSS growth per room over the last $(( touch - touch / 4 )) of $touch rooms loaded by one join each); $(j "(.rss_touched_kb - .rss_kb) / $touch * 100 | round / 100") KiB counting from the empty start (the first loads' one-off costs included)")
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

if want 6; then
  echo; echo "== scenario 6: one room of $big_room occupants joining and chatting (issue 16)"
  for limit in 0 75; do
    BENCH_MUC_SET="presence_limit = $limit" \
      bench "s6-limit$limit" --scenario chat --rooms 1 --occupants "$big_room" --rate 20 \
      --join-rate "${S6_JOIN_RATE:-200}" --duration "$duration" --warmup "$warmup" --drain 10 --history 0 \
      --timeout 900 --room-prefix "s6r${RUN}x$limit"
    line="presence_limit $limit: $(j .joins) joins, $(j .joins_per_s) joins/s (join p99"
    line="$line $(j .lat_join.p99) ms, failed $(j .joins_failed)); $(j .deliveries_per_s)"
    line="$line deliveries/s, lost $(j .lost); $(j .presences) presences sent;"
    line="$line confabd $(j .confabd_cpu_pct)%, RSS $(j .confabd_rss_kb) KiB"
    echo "   $line"
    summary+=("6: $line")
  done
fi

echo
echo "== summary (issue 6 goals: >= 1,000,000 deliveries/s in 1; <= 2 KiB per idle occupant; <= 4 KiB per loaded idle room; 0 per hibernated room)"
for l in "${summary[@]}"; do echo "$l"; done
echo
echo "== RESULT lines"
cat "$results"
