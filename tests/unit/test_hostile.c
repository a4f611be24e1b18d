/* Hostile input the engine must refuse: lookalike nicknames (case, width,
 * invisible and whitespace variants), oversized messages, too many rooms per
 * user, stanzas claiming to come from our own domain. */
#include "unit.h"

#include "mem.h"
#include "muc.h"
#include "stanza.h"

static bool nick_ok(const char *nick, size_t max)
{
    char *why;
    bool ok = nick_refusal(nick, max, &why) == NULL;
    free(why);
    return ok;
}

static void expect_same(const char *a, const char *b)
{
    char *fa = nick_fold(a), *fb = nick_fold(b);
    if (strcmp(fa, fb) != 0)
        fail_msg("'%s' and '%s' should fold alike: '%s' vs '%s'", a, b, fa, fb);
    free(fa);
    free(fb);
}

static void expect_different(const char *a, const char *b)
{
    char *fa = nick_fold(a), *fb = nick_fold(b);
    if (strcmp(fa, fb) == 0)
        fail_msg("'%s' and '%s' should differ, both fold to '%s'", a, b, fa);
    free(fa);
    free(fb);
}

static void test_fold_lookalikes(void **state)
{
    expect_same("Alice", "alice");
    expect_same("ALICE", "alice");
    expect_same("\xef\xbc\xa1lice", "alice");            /* fullwidth A */
    expect_same("al\xe2\x80\x8bice", "alice");           /* zero-width space */
    expect_same(" alice ", "alice");
    expect_same("a l i c e", "alice");
    expect_same("alice\xc2\xa0", "alice");               /* no-break space */
    expect_same("al\xc2\xadice", "alice");               /* soft hyphen */
    expect_same("\xef\xac\x81re", "fire");               /* fi ligature */
    expect_same("\xd0\xb0lice", "alice");               /* Cyrillic a (UTS #39) */
    expect_same("b\xce\xbf" "b", "bob");                  /* Greek omicron */
    expect_same("\xd0\x90LICE", "alice");               /* Cyrillic A, upper case */
    expect_different("alice", "alicia");
    expect_different("bob", "b0b");
}

static void test_acceptable(void **state)
{
    assert_true(nick_ok("alice", 128));
    assert_true(nick_ok("\xe6\x97\xa5\xe6\x9c\xac", 128));
    assert_false(nick_ok("", 128));
    assert_false(nick_ok("   ", 128));
    assert_false(nick_ok("\xe2\x80\x8b\xe2\x80\x8b", 128));
    assert_false(nick_ok("\xe3\x85\xa4", 128)); /* U+3164 Hangul filler */
    assert_false(nick_ok("abcdef", 5));
    /* U+1F916 (robot face) is unassigned in Unicode 3.2: not storable. */
    assert_false(nick_ok("\xf0\x9f\xa4\x96", 128));
    char *why;
    assert_string_equal(nick_refusal("abcdef", 5, &why), "not-acceptable");
    /* The error says what the limit is. */
    assert_non_null(strstr(why, "at most 5 bytes"));
    free(why);
    assert_string_equal(nick_refusal("\xf0\x9f\xa4\x96", 128, &why), "jid-malformed");
    free(why);
}

/* ---- the engine refuses a lookalike of a nick someone else holds ---- */

struct out {
    char last_error[64];
    int presences;
};

static void record(struct out *o, const struct xml_node *st)
{
    if (stanza_is_error(st)) {
        const char *c = stanza_error_condition(stanza_child(st, "error"), NS_STANZAS);
        snprintf(o->last_error, sizeof o->last_error, "%s", c ? c : "?");
    } else if (stanza_kind(st) == STANZA_PRESENCE) {
        o->presences++;
    }
}

static void io_send(void *ud, const struct xml_node *st) { record(ud, st); }
static void io_each(void *ud, const struct xml_node *st, const char *const *to, size_t n)
{
    for (size_t i = 0; i < n; i++)
        record(ud, st);
}
static void io_raw(void *ud, const char *d, size_t n) { }
static int64_t io_now(void *ud) { return 1700000000000; }

static void send_in(struct muc *m, const char *xml)
{
    struct xml_node *st = unit_parse(xml);
    muc_handle(m, st);
    xml_unref(st);
}

/* An engine with the default limits; a test changes m->lim, which is read
 * where each limit applies. */
static struct muc *new_muc(struct out *o)
{
    struct muc_limits lim;
    muc_limits_default(&lim);
    static const unsigned char key[32] = { 9 };
    struct muc_io io = { .send = io_send, .send_each = io_each, .send_raw = io_raw, .now_ms = io_now,
                         .ud = o };
    return muc_new("conf.example", "Rooms", &lim, key, &io);
}

