/* pg_store_int.h — what the pg_store*.c files share: the store and its helpers. */
#ifndef CONFAB_MUC_PG_STORE_INT_H
#define CONFAB_MUC_PG_STORE_INT_H

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "mem.h"
#include "muc.h"
#include "pg_store.h"

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
    char *domain;        /* the actor of retention's purge events */
    bool compliance;     /* write compliance events (purges) */
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
    db_notify_cb *on_control;         /* confab_control notifications (pg_store_control.c) */
    void (*on_listening)(void *ud);   /* its LISTEN is in place */
    void *control_ud;
};

/* Each concern's prepared statements; pg_store.c prepares them all. */
extern const struct db_stmt pg_store_room_stmts[], pg_store_msg_stmts[], pg_store_mam_stmts[],
    pg_store_outbox_stmts[], pg_store_retention_stmts[], pg_store_control_stmts[],
    pg_store_dir_stmts[], pg_store_wall_stmts[];
extern const size_t pg_store_room_nstmts, pg_store_msg_nstmts, pg_store_mam_nstmts,
    pg_store_outbox_nstmts, pg_store_retention_nstmts, pg_store_control_nstmts,
    pg_store_dir_nstmts, pg_store_wall_nstmts;
/* pg_store_dir.c */
void pg_store_dir_list(void *st, const struct store_dir_query *q, store_dir_cb *cb, void *ud);
void pg_store_control_reader_up(struct pg_store *s);

static inline const char *sql_bool(bool v)
{
    return v ? "t" : "f";
}

static inline bool col_bool(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

static inline char *col_str(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

/* A string the loaded room keeps (mem.h's long-lived arena). */
static inline char *col_keep(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : xstrdup_keep(PQgetvalue(res, row, col));
}

static inline long long col_ll(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* A message row: seq, ts in ms, stanza, sender_jid, nick (room_recent, mam_*). */
static inline void col_msg(struct store_msg *m, const PGresult *res, int row)
{
    m->seq = (uint64_t)col_ll(res, row, 0);
    m->ts_ms = col_ll(res, row, 1);
    m->xml = col_str(res, row, 2);
    m->xml_len = strlen(m->xml);
    m->sender_jid = col_str(res, row, 3);
    m->nick = col_str(res, row, 4);
}

/* The first n rows as messages, with a spare entry so that n may be 0;
 * reversed puts the last row first (queries that read newest first). */
static inline struct store_msg *col_msgs(const PGresult *res, size_t n, bool reversed)
{
    struct store_msg *m = xcalloc(n + 1, sizeof *m);
    for (size_t i = 0; i < n; i++)
        col_msg(&m[reversed ? n - 1 - i : i], res, (int)i);
    return m;
}

/* pg_store.c */
void pg_store_log_failure(const char *what, const struct db_result *r);
/* A write whose failure is only logged; ud is what it was doing. */
void pg_store_on_write(void *ud, const struct db_result *r);
/* On the writer connection, in order with every change. */
void pg_store_exec(struct pg_store *s, const char *stmt, int n, const char *const *v,
                   db_result_cb *cb, void *ud);
/* On the reader connection (the writer while the reader is down). */
void pg_store_exec_read(struct pg_store *s, const char *stmt, int n, const char *const *v,
                        db_result_cb *cb, void *ud);
bool pg_store_can_read(struct pg_store *s);

/* pg_store_outbox.c */
/* A change, with the attached compliance event if there is one. */
void pg_store_outbox_change(struct pg_store *s, const char *stmt, int n, const char *const *v,
                            db_result_cb *cb, void *ud);
/* ops[0..n) plus the attached event as one transaction; ops has room for one
 * more entry. */
void pg_store_outbox_with_event(struct pg_store *s, struct db_op *ops, size_t n);
void pg_store_outbox_attach_event(void *st, const struct store_event *ev);
void pg_store_outbox_put_event(void *st, const struct store_event *ev);
void pg_store_outbox_free_attached(struct pg_store *s);

/* pg_store_room.c */
void pg_store_room_load(void *st, const char *jid, unsigned history, store_loaded_cb *cb,
                        void *ud);
void pg_store_room_save(void *st, const struct room *room);
void pg_store_room_save_affiliation(void *st, const struct room *room, const char *jid,
                                    enum muc_affil affil, const char *nick, const char *reason);
void pg_store_room_delete(void *st, const struct room *room, bool tombstone, const char *venue,
                          const char *reason);
void pg_store_room_save_vcard(void *st, const struct room *room, const char *vcard,
                              const char *photo_hash);
/* Rooms a crash left behind, once at start. */
void pg_store_room_gc(struct pg_store *s);

/* pg_store_msg.c */
void pg_store_msg_append(void *st, const struct room *room, const struct store_msg_meta *m,
                         store_done_cb *committed, void *ud);
void pg_store_msg_barrier(void *st, store_done_cb *cb, void *ud);
void pg_store_msg_replace(void *st, const struct room *room, uint64_t seq, const char *xml,
                          size_t len);

/* pg_store_mam.c */
void pg_store_mam_query(void *st, const char *room_jid, const struct store_mam_query *q,
                        store_mam_cb *cb, void *ud);

/* pg_store_wall.c */
void pg_store_wall_load(void *st, store_service_cb *cb, void *ud);
void pg_store_wall_revoke(void *st, const char *const *admins, size_t nadmins,
                          store_revoked_cb *cb, void *ud);
void pg_store_wall_save_category(void *st, const struct room *room);

/* pg_store_retention.c */
/* Expired messages and tombstones, every minute on cleanup_timer. */
void pg_store_retention_start(struct pg_store *s);

#endif
