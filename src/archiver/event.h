/* event.h — compliance events as they arrive at the archiver, validated and
 * reduced to the columns of the compliance table (docs/compliance-protocol.md).
 *
 * Three shapes arrive:
 *  - <event xmlns='urn:confab:compliance:0'/> in an IQ set from confabd;
 *  - <tap xmlns='urn:confab:compliance:0'/> from a router-side tap (an IQ set,
 *    or a message), a copy of one message that passed a client connection;
 *  - a bare XEP-0297 <forwarded/> in a message, as ejabberd's mod_service_log
 *    sends it (no id, no direction: the id is derived from the content).
 * Pure: no I/O, no logging. */
#ifndef CONFAB_ARCHIVER_EVENT_H
#define CONFAB_ARCHIVER_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "digest.h"
#include "tapclass.h"
#include "xml.h"

#define NS_COMPLIANCE "urn:confab:compliance:0"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_DELAY "urn:xmpp:delay"

#define CEVENT_UUID_LEN 36

/* One event. Every string is owned (cevent_clear) and NULL when absent. */
struct cevent {
    char uuid[CEVENT_UUID_LEN + 1];  /* lowercase 8-4-4-4-12 */
    const char *type;                /* static: "join", "groupchat", "chat", ... */
    int64_t time_ms;                 /* when it happened */
    char *sender;                    /* the domain that sent it to us */
    char *room;                      /* prepared bare room JID */
    char *actor_jid, *actor_nick, *actor_role, *actor_affiliation;
    char *target_jid, *target_nick, *target_role, *target_affiliation;
    char *reason;
    const char *direction;           /* static "in" / "out", or NULL */
    char *msg_type, *subject, *thread, *body;
    char **recipients;               /* prepared real JIDs */
    size_t nrecipients;
    char *detail;                    /* the <detail/> element, serialised */
    char *stanza;                    /* the forwarded stanza, serialised */
    bool has_stamp;
    int64_t stamp_ms;                /* its XEP-0203 delay stamp */
    char msg_key[DIGEST_HEX_LEN];    /* copies of 1:1 messages: msgkey.h; "" for others */
};

/* Parse an <event/> element sent by `sender`. 0, or -EINVAL with *why set to
 * a static description of what is wrong (for the bad-request text and the
 * log). On error *ev is left empty. */
MUST_CHECK int cevent_from_event(struct cevent *ev, const struct xml_node *el, const char *sender,
                                 const char **why);
/* Parse a <tap/> element (a copy of one message passing c2s). Its type is
 * what tapclass.h says (policy may be NULL: defaults); -ENOENT (not an error)
 * when the copy is not recorded: *why then says why. */
MUST_CHECK int cevent_from_tap(struct cevent *ev, const struct xml_node *el, const char *sender,
                               const struct tapclass_policy *policy, const char **why);
/* Parse a bare <forwarded/> (ejabberd mod_service_log). now_ms is used when
 * it carries no delay. -ENOENT (not an error) when the forwarded stanza is
 * not a message (presence and IQ copies are not archived) or tapclass.h
 * skips it. */
MUST_CHECK int cevent_from_forwarded(struct cevent *ev, const struct xml_node *fwd,
                                     const char *sender, const struct tapclass_policy *policy,
                                     int64_t now_ms, const char **why);
void cevent_clear(struct cevent *ev);

/* Is s an RFC 4122 textual UUID (any version, any case)? */
bool cevent_uuid_valid(const char *s);
/* Is type one of the event types? Returns the static name or NULL. */
const char *cevent_type_name(const char *type);

#endif
