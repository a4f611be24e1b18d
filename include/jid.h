/* jid.h — XMPP addresses (RFC 7622): parse, prepare, compare.
 *
 * Parts are prepared with libidn stringprep profiles (Nodeprep, Nameprep,
 * Resourceprep), so two struct jid compare equal exactly when XMPP says the
 * addresses are the same. Each part is at most 1023 bytes after preparation. */
#ifndef CONFAB_JID_H
#define CONFAB_JID_H

#include <stdbool.h>
#include <stddef.h>

#define JID_PART_MAX 1023

struct jid {
    char *node;     /* NULL when absent */
    char *domain;   /* never NULL after a successful parse */
    char *resource; /* NULL when absent */
};

/* Parse and prepare str. On success fills *j with owned strings and returns 0.
 * Errors: -EINVAL (malformed: empty part, bad characters, stringprep failure),
 * -ENAMETOOLONG (a part longer than JID_PART_MAX after preparation).
 * On error *j is left empty (all NULL). */
int jid_parse(struct jid *j, const char *str);
/* Release the parts; the struct may be reused. Safe on an empty jid. */
void jid_clear(struct jid *j);
/* New string "node@domain/resource"; bare=true omits the resource. */
char *jid_format(const struct jid *j, bool bare);
bool jid_equal(const struct jid *a, const struct jid *b);
bool jid_bare_equal(const struct jid *a, const struct jid *b);
/* Prepare a single domain part (Nameprep + length check); new string in *out.
 * Returns 0, -EINVAL or -ENAMETOOLONG. */
int jid_prep_domain(const char *in, char **out);
/* Prepare a nick the way XEP-0045 wants (Resourceprep); 0, -EINVAL, -ENAMETOOLONG. */
int jid_prep_resource(const char *in, char **out);

/* Does a prepared resource pass resourceprep with no unassigned code points
 * (RFC 3454 §7 "stored strings")? Room nicks are stored: they must. */
bool jid_resource_strict(const char *resource);

#endif
