/* sdnotify.c — sd_notify(3) readiness, status and watchdog; no-ops without libsystemd. */
#include "compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sdnotify.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

void sdnotify_check(void)
{
}

void sdnotify_send(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* unset_environment = 0: a reload or a later notification still needs
     * NOTIFY_SOCKET. Returns 0 when not under a service manager. */
    int r = sd_notify(0, msg);
    if (r < 0)
        log_debug("sd_notify(%s): %s", msg, strerror(-r));
}

void sdnotify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sdnotify_send("RELOADING=1\nMONOTONIC_USEC=%llu",
                  (unsigned long long)ts.tv_sec * 1000000ULL +
                      (unsigned long long)ts.tv_nsec / 1000ULL);
}

uint64_t sdnotify_watchdog_usec(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

#else /* !HAVE_LIBSYSTEMD */

void sdnotify_check(void)
{
    if (getenv("NOTIFY_SOCKET"))
        log_warn("NOTIFY_SOCKET is set but this build has no libsystemd (configure "
                 "--with-systemd): no readiness or watchdog notifications; use Type=simple");
}

void sdnotify_send(const char *fmt, ...)
{
    (void)fmt;
}

void sdnotify_reloading(void)
{
}

uint64_t sdnotify_watchdog_usec(void)
{
    return 0;
}

#endif
