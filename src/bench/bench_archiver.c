/* confab-bench-archiver — plays the XMPP router for one confab-archiver and
 * measures its ingest (issue 5; scripts/bench-archiver.sh drives it).
 *
 * It listens where the archiver's [archiver] router points, completes the
 * server side of the XEP-0114 handshake, then sends compliance events
 * (<event type='groupchat'/> IQ sets, as confabd sends them: actor,
 * recipients, the forwarded message) from one sender domain, and times each
 * from its *scheduled* send to the archiver's `result` — which the archiver
 * sends only after the event's COMMIT. So the figures are durable ingest.
 *
 *   --rate R > 0   open loop: event i is due at start + i/R (latency includes
 *                  any lateness of ours: no coordinated omission); at most
 *                  --window events outstanding, later ones wait (and that
 *                  wait counts in their latency).
 *   --rate 0       closed loop: keep --window events outstanding; measures the
 *                  saturated throughput.
 *
 * Events sent during --warmup are not counted; after --duration it stops
 * sending and waits up to --drain seconds for the answers still due.
 * Output: a human report and one line "RESULT {json}". Single-threaded:
 * poll(2) on one socket. */
#include "compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "buf.h"
#include "component.h"
#include "mem.h"

#define NS_COMPLIANCE "urn:confab:compliance:0"

struct opts {
    const char *listen, *domain, *secret, *from, *label;
    double rate, duration, warmup, drain, accept_timeout;
    unsigned window, rooms, recipients, body_bytes;
};

static struct opts O = {
    .listen = "127.0.0.1:5347", .from = "conference.bench.local", .label = "",
    .rate = 0, .duration = 10, .warmup = 2, .drain = 10, .accept_timeout = 60,
    .window = 10000, .rooms = 100, .recipients = 5, .body_bytes = 64,
};

static struct {
    int fd;
    struct buf out;
    char *in;
    size_t in_len, in_cap;
    char stream_id[17];
    char uuid_prefix[32];         /* random per run: "xxxxxxxx-xxxx-4xxx-8xxx-" */
    char *body;
    int64_t *due;                 /* per event: when it was due (ns); -1 answered */
    size_t due_cap;
    uint64_t sent, answered, outstanding, errors;
    int64_t t0, t_measure, t_end;
    uint64_t measured_results;    /* results received within [t_measure, t_end) */
    uint64_t measured_sent;
    struct hist lat;              /* events due within [t_measure, t_end) */
    bool up;
    bool ready;                   /* a probe event was committed: the store is up */
    uint64_t probes;              /* probe events sent (answered before we start) */
} B;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("confab-bench-archiver: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void usage(FILE *f)
{
    fputs("usage: confab-bench-archiver --domain ARCHIVE_DOMAIN [options]\n"
          "Plays the XMPP router for confab-archiver and measures durable ingest.\n"
          "  --listen H:P       where the archiver's [archiver] router points (127.0.0.1:5347)\n"
          "  --domain D         the archiver's domain (events are sent to it)\n"
          "  --secret S         check the archiver's handshake against it (default: accept)\n"
          "  --from F           sender domain (default conference.bench.local)\n"
          "  --rate R           events/s offered, open loop; 0 = closed loop (default 0)\n"
          "  --window W         events outstanding at most (default 10000)\n"
          "  --duration S, --warmup S, --drain S   (10, 2, 10)\n"
          "  --rooms M, --recipients K, --body-bytes B   (100, 5, 64)\n"
          "  --label L          label in the report\n",
          f);
}

static double num(const char *s, const char *what)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (!*s || *end || v < 0)
        fail("%s takes a number >= 0", what);
    return v;
}

