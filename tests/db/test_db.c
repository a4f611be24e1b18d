/* test_db.c — db.c against a real PostgreSQL (no mocks).
 *
 * Reads CONFAB_TEST_DSN (key=value form); exits 77 (skip) when it is unset.
 * Optional: CONFAB_TEST_PG_STOP / CONFAB_TEST_PG_START (shell commands that stop
 * the server at once and start it again; run with system(), which is fine in a
 * test binary and never done in src/), CONFAB_TEST_SSL_DSN (verify-full, must
 * connect) and CONFAB_TEST_SSL_BAD_DSN (verify-full, certificate does not match).
 * tests/db/run.sh sets all of them up around a private cluster.
 *
 * Each test runs its own uv loop. A second, blocking libpq connection ("side",
 * test code only) checks from outside what the db under test claims. */
#include "compat.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <uv.h>

#include "db.h"
#include "log.h"

static const char *dsn, *pg_stop, *pg_start, *ssl_dsn, *ssl_bad_dsn;
static PGconn *side;
static uv_loop_t loop;
static uv_timer_t tick;
static uv_timer_t once; /* fires test actions from inside the loop */
static uv_timer_t feeder, restarter;
static uv_prepare_t locker;
static uv_timer_t killer;
static bool server_down;

static const struct db_stmt stmts[] = {
    { "ins_kv", "INSERT INTO t_kv (id, v) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", 2 },
    { "get_kv", "SELECT v FROM t_kv WHERE id = $1", 1 },
    { "ins_uniq", "INSERT INTO t_uniq (id, v) VALUES ($1, $2)", 2 },
    { "ins_stream", "INSERT INTO t_stream (id, v) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
      2 },
    { "raise", "SELECT confab_raise($1)", 1 },
    { "flaky", "SELECT confab_flaky($1)", 1 },
    { "suicide", "SELECT pg_terminate_backend(pg_backend_pid())", 0 },
};

/* ---- blocking name lookups on the loop thread ----
 *
 * The test binary defines getaddrinfo, so libpq's calls land here too. A
 * lookup of a name (not AI_NUMERICHOST) on the main thread is one libpq would
 * block the loop with; uv_getaddrinfo's run on the thread pool. */
typedef int gai_fn(const char *, const char *, const struct addrinfo *, struct addrinfo **);
static gai_fn *real_getaddrinfo;
static pthread_t main_thread;
static int loop_lookups;

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    if (node && pthread_equal(pthread_self(), main_thread) &&
        !(hints && (hints->ai_flags & AI_NUMERICHOST)))
        __atomic_add_fetch(&loop_lookups, 1, __ATOMIC_SEQ_CST);
    return real_getaddrinfo(node, service, hints, res);
}

/* ---- harness ---- */

struct harness {
    struct db *db;
    int ups, downs;
    bool up;
    bool stopped;
};
static struct harness H;

static void on_state(void *ud, bool up)
{
    struct harness *h = ud;
    h->up = up;
    if (up)
        h->ups++;
    else
        h->downs++;
}

static void on_done(void *ud)
{
    struct harness *h = ud;
    h->stopped = true;
    h->db = NULL;
}

static void on_tick(uv_timer_t *t)
{
}

/* Run the loop until pred() or ms elapse; a 10 ms ticker keeps it turning. */
static bool run_until(bool (*pred)(void), uint64_t ms)
{
    uv_timer_start(&tick, on_tick, 10, 10);
    uv_update_time(&loop);
    uint64_t end = uv_now(&loop) + ms;
    bool ok;
    while (!(ok = pred()) && uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&tick);
    return ok;
}

static bool never(void)
{
    return false;
}

static bool is_up(void)
{
    return H.up;
}

static bool is_stopped(void)
{
    return H.stopped;
}

static struct db *new_db(const char *d, const struct db_cfg *over, const struct db_stmt *st,
                         size_t n)
{
    struct db_cfg cfg = { 0 };
    if (over)
        cfg = *over;
    cfg.dsn = d;
    if (!cfg.name)
        cfg.name = "test";
    memset(&H, 0, sizeof H);
    H.db = db_new(&loop, &cfg, st, n, on_state, &H);
    assert_non_null(H.db);
    return H.db;
}

static struct db *start_db(const char *d, const struct db_cfg *over)
{
    new_db(d, over, stmts, ARRAY_SIZE(stmts));
    db_start(H.db);
    return H.db;
}

static void stop_db(void)
{
    if (!H.db)
        return;
    db_stop(H.db, on_done);
    assert_true(run_until(is_stopped, 10000));
}

static void pg(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("command failed (%d): %s", rc, cmd);
}

static void server_stop(void)
{
    pg(pg_stop);
    server_down = true;
}

static void server_start(void)
{
    pg(pg_start);
    server_down = false;
}

static int setup(void **state)
{
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_init(&loop, &once);
    uv_timer_init(&loop, &feeder);
    uv_timer_init(&loop, &restarter);
    uv_prepare_init(&loop, &locker);
    uv_timer_init(&loop, &killer);
    return 0;
}

