/* xstream.c — XMPP stream reader over expat: depth-1 stanzas, RFC 6120 §11.1 restricted XML. */
#include "compat.h"

#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "xstream.h"

static const char XML_NS_URI[] = "http://www.w3.org/XML/1998/namespace";

enum xs_state { XS_LIVE, XS_FAILED, XS_STOPPED };

struct xstream {
    XML_Parser parser;
    struct xstream_limits lim;
    struct xstream_handler h;
    void *ud;
    enum xs_state state;
    unsigned depth;
    struct xml_node **stack; /* open elements of the current stanza, index = depth - 1 */
    unsigned stack_cap;
    long long fed;           /* bytes handed to expat so far */
    long long mark;          /* where the current stanza (or gap between stanzas) began */
    char *content_ns;
    bool header_seen;
    /* The current stanza broke a per-stanza limit: its subtree is skipped and
     * only its top element is handed on, so the peer can be told. */
    const char *poisoned;
    unsigned skip_depth;
};

static void fail(struct xstream *xs, const char *cond, const char *text)
{
    if (xs->state != XS_LIVE)
        return;
    xs->state = XS_FAILED;
    XML_StopParser(xs->parser, XML_FALSE);
    if (xs->h.error)
        xs->h.error(xs->ud, cond, text);
}

static void drop_stanza(struct xstream *xs)
{
    if (xs->depth >= 2 && xs->stack[0])
        xml_unref(xs->stack[0]);
    if (xs->stack)
        xs->stack[0] = NULL;
}

/* "uri\x1Flocal" or "local" -> separate strings (ns NULL when absent). */
static struct xml_node *node_from_name(const char *qname)
{
    const char *sep = strchr(qname, XML_NS_SEP);
    if (!sep)
        return xml_new(qname, NULL);
    char *ns = xstrndup(qname, (size_t)(sep - qname));
    struct xml_node *n = xml_new(sep + 1, ns);
    free(ns);
    return n;
}

static void add_attrs(struct xml_node *n, const XML_Char **atts)
{
    for (size_t i = 0; atts[i]; i += 2) {
        const char *name = atts[i];
        const char *sep = strchr(name, XML_NS_SEP);
        if (sep && (size_t)(sep - name) == sizeof XML_NS_URI - 1 &&
            memcmp(name, XML_NS_URI, sizeof XML_NS_URI - 1) == 0) {
            char *local = xasprintf("xml:%s", sep + 1);
            xml_set_attr(n, local, atts[i + 1]);
            free(local);
        } else {
            xml_set_attr(n, name, atts[i + 1]);
        }
    }
}

static bool over_limit(struct xstream *xs, long long pos)
{
    if (pos - xs->mark > (long long)xs->lim.max_stanza_bytes) {
        char text[96];
        snprintf(text, sizeof text, "stanza larger than %zu bytes", xs->lim.max_stanza_bytes);
        fail(xs, "policy-violation", text);
        return true;
    }
    return false;
}

