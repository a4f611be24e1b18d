/* test_moderate.c — XEP-0425 moderation and XEP-0424 self-retraction: the
 * announcement, the tombstone in join history and in MAM, who may, the
 * compliance event. */
#include "muc_harness.h"

#define ROOM "coven@" DOMAIN
#define OCC(nick) ROOM "/" nick
#define BOB "hag@shakespeare.example/pda"
#define HECATE "hecate@shakespeare.example/broom"
#define O_NICK "firstwitch"
#define A_NICK "secondwitch"
#define B_NICK "thirdwitch"
#define NS_MOD1 "urn:xmpp:message-moderate:1"
#define NS_MOD0 "urn:xmpp:message-moderate:0"
#define NS_RETRACT1 "urn:xmpp:message-retract:1"
#define NS_RETRACT0 "urn:xmpp:message-retract:0"
#define NS_MAM "urn:xmpp:mam:2"
#define FV(var, val) "<field var='muc#roomconfig_" var "'><value>" val "</value></field>"

static const unsigned char key[32] = { 4, 2, 4, 2 };
static struct fx_opts opts = { .key = key, .fast = true, .compliance = true };

static void join(const char *full, const char *nick)
{
    fx_in("<presence from='%s' to='" ROOM "/%s'><x xmlns='" NS_MUC "'/></presence>", full, nick);
}

/* Owner (a moderator) creates a logged room; alice and bob join. */
static void std_room(void)
{
    join(OWNER, O_NICK);
    fx_in("<iq type='set' id='cfg' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
          NS_MUC_ROOMCONFIG "</value></field>" FV("enablelogging", "1")
          FV("historylength", "20") "</x></query></iq>");
    fx_result("cfg");
    join(ALICE, A_NICK);
    join(BOB, B_NICK);
    fx_clear();
}

/* from says body; returns the stanza-id the room gave it. */
static const char *say(const char *from, const char *nick, const char *body)
{
    fx_clear();
    fx_in("<message type='groupchat' id='s' from='%s' to='" ROOM "'><body>%s</body></message>",
          from, body);
    char occ[128];
    snprintf(occ, sizeof occ, ROOM "/%s", nick);
    struct xml_node *m = fx_one("message", "groupchat", OWNER, fx_keep(xstrdup(occ)));
    struct xml_node *sid = xml_child(m, "stanza-id", NS_SID);
    assert_non_null(sid);
    const char *id = fx_keep(xstrdup(xml_attr(sid, "id")));
    fx_clear();
    return id;
}

static void moderate(const char *from, const char *id, const char *sid, const char *reason)
{
    fx_in("<iq type='set' id='%s' from='%s' to='" ROOM "'><moderate id='%s' xmlns='" NS_MOD1
          "'><retract xmlns='" NS_RETRACT1 "'/><reason>%s</reason></moderate></iq>",
          id, from, sid, reason);
}

/* The message a new joiner gets in history for the only message said. */
static struct xml_node *history_for_newcomer(void)
{
    fx_clear();
    join(HECATE, "hecate");
    int i = fx_find("message", "groupchat", HECATE, OCC(B_NICK));
    assert_true(i >= 0);
    return fx_at(i);
}

static void test_moderator_retracts_for_everyone(void **state)
{
    std_room();
    const char *sid = say(BOB, B_NICK, "DM me for free magic potions!");
    moderate(OWNER, "mod1", sid, "spam");
    fx_result("mod1");
    const char *who[] = { OWNER, ALICE, BOB };
    for (size_t i = 0; i < ARRAY_SIZE(who); i++) {
        struct xml_node *a = fx_one("message", "groupchat", who[i], ROOM);
        struct xml_node *rt = xml_child(a, "retract", NS_RETRACT1);
        assert_non_null(rt);
        assert_string_equal(xml_attr(rt, "id"), sid);
        struct xml_node *md = xml_child(rt, "moderated", NS_MOD1);
        assert_string_equal(xml_attr(md, "by"), OCC(O_NICK));
        assert_non_null(xml_child(md, "occupant-id", NS_OCCUPANT_ID));
        fx_assert_text(xml_child(rt, "reason", NS_RETRACT1), "spam");
        struct xml_node *at = xml_child(a, "apply-to", "urn:xmpp:fasten:0");
        assert_string_equal(xml_attr(at, "id"), sid);
        assert_non_null(xml_child(xml_child(at, "moderated", NS_MOD0), "retract", NS_RETRACT0));
    }
    /* The compliance archive learns who took what down, and why. */
    struct fx_event *ev = fx_event("moderate");
    assert_non_null(ev);
    assert_non_null(strstr(ev->xml, sid));
    assert_non_null(strstr(ev->xml, "text-sha256="));
    assert_non_null(strstr(ev->xml, OWNER));
    assert_non_null(strstr(ev->xml, ">spam<"));

    /* Join history now holds the tombstone: envelope kept, text gone. */
    struct xml_node *h = history_for_newcomer();
    assert_null(stanza_child(h, "body"));
    struct xml_node *rd = xml_child(h, "retracted", NS_RETRACT1);
    assert_non_null(rd);
    assert_non_null(xml_attr(rd, "stamp"));
    assert_string_equal(xml_attr(xml_child(rd, "moderated", NS_MOD1), "by"), OCC(O_NICK));
    assert_string_equal(xml_attr(xml_child(h, "stanza-id", NS_SID), "id"), sid);
    assert_non_null(xml_child(h, "occupant-id", NS_OCCUPANT_ID));

    /* And so does the archive (XEP-0313). */
    fx_clear();
    fx_in("<iq type='set' id='q' from='" ALICE "' to='" ROOM "'><query xmlns='" NS_MAM
          "' queryid='x'/></iq>");
    fx_result("q");
    int i = fx_find("message", NULL, ALICE, ROOM);
    assert_true(i >= 0);
    struct xml_node *res = xml_child(fx_at(i), "result", NS_MAM);
    struct xml_node *fwd = xml_child(xml_child(res, "forwarded", "urn:xmpp:forward:0"),
                                     "message", NS_CLIENT);
    assert_non_null(fwd);
    assert_null(xml_child(fwd, "body", NS_CLIENT));
    assert_non_null(xml_child(fwd, "retracted", NS_RETRACT1));

    /* Twice is refused: it is already a tombstone. */
    fx_clear();
    moderate(OWNER, "mod2", sid, "again");
    fx_error("mod2", "item-not-found", NULL, NULL);
}

