/* The compliance database (archive_store.h). Every statement is prepared,
 * parameterised and idempotent: db.c may run it again after a lost
 * connection, and a UUID already present inserts nothing. */
#include "compat.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_store.h"
#include "datetime.h"
#include "db.h"
#include "log.h"
#include "mem.h"

#define DAY_MS (24u * 3600u * 1000u)

struct archive_store {
    uv_loop_t *loop;
    char *dsn;
    size_t max_queue;
    struct db *db;
    uv_timer_t timer;
    bool stopping;
    int closing;              /* handles/db still to report closed */
    void (*stop_done)(void *ud);
    void *stop_ud;
};

/* One put in flight. */
struct put {
    archiver_stored_fn *done;
    void *ud;
};

#define EVENT_PARAMS 23

/* The row's values ($1..$23) → the UUID claimed in event_ids → the chain head
 * moved (seq + 1, hash over the previous hash and the canonical row) → the
 * row. Nothing but the first CTE happens for a known UUID. */
static const char put_sql[] =
    "WITH v AS (SELECT $1::uuid AS uuid, $2::timestamptz AS event_time, now() AS archived_at, "
    "$3::text AS type, $4::text AS sender, $5::text AS room, $6::text AS actor_jid, "
    "$7::text AS actor_nick, $8::text AS actor_role, $9::text AS actor_affiliation, "
    "$10::text AS target_jid, $11::text AS target_nick, $12::text AS target_role, "
    "$13::text AS target_affiliation, $14::text AS reason, $15::text AS direction, "
    "$16::text AS msg_type, $17::text AS subject, $18::text AS thread, $19::text AS body, "
    "ARRAY(SELECT r FROM json_array_elements_text($20::json) WITH ORDINALITY AS j (r, o) "
    "ORDER BY o) AS recipients, $21::text AS detail, $22::text AS stanza, "
    "$23::timestamptz AS stamp), "
    "id AS (INSERT INTO event_ids (uuid) SELECT uuid FROM v ON CONFLICT (uuid) DO NOTHING "
    "RETURNING uuid), "
    "head AS (UPDATE chain_head h SET seq = h.seq + 1, hash = sha256(h.hash || "
    "compliance_canonical(h.seq + 1, v.uuid, v.event_time, v.archived_at, v.type, v.sender, "
    "v.room, v.actor_jid, v.actor_nick, v.actor_role, v.actor_affiliation, v.target_jid, "
    "v.target_nick, v.target_role, v.target_affiliation, v.reason, v.direction, v.msg_type, "
    "v.subject, v.thread, v.body, v.recipients, v.detail, v.stanza, v.stamp)) "
    "FROM v WHERE h.id = 1 AND EXISTS (SELECT 1 FROM id) RETURNING h.seq, h.hash) "
    "INSERT INTO events (seq, uuid, event_time, archived_at, type, sender, room, actor_jid, "
    "actor_nick, actor_role, actor_affiliation, target_jid, target_nick, target_role, "
    "target_affiliation, reason, direction, msg_type, subject, thread, body, recipients, "
    "detail, stanza, stamp, hash) "
    "SELECT head.seq, v.uuid, v.event_time, v.archived_at, v.type, v.sender, v.room, "
    "v.actor_jid, v.actor_nick, v.actor_role, v.actor_affiliation, v.target_jid, "
    "v.target_nick, v.target_role, v.target_affiliation, v.reason, v.direction, v.msg_type, "
    "v.subject, v.thread, v.body, v.recipients, v.detail, v.stanza, v.stamp, head.hash "
    "FROM head, v";

static const struct db_stmt stmts[] = {
    { "event_put", put_sql, EVENT_PARAMS },
    { "partitions", "SELECT compliance_ensure_partitions($1::integer)", 1 },
};

struct archive_store *archive_store_new(uv_loop_t *loop, const char *dsn, size_t max_queue)
{
    struct archive_store *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->dsn = xstrdup(dsn);
    s->max_queue = max_queue;
    uv_timer_init(loop, &s->timer);
    return s;
}

/* ---- partitions ---- */

static void on_partitions(void *ud, const struct db_result *r)
{
    if (r->status == -ECANCELED)
        return;
    if (r->status < 0) {
        log_error("compliance: creating monthly partitions failed: %s (SQLSTATE %s)",
                  r->message ? r->message : "unknown error", r->sqlstate);
        return;
    }
    int made = atoi(PQgetvalue(r->res, 0, 0));
    if (made > 0)
        log_info("compliance: created %d monthly partition%s", made, made == 1 ? "" : "s");
}