static int teardown(void **state)
{
    stop_db();
    if (server_down)
        server_start();
    uv_close((uv_handle_t *)&tick, NULL);
    uv_close((uv_handle_t *)&once, NULL);
    uv_close((uv_handle_t *)&feeder, NULL);
    uv_close((uv_handle_t *)&restarter, NULL);
    uv_close((uv_handle_t *)&locker, NULL);
    uv_close((uv_handle_t *)&killer, NULL);
    for (int i = 0; i < 1000 && uv_loop_alive(&loop); i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

/* ---- the side connection (blocking, test only) ---- */

/* Run sql on the side connection; after a server restart the first try finds
 * the old connection dead: reconnect and try once more. */
static PGresult *side_query(const char *sql)
{
    PGresult *r = PQexec(side, sql);
    if (PQstatus(side) != CONNECTION_OK) {
        PQclear(r);
        PQreset(side);
        if (PQstatus(side) != CONNECTION_OK)
            fail_msg("side connection: %s", PQerrorMessage(side));
        r = PQexec(side, sql);
    }
    return r;
}

static void side_exec(const char *sql)
{
    PGresult *r = side_query(sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("side: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

static long side_long(const char *fmt, ...) PRINTF(1, 2);
static long side_long(const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *r = side_query(sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("side: %s: %s", sql, PQresultErrorMessage(r));
    long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* ---- result collection ---- */

struct call {
    int n;
    int status;
    int order;
    char sqlstate[6];
    char val[64];
};
static int order_counter;

static void record(struct call *c, const struct db_result *r)
{
    c->n++;
    c->status = r->status;
    c->order = ++order_counter;
    memcpy(c->sqlstate, r->sqlstate, sizeof c->sqlstate);
    c->val[0] = '\0';
    if (r->status == 0) {
        assert_non_null(r->res);
        assert_null(r->message);
        if (PQresultStatus(r->res) == PGRES_TUPLES_OK && PQntuples(r->res) > 0)
            snprintf(c->val, sizeof c->val, "%s", PQgetvalue(r->res, 0, 0));
    } else {
        assert_null(r->res);
        assert_non_null(r->message);
    }
}

static void on_result(void *ud, const struct db_result *r)
{
    record(ud, r);
}

static int exec_id(const char *stmt, long id, const char *v, db_result_cb *cb, void *ud)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%ld", id);
    const char *vals[2] = { ids, v };
    return db_exec(H.db, stmt, v ? 2 : 1, vals, NULL, NULL, cb, ud);
}

static int exec1(const char *stmt, const char *arg, struct call *c)
{
    const char *vals[1] = { arg };
    return db_exec(H.db, stmt, arg ? 1 : 0, vals, NULL, NULL, on_result, c);
}

static struct call *wait_call;
static bool call_done(void)
{
    return wait_call->n > 0;
}

static void wait_for(struct call *c)
{
    wait_call = c;
    assert_true(run_until(call_done, 20000));
}

/* Whether this session's connection is TLS, as the server sees it: want
 * "true" or "false". */
static void expect_ssl(const char *want)
{
    struct call c = { 0 };
    assert_int_equal(db_exec_sql(H.db,
                                 "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                                 0, NULL, NULL, NULL, on_result, &c), 0);
    wait_for(&c);
    assert_int_equal(c.status, 0);
    assert_string_equal(c.val, want);
}

static struct call *batch;
static int batch_n;
static bool batch_done(void)
{
    for (int i = 0; i < batch_n; i++)
        if (!batch[i].n)
            return false;
    return true;
}

/* ---- tests ---- */

static void test_classify(void **state)
{
    assert_int_equal(db_classify("08006"), DB_ERRCLASS_CONNECTION);
    assert_int_equal(db_classify("08001"), DB_ERRCLASS_CONNECTION);
    assert_int_equal(db_classify("08P01"), DB_ERRCLASS_FAIL);
    assert_int_equal(db_classify("57P01"), DB_ERRCLASS_CONNECTION);
    assert_int_equal(db_classify("57P02"), DB_ERRCLASS_CONNECTION);
    assert_int_equal(db_classify("57P03"), DB_ERRCLASS_CONNECTION);
    assert_int_equal(db_classify("57014"), DB_ERRCLASS_FAIL);
    assert_int_equal(db_classify("40001"), DB_ERRCLASS_RETRY);
    assert_int_equal(db_classify("40P01"), DB_ERRCLASS_RETRY);
    assert_int_equal(db_classify("40002"), DB_ERRCLASS_FAIL);
    assert_int_equal(db_classify("53100"), DB_ERRCLASS_RESOURCES);
    assert_int_equal(db_classify("53300"), DB_ERRCLASS_RESOURCES);
    assert_int_equal(db_classify("23505"), DB_ERRCLASS_FAIL);
    assert_int_equal(db_classify(""), DB_ERRCLASS_FAIL);
    assert_int_equal(db_classify(NULL), DB_ERRCLASS_FAIL);
}

static void test_bad_args(void **state)
{
    struct db_cfg cfg = { .dsn = "nosuchoption=1" };
    assert_null(db_new(&loop, &cfg, stmts, 1, NULL, NULL));
    cfg.dsn = "host=127.0.0.1";
    struct db_stmt dup[2] = { { "a", "SELECT 1", 0 }, { "a", "SELECT 2", 0 } };
    assert_null(db_new(&loop, &cfg, dup, 2, NULL, NULL));
    struct db_stmt neg = { "a", "SELECT 1", -1 };
    assert_null(db_new(&loop, &cfg, &neg, 1, NULL, NULL));

    /* Not started: requests wait, the bound holds, db_stop cancels them. */
    struct db_cfg small = { .max_queue = 10 };
    new_db(dsn, &small, stmts, ARRAY_SIZE(stmts));
    struct call c[11] = { 0 };
    assert_int_equal(exec_id("nope", 1, "x", on_result, &c[0]), -ENOENT);
    assert_int_equal(exec_id("ins_kv", 1, NULL, on_result, &c[0]), -EINVAL);
    assert_int_equal(db_exec_sql(H.db, NULL, 0, NULL, NULL, NULL, on_result, &c[0]), -EINVAL);
    const char *v[1] = { "x" };
    const int fmt[1] = { 1 };
    assert_int_equal(db_exec_sql(H.db, "SELECT $1", 1, v, NULL, fmt, on_result, &c[0]), -EINVAL);
    for (int i = 0; i < 10; i++)
        assert_int_equal(exec_id("ins_kv", i, "x", on_result, &c[i]), 0);
    assert_int_equal(exec_id("ins_kv", 10, "x", on_result, &c[10]), -EAGAIN);
    struct db_stats st;
    db_get_stats(H.db, &st);
    assert_int_equal(st.waiting, 10);
    for (int i = 0; i < 11; i++)
        assert_int_equal(c[i].n, 0); /* never inside db_exec */
    db_stop(H.db, on_done);
    /* Cancelled before db_stop returned. */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(c[i].n, 1);
        assert_int_equal(c[i].status, -ECANCELED);
    }
    assert_int_equal(c[10].n, 0);
    assert_int_equal(exec_id("ins_kv", 11, "x", on_result, &c[10]), -ECANCELED);
    assert_false(H.stopped); /* freed from the loop, not inside db_stop */
    assert_true(run_until(is_stopped, 5000));
}

static void test_roundtrip(void **state)
{
    start_db(dsn, NULL);
    /* Queued before the connection is up. */
    struct call ins = { 0 }, get = { 0 }, sql = { 0 }, bin = { 0 }, nul = { 0 }, notice = { 0 };
    assert_int_equal(exec_id("ins_kv", 42, "forty-two", on_result, &ins), 0);
    assert_int_equal(exec_id("get_kv", 42, NULL, on_result, &get), 0);
    assert_false(db_is_up(H.db));
    assert_true(run_until(is_up, 10000));
    assert_true(db_is_up(H.db));
    wait_for(&get);
    assert_int_equal(ins.status, 0);
    assert_int_equal(get.status, 0);
    assert_true(ins.order < get.order);
    assert_string_equal(get.val, "forty-two");

    const char *v[1] = { "41" };
    assert_int_equal(db_exec_sql(H.db, "SELECT $1::int + 1", 1, v, NULL, NULL, on_result, &sql), 0);
    /* Binary parameter with NUL bytes is copied whole. */
    const char raw[3] = { 0, 1, 2 };
    const char *bv[1] = { raw };
    const int blen[1] = { 3 }, bfmt[1] = { 1 };
    assert_int_equal(db_exec_sql(H.db, "SELECT $1::bytea", 1, bv, blen, bfmt, on_result, &bin), 0);
    const char *nv[1] = { NULL };
    assert_int_equal(db_exec_sql(H.db, "SELECT coalesce($1::text, 'null')", 1, nv, NULL, NULL,
                                 on_result, &nul), 0);
    assert_int_equal(db_exec_sql(H.db, "DO $$BEGIN RAISE NOTICE 'hello from the server'; END$$",
                                 0, NULL, NULL, NULL, on_result, &notice), 0);
    wait_for(&notice);
    assert_string_equal(sql.val, "42");
    assert_string_equal(bin.val, "\\x000102");
    assert_string_equal(nul.val, "null");
    assert_int_equal(notice.status, 0);
    assert_int_equal(H.ups, 1);
    assert_int_equal(H.downs, 0);
    struct db_stats st;
    db_get_stats(H.db, &st);
    assert_int_equal(st.ok, 6);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.connects, 1);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.inflight, 0);
}

/* 10,000 inserts issued in one loop turn. */
#define N_BATCH 10000
static long batch_base;
static bool batch_verify;
static uint64_t t_issue, t_last;

static void on_batch_result(void *ud, const struct db_result *r)
{
    struct call *c = ud;
    record(c, r);
    t_last = uv_hrtime();
    long i = c - batch;
    /* The callback says "committed": another session must see the row now,
     * and all of its segment (1000 requests issued in one turn), because a
     * segment commits as a whole. Callbacks fired per result instead of per
     * sync would find the server still executing the rest of the segment. */
    if (batch_verify && (i % 97 == 0 || i == batch_n - 1))
        assert_int_equal(side_long("SELECT count(*) FROM t_kv WHERE id = %ld", batch_base + i), 1);
    if (batch_verify && (i % 1000 == 0 || i == batch_n - 1)) {
        long seg = batch_base + i - i % 1000;
        long end = seg + 1000 < batch_base + batch_n ? seg + 1000 : batch_base + batch_n;
        assert_int_equal(side_long("SELECT count(*) FROM t_kv WHERE id >= %ld AND id < %ld", seg,
                                   end), end - seg);
    }
}

static void issue_batch(uv_timer_t *t)
{
    t_issue = uv_hrtime();
    for (int i = 0; i < batch_n; i++)
        assert_int_equal(exec_id("ins_kv", batch_base + i, "group commit", on_batch_result,
                                 &batch[i]), 0);
}

static void run_batch(long base, bool verify)
{
    batch_base = base;
    batch_verify = verify;
    order_counter = 0;
    memset(batch, 0, (size_t)batch_n * sizeof *batch);
    uv_timer_start(&once, issue_batch, 0, 0);
    assert_true(run_until(batch_done, 60000));
    for (int i = 0; i < batch_n; i++) {
        assert_int_equal(batch[i].n, 1);
        assert_int_equal(batch[i].status, 0);
        assert_int_equal(batch[i].order, i + 1); /* submission order */
    }
}

/* One insert per segment: each is issued from the previous one's callback. */
static int chain_left, chain_done;
static long chain_id;
static void on_chain(void *ud, const struct db_result *r)
{
    assert_int_equal(r->status, 0);
    chain_done++;
    t_last = uv_hrtime();
    if (chain_left-- > 0)
        assert_int_equal(exec_id("ins_kv", chain_id++, "one by one", on_chain, NULL), 0);
}

static bool chain_finished(void)
{
    return chain_left < 0;
}

static void test_group_commit(void **state)
{
    start_db(dsn, NULL);
    assert_true(run_until(is_up, 10000));
    side_exec("TRUNCATE t_kv");
    batch_n = N_BATCH;
    batch = calloc(N_BATCH, sizeof *batch);

    struct db_stats s0, s1;
    db_get_stats(H.db, &s0);
    run_batch(1000000, false);
    db_get_stats(H.db, &s1);
    double ms = (double)(t_last - t_issue) / 1e6;
    uint64_t segs = s1.segments - s0.segments;
    printf("# %d inserts issued in one loop turn: %.1f ms, %.0f inserts/s, %" PRIu64
           " segments\n", N_BATCH, ms, N_BATCH / (ms / 1000), segs);
    assert_int_equal(segs, (N_BATCH + 999) / 1000); /* max_segment 1000 */
    assert_int_equal(side_long("SELECT count(*) FROM t_kv WHERE id >= 1000000"), N_BATCH);

    /* Again, checking from another session inside the callbacks. */
    db_get_stats(H.db, &s0);
    run_batch(2000000, true);
    db_get_stats(H.db, &s1);
    assert_true(s1.segments - s0.segments <= 12);
    assert_int_equal(side_long("SELECT count(*) FROM t_kv WHERE id >= 2000000"), N_BATCH);

    /* The same, one insert per segment (one commit each). */
    int n1 = 2000;
    db_get_stats(H.db, &s0);
    chain_left = n1 - 1;
    chain_done = 0;
    chain_id = 3000000;
    t_issue = uv_hrtime();
    assert_int_equal(exec_id("ins_kv", chain_id++, "one by one", on_chain, NULL), 0);
    assert_true(run_until(chain_finished, 60000));
    db_get_stats(H.db, &s1);
    ms = (double)(t_last - t_issue) / 1e6;
    printf("# %d inserts one per segment: %.1f ms, %.0f inserts/s, %" PRIu64 " segments\n",
           n1, ms, n1 / (ms / 1000), s1.segments - s0.segments);
    assert_int_equal(chain_done, n1);
    assert_int_equal(s1.segments - s0.segments, (uint64_t)n1);
    assert_int_equal(side_long("SELECT count(*) FROM t_kv WHERE id >= 3000000"), n1);
    free(batch);
    batch = NULL;
}

/* Unique violation without ON CONFLICT: it fails alone. */
static int dup_index[2];
static long uniq_base;
static void on_uniq_result(void *ud, const struct db_result *r)
{
    struct call *c = ud;
    record(c, r);
    if (r->status != 0) {
        /* Its segment was rolled back and the neighbours are not resent yet:
         * only the pre-existing rows are visible. */
        assert_int_equal(side_long("SELECT count(*) FROM t_uniq WHERE id >= %ld AND id < %ld",
                                   uniq_base, uniq_base + batch_n), 2);
        assert_non_null(strstr(r->message, "duplicate key"));
    }
}

static void issue_uniq(uv_timer_t *t)
{
    for (int i = 0; i < batch_n; i++)
        assert_int_equal(exec_id("ins_uniq", uniq_base + i, "u", on_uniq_result, &batch[i]), 0);
}

static void test_one_failure(void **state)
{
    start_db(dsn, NULL);
    assert_true(run_until(is_up, 10000));
    side_exec("TRUNCATE t_uniq");
    uniq_base = 100;
    dup_index[0] = 50;
    dup_index[1] = 80;
    side_exec("INSERT INTO t_uniq VALUES (150, 'pre'), (180, 'pre')");
    batch_n = 100;
    batch = calloc((size_t)batch_n, sizeof *batch);
    struct db_stats s0, s1;
    db_get_stats(H.db, &s0);
    uv_timer_start(&once, issue_uniq, 0, 0);
    assert_true(run_until(batch_done, 20000));
    db_get_stats(H.db, &s1);
    for (int i = 0; i < batch_n; i++) {
        assert_int_equal(batch[i].n, 1);
        if (i == dup_index[0] || i == dup_index[1]) {
            assert_int_equal(batch[i].status, -EIO);
            assert_string_equal(batch[i].sqlstate, "23505");
        } else {
            assert_int_equal(batch[i].status, 0);
        }
    }
    /* Segment 1 fails at #50 (49 rolled back, 50 skipped, resent), segment 2
     * fails at #80, segment 3 commits the remaining 98. */
    assert_int_equal(s1.segments - s0.segments, 3);
    assert_int_equal(s1.failed - s0.failed, 2);
    assert_int_equal(s1.ok - s0.ok, 98);
    assert_int_equal(s1.retried - s0.retried, 99 + 98);
    assert_int_equal(side_long("SELECT count(*) FROM t_uniq"), 100);
    assert_int_equal(side_long("SELECT count(*) FROM t_uniq WHERE v = 'pre'"), 2);
    free(batch);
    batch = NULL;
}

static void test_error_classes(void **state)
{
    struct db_cfg cfg = { .max_attempts = 3, .reconnect_min_ms = 20, .reconnect_max_ms = 100 };
    start_db(dsn, &cfg);
    assert_true(run_until(is_up, 10000));
    struct db_stats s0, s1;

    /* 40001 once, then success: retried, the caller sees success. */
    side_exec("ALTER SEQUENCE confab_flaky_seq RESTART WITH 1");
    struct call c = { 0 };
    db_get_stats(H.db, &s0);
    assert_int_equal(exec1("flaky", "40001", &c), 0);
    wait_for(&c);
    db_get_stats(H.db, &s1);
    assert_int_equal(c.status, 0);
    assert_int_equal(s1.retried - s0.retried, 1);

    /* Deadlock every time: retried max_attempts times, then reported. */
    memset(&c, 0, sizeof c);
    db_get_stats(H.db, &s0);
    assert_int_equal(exec1("raise", "40P01", &c), 0);
    wait_for(&c);
    db_get_stats(H.db, &s1);
    assert_int_equal(c.status, -EIO);
    assert_string_equal(c.sqlstate, "40P01");
    assert_int_equal(s1.statements - s0.statements, 3);

    /* Disk full: fails the request, keeps the connection. */
    memset(&c, 0, sizeof c);
    assert_int_equal(exec1("raise", "53100", &c), 0);
    wait_for(&c);
    assert_int_equal(c.status, -ENOSPC);
    assert_string_equal(c.sqlstate, "53100");
    memset(&c, 0, sizeof c);
    assert_int_equal(exec1("raise", "22012", &c), 0);
    wait_for(&c);
    assert_int_equal(c.status, -EIO);
    assert_string_equal(c.sqlstate, "22012");
    memset(&c, 0, sizeof c);
    assert_int_equal(db_exec_sql(H.db, "SELEC 1", 0, NULL, NULL, NULL, on_result, &c), 0);
    wait_for(&c);
    assert_int_equal(c.status, -EIO);
    assert_string_equal(c.sqlstate, "42601");
    db_get_stats(H.db, &s1);
    assert_int_equal(s1.losses, 0);
    assert_int_equal(s1.connects, 1);

    /* A statement that kills its own backend (57P01): the connection is
     * re-made and the statement resent, until max_attempts; then it fails
     * with "outcome unknown" and the db carries on. */
    memset(&c, 0, sizeof c);
    assert_int_equal(exec1("suicide", NULL, &c), 0);
    wait_for(&c);
    assert_int_equal(c.status, -ECONNRESET);
    db_get_stats(H.db, &s1);
    assert_int_equal(s1.losses, 3);
    assert_int_equal(H.downs, 3);
    assert_non_null(strstr(db_last_error(H.db), "57P01"));
    assert_true(run_until(is_up, 10000));
    memset(&c, 0, sizeof c);
    assert_int_equal(exec_id("get_kv", 42, NULL, on_result, &c), 0);
    wait_for(&c);
    assert_int_equal(c.status, 0);
}

/* The server ends an idle connection (pg_terminate_backend from elsewhere):
 * one line with the reason, reconnect, carry on. (An idle pipeline-mode
 * connection does not parse the server's FATAL message, so the reason is
 * libpq's "server closed the connection unexpectedly".) */
static bool is_down(void)
{
    return H.downs > 0;
}

static bool is_up_again(void)
{
    return H.ups >= 2 && H.up;
}

static void test_idle_terminated(void **state)
{
    char d[600];
    snprintf(d, sizeof d, "%s application_name=confab_idle_test", dsn);
    struct db_cfg cfg = { .reconnect_min_ms = 20, .reconnect_max_ms = 100 };
    start_db(d, &cfg);
    assert_true(run_until(is_up, 10000));
    assert_int_equal(side_long("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE application_name = 'confab_idle_test'"), 1);
    assert_true(run_until(is_down, 5000));
    printf("# idle connection terminated: %s\n", db_last_error(H.db));
    assert_non_null(strstr(db_last_error(H.db), "server closed the connection"));
    assert_true(run_until(is_up_again, 5000));
    struct call c = { 0 };
    assert_int_equal(exec_id("get_kv", 42, NULL, on_result, &c), 0);
    wait_for(&c);
    assert_int_equal(c.status, 0);
    struct db_stats st;
    db_get_stats(H.db, &st);
    assert_int_equal(st.losses, 1);
    assert_int_equal(st.connects, 2);
}

static void test_prepare_failure(void **state)
{
    const struct db_stmt st[] = {
        { "ins_kv", "INSERT INTO t_kv (id, v) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", 2 },
        { "broken", "SELECT * FROM confab_no_such_table WHERE x = $1", 1 },
        { "get_kv", "SELECT v FROM t_kv WHERE id = $1", 1 },
    };
    new_db(dsn, NULL, st, ARRAY_SIZE(st));
    db_start(H.db);
    assert_true(run_until(is_up, 10000));
    struct call a = { 0 }, b = { 0 }, c = { 0 };
    assert_int_equal(exec_id("ins_kv", 7, "seven", on_result, &a), 0);
    assert_int_equal(exec_id("broken", 7, NULL, on_result, &b), 0);
    assert_int_equal(exec_id("get_kv", 7, NULL, on_result, &c), 0);
    wait_for(&c);
    wait_for(&b);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, -EIO);
    assert_string_equal(b.sqlstate, "42P01");
    assert_int_equal(c.status, 0);
    assert_string_equal(c.val, "seven");

    /* A transaction using it fails whole without being sent. */
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    const char *va[2] = { "8", "eight" }, *vb[1] = { "8" };
    const struct db_op ops[2] = {
        { .stmt = "ins_kv", .nparams = 2, .values = va, .cb = on_result, .ud = &a },
        { .stmt = "broken", .nparams = 1, .values = vb, .cb = on_result, .ud = &b },
    };
    assert_int_equal(db_exec_atomic(H.db, ops, 2), 0);
    wait_for(&b);
    assert_int_equal(a.status, -EIO);
    assert_string_equal(a.sqlstate, "42P01");
    assert_int_equal(b.status, -EIO);
    assert_int_equal(side_long("SELECT count(*) FROM t_kv WHERE id = 8"), 0);

    /* The table appears (a migration, a repair): a second later the statement
     * is prepared again on first use, and that use waits for it and works. */
    side_exec("CREATE TABLE confab_no_such_table (x int)");
    side_exec("INSERT INTO confab_no_such_table VALUES (7)");
    (void)run_until(never, 1100);
    memset(&b, 0, sizeof b);
    assert_int_equal(exec_id("broken", 7, NULL, on_result, &b), 0);
    wait_for(&b);
    assert_int_equal(b.status, 0);
    assert_string_equal(b.val, "7");
    side_exec("DROP TABLE confab_no_such_table");
}

/* db_exec_atomic: a unit that commits or fails whole, retried whole. */
static struct call tx[3], single[2];
static long tx_base;
static const char *tx_third; /* the SQLSTATE confab_flaky raises */

static void issue_tx(uv_timer_t *t)
{
    long base = tx_base;
    char id0[32], id1[32], ids[32];
    snprintf(id0, sizeof id0, "%ld", base);
    snprintf(id1, sizeof id1, "%ld", base + 1);
    snprintf(ids, sizeof ids, "%ld", base + 100);
    const char *v0[2] = { id0, "tx" }, *v1[2] = { id1, "tx" }, *vs[2] = { ids, "single" };
    const char *v2[1] = { tx_third };
    /* A plain request before and after: they do not share the segment. */
    assert_int_equal(db_exec(H.db, "ins_uniq", 2, vs, NULL, NULL, on_result, &single[0]), 0);
    const struct db_op ops[3] = {
        { .stmt = "ins_uniq", .nparams = 2, .values = v0, .cb = on_result, .ud = &tx[0] },
        { .stmt = "ins_uniq", .nparams = 2, .values = v1, .cb = on_result, .ud = &tx[1] },
        { .sql = "SELECT confab_flaky($1)", .nparams = 1, .values = v2, .cb = on_result,
          .ud = &tx[2] },
    };
    assert_int_equal(db_exec_atomic(H.db, ops, 3), 0);
    snprintf(ids, sizeof ids, "%ld", base + 101);
    assert_int_equal(db_exec(H.db, "ins_uniq", 2, vs, NULL, NULL, on_result, &single[1]), 0);
}

static bool tx_done(void)
{
    return tx[0].n && tx[1].n && tx[2].n && single[0].n && single[1].n;
}

static void run_tx(long base, const char *third)
{
    memset(tx, 0, sizeof tx);
    memset(single, 0, sizeof single);
    order_counter = 0;
    tx_base = base;
    tx_third = third;
    uv_timer_start(&once, issue_tx, 0, 0);
    assert_true(run_until(tx_done, 20000));
    assert_int_equal(single[0].status, 0);
    assert_int_equal(single[1].status, 0);
}

static void test_atomic(void **state)
{
    struct db_cfg cfg = { .max_attempts = 3 };
    start_db(dsn, &cfg);
    assert_true(run_until(is_up, 10000));
    side_exec("TRUNCATE t_uniq");
    struct db_stats s0, s1;

    /* Commits, in one segment with the plain requests around it. */
    side_exec("ALTER SEQUENCE confab_flaky_seq RESTART WITH 2"); /* even: passes */
    db_get_stats(H.db, &s0);
    run_tx(1000, "40001");
    db_get_stats(H.db, &s1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tx[i].status, 0);
    assert_true(tx[0].order < tx[1].order && tx[1].order < tx[2].order);
    assert_int_equal(s1.segments - s0.segments, 1);
    assert_int_equal(side_long("SELECT count(*) FROM t_uniq WHERE id IN (1000, 1001)"), 2);

    /* 40001 in the transaction: sent again as a whole (the plain requests
     * were rolled back with it and go again too); rows once. */
    side_exec("ALTER SEQUENCE confab_flaky_seq RESTART WITH 1"); /* odd: fails once */
    db_get_stats(H.db, &s0);
    run_tx(2000, "40001");
    db_get_stats(H.db, &s1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tx[i].status, 0);
    assert_int_equal(s1.retried - s0.retried, 5);
    assert_int_equal(s1.segments - s0.segments, 2);
    assert_int_equal(side_long("SELECT count(*) FROM t_uniq WHERE id IN (2000, 2001)"), 2);

    /* A failure anywhere in it fails all of it, and nothing of it commits;
     * the plain requests around it are resent and commit. */
    side_exec("ALTER SEQUENCE confab_flaky_seq RESTART WITH 1");
    run_tx(3000, "22012"); /* division_by_zero: not retried */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tx[i].status, -EIO);
        assert_string_equal(tx[i].sqlstate, "22012");
    }
    assert_int_equal(side_long("SELECT count(*) FROM t_uniq WHERE id IN (3000, 3001)"), 0);
    assert_int_equal(side_long("SELECT count(*) FROM t_uniq WHERE id IN (3100, 3101)"), 2);

    /* A unique violation in the middle. */
    side_exec("INSERT INTO t_uniq VALUES (4001, 'pre')");
    side_exec("ALTER SEQUENCE confab_flaky_seq RESTART WITH 2");
    run_tx(4000, "40001");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tx[i].status, -EIO);
        assert_string_equal(tx[i].sqlstate, "23505");
    }
    assert_int_equal(side_long("SELECT count(*) FROM t_uniq WHERE id = 4000"), 0);

    /* Bad input queues nothing. */
    const struct db_op bad[2] = {
        { .stmt = "get_kv", .nparams = 1, .values = (const char *const[]){ "1" } },
        { .stmt = "nope" },
    };
    assert_int_equal(db_exec_atomic(H.db, bad, 2), -ENOENT);
    const struct db_op both = { .stmt = "get_kv", .sql = "SELECT 1" };
    assert_int_equal(db_exec_atomic(H.db, &both, 1), -EINVAL);
    assert_int_equal(db_exec_atomic(H.db, bad, 0), -EINVAL);
    struct db_stats st;
    db_get_stats(H.db, &st);
    assert_int_equal(st.waiting, 0);
}

