/* ctl_import.c — confabctl import: an export file (docs/export-format.md) into the chat database.
 *
 * Two passes over the file. The first checks every line (an error names the
 * line) and collects the rooms, so that rooms that already exist are refused
 * (or skipped, or replaced, as asked) before anything changes. The second
 * imports each room with its affiliations, vCard and history in ONE
 * transaction, with the seq numbers, times and stanzas of the file and
 * rooms.last_seq at least the highest seq; with a compliance stream a `create`
 * event recording the import goes into confabd's outbox in that transaction.
 * After each commit running confabds are told (control channel).
 *
 * Rows are rebuilt by PostgreSQL from the records (jsonb_populate_record over
 * a row with the columns' defaults), so a column the file does not carry gets
 * its default, and one it carries is restored as it was. */
#include "compat.h"

#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "ctl.h"
#include "datetime.h"
#include "mem.h"
#include "servicekey.h"
#include "stanza.h"
#include "stanzaid.h"
#include "xstream.h"

#define IMPORT_BATCH 500
#define FORMAT_VERSION 1
#define NS_COMPONENT_ACCEPT "jabber:component:accept"
#define NS_SID "urn:xmpp:sid:0"

enum conflict { CONFLICT_REFUSE, CONFLICT_SKIP, CONFLICT_REPLACE };

struct import {
    struct ctl *c;
    const char *file;
    enum conflict conflict;
    FILE *f;
    char *buf;
    size_t cap;
    long line;
    struct stanzaid *sids;
    json_t *rooms;          /* pass 1: JIDs of rooms with their configuration */
    json_t *existing;       /* pass 1: rooms seen; then JID -> "room" | "tombstone" here */
    /* the room being imported (pass 2) */
    char *jid;
    char id[24];
    bool open, skipping, replacing;
    long room_line;
    json_t *batch;
    long batch_line;
    long long room_messages, room_affiliations;
    /* pass 1: where we are; pass 2: what was done */
    uint64_t last_seq;
    bool ended, warned_domain;
    long long n_rooms, n_messages, n_tombstones;
    long long created, replaced, skipped, messages, tombstones;
};

/* ---- reading lines ---- */

/* The next non-empty line as JSON (an object), or NULL at the end or on error
 * (*rc set, the line named). */
static json_t *next_record(struct import *im, int *rc)
{
    ssize_t n;
    while ((n = getline(&im->buf, &im->cap, im->f)) >= 0) {
        im->line++;
        while (n > 0 && (im->buf[n - 1] == '\n' || im->buf[n - 1] == '\r'))
            im->buf[--n] = '\0';
        if (n == 0)
            continue;
        json_error_t e;
        json_t *v = json_loadb(im->buf, (size_t)n, JSON_REJECT_DUPLICATES, &e);
        if (!v || !json_is_object(v)) {
            ctl_err("%s:%ld: not a JSON object%s%s", im->file, im->line, v ? "" : ": ",
                    v ? "" : e.text);
            json_decref(v);
            *rc = EX_DATAERR;
            return NULL;
        }
        return v;
    }
    if (ferror(im->f)) {
        ctl_err("%s: read error after line %ld: %m", im->file, im->line);
        *rc = CTL_FAIL;
    }
    return NULL;
}

static int bad(const struct import *im, const char *what)
{
    ctl_err("%s:%ld: %s", im->file, im->line, what);
    return EX_DATAERR;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A key that must be a string (or, nullable, JSON null or missing). */
static bool is_str(json_t *o, const char *key, bool nullable)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) || (nullable && (!v || json_is_null(v)));
}

/* ---- pass 1: checking ---- */

static int check_header(struct import *im, json_t *h)
{
    if (!h || !str(h, "format") || strcmp(str(h, "format"), "confab-export") != 0)
        return bad(im, "not a confab export (the first line must be the header with "
                       "\"format\": \"confab-export\")");
    json_int_t v = json_integer_value(json_object_get(h, "version"));
    if (v < 1)
        return bad(im, "the header has no valid \"version\"");
    if (v > FORMAT_VERSION) {
        ctl_err("%s:%ld: format version %lld is newer than this confabctl reads (%d); "
                "upgrade confab", im->file, im->line, (long long)v, FORMAT_VERSION);
        return EX_DATAERR;
    }
    return 0;
}

