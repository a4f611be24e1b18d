/* confab-archiver — wiring only: the daemon shell around the archive service
 * and its compliance database. */
#include "compat.h"

#include <stdlib.h>

#include "archive_checkpoint.h"
#include "archive_store.h"
#include "archiver.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"

struct archiverd {
    struct daemon *d;
    struct archiver *svc;
    struct archive_store *store;
    struct archive_checkpoint *checkpoints; /* NULL without [archiver] checkpoint_key */
    struct migrate *migrating;
    uv_timer_t fail_soon;    /* daemon_fail from the loop, not from start() */
    bool stopping;
};

static struct archiverd the_daemon;

static void send_to_router(void *ud, const struct xml_node *st)
{
    struct archiverd *a = ud;
    if (daemon_send(a->d, st) < 0)
        log_debug("reply not sent (%s): link not available", st->name);
}

static void on_migrated(void *ud, int err, int from, int to)
{
    struct archiverd *a = ud;
    a->migrating = NULL;
    /* A migration that finished just as we were told to stop: the store is going. */
    if (err == -ECANCELED || a->stopping || !daemon_migrated(a->d, "compliance", err, from, to))
        return;
    archive_store_start(a->store);
    if (a->checkpoints)
        archive_checkpoint_start(a->checkpoints);
}

static void apply_cfg(struct archiverd *a, const struct cfg *cfg)
{
    archiver_set_max_queue(a->svc, (size_t)cfg->archiver_max_queue);
    archiver_set_senders(a->svc, cfg->archiver_senders);
    /* confabd's domain from the same file by default: its rooms' traffic is
     * recorded by confabd, not again from the tap. */
    const char *rooms = *cfg->archiver_room_services ? cfg->archiver_room_services
                                                     : cfg->component.domain;
    archiver_set_tap_policy(a->svc, rooms, cfg->archiver_record_signals);
    if (!rooms || !*rooms)
        log_info("archiver: no [archiver] room_services: router-tap copies of room private "
                 "messages are recorded as chat besides confabd's own events");
}

static void on_fail_soon(uv_timer_t *t)
{
    struct archiverd *a = container_of(t, struct archiverd, fail_soon);
    uv_close((uv_handle_t *)t, NULL);
    daemon_fail(a->d, 78, "the checkpoint key or file cannot be used");
}

/* A configured key that cannot be used stops the daemon: archiving without
 * the checkpoints the operator asked for would look protected and not be.
 * The stop runs from the loop: start() has not returned its state yet. */
static bool start_checkpoints(struct archiverd *a, const struct cfg *cfg)
{
    const struct archive_checkpoint_cfg cc = {
        .key_path = cfg->archiver_checkpoint_key, .file = cfg->archiver_checkpoint_file,
        .every = cfg->archiver_checkpoint_every,
        .interval_ms = cfg->archiver_checkpoint_interval_ms,
    };
    char *err = NULL;
    a->checkpoints = archive_checkpoint_new(daemon_loop(a->d), a->store, &cc, &err);
    if (a->checkpoints)
        return true;
    log_error("%s", err);
    free(err);
    uv_timer_init(daemon_loop(a->d), &a->fail_soon);
    uv_timer_start(&a->fail_soon, on_fail_soon, 0, 0);
    return false;
}

static double g_chain_head(void *ud)
{
    struct archiverd *a = ud;
    return a->store ? (double)archive_store_head_seq(a->store) : 0;
}

static double g_queue(void *ud)
{
    struct archiverd *a = ud;
    return a->svc ? (double)archiver_outstanding(a->svc) : 0;
}

static void register_metrics(struct archiverd *a)
{
    metric_gauge("confab_archive_chain_head", "Highest hash-chain seq this archiver committed.",
                 g_chain_head, a);
    metric_gauge("confab_archiver_queue", "Events received and not yet committed.", g_queue, a);
    (void)metric_counter("confab_archived_events",
                         "Events added to the compliance archive's hash chain.", NULL);
}

static const char *unhealthy(void *svc)
{
    struct archiverd *a = svc;
    return a->migrating ? "compliance schema migration in progress" : NULL;
}

static void *start(struct daemon *d)
{
    const struct cfg *cfg = daemon_cfg(d);
    struct archiverd *a = &the_daemon;
    a->d = d;
    a->svc = archiver_new(daemon_domain(d), send_to_router, a);
    register_metrics(a);
    apply_cfg(a, cfg);
    a->store = archive_store_new(daemon_loop(d), cfg->archiver_dsn,
                                 (size_t)cfg->archiver_max_queue);
    struct archiver_store ops = archive_store_ops(a->store);
    archiver_set_store(a->svc, &ops);
    if (*cfg->archiver_checkpoint_key && !start_checkpoints(a, cfg))
        return a;
    a->migrating = migrate_run(daemon_loop(d), cfg->archiver_dsn, "compliance",
                               compliance_migrations, compliance_migrations_count, on_migrated,
                               a);
    return a;
}

static void on_stanza(void *svc, struct xml_node *st)
{
    struct archiverd *a = svc;
    archiver_handle(a->svc, st);
}

static void on_reloaded(void *svc)
{
    struct archiverd *a = svc;
    apply_cfg(a, daemon_cfg(a->d));
}

static void on_checkpoints_stopped(void *ud)
{
    struct archiverd *a = ud;
    a->checkpoints = NULL;
}

static void on_store_stopped(void *ud)
{
    struct archiverd *a = ud;
    a->store = NULL;
    archiver_free(a->svc);
    a->svc = NULL;
    /* After the store: its head reads have all been answered by now. */
    if (a->checkpoints)
        archive_checkpoint_stop(a->checkpoints, on_checkpoints_stopped, a);
}

/* The store goes first: its callbacks (-ECANCELED) still reach a live service. */
static void stop(void *svc)
{
    struct archiverd *a = svc;
    a->stopping = true;
    if (a->migrating)
        migrate_cancel(a->migrating);
    archive_store_stop(a->store, on_store_stopped, a);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .name = "confab-archiver", .role = CFG_ROLE_ARCHIVER, .start = start,
        .stanza = on_stanza, .reloaded = on_reloaded, .stop = stop, .unhealthy = unhealthy,
    };
    return daemon_main(argc, argv, &ops);
}
