/* flow.h — how much the engine takes in: the output it owes for stanzas it
 * already took (budget.c) and the per-sender queues that shape bursts
 * instead of refusing them (shape.c). Together they keep the promise that a
 * stanza once taken is never dropped (docs/architecture.md, "Backpressure"). */
#ifndef CONFAB_MUC_FLOW_H
#define CONFAB_MUC_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct muc;
struct muc_req;
struct muc_session;
struct room;
struct xml_node;
struct shape_queue;

struct muc_flow {
    size_t promised;               /* output bytes owed (budget.c) */
    struct shape_queue *queues;    /* by room and sender session (shape.c) */
    struct shape_queue *releasing; /* the queue whose head is being handled again */
    size_t nqueued;                /* stanzas waiting in all queues */
};

/* budget.c: the transport's input gate counts promised bytes as queued, so
 * the output a commit will release is paid for before the next stanza is
 * read. Every promise is kept (budget_kept) or withdrawn (budget_withdrawn,
 * which lets the gate re-check), exactly once. */
size_t budget_fanout(const struct room *room, size_t stanza_len);
size_t budget_stanza(const struct xml_node *st);
void budget_promise(struct muc *m, size_t bytes);
void budget_kept(struct muc *m, size_t bytes);
void budget_withdrawn(struct muc *m, size_t bytes);
size_t muc_pending_output(const struct muc *m);

/* shape.c: what a session sends to a room goes through here first. */
enum shape_kind {
    SHAPE_MESSAGE,  /* pays a token of the occupant's message bucket */
    SHAPE_PRESENCE, /* pays a token of its presence bucket */
    SHAPE_FOLLOW,   /* pays nothing, but keeps its place behind waiting stanzas */
};
/* true: the stanza waits in the sender's queue (or was refused because the
 * queue is full, with resource-constraint/wait saying when to retry): the
 * caller stops. false: handle it now. */
bool shape_defer(struct muc_req *r, struct room *room, struct muc_session *s,
                 enum shape_kind kind);
/* Handle waiting stanzas whose tokens have come; the daemon calls this on a
 * short timer while muc_shaping() and its output has room. */
void muc_shape_release(struct muc *m);
bool muc_shaping(const struct muc *m);
void shape_free_all(struct muc *m);

#endif