static int check_affiliations(struct import *im, json_t *a)
{
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return bad(im, "\"affiliations\" must be an array");
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) {
        if (!json_is_object(x) || !is_str(x, "jid", false) || !is_str(x, "affiliation", false) ||
            !is_str(x, "nick", true))
            return bad(im, "each affiliation needs \"jid\" and \"affiliation\" (strings)");
    }
    return 0;
}

static int check_room(struct import *im, json_t *r)
{
    const char *jid = str(r, "jid");
    char *prepared = NULL;
    if (!jid || !strchr(jid, '@'))
        return bad(im, "a room record needs \"jid\" (room@service)");
    if (ctl_room_jid(im->c, jid, &prepared) != 0 || strcmp(prepared, jid) != 0) {
        free(prepared);
        return bad(im, "the room JID is not in its prepared (stringprep) form");
    }
    free(prepared);
    if (json_object_get(im->existing, jid))
        return bad(im, "the room appears twice in the file");
    const char *domain = im->c->cfg->component.domain;
    if (domain && strcmp(strchr(jid, '@') + 1, domain) != 0 && !im->warned_domain) {
        im->warned_domain = true; /* imported all the same: another confabd may serve it */
        ctl_err("%s:%ld: warning: %s is not a room of this service (%s); this confabd will "
                "not serve it (further ones are not reported)", im->file, im->line, jid, domain);
    }
    json_object_set_new(im->existing, jid, json_true()); /* pass 1 only: reset before pass 2 */
    json_t *cfg = json_object_get(r, "config");
    if (cfg && !json_is_null(cfg)) {
        if (!json_is_object(cfg) || !is_str(cfg, "creator", false))
            return bad(im, "\"config\" must be an object with \"creator\"");
        if (!is_str(r, "category", true))
            return bad(im, "\"category\" must be a string");
        json_t *vc = json_object_get(r, "vcard");
        if (vc && !json_is_null(vc) && (!json_is_object(vc) || !is_str(vc, "vcard", false)))
            return bad(im, "\"vcard\" must be null or an object with \"vcard\"");
        json_t *a = json_object_get(r, "affiliations");
        int rc = check_affiliations(im, a);
        if (rc)
            return rc;
        json_array_append_new(im->rooms, json_string(jid));
    }
    free(im->jid);
    im->jid = xstrdup(jid);
    im->last_seq = 0;
    im->n_rooms++;
    return 0;
}

static int check_message(struct import *im, json_t *m)
{
    const char *room = str(m, "room");
    if (!im->jid || !room || strcmp(room, im->jid) != 0)
        return bad(im, "a message must follow the record of its room (\"room\" differs)");
    json_t *seq = json_object_get(m, "seq");
    if (!json_is_integer(seq) || json_integer_value(seq) < 1)
        return bad(im, "\"seq\" must be a positive integer");
    if ((uint64_t)json_integer_value(seq) <= im->last_seq)
        return bad(im, "\"seq\" must increase within a room");
    im->last_seq = (uint64_t)json_integer_value(seq);
    if (!is_str(m, "ts", false) || !is_str(m, "sender_jid", false) || !is_str(m, "nick", false) ||
        !is_str(m, "stanza", false) || !is_str(m, "body", true) ||
        !is_str(m, "occupant_id", true) || !is_str(m, "retracted_at", true))
        return bad(im, "a message needs \"ts\", \"sender_jid\", \"nick\" and \"stanza\" "
                       "(strings); \"body\", \"occupant_id\", \"retracted_at\" are strings or null");
    json_t *st = json_object_get(m, "stanza");
    struct xml_node *x = xstream_parse_stanza(NS_COMPONENT_ACCEPT, json_string_value(st),
                                              json_string_length(st));
    bool ok = x && strcmp(x->name, "message") == 0;
    xml_unref(x);
    if (!ok)
        return bad(im, "\"stanza\" is not a <message/> stanza");
    im->n_messages++;
    return 0;
}

