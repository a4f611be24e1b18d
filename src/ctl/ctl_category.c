/* ctl_category.c — confabctl category create | list | show | set | delete and
 * rooms set-category: Lync's categories (settings, allowed / denied / creator
 * principals; deny wins, enforced by confabd, src/muc/wall.c).
 *
 * Every change is one transaction (ctl_tx.c) with its `category` compliance
 * event and a `category-changed` notification (plus `room-changed` for the
 * room moved by set-category), so running confabds put walls up at once. */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "mem.h"
#include "xml.h"

#define NS_COMPLIANCE "urn:confab:compliance:0"
#define MAX_PRINCIPALS 64
#define DEFAULT_CATEGORY_ID "1"

/* The settings columns, in the order of the options and of set_sql's $2... */
enum setting { S_DESC, S_INVITES, S_HISTORY, S_FILES, S_PRIVACY, S_TYPE, S_MAXOCC, NSETTINGS };
static const char *const setting_names[NSETTINGS] = {
    "description", "invitations", "history", "file_posting", "default_privacy", "default_type",
    "default_max_occupants",
};

/* The principal options: which list, add or remove. */
struct pchange {
    const char *list;   /* "allowed", "denied", "creator" */
    bool remove;
    struct ctl_principal p;
    const char *arg;
};

struct cat_opts {
    const char *set[NSETTINGS];     /* NULL: unchanged */
    struct pchange pc[MAX_PRINCIPALS];
    size_t npc;
    const char *officer, *reason;
    bool csv;
    const char *name;               /* the positional argument */
    char **args;                    /* all positional arguments */
};

/* ---- option values ---- */

static int one_of(const char *opt, const char *v, const char *const *allowed, size_t n,
                  const char *words)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, allowed[i]) == 0)
            return 0;
    return ctl_usage("category: --%s %s: expected %s", opt, v, words);
}

static int yes_no(const char *opt, const char *v, const char **out)
{
    static const char *const words[] = { "yes", "no" };
    int rc = one_of(opt, v, words, 2, "yes or no");
    *out = strcmp(v, "yes") == 0 ? "true" : "false";
    return rc;
}

static int check_value(enum setting s, const char *opt, const char *v, struct cat_opts *o)
{
    static const char *const privacy[] = { "open", "closed", "secret" };
    static const char *const types[] = { "normal", "auditorium" };
    o->set[s] = v;
    switch (s) {
    case S_INVITES: case S_HISTORY: case S_FILES: return yes_no(opt, v, &o->set[s]);
    case S_PRIVACY: return one_of(opt, v, privacy, ARRAY_SIZE(privacy), "open, closed or secret");
    case S_TYPE: return one_of(opt, v, types, ARRAY_SIZE(types), "normal or auditorium");
    case S_MAXOCC: {
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        return *v && !*end && n >= 0 && n <= 1000000
                   ? 0 : ctl_usage("category: --max-occupants %s: expected 0..1000000", v);
    }
    default: return 0;
    }
}

static int add_principal(struct cat_opts *o, const char *list, bool remove, const char *arg)
{
    if (o->npc == MAX_PRINCIPALS)
        return ctl_usage("category: at most %d principal changes at once", MAX_PRINCIPALS);
    struct pchange *pc = &o->pc[o->npc];
    int rc = ctl_principal_parse(arg, &pc->p);
    if (rc)
        return rc;
    pc->list = list;
    pc->remove = remove;
    pc->arg = arg;
    o->npc++;
    return 0;
}

static void opts_free(struct cat_opts *o)
{
    for (size_t i = 0; i < o->npc; i++)
        ctl_principal_clear(&o->pc[i].p);
}

/* What each verb accepts: s = settings, a = principal additions, r = removals,
 * v = --csv, o = --officer/--reason. */
