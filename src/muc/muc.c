/* muc.c — the MUC service (XEP-0045 §6.1-6.2): routes stanzas to handlers, keeps the room registry. */
#include "compat.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance.h"
#include "log.h"
#include "mem.h"
#include "mem_store.h"
#include "muc.h"
#include "reply.h"
#include "servicekey.h"
#include "stanza.h"

/* Stanzas for a room that is being read from the store wait here. */
struct room_load {
    char *jid;
    struct xml_node **parked;
    size_t n;
    size_t promised;  /* output owed for the parked stanzas (budget.c) */
    UT_hash_handle hh;
};

static const char *const muc_features[] = {
    NS_MUC, NS_MUC_UNIQUE, "http://jabber.org/protocol/muc#stable_id", NS_SEARCH,
    NS_CHANNEL_SEARCH, NS_VCARD, "http://jabber.org/protocol/rsm", NS_COMMANDS, NULL,
};

void muc_limits_default(struct muc_limits *lim)
{
    /* Cisco's persistent chat defaults where it has one (1000 occupants, 100
     * history messages per join). */
    *lim = (struct muc_limits){
        .max_rooms = 0, .max_occupants = 1000, .max_rooms_per_user = 100, .max_history = 100,
        .default_history = 20, .max_nick_bytes = 128, .msg_rate = 5, .msg_burst = 20,
        .presence_rate = 2, .presence_burst = 10, .max_presence_bytes = 8192, .create_rooms = true,
        .persistent_default = false, .log_by_default = true, .max_mam_page = 100,
        .max_message_bytes = 32768, .max_joined_rooms = 100, .max_affiliations = 2000,
        .max_list_items = 200, .admin_rate = 5, .admin_burst = 20, .msg_queue = 50,
        .presence_queue = 10, .presence_limit = 75,
        .policy = { .create_persistent = POLICY_CREATE_ANYONE,
                    .owners_may_change = POLICY_ALL_SETTINGS },
    };
}

static bool domain_iq(void *ud, const struct xml_node *iq, const struct xml_node *q)
{
    struct muc *m = ud;
    const char *type = stanza_type(iq);
    if (!q->ns)
        return false;
    /* XEP-0055 searches are sets; everything else here is a get. */
    if (strcmp(q->ns, NS_SEARCH) == 0 && strcmp(q->name, "query") == 0) {
        search_handle(m, iq, q);
        return true;
    }
    if (strcmp(q->ns, NS_COMMANDS) == 0)
        return adhoc_handle(m, iq, q);
    if (strcmp(type, "get") != 0)
        return false;
    if (strcmp(q->ns, NS_DISCO_ITEMS) == 0 && !xml_attr(q, "node")) {
        search_disco_items(m, iq, q);
        return true;
    }
    if (strcmp(q->ns, NS_DISCO_ITEMS) == 0)
        return adhoc_disco_items(m, iq, q);
    if (strcmp(q->ns, NS_CHANNEL_SEARCH) == 0 && strcmp(q->name, "search") == 0) {
        search_channels(m, iq, q);
        return true;
    }
    if (strcmp(q->ns, NS_MUC_UNIQUE) == 0 && strcmp(q->name, "unique") == 0) {
        roomdisco_unique(m, iq);
        return true;
    }
    return false;
}

static void refresh_info(struct muc *m)
{
    m->info = (struct service_info){
        .domain = m->domain, .category = "conference", .type = "text", .name = m->name,
        .features = muc_features, .software = "confabd", .version = PACKAGE_VERSION,
        .domain_iq = domain_iq, .hook_ud = m,
    };
}

/* The defaults of struct muc_io's optional members: what confabd uses. */
static bool default_random(void *ud, void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1;
}

static void default_log(void *ud, const char *line)
{
    log_info("%s", line);
}

