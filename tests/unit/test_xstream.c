/* The stream parser, fed every fixture whole, split at every byte offset and
 * byte by byte: the same events must come out every time (this is what catches
 * expat's reparse deferral holding back a split stanza). */
#include "unit.h"

#include "buf.h"
#include "mem.h"
#include "xstream.h"

struct rec {
    int opens;
    int closes;
    int errors;
    char cond[64];
    char stream_id[64];
    struct buf stanzas; /* each serialised stanza followed by '\n' */
    int nstanzas;
    int rejected;
    char rejected_top[256];
};

static void r_open(void *ud, const struct xml_node *hdr)
{
    struct rec *r = ud;
    r->opens++;
    const char *id = xml_attr(hdr, "id");
    snprintf(r->stream_id, sizeof r->stream_id, "%s", id ? id : "");
}

static void r_stanza(void *ud, struct xml_node *st)
{
    struct rec *r = ud;
    xml_serialize(st, "jabber:component:accept", &r->stanzas);
    buf_putc(&r->stanzas, '\n');
    r->nstanzas++;
}

static void r_close(void *ud)
{
    ((struct rec *)ud)->closes++;
}

static void r_error(void *ud, const char *cond, const char *text)
{
    struct rec *r = ud;
    r->errors++;
    snprintf(r->cond, sizeof r->cond, "%s", cond);
}

static void r_rejected(void *ud, struct xml_node *st, const char *why)
{
    struct rec *r = ud;
    r->rejected++;
    char *s = xml_to_string(st, "jabber:component:accept");
    snprintf(r->rejected_top, sizeof r->rejected_top, "%s", s);
    free(s);
}

static const struct xstream_handler rec_handler = { r_open, r_stanza, r_close, r_error,
                                                    r_rejected };

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->stanzas);
}

/* A stream (lim NULL: the defaults) whose events r records from empty. */
static struct xstream *rec_stream(struct rec *r, const struct xstream_limits *lim)
{
    rec_init(r);
    return xstream_new(lim, &rec_handler, r);
}

/* Feed data in the given chunk boundaries; record everything. */
static void feed_split(struct rec *r, const struct xstream_limits *lim, const char *data,
                       size_t len, size_t split, size_t step)
{
    struct xstream *xs = rec_stream(r, lim);
    size_t off = 0;
    if (split) {
        xstream_feed(xs, data, split);
        off = split;
    }
    while (off < len) {
        size_t n = step && step < len - off ? step : len - off;
        xstream_feed(xs, data + off, n);
        off += n;
    }
    xstream_free(xs);
}

struct fixture_expect {
    const char *file;
    int stanzas;
    const char *error; /* NULL: must close cleanly */
};

static const struct fixture_expect fixtures[] = {
    { "stream/basic.xml", 4, NULL },
    { "stream/unicode.xml", 2, NULL },
    { "stream/doctype.xml", 0, "restricted-xml" },
    { "stream/comment.xml", 1, "restricted-xml" },
    { "stream/pi.xml", 1, "restricted-xml" },
    { "stream/mismatched.xml", 0, "not-well-formed" },
    { "stream/badroot.xml", 0, "invalid-namespace" },
    { "stream/text-outside.xml", 1, "bad-format" },
    { "stream/undefined-entity.xml", 0, "restricted-xml" },
};

static void check_same(const struct fixture_expect *fx, struct rec *whole, struct rec *part,
                       size_t split, size_t step)
{
    if (part->nstanzas != whole->nstanzas || part->errors != whole->errors ||
        part->closes != whole->closes || strcmp(part->cond, whole->cond) != 0 ||
        strcmp(part->stanzas.data ? part->stanzas.data : "",
               whole->stanzas.data ? whole->stanzas.data : "") != 0)
        fail_msg("%s split at %zu step %zu: %d stanzas/%d errors (%s) vs whole %d/%d (%s)",
                 fx->file, split, step, part->nstanzas, part->errors, part->cond,
                 whole->nstanzas, whole->errors, whole->cond);
}

static void test_fixtures_every_split(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
        const struct fixture_expect *fx = &fixtures[i];
        size_t len;
        char *data = unit_read_fixture(fx->file, &len);
        struct rec whole;
        feed_split(&whole, NULL, data, len, 0, 0);
        if (whole.nstanzas != fx->stanzas)
            fail_msg("%s: %d stanzas, expected %d", fx->file, whole.nstanzas, fx->stanzas);
        if (fx->error) {
            assert_int_equal(whole.errors, 1);
            assert_string_equal(whole.cond, fx->error);
            assert_int_equal(whole.closes, 0);
        } else {
            assert_int_equal(whole.errors, 0);
            assert_int_equal(whole.closes, 1);
            assert_int_equal(whole.opens, 1);
        }
        for (size_t split = 1; split < len; split++) {
            struct rec part;
            feed_split(&part, NULL, data, len, split, 0);
            check_same(fx, &whole, &part, split, 0);
            buf_free(&part.stanzas);
        }
        struct rec bytes;
        feed_split(&bytes, NULL, data, len, 0, 1);
        check_same(fx, &whole, &bytes, 0, 1);
        buf_free(&bytes.stanzas);
        buf_free(&whole.stanzas);
        free(data);
    }
}

