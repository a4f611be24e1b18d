/* Issue 13 finding 1: one owner's configuration form stalled the service. A
 * form listing 5,000 admins became 5,000 affiliation changes, each with a
 * compliance event carrying the whole 140 KB IQ. Here: list and room bounds
 * ([muc] max_list_items, max_affiliations), the IQ archived once with the
 * other events referring to it, the event size cap ([compliance]
 * max_event_size) and the admin/owner IQ token bucket ([muc] admin_rate). */
#include "muc_harness.h"

#include "buf.h"
#include "compliance.h"

#define ROOM "stall@" DOMAIN
#define BIG_LIST 5000

static struct fx_opts opts = { .compliance = true, .max_event = 65536 };

static const char *ref_of(const struct xml_node *ev)
{
    const struct xml_node *d = xml_child(ev, "detail", NS_COMPLIANCE);
    const struct xml_node *r = d ? xml_child(d, "ref", NS_COMPLIANCE) : NULL;
    return r ? xml_attr(r, "id") : NULL;
}

/* A submit of the room configuration with n admins admin-<first+i>@…. */
static void submit_admins(const char *id, unsigned first, unsigned n)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<iq type='set' id='%s' from='" OWNER "' to='" ROOM "'><query xmlns='"
               NS_MUC_OWNER "'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
               "<value>" NS_MUC_ROOMCONFIG "</value></field>"
               "<field var='muc#roomconfig_roomadmins'>", id);
    for (unsigned i = 0; i < n; i++)
        buf_printf(&b, "<value>admin-%u@shakespeare.example</value>", first + i);
    buf_puts(&b, "</field></x></query></iq>");
    buf_putc(&b, '\0');
    fx_in("%s", b.data);
    buf_free(&b);
}

/* An admin request with n items of affiliation affil. */
static void admin_items(const char *id, const char *affil, unsigned first, unsigned n)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<iq type='set' id='%s' from='" OWNER "' to='" ROOM "'><query xmlns='"
               NS_MUC_ADMIN "'>", id);
    for (unsigned i = 0; i < n; i++)
        buf_printf(&b, "<item affiliation='%s' jid='user-%u@shakespeare.example'/>", affil,
                   first + i);
    buf_puts(&b, "</query></iq>");
    buf_putc(&b, '\0');
    fx_in("%s", b.data);
    buf_free(&b);
}

static char *error_text(const char *id)
{
    struct xml_node *e = stanza_child(fx_reply(id), "error");
    return fx_text(xml_child(e, "text", NS_STANZAS));
}

/* The answer to id is a policy-violation whose text names each of the
 * NULL-terminated words: a refusal has to say which limit it hit. */
static void expect_violation_naming(const char *id, ...)
{
    fx_error(id, "policy-violation", NULL, NULL);
    char *t = error_text(id);
    va_list ap;
    va_start(ap, id);
    for (const char *w; (w = va_arg(ap, const char *));)
        assert_non_null(strstr(t, w));
    va_end(ap);
    free(t);
}

/* The form of the report: refused at once, naming the field and the limit;
 * nothing changed, nothing recorded. */
static void test_5000_admins_refused(void **state)
{
    (void)state;
    fx_room(ROOM, OWNER, NULL);
    fx_clear_events();
    submit_admins("big", 0, BIG_LIST);
    expect_violation_naming("big", "muc#roomconfig_roomadmins", "5000", "200", "max_list_items",
                            (char *)NULL);
    assert_int_equal(room_count_affiliation(room_find(fx.m, ROOM), AFFIL_ADMIN), 0);
    assert_int_equal(fx.nev, 0);
}

/* A list at the limit is taken: one config event with the IQ, one event per
 * JID that refers to it, and nothing near 200 copies of the form. */
