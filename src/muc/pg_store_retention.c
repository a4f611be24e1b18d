/* pg_store_retention.c — expired messages and tombstones, deleted in small batches. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "pg_store_int.h"
#include "purge_digest.h"

/* One retention batch, room by room through the (room_id, ts) index: never a
 * scan of the whole table; rooms without any limit are not even visited. */
#define RETENTION_DELETE \
    "DELETE FROM messages WHERE ctid = ANY (ARRAY(SELECT m.ctid FROM rooms r " \
    "CROSS JOIN LATERAL (SELECT ctid FROM messages WHERE room_id = r.id AND ts < now() - " \
    "coalesce(r.max_history_age, $1::interval) LIMIT 5000) m " \
    "WHERE r.max_history_age IS NOT NULL OR $1::interval IS NOT NULL LIMIT 5000))"

const struct db_stmt pg_store_retention_stmts[] = {
    /* One small batch per statement, so no long locks. A room's own
     * max_history_age wins over the service's ($1; NULL = keep forever). */
    { "retention_batch", RETENTION_DELETE, 1 },
    /* The same batch with compliance on: one `purge` event per room written to
     * the outbox in the batch's own transaction ($2: confabd's domain, the
     * actor). The count of deleted messages comes back as a row. */
    { "retention_batch_ev",
      "WITH d AS (" RETENTION_DELETE " RETURNING room_id, seq, body), "
      "s AS (SELECT r.jid, count(*) AS n, min(d.seq) AS lo, max(d.seq) AS hi, "
      PURGE_TEXTS_SHA256("d.body", "d.seq") " AS h FROM d "
      "JOIN rooms r ON r.id = d.room_id GROUP BY r.jid), "
      "e AS (SELECT gen_random_uuid() AS u, s.* FROM s), "
      "o AS (INSERT INTO compliance_outbox (uuid, room, xml) SELECT u, jid, format("
      "'<event xmlns=''urn:confab:compliance:0'' id=''%s'' type=''purge'' time=''%s'' "
      "room=''%s''><actor jid=''%s''/><reason>retention</reason><detail><purge "
      "xmlns=''urn:confab:compliance:0'' reason=''retention'' messages=''%s'' "
      "first-seq=''%s'' last-seq=''%s'' texts-sha256=''%s''/></detail></event>', u, "
      "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
      "jid, $2::text, n, lo, hi, h) FROM e) "
      "SELECT coalesce(sum(n), 0)::bigint FROM s", 2 },
    { "tomb_expire", "DELETE FROM tombstones WHERE expires_at < now()", 0 },
};
const size_t pg_store_retention_nstmts = ARRAY_SIZE(pg_store_retention_stmts);

static void cleanup_batch(struct pg_store *s);

static void on_retention_batch(void *ud, const struct db_result *r)
{
    struct pg_store *s = ud;
    if (r->status < 0 || !s->ready) {
        if (r->status < 0 && r->status != -ECANCELED)
            pg_store_log_failure("deleting expired messages", r);
        s->cleaning = false;
        return;
    }
    long n = PQresultStatus(r->res) == PGRES_TUPLES_OK && PQntuples(r->res) == 1
                 ? strtol(PQgetvalue(r->res, 0, 0), NULL, 10)   /* retention_batch_ev */
                 : strtol(PQcmdTuples((PGresult *)r->res), NULL, 10);
    if (n > 0)
        log_debug("store: retention deleted %ld messages", n);
    if (n > 0 && s->compliance && s->on_event)
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
    const char *v[] = { s->retention_ms ? age : NULL, s->domain };
    /* On the reader connection: message commits never queue behind a sweep. */
    if (s->compliance)
        pg_store_exec_read(s, "retention_batch_ev", 2, v, on_retention_batch, s);
    else
        pg_store_exec_read(s, "retention_batch", 1, v, on_retention_batch, s);
}

static void on_cleanup(uv_timer_t *t)
{
    struct pg_store *s = container_of(t, struct pg_store, cleanup_timer);
    if (!s->ready || s->cleaning || !db_is_up(s->rdb))
        return;
    s->cleaning = true;
    pg_store_exec_read(s, "tomb_expire", 0, NULL, pg_store_on_write, "expiring tombstones");
    cleanup_batch(s);
}

void pg_store_retention_start(struct pg_store *s)
{
    uv_timer_start(&s->cleanup_timer, on_cleanup, 5000, 60000);
}
