/* The element tree and its serialiser: escaping and namespaces must round-trip
 * through the stream parser unchanged. */
#include "unit.h"

#include "mem.h"
#include "xml.h"

static void test_build_and_serialize(void **state)
{
    struct xml_node *m = xml_new("message", "jabber:component:accept");
    xml_set_attr(m, "to", "room@conf.example/nick");
    xml_set_attr(m, "id", "a'b\"c<d>&");
    xml_add_text_child(m, "body", "jabber:component:accept", "1 < 2 & 3 > 2");
    struct xml_node *x = xml_add(m, "x", "http://jabber.org/protocol/muc#user");
    xml_set_attr(xml_add(x, "status", "http://jabber.org/protocol/muc#user"), "code", "110");
    xml_add(m, "nons", NULL);
    char *s = xml_to_string(m, "jabber:component:accept");
    assert_string_equal(s, "<message to='room@conf.example/nick' id='a&apos;b&quot;c&lt;d&gt;&amp;'>"
                           "<body>1 &lt; 2 &amp; 3 &gt; 2</body>"
                           "<x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x>"
                           "<nons xmlns=''/></message>");
    free(s);
    s = xml_to_string(m, NULL);
    assert_true(strncmp(s, "<message xmlns='jabber:component:accept' ", 41) == 0);
    free(s);
    xml_unref(m);
}

static void test_attrs(void **state)
{
    struct xml_node *n = xml_new("iq", NULL);
    xml_set_attr(n, "a", "1");
    xml_set_attr(n, "b", "2");
    xml_set_attr(n, "a", "3");
    assert_string_equal(xml_attr(n, "a"), "3");
    assert_int_equal(n->nattrs, 2);
    xml_set_attr(n, "a", NULL);
    assert_null(xml_attr(n, "a"));
    assert_string_equal(xml_attr(n, "b"), "2");
    xml_set_attr(n, "missing", NULL);
    assert_int_equal(n->nattrs, 1);
    xml_unref(n);
}

static void test_children_and_text(void **state)
{
    struct xml_node *p = xml_new("p", "ns");
    xml_add_text(p, "ab", 2);
    xml_add_text(p, "cd", 2);
    struct xml_node *c1 = xml_add(p, "c", "ns");
    xml_add_text(p, "ef", 2);
    struct xml_node *c2 = xml_add(p, "c", "other");
    assert_ptr_equal(xml_first(p), c1);
    assert_ptr_equal(xml_next(c1), c2);
    assert_null(xml_next(c2));
    assert_ptr_equal(xml_child(p, "c", "other"), c2);
    assert_null(xml_child(p, "d", NULL));
    char *t = xml_text(p);
    assert_string_equal(t, "abcdef");
    free(t);
    xml_remove(p, c1);
    assert_ptr_equal(xml_first(p), c2);
    xml_remove(p, c2);
    assert_null(xml_first(p));
    assert_non_null(p->last);
    assert_null(p->last->name);
    xml_unref(p);
}

static void test_copy_and_refs(void **state)
{
    struct xml_node *a = xml_new("a", "x");
    xml_set_attr(xml_add_text_child(a, "b", "y", "hi"), "k", "v");
    struct xml_node *c = xml_copy(a);
    xml_ref(a);
    xml_unref(a);
    char *s1 = xml_to_string(a, NULL), *s2 = xml_to_string(c, NULL);
    assert_string_equal(s1, s2);
    assert_string_equal(s1, "<a xmlns='x'><b xmlns='y' k='v'>hi</b></a>");
    free(s1);
    free(s2);
    xml_unref(a);
    xml_unref(c);
}

/* What we serialise, the parser reads back to the same serialisation. */
static void test_round_trip(void **state)
{
    struct xml_node *m = xml_new("message", "jabber:component:accept");
    xml_set_attr(m, "xml:lang", "de");
    xml_add_text_child(m, "body", "jabber:component:accept", "\"quotes\" & <tags> \xe2\x82\xac\r\n");
    struct xml_node *e = xml_add(m, "e", "urn:e");
    xml_set_attr(e, "urn:attr-ns\x1Flocal", "v'v");
    char *s = xml_to_string(m, "jabber:component:accept");
    struct xml_node *parsed = unit_parse(s);
    char *s2 = xml_to_string(parsed, "jabber:component:accept");
    assert_string_equal(s, s2);
    assert_string_equal(xml_attr(parsed, "xml:lang"), "de");
    free(s);
    free(s2);
    xml_unref(parsed);
    xml_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_and_serialize),
        cmocka_unit_test(test_attrs),
        cmocka_unit_test(test_children_and_text),
        cmocka_unit_test(test_copy_and_refs),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
