/* ctl_report.c — confabctl rooms report: Cisco's Room Report. Every room with
 * its owners, members, occupants now (from what running confabds publish),
 * messages, last message and size, filtered by name, owner, member, idleness
 * and size; as a table, CSV or JSON. */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "datetime.h"
#include "mem.h"

/* Occupants now: the sum over confabds seen in the last 15 s of what each
 * publishes in status->'occupied' (ctlchan.c). */
static const char report_sql[] =
    "SELECT r.jid, r.name, "
    "coalesce((SELECT string_agg(a.jid, ' ' ORDER BY a.jid) FROM affiliations a "
    "  WHERE a.room_id = r.id AND a.affiliation = 'owner'), ''), "
    "(SELECT count(*) FROM affiliations a WHERE a.room_id = r.id AND a.affiliation = 'member'), "
    "coalesce((SELECT sum((d.status->'occupied'->>r.jid)::integer) FROM daemons d "
    "  WHERE d.stopped_at IS NULL AND d.seen_at > now() - interval '15 seconds'), 0), "
    "s.n, (extract(epoch FROM s.last) * 1000)::bigint, s.bytes "
    "FROM rooms r CROSS JOIN LATERAL (SELECT count(*) AS n, max(ts) AS last, "
    "  coalesce(sum(octet_length(stanza)), 0) AS bytes FROM messages m WHERE m.room_id = r.id) s "
    "WHERE ($1::text IS NULL OR r.jid ILIKE $1 OR r.name ILIKE $1) "
    "AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM affiliations a WHERE a.room_id = r.id "
    "  AND a.jid = $2 AND a.affiliation = 'owner')) "
    "AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM affiliations a WHERE a.room_id = r.id "
    "  AND a.jid = $3 AND a.affiliation IN ('member', 'admin', 'owner'))) "
    "AND ($4::timestamptz IS NULL OR coalesce(s.last, r.created_at) < $4) "
    "AND s.n >= $5::bigint AND s.bytes >= $6::bigint ORDER BY r.jid";

enum { C_JID, C_NAME, C_OWNERS, C_MEMBERS, C_OCCUPANTS, C_MESSAGES, C_LAST, C_BYTES, NCOLS };
static const char *const names[NCOLS] = { "room", "name", "owners", "members", "occupants",
                                         "messages", "last_message", "bytes" };

struct report_opts {
    const char *name, *owner, *member, *idle_since;
    long long min_messages, min_bytes;
    bool csv;
};

static const char *cell(const PGresult *r, int i, int col, char *buf, size_t len)
{
    return col == C_LAST ? (ctl_col_time(r, i, col, buf, len) ? buf : "")
                         : ctl_col(r, i, col) ? ctl_col(r, i, col) : "";
}

static void print_csv(const PGresult *r)
{
    char buf[DATETIME_FMT_MAX];
    for (int c = 0; c < NCOLS; c++)
        ctl_csv_field(names[c], c + 1 == NCOLS);
    for (int i = 0; i < PQntuples(r); i++)
        for (int c = 0; c < NCOLS; c++)
            ctl_csv_field(cell(r, i, c, buf, sizeof buf), c + 1 == NCOLS);
}

static json_t *to_json(const PGresult *r)
{
    json_t *a = json_array();
    char buf[DATETIME_FMT_MAX];
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        for (int c = 0; c < NCOLS; c++) {
            bool num = c == C_MEMBERS || c == C_OCCUPANTS || c == C_MESSAGES || c == C_BYTES;
            json_object_set_new(o, names[c], num ? json_integer(ctl_col_ll(r, i, c))
                                                 : json_string(cell(r, i, c, buf, sizeof buf)));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static void print_table(const PGresult *r)
{
    struct ctl_table *t = ctl_table_new(NCOLS, names);
    char buf[DATETIME_FMT_MAX];
    for (int i = 0; i < PQntuples(r); i++) {
        const char *row[NCOLS];
        for (int c = 0; c < NCOLS; c++)
            row[c] = c == C_LAST ? cell(r, i, c, buf, sizeof buf) : cell(r, i, c, NULL, 0);
        ctl_table_add(t, row);
    }
    ctl_table_print(t);
    ctl_table_free(t);
    printf("%d room%s\n", PQntuples(r), PQntuples(r) == 1 ? "" : "s");
}

static int parse_opts(struct ctl *c, int argc, char **argv, struct report_opts *o)
{
    static const struct option longopts[] = {
        { "name", required_argument, NULL, 'n' },   { "owner", required_argument, NULL, 'o' },
        { "member", required_argument, NULL, 'm' }, { "idle-since", required_argument, NULL, 'i' },
        { "min-messages", required_argument, NULL, 'M' },
        { "min-mb", required_argument, NULL, 'B' }, { "csv", no_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'J' },         { NULL, 0, NULL, 0 },
    };
    int ch;
    ctl_getopt_reset();
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n': o->name = optarg; break;
        case 'o': o->owner = optarg; break;
        case 'm': o->member = optarg; break;
        case 'i': o->idle_since = optarg; break;
        case 'M': o->min_messages = atoll(optarg); break;
        case 'B': o->min_bytes = atoll(optarg) * 1024 * 1024; break;
        case 'c': o->csv = true; break;
        case 'J': c->json = true; break;
        default: return ctl_bad_option("rooms", argv);
        }
    }
    return optind < argc ? ctl_usage("rooms report takes only options") : 0;
}

int ctl_rooms_report(struct ctl *c, int argc, char **argv)
{
    struct report_opts o = { 0 };
    int rc = parse_opts(c, argc, argv, &o);
    char *like = NULL, *owner = NULL, *member = NULL, idle[DATETIME_FMT_MAX], nmsg[24], nbytes[24];
    int64_t idle_ms = 0;
    if (rc == 0 && o.idle_since && ctl_parse_date(o.idle_since, &idle_ms) < 0)
        rc = ctl_usage("rooms report: --idle-since %s is not a date", o.idle_since);
    if (rc == 0 && o.owner)
        rc = ctl_bare_jid("--owner", o.owner, &owner);
    if (rc == 0 && o.member)
        rc = ctl_bare_jid("--member", o.member, &member);
    if (rc == 0 && o.name)
        like = xasprintf("%%%s%%", o.name);
    if (o.idle_since)
        datetime_format(idle_ms, idle);
    snprintf(nmsg, sizeof nmsg, "%lld", o.min_messages);
    snprintf(nbytes, sizeof nbytes, "%lld", o.min_bytes);
    PGresult *r = NULL;
    if (rc == 0)
        rc = ctl_connect(c);
    if (rc == 0)
        rc = ctl_require_schema(c);
    const char *v[] = { like, owner, member, o.idle_since ? idle : NULL, nmsg, nbytes };
    if (rc == 0)
        rc = ctl_query(c, "reporting on rooms", report_sql, 6, v, &r);
    if (rc == 0 && c->json)
        rc = ctl_print_json(to_json(r));
    else if (rc == 0 && o.csv)
        print_csv(r);
    else if (rc == 0)
        print_table(r);
    PQclear(r);
    free(like);
    free(owner);
    free(member);
    return rc;
}
