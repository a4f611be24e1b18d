/* Ethical walls (wall.c) and the service policy (policy.c, svcpolicy.c): the
 * pure rules first (deny wins, domains, groups, everyone, admins, unknown
 * categories), then the engine's entry points with the memory store. */
#include "muc_harness.h"

#include "policy.h"
#include "wall.h"

#define ROOM "desk@" DOMAIN
#define OWNER_BARE "crone@shakespeare.example"
#define ALICE_BARE "wicca@shakespeare.example"
#define TRADER_BARE "bob@bank.example"
#define ANALYST_BARE "ana@bank.example"
#define GUEST_BARE "guest@other.example"
#define STRANGER_BARE "eve@other.example"

static struct fx_opts opts = { .compliance = true };

/* Rows as the store returns them. */
#define CAT(i, n) { .id = (i), .name = (char *)(n), .invitations = true, .history = true, \
                    .default_privacy = (char *)"open", .default_type = (char *)"normal" }
#define PRI(c, l, k, p) { .category_id = (c), .list = (char *)(l), .kind = (char *)(k), \
                          .principal = (char *)(p) }

/* default: everyone; traders: bank.example and one guest allowed, the
 * analysts group (ana) and wicca denied; creators: bob. */
static struct store_category cats[] = { CAT(1, "default"), CAT(2, "traders") };
static struct store_principal pris[] = {
    PRI(1, "allowed", "everyone", ""),         PRI(2, "allowed", "domain", "bank.example"),
    PRI(2, "allowed", "jid", GUEST_BARE),       PRI(2, "denied", "group", "analysts"),
    PRI(2, "creator", "jid", TRADER_BARE),      PRI(2, "allowed", "jid", ALICE_BARE),
    PRI(2, "denied", "jid", ALICE_BARE),
};
static struct store_member members[] = { { .group = (char *)"analysts",
                                           .jid = (char *)ANALYST_BARE } };

static void load(struct store_principal *p, size_t np)
{
    struct store_service rec = { .cats = cats, .ncats = 2, .principals = p, .nprincipals = np,
                                 .members = members, .nmembers = 1 };
    wall_load(fx.m, &rec);
}

static void test_rules(void **state)
{
    load(pris, sizeof pris / sizeof *pris);
    struct muc *m = fx.m;
    assert_false(wall_denies(m, 1, STRANGER_BARE));   /* default: everyone */
    assert_false(wall_denies(m, 2, TRADER_BARE));     /* allowed by domain */
    assert_true(wall_denies(m, 2, ANALYST_BARE));     /* domain allows, group denies: deny wins */
    assert_false(wall_denies(m, 2, GUEST_BARE));      /* allowed by JID */
    assert_true(wall_denies(m, 2, STRANGER_BARE));    /* in no allowed list */
    assert_true(wall_denies(m, 2, ALICE_BARE));       /* allowed and denied by JID */
    assert_false(wall_denies(m, 2, "bank.example"));  /* a domain JID is in its own domain */
    assert_true(wall_denies(m, 99, TRADER_BARE));     /* a category not loaded: shut */
    /* Service administrators are never walled off. */
    muc_set_admins(m, ANALYST_BARE);
    assert_false(wall_denies(m, 2, ANALYST_BARE));
    assert_false(wall_denies(m, 99, ANALYST_BARE));
    muc_set_admins(m, NULL);
    assert_true(wall_denies(m, 2, ANALYST_BARE));
}

static void test_creators(void **state)
{
    load(pris, sizeof pris / sizeof *pris);
    struct muc *m = fx.m;
    assert_true(wall_may_create(m, 1, STRANGER_BARE));  /* default names no creator */
    assert_true(wall_may_create(m, 2, TRADER_BARE));
    assert_false(wall_may_create(m, 2, GUEST_BARE));    /* allowed in, not a creator */
    assert_false(wall_may_create(m, 2, ANALYST_BARE));
    assert_true(wall_is_creator(m, 2, TRADER_BARE));
    assert_false(wall_is_creator(m, 1, TRADER_BARE));
    /* Everyone denied in default: nobody but admins creates rooms there. */
    struct store_principal shut[] = { PRI(1, "allowed", "everyone", ""),
                                      PRI(1, "denied", "everyone", "") };
    load(shut, 2);
    assert_true(wall_denies(m, 1, OWNER_BARE));
    assert_false(wall_may_create(m, 1, OWNER_BARE));
}

