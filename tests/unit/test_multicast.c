/* XEP-0033 fan-out (multicast.c): used only after the service says it offers
 * the address feature; one stanza per `max` recipients, all as bcc; an error
 * from the service turns it off. */
#include "unit.h"

#include "mem.h"
#include "multicast.h"
#include "service.h"
#include "stanza.h"

#define SVC "multicast.example.com"

static struct xml_node *out[16];
static size_t nout;

static void keep(void *ud, struct xml_node *st)
{
    (void)ud;
    assert_true(nout < 16);
    out[nout++] = st;
}

static void drop_out(void)
{
    for (size_t i = 0; i < nout; i++)
        xml_unref(out[i]);
    nout = 0;
}

static struct xml_node *disco_answer(const char *id, const char *type, const char *feature)
{
    struct xml_node *iq = stanza_new("iq", SVC, "conference.example.com", type, id);
    struct xml_node *q = xml_add(iq, "query", NS_DISCO_INFO);
    if (feature)
        xml_set_attr(xml_add(q, "feature", NS_DISCO_INFO), "var", feature);
    return iq;
}

static struct multicast *usable(unsigned max)
{
    struct multicast *m = multicast_new(SVC, max);
    struct xml_node *probe = multicast_probe(m, "conference.example.com");
    assert_string_equal(stanza_to(probe), SVC);
    assert_non_null(xml_child(probe, "query", NS_DISCO_INFO));
    struct xml_node *a = disco_answer(stanza_id(probe), "result", NS_ADDRESS);
    assert_true(multicast_answer(m, a));
    assert_true(multicast_usable(m));
    xml_unref(a);
    xml_unref(probe);
    return m;
}

static void t_only_after_the_service_says_so(void **state)
{
    (void)state;
    struct multicast *m = multicast_new(SVC, 20);
    assert_false(multicast_usable(m));
    struct xml_node *probe = multicast_probe(m, "conference.example.com");
    /* Another service's answer, or one with another id, is not ours. */
    struct xml_node *other = disco_answer(stanza_id(probe), "result", NS_ADDRESS);
    xml_set_attr(other, "from", "elsewhere.example.com");
    assert_false(multicast_answer(m, other));
    struct xml_node *stale = disco_answer("mc-probe-0", "result", NS_ADDRESS);
    assert_false(multicast_answer(m, stale));
    /* No address feature: not used. */
    struct xml_node *bare = disco_answer(stanza_id(probe), "result", "urn:other");
    assert_true(multicast_answer(m, bare));
    assert_false(multicast_usable(m));
    /* After a reconnect it asks again, and an error answer means no. */
    multicast_reset(m);
    struct xml_node *probe2 = multicast_probe(m, "conference.example.com");
    assert_string_not_equal(stanza_id(probe2), stanza_id(probe));
    struct xml_node *err = disco_answer(stanza_id(probe2), "error", NULL);
    assert_true(multicast_answer(m, err));
    assert_false(multicast_usable(m));
    xml_unref(other);
    xml_unref(stale);
    xml_unref(bare);
    xml_unref(err);
    xml_unref(probe);
    xml_unref(probe2);
    multicast_free(m);
}

static void t_wrap_chunks_with_bcc(void **state)
{
    (void)state;
    struct multicast *m = usable(2);
    struct xml_node *msg = stanza_new("message", "room@conference.example.com/alice", NULL,
                                      "groupchat", "m1");
    xml_add_text_child(msg, "body", NS_COMPONENT, "hello");
    const char *to[] = { "a@example.com/1", "b@example.com/2", "c@example.com/3" };
    multicast_wrap(m, msg, to, 3, keep, NULL);
    assert_int_equal(nout, 2);
    size_t seen = 0;
    for (size_t i = 0; i < nout; i++) {
        assert_string_equal(stanza_to(out[i]), SVC);
        assert_string_equal(stanza_from(out[i]), "room@conference.example.com/alice");
        assert_non_null(stanza_child(out[i], "body"));
        const struct xml_node *addrs = xml_child(out[i], "addresses", NS_ADDRESS);
        assert_non_null(addrs);
        for (const struct xml_node *a = xml_first(addrs); a; a = xml_next(a)) {
            assert_string_equal(xml_attr(a, "type"), "bcc");
            assert_string_equal(xml_attr(a, "jid"), to[seen]);
            seen++;
        }
    }
    assert_int_equal(seen, 3);
    /* The original is untouched: it may still go out copy by copy. */
    assert_null(stanza_to(msg));
    assert_null(xml_child(msg, "addresses", NS_ADDRESS));
    drop_out();
    xml_unref(msg);
    multicast_free(m);
}

