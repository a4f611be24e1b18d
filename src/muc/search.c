/* The room directory: the service's disco#items (XEP-0030), room search with
 * a data form (XEP-0055) and extended channel search (XEP-0433), all paged
 * with XEP-0059 result set management.
 *
 * All three list the same rooms: public (muc#roomconfig_publicroom) and
 * unlocked, among those in memory. Persistent rooms that left memory while
 * idle (docs/storage.md) are not listed, as disco#items never listed them.
 *
 * The RSM id of a room is its JID, and pages are keyset pages in JID order:
 * a room created or destroyed between two requests shifts nothing, and an
 * <after/> naming a room that has gone meanwhile pages on from where it would
 * sort instead of failing (XEP-0059 §2.5 says item-not-found, which would
 * leave a client paging a busy service without a way forward). */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "form.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_CHANNEL_SEARCH_PARAMS "urn:xmpp:channel-search:0:search-params"
#define NS_CHANNEL_SEARCH_ERROR "urn:xmpp:channel-search:0:error"
#define ORDER_ADDRESS "{urn:xmpp:channel-search:0:order}address"
#define ORDER_NUSERS "{urn:xmpp:channel-search:0:order}nusers"
#define ANON_NONE "{urn:xmpp:channel-search:0:anonymity}none"

/* Most results in one page of a search; disco#items without <set/> answers
 * every room, as it always did. */
#define SEARCH_PAGE_MAX 100

/* ---- which rooms ---- */

struct filter {
    char **words;        /* every word must occur in a searched field */
    size_t nwords;
    bool in_name, in_desc, in_addr;
};

static bool word_in(const char *field, const char *word)
{
    return field && strcasestr(field, word) != NULL;
}

static bool matches(const struct room *room, const struct filter *f)
{
    for (size_t i = 0; f && i < f->nwords; i++) {
        const char *w = f->words[i];
        if (!(f->in_name && word_in(room->cfg.name, w)) &&
            !(f->in_desc && word_in(room->cfg.desc, w)) && !(f->in_addr && word_in(room->jid, w)))
            return false;
    }
    return true;
}

static int by_jid(const void *a, const void *b)
{
    return strcmp((*(struct room *const *)a)->jid, (*(struct room *const *)b)->jid);
}

/* XEP-0433's nusers order: busiest first, then by JID so a page is stable
 * while nobody comes or goes. */
static int by_users(const void *a, const void *b)
{
    const struct room *x = *(struct room *const *)a, *y = *(struct room *const *)b;
    if (x->noccupants != y->noccupants)
        return x->noccupants > y->noccupants ? -1 : 1;
    return strcmp(x->jid, y->jid);
}

/* The listed rooms matching f (NULL: all), sorted; *n of them (owned array). */
static struct room **listed(struct muc *m, const struct filter *f, bool users_first, size_t *n)
{
    struct room **v = xmalloc((m->nrooms + 1) * sizeof *v);
    size_t k = 0;
    for (struct room *room = m->rooms; room; room = room->hh.next)
        if (room->cfg.public_list && !room->locked && matches(room, f))
            v[k++] = room;
    qsort(v, k, sizeof *v, users_first ? by_users : by_jid);
    *n = k;
    return v;
}

/* ---- XEP-0059 ---- */

struct rsm {
    bool present;
    long max;            /* -1: not given */
    char *after, *before;
    bool last_page;      /* an empty <before/> */
    long index;          /* -1: not given */
};

static void rsm_clear(struct rsm *q)
{
    free(q->after);
    free(q->before);
}

static long number(const struct xml_node *set, const char *name, bool *bad)
{
    const struct xml_node *e = xml_child(set, name, NS_RSM);
    if (!e)
        return -1;
    char *text = xml_text(e), *end = NULL;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < 0)
        *bad = true;
    free(text);
    return v;
}

/* Returns false (with a reason) for a <set/> that cannot be honoured. */
static bool rsm_parse(const struct xml_node *query, struct rsm *q, const char **why)
{
    *q = (struct rsm){ .max = -1, .index = -1 };
    const struct xml_node *set = xml_child(query, "set", NS_RSM);
    if (!set)
        return true;
    q->present = true;
    bool bad = false;
    q->max = number(set, "max", &bad);
    q->index = number(set, "index", &bad);
    const struct xml_node *a = xml_child(set, "after", NS_RSM);
    const struct xml_node *b = xml_child(set, "before", NS_RSM);
    q->after = a ? xml_text(a) : NULL;
    q->before = b ? xml_text(b) : NULL;
    if (q->before && !*q->before) {
        free(q->before);
        q->before = NULL;
        q->last_page = true;
    }
    if (bad)
        *why = "RSM <max/> and <index/> are non-negative integers";
    else if (q->after && !*q->after)
        *why = "RSM <after/> names an item";
    else if (q->index >= 0 && (a || b))
        *why = "RSM <index/> does not combine with <after/> or <before/>";
    else
        return true;
    return false;
}