/* A unit is never split, even beyond max_segment. */
static struct call big[5];
static void issue_big(uv_timer_t *t)
{
    char ids[5][16];
    const char *v[5][2];
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof ids[i], "%d", 7000 + i);
        v[i][0] = ids[i];
        v[i][1] = "big";
    }
    assert_int_equal(db_exec(H.db, "ins_kv", 2, v[0], NULL, NULL, on_result, &big[0]), 0);
    struct db_op ops[3];
    for (int i = 0; i < 3; i++)
        ops[i] = (struct db_op){ .stmt = "ins_kv", .nparams = 2, .values = v[i + 1],
                                 .cb = on_result, .ud = &big[i + 1] };
    assert_int_equal(db_exec_atomic(H.db, ops, 3), 0);
    assert_int_equal(db_exec(H.db, "ins_kv", 2, v[4], NULL, NULL, on_result, &big[4]), 0);
}

static void test_atomic_unsplit(void **state)
{
    struct db_cfg cfg = { .max_segment = 2 };
    start_db(dsn, &cfg);
    assert_true(run_until(is_up, 10000));
    memset(big, 0, sizeof big);
    batch = big;
    batch_n = 5;
    struct db_stats s0, s1;
    db_get_stats(H.db, &s0);
    uv_timer_start(&once, issue_big, 0, 0);
    assert_true(run_until(batch_done, 10000));
    db_get_stats(H.db, &s1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(big[i].status, 0);
    /* [single + unit of 3] then [single] */
    assert_int_equal(s1.segments - s0.segments, 2);
    batch = NULL;
}

/* db_stop from inside a result callback, with thousands in flight. */
static bool stop_called;
static void on_result_stop(void *ud, const struct db_result *r)
{
    record(ud, r);
    if (!stop_called) {
        stop_called = true;
        db_stop(H.db, on_done);
        db_stop(H.db, on_done); /* ignored */
        assert_int_equal(exec_id("ins_kv", 1, "x", on_result, NULL), -ECANCELED);
    }
}

static void issue_stop_batch(uv_timer_t *t)
{
    for (int i = 0; i < batch_n; i++)
        assert_int_equal(exec_id("ins_kv", 5000000 + i, "s", on_result_stop, &batch[i]), 0);
}

static void test_stop(void **state)
{
    start_db(dsn, NULL);
    assert_true(run_until(is_up, 10000));
    batch_n = 3000;
    batch = calloc((size_t)batch_n, sizeof *batch);
    stop_called = false;
    uv_timer_start(&once, issue_stop_batch, 0, 0);
    assert_true(run_until(is_stopped, 20000));
    int ok = 0, cancelled = 0;
    for (int i = 0; i < batch_n; i++) {
        assert_int_equal(batch[i].n, 1);
        if (batch[i].status == 0)
            ok++;
        else if (batch[i].status == -ECANCELED)
            cancelled++;
    }
    printf("# stop from a callback: %d completed, %d cancelled\n", ok, cancelled);
    assert_int_equal(ok + cancelled, batch_n);
    assert_true(ok >= 1);
    assert_true(cancelled >= 1);
    free(batch);
    batch = NULL;
}

/* A server that accepts TCP but never answers: our own deadline fires. */
static void test_connect_timeout(void **state)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char d[200];
    snprintf(d, sizeof d, "host=127.0.0.1 port=%u user=x dbname=x sslmode=disable",
             ntohs(sa.sin_port));
    struct db_cfg cfg = { .connect_timeout_ms = 200, .reconnect_min_ms = 50,
                          .reconnect_max_ms = 100 };
    start_db(d, &cfg);
    assert_false(run_until(is_up, 1000));
    struct db_stats st;
    db_get_stats(H.db, &st);
    assert_true(st.connect_failures >= 2);
    assert_int_equal(H.ups, 0);
    assert_non_null(strstr(db_last_error(H.db), "not ready within 200 ms"));
    stop_db();
    close(fd);
}

