/* component.c — the XEP-0114 component stream, free of I/O: §2 handshake, RFC 6120 §4.9 stream errors. */
#include "compat.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "component.h"
#include "mem.h"
#include "stanza.h"

enum cstate { C_IDLE, C_OPENING, C_HANDSHAKE, C_READY, C_CLOSED };

struct component {
    char *domain;
    char *secret;
    struct xstream *xs;
    struct component_handler h;
    void *ud;
    enum cstate state;
    struct buf out; /* scratch for serialising stanzas */
};

static void on_open(void *ud, const struct xml_node *hdr);
static void on_stanza(void *ud, struct xml_node *st);
static void on_close(void *ud);
static void on_error(void *ud, const char *cond, const char *text);
static void on_rejected(void *ud, struct xml_node *st, const char *why);

static const struct xstream_handler xs_handler = {
    .open = on_open, .stanza = on_stanza, .close = on_close, .error = on_error,
    .rejected = on_rejected,
};

void component_handshake_digest(const char *stream_id, const char *secret, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) ||
        !EVP_DigestUpdate(ctx, stream_id, strlen(stream_id)) ||
        !EVP_DigestUpdate(ctx, secret, strlen(secret)) || !EVP_DigestFinal_ex(ctx, md, &mdlen)) {
        fprintf(stderr, "FATAL OpenSSL SHA-1 failed\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < mdlen && i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[40] = '\0';
}

struct component *component_new(const char *domain, const char *secret,
                                 const struct xstream_limits *lim,
                                 const struct component_handler *h, void *ud)
{
    struct component *c = xcalloc(1, sizeof *c);
    c->domain = xstrdup(domain);
    c->secret = xstrdup(secret);
    c->h = *h;
    c->ud = ud;
    c->xs = xstream_new(lim, &xs_handler, c);
    buf_init(&c->out);
    return c;
}

void component_free(struct component *c)
{
    if (!c)
        return;
    xstream_free(c->xs);
    /* The secret should not linger in freed heap memory. */
    memset(c->secret, 0, strlen(c->secret));
    free(c->secret);
    free(c->domain);
    buf_free(&c->out);
    free(c);
}

static void emit(struct component *c, const char *s, size_t n)
{
    c->h.write(c->ud, s, n);
}

void component_start(struct component *c)
{
    xstream_reset(c->xs);
    c->state = C_OPENING;
    buf_reset(&c->out);
    buf_puts(&c->out, "<?xml version='1.0'?><stream:stream xmlns='" NS_COMPONENT
                      "' xmlns:stream='" NS_STREAMS "' to='");
    buf_put_xml_escaped(&c->out, c->domain, strlen(c->domain), 1);
    buf_puts(&c->out, "'>");
    emit(c, c->out.data, c->out.len);
}

/* The stream is over: tell the owner once, stop parsing. */
static void finish(struct component *c, enum component_fail kind, const char *reason)
{
    if (c->state == C_CLOSED)
        return;
    c->state = C_CLOSED;
    xstream_stop(c->xs);
    c->h.closed(c->ud, kind, reason);
}

static void send_stream_error(struct component *c, const char *cond, const char *text)
{
    buf_reset(&c->out);
    buf_printf(&c->out, "<stream:error><%s xmlns='" NS_XMPP_STREAMS "'/>", cond);
    if (text) {
        buf_puts(&c->out, "<text xmlns='" NS_XMPP_STREAMS "'>");
        buf_put_xml_escaped(&c->out, text, strlen(text), 0);
        buf_puts(&c->out, "</text>");
    }
    buf_puts(&c->out, "</stream:error></stream:stream>");
    emit(c, c->out.data, c->out.len);
}

/* We end the stream because of what the router sent. */
static void abort_stream(struct component *c, const char *cond, const char *why)
{
    if (c->state == C_CLOSED)
        return;
    if (c->state != C_IDLE)
        send_stream_error(c, cond, why);
    char reason[512];
    snprintf(reason, sizeof reason, "protocol error from router, sent stream error %s: %s", cond,
             why);
    finish(c, COMPONENT_FAIL_PROTOCOL, reason);
}

static void on_open(void *ud, const struct xml_node *hdr)
{
    struct component *c = ud;
    const char *id = xml_attr(hdr, "id");
    if (c->state != C_OPENING) {
        abort_stream(c, "bad-format", "unexpected second stream header");
        return;
    }
    if (strcmp(xstream_content_ns(c->xs), NS_COMPONENT) != 0) {
        abort_stream(c, "invalid-namespace", "the stream is not jabber:component:accept");
        return;
    }
    if (!id || !*id) {
        abort_stream(c, "bad-format", "stream header without an id");
        return;
    }
    char digest[41];
    component_handshake_digest(id, c->secret, digest);
    buf_reset(&c->out);
    buf_printf(&c->out, "<handshake>%s</handshake>", digest);
    c->state = C_HANDSHAKE;
    emit(c, c->out.data, c->out.len);
}

/* The router's <stream:error>: a refusal of our identity is a configuration
 * problem (backoff long), anything else a transient one. */
static void on_stream_error(struct component *c, struct xml_node *err)
{
    const char *cond = stanza_error_condition(err, NS_XMPP_STREAMS);
    struct xml_node *t = xml_child(err, "text", NS_XMPP_STREAMS);
    char *text = t ? xml_text(t) : xstrdup("");
    if (!cond)
        cond = "undefined-condition";
    bool refused = strcmp(cond, "not-authorized") == 0 || strcmp(cond, "conflict") == 0 ||
                   strcmp(cond, "host-unknown") == 0 || strcmp(cond, "invalid-from") == 0 ||
                   strcmp(cond, "host-gone") == 0;
    char reason[640];
    if (refused && c->state == C_HANDSHAKE && strcmp(cond, "not-authorized") == 0)
        snprintf(reason, sizeof reason,
                 "router refused the handshake for %s (not-authorized%s%s): check the secret",
                 c->domain, *text ? ": " : "", text);
    else
        snprintf(reason, sizeof reason, "router sent stream error %s%s%s", cond,
                 *text ? ": " : "", text);
    free(text);
    finish(c, refused ? COMPONENT_FAIL_REFUSED : COMPONENT_FAIL_PROTOCOL, reason);
}

static bool is_stanza_ns(const struct xml_node *st)
{
    return st->ns && (strcmp(st->ns, NS_COMPONENT) == 0 || strcmp(st->ns, NS_CLIENT) == 0);
}

static void on_stanza(void *ud, struct xml_node *st)
{
    struct component *c = ud;
    if (st->ns && strcmp(st->ns, NS_STREAMS) == 0 && strcmp(st->name, "error") == 0) {
        on_stream_error(c, st);
        return;
    }
    if (c->state == C_HANDSHAKE) {
        if (strcmp(st->name, "handshake") == 0 && is_stanza_ns(st)) {
            c->state = C_READY;
            c->h.ready(c->ud);
        } else {
            abort_stream(c, "not-authorized", "stanza before the handshake completed");
        }
        return;
    }
    if (c->state != C_READY)
        return;
    if (!is_stanza_ns(st) || stanza_kind(st) == STANZA_OTHER) {
        abort_stream(c, "unsupported-stanza-type", "only message, presence and iq are accepted");
        return;
    }
    c->h.stanza(c->ud, st);
}

static void on_rejected(void *ud, struct xml_node *st, const char *why)
{
    struct component *c = ud;
    if (c->state != C_READY || !is_stanza_ns(st) || stanza_kind(st) == STANZA_OTHER) {
        abort_stream(c, "policy-violation", why);
        return;
    }
    if (c->h.rejected)
        c->h.rejected(c->ud, st, why);
}

static void on_close(void *ud)
{
    struct component *c = ud;
    if (c->state != C_CLOSED)
        emit(c, "</stream:stream>", 16);
    finish(c, COMPONENT_FAIL_CLOSED, "router closed the stream");
}

static void on_error(void *ud, const char *cond, const char *text)
{
    abort_stream(ud, cond, text);
}

int component_feed(struct component *c, const char *data, size_t len)
{
    if (c->state == C_CLOSED || c->state == C_IDLE)
        return -ENOTCONN;
    int r = xstream_feed(c->xs, data, len);
    if (c->state == C_CLOSED)
        return -ENOTCONN;
    return r;
}

bool component_is_ready(const struct component *c)
{
    return c->state == C_READY;
}

int component_send(struct component *c, const struct xml_node *st)
{
    if (c->state != C_READY)
        return -ENOTCONN;
    buf_reset(&c->out);
    xml_serialize(st, NS_COMPONENT, &c->out);
    emit(c, c->out.data, c->out.len);
    return 0;
}

int component_send_each(struct component *c, const struct xml_node *st, const char *const *to,
                        size_t n)
{
    if (c->state != C_READY)
        return -ENOTCONN;
    buf_reset(&c->out);
    xml_serialize(st, NS_COMPONENT, &c->out);
    size_t head = 1 + strlen(st->name);
    struct buf addr;
    buf_init(&addr);
    for (size_t i = 0; i < n; i++) {
        buf_reset(&addr);
        buf_puts(&addr, " to='");
        buf_put_xml_escaped(&addr, to[i], strlen(to[i]), 1);
        buf_putc(&addr, '\'');
        emit(c, c->out.data, head);
        emit(c, addr.data, addr.len);
        emit(c, c->out.data + head, c->out.len - head);
    }
    buf_free(&addr);
    return 0;
}

int component_send_raw(struct component *c, const char *data, size_t len)
{
    if (c->state != C_READY)
        return -ENOTCONN;
    emit(c, data, len);
    return 0;
}

void component_close(struct component *c, const char *condition, const char *text)
{
    if (c->state == C_CLOSED || c->state == C_IDLE)
        return;
    if (condition)
        send_stream_error(c, condition, text);
    else
        emit(c, "</stream:stream>", 16);
    c->state = C_CLOSED;
    xstream_stop(c->xs);
}
