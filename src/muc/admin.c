/* §8 and §9: moderators change roles, admins and owners change affiliations,
 * and the lists of both. A request with several items is all or nothing. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance.h"
#include "jid.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

static void send_to(struct muc *m, struct xml_node *st, const char *to)
{
    xml_set_attr(st, "to", to);
    muc_send(m, st);
    xml_set_attr(st, "to", NULL);
}

struct actor {
    struct occupant *occ;      /* NULL when the actor is not in the room */
    enum muc_role role;
    enum muc_affil affil;
    const char *nick;
};

/* One requested change, validated before anything is applied. */
struct change {
    const struct xml_node *item;
    bool is_role;
    enum muc_role role;
    enum muc_affil affil;
    struct occupant *target;   /* role changes */
    char *jid;                 /* affiliation changes: bare JID (owned) */
    char *reserve;             /* ...and the nick it registers (jid and nick given) */
    char *reason;
    const char *why;           /* the error's text when this item is refused */
};

static void actor_init(struct muc_req *r, struct room *room, struct actor *a)
{
    struct muc_session *s = session_by_jid(room, r->from_full);
    a->occ = s ? s->occ : NULL;
    a->role = a->occ ? a->occ->role : ROLE_NONE;
    a->affil = room_affiliation(room, r->from_bare);
    a->nick = a->occ ? a->occ->nick : NULL;
}

static char *item_reason(const struct xml_node *item)
{
    const struct xml_node *r = xml_child(item, "reason", NS_MUC_ADMIN);
    return r ? xml_text(r) : NULL;
}

/* The bare JID an affiliation item names: its jid, or the jid of the occupant
 * its nick names. */
static int item_bare_jid(const struct room *room, const struct xml_node *item, char **out)
{
    const char *j = xml_attr(item, "jid");
    if (!j) {
        const char *nick = xml_attr(item, "nick");
        struct occupant *o = nick ? occupant_by_nick(room, nick) : NULL;
        if (!o)
            return -ENOENT;
        *out = xstrdup(o->bare_jid);
        return 0;
    }
    struct jid parsed = { 0 };
    if (jid_parse(&parsed, j) < 0)
        return -EINVAL;
    *out = jid_format(&parsed, true);
    jid_clear(&parsed);
    return 0;
}

static unsigned owners_after(const struct room *room, const struct change *c, size_t n)
{
    unsigned owners = room_count_affiliation(room, AFFIL_OWNER);
    for (size_t i = 0; i < n; i++) {
        if (c[i].is_role)
            continue;
        bool was = room_affiliation(room, c[i].jid) == AFFIL_OWNER;
        bool will = c[i].affil == AFFIL_OWNER;
        if (was && !will)
            owners--;
        else if (!was && will)
            owners++;
    }
    return owners;
}

static const char *check_role_item(struct room *room, const struct actor *a, struct change *c)
{
    const char *nick = xml_attr(c->item, "nick");
    if (!nick)
        return "bad-request";
    c->target = occupant_by_nick(room, nick);
    if (!c->target)
        return "item-not-found";
    if (!a->occ)
        return "forbidden";
    return perm_check_role_change(a->role, a->affil, c->target->role,
                                  occupant_affiliation(room, c->target), c->role);
}

