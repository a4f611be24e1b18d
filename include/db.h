/* db.h — one asynchronous PostgreSQL connection driven by the libuv loop.
 *
 * Nothing here ever blocks the loop. The connection is made with
 * PQconnectStartParams/PQconnectPoll on a uv_poll_t (host names in the DSN are
 * resolved first with uv_getaddrinfo and handed to libpq as 'hostaddr', so libpq
 * never calls the blocking getaddrinfo; TLS, including sslmode=verify-full,
 * happens inside PQconnectPoll), under our own connect deadline (libpq ignores
 * connect_timeout in this mode). Once connected the connection runs in libpq
 * pipeline mode, non-blocking, with every statement of db_new's table prepared.
 *
 * Group commit. Every db_exec made during one loop turn goes out in one pipeline
 * segment closed by one PQpipelineSync. A segment is one implicit transaction:
 * all its statements commit, or none do. Callbacks for a segment's statements
 * run only after its sync point came back (after COMMIT), in submission order,
 * so a callback with status 0 may acknowledge "durable". At most
 * cfg.max_inflight segments of at most cfg.max_segment statements are in flight;
 * what arrives meanwhile waits and goes out together in the next segment.
 *
 * db_exec_atomic queues several statements as one unit that commits or fails
 * as a whole, when they must commit together.
 *
 * Failures.
 *  - A statement that fails gets its error (status < 0, sqlstate, message). Its
 *    segment was rolled back, so the other statements of that segment are sent
 *    again, automatically, in a new segment: one bad statement does not fail its
 *    neighbours. Retried statements may run after statements submitted later.
 *  - SQLSTATE 40001/40P01 (serialization failure, deadlock) are retried, up to
 *    cfg.max_attempts runs, then reported.
 *  - SQLSTATE class 53 (insufficient resources, e.g. 53100 disk full) fails the
 *    request with -ENOSPC; the connection stays.
 *  - Connection loss (socket error, EOF, class 08, 57P01/57P02/57P03): logged
 *    once with the reason, the connection is closed and re-made after a capped,
 *    jittered exponential backoff. Every statement that was sent but whose
 *    segment's sync had not come back is sent again after the reconnect, in
 *    order, ahead of requests that were waiting. Its first run may or may not
 *    have committed, so
 *
 *        EVERY STATEMENT RUN THROUGH db.c MUST BE IDEMPOTENT
 *
 *    e.g. INSERT … ON CONFLICT (unique key) DO NOTHING, UPDATE … SET x = $value,
 *    DELETE … WHERE key = $1. That is what gives "nothing lost, nothing
 *    duplicated" across database restarts. A statement caught in
 *    cfg.max_attempts connection losses fails with -ECONNRESET (outcome
 *    unknown); this keeps a statement that kills its backend from looping
 *    forever.
 *  - Requests made while the database is down wait, up to cfg.max_queue
 *    outstanding requests; beyond that db_exec returns -EAGAIN at once.
 *  - There is no per-request timeout: a server that vanishes without a reset
 *    (host down, partition) is noticed by TCP. Put keepalives_idle=30
 *    keepalives_interval=10 keepalives_count=3 tcp_user_timeout=30000 in the
 *    DSN where that matters (libpq's defaults leave it to the kernel: hours).
 *
 * Statements must not contain BEGIN/COMMIT/ROLLBACK, COPY or several commands
 * (pipeline mode forbids the last two; the first would break group commit).
 * db.c logs connection events; it does not log individual statement failures
 * (debug level only): the caller gets them and decides.
 *
 * Blocking. libpq resolves names itself with a blocking getaddrinfo unless it
 * gets 'hostaddr'; db.c therefore resolves every host name of the DSN (or of
 * PGHOST) on the thread pool first and passes one host/hostaddr pair per
 * address, so libpq still tries each address in turn and still checks TLS
 * certificates against the name. Still outside db.c's control: a 'service'
 * entry (pg_service.conf) that names a host, and GSSAPI (gssencmode=prefer
 * with a Kerberos credential cache present can talk to a KDC); use
 * gssencmode=disable in the DSN where that matters.
 *
 * Threading: single-threaded. Every function must be called on the loop thread;
 * every callback runs on it. Nothing is locked.
 *
 * Ownership: db_new copies the configuration, the DSN and the statement table.
 * db_exec copies the parameters; the caller's arrays are borrowed for the call
 * only. The PGresult a callback sees belongs to db.c and is freed when the
 * callback returns (copy what you need). The db itself belongs to its creator
 * and is released only through db_stop. */
