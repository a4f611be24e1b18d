/* pg_store_room.c — rooms in PostgreSQL: loading one, its row, affiliations, vCard, deletion. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "pg_store_int.h"

#define ROOM_COLUMNS \
    "locked, name, description, lang, password, persistent, public_list, members_only, " \
    "moderated, password_protected, whois_anyone, change_subject, allow_invites, logging, " \
    "allow_pm, max_users, presence_broadcast, get_member_list, history_length, subject, " \
    "subject_from"

const struct db_stmt pg_store_room_stmts[] = {
    { "room_get",
      "SELECT r.creator, (extract(epoch FROM r.created_at) * 1000)::bigint, " ROOM_COLUMNS ", "
      "greatest(r.last_seq, coalesce((SELECT max(seq) FROM messages m WHERE m.room_id = r.id), 0)), "
      "(extract(epoch FROM r.subject_at) * 1000)::bigint, r.category_id "
      "FROM rooms r WHERE r.jid = $1", 1 },
    { "room_affils",
      "SELECT a.jid, a.affiliation, a.nick, a.reason FROM affiliations a "
      "JOIN rooms r ON r.id = a.room_id WHERE r.jid = $1", 1 },
    { "room_recent",
      "SELECT seq, (extract(epoch FROM ts) * 1000)::bigint, stanza, sender_jid, nick FROM messages "
      "WHERE room_id = (SELECT id FROM rooms WHERE jid = $1) "
      /* Only historic messages are stored (message.c), subject changes
       * never: every row belongs in join history. */
      "ORDER BY seq DESC LIMIT $2", 2 },
    { "tomb_get",
      "SELECT venue, reason FROM tombstones WHERE jid = $1 "
      "AND (expires_at IS NULL OR expires_at > now())", 1 },
    { "room_put",
      /* The category is the engine's only when the row is new: later it is
       * confabctl's (rooms set-category) or an owner's (room_category_put). */
      "INSERT INTO rooms (jid, creator, created_at, " ROOM_COLUMNS ", last_seq, subject_at, "
      "category_id) VALUES ("
      "$1, $2, to_timestamp($3::double precision / 1000), $4, $5, $6, $7, $8, $9, $10, $11, $12, "
      "$13, $14, $15, $16, $17, $18, $19, string_to_array($20, ','), string_to_array($21, ','), "
      "$22, $23, $24, $25, to_timestamp($26::double precision / 1000), $27::bigint) ON CONFLICT (jid) DO UPDATE SET locked = EXCLUDED.locked, "
      "name = EXCLUDED.name, description = EXCLUDED.description, lang = EXCLUDED.lang, "
      "password = EXCLUDED.password, persistent = EXCLUDED.persistent, "
      "public_list = EXCLUDED.public_list, members_only = EXCLUDED.members_only, "
      "moderated = EXCLUDED.moderated, password_protected = EXCLUDED.password_protected, "
      "whois_anyone = EXCLUDED.whois_anyone, change_subject = EXCLUDED.change_subject, "
      "allow_invites = EXCLUDED.allow_invites, logging = EXCLUDED.logging, "
      "allow_pm = EXCLUDED.allow_pm, max_users = EXCLUDED.max_users, "
      "presence_broadcast = EXCLUDED.presence_broadcast, "
      "get_member_list = EXCLUDED.get_member_list, history_length = EXCLUDED.history_length, "
      "subject = EXCLUDED.subject, subject_from = EXCLUDED.subject_from, "
      "subject_at = EXCLUDED.subject_at, last_seq = greatest(rooms.last_seq, EXCLUDED.last_seq), updated_at = now()", 27 },
    { "affil_put",
      "INSERT INTO affiliations (room_id, jid, affiliation, nick, reason) "
      "SELECT id, $2, $3, $4, $5 FROM rooms WHERE jid = $1 "
      "ON CONFLICT (room_id, jid) DO UPDATE SET affiliation = EXCLUDED.affiliation, "
      "nick = EXCLUDED.nick, reason = EXCLUDED.reason, updated_at = now()", 5 },
    { "affil_del",
      "DELETE FROM affiliations WHERE room_id = (SELECT id FROM rooms WHERE jid = $1) "
      "AND jid = $2", 2 },
    { "room_del", "DELETE FROM rooms WHERE jid = $1", 1 },
    { "tomb_put",
      "INSERT INTO tombstones (jid, venue, reason, expires_at) VALUES ($1, $2, $3, "
      "now() + $4::interval) ON CONFLICT (jid) DO UPDATE SET venue = EXCLUDED.venue, "
      "reason = EXCLUDED.reason, destroyed_at = now(), expires_at = EXCLUDED.expires_at", 4 },
    /* Temporary and never-configured rooms left by a crash: nobody is in them. */
    { "rooms_gc", "DELETE FROM rooms WHERE NOT persistent OR locked", 0 },
    /* The room's vCard (schema/chat/004): read with the room, one row per room. */
    { "vcard_get",
      "SELECT v.vcard, v.photo_hash FROM room_vcards v JOIN rooms r ON r.id = v.room_id "
      "WHERE r.jid = $1", 1 },
    { "vcard_put",
      "INSERT INTO room_vcards (room_id, vcard, photo_hash) SELECT id, $2, $3 FROM rooms "
      "WHERE jid = $1 ON CONFLICT (room_id) DO UPDATE SET vcard = EXCLUDED.vcard, "
      "photo_hash = EXCLUDED.photo_hash, updated_at = now()", 3 },
    { "vcard_del",
      "DELETE FROM room_vcards WHERE room_id = (SELECT id FROM rooms WHERE jid = $1)", 1 },
};
const size_t pg_store_room_nstmts = ARRAY_SIZE(pg_store_room_stmts);

