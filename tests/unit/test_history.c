/* Discussion history: the ring's eviction and resizing, <history/> parsing, and
 * the XEP-0045 §7.2.15 selection with each limit alone and combined. */
#include "unit.h"

#include <limits.h>

#include "history.h"
#include "mem.h"
#include "xml.h"

#define NOW INT64_C(1700000000000)
#define NO_CAP SIZE_MAX

static const struct history_req ALL = {
    HISTORY_UNSET, HISTORY_UNSET, HISTORY_UNSET, HISTORY_UNSET
};

/* Entries hold "<m>0001</m": the first ENTRY_LEN bytes of an 11-byte string,
 * so a copy that ran to the NUL instead of len would show. */
#define ENTRY_LEN 10

static void push_seq(struct history *h, uint64_t seq, int64_t ts)
{
    char xml[32];
    int n = snprintf(xml, sizeof xml, "<m>%04llu</m>", (unsigned long long)seq);
    assert_int_equal(n, ENTRY_LEN + 1);
    history_push(h, seq, ts, xml, ENTRY_LEN);
}

/* Entries 1..n, one second apart, the newest at NOW - 1000. */
static void fill(struct history *h, size_t n)
{
    for (size_t i = 1; i <= n; i++)
        push_seq(h, i, NOW - (int64_t)(n + 1 - i) * 1000);
}

static void expect_seqs(const struct history *h, uint64_t first_seq, size_t n)
{
    assert_int_equal(h->count, n);
    for (size_t i = 0; i < n; i++) {
        const struct hist_entry *e = history_at(h, i);
        assert_non_null(e);
        assert_int_equal(e->seq, first_seq + i);
    }
    assert_null(history_at(h, n));
}

/* Run a selection and check it returns the tail of want entries, first = count - want. */
static void expect_select(const struct history *h, const struct history_req *req,
                          size_t service_max, size_t extra, size_t want)
{
    size_t first = 999;
    size_t n = history_select(h, req, NOW, service_max, extra, &first);
    assert_int_equal(n, want);
    assert_int_equal(first, h->count - want);
}

/* One limit of an otherwise empty request set to each case's value in turn. */
enum limit { LIMIT_MAXCHARS, LIMIT_MAXSTANZAS, LIMIT_SECONDS, LIMIT_SINCE };
struct limit_case {
    int64_t value;
    size_t service_max, want;
};

static void expect_limit(const struct history *h, enum limit which, const struct limit_case *c,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct history_req r = ALL;
        switch (which) {
        case LIMIT_MAXCHARS: r.maxchars = (long)c[i].value; break;
        case LIMIT_MAXSTANZAS: r.maxstanzas = (long)c[i].value; break;
        case LIMIT_SECONDS: r.seconds = (long)c[i].value; break;
        case LIMIT_SINCE: r.since_ms = c[i].value; break;
        }
        expect_select(h, &r, c[i].service_max, 0, c[i].want);
    }
}

static void test_ring_eviction(void **state)
{
    struct history h;
    history_init(&h, 3);
    assert_null(history_at(&h, 0));
    push_seq(&h, 1, 100);
    push_seq(&h, 2, 200);
    expect_seqs(&h, 1, 2);
    push_seq(&h, 3, 300);
    push_seq(&h, 4, 400);
    push_seq(&h, 5, 500);
    expect_seqs(&h, 3, 3);
    const struct hist_entry *e = history_at(&h, 0);
    assert_int_equal(e->ts_ms, 300);
    assert_int_equal(e->xml_len, ENTRY_LEN);
    assert_string_equal(e->xml, "<m>0003</m");
    assert_string_equal(history_at(&h, 2)->xml, "<m>0005</m");
    for (uint64_t s = 6; s <= 11; s++)
        push_seq(&h, s, (int64_t)s * 100);
    expect_seqs(&h, 9, 3);
    history_free(&h);
    assert_null(h.ring);
    assert_int_equal(h.count, 0);
}

static void test_push_copies(void **state)
{
    struct history h;
    history_init(&h, 2);
    char buf[] = "<message>\xc3\xa9</message>";
    history_push(&h, 7, -5, buf, sizeof buf - 1);
    buf[1] = 'X';
    const struct hist_entry *e = history_at(&h, 0);
    assert_ptr_not_equal(e->xml, buf);
    assert_string_equal(e->xml, "<message>\xc3\xa9</message>");
    assert_int_equal(e->xml_len, sizeof buf - 1);
    assert_int_equal(e->ts_ms, -5);
    history_push(&h, 8, 0, "", 0);
    assert_string_equal(history_at(&h, 1)->xml, "");
    history_free(&h);
}

