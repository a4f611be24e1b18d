/* bench_creport.c — client mode's report: the workers' merged results in words on stdout and as one "RESULT {json}" line. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>

#include "bench_client.h"

static uint64_t expected_of(const struct creport *p)
{
    return cres_expected(p->a, p->senders, p->rooms);
}

static uint64_t lost_of(const struct creport *p)
{
    uint64_t expected = expected_of(p);
    return expected > p->r->unique ? expected - p->r->unique : 0;
}

static double deliveries_per_s(const struct creport *p)
{
    return p->c->duration > 0 ? (double)p->r->deliveries_win / p->c->duration : 0;
}

/* CPU s of one sampled process in the window, or -1 when unreadable. */
static double pid_cpu(const struct creport *p, unsigned i)
{
    return p->p0[i].ok && p->p1[i].ok ? p->p1[i].cpu_s - p->p0[i].cpu_s : -1;
}

/* What the machine spent besides the workers and the sampled processes. */
static double other_cpu(const struct creport *p)
{
    double measured = 0;
    for (unsigned i = 0; i < p->c->npids; i++)
        if (pid_cpu(p, i) >= 0)
            measured += pid_cpu(p, i);
    return p->busy - measured;
}

static void print_counts(const struct creport *p)
{
    const struct copts *c = p->c;
    const struct cres *r = p->r;
    printf("confab-bench client mode%s%s: %u users (%u workers) in %u rooms of %s, %u senders, "
           "%.0f msg/s offered, %.0f s measured after %.0f s warm-up\n",
           *c->label ? " " : "", c->label, p->users, p->workers, p->rooms, c->muc, p->senders,
           c->rate, c->duration, c->warmup);
    printf("  connections %u ok, %u failed; joins %u ok, %u failed; disconnects %u\n", r->conns,
           r->conn_failed, r->joins_ok, r->joins_failed, r->disconnects);
    printf("  sent %" PRIu64 " messages (%" PRIu64 " more still queued in the bench at the "
           "end), rejected %" PRIu64 "; deliveries %" PRIu64 " (%.0f/s in the window); "
           "expected %" PRIu64 ", unique %" PRIu64 "\n",
           r->sent, r->unsent, r->rejected, r->deliveries, deliveries_per_s(p), expected_of(p),
           r->unique);
    printf("  lost %" PRIu64 ", duplicated %" PRIu64 ", reordered %" PRIu64 ", misrouted %" PRIu64
           ", history %" PRIu64 ", other errors %" PRIu64 "\n",
           lost_of(p), r->dup, r->reordered, r->misrouted, r->history, r->errors_other);
    hist_print("latency (all copies)", &r->lat_all);
    hist_print("latency (reflection)", &r->lat_reflect);
    hist_print("latency (other copies)", &r->lat_fanout);
    hist_print("join", &r->lat_join);
    hist_print("bench send lag", &r->lag);
}

static void print_cpu(const struct creport *p)
{
    const struct copts *c = p->c;
    double wall = p->wall, other = other_cpu(p);
    for (unsigned i = 0; i < c->npids; i++) {
        double cpu = pid_cpu(p, i);
        if (cpu < 0) {
            printf("  %-10s pid %d: not readable\n", c->pid_name[i], (int)c->pid[i]);
            continue;
        }
        printf("  %-10s pid %-7d CPU %.2f s (%.0f %% of a core), %.3f s per 100k deliveries, "
               "RSS %ld KiB (peak %ld)\n",
               c->pid_name[i], (int)c->pid[i], cpu, 100 * cpu / wall,
               p->r->deliveries_win ? cpu * 1e5 / (double)p->r->deliveries_win : 0,
               p->p1[i].rss_kb, p->p1[i].hwm_kb);
    }
    printf("  bench workers CPU %.2f s in the window (%.0f %% of a core), %.2f s in all; other "
           "processes in the window: %.0f %% of a core\n",
           p->win_cpu, 100 * p->win_cpu / wall, p->workers_cpu,
           other > 0 ? 100 * other / wall : 0);
}

static void json_counts(const struct creport *p)
{
    const struct copts *c = p->c;
    const struct cres *r = p->r;
    printf("RESULT {\"mode\":\"client\",\"label\":\"%s\",\"ok\":%s,\"muc\":\"%s\",\"users\":%u,"
           "\"rooms\":%u,\"senders\":%u,\"workers\":%u,\"rate\":%.1f,\"duration\":%.1f,"
           "\"conns\":%u,\"conn_failed\":%u,\"joins_ok\":%u,\"joins_failed\":%u,"
           "\"disconnects\":%u,\"sent\":%" PRIu64 ",\"unsent\":%" PRIu64
           ",\"rejected\":%" PRIu64
           ",\"deliveries\":%" PRIu64 ",\"deliveries_win\":%" PRIu64
           ",\"deliveries_per_s\":%.1f,\"expected\":%" PRIu64 ",\"unique\":%" PRIu64
           ",\"lost\":%" PRIu64 ",\"dup\":%" PRIu64 ",\"reordered\":%" PRIu64
           ",\"misrouted\":%" PRIu64 ",",
           c->label, p->ok ? "true" : "false", c->muc, p->users, p->rooms, p->senders,
           p->workers, c->rate, c->duration, r->conns, r->conn_failed, r->joins_ok,
           r->joins_failed, r->disconnects, r->sent, r->unsent, r->rejected, r->deliveries,
           r->deliveries_win, deliveries_per_s(p), expected_of(p), r->unique, lost_of(p), r->dup,
           r->reordered, r->misrouted);
    hist_json(stdout, "lat", &r->lat_all, true);
    hist_json(stdout, "lat_reflect", &r->lat_reflect, true);
    hist_json(stdout, "lat_fanout", &r->lat_fanout, true);
    hist_json(stdout, "join", &r->lat_join, true);
    hist_json(stdout, "lag", &r->lag, true);
}

static void json_cpu(const struct creport *p)
{
    const struct copts *c = p->c;
    double other = other_cpu(p);
    printf("\"procs\":{");
    for (unsigned i = 0; i < c->npids; i++) {
        double cpu = pid_cpu(p, i);
        printf("%s\"%s\":{\"pid\":%d,\"cpu_s\":%.3f,\"cpu_per_100k\":%.4f,\"rss_kb\":%ld,"
               "\"hwm_kb\":%ld}",
               i ? "," : "", c->pid_name[i], (int)c->pid[i], cpu,
               p->r->deliveries_win && cpu >= 0 ? cpu * 1e5 / (double)p->r->deliveries_win : -1,
               p->p1[i].rss_kb, p->p1[i].hwm_kb);
    }
    printf("},\"bench_cpu_s\":%.3f,\"bench_cpu_win_s\":%.3f,\"other_cpu_pct\":%.1f,"
           "\"window_s\":%.3f}\n",
           p->workers_cpu, p->win_cpu, other > 0 ? 100 * other / p->wall : 0, p->wall);
}

void creport_print(const struct creport *p)
{
    print_counts(p);
    print_cpu(p);
    json_counts(p);
    json_cpu(p);
    fflush(stdout);
}
