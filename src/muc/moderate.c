/* moderate.c — taking a message down: XEP-0425 moderation by a moderator
 * (urn:xmpp:message-moderate:1, and :0 inside XEP-0422 <apply-to/>, which
 * clients still send) and XEP-0424 retraction of one's own message.
 *
 * The message becomes a tombstone where it is kept: the history ring (join
 * history) and the store (MAM serves the tombstone, as clients expect), in one
 * transaction with a `moderate` compliance event that names who, when, why and
 * the SHA-256 of the text replaced. The compliance archive keeps the original
 * as its `groupchat` event. A moderator's retraction is announced to the room
 * in both namespaces, as Prosody's mod_muc_moderation does. */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "compliance.h"
#include "datetime.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "retract.h"
#include "stanza.h"
#include "stanzaid.h"
#include "xstream.h"

#define NS_FASTEN "urn:xmpp:fasten:0"

/* One take-down from request to tombstone; it may wait for the store. */
struct takedown {
    struct muc *m;
    char *room_jid;
    struct xml_node *req;   /* the moderation IQ, or the sender's retraction message */
    char sid[33];           /* the target's stanza-id */
    uint64_t seq;
    bool self;              /* XEP-0424: only its author may, and nobody is told */
    char *actor_jid;        /* real full JID */
    char *actor_nick;
    char *actor_oid;        /* occupant-id: the moderator's, or the author's to match */
    char *reason;
};

static void takedown_free(struct takedown *t)
{
    xml_unref(t->req);
    FREE_ALL(t->room_jid, t->actor_jid, t->actor_nick, t->actor_oid, t->reason, t);
}

static const char *occupant_id_of(const struct xml_node *msg)
{
    const struct xml_node *o = xml_child(msg, "occupant-id", NS_OCCUPANT_ID);
    return o ? xml_attr(o, "id") : NULL;
}

static void refuse(struct takedown *t, const char *condition, const char *text)
{
    if (!t->self) {
        struct xml_node *e = stanza_error_reply(t->req, condition, text);
        muc_send(t->m, e);
        xml_unref(e);
    }
    takedown_free(t);
}

/* The original's envelope (from, id, type, occupant-id, stanza-id) around
 * <retracted/> in both namespaces (XEP-0425 §4, XEP-0424 §5). */
static struct xml_node *tombstone(const struct takedown *t, const struct xml_node *orig,
                                  const char *by, int64_t now)
{
    struct xml_node *ts = xml_new("message", orig->ns);
    for (size_t i = 0; i < orig->nattrs; i++)
        if (strcmp(orig->attrs[i].name, "to") != 0)
            xml_set_attr(ts, orig->attrs[i].name, orig->attrs[i].value);
    for (const struct xml_node *c = xml_first(orig); c; c = xml_next(c))
        if (c->ns && (strcmp(c->ns, NS_OCCUPANT_ID) == 0 || strcmp(c->ns, NS_SID) == 0))
            xml_append(ts, xml_copy(c));
    retract_add(ts, &(struct retraction){ .self = t->self, .by = by, .actor_oid = t->actor_oid,
                                          .reason = t->reason, .now = now });
    return ts;
}

/* What the room's occupants get from a moderator (XEP-0425 §3.1; the :0 form
 * for clients that know only that one). */
static void announce(struct takedown *t, struct room *room, const char *by)
{
    struct xml_node *msg = stanza_new("message", room->jid, NULL, "groupchat", NULL);
    struct xml_node *rt = xml_add(msg, "retract", NS_RETRACT);
    xml_set_attr(rt, "id", t->sid);
    retract_add_moderated(rt, NS_MODERATE, &(struct retraction){ .by = by,
                                                                 .actor_oid = t->actor_oid });
    if (t->reason)
        xml_add_text_child(rt, "reason", NS_RETRACT, t->reason);
    struct xml_node *at = xml_add(msg, "apply-to", NS_FASTEN);
    xml_set_attr(at, "id", t->sid);
    struct xml_node *md = xml_add(at, "moderated", NS_MODERATE0);
    xml_set_attr(md, "by", by);
    xml_add(md, "retract", NS_RETRACT0);
    if (t->reason)
        xml_add_text_child(md, "reason", NS_MODERATE0, t->reason);
    size_t n;
    const char *const *to = room_recipients(room, &n);
    muc_send_each(t->m, msg, to, n);
    xml_unref(msg);
}

/* The original is known: replace it everywhere it is kept. */
static void apply(struct takedown *t, struct room *room, const char *xml, size_t len)
{
    struct muc *m = t->m;
    struct xml_node *orig = xstream_parse_stanza(NS_COMPONENT, xml, len);
    if (!orig || xml_child(orig, "retracted", NS_RETRACT)) {
        xml_unref(orig);
        refuse(t, "item-not-found", orig ? "that message was already taken down"
                                         : "that message cannot be read back");
        return;
    }
    const char *author = occupant_id_of(orig);
    if (t->self && (!author || !t->actor_oid || strcmp(author, t->actor_oid) != 0)) {
        xml_unref(orig); /* someone else's message: the retraction only passes through */
        takedown_free(t);
        return;
    }
    int64_t now = m->io.now_ms(m->io.ud);
    char *by = t->self ? NULL : xasprintf("%s/%s", room->jid, t->actor_nick);
    struct xml_node *ts = tombstone(t, orig, by, now);
    struct buf b;
    buf_init(&b);
    xml_serialize(ts, NS_COMPONENT, &b);
    const struct xml_node *body = stanza_child(orig, "body");
    char *text = body ? xml_text(body) : NULL;
    compliance_moderate(m, room, now, t->actor_jid, t->actor_nick, t->req, t->sid, text,
                        t->reason);
    history_replace(&room->history, t->seq, b.data, b.len);
    if (m->store->replace_message)
        m->store->replace_message(m->store->st, room, t->seq, b.data, b.len);
    compliance_flush(m);
    if (!t->self) {
        announce(t, room, by);
        muc_result_after_commit(m, t->req);
    }
    free(text);
    buf_free(&b);
    xml_unref(ts);
    xml_unref(orig);
    free(by);
    takedown_free(t);
}

