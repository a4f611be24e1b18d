/* jid.c — XMPP addresses (RFC 7622) prepared with libidn stringprep.
 *
 * Every part is copied into one fixed scratch buffer, prepared in place by
 * libidn, checked, and only then duplicated onto the heap, so a failed parse
 * allocates nothing that could leak. */
#include "compat.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "jid.h"
#include "mem.h"

/* RFC 6122 put a whole JID at 3071 bytes (three full parts and both
 * separators); a little slack covers the root dot, which is stripped before
 * the domain is measured. Anything longer is refused before any Unicode work,
 * so a hostile peer cannot make us normalise megabytes; the price is that
 * an input that would only fit after preparation removed characters (soft
 * hyphens and the like) is refused too. */
#define JID_INPUT_MAX (3 * JID_PART_MAX + 2 + 2)

/* libidn prepares in place and needs room for output that grows (NFKC and
 * case folding expand, U+FDFA alone becomes 33 bytes). Output that does not
 * fit here is certainly longer than JID_PART_MAX. */
#define SCRATCH_SIZE (JID_INPUT_MAX + 1)

/* Strict RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF.
 * libidn 1.41 refuses most of these on its own, but older releases did not,
 * and the contract (-EINVAL for bad UTF-8) should not depend on that. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    /* The second byte alone decides overlong, surrogate and >U+10FFFF. */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

static bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* Common gate for every public entry point: bound the work first, then make
 * sure libidn only ever sees well-formed UTF-8. */
static int check_input(const char *s, size_t *len)
{
    *len = strnlen(s, JID_INPUT_MAX + 1);
    if (*len > JID_INPUT_MAX)
        return -ENAMETOOLONG;
    if (!utf8_valid(s, *len))
        return -EINVAL;
    return 0;
}

/* A part must also be checked after preparation: characters that map to
 * nothing (soft hyphen, zero-width joiner) can empty a non-empty input. */
static int check_prepared_len(const char *s)
{
    size_t n = strlen(s);

    if (n == 0)
        return -EINVAL;
    if (n > JID_PART_MAX)
        return -ENAMETOOLONG;
    return 0;
}

static bool ascii_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Whether profile maps c to itself and allows it: checked against libidn for
 * every ASCII byte by tests/unit/test_jid.c. Nodeprep folds case and forbids
 * space and "&'/:<>@; Resourceprep leaves printable ASCII alone; for domains
 * only lower-case LDH and dots are taken here (the rest goes to Nameprep). */
static bool ascii_unchanged(unsigned char c, const Stringprep_profile *profile)
{
    if (profile == stringprep_xmpp_nodeprep)
        return c > 0x20 && c < 0x7f && !(c >= 'A' && c <= 'Z') && !strchr("\"&'/:<>@", c);
    if (profile == stringprep_xmpp_resourceprep)
        return c >= 0x20 && c < 0x7f;
    return ascii_ldh(c) || c == '.';
}

/* Most addresses are plain ASCII that their profile leaves as it is; for them
 * stringprep (NFKC and its allocations: the largest share of confabd's time
 * per stanza, docs/benchmarks.md) would only copy. */
static bool prep_is_identity(const char *s, size_t n, const Stringprep_profile *profile)
{
    for (size_t i = 0; i < n; i++)
        if (!ascii_unchanged((unsigned char)s[i], profile))
            return false;
    return true;
}

/* Run one profile over s[0..n) into buf. Unassigned code points are refused
 * in node and domain because those are stored and compared later (RFC 3454
 * §7): a character that a newer Unicode assigns could otherwise change how an
 * address prepares. Resources are only routed, and routers accept them
 * (clients name devices with emoji): refusing one would make its client
 * unreachable. Where a resource is stored — a room nick — the MUC checks it
 * strictly itself (jid_resource_strict). */
static int prep_into(char *buf, const char *s, size_t n, const Stringprep_profile *profile)
{
    int rc;

    if (n >= SCRATCH_SIZE)
        return -ENAMETOOLONG;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (prep_is_identity(s, n, profile))
        return check_prepared_len(buf);
    rc = stringprep(buf, SCRATCH_SIZE,
                    profile == stringprep_xmpp_resourceprep ? 0 : STRINGPREP_NO_UNASSIGNED,
                    profile);
    switch (rc) {
    case STRINGPREP_OK:
        return check_prepared_len(buf);
    case STRINGPREP_TOO_SMALL_BUFFER:
        return -ENAMETOOLONG;
    case STRINGPREP_MALLOC_ERROR:
        /* Same policy as xmalloc: OOM is not survivable, see mem.h. */
        fprintf(stderr, "FATAL out of memory in stringprep\n");
        abort();
    default:
        return -EINVAL;
    }
}

static int prep_part(const char *s, size_t n, const Stringprep_profile *profile, char **out)
{
    char buf[SCRATCH_SIZE];
    int rc;

    if (n == 0)
        return -EINVAL;
    rc = prep_into(buf, s, n, profile);
    if (rc < 0)
        return rc;
    *out = xstrdup(buf);
    return 0;
}

/* An IP-literal is kept in inet_ntop's canonical spelling so that
 * [0:0::1] and [::1] name the same domain and compare equal. */
