/* ctl_conn.c — confabctl's one database connection, through db.c.
 *
 * A CLI wants "run this query and give me the rows". db.c is asynchronous, so
 * ctl_query queues the statement and turns the loop (UV_RUN_ONCE) until its
 * callback has run; the callback copies the result (PQcopyResult only copies
 * memory) because db.c frees its own when the callback returns.
 *
 * db.c reconnects forever, which is right for a daemon and wrong for a CLI:
 * here the first failed connection attempt, a connect that outlasts the
 * timeout, or a connection lost mid-command ends the command with
 * EX_UNAVAILABLE. A lost connection stops the db at once, so db.c never sends
 * a statement a second time behind our back. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "log.h"
#include "mem.h"
#include "migrate.h"
#include "pg_store.h"

/* Extra time beyond db.c's own connect deadline before we stop waiting. */
#define CONNECT_GRACE_MS 2000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000

struct pending {
    bool done;
    int status;
    char sqlstate[6];
    char *message;
    PGresult *res;
};

int ctl_binary_version(void)
{
    return migrate_latest(chat_migrations, chat_migrations_count);
}

static const char *db_label(const struct ctl *c)
{
    return c->db_label ? c->db_label : "chat database";
}

static void on_stopped(void *ud)
{
    struct ctl *c = ud;
    c->stopped = true;
}

/* The connection went down after it was up: stop, so that nothing waiting is
 * resent; the waiting query sees -ECANCELED and reports EX_UNAVAILABLE. */
static void on_state(void *ud, bool up)
{
    struct ctl *c = ud;
    if (up || c->lost)
        return;
    c->lost = true;
    db_stop(c->db, on_stopped);
}

/* Turn the loop until *flag is set. false when nothing is left that could set
 * it (a bug, but better an error than a hang). */
static bool run_until(struct ctl *c, const bool *flag)
{
    while (!*flag) {
        if (uv_run(&c->loop, UV_RUN_ONCE) == 0 && !*flag)
            return false;
    }
    return true;
}

/* db.c counts failed attempts; the first one is our answer. */
static bool attempt_failed(const struct ctl *c)
{
    struct db_stats st;
    db_get_stats(c->db, &st);
    return st.connect_failures > 0;
}

static void on_deadline(uv_timer_t *t)
{
    bool *expired = t->data;
    *expired = true;
}

/* libpq's connect_timeout is in seconds; db.c honours it, so do we. */
static uint64_t connect_timeout_ms(const char *dsn)
{
    uint64_t ms = DEFAULT_CONNECT_TIMEOUT_MS;
    PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (o->val && strcmp(o->keyword, "connect_timeout") == 0 && atol(o->val) > 0)
            ms = (uint64_t)atol(o->val) * 1000;
    }
    PQconninfoFree(opts);
    return ms;
}

/* Check the DSN ourselves first: a typo is a configuration error (78) with
 * libpq's reason, not a connection failure. */
static int check_dsn(const struct ctl *c)
{
    const char *dsn = c->cfg->storage_dsn;
    if (!dsn || !*dsn) {
        ctl_err("%s: [storage] dsn is empty (rooms live in confabd's memory only); "
                "there is no chat database to administer", c->cfg->path);
        return EX_CONFIG;
    }
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &err);
    if (!opts) {
        char *nl = err ? strchr(err, '\n') : NULL;
        if (nl)
            *nl = '\0';
        ctl_err("%s: [storage] dsn is invalid: %s", c->cfg->path, err ? err : "out of memory");
        PQfreemem(err);
        return EX_CONFIG;
    }
    PQconninfoFree(opts);
    return 0;
}

static int wait_up(struct ctl *c, uint64_t timeout_ms)
{
    bool expired = false;
    uv_timer_t timer;
    uv_timer_init(&c->loop, &timer);
    timer.data = &expired;
    uv_timer_start(&timer, on_deadline, timeout_ms + CONNECT_GRACE_MS, 0);
    /* c->lost first: once it is set the db may already be freed. */
    while (!c->lost && !db_is_up(c->db) && !expired && !attempt_failed(c))
        uv_run(&c->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&c->loop, UV_RUN_NOWAIT); /* the close callback */
    if (c->lost) {
        ctl_err("the connection to the %s was lost right after it was made", db_label(c));
        return EX_UNAVAILABLE;
    }
    if (db_is_up(c->db))
        return 0;
    const char *why = db_last_error(c->db);
    ctl_err("cannot connect to the %s: %s", db_label(c), *why ? why : "timed out");
    return EX_UNAVAILABLE;
}

