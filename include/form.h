/* form.h — XEP-0004 data forms: read a submitted <x xmlns='jabber:x:data'/>
 * into a flat struct, and build forms as xml.h trees.
 *
 * Parsing keeps only the top-level <field/>s and their <value/>s, which is what
 * a form-processing entity needs from submit/cancel forms; <option/>, <desc/>,
 * <required/>, <reported/> and <item/> are skipped. Field types are kept as
 * sent and not checked: XEP-0004 §3.3 says an unknown type is to be treated as
 * text-single, and submitted fields usually carry no type at all. */
#ifndef CONFAB_FORM_H
#define CONFAB_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "compat.h"
#include "xml.h"

#define NS_DATA_FORMS "jabber:x:data"

struct form_field {
    char *var;      /* NULL only for a type='fixed' field without one */
    char *type;     /* NULL when the attribute was absent */
    char **values;  /* text of each <value/>, "" for an empty one */
    size_t nvalues;
};

struct form {
    char *type;         /* form, submit, cancel or result */
    char *form_type;    /* value of the FORM_TYPE field, or NULL */
    struct form_field *fields;
    size_t nfields;
};

/* Parse x into *out (owned strings; release with form_free). x must be an <x/>
 * in NS_DATA_FORMS with type form|submit|cancel|result; every field except a
 * type='fixed' one needs a var, and vars are unique (§3.2). FORM_TYPE is also
 * copied to out->form_type when its field is hidden or untyped: XEP-0068 wants
 * it hidden, yet the XEP-0045 §10.1.3 submission leaves the type off.
 * x may be NULL (no form was found), which is -EINVAL like any malformed one.
 * Returns 0 or -EINVAL; on error *out is empty and form_free-safe. */
MUST_CHECK int form_parse(const struct xml_node *x, struct form *out);
/* Release what form_parse allocated; the struct may be reused. NULL is a no-op. */
void form_free(struct form *f);

/* The field named var, or NULL. */
const struct form_field *form_get(const struct form *f, const char *var);
/* First value of var, or NULL when the field is absent or has no <value/>. */
const char *form_value(const struct form *f, const char *var);

/* XEP-0004 boolean: "1"/"true" and "0"/"false" (xs:boolean, so surrounding XML
 * whitespace is allowed). A field without any <value/> is false, the §3.3
 * default. Returns 0, -ENOENT when the field is absent, -EINVAL otherwise. */
MUST_CHECK int form_bool(const struct form *f, const char *var, bool *out);
/* A decimal integer 0..max (digits only, surrounding XML whitespace allowed).
 * Returns 0, -ENOENT when the field is absent or has no <value/>, -EINVAL when
 * the value is not a number, -ERANGE when it exceeds max. *out is set only on 0. */
MUST_CHECK int form_uint(const struct form *f, const char *var, unsigned long max,
                         unsigned long *out);

/* New <x xmlns='jabber:x:data' type='type'/> (owned). With form_type it starts
 * with the hidden FORM_TYPE field; title and instructions (NULL = none) come
 * first, in the order of the XEP-0004 examples. */
struct xml_node *form_new(const char *type, const char *form_type, const char *title,
                          const char *instructions);
/* Append a <field/>; type, var, label may be NULL (attribute left out); value
 * NULL adds no <value/>. Returns the field, borrowed from x. */
struct xml_node *form_add_field(struct xml_node *x, const char *type, const char *var,
                                const char *label, const char *value);
void form_add_value(struct xml_node *field, const char *value);
/* <option label='label'><value>value</value></option>; label may be NULL. */
void form_add_option(struct xml_node *field, const char *label, const char *value);
/* A type='boolean' field with value "1" or "0". */
void form_add_bool(struct xml_node *x, const char *var, const char *label, bool v);

#endif
