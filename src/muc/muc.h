/* muc.h — confabd's multi-user chat engine (XEP-0045), free of I/O.
 *
 * Stanzas from the router go in through muc_handle(); everything leaves
 * through struct muc_io. As Prosody's mod_muc over muc.lib.lua: routing and
 * the room registry above, the use-case families beside each other, and none
 * of them calls back into the router. § numbers are XEP-0045's.
 *
 *   muc.c        service: routes by address, room registry (loading, eviction,
 *                tombstones), service disco (§6.1-6.2), link reconciliation
 *   reply.c      output (reply.h): sends, errors from the room, IQ results
 *                once the store has committed
 *   room.c       room lifecycle, configuration defaults, affiliations (§10.1, §10.9)
 *   occupant.c   occupants and their client sessions, occupant-id (XEP-0421), rate limits
 *   nick.c       acceptable nicks and lookalikes (§7.2.7, §17.1; UTS #39)
 *   presence.c   entering, presence and nick changes, leaving (§7.2, 7.6, 7.7, 7.14)
 *   message.c    groupchat, subject, private messages, relayed IQs (§7.3-7.5, 8.1, 17.4)
 *   payload.c    the one table of what clients may put in relayed stanzas
 *   history.c    discussion history selection (§7.2.15)
 *   admin.c      roles and affiliations: kick, ban, voice, lists (§8, §9)
 *   owner.c      room configuration form, destruction (§10)
 *   invite.c     mediated invitations, voice requests, nick registration (§7.8, 7.13, 7.10)
 *   roomdisco.c  room disco#info/#items, muc#roominfo, reserved nick, muc#unique (§6.3-6.5, 7.12)
 *   search.c     the room directory: service disco#items, XEP-0055 and XEP-0433, RSM-paged
 *   directory.c  the directory's pure rules: who finds which room, word matches, RSM windows
 *   vcard.c      the room's vCard-temp and avatar (XEP-0054, XEP-0486)
 *   mam.c        the room archive: XEP-0313 queries, XEP-0059 paging
 *   moderate.c   taking messages down: XEP-0425 moderation, XEP-0424 retraction
 *   control.c    confabctl's changes (control channel) applied to rooms in memory
 *   shape.c      per-sender queues that delay bursts instead of bouncing (flow.h)
 *   budget.c     output owed for accepted stanzas, for the input gate (flow.h)
 *   adhoc.c      service administrators and their XEP-0050 commands (§2)
 *   wall.c       categories and ethical walls: who may reach a category's rooms (wall.h)
 *   svcpolicy.c  the service policy (policy.h) applied to rooms
 *   perm.c       the §5 privilege tables (perm.h)
 *   roomkind.c   Lync's privacy (Open/Closed/Secret) and type (Normal/Auditorium) over the flags
 *   crowd.c      who sees whose presence: presencebroadcast, presence_limit, hidden admins
 *   compliance.c compliance events built from engine state (compliance.h)
 *   store.c      the storage interface the engine calls (store.h)
 *   mem_store.c  its backend without a database: rooms and archive in memory
 * Outside the engine, in confabd only: pg_store*.c (PostgreSQL behind store.h,
 * by concern), outbox.c (compliance events to the archiver), main.c (wiring).
 * Every room-visible state change goes through these modules and store.h, so
 * storage can change without the protocol changing. */
#ifndef CONFAB_MUC_H
#define CONFAB_MUC_H

#include <stdint.h>

#include "mem.h"
/* Hash tables are long-lived state (mem.h). */
#undef uthash_malloc
#define uthash_malloc(sz) xmalloc_keep(sz)
#include <uthash.h>
/* Every room holds small tables (occupants, sessions, affiliations): start
 * them at 4 buckets instead of uthash's 32 (512 bytes each); they double as
 * they fill. Per-table state records its own size, so units that keep the
 * default still interoperate. */
#undef HASH_INITIAL_NUM_BUCKETS
#undef HASH_INITIAL_NUM_BUCKETS_LOG2
#define HASH_INITIAL_NUM_BUCKETS 4U
#define HASH_INITIAL_NUM_BUCKETS_LOG2 2U

