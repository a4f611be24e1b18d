/* confab-archiver's intake: event validation (event.c), the answers the
 * service gives around its store (archiver.c: result only after the store's
 * commit, wait when it cannot record, bad-request for malformed events, a
 * bounded queue), and the splitting of the compliance migrations. */
#include "unit.h"

#include "archiver.h"
#include "event.h"
#include "migrate.h"
#include "stanza.h"

extern const struct migration compliance_migrations[];
extern const size_t compliance_migrations_count;

#define ARCH "archive.example"
#define MUCD "conference.example"
#define UUID1 "0f8fad5b-d9cb-469f-a165-70867728950e"
#define UUID2 "7c9e6679-7425-40de-944b-e07fc1f90ae7"

/* An <iq type='set'> from confabd carrying body (the <event/> XML). */
static char *event_iq(const char *event)
{
    char *s = malloc(strlen(event) + 256);
    sprintf(s, "<iq type='set' id='q1' from='" MUCD "' to='" ARCH "'>%s</iq>", event);
    return s;
}

#define GC_EVENT \
    "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='groupchat' " \
    "time='2024-05-01T10:00:00.250Z' room='Room@Conference.Example'>" \
    "<actor jid='alice@example.com/laptop' nick='Alice' role='participant' " \
    "affiliation='member'/>" \
    "<recipients><recipient jid='bob@example.com/phone' nick='bob'/>" \
    "<recipient jid='alice@example.com/laptop' nick='Alice'/></recipients>" \
    "<forwarded xmlns='urn:xmpp:forward:0'>" \
    "<delay xmlns='urn:xmpp:delay' stamp='2024-05-01T10:00:00Z'/>" \
    "<message xmlns='jabber:client' from='room@conference.example/Alice' type='groupchat' " \
    "id='m1'><body>hello &amp; welcome</body><thread>t1</thread></message>" \
    "</forwarded></event>"

/* Parse an <event/> (or <tap/>) element; returns its parse status. */
static int parse_event(const char *xml, struct cevent *ev, const char **why)
{
    char *iq = event_iq(xml);
    struct xml_node *st = unit_parse(iq);
    free(iq);
    const struct xml_node *el = xml_first(st);
    int r = strcmp(el->name, "tap") == 0 ? cevent_from_tap(ev, el, MUCD, NULL, why)
                                          : cevent_from_event(ev, el, MUCD, why);
    xml_unref(st);
    return r;
}

/* ---- event.c ---- */

static void test_groupchat_event(void **state)
{
    struct cevent ev;
    const char *why = NULL;
    assert_int_equal(parse_event(GC_EVENT, &ev, &why), 0);
    assert_string_equal(ev.uuid, UUID1);
    assert_string_equal(ev.type, "groupchat");
    assert_int_equal(ev.time_ms, 1714557600250);
    assert_string_equal(ev.room, "room@conference.example");
    assert_string_equal(ev.sender, MUCD);
    assert_string_equal(ev.actor_jid, "alice@example.com/laptop");
    assert_string_equal(ev.actor_nick, "Alice");
    assert_string_equal(ev.actor_role, "participant");
    assert_string_equal(ev.actor_affiliation, "member");
    assert_null(ev.target_jid);
    assert_int_equal(ev.nrecipients, 2);
    assert_string_equal(ev.recipients[0], "bob@example.com/phone");
    assert_string_equal(ev.msg_type, "groupchat");
    assert_string_equal(ev.body, "hello & welcome");
    assert_string_equal(ev.thread, "t1");
    assert_null(ev.subject);
    assert_true(ev.has_stamp);
    assert_int_equal(ev.stamp_ms, 1714557600000);
    assert_non_null(strstr(ev.stanza, "<message xmlns='jabber:client'") ? ev.stanza :
                    strstr(ev.stanza, "<message xmlns=\"jabber:client\""));
    assert_non_null(strstr(ev.stanza, "hello &amp; welcome"));
    assert_null(ev.direction);
    cevent_clear(&ev);
}

static void test_uppercase_uuid_is_normalised(void **state)
{
    struct cevent ev;
    const char *why = NULL;
    assert_int_equal(parse_event("<event xmlns='urn:confab:compliance:0' "
                                 "id='0F8FAD5B-D9CB-469F-A165-70867728950E' type='join' "
                                 "time='2024-05-01T10:00:00Z' room='r@c.example'>"
                                 "<actor jid='a@example.com/r' nick='a'/></event>",
                                 &ev, &why), 0);
    assert_string_equal(ev.uuid, UUID1);
    assert_null(ev.stanza);
    cevent_clear(&ev);
}

