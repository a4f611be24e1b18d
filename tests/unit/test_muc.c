/* XEP-0045 use cases driven through muc_handle() with a fake clock and every
 * outgoing stanza captured in order. One test per use case. Test names keep
 * the section numbers the project's checklist uses (an older numbering); the
 * comment above each test cites the section of the current XEP-0045 (and of
 * XEP-0359, -0410, -0421) that it checks. Assertions are on what the spec
 * requires: status codes, item attributes, addresses, error conditions and
 * types, and stanza order where the spec fixes one. Where a test checks a
 * MUST in several steps, the assertions the engine is most likely to get
 * wrong come last, so the rest of the use case is still exercised. */
#include "muc_harness.h"

#include "form.h"

#define ROOM "coven@" DOMAIN
#define OCC(nick) ROOM "/" nick

#define OWNER_BARE "crone@shakespeare.example"
#define ALICE_BARE "wicca@shakespeare.example"
#define ALICE2 "wicca@shakespeare.example/phone"
#define BOB "hag@shakespeare.example/pda"
#define BOB_BARE "hag@shakespeare.example"
#define EVE "eve@evil.example/lair"
#define EVE_BARE "eve@evil.example"
#define HECATE_BARE "hecate@shakespeare.example"
#define HECATE "hecate@shakespeare.example/broom"

#define O_NICK "firstwitch"
#define A_NICK "secondwitch"
#define B_NICK "thirdwitch"

#define FV(var, val) "<field var='muc#roomconfig_" var "'><value>" val "</value></field>"

static const unsigned char key[32] = { 7, 1, 2, 3, 4, 5, 6 };
static struct fx_opts opts = { .key = key };

/* The single <x xmlns='muc#user'/> (§7.2.2: never more than one). */
static struct xml_node *xuser(const struct xml_node *st)
{
    assert_int_equal(fx_children(st, "x", NS_MUC_USER), 1);
    return xml_child(st, "x", NS_MUC_USER);
}

static struct xml_node *uitem(const struct xml_node *st)
{
    struct xml_node *x = xuser(st);
    assert_int_equal(fx_children(x, "item", NS_MUC_USER), 1);
    return xml_child(x, "item", NS_MUC_USER);
}

static const char *iattr(const struct xml_node *st, const char *name)
{
    return xml_attr(uitem(st), name);
}

static bool has_code(const struct xml_node *st, int code)
{
    char v[8];
    snprintf(v, sizeof v, "%d", code);
    struct xml_node *x = xml_child(st, "x", NS_MUC_USER);
    for (struct xml_node *c = x ? xml_first(x) : NULL; c; c = xml_next(c))
        if (strcmp(c->name, "status") == 0 && str_eq(xml_attr(c, "code"), v))
            return true;
    return false;
}

static void assert_item(const struct xml_node *st, const char *affil, const char *role)
{
    assert_string_equal(iattr(st, "affiliation"), affil);
    assert_string_equal(iattr(st, "role"), role);
}

static const char *occ_id(const struct xml_node *st)
{
    if (fx_children(st, "occupant-id", NS_OCCUPANT_ID) != 1) {
        char *d = xml_to_string(st, NS_COMPONENT);
        fprintf(stderr, "not exactly one occupant-id in %s\n", d);
        free(d);
    }
    assert_int_equal(fx_children(st, "occupant-id", NS_OCCUPANT_ID), 1);
    const char *id = xml_attr(xml_child(st, "occupant-id", NS_OCCUPANT_ID), "id");
    assert_non_null(id);
    return id;
}

static bool serialised_contains(const struct xml_node *st, const char *needle)
{
    char *s = xml_to_string(st, NS_COMPONENT);
    bool yes = strstr(s, needle) != NULL;
    free(s);
    return yes;
}

/* ---- driving the room ---- */

static void send_join(const char *room, const char *full, const char *nick, const char *xbody)
{
    fx_in("<presence from='%s' to='%s/%s'><x xmlns='" NS_MUC "'>%s</x></presence>", full, room,
          nick, xbody ? xbody : "");
}

/* Index of the self-presence (110) to `to` from `occjid`, or -1. */
static int self_idx(const char *to, const char *occjid)
{
    for (int i = fx_find("presence", AVAIL, to, occjid); i >= 0;
         i = fx_find_from(i + 1, "presence", AVAIL, to, occjid))
        if (has_code(fx_at(i), 110))
            return i;
    return -1;
}

/* Join and check that it worked; returns the occupant-id. */
static const char *join_id(const char *room, const char *full, const char *nick, const char *xbody)
{
    fx_clear();
    send_join(room, full, nick, xbody);
    char occjid[256];
    snprintf(occjid, sizeof occjid, "%s/%s", room, nick);
    int i = self_idx(full, occjid);
    if (i < 0) {
        fprintf(stderr, "join of %s as %s failed:\n", full, occjid);
        fx_dump();
    }
    assert_true(i >= 0);
    const char *id = fx_keep(xstrdup(occ_id(fx_at(i))));
    fx_clear();
    return id;
}

static void join(const char *room, const char *full, const char *nick)
{
    join_id(room, full, nick, NULL);
}

static void iq_ok(const char *from, const char *id)
{
    int i = fx_find("iq", NULL, from, NULL);
    for (; i >= 0; i = fx_find_from(i + 1, "iq", NULL, from, NULL))
        if (str_eq(stanza_id(fx_at(i)), id))
            break;
    if (i < 0 || !str_eq(xml_attr(fx_at(i), "type"), "result")) {
        fprintf(stderr, "no iq result '%s' to %s:\n", id, from);
        fx_dump();
    }
    assert_true(i >= 0);
    assert_string_equal(xml_attr(fx_at(i), "type"), "result");
}

/* Index of the iq result with that id to `to`. */
static int result_idx(const char *to, const char *id)
{
    for (int i = fx_find("iq", "result", to, NULL); i >= 0;
         i = fx_find_from(i + 1, "iq", "result", to, NULL))
        if (str_eq(stanza_id(fx_at(i)), id))
            return i;
    return -1;
}

static void instant(const char *room, const char *owner)
{
    fx_clear();
    fx_in("<iq type='set' id='create1' from='%s' to='%s'><query xmlns='" NS_MUC_OWNER "'>"
          "<x xmlns='jabber:x:data' type='submit'/></query></iq>",
          owner, room);
    iq_ok(owner, "create1");
    fx_clear();
}

static void create_room(const char *room, const char *owner, const char *nick)
{
    join(room, owner, nick);
    instant(room, owner);
}

/* Submit a configuration form; the result is checked, the output kept. */
static void configure_room(const char *room, const char *owner, const char *fields)
{
    fx_clear();
    fx_in("<iq type='set' id='cfg' from='%s' to='%s'><query xmlns='" NS_MUC_OWNER "'>"
          "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
          NS_MUC_ROOMCONFIG "</value></field>%s</x></query></iq>",
          owner, room, fields);
    iq_ok(owner, "cfg");
}

static void configure(const char *fields)
{
    configure_room(ROOM, OWNER, fields);
}

static void admin_set(const char *from, const char *id, const char *items)
{
    fx_in("<iq type='set' id='%s' from='%s' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN "'>%s"
          "</query></iq>",
          id, from, items);
}

static void admin_get(const char *from, const char *id, const char *item)
{
    fx_in("<iq type='get' id='%s' from='%s' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN "'>%s"
          "</query></iq>",
          id, from, item);
}

/* Set an affiliation as the owner and check the result. */
static void affiliate(const char *bare, const char *affil)
{
    fx_clear();
    fx_in("<iq type='set' id='aff' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item affiliation='%s' jid='%s'/></query></iq>",
          affil, bare);
    iq_ok(OWNER, "aff");
    fx_clear();
}

static void groupchat(const char *from, const char *id, const char *body)
{
    fx_in("<message type='groupchat' id='%s' from='%s' to='" ROOM "'><body>%s</body></message>", id,
          from, body);
}

/* Owner creates the room; alice and bob join; all unaffiliated but the owner. */
static void std_room(void)
{
    create_room(ROOM, OWNER, O_NICK);
    join(ROOM, ALICE, A_NICK);
    join(ROOM, BOB, B_NICK);
    fx_clear();
}

static void register_nick(const char *from, const char *id, const char *nick)
{
    fx_in("<iq type='set' id='%s' from='%s' to='" ROOM "'><query xmlns='" NS_REGISTER "'>"
          "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" NS_MUC_REGISTER
          "</value></field><field var='muc#register_roomnick'><value>%s</value></field></x>"
          "</query></iq>",
          id, from, nick);
}

static void disco_info(const char *from, const char *id)
{
    fx_in("<iq type='get' id='%s' from='%s' to='" ROOM "'><query xmlns='" NS_DISCO_INFO
          "'/></iq>",
          id, from);
}

/* ==================================================================== */
/* §7.2 Entering a room                                                  */
/* ==================================================================== */

/* §10.1.1 / §7.2.2: the creator gets one self-presence with 110 and 201,
 * affiliation owner, role moderator; nobody else hears of it. */
static void test_7_2_room_creation_201_110(void **state)
{
    send_join(ROOM, OWNER, O_NICK, NULL);
    int s = fx_find("presence", AVAIL, OWNER, OCC(O_NICK));
    assert_int_equal(s, 0); /* empty roster: the self-presence comes first */
    struct xml_node *p = fx_at(s);
    assert_true(has_code(p, 110));
    assert_true(has_code(p, 201));
    assert_item(p, "owner", "moderator");
    fx_expect_count(1, "presence", NULL, NULL, NULL);
    fx_expect_count(0, NULL, "error", NULL, NULL);

    /* The creator is on the owner list. */
    fx_clear();
    admin_get(OWNER, "ol", "<item affiliation='owner'/>");
    struct xml_node *r = fx_one("iq", "result", OWNER, ROOM);
    struct xml_node *q = xml_child(r, "query", NS_MUC_ADMIN);
    assert_int_equal(fx_children(q, "item", NULL), 1);
    assert_string_equal(xml_attr(xml_first(q), "jid"), OWNER_BARE);
    assert_string_equal(xml_attr(xml_first(q), "affiliation"), "owner");

    /* Entering an existing room says nothing about creation. */
    instant(ROOM, OWNER);
    send_join(ROOM, ALICE, A_NICK, NULL);
    int a = self_idx(ALICE, OCC(A_NICK));
    assert_true(a >= 0);
    assert_false(has_code(fx_at(a), 201));
    assert_item(fx_at(a), "none", "participant");
}

/* §7.1, §7.2.2: roster first, then self-presence, then (history and) subject;
 * in a semi-anonymous room only moderators see the real JID (§7.2.4). */
static void test_7_2_ordering_roster_then_self(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    join(ROOM, ALICE, A_NICK);
    send_join(ROOM, BOB, B_NICK, NULL);

    int self = self_idx(BOB, OCC(B_NICK));
    int po = fx_find("presence", AVAIL, BOB, OCC(O_NICK));
    int pa = fx_find("presence", AVAIL, BOB, OCC(A_NICK));
    assert_true(self >= 0 && po >= 0 && pa >= 0);
    assert_true(po < self);
    assert_true(pa < self);
    fx_expect_count(3, "presence", NULL, BOB, NULL);
    /* The first stanza bob receives is roster, not his own presence. */
    assert_true(fx_find("presence", NULL, BOB, NULL) != self);

    assert_item(fx_at(po), "owner", "moderator");
    assert_null(iattr(fx_at(po), "jid")); /* bob is a participant */
    assert_false(has_code(fx_at(po), 110));
    assert_item(fx_at(pa), "none", "participant");
    assert_null(iattr(fx_at(pa), "jid"));
    assert_item(fx_at(self), "none", "participant");
    assert_false(has_code(fx_at(self), 100)); /* semi-anonymous */

    /* Then the subject, after the self-presence. */
    int subj = fx_find("message", "groupchat", BOB, NULL);
    assert_true(subj > self);

    /* Everyone else gets bob's presence once, without 110; the moderator
     * with his full JID, the participant without any. */
    struct xml_node *to_owner = fx_one("presence", AVAIL, OWNER, OCC(B_NICK));
    assert_false(has_code(to_owner, 110));
    assert_string_equal(iattr(to_owner, "jid"), BOB);
    assert_item(to_owner, "none", "participant");
    struct xml_node *to_alice = fx_one("presence", AVAIL, ALICE, OCC(B_NICK));
    assert_false(has_code(to_alice, 110));
    assert_null(iattr(to_alice, "jid"));
}

/* §7.2.3 (non-anonymous): everyone sees full JIDs, the newcomer gets 100. */
static void test_7_2_non_anonymous_jids_and_100(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    configure(FV("whois", "anyone"));
    join(ROOM, ALICE, A_NICK);
    send_join(ROOM, BOB, B_NICK, NULL);
    int self = self_idx(BOB, OCC(B_NICK));
    assert_true(self >= 0);
    assert_true(has_code(fx_at(self), 100));
    struct xml_node *ra = fx_one("presence", AVAIL, BOB, OCC(A_NICK));
    assert_string_equal(iattr(ra, "jid"), ALICE);
    struct xml_node *ab = fx_one("presence", AVAIL, ALICE, OCC(B_NICK));
    assert_string_equal(iattr(ab, "jid"), BOB); /* full JID, §17.3 rule 10 */
}

/* §7.2.1: no nickname, jid-malformed (modify); §17.3 rules 1 and 5: a typed
 * presence is no join, an unavailable from a non-occupant is ignored. */
static void test_7_2_1_no_nick_and_typed_presence(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    fx_in("<presence id='273hs51g' from='" BOB "' to='" ROOM "'><x xmlns='" NS_MUC
          "'/></presence>");
    fx_expect_total(1);
    struct xml_node *e = fx_expect_error("presence", BOB, ROOM, "jid-malformed", "modify");
    assert_string_equal(stanza_id(e), "273hs51g");
    fx_clear();
    fx_in("<presence type='probe' from='" BOB "' to='" OCC(B_NICK) "'/>");
    fx_in("<presence type='unavailable' from='" BOB "' to='" OCC(B_NICK) "'/>");
    fx_in("<presence type='subscribe' from='" BOB "' to='" OCC(B_NICK) "'/>");
    fx_expect_count(0, "presence", NULL, OWNER, NULL);
    fx_expect_count(0, "presence", AVAIL, NULL, NULL);
    fx_clear();
    groupchat(OWNER, "g", "alone?");
    fx_expect_total(1); /* bob did not become an occupant */
}

