/* muc_store.h — the PostgreSQL implementation of struct muc_store: confabd's
 * only SQL. Built on db.c (asynchronous, pipelined, group commit). */
#ifndef CONFAB_MUC_STORE_PG_H
#define CONFAB_MUC_STORE_PG_H

#include <uv.h>

#include "migrate.h"
#include "store.h"

/* The migrations in schema/chat, compiled in (schema_chat.c is generated). */
extern const struct migration chat_migrations[];
extern const size_t chat_migrations_count;

struct muc;
struct pg_store;

struct pg_store_cfg {
    const char *dsn;
    const char *fts_language;  /* text search configuration, e.g. "simple", "english" */
    bool durable;              /* false: fan out before the commit (durability = async) */
    uint64_t retention_ms;     /* messages older than this are deleted; 0 = keep */
    uint64_t tombstone_ttl_ms; /* a destroyed room's name is reserved this long; 0 = forever */
};

/* Connects at once; unavailable until pg_store_set_ready (after migrations). */
struct pg_store *pg_store_new(uv_loop_t *loop, struct muc *m, const struct pg_store_cfg *cfg);
const struct muc_store *pg_store_ops(struct pg_store *s);
void pg_store_set_ready(struct pg_store *s);
/* Outstanding operations fail with -ECANCELED (their callbacks run); done(ud)
 * runs once everything is released. */
void pg_store_stop(struct pg_store *s, void (*done)(void *ud), void *ud);

#endif