#include "flow.h"
#include "history.h"
#include "perm.h"
#include "policy.h"
#include "service.h"
#include "stanzaid.h"
#include "store.h"
#include "wall.h"

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_ADMIN "http://jabber.org/protocol/muc#admin"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_MUC_UNIQUE "http://jabber.org/protocol/muc#unique"
#define NS_MUC_REQUEST "http://jabber.org/protocol/muc#request"
#define NS_MUC_ROOMCONFIG "http://jabber.org/protocol/muc#roomconfig"
#define NS_MUC_ROOMINFO "http://jabber.org/protocol/muc#roominfo"
#define NS_MUC_REGISTER "http://jabber.org/protocol/muc#register"
#define NS_REGISTER "jabber:iq:register"
#define NS_CONFERENCE "jabber:x:conference"
#define NS_SID "urn:xmpp:sid:0"
#define NS_OCCUPANT_ID "urn:xmpp:occupant-id:0"
#define NS_DELAY "urn:xmpp:delay"
#define NS_HINTS "urn:xmpp:hints"
#define NS_SELF_PING "urn:xmpp:ping"
/* The room's category in its configuration form (a list-single; wall.h). */
#define ROOMCONFIG_CATEGORY "{urn:confab:muc}roomconfig_category"

/* Service-wide limits and defaults ([muc] in the configuration). */
struct muc_limits {
    unsigned max_rooms;            /* 0 = unlimited */
    unsigned max_occupants;        /* per room; also the cap of muc#roomconfig_maxusers */
    unsigned max_rooms_per_user;   /* rooms one bare JID may create; 0 = unlimited */
    unsigned max_history;          /* service maximum of messages per room and per join */
    unsigned default_history;      /* historylength of a new room */
    unsigned max_nick_bytes;
    unsigned msg_rate;             /* messages per second per occupant (token bucket) */
    unsigned msg_burst;
    unsigned presence_rate;
    unsigned presence_burst;
    unsigned max_presence_bytes;   /* a presence's payload, serialised; 0 = unlimited */
    bool create_rooms;             /* may any user create rooms */
    bool persistent_default;
    bool log_by_default;           /* new rooms archive (muc#roomconfig_enablelogging) */
    bool register_unaffiliated;    /* §7.10 for users with no affiliation (Prosody: off) */
    unsigned max_mam_page;         /* XEP-0313: most results per archive query page */
    unsigned max_message_bytes;    /* body of one groupchat or private message */
    unsigned max_joined_rooms;     /* rooms one bare JID may be in at once; 0 = unlimited */
    unsigned max_affiliations;     /* entries across a room's affiliation lists; 0 = unlimited */
    unsigned max_list_items;       /* items of one admin request, values of one form field */
    unsigned admin_rate;           /* muc#admin and muc#owner IQs per second per sender */
    unsigned admin_burst;
    unsigned msg_queue;            /* messages one session may have waiting (shape.c) */
    unsigned presence_queue;       /* presence updates likewise */
    bool rate_exempt_moderators;   /* moderators, admins and owners are not shaped */
    unsigned presence_limit;       /* Lync's ParticipantUpdateLimit (crowd.c); 0 = none */
    bool hidden_admins;            /* service admins join unseen (crowd.c) */
    /* [muc]'s policy keys (policy.h): the defaults when the store has no row.
     * Its max_rooms and max_rooms_per_user are the two above. */
    struct muc_policy policy;
};

struct muc_io {
    void (*send)(void *ud, const struct xml_node *st);
    /* st without 'to': one copy to each of to[0..n), serialised once. */
    void (*send_each)(void *ud, const struct xml_node *st, const char *const *to, size_t n);
    /* Bytes that already are one complete stanza (history replay). */
    void (*send_raw)(void *ud, const char *data, size_t len);
    int64_t (*now_ms)(void *ud);
    /* Output owed shrank without anything being sent (flow.h). May be NULL. */
    void (*output_changed)(void *ud);
    void *ud;
    /* Optional (NULL: muc_new fills in what confabd uses), so that tests and
     * fuzzers may make them predictable, as they do the clock.
     * n unpredictable bytes into buf (nonces, muc#unique names); false when
     * there are none. Default: OpenSSL's RAND_bytes. */
    bool (*random)(void *ud, void *buf, size_t n);
    /* One line for the operator's log, at info level. Default: log.h's. */
    void (*log)(void *ud, const char *line);
};