#ifndef CONFAB_DB_H
#define CONFAB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <uv.h>

struct db_cfg {
    /* libpq conninfo string or URI. Never logged (it may hold a password). */
    const char *dsn;
    /* Short name for log lines ("chat", "compliance"); NULL → "db". */
    const char *name;
    /* 0 → the DSN's connect_timeout if it has one, else 10 s. Covers name
     * resolution, TCP, TLS, authentication and preparing the statements. */
    uint64_t connect_timeout_ms;
    /* Backoff between attempts: starts at min, doubles up to max, equal jitter.
     * 0 → 250 ms and 30 s. */
    uint64_t reconnect_min_ms;
    uint64_t reconnect_max_ms;
    /* Requests accepted and not yet called back (waiting + in flight); db_exec
     * beyond it returns -EAGAIN. 0 → 100000. */
    size_t max_queue;
    /* Statements per pipeline segment (one transaction, one sync). 0 → 1000. */
    size_t max_segment;
    /* Segments sent and not yet synced. 0 → 4. */
    size_t max_inflight;
    /* Runs of one statement before a serialization failure, deadlock or
     * connection loss is reported instead of retried. 0 → 10. */
    unsigned max_attempts;
};

/* A statement prepared on every (re)connect. A statement whose PREPARE fails
 * (e.g. the table does not exist yet) is logged; requests for it fail with that
 * error until a later connection prepares it successfully. */
struct db_stmt {
    const char *name;
    const char *sql;
    int nparams;
};

struct db_result {
    /* 0 ok; < 0 failed:
     *   -EIO          the statement failed (see sqlstate, message), or its
     *                 PREPARE failed, or retries of 40001/40P01 ran out
     *   -ENOSPC       SQLSTATE class 53 (disk full, out of memory, …)
     *   -ECONNRESET   the connection was lost max_attempts times while the
     *                 statement was in flight; it may or may not have committed
     *   -ECANCELED    db_stop was called before the outcome was known; it may or
     *                 may not have committed
     *   -EPROTO       the server sent a result db.c does not handle (COPY, …) */
    int status;
    /* On success: PGRES_TUPLES_OK or PGRES_COMMAND_OK result, borrowed for the
     * callback. NULL on failure. */
    const PGresult *res;
    /* SQLSTATE of the failure ("" when none, e.g. -ECANCELED), always
     * NUL-terminated. */
    char sqlstate[6];
    /* One-line description of the failure, NULL on success. Borrowed. */
    const char *message;
};

/* Runs once per db_exec, on the loop thread. May call db_exec and db_stop; must
 * not do anything else to the db (db_stop is the only way to release it). */
typedef void db_result_cb(void *ud, const struct db_result *r);

/* Called with true when the connection is ready for statements, false when a
 * ready connection is lost (not on db_stop). May call db_exec and db_stop. */
typedef void db_state_cb(void *ud, bool up);
/* A NOTIFY on a channel this connection LISTENs to (db_exec_sql "LISTEN …"
 * after each on_state up: a new connection listens to nothing). */
typedef void db_notify_cb(void *ud, const char *channel, const char *payload);

enum db_errclass {
    DB_ERRCLASS_FAIL = 0,    /* fail the request, keep the connection */
    DB_ERRCLASS_CONNECTION,  /* 08xxx (but 08P01), 57P01/57P02/57P03: reconnect */
    DB_ERRCLASS_RETRY,       /* 40001, 40P01: run the statement again */
    DB_ERRCLASS_RESOURCES,   /* 53xxx: fail the request (-ENOSPC), keep the connection */
};

/* Classify a SQLSTATE (NULL or "" → DB_ERRCLASS_FAIL). Pure. */
enum db_errclass db_classify(const char *sqlstate);

