/* presence.c — XEP-0045 §7.2 entering, §7.6 nick change, §7.7 status change, §7.14 exiting. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compliance.h"
#include "jid.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

bool presence_may_see_jid(const struct room *room, const struct occupant *viewer)
{
    return perm_may_see_real_jid(viewer->role, room->cfg.whois_anyone);
}

/* ---- building presences ---- */

static void add_codes(struct xml_node *x, const int *codes)
{
    for (const int *c = codes; c && *c; c++) {
        char v[8];
        snprintf(v, sizeof v, "%d", *c);
        xml_set_attr(xml_add(x, "status", NS_MUC_USER), "code", v);
    }
}

/* One <item/>; jid NULL in the anonymous view. The actor's real JID only
 * where real JIDs are seen, and never to the occupant acted upon. */
static void add_user_item(struct xml_node *x, const struct room *room,
                          const struct occupant *occ, const char *jid, bool actor_jid,
                          const struct pres_opts *o)
{
    struct xml_node *item = xml_add(x, "item", NS_MUC_USER);
    bool gone = o->type && strcmp(o->type, "unavailable") == 0;
    xml_set_attr(item, "affiliation", perm_affil_name(occupant_affiliation(room, occ)));
    xml_set_attr(item, "role", perm_role_name(gone && !o->new_nick ? ROLE_NONE : occ->role));
    if (jid)
        xml_set_attr(item, "jid", jid);
    if (o->new_nick)
        xml_set_attr(item, "nick", o->new_nick);
    if (o->actor_nick) {
        struct xml_node *a = xml_add(item, "actor", NS_MUC_USER);
        if (actor_jid && o->actor_jid)
            xml_set_attr(a, "jid", o->actor_jid);
        xml_set_attr(a, "nick", o->actor_nick);
    }
    if (o->reason && *o->reason)
        xml_add_text_child(item, "reason", NS_MUC_USER, o->reason);
}

/* The <x/> in Prosody's order (its own tests match it strictly): status codes,
 * the items — one per client session where real JIDs are seen (§7.2.x: an
 * occupant may be joined from several resources), one without a jid where
 * they are not — and last, for the occupant itself, 110. */
struct xml_node *presence_build(struct muc *m, struct room *room, const struct occupant *occ,
                                bool with_jid, bool self, const struct pres_opts *o)
{
    char *from = xasprintf("%s/%s", room->jid, occ->nick);
    struct xml_node *p = stanza_new("presence", from, NULL, o->type, NULL);
    free(from);
    const struct xml_node *own = occ->current ? occ->current->presence : NULL;
    for (const struct xml_node *c = own ? own->children : NULL; c; c = c->next)
        xml_append(p, xml_copy(c));
    if (o->status && !xml_child(p, "status", NS_COMPONENT))
        xml_add_text_child(p, "status", NS_COMPONENT, o->status);
    struct xml_node *x = xml_add(p, "x", NS_MUC_USER);
    if (o->x_first)
        xml_append(x, xml_copy(o->x_first));
    add_codes(x, o->codes);
    if (self)
        add_codes(x, o->self_codes);
    if (with_jid || self) {
        for (size_t i = 0; i < occ->nsessions; i++)
            add_user_item(x, room, occ, occ->sessions[i]->jid, !self, o);
        if (!occ->nsessions)
            add_user_item(x, room, occ, occ->bare_jid, !self, o);
    } else {
        add_user_item(x, room, occ, NULL, false, o);
    }
    if (self) {
        static const int self110[] = { 110, 0 };
        add_codes(x, self110);
    }
    xml_set_attr(xml_add(p, "occupant-id", NS_OCCUPANT_ID), "id", occ->occupant_id);
    return p;
}

static void remove_occupant(struct muc *m, struct room *room, struct occupant *occ,
                            const struct pres_opts *o);

/* ---- sending ---- */