static void on_stream_start(struct xstream *xs, const XML_Char *name, const XML_Char **atts)
{
    struct xml_node *hdr = node_from_name(name);
    if (strcmp(hdr->name, "stream") != 0 || !hdr->ns || strcmp(hdr->ns, NS_STREAMS) != 0) {
        xml_unref(hdr);
        fail(xs, "invalid-namespace", "the root element is not a stream:stream");
        return;
    }
    add_attrs(hdr, atts);
    xs->header_seen = true;
    if (xs->h.open)
        xs->h.open(xs->ud, hdr);
    xml_unref(hdr);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xstream *xs = ud;
    if (xs->state != XS_LIVE)
        return;
    long long pos = XML_GetCurrentByteIndex(xs->parser);
    size_t nattrs = 0;
    while (atts[nattrs * 2])
        nattrs++;
    if (xs->poisoned) {
        xs->skip_depth++;
        return;
    }
    if (nattrs > xs->lim.max_attrs && xs->depth == 0) {
        fail(xs, "policy-violation", "too many attributes on one element");
        return;
    }
    if (xs->depth == 0) {
        xs->depth = 1;
        on_stream_start(xs, name, atts);
        xs->mark = XML_GetCurrentByteIndex(xs->parser) + XML_GetCurrentByteCount(xs->parser);
        return;
    }
    if (xs->depth == 1)
        xs->mark = pos;
    else if (over_limit(xs, pos))
        return;
    /* One stanza breaking a structural limit is that sender's problem, not
     * the stream's: skip it and report it, keep the link. */
    const char *why = nattrs > xs->lim.max_attrs ? "too many attributes on one element"
                      : xs->depth + 1 > xs->lim.max_depth ? "elements nested too deeply"
                                                           : NULL;
    if (why && xs->depth > 1) {
        xs->poisoned = why;
        xs->skip_depth = 1;
        return;
    }
    struct xml_node *n = node_from_name(name);
    if (why) {
        /* The stanza element itself: keep only what an error reply needs. */
        static const char *const keep[] = { "from", "to", "id", "type" };
        for (size_t i = 0; atts[i]; i += 2)
            for (size_t k = 0; k < ARRAY_SIZE(keep); k++)
                if (strcmp(atts[i], keep[k]) == 0)
                    xml_set_attr(n, atts[i], atts[i + 1]);
        xs->poisoned = why;
        xs->skip_depth = 0;
    } else {
        add_attrs(n, atts);
    }
    unsigned idx = xs->depth - 1;
    if (idx >= xs->stack_cap) {
        xs->stack_cap = xs->stack_cap ? xs->stack_cap * 2 : 8;
        xs->stack = xrealloc(xs->stack, xs->stack_cap * sizeof *xs->stack);
    }
    if (idx > 0)
        xml_append(xs->stack[idx - 1], n);
    xs->stack[idx] = n;
    xs->depth++;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xstream *xs = ud;
    if (xs->state != XS_LIVE)
        return;
    if (xs->poisoned && xs->skip_depth > 0) {
        xs->skip_depth--;
        return;
    }
    xs->depth--;
    if (xs->depth == 0) {
        if (xs->h.close)
            xs->h.close(xs->ud);
        return;
    }
    if (xs->depth > 1)
        return;
    struct xml_node *stanza = xs->stack[0];
    xs->stack[0] = NULL;
    long long end = XML_GetCurrentByteIndex(xs->parser) + XML_GetCurrentByteCount(xs->parser);
    if (over_limit(xs, end)) {
        xml_unref(stanza);
        return;
    }
    xs->mark = end;
    if (xs->poisoned) {
        const char *why = xs->poisoned;
        xs->poisoned = NULL;
        if (xs->h.rejected) {
            /* Keep only what an error reply needs. */
            static const char *const keep[] = { "from", "to", "id", "type" };
            struct xml_node *top = xml_new(stanza->name, stanza->ns);
            for (size_t k = 0; k < ARRAY_SIZE(keep); k++)
                xml_set_attr(top, keep[k], xml_attr(stanza, keep[k]));
            xs->h.rejected(xs->ud, top, why);
            xml_unref(top);
        }
    } else if (xs->h.stanza) {
        xs->h.stanza(xs->ud, stanza);
    }
    xml_unref(stanza);
}

