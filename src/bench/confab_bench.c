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
 * "RESULT {json}". See docs/benchmarks.md. */
#include "compat.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "buf.h"
#include "cfg.h"
#include "component.h"
#include "mem.h"
#include "stanza.h"
#include "xml.h"
#include "xstream.h"

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_MAM "urn:xmpp:mam:2"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define SEC 1000000000LL
#define MS 1000000LL

/* ------------------------------------------------------------------ options */

enum scenario { SC_ROOMS, SC_MAM, SC_STARTUP };

static struct opts {
    const char *config;
    const char *listen_host;
    unsigned listen_port;
    const char *domain;           /* confabd's MUC domain */
    const char *secret;
    const char *user_domain;
    const char *room_prefix;
    const char *label;
    enum scenario scenario;
    const char *scenario_name;
    unsigned rooms;
    unsigned users;               /* 0: rooms * occupants */
    unsigned occupants;
    unsigned senders;             /* 0: every user */
    double rate;                  /* groupchat messages per second, all senders */
    double duration;
    double warmup;
    double drain;
    bool poisson;
    unsigned body_bytes;
    bool persistent;
    bool existing_rooms;
    int history;                  /* <history maxstanzas/>; -1 = none sent */
    unsigned prefill;
    double join_rate;             /* 0 = all at once */
    unsigned setup_window;
    double phase_timeout;
    const char *mam_room;
    double mam_rate;
    unsigned mam_max;
    uint64_t mam_messages;
    const char *mam_mode;
    const char *probe_room;
    unsigned touch;
    unsigned settle_ms;
    bool xstream_parser;
    pid_t pid;
    pid_t pg_pid;
    char **spawn_argv;
    const char *spawn_log;
    bool quiet;
    unsigned seed;
} O = {
    .listen_host = "127.0.0.1", .user_domain = "bench.local", .room_prefix = "room",
    .label = "", .scenario = SC_ROOMS, .scenario_name = "chat", .rooms = 10, .occupants = 10,
    .rate = 1000, .duration = 10, .warmup = 2, .drain = 10, .body_bytes = 64, .history = -1,
    .setup_window = 256, .phase_timeout = 300, .mam_rate = 100, .mam_max = 50,
    .mam_mode = "random", .touch = 0, .settle_ms = 1000, .seed = 1,
};

/* ------------------------------------------------------------------ state */

enum phase {
    PH_ACCEPT, PH_HANDSHAKE, PH_SETUP, PH_PREFILL, PH_JOIN, PH_CHAT, PH_DRAIN, PH_MAM_JOIN,
    PH_MAM, PH_PROBE, PH_SETTLE1, PH_TOUCH, PH_SETTLE2, PH_DONE,
};
static const char *const phase_names[] = {
    "accept", "handshake", "setup", "prefill", "join", "chat", "drain", "mam-join", "mam",
    "probe", "settle", "touch", "settle", "done",
};

enum ustate { U_IDLE, U_JOINING, U_JOINED, U_FAILED };
enum rstate { R_NEW, R_JOINING, R_CONFIG, R_READY, R_FAILED };

struct user {
    uint32_t room;
    uint8_t state;
    bool self_seen;
    bool created;
    int64_t join_sched;
    uint32_t hist;                /* history messages received while joining */
};

struct room {
    uint8_t state;
    uint32_t nocc;                /* users assigned */
    uint32_t joined;
    uint32_t nsend;               /* senders among them */
    uint64_t row_bits;            /* bits per recipient: sum of its senders' plans */
    uint64_t row_words;
    uint64_t *bits;               /* received: [local recipient][sender off + seq - 1] */
    uint32_t *last;               /* highest seq seen: [local recipient][local sender] */
    uint32_t prefill_left;
};

struct sender {
    uint32_t planned;
    uint32_t sent;
    uint64_t bit_off;
    uint32_t local;               /* index among its room's senders */
    uint64_t *rejected;           /* bitmap of seq - 1 */
};

struct mamq {
    int64_t sched;
    uint32_t results;
    bool done;
};

static struct bench {
    int lfd, fd;
    pid_t pid;                    /* confabd */
    bool spawned;
    int64_t t_spawn, t_accept, t_up;
    enum phase phase;
    int64_t phase_start;
    char stream_id[40];
    struct xstream *xs;           /* handshake, and every stanza with --parser xstream */
    bool failed;
    char fail_reason[512];
    /* I/O */
    struct buf out;
    size_t out_off;
    char *rbuf;
    size_t rlen, rcap;
    uint64_t bytes_in, bytes_out, stanzas_in;
    /* model */
    unsigned N, M, S;
    struct user *users;
    struct room *rooms;
    struct sender *senders;
    uint64_t k_total, k_next;     /* chat schedule */
    int64_t chat_t0;
    double next_gap_ns;
    int64_t next_sched;
    unsigned setup_next, setup_inflight, rooms_done;
    unsigned join_next, joins_done, joins_failed, join_total;
    int64_t join_t0, join_last_done;
    uint64_t prefill_left;
    /* counters */
    uint64_t sent_msgs, reflected, reflected_win, deliveries, deliveries_win, fanout_copies;
    uint64_t expected, received_unique, dup, reordered, misrouted, rejected_msgs;
    uint64_t presence_in, history_in, errors_other, unknown_in, subjects;
    uint64_t hist_setup, hist_join;   /* history messages received by completed joins */
    unsigned setup_joins_ok;
    uint64_t reject_by_cond[4];   /* resource-constraint, not-acceptable, forbidden, other */
    struct hist lat_all, lat_reflect, lat_fanout, lat_join, lat_setup, lag, lat_mam, tick;
    uint64_t tick_deliv, tick_refl, tick_sent;
    int64_t next_tick, win_start, win_end;
    bool win_started, win_ended;
    struct proc_sample cd0, cd1, pg0, pg1;
    double self0, self1, busy0, busy1;
    int64_t cd_t0, cd_t1;
    /* mam */
    struct mamq *mq;
    uint64_t mq_total, mq_next, mq_done, mq_errors, mq_short, mam_results;
    int64_t mam_t0;
    bool mam_joined, mam_sid_ok, mam_sid_checked;
    char mam_walk_id[64];
    unsigned char sid_key[32];
    char *mam_room_jid;
    /* startup */
    int64_t t_first_served, probe_next;
    unsigned probes;
    struct proc_sample rss_start, rss_touched;
    unsigned touch_next, touch_done;
    int64_t settle_until;
} B;

/* ------------------------------------------------------------------ helpers */

static void fail(const char *fmt, ...) PRINTF(1, 2);
static void fail(const char *fmt, ...)
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

static void note(const char *fmt, ...) PRINTF(1, 2);
static void note(const char *fmt, ...)
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

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void set_phase(enum phase p, int64_t now)
{
    B.phase = p;
    B.phase_start = now;
    note("phase %s", phase_names[p]);
}

static bool bit_get(const uint64_t *w, uint64_t i)
{
    return (w[i >> 6] >> (i & 63)) & 1;
}

static void bit_set(uint64_t *w, uint64_t i)
{
    w[i >> 6] |= (uint64_t)1 << (i & 63);
}

