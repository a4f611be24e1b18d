/* ctl_compliance.c — confabctl compliance …: the officer's tools on the
 * compliance database ([archiver] dsn, or --dsn), and `verify`.
 *
 * verify recomputes the SHA-256 chain with src/core/hashchain.c, from the
 * columns alone: it never calls a function stored in the database it checks.
 * Rows deleted by `compliance purge` are stepped over with the hash recorded
 * for them in chain_gaps, and only when the purge event (itself a chained row)
 * names that gap; any other missing row breaks the chain. */
#include "compat.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "datetime.h"
#include "digest.h"
#include "hashchain.h"
#include "mem.h"
#include "migrate.h"

/* schema_compliance.c, generated from schema/compliance/. */
extern const struct migration compliance_migrations[];
extern const size_t compliance_migrations_count;

/* chain_gaps and holds arrive with migration 6, msg_key (search) with 10. */
#define COMPLIANCE_SCHEMA_NEEDED 10
/* Rows per query while verifying. */
#define VERIFY_PAGE 2000

/* ---- shared ---- */

int ctl_compliance_open(struct ctl *c, const struct ctl_compliance_opts *o)
{
    int have = 0, knows = migrate_latest(compliance_migrations, compliance_migrations_count);
    int rc = ctl_connect_compliance(c, o->dsn);
    if (rc == 0)
        rc = ctl_schema_known(c, "compliance", knows, "upgrade confab", &have);
    if (rc == 0 && have < COMPLIANCE_SCHEMA_NEEDED) {
        ctl_err("the compliance database schema is at version %d; these tools need %d "
                "(start confab-archiver once with the owner's DSN to migrate it)", have,
                COMPLIANCE_SCHEMA_NEEDED);
        rc = CTL_FAIL;
    }
    return rc;
}

static int date_arg(const char *arg, char *buf, const char **out)
{
    int64_t ms;
    *out = NULL;
    if (!arg)
        return 0;
    int rc = ctl_parse_date(arg, &ms);
    if (rc)
        return rc;
    datetime_format(ms, buf);
    *out = buf;
    return 0;
}

int ctl_compliance_span(const struct ctl_compliance_opts *o, struct ctl_span *s)
{
    int rc = date_arg(o->from, s->fb, &s->from);
    return rc ? rc : date_arg(o->to, s->tb, &s->to);
}

/* ---- verify ---- */

struct gap {
    int64_t first, last, purge_seq;
    unsigned char hash[HASHCHAIN_LEN];
    bool named;                  /* the purge event's detail lists it */
};

struct verifier {
    struct ctl *c;
    struct hashchain_verify v;
    struct gap *gaps;
    size_t ngaps;
    /* The first broken row, for the report. */
    int64_t bad_seq;
    char bad_time[DATETIME_FMT_MAX];
    char bad_uuid[40];
    char expected[2 * HASHCHAIN_LEN + 1], stored[2 * HASHCHAIN_LEN + 1];
    char why[200];
};

static void i64(int64_t v, char buf[24])
{
    snprintf(buf, 24, "%" PRId64, v);
}

/* sql over seq $1 lo .. $2 hi. */
static int query_range(struct verifier *w, const char *what, const char *sql, int64_t lo,
                       int64_t hi, PGresult **r)
{
    char a[24], b[24];
    i64(lo, a);
    i64(hi, b);
    const char *v[] = { a, b };
    return ctl_query(w->c, what, sql, 2, v, r);
}

static const char gaps_sql[] =
    "SELECT g.first_seq, g.last_seq, encode(g.last_hash, 'hex'), g.purge_seq, "
    "e.detail IS NOT NULL AND strpos(e.detail, format('<gap first=''%s'' last=''%s'' "
    "hash=''%s''/>', g.first_seq, g.last_seq, encode(g.last_hash, 'hex'))) > 0 "
    "FROM chain_gaps g LEFT JOIN events e ON e.seq = g.purge_seq AND e.type = 'purge' "
    "WHERE g.last_seq >= $1::bigint AND g.first_seq <= $2::bigint ORDER BY g.first_seq";

