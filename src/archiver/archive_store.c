/* The compliance database (archive_store.h). Every statement is prepared,
 * parameterised and idempotent: db.c may run it again after a lost
 * connection, and a UUID already present inserts nothing. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_store.h"
#include "buf.h"
#include "datetime.h"
#include "db.h"
#include "hashchain.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

#define DAY_MS (24u * 3600u * 1000u)

/* Events per statement at most: more waiting go out as several statements. */
#define ARCHIVE_BATCH_MAX 5000

/* Events waiting for the end of the loop turn, and what to call for each. */
struct batch {
    struct buf json;          /* "[" then the events' objects, comma-separated */
    size_t *start;            /* where each object starts in json */
    struct put *puts;         /* same order */
    size_t n, cap;
};

/* One put in flight. */
struct put {
    archiver_stored_fn *done;
    void *ud;
};

struct archive_store {
    uv_loop_t *loop;
    char *dsn;
    size_t max_queue;
    struct db *db;
    uv_timer_t timer;
    uv_check_t flush;         /* sends the batch at the end of a loop turn */
    struct batch batch;
    bool stopping;
    int closing;              /* handles/db still to report closed */
    void (*stop_done)(void *ud);
    void *stop_ud;
    archive_store_commit_fn *committed;
    void *committed_ud;
    int64_t head_seq;         /* highest seq this process committed (metrics) */
};

/* One statement in flight: a batch whose callbacks wait for its commit. */
struct flight {
    struct archive_store *s;
    struct buf json;          /* the statement's argument, "[...]" NUL-terminated */
    size_t *start;            /* kept to resend one by one after a data error */
    struct put *puts;
    size_t n;
};

/* Every event of a loop turn goes to PostgreSQL as one JSON array and one
 * statement (schema/compliance/005_put_batch.sql): claiming UUIDs, chaining
 * hashes and inserting rows set by set instead of one statement per event cut
 * PostgreSQL's CPU per event by 4x (docs/benchmarks.md, issue 5). */
static const char put_batch_sql[] = "SELECT ord, seq FROM compliance_put_batch($1::json)";
static void batch_init(struct batch *b);

static const struct db_stmt stmts[] = {
    { "event_batch", put_batch_sql, 1 },
    { "partitions", "SELECT compliance_ensure_partitions($1::integer)", 1 },
    { "head", HASHCHAIN_HEAD_SQL, 0 },
};

struct archive_store *archive_store_new(uv_loop_t *loop, const char *dsn, size_t max_queue)
{
    struct archive_store *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->dsn = xstrdup(dsn);
    s->max_queue = max_queue;
    uv_timer_init(loop, &s->timer);
    uv_check_init(loop, &s->flush);
    batch_init(&s->batch);
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

/* ---- verdicts ---- */

/* Permanent: the database will never take this data (class 22 data
 * exception, class 23 integrity violation). Anything else may pass later. */
static int verdict(const struct db_result *r, size_t n)
{
    if (r->status == 0 || r->status == -ECANCELED)
        return r->status;
    bool permanent = r->status == -EIO && (strncmp(r->sqlstate, "22", 2) == 0 ||
                                           strncmp(r->sqlstate, "23", 2) == 0);
    /* A batch refused for its data is retried event by event: the bad event's
     * own failure is the one line logged. */
    if (permanent && n > 1)
        log_debug("compliance: a batch of %zu events was refused (SQLSTATE %s); sending "
                  "them one by one", n, r->sqlstate);
    else if (n > 1)
        log_warn("compliance: storing %zu events failed: %s (SQLSTATE %s); the senders "
                 "will retry", n, r->message ? r->message : "unknown error", r->sqlstate);
    else
        log_warn("compliance: storing an event failed: %s (SQLSTATE %s)%s",
                 r->message ? r->message : "unknown error", r->sqlstate,
                 permanent ? "" : "; the sender will retry");
    return permanent ? -EINVAL : -EAGAIN;
}

/* ---- batches ---- */

static void batch_init(struct batch *b)
{
    *b = (struct batch){ 0 };
    buf_init(&b->json);
    buf_putc(&b->json, '[');
}

static void flight_free(struct flight *f)
{
    buf_free(&f->json);
    free(f->start);
    free(f->puts);
    free(f);
}

static int send_flight(struct archive_store *s, struct flight *f);

/* A data error (class 22/23) fails the whole statement, but only one event is
 * bad: send each event of the batch again on its own, so the good ones are
 * stored and only the bad one is refused. */
static void split_flight(struct archive_store *s, struct flight *f)
{
    /* json is "[o1,o2,...,on]\0": object i runs from start[i] to the byte
     * before the next start (its comma) or before the closing "]". */
    size_t end_all = f->json.len - 2;
    for (size_t i = 0; i < f->n; i++) {
        size_t end = i + 1 < f->n ? f->start[i + 1] - 1 : end_all;
        struct flight *one = xcalloc(1, sizeof *one);
        one->s = s;
        buf_init(&one->json);
        buf_putc(&one->json, '[');
        buf_append(&one->json, f->json.data + f->start[i], end - f->start[i]);
        buf_append(&one->json, "]", 2);
        one->start = xmalloc(sizeof *one->start);
        one->start[0] = 1;
        one->puts = xmalloc(sizeof *one->puts);
        one->puts[0] = f->puts[i];
        one->n = 1;
        if (send_flight(s, one) < 0) {
            one->puts[0].done(one->puts[0].ud, -EAGAIN);
            flight_free(one);
        }
    }
}

/* Rows this batch added to the chain, and the seqs they got (NULL seq: a
 * duplicate, nothing added). */
static void report_commit(struct archive_store *s, const PGresult *res)
{
    uint64_t rows = 0;
    int64_t lo = 0, hi = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, 1))
            continue;
        int64_t seq = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        lo = rows == 0 || seq < lo ? seq : lo;
        hi = seq > hi ? seq : hi;
        rows++;
    }
    if (!rows)
        return;
    metric_add(metric_counter("confab_archived_events",
                              "Events added to the compliance archive's hash chain.", NULL),
               rows);
    if (hi > s->head_seq)
        s->head_seq = hi;
    if (s->committed)
        s->committed(s->committed_ud, rows, lo, hi);
}

