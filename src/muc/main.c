/* confabd — wiring only: the daemon shell around the MUC engine. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ctlchan.h"
#include "daemon.h"
#include "datetime.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "migrate.h"
#include "muc.h"
#include "pg_store.h"
#include "outbox.h"
#include "servicekey.h"

struct confabd {
    struct daemon *d;
    struct muc *muc;
    struct pg_store *store;
    struct migrate *migrating;
    uv_timer_t evict_timer;
    uv_timer_t backlog_timer; /* runs while intake is held for the database */
    uv_timer_t shape_timer;   /* runs while senders' bursts wait (shape.c) */
    struct ctlchan *ctl;      /* confabctl's notifications, our status (ctlchan.c) */
    uv_timer_t trim_timer;    /* returns freed memory after bursts (on_trim) */
    bool held;
    bool was_up;    /* the link has been up before: a reconnect needs reconciling */
    bool stopping;  /* stop() ran: late callbacks must not start anything */
    struct outbox *outbox;  /* compliance events to the archiver; NULL when off */
};

static struct confabd the_daemon;

/* Dropped output is counted and reported at most every 10 s, at warning
 * level: overload must be visible without flooding the log. */
static void log_unsent(const char *what, int r)
{
    static uint64_t dropped, last_ms;
    dropped++;
    uint64_t now = (uint64_t)datetime_now_ms();
    if (now - last_ms < 10000)
        return;
    log_warn("%" PRIu64 " stanzas not sent in the last %s (last: %s): link down", dropped,
             last_ms ? "10 s" : "moment", what);
    dropped = 0;
    last_ms = now;
}

static void io_send(void *ud, const struct xml_node *st)
{
    struct confabd *c = ud;
    int r = daemon_send(c->d, st);
    if (r < 0)
        log_unsent(st->name, r);
}

static void io_send_each(void *ud, const struct xml_node *st, const char *const *to, size_t n)
{
    struct confabd *c = ud;
    int r = daemon_send_each(c->d, st, to, n);
    if (r < 0)
        log_unsent(st->name, r);
}

static void io_send_raw(void *ud, const char *data, size_t len)
{
    struct confabd *c = ud;
    int r = daemon_send_raw(c->d, data, len);
    if (r < 0)
        log_unsent("stored stanza", r);
}

static int64_t io_now(void *ud)
{
    return datetime_now_ms();
}

static void io_output_changed(void *ud)
{
    struct confabd *c = ud;
    daemon_output_changed(c->d);
}

/* Waiting stanzas go out as tokens come, but only while the output has room:
 * a released message fans out like one just read, so it waits for the same
 * gate (daemon_output_full). */
static void on_shape_timer(uv_timer_t *h)
{
    struct confabd *c = h->data;
    if (!daemon_output_full(c->d))
        muc_shape_release(c->muc);
    if (!muc_shaping(c->muc))
        uv_timer_stop(h);
}

enum { SHAPE_TICK_MS = 50 };

static void shape_timer_arm(struct confabd *c)
{
    if (muc_shaping(c->muc) && !uv_is_active((uv_handle_t *)&c->shape_timer))
        uv_timer_start(&c->shape_timer, on_shape_timer, SHAPE_TICK_MS, SHAPE_TICK_MS);
}

/* ---- metrics (daemon.c serves them; docs/operations.md lists them) ---- */

static double g_rooms(void *ud)
{
    struct confabd *c = ud;
    return c->muc ? c->muc->nrooms : 0;
}

static double g_occupants(void *ud)
{
    struct confabd *c = ud;
    double n = 0;
    for (const struct room *r = c->muc ? c->muc->rooms : NULL; r; r = r->hh.next)
        n += r->noccupants;
    return n;
}

static double g_db_queue(void *ud)
{
    struct confabd *c = ud;
    return c->store ? (double)pg_store_backlog(c->store) : 0;
}

static double g_shaped(void *ud)
{
    struct confabd *c = ud;
    return c->muc ? (double)c->muc->flow.nqueued : 0;
}

static double g_promised(void *ud)
{
    struct confabd *c = ud;
    return c->muc ? (double)muc_pending_output(c->muc) : 0;
}

static double g_outbox(void *ud)
{
    struct confabd *c = ud;
    return c->outbox ? (double)outbox_depth(c->outbox) : 0;
}

