/* Issue 16: Lync's room privacy and type in the room form and disco (roomkind.c), Auditorium
 * rooms, [muc] presence_limit, hidden service admins and the moderators' occupant list (crowd.c). */
#include "muc_harness.h"

#include "form.h"

#define ROOM "hall@" DOMAIN
#define BOB "bob@shakespeare.example/pda"
#define NS_RSM_ "http://jabber.org/protocol/rsm"
#define PRIV(v) "<field var='{urn:confab:roomconfig}privacy'><value>" v "</value></field>"
#define TYPE(v) "<field var='{urn:confab:roomconfig}type'><value>" v "</value></field>"
#define F(var, val) "<field var='muc#roomconfig_" var "'><value>" val "</value></field>"

static void join(const char *who, const char *nick)
{
    fx_in("<presence from='%s' to='" ROOM "/%s'><x xmlns='" NS_MUC "'/></presence>", who, nick);
}

/* The value of field var in form x ("" when it has none). */
static const char *value_of(const struct xml_node *x, const char *var)
{
    for (struct xml_node *f = xml_first(x); f; f = xml_next(f))
        if (strcmp(f->name, "field") == 0 && xml_attr(f, "var") &&
            strcmp(xml_attr(f, "var"), var) == 0) {
            const struct xml_node *v = xml_child(f, "value", NS_DATA_FORMS);
            return v ? fx_keep(xml_text(v)) : "";
        }
    fail_msg("no field %s", var);
    return NULL;
}

static struct xml_node *config_form(const char *id)
{
    fx_in("<iq type='get' id='%s' from='" OWNER "' to='" ROOM "'>"
          "<query xmlns='" NS_MUC_OWNER "'/></iq>", id);
    return xml_child(xml_child(fx_result(id), "query", NS_MUC_OWNER), "x", NS_DATA_FORMS);
}

static void submit(const char *id, const char *fields)
{
    fx_in("<iq type='set' id='%s' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
          NS_MUC_ROOMCONFIG "</value></field>%s</x></query></iq>", id, fields);
    fx_result(id);
}

static struct xml_node *roominfo(const char *id, const char *from)
{
    fx_in("<iq type='get' id='%s' from='%s' to='" ROOM "'>"
          "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>", id, from);
    return xml_child(xml_child(fx_result(id), "query", NS_DISCO_INFO), "x", NS_DATA_FORMS);
}

/* The form offers privacy and type; each maps onto the XEP-0045 fields, and
 * whichever of the two kinds of field changed decides. */
static void test_privacy_and_type_in_form_and_disco(void **state)
{
    fx_room(ROOM, OWNER, PRIV("closed") TYPE("auditorium"));
    struct xml_node *x = config_form("g1");
    assert_string_equal(value_of(x, "{urn:confab:roomconfig}privacy"), "closed");
    assert_string_equal(value_of(x, "{urn:confab:roomconfig}type"), "auditorium");
    assert_string_equal(value_of(x, "muc#roomconfig_publicroom"), "1");
    assert_string_equal(value_of(x, "muc#roomconfig_membersonly"), "1");
    assert_string_equal(value_of(x, "muc#roomconfig_moderatedroom"), "1");
    /* The whole form back with membersonly switched off: Open. */
    submit("s1", PRIV("closed") TYPE("auditorium") F("publicroom", "1") F("membersonly", "0"));
    assert_string_equal(value_of(config_form("g2"), "{urn:confab:roomconfig}privacy"), "open");
    /* Privacy changed, the old flags sent along: privacy wins. */
    submit("s2", PRIV("secret") TYPE("normal") F("publicroom", "1") F("membersonly", "0"));
    x = config_form("g3");
    assert_string_equal(value_of(x, "muc#roomconfig_publicroom"), "0");
    assert_string_equal(value_of(x, "muc#roomconfig_membersonly"), "1");
    assert_string_equal(value_of(x, "muc#roomconfig_moderatedroom"), "0");
    struct xml_node *info = roominfo("i1", OWNER);
    assert_string_equal(value_of(info, "{urn:confab:roomconfig}privacy"), "secret");
    assert_string_equal(value_of(info, "{urn:confab:roomconfig}type"), "normal");
}

static void test_bad_privacy_refused(void **state)
{
    fx_room(ROOM, OWNER, NULL);
    fx_in("<iq type='set' id='b1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'><x xmlns='jabber:x:data' type='submit'>" PRIV("hush") "</x></query></iq>");
    fx_error("b1", "not-acceptable", NULL, NULL);
}

/* Auditorium: the audience (visitors) cannot post and nobody sees them come;
 * they see the presenters and themselves. */
