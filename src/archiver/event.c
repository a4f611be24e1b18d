/* Compliance events: validation and reduction to table columns (event.h). */
#include "compat.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datetime.h"
#include "event.h"
#include "jid.h"
#include "mem.h"
#include "stanza.h"

#define NS_SERVER "jabber:server"

static const char *const types[] = {
    "join", "leave", "nick", "groupchat", "private", "subject", "config", "role", "affiliation",
    "kick", "ban", "invite", "create", "destroy", "history", "mam", "purge", "chat", "decline",
    "iq", "moderate", "category", "group", "policy", "wall",
};
static const char *const roles[] = { "none", "visitor", "participant", "moderator" };
static const char *const affiliations[] = { "none", "outcast", "member", "admin", "owner" };

/* Types whose event must carry the message it records. */
static const char *const message_types[] = { "groupchat", "private", "subject", "history",
                                             "chat" };
/* Types that are done to someone. */
static const char *const target_types[] = { "private", "role", "affiliation", "kick", "ban",
                                            "invite", "nick", "decline", "iq" };

static const char *find(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(list[i], s) == 0)
            return list[i];
    return NULL;
}

const char *cevent_type_name(const char *type)
{
    return find(types, ARRAY_SIZE(types), type);
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool cevent_uuid_valid(const char *s)
{
    if (!s || strlen(s) != CEVENT_UUID_LEN)
        return false;
    for (size_t i = 0; i < CEVENT_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return false;
    }
    return true;
}

static void set_uuid(struct cevent *ev, const char *s)
{
    for (size_t i = 0; i < CEVENT_UUID_LEN; i++)
        ev->uuid[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
    ev->uuid[CEVENT_UUID_LEN] = '\0';
}

void cevent_clear(struct cevent *ev)
{
    char **owned[] = {
        &ev->sender, &ev->room, &ev->actor_jid, &ev->actor_nick, &ev->actor_role,
        &ev->actor_affiliation, &ev->target_jid, &ev->target_nick, &ev->target_role,
        &ev->target_affiliation, &ev->reason, &ev->msg_type, &ev->subject, &ev->thread,
        &ev->body, &ev->detail, &ev->stanza,
    };
    for (size_t i = 0; i < ARRAY_SIZE(owned); i++)
        free(*owned[i]);
    for (size_t i = 0; i < ev->nrecipients; i++)
        free(ev->recipients[i]);
    free(ev->recipients);
    memset(ev, 0, sizeof *ev);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* The prepared form of a JID (bare = must have no resource), or NULL. */
static char *prep_jid(const char *s, bool need_node, bool bare)
{
    struct jid j = { 0 };
    if (!s || jid_parse(&j, s) < 0)
        return NULL;
    char *out = NULL;
    if ((!need_node || j.node) && (!bare || !j.resource))
        out = jid_format(&j, false);
    jid_clear(&j);
    return out;
}

static int fail(struct cevent *ev, const char **why, const char *text)
{
    cevent_clear(ev);
    *why = text;
    return -EINVAL;
}

/* ---- the forwarded stanza ---- */

static bool stanza_ns_ok(const struct xml_node *st)
{
    return st->ns && (strcmp(st->ns, NS_CLIENT) == 0 || strcmp(st->ns, NS_COMPONENT) == 0 ||
                      strcmp(st->ns, NS_SERVER) == 0);
}

static char *child_text(const struct xml_node *st, const char *name)
{
    struct xml_node *c = xml_child(st, name, st->ns);
    return c ? xml_text(c) : NULL;
}

static void take_message(struct cevent *ev, const struct xml_node *st)
{
    const char *t = stanza_type(st);
    ev->msg_type = xstrdup(t && *t ? t : "normal");
    ev->body = child_text(st, "body");
    ev->subject = child_text(st, "subject");
    ev->thread = child_text(st, "thread");
}

/* The one stanza inside <forwarded/> and its optional delay. NULL + *why. */
static const struct xml_node *forwarded_stanza(struct cevent *ev, const struct xml_node *fwd,
                                               const char **why)
{
    const struct xml_node *st = NULL;
    for (const struct xml_node *c = xml_first(fwd); c; c = xml_next(c)) {
        if (c->ns && strcmp(c->ns, NS_DELAY) == 0 && strcmp(c->name, "delay") == 0) {
            if (ev->has_stamp || datetime_parse(xml_attr(c, "stamp") ? xml_attr(c, "stamp") : "",
                                                &ev->stamp_ms) < 0) {
                *why = "forwarded: bad or repeated <delay/> stamp";
                return NULL;
            }
            ev->has_stamp = true;
        } else if (stanza_kind(c) != STANZA_OTHER && stanza_ns_ok(c)) {
            if (st) {
                *why = "forwarded: more than one stanza";
                return NULL;
            }
            st = c;
        }
    }
    if (!st)
        *why = "forwarded: no message, presence or iq stanza";
    return st;
}

/* Take the forwarded stanza of el (at most one <forwarded/>). 0, 1 when there
 * is none, -EINVAL with *why. */
static int take_forwarded(struct cevent *ev, const struct xml_node *el, const char **why)
{
    const struct xml_node *fwd = NULL;
    for (const struct xml_node *c = xml_first(el); c; c = xml_next(c)) {
        if (c->ns && strcmp(c->ns, NS_FORWARD) == 0 && strcmp(c->name, "forwarded") == 0) {
            if (fwd) {
                *why = "more than one <forwarded/>";
                return -EINVAL;
            }
            fwd = c;
        }
    }
    if (!fwd)
        return 1;
    const struct xml_node *st = forwarded_stanza(ev, fwd, why);
    if (!st)
        return -EINVAL;
    if (stanza_kind(st) == STANZA_MESSAGE)
        take_message(ev, st);
    ev->stanza = xml_to_string(st, NULL);
    return 0;
}

/* ---- <event/> ---- */

/* <actor/> or <target/>: jid (prepared), nick, role, affiliation. */
static const char *take_person(const struct xml_node *p, char **jid, char **nick, char **role,
                               char **affil)
{
    const char *j = xml_attr(p, "jid"), *n = xml_attr(p, "nick");
    const char *r = xml_attr(p, "role"), *a = xml_attr(p, "affiliation");
    if (j && !(*jid = prep_jid(j, false, false)))
        return "malformed jid";
    if (n && !*n)
        return "empty nick";
    if (r && !find(roles, ARRAY_SIZE(roles), r))
        return "unknown role";
    if (a && !find(affiliations, ARRAY_SIZE(affiliations), a))
        return "unknown affiliation";
    *nick = dup_or_null(n);
    *role = dup_or_null(r);
    *affil = dup_or_null(a);
    return NULL;
}

static const char *take_people(struct cevent *ev, const struct xml_node *el)
{
    const struct xml_node *actor = xml_child(el, "actor", NS_COMPLIANCE);
    const struct xml_node *target = xml_child(el, "target", NS_COMPLIANCE);
    if (!actor || !xml_attr(actor, "jid"))
        return "<actor jid='…'/> is required";
    if (take_person(actor, &ev->actor_jid, &ev->actor_nick, &ev->actor_role,
                    &ev->actor_affiliation))
        return "<actor/>: malformed jid, empty nick or unknown role/affiliation";
    if (target && !xml_attr(target, "jid") && !xml_attr(target, "nick"))
        return "<target/> needs a jid or a nick";
    if (target && take_person(target, &ev->target_jid, &ev->target_nick, &ev->target_role,
                              &ev->target_affiliation))
        return "<target/>: malformed jid, empty nick or unknown role/affiliation";
    if (!target && find(target_types, ARRAY_SIZE(target_types), ev->type))
        return "this event type needs a <target/>";
    if (strcmp(ev->type, "nick") == 0 && !ev->target_nick)
        return "a nick event needs <target nick='new nick'/>";
    return NULL;
}

static const char *take_recipients(struct cevent *ev, const struct xml_node *el)
{
    const struct xml_node *rs = xml_child(el, "recipients", NS_COMPLIANCE);
    if (!rs)
        return NULL;
    size_t n = 0;
    for (const struct xml_node *c = xml_first(rs); c; c = xml_next(c))
        n++;
    ev->recipients = xcalloc(n ? n : 1, sizeof *ev->recipients);
    for (const struct xml_node *c = xml_first(rs); c; c = xml_next(c)) {
        if (!c->ns || strcmp(c->ns, NS_COMPLIANCE) != 0 || strcmp(c->name, "recipient") != 0)
            return "<recipients/> holds only <recipient jid='…'/>";
        char *j = prep_jid(xml_attr(c, "jid"), false, false);
        if (!j)
            return "<recipient/> without a valid jid";
        ev->recipients[ev->nrecipients++] = j;
    }
    return NULL;
}

/* Events of the service rather than of one room: a one-to-one chat, and the
 * administration events of categories, groups and policy (issue 16). */
static bool roomless(const char *type)
{
    static const char *const service_types[] = { "chat", "category", "group", "policy" };
    for (size_t i = 0; i < ARRAY_SIZE(service_types); i++)
        if (strcmp(type, service_types[i]) == 0)
            return true;
    return false;
}

static const char *take_header(struct cevent *ev, const struct xml_node *el)
{
    const char *id = xml_attr(el, "id"), *time = xml_attr(el, "time");
    if (!cevent_uuid_valid(id))
        return "id must be a UUID";
    set_uuid(ev, id);
    if (!(ev->type = cevent_type_name(xml_attr(el, "type"))))
        return "unknown event type";
    if (!time || datetime_parse(time, &ev->time_ms) < 0)
        return "time must be an XEP-0082 DateTime";
    const char *room = xml_attr(el, "room");
    if (!roomless(ev->type) && !room)
        return "room is required";
    if (room && !(ev->room = prep_jid(room, true, true)))
        return "room must be a bare room@service JID";
    return NULL;
}

int cevent_from_event(struct cevent *ev, const struct xml_node *el, const char *sender,
                      const char **why)
{
    memset(ev, 0, sizeof *ev);
    const char *err = take_header(ev, el);
    if (!err)
        err = take_people(ev, el);
    if (!err)
        err = take_recipients(ev, el);
    if (err)
        return fail(ev, why, err);
    const struct xml_node *reason = xml_child(el, "reason", NS_COMPLIANCE);
    const struct xml_node *detail = xml_child(el, "detail", NS_COMPLIANCE);
    ev->reason = reason ? xml_text(reason) : NULL;
    ev->detail = detail ? xml_to_string(detail, NULL) : NULL;
    int r = take_forwarded(ev, el, why);
    if (r < 0)
        return fail(ev, why, *why);
    bool need_message = find(message_types, ARRAY_SIZE(message_types), ev->type) != NULL;
    if (need_message && (r == 1 || !ev->msg_type))
        return fail(ev, why, "this event type needs the <forwarded/> message it records");
    ev->sender = xstrdup(sender);
    return 0;
}

/* ---- <tap/> ---- */

/* Who sent and who received a tapped message. The session is the client
 * connection the copy was taken on, authenticated by the router: the sender
 * of what came in, the receiver of what went out (a message to a bare JID is
 * delivered to a resource: the session says which). The stanza's addresses
 * stand in where the tap gave no session. */
static const char *take_tap_people(struct cevent *ev, const char *from, const char *to,
                                   const char *session)
{
    bool in = strcmp(ev->direction, "in") == 0;
    const char *actor = in && session ? session : from;
    const char *target = !in && session ? session : to;
    if (!actor || !(ev->actor_jid = prep_jid(actor, false, false)))
        return "the tapped message has no valid sender (from, or session for direction in)";
    if (target && !(ev->target_jid = prep_jid(target, false, false)))
        return "the tapped message has a malformed recipient";
    return NULL;
}

int cevent_from_tap(struct cevent *ev, const struct xml_node *el, const char *sender,
                    const char **why)
{
    memset(ev, 0, sizeof *ev);
    const char *id = xml_attr(el, "id"), *time = xml_attr(el, "time");
    const char *dir = xml_attr(el, "direction");
    if (!cevent_uuid_valid(id))
        return fail(ev, why, "id must be a UUID");
    set_uuid(ev, id);
    ev->type = "chat";
    if (!time || datetime_parse(time, &ev->time_ms) < 0)
        return fail(ev, why, "time must be an XEP-0082 DateTime");
    if (!dir || (strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0))
        return fail(ev, why, "direction must be in or out");
    ev->direction = strcmp(dir, "in") == 0 ? "in" : "out";
    const struct xml_node *fwd = xml_child(el, "forwarded", NS_FORWARD);
    const struct xml_node *st = fwd ? forwarded_stanza(ev, fwd, why) : NULL;
    if (!fwd)
        return fail(ev, why, "a tap carries one <forwarded/> message");
    if (!st || stanza_kind(st) != STANZA_MESSAGE)
        return fail(ev, why, st ? "a tap carries a message stanza" : *why);
    const char *err = take_tap_people(ev, stanza_from(st), stanza_to(st),
                                      xml_attr(el, "session"));
    if (err)
        return fail(ev, why, err);
    take_message(ev, st);
    ev->stanza = xml_to_string(st, NULL);
    ev->sender = xstrdup(sender);
    return 0;
}

/* ---- bare <forwarded/> (mod_service_log) ---- */

/* A name-based UUID (SHA-256, RFC 9562 version 8 layout) of the sender and
 * the serialised stanza: the same copy sent twice is stored once. */
static void content_uuid(struct cevent *ev, const char *sender, const char *stanza)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char label[] = "confab forwarded copy v1";
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, label, sizeof label) ||
        !EVP_DigestUpdate(ctx, sender, strlen(sender) + 1) ||
        !EVP_DigestUpdate(ctx, stanza, strlen(stanza)) || !EVP_DigestFinal_ex(ctx, md, &n)) {
        fprintf(stderr, "FATAL OpenSSL SHA-256 failed\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x80);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    snprintf(ev->uuid, sizeof ev->uuid,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
             md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11],
             md[12], md[13], md[14], md[15]);
}

int cevent_from_forwarded(struct cevent *ev, const struct xml_node *fwd, const char *sender,
                          int64_t now_ms, const char **why)
{
    memset(ev, 0, sizeof *ev);
    const struct xml_node *st = forwarded_stanza(ev, fwd, why);
    if (!st)
        return fail(ev, why, *why);
    if (stanza_kind(st) != STANZA_MESSAGE) {
        cevent_clear(ev);
        return -ENOENT;
    }
    ev->type = "chat";
    ev->time_ms = ev->has_stamp ? ev->stamp_ms : now_ms;
    if (!(ev->actor_jid = prep_jid(stanza_from(st), false, false)))
        return fail(ev, why, "the forwarded message has no valid from");
    if (stanza_to(st) && !(ev->target_jid = prep_jid(stanza_to(st), false, false)))
        return fail(ev, why, "the forwarded message has a malformed to");
    take_message(ev, st);
    ev->stanza = xml_to_string(st, NULL);
    content_uuid(ev, sender, ev->stanza);
    ev->sender = xstrdup(sender);
    return 0;
}
