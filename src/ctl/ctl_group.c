/* ctl_group.c — confabctl group create | add | remove | list | sync: groups of
 * users that category lists name (group:NAME). A group is kept here (local)
 * or synchronised from an LDAP directory (its --ldap-filter, ctl_ldap.c).
 *
 * Each change is one transaction (ctl_tx.c) with its `group` compliance event,
 * which names every member added or removed, and a `group-changed`
 * notification so running confabds re-evaluate walls at once. */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "datetime.h"
#include "mem.h"
#include "xml.h"

#define NS_COMPLIANCE "urn:confab:compliance:0"
/* Members named one by one in an event; beyond it only the counts. */
#define EVENT_MEMBERS_MAX 1000

struct group_opts {
    const char *description, *filter, *officer, *reason;
    bool all, csv, allow_empty;
    char **args;
    int nargs;
};

/* A sorted set of bare JIDs. */
struct jidset {
    char **v;
    size_t n;
};

static void jidset_free(struct jidset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (struct jidset){ 0 };
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool jidset_has(const struct jidset *s, const char *jid)
{
    return s->n && bsearch(&jid, s->v, s->n, sizeof *s->v, cmp_str) != NULL;
}

/* Sort, drop duplicates. */
static void jidset_normalise(struct jidset *s)
{
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k && strcmp(s->v[k - 1], s->v[i]) == 0)
            free(s->v[i]);
        else
            s->v[k++] = s->v[i];
    }
    s->n = k;
}

/* The JSON array text of the members of a that b lacks (owned). */
static char *difference(const struct jidset *a, const struct jidset *b, size_t *count)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < a->n; i++)
        if (!jidset_has(b, a->v[i]))
            json_array_append_new(arr, json_string(a->v[i]));
    *count = json_array_size(arr);
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

/* ---- options ---- */

static int parse_opts(struct ctl *c, int argc, char **argv, const char *allowed,
                      struct group_opts *o)
{
    static const struct option longopts[] = {
        { "description", required_argument, NULL, 'd' },
        { "ldap-filter", required_argument, NULL, 'f' },
        { "officer", required_argument, NULL, 'o' }, { "reason", required_argument, NULL, 'r' },
        { "all", no_argument, NULL, 'a' },           { "csv", no_argument, NULL, 'v' },
        { "allow-empty", no_argument, NULL, 'E' },
        { "json", no_argument, NULL, 'J' },          { NULL, 0, NULL, 0 },
    };
    int ch, rc;
    ctl_getopt_reset();
    while ((ch = ctl_getopt_verb(c, "group", argc, argv, longopts, allowed, &rc)) != -1) {
        switch (ch) {
        case 'd': o->description = optarg; break;
        case 'f': o->filter = optarg; break;
        case 'o': o->officer = optarg; break;
        case 'r': o->reason = optarg; break;
        case 'a': o->all = true; break;
        case 'v': o->csv = true; break;
        case 'E': o->allow_empty = true; break;
        }
    }
    o->args = argv + optind;
    o->nargs = argc - optind;
    return rc;
}

static int check_name(const char *verb, const char *name)
{
    return ctl_group_name_valid(name) ? 0 : ctl_usage("group %s: '%s' is not a group name "
                                                      "(1-64 letters, digits, '.', '_', '-')",
                                                      verb, name);
}


/* ---- reading ---- */

struct group_row {
    char *id, *source, *filter;
};

static void group_row_free(struct group_row *g)
{
    free(g->id);
    free(g->source);
    free(g->filter);
}

static int find_group(struct ctl *c, const char *name, struct group_row *g)
{
    const char *v[] = { name };
    PGresult *r = NULL;
    int rc = ctl_query(c, "looking up the group",
                       "SELECT id, source, ldap_filter FROM groups WHERE name = $1", 1, v, &r);
    if (rc == 0 && PQntuples(r) != 1) {
        ctl_err("%s: no such group (confabctl group list)", name);
        rc = CTL_FAIL;
    }
    if (rc == 0) {
        g->id = xstrdup(PQgetvalue(r, 0, 0));
        g->source = xstrdup(PQgetvalue(r, 0, 1));
        g->filter = ctl_col(r, 0, 2) ? xstrdup(ctl_col(r, 0, 2)) : NULL;
    }
    PQclear(r);
    return rc;
}

