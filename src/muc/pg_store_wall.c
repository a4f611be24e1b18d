/* pg_store_wall.c — categories, groups, walls and service policy in PostgreSQL (store.h's load_service, revoke_walled, save_category). */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "mem.h"
#include "pg_store_int.h"

/* Does principal p (a category_principals row) name a.jid? As wall.c's matches(). */
#define PRINCIPAL_MATCHES \
    "(p.kind = 'everyone' OR (p.kind = 'jid' AND p.principal = a.jid) " \
    "OR (p.kind = 'domain' AND lower(p.principal) = lower(split_part(a.jid, '@', 2))) " \
    "OR (p.kind = 'group' AND EXISTS (SELECT 1 FROM group_members gm JOIN groups g " \
    "ON g.id = gm.group_id WHERE g.name = p.principal AND gm.jid = a.jid)))"

const struct db_stmt pg_store_wall_stmts[] = {
    { "svc_categories",
      "SELECT id, name, invitations, history, default_privacy, default_type, "
      "default_max_occupants FROM categories ORDER BY id", 0 },
    { "svc_principals",
      "SELECT category_id, list, kind, principal FROM category_principals", 0 },
    /* Only the groups some category names: the others cannot wall anyone. */
    { "svc_members",
      "SELECT g.name, m.jid FROM group_members m JOIN groups g ON g.id = m.group_id "
      "WHERE g.name IN (SELECT principal FROM category_principals WHERE kind = 'group')", 0 },
    { "svc_policy", "SELECT key, value FROM policy", 0 },
    /* One statement for every room the engine has not loaded (those it has
     * were swept first, in order on this connection); $1: the service
     * administrators, one per line. Outcasts stay banned. */
    { "wall_revoke",
      "DELETE FROM affiliations a USING rooms r, categories c "
      "WHERE r.id = a.room_id AND c.id = r.category_id AND a.affiliation <> 'outcast' "
      "AND strpos(a.jid, '@') > 0 AND NOT (a.jid = ANY (string_to_array($1, E'\\n'))) "
      "AND (NOT EXISTS (SELECT 1 FROM category_principals p WHERE p.category_id = r.category_id "
      "AND p.list = 'allowed' AND " PRINCIPAL_MATCHES ") "
      "OR EXISTS (SELECT 1 FROM category_principals p WHERE p.category_id = r.category_id "
      "AND p.list = 'denied' AND " PRINCIPAL_MATCHES ")) "
      "RETURNING r.jid, a.jid, a.affiliation, c.name", 1 },
    { "room_category_put",
      "UPDATE rooms SET category_id = $2::bigint, updated_at = now() WHERE jid = $1", 2 },
};
const size_t pg_store_wall_nstmts = ARRAY_SIZE(pg_store_wall_stmts);

/* ---- loading ---- */

struct svc_load {
    store_service_cb *cb;
    void *ud;
    struct store_service *rec;
    int err;
};

static bool svc_failed(struct svc_load *l, const struct db_result *r)
{
    if (r->status < 0 && l->err == 0) {
        l->err = r->status;
        if (r->status != -ECANCELED)   /* stopping: nothing went wrong */
            pg_store_log_failure("loading categories, groups and policy", r);
    }
    return r->status < 0;
}

/* One result's rows, each made by fill, into a new array (a spare entry, so
 * that n may be 0); false when the statement failed. */
typedef void row_fill(void *dst, const PGresult *res, int i);

static bool take_rows(struct svc_load *l, const struct db_result *r, void **arr, size_t *n,
                      size_t size, row_fill *fill)
{
    if (svc_failed(l, r))
        return false;
    *n = (size_t)PQntuples(r->res);
    *arr = xcalloc(*n + 1, size);
    for (size_t i = 0; i < *n; i++)
        fill((char *)*arr + i * size, r->res, (int)i);
    return true;
}

static void fill_category(void *dst, const PGresult *res, int i)
{
    *(struct store_category *)dst = (struct store_category){
        .id = col_ll(res, i, 0), .name = col_str(res, i, 1), .invitations = col_bool(res, i, 2),
        .history = col_bool(res, i, 3), .default_privacy = col_str(res, i, 4),
        .default_type = col_str(res, i, 5), .default_max_occupants = (unsigned)col_ll(res, i, 6),
    };
}

static void fill_principal(void *dst, const PGresult *res, int i)
{
    *(struct store_principal *)dst = (struct store_principal){
        .category_id = col_ll(res, i, 0), .list = col_str(res, i, 1),
        .kind = col_str(res, i, 2), .principal = col_str(res, i, 3),
    };
}