struct muc *muc_new(const char *domain, const char *name, const struct muc_limits *lim,
                    const unsigned char key[32], const struct muc_io *io)
{
    struct muc *m = xcalloc(1, sizeof *m);
    m->domain = xstrdup(domain);
    m->name = xstrdup(name);
    m->lim = *lim;
    m->io = *io;
    if (!m->io.random)
        m->io.random = default_random;
    if (!m->io.log)
        m->io.log = default_log;
    memcpy(m->occupant_id_key, key, sizeof m->occupant_id_key);
    m->sid = stanzaid_new(key);
    servicekey_derive(key, "iq-id", m->iq_key);
    mem_store_init(&m->mem_store, m);
    m->store = &m->mem_store;
    wall_init(m);
    svcpolicy_refresh(m);
    refresh_info(m);
    return m;
}

void muc_free(struct muc *m)
{
    if (!m)
        return;
    stanzaid_free(m->sid);
    shape_free_all(m);
    struct room *room, *rtmp;
    HASH_ITER(hh, m->rooms, room, rtmp) {
        HASH_DEL(m->rooms, room);
        room_free(room);
    }
    struct room_load *l, *ltmp;
    HASH_ITER(hh, m->loading, l, ltmp) {
        HASH_DEL(m->loading, l);
        for (size_t i = 0; i < l->n; i++)
            xml_unref(l->parked[i]);
        free(l->parked);
        free(l->jid);
        free(l);
    }
    struct user_count *u, *utmp;
    HASH_ITER(hh, m->joined, u, utmp) {
        HASH_DEL(m->joined, u);
        free(u->jid);
        free(u);
    }
    struct tombstone *t, *ttmp;
    HASH_ITER(hh, m->tombstones, t, ttmp) {
        HASH_DEL(m->tombstones, t);
        FREE_ALL(t->jid, t->venue, t->reason, t);
    }
    muc_set_admins(m, NULL);
    wall_free(&m->walls);
    svcpolicy_free(m);
    free(m->domain);
    free(m->name);
    free(m);
}

void muc_set_name(struct muc *m, const char *name)
{
    free(m->name);
    m->name = xstrdup(name);
    refresh_info(m);
}

/* service_route's answers (disco, version, addressing errors) are output too. */
void muc_set_limits(struct muc *m, const struct muc_limits *lim)
{
    m->lim = *lim;
    svcpolicy_refresh(m);
}

void muc_set_compliance(struct muc *m, muc_compliance_sink *sink, void *ud)
{
    m->compliance_on = true;
    m->compliance_sink = sink;
    m->compliance_ud = ud;
}

void muc_set_compliance_max_event(struct muc *m, size_t bytes)
{
    m->compliance_max_event = bytes;
}

void muc_set_compliance_refuse(struct muc *m, bool refuse)
{
    m->compliance_refuse = refuse;
}

static void send_cb(void *ud, const struct xml_node *st)
{
    muc_send(ud, st);
}

static const struct xml_node *iq_payload(const struct xml_node *iq)
{
    const struct xml_node *q = xml_first(iq);
    return q && !xml_next(q) ? q : NULL;
}

static bool ns_is(const struct xml_node *n, const char *ns)
{
    return n && n->ns && strcmp(n->ns, ns) == 0;
}

/* An IQ to the room's bare JID. */
static void room_iq(struct muc_req *r, struct room *room)
{
    const char *type = stanza_type(r->st);
    const struct xml_node *q = iq_payload(r->st);
    if (!type || strcmp(type, "result") == 0 || strcmp(type, "error") == 0)
        return;
    if (!q) {
        muc_bounce(r, "bad-request", "an iq get/set carries exactly one child");
        return;
    }
    if (!room) {
        muc_bounce(r, "item-not-found", "no such room");
        return;
    }
    if (ns_is(q, NS_DISCO_INFO))
        roomdisco_info(r, room, q);
    else if (ns_is(q, NS_DISCO_ITEMS))
        roomdisco_items(r, room, q);
    else if (ns_is(q, NS_MUC_ADMIN))
        admin_handle(r, room, q);
    else if (ns_is(q, NS_MUC_OWNER))
        owner_handle(r, room, q);
    else if (ns_is(q, NS_REGISTER))
        register_handle(r, room, q);
    else if (mam_wants(q))
        mam_handle(r, room, q);
    else if (ns_is(q, NS_VCARD))
        vcard_handle(r, room, q);
    else if (moderate_wants(q))
        moderate_handle(r, room, q);
    else if (ns_is(q, NS_PING) && strcmp(type, "get") == 0) {
        struct xml_node *res = stanza_iq_result(r->st);
        muc_send(r->muc, res);
        xml_unref(res);
    } else
        muc_bounce(r, "service-unavailable", NULL);
}