int64_t archive_store_head_seq(const struct archive_store *s)
{
    return s->head_seq;
}

static void on_batch(void *ud, const struct db_result *r)
{
    struct flight *f = ud;
    int status = verdict(r, f->n);
    if (status == -EINVAL && f->n > 1) {
        if (!f->s->stopping) {
            split_flight(f->s, f);
            flight_free(f);
            return;
        }
        status = -EAGAIN; /* which one was bad is unknown: let the senders retry */
    }
    if (status == 0 && PQntuples(r->res) != (int)f->n) {
        log_error("compliance: the batch of %zu events came back with %d rows; the "
                  "senders will retry", f->n, PQntuples(r->res));
        status = -EAGAIN;
    }
    if (status == 0)
        report_commit(f->s, r->res);
    /* 0 for new and duplicate UUIDs alike: both are committed. */
    for (size_t i = 0; i < f->n; i++)
        f->puts[i].done(f->puts[i].ud, status);
    flight_free(f);
}

static int send_flight(struct archive_store *s, struct flight *f)
{
    const char *values[] = { f->json.data };
    return db_exec(s->db, "event_batch", 1, values, NULL, NULL, on_batch, f);
}

/* Hand the turn's events to db.c as one statement. */
static void flush_batch(struct archive_store *s)
{
    struct batch *b = &s->batch;
    uv_check_stop(&s->flush);
    if (!b->n)
        return;
    struct flight *f = xcalloc(1, sizeof *f);
    buf_append(&b->json, "]", 2); /* with the NUL: a C string for db_exec */
    *f = (struct flight){ .s = s, .json = b->json, .start = b->start, .puts = b->puts,
                          .n = b->n };
    batch_init(b);
    if (send_flight(s, f) < 0) {
        for (size_t i = 0; i < f->n; i++)
            f->puts[i].done(f->puts[i].ud, -EAGAIN);
        flight_free(f);
    }
}

/* Once per loop turn while events wait. While db.c still holds statements it
 * could not send yet (its pipeline is full), adding another only lengthens
 * its queue: keep collecting instead, so batches grow with the load (fewer
 * statements and commits per event) and stay small when it is light (no
 * added latency). db.c's results wake the loop, so this runs again. */
static void on_flush(uv_check_t *h)
{
    struct archive_store *s = container_of(h, struct archive_store, flush);
    struct db_stats st;
    db_get_stats(s->db, &st);
    if (st.waiting == 0 || !db_is_up(s->db))
        flush_batch(s);
}

/* Outstanding events that never reached db.c (stopping). */
static void cancel_batch(struct archive_store *s)
{
    struct batch b = s->batch;
    s->batch = (struct batch){ 0 }; /* stopping: nothing is added any more */
    buf_init(&s->batch.json);
    for (size_t i = 0; i < b.n; i++)
        b.puts[i].done(b.puts[i].ud, -ECANCELED);
    buf_free(&b.json);
    free(b.start);
    free(b.puts);
}

/* ---- events ---- */

/* A JSON string (RFC 8259 escapes; the text is UTF-8 already: expat checked
 * it), or null. Written by hand: jansson's objects cost more allocations than
 * the rest of an event's path together. */
static void json_val(struct buf *b, const char *s)
{
    if (!s) {
        buf_puts(b, "null");
        return;
    }
    buf_putc(b, '"');
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(b, run, (size_t)(s - run));
        if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
        } else {
            buf_printf(b, "\\u%04x", c);
        }
        run = s + 1;
    }
    buf_append(b, run, (size_t)(s - run));
    buf_putc(b, '"');
}

static void json_str(struct buf *b, const char *key, const char *s)
{
    buf_append(b, ",\"", 2);
    buf_puts(b, key);
    buf_append(b, "\":", 2);
    json_val(b, s);
}

