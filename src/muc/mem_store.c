/* mem_store.c — the memory backend of store.h: rooms live in the engine only. */
#include "compat.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "mem_store.h"
#include "muc.h"
#include "stanza.h"
#include "xstream.h"

/* Every operation completes inside the call (store.h): a message is
 * reflected, an IQ answered and a compliance event handed to the sink before
 * the engine reads the next stanza, as it always did without a database. The
 * archive is the room's history ring (history.h); the store's state is the
 * engine itself (st is the struct muc). */

/* ---- the archive: the room's history ring ---- */

/* Stored stanzas parsed one after the other on one stream, for the filters
 * that look inside them. */
struct scan {
    struct xstream *xs;
    struct xml_node *st;
};

static const char scan_header[] = "<stream:stream xmlns='" NS_COMPONENT "' "
                                  "xmlns:stream='" NS_STREAMS "'>";

static void scan_grab(void *ud, struct xml_node *st)
{
    struct scan *s = ud;
    xml_unref(s->st);
    s->st = xml_ref(st);
}

static void scan_open(struct scan *s)
{
    static const struct xstream_handler h = { .stanza = scan_grab };
    s->st = NULL;
    s->xs = xstream_new(NULL, &h, s);
    (void)xstream_feed(s->xs, scan_header, sizeof scan_header - 1);
}

static const struct xml_node *scan_entry(struct scan *s, const struct hist_entry *e)
{
    xml_unref(s->st);
    s->st = NULL;
    if (xstream_feed(s->xs, e->xml, e->xml_len) < 0) {
        /* A damaged entry must not blind the scan to the next ones. */
        xstream_reset(s->xs);
        (void)xstream_feed(s->xs, scan_header, sizeof scan_header - 1);
    }
    return s->st;
}

static void scan_close(struct scan *s)
{
    xml_unref(s->st);
    xstream_free(s->xs);
}

