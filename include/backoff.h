/* backoff.h — one retry policy for every link that reconnects (the router
 * link, the database connections): exponential steps with equal jitter, and
 * one log line per distinct failure instead of one per attempt. */
#ifndef CONFAB_BACKOFF_H
#define CONFAB_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

struct backoff {
    unsigned steps;            /* attempts since the last success */
    char last_reason[768];     /* the failure last logged in full */
    uint64_t last_logged_ms;
    unsigned suppressed;       /* repeats logged at debug since then */
};

/* After a success: the next failure starts from the first step and is logged. */
void backoff_reset(struct backoff *b);

/* The delay before the next attempt: min_ms doubled per step up to max_ms,
 * then equal jitter (never below half the step, so retries still back off
 * and a crowd of clients spreads out). */
uint64_t backoff_next(struct backoff *b, uint64_t min_ms, uint64_t max_ms);

/* Should this failure be logged at its own level? A repeat of the last
 * logged reason within 30 s is not (log it at debug); when it is, *repeats
 * says how many were held back since the last report, for its line. force:
 * always log (a refusal is a configuration problem worth every line). */
bool backoff_should_log(struct backoff *b, const char *reason, bool force, uint64_t now_ms,
                        unsigned *repeats);

#endif
