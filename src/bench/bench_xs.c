/* bench_xs.c — router mode's expat path: the XEP-0114 handshake, and each stanza as a tree with --parser xstream. */
#include "compat.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_router.h"
#include "component.h"
#include "stanza.h"
#include "xml.h"
#include "xstream.h"

static int64_t xs_now;   /* arrival time of the bytes being fed */

static struct span sp(const char *s)
{
    return (struct span){ s, s ? strlen(s) : 0 };
}

static void xs_open(void *ud, const struct xml_node *hdr)
{
    if (B.phase != PH_HANDSHAKE)
        return;
    const char *to = xml_attr(hdr, "to");
    if (!to || strcmp(to, O.domain) != 0) {
        bench_fail("confabd opened a stream for '%s', expected '%s'", to ? to : "", O.domain);
        return;
    }
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        abort();
    for (int i = 0; i < 8; i++)
        snprintf(B.stream_id + 2 * i, 3, "%02x", rnd[i]);
    tx_put("<?xml version='1.0'?><stream:stream xmlns='" NS_COMPONENT "' xmlns:stream='" NS_STREAMS
        "' from='%s' id='%s'>", O.domain, B.stream_id);
}

static void xs_handshake(struct xml_node *st)
{
    char *got = xml_text(st);
    char want[41];
    component_handshake_digest(B.stream_id, O.secret, want);
    if (strcmp(got, want) != 0) {
        tx_put("<stream:error><not-authorized xmlns='" NS_XMPP_STREAMS "'/></stream:error>"
            "</stream:stream>");
        bench_fail("confabd's handshake digest does not match the secret");
    } else {
        tx_put("<handshake/>");
        B.t_up = bench_now_ns();
    }
    free(got);
}

static void xs_stanza(void *ud, struct xml_node *n)
{
    if (B.phase == PH_HANDSHAKE) {
        if (strcmp(n->name, "handshake") == 0)
            xs_handshake(n);
        else
            bench_fail("expected <handshake/>, got <%s/>", n->name);
        return;
    }
    struct stz st = { 0 };
    st.name = sp(n->name);
    if (strcmp(n->name, "message") == 0)
        st.kind = STZ_MESSAGE;
    else if (strcmp(n->name, "presence") == 0)
        st.kind = STZ_PRESENCE;
    else if (strcmp(n->name, "iq") == 0)
        st.kind = STZ_IQ;
    else
        st.kind = STZ_OTHER;
    if (n->ns && strcmp(n->ns, NS_STREAMS) == 0)
        st.name = sp("stream:error");
    st.to = sp(xml_attr(n, "to"));
    st.from = sp(xml_attr(n, "from"));
    st.type = sp(xml_attr(n, "type"));
    st.id = sp(xml_attr(n, "id"));
    char *body = NULL, *first = NULL, *last = NULL;
    for (const struct xml_node *c = xml_first(n); c; c = xml_next(c)) {
        if (strcmp(c->name, "body") == 0 && !st.has_body) {
            st.has_body = true;
            body = xml_text(c);
            st.body = sp(body);
        } else if (strcmp(c->name, "subject") == 0) {
            st.has_subject = true;
        } else if (strcmp(c->name, "delay") == 0) {
            st.has_delay = true;
        } else if (strcmp(c->name, "error") == 0) {
            st.has_error = true;
            for (const struct xml_node *e = xml_first(c); e; e = xml_next(e))
                if (strcmp(e->name, "text") != 0) {
                    st.error_cond = sp(e->name);
                    break;
                }
        } else if (strcmp(c->name, "fin") == 0) {
            st.has_fin = true;
            const struct xml_node *set = xml_child(c, "set", NULL);
            const struct xml_node *f = set ? xml_child(set, "first", NULL) : NULL;
            const struct xml_node *l = set ? xml_child(set, "last", NULL) : NULL;
            if (f)
                st.first = sp(first = xml_text(f));
            if (l)
                st.last = sp(last = xml_text(l));
        } else if (strcmp(c->name, "result") == 0) {
            st.has_result = true;
            st.queryid = sp(xml_attr(c, "queryid"));
        } else if (strcmp(c->name, "x") == 0) {
            for (const struct xml_node *s = xml_first(c); s; s = xml_next(s)) {
                const char *code = strcmp(s->name, "status") == 0 ? xml_attr(s, "code") : NULL;
                if (code && strcmp(code, "110") == 0)
                    st.status110 = true;
                else if (code && strcmp(code, "201") == 0)
                    st.status201 = true;
            }
        }
    }
    /* The scanner sees escaped text; bodies here are plain ASCII either way. */
    rx_stanza(&st, xs_now);
    free(body);
    free(first);
    free(last);
}

static void xs_close(void *ud)
{
    bench_fail("confabd closed the stream");
}

static void xs_error(void *ud, const char *cond, const char *text)
{
    bench_fail("stream from confabd is broken: %s (%s)", cond, text ? text : "");
}

static const struct xstream_handler xs_handler = {
    .open = xs_open, .stanza = xs_stanza, .close = xs_close, .error = xs_error,
};

struct xstream *xs_create(void)
{
    struct xstream_limits lim = { .max_stanza_bytes = 64u << 20 };
    return xstream_new(&lim, &xs_handler, NULL);
}

/* Everything read so far goes to expat; it calls back per stanza. */
void xs_feed(int64_t now)
{
    xs_now = now;
    (void)xstream_feed(B.xs, B.rbuf, B.rlen);
    B.rlen = 0;
}