/* Join room r as nick from jid, configuring it as an instant room when new. */
static void join(struct muc *m, const char *jid, const char *room, const char *nick)
{
    char buf[512];
    snprintf(buf, sizeof buf, "<presence from='%s' to='%s@conf.example/%s'>"
             "<x xmlns='http://jabber.org/protocol/muc'/></presence>", jid, room, nick);
    send_in(m, buf);
    snprintf(buf, sizeof buf, "<iq type='set' id='c' from='%s' to='%s@conf.example'>"
             "<query xmlns='http://jabber.org/protocol/muc#owner'>"
             "<x xmlns='jabber:x:data' type='submit'/></query></iq>", jid, room);
    send_in(m, buf);
}

static void test_join_lookalike_conflict(void **state)
{
    struct out o = { 0 };
    struct muc *m = new_muc(&o);
    send_in(m, "<presence from='alice@example/a' to='r@conf.example/Alice'>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    send_in(m, "<iq type='set' id='c' from='alice@example/a' to='r@conf.example'>"
               "<query xmlns='http://jabber.org/protocol/muc#owner'>"
               "<x xmlns='jabber:x:data' type='submit'/></query></iq>");
    o.last_error[0] = '\0';
    send_in(m, "<presence from='mallory@example/m' to='r@conf.example/\xef\xbc\xa1lice'>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    assert_string_equal(o.last_error, "conflict");
    o.last_error[0] = '\0';
    send_in(m, "<presence from='mallory@example/m' to='r@conf.example/al\xe2\x80\x8bice'>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    assert_string_equal(o.last_error, "conflict");
    o.last_error[0] = '\0';
    send_in(m, "<presence from='mallory@example/m' to='r@conf.example/mallory'>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    assert_string_equal(o.last_error, "");
    /* ...and may not turn into a lookalike afterwards either. */
    send_in(m, "<presence from='mallory@example/m' to='r@conf.example/ALICE'/>");
    assert_string_equal(o.last_error, "conflict");
    /* The holder's own other device may use its own nick. */
    o.last_error[0] = '\0';
    send_in(m, "<presence from='alice@example/b' to='r@conf.example/Alice'>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    assert_string_equal(o.last_error, "");
    muc_free(m);
}

/* alice's groupchat message of that body to room r: the error it drew, or "". */
static const char *error_after(struct muc *m, struct out *o, const char *body)
{
    char buf[512];
    snprintf(buf, sizeof buf, "<message type='groupchat' from='alice@example/a' "
             "to='r@conf.example'><body>%s</body></message>", body);
    o->last_error[0] = '\0';
    send_in(m, buf);
    return o->last_error;
}

static void test_message_size_limit(void **state)
{
    struct out o = { 0 };
    struct muc *m = new_muc(&o);
    m->lim.max_message_bytes = 10;
    join(m, "alice@example/a", "r", "alice");
    /* A body of exactly the limit passes; one byte more does not. */
    static const char *const body_error[][2] = { { "0123456789", "" },
                                                 { "0123456789A", "policy-violation" } };
    for (size_t i = 0; i < ARRAY_SIZE(body_error); i++)
        assert_string_equal(error_after(m, &o, body_error[i][0]), body_error[i][1]);
    muc_free(m);
}

static void test_joined_rooms_limit(void **state)
{
    struct out o = { 0 };
    struct muc *m = new_muc(&o);
    m->lim.max_joined_rooms = 2;
    join(m, "alice@example/a", "r1", "alice");
    join(m, "alice@example/a", "r2", "alice");
    assert_string_equal(o.last_error, "");
    send_in(m, "<presence from='alice@example/a' to='r3@conf.example/alice'>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    assert_string_equal(o.last_error, "policy-violation");
    /* Leaving one frees a place. */
    send_in(m, "<presence type='unavailable' from='alice@example/a' to='r1@conf.example/alice'/>");
    o.last_error[0] = '\0';
    join(m, "alice@example/a", "r4", "alice");
    assert_string_equal(o.last_error, "");
    muc_free(m);
}

static void test_forged_own_domain_dropped(void **state)
{
    struct out o = { 0 };
    struct muc *m = new_muc(&o);
    send_in(m, "<presence from='evil@conf.example/x' to='r@conf.example/evil'>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    assert_int_equal(o.presences, 0);
    assert_string_equal(o.last_error, "");
    muc_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold_lookalikes),
        cmocka_unit_test(test_acceptable),
        cmocka_unit_test(test_join_lookalike_conflict),
        cmocka_unit_test(test_message_size_limit),
        cmocka_unit_test(test_joined_rooms_limit),
        cmocka_unit_test(test_forged_own_domain_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