static void roles_str(unsigned set, char *out, size_t len)
{
    static const enum muc_role roles[] = { ROLE_MODERATOR, ROLE_PARTICIPANT, ROLE_VISITOR,
                                           ROLE_NONE };
    out[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(roles); i++) {
        if (!(set & ROLE_BIT(roles[i])))
            continue;
        if (out[0])
            strncat(out, ",", len - strlen(out) - 1);
        strncat(out, perm_role_name(roles[i]), len - strlen(out) - 1);
    }
}

/* PostgreSQL's text form of a text[]: {a,b}. */
static unsigned parse_roles(const char *s)
{
    unsigned set = 0;
    char *copy = xstrdup(s), *save = NULL;
    for (char *t = strtok_r(copy, "{},", &save); t; t = strtok_r(NULL, "{},", &save)) {
        enum muc_role r;
        if (perm_role_parse(t, &r) == 0)
            set |= ROLE_BIT(r);
    }
    free(copy);
    return set;
}

/* ---- loading a room ---- */

struct load {
    struct pg_store *s;
    char *jid;
    store_loaded_cb *cb;
    void *ud;
    struct store_room *rec;
    int err;
};

static void room_row(struct store_room *rec, const PGresult *res)
{
    struct room_config *c = xcalloc(1, sizeof *c);
    rec->exists = true;
    rec->creator = col_keep(res, 0, 0);
    rec->created_ms = col_ll(res, 0, 1);
    rec->locked = col_bool(res, 0, 2);
    c->name = col_keep(res, 0, 3);
    c->desc = col_keep(res, 0, 4);
    c->lang = col_keep(res, 0, 5);
    c->password = col_keep(res, 0, 6);
    c->persistent = col_bool(res, 0, 7);
    c->public_list = col_bool(res, 0, 8);
    c->members_only = col_bool(res, 0, 9);
    c->moderated = col_bool(res, 0, 10);
    c->password_protected = col_bool(res, 0, 11);
    c->whois_anyone = col_bool(res, 0, 12);
    c->change_subject = col_bool(res, 0, 13);
    c->allow_invites = col_bool(res, 0, 14);
    c->logging = col_bool(res, 0, 15);
    if (perm_pm_parse(PQgetvalue(res, 0, 16), &c->allow_pm) < 0)
        c->allow_pm = PM_ANYONE;
    c->max_users = (unsigned)col_ll(res, 0, 17);
    c->presence_broadcast = parse_roles(PQgetvalue(res, 0, 18));
    c->get_member_list = parse_roles(PQgetvalue(res, 0, 19));
    c->history_length = (unsigned)col_ll(res, 0, 20);
    rec->subject = col_keep(res, 0, 21);
    rec->subject_from = col_keep(res, 0, 22);
    rec->last_seq = (uint64_t)col_ll(res, 0, 23);
    rec->subject_ms = PQgetisnull(res, 0, 24) ? 0 : col_ll(res, 0, 24);
    rec->category_id = col_ll(res, 0, 25);
    rec->cfg = c;
}