static bool all_space(const XML_Char *s, int len)
{
    for (int i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct xstream *xs = ud;
    if (xs->state != XS_LIVE)
        return;
    if (xs->poisoned)
        return;
    if (xs->depth <= 1) {
        /* Whitespace between stanzas is the peer's keepalive. */
        if (!all_space(s, len))
            fail(xs, "bad-format", "text outside any stanza");
        else
            xs->mark = XML_GetCurrentByteIndex(xs->parser) + XML_GetCurrentByteCount(xs->parser);
        return;
    }
    xml_add_text(xs->stack[xs->depth - 2], s, (size_t)len);
}

static void XMLCALL on_ns_start(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct xstream *xs = ud;
    if (xs->depth == 0 && !prefix) {
        free(xs->content_ns);
        xs->content_ns = xstrdup(uri ? uri : "");
    }
}

static void XMLCALL on_doctype(void *ud, const XML_Char *n, const XML_Char *s,
                               const XML_Char *p, int internal)
{
    fail(ud, "restricted-xml", "Restricted XML, see RFC 6120 section 11.1: DTD");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int param, const XML_Char *value,
                              int vlen, const XML_Char *base, const XML_Char *sys,
                              const XML_Char *pub, const XML_Char *notation)
{
    fail(ud, "restricted-xml", "Restricted XML, see RFC 6120 section 11.1: entity declaration");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    fail(ud, "restricted-xml", "Restricted XML, see RFC 6120 section 11.1: comment");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    fail(ud, "restricted-xml", "Restricted XML, see RFC 6120 section 11.1: processing instruction");
}

static void setup_parser(struct xstream *xs)
{
    xs->parser = XML_ParserCreateNS(NULL, XML_NS_SEP);
    if (!xs->parser) {
        fprintf(stderr, "FATAL out of memory creating the XML parser\n");
        abort();
    }
    XML_SetUserData(xs->parser, xs);
    XML_SetElementHandler(xs->parser, on_start, on_end);
    XML_SetCharacterDataHandler(xs->parser, on_text);
    XML_SetStartNamespaceDeclHandler(xs->parser, on_ns_start);
    XML_SetStartDoctypeDeclHandler(xs->parser, on_doctype);
    XML_SetEntityDeclHandler(xs->parser, on_entity);
    XML_SetCommentHandler(xs->parser, on_comment);
    XML_SetProcessingInstructionHandler(xs->parser, on_pi);
#ifdef HAVE_XML_SETREPARSEDEFERRALENABLED
    /* Deferral would hold back a stanza split across reads until more bytes
     * arrive; our own byte limit already covers the DoS it guards against. */
    XML_SetReparseDeferralEnabled(xs->parser, XML_FALSE);
#endif
}

struct xstream *xstream_new(const struct xstream_limits *lim, const struct xstream_handler *h,
                            void *ud)
{
    struct xstream *xs = xcalloc(1, sizeof *xs);
    if (lim)
        xs->lim = *lim;
    if (!xs->lim.max_stanza_bytes)
        xs->lim.max_stanza_bytes = 512 * 1024;
    if (!xs->lim.max_depth)
        xs->lim.max_depth = 32;
    if (!xs->lim.max_attrs)
        xs->lim.max_attrs = 64;
    xs->h = *h;
    xs->ud = ud;
    xs->content_ns = xstrdup("");
    setup_parser(xs);
    return xs;
}

static void clear_state(struct xstream *xs)
{
    drop_stanza(xs);
    xs->depth = 0;
    xs->fed = 0;
    xs->mark = 0;
    xs->header_seen = false;
    xs->poisoned = NULL;
    xs->skip_depth = 0;
    xs->state = XS_LIVE;
    free(xs->content_ns);
    xs->content_ns = xstrdup("");
}

void xstream_free(struct xstream *xs)
{
    if (!xs)
        return;
    clear_state(xs);
    free(xs->content_ns);
    free(xs->stack);
    XML_ParserFree(xs->parser);
    free(xs);
}

void xstream_reset(struct xstream *xs)
{
    clear_state(xs);
    XML_ParserFree(xs->parser);
    setup_parser(xs);
}

void xstream_stop(struct xstream *xs)
{
    if (xs->state == XS_LIVE) {
        xs->state = XS_STOPPED;
        XML_StopParser(xs->parser, XML_FALSE);
    }
}

const char *xstream_content_ns(const struct xstream *xs)
{
    return xs->content_ns;
}

static int state_code(const struct xstream *xs)
{
    return xs->state == XS_FAILED ? -EPROTO : xs->state == XS_STOPPED ? -ECANCELED : 0;
}

int xstream_feed(struct xstream *xs, const char *data, size_t len)
{
    if (xs->state != XS_LIVE)
        return state_code(xs);
    /* Feed in bounded slices: XML_Parse takes an int length. */
    while (len > 0) {
        int n = len > (1u << 20) ? (1 << 20) : (int)len;
        enum XML_Status st = XML_Parse(xs->parser, data, n, XML_FALSE);
        xs->fed += n;
        if (st == XML_STATUS_ERROR && xs->state == XS_LIVE) {
            enum XML_Error e = XML_GetErrorCode(xs->parser);
            fail(xs, e == XML_ERROR_UNDEFINED_ENTITY ? "restricted-xml" : "not-well-formed",
                 XML_ErrorString(e));
        }
        if (xs->state != XS_LIVE)
            return state_code(xs);
        /* expat buffers an unfinished token; bound what it may hold for us. */
        if (over_limit(xs, xs->fed))
            return state_code(xs);
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void keep_stanza(void *ud, struct xml_node *st)
{
    struct xml_node **out = ud;
    xml_unref(*out);
    *out = xml_ref(st);
}

struct xml_node *xstream_parse_stanza(const char *ns, const char *text, size_t len)
{
    static const struct xstream_handler h = { .stanza = keep_stanza };
    struct xml_node *st = NULL;
    struct xstream *xs = xstream_new(NULL, &h, &st);
    char *header = xasprintf("<stream:stream xmlns='%s' xmlns:stream='" NS_STREAMS "'>", ns);
    if (xstream_feed(xs, header, strlen(header)) < 0 || xstream_feed(xs, text, len) < 0) {
        xml_unref(st);
        st = NULL;
    }
    free(header);
    xstream_free(xs);
    return st;
}
