/* What the room relays for others (issue 13, findings 5–9): forged payloads
 * in groupchat, private messages and presence (an allowlist, payload.c);
 * declines only for pending invitations; IQs between occupants under allowpm
 * and recorded; limits on rooms per user and presence size; disco#info of a
 * members-only room to non-members. */
#include "muc_harness.h"

#include "compliance.h"

#define ROOM "coven@" DOMAIN
#define BOB "hag66@shakespeare.example/pda"
#define EVE "eve@evil.example/x"
#define F(var, val) "<field var='muc#roomconfig_" var "'><value>" val "</value></field>"

/* ---- compliance events, captured by type ---- */

static struct fx_opts opts = { .compliance = true };

/* ---- helpers ---- */

static void join(const char *who, const char *nick)
{
    fx_in("<presence from='%s' to='" ROOM "/%s'><x xmlns='" NS_MUC "'/></presence>", who, nick);
}

/* The owner's room (fields as for fx_room) with alice in it, and nothing
 * sent yet that a test would have to skip. */
static void room_with_alice(const char *fields)
{
    fx_room(ROOM, OWNER, fields);
    join(ALICE, "alice");
    fx_clear();
}

static bool has(const struct xml_node *st, const char *name, const char *ns)
{
    return xml_child(st, name, ns) != NULL;
}

/* The error condition of the one stanza sent back to who. */
static void expect_error(const char *name, const char *who, const char *cond)
{
    fx_assert_stanza_error(fx_one(name, NULL, who, NULL), cond, NULL);
}

/* Forgeries a security review relayed through the room, and payloads of no
 * known use (dropped because nobody listed them). */
#define FORGED                                                                               \
    "<x xmlns='jabber:x:delay' stamp='20010101T00:00:00'/>"                                  \
    "<addresses xmlns='http://jabber.org/protocol/address'><address type='ofrom' "          \
    "jid='ceo@shakespeare.example'/></addresses>"                                            \
    "<result xmlns='urn:xmpp:mam:2' id='x'/>"                                                \
    "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "                  \
    "from='ceo@shakespeare.example'><body>wire the money</body></message></forwarded>"      \
    "<stanza-id xmlns='urn:xmpp:sid:0' id='fake' by='" ROOM "'/>"                           \
    "<hats xmlns='urn:xmpp:hats:0'><hat title='Admin' uri='urn:x'/></hats>"                 \
    "<whatever xmlns='urn:example:unknown'/>"

/* What real clients send, which must still arrive. */
#define GENUINE                                                                              \
    "<body>hi</body><thread>t1</thread>"                                                     \
    "<active xmlns='http://jabber.org/protocol/chatstates'/>"                                \
    "<store xmlns='urn:xmpp:hints'/>"                                                        \
    "<origin-id xmlns='urn:xmpp:sid:0' id='o1'/>"                                            \
    "<reply xmlns='urn:xmpp:reply:0' to='" ROOM "/owner' id='m0'/>"                         \
    "<x xmlns='jabber:x:oob'><url>https://example.org/a.png</url></x>"                      \
    "<markable xmlns='urn:xmpp:chat-markers:0'/>"                                            \
    "<encryption xmlns='urn:xmpp:eme:0' namespace='urn:xmpp:omemo:2'/>"