static void test_only_moderators_and_known_ids(void **state)
{
    std_room();
    const char *sid = say(BOB, B_NICK, "hello");
    moderate(ALICE, "m1", sid, "I do not like it");
    fx_error("m1", "forbidden", NULL, NULL);
    fx_expect_count(0, "message", "groupchat", NULL, ROOM);
    fx_clear();
    moderate(OWNER, "m2", "00000000000000000000000000000000", "nothing");
    fx_error("m2", "item-not-found", NULL, NULL);
    fx_clear();
    moderate(OWNER, "m3", "not-a-stanza-id", "nothing");
    fx_error("m3", "item-not-found", NULL, NULL);
    fx_clear();
    fx_in("<iq type='set' id='m4' from='" OWNER "' to='" ROOM "'><moderate id='%s' xmlns='"
          NS_MOD1 "'/></iq>", sid);
    fx_error("m4", "bad-request", NULL, NULL);
    /* the message is still there for newcomers */
    assert_non_null(stanza_child(history_for_newcomer(), "body"));
}

/* Clients that know only the :0 namespace send <apply-to/> (XEP-0422). */
static void test_legacy_namespace(void **state)
{
    std_room();
    const char *sid = say(BOB, B_NICK, "old client spam");
    fx_in("<iq type='set' id='old' from='" OWNER "' to='" ROOM "'><apply-to id='%s' xmlns="
          "'urn:xmpp:fasten:0'><moderate xmlns='" NS_MOD0 "'><retract xmlns='" NS_RETRACT0
          "'/><reason>old</reason></moderate></apply-to></iq>", sid);
    fx_result("old");
    fx_expect_count(3, "message", "groupchat", NULL, ROOM);
    struct xml_node *h = history_for_newcomer();
    assert_null(stanza_child(h, "body"));
    assert_non_null(xml_child(xml_child(h, "moderated", NS_MOD0), "retracted", NS_RETRACT0));
}

/* XEP-0424: the author retracts its own message (a tombstone, no moderator);
 * someone else's retraction passes through and changes nothing. */
static void test_self_retraction(void **state)
{
    std_room();
    const char *sid = say(BOB, B_NICK, "oops, wrong room");
    fx_in("<message type='groupchat' id='r1' from='" ALICE "' to='" ROOM "'><retract id='%s' "
          "xmlns='" NS_RETRACT1 "'/><body>retracted</body></message>", sid);
    assert_non_null(stanza_child(history_for_newcomer(), "body"));
    fx_clear();
    fx_in("<presence type='unavailable' from='" HECATE "' to='" OCC("hecate") "'/>");
    fx_in("<message type='groupchat' id='r2' from='" BOB "' to='" ROOM "'><retract id='%s' "
          "xmlns='" NS_RETRACT1 "'/><body>retracted</body></message>", sid);
    /* the retraction itself reaches the room like any message */
    fx_expect_count(3, "message", "groupchat", NULL, OCC(B_NICK));
    struct xml_node *h = history_for_newcomer();
    assert_null(stanza_child(h, "body"));
    struct xml_node *rd = xml_child(h, "retracted", NS_RETRACT1);
    assert_non_null(rd);
    assert_null(xml_child(rd, "moderated", NS_MOD1));
    assert_non_null(fx_event("moderate"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_moderator_retracts_for_everyone, &opts),
        FX_TEST(test_only_moderators_and_known_ids, &opts),
        FX_TEST(test_legacy_namespace, &opts),
        FX_TEST(test_self_retraction, &opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
