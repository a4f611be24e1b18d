/* XEP-0313 MAM on rooms, driven through muc_handle() with a fake clock and
 * every outgoing stanza captured in order. Most tests use the in-memory
 * archive (no store: the room's history ring); the last ones plug in a fake
 * store to check what the engine asks of it and how it presents the answer
 * (real JIDs, errors). Section numbers are those of XEP-0313 1.1 and
 * XEP-0059 1.0 in the workspace. */
#include "muc_harness.h"

#include "datetime.h"

#define ROOM "coven@" DOMAIN
#define ROOM2 "heath@" DOMAIN
#define OCC(nick) ROOM "/" nick

#define OWNER_BARE "crone@shakespeare.example"
#define ALICE_BARE "wicca@shakespeare.example"
#define BOB "hag@shakespeare.example/pda"
#define BOB_BARE "hag@shakespeare.example"
#define EVE "eve@evil.example/lair"
#define EVE_BARE "eve@evil.example"

#define O_NICK "firstwitch"
#define A_NICK "secondwitch"
#define B_NICK "thirdwitch"

#define NS_MAM "urn:xmpp:mam:2"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_FORWARD "urn:xmpp:forward:0"
#define FULLTEXT "{urn:xmpp:fulltext:0}fulltext"

#define FV(var, val) "<field var='muc#roomconfig_" var "'><value>" val "</value></field>"
#define LOGGING FV("enablelogging", "1") FV("historylength", "100")

static const unsigned char key[32] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
static struct fx_opts opts = { .key = key, .fast = true };

static const char *text_of(const struct xml_node *n)
{
    return n ? fx_keep(xml_text(n)) : NULL;
}

/* A page of results as the requester saw it. */
struct page {
    size_t n;
    const char *ids[128];
    const char *bodies[128];
    const struct xml_node *fwd[128];   /* the forwarded <message/> */
    const struct xml_node *result[128];
    const struct xml_node *fin;
    bool complete;
    const char *first, *last, *first_index, *count;
};

static void read_page(const char *to, const char *id, struct page *p)
{
    memset(p, 0, sizeof *p);
    struct xml_node *r = fx_result(id);
    p->fin = xml_child(r, "fin", NS_MAM);
    assert_non_null(p->fin);
    const char *c = xml_attr(p->fin, "complete");
    assert_true(str_eq(c, "true") || str_eq(c, "false"));
    p->complete = str_eq(c, "true");
    struct xml_node *set = xml_child(p->fin, "set", NS_RSM);
    assert_non_null(set);
    struct xml_node *first = xml_child(set, "first", NS_RSM);
    p->first = text_of(first);
    p->first_index = first ? xml_attr(first, "index") : NULL;
    p->last = text_of(xml_child(set, "last", NS_RSM));
    p->count = text_of(xml_child(set, "count", NS_RSM));
    for (size_t i = 0; i < fx.n; i++) {
        const struct xml_node *st = fx.out[i].st;
        const struct xml_node *res = xml_child(st, "result", NS_MAM);
        if (strcmp(st->name, "message") != 0 || !res || !str_eq(stanza_to(st), to))
            continue;
        assert_true(p->n < ARRAY_SIZE(p->ids));
        const struct xml_node *fwd = xml_child(res, "forwarded", NS_FORWARD);
        assert_non_null(fwd);
        p->result[p->n] = res;
        p->ids[p->n] = xml_attr(res, "id");
        p->fwd[p->n] = xml_child(fwd, "message", NS_CLIENT);
        assert_non_null(p->fwd[p->n]);
        p->bodies[p->n] = text_of(xml_child(p->fwd[p->n], "body", NS_CLIENT));
        p->n++;
    }
}

/* ---- driving the room ---- */

static void join(const char *room, const char *full, const char *nick)
{
    fx_in("<presence from='%s' to='%s/%s'><x xmlns='" NS_MUC "'/></presence>", full, room, nick);
}

static void configure_room(const char *room, const char *fields)
{
    fx_clear();
    fx_in("<iq type='set' id='cfg' from='" OWNER "' to='%s'><query xmlns='" NS_MUC_OWNER "'>"
          "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" NS_MUC_ROOMCONFIG
          "</value></field>%s</x></query></iq>",
          room, fields);
    fx_result("cfg");
    fx_clear();
}

/* Owner creates the room with the given configuration; alice and bob join. */
static void room_with(const char *fields)
{
    join(ROOM, OWNER, O_NICK);
    configure_room(ROOM, fields);
    join(ROOM, ALICE, A_NICK);
    join(ROOM, BOB, B_NICK);
    fx_clear();
}

static void std_room(void)
{
    room_with(LOGGING);
}

static void say(const char *from, const char *body)
{
    fx_in("<message type='groupchat' id='m' from='%s' to='" ROOM "'><body>%s</body></message>",
          from, body);
}

/* n messages from alice, "m1".."mn", one second apart, starting at T0 + 1 s. */
static void say_n(int n)
{
    for (int i = 1; i <= n; i++) {
        char body[16];
        fx.now = T0 + i * 1000;
        snprintf(body, sizeof body, "m%d", i);
        say(ALICE, body);
    }
    fx_clear();
}

/* A MAM query from `from` with the given children of <query/>. */
static void query(const char *from, const char *id, const char *inner)
{
    fx_clear();
    fx_in("<iq type='set' id='%s' from='%s' to='" ROOM "'><query xmlns='" NS_MAM "' queryid='q-%s'>"
          "%s</query></iq>",
          id, from, id, inner);
}

static void page_of(const char *from, const char *inner, struct page *p)
{
    query(from, "pg", inner);
    read_page(from, "pg", p);
}

#define FORM(fields) \
    "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" NS_MAM \
    "</value></field>" fields "</x>"
