/* bench.h — confab-bench: a load generator that plays the XMPP router.
 *
 * confab-bench listens where confabd expects its router, completes the server
 * side of the XEP-0114 handshake and then simulates users and rooms over that
 * one component connection, measuring what confabd does with them. The helpers
 * below are pure (no I/O except bench_proc.c's /proc reads) so the main file
 * holds the event loop and the scenarios. */
#ifndef CONFAB_BENCH_H
#define CONFAB_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- bench_hist.c: log-linear histogram (HdrHistogram-like) of ns values ----
 * Values below 128 are exact; above, each power of two is split into 64
 * buckets, so a reported value is within 1/64 (1.6 %) of the true one. */
#define HIST_SUB_BITS 7
#define HIST_BUCKETS 4096

struct hist {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    double sum;
    uint64_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);
/* The smallest recorded value v such that pct percent of the values are <= v
 * (upper edge of its bucket, capped at the maximum); 0 when empty. */
uint64_t hist_pct(const struct hist *h, double pct);
double hist_mean(const struct hist *h);

/* ---- bench_proc.c: what the kernel knows about a process ---- */
struct proc_sample {
    bool ok;
    double cpu_s;     /* user + system seconds */
    long rss_kb;      /* VmRSS */
    long hwm_kb;      /* VmHWM: peak RSS */
};

/* Sample pid; with children, add the CPU of its live children and of those it
 * has reaped (PostgreSQL: the postmaster and its backends). */
int proc_sample(pid_t pid, bool children, struct proc_sample *out);
/* The process holding the other end of a loopback TCP connection fd, or -1. */
pid_t proc_peer_pid(int fd);
/* CPU seconds all CPUs spent busy since boot (/proc/stat: all but idle and
 * iowait), to tell how much other processes took during a measurement. */
double proc_busy_all(void);
/* Monotonic clock in ns. */
int64_t bench_now_ns(void);
/* This process's own CPU seconds (user + system). */
double bench_self_cpu(void);

/* ---- bench_scan.c: stanza extraction ----
 * Everything the accounting needs from one stanza confabd sent, as spans into
 * the input (valid until the input moves). Produced either by a byte scanner
 * (fast: the default) or from an xstream tree (--parser xstream). */
struct span {
    const char *p;
    size_t n;
};

enum stz_kind { STZ_NONE = 0, STZ_MESSAGE, STZ_PRESENCE, STZ_IQ, STZ_OTHER };

struct stz {
    enum stz_kind kind;
    struct span name;       /* element name as written (STZ_OTHER: e.g. stream:error) */
    struct span to, from, type, id;
    struct span body;       /* text of a direct <body/> child (escaped form) */
    bool has_body;
    bool has_subject;       /* direct <subject/> child */
    bool has_delay;         /* direct <delay/> child (history replay) */
    bool has_error;         /* direct <error/> child */
    bool has_fin;           /* direct <fin/> child (XEP-0313 end of page) */
    bool has_result;        /* direct <result/> child (XEP-0313 result) */
    struct span queryid;    /* <result queryid/> */
    struct span first, last; /* text of <first/> and <last/> anywhere (RSM) */
    bool status110, status201;
    struct span error_cond; /* first element name inside <error/> */
};

/* Scan one stanza at b[0..len). Returns the bytes consumed (> 0) and fills *st
 * (kind STZ_NONE when only whitespace was consumed), 0 when the stanza is not
 * complete yet, -1 on input this scanner does not accept (comments, PIs,
 * text at stanza level), -2 at </stream:stream>. */
long scan_stanza(const char *b, size_t len, struct stz *st);
bool span_eq(struct span s, const char *lit);
bool span_prefix(struct span s, const char *lit);
/* Parse a decimal number at s.p + off; returns false when there is none. */
bool span_u64(struct span s, size_t off, uint64_t *out, size_t *end);

/* ---- bench_acct.c: receipt accounting shared by router and client mode ----
 * Each recipient has a bitmap row over the messages planned by the senders of
 * its room (sender offset + seq - 1) and, per sender, the highest seq seen. */
enum acct_mark { ACCT_NEW, ACCT_REORDERED, ACCT_DUP };
/* Record one copy of (sender, seq) at bit of row; ACCT_REORDERED is new too. */
enum acct_mark acct_mark(uint64_t *row, uint64_t bit, uint32_t *last, uint64_t seq);
/* Same latency lines in both modes: human report and the RESULT json. */
void hist_print(const char *name, const struct hist *h);

void hist_json(FILE *f, const char *name, const struct hist *h, bool comma);

/* Client mode: what one worker process measured, sent to the parent over a
 * pipe and summed there. The per-sender and per-room arrays follow the struct
 * on the pipe (S, S and M uint32 values). */
