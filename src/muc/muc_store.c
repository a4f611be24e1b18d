/* The PostgreSQL store: every statement is prepared, parameterised and
 * idempotent (db.c may run a statement again after a lost connection). */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "mem.h"
#include "muc.h"
#include "muc_store.h"

/* Two connections: the writer carries every change in order (group commit),
 * the reader serves room loads and archive queries, so a big MAM page never
 * waits behind a burst of messages, nor delays one. */
struct pg_store {
    struct db *db;       /* writer */
    struct db *rdb;      /* reader */
    int closing;         /* handles and connections still stopping */
    uv_timer_t cleanup_timer;
    bool cleaning;
    uint64_t retention_ms;
    uint64_t tombstone_ttl_ms;
    struct muc *muc;
    char *fts_language;
    bool durable;
    bool ready;
    bool msg_failing;    /* storing messages fails: logged once until one succeeds */
    struct muc_store ops;
    struct attached_event *attached;  /* goes with the next change (store.h) */
    pg_store_row_cb *on_event;        /* outbox rows committed */
    pg_store_event_cb *on_up;         /* the writer is (back) up */
    void *event_ud;
    bool event_failing;               /* outbox inserts fail: logged once */
    void (*stop_done)(void *ud);
    void *stop_ud;
};

#define ROOM_COLUMNS \
    "locked, name, description, lang, password, persistent, public_list, members_only, " \
    "moderated, password_protected, whois_anyone, change_subject, allow_invites, logging, " \
    "allow_pm, max_users, presence_broadcast, get_member_list, history_length, subject, " \
    "subject_from"

/* XEP-0313 queries: keyset paging on (room_id, seq); OFFSET only for RSM <index/>. Every
 * variant takes $1 room, $2 after_seq, $3 before_seq (exclusive bounds),
 * $4 nick and $5 real JID ('with'; NULL = any; a bare JID matches every
 * resource); the timed ones $6/$7 start/end in ms (±Infinity when open), the
 * full-text ones also $8 text search configuration and $9 the query. Fixed
 * variants rather than optional conditions everywhere, so that each can use
 * its index: the primary key when only seq bounds the scan, messages_room_ts
 * for a time range, messages_fts for words. The last parameter is the LIMIT. */
/* One retention batch, room by room through the (room_id, ts) index: never a
 * scan of the whole table; rooms without any limit are not even visited. */
#define RETENTION_DELETE \
    "DELETE FROM messages WHERE ctid = ANY (ARRAY(SELECT m.ctid FROM rooms r " \
    "CROSS JOIN LATERAL (SELECT ctid FROM messages WHERE room_id = r.id AND ts < now() - " \
    "coalesce(r.max_history_age, $1::interval) LIMIT 5000) m " \
    "WHERE r.max_history_age IS NOT NULL OR $1::interval IS NOT NULL LIMIT 5000))"

#define MAM_COLUMNS "seq, (extract(epoch FROM ts) * 1000)::bigint, stanza, sender_jid, nick"
/* Only what was sent while the room's archive was on (issue 11): switching
 * it on must not expose what was said while it was off. */
#define MAM_ROOM "room_id = (SELECT id FROM rooms WHERE jid = $1) AND archived"
#define MAM_WITH \
    " AND ($4::text IS NULL OR nick = $4) AND ($5::text IS NULL OR CASE WHEN strpos($5, '/') > 0 " \
    "THEN sender_jid = $5 ELSE split_part(sender_jid, '/', 1) = $5 END)"
#define MAM_TIME \
    " AND ts >= to_timestamp($6::double precision / 1000) " \
    "AND ts <= to_timestamp($7::double precision / 1000)"
#define MAM_FTS " AND body_tsv @@ websearch_to_tsquery($8::regconfig, $9::text)"
#define MAM_PAGE(filters, dir, limit) \
    "SELECT " MAM_COLUMNS " FROM messages WHERE " MAM_ROOM " AND seq > $2 AND seq < $3" \
    filters " ORDER BY seq " dir " LIMIT " limit
/* RSM <index/> (XEP-0059 §2.4) is the one place that needs an offset: it
 * names a position, not an id. Only forward pages take one (mam.c refuses an
 * index together with <before/> or <after/>); the scan still walks the
 * matches before it, which is what an index costs anywhere. */
#define MAM_PAGE_AT(filters, limit, offset) MAM_PAGE(filters, "ASC", limit) " OFFSET " offset
/* RSM <count/>, and what <first index/> needs: the matches up to after_seq
 * (a forward page starts right after them) and before before_seq (a backward
 * page ends right before it). */
#define MAM_COUNT(filters) \
    "SELECT count(*), count(*) FILTER (WHERE seq <= $2), count(*) FILTER (WHERE seq < $3) " \
    "FROM messages WHERE " MAM_ROOM filters

