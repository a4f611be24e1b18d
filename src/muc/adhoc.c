/* adhoc.c — service administrators ([muc] admins, XEP-0045 §2 "service
 * administrator": owner power in every room) and their XEP-0050 commands at
 * the service domain, in the manner of XEP-0133: destroy rooms (under the node
 * Prosody's mod_muc uses), list rooms (paged), a room report, grant owner
 * status, an announcement to every room. One table of commands; each is two
 * stages: the form comes back when the request carries none. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compliance.h"
#include "datetime.h"
#include "form.h"
#include "jid.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"


void muc_set_admins(struct muc *m, const char *list)
{
    for (size_t i = 0; i < m->nadmins; i++)
        free(m->admins[i]);
    free(m->admins);
    m->admins = NULL;
    m->nadmins = 0;
    char *copy = xstrdup(list ? list : ""), *save = NULL;
    for (char *t = strtok_r(copy, " ,\t", &save); t; t = strtok_r(NULL, " ,\t", &save)) {
        struct jid j = { 0 };
        if (jid_parse(&j, t) == 0 && j.node) {
            m->admins = xrealloc(m->admins, (m->nadmins + 1) * sizeof *m->admins);
            m->admins[m->nadmins++] = jid_format(&j, true);
        }
        jid_clear(&j);
    }
    free(copy);
}

bool muc_is_admin(const struct muc *m, const char *bare_jid)
{
    for (size_t i = 0; i < m->nadmins; i++)
        if (strcmp(m->admins[i], bare_jid) == 0)
            return true;
    return false;
}

/* ---- the commands (XEP-0050), as XEP-0133 service administration ---- */

struct command;

/* What a completed command sends back: a note, or a result form. */
struct outcome {
    char *note;
    struct xml_node *form;  /* type result; NULL: none */
    bool after_commit;      /* the command changed stored state: answer after the commit */
};

struct command {
    const char *node;
    const char *name;
    void (*ask)(struct xml_node *x);  /* the fields of the request form */
    void (*run)(struct muc *m, const struct xml_node *iq, const struct form *f,
                const char *actor, struct outcome *out);
};

static struct xml_node *required(struct xml_node *x, const char *type, const char *var,
                                 const char *label)
{
    struct xml_node *f = form_add_field(x, type, var, label, NULL);
    xml_add(f, "required", NS_DATA_FORMS);
    return f;
}

/* -- destroy rooms (Prosody's node: its own tests and admin tools send it) -- */

static void ask_destroy(struct xml_node *x)
{
    required(x, "jid-multi", "rooms", "Rooms to destroy");
    form_add_field(x, "text-single", "reason", "Reason", NULL);
}

static void run_destroy(struct muc *m, const struct xml_node *iq, const struct form *f,
                        const char *actor, struct outcome *out)
{
    const struct form_field *fl = form_get(f, "rooms");
    const char *reason = form_value(f, "reason");
    struct buf done;
    buf_init(&done);
    buf_puts(&done, "The following rooms were destroyed:");
    int64_t now = m->io.now_ms(m->io.ud);
    for (size_t i = 0; fl && i < fl->nvalues; i++) {
        struct room *room = room_find(m, fl->values[i]);
        if (!room)
            continue;
        buf_putc(&done, '\n');
        buf_puts(&done, room->jid);
        owner_destroy_room(m, room, NULL, reason && *reason ? reason : NULL,
                           compliance_destroy_command(m, room, actor, iq, now));
    }
    out->note = buf_steal(&done, NULL);
    out->after_commit = true;
}

/* -- list rooms (paged) -- */

static void ask_list(struct xml_node *x)
{
    form_add_field(x, "text-single", "start", "Skip this many rooms", "0");
    form_add_field(x, "text-single", "max", "Rooms per page (at most 500)", "100");
}

static unsigned number(const struct form *f, const char *var, unsigned def, unsigned max)
{
    const char *v = form_value(f, var);
    char *end = NULL;
    unsigned long n = v && *v ? strtoul(v, &end, 10) : def;
    if (end && *end)
        n = def;
    return n > max ? max : (unsigned)n;
}