static void put(const char *fmt, ...) PRINTF(1, 2);
static void put(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        buf_append(&B.out, tmp, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf_append(&B.out, big, (size_t)n);
    free(big);
}

/* ------------------------------------------------------------------ XMPP out */

static void user_jid(char *out, size_t n, unsigned u)
{
    snprintf(out, n, "user%u@%s/r", u, O.user_domain);
}

static void room_jid(char *out, size_t n, unsigned r)
{
    snprintf(out, n, "%s%u@%s", O.room_prefix, r, O.domain);
}

static void send_join_to(const char *from, const char *room, const char *nick, int history)
{
    if (history >= 0)
        put("<presence from='%s' to='%s/%s'><x xmlns='" NS_MUC "'><history maxstanzas='%d'/>"
            "</x></presence>", from, room, nick, history);
    else
        put("<presence from='%s' to='%s/%s'><x xmlns='" NS_MUC "'/></presence>", from, room,
            nick);
}

static void send_join(unsigned u, int64_t sched)
{
    char from[128], room[256], nick[32];
    user_jid(from, sizeof from, u);
    room_jid(room, sizeof room, B.users[u].room);
    snprintf(nick, sizeof nick, "nick%u", u);
    B.users[u].state = U_JOINING;
    B.users[u].join_sched = sched;
    B.users[u].self_seen = false;
    send_join_to(from, room, nick, O.history);
}

static void send_config(unsigned r)
{
    char from[128], room[256];
    user_jid(from, sizeof from, r);
    room_jid(room, sizeof room, r);
    put("<iq type='set' id='cfg%u' from='%s' to='%s'><query xmlns='" NS_MUC_OWNER "'>"
        "<x xmlns='jabber:x:data' type='submit'>"
        "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
        "<field var='muc#roomconfig_persistentroom'><value>%d</value></field>"
        "<field var='muc#roomconfig_enablelogging'><value>1</value></field>"
        "<field var='muc#roomconfig_publicroom'><value>1</value></field>"
        "</x></query></iq>", r, from, room, O.persistent ? 1 : 0);
}

/* Words for bodies: varied enough that full-text indexing does real work. */
static const char *const words[] = {
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu",
};

static void pad_body(struct buf *b, size_t have, uint64_t salt)
{
    uint64_t x = salt * 0x9E3779B97F4A7C15ull + 1;
    while (have < O.body_bytes) {
        x ^= x >> 13;
        x *= 0xff51afd7ed558ccdull;
        const char *w = words[(x >> 33) % ARRAY_SIZE(words)];
        size_t wl = strlen(w);
        if (have + wl + 1 > O.body_bytes) {
            for (; have < O.body_bytes; have++)
                buf_putc(b, 'x');
            break;
        }
        buf_putc(b, ' ');
        buf_puts(b, w);
        have += wl + 1;
    }
}

/* kind "cb" (chat, measured) or "pf" (prefill history). */
static void send_groupchat(unsigned u, const char *kind, uint64_t seq, int64_t sched)
{
    char from[128], room[256], head[96];
    user_jid(from, sizeof from, u);
    room_jid(room, sizeof room, B.users[u].room);
    put("<message from='%s' to='%s' type='groupchat' id='b%u-%" PRIu64 "'><body>", from, room,
        u, seq);
    int hl = snprintf(head, sizeof head, "%s %u %" PRIu64 " %" PRId64, kind, u, seq, sched);
    buf_append(&B.out, head, (size_t)hl);
    pad_body(&B.out, (size_t)hl, (uint64_t)u << 32 ^ seq);
    buf_puts(&B.out, "</body></message>");
    B.sent_msgs++;
}

/* ------------------------------------------------------------------ MAM ids */

/* A replica of muc.c's stanza-id scheme (occupant key from the component
 * secret, HMAC-SHA256 "stanza-id", AES-256-ECB of seq and a room tag), so that
 * random pages can start anywhere in a big archive. It is checked against the
 * <last/> id confabd returns for the newest message before it is trusted;
 * when it does not match, the bench walks pages backwards instead. */
static void sid_init(void)
{
    unsigned char key[32];
    unsigned int len = 0;
    static const char label[] = "confab occupant-id v1";
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, label, sizeof label) ||
        !EVP_DigestUpdate(ctx, O.domain, strlen(O.domain) + 1) ||
        !EVP_DigestUpdate(ctx, O.secret, strlen(O.secret)) || !EVP_DigestFinal_ex(ctx, key, &len))
        abort();
    EVP_MD_CTX_free(ctx);
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)"stanza-id", 9, B.sid_key, &len);
}

static void sid_encode(const char *room, uint64_t seq, char out[33])
{
    unsigned char in[16], ct[16], md[32];
    for (int i = 0; i < 8; i++)
        in[i] = (unsigned char)(seq >> (56 - 8 * i));
    SHA256((const unsigned char *)room, strlen(room), md);
    memcpy(in + 8, md, 8);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    if (!ctx || !EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, B.sid_key, NULL) ||
        !EVP_CIPHER_CTX_set_padding(ctx, 0) || !EVP_EncryptUpdate(ctx, ct, &n, in, 16))
        abort();
    EVP_CIPHER_CTX_free(ctx);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", ct[i]);
}

static const char MAM_READER[] = "mamreader";

static void send_mam_query(uint64_t k, const char *before, const char *after)
{
    put("<iq type='set' id='q%" PRIu64 "' from='%s@%s/r' to='%s'><query xmlns='" NS_MAM
        "' queryid='%" PRIu64 "'><set xmlns='" NS_RSM "'><max>%u</max>", k, MAM_READER,
        O.user_domain, B.mam_room_jid, k, O.mam_max);
    if (before)
        put("<before>%s</before>", before);
    if (after)
        put("<after>%s</after>", after);
    put("</set></query></iq>");
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
    note("model: %u users, %u rooms, %u senders, %" PRIu64 " messages planned, "
         "%.1f MiB of receipt bitmaps", B.N, B.M, B.S, B.k_total, (double)mem / 1048576.0);
}

/* "user<i>@domain/r" -> i */
static bool parse_user(struct span to, unsigned *u)
{
    uint64_t v;
    size_t end;
    if (!span_prefix(to, "user") || !span_u64(to, 4, &v, &end) || end >= to.n ||
        to.p[end] != '@' || v >= B.N)
        return false;
    *u = (unsigned)v;
    return true;
}

static bool is_mam_reader(struct span to)
{
    return span_prefix(to, MAM_READER) && to.n > sizeof MAM_READER - 1 &&
           to.p[sizeof MAM_READER - 1] == '@';
}

static bool is_probe(struct span to)
{
    return span_prefix(to, "probe") || span_prefix(to, "touch");
}

/* Body "cb|pf <user> <seq> <sched-ns> ..." */
static bool parse_body(struct span body, char *kind, unsigned *u, uint64_t *seq, int64_t *sched)
{
    if (body.n < 3 || body.p[2] != ' ')
        return false;
    if (body.p[0] == 'c' && body.p[1] == 'b')
        *kind = 'c';
    else if (body.p[0] == 'p' && body.p[1] == 'f')
        *kind = 'p';
    else
        return false;
    uint64_t v, s, t;
    size_t e;
    if (!span_u64(body, 3, &v, &e) || e + 1 >= body.n || !span_u64(body, e + 1, &s, &e) ||
        e + 1 >= body.n || !span_u64(body, e + 1, &t, &e))
        return false;
    *u = (unsigned)v;
    *seq = s;
    *sched = (int64_t)t;
    return true;
}

/* ------------------------------------------------------------------ accounting */

static void join_done(unsigned u, bool ok, int64_t now)
{
    struct user *us = &B.users[u];
    if (us->state != U_JOINING)
        return;
    us->state = ok ? U_JOINED : U_FAILED;
    struct room *r = &B.rooms[us->room];
    bool owner = u < B.M;
    if (ok)
        r->joined++;
    if (owner && r->state == R_JOINING) {
        hist_add(&B.lat_setup, (uint64_t)(now - us->join_sched));
        if (ok) {
            B.setup_joins_ok++;
            B.hist_setup += us->hist;
        }
        B.setup_inflight--;
        if (!ok) {
            r->state = R_FAILED;
            B.rooms_done++;
        } else if (us->created) {
            /* A new room is locked until its owner configures it (§10.1). */
            r->state = R_CONFIG;
            B.setup_inflight++;
            send_config(us->room);
        } else {
            r->state = R_READY;
            B.rooms_done++;
        }
        return;
    }
    if (B.phase == PH_JOIN || B.phase == PH_SETUP) {
        if (ok) {
            hist_add(&B.lat_join, (uint64_t)(now - us->join_sched));
            B.hist_join += us->hist;
        } else
            B.joins_failed++;
        B.joins_done++;
        B.join_last_done = now;
    }
}

static unsigned cond_slot(struct span c)
{
    if (span_eq(c, "resource-constraint"))
        return 0;
    if (span_eq(c, "not-acceptable"))
        return 1;
    if (span_eq(c, "forbidden"))
        return 2;
    return 3;
}

static void on_chat_copy(unsigned to, unsigned from, uint64_t seq, int64_t sched, int64_t now)
{
    if (from >= B.S || B.users[from].room != B.users[to].room || seq == 0 ||
        seq > B.senders[from].planned) {
        B.misrouted++;
        return;
    }
    struct sender *sd = &B.senders[from];
    struct room *r = &B.rooms[B.users[to].room];
    uint32_t local = to / B.M;
    uint64_t *row = r->bits + (size_t)local * r->row_words;
    uint64_t bit = sd->bit_off + seq - 1;
    B.deliveries++;
    B.tick_deliv++;
    if (now >= B.win_start && now < B.win_end)
        B.deliveries_win++;
    enum acct_mark m = acct_mark(row, bit, &r->last[(size_t)local * r->nsend + sd->local], seq);
    if (m == ACCT_DUP) {
        B.dup++;
        return;
    }
    B.received_unique++;
    if (m == ACCT_REORDERED)
        B.reordered++;
    uint64_t lat = now > sched ? (uint64_t)(now - sched) : 0;
    bool measured = sched >= B.win_start && sched < B.win_end;
    if (to == from) {
        B.reflected++;
        B.tick_refl++;
        if (now >= B.win_start && now < B.win_end)
            B.reflected_win++;
        if (measured)
            hist_add(&B.lat_reflect, lat);
    } else {
        B.fanout_copies++;
        if (measured)
            hist_add(&B.lat_fanout, lat);
    }
    if (measured) {
        hist_add(&B.lat_all, lat);
        hist_add(&B.tick, lat);
    }
}