/* Both databases are reached the same way; only the DSN and the words differ. */
static int connect_to(struct ctl *c, const char *dsn, const char *name, const char *key)
{
    uint64_t timeout = connect_timeout_ms(dsn);
    struct db_cfg dc = { .dsn = dsn, .name = name, .connect_timeout_ms = timeout };
    c->db = db_new(&c->loop, &dc, NULL, 0, on_state, c);
    if (!c->db) {
        ctl_err("cannot use %s", key);
        return EX_CONFIG;
    }
    db_start(c->db);
    int rc = wait_up(c, timeout);
    if (rc)
        ctl_disconnect(c);
    return rc;
}

int ctl_connect(struct ctl *c)
{
    int rc = check_dsn(c);
    return rc ? rc : connect_to(c, c->cfg->storage_dsn, "chat", "[storage] dsn");
}

int ctl_connect_compliance(struct ctl *c, const char *dsn)
{
    c->db_label = "compliance database";
    const char *key = dsn ? "--dsn" : "[archiver] dsn";
    if (!dsn)
        dsn = c->cfg->archiver_dsn;
    char *err = NULL;
    PQconninfoOption *opts = dsn && *dsn ? PQconninfoParse(dsn, &err) : NULL;
    if (!opts) {
        char *nl = err ? strchr(err, '\n') : NULL;
        if (nl)
            *nl = '\0';
        ctl_err("%s: %s is %s%s", c->cfg->path, key, err ? "invalid: " : "empty",
                err ? err : "");
        PQfreemem(err);
        return EX_CONFIG;
    }
    PQconninfoFree(opts);
    return connect_to(c, dsn, "compliance", key);
}

void ctl_disconnect(struct ctl *c)
{
    if (c->db && !c->lost)
        db_stop(c->db, on_stopped);
    if (c->db)
        (void)run_until(c, &c->stopped);
    c->db = NULL;
}

