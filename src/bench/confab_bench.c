/* confab-bench — router mode: plays the XMPP router for one confabd.
 *
 * It listens where confabd's [component] router points, completes the server
 * side of the XEP-0114 handshake, then simulates users and rooms entirely over
 * that one component connection and measures confabd alone:
 *
 *   rooms    users user<i>@bench.local/r join room<i % M>@MUC/nick<i> (the first
 *            user of each room creates and configures it), optionally prefill
 *            history, then send groupchat messages on an open-loop schedule.
 *            Every body carries the sender, a per-sender sequence number and the
 *            *scheduled* send time, so latency includes any lateness of the
 *            sender (no coordinated omission), and per-sender sequence bitmaps
 *            per recipient count lost, duplicated and reordered copies.
 *   storm    the same with 20 prefilled messages and no chat: a join storm in
 *            which each join is timed from its scheduled send to the subject
 *            message that ends the join sequence (XEP-0045 §7.2.16).
 *   mam      one reader joins an existing archived room and sends XEP-0313
 *            page queries (RSM max/before/after) open-loop; latency is from the
 *            scheduled send to the <fin/> result.
 *   startup  (with --spawn) time from starting confabd to the handshake and to
 *            the first served join, RSS after start, RSS per loaded room.
 *
 * Output: a human report on stdout and one machine-readable line
 * "RESULT {json}". See docs/benchmarks.md.
 *
 * This file: main, the loop, the model. Options: bench_ropt.c; phases:
 * bench_phase.c; stanzas out/in: bench_tx.c, bench_rx.c, bench_xs.c; socket
 * and --spawn: bench_io.c; report: bench_report.c; stanza ids: src/core/stanzaid.c. */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_router.h"
#include "mem.h"
#include "servicekey.h"
#include "xstream.h"

struct ropts O;
struct bench B;

/* ------------------------------------------------------------------ messages */