/* Whether one of the load's statements failed: the load then fails with its
 * error. */
static bool load_failed(struct load *l, const struct db_result *r)
{
    if (r->status < 0)
        l->err = r->status;
    return r->status < 0;
}

static void on_room_get(void *ud, const struct db_result *r)
{
    struct load *l = ud;
    if (load_failed(l, r))
        pg_store_log_failure("loading a room", r);
    else if (PQntuples(r->res) == 1)
        room_row(l->rec, r->res);
}

static void on_room_affils(void *ud, const struct db_result *r)
{
    struct load *l = ud;
    if (load_failed(l, r))
        return;
    int n = PQntuples(r->res);
    l->rec->affils = xcalloc((size_t)n + 1, sizeof *l->rec->affils);
    for (int i = 0; i < n; i++) {
        struct store_affil *a = &l->rec->affils[l->rec->naffils];
        if (perm_affil_parse(PQgetvalue(r->res, i, 1), &a->affil) < 0)
            continue;
        a->jid = col_keep(r->res, i, 0);
        a->nick = col_keep(r->res, i, 2);
        a->reason = col_keep(r->res, i, 3);
        l->rec->naffils++;
    }
}

static void on_room_recent(void *ud, const struct db_result *r)
{
    struct load *l = ud;
    if (load_failed(l, r))
        return;
    l->rec->nrecent = (size_t)PQntuples(r->res);
    /* Newest first from the query; the room wants oldest first. */
    l->rec->recent = col_msgs(r->res, l->rec->nrecent, true);
}

static void on_room_vcard(void *ud, const struct db_result *r)
{
    struct load *l = ud;
    if (!load_failed(l, r) && PQntuples(r->res) == 1) {
        l->rec->vcard = col_str(r->res, 0, 0);
        l->rec->photo_hash = col_str(r->res, 0, 1);
    }
}

/* The last of the statements: everything is in. */
static void on_tomb_get(void *ud, const struct db_result *r)
{
    struct load *l = ud;
    if (!load_failed(l, r) && PQntuples(r->res) == 1 && !l->rec->exists) {
        l->rec->tombstone = true;
        l->rec->venue = col_str(r->res, 0, 0);
        l->rec->reason = col_str(r->res, 0, 1);
    }
    if (l->err < 0) {
        store_room_free(l->rec);
        l->rec = NULL;
    }
    l->cb(l->ud, l->err, l->rec);
    free(l->jid);
    free(l);
}

void pg_store_room_load(void *st, const char *jid, unsigned history, store_loaded_cb *cb,
                        void *ud)
{
    struct pg_store *s = st;
    /* Waiting for the database would leave the sender without an answer:
     * say "retry" now instead. */
    if (!pg_store_can_read(s)) {
        cb(ud, -EAGAIN, NULL);
        return;
    }
    struct load *l = xcalloc(1, sizeof *l);
    l->s = s;
    l->jid = xstrdup(jid);
    l->cb = cb;
    l->ud = ud;
    l->rec = xcalloc(1, sizeof *l->rec);
    char lim[16];
    snprintf(lim, sizeof lim, "%u", history);
    const char *v1[] = { l->jid };
    const char *v2[] = { l->jid, lim };
    /* Five statements in one turn: one segment, callbacks in this order. */
    pg_store_exec_read(s, "room_get", 1, v1, on_room_get, l);
    pg_store_exec_read(s, "room_affils", 1, v1, on_room_affils, l);
    pg_store_exec_read(s, "room_recent", 2, v2, on_room_recent, l);
    pg_store_exec_read(s, "vcard_get", 1, v1, on_room_vcard, l);
    pg_store_exec_read(s, "tomb_get", 1, v1, on_tomb_get, l);
}