static void json_time(struct buf *b, const char *key, bool has, int64_t ms)
{
    char t[DATETIME_FMT_MAX];
    if (has)
        datetime_format(ms, t);
    json_str(b, key, has ? t : NULL);
}

void archive_store_event_json(struct buf *b, const struct cevent *ev)
{
    buf_puts(b, "{\"uuid\":\"");
    buf_puts(b, ev->uuid); /* validated: hex and dashes */
    buf_putc(b, '"');
    const char *const keys[] = { "type", "sender", "room", "actor_jid", "actor_nick",
                                 "actor_role", "actor_affiliation", "target_jid", "target_nick",
                                 "target_role", "target_affiliation", "reason", "direction",
                                 "msg_type", "subject", "thread", "body", "detail", "stanza" };
    const char *const vals[] = { ev->type, ev->sender, ev->room, ev->actor_jid,
                                 ev->actor_nick, ev->actor_role, ev->actor_affiliation,
                                 ev->target_jid, ev->target_nick, ev->target_role,
                                 ev->target_affiliation, ev->reason, ev->direction,
                                 ev->msg_type, ev->subject, ev->thread, ev->body, ev->detail,
                                 ev->stanza };
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        json_str(b, keys[i], vals[i]);
    json_str(b, "msg_key", *ev->msg_key ? ev->msg_key : NULL);
    json_time(b, "event_time", true, ev->time_ms);
    json_time(b, "stamp", ev->has_stamp, ev->stamp_ms);
    buf_puts(b, ",\"rcpt\":[");
    for (size_t i = 0; i < ev->nrecipients; i++) {
        if (i)
            buf_putc(b, ',');
        json_val(b, ev->recipients[i]);
    }
    buf_puts(b, "]}");
}

static int put(void *store, const struct cevent *ev, archiver_stored_fn *done, void *ud)
{
    struct archive_store *s = store;
    if (!s->db || s->stopping || !db_is_up(s->db))
        return -EAGAIN;
    struct batch *b = &s->batch;
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->puts = xrealloc(b->puts, b->cap * sizeof *b->puts);
        b->start = xrealloc(b->start, b->cap * sizeof *b->start);
    }
    if (b->n)
        buf_putc(&b->json, ',');
    b->start[b->n] = b->json.len;
    archive_store_event_json(&b->json, ev);
    b->puts[b->n++] = (struct put){ .done = done, .ud = ud };
    if (b->n >= ARCHIVE_BATCH_MAX)
        flush_batch(s);
    else if (b->n == 1)
        uv_check_start(&s->flush, on_flush);
    return 0;
}

struct archiver_store archive_store_ops(struct archive_store *s)
{
    return (struct archiver_store){ .put = put, .store = s };
}

/* ---- the chain head, for signed checkpoints ---- */

void archive_store_on_commit(struct archive_store *s, archive_store_commit_fn *fn, void *ud)
{
    s->committed = fn;
    s->committed_ud = ud;
}

struct head_query {
    archive_store_head_fn *done;
    void *ud;
};

static void on_head(void *ud, const struct db_result *r)
{
    struct head_query q = *(struct head_query *)ud;
    free(ud);
    unsigned char hash[HASHCHAIN_LEN];
    if (r->status < 0) {
        if (r->status != -ECANCELED)
            log_warn("compliance: reading the chain head failed: %s (SQLSTATE %s)",
                     r->message ? r->message : "unknown error", r->sqlstate);
        q.done(q.ud, r->status, 0, NULL);
        return;
    }
    if (PQntuples(r->res) != 1 || hashchain_parse_bytea(PQgetvalue(r->res, 0, 1), hash) < 0) {
        log_error("compliance: chain_head has no row or a malformed hash");
        q.done(q.ud, -EIO, 0, NULL);
        return;
    }
    q.done(q.ud, 0, strtoll(PQgetvalue(r->res, 0, 0), NULL, 10), hash);
}

int archive_store_head(struct archive_store *s, archive_store_head_fn *done, void *ud)
{
    if (!s->db || s->stopping)
        return -EAGAIN;
    struct head_query *q = xmalloc(sizeof *q);
    *q = (struct head_query){ .done = done, .ud = ud };
    if (db_exec(s->db, "head", 0, NULL, NULL, NULL, on_head, q) < 0) {
        free(q);
        return -EAGAIN;
    }
    return 0;
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

static void on_flush_closed(uv_handle_t *h)
{
    closed_one(container_of((uv_check_t *)h, struct archive_store, flush));
}

void archive_store_stop(struct archive_store *s, void (*done)(void *ud), void *ud)
{
    if (s->stopping)
        return;
    s->stopping = true;
    s->stop_done = done;
    s->stop_ud = ud;
    s->closing = s->db ? 3 : 2;
    cancel_batch(s);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    uv_close((uv_handle_t *)&s->flush, on_flush_closed);
    if (s->db)
        db_stop(s->db, on_db_stopped);
}