static void on_message(const struct stz *st, int64_t now)
{
    unsigned u;
    bool user = parse_user(st->to, &u);
    if (st->has_result) {
        B.mam_results++;
        uint64_t q;
        if (st->queryid.p && span_u64(st->queryid, 0, &q, NULL) && q < B.mq_total)
            B.mq[q].results++;
        return;
    }
    if (span_eq(st->type, "error")) {
        char kind;
        unsigned from;
        uint64_t seq;
        int64_t sched;
        if (st->has_body && parse_body(st->body, &kind, &from, &seq, &sched) && kind == 'c' &&
            from < B.S && seq >= 1 && seq <= B.senders[from].planned) {
            if (!bit_get(B.senders[from].rejected, seq - 1)) {
                bit_set(B.senders[from].rejected, seq - 1);
                B.rejected_msgs++;
                B.expected -= B.rooms[B.users[from].room].joined;
                B.reject_by_cond[cond_slot(st->error_cond)]++;
            }
        } else if (st->has_body && parse_body(st->body, &kind, &from, &seq, &sched) &&
                   kind == 'p' && from < B.M) {
            B.rejected_msgs++;
            B.reject_by_cond[cond_slot(st->error_cond)]++;
            if (B.rooms[B.users[from].room].prefill_left) {
                B.rooms[B.users[from].room].prefill_left--;
                B.prefill_left--;
            }
        } else if (!st->has_body && span_prefix(st->id, "b") &&
                   span_u64(st->id, 1, &seq, NULL)) {
            /* confabd's error replies do not echo the body: the id is b<user>-<seq>. */
            uint64_t fu, sq;
            size_t e;
            if (span_u64(st->id, 1, &fu, &e) && e + 1 < st->id.n && st->id.p[e] == '-' &&
                span_u64(st->id, e + 1, &sq, NULL) && fu < B.S && sq >= 1 &&
                sq <= B.senders[fu].planned && B.phase != PH_PREFILL) {
                if (!bit_get(B.senders[fu].rejected, sq - 1)) {
                    bit_set(B.senders[fu].rejected, sq - 1);
                    B.rejected_msgs++;
                    B.expected -= B.rooms[B.users[fu].room].joined;
                    B.reject_by_cond[cond_slot(st->error_cond)]++;
                }
            } else {
                B.errors_other++;
            }
        } else {
            B.errors_other++;
        }
        return;
    }
    if (st->has_subject && !st->has_body) {
        B.subjects++;
        if (user)
            join_done(u, B.users[u].self_seen, now);
        else if (is_mam_reader(st->to))
            B.mam_joined = true;
        return;
    }
    if (!st->has_body) {
        B.unknown_in++;
        return;
    }
    if (st->has_delay) {
        B.history_in++;
        if (user && B.users[u].state == U_JOINING)
            B.users[u].hist++;
        return;
    }
    char kind;
    unsigned from;
    uint64_t seq;
    int64_t sched;
    if (!user || !parse_body(st->body, &kind, &from, &seq, &sched)) {
        B.unknown_in++;
        return;
    }
    if (kind == 'c') {
        on_chat_copy(u, from, seq, sched, now);
    } else if (from == u && from < B.M && B.rooms[B.users[from].room].prefill_left) {
        B.rooms[B.users[from].room].prefill_left--;
        B.prefill_left--;
    }
}

static void on_presence(const struct stz *st, int64_t now)
{
    B.presence_in++;
    unsigned u;
    if (!parse_user(st->to, &u)) {
        if (is_probe(st->to)) {
            if (span_eq(st->type, "error"))
                B.errors_other++;
            else if (st->status110 && B.phase == PH_TOUCH)
                B.touch_done++;
        }
        return;
    }
    struct user *us = &B.users[u];
    if (us->state != U_JOINING)
        return;
    if (span_eq(st->type, "error")) {
        join_done(u, false, now);
        return;
    }
    if (st->status110) {
        us->self_seen = true;
        if (st->status201)
            us->created = true;
    }
}

static void on_iq(const struct stz *st, int64_t now)
{
    uint64_t v;
    bool err = span_eq(st->type, "error");
    if (span_prefix(st->id, "probe")) {
        if (!(err && span_eq(st->error_cond, "resource-constraint")) && !B.t_first_served)
            B.t_first_served = now;
        return;
    }
    if (span_prefix(st->id, "cfg") && span_u64(st->id, 3, &v, NULL) && v < B.M) {
        struct room *r = &B.rooms[v];
        if (r->state == R_CONFIG) {
            r->state = err ? R_FAILED : R_READY;
            B.rooms_done++;
            B.setup_inflight--;
        }
        return;
    }
    if (span_prefix(st->id, "q") && span_u64(st->id, 1, &v, NULL) && v < B.mq_total) {
        struct mamq *q = &B.mq[v];
        if (q->done)
            return;
        q->done = true;
        B.mq_done++;
        if (err || !st->has_fin) {
            B.mq_errors++;
            return;
        }
        hist_add(&B.lat_mam, (uint64_t)(now - q->sched));
        if (q->results < O.mam_max)
            B.mq_short++;
        if (!B.mam_sid_checked && st->last.p) {
            /* The first page is the newest: its last id is that of seq = archive size. */
            char id[33];
            sid_encode(B.mam_room_jid, O.mam_messages, id);
            B.mam_sid_checked = true;
            B.mam_sid_ok = span_eq(st->last, id);
            if (!B.mam_sid_ok && strcmp(O.mam_mode, "random") == 0)
                note("stanza-id replica does not match confabd's (or --mam-messages is not "
                     "the archive size): walking pages backwards instead of random pages");
        }
        if (st->first.p && st->first.n < sizeof B.mam_walk_id) {
            memcpy(B.mam_walk_id, st->first.p, st->first.n);
            B.mam_walk_id[st->first.n] = '\0';
        }
        return;
    }
    if (err)
        B.errors_other++;
    else
        B.unknown_in++;
}

static void on_stz(const struct stz *st, int64_t now)
{
    B.stanzas_in++;
    switch (st->kind) {
    case STZ_MESSAGE:
        on_message(st, now);
        break;
    case STZ_PRESENCE:
        on_presence(st, now);
        break;
    case STZ_IQ:
        on_iq(st, now);
        break;
    case STZ_OTHER:
        if (span_prefix(st->name, "stream:error") || span_eq(st->name, "error"))
            fail("confabd sent a stream error");
        else
            B.unknown_in++;
        break;
    case STZ_NONE:
        break;
    }
}

/* ------------------------------------------------------------------ xstream path */

static int64_t xs_now;

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
        fail("confabd opened a stream for '%s', expected '%s'", to ? to : "", O.domain);
        return;
    }
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        abort();
    for (int i = 0; i < 8; i++)
        snprintf(B.stream_id + 2 * i, 3, "%02x", rnd[i]);
    put("<?xml version='1.0'?><stream:stream xmlns='" NS_COMPONENT "' xmlns:stream='" NS_STREAMS
        "' from='%s' id='%s'>", O.domain, B.stream_id);
}

