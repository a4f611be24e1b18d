/* pg_store_outbox.c — the compliance outbox table: events written with their change. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "mem.h"
#include "pg_store_int.h"

const struct db_stmt pg_store_outbox_stmts[] = {
    /* schema/chat/003. An insert goes in the transaction of the change it
     * records; retries reuse the UUID. */
    { "outbox_put",
      "INSERT INTO compliance_outbox (uuid, room, xml) VALUES ($1::uuid, $2, $3) "
      "ON CONFLICT (uuid) DO NOTHING RETURNING id", 3 },
    { "outbox_fetch",
      "SELECT id, uuid, xml FROM compliance_outbox WHERE id > $1 ORDER BY id LIMIT $2", 2 },
    { "outbox_del", "DELETE FROM compliance_outbox WHERE uuid = ANY ($1::uuid[])", 1 },
    { "outbox_count", "SELECT count(*) FROM compliance_outbox", 0 },
};
const size_t pg_store_outbox_nstmts = ARRAY_SIZE(pg_store_outbox_stmts);

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
            pg_store_log_failure("writing a compliance event", r);
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

void pg_store_outbox_with_event(struct pg_store *s, struct db_op *ops, size_t n)
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

void pg_store_outbox_change(struct pg_store *s, const char *stmt, int n, const char *const *v,
                        db_result_cb *cb, void *ud)
{
    if (!s->attached) {
        pg_store_exec(s, stmt, n, v, cb, ud);
        return;
    }
    struct db_op ops[2] = { { .stmt = stmt, .nparams = n, .values = v, .cb = cb, .ud = ud } };
    pg_store_outbox_with_event(s, ops, 1);
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
    pg_store_exec(s, "outbox_put", 3, v, on_event_put, e);
}

void pg_store_outbox_put_event(void *st, const struct store_event *ev)
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

void pg_store_outbox_attach_event(void *st, const struct store_event *ev)
{
    struct pg_store *s = st;
    pg_store_outbox_put_event(s, NULL);   /* one that no change took goes first, alone */
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
            pg_store_log_failure("reading the compliance outbox", r);
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
    if (!pg_store_can_read(s)) {
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
    pg_store_exec_read(s, "outbox_fetch", 2, v, on_outbox_rows, f);
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
    if (!pg_store_can_read(s)) {
        cb(ud, -EAGAIN, NULL, 0);
        return;
    }
    struct fetch *f = xmalloc(sizeof *f);
    f->cb = cb;
    f->ud = ud;
    pg_store_exec_read(s, "outbox_count", 0, NULL, on_outbox_count, f);
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
    pg_store_exec(s, "outbox_del", 1, v, pg_store_on_write,
                  "deleting acknowledged compliance events");
    free(arr);
}


void pg_store_outbox_free_attached(struct pg_store *s)
{
    attached_free(s->attached);
    s->attached = NULL;
}