void bench_fail(const char *fmt, ...)
{
    if (B.failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(B.fail_reason, sizeof B.fail_reason, fmt, ap);
    va_end(ap);
    B.failed = true;
    fprintf(stderr, "confab-bench: %s\n", B.fail_reason);
}

void bench_note(const char *fmt, ...)
{
    if (O.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "confab-bench: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------------------ model */

static uint64_t *bitmap(uint64_t bits)
{
    return xcalloc((size_t)(bits / 64 + 1), sizeof(uint64_t));
}

static void model_init(void)
{
    B.M = O.rooms;
    B.N = O.users ? O.users : O.rooms * O.occupants;
    B.S = O.senders && O.senders < B.N ? O.senders : B.N;
    if (B.N < B.M) {
        fprintf(stderr, "confab-bench: fewer users (%u) than rooms (%u)\n", B.N, B.M);
        exit(2);
    }
    B.users = xcalloc(B.N, sizeof *B.users);
    B.rooms = xcalloc(B.M, sizeof *B.rooms);
    for (unsigned u = 0; u < B.N; u++) {
        B.users[u].room = u % B.M;
        B.rooms[u % B.M].nocc++;
    }
    B.k_total = O.rate > 0 ? (uint64_t)llround(O.rate * (O.warmup + O.duration)) : 0;
    B.senders = xcalloc(B.S, sizeof *B.senders);
    for (unsigned s = 0; s < B.S; s++) {
        struct sender *sd = &B.senders[s];
        struct room *r = &B.rooms[s % B.M];
        sd->planned = B.k_total > s ? (uint32_t)((B.k_total - s + B.S - 1) / B.S) : 0;
        sd->bit_off = r->row_bits;
        sd->local = r->nsend++;
        r->row_bits += sd->planned;
        sd->rejected = bitmap(sd->planned);
    }
    uint64_t mem = 0;
    for (unsigned j = 0; j < B.M; j++) {
        struct room *r = &B.rooms[j];
        r->row_words = r->row_bits / 64 + 1;
        r->bits = xcalloc((size_t)(r->nocc * r->row_words), sizeof(uint64_t));
        r->last = xcalloc((size_t)r->nocc * (r->nsend ? r->nsend : 1), sizeof(uint32_t));
        mem += r->nocc * r->row_words * 8 + (uint64_t)r->nocc * r->nsend * 4;
    }
    bench_note("model: %u users, %u rooms, %u senders, %" PRIu64 " messages planned, "
         "%.1f MiB of receipt bitmaps", B.N, B.M, B.S, B.k_total, (double)mem / 1048576.0);
}

/* ------------------------------------------------------------------ main */

static void parse_args(int argc, char **argv)
{
    struct opt_result res;
    int r = ropt_parse(&O, argc, argv, &res);
    if (r == 1) {
        ropt_usage(stdout);
        exit(0);
    }
    if (r < 0) {
        fprintf(stderr, "confab-bench: %s\n(confab-bench --help lists the options)\n", res.err);
        exit(2);
    }
}

static void state_init(void)
{
    srand(O.seed);
    struct hist *hs[] = { &B.lat_all, &B.lat_reflect, &B.lat_fanout, &B.lat_join,
                          &B.lat_setup, &B.lag, &B.lat_mam, &B.tick };
    for (size_t i = 0; i < ARRAY_SIZE(hs); i++)
        hist_init(hs[i]);
    buf_init(&B.out);
    B.rcap = 1 << 20;
    B.rbuf = xmalloc(B.rcap);
    B.pid = O.pid;
    B.win_start = INT64_MAX;
    B.win_end = INT64_MAX;
    if (O.scenario == SC_ROOMS)
        model_init();
    if (O.scenario == SC_MAM) {
        B.mam_room_jid = xstrdup(O.mam_room);
        unsigned char key[32];
        servicekey_from_secret(O.domain, O.secret, key);
        B.sid = stanzaid_new(key);
        B.N = 0;
    }
}

/* Wait (30 s at most) for confabd to connect; false when it did not. */
static bool accept_confabd(void)
{
    struct pollfd lp = { .fd = B.lfd, .events = POLLIN };
    if (poll(&lp, 1, 30000) <= 0) {
        bench_fail("confabd did not connect within 30 s");
        return false;
    }
    B.fd = accept(B.lfd, NULL, NULL);
    if (B.fd < 0) {
        perror("confab-bench: accept");
        exit(1);
    }
    close(B.lfd);
    B.t_accept = bench_now_ns();
    int one = 1;
    setsockopt(B.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(B.fd, F_SETFL, fcntl(B.fd, F_GETFL) | O_NONBLOCK);
    phase_set(PH_HANDSHAKE, B.t_accept);
    return true;
}

/* One turn of the loop: drive the phases, write, then wait for input or the
 * next scheduled send. False when the run is over. */
static bool loop_once(void)
{
    int64_t now = bench_now_ns();
    if (B.phase == PH_HANDSHAKE && B.t_up) {
        io_flush();
        phase_link_up(now);
    } else if (B.phase == PH_HANDSHAKE && now - B.phase_start > 10 * SEC) {
        bench_fail("no handshake within 10 s");
        return false;
    }
    phase_drive(now);
    io_flush();
    if (B.failed || B.phase == PH_DONE)
        return false;
    int64_t dl = phase_deadline(now) - bench_now_ns();
    if (dl < 0)
        dl = 0;
    struct timespec ts = { .tv_sec = dl / SEC, .tv_nsec = dl % SEC };
    struct pollfd p = { .fd = B.fd, .events = POLLIN };
    if (B.out_off < B.out.len)
        p.events |= POLLOUT;
    int r = ppoll(&p, 1, &ts, NULL);
    if (r < 0 && errno != EINTR) {
        bench_fail("poll: %s", strerror(errno));
        return false;
    }
    if (r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
        io_read();
    if (r > 0 && (p.revents & POLLOUT))
        io_flush();
    return true;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--mode") && !strcmp(argv[i + 1], "client"))
            return client_main(argc, argv);
    parse_args(argc, argv);
    state_init();
    B.lfd = io_listen(O.listen_host, O.listen_port);
    bench_note("listening on %s:%u for %s", O.listen_host, O.listen_port, O.domain);
    if (O.spawn_argv)
        io_spawn();
    B.phase = PH_ACCEPT;
    B.phase_start = bench_now_ns();
    B.xs = xs_create();
    if (!accept_confabd()) {
        report_print();
        io_stop_spawned();
        return 1;
    }
    while (!B.failed && B.phase != PH_DONE && loop_once())
        ;
    if (B.w1.t == 0)
        phase_sample_end(bench_now_ns());
    report_print();
    /* A polite end of the stream; confabd reconnects unless it is stopped. */
    tx_put("</stream:stream>");
    io_flush();
    io_stop_spawned();
    close(B.fd);
    xstream_free(B.xs);
    stanzaid_free(B.sid);
    return B.failed ? 1 : 0;
}