static const char *check_affil_item(struct room *room, const struct actor *a, struct change *c,
                                    const char *from_bare)
{
    int r = item_bare_jid(room, c->item, &c->jid);
    if (r == -ENOENT)
        return "item-not-found";
    if (r < 0)
        return "jid-malformed";
    enum muc_affil old = room_affiliation(room, c->jid);
    bool self = strcmp(c->jid, from_bare) == 0;
    /* owners_left_after is checked over the whole request below. */
    const char *err = perm_check_affil_change(a->affil, old, c->affil, self, 1);
    if (!err && c->affil >= AFFIL_MEMBER && wall_denies(room->muc, room->category_id, c->jid)) {
        c->why = WALL_GRANT_REFUSED;
        return "not-acceptable";
    }
    if (err || !xml_attr(c->item, "jid") || !xml_attr(c->item, "nick"))
        return err;
    /* An item with both jid and nick also reserves the nick (as §7.10's
     * registration would; Prosody does the same), for members and up. */
    if (c->affil < AFFIL_MEMBER)
        return "not-acceptable";
    if (jid_prep_resource(xml_attr(c->item, "nick"), &c->reserve) < 0 || !*c->reserve)
        return "jid-malformed";
    /* Someone else registered it: conflict. Someone else merely sits on it:
     * they make way (apply below, 307), as Prosody does. */
    const char *holder = room_nick_owner(room, c->reserve);
    struct occupant *o = occupant_by_nick(room, c->reserve);
    if ((holder && strcmp(holder, c->jid) != 0) ||
        (!o && nick_taken_by_other(room, c->reserve, c->jid)))
        return "conflict";
    return NULL;
}

static const char *parse_items(struct muc_req *r, struct room *room, const struct actor *a,
                               const struct xml_node *query, struct change **out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    for (const struct xml_node *item = xml_first(query); item; item = xml_next(item)) {
        if (strcmp(item->name, "item") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        struct change *c = &(*out)[(*n)++];
        memset(c, 0, sizeof *c);
        c->item = item;
        c->reason = item_reason(item);
        const char *role = xml_attr(item, "role"), *affil = xml_attr(item, "affiliation");
        const char *err;
        if (role && !affil) {
            c->is_role = true;
            err = perm_role_parse(role, &c->role) < 0 ? "bad-request"
                                                       : check_role_item(room, a, c);
        } else if (affil && !role) {
            err = perm_affil_parse(affil, &c->affil) < 0
                      ? "bad-request"
                      : check_affil_item(room, a, c, r->from_bare);
        } else {
            err = "bad-request";
        }
        if (err)
            return err;
    }
    if (*n == 0)
        return "bad-request";
    if (owners_after(room, *out, *n) == 0 && room_count_affiliation(room, AFFIL_OWNER) > 0)
        return "conflict";
    return NULL;
}

static void free_changes(struct change *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        FREE_ALL(c[i].jid, c[i].reserve, c[i].reason);
    free(c);
}

/* What one change does to one occupant, announced in §8.2's order: removed
 * occupants hear it first, then the actor gets its result, then the room.
 * Occupants are named by nick and real bare JID, not by pointer: with a store
 * the announcement waits for the commit, and meanwhile the occupant may leave
 * and someone else may take the nick. */
struct event {
    char *nick;
    char *bare;
    bool remove;
    bool no_actor;             /* the service acted, not the requester */
    enum muc_role was;         /* the role before the request (crowd.c: who saw it) */
    int codes[2];
    char *reason;
};

/* An affiliation change of someone not in the room (§9.3–9.8): the room
 * hears of it by message, and the user out of band (§17.2 status 101). */
struct absent {
    char *jid;
    enum muc_affil affil;
    char *reason;
    bool tell_user;            /* the 101 message; not when the user caused it */
};

struct events {
    struct event *ev;
    size_t n, cap;
    struct absent *abs;
    size_t nabs;
    const char *actor_jid;     /* the actor's real full JID (not owned), or NULL */
};

static void add_event(struct events *es, struct occupant *occ, bool remove, int code,
                      const char *reason)
{
    for (size_t i = 0; i < es->n; i++) {
        if (strcmp(es->ev[i].nick, occ->nick) != 0)
            continue;
        /* A later item overrides an earlier one for the same occupant. */
        es->ev[i].remove = es->ev[i].remove || remove;
        if (remove) {
            es->ev[i].codes[0] = code;
            free(es->ev[i].reason);
            es->ev[i].reason = reason ? xstrdup(reason) : NULL;
        }
        return;
    }
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 4;
        es->ev = xrealloc(es->ev, es->cap * sizeof *es->ev);
    }
    es->ev[es->n++] = (struct event){ .nick = xstrdup(occ->nick), .bare = xstrdup(occ->bare_jid),
                                      .remove = remove, .was = occ->role,
                                      .codes = { code, 0 },
                                      .reason = reason ? xstrdup(reason) : NULL };
}

