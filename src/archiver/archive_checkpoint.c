/* Signed checkpoints of the chain head (archive_checkpoint.h). */
#include "compat.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_checkpoint.h"
#include "checkpoint.h"
#include "datetime.h"
#include "log.h"
#include "mem.h"

struct archive_checkpoint {
    uv_loop_t *loop;
    struct archive_store *store;
    EVP_PKEY *key;
    char *path;
    uv_file fd;
    uint64_t every;
    uint64_t interval_ms;
    uv_timer_t timer;
    uint64_t pending;         /* rows committed since the last head read */
    int64_t signed_seq;       /* newest seq signed since start-up (0 = none) */
    int64_t known_seq;        /* highest seq committed or signed since start-up */
    unsigned char signed_hash[HASHCHAIN_LEN];
    bool busy;                /* a head read, write or fsync in flight */
    bool again;               /* another checkpoint became due meanwhile */
    bool stopping;
    uv_fs_t req;
    char line[CHECKPOINT_LINE_MAX + 1];
    uv_buf_t buf;
    int closing;
    void (*stop_done)(void *ud);
    void *stop_ud;
};

static void take(struct archive_checkpoint *c);

struct archive_checkpoint *archive_checkpoint_new(uv_loop_t *loop, struct archive_store *store,
                                                  const struct archive_checkpoint_cfg *cfg,
                                                  char **err)
{
    char why[512];
    EVP_PKEY *key = NULL;
    if (checkpoint_key_load(cfg->key_path, &key, why, sizeof why) < 0) {
        *err = xasprintf("[archiver] checkpoint_key %s", why);
        return NULL;
    }
    /* O_APPEND: every line lands at the end, whoever else appends (a log
     * shipper's marker, a second archiver on the same file). */
    int fd = open(cfg->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        *err = xasprintf("[archiver] checkpoint_file %s: %s", cfg->file, strerror(errno));
        EVP_PKEY_free(key);
        return NULL;
    }
    struct archive_checkpoint *c = xcalloc(1, sizeof *c);
    *c = (struct archive_checkpoint){ .loop = loop, .store = store, .key = key,
                                      .path = xstrdup(cfg->file), .fd = fd,
                                      .every = cfg->every, .interval_ms = cfg->interval_ms };
    uv_timer_init(loop, &c->timer);
    char id[CHECKPOINT_KEYID_HEX + 1];
    checkpoint_key_id(key, id);
    log_info("compliance: signing checkpoints with key %s into %s (every %" PRIu64 " events, "
             "every %" PRIu64 " ms)", id, c->path, c->every, c->interval_ms);
    return c;
}

/* Seqs only grow for one writer, whatever other writers do (each batch
 * numbers from the head under its row lock): a seq at or below one we were
 * given or signed before means the head was moved back and rows removed. */
static void on_committed(void *ud, uint64_t rows, int64_t first, int64_t last)
{
    struct archive_checkpoint *c = ud;
    if (first <= c->known_seq)
        log_error("compliance: the chain head moved back: seq %" PRId64 " was handed out "
                  "again (this archiver had committed or signed up to seq %" PRId64 "): rows "
                  "were removed from the compliance database", first, c->known_seq);
    if (last > c->known_seq)
        c->known_seq = last;
    c->pending += rows;
    if (c->pending >= c->every)
        take(c);
}

static void on_timer(uv_timer_t *t)
{
    struct archive_checkpoint *c = container_of(t, struct archive_checkpoint, timer);
    if (c->pending)
        take(c);
}

void archive_checkpoint_start(struct archive_checkpoint *c)
{
    archive_store_on_commit(c->store, on_committed, c);
    uv_timer_start(&c->timer, on_timer, c->interval_ms, c->interval_ms);
    /* A fresh anchor after every start, even if nothing arrives. */
    take(c);
}

static void done_one(struct archive_checkpoint *c)
{
    c->busy = false;
    if (c->stopping) {
        archive_checkpoint_stop(c, c->stop_done, c->stop_ud);
        return;
    }
    if (c->again) {
        c->again = false;
        take(c);
    }
}

static void on_synced(uv_fs_t *req)
{
    struct archive_checkpoint *c = container_of(req, struct archive_checkpoint, req);
    if (req->result < 0)
        log_error("compliance: checkpoint file %s: fsync failed: %s", c->path,
                  uv_strerror((int)req->result));
    uv_fs_req_cleanup(req);
    done_one(c);
}