static int check_end(struct import *im, json_t *e)
{
    bool same = json_integer_value(json_object_get(e, "rooms")) == im->n_rooms &&
                json_integer_value(json_object_get(e, "messages")) == im->n_messages &&
                json_integer_value(json_object_get(e, "tombstones")) == im->n_tombstones;
    if (!same)
        return bad(im, "the end record's counts differ from the records read");
    im->ended = true;
    return 0;
}

static int check_record(struct import *im, json_t *r)
{
    const char *type = str(r, "type");
    if (im->ended)
        return bad(im, "a record after the end record");
    if (!type)
        return bad(im, "a record without \"type\"");
    if (strcmp(type, "room") == 0)
        return check_room(im, r);
    if (strcmp(type, "message") == 0)
        return check_message(im, r);
    if (strcmp(type, "end") == 0)
        return check_end(im, r);
    if (strcmp(type, "tombstone") == 0 && is_str(r, "jid", false)) {
        im->n_tombstones++;
        return 0;
    }
    return bad(im, strcmp(type, "tombstone") == 0 ? "a tombstone needs \"jid\""
                                                  : "unknown record type");
}

static int check_file(struct import *im)
{
    int rc = 0;
    json_t *h = next_record(im, &rc);
    if (rc == 0)
        rc = check_header(im, h);
    json_decref(h);
    json_t *r;
    while (rc == 0 && (r = next_record(im, &rc))) {
        rc = check_record(im, r);
        json_decref(r);
    }
    if (rc == 0 && !im->ended)
        rc = bad(im, "the file ends without its end record (cut short?)");
    return rc;
}

/* ---- conflicts with the database ---- */

static const char existing_sql[] =
    "SELECT jid, 'room' FROM rooms WHERE jid IN (SELECT jsonb_array_elements_text($1::jsonb)) "
    "UNION ALL SELECT jid, 'tombstone' FROM tombstones "
    "WHERE jid IN (SELECT jsonb_array_elements_text($1::jsonb)) "
    "AND (expires_at IS NULL OR expires_at > now())";

static int find_existing(struct import *im)
{
    json_object_clear(im->existing);
    char *list = json_dumps(im->rooms, JSON_COMPACT);
    const char *v[] = { list };
    PGresult *r = NULL;
    int rc = ctl_query(im->c, "looking for existing rooms", existing_sql, 1, v, &r);
    free(list);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        json_object_set_new(im->existing, PQgetvalue(r, i, 0), json_string(PQgetvalue(r, i, 1)));
        if (im->conflict == CONFLICT_REFUSE)
            ctl_err("%s: %s", PQgetvalue(r, i, 0),
                    strcmp(PQgetvalue(r, i, 1), "room") == 0
                        ? "the room already exists"
                        : "the name is reserved by the tombstone of a destroyed room");
    }
    if (rc == 0 && PQntuples(r) > 0 && im->conflict == CONFLICT_REFUSE) {
        ctl_err("import: nothing imported; use --skip-existing or --replace");
        rc = CTL_FAIL;
    }
    PQclear(r);
    return rc;
}

/* ---- pass 2: importing ---- */

static int q(struct import *im, const char *what, const char *sql, int n, const char *const *v,
             PGresult **out)
{
    char label[512];
    snprintf(label, sizeof label, "%s:%ld: %s", im->file, im->line, what);
    return ctl_query(im->c, label, sql, n, v, out);
}

/* The room row: inserted with the columns' defaults, then replaced by the
 * same row overlaid with the file's configuration (keys that are no column
 * are ignored by jsonb_populate_record). */
static const char room_new_sql[] =
    "INSERT INTO rooms (jid, creator, category_id) SELECT $1, $2, id FROM categories "
    "WHERE name = $3 RETURNING id";
