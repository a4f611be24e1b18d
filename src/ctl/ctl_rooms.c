/* ctl_rooms.c — confabctl rooms list | show | create | destroy.
 *
 * Rooms are read and written with the columns and formats confabd's store
 * uses (src/muc/pg_store_room.c), so a room made here is one confabd loads on
 * its first stanza: persistent, unlocked, with an owner affiliation row. */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "datetime.h"
#include "mem.h"

/* ---- options ---- */

struct room_opts {
    bool all, members_only, hidden;
    const char *owner, *name, *reason, *venue, *before;
    const char *room;           /* the one positional argument, when the verb takes it */
};

/* Every rooms option; each verb says which of them it accepts. */
static int parse_opts(struct ctl *c, int argc, char **argv, const char *allowed,
                      bool want_room, struct room_opts *o)
{
    static const struct option longopts[] = {
        { "all", no_argument, NULL, 'a' },      { "owner", required_argument, NULL, 'o' },
        { "name", required_argument, NULL, 'n' }, { "members-only", no_argument, NULL, 'm' },
        { "hidden", no_argument, NULL, 'H' },   { "reason", required_argument, NULL, 'r' },
        { "venue", required_argument, NULL, 'e' }, { "json", no_argument, NULL, 'J' },
        { "before", required_argument, NULL, 'b' }, { NULL, 0, NULL, 0 },
    };
    int ch, rc;
    ctl_getopt_reset();
    while ((ch = ctl_getopt_verb(c, "rooms", argc, argv, longopts, allowed, &rc)) != -1) {
        switch (ch) {
        case 'a': o->all = true; break;
        case 'o': o->owner = optarg; break;
        case 'n': o->name = optarg; break;
        case 'm': o->members_only = true; break;
        case 'H': o->hidden = true; break;
        case 'r': o->reason = optarg; break;
        case 'e': o->venue = optarg; break;
        case 'b': o->before = optarg; break;
        }
    }
    if (rc)
        return rc;
    int want = want_room ? 1 : 0;
    if (argc - optind != want)
        return ctl_usage(want ? "rooms %s: expected one ROOM" : "rooms %s takes no arguments",
                         argv[0]);
    o->room = want ? argv[optind] : NULL;
    return 0;
}


static const char *yes_no(bool v)
{
    return v ? "yes" : "no";
}

/* ---- finding a room ---- */

/* The unexpired tombstone of jid, if any: one row (destroyed_at ms, reason). */
static int find_tombstone(struct ctl *c, const char *jid, PGresult **r)
{
    const char *v[] = { jid };
    return ctl_query(c, "looking for a tombstone",
                     "SELECT (extract(epoch FROM destroyed_at) * 1000)::bigint, reason "
                     "FROM tombstones WHERE jid = $1 "
                     "AND (expires_at IS NULL OR expires_at > now())", 1, v, r);
}

static int explain_missing(struct ctl *c, const char *jid)
{
    PGresult *r = NULL;
    int rc = find_tombstone(c, jid, &r);
    if (rc)
        return rc;
    char when[DATETIME_FMT_MAX];
    const char *reason = ctl_col(r, 0, 1);
    if (PQntuples(r) == 1)
        ctl_err("%s: no such room (destroyed %s%s%s)", jid,
                ctl_col_time(r, 0, 0, when, sizeof when), reason ? ": " : "",
                reason ? reason : "");
    else
        ctl_err("%s: no such room", jid);
    PQclear(r);
    return CTL_FAIL;
}

int ctl_room_id(struct ctl *c, const char *jid, char **id)
{
    PGresult *r = NULL;
    const char *v[] = { jid };
    int rc = ctl_query(c, "looking up the room", "SELECT id FROM rooms WHERE jid = $1", 1, v, &r);
    if (rc)
        return rc;
    if (PQntuples(r) == 1)
        *id = xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return *id ? 0 : explain_missing(c, jid);
}

/* ---- rooms list ---- */

/* Message count and last message time come from the messages table itself:
 * history purge lowers the count, last_seq would not. */
static const char list_sql[] =
    "SELECT r.jid, r.name, r.persistent, r.members_only, r.public_list, r.locked, "
    "(SELECT count(*) FROM messages m WHERE m.room_id = r.id), "
    "(SELECT (extract(epoch FROM max(m.ts)) * 1000)::bigint FROM messages m "
    "WHERE m.room_id = r.id) "
    "FROM rooms r WHERE $1::boolean OR r.public_list ORDER BY r.jid";

