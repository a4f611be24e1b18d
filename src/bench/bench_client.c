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
#include <getopt.h>
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

#include "bench.h"
#include "mem.h"

#define SEC 1000000000LL
#define MS 1000000LL
#define MAX_PIDS 8
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"

static struct copts {
    const char *server_host;
    unsigned short server_port;
    const char *domain;
    const char *muc;
    const char *user_prefix;
    const char *password;
    const char *room_prefix;
    const char *label;
    unsigned users, rooms, occupants, senders, workers, window;
    double rate, duration, warmup, drain, timeout, idle_end;
    unsigned body_bytes;
    bool poisson, quiet;
    unsigned seed;
    unsigned npids;
    const char *pid_name[MAX_PIDS];
    pid_t pid[MAX_PIDS];
} C = {
    .server_host = "127.0.0.1", .server_port = 5222, .domain = "localhost",
    .user_prefix = "user", .password = "bench", .room_prefix = "bench", .label = "",
    .rooms = 10, .occupants = 10, .window = 32, .rate = 1000, .duration = 10, .warmup = 2,
    .drain = 10, .timeout = 120, .idle_end = 3, .body_bytes = 64, .seed = 1,
};

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

static void report(const struct cres *r, const struct cres_arrays *a, struct proc_sample *p0,
                   struct proc_sample *p1, double busy, double wall, double workers_cpu,
                   double win_cpu, bool ok)
{
    uint64_t expected = cres_expected(a, S, M);
    uint64_t lost = expected > r->unique ? expected - r->unique : 0;
    double dps = C.duration > 0 ? (double)r->deliveries_win / C.duration : 0;
    double measured_cpu = 0;
    printf("confab-bench client mode%s%s: %u users (%u workers) in %u rooms of %s, %u senders, "
           "%.0f msg/s offered, %.0f s measured after %.0f s warm-up\n",
           *C.label ? " " : "", C.label, N, W, M, C.muc, S, C.rate, C.duration, C.warmup);
    printf("  connections %u ok, %u failed; joins %u ok, %u failed; disconnects %u\n", r->conns,
           r->conn_failed, r->joins_ok, r->joins_failed, r->disconnects);
    printf("  sent %" PRIu64 " messages (%" PRIu64 " more still queued in the bench at the "
           "end), rejected %" PRIu64 "; deliveries %" PRIu64 " (%.0f/s in the window); "
           "expected %" PRIu64 ", unique %" PRIu64 "\n",
           r->sent, r->unsent, r->rejected, r->deliveries, dps, expected, r->unique);
    printf("  lost %" PRIu64 ", duplicated %" PRIu64 ", reordered %" PRIu64 ", misrouted %" PRIu64
           ", history %" PRIu64 ", other errors %" PRIu64 "\n",
           lost, r->dup, r->reordered, r->misrouted, r->history, r->errors_other);
    hist_print("latency (all copies)", &r->lat_all);
    hist_print("latency (reflection)", &r->lat_reflect);
    hist_print("latency (other copies)", &r->lat_fanout);
    hist_print("join", &r->lat_join);
    hist_print("bench send lag", &r->lag);
    for (unsigned i = 0; i < C.npids; i++) {
        if (!p0[i].ok || !p1[i].ok) {
            printf("  %-10s pid %d: not readable\n", C.pid_name[i], (int)C.pid[i]);
            continue;
        }
        double cpu = p1[i].cpu_s - p0[i].cpu_s;
        measured_cpu += cpu;
        printf("  %-10s pid %-7d CPU %.2f s (%.0f %% of a core), %.3f s per 100k deliveries, "
               "RSS %ld KiB (peak %ld)\n",
               C.pid_name[i], (int)C.pid[i], cpu, 100 * cpu / wall,
               r->deliveries_win ? cpu * 1e5 / (double)r->deliveries_win : 0, p1[i].rss_kb,
               p1[i].hwm_kb);
    }
    double other = busy - measured_cpu;
    printf("  bench workers CPU %.2f s in the window (%.0f %% of a core), %.2f s in all; other "
           "processes in the window: %.0f %% of a core\n",
           win_cpu, 100 * win_cpu / wall, workers_cpu, other > 0 ? 100 * other / wall : 0);
    printf("RESULT {\"mode\":\"client\",\"label\":\"%s\",\"ok\":%s,\"muc\":\"%s\",\"users\":%u,"
           "\"rooms\":%u,\"senders\":%u,\"workers\":%u,\"rate\":%.1f,\"duration\":%.1f,"
           "\"conns\":%u,\"conn_failed\":%u,\"joins_ok\":%u,\"joins_failed\":%u,"
           "\"disconnects\":%u,\"sent\":%" PRIu64 ",\"unsent\":%" PRIu64
           ",\"rejected\":%" PRIu64
           ",\"deliveries\":%" PRIu64 ",\"deliveries_win\":%" PRIu64
           ",\"deliveries_per_s\":%.1f,\"expected\":%" PRIu64 ",\"unique\":%" PRIu64
           ",\"lost\":%" PRIu64 ",\"dup\":%" PRIu64 ",\"reordered\":%" PRIu64
           ",\"misrouted\":%" PRIu64 ",",
           C.label, ok ? "true" : "false", C.muc, N, M, S, W, C.rate, C.duration, r->conns,
           r->conn_failed, r->joins_ok, r->joins_failed, r->disconnects, r->sent, r->unsent,
           r->rejected,
           r->deliveries, r->deliveries_win, dps, expected, r->unique, lost, r->dup,
           r->reordered, r->misrouted);
    hist_json(stdout, "lat", &r->lat_all, true);
    hist_json(stdout, "lat_reflect", &r->lat_reflect, true);
    hist_json(stdout, "lat_fanout", &r->lat_fanout, true);
    hist_json(stdout, "join", &r->lat_join, true);
    hist_json(stdout, "lag", &r->lag, true);
    printf("\"procs\":{");
    for (unsigned i = 0; i < C.npids; i++) {
        double cpu = p0[i].ok && p1[i].ok ? p1[i].cpu_s - p0[i].cpu_s : -1;
        printf("%s\"%s\":{\"pid\":%d,\"cpu_s\":%.3f,\"cpu_per_100k\":%.4f,\"rss_kb\":%ld,"
               "\"hwm_kb\":%ld}",
               i ? "," : "", C.pid_name[i], (int)C.pid[i], cpu,
               r->deliveries_win && cpu >= 0 ? cpu * 1e5 / (double)r->deliveries_win : -1,
               p1[i].rss_kb, p1[i].hwm_kb);
    }
    printf("},\"bench_cpu_s\":%.3f,\"bench_cpu_win_s\":%.3f,\"other_cpu_pct\":%.1f,"
           "\"window_s\":%.3f}\n",
           workers_cpu, win_cpu, other > 0 ? 100 * other / wall : 0, wall);
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: confab-bench --mode client --muc MUC-DOMAIN [options]\n"
            "  K real XMPP clients (libstrophe, forked workers) through a router; see\n"
            "  docs/benchmarks.md.\n"
            "      --server HOST:PORT  router's c2s address (default 127.0.0.1:5222)\n"
            "      --domain D          users' domain (default localhost)\n"
            "      --user-prefix P     users are P1..PK (default user)\n"
            "      --password PW       common password (default bench)\n"
            "      --muc JID           MUC service to test (required)\n"
            "      --room-prefix P     rooms P0..P(M-1) (default bench)\n"
            "      --rooms M, --occupants N, --users K (default M*N), --senders S (default K)\n"
            "      --rate R            groupchat messages/s, all senders (default 1000)\n"
            "      --duration S, --warmup S, --drain S   (defaults 10, 2, 10)\n"
            "      --idle-end S        after the last send, stop once S s pass without a\n"
            "                          copy (default 3; at most --drain s in all)\n"
            "      --poisson           exponential gaps instead of a fixed schedule\n"
            "      --body-bytes B      body size (default 64)\n"
            "      --workers W         worker processes (default 2, at least K/500)\n"
            "      --window N          connects/joins in flight per worker (default 32)\n"
            "      --pid NAME=PID      sample CPU and RSS of PID (repeatable; NAME\n"
            "                          postgres*/pg*: with its children)\n"
            "      --timeout S         limit for connect and join phases (default 120)\n"
            "      --label L, --seed N, --quiet\n");
}

