/* form.c — XEP-0004 data forms over xml.h trees. */
#include "compat.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "mem.h"

static const char *const FORM_TYPES[] = { "form", "submit", "cancel", "result" };

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static bool known_form_type(const char *type)
{
    for (size_t i = 0; i < ARRAY_SIZE(FORM_TYPES); i++)
        if (streq(type, FORM_TYPES[i]))
            return true;
    return false;
}

static bool is_field(const struct xml_node *c)
{
    return streq(c->name, "field") && streq(c->ns, NS_DATA_FORMS);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void parse_field(const struct xml_node *el, struct form_field *out)
{
    out->var = dup_or_null(xml_attr(el, "var"));
    out->type = dup_or_null(xml_attr(el, "type"));
    size_t n = 0;
    for (const struct xml_node *c = xml_first(el); c; c = xml_next(c))
        n += streq(c->name, "value") && streq(c->ns, NS_DATA_FORMS);
    if (!n)
        return;
    out->values = xcalloc(n, sizeof *out->values);
    for (const struct xml_node *c = xml_first(el); c; c = xml_next(c))
        if (streq(c->name, "value") && streq(c->ns, NS_DATA_FORMS))
            out->values[out->nvalues++] = xml_text(c);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted rather than compared pairwise: a 512 KiB stanza can hold tens of
 * thousands of fields, and quadratic work on peer input is a cheap DoS. */
static bool has_duplicate_vars(const struct form *f)
{
    char **vars = xcalloc(f->nfields, sizeof *vars);
    size_t n = 0;
    for (size_t i = 0; i < f->nfields; i++)
        if (f->fields[i].var)
            vars[n++] = f->fields[i].var;
    qsort(vars, n, sizeof *vars, cmp_str_ptr);
    bool dup = false;
    for (size_t i = 1; i < n && !dup; i++)
        dup = strcmp(vars[i - 1], vars[i]) == 0;
    free(vars);
    return dup;
}

/* XEP-0068: FORM_TYPE counts only when hidden; submissions often omit the type. */
static const char *form_type_of(const struct form *f)
{
    const struct form_field *fl = form_get(f, "FORM_TYPE");
    if (!fl || fl->nvalues == 0 || (fl->type && strcmp(fl->type, "hidden") != 0))
        return NULL;
    return fl->values[0];
}

/* Checked before anything is allocated, so most bad input costs nothing. */
static int check_shape(const struct xml_node *x, size_t *nfields)
{
    if (!x || !streq(x->name, "x") || !streq(x->ns, NS_DATA_FORMS))
        return -EINVAL;
    if (!known_form_type(xml_attr(x, "type")))
        return -EINVAL;
    *nfields = 0;
    for (const struct xml_node *c = xml_first(x); c; c = xml_next(c)) {
        if (!is_field(c))
            continue;
        if (!xml_attr(c, "var") && !streq(xml_attr(c, "type"), "fixed"))
            return -EINVAL;
        (*nfields)++;
    }
    return 0;
}

int form_parse(const struct xml_node *x, struct form *out)
{
    memset(out, 0, sizeof *out);
    size_t n;
    int rc = check_shape(x, &n);
    if (rc < 0)
        return rc;
    out->type = xstrdup(xml_attr(x, "type"));
    if (n)
        out->fields = xcalloc(n, sizeof *out->fields);
    for (const struct xml_node *c = xml_first(x); c; c = xml_next(c))
        if (is_field(c))
            parse_field(c, &out->fields[out->nfields++]);
    if (has_duplicate_vars(out)) {
        form_free(out);
        return -EINVAL;
    }
    out->form_type = dup_or_null(form_type_of(out));
    return 0;
}

void form_free(struct form *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nfields; i++) {
        struct form_field *fl = &f->fields[i];
        for (size_t j = 0; j < fl->nvalues; j++)
            free(fl->values[j]);
        free(fl->values);
        free(fl->var);
        free(fl->type);
    }
    free(f->fields);
    free(f->type);
    free(f->form_type);
    memset(f, 0, sizeof *f);
}

const struct form_field *form_get(const struct form *f, const char *var)
{
    for (size_t i = 0; i < f->nfields; i++)
        if (streq(f->fields[i].var, var))
            return &f->fields[i];
    return NULL;
}

const char *form_value(const struct form *f, const char *var)
{
    const struct form_field *fl = form_get(f, var);
    return fl && fl->nvalues ? fl->values[0] : NULL;
}

static bool is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* xs:boolean and xs:integer collapse whitespace, so "\n  1\n" from a
 * pretty-printing client is the same value as "1". Returns the trimmed
 * span's length and start. */
static size_t trim(const char *s, const char **start)
{
    while (is_xml_space(*s))
        s++;
    size_t n = strlen(s);
    while (n && is_xml_space(s[n - 1]))
        n--;
    *start = s;
    return n;
}

static bool span_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

int form_bool(const struct form *f, const char *var, bool *out)
{
    const struct form_field *fl = form_get(f, var);
    if (!fl)
        return -ENOENT;
    if (!fl->nvalues) {
        *out = false;
        return 0;
    }
    const char *s;
    size_t n = trim(fl->values[0], &s);
    if (span_is(s, n, "1") || span_is(s, n, "true")) {
        *out = true;
        return 0;
    }
    if (span_is(s, n, "0") || span_is(s, n, "false")) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

int form_uint(const struct form *f, const char *var, unsigned long max, unsigned long *out)
{
    const char *v = form_value(f, var);
    if (!v)
        return -ENOENT;
    const char *s;
    size_t n = trim(v, &s);
    if (!n)
        return -EINVAL;
    unsigned long acc = 0;
    bool overflow = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        /* Keep scanning after overflow: "99…9x" is still not a number. */
        if (acc > (ULONG_MAX - d) / 10)
            overflow = true;
        else
            acc = acc * 10 + d;
    }
    if (overflow || acc > max)
        return -ERANGE;
    *out = acc;
    return 0;
}

struct xml_node *form_new(const char *type, const char *form_type, const char *title,
                          const char *instructions)
{
    struct xml_node *x = xml_new("x", NS_DATA_FORMS);
    xml_set_attr(x, "type", type);
    if (title)
        xml_add_text_child(x, "title", NS_DATA_FORMS, title);
    if (instructions)
        xml_add_text_child(x, "instructions", NS_DATA_FORMS, instructions);
    if (form_type)
        form_add_field(x, "hidden", "FORM_TYPE", NULL, form_type);
    return x;
}

struct xml_node *form_add_field(struct xml_node *x, const char *type, const char *var,
                                const char *label, const char *value)
{
    struct xml_node *field = xml_add(x, "field", NS_DATA_FORMS);
    xml_set_attr(field, "type", type);
    xml_set_attr(field, "var", var);
    xml_set_attr(field, "label", label);
    if (value)
        form_add_value(field, value);
    return field;
}

void form_add_value(struct xml_node *field, const char *value)
{
    xml_add_text_child(field, "value", NS_DATA_FORMS, value);
}

void form_add_option(struct xml_node *field, const char *label, const char *value)
{
    struct xml_node *opt = xml_add(field, "option", NS_DATA_FORMS);
    xml_set_attr(opt, "label", label);
    form_add_value(opt, value);
}

void form_add_bool(struct xml_node *x, const char *var, const char *label, bool v)
{
    form_add_field(x, "boolean", var, label, v ? "1" : "0");
}