static int read_members(struct ctl *c, const char *group_id, struct jidset *s)
{
    const char *v[] = { group_id };
    PGresult *r = NULL;
    int rc = ctl_query(c, "reading the members",
                       "SELECT jid FROM group_members WHERE group_id = $1 ORDER BY jid", 1, v, &r);
    if (rc)
        return rc;
    s->n = (size_t)PQntuples(r);
    s->v = xcalloc(s->n ? s->n : 1, sizeof *s->v);
    for (size_t i = 0; i < s->n; i++)
        s->v[i] = xstrdup(PQgetvalue(r, (int)i, 0));
    PQclear(r);
    jidset_normalise(s);
    return 0;
}

/* ---- changing members ---- */

static const char insert_sql[] =
    "INSERT INTO group_members (group_id, jid) SELECT $1::bigint, j "
    "FROM json_array_elements_text($2::json) j ON CONFLICT DO NOTHING";
static const char delete_sql[] =
    "DELETE FROM group_members WHERE group_id = $1::bigint "
    "AND jid IN (SELECT json_array_elements_text($2::json))";

static void event_members(struct xml_node *g, const struct jidset *a, const struct jidset *b,
                          const char *change, size_t *listed)
{
    for (size_t i = 0; i < a->n && *listed < EVENT_MEMBERS_MAX; i++) {
        if (jidset_has(b, a->v[i]))
            continue;
        struct xml_node *m = xml_add(g, "member", NS_COMPLIANCE);
        xml_set_attr(m, "jid", a->v[i]);
        xml_set_attr(m, "change", change);
        (*listed)++;
    }
}

struct change_counts {
    size_t added, removed;
};

/* Make the group's members `want` (its current ones are `have`): one
 * transaction with the event naming who was added and removed. */
static int replace_members(struct ctl *c, const struct group_opts *o, const char *name,
                           const char *group_id, const char *action, const struct jidset *have,
                           const struct jidset *want, struct change_counts *n)
{
    char *add = difference(want, have, &n->added), *del = difference(have, want, &n->removed);
    struct ctl_tx *t = ctl_tx_new(c, o->officer);
    struct xml_node *g = xml_add(ctl_tx_event(t, "group", NULL, o->reason), "group",
                                 NS_COMPLIANCE);
    char na[24], nr[24];
    snprintf(na, sizeof na, "%zu", n->added);
    snprintf(nr, sizeof nr, "%zu", n->removed);
    xml_set_attr(g, "name", name);
    xml_set_attr(g, "action", action);
    xml_set_attr(g, "added", na);
    xml_set_attr(g, "removed", nr);
    size_t listed = 0;
    event_members(g, want, have, "add", &listed);
    event_members(g, have, want, "remove", &listed);
    const char *va[] = { group_id, add }, *vd[] = { group_id, del }, *vg[] = { group_id };
    ctl_tx_add(t, delete_sql, 2, vd);
    ctl_tx_add(t, insert_sql, 2, va);
    ctl_tx_add(t, strcmp(action, "sync") == 0
                      ? "UPDATE groups SET synced_at = now(), updated_at = now() WHERE id = $1"
                      : "UPDATE groups SET updated_at = now() WHERE id = $1", 1, vg);
    ctl_tx_notify(t, "group-changed", name);
    int rc = ctl_tx_run(t, "changing the group's members", NULL);
    ctl_tx_free(t);
    free(add);
    free(del);
    return rc;
}

static json_t *counts_json(const char *name, const char *verb, const struct change_counts *n,
                           size_t total, size_t skipped)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "group", name, "action", verb, "added",
                     (json_int_t)n->added, "removed", (json_int_t)n->removed, "members",
                     (json_int_t)total, "skipped", (json_int_t)skipped);
}

/* One line, or JSON: printed, or appended to all (group sync --all). */
static int print_counts(const struct ctl *c, const char *name, const char *verb,
                        const struct change_counts *n, size_t total, size_t skipped,
                        json_t *all)
{
    if (c->json && all)
        return json_array_append_new(all, counts_json(name, verb, n, total, skipped)) ? CTL_FAIL
                                                                                       : 0;
    if (c->json)
        return ctl_print_json(counts_json(name, verb, n, total, skipped));
    printf("%s %s: %zu added, %zu removed, %zu member%s", verb, name, n->added, n->removed,
           total, total == 1 ? "" : "s");
    if (skipped)
        printf(" (%zu directory entr%s without a usable JID skipped)", skipped,
               skipped == 1 ? "y" : "ies");
    putchar('\n');
    return 0;
}

