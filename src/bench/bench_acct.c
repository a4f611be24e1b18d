/* Receipt accounting and result merging, shared by router and client mode.
 * Pure: no I/O except the two whole-buffer pipe helpers at the end. */
#include "compat.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

enum acct_mark acct_mark(uint64_t *row, uint64_t bit, uint32_t *last, uint64_t seq)
{
    uint64_t w = bit / 64, m = 1ULL << (bit % 64);
    if (row[w] & m)
        return ACCT_DUP;
    row[w] |= m;
    if (seq < *last)
        return ACCT_REORDERED;
    *last = (uint32_t)seq;
    return ACCT_NEW;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

void hist_print(const char *name, const struct hist *h)
{
    if (!h->count) {
        printf("  %-22s (no samples)\n", name);
        return;
    }
    printf("  %-22s n=%-9" PRIu64 " p50 %8.3f  p95 %8.3f  p99 %8.3f  p99.9 %8.3f  max %8.3f ms\n",
           name, h->count, ms(hist_pct(h, 50)), ms(hist_pct(h, 95)), ms(hist_pct(h, 99)),
           ms(hist_pct(h, 99.9)), ms(h->max));
}

void hist_json(FILE *f, const char *name, const struct hist *h, bool comma)
{
    fprintf(f, "\"%s\":{\"n\":%" PRIu64 ",\"mean\":%.3f,\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f,"
               "\"p999\":%.3f,\"max\":%.3f}%s",
            name, h->count, hist_mean(h) / 1e6, ms(hist_pct(h, 50)), ms(hist_pct(h, 95)),
            ms(hist_pct(h, 99)), ms(hist_pct(h, 99.9)), ms(h->max), comma ? "," : "");
}

void cres_init(struct cres *r)
{
    memset(r, 0, sizeof *r);
    hist_init(&r->lat_all);
    hist_init(&r->lat_reflect);
    hist_init(&r->lat_fanout);
    hist_init(&r->lat_join);
    hist_init(&r->lag);
}

void cres_merge(struct cres *d, const struct cres *s)
{
    d->conns += s->conns;
    d->conn_failed += s->conn_failed;
    d->disconnects += s->disconnects;
    d->joins_ok += s->joins_ok;
    d->joins_failed += s->joins_failed;
    d->sent += s->sent;
    d->deliveries += s->deliveries;
    d->deliveries_win += s->deliveries_win;
    d->reflected += s->reflected;
    d->fanout += s->fanout;
    d->unique += s->unique;
    d->dup += s->dup;
    d->reordered += s->reordered;
    d->misrouted += s->misrouted;
    d->rejected += s->rejected;
    d->history += s->history;
    d->errors_other += s->errors_other;
    d->unsent += s->unsent;
    d->cpu_s += s->cpu_s;
    hist_merge(&d->lat_all, &s->lat_all);
    hist_merge(&d->lat_reflect, &s->lat_reflect);
    hist_merge(&d->lat_fanout, &s->lat_fanout);
    hist_merge(&d->lat_join, &s->lat_join);
    hist_merge(&d->lag, &s->lag);
}

void cres_arrays_add(struct cres_arrays *d, const struct cres_arrays *s, unsigned S, unsigned M)
{
    for (unsigned i = 0; i < S; i++) {
        d->sent[i] += s->sent[i];
        d->rejected[i] += s->rejected[i];
    }
    for (unsigned j = 0; j < M; j++)
        d->joined[j] += s->joined[j];
}

uint64_t cres_expected(const struct cres_arrays *a, unsigned S, unsigned M)
{
    uint64_t n = 0;
    if (!M)
        return 0;
    for (unsigned s = 0; s < S; s++) {
        uint32_t ok = a->sent[s] >= a->rejected[s] ? a->sent[s] - a->rejected[s] : 0;
        n += (uint64_t)ok * a->joined[s % M];
    }
    return n;
}

int cres_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int cres_read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            errno = EPIPE;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}