static int prep_ipv6(const char *s, size_t n, char **out)
{
    char text[INET6_ADDRSTRLEN];
    struct in6_addr addr;

    if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(text))
        return -EINVAL;
    memcpy(text, s + 1, n - 2);
    text[n - 2] = '\0';
    if (inet_pton(AF_INET6, text, &addr) != 1)
        return -EINVAL;
    if (!inet_ntop(AF_INET6, &addr, text, sizeof(text)))
        return -EINVAL;
    *out = xasprintf("[%s]", text);
    return 0;
}

/* Nameprep happily passes ASCII that cannot appear in a host name (space,
 * '@', '/', '_', controls), and NFKC can produce some of them from harmless
 * looking input (U+FF0F becomes '/'). Letting those through would make
 * jid_format output that parses differently. Non-ASCII is left to Nameprep's
 * own prohibition tables. Folding A-Z again is redundant with Nameprep's
 * table B.2, but equality must not hinge on a profile table detail. */
static bool domain_fold_and_check(char *d)
{
    size_t label = 0;

    for (unsigned char *p = (unsigned char *)d; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (unsigned char)(*p - 'A' + 'a');
        if (*p == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (*p < 0x80 && !ascii_ldh(*p))
            return false;
        label++;
    }
    return label > 0;
}

static int prep_domain(const char *s, size_t n, char **out)
{
    char buf[SCRATCH_SIZE];
    int rc;

    /* RFC 7622 §3.2: the root label's dot is not part of the address. Only
     * one is dropped; "example.com.." still has an empty label. */
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0)
        return -EINVAL;
    if (s[0] == '[')
        return prep_ipv6(s, n, out);
    rc = prep_into(buf, s, n, stringprep_nameprep);
    if (rc < 0)
        return rc;
    if (!domain_fold_and_check(buf))
        return -EINVAL;
    *out = xstrdup(buf);
    return 0;
}

int jid_parse(struct jid *j, const char *str)
{
    struct jid tmp = { NULL, NULL, NULL };
    const char *slash, *at, *domain;
    size_t len, bare_len;
    int rc;

    *j = tmp;
    rc = check_input(str, &len);
    if (rc < 0)
        return rc;

    /* RFC 7622 §3.1: the first '/' ends the bare part, so the resource may
     * hold '@' and '/'; only before it does the first '@' end the node. */
    slash = memchr(str, '/', len);
    bare_len = slash ? (size_t)(slash - str) : len;
    at = memchr(str, '@', bare_len);
    domain = at ? at + 1 : str;

    if (at)
        rc = prep_part(str, (size_t)(at - str), stringprep_xmpp_nodeprep, &tmp.node);
    if (rc == 0)
        rc = prep_domain(domain, (size_t)(str + bare_len - domain), &tmp.domain);
    if (rc == 0 && slash)
        rc = prep_part(slash + 1, len - bare_len - 1, stringprep_xmpp_resourceprep,
                       &tmp.resource);
    if (rc < 0) {
        jid_clear(&tmp);
        return rc;
    }
    *j = tmp;
    return 0;
}

void jid_clear(struct jid *j)
{
    if (!j)
        return;
    free(j->node);
    free(j->domain);
    free(j->resource);
    j->node = j->domain = j->resource = NULL;
}

char *jid_format(const struct jid *j, bool bare)
{
    const char *res = bare ? NULL : j->resource;

    return xasprintf("%s%s%s%s%s", j->node ? j->node : "", j->node ? "@" : "",
                     j->domain ? j->domain : "", res ? "/" : "", res ? res : "");
}

/* Parts are prepared, so byte equality is XMPP equality; absent parts are
 * equal only to absent parts ("example.com" is not "@example.com"). */
static bool part_equal(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool jid_bare_equal(const struct jid *a, const struct jid *b)
{
    return part_equal(a->node, b->node) && part_equal(a->domain, b->domain);
}

bool jid_equal(const struct jid *a, const struct jid *b)
{
    return jid_bare_equal(a, b) && part_equal(a->resource, b->resource);
}

/* What a prep of one part checks first; *out stays NULL unless it succeeds. */
static int start_prep(const char *in, char **out, size_t *len)
{
    *out = NULL;
    return check_input(in, len);
}

int jid_prep_domain(const char *in, char **out)
{
    size_t len;
    int rc = start_prep(in, out, &len);
    return rc < 0 ? rc : prep_domain(in, len, out);
}

int jid_prep_resource(const char *in, char **out)
{
    size_t len;
    int rc = start_prep(in, out, &len);
    return rc < 0 ? rc : prep_part(in, len, stringprep_xmpp_resourceprep, out);
}

bool jid_resource_strict(const char *resource)
{
    char buf[SCRATCH_SIZE];
    size_t n = strlen(resource);
    if (n >= SCRATCH_SIZE)
        return false;
    memcpy(buf, resource, n + 1);
    return stringprep(buf, SCRATCH_SIZE, STRINGPREP_NO_UNASSIGNED,
                      stringprep_xmpp_resourceprep) == STRINGPREP_OK &&
           strcmp(buf, resource) == 0;
}
