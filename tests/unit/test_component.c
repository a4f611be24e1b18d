/* The XEP-0114 stream engine, driven with bytes only: no sockets. */
#include "unit.h"

#include "buf.h"
#include "component.h"
#include "mem.h"
#include "stanza.h"

struct cap {
    struct buf out;
    int ready;
    int stanzas;
    char last_stanza[512];
    int closed;
    enum component_fail kind;
    char reason[512];
};

static void c_write(void *ud, const char *d, size_t n) { buf_append(&((struct cap *)ud)->out, d, n); }
static void c_ready(void *ud) { ((struct cap *)ud)->ready++; }

static void c_stanza(void *ud, struct xml_node *st)
{
    struct cap *c = ud;
    c->stanzas++;
    char *s = xml_to_string(st, NS_COMPONENT);
    snprintf(c->last_stanza, sizeof c->last_stanza, "%s", s);
    free(s);
}

static void c_closed(void *ud, enum component_fail kind, const char *reason)
{
    struct cap *c = ud;
    c->closed++;
    c->kind = kind;
    snprintf(c->reason, sizeof c->reason, "%s", reason);
}

static const struct component_handler handler = { c_write, c_ready, c_stanza, c_closed, NULL };

static const char ROUTER_HDR[] = "<?xml version='1.0'?><stream:stream xmlns:stream="
                                 "'http://etherx.jabber.org/streams' xmlns='jabber:component:accept' "
                                 "from='conf.example' id='3BF96D32'>";

static struct component *setup(struct cap *c)
{
    memset(c, 0, sizeof *c);
    buf_init(&c->out);
    struct component *comp = component_new("conf.example", "s3cret", NULL, &handler, c);
    component_start(comp);
    return comp;
}

static void feed(struct component *comp, const char *s)
{
    (void)component_feed(comp, s, strlen(s));
}

static struct component *setup_ready(struct cap *c)
{
    struct component *comp = setup(c);
    feed(comp, ROUTER_HDR);
    feed(comp, "<handshake/>");
    assert_int_equal(c->ready, 1);
    buf_reset(&c->out);
    return comp;
}

static void teardown(struct component *comp, struct cap *c)
{
    component_free(comp);
    buf_free(&c->out);
}

static void test_digest_known_answer(void **state)
{
    char d[41];
    /* FIPS 180 test vector SHA-1("abc"), split between stream id and secret. */
    component_handshake_digest("a", "bc", d);
    assert_string_equal(d, "a9993e364706816aba3e25717850c26c9cd0d89d");
    component_handshake_digest("", "abc", d);
    assert_string_equal(d, "a9993e364706816aba3e25717850c26c9cd0d89d");
    component_handshake_digest("3BF96D32", "secret", d);
    assert_string_equal(d, "b09ea9b3b7f586be8a08d0a3dd7466f110aeb136");
}

static void test_handshake_flow(void **state)
{
    struct cap c;
    struct component *comp = setup(&c);
    assert_non_null(strstr(c.out.data, "<stream:stream xmlns='jabber:component:accept'"));
    assert_non_null(strstr(c.out.data, "to='conf.example'"));
    buf_reset(&c.out);
    feed(comp, ROUTER_HDR);
    char want[80], d[41];
    component_handshake_digest("3BF96D32", "s3cret", d);
    snprintf(want, sizeof want, "<handshake>%s</handshake>", d);
    assert_string_equal(c.out.data, want);
    assert_false(component_is_ready(comp));
    assert_int_equal(c.ready, 0);
    feed(comp, "<handshake/>");
    assert_int_equal(c.ready, 1);
    assert_true(component_is_ready(comp));
    teardown(comp, &c);
}

static void test_stanzas_both_ways(void **state)
{
    struct cap c;
    struct component *comp = setup_ready(&c);
    feed(comp, "<message from='a@b/c' to='r@conf.example' type='groupchat'><body>x</body></message>"
               " \n ");
    assert_int_equal(c.stanzas, 1);
    assert_string_equal(c.last_stanza, "<message from='a@b/c' to='r@conf.example' "
                                       "type='groupchat'><body>x</body></message>");
    struct xml_node *st = stanza_new("iq", "conf.example", "a@b/c", "result", "7");
    assert_int_equal(component_send(comp, st), 0);
    assert_string_equal(c.out.data, "<iq from='conf.example' to='a@b/c' type='result' id='7'/>");
    xml_unref(st);
    assert_int_equal(c.closed, 0);
    teardown(comp, &c);
}

static void test_send_before_ready(void **state)
{
    struct cap c;
    struct component *comp = setup(&c);
    struct xml_node *st = stanza_new("message", "conf.example", "a@b", NULL, NULL);
    assert_int_equal(component_send(comp, st), -ENOTCONN);
    xml_unref(st);
    teardown(comp, &c);
}

