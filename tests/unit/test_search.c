/* The room directory: service disco#items with XEP-0059 paging, XEP-0055 room
 * search and XEP-0433 channel search, over public unlocked rooms. */
#include "muc_harness.h"

#include "form.h"

#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_CS_PARAMS "urn:xmpp:channel-search:0:search-params"
#define NS_CS_ERROR "urn:xmpp:channel-search:0:error"

#define F(var, val) "<field var='muc#roomconfig_" var "'><value>" val "</value></field>"

/* Five public rooms (made out of JID order), one hidden, one locked. */
static void rooms(void)
{
    fx_room("delta@" DOMAIN, OWNER, F("roomname", "Delta Quadrant") F("roomdesc", "Far away"));
    fx_room("alpha@" DOMAIN, OWNER, F("roomname", "Alpha Centauri") F("roomdesc", "Stars"));
    fx_room("echo@" DOMAIN, OWNER, F("roomname", "Echo Chamber") F("roomdesc", "Loud stars"));
    fx_room("charlie@" DOMAIN, OWNER, F("roomname", "Charlie") F("roomdesc", "Chocolate"));
    fx_room("bravo@" DOMAIN, OWNER, F("roomname", "Bravo") F("roomdesc", "Applause"));
    fx_room("hidden@" DOMAIN, OWNER, F("publicroom", "0") F("roomname", "Hidden stars"));
    /* Created, never configured: locked (§7.2.1), listed nowhere. */
    fx_in("<presence from='" ALICE "' to='locked@" DOMAIN "/a'><x xmlns='" NS_MUC "'/></presence>");
    /* Alice in echo: it has the most occupants. */
    fx_in("<presence from='" ALICE "' to='echo@" DOMAIN "/a'><x xmlns='" NS_MUC "'/></presence>");
    fx_clear();
}

static void items_req(const char *id, const char *set)
{
    fx_in("<iq type='get' id='%s' from='" ALICE "' to='" DOMAIN "'>"
          "<query xmlns='http://jabber.org/protocol/disco#items'>%s</query></iq>", id, set);
}

static struct xml_node *items_query(const char *id)
{
    struct xml_node *q = xml_child(fx_result(id), "query", NS_DISCO_ITEMS);
    assert_non_null(q);
    return q;
}

/* The item JIDs of a disco#items answer, comma-separated. */
static char *item_jids(const struct xml_node *q, const char *name, const char *ns,
                       const char *attr)
{
    struct buf b;
    buf_init(&b);
    for (struct xml_node *c = xml_first(q); c; c = xml_next(c))
        if (strcmp(c->name, name) == 0 && strcmp(c->ns, ns) == 0)
            buf_printf(&b, "%s%s", b.len ? "," : "", xml_attr(c, attr));
    buf_putc(&b, '\0');
    return buf_steal(&b, NULL);
}

static void assert_items(const struct xml_node *q, const char *want)
{
    char *got = item_jids(q, "item", NS_DISCO_ITEMS, "jid");
    if (strcmp(got, want) != 0)
        fprintf(stderr, "items: %s\nwant:  %s\n", got, want);
    assert_string_equal(got, want);
    free(got);
}

/* Ask for the disco#items page an RSM <set/> (its inner XML) selects; its
 * items are want. */
static struct xml_node *rsm_page(const char *id, const char *set, const char *want)
{
    char req[512];
    snprintf(req, sizeof req, "<set xmlns='" NS_RSM "'>%s</set>", set);
    items_req(id, req);
    struct xml_node *q = items_query(id);
    assert_items(q, want);
    return q;
}

static void assert_set(const struct xml_node *parent, const char *first, const char *index,
                       const char *last, const char *count)
{
    struct xml_node *set = xml_child(parent, "set", NS_RSM);
    assert_non_null(set);
    struct xml_node *f = xml_child(set, "first", NS_RSM);
    if (first) {
        fx_assert_text(f, first);
        assert_string_equal(xml_attr(f, "index"), index);
        fx_assert_text(xml_child(set, "last", NS_RSM), last);
    } else {
        assert_null(f);
        assert_null(xml_child(set, "last", NS_RSM));
    }
    fx_assert_text(xml_child(set, "count", NS_RSM), count);
}