/* Where key would be in v: the first room after it (or, with at, at it). In
 * nusers order the key has no place of its own: the room must still be
 * listed. Returns false when it is not. */
static bool position(struct room **v, size_t n, const char *key, bool users_first, bool after,
                     size_t *pos)
{
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(v[i]->jid, key);
        if (users_first ? c == 0 : c >= 0) {
            *pos = i + (c == 0 && after);
            return true;
        }
    }
    *pos = n;
    return !users_first;
}

/* The page [*lo, *hi) of v that q asks for; page_max caps it (0: no cap). */
static bool rsm_window(const struct rsm *q, struct room **v, size_t n, bool users_first,
                       size_t page_max, size_t *lo, size_t *hi)
{
    size_t max = q->max >= 0 ? (size_t)q->max : page_max ? page_max : n;
    if (page_max && max > page_max)
        max = page_max;
    size_t from = 0, to = n;
    if (q->after && !position(v, n, q->after, users_first, true, &from))
        return false;
    if (q->before && !position(v, n, q->before, users_first, false, &to))
        return false;
    if (q->index >= 0)
        from = (size_t)q->index < n ? (size_t)q->index : n;
    if (to < from)
        to = from;
    /* <before/> pages backwards: the last max rooms before it. */
    bool backward = q->before || q->last_page;
    *lo = backward && to - from > max ? to - max : from;
    *hi = !backward && to - from > max ? from + max : to;
    return true;
}

static void rsm_result(struct xml_node *parent, struct room **v, size_t n, size_t lo, size_t hi)
{
    struct xml_node *set = xml_add(parent, "set", NS_RSM);
    if (hi > lo) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", lo);
        xml_set_attr(xml_add_text_child(set, "first", NS_RSM, v[lo]->jid), "index", idx);
        xml_add_text_child(set, "last", NS_RSM, v[hi - 1]->jid);
    }
    char count[24];
    snprintf(count, sizeof count, "%zu", n);
    xml_add_text_child(set, "count", NS_RSM, count);
}

/* ---- answers ---- */

static void reply_error(struct muc *m, const struct xml_node *iq, const char *condition,
                        const char *text, const char *app)
{
    struct xml_node *e = stanza_error_reply(iq, condition, text);
    if (app)
        xml_add(stanza_child(e, "error"), app, NS_CHANNEL_SEARCH_ERROR);
    muc_send(m, e);
    xml_unref(e);
}

static const char *room_name(const struct room *room)
{
    return room->cfg.name && *room->cfg.name ? room->cfg.name : room->node;
}

/* A page of rooms for query (with its <set/>) under parent, by add_item. */
typedef void add_item_fn(struct xml_node *parent, const struct room *room);

static bool page(struct muc *m, const struct xml_node *iq, const struct xml_node *query,
                 const struct filter *f, bool users_first, size_t page_max,
                 struct xml_node *items, struct xml_node *set_parent, add_item_fn *add)
{
    struct rsm q;
    const char *why = NULL;
    if (!rsm_parse(query, &q, &why)) {
        reply_error(m, iq, "bad-request", why, NULL);
        rsm_clear(&q);
        return false;
    }
    size_t n, lo = 0, hi = 0;
    struct room **v = listed(m, f, users_first, &n);
    bool ok = rsm_window(&q, v, n, users_first, q.present ? SEARCH_PAGE_MAX : page_max, &lo, &hi);
    if (!ok) {
        reply_error(m, iq, "item-not-found", "no such room in this listing", NULL);
    } else {
        for (size_t i = lo; i < hi; i++)
            add(items, v[i]);
        if (q.present || page_max)
            rsm_result(set_parent, v, n, lo, hi);
    }
    free(v);
    rsm_clear(&q);
    return ok;
}

static void send_result(struct muc *m, struct xml_node *res, bool ok)
{
    if (ok)
        muc_send(m, res);
    xml_unref(res);
}

/* ---- XEP-0030 disco#items ---- */

static void disco_item(struct xml_node *q, const struct room *room)
{
    struct xml_node *item = xml_add(q, "item", NS_DISCO_ITEMS);
    xml_set_attr(item, "jid", room->jid);
    xml_set_attr(item, "name", room_name(room));
}