struct audience {
    const char **see;   /* sessions that see real JIDs */
    size_t nsee;
    const char **hide;
    size_t nhide;
};

/* Who gets subject's presence (crowd.c), split by whether they see real JIDs. */
static void audience_collect(struct muc *m, struct room *room, const struct occupant *subject,
                             struct audience *a)
{
    size_t n = HASH_COUNT(room->sessions);
    a->see = xmalloc((n ? n : 1) * sizeof *a->see);
    a->hide = xmalloc((n ? n : 1) * sizeof *a->hide);
    a->nsee = a->nhide = 0;
    for (struct muc_session *s = room->sessions; s; s = s->hh.next) {
        if (s->occ == subject || !crowd_shows(m, room, subject, s->occ))
            continue;
        if (presence_may_see_jid(room, s->occ))
            a->see[a->nsee++] = s->jid;
        else
            a->hide[a->nhide++] = s->jid;
    }
}

static void audience_free(struct audience *a)
{
    free(a->see);
    free(a->hide);
}

static void send_to(struct muc *m, struct xml_node *st, const char *to)
{
    xml_set_attr(st, "to", to);
    muc_send(m, st);
    xml_set_attr(st, "to", NULL);
}

static void send_self(struct muc *m, struct room *room, struct occupant *occ,
                      const struct pres_opts *o)
{
    struct xml_node *p = presence_build(m, room, occ, true, true, o);
    for (size_t i = 0; i < occ->nsessions; i++)
        send_to(m, p, occ->sessions[i]->jid);
    xml_unref(p);
}

void presence_send_others(struct muc *m, struct room *room, struct occupant *occ,
                          const struct pres_opts *o)
{
    /* Whose arrival was not shown is not shown leaving either. */
    struct audience a;
    audience_collect(m, room, occ, &a);
    if (a.nsee) {
        struct xml_node *p = presence_build(m, room, occ, true, false, o);
        muc_send_each(m, p, a.see, a.nsee);
        xml_unref(p);
    }
    if (a.nhide) {
        struct xml_node *p = presence_build(m, room, occ, false, false, o);
        muc_send_each(m, p, a.hide, a.nhide);
        xml_unref(p);
    }
    audience_free(&a);
}

void presence_send_self(struct muc *m, struct room *room, struct occupant *occ,
                        const struct pres_opts *o)
{
    send_self(m, room, occ, o);
}

/* Someone leaving hears it first; the rest of the room after (§7.14, §8.2, §9.1). */
void presence_broadcast(struct muc *m, struct room *room, struct occupant *occ,
                        const struct pres_opts *o)
{
    if (o->type && strcmp(o->type, "unavailable") == 0) {
        send_self(m, room, occ, o);
        presence_send_others(m, room, occ, o);
    } else {
        presence_send_others(m, room, occ, o);
        send_self(m, room, occ, o);
    }
}

/* A role that is no longer broadcast (an Auditorium's presenter losing
 * voice): whoever saw the occupant sees it leave, as it never saw the
 * audience come; the occupant itself sees its new role. */
void presence_role_changed(struct muc *m, struct room *room, struct occupant *occ,
                           enum muc_role was, const struct pres_opts *o)
{
    enum muc_role now = occ->role;
    unsigned pb = room->cfg.presence_broadcast;
    if (perm_presence_broadcast(now, pb) || !perm_presence_broadcast(was, pb)) {
        presence_broadcast(m, room, occ, o);
        return;
    }
    struct pres_opts gone = *o;
    gone.type = "unavailable";
    occ->role = was;   /* the audience it had */
    presence_send_others(m, room, occ, &gone);
    occ->role = now;
    send_self(m, room, occ, o);
}

void presence_remove_occupant(struct muc *m, struct room *room, struct occupant *occ,
                              const struct pres_opts *o)
{
    compliance_leave_all(m, room, occ);
    remove_occupant(m, room, occ, o);
}

