/* What confabd and confab-archiver answer at their domains, and the stanza
 * errors for everything they do not serve. Pure logic: replies are captured. */
#include "unit.h"

#include "archiver.h"
#include "mem.h"
#include "muc.h"
#include "stanza.h"

#define DOMAIN "conference.example"

struct sent {
    struct xml_node *st[8];
    int n;
};

static void capture(void *ud, const struct xml_node *st)
{
    struct sent *s = ud;
    assert_true(s->n < 8);
    s->st[s->n++] = xml_copy(st);
}

static void sent_clear(struct sent *s)
{
    for (int i = 0; i < s->n; i++)
        xml_unref(s->st[i]);
    s->n = 0;
}

static void capture_each(void *ud, const struct xml_node *st, const char *const *to, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct xml_node *c = xml_copy(st);
        xml_set_attr(c, "to", to[i]);
        capture(ud, c);
        xml_unref(c);
    }
}

static void capture_raw(void *ud, const char *data, size_t len)
{
    fail_msg("unexpected raw output");
}

static int64_t fixed_now(void *ud)
{
    return 1700000000000;
}

static struct muc *new_muc(struct sent *s, const char *name)
{
    struct muc_limits lim;
    muc_limits_default(&lim);
    static const unsigned char key[32] = { 1, 2, 3 };
    struct muc_io io = { .send = capture, .send_each = capture_each, .send_raw = capture_raw,
                         .now_ms = fixed_now, .ud = s };
    return muc_new(DOMAIN, name, &lim, key, &io);
}

static void run_muc(struct sent *s, const char *xml)
{
    struct muc *m = new_muc(s, "Chatrooms");
    struct xml_node *st = unit_parse(xml);
    muc_handle(m, st);
    xml_unref(st);
    muc_free(m);
}

static void assert_error(const struct xml_node *r, const char *cond, const char *type)
{
    assert_string_equal(stanza_type(r), "error");
    struct xml_node *e = stanza_child(r, "error");
    assert_non_null(e);
    assert_string_equal(xml_attr(e, "type"), type);
    const char *c = stanza_error_condition(e, NS_STANZAS);
    assert_non_null(c);
    assert_string_equal(c, cond);
}

static void test_disco_info(void **state)
{
    struct sent s = { 0 };
    run_muc(&s, "<iq type='get' id='d1' from='alice@example/pc' to='" DOMAIN "'>"
                "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    assert_int_equal(s.n, 1);
    struct xml_node *r = s.st[0];
    assert_string_equal(stanza_type(r), "result");
    assert_string_equal(stanza_id(r), "d1");
    assert_string_equal(stanza_to(r), "alice@example/pc");
    assert_string_equal(stanza_from(r), DOMAIN);
    struct xml_node *q = xml_child(r, "query", NS_DISCO_INFO);
    assert_non_null(q);
    struct xml_node *id = xml_child(q, "identity", NULL);
    assert_string_equal(xml_attr(id, "category"), "conference");
    assert_string_equal(xml_attr(id, "type"), "text");
    assert_string_equal(xml_attr(id, "name"), "Chatrooms");
    assert_true(has_feature(q, NS_MUC));
    assert_true(has_feature(q, NS_DISCO_INFO));
    assert_true(has_feature(q, NS_DISCO_ITEMS));
    assert_true(has_feature(q, NS_VERSION));
    assert_true(has_feature(q, NS_PING));
    assert_true(has_feature(q, NS_MUC_UNIQUE));
    assert_false(has_feature(q, "urn:xmpp:mam:2"));
    sent_clear(&s);
}

static void test_disco_info_node(void **state)
{
    struct sent s = { 0 };
    run_muc(&s, "<iq type='get' id='d2' from='a@example/r' to='" DOMAIN "'>"
                "<query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>");
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "item-not-found", "cancel");
    sent_clear(&s);
}