/* A stanza must be delivered as soon as its last byte arrives, not when the
 * next read comes in. */
static void test_stanza_delivered_without_more_input(void **state)
{
    const char *hdr = "<stream:stream xmlns='jabber:component:accept' "
                      "xmlns:stream='http://etherx.jabber.org/streams' id='x'>";
    struct rec r;
    struct xstream *xs = rec_stream(&r, NULL);
    assert_int_equal(xstream_feed(xs, hdr, strlen(hdr)), 0);
    assert_int_equal(r.opens, 1);
    assert_string_equal(r.stream_id, "x");
    assert_int_equal(xstream_feed(xs, "<handsh", 7), 0);
    assert_int_equal(r.nstanzas, 0);
    assert_int_equal(xstream_feed(xs, "ake/>", 5), 0);
    assert_int_equal(r.nstanzas, 1);
    xstream_free(xs);
    buf_free(&r.stanzas);
}

static void test_content_preserved(void **state)
{
    size_t len;
    char *data = unit_read_fixture("stream/unicode.xml", &len);
    struct rec r;
    feed_split(&r, NULL, data, len, 0, 0);
    const char *s = r.stanzas.data;
    assert_non_null(strstr(s, "Räksmörgås — 日本語 😀 AB"));
    assert_non_null(strstr(s, "xml:lang='sv'"));
    assert_non_null(strstr(s, "parent='p&apos;1'"));
    assert_non_null(strstr(s, "t\"</thread>"));
    assert_non_null(strstr(s, "&lt;not&gt; a tag"));
    assert_non_null(strstr(s, "<entry xmlns='http://www.w3.org/2005/Atom' xmlns:a0='urn:foo' a0:bar='baz'>"));
    assert_non_null(strstr(s, "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'>"));
    free(data);
    buf_free(&r.stanzas);
}

static char *big_stanza(size_t body_bytes)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<stream:stream xmlns='jabber:component:accept' "
                 "xmlns:stream='http://etherx.jabber.org/streams' id='x'><message><body>");
    char *fill = buf_reserve(&b, body_bytes);
    memset(fill, 'a', body_bytes);
    b.len += body_bytes;
    buf_puts(&b, "</body></message>");
    return buf_steal(&b, NULL);
}

static void test_stanza_size_limit(void **state)
{
    struct xstream_limits lim = { .max_stanza_bytes = 1000 };
    /* "<message><body>" + "</body></message>" = 32 bytes of markup. */
    char *ok = big_stanza(1000 - 32);
    struct rec r;
    feed_split(&r, &lim, ok, strlen(ok), 0, 7);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.nstanzas, 1);
    buf_free(&r.stanzas);
    free(ok);

    char *over = big_stanza(1000 - 31);
    feed_split(&r, &lim, over, strlen(over), 0, 7);
    assert_int_equal(r.errors, 1);
    assert_string_equal(r.cond, "policy-violation");
    assert_int_equal(r.nstanzas, 0);
    buf_free(&r.stanzas);
    free(over);
}

/* An attribute value that never ends must not make the parser buffer forever. */
static void test_unterminated_token_bounded(void **state)
{
    struct xstream_limits lim = { .max_stanza_bytes = 4096 };
    struct rec r;
    struct xstream *xs = rec_stream(&r, &lim);
    const char *hdr = "<stream:stream xmlns='jabber:component:accept' "
                      "xmlns:stream='http://etherx.jabber.org/streams' id='x'><message to='";
    assert_int_equal(xstream_feed(xs, hdr, strlen(hdr)), 0);
    char chunk[1024];
    memset(chunk, 'x', sizeof chunk);
    int rc = 0;
    int fed = 0;
    while (rc == 0 && fed < 100) {
        rc = xstream_feed(xs, chunk, sizeof chunk);
        fed++;
    }
    assert_int_equal(rc, -EPROTO);
    assert_true(fed <= 5);
    assert_string_equal(r.cond, "policy-violation");
    /* Once failed, the stream stays failed and reports nothing more. */
    assert_int_equal(xstream_feed(xs, "<message/>", 10), -EPROTO);
    assert_int_equal(r.errors, 1);
    xstream_free(xs);
    buf_free(&r.stanzas);
}

