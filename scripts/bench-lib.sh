# scripts/bench-lib.sh — what the benchmark scripts share, sourced by bench-store.sh,
# bench-scenarios.sh and bench-e2e.sh (not run on its own).
#
# The functions read the caller's settings: ME (the script's name, for messages),
# ROOT, BUILD, PGBIN, PGDATA, PGPORT, WORK, NICE, keep, results, and they set
# PGPID (bench_pg_start) and LAST (bench). One copy, so that every benchmark
# measures under the same rules: a quiet machine, a private PostgreSQL, a fresh
# confabd per measurement.
# shellcheck shell=bash disable=SC2154  # the caller's settings, named above

# want PART: the part is in --only's comma-separated list.
want() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# make_work TEMPLATE: the work directory, $WORK; PostgreSQL writes in it too.
make_work() {
  WORK=$(mktemp -d "$1")
  chmod 755 "$WORK"
  chown postgres "$WORK"
}

# A loopback port below the ephemeral range that nothing listens on now.
free_port() {
  local low p
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  for _ in $(seq 200); do
    p=$(( 20000 + RANDOM % (low - 20001) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "$ME: no free port" >&2; exit 1
}

# The commit measured, so that figures can be compared across commits.
confab_rev() {
  echo "confab $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
}

machine_line() {
  echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //');" \
       "memory $(free -g | awk '/^Mem:/{print $2}') GiB; kernel $(uname -r)"
}

# psql on the private cluster's chat database.
psqlc() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d confab "$@"; }

# bench_pg_init [INITDB ARGS...]: a new cluster in $PGDATA.
bench_pg_init() {
  mkdir -p "$PGDATA"; chown postgres "$PGDATA"; chmod 700 "$PGDATA"
  runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres --no-sync "$@" >/dev/null
}

# bench_pg_start SERVER_OPTIONS: the cluster on 127.0.0.1:$PGPORT at nice $NICE
# (durability at the defaults: the options only add memory and room for WAL).
bench_pg_start() {
  nice -n "$NICE" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/postgres.log" -w -t 60 \
    -o "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 $1" \
    start >/dev/null
  PGPID=$(head -1 "$PGDATA/postmaster.pid")
}

bench_pg_stop() {
  if [ -f "$PGDATA/postmaster.pid" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
}

remove_work() {
  if [ "$keep" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}

# CPU seconds the whole machine spent busy (all CPUs, /proc/stat).
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
# quiet MAX_WAIT [say]: wait until other processes use below 20 % of a core over
# 2 s, at most $QUIET_WAIT (default MAX_WAIT) seconds; "say" reports the wait.
quiet() {
  local b0 b1 pct waited=0
  while :; do
    b0=$(busy); sleep 2; b1=$(busy)
    pct=$(( (b1 - b0) * 100 / $(getconf CLK_TCK) / 2 ))
    if [ "$pct" -lt 20 ]; then
      [ "${2:-}" = say ] && [ "$waited" -gt 0 ] && echo "   (waited ${waited} s for the machine to be quiet)"
      return 0
    fi
    if [ "$waited" -ge "${QUIET_WAIT:-$1}" ]; then
      echo "   (the machine is busy: other processes use ${pct}% of a core; measuring anyway)"
      return 0
    fi
    waited=$(( waited + 2 ))
  done
}

# bench_run NAME CONFABD ARGS...: one confab-bench run (router mode) against a
# fresh confabd with the caller's write_cfg FILE PORT; the RESULT line goes to
# $results and stays in $LAST. BENCH_REPORT=1 prints the rest of the report;
# BENCH_INDENT indents the note of a run without a result.
bench_run() {
  local name=$1 confabd=$2 port cfg out
  shift 2
  port=$(free_port)
  cfg=$WORK/$name.ini
  write_cfg "$cfg" "$port"
  out=$WORK/$name.out
  nice -n "$NICE" "$BUILD/confab-bench" -c "$cfg" --pg-pid "$PGPID" --label "$name" --quiet "$@" \
    --spawn --spawn-log "$WORK/$name.confabd.log" -- "$confabd" -c "$cfg" -f \
    > "$out" 2> "$WORK/$name.err" || true
  if [ "${BENCH_REPORT:-0}" = 1 ]; then grep -v '^RESULT ' "$out" || true; fi
  LAST=$(grep '^RESULT ' "$out" | sed 's/^RESULT //' || true)
  if [ -z "$LAST" ]; then
    echo "${BENCH_INDENT:-   }(no result; see $WORK/$name.err)"; tail -5 "$WORK/$name.err" >&2
    LAST='{"ok":false}'
  fi
  echo "$LAST" >> "$results"
}
j() { echo "$LAST" | jq -r "$1"; }

# The [muc] lines: bench-muc.ini, where $BENCH_MUC_SET ("key = value" lines)
# replaces the keys it names (a key may be set only once).
muc_lines() {
  local ini keys
  ini="$(dirname "${BASH_SOURCE[0]}")/bench-muc.ini"
  if [ -z "${BENCH_MUC_SET:-}" ]; then cat "$ini"; return; fi
  keys=$(printf '%s\n' "$BENCH_MUC_SET" | sed -n 's/^\([a-z_]*\) *=.*/\1/p' | paste -sd'|')
  grep -Ev "^($keys) *=" "$ini" || true
  printf '%s\n' "$BENCH_MUC_SET"
}

# write_cfg FILE PORT: confabd on $MUC behind confab-bench at PORT, durable
# storage in the private cluster, no per-occupant rate limits, $LOG_LEVEL.
write_cfg() {
  cat > "$1" <<CFG
; generated by scripts/$ME
[component]
domain = $MUC
router = 127.0.0.1:$2
secret = $SECRET
[storage]
dsn = host=127.0.0.1 port=$PGPORT user=postgres dbname=confab
durability = commit
[muc]
$(muc_lines)
[log]
level = $LOG_LEVEL
CFG
}

# big_rooms_sql N: SQL for N idle persistent rooms big0..big<N-1>, each with its
# owner, as a start-up benchmark wants them in the database.
big_rooms_sql() {
  cat <<SQL
INSERT INTO rooms (jid, creator, locked, persistent, logging, name)
SELECT 'big' || g || '@$MUC', 'owner' || g || '@bench.local', false, true, true, 'Room ' || g
FROM generate_series(0, $1 - 1) g;
INSERT INTO affiliations (room_id, jid, affiliation)
SELECT id, creator, 'owner' FROM rooms WHERE jid LIKE 'big%';
VACUUM ANALYZE rooms;
SQL
}

create_chat_db() {
  psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c 'CREATE DATABASE confab'
}

# bench_migrate CONFABCTL: the chat schema, by the confabctl of confabd's build.
bench_migrate() {
  write_cfg "$WORK/migrate.ini" "$(free_port)"
  "$1" -c "$WORK/migrate.ini" db migrate >/dev/null
}
