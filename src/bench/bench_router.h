/* bench_router.h — router mode's shared state: options, the simulated users and rooms, and the calls between its files. */
#ifndef CONFAB_BENCH_ROUTER_H
#define CONFAB_BENCH_ROUTER_H

#include "compat.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench.h"
#include "buf.h"
#include "stanzaid.h"

struct xstream;

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_MAM "urn:xmpp:mam:2"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define SEC 1000000000LL
#define MS 1000000LL
#define MAM_READER "mamreader"

/* ------------------------------------------------------------------ options */

enum scenario { SC_ROOMS, SC_MAM, SC_STARTUP };

/* Filled by ropt_parse from the table in bench_ropt.c (defaults there). */
struct ropts {
    const char *config;
    const char *listen;           /* --listen as given; resolved into listen_host/port */
    const char *listen_host;
    unsigned listen_port;
    char listen_buf[256];         /* --listen's host, held here: nothing to free */
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
    const char *parser;           /* "scan" or "xstream" */
    bool xstream_parser;
    pid_t pid;
    pid_t pg_pid;
    bool spawn;
    char **spawn_argv;
    const char *spawn_log;
    bool quiet;
    unsigned seed;
};

extern const struct opt ropt_table[];
extern const size_t ropt_count;
/* Defaults, argv, then what follows from them (storm's defaults, --config,
 * --listen, the spawned command): 0, 1 for --help, -1 with res->err. */
int ropt_parse(struct ropts *o, int argc, char **argv, struct opt_result *res);
void ropt_usage(FILE *f);

/* ------------------------------------------------------------------ state */

enum phase {
    PH_ACCEPT, PH_HANDSHAKE, PH_SETUP, PH_PREFILL, PH_JOIN, PH_CHAT, PH_DRAIN, PH_MAM_JOIN,
    PH_MAM, PH_PROBE, PH_SETTLE1, PH_TOUCH, PH_SETTLE2, PH_DONE,
};
extern const char *const phase_names[];

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

/* What one end of the measured window reads; the report's CPU figures are
 * the differences between the two ends (t 0: not sampled). */
struct window_end {
    struct proc_sample cd, pg;   /* confabd, PostgreSQL */
    double self, busy;           /* this process's CPU, the whole machine's */
    int64_t t;
};

struct mamq {
    int64_t sched;
    uint32_t results;
    bool done;
};

struct bench {
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
    struct window_end w0, w1;   /* the measured window's start and end */
    /* mam */
    struct mamq *mq;
    uint64_t mq_total, mq_next, mq_done, mq_errors, mq_short, mam_results;
    int64_t mam_t0;
    bool mam_joined, mam_sid_ok, mam_sid_checked;
    char mam_walk_id[64];
    struct stanzaid *sid;   /* confabd's stanza-ids, from its domain and secret */
    char *mam_room_jid;
    /* startup */
    int64_t t_first_served, probe_next;
    unsigned probes;
    /* rss_warm: after the first quarter of --touch, so the rest gives the
     * memory of one more loaded room without the first loads' one-off costs */
    struct proc_sample rss_start, rss_warm, rss_touched;
    unsigned touch_next, touch_done, touch_sent;
    int64_t settle_until;
};
extern struct ropts O;
extern struct bench B;

/* confab_bench.c: messages to stderr (fail: once, and the run has failed) */
void bench_fail(const char *fmt, ...) PRINTF(1, 2);
void bench_note(const char *fmt, ...) PRINTF(1, 2);

static inline bool bit_get(const uint64_t *w, uint64_t i)
{
    return (w[i >> 6] >> (i & 63)) & 1;
}

static inline void bit_set(uint64_t *w, uint64_t i)
{
    w[i >> 6] |= (uint64_t)1 << (i & 63);
}

static inline double ns_ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* bench_tx.c: stanzas to confabd, appended to B.out */
void tx_put(const char *fmt, ...) PRINTF(1, 2);
void tx_user_jid(char *out, size_t n, unsigned u);
void tx_room_jid(char *out, size_t n, unsigned r);
void tx_join_to(const char *from, const char *room, const char *nick, int history);
void tx_join(unsigned u, int64_t sched);
void tx_config(unsigned r);
void tx_groupchat(unsigned u, const char *kind, uint64_t seq, int64_t sched);
void tx_mam_query(uint64_t k, const char *before, const char *after);

/* bench_rx.c: one stanza from confabd into the counters and the phases' state */
void rx_stanza(const struct stz *st, int64_t now);

/* bench_xs.c: the handshake, and every stanza with --parser xstream, through expat */
struct xstream *xs_create(void);
void xs_feed(int64_t now);

/* bench_io.c: the socket to confabd, and confabd itself with --spawn */
void io_consume(int64_t now);
void io_read(void);
void io_flush(void);
int io_listen(const char *host, unsigned port);
void io_spawn(void);
void io_stop_spawned(void);

/* bench_phase.c: the scenarios' phases, driven from the main loop */
void phase_set(enum phase p, int64_t now);
void phase_link_up(int64_t now);
void phase_drive(int64_t now);
int64_t phase_deadline(int64_t now);
void phase_sample_end(int64_t now);

/* bench_report.c: the human report and the RESULT line */
void report_print(void);

#endif