/* Where the memory store (mem_store.c) hands compliance events (compliance.h). */
typedef void muc_compliance_sink(void *ud, const char *uuid, const char *room, const char *xml,
                                 size_t len);

struct room_config {
    char *name;
    char *desc;
    char *lang;
    char *password;            /* NULL or "" = none */
    bool persistent;
    bool public_list;          /* muc#roomconfig_publicroom */
    bool members_only;
    bool moderated;
    bool password_protected;
    bool whois_anyone;         /* muc#roomconfig_whois: anyone vs moderators */
    bool change_subject;       /* occupants (participants) may change the subject */
    bool allow_invites;
    bool logging;              /* enablelogging / MAM archive visible to occupants */
    enum muc_pm allow_pm;
    unsigned max_users;        /* 0 = service maximum */
    unsigned presence_broadcast; /* ROLE_BIT set */
    unsigned get_member_list;    /* ROLE_BIT set */
    unsigned history_length;
};

struct occupant;

/* One client resource inside a room; an occupant may have several (same bare
 * JID, same nick). */
struct muc_session {
    char *jid;                 /* full real JID: key of room->sessions */
    struct occupant *occ;
    struct xml_node *presence; /* this session's last presence, sanitised */
    UT_hash_handle hh;
};

struct token_bucket {
    double tokens;
    int64_t last_ms;
};

struct occupant {
    char *nick;                /* key of room->occupants */
    char *fold;                /* nick_fold(nick): lookalike checks, once per nick */
    char *bare_jid;
    char *occupant_id;         /* XEP-0421 */
    enum muc_role role;
    struct muc_session **sessions;
    size_t nsessions;
    struct muc_session *current; /* whose presence the room shows */
    struct token_bucket msg_bucket;
    struct token_bucket pres_bucket;
    struct token_bucket admin_bucket;  /* muc#admin and muc#owner IQs (admin_rate_ok) */
    UT_hash_handle hh;
};

/* A mediated invitation waiting for its answer (§7.8.2): only for one is a
 * decline relayed, and only to who invited (invite.c). */
struct invitation {
    char *invitee;             /* bare JID: key of room->invitations */
    char *inviter;             /* real full JID of who invited */
    int64_t expires_ms;
    UT_hash_handle hh;         /* insertion order = expiry order */
};

struct affiliation {
    char *jid;                 /* bare JID or domain: key of room->affiliations */
    enum muc_affil affil;
    char *nick;                /* registered (reserved) nick, or NULL */
    char *reason;
    UT_hash_handle hh;
};

struct room {
    struct muc *muc;           /* the service that owns it */
    char *jid;                 /* room@service, prepared */
    char *node;
    struct room_config cfg;
    bool locked;               /* created, waiting for its owner's configuration */
    char *creator;             /* bare JID */
    int64_t created_ms;
    char *subject;             /* NULL = never set */
    char *subject_from;        /* occupant JID or room JID that set it */
    int64_t subject_ms;        /* when it was set; 0 = unknown */
    struct occupant *occupants;
    struct muc_session *sessions;
    struct affiliation *affiliations;
    unsigned noccupants;
    struct history history;
    uint64_t last_seq;
    const char **recipients;   /* every session JID, for fan-out; rebuilt lazily */
    size_t nrecipients;
    size_t recipients_bytes;   /* their JIDs' lengths together (budget.c) */
    bool recipients_dirty;
    int64_t idle_since_ms;     /* when the last occupant left (eviction) */
    struct xml_node *vcard;    /* vcard.c: the owner's <vCard xmlns='vcard-temp'/>, or NULL */
    char *avatar_hash;         /* SHA-1 hex of each PHOTO, space-separated, or NULL (XEP-0486) */
    struct invitation *invitations; /* pending, bounded (invite.c) */
    struct token_bucket relay_bucket; /* declines, invitations from outside the room */
    struct token_bucket outsider_admin_bucket; /* admin/owner IQs of senders not in the room */
    int64_t category_id;       /* rooms.category_id: whose walls and settings apply (wall.h) */
    UT_hash_handle hh;
};

