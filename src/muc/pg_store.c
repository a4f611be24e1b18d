/* pg_store.c — the PostgreSQL store: its connections, its ops table, start and stop.
 *
 * Every statement is prepared, parameterised and idempotent (db.c may run a
 * statement again after a lost connection). The statements live with their
 * concern: pg_store_room.c, pg_store_msg.c, pg_store_mam.c, pg_store_outbox.c,
 * pg_store_retention.c. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "pg_store_int.h"

static const struct db_stmt core_stmts[] = {
    { "barrier", "SELECT 1", 0 },
};
static const size_t core_nstmts = ARRAY_SIZE(core_stmts);

void pg_store_log_failure(const char *what, const struct db_result *r)
{
    log_error("store: %s failed: %s (SQLSTATE %s)", what, r->message ? r->message : "unknown",
              r->sqlstate);
}

void pg_store_on_write(void *ud, const struct db_result *r)
{
    if (r->status < 0)
        pg_store_log_failure(ud, r);
}

static void exec_on(struct db *db, const char *stmt, int n, const char *const *v,
                    db_result_cb *cb, void *ud)
{
    int rc = db_exec(db, stmt, n, v, NULL, NULL, cb, ud);
    if (rc < 0) {
        struct db_result r = { .status = rc, .message = "the database queue is full" };
        cb(ud, &r);
    }
}

/* The reader, or while it is not up (it connects a moment after the writer at
 * start-up, or it alone was cut off) the writer: a read must not be refused
 * while one connection can serve it. */
static struct db *reader(struct pg_store *s)
{
    return db_is_up(s->rdb) || !db_is_up(s->db) ? s->rdb : s->db;
}

bool pg_store_can_read(struct pg_store *s)
{
    return s->ready && (db_is_up(s->rdb) || db_is_up(s->db));
}

void pg_store_exec_read(struct pg_store *s, const char *stmt, int n, const char *const *v,
                        db_result_cb *cb, void *ud)
{
    exec_on(reader(s), stmt, n, v, cb, ud);
}

void pg_store_exec(struct pg_store *s, const char *stmt, int n, const char *const *v,
                   db_result_cb *cb, void *ud)
{
    exec_on(s->db, stmt, n, v, cb, ud);
}

static bool available(void *st)
{
    struct pg_store *s = st;
    return s->ready && db_is_up(s->db);
}

/* ---- lifecycle ---- */

static void on_db_state(void *ud, bool up)
{
    struct pg_store *s = ud;
    if (up && s->ready && s->on_up)
        s->on_up(s->event_ud);
    if (s->ready)
        log_info("store: chat database %s", up ? "available" : "unavailable; messages are "
                                                               "refused until it returns");
}

static void on_rdb_state(void *ud, bool up)
{
    if (up)
        pg_store_control_reader_up(ud);
}

/* Every concern's statements in one table: both connections prepare them all
 * (db_new copies it). */
static struct db_stmt *all_stmts(size_t *n)
{
    static const struct {
        const struct db_stmt *v;
        const size_t *n;
    } parts[] = {
        { pg_store_room_stmts, &pg_store_room_nstmts },
        { pg_store_msg_stmts, &pg_store_msg_nstmts },
        { pg_store_mam_stmts, &pg_store_mam_nstmts },
        { pg_store_outbox_stmts, &pg_store_outbox_nstmts },
        { pg_store_retention_stmts, &pg_store_retention_nstmts },
        { pg_store_control_stmts, &pg_store_control_nstmts },
        { pg_store_dir_stmts, &pg_store_dir_nstmts },
        { pg_store_wall_stmts, &pg_store_wall_nstmts },
        { core_stmts, &core_nstmts },
    };
    size_t total = 0;
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
        total += *parts[i].n;
    struct db_stmt *all = xcalloc(total, sizeof *all);
    *n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
        for (size_t k = 0; k < *parts[i].n; k++)
            all[(*n)++] = parts[i].v[k];
    return all;
}

