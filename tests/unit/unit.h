/* unit.h — shared by the cmocka unit tests: includes, fixture loading and the
 * one stanza parser (bytes as the router would send them, through xstream). */
#ifndef CONFAB_TEST_UNIT_H
#define CONFAB_TEST_UNIT_H

#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "xml.h"
#include "xstream.h"

/* Read tests/unit/data/<rel> (TEST_DATA_DIR from the test environment). */
static inline char *unit_read_fixture(const char *rel, size_t *len)
{
    const char *dir = getenv("TEST_DATA_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/unit/data", rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    data[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return data;
}

/* A test program's whole main(): its cmocka_unit_test() entries, run as one
 * group named "tests" as the hand-written mains name theirs. */
#define UNIT_MAIN(...)                                                                         \
    int main(void)                                                                             \
    {                                                                                          \
        const struct CMUnitTest tests[] = { __VA_ARGS__ };                                     \
        return cmocka_run_group_tests(tests, NULL, NULL);                                      \
    }

static inline bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* A field of a data form, by var. */
static inline struct xml_node *form_field_el(const struct xml_node *x, const char *var)
{
    for (struct xml_node *f = xml_first(x); f; f = xml_next(f))
        if (strcmp(f->name, "field") == 0 && str_eq(xml_attr(f, "var"), var))
            return f;
    return NULL;
}

/* Some <value/> child of f (a field, or an option) is v. */
static inline bool field_has_value(const struct xml_node *f, const char *v)
{
    for (struct xml_node *c = xml_first(f); c; c = xml_next(c)) {
        if (strcmp(c->name, "value") != 0)
            continue;
        char *t = xml_text(c);
        bool yes = strcmp(t, v) == 0;
        free(t);
        if (yes)
            return true;
    }
    return false;
}

static inline bool field_has_option(const struct xml_node *f, const char *v)
{
    for (struct xml_node *o = xml_first(f); o; o = xml_next(o))
        if (strcmp(o->name, "option") == 0 && field_has_value(o, v))
            return true;
    return false;
}

/* A disco#info query result lists the feature var. */
static inline bool has_feature(const struct xml_node *q, const char *var)
{
    for (struct xml_node *f = xml_first(q); f; f = xml_next(f))
        if (strcmp(f->name, "feature") == 0 && str_eq(xml_attr(f, "var"), var))
            return true;
    return false;
}

static inline void unit_grab(void *ud, struct xml_node *st)
{
    struct xml_node **slot = ud;
    assert_null(*slot); /* exactly one stanza */
    *slot = xml_ref(st);
}

/* Parse one stanza (len bytes of xml) the way it arrives on a component
 * stream; the caller owns the result. */
static inline struct xml_node *unit_parse_len(const char *xml, size_t len)
{
    static const struct xstream_handler h = { .stanza = unit_grab };
    static const char hdr[] = "<stream:stream xmlns='jabber:component:accept' "
                              "xmlns:stream='http://etherx.jabber.org/streams'>";
    struct xml_node *parsed = NULL;
    struct xstream *xs = xstream_new(NULL, &h, &parsed);
    assert_int_equal(xstream_feed(xs, hdr, sizeof hdr - 1), 0);
    assert_int_equal(xstream_feed(xs, xml, len), 0);
    xstream_free(xs);
    assert_non_null(parsed);
    return parsed;
}

static inline struct xml_node *unit_parse(const char *xml)
{
    return unit_parse_len(xml, strlen(xml));
}

#endif
