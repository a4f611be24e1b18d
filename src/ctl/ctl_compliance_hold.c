/* ctl_compliance_hold.c — confabctl compliance hold add|remove|list (legal
 * holds) and compliance purge (retention cleanup).
 *
 * The purge is one call of compliance_purge() (schema/compliance/
 * 006_retention.sql): one transaction that deletes what no hold covers,
 * records the purged runs for the verifier and appends a 'purge' event to the
 * chain. Its UUID is made here, so a statement db.c might send twice is
 * applied once. Only the database owner may run it (nobody else may DELETE). */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ctl.h"
#include "datetime.h"
#include "mem.h"

/* ---- holds ---- */

/* --user or --room, exactly one: the hold's kind and JID. */
static int hold_target(struct ctl *c, const struct ctl_compliance_opts *o, const char **kind,
                       char **jid)
{
    if (!o->user == !o->room)
        return ctl_usage("compliance hold: give exactly one of --user JID and --room JID");
    *kind = o->user ? "user" : "room";
    return o->user ? ctl_bare_jid("user", o->user, jid) : ctl_room_jid(c, o->room, jid);
}

/* What a hold statement ran on and what it answered. */
struct hold_call {
    const char *kind;
    char *jid;
    PGresult *res;
};

static void hold_call_clear(struct hold_call *h)
{
    PQclear(h->res);
    free(h->jid);
}

/* A new hold; one already active on the target is left as it is. */
static const char hold_add_sql[] =
    "INSERT INTO holds (kind, jid, reason) VALUES ($1, $2, $3) "
    "ON CONFLICT (kind, jid) WHERE released_at IS NULL DO NOTHING RETURNING id";
static const char hold_remove_sql[] =
    "UPDATE holds SET released_at = now(), released_by = current_user "
    "WHERE kind = $1 AND jid = $2 AND released_at IS NULL RETURNING id";

/* Resolve the target, open the compliance database and run sql on $1 kind,
 * $2 jid and, with nparams 3, $3 reason. */
static int hold_run(struct ctl *c, const struct ctl_compliance_opts *o, const char *what,
                    const char *sql, int nparams, struct hold_call *h)
{
    int rc = hold_target(c, o, &h->kind, &h->jid);
    if (rc == 0)
        rc = ctl_compliance_open(c, o);
    if (rc == 0) {
        const char *v[] = { h->kind, h->jid, o->reason };
        rc = ctl_query(c, what, sql, nparams, v, &h->res);
    }
    return rc;
}

static int hold_add(struct ctl *c, const struct ctl_compliance_opts *o)
{
    struct hold_call h = { 0 };
    int rc = hold_run(c, o, "placing the hold", hold_add_sql, 3, &h);
    if (rc == 0) {
        bool made = PQntuples(h.res) == 1;
        if (c->json)
            rc = ctl_print_json(json_pack("{s:s, s:s, s:b}", "kind", h.kind, "jid", h.jid,
                                          "placed", made));
        else
            printf(made ? "hold placed on %s %s\n" : "%s %s is already on hold\n", h.kind,
                   h.jid);
    }
    hold_call_clear(&h);
    return rc;
}

static int hold_remove(struct ctl *c, const struct ctl_compliance_opts *o)
{
    struct hold_call h = { 0 };
    int rc = hold_run(c, o, "releasing the hold", hold_remove_sql, 2, &h);
    if (rc == 0 && PQntuples(h.res) == 0) {
        ctl_err("no active hold on %s %s", h.kind, h.jid);
        rc = CTL_FAIL;
    } else if (rc == 0 && c->json) {
        rc = ctl_print_json(json_pack("{s:s, s:s, s:b}", "kind", h.kind, "jid", h.jid,
                                      "released", 1));
    } else if (rc == 0) {
        printf("hold on %s %s released\n", h.kind, h.jid);
    }
    hold_call_clear(&h);
    return rc;
}

