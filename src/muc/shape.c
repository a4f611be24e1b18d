/* shape.c — bursts wait instead of bouncing (flow.h).
 *
 * Each occupant has token buckets for messages and presence updates
 * ([muc] message_rate/burst, presence_rate/burst). A stanza that finds its
 * bucket empty waits in a small queue for its sender's session in that room
 * and is handled when a token comes, as ejabberd's shapers delay rather than
 * drop; only when that queue is full is it refused, with resource-constraint
 * of type wait and how long to wait. Everything else the session sends to the
 * room queues behind waiting stanzas, so the room sees its stanzas in order
 * (a leave never overtakes the messages before it). Moderators may be exempt
 * ([muc] rate_exempt_moderators). */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

struct shape_queue {
    char *key;                 /* room JID, '\n', sender's full JID */
    struct xml_node **items;   /* ring: items[(head + i) % cap] */
    size_t head, n, cap;
    bool stalled;              /* its head found no token this round */
    UT_hash_handle hh;
};

static char *queue_key(const struct room *room, const struct muc_session *s)
{
    return xasprintf("%s\n%s", room->jid, s->jid);
}

static struct shape_queue *queue_find(const struct muc *m, const char *key)
{
    struct shape_queue *q = NULL;
    HASH_FIND_STR(m->flow.queues, key, q);
    return q;
}

/* The sender's queue, its key built on the stack: a burst that waits
 * somewhere must not cost every other stanza an allocation. */
static struct shape_queue *queue_lookup(const struct muc *m, const struct room *room,
                                        const struct muc_session *s)
{
    char buf[512];
    size_t a = strlen(room->jid), b = strlen(s->jid);
    char *key = a + b + 2 <= sizeof buf ? buf : xmalloc(a + b + 2);
    memcpy(key, room->jid, a);
    key[a] = '\n';
    memcpy(key + a + 1, s->jid, b + 1);
    struct shape_queue *q = queue_find(m, key);
    if (key != buf)
        free(key);
    return q;
}

static void queue_push(struct muc *m, struct shape_queue *q, const struct xml_node *st)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 8;
        struct xml_node **items = xmalloc(cap * sizeof *items);
        for (size_t i = 0; i < q->n; i++)
            items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items;
        q->head = 0;
        q->cap = cap;
    }
    q->items[(q->head + q->n++) % q->cap] = xml_ref((struct xml_node *)st);
    m->flow.nqueued++;
}

static void queue_pop(struct muc *m, struct shape_queue *q)
{
    xml_unref(q->items[q->head]);
    q->head = (q->head + 1) % q->cap;
    q->n--;
    m->flow.nqueued--;
}

static void queue_free(struct muc *m, struct shape_queue *q)
{
    HASH_DEL(m->flow.queues, q);
    while (q->n)
        queue_pop(m, q);
    free(q->items);
    free(q->key);
    free(q);
}

static bool exempt(const struct muc_req *r, const struct room *room, const struct occupant *occ)
{
    const struct muc *m = r->muc;
    return m->lim.rate_exempt_moderators &&
           (occ->role == ROLE_MODERATOR || occupant_affiliation(room, occ) >= AFFIL_ADMIN ||
            muc_is_admin(m, occ->bare_jid));
}

/* Takes a token when the kind pays one; true when it may go now. */
static bool pay(const struct muc_req *r, struct occupant *occ, enum shape_kind kind)
{
    const struct muc_limits *l = &r->muc->lim;
    if (kind == SHAPE_MESSAGE)
        return occupant_rate_ok(&occ->msg_bucket, l->msg_rate, l->msg_burst, r->now);
    if (kind == SHAPE_PRESENCE)
        return occupant_rate_ok(&occ->pres_bucket, l->presence_rate, l->presence_burst, r->now);
    return true;
}

static unsigned capacity(const struct muc *m, enum shape_kind kind)
{
    return kind == SHAPE_PRESENCE ? m->lim.presence_queue : m->lim.msg_queue;
}

/* The queue is full: say how long until it has room, at the kind's rate. */
static void refuse(struct muc_req *r, enum shape_kind kind, size_t waiting)
{
    const struct muc_limits *l = &r->muc->lim;
    bool pres = kind == SHAPE_PRESENCE;
    unsigned rate = pres ? l->presence_rate : l->msg_rate;
    double secs = rate ? (double)(waiting + 1) / rate : 1.0;
    char *text = xasprintf("too many %s waiting to be sent; retry in %.0f s ([muc] %s)",
                           pres ? "presence updates" : "messages", secs < 1 ? 1 : secs,
                           pres ? "presence_queue" : "message_queue");
    muc_bounce_type(r, "resource-constraint", "wait", text);
    free(text);
}

/* A leave, an error or a nick change must not be refused: it only follows. */
static bool may_refuse(enum shape_kind kind)
{
    return kind != SHAPE_FOLLOW;
}

static bool enqueue(struct muc_req *r, struct room *room, struct muc_session *s,
                    struct shape_queue *q, enum shape_kind kind)
{
    struct muc *m = r->muc;
    size_t waiting = q ? q->n : 0;
    if (may_refuse(kind) && waiting >= capacity(m, kind)) {
        refuse(r, kind, waiting);
        return true;
    }
    if (!q) {
        q = xcalloc(1, sizeof *q);
        q->key = queue_key(room, s);
        HASH_ADD_KEYPTR(hh, m->flow.queues, q->key, strlen(q->key), q);
    }
    queue_push(m, q, r->st);
    return true;
}

bool shape_defer(struct muc_req *r, struct room *room, struct muc_session *s,
                 enum shape_kind kind)
{
    struct muc *m = r->muc;
    struct occupant *occ = s->occ;
    struct shape_queue *q = NULL;
    if (m->flow.queues) /* the common case, nothing waiting anywhere, costs no key */
        q = queue_lookup(m, room, s);
    if (q && q == m->flow.releasing && q->items[q->head] == r->st) {
        /* Its turn came round: it goes if it can pay, else stays first. */
        q->stalled = !exempt(r, room, occ) && !pay(r, occ, kind);
        return q->stalled;
    }
    if (q && q->n)
        return enqueue(r, room, s, q, kind);
    if (kind == SHAPE_FOLLOW || exempt(r, room, occ) || pay(r, occ, kind))
        return false;
    return enqueue(r, room, s, q, kind);
}

/* Each queue's head is handled again as if it had just arrived (the sender may
 * have left, the room may be gone: it gets what such a stanza gets). */
static void release_queue(struct muc *m, struct shape_queue *q)
{
    while (q->n) {
        struct xml_node *st = xml_ref(q->items[q->head]);
        m->flow.releasing = q;
        q->stalled = false;
        muc_handle(m, st);
        m->flow.releasing = NULL;
        bool stalled = q->stalled && q->n && q->items[q->head] == st;
        xml_unref(st);
        if (stalled)
            return;
        queue_pop(m, q);
    }
}

void muc_shape_release(struct muc *m)
{
    struct shape_queue *q, *tmp;
    HASH_ITER(hh, m->flow.queues, q, tmp) {
        release_queue(m, q);
        if (!q->n)
            queue_free(m, q);
    }
}

bool muc_shaping(const struct muc *m)
{
    return m->flow.queues != NULL;
}

void shape_free_all(struct muc *m)
{
    struct shape_queue *q, *tmp;
    HASH_ITER(hh, m->flow.queues, q, tmp)
        queue_free(m, q);
}