static const char room_cfg_sql[] =
    "WITH d AS (DELETE FROM rooms WHERE id = $1::bigint RETURNING *) "
    "INSERT INTO rooms SELECT p.* FROM d, jsonb_populate_record(NULL::rooms, "
    "to_jsonb(d) || ($2::jsonb - 'id' - 'category_id' - 'jid')) p";
static const char affils_sql[] =
    "WITH i AS (INSERT INTO affiliations SELECT p.* FROM jsonb_array_elements($2::jsonb) x, "
    "jsonb_populate_record(NULL::affiliations, jsonb_build_object('updated_at', now()) || x || "
    "jsonb_build_object('room_id', $1::bigint)) p RETURNING 1) SELECT count(*) FROM i";
static const char vcard_sql[] =
    "INSERT INTO room_vcards SELECT p.* FROM jsonb_populate_record(NULL::room_vcards, "
    "jsonb_build_object('updated_at', now()) || $2::jsonb || "
    "jsonb_build_object('room_id', $1::bigint)) p";
static const char messages_sql[] =
    "WITH i AS (INSERT INTO messages SELECT p.* FROM jsonb_array_elements($2::jsonb) x, "
    "jsonb_populate_record(NULL::messages, jsonb_build_object('archived', true, "
    "'occupant_id', '') || (x - 'type' - 'room' - 'body_tsv') || "
    "jsonb_build_object('room_id', $1::bigint)) p "
    "ON CONFLICT (room_id, seq) DO NOTHING RETURNING 1) SELECT count(*) FROM i";
static const char finish_sql[] =
    "WITH t AS (UPDATE messages SET body_tsv = to_tsvector($2::regconfig, coalesce(body, '')) "
    "WHERE room_id = $1::bigint AND body_tsv IS NULL AND body IS NOT NULL) "
    "UPDATE rooms SET last_seq = greatest(last_seq, coalesce((SELECT max(seq) FROM messages "
    "WHERE room_id = $1::bigint), 0)) WHERE id = $1::bigint";
static const char tombstone_sql[] =
    "INSERT INTO tombstones SELECT p.* FROM jsonb_populate_record(NULL::tombstones, "
    "jsonb_build_object('destroyed_at', now()) || ($1::jsonb - 'type')) p "
    "WHERE NOT EXISTS (SELECT 1 FROM rooms WHERE jid = p.jid) "
    "ON CONFLICT (jid) DO NOTHING RETURNING jid";

/* The stored stanza carries the room's XEP-0359 stanza-id, made from seq with
 * the service key: another deployment (or Prosody) had another key or none,
 * so it is made again here; an unchanged one leaves the stanza untouched. */
static int restamp(struct import *im, json_t *m)
{
    char sid[33];
    const char *stanza = str(m, "stanza");
    stanzaid_encode(im->sids, im->jid, (uint64_t)json_integer_value(json_object_get(m, "seq")),
                    sid);
    if (strstr(stanza, sid))
        return 0;
    struct xml_node *x = xstream_parse_stanza(NS_COMPONENT_ACCEPT, stanza, strlen(stanza));
    if (!x)
        return bad(im, "\"stanza\" cannot be parsed");
    for (struct xml_node *c = xml_first(x), *next; c; c = next) {
        next = xml_next(c);
        if (c->ns && strcmp(c->ns, NS_SID) == 0 && strcmp(c->name, "stanza-id") == 0 &&
            xml_attr(c, "by") && strcmp(xml_attr(c, "by"), im->jid) == 0)
            xml_remove(x, c);
    }
    struct xml_node *s = xml_add(x, "stanza-id", NS_SID);
    xml_set_attr(s, "id", sid);
    xml_set_attr(s, "by", im->jid);
    struct buf b;
    buf_init(&b);
    xml_serialize(x, NS_COMPONENT_ACCEPT, &b);
    xml_unref(x);
    json_object_set_new(m, "stanza", json_stringn(b.data, b.len));
    buf_free(&b);
    return 0;
}