struct db_stats {
    uint64_t segments;        /* request segments sent (one PQpipelineSync each) */
    uint64_t statements;      /* statements sent, counting resends */
    uint64_t ok;              /* callbacks with status 0 */
    uint64_t failed;          /* callbacks with status < 0 */
    uint64_t retried;         /* statements queued again: rolled-back neighbours,
                                 40001/40P01, connection loss */
    uint64_t connects;        /* connections that became ready */
    uint64_t connect_failures;/* attempts that failed before becoming ready */
    uint64_t losses;          /* ready connections lost */
    size_t waiting;           /* requests not yet sent */
    size_t inflight;          /* requests sent, sync not yet back */
};

struct db;

/* Create a db; nothing happens until db_start. cfg, the DSN and the n statement
 * descriptions are copied. on_state may be NULL. Returns NULL (after logging
 * why) when the DSN does not parse or a statement description is invalid; the
 * returned db is released with db_stop. */
struct db *db_new(uv_loop_t *loop, const struct db_cfg *cfg, const struct db_stmt *stmts,
                  size_t n, db_state_cb *on_state, void *ud);

/* Begin connecting (and keep reconnecting until db_stop). */
void db_start(struct db *db);

/* Queue one run of prepared statement `stmt` with nparams parameters.
 * values[i] NULL is SQL NULL. formats NULL means all text; formats[i] 1 means
 * binary, with its length in lengths[i] (lengths may be NULL when every
 * parameter is text). The parameters are copied. cb (may be NULL) runs exactly
 * once, later — never inside db_exec.
 * Returns 0, -EAGAIN (max_queue outstanding; nothing queued), -ENOENT (no
 * statement of that name), -EINVAL (nparams differs from the statement's),
 * -ECANCELED (db_stop was called). */
int db_exec(struct db *db, const char *stmt, int nparams, const char *const *values,
            const int *lengths, const int *formats, db_result_cb *cb, void *ud);

/* Like db_exec for one SQL command that is not in the prepared table (sent
 * with PQsendQueryParams, parsed each time). Parameters only, never SQL built
 * from data. Returns 0, -EAGAIN, -EINVAL (sql NULL or nparams < 0),
 * -ECANCELED. */
int db_exec_sql(struct db *db, const char *sql, int nparams, const char *const *values,
                const int *lengths, const int *formats, db_result_cb *cb, void *ud);

/* One statement of a db_exec_atomic transaction: exactly one of stmt (a
 * prepared statement's name) and sql (one command, sent unprepared) is set;
 * the rest as for db_exec. */
struct db_op {
    const char *stmt;
    const char *sql;
    int nparams;
    const char *const *values;
    const int *lengths;
    const int *formats;
    db_result_cb *cb;
    void *ud;
};

/* Queue ops[0..n) as ONE unit: they always go out together in one pipeline
 * segment (never split, even beyond max_segment), so they commit together or
 * not at all. Group commit still applies: the segment may hold other requests
 * too; if one of those fails, this unit is sent again, whole, like any
 * neighbour. On commit each op's callback gets its own result, in order. If a
 * statement of the unit fails, every op's callback gets that statement's
 * status, sqlstate and message — nothing of the unit committed. 40001/40P01
 * and connection loss send the whole unit again, within the same max_attempts
 * bound as db_exec. Use it for a change plus its outbox row, a migration, a
 * delete plus its tombstone.
 * Returns 0, or without queueing anything: -EINVAL (n == 0, an op with both or
 * neither of stmt and sql, bad parameters), -ENOENT, -EAGAIN (the n requests
 * would exceed max_queue), -ECANCELED. */
int db_exec_atomic(struct db *db, const struct db_op *ops, size_t n);

bool db_is_up(const struct db *db);
void db_get_stats(const struct db *db, struct db_stats *out);
/* Notifications to cb from deliver(), in arrival order (cb NULL: ignored). */
void db_set_notify(struct db *db, db_notify_cb *cb, void *ud);
/* Reason of the last failed connection attempt or loss ("" if none). Borrowed
 * until the next call into db. */
const char *db_last_error(const struct db *db);

/* Close and release the db. Every outstanding request (waiting or in flight)
 * gets its callback with -ECANCELED (in-flight ones may or may not have
 * committed; results that had already arrived are still reported as they
 * were): before db_stop returns, or, when db_stop is called from a db
 * callback, right after that callback returns. No on_state call follows.
 * done(ud) (may be NULL) runs later from the loop, once every handle has closed
 * and any name lookup has returned; db is freed by then. A second call is
 * ignored. */
void db_stop(struct db *db, void (*done)(void *ud));

#endif
