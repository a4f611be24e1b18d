/* message.c — XEP-0045 §7.4 groupchat, §7.3/§8.1 subject, §7.5 private messages, §17.4 relayed IQs. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "compliance.h"
#include "datetime.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

/* Elements only the room may put on a stanza: a client's copy is a spoof.
 * Messages go through payload.c's allowlist instead; an IQ's payload is
 * whatever the two clients speak, so only these are taken out of it. */
static bool room_owned(const struct xml_node *c)
{
    if (!c->name || !c->ns)
        return false;
    if (strcmp(c->ns, NS_MUC_USER) == 0 || strcmp(c->ns, NS_OCCUPANT_ID) == 0 ||
        strcmp(c->ns, NS_DELAY) == 0)
        return true;
    return strcmp(c->ns, NS_SID) == 0 && strcmp(c->name, "stanza-id") == 0;
}

static void copy_iq_payload(struct xml_node *dst, const struct xml_node *src)
{
    for (const struct xml_node *c = src->children; c; c = c->next)
        if (c->name && !room_owned(c))
            xml_append(dst, xml_copy(c));
}

static char *occupant_jid(const struct room *room, const char *nick)
{
    return xasprintf("%s/%s", room->jid, nick);
}

/* ---- groupchat ---- */

/* A message waiting for its commit: fan-out happens only once it is durable
 * ([storage] durability = commit), so nothing reflected can be lost. */
struct commit {
    struct muc *m;
    char *room_jid;
    struct xml_node *msg;
    struct xml_node *orig;   /* the sender's stanza, for an error reply */
    uint64_t seq;
    int64_t now;
    char *xml;
    size_t xml_len;
    char *sender;            /* real full JID, for history events */
    char *nick;
    bool archived;           /* sent while the room's archive was on */
    size_t promised;         /* output bytes owed for it (budget.c) */
};

static void commit_free(struct commit *c)
{
    xml_unref(c->msg);
    xml_unref(c->orig);
    FREE_ALL(c->room_jid, c->xml, c->sender, c->nick, c);
}

static void bounce_unstored(struct muc *m, const struct xml_node *orig)
{
    struct xml_node *e = stanza_error_reply(orig, "resource-constraint",
                                            "the message could not be stored; retry later");
    muc_send(m, e);
    xml_unref(e);
}

static void on_committed(void *ud, int err)
{
    struct commit *c = ud;
    struct room *room = room_find(c->m, c->room_jid);
    /* Its copies are about to be queued (or an error in their place): the
     * gate counts them there from now on. */
    if (err < 0 || !room)
        budget_withdrawn(c->m, c->promised);
    else
        budget_kept(c->m, c->promised);
    if (err < 0) {
        bounce_unstored(c->m, c->orig);
    } else if (room) {
        if (room->history.cap)
            history_push_from(&room->history, c->seq, c->now, c->xml, c->xml_len, c->sender,
                              c->nick, c->archived);
        size_t n;
        const char *const *to = room_recipients(room, &n);
        muc_send_each(c->m, c->msg, to, n);
    }
    commit_free(c);
}

/* Its recipients are the sessions in the room now: fan-out follows the
 * commit within milliseconds, and the event must be in the same transaction. */
static void record_groupchat(struct muc_req *r, struct room *room, struct occupant *occ,
                             const struct xml_node *msg)
{
    if (!r->muc->compliance_on)
        return;
    size_t n;
    const char *const *to = room_recipients(room, &n);
    compliance_groupchat(r, room, occ, msg, to, n, true);
}

