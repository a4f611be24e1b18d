/* A byte scanner for the stanzas confabd writes: finds where each stanza ends
 * by tracking element depth, and picks out the few attributes and children the
 * accounting needs, without building a tree.
 *
 * Why it is exact for well-formed XML without comments and processing
 * instructions (RFC 6120 §11.1 forbids both on an XMPP stream): '<' cannot
 * occur raw in character data or attribute values, so every '<' starts a tag or
 * a CDATA section; attribute values are read up to their closing quote, so a
 * '>' inside one does not end the tag. Namespaces are not resolved: names are
 * compared as written, which is how confabd writes them (default namespaces,
 * no prefixes). --parser xstream cross-checks the counts with expat. */
#include "compat.h"

#include <string.h>

#include "bench.h"

static bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

bool span_eq(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.p && s.n == n && memcmp(s.p, lit, n) == 0;
}

bool span_prefix(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.p && s.n >= n && memcmp(s.p, lit, n) == 0;
}

bool span_u64(struct span s, size_t off, uint64_t *out, size_t *end)
{
    if (!s.p || off >= s.n || s.p[off] < '0' || s.p[off] > '9')
        return false;
    uint64_t v = 0;
    size_t i = off;
    for (; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(s.p[i] - '0');
    *out = v;
    if (end)
        *end = i;
    return true;
}

/* A tag's name from b[p]; returns the index after it, or len. */
static size_t tag_name(const char *b, size_t p, size_t len, struct span *name)
{
    size_t s = p;
    while (p < len && !is_ws(b[p]) && b[p] != '>' && b[p] != '/')
        p++;
    name->p = b + s;
    name->n = p - s;
    return p;
}

struct attr_want {
    const char *name;
    struct span *dst;
};

/* Attributes from b[p] up to and including the tag's end. Returns the index
 * after '>' (and sets *empty for "/>"), 0 when incomplete, -1 when malformed. */
static long tag_attrs(const char *b, size_t p, size_t len, const struct attr_want *want,
                      size_t nwant, bool *empty)
{
    *empty = false;
    for (;;) {
        while (p < len && is_ws(b[p]))
            p++;
        if (p >= len)
            return 0;
        if (b[p] == '>')
            return (long)(p + 1);
        if (b[p] == '/') {
            if (p + 1 >= len)
                return 0;
            if (b[p + 1] != '>')
                return -1;
            *empty = true;
            return (long)(p + 2);
        }
        size_t an = p;
        while (p < len && b[p] != '=' && !is_ws(b[p]) && b[p] != '>')
            p++;
        size_t al = p - an;
        while (p < len && is_ws(b[p]))
            p++;
        if (p >= len)
            return 0;
        if (b[p] != '=')
            return -1;
        p++;
        while (p < len && is_ws(b[p]))
            p++;
        if (p >= len)
            return 0;
        char q = b[p];
        if (q != '\'' && q != '"')
            return -1;
        p++;
        const char *e = memchr(b + p, q, len - p);
        if (!e)
            return 0;
        for (size_t i = 0; i < nwant; i++) {
            if (strlen(want[i].name) == al && memcmp(b + an, want[i].name, al) == 0) {
                want[i].dst->p = b + p;
                want[i].dst->n = (size_t)(e - (b + p));
            }
        }
        p = (size_t)(e - b) + 1;
    }
}

long scan_stanza(const char *b, size_t len, struct stz *st)
{
    memset(st, 0, sizeof *st);
    size_t p = 0;
    while (p < len && is_ws(b[p]))
        p++;
    if (p == len)
        return (long)p;
    if (b[p] != '<')
        return -1;
    if (p + 1 >= len)
        return 0;
    if (b[p + 1] == '/')
        return -2;
    if (b[p + 1] == '!' || b[p + 1] == '?')
        return -1;
    p = tag_name(b, p + 1, len, &st->name);
    if (p >= len)
        return 0;
    if (span_eq(st->name, "message"))
        st->kind = STZ_MESSAGE;
    else if (span_eq(st->name, "presence"))
        st->kind = STZ_PRESENCE;
    else if (span_eq(st->name, "iq"))
        st->kind = STZ_IQ;
    else
        st->kind = STZ_OTHER;
    const struct attr_want top[] = {
        { "to", &st->to }, { "from", &st->from }, { "type", &st->type }, { "id", &st->id },
    };
    bool empty;
    long r = tag_attrs(b, p, len, top, ARRAY_SIZE(top), &empty);
    if (r <= 0)
        return r;
    p = (size_t)r;
    if (empty)
        return (long)p;
    unsigned depth = 1;        /* the stanza element is open */
    struct span *capture = NULL;
    bool in_error = false;     /* inside the direct <error/> child */
    unsigned error_depth = 0;
    for (;;) {
        const char *lt = memchr(b + p, '<', len - p);
        if (!lt)
            return 0;
        if (capture) {
            capture->p = b + p;
            capture->n = (size_t)(lt - (b + p));
            capture = NULL;
        }
        p = (size_t)(lt - b);
        if (p + 1 >= len)
            return 0;
        char c = b[p + 1];
        if (c == '/') {
            const char *gt = memchr(b + p, '>', len - p);
            if (!gt)
                return 0;
            if (in_error && depth == error_depth)
                in_error = false;
            depth--;
            p = (size_t)(gt - b) + 1;
            if (depth == 0)
                return (long)p;
            continue;
        }
        if (c == '!') {
            if (len - p < 9)
                return 0;
            if (memcmp(b + p, "<![CDATA[", 9) != 0)
                return -1;
            const char *e = memmem(b + p + 9, len - p - 9, "]]>", 3);
            if (!e)
                return 0;
            p = (size_t)(e - b) + 3;
            continue;
        }
        if (c == '?')
            return -1;
        struct span name;
        p = tag_name(b, p + 1, len, &name);
        if (p >= len)
            return 0;
        unsigned level = depth + 1;   /* 2 = direct child of the stanza */
        struct span queryid = { 0 }, code = { 0 };
        const struct attr_want child[] = { { "queryid", &queryid }, { "code", &code } };
        r = tag_attrs(b, p, len, child, ARRAY_SIZE(child), &empty);
        if (r <= 0)
            return r;
        p = (size_t)r;
        if (level == 2) {
            if (span_eq(name, "body")) {
                st->has_body = true;
                if (!empty)
                    capture = &st->body;
            } else if (span_eq(name, "subject")) {
                st->has_subject = true;
            } else if (span_eq(name, "delay")) {
                st->has_delay = true;
            } else if (span_eq(name, "error")) {
                st->has_error = true;
                if (!empty) {
                    in_error = true;
                    error_depth = level;
                }
            } else if (span_eq(name, "fin")) {
                st->has_fin = true;
            } else if (span_eq(name, "result")) {
                st->has_result = true;
                st->queryid = queryid;
            }
        } else if (in_error && level == error_depth + 1 && !st->error_cond.p &&
                   !span_eq(name, "text")) {
            st->error_cond = name;
        }
        if (span_eq(name, "status") && code.p) {
            if (span_eq(code, "110"))
                st->status110 = true;
            else if (span_eq(code, "201"))
                st->status201 = true;
        } else if (!empty && span_eq(name, "first")) {
            capture = &st->first;
        } else if (!empty && span_eq(name, "last")) {
            capture = &st->last;
        }
        if (!empty)
            depth++;
    }
}
