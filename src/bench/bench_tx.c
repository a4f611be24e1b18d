/* bench_tx.c — router mode's stanzas to confabd: joins, room configuration, groupchat messages, MAM queries. */
#include "compat.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_router.h"
#include "mem.h"

void tx_put(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        buf_append(&B.out, tmp, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf_append(&B.out, big, (size_t)n);
    free(big);
}

void tx_user_jid(char *out, size_t n, unsigned u)
{
    snprintf(out, n, "user%u@%s/r", u, O.user_domain);
}

void tx_room_jid(char *out, size_t n, unsigned r)
{
    snprintf(out, n, "%s%u@%s", O.room_prefix, r, O.domain);
}

void tx_join_to(const char *from, const char *room, const char *nick, int history)
{
    if (history >= 0)
        tx_put("<presence from='%s' to='%s/%s'><x xmlns='" NS_MUC "'><history maxstanzas='%d'/>"
            "</x></presence>", from, room, nick, history);
    else
        tx_put("<presence from='%s' to='%s/%s'><x xmlns='" NS_MUC "'/></presence>", from, room,
            nick);
}

void tx_join(unsigned u, int64_t sched)
{
    char from[128], room[256], nick[32];
    tx_user_jid(from, sizeof from, u);
    tx_room_jid(room, sizeof room, B.users[u].room);
    snprintf(nick, sizeof nick, "nick%u", u);
    B.users[u].state = U_JOINING;
    B.users[u].join_sched = sched;
    B.users[u].self_seen = false;
    tx_join_to(from, room, nick, O.history);
}

void tx_config(unsigned r)
{
    char from[128], room[256];
    tx_user_jid(from, sizeof from, r);
    tx_room_jid(room, sizeof room, r);
    tx_put("<iq type='set' id='cfg%u' from='%s' to='%s'><query xmlns='" NS_MUC_OWNER "'>"
        "<x xmlns='jabber:x:data' type='submit'>"
        "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
        "<field var='muc#roomconfig_persistentroom'><value>%d</value></field>"
        "<field var='muc#roomconfig_enablelogging'><value>1</value></field>"
        "<field var='muc#roomconfig_publicroom'><value>1</value></field>"
        "</x></query></iq>", r, from, room, O.persistent ? 1 : 0);
}

/* Words for bodies: varied enough that full-text indexing does real work. */
static const char *const words[] = {
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu",
};

static void pad_body(struct buf *b, size_t have, uint64_t salt)
{
    uint64_t x = salt * 0x9E3779B97F4A7C15ull + 1;
    while (have < O.body_bytes) {
        x ^= x >> 13;
        x *= 0xff51afd7ed558ccdull;
        const char *w = words[(x >> 33) % ARRAY_SIZE(words)];
        size_t wl = strlen(w);
        if (have + wl + 1 > O.body_bytes) {
            for (; have < O.body_bytes; have++)
                buf_putc(b, 'x');
            break;
        }
        buf_putc(b, ' ');
        buf_puts(b, w);
        have += wl + 1;
    }
}

/* kind "cb" (chat, measured) or "pf" (prefill history). */
void tx_groupchat(unsigned u, const char *kind, uint64_t seq, int64_t sched)
{
    char from[128], room[256], head[96];
    tx_user_jid(from, sizeof from, u);
    tx_room_jid(room, sizeof room, B.users[u].room);
    tx_put("<message from='%s' to='%s' type='groupchat' id='b%u-%" PRIu64 "'><body>", from, room,
        u, seq);
    int hl = snprintf(head, sizeof head, "%s %u %" PRIu64 " %" PRId64, kind, u, seq, sched);
    buf_append(&B.out, head, (size_t)hl);
    pad_body(&B.out, (size_t)hl, (uint64_t)u << 32 ^ seq);
    buf_puts(&B.out, "</body></message>");
    B.sent_msgs++;
}

void tx_mam_query(uint64_t k, const char *before, const char *after)
{
    tx_put("<iq type='set' id='q%" PRIu64 "' from='%s@%s/r' to='%s'><query xmlns='" NS_MAM
        "' queryid='%" PRIu64 "'><set xmlns='" NS_RSM "'><max>%u</max>", k, MAM_READER,
        O.user_domain, B.mam_room_jid, k, O.mam_max);
    if (before)
        tx_put("<before>%s</before>", before);
    if (after)
        tx_put("<after>%s</after>", after);
    tx_put("</set></query></iq>");
}
