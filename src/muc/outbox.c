/* outbox.c — sends confabd's compliance events to the archiver; see outbox.h. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "buf.h"
#include "compliance.h"
#include "datetime.h"
#include "log.h"
#include "mem.h"
#include "pg_store.h"
#include "outbox.h"
#include "stanza.h"

/* IQs in flight. Throughput is window / round trip, and under load the round
 * trip is mostly the router's queue on our component stream (the same one the
 * reflections take): at 5,000 events/s and a 0.5 s round trip 2,500 must be in
 * flight. The archiver takes up to [archiver] max_queue (default 100,000). The
 * byte bound keeps the events from filling our output queue (max_output_queue,
 * 16 MiB by default: reading from the router stops above half of it). */
#define WINDOW 4096
#define WINDOW_BYTES (4u << 20)
#define MEM_MAX 8192        /* events held in memory (the window and those read ahead) */
/* ...and their bytes: 8192 events of [compliance] max_event_size (64 KiB)
 * would be 512 MiB. Past this, rows wait in the table. */
#define MEM_BYTES (32u << 20)
/* After a failure, until the archiver answers `result` again: an archiver
 * that is away gets this many IQs per retry (each bounced by the router),
 * not a whole window. */
#define PROBE_WINDOW 16
#define NOSTORE_MAX 100000  /* events held without a store */
#define IQ_TIMEOUT_MS 10000      /* at least; 4 round trips when the router is slower, */
#define IQ_TIMEOUT_MAX_MS 60000  /* and while answers still come; but no more */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define RESCAN_MS 30000     /* when idle, read the table from the start again; */
#define RESCAN_BUSY_MS 300000   /* when busy, only this often */

enum entry_state { E_PENDING, E_INFLIGHT };

struct entry {
    int64_t id;
    char uuid[COMPLIANCE_UUID_LEN];
    char *xml;
    size_t len;
    enum entry_state state;
    unsigned attempt;       /* in the IQ id: answers to older sends are told apart */
    int64_t sent_ms;
    struct entry *prev, *next;
    UT_hash_handle hh;      /* by uuid */
};

/* An event the archiver refused as malformed: never sent again by this run. */
struct parked {
    char uuid[COMPLIANCE_UUID_LEN];
    UT_hash_handle hh;
};

struct outbox {
    uv_timer_t tick;        /* timeouts, backoff, retries of failed reads */
    uv_timer_t kick;        /* once per loop turn: reads, deletes, sends */
    int closing;
    char *domain, *archiver;
    bool strict;
    uint64_t max_backlog, unreachable_ms;
    struct pg_store *store;
    struct outbox_io io;

    struct entry *head, *tail, *by_uuid;
    struct parked *parked;
    int64_t last_rescan;
    struct entry *next_send;   /* first entry not sent in this round */
    size_t nmem, ninflight, inflight_bytes;
    size_t mem_bytes;              /* event text held (freed memory goes back: main.c's trim timer) */
    size_t window;             /* WINDOW, or PROBE_WINDOW after a failure */
    int64_t cursor;            /* highest outbox id read */
    uint64_t unread;           /* committed rows not read back yet (estimate) */
    bool dirty;                /* rows may be waiting in the table */
    bool fetching;
    /* Caught up: every row past the cursor reached us as it committed (our
     * own inserts, handed over by the store), so none need reading back. */
    bool live;
    bool need_count, counting; /* the outbox size, after a (re)connect */
    unsigned fetch_limit;      /* rows asked for by the read in flight */
    bool link_up;
    int64_t backoff_until;
    uint64_t backoff_ms;
    int64_t stalled_since;     /* events waiting and no `result` since then; 0 = none */
    int64_t srtt_ms;           /* smoothed round trip of answered events */
    int64_t last_answer_ms;    /* the last answer to any of our IQs */
    bool unhealthy, refusing, dropping;
    char **dels;               /* acknowledged UUIDs to delete */
    size_t ndels, dels_cap;
    /* Counters, logged when we stop (docs/benchmarks.md reads them). */
    uint64_t n_fetches, n_read, n_direct, n_sent, n_acked, n_deletes;
};