/* §7.2.8 (nickname conflict): another user's nick, error from the occupant JID. */
static void test_7_2_3_nick_conflict(void **state)
{
    std_room();
    send_join(ROOM, EVE, A_NICK, NULL);
    fx_expect_total(1);
    fx_expect_error("presence", EVE, OCC(A_NICK), "conflict", "cancel");
    /* alice is untouched: eve's attempt made no presence for anyone */
    fx_clear();
    groupchat(ALICE, "g", "still here");
    fx_expect_count(3, "message", "groupchat", NULL, OCC(A_NICK));
}

/* §7.2.5 password-protected rooms: not-authorized (auth). */
static void test_7_2_5_password(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    configure(FV("passwordprotectedroom", "1") FV("roomsecret", "cauldronburn"));
    fx_clear();
    send_join(ROOM, BOB, B_NICK, NULL);
    fx_expect_total(1);
    fx_expect_error("presence", BOB, OCC(B_NICK), "not-authorized", "auth");
    fx_clear();
    send_join(ROOM, BOB, B_NICK, "<password>cauldron</password>");
    fx_expect_total(1);
    fx_expect_error("presence", BOB, OCC(B_NICK), "not-authorized", "auth");
    join_id(ROOM, BOB, B_NICK, "<password>cauldronburn</password>");
    disco_info(EVE, "di");
    struct xml_node *q = xml_child(fx_one("iq", "result", EVE, ROOM), "query", NS_DISCO_INFO);
    assert_true(has_feature(q, "muc_passwordprotected"));
    assert_false(has_feature(q, "muc_unsecured"));
}

/* §7.2.6 members-only rooms: registration-required (auth). */
static void test_7_2_6_members_only(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    configure(FV("membersonly", "1"));
    fx_clear();
    send_join(ROOM, BOB, B_NICK, NULL);
    fx_expect_total(1);
    fx_expect_error("presence", BOB, OCC(B_NICK), "registration-required", "auth");
    affiliate(BOB_BARE, "member");
    send_join(ROOM, BOB, B_NICK, NULL);
    int self = self_idx(BOB, OCC(B_NICK));
    assert_true(self >= 0);
    assert_item(fx_at(self), "member", "participant");
}

/* §7.2.7 banned users: forbidden (auth); a banned domain covers its users
 * (§9.2 matching order). */
static void test_7_2_7_banned(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    affiliate(BOB_BARE, "outcast");
    send_join(ROOM, BOB, B_NICK, NULL);
    fx_expect_total(1);
    fx_expect_error("presence", BOB, OCC(B_NICK), "forbidden", "auth");
    affiliate("evil.example", "outcast");
    send_join(ROOM, EVE, "eve", NULL);
    fx_expect_total(1);
    fx_expect_error("presence", EVE, OCC("eve"), "forbidden", "auth");
}

/* §7.2.9 max users: service-unavailable of type wait; admins and owners MUST
 * still get in. */
static void test_7_2_9_full_room(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    configure(FV("maxusers", "2"));
    join(ROOM, ALICE, A_NICK);
    send_join(ROOM, BOB, B_NICK, NULL);
    fx_expect_total(1);
    fx_expect_error("presence", BOB, OCC(B_NICK), "service-unavailable", NULL);
    /* An admin enters a full room. */
    affiliate(BOB_BARE, "admin");
    send_join(ROOM, BOB, B_NICK, NULL);
    int self = self_idx(BOB, OCC(B_NICK));
    assert_true(self >= 0);
    assert_item(fx_at(self), "admin", "moderator");
    fx_clear();
    /* Anyone else is still turned away, and told to wait (§7.2.9 example). */
    send_join(ROOM, EVE, "eve", NULL);
    fx_expect_total(1);
    fx_expect_error("presence", EVE, OCC("eve"), "service-unavailable", "wait");
}

/* §7.2.13–14 discussion history: after the self-presence, oldest first, the
 * newest maxstanzas, each with a XEP-0203 delay from the room JID. */
static void test_7_2_15_history_maxstanzas_with_delay(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    join(ROOM, ALICE, A_NICK);
    fx.now = T0 + 1000;
    groupchat(ALICE, "h1", "one");
    fx.now = T0 + 2000;
    groupchat(ALICE, "h2", "two");
    fx.now = T0 + 3000;
    groupchat(ALICE, "h3", "three");
    fx.now = T0 + 10000;
    fx_clear();

    send_join(ROOM, BOB, B_NICK, "<history maxstanzas='2'/>");
    int self = self_idx(BOB, OCC(B_NICK));
    assert_true(self >= 0);
    fx_expect_count(3, "message", NULL, BOB, NULL); /* two of history, one subject */
    int m2 = fx_find("message", NULL, BOB, NULL);
    int m3 = fx_find_from(m2 + 1, "message", NULL, BOB, NULL);
    int subj = fx_find_from(m3 + 1, "message", NULL, BOB, NULL);
    assert_true(self < m2 && m2 < m3 && m3 < subj);
    static const char *const body[] = { "two", "three" };
    static const char *const stamp[] = { "2023-11-14T22:13:22", "2023-11-14T22:13:23" };
    int idx[] = { m2, m3 };
    for (int i = 0; i < 2; i++) {
        struct xml_node *m = fx_at(idx[i]);
        assert_string_equal(stanza_from(m), OCC(A_NICK));
        assert_string_equal(xml_attr(m, "type"), "groupchat");
        fx_assert_text(stanza_child(m, "body"), body[i]);
        assert_int_equal(fx_children(m, "delay", NS_DELAY), 1);
        struct xml_node *d = xml_child(m, "delay", NS_DELAY);
        assert_string_equal(xml_attr(d, "from"), ROOM);
        const char *st = xml_attr(d, "stamp");
        assert_non_null(st);
        assert_memory_equal(st, stamp[i], strlen(stamp[i]));
        assert_int_equal(st[strlen(st) - 1], 'Z');
        occ_id(m); /* XEP-0421: history carries the occupant-id too */
    }
    assert_non_null(stanza_child(fx_at(subj), "subject"));
    assert_null(stanza_child(fx_at(subj), "body"));

    /* maxchars='0': no history at all, still the subject. */
    fx_clear();
    send_join(ROOM, EVE, "eve", "<history maxchars='0'/>");
    fx_expect_count(1, "message", NULL, EVE, NULL);
    assert_non_null(stanza_child(fx_one("message", NULL, EVE, NULL), "subject"));

    /* seconds: only what the room received in that window. */
    fx_clear();
    fx.now = T0 + 10500;
    send_join(ROOM, HECATE, "hecate", "<history seconds='8'/>");
    fx_expect_count(2, "message", NULL, HECATE, NULL);
    fx_assert_text(stanza_child(fx_at(fx_find("message", NULL, HECATE, NULL)), "body"), "three");
}

/* §7.2.15 room subject: after history, from the room or the setter, a
 * <subject/> and no <body/>; an empty <subject/> when none was set. */
static void test_7_2_16_subject_on_join(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    join(ROOM, ALICE, A_NICK);
    send_join(ROOM, BOB, B_NICK, NULL);
    int self = self_idx(BOB, OCC(B_NICK));
    int si = fx_one_idx("message", NULL, BOB, NULL);
    assert_true(si > self);
    struct xml_node *m = fx_at(si);
    assert_string_equal(xml_attr(m, "type"), "groupchat");
    assert_string_equal(stanza_from(m), ROOM);
    fx_assert_text(stanza_child(m, "subject"), "");
    assert_null(stanza_child(m, "body"));

    fx_clear();
    fx_in("<message type='groupchat' id='s1' from='" OWNER "' to='" ROOM "'>"
          "<subject>Fire Burn and Cauldron Bubble!</subject></message>");
    fx_expect_total(3);
    static const char *const all[] = { OWNER, ALICE, BOB };
    for (int i = 0; i < 3; i++) {
        struct xml_node *s = fx_one("message", "groupchat", all[i], OCC(O_NICK));
        fx_assert_text(stanza_child(s, "subject"), "Fire Burn and Cauldron Bubble!");
        assert_null(stanza_child(s, "body"));
    }

    fx_clear();
    send_join(ROOM, EVE, "eve", NULL);
    int last = (int)fx.n - 1;
    int es = fx_one_idx("message", NULL, EVE, NULL);
    assert_true(es > self_idx(EVE, OCC("eve")));
    /* Nothing for eve follows the subject. */
    for (int i = es + 1; i <= last; i++)
        assert_false(str_eq(stanza_to(fx_at(i)), EVE));
    m = fx_at(es);
    assert_true(str_eq(stanza_from(m), OCC(O_NICK)) || str_eq(stanza_from(m), ROOM));
    fx_assert_text(stanza_child(m, "subject"), "Fire Burn and Cauldron Bubble!");
    assert_null(stanza_child(m, "body"));
}

/* ==================================================================== */
/* §7.3–7.14 occupant use cases                                          */
/* ==================================================================== */

/* §7.7 changing availability: show/status pass through to everyone, with the
 * real JID only for moderators, 110 only for the occupant itself. */
static void test_7_3_presence_change_broadcast(void **state)
{
    std_room();
    fx_in("<presence from='" ALICE "' to='" OCC(A_NICK) "'><show>xa</show>"
          "<status>gone where the goblins go</status></presence>");
    fx_expect_total(3);
    static const char *const all[] = { OWNER, ALICE, BOB };
    for (int i = 0; i < 3; i++) {
        struct xml_node *p = fx_one("presence", AVAIL, all[i], OCC(A_NICK));
        fx_assert_text(stanza_child(p, "show"), "xa");
        fx_assert_text(stanza_child(p, "status"), "gone where the goblins go");
        assert_item(p, "none", "participant");
        assert_int_equal(has_code(p, 110), i == 1); /* alice */
    }
    assert_string_equal(iattr(fx_one("presence", AVAIL, OWNER, NULL), "jid"), ALICE);
    assert_null(iattr(fx_one("presence", AVAIL, BOB, NULL), "jid"));
}

/* §7.14 exiting: 110 to the leaver, role none everywhere; a second
 * unavailable is ignored; the last one out of a temporary room destroys it. */
static void test_7_4_leave_110(void **state)
{
    std_room();
    fx_in("<presence type='unavailable' from='" BOB "' to='" OCC(B_NICK) "'>"
          "<status>bye</status></presence>");
    fx_expect_total(3);
    struct xml_node *self = fx_one("presence", "unavailable", BOB, OCC(B_NICK));
    assert_true(has_code(self, 110));
    assert_item(self, "none", "none");
    fx_assert_text(stanza_child(self, "status"), "bye");
    int self_at = fx_find("presence", "unavailable", BOB, OCC(B_NICK));
    int rest_at[2];
    static const char *const rest[] = { OWNER, ALICE };
    for (int i = 0; i < 2; i++) {
        rest_at[i] = fx_one_idx("presence", "unavailable", rest[i], OCC(B_NICK));
        struct xml_node *p = fx_at(rest_at[i]);
        assert_false(has_code(p, 110));
        assert_item(p, "none", "none");
    }

    /* Gone means gone: his messages are refused, a second exit ignored. */
    fx_clear();
    groupchat(BOB, "late", "hello?");
    fx_expect_total(1);
    fx_expect_error("message", BOB, ROOM, "not-acceptable", NULL);
    fx_clear();
    fx_in("<presence type='unavailable' from='" BOB "' to='" OCC(B_NICK) "'/>");
    fx_expect_total(0);

    fx_in("<presence type='unavailable' from='" ALICE "' to='" OCC(A_NICK) "'/>");
    fx_in("<presence type='unavailable' from='" OWNER "' to='" OCC(O_NICK) "'/>");
    fx_clear();
    disco_info(EVE, "gone");
    fx_expect_error("iq", EVE, ROOM, "item-not-found", "cancel");

    /* §7.14: self-presence to the departing occupant, "The service MUST then
     * send presence stanzas of type unavailable ... to the full JIDs of the
     * remaining occupants". */
    assert_true(self_at < rest_at[0]);
    assert_true(self_at < rest_at[1]);
}

/* §7.6 changing nickname: unavailable with 303 and the new nick, then
 * available from the new nick, to everyone, 110 on the occupant's copies. */
static void test_7_6_nick_change_303(void **state)
{
    std_room();
    fx_in("<presence from='" BOB "' to='" OCC("oldhag") "'/>");
    static const char *const all[] = { OWNER, ALICE, BOB };
    for (int i = 0; i < 3; i++) {
        fx_expect_count(2, "presence", NULL, all[i], NULL);
        int u = fx_one_idx("presence", "unavailable", all[i], OCC(B_NICK));
        int a = fx_one_idx("presence", AVAIL, all[i], OCC("oldhag"));
        assert_true(u < a);
        assert_true(has_code(fx_at(u), 303));
        assert_string_equal(iattr(fx_at(u), "nick"), "oldhag");
        assert_string_equal(iattr(fx_at(u), "affiliation"), "none");
        assert_non_null(iattr(fx_at(u), "role"));
        assert_item(fx_at(a), "none", "participant");
        assert_int_equal(has_code(fx_at(u), 110), i == 2); /* bob */
        assert_int_equal(has_code(fx_at(a), 110), i == 2);
        assert_false(has_code(fx_at(a), 303));
    }
    assert_string_equal(iattr(fx_at(fx_find("presence", "unavailable", OWNER, NULL)), "jid"), BOB);
    assert_null(iattr(fx_at(fx_find("presence", "unavailable", ALICE, NULL)), "jid"));

    fx_clear();
    groupchat(BOB, "n", "renamed");
    fx_expect_count(3, "message", "groupchat", NULL, OCC("oldhag"));

    /* Someone else's nick: conflict, and no presence at all. */
    fx_clear();
    fx_in("<presence from='" BOB "' to='" OCC(A_NICK) "'/>");
    fx_expect_total(1);
    fx_expect_error("presence", BOB, NULL, "conflict", "cancel");
}

/* §7.5 private messages: from the sender's occupant JID to the recipient
 * only, with <x xmlns='muc#user'/>; errors for groupchat type, unknown nick,
 * non-occupants. */