static void commit_groupchat(struct muc_req *r, struct room *room, struct occupant *occ,
                             struct xml_node *msg)
{
    struct muc *m = r->muc;
    const struct muc_store *s = m->store;
    if (!s->available(s->st)) {
        bounce_unstored(m, r->st);
        return;
    }
    uint64_t seq = ++room->last_seq;
    char id[33];
    stanzaid_encode(m->sid, room->jid, seq, id);
    struct xml_node *sid = xml_add(msg, "stanza-id", NS_SID);
    xml_set_attr(sid, "id", id);
    xml_set_attr(sid, "by", room->jid);
    struct commit *c = xcalloc(1, sizeof *c);
    c->m = m;
    c->room_jid = xstrdup(room->jid);
    c->msg = xml_ref(msg);
    c->orig = xml_ref((struct xml_node *)r->st);
    c->seq = seq;
    c->now = r->now;
    c->sender = xstrdup(r->from_full);
    c->nick = xstrdup(occ->nick);
    c->archived = room->cfg.logging;
    struct buf b;
    buf_init(&b);
    xml_serialize(msg, NS_COMPONENT, &b);
    c->xml = buf_steal(&b, &c->xml_len);
    c->promised = budget_fanout(room, c->xml_len);
    budget_promise(m, c->promised);
    record_groupchat(r, room, occ, msg);
    const struct xml_node *body = stanza_child(msg, "body");
    char *text = body ? xml_text(body) : NULL;
    struct store_msg_meta meta = {
        .seq = seq, .ts_ms = r->now, .sender_jid = r->from_full, .nick = occ->nick,
        .occupant_id = occ->occupant_id, .body = text, .xml = c->xml, .xml_len = c->xml_len,
        .archived = c->archived,
    };
    s->append_message(s->st, room, &meta, on_committed, c);
    free(text);
}

/* Payloads that make a bodyless message worth keeping: what clients expect to
 * find again in history and the archive (encrypted messages, markers,
 * reactions, corrections, retractions, fastenings). */
static const char *const historic_ns[] = {
    "urn:xmpp:eme:0", "eu.siacs.conversations.axolotl", "urn:xmpp:omemo:2",
    "urn:xmpp:openpgp:0", "urn:xmpp:chat-markers:0", "urn:xmpp:reactions:0",
    "urn:xmpp:message-correct:0", "urn:xmpp:message-retract:0", "urn:xmpp:message-retract:1",
    "urn:xmpp:fasten:0",
};

/* Does a groupchat message go into history and the archive? XEP-0334 hints
 * first (no-store, no-permanent-store: never; store: always), then a body
 * or one of the payloads above. Chat states (XEP-0085) alone are not. */
bool message_is_historic(const struct xml_node *st)
{
    if (xml_child(st, "no-store", NS_HINTS) || xml_child(st, "no-permanent-store", NS_HINTS))
        return false;
    if (xml_child(st, "store", NS_HINTS) || stanza_child(st, "body"))
        return true;
    for (const struct xml_node *c = xml_first(st); c; c = xml_next(c))
        for (size_t i = 0; c->ns && i < ARRAY_SIZE(historic_ns); i++)
            if (strcmp(c->ns, historic_ns[i]) == 0)
                return true;
    return false;
}

/* A message that is neither history nor archive (chat states, no-store): it
 * gets no stanza-id, waits for no commit, and the compliance archive records
 * it only when it says something (a body). */
static void pass_through(struct muc_req *r, struct room *room, struct occupant *occ,
                         struct xml_node *msg)
{
    struct muc *m = r->muc;
    size_t n;
    const char *const *to = room_recipients(room, &n);
    if (stanza_child(msg, "body"))
        compliance_groupchat(r, room, occ, msg, to, n, false);
    muc_send_each(m, msg, to, n);
}

static void change_subject(struct muc_req *r, struct room *room, struct occupant *occ,
                           const struct xml_node *subject)
{
    if (!perm_may_change_subject(occ->role, room->cfg.change_subject)) {
        muc_bounce(r, "forbidden", "you may not change the subject of this room");
        return;
    }
    if (compliance_refused(r))
        return;
    char *from = occupant_jid(room, occ->nick);
    struct xml_node *msg = stanza_new("message", from, NULL, "groupchat", stanza_id(r->st));
    char *text = xml_text(subject);
    xml_add_text_child(msg, "subject", NS_COMPONENT, text);
    xml_set_attr(xml_add(msg, "occupant-id", NS_OCCUPANT_ID), "id", occ->occupant_id);
    compliance_subject(r, room, occ, msg);
    room_set_subject(room, text, from);
    compliance_flush(r->muc);
    free(text);
    free(from);
    size_t n;
    const char *const *to = room_recipients(room, &n);
    muc_send_each(r->muc, msg, to, n);
    xml_unref(msg);
}