static void test_every_type(void **state)
{
    static const char *const types[] = {
        "join", "leave", "nick", "groupchat", "private", "subject", "config", "role",
        "affiliation", "kick", "ban", "invite", "create", "destroy", "history", "mam", "purge",
        "chat",
    };
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        char xml[1024];
        snprintf(xml, sizeof xml,
                 "<event xmlns='urn:confab:compliance:0' id='" UUID2 "' type='%s' "
                 "time='2024-05-01T10:00:00+02:00' room='r@c.example'>"
                 "<actor jid='a@example.com/r' nick='a'/>"
                 "<target jid='b@example.com' nick='b' role='none' affiliation='outcast'/>"
                 "<reason>because</reason><detail><x xmlns='jabber:x:data' type='result'/>"
                 "</detail><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'"
                 " type='groupchat'><subject>s</subject><body>b</body></message></forwarded>"
                 "</event>", types[i]);
        struct cevent ev;
        const char *why = NULL;
        int r = parse_event(xml, &ev, &why);
        if (r != 0)
            fail_msg("type %s: %s", types[i], why);
        assert_string_equal(ev.type, types[i]);
        assert_int_equal(ev.time_ms, 1714550400000);
        assert_string_equal(ev.reason, "because");
        assert_string_equal(ev.target_role, "none");
        assert_non_null(strstr(ev.detail, "jabber:x:data"));
        assert_string_equal(ev.subject, "s");
        cevent_clear(&ev);
    }
}

/* Issue 16's administration events: category, group and policy concern the
 * service (no room); wall concerns a room. */
static void test_admin_events(void **state)
{
    static const char *const roomless[] = { "category", "group", "policy" };
    for (size_t i = 0; i < ARRAY_SIZE(roomless); i++) {
        char xml[512];
        snprintf(xml, sizeof xml,
                 "<event xmlns='urn:confab:compliance:0' id='" UUID2 "' type='%s' "
                 "time='2024-05-01T10:00:00Z'><actor jid='conference.example.com'/>"
                 "<detail><policy key='max_rooms' value='3'/></detail></event>", roomless[i]);
        struct cevent ev;
        const char *why = NULL;
        if (parse_event(xml, &ev, &why) != 0)
            fail_msg("type %s: %s", roomless[i], why);
        assert_null(ev.room);
        cevent_clear(&ev);
    }
    struct cevent ev;
    const char *why = NULL;
    assert_int_equal(parse_event("<event xmlns='urn:confab:compliance:0' id='" UUID2 "' "
                                 "type='wall' time='2024-05-01T10:00:00Z' room='r@c.example'>"
                                 "<actor jid='c.example'/><target jid='a@example.com' "
                                 "affiliation='member'/><reason>Removed by an ethical wall of "
                                 "category x</reason></event>", &ev, &why), 0);
    assert_string_equal(ev.room, "r@c.example");
    cevent_clear(&ev);
    /* A wall is about a room: without one it is refused. */
    assert_int_not_equal(parse_event("<event xmlns='urn:confab:compliance:0' id='" UUID2 "' "
                                     "type='wall' time='2024-05-01T10:00:00Z'>"
                                     "<actor jid='c.example'/></event>", &ev, &why), 0);
    assert_non_null(strstr(why, "room is required"));
}

