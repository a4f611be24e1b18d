/* bench_ropt.c — router mode's options: the table (names, defaults, help) and what follows from them. */
#include "compat.h"

#include <float.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_router.h"
#include "cfg.h"

#define OFF(f) offsetof(struct ropts, f)
#define UINTS 0, UINT_MAX
#define REALS 0, DBL_MAX
#define NONE 0, 0

static const char *const scenarios[] = { "chat", "storm", "mam", "startup", NULL };
static const char *const parsers[] = { "scan", "xstream", NULL };
static const char *const mam_modes[] = { "random", "walk", "last", NULL };

#define G_ALL NULL
#define G_ROOMS "rooms (chat, storm)"
#define G_MAM "mam"
#define G_START "startup"
#define G_OTHER "other"

/* Every option of router mode. The scripts (bench-store.sh, bench-scenarios.sh)
 * depend on these names and defaults; --help prints this table. */
const struct opt ropt_table[] = {
    { "config", 'c', OPT_STR, OFF(config), NULL, NONE, "FILE", "confabd's INI file: domain, secret and router address", NULL, NULL, G_ALL },
    { "listen", 0, OPT_STR, OFF(listen), NULL, NONE, "H:P", "address to listen on (default: the config's [component] router)", NULL, NULL, G_ALL },
    { "domain", 0, OPT_STR, OFF(domain), NULL, NONE, "D", "confabd's domain (default: from --config)", NULL, NULL, G_ALL },
    { "secret", 0, OPT_STR, OFF(secret), NULL, NONE, "S", "component secret (default: from --config)", NULL, NULL, G_ALL },
    { "scenario", 0, OPT_CHOICE, OFF(scenario_name), "chat", NONE, "S", "chat | storm | mam | startup", scenarios, NULL, G_ALL },
    { "pid", 0, OPT_PID, OFF(pid), NULL, 0, INT_MAX, "PID", "confabd's pid for CPU/RSS (default: the peer of the connection, or the spawned one)", NULL, NULL, G_ALL },
    { "pg-pid", 0, OPT_PID, OFF(pg_pid), NULL, 0, INT_MAX, "PID", "PostgreSQL postmaster: its CPU and its backends'", NULL, NULL, G_ALL },
    { "spawn", 0, OPT_FLAG, OFF(spawn), NULL, NONE, NULL, "start confabd: the arguments after -- are its command", NULL, NULL, G_ALL },
    { "spawn-log", 0, OPT_STR, OFF(spawn_log), NULL, NONE, "FILE", "the spawned confabd's stdout and stderr", NULL, NULL, G_ALL },
    { "rooms", 0, OPT_UINT, OFF(rooms), "10", UINTS, "M", "rooms (0 counts as 1)", NULL, NULL, G_ROOMS },
    { "occupants", 0, OPT_UINT, OFF(occupants), "10", UINTS, "K", "users per room", NULL, NULL, G_ROOMS },
    { "users", 0, OPT_UINT, OFF(users), "0", UINTS, "N", "users in all (0: rooms x occupants)", NULL, NULL, G_ROOMS },
    { "senders", 0, OPT_UINT, OFF(senders), "0", UINTS, "S", "the first S users send (0: all)", NULL, NULL, G_ROOMS },
    { "rate", 0, OPT_DOUBLE, OFF(rate), "1000", REALS, "R", "groupchat messages/s offered, all senders (storm: 0)", NULL, NULL, G_ROOMS },
    { "duration", 0, OPT_DOUBLE, OFF(duration), "10", REALS, "S", "measured seconds", NULL, NULL, G_ROOMS },
    { "warmup", 0, OPT_DOUBLE, OFF(warmup), "2", REALS, "S", "warm-up seconds before the window", NULL, NULL, G_ROOMS },
    { "drain", 0, OPT_DOUBLE, OFF(drain), "10", REALS, "S", "seconds to wait for stragglers", NULL, NULL, G_ROOMS },
    { "poisson", 0, OPT_FLAG, OFF(poisson), NULL, NONE, NULL, "exponential inter-arrival times instead of uniform", NULL, NULL, G_ROOMS },
    { "body-bytes", 0, OPT_UINT, OFF(body_bytes), "64", UINTS, "B", "body size", NULL, NULL, G_ROOMS },
    { "persistent", 0, OPT_FLAG, OFF(persistent), NULL, NONE, NULL, "configure rooms persistent", NULL, NULL, G_ROOMS },
    { "existing-rooms", 0, OPT_FLAG, OFF(existing_rooms), NULL, NONE, NULL, "rooms exist already: do not configure them", NULL, NULL, G_ROOMS },
    { "room-prefix", 0, OPT_STR, OFF(room_prefix), "room", NONE, "P", "room names P<i>", NULL, NULL, G_ROOMS },
    { "user-domain", 0, OPT_STR, OFF(user_domain), "bench.local", NONE, "D", "users' domain: user<i>@D/r", NULL, NULL, G_ROOMS },
    { "history", 0, OPT_INT, OFF(history), "-1", -1, INT_MAX, "K", "<history maxstanzas='K'/> in joins (-1: none sent)", NULL, NULL, G_ROOMS },
    { "prefill", 0, OPT_UINT, OFF(prefill), "0", UINTS, "K", "each room's owner posts K messages before the joins (storm: 20)", NULL, NULL, G_ROOMS },
    { "join-rate", 0, OPT_DOUBLE, OFF(join_rate), "0", REALS, "R", "joins/s, open loop (0: all at once)", NULL, NULL, G_ROOMS },
    { "mam-room", 0, OPT_STR, OFF(mam_room), NULL, NONE, "JID", "archived room to query (must exist, logging on)", NULL, NULL, G_MAM },
    { "mam-messages", 0, OPT_U64, OFF(mam_messages), "0", 0, (double)INT64_MAX, "N", "messages in its archive (seq 1..N)", NULL, NULL, G_MAM },
    { "mam-rate", 0, OPT_DOUBLE, OFF(mam_rate), "100", REALS, "R", "queries/s, open loop", NULL, NULL, G_MAM },
    { "mam-max", 0, OPT_UINT, OFF(mam_max), "50", UINTS, "N", "RSM <max/>", NULL, NULL, G_MAM },
    { "mam-mode", 0, OPT_CHOICE, OFF(mam_mode), "random", NONE, "M", "random (after random ids) | walk (backwards from the newest) | last (the newest page)", mam_modes, NULL, G_MAM },
    { "probe-room", 0, OPT_STR, OFF(probe_room), NULL, NONE, "JID", "room to probe until confabd serves it (default: P0)", NULL, NULL, G_START },
    { "touch", 0, OPT_UINT, OFF(touch), "0", UINTS, "N", "then join rooms P1..PN and report RSS per loaded room", NULL, NULL, G_START },
    { "settle-ms", 0, OPT_UINT, OFF(settle_ms), "1000", UINTS, "MS", "wait before reading RSS", NULL, NULL, G_START },
    { "parser", 0, OPT_CHOICE, OFF(parser), "scan", NONE, "P", "scan | xstream (expat tree per stanza)", parsers, NULL, G_OTHER },
    { "label", 0, OPT_STR, OFF(label), "", NONE, "L", "label in the report", NULL, NULL, G_OTHER },
    { "timeout", 0, OPT_DOUBLE, OFF(phase_timeout), "300", REALS, "S", "limit for setup and join phases", NULL, NULL, G_OTHER },
    { "seed", 0, OPT_UINT, OFF(seed), "1", UINTS, "N", "random seed", NULL, NULL, G_OTHER },
    { "quiet", 0, OPT_FLAG, OFF(quiet), NULL, NONE, NULL, "no progress on stderr", NULL, NULL, G_OTHER },
    { "help", 'h', OPT_HELP, 0, NULL, NONE, NULL, "this list", NULL, NULL, G_OTHER },
};
const size_t ropt_count = ARRAY_SIZE(ropt_table);