static void test_policy_keys(void **state)
{
    struct muc_policy p = { 0 };
    char *why = NULL;
    assert_int_equal(policy_set(&p, "create_persistent", "creators", &why), 0);
    assert_int_equal(p.create_persistent, POLICY_CREATE_CREATORS);
    assert_int_equal(policy_set(&p, "create_persistent", "everybody", &why), -EINVAL);
    assert_non_null(strstr(why, "everybody"));
    free(why);
    assert_int_equal(policy_set(&p, "owners_may_change", "moderated, name", &why), 0);
    char *v = policy_get(&p, "owners_may_change");
    assert_string_equal(v, "name,moderated");
    free(v);
    assert_int_equal(policy_set(&p, "owners_may_change", "all", &why), 0);
    assert_int_equal(p.owners_may_change, POLICY_ALL_SETTINGS);
    assert_int_equal(policy_set(&p, "owners_may_change", "none", &why), 0);
    assert_int_equal(p.owners_may_change, 0);
    assert_int_equal(policy_set(&p, "owners_may_change", "colour", &why), -EINVAL);
    free(why);
    assert_int_equal(policy_set(&p, "max_rooms", "-1", &why), -EINVAL);
    free(why);
    assert_int_equal(policy_set(&p, "max_rooms", "12", &why), 0);
    assert_int_equal(p.max_rooms, 12);
    assert_int_equal(policy_set(&p, "nonsense", "1", &why), -EINVAL);
    free(why);
    assert_null(policy_get(&p, "nonsense"));
    assert_string_equal(policy_key(0), "create_persistent");
}

/* The <text/> of an error reply. */
static const char *error_text(const struct xml_node *st)
{
    struct xml_node *e = xml_child(st, "error", NULL);
    struct xml_node *t = e ? xml_child(e, "text", "urn:ietf:params:xml:ns:xmpp-stanzas") : NULL;
    return t ? fx_keep(fx_text(t)) : "";
}

static bool has_code(const struct xml_node *st, const char *code)
{
    struct xml_node *x = xml_child(st, "x", NS_MUC_USER);
    for (struct xml_node *c = x ? xml_first(x) : NULL; c; c = xml_next(c))
        if (strcmp(c->name, "status") == 0 && str_eq(xml_attr(c, "code"), code))
            return true;
    return false;
}

/* The room is moved into traders by its owner (a creator there). */
static void traders_room(void)
{
    load(pris, sizeof pris / sizeof *pris);
    fx_room(ROOM, TRADER_BARE "/desk",
            "<field var='" ROOMCONFIG_CATEGORY "'><value>traders</value></field>");
    assert_int_equal(room_find(fx.m, ROOM)->category_id, 2);
}

/* Moving a room is a configuration change (§10.2.1's 104); a category the
 * owner does not create rooms in is refused, naming the field. */
static void test_category_field(void **state)
{
    load(pris, sizeof pris / sizeof *pris);
    fx_room(ROOM, TRADER_BARE "/desk", NULL);
    fx_in("<iq type='set' id='c' from='" TRADER_BARE "/desk' to='" ROOM "'>"
          "<query xmlns='" NS_MUC_OWNER "'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='" ROOMCONFIG_CATEGORY "'><value>traders</value></field></x></query></iq>");
    fx_result("c");
    struct xml_node *n = fx_one("message", "groupchat", TRADER_BARE "/desk", ROOM);
    assert_true(has_code(n, "104"));
    fx_room("other@" DOMAIN, OWNER_BARE "/o", NULL);
    fx_in("<iq type='set' id='d' from='" OWNER_BARE "/o' to='other@" DOMAIN "'>"
          "<query xmlns='" NS_MUC_OWNER "'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='" ROOMCONFIG_CATEGORY "'><value>traders</value></field></x></query></iq>");
    fx_error("d", "not-acceptable", NULL, NULL);
    assert_non_null(strstr(error_text(fx_reply("d")), "may not create rooms in that category"));
    fx_in("<iq type='set' id='e' from='" OWNER_BARE "/o' to='other@" DOMAIN "'>"
          "<query xmlns='" NS_MUC_OWNER "'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='" ROOMCONFIG_CATEGORY "'><value>nowhere</value></field></x></query></iq>");
    fx_error("e", "not-acceptable", NULL, NULL);
    assert_int_equal(room_find(fx.m, "other@" DOMAIN)->category_id, 1);
}

