/* db.c — asynchronous PostgreSQL over libuv: see db.h for the contract.
 *
 * States: idle → [resolving →] connecting → preparing → up; any failure goes to
 * waiting (backoff timer) and from there to the next attempt; stopping is final.
 *
 * Request life: db_exec puts a request on `waiting`. The flush check (a
 * uv_check_t, so once per loop turn) cuts waiting requests into segments, sends
 * each as PQsendQueryPrepared… + PQpipelineSync, and files the segment on the
 * in-flight list. Results are matched to the oldest segment's requests in
 * order; when its PGRES_PIPELINE_SYNC arrives the segment's requests move to
 * `done` (committed, or failed) or back to the head of `waiting` (rolled back
 * neighbours, serialization failures). On connection loss every in-flight
 * request goes back to the head of `waiting`.
 *
 * User callbacks (results, on_state) run only from deliver(), which every
 * libuv callback of ours calls last, when no internal structure is half-updated
 * and no libpq call is on the stack. A callback may call db_stop: deliver
 * notices, and nothing touches the connection afterwards. The db itself is
 * freed only from a close callback, so it stays valid for the rest of the
 * current callback stack. */
#include "compat.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backoff.h"
#include "buf.h"
#include "db.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

enum dstate { D_IDLE, D_WAIT, D_RESOLVING, D_CONNECTING, D_PREPARING, D_UP, D_STOPPING };

static const char *const state_names[] = {
    "idle", "waiting", "resolving", "connecting", "preparing", "up", "stopping",
};

/* Outcome of the current run of a request. */
enum rstate {
    RS_SENT,       /* waiting for its result */
    RS_OK,         /* succeeded (commits when the segment syncs without error) */
    RS_FAILED,     /* final error: report it */
    RS_ABORTED,    /* skipped or rolled back because a neighbour failed: resend */
    RS_RETRY,      /* serialization failure or deadlock: resend, counts as a run */
};

struct req {
    struct req *next;
    int stmt;                 /* index into db->stmts, -1 for db_exec_sql */
    const char *sql;          /* db_exec_sql only; inside this allocation */
    int nparams;
    const char **values;      /* inside this allocation */
    int *lengths;
    int *formats;
    db_result_cb *cb;
    void *ud;
    unsigned runs;            /* runs that count against max_attempts */
    uint64_t group;           /* db_exec_atomic transaction, 0 for none */
    enum rstate rs;
    int status;
    PGresult *res;            /* result (or error result) of the current run */
    const char *message;
    char *msg_owned;          /* message copied from a group neighbour */
    char sqlstate[6];
};

struct rlist {
    struct req *head, *tail;
    size_t n;
};

enum segkind { SEG_PREPARE, SEG_REQS };

struct seg {
    struct seg *next;
    enum segkind kind;
    size_t stmt;              /* SEG_PREPARE: which statement */
    bool got_result;          /* SEG_PREPARE */
    struct rlist reqs;        /* SEG_REQS, submission order */
    struct req *cur;          /* next request whose result is due */
    bool failed;              /* an error: the segment's transaction rolled back */
    uint64_t sent_ms;         /* loop time it was sent: commit latency (metrics) */
};

struct stmt {
    char *name;
    char *sql;
    int nparams;
    bool broken;              /* its PREPARE failed on the current connection */
    bool preparing;           /* a PREPARE of it is on its way (connect, or again) */
    uint64_t prepared_ms;     /* loop time of the last PREPARE sent */
    char sqlstate[6];
    char *error;
};

/* The poll handle lives on the heap because a new one is needed whenever
 * PQsocket() changes; an old one is freed in its close callback. */
struct dbpoll {
    uv_poll_t h;
    struct db *db;
    int fd;
};

/* One entry of the DSN's host list, when some entry needs resolving. */
struct dsn_host {
    char *host;
    char *port;               /* NULL unless the DSN has a port list */
    bool resolve;             /* a name: look it up with uv_getaddrinfo */
    char **addrs;             /* numeric addresses found */
    size_t naddrs;
};

#define MAX_ADDRS_PER_HOST 8

struct db {
    uv_loop_t *loop;
    struct db_cfg cfg;
    char *name;
    char *dsn;
    PQconninfoOption *opts;
    struct stmt *stmts;
    size_t nstmts;
    bool held;                /* the head request waits for its statement's PREPARE */
    db_state_cb *on_state;
    void *ud;

    enum dstate state;
    PGconn *conn;
    struct dbpoll *poll;
    bool await_null;          /* PQgetResult owes the NULL that ends a result */

    uv_getaddrinfo_t gai;
    bool gai_pending;
    struct dsn_host *hosts;
    size_t nhosts;
    size_t resolving;

    uv_timer_t retry_timer;
    uv_timer_t deadline_timer;
    uv_check_t flush_check;
    uv_idle_t kick;

    struct rlist waiting;
    struct seg *seg_head, *seg_tail;
    size_t nsegs;             /* request segments in flight */
    size_t ninflight;         /* requests in flight */
    struct rlist done;        /* outcome known, callback not yet run */
    bool delivering;
    bool notify_up, notify_down;
    db_notify_cb *on_notify;  /* LISTEN notifications (db_set_notify) */
    void *notify_ud;
    struct notice *notices, **notices_tail;

    uint64_t next_group;
    struct backoff retry;
    char last_error[512];
    char server_said[256];
    char resolve_error[300];

    struct db_stats stats;
    int pending_closes;
    void (*stop_done)(void *ud);
};

static void drop(struct db *db, const char *fmt, ...) PRINTF(2, 3);
static void begin_attempt(struct db *db);
static void on_poll(uv_poll_t *h, int status, int events);
static void on_retry(uv_timer_t *h);
static void deliver(struct db *db);
static void maybe_finish_stop(struct db *db);
static void collect_notices(struct db *db);

/* ---- small helpers ---- */

/* libpq messages end in newlines and may span lines ("…failed: Connection
 * refused\n\tIs the server running…"): make one log line of them. */
static void oneline(char *dst, size_t n, const char *src)
{
    size_t j = 0;
    bool sep = false;
    if (!src)
        src = "";
    for (; *src && j + 3 < n; src++) {
        if (*src == '\n' || *src == '\r' || *src == '\t') {
            sep = sep || *src == '\n';
            continue;
        }
        if (sep && j) {
            dst[j++] = ';';
            dst[j++] = ' ';
        }
        sep = false;
        dst[j++] = *src;
    }
    while (j && dst[j - 1] == ' ')
        j--;
    dst[j] = '\0';
}

static void rl_push(struct rlist *l, struct req *r)
{
    r->next = NULL;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
}

static struct req *rl_pop(struct rlist *l)
{
    struct req *r = l->head;
    if (!r)
        return NULL;
    l->head = r->next;
    if (!l->head)
        l->tail = NULL;
    l->n--;
    r->next = NULL;
    return r;
}