static void test_disco_items_version_ping(void **state)
{
    struct sent s = { 0 };
    run_muc(&s, "<iq type='get' id='i' from='a@example/r' to='" DOMAIN "'>"
                "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
    assert_int_equal(s.n, 1);
    assert_string_equal(stanza_type(s.st[0]), "result");
    struct xml_node *q = xml_child(s.st[0], "query", NS_DISCO_ITEMS);
    assert_non_null(q);
    assert_null(xml_first(q));
    sent_clear(&s);

    run_muc(&s, "<iq type='get' id='v' from='a@example/r' to='" DOMAIN "'>"
                "<query xmlns='jabber:iq:version'/></iq>");
    assert_int_equal(s.n, 1);
    q = xml_child(s.st[0], "query", NS_VERSION);
    char *name = xml_text(xml_child(q, "name", NULL));
    char *ver = xml_text(xml_child(q, "version", NULL));
    assert_string_equal(name, "confabd");
    assert_string_equal(ver, PACKAGE_VERSION);
    free(name);
    free(ver);
    sent_clear(&s);

    run_muc(&s, "<iq type='get' id='p' from='a@example/r' to='" DOMAIN "'>"
                "<ping xmlns='urn:xmpp:ping'/></iq>");
    assert_int_equal(s.n, 1);
    assert_string_equal(stanza_type(s.st[0]), "result");
    assert_string_equal(stanza_id(s.st[0]), "p");
    assert_null(xml_first(s.st[0]));
    sent_clear(&s);
}

static void test_unknown_iq(void **state)
{
    struct sent s = { 0 };
    run_muc(&s, "<iq type='get' id='u' from='a@example/r' to='" DOMAIN "'>"
                "<query xmlns='urn:example:unknown'/></iq>");
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "service-unavailable", "cancel");
    assert_string_equal(stanza_id(s.st[0]), "u");
    sent_clear(&s);
    run_muc(&s, "<iq type='set' id='u2' from='a@example/r' to='" DOMAIN "'>"
                "<ping xmlns='urn:xmpp:ping'/></iq>");
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "service-unavailable", "cancel");
    sent_clear(&s);
    run_muc(&s, "<iq type='get' id='u3' from='a@example/r' to='" DOMAIN "'>"
                "<ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>");
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "bad-request", "modify");
    sent_clear(&s);
    run_muc(&s, "<iq type='bogus' id='u4' from='a@example/r' to='" DOMAIN "'/>");
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "bad-request", "modify");
    sent_clear(&s);
}

static void test_never_answer_results_or_errors(void **state)
{
    struct sent s = { 0 };
    run_muc(&s, "<iq type='result' id='r' from='a@example/r' to='" DOMAIN "'/>");
    run_muc(&s, "<iq type='error' id='e' from='a@example/r' to='" DOMAIN "'/>");
    run_muc(&s, "<message type='error' from='a@example/r' to='" DOMAIN "'/>");
    run_muc(&s, "<presence type='unavailable' from='a@example/r' to='" DOMAIN "'/>");
    run_muc(&s, "<presence type='unavailable' from='a@example/r' to='room@" DOMAIN "/nick'/>");
    assert_int_equal(s.n, 0);
}

static void test_message_and_presence_to_service(void **state)
{
    struct sent s = { 0 };
    run_muc(&s, "<message id='m' from='a@example/r' to='" DOMAIN "'><body>hi</body></message>");
    assert_int_equal(s.n, 1);
    assert_string_equal(s.st[0]->name, "message");
    assert_error(s.st[0], "service-unavailable", "cancel");
    assert_string_equal(stanza_id(s.st[0]), "m");
    sent_clear(&s);
    run_muc(&s, "<presence from='a@example/r' to='" DOMAIN "'/>");
    assert_int_equal(s.n, 1);
    assert_string_equal(s.st[0]->name, "presence");
    assert_error(s.st[0], "service-unavailable", "cancel");
    sent_clear(&s);
}

