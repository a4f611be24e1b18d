/* history.h — a room's discussion history in memory, and the XEP-0045 §7.2.15
 * choice of what a joining occupant receives.
 *
 * Entries are kept in a ring of the room's configured size, oldest evicted
 * first, each holding the message exactly as it is broadcast (minus the
 * per-recipient 'to' and the <delay/> added on replay), so replay is a copy
 * and maxchars is measured on the serialisation that is actually sent. */
#ifndef CONFAB_HISTORY_H
#define CONFAB_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "xml.h"

#define HISTORY_UNSET (-1)

struct hist_entry {
    uint64_t seq;
    int64_t ts_ms;      /* when the room received it, UTC ms (datetime.h) */
    char *xml;          /* owned, NUL-terminated */
    size_t xml_len;
    char *sender_jid;   /* real full JID of the sender, or NULL (compliance) */
    char *nick;         /* the sender's nick then, or NULL */
    bool archived;      /* sent while the room's archive was on */
};

struct history {
    struct hist_entry *ring;
    size_t alloc;       /* slots allocated: grows with use up to cap (an idle room has none) */
    size_t cap;         /* 0 keeps nothing */
    size_t head;        /* index of the oldest entry */
    size_t count;
};

/* What the occupant asked for in <history/>; each field HISTORY_UNSET if absent. */
struct history_req {
    long maxchars;
    long maxstanzas;
    long seconds;
    int64_t since_ms;   /* any negative value means unset */
};

void history_init(struct history *h, size_t cap);
/* Free all entries; h may be reused after history_init. */
void history_free(struct history *h);
/* Append a copy of xml[0..len), evicting the oldest entry when full. */
void history_push(struct history *h, uint64_t seq, int64_t ts_ms, const char *xml, size_t len);
/* The same, recording who sent it (either may be NULL) and whether it was
 * sent while the room's archive was on (the in-memory archive serves only
 * those). */
void history_push_from(struct history *h, uint64_t seq, int64_t ts_ms, const char *xml,
                       size_t len, const char *sender_jid, const char *nick, bool archived);
/* Change capacity, keeping the newest min(count, cap) entries. */
void history_resize(struct history *h, size_t cap);
/* Entry i counting from the oldest (0), or NULL when i >= count. */
const struct hist_entry *history_at(const struct history *h, size_t i);
/* The entry of message seq, or NULL when it is not (or no longer) kept. */
const struct hist_entry *history_find(const struct history *h, uint64_t seq);
/* Message seq now reads xml[0..len) (a tombstone); false when not kept. */
bool history_replace(struct history *h, uint64_t seq, const char *xml, size_t len);

/* Read the attributes of a <history/> element (NULL: none was sent, all unset).
 * maxchars, maxstanzas and seconds are plain decimal digits; values too large
 * for a long saturate at LONG_MAX, which means "no limit" in effect. since is
 * an XEP-0082 DateTime; one before 1970 is stored as 0, which still selects
 * everything since history timestamps come from the wall clock.
 * On -EINVAL (a malformed attribute) *out is all unset: the caller should
 * ignore the whole element and apply the room's defaults, as Prosody does,
 * since failing the join over a history hint would be out of proportion. */
MUST_CHECK int history_req_parse(const struct xml_node *history_el, struct history_req *out);

/* Choose the history for a joining occupant: the newest entries that satisfy
 * every given limit at once (XEP-0045 §7.2.15 "the smallest amount of traffic
 * that meets any combination"), delivered oldest first. Returns how many, and
 * sets *first to the index (history_at) of the oldest one sent.
 *   - service_max caps the count whatever was asked (SIZE_MAX: no cap); with
 *     no maxstanzas the room's default is its whole buffer, under that cap.
 *   - maxchars counts characters (Unicode code points) of each stanza as
 *     delivered: the stored xml plus extra_chars_per_msg for the 'to' and
 *     <delay/> added per copy (a byte count is a safe overestimate). Only
 *     whole stanzas are sent, so maxchars=0 sends nothing.
 *   - seconds keeps entries with ts_ms >= now_ms - seconds*1000, and since
 *     keeps ts_ms >= since_ms: both boundaries are inclusive, reading "since"
 *     and "in the last X seconds" as including the instant named.
 * The walk goes from the newest entry back and stops at the first one that
 * fails a limit, so the result is always a gap-free tail of the history even
 * if the wall clock once stepped backwards or an older stanza is shorter. */
size_t history_select(const struct history *h, const struct history_req *req, int64_t now_ms,
                      size_t service_max, size_t extra_chars_per_msg, size_t *first);

#endif
