/* store.h — what the MUC engine asks of storage: the interface its backends implement.
 *
 * Two backends, one chosen at start-up (muc_set_store), as PgBouncer picks
 * its sbufio ops: pg_store.c (PostgreSQL) and mem_store.c (no database: rooms
 * live in the engine only; every engine has it until muc_set_store).
 *
 * Every operation is written as asynchronous: the engine continues in the
 * callback, which runs on the loop thread. The PostgreSQL store never calls
 * back inside the call itself; the memory store always does, before it
 * returns, so that without a database a message is reflected, an IQ answered
 * and an event handed over before the next stanza is handled (the unit tests
 * observe that order). Callbacks never receive pointers to engine objects:
 * they carry a room JID and look the room up again, because a room may be
 * gone by then.
 *
 * Ordering: operations issued for one room complete in issue order, and a
 * message's `committed` callback runs only once its row is durable. */
#ifndef CONFAB_MUC_STORE_H
#define CONFAB_MUC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "perm.h"

struct room;
struct room_config;

struct store_affil {
    char *jid;
    enum muc_affil affil;
    char *nick;
    char *reason;
};

struct store_msg {
    uint64_t seq;
    int64_t ts_ms;
    char *xml;          /* as delivered, without 'to' */
    size_t xml_len;
    char *sender_jid;   /* real full JID (MAM 'with', whois) */
    char *nick;
};

/* A room as loaded (owned by whoever receives it; store_room_free). */
struct store_room {
    bool exists;
    bool tombstone;     /* destroyed: venue/reason describe it */
    char *venue;
    char *reason;
    char *creator;
    int64_t created_ms;
    bool locked;
    struct room_config *cfg;
    char *subject;
    char *subject_from;
    int64_t subject_ms; /* when the subject was set; 0 = unknown */
    uint64_t last_seq;
    struct store_affil *affils;
    size_t naffils;
    struct store_msg *recent;  /* newest messages, oldest first */
    size_t nrecent;
    char *vcard;        /* the room's vCard-temp as set by an owner, or NULL */
    char *photo_hash;   /* its avatar hashes (XEP-0486), space-separated, or NULL */
    int64_t category_id; /* rooms.category_id (wall.h) */
};

/* Categories, their principals, the members of groups and the service policy
 * (wall.h, policy.h), as loaded; store_service_free. Text columns stay text:
 * the engine parses them. */
struct store_category {
    int64_t id;
    char *name;
    bool invitations, history;
    char *default_privacy;     /* open | closed | secret */
    char *default_type;        /* normal | auditorium */
    unsigned default_max_occupants;
};
struct store_principal {
    int64_t category_id;
    char *list;                /* allowed | denied | creator */
    char *kind;                /* jid | domain | group | everyone */
    char *principal;
};
struct store_member {
    char *group;
    char *jid;
};
struct store_setting {
    char *key;
    char *value;
};
struct store_service {
    struct store_category *cats;
    size_t ncats;
    struct store_principal *principals;
    size_t nprincipals;
    struct store_member *members;
    size_t nmembers;
    struct store_setting *policy;
    size_t npolicy;
};
/* One affiliation the store revoked because of a wall. */
struct store_revoked {
    char *room;
    char *jid;
    char *affil;
    char *category;
};

/* What a message append records besides the stanza. */
struct store_msg_meta {
    uint64_t seq;
    int64_t ts_ms;
    const char *sender_jid;
    const char *nick;
    const char *occupant_id;
    const char *body;   /* for full-text search; NULL when none */
    const char *xml;
    size_t xml_len;
    bool archived;      /* sent while the room's archive was on: MAM serves it */
};

/* XEP-0313 query over one room, keyset-paged by seq. */
struct store_mam_query {
    int64_t start_ms, end_ms;  /* -1 = open */
    const char *with;          /* occupant JID (room/nick) or real bare JID; NULL = any */
    bool with_is_nick;
    const char *fulltext;      /* NULL = none */
    uint64_t after_seq;        /* 0 = none: results have seq > after_seq */
    uint64_t before_seq;       /* 0 = none: results have seq < before_seq */
    bool last_page;            /* RSM <before/> empty: the newest page */
    unsigned max;              /* page size */
    uint64_t offset;           /* RSM <index/>: skip this many matches (forward only) */
    bool want_count;
};

struct store_mam_page {
    struct store_msg *msgs;    /* oldest first */
    size_t n;
    bool complete;             /* nothing further in the paging direction */
    long long count;           /* -1 when not asked */
    long long first_index;     /* RSM index of msgs[0], -1 when unknown */
};

/* A compliance event for the outbox (docs/compliance-protocol.md). */
struct store_event {
    const char *uuid;
    const char *room;          /* room JID, NULL when none */
    const char *xml;           /* the serialised <event/> */
    size_t xml_len;
};

/* The room directory (search.c): rooms in the store, listed or not to the
 * viewer (Open and Closed to everyone, Secret to its members, locked never),
 * matching every word, keyset-paged in JID order (bytewise, as strcmp). */