/* Older than the history kept in memory: read it back from the archive. */
static void on_fetched(void *ud, int err, struct store_mam_page *page)
{
    struct takedown *t = ud;
    struct room *room = room_find(t->m, t->room_jid);
    if (err < 0 || !room)
        refuse(t, err < 0 ? "resource-constraint" : "item-not-found",
               err < 0 ? "the archive is unavailable; retry" : "no such room");
    else if (!page || page->n != 1 || page->msgs[0].seq != t->seq)
        refuse(t, "item-not-found", "no such message in this room's archive");
    else
        apply(t, room, page->msgs[0].xml, page->msgs[0].xml_len);
    store_mam_page_free(page);
}

static void find_and_apply(struct takedown *t, struct room *room)
{
    const struct hist_entry *e = history_find(&room->history, t->seq);
    if (e) {
        apply(t, room, e->xml, e->xml_len);
        return;
    }
    struct store_mam_query q = { .start_ms = -1, .end_ms = -1, .after_seq = t->seq - 1,
                                 .before_seq = t->seq + 1, .max = 1, .offset = 0 };
    t->m->store->mam_query(t->m->store->st, room->jid, &q, on_fetched, t);
}

static struct takedown *takedown_new(struct muc_req *r, struct room *room,
                                     const struct occupant *occ, const char *sid,
                                     const struct xml_node *reason)
{
    struct takedown *t = xcalloc(1, sizeof *t);
    t->m = r->muc;
    t->room_jid = xstrdup(room->jid);
    t->req = xml_ref((struct xml_node *)r->st);
    t->actor_jid = xstrdup(r->from_full);
    t->actor_nick = xstrdup(occ->nick);
    t->actor_oid = xstrdup(occ->occupant_id);
    t->reason = reason ? xml_text(reason) : NULL;
    if (t->reason && !*t->reason) {
        free(t->reason);
        t->reason = NULL;
    }
    if (!sid || strlen(sid) != 32 || stanzaid_decode(r->muc->sid, room->jid, sid, &t->seq) < 0 ||
        t->seq == 0) {
        takedown_free(t);
        return NULL;
    }
    memcpy(t->sid, sid, 33);
    return t;
}

/* ---- XEP-0425: an IQ to the room ---- */

bool moderate_wants(const struct xml_node *q)
{
    return (q->ns && strcmp(q->ns, NS_MODERATE) == 0 && strcmp(q->name, "moderate") == 0) ||
           (q->ns && strcmp(q->ns, NS_FASTEN) == 0 && xml_child(q, "moderate", NS_MODERATE0));
}

void moderate_handle(struct muc_req *r, struct room *room, const struct xml_node *q)
{
    const char *type = stanza_type(r->st);
    bool v0 = strcmp(q->ns, NS_FASTEN) == 0;
    const struct xml_node *mod = v0 ? xml_child(q, "moderate", NS_MODERATE0) : q;
    const char *rns = v0 ? NS_RETRACT0 : NS_RETRACT;
    if (strcmp(type, "set") != 0 || !xml_child(mod, "retract", rns)) {
        muc_bounce(r, "bad-request", "moderation is an iq set with <retract/>");
        return;
    }
    struct muc_session *s = session_by_jid(room, r->from_full);
    if (!s || s->occ->role != ROLE_MODERATOR) {
        muc_bounce(r, "forbidden", "only moderators may take messages down");
        return;
    }
    const struct xml_node *reason = xml_child(mod, "reason", v0 ? NS_MODERATE0 : NS_MODERATE);
    struct takedown *t = takedown_new(r, room, s->occ, xml_attr(q, "id"), reason);
    if (!t) {
        muc_bounce(r, "item-not-found", "no message of this room has that stanza-id");
        return;
    }
    find_and_apply(t, room);
}

/* ---- XEP-0424: a sender retracts its own message ---- */

void moderate_self_retraction(struct muc_req *r, struct room *room, const struct occupant *occ)
{
    const struct xml_node *rt = xml_child(r->st, "retract", NS_RETRACT);
    const char *sid = rt ? xml_attr(rt, "id") : NULL;
    const struct xml_node *at = rt ? NULL : xml_child(r->st, "apply-to", NS_FASTEN);
    if (at && xml_child(at, "retract", NS_RETRACT0))
        sid = xml_attr(at, "id");
    if (!sid)
        return;
    struct takedown *t = takedown_new(r, room, occ, sid, NULL);
    if (!t)
        return;
    t->self = true;
    find_and_apply(t, room);
}
