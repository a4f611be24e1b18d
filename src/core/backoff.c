/* backoff.c — the retry delay and log suppression every reconnecting link
 * shares (include/backoff.h). */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"

#define REPEAT_WINDOW_MS 30000

void backoff_reset(struct backoff *b)
{
    b->steps = 0;
    b->last_reason[0] = '\0';
    b->suppressed = 0;
}

uint64_t backoff_next(struct backoff *b, uint64_t min_ms, uint64_t max_ms)
{
    uint64_t cap = max_ms < min_ms ? min_ms : max_ms;
    uint64_t base = min_ms;
    for (unsigned i = 0; i < b->steps && base < cap; i++)
        base *= 2;
    if (base > cap)
        base = cap;
    b->steps++;
    return base / 2 + (uint64_t)rand() % (base / 2 + 1);
}

bool backoff_should_log(struct backoff *b, const char *reason, bool force, uint64_t now_ms,
                        unsigned *repeats)
{
    bool repeat = !force && strcmp(reason, b->last_reason) == 0;
    if (repeat && now_ms - b->last_logged_ms < REPEAT_WINDOW_MS) {
        b->suppressed++;
        return false;
    }
    *repeats = b->suppressed;
    snprintf(b->last_reason, sizeof b->last_reason, "%s", reason);
    b->last_logged_ms = now_ms;
    b->suppressed = 0;
    return true;
}
