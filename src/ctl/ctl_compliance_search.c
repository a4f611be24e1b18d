/* ctl_compliance_search.c — confabctl compliance search: events by user,
 * room, time range, type and words, as a table, CSV or JSON.
 *
 * A user matches as actor, target or recipient (bare JID: every resource).
 * Rows come in chain order (seq); a 1:1 message copied in and out by a
 * router tap is one row unless --all-copies.
 * Words use PostgreSQL's web-search syntax on the `simple` configuration (the
 * one body_tsv is built with): `budget q3` (both), `"exact phrase"`,
 * `budget or forecast`, `-draft`. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "datetime.h"
#include "mem.h"

/* Events oldest first by their place in the chain (seq). Unless $8 (every
 * copy), the copies of one 1:1 message (the tap's in and out copies, one key:
 * src/archiver/msgkey.h) are one row, the first copy's, with the directions
 * seen and the number of copies. Copies merge only when the columns the hash
 * chain covers agree as well (who, to whom, what), so a key altered in the
 * database cannot hide one message behind another. */
static const char search_sql[] =
    "WITH hit AS (SELECT e.*, CASE WHEN $8::boolean OR e.msg_key IS NULL THEN e.uuid::text "
    "                              ELSE e.msg_key END AS g "
    "  FROM events e "
    "  WHERE ($1::text IS NULL OR split_part(e.actor_jid, '/', 1) = $1 "
    "         OR split_part(e.target_jid, '/', 1) = $1 "
    "         OR EXISTS (SELECT 1 FROM unnest(e.recipients) AS r (j) "
    "                    WHERE split_part(r.j, '/', 1) = $1)) "
    "  AND ($2::text IS NULL OR e.room = $2) "
    "  AND ($3::timestamptz IS NULL OR e.event_time >= $3::timestamptz) "
    "  AND ($4::timestamptz IS NULL OR e.event_time < $4::timestamptz) "
    "  AND ($5::text IS NULL OR e.body_tsv @@ websearch_to_tsquery('simple', $5)) "
    "  AND ($6::text IS NULL OR e.type = $6)), "
    "grp AS (SELECT min(h.seq) AS first, count(*) AS copies, "
    "        string_agg(DISTINCT h.direction, '+' ORDER BY h.direction) AS dirs "
    "  FROM hit h GROUP BY h.g, h.type, split_part(h.actor_jid, '/', 1), "
    "        split_part(h.target_jid, '/', 1), h.msg_type, h.subject, h.thread, h.body) "
    "SELECT e.seq, e.uuid::text, "
    "to_char(e.event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), e.type, "
    "e.room, e.actor_jid, e.actor_nick, e.target_jid, e.target_nick, e.subject, e.body, "
    "e.reason, array_to_json(e.recipients)::text, e.direction, g.dirs, g.copies, e.detail "
    "FROM grp g JOIN hit e ON e.seq = g.first "
    "ORDER BY e.seq "
    "LIMIT CASE WHEN $7::bigint > 0 THEN $7::bigint END";

enum { C_SEQ, C_UUID, C_TIME, C_TYPE, C_ROOM, C_ACTOR, C_NICK, C_TARGET, C_TNICK, C_SUBJECT,
       C_BODY, C_REASON, C_RECIPIENTS, C_DIRECTION, C_DIRECTIONS, C_COPIES, C_DETAIL, NCOLS };

static const char *const names[NCOLS] = {
    "seq", "uuid", "time", "type", "room", "actor_jid", "actor_nick", "target_jid",
    "target_nick", "subject", "body", "reason", "recipients", "direction", "directions",
    "copies", "detail",
};

enum format { F_TABLE, F_CSV, F_JSON };

static void print_csv(const PGresult *r)
{
    for (int c = 0; c < NCOLS; c++)
        ctl_csv_field(names[c], c + 1 == NCOLS);
    for (int i = 0; i < PQntuples(r); i++)
        for (int c = 0; c < NCOLS; c++)
            ctl_csv_field(ctl_col(r, i, c), c + 1 == NCOLS);
}

