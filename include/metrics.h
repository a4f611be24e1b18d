/* metrics.h — the process's Prometheus metrics: one registry, rendered as the
 * Prometheus text format (version 0.0.4, which OpenMetrics scrapers accept).
 *
 * Counters and histograms are updated where things happen (one add, no
 * allocation after the first use of a label value); gauges are read at scrape
 * time through a callback, so state the daemon already keeps (rooms,
 * occupants, queue depths) is never counted twice. Everything runs on the
 * loop thread: no locks. Registering a name again returns the same metric. */
#ifndef CONFAB_METRICS_H
#define CONFAB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct metric;
typedef double metric_fn(void *ud);

/* name without the _total suffix, which rendering adds; label may be NULL. */
struct metric *metric_counter(const char *name, const char *help, const char *label);
void metric_add(struct metric *m, uint64_t n);
void metric_add_label(struct metric *m, const char *value, uint64_t n);
void metric_gauge(const char *name, const char *help, metric_fn *fn, void *ud);
/* bounds: upper bounds in ascending order (+Inf is implicit); copied. */
struct metric *metric_histogram(const char *name, const char *help, const double *bounds,
                                size_t n);
void metric_observe(struct metric *m, double v);
void metric_render(struct buf *out);
/* Forget everything (tests; the daemon at exit). */
void metric_reset(void);

#endif