static void on_result(void *ud, const struct db_result *r)
{
    struct pending *p = ud;
    p->done = true;
    p->status = r->status;
    memcpy(p->sqlstate, r->sqlstate, sizeof p->sqlstate);
    if (r->status < 0)
        p->message = xstrdup(r->message ? r->message : "unknown error");
    else
        p->res = PQcopyResult(r->res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
}

/* Map a failed statement to an exit status and say what happened. */
static int report(const struct ctl *c, const char *what, const struct pending *p)
{
    if (p->status == -ECANCELED || p->status == -ECONNRESET) {
        ctl_err("%s: the connection to the %s was lost; the outcome is unknown", what,
                db_label(c));
        return EX_UNAVAILABLE;
    }
    if (p->status == -EAGAIN) {
        ctl_err("%s: the database queue is full", what);
        return CTL_FAIL;
    }
    if (*p->sqlstate)
        ctl_err("%s: %s (SQLSTATE %s)", what, p->message, p->sqlstate);
    else
        ctl_err("%s: %s", what, p->message);
    return CTL_FAIL;
}

/* Like ctl_query, but hands a failure back (status and SQLSTATE) instead of
 * reporting it, for callers that expect some errors. */
static int query_raw(struct ctl *c, const char *sql, int n, const char *const *values,
                     struct pending *p)
{
    memset(p, 0, sizeof *p);
    int rc = c->lost ? -ECANCELED : db_exec_sql(c->db, sql, n, values, NULL, NULL, on_result, p);
    if (rc < 0) {
        p->status = rc;
        p->message = xstrdup(rc == -EAGAIN ? "queue full" : "not queued");
        return rc;
    }
    if (!run_until(c, &p->done)) {
        p->status = -EPROTO;
        p->message = xstrdup("the query never completed");
    }
    if (p->status == 0 && !p->res) {
        p->status = -ENOMEM;
        p->message = xstrdup("out of memory copying the result");
    }
    return p->status;
}

int ctl_query(struct ctl *c, const char *what, const char *sql, int n,
              const char *const *values, PGresult **out)
{
    struct pending p;
    int rc = 0;
    if (query_raw(c, sql, n, values, &p) < 0)
        rc = report(c, what, &p);
    free(p.message);
    if (rc == 0 && out)
        *out = p.res;
    else
        PQclear(p.res);
    return rc;
}

int ctl_schema_version(struct ctl *c, int *version)
{
    struct pending p;
    int rc = 0;
    query_raw(c, "SELECT coalesce(max(version), 0) FROM schema_version", 0, NULL, &p);
    if (p.status == 0)
        *version = atoi(PQgetvalue(p.res, 0, 0));
    else if (strcmp(p.sqlstate, "42P01") == 0)
        *version = 0; /* undefined_table: a database nothing was migrated into */
    else
        rc = report(c, "reading the schema version", &p);
    free(p.message);
    PQclear(p.res);
    return rc;
}

int ctl_schema_known(struct ctl *c, const char *db, int knows, const char *advice, int *have)
{
    int rc = ctl_schema_version(c, have);
    if (rc == 0 && *have > knows) {
        ctl_err("the %s database schema is at version %d, newer than the %d this confabctl "
                "knows; %s", db, *have, knows, advice);
        rc = EX_CONFIG;
    }
    return rc;
}

int ctl_require_schema(struct ctl *c)
{
    int have = 0, want = ctl_binary_version();
    int rc = ctl_schema_known(c, "chat", want, "upgrade confab", &have);
    if (rc == 0 && have < want) {
        ctl_err("the chat database schema is at version %d, this confabctl needs %d; "
                "run 'confabctl db migrate' first", have, want);
        rc = CTL_FAIL;
    }
    return rc;
}

int ctl_open(struct ctl *c)
{
    int rc = ctl_connect(c);
    return rc ? rc : ctl_require_schema(c);
}

static void on_migrated(void *ud, int err, int from, int to)
{
    struct ctl_migration *m = ud;
    *m = (struct ctl_migration){ .done = true, .err = err, .from = from, .to = to };
}

void ctl_migrate(struct ctl *c, const char *dsn, const char *name,
                 const struct migration *list, size_t n, struct ctl_migration *m)
{
    *m = (struct ctl_migration){ 0 };
    struct migrate *mg = migrate_run(&c->loop, dsn, name, list, n, on_migrated, m);
    bool cancelled = false;
    while (!m->done) {
        if (c->lost && !cancelled) {
            cancelled = true;
            migrate_cancel(mg);
        }
        uv_run(&c->loop, UV_RUN_ONCE);
    }
}

/* ---- several statements, one transaction ---- */

struct atomic_wait {
    size_t left;
    struct pending *p;      /* one per op */
};

struct atomic_op {
    struct atomic_wait *w;
    size_t i;
};

static void on_atomic_result(void *ud, const struct db_result *r)
{
    struct atomic_op *op = ud;
    on_result(&op->w->p[op->i], r);
    op->w->left--;
}

int ctl_atomic(struct ctl *c, const char *what, const struct ctl_stmt *stmts, size_t n,
               PGresult **out)
{
    struct db_op *ops = xcalloc(n, sizeof *ops);
    struct atomic_op *uds = xcalloc(n, sizeof *uds);
    struct atomic_wait w = { .left = n, .p = xcalloc(n, sizeof *w.p) };
    for (size_t i = 0; i < n; i++) {
        uds[i] = (struct atomic_op){ .w = &w, .i = i };
        ops[i] = (struct db_op){ .sql = stmts[i].sql, .nparams = stmts[i].n,
                                 .values = stmts[i].values, .cb = on_atomic_result,
                                 .ud = &uds[i] };
    }
    int rc = c->lost ? -ECANCELED : db_exec_atomic(c->db, ops, n);
    bool done = true;
    if (rc == 0) {
        for (bool ok = true; w.left && ok;)
            ok = uv_run(&c->loop, UV_RUN_ONCE) != 0 || !w.left;
        done = !w.left;
    }
    struct pending *bad = NULL, failed = { .status = rc < 0 ? rc : -EPROTO };
    if (rc < 0 || !done) {
        failed.message = xstrdup(rc < 0 ? "not queued" : "the statements never completed");
        bad = &failed;
    }
    for (size_t i = 0; i < n && !bad; i++)
        if (w.p[i].status < 0)
            bad = &w.p[i];   /* every op carries the failed statement's error */
    int status = bad ? report(c, what, bad) : 0;
    for (size_t i = 0; i < n; i++) {
        if (status == 0 && out)
            out[i] = w.p[i].res;
        else
            PQclear(w.p[i].res);
        free(w.p[i].message);
    }
    free(failed.message);
    free(w.p);
    free(uds);
    free(ops);
    return status;
}
