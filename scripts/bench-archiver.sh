#!/usr/bin/env bash
# scripts/bench-archiver.sh — issue 5's archiver ingest benchmark. Not a test: it prints numbers.
#
#   scripts/bench-archiver.sh [--quick] [--duration S] [--window W] [--rates "R1 R2 ..."]
#                             [--keep] [--no-verify]
#
# Starts a private PostgreSQL 15 (as the postgres user, loopback only, fsync and
# synchronous_commit at their defaults: on, so every answer is a durable commit),
# creates a compliance database, and per measurement runs confab-archiver from
# $BUILD (default build/) against confab-bench-archiver (src/bench/bench_archiver.c),
# which plays the XMPP router: it accepts the archiver's XEP-0114 connection and
# sends groupchat <event/> IQs as confabd does (5 recipients, the forwarded
# message, 64-byte bodies). Latency is from an event's scheduled send to the
# archiver's `result`, which it sends only after the COMMIT. Prints:
#   (a) saturated ingest: events/s committed with --window events outstanding
#       (closed loop; default 5000, well under [archiver] max_queue);
#   (b) per-event latency p50/p99 at open-loop rates (default 5000 and 20000/s);
#   (c) the database afterwards: rows = results answered, no duplicates, and
#       `confabctl compliance verify` over the whole chain (timed).
# Per measurement it also prints the CPU seconds per 1000 events of the archiver
# and of PostgreSQL (all its processes), and how busy the box was otherwise: it
# has 2 cores shared with other work, so the figures move with the load.
# --quick: 5 s measurements. Needs root (PostgreSQL runs as postgres) and psql.
set -euo pipefail

ROOT=${CONFAB_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${BUILD:-$ROOT/build}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DOMAIN=archive.bench.local

quick=0 keep=0 verify=1 duration="" window=5000 rates="5000 20000"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --no-verify) verify=0 ;;
    --duration) duration=$2; shift ;;
    --window) window=$2; shift ;;
    --rates) rates=$2; shift ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-archiver.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$duration" ] || { [ "$quick" = 1 ] && duration=5 || duration=15; }