static void test_auditorium(void **state)
{
    fx_room(ROOM, OWNER, TYPE("auditorium"));
    join(ALICE, "alice");
    assert_int_equal(fx_count("presence", AVAIL, OWNER, ROOM "/alice"), 0);
    assert_int_equal(fx_count("presence", AVAIL, ALICE, ROOM "/alice"), 1);
    assert_int_equal(fx_count("presence", AVAIL, ALICE, ROOM "/owner"), 1);
    fx_clear();
    fx_in("<message type='groupchat' id='m1' from='" ALICE "' to='" ROOM "'><body>hi</body>"
          "</message>");
    fx_expect_error("message", ALICE, NULL, "forbidden", NULL);
    assert_int_equal(fx_count("message", "groupchat", OWNER, NULL), 0);
    fx_clear();
    fx_in("<presence from='" ALICE "' to='" ROOM "/alice' type='unavailable'/>");
    assert_int_equal(fx_count("presence", "unavailable", OWNER, ROOM "/alice"), 0);
}

/* A presenter who loses voice joins the audience: the room sees it leave. */
static void test_auditorium_devoice(void **state)
{
    fx_room(ROOM, OWNER, TYPE("auditorium"));
    join(ALICE, "alice");
    fx_in("<iq type='set' id='v1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item nick='alice' role='participant'/></query></iq>");
    fx_result("v1");
    assert_int_equal(fx_count("presence", AVAIL, OWNER, ROOM "/alice"), 1);
    fx_clear();
    fx_in("<iq type='set' id='v2' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item nick='alice' role='visitor'/></query></iq>");
    fx_result("v2");
    assert_int_equal(fx_count("presence", "unavailable", OWNER, ROOM "/alice"), 1);
    assert_int_equal(fx_count("presence", AVAIL, OWNER, ROOM "/alice"), 0);
    struct xml_node *self = fx_one("presence", AVAIL, ALICE, ROOM "/alice");
    struct xml_node *item = xml_child(xml_child(self, "x", NS_MUC_USER), "item", NS_MUC_USER);
    assert_string_equal(xml_attr(item, "role"), "visitor");
}

static void set_limit(unsigned n)
{
    struct muc_limits l = fx.m->lim;
    l.presence_limit = n;
    muc_set_limits(fx.m, &l);
}

/* Above [muc] presence_limit a non-moderator's join, change and leave go to
 * moderators only; the newcomer still gets itself and the moderators. */
static void test_presence_limit(void **state)
{
    set_limit(2);
    fx_room(ROOM, OWNER, NULL);
    join(ALICE, "alice");            /* 2 occupants: everyone is told */
    assert_int_equal(fx_count("presence", AVAIL, OWNER, ROOM "/alice"), 1);
    fx_clear();
    join(BOB, "bob");                /* 3 > 2 */
    assert_int_equal(fx_count("presence", AVAIL, OWNER, ROOM "/bob"), 1);
    assert_int_equal(fx_count("presence", AVAIL, ALICE, ROOM "/bob"), 0);
    assert_int_equal(fx_count("presence", AVAIL, BOB, ROOM "/bob"), 1);
    assert_int_equal(fx_count("presence", AVAIL, BOB, ROOM "/owner"), 1);
    assert_int_equal(fx_count("presence", AVAIL, BOB, ROOM "/alice"), 0);
    fx_clear();
    fx_in("<presence from='" BOB "' to='" ROOM "/bob'><show>away</show></presence>");
    assert_int_equal(fx_count("presence", AVAIL, OWNER, ROOM "/bob"), 1);
    assert_int_equal(fx_count("presence", AVAIL, ALICE, ROOM "/bob"), 0);
    /* Moderators page through everyone; others get the empty list. */
    fx_clear();
    fx_in("<iq type='get' id='d1' from='" OWNER "' to='" ROOM "'><query xmlns='"
          NS_DISCO_ITEMS "'><set xmlns='" NS_RSM_ "'><max>2</max></set></query></iq>");
    struct xml_node *q = xml_child(fx_result("d1"), "query", NS_DISCO_ITEMS);
    assert_int_equal(fx_children(q, "item", NS_DISCO_ITEMS), 2);
    struct xml_node *set = xml_child(q, "set", NS_RSM_);
    fx_assert_text(xml_child(set, "count", NS_RSM_), "3");
    fx_assert_text(xml_child(set, "last", NS_RSM_), ROOM "/bob");
    fx_in("<iq type='get' id='d2' from='" OWNER "' to='" ROOM "'><query xmlns='"
          NS_DISCO_ITEMS "'><set xmlns='" NS_RSM_ "'><max>2</max><after>" ROOM "/bob</after>"
          "</set></query></iq>");
    q = xml_child(fx_result("d2"), "query", NS_DISCO_ITEMS);
    assert_int_equal(fx_children(q, "item", NS_DISCO_ITEMS), 1);
    fx_in("<iq type='get' id='d3' from='" ALICE "' to='" ROOM "'><query xmlns='"
          NS_DISCO_ITEMS "'/></iq>");
    q = xml_child(fx_result("d3"), "query", NS_DISCO_ITEMS);
    assert_int_equal(fx_children(q, "item", NS_DISCO_ITEMS), 0);
    fx_clear();
    fx_in("<presence from='" BOB "' to='" ROOM "/bob' type='unavailable'/>");
    assert_int_equal(fx_count("presence", "unavailable", OWNER, ROOM "/bob"), 1);
    assert_int_equal(fx_count("presence", "unavailable", ALICE, ROOM "/bob"), 0);
    assert_int_equal(fx_count("presence", "unavailable", BOB, ROOM "/bob"), 1);
}

