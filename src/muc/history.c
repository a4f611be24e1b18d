/* history.c — per-room discussion history ring and XEP-0045 §7.2.15 selection. */
#include "compat.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "datetime.h"
#include "history.h"
#include "mem.h"

static const struct history_req REQ_UNSET = {
    .maxchars = HISTORY_UNSET,
    .maxstanzas = HISTORY_UNSET,
    .seconds = HISTORY_UNSET,
    .since_ms = HISTORY_UNSET,
};

void history_init(struct history *h, size_t cap)
{
    memset(h, 0, sizeof *h);
    h->cap = cap;
}

static struct hist_entry *slot(const struct history *h, size_t i)
{
    return &h->ring[(h->head + i) % h->alloc];
}

/* Reallocate to n slots (n >= count), oldest entry first. */
static void relayout(struct history *h, size_t n)
{
    struct hist_entry *ring = n ? xcalloc(n, sizeof *ring) : NULL;
    for (size_t i = 0; i < h->count; i++)
        ring[i] = *slot(h, i);
    free(h->ring);
    h->ring = ring;
    h->alloc = n;
    h->head = 0;
}

static void drop_oldest(struct history *h)
{
    struct hist_entry *e = slot(h, 0);
    free(e->xml);
    free(e->sender_jid);
    free(e->nick);
    memset(e, 0, sizeof *e);
    h->head = (h->head + 1) % h->alloc;
    h->count--;
}

/* Slots double from 4 up to the room's size: a room that is quiet holds none. */
static size_t next_alloc(const struct history *h)
{
    size_t n = h->alloc ? 2 * h->alloc : 4;
    return n < h->cap ? n : h->cap;
}

void history_free(struct history *h)
{
    while (h->count)
        drop_oldest(h);
    free(h->ring);
    memset(h, 0, sizeof *h);
}

void history_push(struct history *h, uint64_t seq, int64_t ts_ms, const char *xml, size_t len)
{
    history_push_from(h, seq, ts_ms, xml, len, NULL, NULL, true);
}

void history_push_from(struct history *h, uint64_t seq, int64_t ts_ms, const char *xml,
                       size_t len, const char *sender_jid, const char *nick, bool archived)
{
    if (!h->cap)
        return;
    if (h->count == h->cap)
        drop_oldest(h);
    else if (h->count == h->alloc)
        relayout(h, next_alloc(h));
    struct hist_entry *e = slot(h, h->count);
    e->seq = seq;
    e->ts_ms = ts_ms;
    e->xml = xstrndup(xml, len);
    e->xml_len = len;
    e->sender_jid = sender_jid ? xstrdup(sender_jid) : NULL;
    e->nick = nick ? xstrdup(nick) : NULL;
    e->archived = archived;
    h->count++;
}

void history_resize(struct history *h, size_t cap)
{
    if (cap == h->cap)
        return;
    while (h->count > cap)
        drop_oldest(h);
    relayout(h, h->count);
    h->cap = cap;
}

const struct hist_entry *history_at(const struct history *h, size_t i)
{
    return i < h->count ? slot(h, i) : NULL;
}

const struct hist_entry *history_find(const struct history *h, uint64_t seq)
{
    for (size_t i = 0; i < h->count; i++)
        if (slot(h, i)->seq == seq)
            return slot(h, i);
    return NULL;
}

bool history_replace(struct history *h, uint64_t seq, const char *xml, size_t len)
{
    struct hist_entry *e = (struct hist_entry *)history_find(h, seq);
    if (!e)
        return false;
    free(e->xml);
    e->xml = xstrndup(xml, len);
    e->xml_len = len;
    return true;
}

/* Digits only; a number past LONG_MAX saturates rather than failing, since
 * asking for more than we could ever hold is a valid request for everything. */
static int parse_count(const char *s, long *out)
{
    if (!s)
        return 0;
    if (!*s)
        return -EINVAL;
    long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        int d = *s - '0';
        v = v > (LONG_MAX - d) / 10 ? LONG_MAX : v * 10 + d;
    }
    *out = v;
    return 0;
}

static int parse_since(const char *s, int64_t *out)
{
    if (!s)
        return 0;
    int64_t ms;
    if (datetime_parse(s, &ms) < 0)
        return -EINVAL;
    /* Negative would read as unset; history never predates the epoch anyway. */
    *out = ms < 0 ? 0 : ms;
    return 0;
}

int history_req_parse(const struct xml_node *history_el, struct history_req *out)
{
    *out = REQ_UNSET;
    if (!history_el)
        return 0;
    struct history_req r = REQ_UNSET;
    if (parse_count(xml_attr(history_el, "maxchars"), &r.maxchars) < 0 ||
        parse_count(xml_attr(history_el, "maxstanzas"), &r.maxstanzas) < 0 ||
        parse_count(xml_attr(history_el, "seconds"), &r.seconds) < 0 ||
        parse_since(xml_attr(history_el, "since"), &r.since_ms) < 0)
        return -EINVAL;
    *out = r;
    return 0;
}

/* The oldest timestamp still wanted, INT64_MIN when time does not limit. */
static int64_t time_cutoff(const struct history_req *req, int64_t now_ms)
{
    int64_t cutoff = req->since_ms >= 0 ? req->since_ms : INT64_MIN;
    if (req->seconds >= 0) {
        int64_t from;
        int64_t span;
        if (__builtin_mul_overflow((int64_t)req->seconds, 1000, &span) ||
            __builtin_sub_overflow(now_ms, span, &from))
            from = INT64_MIN;
        if (from > cutoff)
            cutoff = from;
    }
    return cutoff;
}

/* XEP-0045 counts characters; in UTF-8 that is every byte but continuations. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)s[i] & 0xc0) != 0x80;
    return chars;
}

size_t history_select(const struct history *h, const struct history_req *req, int64_t now_ms,
                      size_t service_max, size_t extra_chars_per_msg, size_t *first)
{
    size_t limit = h->count < service_max ? h->count : service_max;
    if (req->maxstanzas >= 0 && (unsigned long)req->maxstanzas < limit)
        limit = (size_t)req->maxstanzas;
    int64_t cutoff = time_cutoff(req, now_ms);
    size_t budget = req->maxchars >= 0 ? (size_t)req->maxchars : SIZE_MAX;
    size_t n = 0;
    while (n < limit) {
        const struct hist_entry *e = slot(h, h->count - 1 - n);
        if (e->ts_ms < cutoff)
            break;
        if (req->maxchars >= 0) {
            size_t chars = utf8_chars(e->xml, e->xml_len);
            if (extra_chars_per_msg > budget || chars > budget - extra_chars_per_msg)
                break;
            budget -= chars + extra_chars_per_msg;
        }
        n++;
    }
    *first = h->count - n;
    return n;
}