static bool body_too_long(const struct muc *m, const struct xml_node *st)
{
    const struct xml_node *body = stanza_child(st, "body");
    if (!body || !m->lim.max_message_bytes)
        return false;
    size_t n = 0;
    for (const struct xml_node *c = body->children; c; c = c->next)
        if (!c->name)
            n += c->text_len;
    return n > m->lim.max_message_bytes;
}

static void groupchat(struct muc_req *r, struct room *room, struct muc_session *s)
{
    struct muc *m = r->muc;
    if (!s) {
        muc_bounce(r, "not-acceptable", "only occupants may send messages to this room");
        return;
    }
    struct occupant *occ = s->occ;
    const struct xml_node *subject = stanza_child(r->st, "subject");
    /* §8.1: with a body or a thread it is a message that has a subject. */
    bool only_subject = subject && !stanza_child(r->st, "body") && !stanza_child(r->st, "thread");
    if (shape_defer(r, room, s, only_subject ? SHAPE_FOLLOW : SHAPE_MESSAGE))
        return;
    if (only_subject) {
        change_subject(r, room, occ, subject);
        return;
    }
    if (body_too_long(m, r->st)) {
        muc_bounce(r, "policy-violation", "the message is longer than this service allows");
        return;
    }
    if (!perm_may_send_groupchat(occ->role)) {
        muc_bounce(r, "forbidden", "visitors may not speak in this moderated room");
        return;
    }
    if (compliance_refused(r))
        return;
    char *from = occupant_jid(room, occ->nick);
    struct xml_node *msg = stanza_new("message", from, NULL, "groupchat", stanza_id(r->st));
    free(from);
    const char *lang = xml_attr(r->st, "xml:lang");
    if (lang)
        xml_set_attr(msg, "xml:lang", lang);
    payload_copy(msg, r->st, PAYLOAD_GROUPCHAT);
    xml_set_attr(xml_add(msg, "occupant-id", NS_OCCUPANT_ID), "id", occ->occupant_id);
    if (message_is_historic(r->st)) {
        moderate_self_retraction(r, room, occ);
        commit_groupchat(r, room, occ, msg);
    }
    else
        pass_through(r, room, occ, msg);
    xml_unref(msg);
}

/* ---- private messages (§7.5) ---- */

static void private_message(struct muc_req *r, struct room *room, struct muc_session *s)
{
    struct muc *m = r->muc;
    const char *type = stanza_type(r->st);
    if (!s) {
        muc_bounce(r, "not-acceptable", "only occupants may send private messages");
        return;
    }
    if (type && strcmp(type, "groupchat") == 0) {
        muc_bounce(r, "bad-request", "private messages may not be of type groupchat");
        return;
    }
    struct occupant *target = occupant_by_nick(room, r->to->resource);
    if (!target) {
        muc_bounce(r, "item-not-found", "no occupant with that nickname");
        return;
    }
    if (body_too_long(m, r->st)) {
        muc_bounce(r, "policy-violation", "the message is longer than this service allows");
        return;
    }
    if (!perm_may_send_pm(s->occ->role, room->cfg.allow_pm)) {
        muc_bounce(r, "forbidden", "private messages are not allowed in this room");
        return;
    }
    if (compliance_refused(r))
        return;
    char *from = occupant_jid(room, s->occ->nick);
    struct xml_node *msg = stanza_new("message", from, NULL, type, stanza_id(r->st));
    free(from);
    payload_copy(msg, r->st, PAYLOAD_PRIVATE);
    xml_add(msg, "x", NS_MUC_USER);
    xml_set_attr(xml_add(msg, "occupant-id", NS_OCCUPANT_ID), "id", s->occ->occupant_id);
    const char **to = xmalloc(target->nsessions * sizeof *to);
    for (size_t i = 0; i < target->nsessions; i++)
        to[i] = target->sessions[i]->jid;
    compliance_private(r, room, s->occ, target, msg, to, target->nsessions);
    muc_send_each(m, msg, to, target->nsessions);
    free(to);
    xml_unref(msg);
}