void ropt_usage(FILE *f)
{
    fprintf(f, "usage: confab-bench [options] [--spawn -- CONFABD-COMMAND...]\n"
               "Plays the XMPP router for confabd (XEP-0114 server side) and measures it.\n"
               "(confab-bench --mode client --help: real clients through a router instead.)\n\n");
    opt_usage(f, ropt_table, ropt_count);
}

static int failed(struct opt_result *res, const char *fmt, ...) PRINTF(2, 3);
static int failed(struct opt_result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->err, sizeof res->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* The scenario's name picks the code path; storm changes two defaults. */
static void scenario_defaults(struct ropts *o, const struct opt_result *res)
{
    static const struct { const char *name; enum scenario sc; } map[] = {
        { "chat", SC_ROOMS }, { "storm", SC_ROOMS }, { "mam", SC_MAM }, { "startup", SC_STARTUP },
    };
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (strcmp(o->scenario_name, map[i].name) == 0)
            o->scenario = map[i].sc;
    if (strcmp(o->scenario_name, "storm") == 0) {
        if (!opt_seen(ropt_table, ropt_count, res, "rate"))
            o->rate = 0;
        if (!opt_seen(ropt_table, ropt_count, res, "prefill"))
            o->prefill = 20;
    }
}

/* Domain, secret and listen address: the options, else confabd's config. */
static int resolve_link(struct ropts *o, struct opt_result *res)
{
    static struct cfg cfg;     /* o's strings point into it */
    if (o->config) {
        char *err = NULL;
        if (cfg_load(o->config, CFG_ROLE_MUC, &cfg, &err) < 0)
            return failed(res, "%s", err ? err : o->config);
        if (!o->domain)
            o->domain = cfg.component.domain;
        if (!o->secret)
            o->secret = cfg.component.secret;
        if (!o->listen) {
            o->listen_host = cfg.component.host;
            o->listen_port = cfg.component.port;
        }
    }
    if (o->listen) {
        char *h = NULL;
        uint16_t p = 0;
        if (cfg_parse_hostport(o->listen, &h, &p) < 0 || strlen(h) >= sizeof o->listen_buf) {
            free(h);
            return failed(res, "--listen: '%s' is not HOST:PORT", o->listen);
        }
        snprintf(o->listen_buf, sizeof o->listen_buf, "%s", h);
        free(h);
        o->listen_host = o->listen_buf;
        o->listen_port = p;
    }
    if (!o->domain || !o->secret || !o->listen_port)
        return failed(res, "%s", "need --config, or --domain, --secret and --listen");
    if (strcmp(o->listen_host, "localhost") == 0)
        o->listen_host = "127.0.0.1";
    return 0;
}

/* Operands: only the command after --spawn ... --. */
static int spawn_command(struct ropts *o, int argc, char **argv, struct opt_result *res)
{
    if (o->spawn) {
        if (res->rest >= argc)
            return failed(res, "%s", "--spawn needs a command after --");
        o->spawn_argv = argv + res->rest;
    } else if (res->rest < argc) {
        return failed(res, "unexpected argument '%s' (a command to start needs --spawn --)",
                      argv[res->rest]);
    }
    return 0;
}

int ropt_parse(struct ropts *o, int argc, char **argv, struct opt_result *res)
{
    memset(o, 0, sizeof *o);
    o->listen_host = "127.0.0.1";
    o->setup_window = 256;
    if (opt_defaults(ropt_table, ropt_count, o, res) < 0)
        return -1;
    int r = opt_parse(ropt_table, ropt_count, o, argc, argv, res);
    if (r != 0)
        return r;
    if (spawn_command(o, argc, argv, res) < 0)
        return -1;
    scenario_defaults(o, res);
    o->xstream_parser = strcmp(o->parser, "xstream") == 0;
    if (resolve_link(o, res) < 0)
        return -1;
    if (o->scenario == SC_MAM && (!o->mam_room || !o->mam_messages))
        return failed(res, "%s", "mam needs --mam-room and --mam-messages");
    if (o->scenario == SC_STARTUP && !o->spawn)
        return failed(res, "%s", "startup needs --spawn -- CONFABD-COMMAND");
    if (o->rooms == 0)
        o->rooms = 1;
    return 0;
}
