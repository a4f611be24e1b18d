/* sdnotify.h — the service manager's notification protocol (sd_notify(3)):
 * readiness, status, reload, stop and watchdog keep-alives for systemd's
 * Type=notify units (contrib/systemd/, docs/operations.md).
 *
 * Built on libsystemd when configure found it (HAVE_LIBSYSTEMD); without it
 * every call is a no-op and sdnotify_watchdog_usec() is 0, so the daemons run
 * the same outside systemd (tests, scripts/up.sh) either way. Only the loop
 * thread calls these. */
#ifndef CONFAB_SDNOTIFY_H
#define CONFAB_SDNOTIFY_H

#include <stdint.h>

/* Log (once, at start) when NOTIFY_SOCKET is set but this build cannot
 * answer it: the unit should then be Type=simple. */
void sdnotify_check(void);
/* Send one notification: "READY=1", "WATCHDOG=1", "STATUS=..." or several
 * NAME=VALUE lines. printf-style. Failures are ignored (as sd_notify's are:
 * a service manager that stopped listening cannot be told anything). */
void sdnotify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* RELOADING=1 with the MONOTONIC_USEC= that systemd 253+ asks for. */
void sdnotify_reloading(void);
/* The service manager's watchdog interval for this process in µs
 * (WATCHDOG_USEC, when WATCHDOG_PID is unset or ours), or 0 when off. */
uint64_t sdnotify_watchdog_usec(void);

#endif