/* Put all of `front` before `l`, keeping both orders. */
static void rl_prepend(struct rlist *l, struct rlist *front)
{
    if (!front->head)
        return;
    front->tail->next = l->head;
    if (!l->tail)
        l->tail = front->tail;
    l->head = front->head;
    l->n += front->n;
    front->head = front->tail = NULL;
    front->n = 0;
}

/* Final outcome: onto `done`, to be called back by deliver(). */
static void finish(struct db *db, struct req *r, int status, const char *sqlstate,
                   const char *message)
{
    r->status = status;
    if (status < 0) {
        r->rs = RS_FAILED;
        if (sqlstate != r->sqlstate)
            snprintf(r->sqlstate, sizeof r->sqlstate, "%s", sqlstate ? sqlstate : "");
        r->message = message;
    }
    rl_push(&db->done, r);
}

static void req_reset(struct req *r)
{
    PQclear(r->res);
    r->res = NULL;
    free(r->msg_owned);
    r->msg_owned = NULL;
    r->message = NULL;
    r->status = 0;
    r->sqlstate[0] = '\0';
    r->rs = RS_SENT;
}

static void req_free(struct req *r)
{
    PQclear(r->res);
    free(r->msg_owned);
    free(r);
}

/* Fail r with a copy of another request's outcome (a transaction neighbour). */
static void fail_like(struct db *db, struct req *r, int status, const char *sqlstate,
                      const char *message)
{
    char *copy = xstrdup(message ? message : "");
    req_reset(r);
    r->msg_owned = copy;
    finish(db, r, status, sqlstate, copy);
}


