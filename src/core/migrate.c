/* migrate.c — numbered schema migrations compiled into the binary, applied asynchronously (migrate.h). */
#include "compat.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "mem.h"
#include "migrate.h"

struct migrate {
    struct db *db;
    const struct migration *list;
    size_t n;
    char *name;
    migrate_done_cb *cb;
    void *ud;
    int from;
    int err;
    size_t pending;
    bool started;
    bool finishing;
};

int migrate_latest(const struct migration *list, size_t n)
{
    return n ? list[n - 1].version : 0;
}

static void on_stopped(void *ud)
{
    struct migrate *mg = ud;
    int to = mg->err ? mg->from : migrate_latest(mg->list, mg->n);
    mg->cb(mg->ud, mg->err, mg->from, to);
    free(mg->name);
    free(mg);
}

static void finish(struct migrate *mg, int err)
{
    if (mg->finishing)
        return;
    mg->finishing = true;
    if (!mg->err)
        mg->err = err;
    db_stop(mg->db, on_stopped);
}

static void on_statement(void *ud, const struct db_result *r)
{
    struct migrate *mg = ud;
    if (r->status < 0 && !mg->err) {
        log_error("%s schema: migration failed: %s (SQLSTATE %s)", mg->name,
                  r->message ? r->message : "unknown error", r->sqlstate);
        mg->err = r->status == -ECANCELED ? -ECANCELED : -EIO;
    }
    if (--mg->pending == 0)
        finish(mg, 0);
}

/* Every statement of every pending migration, as one atomic unit: they commit
 * together or not at all (db_exec_atomic), so a failure never leaves half a
 * migration behind. */
struct unit {
    struct db_op *ops;
    char **sql;
    size_t n, cap;
};

static void unit_add(struct unit *u, struct migrate *mg, char *sql)
{
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 16;
        u->ops = xrealloc(u->ops, u->cap * sizeof *u->ops);
        u->sql = xrealloc(u->sql, u->cap * sizeof *u->sql);
    }
    u->sql[u->n] = sql;
    u->ops[u->n] = (struct db_op){ .sql = sql, .cb = on_statement, .ud = mg };
    u->n++;
}

/* "$tag$" or "$$" at p: its length, else 0 ("$1" is a parameter, not a tag). */
static size_t dollar_tag_len(const char *p)
{
    size_t n = 1;
    if (p[0] != '$')
        return 0;
    if (isalpha((unsigned char)p[1]) || p[1] == '_')
        while (isalnum((unsigned char)p[n]) || p[n] == '_')
            n++;
    return p[n] == '$' ? n + 1 : 0;
}

size_t migrate_statement_len(const char *sql)
{
    const char *p = sql, *tag = NULL;
    size_t taglen = 0;
    while (*p) {
        size_t n = dollar_tag_len(p);
        if (n && !tag) {
            tag = p;
            taglen = n;
            p += n;
            continue;
        }
        if (n && n == taglen && memcmp(p, tag, n) == 0) {
            tag = NULL;
            p += n;
            continue;
        }
        if (!tag && p[0] == ';' && p[1] == '\n')
            return (size_t)(p - sql) + 1;
        p++;
    }
    return (size_t)(p - sql);
}

/* Split on ';' at the end of a line (outside dollar quotes): the convention
 * of schema/ files. */
static void unit_add_script(struct unit *u, struct migrate *mg, const char *sql)
{
    const char *p = sql;
    while (*p) {
        size_t len = migrate_statement_len(p);
        char *stmt = xstrndup(p, len);
        if (stmt[strspn(stmt, " \t\n")])
            unit_add(u, mg, stmt);
        else
            free(stmt);
        p += len;
        if (*p == '\n')
            p++;
    }
}

