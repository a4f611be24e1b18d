/* fuzz_form.c — libFuzzer target for XEP-0004 form parsing (form.h).
 *
 * The input is the content of a component stream (stanzas, or a bare
 * <x xmlns='jabber:x:data'/> at the top level); every element of every parsed
 * tree is offered to form_parse(), as the MUC engine offers whatever child a
 * client sent. What must hold:
 *   - a rejected form leaves *out empty (form_free-safe, all zero);
 *   - an accepted one has a known type, unique vars, a var on every field but
 *     'fixed' ones, and form_get/form_value/form_bool/form_uint agree with the
 *     parsed fields (absent → -ENOENT, bounds honoured, results only on 0);
 *   - FORM_TYPE is what the field says;
 *   - rebuilding the form with form_new/form_add_* and serialising it gives
 *     XML that parses back to the same form (the builder and the serialiser
 *     lose nothing the parser kept). */
#include "compat.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "form.h"
#include "xml.h"
#include "xstream.h"

#define FUZZ_NAME "fuzz_form"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* Stanzas of the current input, kept until it is done. */
static struct xml_node **trees;
static size_t ntrees, trees_cap;

static void keep_stanza(void *ud, struct xml_node *st)
{
    (void)ud;
    if (ntrees == trees_cap) {
        trees_cap = trees_cap ? trees_cap * 2 : 16;
        trees = realloc(trees, trees_cap * sizeof *trees);
        CHECK(trees);
    }
    trees[ntrees++] = xml_ref(st);
}

static struct xml_node *reparsed;

static void grab(void *ud, struct xml_node *st)
{
    (void)ud;
    CHECK(!reparsed); /* one element in, one stanza out */
    reparsed = xml_ref(st);
}

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static bool same_opt(const char *a, const char *b)
{
    return (!a && !b) || streq(a, b);
}

static bool is_zero(const struct form *f)
{
    static const struct form zero;
    return memcmp(f, &zero, sizeof zero) == 0;
}

static bool forms_equal(const struct form *a, const struct form *b)
{
    if (!streq(a->type, b->type) || !same_opt(a->form_type, b->form_type) ||
        a->nfields != b->nfields)
        return false;
    for (size_t i = 0; i < a->nfields; i++) {
        const struct form_field *x = &a->fields[i], *y = &b->fields[i];
        if (!same_opt(x->var, y->var) || !same_opt(x->type, y->type) ||
            x->nvalues != y->nvalues)
            return false;
        for (size_t j = 0; j < x->nvalues; j++)
            if (!streq(x->values[j], y->values[j]))
                return false;
    }
    return true;
}

static void check_accessors(const struct form *f)
{
    static const char *const types[] = { "form", "submit", "cancel", "result" };
    bool known = false;
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        known |= streq(f->type, types[i]);
    CHECK(known);
    CHECK(f->nfields == 0 || f->fields);

    for (size_t i = 0; i < f->nfields; i++) {
        const struct form_field *fl = &f->fields[i];
        CHECK(fl->var || streq(fl->type, "fixed"));
        CHECK(fl->nvalues == 0 || fl->values);
        for (size_t j = 0; j < fl->nvalues; j++)
            CHECK(fl->values[j]);
        if (!fl->var)
            continue;
        /* vars are unique, so the lookup finds this very field */
        CHECK(form_get(f, fl->var) == fl);
        const char *v = form_value(f, fl->var);
        CHECK(fl->nvalues ? v == fl->values[0] : v == NULL);

        bool b = true;
        int rb = form_bool(f, fl->var, &b);
        CHECK(rb == 0 || rb == -EINVAL);
        if (!fl->nvalues)
            CHECK(rb == 0 && !b);

        unsigned long big = 12345, small = 12345;
        int ru = form_uint(f, fl->var, ULONG_MAX, &big);
        CHECK(ru == 0 || ru == -ENOENT || ru == -EINVAL || ru == -ERANGE);
        CHECK(fl->nvalues ? ru != -ENOENT : ru == -ENOENT);
        if (ru != 0)
            CHECK(big == 12345); /* *out is set only on success */
        int rs = form_uint(f, fl->var, 100, &small);
        if (ru == 0) {
            CHECK(big > 100 ? rs == -ERANGE : (rs == 0 && small == big));
            if (rb == 0)
                CHECK(big <= 1 && b == (big == 1)); /* "0"/"1" agree as bool and uint */
        } else if (ru == -EINVAL) {
            CHECK(rs == -EINVAL);
        }
    }

    static const char *const absent[] = { "\x01no-such-field", "" };
    for (size_t i = 0; i < ARRAY_SIZE(absent); i++) {
        if (form_get(f, absent[i]))
            continue; /* "" is a legal var */
        bool b;
        unsigned long u;
        CHECK(form_value(f, absent[i]) == NULL);
        CHECK(form_bool(f, absent[i], &b) == -ENOENT);
        CHECK(form_uint(f, absent[i], 10, &u) == -ENOENT);
    }

    const struct form_field *ft = form_get(f, "FORM_TYPE");
    if (f->form_type) {
        CHECK(ft && ft->nvalues && streq(f->form_type, ft->values[0]));
        CHECK(!ft->type || streq(ft->type, "hidden"));
    } else {
        CHECK(!ft || !ft->nvalues || (ft->type && !streq(ft->type, "hidden")));
    }
}