#define FIELD(var, val) "<field var='" var "'><value>" val "</value></field>"

static char *rsm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *rsm(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL, *out = NULL;
    assert_true(vasprintf(&s, fmt, ap) >= 0);
    va_end(ap);
    assert_true(asprintf(&out, "<set xmlns='" NS_RSM "'>%s</set>", s) >= 0);
    free(s);
    return (char *)fx_keep(out);
}

static void expect_bodies(const struct page *p, int from, int to)
{
    int want = to >= from ? to - from + 1 : 0;
    if (p->n != (size_t)want) {
        fprintf(stderr, "expected m%d..m%d, got %zu results:\n", from, to, p->n);
        fx_dump();
    }
    assert_int_equal(p->n, want);
    for (int i = 0; i < want; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%d", from + i);
        assert_string_equal(p->bodies[i], body);
    }
}

static const char *sid_of(uint64_t seq, const char *room)
{
    char *id = xmalloc(33);
    stanzaid_encode(fx.m->sid, room, seq, id);
    return fx_keep(id);
}

/* ---- §4.1.6: the query form; §7: disco ---- */

static void test_form_lists_fields(void **state)
{
    std_room();
    fx_in("<iq type='get' id='f1' from='" ALICE "' to='" ROOM "'><query xmlns='" NS_MAM "'/></iq>");
    struct xml_node *q = xml_child(fx_result("f1"), "query", NS_MAM);
    assert_non_null(q);
    struct xml_node *x = xml_child(q, "x", "jabber:x:data");
    assert_non_null(x);
    assert_string_equal(xml_attr(x, "type"), "form");
    static const char *const want[][2] = {
        { "FORM_TYPE", "hidden" }, { "with", "jid-single" },  { "start", "text-single" },
        { "end", "text-single" },  { "before-id", "text-single" },
        { "after-id", "text-single" }, { "ids", "list-multi" }, { FULLTEXT, "text-single" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        struct xml_node *f = form_field_el(x, want[i][0]);
        if (!f)
            fail_msg("field %s missing", want[i][0]);
        assert_string_equal(xml_attr(f, "type"), want[i][1]);
        /* §4.1: servers MUST NOT mark any field required. */
        assert_null(xml_child(f, "required", NULL));
    }
    assert_string_equal(text_of(xml_child(form_field_el(x, "FORM_TYPE"), "value", NULL)), NS_MAM);
    /* §4.1.6: 'ids' carries an open XEP-0122 validate, no option list. */
    struct xml_node *v = xml_child(form_field_el(x, "ids"), "validate", NULL);
    assert_non_null(v);
    assert_non_null(xml_child(v, "open", NULL));
}

static struct xml_node *room_disco(void)
{
    fx_clear();
    fx_in("<iq type='get' id='d1' from='" EVE "' to='" ROOM "'><query xmlns='" NS_DISCO_INFO
          "'/></iq>");
    return xml_child(fx_result("d1"), "query", NS_DISCO_INFO);
}

/* §7: a logging room advertises mam:2 and #extended, XEP-0431 its feature; a
 * room that does not log neither advertises nor answers the namespace. */
static void test_disco_and_logging_off(void **state)
{
    room_with(FV("enablelogging", "0"));
    say(ALICE, "unlogged");
    struct xml_node *q = room_disco();
    assert_false(has_feature(q, NS_MAM));
    assert_false(has_feature(q, "urn:xmpp:mam:2#extended"));
    query(ALICE, "x1", "");
    fx_error("x1", "service-unavailable", NULL, NULL);
    configure_room(ROOM, FV("enablelogging", "1"));
    q = room_disco();
    assert_true(has_feature(q, NS_MAM));
    assert_true(has_feature(q, "urn:xmpp:mam:2#extended"));
    assert_true(has_feature(q, "urn:xmpp:fulltext:0"));
}

/* ---- §4.2, §7.1.2: what a result looks like ---- */

static void test_result_stanza_shape(void **state)
{
    std_room();
    fx.now = T0 + 1234;
    fx_in("<message type='groupchat' id='orig-1' from='" BOB "' to='" ROOM "'><body>Thrice the "
          "brinded cat hath mew'd.</body></message>");
    /* The stanza-id every occupant saw is the archive id. */
    const struct xml_node *bcast = NULL;
    for (size_t i = 0; i < fx.n; i++)
        if (str_eq(stanza_to(fx.out[i].st), ALICE))
            bcast = fx.out[i].st;
    assert_non_null(bcast);
    const char *sid = fx_keep(xstrdup(xml_attr(xml_child(bcast, "stanza-id", NS_SID), "id")));
    struct page p;
    page_of(ALICE, "", &p);
    assert_int_equal(p.n, 1);
    /* Outer message: from the room to the requester, no type. */
    const struct xml_node *outer = NULL;
    for (size_t i = 0; i < fx.n; i++)
        if (strcmp(fx.out[i].st->name, "message") == 0)
            outer = fx.out[i].st;
    assert_string_equal(stanza_from(outer), ROOM);
    assert_string_equal(stanza_to(outer), ALICE);
    assert_string_equal(xml_attr(p.result[0], "queryid"), "q-pg");
    assert_string_equal(p.ids[0], sid);
    const struct xml_node *fwd = xml_child(p.result[0], "forwarded", NS_FORWARD);
    const struct xml_node *delay = xml_child(fwd, "delay", NS_DELAY);
    assert_non_null(delay);
    assert_string_equal(xml_attr(delay, "stamp"), "2023-11-14T22:13:21.234Z");
    /* The forwarded message: jabber:client, from the occupant JID, no 'to'. */
    const struct xml_node *msg = p.fwd[0];
    assert_string_equal(msg->ns, NS_CLIENT);
    assert_string_equal(stanza_from(msg), OCC(B_NICK));
    assert_null(stanza_to(msg));
    assert_string_equal(xml_attr(msg, "type"), "groupchat");
    assert_string_equal(xml_attr(msg, "id"), "orig-1");
    assert_string_equal(p.bodies[0], "Thrice the brinded cat hath mew'd.");
    assert_non_null(xml_child(msg, "occupant-id", NS_OCCUPANT_ID));
    /* A participant of a semi-anonymous room learns no real JID. */
    assert_null(xml_child(msg, "x", NS_MUC_USER));
    /* §4.3: the results came before the fin, which frames them. */
    assert_true(fx.out[fx.n - 1].st == fx_find_reply("pg"));
    assert_true(p.complete);
    assert_string_equal(p.first, sid);
    assert_string_equal(p.last, sid);
    assert_null(p.count);
}

static void test_empty_archive(void **state)
{
    std_room();
    struct page p;
    page_of(ALICE, "", &p);
    assert_int_equal(p.n, 0);
    assert_true(p.complete);
    /* XEP-0059 §2.1: no <first/>/<last/> on an empty page. */
    assert_null(p.first);
    assert_null(p.last);
}

/* ---- §4.3: paging ---- */

static void test_page_forward_exact_boundaries(void **state)
{
    std_room();
    say_n(25);
    struct page p;
    page_of(ALICE, rsm("<max>10</max>"), &p);
    expect_bodies(&p, 1, 10);
    assert_false(p.complete);
    assert_string_equal(p.first, p.ids[0]);
    assert_string_equal(p.last, p.ids[9]);
    page_of(ALICE, rsm("<max>10</max><after>%s</after>", p.last), &p);
    expect_bodies(&p, 11, 20);
    assert_false(p.complete);
    page_of(ALICE, rsm("<max>10</max><after>%s</after>", p.last), &p);
    expect_bodies(&p, 21, 25);
    assert_true(p.complete);
    /* A page that ends exactly on the last message is complete. */
    page_of(ALICE, rsm("<max>5</max><after>%s</after>", sid_of(20, ROOM)), &p);
    expect_bodies(&p, 21, 25);
    assert_true(p.complete);
    /* After the last message: an empty, complete page. */
    page_of(ALICE, rsm("<max>5</max><after>%s</after>", sid_of(25, ROOM)), &p);
    assert_int_equal(p.n, 0);
    assert_true(p.complete);
}

static void test_page_backward_exact_boundaries(void **state)
{
    std_room();
    say_n(25);
    struct page p;
    /* §4.3.2: an empty <before/> asks for the last page, in chronological order. */
    page_of(ALICE, rsm("<max>10</max><before/>"), &p);
    expect_bodies(&p, 16, 25);
    assert_false(p.complete);
    page_of(ALICE, rsm("<max>10</max><before>%s</before>", p.first), &p);
    expect_bodies(&p, 6, 15);
    assert_false(p.complete);
    page_of(ALICE, rsm("<max>10</max><before>%s</before>", p.first), &p);
    expect_bodies(&p, 1, 5);
    assert_true(p.complete);
    page_of(ALICE, rsm("<max>5</max><before>%s</before>", sid_of(6, ROOM)), &p);
    expect_bodies(&p, 1, 5);
    assert_true(p.complete);
    page_of(ALICE, rsm("<max>5</max><before>%s</before>", sid_of(1, ROOM)), &p);
    assert_int_equal(p.n, 0);
    assert_true(p.complete);
}

/* Forward then backward over everything: each message exactly once, in order. */
static void test_page_walk_both_ways(void **state)
{
    std_room();
    say_n(97);
    struct page p;
    int seen = 0;
    const char *after = NULL;
    do {
        page_of(ALICE, after ? rsm("<max>7</max><after>%s</after>", after) : rsm("<max>7</max>"),
                &p);
        for (size_t i = 0; i < p.n; i++) {
            char body[16];
            snprintf(body, sizeof body, "m%d", ++seen);
            assert_string_equal(p.bodies[i], body);
        }
        after = p.last;
    } while (!p.complete);
    assert_int_equal(seen, 97);
    const char *before = "";
    int next = 97;
    do {
        page_of(ALICE, rsm("<max>7</max><before>%s</before>", before), &p);
        for (size_t i = p.n; i-- > 0;) {
            char body[16];
            snprintf(body, sizeof body, "m%d", next--);
            assert_string_equal(p.bodies[i], body);
        }
        before = p.first;
    } while (!p.complete);
    assert_int_equal(next, 0);
}

/* XEP-0059 §2.6, §2.5: count on request, index of the first item. */
static void test_count_and_index(void **state)
{
    std_room();
    say_n(25);
    struct page p;
    page_of(ALICE, rsm("<max>0</max>"), &p);
    assert_int_equal(p.n, 0);
    assert_string_equal(p.count, "25");
    assert_false(p.complete);
    page_of(ALICE, rsm("<max>10</max><index>0</index>"), &p);
    expect_bodies(&p, 1, 10);
    assert_string_equal(p.first_index, "0");
    assert_string_equal(p.count, "25");
    page_of(ALICE, rsm("<max>10</max><index>5</index>"), &p);
    expect_bodies(&p, 6, 15);
    assert_string_equal(p.first_index, "5");
    /* XEP-0059 §2.5: an index past the end gives an empty page. */
    page_of(ALICE, rsm("<max>10</max><index>40</index>"), &p);
    assert_int_equal(p.n, 0);
    assert_string_equal(p.count, "25");
    /* Filters count too. */
    page_of(ALICE, FORM(FIELD("start", "2023-11-14T22:13:41Z")) "<set xmlns='" NS_RSM
                   "'><max>0</max></set>", &p);
    assert_string_equal(p.count, "5");
    /* Counting is on request only: a plain page does not pay for it. */
    page_of(ALICE, rsm("<max>10</max>"), &p);
    assert_null(p.count);
    assert_null(p.first_index);
    query(ALICE, "bad", rsm("<index>x</index>"));
    fx_error("bad", "bad-request", NULL, NULL);
    query(ALICE, "both", rsm("<index>1</index><after>%s</after>", sid_of(1, ROOM)));
    fx_error("both", "bad-request", NULL, NULL);
}

/* §4.3.1: the service maximum caps any page. */
static void test_page_capped_at_service_maximum(void **state)
{
    fx.m->lim.max_mam_page = 10;
    std_room();
    say_n(25);
    struct page p;
    page_of(ALICE, rsm("<max>50</max>"), &p);
    expect_bodies(&p, 1, 10);
    assert_false(p.complete);
    page_of(ALICE, "", &p);
    expect_bodies(&p, 1, 10);
    assert_false(p.complete);
    page_of(ALICE, rsm("<max>50</max><before/>"), &p);
    expect_bodies(&p, 16, 25);
    query(ALICE, "bad", rsm("<max>-1</max>"));
    fx_error("bad", "bad-request", NULL, NULL);
}

/* §4.3.1: an id not in this archive is item-not-found. */
static void test_unknown_id_item_not_found(void **state)
{
    std_room();
    say_n(3);
    query(ALICE, "a", rsm("<after>0123456789abcdef0123456789abcdef</after>"));
    fx_error("a", "item-not-found", NULL, NULL);
    query(ALICE, "b", rsm("<before>not-an-id</before>"));
    fx_error("b", "item-not-found", NULL, NULL);
    /* Another room's id does not decode here. */
    query(ALICE, "c", rsm("<after>%s</after>", sid_of(2, ROOM2)));
    fx_error("c", "item-not-found", NULL, NULL);
    /* A seq this room never assigned. */
    query(ALICE, "d", rsm("<after>%s</after>", sid_of(4, ROOM)));
    fx_error("d", "item-not-found", NULL, NULL);
    query(ALICE, "e", FORM(FIELD("after-id", "bogus")));
    fx_error("e", "item-not-found", NULL, NULL);
    query(ALICE, "f", FORM("<field var='ids'><value>bogus</value></field>"));
    fx_error("f", "item-not-found", NULL, NULL);
    struct page p;
    page_of(ALICE, rsm("<after>%s</after>", sid_of(3, ROOM)), &p);
    assert_int_equal(p.n, 0);
}

/* ---- §4.1: filters ---- */

static void test_filter_start_end_inclusive(void **state)
{
    std_room();
    say_n(20);
    struct page p;
    /* m10 at T0+10 s = 22:13:30Z ... m14 at 22:13:34Z; both bounds inclusive. */
    page_of(ALICE,
            FORM(FIELD("start", "2023-11-14T22:13:30Z") FIELD("end", "2023-11-14T22:13:34Z")), &p);
    expect_bodies(&p, 10, 14);
    assert_true(p.complete);
    page_of(ALICE, FORM(FIELD("start", "2023-11-14T22:13:38Z")), &p);
    expect_bodies(&p, 18, 20);
    page_of(ALICE, FORM(FIELD("end", "2023-11-14T23:13:22+01:00")), &p);
    expect_bodies(&p, 1, 2);
    /* Paging within a filter keeps the filter. */
    page_of(ALICE, FORM(FIELD("start", "2023-11-14T22:13:25Z")) "<set xmlns='" NS_RSM
                   "'><max>4</max></set>", &p);
    expect_bodies(&p, 5, 8);
    char *after = rsm("<max>4</max><after>%s</after>", p.last);
    char *q =
        (char *)fx_keep(xasprintf("%s%s", FORM(FIELD("start", "2023-11-14T22:13:25Z")), after));
    page_of(ALICE, q, &p);
    expect_bodies(&p, 9, 12);
    /* start after end: nothing, and that is complete. */
    page_of(ALICE,
            FORM(FIELD("start", "2023-11-14T22:13:34Z") FIELD("end", "2023-11-14T22:13:30Z")), &p);
    assert_int_equal(p.n, 0);
    assert_true(p.complete);
    /* Before 1970: a start bounds nothing, an end leaves nothing. */
    page_of(ALICE, FORM(FIELD("start", "1960-01-01T00:00:00Z")), &p);
    expect_bodies(&p, 1, 20);
    page_of(ALICE, FORM(FIELD("end", "1969-12-31T23:59:59.999Z")), &p);
    assert_int_equal(p.n, 0);
    assert_true(p.complete);
    query(ALICE, "bad", FORM(FIELD("start", "yesterday")));
    fx_error("bad", "bad-request", NULL, NULL);
}

static void say_both(void)
{
    for (int i = 1; i <= 6; i++) {
        char body[16];
        fx.now = T0 + i * 1000;
        snprintf(body, sizeof body, "m%d", i);
        say(i % 2 ? ALICE : BOB, body);
    }
    fx_clear();
}

static void expect_list(const struct page *p, const char *const *want, size_t n)
{
    if (p->n != n)
        fx_dump();
    assert_int_equal(p->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(p->bodies[i], want[i]);
}

/* §4.1.1: 'with' in a MUC archive matches the publisher. */
static void test_filter_with_occupant_jid(void **state)
{
    std_room();
    say_both();
    static const char *const alice[] = { "m1", "m3", "m5" };
    static const char *const bob[] = { "m2", "m4", "m6" };
    struct page p;
    page_of(BOB, FORM(FIELD("with", OCC(A_NICK))), &p);
    expect_list(&p, alice, 3);
    page_of(ALICE, FORM(FIELD("with", OCC(B_NICK))), &p);
    expect_list(&p, bob, 3);
    page_of(ALICE, FORM(FIELD("with", OCC("nobody"))), &p);
    assert_int_equal(p.n, 0);
    /* The room itself publishes nothing archived. */
    page_of(ALICE, FORM(FIELD("with", ROOM)), &p);
    assert_int_equal(p.n, 0);
    assert_true(p.complete);
    query(ALICE, "bad", FORM(FIELD("with", "@@bad")));
    fx_error("bad", "bad-request", NULL, NULL);
}

/* §4.1.1: filtering by real JID only for those who may know it. */
static void test_filter_with_real_jid_follows_whois(void **state)
{
    std_room();
    say_both();
    static const char *const alice[] = { "m1", "m3", "m5" };
    struct page p;
    /* bob, a participant of a semi-anonymous room, may not. */
    query(BOB, "w1", FORM(FIELD("with", ALICE_BARE)));
    fx_error("w1", "forbidden", NULL, NULL);
    /* alice may ask for her own messages. */
    page_of(ALICE, FORM(FIELD("with", ALICE_BARE)), &p);
    expect_list(&p, alice, 3);
    /* The owner is a moderator and sees real JIDs. */
    page_of(OWNER, FORM(FIELD("with", ALICE_BARE)), &p);
    expect_list(&p, alice, 3);
    /* In a non-anonymous room anyone may. */
    configure_room(ROOM, FV("whois", "anyone"));
    page_of(BOB, FORM(FIELD("with", ALICE_BARE)), &p);
    expect_list(&p, alice, 3);
    page_of(BOB, FORM(FIELD("with", EVE_BARE)), &p);
    assert_int_equal(p.n, 0);
}

static void test_filter_fulltext(void **state)
{
    std_room();
    say(ALICE, "the apple is red");
    say(BOB, "a banana is yellow");
    say(ALICE, "Apple and banana");
    say(BOB, "pineapple juice");
    fx_clear();
    struct page p;
    static const char *const apple[] = { "the apple is red", "Apple and banana" };
    page_of(ALICE, FORM(FIELD(FULLTEXT, "apple")), &p);
    expect_list(&p, apple, 2);
    static const char *const both[] = { "Apple and banana" };
    page_of(ALICE, FORM(FIELD(FULLTEXT, "banana apple")), &p);
    expect_list(&p, both, 1);
    static const char *const not_apple[] = { "a banana is yellow" };
    page_of(ALICE, FORM(FIELD(FULLTEXT, "banana -apple")), &p);
    expect_list(&p, not_apple, 1);
    page_of(ALICE, FORM(FIELD(FULLTEXT, "cherry")), &p);
    assert_int_equal(p.n, 0);
    /* XEP-0431: an empty text searches nothing. */
    page_of(ALICE, FORM(FIELD(FULLTEXT, "")), &p);
    assert_int_equal(p.n, 4);
}

/* §4.1.5: an unknown field is feature-not-implemented; a wrong form is bad. */
static void test_form_validation(void **state)
{
    std_room();
    query(ALICE, "u", FORM(FIELD("include-groupchat", "true")));
    fx_error("u", "feature-not-implemented", NULL, NULL);
    query(ALICE, "t", "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
                      "urn:xmpp:mam:1</value></field></x>");
    fx_error("t", "bad-request", NULL, NULL);
    query(ALICE, "n", "<x xmlns='jabber:x:data' type='submit'/>");
    fx_error("n", "bad-request", NULL, NULL);
    fx_in("<iq type='get' id='m1' from='" ALICE "' to='" ROOM "'><metadata xmlns='" NS_MAM
          "'/><foo/></iq>");
    fx_error("m1", "bad-request", NULL, NULL);
    fx_in("<iq type='set' id='m2' from='" ALICE "' to='" ROOM "'><metadata xmlns='" NS_MAM
          "'/></iq>");
    fx_error("m2", "bad-request", NULL, NULL);
}

/* ---- #extended: before-id/after-id, ids, flip-page, metadata ---- */

static void test_extended_id_range_and_ids(void **state)
{
    std_room();
    say_n(10);
    struct page p;
    /* after-id and before-id bound the query but page forwards. */
    char *f = (char *)fx_keep(xasprintf(FORM("<field var='after-id'><value>%s</value></field>"
                                          "<field var='before-id'><value>%s</value></field>"),
                                     sid_of(2, ROOM), sid_of(9, ROOM)));
    char *q = (char *)fx_keep(xasprintf("%s<set xmlns='" NS_RSM "'><max>4</max></set>", f));
    page_of(ALICE, q, &p);
    expect_bodies(&p, 3, 6);
    assert_false(p.complete);
    q = (char *)fx_keep(xasprintf("%s%s", f, rsm("<max>4</max><after>%s</after>", p.last)));
    page_of(ALICE, q, &p);
    expect_bodies(&p, 7, 8);
    assert_true(p.complete);
    /* ids: exactly those messages, in archive order. */
    q = (char *)fx_keep(xasprintf(FORM("<field var='ids'><value>%s</value><value>%s</value>"
                                    "<value>%s</value></field>"),
                               sid_of(7, ROOM), sid_of(3, ROOM), sid_of(7, ROOM)));
    page_of(ALICE, q, &p);
    static const char *const want[] = { "m3", "m7" };
    expect_list(&p, want, 2);
    assert_true(p.complete);
    assert_string_equal(p.first, sid_of(3, ROOM));
    assert_string_equal(p.last, sid_of(7, ROOM));
}

static void test_extended_flip_page(void **state)
{
    std_room();
    say_n(10);
    struct page p;
    page_of(ALICE, fx_keep(xasprintf("%s<flip-page/>", rsm("<max>3</max><before/>"))), &p);
    static const char *const want[] = { "m10", "m9", "m8" };
    expect_list(&p, want, 3);
    /* First and last stay the chronological ends of the page. */
    assert_string_equal(p.first, sid_of(8, ROOM));
    assert_string_equal(p.last, sid_of(10, ROOM));
    assert_false(p.complete);
}

static void test_extended_metadata(void **state)
{
    std_room();
    fx_in("<iq type='get' id='md0' from='" ALICE "' to='" ROOM "'><metadata xmlns='" NS_MAM
          "'/></iq>");
    struct xml_node *md = xml_child(fx_result("md0"), "metadata", NS_MAM);
    assert_non_null(md);
    assert_null(xml_first(md));   /* §6: empty archive, empty element */
    say_n(4);
    fx_in("<iq type='get' id='md1' from='" ALICE "' to='" ROOM "'><metadata xmlns='" NS_MAM
          "'/></iq>");
    md = xml_child(fx_result("md1"), "metadata", NS_MAM);
    struct xml_node *start = xml_child(md, "start", NS_MAM), *end = xml_child(md, "end", NS_MAM);
    assert_non_null(start);
    assert_non_null(end);
    assert_string_equal(xml_attr(start, "id"), sid_of(1, ROOM));
    assert_string_equal(xml_attr(start, "timestamp"), "2023-11-14T22:13:21Z");
    assert_string_equal(xml_attr(end, "id"), sid_of(4, ROOM));
    assert_string_equal(xml_attr(end, "timestamp"), "2023-11-14T22:13:24Z");
    /* Whoever may enter an open room may read its archive (§7.1.2). */
    fx_in("<iq type='get' id='md2' from='" EVE "' to='" ROOM "'><metadata xmlns='" NS_MAM
          "'/></iq>");
    assert_non_null(xml_child(fx_result("md2"), "metadata", NS_MAM));
}

/* ---- §7.1.2: access ---- */

/* An 'end' to the whole second covers that second (poezio asks so, with its
 * join time); one with a fraction is exact. */
static void test_end_whole_second(void **state)
{
    std_room();
    fx.now = T0 + 1500;
    say(ALICE, "m1");
    struct page p;
    page_of(ALICE, FORM(FIELD("end", "2023-11-14T22:13:21Z")), &p);
    expect_bodies(&p, 1, 1);
    page_of(ALICE, FORM(FIELD("end", "2023-11-14T22:13:21.000Z")), &p);
    expect_bodies(&p, 1, 0);
}

/* Whoever may enter may read without entering, as Prosody's muc_mam does:
 * poezio asks the archive before its join completes (issue 11). */
static void test_access_whoever_may_enter(void **state)
{
    std_room();
    say_n(2);
    struct page p;
    /* Not in an open room: reads it all the same. */
    page_of(EVE, "", &p);
    expect_bodies(&p, 1, 2);
    /* Another resource of an occupant that has not joined. */
    page_of(ALICE_BARE "/phone", "", &p);
    expect_bodies(&p, 1, 2);
    /* An outcast never. */
    fx_clear();
    fx_in("<iq type='set' id='aff' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item affiliation='outcast' jid='" EVE_BARE "'/></query></iq>");
    fx_result("aff");
    query(EVE, "e", "");
    fx_error("e", "forbidden", NULL, NULL);
    /* A password room: only occupants and members (a query has no password). */
    configure_room(ROOM, FV("passwordprotectedroom", "1") FV("roomsecret", "pw"));
    query(ALICE_BARE "/phone", "r", "");
    fx_error("r", "forbidden", NULL, NULL);
    page_of(ALICE, "", &p);
    expect_bodies(&p, 1, 2);
}

/* Switching the archive on does not expose what was said while it was off;
 * join history keeps everything (issue 11). */
static void test_archive_only_while_logging(void **state)
{
    room_with(FV("enablelogging", "0") FV("historylength", "100"));
    say(ALICE, "off1");
    configure_room(ROOM, FV("enablelogging", "1"));
    say(ALICE, "on1");
    struct page p;
    page_of(ALICE, "", &p);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.bodies[0], "on1");
}

/* Chat states and XEP-0334 no-store stay out of the archive and history. */
static void test_not_historic_not_archived(void **state)
{
    std_room();
    say(ALICE, "m1");
    fx_in("<message type='groupchat' id='cs' from='" ALICE "' to='" ROOM "'><composing xmlns="
          "'http://jabber.org/protocol/chatstates'/></message>");
    fx_in("<message type='groupchat' id='ns' from='" ALICE "' to='" ROOM "'><body>secret</body>"
          "<no-store xmlns='urn:xmpp:hints'/></message>");
    say(ALICE, "m2");
    struct page p;
    page_of(ALICE, "", &p);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.bodies[0], "m1");
    assert_string_equal(p.bodies[1], "m2");
}

