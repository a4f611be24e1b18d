/* confabd — wiring only: the daemon shell around the MUC engine. */
#include "compat.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "daemon.h"
#include "datetime.h"
#include "log.h"
#include "muc.h"

struct confabd {
    struct daemon *d;
    struct muc *muc;
};

static struct confabd the_daemon;

static void log_unsent(const char *what, int r)
{
    log_debug("%s not sent: link %s", what, r == -ENOBUFS ? "congested" : "down");
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
        .persistent_default = c->persistent_default,
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
    const struct cfg *cfg = daemon_cfg(c->d);
    muc_set_name(c->muc, cfg->service_name);
    limits_from_cfg(cfg, &c->muc->lim);
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