static void test_7_5_private_message(void **state)
{
    std_room();
    fx_in("<message type='chat' id='pm1' from='" ALICE "' to='" OCC(B_NICK) "'>"
          "<body>I'll give thee a wind.</body></message>");
    fx_expect_total(1);
    struct xml_node *m = fx_one("message", "chat", BOB, OCC(A_NICK));
    fx_assert_text(stanza_child(m, "body"), "I'll give thee a wind.");
    assert_int_equal(fx_children(m, "x", NS_MUC_USER), 1);
    assert_false(serialised_contains(m, ALICE_BARE)); /* no real JID leaks */

    fx_clear();
    fx_in("<message type='chat' id='pm2' from='" ALICE "' to='" OCC("nobody") "'>"
          "<body>hello?</body></message>");
    fx_expect_total(1);
    fx_expect_error("message", ALICE, OCC("nobody"), "item-not-found", "cancel");

    fx_clear();
    fx_in("<message type='groupchat' id='pm3' from='" ALICE "' to='" OCC(B_NICK) "'>"
          "<body>I'll give thee a wind.</body></message>");
    fx_expect_total(1);
    fx_expect_error("message", ALICE, OCC(B_NICK), "bad-request", "modify");

    fx_clear();
    fx_in("<message type='chat' id='pm4' from='" EVE "' to='" OCC(B_NICK) "'>"
          "<body>psst</body></message>");
    fx_expect_total(1);
    fx_expect_error("message", EVE, OCC(B_NICK), "not-acceptable", NULL);
}

/* §7.8.2 mediated invitation: from the room, <invite from=inviter/>, the
 * reason, the password of a protected room; plus a XEP-0249 payload. */
static void test_7_8_mediated_invite_with_xep0249(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    configure(FV("passwordprotectedroom", "1") FV("roomsecret", "cauldronburn"));
    fx_clear();
    fx_in("<message id='inv1' from='" OWNER "' to='" ROOM "'><x xmlns='" NS_MUC_USER "'>"
          "<invite to='" HECATE_BARE "'><reason>Hey Hecate, this is the place</reason>"
          "</invite></x></message>");
    fx_expect_total(1);
    struct xml_node *m = fx_one("message", NULL, HECATE_BARE, ROOM);
    const char *type = xml_attr(m, "type");
    assert_true(type == NULL || strcmp(type, "normal") == 0);
    struct xml_node *x = xuser(m);
    struct xml_node *inv = xml_child(x, "invite", NS_MUC_USER);
    assert_non_null(inv);
    const char *from = xml_attr(inv, "from");
    assert_true(str_eq(from, OWNER_BARE) || str_eq(from, OWNER) || str_eq(from, OCC(O_NICK)));
    assert_null(xml_attr(inv, "to"));
    fx_assert_text(xml_child(inv, "reason", NS_MUC_USER), "Hey Hecate, this is the place");
    fx_assert_text(xml_child(x, "password", NS_MUC_USER), "cauldronburn");
    struct xml_node *d = xml_child(m, "x", NS_CONFERENCE);
    assert_non_null(d);
    assert_string_equal(xml_attr(d, "jid"), ROOM);
    assert_string_equal(xml_attr(d, "password"), "cauldronburn");
}

/* §7.8.2 declining: the room tells the inviter, <decline from=invitee/>. */
/* Issue 13: a decline answers a pending invitation and goes to the inviter. */
static void test_7_8_decline(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    fx_in("<message id='inv1' from='" OWNER "' to='" ROOM "'><x xmlns='" NS_MUC_USER "'>"
          "<invite to='" HECATE_BARE "'/></x></message>");
    fx_clear();
    fx_in("<message id='dec1' from='" HECATE "' to='" ROOM "'><x xmlns='" NS_MUC_USER "'>"
          "<decline to='" OWNER_BARE "'><reason>Sorry, I'm too busy right now.</reason></decline>"
          "</x></message>");
    fx_expect_total(1);
    struct xml_node *m = fx_one("message", NULL, OWNER, ROOM);
    struct xml_node *dec = xml_child(xuser(m), "decline", NS_MUC_USER);
    assert_non_null(dec);
    const char *from = xml_attr(dec, "from");
    assert_true(str_eq(from, HECATE_BARE) || str_eq(from, HECATE));
    assert_null(xml_attr(dec, "to"));
    fx_assert_text(xml_child(dec, "reason", NS_MUC_USER), "Sorry, I'm too busy right now.");
}

/* §7.4 groupchat: one copy per occupant (sender included) from the occupant
 * JID with the client's id; XEP-0359 stanza-id by the room, XEP-0421
 * occupant-id equal to the one in the sender's presence. */
static void test_7_9_groupchat_fanout_stanza_id_occupant_id(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    const char *aid = join_id(ROOM, ALICE, A_NICK, NULL);
    join(ROOM, BOB, B_NICK);
    groupchat(ALICE, "hysf1v37", "Harpier cries: 'tis time, 'tis time.");
    fx_expect_total(3);
    static const char *const all[] = { OWNER, ALICE, BOB };
    const char *sid0 = NULL;
    for (int i = 0; i < 3; i++) {
        struct xml_node *m = fx_one("message", "groupchat", all[i], OCC(A_NICK));
        assert_string_equal(stanza_id(m), "hysf1v37");
        fx_assert_text(stanza_child(m, "body"), "Harpier cries: 'tis time, 'tis time.");
        assert_int_equal(fx_children(m, "stanza-id", NS_SID), 1);
        struct xml_node *sid = xml_child(m, "stanza-id", NS_SID);
        assert_string_equal(xml_attr(sid, "by"), ROOM);
        const char *id = xml_attr(sid, "id");
        assert_non_null(id);
        assert_true(*id);
        if (sid0)
            assert_string_equal(id, sid0);
        sid0 = id;
        assert_string_equal(occ_id(m), aid);
    }
    /* A visitor or outsider is not the sender of anything. */
    fx_clear();
    groupchat(EVE, "e", "let me in");
    fx_expect_total(1);
    fx_expect_error("message", EVE, ROOM, "not-acceptable", NULL);
}

/* Room-owned payload from a client is dropped (XEP-0359 §6, XEP-0421 §5,
 * XEP-0045 §17.2 rule 6): forged stanza-id, occupant-id, delay, muc#user. */
static void test_7_9_spoofed_payload_stripped(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    const char *aid = join_id(ROOM, ALICE, A_NICK, NULL);
    join(ROOM, BOB, B_NICK);
    fx_in("<message type='groupchat' id='sp' from='" ALICE "' to='" ROOM "'><body>hi</body>"
          "<stanza-id xmlns='" NS_SID "' by='" ROOM "' id='forged'/>"
          "<occupant-id xmlns='" NS_OCCUPANT_ID "' id='forged'/>"
          "<delay xmlns='" NS_DELAY "' from='" ROOM "' stamp='2001-01-01T00:00:00Z'/>"
          "<x xmlns='" NS_MUC_USER "'><status code='110'/></x></message>");
    fx_expect_total(3);
    for (int i = 0; i < 3; i++) {
        struct xml_node *m = fx_at(i);
        assert_int_equal(fx_children(m, "stanza-id", NS_SID), 1);
        assert_string_not_equal(xml_attr(xml_child(m, "stanza-id", NS_SID), "id"), "forged");
        assert_string_equal(occ_id(m), aid);
        assert_int_equal(fx_children(m, "delay", NS_DELAY), 0);
        assert_int_equal(fx_children(m, "x", NS_MUC_USER), 0);
    }

    fx_clear();
    fx_in("<presence from='" ALICE "' to='" OCC(A_NICK) "'><x xmlns='" NS_MUC_USER "'>"
          "<item affiliation='owner' role='moderator' jid='" OWNER "'/><status code='110'/></x>"
          "<occupant-id xmlns='" NS_OCCUPANT_ID "' id='forged'/></presence>");
    struct xml_node *p = fx_one("presence", AVAIL, BOB, OCC(A_NICK));
    assert_item(p, "none", "participant"); /* xuser() also checks there is one x */
    assert_null(iattr(p, "jid"));
    assert_false(has_code(p, 110));
    assert_string_equal(occ_id(p), aid);
}

/* §7.10 registering with a room: form, result, reserved nick (conflict for
 * others), <registered/> afterwards; an occupant who becomes a member has
 * his presence updated for everyone. */
static void test_7_10_register_nick(void **state)
{
    std_room();
    /* By default only affiliated users may register (Prosody's default)... */
    fx_in("<iq type='get' id='reg0' from='" BOB "' to='" ROOM "'><query xmlns='" NS_REGISTER
          "'/></iq>");
    fx_expect_error("iq", BOB, ROOM, "registration-required", "auth");
    fx_clear();
    /* ...[muc] register_unaffiliated lets anyone who may enter. */
    fx.m->lim.register_unaffiliated = true;
    fx_in("<iq type='get' id='reg1' from='" BOB "' to='" ROOM "'><query xmlns='" NS_REGISTER
          "'/></iq>");
    struct xml_node *r = fx_one("iq", "result", BOB, ROOM);
    struct xml_node *q = xml_child(r, "query", NS_REGISTER);
    assert_non_null(q);
    assert_null(xml_child(q, "registered", NS_REGISTER));
    struct xml_node *x = xml_child(q, "x", NS_DATA_FORMS);
    assert_non_null(x);
    assert_string_equal(xml_attr(x, "type"), "form");
    assert_true(field_has_value(form_field_el(x, "FORM_TYPE"), NS_MUC_REGISTER));
    assert_non_null(form_field_el(x, "muc#register_roomnick"));

    fx_clear();
    register_nick(BOB, "reg2", "hagnick");
    iq_ok(BOB, "reg2");
    /* §7.10: "it MUST send updated presence from this individual to all
     * occupants" with affiliation member; checked at the end. */
    int member_presences = 0;
    static const char *const all[] = { OWNER, ALICE, BOB };
    for (int i = 0; i < 3; i++) {
        int k = fx_find("presence", AVAIL, all[i], OCC(B_NICK));
        if (k >= 0 && str_eq(iattr(fx_at(k), "affiliation"), "member"))
            member_presences++;
    }

    fx_clear();
    fx_in("<iq type='get' id='reg3' from='" BOB "' to='" ROOM "'><query xmlns='" NS_REGISTER
          "'/></iq>");
    q = xml_child(fx_one("iq", "result", BOB, ROOM), "query", NS_REGISTER);
    assert_non_null(xml_child(q, "registered", NS_REGISTER));
    fx_assert_text(xml_child(q, "username", NS_REGISTER), "hagnick");

    fx_clear();
    send_join(ROOM, EVE, "hagnick", NULL);
    fx_expect_total(1);
    fx_expect_error("presence", EVE, OCC("hagnick"), "conflict", "cancel");

    fx_clear();
    register_nick(ALICE, "reg4", "hagnick");
    fx_expect_total(1);
    fx_expect_error("iq", ALICE, ROOM, "conflict", "cancel");

    fx_clear();
    fx_in("<iq type='set' id='reg5' from='" ALICE "' to='" ROOM "'><query xmlns='" NS_REGISTER
          "'/></iq>");
    fx_expect_total(1);
    fx_expect_error("iq", ALICE, ROOM, "bad-request", "modify");

    fx_clear();
    admin_get(OWNER, "ml", "<item affiliation='member'/>");
    q = xml_child(fx_one("iq", "result", OWNER, ROOM), "query", NS_MUC_ADMIN);
    assert_int_equal(fx_children(q, "item", NULL), 1);
    assert_string_equal(xml_attr(xml_first(q), "jid"), BOB_BARE);

    assert_int_equal(member_presences, 3);
}

/* §7.12 discovering the reserved nick: empty query, then the identity. */
static void test_7_12_reserved_nick_disco(void **state)
{
    std_room();
    fx.m->lim.register_unaffiliated = true;
#define REQ "<iq type='get' id='gn' from='%s' to='" ROOM "'><query xmlns='" \
                      NS_DISCO_INFO "' node='x-roomuser-item'/></iq>"
    fx_in(REQ, BOB);
    struct xml_node *q = xml_child(fx_one("iq", "result", BOB, ROOM), "query", NS_DISCO_INFO);
    assert_non_null(q);
    assert_string_equal(xml_attr(q, "node"), "x-roomuser-item");
    assert_null(xml_first(q));

    fx_clear();
    register_nick(BOB, "reg", "hagnick");
    iq_ok(BOB, "reg");
    fx_clear();
    fx_in(REQ, BOB);
    q = xml_child(fx_one("iq", "result", BOB, ROOM), "query", NS_DISCO_INFO);
    assert_int_equal(fx_children(q, NULL, NULL), 1);
    struct xml_node *id = xml_child(q, "identity", NS_DISCO_INFO);
    assert_non_null(id);
    assert_string_equal(xml_attr(id, "category"), "conference");
    assert_string_equal(xml_attr(id, "type"), "text");
    assert_string_equal(xml_attr(id, "name"), "hagnick");

    fx_clear();
    fx_in(REQ, EVE);
    q = xml_child(fx_one("iq", "result", EVE, ROOM), "query", NS_DISCO_INFO);
    assert_null(xml_first(q));
}

/* ==================================================================== */
/* §8 moderator use cases                                                */
/* ==================================================================== */

/* §8.1 subject: forbidden (auth) for a participant by default; moderators
 * always; participants once changesubject is on. */
static void test_8_1_subject_permission(void **state)
{
    std_room();
#define SUBJ "<message type='groupchat' id='%s' from='%s' to='" ROOM "'>" \
                       "<subject>%s</subject></message>"
    fx_in(SUBJ, "s1", ALICE, "Mine now");
    fx_expect_total(1);
    fx_expect_error("message", ALICE, ROOM, "forbidden", "auth");

    fx_clear();
    fx_in(SUBJ, "s2", OWNER, "Fire Burn");
    fx_expect_total(3);
    static const char *const all[] = { OWNER, ALICE, BOB };
    for (int i = 0; i < 3; i++) {
        struct xml_node *m = fx_one("message", "groupchat", all[i], OCC(O_NICK));
        fx_assert_text(stanza_child(m, "subject"), "Fire Burn");
        assert_null(stanza_child(m, "body"));
    }

    configure(FV("changesubject", "1"));
    fx_clear();
    fx_in(SUBJ, "s3", ALICE, "Cauldron Bubble");
    fx_expect_total(3);
    for (int i = 0; i < 3; i++)
        fx_assert_text(stanza_child(fx_one("message", "groupchat", all[i], OCC(A_NICK)), "subject"),
                       "Cauldron Bubble");
}