/* The JIDs of add/remove as a set; users only (a JID with a node). */
static int jid_args(const struct group_opts *o, struct jidset *s)
{
    s->v = xcalloc((size_t)o->nargs, sizeof *s->v);
    for (int i = 1; i < o->nargs; i++) {
        char *j = NULL;
        int rc = ctl_bare_jid("member", o->args[i], &j);
        if (rc == 0 && !strchr(j, '@')) {
            ctl_err("member '%s': a group holds users (user@domain)", o->args[i]);
            rc = EX_DATAERR;
        }
        if (rc) {
            free(j);
            return rc;
        }
        s->v[s->n++] = j;
    }
    jidset_normalise(s);
    return 0;
}

static int group_add_remove(struct ctl *c, struct group_opts *o, bool add)
{
    const char *verb = add ? "add" : "remove";
    if (o->nargs < 2)
        return ctl_usage("group %s: expected NAME JID...", verb);
    struct jidset args = { 0 }, have = { 0 }, want = { 0 };
    struct group_row g = { 0 };
    struct change_counts n = { 0 };
    int rc = jid_args(o, &args);
    if (rc == 0)
        rc = ctl_open(c);
    if (rc == 0)
        rc = find_group(c, o->args[0], &g);
    if (rc == 0 && strcmp(g.source, "ldap") == 0) {
        ctl_err("%s: the group is synchronised from LDAP (its filter decides who is in it; "
                "group sync replaces its members)", o->args[0]);
        rc = CTL_FAIL;
    }
    if (rc == 0)
        rc = read_members(c, g.id, &have);
    if (rc == 0) {
        want.v = xcalloc(have.n + args.n + 1, sizeof *want.v);
        for (size_t i = 0; i < have.n; i++)
            if (add || !jidset_has(&args, have.v[i]))
                want.v[want.n++] = xstrdup(have.v[i]);
        for (size_t i = 0; add && i < args.n; i++)
            want.v[want.n++] = xstrdup(args.v[i]);
        jidset_normalise(&want);
        rc = replace_members(c, o, o->args[0], g.id, verb, &have, &want, &n);
    }
    if (rc == 0)
        rc = print_counts(c, o->args[0], add ? "added to" : "removed from", &n, want.n, 0,
                          NULL);
    jidset_free(&args);
    jidset_free(&have);
    jidset_free(&want);
    group_row_free(&g);
    return rc;
}

static int group_add(struct ctl *c, struct group_opts *o)
{
    return group_add_remove(c, o, true);
}

static int group_remove(struct ctl *c, struct group_opts *o)
{
    return group_add_remove(c, o, false);
}

/* ---- sync ---- */

/* An empty answer that would empty a group is more often a typo in the filter
 * or a directory in trouble than a real change, and it takes walls down. */
static int check_not_emptied(const struct group_opts *o, const char *name,
                             const struct jidset *have, const struct jidset *want)
{
    if (want->n || !have->n || o->allow_empty)
        return 0;
    ctl_err("%s: the filter found nobody; refusing to remove all %zu members (check the "
            "filter and the directory, or add --allow-empty)", name, have->n);
    return CTL_FAIL;
}

static int sync_one(struct ctl *c, const struct group_opts *o, const char *name, json_t *all)
{
    struct group_row g = { 0 };
    struct jidset have = { 0 }, want = { 0 };
    struct change_counts n = { 0 };
    size_t skipped = 0;
    int rc = find_group(c, name, &g);
    if (rc == 0 && (strcmp(g.source, "ldap") != 0 || !g.filter)) {
        ctl_err("%s: not an LDAP group (create one with --ldap-filter)", name);
        rc = CTL_FAIL;
    }
    if (rc == 0)
        rc = ctl_ldap_members(c->cfg, g.filter, &want.v, &want.n, &skipped);
    if (rc == 0)
        jidset_normalise(&want);
    if (rc == 0)
        rc = read_members(c, g.id, &have);
    if (rc == 0)
        rc = check_not_emptied(o, name, &have, &want);
    if (rc == 0)
        rc = replace_members(c, o, name, g.id, "sync", &have, &want, &n);
    if (rc == 0)
        rc = print_counts(c, name, "synchronised", &n, want.n, skipped, all);
    jidset_free(&have);
    jidset_free(&want);
    group_row_free(&g);
    return rc;
}