/* ---- after the router link comes back ---- */

#define RECONCILE_ID "confab-reconcile"

/* While we were cut off, the router bounced the unavailable presences of
 * clients that went away. Ask every session whether it is still there (a
 * XEP-0199 ping from its occupant JID): an error means gone. */
void muc_reconcile(struct muc *m)
{
    unsigned n = 0;
    for (struct room *room = m->rooms; room; room = room->hh.next) {
        for (struct muc_session *s = room->sessions; s; s = s->hh.next) {
            char *from = xasprintf("%s/%s", room->jid, s->occ->nick);
            struct xml_node *iq = stanza_new("iq", from, s->jid, "get", RECONCILE_ID);
            xml_add(iq, "ping", NS_PING);
            muc_send(m, iq);
            xml_unref(iq);
            free(from);
            n++;
        }
    }
    if (n) {
        char *line = xasprintf("link restored: checking that %u occupant sessions are still "
                               "online", n);
        m->io.log(m->io.ud, line);
        free(line);
    }
}

/* true when st answered one of our reconciliation pings. */
static bool reconcile_answer(struct muc_req *r, struct room *room)
{
    const char *id = stanza_id(r->st);
    if (!id || strcmp(id, RECONCILE_ID) != 0)
        return false;
    struct muc_session *s = session_by_jid(room, r->from_full);
    if (!s || !stanza_is_error(r->st))
        return true;
    /* Only a definite "not there" removes the session; a client that does not
     * know ping (feature-not-implemented…) is alive. */
    const struct xml_node *e = stanza_child(r->st, "error");
    const char *cond = e ? stanza_error_condition(e, NS_STANZAS) : NULL;
    if (cond && strcmp(cond, "service-unavailable") != 0 &&
        strcmp(cond, "recipient-unavailable") != 0 && strcmp(cond, "item-not-found") != 0 &&
        strcmp(cond, "remote-server-not-found") != 0 && strcmp(cond, "gone") != 0)
        return true;
    struct occupant *occ = s->occ;
    if (occ->nsessions > 1) {
        compliance_leave(r->muc, room, occ, s->jid, NULL);
        occupant_remove_session(room, s);
        return true;
    }
    static const int c333[] = { 333, 0 };
    struct pres_opts o = { .codes = c333, .reason = "the client went away while the service "
                                                    "was disconnected" };
    presence_remove_occupant(r->muc, room, occ, &o);
    room_reap(r->muc, room);
    return true;
}

/* Rooms that are locked exist only for their owners (§7.2.1); rooms behind
 * an ethical wall do not exist for whom it shuts out (wall.h). */
static struct room *visible_room(struct muc *m, const char *jid, const char *from_bare)
{
    struct room *room = room_find(m, jid);
    if (room && room->locked && room_affiliation(room, from_bare) != AFFIL_OWNER)
        return NULL;
    if (room && wall_denies(m, room->category_id, from_bare))
        return NULL;
    return room;
}

/* A presence to a room the sender is walled off from: a join is answered as
 * for a room that cannot be entered because it is not there (§7.2.1's
 * item-not-found); anything else means nothing to a room one is not in. */
static void walled_presence(struct muc_req *r)
{
    if (!stanza_type(r->st))
        muc_bounce(r, "item-not-found", "no such room");
}