static void xs_handshake(struct xml_node *st)
{
    char *got = xml_text(st);
    char want[41];
    component_handshake_digest(B.stream_id, O.secret, want);
    if (strcmp(got, want) != 0) {
        put("<stream:error><not-authorized xmlns='" NS_XMPP_STREAMS "'/></stream:error>"
            "</stream:stream>");
        fail("confabd's handshake digest does not match the secret");
    } else {
        put("<handshake/>");
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
            fail("expected <handshake/>, got <%s/>", n->name);
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
    on_stz(&st, xs_now);
    free(body);
    free(first);
    free(last);
}

static void xs_close(void *ud)
{
    fail("confabd closed the stream");
}

static void xs_error(void *ud, const char *cond, const char *text)
{
    fail("stream from confabd is broken: %s (%s)", cond, text ? text : "");
}

static const struct xstream_handler xs_handler = {
    .open = xs_open, .stanza = xs_stanza, .close = xs_close, .error = xs_error,
};

/* ------------------------------------------------------------------ I/O */

static void consume_input(int64_t now)
{
    /* The handshake always goes through expat; confabd sends nothing after its
     * <handshake/> until our answer, so no stanza bytes are in that buffer. */
    if (B.phase == PH_HANDSHAKE || O.xstream_parser) {
        xs_now = now;
        (void)xstream_feed(B.xs, B.rbuf, B.rlen);
        B.rlen = 0;
        return;
    }
    size_t off = 0;
    while (off < B.rlen && !B.failed) {
        struct stz st;
        long r = scan_stanza(B.rbuf + off, B.rlen - off, &st);
        if (r == 0)
            break;
        if (r == -2) {
            fail("confabd closed the stream");
            break;
        }
        if (r < 0) {
            fail("unexpected input from confabd near: %.80s", B.rbuf + off);
            break;
        }
        off += (size_t)r;
        if (st.kind != STZ_NONE)
            on_stz(&st, now);
    }
    if (off) {
        memmove(B.rbuf, B.rbuf + off, B.rlen - off);
        B.rlen -= off;
    }
}

static void read_input(void)
{
    for (int rounds = 0; rounds < 32 && !B.failed; rounds++) {
        if (B.rcap - B.rlen < 65536) {
            B.rcap *= 2;
            B.rbuf = xrealloc(B.rbuf, B.rcap);
        }
        ssize_t n = read(B.fd, B.rbuf + B.rlen, B.rcap - B.rlen);
        if (n == 0) {
            fail("confabd closed the connection");
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            fail("read: %s", strerror(errno));
            return;
        }
        B.bytes_in += (uint64_t)n;
        B.rlen += (size_t)n;
        consume_input(bench_now_ns());
        if ((size_t)n < 65536)
            return;
    }
}

static void flush_output(void)
{
    while (B.out_off < B.out.len) {
        ssize_t n = write(B.fd, B.out.data + B.out_off, B.out.len - B.out_off);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                fail("write: %s", strerror(errno));
            break;
        }
        B.out_off += (size_t)n;
        B.bytes_out += (uint64_t)n;
    }
    if (B.out_off == B.out.len) {
        buf_reset(&B.out);
        B.out_off = 0;
    } else if (B.out_off > (1u << 20)) {
        buf_consume(&B.out, B.out_off);
        B.out_off = 0;
    }
    if (B.out.len > ((size_t)1 << 30))
        fail("more than 1 GiB queued for confabd: it stopped reading");
}

static int listen_on(const char *host, unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "confab-bench: bad listen address %s (IPv4 loopback expected)\n", host);
        exit(2);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4) < 0) {
        fprintf(stderr, "confab-bench: cannot listen on %s:%u: %s\n", host, port,
                strerror(errno));
        exit(1);
    }
    return fd;
}