/* None of FORGED's elements (but its stanza-id, which has a genuine twin) got through. */
static void expect_no_forgery(const struct xml_node *st)
{
    static const char *const forged[][2] = {
        { "x", "jabber:x:delay" },         { "addresses", "http://jabber.org/protocol/address" },
        { "result", "urn:xmpp:mam:2" },    { "forwarded", "urn:xmpp:forward:0" },
        { "hats", "urn:xmpp:hats:0" },     { "whatever", "urn:example:unknown" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(forged); i++)
        if (has(st, forged[i][0], forged[i][1]))
            fail_msg("forged <%s xmlns='%s'/> relayed", forged[i][0], forged[i][1]);
}

static void expect_clean_message(const struct xml_node *m)
{
    expect_no_forgery(m);
    for (const struct xml_node *c = xml_first(m); c; c = xml_next(c))
        if (strcmp(c->name, "stanza-id") == 0)
            assert_string_not_equal(xml_attr(c, "id"), "fake");
    assert_true(has(m, "body", m->ns));
    assert_true(has(m, "thread", m->ns));
    assert_true(has(m, "active", "http://jabber.org/protocol/chatstates"));
    assert_true(has(m, "store", NS_HINTS));
    assert_true(has(m, "origin-id", NS_SID));
    assert_true(has(m, "reply", "urn:xmpp:reply:0"));
    assert_true(has(m, "x", "jabber:x:oob"));
    assert_true(has(m, "markable", "urn:xmpp:chat-markers:0"));
    assert_true(has(m, "encryption", "urn:xmpp:eme:0"));
}

/* ---- finding 5: forged payloads ---- */

/* alice sends FORGED and GENUINE in a message of type to `to`; the owner
 * gets it with the genuine payloads only. */
static void forged_message_arrives_clean(const char *to, const char *type, const char *id)
{
    room_with_alice(NULL);
    fx_in("<message from='" ALICE "' to='%s' type='%s' id='%s'>" FORGED GENUINE "</message>", to,
          type, id);
    expect_clean_message(fx_one("message", NULL, OWNER, ROOM "/alice"));
}

static void test_groupchat_relays_only_the_allowlist(void **state)
{
    (void)state;
    forged_message_arrives_clean(ROOM, "groupchat", "g1");
    /* The room's own stanza-id is the only one. */
    struct xml_node *m = fx_one("message", NULL, ALICE, ROOM "/alice");
    assert_int_equal(fx_children(m, "stanza-id", NS_SID), 1);
}

static void test_private_message_relays_only_the_allowlist(void **state)
{
    (void)state;
    forged_message_arrives_clean(ROOM "/owner", "chat", "p1");
}

static void test_presence_relays_only_the_allowlist(void **state)
{
    (void)state;
    room_with_alice(NULL);
    fx_in("<presence from='" ALICE "' to='" ROOM "/alice'><show>away</show><status>brb</status>"
          "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/>"
          "<x xmlns='vcard-temp:x:update'><photo/></x>"
          "<idle xmlns='urn:xmpp:idle:1' since='2020-01-01T00:00:00Z'/>" FORGED "</presence>");
    struct xml_node *p = fx_one("presence", NULL, OWNER, ROOM "/alice");
    assert_false(has(p, "stanza-id", NS_SID));
    expect_no_forgery(p);
    assert_true(has(p, "show", p->ns));
    assert_true(has(p, "status", p->ns));
    assert_true(has(p, "c", "http://jabber.org/protocol/caps"));
    assert_true(has(p, "x", "vcard-temp:x:update"));
    assert_true(has(p, "idle", "urn:xmpp:idle:1"));
    assert_true(has(p, "occupant-id", NS_OCCUPANT_ID));
}

/* ---- finding 6: declines ---- */

static void test_decline_without_invitation_not_relayed(void **state)
{
    (void)state;
    fx_room(ROOM, OWNER, NULL);
    for (int i = 0; i < 60; i++)
        fx_in("<message from='" EVE "' to='" ROOM "'><x xmlns='" NS_MUC_USER "'>"
              "<decline to='victim%d@shakespeare.example'><reason>click here</reason></decline>"
              "</x></message>",
              i);
    for (size_t i = 0; i < fx.n; i++)
        assert_string_equal(xml_attr(fx.out[i].st, "to"), EVE);
    assert_int_equal(fx.n, 60);
    /* Refused as unasked for, and past the room's burst as too fast. */
    struct xml_node *first = stanza_child(fx.out[0].st, "error");
    assert_string_equal(stanza_error_condition(first, NS_STANZAS), "forbidden");
    struct xml_node *last = stanza_child(fx.out[59].st, "error");
    assert_string_equal(stanza_error_condition(last, NS_STANZAS), "resource-constraint");
}

static void test_decline_answers_pending_invitation_once(void **state)
{
    (void)state;
    fx_room(ROOM, OWNER, NULL);
    fx_in("<message from='" OWNER "' to='" ROOM "' id='i1'><x xmlns='" NS_MUC_USER "'>"
          "<invite to='hag66@shakespeare.example'/></x></message>");
    assert_non_null(fx_event("invite")->xml);
    fx_clear();
    /* 'to' names someone else: the decline still goes to who invited. */
    fx_in("<message from='" BOB "' to='" ROOM "'><x xmlns='" NS_MUC_USER "'>"
          "<decline to='victim@shakespeare.example'><reason>busy</reason></decline></x></message>");
    struct xml_node *m = fx_one("message", NULL, OWNER, ROOM);
    assert_non_null(xml_child(xml_child(m, "x", NS_MUC_USER), "decline", NS_MUC_USER));
    assert_int_equal(fx_count(NULL, NULL, "victim@shakespeare.example", NULL), 0);
    const char *ev = fx_event("decline")->xml;
    assert_non_null(strstr(ev, "jid='" BOB "'"));
    assert_non_null(strstr(ev, "<target jid='" OWNER "'"));
    fx_clear();
    /* One invitation, one answer. */
    fx_in("<message from='" BOB "' to='" ROOM "'><x xmlns='" NS_MUC_USER "'>"
          "<decline to='" OWNER "'/></x></message>");
    expect_error("message", BOB, "forbidden");
    assert_int_equal(fx_count(NULL, NULL, OWNER, NULL), 0);
}

static void test_invitation_expires(void **state)
{
    (void)state;
    fx_room(ROOM, OWNER, NULL);
    fx_in("<message from='" OWNER "' to='" ROOM "' id='i1'><x xmlns='" NS_MUC_USER "'>"
          "<invite to='hag66@shakespeare.example'/></x></message>");
    fx.now += INT64_C(25) * 3600 * 1000;
    fx_clear();
    fx_in("<message from='" BOB "' to='" ROOM "'><x xmlns='" NS_MUC_USER "'>"
          "<decline to='" OWNER "'/></x></message>");
    expect_error("message", BOB, "forbidden");
}

static void test_invitations_rate_limited(void **state)
{
    (void)state;
    fx_room(ROOM, OWNER, NULL);
    for (int i = 0; i < 60; i++)
        fx_in("<message from='" OWNER "' to='" ROOM "' id='i%d'><x xmlns='" NS_MUC_USER "'>"
              "<invite to='u%d@shakespeare.example'/></x></message>",
              i, i);
    int delivered = 0;
    for (int i = 0; i < 60; i++) {
        char to[64];
        snprintf(to, sizeof to, "u%d@shakespeare.example", i);
        delivered += fx_count(NULL, NULL, to, NULL);
    }
    assert_int_equal(delivered, (int)fx.m->lim.msg_burst);
}

/* ---- finding 7: IQs between occupants ---- */

static void test_iq_to_occupant_obeys_allowpm_and_is_recorded(void **state)
{
    (void)state;
    room_with_alice(F("allowpm", "none"));
    fx_in("<iq from='" ALICE "' to='" ROOM "/owner' type='set' id='x1'>"
          "<payload xmlns='urn:example:exfiltrate'>secret</payload></iq>");
    fx_error("x1", "forbidden", NULL, NULL);
    assert_int_equal(fx_count(NULL, NULL, OWNER, NULL), 0);
    assert_int_equal(fx_events_of("iq", NULL, 0), 0);
    fx_clear();
    /* What clients ask to show an occupant passes, and is recorded. */
    fx_in("<iq from='" ALICE "' to='" ROOM "/owner' type='get' id='v1'>"
          "<vCard xmlns='vcard-temp'/></iq>");
    struct xml_node *q = fx_one("iq", NULL, OWNER, ROOM "/alice");
    assert_non_null(xml_child(q, "vCard", "vcard-temp"));
    const char *ev = fx_event("iq")->xml;
    assert_non_null(strstr(ev, "vcard-temp"));
    /* The answer travels back, recorded too. */
    char *id = xstrdup(stanza_id(q));
    fx_clear();
    fx_in("<iq from='" OWNER "' to='" ROOM "/alice' type='result' id='%s'>"
          "<vCard xmlns='vcard-temp'><FN>Crone</FN></vCard></iq>",
          id);
    free(id);
    fx_one("iq", NULL, ALICE, ROOM "/owner");
    assert_int_equal(fx_events_of("iq", NULL, 0), 2);
}

static void test_iq_to_occupant_allowed_by_allowpm(void **state)
{
    (void)state;
    room_with_alice(NULL);
    fx_in("<iq from='" ALICE "' to='" ROOM "/owner' type='set' id='x1'>"
          "<payload xmlns='urn:example:app'>hello</payload></iq>");
    fx_one("iq", NULL, OWNER, ROOM "/alice");
    assert_int_equal(fx_events_of("iq", NULL, 0), 1);
}

/* ---- finding 8: limits ---- */

static void test_rooms_per_user_default_cap(void **state)
{
    (void)state;
    assert_int_equal(fx.m->lim.max_rooms_per_user, 100);
    for (int i = 0; i < 101; i++)
        fx_in("<presence from='" ALICE "' to='r%d@" DOMAIN "/alice'/>", i);
    struct xml_node *e = fx_one("presence", NULL, ALICE, "r100@" DOMAIN "/alice");
    assert_string_equal(xml_attr(e, "type"), "error");
    struct xml_node *err = stanza_child(e, "error");
    assert_string_equal(stanza_error_condition(err, NS_STANZAS), "policy-violation");
    fx_assert_text(xml_child(err, "text", NS_STANZAS),
                   "you have created as many rooms as this service allows "
                   "(max_rooms_per_user = 100)");
}

static char *big_status(size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, 'A', n);
    s[n] = '\0';
    return s;
}