static void on_written(uv_fs_t *req)
{
    struct archive_checkpoint *c = container_of(req, struct archive_checkpoint, req);
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    if (n != (ssize_t)c->buf.len) {
        log_error("compliance: checkpoint file %s: write failed: %s (the checkpoint is in "
                  "the log)", c->path, n < 0 ? uv_strerror((int)n) : "short write");
        done_one(c);
        return;
    }
    /* One fsync per checkpoint (once a minute, or per `every` events) on
     * libuv's thread pool: a checkpoint the operator relies on must survive a
     * crash, and the loop never waits for the disk. */
    if (uv_fs_fsync(c->loop, &c->req, c->fd, on_synced) < 0)
        done_one(c);
}

/* Sign the head the store read and append it (asynchronously: uv_fs_write
 * and uv_fs_fsync run on libuv's thread pool, never on the loop). */
static void write_checkpoint(struct archive_checkpoint *c, int64_t seq,
                             const unsigned char *hash)
{
    struct checkpoint cp = { .seq = seq, .time_ms = datetime_now_ms() };
    memcpy(cp.hash, hash, HASHCHAIN_LEN);
    if (checkpoint_sign(c->key, &cp) < 0) {
        log_error("compliance: signing a checkpoint failed");
        done_one(c);
        return;
    }
    checkpoint_format(&cp, c->line);
    log_info("compliance checkpoint: %s", c->line);
    c->signed_seq = seq;
    if (seq > c->known_seq)
        c->known_seq = seq;
    memcpy(c->signed_hash, hash, HASHCHAIN_LEN);
    size_t len = strlen(c->line);
    c->line[len++] = '\n';
    c->buf = uv_buf_init(c->line, (unsigned)len);
    if (uv_fs_write(c->loop, &c->req, c->fd, &c->buf, 1, -1, on_written) < 0)
        done_one(c);
}

static void on_head(void *ud, int status, int64_t seq, const unsigned char *hash)
{
    struct archive_checkpoint *c = ud;
    if (status < 0 || c->stopping) {
        done_one(c);
        return;
    }
    bool same = seq == c->signed_seq && memcmp(hash, c->signed_hash, HASHCHAIN_LEN) == 0;
    if (seq < c->signed_seq)
        /* Only the database's owner can do this: the archiver never moves
         * the head back. The new head is signed anyway: verify reports the
         * cut against the earlier checkpoint, and this one anchors what
         * follows. */
        log_error("compliance: the chain head moved back from seq %" PRId64 " (signed) to %"
                  PRId64 ": rows were removed from the compliance database", c->signed_seq,
                  seq);
    if (same || seq < 1) {
        done_one(c); /* nothing new (duplicates only), or an empty chain */
        return;
    }
    write_checkpoint(c, seq, hash);
}

static void take(struct archive_checkpoint *c)
{
    if (c->stopping)
        return;
    if (c->busy) {
        c->again = true;
        return;
    }
    c->busy = true;
    c->pending = 0;
    if (archive_store_head(c->store, on_head, c) < 0) {
        c->busy = false;
        log_warn("compliance: checkpoint postponed: the database queue is full");
    }
}

static void closed_one(struct archive_checkpoint *c)
{
    if (--c->closing > 0)
        return;
    void (*done)(void *) = c->stop_done;
    void *ud = c->stop_ud;
    EVP_PKEY_free(c->key);
    free(c->path);
    free(c);
    if (done)
        done(ud);
}

static void on_timer_closed(uv_handle_t *h)
{
    closed_one(container_of((uv_timer_t *)h, struct archive_checkpoint, timer));
}

static void on_file_closed(uv_fs_t *req)
{
    struct archive_checkpoint *c = container_of(req, struct archive_checkpoint, req);
    uv_fs_req_cleanup(req);
    closed_one(c);
}

void archive_checkpoint_stop(struct archive_checkpoint *c, void (*done)(void *ud), void *ud)
{
    bool first = !c->stopping;
    c->stopping = true;
    c->stop_done = done;
    c->stop_ud = ud;
    if (first)
        uv_timer_stop(&c->timer);
    /* A write in flight finishes first (done_one comes back here). */
    if (c->busy || c->closing)
        return;
    c->closing = 2;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    if (uv_fs_close(c->loop, &c->req, c->fd, on_file_closed) < 0)
        closed_one(c);
}