struct store_dir_query {
    const char *const *words;  /* each in the name, description or address (case-insensitive) */
    size_t nwords;
    bool in_name, in_desc, in_addr;
    const char *category;      /* the category's name; NULL = any */
    const char *viewer;        /* bare JID of who asks */
    bool viewer_admin;         /* a service admin: every Secret room */
    /* The categories whose walls let the viewer in (wall.h); NULL: every
     * category (a service admin). Rooms of the others are never listed. */
    const int64_t *open_cats;
    size_t nopen_cats;
    const char *after;         /* RSM: rooms after this JID; NULL = from the start */
    const char *before;        /* rooms before this JID; NULL = to the end */
    bool backward;             /* the page that ends at `before` (or at the end) */
    long index;                /* RSM <index/>: skip this many (forward only); -1 = none */
    unsigned max;              /* page size */
};

struct store_dir_room {
    char *jid, *name, *desc, *lang, *category;
    int64_t category_id;
    bool members_only, password_protected, whois_anyone;
};

struct store_dir_page {
    struct store_dir_room *rooms;  /* JID order */
    size_t n;
    size_t count;                  /* every match, paged or not */
    size_t first_index;            /* RSM index of rooms[0] */
};

typedef void store_loaded_cb(void *ud, int err, struct store_room *rec);
typedef void store_dir_cb(void *ud, int err, struct store_dir_page *page);
typedef void store_done_cb(void *ud, int err);
typedef void store_mam_cb(void *ud, int err, struct store_mam_page *page);
typedef void store_service_cb(void *ud, int err, struct store_service *rec);
/* rows are borrowed for the call. */
typedef void store_revoked_cb(void *ud, int err, const struct store_revoked *rows, size_t n);

struct muc_store {
    /* history: how many recent messages to return with the room. */
    void (*load_room)(void *st, const char *jid, unsigned history, store_loaded_cb *cb,
                      void *ud);
    /* Configuration, lock state, subject, last_seq: an upsert of the room row. */
    void (*save_room)(void *st, const struct room *room);
    void (*save_affiliation)(void *st, const struct room *room, const char *jid,
                             enum muc_affil affil, const char *nick, const char *reason);
    void (*append_message)(void *st, const struct room *room, const struct store_msg_meta *m,
                           store_done_cb *committed, void *ud);
    /* Remove the room; a tombstone when venue/reason say it was destroyed. */
    void (*delete_room)(void *st, const struct room *room, bool tombstone, const char *venue,
                        const char *reason);
    void (*mam_query)(void *st, const char *room_jid, const struct store_mam_query *q,
                      store_mam_cb *cb, void *ud);
    /* cb runs once everything issued before it is durable (NULL: a store
     * that writes nothing, as the unit tests' fakes, counts as durable at once). */
    void (*barrier)(void *st, store_done_cb *cb, void *ud);
    /* false while the database is unreachable: new messages are refused. */
    bool (*available)(void *st);
    /* The compliance outbox (both may be NULL: no outbox). attach_event: the
     * next save_room, save_affiliation, append_message or delete_room writes ev
     * to the outbox in its own transaction. put_event: ev on its own (an
     * idempotent insert); ev NULL writes an attached event that no change took. */
    void (*attach_event)(void *st, const struct store_event *ev);
    void (*put_event)(void *st, const struct store_event *ev);
    /* The room's vCard (XEP-0054) and its photo hashes; vcard NULL removes it.
     * NULL: vCards live in memory only. */
    void (*save_vcard)(void *st, const struct room *room, const char *vcard,
                       const char *photo_hash);
    /* A stored message's stanza becomes xml, a tombstone (XEP-0424/0425),
     * its text leaves the search index, and an attached event goes with it.
     * A message that is not stored (too old, purged) is left alone. NULL: a
     * store without messages (the unit tests' fakes). */
    void (*replace_message)(void *st, const struct room *room, uint64_t seq, const char *xml,
                            size_t len);
    /* The directory (struct store_dir_query). NULL: the memory store's, over
     * the rooms in the engine (the unit tests' fakes). */
    void (*list_rooms)(void *st, const struct store_dir_query *q, store_dir_cb *cb, void *ud);
    /* Categories, principals, group members and policy rows (wall.h,
     * policy.h). NULL: only the default category and [muc]'s policy. */
    void (*load_service)(void *st, store_service_cb *cb, void *ud);
    /* Delete, in one statement, every affiliation whose bare JID the walls of
     * its room's category now shut out (admins[0..n) excepted); cb gets the
     * rows removed. NULL: nothing stored outside the engine. */
    void (*revoke_walled)(void *st, const char *const *admins, size_t nadmins,
                          store_revoked_cb *cb, void *ud);
    /* The room's category (an owner chose another one). NULL: none stored. */
    void (*save_category)(void *st, const struct room *room);
    /* Rooms exist only in the engine (mem_store.c): there is nothing to load
     * a room from, so none is looked up nor evicted when idle. */
    bool in_memory;
    void *st;
};

void store_room_free(struct store_room *r);
void store_mam_page_free(struct store_mam_page *p);
void store_dir_page_free(struct store_dir_page *p);
void store_service_free(struct store_service *s);

#endif