static double g_archiver_rtt(void *ud)
{
    struct confabd *c = ud;
    return c->outbox ? (double)outbox_rtt_ms(c->outbox) / 1000.0 : 0;
}

static void register_metrics(struct confabd *c)
{
    metric_gauge("confab_rooms_loaded", "Rooms in memory.", g_rooms, c);
    metric_gauge("confab_occupants", "Occupants in rooms in memory.", g_occupants, c);
    metric_gauge("confab_db_queue", "Chat statements accepted and not yet committed.", g_db_queue,
                 c);
    metric_gauge("confab_shaped_waiting", "Stanzas waiting in senders' shaping queues.", g_shaped,
                 c);
    metric_gauge("confab_output_promised_bytes",
                 "Fan-out owed for accepted messages waiting for their commit.", g_promised, c);
    metric_gauge("confab_compliance_outbox", "Compliance events not yet acknowledged by the "
                 "archiver.", g_outbox, c);
    metric_gauge("confab_compliance_rtt_seconds", "Smoothed round trip of compliance events to "
                 "the archiver (its lag).", g_archiver_rtt, c);
    (void)metric_counter("confab_rooms_hibernated", "Idle rooms evicted from memory.", NULL);
}

static const char *unhealthy(void *svc)
{
    struct confabd *c = svc;
    const struct muc_store *s = c->muc ? c->muc->store : NULL;
    if (c->migrating)
        return "chat schema migration in progress";
    if (s && !s->available(s->st))
        return "chat database unavailable";
    return NULL;
}

static size_t pending_output(void *svc)
{
    struct confabd *c = svc;
    return c->muc ? muc_pending_output(c->muc) : 0;
}

static void limits_from_cfg(const struct cfg *cfg, struct muc_limits *lim)
{
    const struct cfg_muc *c = &cfg->muc;
    *lim = (struct muc_limits){
        .max_rooms = (unsigned)c->max_rooms, .max_occupants = (unsigned)c->max_occupants,
        .max_rooms_per_user = (unsigned)c->max_rooms_per_user,
        .max_history = (unsigned)c->max_history, .default_history = (unsigned)c->default_history,
        .max_nick_bytes = (unsigned)c->max_nick_length, .msg_rate = (unsigned)c->message_rate,
        .msg_burst = (unsigned)c->message_burst, .presence_rate = (unsigned)c->presence_rate,
        .presence_burst = (unsigned)c->presence_burst, .create_rooms = c->create_rooms,
        .max_presence_bytes = (unsigned)c->max_presence_size,
        .persistent_default = c->persistent_default, .log_by_default = c->log_by_default,
        .register_unaffiliated = c->register_unaffiliated,
        .max_mam_page = (unsigned)c->max_mam_page,
        .max_message_bytes = (unsigned)c->max_message_size,
        .max_joined_rooms = (unsigned)c->max_joined_rooms,
        .max_affiliations = (unsigned)c->max_affiliations,
        .max_list_items = (unsigned)c->max_list_items, .admin_rate = (unsigned)c->admin_rate,
        .admin_burst = (unsigned)c->admin_burst, .msg_queue = (unsigned)c->message_queue,
        .presence_queue = (unsigned)c->presence_queue,
        .rate_exempt_moderators = c->rate_exempt_moderators,
        .presence_limit = (unsigned)c->presence_limit, .hidden_admins = c->hidden_admins,
        .policy = { .default_max_occupants = c->default_max_occupants },
    };
    /* cfg.c validated both (policy_set). */
    char *why = NULL;
    (void)policy_set(&lim->policy, "create_persistent", c->create_persistent, &why);
    free(why);
    (void)policy_set(&lim->policy, "owners_may_change", c->owners_may_change, &why);
    free(why);
}

static void on_migrated(void *ud, int err, int from, int to)
{
    struct confabd *c = ud;
    c->migrating = NULL;
    /* A migration that finished just as we were told to stop reports success
     * after stop(): the store is going (or gone), so there is nothing to start. */
    if (err == -ECANCELED || c->stopping || !daemon_migrated(c->d, "chat", err, from, to))
        return;
    /* Categories, groups and policy are read once the control channel
     * listens (ctlchan.c); until then rooms answer `wait` (muc.c). */
    pg_store_set_ready(c->store);
}