/* XEP-0030 §4 without <set/>: every public room, as always, and no <set/>. */
static void test_disco_items_without_rsm_lists_all_public(void **state)
{
    rooms();
    items_req("i1", "");
    struct xml_node *q = items_query("i1");
    assert_items(q, "alpha@" DOMAIN ",bravo@" DOMAIN ",charlie@" DOMAIN ",delta@" DOMAIN
                    ",echo@" DOMAIN);
    assert_null(xml_child(q, "set", NS_RSM));
}

/* XEP-0059 §2.1: <max/> limits the page; <first index/>, <last/>, <count/>. */
static void test_disco_items_rsm_max(void **state)
{
    rooms();
    struct xml_node *q = rsm_page("i1", "<max>1</max>", "alpha@" DOMAIN);
    assert_set(q, "alpha@" DOMAIN, "0", "alpha@" DOMAIN, "5");
}

/* XEP-0059 §2.2: <after/> pages forward; walking the pages lists every room
 * once, in JID order, and the page after the last is empty. */
static void test_disco_items_rsm_after_walks_all(void **state)
{
    rooms();
    rsm_page("p1", "<max>2</max>", "alpha@" DOMAIN ",bravo@" DOMAIN);
    struct xml_node *q = rsm_page("p2", "<max>2</max><after>bravo@" DOMAIN "</after>",
                                  "charlie@" DOMAIN ",delta@" DOMAIN);
    assert_set(q, "charlie@" DOMAIN, "2", "delta@" DOMAIN, "5");
    rsm_page("p3", "<max>2</max><after>delta@" DOMAIN "</after>", "echo@" DOMAIN);
    q = rsm_page("p4", "<max>2</max><after>echo@" DOMAIN "</after>", "");
    assert_set(q, NULL, NULL, NULL, "5");
}

/* XEP-0059 §2.3-2.5: <before/> pages backward; empty <before/> is the last page. */
static void test_disco_items_rsm_before(void **state)
{
    rooms();
    struct xml_node *q = rsm_page("b1", "<max>2</max><before/>", "delta@" DOMAIN ",echo@" DOMAIN);
    assert_set(q, "delta@" DOMAIN, "3", "echo@" DOMAIN, "5");
    rsm_page("b2", "<max>2</max><before>delta@" DOMAIN "</before>",
             "bravo@" DOMAIN ",charlie@" DOMAIN);
    rsm_page("b3", "<max>2</max><before>bravo@" DOMAIN "</before>", "alpha@" DOMAIN);
}

/* XEP-0059 §2.6: <max>0</max> asks only for the count. */
static void test_disco_items_rsm_count_only(void **state)
{
    rooms();
    struct xml_node *q = rsm_page("c", "<max>0</max>", "");
    assert_set(q, NULL, NULL, NULL, "5");
}

/* XEP-0059 §2.4: <index/> starts the page at that position. */
static void test_disco_items_rsm_index(void **state)
{
    rooms();
    struct xml_node *q = rsm_page("x", "<max>2</max><index>3</index>",
                                  "delta@" DOMAIN ",echo@" DOMAIN);
    assert_set(q, "delta@" DOMAIN, "3", "echo@" DOMAIN, "5");
}

/* A room gone between two pages: paging goes on from where it sorted. */
static void test_disco_items_rsm_after_vanished_room(void **state)
{
    rooms();
    rsm_page("v", "<max>1</max><after>bzzz@" DOMAIN "</after>", "charlie@" DOMAIN);
}

static void test_disco_items_rsm_bad_max(void **state)
{
    rooms();
    items_req("bad", "<set xmlns='" NS_RSM "'><max>-1</max></set>");
    fx_error("bad", "bad-request", NULL, NULL);
}

