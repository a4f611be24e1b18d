/* ctl_messages.c — confabctl messages remove | replace: an administrator takes
 * messages down by filter, as Lync's Remove-CsPersistentChatMessage (room,
 * keywords matching any/all/exactly, sender, date range; a dry run unless
 * --apply).
 *
 * `remove` turns each message into a XEP-0424/0425 tombstone (as a moderator's
 * retraction does, moderated by the room), `replace` keeps the message and
 * swaps its text for the replacement ("This message was replaced by the
 * Persistent Chat administrator." by default). Each change is one transaction
 * with its `moderate` compliance event (actor: the service, nick: the officer)
 * in confabd's outbox; running confabds reload the room (control channel). */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "ctl.h"
#include "datetime.h"
#include "digest.h"
#include "mem.h"
#include "retract.h"
#include "servicekey.h"
#include "stanza.h"
#include "stanzaid.h"
#include "xstream.h"

#define NS_COMPONENT_ACCEPT "jabber:component:accept"
#define DEFAULT_REPLACEMENT "This message was replaced by the Persistent Chat administrator."

enum match { MATCH_ANY, MATCH_ALL, MATCH_EXACT };

struct msg_opts {
    bool replace;
    const char *room, *sender, *from, *to, *keywords, *text, *officer, *reason;
    enum match match;
    bool match_case, apply;
};

static const char select_sql[] =
    "SELECT m.seq, m.stanza, m.body, m.sender_jid, "
    "(extract(epoch FROM m.ts) * 1000)::bigint FROM messages m JOIN rooms r ON r.id = m.room_id "
    "WHERE r.jid = $1 AND m.retracted_at IS NULL "
    "AND ($2::timestamptz IS NULL OR m.ts >= $2) AND ($3::timestamptz IS NULL OR m.ts < $3) "
    "AND ($4::text IS NULL OR split_part(m.sender_jid, '/', 1) = $4) ORDER BY m.seq";

#define UPDATE_CTE \
    "WITH u AS (UPDATE messages SET stanza = $3, body = $4, body_tsv = NULL, " \
    "retracted_at = now() WHERE room_id = (SELECT id FROM rooms WHERE jid = $1) " \
    "AND seq = $2::bigint AND retracted_at IS NULL RETURNING seq) "
static const char update_sql[] = UPDATE_CTE "SELECT count(*) FROM u";
static const char update_event_sql[] =
    UPDATE_CTE ", o AS (INSERT INTO compliance_outbox (uuid, room, xml) "
    "SELECT $5::uuid, $1, $6 FROM u) SELECT count(*) FROM u";

/* ---- which messages ---- */

static bool contains(const char *hay, const char *needle, bool match_case)
{
    return match_case ? strstr(hay, needle) != NULL : strcasestr(hay, needle) != NULL;
}

