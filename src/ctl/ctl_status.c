/* ctl_status.c — confabctl's end of the control channel: NOTIFY confab_control
 * after a change, so every running confabd applies it at once, and `confabctl
 * status`, which shows what each running confabd publishes (docs/operations.md,
 * "Control channel"). */
#include "compat.h"

#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* Who did it, for the rooms' occupants and the log: the operator's login. */
char *ctl_actor(void)
{
    const struct passwd *pw = getpwuid(getuid());
    char host[64] = "localhost";
    (void)gethostname(host, sizeof host - 1);
    size_t n = strlen(pw ? pw->pw_name : "?") + strlen(host) + 16;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "confabctl (%s@%s)", pw ? pw->pw_name : "?", host);
    return s;
}

/* A notification is sent at the commit of the statement that carries it; a
 * confabd that is not running reads the change from the store when it starts. */
char *ctl_notify_payload(const char *op, const char *room, const char *venue,
                         const char *reason)
{
    char *who = ctl_actor();
    json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "op", op, "room", room, "venue", venue,
                          "reason", reason, "actor", who);
    char *payload = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    free(who);
    return payload;
}

int ctl_notify(struct ctl *c, const char *op, const char *room, const char *venue,
               const char *reason)
{
    char *payload = ctl_notify_payload(op, room, venue, reason);
    const char *v[] = { payload };
    PGresult *r = NULL;
    int rc = ctl_query(c, "telling running confabds", CTL_NOTIFY_SQL, 1, v, &r);
    PQclear(r);
    free(payload);
    return rc;
}

/* Rows of daemons not seen for a day are history: forgotten here. */
static const char status_sql[] =
    "WITH gone AS (DELETE FROM daemons WHERE seen_at < now() - interval '1 day') "
    "SELECT id, host, pid, version, started_at, seen_at, stopped_at, status, "
    "stopped_at IS NULL AND seen_at > now() - interval '15 seconds' AS running "
    "FROM daemons ORDER BY started_at DESC";

static const char *field(json_t *st, const char *key, char *buf, size_t len)
{
    json_t *v = json_object_get(st, key);
    if (json_is_boolean(v))
        return json_is_true(v) ? "up" : "down";
    snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
}

static json_t *row_json(const PGresult *r, int i, json_t *st)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s?, s:b, s:O}", "id", ctl_col(r, i, 0),
                     "host", ctl_col(r, i, 1), "pid", atoi(ctl_col(r, i, 2)), "version",
                     ctl_col(r, i, 3), "started_at", ctl_col(r, i, 4), "seen_at", ctl_col(r, i, 5),
                     "stopped_at", ctl_col(r, i, 6), "running", ctl_col_bool(r, i, 8), "status",
                     st ? st : json_null());
}

static int print_status(const struct ctl *c, const PGresult *r, bool all)
{
    static const char *const keys[] = { "uptime_s", "rooms", "occupants", "link_up",
                                        "output_queue", "db_queue", "shaped" };
    static const char *const head[] = { "host", "pid", "version", "running", "uptime s", "rooms",
                                        "occupants", "link", "out queue", "db queue", "shaped" };
    struct ctl_table *t = ctl_table_new(ARRAY_SIZE(head), head);
    json_t *arr = json_array();
    int shown = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        bool running = ctl_col_bool(r, i, 8);
        if (!running && !all)
            continue;
        json_t *st = json_loads(ctl_col(r, i, 7), 0, NULL);
        json_array_append_new(arr, row_json(r, i, st));
        char b[ARRAY_SIZE(keys)][32];
        const char *cells[ARRAY_SIZE(head)] = { ctl_col(r, i, 1), ctl_col(r, i, 2),
                                                ctl_col(r, i, 3), running ? "yes" : "no" };
        for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
            cells[4 + k] = field(st, keys[k], b[k], sizeof b[k]);
        ctl_table_add(t, cells);
        json_decref(st);
        shown++;
    }
    if (c->json) {
        ctl_table_free(t);
        return ctl_print_json(arr);
    }
    json_decref(arr);
    if (shown)
        ctl_table_print(t);
    else
        printf("no confabd is running against this database%s\n",
               all ? "" : " (--all: those seen in the last day)");
    ctl_table_free(t);
    return 0;
}

int ctl_status_main(struct ctl *c, int argc, char **argv)
{
    bool all = argc > 1 && strcmp(argv[1], "--all") == 0;
    if (argc > (all ? 2 : 1))
        return ctl_usage("status takes only --all");
    int rc = ctl_connect(c);
    if (rc == 0)
        rc = ctl_require_schema(c);
    PGresult *r = NULL;
    if (rc == 0)
        rc = ctl_query(c, "reading the daemons' status", status_sql, 0, NULL, &r);
    if (rc == 0)
        rc = print_status(c, r, all);
    PQclear(r);
    return rc;
}