/* The service advertises what it serves: search, channel search, vCards, RSM. */
static void test_service_disco_info_features(void **state)
{
    fx_in("<iq type='get' id='di' from='" ALICE "' to='" DOMAIN "'>"
          "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    struct xml_node *q = xml_child(fx_result("di"), "query", NS_DISCO_INFO);
    const char *want[] = { "jabber:iq:search", "urn:xmpp:channel-search:0:search", "vcard-temp",
                           NS_RSM };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        bool found = false;
        for (struct xml_node *f = xml_first(q); f; f = xml_next(f))
            found |= xml_attr(f, "var") && strcmp(xml_attr(f, "var"), want[i]) == 0;
        if (!found)
            fprintf(stderr, "feature %s not advertised\n", want[i]);
        assert_true(found);
    }
}

/* ---- XEP-0055 ---- */

static const struct form_field *field_of(const struct form *f, const char *var)
{
    const struct form_field *ff = form_get(f, var);
    if (!ff)
        fprintf(stderr, "no field %s\n", var);
    assert_non_null(ff);
    return ff;
}

/* The data form in el: of FORM_TYPE form_type (and of type `type` unless
 * NULL), with a field of each var named in the NULL-terminated list. */
static void expect_form_fields(const struct xml_node *el, const char *type,
                               const char *form_type, ...)
{
    struct form f;
    assert_int_equal(form_parse(xml_child(el, "x", NS_DATA_FORMS), &f), 0);
    if (type)
        assert_string_equal(f.type, type);
    assert_string_equal(f.form_type, form_type);
    va_list ap;
    va_start(ap, form_type);
    for (const char *var; (var = va_arg(ap, const char *));)
        field_of(&f, var);
    va_end(ap);
    form_free(&f);
}

/* XEP-0055 §3.1: the search form, FORM_TYPE jabber:iq:search. */
static void test_search_form(void **state)
{
    fx_in("<iq type='get' id='sf' from='" ALICE "' to='" DOMAIN "'>"
          "<query xmlns='jabber:iq:search'/></iq>");
    struct xml_node *q = xml_child(fx_result("sf"), "query", "jabber:iq:search");
    assert_non_null(q);
    expect_form_fields(q, "form", "jabber:iq:search", "q", "sinname", "sindescription",
                       (char *)NULL);
}

static void search_req(const char *id, const char *fields, const char *set)
{
    fx_in("<iq type='set' id='%s' from='" ALICE "' to='" DOMAIN "'>"
          "<query xmlns='jabber:iq:search'>%s<x xmlns='jabber:x:data' type='submit'>"
          "<field var='FORM_TYPE' type='hidden'><value>jabber:iq:search</value></field>%s"
          "</x></query></iq>", id, set, fields);
}

/* The jid values of the result form's items, comma-separated. */
static char *result_jids(const struct xml_node *x)
{
    struct buf b;
    buf_init(&b);
    for (struct xml_node *it = xml_first(x); it; it = xml_next(it)) {
        if (strcmp(it->name, "item") != 0)
            continue;
        for (struct xml_node *fl = xml_first(it); fl; fl = xml_next(fl))
            if (strcmp(xml_attr(fl, "var"), "jid") == 0) {
                char *t = xml_text(xml_child(fl, "value", NS_DATA_FORMS));
                buf_printf(&b, "%s%s", b.len ? "," : "", t);
                free(t);
            }
    }
    buf_putc(&b, '\0');
    return buf_steal(&b, NULL);
}

/* XEP-0055 §3.2: a result form with <reported/> fields and one <item/> per
 * public room whose name or description holds every word. */