struct user_count {
    char *jid;
    unsigned n;
    UT_hash_handle hh;
};

/* A destroyed room: the name answers `gone` with the alternate venue. */
struct tombstone {
    char *jid;
    char *venue;
    char *reason;
    UT_hash_handle hh;
};

struct muc {
    char *domain;
    char *name;
    struct service_info info;
    struct muc_limits lim;
    struct muc_io io;
    unsigned char occupant_id_key[32];
    struct stanzaid *sid;          /* XEP-0359 ids of room messages (stanzaid.h) */
    unsigned char iq_key[32];      /* forwarded-IQ id sealing, derived likewise */
    struct room *rooms;
    struct tombstone *tombstones;
    unsigned nrooms;
    const struct muc_store *store;   /* never NULL: &mem_store unless muc_set_store */
    struct muc_store mem_store;      /* the memory backend (mem_store.c) */
    struct user_count *joined;       /* bare JID -> rooms it is an occupant of */
    struct room_load *loading;       /* rooms being read from the store */
    bool compliance_on;              /* [compliance] archiver set: record events */
    bool compliance_refuse;          /* strict policy, archiver behind: refuse messages */
    muc_compliance_sink *compliance_sink;  /* events of the memory store (NULL: none) */
    size_t compliance_max_event;     /* [compliance] max_event_size: larger events forward a digest */
    /* The event that forwards the stanza being handled: the request's other
     * events refer to it (<ref/>) instead of carrying the stanza again. */
    const char *compliance_ref;
    const struct muc_req *req;       /* the stanza being handled; NULL outside muc_handle */
    char **admins;                   /* service administrators, bare JIDs ([muc] admins) */
    size_t nadmins;
    void *compliance_ud;
    struct muc_flow flow;            /* output owed and shaped senders (flow.h) */
    struct walls walls;              /* categories and groups (wall.c) */
    struct muc_policy policy;        /* in force: lim.policy with the store's rows (svcpolicy.c) */
    struct store_setting *policy_rows;  /* the store's policy rows, as loaded */
    size_t npolicy_rows;
    bool policy_warned;              /* a bad row was logged */
    bool service_loaded;             /* walls and policy came from the store once */
};

/* A stanza addressed to a room or an occupant, with parsed addresses. */
struct muc_req {
    struct muc *muc;
    const struct xml_node *st;
    const struct jid *from;    /* real sender */
    const char *from_full;     /* its string form */
    const char *from_bare;
    const struct jid *to;      /* room@service[/nick] */
    int64_t now;
};

/* muc.c */
struct muc *muc_new(const char *domain, const char *name, const struct muc_limits *lim,
                    const unsigned char key[32], const struct muc_io *io);
void muc_free(struct muc *m);
void muc_set_name(struct muc *m, const char *name);
/* [muc] reloaded: the new limits hold from the next stanza on. */
void muc_set_limits(struct muc *m, const struct muc_limits *lim);
/* Record compliance events ([compliance] archiver is set); without a store
 * they go to sink. */
void muc_set_compliance(struct muc *m, muc_compliance_sink *sink, void *ud);
/* [compliance] max_event_size: larger events forward a digest of the stanza. */
void muc_set_compliance_max_event(struct muc *m, size_t bytes);
/* The outbox's strict-policy verdict: refuse new messages while true. */
void muc_set_compliance_refuse(struct muc *m, bool refuse);
void muc_handle(struct muc *m, const struct xml_node *st);
void muc_limits_default(struct muc_limits *lim);

/* muc.c: persistence */
/* Use a store (before any stanza is handled); NULL: the memory store again. */
void muc_set_store(struct muc *m, const struct muc_store *store);
/* The router link came back after an outage: find sessions that vanished. */
void muc_reconcile(struct muc *m);
/* Drop idle persistent rooms from memory (no occupants for idle_ms); they
 * stay in the store. Returns how many were evicted. */
unsigned muc_evict_idle(struct muc *m, int64_t now, int64_t idle_ms);
/* Drop a loaded room from memory (it stays in the store). */
void muc_forget_room(struct muc *m, struct room *room);
/* control.c: confabctl's changes, arriving through the control channel. */
void muc_control_destroyed(struct muc *m, const char *jid, const char *venue,
                           const char *reason, const char *actor);
