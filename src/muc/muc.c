#include "compat.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance.h"
#include "log.h"
#include "mem.h"
#include "mem_store.h"
#include "muc.h"
#include "stanza.h"

/* Stanzas for a room that is being read from the store wait here. */
struct room_load {
    char *jid;
    struct xml_node **parked;
    size_t n;
    UT_hash_handle hh;
};

static const char *const muc_features[] = {
    NS_MUC, NS_MUC_UNIQUE, "http://jabber.org/protocol/muc#stable_id", NS_SEARCH,
    NS_CHANNEL_SEARCH, NS_VCARD, "http://jabber.org/protocol/rsm", NULL,
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
        .max_list_items = 200, .admin_rate = 5, .admin_burst = 20,
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

/* Independent keys for independent uses, all from the one service key. */
static void derive_key(const unsigned char key[32], const char *label, unsigned char out[32])
{
    unsigned int len = 0;
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)label, strlen(label), out, &len);
}

static EVP_CIPHER_CTX *sid_cipher(const unsigned char key[32], bool enc)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx || !EVP_CipherInit_ex(ctx, EVP_aes_256_ecb(), NULL, key, NULL, enc ? 1 : 0) ||
        !EVP_CIPHER_CTX_set_padding(ctx, 0)) {
        /* As for malloc (mem.h): without it nothing can be stored. */
        fprintf(stderr, "FATAL cannot set up the stanza-id cipher\n");
        abort();
    }
    return ctx;
}

struct muc *muc_new(const char *domain, const char *name, const struct muc_limits *lim,
                    const unsigned char key[32], const struct muc_io *io)
{
    struct muc *m = xcalloc(1, sizeof *m);
    m->domain = xstrdup(domain);
    m->name = xstrdup(name);
    m->lim = *lim;
    m->io = *io;
    memcpy(m->occupant_id_key, key, sizeof m->occupant_id_key);
    derive_key(key, "stanza-id", m->sid_key);
    m->sid_enc = sid_cipher(m->sid_key, true);
    m->sid_dec = sid_cipher(m->sid_key, false);
    derive_key(key, "iq-id", m->iq_key);
    mem_store_init(&m->mem_store, m);
    m->store = &m->mem_store;
    refresh_info(m);
    return m;
}

void muc_free(struct muc *m)
{
    if (!m)
        return;
    EVP_CIPHER_CTX_free(m->sid_enc);
    EVP_CIPHER_CTX_free(m->sid_dec);
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
        free(t->jid);
        free(t->venue);
        free(t->reason);
        free(t);
    }
    muc_set_admins(m, NULL);
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

static void send_cb(void *ud, const struct xml_node *st)
{
    struct muc *m = ud;
    m->io.send(m->io.ud, st);
}

void muc_send(struct muc *m, const struct xml_node *st)
{
    m->io.send(m->io.ud, st);
}

void muc_bounce(struct muc_req *r, const char *condition, const char *text)
{
    muc_bounce_type(r, condition, NULL, text);
}

struct pending_result {
    struct muc *m;
    struct xml_node *iq;
    struct xml_node *reply;    /* the result to send; NULL: an empty one */
    char *room_jid;            /* NULL: no notice follows */
    int codes[8];
};

static void on_durable(void *ud, int err)
{
    struct pending_result *p = ud;
    struct xml_node *res = err < 0   ? stanza_error_reply(p->iq, "resource-constraint",
                                                          "the change could not be stored")
                           : p->reply ? xml_ref(p->reply)
                                      : stanza_iq_result(p->iq);
    muc_send(p->m, res);
    xml_unref(res);
    xml_unref(p->reply);
    struct room *room = p->room_jid && err == 0 ? room_find(p->m, p->room_jid) : NULL;
    if (room)
        message_room_notice(p->m, room, p->codes);
    free(p->room_jid);
    xml_unref(p->iq);
    free(p);
}

void muc_result_after_commit(struct muc *m, const struct xml_node *iq)
{
    muc_result_then_notice(m, iq, NULL, NULL);
}

void muc_result_after_commit_with(struct muc *m, const struct xml_node *iq,
                                  struct xml_node *reply)
{
    struct pending_result *p = xcalloc(1, sizeof *p);
    p->m = m;
    p->iq = xml_ref((struct xml_node *)iq);
    p->reply = xml_ref(reply);
    if (m->store->barrier)
        m->store->barrier(m->store->st, on_durable, p);
    else
        on_durable(p, 0);
}

void muc_result_then_notice(struct muc *m, const struct xml_node *iq, const struct room *room,
                            const int *codes)
{
    struct pending_result *p = xcalloc(1, sizeof *p);
    p->m = m;
    p->iq = xml_ref((struct xml_node *)iq);
    size_t n = 0;
    for (const int *c = codes; c && *c && n + 1 < ARRAY_SIZE(p->codes); c++)
        p->codes[n++] = *c;
    if (n)
        p->room_jid = xstrdup(room->jid);
    if (m->store->barrier)
        m->store->barrier(m->store->st, on_durable, p);
    else
        on_durable(p, 0);
}

