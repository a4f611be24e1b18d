/* wall.c — categories and ethical walls in the engine (wall.h): who may reach the rooms of a category. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compliance.h"
#include "mem.h"
#include "muc.h"
#include "wall.h"

/* The names the schema uses (schema/chat/008_categories.sql), index = enum. */
static const char *const list_names[WALL_NLISTS] = { "allowed", "denied", "creator" };
static const char *const kind_names[] = { "everyone", "domain", "jid", "group" };
static const char *const privacy_names[] = { "open", "closed", "secret" };

static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

static void category_free(struct category *c)
{
    for (size_t l = 0; l < WALL_NLISTS; l++) {
        for (size_t i = 0; i < c->np[l]; i++)
            free(c->p[l][i].name);
        free(c->p[l]);
    }
    FREE_ALL(c->name, c);
}

void wall_free(struct walls *w)
{
    struct category *c, *ctmp;
    HASH_ITER(hh, w->cats, c, ctmp) {
        HASH_DEL(w->cats, c);
        category_free(c);
    }
    struct wall_group *g, *gtmp;
    HASH_ITER(hh, w->groups, g, gtmp) {
        struct wall_member *mb, *mtmp;
        HASH_ITER(hh, g->members, mb, mtmp) {
            HASH_DEL(g->members, mb);
            FREE_ALL(mb->jid, mb);
        }
        HASH_DEL(w->groups, g);
        FREE_ALL(g->name, g);
    }
}

static struct category *category_add(struct walls *w, int64_t id, const char *name)
{
    struct category *c = xcalloc(1, sizeof *c);
    c->id = id;
    c->name = xstrdup(name);
    c->invitations = true;
    c->history = true;
    HASH_ADD(hh, w->cats, id, sizeof c->id, c);
    return c;
}

static void principal_add(struct category *c, enum wall_list l, enum wall_kind k, const char *name)
{
    c->p[l] = xrealloc(c->p[l], (c->np[l] + 1) * sizeof *c->p[l]);
    c->p[l][c->np[l]++] = (struct wall_principal){ .kind = k, .name = xstrdup(name ? name : "") };
}

/* The schema's row for id 1, as it is before anyone changes it. */
static void add_default(struct walls *w)
{
    struct category *c = category_add(w, CATEGORY_DEFAULT, "default");
    principal_add(c, WALL_ALLOWED, WALL_EVERYONE, "");
}

void wall_init(struct muc *m)
{
    wall_free(&m->walls);
    add_default(&m->walls);
}

static void member_add(struct walls *w, const char *group, const char *jid)
{
    struct wall_group *g = NULL;
    HASH_FIND_STR(w->groups, group, g);
    if (!g) {
        g = xcalloc(1, sizeof *g);
        g->name = xstrdup(group);
        HASH_ADD_KEYPTR(hh, w->groups, g->name, strlen(g->name), g);
    }
    struct wall_member *mb = NULL;
    HASH_FIND_STR(g->members, jid, mb);
    if (mb)
        return;
    mb = xcalloc(1, sizeof *mb);
    mb->jid = xstrdup(jid);
    HASH_ADD_KEYPTR(hh, g->members, mb->jid, strlen(mb->jid), mb);
}

static void load_category(struct walls *w, const struct store_category *sc)
{
    struct category *c = category_add(w, sc->id, sc->name ? sc->name : "");
    c->invitations = sc->invitations;
    c->history = sc->history;
    int p = name_index(privacy_names, ARRAY_SIZE(privacy_names), sc->default_privacy);
    c->default_privacy = p < 0 ? PRIVACY_OPEN : (enum room_privacy)p;
    c->auditorium = sc->default_type && strcmp(sc->default_type, "auditorium") == 0;
    c->default_max_occupants = sc->default_max_occupants;
}