/* libpq moves to a new socket in the middle of an attempt: with
 * sslmode=prefer and a root certificate that did not sign the server's, the
 * TLS handshake fails and libpq retries without TLS on a new connection (the
 * new socket may get the old fd number). */
static void test_socket_change(void **state)
{
    const char *other_ca = getenv("CONFAB_TEST_OTHER_CA");
    if (!ssl_dsn || !other_ca)
        skip();
    char d[700];
    snprintf(d, sizeof d, "%s sslmode=prefer sslrootcert=%s", dsn, other_ca);
    start_db(d, NULL);
    assert_true(run_until(is_up, 10000));
    struct db_stats st;
    db_get_stats(H.db, &st);
    assert_int_equal(st.connect_failures, 0);
    expect_ssl("false"); /* fell back to the second, plain socket */
}

static void test_dns(void **state)
{
    char d[600];
    /* key=value: a later key wins, so this overrides the DSN's host. */
    snprintf(d, sizeof d, "%s host=localhost", dsn);
    /* Control: libpq on its own looks "localhost" up on the calling thread. */
    loop_lookups = 0;
    PGconn *pq = PQconnectStart(d);
    PQfinish(pq);
    assert_true(loop_lookups > 0);
    loop_lookups = 0;
    start_db(d, NULL);
    assert_true(run_until(is_up, 10000));
    assert_int_equal(loop_lookups, 0);
    struct call c = { 0 };
    assert_int_equal(exec_id("get_kv", 42, NULL, on_result, &c), 0);
    wait_for(&c);
    assert_int_equal(c.status, 0);
    stop_db();

    /* Stopped while the lookup runs on the thread pool: the db is freed only
     * after the lookup came back (cancelled or not). */
    start_db(d, NULL);
    db_stop(H.db, on_done);
    assert_true(run_until(is_stopped, 5000));

    /* The first name does not resolve, the second does. */
    snprintf(d, sizeof d, "%s host=nonexistent.invalid,localhost", dsn);
    start_db(d, NULL);
    assert_true(run_until(is_up, 10000));
    stop_db();
    assert_int_equal(loop_lookups, 0);

    /* Mixed list: a socket directory without a server (fails at once, libpq
     * goes on), the default socket (""), then a name; a port per host. */
    char port[16] = "5432";
    const char *pp = strstr(dsn, "port=");
    if (pp)
        sscanf(pp + 5, "%15[0-9]", port);
    snprintf(d, sizeof d, "%s host=/nonexistent-confab-dir,,localhost port=%s,%s,%s", dsn, port,
             port, port);
    start_db(d, NULL);
    assert_true(run_until(is_up, 10000));
    stop_db();
    assert_int_equal(loop_lookups, 0);

    /* Nothing resolves: our resolver says so (libpq's would say "could not
     * translate host name"). */
    snprintf(d, sizeof d, "%s host=nonexistent.invalid", dsn);
    struct db_cfg cfg = { .connect_timeout_ms = 3000, .reconnect_min_ms = 100 };
    start_db(d, &cfg);
    assert_false(run_until(is_up, 1000));
    const char *e = db_last_error(H.db);
    printf("# unresolvable host: %s\n", e);
    assert_true(strstr(e, "cannot resolve nonexistent.invalid") ||
                strstr(e, "nonexistent.invalid has no address"));
    assert_int_equal(loop_lookups, 0);
}

