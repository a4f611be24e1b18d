/* archiver.c — confab-archiver's service, free of I/O: compliance event intake (docs/compliance-protocol.md). */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "archiver.h"
#include "datetime.h"
#include "log.h"
#include "mem.h"
#include "stanza.h"

/* A list of prepared domains. */
struct domains {
    char **v;
    size_t n;
};

struct archiver {
    char *domain;
    struct service_info info;
    service_send_fn *send;
    void *ud;
    struct archiver_store store;
    bool has_store;
    size_t max_queue;
    size_t outstanding;
    bool full_logged;
    struct domains senders;
    struct domains room_services;
    struct tapclass_policy tap_policy;  /* points into room_services */
    int64_t (*now_ms)(void);
};

/* One event handed to the store, waiting for its verdict. */
struct pending {
    struct archiver *a;
    struct xml_node *iq;   /* the request's envelope, to answer; NULL for messages */
    char uuid[CEVENT_UUID_LEN + 1];
};

static bool domain_iq(void *hook_ud, const struct xml_node *iq, const struct xml_node *payload);

static const char *const features[] = { NS_COMPLIANCE, NULL };

struct archiver *archiver_new(const char *domain, service_send_fn *send, void *ud)
{
    struct archiver *a = xcalloc(1, sizeof *a);
    a->domain = xstrdup(domain);
    a->send = send;
    a->ud = ud;
    a->max_queue = ARCHIVER_DEFAULT_MAX_QUEUE;
    a->now_ms = datetime_now_ms;
    a->info = (struct service_info){
        .domain = a->domain, .category = "component", .type = "archive",
        .name = "confab compliance archiver", .features = features,
        .software = "confab-archiver", .version = PACKAGE_VERSION,
        .domain_iq = domain_iq, .hook_ud = a,
    };
    return a;
}

static void domains_free(struct domains *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (struct domains){ 0 };
}

/* A comma/space separated list of domains, prepared; what is not a domain is
 * logged (what: the configuration key) and left out. */
static void domains_parse(struct domains *l, const char *list, const char *what)
{
    domains_free(l);
    char *copy = xstrdup(list ? list : ""), *save = NULL;
    for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        char *d = NULL;
        if (jid_prep_domain(t, &d) < 0) {
            log_warn("archiver: ignoring malformed %s domain '%s'", what, t);
            continue;
        }
        l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
        l->v[l->n++] = d;
    }
    free(copy);
}

void archiver_free(struct archiver *a)
{
    if (!a)
        return;
    domains_free(&a->senders);
    domains_free(&a->room_services);
    free(a->domain);
    free(a);
}

void archiver_set_store(struct archiver *a, const struct archiver_store *store)
{
    a->has_store = store != NULL;
    if (store)
        a->store = *store;
}

void archiver_set_max_queue(struct archiver *a, size_t max)
{
    a->max_queue = max ? max : ARCHIVER_DEFAULT_MAX_QUEUE;
}

void archiver_set_senders(struct archiver *a, const char *domains)
{
    domains_parse(&a->senders, domains, "sender");
}

void archiver_set_tap_policy(struct archiver *a, const char *room_services, bool record_signals)
{
    domains_parse(&a->room_services, room_services, "room service");
    a->tap_policy = (struct tapclass_policy){
        .record_signals = record_signals,
        .room_services = (const char *const *)a->room_services.v,
        .nroom_services = a->room_services.n,
    };
}

size_t archiver_outstanding(const struct archiver *a)
{
    return a->outstanding;
}

void archiver_set_clock(struct archiver *a, int64_t (*now_ms)(void))
{
    a->now_ms = now_ms ? now_ms : datetime_now_ms;
}

/* ---- answers ---- */

static void reply_error(struct archiver *a, const struct xml_node *iq, const char *cond,
                        const char *text)
{
    if (iq)
        service_bounce(&a->info, iq, cond, text, a->send, a->ud);
}

static void reply_result(struct archiver *a, const struct xml_node *iq)
{
    struct xml_node *r = stanza_iq_result(iq);
    a->send(a->ud, r);
    xml_unref(r);
}

static void on_stored(void *ud, int status)
{
    struct pending *p = ud;
    struct archiver *a = p->a;
    a->outstanding--;
    if (status == 0 && p->iq)
        reply_result(a, p->iq);
    else if (status == -EINVAL)
        reply_error(a, p->iq, "bad-request", "the archive refused this event's data");
    else if (status != -ECANCELED)
        reply_error(a, p->iq, "resource-constraint", "the event could not be recorded now");
    if (status != 0 && status != -ECANCELED)
        log_debug("archiver: event %s not recorded (%d)", p->uuid, status);
    if (p->iq)
        xml_unref(p->iq);
    free(p);
}

/* ---- intake ---- */

/* A server or component we accept events from: a bare domain, listed when
 * a list is configured. */
static bool sender_allowed(const struct archiver *a, const struct jid *from)
{
    if (from->node || from->resource)
        return false;
    if (!a->senders.n)
        return true;
    for (size_t i = 0; i < a->senders.n; i++)
        if (strcmp(a->senders.v[i], from->domain) == 0)
            return true;
    return false;
}

static bool queue_full(struct archiver *a)
{
    if (a->outstanding < a->max_queue) {
        if (a->full_logged)
            log_info("archiver: intake queue below its limit again");
        a->full_logged = false;
        return false;
    }
    if (!a->full_logged)
        log_warn("archiver: intake queue full (%zu events outstanding): answering wait",
                 a->outstanding);
    a->full_logged = true;
    return true;
}