static int64_t now_ms(void)
{
    return datetime_now_ms();
}

static uint64_t backlog(const struct outbox *o)
{
    return (uint64_t)o->nmem + o->unread;
}

/* ---- the policy ---- */

static void check_health(struct outbox *o)
{
    int64_t now = now_ms();
    uint64_t n = backlog(o);
    if (n == 0)
        o->stalled_since = 0;
    else if (!o->stalled_since)
        o->stalled_since = now;
    bool bad = compliance_unhealthy(n, o->max_backlog, now, o->stalled_since, o->unreachable_ms);
    if (bad != o->unhealthy) {
        o->unhealthy = bad;
        if (bad)
            log_warn("compliance: archiver %s is behind (%" PRIu64 " events waiting, %s); %s",
                     o->archiver, n,
                     n > o->max_backlog ? "over [compliance] max_backlog"
                                        : "no confirmation within unreachable_timeout",
                     o->strict ? "new messages are refused (policy strict)"
                               : "chat goes on (policy relaxed)");
        else
            log_info("compliance: archiver %s is keeping up again (%" PRIu64 " events waiting)",
                     o->archiver, n);
    }
    bool refuse = compliance_should_refuse(o->strict, n, o->max_backlog, now, o->stalled_since,
                                           o->unreachable_ms);
    if (refuse != o->refusing) {
        o->refusing = refuse;
        o->io.health(o->io.ud, refuse);
    }
}

/* ---- the in-memory window ---- */

static struct entry *entry_add(struct outbox *o, int64_t id, const char *uuid, const char *xml,
                               size_t len)
{
    struct entry *e = NULL;
    struct parked *p = NULL;
    if (strlen(uuid) >= COMPLIANCE_UUID_LEN)
        return NULL;
    HASH_FIND_STR(o->by_uuid, uuid, e);
    HASH_FIND_STR(o->parked, uuid, p);
    if (e || p)
        return NULL;
    e = xcalloc(1, sizeof *e);
    e->id = id;
    memcpy(e->uuid, uuid, strlen(uuid) + 1);
    e->xml = xstrndup(xml, len);
    e->len = len;
    e->prev = o->tail;
    if (o->tail)
        o->tail->next = e;
    else
        o->head = e;
    o->tail = e;
    if (!o->next_send)
        o->next_send = e;
    HASH_ADD_STR(o->by_uuid, uuid, e);
    o->nmem++;
    o->mem_bytes += len;
    return e;
}

static void entry_remove(struct outbox *o, struct entry *e)
{
    if (o->next_send == e)
        o->next_send = e->next;
    if (e->prev)
        e->prev->next = e->next;
    else
        o->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        o->tail = e->prev;
    HASH_DEL(o->by_uuid, e);
    if (e->state == E_INFLIGHT) {
        o->ninflight--;
        o->inflight_bytes -= e->len;
    }
    o->nmem--;
    o->mem_bytes -= e->len;
    free(e->xml);
    free(e);
}

/* Room for more events in memory? */
static bool mem_full(const struct outbox *o)
{
    return o->nmem >= MEM_MAX || o->mem_bytes >= MEM_BYTES;
}

/* ---- sending ---- */

static void on_kick(uv_timer_t *t);

static void kick(struct outbox *o)
{
    if (!o->closing && !uv_is_active((uv_handle_t *)&o->kick))
        uv_timer_start(&o->kick, on_kick, 0, 0);
}