void search_disco_items(struct muc *m, const struct xml_node *iq, const struct xml_node *query)
{
    struct xml_node *res = stanza_iq_result(iq);
    struct xml_node *q = xml_add(res, "query", NS_DISCO_ITEMS);
    send_result(m, res, page(m, iq, query, NULL, false, 0, q, q, disco_item));
}

/* ---- the search form's text ---- */

static void filter_clear(struct filter *f)
{
    for (size_t i = 0; i < f->nwords; i++)
        free(f->words[i]);
    free(f->words);
}

static bool flag(const struct form *fm, const char *var)
{
    bool v = true;   /* every place is searched unless the form says otherwise */
    return form_bool(fm, var, &v) == -EINVAL ? true : v;
}

/* The words of q (none: every listed room) and where to look for them. */
static void filter_from_form(const struct form *fm, struct filter *f)
{
    *f = (struct filter){ .in_name = flag(fm, "sinname"), .in_desc = flag(fm, "sindescription"),
                          .in_addr = flag(fm, "sinaddress") };
    const char *text = form_value(fm, "q");
    char *copy = xstrdup(text ? text : ""), *save = NULL;
    for (char *w = strtok_r(copy, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
        f->words = xrealloc(f->words, (f->nwords + 1) * sizeof *f->words);
        f->words[f->nwords++] = xstrdup(w);
    }
    free(copy);
}

static void add_text_fields(struct xml_node *x)
{
    form_add_field(x, "text-single", "q", "Words in the room's name, description or address",
                   NULL);
    form_add_bool(x, "sinname", "Search in name", true);
    form_add_bool(x, "sindescription", "Search in description", true);
    form_add_bool(x, "sinaddress", "Search in address", true);
}

/* ---- XEP-0055 ---- */

static void search_form(struct muc *m, const struct xml_node *iq)
{
    struct xml_node *res = stanza_iq_result(iq);
    struct xml_node *q = xml_add(res, "query", NS_SEARCH);
    static const char instructions[] = "Find public rooms by words in their name, description "
                                       "or address; leave the words out to list every room.";
    xml_add_text_child(q, "instructions", NS_SEARCH, instructions);
    struct xml_node *x = form_new("form", NS_SEARCH, "Room search", instructions);
    add_text_fields(x);
    xml_append(q, x);
    muc_send(m, res);
    xml_unref(res);
}

static void result_item(struct xml_node *x, const struct room *room)
{
    char n[16];
    snprintf(n, sizeof n, "%u", room->noccupants);
    struct xml_node *item = xml_add(x, "item", NS_DATA_FORMS);
    form_add_field(item, NULL, "jid", NULL, room->jid);
    form_add_field(item, NULL, "name", NULL, room_name(room));
    form_add_field(item, NULL, "description", NULL, room->cfg.desc ? room->cfg.desc : "");
    form_add_field(item, NULL, "occupants", NULL, n);
}

static void search_run(struct muc *m, const struct xml_node *iq, const struct xml_node *query)
{
    struct form fm;
    if (form_parse(xml_child(query, "x", NS_DATA_FORMS), &fm) < 0 ||
        strcmp(fm.type, "submit") != 0 || (fm.form_type && strcmp(fm.form_type, NS_SEARCH) != 0)) {
        reply_error(m, iq, "bad-request", "submit the jabber:iq:search form", NULL);
        form_free(&fm);
        return;
    }
    struct filter f;
    filter_from_form(&fm, &f);
    form_free(&fm);
    struct xml_node *res = stanza_iq_result(iq);
    struct xml_node *q = xml_add(res, "query", NS_SEARCH);
    struct xml_node *x = form_new("result", NS_SEARCH, NULL, NULL);
    struct xml_node *rep = xml_add(x, "reported", NS_DATA_FORMS);
    form_add_field(rep, "jid-single", "jid", "Room", NULL);
    form_add_field(rep, "text-single", "name", "Name", NULL);
    form_add_field(rep, "text-single", "description", "Description", NULL);
    form_add_field(rep, "text-single", "occupants", "Occupants", NULL);
    xml_append(q, x);
    send_result(m, res, page(m, iq, query, &f, false, SEARCH_PAGE_MAX, x, q, result_item));
    filter_clear(&f);
}

void search_handle(struct muc *m, const struct xml_node *iq, const struct xml_node *query)
{
    if (strcmp(stanza_type(iq), "get") == 0)
        search_form(m, iq);
    else
        search_run(m, iq, query);
}

/* ---- XEP-0433 ---- */

static void channel_form(struct muc *m, const struct xml_node *iq)
{
    struct xml_node *res = stanza_iq_result(iq);
    struct xml_node *s = xml_add(res, "search", NS_CHANNEL_SEARCH);
    struct xml_node *x = form_new("form", NS_CHANNEL_SEARCH_PARAMS, NULL, NULL);
    add_text_fields(x);
    form_add_bool(x, "all", "Return all entries (ignore search terms)", false);
    struct xml_node *key = form_add_field(x, "list-single", "key", "Sort results by",
                                          ORDER_ADDRESS);
    form_add_option(key, "Address", ORDER_ADDRESS);
    form_add_option(key, "Number of online users", ORDER_NUSERS);
    xml_append(s, x);
    muc_send(m, res);
    xml_unref(res);
}

static void channel_item(struct xml_node *result, const struct room *room)
{
    const struct room_config *c = &room->cfg;
    struct xml_node *item = xml_add(result, "item", NS_CHANNEL_SEARCH);
    xml_set_attr(item, "address", room->jid);
    xml_add_text_child(item, "name", NS_CHANNEL_SEARCH, room_name(room));
    if (c->desc && *c->desc)
        xml_add_text_child(item, "description", NS_CHANNEL_SEARCH, c->desc);
    if (c->lang && *c->lang)
        xml_add_text_child(item, "language", NS_CHANNEL_SEARCH, c->lang);
    char n[16];
    snprintf(n, sizeof n, "%u", room->noccupants);
    xml_add_text_child(item, "nusers", NS_CHANNEL_SEARCH, n);
    xml_add_text_child(item, "service-type", NS_CHANNEL_SEARCH, "xep-0045");
    /* As the XEP's example: present when anyone may enter without credentials. */
    if (!c->members_only && !c->password_protected)
        xml_add(item, "is-open", NS_CHANNEL_SEARCH);
    xml_add_text_child(item, "anonymity-mode", NS_CHANNEL_SEARCH,
                       c->whois_anyone ? ANON_NONE : "muc_semianonymous");
}

/* The XEP's request errors (§4.2.2-4.2.6); false after answering one. */
static bool channel_query_ok(struct muc *m, const struct xml_node *iq, const struct form *fm,
                             const struct filter *f, bool *users_first)
{
    bool all = false;
    if (form_bool(fm, "all", &all) == -EINVAL) {
        reply_error(m, iq, "bad-request", "'all' is a boolean", NULL);
        return false;
    }
    const char *key = form_value(fm, "key");
    *users_first = key && strcmp(key, ORDER_NUSERS) == 0;
    bool has_q = form_value(fm, "q") != NULL;
    if (key && !*users_first && strcmp(key, ORDER_ADDRESS) != 0)
        reply_error(m, iq, "feature-not-implemented", "unknown sort key", "invalid-sort-key");
    else if (all && has_q)
        reply_error(m, iq, "bad-request",
                    "Cannot both return all entries and search by words ('all' and 'q')",
                    "conflicting-fields");
    else if (!all && !has_q)
        reply_error(m, iq, "bad-request", "give words to search for ('q') or ask for 'all'",
                    "no-search-conditions");
    else if (has_q && !f->nwords)
        reply_error(m, iq, "bad-request", "the search text holds no word",
                    "invalid-search-terms");
    else
        return true;
    return false;
}

static void channel_run(struct muc *m, const struct xml_node *iq, const struct xml_node *search,
                        const struct xml_node *x)
{
    struct form fm;
    if (form_parse(x, &fm) < 0 || strcmp(fm.type, "submit") != 0 ||
        (fm.form_type && strcmp(fm.form_type, NS_CHANNEL_SEARCH_PARAMS) != 0)) {
        reply_error(m, iq, "bad-request", "submit the " NS_CHANNEL_SEARCH_PARAMS " form", NULL);
        form_free(&fm);
        return;
    }
    struct filter f;
    filter_from_form(&fm, &f);
    bool users_first = false;
    if (channel_query_ok(m, iq, &fm, &f, &users_first)) {
        struct xml_node *res = stanza_iq_result(iq);
        struct xml_node *r = xml_add(res, "result", NS_CHANNEL_SEARCH);
        send_result(m, res, page(m, iq, search, &f, users_first, SEARCH_PAGE_MAX, r, r,
                                 channel_item));
    }
    filter_clear(&f);
    form_free(&fm);
}

void search_channels(struct muc *m, const struct xml_node *iq, const struct xml_node *search)
{
    const struct xml_node *x = xml_child(search, "x", NS_DATA_FORMS);
    if (x)
        channel_run(m, iq, search, x);
    else
        channel_form(m, iq);
}
