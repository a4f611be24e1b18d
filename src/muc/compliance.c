/* compliance.c — building confabd's compliance events (docs/compliance-protocol.md)
 * from engine state, and handing them to the outbox. No I/O here. */
#include "compat.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compliance.h"
#include "datetime.h"
#include "digest.h"
#include "mem.h"
#include "reply.h"
#include "stanza.h"

/* RFC 9562 version 4: 122 random bits. The UUID is the archiver's
 * idempotency key, so it must never repeat: RAND_bytes, not rand(). */
static void uuid_v4(char out[COMPLIANCE_UUID_LEN])
{
    unsigned char u[16];
    if (RAND_bytes(u, sizeof u) != 1)
        abort();
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    snprintf(out, COMPLIANCE_UUID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
}

struct xml_node *compliance_event(struct muc *m, const char *type, const struct room *room,
                                  int64_t now)
{
    if (!m->compliance_on)
        return NULL;
    char id[COMPLIANCE_UUID_LEN], stamp[DATETIME_FMT_MAX];
    uuid_v4(id);
    datetime_format(now, stamp);
    struct xml_node *ev = xml_new("event", NS_COMPLIANCE);
    xml_set_attr(ev, "id", id);
    xml_set_attr(ev, "type", type);
    xml_set_attr(ev, "time", stamp);
    if (room)
        xml_set_attr(ev, "room", room->jid);
    return ev;
}

void compliance_party(struct xml_node *ev, const char *el, const char *jid, const char *nick,
                      const char *role, const char *affil)
{
    if (!ev)
        return;
    struct xml_node *p = xml_add(ev, el, NS_COMPLIANCE);
    if (jid)
        xml_set_attr(p, "jid", jid);
    if (nick)
        xml_set_attr(p, "nick", nick);
    if (role)
        xml_set_attr(p, "role", role);
    if (affil)
        xml_set_attr(p, "affiliation", affil);
}

void compliance_actor_req(struct xml_node *ev, const struct muc_req *r, const struct room *room,
                          const struct occupant *occ)
{
    if (!ev)
        return;
    enum muc_affil a = occ ? occupant_affiliation(room, occ) : room_affiliation(room, r->from_bare);
    compliance_party(ev, "actor", r->from_full, occ ? occ->nick : NULL,
                     occ ? perm_role_name(occ->role) : NULL, perm_affil_name(a));
}

void compliance_target_occ(struct xml_node *ev, const struct room *room,
                           const struct occupant *occ)
{
    if (!ev || !occ)
        return;
    const char *jid = occ->current ? occ->current->jid
                      : occ->nsessions ? occ->sessions[0]->jid : occ->bare_jid;
    compliance_party(ev, "target", jid, occ->nick, perm_role_name(occ->role),
                     perm_affil_name(occupant_affiliation(room, occ)));
}

void compliance_reason(struct xml_node *ev, const char *reason)
{
    if (ev && reason && *reason)
        xml_add_text_child(ev, "reason", NS_COMPLIANCE, reason);
}

void compliance_recipients(struct xml_node *ev, const struct room *room,
                           const char *const *jids, size_t n)
{
    if (!ev)
        return;
    struct xml_node *rs = xml_add(ev, "recipients", NS_COMPLIANCE);
    for (size_t i = 0; i < n; i++) {
        struct xml_node *r = xml_add(rs, "recipient", NS_COMPLIANCE);
        xml_set_attr(r, "jid", jids[i]);
        const struct muc_session *s = room ? session_by_jid(room, jids[i]) : NULL;
        if (s)
            xml_set_attr(r, "nick", s->occ->nick);
    }
}

void compliance_detail(struct xml_node *ev, const struct xml_node *x)
{
    if (!ev || !x)
        return;
    xml_append(xml_add(ev, "detail", NS_COMPLIANCE), xml_copy(x));
}

/* Stanzas from the router are in the component namespace; the archive keeps
 * them as a client sees them. */
static void to_client_ns(struct xml_node *n)
{
    if (n->ns && strcmp(n->ns, NS_COMPONENT) == 0) {
        free(n->ns);
        n->ns = xstrdup(NS_CLIENT);
    }
    for (struct xml_node *c = n->children; c; c = c->next)
        if (c->name)
            to_client_ns(c);
}

static struct xml_node *forwarded_el(struct xml_node *ev, int64_t stamp_ms)
{
    struct xml_node *f = xml_add(ev, "forwarded", NS_FORWARD);
    if (stamp_ms >= 0) {
        char stamp[DATETIME_FMT_MAX];
        datetime_format(stamp_ms, stamp);
        xml_set_attr(xml_add(f, "delay", "urn:xmpp:delay"), "stamp", stamp);
    }
    return f;
}

void compliance_forward(struct xml_node *ev, const struct xml_node *st, int64_t stamp_ms)
{
    if (!ev || !st)
        return;
    struct xml_node *copy = xml_copy(st);
    to_client_ns(copy);
    xml_append(forwarded_el(ev, stamp_ms), copy);
}

void compliance_ref(struct xml_node *ev, const char *id)
{
    if (!ev || !id)
        return;
    struct xml_node *d = xml_child(ev, "detail", NS_COMPLIANCE);
    if (!d)
        d = xml_add(ev, "detail", NS_COMPLIANCE);
    xml_set_attr(xml_add(d, "ref", NS_COMPLIANCE), "id", id);
}

void compliance_forward_once(struct xml_node *ev, const struct xml_node *st, int64_t stamp_ms,
                             char ref[COMPLIANCE_UUID_LEN])
{
    if (!ev)
        return;
    if (*ref) {
        compliance_ref(ev, ref);
        return;
    }
    compliance_forward(ev, st, stamp_ms);
    snprintf(ref, COMPLIANCE_UUID_LEN, "%s", xml_attr(ev, "id"));
}

/* ---- the size cap ([compliance] max_event_size) ---- */

static size_t serialized_len(const struct xml_node *n)
{
    struct buf b;
    buf_init(&b);
    xml_serialize(n, NULL, &b);
    size_t len = b.len;
    buf_free(&b);
    return len;
}

/* The attributes a stub keeps: what the archiver files a stanza by. Each is
 * at most a JID long (RFC 7622: 3 × 1023 bytes), so the stub stays small
 * whatever a client put in the others. */
static bool stub_keeps(const struct xml_attr *a)
{
    static const char *const keep[] = { "from", "to", "type", "id" };
    for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
        if (strcmp(a->name, keep[i]) == 0)
            return strlen(a->value) <= 3071;
    return false;
}

/* What stands in for an oversized stanza. The element and its addressing
 * attributes still say what it was, so the archiver files it as before; a
 * message keeps its body and subject (the record of what was said) when they
 * take at most half the cap; the digest proves what the rest was. */
static struct xml_node *stanza_stub(const struct xml_node *st, size_t max)
{
    struct buf b;
    buf_init(&b);
    xml_serialize(st, NULL, &b);
    char hex[DIGEST_HEX_LEN], bytes[24];
    digest_sha256_hex(b.data, b.len, hex);
    snprintf(bytes, sizeof bytes, "%zu", b.len);
    buf_free(&b);
    struct xml_node *stub = xml_new(st->name, st->ns);
    for (size_t i = 0; i < st->nattrs; i++)
        if (stub_keeps(&st->attrs[i]))
            xml_set_attr(stub, st->attrs[i].name, st->attrs[i].value);
    size_t kept = 0;
    for (const struct xml_node *c = xml_first(st); c && strcmp(st->name, "message") == 0;
         c = xml_next(c)) {
        if (strcmp(c->name, "body") != 0 && strcmp(c->name, "subject") != 0)
            continue;
        size_t len = serialized_len(c);
        if (kept + len > max / 2)
            continue;
        kept += len;
        xml_append(stub, xml_copy(c));
    }
    struct xml_node *o = xml_add(stub, "omitted", NS_COMPLIANCE);
    xml_set_attr(o, "bytes", bytes);
    xml_set_attr(o, "sha256", hex);
    return stub;
}

bool compliance_shrink(struct xml_node *ev, size_t max)
{
    struct xml_node *f = ev ? xml_child(ev, "forwarded", NS_FORWARD) : NULL;
    struct xml_node *st = NULL;
    for (struct xml_node *c = f ? xml_first(f) : NULL; c && !st; c = xml_next(c))
        if (strcmp(c->name, "delay") != 0)
            st = c;
    if (!st)
        return false;
    struct xml_node *stub = stanza_stub(st, max);
    xml_remove(f, st);
    xml_append(f, stub);
    return true;
}

char *compliance_serialize(const struct xml_node *ev, const char *raw, size_t raw_len,
                           int64_t stamp_ms, const char *to, size_t *len)
{
    static const char head[] = "<message";
    struct buf b;
    buf_init(&b);
    if (!raw || raw_len < sizeof head || memcmp(raw, head, sizeof head - 1) != 0) {
        xml_serialize(ev, NULL, &b);
        return buf_steal(&b, len);
    }
    /* A stored message is serialised without its namespace (history keeps the
     * bytes as sent on the component stream): splice it into a <forwarded/>
     * with the namespace and the addressee it was served to. */
    static const char tail_fwd[] = "</forwarded></event>";
    struct xml_node *copy = xml_copy(ev);
    forwarded_el(copy, stamp_ms < 0 ? 0 : stamp_ms);   /* a delay child: never <forwarded/> */
    xml_serialize(copy, NULL, &b);
    xml_unref(copy);
    size_t cut = b.len - (sizeof tail_fwd - 1);
    if (b.len < sizeof tail_fwd || memcmp(b.data + cut, tail_fwd, sizeof tail_fwd - 1) != 0)
        abort();   /* the serialiser's own output: cannot happen */
    char *tail = xstrndup(b.data + cut, b.len - cut);
    b.len = cut;
    buf_puts(&b, "<message xmlns='" NS_CLIENT "'");
    if (to) {
        buf_puts(&b, " to='");
        buf_put_xml_escaped(&b, to, strlen(to), 1);
        buf_putc(&b, '\'');
    }
    buf_append(&b, raw + sizeof head - 1, raw_len - (sizeof head - 1));
    buf_puts(&b, tail);
    free(tail);
    return buf_steal(&b, len);
}

static void hand_over(struct muc *m, const struct xml_node *ev, const char *xml, size_t len,
                      bool attach)
{
    struct store_event se = { .uuid = xml_attr(ev, "id"), .room = xml_attr(ev, "room"),
                              .xml = xml, .xml_len = len };
    const struct muc_store *s = m->store;
    if (attach && s->attach_event)
        s->attach_event(s->st, &se);
    else if (s->put_event)
        s->put_event(s->st, &se);
}

static void record(struct muc *m, struct xml_node *ev, const char *raw, size_t raw_len,
                   int64_t stamp_ms, const char *to, bool attach)
{
    if (!ev)
        return;
    size_t len;
    char *xml = compliance_serialize(ev, raw, raw_len, stamp_ms, to, &len);
    /* One event must not cost the outbox, the store and the archiver what a
     * whole conversation does (issue 13: a 140 KB form, once per entry). */
    if (m->compliance_max_event && len > m->compliance_max_event && !raw &&
        compliance_shrink(ev, m->compliance_max_event)) {
        free(xml);
        xml = compliance_serialize(ev, raw, raw_len, stamp_ms, to, &len);
    }
    hand_over(m, ev, xml, len, attach);
    free(xml);
    xml_unref(ev);
}

void compliance_emit(struct muc *m, struct xml_node *ev)
{
    record(m, ev, NULL, 0, -1, NULL, false);
}

void compliance_emit_raw(struct muc *m, struct xml_node *ev, const char *raw, size_t raw_len,
                         int64_t stamp_ms, const char *to)
{
    record(m, ev, raw, raw_len, stamp_ms, to, false);
}

void compliance_attach(struct muc *m, struct xml_node *ev)
{
    record(m, ev, NULL, 0, -1, NULL, true);
}

void compliance_flush(struct muc *m)
{
    const struct muc_store *s = m->store;
    if (m->compliance_on && s->attach_event && s->put_event)
        s->put_event(s->st, NULL);
}

/* ---- policy ---- */

bool compliance_unhealthy(uint64_t backlog, uint64_t max_backlog, int64_t now_ms,
                          int64_t stalled_since_ms, uint64_t timeout_ms)
{
    if (backlog > max_backlog)
        return true;
    return backlog > 0 && stalled_since_ms > 0 && now_ms >= stalled_since_ms &&
           (uint64_t)(now_ms - stalled_since_ms) >= timeout_ms;
}

bool compliance_should_refuse(bool strict, uint64_t backlog, uint64_t max_backlog,
                              int64_t now_ms, int64_t stalled_since_ms, uint64_t timeout_ms)
{
    return strict &&
           compliance_unhealthy(backlog, max_backlog, now_ms, stalled_since_ms, timeout_ms);
}

bool compliance_refused(struct muc_req *r)
{
    if (!r->muc->compliance_on || !r->muc->compliance_refuse)
        return false;
    muc_bounce_type(r, "resource-constraint", "wait",
                    "messages cannot be recorded for compliance right now; retry later");
    return true;
}

/* ---- one builder per event ----
 *
 * Every event the engine records is built here, one function a type, so a
 * handler makes one call and the shape of each event (actor, target,
 * forwarded stanza) is decided in one place. An event that records a stored
 * change is attached (compliance_attach: the caller's next store write takes
 * it, in the same transaction, and compliance_flush follows); the others are
 * emitted on their own. */

void compliance_config_detail(struct xml_node *ev, const struct muc *m, const struct room *room)
{
    if (!ev)
        return;
    struct xml_node *form = owner_config_form(m, room);
    /* The archive is read by officers, not owners: no room password in it. */
    for (struct xml_node *f = xml_first(form); f; f = xml_next(f)) {
        const char *var = xml_attr(f, "var");
        if (!var || strcmp(var, "muc#roomconfig_roomsecret") != 0)
            continue;
        struct xml_node *v;
        while ((v = xml_child(f, "value", NULL)))
            xml_remove(f, v);
    }
    compliance_detail(ev, form);
    xml_unref(form);
}

/* The occupant the sender of r is in room, or NULL. */
static const struct occupant *sender_occ(const struct muc_req *r, const struct room *room)
{
    const struct muc_session *s = session_by_jid(room, r->from_full);
    return s ? s->occ : NULL;
}

/* ---- entering and leaving (presence.c) ---- */

void compliance_create(const struct muc_req *r, const struct room *room)
{
    struct xml_node *ev = compliance_event(r->muc, "create", room, r->now);
    compliance_actor_req(ev, r, room, NULL);
    compliance_config_detail(ev, r->muc, room);
    compliance_emit(r->muc, ev);
}

void compliance_join(const struct muc_req *r, const struct room *room,
                     const struct occupant *occ)
{
    struct xml_node *ev = compliance_event(r->muc, "join", room, r->now);
    compliance_actor_req(ev, r, room, occ);
    compliance_forward(ev, r->st, r->now);
    compliance_emit(r->muc, ev);
}

void compliance_nick(const struct muc_req *r, const struct room *room,
                     const struct occupant *occ, const char *nick)
{
    struct xml_node *ev = compliance_event(r->muc, "nick", room, r->now);
    compliance_actor_req(ev, r, room, occ);
    compliance_party(ev, "target", r->from_full, nick, NULL, NULL);
    compliance_forward(ev, r->st, r->now);
    compliance_emit(r->muc, ev);
}

void compliance_leave(struct muc *m, const struct room *room, const struct occupant *occ,
                      const char *jid, const struct xml_node *st)
{
    int64_t now = m->io.now_ms(m->io.ud);
    struct xml_node *ev = compliance_event(m, "leave", room, now);
    if (!ev)
        return;
    compliance_party(ev, "actor", jid, occ->nick, perm_role_name(occ->role),
                     perm_affil_name(occupant_affiliation(room, occ)));
    compliance_forward(ev, st, now);
    compliance_emit(m, ev);
}

void compliance_leave_all(struct muc *m, const struct room *room, const struct occupant *occ)
{
    for (size_t i = 0; i < occ->nsessions; i++)
        compliance_leave(m, room, occ, occ->sessions[i]->jid, NULL);
}

/* ---- messages (message.c) ---- */

void compliance_groupchat(const struct muc_req *r, const struct room *room,
                          const struct occupant *occ, const struct xml_node *msg,
                          const char *const *to, size_t n, bool stored)
{
    struct xml_node *ev = compliance_event(r->muc, "groupchat", room, r->now);
    if (!ev)
        return;
    compliance_actor_req(ev, r, room, occ);
    compliance_recipients(ev, room, to, n);
    compliance_forward(ev, msg, r->now);
    if (stored)
        compliance_attach(r->muc, ev);
    else
        compliance_emit(r->muc, ev);
}

void compliance_moderate(struct muc *m, const struct room *room, int64_t now,
                         const char *actor_jid, const char *actor_nick,
                         const struct xml_node *request, const char *sid, const char *text,
                         const char *reason)
{
    struct xml_node *ev = compliance_event(m, "moderate", room, now);
    if (!ev)
        return;
    compliance_party(ev, "actor", actor_jid, actor_nick, NULL, NULL);
    struct xml_node *d = xml_new("retracted", NS_COMPLIANCE);
    xml_set_attr(d, "stanza-id", sid);
    /* Always there: a message without a body replaced the empty text. */
    char hex[DIGEST_HEX_LEN];
    digest_sha256_hex(text ? text : "", text ? strlen(text) : 0, hex);
    xml_set_attr(d, "text-sha256", hex);
    compliance_detail(ev, d);
    xml_unref(d);
    compliance_reason(ev, reason);
    compliance_forward(ev, request, now);
    compliance_attach(m, ev);
}

void compliance_subject(const struct muc_req *r, const struct room *room,
                        const struct occupant *occ, const struct xml_node *msg)
{
    struct xml_node *ev = compliance_event(r->muc, "subject", room, r->now);
    compliance_actor_req(ev, r, room, occ);
    compliance_forward(ev, msg, r->now);
    compliance_attach(r->muc, ev);
}

void compliance_private(const struct muc_req *r, const struct room *room,
                        const struct occupant *occ, const struct occupant *target,
                        const struct xml_node *msg, const char *const *to, size_t n)
{
    struct xml_node *ev = compliance_event(r->muc, "private", room, r->now);
    compliance_actor_req(ev, r, room, occ);
    compliance_target_occ(ev, room, target);
    compliance_recipients(ev, room, to, n);
    compliance_forward(ev, msg, r->now);
    compliance_emit(r->muc, ev);
}

void compliance_iq(const struct muc_req *r, const struct room *room,
                   const struct occupant *actor, const char *target_jid,
                   const char *target_nick, const struct xml_node *iq)
{
    struct xml_node *ev = compliance_event(r->muc, "iq", room, r->now);
    if (!ev)
        return;
    compliance_actor_req(ev, r, room, actor);
    compliance_party(ev, "target", target_jid, target_nick, NULL, NULL);
    compliance_recipients(ev, room, &target_jid, 1);
    compliance_forward(ev, iq, r->now);
    compliance_emit(r->muc, ev);
}

void compliance_history(struct muc *m, const struct room *room, const struct hist_entry *e,
                        const char *to, int64_t now)
{
    struct xml_node *ev = compliance_event(m, "history", room, now);
    if (!ev)
        return;
    /* The original sender (the room itself when unknown, which it never is
     * for messages kept since the sender was recorded with them). */
    compliance_party(ev, "actor", e->sender_jid ? e->sender_jid : room->jid, e->nick, NULL,
                     NULL);
    const struct muc_session *s = session_by_jid(room, to);
    compliance_party(ev, "target", to, s ? s->occ->nick : NULL, NULL, NULL);
    compliance_recipients(ev, room, &to, 1);
    compliance_emit_raw(m, ev, e->xml, e->xml_len, e->ts_ms, to);
}

/* ---- invitations (invite.c) and the archive (mam.c) ---- */

/* An invitation and its decline are the same event turned around. */
static void invitation(const struct muc_req *r, const struct room *room, const char *type,
                       const struct occupant *occ, const char *target, const char *reason)
{
    struct xml_node *ev = compliance_event(r->muc, type, room, r->now);
    compliance_actor_req(ev, r, room, occ);
    compliance_party(ev, "target", target, NULL, NULL, NULL);
    compliance_reason(ev, reason);
    compliance_forward(ev, r->st, r->now);
    compliance_emit(r->muc, ev);
}

void compliance_invite(const struct muc_req *r, const struct room *room,
                       const struct occupant *occ, const char *invitee, const char *reason)
{
    invitation(r, room, "invite", occ, invitee, reason);
}

void compliance_decline(const struct muc_req *r, const struct room *room, const char *inviter,
                        const char *reason)
{
    invitation(r, room, "decline", NULL, inviter, reason);
}

void compliance_mam(const struct muc_req *r, const struct room *room,
                    const struct xml_node *query)
{
    struct xml_node *ev = compliance_event(r->muc, "mam", room, r->now);
    compliance_actor_req(ev, r, room, sender_occ(r, room));
    compliance_detail(ev, query);
    compliance_forward(ev, r->st, r->now);
    compliance_emit(r->muc, ev);
}

/* ---- roles and affiliations (admin.c, owner.c, invite.c) ---- */

void compliance_role(const struct muc_req *r, const struct room *room,
                     const struct occupant *actor, const struct occupant *target,
                     enum muc_role role, const char *reason, char ref[COMPLIANCE_UUID_LEN])
{
    const char *type = role == ROLE_NONE ? "kick" : "role";
    struct xml_node *ev = compliance_event(r->muc, type, room, r->now);
    if (!ev)
        return;
    compliance_actor_req(ev, r, room, actor);
    const char *jid = target->current ? target->current->jid : target->bare_jid;
    compliance_party(ev, "target", jid, target->nick, perm_role_name(role),
                     perm_affil_name(occupant_affiliation(room, target)));
    compliance_reason(ev, reason);
    /* The IQ once, with the first change; the others refer to that event. */
    compliance_forward_once(ev, r->st, r->now, ref);
    compliance_emit(r->muc, ev);
}

static void affiliation_target(struct xml_node *ev, const char *jid, enum muc_affil affil)
{
    compliance_party(ev, "target", jid, NULL,
                     affil == AFFIL_OUTCAST ? perm_role_name(ROLE_NONE) : NULL,
                     perm_affil_name(affil));
}

void compliance_affiliation_req(const struct muc_req *r, const struct room *room,
                                const struct occupant *actor, const char *jid,
                                enum muc_affil affil, const char *reason,
                                char ref[COMPLIANCE_UUID_LEN])
{
    const char *type = affil == AFFIL_OUTCAST ? "ban" : "affiliation";
    struct xml_node *ev = compliance_event(r->muc, type, room, r->now);
    if (!ev)
        return;
    compliance_actor_req(ev, r, room, actor);
    affiliation_target(ev, jid, affil);
    compliance_reason(ev, reason);
    compliance_forward_once(ev, r->st, r->now, ref);
    compliance_attach(r->muc, ev);
}

void compliance_affiliation(struct muc *m, const struct room *room, const char *jid,
                            enum muc_affil affil, const char *reason)
{
    const struct muc_req *r = m->req;
    int64_t now = r ? r->now : m->io.now_ms(m->io.ud);
    const char *type = affil == AFFIL_OUTCAST ? "ban" : "affiliation";
    struct xml_node *ev = compliance_event(m, type, room, now);
    if (!ev)
        return;
    if (r)
        compliance_actor_req(ev, r, room, sender_occ(r, room));
    else
        compliance_party(ev, "actor", m->domain, NULL, NULL, NULL);
    affiliation_target(ev, jid, affil);
    compliance_reason(ev, reason);
    /* A form names many JIDs: its config event carries the IQ, once. */
    if (m->compliance_ref)
        compliance_ref(ev, m->compliance_ref);
    else if (r)
        compliance_forward(ev, r->st, now);
    compliance_attach(m, ev);
}

/* ---- ethical walls (wall.c) ---- */

static struct xml_node *wall_event(struct muc *m, const struct room *room, const char *room_jid,
                                   const char *jid, const char *nick, enum muc_affil old,
                                   const char *action, const char *reason)
{
    struct xml_node *ev = compliance_event(m, "wall", room, m->io.now_ms(m->io.ud));
    if (!ev)
        return NULL;
    if (!room)
        xml_set_attr(ev, "room", room_jid);
    compliance_party(ev, "actor", m->domain, NULL, NULL, NULL);
    compliance_party(ev, "target", jid, nick, NULL, perm_affil_name(old));
    compliance_reason(ev, reason);
    struct xml_node *d = xml_add(ev, "detail", NS_COMPLIANCE);
    xml_set_attr(xml_add(d, "wall", NS_COMPLIANCE), "action", action);
    return ev;
}

void compliance_wall(struct muc *m, const struct room *room, const char *jid, const char *nick,
                     enum muc_affil old, const char *action, const char *reason, bool attach)
{
    struct xml_node *ev = wall_event(m, room, room->jid, jid, nick, old, action, reason);
    if (attach)
        compliance_attach(m, ev);
    else
        compliance_emit(m, ev);
}

void compliance_wall_stored(struct muc *m, const char *room_jid, const char *jid,
                            enum muc_affil old, const char *reason)
{
    compliance_emit(m, wall_event(m, NULL, room_jid, jid, NULL, old, "revoked", reason));
}

/* ---- configuration and destruction (owner.c, adhoc.c, room.c) ---- */

struct xml_node *compliance_config_begin(const struct muc_req *r, const struct room *room)
{
    struct xml_node *ev = compliance_event(r->muc, "config", room, r->now);
    r->muc->compliance_ref = ev ? xml_attr(ev, "id") : NULL;
    return ev;
}

void compliance_config(const struct muc_req *r, const struct room *room, struct xml_node *ev)
{
    r->muc->compliance_ref = NULL;
    compliance_actor_req(ev, r, room, sender_occ(r, room));
    compliance_config_detail(ev, r->muc, room);
    compliance_forward(ev, r->st, r->now);
    compliance_attach(r->muc, ev);
}

struct xml_node *compliance_destroy(const struct muc_req *r, const struct room *room,
                                    const char *reason, const struct xml_node *detail)
{
    struct xml_node *ev = compliance_event(r->muc, "destroy", room, r->now);
    compliance_actor_req(ev, r, room, sender_occ(r, room));
    compliance_reason(ev, reason);
    compliance_detail(ev, detail);
    compliance_forward(ev, r->st, r->now);
    return ev;
}

struct xml_node *compliance_destroy_command(struct muc *m, const struct room *room,
                                            const char *actor, const struct xml_node *iq,
                                            int64_t now)
{
    struct xml_node *ev = compliance_event(m, "destroy", room, now);
    compliance_party(ev, "actor", actor, NULL, NULL, "owner");
    compliance_forward(ev, iq, now);
    return ev;
}

void compliance_destroy_empty(struct muc *m, const struct room *room)
{
    struct xml_node *ev = compliance_event(m, "destroy", room, m->io.now_ms(m->io.ud));
    compliance_party(ev, "actor", m->domain, NULL, NULL, NULL);
    compliance_reason(ev, "the last occupant left a temporary room");
    compliance_attach(m, ev);
}