/* §8.2 kick: 307 (+110, actor, reason) to the kicked, then the result to the
 * moderator, then 307 to the remaining occupants, in that order. */
static void test_8_2_kick_307(void **state)
{
    std_room();
    admin_set(ALICE, "k0", "<item nick='" B_NICK "' role='none'/>");
    fx_expect_total(1);
    fx_expect_error("iq", ALICE, ROOM, "forbidden", "auth");

    fx_clear();
    admin_set(OWNER, "kick1",
              "<item nick='" B_NICK "' role='none'><reason>Avaunt, you cullion!</reason></item>");
    int k = fx_one_idx("presence", "unavailable", BOB, OCC(B_NICK));
    struct xml_node *kp = fx_at(k);
    assert_true(has_code(kp, 307));
    assert_true(has_code(kp, 110));
    assert_item(kp, "none", "none");
    struct xml_node *actor = xml_child(uitem(kp), "actor", NS_MUC_USER);
    assert_non_null(actor);
    assert_string_equal(xml_attr(actor, "nick"), O_NICK);
    fx_assert_text(xml_child(uitem(kp), "reason", NS_MUC_USER), "Avaunt, you cullion!");
    int res = result_idx(OWNER, "kick1");
    assert_true(res >= 0);
    assert_string_equal(stanza_from(fx_at(res)), ROOM);
    int ra = fx_one_idx("presence", "unavailable", ALICE, OCC(B_NICK));
    assert_true(has_code(fx_at(ra), 307));
    assert_false(has_code(fx_at(ra), 110));
    assert_item(fx_at(ra), "none", "none");
    int ro = fx_one_idx("presence", "unavailable", OWNER, OCC(B_NICK));
    assert_true(has_code(fx_at(ro), 307));

    fx_clear();
    groupchat(BOB, "after", "I'm back?");
    fx_expect_total(1);
    fx_expect_error("message", BOB, ROOM, "not-acceptable", NULL);

    /* "After removing the kicked occupant(s), the service MUST then inform
     * the moderator of success ... After informing the moderator, the
     * service MUST then inform all of the remaining occupants". */
    assert_true(k < res);
    assert_true(res < ra);
    assert_true(res < ro);
}

/* §8.3 granting voice in a moderated room: visitors may not speak; result
 * first, then presence with role participant to everyone. */
static void test_8_3_grant_voice(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    configure(FV("moderatedroom", "1"));
    join(ROOM, ALICE, A_NICK);
    send_join(ROOM, BOB, B_NICK, NULL);
    assert_item(fx_at(self_idx(BOB, OCC(B_NICK))), "none", "visitor");
    fx_clear();
    groupchat(BOB, "v0", "may I?");
    fx_expect_total(1);
    fx_expect_error("message", BOB, ROOM, "forbidden", "auth");

    fx_clear();
    admin_set(OWNER, "voice1",
              "<item nick='" B_NICK "' role='participant'><reason>A worthy witch indeed!"
              "</reason></item>");
    int res = result_idx(OWNER, "voice1");
    assert_true(res >= 0);
    static const char *const all[] = { OWNER, ALICE, BOB };
    for (int i = 0; i < 3; i++) {
        int p = fx_one_idx("presence", AVAIL, all[i], OCC(B_NICK));
        assert_item(fx_at(p), "none", "participant");
        assert_true(res < p);
    }
    fx_clear();
    groupchat(BOB, "v1", "thank you");
    fx_expect_count(3, "message", "groupchat", NULL, OCC(B_NICK));
}

/* §8.4 revoking voice: participant to visitor, who may no longer speak; never
 * from an admin or owner (not-allowed). */
static void test_8_4_revoke_voice(void **state)
{
    std_room();
    admin_set(OWNER, "voice2", "<item nick='" B_NICK "' role='visitor'/>");
    iq_ok(OWNER, "voice2");
    static const char *const all[] = { OWNER, ALICE, BOB };
    for (int i = 0; i < 3; i++)
        assert_item(fx_one("presence", AVAIL, all[i], OCC(B_NICK)), "none", "visitor");
    fx_clear();
    groupchat(BOB, "mute", "can you hear me");
    fx_expect_total(1);
    fx_expect_error("message", BOB, ROOM, "forbidden", "auth");

    /* "A moderator MUST NOT be able to revoke voice from a user whose
     * affiliation is at or above the moderator's level. In addition, a
     * service MUST NOT allow the voice privileges of an admin or owner to be
     * removed by anyone." */
    affiliate(ALICE_BARE, "admin");
    affiliate(BOB_BARE, "admin");
    struct {
        const char *from, *nick;
    } tries[] = {
        { ALICE, O_NICK }, /* admin vs owner */
        { ALICE, B_NICK }, /* admin vs admin */
        { OWNER, A_NICK }, /* owner vs admin */
    };
    for (size_t i = 0; i < ARRAY_SIZE(tries); i++) {
        fx_clear();
        fx_in("<iq type='set' id='voicetest' from='%s' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
              "'><item nick='%s' role='visitor'/></query></iq>",
              tries[i].from, tries[i].nick);
        fx_expect_total(1);
        fx_expect_error("iq", tries[i].from, ROOM, "not-allowed", "cancel");
    }
}

/* §8.5 voice list: items carry nick, role, affiliation and the full JID
 * (§17.4 rule 5: "with the value of the latter set to the user's full JID"). */
static void test_8_5_voice_list_full_jid(void **state)
{
    std_room();
    admin_get(ALICE, "vl0", "<item role='participant'/>");
    fx_expect_total(1);
    fx_expect_error("iq", ALICE, ROOM, "forbidden", "auth");
    fx_clear();
    admin_get(OWNER, "voice3", "<item role='participant'/>");
    struct xml_node *q = xml_child(fx_one("iq", "result", OWNER, ROOM), "query", NS_MUC_ADMIN);
    assert_int_equal(fx_children(q, "item", NULL), 2);
    for (struct xml_node *it = xml_first(q); it; it = xml_next(it)) {
        const char *nick = xml_attr(it, "nick");
        assert_true(str_eq(nick, A_NICK) || str_eq(nick, B_NICK));
        assert_string_equal(xml_attr(it, "role"), "participant");
        assert_string_equal(xml_attr(it, "affiliation"), "none");
        assert_string_equal(xml_attr(it, "jid"), str_eq(nick, A_NICK) ? ALICE : BOB);
    }
}

/* §7.13 / §8.6 voice requests: the moderators get the approval form; the
 * submitted approval makes the visitor a participant. */
static void test_8_6_voice_request(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    configure(FV("moderatedroom", "1"));
    join(ROOM, ALICE, A_NICK);
    join(ROOM, BOB, B_NICK);
    fx_in("<message id='vr1' from='" BOB "' to='" ROOM "'><x xmlns='jabber:x:data' "
          "type='submit'><field var='FORM_TYPE'><value>" NS_MUC_REQUEST "</value></field>"
          "<field var='muc#role' type='list-single'><value>participant</value></field></x>"
          "</message>");
    fx_expect_total(1); /* to the only moderator; not to visitors */
    struct xml_node *m = fx_one("message", NULL, OWNER, ROOM);
    struct xml_node *x = xml_child(m, "x", NS_DATA_FORMS);
    assert_non_null(x);
    assert_string_equal(xml_attr(x, "type"), "form");
    struct form f;
    assert_int_equal(form_parse(x, &f), 0);
    const char *v[4] = { f.form_type, form_value(&f, "muc#role"), form_value(&f, "muc#jid"),
                         form_value(&f, "muc#roomnick") };
    for (int i = 0; i < 4; i++)
        v[i] = v[i] ? fx_keep(xstrdup(v[i])) : NULL;
    bool allow = true;
    int rc = form_bool(&f, "muc#request_allow", &allow);
    form_free(&f);
    assert_string_equal(v[0], NS_MUC_REQUEST);
    assert_string_equal(v[1], "participant");
    assert_string_equal(v[2], BOB);
    assert_string_equal(v[3], B_NICK);
    assert_int_equal(rc, 0);
    assert_false(allow);

    fx_clear();
    fx_in("<message id='approve' from='" OWNER "' to='" ROOM "'><x xmlns='jabber:x:data' "
          "type='submit'><field var='FORM_TYPE'><value>" NS_MUC_REQUEST "</value></field>"
          "<field var='muc#role'><value>participant</value></field>"
          "<field var='muc#jid'><value>" BOB "</value></field>"
          "<field var='muc#roomnick'><value>" B_NICK "</value></field>"
          "<field var='muc#request_allow'><value>true</value></field></x></message>");
    static const char *const all[] = { OWNER, ALICE, BOB };
    for (int i = 0; i < 3; i++)
        assert_item(fx_one("presence", AVAIL, all[i], OCC(B_NICK)), "none", "participant");
}

/* ==================================================================== */
/* §9 admin use cases                                                    */
/* ==================================================================== */

/* §9.1 ban: 301 with affiliation outcast to the banned occupant, then to the
 * remaining occupants; he may not come back; self-ban is a conflict. */
static void test_9_1_ban_301(void **state)
{
    std_room();
    admin_set(OWNER, "ban1",
              "<item affiliation='outcast' jid='" BOB_BARE "'><reason>Treason</reason></item>");
    iq_ok(OWNER, "ban1");
    int b = fx_one_idx("presence", "unavailable", BOB, OCC(B_NICK));
    assert_true(has_code(fx_at(b), 301));
    assert_true(has_code(fx_at(b), 110));
    assert_item(fx_at(b), "outcast", "none");
    fx_assert_text(xml_child(uitem(fx_at(b)), "reason", NS_MUC_USER), "Treason");
    int ra = fx_one_idx("presence", "unavailable", ALICE, OCC(B_NICK));
    assert_true(has_code(fx_at(ra), 301));
    assert_false(has_code(fx_at(ra), 110));
    assert_item(fx_at(ra), "outcast", "none");
    assert_null(iattr(fx_at(ra), "jid"));
    int ro = fx_one_idx("presence", "unavailable", OWNER, OCC(B_NICK));
    assert_true(has_code(fx_at(ro), 301));
    assert_string_equal(iattr(fx_at(ro), "jid"), BOB);

    fx_clear();
    send_join(ROOM, BOB, B_NICK, NULL);
    fx_expect_total(1);
    fx_expect_error("presence", BOB, OCC(B_NICK), "forbidden", "auth");

    fx_clear();
    admin_get(OWNER, "ban2", "<item affiliation='outcast'/>");
    struct xml_node *q = xml_child(fx_one("iq", "result", OWNER, ROOM), "query", NS_MUC_ADMIN);
    assert_int_equal(fx_children(q, "item", NULL), 1);
    struct xml_node *it = xml_first(q);
    assert_string_equal(xml_attr(it, "affiliation"), "outcast");
    assert_string_equal(xml_attr(it, "jid"), BOB_BARE);
    assert_null(xml_attr(it, "role"));
    fx_assert_text(xml_child(it, "reason", NS_MUC_ADMIN), "Treason");

    fx_clear();
    admin_set(OWNER, "ban3", "<item affiliation='outcast' jid='" OWNER_BARE "'/>");
    fx_expect_total(1);
    fx_expect_error("iq", OWNER, ROOM, "conflict", "cancel");

    /* "remove any banned users who are in the room by sending ... to each
     * banned occupant ... The service MUST then inform all of the remaining
     * occupants". */
    assert_true(b < ra);
    assert_true(b < ro);
}

/* §9.3 granting membership: result, then presence with affiliation member. */
static void test_9_3_grant_membership(void **state)
{
    std_room();
    admin_set(OWNER, "member1", "<item affiliation='member' jid='" BOB_BARE "'/>");
    int res = result_idx(OWNER, "member1");
    assert_true(res >= 0);
    static const char *const all[] = { OWNER, ALICE, BOB };
    /* Prosody's order for affiliation changes (its tests check it): the
     * presences, then the result (§8.2's kick order stays for roles). */
    for (int i = 0; i < 3; i++) {
        int p = fx_one_idx("presence", AVAIL, all[i], OCC(B_NICK));
        assert_item(fx_at(p), "member", "participant");
        if (str_eq(all[i], OWNER))
            assert_true(p < res);
    }
    fx_clear();
    admin_get(OWNER, "member3", "<item affiliation='member'/>");
    struct xml_node *q = xml_child(fx_one("iq", "result", OWNER, ROOM), "query", NS_MUC_ADMIN);
    assert_int_equal(fx_children(q, "item", NULL), 1);
    assert_string_equal(xml_attr(xml_first(q), "jid"), BOB_BARE);
    assert_string_equal(xml_attr(xml_first(q), "affiliation"), "member");
}

/* §9.4 revoking membership of a members-only room: 321 removal only (no
 * separate affiliation presence), to the user and the remaining occupants. */
static void test_9_4_revoke_membership_members_only_321(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    affiliate(ALICE_BARE, "member");
    affiliate(BOB_BARE, "member");
    configure(FV("membersonly", "1"));
    join(ROOM, ALICE, A_NICK);
    join(ROOM, BOB, B_NICK);
    admin_set(OWNER, "member2", "<item affiliation='none' jid='" BOB_BARE "'/>");
    iq_ok(OWNER, "member2");
    fx_expect_count(1, "presence", NULL, BOB, NULL);
    struct xml_node *b = fx_one("presence", "unavailable", BOB, OCC(B_NICK));
    assert_true(has_code(b, 321));
    assert_true(has_code(b, 110));
    assert_item(b, "none", "none");
    static const char *const rest[] = { OWNER, ALICE };
    for (int i = 0; i < 2; i++) {
        fx_expect_count(1, "presence", NULL, rest[i], OCC(B_NICK));
        struct xml_node *p = fx_one("presence", "unavailable", rest[i], OCC(B_NICK));
        assert_true(has_code(p, 321));
        assert_item(p, "none", "none");
    }
    fx_clear();
    send_join(ROOM, BOB, B_NICK, NULL);
    fx_expect_error("presence", BOB, OCC(B_NICK), "registration-required", "auth");
}

