/* ctl_history.c — confabctl history purge: delete old messages of a room.
 *
 * Deleting happens in batches of CTL_BATCH rows, each batch one statement and
 * so one short transaction: confabd keeps appending to the room meanwhile
 * without waiting behind a long-held lock, and an interrupted purge leaves
 * only whole batches done (oldest first), which running it again completes. */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "datetime.h"
#include "mem.h"
#include "purge_digest.h"

/* Oldest first along messages_room_ts; keyed by the primary key, so a row is
 * deleted exactly once. Idempotent, as db.c requires. */
#define PURGE_BATCH \
    "WITH victims AS (SELECT seq FROM messages WHERE room_id = $1 AND ts < $2::timestamptz " \
    "ORDER BY ts LIMIT $3::integer), " \
    "gone AS (DELETE FROM messages m USING victims v WHERE m.room_id = $1 AND m.seq = v.seq " \
    "RETURNING m.seq, m.body) "
static const char batch_sql[] = PURGE_BATCH "SELECT count(*) FROM gone";

/* The same batch when confabd sends a compliance stream: the batch also writes
 * a `purge` event to confabd's outbox, in its own transaction (as confabd's
 * retention sweep does, src/muc/pg_store_retention.c), and confabd's sender takes it to
 * the archiver. $4 the actor (the service's domain: confabctl has no user JID),
 * $5 the room JID, $6 why; all three are ours (a prepared room JID cannot hold
 * a quote), so they go into the XML as they are. */
static const char batch_event_sql[] =
    PURGE_BATCH ", "
    "s AS (SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi, " PURGE_TEXTS_SHA256("body", "seq")
    " AS h FROM gone HAVING count(*) > 0), "
    "e AS (SELECT gen_random_uuid() AS u, s.* FROM s), "
    "o AS (INSERT INTO compliance_outbox (uuid, room, xml) SELECT u, $5, format("
    "'<event xmlns=''urn:confab:compliance:0'' id=''%s'' type=''purge'' time=''%s'' "
    "room=''%s''><actor jid=''%s''/><reason>%s</reason><detail><purge "
    "xmlns=''urn:confab:compliance:0'' reason=''%s'' before=''%s'' messages=''%s'' "
    "first-seq=''%s'' last-seq=''%s'' texts-sha256=''%s''/></detail></event>', u, "
    "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "$5::text, $4::text, $6::text, $6::text, $2::text, n, lo, hi, h) FROM e) "
    "SELECT coalesce((SELECT n FROM s), 0)";

int ctl_purge_batches(struct ctl *c, const char *room_id, const char *room_jid,
                      int64_t before_ms, const char *why, long long *deleted)
{
    char before[DATETIME_FMT_MAX], limit[16];
    if (before_ms == INT64_MAX)
        snprintf(before, sizeof before, "infinity");
    else
        datetime_format(before_ms, before);
    snprintf(limit, sizeof limit, "%d", CTL_BATCH);
    const char *v[] = { room_id, before, limit, c->cfg->component.domain, room_jid, why };
    bool events = c->cfg->compliance_archiver && *c->cfg->compliance_archiver;
    long long n;
    *deleted = 0;
    do {
        PGresult *r = NULL;
        int rc = events ? ctl_query(c, "deleting messages", batch_event_sql, 6, v, &r)
                        : ctl_query(c, "deleting messages", batch_sql, 3, v, &r);
        if (rc)
            return rc;
        n = ctl_col_ll(r, 0, 0);
        PQclear(r);
        *deleted += n;
    } while (n == CTL_BATCH);
    return 0;
}

struct purge_opts {
    const char *room;
    const char *before;
};

static int parse_opts(struct ctl *c, int argc, char **argv, struct purge_opts *o)
{
    static const struct option longopts[] = {
        { "room", required_argument, NULL, 'r' }, { "before", required_argument, NULL, 'b' },
        { "json", no_argument, NULL, 'J' },       { NULL, 0, NULL, 0 },
    };
    int ch;
    ctl_getopt_reset();
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r': o->room = optarg; break;
        case 'b': o->before = optarg; break;
        case 'J': c->json = true; break;
        default: return ctl_bad_option("history", argv);
        }
    }
    if (optind < argc)
        return ctl_usage("history %s takes no arguments besides its options", argv[0]);
    if (!o->room || !o->before)
        return ctl_usage("history %s: --room ROOM and --before DATE are required", argv[0]);
    return 0;
}

static int print_purged(const struct ctl *c, const char *jid, int64_t before_ms,
                        long long n)
{
    char before[DATETIME_FMT_MAX];
    datetime_format(before_ms, before);
    if (c->json)
        return ctl_print_json(json_pack("{s:s, s:s, s:I}", "room", jid, "before", before,
                                        "deleted", (json_int_t)n));
    printf("purged %lld message%s older than %s from %s\n", n, n == 1 ? "" : "s", before, jid);
    return 0;
}

static int history_purge(struct ctl *c, const struct purge_opts *o)
{
    char *jid = NULL, *id = NULL;
    int64_t before = 0;
    long long n = 0;
    int rc = ctl_room_jid(c, o->room, &jid);
    if (rc == 0)
        rc = ctl_parse_date(o->before, &before);
    if (rc == 0)
        rc = ctl_connect(c);
    if (rc == 0)
        rc = ctl_require_schema(c);
    if (rc == 0)
        rc = ctl_room_id(c, jid, &id);
    if (rc == 0)
        rc = ctl_purge_batches(c, id, jid, before, "history purge", &n);
    if (rc == 0)
        rc = ctl_notify(c, "room-changed", jid, NULL, NULL);
    if (rc == 0)
        rc = print_purged(c, jid, before, n);
    free(id);
    free(jid);
    return rc;
}

int ctl_history_main(struct ctl *c, int argc, char **argv)
{
    if (argc < 2)
        return ctl_usage("history: expected purge");
    if (strcmp(argv[1], "purge") != 0)
        return ctl_usage("history: unknown command '%s' (expected purge)", argv[1]);
    struct purge_opts o = { 0 };
    int rc = parse_opts(c, argc - 1, argv + 1, &o);
    return rc ? rc : history_purge(c, &o);
}