static void remove_occupant(struct muc *m, struct room *room, struct occupant *occ,
                            const struct pres_opts *o)
{
    struct pres_opts gone = *o;
    gone.type = "unavailable";
    presence_broadcast(m, room, occ, &gone);
    occupant_remove(room, occ);
}

/* ---- entering ---- */

static void bounce_presence(struct muc_req *r, const char *cond, const char *text)
{
    muc_bounce(r, cond, text);
}

/* Keep what the client says about itself (payload.c's table); the room
 * says the rest. */
static struct xml_node *sanitize(const struct xml_node *st)
{
    struct xml_node *p = xml_new("presence", NS_COMPONENT);
    payload_copy(p, st, PAYLOAD_PRESENCE);
    return p;
}

/* Every occupant receives a copy of each presence: its size is the room's
 * cost, so it is capped ([muc] max_presence_size), serialised as relayed. */
static bool presence_too_large(const struct muc *m, const struct xml_node *st)
{
    if (!m->lim.max_presence_bytes)
        return false;
    struct xml_node *p = sanitize(st);
    struct buf b;
    buf_init(&b);
    xml_serialize(p, NS_COMPONENT, &b);
    bool big = b.len > m->lim.max_presence_bytes;
    buf_free(&b);
    xml_unref(p);
    return big;
}

static void refuse_large_presence(struct muc_req *r)
{
    char *why = xasprintf("the presence is larger than this service allows "
                          "(max_presence_size = %u bytes)", r->muc->lim.max_presence_bytes);
    bounce_presence(r, "policy-violation", why);
    free(why);
}

static void set_session_presence(struct muc_session *s, const struct xml_node *st)
{
    xml_unref(s->presence);
    s->presence = sanitize(st);
}

static unsigned rooms_created_by(const struct muc *m, const char *bare)
{
    unsigned n = 0;
    for (const struct room *room = m->rooms; room; room = room->hh.next)
        if (strcmp(room->creator, bare) == 0)
            n++;
    return n;
}

/* true (and answered) when nick cannot be used at all, in any room. */
static bool refuse_nick(struct muc_req *r, const char *nick)
{
    char *why;
    const char *cond = nick_refusal(nick, r->muc->lim.max_nick_bytes, &why);
    if (cond)
        bounce_presence(r, cond, why);
    free(why);
    return cond != NULL;
}

static struct room *create_room(struct muc_req *r)
{
    struct muc *m = r->muc;
    bool admin = muc_is_admin(m, r->from_bare);
    if (!m->lim.create_rooms && !admin) {
        bounce_presence(r, "not-allowed", "room creation is restricted");
        return NULL;
    }
    /* A new room is in the default category (an owner may move it, owner.c). */
    if (!wall_may_create(m, CATEGORY_DEFAULT, r->from_bare)) {
        const struct category *c = wall_category(m, CATEGORY_DEFAULT);
        char *why = xasprintf("you may not create rooms in the category %s",
                              c ? c->name : "default");
        bounce_presence(r, "not-allowed", why);
        free(why);
        return NULL;
    }
    if (m->policy.max_rooms && m->nrooms >= m->policy.max_rooms && !admin) {
        bounce_presence(r, "resource-constraint", "this service hosts its maximum of rooms");
        return NULL;
    }
    if (m->policy.max_rooms_per_user && !admin &&
        rooms_created_by(m, r->from_bare) >= m->policy.max_rooms_per_user) {
        char *why = xasprintf("you have created as many rooms as this service allows "
                              "(max_rooms_per_user = %u)", (unsigned)m->policy.max_rooms_per_user);
        bounce_presence(r, "policy-violation", why);
        free(why);
        return NULL;
    }
    char *room_jid = jid_format(r->to, true);
    struct room *room = room_create(m, room_jid, r->to->node, r->from_bare, r->now);
    free(room_jid);
    return room;
}