static void test_search_by_words(void **state)
{
    rooms();
    search_req("s1", "<field var='q'><value>STARS</value></field>", "");
    struct xml_node *q = xml_child(fx_result("s1"), "query", "jabber:iq:search");
    struct xml_node *x = xml_child(q, "x", NS_DATA_FORMS);
    assert_non_null(x);
    assert_string_equal(xml_attr(x, "type"), "result");
    struct xml_node *rep = xml_child(x, "reported", NS_DATA_FORMS);
    assert_non_null(rep);
    assert_int_equal(fx_children(rep, "field", NS_DATA_FORMS), 5);   /* jid, name, description, category, occupants */
    char *got = result_jids(x);
    assert_string_equal(got, "alpha@" DOMAIN ",echo@" DOMAIN);   /* not the hidden room */
    free(got);
    /* The item's other fields: name, description, occupants. */
    struct xml_node *it = xml_child(x, "item", NS_DATA_FORMS);
    bool name = false;
    for (struct xml_node *fl = xml_first(it); fl; fl = xml_next(fl))
        if (strcmp(xml_attr(fl, "var"), "name") == 0) {
            fx_assert_text(xml_child(fl, "value", NS_DATA_FORMS), "Alpha Centauri");
            name = true;
        }
    assert_true(name);
    search_req("s2", "<field var='q'><value>loud stars</value></field>"
                     "<field var='sinname'><value>0</value></field>", "");
    x = xml_child(xml_child(fx_result("s2"), "query", "jabber:iq:search"), "x", NS_DATA_FORMS);
    got = result_jids(x);
    assert_string_equal(got, "echo@" DOMAIN);
    free(got);
}

/* XEP-0059 §1 (its examples are jabber:iq:search): pages of results. */
static void test_search_paged(void **state)
{
    rooms();
    search_req("s1", "", "<set xmlns='" NS_RSM "'><max>2</max><after>bravo@" DOMAIN "</after></set>");
    struct xml_node *q = xml_child(fx_result("s1"), "query", "jabber:iq:search");
    char *got = result_jids(xml_child(q, "x", NS_DATA_FORMS));
    assert_string_equal(got, "charlie@" DOMAIN ",delta@" DOMAIN);
    free(got);
    assert_set(q, "charlie@" DOMAIN, "2", "delta@" DOMAIN, "5");
}

static void test_search_needs_form(void **state)
{
    fx_in("<iq type='set' id='nf' from='" ALICE "' to='" DOMAIN "'>"
          "<query xmlns='jabber:iq:search'><first>x</first></query></iq>");
    fx_error("nf", "bad-request", NULL, NULL);
}

/* ---- XEP-0433 ---- */

static void channel_req(const char *id, const char *fields, const char *set)
{
    fx_in("<iq type='get' id='%s' from='" ALICE "' to='" DOMAIN "'>"
          "<search xmlns='urn:xmpp:channel-search:0:search'>%s<x xmlns='jabber:x:data' "
          "type='submit'><field var='FORM_TYPE' type='hidden'><value>" NS_CS_PARAMS
          "</value></field>%s</x></search></iq>", id, set, fields);
}

static struct xml_node *channel_result(const char *id)
{
    struct xml_node *r = xml_child(fx_result(id), "result", "urn:xmpp:channel-search:0:search");
    assert_non_null(r);
    return r;
}

/* §4.2.1: the form, with q, sinname, sindescription and key. */
static void test_channel_search_form(void **state)
{
    fx_in("<iq type='get' id='cf' from='" ALICE "' to='" DOMAIN "'>"
          "<search xmlns='urn:xmpp:channel-search:0:search'/></iq>");
    struct xml_node *s = xml_child(fx_result("cf"), "search", "urn:xmpp:channel-search:0:search");
    expect_form_fields(s, NULL, NS_CS_PARAMS, "q", "sinname", "sindescription", "key",
                       (char *)NULL);
}

/* §4.2.2: items with address, name, nusers; RSM paged. */
static void test_channel_search_words(void **state)
{
    rooms();
    channel_req("c1", "<field var='q'><value>stars</value></field>", "");
    struct xml_node *r = channel_result("c1");
    char *got = item_jids(r, "item", "urn:xmpp:channel-search:0:search", "address");
    assert_string_equal(got, "alpha@" DOMAIN ",echo@" DOMAIN);
    free(got);
    struct xml_node *echo = xml_next(xml_first(r));
    fx_assert_text(xml_child(echo, "name", "urn:xmpp:channel-search:0:search"), "Echo Chamber");
    fx_assert_text(xml_child(echo, "nusers", "urn:xmpp:channel-search:0:search"), "2");
    assert_set(r, "alpha@" DOMAIN, "0", "echo@" DOMAIN, "2");
}

