/* §7.8 mediated invitations, §7.13/§8.6 voice requests, §7.10 nick registration. */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "compliance.h"
#include "form.h"
#include "jid.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

/* ---- pending invitations: what makes a decline relayable ---- */

/* Bounded per room, and forgotten after a day: a decline answers a recent
 * invitation or nothing. */
#define INVITE_MAX_PENDING 200
#define INVITE_TTL_MS (INT64_C(24) * 3600 * 1000)

static void invitation_free(struct room *room, struct invitation *inv)
{
    HASH_DEL(room->invitations, inv);
    free(inv->invitee);
    free(inv->inviter);
    free(inv);
}

void invite_forget_all(struct room *room)
{
    struct invitation *inv, *tmp;
    HASH_ITER(hh, room->invitations, inv, tmp)
        invitation_free(room, inv);
}

/* The oldest come first: drop the expired, then the oldest while more than
 * keep are pending. */
static void invitations_prune(struct room *room, int64_t now, unsigned keep)
{
    struct invitation *inv, *tmp;
    HASH_ITER(hh, room->invitations, inv, tmp) {
        if (inv->expires_ms > now && HASH_COUNT(room->invitations) <= keep)
            break;
        invitation_free(room, inv);
    }
}

static void invitation_add(struct room *room, const char *invitee, const char *inviter,
                           int64_t now)
{
    struct invitation *inv = NULL;
    HASH_FIND_STR(room->invitations, invitee, inv);
    if (inv)
        invitation_free(room, inv);
    invitations_prune(room, now, INVITE_MAX_PENDING - 1);
    inv = xcalloc(1, sizeof *inv);
    inv->invitee = xstrdup(invitee);
    inv->inviter = xstrdup(inviter);
    inv->expires_ms = now + INVITE_TTL_MS;
    HASH_ADD_KEYPTR(hh, room->invitations, inv->invitee, strlen(inv->invitee), inv);
}

/* The pending invitation of bare JID invitee, or NULL. */
static struct invitation *invitation_find(struct room *room, const char *invitee, int64_t now)
{
    struct invitation *inv = NULL;
    invitations_prune(room, now, INVITE_MAX_PENDING);
    HASH_FIND_STR(room->invitations, invitee, inv);
    return inv;
}

/* Invitations are messages the room sends in its own name: the inviter's
 * message bucket pays for them, the room's for senders outside it. */
static bool relay_rate_ok(struct muc_req *r, struct room *room, struct muc_session *s)
{
    const struct muc_limits *l = &r->muc->lim;
    struct token_bucket *b = s ? &s->occ->msg_bucket : &room->relay_bucket;
    if (occupant_rate_ok(b, l->msg_rate, l->msg_burst, r->now))
        return true;
    muc_bounce_type(r, "resource-constraint", "wait", "you are sending invitations too fast");
    return false;
}

/* ---- invitations ---- */

static char *child_text(const struct xml_node *n, const char *name, const char *ns)
{
    const struct xml_node *c = xml_child(n, name, ns);
    return c ? xml_text(c) : NULL;
}

/* The invitation keeps the inviter's stanza id (clients match receipts and
 * errors by it) and always carries a <reason/>, empty when none was given. */
static void send_invite(struct muc *m, struct room *room, const char *invitee,
                        const char *inviter, const char *reason, const char *id)
{
    struct xml_node *msg = stanza_new("message", room->jid, invitee, NULL, id);
    char *body = xasprintf("%s invited you to the room %s%s%s%s", inviter, room->jid,
                           reason && *reason ? " (" : "", reason ? reason : "",
                           reason && *reason ? ")" : "");
    xml_add_text_child(msg, "body", NS_COMPONENT, body);
    free(body);
    struct xml_node *x = xml_add(msg, "x", NS_MUC_USER);
    struct xml_node *inv = xml_add(x, "invite", NS_MUC_USER);
    xml_set_attr(inv, "from", inviter);
    xml_add_text_child(inv, "reason", NS_MUC_USER, reason);
    if (room->cfg.password_protected && room->cfg.password && *room->cfg.password)
        xml_add_text_child(x, "password", NS_MUC_USER, room->cfg.password);
    /* XEP-0249 for clients that only understand direct invitations. */
    struct xml_node *d = xml_add(msg, "x", NS_CONFERENCE);
    xml_set_attr(d, "jid", room->jid);
    if (reason && *reason)
        xml_set_attr(d, "reason", reason);
    if (room->cfg.password_protected && room->cfg.password && *room->cfg.password)
        xml_set_attr(d, "password", room->cfg.password);
    muc_send(m, msg);
    xml_unref(msg);
}

