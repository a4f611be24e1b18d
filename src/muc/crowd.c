/* crowd.c — who sees whose presence: presencebroadcast (XEP-0045 §15.5.3), the service's presence_limit (Lync's ParticipantUpdateLimit) and hidden service admins (Cisco). */
#include "compat.h"

#include "muc.h"

bool crowd_hidden(const struct muc *m, const struct occupant *occ)
{
    return m->lim.hidden_admins && muc_is_admin(m, occ->bare_jid);
}

/* Above the limit a join would go to every occupant and every occupant's to
 * the newcomer: the square of the room. Lync stops roster updates there;
 * moderators keep the full picture to run the room. */
bool crowd_large(const struct muc *m, const struct room *room)
{
    return m->lim.presence_limit && room->noccupants > m->lim.presence_limit;
}

bool crowd_shows(const struct muc *m, const struct room *room, const struct occupant *subject,
                 const struct occupant *viewer)
{
    if (subject == viewer)
        return true;
    if (!perm_presence_broadcast(subject->role, room->cfg.presence_broadcast) ||
        crowd_hidden(m, subject))
        return false;
    return !crowd_large(m, room) || subject->role == ROLE_MODERATOR ||
           viewer->role == ROLE_MODERATOR;
}

unsigned crowd_visible_count(const struct muc *m, const struct room *room)
{
    unsigned n = 0;
    for (const struct occupant *o = room->occupants; o; o = o->hh.next)
        n += !crowd_hidden(m, o);
    return n;
}
