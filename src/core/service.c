/* service.c — every component's domain answers (XEP-0030, XEP-0092, XEP-0199), RFC 6120 §8.3 errors. */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "service.h"
#include "stanza.h"

void service_bounce(const struct service_info *info, const struct xml_node *st,
                    const char *condition, const char *text, service_send_fn *send, void *ud)
{
    /* RFC 6120 §8.3.1: never answer an error with an error (loops). */
    if (stanza_is_error(st) || !stanza_from(st))
        return;
    struct xml_node *r = stanza_error_reply(st, condition, text);
    /* Routers drop us for a 'from' outside our domain (Prosody's
     * validate_from_addresses): answer for a bad 'to' from the domain itself. */
    struct jid to = { 0 };
    const char *t = stanza_to(st);
    if (!t || jid_parse(&to, t) < 0 || strcmp(to.domain, info->domain) != 0)
        xml_set_attr(r, "from", info->domain);
    jid_clear(&to);
    send(ud, r);
    xml_unref(r);
}

static void answer_disco_info(const struct service_info *info, const struct xml_node *iq,
                              const struct xml_node *q, service_send_fn *send, void *ud)
{
    if (xml_attr(q, "node")) {
        service_bounce(info, iq, "item-not-found", "no such node", send, ud);
        return;
    }
    struct xml_node *r = stanza_iq_result(iq);
    struct xml_node *query = xml_add(r, "query", NS_DISCO_INFO);
    struct xml_node *id = xml_add(query, "identity", NS_DISCO_INFO);
    xml_set_attr(id, "category", info->category);
    xml_set_attr(id, "type", info->type);
    xml_set_attr(id, "name", info->name);
    const char *const common[] = { NS_DISCO_INFO, NS_DISCO_ITEMS, NS_VERSION, NS_PING };
    for (size_t i = 0; i < ARRAY_SIZE(common); i++)
        xml_set_attr(xml_add(query, "feature", NS_DISCO_INFO), "var", common[i]);
    for (const char *const *f = info->features; f && *f; f++)
        xml_set_attr(xml_add(query, "feature", NS_DISCO_INFO), "var", *f);
    send(ud, r);
    xml_unref(r);
}

static void answer_simple(const struct service_info *info, const struct xml_node *iq,
                          const char *ns, service_send_fn *send, void *ud)
{
    struct xml_node *r = stanza_iq_result(iq);
    if (strcmp(ns, NS_VERSION) == 0) {
        struct xml_node *q = xml_add(r, "query", NS_VERSION);
        xml_add_text_child(q, "name", NS_VERSION, info->software);
        xml_add_text_child(q, "version", NS_VERSION, info->version);
    } else if (strcmp(ns, NS_DISCO_ITEMS) == 0) {
        xml_add(r, "query", NS_DISCO_ITEMS);
    }
    send(ud, r);
    xml_unref(r);
}

/* IQs to the bare domain. */
static void domain_iq(const struct service_info *info, const struct xml_node *iq,
                      service_send_fn *send, void *ud)
{
    const char *type = stanza_type(iq);
    if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)) {
        /* Results are answers to nothing we asked; an unknown type is bad. */
        if (!type || strcmp(type, "result") != 0)
            service_bounce(info, iq, "bad-request", "iq type must be get, set or result", send,
                           ud);
        return;
    }
    const struct xml_node *q = xml_first(iq);
    if (!q || xml_next(q)) {
        service_bounce(info, iq, "bad-request", "an iq get/set carries exactly one child", send,
                       ud);
        return;
    }
    if (info->domain_iq && info->domain_iq(info->hook_ud, iq, q))
        return;
    const char *ns = q->ns ? q->ns : "";
    bool get = strcmp(type, "get") == 0;
    if (get && strcmp(ns, NS_DISCO_INFO) == 0 && strcmp(q->name, "query") == 0)
        answer_disco_info(info, iq, q, send, ud);
    else if (get && strcmp(ns, NS_DISCO_ITEMS) == 0 && strcmp(q->name, "query") == 0 &&
             !xml_attr(q, "node"))
        answer_simple(info, iq, ns, send, ud);
    else if (get && strcmp(ns, NS_VERSION) == 0 && strcmp(q->name, "query") == 0)
        answer_simple(info, iq, ns, send, ud);
    else if (get && strcmp(ns, NS_PING) == 0 && strcmp(q->name, "ping") == 0)
        answer_simple(info, iq, ns, send, ud);
    else
        service_bounce(info, iq, "service-unavailable", NULL, send, ud);
}

static void domain_stanza(const struct service_info *info, const struct xml_node *st,
                          service_send_fn *send, void *ud)
{
    switch (stanza_kind(st)) {
    case STANZA_IQ:
        domain_iq(info, st, send, ud);
        return;
    case STANZA_PRESENCE: {
        /* Unavailable and unsubscribe presences need no answer. */
        const char *t = stanza_type(st);
        if (t && (strcmp(t, "unavailable") == 0 || strcmp(t, "unsubscribe") == 0 ||
                  strcmp(t, "unsubscribed") == 0))
            return;
        service_bounce(info, st, "service-unavailable", NULL, send, ud);
        return;
    }
    default:
        service_bounce(info, st, "service-unavailable", NULL, send, ud);
        return;
    }
}

enum service_route service_route(const struct service_info *info, const struct xml_node *st,
                                 service_send_fn *send, void *ud, struct jid *from,
                                 struct jid *to)
{
    const char *f = stanza_from(st), *t = stanza_to(st);
    if (!f || jid_parse(from, f) < 0) {
        /* Without a usable sender there is nobody to answer. */
        log_warn("dropping a <%s/> from the router with %s 'from'", st->name,
                 f ? "a malformed" : "no");
        return SERVICE_DONE;
    }
    if (strcmp(from->domain, info->domain) == 0) {
        /* Only we speak for our domain: a client cannot, and answering would
         * talk to ourselves. */
        log_warn("dropping a <%s/> from the router that claims to come from our own domain",
                 st->name);
    } else if (!t) {
        service_bounce(info, st, "bad-request", "the stanza has no 'to' address", send, ud);
    } else if (jid_parse(to, t) < 0) {
        service_bounce(info, st, "jid-malformed", "the 'to' address is not a valid JID", send,
                       ud);
    } else if (strcmp(to->domain, info->domain) != 0) {
        service_bounce(info, st, "item-not-found", "this service does not host that domain",
                       send, ud);
    } else if (to->node) {
        return SERVICE_FOR_NODE;
    } else if (to->resource) {
        service_bounce(info, st, "service-unavailable", NULL, send, ud);
    } else {
        domain_stanza(info, st, send, ud);
    }
    jid_clear(from);
    jid_clear(to);
    return SERVICE_DONE;
}