static bool word_char(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* term occurs in text as a whole word, ASCII case folded. */
static bool has_word(const char *text, const char *term, size_t tl)
{
    for (const char *p = text; (p = strcasestr(p, term)) != NULL; p++) {
        bool start = p == text || !word_char((unsigned char)p[-1]);
        if (start && !word_char((unsigned char)p[tl]))
            return true;
    }
    return false;
}

/* An approximation of websearch_to_tsquery for the in-memory archive: every
 * word must occur, a word with a leading '-' must not; quotes and "or" are
 * ignored. */
static bool fulltext_match(const char *body, const char *query)
{
    static const char sep[] = " \t\r\n\"";
    char *copy = xstrdup(query), *save = NULL;
    bool ok = true;
    for (char *t = strtok_r(copy, sep, &save); ok && t; t = strtok_r(NULL, sep, &save)) {
        bool neg = *t == '-';
        if (neg)
            t++;
        if (!*t || strcasecmp(t, "or") == 0)
            continue;
        ok = has_word(body, t, strlen(t)) != neg;
    }
    free(copy);
    return ok;
}

struct mem_filter {
    const struct store_mam_query *q;
    char oid[45];          /* occupant-id of the real 'with' JID */
    bool inspect;          /* a filter needs the stanza parsed */
    struct scan scan;
};

/* 'with' and full text, which look inside the stored stanza. In memory the
 * sender's real JID is known only through its occupant-id, a keyed hash of
 * the bare JID: a full JID matches by its bare JID here. */
static bool mem_inspect(struct mem_filter *f, const struct hist_entry *e)
{
    const struct xml_node *st = scan_entry(&f->scan, e);
    if (!st)
        return false;
    const struct store_mam_query *q = f->q;
    if (q->with && q->with_is_nick && !(stanza_from(st) && strcmp(stanza_from(st), q->with) == 0))
        return false;
    if (q->with && !q->with_is_nick) {
        const struct xml_node *o = xml_child(st, "occupant-id", NS_OCCUPANT_ID);
        const char *id = o ? xml_attr(o, "id") : NULL;
        if (!id || strcmp(id, f->oid) != 0)
            return false;
    }
    if (q->fulltext) {
        const struct xml_node *b = stanza_child(st, "body");
        char *text = b ? xml_text(b) : NULL;
        bool ok = text && fulltext_match(text, q->fulltext);
        free(text);
        if (!ok)
            return false;
    }
    return true;
}

static bool mem_match(struct mem_filter *f, const struct hist_entry *e)
{
    const struct store_mam_query *q = f->q;
    if (!e->archived)
        return false;
    if ((q->start_ms >= 0 && e->ts_ms < q->start_ms) || (q->end_ms >= 0 && e->ts_ms > q->end_ms))
        return false;
    return !f->inspect || mem_inspect(f, e);
}

static void mem_filter_init(struct mem_filter *f, const struct muc *m, const struct room *room,
                            const struct store_mam_query *q)
{
    f->q = q;
    f->inspect = q->with || q->fulltext;
    if (q->with && !q->with_is_nick) {
        char *bare = xstrndup(q->with, strcspn(q->with, "/"));
        occupant_compute_id(m, room->jid, bare, f->oid);
        free(bare);
    }
    if (f->inspect)
        scan_open(&f->scan);
}

static void mem_copy(struct store_msg *dst, const struct hist_entry *e)
{
    *dst = (struct store_msg){ .seq = e->seq, .ts_ms = e->ts_ms,
                               .xml = xstrndup(e->xml, e->xml_len), .xml_len = e->xml_len };
}

/* The answer pg_store_mam.c gives, from the ring. An RSM <index/> (offset)
 * starts the page at that position of the whole matching set. */
static struct store_mam_page *ring_query(const struct muc *m, const struct room *room,
                                         const struct store_mam_query *q)
{
    const struct history *h = &room->history;
    struct mem_filter f = { 0 };
    mem_filter_init(&f, m, room, q);
    const struct hist_entry **match = xcalloc(h->count + 1, sizeof *match);
    size_t nm = 0;
    for (size_t i = 0; i < h->count; i++)
        if (mem_match(&f, history_at(h, i)))
            match[nm++] = history_at(h, i);
    if (f.inspect)
        scan_close(&f.scan);
    /* The window (after_seq, before_seq) of the matching set, by position. */
    size_t lo = 0, hi = nm;
    while (lo < nm && match[lo]->seq <= q->after_seq)
        lo++;
    while (q->before_seq && hi > lo && match[hi - 1]->seq >= q->before_seq)
        hi--;
    if (q->offset)
        lo = q->offset < nm ? (size_t)q->offset : nm;
    size_t take = hi - lo < q->max ? hi - lo : q->max;
    size_t from = q->last_page ? hi - take : lo;
    struct store_mam_page *p = xcalloc(1, sizeof *p);
    p->msgs = xcalloc(take + 1, sizeof *p->msgs);
    for (size_t i = 0; i < take; i++)
        mem_copy(&p->msgs[i], match[from + i]);
    p->n = take;
    p->complete = q->last_page ? from == lo : from + take == hi;
    p->count = q->want_count ? (long long)nm : -1;
    p->first_index = q->want_count && take ? (long long)from : -1;
    free(match);
    return p;
}

/* ---- the interface ---- */

static void mam_query(void *st, const char *room_jid, const struct store_mam_query *q,
                      store_mam_cb *cb, void *ud)
{
    struct muc *m = st;
    const struct room *room = room_find(m, room_jid);
    if (!room) {
        cb(ud, -ENOENT, NULL);
        return;
    }
    cb(ud, 0, ring_query(m, room, q));
}

/* Nothing is kept apart from the engine's rooms, so nothing is ever found. */
static void load_room(void *st, const char *jid, unsigned history, store_loaded_cb *cb, void *ud)
{
    cb(ud, 0, NULL);
}

static void save_room(void *st, const struct room *room)
{
}

static void save_affiliation(void *st, const struct room *room, const char *jid,
                             enum muc_affil affil, const char *nick, const char *reason)
{
}

static void append_message(void *st, const struct room *room, const struct store_msg_meta *meta,
                           store_done_cb *committed, void *ud)
{
    committed(ud, 0);
}

static void delete_room(void *st, const struct room *room, bool tombstone, const char *venue,
                        const char *reason)
{
}

static void barrier(void *st, store_done_cb *cb, void *ud)
{
    cb(ud, 0);
}

static bool available(void *st)
{
    return true;
}

/* No outbox table: an event leaves for the sink (muc->compliance_sink) at
 * once, attached or not, so there is no transaction to wait for either. */
static void put_event(void *st, const struct store_event *ev)
{
    struct muc *m = st;
    if (ev && m->compliance_sink)
        m->compliance_sink(m->compliance_ud, ev->uuid, ev->room, ev->xml, ev->xml_len);
}

static void save_vcard(void *st, const struct room *room, const char *vcard,
                       const char *photo_hash)
{
}

/* ---- the directory: the rooms in the engine ---- */


static int by_jid(const void *a, const void *b)
{
    return strcmp((*(struct room *const *)a)->jid, (*(struct room *const *)b)->jid);
}

/* The query's category (by name) and walls (open_cats). */
static bool dir_category_ok(const struct muc *m, const struct store_dir_query *q, int64_t id)
{
    const struct category *c = wall_category(m, id);
    if (q->category && (!c || strcmp(q->category, c->name) != 0))
        return false;
    if (!q->open_cats)
        return true;
    for (size_t i = 0; i < q->nopen_cats; i++)
        if (q->open_cats[i] == id)
            return true;
    return false;
}

static struct room **dir_matches(struct muc *m, const struct store_dir_query *q, size_t *n)
{
    struct room **v = xmalloc((m->nrooms + 1) * sizeof *v);
    size_t k = 0;
    for (struct room *room = m->rooms; room; room = room->hh.next) {
        enum muc_affil a = q->viewer ? room_affiliation(room, q->viewer) : AFFIL_NONE;
        if (directory_visible(&room->cfg, room->locked, a, q->viewer_admin) &&
            dir_category_ok(m, q, room->category_id) &&
            directory_matches(q, room->jid, room->cfg.name, room->cfg.desc))
            v[k++] = room;
    }
    qsort(v, k, sizeof *v, by_jid);
    *n = k;
    return v;
}

static void dir_copy(const struct muc *m, struct store_dir_room *d, const struct room *room)
{
    const struct room_config *c = &room->cfg;
    const struct category *cat = wall_category(m, room->category_id);
    *d = (struct store_dir_room){
        .jid = xstrdup(room->jid), .name = xstrdup(c->name ? c->name : ""),
        .desc = xstrdup(c->desc ? c->desc : ""), .lang = xstrdup(c->lang ? c->lang : ""),
        .category = xstrdup(cat ? cat->name : ""), .category_id = room->category_id,
        .members_only = c->members_only,
        .password_protected = c->password_protected, .whois_anyone = c->whois_anyone,
    };
}

static void list_rooms(void *st, const struct store_dir_query *q, store_dir_cb *cb, void *ud)
{
    size_t n, lo = 0, hi = 0;
    struct room **v = dir_matches(st, q, &n);
    const char **keys = xmalloc((n + 1) * sizeof *keys);
    for (size_t i = 0; i < n; i++)
        keys[i] = v[i]->jid;
    directory_window(q, keys, n, false, &lo, &hi);
    struct store_dir_page *p = xcalloc(1, sizeof *p);
    p->rooms = xcalloc(hi - lo + 1, sizeof *p->rooms);
    for (size_t i = lo; i < hi; i++)
        dir_copy(st, &p->rooms[p->n++], v[i]);
    p->count = n;
    p->first_index = lo;
    free(keys);
    free(v);
    cb(ud, 0, p);
}

void mem_store_init(struct muc_store *ops, struct muc *m)
{
    *ops = (struct muc_store){
        .load_room = load_room, .save_room = save_room, .save_affiliation = save_affiliation,
        .append_message = append_message, .delete_room = delete_room, .mam_query = mam_query,
        .barrier = barrier, .available = available, .attach_event = put_event,
        .put_event = put_event, .save_vcard = save_vcard, .list_rooms = list_rooms,
        .in_memory = true, .st = m,
    };
}
