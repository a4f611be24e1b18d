/* transport.c — the libuv TCP (and TLS) link to the router: connect, backoff, writes, backpressure. */
#include "compat.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "buf.h"
#include "component.h"
#include "log.h"
#include "mem.h"
#include "tls.h"
#include "transport.h"

enum tstate { T_IDLE, T_WAIT, T_RESOLVING, T_CONNECTING, T_TLS, T_STREAM, T_UP, T_STOPPING };

static const char *const state_names[] = {
    "idle", "waiting", "resolving", "connecting", "TLS handshake", "handshaking", "up",
    "stopping",
};

/* One TCP connection. It outlives its transport's interest in it: once
 * orphaned (t == NULL) it only waits for its close callback to free it. */
struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    struct transport *t;
    size_t inflight;
    char rbuf[64 * 1024];
};

struct wreq {
    uv_write_t req;
    struct conn *c;
    char *data;
};

struct transport {
    uv_loop_t *loop;
    struct transport_cfg cfg;
    struct transport_handler h;
    void *ud;
    struct component *comp;
    enum tstate state;
    struct conn *conn;
    uv_getaddrinfo_t gai;
    bool gai_pending;
    uv_timer_t retry_timer;
    uv_timer_t deadline_timer;
    uv_timer_t keepalive_timer;
    uv_check_t flush_check;
    uv_idle_t flush_idle; /* keeps the loop from sleeping in poll before the check runs */
    struct buf outq;
    struct tls *tls;   /* the current connection's TLS session ([component] tls) */
    struct buf plain;  /* scratch: plaintext decrypted from one read */
    struct buf inq;    /* router bytes read but not yet parsed (reading paused mid-read) */
    struct xml_node **held; /* stanzas parsed while the gate was shut, oldest first */
    size_t nheld, held_head, held_cap;
    uv_timer_t feed_timer;
    bool wrote_since_tick;
    bool reading_paused; /* our output (queued + promised) is over the high-water mark */
    bool pause_warned;   /* this pause was logged as the router's fault */
    bool reading_held;   /* the service asked us to stop taking stanzas */
    bool reading;        /* uv_read_start is in effect on the connection */
    bool tls_write_failed;
    struct backoff retry;
    int pending_closes;
    void (*stop_done)(void *ud);
};

static void drop(struct transport *t, bool refused, const char *fmt, ...) PRINTF(3, 4);
static void begin_attempt(struct transport *t);
static void maybe_finish_stop(struct transport *t);
static void schedule_flush(struct transport *t);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void feed_tls(struct transport *t, const char *data, size_t len);
static void on_feed_timer(uv_timer_t *h);
static void discard_held(struct transport *t);

/* ---- output ---- */

static size_t queued(const struct transport *t)
{
    return t->outq.len + (t->conn ? t->conn->inflight : 0);
}

/* What the output will hold once the service has sent what it already
 * accepted: bytes queued plus the fan-out it promised (a message waiting for
 * its commit). The input gate looks at this, not at the queue alone. */
static size_t committed_output(const struct transport *t)
{
    return queued(t) + (t->h.pending ? t->h.pending(t->ud) : 0);
}

size_t transport_queued(const struct transport *t)
{
    return queued(t);
}

static const char *verify_name(const struct transport *t)
{
    return t->cfg.tls_verify_name && *t->cfg.tls_verify_name ? t->cfg.tls_verify_name
                                                              : t->cfg.host;
}

/* A hold is about stanzas: the handshake of a new connection still goes on. */
static bool want_input(const struct transport *t)
{
    return !t->reading_paused && !(t->reading_held && t->state == T_UP);
}

/* We read from the router unless it does not drain our output or the service
 * holds its intake (e.g. its database is behind): either way the load stays
 * with the router, in its queues, instead of growing ours. Bytes already read
 * are parsed first (feed_timer); reading starts again once none are left. */