void wall_load(struct muc *m, const struct store_service *rec)
{
    struct walls w = { 0 };
    for (size_t i = 0; rec && i < rec->ncats; i++)
        load_category(&w, &rec->cats[i]);
    for (size_t i = 0; rec && i < rec->nprincipals; i++) {
        const struct store_principal *sp = &rec->principals[i];
        struct category *c = NULL;
        HASH_FIND(hh, w.cats, &sp->category_id, sizeof sp->category_id, c);
        int l = name_index(list_names, WALL_NLISTS, sp->list);
        int k = name_index(kind_names, ARRAY_SIZE(kind_names), sp->kind);
        if (c && l >= 0 && k >= 0)
            principal_add(c, (enum wall_list)l, (enum wall_kind)k, sp->principal);
    }
    for (size_t i = 0; rec && i < rec->nmembers; i++)
        if (rec->members[i].group && rec->members[i].jid)
            member_add(&w, rec->members[i].group, rec->members[i].jid);
    /* The schema always has it; a store without categories means default only. */
    int64_t def = CATEGORY_DEFAULT;
    struct category *c = NULL;
    HASH_FIND(hh, w.cats, &def, sizeof def, c);
    if (!c)
        add_default(&w);
    wall_free(&m->walls);
    m->walls = w;
}

const struct category *wall_category(const struct muc *m, int64_t id)
{
    struct category *c = NULL;
    HASH_FIND(hh, m->walls.cats, &id, sizeof id, c);
    if (!c && id != CATEGORY_DEFAULT)
        return wall_category(m, CATEGORY_DEFAULT);
    return c;
}