static json_t *list_json(const PGresult *r)
{
    json_t *a = json_array();
    char when[DATETIME_FMT_MAX];
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(a, json_pack(
            "{s:s, s:s, s:b, s:b, s:b, s:b, s:I, s:s?}", "jid", ctl_col(r, i, 0), "name",
            ctl_col(r, i, 1), "persistent", ctl_col_bool(r, i, 2), "members_only",
            ctl_col_bool(r, i, 3), "public", ctl_col_bool(r, i, 4), "locked",
            ctl_col_bool(r, i, 5), "messages", (json_int_t)ctl_col_ll(r, i, 6),
            "last_activity", ctl_col_time(r, i, 7, when, sizeof when)));
    return a;
}

static void list_text(const PGresult *r)
{
    static const char *const head[] = { "JID", "NAME", "PERSISTENT", "MEMBERS-ONLY",
                                        "MESSAGES", "LAST ACTIVITY" };
    struct ctl_table *t = ctl_table_new(ARRAY_SIZE(head), head);
    char when[DATETIME_FMT_MAX];
    for (int i = 0; i < PQntuples(r); i++) {
        const char *row[] = { ctl_col(r, i, 0), ctl_col(r, i, 1), yes_no(ctl_col_bool(r, i, 2)),
                              yes_no(ctl_col_bool(r, i, 3)), ctl_col(r, i, 6),
                              ctl_col_time(r, i, 7, when, sizeof when) };
        ctl_table_add(t, row);
    }
    ctl_table_print(t);
    ctl_table_free(t);
}

static int rooms_list(struct ctl *c, const struct room_opts *o)
{
    PGresult *r = NULL;
    const char *v[] = { o->all ? "true" : "false" };
    int rc = ctl_open(c);
    if (rc == 0)
        rc = ctl_query(c, "listing rooms", list_sql, 1, v, &r);
    if (rc)
        return rc;
    if (c->json)
        rc = ctl_print_json(list_json(r));
    else
        list_text(r);
    PQclear(r);
    return rc;
}

/* ---- rooms show ---- */

enum show_col {
    S_ID, S_JID, S_NAME, S_DESC, S_CREATOR, S_CREATED, S_LOCKED, S_PERSISTENT, S_PUBLIC,
    S_MEMBERS_ONLY, S_MODERATED, S_PASSWORD, S_WHOIS, S_SUBJ_CHANGE, S_INVITES, S_LOGGING,
    S_PM, S_MAX_USERS, S_PRESENCE, S_MEMBER_LIST, S_HISTORY, S_AGE, S_SUBJECT, S_SUBJ_FROM,
    S_SUBJ_AT, S_LANG, S_CATEGORY
};

static const char show_sql[] =
    "SELECT id, jid, name, description, creator, (extract(epoch FROM created_at) * 1000)::bigint, "
    "locked, persistent, public_list, members_only, moderated, password_protected, whois_anyone, "
    "change_subject, allow_invites, logging, allow_pm, max_users, "
    "array_to_string(presence_broadcast, ','), array_to_string(get_member_list, ','), "
    "history_length, max_history_age::text, subject, subject_from, "
    "(extract(epoch FROM subject_at) * 1000)::bigint, lang, "
    "(SELECT c.name FROM categories c WHERE c.id = rooms.category_id) FROM rooms WHERE jid = $1";

static const char affils_sql[] =
    "SELECT jid, affiliation, nick, reason FROM affiliations WHERE room_id = $1 "
    "ORDER BY array_position(ARRAY['owner', 'admin', 'member', 'outcast', 'none'], affiliation), "
    "jid";

static const char msgs_sql[] =
    "SELECT count(*), min(seq), max(seq), (extract(epoch FROM min(ts)) * 1000)::bigint, "
    "(extract(epoch FROM max(ts)) * 1000)::bigint FROM messages WHERE room_id = $1";

struct show {
    PGresult *room, *affils, *msgs;
};