static bool is_ip_literal(const char *s)
{
    unsigned char b[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static const char *opt_value(const struct db *db, const char *kw)
{
    for (const PQconninfoOption *o = db->opts; o->keyword; o++)
        if (o->val && strcmp(o->keyword, kw) == 0)
            return o->val;
    return NULL;
}

/* Split a libpq comma list ("a,b,,c"); always at least one element. */
static char **split_list(const char *s, size_t *n)
{
    size_t cnt = 1;
    for (const char *p = s; *p; p++)
        cnt += *p == ',';
    char **v = xcalloc(cnt, sizeof *v);
    size_t i = 0;
    for (const char *p = s;; i++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        v[i] = xstrndup(p, len);
        if (!e)
            break;
        p = e + 1;
    }
    *n = cnt;
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void free_hosts(struct db *db)
{
    for (size_t i = 0; i < db->nhosts; i++) {
        free(db->hosts[i].host);
        free(db->hosts[i].port);
        free_list(db->hosts[i].addrs, db->hosts[i].naddrs);
    }
    free(db->hosts);
    db->hosts = NULL;
    db->nhosts = 0;
}

/* ---- error classification ---- */

enum db_errclass db_classify(const char *ss)
{
    if (!ss || strlen(ss) != 5)
        return DB_ERRCLASS_FAIL;
    if (strncmp(ss, "08", 2) == 0)
        /* 08P01 protocol_violation is what a malformed Bind gets; the
         * connection is fine and the same request would fail again. */
        return strcmp(ss, "08P01") == 0 ? DB_ERRCLASS_FAIL : DB_ERRCLASS_CONNECTION;
    if (strcmp(ss, "57P01") == 0 || strcmp(ss, "57P02") == 0 || strcmp(ss, "57P03") == 0)
        return DB_ERRCLASS_CONNECTION;
    if (strcmp(ss, "40001") == 0 || strcmp(ss, "40P01") == 0)
        return DB_ERRCLASS_RETRY;
    if (strncmp(ss, "53", 2) == 0)
        return DB_ERRCLASS_RESOURCES;
    return DB_ERRCLASS_FAIL;
}

/* ---- poll handle ---- */

static void on_poll_closed(uv_handle_t *h)
{
    struct dbpoll *p = container_of((uv_poll_t *)h, struct dbpoll, h);
    struct db *db = p->db;
    free(p);
    db->pending_closes--;
    maybe_finish_stop(db);
}

static void close_poll(struct db *db)
{
    struct dbpoll *p = db->poll;
    if (!p)
        return;
    db->poll = NULL;
    uv_poll_stop(&p->h);
    db->pending_closes++;
    uv_close((uv_handle_t *)&p->h, on_poll_closed);
}

/* Watch fd for events, replacing the poll handle when libpq's socket changed.
 * The old handle was stopped before libpq could close its fd, and is closed
 * before the new one starts, so epoll never sees a stale registration. */
static int watch(struct db *db, int fd, int events)
{
    if (db->poll && db->poll->fd != fd) {
        log_debug("%s: libpq moved from socket %d to %d", db->name, db->poll->fd, fd);
        close_poll(db);
    }
    if (!db->poll) {
        struct dbpoll *p = xcalloc(1, sizeof *p);
        p->db = db;
        p->fd = fd;
        int r = uv_poll_init_socket(db->loop, &p->h, fd);
        if (r < 0) {
            free(p);
            return r;
        }
        db->poll = p;
    }
    return uv_poll_start(&db->poll->h, events, on_poll);
}

/* ---- connection teardown and backoff ---- */

static void close_conn(struct db *db)
{
    close_poll(db);           /* uv_poll_stop before PQfinish closes the fd */
    if (db->conn) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
    db->await_null = false;
}

static void free_segs(struct db *db)
{
    struct seg *s = db->seg_head;
    while (s) {
        struct seg *next = s->next;
        free(s);
        s = next;
    }
    db->seg_head = db->seg_tail = NULL;
    db->nsegs = 0;
    db->ninflight = 0;
}

/* Every request sent on a lost connection goes back to the head of the
 * waiting list, in order: its segment may or may not have committed. */
static void requeue_inflight(struct db *db)
{
    struct rlist again = { 0 };
    for (struct seg *s = db->seg_head; s; s = s->next) {
        struct req *r;
        while ((r = rl_pop(&s->reqs))) {
            req_reset(r);
            if (r->runs >= db->cfg.max_attempts) {
                finish(db, r, -ECONNRESET, "",
                       "the connection was lost too many times while the statement ran");
                continue;
            }
            db->stats.retried++;
            rl_push(&again, r);
        }
    }
    free_segs(db);
    rl_prepend(&db->waiting, &again);
}

static uint64_t next_delay(struct db *db)
{
    return backoff_next(&db->retry, db->cfg.reconnect_min_ms, db->cfg.reconnect_max_ms);
}

/* One line per distinct failure; the same failure again within 30 s goes to
 * debug, with a count in the next line that is logged. */
static void log_failure(struct db *db, bool was_up, const char *reason, uint64_t delay)
{
    unsigned repeats;
    if (!backoff_should_log(&db->retry, reason, was_up, uv_now(db->loop), &repeats)) {
        log_debug("%s: %s; retrying in %" PRIu64 " ms", db->name, reason, delay);
        return;
    }
    const char *what = was_up ? "connection lost" : "cannot connect";
    if (repeats)
        log_warn("%s: %s: %s; retrying in %" PRIu64 " ms (%u more failures like this since "
                 "the last report)", db->name, what, reason, delay, repeats);
    else
        log_warn("%s: %s: %s; retrying in %" PRIu64 " ms", db->name, what, reason, delay);
}

/* The one path for every failed attempt and every lost connection. */
static void drop(struct db *db, const char *fmt, ...)
{
    if (db->state == D_IDLE || db->state == D_WAIT || db->state == D_STOPPING)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->last_error, sizeof db->last_error, fmt, ap);
    va_end(ap);
    bool was_up = db->state == D_UP;
    close_conn(db);
    requeue_inflight(db);
    uv_timer_stop(&db->deadline_timer);
    uv_check_stop(&db->flush_check);
    uv_idle_stop(&db->kick);
    uint64_t delay = next_delay(db);
    db->state = D_WAIT;
    if (was_up) {
        db->stats.losses++;
        db->notify_down = true;
    } else {
        db->stats.connect_failures++;
    }
    log_failure(db, was_up, db->last_error, delay);
    uv_timer_start(&db->retry_timer, on_retry, delay, 0);
}

/* ---- connecting ---- */

static void on_notice(void *arg, const PGresult *res)
{
    struct db *db = arg;
    const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    /* Class 57 (operator intervention) or FATAL: the server says why it is
     * about to close the connection. Keep it for the drop reason. */
    bool why = (ss && strncmp(ss, "57", 2) == 0) ||
               (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0));
    if (!why && log_get_level() < LOG_DEBUG)
        return;
    char msg[512];
    oneline(msg, sizeof msg, PQresultErrorMessage(res));
    if (why) {
        const char *prim = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        snprintf(db->server_said, sizeof db->server_said, "%.200s%s%s%s", prim ? prim : msg,
                 ss ? " (SQLSTATE " : "", ss ? ss : "", ss ? ")" : "");
    }
    log_debug("%s: server says: %s", db->name, msg);
}

static void drop_pq(struct db *db, const char *what)
{
    char msg[400];
    oneline(msg, sizeof msg, db->conn ? PQerrorMessage(db->conn) : "");
    if (!*msg)
        snprintf(msg, sizeof msg, "unknown libpq error");
    drop(db, "%s%s%s%s%s", what ? what : "", what ? ": " : "", msg,
         *db->server_said ? "; the server said: " : "", db->server_said);
}

static void on_deadline(uv_timer_t *h)
{
    struct db *db = container_of(h, struct db, deadline_timer);
    drop(db, "not ready within %" PRIu64 " ms (was %s)", db->cfg.connect_timeout_ms,
         state_names[db->state]);
    deliver(db);
}

/* Does the DSN name hosts that libpq would look up itself, with a blocking
 * getaddrinfo? Then fill db->hosts; entries marked `resolve` are looked up
 * with uv_getaddrinfo first and passed to libpq as hostaddr. */
static void plan_hosts(struct db *db)
{
    free_hosts(db);
    const char *hostaddr = opt_value(db, "hostaddr");
    if (!hostaddr)
        hostaddr = getenv("PGHOSTADDR");
    if (hostaddr && *hostaddr)
        return; /* the operator chose addresses (all of them, we assume) */
    const char *host = opt_value(db, "host");
    if (!host)
        host = getenv("PGHOST");
    if (!host || !*host)
        return; /* the default Unix socket */
    size_t nh, np = 0;
    char **hv = split_list(host, &nh);
    const char *port = opt_value(db, "port");
    if (!port)
        port = getenv("PGPORT");
    char **pv = NULL;
    if (port && strchr(port, ',')) {
        pv = split_list(port, &np);
        if (np != nh) {
            /* libpq refuses this DSN with a clear message; let it. */
            free_list(hv, nh);
            free_list(pv, np);
            return;
        }
    }
    bool any = false;
    db->hosts = xcalloc(nh, sizeof *db->hosts);
    db->nhosts = nh;
    for (size_t i = 0; i < nh; i++) {
        struct dsn_host *e = &db->hosts[i];
        e->host = hv[i];
        e->port = pv ? xstrdup(pv[i]) : NULL;
        e->resolve = e->host[0] && e->host[0] != '/' && e->host[0] != '@' &&
                     !is_ip_literal(e->host);
        any = any || e->resolve;
    }
    free(hv);
    if (pv)
        free_list(pv, np);
    if (!any)
        free_hosts(db);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res);
static void connect_now(struct db *db);

static void resolve_next(struct db *db)
{
    while (db->resolving < db->nhosts && !db->hosts[db->resolving].resolve)
        db->resolving++;
    if (db->resolving == db->nhosts) {
        connect_now(db);
        return;
    }
    const char *host = db->hosts[db->resolving].host;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    int r = uv_getaddrinfo(db->loop, &db->gai, on_resolved, host, NULL, &hints);
    if (r < 0) {
        drop(db, "cannot resolve %s: %s", host, uv_strerror(r));
        return;
    }
    db->gai_pending = true;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct db *db = container_of(req, struct db, gai);
    db->gai_pending = false;
    if (db->state != D_RESOLVING) {
        /* The attempt timed out meanwhile, or the db is stopping. */
        uv_freeaddrinfo(res);
        maybe_finish_stop(db);
        return;
    }
    struct dsn_host *e = &db->hosts[db->resolving];
    if (status < 0) {
        snprintf(db->resolve_error, sizeof db->resolve_error, "cannot resolve %s: %s",
                 e->host, uv_strerror(status));
        log_debug("%s: %s", db->name, db->resolve_error);
    }
    for (struct addrinfo *ai = status < 0 ? NULL : res; ai && e->naddrs < MAX_ADDRS_PER_HOST;
         ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            uv_ip_name(ai->ai_addr, ip, sizeof ip) != 0)
            continue;
        bool dup = false;
        for (size_t i = 0; i < e->naddrs && !dup; i++)
            dup = strcmp(e->addrs[i], ip) == 0;
        if (dup)
            continue;
        e->addrs = xrealloc(e->addrs, (e->naddrs + 1) * sizeof *e->addrs);
        e->addrs[e->naddrs++] = xstrdup(ip);
    }
    uv_freeaddrinfo(res);
    if (status >= 0 && !e->naddrs)
        snprintf(db->resolve_error, sizeof db->resolve_error, "%s has no address", e->host);
    db->resolving++;
    resolve_next(db);
    deliver(db);
}