static void test_verify_full(void **state)
{
    if (!ssl_dsn || !ssl_bad_dsn)
        skip();
    loop_lookups = 0;
    start_db(ssl_dsn, NULL); /* host=localhost */
    assert_true(run_until(is_up, 10000));
    assert_int_equal(loop_lookups, 0);
    expect_ssl("true");
    stop_db();

    /* Same server by IP address: the certificate names only "localhost". */
    struct db_cfg cfg = { .reconnect_min_ms = 100 };
    start_db(ssl_bad_dsn, &cfg);
    assert_false(run_until(is_up, 1000));
    printf("# verify-full, wrong name: %s\n", db_last_error(H.db));
    assert_non_null(strstr(db_last_error(H.db), "does not match host name"));
}

/* Server down at start: never up, retries with backoff; then it starts. */
static void test_refused_then_up(void **state)
{
    if (!pg_stop || !pg_start)
        skip();
    server_stop();
    struct db_cfg cfg = { .reconnect_min_ms = 50, .reconnect_max_ms = 400 };
    start_db(dsn, &cfg);
    batch_n = 100;
    batch = calloc((size_t)batch_n, sizeof *batch);
    for (int i = 0; i < batch_n; i++)
        assert_int_equal(exec_id("ins_kv", 6000000 + i, "late", on_result, &batch[i]), 0);
    assert_false(run_until(never, 1500));
    struct db_stats st;
    db_get_stats(H.db, &st);
    printf("# server down for 1.5 s: %" PRIu64 " attempts; last error: %s\n",
           st.connect_failures, db_last_error(H.db));
    assert_int_equal(H.ups, 0);
    assert_false(db_is_up(H.db));
    /* 50 ms doubling to a 400 ms cap (equal jitter): about 5 to 9 attempts in
     * 1.5 s; without backoff there would be 30. */
    assert_true(st.connect_failures >= 3 && st.connect_failures <= 12);
    assert_non_null(strstr(db_last_error(H.db), "refused"));
    assert_int_equal(st.waiting, 100);
    for (int i = 0; i < batch_n; i++)
        assert_int_equal(batch[i].n, 0);

    server_start();
    assert_true(run_until(batch_done, 15000));
    assert_int_equal(H.ups, 1);
    for (int i = 0; i < batch_n; i++)
        assert_int_equal(batch[i].status, 0);
    assert_int_equal(side_long("SELECT count(*) FROM t_kv WHERE id >= 6000000 AND id < 6000100"),
                     100);
    free(batch);
    batch = NULL;
}

