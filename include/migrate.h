/* migrate.h — numbered schema migrations, applied asynchronously.
 *
 * Migrations are compiled into the binary (scripts/embed-sql.sh), so a daemon
 * knows exactly which schema versions it understands. migrate_run() opens its
 * own connection through db.c (never blocking the loop), reads schema_version,
 * refuses a database newer than it knows, and applies every pending migration
 * in one pipeline segment: one transaction, serialised against other daemons
 * by an advisory lock. Statements end with ';' at the end of a line and must
 * be idempotent (db.c may run them again after a lost connection). */
#ifndef CONFAB_MIGRATE_H
#define CONFAB_MIGRATE_H

#include <stddef.h>
#include <uv.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
};

/* err: 0; -EPROTO when the database's schema is newer than the newest known
 * version; -EIO when a migration failed; -ECANCELED after migrate_cancel. */
typedef void migrate_done_cb(void *ud, int err, int from_version, int to_version);

struct migrate;

/* list is sorted by version and outlives the run. name labels log lines. */
struct migrate *migrate_run(uv_loop_t *loop, const char *dsn, const char *name,
                            const struct migration *list, size_t n, migrate_done_cb *cb,
                            void *ud);
/* Stop waiting (e.g. on SIGTERM while the database is down); cb gets -ECANCELED. */
void migrate_cancel(struct migrate *mg);
/* Length of the first statement of a migration script, its ';' included: up
 * to the first ';' at the end of a line that is not inside a dollar-quoted
 * string ($$…$$, $tag$…$tag$), so DO blocks and function bodies may span
 * lines; the whole rest when there is none. */
size_t migrate_statement_len(const char *sql);
/* The newest version in list. */
int migrate_latest(const struct migration *list, size_t n);

#endif
