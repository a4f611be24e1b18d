/* xml.c — the refcounted element tree stanzas are made of, and its escaping serialiser (xml.h). */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "xml.h"

static const char XML_NS_URI[] = "http://www.w3.org/XML/1998/namespace";

struct xml_node *xml_new(const char *name, const char *ns)
{
    struct xml_node *n = xcalloc(1, sizeof *n);
    n->refs = 1;
    n->name = xstrdup(name);
    n->ns = ns ? xstrdup(ns) : NULL;
    return n;
}

struct xml_node *xml_new_text(const char *text, size_t len)
{
    struct xml_node *n = xcalloc(1, sizeof *n);
    n->refs = 1;
    n->text = xstrndup(text, len);
    n->text_len = len;
    return n;
}

struct xml_node *xml_ref(struct xml_node *n)
{
    n->refs++;
    return n;
}

void xml_unref(struct xml_node *n)
{
    if (!n || --n->refs > 0)
        return;
    struct xml_node *c = n->children;
    while (c) {
        struct xml_node *next = c->next;
        c->next = NULL;
        xml_unref(c);
        c = next;
    }
    for (size_t i = 0; i < n->nattrs; i++) {
        free(n->attrs[i].name);
        free(n->attrs[i].value);
    }
    free(n->attrs);
    free(n->name);
    free(n->ns);
    free(n->text);
    free(n);
}

struct xml_node *xml_copy(const struct xml_node *n)
{
    if (!n->name)
        return xml_new_text(n->text, n->text_len);
    struct xml_node *c = xml_new(n->name, n->ns);
    for (size_t i = 0; i < n->nattrs; i++)
        xml_set_attr(c, n->attrs[i].name, n->attrs[i].value);
    for (const struct xml_node *k = n->children; k; k = k->next)
        xml_append(c, xml_copy(k));
    return c;
}

const char *xml_attr(const struct xml_node *n, const char *name)
{
    for (size_t i = 0; i < n->nattrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return n->attrs[i].value;
    return NULL;
}

void xml_set_attr(struct xml_node *n, const char *name, const char *value)
{
    for (size_t i = 0; i < n->nattrs; i++) {
        if (strcmp(n->attrs[i].name, name) != 0)
            continue;
        free(n->attrs[i].value);
        if (value) {
            n->attrs[i].value = xstrdup(value);
        } else {
            free(n->attrs[i].name);
            n->attrs[i] = n->attrs[--n->nattrs];
        }
        return;
    }
    if (!value)
        return;
    if (n->nattrs == n->attrs_cap) {
        n->attrs_cap = n->attrs_cap ? n->attrs_cap * 2 : 4;
        n->attrs = xrealloc(n->attrs, n->attrs_cap * sizeof *n->attrs);
    }
    n->attrs[n->nattrs].name = xstrdup(name);
    n->attrs[n->nattrs].value = xstrdup(value);
    n->nattrs++;
}

struct xml_node *xml_append(struct xml_node *parent, struct xml_node *child)
{
    child->next = NULL;
    if (parent->last)
        parent->last->next = child;
    else
        parent->children = child;
    parent->last = child;
    return child;
}

struct xml_node *xml_add(struct xml_node *parent, const char *name, const char *ns)
{
    return xml_append(parent, xml_new(name, ns));
}

struct xml_node *xml_add_text_child(struct xml_node *parent, const char *name, const char *ns,
                                    const char *text)
{
    struct xml_node *c = xml_add(parent, name, ns);
    if (text && *text)
        xml_add_text(c, text, strlen(text));
    return c;
}

void xml_add_text(struct xml_node *parent, const char *text, size_t len)
{
    /* Merge adjacent text so expat's split character data stays one node. */
    struct xml_node *l = parent->last;
    if (l && !l->name) {
        l->text = xrealloc(l->text, l->text_len + len + 1);
        memcpy(l->text + l->text_len, text, len);
        l->text_len += len;
        l->text[l->text_len] = '\0';
        return;
    }
    xml_append(parent, xml_new_text(text, len));
}

void xml_remove(struct xml_node *parent, struct xml_node *child)
{
    struct xml_node *prev = NULL;
    for (struct xml_node *c = parent->children; c; prev = c, c = c->next) {
        if (c != child)
            continue;
        if (prev)
            prev->next = c->next;
        else
            parent->children = c->next;
        if (parent->last == c)
            parent->last = prev;
        c->next = NULL;
        xml_unref(c);
        return;
    }
}

static bool matches(const struct xml_node *c, const char *name, const char *ns)
{
    if (!c->name)
        return false;
    if (name && strcmp(c->name, name) != 0)
        return false;
    if (ns && (!c->ns || strcmp(c->ns, ns) != 0))
        return false;
    return true;
}

struct xml_node *xml_child(const struct xml_node *n, const char *name, const char *ns)
{
    for (struct xml_node *c = n->children; c; c = c->next)
        if (matches(c, name, ns))
            return c;
    return NULL;
}

struct xml_node *xml_first(const struct xml_node *n)
{
    return xml_child(n, NULL, NULL);
}

struct xml_node *xml_next(const struct xml_node *n)
{
    for (struct xml_node *c = n->next; c; c = c->next)
        if (c->name)
            return c;
    return NULL;
}

char *xml_text(const struct xml_node *n)
{
    struct buf b;
    buf_init(&b);
    for (const struct xml_node *c = n->children; c; c = c->next)
        if (!c->name)
            buf_append(&b, c->text, c->text_len);
    return buf_steal(&b, NULL);
}

static void put_attr(struct buf *out, const char *name, const char *value, int *prefixes)
{
    const char *sep = strchr(name, XML_NS_SEP);
    if (!sep) {
        buf_printf(out, " %s='", name);
    } else if ((size_t)(sep - name) == sizeof XML_NS_URI - 1 &&
               memcmp(name, XML_NS_URI, sizeof XML_NS_URI - 1) == 0) {
        buf_printf(out, " xml:%s='", sep + 1);
    } else {
        /* A namespaced attribute needs a prefix declared on this element. */
        int p = (*prefixes)++;
        buf_printf(out, " xmlns:a%d='", p);
        buf_put_xml_escaped(out, name, (size_t)(sep - name), 1);
        buf_printf(out, "' a%d:%s='", p, sep + 1);
    }
    buf_put_xml_escaped(out, value, strlen(value), 1);
    buf_putc(out, '\'');
}

void xml_serialize(const struct xml_node *n, const char *parent_ns, struct buf *out)
{
    if (!n->name) {
        buf_put_xml_escaped(out, n->text, n->text_len, 0);
        return;
    }
    buf_putc(out, '<');
    buf_puts(out, n->name);
    const char *ns = n->ns ? n->ns : "";
    if (strcmp(ns, parent_ns ? parent_ns : "") != 0) {
        buf_puts(out, " xmlns='");
        buf_put_xml_escaped(out, ns, strlen(ns), 1);
        buf_putc(out, '\'');
    }
    int prefixes = 0;
    for (size_t i = 0; i < n->nattrs; i++)
        put_attr(out, n->attrs[i].name, n->attrs[i].value, &prefixes);
    if (!n->children) {
        buf_puts(out, "/>");
        return;
    }
    buf_putc(out, '>');
    for (const struct xml_node *c = n->children; c; c = c->next)
        xml_serialize(c, ns, out);
    buf_puts(out, "</");
    buf_puts(out, n->name);
    buf_putc(out, '>');
}

char *xml_to_string(const struct xml_node *n, const char *parent_ns)
{
    struct buf b;
    buf_init(&b);
    xml_serialize(n, parent_ns, &b);
    return buf_steal(&b, NULL);
}