static void test_presence_size_capped(void **state)
{
    (void)state;
    assert_int_equal(fx.m->lim.max_presence_bytes, 8192);
    room_with_alice(NULL);
    char *status = big_status(200 * 1024);
    fx_in("<presence from='" ALICE "' to='" ROOM "/alice'><status>%s</status></presence>",
          status);
    assert_int_equal(fx_count(NULL, NULL, OWNER, NULL), 0);
    expect_error("presence", ALICE, "policy-violation");
    struct xml_node *err = stanza_child(fx_one("presence", NULL, ALICE, NULL), "error");
    char *text = fx_text(xml_child(err, "text", NS_STANZAS));
    assert_non_null(strstr(text, "max_presence_size = 8192 bytes"));
    free(text);
    /* Joining with it is refused too; leaving never is, only without it. */
    fx_clear();
    fx_in("<presence from='" BOB "' to='" ROOM "/bob'><status>%s</status></presence>", status);
    assert_int_equal(fx_count(NULL, NULL, OWNER, NULL), 0);
    fx_clear();
    fx_in("<presence from='" ALICE "' to='" ROOM "/alice' type='unavailable'>"
          "<status>%s</status></presence>",
          status);
    struct xml_node *p = fx_one("presence", NULL, OWNER, ROOM "/alice");
    assert_string_equal(xml_attr(p, "type"), "unavailable");
    assert_null(stanza_child(p, "status"));
    free(status);
}