static int show_fetch(struct ctl *c, const char *jid, struct show *s)
{
    const char *v[] = { jid };
    int rc = ctl_query(c, "reading the room", show_sql, 1, v, &s->room);
    if (rc)
        return rc;
    if (PQntuples(s->room) != 1)
        return explain_missing(c, jid);
    const char *id[] = { PQgetvalue(s->room, 0, S_ID) };
    rc = ctl_query(c, "reading affiliations", affils_sql, 1, id, &s->affils);
    if (rc == 0)
        rc = ctl_query(c, "counting messages", msgs_sql, 1, id, &s->msgs);
    return rc;
}

/* "a,b" (array_to_string) as a JSON array. */
static json_t *json_list(const char *s)
{
    json_t *a = json_array();
    char *copy = xstrdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_string(t));
    free(copy);
    return a;
}

static json_t *show_json_config(const PGresult *r)
{
    char created[DATETIME_FMT_MAX], subj_at[DATETIME_FMT_MAX];
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s?, s:b, s:b, s:b, s:b, s:b, s:b, s:s, s:b, s:b, s:b}",
        "jid", ctl_col(r, 0, S_JID), "name", ctl_col(r, 0, S_NAME), "description",
        ctl_col(r, 0, S_DESC), "lang", ctl_col(r, 0, S_LANG), "creator", ctl_col(r, 0, S_CREATOR),
        "created_at", ctl_col_time(r, 0, S_CREATED, created, sizeof created), "locked",
        ctl_col_bool(r, 0, S_LOCKED), "persistent", ctl_col_bool(r, 0, S_PERSISTENT), "public",
        ctl_col_bool(r, 0, S_PUBLIC), "members_only", ctl_col_bool(r, 0, S_MEMBERS_ONLY),
        "moderated", ctl_col_bool(r, 0, S_MODERATED), "password_protected",
        ctl_col_bool(r, 0, S_PASSWORD), "whois",
        ctl_col_bool(r, 0, S_WHOIS) ? "anyone" : "moderators", "change_subject",
        ctl_col_bool(r, 0, S_SUBJ_CHANGE), "allow_invites", ctl_col_bool(r, 0, S_INVITES),
        "logging", ctl_col_bool(r, 0, S_LOGGING));
    json_t *more = json_pack(
        "{s:s, s:I, s:o, s:o, s:I, s:s?, s:s?, s:s?, s:s?, s:s?}", "allow_pm",
        ctl_col(r, 0, S_PM), "max_users", (json_int_t)ctl_col_ll(r, 0, S_MAX_USERS),
        "presence_broadcast", json_list(ctl_col(r, 0, S_PRESENCE)), "get_member_list",
        json_list(ctl_col(r, 0, S_MEMBER_LIST)), "history_length",
        (json_int_t)ctl_col_ll(r, 0, S_HISTORY), "max_history_age", ctl_col(r, 0, S_AGE),
        "subject", ctl_col(r, 0, S_SUBJECT), "subject_from", ctl_col(r, 0, S_SUBJ_FROM),
        "subject_at", ctl_col_time(r, 0, S_SUBJ_AT, subj_at, sizeof subj_at), "category",
        ctl_col(r, 0, S_CATEGORY));
    if (o && more)
        json_object_update(o, more);
    json_decref(more);
    return o;
}

static json_t *show_json_affils(const PGresult *r)
{
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s?, s:s?}", "jid", ctl_col(r, i, 0),
                                           "affiliation", ctl_col(r, i, 1), "nick",
                                           ctl_col(r, i, 2), "reason", ctl_col(r, i, 3)));
    return a;
}

/* min/max of an empty room are NULL: JSON null, not 0. */
static json_t *json_ll_or_null(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? json_null() : json_integer(ctl_col_ll(r, 0, col));
}

static json_t *show_json_msgs(const PGresult *r)
{
    char first[DATETIME_FMT_MAX], last[DATETIME_FMT_MAX];
    return json_pack("{s:I, s:o, s:o, s:s?, s:s?}", "count", (json_int_t)ctl_col_ll(r, 0, 0),
                     "first_seq", json_ll_or_null(r, 1), "last_seq", json_ll_or_null(r, 2),
                     "first", ctl_col_time(r, 0, 3, first, sizeof first), "last",
                     ctl_col_time(r, 0, 4, last, sizeof last));
}

static int show_json(const struct show *s)
{
    json_t *o = show_json_config(s->room);
    if (o) {
        json_object_set_new(o, "affiliations", show_json_affils(s->affils));
        json_object_set_new(o, "messages", show_json_msgs(s->msgs));
    }
    return ctl_print_json(o);
}

