/* ctl_export.c — confabctl export: rooms, their configuration, affiliations, vCards,
 * tombstones and history as confab's versioned export format (docs/export-format.md).
 *
 * Levels follow Lync's Export-CsPersistentChatData: all, directory (rooms without
 * history), content (history only, rooms named by JID). Filters: --room (repeat),
 * --rooms-matching GLOB, --category NAME, and --since/--until for messages.
 *
 * The file is JSON lines: a header, then one record per room, message and
 * tombstone, then an `end` record with the counts (so a cut file is detected).
 * Records are built by PostgreSQL itself (to_jsonb of the row, minus internal
 * ids): every column of `rooms` is exported, including ones added by later
 * migrations, and nothing is held in memory but one batch of messages. */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "datetime.h"
#include "mem.h"

#define EXPORT_BATCH 1000

enum level { LEVEL_ALL, LEVEL_DIRECTORY, LEVEL_CONTENT };
static const char *const level_names[] = { "all", "directory", "content" };

struct export_opts {
    enum level level;
    json_t *rooms;              /* --room, prepared JIDs; NULL: every room */
    const char *matching;       /* --rooms-matching GLOB */
    const char *category;       /* --category NAME */
    const char *since, *until;  /* --since/--until */
    const char *out;            /* --out FILE; NULL: stdout */
};

struct export {
    struct ctl *c;
    const struct export_opts *o;
    FILE *f;
    char *rooms_json, *like;
    char since[DATETIME_FMT_MAX], until[DATETIME_FMT_MAX];
    bool has_since, has_until;
    long long nrooms, nmessages, ntombstones;
};

/* The room filters as $1 (JSON array of JIDs), $2 (LIKE pattern), $3 (category). */
#define ROOM_FILTER \
    "($1::jsonb IS NULL OR r.jid IN (SELECT jsonb_array_elements_text($1::jsonb))) " \
    "AND ($2::text IS NULL OR r.jid LIKE $2) "

static const char rooms_sql[] =
    "SELECT r.id, r.jid FROM rooms r WHERE " ROOM_FILTER
    "AND ($3::text IS NULL OR r.category_id = (SELECT id FROM categories WHERE name = $3)) "
    "ORDER BY r.jid";

/* last_seq as confabd reads it (pg_store_room.c): the highest seq ever
 * assigned, which the column alone may lag behind. */
static const char room_full_sql[] =
    "SELECT jsonb_build_object('type', 'room', 'jid', r.jid, 'category', c.name, "
    "'config', to_jsonb(r) - 'id' - 'category_id' || jsonb_build_object('last_seq', "
    "greatest(r.last_seq, coalesce((SELECT max(m.seq) FROM messages m WHERE m.room_id = r.id), "
    "0))), "
    "'affiliations', (SELECT coalesce(jsonb_agg(to_jsonb(a) - 'room_id' ORDER BY a.jid), "
    "'[]'::jsonb) FROM affiliations a WHERE a.room_id = r.id), "
    "'vcard', (SELECT to_jsonb(v) - 'room_id' FROM room_vcards v WHERE v.room_id = r.id))::text "
    "FROM rooms r LEFT JOIN categories c ON c.id = r.category_id WHERE r.id = $1::bigint";

static const char room_content_sql[] =
    "SELECT jsonb_build_object('type', 'room', 'jid', r.jid)::text FROM rooms r "
    "WHERE r.id = $1::bigint";

/* Keyset paging along the primary key: one batch in memory at a time. */
static const char messages_sql[] =
    "SELECT m.seq, (jsonb_build_object('type', 'message', 'room', $2::text) || "
    "(to_jsonb(m) - 'room_id' - 'body_tsv'))::text FROM messages m "
    "WHERE m.room_id = $1::bigint AND m.seq > $3::bigint "
    "AND ($4::timestamptz IS NULL OR m.ts >= $4) AND ($5::timestamptz IS NULL OR m.ts < $5) "
    "ORDER BY m.seq LIMIT $6::integer";

static const char tombstones_sql[] =
    "SELECT (jsonb_build_object('type', 'tombstone') || to_jsonb(r))::text "
    "FROM tombstones r WHERE " ROOM_FILTER "ORDER BY r.jid";

/* The hook for categories (issue 16): a database without them cannot be
 * filtered by one, and says so rather than failing on a missing column. */
static int check_category(struct ctl *c, const char *name)
{
    const char *v[] = { name };
    PGresult *r = NULL;
    int rc = ctl_query(c, "looking up the category",
                       "SELECT to_regclass('categories') IS NOT NULL AND EXISTS (SELECT 1 FROM "
                       "information_schema.columns WHERE table_name = 'rooms' AND column_name = "
                       "'category_id'), (SELECT count(*) FROM categories WHERE name = $1)",
                       1, v, &r);
    if (rc == 0 && !ctl_col_bool(r, 0, 0)) {
        ctl_err("export: categories not available yet in this database");
        rc = CTL_FAIL;
    } else if (rc == 0 && ctl_col_ll(r, 0, 1) == 0) {
        ctl_err("export: no such category: %s", name);
        rc = CTL_FAIL;
    }
    PQclear(r);
    return rc;
}