void muc_control_changed(struct muc *m, const char *jid);
/* Categories, groups or policy changed (category-changed, group-changed,
 * policy-changed): reload them all, then remove whoever a wall now shuts out. */
void muc_control_service_changed(struct muc *m);
/* The first load at start (no sweep needed: no room is in memory yet). */
void muc_load_service(struct muc *m);

/* room.c */
/* Write the room row (config, lock, subject) to the store. */
void room_save(struct room *room);
/* Write one affiliation entry (or its removal) to the store. */
void room_save_affiliation(struct room *room, const char *jid);
/* Build a room from what the store returned. */
struct room *room_from_store(struct muc *m, const char *jid, struct store_room *rec);
struct room *room_find(struct muc *m, const char *jid);
struct room *room_create(struct muc *m, const char *jid, const char *node, const char *creator,
                         int64_t now);
void room_destroy(struct muc *m, struct room *room, const char *venue, const char *reason);
void room_free(struct room *room);
void room_config_defaults(const struct muc *m, struct room_config *cfg);
void room_config_clear(struct room_config *cfg);
enum muc_affil room_affiliation(const struct room *room, const char *bare_jid);
struct affiliation *room_affiliation_entry(const struct room *room, const char *bare_jid);
/* Set or clear (AFFIL_NONE with no nick) a bare JID's affiliation. */
void room_set_affiliation(struct room *room, const char *bare_jid, enum muc_affil a,
                          const char *reason);
unsigned room_count_affiliation(const struct room *room, enum muc_affil a);
/* The bare JID that registered nick, or NULL. */
const char *room_nick_owner(const struct room *room, const char *nick);
void room_set_subject(struct room *room, const char *subject, const char *from);
bool room_is_empty(const struct room *room);
/* Drop an empty room that is not persistent. Returns true if it was freed. */
bool room_reap(struct muc *m, struct room *room);
unsigned room_max_users(const struct muc *m, const struct room *room);

/* occupant.c */
struct occupant *occupant_by_nick(const struct room *room, const char *nick);
struct muc_session *session_by_jid(const struct room *room, const char *full_jid);
struct occupant *occupant_new(struct muc *m, struct room *room, const char *nick,
                              const char *bare_jid, enum muc_role role);
struct muc_session *occupant_add_session(struct room *room, struct occupant *occ,
                                         const char *full_jid);
/* Remove one session; frees the occupant when it was the last. Returns true
 * if the occupant is gone. */
bool occupant_remove_session(struct room *room, struct muc_session *s);
void occupant_remove(struct room *room, struct occupant *occ);
void occupant_rename(struct room *room, struct occupant *occ, const char *nick);
const char *const *room_recipients(struct room *room, size_t *n);
enum muc_affil occupant_affiliation(const struct room *room, const struct occupant *occ);
/* true when the bucket allows one more event now. */
bool occupant_rate_ok(struct token_bucket *b, unsigned rate, unsigned burst, int64_t now);
/* Rooms bare_jid is an occupant of, service-wide. */
unsigned occupant_rooms_of(const struct muc *m, const char *bare_jid);
void occupant_compute_id(const struct muc *m, const char *room_jid, const char *bare_jid,
                         char out[45]);

/* nick.c */
/* NULL when nick may be used: not empty, not too long, strict resourceprep,
 * not made only of invisible or space characters. Else the stanza error
 * condition, with *why (to free) saying what was wrong. */
const char *nick_refusal(const char *nick, size_t max_bytes, char **why);
/* The form two nicks share when a reader could not tell them apart (case,
 * width, compatibility forms, whitespace, invisible characters, confusable
 * letters of other scripts: UTS #39 skeletons). */
char *nick_fold(const char *nick);
/* Is a nick that looks like this one held or registered by another bare JID? */
bool nick_taken_by_other(const struct room *room, const char *nick, const char *bare_jid);

/* payload.c: the one table of what clients may send in relayed stanzas. */
enum payload_kind { PAYLOAD_GROUPCHAT = 1, PAYLOAD_PRIVATE = 2, PAYLOAD_PRESENCE = 4 };
/* May child c of a client's stanza st be relayed in a stanza of this kind? */
bool payload_allowed(const struct xml_node *st, const struct xml_node *c, unsigned kind);
/* Copy the children of st that payload_allowed() lets through into dst. */
void payload_copy(struct xml_node *dst, const struct xml_node *st, unsigned kind);