/* Bursts (room loads' results, join storms' presences, an outbox backlog)
 * leave freed memory in the allocator: four times a second, hand it back once there
 * is enough of it (mem.h, the one place that trims). */
enum { TRIM_TICK_MS = 250, TRIM_MIN_FREE = 1u << 20 };

static void on_trim(uv_timer_t *t)
{
    (void)t;
    mem_trim_slack(TRIM_MIN_FREE);
}

static void on_evict(uv_timer_t *t)
{
    struct confabd *c = container_of(t, struct confabd, evict_timer);
    const struct cfg *cfg = daemon_cfg(c->d);
    unsigned n = muc_evict_idle(c->muc, datetime_now_ms(), (int64_t)cfg->storage_idle_ms);
    if (n)
        log_debug("evicted %u idle rooms from memory", n);
    metric_add(metric_counter("confab_rooms_hibernated", "Idle rooms evicted from memory.", NULL),
               n);
}

/* Load beyond what the database commits is pushed back to the router: above
 * [storage] max_queue statements outstanding we stop reading stanzas, below
 * half of it we read again, instead of refusing messages at db.c's hard bound. */
static void on_backlog_timer(uv_timer_t *t);

static void check_backlog(struct confabd *c)
{
    if (!c->store)
        return;
    size_t n = pg_store_backlog(c->store), max = (size_t)daemon_cfg(c->d)->storage_max_queue;
    if (!c->held && n >= max) {
        c->held = true;
        log_warn("chat database is behind (%zu statements queued): stopped reading from the "
                 "router", n);
        daemon_hold_input(c->d, true);
        uv_timer_start(&c->backlog_timer, on_backlog_timer, 10, 10);
    } else if (c->held && n <= max / 2) {
        c->held = false;
        log_info("chat database caught up (%zu statements queued): reading from the router "
                 "resumed", n);
        daemon_hold_input(c->d, false);
        uv_timer_stop(&c->backlog_timer);
    }
}

static void on_backlog_timer(uv_timer_t *t)
{
    check_backlog(container_of(t, struct confabd, backlog_timer));
}

static void start_store(struct confabd *c, const struct cfg *cfg)
{
    uv_loop_t *loop = daemon_loop(c->d);
    struct pg_store_cfg sc = { .dsn = cfg->storage_dsn, .domain = daemon_domain(c->d),
                               .compliance = *cfg->compliance_archiver != '\0',
                               .fts_language = cfg->storage_fts_language,
                               .durable = cfg->storage_durable,
                               .retention_ms = cfg->storage_retention_ms,
                               .tombstone_ttl_ms = cfg->storage_tombstone_ttl_ms };
    c->store = pg_store_new(loop, &sc);
    muc_set_store(c->muc, pg_store_ops(c->store));
    c->migrating = migrate_run(loop, cfg->storage_dsn, "chat", chat_migrations,
                               chat_migrations_count, on_migrated, c);
    uv_timer_init(loop, &c->evict_timer);
    uv_timer_start(&c->evict_timer, on_evict, 10000, 10000);
    uv_timer_init(loop, &c->trim_timer);
    uv_timer_start(&c->trim_timer, on_trim, TRIM_TICK_MS, TRIM_TICK_MS);
    uv_timer_init(loop, &c->backlog_timer);
    c->ctl = ctlchan_start(c->d, c->muc, c->store);
}

static void io_compliance(void *ud, const char *uuid, const char *room, const char *xml,
                          size_t len)
{
    struct confabd *c = ud;
    (void)room;
    if (c->outbox)
        outbox_push(c->outbox, uuid, xml, len);
}

static int outbox_send(void *ud, const char *data, size_t len)
{
    struct confabd *c = ud;
    return daemon_send_raw(c->d, data, len);
}

static void outbox_health(void *ud, bool refuse)
{
    struct confabd *c = ud;
    muc_set_compliance_refuse(c->muc, refuse);
}