/* GLOB (* and ?) as a LIKE pattern, LIKE's own wildcards escaped. */
static char *glob_to_like(const char *g)
{
    char *out = xmalloc(2 * strlen(g) + 1), *p = out;
    for (; *g; g++) {
        if (*g == '%' || *g == '_' || *g == '\\')
            *p++ = '\\';
        *p++ = *g == '*' ? '%' : *g == '?' ? '_' : *g;
    }
    *p = '\0';
    return out;
}

static void put_line(struct export *e, const char *line)
{
    fputs(line, e->f);
    fputc('\n', e->f);
}

static void put_json(struct export *e, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    put_line(e, s);
    free(s);
    json_decref(v);
}

static void put_header(struct export *e)
{
    char now[DATETIME_FMT_MAX];
    datetime_format(datetime_now_ms(), now);
    json_t *filters = json_pack("{s:O?, s:s?, s:s?, s:s?, s:s?}", "rooms", e->o->rooms,
                                "rooms_matching", e->o->matching, "category", e->o->category,
                                "since", e->has_since ? e->since : NULL, "until",
                                e->has_until ? e->until : NULL);
    put_json(e, json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s?, s:o}", "format", "confab-export",
                          "version", 1, "type", "header", "generator", "confabctl " PACKAGE_VERSION,
                          "exported_at", now, "level", level_names[e->o->level], "service",
                          e->c->cfg->component.domain, "filters", filters));
}

static int export_messages(struct export *e, const char *id, const char *jid)
{
    char after[24] = "0", limit[16];
    snprintf(limit, sizeof limit, "%d", EXPORT_BATCH);
    int n;
    do {
        const char *v[] = { id, jid, after, e->has_since ? e->since : NULL,
                            e->has_until ? e->until : NULL, limit };
        PGresult *r = NULL;
        int rc = ctl_query(e->c, "reading messages", messages_sql, 6, v, &r);
        if (rc)
            return rc;
        n = PQntuples(r);
        for (int i = 0; i < n; i++)
            put_line(e, PQgetvalue(r, i, 1));
        if (n)
            snprintf(after, sizeof after, "%s", PQgetvalue(r, n - 1, 0));
        e->nmessages += n;
        PQclear(r);
    } while (n == EXPORT_BATCH);
    return 0;
}

static int export_room(struct export *e, const char *id, const char *jid)
{
    const char *v[] = { id };
    PGresult *r = NULL;
    int rc = ctl_query(e->c, "reading a room",
                       e->o->level == LEVEL_CONTENT ? room_content_sql : room_full_sql, 1, v, &r);
    if (rc)
        return rc;
    if (PQntuples(r) == 1) { /* else destroyed meanwhile: nothing to export */
        put_line(e, PQgetvalue(r, 0, 0));
        e->nrooms++;
        if (e->o->level != LEVEL_DIRECTORY)
            rc = export_messages(e, id, jid);
    }
    PQclear(r);
    return rc;
}