static void dispatch(struct muc_req *r, const char *room_jid)
{
    struct muc *m = r->muc;
    switch (stanza_kind(r->st)) {
    case STANZA_PRESENCE: {
        struct room *room = room_find(m, room_jid);
        /* An occupant a wall went up against is removed by the sweep;
         * until then what it sends (a leave) still counts. */
        if (room && !session_by_jid(room, r->from_full) &&
            wall_denies(m, room->category_id, r->from_bare))
            walled_presence(r);
        else
            presence_handle(r, room);
        break;
    }
    case STANZA_MESSAGE: {
        struct room *room = visible_room(m, room_jid, r->from_bare);
        if (!room) {
            muc_bounce(r, "item-not-found", "no such room");
            return;
        }
        message_handle(r, room);
        break;
    }
    case STANZA_IQ: {
        const char *type = stanza_type(r->st);
        struct room *room = visible_room(m, room_jid, r->from_bare);
        if (r->to->resource && type &&
            (strcmp(type, "result") == 0 || strcmp(type, "error") == 0)) {
            if (room && !reconcile_answer(r, room))
                message_handle_iq_result(r, room);
        } else if (r->to->resource) {
            if (!room)
                muc_bounce(r, "item-not-found", "no such room");
            else
                message_iq_to_occupant(r, room);
        } else {
            room_iq(r, room);
        }
        break;
    }
    default:
        break;
    }
}

/* ---- rooms that live in the store ---- */

/* Stanzas that may wait for one room's load; later ones are told to retry. */
#define MAX_PARKED 256

void muc_set_store(struct muc *m, const struct muc_store *store)
{
    m->store = store ? store : &m->mem_store;
}

static void handle(struct muc *m, const struct xml_node *st, bool may_load);

struct load_ctx {
    struct muc *m;
    char *jid;
};

static void add_tombstone(struct muc *m, const char *jid, const char *venue, const char *reason)
{
    struct tombstone *t = NULL;
    HASH_FIND_STR(m->tombstones, jid, t);
    if (t)
        return;
    t = xcalloc(1, sizeof *t);
    t->jid = xstrdup(jid);
    t->venue = venue ? xstrdup(venue) : NULL;
    t->reason = reason ? xstrdup(reason) : NULL;
    HASH_ADD_KEYPTR(hh, m->tombstones, t->jid, strlen(t->jid), t);
}

static void on_room_loaded(void *ud, int err, struct store_room *rec)
{
    struct load_ctx *ctx = ud;
    struct muc *m = ctx->m;
    struct room_load *l = NULL;
    HASH_FIND_STR(m->loading, ctx->jid, l);
    if (l) {
        HASH_DEL(m->loading, l);
        budget_withdrawn(m, l->promised);
    }
    /* Only configured persistent rooms live on in the store. A temporary or
     * still-locked row is one whose deletion is on its way (the writer may not
     * have run it yet): loading it would bring back a room nobody is in. */
    if (err == 0 && rec && rec->exists && rec->cfg->persistent && !rec->locked &&
        !room_find(m, ctx->jid))
        room_from_store(m, ctx->jid, rec);
    else if (err == 0 && rec && rec->tombstone)
        add_tombstone(m, ctx->jid, rec->venue, rec->reason);
    for (size_t i = 0; l && i < l->n; i++) {
        if (err < 0) {
            /* We cannot know whether the room exists: ask to retry. */
            if (!stanza_is_error(l->parked[i])) {
                struct xml_node *e = stanza_error_reply(l->parked[i], "resource-constraint",
                                                        "room storage is unavailable; retry");
                xml_set_attr(e, "from", stanza_to(l->parked[i]));
                muc_send(m, e);
                xml_unref(e);
            }
        } else {
            handle(m, l->parked[i], false);
        }
        xml_unref(l->parked[i]);
    }
    if (l) {
        free(l->parked);
        free(l->jid);
        free(l);
    }
    if (rec)
        store_room_free(rec);
    free(ctx->jid);
    free(ctx);
}