static void test_access_members_only_and_outcasts(void **state)
{
    room_with(LOGGING FV("membersonly", "1"));
    fx_clear();
    fx_in("<iq type='set' id='aff' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item affiliation='member' jid='" ALICE_BARE "'/>"
          "<item affiliation='outcast' jid='" EVE_BARE "'/></query></iq>");
    fx_result("aff");
    join(ROOM, ALICE, A_NICK);
    say(ALICE, "m1");
    fx_in("<presence type='unavailable' from='" ALICE "' to='" OCC(A_NICK) "'/>");
    /* A member reads the archive of a members-only room while absent. */
    struct page p;
    page_of(ALICE_BARE "/other", "", &p);
    expect_bodies(&p, 1, 1);
    /* ...as a participant: no real JIDs in a semi-anonymous room. */
    query(ALICE, "w", FORM(FIELD("with", OWNER_BARE)));
    fx_error("w", "forbidden", NULL, NULL);
    query(BOB, "b", "");
    fx_error("b", "forbidden", NULL, NULL);
    query(EVE, "e", "");
    fx_error("e", "forbidden", NULL, NULL);
    fx_in("<iq type='get' id='md' from='" ALICE "' to='" ROOM "'><metadata xmlns='" NS_MAM
          "'/></iq>");
    fx_result("md");
}

