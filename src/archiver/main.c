/* confab-archiver — wiring only: the daemon shell around the archive service. */
#include "compat.h"

#include "archiver.h"
#include "daemon.h"
#include "log.h"

struct archiverd {
    struct daemon *d;
    struct archiver *svc;
};

static struct archiverd the_daemon;

static void send_to_router(void *ud, const struct xml_node *st)
{
    struct archiverd *a = ud;
    if (daemon_send(a->d, st) < 0)
        log_debug("reply not sent (%s): link not available", st->name);
}

static void *start(struct daemon *d)
{
    the_daemon.d = d;
    the_daemon.svc = archiver_new(daemon_domain(d), send_to_router, &the_daemon);
    return &the_daemon;
}

static void on_stanza(void *svc, struct xml_node *st)
{
    struct archiverd *a = svc;
    archiver_handle(a->svc, st);
}

static void stop(void *svc)
{
    struct archiverd *a = svc;
    archiver_free(a->svc);
    a->svc = NULL;
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .name = "confab-archiver", .role = CFG_ROLE_ARCHIVER, .start = start,
        .stanza = on_stanza, .stop = stop,
    };
    return daemon_main(argc, argv, &ops);
}