static void parse(int argc, char **argv)
{
    static const struct option lo[] = {
        { "listen", 1, NULL, 'l' },   { "domain", 1, NULL, 'd' },  { "secret", 1, NULL, 's' },
        { "from", 1, NULL, 'f' },     { "rate", 1, NULL, 'r' },    { "window", 1, NULL, 'w' },
        { "duration", 1, NULL, 'D' }, { "warmup", 1, NULL, 'W' },  { "drain", 1, NULL, 'x' },
        { "rooms", 1, NULL, 'm' },    { "recipients", 1, NULL, 'k' },
        { "body-bytes", 1, NULL, 'b' }, { "label", 1, NULL, 'L' }, { "help", 0, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'l': O.listen = optarg; break;
        case 'd': O.domain = optarg; break;
        case 's': O.secret = optarg; break;
        case 'f': O.from = optarg; break;
        case 'r': O.rate = num(optarg, "--rate"); break;
        case 'w': O.window = (unsigned)num(optarg, "--window"); break;
        case 'D': O.duration = num(optarg, "--duration"); break;
        case 'W': O.warmup = num(optarg, "--warmup"); break;
        case 'x': O.drain = num(optarg, "--drain"); break;
        case 'm': O.rooms = (unsigned)num(optarg, "--rooms"); break;
        case 'k': O.recipients = (unsigned)num(optarg, "--recipients"); break;
        case 'b': O.body_bytes = (unsigned)num(optarg, "--body-bytes"); break;
        case 'L': O.label = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (!O.domain)
        fail("%s", "--domain is required");
    if (O.window == 0 || O.rooms == 0)
        fail("%s", "--window and --rooms must be > 0");
}

/* ---- the socket ---- */

static int listen_on(const char *hp)
{
    char host[64];
    const char *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof host)
        fail("--listen %s: expected HOST:PORT", hp);
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        fail("--listen %s: not an IPv4 address", hp);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4) < 0)
        fail("cannot listen on %s", hp);
    return fd;
}

static void accept_one(int lfd)
{
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    if (poll(&p, 1, (int)(O.accept_timeout * 1000)) != 1)
        fail("%s", "the archiver did not connect in time");
    B.fd = accept(lfd, NULL, NULL);
    if (B.fd < 0)
        fail("%s", "accept failed");
    close(lfd);
    int one = 1;
    setsockopt(B.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(B.fd, F_SETFL, fcntl(B.fd, F_GETFL) | O_NONBLOCK);
}

static void flush_out(void)
{
    while (B.out.len) {
        ssize_t n = write(B.fd, B.out.data, B.out.len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0)
            fail("%s", "the archiver closed the connection");
        buf_consume(&B.out, (size_t)n);
    }
}

static bool read_in(void)
{
    if (B.in_cap - B.in_len < 65536) {
        B.in_cap = B.in_cap ? 2 * B.in_cap : 1 << 20;
        B.in = xrealloc(B.in, B.in_cap);
    }
    ssize_t n = read(B.fd, B.in + B.in_len, B.in_cap - B.in_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    if (n <= 0)
        fail("%s", "the archiver closed the connection");
    B.in_len += (size_t)n;
    return true;
}

static void consume(size_t n)
{
    memmove(B.in, B.in + n, B.in_len - n);
    B.in_len -= n;
}

/* ---- handshake ---- */

/* Skip "<?xml …?>" and "<stream:stream …>": the scanner takes stanzas only. */
static bool take_header(void)
{
    char *s = memmem(B.in, B.in_len, "<stream:stream", 14);
    char *gt = s ? memchr(s, '>', (size_t)(B.in + B.in_len - s)) : NULL;
    if (!gt)
        return false;
    consume((size_t)(gt + 1 - B.in));
    unsigned char r[8];
    if (RAND_bytes(r, sizeof r) != 1)
        abort();
    for (int i = 0; i < 8; i++)
        snprintf(B.stream_id + 2 * i, 3, "%02x", r[i]);
    buf_printf(&B.out, "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
               "xmlns:stream='http://etherx.jabber.org/streams' from='%s' id='%s'>",
               O.domain, B.stream_id);
    return true;
}

static void on_handshake(const struct stz *st)
{
    if (!span_eq(st->name, "handshake"))
        fail("%s", "expected <handshake/> from the archiver");
    if (O.secret) {
        char want[41];
        component_handshake_digest(B.stream_id, O.secret, want);
        /* The digest is the element's text: find it after the start tag. */
        if (!memmem(st->name.p, (size_t)(B.in + B.in_len - st->name.p), want, 40))
            fail("%s", "the archiver's handshake digest does not match --secret");
    }
    buf_puts(&B.out, "<handshake/>");
    B.up = true;
}

/* ---- events ---- */

/* The wall clock as XEP-0082 (bench_now_ns is monotonic: for intervals). */
static void stamp(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ns / 1000000 % 1000));
}

