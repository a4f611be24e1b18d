/* §6: discovering rooms, their features and the reserved nick. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datetime.h"
#include "form.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

static void feature(struct xml_node *q, const char *var)
{
    xml_set_attr(xml_add(q, "feature", NS_DISCO_INFO), "var", var);
}

static void room_features(struct xml_node *q, const struct room *room)
{
    const struct room_config *c = &room->cfg;
    feature(q, NS_MUC);
    feature(q, NS_DISCO_INFO);
    feature(q, c->public_list ? "muc_public" : "muc_hidden");
    feature(q, c->persistent ? "muc_persistent" : "muc_temporary");
    feature(q, c->members_only ? "muc_membersonly" : "muc_open");
    feature(q, c->moderated ? "muc_moderated" : "muc_unmoderated");
    feature(q, c->whois_anyone ? "muc_nonanonymous" : "muc_semianonymous");
    feature(q, c->password_protected ? "muc_passwordprotected" : "muc_unsecured");
    feature(q, NS_OCCUPANT_ID);
    feature(q, NS_SID);
    feature(q, NS_REGISTER);
    feature(q, NS_MUC_REQUEST);
    feature(q, "http://jabber.org/protocol/muc#self-ping-optimization");
    feature(q, "http://jabber.org/protocol/muc#stable_id");
    feature(q, NS_VCARD);
    feature(q, "urn:xmpp:message-moderate:1");
    feature(q, "urn:xmpp:message-moderate:0");
    feature(q, "urn:xmpp:message-retract:1");
    mam_disco_features(q, room);
}

/* Fields with the types XEP-0045 §15.5.4 registers, typed explicitly for
 * validating clients; §6.4 allows muc#roomconfig fields here too (Prosody and
 * the XEP's example send changesubject and roomname). The creation date is
 * Openfire's x- field: nothing registered carries it. */
/* A members-only room's company is its members' business: who is inside
 * (how many) and who owns it (real JIDs) are not told to anyone else. */
static bool roominfo_for_insiders(const struct muc_req *r, const struct room *room)
{
    return !room->cfg.members_only || roomkind_insider(r->muc, room, r->from_bare);
}

static void roominfo_form(const struct muc_req *r, struct xml_node *q, const struct room *room)
{
    bool insider = roominfo_for_insiders(r, room);
    struct xml_node *x = form_new("result", NS_MUC_ROOMINFO, NULL, NULL);
    form_add_field(x, "text-single", "muc#roominfo_description", "Description", room->cfg.desc);
    char n[16];
    snprintf(n, sizeof n, "%u", crowd_visible_count(r->muc, room));
    if (insider)
        form_add_field(x, "text-single", "muc#roominfo_occupants", "Number of occupants", n);
    form_add_field(x, "text-single", "muc#roominfo_subject", "Subject",
                   room->subject ? room->subject : "");
    form_add_field(x, "text-single", "muc#roominfo_lang", "Language", room->cfg.lang);
    if (insider) {
        struct xml_node *cf = form_add_field(x, "jid-multi", "muc#roominfo_contactjid",
                                             "Contact addresses", NULL);
        for (const struct affiliation *a = room->affiliations; a; a = a->hh.next)
            if (a->affil == AFFIL_OWNER)
                form_add_value(cf, a->jid);
    }
    snprintf(n, sizeof n, "%u", room->cfg.history_length);
    form_add_field(x, "text-single", "muc#maxhistoryfetch", "Messages of history sent on join",
                   n);
    char stamp[32];
    datetime_format(room->created_ms, stamp);
    form_add_field(x, "text-single", "x-muc#roominfo_creationdate", "Creation date", stamp);
    form_add_field(x, "text-single", "muc#roomconfig_roomname", "Name", room->cfg.name);
    form_add_bool(x, "muc#roominfo_subjectmod", "Occupants may change the subject",
                  room->cfg.change_subject);
    form_add_bool(x, "muc#roomconfig_changesubject", "Occupants may change the subject",
                  room->cfg.change_subject);
    roomkind_form_fields(x, &room->cfg);
    vcard_roominfo(x, r, room);
    xml_append(q, x);
}

static void reserved_nick(struct muc_req *r, struct room *room)
{
    /* §7.12: the nick registered by the requester, as an identity name. */
    const struct affiliation *a = room_affiliation_entry(room, r->from_bare);
    struct xml_node *res = stanza_iq_result(r->st);
    struct xml_node *q = xml_add(res, "query", NS_DISCO_INFO);
    xml_set_attr(q, "node", "x-roomuser-item");
    if (a && a->nick) {
        struct xml_node *id = xml_add(q, "identity", NS_DISCO_INFO);
        xml_set_attr(id, "category", "conference");
        xml_set_attr(id, "type", "text");
        xml_set_attr(id, "name", a->nick);
    }
    muc_send(r->muc, res);
    xml_unref(res);
}