static void update_reading(struct transport *t)
{
    struct conn *c = t->conn;
    if (!c || t->state < T_TLS)
        return;
    bool want = want_input(t);
    if (want == t->reading)
        return;
    if (want && (t->inq.len || t->nheld)) {
        uv_timer_start(&t->feed_timer, on_feed_timer, 0, 0);
        return;
    }
    if (want) {
        int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        if (r < 0) {
            log_warn("cannot resume reading from the router: %s", uv_strerror(r));
            return;
        }
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    t->reading = want;
}

/* The input gate. Above half of max_output_queue we stop taking stanzas; below
 * a quarter we take them again. It is checked after every stanza, so the
 * output never exceeds half the bound plus the fan-out of one stanza: sends
 * of accepted work never need to fail (docs/architecture.md, "Backpressure"). */
static void apply_backpressure(struct transport *t)
{
    if (!t->conn || t->state < T_TLS)
        return;
    size_t q = committed_output(t);
    if (!t->reading_paused && q > t->cfg.link.max_output_queue / 2) {
        t->reading_paused = true;
        /* A gate shut by promised fan-out opens within a commit; only a router
         * that leaves our bytes unread is worth a warning. */
        t->pause_warned = queued(t) > t->cfg.link.max_output_queue / 2;
        if (t->pause_warned)
            log_warn("router is not draining our output (%zu bytes queued): stopped reading",
                     queued(t));
        else
            log_debug("output at %zu bytes queued and promised: taking no stanzas", q);
        update_reading(t);
    } else if (t->reading_paused && q < t->cfg.link.max_output_queue / 4) {
        t->reading_paused = false;
        if (t->pause_warned)
            log_info("router drains our output again: reading resumed");
        update_reading(t);
    } else if (t->reading_paused && !t->pause_warned && queued(t) > t->cfg.link.max_output_queue / 2) {
        t->pause_warned = true;
        log_warn("router is not draining our output (%zu bytes queued): stopped reading",
                 queued(t));
    }
}

void transport_output_changed(struct transport *t)
{
    apply_backpressure(t);
}

bool transport_output_full(const struct transport *t)
{
    return t->reading_paused;
}

static void on_written(uv_write_t *req, int status)
{
    struct wreq *w = container_of(req, struct wreq, req);
    struct conn *c = w->c;
    free(w->data);
    free(w);
    struct transport *t = c->t;
    if (!t)
        return; /* orphaned connection: its transport moved on */
    c->inflight = 0;
    if (status < 0) {
        drop(t, false, "write to router failed: %s", uv_strerror(status));
        return;
    }
    apply_backpressure(t);
    if (t->outq.len)
        schedule_flush(t);
}

static void flush(struct transport *t)
{
    struct conn *c = t->conn;
    if (c && t->tls_write_failed) {
        t->tls_write_failed = false;
        drop(t, false, "TLS to router %s:%u failed: %s", t->cfg.host, t->cfg.port,
             tls_error(t->tls));
        return;
    }
    if (!c || c->inflight || !t->outq.len || t->state < T_TLS)
        return;
    struct wreq *w = xmalloc(sizeof *w);
    size_t len = 0;
    w->c = c;
    w->data = buf_steal(&t->outq, &len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    c->inflight = len;
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (r < 0) {
        c->inflight = 0;
        free(w->data);
        free(w);
        drop(t, false, "write to router failed: %s", uv_strerror(r));
    }
}

/* Runs once per loop turn after I/O: everything queued this turn goes out in
 * one write. */
static void on_flush_check(uv_check_t *h)
{
    struct transport *t = container_of(h, struct transport, flush_check);
    uv_check_stop(h);
    uv_idle_stop(&t->flush_idle);
    flush(t);
}

static void on_flush_idle(uv_idle_t *h)
{
    (void)h;
}

/* Output queued from a timer callback (or anything that runs before poll)
 * would otherwise wait in poll for the next I/O or timer: an active idle
 * handle makes that poll return at once, so the check runs this turn. */
static void schedule_flush(struct transport *t)
{
    uv_check_start(&t->flush_check, on_flush_check);
    uv_idle_start(&t->flush_idle, on_flush_idle);
}

static void comp_write(void *ud, const char *data, size_t len)
{
    struct transport *t = ud;
    log_trace("send: %.*s", (int)(len > 4000 ? 4000 : len), data);
    if (!t->tls)
        buf_append(&t->outq, data, len);
    else if (tls_write(t->tls, data, len, &t->outq) != TLS_OK)
        t->tls_write_failed = true; /* dropped by flush: not from inside the stream engine */
    t->wrote_since_tick = true;
    schedule_flush(t);
    apply_backpressure(t);
}

/* ---- connection teardown ---- */

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = container_of((uv_tcp_t *)h, struct conn, tcp);
    free(c);
}

/* Detach and close the current connection. Whatever is queued gets one
 * non-blocking chance to leave (a stream error or </stream:stream>). */
static void close_conn(struct transport *t)
{
    struct conn *c = t->conn;
    if (!c)
        return;
    t->conn = NULL;
    c->t = NULL;
    if (t->tls) {
        tls_close(t->tls, &t->outq);
        tls_free(t->tls);
        t->tls = NULL;
    }
    size_t unsent = t->outq.len + c->inflight;
    if (t->outq.len && !c->inflight) {
        uv_buf_t b = uv_buf_init(t->outq.data, (unsigned)t->outq.len);
        int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        unsent -= w > 0 ? (size_t)w : 0;
    }
    /* Stanzas to clients that were queued here are in the database (a message
     * is sent only after its commit): clients get them back through history and
     * MAM (docs/security.md, "What a link drop loses"). */
    if (unsent > 64 && t->state == T_UP)
        log_warn("%zu bytes queued for the router were not sent before the link closed",
                 unsent);
    buf_reset(&t->outq);
    discard_held(t);
    buf_reset(&t->inq);
    uv_timer_stop(&t->feed_timer);
    t->reading_paused = false;
    t->reading = false;
    t->tls_write_failed = false;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static uint64_t next_delay(struct transport *t, bool refused)
{
    uint64_t cap = refused ? t->cfg.link.reconnect_auth_max_ms : t->cfg.link.reconnect_max_ms;
    if (cap < t->cfg.link.reconnect_min_ms)
        cap = t->cfg.link.reconnect_min_ms;
    /* A refusal is a configuration problem: no point hammering the router. */
    uint64_t base = t->cfg.link.reconnect_min_ms;
    if (refused && base < 1000)
        base = 1000 < cap ? 1000 : cap;
    return backoff_next(&t->retry, base, cap);
}

static void on_retry(uv_timer_t *h)
{
    begin_attempt(container_of(h, struct transport, retry_timer));
}

/* Every disconnect gets a line, but a router that stays down for an hour must
 * not fill the log: a failed retry with the same reason as the last one is
 * logged at debug level, with a summary at most every 30 s. */
static void log_drop(struct transport *t, bool refused, const char *reason, uint64_t delay)
{
    unsigned repeats;
    if (!backoff_should_log(&t->retry, reason, refused, uv_now(t->loop), &repeats)) {
        log_debug("link down: %s; reconnecting in %" PRIu64 " ms", reason, delay);
        return;
    }
    if (repeats)
        log_msg(LOG_WARN, "link down: %s; reconnecting in %" PRIu64 " ms (%u more failures "
                          "like this since the last report)", reason, delay, repeats);
    else
        log_msg(refused ? LOG_ERROR : LOG_WARN, "link down: %s; reconnecting in %" PRIu64 " ms",
                reason, delay);
}

static void drop(struct transport *t, bool refused, const char *fmt, ...)
{
    char reason[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (t->state == T_STOPPING || t->state == T_WAIT || t->state == T_IDLE)
        return;
    bool was_up = t->state == T_UP;
    close_conn(t);
    uv_timer_stop(&t->deadline_timer);
    uv_timer_stop(&t->keepalive_timer);
    uint64_t delay = next_delay(t, refused);
    t->state = T_WAIT;
    log_drop(t, refused, reason, delay);
    uv_timer_start(&t->retry_timer, on_retry, delay, 0);
    if (was_up && t->h.down)
        t->h.down(t->ud);
}

/* ---- stream events ---- */

static void on_keepalive(uv_timer_t *h)
{
    struct transport *t = container_of(h, struct transport, keepalive_timer);
    if (t->state == T_UP && !t->wrote_since_tick && !queued(t))
        comp_write(t, " ", 1);
    t->wrote_since_tick = false;
}

static void comp_ready(void *ud)
{
    struct transport *t = ud;
    t->state = T_UP;
    backoff_reset(&t->retry);
    uv_timer_stop(&t->deadline_timer);
    if (t->cfg.link.keepalive_ms)
        uv_timer_start(&t->keepalive_timer, on_keepalive, t->cfg.link.keepalive_ms,
                       t->cfg.link.keepalive_ms);
    update_reading(t);
    log_info("link up: authenticated to router %s:%u as %s%s", t->cfg.host, t->cfg.port,
             t->cfg.domain, t->tls ? " over TLS" : "");
    if (t->h.up)
        t->h.up(t->ud);
}

static void deliver(struct transport *t, struct xml_node *st)
{
    if (t->h.stanza)
        t->h.stanza(t->ud, st);
    apply_backpressure(t);
}

/* One slice of input may hold several stanzas; those that arrive after the gate
 * shut wait here, parsed, in order, and go first when it opens. */
static void hold_stanza(struct transport *t, struct xml_node *st)
{
    if (t->held_head + t->nheld == t->held_cap) {
        if (t->held_head) {
            memmove(t->held, t->held + t->held_head, t->nheld * sizeof *t->held);
            t->held_head = 0;
        } else {
            t->held_cap = t->held_cap ? 2 * t->held_cap : 16;
            t->held = xrealloc(t->held, t->held_cap * sizeof *t->held);
        }
    }
    t->held[t->held_head + t->nheld++] = xml_ref(st);
}

/* Delivers held stanzas while the gate is open; true when none are left. */
static bool deliver_held(struct transport *t)
{
    struct conn *c = t->conn;
    while (t->nheld && want_input(t) && t->conn == c) {
        struct xml_node *st = t->held[t->held_head++];
        t->nheld--;
        deliver(t, st);
        xml_unref(st);
    }
    if (!t->nheld)
        t->held_head = 0;
    return t->nheld == 0;
}

/* Stanzas read but never handed to the service go with the connection, like
 * the router's bytes still in the socket: neither side took them. */
static void discard_held(struct transport *t)
{
    if (t->nheld)
        log_warn("%zu stanzas read from the router but not yet taken were discarded with the "
                 "link", t->nheld);
    while (t->nheld) {
        xml_unref(t->held[t->held_head++]);
        t->nheld--;
    }
    t->held_head = 0;
}

static void comp_stanza(void *ud, struct xml_node *st)
{
    struct transport *t = ud;
    if (t->nheld || !want_input(t))
        hold_stanza(t, st);
    else
        deliver(t, st);
}

static void comp_rejected(void *ud, struct xml_node *st, const char *why)
{
    struct transport *t = ud;
    if (t->h.rejected)
        t->h.rejected(t->ud, st, why);
}

static void comp_closed(void *ud, enum component_fail kind, const char *reason)
{
    drop(ud, kind == COMPONENT_FAIL_REFUSED, "%s", reason);
}

static const struct component_handler comp_handler = {
    .write = comp_write, .ready = comp_ready, .stanza = comp_stanza, .closed = comp_closed,
    .rejected = comp_rejected,
};

/* ---- input ---- */

/* Router bytes reach the stream engine a slice at a time. When a slice's
 * stanzas fill our output (a groupchat fans out to every occupant) or make the
 * service hold its intake, the rest of the read waits in inq: one 64 KiB read
 * cannot overshoot the output bound by its whole fan-out. */
enum { FEED_SLICE = 4096 };

static void feed_plain(struct transport *t, const char *data, size_t len)
{
    struct conn *c = t->conn;
    while (len && t->conn == c) {
        if (!want_input(t)) {
            buf_append(&t->inq, data, len);
            return;
        }
        size_t n = len < FEED_SLICE ? len : FEED_SLICE;
        log_trace("recv: %.*s", (int)n, data);
        (void)component_feed(t->comp, data, n);
        data += n;
        len -= n;
    }
}

static void on_feed_timer(uv_timer_t *h)
{
    struct transport *t = container_of(h, struct transport, feed_timer);
    if (!t->conn || !deliver_held(t) || !t->inq.len) {
        update_reading(t);
        return;
    }
    size_t len = 0;
    char *data = buf_steal(&t->inq, &len);
    feed_plain(t, data, len);
    free(data);
    update_reading(t);
}

/* ---- connecting ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct conn *c = container_of((uv_tcp_t *)h, struct conn, tcp);
    *b = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = container_of((uv_tcp_t *)s, struct conn, tcp);
    struct transport *t = c->t;
    if (!t || n == 0)
        return;
    if (n == UV_EOF) {
        if (t->state == T_TLS)
            drop(t, false, "router %s:%u closed the connection during the TLS handshake (does "
                 "its component port speak TLS?)", t->cfg.host, t->cfg.port);
        else
            drop(t, false, "router closed the connection");
        return;
    }
    if (n < 0) {
        drop(t, false, "read from router failed: %s", uv_strerror((int)n));
        return;
    }
    if (t->tls)
        feed_tls(t, b->base, (size_t)n);
    else
        feed_plain(t, b->base, (size_t)n);
}

/* A certificate that fails verification is a configuration problem (CA, name):
 * it is logged as an error every time and retried on the long backoff, like a
 * refused secret. */
static void tls_failed(struct transport *t, enum tls_status st)
{
    bool handshaking = t->state == T_TLS;
    if (st == TLS_REJECTED)
        drop(t, true, "TLS handshake with router %s:%u failed: %s", t->cfg.host, t->cfg.port,
             tls_error(t->tls));
    else if (st == TLS_CLOSED)
        drop(t, false, "router closed the TLS session");
    else
        drop(t, false, "TLS %s router %s:%u failed: %s%s",
             handshaking ? "handshake with" : "session with", t->cfg.host, t->cfg.port,
             tls_error(t->tls),
             handshaking ? " (does its component port speak TLS? see [component] tls)" : "");
}

static void tls_up(struct transport *t)
{
    log_info("TLS established with router %s:%u (%s), certificate verified for %s",
             t->cfg.host, t->cfg.port, tls_describe(t->tls), verify_name(t));
    t->state = T_STREAM;
    component_start(t->comp);
}

/* Ciphertext in: the handshake advances, plaintext goes to the stream engine. */
static void feed_tls(struct transport *t, const char *data, size_t len)
{
    struct conn *c = t->conn;
    size_t out_before = t->outq.len;
    buf_reset(&t->plain);
    enum tls_status st = tls_feed(t->tls, data, len, &t->plain, &t->outq);
    if (t->outq.len != out_before)
        schedule_flush(t);
    if (st == TLS_FAILED || st == TLS_REJECTED) {
        tls_failed(t, st);
        return;
    }
    if (st == TLS_ESTABLISHED)
        tls_up(t);
    if (t->plain.len)
        feed_plain(t, t->plain.data, t->plain.len);
    /* The stream engine may have dropped the connection meanwhile. */
    if (st == TLS_CLOSED && t->conn == c)
        tls_failed(t, st);
}

static void start_tls(struct transport *t)
{
    char err[512];
    struct tls_cfg tc = { .ca_file = t->cfg.tls_ca, .verify_name = verify_name(t) };
    t->tls = tls_new(&tc, err, sizeof err);
    if (!t->tls) {
        drop(t, true, "TLS to router %s:%u: %s", t->cfg.host, t->cfg.port, err);
        return;
    }
    t->state = T_TLS;
    update_reading(t);
    enum tls_status st = tls_start(t->tls, &t->outq);
    if (st == TLS_FAILED || st == TLS_REJECTED) {
        tls_failed(t, st);
        return;
    }
    schedule_flush(t);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct conn *c = container_of(req, struct conn, connect_req);
    struct transport *t = c->t;
    if (!t)
        return;
    if (status < 0) {
        drop(t, false, "cannot connect to router %s:%u: %s", t->cfg.host, t->cfg.port,
             uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 60);
    if (t->cfg.tls) {
        start_tls(t);
        return;
    }
    t->state = T_STREAM;
    update_reading(t);
    component_start(t->comp);
}

static void connect_to(struct transport *t, const struct sockaddr *addr)
{
    struct conn *c = xcalloc(1, sizeof *c);
    c->t = t;
    uv_tcp_init(t->loop, &c->tcp);
    t->conn = c;
    t->state = T_CONNECTING;
    int r = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connected);
    if (r < 0)
        drop(t, false, "cannot connect to router %s:%u: %s", t->cfg.host, t->cfg.port,
             uv_strerror(r));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct transport *t = container_of(req, struct transport, gai);
    t->gai_pending = false;
    if (t->state == T_STOPPING) {
        uv_freeaddrinfo(res);
        maybe_finish_stop(t);
        return;
    }
    if (t->state != T_RESOLVING) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status < 0 || !res) {
        drop(t, false, "cannot resolve router host %s: %s", t->cfg.host, uv_strerror(status));
    } else {
        connect_to(t, res->ai_addr);
    }
    uv_freeaddrinfo(res);
}

static void on_deadline(uv_timer_t *h)
{
    struct transport *t = container_of(h, struct transport, deadline_timer);
    drop(t, false, "router %s:%u did not complete the handshake within %" PRIu64 " ms (%s)",
         t->cfg.host, t->cfg.port, t->cfg.link.connect_timeout_ms, state_names[t->state]);
}

static void begin_attempt(struct transport *t)
{
    if (t->gai_pending) {
        /* A previous lookup is still running in the thread pool; try later. */
        uv_timer_start(&t->retry_timer, on_retry, 100, 0);
        return;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", t->cfg.port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    t->state = T_RESOLVING;
    uv_timer_start(&t->deadline_timer, on_deadline, t->cfg.link.connect_timeout_ms, 0);
    int r = uv_getaddrinfo(t->loop, &t->gai, on_resolved, t->cfg.host, port, &hints);
    if (r < 0) {
        drop(t, false, "cannot resolve router host %s: %s", t->cfg.host, uv_strerror(r));
        return;
    }
    t->gai_pending = true;
}

/* ---- public ---- */

static void copy_cfg(struct transport_cfg *dst, const struct transport_cfg *src)
{
    *dst = *src;
    dst->domain = xstrdup(src->domain);
    dst->secret = xstrdup(src->secret);
    dst->host = xstrdup(src->host);
    dst->tls_ca = xstrdup(src->tls_ca ? src->tls_ca : "");
    dst->tls_verify_name = xstrdup(src->tls_verify_name ? src->tls_verify_name : "");
}

struct transport *transport_new(uv_loop_t *loop, const struct transport_cfg *cfg,
                                const struct transport_handler *h, void *ud)
{
    struct transport *t = xcalloc(1, sizeof *t);
    t->loop = loop;
    copy_cfg(&t->cfg, cfg);
    t->h = *h;
    t->ud = ud;
    buf_init(&t->outq);
    buf_init(&t->plain);
    buf_init(&t->inq);
    struct xstream_limits lim = { .max_stanza_bytes = (size_t)cfg->link.max_stanza_size };
    t->comp = component_new(cfg->domain, cfg->secret, &lim, &comp_handler, t);
    uv_timer_init(loop, &t->retry_timer);
    uv_timer_init(loop, &t->deadline_timer);
    uv_timer_init(loop, &t->keepalive_timer);
    uv_check_init(loop, &t->flush_check);
    uv_idle_init(loop, &t->flush_idle);
    uv_timer_init(loop, &t->feed_timer);
    return t;
}

void transport_start(struct transport *t)
{
    if (t->state == T_IDLE)
        begin_attempt(t);
}

bool transport_is_up(const struct transport *t)
{
    return t->state == T_UP;
}

void transport_hold_input(struct transport *t, bool hold)
{
    if (t->reading_held == hold)
        return;
    t->reading_held = hold;
    log_debug("reading from the router %s by the service", hold ? "held" : "released");
    update_reading(t);
}

/* Sends never refuse for want of room: what reaches them is the output of
 * stanzas the input gate let in, so the queue is bounded by the gate, not
 * here. A failure here would drop a copy of something already accepted. */
int transport_send(struct transport *t, const struct xml_node *st)
{
    if (t->state != T_UP)
        return -ENOTCONN;
    return component_send(t->comp, st);
}

int transport_send_each(struct transport *t, const struct xml_node *st, const char *const *to,
                        size_t n)
{
    if (t->state != T_UP)
        return -ENOTCONN;
    return component_send_each(t->comp, st, to, n);
}

int transport_send_raw(struct transport *t, const char *data, size_t len)
{
    if (t->state != T_UP)
        return -ENOTCONN;
    return component_send_raw(t->comp, data, len);
}

void transport_reconfigure(struct transport *t, const struct transport_cfg *cfg)
{
    /* The parser's stanza limit was fixed when the stream was made. */
    uint64_t max_stanza = t->cfg.link.max_stanza_size;
    t->cfg.link = cfg->link;
    t->cfg.link.max_stanza_size = max_stanza;
    if (t->state == T_UP) {
        uv_timer_stop(&t->keepalive_timer);
        if (t->cfg.link.keepalive_ms)
            uv_timer_start(&t->keepalive_timer, on_keepalive, t->cfg.link.keepalive_ms,
                           t->cfg.link.keepalive_ms);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    struct transport *t = h->data;
    t->pending_closes--;
    maybe_finish_stop(t);
}

static void maybe_finish_stop(struct transport *t)
{
    if (t->pending_closes > 0 || t->gai_pending)
        return;
    void (*done)(void *) = t->stop_done;
    void *ud = t->ud;
    component_free(t->comp);
    buf_free(&t->outq);
    buf_free(&t->plain);
    buf_free(&t->inq);
    free(t->held);
    free((char *)t->cfg.domain);
    free((char *)t->cfg.tls_ca);
    free((char *)t->cfg.tls_verify_name);
    memset((char *)t->cfg.secret, 0, strlen(t->cfg.secret));
    free((char *)t->cfg.secret);
    free((char *)t->cfg.host);
    free(t);
    if (done)
        done(ud);
}

void transport_stop(struct transport *t, void (*done)(void *ud))
{
    if (t->state == T_STOPPING)
        return;
    bool was_up = t->state == T_UP;
    if (t->conn && t->state >= T_STREAM)
        component_close(t->comp, NULL, NULL);
    t->state = T_STOPPING;
    t->stop_done = done;
    close_conn(t);
    if (was_up)
        log_info("link closed: shutting down");
    uv_handle_t *hs[] = {
        (uv_handle_t *)&t->retry_timer, (uv_handle_t *)&t->deadline_timer,
        (uv_handle_t *)&t->keepalive_timer, (uv_handle_t *)&t->flush_check,
        (uv_handle_t *)&t->feed_timer, (uv_handle_t *)&t->flush_idle,
    };
    for (size_t i = 0; i < ARRAY_SIZE(hs); i++) {
        hs[i]->data = t;
        t->pending_closes++;
        uv_close(hs[i], on_handle_closed);
    }
    if (was_up && t->h.down)
        t->h.down(t->ud);
}