static void add_absent(struct events *es, const char *jid, enum muc_affil affil,
                       const char *reason)
{
    es->abs = xrealloc(es->abs, (es->nabs + 1) * sizeof *es->abs);
    es->abs[es->nabs++] = (struct absent){ .jid = xstrdup(jid), .affil = affil,
                                           .reason = reason ? xstrdup(reason) : NULL,
                                           .tell_user = true };
}

static void events_free(struct events *es)
{
    for (size_t i = 0; i < es->n; i++) {
        free(es->ev[i].nick);
        free(es->ev[i].bare);
        free(es->ev[i].reason);
    }
    for (size_t i = 0; i < es->nabs; i++) {
        free(es->abs[i].jid);
        free(es->abs[i].reason);
    }
    free(es->ev);
    free(es->abs);
    *es = (struct events){ 0 };
}

/* The occupant an event is about, if it is still the same one. */
static struct occupant *event_occupant(const struct room *room, const struct event *e)
{
    struct occupant *o = occupant_by_nick(room, e->nick);
    return o && strcmp(o->bare_jid, e->bare) == 0 ? o : NULL;
}

/* Is occupant o one that an affiliation entry for jid governs? Its own bare
 * JID, or a domain entry (§9.1 bans a server) when o has no entry of its own. */
static bool affil_covers(const struct room *room, const struct occupant *o, const char *jid)
{
    if (strcmp(o->bare_jid, jid) == 0)
        return true;
    const char *at = strchr(o->bare_jid, '@');
    return !strchr(jid, '@') && at && strcmp(at + 1, jid) == 0 &&
           !room_affiliation_entry(room, o->bare_jid);
}

/* Occupants of jid follow its new affiliation (Prosody's rule, perm.c); when
 * none is in the room, the change is announced instead. */
static void affil_events(struct room *room, const char *jid, enum muc_affil old,
                         enum muc_affil affil, const char *reason, struct events *es)
{
    bool inside = false;
    for (struct occupant *o = room->occupants; o; o = o->hh.next) {
        if (!affil_covers(room, o, jid))
            continue;
        inside = true;
        enum muc_role role = perm_role_after_affil_change_from(
            o->role, old, affil, room->cfg.moderated, room->cfg.members_only);
        if (role == ROLE_NONE) {
            add_event(es, o, true, affil == AFFIL_OUTCAST ? 301 : 321, reason);
        } else {
            add_event(es, o, false, 0, reason);
            o->role = role;
        }
    }
    if (!inside && old != affil)
        add_absent(es, jid, affil, reason);
}

/* The <x/> of an absent user's change: the item, and 301/321 when the new
 * affiliation would keep them out (Prosody sends the same). */
static struct xml_node *absent_x(const struct room *room, const struct absent *a, int extra)
{
    /* Codes before the item, as Prosody orders them. */
    struct xml_node *x = xml_new("x", NS_MUC_USER);
    int code = a->affil == AFFIL_OUTCAST ? 301
               : perm_default_role(a->affil, room->cfg.moderated, room->cfg.members_only) ==
                       ROLE_NONE
                   ? 321
                   : 0;
    int codes[] = { code, extra };
    for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
        if (!codes[i])
            continue;
        char v[8];
        snprintf(v, sizeof v, "%d", codes[i]);
        xml_set_attr(xml_add(x, "status", NS_MUC_USER), "code", v);
    }
    struct xml_node *item = xml_add(x, "item", NS_MUC_USER);
    xml_set_attr(item, "affiliation", perm_affil_name(a->affil));
    xml_set_attr(item, "jid", a->jid);
    if (a->reason && *a->reason)
        xml_add_text_child(item, "reason", NS_MUC_USER, a->reason);
    return x;
}