/* Conditions that mean the client is gone, not that it disliked a stanza. */
static bool fatal_error(const struct xml_node *st)
{
    static const char *const gone[] = {
        "gone", "item-not-found", "recipient-unavailable", "redirect",
        "remote-server-not-found", "remote-server-timeout", "service-unavailable",
    };
    const struct xml_node *e = stanza_child(st, "error");
    const char *cond = e ? stanza_error_condition(e, NS_STANZAS) : NULL;
    if (!cond)
        return true;
    for (size_t i = 0; i < ARRAY_SIZE(gone); i++)
        if (strcmp(cond, gone[i]) == 0)
            return true;
    return false;
}

static void error_from_client(struct muc_req *r, struct room *room, struct muc_session *s)
{
    if (s && fatal_error(r->st))
        presence_error_kick(r, room, s);
}

static bool is_voice_request(const struct xml_node *st)
{
    const struct xml_node *x = xml_child(st, "x", "jabber:x:data");
    if (!x)
        return false;
    for (const struct xml_node *f = xml_first(x); f; f = xml_next(f)) {
        const char *var = xml_attr(f, "var");
        if (var && strcmp(var, "FORM_TYPE") == 0) {
            const struct xml_node *v = xml_child(f, "value", NULL);
            char *t = v ? xml_text(v) : NULL;
            bool yes = t && strcmp(t, NS_MUC_REQUEST) == 0;
            free(t);
            return yes;
        }
    }
    return false;
}

void message_handle(struct muc_req *r, struct room *room)
{
    const char *type = stanza_type(r->st);
    struct muc_session *s = session_by_jid(room, r->from_full);
    if (type && strcmp(type, "error") == 0) {
        error_from_client(r, room, s);
        return;
    }
    if (r->to->resource) {
        private_message(r, room, s);
        return;
    }
    if (type && strcmp(type, "groupchat") == 0) {
        groupchat(r, room, s);
        return;
    }
    const struct xml_node *ux = xml_child(r->st, "x", NS_MUC_USER);
    if (ux && (xml_child(ux, "invite", NS_MUC_USER) || xml_child(ux, "decline", NS_MUC_USER))) {
        invite_handle(r, room, ux);
        return;
    }
    if (is_voice_request(r->st)) {
        voice_request_handle(r, room, xml_child(r->st, "x", "jabber:x:data"));
        return;
    }
    muc_bounce(r, "bad-request", "messages to a room are of type groupchat");
}

/* ---- IQs between occupants ---- */

/* The forwarded IQ's id carries the original id and the requester, sealed with
 * AES-256-GCM under a service key: the answer finds its way back without state
 * in the room, and the target learns nothing about the requester (§17.4). */
static char *encode_iq_id(const struct muc *m, const char *orig, const char *requester)
{
    size_t ol = strlen(orig), rl = strlen(requester), pl = ol + 1 + rl;
    unsigned char nonce[12], tag[16];
    unsigned char *pt = xmalloc(pl), *ct = xmalloc(pl);
    memcpy(pt, orig, ol);
    pt[ol] = '\0';
    memcpy(pt + ol + 1, requester, rl);
    int len = 0, fin = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!m->io.random(m->io.ud, nonce, sizeof nonce) || !ctx ||
        !EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, m->iq_key, nonce) ||
        !EVP_EncryptUpdate(ctx, ct, &len, pt, (int)pl) ||
        !EVP_EncryptFinal_ex(ctx, ct + len, &fin) ||
        !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag))
        abort();
    EVP_CIPHER_CTX_free(ctx);
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "cfb");
    for (size_t i = 0; i < sizeof nonce; i++)
        buf_printf(&b, "%02x", nonce[i]);
    for (size_t i = 0; i < sizeof tag; i++)
        buf_printf(&b, "%02x", tag[i]);
    for (size_t i = 0; i < pl; i++)
        buf_printf(&b, "%02x", ct[i]);
    free(pt);
    free(ct);
    return buf_steal(&b, NULL);
}

static int unhex_bytes(const char *s, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -EINVAL;
        out[i] = (unsigned char)v;
    }
    return 0;
}

