/* ctl.h — confabctl: the administration CLI for the chat database.
 *
 * confabctl reads the daemons' INI file (role CFG_ROLE_CTL) and talks to
 * PostgreSQL only through db.c, like the daemons: one libuv loop, one db
 * connection, and "synchronous" queries made by running the loop until the
 * query's callback has fired (ctl_query). Nothing ever calls a blocking libpq
 * function.
 *
 * Files: main.c (arguments, config, dispatch), ctl_conn.c (the connection and
 * query helper), ctl_out.c (errors, aligned tables, JSON, argument parsing
 * shared by commands), one file per command family (ctl_db.c, ctl_rooms.c,
 * ctl_history.c), and the compliance officer's tools on the compliance
 * database ([archiver] dsn): ctl_compliance.c (dispatch, verify),
 * ctl_compliance_search.c, ctl_compliance_export.c, ctl_compliance_hold.c
 * (legal holds and retention purge); categories and groups (issue 16):
 * ctl_category.c (and rooms set-category), ctl_group.c, ctl_ldap.c (group sync),
 * ctl_principal.c, and ctl_tx.c, which makes each administrative change one
 * transaction with its compliance event and NOTIFYs.
 *
 * Every command returns an exit status (sysexits.h): 0 ok, 64 usage, 65 bad
 * input, 69 database unavailable, 78 configuration (or schema too new), 1 any
 * other failure. Whoever detects a failure prints its one line to stderr
 * (ctl_err) and returns the status; callers only pass it up. */
#ifndef CONFAB_CTL_H
#define CONFAB_CTL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <sysexits.h>
#include <uv.h>

#include "cfg.h"
#include "datetime.h"

#define CTL_FAIL 1

/* Rows deleted per statement by history purge and room destroy: small
 * transactions, so a purge never holds locks for long. */
#define CTL_BATCH 10000

struct db;

struct ctl {
    const struct cfg *cfg;
    bool json;              /* --json: machine-readable output on stdout */
    uv_loop_t loop;
    struct db *db;          /* NULL until ctl_connect, again after ctl_disconnect */
    bool lost;              /* the connection went down after it was up */
    bool stopped;           /* db_stop's done callback ran */
    const char *db_label;   /* "compliance database" in messages; NULL: the chat one */
};

/* ---- ctl_conn.c ---- */

/* Connect to [storage] dsn. Gives up (EX_UNAVAILABLE, one line on stderr)
 * after the first failed attempt or the connect timeout (the DSN's
 * connect_timeout, else 10 s). Returns 0 or an exit status. */
int ctl_connect(struct ctl *c);
/* The same for the compliance database: dsn, or [archiver] dsn when NULL. */
int ctl_connect_compliance(struct ctl *c, const char *dsn);
/* Close the connection (if any) and release the loop's handles. */
void ctl_disconnect(struct ctl *c);
/* Run one SQL command with text parameters (never data in the SQL) and wait
 * for it. On success *out (if not NULL) is a copy of the result; PQclear it.
 * On failure prints "confabctl: WHAT: reason" and returns an exit status. */
int ctl_query(struct ctl *c, const char *what, const char *sql, int n,
              const char *const *values, PGresult **out);
/* One run of migrate.c's migrations, as its callback reported it. */
struct migration;
struct ctl_migration {
    bool done;
    int err, from, to;
};
/* Apply list to dsn and wait for the end. migrate.c makes its own connection
 * and waits for the database forever, as a daemon should; ours is the
 * watchdog: when it is lost the run is cancelled (m->err -ECANCELED). */
void ctl_migrate(struct ctl *c, const char *dsn, const char *name,
                 const struct migration *list, size_t n, struct ctl_migration *m);
/* One statement of ctl_atomic: SQL with n text parameters (borrowed). */
struct ctl_stmt {
    const char *sql;
    int n;
    const char *const *values;
};
/* Run stmts[0..n) as one transaction (db_exec_atomic) and wait: all commit or
 * none do. On success out[i] (when out is not NULL) is statement i's result
 * (PQclear each); on failure prints "confabctl: WHAT: reason" and returns an
 * exit status. */
int ctl_atomic(struct ctl *c, const char *what, const struct ctl_stmt *stmts, size_t n,
               PGresult **out);
/* The chat schema version of the database (0 when there is none yet). */
int ctl_schema_version(struct ctl *c, int *version);
/* The schema version of the database c is connected to, refusing (EX_CONFIG)
 * one newer than the knows of this binary: the refusal names db ("chat",
 * "compliance") and ends with advice. */
int ctl_schema_known(struct ctl *c, const char *db, int knows, const char *advice, int *have);
/* Refuse to touch a database whose schema is not exactly this binary's. */
int ctl_require_schema(struct ctl *c);
/* The migrations compiled into this binary (schema_chat.c). */
int ctl_binary_version(void);

/* ---- ctl_out.c ---- */

void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: the message, a pointer to --help, EX_USAGE. */
int ctl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start getopt_long over a command's argv (argv[0] is the command's name),
 * silent: ctl_bad_option reports what it rejected, in our one line. */
