/* adhoc.c — service administrators ([muc] admins, XEP-0045 §2 "service
 * administrator": owner power in every room) and their XEP-0050 commands at
 * the service domain. Today one command: destroy rooms, under the node
 * Prosody's mod_muc uses (its own tests and admin tools send it), single
 * stage: the form comes back when the request carries none. */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compliance.h"
#include "form.h"
#include "jid.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

#define NODE_DESTROY "http://prosody.im/protocol/muc#destroy"

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

static void reply_form(struct muc *m, const struct xml_node *iq, const char *node)
{
    struct xml_node *res = stanza_iq_result(iq);
    struct xml_node *cmd = xml_add(res, "command", NS_COMMANDS);
    xml_set_attr(cmd, "node", node);
    xml_set_attr(cmd, "status", "executing");
    xml_set_attr(cmd, "sessionid", stanza_id(iq) ? stanza_id(iq) : "destroy");
    struct xml_node *x = form_new("form", NULL, "Destroy rooms", NULL);
    struct xml_node *f = form_add_field(x, "jid-multi", "rooms", "Rooms to destroy", NULL);
    xml_add(f, "required", NS_DATA_FORMS);
    xml_append(cmd, x);
    muc_send(m, res);
    xml_unref(res);
}

/* Destroy each listed room that exists; the note names those destroyed. */
static void run_destroy(struct muc *m, const struct xml_node *iq, const struct form *f,
                        const char *actor)
{
    const struct form_field *fl = form_get(f, "rooms");
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
        owner_destroy_room(m, room, NULL, NULL,
                           compliance_destroy_command(m, room, actor, iq, now));
    }
    struct xml_node *res = stanza_iq_result(iq);
    struct xml_node *cmd = xml_add(res, "command", NS_COMMANDS);
    xml_set_attr(cmd, "node", NODE_DESTROY);
    xml_set_attr(cmd, "status", "completed");
    xml_set_attr(cmd, "sessionid", stanza_id(iq) ? stanza_id(iq) : "destroy");
    char *text = buf_steal(&done, NULL);
    xml_set_attr(xml_add_text_child(cmd, "note", NS_COMMANDS, text), "type", "info");
    free(text);
    muc_result_after_commit_with(m, iq, res);
    xml_unref(res);
}

bool adhoc_handle(struct muc *m, const struct xml_node *iq, const struct xml_node *cmd)
{
    if (strcmp(cmd->name, "command") != 0 || strcmp(stanza_type(iq), "set") != 0)
        return false;
    const char *node = xml_attr(cmd, "node");
    struct jid from = { 0 };
    char *bare = NULL, *full = NULL;
    if (stanza_from(iq) && jid_parse(&from, stanza_from(iq)) == 0) {
        bare = jid_format(&from, true);
        full = jid_format(&from, false);
    }
    jid_clear(&from);
    struct xml_node *e = NULL;
    if (!node || strcmp(node, NODE_DESTROY) != 0) {
        e = stanza_error_reply(iq, "item-not-found", "no such command");
    } else if (!bare || !muc_is_admin(m, bare)) {
        e = stanza_error_reply(iq, "forbidden", "only service administrators may run this");
    } else {
        const struct xml_node *given = xml_child(cmd, "x", NS_DATA_FORMS);
        /* Prosody's admin tools send the form without its (required) type:
         * inside an execute it can only be a submission. */
        struct xml_node *x = given ? xml_copy(given) : NULL;
        if (x && !xml_attr(x, "type"))
            xml_set_attr(x, "type", "submit");
        struct form f;
        if (!x) {
            reply_form(m, iq, node);
        } else if (form_parse(x, &f) < 0) {
            e = stanza_error_reply(iq, "bad-request", "the form is malformed");
        } else {
            run_destroy(m, iq, &f, full);
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