/* Keywords are comma-separated; exact: the whole text is the phrase. */
static bool body_matches(const struct msg_opts *o, const char *body)
{
    if (!o->keywords)
        return true;
    if (!body)
        return false;
    if (o->match == MATCH_EXACT)
        return o->match_case ? strcmp(body, o->keywords) == 0
                             : strcasecmp(body, o->keywords) == 0;
    char *list = xstrdup(o->keywords), *save = NULL;
    bool any = false, all = true;
    for (char *k = strtok_r(list, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        while (*k == ' ')
            k++;
        if (!*k)
            continue;
        bool hit = contains(body, k, o->match_case);
        any = any || hit;
        all = all && hit;
    }
    free(list);
    return o->match == MATCH_ALL ? any && all : any;
}

/* ---- what a message becomes ---- */

static void add_reason(struct xml_node *parent, const char *ns, const char *reason)
{
    if (reason && *reason)
        xml_add_text_child(parent, "reason", ns, reason);
}

static void tombstone(struct xml_node *msg, const char *room, const char *reason, int64_t now)
{
    for (struct xml_node *c = xml_first(msg), *next; c; c = next) {
        next = xml_next(c);
        bool keep = c->ns && (strcmp(c->ns, "urn:xmpp:occupant-id:0") == 0 ||
                              strcmp(c->ns, "urn:xmpp:sid:0") == 0);
        if (!keep)
            xml_remove(msg, c);
    }
    retract_add(msg, &(struct retraction){ .by = room, .reason = reason, .now = now });
}

static void replace_text(struct xml_node *msg, const char *text)
{
    struct xml_node *b;
    while ((b = stanza_child(msg, "body")))
        xml_remove(msg, b);
    xml_add_text_child(msg, "body", msg->ns, text);
}

/* The compliance event: who (the service, the officer's name), which message,
 * the hash of the text it replaced, why; as confabd's own `moderate` events. */
static char *event_xml(const struct ctl *c, const struct msg_opts *o, const char *uuid,
                       const char *sid, const char *body, int64_t now)
{
    struct xml_node *ev = xml_new("event", "urn:confab:compliance:0");
    char stamp[DATETIME_FMT_MAX];
    datetime_format(now, stamp);
    xml_set_attr(ev, "id", uuid);
    xml_set_attr(ev, "type", "moderate");
    xml_set_attr(ev, "time", stamp);
    xml_set_attr(ev, "room", o->room);
    struct xml_node *a = xml_add(ev, "actor", ev->ns);
    xml_set_attr(a, "jid", c->cfg->component.domain);
    xml_set_attr(a, "nick", o->officer);
    add_reason(ev, ev->ns, o->reason);
    struct xml_node *d = xml_add(xml_add(ev, "detail", ev->ns), "retracted", ev->ns);
    xml_set_attr(d, "stanza-id", sid);
    xml_set_attr(d, "how", o->replace ? "replaced" : "removed");
    char hex[DIGEST_HEX_LEN];   /* as confabd's: the empty text when there was no body */
    digest_sha256_hex(body ? body : "", body ? strlen(body) : 0, hex);
    xml_set_attr(d, "text-sha256", hex);
    char *s = xml_to_string(ev, NULL);
    xml_unref(ev);
    return s;
}

/* ---- one message ---- */

static int change_one(struct ctl *c, const struct msg_opts *o, const struct stanzaid *sids,
                      const PGresult *r, int i)
{
    const char *stanza = ctl_col(r, i, 1), *body = ctl_col(r, i, 2);
    struct xml_node *msg = xstream_parse_stanza(NS_COMPONENT_ACCEPT, stanza, strlen(stanza));
    if (!msg) {
        ctl_err("%s: message %s cannot be read back; left alone", o->room, ctl_col(r, i, 0));
        return 0;
    }
    int64_t now = datetime_now_ms();
    if (o->replace)
        replace_text(msg, o->text);
    else
        tombstone(msg, o->room, o->reason, now);
    struct buf b;
    buf_init(&b);
    xml_serialize(msg, NS_COMPONENT_ACCEPT, &b);
    xml_unref(msg);
    char sid[33], uuid[37];
    stanzaid_encode(sids, o->room, (uint64_t)ctl_col_ll(r, i, 0), sid);
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, uuid);
    char *ev = event_xml(c, o, uuid, sid, body, now);
    bool events = c->cfg->compliance_archiver && *c->cfg->compliance_archiver;
    const char *v[] = { o->room, ctl_col(r, i, 0), b.data, o->replace ? o->text : NULL, uuid, ev };
    PGresult *res = NULL;
    int rc = ctl_query(c, "changing a message", events ? update_event_sql : update_sql,
                       events ? 6 : 4, v, &res);
    PQclear(res);
    free(ev);
    buf_free(&b);
    return rc;
}

