/* svcpolicy.c — the service policy (policy.h) applied to rooms: persistent room creation, new rooms' defaults, what owners may change. */
#include "compat.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "muc.h"

#define F(name) "muc#roomconfig_" name
#define AT(member) offsetof(struct room_config, member), sizeof(((struct room_config *)0)->member)

/* Each room setting a policy may lock: the muc#roomconfig fields that set it
 * and where it lives in struct room_config (str: a char *). A setting may
 * take several rows (a password is a switch and a secret). */
static const struct {
    enum policy_setting s;
    const char *vars[3];
    size_t off, size;
    bool str;
} settings[] = {
    { SETTING_NAME, { F("roomname") }, AT(name), true },
    { SETTING_DESCRIPTION, { F("roomdesc") }, AT(desc), true },
    { SETTING_LANG, { F("lang") }, AT(lang), true },
    { SETTING_PERSISTENT, { F("persistentroom") }, AT(persistent), false },
    { SETTING_PUBLIC, { F("publicroom") }, AT(public_list), false },
    { SETTING_MEMBERS_ONLY, { F("membersonly") }, AT(members_only), false },
    { SETTING_MODERATED, { F("moderatedroom") }, AT(moderated), false },
    { SETTING_PASSWORD, { F("passwordprotectedroom") }, AT(password_protected), false },
    { SETTING_PASSWORD, { F("roomsecret") }, AT(password), true },
    { SETTING_WHOIS, { F("whois") }, AT(whois_anyone), false },
    { SETTING_SUBJECT, { F("changesubject") }, AT(change_subject), false },
    { SETTING_INVITES, { F("allowinvites") }, AT(allow_invites), false },
    { SETTING_PM, { F("allowpm") }, AT(allow_pm), false },
    { SETTING_MAX_OCCUPANTS, { F("maxusers") }, AT(max_users), false },
    { SETTING_PRESENCE_BROADCAST, { F("presencebroadcast") }, AT(presence_broadcast), false },
    { SETTING_MEMBER_LIST, { F("getmemberlist") }, AT(get_member_list), false },
    { SETTING_HISTORY, { "muc#maxhistoryfetch", F("historylength") }, AT(history_length), false },
    { SETTING_LOGGING, { F("enablelogging"), F("enablearchiving"), "mam" }, AT(logging), false },
    { SETTING_CATEGORY, { ROOMCONFIG_CATEGORY }, 0, 0, false },
};

void svcpolicy_free(struct muc *m)
{
    for (size_t i = 0; i < m->npolicy_rows; i++)
        FREE_ALL(m->policy_rows[i].key, m->policy_rows[i].value);
    free(m->policy_rows);
    m->policy_rows = NULL;
    m->npolicy_rows = 0;
}

void svcpolicy_refresh(struct muc *m)
{
    struct muc_policy p = m->lim.policy;
    p.max_rooms = m->lim.max_rooms;
    p.max_rooms_per_user = m->lim.max_rooms_per_user;
    for (size_t i = 0; i < m->npolicy_rows; i++) {
        char *why = NULL;
        if (policy_set(&p, m->policy_rows[i].key, m->policy_rows[i].value, &why) < 0 &&
            !m->policy_warned) {
            /* confabctl validates what it writes: this row came from elsewhere. */
            char *line = xasprintf("policy: ignored the stored row %s: %s (further bad rows "
                                   "are not logged)", m->policy_rows[i].key, why);
            m->io.log(m->io.ud, line);
            free(line);
            m->policy_warned = true;
        }
        free(why);
    }
    m->policy = p;
}

void svcpolicy_load(struct muc *m, const struct store_service *rec)
{
    svcpolicy_free(m);
    size_t n = rec ? rec->npolicy : 0;
    m->policy_rows = xcalloc(n + 1, sizeof *m->policy_rows);
    for (size_t i = 0; i < n; i++)
        m->policy_rows[i] = (struct store_setting){ .key = xstrdup(rec->policy[i].key),
                                                    .value = xstrdup(rec->policy[i].value) };
    m->npolicy_rows = n;
    svcpolicy_refresh(m);
}

bool svcpolicy_may_persist(const struct muc *m, int64_t category_id, const char *bare_jid)
{
    if (muc_is_admin(m, bare_jid))
        return true;
    switch (m->policy.create_persistent) {
    case POLICY_CREATE_ANYONE:
        return true;
    case POLICY_CREATE_CREATORS:
        return wall_is_creator(m, category_id, bare_jid);
    case POLICY_CREATE_ADMINS:
        return false;
    }
    return false;
}

static bool setting_differs(size_t i, const struct room_config *a, const struct room_config *b)
{
    const char *pa = (const char *)a + settings[i].off, *pb = (const char *)b + settings[i].off;
    if (!settings[i].str)
        return memcmp(pa, pb, settings[i].size) != 0;
    const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
    return strcmp(sa ? sa : "", sb ? sb : "") != 0;
}

static bool locked(const struct muc *m, enum policy_setting s, const char *bare_jid)
{
    return !(m->policy.owners_may_change & (1u << s)) && !muc_is_admin(m, bare_jid);
}

const char *svcpolicy_locked_change(const struct muc *m, const struct room *room,
                                    const struct room_config *cfg, int64_t category_id,
                                    const char *bare_jid)
{
    for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
        if (!locked(m, settings[i].s, bare_jid))
            continue;
        bool changed = settings[i].s == SETTING_CATEGORY ? category_id != room->category_id
                                                         : setting_differs(i, &room->cfg, cfg);
        if (changed)
            return policy_setting_name(settings[i].s);
    }
    return NULL;
}

static bool var_locked(const struct muc *m, const char *var, const char *bare_jid)
{
    for (size_t i = 0; var && i < ARRAY_SIZE(settings); i++)
        for (size_t v = 0; v < ARRAY_SIZE(settings[i].vars) && settings[i].vars[v]; v++)
            if (strcmp(settings[i].vars[v], var) == 0)
                return locked(m, settings[i].s, bare_jid);
    return false;
}

void svcpolicy_strip_form(const struct muc *m, struct xml_node *form, const char *bare_jid)
{
    struct xml_node *f = xml_first(form);
    while (f) {
        struct xml_node *next = xml_next(f);
        if (strcmp(f->name, "field") == 0 && var_locked(m, xml_attr(f, "var"), bare_jid))
            xml_remove(form, f);
        f = next;
    }
}

/* The category's default privacy and type (roomkind.c's mapping). */
static void apply_category(struct room_config *c, const struct category *cat)
{
    roomkind_set_privacy(c, cat->default_privacy);
    if (cat->auditorium)
        roomkind_set_type(c, TYPE_AUDITORIUM);
}

void svcpolicy_new_room(const struct muc *m, struct room *room)
{
    const struct category *cat = wall_category(m, room->category_id);
    if (cat)
        apply_category(&room->cfg, cat);
    unsigned max = cat && cat->default_max_occupants ? cat->default_max_occupants
                                                     : (unsigned)m->policy.default_max_occupants;
    if (max)
        room->cfg.max_users = max;
    if (room->cfg.persistent && !svcpolicy_may_persist(m, room->category_id, room->creator))
        room->cfg.persistent = false;
}