static int print_json(const PGresult *r)
{
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        for (int c = 0; c < NCOLS; c++) {
            const char *v = ctl_col(r, i, c);
            json_t *j;
            if (!v)
                j = json_null();
            else if (c == C_SEQ || c == C_COPIES)
                j = json_integer(ctl_col_ll(r, i, c));
            else if (c == C_RECIPIENTS)
                j = json_loads(v, 0, NULL);
            else
                j = json_string(v);
            json_object_set_new(o, names[c], j ? j : json_null());
        }
        json_array_append_new(a, o);
    }
    return ctl_print_json(a);
}

/* What the "to" column shows: a nick change's new nick (its target is the
 * same person), else whom it was done to. */
static const char *table_to(const PGresult *r, int i)
{
    const char *type = ctl_col(r, i, C_TYPE);
    if (ctl_col(r, i, C_TNICK) && (!ctl_col(r, i, C_TARGET) || strcmp(type, "nick") == 0))
        return ctl_col(r, i, C_TNICK);
    return ctl_col(r, i, C_TARGET);
}

/* Who, what, where: the columns a person reads; CSV and JSON have them all. */
static void print_table(const PGresult *r)
{
    static const char *const head[] = { "seq", "time", "type", "room", "from", "nick", "to",
                                        "dir", "text" };
    struct ctl_table *t = ctl_table_new(ARRAY_SIZE(head), head);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *text = ctl_col(r, i, C_BODY);
        if (!text)
            text = ctl_col(r, i, C_SUBJECT) ? ctl_col(r, i, C_SUBJECT) : ctl_col(r, i, C_REASON);
        const char *cells[] = { ctl_col(r, i, C_SEQ), ctl_col(r, i, C_TIME),
                                ctl_col(r, i, C_TYPE), ctl_col(r, i, C_ROOM),
                                ctl_col(r, i, C_ACTOR), ctl_col(r, i, C_NICK), table_to(r, i),
                                ctl_col(r, i, C_DIRECTIONS), text };
        ctl_table_add(t, cells);
    }
    ctl_table_print(t);
    ctl_table_free(t);
    printf("(%d event%s)\n", PQntuples(r), PQntuples(r) == 1 ? "" : "s");
}

static int parse_format(const struct ctl *c, const char *s, enum format *f)
{
    *f = c->json ? F_JSON : F_TABLE;
    if (!s)
        return 0;
    if (strcmp(s, "table") == 0)
        *f = F_TABLE;
    else if (strcmp(s, "csv") == 0)
        *f = F_CSV;
    else if (strcmp(s, "json") == 0)
        *f = F_JSON;
    else
        return ctl_usage("compliance search: --format is table, csv or json, not '%s'", s);
    return 0;
}

int ctl_compliance_search(struct ctl *c, const struct ctl_compliance_opts *o)
{
    enum format f;
    char *user = NULL, *room = NULL, limit[24];
    struct ctl_span span;
    int rc = parse_format(c, o->format, &f);
    if (rc == 0 && o->user)
        rc = ctl_bare_jid("user", o->user, &user);
    if (rc == 0 && o->room)
        rc = ctl_room_jid(c, o->room, &room);
    if (rc == 0)
        rc = ctl_compliance_span(o, &span);
    if (rc == 0 && o->words && !*o->words)
        rc = ctl_usage("compliance search: --words needs at least one word");
    if (rc == 0)
        rc = ctl_compliance_open(c, o);
    PGresult *r = NULL;
    if (rc == 0) {
        snprintf(limit, sizeof limit, "%lld", o->limit);
        const char *v[] = { user, room, span.from, span.to, o->words, o->type, limit,
                            o->all_copies ? "true" : "false" };
        rc = ctl_query(c, "searching events", search_sql, 8, v, &r);
    }
    if (rc == 0) {
        if (f == F_CSV)
            print_csv(r);
        else if (f == F_JSON)
            rc = print_json(r);
        else
            print_table(r);
    }
    PQclear(r);
    free(user);
    free(room);
    return rc;
}