static int send_one(struct outbox *o, struct entry *e)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<iq type='set' from='");
    buf_put_xml_escaped(&b, o->domain, strlen(o->domain), 1);
    buf_puts(&b, "' to='");
    buf_put_xml_escaped(&b, o->archiver, strlen(o->archiver), 1);
    buf_printf(&b, "' id='%s.%u'>", e->uuid, e->attempt + 1);
    buf_append(&b, e->xml, e->len);
    buf_puts(&b, "</iq>");
    int r = o->io.send_raw(o->io.ud, b.data, b.len);
    buf_free(&b);
    if (r < 0)
        return r;
    e->attempt++;
    o->n_sent++;
    e->state = E_INFLIGHT;
    e->sent_ms = now_ms();
    o->ninflight++;
    o->inflight_bytes += e->len;
    return 0;
}

static void pump(struct outbox *o)
{
    if (!o->link_up || now_ms() < o->backoff_until)
        return;
    while (o->next_send && o->ninflight < o->window && o->inflight_bytes < WINDOW_BYTES) {
        struct entry *e = o->next_send;
        if (e->state == E_PENDING && send_one(o, e) < 0)
            return;   /* congested or down: the tick tries again */
        o->next_send = e->next;
    }
}

/* Everything unanswered goes out again, in order (go-back-N). */
static void go_back(struct outbox *o, bool backoff)
{
    for (struct entry *e = o->head; e; e = e->next)
        if (e->state == E_INFLIGHT)
            e->state = E_PENDING;
    o->ninflight = 0;
    o->inflight_bytes = 0;
    o->next_send = o->head;
    if (backoff) {
        o->window = PROBE_WINDOW;
        o->backoff_ms = o->backoff_ms ? o->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (o->backoff_ms > BACKOFF_MAX_MS)
            o->backoff_ms = BACKOFF_MAX_MS;
        o->backoff_until = now_ms() + (int64_t)o->backoff_ms;
    }
}

/* ---- reading the table back ---- */

static void maybe_fetch(struct outbox *o);
static void release(struct outbox *o);

static void on_rows(void *ud, int err, const struct pg_outbox_row *rows, size_t n)
{
    struct outbox *o = ud;
    o->fetching = false;
    if (o->closing) {
        release(o);
        return;
    }
    if (err < 0) {
        o->dirty = true;   /* the tick tries again */
        o->live = false;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (rows[i].id <= o->cursor)
            continue;
        o->cursor = rows[i].id;
        if (entry_add(o, rows[i].id, rows[i].uuid, rows[i].xml, strlen(rows[i].xml)))
            o->n_read++;
    }
    if (n < o->fetch_limit) {
        o->unread = 0;   /* caught up with the table */
        /* No commit was announced while the read ran, so every row past the
         * cursor will be: take them as they come. */
        o->live = !o->dirty;
    } else {
        o->unread = o->unread > n ? o->unread - n : 0;
        o->dirty = true;
    }
    pump(o);
    check_health(o);
    maybe_fetch(o);
}

static void maybe_fetch(struct outbox *o)
{
    if (!o->store || o->fetching || o->closing || !o->dirty || mem_full(o))
        return;
    size_t room = MEM_MAX - o->nmem;
    unsigned limit = (unsigned)(room < MEM_MAX / 4 ? room : MEM_MAX / 4);
    o->fetching = true;
    o->dirty = false;
    o->fetch_limit = limit;
    o->n_fetches++;
    pg_store_outbox_fetch(o->store, o->cursor, limit, on_rows, o);
}

/* Our own insert committed. Caught up, it goes to the window at once, in
 * commit order (which is id order: one writer connection), without a read
 * back; a row at or below the cursor was read back already. Otherwise (a read
 * is running, memory is full, the row is unknown) the table is read. */
static void on_committed(void *ud, const struct pg_outbox_row *row)
{
    struct outbox *o = ud;
    if (o->closing)
        return;
    if (row && o->live && !o->fetching && !mem_full(o)) {
        if (row->id > o->cursor) {
            o->cursor = row->id;
            if (entry_add(o, row->id, row->uuid, row->xml, strlen(row->xml)))
                o->n_direct++;
            kick(o);
        }
        return;
    }
    o->live = false;
    o->unread++;
    o->dirty = true;
    kick(o);
}

