/* multicast.c — XEP-0033 address lists instead of one stanza per recipient. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "multicast.h"
#include "service.h"
#include "stanza.h"

enum mc_state { MC_UNKNOWN, MC_PROBING, MC_USABLE, MC_REFUSED };

struct multicast {
    char *service;
    unsigned max;
    enum mc_state state;
    unsigned probes;
    char probe_id[32];
    uint64_t stanzas, copies;   /* sent through the service, and what they replaced */
};

struct multicast *multicast_new(const char *service, unsigned max)
{
    struct multicast *m = xcalloc(1, sizeof *m);
    m->service = xstrdup(service);
    m->max = max ? max : 1;
    return m;
}

void multicast_free(struct multicast *m)
{
    if (!m)
        return;
    if (m->stanzas)
        log_info("multicast: %" PRIu64 " stanzas through %s carried %" PRIu64 " copies",
                 m->stanzas, m->service, m->copies);
    free(m->service);
    free(m);
}

struct xml_node *multicast_probe(struct multicast *m, const char *from)
{
    snprintf(m->probe_id, sizeof m->probe_id, "mc-probe-%u", ++m->probes);
    struct xml_node *iq = stanza_new("iq", from, m->service, "get", m->probe_id);
    xml_add(iq, "query", NS_DISCO_INFO);
    m->state = MC_PROBING;
    return iq;
}

static bool has_address_feature(const struct xml_node *iq)
{
    const struct xml_node *q = xml_child(iq, "query", NS_DISCO_INFO);
    for (const struct xml_node *f = q ? xml_first(q) : NULL; f; f = xml_next(f)) {
        const char *var = xml_attr(f, "var");
        if (strcmp(f->name, "feature") == 0 && var && strcmp(var, NS_ADDRESS) == 0)
            return true;
    }
    return false;
}

static void take_probe_answer(struct multicast *m, const struct xml_node *st)
{
    const char *type = stanza_type(st);
    if (type && strcmp(type, "result") == 0 && has_address_feature(st)) {
        m->state = MC_USABLE;
        log_info("multicast: %s offers XEP-0033: room fan-out goes through it, up to %u "
                 "addresses per stanza", m->service, m->max);
    } else {
        m->state = MC_REFUSED;
        log_warn("multicast: %s does not offer XEP-0033 (%s): sending one stanza per recipient",
                 m->service, type && strcmp(type, "error") == 0 ? "error reply" : "no feature");
    }
}

bool multicast_answer(struct multicast *m, const struct xml_node *st)
{
    const char *from = stanza_from(st);
    if (!from || strcmp(from, m->service) != 0)
        return false;
    const char *id = stanza_id(st);
    if (strcmp(st->name, "iq") == 0 && m->state == MC_PROBING && id &&
        strcmp(id, m->probe_id) == 0) {
        take_probe_answer(m, st);
        return true;
    }
    if (!stanza_is_error(st))
        return false;
    /* Some recipients of that stanza got nothing: say so once, and stop
     * relying on a service that refuses us (too many addresses, access). */
    if (m->state == MC_USABLE) {
        const struct xml_node *e = stanza_child(st, "error");
        const char *cond = e ? stanza_error_condition(e, NS_STANZAS) : NULL;
        log_error("multicast: %s refused a <%s/> (%s): back to one stanza per recipient; "
                  "check the service's limits and access rules (docs/configuration.md)",
                  m->service, st->name, cond ? cond : "no condition");
        m->state = MC_REFUSED;
    }
    return true;
}

bool multicast_usable(const struct multicast *m)
{
    return m && m->state == MC_USABLE;
}

void multicast_reset(struct multicast *m)
{
    m->state = MC_UNKNOWN;
}

void multicast_wrap(struct multicast *m, const struct xml_node *st, const char *const *to,
                    size_t n, void (*emit)(void *ud, struct xml_node *st), void *ud)
{
    for (size_t i = 0; i < n; i += m->max) {
        struct xml_node *c = xml_copy(st);
        xml_set_attr(c, "to", m->service);
        struct xml_node *addrs = xml_add(c, "addresses", NS_ADDRESS);
        for (size_t k = i; k < n && k < i + m->max; k++) {
            struct xml_node *a = xml_add(addrs, "address", NS_ADDRESS);
            xml_set_attr(a, "type", "bcc");
            xml_set_attr(a, "jid", to[k]);
        }
        m->stanzas++;
        emit(ud, c);
    }
    m->copies += n;
}
