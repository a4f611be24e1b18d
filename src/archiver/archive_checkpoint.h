/* archive_checkpoint.h — the archiver signs the chain head (checkpoint.h).
 *
 * After every `every` rows committed, and every `interval` while rows were
 * committed since the last checkpoint (and once at start-up), it reads the
 * chain head, signs (seq, hash, time) with the Ed25519 key of [archiver]
 * checkpoint_key and appends the line to [archiver] checkpoint_file (fsync'd)
 * and to the log (journald, where the daemon runs under systemd). The
 * operator ships either somewhere the database's owner cannot write; `confabctl
 * compliance verify --checkpoints FILE --pubkey PUB` checks the chain
 * against them. A head that moved back below the last signed seq is logged as
 * an error: rows were removed from the database. */
#ifndef CONFAB_ARCHIVE_CHECKPOINT_H
#define CONFAB_ARCHIVE_CHECKPOINT_H

#include <stdint.h>
#include <uv.h>

#include "archive_store.h"

struct archive_checkpoint_cfg {
    const char *key_path;
    const char *file;
    uint64_t every;           /* rows */
    uint64_t interval_ms;
};

struct archive_checkpoint;

/* Loads the key and opens the file for appending (at start-up, before the
 * loop runs, so synchronously). NULL with *err (malloc'd, naming the file)
 * when either fails. */
struct archive_checkpoint *archive_checkpoint_new(uv_loop_t *loop, struct archive_store *store,
                                                  const struct archive_checkpoint_cfg *cfg,
                                                  char **err);
/* The store is up (migrations done): sign the current head, start the timer. */
void archive_checkpoint_start(struct archive_checkpoint *c);
/* Call after the store stopped (its head queries have been answered):
 * finishes a write in progress, closes the file, frees c, then done(ud). */
void archive_checkpoint_stop(struct archive_checkpoint *c, void (*done)(void *ud), void *ud);

#endif