static int export_rooms(struct export *e)
{
    const char *v[] = { e->rooms_json, e->like, e->o->category };
    PGresult *r = NULL;
    int rc = ctl_query(e->c, "listing rooms", rooms_sql, 3, v, &r);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        rc = export_room(e, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    PQclear(r);
    return rc;
}

/* Tombstones keep destroyed rooms' names reserved; a category has none. */
static int export_tombstones(struct export *e)
{
    if (e->o->level == LEVEL_CONTENT || e->o->category)
        return 0;
    const char *v[] = { e->rooms_json, e->like };
    PGresult *r = NULL;
    int rc = ctl_query(e->c, "reading tombstones", tombstones_sql, 2, v, &r);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        put_line(e, PQgetvalue(r, i, 0));
    if (rc == 0)
        e->ntombstones = PQntuples(r);
    PQclear(r);
    return rc;
}

static int print_summary(const struct export *e)
{
    const char *to = e->o->out ? e->o->out : "standard output";
    if (e->c->json && e->o->out)
        return ctl_print_json(json_pack("{s:s, s:s, s:I, s:I, s:I}", "file", to, "level",
                                        level_names[e->o->level], "rooms",
                                        (json_int_t)e->nrooms, "messages",
                                        (json_int_t)e->nmessages, "tombstones",
                                        (json_int_t)e->ntombstones));
    fprintf(e->o->out ? stdout : stderr, "exported %lld room%s, %lld message%s, %lld tombstone%s "
            "to %s\n", e->nrooms, e->nrooms == 1 ? "" : "s", e->nmessages,
            e->nmessages == 1 ? "" : "s", e->ntombstones, e->ntombstones == 1 ? "" : "s", to);
    return 0;
}

/* Everything in one repeatable-read snapshot: rooms, messages and counts agree. */
static int run_export(struct export *e)
{
    int rc = ctl_query(e->c, "starting the export",
                       "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL);
    if (rc == 0)
        rc = ctl_query(e->c, "setting the time zone", "SET LOCAL TIME ZONE 'UTC'", 0, NULL, NULL);
    if (rc == 0 && e->o->category)
        rc = check_category(e->c, e->o->category);
    if (rc)
        return rc;
    put_header(e);
    rc = export_rooms(e);
    if (rc == 0)
        rc = export_tombstones(e);
    if (rc == 0)
        put_json(e, json_pack("{s:s, s:I, s:I, s:I}", "type", "end", "rooms",
                              (json_int_t)e->nrooms, "messages", (json_int_t)e->nmessages,
                              "tombstones", (json_int_t)e->ntombstones));
    (void)ctl_query(e->c, "ending the export", "COMMIT", 0, NULL, NULL);
    return rc;
}

/* ---- options ---- */

static int parse_level(const char *s, enum level *l)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
        if (strcmp(s, level_names[i]) == 0) {
            *l = (enum level)i;
            return 0;
        }
    return ctl_usage("export: --level must be all, directory or content, not %s", s);
}

static int add_room(struct ctl *c, json_t *rooms, const char *arg)
{
    char *jid = NULL;
    int rc = ctl_room_jid(c, arg, &jid);
    if (rc == 0)
        json_array_append_new(rooms, json_string(jid));
    free(jid);
    return rc;
}

static int parse_opts(struct ctl *c, int argc, char **argv, struct export_opts *o)
{
    static const struct option longopts[] = {
        { "level", required_argument, NULL, 'l' },  { "room", required_argument, NULL, 'r' },
        { "rooms-matching", required_argument, NULL, 'm' },
        { "category", required_argument, NULL, 'g' }, { "since", required_argument, NULL, 's' },
        { "until", required_argument, NULL, 'u' },  { "out", required_argument, NULL, 'o' },
        { "json", no_argument, NULL, 'J' },         { NULL, 0, NULL, 0 },
    };
    int ch, rc = 0;
    ctl_getopt_reset();
    while (rc == 0 && (ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l': rc = parse_level(optarg, &o->level); break;
        case 'r':
            if (!o->rooms)
                o->rooms = json_array();
            rc = add_room(c, o->rooms, optarg);
            break;
        case 'm': o->matching = optarg; break;
        case 'g': o->category = optarg; break;
        case 's': o->since = optarg; break;
        case 'u': o->until = optarg; break;
        case 'o': o->out = strcmp(optarg, "-") == 0 ? NULL : optarg; break;
        case 'J': c->json = true; break;
        default: return ctl_bad_option("export", argv);
        }
    }
    if (rc == 0 && optind < argc)
        rc = ctl_usage("export takes options only (see --help)");
    return rc;
}

static int parse_span(struct export *e)
{
    int64_t ms = 0;
    if (e->o->since && ctl_parse_date(e->o->since, &ms) < 0)
        return ctl_usage("export: --since %s is not a date", e->o->since);
    if ((e->has_since = e->o->since != NULL))
        datetime_format(ms, e->since);
    if (e->o->until && ctl_parse_date(e->o->until, &ms) < 0)
        return ctl_usage("export: --until %s is not a date", e->o->until);
    if ((e->has_until = e->o->until != NULL))
        datetime_format(ms, e->until);
    return 0;
}

static int open_out(struct export *e)
{
    e->f = e->o->out ? fopen(e->o->out, "w") : stdout;
    if (!e->f) {
        ctl_err("export: cannot write %s: %m", e->o->out);
        return CTL_FAIL;
    }
    return 0;
}

static int close_out(struct export *e, int rc)
{
    bool bad = fflush(e->f) != 0 || ferror(e->f);
    if (e->f != stdout && fclose(e->f) != 0)
        bad = true;
    if (rc == 0 && bad) {
        ctl_err("export: writing %s failed: %m", e->o->out ? e->o->out : "standard output");
        rc = CTL_FAIL;
    }
    return rc;
}

int ctl_export_main(struct ctl *c, int argc, char **argv)
{
    struct export_opts o = { .level = LEVEL_ALL };
    struct export e = { .c = c, .o = &o };
    int rc = parse_opts(c, argc, argv, &o);
    if (rc == 0)
        rc = parse_span(&e);
    if (rc == 0) {
        e.rooms_json = o.rooms ? json_dumps(o.rooms, JSON_COMPACT) : NULL;
        e.like = o.matching ? glob_to_like(o.matching) : NULL;
        rc = ctl_connect(c);
    }
    if (rc == 0)
        rc = ctl_require_schema(c);
    if (rc == 0)
        rc = open_out(&e);
    if (rc == 0) {
        rc = close_out(&e, run_export(&e));
        if (rc == 0)
            rc = print_summary(&e);
    }
    free(e.rooms_json);
    free(e.like);
    json_decref(o.rooms);
    return rc;
}