/* presence.c */
void presence_handle(struct muc_req *r, struct room *room);
/* What a room presence says besides the occupant's own presence. */
struct pres_opts {
    const int *codes;         /* status codes for everyone, 0-terminated (may be NULL) */
    const char *type;         /* NULL (available) or "unavailable" */
    const char *actor_nick;   /* <actor/> of a kick, ban or role change */
    const char *actor_jid;    /* ...and its real full JID, for those who see real JIDs */
    const char *status;       /* presence-level <status/> when the occupant gave none */
    const struct xml_node *x_first; /* copied first into the <x/> (§10.9 <destroy/>) */
    const char *reason;
    const char *new_nick;     /* 303: the occupant's next nick */
    const int *self_codes;    /* extra codes only for the occupant itself (201, 210…) */
};
struct xml_node *presence_build(struct muc *m, struct room *room, const struct occupant *occ,
                                bool with_jid, bool self, const struct pres_opts *o);
/* Send occ's current presence to the room (per presencebroadcast and whois);
 * its own sessions get 110 and the real JID. */
void presence_broadcast(struct muc *m, struct room *room, struct occupant *occ,
                        const struct pres_opts *o);
/* After a role change from was (§8.3-8.4, §9): a broadcast, or, when the new
 * role is no longer broadcast (presencebroadcast, Auditorium), an unavailable
 * presence to those who saw it and the new role to the occupant itself. */
void presence_role_changed(struct muc *m, struct room *room, struct occupant *occ,
                           enum muc_role was, const struct pres_opts *o);
/* The two halves of a broadcast, for callers that must interleave (§8.2). */
void presence_send_self(struct muc *m, struct room *room, struct occupant *occ,
                        const struct pres_opts *o);
void presence_send_others(struct muc *m, struct room *room, struct occupant *occ,
                          const struct pres_opts *o);
/* Remove an occupant with an unavailable presence (kick, ban, affiliation
 * change, error bounce, destruction). The caller reaps the room afterwards. */
void presence_remove_occupant(struct muc *m, struct room *room, struct occupant *occ,
                              const struct pres_opts *o);
bool presence_may_see_jid(const struct room *room, const struct occupant *viewer);
/* An error from an occupant's client means it is gone (§7.14, XEP-0410): the
 * session leaves; the last one takes the occupant out with 333 and, as the
 * presence's <status/>, what the error said. */
void presence_error_kick(struct muc_req *r, struct room *room, struct muc_session *s);

/* message.c */
void message_handle(struct muc_req *r, struct room *room);
/* Does a groupchat message belong in history and the archive (XEP-0334 hints,
 * a body, or a payload worth keeping; not chat states alone)? */
bool message_is_historic(const struct xml_node *st);
void message_iq_to_occupant(struct muc_req *r, struct room *room);
void message_handle_iq_result(struct muc_req *r, struct room *room);
/* A groupchat message from the room itself (status code notices). */
void message_room_notice(struct muc *m, struct room *room, const int *codes);
void message_send_subject(struct muc *m, struct room *room, const char *to);
void message_send_history(struct muc *m, struct room *room, const char *to,
                          const struct history_req *req, int64_t now);

/* admin.c */
void admin_handle(struct muc_req *r, struct room *room, const struct xml_node *query);
/* Set a bare JID's affiliation and make its occupants follow (presence
 * updates, or removal with 301/321); when none is inside, the room is told by
 * message and, with tell_user, the user too (101). Does not reap the room. */
void admin_apply_affiliation(struct muc *m, struct room *room, const char *jid,
                             enum muc_affil affil, const char *reason, const char *actor_nick,
                             bool tell_user);
/* [muc] admin_rate/admin_burst for r's sender (its occupant's bucket, or the
 * room's for senders not in it); false when it was answered
 * wait/resource-constraint with when to retry. */
bool admin_rate_ok(struct muc_req *r, struct room *room);
/* Would the room hold more than [muc] max_affiliations entries with `after`?
 * Then r was answered policy-violation. */