/* ---- against a store: what the engine asks, how it shows the answer ---- */

static struct {
    struct store_mam_query q;  /* the last query, strings copied below */
    char with[256], fulltext[256];
    int calls;
    int err;                   /* answer with this error */
    bool down;
    struct store_mam_page *answer;
    bool hold;                 /* barriers wait for release_barriers() */
    store_done_cb *held_cb[8];
    void *held_ud[8];
    size_t nheld;
} fs;

static void fs_load(void *st, const char *jid, unsigned history, store_loaded_cb *cb, void *ud)
{
    cb(ud, 0, xcalloc(1, sizeof(struct store_room)));
}

static void fs_save_room(void *st, const struct room *room)
{
}

static void fs_save_affil(void *st, const struct room *room, const char *jid, enum muc_affil a,
                          const char *nick, const char *reason)
{
}

static void fs_append(void *st, const struct room *room, const struct store_msg_meta *m,
                      store_done_cb *committed, void *ud)
{
    committed(ud, 0);
}

static void fs_delete(void *st, const struct room *room, bool tomb, const char *venue,
                      const char *reason)
{
}

static void fs_mam(void *st, const char *room_jid, const struct store_mam_query *q,
                   store_mam_cb *cb, void *ud)
{
    assert_string_equal(room_jid, ROOM);
    fs.calls++;
    fs.q = *q;
    snprintf(fs.with, sizeof fs.with, "%s", q->with ? q->with : "");
    snprintf(fs.fulltext, sizeof fs.fulltext, "%s", q->fulltext ? q->fulltext : "");
    if (fs.err) {
        cb(ud, fs.err, NULL);
        return;
    }
    struct store_mam_page *p = fs.answer;
    fs.answer = NULL;
    if (!p) {
        p = xcalloc(1, sizeof *p);
        p->complete = true;
        p->count = p->first_index = -1;
    }
    cb(ud, 0, p);
}

