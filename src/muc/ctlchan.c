/* ctlchan.c — confabd's end of the control channel (ctlchan.h).
 *
 * A notification's payload is one JSON object: {"op": "room-destroyed",
 * "room": JID, "venue": JID, "reason": text, "actor": who} or {"op":
 * "room-changed", "room": JID} (configuration, affiliations, messages removed
 * or replaced, category) or {"op": "category-changed" | "group-changed" |
 * "policy-changed", "room": the category's or group's name}. Anything else is logged once and ignored: a newer confabctl
 * may know operations this confabd does not. */
#include "compat.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctlchan.h"
#include "daemon.h"
#include "datetime.h"
#include "log.h"
#include "mem.h"
#include "muc.h"
#include "pg_store.h"

#define PUBLISH_MS 5000

struct ctlchan {
    struct daemon *d;
    struct muc *m;
    struct pg_store *s;
    uv_timer_t timer;
    char id[128];
    char host[64];
    int64_t started_ms;
    bool warned_unknown;
};

static const char *str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v && *v ? v : NULL;
}

static void room_destroyed(struct ctlchan *c, json_t *o, const char *room)
{
    log_info("control: %s destroyed by %s", room, str(o, "actor") ? str(o, "actor") : "?");
    muc_control_destroyed(c->m, room, str(o, "venue"), str(o, "reason"),
                          str(o, "actor") ? str(o, "actor") : "confabctl");
}

static void room_changed(struct ctlchan *c, json_t *o, const char *room)
{
    log_debug("control: %s changed", room);
    muc_control_changed(c->m, room);
}

/* "room" names the category or group; everything is reloaded either way. */
static void service_changed(struct ctlchan *c, json_t *o, const char *name)
{
    log_info("control: %s %s: reloading categories, groups and policy", str(o, "op"),
             name ? name : "");
    muc_control_service_changed(c->m);
}

static const struct {
    const char *op;
    bool needs_room;
    void (*apply)(struct ctlchan *c, json_t *o, const char *room);
} ops[] = {
    { "room-destroyed", true, room_destroyed },
    { "room-changed", true, room_changed },
    { "category-changed", false, service_changed },
    { "group-changed", false, service_changed },
    { "policy-changed", false, service_changed },
};

/* Listening (again): what confabctl changed while nobody listened was not
 * notified, so categories, groups and policy are read afresh (the first time
 * at start, when the walls become known). */
static void on_listening(void *ud)
{
    struct ctlchan *c = ud;
    muc_control_service_changed(c->m);
}

static void on_notify(void *ud, const char *channel, const char *payload)
{
    struct ctlchan *c = ud;
    json_error_t e;
    json_t *o = json_loads(payload, 0, &e);
    const char *op = o ? str(o, "op") : NULL, *room = o ? str(o, "room") : NULL;
    for (size_t i = 0; op && i < ARRAY_SIZE(ops); i++) {
        if (strcmp(op, ops[i].op) != 0 || (ops[i].needs_room && !room))
            continue;
        ops[i].apply(c, o, room);
        json_decref(o);
        return;
    }
    if (!c->warned_unknown) {
        c->warned_unknown = true;
        log_warn("control: ignored a notification on %s that this confabd does not know "
                 "(%.200s); further ones are not logged", channel, payload);
    }
    json_decref(o);
}

static unsigned occupants(const struct muc *m)
{
    unsigned n = 0;
    for (const struct room *r = m->rooms; r; r = r->hh.next)
        n += r->noccupants;
    return n;
}

/* Occupants per occupied room, for confabctl rooms report. */
static json_t *occupied(const struct muc *m)
{
    json_t *o = json_object();
    for (const struct room *r = m->rooms; r; r = r->hh.next)
        if (r->noccupants)
            json_object_set_new(o, r->jid, json_integer(r->noccupants));
    return o;
}

static void publish(struct ctlchan *c)
{
    int64_t now = datetime_now_ms();
    json_t *o = json_pack("{s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:I}",
                          "uptime_s", (json_int_t)((now - c->started_ms) / 1000),
                          "rooms", (json_int_t)c->m->nrooms,
                          "occupants", (json_int_t)occupants(c->m),
                          "link_up", daemon_link_up(c->d),
                          "output_queue", (json_int_t)daemon_output_queued(c->d),
                          "db_queue", (json_int_t)pg_store_backlog(c->s),
                          "shaped", (json_int_t)c->m->flow.nqueued,
                          "promised", (json_int_t)muc_pending_output(c->m));
    json_object_set_new(o, "occupied", occupied(c->m));
    char *json = json_dumps(o, JSON_COMPACT);
    struct pg_daemon_status st = { .id = c->id, .host = c->host, .version = PACKAGE_VERSION,
                                   .started_ms = c->started_ms, .json = json };
    pg_store_publish(c->s, &st);
    free(json);
    json_decref(o);
}

static void on_timer(uv_timer_t *t)
{
    struct ctlchan *c = t->data;
    publish(c);
    /* Walls must be known: a load that failed at start is tried again. */
    if (!c->m->service_loaded)
        muc_load_service(c->m);
}

struct ctlchan *ctlchan_start(struct daemon *d, struct muc *m, struct pg_store *s)
{
    struct ctlchan *c = xcalloc(1, sizeof *c);
    c->d = d;
    c->m = m;
    c->s = s;
    c->started_ms = datetime_now_ms();
    if (gethostname(c->host, sizeof c->host - 1) < 0)
        strcpy(c->host, "localhost");
    snprintf(c->id, sizeof c->id, "%s/%ld/%lld", c->host, (long)getpid(),
             (long long)c->started_ms);
    pg_store_set_control(s, on_notify, on_listening, c);
    uv_timer_init(daemon_loop(d), &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_timer, 1000, PUBLISH_MS);
    return c;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void ctlchan_stop(struct ctlchan *c)
{
    if (!c)
        return;
    pg_store_set_control(c->s, NULL, NULL, NULL);
    pg_store_unpublish(c->s, c->id);
    uv_close((uv_handle_t *)&c->timer, on_closed);
}
