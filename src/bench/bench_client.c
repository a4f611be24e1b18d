/* confab-bench --mode client: K real XMPP client connections through a real
 * router (Prosody, ejabberd) against any MUC service.
 *
 * The parent forks W workers; worker w owns users u with u mod W == w, each a
 * libstrophe connection in the worker's one xmpp_ctx (libstrophe's loop uses
 * select(), so a worker keeps well under FD_SETSIZE connections). User u
 * (JID <prefix><u+1>@<domain>) joins room u mod M; the first user of each room
 * creates it (instant room). The parent steps all workers through the same
 * phases over pipes — connect, owners join, others join, chat — and gives them
 * one start time t0 on CLOCK_MONOTONIC, which is system-wide, so every worker
 * computes the same open-loop schedule (message k due at t0 + k/rate from
 * sender k mod S, sequence k div S + 1) and sends only its own senders' part.
 * Latency runs from the scheduled time carried in the body, as in router mode;
 * receipts go through the same bitmap accounting (acct_mark) and histograms,
 * and each worker sends its struct cres back for the parent to merge. */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_client.h"
#include "mem.h"

#define SEC 1000000000LL
#define MS 1000000LL
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"

static struct copts C;

/* ------------------------------------------------------------ shared model */

static unsigned N, M, S, W;
static uint64_t k_total;
static uint32_t *planned;   /* [S] messages each sender will send */
static uint64_t *bit_off;   /* [S] offset of the sender's seqs in its room's rows */
static uint32_t *slocal;    /* [S] index among its room's senders */
static uint64_t *row_bits;  /* [M] */
static uint32_t *nsend;     /* [M] senders per room */

