#include "compat.h"

#include <stdlib.h>

#include "archiver.h"
#include "mem.h"

struct archiver {
    char *domain;
    struct service_info info;
    service_send_fn *send;
    void *ud;
};

struct archiver *archiver_new(const char *domain, service_send_fn *send, void *ud)
{
    struct archiver *a = xcalloc(1, sizeof *a);
    a->domain = xstrdup(domain);
    a->send = send;
    a->ud = ud;
    a->info = (struct service_info){
        .domain = a->domain, .category = "component", .type = "archive",
        .name = "confab compliance archiver", .features = NULL,
        .software = "confab-archiver", .version = PACKAGE_VERSION,
    };
    return a;
}

void archiver_free(struct archiver *a)
{
    if (!a)
        return;
    free(a->domain);
    free(a);
}

void archiver_handle(struct archiver *a, const struct xml_node *st)
{
    struct jid from = { 0 }, to = { 0 };
    if (service_route(&a->info, st, a->send, a->ud, &from, &to) != SERVICE_FOR_NODE)
        return;
    /* The archiver has no addressable nodes. */
    service_bounce(&a->info, st, "service-unavailable", NULL, a->send, a->ud);
    jid_clear(&from);
    jid_clear(&to);
}
