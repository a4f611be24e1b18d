/* pg_store_mam.c — XEP-0313 archive queries on the messages table (keyset paging). */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "pg_store_int.h"

/* XEP-0313 queries: keyset paging on (room_id, seq); OFFSET only for RSM <index/>. Every
 * variant takes $1 room, $2 after_seq, $3 before_seq (exclusive bounds),
 * $4 nick and $5 real JID ('with'; NULL = any; a bare JID matches every
 * resource); the timed ones $6/$7 start/end in ms (±Infinity when open), the
 * full-text ones also $8 text search configuration and $9 the query. Fixed
 * variants rather than optional conditions everywhere, so that each can use
 * its index: the primary key when only seq bounds the scan, messages_room_ts
 * for a time range, messages_fts for words. The last parameter is the LIMIT. */
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

const struct db_stmt pg_store_mam_stmts[] = {
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
};
const size_t pg_store_mam_nstmts = ARRAY_SIZE(pg_store_mam_stmts);

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

/* Whether one of a query's statements failed: logged, and its error becomes
 * the query's. */
static bool step_failed(struct mamq *mq, const char *what, const struct db_result *r)
{
    if (r->status >= 0)
        return false;
    pg_store_log_failure(what, r);
    mq->err = r->status;
    return true;
}

/* max + 1 rows were asked for: the extra one says the page is not complete.
 * A backward page comes newest first and is handed on oldest first. */
static void on_mam_rows(void *ud, const struct db_result *r)
{
    struct mamq *mq = ud;
    if (step_failed(mq, "an archive query", r)) {
        mamq_done(mq);
        return;
    }
    int rows = PQntuples(r->res);
    size_t n = (size_t)rows < mq->max ? (size_t)rows : mq->max;
    struct store_mam_page *p = mq->page;
    p->msgs = col_msgs(r->res, n, mq->backward);
    p->n = n;
    p->complete = (size_t)rows <= mq->max;
    mamq_done(mq);
}

static void on_mam_count(void *ud, const struct db_result *r)
{
    struct mamq *mq = ud;
    if (!step_failed(mq, "counting an archive query", r)) {
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
void pg_store_mam_query(void *st, const char *room_jid, const struct store_mam_query *q,
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
        pg_store_exec_read(s, page_at[kind], n + 2, v, on_mam_rows, mq);
    else
        pg_store_exec_read(s, q->last_page ? page_desc[kind] : page_asc[kind], n + 1, v,
                           on_mam_rows, mq);
    if (want_count)
        pg_store_exec_read(s, count[kind], n, v, on_mam_count, mq);
}