static void run_list(struct muc *m, const struct xml_node *iq, const struct form *f,
                     const char *actor, struct outcome *out)
{
    unsigned start = number(f, "start", 0, UINT32_MAX), max = number(f, "max", 100, 500);
    struct xml_node *x = form_new("result", NULL, "Rooms", NULL);
    struct xml_node *rep = xml_add(x, "reported", NS_DATA_FORMS);
    static const char *const cols[][2] = { { "jid", "Room" }, { "name", "Name" },
                                           { "occupants", "Occupants" },
                                           { "persistent", "Persistent" },
                                           { "public", "Listed" } };
    for (size_t i = 0; i < ARRAY_SIZE(cols); i++) {
        struct xml_node *c = xml_add(rep, "field", NS_DATA_FORMS);
        xml_set_attr(c, "var", cols[i][0]);
        xml_set_attr(c, "label", cols[i][1]);
    }
    unsigned i = 0, shown = 0;
    for (const struct room *r = m->rooms; r && shown < max; r = r->hh.next, i++) {
        if (i < start)
            continue;
        char n[16];
        snprintf(n, sizeof n, "%u", r->noccupants);
        const char *vals[] = { r->jid, r->cfg.name ? r->cfg.name : "", n,
                               r->cfg.persistent ? "1" : "0", r->cfg.public_list ? "1" : "0" };
        struct xml_node *item = xml_add(x, "item", NS_DATA_FORMS);
        for (size_t k = 0; k < ARRAY_SIZE(cols); k++) {
            struct xml_node *c = xml_add(item, "field", NS_DATA_FORMS);
            xml_set_attr(c, "var", cols[k][0]);
            xml_add_text_child(c, "value", NS_DATA_FORMS, vals[k]);
        }
        shown++;
    }
    out->form = x;
    out->note = xasprintf("%u of %u rooms in memory, from %u (rooms not loaded are in the "
                          "database: confabctl rooms list)", shown, m->nrooms, start);
}

/* -- room report (Cisco's Room Report) -- */

static void ask_room(struct xml_node *x)
{
    required(x, "jid-single", "room", "Room");
}

static void add_list(struct xml_node *x, const struct room *room, enum muc_affil a,
                     const char *var, const char *label)
{
    struct xml_node *f = form_add_field(x, "jid-multi", var, label, NULL);
    for (const struct affiliation *e = room->affiliations; e; e = e->hh.next)
        if (e->affil == a)
            form_add_value(f, e->jid);
}

static void run_report(struct muc *m, const struct xml_node *iq, const struct form *f,
                       const char *actor, struct outcome *out)
{
    const char *jid = form_value(f, "room");
    const struct room *room = jid ? room_find(m, jid) : NULL;
    if (!room) {
        out->note = xasprintf("%s is not loaded: only rooms in memory are reported here "
                              "(confabctl rooms show reads the database)", jid ? jid : "?");
        return;
    }
    struct xml_node *x = form_new("result", NULL, "Room report", NULL);
    char n[24], seq[24], created[DATETIME_FMT_MAX], last[DATETIME_FMT_MAX] = "";
    snprintf(n, sizeof n, "%u", room->noccupants);
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)room->last_seq);
    datetime_format(room->created_ms, created);
    const struct hist_entry *e = room->history.count
                                     ? history_at(&room->history, room->history.count - 1)
                                     : NULL;
    if (e)
        datetime_format(e->ts_ms, last);
    form_add_field(x, "jid-single", "room", "Room", room->jid);
    form_add_field(x, "text-single", "name", "Name", room->cfg.name ? room->cfg.name : "");
    form_add_field(x, "text-single", "creator", "Creator", room->creator ? room->creator : "");
    form_add_field(x, "text-single", "created", "Created", created);
    form_add_field(x, "text-single", "occupants", "Occupants now", n);
    form_add_field(x, "text-single", "messages", "Messages (sequence)", seq);
    form_add_field(x, "text-single", "last_message", "Last message", last);
    add_list(x, room, AFFIL_OWNER, "owners", "Owners");
    add_list(x, room, AFFIL_ADMIN, "admins", "Admins");
    add_list(x, room, AFFIL_MEMBER, "members", "Members");
    struct xml_node *who = form_add_field(x, "text-multi", "nicks", "Occupants", NULL);
    for (const struct occupant *o = room->occupants; o; o = o->hh.next)
        form_add_value(who, o->nick);
    out->form = x;
}

