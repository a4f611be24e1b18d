/* archiver.h — confab-archiver's service, free of I/O: what it answers at its
 * domain, and the compliance intake (docs/compliance-protocol.md).
 *
 * Events arrive as IQ sets (<event/> from confabd, <tap/> from a router tap)
 * or messages (<tap/>, or ejabberd mod_service_log's bare <forwarded/>). Each
 * valid event goes to the store; an IQ is answered `result` only when the
 * store reports the event committed (or already there: a duplicate UUID), and
 * <resource-constraint/> (type wait) when it cannot be recorded now, so the
 * sender retries. Malformed events get bad-request (modify) and one log line.
 * At most max_queue events are outstanding (accepted, not yet answered by the
 * store); beyond that the answer is wait/resource-constraint at once. */
#ifndef CONFAB_ARCHIVER_H
#define CONFAB_ARCHIVER_H

#include <stddef.h>

#include "event.h"
#include "service.h"

#define ARCHIVER_DEFAULT_MAX_QUEUE 100000

/* The store's verdict on one event:
 *   0         committed (or a duplicate of a committed event)
 *   -EAGAIN   not recorded now (database down, full, busy): the sender retries
 *   -EINVAL   the database refused the event's data: it never will accept it
 *   -ECANCELED the archiver is stopping: nobody is answered */
typedef void archiver_stored_fn(void *ud, int status);

struct archiver_store {
    /* Queue ev (borrowed for the call; the store copies what it needs).
     * Returns 0 and calls done(ud, status) exactly once later, never from
     * inside put; or a negative status at once (done is not called). */
    int (*put)(void *store, const struct cevent *ev, archiver_stored_fn *done, void *ud);
    void *store;
};

struct archiver;

struct archiver *archiver_new(const char *domain, service_send_fn *send, void *ud);
/* Outstanding events are forgotten (their store callbacks must have run). */
void archiver_free(struct archiver *a);
void archiver_handle(struct archiver *a, const struct xml_node *st);

/* Without a store every event is answered wait/resource-constraint. */
void archiver_set_store(struct archiver *a, const struct archiver_store *store);
/* 0 → ARCHIVER_DEFAULT_MAX_QUEUE. */
void archiver_set_max_queue(struct archiver *a, size_t max);
/* Who may send events: a comma/space separated list of domains; NULL or ""
 * accepts any bare domain JID (a server or a component, never a user). */
void archiver_set_senders(struct archiver *a, const char *domains);
/* What tap copies are recorded (tapclass.h): room_services lists confab's
 * room services (comma/space separated; their traffic is confabd's to
 * record), record_signals keeps bodiless chat states, receipts and markers.
 * Copies not recorded are still answered result. */
void archiver_set_tap_policy(struct archiver *a, const char *room_services, bool record_signals);
/* Events accepted and not yet answered by the store. */
size_t archiver_outstanding(const struct archiver *a);

/* Clock for events without a time (mod_service_log copies); tests set it. */
void archiver_set_clock(struct archiver *a, int64_t (*now_ms)(void));

#endif