static void on_count(void *ud, int err, const struct pg_outbox_row *rows, size_t n)
{
    struct outbox *o = ud;
    (void)rows;
    (void)n;
    o->counting = false;
    if (o->closing) {
        release(o);
        return;
    }
    if (err < 0)
        return;   /* need_count stays: the tick asks again */
    o->need_count = false;
    o->unread = (size_t)err > o->nmem ? (size_t)err - o->nmem : 0;
    if (o->unread)
        log_info("compliance: %" PRIu64 " events in the outbox to send to %s", o->unread,
                 o->archiver);
    check_health(o);
}

static void maybe_count(struct outbox *o)
{
    if (!o->store || !o->need_count || o->counting || o->closing)
        return;
    o->counting = true;
    pg_store_outbox_count(o->store, on_count, o);
}

/* The writer connection is (back) up: whatever the table holds is sent. */
static void on_db_up(void *ud)
{
    struct outbox *o = ud;
    o->live = false;
    o->dirty = true;
    o->need_count = true;
    kick(o);
}

/* ---- deleting acknowledged rows ---- */

static void flush_deletes(struct outbox *o)
{
    if (!o->ndels)
        return;
    if (o->store)
        pg_store_outbox_delete(o->store, (const char *const *)o->dels, o->ndels);
    o->n_deletes++;
    for (size_t i = 0; i < o->ndels; i++)
        free(o->dels[i]);
    o->ndels = 0;
}

static void acknowledged(struct outbox *o, struct entry *e)
{
    if (o->ndels == o->dels_cap) {
        o->dels_cap = o->dels_cap ? o->dels_cap * 2 : 64;
        o->dels = xrealloc(o->dels, o->dels_cap * sizeof *o->dels);
    }
    o->dels[o->ndels++] = xstrdup(e->uuid);
    o->n_acked++;
    entry_remove(o, e);
    o->backoff_ms = 0;
    o->window = WINDOW;
    o->stalled_since = backlog(o) ? now_ms() : 0;
    if (o->ndels >= 500)
        flush_deletes(o);
    kick(o);
}

/* ---- timers ---- */

static void on_kick(uv_timer_t *t)
{
    struct outbox *o = container_of(t, struct outbox, kick);
    flush_deletes(o);
    maybe_count(o);
    maybe_fetch(o);
    pump(o);
    check_health(o);
}

static void on_tick(uv_timer_t *t)
{
    struct outbox *o = container_of(t, struct outbox, tick);
    int64_t now = now_ms();
    /* An IQ is lost only with the link or the archiver (the router answers
     * for an archiver that is away). A router far behind (its queue on our
     * stream is seconds long under load) is not: sending the whole window
     * again would only lengthen that queue. So while answers keep coming, an
     * IQ is given up only after IQ_TIMEOUT_MAX_MS. */
    int64_t timeout = 4 * o->srtt_ms;
    if (timeout < IQ_TIMEOUT_MS)
        timeout = IQ_TIMEOUT_MS;
    if (now - o->last_answer_ms < IQ_TIMEOUT_MS || timeout > IQ_TIMEOUT_MAX_MS)
        timeout = IQ_TIMEOUT_MAX_MS;
    for (struct entry *e = o->head; e && e != o->next_send; e = e->next) {
        if (e->state == E_INFLIGHT && now - e->sent_ms > timeout) {
            log_debug("compliance: no answer from %s for event %s; sending again", o->archiver,
                      e->uuid);
            go_back(o, true);
            break;
        }
    }
    /* A notification may have been lost with a connection: look anyway. And
     * ids are commit order only for one connection: a row another one (the
     * retention sweep, confabctl, an operator) committed late may sit below
     * the cursor, so now and then read the table from the start again (rows
     * in memory are skipped; one whose delete is still on its way may be sent
     * again, and is stored once). */
    if (o->store && !o->fetching && o->nmem < MEM_MAX / 2)
        o->dirty = true;
    /* Busy, a re-read would send again every acknowledged row whose delete
     * is still queued behind the chat (thousands when the database is behind). */
    int64_t every = o->nmem == 0 && o->unread == 0 ? RESCAN_MS : RESCAN_BUSY_MS;
    if (o->store && !o->fetching && now - o->last_rescan >= every) {
        o->last_rescan = now;
        o->cursor = 0;
        o->dirty = true;
        o->live = false;
    }
    flush_deletes(o);
    maybe_count(o);
    maybe_fetch(o);
    pump(o);
    check_health(o);
}

