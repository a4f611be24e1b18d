/* log.c — leveled logging to stderr, with sd-daemon <N> priorities under journald (log.h). */
#include "compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level current = LOG_INFO;
static const char *ident = "confab";
static const char *const names[] = { "ERROR", "WARN", "INFO", "DEBUG", "TRACE" };
/* sd-daemon(3) priority prefixes (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). */
static const char *const journal_prefix[] = { "<3>", "<4>", "<6>", "<7>", "<7>" };
static int journal = -1; /* stderr is the journal: 1, not: 0, not yet looked at: -1 */

/* systemd sets JOURNAL_STREAM=DEV:INODE for a service whose stderr is a
 * journal stream; it counts only while stderr is still that stream (not when
 * a child's stderr was redirected to a file), so compare the two. */
static bool stderr_is_journal(void)
{
    if (journal < 0) {
        const char *js = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
                  fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                  (unsigned long long)st.st_ino == ino;
    }
    return journal;
}

void log_set_level(enum log_level lvl) { current = lvl; }
enum log_level log_get_level(void) { return current; }
void log_set_ident(const char *s) { ident = s; }

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (lvl > current)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[2048];
    int n;
    /* The journal has its own timestamp and identifier: it gets the priority
     * instead, so journalctl -p warning works. Elsewhere: TIMESTAMP PROGRAM LEVEL. */
    if (stderr_is_journal())
        n = snprintf(line, sizeof line, "%s%s: ", journal_prefix[lvl], names[lvl]);
    else
        n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, ident, names[lvl]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so lines from the daemon never interleave. */
    size_t len = strnlen(line, sizeof line - 2);
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
    fflush(stderr);
}
