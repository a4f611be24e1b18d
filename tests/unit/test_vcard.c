/* The room's vCard-temp (XEP-0054) and avatar (XEP-0486), in memory and
 * through a store. */
#include "muc_harness.h"

#include "form.h"

#define ROOM "garden@" DOMAIN
#define BOB "hag@shakespeare.example/pda"
/* base64("hello") split as MIME would, and its SHA-1. */
#define PHOTO "<PHOTO><TYPE>image/png</TYPE><BINVAL>aGVs\n bG8=</BINVAL></PHOTO>"
#define HELLO_SHA1 "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
/* base64("hi") and its SHA-1. */
#define PHOTO2 "<PHOTO><TYPE>image/gif</TYPE><BINVAL>aGk=</BINVAL></PHOTO>"
#define HI_SHA1 "c22b5f9178342609428d6f51b2c5af4c0bde6a42"

static void set_vcard(const char *id, const char *from, const char *body)
{
    fx_in("<iq type='set' id='%s' from='%s' to='" ROOM "'><vCard xmlns='vcard-temp'>%s</vCard>"
          "</iq>", id, from, body);
}

static struct xml_node *get_vcard(const char *id)
{
    fx_in("<iq type='get' id='%s' from='" BOB "' to='" ROOM "'><vCard xmlns='vcard-temp'/></iq>",
          id);
    struct xml_node *vc = xml_child(fx_result(id), "vCard", "vcard-temp");
    assert_non_null(vc);
    return vc;
}

static struct xml_node *room_info(const char *id, struct form *f)
{
    fx_in("<iq type='get' id='%s' from='" BOB "' to='" ROOM "'>"
          "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>", id);
    struct xml_node *q = xml_child(fx_result(id), "query", NS_DISCO_INFO);
    assert_non_null(q);
    for (struct xml_node *x = xml_first(q); x; x = xml_next(x))
        if (strcmp(x->name, "x") == 0) {
            assert_int_equal(form_parse(x, f), 0);
            if (f->form_type && strcmp(f->form_type, NS_MUC_ROOMINFO) == 0)
                return q;
            form_free(f);
        }
    fail_msg("no muc#roominfo form");
    return NULL;
}

static void create(void)
{
    fx_room(ROOM, OWNER, "<field var='muc#roomconfig_roomname'><value>The Garden</value></field>");
}

/* XEP-0054 §3.1 on a room with no vCard: an empty card, named after the room. */
static void test_get_without_vcard(void **state)
{
    create();
    struct xml_node *vc = get_vcard("g");
    fx_assert_text(xml_child(vc, "FN", "vcard-temp"), "The Garden");
    assert_null(xml_child(vc, "PHOTO", "vcard-temp"));
}

/* XEP-0486 §3: an owner publishes; anyone reads it back; the room shows
 * vcard-temp and the avatar hash (text-multi) in disco#info; occupants get 104. */
static void test_owner_sets_avatar(void **state)
{
    create();
    fx_in("<presence from='" BOB "' to='" ROOM "/bob'><x xmlns='" NS_MUC "'/></presence>");
    fx_clear();
    set_vcard("s", OWNER, PHOTO);
    fx_result("s");
    int notices = 0;
    for (size_t i = 0; i < fx.n; i++) {
        struct xml_node *x = xml_child(fx.out[i].st, "x", NS_MUC_USER);
        struct xml_node *st = x ? xml_child(x, "status", NS_MUC_USER) : NULL;
        if (strcmp(fx.out[i].st->name, "message") == 0 && st &&
            strcmp(xml_attr(st, "code"), "104") == 0)
            notices++;
    }
    assert_int_equal(notices, 2);   /* owner and bob */
    fx_clear();
    struct xml_node *vc = get_vcard("g");
    struct xml_node *photo = xml_child(vc, "PHOTO", "vcard-temp");
    assert_non_null(photo);
    fx_assert_text(xml_child(photo, "TYPE", "vcard-temp"), "image/png");
    struct form f;
    struct xml_node *q = room_info("di", &f);
    assert_true(has_feature(q, "vcard-temp"));
    const struct form_field *h = form_get(&f, "muc#roominfo_avatarhash");
    assert_non_null(h);
    assert_string_equal(h->type, "text-multi");
    assert_int_equal(h->nvalues, 1);
    assert_string_equal(h->values[0], HELLO_SHA1);
    form_free(&f);
}

/* XEP-0486 §4: several photos, one hash each. */
static void test_two_photos_two_hashes(void **state)
{
    create();
    set_vcard("s", OWNER, PHOTO PHOTO2);
    fx_result("s");
    struct form f;
    room_info("di", &f);
    const struct form_field *h = form_get(&f, "muc#roominfo_avatarhash");
    assert_non_null(h);
    assert_int_equal(h->nvalues, 2);
    assert_string_equal(h->values[0], HELLO_SHA1);
    assert_string_equal(h->values[1], HI_SHA1);
    form_free(&f);
}

/* XEP-0486 §3 and §7: only owners set it. */
static void test_non_owner_forbidden(void **state)
{
    create();
    set_vcard("s", BOB, PHOTO);
    fx_error("s", "forbidden", NULL, NULL);
    fx_clear();
    assert_null(xml_child(get_vcard("g"), "PHOTO", "vcard-temp"));
}