static bool fs_available(void *st)
{
    return !fs.down;
}

static void fs_barrier(void *st, store_done_cb *cb, void *ud)
{
    if (!fs.hold) {
        cb(ud, 0);
        return;
    }
    assert_true(fs.nheld < ARRAY_SIZE(fs.held_cb));
    fs.held_cb[fs.nheld] = cb;
    fs.held_ud[fs.nheld++] = ud;
}

/* The store reports everything issued so far durable (err 0) or lost. */
static void release_barriers(int err)
{
    size_t n = fs.nheld;
    fs.nheld = 0;
    for (size_t i = 0; i < n; i++)
        fs.held_cb[i](fs.held_ud[i], err);
}

static const struct muc_store fake_store = {
    .load_room = fs_load, .save_room = fs_save_room, .save_affiliation = fs_save_affil,
    .append_message = fs_append, .delete_room = fs_delete, .mam_query = fs_mam,
    .available = fs_available, .barrier = fs_barrier,
};

static void store_room(const char *fields)
{
    memset(&fs, 0, sizeof fs);
    muc_set_store(fx.m, &fake_store);
    room_with(fields);
    say_n(30);
}

/* One stored message from bob, as the store would return it. */
static struct store_mam_page *bob_page(void)
{
    struct store_mam_page *p = xcalloc(1, sizeof *p);
    p->msgs = xcalloc(2, sizeof *p->msgs);
    p->n = 1;
    p->msgs[0].seq = 7;
    p->msgs[0].ts_ms = T0;
    p->msgs[0].xml = xstrdup("<message from='" OCC(B_NICK) "' type='groupchat' id='x'>"
                             "<body>stored</body></message>");
    p->msgs[0].xml_len = strlen(p->msgs[0].xml);
    p->msgs[0].sender_jid = xstrdup(BOB);
    p->msgs[0].nick = xstrdup(B_NICK);
    p->complete = false;
    p->count = 42;
    p->first_index = 6;
    return p;
}