static void test_addressing_errors(void **state)
{
    struct sent s = { 0 };
    run_muc(&s, "<iq type='get' id='n' from='a@example/r'><ping xmlns='urn:xmpp:ping'/></iq>");
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "bad-request", "modify");
    assert_string_equal(stanza_from(s.st[0]), DOMAIN);
    assert_string_equal(stanza_to(s.st[0]), "a@example/r");
    sent_clear(&s);

    run_muc(&s, "<iq type='get' id='f' from='a@example/r' to='other.example'>"
                "<ping xmlns='urn:xmpp:ping'/></iq>");
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "item-not-found", "cancel");
    assert_string_equal(stanza_from(s.st[0]), DOMAIN);
    sent_clear(&s);

    run_muc(&s, "<message id='j' from='a@example/r' to='bad user@" DOMAIN "'/>");
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "jid-malformed", "modify");
    assert_string_equal(stanza_from(s.st[0]), DOMAIN);
    sent_clear(&s);

    run_muc(&s, "<iq type='get' id='res' from='a@example/r' to='" DOMAIN "/res'>"
                "<ping xmlns='urn:xmpp:ping'/></iq>");
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "service-unavailable", "cancel");
    assert_string_equal(stanza_from(s.st[0]), DOMAIN "/res");
    sent_clear(&s);

    /* Nobody to answer: dropped. */
    run_muc(&s, "<iq type='get' id='x' to='" DOMAIN "'><ping xmlns='urn:xmpp:ping'/></iq>");
    run_muc(&s, "<iq type='get' id='y' from='@bad' to='" DOMAIN "'><ping xmlns='urn:xmpp:ping'/></iq>");
    assert_int_equal(s.n, 0);
}

static void test_room_addresses(void **state)
{
    struct sent s = { 0 };
    run_muc(&s, "<iq type='get' id='r1' from='a@example/r' to='room@" DOMAIN "'>"
                "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "item-not-found", "cancel");
    assert_string_equal(stanza_from(s.st[0]), "room@" DOMAIN);
    sent_clear(&s);
    run_muc(&s, "<message type='groupchat' from='a@example/r' to='room@" DOMAIN "'>"
                "<body>hi</body></message>");
    assert_int_equal(s.n, 1);
    assert_string_equal(s.st[0]->name, "message");
    assert_error(s.st[0], "item-not-found", "cancel");
    sent_clear(&s);
}

static void test_archiver_identity(void **state)
{
    struct sent s = { 0 };
    struct archiver *a = archiver_new("archive.example", capture, &s);
    struct xml_node *st = unit_parse("<iq type='get' id='a' from='a@example/r' "
                                     "to='archive.example'><query "
                                     "xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    archiver_handle(a, st);
    xml_unref(st);
    assert_int_equal(s.n, 1);
    struct xml_node *q = xml_child(s.st[0], "query", NS_DISCO_INFO);
    struct xml_node *id = xml_child(q, "identity", NULL);
    assert_string_equal(xml_attr(id, "category"), "component");
    assert_string_equal(xml_attr(id, "type"), "archive");
    assert_false(has_feature(q, NS_MUC));
    assert_true(has_feature(q, NS_PING));
    sent_clear(&s);
    st = unit_parse("<message from='a@example/r' to='x@archive.example'/>");
    archiver_handle(a, st);
    xml_unref(st);
    assert_int_equal(s.n, 1);
    assert_error(s.st[0], "service-unavailable", "cancel");
    sent_clear(&s);
    archiver_free(a);
}

static void test_rename(void **state)
{
    struct sent s = { 0 };
    struct muc *m = new_muc(&s, "Old");
    muc_set_name(m, "New name");
    struct xml_node *st = unit_parse("<iq type='get' id='d' from='a@example/r' to='" DOMAIN "'>"
                                     "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    muc_handle(m, st);
    xml_unref(st);
    struct xml_node *id = xml_child(xml_child(s.st[0], "query", NULL), "identity", NULL);
    assert_string_equal(xml_attr(id, "name"), "New name");
    sent_clear(&s);
    muc_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disco_info),
        cmocka_unit_test(test_disco_info_node),
        cmocka_unit_test(test_disco_items_version_ping),
        cmocka_unit_test(test_unknown_iq),
        cmocka_unit_test(test_never_answer_results_or_errors),
        cmocka_unit_test(test_message_and_presence_to_service),
        cmocka_unit_test(test_addressing_errors),
        cmocka_unit_test(test_room_addresses),
        cmocka_unit_test(test_archiver_identity),
        cmocka_unit_test(test_rename),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