/* NULL when the join may pass the room's password; else why not. */
static const char *password_refusal(const struct room *room, const struct xml_node *muc_x)
{
    if (!room->cfg.password_protected || !room->cfg.password || !*room->cfg.password)
        return NULL;
    const struct xml_node *pw = muc_x ? xml_child(muc_x, "password", NS_MUC) : NULL;
    if (!pw)
        return "this room needs a password to enter";
    char *given = xml_text(pw);
    bool ok = strcmp(given, room->cfg.password) == 0;
    free(given);
    return ok ? NULL : "the password is not correct";
}

/* §7.2.2–7.2.10: the checks in the order the spec lists them. */
static const char *admission_error(struct muc_req *r, struct room *room, const char *nick,
                                   enum muc_affil affil, const struct xml_node *muc_x,
                                   const char **text)
{
    struct muc *m = r->muc;
    *text = NULL;
    if (room->locked && affil != AFFIL_OWNER) {
        *text = "the room is locked until its owner configures it";
        return "item-not-found";
    }
    if (affil == AFFIL_OUTCAST) {
        *text = "you are banned from this room";
        return "forbidden";
    }
    if (room->cfg.members_only && affil < AFFIL_MEMBER) {
        *text = "this room is members-only";
        return "registration-required";
    }
    struct occupant *holder = occupant_by_nick(room, nick);
    if (holder && strcmp(holder->bare_jid, r->from_bare) != 0) {
        *text = "that nickname is already in use";
        return "conflict";
    }
    if (nick_taken_by_other(room, nick, r->from_bare)) {
        *text = "that nickname is too similar to one already in use";
        return "conflict";
    }
    const char *owner = room_nick_owner(room, nick);
    if (owner && strcmp(owner, r->from_bare) != 0) {
        *text = "that nickname is registered by another user";
        return "conflict";
    }
    /* Every client of a user proves it knows the password (Prosody does the
     * same): a second device is a new entry, not the first one's presence. */
    if ((*text = password_refusal(room, muc_x)) != NULL)
        return "not-authorized";
    if (!holder && m->lim.max_joined_rooms &&
        occupant_rooms_of(m, r->from_bare) >= m->lim.max_joined_rooms) {
        *text = "you are in as many rooms as this service allows";
        return "policy-violation";
    }
    unsigned cap = room_max_users(m, room);
    if (!holder && cap && room->noccupants >= cap && affil < AFFIL_ADMIN) {
        *text = "the room is full";
        return "service-unavailable";
    }
    return NULL;
}

static void send_absent(struct muc *m, const struct room *room, const char *nick,
                        const char *owner, const char *to, bool with_jid);

static void send_roster(struct muc *m, struct room *room, struct occupant *newcomer,
                        const char *to)
{
    bool see = presence_may_see_jid(room, newcomer);
    static const struct pres_opts plain = { 0 };
    for (struct occupant *o = room->occupants; o; o = o->hh.next) {
        if (o == newcomer || !crowd_shows(m, room, o, newcomer))
            continue;
        struct xml_node *p = presence_build(m, room, o, see, false, &plain);
        send_to(m, p, to);
        xml_unref(p);
    }
    /* presencebroadcast "none": members who are away show as such. */
    if (!(room->cfg.presence_broadcast & ROLE_BIT(ROLE_NONE)))
        return;
    for (const struct affiliation *a = room->affiliations; a; a = a->hh.next)
        if (a->nick && a->affil >= AFFIL_MEMBER && !occupant_by_nick(room, a->nick))
            send_absent(m, room, a->nick, a->jid, to, see);
}

static void send_self_to(struct muc *m, struct room *room, struct occupant *occ, const char *to,
                         const struct pres_opts *o)
{
    struct xml_node *p = presence_build(m, room, occ, true, true, o);
    send_to(m, p, to);
    xml_unref(p);
}

