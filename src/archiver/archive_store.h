/* archive_store.h — the compliance database: the only file with archive SQL.
 *
 * The events that arrive in one loop turn (at most ARCHIVE_BATCH_MAX) go out
 * as one JSON array in one prepared statement, compliance_put_batch()
 * (schema/compliance/005_put_batch.sql): deduplicated on their UUIDs, their
 * hashes chained inside PostgreSQL under the chain_head row lock, inserted
 * with one INSERT. db.c groups the statements of a loop turn into one
 * transaction; an event's callback reports 0 only after that transaction
 * committed. A batch refused for its data (SQLSTATE class 22/23) is sent
 * again event by event, so only the bad event is refused. compliance_ensure_partitions() runs when the
 * store starts and every day. */
#ifndef CONFAB_ARCHIVE_STORE_H
#define CONFAB_ARCHIVE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "archiver.h"
#include "buf.h"
#include "migrate.h"

/* schema_compliance.c, generated from schema/compliance/ by embed-sql.sh. */
extern const struct migration compliance_migrations[];
extern const size_t compliance_migrations_count;

#define ARCHIVE_PARTITIONS_AHEAD 3

struct archive_store;

/* dsn is copied; max_queue bounds the statements waiting in db.c. Nothing
 * connects until archive_store_start (after the migrations). */
struct archive_store *archive_store_new(uv_loop_t *loop, const char *dsn, size_t max_queue);
/* Connect; create partitions now and every 24 h. */
void archive_store_start(struct archive_store *s);
/* The archiver's view of the store (puts answer -EAGAIN until it is up). */
struct archiver_store archive_store_ops(struct archive_store *s);
/* Append ev as one JSON object of compliance_put_batch()'s argument (keys are
 * the events columns; "rcpt" the recipients array; NULL strings as null).
 * Pure; exposed for tests/unit/test_archive_json.c. */
void archive_store_event_json(struct buf *b, const struct cevent *ev);
/* fn(ud, rows, first, last) after every commit that added rows to the chain:
 * how many, and the lowest and highest seq they got (signed checkpoints count
 * them, and notice seqs handed out twice: archive_checkpoint.h). */
typedef void archive_store_commit_fn(void *ud, uint64_t rows, int64_t first, int64_t last);
void archive_store_on_commit(struct archive_store *s, archive_store_commit_fn *fn, void *ud);
/* The highest chain seq this process has committed (0 before the first). */
int64_t archive_store_head_seq(const struct archive_store *s);
/* The chain head as committed now: done(ud, 0, seq, hash), or a negative
 * status (-ECANCELED when stopping) with seq 0. Returns 0, or -EAGAIN when the
 * query could not be queued (done is then not called). */
typedef void archive_store_head_fn(void *ud, int status, int64_t seq,
                                   const unsigned char *hash);
int archive_store_head(struct archive_store *s, archive_store_head_fn *done, void *ud);
/* Outstanding puts get -ECANCELED; done(ud) runs once everything is closed. */
void archive_store_stop(struct archive_store *s, void (*done)(void *ud), void *ud);

#endif