/* -- grant owner status (Cisco's "Granting Owner Status") -- */

static void ask_grant(struct xml_node *x)
{
    required(x, "jid-single", "room", "Room");
    required(x, "jid-single", "jid", "User to make an owner");
}

static void run_grant(struct muc *m, const struct xml_node *iq, const struct form *f,
                      const char *actor, struct outcome *out)
{
    const char *jid = form_value(f, "room");
    struct room *room = jid ? room_find(m, jid) : NULL;
    struct jid user = { 0 };
    const char *who = form_value(f, "jid");
    if (!room || !who || jid_parse(&user, who) < 0 || !user.node) {
        jid_clear(&user);
        out->note = xasprintf("nothing done: %s", room ? "the user must be a bare JID"
                                                      : "no such room in memory");
        return;
    }
    char *bare = jid_format(&user, true);
    jid_clear(&user);
    /* The administrator passes walls; whom it names does not (wall.h). */
    if (wall_denies(m, room->category_id, bare)) {
        out->note = xasprintf("nothing done: %s", WALL_GRANT_REFUSED);
        free(bare);
        return;
    }
    admin_apply_affiliation(m, room, bare, AFFIL_OWNER, "granted by a service administrator",
                            NULL, true);
    out->note = xasprintf("%s is now an owner of %s", bare, room->jid);
    out->after_commit = true;
    free(bare);
}

/* -- an announcement to every room (XEP-0133 §4.23, for rooms) -- */

static void ask_announce(struct xml_node *x)
{
    required(x, "text-multi", "body", "Announcement");
}

static void run_announce(struct muc *m, const struct xml_node *iq, const struct form *f,
                         const char *actor, struct outcome *out)
{
    const struct form_field *fl = form_get(f, "body");
    struct buf text;
    buf_init(&text);
    for (size_t i = 0; fl && i < fl->nvalues; i++) {
        if (i)
            buf_putc(&text, '\n');
        buf_puts(&text, fl->values[i]);
    }
    unsigned rooms = 0;
    for (struct room *r = m->rooms; r && text.len; r = r->hh.next) {
        size_t n;
        const char *const *to = room_recipients(r, &n);
        if (!n)
            continue;
        struct xml_node *msg = stanza_new("message", r->jid, NULL, "groupchat", NULL);
        xml_add_text_child(msg, "body", msg->ns, text.data);
        muc_send_each(m, msg, to, n);
        xml_unref(msg);
        rooms++;
    }
    out->note = xasprintf("announced in %u occupied room%s", rooms, rooms == 1 ? "" : "s");
    buf_free(&text);
}

static const struct command commands[] = {
    { "http://prosody.im/protocol/muc#destroy", "Destroy rooms", ask_destroy, run_destroy },
    { "urn:confab:admin:rooms", "List rooms", ask_list, run_list },
    { "urn:confab:admin:room-report", "Room report", ask_room, run_report },
    { "urn:confab:admin:grant-owner", "Grant owner status", ask_grant, run_grant },
    { "http://jabber.org/protocol/admin#announce", "Send an announcement to every room",
      ask_announce, run_announce },
};

static const struct command *find_command(const char *node)
{
    for (size_t i = 0; node && i < ARRAY_SIZE(commands); i++)
        if (strcmp(commands[i].node, node) == 0)
            return &commands[i];
    return NULL;
}

static struct xml_node *command_el(struct xml_node *res, const struct xml_node *iq,
                                   const struct command *c, const char *status)
{
    struct xml_node *cmd = xml_add(res, "command", NS_COMMANDS);
    xml_set_attr(cmd, "node", c->node);
    xml_set_attr(cmd, "status", status);
    const struct xml_node *in = xml_child(iq, "command", NS_COMMANDS);
    const char *sid = in ? xml_attr(in, "sessionid") : NULL;
    xml_set_attr(cmd, "sessionid", sid ? sid : stanza_id(iq) ? stanza_id(iq) : "admin");
    return cmd;
}