static void join_codes(const struct room *room, bool created, int *codes)
{
    /* No 170 on entry: §7.2.12 means a public log, and the room's archive
     * (on by default) is announced by disco and by 170/171 when it changes,
     * as Prosody does. */
    size_t n = 0;
    if (created)
        codes[n++] = 201;
    if (room->cfg.whois_anyone)
        codes[n++] = 100;
    codes[n] = 0;
}

static void welcome(struct muc_req *r, struct room *room, struct occupant *occ,
                    const struct xml_node *muc_x, bool created, bool broadcast)
{
    struct muc *m = r->muc;
    int self_codes[4];
    join_codes(room, created, self_codes);
    struct pres_opts o = { .self_codes = self_codes };
    send_roster(m, room, occ, r->from_full);
    if (broadcast) {
        /* Everyone else first; the newcomer's own copy ends its roster. */
        presence_send_others(m, room, occ, &(struct pres_opts){ 0 });
        for (size_t i = 0; i < occ->nsessions; i++)
            if (strcmp(occ->sessions[i]->jid, r->from_full) != 0)
                send_self_to(m, room, occ, occ->sessions[i]->jid, &o);
    }
    send_self_to(m, room, occ, r->from_full, &o);
    struct history_req hreq;
    const struct xml_node *h = muc_x ? xml_child(muc_x, "history", NS_MUC) : NULL;
    /* A malformed <history/> is ignored, as Prosody does: defaults apply. */
    if (history_req_parse(h, &hreq) < 0 && history_req_parse(NULL, &hreq) < 0)
        return;
    message_send_history(m, room, r->from_full, &hreq, r->now);
    message_send_subject(m, room, r->from_full);
}

static void join(struct muc_req *r, struct room *room, const char *nick)
{
    struct muc *m = r->muc;
    const struct xml_node *muc_x = xml_child(r->st, "x", NS_MUC);
    struct tombstone *t = NULL;
    char *room_jid = jid_format(r->to, true);
    HASH_FIND_STR(m->tombstones, room_jid, t);
    free(room_jid);
    if (!room && t) {
        struct xml_node *e = muc_error(r, "gone", NULL, t->reason);
        struct xml_node *err = stanza_child(e, "error");
        if (t->venue) {
            struct xml_node *g = xml_child(err, "gone", NS_STANZAS);
            char *uri = xasprintf("xmpp:%s?join", t->venue);
            xml_add_text(g, uri, strlen(uri));
            free(uri);
        }
        muc_send(m, e);
        xml_unref(e);
        return;
    }
    if (refuse_nick(r, nick))
        return;
    bool created = false;
    if (!room) {
        room = create_room(r);
        if (!room)
            return;
        created = true;
    }
    enum muc_affil affil = room_affiliation(room, r->from_bare);
    const char *text;
    const char *cond = admission_error(r, room, nick, affil, muc_x, &text);
    if (cond) {
        /* §7.2.9: a full room is a temporary condition. */
        if (strcmp(cond, "service-unavailable") == 0)
            muc_bounce_type(r, cond, "wait", text);
        else
            bounce_presence(r, cond, text);
        room_reap(r->muc, room);
        return;
    }
    struct occupant *occ = occupant_by_nick(room, nick);
    bool fresh = !occ;
    if (!occ) {
        enum muc_role role = perm_default_role(affil, room->cfg.moderated, room->cfg.members_only);
        occ = occupant_new(m, room, nick, r->from_bare, role);
    }
    struct muc_session *s = occupant_add_session(room, occ, r->from_full);
    set_session_presence(s, r->st);
    if (created)
        compliance_create(r, room);
    compliance_join(r, room, occ);
    /* A second client of an occupant changes its item list: the room sees it. */
    welcome(r, room, occ, muc_x, created, true);
    (void)fresh;
}

/* ---- changes and leaving ---- */