static void test_store_query_translation(void **state)
{
    store_room(LOGGING);
    struct page p;
    page_of(ALICE, "", &p);
    assert_int_equal(fs.calls, 1);
    assert_int_equal(fs.q.max, 100);
    assert_false(fs.q.last_page);
    assert_int_equal(fs.q.after_seq, 0);
    assert_int_equal(fs.q.before_seq, 0);
    assert_int_equal(fs.q.start_ms, -1);
    assert_int_equal(fs.q.end_ms, -1);
    assert_null(fs.q.with);
    assert_false(fs.q.want_count);
    char *q = (char *)fx_keep(xasprintf(
        "%s%s",
        FORM(FIELD("start", "2023-11-14T22:13:21Z") FIELD("end", "2023-11-14T22:13:22.5Z")
                 FIELD("with", OCC(B_NICK)) FIELD(FULLTEXT, "cat dog")),
        rsm("<max>500</max><before>%s</before>", sid_of(20, ROOM))));
    page_of(ALICE, q, &p);
    assert_int_equal(fs.q.max, 100);
    assert_true(fs.q.last_page);
    assert_int_equal(fs.q.before_seq, 20);
    assert_int_equal(fs.q.start_ms, T0 + 1000);
    assert_int_equal(fs.q.end_ms, T0 + 2500);
    assert_true(fs.q.with_is_nick);
    assert_string_equal(fs.with, OCC(B_NICK));
    assert_string_equal(fs.fulltext, "cat dog");
    page_of(OWNER, FORM(FIELD("with", "Hag@Shakespeare.example")) "<set xmlns='" NS_RSM
                   "'><max>0</max></set>", &p);
    assert_false(fs.q.with_is_nick);
    assert_string_equal(fs.with, BOB_BARE);
    assert_true(fs.q.want_count);
    assert_int_equal(fs.q.max, 0);
    page_of(ALICE, rsm("<after>%s</after>", sid_of(12, ROOM)), &p);
    assert_int_equal(fs.q.after_seq, 12);
    assert_false(fs.q.last_page);
}