static void apply_pending(struct migrate *mg)
{
    int latest = migrate_latest(mg->list, mg->n);
    if (mg->from > latest) {
        log_error("%s schema: the database is at version %d, newer than the %d this binary "
                  "knows; refusing to run (upgrade confab)", mg->name, mg->from, latest);
        finish(mg, -EPROTO);
        return;
    }
    if (mg->from == latest) {
        log_info("%s schema: at version %d", mg->name, latest);
        finish(mg, 0);
        return;
    }
    struct unit u = { 0 };
    /* The lock serialises daemons that start together. */
    unit_add(&u, mg, xstrdup("SELECT pg_advisory_xact_lock(7311, 1)"));
    for (size_t i = 0; i < mg->n; i++) {
        if (mg->list[i].version <= mg->from)
            continue;
        log_info("%s schema: applying migration %03d %s", mg->name, mg->list[i].version,
                 mg->list[i].name);
        unit_add_script(&u, mg, mg->list[i].sql);
    }
    mg->pending += u.n;
    if (db_exec_atomic(mg->db, u.ops, u.n) < 0) {
        mg->pending -= u.n;
        finish(mg, -EIO);
    }
    for (size_t i = 0; i < u.n; i++)
        free(u.sql[i]);
    free(u.sql);
    free(u.ops);
}

static void on_version(void *ud, const struct db_result *r)
{
    struct migrate *mg = ud;
    mg->pending--;
    if (mg->err) {
        finish(mg, mg->err);
        return;
    }
    if (r->status < 0) {
        log_error("%s schema: cannot read schema_version: %s", mg->name,
                  r->message ? r->message : "unknown error");
        finish(mg, r->status == -ECANCELED ? -ECANCELED : -EIO);
        return;
    }
    mg->from = atoi(PQgetvalue(r->res, 0, 0));
    apply_pending(mg);
}

static void on_created(void *ud, const struct db_result *r)
{
    struct migrate *mg = ud;
    mg->pending--;
    if (r->status < 0 && !mg->err) {
        log_error("%s schema: cannot create schema_version: %s", mg->name,
                  r->message ? r->message : "unknown error");
        mg->err = r->status == -ECANCELED ? -ECANCELED : -EIO;
    }
}

static void read_version(struct migrate *mg, bool create)
{
    if (create) {
        /* A fresh database has no schema_version yet; this is migration 001's
         * own (idempotent) statement, so reading the version always works. */
        mg->pending++;
        db_exec_sql(mg->db,
                    "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
                    "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                    0, NULL, NULL, NULL, on_created, mg);
    }
    mg->pending++;
    db_exec_sql(mg->db, "SELECT coalesce(max(version), 0) FROM schema_version", 0, NULL, NULL,
                NULL, on_version, mg);
}

/* CREATE TABLE IF NOT EXISTS needs CREATE on the schema even when the table
 * exists: ask first, so a role without DDL rights (e.g. the compliance
 * database's INSERT-only confab_archiver) can run on an up-to-date schema. */
static void on_exists(void *ud, const struct db_result *r)
{
    struct migrate *mg = ud;
    mg->pending--;
    if (r->status < 0) {
        log_error("%s schema: cannot look for schema_version: %s", mg->name,
                  r->message ? r->message : "unknown error");
        finish(mg, r->status == -ECANCELED ? -ECANCELED : -EIO);
        return;
    }
    read_version(mg, PQgetvalue(r->res, 0, 0)[0] != 't');
}

static void on_state(void *ud, bool up)
{
    struct migrate *mg = ud;
    if (!up || mg->started || mg->finishing)
        return;
    mg->started = true;
    mg->pending++;
    db_exec_sql(mg->db, "SELECT to_regclass('schema_version') IS NOT NULL", 0, NULL, NULL, NULL,
                on_exists, mg);
}

struct migrate *migrate_run(uv_loop_t *loop, const char *dsn, const char *name,
                            const struct migration *list, size_t n, migrate_done_cb *cb,
                            void *ud)
{
    struct migrate *mg = xcalloc(1, sizeof *mg);
    mg->list = list;
    mg->n = n;
    mg->name = xstrdup(name);
    mg->cb = cb;
    mg->ud = ud;
    char label[64];
    snprintf(label, sizeof label, "%s-migrate", name);
    struct db_cfg cfg = { .dsn = dsn, .name = label };
    mg->db = db_new(loop, &cfg, NULL, 0, on_state, mg);
    db_start(mg->db);
    return mg;
}

void migrate_cancel(struct migrate *mg)
{
    finish(mg, -ECANCELED);
}