static void fill_member(void *dst, const PGresult *res, int i)
{
    *(struct store_member *)dst = (struct store_member){ .group = col_str(res, i, 0),
                                                         .jid = col_str(res, i, 1) };
}

static void fill_setting(void *dst, const PGresult *res, int i)
{
    *(struct store_setting *)dst = (struct store_setting){ .key = col_str(res, i, 0),
                                                           .value = col_str(res, i, 1) };
}

static void on_categories(void *ud, const struct db_result *r)
{
    struct svc_load *l = ud;
    (void)take_rows(l, r, (void **)&l->rec->cats, &l->rec->ncats, sizeof *l->rec->cats,
                    fill_category);
}

static void on_principals(void *ud, const struct db_result *r)
{
    struct svc_load *l = ud;
    (void)take_rows(l, r, (void **)&l->rec->principals, &l->rec->nprincipals,
                    sizeof *l->rec->principals, fill_principal);
}

static void on_members(void *ud, const struct db_result *r)
{
    struct svc_load *l = ud;
    (void)take_rows(l, r, (void **)&l->rec->members, &l->rec->nmembers, sizeof *l->rec->members,
                    fill_member);
}

/* The last statement: everything is in. */
static void on_policy(void *ud, const struct db_result *r)
{
    struct svc_load *l = ud;
    (void)take_rows(l, r, (void **)&l->rec->policy, &l->rec->npolicy, sizeof *l->rec->policy,
                    fill_setting);
    if (l->err < 0) {
        store_service_free(l->rec);
        l->rec = NULL;
    }
    l->cb(l->ud, l->err, l->rec);
    free(l);
}

void pg_store_wall_load(void *st, store_service_cb *cb, void *ud)
{
    struct pg_store *s = st;
    if (!pg_store_can_read(s)) {
        cb(ud, -EAGAIN, NULL);
        return;
    }
    struct svc_load *l = xcalloc(1, sizeof *l);
    l->cb = cb;
    l->ud = ud;
    l->rec = xcalloc(1, sizeof *l->rec);
    /* One turn on the reader: the four answers come back in this order. */
    pg_store_exec_read(s, "svc_categories", 0, NULL, on_categories, l);
    pg_store_exec_read(s, "svc_principals", 0, NULL, on_principals, l);
    pg_store_exec_read(s, "svc_members", 0, NULL, on_members, l);
    pg_store_exec_read(s, "svc_policy", 0, NULL, on_policy, l);
}

/* ---- revoking ---- */

struct revoke {
    store_revoked_cb *cb;
    void *ud;
};

static void on_revoked(void *ud, const struct db_result *r)
{
    struct revoke *v = ud;
    if (r->status < 0) {
        if (r->status != -ECANCELED)
            pg_store_log_failure("revoking affiliations behind an ethical wall", r);
        v->cb(v->ud, r->status, NULL, 0);
        free(v);
        return;
    }
    size_t n = (size_t)PQntuples(r->res);
    struct store_revoked *rows = xcalloc(n + 1, sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i] = (struct store_revoked){ .room = PQgetvalue(r->res, (int)i, 0),
                                          .jid = PQgetvalue(r->res, (int)i, 1),
                                          .affil = PQgetvalue(r->res, (int)i, 2),
                                          .category = PQgetvalue(r->res, (int)i, 3) };
    if (n)
        log_info("store: an ethical wall revoked %zu affiliations in rooms not in memory", n);
    v->cb(v->ud, 0, rows, n);
    free(rows);
    free(v);
}

void pg_store_wall_revoke(void *st, const char *const *admins, size_t nadmins,
                          store_revoked_cb *cb, void *ud)
{
    struct pg_store *s = st;
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < nadmins; i++) {
        if (i)
            buf_putc(&b, '\n');
        buf_puts(&b, admins[i]);
    }
    buf_putc(&b, '\0');
    struct revoke *v = xmalloc(sizeof *v);
    *v = (struct revoke){ .cb = cb, .ud = ud };
    const char *p[] = { b.data };
    pg_store_exec(s, "wall_revoke", 1, p, on_revoked, v);
    buf_free(&b);
}

void pg_store_wall_save_category(void *st, const struct room *room)
{
    struct pg_store *s = st;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, room->category_id);
    const char *v[] = { room->jid, id };
    pg_store_outbox_change(s, "room_category_put", 2, v, pg_store_on_write,
                           "saving a room's category");
}
