/* The room directory: the service's disco#items (XEP-0030), room search with
 * a data form (XEP-0055) and extended channel search (XEP-0433), all paged
 * with XEP-0059 result set management.
 *
 * All three list the same rooms, every room in the store whether it is in
 * memory or not (store.h list_rooms, an asynchronous query): Open and Closed
 * rooms (muc#roomconfig_publicroom) to everyone, Secret ones (unlisted and
 * members-only) to their members, admins and owners and to service admins,
 * locked rooms never (directory.c). Occupant counts come from the rooms in
 * memory: a room that is not has nobody inside.
 *
 * The RSM id of a room is its JID, and pages are keyset pages in JID order:
 * a room created or destroyed between two requests shifts nothing, and an
 * <after/> naming a room that has gone meanwhile pages on from where it would
 * sort instead of failing (XEP-0059 §2.5 says item-not-found, which would
 * leave a client paging a busy service without a way forward). XEP-0433's
 * nusers order sorts the first DIRECTORY_SORT_MAX matches in memory. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "form.h"
#include "jid.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

#define NS_CHANNEL_SEARCH_PARAMS "urn:xmpp:channel-search:0:search-params"
#define NS_CHANNEL_SEARCH_ERROR "urn:xmpp:channel-search:0:error"
#define ORDER_ADDRESS "{urn:xmpp:channel-search:0:order}address"
#define ORDER_NUSERS "{urn:xmpp:channel-search:0:order}nusers"
#define ANON_NONE "{urn:xmpp:channel-search:0:anonymity}none"

/* Most results in one page of a search; disco#items without <set/> answers
 * every room, as it always did. */
#define SEARCH_PAGE_MAX 100
/* disco#items without <set/>: every room, up to this many. */
#define DIRECTORY_ALL_MAX 10000
/* XEP-0433's nusers order: matches sorted by occupancy in memory. */
#define DIRECTORY_SORT_MAX 1000

struct filter {
    char **words;        /* every word must occur in a searched field */
    size_t nwords;
    bool in_name, in_desc, in_addr;
};

static void filter_clear(struct filter *f);

static void reply_error(struct muc *m, const struct xml_node *iq, const char *condition,
                        const char *text, const char *app)
{
    struct xml_node *e = stanza_error_reply(iq, condition, text);
    if (app)
        xml_add(stanza_child(e, "error"), app, NS_CHANNEL_SEARCH_ERROR);
    muc_send(m, e);
    xml_unref(e);
}

/* ---- one directory request, answered when the store has listed ---- */

/* What a listed room shows: its stored row and, from memory, who is inside. */
struct entry {
    const struct store_dir_room *r;
    unsigned nusers;
};

/* Items for a page under parent, one per room. */
typedef void add_item_fn(struct xml_node *parent, const struct entry *e);

struct dir_req {
    struct muc *m;
    struct xml_node *iq;        /* the request (a reference) */
    struct xml_node *res;       /* the result being built */
    struct xml_node *items;     /* where add puts the items */
    struct xml_node *set_parent;/* where the <set/> goes; NULL: none */
    add_item_fn *add;
    bool users_first;
    struct rsm_req rsm;
    struct store_dir_query q;
    struct filter f;
    char *viewer;
    char *category;
    int64_t *open_cats;          /* q.open_cats (wall_open_categories) */
};

/* The room's name, or its node when it has none (owned). */
static char *room_name(const struct store_dir_room *r)
{
    if (r->name && *r->name)
        return xstrdup(r->name);
    const char *at = strchr(r->jid, '@');
    return at ? xstrndup(r->jid, (size_t)(at - r->jid)) : xstrdup(r->jid);
}

static unsigned nusers(struct muc *m, const char *jid)
{
    const struct room *room = room_find(m, jid);
    return room ? crowd_visible_count(m, room) : 0;
}

static void rsm_result(struct xml_node *parent, const struct entry *v, size_t n, size_t first,
                       size_t count)
{
    struct xml_node *set = xml_add(parent, "set", NS_RSM);
    if (n) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", first);
        xml_set_attr(xml_add_text_child(set, "first", NS_RSM, v[0].r->jid), "index", idx);
        xml_add_text_child(set, "last", NS_RSM, v[n - 1].r->jid);
    }
    char c[24];
    snprintf(c, sizeof c, "%zu", count);
    xml_add_text_child(set, "count", NS_RSM, c);
}