/* The category's invitations = no (Lync's per-category setting). */
static bool invitations_refused(struct muc_req *r, const struct room *room)
{
    const struct category *c = wall_category(r->muc, room->category_id);
    if (!c || c->invitations || muc_is_admin(r->muc, r->from_bare))
        return false;
    char *text = xasprintf("invitations are disabled in the rooms of category %s", c->name);
    muc_bounce(r, "not-allowed", text);
    free(text);
    return true;
}

static void invite(struct muc_req *r, struct room *room, const struct xml_node *inv)
{
    if (invitations_refused(r, room))
        return;
    struct muc_session *s = session_by_jid(room, r->from_full);
    enum muc_affil affil = room_affiliation(room, r->from_bare);
    enum muc_role role = s ? s->occ->role : ROLE_NONE;
    if (!s && affil < AFFIL_ADMIN) {
        muc_bounce(r, "not-acceptable", "only occupants may invite");
        return;
    }
    if (!perm_may_invite(role, affil, room->cfg.allow_invites, room->cfg.members_only) &&
        affil < AFFIL_ADMIN) {
        muc_bounce(r, "forbidden", "you may not invite others to this room");
        return;
    }
    if (!relay_rate_ok(r, room, s))
        return;
    struct jid to = { 0 };
    const char *t = xml_attr(inv, "to");
    if (!t || jid_parse(&to, t) < 0) {
        muc_bounce(r, "jid-malformed", "the invitee's address is not a JID");
        return;
    }
    char *invitee = jid_format(&to, false);
    char *bare = jid_format(&to, true);
    if (room_affiliation(room, bare) == AFFIL_OUTCAST) {
        muc_bounce(r, "forbidden", "the invitee is banned from this room");
    } else if (wall_denies(r->muc, room->category_id, bare)) {
        /* Refused, not dropped: the inviter knows the room, and an invitation
         * silently lost would look like one ignored. The text names no list. */
        muc_bounce(r, "not-acceptable",
                   "the invitee may not enter rooms of this category (ethical wall)");
    } else {
        /* §9.3: in a members-only room the invitation makes the invitee a member. */
        if (room->cfg.members_only && room_affiliation(room, bare) == AFFIL_NONE)
            admin_apply_affiliation(r->muc, room, bare, AFFIL_MEMBER, NULL, NULL, false);
        char *reason = child_text(inv, "reason", NS_MUC_USER);
        compliance_invite(r, room, s ? s->occ : NULL, invitee, reason);
        /* §7.8.2: the inviter's bare JID where the room shows real JIDs,
         * its occupant JID where it does not. */
        char *from = s && !room->cfg.whois_anyone ? xasprintf("%s/%s", room->jid, s->occ->nick)
                                                  : xstrdup(r->from_bare);
        send_invite(r->muc, room, invitee, from, reason, stanza_id(r->st));
        invitation_add(room, bare, r->from_full, r->now);
        free(from);
        free(reason);
    }
    free(bare);
    free(invitee);
    jid_clear(&to);
}

/* A decline goes to whoever invited the decliner (the recorded real JID,
 * whatever 'to' says): the room relays answers, not messages to anyone. */
static void decline(struct muc_req *r, struct room *room, const struct xml_node *dec)
{
    struct jid to = { 0 };
    const char *t = xml_attr(dec, "to");
    if (!t || jid_parse(&to, t) < 0) {
        muc_bounce(r, "jid-malformed", "the inviter's address is not a JID");
        return;
    }
    jid_clear(&to);
    if (!relay_rate_ok(r, room, NULL))
        return;
    struct invitation *inv = invitation_find(room, r->from_bare, r->now);
    if (!inv) {
        muc_bounce(r, "forbidden", "you have no pending invitation to this room");
        return;
    }
    struct xml_node *msg = stanza_new("message", room->jid, inv->inviter, NULL, NULL);
    struct xml_node *d = xml_add(xml_add(msg, "x", NS_MUC_USER), "decline", NS_MUC_USER);
    xml_set_attr(d, "from", r->from_bare);
    char *reason = child_text(dec, "reason", NS_MUC_USER);
    if (reason && *reason)
        xml_add_text_child(d, "reason", NS_MUC_USER, reason);
    compliance_decline(r, room, inv->inviter, reason);
    muc_send(r->muc, msg);
    invitation_free(room, inv);
    xml_unref(msg);
    free(reason);
}

