/* ctl_policy.c — confabctl policy show | set | unset: the MUC service policy (include/policy.h) in the chat database's policy table. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "mem.h"
#include "policy.h"

/* [muc]'s values: what a key without a row means (cfg.c validated them). */
static void policy_from_cfg(const struct cfg *cfg, struct muc_policy *p)
{
    char *why = NULL;
    *p = (struct muc_policy){ .max_rooms = cfg->muc.max_rooms,
                              .max_rooms_per_user = cfg->muc.max_rooms_per_user,
                              .default_max_occupants = cfg->muc.default_max_occupants };
    (void)policy_set(p, "create_persistent", cfg->muc.create_persistent, &why);
    free(why);
    (void)policy_set(p, "owners_may_change", cfg->muc.owners_may_change, &why);
    free(why);
}

static int open_db(struct ctl *c)
{
    int rc = ctl_connect(c);
    return rc ? rc : ctl_require_schema(c);
}

static const char show_sql[] =
    "SELECT key, value, to_char(updated_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), updated_by FROM policy";

static int row_of(const PGresult *r, const char *key)
{
    for (int i = 0; i < PQntuples(r); i++)
        if (strcmp(ctl_col(r, i, 0), key) == 0)
            return i;
    return -1;
}

static void show_key(const struct ctl *c, const PGresult *r, const char *key,
                     const struct muc_policy *base, struct ctl_table *t, json_t *o)
{
    int i = row_of(r, key);
    char *dflt = policy_get(base, key);
    const char *value = i >= 0 ? ctl_col(r, i, 1) : dflt;
    const char *source = i >= 0 ? "policy table" : "[muc]";
    if (o) {
        json_object_set_new(o, key, json_pack("{s:s, s:s, s:s?, s:s?}", "value", value, "source",
                                              source, "updated_at",
                                              i >= 0 ? ctl_col(r, i, 2) : NULL, "updated_by",
                                              i >= 0 ? ctl_col(r, i, 3) : NULL));
    } else {
        const char *cells[] = { key, value, source, i >= 0 ? ctl_col(r, i, 2) : "",
                                i >= 0 && ctl_col(r, i, 3) ? ctl_col(r, i, 3) : "" };
        ctl_table_add(t, cells);
    }
    free(dflt);
    (void)c;
}

static int policy_show(struct ctl *c)
{
    PGresult *r = NULL;
    int rc = open_db(c);
    if (rc == 0)
        rc = ctl_query(c, "reading the policy", show_sql, 0, NULL, &r);
    if (rc)
        return rc;
    struct muc_policy base;
    policy_from_cfg(c->cfg, &base);
    static const char *const head[] = { "KEY", "VALUE", "FROM", "CHANGED", "BY" };
    json_t *o = c->json ? json_object() : NULL;
    struct ctl_table *t = c->json ? NULL : ctl_table_new(ARRAY_SIZE(head), head);
    for (size_t k = 0; policy_key(k); k++)
        show_key(c, r, policy_key(k), &base, t, o);
    PQclear(r);
    if (o)
        return ctl_print_json(o);
    ctl_table_print(t);
    ctl_table_free(t);
    return 0;
}

/* The row and, when confabd sends a compliance stream, a `policy` event in its
 * outbox: one statement, so both or neither. xmlelement escapes every value.
 * $1 key, $2 value (NULL: the row goes, [muc] applies again), $3 who, $4 the
 * service's domain (the actor, as for confabctl's other events), $5 'events'. */
static const char set_sql[] =
    "WITH old AS (SELECT value FROM policy WHERE key = $1), "
    "del AS (DELETE FROM policy WHERE key = $1 AND $2::text IS NULL RETURNING key), "
    "up AS (INSERT INTO policy (key, value, updated_by) SELECT $1, $2, $3 WHERE $2::text IS NOT NULL "
    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), "
    "updated_by = EXCLUDED.updated_by RETURNING key), "
    "e AS (SELECT gen_random_uuid() AS u WHERE $5 = 'events'), "
    "o AS (INSERT INTO compliance_outbox (uuid, room, xml) SELECT u, NULL, xmlelement(name event, "
    "xmlattributes('urn:confab:compliance:0' AS xmlns, u AS id, 'policy' AS type, "
    "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS time), "
    "xmlelement(name actor, xmlattributes($4::text AS jid)), "
    "xmlelement(name reason, 'confabctl policy set by ' || $3::text), "
    "xmlelement(name detail, xmlelement(name policy, xmlattributes($1::text AS key, "
    "$2::text AS value, (SELECT value FROM old) AS previous))))::text FROM e) "
    "SELECT (SELECT value FROM old)";

static int print_set(const struct ctl *c, const char *key, const char *value, const char *was)
{
    if (c->json)
        return ctl_print_json(json_pack("{s:s, s:s?, s:s?}", "key", key, "value", value,
                                        "previous", was));
    if (value)
        printf("policy %s = %s (was %s); running confabds apply it now\n", key, value,
               was ? was : "[muc]'s value");
    else
        printf("policy %s: back to [muc]'s value; running confabds apply it now\n", key);
    return 0;
}

static int policy_write(struct ctl *c, const char *key, const char *value)
{
    char *who = ctl_actor();
    bool events = c->cfg->compliance_archiver && *c->cfg->compliance_archiver;
    const char *v[] = { key, value, who, c->cfg->component.domain, events ? "events" : "none" };
    PGresult *r = NULL;
    int rc = open_db(c);
    if (rc == 0)
        rc = ctl_query(c, "changing the policy", set_sql, 5, v, &r);
    if (rc == 0)
        rc = ctl_notify(c, "policy-changed", key, NULL, NULL);
    if (rc == 0)
        rc = print_set(c, key, value, ctl_col(r, 0, 0));
    PQclear(r);
    free(who);
    return rc;
}

/* The value as confabd reads it back (normalised: "name, moderated" → "name,moderated"). */
static int policy_set_cmd(struct ctl *c, const char *key, const char *value)
{
    struct muc_policy p = { 0 };
    char *why = NULL;
    if (policy_set(&p, key, value, &why) < 0) {
        ctl_err("policy set: %s", why);
        free(why);
        return EX_DATAERR;
    }
    char *norm = policy_get(&p, key);
    int rc = policy_write(c, key, norm);
    free(norm);
    return rc;
}

static int policy_unset_cmd(struct ctl *c, const char *key)
{
    struct muc_policy p = { 0 };
    char *known = policy_get(&p, key);
    if (!known) {
        ctl_err("policy unset: '%s' is not a policy key", key);
        return EX_DATAERR;
    }
    free(known);
    return policy_write(c, key, NULL);
}

int ctl_policy_main(struct ctl *c, int argc, char **argv)
{
    int first = 2;
    while (first < argc && strcmp(argv[first], "--json") == 0) {
        c->json = true;
        first++;
    }
    int n = argc - first;
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (cmd && strcmp(cmd, "show") == 0 && n == 0)
        return policy_show(c);
    if (cmd && strcmp(cmd, "set") == 0 && n == 2)
        return policy_set_cmd(c, argv[first], argv[first + 1]);
    if (cmd && strcmp(cmd, "unset") == 0 && n == 1)
        return policy_unset_cmd(c, argv[first]);
    return ctl_usage("policy: expected show, set KEY VALUE or unset KEY");
}