/* XEP-0433's nusers order: busiest first, then by JID so a page is stable
 * while nobody comes or goes. */
static int by_users(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->nusers != y->nusers)
        return x->nusers > y->nusers ? -1 : 1;
    return strcmp(x->r->jid, y->r->jid);
}

static void dir_req_free(struct dir_req *d)
{
    xml_unref(d->res);
    xml_unref(d->iq);
    rsm_req_clear(&d->rsm);
    filter_clear(&d->f);
    FREE_ALL(d->viewer, d->category, d->open_cats, d);
}

/* The page the store returned, or (nusers) the window of the sorted matches. */
static bool dir_page(struct dir_req *d, struct store_dir_page *p, struct entry *v, size_t *lo,
                     size_t *hi, size_t *count)
{
    for (size_t i = 0; i < p->n; i++)
        v[i] = (struct entry){ .r = &p->rooms[i], .nusers = nusers(d->m, p->rooms[i].jid) };
    *lo = 0;
    *hi = p->n;
    *count = p->count;
    if (!d->users_first)
        return true;
    qsort(v, p->n, sizeof *v, by_users);
    const char **keys = xmalloc((p->n + 1) * sizeof *keys);
    for (size_t i = 0; i < p->n; i++)
        keys[i] = v[i].r->jid;
    bool ok = directory_window(&d->q, keys, p->n, true, lo, hi);
    free(keys);
    *count = p->n;
    return ok;
}

static void on_listed(void *ud, int err, struct store_dir_page *p)
{
    struct dir_req *d = ud;
    if (err < 0 || !p) {
        reply_error(d->m, d->iq, "resource-constraint",
                    "the room directory is unavailable; retry", NULL);
        store_dir_page_free(p);
        dir_req_free(d);
        return;
    }
    struct entry *v = xmalloc((p->n + 1) * sizeof *v);
    size_t lo, hi, count;
    if (!dir_page(d, p, v, &lo, &hi, &count)) {
        reply_error(d->m, d->iq, "item-not-found", "no such room in this listing", NULL);
    } else {
        for (size_t i = lo; i < hi; i++)
            d->add(d->items, &v[i]);
        if (d->set_parent)
            rsm_result(d->set_parent, v + lo, hi - lo,
                       d->users_first ? lo : p->first_index, count);
        muc_send(d->m, d->res);
    }
    free(v);
    store_dir_page_free(p);
    dir_req_free(d);
}

/* Starts the listing that answers iq with res (its items under items, by
 * add); page_max caps a page (0: disco#items without <set/>, every room).
 * Takes f. Answers the errors itself. */
static void dir_list(struct muc *m, const struct xml_node *iq, const struct xml_node *query,
                     struct filter *f, const char *category, bool users_first, size_t page_max,
                     struct xml_node *res, struct xml_node *items, struct xml_node *set_parent,
                     add_item_fn *add)
{
    struct dir_req *d = xcalloc(1, sizeof *d);
    const char *why = NULL;
    d->f = *f;
    *f = (struct filter){ 0 };
    if (!rsm_req_parse(query, &d->rsm, &why)) {
        reply_error(m, iq, "bad-request", why, NULL);
        xml_unref(res);
        dir_req_free(d);
        return;
    }
    d->m = m;
    d->iq = xml_ref((struct xml_node *)iq);
    d->res = res;
    d->items = items;
    d->add = add;
    d->users_first = users_first;
    d->set_parent = d->rsm.present || page_max ? set_parent : NULL;
    struct jid from = { 0 };
    if (jid_parse(&from, stanza_from(iq)) == 0)
        d->viewer = jid_format(&from, true);
    jid_clear(&from);
    d->category = category && *category ? xstrdup(category) : NULL;
    d->q = (struct store_dir_query){
        .words = (const char *const *)d->f.words, .nwords = d->f.nwords,
        .in_name = d->f.in_name, .in_desc = d->f.in_desc, .in_addr = d->f.in_addr,
        .category = d->category, .viewer = d->viewer,
        .viewer_admin = d->viewer && muc_is_admin(m, d->viewer),
    };
    /* Ethical walls: rooms of a category the viewer is shut out of do not exist for it. */
    d->open_cats = wall_open_categories(m, d->viewer, &d->q.nopen_cats);
    d->q.open_cats = d->open_cats;
    rsm_req_window(&d->rsm, d->rsm.present || page_max ? SEARCH_PAGE_MAX : DIRECTORY_ALL_MAX,
                   &d->q);
    struct store_dir_query q = d->q;
    if (users_first) /* every match, sorted and windowed in on_listed */
        q = (struct store_dir_query){ .words = q.words, .nwords = q.nwords,
                                      .in_name = q.in_name, .in_desc = q.in_desc,
                                      .in_addr = q.in_addr, .category = q.category,
                                      .viewer = q.viewer, .viewer_admin = q.viewer_admin,
                                      .open_cats = q.open_cats, .nopen_cats = q.nopen_cats,
                                      .index = -1, .max = DIRECTORY_SORT_MAX };
    const struct muc_store *s = m->store;
    if (s->list_rooms)
        s->list_rooms(s->st, &q, on_listed, d);
    else
        m->mem_store.list_rooms(m->mem_store.st, &q, on_listed, d);
}

