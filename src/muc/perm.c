/* perm.c — XEP-0045 §5 privileges: who may do what to whom (perm.h). */
#include "compat.h"

#include <string.h>

#include "perm.h"

static const char *const role_names[] = { "none", "visitor", "participant", "moderator" };
static const char *const affil_names[] = { "outcast", "none", "member", "admin", "owner" };
static const char *const pm_names[] = { "anyone", "participants", "moderators", "none" };

static bool role_ok(enum muc_role r) { return (unsigned)r < ARRAY_SIZE(role_names); }
static bool affil_ok(enum muc_affil a) { return (unsigned)a < ARRAY_SIZE(affil_names); }

static int lookup(const char *const *names, size_t n, const char *s)
{
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -EINVAL;
}

const char *perm_role_name(enum muc_role r) { return role_ok(r) ? role_names[r] : NULL; }
const char *perm_affil_name(enum muc_affil a) { return affil_ok(a) ? affil_names[a] : NULL; }

const char *perm_pm_name(enum muc_pm p)
{
    return (unsigned)p < ARRAY_SIZE(pm_names) ? pm_names[p] : NULL;
}

int perm_role_parse(const char *s, enum muc_role *out)
{
    int i = lookup(role_names, ARRAY_SIZE(role_names), s);
    if (i < 0)
        return i;
    *out = (enum muc_role)i;
    return 0;
}

int perm_affil_parse(const char *s, enum muc_affil *out)
{
    int i = lookup(affil_names, ARRAY_SIZE(affil_names), s);
    if (i < 0)
        return i;
    *out = (enum muc_affil)i;
    return 0;
}

int perm_pm_parse(const char *s, enum muc_pm *out)
{
    int i = lookup(pm_names, ARRAY_SIZE(pm_names), s);
    if (i < 0)
        return i;
    *out = (enum muc_pm)i;
    return 0;
}

enum muc_role perm_default_role(enum muc_affil a, bool moderated, bool members_only)
{
    switch (a) {
    case AFFIL_OWNER:
    case AFFIL_ADMIN:
        return ROLE_MODERATOR;
    case AFFIL_MEMBER:
        return ROLE_PARTICIPANT;
    case AFFIL_NONE:
        if (members_only)
            return ROLE_NONE;
        return moderated ? ROLE_VISITOR : ROLE_PARTICIPANT;
    case AFFIL_OUTCAST:
    default:
        return ROLE_NONE;
    }
}

bool perm_is_occupant(enum muc_role r) { return role_ok(r) && r >= ROLE_VISITOR; }

bool perm_may_send_groupchat(enum muc_role r) { return role_ok(r) && r >= ROLE_PARTICIPANT; }

bool perm_may_change_subject(enum muc_role r, bool occupants_may_change_subject)
{
    if (!role_ok(r))
        return false;
    if (r == ROLE_MODERATOR)
        return true;
    return occupants_may_change_subject && r == ROLE_PARTICIPANT;
}

bool perm_may_send_pm(enum muc_role sender, enum muc_pm allowpm)
{
    if (!perm_is_occupant(sender))
        return false;
    switch (allowpm) {
    case PM_ANYONE:
        return true;
    case PM_PARTICIPANTS:
        return sender >= ROLE_PARTICIPANT;
    case PM_MODERATORS:
        return sender == ROLE_MODERATOR;
    case PM_NONE:
    default:
        return false;
    }
}

bool perm_may_invite(enum muc_role r, enum muc_affil a, bool allow_invites, bool members_only)
{
    if (!perm_is_occupant(r) || !affil_ok(a))
        return false;
    /* An invitation into a members-only room is a way onto the member list,
     * so it takes the right to edit that list unless the owner opened it to
     * members (§9.5); the occupant's role does not enter into it. */
    if (members_only)
        return a >= AFFIL_ADMIN || (allow_invites && a >= AFFIL_MEMBER);
    return true;
}

bool perm_may_see_real_jid(enum muc_role viewer, bool whois_anyone)
{
    if (!perm_is_occupant(viewer))
        return false;
    return whois_anyone || viewer == ROLE_MODERATOR;
}

bool perm_may_request_voice(enum muc_role r) { return r == ROLE_VISITOR; }

bool perm_presence_broadcast(enum muc_role subject_role, unsigned broadcast_roles)
{
    return perm_is_occupant(subject_role) && (broadcast_roles & ROLE_BIT(subject_role));
}

bool perm_may_register(enum muc_affil a) { return a == AFFIL_NONE; }
bool perm_may_configure_room(enum muc_affil a) { return a == AFFIL_OWNER; }
bool perm_may_destroy_room(enum muc_affil a) { return a == AFFIL_OWNER; }

/* §8.4: "at or above the moderator's level", and never from an admin or
 * owner. §8.5 says only "higher"; the stricter wording satisfies both. */
static bool voice_protected(enum muc_affil actor, enum muc_affil target)
{
    return target >= AFFIL_ADMIN || target >= actor;
}

/* §9.7: an admin may revoke moderator status only from members and the
 * unaffiliated. Owners may from admins and owners (§5.1.3 footnote only bars
 * the lower from acting on the higher; Prosody agrees). */
static bool moderator_protected(enum muc_affil actor, enum muc_affil target)
{
    return target >= AFFIL_ADMIN && actor < AFFIL_OWNER;
}