/* ---- finding 9: disco#info of a members-only room ---- */

static bool roominfo_has(const struct xml_node *res, const char *var)
{
    const struct xml_node *q = xml_child(res, "query", NS_DISCO_INFO);
    for (const struct xml_node *x = xml_first(q); x; x = xml_next(x))
        if (strcmp(x->name, "x") == 0)
            for (const struct xml_node *f = xml_first(x); f; f = xml_next(f))
                if (xml_attr(f, "var") && strcmp(xml_attr(f, "var"), var) == 0)
                    return true;
    return false;
}

static void test_disco_members_only_hides_company_from_outsiders(void **state)
{
    (void)state;
    fx_room(ROOM, OWNER,
            F("membersonly", "1") F("publicroom", "0") F("whois", "moderators"));
    fx_in("<iq from='" EVE "' to='" ROOM "' type='get' id='d1'>"
          "<query xmlns='" NS_DISCO_INFO "'/></iq>");
    struct xml_node *res = fx_result("d1");
    assert_false(roominfo_has(res, "muc#roominfo_occupants"));
    assert_false(roominfo_has(res, "muc#roominfo_contactjid"));
    assert_true(roominfo_has(res, "muc#roominfo_description"));
    fx_in("<iq from='" OWNER "' to='" ROOM "' type='get' id='d2'>"
          "<query xmlns='" NS_DISCO_INFO "'/></iq>");
    res = fx_result("d2");
    assert_true(roominfo_has(res, "muc#roominfo_occupants"));
    assert_true(roominfo_has(res, "muc#roominfo_contactjid"));
}

#define T(f) FX_TEST(f, &opts)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_groupchat_relays_only_the_allowlist),
        T(test_private_message_relays_only_the_allowlist),
        T(test_presence_relays_only_the_allowlist),
        T(test_decline_without_invitation_not_relayed),
        T(test_decline_answers_pending_invitation_once),
        T(test_invitation_expires),
        T(test_invitations_rate_limited),
        T(test_iq_to_occupant_obeys_allowpm_and_is_recorded),
        T(test_iq_to_occupant_allowed_by_allowpm),
        T(test_rooms_per_user_default_cap),
        T(test_presence_size_capped),
        T(test_disco_members_only_hides_company_from_outsiders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