static void spawn_confabd(void)
{
    B.t_spawn = bench_now_ns();
    pid_t p = fork();
    if (p < 0) {
        perror("confab-bench: fork");
        exit(1);
    }
    if (p == 0) {
        if (O.spawn_log) {
            int lf = open(O.spawn_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (lf >= 0) {
                dup2(lf, 1);
                dup2(lf, 2);
                close(lf);
            }
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        close(B.lfd);
        execvp(O.spawn_argv[0], O.spawn_argv);
        perror("confab-bench: exec");
        _exit(127);
    }
    B.pid = p;
    B.spawned = true;
    note("started %s as pid %d", O.spawn_argv[0], (int)p);
}

static void stop_spawned(void)
{
    if (!B.spawned || B.pid <= 0)
        return;
    kill(B.pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        int status;
        pid_t r = waitpid(B.pid, &status, WNOHANG);
        if (r == B.pid) {
            B.spawned = false;
            return;
        }
        usleep(50000);
    }
    kill(B.pid, SIGKILL);
    waitpid(B.pid, NULL, 0);
    B.spawned = false;
}

/* ------------------------------------------------------------------ phases */

static void sample_start(int64_t now)
{
    proc_sample(B.pid, false, &B.cd0);
    if (O.pg_pid > 0)
        proc_sample(O.pg_pid, true, &B.pg0);
    B.self0 = bench_self_cpu();
    B.busy0 = proc_busy_all();
    B.cd_t0 = now;
}

static void sample_end(int64_t now)
{
    proc_sample(B.pid, false, &B.cd1);
    if (O.pg_pid > 0)
        proc_sample(O.pg_pid, true, &B.pg1);
    B.self1 = bench_self_cpu();
    B.busy1 = proc_busy_all();
    B.cd_t1 = now;
}

static void start_rooms_pipeline(int64_t now)
{
    set_phase(PH_SETUP, now);
}

static void begin_join(int64_t now)
{
    B.join_next = B.M;   /* owners (users 0..M-1) joined during setup */
    B.join_total = B.N - B.M;
    B.join_t0 = now;
    B.joins_done = 0;
    set_phase(PH_JOIN, now);
    sample_start(now);
}

static void begin_chat(int64_t now)
{
    sample_end(now);          /* closes the join window's sample */
    B.chat_t0 = now + 50 * MS;
    B.next_sched = B.chat_t0;
    B.win_start = B.chat_t0 + (int64_t)(O.warmup * SEC);
    B.win_end = B.win_start + (int64_t)(O.duration * SEC);
    B.next_gap_ns = 1e9 / O.rate;
    B.win_started = B.win_ended = false;
    B.next_tick = now + SEC;
    set_phase(PH_CHAT, now);
}

static double exp_gap(void)
{
    double u = (double)(rand() + 1) / ((double)RAND_MAX + 2);
    return -log(u) * B.next_gap_ns;
}

static void drive_setup(int64_t now)
{
    /* Owners' joins (which create the rooms, or load them with --existing-rooms)
     * follow --join-rate too, so that first joins can be timed at a known load. */
    while (B.setup_next < B.M && B.setup_inflight < O.setup_window) {
        int64_t sched = now;
        if (O.join_rate > 0) {
            sched = B.phase_start + (int64_t)((double)B.setup_next * 1e9 / O.join_rate);
            if (sched > now)
                break;
        }
        unsigned r = B.setup_next++;
        B.rooms[r].state = R_JOINING;
        B.setup_inflight++;
        send_join(r, sched);
    }
    if (B.rooms_done == B.M) {
        unsigned failed = 0;
        for (unsigned r = 0; r < B.M; r++)
            failed += B.rooms[r].state == R_FAILED;
        note("setup: %u rooms ready, %u failed (%.2f s)", B.M - failed, failed,
             (double)(now - B.phase_start) / 1e9);
        if (failed == B.M) {
            fail("no room could be set up");
            return;
        }
        if (O.prefill) {
            set_phase(PH_PREFILL, now);
            for (unsigned r = 0; r < B.M; r++) {
                if (B.rooms[r].state != R_READY)
                    continue;
                B.rooms[r].prefill_left = O.prefill;
                B.prefill_left += O.prefill;
                for (unsigned k = 1; k <= O.prefill; k++)
                    send_groupchat(r, "pf", k, now);
            }
        } else {
            begin_join(now);
        }
    }
}

static void drive_join(int64_t now)
{
    while (B.join_next < B.N) {
        int64_t sched = B.join_t0;
        if (O.join_rate > 0)
            sched += (int64_t)((double)(B.join_next - B.M) * 1e9 / O.join_rate);
        if (sched > now)
            break;
        unsigned u = B.join_next++;
        if (B.rooms[B.users[u].room].state != R_READY) {
            B.users[u].state = U_FAILED;
            B.joins_done++;
            B.joins_failed++;
            continue;
        }
        send_join(u, sched);
    }
    if (B.joins_done >= B.join_total) {
        note("joins: %u done, %u failed", B.joins_done, B.joins_failed);
        if (B.join_last_done == 0)
            B.join_last_done = now;
        if (B.k_total)
            begin_chat(now);
        else {
            sample_end(now);
            set_phase(PH_DONE, now);
        }
    }
}

static void tick_report(int64_t now)
{
    if (now < B.next_tick)
        return;
    struct proc_sample ps;
    static double last_cpu = -1;
    static int64_t last_t;
    double pct = -1;
    if (proc_sample(B.pid, false, &ps) == 0) {
        if (last_cpu >= 0)
            pct = 100.0 * (ps.cpu_s - last_cpu) / ((double)(now - last_t) / 1e9);
        last_cpu = ps.cpu_s;
        last_t = now;
    }
    note("t=%5.1fs %-5s sent %" PRIu64 "/s reflected %" PRIu64 "/s deliveries %" PRIu64
         "/s p99 %.2f ms max %.2f ms confabd %.0f%% cpu rss %ld KiB",
         (double)(now - B.chat_t0) / 1e9, phase_names[B.phase], B.tick_sent, B.tick_refl,
         B.tick_deliv, ms(hist_pct(&B.tick, 99)), ms(B.tick.max), pct, ps.rss_kb);
    B.tick_sent = B.tick_refl = B.tick_deliv = 0;
    hist_init(&B.tick);
    B.next_tick += SEC;
}

static void drive_chat(int64_t now)
{
    if (!B.win_started && now >= B.win_start) {
        B.win_started = true;
        sample_start(now);
    }
    if (!B.win_ended && now >= B.win_end) {
        B.win_ended = true;
        sample_end(now);
    }
    unsigned batch = 0;
    while (B.k_next < B.k_total && B.next_sched <= now && batch < 4096) {
        uint64_t k = B.k_next++;
        unsigned s = (unsigned)(k % B.S);
        uint64_t seq = k / B.S + 1;
        struct sender *sd = &B.senders[s];
        if (B.users[s].state == U_JOINED)
            B.expected += B.rooms[B.users[s].room].joined;
        sd->sent++;
        send_groupchat(s, "cb", seq, B.next_sched);
        hist_add(&B.lag, (uint64_t)(now - B.next_sched));
        B.tick_sent++;
        batch++;
        B.next_sched = O.poisson ? B.next_sched + (int64_t)exp_gap()
                                 : B.chat_t0 + (int64_t)((double)B.k_next * B.next_gap_ns);
    }
    tick_report(now);
    if (B.phase == PH_CHAT && B.k_next >= B.k_total) {
        set_phase(PH_DRAIN, now);
    }
    if (B.phase == PH_DRAIN && B.win_ended &&
        (B.received_unique >= B.expected ||
         now - B.phase_start > (int64_t)(O.drain * SEC))) {
        set_phase(PH_DONE, now);
    }
}

static void drive_mam(int64_t now)
{
    if (B.phase == PH_MAM_JOIN) {
        if (B.mam_joined) {
            B.mq_total = (uint64_t)llround(O.mam_rate * (O.warmup + O.duration)) + 1;
            B.mq = xcalloc(B.mq_total, sizeof *B.mq);
            B.mam_t0 = now;
            B.win_start = now + (int64_t)(O.warmup * SEC);
            B.win_end = B.win_start + (int64_t)(O.duration * SEC);
            set_phase(PH_MAM, now);
            /* The first query (newest page) checks the id replica. */
            B.mq[0].sched = now;
            send_mam_query(0, "", NULL);
            B.mq_next = 1;
        }
        return;
    }
    if (!B.win_started && now >= B.win_start) {
        B.win_started = true;
        sample_start(now);
    }
    /* Until the first answer, nothing else goes out: it decides the mode. */
    if (!B.mam_sid_checked && B.mq_done == 0)
        return;
    while (B.mq_next < B.mq_total) {
        int64_t sched = B.mam_t0 + (int64_t)((double)B.mq_next * 1e9 / O.mam_rate);
        if (sched > now)
            break;
        uint64_t k = B.mq_next++;
        B.mq[k].sched = sched;
        if (k == 1 && !B.win_started)
            hist_init(&B.lat_mam); /* the probe query is not part of the sample */
        if (strcmp(O.mam_mode, "random") == 0 && B.mam_sid_ok && O.mam_messages > O.mam_max) {
            uint64_t seq = 1 + (uint64_t)rand() % (O.mam_messages - O.mam_max);
            char id[33];
            sid_encode(B.mam_room_jid, seq, id);
            send_mam_query(k, NULL, id);
        } else if (strcmp(O.mam_mode, "last") == 0 || !B.mam_walk_id[0]) {
            send_mam_query(k, "", NULL);
        } else {
            send_mam_query(k, B.mam_walk_id, NULL);
        }
    }
    if (!B.win_ended && now >= B.win_end) {
        B.win_ended = true;
        sample_end(now);
    }
    if (B.mq_next >= B.mq_total &&
        (B.mq_done >= B.mq_total || now - B.win_end > (int64_t)(O.drain * SEC)))
        set_phase(PH_DONE, now);
}

static void drive_startup(int64_t now)
{
    char room[256];
    switch (B.phase) {
    case PH_PROBE:
        if (B.t_first_served) {
            note("store ready %.1f ms after the link came up (%u probes)",
                 (double)(B.t_first_served - B.t_up) / 1e6, B.probes);
            if (O.scenario == SC_STARTUP) {
                B.settle_until = now + (int64_t)O.settle_ms * MS;
                set_phase(PH_SETTLE1, now);
            } else if (O.scenario == SC_MAM) {
                char from[128];
                snprintf(from, sizeof from, "%s@%s/r", MAM_READER, O.user_domain);
                send_join_to(from, B.mam_room_jid, MAM_READER, 0);
                set_phase(PH_MAM_JOIN, now);
            } else {
                start_rooms_pipeline(now);
            }
        } else if (now >= B.probe_next) {
            /* disco#info on a room makes confabd read it from the store: the
             * answer is resource-constraint until the store is ready. */
            const char *pr = O.probe_room;
            if (!pr) {
                room_jid(room, sizeof room, 0);
                pr = room;
            }
            put("<iq type='get' id='probe%u' from='probe@%s/r' to='%s'><query xmlns='"
                "http://jabber.org/protocol/disco#info'/></iq>", B.probes++, O.user_domain, pr);
            B.probe_next = now + 20 * MS;
        }
        break;
    case PH_SETTLE1:
        if (now >= B.settle_until) {
            proc_sample(B.pid, false, &B.rss_start);
            if (!O.touch) {
                set_phase(PH_DONE, now);
                break;
            }
            set_phase(PH_TOUCH, now);
            for (unsigned i = 0; i < O.touch; i++) {
                char from[128];
                room_jid(room, sizeof room, i + 1);
                snprintf(from, sizeof from, "touch%u@%s/r", i, O.user_domain);
                send_join_to(from, room, "toucher", 0);
            }
        }
        break;
    case PH_TOUCH:
        if (B.touch_done >= O.touch || now - B.phase_start > 60 * SEC) {
            B.settle_until = now + (int64_t)O.settle_ms * MS;
            set_phase(PH_SETTLE2, now);
        }
        break;
    case PH_SETTLE2:
        if (now >= B.settle_until) {
            proc_sample(B.pid, false, &B.rss_touched);
            set_phase(PH_DONE, now);
        }
        break;
    default:
        break;
    }
}

static void after_handshake(int64_t now)
{
    note("link up after %.1f ms (pid %d)", B.spawned ? (double)(B.t_up - B.t_spawn) / 1e6 : 0.0,
         (int)B.pid);
    if (B.pid <= 0)
        B.pid = proc_peer_pid(B.fd);
    B.probe_next = now;
    set_phase(PH_PROBE, now);
}

static void drive_once(int64_t now);

/* A phase that ends starts the next one in the same turn: nothing waits for
 * a poll timeout between them (that wait would count as latency). */
static void drive(int64_t now)
{
    for (int i = 0; i < 8 && !B.failed; i++) {
        enum phase before = B.phase;
        drive_once(now);
        if (B.phase == before)
            break;
    }
}

static void drive_once(int64_t now)
{
    if (B.phase != PH_ACCEPT && B.phase != PH_HANDSHAKE && B.phase != PH_CHAT &&
        B.phase != PH_DRAIN && B.phase != PH_MAM && B.phase != PH_DONE &&
        now - B.phase_start > (int64_t)(O.phase_timeout * SEC)) {
        fail("phase %s did not finish within %.0f s", phase_names[B.phase], O.phase_timeout);
        return;
    }
    switch (B.phase) {
    case PH_PROBE:
        drive_startup(now);
        break;
    case PH_SETUP:
        drive_setup(now);
        break;
    case PH_PREFILL:
        if (B.prefill_left == 0) {
            note("prefill: %u messages in each room (%.2f s)", O.prefill,
                 (double)(now - B.phase_start) / 1e9);
            begin_join(now);
        }
        break;
    case PH_JOIN:
        drive_join(now);
        break;
    case PH_CHAT:
    case PH_DRAIN:
        drive_chat(now);
        break;
    case PH_MAM_JOIN:
    case PH_MAM:
        drive_mam(now);
        break;
    case PH_SETTLE1:
    case PH_TOUCH:
    case PH_SETTLE2:
        drive_startup(now);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ report */

static void json_lat(FILE *f, const char *name, const struct hist *h, bool comma)
{
    hist_json(f, name, h, comma);
}

static void print_lat(const char *name, const struct hist *h)
{
    hist_print(name, h);
}

static uint64_t count_lost(void)
{
    uint64_t lost = 0;
    for (unsigned u = 0; u < B.N; u++) {
        if (B.users[u].state != U_JOINED)
            continue;
        struct room *r = &B.rooms[B.users[u].room];
        uint64_t *row = r->bits + (size_t)(u / B.M) * r->row_words;
        for (unsigned s = B.users[u].room; s < B.S; s += B.M) {
            struct sender *sd = &B.senders[s];
            if (B.users[s].state != U_JOINED)
                continue;
            for (uint32_t q = 0; q < sd->sent; q++)
                if (!bit_get(sd->rejected, q) && !bit_get(row, sd->bit_off + q))
                    lost++;
        }
    }
    return lost;
}

static void report(void)
{
    double win = B.cd_t0 ? (double)(B.cd_t1 - B.cd_t0) / 1e9 : 0;
    double cd_cpu = B.cd1.ok && B.cd0.ok ? B.cd1.cpu_s - B.cd0.cpu_s : -1;
    double pg_cpu = B.pg1.ok && B.pg0.ok ? B.pg1.cpu_s - B.pg0.cpu_s : -1;
    double self_cpu = B.self1 - B.self0;
    /* Everything else the machine did meanwhile: other processes, other tests. */
    double other_cpu = B.busy1 - B.busy0 - (cd_cpu > 0 ? cd_cpu : 0) - (pg_cpu > 0 ? pg_cpu : 0) -
                       self_cpu;
    if (other_cpu < 0)
        other_cpu = 0;
    struct proc_sample now;
    proc_sample(B.pid, false, &now);
    uint64_t lost = O.scenario == SC_ROOMS && B.k_total ? count_lost() : 0;
    double wdur = O.duration > 0 ? O.duration : 1;
    printf("== confab-bench %s%s%s ==\n", O.scenario_name, *O.label ? ": " : "", O.label);
    if (B.failed)
        printf("  FAILED: %s\n", B.fail_reason);
    printf("  confabd pid %d%s; parser %s\n", (int)B.pid, B.spawned ? " (spawned)" : "",
           O.xstream_parser ? "xstream (expat)" : "byte scanner");
    if (O.scenario == SC_ROOMS) {
        printf("  rooms %u, users %u (%.1f per room), senders %u, offered %.0f msg/s for "
               "%.0f s after %.0f s warm-up, body %u B\n",
               B.M, B.N, (double)B.N / B.M, B.S, O.rate, O.duration, O.warmup, O.body_bytes);
        print_lat(O.existing_rooms ? "first join (room load)" : "room create+join", &B.lat_setup);
        printf("  owners' joins: %u ok, history messages %.1f per join\n", B.setup_joins_ok,
               B.setup_joins_ok ? (double)B.hist_setup / B.setup_joins_ok : 0);
        if (B.join_total) {
            double jd = (double)(B.join_last_done - B.join_t0) / 1e9;
            printf("  joins: %u of %u ok, %u failed, %.0f joins/s (%.3f s), history messages "
                   "%.1f per join\n",
                   B.joins_done - B.joins_failed, B.join_total, B.joins_failed,
                   jd > 0 ? (B.joins_done - B.joins_failed) / jd : 0, jd,
                   B.joins_done > B.joins_failed
                       ? (double)B.hist_join / (B.joins_done - B.joins_failed) : 0);
            print_lat("join (to subject)", &B.lat_join);
        }
        if (B.k_total) {
            printf("  messages: sent %" PRIu64 ", reflected %" PRIu64 ", rejected %" PRIu64
                   " (resource-constraint %" PRIu64 ", not-acceptable %" PRIu64 ", other %" PRIu64
                   ")\n",
                   B.k_next, B.reflected, B.rejected_msgs, B.reject_by_cond[0],
                   B.reject_by_cond[1], B.reject_by_cond[2] + B.reject_by_cond[3]);
            printf("  in the %.0f s window: %.0f msgs/s reflected (committed), %.0f deliveries/s\n",
                   wdur, B.reflected_win / wdur, B.deliveries_win / wdur);
            printf("  copies: expected %" PRIu64 ", received %" PRIu64 ", LOST %" PRIu64
                   ", DUPLICATED %" PRIu64 ", reordered %" PRIu64 ", misrouted %" PRIu64 "\n",
                   B.expected, B.received_unique, lost, B.dup, B.reordered, B.misrouted);
            print_lat("latency all copies", &B.lat_all);
            print_lat("latency reflection", &B.lat_reflect);
            print_lat("latency other copies", &B.lat_fanout);
            print_lat("bench send lag", &B.lag);
        }
    } else if (O.scenario == SC_MAM) {
        printf("  room %s, %" PRIu64 " messages, page max %u, %.0f queries/s for %.0f s, mode %s%s\n",
               B.mam_room_jid, O.mam_messages, O.mam_max, O.mam_rate, O.duration, O.mam_mode,
               strcmp(O.mam_mode, "random") == 0 ? (B.mam_sid_ok ? " (ids ok)" : " (fell back to walk)")
                                                 : "");
        printf("  queries %" PRIu64 " answered %" PRIu64 ", errors %" PRIu64 ", short pages %" PRIu64
               ", results %" PRIu64 "\n", B.mq_next, B.mq_done, B.mq_errors, B.mq_short,
               B.mam_results);
        print_lat("MAM page", &B.lat_mam);
    } else {
        printf("  link up %.1f ms after start, first join served %.1f ms after start (%u probes)\n",
               (double)(B.t_up - B.t_spawn) / 1e6,
               B.t_first_served ? (double)(B.t_first_served - B.t_spawn) / 1e6 : -1.0, B.probes);
        printf("  RSS %ld KiB after start (+%u ms)", B.rss_start.rss_kb, O.settle_ms);
        if (O.touch)
            printf(", %ld KiB after loading %u rooms (%u served): %.1f KiB per loaded room",
                   B.rss_touched.rss_kb, O.touch, B.touch_done,
                   (double)(B.rss_touched.rss_kb - B.rss_start.rss_kb) / O.touch);
        printf("\n");
    }
    if (O.scenario != SC_STARTUP) {
        printf("  confabd: %.2f CPU s in %.1f s (%.0f%% of a core), RSS %ld KiB, peak %ld KiB\n",
               cd_cpu, win, win > 0 ? 100 * cd_cpu / win : 0, now.rss_kb, now.hwm_kb);
        if (pg_cpu >= 0)
            printf("  postgres: %.2f CPU s (%.0f%% of a core)\n", pg_cpu,
                   win > 0 ? 100 * pg_cpu / win : 0);
        printf("  other processes on the machine: %.0f%% of a core%s\n",
               win > 0 ? 100 * other_cpu / win : 0,
               win > 0 && other_cpu / win > 0.1 ? "  ** the machine was not quiet **" : "");
        printf("  bench itself: %.0f%% of a core; in %.1f MB (%" PRIu64 " stanzas), out %.1f MB; "
               "presence %" PRIu64 ", other %" PRIu64 ", unexpected %" PRIu64 "\n",
               win > 0 ? 100 * self_cpu / win : 0, B.bytes_in / 1e6, B.stanzas_in,
               B.bytes_out / 1e6, B.presence_in, B.errors_other, B.unknown_in);
    }

    FILE *f = stdout;
    fprintf(f, "RESULT {\"scenario\":\"%s\",\"label\":\"%s\",\"ok\":%s,\"pid\":%d,", O.scenario_name,
            O.label, B.failed ? "false" : "true", (int)B.pid);
    if (O.scenario == SC_ROOMS) {
        double jd = (double)(B.join_last_done - B.join_t0) / 1e9;
        fprintf(f, "\"rooms\":%u,\"users\":%u,\"senders\":%u,\"rate\":%.1f,\"duration\":%.1f,"
                   "\"sent\":%" PRIu64 ",\"reflected\":%" PRIu64 ",\"rejected\":%" PRIu64
                   ",\"reflected_per_s\":%.1f,\"deliveries_per_s\":%.1f,\"expected\":%" PRIu64
                   ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"dup\":%" PRIu64
                   ",\"reordered\":%" PRIu64 ",\"misrouted\":%" PRIu64 ",\"joins\":%u,"
                   "\"joins_failed\":%u,\"joins_per_s\":%.1f,\"history_per_join\":%.2f,"
                   "\"history_per_setup_join\":%.2f,",
                B.M, B.N, B.S, O.rate, O.duration, B.k_next, B.reflected, B.rejected_msgs,
                B.reflected_win / wdur, B.deliveries_win / wdur, B.expected, B.received_unique,
                lost, B.dup, B.reordered, B.misrouted, B.joins_done - B.joins_failed,
                B.joins_failed, jd > 0 ? (B.joins_done - B.joins_failed) / jd : 0,
                B.joins_done > B.joins_failed
                    ? (double)B.hist_join / (B.joins_done - B.joins_failed) : 0,
                B.setup_joins_ok ? (double)B.hist_setup / B.setup_joins_ok : 0);
        json_lat(f, "lat_all", &B.lat_all, true);
        json_lat(f, "lat_reflect", &B.lat_reflect, true);
        json_lat(f, "lat_fanout", &B.lat_fanout, true);
        json_lat(f, "lat_join", &B.lat_join, true);
        json_lat(f, "lat_setup", &B.lat_setup, true);
        json_lat(f, "send_lag", &B.lag, true);
    } else if (O.scenario == SC_MAM) {
        fprintf(f, "\"mam_messages\":%" PRIu64 ",\"mam_max\":%u,\"mam_rate\":%.1f,\"mode\":\"%s\","
                   "\"ids_ok\":%s,\"queries\":%" PRIu64 ",\"answered\":%" PRIu64 ",\"errors\":%"
                   PRIu64 ",\"short_pages\":%" PRIu64 ",",
                O.mam_messages, O.mam_max, O.mam_rate, O.mam_mode, B.mam_sid_ok ? "true" : "false",
                B.mq_next, B.mq_done, B.mq_errors, B.mq_short);
        json_lat(f, "lat_mam", &B.lat_mam, true);
    } else {
        fprintf(f, "\"link_up_ms\":%.2f,\"first_served_ms\":%.2f,\"rss_kb\":%ld,\"touched\":%u,"
                   "\"touch_served\":%u,\"rss_touched_kb\":%ld,",
                (double)(B.t_up - B.t_spawn) / 1e6,
                B.t_first_served ? (double)(B.t_first_served - B.t_spawn) / 1e6 : -1.0,
                B.rss_start.rss_kb, O.touch, B.touch_done, B.rss_touched.rss_kb);
    }
    fprintf(f, "\"confabd_cpu_s\":%.3f,\"confabd_cpu_pct\":%.1f,\"confabd_rss_kb\":%ld,"
               "\"confabd_hwm_kb\":%ld,\"pg_cpu_pct\":%.1f,\"bench_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f,"
               "\"window_s\":%.3f}\n",
            cd_cpu, win > 0 ? 100 * cd_cpu / win : 0, now.rss_kb, now.hwm_kb,
            win > 0 && pg_cpu >= 0 ? 100 * pg_cpu / win : -1, win > 0 ? 100 * self_cpu / win : 0,
            win > 0 ? 100 * other_cpu / win : 0, win);
    fflush(stdout);
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: confab-bench [options] [--spawn -- CONFABD-COMMAND...]\n"
        "Plays the XMPP router for confabd (XEP-0114 server side) and measures it.\n"
        "(confab-bench --mode client --help: real clients through a router instead.)\n"
        "\n"
        "  -c, --config FILE     confabd's INI file: domain, secret and router address\n"
        "      --listen H:P      address to listen on (default: [component] router)\n"
        "      --domain D, --secret S   instead of --config\n"
        "      --scenario S      chat (default) | storm | mam | startup\n"
        "      --pid PID         confabd's pid for CPU/RSS (default: the process on the\n"
        "                        other end of the connection, or the spawned one)\n"
        "      --pg-pid PID      PostgreSQL postmaster: its CPU and its backends'\n"
        "      --spawn           start confabd: the arguments after -- are its command\n"
        "      --spawn-log FILE  its stdout and stderr\n"
        "rooms (chat, storm):\n"
        "      --rooms M         rooms (default 10)\n"
        "      --occupants K     users per room (default 10); or --users N in all\n"
        "      --senders S       users that send (default all; the first S users)\n"
        "      --rate R          groupchat messages/s offered, all senders (default 1000;\n"
        "                        storm: 0)\n"
        "      --duration S, --warmup S, --drain S   measured seconds (10), warm-up (2),\n"
        "                        wait for stragglers (10)\n"
        "      --poisson         exponential inter-arrival times instead of uniform\n"
        "      --body-bytes B    body size (default 64)\n"
        "      --persistent      configure rooms persistent\n"
        "      --existing-rooms  rooms exist already: do not configure them\n"
        "      --room-prefix P   room names P<i> (default room)\n"
        "      --history K       <history maxstanzas='K'/> in joins (default: none sent)\n"
        "      --prefill K       each room's owner posts K messages before the joins\n"
        "                        (storm: 20)\n"
        "      --join-rate R     joins/s, open loop (default 0: all at once)\n"
        "mam:\n"
        "      --mam-room JID    archived room to query (must exist, logging on)\n"
        "      --mam-messages N  messages in its archive (seq 1..N)\n"
        "      --mam-rate R      queries/s, open loop (default 100)\n"
        "      --mam-max N       RSM <max/> (default 50)\n"
        "      --mam-mode M      random (pages after random ids) | walk (backwards from\n"
        "                        the newest) | last (always the newest page)\n"
        "startup:\n"
        "      --probe-room JID  room to join until confabd serves it (default P0)\n"
        "      --touch N         then join rooms P1..PN and report RSS per loaded room\n"
        "      --settle-ms MS    wait before reading RSS (default 1000)\n"
        "other:\n"
        "      --parser P        scan (default) | xstream (expat tree per stanza)\n"
        "      --label L         label in the report\n"
        "      --timeout S       limit for setup and join phases (default 300)\n"
        "      --seed N, --quiet\n");
}

static void parse_args(int argc, char **argv)
{
    enum {
        OPT_LISTEN = 256, OPT_DOMAIN, OPT_SECRET, OPT_SCENARIO, OPT_PID, OPT_PGPID, OPT_SPAWN,
        OPT_SPAWNLOG, OPT_ROOMS, OPT_OCC, OPT_USERS, OPT_SENDERS, OPT_RATE, OPT_DURATION,
        OPT_WARMUP, OPT_DRAIN, OPT_POISSON, OPT_BODY, OPT_PERSIST, OPT_EXISTING, OPT_PREFIX,
        OPT_HISTORY, OPT_PREFILL, OPT_JOINRATE, OPT_MAMROOM, OPT_MAMMSGS, OPT_MAMRATE,
        OPT_MAMMAX, OPT_MAMMODE, OPT_PROBE, OPT_TOUCH, OPT_SETTLE, OPT_PARSER, OPT_LABEL,
        OPT_TIMEOUT, OPT_SEED, OPT_QUIET, OPT_UDOMAIN,
    };
    static const struct option lo[] = {
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "domain", required_argument, NULL, OPT_DOMAIN },
        { "secret", required_argument, NULL, OPT_SECRET },
        { "scenario", required_argument, NULL, OPT_SCENARIO },
        { "pid", required_argument, NULL, OPT_PID },
        { "pg-pid", required_argument, NULL, OPT_PGPID },
        { "spawn", no_argument, NULL, OPT_SPAWN },
        { "spawn-log", required_argument, NULL, OPT_SPAWNLOG },
        { "rooms", required_argument, NULL, OPT_ROOMS },
        { "occupants", required_argument, NULL, OPT_OCC },
        { "users", required_argument, NULL, OPT_USERS },
        { "senders", required_argument, NULL, OPT_SENDERS },
        { "rate", required_argument, NULL, OPT_RATE },
        { "duration", required_argument, NULL, OPT_DURATION },
        { "warmup", required_argument, NULL, OPT_WARMUP },
        { "drain", required_argument, NULL, OPT_DRAIN },
        { "poisson", no_argument, NULL, OPT_POISSON },
        { "body-bytes", required_argument, NULL, OPT_BODY },
        { "persistent", no_argument, NULL, OPT_PERSIST },
        { "existing-rooms", no_argument, NULL, OPT_EXISTING },
        { "room-prefix", required_argument, NULL, OPT_PREFIX },
        { "user-domain", required_argument, NULL, OPT_UDOMAIN },
        { "history", required_argument, NULL, OPT_HISTORY },
        { "prefill", required_argument, NULL, OPT_PREFILL },
        { "join-rate", required_argument, NULL, OPT_JOINRATE },
        { "mam-room", required_argument, NULL, OPT_MAMROOM },
        { "mam-messages", required_argument, NULL, OPT_MAMMSGS },
        { "mam-rate", required_argument, NULL, OPT_MAMRATE },
        { "mam-max", required_argument, NULL, OPT_MAMMAX },
        { "mam-mode", required_argument, NULL, OPT_MAMMODE },
        { "probe-room", required_argument, NULL, OPT_PROBE },
        { "touch", required_argument, NULL, OPT_TOUCH },
        { "settle-ms", required_argument, NULL, OPT_SETTLE },
        { "parser", required_argument, NULL, OPT_PARSER },
        { "label", required_argument, NULL, OPT_LABEL },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "seed", required_argument, NULL, OPT_SEED },
        { "quiet", no_argument, NULL, OPT_QUIET },
        { NULL, 0, NULL, 0 },
    };
    bool spawn = false, rate_set = false, prefill_set = false;
    const char *listen = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'c': O.config = optarg; break;
        case 'h': usage(stdout); exit(0);
        case OPT_LISTEN: listen = optarg; break;
        case OPT_DOMAIN: O.domain = optarg; break;
        case OPT_SECRET: O.secret = optarg; break;
        case OPT_SCENARIO:
            O.scenario_name = optarg;
            if (strcmp(optarg, "chat") == 0 || strcmp(optarg, "storm") == 0)
                O.scenario = SC_ROOMS;
            else if (strcmp(optarg, "mam") == 0)
                O.scenario = SC_MAM;
            else if (strcmp(optarg, "startup") == 0)
                O.scenario = SC_STARTUP;
            else {
                fprintf(stderr, "confab-bench: unknown scenario %s\n", optarg);
                exit(2);
            }
            break;
        case OPT_PID: O.pid = (pid_t)atoi(optarg); break;
        case OPT_PGPID: O.pg_pid = (pid_t)atoi(optarg); break;
        case OPT_SPAWN: spawn = true; break;
        case OPT_SPAWNLOG: O.spawn_log = optarg; break;
        case OPT_ROOMS: O.rooms = (unsigned)strtoul(optarg, NULL, 10); break;
        case OPT_OCC: O.occupants = (unsigned)strtoul(optarg, NULL, 10); break;
        case OPT_USERS: O.users = (unsigned)strtoul(optarg, NULL, 10); break;
        case OPT_SENDERS: O.senders = (unsigned)strtoul(optarg, NULL, 10); break;
        case OPT_RATE: O.rate = atof(optarg); rate_set = true; break;
        case OPT_DURATION: O.duration = atof(optarg); break;
        case OPT_WARMUP: O.warmup = atof(optarg); break;
        case OPT_DRAIN: O.drain = atof(optarg); break;
        case OPT_POISSON: O.poisson = true; break;
        case OPT_BODY: O.body_bytes = (unsigned)strtoul(optarg, NULL, 10); break;
        case OPT_PERSIST: O.persistent = true; break;
        case OPT_EXISTING: O.existing_rooms = true; break;
        case OPT_PREFIX: O.room_prefix = optarg; break;
        case OPT_UDOMAIN: O.user_domain = optarg; break;
        case OPT_HISTORY: O.history = atoi(optarg); break;
        case OPT_PREFILL: O.prefill = (unsigned)strtoul(optarg, NULL, 10); prefill_set = true; break;
        case OPT_JOINRATE: O.join_rate = atof(optarg); break;
        case OPT_MAMROOM: O.mam_room = optarg; break;
        case OPT_MAMMSGS: O.mam_messages = strtoull(optarg, NULL, 10); break;
        case OPT_MAMRATE: O.mam_rate = atof(optarg); break;
        case OPT_MAMMAX: O.mam_max = (unsigned)strtoul(optarg, NULL, 10); break;
        case OPT_MAMMODE: O.mam_mode = optarg; break;
        case OPT_PROBE: O.probe_room = optarg; break;
        case OPT_TOUCH: O.touch = (unsigned)strtoul(optarg, NULL, 10); break;
        case OPT_SETTLE: O.settle_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case OPT_PARSER: O.xstream_parser = strcmp(optarg, "xstream") == 0; break;
        case OPT_LABEL: O.label = optarg; break;
        case OPT_TIMEOUT: O.phase_timeout = atof(optarg); break;
        case OPT_SEED: O.seed = (unsigned)strtoul(optarg, NULL, 10); break;
        case OPT_QUIET: O.quiet = true; break;
        default: usage(stderr); exit(2);
        }
    }
    if (spawn) {
        if (optind >= argc) {
            fprintf(stderr, "confab-bench: --spawn needs a command after --\n");
            exit(2);
        }
        O.spawn_argv = argv + optind;
    } else if (optind < argc) {
        usage(stderr);
        exit(2);
    }
    if (strcmp(O.scenario_name, "storm") == 0) {
        if (!rate_set)
            O.rate = 0;
        if (!prefill_set)
            O.prefill = 20;
    }
    static struct cfg cfg;
    if (O.config) {
        char *err = NULL;
        if (cfg_load(O.config, CFG_ROLE_MUC, &cfg, &err) < 0) {
            fprintf(stderr, "confab-bench: %s\n", err ? err : O.config);
            exit(2);
        }
        if (!O.domain)
            O.domain = cfg.component.domain;
        if (!O.secret)
            O.secret = cfg.component.secret;
        if (!listen) {
            O.listen_host = cfg.component.host;
            O.listen_port = cfg.component.port;
        }
    }
    if (listen) {
        char *h = NULL;
        uint16_t p = 0;
        if (cfg_parse_hostport(listen, &h, &p) < 0) {
            fprintf(stderr, "confab-bench: bad --listen %s\n", listen);
            exit(2);
        }
        O.listen_host = h;
        O.listen_port = p;
    }
    if (!O.domain || !O.secret || !O.listen_port) {
        fprintf(stderr, "confab-bench: need --config, or --domain, --secret and --listen\n");
        exit(2);
    }
    if (strcmp(O.listen_host, "localhost") == 0)
        O.listen_host = "127.0.0.1";
    if (O.scenario == SC_MAM && (!O.mam_room || !O.mam_messages)) {
        fprintf(stderr, "confab-bench: mam needs --mam-room and --mam-messages\n");
        exit(2);
    }
    if (O.scenario == SC_STARTUP && !spawn) {
        fprintf(stderr, "confab-bench: startup needs --spawn -- CONFABD-COMMAND\n");
        exit(2);
    }
    if (O.rooms == 0)
        O.rooms = 1;
}