/* The k-th join into a room that is loading is answered with the presences of
 * the k-1 before it and announced to them: a storm of joins owes output that
 * grows with the square of its size, and the gate must see it coming. */
static void park(struct muc *m, struct room_load *l, const struct xml_node *st)
{
    size_t owed = budget_stanza(st) * 2 * (l->n + 1);
    l->promised += owed;
    budget_promise(m, owed);
    l->parked[l->n++] = xml_ref((struct xml_node *)st);
}

/* true when the stanza was parked behind a load of room_jid. */
static bool park_for_load(struct muc_req *r, const char *room_jid)
{
    struct muc *m = r->muc;
    struct room_load *l = NULL;
    HASH_FIND_STR(m->loading, room_jid, l);
    if (!l) {
        l = xcalloc(1, sizeof *l);
        l->jid = xstrdup(room_jid);
        HASH_ADD_KEYPTR(hh, m->loading, l->jid, strlen(l->jid), l);
        struct load_ctx *ctx = xmalloc(sizeof *ctx);
        ctx->m = m;
        ctx->jid = xstrdup(room_jid);
        l->parked = xmalloc(MAX_PARKED * sizeof *l->parked);
        park(m, l, r->st);
        m->store->load_room(m->store->st, room_jid, m->lim.max_history, on_room_loaded, ctx);
        return true;
    }
    if (l->n >= MAX_PARKED) {
        muc_bounce(r, "resource-constraint", "the room is still loading; retry");
        return true;
    }
    park(m, l, r->st);
    return true;
}

void muc_forget_room(struct muc *m, struct room *room)
{
    HASH_DEL(m->rooms, room);
    m->nrooms--;
    room_free(room);
}

unsigned muc_evict_idle(struct muc *m, int64_t now, int64_t idle_ms)
{
    unsigned n = 0;
    struct room *room, *tmp;
    HASH_ITER(hh, m->rooms, room, tmp) {
        if (m->store->in_memory || !room_is_empty(room) || room->locked || !room->cfg.persistent ||
            now - room->idle_since_ms < idle_ms)
            continue;
        muc_forget_room(m, room);
        n++;
    }
    return n;
}

void muc_handle(struct muc *m, const struct xml_node *st)
{
    handle(m, st, true);
}

static void handle(struct muc *m, const struct xml_node *st, bool may_load)
{
    struct jid from = { 0 }, to = { 0 };
    if (service_route(&m->info, st, send_cb, m, &from, &to) != SERVICE_FOR_NODE)
        return;
    char *full = jid_format(&from, false);
    char *bare = jid_format(&from, true);
    char *room_jid = jid_format(&to, true);
    struct muc_req r = {
        .muc = m, .st = st, .from = &from, .from_full = full, .from_bare = bare, .to = &to,
        .now = m->io.now_ms(m->io.ud),
    };
    if (m->store->load_service && !m->service_loaded) {
        /* Until the walls are known nobody may reach a room: refusing for a
         * moment is better than letting a walled-off user in (or telling an
         * allowed one the room does not exist). */
        muc_bounce_type(&r, "resource-constraint", "wait",
                        "the service is loading its categories and ethical walls; retry in a "
                        "few seconds");
        goto done;
    }
    if (may_load && !m->store->in_memory && !room_find(m, room_jid)) {
        struct tombstone *t = NULL;
        HASH_FIND_STR(m->tombstones, room_jid, t);
        if (!t && park_for_load(&r, room_jid))
            goto done;
    }
    /* Who is acting, for compliance events deep in shared code paths. */
    const struct muc_req *outer = m->req;
    m->req = &r;
    dispatch(&r, room_jid);
    m->req = outer;
done:
    free(room_jid);
    free(bare);
    free(full);
    jid_clear(&from);
    jid_clear(&to);
}