static int group_sync(struct ctl *c, struct group_opts *o)
{
    if (o->all == (o->nargs == 1) || o->nargs > 1)
        return ctl_usage("group sync: expected NAME or --all");
    if (!o->all && check_name("sync", o->args[0]))
        return EX_USAGE;
    int rc = ctl_open(c);
    if (rc || !o->all)
        return rc ? rc : sync_one(c, o, o->args[0], NULL);
    PGresult *r = NULL;
    rc = ctl_query(c, "listing LDAP groups",
                   "SELECT name FROM groups WHERE source = 'ldap' ORDER BY name", 0, NULL, &r);
    json_t *all = json_array();
    /* Each group is its own transaction: one that fails stops the run, those
     * before it stay synchronised. */
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        rc = sync_one(c, o, PQgetvalue(r, i, 0), all);
    if (rc == 0 && c->json)
        rc = ctl_print_json(json_incref(all));
    else if (rc == 0 && PQntuples(r) == 0)
        printf("no LDAP groups to synchronise\n");
    json_decref(all);
    PQclear(r);
    return rc;
}

/* ---- create ---- */

static int group_create(struct ctl *c, struct group_opts *o)
{
    if (o->nargs != 1)
        return ctl_usage("group create: expected one NAME");
    const char *name = o->args[0];
    if (check_name("create", name))
        return EX_USAGE;
    if (o->filter && !*o->filter)
        return ctl_usage("group create: --ldap-filter is empty");
    int rc = ctl_open(c);
    const char *v[] = { name, o->description ? o->description : "", o->filter };
    if (rc == 0) {
        PGresult *r = NULL;
        rc = ctl_query(c, "looking up the group", "SELECT 1 FROM groups WHERE name = $1", 1, v,
                       &r);
        if (rc == 0 && PQntuples(r)) {
            ctl_err("%s: the group already exists", name);
            rc = CTL_FAIL;
        }
        PQclear(r);
    }
    if (rc)
        return rc;
    struct ctl_tx *t = ctl_tx_new(c, o->officer);
    struct xml_node *g = xml_add(ctl_tx_event(t, "group", NULL, o->reason), "group",
                                 NS_COMPLIANCE);
    xml_set_attr(g, "name", name);
    xml_set_attr(g, "action", "create");
    xml_set_attr(g, "source", o->filter ? "ldap" : "local");
    if (o->filter)
        xml_set_attr(g, "ldap-filter", o->filter);
    ctl_tx_add(t, "INSERT INTO groups (name, description, source, ldap_filter) VALUES ($1, $2, "
                  "CASE WHEN $3::text IS NULL THEN 'local' ELSE 'ldap' END, $3)", 3, v);
    ctl_tx_notify(t, "group-changed", name);
    rc = ctl_tx_run(t, "creating the group", NULL);
    ctl_tx_free(t);
    if (rc == 0 && c->json)
        rc = ctl_print_json(json_pack("{s:s, s:s}", "group", name, "source",
                                      o->filter ? "ldap" : "local"));
    else if (rc == 0)
        printf("created group %s (%s)\n", name,
               o->filter ? "LDAP: run confabctl group sync to fill it" : "local");
    return rc;
}

/* ---- list ---- */

static const char list_sql[] =
    "SELECT g.name, g.source, (SELECT count(*) FROM group_members m WHERE m.group_id = g.id), "
    "(extract(epoch FROM g.synced_at) * 1000)::bigint, coalesce(g.ldap_filter, ''), "
    "g.description, g.id FROM groups g WHERE $1::text IS NULL OR g.name = $1 ORDER BY g.name";

enum { G_NAME, G_SOURCE, G_MEMBERS, G_SYNCED, G_FILTER, G_DESC, G_NCOLS };
static const char *const list_names[G_NCOLS] = { "name", "source", "members", "synced_at",
                                                 "ldap_filter", "description" };

