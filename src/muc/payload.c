/* payload.c — what a client may put in a stanza the room relays: the one
 * table of it (docs/security.md, "What the room relays").
 *
 * An allowlist, not a list of forgeries: whatever the room relays it vouches
 * for, and a new forgery (legacy delay, XEP-0033 addresses, a MAM result, a
 * forwarded copy, a hat) needs no new code to be dropped. Room-owned elements
 * (XEP-0359 stanza-id, XEP-0421 occupant-id, XEP-0203 delay, muc#user, XEP-0317
 * hats) are never in the table: the room adds its own. */
#include "compat.h"

#include <string.h>

#include "muc.h"

#define MSG (PAYLOAD_GROUPCHAT | PAYLOAD_PRIVATE)
#define PRES PAYLOAD_PRESENCE

static const struct payload_rule {
    const char *ns;    /* NULL: the stanza's own namespace (jabber:client as routed) */
    const char *name;  /* NULL: any element of ns */
    unsigned kinds;
} rules[] = {
    { NULL, "body", MSG },                                      /* RFC 6121 */
    { NULL, "subject", MSG },
    { NULL, "thread", MSG },
    { NULL, "show", PRES },
    { NULL, "status", PRES },
    { NULL, "priority", PRES },
    { "http://jabber.org/protocol/xhtml-im", "html", MSG },     /* XEP-0071 */
    { "http://jabber.org/protocol/chatstates", NULL, MSG },     /* XEP-0085 */
    { "urn:xmpp:hints", NULL, MSG },                            /* XEP-0334 */
    { "urn:xmpp:receipts", NULL, MSG },                         /* XEP-0184 */
    { "urn:xmpp:chat-markers:0", NULL, MSG },                   /* XEP-0333 */
    { "urn:xmpp:message-correct:0", "replace", MSG },           /* XEP-0308 */
    { "urn:xmpp:reactions:0", "reactions", MSG },               /* XEP-0444 */
    { "urn:xmpp:message-retract:0", "retract", MSG },           /* XEP-0424 */
    { "urn:xmpp:message-retract:1", "retract", MSG },
    { "urn:xmpp:fasten:0", "apply-to", MSG },                   /* XEP-0422 */
    { "urn:xmpp:message-attaching:1", "attach-to", MSG },       /* XEP-0367 */
    { "urn:xmpp:reply:0", "reply", MSG },                       /* XEP-0461 */
    { "urn:xmpp:fallback:0", "fallback", MSG },                 /* XEP-0428 */
    { "eu.siacs.conversations.axolotl", "encrypted", MSG },     /* XEP-0384 (legacy) */
    { "urn:xmpp:omemo:2", "encrypted", MSG },                   /* XEP-0384 */
    { "urn:xmpp:openpgp:0", "openpgp", MSG },                   /* XEP-0373 */
    { "jabber:x:encrypted", "x", MSG },                         /* XEP-0027 */
    { "jabber:x:signed", "x", PRES },
    { "urn:xmpp:eme:0", "encryption", MSG },                    /* XEP-0380 */
    { "jabber:x:oob", "x", MSG },                               /* XEP-0066 */
    { "urn:xmpp:reference:0", "reference", MSG },               /* XEP-0372, XEP-0385 */
    { "urn:xmpp:sfs:0", NULL, MSG },                            /* XEP-0447 */
    { "urn:xmpp:markup:0", "markup", MSG },                     /* XEP-0394 */
    { "urn:xmpp:spoiler:0", "spoiler", MSG },                   /* XEP-0382 */
    { "urn:xmpp:styling:0", "unstyled", MSG },                  /* XEP-0393 */
    { "urn:xmpp:sid:0", "origin-id", MSG },                     /* XEP-0359 */
    { "http://jabber.org/protocol/nick", "nick", MSG | PRES },  /* XEP-0172 */
    { "http://jabber.org/protocol/caps", "c", PRES },           /* XEP-0115 */
    { "urn:xmpp:caps", "c", PRES },                             /* XEP-0390 */
    { "vcard-temp:x:update", "x", PRES },                       /* XEP-0153 */
    { "urn:xmpp:idle:1", "idle", PRES },                        /* XEP-0319 */
};

bool payload_allowed(const struct xml_node *st, const struct xml_node *c, unsigned kind)
{
    if (!c->name)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        const struct payload_rule *p = &rules[i];
        const char *ns = p->ns ? p->ns : st->ns;
        if (!(p->kinds & kind) || !c->ns || !ns || strcmp(c->ns, ns) != 0)
            continue;
        if (!p->name || strcmp(p->name, c->name) == 0)
            return true;
    }
    return false;
}

void payload_copy(struct xml_node *dst, const struct xml_node *st, unsigned kind)
{
    for (const struct xml_node *c = st->children; c; c = c->next)
        if (payload_allowed(st, c, kind))
            xml_append(dst, xml_copy(c));
}