bool admin_affiliations_refused(struct muc_req *r, size_t after);

/* owner.c */
void owner_handle(struct muc_req *r, struct room *room, const struct xml_node *query);
/* Destroy a room (§10.9): occupants hear it, the store keeps a tombstone, ev
 * (may be NULL) is the compliance event written with it. */
void owner_destroy_room(struct muc *m, struct room *room, const char *venue, const char *reason,
                        struct xml_node *ev);
/* The room's muc#roomconfig form as it stands (compliance records it). */
struct xml_node *owner_config_form(const struct muc *m, const struct room *room);

/* adhoc.c */
/* Service administrators ([muc] admins: bare JIDs separated by spaces or
 * commas; NULL or "" clears): owner power in every room (§2). */
void muc_set_admins(struct muc *m, const char *list);
bool muc_is_admin(const struct muc *m, const char *bare_jid);
/* An XEP-0050 <command/> to the service; true when answered. */
bool adhoc_handle(struct muc *m, const struct xml_node *iq, const struct xml_node *cmd);
bool adhoc_disco_items(struct muc *m, const struct xml_node *iq, const struct xml_node *q);

/* invite.c */
void invite_handle(struct muc_req *r, struct room *room, const struct xml_node *x);
void voice_request_handle(struct muc_req *r, struct room *room, const struct xml_node *form);
void register_handle(struct muc_req *r, struct room *room, const struct xml_node *query);
/* Forget every pending invitation (the room leaves memory). */
void invite_forget_all(struct room *room);

/* roomdisco.c */
void roomdisco_info(struct muc_req *r, struct room *room, const struct xml_node *query);
void roomdisco_items(struct muc_req *r, struct room *room, const struct xml_node *query);
void roomdisco_unique(struct muc *m, const struct xml_node *iq);

/* search.c: public, unlocked rooms in memory, ordered by JID, XEP-0059 paged. */
#define NS_SEARCH "jabber:iq:search"
#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_CHANNEL_SEARCH "urn:xmpp:channel-search:0:search"
/* Service disco#items: every room without <set/>, a page with it. */
void search_disco_items(struct muc *m, const struct xml_node *iq, const struct xml_node *query);
/* XEP-0055 with a data form: the form (get), a search (set). */
void search_handle(struct muc *m, const struct xml_node *iq, const struct xml_node *query);
/* XEP-0433 extended channel search: the form, or a search. */
void search_channels(struct muc *m, const struct xml_node *iq, const struct xml_node *search);

/* roomkind.c: the room form's {urn:confab:roomconfig} fields and their mapping. */
#define ROOMKIND_PRIVACY "{urn:confab:roomconfig}privacy"
#define ROOMKIND_TYPE "{urn:confab:roomconfig}type"
enum room_privacy roomkind_privacy(const struct room_config *c);
enum room_type roomkind_type(const struct room_config *c);
void roomkind_set_privacy(struct room_config *c, enum room_privacy p);
void roomkind_set_type(struct room_config *c, enum room_type t);
const char *roomkind_privacy_name(enum room_privacy p);  /* NULL for PRIVACY_NONE */
const char *roomkind_type_name(enum room_type t);
int roomkind_privacy_parse(const char *s, enum room_privacy *out);
int roomkind_type_parse(const char *s, enum room_type *out);
void roomkind_form_fields(struct xml_node *x, const struct room_config *c);
/* A member, admin or owner of the room, or a service admin. */
bool roomkind_insider(const struct muc *m, const struct room *room, const char *bare_jid);
/* May bare_jid read the room's vCard and avatar hash (not a Secret room's outsiders)? */
bool roomkind_may_see_card(const struct muc *m, const struct room *room, const char *bare_jid);

/* crowd.c: whose presence reaches whom. */
/* A service admin who joined unseen ([muc] hidden_admins): never broadcast, never listed. */
bool crowd_hidden(const struct muc *m, const struct occupant *occ);
/* More occupants than [muc] presence_limit: non-moderators' presence goes to moderators only. */
bool crowd_large(const struct muc *m, const struct room *room);
/* Does viewer get subject's presence (joins, changes, leaves, the roster on entry)? */
bool crowd_shows(const struct muc *m, const struct room *room, const struct occupant *subject,
                 const struct occupant *viewer);
