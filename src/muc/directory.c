/* directory.c — the room directory's pure rules: which rooms a viewer may find, word matches, the RSM window (search.c, mem_store.c). */
#include "compat.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "muc.h"
#include "stanza.h"

/* Open and Closed rooms are listed to everyone, Secret ones only to their
 * members, admins and owners (and service admins), locked rooms and
 * unlisted open rooms never (issue 16's privacy mapping, roomkind.c). */
bool directory_visible(const struct room_config *c, bool locked, enum muc_affil viewer_affil,
                       bool viewer_admin)
{
    if (locked)
        return false;
    if (c->public_list)
        return true;
    return c->members_only && (viewer_admin || viewer_affil >= AFFIL_MEMBER);
}

static bool word_in(const char *field, const char *word)
{
    return field && strcasestr(field, word) != NULL;
}

bool directory_matches(const struct store_dir_query *q, const char *jid, const char *name,
                       const char *desc)
{
    for (size_t i = 0; i < q->nwords; i++) {
        const char *w = q->words[i];
        if (!(q->in_name && word_in(name, w)) && !(q->in_desc && word_in(desc, w)) &&
            !(q->in_addr && word_in(jid, w)))
            return false;
    }
    return true;
}

/* Where key would be among keys: the first after it (or, unless after, at
 * it). In nusers order the key has no place of its own: the room must still
 * be listed. Returns false when it is not. */
static bool position(const char *const *keys, size_t n, const char *key, bool users_first,
                     bool after, size_t *pos)
{
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(keys[i], key);
        if (users_first ? c == 0 : c >= 0) {
            *pos = i + (c == 0 && after);
            return true;
        }
    }
    *pos = n;
    return !users_first;
}

bool directory_window(const struct store_dir_query *q, const char *const *keys, size_t n,
                      bool users_first, size_t *lo, size_t *hi)
{
    size_t max = q->max, from = 0, to = n;
    if (q->after && !position(keys, n, q->after, users_first, true, &from))
        return false;
    if (q->before && !position(keys, n, q->before, users_first, false, &to))
        return false;
    if (q->index >= 0)
        from = (size_t)q->index < n ? (size_t)q->index : n;
    if (to < from)
        to = from;
    *lo = q->backward && to - from > max ? to - max : from;
    *hi = !q->backward && to - from > max ? from + max : to;
    return true;
}

/* ---- XEP-0059 requests ---- */

void rsm_req_clear(struct rsm_req *q)
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

bool rsm_req_parse(const struct xml_node *query, struct rsm_req *q, const char **why)
{
    *q = (struct rsm_req){ .max = -1, .index = -1 };
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

void rsm_req_window(const struct rsm_req *r, unsigned max, struct store_dir_query *q)
{
    q->after = r->after;
    q->before = r->before;
    q->backward = r->before || r->last_page;
    q->index = r->index;
    q->max = r->max >= 0 && (unsigned long)r->max < max ? (unsigned)r->max : max;
}
