/* confabd — wiring only: the daemon shell around the MUC engine. */
#include "compat.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "daemon.h"
#include "datetime.h"
#include "log.h"
#include "migrate.h"
#include "muc.h"
#include "muc_store.h"

struct confabd {
    struct daemon *d;
    struct muc *muc;
    struct pg_store *store;
    struct migrate *migrating;
    uv_timer_t evict_timer;
    bool was_up;    /* the link has been up before: a reconnect needs reconciling */
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
    log_warn("%" PRIu64 " stanzas not sent in the last %s (last: %s): link %s", dropped,
             last_ms ? "10 s" : "moment", what, r == -ENOBUFS ? "congested" : "down");
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
        .persistent_default = c->persistent_default, .max_mam_page = (unsigned)c->max_mam_page,
        .max_message_bytes = (unsigned)c->max_message_size,
        .max_joined_rooms = (unsigned)c->max_joined_rooms,
    };
}

/* Occupant ids must survive restarts and be unguessable to users: derive the
 * key from the component secret, which users never see. */
static void occupant_key(const struct cfg *cfg, unsigned char key[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    static const char label[] = "confab occupant-id v1";
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, label, sizeof label) ||
        !EVP_DigestUpdate(ctx, cfg->component.domain, strlen(cfg->component.domain) + 1) ||
        !EVP_DigestUpdate(ctx, cfg->component.secret, strlen(cfg->component.secret)) ||
        !EVP_DigestFinal_ex(ctx, key, &len)) {
        fprintf(stderr, "FATAL OpenSSL SHA-256 failed\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
}

static void on_migrated(void *ud, int err, int from, int to)
{
    struct confabd *c = ud;
    c->migrating = NULL;
    if (err == -ECANCELED)
        return;
    if (err == -EPROTO) {
        daemon_fail(c->d, 78, "the chat database schema is newer than this confabd");
        return;
    }
    if (err < 0) {
        daemon_fail(c->d, 1, "the chat database schema could not be brought up to date");
        return;
    }
    if (from != to)
        log_info("chat schema migrated from version %d to %d", from, to);
    pg_store_set_ready(c->store);
}

static void on_evict(uv_timer_t *t)
{
    struct confabd *c = container_of(t, struct confabd, evict_timer);
    const struct cfg *cfg = daemon_cfg(c->d);
    unsigned n = muc_evict_idle(c->muc, datetime_now_ms(), (int64_t)cfg->storage_idle_ms);
    if (n)
        log_debug("evicted %u idle rooms from memory", n);
}

static void start_store(struct confabd *c, const struct cfg *cfg)
{
    uv_loop_t *loop = daemon_loop(c->d);
    struct pg_store_cfg sc = { .dsn = cfg->storage_dsn, .fts_language = cfg->storage_fts_language,
                               .durable = cfg->storage_durable,
                               .retention_ms = cfg->storage_retention_ms,
                               .tombstone_ttl_ms = cfg->storage_tombstone_ttl_ms };
    c->store = pg_store_new(loop, c->muc, &sc);
    muc_set_store(c->muc, pg_store_ops(c->store));
    c->migrating = migrate_run(loop, cfg->storage_dsn, "chat", chat_migrations,
                               chat_migrations_count, on_migrated, c);
    uv_timer_init(loop, &c->evict_timer);
    uv_timer_start(&c->evict_timer, on_evict, 10000, 10000);
}

static void *start(struct daemon *d)
{
    const struct cfg *cfg = daemon_cfg(d);
    struct muc_limits lim;
    unsigned char key[32];
    limits_from_cfg(cfg, &lim);
    occupant_key(cfg, key);
    struct muc_io io = {
        .send = io_send, .send_each = io_send_each, .send_raw = io_send_raw, .now_ms = io_now,
        .ud = &the_daemon,
    };
    the_daemon.d = d;
    the_daemon.muc = muc_new(daemon_domain(d), cfg->service_name, &lim, key, &io);
    if (*cfg->storage_dsn)
        start_store(&the_daemon, cfg);
    else
        log_warn("[storage] dsn is empty: rooms live in memory only");
    return &the_daemon;
}

static void on_stanza(void *svc, struct xml_node *st)
{
    struct confabd *c = svc;
    muc_handle(c->muc, st);
}

static void on_link_up(void *svc)
{
    struct confabd *c = svc;
    if (c->was_up)
        muc_reconcile(c->muc);
    c->was_up = true;
}

static void on_reloaded(void *svc)
{
    struct confabd *c = svc;
    const struct cfg *cfg = daemon_cfg(c->d);
    muc_set_name(c->muc, cfg->service_name);
    limits_from_cfg(cfg, &c->muc->lim);
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
    if (c->migrating)
        migrate_cancel(c->migrating);
    if (!c->store) {
        muc_free(c->muc);
        c->muc = NULL;
        return;
    }
    uv_close((uv_handle_t *)&c->evict_timer, NULL);
    pg_store_stop(c->store, on_store_stopped, c);
}

int main(int argc, char **argv)
{
    static const struct daemon_ops ops = {
        .name = "confabd", .role = CFG_ROLE_MUC, .start = start, .stanza = on_stanza,
        .reloaded = on_reloaded, .stop = stop, .link_up = on_link_up,
    };
    return daemon_main(argc, argv, &ops);
}