/* §9.3–9.8 "the service MAY send a message from the room itself to the room
 * occupants": to those who may see real JIDs (all in a non-anonymous room,
 * moderators otherwise), as the item names the JID. The user, if it is a
 * user and not a server, hears it out of band with 101 (§17.2). */
static void announce_absent(struct muc *m, struct room *room, const struct absent *a)
{
    struct xml_node *msg = stanza_new("message", room->jid, NULL, NULL, NULL);
    xml_append(msg, absent_x(room, a, 0));
    for (struct muc_session *s = room->sessions; s; s = s->hh.next)
        if (presence_may_see_jid(room, s->occ))
            send_to(m, msg, s->jid);
    xml_unref(msg);
    if (!a->tell_user || !strchr(a->jid, '@'))
        return;
    msg = stanza_new("message", room->jid, a->jid, NULL, NULL);
    char *body = xasprintf("Your affiliation with %s is now: %s", room->jid,
                           perm_affil_name(a->affil));
    xml_add_text_child(msg, "body", NS_COMPONENT, body);
    free(body);
    xml_append(msg, absent_x(room, a, 101));
    muc_send(m, msg);
    xml_unref(msg);
}

static struct pres_opts event_opts(const struct events *es, const struct event *e,
                                   const char *actor)
{
    return (struct pres_opts){ .type = e->remove ? "unavailable" : NULL,
                               .codes = e->codes[0] ? e->codes : NULL,
                               .actor_nick = e->no_actor ? NULL : actor,
                               .actor_jid = e->no_actor ? NULL : es->actor_jid,
                               .reason = e->reason };
}

static void events_absent(struct muc *m, struct room *room, struct events *es)
{
    for (size_t i = 0; i < es->nabs; i++)
        announce_absent(m, room, &es->abs[i]);
}

static void events_first(struct muc *m, struct room *room, struct events *es, const char *actor)
{
    for (size_t i = 0; i < es->n; i++) {
        struct pres_opts o = event_opts(es, &es->ev[i], actor);
        struct occupant *occ = event_occupant(room, &es->ev[i]);
        if (es->ev[i].remove && occ)
            presence_send_self(m, room, occ, &o);
    }
}

static void events_rest(struct muc *m, struct room *room, struct events *es, const char *actor)
{
    for (size_t i = 0; i < es->n; i++) {
        struct pres_opts o = event_opts(es, &es->ev[i], actor);
        struct occupant *occ = event_occupant(room, &es->ev[i]);
        if (!occ)
            continue;
        if (es->ev[i].remove) {
            presence_send_others(m, room, occ, &o);
            occupant_remove(room, occ);
        } else {
            presence_role_changed(m, room, occ, es->ev[i].was, &o);
        }
    }
}

void admin_apply_affiliation(struct muc *m, struct room *room, const char *jid,
                             enum muc_affil affil, const char *reason, const char *actor_nick,
                             bool tell_user)
{
    struct events es = { 0 };
    /* jid may be the very entry string room_set_affiliation frees. */
    char *j = xstrdup(jid);
    enum muc_affil old = room_affiliation(room, j);
    if (old != affil)
        compliance_affiliation(m, room, j, affil, reason);
    room_set_affiliation(room, j, affil, reason);
    compliance_flush(m);
    affil_events(room, j, old, affil, reason, &es);
    for (size_t i = 0; i < es.nabs; i++)
        es.abs[i].tell_user = tell_user;
    events_first(m, room, &es, actor_nick);
    events_rest(m, room, &es, actor_nick);
    events_absent(m, room, &es);
    events_free(&es);
    free(j);
}

/* The compliance event of one change: a role change stands alone; an
 * affiliation goes with its row (the caller writes it next, then flushes). */