/* ---- answers ---- */

/* "uuid.attempt" → the entry and the attempt number. */
static struct entry *lookup(struct outbox *o, const char *id, unsigned *attempt)
{
    const char *dot = id ? strchr(id, '.') : NULL;
    if (!dot || dot - id != COMPLIANCE_UUID_LEN - 1)
        return NULL;
    char uuid[COMPLIANCE_UUID_LEN];
    memcpy(uuid, id, COMPLIANCE_UUID_LEN - 1);
    uuid[COMPLIANCE_UUID_LEN - 1] = '\0';
    char *end;
    unsigned long a = strtoul(dot + 1, &end, 10);
    if (*end || a == 0)
        return NULL;
    *attempt = (unsigned)a;
    struct entry *e = NULL;
    HASH_FIND_STR(o->by_uuid, uuid, e);
    return e;
}

static bool ours(const struct outbox *o, const struct xml_node *iq)
{
    const char *type = stanza_type(iq), *to = stanza_to(iq), *from = stanza_from(iq);
    const char *id = stanza_id(iq);
    if (!type || (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
        return false;
    if (!to || strcmp(to, o->domain) != 0 || !from || strcmp(from, o->archiver) != 0)
        return false;
    return id && strlen(id) > COMPLIANCE_UUID_LEN && id[COMPLIANCE_UUID_LEN - 1] == '.';
}

static void rejected(struct outbox *o, struct entry *e, const struct xml_node *err)
{
    const struct xml_node *t = err ? xml_child(err, "text", NS_STANZAS) : NULL;
    char *why = t ? xml_text(t) : NULL;
    log_error("compliance: %s refused event %s as malformed (%s); it stays in the outbox and is "
              "not sent again until confabd restarts", o->archiver, e->uuid,
              why ? why : "no reason given");
    free(why);
    /* Out of the window: parked events never hold up the others, nor count as
     * backlog, and a re-read of the table skips them. */
    struct parked *p = xcalloc(1, sizeof *p);
    memcpy(p->uuid, e->uuid, sizeof p->uuid);
    HASH_ADD_STR(o->parked, uuid, p);
    entry_remove(o, e);
}

bool outbox_answer(struct outbox *o, const struct xml_node *iq)
{
    if (!ours(o, iq))
        return false;
    unsigned attempt = 0;
    o->last_answer_ms = now_ms();
    struct entry *e = lookup(o, stanza_id(iq), &attempt);
    if (!e)
        return true;   /* already acknowledged (an answer to an earlier send) */
    if (strcmp(stanza_type(iq), "result") == 0) {
        if (e->state == E_INFLIGHT && attempt == e->attempt) {
            int64_t rtt = now_ms() - e->sent_ms;
            o->srtt_ms = o->srtt_ms ? (7 * o->srtt_ms + rtt) / 8 : rtt;
        }
        acknowledged(o, e);
        return true;
    }
    /* Errors count only for the latest send: older ones were already retried. */
    if (e->state != E_INFLIGHT || attempt != e->attempt)
        return true;
    const struct xml_node *err = stanza_child(iq, "error");
    const char *etype = err ? xml_attr(err, "type") : NULL;
    if (etype && strcmp(etype, "modify") == 0) {
        rejected(o, e, err);
        kick(o);
        return true;
    }
    const char *cond = err ? stanza_error_condition(err, NS_STANZAS) : NULL;
    log_debug("compliance: %s answered %s to event %s; sending again later", o->archiver,
              cond ? cond : "an error", e->uuid);
    go_back(o, true);
    return true;
}

/* ---- the rest of the interface ---- */

void outbox_push(struct outbox *o, const char *uuid, const char *xml, size_t len)
{
    if (o->nmem >= NOSTORE_MAX) {
        if (!o->dropping)
            log_error("compliance: %d events wait for %s and there is no [storage] to keep "
                      "them: new events are dropped", NOSTORE_MAX, o->archiver);
        o->dropping = true;
        return;
    }
    o->dropping = false;
    entry_add(o, ++o->cursor, uuid, xml, len);
    kick(o);
}

void outbox_link(struct outbox *o, bool up)
{
    o->link_up = up;
    go_back(o, false);
    o->backoff_until = 0;
    kick(o);
}

void outbox_set_limits(struct outbox *o, uint64_t max_backlog, uint64_t unreachable_ms)
{
    o->max_backlog = max_backlog;
    o->unreachable_ms = unreachable_ms;
    kick(o);
}

struct outbox *outbox_new(uv_loop_t *loop, const struct outbox_cfg *cfg, struct pg_store *store,
                          const struct outbox_io *io)
{
    struct outbox *o = xcalloc(1, sizeof *o);
    o->domain = xstrdup(cfg->domain);
    o->archiver = xstrdup(cfg->archiver);
    o->strict = cfg->strict;
    o->max_backlog = cfg->max_backlog;
    o->unreachable_ms = cfg->unreachable_ms;
    o->store = store;
    o->io = *io;
    o->window = WINDOW;
    uv_timer_init(loop, &o->tick);
    uv_timer_init(loop, &o->kick);
    uv_timer_start(&o->tick, on_tick, 1000, 1000);
    if (store)
        pg_store_set_outbox(store, on_committed, on_db_up, o);
    return o;
}

/* The last of the two handles and of the store's answers still due frees it:
 * a read in flight at stop is answered later (db_stop cancels it at the
 * latest), after our handles have closed. */
static void release(struct outbox *o)
{
    if (--o->closing > 0)
        return;
    while (o->head)
        entry_remove(o, o->head);
    struct parked *p, *ptmp;
    HASH_ITER(hh, o->parked, p, ptmp) {
        HASH_DEL(o->parked, p);
        free(p);
    }
    for (size_t i = 0; i < o->ndels; i++)
        free(o->dels[i]);
    free(o->dels);
    free(o->domain);
    free(o->archiver);
    free(o);
}

static void on_closed(uv_handle_t *h)
{
    release(h->data);
}

void outbox_free(struct outbox *o)
{
    if (!o)
        return;
    log_info("compliance: sender: %" PRIu64 " events acknowledged by %s; %" PRIu64 " IQs sent; "
             "%" PRIu64 " events taken as they committed, %" PRIu64 " read back in %" PRIu64
             " reads; %" PRIu64 " deletes", o->n_acked, o->archiver, o->n_sent, o->n_direct,
             o->n_read, o->n_fetches, o->n_deletes);
    /* The store outlives us by a little: it must not call us any more. Acknowledged
     * rows not yet deleted are sent again at the next start (and stored once). */
    if (o->store)
        pg_store_set_outbox(o->store, NULL, NULL, NULL);
    o->store = NULL;
    o->closing = 2 + (o->fetching ? 1 : 0) + (o->counting ? 1 : 0);
    o->tick.data = o;
    o->kick.data = o;
    uv_close((uv_handle_t *)&o->tick, on_closed);
    uv_close((uv_handle_t *)&o->kick, on_closed);
}

uint64_t outbox_depth(const struct outbox *o)
{
    return o->nmem + o->unread;
}

int64_t outbox_rtt_ms(const struct outbox *o)
{
    return o->srtt_ms;
}