static void ensure_partitions(struct archive_store *s)
{
    char ahead[8];
    snprintf(ahead, sizeof ahead, "%d", ARCHIVE_PARTITIONS_AHEAD);
    const char *values[] = { ahead };
    if (db_exec(s->db, "partitions", 1, values, NULL, NULL, on_partitions, s) < 0)
        log_warn("compliance: partition check not queued (database queue full); retried in a day");
}

static void on_timer(uv_timer_t *t)
{
    struct archive_store *s = container_of(t, struct archive_store, timer);
    ensure_partitions(s);
}

void archive_store_start(struct archive_store *s)
{
    /* A 2 s reconnect cap: senders retry every few seconds while it is away. */
    struct db_cfg cfg = { .dsn = s->dsn, .name = "compliance", .max_queue = s->max_queue + 16,
                          .reconnect_max_ms = 2000 };
    s->db = db_new(s->loop, &cfg, stmts, ARRAY_SIZE(stmts), NULL, s);
    if (!s->db) {
        log_error("compliance: cannot use the [archiver] dsn");
        return;
    }
    db_start(s->db);
    /* Queued now, sent as soon as the connection is up. */
    ensure_partitions(s);
    uv_timer_start(&s->timer, on_timer, DAY_MS, DAY_MS);
}

/* ---- events ---- */

/* Permanent: the database will never take this data (class 22 data
 * exception, class 23 integrity violation). Anything else may pass later. */
static int verdict(const struct db_result *r)
{
    if (r->status == 0 || r->status == -ECANCELED)
        return r->status;
    bool permanent = r->status == -EIO && (strncmp(r->sqlstate, "22", 2) == 0 ||
                                           strncmp(r->sqlstate, "23", 2) == 0);
    log_warn("compliance: storing an event failed: %s (SQLSTATE %s)%s",
             r->message ? r->message : "unknown error", r->sqlstate,
             permanent ? "" : "; the sender will retry");
    return permanent ? -EINVAL : -EAGAIN;
}

static void on_put(void *ud, const struct db_result *r)
{
    struct put *p = ud;
    p->done(p->ud, verdict(r));
    free(p);
}

static char *recipients_json(const struct cevent *ev)
{
    json_t *a = json_array();
    for (size_t i = 0; i < ev->nrecipients; i++)
        json_array_append_new(a, json_string(ev->recipients[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static int put(void *store, const struct cevent *ev, archiver_stored_fn *done, void *ud)
{
    struct archive_store *s = store;
    if (!s->db || s->stopping || !db_is_up(s->db))
        return -EAGAIN;
    char when[DATETIME_FMT_MAX], stamp[DATETIME_FMT_MAX];
    datetime_format(ev->time_ms, when);
    if (ev->has_stamp)
        datetime_format(ev->stamp_ms, stamp);
    char *recipients = recipients_json(ev);
    const char *values[EVENT_PARAMS] = {
        ev->uuid, when, ev->type, ev->sender, ev->room, ev->actor_jid, ev->actor_nick,
        ev->actor_role, ev->actor_affiliation, ev->target_jid, ev->target_nick, ev->target_role,
        ev->target_affiliation, ev->reason, ev->direction, ev->msg_type, ev->subject, ev->thread,
        ev->body, recipients, ev->detail, ev->stanza, ev->has_stamp ? stamp : NULL,
    };
    struct put *p = xmalloc(sizeof *p);
    *p = (struct put){ .done = done, .ud = ud };
    int r = db_exec(s->db, "event_put", EVENT_PARAMS, values, NULL, NULL, on_put, p);
    free(recipients);
    if (r < 0) {
        free(p);
        return -EAGAIN;
    }
    return 0;
}

struct archiver_store archive_store_ops(struct archive_store *s)
{
    return (struct archiver_store){ .put = put, .store = s };
}

/* ---- shutdown ---- */

static void closed_one(struct archive_store *s)
{
    if (--s->closing > 0)
        return;
    void (*done)(void *) = s->stop_done;
    void *ud = s->stop_ud;
    free(s->dsn);
    free(s);
    if (done)
        done(ud);
}

static void on_db_stopped(void *ud)
{
    closed_one(ud);
}

static void on_timer_closed(uv_handle_t *h)
{
    closed_one(container_of((uv_timer_t *)h, struct archive_store, timer));
}

void archive_store_stop(struct archive_store *s, void (*done)(void *ud), void *ud)
{
    if (s->stopping)
        return;
    s->stopping = true;
    s->stop_done = done;
    s->stop_ud = ud;
    s->closing = s->db ? 2 : 1;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    if (s->db)
        db_stop(s->db, on_db_stopped);
}
