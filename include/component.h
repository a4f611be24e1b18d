/* component.h — the XEP-0114 (jabber:component:accept) stream, free of I/O.
 *
 * The owner feeds the router's bytes in with component_feed() and gets back
 * bytes to write (handler.write), readiness after a successful handshake,
 * stanzas, and one `closed` call with the reason when the stream is over, after
 * which the owner drops the connection. component_start() begins each new
 * connection. */
#ifndef CONFAB_COMPONENT_H
#define CONFAB_COMPONENT_H

#include <stdbool.h>
#include <stddef.h>

#include "xml.h"
#include "xstream.h"

enum component_fail {
    COMPONENT_FAIL_CLOSED,   /* the router ended the stream */
    COMPONENT_FAIL_PROTOCOL, /* bad XML or a stream error from either side */
    COMPONENT_FAIL_REFUSED,  /* the router refused us: bad secret, domain conflict */
};

struct component_handler {
    void (*write)(void *ud, const char *data, size_t len);
    void (*ready)(void *ud);
    /* Borrowed for the call. Always message, presence or iq in NS_COMPONENT. */
    void (*stanza)(void *ud, struct xml_node *st);
    void (*closed)(void *ud, enum component_fail kind, const char *reason);
    /* A stanza that broke a per-stanza parser limit (only its top element,
     * with from/to/id/type): the stream goes on; answer it. May be NULL. */
    void (*rejected)(void *ud, struct xml_node *st, const char *why);
};

struct component;

/* domain and secret are copied. */
struct component *component_new(const char *domain, const char *secret,
                                 const struct xstream_limits *lim,
                                 const struct component_handler *h, void *ud);
void component_free(struct component *c);
/* Begin a stream on a fresh connection: resets state, writes our header. */
void component_start(struct component *c);
/* Returns 0, or a negative code once the stream has closed. */
int component_feed(struct component *c, const char *data, size_t len);
bool component_is_ready(const struct component *c);
/* Serialise and write one stanza. -ENOTCONN unless ready. */
int component_send(struct component *c, const struct xml_node *st);
/* One stanza to many: st has no 'to'; it is serialised once and written once
 * per recipient with only the 'to' attribute differing. */
int component_send_each(struct component *c, const struct xml_node *st, const char *const *to,
                        size_t n);
/* Bytes that are already one complete, well-formed stanza. */
int component_send_raw(struct component *c, const char *data, size_t len);
/* End the stream from our side: a stream error when condition is not NULL,
 * then </stream:stream>. No `closed` callback follows: the caller is leaving. */
void component_close(struct component *c, const char *condition, const char *text);
/* hex(SHA-1(stream_id || secret)), lowercase, into out[41]. */
void component_handshake_digest(const char *stream_id, const char *secret, char out[41]);

#endif
