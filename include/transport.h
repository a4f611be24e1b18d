/* transport.h — a daemon's link to its router over libuv TCP.
 *
 * Owns the socket and the XEP-0114 stream (component.h) on it. Connects,
 * authenticates, and when the link drops for any reason logs one line with the
 * reason and reconnects after a capped, jittered exponential backoff. Output is
 * coalesced into one write per loop turn.
 *
 * Backpressure is an input gate, checked after every stanza: while the output
 * queued plus the output the service has promised (handler.pending: fan-out
 * of stanzas it accepted and will send later) is above half of
 * max_output_queue, no stanza is handed to the service and reading stops; it
 * resumes below a quarter. Stanzas already parsed from the last read wait,
 * in order. So the queue stays under max_output_queue / 2 plus one stanza's
 * fan-out, and sends never fail for want of room: a copy of an accepted
 * stanza is never dropped while the link is up. The service can also hold
 * reading (transport_hold_input), e.g. while its database is behind.
 *
 * With cfg.tls the link is TLS from the first byte (ejabberd's `tls: true`
 * listeners), through tls.h on memory BIOs: the certificate must chain to
 * tls_ca (or the system store) and carry tls_verify_name (default: host). */
#ifndef CONFAB_TRANSPORT_H
#define CONFAB_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cfg.h"
#include "xml.h"

struct transport_cfg {
    const char *domain;
    const char *secret;
    const char *host;
    uint16_t port;
    struct cfg_link link;
    bool tls;
    const char *tls_ca;          /* NULL/"" = the system's trusted CAs */
    const char *tls_verify_name; /* NULL/"" = host */
};

struct transport_handler {
    void (*up)(void *ud);
    void (*down)(void *ud);
    /* Borrowed for the call. */
    void (*stanza)(void *ud, struct xml_node *st);
    /* A stanza the parser refused (limits); the link stays up. May be NULL. */
    void (*rejected)(void *ud, struct xml_node *st, const char *why);
    /* Bytes the service will send for stanzas it already took (e.g. fan-out
     * waiting for a commit); counted as queued by the input gate. May be NULL. */
    size_t (*pending)(void *ud);
};

struct transport;

/* Strings in cfg are copied. Nothing happens until transport_start. */
struct transport *transport_new(uv_loop_t *loop, const struct transport_cfg *cfg,
                                const struct transport_handler *h, void *ud);
void transport_start(struct transport *t);
/* Queue one stanza: 0, or -ENOTCONN when the link is not up. Never refused for
 * want of room (the input gate bounds the queue). */
int transport_send(struct transport *t, const struct xml_node *st);
int transport_send_each(struct transport *t, const struct xml_node *st, const char *const *to,
                        size_t n);
int transport_send_raw(struct transport *t, const char *data, size_t len);
bool transport_is_up(const struct transport *t);
/* Stop (true) or resume (false) reading from the router on the service's
 * behalf; independent of the output backpressure, and kept across reconnects. */
void transport_hold_input(struct transport *t, bool hold);
/* The service's pending output shrank without being sent (e.g. a commit
 * failed): re-check the input gate. */
void transport_output_changed(struct transport *t);
/* The input gate is shut for output (not for a service hold). */
bool transport_output_full(const struct transport *t);
/* Bytes waiting to be written (queued + in flight). */
size_t transport_queued(const struct transport *t);
/* Change what may change at run time (keepalive, backoff, queue bound). */
void transport_reconfigure(struct transport *t, const struct transport_cfg *cfg);
/* Close the stream politely and release everything; done(ud) runs when the
 * last handle has closed, after which t is freed. */
void transport_stop(struct transport *t, void (*done)(void *ud));

#endif
