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

UNIT_MAIN(cmocka_unit_test(t_only_after_the_service_says_so),
          cmocka_unit_test(t_wrap_chunks_with_bcc),
          cmocka_unit_test(t_error_from_service_turns_it_off))