static int64_t next_deadline(int64_t now)
{
    int64_t t = now + 10 * MS;
    if (B.phase == PH_CHAT && B.k_next < B.k_total && B.next_sched < t)
        t = B.next_sched;
    if (B.phase == PH_SETUP && O.join_rate > 0 && B.setup_next < B.M) {
        int64_t s = B.phase_start + (int64_t)((double)B.setup_next * 1e9 / O.join_rate);
        if (s < t)
            t = s;
    }
    if (B.phase == PH_JOIN && O.join_rate > 0 && B.join_next < B.N) {
        int64_t s = B.join_t0 + (int64_t)((double)(B.join_next - B.M) * 1e9 / O.join_rate);
        if (s < t)
            t = s;
    }
    if (B.phase == PH_MAM && B.mq_next < B.mq_total) {
        int64_t s = B.mam_t0 + (int64_t)((double)B.mq_next * 1e9 / O.mam_rate);
        if (s < t)
            t = s;
    }
    return t;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--mode") && !strcmp(argv[i + 1], "client"))
            return client_main(argc, argv);
    parse_args(argc, argv);
    srand(O.seed);
    hist_init(&B.lat_all);
    hist_init(&B.lat_reflect);
    hist_init(&B.lat_fanout);
    hist_init(&B.lat_join);
    hist_init(&B.lat_setup);
    hist_init(&B.lag);
    hist_init(&B.lat_mam);
    hist_init(&B.tick);
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
        sid_init();
        B.N = 0;
    }
    B.lfd = listen_on(O.listen_host, O.listen_port);
    note("listening on %s:%u for %s", O.listen_host, O.listen_port, O.domain);
    if (O.spawn_argv)
        spawn_confabd();
    B.phase = PH_ACCEPT;
    B.phase_start = bench_now_ns();
    struct xstream_limits lim = { .max_stanza_bytes = 64u << 20 };
    B.xs = xstream_new(&lim, &xs_handler, NULL);
    /* accept, bounded */
    struct pollfd lp = { .fd = B.lfd, .events = POLLIN };
    int pr = poll(&lp, 1, 30000);
    if (pr <= 0) {
        fail("confabd did not connect within 30 s");
        report();
        stop_spawned();
        return 1;
    }
    B.fd = accept(B.lfd, NULL, NULL);
    if (B.fd < 0) {
        perror("confab-bench: accept");
        return 1;
    }
    close(B.lfd);
    B.t_accept = bench_now_ns();
    int one = 1;
    setsockopt(B.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(B.fd, F_SETFL, fcntl(B.fd, F_GETFL) | O_NONBLOCK);
    set_phase(PH_HANDSHAKE, B.t_accept);
    while (!B.failed && B.phase != PH_DONE) {
        int64_t now = bench_now_ns();
        if (B.phase == PH_HANDSHAKE && B.t_up) {
            flush_output();
            after_handshake(now);
        } else if (B.phase == PH_HANDSHAKE && now - B.phase_start > 10 * SEC) {
            fail("no handshake within 10 s");
            break;
        }
        drive(now);
        flush_output();
        if (B.failed || B.phase == PH_DONE)
            break;
        int64_t dl = next_deadline(now) - bench_now_ns();
        if (dl < 0)
            dl = 0;
        struct timespec ts = { .tv_sec = dl / SEC, .tv_nsec = dl % SEC };
        struct pollfd p = { .fd = B.fd, .events = POLLIN };
        if (B.out_off < B.out.len)
            p.events |= POLLOUT;
        int r = ppoll(&p, 1, &ts, NULL);
        if (r < 0 && errno != EINTR) {
            fail("poll: %s", strerror(errno));
            break;
        }
        if (r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
            read_input();
        if (r > 0 && (p.revents & POLLOUT))
            flush_output();
    }
    if (B.cd_t1 == 0)
        sample_end(bench_now_ns());
    report();
    /* A polite end of the stream; confabd reconnects unless it is stopped. */
    put("</stream:stream>");
    flush_output();
    stop_spawned();
    close(B.fd);
    xstream_free(B.xs);
    return B.failed ? 1 : 0;
}