static int hold_list(struct ctl *c, const struct ctl_compliance_opts *o)
{
    static const char sql[] =
        "SELECT kind, jid, reason, "
        "to_char(placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), placed_by, "
        "to_char(released_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), released_by "
        "FROM holds WHERE $1::boolean OR released_at IS NULL ORDER BY placed_at, id";
    static const char *const head[] = { "kind", "jid", "reason", "placed", "by", "released",
                                        "by" };
    PGresult *r = NULL;
    int rc = ctl_compliance_open(c, o);
    if (rc == 0) {
        const char *v[] = { o->all ? "true" : "false" };
        rc = ctl_query(c, "listing holds", sql, 1, v, &r);
    }
    if (rc == 0 && c->json) {
        json_t *a = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(a, json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:s?}",
                                               "kind", ctl_col(r, i, 0), "jid", ctl_col(r, i, 1),
                                               "reason", ctl_col(r, i, 2), "placed_at",
                                               ctl_col(r, i, 3), "placed_by", ctl_col(r, i, 4),
                                               "released_at", ctl_col(r, i, 5), "released_by",
                                               ctl_col(r, i, 6)));
        rc = ctl_print_json(a);
    } else if (rc == 0) {
        struct ctl_table *t = ctl_table_new(o->all ? 7 : 5, head);
        for (int i = 0; i < PQntuples(r); i++) {
            const char *cells[7];
            for (int k = 0; k < 7; k++)
                cells[k] = ctl_col(r, i, k);
            ctl_table_add(t, cells);
        }
        ctl_table_print(t);
        ctl_table_free(t);
    }
    PQclear(r);
    return rc;
}

int ctl_compliance_hold(struct ctl *c, const char *verb, const struct ctl_compliance_opts *o)
{
    if (strcmp(verb, "add") == 0)
        return hold_add(c, o);
    if (strcmp(verb, "remove") == 0)
        return hold_remove(c, o);
    if (strcmp(verb, "list") == 0) {
        if (o->user || o->room || o->reason)
            return ctl_usage("compliance hold list takes only --all");
        return hold_list(c, o);
    }
    return ctl_usage("compliance hold: unknown command '%s' (expected add, remove or list)",
                     verb);
}

/* ---- purge ---- */

/* A version 4 UUID: the purge's idempotency key. */
static int new_uuid(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        ctl_err("cannot read random bytes for the purge id");
        return CTL_FAIL;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
    return 0;
}

int ctl_compliance_purge(struct ctl *c, const struct ctl_compliance_opts *o)
{
    static const char sql[] =
        "SELECT purge_seq, deleted, held, gaps FROM compliance_purge($1::timestamptz, "
        "$2::uuid, session_user::text, $3)";
    if (!o->before)
        return ctl_usage("compliance purge: --before DATE is required");
    int64_t before_ms;
    char before[DATETIME_FMT_MAX], id[37];
    int rc = ctl_parse_date(o->before, &before_ms);
    if (rc)
        return rc;
    if (before_ms > datetime_now_ms()) {
        ctl_err("--before %s is in the future: a purge only deletes the past", o->before);
        return EX_DATAERR;
    }
    datetime_format(before_ms, before);
    rc = new_uuid(id);
    if (rc == 0)
        rc = ctl_compliance_open(c, o);
    PGresult *r = NULL;
    if (rc == 0) {
        const char *v[] = { before, id, o->reason };
        rc = ctl_query(c, "purging", sql, 3, v, &r);
    }
    if (rc == 0 && c->json) {
        rc = ctl_print_json(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "before", before,
                                      "purge_uuid", id, "purge_seq",
                                      (json_int_t)ctl_col_ll(r, 0, 0), "deleted",
                                      (json_int_t)ctl_col_ll(r, 0, 1), "held",
                                      (json_int_t)ctl_col_ll(r, 0, 2), "gaps",
                                      (json_int_t)ctl_col_ll(r, 0, 3)));
    } else if (rc == 0) {
        printf("purged %s events older than %s (%s kept by holds); recorded as purge event "
               "seq %s\n", PQgetvalue(r, 0, 1), before, PQgetvalue(r, 0, 2),
               PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return rc;
}