static int decode_iq_id(const struct muc *m, const char *id, char **orig, char **requester)
{
    size_t len = id ? strlen(id) : 0;
    if (len < 3 + 2 * (12 + 16) + 4 || strncmp(id, "cfb", 3) != 0 || (len - 3) % 2)
        return -EINVAL;
    size_t pl = (len - 3) / 2 - 12 - 16;
    unsigned char nonce[12], tag[16];
    unsigned char *ct = xmalloc(pl), *pt = xmalloc(pl + 1);
    int out = 0, fin = 0, rc = -EINVAL;
    EVP_CIPHER_CTX *ctx = NULL;
    if (unhex_bytes(id + 3, nonce, 12) < 0 || unhex_bytes(id + 3 + 24, tag, 16) < 0 ||
        unhex_bytes(id + 3 + 56, ct, pl) < 0)
        goto done;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx || !EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, m->iq_key, nonce) ||
        !EVP_DecryptUpdate(ctx, pt, &out, ct, (int)pl) ||
        !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) ||
        EVP_DecryptFinal_ex(ctx, pt + out, &fin) <= 0)
        goto done;
    pt[pl] = '\0';
    size_t ol = strnlen((char *)pt, pl);
    if (ol == pl)
        goto done;
    *orig = xstrdup((char *)pt);
    *requester = xstrndup((char *)pt + ol + 1, pl - ol - 1);
    rc = 0;
done:
    EVP_CIPHER_CTX_free(ctx);
    free(ct);
    free(pt);
    return rc;
}

/* Queries every client answers about itself: allowed whatever the room's
 * allowpm says, as clients need them to show an occupant (avatar, client,
 * liveness). Anything else between occupants is a private exchange. */
static bool iq_always_allowed(const struct xml_node *iq)
{
    static const char *const ns[] = {
        NS_PING, "jabber:iq:version", NS_VCARD, NS_DISCO_INFO, NS_DISCO_ITEMS,
    };
    const struct xml_node *q = xml_first(iq);
    const char *type = stanza_type(iq);
    if (!q || !q->ns || !type || strcmp(type, "get") != 0 || xml_next(q))
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
        if (strcmp(q->ns, ns[i]) == 0)
            return true;
    return false;
}

static bool is_self_ping(const struct muc_req *r)
{
    const struct xml_node *q = xml_first(r->st);
    const char *type = stanza_type(r->st);
    return q && q->ns && strcmp(q->ns, NS_PING) == 0 && type && strcmp(type, "get") == 0;
}

void message_iq_to_occupant(struct muc_req *r, struct room *room)
{
    struct muc *m = r->muc;
    struct muc_session *s = session_by_jid(room, r->from_full);
    struct occupant *target = occupant_by_nick(room, r->to->resource);
    if (!s) {
        /* XEP-0410 §4: a client that is not joined learns it from this. */
        muc_bounce_type(r, "not-acceptable", "cancel", "only occupants may query occupants");
        return;
    }
    if (is_self_ping(r) && target == s->occ) {
        /* XEP-0410: answering for the client proves it is still joined. */
        struct xml_node *res = stanza_iq_result(r->st);
        muc_send(m, res);
        xml_unref(res);
        return;
    }
    if (!target || !target->current) {
        muc_bounce(r, "item-not-found", "no occupant with that nickname");
        return;
    }
    if (!iq_always_allowed(r->st) && !perm_may_send_pm(s->occ->role, room->cfg.allow_pm)) {
        muc_bounce(r, "forbidden", "private exchanges are not allowed in this room");
        return;
    }
    char *from = occupant_jid(room, s->occ->nick);
    char *id = encode_iq_id(m, stanza_id(r->st) ? stanza_id(r->st) : "", r->from_full);
    struct xml_node *iq = stanza_new("iq", from, target->current->jid, stanza_type(r->st), id);
    copy_iq_payload(iq, r->st);
    /* An `iq` event per IQ the room relays between occupants: the Prosody
     * tap never sees them (they travel to and from the room, not user to user). */
    compliance_iq(r, room, s->occ, target->current->jid, target->nick, iq);
    muc_send(m, iq);
    xml_unref(iq);
    free(id);
    free(from);
}