static int flush_batch(struct import *im)
{
    if (!json_array_size(im->batch))
        return 0;
    char *arr = json_dumps(im->batch, JSON_COMPACT);
    const char *v[] = { im->id, arr };
    PGresult *r = NULL;
    char what[64];
    snprintf(what, sizeof what, "messages from line %ld", im->batch_line);
    int rc = q(im, what, messages_sql, 2, v, &r);
    if (rc == 0)
        im->room_messages += ctl_col_ll(r, 0, 0);
    PQclear(r);
    free(arr);
    json_array_clear(im->batch);
    return rc;
}

/* Who ran the import, for the event's actor nick: never empty (the archiver
 * refuses an empty nick, and the event would stay in the outbox). */
static const char *login(void)
{
    const char *u = getenv("SUDO_USER");
    const struct passwd *pw = u && *u ? NULL : getpwuid(getuid());
    if (!(u && *u))
        u = pw && pw->pw_name && *pw->pw_name ? pw->pw_name : "confabctl";
    return u;
}

/* The compliance `create` event recording the import (who, when, from where,
 * how much), as confabd's own events are built. */
static char *import_event(const struct import *im, const char *uuid)
{
    struct xml_node *ev = xml_new("event", "urn:confab:compliance:0");
    char stamp[DATETIME_FMT_MAX], n[24];
    datetime_format(datetime_now_ms(), stamp);
    xml_set_attr(ev, "id", uuid);
    xml_set_attr(ev, "type", "create");
    xml_set_attr(ev, "time", stamp);
    xml_set_attr(ev, "room", im->jid);
    struct xml_node *a = xml_add(ev, "actor", ev->ns);
    xml_set_attr(a, "jid", im->c->cfg->component.domain);
    xml_set_attr(a, "nick", login());
    xml_add_text_child(ev, "reason", ev->ns, "imported by confabctl import");
    struct xml_node *d = xml_add(xml_add(ev, "detail", ev->ns), "import", ev->ns);
    xml_set_attr(d, "file", im->file);
    xml_set_attr(d, "replaced", im->replacing ? "true" : "false");
    snprintf(n, sizeof n, "%lld", im->room_messages);
    xml_set_attr(d, "messages", n);
    snprintf(n, sizeof n, "%lld", im->room_affiliations);
    xml_set_attr(d, "affiliations", n);
    char *s = xml_to_string(ev, NULL);
    xml_unref(ev);
    return s;
}

static int record_event(struct import *im)
{
    if (!im->c->cfg->compliance_archiver || !*im->c->cfg->compliance_archiver)
        return 0;
    char uuid[37];
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, uuid);
    char *xml = import_event(im, uuid);
    const char *v[] = { uuid, im->jid, xml };
    int rc = q(im, "recording the import",
               "INSERT INTO compliance_outbox (uuid, room, xml) VALUES ($1::uuid, $2, $3)", 3, v,
               NULL);
    free(xml);
    return rc;
}

/* Commit the room being imported and tell running confabds. */
static int finish_room(struct import *im)
{
    if (!im->open)
        return 0;
    const char *v[] = { im->id, im->c->cfg->storage_fts_language };
    int rc = flush_batch(im);
    if (rc == 0)
        rc = q(im, "finishing the room", finish_sql, 2, v, NULL);
    if (rc == 0)
        rc = record_event(im);
    if (rc == 0)
        rc = q(im, "committing the room", "COMMIT", 0, NULL, NULL);
    im->open = false;
    if (rc)
        return rc;
    im->messages += im->room_messages;
    return ctl_notify(im->c, "room-changed", im->jid, NULL, NULL);
}