/* presence_limit 0: no limit. */
static void test_presence_limit_off(void **state)
{
    set_limit(0);
    fx_room(ROOM, OWNER, NULL);
    join(ALICE, "alice");
    join(BOB, "bob");
    assert_int_equal(fx_count("presence", AVAIL, ALICE, ROOM "/bob"), 1);
}

/* [muc] hidden_admins: a service admin comes and goes unseen and is not
 * counted or listed; it sees the room as anyone does. */
static void test_hidden_admin(void **state)
{
    struct muc_limits l = fx.m->lim;
    l.hidden_admins = true;
    muc_set_limits(fx.m, &l);
    muc_set_admins(fx.m, "bob@shakespeare.example");
    fx_room(ROOM, OWNER, NULL);
    join(ALICE, "alice");
    fx_clear();
    join(BOB, "boss");
    assert_int_equal(fx_count("presence", AVAIL, OWNER, ROOM "/boss"), 0);
    assert_int_equal(fx_count("presence", AVAIL, ALICE, ROOM "/boss"), 0);
    assert_int_equal(fx_count("presence", AVAIL, BOB, ROOM "/boss"), 1);
    assert_int_equal(fx_count("presence", AVAIL, BOB, ROOM "/alice"), 1);
    assert_string_equal(value_of(roominfo("i1", OWNER), "muc#roominfo_occupants"), "2");
    fx_in("<iq type='get' id='d1' from='" OWNER "' to='" ROOM "'><query xmlns='"
          NS_DISCO_ITEMS "'/></iq>");
    struct xml_node *q = xml_child(fx_result("d1"), "query", NS_DISCO_ITEMS);
    assert_int_equal(fx_children(q, "item", NS_DISCO_ITEMS), 2);
    fx_clear();
    /* Not in the moderator list, not answered to a probe. */
    fx_in("<iq type='get' id='l1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item role='moderator'/></query></iq>");
    q = xml_child(fx_result("l1"), "query", NS_MUC_ADMIN);
    assert_int_equal(fx_children(q, "item", NS_MUC_ADMIN), 1);
    fx_in("<presence type='probe' from='" ALICE "' to='" ROOM "/boss'/>");
    assert_int_equal(fx_count("presence", NULL, ALICE, ROOM "/boss"), 0);
    fx_clear();
    fx_in("<presence from='" BOB "' to='" ROOM "/boss' type='unavailable'/>");
    assert_int_equal(fx_count("presence", "unavailable", OWNER, ROOM "/boss"), 0);
    assert_int_equal(fx_count("presence", "unavailable", BOB, ROOM "/boss"), 1);
}

/* A Secret room's vCard and avatar hash are for its members. */
static void test_secret_vcard(void **state)
{
    fx_room(ROOM, OWNER, PRIV("secret"));
    fx_in("<iq type='get' id='v1' from='" ALICE "' to='" ROOM "'><vCard xmlns='vcard-temp'/></iq>");
    fx_error("v1", "forbidden", NULL, NULL);
    fx_in("<iq type='get' id='v2' from='" OWNER "' to='" ROOM "'><vCard xmlns='vcard-temp'/></iq>");
    fx_result("v2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_privacy_and_type_in_form_and_disco),
        T(test_bad_privacy_refused),
        T(test_auditorium),
        T(test_auditorium_devoice),
        T(test_presence_limit),
        T(test_presence_limit_off),
        T(test_hidden_admin),
        T(test_secret_vcard),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