/* Rebuild f with the builders, serialise, parse and form_parse again. */
static void check_round_trip(const struct form *f)
{
    struct xml_node *x = form_new(f->type, NULL, NULL, NULL);
    for (size_t i = 0; i < f->nfields; i++) {
        const struct form_field *fl = &f->fields[i];
        struct xml_node *el =
            form_add_field(x, fl->type, fl->var, NULL, fl->nvalues ? fl->values[0] : NULL);
        for (size_t j = 1; j < fl->nvalues; j++)
            form_add_value(el, fl->values[j]);
    }
    struct buf doc;
    buf_init(&doc);
    buf_puts(&doc, HDR);
    xml_serialize(x, "jabber:component:accept", &doc);
    xml_unref(x);

    struct xstream_handler h = { .stanza = grab };
    struct xstream *xs = xstream_new(NULL, &h, NULL);
    reparsed = NULL;
    if (xstream_feed(xs, doc.data, doc.len) != 0 || !reparsed) {
        fprintf(stderr, "fuzz_form: rebuilt form does not parse: %.*s\n", (int)doc.len,
                doc.data);
        abort();
    }
    xstream_free(xs);
    struct form again;
    CHECK(form_parse(reparsed, &again) == 0);
    if (!forms_equal(f, &again)) {
        fprintf(stderr, "fuzz_form: round trip changed the form: %.*s\n", (int)doc.len,
                doc.data);
        abort();
    }
    form_free(&again);
    xml_unref(reparsed);
    reparsed = NULL;
    buf_free(&doc);
}

static void visit(const struct xml_node *n, unsigned depth)
{
    struct form f;
    memset(&f, 0xA5, sizeof f); /* garbage in: form_parse must initialise */
    if (form_parse(n, &f) == 0) {
        check_accessors(&f);
        check_round_trip(&f);
        form_free(&f);
        CHECK(is_zero(&f)); /* reusable after free */
    } else {
        CHECK(is_zero(&f));
    }
    form_free(&f); /* a second free of an empty form is harmless */
    for (const struct xml_node *c = xml_first(n); c && depth < 64; c = xml_next(c))
        visit(c, depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct form f;
    CHECK(form_parse(NULL, &f) == -EINVAL && is_zero(&f));

    struct xstream_limits lim = { 0 };
    struct xstream_handler h = { .stanza = keep_stanza };
    struct xstream *xs = xstream_new(&lim, &h, NULL);
    ntrees = 0;
    if (xstream_feed(xs, HDR, sizeof HDR - 1) == 0)
        (void)xstream_feed(xs, (const char *)data, size);
    xstream_free(xs);
    for (size_t i = 0; i < ntrees; i++) {
        visit(trees[i], 0);
        xml_unref(trees[i]);
    }
    ntrees = 0;
    return 0;
}