const char *perm_check_role_change(enum muc_role actor_role, enum muc_affil actor_affil,
                                   enum muc_role target_role, enum muc_affil target_affil,
                                   enum muc_role new_role)
{
    if (!role_ok(actor_role) || !role_ok(target_role) || !role_ok(new_role) ||
        !affil_ok(actor_affil) || !affil_ok(target_affil))
        return "bad-request";
    if (actor_role != ROLE_MODERATOR)
        return "forbidden";
    if (target_role == ROLE_NONE)
        return "item-not-found";
    /* §8.2 (kick), §5.1.3 footnote: nobody acts on a higher affiliation. */
    if (target_affil > actor_affil)
        return "not-allowed";
    bool revokes_voice = new_role == ROLE_VISITOR && target_role >= ROLE_PARTICIPANT;
    if (revokes_voice && voice_protected(actor_affil, target_affil))
        return "not-allowed";
    if (target_role == ROLE_MODERATOR || new_role == ROLE_MODERATOR) {
        if (actor_affil < AFFIL_ADMIN)
            /* Kicking is a moderator's business, only this target is out of
             * reach (§5.1.3 chart); moderator status is an admin's (§9). */
            return new_role == ROLE_NONE ? "not-allowed" : "forbidden";
        bool demotes = target_role == ROLE_MODERATOR &&
                       (new_role == ROLE_PARTICIPANT || new_role == ROLE_VISITOR);
        if (demotes && moderator_protected(actor_affil, target_affil))
            return "not-allowed";
    }
    return NULL;
}

/* What an admin (not an owner) may do: member list and ban list only. */
static const char *admin_affil_change(enum muc_affil old_affil, enum muc_affil new_affil)
{
    if (new_affil == AFFIL_OUTCAST && old_affil >= AFFIL_ADMIN)
        return "not-allowed";
    if (old_affil >= AFFIL_ADMIN || new_affil >= AFFIL_ADMIN)
        return "forbidden";
    return NULL;
}

const char *perm_check_affil_change(enum muc_affil actor_affil, enum muc_affil old_affil,
                                    enum muc_affil new_affil, bool actor_is_target,
                                    unsigned owners_left_after)
{
    if (!affil_ok(actor_affil) || !affil_ok(old_affil) || !affil_ok(new_affil))
        return "bad-request";
    if (actor_affil < AFFIL_ADMIN)
        return "forbidden";
    /* §9.1 MUST, even with other owners left (Prosody lets such an owner
     * ban itself; the spec wins). */
    if (actor_is_target && new_affil == AFFIL_OUTCAST)
        return "conflict";
    if (actor_affil == AFFIL_ADMIN) {
        const char *err = admin_affil_change(old_affil, new_affil);
        if (err)
            return err;
    }
    if (old_affil == AFFIL_OWNER && new_affil != AFFIL_OWNER && owners_left_after == 0)
        return "conflict";
    return NULL;
}

bool perm_may_get_affil_list(enum muc_role actor_role, enum muc_affil actor_affil,
                             enum muc_affil list, unsigned getmemberlist_roles)
{
    if (!role_ok(actor_role) || !affil_ok(actor_affil) || actor_affil == AFFIL_OUTCAST)
        return false;
    switch (list) {
    case AFFIL_OWNER:
    case AFFIL_ADMIN:
        /* §10.5, §10.8: forbidden to non-owners in semi-anonymous rooms, a
         * MAY in non-anonymous ones that we do not take (Prosody shows an
         * admin the admin list). */
        return actor_affil == AFFIL_OWNER;
    case AFFIL_OUTCAST:
        return actor_affil >= AFFIL_ADMIN;
    case AFFIL_MEMBER:
        return actor_affil >= AFFIL_ADMIN ||
               (perm_is_occupant(actor_role) && (getmemberlist_roles & ROLE_BIT(actor_role)));
    case AFFIL_NONE:
    default:
        return false;
    }
}

bool perm_may_get_member_list(enum muc_role actor_role, enum muc_affil actor_affil,
                              unsigned getmemberlist_roles, bool whois_anyone)
{
    /* §9.5 note: in a non-anonymous room any member, even outside it. Else
     * the room's muc#roomconfig_getmemberlist decides, whatever the
     * anonymity: the owner's form is what clients show and users rely on. */
    if (whois_anyone && affil_ok(actor_affil) && actor_affil >= AFFIL_MEMBER)
        return true;
    return perm_may_get_affil_list(actor_role, actor_affil, AFFIL_MEMBER, getmemberlist_roles);
}

bool perm_may_get_role_list(enum muc_role actor_role, enum muc_affil actor_affil,
                            enum muc_role list)
{
    if (!role_ok(actor_role) || !affil_ok(actor_affil))
        return false;
    switch (list) {
    case ROLE_MODERATOR:
        /* §9.8 is an admin use case: the affiliation decides, not presence. */
        return actor_affil >= AFFIL_ADMIN;
    case ROLE_PARTICIPANT:
    case ROLE_VISITOR:
        /* §8: only a moderator, i.e. someone in the room with that role;
         * Prosody would also serve an admin who is not in the room. */
        return actor_role == ROLE_MODERATOR;
    case ROLE_NONE:
    default:
        return false;
    }
}

enum muc_role perm_role_after_affil_change(enum muc_role current, enum muc_affil new_affil,
                                           bool moderated, bool members_only)
{
    enum muc_role implied = perm_default_role(new_affil, moderated, members_only);
    if (!perm_is_occupant(current) || implied == ROLE_NONE)
        return ROLE_NONE;
    return implied > current ? implied : current;
}

enum muc_role perm_role_after_affil_change_from(enum muc_role current, enum muc_affil old_affil,
                                                enum muc_affil new_affil, bool moderated,
                                                bool members_only)
{
    enum muc_role kept =
        perm_role_after_affil_change(current, new_affil, moderated, members_only);
    if (kept == ROLE_NONE || new_affil >= old_affil)
        return kept;
    return perm_default_role(new_affil, moderated, members_only);
}