/* §6.1 key nusers: busiest first. */
static void test_channel_search_all_by_users(void **state)
{
    rooms();
    channel_req("c2", "<field var='all'><value>true</value></field><field var='key'><value>"
                      "{urn:xmpp:channel-search:0:order}nusers</value></field>",
                "<set xmlns='" NS_RSM "'><max>2</max></set>");
    struct xml_node *r = channel_result("c2");
    char *got = item_jids(r, "item", "urn:xmpp:channel-search:0:search", "address");
    assert_string_equal(got, "echo@" DOMAIN ",alpha@" DOMAIN);
    free(got);
}

/* §4.2.3-4.2.6: the XEP's errors with their application conditions. */
static void test_channel_search_errors(void **state)
{
    rooms();
    channel_req("e1", "", "");
    fx_error("e1", "bad-request", NS_CS_ERROR, "no-search-conditions");
    channel_req("e2", "<field var='all'><value>1</value></field>"
                      "<field var='q'><value>x</value></field>", "");
    fx_error("e2", "bad-request", NS_CS_ERROR, "conflicting-fields");
    channel_req("e3", "<field var='all'><value>1</value></field>"
                      "<field var='key'><value>{x}random</value></field>", "");
    fx_error("e3", "feature-not-implemented", NS_CS_ERROR, "invalid-sort-key");
    channel_req("e4", "<field var='q'><value>   </value></field>", "");
    fx_error("e4", "bad-request", NS_CS_ERROR, "invalid-search-terms");
}

/* Issue 16: a Secret room (unlisted, members-only) is found by its
 * affiliated users and service admins only; Closed ones by everyone. */
static void test_secret_rooms_only_for_members(void **state)
{
    fx_room("secret@" DOMAIN, OWNER,
            "<field var='{urn:confab:roomconfig}privacy'><value>secret</value></field>");
    fx_room("closed@" DOMAIN, OWNER,
            "<field var='{urn:confab:roomconfig}privacy'><value>closed</value></field>");
    fx_clear();
    items_req("a1", "");
    assert_items(items_query("a1"), "closed@" DOMAIN);
    fx_in("<iq type='get' id='o1' from='" OWNER "' to='" DOMAIN "'>"
          "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
    assert_items(items_query("o1"), "closed@" DOMAIN ",secret@" DOMAIN);
    muc_set_admins(fx.m, "wicca@shakespeare.example");
    items_req("a2", "");
    assert_items(items_query("a2"), "closed@" DOMAIN ",secret@" DOMAIN);
}

/* The category field: rooms in memory are all in `default`. */
static void test_search_by_category(void **state)
{
    rooms();
    search_req("c1", "<field var='category'><value>default</value></field>", "");
    struct xml_node *x = xml_child(xml_child(fx_result("c1"), "query", "jabber:iq:search"), "x",
                                   NS_DATA_FORMS);
    char *got = result_jids(x);
    assert_string_equal(got, "alpha@" DOMAIN ",bravo@" DOMAIN ",charlie@" DOMAIN
                             ",delta@" DOMAIN ",echo@" DOMAIN);
    free(got);
    search_req("c2", "<field var='category'><value>traders</value></field>", "");
    x = xml_child(xml_child(fx_result("c2"), "query", "jabber:iq:search"), "x", NS_DATA_FORMS);
    got = result_jids(x);
    assert_string_equal(got, "");
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_disco_items_without_rsm_lists_all_public),
        T(test_disco_items_rsm_max),
        T(test_disco_items_rsm_after_walks_all),
        T(test_disco_items_rsm_before),
        T(test_disco_items_rsm_count_only),
        T(test_disco_items_rsm_index),
        T(test_disco_items_rsm_after_vanished_room),
        T(test_disco_items_rsm_bad_max),
        T(test_service_disco_info_features),
        T(test_search_form),
        T(test_search_by_words),
        T(test_search_paged),
        T(test_search_needs_form),
        T(test_channel_search_form),
        T(test_channel_search_words),
        T(test_channel_search_all_by_users),
        T(test_channel_search_errors),
        T(test_secret_rooms_only_for_members),
        T(test_search_by_category),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