static void record_change(struct muc_req *r, struct room *room, const struct actor *a,
                          const struct change *c, char ref[COMPLIANCE_UUID_LEN])
{
    if (c->is_role)
        compliance_role(r, room, a->occ, c->target, c->role, c->reason, ref);
    else
        compliance_affiliation_req(r, room, a->occ, c->jid, c->affil, c->reason, ref);
}

/* An admin request's answer and announcements, held until the store has
 * what it changed: the result must not acknowledge a change a crash could
 * still lose, and §8.2 puts the result between the removed occupants'
 * presences and the room's, so all of it waits together. */
struct announce {
    struct muc *m;
    char *room_jid;
    char *actor_nick;
    char *actor_jid;
    bool affiliations;         /* the request changed affiliations, not only roles */
    struct xml_node *iq;
    struct events es;
};

static void send_answer(struct announce *an, int err)
{
    struct xml_node *res = err < 0 ? stanza_error_reply(an->iq, "resource-constraint",
                                                        "the change could not be stored")
                                   : stanza_iq_result(an->iq);
    muc_send(an->m, res);
    xml_unref(res);
}

/* §8.2 for roles: the removed occupant, the actor's result, the room. For
 * affiliations Prosody's order, which its own tests check: every presence,
 * then the notices about absent users, then the result. */
static void announce(void *ud, int err)
{
    struct announce *an = ud;
    struct room *room = room_find(an->m, an->room_jid);
    if (room)
        events_first(an->m, room, &an->es, an->actor_nick);
    if (room && an->affiliations) {
        events_rest(an->m, room, &an->es, an->actor_nick);
        events_absent(an->m, room, &an->es);
    }
    send_answer(an, err);
    if (room && !an->affiliations) {
        events_rest(an->m, room, &an->es, an->actor_nick);
        events_absent(an->m, room, &an->es);
    }
    if (room)
        room_reap(an->m, room);
    events_free(&an->es);
    xml_unref(an->iq);
    free(an->room_jid);
    free(an->actor_nick);
    free(an->actor_jid);
    free(an);
}

/* Whoever sits on a nick the change reserves for someone else makes way. */
static void evict_nick_squatter(struct room *room, const struct change *c, struct events *es)
{
    struct occupant *o = c->reserve ? occupant_by_nick(room, c->reserve) : NULL;
    if (!o || strcmp(o->bare_jid, c->jid) == 0)
        return;
    add_event(es, o, true, 307, "This nickname is reserved");
    es->ev[es->n - 1].no_actor = true;
}

/* One request may change at most [muc] max_list_items entries: each is a
 * stored row, a compliance event and presences (issue 13). Counted before
 * anything is parsed. */
static bool too_many_items(struct muc_req *r, const struct xml_node *query)
{
    size_t n = 0;
    for (const struct xml_node *item = xml_first(query); item; item = xml_next(item))
        n += strcmp(item->name, "item") == 0;
    unsigned max = r->muc->lim.max_list_items;
    if (!max || n <= max)
        return false;
    char *text = xasprintf("%zu items; at most %u in one request ([muc] max_list_items)", n, max);
    muc_bounce(r, "policy-violation", text);
    free(text);
    return true;
}

/* Is change i overridden by a later one for the same JID? */
static bool overridden(const struct change *c, size_t n, size_t i)
{
    for (size_t j = i + 1; j < n; j++)
        if (!c[j].is_role && strcmp(c[j].jid, c[i].jid) == 0)
            return true;
    return false;
}

/* Entries in the room's lists after the changes: the last change for each JID
 * decides whether it has one (an entry with a registered nick stays at none,
 * as room.c keeps it). */
static size_t affiliations_after(const struct room *room, const struct change *c, size_t n)
{
    size_t count = HASH_COUNT(room->affiliations);
    for (size_t i = 0; i < n; i++) {
        if (c[i].is_role || overridden(c, n, i))
            continue;
        const struct affiliation *e = room_affiliation_entry(room, c[i].jid);
        bool will = c[i].affil != AFFIL_NONE || c[i].reserve || (e && e->nick);
        if (!e && will)
            count++;
        else if (e && !will)
            count--;
    }
    return count;
}

