/* xstream.h — XMPP stream reader over expat, free of I/O.
 *
 * Bytes go in with xstream_feed(); events come out through the handler: the
 * stream header, each complete stanza (a tree built at depth 1), the stream's
 * end, or one error carrying an RFC 6120 stream-error condition. Restricted XML
 * (RFC 6120 §11.1: DTDs, entities, comments, processing instructions) and limit
 * violations are errors. After an error the stream is dead until xstream_reset.
 *
 * Handlers may call xstream_stop() but must not free the xstream. */
#ifndef CONFAB_XSTREAM_H
#define CONFAB_XSTREAM_H

#include <stddef.h>

#include "xml.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_XMPP_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"

struct xstream_limits {
    size_t max_stanza_bytes; /* 0 = 512 KiB */
    unsigned max_depth;      /* 0 = 32; counts from the stream element (per stanza) */
    unsigned max_attrs;      /* 0 = 64 per element (per stanza) */
};

struct xstream_handler {
    /* Stream header: element "stream" in NS_STREAMS with its attributes (borrowed). */
    void (*open)(void *ud, const struct xml_node *header);
    /* A complete stanza; borrowed for the call, xml_ref() to keep it. */
    void (*stanza)(void *ud, struct xml_node *stanza);
    /* </stream:stream> from the peer. */
    void (*close)(void *ud);
    /* Fatal: condition is an RFC 6120 stream-error name, text explains. */
    void (*error)(void *ud, const char *condition, const char *text);
    /* A stanza that broke the depth or attribute limit: skipped, the stream
     * goes on. st holds only its top element with from/to/id/type. May be NULL. */
    void (*rejected)(void *ud, struct xml_node *st, const char *why);
};

struct xstream;

struct xstream *xstream_new(const struct xstream_limits *lim, const struct xstream_handler *h,
                            void *ud);
void xstream_free(struct xstream *xs);
/* Parse bytes. Returns 0, or -EPROTO once the stream has failed (the error
 * handler ran exactly once), or -ECANCELED after xstream_stop(). */
int xstream_feed(struct xstream *xs, const char *data, size_t len);
/* Stop delivering events (safe inside a handler). */
void xstream_stop(struct xstream *xs);
/* Forget everything and expect a new stream header (for a new connection). */
void xstream_reset(struct xstream *xs);
/* One stanza we serialised ourselves (a stored message, a room's vCard), back
 * into a tree: text as written in the stream namespace ns. NULL when it does
 * not parse (a damaged row). */
struct xml_node *xstream_parse_stanza(const char *ns, const char *text, size_t len);
/* The default namespace the peer declared on its stream header ("" if none). */
const char *xstream_content_ns(const struct xstream *xs);

#endif
