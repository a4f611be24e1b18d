/* occupant.c — occupants and their sessions, XEP-0421 occupant-ids, per-occupant rate limits. */
#include "compat.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "muc.h"

struct occupant *occupant_by_nick(const struct room *room, const char *nick)
{
    struct occupant *o = NULL;
    HASH_FIND_STR(room->occupants, nick, o);
    return o;
}

struct muc_session *session_by_jid(const struct room *room, const char *full_jid)
{
    struct muc_session *s = NULL;
    HASH_FIND_STR(room->sessions, full_jid, s);
    return s;
}

/* XEP-0421: stable per room and bare JID, unguessable without the service key. */
void occupant_compute_id(const struct muc *m, const char *room_jid, const char *bare_jid,
                         char out[45])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t rl = strlen(room_jid), bl = strlen(bare_jid);
    char *data = xmalloc(rl + 1 + bl);
    memcpy(data, room_jid, rl);
    data[rl] = '\0';
    memcpy(data + rl + 1, bare_jid, bl);
    HMAC(EVP_sha256(), m->occupant_id_key, sizeof m->occupant_id_key,
         (const unsigned char *)data, rl + 1 + bl, md, &mdlen);
    free(data);
    EVP_EncodeBlock((unsigned char *)out, md, 32);
}

unsigned occupant_rooms_of(const struct muc *m, const char *bare_jid)
{
    struct user_count *u = NULL;
    HASH_FIND_STR(m->joined, bare_jid, u);
    return u ? u->n : 0;
}

static void count_join(struct muc *m, const char *bare_jid, int delta)
{
    struct user_count *u = NULL;
    HASH_FIND_STR(m->joined, bare_jid, u);
    if (!u) {
        if (delta < 0)
            return;
        u = xcalloc_keep(1, sizeof *u);
        u->jid = xstrdup_keep(bare_jid);
        HASH_ADD_KEYPTR(hh, m->joined, u->jid, strlen(u->jid), u);
    }
    u->n = (unsigned)((int)u->n + delta);
    if (u->n == 0) {
        HASH_DEL(m->joined, u);
        free(u->jid);
        free(u);
    }
}

struct occupant *occupant_new(struct muc *m, struct room *room, const char *nick,
                              const char *bare_jid, enum muc_role role)
{
    struct occupant *o = xcalloc_keep(1, sizeof *o);
    o->nick = xstrdup_keep(nick);
    o->fold = nick_fold(nick);
    o->bare_jid = xstrdup_keep(bare_jid);
    o->role = role;
    char id[45];
    occupant_compute_id(m, room->jid, bare_jid, id);
    o->occupant_id = xstrdup_keep(id);
    HASH_ADD_KEYPTR(hh, room->occupants, o->nick, strlen(o->nick), o);
    room->noccupants++;
    count_join(m, bare_jid, 1);
    return o;
}

struct muc_session *occupant_add_session(struct room *room, struct occupant *occ,
                                         const char *full_jid)
{
    struct muc_session *s = xcalloc_keep(1, sizeof *s);
    s->jid = xstrdup_keep(full_jid);
    s->occ = occ;
    HASH_ADD_KEYPTR(hh, room->sessions, s->jid, strlen(s->jid), s);
    occ->sessions = xrealloc_keep(occ->sessions, (occ->nsessions + 1) * sizeof *occ->sessions);
    occ->sessions[occ->nsessions++] = s;
    occ->current = s;
    room->recipients_dirty = true;
    return s;
}

static void session_free(struct room *room, struct muc_session *s)
{
    HASH_DEL(room->sessions, s);
    xml_unref(s->presence);
    free(s->jid);
    free(s);
    room->recipients_dirty = true;
}

static void occupant_free(struct room *room, struct occupant *occ)
{
    HASH_DEL(room->occupants, occ);
    room->noccupants--;
    count_join(room->muc, occ->bare_jid, -1);
    FREE_ALL(occ->sessions, occ->nick, occ->fold, occ->bare_jid, occ->occupant_id, occ);
}

bool occupant_remove_session(struct room *room, struct muc_session *s)
{
    struct occupant *occ = s->occ;
    for (size_t i = 0; i < occ->nsessions; i++) {
        if (occ->sessions[i] == s) {
            occ->sessions[i] = occ->sessions[--occ->nsessions];
            break;
        }
    }
    session_free(room, s);
    if (occ->nsessions == 0) {
        occupant_free(room, occ);
        return true;
    }
    if (occ->current == s)
        occ->current = occ->sessions[occ->nsessions - 1];
    return false;
}

void occupant_remove(struct room *room, struct occupant *occ)
{
    while (occ->nsessions > 1)
        occupant_remove_session(room, occ->sessions[occ->nsessions - 1]);
    if (occ->nsessions == 1)
        occupant_remove_session(room, occ->sessions[0]);
    else
        occupant_free(room, occ);
}

void occupant_rename(struct room *room, struct occupant *occ, const char *nick)
{
    HASH_DEL(room->occupants, occ);
    free(occ->nick);
    free(occ->fold);
    occ->nick = xstrdup(nick);
    occ->fold = nick_fold(nick);
    HASH_ADD_KEYPTR(hh, room->occupants, occ->nick, strlen(occ->nick), occ);
}

/* Fan-out walks this array instead of the hash: rebuilt only when sessions
 * change, so a message costs no allocation. */
const char *const *room_recipients(struct room *room, size_t *n)
{
    if (room->recipients_dirty) {
        size_t count = HASH_COUNT(room->sessions);
        room->recipients = xrealloc(room->recipients, (count ? count : 1) * sizeof(char *));
        size_t i = 0, bytes = 0;
        for (struct muc_session *s = room->sessions; s; s = s->hh.next) {
            room->recipients[i++] = s->jid;
            bytes += strlen(s->jid);
        }
        room->nrecipients = count;
        room->recipients_bytes = bytes;
        room->recipients_dirty = false;
    }
    *n = room->nrecipients;
    return room->recipients;
}

enum muc_affil occupant_affiliation(const struct room *room, const struct occupant *occ)
{
    return room_affiliation(room, occ->bare_jid);
}

bool occupant_rate_ok(struct token_bucket *b, unsigned rate, unsigned burst, int64_t now)
{
    if (!rate)
        return true;
    if (b->last_ms == 0) {
        b->tokens = burst;
        b->last_ms = now;
    }
    double add = (double)(now - b->last_ms) * rate / 1000.0;
    b->last_ms = now;
    b->tokens = b->tokens + add > burst ? burst : b->tokens + add;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}