/* A card over VCARD_MAX_BYTES is refused with a reason, and nothing changes. */
static void test_too_large(void **state)
{
    create();
    size_t n = VCARD_MAX_BYTES + 16;
    char *big = xmalloc(n + 1);
    memset(big, 'A', n);
    big[n] = '\0';
    char *body = xasprintf("<PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO>", big);
    set_vcard("s", OWNER, body);
    fx_error("s", "not-acceptable", NULL, NULL);
    struct xml_node *text = xml_child(stanza_child(fx_reply("s"), "error"), "text", NS_STANZAS);
    char *t = fx_text(text);
    assert_non_null(strstr(t, "larger than"));
    free(t);
    free(body);
    free(big);
}

static void test_bad_base64(void **state)
{
    create();
    set_vcard("s", OWNER, "<PHOTO><TYPE>image/png</TYPE><BINVAL>not*base64</BINVAL></PHOTO>");
    fx_error("s", "bad-request", NULL, NULL);
}

/* XEP-0486 §3: an empty vCard unpublishes; the hash field goes (§4: SHOULD
 * NOT be present without an avatar). */
static void test_empty_vcard_removes_avatar(void **state)
{
    create();
    set_vcard("s1", OWNER, PHOTO);
    set_vcard("s2", OWNER, "");
    fx_result("s2");
    struct form f;
    room_info("di", &f);
    assert_null(form_get(&f, "muc#roominfo_avatarhash"));
    form_free(&f);
    assert_null(xml_child(get_vcard("g"), "PHOTO", "vcard-temp"));
}

/* ---- through a store ---- */

static struct {
    char *vcard, *hash;   /* the last save_vcard */
    int saves;
} st;

static void st_load(void *s, const char *jid, unsigned history, store_loaded_cb *cb, void *ud)
{
    struct store_room *rec = xcalloc(1, sizeof *rec);
    if (st.vcard) {
        rec->exists = true;
        rec->creator = xstrdup("crone@shakespeare.example");
        rec->cfg = xcalloc(1, sizeof *rec->cfg);
        room_config_defaults(fx.m, rec->cfg);
        rec->cfg->persistent = true;
        rec->affils = xcalloc(1, sizeof *rec->affils);
        rec->affils[0] = (struct store_affil){ .jid = xstrdup("crone@shakespeare.example"),
                                               .affil = AFFIL_OWNER };
        rec->naffils = 1;
        rec->vcard = xstrdup(st.vcard);
        rec->photo_hash = st.hash ? xstrdup(st.hash) : NULL;
    }
    cb(ud, 0, rec);
}

static void st_save_room(void *s, const struct room *room) {}
static void st_save_affil(void *s, const struct room *room, const char *jid,
                          enum muc_affil affil, const char *nick, const char *reason) {}
static void st_delete(void *s, const struct room *room, bool tomb, const char *venue,
                      const char *reason) {}
static bool st_available(void *s)
{
    return true;
}

static void st_save_vcard(void *s, const struct room *room, const char *vcard,
                          const char *photo_hash)
{
    free(st.vcard);
    free(st.hash);
    st.vcard = vcard ? xstrdup(vcard) : NULL;
    st.hash = photo_hash ? xstrdup(photo_hash) : NULL;
    st.saves++;
}

static const struct muc_store store = {
    .load_room = st_load, .save_room = st_save_room, .save_affiliation = st_save_affil,
    .delete_room = st_delete, .available = st_available, .save_vcard = st_save_vcard,
};

/* A set reaches the store; a room loaded again (e.g. after a restart)
 * carries the card and its hash. */
static void test_store_round_trip(void **state)
{
    muc_set_store(fx.m, &store);
    memset(&st, 0, sizeof st);
    create();
    set_vcard("s", OWNER, PHOTO);
    fx_result("s");
    assert_int_equal(st.saves, 1);
    assert_non_null(strstr(st.vcard, "<BINVAL>"));
    assert_string_equal(st.hash, HELLO_SHA1);
    /* Another service over the same store: the room comes back from it. */
    fx_teardown(NULL);
    fx_setup(NULL);
    muc_set_store(fx.m, &store);
    struct form f;
    room_info("di", &f);
    const struct form_field *h = form_get(&f, "muc#roominfo_avatarhash");
    assert_non_null(h);
    assert_string_equal(h->values[0], HELLO_SHA1);
    form_free(&f);
    struct xml_node *photo = xml_child(get_vcard("g"), "PHOTO", "vcard-temp");
    assert_non_null(photo);
    fx_assert_text(xml_child(photo, "TYPE", "vcard-temp"), "image/png");
    /* Unpublishing removes the row. */
    set_vcard("s2", "crone@shakespeare.example/desktop", "");
    fx_result("s2");
    assert_null(st.vcard);
    free(st.hash);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_get_without_vcard),
        T(test_owner_sets_avatar),
        T(test_two_photos_two_hashes),
        T(test_non_owner_forbidden),
        T(test_too_large),
        T(test_bad_base64),
        T(test_empty_vcard_removes_avatar),
        T(test_store_round_trip),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
