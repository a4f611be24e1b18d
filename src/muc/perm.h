/* perm.h — XEP-0045 §5 roles, affiliations and who may do what to whom.
 *
 * Pure functions over the room's configuration and the parties' roles and
 * affiliations: no I/O, no allocation, no room state. Section numbers are
 * those of XEP-0045. Where the spec leaves a choice or contradicts itself we
 * do what Prosody 0.12 does and say so next to the function; where the spec
 * and Prosody disagree on a MUST, the spec wins. */
#ifndef CONFAB_MUC_PERM_H
#define CONFAB_MUC_PERM_H

#include <stdbool.h>

/* Ordered: a higher value has every privilege of a lower one (§5.1.1). */
enum muc_role { ROLE_NONE = 0, ROLE_VISITOR, ROLE_PARTICIPANT, ROLE_MODERATOR };
/* Ordered by rank (§5.2.1), so affiliations compare with < and >. */
enum muc_affil { AFFIL_OUTCAST = 0, AFFIL_NONE, AFFIL_MEMBER, AFFIL_ADMIN, AFFIL_OWNER };
/* muc#roomconfig_allowpm: "anyone", "participants", "moderators", "none". */
enum muc_pm { PM_ANYONE, PM_PARTICIPANTS, PM_MODERATORS, PM_NONE };

/* Role sets, as in muc#roomconfig_presencebroadcast and _getmemberlist. */
#define ROLE_BIT(r) (1u << (r))
/* Every role an occupant can have: the spec's default for both fields. */
#define PERM_ROLES_ALL \
    (ROLE_BIT(ROLE_VISITOR) | ROLE_BIT(ROLE_PARTICIPANT) | ROLE_BIT(ROLE_MODERATOR))

/* Wire names. The *_name functions return NULL for a value outside the enum;
 * the *_parse functions are case-sensitive, as XML attribute values are, and
 * return 0 or -EINVAL (unknown or NULL string; *out is then untouched). */
const char *perm_role_name(enum muc_role r);
int perm_role_parse(const char *s, enum muc_role *out);
const char *perm_affil_name(enum muc_affil a);
int perm_affil_parse(const char *s, enum muc_affil *out);
const char *perm_pm_name(enum muc_pm p);
int perm_pm_parse(const char *s, enum muc_pm *out);

/* §5.1.2: the role a user gets on entering. ROLE_NONE means entry is refused
 * (outcasts; non-members of a members-only room). */
enum muc_role perm_default_role(enum muc_affil a, bool moderated, bool members_only);

/* §5.1.1 privileges of occupants. Roles already reflect moderation (visitors
 * only exist where someone lacks voice), so no moderated flag is needed. */

/* Present in the room: receives messages and presence, may change its
 * availability and nickname (§5.1.1 rows 1–3, 5, 6). */
bool perm_is_occupant(enum muc_role r);
bool perm_may_send_groupchat(enum muc_role r);
/* muc#roomconfig_changesubject opens subject changes to participants, never
 * to visitors (§8.1; Prosody's subject.lib does the same). */
bool perm_may_change_subject(enum muc_role r, bool occupants_may_change_subject);
/* allowpm restricts the sender's role only; the recipient's is not checked. */
bool perm_may_send_pm(enum muc_role sender, enum muc_pm allowpm);
/* Mediated invitations (§7.8.2, §9.5). In a members-only room, admins and
 * owners always may, members only with allowinvites, whatever their role.
 * In other rooms any occupant may, visitors included (§5.1.1), and
 * allowinvites plays no part, as in Prosody. */
bool perm_may_invite(enum muc_role r, enum muc_affil a, bool allow_invites, bool members_only);
/* whois "anyone" (non-anonymous) or "moderators" (semi-anonymous), §7.2.3–4. */
bool perm_may_see_real_jid(enum muc_role viewer, bool whois_anyone);
/* §7.13: only a visitor has something to ask for. */
bool perm_may_request_voice(enum muc_role r);
/* Is presence from an occupant of this role broadcast? broadcast_roles is a
 * ROLE_BIT set; ROLE_NONE is never broadcast (pass the role before leaving). */
bool perm_presence_broadcast(enum muc_role subject_role, unsigned broadcast_roles);

/* §5.2.1 privileges of affiliations that concern no other user. */

/* "Register with Open Room": only the unaffiliated; members and up already
 * are (N/A in the table), outcasts may not. */