/* Append element i of a comma list (elements may be empty). */
static void list_add(struct buf *b, size_t i, const char *s)
{
    if (i)
        buf_putc(b, ',');
    buf_puts(b, s);
}

/* PQconnectStartParams with everything the DSN says, plus, when names were
 * resolved, host/hostaddr(/port) lists with one entry per address, so libpq
 * still tries every address but never resolves anything itself. It keeps
 * 'host' for TLS host name verification (sslmode=verify-full) and .pgpass. */
static void connect_now(struct db *db)
{
    size_t nopts = 0;
    for (const PQconninfoOption *o = db->opts; o->keyword; o++)
        nopts++;
    const char **kw = xcalloc(nopts + 4, sizeof *kw);
    const char **val = xcalloc(nopts + 4, sizeof *val);
    struct buf hb, ab, pb;
    buf_init(&hb);
    buf_init(&ab);
    buf_init(&pb);
    bool port_list = false;
    size_t k = 0;
    if (db->nhosts) {
        size_t n = 0;
        for (size_t i = 0; i < db->nhosts; i++) {
            const struct dsn_host *e = &db->hosts[i];
            port_list = port_list || e->port;
            if (!e->resolve) {
                /* An IP literal, a socket directory, or "" (the default socket). */
                list_add(&hb, n, e->host);
                list_add(&ab, n, is_ip_literal(e->host) ? e->host : "");
                if (e->port)
                    list_add(&pb, n, e->port);
                n++;
                continue;
            }
            for (size_t j = 0; j < e->naddrs; j++, n++) {
                list_add(&hb, n, e->host);
                list_add(&ab, n, e->addrs[j]);
                if (e->port)
                    list_add(&pb, n, e->port);
            }
        }
        if (n == 0) {
            drop(db, "%s", *db->resolve_error ? db->resolve_error : "no address to connect to");
            goto out;
        }
    }
    for (const PQconninfoOption *o = db->opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (db->nhosts && (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0 ||
                           (port_list && strcmp(o->keyword, "port") == 0)))
            continue;
        kw[k] = o->keyword;
        val[k++] = o->val;
    }
    if (db->nhosts) {
        kw[k] = "host";
        val[k++] = hb.data ? hb.data : "";
        kw[k] = "hostaddr";
        val[k++] = ab.data ? ab.data : "";
        if (port_list) {
            kw[k] = "port";
            val[k++] = pb.data ? pb.data : "";
        }
    }
    kw[k] = NULL;
    val[k] = NULL;

    db->state = D_CONNECTING;
    db->server_said[0] = '\0';
    db->conn = PQconnectStartParams(kw, val, 0);
    if (!db->conn) {
        drop(db, "cannot start a connection: out of memory");
        goto out;
    }
    if (PQstatus(db->conn) == CONNECTION_BAD) {
        drop_pq(db, NULL);
        goto out;
    }
    PQsetNoticeReceiver(db->conn, on_notice, db);
    int fd = PQsocket(db->conn);
    if (fd < 0) {
        drop_pq(db, "no socket");
        goto out;
    }
    /* libpq: after PQconnectStart, poll as if PQconnectPoll said WRITING. */
    int r = watch(db, fd, UV_WRITABLE);
    if (r < 0)
        drop(db, "cannot poll the PostgreSQL socket: %s", uv_strerror(r));
out:
    buf_free(&hb);
    buf_free(&ab);
    buf_free(&pb);
    free(kw);
    free(val);
}

static void begin_attempt(struct db *db)
{
    if (db->gai_pending) {
        /* A lookup of a timed-out attempt still runs in the thread pool. */
        uv_timer_start(&db->retry_timer, on_retry, 100, 0);
        return;
    }
    db->state = D_RESOLVING;
    db->resolve_error[0] = '\0';
    uv_timer_start(&db->deadline_timer, on_deadline, db->cfg.connect_timeout_ms, 0);
    plan_hosts(db);
    if (db->nhosts) {
        db->resolving = 0;
        resolve_next(db);
    } else {
        connect_now(db);
    }
}

static void on_retry(uv_timer_t *h)
{
    struct db *db = container_of(h, struct db, retry_timer);
    if (db->state == D_WAIT)
        begin_attempt(db);
    deliver(db);
}

/* ---- sending ---- */

static void on_kick(uv_idle_t *h)
{
    /* Nothing: while active it only keeps uv_run from blocking in poll before
     * the flush check has run. */
}

static void on_check(uv_check_t *h);

/* Flush in this loop turn's check phase, so everything submitted during the
 * turn shares one segment. The idle handle makes sure the loop gets to the
 * check phase without first blocking for I/O (db_exec outside uv_run, or from
 * another check callback). */
static void schedule_flush(struct db *db)
{
    if (db->state != D_UP || uv_is_active((uv_handle_t *)&db->flush_check))
        return;
    uv_check_start(&db->flush_check, on_check);
    uv_idle_start(&db->kick, on_kick);
}

static void link_seg(struct db *db, struct seg *s)
{
    s->sent_ms = uv_now(db->loop);
    if (db->seg_tail)
        db->seg_tail->next = s;
    else
        db->seg_head = s;
    db->seg_tail = s;
}

/* PQflush, then poll for readable, and writable while output is pending. */
static bool flush_and_watch(struct db *db)
{
    int r = PQflush(db->conn);
    if (r < 0 || PQstatus(db->conn) == CONNECTION_BAD) {
        /* libpq may have found the connection dead (and closed its socket)
         * while trying to write. */
        drop_pq(db, NULL);
        return false;
    }
    int e = watch(db, PQsocket(db->conn), UV_READABLE | (r ? UV_WRITABLE : 0));
    if (e < 0) {
        drop(db, "cannot poll the PostgreSQL socket: %s", uv_strerror(e));
        return false;
    }
    return true;
}

/* Queue r on the connection as part of segment s. False: the connection
 * broke (dropped already). */
static bool send_req(struct db *db, struct seg *s, struct req *r)
{
    req_reset(r);
    r->runs++;
    rl_push(&s->reqs, r);
    db->ninflight++;
    db->stats.statements++;
    const char *const *v = (const char *const *)r->values;
    int ok = r->stmt >= 0 ? PQsendQueryPrepared(db->conn, db->stmts[r->stmt].name, r->nparams, v,
                                                r->lengths, r->formats, 0)
                          : PQsendQueryParams(db->conn, r->sql, r->nparams, NULL, v, r->lengths,
                                              r->formats, 0);
    if (!ok) {
        link_seg(db, s);
        db->nsegs++;
        drop_pq(db, "cannot queue a statement");
    }
    return ok;
}

/* The statement whose PREPARE failed on this connection, if any in r's group
 * (or r itself when it has none). */