/* The store path has no offsets: RSM <index/> other than 0 is refused. */
/* XEP-0059 §2.4: an index reaches the store as an offset, with a count. */
static void test_store_index_is_an_offset(void **state)
{
    store_room(LOGGING);
    struct page p;
    page_of(ALICE, rsm("<index>3</index><max>5</max>"), &p);
    assert_int_equal(fs.calls, 1);
    assert_int_equal(fs.q.offset, 3);
    assert_int_equal(fs.q.max, 5);
    assert_true(fs.q.want_count);
    assert_false(fs.q.last_page);
    page_of(ALICE, rsm("<index>0</index><max>5</max>"), &p);
    assert_true(fs.q.want_count);
    assert_int_equal(fs.q.offset, 0);
    assert_int_equal(fs.q.after_seq, 0);
}

static int out_idx(const char *name, const char *type, const char *to)
{
    for (size_t i = 0; i < fx.n; i++)
        if (str_eq(fx.out[i].st->name, name) && str_eq(xml_attr(fx.out[i].st, "type"), type) &&
            str_eq(xml_attr(fx.out[i].st, "to"), to))
            return (int)i;
    return -1;
}

/* §8.2, §9.1 with a store: a kick or a ban is acknowledged, and announced, only
 * once the store says what came before is durable; then in §8.2's order. */
