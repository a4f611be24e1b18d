/* service.h — what every confab component answers at its own domain, and the
 * addressing checks in front of everything else. Pure logic: replies leave
 * through the send callback, nothing here does I/O.
 *
 * service_route() answers disco#info, disco#items, XEP-0092 version and
 * XEP-0199 ping at the bare domain, bounces everything else sent there with
 * the right stanza error, and rejects stanzas with a missing, malformed or
 * foreign 'to' (or a malformed 'from'). Only stanzas for node@domain[/res]
 * come back to the caller, with the parsed addresses. */
#ifndef CONFAB_SERVICE_H
#define CONFAB_SERVICE_H

#include "jid.h"
#include "xml.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_VERSION "jabber:iq:version"
#define NS_PING "urn:xmpp:ping"

typedef void service_send_fn(void *ud, const struct xml_node *st);

struct service_info {
    const char *domain;       /* prepared domain we serve */
    const char *category;     /* disco identity */
    const char *type;
    const char *name;
    const char *const *features; /* NULL-terminated, besides disco/version/ping */
    const char *software;     /* XEP-0092 name */
    const char *version;
    /* Optional: offered each iq get/set to the bare domain before the
     * defaults; returns true when it answered. */
    bool (*domain_iq)(void *hook_ud, const struct xml_node *iq, const struct xml_node *payload);
    void *hook_ud;
};

enum service_route { SERVICE_DONE, SERVICE_FOR_NODE };

/* On SERVICE_FOR_NODE, *from and *to hold the parsed addresses (caller clears). */
enum service_route service_route(const struct service_info *info, const struct xml_node *st,
                                 service_send_fn *send, void *ud, struct jid *from,
                                 struct jid *to);
/* Reply to st with an error (never to an error), from st's 'to' or our domain. */
void service_bounce(const struct service_info *info, const struct xml_node *st,
                    const char *condition, const char *text, service_send_fn *send, void *ud);

#endif