static void test_event_errors(void **state)
{
    static const struct {
        const char *xml;
        const char *why;
    } cases[] = {
        { "<event xmlns='urn:confab:compliance:0' type='join' time='2024-05-01T10:00:00Z' "
          "room='r@c.example'><actor jid='a@b'/></event>", "UUID" },
        { "<event xmlns='urn:confab:compliance:0' id='not-a-uuid-at-all-not-a-uuid-at-all' "
          "type='join' time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='a@b'/>"
          "</event>", "UUID" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='dance' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='a@b'/></event>",
          "unknown event type" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='join' "
          "time='yesterday' room='r@c.example'><actor jid='a@b'/></event>", "XEP-0082" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='join' "
          "time='2024-05-01T10:00:00Z'><actor jid='a@b'/></event>", "room is required" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='join' "
          "time='2024-05-01T10:00:00Z' room='c.example'><actor jid='a@b'/></event>",
          "bare room" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='join' "
          "time='2024-05-01T10:00:00Z' room='r@c.example/nick'><actor jid='a@b'/></event>",
          "bare room" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='join' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor nick='a'/></event>",
          "<actor jid" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='join' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='@@'/></event>",
          "malformed jid" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='join' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='a@b' role='god'/>"
          "</event>", "role" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='kick' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='a@b'/></event>",
          "needs a <target/>" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='nick' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='a@b'/>"
          "<target jid='a@b'/></event>", "new nick" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='groupchat' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='a@b'/></event>",
          "<forwarded/> message" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='groupchat' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='a@b'/>"
          "<forwarded xmlns='urn:xmpp:forward:0'><presence xmlns='jabber:client'/>"
          "</forwarded></event>", "<forwarded/> message" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='groupchat' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='a@b'/>"
          "<forwarded xmlns='urn:xmpp:forward:0'><body xmlns='jabber:client'/>"
          "</forwarded></event>", "no message" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='groupchat' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='a@b'/>"
          "<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='x'/>"
          "<message xmlns='jabber:client'/></forwarded></event>", "delay" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='groupchat' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='a@b'/>"
          "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/>"
          "<message xmlns='jabber:client'/></forwarded></event>", "more than one stanza" },
        { "<event xmlns='urn:confab:compliance:0' id='" UUID1 "' type='groupchat' "
          "time='2024-05-01T10:00:00Z' room='r@c.example'><actor jid='a@b'/>"
          "<recipients><recipient nick='x'/></recipients>"
          "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/>"
          "</forwarded></event>", "recipient" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct cevent ev;
        const char *why = NULL;
        int r = parse_event(cases[i].xml, &ev, &why);
        if (r != -EINVAL || !why || !strstr(why, cases[i].why))
            fail_msg("case %zu: got %d '%s', want '%s'", i, r, why ? why : "", cases[i].why);
        assert_null(ev.sender);
        assert_null(ev.actor_jid);
    }
}

static void test_tap(void **state)
{
    struct cevent ev;
    const char *why = NULL;
    /* As sent by the user: no 'from' yet; the session says who. */
    assert_int_equal(parse_event("<tap xmlns='urn:confab:compliance:0' id='" UUID1 "' "
                                 "direction='in' time='2024-05-01T10:00:00Z' "
                                 "session='alice@example.com/laptop'>"
                                 "<forwarded xmlns='urn:xmpp:forward:0'>"
                                 "<message xmlns='jabber:client' to='bob@example.com' "
                                 "type='chat'><body>hi bob</body></message></forwarded></tap>",
                                 &ev, &why), 0);
    assert_string_equal(ev.type, "chat");
    assert_string_equal(ev.direction, "in");
    assert_string_equal(ev.actor_jid, "alice@example.com/laptop");
    assert_string_equal(ev.target_jid, "bob@example.com");
    assert_string_equal(ev.msg_type, "chat");
    assert_string_equal(ev.body, "hi bob");
    assert_null(ev.room);
    cevent_clear(&ev);
    /* As delivered: addressed to the session. */
    assert_int_equal(parse_event("<tap xmlns='urn:confab:compliance:0' id='" UUID2 "' "
                                 "direction='out' time='2024-05-01T10:00:00Z' "
                                 "session='bob@example.com/phone'>"
                                 "<forwarded xmlns='urn:xmpp:forward:0'>"
                                 "<message xmlns='jabber:client' from='alice@example.com/laptop'"
                                 "><body>hi bob</body></message></forwarded></tap>",
                                 &ev, &why), 0);
    assert_string_equal(ev.direction, "out");
    assert_string_equal(ev.actor_jid, "alice@example.com/laptop");
    assert_string_equal(ev.target_jid, "bob@example.com/phone");
    assert_string_equal(ev.msg_type, "normal");
    cevent_clear(&ev);
    assert_int_equal(parse_event("<tap xmlns='urn:confab:compliance:0' id='" UUID2 "' "
                                 "direction='sideways' time='2024-05-01T10:00:00Z'>"
                                 "<forwarded xmlns='urn:xmpp:forward:0'><message "
                                 "xmlns='jabber:client' from='a@b'/></forwarded></tap>",
                                 &ev, &why), -EINVAL);
    assert_non_null(strstr(why, "direction"));
    assert_int_equal(parse_event("<tap xmlns='urn:confab:compliance:0' id='" UUID2 "' "
                                 "direction='in' time='2024-05-01T10:00:00Z'>"
                                 "<forwarded xmlns='urn:xmpp:forward:0'><message "
                                 "xmlns='jabber:client' to='a@b'/></forwarded></tap>",
                                 &ev, &why), -EINVAL);
    assert_non_null(strstr(why, "sender"));
    assert_int_equal(parse_event("<tap xmlns='urn:confab:compliance:0' id='" UUID2 "' "
                                 "direction='in' time='2024-05-01T10:00:00Z'/>",
                                 &ev, &why), -EINVAL);
}

static void test_forwarded_copy(void **state)
{
    const char *xml = "<message from='example.com' to='" ARCH "' id='r1'>"
                      "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
                      "from='alice@example.com/a' to='bob@example.com' type='chat'>"
                      "<body>hi</body></message></forwarded></message>";
    struct xml_node *st = unit_parse(xml);
    struct cevent a, b;
    const char *why = NULL;
    const struct xml_node *fwd = xml_child(st, "forwarded", NS_FORWARD);
    assert_int_equal(cevent_from_forwarded(&a, fwd, "example.com", NULL, 1000, &why), 0);
    assert_int_equal(cevent_from_forwarded(&b, fwd, "example.com", NULL, 2000, &why), 0);
    assert_true(cevent_uuid_valid(a.uuid));
    assert_string_equal(a.uuid, b.uuid);   /* the same copy twice: one row */
    assert_int_equal(a.uuid[14], '8');     /* version 8 (name-based, SHA-256) */
    assert_int_equal(a.time_ms, 1000);
    assert_null(a.direction);
    assert_string_equal(a.actor_jid, "alice@example.com/a");
    assert_string_equal(a.body, "hi");
    cevent_clear(&a);
    cevent_clear(&b);
    xml_unref(st);
    st = unit_parse("<message from='example.com' to='" ARCH "'><forwarded "
                    "xmlns='urn:xmpp:forward:0'><presence xmlns='jabber:client' from='a@b/c'/>"
                    "</forwarded></message>");
    assert_int_equal(cevent_from_forwarded(&a, xml_child(st, "forwarded", NS_FORWARD),
                                           "example.com", NULL, 1000, &why), -ENOENT);
    xml_unref(st);
}

/* ---- msgkey.c, tapclass.c: one message once, and only messages ---- */

static void tap_copy(const char *dir, const char *session, const char *msg_attrs,
                     const char *payload, const char *time, struct cevent *ev)
{
    char xml[2048];
    const char *why = NULL;
    snprintf(xml, sizeof xml,
             "<tap xmlns='urn:confab:compliance:0' id='" UUID1 "' direction='%s' time='%s' "
             "session='%s'><forwarded xmlns='urn:xmpp:forward:0'><message "
             "xmlns='jabber:client' %s>%s</message></forwarded></tap>",
             dir, time, session, msg_attrs, payload);
    assert_int_equal(parse_event(xml, ev, &why), 0);
}

static void test_msgkey_shared_by_copies(void **state)
{
    (void)state;
    struct cevent in, out, out2, other, noid1, noid2, noid3;
    tap_copy("in", "alice@example.com/laptop", "to='bob@example.com' type='chat' id='x1'",
             "<body>hi bob</body>", "2024-05-01T10:00:00.100Z", &in);
    tap_copy("out", "bob@example.com/phone",
             "from='alice@example.com/laptop' to='bob@example.com' type='chat' id='x1'",
             "<body>hi bob</body>", "2024-05-01T10:00:00.130Z", &out);
    tap_copy("out", "bob@example.com/desk",
             "from='alice@example.com/laptop' to='bob@example.com' type='chat' id='x1'",
             "<body>hi bob</body>", "2024-05-01T10:09:00Z", &out2);
    assert_int_equal(strlen(in.msg_key), 64);
    assert_string_equal(in.msg_key, out.msg_key);   /* in and out: one message */
    assert_string_equal(in.msg_key, out2.msg_key);  /* each resource's copy, any time */
    /* The same id with another text is another message: nothing hides behind a key. */
    tap_copy("in", "alice@example.com/laptop", "to='bob@example.com' type='chat' id='x1'",
             "<body>something else</body>", "2024-05-01T10:00:00.100Z", &other);
    assert_string_not_equal(in.msg_key, other.msg_key);
    /* Without an id: the 10-second window of the copy's time. */
    tap_copy("in", "alice@example.com/laptop", "to='bob@example.com' type='chat'",
             "<body>ok</body>", "2024-05-01T10:00:01Z", &noid1);
    tap_copy("out", "bob@example.com/phone", "from='alice@example.com/laptop' type='chat'",
             "<body>ok</body>", "2024-05-01T10:00:01.050Z", &noid2);
    tap_copy("in", "alice@example.com/laptop", "to='bob@example.com' type='chat'",
             "<body>ok</body>", "2024-05-01T10:05:00Z", &noid3);
    assert_string_equal(noid1.msg_key, noid2.msg_key);
    assert_string_not_equal(noid1.msg_key, noid3.msg_key); /* said again later: twice */
    assert_string_not_equal(noid1.msg_key, in.msg_key);
    struct cevent *all[] = { &in, &out, &out2, &other, &noid1, &noid2, &noid3 };
    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        cevent_clear(all[i]);
}

static void test_room_events_have_no_key(void **state)
{
    (void)state;
    struct cevent ev;
    const char *why = NULL;
    assert_int_equal(parse_event(GC_EVENT, &ev, &why), 0);
    assert_string_equal(ev.msg_key, "");
    cevent_clear(&ev);
}

struct class_case {
    const char *msg;      /* the message's attributes and payload */
    const char *from, *to;
    bool signals;
    enum tapclass want;
};

static void test_tapclass(void **state)
{
    (void)state;
    static const char *const rooms[] = { "conference.example.com" };
    static const struct class_case cases[] = {
        { "type='chat'><body>hi</body>", "a@x/1", "b@x", false, TAPCLASS_CHAT },
        /* a bodiless message with content of its own (a reaction) is still said */
        { "type='chat'><reactions xmlns='urn:xmpp:reactions:0' id='m1'><reaction>+1"
          "</reaction></reactions>", "a@x/1", "b@x", false, TAPCLASS_CHAT },
        /* chat states, receipts, markers: per the switch */
        { "type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/>"
          "<no-store xmlns='urn:xmpp:hints'/>", "a@x/1", "b@x", false, TAPCLASS_SKIP },
        { "type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/>",
          "a@x/1", "b@x", true, TAPCLASS_SIGNAL },
        { "><received xmlns='urn:xmpp:receipts' id='m1'/>", "a@x/1", "b@x", false,
          TAPCLASS_SKIP },
        { "><displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/><thread>t</thread>",
          "a@x/1", "b@x", true, TAPCLASS_SIGNAL },
        /* a chat state with a body, or with text inside it, is a message */
        { "type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/><body>hi"
          "</body>", "a@x/1", "b@x", false, TAPCLASS_CHAT },
        { "type='chat'><active xmlns='http://jabber.org/protocol/chatstates'>psst</active>",
          "a@x/1", "b@x", false, TAPCLASS_CHAT },
        /* errors: a bounce says nothing; one that carries text was delivered text */
        { "type='error'><error type='cancel'><service-unavailable "
          "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>", "b@x", "a@x/1", false,
          TAPCLASS_SKIP },
        { "type='error'><body>secret</body><error type='cancel'/>", "a@x/1", "b@x/2",
          false, TAPCLASS_ERROR },
        /* replays from the user's own account */
        { "><result xmlns='urn:xmpp:mam:2' id='r1'><forwarded xmlns='urn:xmpp:forward:0'/>"
          "</result>", "a@x", "a@x/1", false, TAPCLASS_SKIP },
        { "><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'/></sent>",
          "a@x", "a@x/2", false, TAPCLASS_SKIP },
        /* ... but not from someone else: a fake replay is a message to record */
        { "><result xmlns='urn:xmpp:mam:2' id='r1'><forwarded xmlns='urn:xmpp:forward:0'/>"
          "</result>", "b@x/1", "a@x/1", false, TAPCLASS_CHAT },
        /* what confab's rooms relay is confabd's to record */
        { "type='chat'><body>pm</body>", "a@x/1", "room@conference.example.com/bob", false,
          TAPCLASS_SKIP },
        { "type='chat'><body>pm</body>", "room@conference.example.com/al", "b@x/1", false,
          TAPCLASS_SKIP },
        { "><result xmlns='urn:xmpp:mam:2'/>", "room@conference.example.com", "b@x/1", false,
          TAPCLASS_SKIP },
        /* another MUC service (not confab's) is a user-to-service message */
        { "type='chat'><body>pm</body>", "a@x/1", "room@muc.other.org/bob", false,
          TAPCLASS_CHAT },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const struct class_case *c = &cases[i];
        char xml[1024];
        snprintf(xml, sizeof xml, "<message xmlns='jabber:client' %s</message>", c->msg);
        struct xml_node *st = unit_parse(xml);
        struct tapclass_policy p = { .record_signals = c->signals, .room_services = rooms,
                                     .nroom_services = 1 };
        enum tapclass got = tapclass_of(st, c->from, c->to, &p);
        if (got != c->want)
            fail_msg("case %zu (%s): class %d, expected %d", i, c->msg, got, c->want);
        xml_unref(st);
    }
    assert_string_equal(tapclass_event_type(TAPCLASS_ERROR), "error");
    assert_null(tapclass_event_type(TAPCLASS_SKIP));
}

/* A copy the policy does not record is answered result and not stored. */
static void test_skipped_copy_is_acknowledged(void **state)
{
    (void)state;
    struct cevent ev;
    const char *why = NULL;
    assert_int_equal(parse_event("<tap xmlns='urn:confab:compliance:0' id='" UUID1 "' "
                                 "direction='out' time='2024-05-01T10:00:00Z' "
                                 "session='bob@example.com/phone'>"
                                 "<forwarded xmlns='urn:xmpp:forward:0'>"
                                 "<message xmlns='jabber:client' from='alice@example.com/l' "
                                 "type='chat'><gone xmlns='http://jabber.org/protocol/chatstates'"
                                 "/></message></forwarded></tap>", &ev, &why), -ENOENT);
    assert_non_null(why);
}

static void test_uuid_valid(void **state)
{
    assert_true(cevent_uuid_valid(UUID1));
    assert_true(cevent_uuid_valid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
    assert_false(cevent_uuid_valid(NULL));
    assert_false(cevent_uuid_valid(""));
    assert_false(cevent_uuid_valid("0f8fad5bd9cb469fa16570867728950e"));
    assert_false(cevent_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950"));
    assert_false(cevent_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950g"));
    assert_false(cevent_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e0"));
}

/* ---- archiver.c around a fake store ---- */

struct sent {
    struct xml_node *st[16];
    int n;
};

static void capture(void *ud, const struct xml_node *st)
{
    struct sent *s = ud;
    assert_true(s->n < 16);
    s->st[s->n++] = xml_copy(st);
}

static void sent_clear(struct sent *s)
{
    for (int i = 0; i < s->n; i++)
        xml_unref(s->st[i]);
    s->n = 0;
}

struct fake_store {
    int refuse;                 /* put returns this when < 0 */
    int n;
    archiver_stored_fn *done[8];
    void *ud[8];
    char uuid[8][CEVENT_UUID_LEN + 1];
    char type[8][16];
};

static int fake_put(void *store, const struct cevent *ev, archiver_stored_fn *done, void *ud)
{
    struct fake_store *f = store;
    if (f->refuse)
        return f->refuse;
    assert_true(f->n < 8);
    f->done[f->n] = done;
    f->ud[f->n] = ud;
    strcpy(f->uuid[f->n], ev->uuid);
    snprintf(f->type[f->n], sizeof f->type[f->n], "%s", ev->type);
    f->n++;
    return 0;
}

static struct archiver *new_archiver(struct sent *s, struct fake_store *f)
{
    struct archiver *a = archiver_new(ARCH, capture, s);
    struct archiver_store ops = { .put = fake_put, .store = f };
    archiver_set_store(a, &ops);
    return a;
}

static void handle(struct archiver *a, const char *xml)
{
    struct xml_node *st = unit_parse(xml);
    archiver_handle(a, st);
    xml_unref(st);
}

static void handle_event(struct archiver *a, const char *event)
{
    char *iq = event_iq(event);
    handle(a, iq);
    free(iq);
}

static void assert_error(const struct xml_node *st, const char *cond, const char *type)
{
    assert_string_equal(stanza_type(st), "error");
    const struct xml_node *err = xml_child(st, "error", NULL);
    assert_non_null(err);
    assert_string_equal(xml_attr(err, "type"), type);
    assert_string_equal(stanza_error_condition(err, NS_STANZAS), cond);
}

static void test_result_only_after_commit(void **state)
{
    struct sent s = { 0 };
    struct fake_store f = { 0 };
    struct archiver *a = new_archiver(&s, &f);
    handle_event(a, GC_EVENT);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.uuid[0], UUID1);
    assert_int_equal(s.n, 0);                  /* nothing until the commit */
    assert_int_equal(archiver_outstanding(a), 1);
    f.done[0](f.ud[0], 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(stanza_type(s.st[0]), "result");
    assert_string_equal(stanza_id(s.st[0]), "q1");
    assert_string_equal(stanza_to(s.st[0]), MUCD);
    assert_string_equal(stanza_from(s.st[0]), ARCH);
    assert_int_equal(archiver_outstanding(a), 0);
    sent_clear(&s);
    archiver_free(a);
}

static void test_store_verdicts(void **state)
{
    struct sent s = { 0 };
    struct fake_store f = { 0 };
    struct archiver *a = new_archiver(&s, &f);
    handle_event(a, GC_EVENT);
    handle_event(a, GC_EVENT);
    handle_event(a, GC_EVENT);
    assert_int_equal(f.n, 3);
    f.done[0](f.ud[0], -EAGAIN);
    assert_error(s.st[0], "resource-constraint", "wait");
    f.done[1](f.ud[1], -EINVAL);
    assert_error(s.st[1], "bad-request", "modify");
    f.done[2](f.ud[2], -ECANCELED);
    assert_int_equal(s.n, 2);                  /* stopping: nobody is answered */
    assert_int_equal(archiver_outstanding(a), 0);
    sent_clear(&s);
    /* The store refuses at once (database down). */
    f.refuse = -EAGAIN;
    handle_event(a, GC_EVENT);
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "resource-constraint", "wait");
    assert_int_equal(archiver_outstanding(a), 0);
    sent_clear(&s);
    archiver_free(a);
    /* No store at all yet (migrations running). */
    a = archiver_new(ARCH, capture, &s);
    handle_event(a, GC_EVENT);
    assert_error(s.st[0], "resource-constraint", "wait");
    sent_clear(&s);
    archiver_free(a);
}

static void test_bounded_queue(void **state)
{
    struct sent s = { 0 };
    struct fake_store f = { 0 };
    struct archiver *a = new_archiver(&s, &f);
    archiver_set_max_queue(a, 2);
    handle_event(a, GC_EVENT);
    handle_event(a, GC_EVENT);
    handle_event(a, GC_EVENT);
    assert_int_equal(f.n, 2);
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "resource-constraint", "wait");
    f.done[0](f.ud[0], 0);
    handle_event(a, GC_EVENT);                 /* room again */
    assert_int_equal(f.n, 3);
    f.done[1](f.ud[1], 0);
    f.done[2](f.ud[2], 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(archiver_outstanding(a), 0);
    sent_clear(&s);
    archiver_free(a);
}

static void test_malformed_and_forbidden(void **state)
{
    struct sent s = { 0 };
    struct fake_store f = { 0 };
    struct archiver *a = new_archiver(&s, &f);
    handle_event(a, "<event xmlns='urn:confab:compliance:0' id='x' type='join'/>");
    assert_int_equal(f.n, 0);
    assert_error(s.st[0], "bad-request", "modify");
    sent_clear(&s);
    /* A user cannot write to the archive. */
    handle(a, "<iq type='set' id='u' from='mallory@example.com/x' to='" ARCH "'>" GC_EVENT
              "</iq>");
    assert_int_equal(f.n, 0);
    assert_error(s.st[0], "forbidden", "auth");
    sent_clear(&s);
    /* Nor a domain outside the list, once there is one. */
    archiver_set_senders(a, "example.com, " MUCD);
    handle(a, "<iq type='set' id='u' from='evil.example' to='" ARCH "'>" GC_EVENT "</iq>");
    assert_error(s.st[0], "forbidden", "auth");
    sent_clear(&s);
    handle_event(a, GC_EVENT);
    assert_int_equal(f.n, 1);
    f.done[0](f.ud[0], 0);
    assert_string_equal(stanza_type(s.st[0]), "result");
    sent_clear(&s);
    /* Events are sets. */
    handle(a, "<iq type='get' id='g' from='" MUCD "' to='" ARCH "'>" GC_EVENT "</iq>");
    assert_error(s.st[0], "bad-request", "modify");
    sent_clear(&s);
    archiver_free(a);
}

static void test_copies_in_messages(void **state)
{
    struct sent s = { 0 };
    struct fake_store f = { 0 };
    struct archiver *a = new_archiver(&s, &f);
    handle(a, "<message from='example.com' to='" ARCH "'><tap xmlns='urn:confab:compliance:0'"
              " id='" UUID2 "' direction='out' time='2024-05-01T10:00:00Z' session='b@c/d'>"
              "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
              "from='a@c/e' to='b@c/d'><body>x</body></message></forwarded></tap></message>");
    handle(a, "<message from='example.com' to='" ARCH "' id='r'><forwarded "
              "xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='a@c/e' "
              "to='b@c'><body>y</body></message></forwarded></message>");
    handle(a, "<message from='example.com' to='" ARCH "' id='p'><forwarded "
              "xmlns='urn:xmpp:forward:0'><presence xmlns='jabber:client' from='a@c/e'/>"
              "</forwarded></message>");
    assert_int_equal(f.n, 2);
    assert_string_equal(f.uuid[0], UUID2);
    assert_string_equal(f.type[1], "chat");
    f.done[0](f.ud[0], 0);
    f.done[1](f.ud[1], -EAGAIN);
    assert_int_equal(s.n, 0);                  /* messages get no answers */
    /* From a user: ignored, not stored. */
    handle(a, "<message from='u@example.com/r' to='" ARCH "'><forwarded "
              "xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='a@c/e'/>"
              "</forwarded></message>");
    assert_int_equal(f.n, 2);
    assert_int_equal(s.n, 0);
    /* Any other message to the domain: the usual service-unavailable. */
    handle(a, "<message from='u@example.com/r' to='" ARCH "'><body>hi</body></message>");
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "service-unavailable", "cancel");
    sent_clear(&s);
    archiver_free(a);
}

static void test_disco_feature(void **state)
{
    struct sent s = { 0 };
    struct archiver *a = archiver_new(ARCH, capture, &s);
    handle(a, "<iq type='get' id='d' from='u@example.com/r' to='" ARCH "'>"
              "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    struct xml_node *q = xml_child(s.st[0], "query", NULL);
    bool found = false;
    for (struct xml_node *c = xml_first(q); c; c = xml_next(c))
        if (strcmp(c->name, "feature") == 0 && strcmp(xml_attr(c, "var"), NS_COMPLIANCE) == 0)
            found = true;
    assert_true(found);
    sent_clear(&s);
    archiver_free(a);
}

/* ---- migrations ---- */

static void test_statement_split(void **state)
{
    assert_int_equal(migrate_statement_len("SELECT 1;\nSELECT 2;\n"), 9);
    assert_int_equal(migrate_statement_len("SELECT 1"), 8);
    const char *f = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n"
                    "  RETURN 1;\nEND\n$$;\nSELECT 2;\n";
    assert_int_equal(migrate_statement_len(f), strstr(f, "$$;\n") - f + 3);
    const char *t = "DO $body$ BEGIN PERFORM 1;\nPERFORM '$$';\nEND $body$;\nX;\n";
    assert_int_equal(migrate_statement_len(t), strstr(t, "$body$;\n") - t + 7);
    /* $1 is a parameter, not a quote. */
    assert_int_equal(migrate_statement_len("SELECT $1;\nX;\n"), 10);
}

static void test_compliance_migrations(void **state)
{
    assert_true(compliance_migrations_count >= 4);
    assert_int_equal(migrate_latest(compliance_migrations, compliance_migrations_count),
                     compliance_migrations[compliance_migrations_count - 1].version);
    size_t statements = 0;
    for (size_t i = 0; i < compliance_migrations_count; i++) {
        assert_int_equal(compliance_migrations[i].version, (int)i + 1);
        const char *p = compliance_migrations[i].sql;
        while (*p) {
            size_t len = migrate_statement_len(p);
            /* Each statement holds whole dollar-quoted bodies. */
            size_t quotes = 0;
            for (size_t k = 0; k + 1 < len; k++)
                if (p[k] == '$' && p[k + 1] == '$')
                    quotes++, k++;
            assert_int_equal(quotes % 2, 0);
            statements++;
            p += len;
            if (*p == '\n')
                p++;
        }
        /* Every migration records itself. */
        char mark[64];
        snprintf(mark, sizeof mark, "VALUES (%d, '%s')", compliance_migrations[i].version,
                 compliance_migrations[i].name);
        assert_non_null(strstr(compliance_migrations[i].sql, mark));
    }
    assert_true(statements > 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groupchat_event),
        cmocka_unit_test(test_uppercase_uuid_is_normalised),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_admin_events),
        cmocka_unit_test(test_event_errors),
        cmocka_unit_test(test_tap),
        cmocka_unit_test(test_forwarded_copy),
        cmocka_unit_test(test_msgkey_shared_by_copies),
        cmocka_unit_test(test_room_events_have_no_key),
        cmocka_unit_test(test_tapclass),
        cmocka_unit_test(test_skipped_copy_is_acknowledged),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test(test_result_only_after_commit),
        cmocka_unit_test(test_store_verdicts),
        cmocka_unit_test(test_bounded_queue),
        cmocka_unit_test(test_malformed_and_forbidden),
        cmocka_unit_test(test_copies_in_messages),
        cmocka_unit_test(test_disco_feature),
        cmocka_unit_test(test_statement_split),
        cmocka_unit_test(test_compliance_migrations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