static int load_gaps(struct verifier *w, int64_t lo, int64_t hi)
{
    PGresult *r = NULL;
    int rc = query_range(w, "reading chain_gaps", gaps_sql, lo, hi, &r);
    if (rc)
        return rc;
    int n = PQntuples(r);
    w->gaps = xcalloc((size_t)n + 1, sizeof *w->gaps);
    for (int i = 0; i < n; i++) {
        struct gap *g = &w->gaps[w->ngaps++];
        g->first = ctl_col_ll(r, i, 0);
        g->last = ctl_col_ll(r, i, 1);
        g->purge_seq = ctl_col_ll(r, i, 3);
        g->named = ctl_col_bool(r, i, 4);
        if (hashchain_parse_bytea(PQgetvalue(r, i, 2), g->hash) < 0)
            g->named = false;
    }
    PQclear(r);
    return 0;
}

/* The hash the row before `seq` ended with: its stored hash, or the recorded
 * hash of the purged run it was the last of. */
static int prev_hash(struct verifier *w, int64_t seq, unsigned char out[HASHCHAIN_LEN],
                     bool *found)
{
    static const char sql[] =
        "SELECT encode(hash, 'hex') FROM events WHERE seq = $1::bigint UNION ALL "
        "SELECT encode(last_hash, 'hex') FROM chain_gaps WHERE last_seq = $1::bigint";
    char a[24];
    i64(seq, a);
    const char *v[] = { a };
    PGresult *r = NULL;
    int rc = ctl_query(w->c, "reading the row before the range", sql, 1, v, &r);
    if (rc)
        return rc;
    *found = PQntuples(r) >= 1 && hashchain_parse_bytea(PQgetvalue(r, 0, 0), out) == 0;
    PQclear(r);
    return 0;
}

static void broken_at(struct verifier *w, int64_t seq, const char *why)
{
    w->bad_seq = seq;
    snprintf(w->why, sizeof w->why, "%s", why);
}

/* Check one decoded row; false when the chain breaks here. */
static bool check_row(struct verifier *w, const PGresult *r, int i, struct hashchain_pgrow *row)
{
    unsigned char expected[HASHCHAIN_LEN];
    hashchain_hash(w->v.prev, &row->row, expected); /* zeros before row 1 */
    if (hashchain_verify_row(&w->v, &row->row, row->stored) == 0)
        return true;
    w->bad_seq = w->v.bad_seq;
    snprintf(w->why, sizeof w->why, "%s", w->v.why);
    snprintf(w->bad_uuid, sizeof w->bad_uuid, "%s", PQgetvalue(r, i, 1));
    datetime_format(row->row.event_time_us / 1000, w->bad_time);
    digest_hex(expected, HASHCHAIN_LEN, w->expected);
    digest_hex(row->stored, HASHCHAIN_LEN, w->stored);
    return false;
}

/* Rows lo..hi (no gap starts inside). 0 with w->bad_seq set when broken. */
static int check_page(struct verifier *w, int64_t lo, int64_t hi)
{
    PGresult *r = NULL;
    int rc = query_range(w, "reading events", HASHCHAIN_ROWS_SQL, lo, hi, &r);
    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(r) && !w->bad_seq; i++) {
        struct hashchain_pgrow row;
        if (hashchain_row_from_pg(r, i, &row) < 0) {
            ctl_err("unexpected row shape in events (seq %s)", PQgetvalue(r, i, 0));
            PQclear(r);
            return CTL_FAIL;
        }
        check_row(w, r, i, &row);
        hashchain_pgrow_clear(&row);
    }
    PQclear(r);
    /* Rows missing at the end of the page show up as a seq jump at the next
     * row; the last page's are caught by the head check or the range end. */
    return 0;
}

