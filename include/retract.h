/* retract.h — the <retracted/> a message taken down carries (XEP-0424/0425:
 * the current :1 form and the older :0 one clients still read), built in one
 * place for the engine's moderation and confabctl's removals. */
#ifndef CONFAB_RETRACT_H
#define CONFAB_RETRACT_H

#include <stdbool.h>
#include <stdint.h>

#include "xml.h"

#define NS_MODERATE "urn:xmpp:message-moderate:1"
#define NS_MODERATE0 "urn:xmpp:message-moderate:0"
#define NS_RETRACT "urn:xmpp:message-retract:1"
#define NS_RETRACT0 "urn:xmpp:message-retract:0"

struct retraction {
    bool self;               /* XEP-0424: its own sender took it back (no <moderated/>) */
    const char *by;          /* the moderator's room JID, or the room's */
    const char *actor_oid;   /* the moderator's occupant-id; NULL: none */
    const char *reason;      /* NULL or "": none */
    int64_t now;             /* ms since the epoch: the stamp */
};

/* <moderated by=…><occupant-id/></moderated> in ns under parent. */
void retract_add_moderated(struct xml_node *parent, const char *ns, const struct retraction *r);
/* Append the tombstone's <retracted/> in both forms to msg. */
void retract_add(struct xml_node *msg, const struct retraction *r);

#endif