/* A walled-off user finds nothing: join, disco#info, MAM, registration,
 * messages all answer item-not-found, as for a room that does not exist. */
static void test_walled_sees_nothing(void **state)
{
    traders_room();
    fx_in("<presence from='" ANALYST_BARE "/a' to='" ROOM "/ana'><x xmlns='" NS_MUC "'/></presence>");
    fx_expect_error("presence", ANALYST_BARE "/a", NULL, "item-not-found", NULL);
    fx_clear();
    fx_in("<iq type='get' id='i1' from='" ANALYST_BARE "/a' to='" ROOM "'>"
          "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    fx_error("i1", "item-not-found", NULL, NULL);
    fx_in("<iq type='set' id='i2' from='" ANALYST_BARE "/a' to='" ROOM "'>"
          "<query xmlns='urn:xmpp:mam:2'/></iq>");
    fx_error("i2", "item-not-found", NULL, NULL);
    fx_in("<iq type='get' id='i3' from='" ANALYST_BARE "/a' to='" ROOM "'>"
          "<query xmlns='jabber:iq:register'/></iq>");
    fx_error("i3", "item-not-found", NULL, NULL);
    fx_clear();
    fx_in("<message type='chat' from='" ANALYST_BARE "/a' to='" ROOM "/desk'><body>hi</body></message>");
    fx_expect_error("message", ANALYST_BARE "/a", NULL, "item-not-found", NULL);
    /* The same answers for a room that is not there. */
    fx_clear();
    fx_in("<iq type='get' id='i4' from='" ANALYST_BARE "/a' to='nowhere@" DOMAIN "'>"
          "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    fx_error("i4", "item-not-found", NULL, NULL);
    /* An allowed user gets in. */
    fx_clear();
    fx_in("<presence from='" GUEST_BARE "/g' to='" ROOM "/guest'><x xmlns='" NS_MUC "'/></presence>");
    assert_true(fx_find("presence", AVAIL, GUEST_BARE "/g", ROOM "/guest") >= 0);
}

/* Owners cannot invite or make members of the walled-off; admins pass walls. */
static void test_grants_and_invites(void **state)
{
    traders_room();
    fx_in("<iq type='set' id='a1' from='" TRADER_BARE "/desk' to='" ROOM "'>"
          "<query xmlns='" NS_MUC_ADMIN "'><item affiliation='member' jid='" ANALYST_BARE "'/>"
          "</query></iq>");
    fx_error("a1", "not-acceptable", NULL, NULL);
    assert_non_null(strstr(error_text(fx_reply("a1")), "ethical wall"));
    assert_int_equal(room_affiliation(room_find(fx.m, ROOM), ANALYST_BARE), AFFIL_NONE);
    fx_clear();
    fx_in("<message from='" TRADER_BARE "/desk' to='" ROOM "'><x xmlns='" NS_MUC_USER "'>"
          "<invite to='" ANALYST_BARE "'/></x></message>");
    fx_expect_error("message", TRADER_BARE "/desk", NULL, "not-acceptable", NULL);
    assert_int_equal(fx_count("message", NULL, ANALYST_BARE, NULL), 0);
    /* A service administrator is never walled: joins and may be made member. */
    muc_set_admins(fx.m, ANALYST_BARE);
    fx_clear();
    fx_in("<presence from='" ANALYST_BARE "/a' to='" ROOM "/ana'><x xmlns='" NS_MUC "'/></presence>");
    assert_true(fx_find("presence", AVAIL, ANALYST_BARE "/a", ROOM "/ana") >= 0);
}

/* The wall goes up while she is inside: 307 + 321 with the reason, her
 * membership revoked, a wall event for each. */
static void test_sweep(void **state)
{
    struct store_principal open[] = { PRI(1, "allowed", "everyone", ""),
                                      PRI(2, "allowed", "everyone", ""),
                                      PRI(2, "creator", "jid", TRADER_BARE) };
    load(open, 3);
    fx_room(ROOM, TRADER_BARE "/desk",
            "<field var='" ROOMCONFIG_CATEGORY "'><value>traders</value></field>");
    fx_in("<iq type='set' id='a1' from='" TRADER_BARE "/desk' to='" ROOM "'>"
          "<query xmlns='" NS_MUC_ADMIN "'><item affiliation='member' jid='" ANALYST_BARE "'/>"
          "</query></iq>");
    fx_result("a1");
    fx_in("<presence from='" ANALYST_BARE "/a' to='" ROOM "/ana'><x xmlns='" NS_MUC "'/></presence>");
    fx_clear();
    fx_clear_events();
    load(pris, sizeof pris / sizeof *pris);
    wall_sweep_all(fx.m);
    struct xml_node *p = fx_one("presence", "unavailable", ANALYST_BARE "/a", ROOM "/ana");
    assert_true(has_code(p, "307"));
    assert_true(has_code(p, "321"));
    struct xml_node *x = xml_child(p, "x", NS_MUC_USER);
    struct xml_node *item = xml_child(x, "item", NS_MUC_USER);
    fx_assert_text(xml_child(item, "reason", NS_MUC_USER),
                   "Removed by an ethical wall of category traders");
    assert_string_equal(xml_attr(item, "affiliation"), "none");
    /* Those still inside see her go. */
    assert_true(fx_find("presence", "unavailable", TRADER_BARE "/desk", ROOM "/ana") >= 0);
    struct room *room = room_find(fx.m, ROOM);
    assert_null(occupant_by_nick(room, "ana"));
    assert_int_equal(room_affiliation(room, ANALYST_BARE), AFFIL_NONE);
    struct fx_event *e[4];
    assert_int_equal(fx_events_of("wall", e, 4), 2);  /* removed, revoked */
    assert_non_null(strstr(e[0]->xml, "removed"));
    assert_non_null(strstr(e[1]->xml, "revoked"));
}

/* Owners may not change what the policy locks: the field is not in their
 * form, and a submission that changes it is refused with text. */
static void test_policy_locks(void **state)
{
    fx_room(ROOM, OWNER_BARE "/desk", NULL);
    fx.m->lim.policy.owners_may_change = POLICY_ALL_SETTINGS & ~(1u << SETTING_MODERATED);
    svcpolicy_refresh(fx.m);
    fx_in("<iq type='get' id='g' from='" OWNER_BARE "/desk' to='" ROOM "'>"
          "<query xmlns='" NS_MUC_OWNER "'/></iq>");
    char *form = xml_to_string(fx_result("g"), NS_COMPONENT);
    fx_keep(form);
    assert_null(strstr(form, "muc#roomconfig_moderatedroom"));
    assert_non_null(strstr(form, "muc#roomconfig_roomname"));
    fx_in("<iq type='set' id='s' from='" OWNER_BARE "/desk' to='" ROOM "'>"
          "<query xmlns='" NS_MUC_OWNER "'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='muc#roomconfig_moderatedroom'><value>1</value></field></x></query></iq>");
    fx_error("s", "forbidden", NULL, NULL);
    assert_non_null(strstr(error_text(fx_reply("s")), "moderated"));
    assert_false(room_find(fx.m, ROOM)->cfg.moderated);
    /* Unchanged, the same field passes. */
    fx_in("<iq type='set' id='s2' from='" OWNER_BARE "/desk' to='" ROOM "'>"
          "<query xmlns='" NS_MUC_OWNER "'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='muc#roomconfig_moderatedroom'><value>0</value></field></x></query></iq>");
    fx_result("s2");
    /* A service administrator is not bound by it. */
    muc_set_admins(fx.m, "hecate@shakespeare.example");
    fx_in("<iq type='set' id='s3' from='hecate@shakespeare.example/b' to='" ROOM "'>"
          "<query xmlns='" NS_MUC_OWNER "'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='muc#roomconfig_moderatedroom'><value>1</value></field></x></query></iq>");
    fx_result("s3");
    assert_true(room_find(fx.m, ROOM)->cfg.moderated);
}

/* create_persistent = creators: a non-creator cannot make a room persistent. */
static void test_policy_persistent(void **state)
{
    load(pris, sizeof pris / sizeof *pris);
    fx.m->lim.policy.create_persistent = POLICY_CREATE_CREATORS;
    svcpolicy_refresh(fx.m);
    fx_room(ROOM, OWNER_BARE "/desk", NULL);
    fx_in("<iq type='set' id='p' from='" OWNER_BARE "/desk' to='" ROOM "'>"
          "<query xmlns='" NS_MUC_OWNER "'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>");
    fx_error("p", "not-allowed", NULL, NULL);
    assert_false(room_find(fx.m, ROOM)->cfg.persistent);
    /* bob creates traders rooms: he may, there. */
    fx_room("pit@" DOMAIN, TRADER_BARE "/desk",
            "<field var='" ROOMCONFIG_CATEGORY "'><value>traders</value></field>"
            "<field var='muc#roomconfig_persistentroom'><value>1</value></field>");
    assert_true(room_find(fx.m, "pit@" DOMAIN)->cfg.persistent);
}

/* A category's defaults shape a new room; invitations = no refuses them. */
static void test_category_settings(void **state)
{
    struct store_category c1 = CAT(1, "default");
    c1.default_privacy = (char *)"secret";
    c1.default_type = (char *)"auditorium";
    c1.default_max_occupants = 42;
    c1.invitations = false;
    c1.history = false;
    struct store_principal p[] = { PRI(1, "allowed", "everyone", "") };
    struct store_service rec = { .cats = &c1, .ncats = 1, .principals = p, .nprincipals = 1 };
    wall_load(fx.m, &rec);
    fx_room(ROOM, OWNER_BARE "/desk", NULL);
    struct room *room = room_find(fx.m, ROOM);
    assert_false(room->cfg.public_list);
    assert_true(room->cfg.members_only);
    assert_true(room->cfg.moderated);
    assert_false(room->cfg.presence_broadcast & ROLE_BIT(ROLE_VISITOR));
    assert_int_equal(room->cfg.max_users, 42);
    fx_in("<message from='" OWNER_BARE "/desk' to='" ROOM "'><x xmlns='" NS_MUC_USER "'>"
          "<invite to='" ALICE_BARE "'/></x></message>");
    fx_expect_error("message", OWNER_BARE "/desk", NULL, "not-allowed", NULL);
    fx_in("<iq type='set' id='m' from='" OWNER_BARE "/desk' to='" ROOM "'>"
          "<query xmlns='urn:xmpp:mam:2'/></iq>");
    fx_error("m", "service-unavailable", NULL, NULL);
}

/* A user walled off from default cannot create a room there (where every new
 * room starts); an administrator can. */
static void test_walled_creation(void **state)
{
    struct store_principal p[] = { PRI(1, "allowed", "everyone", ""),
                                   PRI(1, "denied", "jid", ANALYST_BARE) };
    load(p, 2);
    fx_in("<presence from='" ANALYST_BARE "/a' to='new@" DOMAIN "/ana'><x xmlns='" NS_MUC "'/>"
          "</presence>");
    struct xml_node *e = fx_expect_error("presence", ANALYST_BARE "/a", NULL, "not-allowed", NULL);
    assert_non_null(strstr(error_text(e), "category default"));
    assert_null(room_find(fx.m, "new@" DOMAIN));
    muc_set_admins(fx.m, ANALYST_BARE);
    fx_clear();
    fx_in("<presence from='" ANALYST_BARE "/a' to='new@" DOMAIN "/ana'><x xmlns='" NS_MUC "'/>"
          "</presence>");
    assert_non_null(room_find(fx.m, "new@" DOMAIN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_rules, &opts),
        FX_TEST(test_creators, &opts),
        FX_TEST(test_policy_keys, &opts),
        FX_TEST(test_walled_sees_nothing, &opts),
        FX_TEST(test_grants_and_invites, &opts),
        FX_TEST(test_sweep, &opts),
        FX_TEST(test_policy_locks, &opts),
        FX_TEST(test_policy_persistent, &opts),
        FX_TEST(test_category_settings, &opts),
        FX_TEST(test_walled_creation, &opts),
        FX_TEST(test_category_field, &opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
