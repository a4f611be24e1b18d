/* confabd — wiring only: the daemon shell around the MUC service. */
#include "compat.h"

#include "daemon.h"
#include "log.h"
#include "muc.h"

struct confabd {
    struct daemon *d;
    struct muc *muc;
};

static void send_to_router(void *ud, const struct xml_node *st)
{
    struct confabd *c = ud;
    int r = daemon_send(c->d, st);
    if (r < 0)
        log_debug("reply not sent (%s): link is %s", st->name,
                  r == -ENOBUFS ? "congested" : "down");
}

static struct confabd the_daemon;

static void *start(struct daemon *d)
{
    const struct cfg *cfg = daemon_cfg(d);
    the_daemon.d = d;
    the_daemon.muc = muc_new(daemon_domain(d), cfg->service_name, send_to_router, &the_daemon);
    return &the_daemon;
}

static void on_stanza(void *svc, struct xml_node *st)
{
    struct confabd *c = svc;
    muc_handle(c->muc, st);
}

static void on_reloaded(void *svc)
{
    struct confabd *c = svc;
    muc_set_name(c->muc, daemon_cfg(c->d)->service_name);
}

static void stop(void *svc)
{
    struct confabd *c = svc;
    muc_free(c->muc);
    c->muc = NULL;
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .name = "confabd", .role = CFG_ROLE_MUC, .start = start, .stanza = on_stanza,
        .reloaded = on_reloaded, .stop = stop,
    };
    return daemon_main(argc, argv, &ops);
}