static void leave(struct muc_req *r, struct room *room, struct muc_session *s)
{
    struct muc *m = r->muc;
    struct occupant *occ = s->occ;
    /* Leaving is never refused; an oversized goodbye leaves without its words. */
    if (presence_too_large(m, r->st)) {
        xml_unref(s->presence);
        s->presence = xml_new("presence", NS_COMPONENT);
    } else {
        set_session_presence(s, r->st);
    }
    occ->current = s;
    struct pres_opts gone = { .type = "unavailable" };
    compliance_leave(m, room, occ, s->jid, r->st);
    if (occ->nsessions > 1) {
        /* Other devices stay: only this one is told it left. */
        send_self_to(m, room, occ, s->jid, &gone);
        occupant_remove_session(room, s);
        presence_broadcast(m, room, occ, &(struct pres_opts){ 0 });
        return;
    }
    remove_occupant(m, room, occ, &gone);
    room_reap(m, room);
}

static void change_nick(struct muc_req *r, struct room *room, struct muc_session *s,
                        const char *nick)
{
    struct muc *m = r->muc;
    struct occupant *occ = s->occ;
    if (refuse_nick(r, nick))
        return;
    if (occupant_by_nick(room, nick) || nick_taken_by_other(room, nick, r->from_bare)) {
        bounce_presence(r, "conflict", "that nickname is already in use");
        return;
    }
    const char *owner = room_nick_owner(room, nick);
    if (owner && strcmp(owner, r->from_bare) != 0) {
        bounce_presence(r, "conflict", "that nickname is registered by another user");
        return;
    }
    if (occ->nsessions > 1) {
        bounce_presence(r, "not-acceptable", "leave from your other devices to change nickname");
        return;
    }
    compliance_nick(r, room, occ, nick);
    static const int c303[] = { 303, 0 };
    struct pres_opts o = { .type = "unavailable", .codes = c303, .new_nick = nick };
    presence_broadcast(m, room, occ, &o);
    occupant_rename(room, occ, nick);
    set_session_presence(s, r->st);
    presence_broadcast(m, room, occ, &(struct pres_opts){ 0 });
}

static void update(struct muc_req *r, struct room *room, struct muc_session *s)
{
    struct muc *m = r->muc;
    struct occupant *occ = s->occ;
    set_session_presence(s, r->st);
    occ->current = s;
    if (xml_child(r->st, "x", NS_MUC)) {
        /* §7.2: a join from a joined client means it lost sync: replay. */
        welcome(r, room, occ, xml_child(r->st, "x", NS_MUC), false, false);
        return;
    }
    presence_broadcast(m, room, occ, &(struct pres_opts){ 0 });
}

/* "Kicked: service unavailable: Test error", from the error's condition and
 * text, as Prosody words it for the room to read. */
static char *kick_status(const struct xml_node *st)
{
    const struct xml_node *e = stanza_child(st, "error");
    const char *cond = e ? stanza_error_condition(e, NS_STANZAS) : NULL;
    const struct xml_node *t = e ? xml_child(e, "text", NS_STANZAS) : NULL;
    char *text = t ? xml_text(t) : NULL;
    char *c = xstrdup(cond ? cond : "error");
    for (char *p = c; *p; p++)
        if (*p == '-')
            *p = ' ';
    char *out = xasprintf("Kicked: %s%s%s", c, text && *text ? ": " : "", text ? text : "");
    free(c);
    free(text);
    return out;
}

void presence_error_kick(struct muc_req *r, struct room *room, struct muc_session *s)
{
    struct muc *m = r->muc;
    struct occupant *occ = s->occ;
    if (occ->nsessions > 1) {
        /* Its other clients stay; the room sees the shorter item list. */
        compliance_leave(m, room, occ, s->jid, r->st);
        occupant_remove_session(room, s);
        presence_send_others(m, room, occ, &(struct pres_opts){ 0 });
        return;
    }
    static const int c333[] = { 333, 0 };
    char *why = kick_status(r->st);
    struct pres_opts o = { .codes = c333, .status = why };
    /* The client's last presence is not what it says now: it is gone. */
    xml_unref(s->presence);
    s->presence = xml_new("presence", NS_COMPONENT);
    presence_remove_occupant(m, room, occ, &o);
    free(why);
    room_reap(m, room);
}

