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

#define NS_XDATA "jabber:x:data"
#define MAX_CANDIDATES 16   /* disco#items of the home domain asked, at most */

enum mc_state { MC_UNKNOWN, MC_PROBING, MC_USABLE, MC_REFUSED };
enum mc_ask { ASK_INFO, ASK_ITEMS };

struct multicast {
    char *service;       /* the service in use (fixed, or found by discovery) */
    char *home;          /* discovery: the domain asked first; NULL when fixed */
    char *self;          /* our own domain: never a candidate */
    unsigned max;        /* configured addresses per stanza; 0: the service's limit */
    unsigned max_message, max_presence;
    enum mc_state state;
    enum mc_ask asking;
    char *asked;         /* where the pending query went */
    bool next_due;       /* a follow-up query waits for multicast_next_probe() */
    char *cands[MAX_CANDIDATES];
    size_t ncands, next_cand;
    unsigned probes;
    char probe_id[32];
    uint64_t stanzas, copies;   /* sent through the service, and what they replaced */
};

static struct multicast *mc_alloc(const char *service, const char *home, unsigned max)
{
    struct multicast *m = xcalloc(1, sizeof *m);
    m->service = service ? xstrdup(service) : NULL;
    m->home = home ? xstrdup(home) : NULL;
    m->max = max;
    m->max_message = m->max_presence = max ? max : MULTICAST_DEFAULT_MAX;
    return m;
}

struct multicast *multicast_new(const char *service, unsigned max)
{
    return mc_alloc(service, NULL, max);
}

struct multicast *multicast_new_auto(const char *home, unsigned max)
{
    return mc_alloc(NULL, home, max);
}

static void forget_candidates(struct multicast *m)
{
    for (size_t i = 0; i < m->ncands; i++)
        free(m->cands[i]);
    m->ncands = m->next_cand = 0;
}

void multicast_free(struct multicast *m)
{
    if (!m)
        return;
    if (m->stanzas)
        log_info("multicast: %" PRIu64 " stanzas through %s carried %" PRIu64 " copies",
                 m->stanzas, m->service, m->copies);
    forget_candidates(m);
    free(m->service);
    free(m->home);
    free(m->self);
    free(m->asked);
    free(m);
}

static struct xml_node *ask(struct multicast *m, const char *from, const char *to,
                            enum mc_ask what)
{
    snprintf(m->probe_id, sizeof m->probe_id, "mc-probe-%u", ++m->probes);
    struct xml_node *iq = stanza_new("iq", from, to, "get", m->probe_id);
    xml_add(iq, "query", what == ASK_INFO ? NS_DISCO_INFO : NS_DISCO_ITEMS);
    free(m->asked);
    m->asked = xstrdup(to);
    m->asking = what;
    m->state = MC_PROBING;
    m->next_due = false;
    return iq;
}

struct xml_node *multicast_probe(struct multicast *m, const char *from)
{
    free(m->self);
    m->self = xstrdup(from);
    forget_candidates(m);
    if (m->home) {
        free(m->service);
        m->service = NULL;
    }
    return ask(m, from, m->home ? m->home : m->service, ASK_INFO);
}