static void show_text_config(const PGresult *r)
{
    char created[DATETIME_FMT_MAX], subj_at[DATETIME_FMT_MAX];
    const char *const labels[] = {
        "jid", "name", "description", "category", "creator", "created", "locked", "persistent", "public",
        "members-only", "moderated", "password", "whois", "change subject", "invites",
        "logging", "private messages", "max users", "presence broadcast", "get member list",
        "history length", "max history age", "subject", "subject from", "subject set",
    };
    const char *const values[] = {
        ctl_col(r, 0, S_JID), ctl_col(r, 0, S_NAME), ctl_col(r, 0, S_DESC),
        ctl_col(r, 0, S_CATEGORY), ctl_col(r, 0, S_CREATOR), ctl_col_time(r, 0, S_CREATED, created, sizeof created),
        yes_no(ctl_col_bool(r, 0, S_LOCKED)), yes_no(ctl_col_bool(r, 0, S_PERSISTENT)),
        yes_no(ctl_col_bool(r, 0, S_PUBLIC)), yes_no(ctl_col_bool(r, 0, S_MEMBERS_ONLY)),
        yes_no(ctl_col_bool(r, 0, S_MODERATED)), yes_no(ctl_col_bool(r, 0, S_PASSWORD)),
        ctl_col_bool(r, 0, S_WHOIS) ? "anyone" : "moderators",
        yes_no(ctl_col_bool(r, 0, S_SUBJ_CHANGE)), yes_no(ctl_col_bool(r, 0, S_INVITES)),
        yes_no(ctl_col_bool(r, 0, S_LOGGING)), ctl_col(r, 0, S_PM), ctl_col(r, 0, S_MAX_USERS),
        ctl_col(r, 0, S_PRESENCE), ctl_col(r, 0, S_MEMBER_LIST), ctl_col(r, 0, S_HISTORY),
        ctl_col(r, 0, S_AGE), ctl_col(r, 0, S_SUBJECT), ctl_col(r, 0, S_SUBJ_FROM),
        ctl_col_time(r, 0, S_SUBJ_AT, subj_at, sizeof subj_at),
    };
    ctl_print_fields(ARRAY_SIZE(labels), labels, values);
}

static void show_text_affils(const PGresult *r)
{
    static const char *const head[] = { "JID", "AFFILIATION", "NICK", "REASON" };
    struct ctl_table *t = ctl_table_new(ARRAY_SIZE(head), head);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *row[] = { ctl_col(r, i, 0), ctl_col(r, i, 1), ctl_col(r, i, 2),
                              ctl_col(r, i, 3) };
        ctl_table_add(t, row);
    }
    puts("\naffiliations:");
    ctl_table_print(t);
    ctl_table_free(t);
}

static void show_text_msgs(const PGresult *r)
{
    char first[DATETIME_FMT_MAX], last[DATETIME_FMT_MAX];
    const char *const labels[] = { "messages", "first seq", "last seq", "first", "last" };
    const char *const values[] = { ctl_col(r, 0, 0), ctl_col(r, 0, 1), ctl_col(r, 0, 2),
                                   ctl_col_time(r, 0, 3, first, sizeof first),
                                   ctl_col_time(r, 0, 4, last, sizeof last) };
    puts("");
    ctl_print_fields(ARRAY_SIZE(labels), labels, values);
}

static int rooms_show(struct ctl *c, const struct room_opts *o)
{
    char *jid = NULL;
    struct show s = { 0 };
    int rc = ctl_room_jid(c, o->room, &jid);
    if (rc == 0)
        rc = ctl_open(c);
    if (rc == 0)
        rc = show_fetch(c, jid, &s);
    if (rc == 0 && c->json) {
        rc = show_json(&s);
    } else if (rc == 0) {
        show_text_config(s.room);
        show_text_affils(s.affils);
        show_text_msgs(s.msgs);
    }
    PQclear(s.room);
    PQclear(s.affils);
    PQclear(s.msgs);
    free(jid);
    return rc;
}

/* ---- rooms create ---- */

/* One statement, so room and owner commit together; it inserts nothing when
 * the room exists or its name is reserved by an unexpired tombstone (the
 * same rule confabd applies), and then returns no row. */