static void test_200_admins_one_copy_of_the_form(void **state)
{
    (void)state;
    fx_room(ROOM, OWNER, NULL);
    fx_clear_events();
    submit_admins("ok", 0, 200);
    fx_result("ok");
    assert_int_equal(room_count_affiliation(room_find(fx.m, ROOM), AFFIL_ADMIN), 200);
    assert_int_equal(fx_events_of("config", NULL, 0), 1);
    assert_int_equal(fx_events_of("affiliation", NULL, 0), 200);
    assert_int_equal(fx.nev, 201);
    const char *config_id = NULL;
    size_t forwarded = 0;
    for (size_t i = 0; i < fx.nev; i++) {
        bool fwd = xml_child(fx.evs[i].el, "forwarded", NS_FORWARD) != NULL;
        forwarded += fwd;
        if (strcmp(xml_attr(fx.evs[i].el, "type"), "config") == 0) {
            assert_true(fwd);
            config_id = xml_attr(fx.evs[i].el, "id");
        }
    }
    assert_int_equal(forwarded, 1);
    for (size_t i = 0; i < fx.nev; i++)
        if (strcmp(xml_attr(fx.evs[i].el, "type"), "affiliation") == 0) {
            assert_non_null(ref_of(fx.evs[i].el));
            assert_string_equal(ref_of(fx.evs[i].el), config_id);
            assert_true(fx.evs[i].len < 1024);
        }
    /* The form (~9 KB) twice (IQ and resulting form) and 200 small events;
     * before the fix, 200 copies of the IQ: ~1.9 MB. */
    assert_true(fx.evbytes < 250000);
}

static void test_max_affiliations(void **state)
{
    (void)state;
    fx.m->lim.max_affiliations = 250;
    fx_room(ROOM, OWNER, NULL);   /* the owner: one entry */
    submit_admins("a", 0, 200);
    fx_result("a");
    admin_items("m", "member", 0, 60);
    expect_violation_naming("m", "max_affiliations", "250", (char *)NULL);
    assert_int_equal(room_count_affiliation(room_find(fx.m, ROOM), AFFIL_MEMBER), 0);
    admin_items("m2", "member", 0, 49);
    fx_result("m2");
    /* Replacing the admins keeps the count: the old entries go. */
    submit_admins("b", 1000, 200);
    fx_result("b");
    assert_int_equal(room_count_affiliation(room_find(fx.m, ROOM), AFFIL_ADMIN), 200);
    submit_admins("c", 2000, 202);
    fx_error("c", "policy-violation", NULL, NULL);
}

/* A muc#admin request: bounded items; its IQ archived with the first event. */
static void test_admin_request_items_and_ref(void **state)
{
    (void)state;
    fx_room(ROOM, OWNER, NULL);
    fx_clear_events();
    admin_items("many", "member", 0, 201);
    expect_violation_naming("many", "201 items", "max_list_items", (char *)NULL);
    assert_int_equal(fx.nev, 0);
    admin_items("three", "member", 0, 3);
    fx_result("three");
    assert_int_equal(fx.nev, 3);
    assert_non_null(xml_child(fx.evs[0].el, "forwarded", NS_FORWARD));
    for (size_t i = 1; i < 3; i++) {
        assert_null(xml_child(fx.evs[i].el, "forwarded", NS_FORWARD));
        assert_string_equal(ref_of(fx.evs[i].el), xml_attr(fx.evs[0].el, "id"));
    }
}

/* Owner and admin IQs share one token bucket per sender. */
static void test_admin_rate(void **state)
{
    (void)state;
    fx.m->lim.admin_rate = 1;
    fx.m->lim.admin_burst = 3;
    fx_room(ROOM, OWNER, NULL);   /* its configuration took one token */
    fx_in("<iq type='get' id='g1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'/></iq>");
    fx_result("g1");
    fx_in("<iq type='get' id='g2' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
          "'><item affiliation='owner'/></query></iq>");
    fx_result("g2");
    fx_in("<iq type='get' id='g3' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'/></iq>");
    struct xml_node *r = fx_reply("g3");
    assert_string_equal(xml_attr(stanza_child(r, "error"), "type"), "wait");
    fx_error("g3", "resource-constraint", NULL, NULL);
    char *t = error_text("g3");
    assert_non_null(strstr(t, "retry in 1.0 s"));
    free(t);
    /* Another sender has a bucket of its own (here: outside the room). */
    fx_in("<iq type='get' id='o1' from='" ALICE "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'/></iq>");
    fx_error("o1", "forbidden", NULL, NULL);
    fx.now += 1000;
    fx_in("<iq type='get' id='g4' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'/></iq>");
    fx_result("g4");
}

