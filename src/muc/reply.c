/* reply.c — the MUC engine's output (reply.h): stanzas to the router through
 * struct muc_io, RFC 6120 §8.3 / XEP-0045 error replies from the room, and IQ
 * results held back until the store has committed what they confirm. */
#include "compat.h"

#include <stdlib.h>

#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

/* ---- to the router ---- */

void muc_send(struct muc *m, const struct xml_node *st)
{
    m->io.send(m->io.ud, st);
}

void muc_send_each(struct muc *m, const struct xml_node *st, const char *const *to, size_t n)
{
    m->io.send_each(m->io.ud, st, to, n);
}

void muc_send_raw(struct muc *m, const char *data, size_t len)
{
    m->io.send_raw(m->io.ud, data, len);
}

/* ---- errors ---- */

/* Errors come from the address the client used (the room or room/nick it
 * wrote to), name the room in 'by' (RFC 6120 §8.3.2), and a refused join
 * carries the MUC <x/> back (§7.2.x examples): clients such as profanity match
 * the error to their pending join by it. */
struct xml_node *muc_error(const struct muc_req *r, const char *condition, const char *type,
                           const char *text)
{
    struct xml_node *e = stanza_error_reply(r->st, condition, text);
    struct xml_node *err = stanza_child(e, "error");
    if (type)
        xml_set_attr(err, "type", type);
    if (r->to && r->to->node) {
        char *room = jid_format(r->to, true);
        xml_set_attr(err, "by", room);
        free(room);
    }
    if (stanza_kind(r->st) == STANZA_PRESENCE && xml_child(r->st, "x", NS_MUC)) {
        /* Before the <error/>, as in the XEP's examples. */
        xml_ref(err);
        xml_remove(e, err);
        xml_add(e, "x", NS_MUC);
        xml_append(e, err);
    }
    return e;
}

void muc_bounce_type(struct muc_req *r, const char *condition, const char *type,
                     const char *text)
{
    if (stanza_is_error(r->st) || !stanza_from(r->st))
        return;
    struct xml_node *e = muc_error(r, condition, type, text);
    muc_send(r->muc, e);
    xml_unref(e);
}

void muc_bounce(struct muc_req *r, const char *condition, const char *text)
{
    muc_bounce_type(r, condition, NULL, text);
}

/* ---- results once durable ---- */

struct pending_result {
    struct muc *m;
    struct xml_node *iq;
    struct xml_node *reply;    /* the result to send; NULL: an empty one */
    char *room_jid;            /* NULL: no notice follows */
    int codes[8];
};

static void on_durable(void *ud, int err)
{
    struct pending_result *p = ud;
    struct xml_node *res = err < 0   ? stanza_error_reply(p->iq, "resource-constraint",
                                                          "the change could not be stored")
                           : p->reply ? xml_ref(p->reply)
                                      : stanza_iq_result(p->iq);
    muc_send(p->m, res);
    xml_unref(res);
    xml_unref(p->reply);
    struct room *room = p->room_jid && err == 0 ? room_find(p->m, p->room_jid) : NULL;
    if (room)
        message_room_notice(p->m, room, p->codes);
    free(p->room_jid);
    xml_unref(p->iq);
    free(p);
}

static struct pending_result *pending_new(struct muc *m, const struct xml_node *iq)
{
    struct pending_result *p = xcalloc(1, sizeof *p);
    p->m = m;
    p->iq = xml_ref((struct xml_node *)iq);
    return p;
}

/* The barrier answers once everything queued before it is committed. */
static void when_durable(struct pending_result *p)
{
    const struct muc_store *st = p->m->store;
    if (st && st->barrier)
        st->barrier(st->st, on_durable, p);
    else
        on_durable(p, 0);
}

void muc_result_after_commit(struct muc *m, const struct xml_node *iq)
{
    muc_result_then_notice(m, iq, NULL, NULL);
}

void muc_result_after_commit_with(struct muc *m, const struct xml_node *iq,
                                  struct xml_node *reply)
{
    struct pending_result *p = pending_new(m, iq);
    p->reply = xml_ref(reply);
    when_durable(p);
}

void muc_result_then_notice(struct muc *m, const struct xml_node *iq, const struct room *room,
                            const int *codes)
{
    struct pending_result *p = pending_new(m, iq);
    size_t n = 0;
    for (const int *c = codes; c && *c && n + 1 < ARRAY_SIZE(p->codes); c++)
        p->codes[n++] = *c;
    if (n)
        p->room_jid = xstrdup(room->jid);
    when_durable(p);
}
