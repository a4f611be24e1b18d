/* multicast.h — XEP-0033 fan-out through the router's multicast service.
 *
 * A component pays for every copy it sends: a room message to 20 occupants is
 * 20 stanzas over the XEP-0114 link, each parsed by the router. Where the
 * router offers Extended Stanza Addressing (ejabberd's mod_multicast), one
 * stanza with an address list does the same. Only a service that answers
 * disco#info with the address feature is used: multicast_probe() asks at
 * link-up, multicast_answer() takes the reply, and until then (or when the
 * service refuses something) copies go out one by one as before.
 *
 * Pure logic, no I/O: the daemon sends what these functions build. */
#ifndef CONFAB_MULTICAST_H
#define CONFAB_MULTICAST_H

#include <stdbool.h>
#include <stddef.h>

#include "xml.h"

#define NS_ADDRESS "http://jabber.org/protocol/address"

struct multicast;

/* service: the multicast service's JID; max: addresses per stanza (the
 * service's limit for this sender, XEP-0033 §8 suggests 50; ejabberd's default
 * for a sender that is not a local user is 20). */
struct multicast *multicast_new(const char *service, unsigned max);
/* Logs how many stanzas the service carried, and for how many copies. */
void multicast_free(struct multicast *m);
/* The disco#info query to send once the link is up (a new reference). */
struct xml_node *multicast_probe(struct multicast *m, const char *from);
/* True when st was the answer to the probe, or an error from the service
 * (which turns multicast off until the next probe); st is then consumed. */
bool multicast_answer(struct multicast *m, const struct xml_node *st);
bool multicast_usable(const struct multicast *m);
/* The link went down: probe again when it is back. */
void multicast_reset(struct multicast *m);
/* Wrap st for the recipients to[0..n): one stanza per `max` recipients, each
 * addressed to the service with every recipient as a 'bcc' (so no copy shows
 * who else got it). emit gets each new stanza and owns it. */
void multicast_wrap(struct multicast *m, const struct xml_node *st, const char *const *to,
                    size_t n, void (*emit)(void *ud, struct xml_node *st), void *ud);

#endif
