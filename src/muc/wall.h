/* wall.h — categories, groups and ethical walls in the engine (issue 16; Lync's
 * category model, ../shared/reference/seed-systems.md §B.2).
 *
 * Every room belongs to one category (rooms.category_id); a category lists who
 * is allowed in, who is denied (deny wins) and who may create rooms in it.
 * Principals are bare JIDs, domains, groups (confabctl keeps their members) or
 * everyone. The engine holds all categories and the members of the groups they
 * name, loaded from the store at start and again when confabctl says they
 * changed (control channel). Without a store only `default` exists. */
#ifndef CONFAB_MUC_WALL_H
#define CONFAB_MUC_WALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

struct muc;
struct room;
struct store_service;

#define CATEGORY_DEFAULT 1

/* Why an owner or admin cannot make a walled-off user member, admin or owner. */
#define WALL_GRANT_REFUSED \
    "an ethical wall shuts that user out of this room's category: it cannot be given an " \
    "affiliation here"

enum wall_list { WALL_ALLOWED, WALL_DENIED, WALL_CREATOR, WALL_NLISTS };
enum wall_kind { WALL_EVERYONE, WALL_DOMAIN, WALL_JID, WALL_GROUP };
/* Lync's room privacy and type on XEP-0045 flags (roomkind.c): Open =
 * public && !members-only, Closed = public && members-only, Secret =
 * !public && members-only; NONE: unlisted and open, none of Lync's three. */
enum room_privacy { PRIVACY_OPEN, PRIVACY_CLOSED, PRIVACY_SECRET, PRIVACY_NONE };
enum room_type { TYPE_NORMAL, TYPE_AUDITORIUM };

struct wall_principal {
    enum wall_kind kind;
    char *name;                /* JID, domain or group; "" for everyone */
};

struct category {
    int64_t id;                /* key of walls.cats */
    char *name;
    bool invitations;          /* invitations allowed in its rooms */
    bool history;              /* history on join and MAM */
    enum room_privacy default_privacy;
    bool auditorium;           /* default type */
    unsigned default_max_occupants;
    struct wall_principal *p[WALL_NLISTS];
    size_t np[WALL_NLISTS];
    UT_hash_handle hh;
};

struct wall_member {
    char *jid;
    UT_hash_handle hh;
};

struct wall_group {
    char *name;
    struct wall_member *members;
    UT_hash_handle hh;
};

struct walls {
    struct category *cats;
    struct wall_group *groups;
};

/* Only `default` (everyone allowed), as before any load. */
void wall_init(struct muc *m);
void wall_free(struct walls *w);
/* Replace everything with what the store loaded (rec may be NULL: default only). */
void wall_load(struct muc *m, const struct store_service *rec);
/* The category, or default when id is unknown (a category added since the load). */
const struct category *wall_category(const struct muc *m, int64_t id);
const struct category *wall_category_named(const struct muc *m, const char *name);
/* true = bare_jid is walled off from the rooms of category_id: no principal of
 * `allowed` matches it, or one of `denied` does. Service admins never are. */
bool wall_denies(const struct muc *m, int64_t category_id, const char *bare_jid);
/* The ids of the categories bare_jid is not walled off from (to free), and
 * how many; NULL for a service admin (every category). */
int64_t *wall_open_categories(const struct muc *m, const char *bare_jid, size_t *n);
/* May bare_jid create rooms in the category (not walled, and a creator; in
 * `default` everyone allowed is one while it names no creator)? */
bool wall_may_create(const struct muc *m, int64_t category_id, const char *bare_jid);
/* Is bare_jid explicitly in the category's creator list? */
bool wall_is_creator(const struct muc *m, int64_t category_id, const char *bare_jid);
/* The category's history setting: false = no history on join, no MAM (the
 * compliance archive still gets every message). */
bool wall_history_on(const struct muc *m, const struct room *room);
/* Remove the room's occupants now walled off (307 + 321, with the category in
 * the reason) and revoke their affiliations there, each as a `wall` event. */
void wall_sweep_room(struct muc *m, struct room *room);
/* Every room in memory, then (store) the affiliations of rooms not in memory. */
void wall_sweep_all(struct muc *m);

#endif