/* §8.2, §8.4, §9.1, §9.7, §10.4: an admin can do nothing to an owner. */
static void test_9_x_admin_cannot_act_on_owner(void **state)
{
    std_room();
    affiliate(ALICE_BARE, "admin");
    struct {
        const char *item, *cond, *type;
    } tries[] = {
        { "<item nick='" O_NICK "' role='none'/>", "not-allowed", "cancel" },         /* kick */
        { "<item affiliation='outcast' jid='" OWNER_BARE "'/>", "not-allowed", "cancel" }, /* ban */
        { "<item nick='" O_NICK "' role='participant'/>", "not-allowed", "cancel" }, /* demod */
        { "<item nick='" O_NICK "' role='visitor'/>", "not-allowed", "cancel" },     /* voice */
        { "<item affiliation='member' jid='" OWNER_BARE "'/>", "forbidden", "auth" }, /* owner */
    };
    for (size_t i = 0; i < ARRAY_SIZE(tries); i++) {
        fx_clear();
        admin_set(ALICE, "x", tries[i].item);
        fx_expect_total(1);
        fx_expect_error("iq", ALICE, ROOM, tries[i].cond, tries[i].type);
    }
    fx_clear();
    admin_get(OWNER, "ol", "<item affiliation='owner'/>");
    struct xml_node *q = xml_child(fx_one("iq", "result", OWNER, ROOM), "query", NS_MUC_ADMIN);
    assert_string_equal(xml_attr(xml_first(q), "jid"), OWNER_BARE);
    /* The same admin may kick a participant. */
    fx_clear();
    admin_set(ALICE, "ok", "<item nick='" B_NICK "' role='none'/>");
    iq_ok(ALICE, "ok");
}

/* ==================================================================== */
/* §10 owner use cases                                                   */
/* ==================================================================== */

/* §7.2.10 / §10.1.1: until configured the room exists only for its owner. */
static void test_10_1_2_locked_room_item_not_found_for_others(void **state)
{
    send_join(ROOM, OWNER, O_NICK, NULL);
    fx_clear();
    send_join(ROOM, BOB, B_NICK, NULL);
    fx_expect_total(1);
    fx_expect_error("presence", BOB, OCC(B_NICK), "item-not-found", "cancel");
    fx_clear();
    disco_info(BOB, "d1");
    fx_expect_total(1);
    fx_expect_error("iq", BOB, ROOM, "item-not-found", "cancel");
    fx_clear();
    groupchat(BOB, "m1", "anyone?");
    fx_expect_total(1);
    fx_expect_error("message", BOB, ROOM, "item-not-found", "cancel");
    fx_clear();
    disco_info(OWNER, "d2");
    fx_one("iq", "result", OWNER, ROOM);
}

/* §10.1.2 instant room: an empty submit form unlocks the room. */
static void test_10_1_2_instant_room(void **state)
{
    send_join(ROOM, OWNER, O_NICK, NULL);
    fx_clear();
    fx_in("<iq type='set' id='create1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'><x xmlns='jabber:x:data' type='submit'/></query></iq>");
    struct xml_node *r = fx_one("iq", "result", OWNER, ROOM);
    assert_string_equal(stanza_id(r), "create1");
    fx_clear();
    send_join(ROOM, BOB, B_NICK, NULL);
    int self = self_idx(BOB, OCC(B_NICK));
    assert_true(self >= 0);
    assert_item(fx_at(self), "none", "participant");
    assert_false(has_code(fx_at(self), 201));
}

/* §10.1.1 step 6: "If the service receives a cancellation, it MUST destroy
 * the room." */
static void test_10_1_3_cancel_destroys_room(void **state)
{
    send_join(ROOM, OWNER, O_NICK, NULL);
    fx_clear();
    fx_in("<iq type='set' id='c' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'><x xmlns='jabber:x:data' type='cancel'/></query></iq>");
    iq_ok(OWNER, "c");
    assert_null(room_find(fx.m, ROOM));
    fx_clear();
    send_join(ROOM, BOB, B_NICK, NULL); /* a new room, bob its creator */
    int self = self_idx(BOB, OCC(B_NICK));
    assert_true(self >= 0);
    assert_true(has_code(fx_at(self), 201));
}

/* §10.2 the configuration form: every field the engine reads is offered, with
 * the current values and the types §15.5.3 registers (test_form_registry checks
 * them all against the XEP text); one archive switch, enablelogging, on by
 * default ([muc] log_by_default); non-owners are forbidden. */