const struct category *wall_category_named(const struct muc *m, const char *name)
{
    for (const struct category *c = m->walls.cats; c; c = c->hh.next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static bool in_group(const struct muc *m, const char *group, const char *bare_jid)
{
    struct wall_group *g = NULL;
    HASH_FIND_STR(m->walls.groups, group, g);
    struct wall_member *mb = NULL;
    if (g)
        HASH_FIND_STR(g->members, bare_jid, mb);
    return mb != NULL;
}

/* A bare JID's domain; a domain JID (an affiliation may name one) is its own. */
static const char *domain_of(const char *bare_jid)
{
    const char *at = strchr(bare_jid, '@');
    return at ? at + 1 : bare_jid;
}

static bool matches(const struct muc *m, const struct wall_principal *p, const char *bare_jid)
{
    switch (p->kind) {
    case WALL_EVERYONE:
        return true;
    case WALL_DOMAIN:
        return strcasecmp(domain_of(bare_jid), p->name) == 0;
    case WALL_JID:
        return strcmp(bare_jid, p->name) == 0;
    case WALL_GROUP:
        return in_group(m, p->name, bare_jid);
    }
    return false;
}

static bool any_matches(const struct muc *m, const struct category *c, enum wall_list l,
                        const char *bare_jid)
{
    for (size_t i = 0; i < c->np[l]; i++)
        if (matches(m, &c->p[l][i], bare_jid))
            return true;
    return false;
}

bool wall_denies(const struct muc *m, int64_t category_id, const char *bare_jid)
{
    if (!bare_jid || muc_is_admin(m, bare_jid))
        return false;
    /* A category this engine has not loaded yet (created since, or the load
     * failed): shut until its lists are known. */
    struct category *c = NULL;
    HASH_FIND(hh, m->walls.cats, &category_id, sizeof category_id, c);
    if (!c)
        return true;
    return !any_matches(m, c, WALL_ALLOWED, bare_jid) || any_matches(m, c, WALL_DENIED, bare_jid);
}

int64_t *wall_open_categories(const struct muc *m, const char *bare_jid, size_t *n)
{
    *n = 0;
    if (bare_jid && muc_is_admin(m, bare_jid))
        return NULL;
    int64_t *ids = xmalloc((HASH_COUNT(m->walls.cats) + 1) * sizeof *ids);
    for (const struct category *c = m->walls.cats; c; c = c->hh.next)
        if (!wall_denies(m, c->id, bare_jid))
            ids[(*n)++] = c->id;
    return ids;
}

bool wall_is_creator(const struct muc *m, int64_t category_id, const char *bare_jid)
{
    const struct category *c = wall_category(m, category_id);
    return c && c->id == category_id && any_matches(m, c, WALL_CREATOR, bare_jid);
}

bool wall_may_create(const struct muc *m, int64_t category_id, const char *bare_jid)
{
    if (muc_is_admin(m, bare_jid))
        return true;
    const struct category *c = wall_category(m, category_id);
    if (!c || c->id != category_id || wall_denies(m, category_id, bare_jid))
        return false;
    if (c->np[WALL_CREATOR] == 0)
        return category_id == CATEGORY_DEFAULT;
    return any_matches(m, c, WALL_CREATOR, bare_jid);
}

bool wall_history_on(const struct muc *m, const struct room *room)
{
    const struct category *c = wall_category(m, room->category_id);
    return !c || c->history;
}

/* ---- when the walls move ---- */

static char *wall_reason(const struct muc *m, const struct room *room)
{
    const struct category *c = wall_category(m, room->category_id);
    return xasprintf("Removed by an ethical wall of category %s", c ? c->name : "?");
}

/* Revoke what a walled-off bare JID holds in the room (outcasts stay banned). */
static void revoke(struct muc *m, struct room *room, struct affiliation *a, const char *reason)
{
    if (a->affil == AFFIL_OUTCAST)
        return;
    char *jid = xstrdup(a->jid);
    enum muc_affil old = a->affil;
    free(a->nick);
    a->nick = NULL;
    compliance_wall(m, room, jid, NULL, old, "revoked", reason, true);
    room_set_affiliation(room, jid, AFFIL_NONE, reason);
    compliance_flush(m);
    free(jid);
}

void wall_sweep_room(struct muc *m, struct room *room)
{
    char *reason = wall_reason(m, room);
    unsigned removed = 0;
    struct occupant *o, *otmp;
    HASH_ITER(hh, room->occupants, o, otmp) {
        if (!wall_denies(m, room->category_id, o->bare_jid))
            continue;
        removed++;
        /* §9.4's kick and §10.6's affiliation change in one presence. */
        static const int codes[] = { 307, 321, 0 };
        struct pres_opts po = { .codes = codes, .reason = reason };
        compliance_wall(m, room, o->bare_jid, o->nick, occupant_affiliation(room, o), "removed",
                        reason, false);
        struct affiliation *a = room_affiliation_entry(room, o->bare_jid);
        if (a)
            revoke(m, room, a, reason);
        presence_remove_occupant(m, room, o, &po);
    }
    struct affiliation *a, *atmp;
    HASH_ITER(hh, room->affiliations, a, atmp)
        if (strchr(a->jid, '@') && wall_denies(m, room->category_id, a->jid))
            revoke(m, room, a, reason);
    if (removed) {
        /* The operator sees what a change of walls did (the users: compliance). */
        char *line = xasprintf("wall: %u occupant%s removed from %s (%s)", removed,
                               removed == 1 ? "" : "s", room->jid, reason);
        m->io.log(m->io.ud, line);
        free(line);
    }
    free(reason);
}

/* The store revoked these in rooms it has and the engine has not loaded. */
static void on_revoked(void *ud, int err, const struct store_revoked *rows, size_t n)
{
    struct muc *m = ud;
    for (size_t i = 0; err == 0 && i < n; i++) {
        enum muc_affil old = AFFIL_NONE;
        (void)perm_affil_parse(rows[i].affil, &old);
        char *reason = xasprintf("Removed by an ethical wall of category %s",
                                 rows[i].category ? rows[i].category : "?");
        compliance_wall_stored(m, rows[i].room, rows[i].jid, old, reason);
        free(reason);
    }
}

void wall_sweep_all(struct muc *m)
{
    struct room *room, *tmp;
    HASH_ITER(hh, m->rooms, room, tmp) {
        wall_sweep_room(m, room);
        room_reap(m, room);
    }
    const struct muc_store *s = m->store;
    if (s->revoke_walled)
        s->revoke_walled(s->st, (const char *const *)m->admins, m->nadmins, on_revoked, m);
}