static const char *cell(const PGresult *r, int i, int col, char *buf, size_t len)
{
    if (col == G_SYNCED)
        return ctl_col_time(r, i, col, buf, len) ? buf : "";
    return PQgetvalue(r, i, col);
}

static json_t *group_json(const PGresult *r, int i, const struct jidset *members)
{
    char buf[DATETIME_FMT_MAX];
    json_t *o = json_object();
    for (int col = 0; col < G_NCOLS; col++)
        json_object_set_new(o, list_names[col], col == G_MEMBERS
                                                    ? json_integer(ctl_col_ll(r, i, col))
                                                    : json_string(cell(r, i, col, buf, sizeof buf)));
    if (members) {
        json_t *a = json_array();
        for (size_t k = 0; k < members->n; k++)
            json_array_append_new(a, json_string(members->v[k]));
        json_object_set_new(o, "member_jids", a);
    }
    return o;
}

static void print_groups(const struct group_opts *o, const PGresult *r)
{
    char buf[DATETIME_FMT_MAX];
    struct ctl_table *t = o->csv ? NULL : ctl_table_new(G_NCOLS, list_names);
    for (int col = 0; o->csv && col < G_NCOLS; col++)
        ctl_csv_field(list_names[col], col + 1 == G_NCOLS);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *row[G_NCOLS];
        for (int col = 0; col < G_NCOLS; col++) {
            row[col] = cell(r, i, col, buf, sizeof buf);
            if (o->csv)
                ctl_csv_field(row[col], col + 1 == G_NCOLS);
        }
        if (t)
            ctl_table_add(t, row);
    }
    if (t) {
        ctl_table_print(t);
        ctl_table_free(t);
    }
}

static void print_members(const struct jidset *m)
{
    static const char *const head[] = { "member" };
    struct ctl_table *t = ctl_table_new(1, head);
    for (size_t k = 0; k < m->n; k++) {
        const char *row[] = { m->v[k] };
        ctl_table_add(t, row);
    }
    puts("");
    ctl_table_print(t);
    ctl_table_free(t);
}

static int group_list(struct ctl *c, struct group_opts *o)
{
    if (o->nargs > 1)
        return ctl_usage("group list: expected at most one NAME");
    const char *v[] = { o->nargs ? o->args[0] : NULL };
    PGresult *r = NULL;
    struct jidset members = { 0 };
    int rc = ctl_open(c);
    if (rc == 0)
        rc = ctl_query(c, "listing groups", list_sql, 1, v, &r);
    if (rc == 0 && v[0] && PQntuples(r) != 1) {
        ctl_err("%s: no such group", v[0]);
        rc = CTL_FAIL;
    }
    if (rc == 0 && v[0])
        rc = read_members(c, PQgetvalue(r, 0, G_NCOLS), &members);
    if (rc == 0 && c->json) {
        json_t *a = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(a, group_json(r, i, v[0] ? &members : NULL));
        rc = ctl_print_json(v[0] ? json_incref(json_array_get(a, 0)) : json_incref(a));
        json_decref(a);
    } else if (rc == 0) {
        print_groups(o, r);
        if (v[0] && !o->csv)
            print_members(&members);
    }
    jidset_free(&members);
    PQclear(r);
    return rc;
}

/* ---- dispatch ---- */

int ctl_group_main(struct ctl *c, int argc, char **argv)
{
    static const struct {
        const char *verb;
        const char *allowed;
        int (*run)(struct ctl *c, struct group_opts *o);
    } verbs[] = {
        { "create", "dfor", group_create }, { "add", "or", group_add },
        { "remove", "or", group_remove },   { "list", "v", group_list },
        { "sync", "aorE", group_sync },
    };
    if (argc < 2)
        return ctl_usage("group: expected create, add, remove, list or sync");
    for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
        if (strcmp(argv[1], verbs[i].verb) != 0)
            continue;
        struct group_opts o = { 0 };
        int rc = parse_opts(c, argc - 1, argv + 1, verbs[i].allowed, &o);
        if (rc == 0 && o.nargs > 0 && strcmp(argv[1], "sync") != 0)
            rc = check_name(argv[1], o.args[0]);
        return rc ? rc : verbs[i].run(c, &o);
    }
    return ctl_usage("group: unknown command '%s'", argv[1]);
}