static void test_10_2_config_form_fields(void **state)
{
    std_room();
    configure(FV("roomname", "A Dark Cave"));
    fx_clear();
    fx_in("<iq type='get' id='config1' from='" ALICE "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'/></iq>");
    fx_expect_total(1);
    fx_expect_error("iq", ALICE, ROOM, "forbidden", "auth");

    fx_clear();
    fx_in("<iq type='get' id='config1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'/></iq>");
    struct xml_node *q = xml_child(fx_one("iq", "result", OWNER, ROOM), "query", NS_MUC_OWNER);
    assert_non_null(q);
    struct xml_node *x = xml_child(q, "x", NS_DATA_FORMS);
    assert_non_null(x);
    assert_string_equal(xml_attr(x, "type"), "form");
    struct xml_node *ft = form_field_el(x, "FORM_TYPE");
    assert_non_null(ft);
    assert_string_equal(xml_attr(ft, "type"), "hidden");
    assert_true(field_has_value(ft, NS_MUC_ROOMCONFIG));
    static const struct {
        const char *var, *type;
    } fields[] = {
        { "muc#roomconfig_roomname", "text-single" },
        { "muc#roomconfig_roomdesc", "text-single" },
        { "muc#roomconfig_lang", "text-single" },
        { "muc#roomconfig_persistentroom", "boolean" },
        { "muc#roomconfig_publicroom", "boolean" },
        { "muc#roomconfig_membersonly", "boolean" },
        { "muc#roomconfig_moderatedroom", "boolean" },
        { "muc#roomconfig_passwordprotectedroom", "boolean" },
        { "muc#roomconfig_roomsecret", "text-private" },
        { "muc#roomconfig_whois", "list-single" },
        { "muc#roomconfig_changesubject", "boolean" },
        { "muc#roomconfig_allowinvites", "boolean" },
        { "muc#roomconfig_allowpm", "list-single" },
        { "muc#roomconfig_maxusers", "list-single" },
        { "muc#roomconfig_presencebroadcast", "list-multi" },
        { "muc#roomconfig_getmemberlist", "list-multi" },
        { "muc#maxhistoryfetch", "text-single" },
        { "muc#roomconfig_enablelogging", "boolean" },
        { "muc#roomconfig_roomadmins", "jid-multi" },
        { "muc#roomconfig_roomowners", "jid-multi" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        struct xml_node *f = form_field_el(x, fields[i].var);
        if (!f)
            fail_msg("configuration form lacks %s", fields[i].var);
        if (fields[i].type)
            assert_string_equal(xml_attr(f, "type"), fields[i].type);
    }
    assert_true(field_has_value(form_field_el(x, "muc#roomconfig_roomname"), "A Dark Cave"));
    struct xml_node *whois = form_field_el(x, "muc#roomconfig_whois");
    assert_true(field_has_value(whois, "moderators"));
    assert_true(field_has_option(whois, "moderators"));
    assert_true(field_has_option(whois, "anyone"));
    struct xml_node *pm = form_field_el(x, "muc#roomconfig_allowpm");
    static const char *const pms[] = { "anyone", "participants", "moderators", "none" };
    for (size_t i = 0; i < ARRAY_SIZE(pms); i++)
        assert_true(field_has_option(pm, pms[i]));
    assert_true(field_has_value(form_field_el(x, "muc#roomconfig_roomowners"), OWNER_BARE));
    assert_true(field_has_value(form_field_el(x, "muc#roomconfig_publicroom"), "1"));
    assert_true(field_has_value(form_field_el(x, "muc#roomconfig_membersonly"), "0"));
    assert_true(field_has_value(form_field_el(x, "muc#roomconfig_enablelogging"), "1"));
    assert_null(form_field_el(x, "mam"));
    assert_null(form_field_el(x, "muc#roomconfig_historylength"));
    struct xml_node *mu = form_field_el(x, "muc#roomconfig_maxusers");
    assert_true(field_has_value(mu, "1000") && field_has_option(mu, "1000"));
    assert_true(field_has_option(mu, "50"));
    assert_false(field_has_option(mu, "none")); /* the service has a cap */
    struct xml_node *pb = form_field_el(x, "muc#roomconfig_presencebroadcast");
    assert_true(field_has_option(pb, "moderator") && field_has_option(pb, "participant") &&
                field_has_option(pb, "visitor"));
}

/* §10.2.1 notifications: 171/170 logging off/on, 172/173 anonymity, 104 for
 * any other change (with the privacy code when both changed, as Prosody's
 * muc_whois_anyone_member expects), in a groupchat message from the room to
 * every occupant; a submission that changes nothing is not announced.
 * §7.2.12 and §7.2.3: newcomers are warned with 170 and 100. */
static void test_10_2_config_change_codes_104_170_172(void **state)
{
    std_room();
    static const char *const all[] = { OWNER, ALICE, BOB };
    struct {
        const char *fields;
        int codes[3];
    } steps[] = {
        { FV("enablelogging", "0"), { 171 } },
        { FV("enablelogging", "1"), { 170 } },
        { FV("whois", "anyone") FV("moderatedroom", "1"), { 104, 172 } },
        { FV("roomname", "A Dark Cave"), { 104 } },
        { FV("whois", "moderators"), { 173 } },
        { FV("whois", "anyone"), { 172 } },
        { FV("roomname", "A Dark Cave") FV("moderatedroom", "1"), { 0 } },
    };
    static const int every[] = { 104, 170, 171, 172, 173, 174 };
    for (size_t s = 0; s < ARRAY_SIZE(steps); s++) {
        configure(steps[s].fields);
        if (!steps[s].codes[0]) {
            fx_expect_count(0, "message", NULL, NULL, NULL);
            continue;
        }
        for (int i = 0; i < 3; i++) {
            struct xml_node *m = fx_one("message", "groupchat", all[i], ROOM);
            assert_null(stanza_child(m, "body"));
            assert_int_equal(fx_children(xuser(m), "item", NULL), 0);
            for (size_t k = 0; k < ARRAY_SIZE(every); k++) {
                bool want = false;
                for (size_t c = 0; c < 3 && steps[s].codes[c]; c++)
                    want |= steps[s].codes[c] == every[k];
                if (has_code(m, every[k]) != want)
                    fail_msg("step %zu: status %d %s", s, every[k],
                             want ? "missing" : "unexpected");
            }
        }
    }
    send_join(ROOM, EVE, "eve", NULL);
    int self = self_idx(EVE, OCC("eve"));
    assert_true(self >= 0);
    /* No 170 on entry: that is for public logs; the archive is announced by
     * disco and by 170/171 when it is switched (Prosody likewise). */
    assert_false(has_code(fx_at(self), 170));
    assert_true(has_code(fx_at(self), 100));
}

/* [muc] log_by_default (Prosody's muc_log_by_default): new rooms archive unless
 * the service says otherwise; the owner's switch still decides per room. */
static void test_10_2_log_by_default(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    assert_true(room_find(fx.m, ROOM)->cfg.logging);
    fx.m->lim.log_by_default = false;
    create_room("other@" DOMAIN, OWNER, O_NICK);
    assert_false(room_find(fx.m, "other@" DOMAIN)->cfg.logging);
    configure_room("other@" DOMAIN, OWNER, FV("enablelogging", "1"));
    assert_true(room_find(fx.m, "other@" DOMAIN)->cfg.logging);
}

/* One archive switch: the form offers only enablelogging; ejabberd's 'mam' and
 * Prosody's enablearchiving are still read when sent alone, and lose to
 * enablelogging when sent with it. */
static void test_10_2_one_archive_switch(void **state)
{
    std_room();
    configure("<field var='mam'><value>0</value></field>");
    assert_false(room_find(fx.m, ROOM)->cfg.logging);
    configure(FV("enablearchiving", "1"));
    assert_true(room_find(fx.m, ROOM)->cfg.logging);
    configure("<field var='mam'><value>1</value></field>" FV("enablelogging", "0"));
    assert_false(room_find(fx.m, ROOM)->cfg.logging);
}

/* XEP-0004 lets a form processor ignore fields it does not know: clients fill
 * in other servers' fields too (Prosody's allowmemberinvites, pubsub nodes),
 * and Prosody's historylength is read as muc#maxhistoryfetch. */
static void test_10_2_unknown_fields_ignored(void **state)
{
    std_room();
    configure("<field var='{http://prosody.im/protocol/muc}roomconfig_allowmemberinvites'>"
              "<value>1</value></field>"
              "<field var='muc#roomconfig_pubsub'><value>xmpp:ps?;node=x</value></field>"
              "<field var='muc#roomconfig_nosuchthing' type='list-multi'>"
              "<value>what</value><value>ever</value></field>"
              "<field type='fixed'><value>just text</value></field>"
              FV("historylength", "7") FV("roomname", "Known"));
    struct room *room = room_find(fx.m, ROOM);
    assert_string_equal(room->cfg.name, "Known");
    assert_int_equal(room->cfg.history_length, 7);
    configure("<field var='muc#maxhistoryfetch'><value>3</value></field>");
    assert_int_equal(room->cfg.history_length, 3);
}

/* Refused values are named in the error text, "var: what is wrong", and the
 * room keeps its configuration; a form of another FORM_TYPE is a bad request. */
static void test_10_2_invalid_value_names_field(void **state)
{
    std_room();
    static const struct {
        const char *fields, *text;
    } bad[] = {
        { FV("maxusers", "lots"), "muc#roomconfig_maxusers: not a number" },
        { FV("maxusers", "5000"), "muc#roomconfig_maxusers: more than the service allows" },
        { "<field var='muc#maxhistoryfetch'><value>-1</value></field>",
          "muc#maxhistoryfetch: not a number" },
        { FV("membersonly", "maybe"), "muc#roomconfig_membersonly: not a boolean" },
        { FV("whois", "everyone"), "muc#roomconfig_whois: not moderators or anyone" },
        { FV("passwordprotectedroom", "1"),
          "muc#roomconfig_roomsecret: a password-protected room needs a password" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        fx_clear();
        fx_in("<iq type='set' id='bad' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
              "'><x xmlns='jabber:x:data' type='submit'>" FV("roomname", "Changed") "%s</x>"
              "</query></iq>",
              bad[i].fields);
        fx_expect_total(1);
        struct xml_node *e = fx_expect_error("iq", OWNER, ROOM, "not-acceptable", NULL);
        fx_assert_text(xml_child(stanza_child(e, "error"), "text", NS_STANZAS), bad[i].text);
    }
    assert_string_equal(room_find(fx.m, ROOM)->cfg.name, "");
    fx_clear();
    fx_in("<iq type='set' id='ft' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER "'>"
          "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" NS_MUC_REGISTER
          "</value></field>" FV("roomname", "Changed") "</x></query></iq>");
    fx_expect_error("iq", OWNER, ROOM, "bad-request", NULL);
    assert_string_equal(room_find(fx.m, ROOM)->cfg.name, "");
}

/* Prosody's muc_password.scs: a room secret alone protects the room (there
 * is no passwordprotectedroom in Prosody's form), an empty one removes the
 * password, and the occupants are told with 104. */
static void test_10_2_password_by_secret_alone(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    configure(FV("roomsecret", "cauldronburn"));
    fx_clear();
    send_join(ROOM, ALICE, A_NICK, NULL);
    fx_expect_error("presence", ALICE, OCC(A_NICK), "not-authorized", "auth");
    join_id(ROOM, ALICE, A_NICK, "<password>cauldronburn</password>");
    fx_in("<presence type='unavailable' from='" ALICE "' to='" OCC(A_NICK) "'/>");
    configure("<field var='muc#roomconfig_roomsecret'/>");
    struct xml_node *m = fx_one("message", "groupchat", OWNER, ROOM);
    assert_true(has_code(m, 104));
    assert_false(room_find(fx.m, ROOM)->cfg.password_protected);
    join(ROOM, ALICE, A_NICK);
}

/* §10.2: switching to members-only removes non-members with 322, told to
 * them and to the remaining occupants; members stay. */
static void test_10_2_members_only_switch_kicks_322(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    affiliate(ALICE_BARE, "member");
    join(ROOM, ALICE, A_NICK);
    join(ROOM, BOB, B_NICK);
    configure(FV("membersonly", "1"));
    struct xml_node *b = fx_one("presence", "unavailable", BOB, OCC(B_NICK));
    assert_true(has_code(b, 322));
    assert_true(has_code(b, 110));
    assert_item(b, "none", "none");
    static const char *const rest[] = { OWNER, ALICE };
    for (int i = 0; i < 2; i++) {
        struct xml_node *p = fx_one("presence", "unavailable", rest[i], OCC(B_NICK));
        assert_true(has_code(p, 322));
        assert_string_equal(iattr(p, "role"), "none");
    }
    fx_expect_count(0, "presence", "unavailable", NULL, OCC(A_NICK));
    fx_expect_count(0, "presence", "unavailable", NULL, OCC(O_NICK));
}

/* §10.4/§10.5: the only owner cannot stop being one (conflict), by admin
 * item or by an empty roomowners; with a second owner he can. */
static void test_10_6_owner_list_last_owner_conflict(void **state)
{
    std_room();
    admin_set(OWNER, "o1", "<item affiliation='admin' jid='" OWNER_BARE "'/>");
    fx_expect_total(1);
    fx_expect_error("iq", OWNER, ROOM, "conflict", "cancel");

    fx_clear();
    fx_in("<iq type='set' id='o2' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER "'>"
          "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" NS_MUC_ROOMCONFIG
          "</value></field><field var='muc#roomconfig_roomowners'/></x></query></iq>");
    fx_expect_total(1);
    fx_expect_error("iq", OWNER, ROOM, "conflict", "cancel");

    fx_clear();
    admin_get(OWNER, "ol", "<item affiliation='owner'/>");
    struct xml_node *q = xml_child(fx_one("iq", "result", OWNER, ROOM), "query", NS_MUC_ADMIN);
    assert_int_equal(fx_children(q, "item", NULL), 1);
    assert_string_equal(xml_attr(xml_first(q), "jid"), OWNER_BARE);

    fx_clear();
    admin_set(OWNER, "owner1", "<item affiliation='owner' jid='" ALICE_BARE "'/>");
    iq_ok(OWNER, "owner1");
    assert_item(fx_one("presence", AVAIL, BOB, OCC(A_NICK)), "owner", "moderator");
    fx_clear();
    admin_set(OWNER, "o3", "<item affiliation='admin' jid='" OWNER_BARE "'/>");
    iq_ok(OWNER, "o3");
    assert_item(fx_one("presence", AVAIL, BOB, OCC(O_NICK)), "admin", "moderator");
}

/* §10.9 destruction: one unavailable presence per occupant with <destroy/>
 * (venue and reason), a result to the owner; a later join learns the venue
 * through <gone/>. Non-owners are forbidden. */
static void test_10_9_destroy_then_gone_with_venue(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    configure(FV("persistentroom", "1"));
    join(ROOM, ALICE, A_NICK);
    join(ROOM, BOB, B_NICK);
#define DESTROY "<iq type='set' id='%s' from='%s' to='" ROOM "'><query xmlns='" \
                          NS_MUC_OWNER "'><destroy jid='heath@" DOMAIN "'>" \
                          "<reason>Macbeth doth come.</reason></destroy></query></iq>"
    fx_in(DESTROY, "destroytest", ALICE);
    fx_expect_total(1);
    fx_expect_error("iq", ALICE, ROOM, "forbidden", "auth");

    fx_clear();
    fx_in(DESTROY, "begone", OWNER);
    iq_ok(OWNER, "begone");
    static const char *const all[] = { OWNER, ALICE, BOB };
    static const char *const occ[] = { OCC(O_NICK), OCC(A_NICK), OCC(B_NICK) };
    fx_expect_count(3, "presence", NULL, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        struct xml_node *p = fx_one("presence", "unavailable", all[i], occ[i]);
        assert_string_equal(iattr(p, "role"), "none");
        struct xml_node *d = xml_child(xuser(p), "destroy", NS_MUC_USER);
        assert_non_null(d);
        assert_string_equal(xml_attr(d, "jid"), "heath@" DOMAIN);
        fx_assert_text(xml_child(d, "reason", NS_MUC_USER), "Macbeth doth come.");
    }

    fx_clear();
    disco_info(EVE, "d");
    fx_expect_error("iq", EVE, ROOM, "item-not-found", "cancel");
    fx_clear();
    send_join(ROOM, EVE, "eve", NULL);
    fx_expect_total(1);
    struct xml_node *e = fx_expect_error("presence", EVE, OCC("eve"), "gone", "cancel");
    fx_assert_text(xml_child(stanza_child(e, "error"), "gone", NS_STANZAS),
                   "xmpp:heath@" DOMAIN "?join");
}

/* ==================================================================== */
/* IQs between occupants, XEP-0410, XEP-0421, XEP-0359                   */
/* ==================================================================== */

static char *hex(const char *s)
{
    char *out = xmalloc(2 * strlen(s) + 1);
    for (size_t i = 0; s[i]; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned char)s[i]);
    return out;
}

/* §17.4 rule 3: an IQ to an occupant JID is forwarded to the real JID and the
 * answer comes back with the original id; "the MUC service MUST NOT reveal
 * the sender's real JID to the recipient at any time". */
static void test_iq_forwarding_id_rewrite(void **state)
{
    std_room();
    fx_in("<iq type='get' id='v1' from='" ALICE "' to='" OCC(B_NICK) "'>"
          "<vCard xmlns='vcard-temp'/></iq>");
    fx_expect_total(1);
    struct xml_node *fw = fx_one("iq", "get", BOB, OCC(A_NICK));
    assert_non_null(xml_child(fw, "vCard", "vcard-temp"));
    const char *fid = stanza_id(fw);
    assert_non_null(fid);
    assert_string_not_equal(fid, "v1");
    const char *id = fx_keep(xstrdup(fid));
    const char *hx = fx_keep(hex(ALICE));
    bool leaks = strstr(id, ALICE_BARE) || strstr(id, hx);
    /* Apart from the id, nothing in the forwarded IQ names alice. */
    struct xml_node *noid = xml_copy(fw);
    xml_set_attr(noid, "id", "x");
    bool named = serialised_contains(noid, ALICE_BARE);
    xml_unref(noid);
    assert_false(named);

    fx_clear();
    fx_in("<iq type='result' id='%s' from='" BOB "' to='" OCC(A_NICK) "'>"
          "<vCard xmlns='vcard-temp'><FN>Hag</FN></vCard></iq>",
          id);
    fx_expect_total(1);
    struct xml_node *back = fx_one("iq", "result", ALICE, OCC(B_NICK));
    assert_string_equal(stanza_id(back), "v1");
    assert_non_null(xml_child(back, "vCard", "vcard-temp"));
    assert_false(serialised_contains(back, BOB_BARE));

    /* Someone who is not the addressed occupant cannot inject an answer. */
    fx_clear();
    fx_in("<iq type='result' id='%s' from='" EVE "' to='" OCC(A_NICK) "'/>", id);
    fx_expect_total(0);

    assert_false(leaks);
}

/* XEP-0410: the room answers a self-ping itself; a non-occupant gets
 * not-acceptable; a ping to someone else is forwarded. */
static void test_xep0410_self_ping(void **state)
{
    std_room();
    fx_in("<iq type='get' id='s2c1' from='" ALICE "' to='" OCC(A_NICK) "'>"
          "<ping xmlns='urn:xmpp:ping'/></iq>");
    fx_expect_total(1);
    struct xml_node *r = fx_one("iq", "result", ALICE, OCC(A_NICK));
    assert_string_equal(stanza_id(r), "s2c1");

    fx_clear();
    fx_in("<iq type='get' id='s2c2' from='" EVE "' to='" OCC(A_NICK) "'>"
          "<ping xmlns='urn:xmpp:ping'/></iq>");
    fx_expect_total(1);
    fx_expect_error("iq", EVE, OCC(A_NICK), "not-acceptable", NULL);

    fx_clear();
    fx_in("<iq type='get' id='s2c3' from='" ALICE "' to='" OCC(B_NICK) "'>"
          "<ping xmlns='urn:xmpp:ping'/></iq>");
    fx_expect_total(1);
    struct xml_node *fw = fx_one("iq", "get", BOB, OCC(A_NICK));
    assert_non_null(xml_child(fw, "ping", "urn:xmpp:ping"));

    fx_clear();
    disco_info(ALICE, "di");
    struct xml_node *q = xml_child(fx_one("iq", "result", ALICE, ROOM), "query", NS_DISCO_INFO);
    assert_true(has_feature(q, "http://jabber.org/protocol/muc#self-ping-optimization"));
}

/* XEP-0421 §5.1: stable per user and room, distinct between users, opaque,
 * at most 128 characters; SHOULD differ between rooms. */
static void test_xep0421_occupant_id_stable_and_distinct(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    const char *a1 = join_id(ROOM, ALICE, A_NICK, NULL);
    const char *b1 = join_id(ROOM, BOB, B_NICK, NULL);
    assert_string_not_equal(a1, b1);
    assert_true(strlen(a1) <= 128 && strlen(a1) > 0);
    assert_null(strstr(a1, "wicca"));

    /* the same id in messages */
    groupchat(ALICE, "m", "hi");
    assert_string_equal(occ_id(fx_one("message", "groupchat", BOB, OCC(A_NICK))), a1);

    /* leave, come back under another nick from another device: same id */
    fx_clear();
    fx_in("<presence type='unavailable' from='" ALICE "' to='" OCC(A_NICK) "'/>");
    const char *a2 = join_id(ROOM, ALICE2, "other", NULL);
    assert_string_equal(a1, a2);

    /* another room: another id */
    create_room("heath@" DOMAIN, OWNER, O_NICK);
    const char *a3 = join_id("heath@" DOMAIN, ALICE, A_NICK, NULL);
    assert_string_not_equal(a1, a3);
}

/* XEP-0421 §5: "The <occupant-id> element MUST be attached to every message
 * and every presence sent by a MUC" on behalf of an occupant: private
 * messages and subject changes included. */
static void test_xep0421_occupant_id_on_pm_and_subject(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    const char *oid = join_id(ROOM, OWNER, O_NICK, NULL); /* rejoin = resync */
    join(ROOM, BOB, B_NICK);
    fx_in("<message type='chat' id='p' from='" OWNER "' to='" OCC(B_NICK) "'><body>psst</body>"
          "</message>");
    assert_string_equal(occ_id(fx_one("message", "chat", BOB, OCC(O_NICK))), oid);
    fx_clear();
    fx_in("<message type='groupchat' id='s' from='" OWNER "' to='" ROOM "'>"
          "<subject>Fire Burn</subject></message>");
    struct xml_node *m = fx_one("message", "groupchat", BOB, OCC(O_NICK));
    assert_non_null(stanza_child(m, "subject"));
    assert_string_equal(occ_id(m), oid);
}

/* XEP-0359 §7: "Entities observing the value MUST NOT be able to infer any
 * information from it, e.g. the size of the message archive." */
static void test_xep0359_stanza_id_opaque(void **state)
{
    std_room();
    groupchat(ALICE, "a", "one");
    groupchat(ALICE, "b", "two");
    struct xml_node *m1 = fx_at(fx_find("message", "groupchat", BOB, NULL));
    struct xml_node *m2 = fx_at(fx_find_from(fx_find("message", "groupchat", BOB, NULL) + 1,
                                             "message", "groupchat", BOB, NULL));
    const char *i1 = xml_attr(xml_child(m1, "stanza-id", NS_SID), "id");
    const char *i2 = xml_attr(xml_child(m2, "stanza-id", NS_SID), "id");
    assert_non_null(i1);
    assert_non_null(i2);
    assert_string_not_equal(i1, i2);
    char *e1, *e2;
    unsigned long long n1 = strtoull(i1, &e1, 10), n2 = strtoull(i2, &e2, 10);
    bool counter = !*e1 && !*e2 && n2 == n1 + 1;
    assert_false(counter); /* a counter tells the archive's size */
}

/* Prosody CVE-2021-37601: affiliation lists are not for outsiders, nor for a
 * non-member occupant of a semi-anonymous room (§5.2.1 note ***: "members
 * SHOULD NOT be allowed to retrieve the member list"; §9.2, §10.5, §10.8). */
static void test_lists_not_disclosed_to_outsiders(void **state)
{
    std_room();
    affiliate(HECATE_BARE, "member");
    affiliate("admin@shakespeare.example", "admin");
    affiliate("evil.example", "outcast");
    static const char *const lists[] = { "member", "owner", "admin", "outcast" };
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
        fx_clear();
        fx_in("<iq type='get' id='l' from='" EVE "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
              "'><item affiliation='%s'/></query></iq>",
              lists[i]);
        fx_expect_total(1);
        fx_expect_error("iq", EVE, ROOM, "forbidden", "auth");
    }
    /* A participant is not an owner or admin. */
    for (size_t i = 1; i < ARRAY_SIZE(lists); i++) {
        fx_clear();
        fx_in("<iq type='get' id='l' from='" BOB "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
              "'><item affiliation='%s'/></query></iq>",
              lists[i]);
        fx_expect_total(1);
        fx_expect_error("iq", BOB, ROOM, "forbidden", "auth");
    }
    /* The owner does see them (so the above are real refusals). */
    fx_clear();
    admin_get(OWNER, "l", "<item affiliation='member'/>");
    struct xml_node *q = xml_child(fx_one("iq", "result", OWNER, ROOM), "query", NS_MUC_ADMIN);
    assert_int_equal(fx_children(q, "item", NULL), 1);
    /* Not the member list for a participant of a semi-anonymous room by
     * default (its getmemberlist names moderators: CVE-2021-37601)... */
    fx_clear();
    admin_get(BOB, "l", "<item affiliation='member'/>");
    fx_expect_total(1);
    fx_expect_error("iq", BOB, ROOM, "forbidden", "auth");
    /* ...but when the owner's form names participants, it does (issue 11). */
    configure("<field var='muc#roomconfig_getmemberlist'><value>moderator</value>"
              "<value>participant</value></field>");
    fx_clear();
    admin_get(BOB, "l", "<item affiliation='member'/>");
    q = xml_child(fx_one("iq", "result", BOB, ROOM), "query", NS_MUC_ADMIN);
    assert_int_equal(fx_children(q, "item", NULL), 1);
}