static void send_event(uint64_t i, int64_t due)
{
    if (i >= B.due_cap) {
        B.due_cap = B.due_cap ? 2 * B.due_cap : 1 << 20;
        B.due = xrealloc(B.due, B.due_cap * sizeof *B.due);
    }
    B.due[i] = due;
    char when[32];
    stamp(when);
    unsigned room = (unsigned)(i % O.rooms), user = (unsigned)(i / O.rooms % 50);
    buf_printf(&B.out,
               "<iq type='set' id='e%" PRIu64 "' from='%s' to='%s'><event xmlns='" NS_COMPLIANCE
               "' id='%s%012" PRIx64 "' type='groupchat' time='%s' room='room%u@%s'>"
               "<actor jid='user%u@bench.local/r' nick='user%u' role='participant' "
               "affiliation='member'/><recipients>",
               i, O.from, O.domain, B.uuid_prefix, i, when, room, O.from, user, user);
    for (unsigned k = 0; k < O.recipients; k++)
        buf_printf(&B.out, "<recipient jid='user%u@bench.local/r'/>", (user + k) % 50);
    buf_printf(&B.out, "</recipients><forwarded xmlns='urn:xmpp:forward:0'>"
               "<message xmlns='jabber:client' from='room%u@%s/user%u' type='groupchat' "
               "id='m%" PRIu64 "'><body>%s %" PRIu64 "</body></message></forwarded></event></iq>",
               room, O.from, user, i, B.body, i);
    B.sent++;
    B.outstanding++;
    if (due >= B.t_measure && due < B.t_end)
        B.measured_sent++;
}

/* Before measuring: one event at a time until the archiver commits one
 * (right after start it answers wait until its database is connected). */
static void on_probe(const struct stz *st)
{
    if (st->kind == STZ_IQ && span_prefix(st->id, "p")) {
        B.outstanding = 0;
        B.ready = span_eq(st->type, "result");
    }
}

static void send_probe(void)
{
    char when[32];
    stamp(when);
    buf_printf(&B.out,
               "<iq type='set' id='p%" PRIu64 "' from='%s' to='%s'><event xmlns='"
               NS_COMPLIANCE "' id='%s%012" PRIx64 "' type='join' time='%s' "
               "room='probe@%s'><actor jid='probe@bench.local/r'/></event></iq>",
               B.probes, O.from, O.domain, B.uuid_prefix, UINT64_C(0xf00000000000) + B.probes,
               when, O.from);
    B.probes++;
    B.outstanding = 1;
}

static void on_answer(const struct stz *st, int64_t now)
{
    uint64_t i;
    if (!B.ready) {
        on_probe(st);
        return;
    }
    if (st->kind != STZ_IQ || !span_prefix(st->id, "e") || !span_u64(st->id, 1, &i, NULL) ||
        i >= B.sent || B.due[i] < 0)
        return; /* not one of ours (or answered twice): ignore */
    int64_t due = B.due[i];
    B.due[i] = -1;
    B.outstanding--;
    B.answered++;
    if (!span_eq(st->type, "result")) {
        B.errors++;
        return;
    }
    if (now >= B.t_measure && now < B.t_end)
        B.measured_results++;
    if (due >= B.t_measure && due < B.t_end)
        hist_add(&B.lat, (uint64_t)(now - due));
}

static void scan_input(int64_t now)
{
    size_t off = 0;
    for (;;) {
        struct stz st;
        long n = scan_stanza(B.in + off, B.in_len - off, &st);
        if (n == 0)
            break;
        if (n < 0)
            fail("%s", n == -2 ? "the archiver closed its stream" : "unexpected input");
        if (st.kind != STZ_NONE) {
            if (!B.up)
                on_handshake(&st);
            else
                on_answer(&st, now);
        }
        off += (size_t)n;
    }
    consume(off);
}

/* ---- main loop ---- */

