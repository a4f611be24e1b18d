/* multicast.h — XEP-0033 fan-out through the router's multicast service.
 *
 * A component pays for every copy it sends: a room message to 20 occupants is
 * 20 stanzas over the XEP-0114 link, each parsed by the router. Where the
 * router offers Extended Stanza Addressing (ejabberd's mod_multicast, Prosody
 * with contrib/prosody/mod_confab_multicast.lua), one stanza with an address
 * list does the same. Only a service that answers disco#info with the address
 * feature is used: multicast_probe() asks at link-up, multicast_answer() takes
 * the reply, and until then (or when the service refuses something) copies go
 * out one by one as before.
 *
 * Two ways to name the service: a fixed JID (multicast_new), or discovery
 * (multicast_new_auto, XEP-0033 §2.2): the home domain (the router's domain,
 * where Prosody's module answers), then each of its disco#items (where
 * ejabberd's multicast.<host> is listed), the first offering the feature wins.
 * Addresses per stanza come from the service's XEP-0128 limits form when it
 * has one (fields 'message' and 'presence'), else MULTICAST_DEFAULT_MAX.
 *
 * Pure logic, no I/O: the daemon sends what these functions build. */
#ifndef CONFAB_MULTICAST_H
#define CONFAB_MULTICAST_H

#include <stdbool.h>
#include <stddef.h>

#include "xml.h"

#define NS_ADDRESS "http://jabber.org/protocol/address"
/* Addresses per stanza when the service advertises no limit: XEP-0033 §8 asks
 * services to accept more than 20; ejabberd's unadvertised default for a
 * sender that is not a local user (a component) is 20. */
#define MULTICAST_DEFAULT_MAX 20
/* What a limit of 'infinite' becomes (one stanza stays a few kilobytes). */
#define MULTICAST_INFINITE_MAX 100

struct multicast;

/* service: the multicast service's JID; max: addresses per stanza, 0 for the
 * service's advertised limit (never more than that when both are known). */
struct multicast *multicast_new(const char *service, unsigned max);
/* Discover the service from home (disco#info, then disco#items). */
struct multicast *multicast_new_auto(const char *home, unsigned max);
/* Logs how many stanzas the service carried, and for how many copies. */
void multicast_free(struct multicast *m);
/* The first disco query to send once the link is up (a new reference); from
 * is our own domain (never taken as a candidate). */
struct xml_node *multicast_probe(struct multicast *m, const char *from);
/* After multicast_answer() took an answer: the next query discovery needs
 * (a new reference), or NULL. */
struct xml_node *multicast_next_probe(struct multicast *m, const char *from);
/* True when st was an answer to a probe, or a message/presence error from the
 * service (which turns multicast off until the next probe); st is then
 * consumed. */
bool multicast_answer(struct multicast *m, const struct xml_node *st);
bool multicast_usable(const struct multicast *m);
/* The service in use, or NULL. */
const char *multicast_service(const struct multicast *m);
/* The link went down: probe again when it is back. */
void multicast_reset(struct multicast *m);
/* Wrap st for the recipients to[0..n): one stanza per limit's worth of
 * recipients, each addressed to the service with every recipient as a 'bcc'
 * (so no copy shows who else got it). emit gets each new stanza and owns it. */
void multicast_wrap(struct multicast *m, const struct xml_node *st, const char *const *to,
                    size_t n, void (*emit)(void *ud, struct xml_node *st), void *ud);

#endif