void ctl_getopt_reset(void);
int ctl_bad_option(const char *family, char **argv);
/* The next option of a verb that takes only the options whose codes are in
 * allowed (--json, code 'J', is every verb's and handled here): its code, or
 * -1 at the end, or -1 with *rc set after a usage error. */
struct option;
int ctl_getopt_verb(struct ctl *c, const char *family, int argc, char **argv,
                    const struct option *longopts, const char *allowed, int *rc);
/* ctl_connect, then refuse a schema that is not this binary's. */
int ctl_open(struct ctl *c);

/* A table printed with aligned columns. Cells are copied; control characters
 * (room names come from XMPP users) are shown as '?'. */
struct ctl_table;
struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
void ctl_table_add(struct ctl_table *t, const char *const *cells);
void ctl_table_print(struct ctl_table *t);
void ctl_table_free(struct ctl_table *t);
/* "label: value" lines with the values aligned. */
void ctl_print_fields(size_t n, const char *const *labels, const char *const *values);

/* One CSV field on stdout (RFC 4180 quoting), then ',' or CRLF when last. */
void ctl_csv_field(const char *s, bool last);
/* rooms report (ctl_report.c). */
int ctl_rooms_report(struct ctl *c, int argc, char **argv);
/* Print v (stolen) as JSON on stdout. Returns 0 or CTL_FAIL. */
int ctl_print_json(json_t *v);

/* The room argument as a prepared bare JID (a bare node gets [component]
 * domain). Returns 0, or EX_DATAERR after printing why. */
int ctl_room_jid(const struct ctl *c, const char *arg, char **out);
/* A user or venue JID, prepared; bare only (no resource). */
int ctl_bare_jid(const char *what, const char *arg, char **out);
/* XEP-0082 DateTime or YYYY-MM-DD (midnight UTC) → ms. 0 or EX_DATAERR. */
int ctl_parse_date(const char *arg, int64_t *ms);

/* Column helpers for results. */
const char *ctl_col(const PGresult *r, int row, int col);   /* NULL when SQL NULL */
bool ctl_col_bool(const PGresult *r, int row, int col);
long long ctl_col_ll(const PGresult *r, int row, int col);
/* A column holding epoch milliseconds as XEP-0082 text into buf, or NULL
 * when the column is NULL. */
const char *ctl_col_time(const PGresult *r, int row, int col, char *buf, size_t len);

/* ---- commands ---- */

int ctl_db_main(struct ctl *c, int argc, char **argv);
int ctl_status_main(struct ctl *c, int argc, char **argv);
int ctl_messages_main(struct ctl *c, int argc, char **argv);
/* NOTIFY confab_control: {"op", "room", "venue", "reason", "actor"} to every
 * running confabd (ctl_status.c); venue and reason may be NULL. */
int ctl_notify(struct ctl *c, const char *op, const char *room, const char *venue,
               const char *reason);
/* The same notification's JSON text (malloc'd), for a statement of a bigger
 * transaction: CTL_NOTIFY_SQL with it as $1 is delivered at that commit. */
char *ctl_notify_payload(const char *op, const char *room, const char *venue,
                         const char *reason);
#define CTL_NOTIFY_SQL "SELECT pg_notify('confab_control', $1)"
int ctl_rooms_main(struct ctl *c, int argc, char **argv);
/* export and import (ctl_export.c, ctl_import.c; docs/export-format.md). */
int ctl_export_main(struct ctl *c, int argc, char **argv);
int ctl_import_main(struct ctl *c, int argc, char **argv);
/* Who runs confabctl, "confabctl (user@host)" (to free): the actor of notifications. */
char *ctl_actor(void);
/* policy show | set KEY VALUE | unset KEY (ctl_policy.c). */
int ctl_policy_main(struct ctl *c, int argc, char **argv);
int ctl_history_main(struct ctl *c, int argc, char **argv);
int ctl_compliance_main(struct ctl *c, int argc, char **argv);

/* ---- categories, groups, principals (issue 16) ---- */

/* ctl_tx.c: one change = its statements + its compliance event (to confabd's
 * outbox when [compliance] archiver is set) + NOTIFYs, in one transaction. */
struct ctl_tx;
struct xml_node;
/* officer: the operator's name for the event's actor nick (NULL: the login). */
struct ctl_tx *ctl_tx_new(struct ctl *c, const char *officer);
/* A statement of the change (at most 8 parameters, copied). */
void ctl_tx_add(struct ctl_tx *t, const char *sql, int n, const char *const *values);
size_t ctl_tx_count(const struct ctl_tx *t);
/* Start the change's event (type, room or NULL, reason or NULL); returns its
 * <detail/> for the caller to fill (owned by the tx). */
struct xml_node *ctl_tx_event(struct ctl_tx *t, const char *type, const char *room,
                              const char *reason);