bool admin_affiliations_refused(struct muc_req *r, size_t after)
{
    unsigned max = r->muc->lim.max_affiliations;
    if (!max || after <= max)
        return false;
    char *text = xasprintf("the room's affiliation lists would hold %zu entries; at most %u "
                           "([muc] max_affiliations)", after, max);
    muc_bounce(r, "policy-violation", text);
    free(text);
    return true;
}

bool admin_rate_ok(struct muc_req *r, struct room *room)
{
    const struct muc_limits *lim = &r->muc->lim;
    struct muc_session *s = session_by_jid(room, r->from_full);
    struct token_bucket *b = s ? &s->occ->admin_bucket : &room->outsider_admin_bucket;
    if (occupant_rate_ok(b, lim->admin_rate, lim->admin_burst, r->now))
        return true;
    /* The bucket is below one token: it takes (1 - tokens) / rate seconds. */
    double wait_ms = (1.0 - b->tokens) * 1000.0 / lim->admin_rate;
    char *text = xasprintf("too many admin or owner requests; retry in %.1f s ([muc] admin_rate)",
                           wait_ms < 100 ? 0.1 : wait_ms / 1000.0);
    muc_bounce_type(r, "resource-constraint", "wait", text);
    free(text);
    return false;
}

static void admin_set(struct muc_req *r, struct room *room, const struct xml_node *query)
{
    struct actor a;
    actor_init(r, room, &a);
    struct change *changes;
    size_t n;
    if (too_many_items(r, query))
        return;
    const char *err = parse_items(r, room, &a, query, &changes, &n);
    if (err) {
        /* parse_items stops at the item it refuses: the last one. */
        muc_bounce(r, err, n ? changes[n - 1].why : NULL);
        free_changes(changes, n);
        return;
    }
    if (admin_affiliations_refused(r, affiliations_after(room, changes, n))) {
        free_changes(changes, n);
        return;
    }
    struct announce *an = xcalloc(1, sizeof *an);
    an->m = r->muc;
    an->room_jid = xstrdup(room->jid);
    an->actor_nick = a.nick ? xstrdup(a.nick) : NULL;
    an->actor_jid = xstrdup(r->from_full);
    an->es.actor_jid = an->actor_jid;
    an->iq = xml_ref((struct xml_node *)r->st);
    char ref[COMPLIANCE_UUID_LEN] = "";
    for (size_t i = 0; i < n; i++) {
        struct change *c = &changes[i];
        record_change(r, room, &a, c, ref);
        if (c->is_role) {
            if (c->role == ROLE_NONE) {
                add_event(&an->es, c->target, true, 307, c->reason);
            } else {
                add_event(&an->es, c->target, false, 0, c->reason);
                c->target->role = c->role;
            }
        } else {
            an->affiliations = true;
            evict_nick_squatter(room, c, &an->es);
            enum muc_affil old = room_affiliation(room, c->jid);
            room_set_affiliation(room, c->jid, c->affil, c->reason);
            if (c->reserve) {
                struct affiliation *e = room_affiliation_entry(room, c->jid);
                free(e->nick);
                e->nick = xstrdup(c->reserve);
                room_save_affiliation(room, c->jid);
            }
            compliance_flush(r->muc);
            affil_events(room, c->jid, old, c->affil, c->reason, &an->es);
        }
    }
    free_changes(changes, n);
    /* Role changes store nothing, but they wait too: answers to one room's
     * admin requests keep their order. */
    const struct muc_store *s = r->muc->store;
    if (s->barrier)
        s->barrier(s->st, announce, an);
    else
        announce(an, 0);
}