void invite_handle(struct muc_req *r, struct room *room, const struct xml_node *x)
{
    const struct xml_node *inv = xml_child(x, "invite", NS_MUC_USER);
    if (inv) {
        for (; inv; inv = xml_next(inv))
            if (strcmp(inv->name, "invite") == 0)
                invite(r, room, inv);
        return;
    }
    decline(r, room, xml_child(x, "decline", NS_MUC_USER));
}

/* ---- voice requests ---- */

static void ask_moderators(struct muc *m, struct room *room, const struct occupant *occ)
{
    struct xml_node *msg = stanza_new("message", room->jid, NULL, NULL, NULL);
    struct xml_node *x = form_new("form", NS_MUC_REQUEST, "Voice request",
                                  "To approve this request for voice, select the "
                                  "\"Grant voice to this person?\" checkbox and submit.");
    /* A list-single offers what it holds; voice is the only role asked for here. */
    struct xml_node *role = form_add_field(x, "list-single", "muc#role", "Requested role",
                                           "participant");
    form_add_option(role, "Participant", "participant");
    form_add_field(x, "jid-single", "muc#jid", "User ID", occ->current ? occ->current->jid
                                                                      : occ->bare_jid);
    form_add_field(x, "text-single", "muc#roomnick", "Room Nickname", occ->nick);
    form_add_bool(x, "muc#request_allow", "Grant voice to this person?", false);
    xml_append(msg, x);
    for (struct muc_session *s = room->sessions; s; s = s->hh.next) {
        if (s->occ->role != ROLE_MODERATOR)
            continue;
        xml_set_attr(msg, "to", s->jid);
        muc_send(m, msg);
    }
    xml_unref(msg);
}

static void approve(struct muc_req *r, struct room *room, struct occupant *mod,
                    const struct form *f)
{
    bool allow = false;
    if (form_bool(f, "muc#request_allow", &allow) < 0 || !allow)
        return;
    const char *nick = form_value(f, "muc#roomnick");
    struct occupant *t = nick ? occupant_by_nick(room, nick) : NULL;
    if (!t || t->role != ROLE_VISITOR)
        return;
    if (perm_check_role_change(mod->role, occupant_affiliation(room, mod), t->role,
                               occupant_affiliation(room, t), ROLE_PARTICIPANT))
        return;
    t->role = ROLE_PARTICIPANT;
    presence_broadcast(r->muc, room, t, &(struct pres_opts){ .actor_nick = mod->nick });
}

void voice_request_handle(struct muc_req *r, struct room *room, const struct xml_node *x)
{
    struct muc_session *s = session_by_jid(room, r->from_full);
    struct form f;
    if (!s) {
        muc_bounce(r, "not-acceptable", "only occupants may request voice");
        return;
    }
    if (form_parse(x, &f) < 0) {
        muc_bounce(r, "bad-request", "malformed voice request");
        return;
    }
    if (s->occ->role == ROLE_MODERATOR && form_get(&f, "muc#request_allow"))
        approve(r, room, s->occ, &f);
    else if (perm_may_request_voice(s->occ->role))
        ask_moderators(r->muc, room, s->occ);
    else
        muc_bounce(r, "not-allowed", "you already have voice");
    form_free(&f);
}

/* ---- nick registration (§7.10) ---- */