static void test_cap_zero(void **state)
{
    struct history h;
    history_init(&h, 0);
    push_seq(&h, 1, NOW);
    assert_int_equal(h.count, 0);
    assert_null(history_at(&h, 0));
    expect_select(&h, &ALL, NO_CAP, 0, 0);
    history_resize(&h, 2);
    push_seq(&h, 2, NOW);
    expect_seqs(&h, 2, 1);
    history_free(&h);
}

static void test_resize(void **state)
{
    struct history h;
    history_init(&h, 5);
    fill(&h, 7);                /* wrapped: head is not at 0 */
    expect_seqs(&h, 3, 5);
    assert_int_not_equal(h.head, 0);

    history_resize(&h, 2);
    assert_int_equal(h.cap, 2);
    expect_seqs(&h, 6, 2);
    push_seq(&h, 8, NOW);
    expect_seqs(&h, 7, 2);

    history_resize(&h, 4);
    assert_int_equal(h.cap, 4);
    expect_seqs(&h, 7, 2);
    push_seq(&h, 9, NOW);
    push_seq(&h, 10, NOW);
    expect_seqs(&h, 7, 4);
    push_seq(&h, 11, NOW);
    expect_seqs(&h, 8, 4);
    assert_string_equal(history_at(&h, 3)->xml, "<m>0011</m");

    history_resize(&h, 4);      /* same size: untouched */
    expect_seqs(&h, 8, 4);

    history_resize(&h, 0);
    assert_int_equal(h.count, 0);
    assert_null(h.ring);
    push_seq(&h, 12, NOW);
    assert_int_equal(h.count, 0);
    history_free(&h);
}

static void test_select_defaults(void **state)
{
    struct history h;
    history_init(&h, 10);
    expect_select(&h, &ALL, NO_CAP, 0, 0);
    fill(&h, 6);
    expect_select(&h, &ALL, NO_CAP, 0, 6);
    expect_select(&h, &ALL, 6, 0, 6);
    expect_select(&h, &ALL, 4, 0, 4);
    expect_select(&h, &ALL, 0, 0, 0);
    size_t first;
    assert_int_equal(history_select(&h, &ALL, NOW, 2, 0, &first), 2);
    assert_int_equal(history_at(&h, first)->seq, 5);
    history_free(&h);
}

static void test_select_maxstanzas(void **state)
{
    struct history h;
    history_init(&h, 10);
    fill(&h, 6);
    /* The last two: the service's cap wins over a larger request. */
    static const struct limit_case cases[] = { { 3, NO_CAP, 3 },   { 0, NO_CAP, 0 },
                                               { 6, NO_CAP, 6 },   { 100, NO_CAP, 6 },
                                               { 100, 2, 2 },      { LONG_MAX, 5, 5 } };
    expect_limit(&h, LIMIT_MAXSTANZAS, cases, ARRAY_SIZE(cases));
    history_free(&h);
}

static void test_select_maxchars(void **state)
{
    struct history h;
    history_init(&h, 10);
    fill(&h, 5);
    const size_t extra = 7;
    const long each = ENTRY_LEN + 7;
    struct history_req r = ALL;
    r.maxchars = 0;
    expect_select(&h, &r, NO_CAP, extra, 0);
    expect_select(&h, &r, NO_CAP, 0, 0);
    r.maxchars = each - 1;      /* never a truncated stanza */
    expect_select(&h, &r, NO_CAP, extra, 0);
    r.maxchars = each;
    expect_select(&h, &r, NO_CAP, extra, 1);
    r.maxchars = 3 * each - 1;
    expect_select(&h, &r, NO_CAP, extra, 2);
    r.maxchars = 3 * each;
    expect_select(&h, &r, NO_CAP, extra, 3);
    /* Without the per-copy extra the same budget holds more. */
    expect_select(&h, &r, NO_CAP, 0, 5);
    r.maxchars = LONG_MAX;
    expect_select(&h, &r, NO_CAP, extra, 5);
    /* An absurd extra must not wrap around. */
    expect_select(&h, &r, NO_CAP, SIZE_MAX, 0);
    history_free(&h);
}