static void reply_form(struct muc *m, const struct xml_node *iq, const struct command *c)
{
    struct xml_node *res = stanza_iq_result(iq);
    struct xml_node *cmd = command_el(res, iq, c, "executing");
    xml_add(xml_add(cmd, "actions", NS_COMMANDS), "complete", NS_COMMANDS);
    xml_set_attr(xml_child(cmd, "actions", NS_COMMANDS), "execute", "complete");
    struct xml_node *x = form_new("form", NULL, c->name, NULL);
    c->ask(x);
    xml_append(cmd, x);
    muc_send(m, res);
    xml_unref(res);
}

static void complete(struct muc *m, const struct xml_node *iq, const struct command *c,
                     const struct form *f, const char *actor)
{
    struct outcome out = { 0 };
    c->run(m, iq, f, actor, &out);
    struct xml_node *res = stanza_iq_result(iq);
    struct xml_node *cmd = command_el(res, iq, c, "completed");
    if (out.note)
        xml_set_attr(xml_add_text_child(cmd, "note", NS_COMMANDS, out.note), "type", "info");
    if (out.form)
        xml_append(cmd, out.form);
    if (out.after_commit)
        muc_result_after_commit_with(m, iq, res);
    else
        muc_send(m, res);
    xml_unref(res);
    free(out.note);
}

/* XEP-0050 §2.2: the commands this requester may run, at the service. */
bool adhoc_disco_items(struct muc *m, const struct xml_node *iq, const struct xml_node *q)
{
    const char *node = xml_attr(q, "node");
    if (!node || strcmp(node, NS_COMMANDS) != 0)
        return false;
    struct jid from = { 0 };
    char *bare = stanza_from(iq) && jid_parse(&from, stanza_from(iq)) == 0
                     ? jid_format(&from, true) : NULL;
    jid_clear(&from);
    struct xml_node *res = stanza_iq_result(iq);
    struct xml_node *out = xml_add(res, "query", NS_DISCO_ITEMS);
    xml_set_attr(out, "node", NS_COMMANDS);
    for (size_t i = 0; bare && muc_is_admin(m, bare) && i < ARRAY_SIZE(commands); i++) {
        struct xml_node *it = xml_add(out, "item", NS_DISCO_ITEMS);
        xml_set_attr(it, "jid", m->domain);
        xml_set_attr(it, "node", commands[i].node);
        xml_set_attr(it, "name", commands[i].name);
    }
    muc_send(m, res);
    xml_unref(res);
    free(bare);
    return true;
}

bool adhoc_handle(struct muc *m, const struct xml_node *iq, const struct xml_node *cmd)
{
    if (strcmp(cmd->name, "command") != 0 || strcmp(stanza_type(iq), "set") != 0)
        return false;
    const struct command *c = find_command(xml_attr(cmd, "node"));
    struct jid from = { 0 };
    char *bare = NULL, *full = NULL;
    if (stanza_from(iq) && jid_parse(&from, stanza_from(iq)) == 0) {
        bare = jid_format(&from, true);
        full = jid_format(&from, false);
    }
    jid_clear(&from);
    struct xml_node *e = NULL;
    const char *action = xml_attr(cmd, "action");
    if (!c) {
        e = stanza_error_reply(iq, "item-not-found", "no such command");
    } else if (!bare || !muc_is_admin(m, bare)) {
        e = stanza_error_reply(iq, "forbidden", "only service administrators may run this");
    } else if (action && strcmp(action, "cancel") == 0) {
        struct xml_node *res = stanza_iq_result(iq);
        command_el(res, iq, c, "canceled");
        muc_send(m, res);
        xml_unref(res);
    } else {
        const struct xml_node *given = xml_child(cmd, "x", NS_DATA_FORMS);
        /* Prosody's admin tools send the form without its (required) type:
         * inside an execute it can only be a submission. */
        struct xml_node *x = given ? xml_copy(given) : NULL;
        if (x && !xml_attr(x, "type"))
            xml_set_attr(x, "type", "submit");
        struct form f;
        if (!x) {
            reply_form(m, iq, c);
        } else if (form_parse(x, &f) < 0) {
            e = stanza_error_reply(iq, "bad-request", "the form is malformed");
        } else {
            complete(m, iq, c, &f, full);
            form_free(&f);
        }
        xml_unref(x);
    }
    if (e) {
        xml_set_attr(e, "from", m->domain);
        muc_send(m, e);
        xml_unref(e);
    }
    free(bare);
    free(full);
    return true;
}