/* A control-channel notification (op, name) sent at the commit. */
void ctl_tx_notify(struct ctl_tx *t, const char *op, const char *name);
/* Commit everything; out[i] (if out) gets the result of the i-th ctl_tx_add. */
int ctl_tx_run(struct ctl_tx *t, const char *what, PGresult **out);
void ctl_tx_free(struct ctl_tx *t);
/* The operator's login name (the default officer). */
const char *ctl_login_name(void);

/* ctl_principal.c */
#define CTL_GROUP_NAME_MAX 64
struct ctl_principal {
    const char *kind;   /* static: "jid", "domain", "group", "everyone" */
    char *name;         /* prepared JID or domain, group name; "" for everyone */
};
/* 0, or EX_DATAERR after saying what is wrong with arg. */
int ctl_principal_parse(const char *arg, struct ctl_principal *p);
void ctl_principal_clear(struct ctl_principal *p);
bool ctl_group_name_valid(const char *name);

int ctl_category_main(struct ctl *c, int argc, char **argv);
/* rooms set-category ROOM CATEGORY (ctl_category.c). */
int ctl_rooms_set_category(struct ctl *c, int argc, char **argv);
int ctl_group_main(struct ctl *c, int argc, char **argv);
/* ctl_ldap.c: the bare JIDs the group filter finds in [ldap] (blocking libldap:
 * a CLI may wait). *jids is an array, maybe with repeats (free each and it);
 * entries without a usable JID are counted in *skipped. 0 or an exit status
 * after one line on stderr. */
int ctl_ldap_members(const struct cfg *cfg, const char *filter, char ***jids, size_t *n,
                     size_t *skipped);

/* ---- compliance (ctl_compliance*.c) ---- */

/* Options every compliance command understands. */
struct ctl_compliance_opts {
    const char *dsn;                     /* --dsn, else [archiver] dsn */
    const char *user, *room, *from, *to, *words, *type, *format, *out, *slice, *reason,
        *before, *checkpoints, *pubkey;
    long long limit;                     /* search rows; 0: no limit */
    bool all;
    bool all_copies;                     /* search: every copy of a 1:1 message */
};
/* Connect to the compliance database and check its schema has what the
 * officer tools need (migrations 1..10). */
int ctl_compliance_open(struct ctl *c, const struct ctl_compliance_opts *o);
/* --from and --to as text PostgreSQL parses (XEP-0082, UTC): from and to
 * point into the buffers, or are NULL when not given. */
struct ctl_span {
    const char *from, *to;
    char fb[DATETIME_FMT_MAX], tb[DATETIME_FMT_MAX];
};
/* 0 or EX_DATAERR. */
int ctl_compliance_span(const struct ctl_compliance_opts *o, struct ctl_span *s);
int ctl_compliance_search(struct ctl *c, const struct ctl_compliance_opts *o);
int ctl_compliance_export(struct ctl *c, const struct ctl_compliance_opts *o);
int ctl_compliance_hold(struct ctl *c, const char *verb, const struct ctl_compliance_opts *o);
int ctl_compliance_purge(struct ctl *c, const struct ctl_compliance_opts *o);
/* ctl_compliance_checkpoint.c: keygen --out FILE (FILE and FILE.pub). */
int ctl_compliance_keygen(struct ctl *c, const struct ctl_compliance_opts *o);
/* ctl_compliance_migrate.c: the compliance schema, as its owner. */
int ctl_compliance_migrate(struct ctl *c, const struct ctl_compliance_opts *o);
/* Signed checkpoints of the chain head (checkpoint.h), every one verified. */
struct ctl_checkpoints {
    struct checkpoint *cps;
    size_t n;
    char key_id[17];
};
/* Read file and check every line's signature with pubkey: a line that is not
 * a checkpoint signed by that key is refused (CTL_FAIL, naming FILE:LINE). */
int ctl_checkpoints_load(const char *file, const char *pubkey, struct ctl_checkpoints *out);
void ctl_checkpoints_free(struct ctl_checkpoints *cps);
/* After a good chain walk of lo..hi over `rows` rows: compare the chain's
 * hashes with the signed ones and (open_end: up to the head) the head with the
 * newest signed seq; prints the verdict, which covers the walk's too. */
int ctl_checkpoints_check(struct ctl *c, const struct ctl_checkpoints *cps, int64_t lo,
                          int64_t hi, int64_t head, bool open_end, uint64_t rows);

/* The rooms.id of a room JID as text (*id owned by the caller). A missing
 * room is CTL_FAIL with "no such room" (or when and why it was destroyed). */
int ctl_room_id(struct ctl *c, const char *jid, char **id);

/* Delete a room's messages with ts < before_ms (INT64_MAX: all) in batches of
 * CTL_BATCH, each its own transaction; with [compliance] archiver set, each
 * batch also writes a `purge` event (why: its reason) to confabd's outbox.
 * *deleted gets the count. */
int ctl_purge_batches(struct ctl *c, const char *room_id, const char *room_jid,
                      int64_t before_ms, const char *why, long long *deleted);

#endif
