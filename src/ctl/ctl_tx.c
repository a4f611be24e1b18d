/* ctl_tx.c — one administrative change as one transaction: its statements, the
 * compliance event that records it and the control-channel notifications that
 * tell running confabds, committed together (ctl_atomic) or not at all.
 *
 * The event goes to confabd's outbox (compliance_outbox) when [compliance]
 * archiver is set, as ctl_messages.c and ctl_history.c write theirs: actor =
 * the service's domain (confabctl has no user JID), nick = the operator. A
 * NOTIFY inside the transaction is delivered at its commit, so a confabd never
 * hears of a change it cannot read yet. */
#include "compat.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "ctl.h"
#include "datetime.h"
#include "mem.h"
#include "xml.h"

#define NS_COMPLIANCE "urn:confab:compliance:0"
#define MAX_PARAMS 8

struct tx_stmt {
    const char *sql;        /* static */
    int n;
    char *values[MAX_PARAMS];
};

struct ctl_tx {
    struct ctl *c;
    const char *officer;
    struct tx_stmt *stmts;
    size_t n, nuser;        /* all statements; those the caller added (first) */
    char **notes;           /* notification payloads, sent last */
    size_t nnotes;
    struct xml_node *event; /* NULL until ctl_tx_event */
    char uuid[37];
};

const char *ctl_login_name(void)
{
    const struct passwd *pw = getpwuid(getuid());
    return pw ? pw->pw_name : "unknown";
}

struct ctl_tx *ctl_tx_new(struct ctl *c, const char *officer)
{
    struct ctl_tx *t = xcalloc(1, sizeof *t);
    t->c = c;
    t->officer = officer ? officer : ctl_login_name();
    return t;
}

static void push(struct ctl_tx *t, const char *sql, int n, const char *const *values)
{
    if (n > MAX_PARAMS)
        abort(); /* a programming error: every caller's SQL is ours */
    t->stmts = xrealloc(t->stmts, (t->n + 1) * sizeof *t->stmts);
    struct tx_stmt *s = &t->stmts[t->n++];
    *s = (struct tx_stmt){ .sql = sql, .n = n };
    for (int i = 0; i < n; i++)
        s->values[i] = values[i] ? xstrdup(values[i]) : NULL;
}

void ctl_tx_add(struct ctl_tx *t, const char *sql, int n, const char *const *values)
{
    push(t, sql, n, values);
    t->nuser = t->n;
}

size_t ctl_tx_count(const struct ctl_tx *t)
{
    return t->nuser;
}

struct xml_node *ctl_tx_event(struct ctl_tx *t, const char *type, const char *room,
                              const char *reason)
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, t->uuid);
    char stamp[DATETIME_FMT_MAX];
    datetime_format(datetime_now_ms(), stamp);
    struct xml_node *ev = xml_new("event", NS_COMPLIANCE);
    xml_set_attr(ev, "id", t->uuid);
    xml_set_attr(ev, "type", type);
    xml_set_attr(ev, "time", stamp);
    if (room)
        xml_set_attr(ev, "room", room);
    struct xml_node *a = xml_add(ev, "actor", NS_COMPLIANCE);
    /* The service acts; a config without [component] domain writes no events
     * anyway ([compliance] archiver is confabd's), but the tree wants a name. */
    const char *domain = t->c->cfg->component.domain;
    xml_set_attr(a, "jid", domain ? domain : "confabctl");
    xml_set_attr(a, "nick", t->officer);
    if (reason && *reason)
        xml_add_text_child(ev, "reason", NS_COMPLIANCE, reason);
    xml_unref(t->event);
    t->event = ev;
    return xml_add(ev, "detail", NS_COMPLIANCE);
}

void ctl_tx_notify(struct ctl_tx *t, const char *op, const char *name)
{
    t->notes = xrealloc(t->notes, (t->nnotes + 1) * sizeof *t->notes);
    t->notes[t->nnotes++] = ctl_notify_payload(op, name, NULL, NULL);
}

static bool events_on(const struct ctl *c)
{
    return c->cfg->compliance_archiver && *c->cfg->compliance_archiver;
}

/* The event's row, last among the changes: it records what they did. */
static void push_event(struct ctl_tx *t)
{
    char *xml = xml_to_string(t->event, NULL);
    const char *v[] = { t->uuid, xml_attr(t->event, "room"), xml };
    push(t, "INSERT INTO compliance_outbox (uuid, room, xml) VALUES ($1::uuid, $2, $3) "
            "ON CONFLICT (uuid) DO NOTHING", 3, v);
    free(xml);
}

int ctl_tx_run(struct ctl_tx *t, const char *what, PGresult **out)
{
    if (t->event && events_on(t->c))
        push_event(t);
    for (size_t i = 0; i < t->nnotes; i++) {
        const char *v[] = { t->notes[i] };
        push(t, CTL_NOTIFY_SQL, 1, v);
    }
    struct ctl_stmt *st = xcalloc(t->n, sizeof *st);
    for (size_t i = 0; i < t->n; i++)
        st[i] = (struct ctl_stmt){ .sql = t->stmts[i].sql, .n = t->stmts[i].n,
                                   .values = (const char *const *)t->stmts[i].values };
    PGresult **res = xcalloc(t->n, sizeof *res);
    int rc = ctl_atomic(t->c, what, st, t->n, res);
    for (size_t i = 0; i < t->n; i++) {
        if (rc == 0 && out && i < t->nuser)
            out[i] = res[i];
        else
            PQclear(res[i]);
    }
    free(res);
    free(st);
    return rc;
}

void ctl_tx_free(struct ctl_tx *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        for (int k = 0; k < t->stmts[i].n; k++)
            free(t->stmts[i].values[k]);
    free(t->stmts);
    for (size_t i = 0; i < t->nnotes; i++)
        free(t->notes[i]);
    free(t->notes);
    xml_unref(t->event);
    free(t);
}