void roomdisco_info(struct muc_req *r, struct room *room, const struct xml_node *query)
{
    const char *node = xml_attr(query, "node");
    if (strcmp(stanza_type(r->st), "get") != 0) {
        muc_bounce(r, "service-unavailable", NULL);
        return;
    }
    if (node && strcmp(node, "x-roomuser-item") == 0) {
        reserved_nick(r, room);
        return;
    }
    if (node) {
        muc_bounce(r, "item-not-found", "no such node");
        return;
    }
    struct xml_node *res = stanza_iq_result(r->st);
    struct xml_node *q = xml_add(res, "query", NS_DISCO_INFO);
    struct xml_node *id = xml_add(q, "identity", NS_DISCO_INFO);
    xml_set_attr(id, "category", "conference");
    xml_set_attr(id, "type", "text");
    xml_set_attr(id, "name", *room->cfg.name ? room->cfg.name : room->node);
    room_features(q, room);
    roominfo_form(r, q, room);
    muc_send(r->muc, res);
    xml_unref(res);
}

/* Who may page through the occupants (issue 16: above [muc] presence_limit
 * the roster no longer tells them): moderators, room admins and owners,
 * service admins. */
static bool may_list_occupants(const struct muc_req *r, const struct room *room)
{
    const struct muc_session *s = session_by_jid(room, r->from_full);
    return (s && s->occ->role == ROLE_MODERATOR) ||
           room_affiliation(room, r->from_bare) >= AFFIL_ADMIN ||
           muc_is_admin(r->muc, r->from_bare);
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Occupant JIDs (room@service/nick) others may know of, sorted (owned). */
static char **occupant_keys(const struct muc *m, const struct room *room, size_t *n)
{
    char **v = xmalloc((room->noccupants + 1) * sizeof *v);
    size_t k = 0;
    for (const struct occupant *o = room->occupants; o; o = o->hh.next)
        if (!crowd_hidden(m, o))
            v[k++] = xasprintf("%s/%s", room->jid, o->nick);
    qsort(v, k, sizeof *v, by_key);
    *n = k;
    return v;
}

static void occupant_page(struct muc_req *r, struct room *room, struct xml_node *q,
                          const struct rsm_req *rsm)
{
    size_t n, lo = 0, hi = 0;
    char **keys = occupant_keys(r->muc, room, &n);
    struct store_dir_query w = { 0 };
    rsm_req_window(rsm, rsm->present ? 100 : (unsigned)n, &w);
    directory_window(&w, (const char *const *)keys, n, false, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        struct xml_node *item = xml_add(q, "item", NS_DISCO_ITEMS);
        xml_set_attr(item, "jid", keys[i]);
        xml_set_attr(item, "name", strchr(keys[i], '/') + 1);
    }
    if (rsm->present) {
        struct xml_node *set = xml_add(q, "set", NS_RSM);
        char num[24];
        if (hi > lo) {
            snprintf(num, sizeof num, "%zu", lo);
            xml_set_attr(xml_add_text_child(set, "first", NS_RSM, keys[lo]), "index", num);
            xml_add_text_child(set, "last", NS_RSM, keys[hi - 1]);
        }
        snprintf(num, sizeof num, "%zu", n);
        xml_add_text_child(set, "count", NS_RSM, num);
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

void roomdisco_items(struct muc_req *r, struct room *room, const struct xml_node *query)
{
    /* Occupant lists are disclosed through disco to those who run the room
     * only (§6.5 allows an empty list for everyone else). */
    struct rsm_req rsm;
    const char *why = NULL;
    if (!rsm_req_parse(query, &rsm, &why)) {
        muc_bounce(r, "bad-request", why);
        rsm_req_clear(&rsm);
        return;
    }
    struct xml_node *res = stanza_iq_result(r->st);
    struct xml_node *q = xml_add(res, "query", NS_DISCO_ITEMS);
    if (may_list_occupants(r, room))
        occupant_page(r, room, q, &rsm);
    muc_send(r->muc, res);
    xml_unref(res);
    rsm_req_clear(&rsm);
}

void roomdisco_unique(struct muc *m, const struct xml_node *iq)
{
    unsigned char rnd[16];
    char hex[33];
    if (!m->io.random(m->io.ud, rnd, sizeof rnd)) {
        struct xml_node *e = stanza_error_reply(iq, "internal-server-error", NULL);
        muc_send(m, e);
        xml_unref(e);
        return;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    struct xml_node *res = stanza_iq_result(iq);
    xml_add_text_child(res, "unique", NS_MUC_UNIQUE, hex);
    muc_send(m, res);
    xml_unref(res);
}
