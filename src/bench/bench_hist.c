/* Log-linear latency histogram: exact below 2^HIST_SUB_BITS, then 64 buckets
 * per power of two. Constant memory (32 KiB), O(1) insert. */
#include "compat.h"

#include <string.h>

#include "bench.h"

#define SUB (1u << HIST_SUB_BITS)
#define HALF (SUB / 2)

static unsigned bucket_of(uint64_t v)
{
    if (v < SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned e = msb - HIST_SUB_BITS + 1;         /* >= 1 */
    unsigned m = (unsigned)(v >> e);              /* in [HALF, SUB) */
    return SUB + (e - 1) * HALF + (m - HALF);
}

/* Highest value that falls into bucket i. */
static uint64_t bucket_high(unsigned i)
{
    if (i < SUB)
        return i;
    unsigned e = (i - SUB) / HALF + 1;
    uint64_t m = (i - SUB) % HALF + HALF;
    return ((m + 1) << e) - 1;
}

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void hist_add(struct hist *h, uint64_t v)
{
    unsigned i = bucket_of(v);
    if (i >= HIST_BUCKETS)
        i = HIST_BUCKETS - 1;
    h->b[i]++;
    h->count++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
    if (v < h->min)
        h->min = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
    if (src->min < dst->min)
        dst->min = src->min;
}

uint64_t hist_pct(const struct hist *h, double pct)
{
    if (!h->count)
        return 0;
    /* rank of the value asked for, 1-based, rounded up */
    double want = pct / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = bucket_high(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
