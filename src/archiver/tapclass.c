/* tapclass.c — what a copied 1:1 message is for the record (tapclass.h). */
#include "compat.h"

#include <string.h>

#include "stanza.h"
#include "tapclass.h"

/* Elements a bodiless message may hold and still say nothing: the signal
 * itself (chat state, receipt, marker) and what travels with it. */
struct signal_ns {
    const char *ns;
    bool is_signal;     /* false: only an accompaniment (hints, ids, thread) */
};
static const struct signal_ns signal_nss[] = {
    { "http://jabber.org/protocol/chatstates", true },  /* XEP-0085 */
    { "urn:xmpp:receipts", true },                      /* XEP-0184 */
    { "urn:xmpp:chat-markers:0", true },                /* XEP-0333 */
    { "urn:xmpp:hints", false },                        /* XEP-0334 */
    { "urn:xmpp:sid:0", false },                        /* XEP-0359 origin-id */
    { "urn:xmpp:delay", false },                        /* XEP-0203 */
};

/* Wrappers the user's own account sends around a message it already passed. */
struct replay {
    const char *name;
    const char *ns_prefix;
};
static const struct replay replays[] = {
    { "result", "urn:xmpp:mam:" },       /* XEP-0313, any version */
    { "sent", "urn:xmpp:carbons:" },     /* XEP-0280 */
    { "received", "urn:xmpp:carbons:" },
};

static const char *domain_of(const char *jid)
{
    const char *at = strchr(jid, '@'), *slash = strchr(jid, '/');
    return at && (!slash || at < slash) ? at + 1 : jid;
}

static bool domain_is(const char *jid, const char *domain)
{
    const char *d = domain_of(jid);
    size_t n = strcspn(d, "/");
    return strlen(domain) == n && strncmp(d, domain, n) == 0;
}

static bool room_service(const char *jid, const struct tapclass_policy *p)
{
    for (size_t i = 0; jid && i < p->nroom_services; i++)
        if (domain_is(jid, p->room_services[i]))
            return true;
    return false;
}

static bool same_account(const char *from, const char *to)
{
    if (!to)
        return true;
    size_t n = strcspn(from, "/");
    return strcspn(to, "/") == n && strncmp(from, to, n) == 0;
}

static bool is_replay(const struct xml_node *msg)
{
    for (const struct xml_node *c = xml_first(msg); c; c = xml_next(c))
        for (size_t i = 0; c->ns && i < ARRAY_SIZE(replays); i++)
            if (strcmp(c->name, replays[i].name) == 0 &&
                strncmp(c->ns, replays[i].ns_prefix, strlen(replays[i].ns_prefix)) == 0)
                return true;
    return false;
}

/* 1: a signal element, 0: an accompaniment, -1: anything else (content). */
static int signal_kind(const struct xml_node *msg, const struct xml_node *c)
{
    if (c == stanza_child(msg, "thread"))
        return 0;
    for (size_t i = 0; c->ns && i < ARRAY_SIZE(signal_nss); i++)
        if (strcmp(c->ns, signal_nss[i].ns) == 0)
            return signal_nss[i].is_signal ? (c->children ? -1 : 1) : 0;
    return -1;
}

/* Bodiless, and nothing but signals and what goes with them. A signal
 * element with any content is content: nothing can be carried past the
 * record inside a chat state. */
static bool is_signal(const struct xml_node *msg)
{
    bool any = false;
    for (const struct xml_node *c = xml_first(msg); c; c = xml_next(c)) {
        int k = signal_kind(msg, c);
        if (k < 0)
            return false;
        any |= k == 1;
    }
    return any;
}

static bool says_something(const struct xml_node *msg)
{
    return stanza_child(msg, "body") || stanza_child(msg, "subject");
}

enum tapclass tapclass_of(const struct xml_node *msg, const char *from, const char *to,
                          const struct tapclass_policy *policy)
{
    static const struct tapclass_policy defaults = { 0 };
    const struct tapclass_policy *p = policy ? policy : &defaults;
    if (room_service(from, p) || room_service(to, p))
        return TAPCLASS_SKIP;
    if (from && same_account(from, to) && is_replay(msg))
        return TAPCLASS_SKIP;
    if (stanza_is_error(msg))
        return says_something(msg) ? TAPCLASS_ERROR : TAPCLASS_SKIP;
    if (is_signal(msg))
        return p->record_signals ? TAPCLASS_SIGNAL : TAPCLASS_SKIP;
    return TAPCLASS_CHAT;
}

const char *tapclass_event_type(enum tapclass c)
{
    static const char *const names[] = { [TAPCLASS_CHAT] = "chat", [TAPCLASS_ERROR] = "error",
                                         [TAPCLASS_SIGNAL] = "signal", [TAPCLASS_SKIP] = NULL };
    return names[c];
}