/* Characters, not bytes: "é" is two bytes and one character. */
static void test_select_maxchars_utf8(void **state)
{
    struct history h;
    history_init(&h, 4);
    static const char accented[] = "<b>\xc3\xa9\xc3\xa9\xc3\xa9</b>";   /* 13 bytes, 10 chars */
    history_push(&h, 1, NOW, accented, sizeof accented - 1);
    history_push(&h, 2, NOW, accented, sizeof accented - 1);
    static const struct limit_case cases[] = { { 20, NO_CAP, 2 }, { 19, NO_CAP, 1 },
                                               { 9, NO_CAP, 0 } };
    expect_limit(&h, LIMIT_MAXCHARS, cases, ARRAY_SIZE(cases));
    history_free(&h);
}

/* The newest stanza that does not fit ends the selection: no gaps. */
static void test_select_maxchars_no_gaps(void **state)
{
    struct history h;
    history_init(&h, 4);
    push_seq(&h, 1, NOW);
    push_seq(&h, 2, NOW);
    char big[200];
    memset(big, 'x', sizeof big);
    history_push(&h, 3, NOW, big, sizeof big);
    push_seq(&h, 4, NOW);
    struct history_req r = ALL;
    r.maxchars = 3 * ENTRY_LEN;
    size_t first;
    assert_int_equal(history_select(&h, &r, NOW, NO_CAP, 0, &first), 1);
    assert_int_equal(history_at(&h, first)->seq, 4);
    history_free(&h);
}

static void test_select_seconds(void **state)
{
    struct history h;
    history_init(&h, 10);
    push_seq(&h, 1, NOW - 5000);
    push_seq(&h, 2, NOW - 3001);
    push_seq(&h, 3, NOW - 3000);
    push_seq(&h, 4, NOW - 1000);
    push_seq(&h, 5, NOW);
    static const struct limit_case cases[] = {
        { 3, NO_CAP, 3 },               /* NOW - 3000 exactly is inside */
        { 1, NO_CAP, 2 },
        { 0, NO_CAP, 1 },               /* only what arrived this very millisecond */
        { 5, NO_CAP, 5 },
        { LONG_MAX, NO_CAP, 5 },        /* seconds * 1000 overflows */
    };
    expect_limit(&h, LIMIT_SECONDS, cases, ARRAY_SIZE(cases));
    struct history_req r = ALL;
    size_t first;
    r.seconds = 3;
    assert_int_equal(history_select(&h, &r, INT64_MIN + 10, NO_CAP, 0, &first), 5);
    assert_int_equal(first, 0);
    history_free(&h);
}

static void test_select_since(void **state)
{
    struct history h;
    history_init(&h, 10);
    fill(&h, 5);                /* ts NOW-5000 .. NOW-1000 */
    static const struct limit_case cases[] = {
        { NOW - 3000, NO_CAP, 3 },      /* exactly entry 3: included */
        { NOW - 3000 + 1, NO_CAP, 2 },
        { NOW, NO_CAP, 0 },
        { 0, NO_CAP, 5 },               /* the Unix-era example: everything */
        { 0, 3, 3 },
    };
    expect_limit(&h, LIMIT_SINCE, cases, ARRAY_SIZE(cases));
    history_free(&h);
}

/* Every limit given must hold at once; the tightest decides. */
static void test_select_combined(void **state)
{
    struct history h;
    history_init(&h, 10);
    fill(&h, 8);                /* ts NOW-8000 .. NOW-1000 */
    struct history_req r = ALL;

    r.seconds = 5;              /* 5 entries */
    r.maxstanzas = 3;
    expect_select(&h, &r, NO_CAP, 0, 3);
    r.maxstanzas = 7;
    expect_select(&h, &r, NO_CAP, 0, 5);

    r = ALL;
    r.seconds = 6;              /* 6 entries */
    r.since_ms = NOW - 4000;    /* 4 entries: the later cutoff wins */
    expect_select(&h, &r, NO_CAP, 0, 4);
    r.since_ms = NOW - 7000;
    expect_select(&h, &r, NO_CAP, 0, 6);

    r = ALL;
    r.maxchars = 2 * ENTRY_LEN;
    r.maxstanzas = 5;
    expect_select(&h, &r, NO_CAP, 0, 2);
    r.maxchars = 5 * ENTRY_LEN;
    r.maxstanzas = 1;
    expect_select(&h, &r, NO_CAP, 0, 1);

    r.maxchars = 4 * ENTRY_LEN;
    r.maxstanzas = 6;
    r.seconds = 7;
    r.since_ms = NOW - 3000;
    expect_select(&h, &r, NO_CAP, 0, 3);
    expect_select(&h, &r, 2, 0, 2);
    r.maxchars = 0;
    expect_select(&h, &r, NO_CAP, 0, 0);
    history_free(&h);
}