/* pg_ctl stop -m immediate in the middle of a stream, start again: every
 * request completes exactly once and every row is there exactly once. */
#define N_STREAM 20000
static unsigned char *seen;
static int stream_next, stream_done, stream_bad;
static bool killed;
static uint64_t inflight_at_kill;

static void on_restart(uv_timer_t *t)
{
    server_start();
}

static void on_stream_result(void *ud, const struct db_result *r)
{
    long i = (long)(intptr_t)ud;
    seen[i]++;
    stream_done++;
    if (r->status != 0)
        stream_bad++;
}

/* Once a quarter of the stream is through, another session locks the table:
 * what is sent from then on waits in the server, uncommitted. 200 ms later the
 * server dies with those segments in flight. */
static void on_kill(uv_timer_t *t)
{
    struct db_stats st;
    db_get_stats(H.db, &st);
    inflight_at_kill = st.inflight;
    killed = true;
    server_stop();
    uv_timer_start(&restarter, on_restart, 500, 0);
}

static void on_locker(uv_prepare_t *p)
{
    if (stream_done < N_STREAM / 4)
        return;
    uv_prepare_stop(p);
    side_exec("BEGIN");
    side_exec("LOCK TABLE t_stream IN ACCESS EXCLUSIVE MODE");
    uv_timer_start(&killer, on_kill, 200, 0);
}