/* Service policy (§7.4 "service-level policies"): a burst past the bucket
 * waits in the sender's queue and goes out as tokens come, in order; past the
 * queue it is refused with resource-constraint (wait) saying when to retry. */
static void test_rate_limit_shapes_then_refuses(void **state)
{
    std_room();
    unsigned burst = fx.m->lim.msg_burst, rate = fx.m->lim.msg_rate, queue = fx.m->lim.msg_queue;
    assert_true(burst > 0 && rate > 0 && queue > 0);
    for (unsigned i = 0; i < burst; i++)
        groupchat(ALICE, "f", "flood");
    fx_expect_count(0, NULL, "error", NULL, NULL);
    fx_expect_count((int)burst * 3, "message", "groupchat", NULL, OCC(A_NICK));
    fx_clear();
    char id[16];
    for (unsigned i = 0; i < queue; i++) {
        snprintf(id, sizeof id, "q%u", i);
        groupchat(ALICE, id, "waits its turn");
    }
    fx_expect_total(0);
    assert_true(muc_shaping(fx.m));
    groupchat(ALICE, "over", "one too many");
    fx_expect_total(1);
    struct xml_node *e = fx_expect_error("message", ALICE, ROOM, "resource-constraint", "wait");
    char *text = fx_text(xml_child(xml_child(e, "error", NULL), "text", NULL));
    assert_non_null(strstr(text, "retry in"));
    free(text);
    fx_clear();

    /* Its leave queues behind its messages: the room sees them first. */
    fx_in("<presence type='unavailable' from='" ALICE "' to='" OCC(A_NICK) "'/>");
    fx_expect_total(0);
    unsigned released = 0, rounds = 0;
    while (muc_shaping(fx.m) && rounds++ < 10 * queue) {
        fx.now += 1000 / rate + 1;
        muc_shape_release(fx.m);
        int n = fx_count("message", "groupchat", OWNER, OCC(A_NICK));
        assert_true(n <= (int)released + 1); /* one token per interval */
        released = (unsigned)n;
    }
    assert_false(muc_shaping(fx.m));
    assert_int_equal(released, queue);
    fx_expect_count(0, NULL, "error", NULL, NULL);
    int at = -1;
    for (unsigned i = 0; i < queue; i++) {
        snprintf(id, sizeof id, "q%u", i);
        at = fx_find_from(at + 1, "message", "groupchat", OWNER, OCC(A_NICK));
        assert_true(at >= 0);
        assert_string_equal(xml_attr(fx_at(at), "id"), id);
    }
    assert_true(fx_find("presence", "unavailable", OWNER, OCC(A_NICK)) > at);

    /* Presence floods too: updates past the burst wait, past the queue they are refused. */
    fx_clear();
    unsigned pburst = fx.m->lim.presence_burst, pqueue = fx.m->lim.presence_queue;
    for (unsigned i = 0; i <= pburst + pqueue; i++)
        fx_in("<presence from='" BOB "' to='" OCC(B_NICK) "'><status>%u</status></presence>", i);
    fx_expect_count(1, "presence", "error", BOB, NULL);
    fx_assert_stanza_error(fx_one("presence", "error", BOB, NULL), "resource-constraint", "wait");
    fx_expect_count((int)pburst, "presence", AVAIL, OWNER, OCC(B_NICK));
}

/* [muc] rate_exempt_moderators: the owner's burst goes out at once; a
 * participant's still waits. */
static void test_rate_exempt_moderators(void **state)
{
    std_room();
    fx.m->lim.rate_exempt_moderators = true;
    unsigned n = fx.m->lim.msg_burst + 5;
    for (unsigned i = 0; i < n; i++)
        groupchat(OWNER, "o", "announcement");
    fx_expect_count((int)n * 3, "message", "groupchat", NULL, OCC(O_NICK));
    assert_false(muc_shaping(fx.m));
    for (unsigned i = 0; i < n; i++)
        groupchat(BOB, "b", "chatter");
    fx_expect_count((int)fx.m->lim.msg_burst * 3, "message", "groupchat", NULL, OCC(B_NICK));
    assert_true(muc_shaping(fx.m));
}

/* §7.2.8: the same bare JID may join twice under one nick: messages go to
 * every session, another user still conflicts, one device leaving does not
 * make the occupant leave. */
static void test_multi_session_same_nick(void **state)
{
    std_room();
    send_join(ROOM, ALICE2, A_NICK, NULL);
    int self = self_idx(ALICE2, OCC(A_NICK));
    assert_true(self >= 0);
    assert_true(fx_find("presence", AVAIL, ALICE2, OCC(O_NICK)) < self);
    assert_true(fx_find("presence", AVAIL, ALICE2, OCC(B_NICK)) < self);
    fx_expect_count(0, "presence", "unavailable", NULL, NULL);

    fx_clear();
    groupchat(BOB, "m", "to both of you");
    fx_expect_count(4, "message", "groupchat", NULL, OCC(B_NICK));
    fx_one("message", "groupchat", ALICE, NULL);
    fx_one("message", "groupchat", ALICE2, NULL);

    fx_clear();
    groupchat(ALICE2, "m2", "from the phone");
    fx_expect_count(4, "message", "groupchat", NULL, OCC(A_NICK));

    fx_clear();
    fx_in("<message type='chat' id='pm' from='" BOB "' to='" OCC(A_NICK) "'><body>psst</body>"
          "</message>");
    fx_one("message", "chat", ALICE, OCC(B_NICK));
    fx_one("message", "chat", ALICE2, OCC(B_NICK));

    fx_clear();
    send_join(ROOM, EVE, A_NICK, NULL);
    fx_expect_total(1);
    fx_expect_error("presence", EVE, OCC(A_NICK), "conflict", "cancel");

    fx_clear();
    fx_in("<presence type='unavailable' from='" ALICE2 "' to='" OCC(A_NICK) "'/>");
    struct xml_node *gone = fx_one("presence", "unavailable", ALICE2, OCC(A_NICK));
    assert_true(has_code(gone, 110));
    fx_expect_count(0, "presence", "unavailable", OWNER, NULL);
    fx_expect_count(0, "presence", "unavailable", BOB, NULL);
    fx_expect_count(0, "presence", "unavailable", ALICE, NULL);
    fx_clear();
    groupchat(BOB, "m3", "still there?");
    fx_expect_count(3, "message", "groupchat", NULL, OCC(B_NICK));
    fx_expect_count(0, "message", NULL, ALICE2, NULL);
}

/* §11.1 / §18.1.2 ghost users: a delivery error from the occupant's client
 * removes it, with 333 to everyone; errors are never answered. */
static void test_error_bounce_removes_occupant_333(void **state)
{
    std_room();
    fx_in("<message type='error' from='" BOB "' to='" OCC(A_NICK) "'><body>x</body>"
          "<error type='wait'><recipient-unavailable xmlns='" NS_STANZAS "'/></error></message>");
    static const char *const rest[] = { OWNER, ALICE };
    for (int i = 0; i < 2; i++) {
        struct xml_node *p = fx_one("presence", "unavailable", rest[i], OCC(B_NICK));
        assert_true(has_code(p, 333));
        assert_false(has_code(p, 110));
        assert_item(p, "none", "none");
    }
    fx_expect_count(0, NULL, "error", NULL, NULL);
    fx_clear();
    groupchat(BOB, "g", "?");
    fx_expect_error("message", BOB, ROOM, "not-acceptable", NULL);

    /* The same through a presence error. */
    join(ROOM, BOB, B_NICK);
    fx_in("<presence type='error' from='" BOB "' to='" OCC(B_NICK) "'>"
          "<error type='cancel'><remote-server-not-found xmlns='" NS_STANZAS "'/></error>"
          "</presence>");
    for (int i = 0; i < 2; i++) {
        struct xml_node *p = fx_one("presence", "unavailable", rest[i], OCC(B_NICK));
        assert_true(has_code(p, 333));
        assert_string_equal(iattr(p, "role"), "none");
    }
    fx_expect_count(0, NULL, "error", NULL, NULL);
}

/* §17.1: "a MUC service MUST NOT allow empty or invisible Room Nicknames";
 * nothing is created for a refused nick, and a change to one is refused. */
static void test_nick_rejected_empty_whitespace_invisible(void **state)
{
    static const char *const bad[] = {
        " ",            /* space */
        "   ",          /* spaces */
        "\xC2\xA0",     /* U+00A0 no-break space */
        "\xE2\x80\x8B", /* U+200B zero width space */
        "\xE2\x81\xA0", /* U+2060 word joiner */
        "\xEF\xBB\xBF", /* U+FEFF */
        "\xE3\x80\x80", /* U+3000 ideographic space */
        "\xE3\x85\xA4", /* U+3164 hangul filler: default-ignorable, renders as nothing */
    };
    /* A nick change to any of them is refused, no 303 goes out. */
    std_room();
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        fx_clear();
        fx_in("<presence from='" BOB "' to='" ROOM "/%s'/>", bad[i]);
        if (fx.n != 1)
            fprintf(stderr, "nick change to bad nick #%zu accepted\n", i);
        fx_expect_total(1);
        assert_string_equal(xml_attr(fx_at(0), "type"), "error");
    }
    /* Nor can anyone enter, or create a room, with one. */
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        fx_clear();
        fx_in("<presence from='" EVE "' to='fresh@" DOMAIN "/%s'><x xmlns='" NS_MUC
              "'/></presence>",
              bad[i]);
        if (fx.n != 1)
            fprintf(stderr, "join with bad nick #%zu accepted\n", i);
        fx_expect_total(1);
        struct xml_node *e = fx_at(0);
        assert_string_equal(e->name, "presence");
        assert_string_equal(xml_attr(e, "type"), "error");
        const char *c = stanza_error_condition(stanza_child(e, "error"), NS_STANZAS);
        assert_true(str_eq(c, "not-acceptable") || str_eq(c, "jid-malformed"));
        assert_null(room_find(fx.m, "fresh@" DOMAIN));
    }
}

/* §6.3 discovering rooms: hidden and locked rooms are not listed. */
static void test_service_disco_items_public_only(void **state)
{
    create_room("open@" DOMAIN, OWNER, O_NICK);
    create_room("hidden@" DOMAIN, OWNER, O_NICK);
    configure_room("hidden@" DOMAIN, OWNER, FV("publicroom", "0"));
    join("locked@" DOMAIN, OWNER, O_NICK);
    fx_clear();
    fx_in("<iq type='get' id='items' from='" EVE "' to='" DOMAIN "'><query xmlns='" NS_DISCO_ITEMS
          "'/></iq>");
    struct xml_node *q = xml_child(fx_one("iq", "result", EVE, DOMAIN), "query", NS_DISCO_ITEMS);
    assert_non_null(q);
    assert_int_equal(fx_children(q, "item", NULL), 1);
    assert_string_equal(xml_attr(xml_first(q), "jid"), "open@" DOMAIN);
}

/* muc#unique (XEP-0045 ≤1.21 §10.1.4): a fresh name each time. */
static void test_unique_room_name(void **state)
{
#define UREQ "<iq type='get' id='%s' from='" OWNER "' to='" DOMAIN "'>" \
                      "<unique xmlns='" NS_MUC_UNIQUE "'/></iq>"
    fx_in(UREQ, "u1");
    fx_in(UREQ, "u2");
    fx_expect_total(2);
    const char *name[2];
    for (int i = 0; i < 2; i++) {
        struct xml_node *r = fx_at(i);
        assert_string_equal(xml_attr(r, "type"), "result");
        assert_string_equal(stanza_from(r), DOMAIN);
        assert_string_equal(stanza_to(r), OWNER);
        assert_string_equal(stanza_id(r), i ? "u2" : "u1");
        struct xml_node *u = xml_child(r, "unique", NS_MUC_UNIQUE);
        assert_non_null(u);
        name[i] = fx_keep(xml_text(u));
        assert_true(strlen(name[i]) >= 16);
        struct jid j = { 0 };
        const char *roomjid = fx_keep(xasprintf("%s@%s", name[i], DOMAIN));
        assert_int_equal(jid_parse(&j, roomjid), 0); /* usable as a room name */
        jid_clear(&j);
    }
    assert_string_not_equal(name[0], name[1]);
}