static int run(struct ctl *c, const struct msg_opts *o)
{
    int64_t from = 0, to = 0;
    char fb[DATETIME_FMT_MAX], tb[DATETIME_FMT_MAX];
    if (o->from && ctl_parse_date(o->from, &from) < 0)
        return ctl_usage("messages: --from %s is not a date", o->from);
    if (o->to && ctl_parse_date(o->to, &to) < 0)
        return ctl_usage("messages: --to %s is not a date", o->to);
    if (o->from)
        datetime_format(from, fb);
    if (o->to)
        datetime_format(to, tb);
    const char *v[] = { o->room, o->from ? fb : NULL, o->to ? tb : NULL, o->sender };
    PGresult *r = NULL;
    int rc = ctl_query(c, "finding the messages", select_sql, 4, v, &r);
    if (rc)
        return rc;
    unsigned char key[32];
    servicekey_from_secret(c->cfg->component.domain, c->cfg->component.secret, key);
    struct stanzaid *sids = stanzaid_new(key);
    long long n = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        if (!body_matches(o, ctl_col(r, i, 2)))
            continue;
        n++;
        if (o->apply)
            rc = change_one(c, o, sids, r, i);
        else if (!c->json)
            printf("  %s  %s  %.60s\n", ctl_col(r, i, 0), ctl_col(r, i, 3),
                   ctl_col(r, i, 2) ? ctl_col(r, i, 2) : "(no text)");
    }
    stanzaid_free(sids);
    PQclear(r);
    if (rc == 0 && o->apply && n)
        rc = ctl_notify(c, "room-changed", o->room, NULL, NULL);
    if (rc)
        return rc;
    const char *verb = o->replace ? "replaced" : "removed";
    if (c->json)
        return ctl_print_json(json_pack("{s:s, s:I, s:b, s:s}", "room", o->room, "messages",
                                        (json_int_t)n, "applied", o->apply, "action", verb));
    if (o->apply)
        printf("%s %lld message%s in %s\n", verb, n, n == 1 ? "" : "s", o->room);
    else
        printf("%lld message%s would be %s (dry run: add --apply)\n", n, n == 1 ? "" : "s", verb);
    return 0;
}

/* ---- options ---- */

static int parse_match(const char *s, enum match *m)
{
    static const char *const names[] = { "any", "all", "exact" };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *m = (enum match)i;
            return 0;
        }
    return ctl_usage("messages: --match must be any, all or exact, not %s", s);
}

static int parse_opts(struct ctl *c, int argc, char **argv, struct msg_opts *o)
{
    static const struct option longopts[] = {
        { "room", required_argument, NULL, 'r' },     { "sender", required_argument, NULL, 's' },
        { "from", required_argument, NULL, 'f' },     { "to", required_argument, NULL, 't' },
        { "keywords", required_argument, NULL, 'k' }, { "match", required_argument, NULL, 'm' },
        { "match-case", no_argument, NULL, 'C' },     { "text", required_argument, NULL, 'x' },
        { "officer", required_argument, NULL, 'o' },  { "reason", required_argument, NULL, 'R' },
        { "apply", no_argument, NULL, 'A' },          { "json", no_argument, NULL, 'J' },
        { NULL, 0, NULL, 0 },
    };
    int ch, rc = 0;
    ctl_getopt_reset();
    while (rc == 0 && (ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r': o->room = optarg; break;
        case 's': o->sender = optarg; break;
        case 'f': o->from = optarg; break;
        case 't': o->to = optarg; break;
        case 'k': o->keywords = optarg; break;
        case 'm': rc = parse_match(optarg, &o->match); break;
        case 'C': o->match_case = true; break;
        case 'x': o->text = optarg; break;
        case 'o': o->officer = optarg; break;
        case 'R': o->reason = optarg; break;
        case 'A': o->apply = true; break;
        case 'J': c->json = true; break;
        default: return ctl_bad_option("messages", argv);
        }
    }
    if (rc)
        return rc;
    if (optind < argc || !o->room)
        return ctl_usage("messages %s: --room ROOM is required (and no other arguments)",
                         argv[0]);
    if (!o->keywords && !o->sender && !o->from && !o->to)
        return ctl_usage("messages %s: give at least one filter (--keywords, --sender, --from, "
                         "--to): a whole room is `rooms clear`", argv[0]);
    return 0;
}

int ctl_messages_main(struct ctl *c, int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "remove") != 0 && strcmp(argv[1], "replace") != 0))
        return ctl_usage("messages remove|replace --room ROOM [filters] [--apply]");
    struct msg_opts o = { .replace = strcmp(argv[1], "replace") == 0,
                          .text = DEFAULT_REPLACEMENT };
    int rc = parse_opts(c, argc - 1, argv + 1, &o);
    char *room = NULL, *sender = NULL;
    if (rc == 0)
        rc = ctl_room_jid(c, o.room, &room);
    if (rc == 0 && o.sender)
        rc = ctl_bare_jid("--sender", o.sender, &sender);
    if (rc == 0) {
        o.room = room;
        o.sender = sender;
        if (!o.officer)
            o.officer = ctl_login_name();
        rc = ctl_connect(c);
    }
    if (rc == 0)
        rc = ctl_require_schema(c);
    if (rc == 0)
        rc = run(c, &o);
    free(room);
    free(sender);
    return rc;
}
