/* bench_client.h — client mode's options and report, shared by bench_client.c, bench_copt.c and bench_creport.c. */
#ifndef CONFAB_BENCH_CLIENT_H
#define CONFAB_BENCH_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "bench.h"

#define MAX_PIDS 8

/* Filled by copt_parse from the table in bench_copt.c (defaults there). */
struct copts {
    const char *mode;             /* "client": the only value */
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
};

extern const struct opt copt_table[];
extern const size_t copt_count;
/* Defaults, then argv: 0, 1 for --help, -1 with res->err. */
int copt_parse(struct copts *c, int argc, char **argv, struct opt_result *res);
void copt_usage(FILE *f);
/* What copt_parse allocated (the server host, the --pid names). */
void copt_free(struct copts *c);

/* What the parent measured, for the report. */
struct creport {
    const struct copts *c;
    unsigned users, rooms, senders, workers;
    const struct cres *r;               /* the workers' results, summed */
    const struct cres_arrays *a;
    const struct proc_sample *p0, *p1;  /* [c->npids] at the window's start and end */
    double busy;                        /* CPU s the machine spent, minus the workers' */
    double wall;                        /* the window's length, s */
    double workers_cpu, win_cpu;        /* workers' CPU s in all, and in the window */
    bool ok;
};

/* bench_creport.c: the human report and the RESULT line on stdout. */
void creport_print(const struct creport *rep);

#endif