#define T(f) FX_TEST(f, &opts)

/* ---- issue 11: what real clients and Prosody's own MUC tests expect ---- */

/* §7.2.x examples: a refused join carries <x xmlns='…muc'/> (profanity matches
 * the error to its pending join by it) and names the room in 'by'; every
 * client of a user gives the password itself; wrong and missing passwords
 * say which. */
static void test_i11_error_presence_x_by_and_password_per_client(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    configure(FV("passwordprotectedroom", "1") FV("roomsecret", "cauldronburn"));
    fx_clear();
    send_join(ROOM, BOB, B_NICK, NULL);
    struct xml_node *e = fx_expect_error("presence", BOB, OCC(B_NICK), "not-authorized", "auth");
    assert_non_null(xml_child(e, "x", NS_MUC));
    struct xml_node *err = stanza_child(e, "error");
    assert_string_equal(xml_attr(err, "by"), ROOM);
    char *why = xml_text(xml_child(err, "text", NS_STANZAS));
    assert_non_null(strstr(why, "needs a password"));
    free(why);
    fx_clear();
    send_join(ROOM, BOB, B_NICK, "<password>cauldron</password>");
    e = fx_expect_error("presence", BOB, OCC(B_NICK), "not-authorized", "auth");
    char *t = xml_text(xml_child(stanza_child(e, "error"), "text", NS_STANZAS));
    assert_non_null(strstr(t, "not correct"));
    free(t);
    join_id(ROOM, ALICE, A_NICK, "<password>cauldronburn</password>");
    /* Alice's phone joins the same nick without the password: refused. */
    fx_clear();
    send_join(ROOM, ALICE2, A_NICK, NULL);
    fx_expect_total(1);
    fx_expect_error("presence", ALICE2, OCC(A_NICK), "not-authorized", "auth");
    fx_clear();
    send_join(ROOM, ALICE2, A_NICK, "<password>cauldronburn</password>");
    assert_true(fx_find("presence", AVAIL, ALICE2, OCC(A_NICK)) >= 0);
}

/* Every error comes from the address the client wrote to, also for nicks the
 * engine refuses: a nick outside Unicode 3.2 (Prosody: strict resourceprep)
 * and one over the length limit, whose error says the limit. */
static void test_i11_nick_errors_from_addressed_jid(void **state)
{
    create_room(ROOM, OWNER, O_NICK);
    fx_clear();
    send_join(ROOM, BOB, "\xf0\x9f\xa4\x96", NULL);
    struct xml_node *e = fx_expect_error("presence", BOB, OCC("\xf0\x9f\xa4\x96"), "jid-malformed",
                                         "modify");
    assert_string_equal(xml_attr(stanza_child(e, "error"), "by"), ROOM);
    fx_clear();
    char *longnick = xmalloc(200);
    memset(longnick, 'n', 199);
    longnick[199] = '\0';
    send_join(ROOM, BOB, fx_keep(longnick), NULL);
    e = fx_expect_error("presence", BOB, fx_keep(xasprintf("%s/%s", ROOM, longnick)),
                        "not-acceptable", "modify");
    char *t = xml_text(xml_child(stanza_child(e, "error"), "text", NS_STANZAS));
    assert_non_null(strstr(t, "at most 128 bytes"));
    free(t);
}

/* A nick that only differs by a confusable letter of another script (UTS #39:
 * Cyrillic 'а' for Latin 'a') is refused while its lookalike is inside. */
static void test_i11_confusable_nick_refused(void **state)
{
    std_room();
    send_join(ROOM, EVE, "s\xd0\xb5" "condwitch", NULL); /* Cyrillic ie for 'e' */
    fx_expect_total(1);
    fx_expect_error("presence", EVE, OCC("s\xd0\xb5" "condwitch"), "conflict", "cancel");
    fx_clear();
    /* A nick that merely shares letters is not a lookalike. */
    join(ROOM, HECATE, "second\xd0\xb2itch");
}

/* RFC 6121 probes from an occupant get the probed occupant's presence; from
 * outside, not-acceptable; for a registered member who is away, an
 * unavailable presence with the reserved nick (Prosody's muc_presence_probe). */
static void test_i11_presence_probe(void **state)
{
    std_room();
    fx_in("<presence type='probe' from='" ALICE "' to='" OCC(B_NICK) "'/>");
    fx_expect_total(1);
    struct xml_node *p = fx_one("presence", AVAIL, ALICE, OCC(B_NICK));
    assert_item(p, "none", "participant");
    assert_false(has_code(p, 110));
    fx_clear();
    fx_in("<presence type='probe' from='" EVE "' to='" OCC(B_NICK) "'/>");
    fx_expect_total(1);
    fx_expect_error("presence", EVE, OCC(B_NICK), "not-acceptable", "cancel");
    fx_clear();
    fx_in("<iq type='set' id='m1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item affiliation='member' jid='" HECATE_BARE "' nick='hecate'/></query></iq>");
    fx_clear();
    fx_in("<presence type='probe' from='" OWNER "' to='" OCC("hecate") "'/>");
    p = fx_one("presence", "unavailable", OWNER, OCC("hecate"));
    assert_item(p, "member", "none");
    assert_string_equal(iattr(p, "nick"), "hecate");
    assert_string_equal(iattr(p, "jid"), HECATE_BARE);
    fx_clear();
    fx_in("<presence type='probe' from='" OWNER "' to='" OCC("nobody") "'/>");
    fx_expect_total(0);
}

/* §9.3–9.8: the affiliation change of someone not in the room is announced to
 * those who may see real JIDs (moderators in a semi-anonymous room), before
 * the result; the user hears of it out of band with 101 (§17.2). */
static void test_i11_absent_affiliation_announced(void **state)
{
    std_room();
    admin_set(OWNER, "m1", "<item affiliation='member' jid='" HECATE_BARE "'/>");
    int ann = fx_find("message", AVAIL, OWNER, ROOM);
    assert_true(ann >= 0);
    assert_true(ann < result_idx(OWNER, "m1"));
    assert_string_equal(iattr(fx_at(ann), "affiliation"), "member");
    assert_string_equal(iattr(fx_at(ann), "jid"), HECATE_BARE);
    /* Participants of a semi-anonymous room do not learn the JID. */
    fx_expect_count(0, "message", NULL, ALICE, ROOM);
    struct xml_node *oob = fx_one("message", AVAIL, HECATE_BARE, ROOM);
    assert_true(has_code(oob, 101));
    assert_non_null(stanza_child(oob, "body"));
    /* In a non-anonymous room everyone hears it. */
    configure(FV("whois", "anyone"));
    fx_clear();
    admin_set(OWNER, "m2", "<item affiliation='outcast' jid='" HECATE_BARE "'/>");
    struct xml_node *m = fx_one("message", AVAIL, ALICE, ROOM);
    assert_string_equal(iattr(m, "affiliation"), "outcast");
    assert_true(has_code(m, 301));
    /* An occupant's change is a presence, not this message. */
    fx_clear();
    admin_set(OWNER, "m3", "<item affiliation='member' jid='" BOB_BARE "'/>");
    fx_expect_count(0, "message", NULL, NULL, ROOM);
}

/* §9.1 a ban of a whole server removes its users who are inside (301). */
static void test_i11_domain_ban_removes_occupants(void **state)
{
    std_room();
    join(ROOM, EVE, "eve");
    fx_clear();
    admin_set(OWNER, "b1", "<item affiliation='outcast' jid='evil.example'/>");
    struct xml_node *p = fx_one("presence", "unavailable", EVE, OCC("eve"));
    assert_true(has_code(p, 301));
    assert_true(has_code(p, 110));
    assert_true(fx_find("presence", "unavailable", ALICE, OCC("eve")) >= 0);
    fx_clear();
    send_join(ROOM, EVE, "eve", NULL);
    fx_expect_error("presence", EVE, OCC("eve"), "forbidden", "auth");
}

/* A mediated invitation keeps the inviter's stanza id, names the inviter by
 * occupant JID in a semi-anonymous room and carries a <reason/>. */
static void test_i11_invite_keeps_id(void **state)
{
    std_room();
    fx_in("<message id='invite1' from='" ALICE "' to='" ROOM "'><x xmlns='" NS_MUC_USER
          "'><invite to='" HECATE_BARE "'/></x></message>");
    struct xml_node *m = fx_one("message", NULL, HECATE_BARE, ROOM);
    assert_string_equal(stanza_id(m), "invite1");
    struct xml_node *inv = xml_child(xml_child(m, "x", NS_MUC_USER), "invite", NS_MUC_USER);
    assert_string_equal(xml_attr(inv, "from"), OCC(A_NICK));
    assert_non_null(xml_child(inv, "reason", NS_MUC_USER));
}

/* A <subject/> with a <thread/> is a message (§8.1), and it goes into
 * history; chat states and no-store do not (XEP-0334). */
static void test_i11_historic_messages(void **state)
{
    std_room();
    fx_in("<message type='groupchat' id='t' from='" ALICE "' to='" ROOM "'><subject>New thread"
          "</subject><thread>t1</thread><store xmlns='urn:xmpp:hints'/></message>");
    fx_in("<message type='groupchat' id='cs' from='" ALICE "' to='" ROOM "'><composing xmlns="
          "'http://jabber.org/protocol/chatstates'/></message>");
    /* The chat state is relayed, without a stanza-id. */
    int i = fx_find("message", "groupchat", BOB, OCC(A_NICK));
    int j = fx_find_from(i + 1, "message", "groupchat", BOB, OCC(A_NICK));
    assert_true(j > i);
    assert_null(xml_child(fx_at(j), "stanza-id", NS_SID));
    assert_non_null(xml_child(fx_at(i), "stanza-id", NS_SID));
    fx_clear();
    send_join(ROOM, HECATE, "hecate", NULL);
    /* History: the thread message only; the subject stays the room's (none). */
    fx_expect_count(1, "message", "groupchat", HECATE, OCC(A_NICK));
    struct xml_node *h = fx_one("message", "groupchat", HECATE, OCC(A_NICK));
    assert_non_null(stanza_child(h, "thread"));
    struct xml_node *subj = fx_one("message", "groupchat", HECATE, ROOM);
    assert_non_null(stanza_child(subj, "subject"));
}

/* §10.9 the alternate venue of a destruction must be a room JID. */
static void test_i11_destroy_venue_validated(void **state)
{
    std_room();
    fx_in("<iq type='set' id='d1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'><destroy jid='not a jid@@'/></query></iq>");
    fx_expect_total(1);
    fx_expect_error("iq", OWNER, ROOM, "jid-malformed", "modify");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_7_2_room_creation_201_110),
        T(test_7_2_ordering_roster_then_self),
        T(test_7_2_non_anonymous_jids_and_100),
        T(test_7_2_1_no_nick_and_typed_presence),
        T(test_7_2_3_nick_conflict),
        T(test_7_2_5_password),
        T(test_7_2_6_members_only),
        T(test_7_2_7_banned),
        T(test_7_2_9_full_room),
        T(test_7_2_15_history_maxstanzas_with_delay),
        T(test_7_2_16_subject_on_join),
        T(test_7_3_presence_change_broadcast),
        T(test_7_4_leave_110),
        T(test_7_6_nick_change_303),
        T(test_7_5_private_message),
        T(test_7_8_mediated_invite_with_xep0249),
        T(test_7_8_decline),
        T(test_7_9_groupchat_fanout_stanza_id_occupant_id),
        T(test_7_9_spoofed_payload_stripped),
        T(test_7_10_register_nick),
        T(test_7_12_reserved_nick_disco),
        T(test_8_1_subject_permission),
        T(test_8_2_kick_307),
        T(test_8_3_grant_voice),
        T(test_8_4_revoke_voice),
        T(test_8_5_voice_list_full_jid),
        T(test_8_6_voice_request),
        T(test_9_1_ban_301),
        T(test_9_3_grant_membership),
        T(test_9_4_revoke_membership_members_only_321),
        T(test_9_x_admin_cannot_act_on_owner),
        T(test_10_1_2_locked_room_item_not_found_for_others),
        T(test_10_1_2_instant_room),
        T(test_10_1_3_cancel_destroys_room),
        T(test_10_2_config_form_fields),
        T(test_10_2_config_change_codes_104_170_172),
        T(test_10_2_log_by_default),
        T(test_10_2_one_archive_switch),
        T(test_10_2_unknown_fields_ignored),
        T(test_10_2_invalid_value_names_field),
        T(test_10_2_password_by_secret_alone),
        T(test_10_2_members_only_switch_kicks_322),
        T(test_10_6_owner_list_last_owner_conflict),
        T(test_10_9_destroy_then_gone_with_venue),
        T(test_iq_forwarding_id_rewrite),
        T(test_xep0410_self_ping),
        T(test_xep0421_occupant_id_stable_and_distinct),
        T(test_xep0421_occupant_id_on_pm_and_subject),
        T(test_xep0359_stanza_id_opaque),
        T(test_lists_not_disclosed_to_outsiders),
        T(test_rate_limit_shapes_then_refuses),
        T(test_rate_exempt_moderators),
        T(test_multi_session_same_nick),
        T(test_error_bounce_removes_occupant_333),
        T(test_nick_rejected_empty_whitespace_invisible),
        T(test_service_disco_items_public_only),
        T(test_unique_room_name),
        T(test_i11_error_presence_x_by_and_password_per_client),
        T(test_i11_nick_errors_from_addressed_jid),
        T(test_i11_confusable_nick_refused),
        T(test_i11_presence_probe),
        T(test_i11_absent_affiliation_announced),
        T(test_i11_domain_ban_removes_occupants),
        T(test_i11_invite_keeps_id),
        T(test_i11_historic_messages),
        T(test_i11_destroy_venue_validated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
