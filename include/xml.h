/* xml.h — a small element tree for stanzas, and its serialiser.
 *
 * Nodes are refcounted (xml_ref/xml_unref), the libstrophe model: a handler that
 * wants to keep a stanza past its callback takes a reference. Children are owned
 * by their parent. Element names are local names; ns is the element's resolved
 * namespace URI (NULL only for text nodes). Attribute names are local names, with
 * "xml:lang" for the XML namespace and "URI\x1Flocal" for any other namespace. */
#ifndef CONFAB_XML_H
#define CONFAB_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define XML_NS_SEP '\x1F'

struct xml_attr {
    char *name;
    char *value;
};

struct xml_node {
    int refs;
    char *name;                 /* NULL for a text node */
    char *ns;
    char *text;                 /* text nodes only */
    size_t text_len;
    struct xml_attr *attrs;
    size_t nattrs;
    size_t attrs_cap;
    struct xml_node *children;  /* first child */
    struct xml_node *last;      /* last child */
    struct xml_node *next;      /* next sibling */
};

struct xml_node *xml_new(const char *name, const char *ns);
struct xml_node *xml_new_text(const char *text, size_t len);
struct xml_node *xml_ref(struct xml_node *n);
void xml_unref(struct xml_node *n);
/* Deep copy with refcount 1. */
struct xml_node *xml_copy(const struct xml_node *n);

const char *xml_attr(const struct xml_node *n, const char *name);
/* Set (or replace) an attribute; value NULL removes it. */
void xml_set_attr(struct xml_node *n, const char *name, const char *value);

/* Append child; the parent takes over the caller's reference. Returns child. */
struct xml_node *xml_append(struct xml_node *parent, struct xml_node *child);
/* New element child (borrowed pointer, owned by parent). */
struct xml_node *xml_add(struct xml_node *parent, const char *name, const char *ns);
/* New element child holding text. */
struct xml_node *xml_add_text_child(struct xml_node *parent, const char *name, const char *ns,
                                    const char *text);
void xml_add_text(struct xml_node *parent, const char *text, size_t len);
/* Unlink child from parent and drop the parent's reference. */
void xml_remove(struct xml_node *parent, struct xml_node *child);

/* First element child matching name and ns (either may be NULL = any). */
struct xml_node *xml_child(const struct xml_node *n, const char *name, const char *ns);
/* Element children iteration: for (c = xml_first(n); c; c = xml_next(c)). */
struct xml_node *xml_first(const struct xml_node *n);
struct xml_node *xml_next(const struct xml_node *n);
/* Concatenated text of the direct text children, as a new string. */
char *xml_text(const struct xml_node *n);

/* Serialise n into out. parent_ns is the default namespace in scope where n is
 * written (NULL: none), so xmlns is emitted only where it changes. */
void xml_serialize(const struct xml_node *n, const char *parent_ns, struct buf *out);
/* Convenience for logs and tests: a new string. */
char *xml_to_string(const struct xml_node *n, const char *parent_ns);

#endif
