/* Regression tests for bugs the fuzzers found (tests/fuzz/regress/). Each test
 * replays the minimal stanza sequence of one reproducer through the engine and
 * asserts the correct behaviour; under ASan (build-asan) the original bug is an
 * abort, in a plain build glibc's M_PERTURB scribbles freed memory so a read
 * after free shows up as wrong output. */
#include "muc_harness.h"

#include <malloc.h>

#define ROOM "coven@" DOMAIN
#define ALICE_BARE "wicca@shakespeare.example"

static const unsigned char key[32] = { 1 };
static struct fx_opts opts = { .key = key };

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
    fx_in("<presence from='" OWNER "' to='" ROOM "/firstwitch'>"
          "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    fx_in("<iq from='" OWNER "' to='" ROOM "' type='set' id='c1'>"
          "<query xmlns='http://jabber.org/protocol/muc#owner'>"
          "<x xmlns='jabber:x:data' type='submit'/></query></iq>");
    fx_in("<presence from='" ALICE "' to='" ROOM "/secondwitch'>"
          "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    fx_in("<iq from='" OWNER "' to='" ROOM "' type='set' id='a1'>"
          "<query xmlns='http://jabber.org/protocol/muc#admin'>"
          "<item jid='" ALICE_BARE "' affiliation='admin'/></query></iq>");
    struct room *room = room_find(fx.m, ROOM);
    assert_non_null(room);
    assert_int_equal(room_affiliation(room, ALICE_BARE), AFFIL_ADMIN);
    fx_clear();

    fx_in("<iq from='" OWNER "' to='" ROOM "' type='set' id='c2'>"
          "<query xmlns='http://jabber.org/protocol/muc#owner'>"
          "<x xmlns='jabber:x:data' type='submit'>"
          "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
          "<field var='muc#roomconfig_roomadmins'/></x></query></iq>");
    mallopt(M_PERTURB, 0);

    assert_int_equal(room_affiliation(room, ALICE_BARE), AFFIL_NONE);
    bool result = false, told = false;
    for (size_t i = 0; i < fx.n; i++) {
        const struct xml_node *st = fx.out[i].st;
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
        FX_TEST(test_roomconfig_admin_list_removes_admin, &opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