/* Step over a purged run: the next row chains to its recorded last hash. */
static void skip_gap(struct verifier *w, const struct gap *g)
{
    char why[200];
    if (g->first != w->v.next_seq) {
        snprintf(why, sizeof why, "purge gap %" PRId64 "..%" PRId64 " does not start where "
                 "the chain continues (seq %" PRId64 ")", g->first, g->last, w->v.next_seq);
        broken_at(w, g->first, why);
        return;
    }
    if (!g->named) {
        snprintf(why, sizeof why, "rows %" PRId64 "..%" PRId64 " are missing and the purge "
                 "event at seq %" PRId64 " does not name that gap (rows deleted outside a "
                 "purge?)", g->first, g->last, g->purge_seq);
        broken_at(w, g->first, why);
        return;
    }
    memcpy(w->v.prev, g->hash, HASHCHAIN_LEN);
    w->v.next_seq = g->last + 1;
}

static int walk(struct verifier *w, int64_t lo, int64_t hi)
{
    size_t gi = 0;
    int64_t cur = lo;
    while (cur <= hi && !w->bad_seq) {
        while (gi < w->ngaps && w->gaps[gi].last < cur)
            gi++;
        if (gi < w->ngaps && w->gaps[gi].first <= cur) {
            skip_gap(w, &w->gaps[gi]);
            cur = w->gaps[gi++].last + 1;
            continue;
        }
        int64_t end = cur + VERIFY_PAGE - 1;
        if (end > hi)
            end = hi;
        if (gi < w->ngaps && w->gaps[gi].first - 1 < end)
            end = w->gaps[gi].first - 1;
        int rc = check_page(w, cur, end);
        if (rc)
            return rc;
        cur = end + 1;
    }
    if (!w->bad_seq && w->v.next_seq != hi + 1) {
        char why[160];
        snprintf(why, sizeof why, "rows %" PRId64 "..%" PRId64 " are missing", w->v.next_seq,
                 hi);
        broken_at(w, w->v.next_seq, why);
    }
    return 0;
}

/* The seq range to check: the events of the time range, or everything up to
 * the head. */
static int seq_range(struct verifier *w, const char *from, const char *to, int64_t head,
                     int64_t *lo, int64_t *hi)
{
    *lo = 1;
    *hi = head;
    PGresult *r = NULL;
    int rc;
    if (!to) {
        /* Rows beyond the head (a head moved back) are checked too, and then
         * fail the head comparison. */
        rc = ctl_query(w->c, "finding the last row", "SELECT max(seq) FROM events", 0, NULL,
                       &r);
        if (rc)
            return rc;
        if (!PQgetisnull(r, 0, 0) && ctl_col_ll(r, 0, 0) > head)
            *hi = ctl_col_ll(r, 0, 0);
        PQclear(r);
        r = NULL;
    }
    if (!from && !to)
        return 0;
    const char *v[] = { from, to };
    rc = ctl_query(w->c, "finding the range", HASHCHAIN_RANGE_SQL, 2, v, &r);
    if (rc)
        return rc;
    if (PQgetisnull(r, 0, 0)) {
        *lo = 1;
        *hi = 0; /* nothing in the range */
    } else {
        *lo = ctl_col_ll(r, 0, 0);
        if (to)
            *hi = ctl_col_ll(r, 0, 1);
    }
    PQclear(r);
    return 0;
}

static int start(struct verifier *w, int64_t lo)
{
    if (lo <= 1) {
        hashchain_verify_init(&w->v, 1, NULL);
        return 0;
    }
    unsigned char prev[HASHCHAIN_LEN];
    bool found = false;
    int rc = prev_hash(w, lo - 1, prev, &found);
    if (rc)
        return rc;
    hashchain_verify_init(&w->v, lo, found ? prev : NULL);
    if (!found)
        broken_at(w, lo, "the row before the range is missing and no purge recorded it");
    return 0;
}