static const struct db_stmt stmts[] = {
    { "room_get",
      "SELECT r.creator, (extract(epoch FROM r.created_at) * 1000)::bigint, " ROOM_COLUMNS ", "
      "greatest(r.last_seq, coalesce((SELECT max(seq) FROM messages m WHERE m.room_id = r.id), 0)), "
      "(extract(epoch FROM r.subject_at) * 1000)::bigint "
      "FROM rooms r WHERE r.jid = $1", 1 },
    { "room_affils",
      "SELECT a.jid, a.affiliation, a.nick, a.reason FROM affiliations a "
      "JOIN rooms r ON r.id = a.room_id WHERE r.jid = $1", 1 },
    { "room_recent",
      "SELECT seq, (extract(epoch FROM ts) * 1000)::bigint, stanza, sender_jid, nick FROM messages "
      "WHERE room_id = (SELECT id FROM rooms WHERE jid = $1) "
      /* Only historic messages are stored (message.c), subject changes
       * never: every row belongs in join history. */
      "ORDER BY seq DESC LIMIT $2", 2 },
    { "tomb_get",
      "SELECT venue, reason FROM tombstones WHERE jid = $1 "
      "AND (expires_at IS NULL OR expires_at > now())", 1 },
    { "room_put",
      "INSERT INTO rooms (jid, creator, created_at, " ROOM_COLUMNS ", last_seq, subject_at) VALUES ("
      "$1, $2, to_timestamp($3::double precision / 1000), $4, $5, $6, $7, $8, $9, $10, $11, $12, "
      "$13, $14, $15, $16, $17, $18, $19, string_to_array($20, ','), string_to_array($21, ','), "
      "$22, $23, $24, $25, to_timestamp($26::double precision / 1000)) ON CONFLICT (jid) DO UPDATE SET locked = EXCLUDED.locked, "
      "name = EXCLUDED.name, description = EXCLUDED.description, lang = EXCLUDED.lang, "
      "password = EXCLUDED.password, persistent = EXCLUDED.persistent, "
      "public_list = EXCLUDED.public_list, members_only = EXCLUDED.members_only, "
      "moderated = EXCLUDED.moderated, password_protected = EXCLUDED.password_protected, "
      "whois_anyone = EXCLUDED.whois_anyone, change_subject = EXCLUDED.change_subject, "
      "allow_invites = EXCLUDED.allow_invites, logging = EXCLUDED.logging, "
      "allow_pm = EXCLUDED.allow_pm, max_users = EXCLUDED.max_users, "
      "presence_broadcast = EXCLUDED.presence_broadcast, "
      "get_member_list = EXCLUDED.get_member_list, history_length = EXCLUDED.history_length, "
      "subject = EXCLUDED.subject, subject_from = EXCLUDED.subject_from, "
      "subject_at = EXCLUDED.subject_at, last_seq = greatest(rooms.last_seq, EXCLUDED.last_seq), updated_at = now()", 26 },
    { "affil_put",
      "INSERT INTO affiliations (room_id, jid, affiliation, nick, reason) "
      "SELECT id, $2, $3, $4, $5 FROM rooms WHERE jid = $1 "
      "ON CONFLICT (room_id, jid) DO UPDATE SET affiliation = EXCLUDED.affiliation, "
      "nick = EXCLUDED.nick, reason = EXCLUDED.reason, updated_at = now()", 5 },
    { "affil_del",
      "DELETE FROM affiliations WHERE room_id = (SELECT id FROM rooms WHERE jid = $1) "
      "AND jid = $2", 2 },
    { "msg_put",
      "INSERT INTO messages (room_id, seq, ts, sender_jid, nick, occupant_id, body, body_tsv, "
      "stanza, archived) SELECT id, $2, to_timestamp($3::double precision / 1000), $4, $5, $6, $7, "
      "to_tsvector($8::regconfig, coalesce($7, '')), $9, $10 FROM rooms WHERE jid = $1 "
      "ON CONFLICT (room_id, seq) DO NOTHING", 10 },
    { "room_del", "DELETE FROM rooms WHERE jid = $1", 1 },
    { "tomb_put",
      "INSERT INTO tombstones (jid, venue, reason, expires_at) VALUES ($1, $2, $3, "
      "now() + $4::interval) ON CONFLICT (jid) DO UPDATE SET venue = EXCLUDED.venue, "
      "reason = EXCLUDED.reason, destroyed_at = now(), expires_at = EXCLUDED.expires_at", 4 },
    /* Retention: one small batch per statement, so no long locks. A room's own
     * max_history_age wins over the service's ($1; NULL = keep forever). */
    { "retention_batch", RETENTION_DELETE, 1 },
    /* The same batch with compliance on: one `purge` event per room written to
     * the outbox in the batch's own transaction ($2: confabd's domain, the
     * actor). The count of deleted messages comes back as a row. */
    { "retention_batch_ev",
      "WITH d AS (" RETENTION_DELETE " RETURNING room_id, seq), "
      "s AS (SELECT r.jid, count(*) AS n, min(d.seq) AS lo, max(d.seq) AS hi FROM d "
      "JOIN rooms r ON r.id = d.room_id GROUP BY r.jid), "
      "e AS (SELECT gen_random_uuid() AS u, s.* FROM s), "
      "o AS (INSERT INTO compliance_outbox (uuid, room, xml) SELECT u, jid, format("
      "'<event xmlns=''urn:confab:compliance:0'' id=''%s'' type=''purge'' time=''%s'' "
      "room=''%s''><actor jid=''%s''/><reason>retention</reason><detail><purge "
      "xmlns=''urn:confab:compliance:0'' reason=''retention'' messages=''%s'' "
      "first-seq=''%s'' last-seq=''%s''/></detail></event>', u, "
      "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
      "jid, $2::text, n, lo, hi) FROM e) "
      "SELECT coalesce(sum(n), 0)::bigint FROM s", 2 },
    { "tomb_expire", "DELETE FROM tombstones WHERE expires_at < now()", 0 },
    { "barrier", "SELECT 1", 0 },
    /* The compliance outbox (schema/chat/003). An insert goes in the
     * transaction of the change it records; retries reuse the UUID. */
    { "outbox_put",
      "INSERT INTO compliance_outbox (uuid, room, xml) VALUES ($1::uuid, $2, $3) "
      "ON CONFLICT (uuid) DO NOTHING RETURNING id", 3 },
    { "outbox_fetch",
      "SELECT id, uuid, xml FROM compliance_outbox WHERE id > $1 ORDER BY id LIMIT $2", 2 },
    { "outbox_del", "DELETE FROM compliance_outbox WHERE uuid = ANY ($1::uuid[])", 1 },
    { "outbox_count", "SELECT count(*) FROM compliance_outbox", 0 },
    /* Temporary and never-configured rooms left by a crash: nobody is in them. */
    { "rooms_gc", "DELETE FROM rooms WHERE NOT persistent OR locked", 0 },
    { "mam_asc", MAM_PAGE(MAM_WITH, "ASC", "$6"), 6 },
    { "mam_desc", MAM_PAGE(MAM_WITH, "DESC", "$6"), 6 },
    { "mam_asc_t", MAM_PAGE(MAM_WITH MAM_TIME, "ASC", "$8"), 8 },
    { "mam_desc_t", MAM_PAGE(MAM_WITH MAM_TIME, "DESC", "$8"), 8 },
    { "mam_asc_f", MAM_PAGE(MAM_WITH MAM_TIME MAM_FTS, "ASC", "$10"), 10 },
    { "mam_desc_f", MAM_PAGE(MAM_WITH MAM_TIME MAM_FTS, "DESC", "$10"), 10 },
    { "mam_at", MAM_PAGE_AT(MAM_WITH, "$6", "$7"), 7 },
    { "mam_at_t", MAM_PAGE_AT(MAM_WITH MAM_TIME, "$8", "$9"), 9 },
    { "mam_at_f", MAM_PAGE_AT(MAM_WITH MAM_TIME MAM_FTS, "$10", "$11"), 11 },
    { "mam_count", MAM_COUNT(MAM_WITH), 5 },
    { "mam_count_t", MAM_COUNT(MAM_WITH MAM_TIME), 7 },
    { "mam_count_f", MAM_COUNT(MAM_WITH MAM_TIME MAM_FTS), 9 },
    /* The room's vCard (schema/chat/004): read with the room, one row per room. */
    { "vcard_get",
      "SELECT v.vcard, v.photo_hash FROM room_vcards v JOIN rooms r ON r.id = v.room_id "
      "WHERE r.jid = $1", 1 },
    { "vcard_put",
      "INSERT INTO room_vcards (room_id, vcard, photo_hash) SELECT id, $2, $3 FROM rooms "
      "WHERE jid = $1 ON CONFLICT (room_id) DO UPDATE SET vcard = EXCLUDED.vcard, "
      "photo_hash = EXCLUDED.photo_hash, updated_at = now()", 3 },
    { "vcard_del",
      "DELETE FROM room_vcards WHERE room_id = (SELECT id FROM rooms WHERE jid = $1)", 1 },
};