/* Occupants others may know of: the count in muc#roominfo, the paged list. */
unsigned crowd_visible_count(const struct muc *m, const struct room *room);

/* directory.c */
bool directory_visible(const struct room_config *c, bool locked, enum muc_affil viewer_affil,
                       bool viewer_admin);
bool directory_matches(const struct store_dir_query *q, const char *jid, const char *name,
                       const char *desc);
/* The page [*lo, *hi) of keys (room JIDs, in JID order unless users_first)
 * that q's after/before/index/max/backward ask for; false when users_first
 * and q names a room not among them. */
bool directory_window(const struct store_dir_query *q, const char *const *keys, size_t n,
                      bool users_first, size_t *lo, size_t *hi);
/* An XEP-0059 <set/> in a request (directory.c; mam.c has its own by seq). */
#define NS_RSM "http://jabber.org/protocol/rsm"
struct rsm_req {
    bool present;
    long max;            /* -1: not given */
    char *after, *before;
    bool last_page;      /* an empty <before/> */
    long index;          /* -1: not given */
};
/* false (with why) for a <set/> that cannot be honoured. */
bool rsm_req_parse(const struct xml_node *query, struct rsm_req *q, const char **why);
void rsm_req_clear(struct rsm_req *q);
/* q's paging fields from r, pages at most max long. */
void rsm_req_window(const struct rsm_req *r, unsigned max, struct store_dir_query *q);

/* moderate.c */
bool moderate_wants(const struct xml_node *q);
void moderate_handle(struct muc_req *r, struct room *room, const struct xml_node *q);
/* A groupchat message that retracts (XEP-0424) one of its sender's own
 * messages: the original becomes a tombstone; others' are left alone. */
void moderate_self_retraction(struct muc_req *r, struct room *room, const struct occupant *occ);

/* vcard.c */
#define NS_VCARD "vcard-temp"
/* Longest vCard an owner may set, serialised (BINVAL included). */
#define VCARD_MAX_BYTES 65536
/* <vCard xmlns='vcard-temp'/> to the room: anyone reads it, owners set it. */
void vcard_handle(struct muc_req *r, struct room *room, const struct xml_node *vcard);
/* The muc#roominfo_avatarhash field, when the room has an avatar. */
void vcard_roominfo(struct xml_node *form, const struct muc_req *r, const struct room *room);
/* Take the stored vCard (rec->vcard, rec->photo_hash) into the room. */
void vcard_from_store(struct room *room, struct store_room *rec);
void vcard_clear(struct room *room);

/* svcpolicy.c: the service policy (policy.h) applied to rooms */
/* Take the store's policy rows (rec may be NULL: none) and recompute m->policy. */
void svcpolicy_load(struct muc *m, const struct store_service *rec);
/* m->policy from lim.policy and the rows; [muc]'s limits follow it. */
void svcpolicy_refresh(struct muc *m);
void svcpolicy_free(struct muc *m);
/* May bare_jid make a room of category_id persistent (create_persistent)? */
bool svcpolicy_may_persist(const struct muc *m, int64_t category_id, const char *bare_jid);
/* The first setting an owner may not change that cfg/category change; NULL if none. */
const char *svcpolicy_locked_change(const struct muc *m, const struct room *room,
                                    const struct room_config *cfg, int64_t category_id,
                                    const char *bare_jid);
/* Remove from an owner's form the fields of settings the policy locks. */
void svcpolicy_strip_form(const struct muc *m, struct xml_node *form, const char *bare_jid);
/* A new room's configuration from its category's defaults and the policy. */
void svcpolicy_new_room(const struct muc *m, struct room *room);

/* mam.c */
/* Is this IQ payload XEP-0313's (urn:xmpp:mam:2)? */
bool mam_wants(const struct xml_node *payload);
/* A MAM IQ to the room: the query form (get), a query (set), the metadata (get). */
void mam_handle(struct muc_req *r, struct room *room, const struct xml_node *payload);
/* The archive's disco#info features; none when the room does not log. */
void mam_disco_features(struct xml_node *q, const struct room *room);

#endif