static const char create_sql[] =
    "WITH room AS (INSERT INTO rooms (jid, creator, locked, name, persistent, public_list, "
    "members_only, history_length) "
    "SELECT $1, $2, false, $3, true, $4::boolean, $5::boolean, $6::integer "
    "WHERE NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.jid = $1 "
    "AND (t.expires_at IS NULL OR t.expires_at > now())) "
    "ON CONFLICT (jid) DO NOTHING RETURNING id) "
    "INSERT INTO affiliations (room_id, jid, affiliation) "
    "SELECT id, $2, 'owner' FROM room RETURNING room_id";

/* Why create_sql inserted nothing: the room exists, or a tombstone. */
static int explain_not_created(struct ctl *c, const char *jid)
{
    PGresult *r = NULL;
    const char *v[] = { jid };
    int rc = ctl_query(c, "looking up the room", "SELECT 1 FROM rooms WHERE jid = $1", 1, v, &r);
    bool exists = rc == 0 && PQntuples(r) > 0;
    PQclear(r);
    r = NULL;
    if (rc == 0 && !exists)
        rc = find_tombstone(c, jid, &r);
    char when[DATETIME_FMT_MAX];
    if (rc == 0 && exists)
        ctl_err("%s: the room already exists", jid);
    else if (rc == 0 && PQntuples(r) == 1)
        ctl_err("%s: the name is reserved by the tombstone of a room destroyed %s", jid,
                ctl_col_time(r, 0, 0, when, sizeof when));
    else if (rc == 0)
        ctl_err("%s: the room was not created (changed concurrently?); try again", jid);
    PQclear(r);
    return rc ? rc : CTL_FAIL;
}

static int print_created(const struct ctl *c, const char *jid, const char *owner,
                         const struct room_opts *o)
{
    if (c->json)
        return ctl_print_json(json_pack("{s:s, s:s, s:s, s:b, s:b, s:b}", "jid", jid, "owner",
                                        owner, "name", o->name ? o->name : "", "persistent", 1,
                                        "members_only", o->members_only, "public", !o->hidden));
    printf("created %s (owner %s)\n", jid, owner);
    return 0;
}

static int insert_room(struct ctl *c, const char *jid, const char *owner,
                       const struct room_opts *o)
{
    char hist[24];
    snprintf(hist, sizeof hist, "%llu", (unsigned long long)c->cfg->muc.default_history);
    const char *v[] = { jid, owner, o->name ? o->name : "", o->hidden ? "false" : "true",
                        o->members_only ? "true" : "false", hist };
    PGresult *r = NULL;
    int rc = ctl_query(c, "creating the room", create_sql, 6, v, &r);
    if (rc)
        return rc;
    bool created = PQntuples(r) == 1;
    PQclear(r);
    return created ? print_created(c, jid, owner, o) : explain_not_created(c, jid);
}

static int rooms_create(struct ctl *c, const struct room_opts *o)
{
    char *jid = NULL, *owner = NULL;
    int rc = ctl_room_jid(c, o->room, &jid);
    if (rc == 0 && !o->owner)
        rc = ctl_usage("rooms create: --owner JID is required");
    if (rc == 0)
        rc = ctl_bare_jid("owner", o->owner, &owner);
    const char *domain = c->cfg->component.domain;
    if (rc == 0 && domain && strcmp(strchr(jid, '@') + 1, domain) != 0) {
        ctl_err("%s is not a room of this service (%s)", jid, domain);
        rc = EX_DATAERR;
    }
    if (rc == 0)
        rc = ctl_open(c);
    if (rc == 0)
        rc = insert_room(c, jid, owner, o);
    free(owner);
    free(jid);
    return rc;
}

/* ---- rooms destroy ---- */

/* Room (affiliations cascade) and tombstone in one statement: both or none. */
static const char destroy_sql[] =
    "WITH gone AS (DELETE FROM rooms WHERE jid = $1 RETURNING jid) "
    "INSERT INTO tombstones (jid, venue, reason) SELECT jid, $2, $3 FROM gone "
    "ON CONFLICT (jid) DO UPDATE SET venue = EXCLUDED.venue, reason = EXCLUDED.reason, "
    "destroyed_at = now(), expires_at = NULL RETURNING jid";

