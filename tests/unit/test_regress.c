/* Regression tests for bugs the fuzzers found (tests/fuzz/regress/). Each test
 * replays the minimal stanza sequence of one reproducer through the engine and
 * asserts the correct behaviour; under ASan (build-asan) the original bug is an
 * abort, in a plain build glibc's M_PERTURB scribbles freed memory so a read
 * after free shows up as wrong output. */
#include "unit.h"

#include <malloc.h>

#include "mem.h"
#include "muc.h"
#include "stanza.h"
#include "xstream.h"

#define DOMAIN "conference.example"
#define ROOM "coven@" DOMAIN
#define OWNER "crone@shakespeare.example/desktop"
#define ALICE "wicca@shakespeare.example/laptop"
#define ALICE_BARE "wicca@shakespeare.example"

static struct {
    struct muc *m;
    struct xml_node **out;
    size_t n, cap;
} fx;

static void keep_out(struct xml_node *st)
{
    if (fx.n == fx.cap) {
        fx.cap = fx.cap ? fx.cap * 2 : 32;
        fx.out = realloc(fx.out, fx.cap * sizeof *fx.out);
        assert_non_null(fx.out);
    }
    fx.out[fx.n++] = st;
}

static void cap_send(void *ud, const struct xml_node *st)
{
    keep_out(xml_copy(st));
}

static void cap_each(void *ud, const struct xml_node *st, const char *const *to, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct xml_node *c = xml_copy(st);
        xml_set_attr(c, "to", to[i]);
        keep_out(c);
    }
}

static void cap_raw(void *ud, const char *data, size_t len)
{
}

static int64_t fake_now(void *ud)
{
    return INT64_C(1700000000000);
}

static struct xml_node *parsed;

static void grab(void *ud, struct xml_node *st)
{
    parsed = xml_ref(st);
}

static void in(const char *xml)
{
    static const char hdr[] = "<stream:stream xmlns='jabber:component:accept' "
                              "xmlns:stream='http://etherx.jabber.org/streams'>";
    struct xstream_handler h = { .stanza = grab };
    struct xstream *xs = xstream_new(NULL, &h, NULL);
    parsed = NULL;
    assert_int_equal(xstream_feed(xs, hdr, sizeof hdr - 1), 0);
    assert_int_equal(xstream_feed(xs, xml, strlen(xml)), 0);
    xstream_free(xs);
    assert_non_null(parsed);
    muc_handle(fx.m, parsed);
    xml_unref(parsed);
    parsed = NULL;
}

static void clear(void)
{
    for (size_t i = 0; i < fx.n; i++)
        xml_unref(fx.out[i]);
    fx.n = 0;
}

static int setup(void **state)
{
    memset(&fx, 0, sizeof fx);
    struct muc_limits lim;
    muc_limits_default(&lim);
    static const unsigned char key[32] = { 1 };
    struct muc_io io = { cap_send, cap_each, cap_raw, fake_now, NULL };
    fx.m = muc_new(DOMAIN, "Chatrooms", &lim, key, &io);
    return 0;
}

static int teardown(void **state)
{
    clear();
    free(fx.out);
    muc_free(fx.m);
    memset(&fx, 0, sizeof fx);
    return 0;
}

/* tests/fuzz/regress/muc-apply-list-uaf: a submitted room configuration whose
 * muc#roomconfig_roomadmins (or _roomowners) list leaves out a current admin.
 * owner.c apply_list() passed the affiliation entry's own jid string to
 * admin_apply_affiliation(), which frees the entry (room_set_affiliation with
 * AFFIL_NONE) and then keeps using the string: affil_events() compares every
 * occupant against freed memory, and with a store room_save_affiliation()
 * writes the removal for whatever the freed bytes say. XEP-0045 §10.6 wants
 * the demoted occupant told, and the affiliation gone. */
static void test_roomconfig_admin_list_removes_admin(void **state)
{
    mallopt(M_PERTURB, 0x5a); /* freed memory no longer reads as the old JID */
    in("<presence from='" OWNER "' to='" ROOM "/firstwitch'>"
       "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    in("<iq from='" OWNER "' to='" ROOM "' type='set' id='c1'>"
       "<query xmlns='http://jabber.org/protocol/muc#owner'>"
       "<x xmlns='jabber:x:data' type='submit'/></query></iq>");
    in("<presence from='" ALICE "' to='" ROOM "/secondwitch'>"
       "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    in("<iq from='" OWNER "' to='" ROOM "' type='set' id='a1'>"
       "<query xmlns='http://jabber.org/protocol/muc#admin'>"
       "<item jid='" ALICE_BARE "' affiliation='admin'/></query></iq>");
    struct room *room = room_find(fx.m, ROOM);
    assert_non_null(room);
    assert_int_equal(room_affiliation(room, ALICE_BARE), AFFIL_ADMIN);
    clear();

    in("<iq from='" OWNER "' to='" ROOM "' type='set' id='c2'>"
       "<query xmlns='http://jabber.org/protocol/muc#owner'>"
       "<x xmlns='jabber:x:data' type='submit'>"
       "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
       "<field var='muc#roomconfig_roomadmins'/></x></query></iq>");
    mallopt(M_PERTURB, 0);

    assert_int_equal(room_affiliation(room, ALICE_BARE), AFFIL_NONE);
    bool result = false, told = false;
    for (size_t i = 0; i < fx.n; i++) {
        const struct xml_node *st = fx.out[i];
        if (strcmp(st->name, "iq") == 0 && str_eq(stanza_id(st), "c2"))
            result = str_eq(stanza_type(st), "result");
        if (strcmp(st->name, "presence") == 0 && str_eq(stanza_to(st), ALICE) &&
            str_eq(stanza_from(st), ROOM "/secondwitch")) {
            const struct xml_node *x = xml_child(st, "x", NS_MUC_USER);
            const struct xml_node *item = x ? xml_child(x, "item", NS_MUC_USER) : NULL;
            told = item && str_eq(xml_attr(item, "affiliation"), "none");
        }
    }
    assert_true(result);
    assert_true(told);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roomconfig_admin_list_removes_admin, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