static int content_room(struct import *im)
{
    const char *v[] = { im->jid };
    PGresult *r = NULL;
    int rc = q(im, "looking up the room", "SELECT id FROM rooms WHERE jid = $1", 1, v, &r);
    if (rc == 0 && PQntuples(r) == 0)
        rc = bad(im, "the room does not exist here (history of a content export goes into "
                     "existing rooms)");
    if (rc == 0)
        snprintf(im->id, sizeof im->id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

static int full_room(struct import *im, json_t *rec)
{
    json_t *cfg = json_object_get(rec, "config");
    const char *cat = str(rec, "category");
    const char *v[] = { im->jid, str(cfg, "creator"), cat ? cat : "default" };
    PGresult *r = NULL;
    int rc = 0;
    if (im->replacing) {
        rc = q(im, "removing the room it replaces", "DELETE FROM rooms WHERE jid = $1", 1, v, NULL);
        if (rc == 0)
            rc = q(im, "removing the tombstone", "DELETE FROM tombstones WHERE jid = $1", 1, v,
                   NULL);
    }
    if (rc == 0)
        rc = q(im, "creating the room", room_new_sql, 3, v, &r);
    if (rc == 0 && PQntuples(r) == 0) {
        ctl_err("%s:%ld: %s: category \"%s\" does not exist in this database; create it "
                "first", im->file, im->line, im->jid, v[2]);
        rc = EX_DATAERR;
    }
    if (rc == 0)
        snprintf(im->id, sizeof im->id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (rc)
        return rc;
    char *c = json_dumps(cfg, JSON_COMPACT), *a = NULL, *vc = NULL;
    const char *cv[] = { im->id, c };
    rc = q(im, "configuring the room", room_cfg_sql, 2, cv, NULL);
    json_t *affs = json_object_get(rec, "affiliations"), *vcard = json_object_get(rec, "vcard");
    if (rc == 0 && json_array_size(affs)) {
        a = json_dumps(affs, JSON_COMPACT);
        const char *av[] = { im->id, a };
        rc = q(im, "affiliations", affils_sql, 2, av, &r);
        im->room_affiliations = rc == 0 ? ctl_col_ll(r, 0, 0) : 0;
        PQclear(r);
    }
    if (rc == 0 && json_is_object(vcard)) {
        vc = json_dumps(vcard, JSON_COMPACT);
        const char *vv[] = { im->id, vc };
        rc = q(im, "the room's vCard", vcard_sql, 2, vv, NULL);
    }
    free(c);
    free(a);
    free(vc);
    return rc;
}

static int start_room(struct import *im, json_t *rec)
{
    int rc = finish_room(im);
    if (rc)
        return rc;
    free(im->jid);
    im->jid = xstrdup(str(rec, "jid"));
    im->room_line = im->line;
    im->room_messages = im->room_affiliations = 0;
    bool full = json_is_object(json_object_get(rec, "config"));
    const char *there = str(im->existing, im->jid);
    im->skipping = full && there && im->conflict == CONFLICT_SKIP;
    im->replacing = full && there && im->conflict == CONFLICT_REPLACE;
    if (im->skipping) {
        im->skipped++;
        return 0;
    }
    rc = q(im, "starting the room's transaction", "BEGIN", 0, NULL, NULL);
    if (rc)
        return rc;
    im->open = true;
    rc = full ? full_room(im, rec) : content_room(im);
    if (rc == 0 && full)
        *(im->replacing ? &im->replaced : &im->created) += 1;
    return rc;
}

static int add_message(struct import *im, json_t *m)
{
    if (im->skipping)
        return 0;
    if (!json_array_size(im->batch))
        im->batch_line = im->line;
    int rc = restamp(im, m);
    if (rc == 0)
        json_array_append(im->batch, m);
    if (rc == 0 && json_array_size(im->batch) >= IMPORT_BATCH)
        rc = flush_batch(im);
    return rc;
}

static int add_tombstone(struct import *im, json_t *t)
{
    int rc = finish_room(im);
    char *s = json_dumps(t, JSON_COMPACT);
    const char *v[] = { s };
    PGresult *r = NULL;
    if (rc == 0)
        rc = q(im, "the tombstone", tombstone_sql, 1, v, &r);
    if (rc == 0)
        im->tombstones += PQntuples(r);
    PQclear(r);
    free(s);
    return rc;
}

static int import_record(struct import *im, json_t *r)
{
    const char *type = str(r, "type");
    if (strcmp(type, "room") == 0)
        return start_room(im, r);
    if (strcmp(type, "message") == 0)
        return add_message(im, r);
    if (strcmp(type, "tombstone") == 0)
        return add_tombstone(im, r);
    return finish_room(im); /* end */
}

static int import_file(struct import *im)
{
    rewind(im->f); /* seekable: checked when it was opened */
    im->line = 0;
    int rc = 0;
    json_decref(next_record(im, &rc)); /* the header, checked in pass 1 */
    json_t *r;
    while (rc == 0 && (r = next_record(im, &rc))) {
        rc = import_record(im, r);
        json_decref(r);
    }
    if (rc && im->open) {
        (void)ctl_query(im->c, "rolling back", "ROLLBACK", 0, NULL, NULL);
        ctl_err("import: %s was not imported (rolled back); rooms before it are in", im->jid);
    }
    return rc;
}

static int print_summary(const struct import *im)
{
    if (im->c->json)
        return ctl_print_json(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "file", im->file,
                                        "created", (json_int_t)im->created, "replaced",
                                        (json_int_t)im->replaced, "skipped",
                                        (json_int_t)im->skipped, "messages",
                                        (json_int_t)im->messages, "tombstones",
                                        (json_int_t)im->tombstones));
    printf("imported %s: %lld room%s created, %lld replaced, %lld skipped (already there); "
           "%lld message%s, %lld tombstone%s\n", im->file, im->created,
           im->created == 1 ? "" : "s", im->replaced, im->skipped, im->messages,
           im->messages == 1 ? "" : "s", im->tombstones, im->tombstones == 1 ? "" : "s");
    return 0;
}

/* ---- options ---- */

static int parse_opts(struct ctl *c, int argc, char **argv, struct import *im)
{
    static const struct option longopts[] = {
        { "skip-existing", no_argument, NULL, 's' }, { "replace", no_argument, NULL, 'r' },
        { "json", no_argument, NULL, 'J' },          { NULL, 0, NULL, 0 },
    };
    int ch;
    ctl_getopt_reset();
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': im->conflict = CONFLICT_SKIP; break;
        case 'r': im->conflict = CONFLICT_REPLACE; break;
        case 'J': c->json = true; break;
        default: return ctl_bad_option("import", argv);
        }
    }
    if (argc - optind != 1)
        return ctl_usage("import: expected one FILE (an export file)");
    im->file = argv[optind];
    return 0;
}