for bin in confab-archiver confab-bench-archiver confabctl; do
  [ -x "$BUILD/$bin" ] || { echo "bench-archiver.sh: $BUILD/$bin is not built" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench-archiver.sh: run as root (PostgreSQL runs as postgres)" >&2; exit 1; }

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

WORK=$(mktemp -d /tmp/confab-bench-archiver.XXXXXX)
chown postgres "$WORK"
PGPORT=$(free_port)
PGDATA=$WORK/pg
ARCH_PID=""
cleanup() {
  if [ -n "$ARCH_PID" ]; then kill "$ARCH_PID" 2>/dev/null || true; fi
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  if [ "$keep" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Server options that do not weaken durability: fewer checkpoints during a run.
PGOPTS="-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c shared_buffers=256MB \
-c max_wal_size=4GB -c checkpoint_timeout=30min"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg.log" -w -o "$PGOPTS" start >/dev/null
PSQL=(psql -X -q -At -h 127.0.0.1 -p "$PGPORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE confab_compliance"
DSN="host=127.0.0.1 port=$PGPORT user=postgres dbname=confab_compliance"
echo "PostgreSQL 15 on 127.0.0.1:$PGPORT: fsync=$("${PSQL[@]}" -d postgres -c 'SHOW fsync'), \
synchronous_commit=$("${PSQL[@]}" -d postgres -c 'SHOW synchronous_commit'), \
shared_buffers=256MB, max_wal_size=4GB"
echo "build: $BUILD; box: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# CPU seconds (user + system) of a process, and of the whole PostgreSQL cluster.
cpu_of() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_cpu() {
  local pm total=0 p
  pm=$(head -1 "$PGDATA/postmaster.pid")
  for p in $pm $(pgrep -P "$pm"); do total=$(awk -v a="$total" -v b="$(cpu_of "$p")" 'BEGIN {print a + b}'); done
  echo "$total"
}
busy_all() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }

# One measurement: generator first (it listens), then the archiver.
measure() {
  local label=$1; shift
  local port secret ini log
  port=$(free_port)
  secret=bench-$RANDOM$RANDOM
  ini=$WORK/archiver-$label.ini
  log=$WORK/archiver-$label.log
  cat > "$ini" <<EOF
[archiver]
domain = $DOMAIN
router = 127.0.0.1:$port
secret = $secret
dsn = $DSN
[log]
level = info
EOF
  "$BUILD/confab-bench-archiver" --listen "127.0.0.1:$port" --domain "$DOMAIN" --secret "$secret" \
    --label "$label" "$@" > "$WORK/gen-$label.out" 2>&1 &
  local gen=$!
  sleep 0.2
  "$BUILD/confab-archiver" -c "$ini" -f > "$log" 2>&1 &
  ARCH_PID=$!
  # CPU counted from when the archiver is connected (migrations excluded)
  for _ in $(seq 100); do grep -q "compliance: connected" "$log" && break; sleep 0.1; done
  local a0 p0 b0 b1 a1 p1
  a0=$(cpu_of "$ARCH_PID"); p0=$(pg_cpu); b0=$(busy_all)
  local rc=0
  wait "$gen" || rc=$?
  a1=$(cpu_of "$ARCH_PID"); p1=$(pg_cpu); b1=$(busy_all)
  kill "$ARCH_PID"; wait "$ARCH_PID" 2>/dev/null || true; ARCH_PID=""
  cat "$WORK/gen-$label.out"
  [ "$rc" = 0 ] || echo "  (generator exit $rc: errors or unanswered events, see above)"
  local answered
  answered=$(sed -n 's/.*"answered":\([0-9]*\).*/\1/p' "$WORK/gen-$label.out")
  if [ -n "$answered" ] && [ "$answered" -gt 0 ]; then
    echo "$a0 $a1 $p0 $p1 $answered $b0 $b1" | awk '{
      printf "  CPU per 1000 events: archiver %.1f ms, PostgreSQL %.1f ms", \
             ($2-$1)*1e6/$5, ($4-$3)*1e6/$5;
      busy=($8-$6)-(($2-$1)+($4-$3))*100; tot=$9-$7;
      if (tot > 0) printf "; everything else (the generator included) %.0f%% of the box\n", \
                          100*busy/tot; else print "" }'
  fi
}

echo
echo "== (a) saturated ingest, closed loop, window $window"
measure saturated --rate 0 --window "$window" --duration "$duration" --warmup 3
for r in $rates; do
  echo
  echo "== (b) latency at $r events/s, open loop"
  measure "rate$r" --rate "$r" --window 100000 --duration "$duration" --warmup 2
done

echo
echo "== (c) the database afterwards"
rows=$("${PSQL[@]}" -d confab_compliance -c "SELECT count(*) FROM events")
dups=$("${PSQL[@]}" -d confab_compliance -c "SELECT count(*) - count(DISTINCT uuid) FROM events")
answered=$(cat "$WORK"/gen-*.out | sed -n 's/.*"answered":\([0-9]*\),"errors":\([0-9]*\).*/\1 \2/p' \
  | awk '{s += $1 - $2} END {print s}')
echo "rows $rows, results answered $answered (+ probe events), duplicate UUIDs $dups"
if [ "$verify" = 1 ]; then
  cat > "$WORK/ctl.ini" <<EOF
[archiver]
dsn = $DSN
EOF
  t0=$(date +%s.%N)
  "$BUILD/confabctl" -c "$WORK/ctl.ini" compliance verify
  t1=$(date +%s.%N)
  echo "$t0 $t1 $rows" | awk '{printf "verify took %.1f s (%.0f rows/s)\n", $2-$1, $3/($2-$1)}'
fi