static void send_due(int64_t now)
{
    if (now >= B.t_end)
        return;
    while (B.outstanding < O.window && B.out.len < (4u << 20)) {
        int64_t due = now;
        if (O.rate > 0) {
            due = B.t0 + (int64_t)((double)B.sent * 1e9 / O.rate);
            if (due > now)
                break;
        }
        send_event(B.sent, due);
    }
}

static void report(void)
{
    double secs = (double)(B.t_end - B.t_measure) / 1e9;
    double rate = (double)B.measured_results / secs;
    uint64_t p50 = hist_pct(&B.lat, 50), p99 = hist_pct(&B.lat, 99), mx = B.lat.max;
    printf("archiver ingest%s%s: %s\n", *O.label ? " " : "", O.label,
           O.rate > 0 ? "open loop" : "closed loop");
    if (O.rate > 0)
        printf("  offered          %.0f events/s (window %u)\n", O.rate, O.window);
    else
        printf("  window           %u events outstanding\n", O.window);
    printf("  committed        %.0f events/s over %.1f s (%" PRIu64 " results)\n", rate, secs,
           B.measured_results);
    printf("  latency          p50 %.2f ms  p99 %.2f ms  max %.2f ms (%" PRIu64
           " events due in the window)\n", (double)p50 / 1e6, (double)p99 / 1e6,
           (double)mx / 1e6, B.lat.count);
    printf("  totals           sent %" PRIu64 ", answered %" PRIu64 ", errors %" PRIu64
           ", unanswered %" PRIu64 "\n", B.sent, B.answered, B.errors, B.outstanding);
    printf("RESULT {\"label\":\"%s\",\"mode\":\"%s\",\"offered\":%.0f,\"window\":%u,"
           "\"events_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
           "\"sent\":%" PRIu64 ",\"answered\":%" PRIu64 ",\"errors\":%" PRIu64
           ",\"unanswered\":%" PRIu64 "}\n",
           O.label, O.rate > 0 ? "open" : "closed", O.rate, O.window, rate, (double)p50 / 1e6,
           (double)p99 / 1e6, (double)mx / 1e6, B.sent, B.answered, B.errors, B.outstanding);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    parse(argc, argv);
    hist_init(&B.lat);
    buf_init(&B.out);
    B.body = xcalloc(O.body_bytes + 1, 1);
    memset(B.body, 'x', O.body_bytes);
    unsigned char r[8];
    if (RAND_bytes(r, sizeof r) != 1)
        abort();
    snprintf(B.uuid_prefix, sizeof B.uuid_prefix, "%02x%02x%02x%02x-%02x%02x-4%x%02x-8%x%02x-",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6] & 0xf, r[7], r[6] >> 4, r[3] ^ r[5]);
    accept_one(listen_on(O.listen));
    bool header = false;
    int64_t drain_end = 0;
    for (;;) {
        int64_t now = bench_now_ns();
        if (B.up && !B.ready) {
            if (B.outstanding == 0) {
                if (B.probes)
                    usleep(100000);
                if (B.probes > 600)
                    fail("%s", "the archiver never committed a probe event (database down?)");
                send_probe();
            }
        } else if (B.up && !B.t0) {
            B.t0 = now;
            B.t_measure = now + (int64_t)(O.warmup * 1e9);
            B.t_end = B.t_measure + (int64_t)(O.duration * 1e9);
            drain_end = B.t_end + (int64_t)(O.drain * 1e9);
        }
        if (B.t0) {
            send_due(now);
            if (now >= B.t_end && (B.outstanding == 0 || now >= drain_end))
                break;
        }
        flush_out();
        struct pollfd p = { .fd = B.fd, .events = POLLIN | (B.out.len ? POLLOUT : 0) };
        int timeout = B.up && O.rate > 0 ? 1 : 100;
        if (poll(&p, 1, timeout) < 0 && errno != EINTR)
            fail("%s", "poll failed");
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            while (read_in()) {
            }
            if (!header)
                header = take_header();
            if (header)
                scan_input(bench_now_ns());
        }
    }
    report();
    close(B.fd);
    return B.errors || B.outstanding ? 3 : 0;
}