/* Hand a valid event to the store; answers iq (may be NULL) now or later. */
static void submit(struct archiver *a, const struct cevent *ev, const struct xml_node *iq)
{
    if (!a->has_store || queue_full(a)) {
        reply_error(a, iq, "resource-constraint", "the archive is not accepting events now");
        return;
    }
    struct pending *p = xcalloc(1, sizeof *p);
    p->a = a;
    /* Only the envelope (addresses, id): the payload may be large. */
    p->iq = iq ? stanza_new("iq", stanza_from(iq), stanza_to(iq), "set", stanza_id(iq)) : NULL;
    memcpy(p->uuid, ev->uuid, sizeof p->uuid);
    a->outstanding++;
    int r = a->store.put(a->store.store, ev, on_stored, p);
    if (r < 0) {
        a->outstanding--;
        reply_error(a, iq, "resource-constraint", "the archive is not accepting events now");
        if (p->iq)
            xml_unref(p->iq);
        free(p);
    }
}

/* One log line per malformed event (never its content: a compliance system). */
static void rejected(const struct xml_node *st, const char *what, const char *why)
{
    const char *id = xml_attr(st, "id");
    log_warn("archiver: rejected a malformed %s from %s (stanza id %s): %s", what,
             stanza_from(st) ? stanza_from(st) : "?", id ? id : "-", why);
}

/* <event/> or <tap/> in an IQ set or a message from `from`. */
static void intake(struct archiver *a, const struct xml_node *st, const struct xml_node *el,
                   const struct jid *from, const struct xml_node *iq)
{
    struct cevent ev;
    const char *why = NULL;
    bool is_tap = strcmp(el->name, "tap") == 0;
    int r = is_tap ? cevent_from_tap(&ev, el, from->domain, &a->tap_policy, &why)
                   : cevent_from_event(&ev, el, from->domain, &why);
    if (r == -ENOENT) {   /* a copy the policy does not record: taken, nothing to store */
        if (iq)
            reply_result(a, iq);
        return;
    }
    if (r < 0) {
        rejected(st, is_tap ? "tap copy" : "event", why);
        reply_error(a, iq, "bad-request", why);
        return;
    }
    submit(a, &ev, iq);
    cevent_clear(&ev);
}

static bool domain_iq(void *hook_ud, const struct xml_node *iq, const struct xml_node *payload)
{
    struct archiver *a = hook_ud;
    if (!payload->ns || strcmp(payload->ns, NS_COMPLIANCE) != 0)
        return false;
    if (strcmp(payload->name, "event") != 0 && strcmp(payload->name, "tap") != 0)
        return false;
    struct jid from = { 0 };
    if (jid_parse(&from, stanza_from(iq)) < 0 || !sender_allowed(a, &from)) {
        reply_error(a, iq, "forbidden", "only the chat service and router taps send events");
        jid_clear(&from);
        return true;
    }
    if (strcmp(stanza_type(iq), "set") != 0)
        reply_error(a, iq, "bad-request", "events are sent with iq type set");
    else
        intake(a, iq, payload, &from, iq);
    jid_clear(&from);
    return true;
}

/* A message to our bare domain carrying a <tap/> or a bare <forwarded/>.
 * Returns false when it is neither (the default routing answers it). */
static bool domain_message(struct archiver *a, const struct xml_node *st, const struct jid *from)
{
    const struct xml_node *tap = xml_child(st, "tap", NS_COMPLIANCE);
    const struct xml_node *fwd = xml_child(st, "forwarded", NS_FORWARD);
    if ((!tap && !fwd) || stanza_is_error(st))
        return false;
    if (!sender_allowed(a, from)) {
        log_warn("archiver: ignoring a copy from %s: not an accepted sender", stanza_from(st));
        return true;
    }
    if (tap) {
        intake(a, st, tap, from, NULL);
        return true;
    }
    struct cevent ev;
    const char *why = NULL;
    int r = cevent_from_forwarded(&ev, fwd, from->domain, &a->tap_policy, a->now_ms(), &why);
    if (r == -ENOENT)
        return true;
    if (r < 0) {
        rejected(st, "forwarded copy", why);
        return true;
    }
    submit(a, &ev, NULL);
    cevent_clear(&ev);
    return true;
}

static bool for_domain_message(struct archiver *a, const struct xml_node *st)
{
    struct jid from = { 0 }, to = { 0 };
    bool done = false;
    if (stanza_kind(st) == STANZA_MESSAGE && stanza_from(st) && stanza_to(st) &&
        jid_parse(&from, stanza_from(st)) == 0 && jid_parse(&to, stanza_to(st)) == 0 &&
        !to.node && !to.resource && strcmp(to.domain, a->domain) == 0)
        done = domain_message(a, st, &from);
    jid_clear(&from);
    jid_clear(&to);
    return done;
}

void archiver_handle(struct archiver *a, const struct xml_node *st)
{
    if (for_domain_message(a, st))
        return;
    struct jid from = { 0 }, to = { 0 };
    if (service_route(&a->info, st, a->send, a->ud, &from, &to) != SERVICE_FOR_NODE)
        return;
    /* The archiver has no addressable nodes. */
    service_bounce(&a->info, st, "service-unavailable", NULL, a->send, a->ud);
    jid_clear(&from);
    jid_clear(&to);
}