/* A registered member who is not in the room: an unavailable presence from
 * the nick they reserved (Prosody's build_unavailable_presence). */
static void send_absent(struct muc *m, const struct room *room, const char *nick,
                        const char *owner, const char *to, bool with_jid)
{
    char *from = xasprintf("%s/%s", room->jid, nick);
    struct xml_node *p = stanza_new("presence", from, to, "unavailable", NULL);
    free(from);
    struct xml_node *item = xml_add(xml_add(p, "x", NS_MUC_USER), "item", NS_MUC_USER);
    xml_set_attr(item, "affiliation", perm_affil_name(room_affiliation(room, owner)));
    xml_set_attr(item, "role", "none");
    xml_set_attr(item, "nick", nick);
    if (with_jid)
        xml_set_attr(item, "jid", owner);
    muc_send(m, p);
    xml_unref(p);
}

static void probe_absent(struct muc_req *r, struct room *room, const struct occupant *viewer,
                         const char *nick)
{
    const char *owner = room_nick_owner(room, nick);
    if (!owner)
        return; /* nobody by that name: a probe gets no answer (Prosody likewise) */
    send_absent(r->muc, room, nick, owner, r->from_full,
                presence_may_see_jid(room, viewer) ||
                    room_affiliation(room, r->from_bare) >= AFFIL_ADMIN);
}

/* RFC 6121 §4.3 probes, as occupants use them to resynchronise one
 * occupant's presence: answered with that occupant's current presence, to
 * occupants only (others must not learn who is inside). */
static void probe(struct muc_req *r, struct room *room, struct muc_session *s, const char *nick)
{
    if (!s || !nick) {
        muc_bounce_type(r, "not-acceptable", "cancel", "you are not in this room");
        return;
    }
    struct occupant *target = occupant_by_nick(room, nick);
    if (target && target != s->occ && crowd_hidden(r->muc, target))
        target = NULL; /* a hidden admin is not there for anyone else */
    if (!target) {
        probe_absent(r, room, s->occ, nick);
        return;
    }
    bool see = target == s->occ || presence_may_see_jid(room, s->occ);
    struct xml_node *p = presence_build(r->muc, room, target, see, false,
                                        &(struct pres_opts){ 0 });
    send_to(r->muc, p, r->from_full);
    xml_unref(p);
}

void presence_handle(struct muc_req *r, struct room *room)
{
    const char *type = stanza_type(r->st);
    const char *nick = r->to->resource;
    struct muc_session *s = room ? session_by_jid(room, r->from_full) : NULL;
    /* What a session sends waits behind its shaped stanzas; only updates pay. */
    bool is_update = s && !type && nick && strcmp(s->occ->nick, nick) == 0;
    if (s && shape_defer(r, room, s, is_update ? SHAPE_PRESENCE : SHAPE_FOLLOW))
        return;
    if (type && strcmp(type, "error") == 0) {
        if (s)
            presence_error_kick(r, room, s);
        return;
    }
    if (type && strcmp(type, "unavailable") == 0) {
        if (s)
            leave(r, room, s);
        return;
    }
    if (strcmp(type ? type : "", "probe") == 0) {
        probe(r, room, s, nick);
        return;
    }
    if (type)
        return; /* subscriptions mean nothing to a room */
    if (!nick) {
        bounce_presence(r, "jid-malformed", "a room nickname is required");
        return;
    }
    if (presence_too_large(r->muc, r->st)) {
        refuse_large_presence(r);
        return;
    }
    if (!s)
        join(r, room, nick);
    else if (strcmp(s->occ->nick, nick) != 0)
        change_nick(r, room, s, nick);
    else
        update(r, room, s);
}