static const struct stmt *broken_stmt(const struct db *db, const struct req *r)
{
    for (const struct req *q = r; q && (q == r || (r->group && q->group == r->group));
         q = q->next)
        if (q->stmt >= 0 && db->stmts[q->stmt].broken)
            return &db->stmts[q->stmt];
    return NULL;
}

/* Send the PREPARE of statement i in a segment of its own (a failing one
 * must not abort others). False: the connection broke. */
static bool send_prepare(struct db *db, size_t i)
{
    struct stmt *st = &db->stmts[i];
    if (!PQsendPrepare(db->conn, st->name, st->sql, st->nparams, NULL) ||
        !PQpipelineSync(db->conn)) {
        drop_pq(db, "cannot send PREPARE");
        return false;
    }
    st->preparing = true;
    st->prepared_ms = uv_now(db->loop);
    struct seg *s = xcalloc(1, sizeof *s);
    s->kind = SEG_PREPARE;
    s->stmt = i;
    link_seg(db, s);
    return true;
}

/* A statement whose PREPARE failed (its table did not exist yet, say: a
 * migration or an operator's repair may have fixed that since) is prepared
 * again at most once a second; the requests that need it wait for the
 * answer instead of failing at once. */
enum { REPREPARE_MS = 1000 };
static bool reprepare(struct db *db, const struct stmt *bad, bool *ok)
{
    struct stmt *st = &db->stmts[bad - db->stmts];
    *ok = true;
    if (st->preparing)
        return true;
    if (uv_now(db->loop) - st->prepared_ms < REPREPARE_MS)
        return false;
    *ok = send_prepare(db, (size_t)(bad - db->stmts));
    return true;
}

/* Fill one segment from the head of `waiting` with units — a plain request,
 * or a whole db_exec_atomic group — up to max_segment requests (a group is
 * never split). False: the connection broke. */
static bool fill_segment(struct db *db, struct seg *s)
{
    struct req *r;
    while ((r = db->waiting.head)) {
        uint64_t g = r->group;
        const struct stmt *bad = broken_stmt(db, r);
        bool ok;
        if (bad && reprepare(db, bad, &ok)) {
            db->held = true; /* the head waits; send_segments stops */
            return ok;
        }
        if (bad) {
            /* Never send part of a transaction: the whole unit fails. */
            do {
                rl_pop(&db->waiting);
                fail_like(db, r, -EIO, bad->sqlstate, bad->error);
            } while (g && (r = db->waiting.head) && r->group == g);
            continue;
        }
        if (s->reqs.n >= db->cfg.max_segment)
            return true;
        do {
            if (!send_req(db, s, rl_pop(&db->waiting)))
                return false;
        } while (g && (r = db->waiting.head) && r->group == g);
    }
    return true;
}

static void send_segments(struct db *db)
{
    bool sent = false;
    db->held = false;
    while (db->state == D_UP && db->waiting.head && db->nsegs < db->cfg.max_inflight) {
        struct seg *s = xcalloc(1, sizeof *s);
        s->kind = SEG_REQS;
        if (!fill_segment(db, s))
            return;
        if (!s->reqs.n) {
            free(s);
            if (db->held) {
                sent = true; /* the PREPARE */
                break;
            }
            continue;
        }
        s->cur = s->reqs.head;
        link_seg(db, s);
        db->nsegs++;
        db->stats.segments++;
        if (!PQpipelineSync(db->conn)) {
            drop_pq(db, "cannot send a sync");
            return;
        }
        sent = true;
    }
    if (sent)
        (void)flush_and_watch(db);
}

static bool process_results(struct db *db);

static void on_check(uv_check_t *h)
{
    struct db *db = container_of(h, struct db, flush_check);
    uv_check_stop(h);
    uv_idle_stop(&db->kick);
    send_segments(db);
    /* When the socket is full, libpq reads what has arrived while it sends
     * (pqSendSome); handle that now rather than at the next socket event. */
    if (db->state == D_UP && db->seg_head)
        (void)process_results(db);
    deliver(db);
}

/* ---- results ---- */

static void went_up(struct db *db)
{
    db->state = D_UP;
    uv_timer_stop(&db->deadline_timer);
    backoff_reset(&db->retry);
    db->stats.connects++;
    size_t broken = 0;
    for (size_t i = 0; i < db->nstmts; i++)
        broken += db->stmts[i].broken;
    log_info("%s: connected to %s port %s, database %s, user %s%s; %zu statements prepared%s",
             db->name, PQhost(db->conn), PQport(db->conn), PQdb(db->conn), PQuser(db->conn),
             PQsslInUse(db->conn) ? ", TLS" : "", db->nstmts - broken,
             broken ? " (some failed, see above)" : "");
    db->notify_up = true;
    schedule_flush(db);
}

/* A segment's sync came back: its requests are settled, or go round again.
 * After an error the segment holds at most one failing statement, f. Its unit
 * (f alone, or f's db_exec_atomic group) fails — or, for 40001/40P01, is
 * resent. Everything else was rolled back through no fault of its own and is
 * resent without counting a run. */
/* One histogram for every connection of the process: a segment is one
 * transaction, from its send to its sync (loop time, millisecond steps). */
static void observe_commit(struct db *db, const struct seg *s)
{
    static const double bounds[] = { 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5 };
    /* Looked up per commit (a short list), so nothing dangles after metric_reset. */
    struct metric *h = metric_histogram("confab_db_commit_seconds",
                                        "PostgreSQL pipeline segments (transactions), send to "
                                        "sync.", bounds, ARRAY_SIZE(bounds));
    metric_observe(h, (double)(uv_now(db->loop) - s->sent_ms) / 1000.0);
}

static void seg_synced(struct db *db)
{
    struct seg *s = db->seg_head;
    db->seg_head = s->next;
    if (!db->seg_head)
        db->seg_tail = NULL;
    if (s->kind == SEG_PREPARE) {
        free(s);
        if (!db->seg_head && db->state == D_PREPARING)
            went_up(db);
        else if (db->waiting.head)
            schedule_flush(db); /* requests waited for this statement */
        return;
    }
    db->nsegs--;
    db->ninflight -= s->reqs.n;
    observe_commit(db, s);
    struct req *f = NULL, *r;
    if (s->failed)
        for (f = s->reqs.head; f && f->rs != RS_FAILED && f->rs != RS_RETRY; f = f->next)
            ;
    struct rlist again = { 0 };
    while ((r = rl_pop(&s->reqs))) {
        if (!s->failed) {
            finish(db, r, 0, NULL, NULL);
            continue;
        }
        bool in_unit = f && (r == f || (f->group && r->group == f->group));
        if (in_unit && f->rs == RS_FAILED) {
            if (r == f)
                rl_push(&db->done, r);
            else
                fail_like(db, r, f->status, f->sqlstate, f->message);
            continue;
        }
        if (!in_unit && r->runs)
            r->runs--;
        req_reset(r);
        db->stats.retried++;
        rl_push(&again, r);
    }
    free(s);
    rl_prepend(&db->waiting, &again);
    if (db->waiting.head)
        schedule_flush(db);
}