static int run(struct import *im)
{
    int rc = check_file(im);
    if (rc == 0)
        rc = ctl_connect(im->c);
    if (rc == 0)
        rc = ctl_require_schema(im->c);
    if (rc == 0)
        rc = find_existing(im);
    if (rc)
        return rc;
    unsigned char key[32];
    servicekey_from_secret(im->c->cfg->component.domain, im->c->cfg->component.secret, key);
    im->sids = stanzaid_new(key);
    free(im->jid);
    im->jid = NULL;
    rc = import_file(im);
    return rc ? rc : print_summary(im);
}

int ctl_import_main(struct ctl *c, int argc, char **argv)
{
    struct import im = { .c = c };
    int rc = parse_opts(c, argc, argv, &im);
    if (rc)
        return rc;
    im.f = fopen(im.file, "r");
    if (!im.f) {
        ctl_err("import: cannot read %s: %m", im.file);
        return EX_NOINPUT;
    }
    /* Two passes (check everything, then import): the file is read twice. */
    if (fseek(im.f, 0, SEEK_SET) != 0) {
        ctl_err("import: %s cannot be read twice (a pipe?); import from a regular file",
                im.file);
        fclose(im.f);
        return EX_NOINPUT;
    }
    im.rooms = json_array();
    im.existing = json_object();
    im.batch = json_array();
    rc = run(&im);
    fclose(im.f);
    free(im.buf);
    free(im.jid);
    if (im.sids)
        stanzaid_free(im.sids);
    json_decref(im.rooms);
    json_decref(im.existing);
    json_decref(im.batch);
    return rc;
}
