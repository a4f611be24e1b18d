/* pg_store.h — the PostgreSQL backend of store.h: confabd's only SQL (pg_store*.c).
 * Built on db.c (asynchronous, pipelined, group commit). */
#ifndef CONFAB_MUC_STORE_PG_H
#define CONFAB_MUC_STORE_PG_H

#include <uv.h>

#include "db.h"
#include "migrate.h"
#include "store.h"

/* The migrations in schema/chat, compiled in (schema_chat.c is generated). */
extern const struct migration chat_migrations[];
extern const size_t chat_migrations_count;

struct pg_store;

struct pg_store_cfg {
    const char *dsn;
    const char *domain;        /* confabd's: the actor of retention's purge events */
    bool compliance;           /* [compliance] archiver set: retention records purges */
    const char *fts_language;  /* text search configuration, e.g. "simple", "english" */
    bool durable;              /* false: fan out before the commit (durability = async) */
    uint64_t retention_ms;     /* messages older than this are deleted; 0 = keep */
    uint64_t tombstone_ttl_ms; /* a destroyed room's name is reserved this long; 0 = forever */
};

/* Connects at once; unavailable until pg_store_set_ready (after migrations). */
struct pg_store *pg_store_new(uv_loop_t *loop, const struct pg_store_cfg *cfg);
const struct muc_store *pg_store_ops(struct pg_store *s);
void pg_store_set_ready(struct pg_store *s);
/* Write statements accepted and not yet committed (waiting + in flight). */
size_t pg_store_backlog(const struct pg_store *s);
/* The compliance outbox, for src/muc/outbox.c. */
typedef void pg_store_event_cb(void *ud);
struct pg_outbox_row {
    int64_t id;
    char *uuid;
    char *xml;
};
/* committed(ud, row) runs after outbox rows commit, in commit order: row is
 * the row this connection inserted (borrowed for the call), or NULL when rows
 * may have been added without it being known which (a retention purge, an
 * insert whose outcome is unknown, one that found its UUID already there).
 * up(ud) runs when the writer connection is (back) up. */
typedef void pg_store_row_cb(void *ud, const struct pg_outbox_row *row);
void pg_store_set_outbox(struct pg_store *s, pg_store_row_cb *committed, pg_store_event_cb *up,
                         void *ud);
/* err < 0 (rows NULL) or the rows (borrowed for the call); for count, err is
 * the number of rows in the outbox. */
typedef void pg_store_outbox_cb(void *ud, int err, const struct pg_outbox_row *rows, size_t n);
/* Rows with id > after_id in id order, at most limit. -EAGAIN at once while
 * the database is away. */
void pg_store_outbox_fetch(struct pg_store *s, int64_t after_id, unsigned limit,
                           pg_store_outbox_cb *cb, void *ud);
void pg_store_outbox_count(struct pg_store *s, pg_store_outbox_cb *cb, void *ud);
void pg_store_outbox_delete(struct pg_store *s, const char *const *uuids, size_t n);

/* Outstanding operations fail with -ECANCELED (their callbacks run); done(ud)
 * runs once everything is released. */
void pg_store_stop(struct pg_store *s, void (*done)(void *ud), void *ud);

/* The control channel (pg_store_control.c): cb(ud, channel, payload) for
 * every NOTIFY confab_control, from the reader connection; listening(ud) each
 * time its LISTEN is in place (at start, and after the reader reconnected:
 * what changed meanwhile was not notified). */
void pg_store_set_control(struct pg_store *s, db_notify_cb *cb, void (*listening)(void *ud),
                          void *ud);
/* This daemon's row in the daemons table (confabctl status). */
struct pg_daemon_status {
    const char *id;        /* stable for the process: host/pid/start */
    const char *host;
    const char *version;
    int64_t started_ms;
    const char *json;      /* what it reports: rooms, occupants, link, queues */
};
void pg_store_publish(struct pg_store *s, const struct pg_daemon_status *st);
void pg_store_unpublish(struct pg_store *s, const char *id);

#endif