static void t_error_from_service_turns_it_off(void **state)
{
    (void)state;
    struct multicast *m = usable(20);
    struct xml_node *msg = stanza_new("message", SVC, "room@conference.example.com/alice",
                                      "error", "m1");
    struct xml_node *e = xml_add(msg, "error", NULL);
    xml_set_attr(e, "type", "modify");
    xml_add(e, "not-acceptable", NS_STANZAS);
    assert_true(multicast_answer(m, msg));
    assert_false(multicast_usable(m));
    /* A normal stanza from the service is not taken. */
    struct xml_node *plain = stanza_new("message", SVC, "room@conference.example.com", NULL, "x");
    assert_false(multicast_answer(m, plain));
    xml_unref(plain);
    xml_unref(msg);
    multicast_free(m);
}

/* issue 15: [component] multicast = auto — the home domain first (Prosody's
 * mod_confab_multicast), then its disco#items (ejabberd's multicast.<host>),
 * never ourselves; the limits come from the service's XEP-0128 form. */
static struct xml_node *answer_from(const char *from, const struct xml_node *q, const char *type)
{
    struct xml_node *iq = stanza_new("iq", from, stanza_from(q), type, stanza_id(q));
    const struct xml_node *query = xml_first(q);
    xml_add(iq, "query", query->ns);
    return iq;
}

static void add_limit_form(struct xml_node *iq, const char *msg, const char *pres)
{
    struct xml_node *x = xml_add(xml_first(iq), "x", "jabber:x:data");
    xml_set_attr(x, "type", "result");
    struct xml_node *f = xml_add(x, "field", "jabber:x:data");
    xml_set_attr(f, "var", "FORM_TYPE");
    xml_set_attr(f, "type", "hidden");
    xml_add_text_child(f, "value", "jabber:x:data", NS_ADDRESS);
    f = xml_add(x, "field", "jabber:x:data");
    xml_set_attr(f, "var", "message");
    xml_add_text_child(f, "value", "jabber:x:data", msg);
    f = xml_add(x, "field", "jabber:x:data");
    xml_set_attr(f, "var", "presence");
    xml_add_text_child(f, "value", "jabber:x:data", pres);
}

static void t_auto_home_domain_with_limits(void **state)
{
    (void)state;
    struct multicast *m = multicast_new_auto("example.com", 0);
    struct xml_node *q = multicast_probe(m, "conference.example.com");
    assert_string_equal(stanza_to(q), "example.com");
    assert_non_null(xml_child(q, "query", NS_DISCO_INFO));
    struct xml_node *a = answer_from("example.com", q, "result");
    xml_set_attr(xml_add(xml_first(a), "feature", NS_DISCO_INFO), "var", NS_ADDRESS);
    add_limit_form(a, "3", "infinite");
    assert_true(multicast_answer(m, a));
    assert_null(multicast_next_probe(m, "conference.example.com"));
    assert_true(multicast_usable(m));
    assert_string_equal(multicast_service(m), "example.com");
    /* 7 recipients, 3 per message: 3 stanzas; presence: 'infinite' = one. */
    struct xml_node *msg = stanza_new("message", "room@conference.example.com/a", NULL,
                                      "groupchat", "m1");
    const char *to[] = { "a@x/1", "b@x/1", "c@x/1", "d@x/1", "e@x/1", "f@x/1", "g@x/1" };
    multicast_wrap(m, msg, to, 7, keep, NULL);
    assert_int_equal(nout, 3);
    assert_string_equal(stanza_to(out[0]), "example.com");
    drop_out();
    struct xml_node *pres = stanza_new("presence", "room@conference.example.com/a", NULL, NULL,
                                       NULL);
    multicast_wrap(m, pres, to, 7, keep, NULL);
    assert_int_equal(nout, 1);
    drop_out();
    /* A configured maximum below the service's wins; above it, the service's. */
    multicast_free(m);
    m = multicast_new_auto("example.com", 2);
    xml_unref(q);
    q = multicast_probe(m, "conference.example.com");
    xml_set_attr(a, "id", stanza_id(q));
    assert_true(multicast_answer(m, a));
    multicast_wrap(m, msg, to, 7, keep, NULL);
    assert_int_equal(nout, 4);
    drop_out();
    /* An iq error from the home domain is someone else's business. */
    struct xml_node *iqerr = stanza_new("iq", "example.com", "conference.example.com", "error",
                                        "other");
    assert_false(multicast_answer(m, iqerr));
    assert_true(multicast_usable(m));
    xml_unref(iqerr);
    xml_unref(pres);
    xml_unref(msg);
    xml_unref(a);
    xml_unref(q);
    multicast_free(m);
}