/* 100 requests a millisecond; every 50th id starts a two-row transaction. */
static void on_feed(uv_timer_t *t)
{
    for (int k = 0; k < 100 && stream_next < N_STREAM; k++) {
        if (stream_next % 50 == 0 && stream_next + 1 < N_STREAM) {
            char a[32], b[32];
            snprintf(a, sizeof a, "%d", stream_next);
            snprintf(b, sizeof b, "%d", stream_next + 1);
            const char *va[2] = { a, "tx" }, *vb[2] = { b, "tx" };
            const struct db_op ops[2] = {
                { .stmt = "ins_stream", .nparams = 2, .values = va, .cb = on_stream_result,
                  .ud = (void *)(intptr_t)stream_next },
                { .stmt = "ins_stream", .nparams = 2, .values = vb, .cb = on_stream_result,
                  .ud = (void *)(intptr_t)(stream_next + 1) },
            };
            assert_int_equal(db_exec_atomic(H.db, ops, 2), 0);
            stream_next += 2;
            k++;
            continue;
        }
        assert_int_equal(exec_id("ins_stream", stream_next, "stream", on_stream_result,
                                 (void *)(intptr_t)stream_next), 0);
        stream_next++;
    }
    if (stream_next == N_STREAM)
        uv_timer_stop(t);
}