static void model_init(void)
{
    M = C.rooms;
    N = C.users ? C.users : C.rooms * C.occupants;
    S = C.senders && C.senders < N ? C.senders : N;
    if (!M || N < M) {
        fprintf(stderr, "confab-bench: need at least one user per room (%u users, %u rooms)\n",
                N, M);
        exit(2);
    }
    /* select() in libstrophe: stay far below FD_SETSIZE per worker */
    unsigned need = (N + 499) / 500;
    W = C.workers ? C.workers : 2;
    if (W < need)
        W = need;
    if (W > N)
        W = N;
    k_total = C.rate > 0 ? (uint64_t)llround(C.rate * (C.warmup + C.duration)) : 0;
    planned = xcalloc(S, sizeof *planned);
    bit_off = xcalloc(S, sizeof *bit_off);
    slocal = xcalloc(S, sizeof *slocal);
    row_bits = xcalloc(M, sizeof *row_bits);
    nsend = xcalloc(M, sizeof *nsend);
    for (unsigned s = 0; s < S; s++) {
        planned[s] = k_total > s ? (uint32_t)((k_total - s + S - 1) / S) : 0;
        bit_off[s] = row_bits[s % M];
        row_bits[s % M] += planned[s];
        slocal[s] = nsend[s % M]++;
    }
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    if (C.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("confab-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------------ worker */

enum cstate { CS_NEW, CS_CONNECTING, CS_UP, CS_JOINING, CS_CONFIG, CS_JOINED, CS_FAILED, CS_GONE };

struct conn {
    xmpp_conn_t *x;
    unsigned u;
    uint8_t state;
    bool was_up;
    int64_t t_join;
    uint64_t *row;   /* receipts: bits over the room's senders' plans */
    uint32_t *last;  /* [nsend of room] highest seq seen per sender */
};

static struct worker {
    unsigned w, n;          /* index, connections */
    int up_fd, down_fd;
    xmpp_ctx_t *ctx;
    struct conn *c;
    unsigned connecting, up_done, join_inflight, join_next, joins_done;
    char stage;             /* 'c'onnect, 'o'wners, 'A' sent, 'j'oin, 'C' sent, 'x' chat */
    int64_t t0, win_start, win_end, send_end, last_rx;
    uint64_t k_next;
    int64_t next_sched;
    double gap_ns;
    unsigned rng;
    struct cres r;
    struct cres_arrays a;
    char *pad;
} Wk;

static struct conn *conn_of(unsigned u)
{
    return &Wk.c[u / W];
}

static void room_jid(char *out, size_t n, unsigned room)
{
    snprintf(out, n, "%s%u@%s", C.room_prefix, room, C.muc);
}

static void send_join(struct conn *c, int64_t now)
{
    char room[256];
    room_jid(room, sizeof room, c->u % M);
    c->state = CS_JOINING;
    c->t_join = now;
    Wk.join_inflight++;
    xmpp_send_raw_string(c->x,
                         "<presence to='%s/n%u'><x xmlns='" NS_MUC "'>"
                         "<history maxstanzas='0'/></x></presence>",
                         room, c->u + 1);
}

static void join_finished(struct conn *c, bool ok, int64_t now)
{
    if (c->state != CS_JOINING && c->state != CS_CONFIG)
        return;
    Wk.join_inflight--;
    Wk.joins_done++;
    if (ok) {
        c->state = CS_JOINED;
        Wk.r.joins_ok++;
        Wk.a.joined[c->u % M]++;
        hist_add(&Wk.r.lat_join, (uint64_t)(now - c->t_join));
    } else {
        c->state = CS_FAILED;
        Wk.r.joins_failed++;
    }
}

/* The first refusal of each kind per worker goes to stderr: enough to see why
 * a run failed without flooding the log under load. */
static void log_refusal(const char *what, xmpp_stanza_t *st)
{
    static unsigned joins, configs;
    unsigned *n = !strcmp(what, "join") ? &joins : &configs;
    if ((*n)++)
        return;
    char *text = NULL;
    size_t len = 0;
    if (xmpp_stanza_to_text(st, &text, &len) == XMPP_EOK) {
        fprintf(stderr, "confab-bench: worker %u: %s refused: %.*s\n", Wk.w, what,
                (int)(len > 600 ? 600 : len), text);
        xmpp_free(Wk.ctx, text);
    }
}

static bool has_status(xmpp_stanza_t *x, const char *code)
{
    for (xmpp_stanza_t *s = xmpp_stanza_get_children(x); s; s = xmpp_stanza_get_next(s)) {
        const char *n = xmpp_stanza_get_name(s);
        const char *v = xmpp_stanza_get_attribute(s, "code");
        if (n && !strcmp(n, "status") && v && !strcmp(v, code))
            return true;
    }
    return false;
}

static int on_presence(xmpp_conn_t *x, xmpp_stanza_t *st, void *ud)
{
    (void)x;
    struct conn *c = ud;
    int64_t now = bench_now_ns();
    const char *type = xmpp_stanza_get_type(st);
    const char *from = xmpp_stanza_get_from(st);
    char want[300];
    room_jid(want, sizeof want, c->u % M);
    size_t wl = strlen(want);
    if (!from || strncmp(from, want, wl) || from[wl] != '/')
        return 1;
    if (type && !strcmp(type, "error")) {
        if (c->state == CS_JOINING) {
            log_refusal("join", st);
            join_finished(c, false, now);
        }
        return 1;
    }
    xmpp_stanza_t *mx = xmpp_stanza_get_child_by_ns(st, NS_MUC_USER);
    if (!mx || !has_status(mx, "110") || c->state != CS_JOINING)
        return 1;
    if (has_status(mx, "201")) {
        /* A new room stays locked until its owner accepts the default
         * configuration (XEP-0045 §10.1.2, instant room). */
        c->state = CS_CONFIG;
        xmpp_send_raw_string(c->x,
                             "<iq type='set' id='cfg' to='%s'><query xmlns='" NS_MUC_OWNER
                             "'><x xmlns='jabber:x:data' type='submit'/></query></iq>",
                             want);
        return 1;
    }
    join_finished(c, true, now);
    return 1;
}

static int on_iq(xmpp_conn_t *x, xmpp_stanza_t *st, void *ud)
{
    (void)x;
    struct conn *c = ud;
    const char *id = xmpp_stanza_get_id(st);
    const char *type = xmpp_stanza_get_type(st);
    if (c->state == CS_CONFIG && id && !strcmp(id, "cfg")) {
        bool ok = type && !strcmp(type, "result");
        if (!ok)
            log_refusal("room configuration", st);
        join_finished(c, ok, bench_now_ns());
    }
    return 1;
}

/* Body "cb <sender> <seq> <scheduled-ns> ..." as router mode writes it. */
static bool parse_body(const char *b, unsigned *s, uint64_t *seq, int64_t *sched)
{
    unsigned long long a, q, t;
    if (strncmp(b, "cb ", 3) || sscanf(b + 3, "%llu %llu %llu", &a, &q, &t) != 3)
        return false;
    *s = (unsigned)a;
    *seq = q;
    *sched = (int64_t)t;
    return true;
}

static void on_copy(struct conn *c, unsigned s, uint64_t seq, int64_t sched, int64_t now)
{
    struct cres *r = &Wk.r;
    if (s >= S || s % M != c->u % M || seq == 0 || seq > planned[s] || !c->row) {
        r->misrouted++;
        return;
    }
    r->deliveries++;
    Wk.last_rx = now;
    if (now >= Wk.win_start && now < Wk.win_end)
        r->deliveries_win++;
    enum acct_mark m = acct_mark(c->row, bit_off[s] + seq - 1, &c->last[slocal[s]], seq);
    if (m == ACCT_DUP) {
        r->dup++;
        return;
    }
    r->unique++;
    if (m == ACCT_REORDERED)
        r->reordered++;
    uint64_t lat = now > sched ? (uint64_t)(now - sched) : 0;
    bool measured = sched >= Wk.win_start && sched < Wk.win_end;
    if (s == c->u)
        r->reflected++;
    else
        r->fanout++;
    if (measured) {
        hist_add(s == c->u ? &r->lat_reflect : &r->lat_fanout, lat);
        hist_add(&r->lat_all, lat);
    }
}

static int on_message(xmpp_conn_t *x, xmpp_stanza_t *st, void *ud)
{
    (void)x;
    struct conn *c = ud;
    int64_t now = bench_now_ns();
    const char *type = xmpp_stanza_get_type(st);
    xmpp_stanza_t *body = xmpp_stanza_get_child_by_name(st, "body");
    char *text = body ? xmpp_stanza_get_text(body) : NULL;
    unsigned s;
    uint64_t seq;
    int64_t sched;
    bool ours = text && parse_body(text, &s, &seq, &sched);
    if (type && !strcmp(type, "error")) {
        if (ours && s == c->u && s < S)
            Wk.a.rejected[s]++, Wk.r.rejected++;
        else
            Wk.r.errors_other++;
    } else if (type && !strcmp(type, "groupchat") && ours) {
        if (xmpp_stanza_get_child_by_name(st, "delay"))
            Wk.r.history++;
        else
            on_copy(c, s, seq, sched, now);
    }
    if (text)
        xmpp_free(Wk.ctx, text);
    return 1;
}

static void on_conn(xmpp_conn_t *x, xmpp_conn_event_t ev, int err, xmpp_stream_error_t *se,
                    void *ud)
{
    (void)x;
    (void)err;
    (void)se;
    struct conn *c = ud;
    if (ev == XMPP_CONN_CONNECT) {
        c->state = CS_UP;
        c->was_up = true;
        Wk.connecting--;
        Wk.up_done++;
        Wk.r.conns++;
        return;
    }
    /* disconnect or failure */
    if (c->state == CS_CONNECTING) {
        Wk.connecting--;
        Wk.up_done++;
        Wk.r.conn_failed++;
    } else if (c->state == CS_JOINING || c->state == CS_CONFIG) {
        join_finished(c, false, bench_now_ns());
    }
    if (c->was_up && c->state != CS_GONE)
        Wk.r.disconnects++;
    c->state = CS_GONE;
}

static void start_connect(struct conn *c)
{
    char jid[256];
    snprintf(jid, sizeof jid, "%s%u@%s/b", C.user_prefix, c->u + 1, C.domain);
    c->x = xmpp_conn_new(Wk.ctx);
    xmpp_conn_set_flags(c->x, XMPP_CONN_FLAG_DISABLE_TLS | XMPP_CONN_FLAG_DISABLE_SM);
    xmpp_conn_set_jid(c->x, jid);
    xmpp_conn_set_pass(c->x, C.password);
    xmpp_handler_add(c->x, on_message, NULL, "message", NULL, c);
    xmpp_handler_add(c->x, on_presence, NULL, "presence", NULL, c);
    xmpp_handler_add(c->x, on_iq, NULL, "iq", NULL, c);
    c->state = CS_CONNECTING;
    Wk.connecting++;
    if (xmpp_connect_client(c->x, C.server_host, C.server_port, on_conn, c) != XMPP_EOK) {
        c->state = CS_GONE;
        Wk.connecting--;
        Wk.up_done++;
        Wk.r.conn_failed++;
    }
}

static void say(char ch)
{
    if (cres_write_all(Wk.up_fd, &ch, 1) < 0)
        _exit(3);
}

/* Commands from the parent: 'B' owners are in, join the rest; 'T' + t0. */
static void read_control(void)
{
    char ch;
    ssize_t r = read(Wk.down_fd, &ch, 1);
    if (r == 0)
        _exit(4);   /* parent gone */
    if (r < 0)
        return;
    if (ch == 'B' && Wk.stage == 'A') {
        Wk.stage = 'j';
        Wk.join_next = 0;
    } else if (ch == 'T') {
        int fl = fcntl(Wk.down_fd, F_GETFL);
        fcntl(Wk.down_fd, F_SETFL, fl & ~O_NONBLOCK);
        if (cres_read_all(Wk.down_fd, &Wk.t0, sizeof Wk.t0) < 0)
            _exit(4);
        fcntl(Wk.down_fd, F_SETFL, fl);
        Wk.win_start = Wk.t0 + (int64_t)(C.warmup * SEC);
        Wk.win_end = Wk.win_start + (int64_t)(C.duration * SEC);
        Wk.send_end = Wk.win_end;
        Wk.next_sched = Wk.t0;
        Wk.last_rx = Wk.t0;
        Wk.stage = 'x';
    }
}

static void send_due(int64_t now)
{
    while (Wk.k_next < k_total && Wk.next_sched <= now) {
        uint64_t k = Wk.k_next++;
        unsigned s = (unsigned)(k % S);
        int64_t sched = Wk.next_sched;
        Wk.next_sched = C.poisson
                            ? sched + (int64_t)(-log(1.0 - rand_r(&Wk.rng) / (RAND_MAX + 1.0)) *
                                                Wk.gap_ns)
                            : Wk.t0 + (int64_t)((double)Wk.k_next * Wk.gap_ns);
        if (s % W != Wk.w)
            continue;
        struct conn *c = conn_of(s);
        if (c->state != CS_JOINED)
            continue;
        char room[256];
        room_jid(room, sizeof room, s % M);
        uint64_t seq = k / S + 1;
        char head[96];
        int hl = snprintf(head, sizeof head, "cb %u %" PRIu64 " %" PRId64 " ", s, seq, sched);
        int pad = (int)C.body_bytes > hl ? (int)C.body_bytes - hl : 0;
        xmpp_send_raw_string(c->x,
                             "<message to='%s' type='groupchat' id='m%" PRIu64
                             "'><body>%s%.*s</body></message>",
                             room, k, head, pad, Wk.pad);
        Wk.r.sent++;
        Wk.a.sent[s]++;
        int64_t t = bench_now_ns();
        hist_add(&Wk.r.lag, (uint64_t)(t > sched ? t - sched : 0));
    }
}

/* Stanzas our connections have not written to their sockets yet. */
static unsigned long queued_messages(void)
{
    unsigned long n = 0;
    for (unsigned i = 0; i < Wk.n; i++)
        if (Wk.c[i].x && Wk.c[i].state == CS_JOINED)
            n += (unsigned long)xmpp_conn_send_queue_len(Wk.c[i].x);
    return n;
}

/* One step of the phase machine; returns false when the worker is done. */
static bool worker_step(int64_t now)
{
    switch (Wk.stage) {
    case 'c': {
        static unsigned next;
        while (next < Wk.n && Wk.connecting < C.window)
            start_connect(&Wk.c[next++]);
        if (Wk.up_done == Wk.n) {
            for (unsigned i = 0; i < Wk.n; i++)
                if (Wk.c[i].u < M && Wk.c[i].state == CS_UP)
                    send_join(&Wk.c[i], now);
                else if (Wk.c[i].u < M)
                    Wk.r.joins_failed++;
            Wk.stage = 'o';
        }
        break;
    }
    case 'o':
        if (!Wk.join_inflight) {
            say('A');
            Wk.stage = 'A';
        }
        break;
    case 'j':
        while (Wk.join_next < Wk.n && Wk.join_inflight < C.window) {
            struct conn *c = &Wk.c[Wk.join_next++];
            if (c->u < M)
                continue;
            if (c->state == CS_UP)
                send_join(c, now);
            else
                Wk.r.joins_failed++;
        }
        if (Wk.join_next == Wk.n && !Wk.join_inflight) {
            for (unsigned i = 0; i < Wk.n; i++) {
                struct conn *c = &Wk.c[i];
                unsigned room = c->u % M;
                if (c->state == CS_JOINED) {
                    c->row = xcalloc((size_t)(row_bits[room] / 64 + 1), sizeof(uint64_t));
                    c->last = xcalloc(nsend[room] ? nsend[room] : 1, sizeof(uint32_t));
                }
            }
            say('C');
            Wk.stage = 'C';
        }
        break;
    case 'x':
        send_due(now);
        if (now < Wk.send_end || Wk.k_next < k_total)
            break;
        if (now >= Wk.send_end + (int64_t)(C.drain * SEC))
            return false;
        /* Done once our own messages have left (a message still in libstrophe's
         * queue has not reached the router) and --idle-end passed without a copy. */
        if (now - Wk.last_rx > (int64_t)(C.idle_end * SEC) && !queued_messages())
            return false;
        break;
    default:
        break;
    }
    return true;
}

static void worker_report(void)
{
    /* At the --drain limit, messages still queued were never sent. */
    for (unsigned i = 0; i < Wk.n; i++) {
        struct conn *c = &Wk.c[i];
        if (!c->x || c->state != CS_JOINED || c->u >= S)
            continue;
        uint32_t q = (uint32_t)xmpp_conn_send_queue_len(c->x);
        if (q > Wk.a.sent[c->u])
            q = Wk.a.sent[c->u];
        Wk.a.sent[c->u] -= q;
        Wk.r.sent -= q;
        Wk.r.unsent += q;
    }
    Wk.r.cpu_s = bench_self_cpu();
    if (cres_write_all(Wk.up_fd, "R", 1) < 0 || cres_write_all(Wk.up_fd, &Wk.r, sizeof Wk.r) < 0 ||
        cres_write_all(Wk.up_fd, Wk.a.sent, S * sizeof(uint32_t)) < 0 ||
        cres_write_all(Wk.up_fd, Wk.a.rejected, S * sizeof(uint32_t)) < 0 ||
        cres_write_all(Wk.up_fd, Wk.a.joined, M * sizeof(uint32_t)) < 0)
        _exit(3);
}

static void worker_close(void)
{
    for (unsigned i = 0; i < Wk.n; i++)
        if (Wk.c[i].state != CS_GONE && Wk.c[i].state != CS_NEW) {
            Wk.c[i].state = CS_GONE;
            xmpp_disconnect(Wk.c[i].x);
        }
    int64_t until = bench_now_ns() + 2 * SEC;
    while (bench_now_ns() < until) {
        bool open = false;
        for (unsigned i = 0; i < Wk.n && !open; i++)
            open = Wk.c[i].x && xmpp_conn_is_connected(Wk.c[i].x);
        if (!open)
            break;
        xmpp_run_once(Wk.ctx, 10);
    }
}

static void worker_main(unsigned w, int up_fd, int down_fd)
{
    Wk.w = w;
    Wk.up_fd = up_fd;
    Wk.down_fd = down_fd;
    Wk.stage = 'c';
    Wk.rng = C.seed;
    Wk.gap_ns = C.rate > 0 ? 1e9 / C.rate : 1e18;
    Wk.win_start = Wk.win_end = INT64_MAX;
    fcntl(down_fd, F_SETFL, fcntl(down_fd, F_GETFL) | O_NONBLOCK);
    cres_init(&Wk.r);
    Wk.a.sent = xcalloc(S, sizeof(uint32_t));
    Wk.a.rejected = xcalloc(S, sizeof(uint32_t));
    Wk.a.joined = xcalloc(M, sizeof(uint32_t));
    Wk.pad = xmalloc(C.body_bytes + 1);
    for (unsigned i = 0; i < C.body_bytes; i++)
        Wk.pad[i] = (char)('a' + i % 26);
    Wk.pad[C.body_bytes] = 0;
    xmpp_initialize();
    Wk.ctx = xmpp_ctx_new(NULL, NULL);
    Wk.n = w < N ? (N - w + W - 1) / W : 0;
    Wk.c = xcalloc(Wk.n ? Wk.n : 1, sizeof *Wk.c);
    for (unsigned i = 0; i < Wk.n; i++)
        Wk.c[i].u = w + i * W;
    while (worker_step(bench_now_ns())) {
        if (Wk.stage != 'x')
            read_control();
        unsigned long tmo = 5;
        if (Wk.stage == 'x' && Wk.k_next < k_total) {
            /* libstrophe waits in whole ms: wake at the next due time rounded up,
             * never spin. Sends are then up to 1 ms late, which the latency (from
             * the scheduled time) and the send lag include. */
            int64_t dl = Wk.next_sched - bench_now_ns();
            tmo = dl <= 0 ? 0 : dl >= 5 * MS ? 5 : (unsigned long)((dl + MS - 1) / MS);
        }
        int64_t t = bench_now_ns();
        xmpp_run_once(Wk.ctx, tmo);
        /* With no connection left libstrophe returns at once: do not spin. */
        if (tmo && bench_now_ns() - t < 100000) {
            struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)tmo * MS };
            nanosleep(&ts, NULL);
        }
    }
    worker_report();
    worker_close();
    _exit(0);
}

/* ------------------------------------------------------------ parent */

struct wproc {
    pid_t pid;
    int up, down;
    struct proc_sample s0, s1;
};

/* Wait until every worker has said ch (bounded by --timeout). */
static bool wait_all(struct wproc *wp, char ch, const char *what)
{
    int64_t limit = bench_now_ns() + (int64_t)(C.timeout * SEC);
    for (unsigned i = 0; i < W; i++) {
        for (;;) {
            int64_t left = limit - bench_now_ns();
            if (left <= 0) {
                fprintf(stderr, "confab-bench: workers not done with %s within %.0f s\n", what,
                        C.timeout);
                return false;
            }
            struct pollfd p = { .fd = wp[i].up, .events = POLLIN };
            if (poll(&p, 1, (int)(left / MS) + 1) <= 0)
                continue;
            char got;
            if (cres_read_all(wp[i].up, &got, 1) < 0) {
                fprintf(stderr, "confab-bench: worker %u ended during %s\n", i, what);
                return false;
            }
            if (got == ch)
                break;
        }
    }
    note("all %u workers: %s done", W, what);
    return true;
}

static void tell_all(struct wproc *wp, const void *p, size_t n)
{
    for (unsigned i = 0; i < W; i++)
        cres_write_all(wp[i].down, p, n);
}

static void sleep_until(int64_t t)
{
    int64_t d = t - bench_now_ns();
    if (d > 0) {
        struct timespec ts = { .tv_sec = d / SEC, .tv_nsec = d % SEC };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
}

static bool pid_children(const char *name)
{
    return !strncmp(name, "postgres", 8) || !strncmp(name, "pg", 2);
}

static void parse_args(int argc, char **argv)
{
    struct opt_result res;
    int r = copt_parse(&C, argc, argv, &res);
    if (r == 1) {
        copt_usage(stdout);
        exit(0);
    }
    if (r < 0) {
        fprintf(stderr, "confab-bench: %s\n(confab-bench --mode client --help lists the options)\n",
                res.err);
        exit(2);
    }
}

/* Fork the W workers, each with a pipe up (to us) and one down. */
static struct wproc *start_workers(void)
{
    struct wproc *wp = xcalloc(W, sizeof *wp);
    for (unsigned i = 0; i < W; i++) {
        int up[2], down[2];
        if (pipe(up) < 0 || pipe(down) < 0) {
            perror("confab-bench: pipe");
            exit(1);
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("confab-bench: fork");
            exit(1);
        }
        if (pid == 0) {
            close(up[0]);
            close(down[1]);
            for (unsigned j = 0; j < i; j++) {
                close(wp[j].up);
                close(wp[j].down);
            }
            worker_main(i, up[1], down[0]);
        }
        close(up[1]);
        close(down[0]);
        wp[i] = (struct wproc){ .pid = pid, .up = up[0], .down = down[1] };
    }
    return wp;
}

/* Give every worker t0, then sample the processes over the measured window. */
static void chat_window(struct wproc *wp, struct creport *rep, struct proc_sample *p0,
                        struct proc_sample *p1)
{
    int64_t t0 = bench_now_ns() + 200 * MS;
    char cmd = 'T';
    for (unsigned i = 0; i < W; i++) {
        cres_write_all(wp[i].down, &cmd, 1);
        cres_write_all(wp[i].down, &t0, sizeof t0);
    }
    int64_t ws = t0 + (int64_t)(C.warmup * SEC), we = ws + (int64_t)(C.duration * SEC);
    note("chat: t0 in 200 ms, window %.0f s after %.0f s warm-up", C.duration, C.warmup);
    sleep_until(ws);
    double busy0 = proc_busy_all();
    int64_t s0 = bench_now_ns();
    for (unsigned i = 0; i < C.npids; i++)
        proc_sample(C.pid[i], pid_children(C.pid_name[i]), &p0[i]);
    for (unsigned i = 0; i < W; i++)
        proc_sample(wp[i].pid, false, &wp[i].s0);
    sleep_until(we);
    rep->busy = proc_busy_all() - busy0;
    rep->wall = (double)(bench_now_ns() - s0) / 1e9;
    for (unsigned i = 0; i < C.npids; i++)
        proc_sample(C.pid[i], pid_children(C.pid_name[i]), &p1[i]);
    for (unsigned i = 0; i < W; i++)
        proc_sample(wp[i].pid, false, &wp[i].s1);
}

/* The parent's phases: connect and create, join, chat. False when one failed. */
static bool run_phases(struct wproc *wp, struct creport *rep, struct proc_sample *p0,
                       struct proc_sample *p1)
{
    bool ok = wait_all(wp, 'A', "connect and room creation");
    if (ok) {
        tell_all(wp, "B", 1);
        ok = wait_all(wp, 'C', "joins");
    }
    if (ok) {
        chat_window(wp, rep, p0, p1);
        return true;
    }
    for (unsigned i = 0; i < W; i++)
        kill(wp[i].pid, SIGTERM);
    return false;
}

/* Read one worker's result (after its 'R') and add it to the totals. */
static bool collect_one(struct wproc *w, unsigned i, struct cres *total, struct cres_arrays *ta,
                        struct cres_arrays *oa, double *win_cpu)
{
    struct cres one;
    char tag = 0;
    /* A worker's data follows its 'R' (a stray progress byte may precede it). */
    while (tag != 'R')
        if (cres_read_all(w->up, &tag, 1) < 0)
            break;
    if (tag != 'R' || cres_read_all(w->up, &one, sizeof one) < 0 ||
        cres_read_all(w->up, oa->sent, S * 4) < 0 ||
        cres_read_all(w->up, oa->rejected, S * 4) < 0 ||
        cres_read_all(w->up, oa->joined, M * 4) < 0) {
        fprintf(stderr, "confab-bench: worker %u sent no result\n", i);
        return false;
    }
    cres_merge(total, &one);
    cres_arrays_add(ta, oa, S, M);
    if (w->s0.ok && w->s1.ok)
        *win_cpu += w->s1.cpu_s - w->s0.cpu_s;
    return true;
}

/* Wait for every worker; false when one did not end cleanly. */
static bool reap_workers(struct wproc *wp)
{
    bool ok = true;
    for (unsigned i = 0; i < W; i++) {
        int st;
        waitpid(wp[i].pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) {
            fprintf(stderr, "confab-bench: worker %u exited abnormally (status %d)\n", i, st);
            ok = false;
        }
    }
    return ok;
}

static struct cres_arrays arrays_new(void)
{
    return (struct cres_arrays){ xcalloc(S, 4), xcalloc(S, 4), xcalloc(M, 4) };
}

static void arrays_free(struct cres_arrays *a)
{
    free(a->sent), free(a->rejected), free(a->joined);
}

int client_main(int argc, char **argv)
{
    parse_args(argc, argv);
    model_init();
    note("client mode: %u users in %u rooms of %s via %s:%u, %u senders, %" PRIu64
         " messages planned, %u workers",
         N, M, C.muc, C.server_host, C.server_port, S, k_total, W);
    fflush(NULL);
    struct wproc *wp = start_workers();
    struct proc_sample p0[MAX_PIDS] = { 0 }, p1[MAX_PIDS] = { 0 };
    struct creport rep = { .c = &C, .users = N, .rooms = M, .senders = S, .workers = W,
                           .wall = C.duration, .p0 = p0, .p1 = p1 };
    bool ok = run_phases(wp, &rep, p0, p1);
    struct cres total;
    cres_init(&total);
    struct cres_arrays ta = arrays_new(), oa = arrays_new();
    for (unsigned i = 0; ok && i < W; i++)
        ok = collect_one(&wp[i], i, &total, &ta, &oa, &rep.win_cpu);
    ok = reap_workers(wp) && ok;
    /* A run in which clients could not connect or join measured something else. */
    if (total.conn_failed || total.joins_failed || total.disconnects || !total.joins_ok) {
        fprintf(stderr, "confab-bench: %u connections and %u joins failed, %u disconnects\n",
                total.conn_failed, total.joins_failed, total.disconnects);
        ok = false;
    }
    rep.r = &total;
    rep.a = &ta;
    rep.busy -= rep.win_cpu;
    rep.workers_cpu = total.cpu_s;
    rep.ok = ok;
    creport_print(&rep);
    for (unsigned i = 0; i < W; i++) {
        close(wp[i].up);
        close(wp[i].down);
    }
    free(wp);
    arrays_free(&ta);
    arrays_free(&oa);
    free(planned), free(bit_off), free(slocal), free(row_bits), free(nsend);
    return ok ? 0 : 1;
}
