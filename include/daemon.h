/* daemon.h — what confabd and confab-archiver share around their service:
 * command line, configuration, the libuv loop, signals and the router link.
 *
 * A daemon's main() fills a daemon_ops and calls daemon_main(). The service
 * sees stanzas from its router and answers through daemon_send(). */
#ifndef CONFAB_DAEMON_H
#define CONFAB_DAEMON_H

#include <uv.h>

#include "cfg.h"
#include "xml.h"

struct daemon;

struct daemon_ops {
    const char *name;     /* program name in logs and --version */
    enum cfg_role role;
    /* Create the service once the configuration is loaded; return its state. */
    void *(*start)(struct daemon *d);
    /* A stanza from the router (borrowed for the call). */
    void (*stanza)(void *svc, struct xml_node *st);
    void (*link_up)(void *svc);
    void (*link_down)(void *svc);
    /* After SIGHUP applied reloadable keys to the live configuration. */
    void (*reloaded)(void *svc);
    /* Why the service cannot work now (for /health), or NULL. May be NULL. */
    const char *(*unhealthy)(void *svc);
    /* Output bytes promised for stanzas already taken (transport.h). May be NULL. */
    size_t (*pending_output)(void *svc);
    /* Release the service; the loop is still running but the link is gone. */
    void (*stop)(void *svc);
};

int daemon_main(int argc, char **argv, const struct daemon_ops *ops);
/* Stop the daemon because it cannot work (e.g. its database schema is newer
 * than it knows); the process exits with exit_code. */
void daemon_fail(struct daemon *d, int exit_code, const char *why);
/* The outcome of migrating the schema named schema ("chat", "compliance") at
 * start: true when the store may start; otherwise the daemon is failing, with
 * EX_CONFIG when the database is newer than this binary (-EPROTO). */
bool daemon_migrated(struct daemon *d, const char *schema, int err, int from, int to);

/* Send one stanza to the router: 0 or -ENOTCONN (link down). Never refused
 * for want of room: input stops first (transport.h). */
int daemon_send(struct daemon *d, const struct xml_node *st);
int daemon_send_each(struct daemon *d, const struct xml_node *st, const char *const *to,
                     size_t n);
int daemon_send_raw(struct daemon *d, const char *data, size_t len);
/* Stop (true) or resume (false) taking stanzas from the router: load the
 * service cannot absorb right now stays with the router (backpressure). */
void daemon_hold_input(struct daemon *d, bool hold);
/* The service's pending output shrank without being sent: re-check the gate. */
void daemon_output_changed(struct daemon *d);
bool daemon_link_up(const struct daemon *d);
size_t daemon_output_queued(const struct daemon *d);
/* The input gate is shut: output queued and promised is over its mark. */
bool daemon_output_full(const struct daemon *d);
const struct cfg *daemon_cfg(const struct daemon *d);
uv_loop_t *daemon_loop(struct daemon *d);
/* This daemon's own domain (component or archiver). */
const char *daemon_domain(const struct daemon *d);

#endif