static struct xml_node *history_el(const char *maxchars, const char *maxstanzas,
                                   const char *seconds, const char *since)
{
    struct xml_node *el = xml_new("history", "http://jabber.org/protocol/muc");
    xml_set_attr(el, "maxchars", maxchars);
    xml_set_attr(el, "maxstanzas", maxstanzas);
    xml_set_attr(el, "seconds", seconds);
    xml_set_attr(el, "since", since);
    return el;
}

static void expect_req(const struct history_req *r, long maxchars, long maxstanzas,
                       long seconds, int64_t since_ms)
{
    assert_int_equal(r->maxchars, maxchars);
    assert_int_equal(r->maxstanzas, maxstanzas);
    assert_int_equal(r->seconds, seconds);
    assert_int_equal(r->since_ms, since_ms);
}

static void test_req_parse(void **state)
{
    struct history_req r;
    memset(&r, 0x5a, sizeof r);
    assert_int_equal(history_req_parse(NULL, &r), 0);
    expect_req(&r, -1, -1, -1, -1);

    struct xml_node *el = history_el(NULL, NULL, NULL, NULL);
    memset(&r, 0x5a, sizeof r);
    assert_int_equal(history_req_parse(el, &r), 0);
    expect_req(&r, -1, -1, -1, -1);
    xml_set_attr(el, "unknown", "x");
    assert_int_equal(history_req_parse(el, &r), 0);
    expect_req(&r, -1, -1, -1, -1);
    xml_unref(el);

    el = history_el("65000", "20", "180", "2002-10-13T23:58:37Z");
    assert_int_equal(history_req_parse(el, &r), 0);
    expect_req(&r, 65000, 20, 180, INT64_C(1034553517000));
    xml_unref(el);

    el = history_el("0", "0", "0", "1970-01-01T00:00:00Z");
    assert_int_equal(history_req_parse(el, &r), 0);
    expect_req(&r, 0, 0, 0, 0);
    xml_unref(el);

    el = history_el("007", NULL, "99999999999999999999999999", "1610-04-20T00:00:00Z");
    assert_int_equal(history_req_parse(el, &r), 0);
    expect_req(&r, 7, -1, LONG_MAX, 0);
    xml_unref(el);

    el = history_el(NULL, "5", NULL, "2002-10-14T01:58:37.250+02:00");
    assert_int_equal(history_req_parse(el, &r), 0);
    expect_req(&r, -1, 5, -1, INT64_C(1034553517250));
    xml_unref(el);
}

static void test_req_parse_errors(void **state)
{
    static const char *const bad_counts[] = { "", "-1", "+1", " 5", "5 ", "1.5", "1e3", "0x10",
                                              "abc", "5\xef\xbc\x95" };
    for (size_t i = 0; i < ARRAY_SIZE(bad_counts); i++) {
        for (int which = 0; which < 3; which++) {
            const char *v = bad_counts[i];
            struct xml_node *el = history_el(which == 0 ? v : "10", which == 1 ? v : "10",
                                             which == 2 ? v : "10", NULL);
            struct history_req r;
            memset(&r, 0x5a, sizeof r);
            int rc = history_req_parse(el, &r);
            if (rc != -EINVAL)
                fail_msg("attribute %d = \"%s\": %d, want -EINVAL", which, v, rc);
            /* The other, valid attributes are dropped too: defaults apply. */
            expect_req(&r, -1, -1, -1, -1);
            xml_unref(el);
        }
    }
    static const char *const bad_since[] = { "", "yesterday", "2002-10-13", "2002-10-13T23:58:37",
                                             "2002-10-13T23:58:37Zjunk", "1034553517" };
    for (size_t i = 0; i < ARRAY_SIZE(bad_since); i++) {
        struct xml_node *el = history_el("10", NULL, NULL, bad_since[i]);
        struct history_req r;
        memset(&r, 0x5a, sizeof r);
        assert_int_equal(history_req_parse(el, &r), -EINVAL);
        expect_req(&r, -1, -1, -1, -1);
        xml_unref(el);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_eviction),
        cmocka_unit_test(test_push_copies),
        cmocka_unit_test(test_cap_zero),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_select_defaults),
        cmocka_unit_test(test_select_maxstanzas),
        cmocka_unit_test(test_select_maxchars),
        cmocka_unit_test(test_select_maxchars_utf8),
        cmocka_unit_test(test_select_maxchars_no_gaps),
        cmocka_unit_test(test_select_seconds),
        cmocka_unit_test(test_select_since),
        cmocka_unit_test(test_select_combined),
        cmocka_unit_test(test_req_parse),
        cmocka_unit_test(test_req_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