/* ---- XEP-0030 disco#items ---- */

static void disco_item(struct xml_node *q, const struct entry *e)
{
    struct xml_node *item = xml_add(q, "item", NS_DISCO_ITEMS);
    char *name = room_name(e->r);
    xml_set_attr(item, "jid", e->r->jid);
    xml_set_attr(item, "name", name);
    free(name);
}

void search_disco_items(struct muc *m, const struct xml_node *iq, const struct xml_node *query)
{
    struct xml_node *res = stanza_iq_result(iq);
    struct xml_node *q = xml_add(res, "query", NS_DISCO_ITEMS);
    struct filter every = { .in_name = true };
    dir_list(m, iq, query, &every, NULL, false, 0, res, q, q, disco_item);
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
    form_add_field(x, "text-single", "category", "Category (its exact name; empty: any)", NULL);
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

static void result_item(struct xml_node *x, const struct entry *e)
{
    char n[16];
    snprintf(n, sizeof n, "%u", e->nusers);
    char *name = room_name(e->r);
    struct xml_node *item = xml_add(x, "item", NS_DATA_FORMS);
    form_add_field(item, NULL, "jid", NULL, e->r->jid);
    form_add_field(item, NULL, "name", NULL, name);
    form_add_field(item, NULL, "description", NULL, e->r->desc ? e->r->desc : "");
    form_add_field(item, NULL, "category", NULL, e->r->category ? e->r->category : "");
    form_add_field(item, NULL, "occupants", NULL, n);
    free(name);
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
    char *category = xstrdup(form_value(&fm, "category") ? form_value(&fm, "category") : "");
    form_free(&fm);
    struct xml_node *res = stanza_iq_result(iq);
    struct xml_node *q = xml_add(res, "query", NS_SEARCH);
    struct xml_node *x = form_new("result", NS_SEARCH, NULL, NULL);
    struct xml_node *rep = xml_add(x, "reported", NS_DATA_FORMS);
    form_add_field(rep, "jid-single", "jid", "Room", NULL);
    form_add_field(rep, "text-single", "name", "Name", NULL);
    form_add_field(rep, "text-single", "description", "Description", NULL);
    form_add_field(rep, "text-single", "category", "Category", NULL);
    form_add_field(rep, "text-single", "occupants", "Occupants", NULL);
    xml_append(q, x);
    dir_list(m, iq, query, &f, category, false, SEARCH_PAGE_MAX, res, x, q, result_item);
    free(category);
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

static void channel_item(struct xml_node *result, const struct entry *e)
{
    const struct store_dir_room *c = e->r;
    struct xml_node *item = xml_add(result, "item", NS_CHANNEL_SEARCH);
    xml_set_attr(item, "address", c->jid);
    char *name = room_name(c);
    xml_add_text_child(item, "name", NS_CHANNEL_SEARCH, name);
    free(name);
    if (c->desc && *c->desc)
        xml_add_text_child(item, "description", NS_CHANNEL_SEARCH, c->desc);
    if (c->lang && *c->lang)
        xml_add_text_child(item, "language", NS_CHANNEL_SEARCH, c->lang);
    char n[16];
    snprintf(n, sizeof n, "%u", e->nusers);
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
        dir_list(m, iq, search, &f, form_value(&fm, "category"), users_first, SEARCH_PAGE_MAX,
                 res, r, r, channel_item);
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