static void prepare_result(struct db *db, struct seg *s, PGresult *res)
{
    struct stmt *st = &db->stmts[s->stmt];
    s->got_result = true;
    free(st->error);
    st->error = NULL;
    st->preparing = false;
    st->broken = PQresultStatus(res) != PGRES_COMMAND_OK;
    if (st->broken) {
        char msg[400];
        const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        oneline(msg, sizeof msg, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        snprintf(st->sqlstate, sizeof st->sqlstate, "%s", ss ? ss : "");
        st->error = xasprintf("cannot prepare statement %s: %s", st->name, msg);
        log_error("%s: %s (SQLSTATE %s)", db->name, st->error, st->sqlstate);
    }
    PQclear(res);
}

static void take_result(struct db *db, struct seg *s, PGresult *res)
{
    struct req *r = s->cur;
    s->cur = r->next;
    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        r->rs = RS_OK;
        r->res = res;
        return;
    case PGRES_PIPELINE_ABORTED:
        r->rs = RS_ABORTED;
        s->failed = true;
        PQclear(res);
        return;
    case PGRES_FATAL_ERROR:
    case PGRES_NONFATAL_ERROR: {
        s->failed = true;
        const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        enum db_errclass cls = db_classify(ss);
        const char *what = r->stmt >= 0 ? db->stmts[r->stmt].name : "(sql)";
        if (cls == DB_ERRCLASS_RETRY && r->runs < db->cfg.max_attempts) {
            log_debug("%s: statement %s: SQLSTATE %s, will retry", db->name, what, ss);
            r->rs = RS_RETRY;
            PQclear(res);
            return;
        }
        log_debug("%s: statement %s failed: SQLSTATE %s: %s", db->name, what, ss ? ss : "",
                  msg ? msg : "");
        r->res = res;
        r->rs = RS_FAILED;
        r->status = cls == DB_ERRCLASS_RESOURCES ? -ENOSPC : -EIO;
        snprintf(r->sqlstate, sizeof r->sqlstate, "%s", ss ? ss : "");
        r->message = msg ? msg : "statement failed";
        return;
    }
    default:
        /* COPY and the like: not supported in pipeline mode anyway. */
        s->failed = true;
        r->rs = RS_FAILED;
        r->status = -EPROTO;
        r->sqlstate[0] = '\0';
        r->message = "unexpected result type (COPY or another command pipeline mode cannot run)";
        PQclear(res);
        return;
    }
}

/* Read every result that is complete. Returns false when the connection was
 * dropped on the way. */
static bool process_results(struct db *db)
{
    while (db->seg_head) {
        if (PQisBusy(db->conn))
            break;
        PGresult *res = PQgetResult(db->conn);
        if (!res) {
            if (db->await_null) {
                db->await_null = false;
                continue;
            }
            break;
        }
        struct seg *s = db->seg_head;
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            if (s->kind == SEG_REQS ? s->cur != NULL : !s->got_result) {
                drop(db, "protocol confusion: sync before all results");
                return false;
            }
            seg_synced(db);
            continue;
        }
        db->await_null = true;
        if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR) {
            const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            if (PQstatus(db->conn) == CONNECTION_BAD ||
                db_classify(ss) == DB_ERRCLASS_CONNECTION) {
                char msg[400];
                const char *prim = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
                oneline(msg, sizeof msg, prim ? prim : PQresultErrorMessage(res));
                char code[6];
                snprintf(code, sizeof code, "%s", ss ? ss : "");
                PQclear(res);
                drop(db, "%s%s%s%s", msg, *code ? " (SQLSTATE " : "", code, *code ? ")" : "");
                return false;
            }
        }
        if (s->kind == SEG_PREPARE ? s->got_result : s->cur == NULL) {
            PQclear(res);
            drop(db, "protocol confusion: more results than statements");
            return false;
        }
        if (s->kind == SEG_PREPARE)
            prepare_result(db, s, res);
        else
            take_result(db, s, res);
    }
    if (PQstatus(db->conn) == CONNECTION_BAD) {
        drop_pq(db, NULL);
        return false;
    }
    return true;
}

static void connected(struct db *db)
{
    if (PQsetnonblocking(db->conn, 1) != 0) {
        drop_pq(db, "cannot make the connection non-blocking");
        return;
    }
    if (!PQenterPipelineMode(db->conn)) {
        drop_pq(db, "cannot enter pipeline mode");
        return;
    }
    db->state = D_PREPARING;
    /* One sync per PREPARE: a failing one must not abort the others. */
    for (size_t i = 0; i < db->nstmts; i++)
        if (!send_prepare(db, i))
            return;
    if (!db->seg_head)
        went_up(db);
    (void)flush_and_watch(db);
}

static void connect_step(struct db *db)
{
    uv_poll_stop(&db->poll->h); /* libpq may close or replace the socket */
    PostgresPollingStatusType ps = PQconnectPoll(db->conn);
    if (ps == PGRES_POLLING_FAILED) {
        drop_pq(db, NULL);
        return;
    }
    if (ps == PGRES_POLLING_OK) {
        connected(db);
        return;
    }
    int fd = PQsocket(db->conn);
    if (fd < 0) {
        drop_pq(db, "no socket");
        return;
    }
    int r = watch(db, fd, ps == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE);
    if (r < 0)
        drop(db, "cannot poll the PostgreSQL socket: %s", uv_strerror(r));
}

