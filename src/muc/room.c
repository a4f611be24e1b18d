/* room.c — room lifecycle (XEP-0045 §10.1, §10.9), configuration defaults, affiliations, store writes. */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "compliance.h"
#include "mem.h"
#include "muc.h"

struct room *room_find(struct muc *m, const char *jid)
{
    struct room *room = NULL;
    HASH_FIND_STR(m->rooms, jid, room);
    return room;
}

void room_config_defaults(const struct muc *m, struct room_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->name = xstrdup_keep("");
    cfg->desc = xstrdup_keep("");
    cfg->lang = xstrdup_keep("");
    cfg->password = xstrdup_keep("");
    cfg->persistent = m->lim.persistent_default;
    cfg->public_list = true;
    cfg->allow_invites = false;
    cfg->allow_pm = PM_ANYONE;
    cfg->change_subject = false;
    cfg->whois_anyone = false;
    cfg->logging = m->lim.log_by_default;
    cfg->presence_broadcast = ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_PARTICIPANT) |
                              ROLE_BIT(ROLE_VISITOR);
    /* Moderators only: the list names real JIDs, which a semi-anonymous room
     * (the default) hides from participants (CVE-2021-37601 in Prosody). An
     * owner who ticks participants is obeyed; in a non-anonymous room members
     * read it anyway (§9.5 note, perm.c). */
    cfg->get_member_list = ROLE_BIT(ROLE_MODERATOR);
    cfg->history_length = m->lim.default_history;
}

void room_config_clear(struct room_config *cfg)
{
    free(cfg->name);
    free(cfg->desc);
    free(cfg->lang);
    free(cfg->password);
    memset(cfg, 0, sizeof *cfg);
}

struct room *room_create(struct muc *m, const char *jid, const char *node, const char *creator,
                         int64_t now)
{
    struct room *room = xcalloc_keep(1, sizeof *room);
    room->jid = xstrdup_keep(jid);
    room->node = xstrdup_keep(node);
    room->creator = xstrdup_keep(creator);
    room->created_ms = now;
    room->locked = true;
    room->muc = m;
    room->category_id = CATEGORY_DEFAULT;
    room_config_defaults(m, &room->cfg);
    svcpolicy_new_room(m, room);
    history_init(&room->history, room->cfg.history_length);
    HASH_ADD_KEYPTR(hh, m->rooms, room->jid, strlen(room->jid), room);
    m->nrooms++;
    /* The row first: affiliations and messages refer to it. */
    room_save(room);
    room_set_affiliation(room, creator, AFFIL_OWNER, NULL);
    return room;
}

void room_save(struct room *room)
{
    const struct muc_store *s = room->muc->store;
    s->save_room(s->st, room);
}

void room_save_affiliation(struct room *room, const char *jid)
{
    const struct muc_store *s = room->muc->store;
    const struct affiliation *a = room_affiliation_entry(room, jid);
    s->save_affiliation(s->st, room, jid, a ? a->affil : AFFIL_NONE, a ? a->nick : NULL,
                        a ? a->reason : NULL);
}

struct room *room_from_store(struct muc *m, const char *jid, struct store_room *rec)
{
    struct room *room = xcalloc_keep(1, sizeof *room);
    room->muc = m;
    room->jid = xstrdup_keep(jid);
    const char *at = strchr(jid, '@');
    room->node = xstrndup(jid, at ? (size_t)(at - jid) : strlen(jid));
    room->creator = xstrdup_keep(rec->creator ? rec->creator : "");
    room->created_ms = rec->created_ms;
    room->locked = rec->locked;
    room->category_id = rec->category_id > 0 ? rec->category_id : CATEGORY_DEFAULT;
    /* The record's configuration moves into the room. */
    room->cfg = *rec->cfg;
    memset(rec->cfg, 0, sizeof *rec->cfg);
    room->subject = rec->subject;
    room->subject_from = rec->subject_from;
    room->subject_ms = rec->subject_ms;
    rec->subject = rec->subject_from = NULL;
    room->last_seq = rec->last_seq;
    vcard_from_store(room, rec);
    for (size_t i = 0; i < rec->naffils; i++) {
        struct store_affil *sa = &rec->affils[i];
        struct affiliation *a = xcalloc_keep(1, sizeof *a);
        a->jid = sa->jid;
        a->affil = sa->affil;
        a->nick = sa->nick;
        a->reason = sa->reason;
        sa->jid = sa->nick = sa->reason = NULL;
        HASH_ADD_KEYPTR(hh, room->affiliations, a->jid, strlen(a->jid), a);
    }
    unsigned cap = room->cfg.history_length < m->lim.max_history ? room->cfg.history_length
                                                                  : m->lim.max_history;
    history_init(&room->history, cap);
    for (size_t i = 0; i < rec->nrecent; i++)
        history_push_from(&room->history, rec->recent[i].seq, rec->recent[i].ts_ms,
                          rec->recent[i].xml, rec->recent[i].xml_len, rec->recent[i].sender_jid,
                          rec->recent[i].nick, true);
    HASH_ADD_KEYPTR(hh, m->rooms, room->jid, strlen(room->jid), room);
    m->nrooms++;
    return room;
}