struct pg_store *pg_store_new(uv_loop_t *loop, const struct pg_store_cfg *cfg)
{
    struct pg_store *s = xcalloc(1, sizeof *s);
    s->domain = xstrdup(cfg->domain);
    s->compliance = cfg->compliance;
    s->fts_language = xstrdup(cfg->fts_language);
    s->durable = cfg->durable;
    s->retention_ms = cfg->retention_ms;
    s->tombstone_ttl_ms = cfg->tombstone_ttl_ms;
    size_t n;
    struct db_stmt *stmts = all_stmts(&n);
    /* A short backoff cap: while the database is away messages are refused,
     * so every second of reconnect delay is a second of refusals. */
    struct db_cfg dc = { .dsn = cfg->dsn, .name = "chat", .reconnect_max_ms = 2000 };
    s->db = db_new(loop, &dc, stmts, n, on_db_state, s);
    struct db_cfg rc = { .dsn = cfg->dsn, .name = "chat-read", .reconnect_max_ms = 2000 };
    s->rdb = db_new(loop, &rc, stmts, n, on_rdb_state, s);
    free(stmts);
    uv_timer_init(loop, &s->cleanup_timer);
    s->ops = (struct muc_store){
        .load_room = pg_store_room_load, .save_room = pg_store_room_save,
        .save_affiliation = pg_store_room_save_affiliation,
        .append_message = pg_store_msg_append, .delete_room = pg_store_room_delete,
        .mam_query = pg_store_mam_query, .barrier = pg_store_msg_barrier,
        .replace_message = pg_store_msg_replace,
        .available = available, .attach_event = pg_store_outbox_attach_event,
        .put_event = pg_store_outbox_put_event, .save_vcard = pg_store_room_save_vcard,
        .list_rooms = pg_store_dir_list,
        .load_service = pg_store_wall_load, .revoke_walled = pg_store_wall_revoke,
        .save_category = pg_store_wall_save_category, .st = s,
    };
    return s;
}

const struct muc_store *pg_store_ops(struct pg_store *s)
{
    return &s->ops;
}

size_t pg_store_backlog(const struct pg_store *s)
{
    struct db_stats st;
    db_get_stats(s->db, &st);
    return st.waiting + st.inflight;
}

void pg_store_set_ready(struct pg_store *s)
{
    s->ready = true;
    db_start(s->db);
    db_start(s->rdb);
    pg_store_room_gc(s);
    pg_store_retention_start(s);
}

static void stopped_one(struct pg_store *s)
{
    if (--s->closing > 0)
        return;
    void (*done)(void *) = s->stop_done;
    void *dud = s->stop_ud;
    pg_store_outbox_free_attached(s);
    free(s->fts_language);
    free(s->domain);
    free(s);
    if (done)
        done(dud);
}

static void on_db_stopped(void *ud)
{
    stopped_one(ud);
}

static void on_timer_closed(uv_handle_t *h)
{
    stopped_one(container_of((uv_timer_t *)h, struct pg_store, cleanup_timer));
}

static void close_all(struct pg_store *s)
{
    if (s->closing)
        return;
    s->closing = 3;
    uv_close((uv_handle_t *)&s->cleanup_timer, on_timer_closed);
    db_stop(s->db, on_db_stopped);
    db_stop(s->rdb, on_db_stopped);
}

static void on_drained(void *ud, const struct db_result *r)
{
    (void)r;
    close_all(ud);
}

static void on_drain_timeout(uv_timer_t *t)
{
    close_all(container_of(t, struct pg_store, cleanup_timer));
}

/* A clean stop first lets what is already queued commit (a temporary room's
 * deletion, the last affiliation change): cancelling it would turn a SIGTERM
 * into lost changes and error lines. A database that does not answer within
 * STOP_DRAIN_MS does not hold the shutdown up. */
#define STOP_DRAIN_MS 3000

void pg_store_stop(struct pg_store *s, void (*done)(void *ud), void *ud)
{
    s->stop_done = done;
    s->stop_ud = ud;
    s->ready = false;
    if (!db_is_up(s->db)) {
        close_all(s);
        return;
    }
    uv_timer_stop(&s->cleanup_timer);
    uv_timer_start(&s->cleanup_timer, on_drain_timeout, STOP_DRAIN_MS, 0);
    if (db_exec(s->db, "barrier", 0, NULL, NULL, NULL, on_drained, s) < 0)
        close_all(s);
}
