/* stanza.c — stanza accessors and RFC 6120 §8.3 stanza error builders over xml.h (stanza.h). */
#include "compat.h"

#include <string.h>

#include "stanza.h"

enum stanza_kind stanza_kind(const struct xml_node *st)
{
    if (!st->name)
        return STANZA_OTHER;
    if (strcmp(st->name, "message") == 0)
        return STANZA_MESSAGE;
    if (strcmp(st->name, "presence") == 0)
        return STANZA_PRESENCE;
    if (strcmp(st->name, "iq") == 0)
        return STANZA_IQ;
    return STANZA_OTHER;
}

const char *stanza_to(const struct xml_node *st) { return xml_attr(st, "to"); }
const char *stanza_from(const struct xml_node *st) { return xml_attr(st, "from"); }
const char *stanza_id(const struct xml_node *st) { return xml_attr(st, "id"); }
const char *stanza_type(const struct xml_node *st) { return xml_attr(st, "type"); }

bool stanza_is_error(const struct xml_node *st)
{
    const char *t = stanza_type(st);
    return t && strcmp(t, "error") == 0;
}

struct xml_node *stanza_child(const struct xml_node *st, const char *name)
{
    return xml_child(st, name, st->ns);
}

struct xml_node *stanza_new(const char *name, const char *from, const char *to, const char *type,
                            const char *id)
{
    struct xml_node *st = xml_new(name, NS_COMPONENT);
    xml_set_attr(st, "from", from);
    xml_set_attr(st, "to", to);
    xml_set_attr(st, "type", type);
    xml_set_attr(st, "id", id);
    return st;
}

struct xml_node *stanza_iq_result(const struct xml_node *iq)
{
    return stanza_new("iq", stanza_to(iq), stanza_from(iq), "result", stanza_id(iq));
}

static const struct {
    const char *cond;
    const char *type;
} error_types[] = {
    { "bad-request", "modify" },          { "conflict", "cancel" },
    { "feature-not-implemented", "cancel" }, { "forbidden", "auth" },
    { "gone", "cancel" },                 { "internal-server-error", "cancel" },
    { "item-not-found", "cancel" },       { "jid-malformed", "modify" },
    { "not-acceptable", "modify" },       { "not-allowed", "cancel" },
    { "not-authorized", "auth" },         { "policy-violation", "modify" },
    { "recipient-unavailable", "wait" },  { "redirect", "modify" },
    { "registration-required", "auth" },  { "remote-server-not-found", "cancel" },
    { "remote-server-timeout", "wait" },  { "resource-constraint", "wait" },
    { "service-unavailable", "cancel" },  { "subscription-required", "auth" },
    { "undefined-condition", "cancel" },  { "unexpected-request", "wait" },
};

const char *stanza_error_type(const char *condition)
{
    for (size_t i = 0; i < ARRAY_SIZE(error_types); i++)
        if (strcmp(error_types[i].cond, condition) == 0)
            return error_types[i].type;
    return "cancel";
}

struct xml_node *stanza_error_reply(const struct xml_node *st, const char *condition,
                                    const char *text)
{
    struct xml_node *r = stanza_new(st->name ? st->name : "message", stanza_to(st),
                                    stanza_from(st), "error", stanza_id(st));
    struct xml_node *err = xml_add(r, "error", NS_COMPONENT);
    xml_set_attr(err, "type", stanza_error_type(condition));
    xml_add(err, condition, NS_STANZAS);
    if (text && *text)
        xml_add_text_child(err, "text", NS_STANZAS, text);
    return r;
}

const char *stanza_error_condition(const struct xml_node *error_el, const char *ns)
{
    for (struct xml_node *c = xml_first(error_el); c; c = xml_next(c))
        if (c->ns && strcmp(c->ns, ns) == 0 && strcmp(c->name, "text") != 0)
            return c->name;
    return NULL;
}
