/* metrics.c — the metrics registry and its text exposition (metrics.h). */
#include "compat.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "metrics.h"

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

struct series {
    char *label;            /* the label's value; NULL for the unlabelled series */
    uint64_t count;
    struct series *next;
};

struct metric {
    enum kind kind;
    char *name;
    char *help;
    char *label;            /* the label's name, or NULL */
    struct series *series;  /* counters */
    metric_fn *fn;          /* gauges */
    void *ud;
    double *bounds;         /* histograms */
    uint64_t *buckets;      /* count per bound, not cumulative; [n] is +Inf */
    size_t nbounds;
    double sum;
    uint64_t observed;
    struct metric *next;
};

static struct metric *registry, **registry_tail = &registry;

static struct metric *find(const char *name)
{
    for (struct metric *m = registry; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

static struct metric *add(enum kind kind, const char *name, const char *help)
{
    struct metric *m = xcalloc(1, sizeof *m);
    m->kind = kind;
    m->name = xstrdup(name);
    m->help = xstrdup(help);
    *registry_tail = m;
    registry_tail = &m->next;
    return m;
}

struct metric *metric_counter(const char *name, const char *help, const char *label)
{
    struct metric *m = find(name);
    if (m)
        return m;
    m = add(K_COUNTER, name, help);
    m->label = label ? xstrdup(label) : NULL;
    return m;
}

static struct series *series_of(struct metric *m, const char *value)
{
    struct series **p = &m->series;
    for (; *p; p = &(*p)->next)
        if ((!value && !(*p)->label) || (value && (*p)->label && strcmp((*p)->label, value) == 0))
            return *p;
    *p = xcalloc(1, sizeof **p);
    (*p)->label = value ? xstrdup(value) : NULL;
    return *p;
}

void metric_add(struct metric *m, uint64_t n)
{
    series_of(m, NULL)->count += n;
}

void metric_add_label(struct metric *m, const char *value, uint64_t n)
{
    series_of(m, value ? value : "")->count += n;
}

void metric_gauge(const char *name, const char *help, metric_fn *fn, void *ud)
{
    struct metric *m = find(name);
    if (!m)
        m = add(K_GAUGE, name, help);
    m->fn = fn;
    m->ud = ud;
}

struct metric *metric_histogram(const char *name, const char *help, const double *bounds,
                                size_t n)
{
    struct metric *m = find(name);
    if (m)
        return m;
    m = add(K_HISTOGRAM, name, help);
    m->bounds = xmalloc(n * sizeof *m->bounds);
    memcpy(m->bounds, bounds, n * sizeof *bounds);
    m->nbounds = n;
    m->buckets = xcalloc(n + 1, sizeof *m->buckets);
    return m;
}

void metric_observe(struct metric *m, double v)
{
    size_t i = 0;
    while (i < m->nbounds && v > m->bounds[i])
        i++;
    m->buckets[i]++;
    m->sum += v;
    m->observed++;
}

/* Label values escape backslash, double quote and newline (text format 0.0.4). */
static void put_label(struct buf *out, const char *name, const char *value)
{
    buf_printf(out, "{%s=\"", name);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            buf_putc(out, '\\');
        if (*p == '\n')
            buf_puts(out, "\\n");
        else
            buf_putc(out, *p);
    }
    buf_puts(out, "\"}");
}

static void put_number(struct buf *out, double v)
{
    if (isnan(v))
        buf_puts(out, "NaN");
    else if (isinf(v))
        buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else
        buf_printf(out, "%.17g", v);
}

static void render_counter(struct buf *out, const struct metric *m)
{
    if (!m->series && !m->label)
        buf_printf(out, "%s_total 0\n", m->name);
    for (const struct series *s = m->series; s; s = s->next) {
        buf_printf(out, "%s_total", m->name);
        if (m->label)
            put_label(out, m->label, s->label ? s->label : "");
        buf_printf(out, " %" PRIu64 "\n", s->count);
    }
}

static void render_histogram(struct buf *out, const struct metric *m)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= m->nbounds; i++) {
        cumulative += m->buckets[i];
        buf_printf(out, "%s_bucket{le=\"", m->name);
        put_number(out, i < m->nbounds ? m->bounds[i] : INFINITY);
        buf_printf(out, "\"} %" PRIu64 "\n", cumulative);
    }
    buf_printf(out, "%s_sum ", m->name);
    put_number(out, m->sum);
    buf_printf(out, "\n%s_count %" PRIu64 "\n", m->name, m->observed);
}

static const char *const type_names[] = { "counter", "gauge", "histogram" };

void metric_render(struct buf *out)
{
    for (const struct metric *m = registry; m; m = m->next) {
        buf_printf(out, "# HELP %s%s %s\n# TYPE %s%s %s\n", m->name,
                   m->kind == K_COUNTER ? "_total" : "", m->help, m->name,
                   m->kind == K_COUNTER ? "_total" : "", type_names[m->kind]);
        if (m->kind == K_COUNTER) {
            render_counter(out, m);
        } else if (m->kind == K_GAUGE) {
            buf_printf(out, "%s ", m->name);
            put_number(out, m->fn ? m->fn(m->ud) : NAN);
            buf_putc(out, '\n');
        } else {
            render_histogram(out, m);
        }
    }
}

void metric_reset(void)
{
    while (registry) {
        struct metric *m = registry;
        registry = m->next;
        while (m->series) {
            struct series *s = m->series;
            m->series = s->next;
            FREE_ALL(s->label, s);
        }
        FREE_ALL(m->name, m->help, m->label, m->bounds, m->buckets, m);
    }
    registry_tail = &registry;
}