/* Over [compliance] max_event_size, the forwarded stanza is its element, a
 * digest and its size; the event fits again. */
static void test_event_size_cap(void **state)
{
    (void)state;
    fx.m->compliance_max_event = 4096;
    fx_room(ROOM, OWNER, NULL);
    fx_in("<presence from='" ALICE "' to='" ROOM "/alice'><x xmlns='" NS_MUC "'/></presence>");
    fx_clear_events();
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<iq type='set' id='k' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_ADMIN
             "'><item nick='alice' role='none'/><pad xmlns='urn:example'>");
    for (int i = 0; i < 20000; i++)
        buf_putc(&b, 'a' + i % 26);
    buf_puts(&b, "</pad></query></iq>");
    buf_putc(&b, '\0');
    fx_in("%s", b.data);
    buf_free(&b);
    fx_result("k");
    assert_int_equal(fx_events_of("kick", NULL, 0), 1);
    for (size_t i = 0; i < fx.nev; i++) {
        assert_true(fx.evs[i].len <= 4096);
        if (strcmp(xml_attr(fx.evs[i].el, "type"), "kick") != 0)
            continue;
        const struct xml_node *f = xml_child(fx.evs[i].el, "forwarded", NS_FORWARD);
        const struct xml_node *iq = xml_child(f, "iq", NS_CLIENT);
        assert_non_null(iq);
        assert_string_equal(xml_attr(iq, "id"), "k");
        assert_null(xml_child(iq, "query", NS_MUC_ADMIN));
        const struct xml_node *o = xml_child(iq, "omitted", NS_COMPLIANCE);
        assert_non_null(o);
        assert_true(strtoul(xml_attr(o, "bytes"), NULL, 10) > 20000);
        assert_int_equal(strlen(xml_attr(o, "sha256")), 64);
    }
}

/* A message's body survives the cap; its other payloads do not. */
static void test_shrink_keeps_body(void **state)
{
    (void)state;
    struct xml_node *ev = compliance_event(fx.m, "groupchat", NULL, T0);
    struct xml_node *msg = fx_parse("<message from='a@b/c' type='groupchat' id='m1'>"
                                    "<body>hello</body><pad xmlns='urn:example'>zzzzzzzzzz"
                                    "</pad></message>");
    compliance_forward(ev, msg, T0);
    assert_true(compliance_shrink(ev, 4096));
    const struct xml_node *m = xml_child(xml_child(ev, "forwarded", NS_FORWARD), "message",
                                         NS_CLIENT);
    assert_non_null(m);
    assert_string_equal(xml_attr(m, "type"), "groupchat");
    fx_assert_text(xml_child(m, "body", NS_CLIENT), "hello");
    assert_null(xml_child(m, "pad", "urn:example"));
    assert_non_null(xml_child(m, "omitted", NS_COMPLIANCE));
    xml_unref(msg);
    xml_unref(ev);
}

UNIT_MAIN(FX_TEST(test_5000_admins_refused, &opts),
          FX_TEST(test_200_admins_one_copy_of_the_form, &opts),
          FX_TEST(test_max_affiliations, &opts), FX_TEST(test_admin_request_items_and_ref, &opts),
          FX_TEST(test_admin_rate, &opts), FX_TEST(test_event_size_cap, &opts),
          FX_TEST(test_shrink_keeps_body, &opts))
