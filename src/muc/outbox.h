/* outbox.h — confabd's compliance sender (I/O side of src/muc/compliance.c).
 *
 * Events are committed to the outbox table (compliance_outbox) with the change
 * they record. When the sender is caught up with the table the store hands it
 * each row right after its commit; otherwise it reads them back in id order on
 * the reader connection. It keeps a bounded number in memory, sends each as
 * <iq type='set'><event/></iq> to the archiver over the component link with a
 * bounded number in flight, and deletes a row once the archiver answered
 * `result` (which it sends only after its own commit). A `wait` error, any
 * error but `modify`, a timeout or a lost link sends every unanswered event
 * again, in order, after a capped backoff, with the same UUID (go-back-N: the
 * archiver stores each UUID once); after a failure only a few go out until a
 * `result` shows the archiver is back. A `modify` error (a malformed event) is
 * logged and the event parked: it stays in the table, and is not sent again
 * until the next start.
 *
 * Without a store (rooms in memory only) events come straight from the engine
 * and live in memory only.
 *
 * It also computes the [compliance] policy: health(ud, refuse) is called when
 * whether new messages must be refused changes. */
#ifndef CONFAB_MUC_OUTBOX_H
#define CONFAB_MUC_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "xml.h"

struct pg_store;
struct outbox;

struct outbox_cfg {
    const char *domain;        /* ours: the IQs' 'from' */
    const char *archiver;      /* the archiver's domain */
    bool strict;
    uint64_t max_backlog;
    uint64_t unreachable_ms;
};

struct outbox_io {
    /* One complete stanza to the router: 0, or < 0 (link down, congested). */
    int (*send_raw)(void *ud, const char *data, size_t len);
    /* The policy's verdict changed: refuse new messages or not. */
    void (*health)(void *ud, bool refuse);
    void *ud;
};

/* store NULL: events arrive through outbox_push and live in memory. */
struct outbox *outbox_new(uv_loop_t *loop, const struct outbox_cfg *cfg, struct pg_store *store,
                          const struct outbox_io *io);
/* The reloadable part of the configuration. */
void outbox_set_limits(struct outbox *o, uint64_t max_backlog, uint64_t unreachable_ms);
/* An event without a store (in-memory confabd). */
void outbox_push(struct outbox *o, const char *uuid, const char *xml, size_t len);
/* The router link went up or down. */
void outbox_link(struct outbox *o, bool up);
/* true when iq (a result or error to our domain) answered one of our events. */
bool outbox_answer(struct outbox *o, const struct xml_node *iq);
/* Release, before the store stops (callbacks the store still runs while it
 * stops find the outbox closing and do nothing). */
void outbox_free(struct outbox *o);
/* For metrics: events not yet acknowledged by the archiver (held in memory
 * plus committed rows not read back, an estimate), and the smoothed round
 * trip of acknowledged ones in ms (the archiver's lag behind us). */
uint64_t outbox_depth(const struct outbox *o);
int64_t outbox_rtt_ms(const struct outbox *o);

#endif