static double num(const char *s, const char *what)
{
    char *e;
    double v = strtod(s, &e);
    if (e == s || *e || v < 0 || !isfinite(v)) {
        fprintf(stderr, "confab-bench: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    enum {
        O_MODE = 256, O_SERVER, O_DOMAIN, O_PREFIX, O_PASS, O_MUC, O_RPREFIX, O_ROOMS, O_OCC,
        O_USERS, O_SENDERS, O_RATE, O_DUR, O_WARM, O_DRAIN, O_POISSON, O_BODY, O_WORKERS,
        O_WINDOW, O_PID, O_TIMEOUT, O_LABEL, O_SEED, O_QUIET, O_IDLE,
    };
    static const struct option lo[] = {
        { "mode", required_argument, NULL, O_MODE },
        { "server", required_argument, NULL, O_SERVER },
        { "domain", required_argument, NULL, O_DOMAIN },
        { "user-prefix", required_argument, NULL, O_PREFIX },
        { "password", required_argument, NULL, O_PASS },
        { "muc", required_argument, NULL, O_MUC },
        { "room-prefix", required_argument, NULL, O_RPREFIX },
        { "rooms", required_argument, NULL, O_ROOMS },
        { "occupants", required_argument, NULL, O_OCC },
        { "users", required_argument, NULL, O_USERS },
        { "senders", required_argument, NULL, O_SENDERS },
        { "rate", required_argument, NULL, O_RATE },
        { "duration", required_argument, NULL, O_DUR },
        { "warmup", required_argument, NULL, O_WARM },
        { "drain", required_argument, NULL, O_DRAIN },
        { "idle-end", required_argument, NULL, O_IDLE },
        { "poisson", no_argument, NULL, O_POISSON },
        { "body-bytes", required_argument, NULL, O_BODY },
        { "workers", required_argument, NULL, O_WORKERS },
        { "window", required_argument, NULL, O_WINDOW },
        { "pid", required_argument, NULL, O_PID },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "label", required_argument, NULL, O_LABEL },
        { "seed", required_argument, NULL, O_SEED },
        { "quiet", no_argument, NULL, O_QUIET },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case O_MODE:
            if (strcmp(optarg, "client")) {
                fprintf(stderr, "confab-bench: --mode %s: router mode takes no --mode\n", optarg);
                exit(2);
            }
            break;
        case O_SERVER: {
            char *colon = strrchr(optarg, ':');
            double port = colon ? num(colon + 1, "--server port") : 0;
            if (!colon || port < 1 || port > 65535) {
                fprintf(stderr, "confab-bench: --server wants HOST:PORT, got %s\n", optarg);
                exit(2);
            }
            *colon = 0;
            C.server_host = optarg;
            C.server_port = (unsigned short)port;
            break;
        }
        case O_DOMAIN: C.domain = optarg; break;
        case O_PREFIX: C.user_prefix = optarg; break;
        case O_PASS: C.password = optarg; break;
        case O_MUC: C.muc = optarg; break;
        case O_RPREFIX: C.room_prefix = optarg; break;
        case O_ROOMS: C.rooms = (unsigned)num(optarg, "--rooms"); break;
        case O_OCC: C.occupants = (unsigned)num(optarg, "--occupants"); break;
        case O_USERS: C.users = (unsigned)num(optarg, "--users"); break;
        case O_SENDERS: C.senders = (unsigned)num(optarg, "--senders"); break;
        case O_RATE: C.rate = num(optarg, "--rate"); break;
        case O_DUR: C.duration = num(optarg, "--duration"); break;
        case O_WARM: C.warmup = num(optarg, "--warmup"); break;
        case O_DRAIN: C.drain = num(optarg, "--drain"); break;
        case O_IDLE: C.idle_end = num(optarg, "--idle-end"); break;
        case O_POISSON: C.poisson = true; break;
        case O_BODY: C.body_bytes = (unsigned)num(optarg, "--body-bytes"); break;
        case O_WORKERS: C.workers = (unsigned)num(optarg, "--workers"); break;
        case O_WINDOW: C.window = (unsigned)num(optarg, "--window"); break;
        case O_PID: {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || C.npids == MAX_PIDS) {
                fprintf(stderr, "confab-bench: --pid wants NAME=PID (at most %d), got %s\n",
                        MAX_PIDS, optarg);
                exit(2);
            }
            *eq = 0;
            C.pid_name[C.npids] = optarg;
            C.pid[C.npids++] = (pid_t)num(eq + 1, "--pid");
            break;
        }
        case O_TIMEOUT: C.timeout = num(optarg, "--timeout"); break;
        case O_LABEL: C.label = optarg; break;
        case O_SEED: C.seed = (unsigned)num(optarg, "--seed"); break;
        case O_QUIET: C.quiet = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc || !C.muc || !C.window || C.body_bytes > 65536) {
        usage(stderr);
        exit(2);
    }
}

