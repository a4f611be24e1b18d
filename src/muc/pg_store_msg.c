/* pg_store_msg.c — messages in PostgreSQL, and what waits for their commit (the barrier). */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "pg_store_int.h"

const struct db_stmt pg_store_msg_stmts[] = {
    { "msg_put",
      "INSERT INTO messages (room_id, seq, ts, sender_jid, nick, occupant_id, body, body_tsv, "
      "stanza, archived) SELECT id, $2, to_timestamp($3::double precision / 1000), $4, $5, $6, $7, "
      "to_tsvector($8::regconfig, coalesce($7, '')), $9, $10 FROM rooms WHERE jid = $1 "
      "ON CONFLICT (room_id, seq) DO NOTHING", 10 },
    { "msg_replace",
      "UPDATE messages SET stanza = $3, body = NULL, body_tsv = NULL, retracted_at = now() "
      "WHERE room_id = (SELECT id FROM rooms WHERE jid = $1) AND seq = $2", 3 },
};
const size_t pg_store_msg_nstmts = ARRAY_SIZE(pg_store_msg_stmts);

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
        pg_store_log_failure("storing a message", r);
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

void pg_store_msg_append(void *st, const struct room *room, const struct store_msg_meta *m,
                         store_done_cb *committed, void *ud)
{
    struct pg_store *s = st;
    char seq[24], ts[24];
    snprintf(seq, sizeof seq, "%" PRIu64, m->seq);
    snprintf(ts, sizeof ts, "%" PRId64, m->ts_ms);
    const char *v[] = { room->jid, seq, ts, m->sender_jid, m->nick, m->occupant_id, m->body,
                        s->fts_language, m->xml, sql_bool(m->archived) };
    if (!s->durable) {
        /* durability = async: the room goes on at once; a failure is only logged. */
        pg_store_outbox_change(s, "msg_put", 10, v, pg_store_on_write, "storing a message");
        committed(ud, 0);
        return;
    }
    struct append *a = xmalloc(sizeof *a);
    a->s = s;
    a->cb = committed;
    a->ud = ud;
    pg_store_outbox_change(s, "msg_put", 10, v, on_append, a);
}

/* Runs once every earlier write on the writer connection has committed:
 * acknowledgements of configuration changes wait for it. */
void pg_store_msg_barrier(void *st, store_done_cb *cb, void *ud)
{
    struct pg_store *s = st;
    struct append *a = xmalloc(sizeof *a);
    a->s = s;
    a->cb = cb;
    a->ud = ud;
    pg_store_exec(s, "barrier", 0, NULL, on_append, a);
}


/* A tombstone in place of the message (moderation, retraction): with the
 * moderation event attached, in the same transaction. */
void pg_store_msg_replace(void *st, const struct room *room, uint64_t seq, const char *xml,
                          size_t len)
{
    struct pg_store *s = st;
    char n[24];
    snprintf(n, sizeof n, "%" PRIu64, seq);
    (void)len;
    const char *v[] = { room->jid, n, xml };
    pg_store_outbox_change(s, "msg_replace", 3, v, pg_store_on_write, "replacing a message");
}