static void test_store_admin_result_after_commit(void **state)
{
    store_room(LOGGING);
    fs.hold = true;
    fx_clear();
    fx_in("<iq type='set' id='kick' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item nick='" B_NICK "' role='none'/></query></iq>");
    assert_int_equal(fs.nheld, 1);
    assert_int_equal(fx.n, 0);
    release_barriers(0);
    int kicked = out_idx("presence", "unavailable", BOB);
    int result = out_idx("iq", "result", OWNER);
    int room = out_idx("presence", "unavailable", ALICE);
    if (kicked < 0 || result < 0 || room < 0 || !(kicked < result && result < room))
        fx_dump();
    assert_true(kicked >= 0 && kicked < result && result < room);
    /* A ban the store fails to keep is refused, not acknowledged. */
    fx_clear();
    fx_in("<iq type='set' id='ban' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item jid='" ALICE_BARE "' affiliation='outcast'/></query></iq>");
    assert_int_equal(fx.n, 0);
    release_barriers(-EIO);
    fx_error("ban", "resource-constraint", NULL, NULL);
    assert_int_equal(out_idx("iq", "result", OWNER), -1);
}

static void test_store_reveals_real_jid_only_where_allowed(void **state)
{
    store_room(LOGGING);
    struct page p;
    fs.answer = bob_page();
    page_of(ALICE, "", &p);
    assert_int_equal(p.n, 1);
    assert_null(xml_child(p.fwd[0], "x", NS_MUC_USER));
    assert_string_equal(p.first_index, "6");
    assert_string_equal(p.count, "42");
    assert_false(p.complete);
    /* A moderator (the owner) sees the sender's real full JID. */
    fs.answer = bob_page();
    page_of(OWNER, "", &p);
    struct xml_node *x = xml_child(p.fwd[0], "x", NS_MUC_USER);
    assert_non_null(x);
    assert_string_equal(xml_attr(xml_child(x, "item", NS_MUC_USER), "jid"), BOB);
    assert_string_equal(stanza_from(p.fwd[0]), OCC(B_NICK));
    /* Non-anonymous: everyone does. */
    configure_room(ROOM, FV("whois", "anyone"));
    fs.answer = bob_page();
    page_of(ALICE, "", &p);
    x = xml_child(p.fwd[0], "x", NS_MUC_USER);
    assert_non_null(x);
    assert_string_equal(xml_attr(xml_child(x, "item", NS_MUC_USER), "jid"), BOB);
}

static void test_store_errors(void **state)
{
    store_room(LOGGING);
    fs.down = true;
    query(ALICE, "d", "");
    fx_error("d", "resource-constraint", NULL, NULL);
    assert_int_equal(fs.calls, 0);
    fs.down = false;
    fs.err = -ECONNRESET;
    query(ALICE, "c", "");
    fx_error("c", "resource-constraint", NULL, NULL);
    fs.err = -EIO;
    query(ALICE, "i", "");
    fx_error("i", "internal-server-error", NULL, NULL);
    fs.err = -ENOSYS;
    query(ALICE, "n", "");
    fx_error("n", "feature-not-implemented", NULL, NULL);
}

#define T(f) FX_TEST(f, &opts)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_form_lists_fields),
        T(test_disco_and_logging_off),
        T(test_result_stanza_shape),
        T(test_empty_archive),
        T(test_page_forward_exact_boundaries),
        T(test_page_backward_exact_boundaries),
        T(test_page_walk_both_ways),
        T(test_count_and_index),
        T(test_page_capped_at_service_maximum),
        T(test_unknown_id_item_not_found),
        T(test_filter_start_end_inclusive),
        T(test_filter_with_occupant_jid),
        T(test_filter_with_real_jid_follows_whois),
        T(test_filter_fulltext),
        T(test_form_validation),
        T(test_extended_id_range_and_ids),
        T(test_extended_flip_page),
        T(test_extended_metadata),
        T(test_end_whole_second),
        T(test_access_whoever_may_enter),
        T(test_archive_only_while_logging),
        T(test_not_historic_not_archived),
        T(test_access_members_only_and_outcasts),
        T(test_store_query_translation),
        T(test_store_index_is_an_offset),
        T(test_store_admin_result_after_commit),
        T(test_store_reveals_real_jid_only_where_allowed),
        T(test_store_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