static int parse_opts(struct ctl *c, int argc, char **argv, const char *allowed, int npos,
                      struct cat_opts *o)
{
    static const struct option longopts[] = {
        { "description", required_argument, NULL, 0 }, { "invitations", required_argument, NULL, 1 },
        { "history", required_argument, NULL, 2 },     { "file-posting", required_argument, NULL, 3 },
        { "privacy", required_argument, NULL, 4 },     { "type", required_argument, NULL, 5 },
        { "max-occupants", required_argument, NULL, 6 },
        { "allow", required_argument, NULL, 'A' },     { "deny", required_argument, NULL, 'D' },
        { "creator", required_argument, NULL, 'C' },   { "unallow", required_argument, NULL, 'a' },
        { "undeny", required_argument, NULL, 'd' },    { "uncreator", required_argument, NULL, 'c' },
        { "officer", required_argument, NULL, 'o' },   { "reason", required_argument, NULL, 'r' },
        { "csv", no_argument, NULL, 'v' },             { "json", no_argument, NULL, 'J' },
        { NULL, 0, NULL, 0 },
    };
    static const struct { int ch; char group; const char *list; bool remove; } kinds[] = {
        { 'A', 'a', "allowed", false }, { 'D', 'a', "denied", false }, { 'C', 'a', "creator", false },
        { 'a', 'r', "allowed", true },  { 'd', 'r', "denied", true },  { 'c', 'r', "creator", true },
    };
    int ch, idx = 0, rc = 0;
    ctl_getopt_reset();
    while (rc == 0 && (ch = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
        char group = ch < NSETTINGS ? 's' : ch == 'o' || ch == 'r' ? 'o' : ch == 'v' ? 'v' : 0;
        for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
            group = kinds[i].ch == ch ? kinds[i].group : group;
        if (ch == 'J') {
            c->json = true;
        } else if (ch == '?' || !group) {
            return ctl_bad_option("category", argv);
        } else if (!strchr(allowed, group)) {
            return ctl_usage("category %s does not take --%s", argv[0], longopts[idx].name);
        } else if (group == 's') {
            rc = check_value((enum setting)ch, longopts[idx].name, optarg, o);
        } else if (ch == 'o') {
            o->officer = optarg;
        } else if (ch == 'r') {
            o->reason = optarg;
        } else if (ch == 'v') {
            o->csv = true;
        } else {
            for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
                if (kinds[i].ch == ch)
                    rc = add_principal(o, kinds[i].list, kinds[i].remove, optarg);
        }
    }
    if (rc)
        return rc;
    if (argc - optind != npos)
        return ctl_usage(npos == 2 ? "%s: expected ROOM CATEGORY" : npos ? "category %s: "
                         "expected one NAME" : "category %s takes no arguments", argv[0]);
    o->args = argv + optind;
    o->name = npos == 1 ? argv[optind] : NULL;
    bool control = false;
    for (const char *p = o->name; p && *p; p++)
        control = control || (unsigned char)*p < 0x20 || *p == 0x7f;
    if (o->name && (!*o->name || strlen(o->name) > 200 || control))
        return ctl_usage("category %s: a name is 1 to 200 bytes, no control characters",
                         argv[0]);
    return 0;
}


/* ---- lookups ---- */

/* The category's id and number of rooms; CTL_FAIL "no such category". */
static int find_category(struct ctl *c, const char *name, char **id, long long *rooms)
{
    const char *v[] = { name };
    PGresult *r = NULL;
    int rc = ctl_query(c, "looking up the category",
                       "SELECT c.id, (SELECT count(*) FROM rooms r WHERE r.category_id = c.id) "
                       "FROM categories c WHERE c.name = $1", 1, v, &r);
    if (rc == 0 && PQntuples(r) != 1) {
        ctl_err("%s: no such category (confabctl category list)", name);
        rc = CTL_FAIL;
    }
    if (rc == 0) {
        *id = xstrdup(PQgetvalue(r, 0, 0));
        if (rooms)
            *rooms = ctl_col_ll(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

/* Groups named by group: principals must exist when they are added. */
static int check_groups(struct ctl *c, const struct cat_opts *o)
{
    int rc = 0;
    for (size_t i = 0; i < o->npc && rc == 0; i++) {
        if (o->pc[i].remove || strcmp(o->pc[i].p.kind, "group") != 0)
            continue;
        const char *v[] = { o->pc[i].p.name };
        PGresult *r = NULL;
        rc = ctl_query(c, "looking up the group", "SELECT 1 FROM groups WHERE name = $1", 1, v,
                       &r);
        if (rc == 0 && PQntuples(r) == 0) {
            ctl_err("principal '%s': no such group (confabctl group create %s)", o->pc[i].arg,
                    o->pc[i].p.name);
            rc = EX_DATAERR;
        }
        PQclear(r);
    }
    return rc;
}

/* ---- changes ---- */

static const char set_sql[] =
    "UPDATE categories SET description = coalesce($2, description), "
    "invitations = coalesce($3::boolean, invitations), history = coalesce($4::boolean, history), "
    "file_posting = coalesce($5::boolean, file_posting), "
    "default_privacy = coalesce($6, default_privacy), default_type = coalesce($7, default_type), "
    "default_max_occupants = coalesce($8::integer, default_max_occupants), updated_at = now() "
    "WHERE name = $1";
static const char add_sql[] =
    "INSERT INTO category_principals (category_id, list, kind, principal) "
    "SELECT id, $2, $3, $4 FROM categories WHERE name = $1 ON CONFLICT DO NOTHING";
static const char remove_sql[] =
    "DELETE FROM category_principals WHERE category_id = (SELECT id FROM categories "
    "WHERE name = $1) AND list = $2 AND kind = $3 AND principal = $4";

/* The statements and event detail of the settings and principal changes. */
static void add_changes(struct ctl_tx *t, const struct cat_opts *o, struct xml_node *cat)
{
    const char *v[1 + NSETTINGS] = { o->name };
    struct xml_node *settings = NULL;
    for (int s = 0; s < NSETTINGS; s++) {
        v[1 + s] = o->set[s];
        if (o->set[s] && !settings)
            settings = xml_add(cat, "settings", NS_COMPLIANCE);
        if (o->set[s])
            xml_set_attr(settings, setting_names[s], o->set[s]);
    }
    ctl_tx_add(t, set_sql, 1 + NSETTINGS, v);
    for (size_t i = 0; i < o->npc; i++) {
        const struct pchange *pc = &o->pc[i];
        const char *pv[] = { o->name, pc->list, pc->p.kind, pc->p.name };
        ctl_tx_add(t, pc->remove ? remove_sql : add_sql, 4, pv);
        struct xml_node *p = xml_add(cat, "principal", NS_COMPLIANCE);
        xml_set_attr(p, "change", pc->remove ? "remove" : "add");
        xml_set_attr(p, "list", pc->list);
        xml_set_attr(p, "kind", pc->p.kind);
        if (*pc->p.name)
            xml_set_attr(p, "name", pc->p.name);
    }
}

static struct xml_node *category_event(struct ctl_tx *t, const struct cat_opts *o,
                                       const char *action)
{
    struct xml_node *cat = xml_add(ctl_tx_event(t, "category", NULL, o->reason), "category",
                                   NS_COMPLIANCE);
    xml_set_attr(cat, "name", o->name);
    xml_set_attr(cat, "action", action);
    ctl_tx_notify(t, "category-changed", o->name);
    return cat;
}

static int print_done(const struct ctl *c, const char *verb, const struct cat_opts *o)
{
    if (c->json)
        return ctl_print_json(json_pack("{s:s, s:s, s:I}", "category", o->name, "action", verb,
                                        "principal_changes", (json_int_t)o->npc));
    printf("%s category %s\n", verb, o->name);
    return 0;
}

static int run_change(struct ctl *c, const struct cat_opts *o, const char *action,
                      const char *sql_first, const char *what)
{
    struct ctl_tx *t = ctl_tx_new(c, o->officer);
    struct xml_node *cat = category_event(t, o, action);
    if (sql_first) {
        const char *v[] = { o->name };
        ctl_tx_add(t, sql_first, 1, v);
    }
    add_changes(t, o, cat);
    int rc = ctl_tx_run(t, what, NULL);
    ctl_tx_free(t);
    return rc;
}

static int category_create(struct ctl *c, struct cat_opts *o)
{
    int rc = ctl_open(c);
    if (rc == 0) {
        const char *v[] = { o->name };
        PGresult *r = NULL;
        rc = ctl_query(c, "looking up the category", "SELECT 1 FROM categories WHERE name = $1",
                       1, v, &r);
        if (rc == 0 && PQntuples(r) > 0) {
            ctl_err("%s: the category already exists (change it with category set)", o->name);
            rc = CTL_FAIL;
        }
        PQclear(r);
    }
    if (rc == 0)
        rc = check_groups(c, o);
    if (rc == 0)
        rc = run_change(c, o, "create", "INSERT INTO categories (name) VALUES ($1)",
                        "creating the category");
    if (rc == 0)
        rc = print_done(c, "created", o);
    bool allows = false;
    for (size_t i = 0; i < o->npc; i++)
        allows = allows || strcmp(o->pc[i].list, "allowed") == 0;
    if (rc == 0 && !allows && !c->json)
        printf("note: nobody is allowed in it yet (category set %s --allow ...)\n", o->name);
    return rc;
}

static int category_set(struct ctl *c, struct cat_opts *o)
{
    char *id = NULL;
    bool any = o->npc > 0;
    for (int s = 0; s < NSETTINGS; s++)
        any = any || o->set[s];
    if (!any)
        return ctl_usage("category set %s: nothing to change", o->name);
    int rc = ctl_open(c);
    if (rc == 0)
        rc = find_category(c, o->name, &id, NULL);
    if (rc == 0)
        rc = check_groups(c, o);
    if (rc == 0)
        rc = run_change(c, o, "set", NULL, "changing the category");
    if (rc == 0)
        rc = print_done(c, "changed", o);
    free(id);
    return rc;
}

static int category_delete(struct ctl *c, struct cat_opts *o)
{
    char *id = NULL;
    long long rooms = 0;
    int rc = ctl_open(c);
    if (rc == 0)
        rc = find_category(c, o->name, &id, &rooms);
    if (rc == 0 && strcmp(id, DEFAULT_CATEGORY_ID) == 0) {
        ctl_err("%s: the default category cannot be deleted (it holds unplaced rooms)",
                o->name);
        rc = CTL_FAIL;
    } else if (rc == 0 && rooms > 0) {
        ctl_err("%s: the category holds %lld room%s; move %s first (confabctl rooms "
                "set-category ROOM CATEGORY)", o->name, rooms, rooms == 1 ? "" : "s",
                rooms == 1 ? "it" : "them");
        rc = CTL_FAIL;
    }
    if (rc == 0) {
        /* rooms.category_id is ON DELETE RESTRICT: a room placed meanwhile fails this. */
        struct ctl_tx *t = ctl_tx_new(c, o->officer);
        category_event(t, o, "delete");
        const char *v[] = { o->name };
        ctl_tx_add(t, "DELETE FROM categories WHERE name = $1 AND id <> 1", 1, v);
        rc = ctl_tx_run(t, "deleting the category", NULL);
        ctl_tx_free(t);
    }
    if (rc == 0)
        rc = print_done(c, "deleted", o);
    free(id);
    return rc;
}

/* ---- reading ---- */

#define LIST_SQL \
    "SELECT c.name, c.description, c.invitations, c.history, c.file_posting, c.default_privacy, " \
    "c.default_type, c.default_max_occupants, " \
    "(SELECT count(*) FROM category_principals p WHERE p.category_id = c.id AND p.list = 'allowed'), " \
    "(SELECT count(*) FROM category_principals p WHERE p.category_id = c.id AND p.list = 'denied'), " \
    "(SELECT count(*) FROM category_principals p WHERE p.category_id = c.id AND p.list = 'creator'), " \
    "(SELECT count(*) FROM rooms r WHERE r.category_id = c.id) FROM categories c"

enum { L_NAME, L_DESC, L_INV, L_HIST, L_FILES, L_PRIV, L_TYPE, L_MAXOCC, L_ALLOWED, L_DENIED,
       L_CREATORS, L_ROOMS, L_NCOLS };
static const char *const list_names[L_NCOLS] = {
    "name", "description", "invitations", "history", "file_posting", "privacy", "type",
    "max_occupants", "allowed", "denied", "creators", "rooms",
};

static bool is_bool_col(int col)
{
    return col == L_INV || col == L_HIST || col == L_FILES;
}

static bool is_int_col(int col)
{
    return col >= L_MAXOCC;
}

static const char *list_cell(const PGresult *r, int i, int col)
{
    return is_bool_col(col) ? (ctl_col_bool(r, i, col) ? "yes" : "no") : PQgetvalue(r, i, col);
}

static json_t *row_json(const PGresult *r, int i)
{
    json_t *o = json_object();
    for (int col = 0; col < L_NCOLS; col++)
        json_object_set_new(o, list_names[col],
                            is_bool_col(col) ? json_boolean(ctl_col_bool(r, i, col))
                            : is_int_col(col) ? json_integer(ctl_col_ll(r, i, col))
                                              : json_string(PQgetvalue(r, i, col)));
    return o;
}

static void print_list(const struct cat_opts *o, const PGresult *r)
{
    struct ctl_table *t = o->csv ? NULL : ctl_table_new(L_NCOLS, list_names);
    for (int col = 0; o->csv && col < L_NCOLS; col++)
        ctl_csv_field(list_names[col], col + 1 == L_NCOLS);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *row[L_NCOLS];
        for (int col = 0; col < L_NCOLS; col++) {
            row[col] = list_cell(r, i, col);
            if (o->csv)
                ctl_csv_field(row[col], col + 1 == L_NCOLS);
        }
        if (t)
            ctl_table_add(t, row);
    }
    if (t) {
        ctl_table_print(t);
        ctl_table_free(t);
    }
}

static int category_list(struct ctl *c, struct cat_opts *o)
{
    PGresult *r = NULL;
    int rc = ctl_open(c);
    if (rc == 0)
        rc = ctl_query(c, "listing categories", LIST_SQL " ORDER BY c.id = 1 DESC, c.name", 0,
                       NULL, &r);
    if (rc == 0 && c->json) {
        json_t *a = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(a, row_json(r, i));
        rc = ctl_print_json(a);
    } else if (rc == 0) {
        print_list(o, r);
    }
    PQclear(r);
    return rc;
}

/* A principal as the operator types it. */
#define PRINCIPAL_TEXT \
    "CASE kind WHEN 'jid' THEN principal WHEN 'everyone' THEN 'everyone' " \
    "ELSE kind || ':' || principal END"
static const char principals_sql[] =
    "SELECT list, " PRINCIPAL_TEXT " FROM category_principals p JOIN categories c "
    "ON c.id = p.category_id WHERE c.name = $1 ORDER BY list, kind, principal";

static const char *const lists[] = { "allowed", "denied", "creator" };

/* "a b c" of one list's principals (owned). */
static char *joined(const PGresult *r, const char *list)
{
    size_t len = 1;
    for (int i = 0; i < PQntuples(r); i++)
        len += strcmp(PQgetvalue(r, i, 0), list) == 0 ? strlen(PQgetvalue(r, i, 1)) + 1 : 0;
    char *s = xcalloc(1, len);
    for (int i = 0; i < PQntuples(r); i++) {
        if (strcmp(PQgetvalue(r, i, 0), list) != 0)
            continue;
        if (*s)
            strcat(s, " ");
        strcat(s, PQgetvalue(r, i, 1));
    }
    return s;
}

static int show_json(const PGresult *cat, const PGresult *pr)
{
    json_t *o = row_json(cat, 0);
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
        json_t *a = json_array();
        for (int i = 0; i < PQntuples(pr); i++)
            if (strcmp(PQgetvalue(pr, i, 0), lists[l]) == 0)
                json_array_append_new(a, json_string(PQgetvalue(pr, i, 1)));
        json_object_set_new(o, l == 2 ? "creators_list" : l == 1 ? "denied_list"
                                                                  : "allowed_list", a);
    }
    return ctl_print_json(o);
}

static void show_text(const PGresult *cat, const PGresult *pr)
{
    char *lists_text[ARRAY_SIZE(lists)];
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
        lists_text[l] = joined(pr, lists[l]);
    const char *labels[] = { "name", "description", "invitations", "history", "file posting",
                             "default privacy", "default type", "default max occupants",
                             "allowed", "denied (wins)", "creators", "rooms" };
    const char *values[] = { list_cell(cat, 0, L_NAME), list_cell(cat, 0, L_DESC),
                             list_cell(cat, 0, L_INV), list_cell(cat, 0, L_HIST),
                             list_cell(cat, 0, L_FILES), list_cell(cat, 0, L_PRIV),
                             list_cell(cat, 0, L_TYPE), list_cell(cat, 0, L_MAXOCC),
                             *lists_text[0] ? lists_text[0] : "(nobody)",
                             *lists_text[1] ? lists_text[1] : "(nobody)",
                             *lists_text[2] ? lists_text[2] : "(nobody)",
                             list_cell(cat, 0, L_ROOMS) };
    ctl_print_fields(ARRAY_SIZE(labels), labels, values);
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
        free(lists_text[l]);
}

static int category_show(struct ctl *c, struct cat_opts *o)
{
    PGresult *cat = NULL, *pr = NULL;
    const char *v[] = { o->name };
    int rc = ctl_open(c);
    if (rc == 0)
        rc = ctl_query(c, "reading the category", LIST_SQL " WHERE c.name = $1", 1, v, &cat);
    if (rc == 0 && PQntuples(cat) != 1) {
        ctl_err("%s: no such category (confabctl category list)", o->name);
        rc = CTL_FAIL;
    }
    if (rc == 0)
        rc = ctl_query(c, "reading the principals", principals_sql, 1, v, &pr);
    if (rc == 0 && c->json)
        rc = show_json(cat, pr);
    else if (rc == 0)
        show_text(cat, pr);
    PQclear(cat);
    PQclear(pr);
    return rc;
}

/* ---- rooms set-category ---- */

static const char move_sql[] =
    "UPDATE rooms SET category_id = $2::bigint WHERE jid = $1";

static int move_room(struct ctl *c, const char *jid, const char *room_id, const char *cat,
                     const char *cat_id, const char *officer, const char *reason)
{
    const char *v[] = { room_id };
    PGresult *r = NULL;
    int rc = ctl_query(c, "reading the room's category",
                       "SELECT c.name FROM rooms r JOIN categories c ON c.id = r.category_id "
                       "WHERE r.id = $1", 1, v, &r);
    if (rc)
        return rc;
    struct ctl_tx *t = ctl_tx_new(c, officer);
    struct xml_node *d = xml_add(ctl_tx_event(t, "category", jid, reason), "room-category",
                                 NS_COMPLIANCE);
    xml_set_attr(d, "from", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    xml_set_attr(d, "to", cat);
    const char *mv[] = { jid, cat_id };
    ctl_tx_add(t, move_sql, 2, mv);
    ctl_tx_notify(t, "category-changed", cat);
    ctl_tx_notify(t, "room-changed", jid);
    rc = ctl_tx_run(t, "moving the room", NULL);
    ctl_tx_free(t);
    if (rc == 0 && c->json)
        rc = ctl_print_json(json_pack("{s:s, s:s, s:s}", "room", jid, "from",
                                      PQntuples(r) ? PQgetvalue(r, 0, 0) : "", "category", cat));
    else if (rc == 0)
        printf("%s is now in category %s (was %s)\n", jid, cat,
               PQntuples(r) ? PQgetvalue(r, 0, 0) : "?");
    PQclear(r);
    return rc;
}

int ctl_rooms_set_category(struct ctl *c, int argc, char **argv)
{
    struct cat_opts o = { 0 };
    int rc = parse_opts(c, argc, argv, "o", 2, &o);
    if (rc)
        return rc;
    const char *room = o.args[0], *cat = o.args[1];
    char *jid = NULL, *room_id = NULL, *cat_id = NULL;
    rc = ctl_room_jid(c, room, &jid);
    if (rc == 0)
        rc = ctl_open(c);
    if (rc == 0)
        rc = ctl_room_id(c, jid, &room_id);
    if (rc == 0)
        rc = find_category(c, cat, &cat_id, NULL);
    if (rc == 0)
        rc = move_room(c, jid, room_id, cat, cat_id, o.officer, o.reason);
    free(jid);
    free(room_id);
    free(cat_id);
    return rc;
}

/* ---- dispatch ---- */

int ctl_category_main(struct ctl *c, int argc, char **argv)
{
    static const struct {
        const char *verb;
        const char *allowed;
        int npos;
        int (*run)(struct ctl *c, struct cat_opts *o);
    } verbs[] = {
        { "create", "sao", 1, category_create }, { "list", "v", 0, category_list },
        { "show", "", 1, category_show },         { "set", "saro", 1, category_set },
        { "delete", "o", 1, category_delete },
    };
    if (argc < 2)
        return ctl_usage("category: expected create, list, show, set or delete");
    for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
        if (strcmp(argv[1], verbs[i].verb) != 0)
            continue;
        struct cat_opts o = { 0 };
        int rc = parse_opts(c, argc - 1, argv + 1, verbs[i].allowed, verbs[i].npos, &o);
        if (rc == 0)
            rc = verbs[i].run(c, &o);
        opts_free(&o);
        return rc;
    }
    return ctl_usage("category: unknown command '%s'", argv[1]);
}