static void conn_io(struct db *db, int status, int events)
{
    if (status < 0) {
        /* libuv reports EPOLLERR (e.g. a reset) as UV_EBADF and stops the
         * handle: let libpq read what arrived and the real error first. */
        if (!PQconsumeInput(db->conn)) {
            drop_pq(db, NULL);
            return;
        }
        if (!process_results(db))
            return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(PQsocket(db->conn), SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        drop(db, "socket error: %s%s%s", err ? strerror(err) : "reported by poll",
             *db->server_said ? "; the server said: " : "", db->server_said);
        return;
    }
    if ((events & UV_READABLE) && !PQconsumeInput(db->conn)) {
        drop_pq(db, NULL);
        return;
    }
    collect_notices(db);
    if (!process_results(db))
        return;
    /* Also after reading: the server may be waiting for us to read before
     * it reads the rest of what we sent. */
    (void)flush_and_watch(db);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct dbpoll *p = container_of(h, struct dbpoll, h);
    struct db *db = p->db;
    if (db->poll != p)
        return;
    if (db->state == D_CONNECTING)
        connect_step(db);
    else if (db->state == D_PREPARING || db->state == D_UP)
        conn_io(db, status, events);
    deliver(db);
}

/* ---- LISTEN/NOTIFY ---- */

struct notice {
    struct notice *next;
    char *channel;
    char *payload;
};

/* libpq hands notifications over after it reads; they wait here for
 * deliver(), like results, so the user's callback never runs inside libpq. */
static void collect_notices(struct db *db)
{
    PGnotify *n;
    while ((n = PQnotifies(db->conn))) {
        if (db->on_notify) {
            struct notice *x = xmalloc(sizeof *x);
            x->next = NULL;
            x->channel = xstrdup(n->relname);
            x->payload = xstrdup(n->extra ? n->extra : "");
            if (!db->notices_tail)
                db->notices_tail = &db->notices;
            *db->notices_tail = x;
            db->notices_tail = &x->next;
        }
        PQfreemem(n);
    }
}

static struct notice *pop_notice(struct db *db)
{
    struct notice *x = db->notices;
    if (x) {
        db->notices = x->next;
        if (!db->notices)
            db->notices_tail = &db->notices;
    }
    return x;
}

static void notice_free(struct notice *x)
{
    free(x->channel);
    free(x->payload);
    free(x);
}

void db_set_notify(struct db *db, db_notify_cb *cb, void *ud)
{
    db->on_notify = cb;
    db->notify_ud = ud;
}

/* ---- callbacks to the user ---- */

static void deliver(struct db *db)
{
    if (db->delivering)
        return; /* db_stop from inside a callback: the outer loop goes on */
    db->delivering = true;
    for (;;) {
        struct req *r = rl_pop(&db->done);
        if (!r) {
            /* Results first: they were settled before the state changed. */
            if (db->state == D_STOPPING)
                db->notify_up = db->notify_down = false;
            if (db->notify_up) {
                db->notify_up = false;
                if (db->on_state)
                    db->on_state(db->ud, true);
                continue;
            }
            if (db->notify_down) {
                db->notify_down = false;
                if (db->on_state)
                    db->on_state(db->ud, false);
                continue;
            }
            struct notice *x = db->state == D_STOPPING ? NULL : pop_notice(db);
            if (x) {
                if (db->on_notify)
                    db->on_notify(db->notify_ud, x->channel, x->payload);
                notice_free(x);
                continue;
            }
            break;
        }
        struct db_result res = { .status = r->status };
        if (r->status == 0) {
            res.res = r->res;
            db->stats.ok++;
        } else {
            memcpy(res.sqlstate, r->sqlstate, sizeof res.sqlstate);
            res.message = r->message ? r->message : "";
            db->stats.failed++;
        }
        if (r->cb)
            r->cb(r->ud, &res);
        req_free(r);
    }
    db->delivering = false;
}

/* ---- public ---- */

struct db *db_new(uv_loop_t *loop, const struct db_cfg *cfg, const struct db_stmt *stmts,
                  size_t n, db_state_cb *on_state, void *ud)
{
    const char *name = cfg->name && *cfg->name ? cfg->name : "db";
    if (!cfg->dsn) {
        log_error("%s: no DSN", name);
        return NULL;
    }
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(cfg->dsn, &err);
    if (!opts) {
        char msg[300];
        oneline(msg, sizeof msg, err ? err : "out of memory");
        log_error("%s: invalid DSN: %s", name, msg);
        PQfreemem(err);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        bool ok = stmts[i].name && *stmts[i].name && stmts[i].sql && stmts[i].nparams >= 0 &&
                  stmts[i].nparams <= 65535;
        for (size_t j = 0; ok && j < i; j++)
            ok = strcmp(stmts[i].name, stmts[j].name) != 0;
        if (!ok) {
            log_error("%s: statement %zu (%s) is invalid or its name is taken", name, i,
                      stmts[i].name ? stmts[i].name : "no name");
            PQconninfoFree(opts);
            return NULL;
        }
    }
    struct db *db = xcalloc(1, sizeof *db);
    db->loop = loop;
    db->cfg = *cfg;
    db->name = xstrdup(name);
    db->dsn = xstrdup(cfg->dsn);
    db->cfg.dsn = db->dsn;
    db->cfg.name = db->name;
    db->opts = opts;
    if (!db->cfg.connect_timeout_ms) {
        const char *ct = opt_value(db, "connect_timeout");
        long s = ct ? strtol(ct, NULL, 10) : 0;
        db->cfg.connect_timeout_ms = s > 0 ? (uint64_t)s * 1000 : 10000;
    }
    if (!db->cfg.reconnect_min_ms)
        db->cfg.reconnect_min_ms = 250;
    if (!db->cfg.reconnect_max_ms)
        db->cfg.reconnect_max_ms = 30000;
    if (!db->cfg.max_queue)
        db->cfg.max_queue = 100000;
    if (!db->cfg.max_segment)
        db->cfg.max_segment = 1000;
    if (!db->cfg.max_inflight)
        db->cfg.max_inflight = 4;
    if (!db->cfg.max_attempts)
        db->cfg.max_attempts = 10;
    db->stmts = xcalloc(n ? n : 1, sizeof *db->stmts);
    db->nstmts = n;
    for (size_t i = 0; i < n; i++) {
        db->stmts[i].name = xstrdup(stmts[i].name);
        db->stmts[i].sql = xstrdup(stmts[i].sql);
        db->stmts[i].nparams = stmts[i].nparams;
    }
    db->on_state = on_state;
    db->ud = ud;
    uv_timer_init(loop, &db->retry_timer);
    uv_timer_init(loop, &db->deadline_timer);
    uv_check_init(loop, &db->flush_check);
    uv_idle_init(loop, &db->kick);
    return db;
}

/* Check one request's parameters; the byte count of their copies in *data. */
static int check_params(int nparams, const char *const *values, const int *lengths,
                        const int *formats, size_t *data)
{
    if (nparams < 0 || nparams > 65535 || (nparams > 0 && !values))
        return -EINVAL;
    *data = 0;
    for (size_t i = 0; i < (size_t)nparams; i++) {
        if (!values[i])
            continue;
        bool bin = formats && formats[i];
        if (bin && (!lengths || lengths[i] < 0))
            return -EINVAL;
        *data += bin ? (size_t)lengths[i] : strlen(values[i]) + 1;
    }
    return 0;
}

/* One allocation holds the request, its parameter arrays and copies of the
 * parameters (and of sql). */
static struct req *new_req(int stmt, const char *sql, int nparams, const char *const *values,
                           const int *lengths, const int *formats, size_t data,
                           db_result_cb *cb, void *ud)
{
    size_t np = (size_t)nparams;
    size_t sqllen = sql ? strlen(sql) + 1 : 0;
    struct req *r = xcalloc(1, sizeof *r + np * (sizeof(char *) + 2 * sizeof(int)) + data +
                                   sqllen);
    char *p = (char *)(r + 1);
    r->values = (const char **)(void *)p;
    p += np * sizeof(char *);
    r->lengths = (int *)(void *)p;
    p += np * sizeof(int);
    r->formats = (int *)(void *)p;
    p += np * sizeof(int);
    for (size_t i = 0; i < np; i++) {
        r->formats[i] = formats && formats[i] ? 1 : 0;
        if (!values[i])
            continue;
        size_t len = r->formats[i] ? (size_t)lengths[i] : strlen(values[i]) + 1;
        memcpy(p, values[i], len);
        r->values[i] = p;
        r->lengths[i] = r->formats[i] ? lengths[i] : 0;
        p += len;
    }
    if (sql) {
        memcpy(p, sql, sqllen);
        r->sql = p;
    }
    r->stmt = stmt;
    r->nparams = nparams;
    r->cb = cb;
    r->ud = ud;
    return r;
}

static bool queue_full(const struct db *db, size_t more)
{
    return db->waiting.n + db->ninflight + more > db->cfg.max_queue;
}

/* Index of the prepared statement `name`, -ENOENT, or -EINVAL when nparams
 * differs from its declaration. */
static int find_stmt(const struct db *db, const char *name, int nparams)
{
    for (size_t i = 0; i < db->nstmts; i++)
        if (strcmp(db->stmts[i].name, name) == 0)
            return nparams == db->stmts[i].nparams ? (int)i : -EINVAL;
    return -ENOENT;
}

static int enqueue(struct db *db, int stmt, const char *sql, int nparams,
                   const char *const *values, const int *lengths, const int *formats,
                   db_result_cb *cb, void *ud)
{
    size_t data;
    int rc = check_params(nparams, values, lengths, formats, &data);
    if (rc < 0)
        return rc;
    if (queue_full(db, 1))
        return -EAGAIN;
    rl_push(&db->waiting, new_req(stmt, sql, nparams, values, lengths, formats, data, cb, ud));
    schedule_flush(db);
    return 0;
}

int db_exec(struct db *db, const char *stmt, int nparams, const char *const *values,
            const int *lengths, const int *formats, db_result_cb *cb, void *ud)
{
    if (db->state == D_STOPPING)
        return -ECANCELED;
    if (!stmt)
        return -EINVAL;
    int i = find_stmt(db, stmt, nparams);
    if (i < 0)
        return i;
    return enqueue(db, i, NULL, nparams, values, lengths, formats, cb, ud);
}

int db_exec_sql(struct db *db, const char *sql, int nparams, const char *const *values,
                const int *lengths, const int *formats, db_result_cb *cb, void *ud)
{
    if (db->state == D_STOPPING)
        return -ECANCELED;
    if (!sql)
        return -EINVAL;
    return enqueue(db, -1, sql, nparams, values, lengths, formats, cb, ud);
}

int db_exec_atomic(struct db *db, const struct db_op *ops, size_t n)
{
    if (db->state == D_STOPPING)
        return -ECANCELED;
    if (n == 0 || n > INT32_MAX)
        return -EINVAL;
    /* Check everything first: all of the transaction is queued or none. */
    size_t *data = xcalloc(n, sizeof *data);
    int *idx = xcalloc(n, sizeof *idx);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct db_op *o = &ops[i];
        if (!o->stmt == !o->sql) {
            rc = -EINVAL;
            break;
        }
        idx[i] = o->stmt ? find_stmt(db, o->stmt, o->nparams) : -1;
        if (o->stmt && idx[i] < 0)
            rc = idx[i];
        else
            rc = check_params(o->nparams, o->values, o->lengths, o->formats, &data[i]);
    }
    if (rc == 0 && queue_full(db, n))
        rc = -EAGAIN;
    if (rc == 0) {
        uint64_t g = ++db->next_group;
        for (size_t i = 0; i < n; i++) {
            const struct db_op *o = &ops[i];
            struct req *r = new_req(idx[i], o->stmt ? NULL : o->sql, o->nparams, o->values,
                                    o->lengths, o->formats, data[i], o->cb, o->ud);
            r->group = g;
            rl_push(&db->waiting, r);
        }
        schedule_flush(db);
    }
    free(data);
    free(idx);
    return rc;
}