/* ---- helpers ---- */

static const char *b(bool v)
{
    return v ? "t" : "f";
}

static bool col_bool(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

static char *col_str(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

static long long col_ll(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void roles_str(unsigned set, char *out, size_t len)
{
    static const enum muc_role roles[] = { ROLE_MODERATOR, ROLE_PARTICIPANT, ROLE_VISITOR,
                                           ROLE_NONE };
    out[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(roles); i++) {
        if (!(set & ROLE_BIT(roles[i])))
            continue;
        if (out[0])
            strncat(out, ",", len - strlen(out) - 1);
        strncat(out, perm_role_name(roles[i]), len - strlen(out) - 1);
    }
}

/* PostgreSQL's text form of a text[]: {a,b}. */
static unsigned parse_roles(const char *s)
{
    unsigned set = 0;
    char *copy = xstrdup(s), *save = NULL;
    for (char *t = strtok_r(copy, "{},", &save); t; t = strtok_r(NULL, "{},", &save)) {
        enum muc_role r;
        if (perm_role_parse(t, &r) == 0)
            set |= ROLE_BIT(r);
    }
    free(copy);
    return set;
}

static void log_failure(const char *what, const struct db_result *r)
{
    log_error("store: %s failed: %s (SQLSTATE %s)", what, r->message ? r->message : "unknown",
              r->sqlstate);
}

static void on_write(void *ud, const struct db_result *r)
{
    if (r->status < 0)
        log_failure(ud, r);
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

static bool can_read(struct pg_store *s)
{
    return s->ready && (db_is_up(s->rdb) || db_is_up(s->db));
}

static void exec_read(struct pg_store *s, const char *stmt, int n, const char *const *v,
                      db_result_cb *cb, void *ud)
{
    exec_on(reader(s), stmt, n, v, cb, ud);
}

static void exec(struct pg_store *s, const char *stmt, int n, const char *const *v,
                 db_result_cb *cb, void *ud)
{
    int rc = db_exec(s->db, stmt, n, v, NULL, NULL, cb, ud);
    if (rc < 0) {
        struct db_result r = { .status = rc, .message = "the database queue is full" };
        cb(ud, &r);
    }
}

/* ---- the compliance outbox ---- */

/* Also the context of its insert: the sender gets the committed row as is,
 * without reading it back. */
struct attached_event {
    char *uuid, *room, *xml;
    struct pg_store *s;
};

static void attached_free(struct attached_event *e)
{
    if (!e)
        return;
    free(e->uuid);
    free(e->room);
    free(e->xml);
    free(e);
}

/* Inserts fail while, e.g., the disk is full: one line when it starts and
 * one when it ends. The event's change failed with it (same transaction). */
static void on_event_put(void *ud, const struct db_result *r)
{
    struct attached_event *e = ud;
    struct pg_store *s = e->s;
    if (r->status < 0) {
        if (r->status != -ECANCELED && !s->event_failing) {
            log_failure("writing a compliance event", r);
            s->event_failing = true;
        }
        /* Lost connections: it may have committed all the same. */
        if (r->status == -ECONNRESET && s->on_event)
            s->on_event(s->event_ud, NULL);
        attached_free(e);
        return;
    }
    if (s->event_failing) {
        log_info("store: compliance events are written again");
        s->event_failing = false;
    }
    if (s->on_event) {
        bool one = PQresultStatus(r->res) == PGRES_TUPLES_OK && PQntuples(r->res) == 1;
        struct pg_outbox_row row = { .id = one ? col_ll(r->res, 0, 0) : 0, .uuid = e->uuid,
                                     .xml = e->xml };
        s->on_event(s->event_ud, one ? &row : NULL);
    }
    attached_free(e);
}

static void fail_ops(const struct db_op *ops, size_t n, int rc)
{
    struct db_result r = { .status = rc, .message = "the database queue is full" };
    for (size_t i = 0; i < n; i++)
        if (ops[i].cb)
            ops[i].cb(ops[i].ud, &r);
}

/* ops[0..n) plus the attached event as one transaction; ops has room for one
 * more entry. */
static void exec_with_event(struct pg_store *s, struct db_op *ops, size_t n)
{
    struct attached_event *e = s->attached;
    s->attached = NULL;
    e->s = s;
    const char *ev[] = { e->uuid, e->room, e->xml };
    ops[n] = (struct db_op){ .stmt = "outbox_put", .nparams = 3, .values = ev,
                             .cb = on_event_put, .ud = e };
    int rc = db_exec_atomic(s->db, ops, n + 1);
    if (rc < 0)
        fail_ops(ops, n + 1, rc);   /* on_event_put releases e */
}

/* A change, with the attached compliance event if there is one. */
static void exec_change(struct pg_store *s, const char *stmt, int n, const char *const *v,
                        db_result_cb *cb, void *ud)
{
    if (!s->attached) {
        exec(s, stmt, n, v, cb, ud);
        return;
    }
    struct db_op ops[2] = { { .stmt = stmt, .nparams = n, .values = v, .cb = cb, .ud = ud } };
    exec_with_event(s, ops, 1);
}

static struct attached_event *event_copy(struct pg_store *s, const struct store_event *ev)
{
    struct attached_event *e = xmalloc(sizeof *e);
    e->uuid = xstrdup(ev->uuid);
    e->room = ev->room ? xstrdup(ev->room) : NULL;
    e->xml = xstrndup(ev->xml, ev->xml_len);
    e->s = s;
    return e;
}

/* e is released by on_event_put. */
static void put_alone(struct pg_store *s, struct attached_event *e)
{
    const char *v[] = { e->uuid, e->room, e->xml };
    exec(s, "outbox_put", 3, v, on_event_put, e);
}

static void put_event(void *st, const struct store_event *ev)
{
    struct pg_store *s = st;
    if (ev) {
        put_alone(s, event_copy(s, ev));
        return;
    }
    struct attached_event *e = s->attached;
    s->attached = NULL;
    if (e)
        put_alone(s, e);
}

static void attach_event(void *st, const struct store_event *ev)
{
    struct pg_store *s = st;
    put_event(s, NULL);   /* one that no change took goes first, alone */
    s->attached = event_copy(s, ev);
}

void pg_store_set_outbox(struct pg_store *s, pg_store_row_cb *committed, pg_store_event_cb *up,
                         void *ud)
{
    s->on_event = committed;
    s->on_up = up;
    s->event_ud = ud;
}

struct fetch {
    pg_store_outbox_cb *cb;
    void *ud;
};

static void on_outbox_rows(void *ud, const struct db_result *r)
{
    struct fetch *f = ud;
    if (r->status < 0) {
        if (r->status != -ECANCELED)
            log_failure("reading the compliance outbox", r);
        f->cb(f->ud, r->status, NULL, 0);
        free(f);
        return;
    }
    size_t n = (size_t)PQntuples(r->res);
    struct pg_outbox_row *rows = xcalloc(n + 1, sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        rows[i].id = col_ll(r->res, (int)i, 0);
        rows[i].uuid = col_str(r->res, (int)i, 1);
        rows[i].xml = col_str(r->res, (int)i, 2);
    }
    f->cb(f->ud, 0, rows, n);
    for (size_t i = 0; i < n; i++) {
        free(rows[i].uuid);
        free(rows[i].xml);
    }
    free(rows);
    free(f);
}

/* On the reader: a backlog being read back never delays message commits. */
void pg_store_outbox_fetch(struct pg_store *s, int64_t after_id, unsigned limit,
                           pg_store_outbox_cb *cb, void *ud)
{
    if (!can_read(s)) {
        cb(ud, -EAGAIN, NULL, 0);
        return;
    }
    char after[24], lim[16];
    snprintf(after, sizeof after, "%" PRId64, after_id);
    snprintf(lim, sizeof lim, "%u", limit);
    const char *v[] = { after, lim };
    struct fetch *f = xmalloc(sizeof *f);
    f->cb = cb;
    f->ud = ud;
    exec_read(s, "outbox_fetch", 2, v, on_outbox_rows, f);
}

static void on_outbox_count(void *ud, const struct db_result *r)
{
    struct fetch *f = ud;
    long long n = r->status < 0 ? -1 : col_ll(r->res, 0, 0);
    f->cb(f->ud, r->status < 0 ? r->status : (int)(n > INT32_MAX ? INT32_MAX : n), NULL, 0);
    free(f);
}

void pg_store_outbox_count(struct pg_store *s, pg_store_outbox_cb *cb, void *ud)
{
    if (!can_read(s)) {
        cb(ud, -EAGAIN, NULL, 0);
        return;
    }
    struct fetch *f = xmalloc(sizeof *f);
    f->cb = cb;
    f->ud = ud;
    exec_read(s, "outbox_count", 0, NULL, on_outbox_count, f);
}

/* Acknowledged events, as one statement. A failure only means they are sent
 * again after a restart, and the archiver stores each UUID once. */
void pg_store_outbox_delete(struct pg_store *s, const char *const *uuids, size_t n)
{
    if (!n)
        return;
    struct buf b;
    buf_init(&b);
    buf_putc(&b, '{');
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s%s", i ? "," : "", uuids[i]);
    buf_putc(&b, '}');
    char *arr = buf_steal(&b, NULL);
    const char *v[] = { arr };
    exec(s, "outbox_del", 1, v, on_write, "deleting acknowledged compliance events");
    free(arr);
}

/* ---- loading a room ---- */

struct load {
    struct pg_store *s;
    char *jid;
    store_loaded_cb *cb;
    void *ud;
    struct store_room *rec;
    int err;
};

static void room_row(struct store_room *rec, const PGresult *res)
{
    struct room_config *c = xcalloc(1, sizeof *c);
    rec->exists = true;
    rec->creator = col_str(res, 0, 0);
    rec->created_ms = col_ll(res, 0, 1);
    rec->locked = col_bool(res, 0, 2);
    c->name = col_str(res, 0, 3);
    c->desc = col_str(res, 0, 4);
    c->lang = col_str(res, 0, 5);
    c->password = col_str(res, 0, 6);
    c->persistent = col_bool(res, 0, 7);
    c->public_list = col_bool(res, 0, 8);
    c->members_only = col_bool(res, 0, 9);
    c->moderated = col_bool(res, 0, 10);
    c->password_protected = col_bool(res, 0, 11);
    c->whois_anyone = col_bool(res, 0, 12);
    c->change_subject = col_bool(res, 0, 13);
    c->allow_invites = col_bool(res, 0, 14);
    c->logging = col_bool(res, 0, 15);
    if (perm_pm_parse(PQgetvalue(res, 0, 16), &c->allow_pm) < 0)
        c->allow_pm = PM_ANYONE;
    c->max_users = (unsigned)col_ll(res, 0, 17);
    c->presence_broadcast = parse_roles(PQgetvalue(res, 0, 18));
    c->get_member_list = parse_roles(PQgetvalue(res, 0, 19));
    c->history_length = (unsigned)col_ll(res, 0, 20);
    rec->subject = col_str(res, 0, 21);
    rec->subject_from = col_str(res, 0, 22);
    rec->last_seq = (uint64_t)col_ll(res, 0, 23);
    rec->subject_ms = PQgetisnull(res, 0, 24) ? 0 : col_ll(res, 0, 24);
    rec->cfg = c;
}

static void on_room_get(void *ud, const struct db_result *r)
{
    struct load *l = ud;
    if (r->status < 0) {
        log_failure("loading a room", r);
        l->err = r->status;
    } else if (PQntuples(r->res) == 1) {
        room_row(l->rec, r->res);
    }
}

static void on_room_affils(void *ud, const struct db_result *r)
{
    struct load *l = ud;
    if (r->status < 0) {
        l->err = r->status;
        return;
    }
    int n = PQntuples(r->res);
    l->rec->affils = xcalloc((size_t)n + 1, sizeof *l->rec->affils);
    for (int i = 0; i < n; i++) {
        struct store_affil *a = &l->rec->affils[l->rec->naffils];
        if (perm_affil_parse(PQgetvalue(r->res, i, 1), &a->affil) < 0)
            continue;
        a->jid = col_str(r->res, i, 0);
        a->nick = col_str(r->res, i, 2);
        a->reason = col_str(r->res, i, 3);
        l->rec->naffils++;
    }
}

static void on_room_recent(void *ud, const struct db_result *r)
{
    struct load *l = ud;
    if (r->status < 0) {
        l->err = r->status;
        return;
    }
    int n = PQntuples(r->res);
    l->rec->recent = xcalloc((size_t)n + 1, sizeof *l->rec->recent);
    /* Newest first from the query; the room wants oldest first. */
    for (int i = 0; i < n; i++) {
        struct store_msg *m = &l->rec->recent[n - 1 - i];
        m->seq = (uint64_t)col_ll(r->res, i, 0);
        m->ts_ms = col_ll(r->res, i, 1);
        m->xml = col_str(r->res, i, 2);
        m->xml_len = strlen(m->xml);
        m->sender_jid = col_str(r->res, i, 3);
        m->nick = col_str(r->res, i, 4);
    }
    l->rec->nrecent = (size_t)n;
}

static void on_room_vcard(void *ud, const struct db_result *r)
{
    struct load *l = ud;
    if (r->status < 0) {
        l->err = r->status;
    } else if (PQntuples(r->res) == 1) {
        l->rec->vcard = col_str(r->res, 0, 0);
        l->rec->photo_hash = col_str(r->res, 0, 1);
    }
}

/* The last of the statements: everything is in. */
static void on_tomb_get(void *ud, const struct db_result *r)
{
    struct load *l = ud;
    if (r->status < 0) {
        l->err = r->status;
    } else if (PQntuples(r->res) == 1 && !l->rec->exists) {
        l->rec->tombstone = true;
        l->rec->venue = col_str(r->res, 0, 0);
        l->rec->reason = col_str(r->res, 0, 1);
    }
    if (l->err < 0) {
        store_room_free(l->rec);
        l->rec = NULL;
    }
    l->cb(l->ud, l->err, l->rec);
    free(l->jid);
    free(l);
}

static void load_room(void *st, const char *jid, unsigned history, store_loaded_cb *cb, void *ud)
{
    struct pg_store *s = st;
    /* Waiting for the database would leave the sender without an answer:
     * say "retry" now instead. */
    if (!can_read(s)) {
        cb(ud, -EAGAIN, NULL);
        return;
    }
    struct load *l = xcalloc(1, sizeof *l);
    l->s = s;
    l->jid = xstrdup(jid);
    l->cb = cb;
    l->ud = ud;
    l->rec = xcalloc(1, sizeof *l->rec);
    char lim[16];
    snprintf(lim, sizeof lim, "%u", history);
    const char *v1[] = { l->jid };
    const char *v2[] = { l->jid, lim };
    /* Five statements in one turn: one segment, callbacks in this order. */
    exec_read(s, "room_get", 1, v1, on_room_get, l);
    exec_read(s, "room_affils", 1, v1, on_room_affils, l);
    exec_read(s, "room_recent", 2, v2, on_room_recent, l);
    exec_read(s, "vcard_get", 1, v1, on_room_vcard, l);
    exec_read(s, "tomb_get", 1, v1, on_tomb_get, l);
}

/* ---- writing ---- */

static void save_room(void *st, const struct room *room)
{
    struct pg_store *s = st;
    const struct room_config *c = &room->cfg;
    char created[24], maxu[16], hist[16], seq[24], pb[64], gml[64], subj_at[24];
    snprintf(created, sizeof created, "%" PRId64, room->created_ms);
    snprintf(subj_at, sizeof subj_at, "%" PRId64, room->subject_ms);
    snprintf(maxu, sizeof maxu, "%u", c->max_users);
    snprintf(hist, sizeof hist, "%u", c->history_length);
    snprintf(seq, sizeof seq, "%" PRIu64, room->last_seq);
    roles_str(c->presence_broadcast, pb, sizeof pb);
    roles_str(c->get_member_list, gml, sizeof gml);
    const char *v[] = {
        room->jid, room->creator, created, b(room->locked), c->name, c->desc, c->lang,
        c->password ? c->password : "", b(c->persistent), b(c->public_list),
        b(c->members_only), b(c->moderated), b(c->password_protected), b(c->whois_anyone),
        b(c->change_subject), b(c->allow_invites), b(c->logging), perm_pm_name(c->allow_pm),
        maxu, pb, gml, hist, room->subject, room->subject_from, seq,
        room->subject && room->subject_ms ? subj_at : NULL,
    };
    exec_change(s, "room_put", 26, v, on_write, "saving a room");
}

static void save_affiliation(void *st, const struct room *room, const char *jid,
                             enum muc_affil affil, const char *nick, const char *reason)
{
    struct pg_store *s = st;
    if (affil == AFFIL_NONE && !nick) {
        const char *v[] = { room->jid, jid };
        exec_change(s, "affil_del", 2, v, on_write, "removing an affiliation");
        return;
    }
    const char *v[] = { room->jid, jid, perm_affil_name(affil), nick, reason };
    exec_change(s, "affil_put", 5, v, on_write, "saving an affiliation");
}

struct append {
    struct pg_store *s;
    store_done_cb *cb;
    void *ud;
};

/* A full disk fails every message until space returns: one line when it
 * starts, one when it ends, not one per message. */
static void on_append(void *ud, const struct db_result *r)
{
    struct append *a = ud;
    struct pg_store *s = a->s;
    if (r->status < 0 && r->status != -ECANCELED && !s->msg_failing) {
        log_failure("storing a message", r);
        log_warn("store: messages are refused while storing fails; further failures are not "
                 "logged until one succeeds");
        s->msg_failing = true;
    } else if (r->status == 0 && s->msg_failing) {
        log_info("store: storing messages works again");
        s->msg_failing = false;
    }
    a->cb(a->ud, r->status < 0 ? r->status : 0);
    free(a);
}

static void append_message(void *st, const struct room *room, const struct store_msg_meta *m,
                           store_done_cb *committed, void *ud)
{
    struct pg_store *s = st;
    char seq[24], ts[24];
    snprintf(seq, sizeof seq, "%" PRIu64, m->seq);
    snprintf(ts, sizeof ts, "%" PRId64, m->ts_ms);
    const char *v[] = { room->jid, seq, ts, m->sender_jid, m->nick, m->occupant_id, m->body,
                        s->fts_language, m->xml, b(m->archived) };
    if (!s->durable) {
        /* durability = async: the room goes on at once; a failure is only logged. */
        exec_change(s, "msg_put", 10, v, on_write, "storing a message");
        committed(ud, 0);
        return;
    }
    struct append *a = xmalloc(sizeof *a);
    a->s = s;
    a->cb = committed;
    a->ud = ud;
    exec_change(s, "msg_put", 10, v, on_append, a);
}

static void delete_room(void *st, const struct room *room, bool tombstone, const char *venue,
                        const char *reason)
{
    struct pg_store *s = st;
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%" PRIu64 " milliseconds", s->tombstone_ttl_ms);
    const char *v[] = { room->jid, venue, reason, s->tombstone_ttl_ms ? ttl : NULL };
    if (!tombstone) {
        exec_change(s, "room_del", 1, v, on_write, "deleting a room");
        return;
    }
    /* The room goes and its tombstone comes in one transaction. */
    struct db_op ops[3] = {
        { .stmt = "room_del", .nparams = 1, .values = v, .cb = on_write, .ud = "deleting a room" },
        { .stmt = "tomb_put", .nparams = 4, .values = v, .cb = on_write,
          .ud = "writing a tombstone" },
    };
    if (s->attached) {
        exec_with_event(s, ops, 2);
        return;
    }
    if (db_exec_atomic(s->db, ops, 2) < 0)
        log_error("store: cannot queue the destruction of %s", room->jid);
}

/* The room's vCard replaces the previous one; NULL removes it (XEP-0486:
 * an empty vCard unpublishes the avatar). */
static void save_vcard(void *st, const struct room *room, const char *vcard,
                       const char *photo_hash)
{
    struct pg_store *s = st;
    const char *v[] = { room->jid, vcard, photo_hash };
    if (vcard)
        exec_change(s, "vcard_put", 3, v, on_write, "saving a room's vCard");
    else
        exec_change(s, "vcard_del", 1, v, on_write, "removing a room's vCard");
}

/* ---- XEP-0313 ---- */

struct mamq {
    store_mam_cb *cb;
    void *ud;
    struct store_mam_page *page;
    bool backward;
    unsigned max;
    uint64_t offset;                /* RSM <index/> */
    long long le_after, lt_before;  /* from the count statement */
    int pending;
    int err;
};

static void mamq_done(struct mamq *mq)
{
    if (--mq->pending > 0)
        return;
    struct store_mam_page *p = mq->page;
    if (mq->err < 0) {
        store_mam_page_free(p);
        p = NULL;
    } else if (p->count >= 0 && p->n) {
        p->first_index = mq->backward ? mq->lt_before - (long long)p->n
                                      : mq->le_after + (long long)mq->offset;
    }
    mq->cb(mq->ud, mq->err, p);
    free(mq);
}

/* max + 1 rows were asked for: the extra one says the page is not complete.
 * A backward page comes newest first and is handed on oldest first. */
static void on_mam_rows(void *ud, const struct db_result *r)
{
    struct mamq *mq = ud;
    if (r->status < 0) {
        log_failure("an archive query", r);
        mq->err = r->status;
        mamq_done(mq);
        return;
    }
    int rows = PQntuples(r->res);
    size_t n = (size_t)rows < mq->max ? (size_t)rows : mq->max;
    struct store_mam_page *p = mq->page;
    p->msgs = xcalloc(n + 1, sizeof *p->msgs);
    for (size_t i = 0; i < n; i++) {
        struct store_msg *m = &p->msgs[mq->backward ? n - 1 - i : i];
        int row = (int)i;
        m->seq = (uint64_t)col_ll(r->res, row, 0);
        m->ts_ms = col_ll(r->res, row, 1);
        m->xml = col_str(r->res, row, 2);
        m->xml_len = strlen(m->xml);
        m->sender_jid = col_str(r->res, row, 3);
        m->nick = col_str(r->res, row, 4);
    }
    p->n = n;
    p->complete = (size_t)rows <= mq->max;
    mamq_done(mq);
}

static void on_mam_count(void *ud, const struct db_result *r)
{
    struct mamq *mq = ud;
    if (r->status < 0) {
        log_failure("counting an archive query", r);
        mq->err = r->status;
    } else {
        mq->page->count = col_ll(r->res, 0, 0);
        mq->le_after = col_ll(r->res, 0, 1);
        mq->lt_before = col_ll(r->res, 0, 2);
    }
    mamq_done(mq);
}

static void fmt_ms(int64_t ms, const char *open, char *out, size_t len)
{
    if (ms < 0)
        snprintf(out, len, "%s", open);
    else
        snprintf(out, len, "%" PRId64, ms);
}

/* q->last_page pages backwards: the newest rows inside the seq bounds (RSM
 * <before/>, empty or not); otherwise forwards from after_seq. */
static void mam_query(void *st, const char *room_jid, const struct store_mam_query *q,
                      store_mam_cb *cb, void *ud)
{
    struct pg_store *s = st;
    if (!s->ready) {
        cb(ud, -EAGAIN, NULL);
        return;
    }
    char after[24], before[24], start[24], end[24], limit[16], offset[24];
    snprintf(after, sizeof after, "%" PRIu64, q->after_seq);
    uint64_t upto = q->before_seq ? q->before_seq : (uint64_t)INT64_MAX;
    snprintf(before, sizeof before, "%" PRIu64, upto);
    fmt_ms(q->start_ms, "-Infinity", start, sizeof start);
    fmt_ms(q->end_ms, "Infinity", end, sizeof end);
    snprintf(limit, sizeof limit, "%u", q->max + 1);
    snprintf(offset, sizeof offset, "%" PRIu64, q->offset);
    const char *nick = NULL, *jid = NULL;
    if (q->with && q->with_is_nick)
        nick = strchr(q->with, '/') ? strchr(q->with, '/') + 1 : q->with;
    else if (q->with)
        jid = q->with;
    const char *fts = q->fulltext && *q->fulltext ? q->fulltext : NULL;
    bool timed = q->start_ms >= 0 || q->end_ms >= 0;
    const char *v[11] = { room_jid, after, before, nick, jid, start, end, s->fts_language, fts };
    int n = fts ? 9 : timed ? 7 : 5;
    v[n] = limit;
    v[n + 1] = offset;
    bool at = q->offset > 0 && !q->last_page;
    static const char *const page_at[] = { "mam_at", "mam_at_t", "mam_at_f" };
    static const char *const page_asc[] = { "mam_asc", "mam_asc_t", "mam_asc_f" };
    static const char *const page_desc[] = { "mam_desc", "mam_desc_t", "mam_desc_f" };
    static const char *const count[] = { "mam_count", "mam_count_t", "mam_count_f" };
    int kind = fts ? 2 : timed ? 1 : 0;
    struct mamq *mq = xcalloc(1, sizeof *mq);
    mq->cb = cb;
    mq->ud = ud;
    mq->backward = q->last_page;
    mq->max = q->max;
    mq->offset = at ? q->offset : 0;
    mq->page = xcalloc(1, sizeof *mq->page);
    mq->page->count = mq->page->first_index = -1;
    mq->pending = q->want_count ? 2 : 1;
    /* One loop turn, one segment: both answers arrive together. Nothing may
     * touch mq after the last exec (its callback may already have run). */
    bool want_count = q->want_count;
    if (at)
        exec_read(s, page_at[kind], n + 2, v, on_mam_rows, mq);
    else
        exec_read(s, q->last_page ? page_desc[kind] : page_asc[kind], n + 1, v, on_mam_rows, mq);
    if (want_count)
        exec_read(s, count[kind], n, v, on_mam_count, mq);
}

static bool available(void *st)
{
    struct pg_store *s = st;
    return s->ready && db_is_up(s->db);
}

/* Runs once every earlier write on the writer connection has committed:
 * acknowledgements of configuration changes wait for it. */
static void barrier(void *st, store_done_cb *cb, void *ud)
{
    struct pg_store *s = st;
    struct append *a = xmalloc(sizeof *a);
    a->s = s;
    a->cb = cb;
    a->ud = ud;
    exec(s, "barrier", 0, NULL, on_append, a);
}

/* ---- retention ---- */

static void cleanup_batch(struct pg_store *s);

static void on_retention_batch(void *ud, const struct db_result *r)
{
    struct pg_store *s = ud;
    if (r->status < 0 || !s->ready) {
        if (r->status < 0 && r->status != -ECANCELED)
            log_failure("deleting expired messages", r);
        s->cleaning = false;
        return;
    }
    long n = PQresultStatus(r->res) == PGRES_TUPLES_OK && PQntuples(r->res) == 1
                 ? strtol(PQgetvalue(r->res, 0, 0), NULL, 10)   /* retention_batch_ev */
                 : strtol(PQcmdTuples((PGresult *)r->res), NULL, 10);
    if (n > 0)
        log_debug("store: retention deleted %ld messages", n);
    if (n > 0 && s->muc->compliance_on && s->on_event)
        s->on_event(s->event_ud, NULL);
    /* A full batch means more may be waiting; the next one runs in a new
     * transaction, so writers never wait long behind us. */
    if (n >= 5000) {
        cleanup_batch(s);
        return;
    }
    s->cleaning = false;
}

static void cleanup_batch(struct pg_store *s)
{
    char age[32];
    snprintf(age, sizeof age, "%" PRIu64 " milliseconds", s->retention_ms);
    const char *v[] = { s->retention_ms ? age : NULL, s->muc->domain };
    /* On the reader connection: message commits never queue behind a sweep. */
    if (s->muc->compliance_on)
        exec_read(s, "retention_batch_ev", 2, v, on_retention_batch, s);
    else
        exec_read(s, "retention_batch", 1, v, on_retention_batch, s);
}

static void on_cleanup(uv_timer_t *t)
{
    struct pg_store *s = container_of(t, struct pg_store, cleanup_timer);
    if (!s->ready || s->cleaning || !db_is_up(s->rdb))
        return;
    s->cleaning = true;
    exec_read(s, "tomb_expire", 0, NULL, on_write, "expiring tombstones");
    cleanup_batch(s);
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

struct pg_store *pg_store_new(uv_loop_t *loop, struct muc *m, const struct pg_store_cfg *cfg)
{
    struct pg_store *s = xcalloc(1, sizeof *s);
    s->muc = m;
    s->fts_language = xstrdup(cfg->fts_language);
    s->durable = cfg->durable;
    s->retention_ms = cfg->retention_ms;
    s->tombstone_ttl_ms = cfg->tombstone_ttl_ms;
    /* A short backoff cap: while the database is away messages are refused,
     * so every second of reconnect delay is a second of refusals. */
    struct db_cfg dc = { .dsn = cfg->dsn, .name = "chat", .reconnect_max_ms = 2000 };
    s->db = db_new(loop, &dc, stmts, ARRAY_SIZE(stmts), on_db_state, s);
    struct db_cfg rc = { .dsn = cfg->dsn, .name = "chat-read", .reconnect_max_ms = 2000 };
    s->rdb = db_new(loop, &rc, stmts, ARRAY_SIZE(stmts), NULL, s);
    uv_timer_init(loop, &s->cleanup_timer);
    s->ops = (struct muc_store){
        .load_room = load_room, .save_room = save_room, .save_affiliation = save_affiliation,
        .append_message = append_message, .delete_room = delete_room, .mam_query = mam_query,
        .barrier = barrier, .available = available, .attach_event = attach_event,
        .put_event = put_event, .save_vcard = save_vcard, .st = s,
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
    exec(s, "rooms_gc", 0, NULL, on_write, "removing rooms left over from a crash");
    uv_timer_start(&s->cleanup_timer, on_cleanup, 5000, 60000);
}

static void stopped_one(struct pg_store *s)
{
    if (--s->closing > 0)
        return;
    void (*done)(void *) = s->stop_done;
    void *dud = s->stop_ud;
    attached_free(s->attached);
    free(s->fts_language);
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