struct cres {
    uint32_t conns, conn_failed, disconnects, joins_ok, joins_failed;
    uint64_t sent, deliveries, deliveries_win, reflected, fanout, unique, dup, reordered;
    uint64_t misrouted, rejected, history, errors_other;
    uint64_t unsent;      /* still queued in libstrophe at the end: not counted as sent */
    double cpu_s;
    struct hist lat_all, lat_reflect, lat_fanout, lat_join, lag;
};
struct cres_arrays {
    uint32_t *sent;       /* [S] messages each sender sent */
    uint32_t *rejected;   /* [S] of those, answered with an error */
    uint32_t *joined;     /* [M] occupants of each room whose join succeeded */
};
void cres_init(struct cres *r);
void cres_merge(struct cres *dst, const struct cres *src);
void cres_arrays_add(struct cres_arrays *dst, const struct cres_arrays *src, unsigned S,
                     unsigned M);
/* Copies that should have arrived: every accepted message once per joined
 * occupant of its sender's room (sender s is in room s mod M). */
uint64_t cres_expected(const struct cres_arrays *a, unsigned S, unsigned M);
/* Whole-buffer I/O on a pipe: 0, or -1 (errno) on error or early end. */
int cres_write_all(int fd, const void *p, size_t n);
int cres_read_all(int fd, void *p, size_t n);

/* ---- bench_opt.c: command-line options from a table (like cfg.c's keys) ----
 * One row per option: its name, the type of its value, where the value goes in
 * the mode's options struct, its default (text, parsed like a command-line
 * value) and one line of help. Parsing goes through getopt_long, so --name=value,
 * unique abbreviations and options after operands work as they always did; the
 * --help text is printed from the same rows. */
enum opt_type {
    OPT_FLAG,     /* bool, set to true; takes no value */
    OPT_STR,      /* const char * (points into argv or the default) */
    OPT_UINT,     /* unsigned, whole number in [min, max] */
    OPT_U64,      /* uint64_t, whole number in [min, max] */
    OPT_INT,      /* int, whole number (sign allowed) in [min, max] */
    OPT_PID,      /* pid_t, whole number in [min, max] */
    OPT_DOUBLE,   /* double, finite, in [min, max] */
    OPT_CHOICE,   /* const char *: one of choices (the table's own string is stored) */
    OPT_FUNC,     /* set() does it (HOST:PORT, NAME=PID, ...) */
    OPT_HELP,     /* print the help and stop */
};

/* An OPT_FUNC setter: 0, or -1 with a message (without the option's name) in err. */
typedef int (*opt_set_fn)(void *opts, const char *val, char *err, size_t errlen);

struct opt {
    const char *name;             /* long name, without "--" */
    char short_name;              /* 0: none */
    enum opt_type type;
    size_t off;                   /* offset of the field in the options struct */
    const char *def;              /* default as a value; NULL: zero/none (not applied) */
    double min, max;              /* numbers: accepted range */
    const char *arg;              /* the value's name in --help */
    const char *help;             /* one line */
    const char *const *choices;   /* OPT_CHOICE: NULL-terminated */
    opt_set_fn set;               /* OPT_FUNC */
    const char *group;            /* --help prints it as a heading where it changes */
};

#define OPT_MAX 64
struct opt_result {
    bool seen[OPT_MAX];           /* [row] given on the command line */
    int rest;                     /* argv index of the first operand (after "--" too) */
    char err[256];                /* what was wrong, naming the option */
};

/* Set every row that has a default; -1 (message in res->err) when a default
 * does not parse, which is a bug in the table. */
int opt_defaults(const struct opt *t, size_t n, void *opts, struct opt_result *res);
/* Parse argv[1..] into opts (defaults are not applied here): 0, 1 when help was
 * asked for, -1 with res->err. Resets getopt, so it can be called again. */
int opt_parse(const struct opt *t, size_t n, void *opts, int argc, char **argv,
              struct opt_result *res);
/* Parse one value into its field: 0, or -1 with "--name: why" in err. */
int opt_set(const struct opt *o, void *opts, const char *val, char *err, size_t errlen);
/* The row called name, or NULL. */
const struct opt *opt_find(const struct opt *t, size_t n, const char *name);
/* Whether the option called name was on the command line. */
bool opt_seen(const struct opt *t, size_t n, const struct opt_result *res, const char *name);
/* One line per row: "  -c, --name ARG   help (default D)", headings between groups. */
void opt_usage(FILE *f, const struct opt *t, size_t n);

/* bench_client.c: --mode client (real client connections through a router). */
int client_main(int argc, char **argv);

#endif
