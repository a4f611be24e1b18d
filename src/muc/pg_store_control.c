/* pg_store_control.c — confabctl and running confabds talk through PostgreSQL:
 * confabctl NOTIFYs confab_control after it changes something (docs/operations.md,
 * "Control channel"), each confabd LISTENs on its reader connection and
 * publishes its status into the daemons table for `confabctl status`. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "pg_store_int.h"

const struct db_stmt pg_store_control_stmts[] = {
    { "daemon_publish",
      "INSERT INTO daemons (id, host, pid, version, started_at, seen_at, status) "
      "VALUES ($1, $2, $3::integer, $4, to_timestamp($5::double precision / 1000), now(), "
      "$6::jsonb) ON CONFLICT (id) DO UPDATE SET seen_at = now(), status = EXCLUDED.status, "
      "stopped_at = NULL", 6 },
    { "daemon_stopped", "UPDATE daemons SET stopped_at = now(), seen_at = now() WHERE id = $1",
      1 },
};
const size_t pg_store_control_nstmts = ARRAY_SIZE(pg_store_control_stmts);

static void on_listening(void *ud, const struct db_result *r)
{
    struct pg_store *s = ud;
    if (r->status < 0 && r->status != -ECANCELED)
        pg_store_log_failure("listening on confab_control", r);
    else if (r->status == 0 && s->on_listening)
        s->on_listening(s->control_ud);
}

/* A new reader connection listens to nothing: ask again after every connect. */
void pg_store_control_reader_up(struct pg_store *s)
{
    if (s->on_control)
        db_exec_sql(s->rdb, "LISTEN confab_control", 0, NULL, NULL, NULL, on_listening, s);
}

void pg_store_set_control(struct pg_store *s, db_notify_cb *cb, void (*listening)(void *ud),
                          void *ud)
{
    s->on_control = cb;
    s->on_listening = listening;
    s->control_ud = ud;
    db_set_notify(s->rdb, cb, ud);
    if (db_is_up(s->rdb))
        pg_store_control_reader_up(s);
}

void pg_store_publish(struct pg_store *s, const struct pg_daemon_status *st)
{
    if (!s->ready || !db_is_up(s->db))
        return;
    char pid[16], started[24];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    snprintf(started, sizeof started, "%lld", (long long)st->started_ms);
    const char *v[] = { st->id, st->host, pid, st->version, started, st->json };
    pg_store_exec(s, "daemon_publish", 6, v, pg_store_on_write, "publishing the status");
}

void pg_store_unpublish(struct pg_store *s, const char *id)
{
    if (!s->ready || !db_is_up(s->db))
        return;
    const char *v[] = { id };
    pg_store_exec(s, "daemon_stopped", 1, v, pg_store_on_write, "publishing the stop");
}
