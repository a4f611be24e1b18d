#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "muc.h"
#include "stanza.h"

struct muc {
    char *domain;
    char *name;
    struct service_info info;
    service_send_fn *send;
    void *ud;
};

static const char *const muc_features[] = { NS_MUC, NULL };

static void refresh_info(struct muc *m)
{
    m->info = (struct service_info){
        .domain = m->domain, .category = "conference", .type = "text", .name = m->name,
        .features = muc_features, .software = "confabd", .version = PACKAGE_VERSION,
    };
}

struct muc *muc_new(const char *domain, const char *name, service_send_fn *send, void *ud)
{
    struct muc *m = xcalloc(1, sizeof *m);
    m->domain = xstrdup(domain);
    m->name = xstrdup(name);
    m->send = send;
    m->ud = ud;
    refresh_info(m);
    return m;
}

void muc_free(struct muc *m)
{
    if (!m)
        return;
    free(m->domain);
    free(m->name);
    free(m);
}

void muc_set_name(struct muc *m, const char *name)
{
    free(m->name);
    m->name = xstrdup(name);
    refresh_info(m);
}

/* Rooms arrive with the room engine; until a room exists, every stanza for one
 * is answered as for a room that does not exist. */
static void room_stanza(struct muc *m, const struct xml_node *st)
{
    const char *t = stanza_type(st);
    if (stanza_kind(st) == STANZA_PRESENCE && t && strcmp(t, "unavailable") == 0)
        return;
    service_bounce(&m->info, st, "item-not-found", "no such room", m->send, m->ud);
}

void muc_handle(struct muc *m, const struct xml_node *st)
{
    struct jid from = { 0 }, to = { 0 };
    if (service_route(&m->info, st, m->send, m->ud, &from, &to) != SERVICE_FOR_NODE)
        return;
    room_stanza(m, st);
    jid_clear(&from);
    jid_clear(&to);
}