static void list_affiliation(struct muc_req *r, struct room *room, enum muc_affil which)
{
    struct xml_node *res = stanza_iq_result(r->st);
    struct xml_node *q = xml_add(res, "query", NS_MUC_ADMIN);
    for (const struct affiliation *af = room->affiliations; af; af = af->hh.next) {
        if (af->affil != which)
            continue;
        struct xml_node *item = xml_add(q, "item", NS_MUC_ADMIN);
        xml_set_attr(item, "affiliation", perm_affil_name(af->affil));
        xml_set_attr(item, "jid", af->jid);
        if (af->nick)
            xml_set_attr(item, "nick", af->nick);
        if (af->reason)
            xml_add_text_child(item, "reason", NS_MUC_ADMIN, af->reason);
    }
    muc_send(r->muc, res);
    xml_unref(res);
}

static void list_role(struct muc_req *r, struct room *room, enum muc_role which,
                      const struct actor *a)
{
    struct xml_node *res = stanza_iq_result(r->st);
    struct xml_node *q = xml_add(res, "query", NS_MUC_ADMIN);
    bool see = a->occ && presence_may_see_jid(room, a->occ);
    for (const struct occupant *o = room->occupants; o; o = o->hh.next) {
        if (o->role != which || crowd_hidden(r->muc, o))
            continue;
        struct xml_node *item = xml_add(q, "item", NS_MUC_ADMIN);
        xml_set_attr(item, "affiliation", perm_affil_name(occupant_affiliation(room, o)));
        xml_set_attr(item, "role", perm_role_name(o->role));
        xml_set_attr(item, "nick", o->nick);
        /* §17.4 rule 5: role lists carry the full JID. */
        if ((see || a->affil >= AFFIL_ADMIN) && o->current)
            xml_set_attr(item, "jid", o->current->jid);
    }
    muc_send(r->muc, res);
    xml_unref(res);
}

static void admin_get(struct muc_req *r, struct room *room, const struct xml_node *query)
{
    struct actor a;
    actor_init(r, room, &a);
    const struct xml_node *item = xml_child(query, "item", NS_MUC_ADMIN);
    const char *role = item ? xml_attr(item, "role") : NULL;
    const char *affil = item ? xml_attr(item, "affiliation") : NULL;
    enum muc_role rv;
    enum muc_affil av;
    if (affil && !role && perm_affil_parse(affil, &av) == 0 && av != AFFIL_NONE) {
        bool may = av == AFFIL_MEMBER
                       ? perm_may_get_member_list(a.role, a.affil, room->cfg.get_member_list,
                                                  room->cfg.whois_anyone)
                       : perm_may_get_affil_list(a.role, a.affil, av, room->cfg.get_member_list);
        /* A private group (members-only, non-anonymous): its members see who
         * owns and runs it, as in Prosody; Conversations relies on the lists. */
        if (room->cfg.members_only && room->cfg.whois_anyone && a.affil >= AFFIL_MEMBER &&
            av != AFFIL_OUTCAST)
            may = true;
        if (!may)
            muc_bounce(r, "forbidden", "you may not see this list");
        else
            list_affiliation(r, room, av);
    } else if (role && !affil && perm_role_parse(role, &rv) == 0 && rv != ROLE_NONE) {
        if (!perm_may_get_role_list(a.role, a.affil, rv))
            muc_bounce(r, "forbidden", "you may not see this list");
        else
            list_role(r, room, rv, &a);
    } else {
        muc_bounce(r, "bad-request", "ask for one role or one affiliation");
    }
}

void admin_handle(struct muc_req *r, struct room *room, const struct xml_node *query)
{
    const char *type = stanza_type(r->st);
    if (strcmp(query->name, "query") != 0)
        muc_bounce(r, "bad-request", NULL);
    else if (!admin_rate_ok(r, room))
        return;
    else if (strcmp(type, "set") == 0)
        admin_set(r, room, query);
    else
        admin_get(r, room, query);
}