void message_handle_iq_result(struct muc_req *r, struct room *room)
{
    char *orig = NULL, *requester = NULL;
    if (decode_iq_id(r->muc, stanza_id(r->st), &orig, &requester) < 0)
        return;
    struct muc_session *answerer = session_by_jid(room, r->from_full);
    struct muc_session *asker = session_by_jid(room, requester);
    if (answerer && asker && strcmp(asker->occ->nick, r->to->resource) == 0) {
        char *from = occupant_jid(room, answerer->occ->nick);
        struct xml_node *iq = stanza_new("iq", from, requester, stanza_type(r->st), orig);
        for (const struct xml_node *c = r->st->children; c; c = c->next)
            if (c->name)
                xml_append(iq, xml_copy(c));
        compliance_iq(r, room, answerer->occ, requester, asker->occ->nick, iq);
        muc_send(r->muc, iq);
        xml_unref(iq);
        free(from);
    }
    free(orig);
    free(requester);
}

/* ---- what a newcomer receives ---- */

void message_room_notice(struct muc *m, struct room *room, const int *codes)
{
    struct xml_node *msg = stanza_new("message", room->jid, NULL, "groupchat", NULL);
    struct xml_node *x = xml_add(msg, "x", NS_MUC_USER);
    for (const int *c = codes; *c; c++) {
        char v[8];
        snprintf(v, sizeof v, "%d", *c);
        xml_set_attr(xml_add(x, "status", NS_MUC_USER), "code", v);
    }
    size_t n;
    const char *const *to = room_recipients(room, &n);
    muc_send_each(m, msg, to, n);
    xml_unref(msg);
}

void message_send_subject(struct muc *m, struct room *room, const char *to)
{
    const char *from = room->subject_from ? room->subject_from : room->jid;
    struct xml_node *msg = stanza_new("message", from, to, "groupchat", NULL);
    xml_add_text_child(msg, "subject", NS_COMPONENT, room->subject ? room->subject : "");
    if (room->subject && room->subject_ms) {
        /* §7.2.15: the subject is old news, stamped by the room. */
        char stamp[32];
        datetime_format(room->subject_ms, stamp);
        struct xml_node *d = xml_add(msg, "delay", NS_DELAY);
        xml_set_attr(d, "from", room->jid);
        xml_set_attr(d, "stamp", stamp);
    }
    muc_send(m, msg);
    xml_unref(msg);
}

/* A stored message goes out with 'to' and a XEP-0203 delay spliced into its
 * serialised form: no re-parse per join. */
static void send_history_entry(struct muc *m, struct room *room, const struct hist_entry *e,
                               const char *to)
{
    static const char head[] = "<message";
    static const char tail[] = "</message>";
    if (e->xml_len < sizeof head + sizeof tail ||
        memcmp(e->xml + e->xml_len - (sizeof tail - 1), tail, sizeof tail - 1) != 0)
        return;
    char stamp[32];
    datetime_format(e->ts_ms, stamp);
    struct buf b;
    buf_init(&b);
    buf_puts(&b, head);
    buf_puts(&b, " to='");
    buf_put_xml_escaped(&b, to, strlen(to), 1);
    buf_putc(&b, '\'');
    buf_append(&b, e->xml + sizeof head - 1, e->xml_len - (sizeof head - 1) - (sizeof tail - 1));
    buf_printf(&b, "<delay xmlns='" NS_DELAY "' from='%s' stamp='%s'/>", room->jid, stamp);
    buf_puts(&b, tail);
    muc_send_raw(m, b.data, b.len);
    buf_free(&b);
}

void message_send_history(struct muc *m, struct room *room, const char *to,
                          const struct history_req *req, int64_t now)
{
    if (!wall_history_on(m, room))
        return;
    /* ' to=''' + delay element: what each copy adds to the stored bytes. */
    size_t extra = strlen(to) + 6 + strlen(room->jid) + sizeof "<delay xmlns='" NS_DELAY
                   "' from='' stamp='2000-01-01T00:00:00.000Z'/>";
    size_t first = 0;
    size_t n = history_select(&room->history, req, now, m->lim.max_history, extra, &first);
    for (size_t i = 0; i < n; i++) {
        const struct hist_entry *e = history_at(&room->history, first + i);
        compliance_history(m, room, e, to, now);   /* who received which message */
        send_history_entry(m, room, e, to);
    }
}