static void t_auto_items_then_each_service(void **state)
{
    (void)state;
    const char *self = "conference.example.com";
    struct multicast *m = multicast_new_auto("example.com", 0);
    struct xml_node *q = multicast_probe(m, self);
    struct xml_node *a = answer_from("example.com", q, "result"); /* no feature */
    assert_true(multicast_answer(m, a));
    assert_false(multicast_usable(m));
    xml_unref(a);
    xml_unref(q);
    q = multicast_next_probe(m, self);
    assert_non_null(q);
    assert_string_equal(stanza_to(q), "example.com");
    assert_non_null(xml_child(q, "query", NS_DISCO_ITEMS));
    a = answer_from("example.com", q, "result");
    const char *items[] = { self, "pubsub.example.com", "multicast.example.com" };
    for (size_t i = 0; i < 3; i++)
        xml_set_attr(xml_add(xml_first(a), "item", NS_DISCO_ITEMS), "jid", items[i]);
    assert_true(multicast_answer(m, a));
    xml_unref(a);
    xml_unref(q);
    /* Not ourselves: pubsub first (an error), then multicast (the feature). */
    q = multicast_next_probe(m, self);
    assert_string_equal(stanza_to(q), "pubsub.example.com");
    a = answer_from("pubsub.example.com", q, "error");
    assert_true(multicast_answer(m, a));
    xml_unref(a);
    xml_unref(q);
    q = multicast_next_probe(m, self);
    assert_string_equal(stanza_to(q), "multicast.example.com");
    a = answer_from("multicast.example.com", q, "result");
    xml_set_attr(xml_add(xml_first(a), "feature", NS_DISCO_INFO), "var", NS_ADDRESS);
    assert_true(multicast_answer(m, a));
    assert_true(multicast_usable(m));
    assert_string_equal(multicast_service(m), "multicast.example.com");
    assert_null(multicast_next_probe(m, self));
    xml_unref(a);
    xml_unref(q);
    /* Nothing anywhere: one by one, and no more questions. */
    multicast_reset(m);
    q = multicast_probe(m, self);
    a = answer_from("example.com", q, "result");
    assert_true(multicast_answer(m, a));
    xml_unref(a);
    xml_unref(q);
    q = multicast_next_probe(m, self);
    a = answer_from("example.com", q, "result"); /* no items */
    assert_true(multicast_answer(m, a));
    assert_null(multicast_next_probe(m, self));
    assert_false(multicast_usable(m));
    xml_unref(a);
    xml_unref(q);
    multicast_free(m);
}

UNIT_MAIN(cmocka_unit_test(t_only_after_the_service_says_so),
          cmocka_unit_test(t_wrap_chunks_with_bcc),
          cmocka_unit_test(t_error_from_service_turns_it_off),
          cmocka_unit_test(t_auto_home_domain_with_limits),
          cmocka_unit_test(t_auto_items_then_each_service))