static int print_destroyed(const struct ctl *c, const char *jid, long long msgs)
{
    if (c->json)
        return ctl_print_json(json_pack("{s:s, s:I, s:b}", "jid", jid, "messages_deleted",
                                        (json_int_t)msgs, "tombstone", 1));
    printf("destroyed %s (%lld message%s deleted); its name stays reserved by a tombstone\n",
           jid, msgs, msgs == 1 ? "" : "s");
    return 0;
}

/* History first, in small transactions, so that a big room's delete does not
 * hold its locks for one long cascade; then the room and its tombstone. */
static int destroy_room(struct ctl *c, const char *jid, const char *venue, const char *reason)
{
    char *id = NULL;
    long long msgs = 0;
    PGresult *r = NULL;
    int rc = ctl_room_id(c, jid, &id);
    if (rc == 0)
        rc = ctl_purge_batches(c, id, jid, INT64_MAX, "room destroyed", &msgs);
    const char *v[] = { jid, venue, reason };
    if (rc == 0)
        rc = ctl_query(c, "destroying the room", destroy_sql, 3, v, &r);
    if (rc == 0 && PQntuples(r) != 1)
        rc = explain_missing(c, jid); /* someone else destroyed it meanwhile */
    if (rc == 0)
        rc = ctl_notify(c, "room-destroyed", jid, venue, reason);
    if (rc == 0)
        rc = print_destroyed(c, jid, msgs);
    PQclear(r);
    free(id);
    return rc;
}

static int rooms_destroy(struct ctl *c, const struct room_opts *o)
{
    char *jid = NULL, *venue = NULL;
    int rc = ctl_room_jid(c, o->room, &jid);
    if (rc == 0 && o->venue)
        rc = ctl_bare_jid("venue", o->venue, &venue);
    if (rc == 0)
        rc = ctl_open(c);
    if (rc == 0)
        rc = destroy_room(c, jid, venue, o->reason);
    free(venue);
    free(jid);
    return rc;
}

/* ---- rooms clear (Lync's Clear-CsPersistentChatRoom) ---- */

static int rooms_clear(struct ctl *c, const struct room_opts *o)
{
    char *jid = NULL, *id = NULL;
    int64_t before = 0;
    long long n = 0;
    if (!o->before)
        return ctl_usage("rooms clear: --before DATE is required");
    if (ctl_parse_date(o->before, &before) < 0)
        return ctl_usage("rooms clear: --before %s is not a date", o->before);
    int rc = ctl_room_jid(c, o->room, &jid);
    if (rc == 0)
        rc = ctl_open(c);
    if (rc == 0)
        rc = ctl_room_id(c, jid, &id);
    if (rc == 0)
        rc = ctl_purge_batches(c, id, jid, before, o->reason ? o->reason : "rooms clear", &n);
    if (rc == 0)
        rc = ctl_notify(c, "room-changed", jid, NULL, NULL);
    if (rc == 0 && c->json)
        rc = ctl_print_json(json_pack("{s:s, s:I}", "room", jid, "messages_deleted",
                                      (json_int_t)n));
    else if (rc == 0)
        printf("cleared %s: %lld message%s before %s deleted\n", jid, n, n == 1 ? "" : "s",
               o->before);
    free(id);
    free(jid);
    return rc;
}

/* ---- dispatch ---- */

int ctl_rooms_main(struct ctl *c, int argc, char **argv)
{
    static const struct {
        const char *verb;
        const char *allowed;
        bool want_room;
        int (*run)(struct ctl *c, const struct room_opts *o);
    } verbs[] = {
        { "list", "a", false, rooms_list },
        { "show", "", true, rooms_show },
        { "create", "onmH", true, rooms_create },
        { "destroy", "re", true, rooms_destroy },
        { "clear", "br", true, rooms_clear },
    };
    if (argc < 2)
        return ctl_usage("rooms: expected list, show, create, destroy, clear, report or set-category");
    if (strcmp(argv[1], "report") == 0)
        return ctl_rooms_report(c, argc - 1, argv + 1);
    if (strcmp(argv[1], "set-category") == 0)
        return ctl_rooms_set_category(c, argc - 1, argv + 1);
    for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
        if (strcmp(argv[1], verbs[i].verb) != 0)
            continue;
        struct room_opts o = { 0 };
        int rc = parse_opts(c, argc - 1, argv + 1, verbs[i].allowed, verbs[i].want_room, &o);
        return rc ? rc : verbs[i].run(c, &o);
    }
    return ctl_usage("rooms: unknown command '%s'", argv[1]);
}
