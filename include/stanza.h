/* stanza.h — stanza accessors and RFC 6120 error builders over xml.h. */
#ifndef CONFAB_STANZA_H
#define CONFAB_STANZA_H

#include "xml.h"

#define NS_COMPONENT "jabber:component:accept"
#define NS_CLIENT "jabber:client"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

enum stanza_kind { STANZA_OTHER = 0, STANZA_MESSAGE, STANZA_PRESENCE, STANZA_IQ };

enum stanza_kind stanza_kind(const struct xml_node *st);
const char *stanza_to(const struct xml_node *st);
const char *stanza_from(const struct xml_node *st);
const char *stanza_id(const struct xml_node *st);
const char *stanza_type(const struct xml_node *st);
bool stanza_is_error(const struct xml_node *st);
/* A direct child in the stanza's own namespace (body, subject, thread, error…). */
struct xml_node *stanza_child(const struct xml_node *st, const char *name);

/* New stanza in NS_COMPONENT; any attribute may be NULL. */
struct xml_node *stanza_new(const char *name, const char *from, const char *to, const char *type,
                            const char *id);
/* <iq type='result'> answering iq (addresses swapped, same id). */
struct xml_node *stanza_iq_result(const struct xml_node *iq);
/* The RFC 6120 §8.3 error reply to st: same element and id, addresses swapped,
 * type='error', an <error/> with the condition's default type (§8.3.3) and text
 * (may be NULL). from overrides the reply's 'from' when st had none usable. */
struct xml_node *stanza_error_reply(const struct xml_node *st, const char *condition,
                                    const char *text);
/* The default error type of a defined condition ("cancel" for unknown ones). */
const char *stanza_error_type(const char *condition);
/* Condition name of an error stanza or a stream error element, or NULL. */
const char *stanza_error_condition(const struct xml_node *error_el, const char *ns);

#endif