static void register_form(struct muc_req *r, struct room *room)
{
    const struct affiliation *a = room_affiliation_entry(room, r->from_bare);
    struct xml_node *res = stanza_iq_result(r->st);
    struct xml_node *q = xml_add(res, "query", NS_REGISTER);
    if (a && a->nick) {
        xml_add(q, "registered", NS_REGISTER);
        xml_add_text_child(q, "username", NS_REGISTER, a->nick);
    } else {
        /* The form alone, as Prosody sends it (its tests match the query
         * strictly): the field's label says what to enter. */
        struct xml_node *x = form_new("form", NS_MUC_REGISTER, NULL, NULL);
        struct xml_node *f = form_add_field(x, "text-single", "muc#register_roomnick",
                                            "Nickname", NULL);
        xml_add(f, "required", NS_DATA_FORMS);
        xml_append(q, x);
    }
    muc_send(r->muc, res);
    xml_unref(res);
}

static void set_nick(struct affiliation *a, const char *nick)
{
    free(a->nick);
    a->nick = nick ? xstrdup(nick) : NULL;
}

static void register_submit(struct muc_req *r, struct room *room, const struct xml_node *q)
{
    enum muc_affil affil = room_affiliation(room, r->from_bare);
    if (xml_child(q, "remove", NS_REGISTER)) {
        struct affiliation *a = room_affiliation_entry(room, r->from_bare);
        if (a) {
            set_nick(a, NULL);
            room_save_affiliation(room, r->from_bare);
        }
        if (affil == AFFIL_MEMBER)
            room_set_affiliation(room, r->from_bare, AFFIL_NONE, NULL);
    } else {
        const struct xml_node *x = xml_child(q, "x", NS_DATA_FORMS);
        struct form f;
        if (!x || form_parse(x, &f) < 0) {
            muc_bounce(r, "bad-request", "submit the registration form");
            return;
        }
        char *nick = NULL;
        const char *want = form_value(&f, "muc#register_roomnick");
        int rc = want ? jid_prep_resource(want, &nick) : -EINVAL;
        form_free(&f);
        if (rc < 0 || !*nick) {
            free(nick);
            muc_bounce(r, "not-acceptable", "that nickname cannot be used");
            return;
        }
        const char *holder = room_nick_owner(room, nick);
        struct occupant *o = occupant_by_nick(room, nick);
        if ((holder && strcmp(holder, r->from_bare) != 0) ||
            (o && strcmp(o->bare_jid, r->from_bare) != 0) ||
            nick_taken_by_other(room, nick, r->from_bare)) {
            free(nick);
            muc_bounce(r, "conflict", "that nickname is taken");
            return;
        }
        if (affil < AFFIL_MEMBER)
            room_set_affiliation(room, r->from_bare, AFFIL_MEMBER, NULL);
        set_nick(room_affiliation_entry(room, r->from_bare), nick);
        room_save_affiliation(room, r->from_bare);
        free(nick);
    }
    /* §7.10: occupants see the new affiliation, before the result (Prosody's
     * order); a registrant who is inside is shown again even when only the
     * reserved nick changed. */
    enum muc_affil now = room_affiliation(room, r->from_bare);
    struct muc_session *s = session_by_jid(room, r->from_full);
    if (now != affil) {
        room_set_affiliation(room, r->from_bare, affil, NULL);
        admin_apply_affiliation(r->muc, room, r->from_bare, now, NULL, NULL, false);
    } else if (s) {
        presence_broadcast(r->muc, room, s->occ, &(struct pres_opts){ 0 });
    }
    struct xml_node *res = stanza_iq_result(r->st);
    muc_send(r->muc, res);
    xml_unref(res);
    room_reap(r->muc, room);
}

void register_handle(struct muc_req *r, struct room *room, const struct xml_node *query)
{
    enum muc_affil affil = room_affiliation(room, r->from_bare);
    /* §7.10: whoever may not register is told not-allowed. */
    if (affil == AFFIL_OUTCAST || (room->cfg.members_only && affil < AFFIL_MEMBER)) {
        muc_bounce(r, "not-allowed", "you may not register a nickname in this room");
        return;
    }
    /* Registering makes a member: by default only someone already affiliated
     * may (Prosody's allow_unaffiliated_register; [muc] register_unaffiliated). */
    if (affil == AFFIL_NONE && !r->muc->lim.register_unaffiliated) {
        muc_bounce(r, "registration-required",
                   "only members may register a nickname in this room");
        return;
    }
    if (strcmp(stanza_type(r->st), "get") == 0)
        register_form(r, room);
    else
        register_submit(r, room, query);
}