/* After the store: the outbox reads back what the store committed. */
static void start_compliance(struct confabd *c, const struct cfg *cfg)
{
    const char *archiver = cfg->compliance_archiver;
    if (!*archiver)
        return;
    struct outbox_cfg oc = { .domain = daemon_domain(c->d), .archiver = archiver,
                             .strict = cfg->compliance_policy == CFG_POLICY_STRICT,
                             .max_backlog = cfg->compliance_max_backlog,
                             .unreachable_ms = cfg->compliance_unreachable_ms };
    struct outbox_io oio = { .send_raw = outbox_send, .health = outbox_health, .ud = c };
    c->outbox = outbox_new(daemon_loop(c->d), &oc, c->store, &oio);
    muc_set_compliance(c->muc, io_compliance, c);
    muc_set_compliance_max_event(c->muc, (size_t)cfg->compliance_max_event_size);
    log_info("compliance: events go to %s (policy %s)", archiver, oc.strict ? "strict" : "relaxed");
}

static void *start(struct daemon *d)
{
    const struct cfg *cfg = daemon_cfg(d);
    struct muc_limits lim;
    unsigned char key[32];
    limits_from_cfg(cfg, &lim);
    servicekey_from_secret(cfg->component.domain, cfg->component.secret, key);
    struct muc_io io = {
        .send = io_send, .send_each = io_send_each, .send_raw = io_send_raw, .now_ms = io_now,
        .output_changed = io_output_changed,
        .ud = &the_daemon, /* .random, .log: the engine's defaults (RAND_bytes, log.h) */
    };
    the_daemon.d = d;
    uv_timer_init(daemon_loop(d), &the_daemon.shape_timer);
    the_daemon.shape_timer.data = &the_daemon;
    register_metrics(&the_daemon);
    the_daemon.muc = muc_new(daemon_domain(d), cfg->service_name, &lim, key, &io);
    muc_set_admins(the_daemon.muc, cfg->muc.admins);
    if (*cfg->storage_dsn)
        start_store(&the_daemon, cfg);
    else
        log_warn("[storage] dsn is empty: rooms live in memory only");
    start_compliance(&the_daemon, cfg);
    return &the_daemon;
}

static void on_stanza(void *svc, struct xml_node *st)
{
    struct confabd *c = svc;
    if (c->outbox && outbox_answer(c->outbox, st))
        return;
    muc_handle(c->muc, st);
    shape_timer_arm(c);
    check_backlog(c);
}

static void on_link_up(void *svc)
{
    struct confabd *c = svc;
    if (c->was_up)
        muc_reconcile(c->muc);
    c->was_up = true;
    if (c->outbox)
        outbox_link(c->outbox, true);
}

static void on_link_down(void *svc)
{
    struct confabd *c = svc;
    if (c->outbox)
        outbox_link(c->outbox, false);
}

static void on_reloaded(void *svc)
{
    struct confabd *c = svc;
    const struct cfg *cfg = daemon_cfg(c->d);
    muc_set_name(c->muc, cfg->service_name);
    struct muc_limits lim;
    limits_from_cfg(cfg, &lim);
    muc_set_limits(c->muc, &lim);
    muc_set_admins(c->muc, cfg->muc.admins);
    if (c->outbox)
        outbox_set_limits(c->outbox, cfg->compliance_max_backlog, cfg->compliance_unreachable_ms);
    muc_set_compliance_max_event(c->muc, (size_t)cfg->compliance_max_event_size);
}

static void on_store_stopped(void *ud)
{
    struct confabd *c = ud;
    c->store = NULL;
    muc_free(c->muc);
    c->muc = NULL;
}

/* The store goes first: its pending callbacks still reach a live engine. */
static void stop(void *svc)
{
    struct confabd *c = svc;
    c->stopping = true;
    if (c->migrating)
        migrate_cancel(c->migrating);
    outbox_free(c->outbox);
    c->outbox = NULL;
    uv_close((uv_handle_t *)&c->shape_timer, NULL);
    if (!c->store) {
        muc_free(c->muc);
        c->muc = NULL;
        return;
    }
    uv_close((uv_handle_t *)&c->evict_timer, NULL);
    uv_close((uv_handle_t *)&c->trim_timer, NULL);
    uv_close((uv_handle_t *)&c->backlog_timer, NULL);
    ctlchan_stop(c->ctl);
    c->ctl = NULL;
    pg_store_stop(c->store, on_store_stopped, c);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .name = "confabd", .role = CFG_ROLE_MUC, .start = start, .stanza = on_stanza,
        .reloaded = on_reloaded, .stop = stop, .link_up = on_link_up,
        .link_down = on_link_down, .pending_output = pending_output, .unhealthy = unhealthy,
    };
    return daemon_main(argc, argv, &ops);
}