static bool stream_finished(void)
{
    return stream_done >= N_STREAM;
}

static void test_kill_midstream(void **state)
{
    if (!pg_stop || !pg_start)
        skip();
    side_exec("TRUNCATE t_stream");
    struct db_cfg cfg = { .reconnect_min_ms = 50, .reconnect_max_ms = 500 };
    start_db(dsn, &cfg);
    assert_true(run_until(is_up, 10000));
    seen = calloc(N_STREAM, 1);
    stream_next = stream_done = stream_bad = 0;
    killed = false;
    uv_timer_start(&feeder, on_feed, 1, 1);
    uv_prepare_start(&locker, on_locker);
    assert_true(run_until(stream_finished, 60000));
    uv_timer_stop(&feeder);
    struct db_stats st;
    db_get_stats(H.db, &st);
    printf("# kill -m immediate with %" PRIu64 " in flight: %" PRIu64 " losses, %" PRIu64
           " connects, %" PRIu64 " resent, %" PRIu64 " segments\n", inflight_at_kill, st.losses,
           st.connects, st.retried, st.segments);
    assert_true(killed);
    assert_int_equal(stream_bad, 0);
    for (int i = 0; i < N_STREAM; i++)
        if (seen[i] != 1)
            fail_msg("request %d called back %d times", i, seen[i]);
    assert_true(st.losses >= 1);
    assert_true(st.connects >= 2);
    assert_true(inflight_at_kill > 0);
    assert_true(st.retried >= inflight_at_kill); /* uncommitted: all sent again */
    assert_true(H.downs >= 1);
    assert_int_equal(side_long("SELECT count(*) FROM t_stream"), N_STREAM);
    assert_int_equal(side_long("SELECT count(*) FROM t_stream WHERE v = 'tx'"), N_STREAM / 50 * 2);
    assert_int_equal(side_long("SELECT count(DISTINCT id) FROM t_stream WHERE id >= 0 AND id < %d",
                               N_STREAM), N_STREAM);
    free(seen);
}

static void quiet(void *arg, const char *msg)
{
}

static int group_setup(void **state)
{
    side = PQconnectdb(dsn);
    if (PQstatus(side) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to CONFAB_TEST_DSN: %s", PQerrorMessage(side));
        return -1;
    }
    PQsetNoticeProcessor(side, quiet, NULL);
    side_exec("SET client_min_messages = warning");
    side_exec("DROP TABLE IF EXISTS t_kv, t_uniq, t_stream");
    side_exec("CREATE TABLE t_kv (id bigint PRIMARY KEY, v text)");
    side_exec("CREATE TABLE t_uniq (id bigint PRIMARY KEY, v text)");
    side_exec("CREATE TABLE t_stream (id bigint PRIMARY KEY, v text)");
    side_exec("DROP SEQUENCE IF EXISTS confab_flaky_seq");
    side_exec("CREATE SEQUENCE confab_flaky_seq");
    side_exec("CREATE OR REPLACE FUNCTION confab_raise(code text) RETURNS int LANGUAGE plpgsql "
              "AS $$BEGIN RAISE EXCEPTION 'raised %', code USING ERRCODE = code; END$$");
    /* Fails on odd calls; sequences are not rolled back, so a retry passes. */
    side_exec("CREATE OR REPLACE FUNCTION confab_flaky(code text) RETURNS int LANGUAGE plpgsql "
              "AS $$BEGIN IF nextval('confab_flaky_seq') % 2 = 1 THEN "
              "RAISE EXCEPTION 'flaky' USING ERRCODE = code; END IF; RETURN 1; END$$");
    return 0;
}

static int group_teardown(void **state)
{
    PQfinish(side);
    return 0;
}

int main(void)
{
    main_thread = pthread_self();
    real_getaddrinfo = (gai_fn *)dlsym(RTLD_NEXT, "getaddrinfo");
    if (!real_getaddrinfo) {
        fprintf(stderr, "dlsym(getaddrinfo) failed\n");
        return 99;
    }
    dsn = getenv("CONFAB_TEST_DSN");
    if (!dsn || !*dsn) {
        fprintf(stderr, "CONFAB_TEST_DSN is not set: skipped (tests/db/run.sh sets it up)\n");
        return 77;
    }
    pg_stop = getenv("CONFAB_TEST_PG_STOP");
    pg_start = getenv("CONFAB_TEST_PG_START");
    ssl_dsn = getenv("CONFAB_TEST_SSL_DSN");
    ssl_bad_dsn = getenv("CONFAB_TEST_SSL_BAD_DSN");
    enum log_level lvl = LOG_WARN;
    const char *ls = getenv("CONFAB_TEST_LOG");
    if (ls)
        (void)log_level_parse(ls, &lvl);
    log_set_level(lvl);
    log_set_ident("test_db");
    setvbuf(stdout, NULL, _IOLBF, 0);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_terminated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_unsplit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_then_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_midstream, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