void db_get_stats(const struct db *db, struct db_stats *out)
{
    *out = db->stats;
    out->waiting = db->waiting.n;
    out->inflight = db->ninflight;
}

bool db_is_up(const struct db *db)
{
    return db->state == D_UP;
}

const char *db_last_error(const struct db *db)
{
    return db->last_error;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct db *db = h->data;
    db->pending_closes--;
    maybe_finish_stop(db);
}

static void maybe_finish_stop(struct db *db)
{
    if (db->state != D_STOPPING || db->pending_closes > 0 || db->gai_pending || db->delivering)
        return;
    void (*done)(void *) = db->stop_done;
    void *ud = db->ud;
    for (size_t i = 0; i < db->nstmts; i++) {
        free(db->stmts[i].name);
        free(db->stmts[i].sql);
        free(db->stmts[i].error);
    }
    free(db->stmts);
    for (struct notice *x; (x = pop_notice(db));)
        notice_free(x);
    free_hosts(db);
    PQconninfoFree(db->opts);
    free(db->dsn);
    free(db->name);
    free(db);
    if (done)
        done(ud);
}

void db_start(struct db *db)
{
    if (db->state == D_IDLE)
        begin_attempt(db);
}

void db_stop(struct db *db, void (*done)(void *ud))
{
    if (db->state == D_STOPPING)
        return;
    bool was_up = db->state == D_UP;
    db->state = D_STOPPING;
    db->stop_done = done;
    close_conn(db);
    /* In flight first, then waiting: submission order, roughly. */
    for (struct seg *s = db->seg_head; s; s = s->next) {
        struct req *r;
        while ((r = rl_pop(&s->reqs))) {
            req_reset(r);
            finish(db, r, -ECANCELED, "", "the database connection was closed");
        }
    }
    free_segs(db);
    struct req *r;
    while ((r = rl_pop(&db->waiting)))
        finish(db, r, -ECANCELED, "", "the database connection was closed");
    if (db->gai_pending)
        (void)uv_cancel((uv_req_t *)&db->gai);
    uv_handle_t *hs[] = {
        (uv_handle_t *)&db->retry_timer, (uv_handle_t *)&db->deadline_timer,
        (uv_handle_t *)&db->flush_check, (uv_handle_t *)&db->kick,
    };
    for (size_t i = 0; i < ARRAY_SIZE(hs); i++) {
        hs[i]->data = db;
        db->pending_closes++;
        uv_close(hs[i], on_handle_closed);
    }
    if (was_up)
        log_info("%s: connection closed", db->name);
    deliver(db);
}
