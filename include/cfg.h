/* cfg.h — the configuration contract: one INI file for both daemons.
 *
 * Every key both daemons know is one row of a declarative table (cfg.c): its
 * section, name, type, default, bounds and whether SIGHUP may change it. The
 * file is parsed by libinih; an unknown section or key, a repeated key or a bad
 * value is an error reported as "FILE:LINE: message". */
#ifndef CONFAB_CFG_H
#define CONFAB_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

enum cfg_policy { CFG_POLICY_RELAXED, CFG_POLICY_STRICT };

/* Which daemon reads the file: decides which keys are required. */
enum cfg_role { CFG_ROLE_MUC, CFG_ROLE_ARCHIVER, CFG_ROLE_CTL };

/* [link]: the router link's timing and bounds, as transport.h takes them. */
struct cfg_link {
    uint64_t keepalive_ms;
    uint64_t connect_timeout_ms;
    uint64_t reconnect_min_ms;
    uint64_t reconnect_max_ms;
    uint64_t reconnect_auth_max_ms;
    uint64_t max_stanza_size;
    uint64_t max_output_queue;
};

struct cfg_endpoint {
    char *domain;
    char *host; /* the router's address, without brackets for IPv6 */
    uint16_t port;
    char *secret;
    bool tls;              /* TLS from the first byte to the router */
    char *tls_ca;          /* CA file ("" = the system store) */
    char *tls_verify_name; /* name the router's certificate must carry ("" = host) */
};

/* [muc]: service limits and room defaults (all reloadable). */
struct cfg_muc {
    uint64_t max_rooms;
    uint64_t max_occupants;
    uint64_t max_rooms_per_user;
    uint64_t max_history;
    uint64_t default_history;
    uint64_t max_nick_length;
    uint64_t message_rate;
    uint64_t message_burst;
    uint64_t presence_rate;
    uint64_t presence_burst;
    uint64_t message_queue;
    uint64_t presence_queue;
    bool rate_exempt_moderators;
    uint64_t presence_limit;
    bool hidden_admins;
    uint64_t max_presence_size;
    bool create_rooms;
    bool persistent_default;
    bool log_by_default;
    bool register_unaffiliated;
    char *admins;
    uint64_t max_mam_page;
    uint64_t max_message_size;
    uint64_t max_joined_rooms;
    uint64_t max_affiliations;
    uint64_t max_list_items;
    uint64_t admin_rate;
    uint64_t admin_burst;
    char *create_persistent;       /* anyone | creators | admins (policy.h) */
    uint64_t default_max_occupants;
    char *owners_may_change;       /* all | none | setting names (policy.h) */
};

/* [ldap]: the directory confabctl group sync reads (ctl_ldap.c). */
struct cfg_ldap {
    char *uri;                  /* ldap://host:port, ldaps://, ldapi:// ("" = none) */
    char *bind_dn;              /* "" = anonymous bind */
    char *bind_password_file;   /* read by confabctl only, at sync time */
    char *base;                 /* search base of group filters and memberUid look-ups */
    char *jid_attribute;        /* the user entry's attribute holding the JID */
    char *jid_domain;           /* set: the attribute is a localpart, JID = value@jid_domain */
    uint64_t timeout_ms;        /* network and search time limit */
    bool starttls;
};

struct cfg {
    char *path;
    struct cfg_endpoint component;  /* [component] */
    char *multicast;                /* [component] multicast: "auto", "off" or a service JID */
    uint64_t multicast_max;         /* addresses per multicast stanza (0: the service's limit) */
    char *service_name;             /* [service] name */
    struct cfg_muc muc;             /* [muc] */
    char *storage_dsn;              /* [storage] dsn ("" = rooms in memory only) */
    char *storage_fts_language;
    bool storage_durable;           /* durability = commit (else async) */
    uint64_t storage_idle_ms;
    uint64_t storage_retention_ms;
    uint64_t storage_tombstone_ttl_ms;
    uint64_t storage_max_queue;     /* chat statements outstanding before intake pauses */
    char *compliance_archiver;      /* [compliance] archiver ("" = off) */
    enum cfg_policy compliance_policy;
    uint64_t compliance_max_backlog;   /* outbox events before strict refuses messages */
    uint64_t compliance_unreachable_ms; /* archiver silent this long: strict refuses */
    uint64_t compliance_max_event_size; /* larger events forward a digest of their stanza */
    struct cfg_endpoint archiver;   /* [archiver] */
    char *archiver_dsn;
    uint64_t archiver_max_queue;    /* events outstanding before answering wait */
    char *archiver_senders;         /* domains allowed to send events ("" = any domain) */
    char *archiver_room_services;   /* confab's room services: tap copies to/from them are
                                       confabd's to record ("" = [component] domain) */
    bool archiver_record_signals;   /* keep bodiless chat states/receipts/markers as `signal` */
    char *archiver_checkpoint_key;  /* Ed25519 private key (PEM) signing checkpoints ("" = none) */
    char *archiver_checkpoint_file; /* signed checkpoints are appended here */
    uint64_t archiver_checkpoint_every;       /* events between checkpoints at most */
    uint64_t archiver_checkpoint_interval_ms; /* time between them, while the head moves */
    struct cfg_link link;           /* [link] */
    enum log_level log_level;       /* [log] */
    char *metrics_listen;           /* [metrics] listen: confabd's HTTP metrics ("" = off) */
    char *metrics_archiver_listen;  /* [metrics] archiver_listen: confab-archiver's */
    struct cfg_ldap ldap;           /* [ldap] */
};

/* Read and validate path for role. On success fills *out (owned; cfg_free) and
 * returns 0. On failure returns -EINVAL (or -errno when the file cannot be
 * read) and sets *err to a new "FILE:LINE: message" string. */
int cfg_load(const char *path, enum cfg_role role, struct cfg *out, char **err);
/* The same from a string (tests, fuzzing); name is used in messages. */
int cfg_load_string(const char *name, const char *text, enum cfg_role role, struct cfg *out,
                    char **err);
void cfg_free(struct cfg *c);
/* Copy what SIGHUP may change from fresh into live; log each key that changed
 * and each non-reloadable key that differs (it needs a restart). */
void cfg_apply_reload(struct cfg *live, const struct cfg *fresh);

/* Value parsers, exposed for tests. Return 0 or -EINVAL / -ERANGE. */
int cfg_parse_duration_ms(const char *s, uint64_t *out);
int cfg_parse_size(const char *s, uint64_t *out);
int cfg_parse_hostport(const char *s, char **host, uint16_t *port);

#endif
