/* bench_copt.c — client mode's options: the table (names, defaults, help), HOST:PORT and NAME=PID. */
#include "compat.h"

#include <float.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_client.h"
#include "mem.h"

#define OFF(f) offsetof(struct copts, f)
#define UINTS 0, UINT_MAX
#define REALS 0, DBL_MAX
#define NONE 0, 0

/* A whole number in [lo, hi], or -1. */
static long whole(const char *s, long lo, long hi)
{
    char *end = NULL;
    if (*s < '0' || *s > '9')
        return -1;
    long v = strtol(s, &end, 10);
    return *end || v < lo || v > hi ? -1 : v;
}

static int set_server(void *opts, const char *val, char *err, size_t n)
{
    struct copts *c = opts;
    const char *colon = strrchr(val, ':');
    long port = colon ? whole(colon + 1, 1, 65535) : -1;
    if (!colon || colon == val || port < 0) {
        snprintf(err, n, "wants HOST:PORT, got '%s'", val);
        return -1;
    }
    /* The table's default is set first: an explicit --server replaces it. */
    free((char *)c->server_host);
    c->server_host = xstrndup(val, (size_t)(colon - val));
    c->server_port = (unsigned short)port;
    return 0;
}

/* Repeatable: NAME=PID, at most MAX_PIDS. */
static int set_pid(void *opts, const char *val, char *err, size_t n)
{
    struct copts *c = opts;
    const char *eq = strchr(val, '=');
    long pid = eq ? whole(eq + 1, 0, INT_MAX) : -1;
    if (!eq || eq == val || pid < 0 || c->npids == MAX_PIDS) {
        snprintf(err, n, "wants NAME=PID (at most %d), got '%s'", MAX_PIDS, val);
        return -1;
    }
    c->pid_name[c->npids] = xstrndup(val, (size_t)(eq - val));
    c->pid[c->npids++] = (pid_t)pid;
    return 0;
}

static const char *const modes[] = { "client", NULL };

/* Every option of client mode. bench-compare.sh, bench_compare.py, bench-e2e.sh
 * and test_bench_client.py depend on these names and defaults; --help prints
 * this table. */
const struct opt copt_table[] = {
    { "mode", 0, OPT_CHOICE, OFF(mode), "client", NONE, "client", "client mode (router mode: no --mode)", modes, NULL, NULL },
    { "server", 0, OPT_FUNC, 0, "127.0.0.1:5222", NONE, "HOST:PORT", "router's c2s address", NULL, set_server, NULL },
    { "domain", 0, OPT_STR, OFF(domain), "localhost", NONE, "D", "users' domain", NULL, NULL, NULL },
    { "user-prefix", 0, OPT_STR, OFF(user_prefix), "user", NONE, "P", "users are P1..PK", NULL, NULL, NULL },
    { "password", 0, OPT_STR, OFF(password), "bench", NONE, "PW", "common password", NULL, NULL, NULL },
    { "muc", 0, OPT_STR, OFF(muc), NULL, NONE, "JID", "MUC service to test (required)", NULL, NULL, NULL },
    { "room-prefix", 0, OPT_STR, OFF(room_prefix), "bench", NONE, "P", "rooms P0..P(M-1)", NULL, NULL, NULL },
    { "rooms", 0, OPT_UINT, OFF(rooms), "10", UINTS, "M", "rooms", NULL, NULL, NULL },
    { "occupants", 0, OPT_UINT, OFF(occupants), "10", UINTS, "N", "users per room", NULL, NULL, NULL },
    { "users", 0, OPT_UINT, OFF(users), "0", UINTS, "K", "users in all (0: M x N)", NULL, NULL, NULL },
    { "senders", 0, OPT_UINT, OFF(senders), "0", UINTS, "S", "the first S users send (0: all K)", NULL, NULL, NULL },
    { "rate", 0, OPT_DOUBLE, OFF(rate), "1000", REALS, "R", "groupchat messages/s, all senders", NULL, NULL, NULL },
    { "duration", 0, OPT_DOUBLE, OFF(duration), "10", REALS, "S", "measured seconds", NULL, NULL, NULL },
    { "warmup", 0, OPT_DOUBLE, OFF(warmup), "2", REALS, "S", "warm-up seconds before the window", NULL, NULL, NULL },
    { "drain", 0, OPT_DOUBLE, OFF(drain), "10", REALS, "S", "at most this long after the last send", NULL, NULL, NULL },
    { "idle-end", 0, OPT_DOUBLE, OFF(idle_end), "3", REALS, "S", "after the last send, stop once S s pass without a copy", NULL, NULL, NULL },
    { "poisson", 0, OPT_FLAG, OFF(poisson), NULL, NONE, NULL, "exponential gaps instead of a fixed schedule", NULL, NULL, NULL },
    { "body-bytes", 0, OPT_UINT, OFF(body_bytes), "64", 0, 65536, "B", "body size", NULL, NULL, NULL },
    { "workers", 0, OPT_UINT, OFF(workers), "0", UINTS, "W", "worker processes (0: 2; at least K/500)", NULL, NULL, NULL },
    { "window", 0, OPT_UINT, OFF(window), "32", 1, UINT_MAX, "N", "connects/joins in flight per worker", NULL, NULL, NULL },
    { "pid", 0, OPT_FUNC, 0, NULL, NONE, "NAME=PID", "sample CPU and RSS of PID (repeatable; postgres*/pg*: with children)", NULL, set_pid, NULL },
    { "timeout", 0, OPT_DOUBLE, OFF(timeout), "120", REALS, "S", "limit for connect and join phases", NULL, NULL, NULL },
    { "label", 0, OPT_STR, OFF(label), "", NONE, "L", "label in the report", NULL, NULL, NULL },
    { "seed", 0, OPT_UINT, OFF(seed), "1", UINTS, "N", "random seed (--poisson)", NULL, NULL, NULL },
    { "quiet", 0, OPT_FLAG, OFF(quiet), NULL, NONE, NULL, "no progress on stderr", NULL, NULL, NULL },
    { "help", 'h', OPT_HELP, 0, NULL, NONE, NULL, "this list", NULL, NULL, NULL },
};
const size_t copt_count = ARRAY_SIZE(copt_table);

void copt_usage(FILE *f)
{
    fprintf(f, "usage: confab-bench --mode client --muc MUC-DOMAIN [options]\n"
               "  K real XMPP clients (libstrophe, forked workers) through a router; see\n"
               "  docs/benchmarks.md.\n");
    opt_usage(f, copt_table, copt_count);
}

void copt_free(struct copts *c)
{
    free((char *)c->server_host);
    c->server_host = NULL;
    for (unsigned i = 0; i < c->npids; i++)
        free((char *)c->pid_name[i]);
    c->npids = 0;
}

int copt_parse(struct copts *c, int argc, char **argv, struct opt_result *res)
{
    memset(c, 0, sizeof *c);
    if (opt_defaults(copt_table, copt_count, c, res) < 0)
        return -1;
    int r = opt_parse(copt_table, copt_count, c, argc, argv, res);
    if (r != 0)
        return r;
    if (res->rest < argc) {
        snprintf(res->err, sizeof res->err, "unexpected argument '%s'", argv[res->rest]);
        return -1;
    }
    if (!c->muc) {
        snprintf(res->err, sizeof res->err, "--muc is required (the MUC service to test)");
        return -1;
    }
    return 0;
}