struct xml_node *multicast_next_probe(struct multicast *m, const char *from)
{
    if (!m->next_due)
        return NULL;
    if (m->asking == ASK_INFO && m->asked && m->home && strcmp(m->asked, m->home) == 0 &&
        m->ncands == 0 && m->next_cand == 0)
        return ask(m, from, m->home, ASK_ITEMS);
    if (m->next_cand < m->ncands)
        return ask(m, from, m->cands[m->next_cand++], ASK_INFO);
    m->next_due = false;
    return NULL;
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

static char *field_value(const struct xml_node *field)
{
    const struct xml_node *v = xml_child(field, "value", NULL);
    return v ? xml_text(v) : NULL;
}

/* The service's own limits: a XEP-0128 form with FORM_TYPE = the address
 * namespace, fields 'message' and 'presence' (a number or 'infinite'), as
 * ejabberd's mod_multicast and mod_confab_multicast advertise them. 0: none. */
static void advertised_limits(const struct xml_node *iq, unsigned *msg, unsigned *pres)
{
    *msg = *pres = 0;
    const struct xml_node *q = xml_child(iq, "query", NS_DISCO_INFO);
    for (const struct xml_node *x = q ? xml_first(q) : NULL; x; x = xml_next(x)) {
        if (strcmp(x->name, "x") != 0 || !xml_child(x, "field", NS_XDATA))
            continue;
        bool ours = false;
        unsigned m = 0, p = 0;
        for (const struct xml_node *f = xml_first(x); f; f = xml_next(f)) {
            const char *var = xml_attr(f, "var");
            char *val = strcmp(f->name, "field") == 0 && var ? field_value(f) : NULL;
            if (!val)
                continue;
            unsigned n = strcmp(val, "infinite") == 0 ? MULTICAST_INFINITE_MAX
                                                      : (unsigned)strtoul(val, NULL, 10);
            if (strcmp(var, "FORM_TYPE") == 0)
                ours = strcmp(val, NS_ADDRESS) == 0;
            else if (strcmp(var, "message") == 0)
                m = n;
            else if (strcmp(var, "presence") == 0)
                p = n;
            free(val);
        }
        if (ours) {
            *msg = m;
            *pres = p;
            return;
        }
    }
}

/* What goes in one stanza: the configured number when set (but never above
 * what the service says it takes), else the service's own limit, else the
 * documented default. */
static unsigned pick_limit(unsigned configured, unsigned advertised)
{
    if (configured)
        return advertised && advertised < configured ? advertised : configured;
    return advertised ? advertised : MULTICAST_DEFAULT_MAX;
}

static void take_items(struct multicast *m, const struct xml_node *st)
{
    const struct xml_node *q = xml_child(st, "query", NS_DISCO_ITEMS);
    for (const struct xml_node *i = q ? xml_first(q) : NULL; i; i = xml_next(i)) {
        const char *jid = xml_attr(i, "jid");
        if (strcmp(i->name, "item") != 0 || !jid || xml_attr(i, "node") || strchr(jid, '@') ||
            strchr(jid, '/') || strcmp(jid, m->home) == 0 ||
            (m->self && strcmp(jid, m->self) == 0) || m->ncands == MAX_CANDIDATES)
            continue;
        m->cands[m->ncands++] = xstrdup(jid);
    }
}

static void take_probe_answer(struct multicast *m, const struct xml_node *st)
{
    const char *type = stanza_type(st);
    bool result = type && strcmp(type, "result") == 0;
    if (m->asking == ASK_INFO && result && has_address_feature(st)) {
        unsigned adv_msg, adv_pres;
        advertised_limits(st, &adv_msg, &adv_pres);
        free(m->service);
        m->service = xstrdup(m->asked);
        m->max_message = pick_limit(m->max, adv_msg);
        m->max_presence = pick_limit(m->max, adv_pres);
        m->state = MC_USABLE;
        m->next_due = false;
        log_info("multicast: %s offers XEP-0033: room fan-out goes through it, up to %u "
                 "addresses per message and %u per presence", m->service, m->max_message,
                 m->max_presence);
        return;
    }
    if (m->asking == ASK_ITEMS && result)
        take_items(m, st);
    if (!m->home) {
        m->state = MC_REFUSED;
        log_warn("multicast: %s does not offer XEP-0033 (%s): sending one stanza per recipient",
                 m->asked, type && strcmp(type, "error") == 0 ? "error reply" : "no feature");
        return;
    }
    /* Discovery (XEP-0033 §2.2): the home domain, then its items, in turn. */
    bool more = (m->asking == ASK_INFO && strcmp(m->asked, m->home) == 0 && m->ncands == 0 &&
                 m->next_cand == 0) || m->next_cand < m->ncands;
    if (more) {
        m->next_due = true;
        return;
    }
    m->state = MC_REFUSED;
    m->next_due = false;
    log_info("multicast: no XEP-0033 service at %s or its disco#items: sending one stanza "
             "per recipient (mod_confab_multicast for Prosody: docs/prosody.md)", m->home);
}

bool multicast_answer(struct multicast *m, const struct xml_node *st)
{
    const char *from = stanza_from(st);
    if (!from)
        return false;
    const char *id = stanza_id(st);
    if (strcmp(st->name, "iq") == 0 && m->state == MC_PROBING && id &&
        strcmp(id, m->probe_id) == 0 && m->asked && strcmp(from, m->asked) == 0) {
        take_probe_answer(m, st);
        return true;
    }
    if (!m->service || strcmp(from, m->service) != 0 || !stanza_is_error(st) ||
        strcmp(st->name, "iq") == 0)
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

const char *multicast_service(const struct multicast *m)
{
    return m && m->state == MC_USABLE ? m->service : NULL;
}

void multicast_reset(struct multicast *m)
{
    m->state = MC_UNKNOWN;
    m->next_due = false;
}

void multicast_wrap(struct multicast *m, const struct xml_node *st, const char *const *to,
                    size_t n, void (*emit)(void *ud, struct xml_node *st), void *ud)
{
    unsigned max = strcmp(st->name, "presence") == 0 ? m->max_presence : m->max_message;
    if (!max)
        max = 1;
    for (size_t i = 0; i < n; i += max) {
        struct xml_node *c = xml_copy(st);
        xml_set_attr(c, "to", m->service);
        struct xml_node *addrs = xml_add(c, "addresses", NS_ADDRESS);
        for (size_t k = i; k < n && k < i + max; k++) {
            struct xml_node *a = xml_add(addrs, "address", NS_ADDRESS);
            xml_set_attr(a, "type", "bcc");
            xml_set_attr(a, "jid", to[k]);
        }
        m->stanzas++;
        emit(ud, c);
    }
    m->copies += n;
}