void room_free(struct room *room)
{
    struct occupant *o, *otmp;
    HASH_ITER(hh, room->occupants, o, otmp)
        occupant_remove(room, o);
    struct affiliation *a, *atmp;
    HASH_ITER(hh, room->affiliations, a, atmp) {
        HASH_DEL(room->affiliations, a);
        FREE_ALL(a->jid, a->nick, a->reason, a);
    }
    room_config_clear(&room->cfg);
    history_free(&room->history);
    vcard_clear(room);
    invite_forget_all(room);
    FREE_ALL(room->recipients, room->subject, room->subject_from, room->creator,
             room->node, room->jid, room);
}

void room_destroy(struct muc *m, struct room *room, const char *venue, const char *reason)
{
    /* A destroyed persistent room keeps its name reserved: later joins learn
     * where the discussion moved (§10.9). */
    if (room->cfg.persistent) {
        struct tombstone *t = NULL;
        HASH_FIND_STR(m->tombstones, room->jid, t);
        if (!t) {
            t = xcalloc(1, sizeof *t);
            t->jid = xstrdup(room->jid);
            HASH_ADD_KEYPTR(hh, m->tombstones, t->jid, strlen(t->jid), t);
        }
        free(t->venue);
        free(t->reason);
        t->venue = venue ? xstrdup(venue) : NULL;
        t->reason = reason ? xstrdup(reason) : NULL;
    }
    m->store->delete_room(m->store->st, room, room->cfg.persistent, venue, reason);
    HASH_DEL(m->rooms, room);
    m->nrooms--;
    room_free(room);
}

struct affiliation *room_affiliation_entry(const struct room *room, const char *bare_jid)
{
    struct affiliation *a = NULL;
    HASH_FIND_STR(room->affiliations, bare_jid, a);
    return a;
}

enum muc_affil room_affiliation(const struct room *room, const char *bare_jid)
{
    /* §2: a service administrator has owner power in every room. */
    if (room->muc->nadmins && muc_is_admin(room->muc, bare_jid))
        return AFFIL_OWNER;
    const struct affiliation *a = room_affiliation_entry(room, bare_jid);
    if (a)
        return a->affil;
    /* An affiliation on a whole domain (§9.1: ban a server) applies to its users. */
    const char *at = strchr(bare_jid, '@');
    if (at) {
        a = room_affiliation_entry(room, at + 1);
        if (a)
            return a->affil;
    }
    return AFFIL_NONE;
}

void room_set_affiliation(struct room *room, const char *jid_in, enum muc_affil affil,
                          const char *reason)
{
    /* A caller may pass an entry's own jid, which the removal below frees. */
    char *bare_jid = xstrdup(jid_in);
    struct affiliation *a = room_affiliation_entry(room, bare_jid);
    if (!a) {
        if (affil == AFFIL_NONE) {
            free(bare_jid);
            return;
        }
        a = xcalloc_keep(1, sizeof *a);
        a->jid = xstrdup_keep(bare_jid);
        HASH_ADD_KEYPTR(hh, room->affiliations, a->jid, strlen(a->jid), a);
    }
    a->affil = affil;
    free(a->reason);
    a->reason = reason && *reason ? xstrdup(reason) : NULL;
    /* Only outcasts lose a registered nick; an entry with nothing left goes. */
    if (affil == AFFIL_OUTCAST) {
        free(a->nick);
        a->nick = NULL;
    }
    if (affil == AFFIL_NONE && !a->nick) {
        HASH_DEL(room->affiliations, a);
        free(a->jid);
        free(a->reason);
        free(a);
    }
    room_save_affiliation(room, bare_jid);
    free(bare_jid);
}

unsigned room_count_affiliation(const struct room *room, enum muc_affil affil)
{
    unsigned n = 0;
    for (const struct affiliation *a = room->affiliations; a; a = a->hh.next)
        if (a->affil == affil)
            n++;
    return n;
}

const char *room_nick_owner(const struct room *room, const char *nick)
{
    for (const struct affiliation *a = room->affiliations; a; a = a->hh.next)
        if (a->nick && strcmp(a->nick, nick) == 0)
            return a->jid;
    return NULL;
}

void room_set_subject(struct room *room, const char *subject, const char *from)
{
    free(room->subject);
    free(room->subject_from);
    room->subject = xstrdup(subject);
    room->subject_from = xstrdup(from);
    room->subject_ms = room->muc->io.now_ms(room->muc->io.ud);
    room_save(room);
}

bool room_is_empty(const struct room *room)
{
    return room->noccupants == 0;
}

bool room_reap(struct muc *m, struct room *room)
{
    if (!room_is_empty(room))
        return false;
    if (room->cfg.persistent && !room->locked) {
        room->idle_since_ms = m->io.now_ms(m->io.ud);
        return false;
    }
    /* A temporary room ends with its last occupant: the service destroys it. */
    compliance_destroy_empty(m, room);
    m->store->delete_room(m->store->st, room, false, NULL, NULL);
    compliance_flush(m);
    HASH_DEL(m->rooms, room);
    m->nrooms--;
    room_free(room);
    return true;
}

unsigned room_max_users(const struct muc *m, const struct room *room)
{
    unsigned cap = m->lim.max_occupants;
    if (room->cfg.max_users && (!cap || room->cfg.max_users < cap))
        return room->cfg.max_users;
    return cap;
}