static int print_verified(const struct ctl *c, const struct verifier *w, int64_t head)
{
    if (!w->bad_seq) {
        if (c->json)
            return ctl_print_json(json_pack("{s:s, s:I, s:I}", "status", "ok", "rows",
                                            (json_int_t)w->v.rows, "head", (json_int_t)head));
        printf("ok: %" PRIu64 " rows verified\n", w->v.rows);
        return 0;
    }
    if (c->json) {
        ctl_print_json(json_pack("{s:s, s:I, s:s?, s:s?, s:s?, s:s?, s:s, s:I}", "status",
                                 "broken", "seq", (json_int_t)w->bad_seq,
                                 "uuid", *w->bad_uuid ? w->bad_uuid : NULL,
                                 "time", *w->bad_time ? w->bad_time : NULL,
                                 "expected", *w->expected ? w->expected : NULL,
                                 "stored", *w->stored ? w->stored : NULL, "why", w->why,
                                 "rows", (json_int_t)w->v.rows));
        return CTL_FAIL;
    }
    printf("broken at seq %" PRId64 ": %s\n", w->bad_seq, w->why);
    if (*w->bad_uuid)
        printf("  uuid:     %s\n  time:     %s\n  expected: %s\n  stored:   %s\n",
               w->bad_uuid, w->bad_time, w->expected, w->stored);
    return CTL_FAIL;
}

static int verify(struct ctl *c, const struct ctl_compliance_opts *o)
{
    struct ctl_span span;
    struct ctl_checkpoints cps = { 0 };
    if (!o->checkpoints != !o->pubkey)
        return ctl_usage("compliance verify: --checkpoints FILE and --pubkey PUB go together");
    /* The file first: a forged line refuses the whole check before any query. */
    int rc = o->checkpoints ? ctl_checkpoints_load(o->checkpoints, o->pubkey, &cps) : 0;
    if (rc)
        return rc;
    rc = ctl_compliance_span(o, &span);
    if (rc == 0)
        rc = ctl_compliance_open(c, o);
    PGresult *r = NULL;
    if (rc == 0)
        rc = ctl_query(c, "reading the chain head", HASHCHAIN_HEAD_SQL, 0, NULL, &r);
    if (rc) {
        ctl_checkpoints_free(&cps);
        return rc;
    }
    int64_t head = ctl_col_ll(r, 0, 0), lo, hi;
    unsigned char head_hash[HASHCHAIN_LEN];
    int bad_head = hashchain_parse_bytea(PQgetvalue(r, 0, 1), head_hash);
    PQclear(r);
    struct verifier w = { .c = c };
    rc = seq_range(&w, span.from, span.to, head, &lo, &hi);
    if (rc == 0 && hi >= lo)
        rc = load_gaps(&w, lo, hi);
    if (rc == 0 && hi >= lo)
        rc = start(&w, lo);
    if (rc == 0 && hi >= lo && !w.bad_seq)
        rc = walk(&w, lo, hi);
    /* The head closes the chain: rows missing at its end show only here. */
    if (rc == 0 && !w.bad_seq && !span.to && hi > 0) {
        if (bad_head || hashchain_verify_head(&w.v, head, head_hash) < 0)
            broken_at(&w, w.v.bad_seq ? w.v.bad_seq : head,
                      bad_head ? "the chain head's hash is malformed" : w.v.why);
    }
    /* A good walk proves every stored hash; the signed ones then show a
     * chain recomputed after a rewrite, or cut at its end. */
    if (rc == 0 && o->checkpoints && !w.bad_seq)
        rc = ctl_checkpoints_check(c, &cps, lo, hi, head, !span.to, w.v.rows);
    else if (rc == 0)
        rc = print_verified(c, &w, head);
    free(w.gaps);
    ctl_checkpoints_free(&cps);
    return rc;
}

/* ---- options, dispatch ---- */