void pg_store_room_save(void *st, const struct room *room)
{
    struct pg_store *s = st;
    const struct room_config *c = &room->cfg;
    char created[24], maxu[16], hist[16], seq[24], pb[64], gml[64], subj_at[24], cat[24];
    snprintf(cat, sizeof cat, "%" PRId64, room->category_id);
    snprintf(created, sizeof created, "%" PRId64, room->created_ms);
    snprintf(subj_at, sizeof subj_at, "%" PRId64, room->subject_ms);
    snprintf(maxu, sizeof maxu, "%u", c->max_users);
    snprintf(hist, sizeof hist, "%u", c->history_length);
    snprintf(seq, sizeof seq, "%" PRIu64, room->last_seq);
    roles_str(c->presence_broadcast, pb, sizeof pb);
    roles_str(c->get_member_list, gml, sizeof gml);
    const char *v[] = {
        room->jid, room->creator, created, sql_bool(room->locked), c->name, c->desc, c->lang,
        c->password ? c->password : "", sql_bool(c->persistent), sql_bool(c->public_list),
        sql_bool(c->members_only), sql_bool(c->moderated), sql_bool(c->password_protected),
        sql_bool(c->whois_anyone), sql_bool(c->change_subject), sql_bool(c->allow_invites),
        sql_bool(c->logging), perm_pm_name(c->allow_pm),
        maxu, pb, gml, hist, room->subject, room->subject_from, seq,
        room->subject && room->subject_ms ? subj_at : NULL, cat,
    };
    pg_store_outbox_change(s, "room_put", 27, v, pg_store_on_write, "saving a room");
}

void pg_store_room_save_affiliation(void *st, const struct room *room, const char *jid,
                                    enum muc_affil affil, const char *nick, const char *reason)
{
    struct pg_store *s = st;
    if (affil == AFFIL_NONE && !nick) {
        const char *v[] = { room->jid, jid };
        pg_store_outbox_change(s, "affil_del", 2, v, pg_store_on_write, "removing an affiliation");
        return;
    }
    const char *v[] = { room->jid, jid, perm_affil_name(affil), nick, reason };
    pg_store_outbox_change(s, "affil_put", 5, v, pg_store_on_write, "saving an affiliation");
}

void pg_store_room_delete(void *st, const struct room *room, bool tombstone, const char *venue,
                          const char *reason)
{
    struct pg_store *s = st;
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%" PRIu64 " milliseconds", s->tombstone_ttl_ms);
    const char *v[] = { room->jid, venue, reason, s->tombstone_ttl_ms ? ttl : NULL };
    if (!tombstone) {
        pg_store_outbox_change(s, "room_del", 1, v, pg_store_on_write, "deleting a room");
        return;
    }
    /* The room goes and its tombstone comes in one transaction. */
    struct db_op ops[3] = {
        { .stmt = "room_del", .nparams = 1, .values = v, .cb = pg_store_on_write,
          .ud = "deleting a room" },
        { .stmt = "tomb_put", .nparams = 4, .values = v, .cb = pg_store_on_write,
          .ud = "writing a tombstone" },
    };
    if (s->attached) {
        pg_store_outbox_with_event(s, ops, 2);
        return;
    }
    if (db_exec_atomic(s->db, ops, 2) < 0)
        log_error("store: cannot queue the destruction of %s", room->jid);
}

/* The room's vCard replaces the previous one; NULL removes it (XEP-0486:
 * an empty vCard unpublishes the avatar). */
void pg_store_room_save_vcard(void *st, const struct room *room, const char *vcard,
                              const char *photo_hash)
{
    struct pg_store *s = st;
    const char *v[] = { room->jid, vcard, photo_hash };
    if (vcard)
        pg_store_outbox_change(s, "vcard_put", 3, v, pg_store_on_write, "saving a room's vCard");
    else
        pg_store_outbox_change(s, "vcard_del", 1, v, pg_store_on_write, "removing a room's vCard");
}

void pg_store_room_gc(struct pg_store *s)
{
    pg_store_exec(s, "rooms_gc", 0, NULL, pg_store_on_write,
                  "removing rooms left over from a crash");
}