int client_main(int argc, char **argv)
{
    parse_args(argc, argv);
    model_init();
    note("client mode: %u users in %u rooms of %s via %s:%u, %u senders, %" PRIu64
         " messages planned, %u workers",
         N, M, C.muc, C.server_host, C.server_port, S, k_total, W);
    fflush(NULL);
    struct wproc *wp = xcalloc(W, sizeof *wp);
    for (unsigned i = 0; i < W; i++) {
        int up[2], down[2];
        if (pipe(up) < 0 || pipe(down) < 0) {
            perror("confab-bench: pipe");
            return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("confab-bench: fork");
            return 1;
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
    bool ok = wait_all(wp, 'A', "connect and room creation");
    if (ok) {
        tell_all(wp, "B", 1);
        ok = wait_all(wp, 'C', "joins");
    }
    struct proc_sample p0[MAX_PIDS] = { 0 }, p1[MAX_PIDS] = { 0 };
    double busy0 = 0, busy1 = 0, wall = C.duration;
    if (ok) {
        int64_t t0 = bench_now_ns() + 200 * MS;
        char cmd = 'T';
        for (unsigned i = 0; i < W; i++) {
            cres_write_all(wp[i].down, &cmd, 1);
            cres_write_all(wp[i].down, &t0, sizeof t0);
        }
        int64_t ws = t0 + (int64_t)(C.warmup * SEC), we = ws + (int64_t)(C.duration * SEC);
        note("chat: t0 in 200 ms, window %.0f s after %.0f s warm-up", C.duration, C.warmup);
        sleep_until(ws);
        busy0 = proc_busy_all();
        int64_t s0 = bench_now_ns();
        for (unsigned i = 0; i < C.npids; i++)
            proc_sample(C.pid[i], pid_children(C.pid_name[i]), &p0[i]);
        for (unsigned i = 0; i < W; i++)
            proc_sample(wp[i].pid, false, &wp[i].s0);
        sleep_until(we);
        busy1 = proc_busy_all();
        wall = (double)(bench_now_ns() - s0) / 1e9;
        for (unsigned i = 0; i < C.npids; i++)
            proc_sample(C.pid[i], pid_children(C.pid_name[i]), &p1[i]);
        for (unsigned i = 0; i < W; i++)
            proc_sample(wp[i].pid, false, &wp[i].s1);
    } else {
        for (unsigned i = 0; i < W; i++)
            kill(wp[i].pid, SIGTERM);
    }
    struct cres total, one;
    cres_init(&total);
    struct cres_arrays ta = { xcalloc(S, 4), xcalloc(S, 4), xcalloc(M, 4) };
    struct cres_arrays oa = { xcalloc(S, 4), xcalloc(S, 4), xcalloc(M, 4) };
    double win_cpu = 0;
    for (unsigned i = 0; ok && i < W; i++) {
        char tag = 0;
        /* A worker's data follows its 'R' (a stray progress byte may precede it). */
        while (tag != 'R')
            if (cres_read_all(wp[i].up, &tag, 1) < 0)
                break;
        if (tag != 'R' || cres_read_all(wp[i].up, &one, sizeof one) < 0 ||
            cres_read_all(wp[i].up, oa.sent, S * 4) < 0 ||
            cres_read_all(wp[i].up, oa.rejected, S * 4) < 0 ||
            cres_read_all(wp[i].up, oa.joined, M * 4) < 0) {
            fprintf(stderr, "confab-bench: worker %u sent no result\n", i);
            ok = false;
            break;
        }
        cres_merge(&total, &one);
        cres_arrays_add(&ta, &oa, S, M);
        if (wp[i].s0.ok && wp[i].s1.ok)
            win_cpu += wp[i].s1.cpu_s - wp[i].s0.cpu_s;
    }
    for (unsigned i = 0; i < W; i++) {
        int st;
        waitpid(wp[i].pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) {
            fprintf(stderr, "confab-bench: worker %u exited abnormally (status %d)\n", i, st);
            ok = false;
        }
    }
    /* A run in which clients could not connect or join measured something else. */
    if (total.conn_failed || total.joins_failed || total.disconnects || !total.joins_ok) {
        fprintf(stderr, "confab-bench: %u connections and %u joins failed, %u disconnects\n",
                total.conn_failed, total.joins_failed, total.disconnects);
        ok = false;
    }
    report(&total, &ta, p0, p1, busy1 - busy0 - win_cpu, wall, total.cpu_s, win_cpu, ok);
    for (unsigned i = 0; i < W; i++) {
        close(wp[i].up);
        close(wp[i].down);
    }
    free(wp);
    free(ta.sent), free(ta.rejected), free(ta.joined);
    free(oa.sent), free(oa.rejected), free(oa.joined);
    free(planned), free(bit_off), free(slocal), free(row_bits), free(nsend);
    return ok ? 0 : 1;
}