static int parse_opts(struct ctl *c, int argc, char **argv, const char *allowed,
                      struct ctl_compliance_opts *o)
{
    static const struct option longopts[] = {
        { "dsn", required_argument, NULL, 'd' },   { "user", required_argument, NULL, 'u' },
        { "room", required_argument, NULL, 'r' },  { "from", required_argument, NULL, 'f' },
        { "to", required_argument, NULL, 't' },    { "words", required_argument, NULL, 'w' },
        { "type", required_argument, NULL, 'y' },  { "format", required_argument, NULL, 'F' },
        { "out", required_argument, NULL, 'o' },   { "slice", required_argument, NULL, 's' },
        { "reason", required_argument, NULL, 'R' }, { "before", required_argument, NULL, 'b' },
        { "limit", required_argument, NULL, 'l' }, { "all", no_argument, NULL, 'a' },
        { "json", no_argument, NULL, 'J' },      { "all-copies", no_argument, NULL, 'c' },
        { "checkpoints", required_argument, NULL, 'C' },
        { "pubkey", required_argument, NULL, 'P' },  { NULL, 0, NULL, 0 },
    };
    int ch, idx = 0;
    ctl_getopt_reset();
    while ((ch = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
        if (ch == 'J' || ch == 'd') {
            if (ch == 'J')
                c->json = true;
            else
                o->dsn = optarg;
            continue;
        }
        if (ch == '?')
            return ctl_bad_option("compliance", argv);
        if (!strchr(allowed, ch))
            return ctl_usage("compliance %s does not take --%s", argv[0], longopts[idx].name);
        switch (ch) {
        case 'u': o->user = optarg; break;
        case 'r': o->room = optarg; break;
        case 'f': o->from = optarg; break;
        case 't': o->to = optarg; break;
        case 'w': o->words = optarg; break;
        case 'y': o->type = optarg; break;
        case 'F': o->format = optarg; break;
        case 'o': o->out = optarg; break;
        case 's': o->slice = optarg; break;
        case 'R': o->reason = optarg; break;
        case 'b': o->before = optarg; break;
        case 'a': o->all = true; break;
        case 'c': o->all_copies = true; break;
        case 'C': o->checkpoints = optarg; break;
        case 'P': o->pubkey = optarg; break;
        case 'l': {
            char *end = NULL;
            o->limit = strtoll(optarg, &end, 10);
            if (!*optarg || *end || o->limit < 0)
                return ctl_usage("compliance %s: --limit takes a number >= 0", argv[0]);
            break;
        }
        }
    }
    if (optind < argc)
        return ctl_usage("compliance %s: unexpected argument '%s'", argv[0], argv[optind]);
    return 0;
}

int ctl_compliance_main(struct ctl *c, int argc, char **argv)
{
    static const struct {
        const char *verb, *allowed;
    } verbs[] = {
        { "verify", "ftCP" }, { "search", "urftwyFlc" }, { "export", "rftos" },
        { "hold", "urRa" }, { "purge", "bR" }, { "keygen", "o" }, { "migrate", "" },
    };
    if (argc < 2)
        return ctl_usage("compliance: expected verify, search, export, hold, purge, "
                         "keygen or migrate");
    int skip = strcmp(argv[1], "hold") == 0 ? 2 : 1; /* hold add|remove|list */
    if (skip == 2 && argc < 3)
        return ctl_usage("compliance hold: expected add, remove or list");
    for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
        if (strcmp(argv[1], verbs[i].verb) != 0)
            continue;
        struct ctl_compliance_opts o = { .limit = 10000 };
        int rc = parse_opts(c, argc - skip, argv + skip, verbs[i].allowed, &o);
        if (rc)
            return rc;
        switch (i) {
        case 0: return verify(c, &o);
        case 1: return ctl_compliance_search(c, &o);
        case 2: return ctl_compliance_export(c, &o);
        case 3: return ctl_compliance_hold(c, argv[2], &o);
        case 4: return ctl_compliance_purge(c, &o);
        case 5: return ctl_compliance_keygen(c, &o);
        default: return ctl_compliance_migrate(c, &o);
        }
    }
    return ctl_usage("compliance: unknown command '%s' (expected verify, search, export, "
                     "hold, purge, keygen or migrate)", argv[1]);
}