bool perm_may_register(enum muc_affil a);
bool perm_may_configure_room(enum muc_affil a);
bool perm_may_destroy_room(enum muc_affil a);

/* May the actor set the target occupant's role to new_role (kick = ROLE_NONE,
 * voice = participant/visitor, moderator status; §5.1.3, §8.2–8.5, §9.5–9.8)?
 * Returns NULL if so, else the stanza error condition to answer:
 *   "bad-request"    a value outside its enum;
 *   "forbidden"      the actor is not a moderator (§8), or is not an admin or
 *                    owner but tries to grant or revoke moderator status (§9);
 *   "item-not-found" the target is not in the room (target_role ROLE_NONE);
 *   "not-allowed"    the target is protected from this actor (§8.2, §8.4,
 *                    §8.5, §9.7).
 * A self-kick is allowed (§8.2 MAY deny it; Prosody does not); callers that
 * want to refuse it can answer "conflict" themselves. */
const char *perm_check_role_change(enum muc_role actor_role, enum muc_affil actor_affil,
                                   enum muc_role target_role, enum muc_affil target_affil,
                                   enum muc_role new_role);

/* May an actor with actor_affil change a bare JID's affiliation from
 * old_affil to new_affil (§9.1–9.4, §10.3–10.8)? actor_is_target: the actor
 * changes its own affiliation (old_affil is then its own). owners_left_after:
 * owners the room would have after the change. NULL, or:
 *   "bad-request" a value outside its enum;
 *   "forbidden"   the actor may not edit that list: not an admin or owner, or
 *                 an admin touching the admin or owner list (§9, §10.3–10.8);
 *   "not-allowed" an admin banning an admin or owner (§9.1, §9.2);
 *   "conflict"    banning oneself (§9.1), or the room would lose its last
 *                 owner (§10.4, §10.5). */
const char *perm_check_affil_change(enum muc_affil actor_affil, enum muc_affil old_affil,
                                    enum muc_affil new_affil, bool actor_is_target,
                                    unsigned owners_left_after);

/* May the actor retrieve the list of users with affiliation `list`
 * (AFFIL_OUTCAST §9.2, AFFIL_MEMBER §9.5, AFFIL_ADMIN §10.8, AFFIL_OWNER
 * §10.5)? The member list is open to admins and owners and to occupants whose
 * role is in getmemberlist_roles; the owner and admin lists to owners only.
 * AFFIL_NONE names no list: false. */
bool perm_may_get_affil_list(enum muc_role actor_role, enum muc_affil actor_affil,
                             enum muc_affil list, unsigned getmemberlist_roles);
/* The member-list decision including anonymity, for the muc#admin handler:
 * in a non-anonymous room any member may too, even from outside (§9.5 note);
 * in a semi-anonymous room, of the configured roles only moderators, who see
 * real JIDs anyway (§5.2.1 ***: the list carries JIDs). */
bool perm_may_get_member_list(enum muc_role actor_role, enum muc_affil actor_affil,
                              unsigned getmemberlist_roles, bool whois_anyone);
/* May the actor retrieve the occupants with role `list`? The moderator list
 * is for admins and owners (§9.8), the voice list (participants, §8.5) and
 * the visitor list for moderators. ROLE_NONE names no list: false. */
bool perm_may_get_role_list(enum muc_role actor_role, enum muc_affil actor_affil,
                            enum muc_role list);

/* The role of an occupant, currently `current`, once its affiliation becomes
 * new_affil (§5.1.3 note, §9.3, §9.4, §10.3–10.7). ROLE_NONE: it must leave
 * (banned: 301; no longer a member of a members-only room: 321). A role the
 * new affiliation implies is gained; losing an affiliation costs no role,
 * since without the previous affiliation a downgrade cannot be told from an
 * upgrade (spec: "left up to the implementation"). Prefer the _from variant. */
enum muc_role perm_role_after_affil_change(enum muc_role current, enum muc_affil new_affil,
                                           bool moderated, bool members_only);
/* The same knowing the previous affiliation, as Prosody does it: on a
 * downgrade the occupant takes the new affiliation's default role (an admin
 * made member becomes a participant, "typically" per §10.7), on an upgrade it
 * keeps a higher role it was granted (a moderator made member stays one). */
enum muc_role perm_role_after_affil_change_from(enum muc_role current, enum muc_affil old_affil,
                                                enum muc_affil new_affil, bool moderated,
                                                bool members_only);

#endif