static void test_bad_secret_refused(void **state)
{
    struct cap c;
    struct component *comp = setup(&c);
    feed(comp, ROUTER_HDR);
    feed(comp, "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
               "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Given token does not match"
               "</text></stream:error></stream:stream>");
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.kind, COMPONENT_FAIL_REFUSED);
    assert_non_null(strstr(c.reason, "not-authorized"));
    assert_non_null(strstr(c.reason, "check the secret"));
    assert_non_null(strstr(c.reason, "Given token does not match"));
    assert_int_equal(c.ready, 0);
    teardown(comp, &c);
}

static void test_conflict_refused(void **state)
{
    struct cap c;
    struct component *comp = setup_ready(&c);
    feed(comp, "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.kind, COMPONENT_FAIL_REFUSED);
    assert_non_null(strstr(c.reason, "conflict"));
    teardown(comp, &c);
}

static void test_transient_stream_error(void **state)
{
    struct cap c;
    struct component *comp = setup_ready(&c);
    feed(comp, "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
               "</stream:error>");
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.kind, COMPONENT_FAIL_PROTOCOL);
    assert_non_null(strstr(c.reason, "system-shutdown"));
    teardown(comp, &c);
}

static void test_router_closes(void **state)
{
    struct cap c;
    struct component *comp = setup_ready(&c);
    feed(comp, "</stream:stream>");
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.kind, COMPONENT_FAIL_CLOSED);
    assert_string_equal(c.out.data, "</stream:stream>");
    assert_int_equal(component_feed(comp, "<message/>", 10), -ENOTCONN);
    teardown(comp, &c);
}

static void expect_stream_error(const char *input, bool ready_first, const char *cond)
{
    struct cap c;
    struct component *comp = ready_first ? setup_ready(&c) : setup(&c);
    if (!ready_first)
        buf_reset(&c.out);
    feed(comp, input);
    assert_int_equal(c.closed, 1);
    assert_int_equal(c.kind, COMPONENT_FAIL_PROTOCOL);
    char want[160];
    snprintf(want, sizeof want, "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
             cond);
    if (!strstr(c.out.data ? c.out.data : "", want))
        fail_msg("expected %s in output, got: %s", want, c.out.data ? c.out.data : "(nothing)");
    assert_non_null(strstr(c.out.data, "</stream:stream>"));
    assert_non_null(strstr(c.reason, cond));
    teardown(comp, &c);
}

static void test_protocol_errors(void **state)
{
    expect_stream_error("<message><body></message>", true, "not-well-formed");
    expect_stream_error("<foo/>", true, "unsupported-stanza-type");
    expect_stream_error("<!-- c -->", true, "restricted-xml");
    expect_stream_error("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                        "xmlns='jabber:client' id='1'>", false, "invalid-namespace");
    expect_stream_error("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                        "xmlns='jabber:component:accept'>", false, "bad-format");
}

static void test_stanza_before_handshake(void **state)
{
    struct cap c;
    struct component *comp = setup(&c);
    feed(comp, ROUTER_HDR);
    feed(comp, "<message to='x@conf.example'/>");
    assert_int_equal(c.stanzas, 0);
    assert_int_equal(c.closed, 1);
    assert_non_null(strstr(c.out.data, "<not-authorized"));
    teardown(comp, &c);
}

static void test_restart_after_close(void **state)
{
    struct cap c;
    struct component *comp = setup_ready(&c);
    feed(comp, "</stream:stream>");
    assert_int_equal(c.closed, 1);
    component_start(comp);
    feed(comp, ROUTER_HDR);
    feed(comp, "<handshake/><message to='r@conf.example' from='a@b'/>");
    assert_int_equal(c.ready, 2);
    assert_int_equal(c.stanzas, 1);
    teardown(comp, &c);
}

static void test_close_from_our_side(void **state)
{
    struct cap c;
    struct component *comp = setup_ready(&c);
    component_close(comp, NULL, NULL);
    assert_string_equal(c.out.data, "</stream:stream>");
    assert_int_equal(c.closed, 0);
    assert_false(component_is_ready(comp));
    teardown(comp, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_known_answer),
        cmocka_unit_test(test_handshake_flow),
        cmocka_unit_test(test_stanzas_both_ways),
        cmocka_unit_test(test_send_before_ready),
        cmocka_unit_test(test_bad_secret_refused),
        cmocka_unit_test(test_conflict_refused),
        cmocka_unit_test(test_transient_stream_error),
        cmocka_unit_test(test_router_closes),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_stanza_before_handshake),
        cmocka_unit_test(test_restart_after_close),
        cmocka_unit_test(test_close_from_our_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