/* Errors come from the address the client used (the room or room/nick it
 * wrote to), name the room in 'by' (RFC 6120 §8.3.2), and a refused join
 * carries the MUC <x/> back (§7.2.x examples): clients such as profanity match
 * the error to their pending join by it. */
struct xml_node *muc_error(const struct muc_req *r, const char *condition, const char *type,
                           const char *text)
{
    struct xml_node *e = stanza_error_reply(r->st, condition, text);
    struct xml_node *err = stanza_child(e, "error");
    if (type)
        xml_set_attr(err, "type", type);
    if (r->to && r->to->node) {
        char *room = jid_format(r->to, true);
        xml_set_attr(err, "by", room);
        free(room);
    }
    if (stanza_kind(r->st) == STANZA_PRESENCE && xml_child(r->st, "x", NS_MUC)) {
        /* Before the <error/>, as in the XEP's examples. */
        xml_ref(err);
        xml_remove(e, err);
        xml_add(e, "x", NS_MUC);
        xml_append(e, err);
    }
    return e;
}

void muc_bounce_type(struct muc_req *r, const char *condition, const char *type,
                     const char *text)
{
    if (stanza_is_error(r->st) || !stanza_from(r->st))
        return;
    struct xml_node *e = muc_error(r, condition, type, text);
    muc_send(r->muc, e);
    xml_unref(e);
}

/* One AES block: 8 bytes of seq and 8 bytes of the room's hash. Without the
 * key nobody can count messages or guess ids (XEP-0359 §6-7); with it, the id
 * maps back to seq for keyset paging and is bound to its room. */
static int sid_block(const struct muc *m, const unsigned char in[16], unsigned char out[16],
                     bool enc)
{
    /* ECB on one whole block: no state is carried between calls. */
    int len = 0;
    bool ok = EVP_CipherUpdate(enc ? m->sid_enc : m->sid_dec, out, &len, in, 16) && len == 16;
    return ok ? 0 : -EIO;
}

static void room_tag(const char *room_jid, unsigned char tag[8])
{
    unsigned char md[32];
    SHA256((const unsigned char *)room_jid, strlen(room_jid), md);
    memcpy(tag, md, 8);
}

void muc_sid_encode(const struct muc *m, const char *room_jid, uint64_t seq, char out[33])
{
    unsigned char in[16], ct[16];
    for (int i = 0; i < 8; i++)
        in[i] = (unsigned char)(seq >> (56 - 8 * i));
    room_tag(room_jid, in + 8);
    if (sid_block(m, in, ct, true) < 0)
        abort();
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[ct[i] >> 4];
        out[2 * i + 1] = hex[ct[i] & 15];
    }
    out[32] = '\0';
}

int muc_sid_decode(const struct muc *m, const char *room_jid, const char *sid, uint64_t *seq)
{
    unsigned char ct[16], pt[16], tag[8];
    if (!sid || strlen(sid) != 32)
        return -EINVAL;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(sid + 2 * i, "%2x", &v) != 1)
            return -EINVAL;
        ct[i] = (unsigned char)v;
    }
    room_tag(room_jid, tag);
    if (sid_block(m, ct, pt, false) < 0 || memcmp(pt + 8, tag, 8) != 0)
        return -EINVAL;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | pt[i];
    *seq = v;
    return 0;
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
    else if (ns_is(q, NS_PING) && strcmp(type, "get") == 0) {
        struct xml_node *res = stanza_iq_result(r->st);
        muc_send(r->muc, res);
        xml_unref(res);
    } else
        muc_bounce(r, "service-unavailable", NULL);
}

/* Rooms that are locked exist only for their owners (§7.2.1). */
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
    if (n)
        log_info("link restored: checking that %u occupant sessions are still online", n);
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

static struct room *visible_room(struct muc *m, const char *jid, const char *from_bare)
{
    struct room *room = room_find(m, jid);
    if (room && room->locked && room_affiliation(room, from_bare) != AFFIL_OWNER)
        return NULL;
    return room;
}

static void dispatch(struct muc_req *r, const char *room_jid)
{
    struct muc *m = r->muc;
    switch (stanza_kind(r->st)) {
    case STANZA_PRESENCE:
        presence_handle(r, room_find(m, room_jid));
        break;
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
    if (l)
        HASH_DEL(m->loading, l);
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
        l->parked[l->n++] = xml_ref((struct xml_node *)r->st);
        m->store->load_room(m->store->st, room_jid, m->lim.max_history, on_room_loaded, ctx);
        return true;
    }
    if (l->n >= MAX_PARKED) {
        muc_bounce(r, "resource-constraint", "the room is still loading; retry");
        return true;
    }
    l->parked[l->n++] = xml_ref((struct xml_node *)r->st);
    return true;
}

unsigned muc_evict_idle(struct muc *m, int64_t now, int64_t idle_ms)
{
    unsigned n = 0;
    struct room *room, *tmp;
    HASH_ITER(hh, m->rooms, room, tmp) {
        if (m->store->in_memory || !room_is_empty(room) || room->locked || !room->cfg.persistent ||
            now - room->idle_since_ms < idle_ms)
            continue;
        HASH_DEL(m->rooms, room);
        m->nrooms--;
        room_free(room);
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