/* One stanza past the depth limit is skipped and reported; the stream goes on
 * (one user must not be able to cut the component off the router). */
static void test_depth_limit(void **state)
{
    struct xstream_limits lim = { .max_depth = 4 };
    const char *ok = "<stream:stream xmlns='jabber:component:accept' "
                     "xmlns:stream='http://etherx.jabber.org/streams'><a><b><c/></b></a>";
    const char *deep = "<stream:stream xmlns='jabber:component:accept' "
                       "xmlns:stream='http://etherx.jabber.org/streams'>"
                       "<message from='x@y/z' id='7' extra='1'><b><c><d><e/></d>t</c></b>"
                       "</message><message id='next'/>";
    struct rec r;
    feed_split(&r, &lim, ok, strlen(ok), 0, 0);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.nstanzas, 1);
    buf_free(&r.stanzas);
    for (size_t step = 0; step <= 1; step++) {
        feed_split(&r, &lim, deep, strlen(deep), 0, step);
        assert_int_equal(r.errors, 0);
        assert_int_equal(r.rejected, 1);
        assert_string_equal(r.rejected_top, "<message from='x@y/z' id='7'/>");
        assert_int_equal(r.nstanzas, 1);
        assert_string_equal(r.stanzas.data, "<message id='next'/>\n");
        buf_free(&r.stanzas);
    }
}

/* head and then tail, fed in one piece. */
static void feed_whole(struct rec *r, const struct xstream_limits *lim, const char *head,
                       const char *tail)
{
    char doc[512];
    snprintf(doc, sizeof doc, "%s%s", head, tail);
    feed_split(r, lim, doc, strlen(doc), 0, 0);
}

static void test_attr_limit(void **state)
{
    struct xstream_limits lim = { .max_attrs = 3 };
    const char *hdr = "<stream:stream xmlns='jabber:component:accept' "
                      "xmlns:stream='http://etherx.jabber.org/streams'>";
    struct rec r;
    feed_whole(&r, &lim, hdr, "<message a='1' b='2' c='3'/>");
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.nstanzas, 1);
    buf_free(&r.stanzas);
    feed_whole(&r, &lim, hdr, "<message><x a='1' b='2' c='3' d='4'/></message><iq/>");
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.rejected, 1);
    assert_int_equal(r.nstanzas, 1);
    buf_free(&r.stanzas);
    /* Too many attributes on the stanza element itself: only the addressing stays. */
    feed_whole(&r, &lim, hdr, "<message to='a@b' a='1' b='2' c='3'/>");
    assert_int_equal(r.rejected, 1);
    assert_string_equal(r.rejected_top, "<message to='a@b'/>");
    buf_free(&r.stanzas);
    /* On the stream header it is the stream's own problem. */
    feed_whole(&r, &lim,
               "<stream:stream xmlns='jabber:component:accept' "
               "xmlns:stream='http://etherx.jabber.org/streams' a='1' b='2' c='3' d='4'>",
               "");
    assert_int_equal(r.errors, 1);
    assert_string_equal(r.cond, "policy-violation");
    buf_free(&r.stanzas);
}

/* Reset gives a fresh stream: the next connection's header is accepted. */
static void test_reset(void **state)
{
    const char *hdr = "<stream:stream xmlns='jabber:component:accept' "
                      "xmlns:stream='http://etherx.jabber.org/streams' id='one'><!-- x -->";
    struct rec r;
    struct xstream *xs = rec_stream(&r, NULL);
    assert_int_equal(xstream_feed(xs, hdr, strlen(hdr)), -EPROTO);
    assert_string_equal(xstream_content_ns(xs), "jabber:component:accept");
    xstream_reset(xs);
    const char *h2 = "<stream:stream xmlns='jabber:client' "
                     "xmlns:stream='http://etherx.jabber.org/streams' id='two'><message/>";
    assert_int_equal(xstream_feed(xs, h2, strlen(h2)), 0);
    assert_string_equal(r.stream_id, "two");
    assert_string_equal(xstream_content_ns(xs), "jabber:client");
    assert_int_equal(r.nstanzas, 1);
    xstream_free(xs);
    buf_free(&r.stanzas);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_every_split),
        cmocka_unit_test(test_stanza_delivered_without_more_input),
        cmocka_unit_test(test_content_preserved),
        cmocka_unit_test(test_stanza_size_limit),
        cmocka_unit_test(test_unterminated_token_bounded),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_attr_limit),
        cmocka_unit_test(test_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
