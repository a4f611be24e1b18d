/* cfg.c — the one INI file of both daemons: libinih, one table of keys, FILE:LINE errors, reload (cfg.h). */
#include "compat.h"

#include <arpa/inet.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cfg.h"
#include "checkpoint.h"
#include "jid.h"
#include "log.h"
#include "mem.h"
#include "policy.h"

enum ktype { K_DURABILITY, K_UINT, K_BOOL, K_STRING, K_DOMAIN, K_ROUTER, K_SECRET, K_SECRET_FILE, K_DURATION, K_SIZE,
             K_POLICY, K_LOGLEVEL, K_LISTEN, K_MULTICAST, K_MUCPOLICY };

#define ROLE(r) (1u << (r))

struct key {
    const char *section;
    const char *name;
    enum ktype type;
    size_t off;
    const char *def;
    uint64_t min, max;
    bool reloadable;
    unsigned required; /* ROLE() mask */
};

#define OFF(f) offsetof(struct cfg, f)
#define MS(x) ((uint64_t)(x))
#define NOLIMIT 0, UINT64_MAX

/* The whole contract. Keep contrib/confab.ini.example and docs/configuration.md in step. */
static const struct key keys[] = {
    { "component", "domain", K_DOMAIN, OFF(component.domain), NULL, NOLIMIT, false, ROLE(CFG_ROLE_MUC) },
    { "component", "router", K_ROUTER, OFF(component), "127.0.0.1:5347", NOLIMIT, false, 0 },
    { "component", "secret", K_SECRET, OFF(component.secret), NULL, NOLIMIT, false, ROLE(CFG_ROLE_MUC) },
    { "component", "secret_file", K_SECRET_FILE, OFF(component.secret), NULL, NOLIMIT, false, 0 },
    { "component", "tls", K_BOOL, OFF(component.tls), "false", NOLIMIT, false, 0 },
    { "component", "tls_ca", K_STRING, OFF(component.tls_ca), "", NOLIMIT, false, 0 },
    { "component", "tls_verify_name", K_STRING, OFF(component.tls_verify_name), "", NOLIMIT, false, 0 },
    { "component", "multicast", K_MULTICAST, OFF(multicast), "auto", NOLIMIT, false, 0 },
    { "component", "multicast_max", K_UINT, OFF(multicast_max), "0", 0, 10000, false, 0 },
    { "service", "name", K_STRING, OFF(service_name), "Chatrooms", NOLIMIT, true, 0 },
    { "muc", "max_rooms", K_UINT, OFF(muc.max_rooms), "0", 0, 100000000, true, 0 },
    { "muc", "max_occupants", K_UINT, OFF(muc.max_occupants), "1000", 1, 1000000, true, 0 },
    { "muc", "max_rooms_per_user", K_UINT, OFF(muc.max_rooms_per_user), "100", 0, 1000000, true, 0 },
    { "muc", "max_history", K_UINT, OFF(muc.max_history), "100", 0, 100000, true, 0 },
    { "muc", "default_history", K_UINT, OFF(muc.default_history), "20", 0, 100000, true, 0 },
    { "muc", "max_nick_length", K_UINT, OFF(muc.max_nick_length), "128", 1, 1023, true, 0 },
    { "muc", "message_rate", K_UINT, OFF(muc.message_rate), "5", 0, 1000000, true, 0 },
    { "muc", "message_burst", K_UINT, OFF(muc.message_burst), "20", 1, 1000000, true, 0 },
    { "muc", "presence_rate", K_UINT, OFF(muc.presence_rate), "2", 0, 1000000, true, 0 },
    { "muc", "presence_burst", K_UINT, OFF(muc.presence_burst), "10", 1, 1000000, true, 0 },
    { "muc", "message_queue", K_UINT, OFF(muc.message_queue), "50", 0, 100000, true, 0 },
    { "muc", "presence_queue", K_UINT, OFF(muc.presence_queue), "10", 0, 100000, true, 0 },
    { "muc", "rate_exempt_moderators", K_BOOL, OFF(muc.rate_exempt_moderators), "false", NOLIMIT, true, 0 },
    { "muc", "presence_limit", K_UINT, OFF(muc.presence_limit), "75", 0, 1000000, true, 0 },
    { "muc", "hidden_admins", K_BOOL, OFF(muc.hidden_admins), "false", NOLIMIT, true, 0 },
    { "muc", "max_presence_size", K_SIZE, OFF(muc.max_presence_size), "8KiB", 512, 1 << 20, true, 0 },
    { "muc", "create_rooms", K_BOOL, OFF(muc.create_rooms), "true", NOLIMIT, true, 0 },
    { "muc", "persistent_default", K_BOOL, OFF(muc.persistent_default), "false", NOLIMIT, true, 0 },
    { "muc", "log_by_default", K_BOOL, OFF(muc.log_by_default), "true", NOLIMIT, true, 0 },
    { "muc", "register_unaffiliated", K_BOOL, OFF(muc.register_unaffiliated), "false", NOLIMIT, true, 0 },
    { "muc", "admins", K_STRING, OFF(muc.admins), "", NOLIMIT, true, 0 },
    { "muc", "max_mam_page", K_UINT, OFF(muc.max_mam_page), "100", 1, 10000, true, 0 },
    { "muc", "max_message_size", K_SIZE, OFF(muc.max_message_size), "32KiB", 64, 1 << 20, true, 0 },
    { "muc", "max_joined_rooms", K_UINT, OFF(muc.max_joined_rooms), "100", 0, 100000, true, 0 },
    { "muc", "max_affiliations", K_UINT, OFF(muc.max_affiliations), "2000", 0, 1000000, true, 0 },
    { "muc", "max_list_items", K_UINT, OFF(muc.max_list_items), "200", 1, 100000, true, 0 },
    { "muc", "admin_rate", K_UINT, OFF(muc.admin_rate), "5", 0, 1000000, true, 0 },
    { "muc", "admin_burst", K_UINT, OFF(muc.admin_burst), "20", 1, 1000000, true, 0 },
    { "muc", "create_persistent", K_MUCPOLICY, OFF(muc.create_persistent), "anyone", NOLIMIT, true, 0 },
    { "muc", "default_max_occupants", K_UINT, OFF(muc.default_max_occupants), "0", 0, 1000000, true, 0 },
    { "muc", "owners_may_change", K_MUCPOLICY, OFF(muc.owners_may_change), "all", NOLIMIT, true, 0 },
    { "storage", "dsn", K_STRING, OFF(storage_dsn), "dbname=confab", NOLIMIT, false, 0 },
    { "storage", "fts_language", K_STRING, OFF(storage_fts_language), "simple", NOLIMIT, false, 0 },
    { "storage", "durability", K_DURABILITY, OFF(storage_durable), "commit", NOLIMIT, false, 0 },
    { "storage", "retention", K_DURATION, OFF(storage_retention_ms), "0", 0, (uint64_t)3153600000000, false, 0 },
    { "storage", "tombstone_ttl", K_DURATION, OFF(storage_tombstone_ttl_ms), "30d", 0, (uint64_t)3153600000000, false, 0 },
    { "storage", "max_queue", K_UINT, OFF(storage_max_queue), "5000", 100, 100000, true, 0 },
    { "storage", "idle_timeout", K_DURATION, OFF(storage_idle_ms), "10m", MS(1000), MS(604800000), true, 0 },
    { "compliance", "archiver", K_STRING, OFF(compliance_archiver), "", NOLIMIT, false, 0 },
    { "compliance", "policy", K_POLICY, OFF(compliance_policy), "relaxed", NOLIMIT, false, 0 },
    { "compliance", "max_backlog", K_UINT, OFF(compliance_max_backlog), "10000", 1, 100000000, true, 0 },
    { "compliance", "unreachable_timeout", K_DURATION, OFF(compliance_unreachable_ms), "30s", MS(1000), MS(86400000), true, 0 },
    { "compliance", "max_event_size", K_SIZE, OFF(compliance_max_event_size), "64KiB", 4096, 16 << 20, true, 0 },
    { "archiver", "domain", K_DOMAIN, OFF(archiver.domain), NULL, NOLIMIT, false, ROLE(CFG_ROLE_ARCHIVER) },
    { "archiver", "router", K_ROUTER, OFF(archiver), "127.0.0.1:5347", NOLIMIT, false, 0 },
    { "archiver", "secret", K_SECRET, OFF(archiver.secret), NULL, NOLIMIT, false, ROLE(CFG_ROLE_ARCHIVER) },
    { "archiver", "secret_file", K_SECRET_FILE, OFF(archiver.secret), NULL, NOLIMIT, false, 0 },
    { "archiver", "tls", K_BOOL, OFF(archiver.tls), "false", NOLIMIT, false, 0 },
    { "archiver", "tls_ca", K_STRING, OFF(archiver.tls_ca), "", NOLIMIT, false, 0 },
    { "archiver", "tls_verify_name", K_STRING, OFF(archiver.tls_verify_name), "", NOLIMIT, false, 0 },
    { "archiver", "dsn", K_STRING, OFF(archiver_dsn), "dbname=confab_compliance", NOLIMIT, false, 0 },
    { "archiver", "max_queue", K_UINT, OFF(archiver_max_queue), "100000", 1, 10000000, true, 0 },
    { "archiver", "senders", K_STRING, OFF(archiver_senders), "", NOLIMIT, true, 0 },
    { "archiver", "room_services", K_STRING, OFF(archiver_room_services), "", NOLIMIT, true, 0 },
    { "archiver", "record_signals", K_BOOL, OFF(archiver_record_signals), "false", NOLIMIT, true, 0 },
    { "archiver", "checkpoint_key", K_STRING, OFF(archiver_checkpoint_key), "", NOLIMIT, false, 0 },
    { "archiver", "checkpoint_file", K_STRING, OFF(archiver_checkpoint_file), "", NOLIMIT, false, 0 },
    { "metrics", "listen", K_LISTEN, OFF(metrics_listen), "", NOLIMIT, false, 0 },
    { "metrics", "archiver_listen", K_LISTEN, OFF(metrics_archiver_listen), "", NOLIMIT, false, 0 },
    { "archiver", "checkpoint_every", K_UINT, OFF(archiver_checkpoint_every), "1000", 1, 100000000, false, 0 },
    { "archiver", "checkpoint_interval", K_DURATION, OFF(archiver_checkpoint_interval_ms), "60s", MS(100), MS(86400000), false, 0 },
    { "link", "keepalive", K_DURATION, OFF(link.keepalive_ms), "60s", 0, MS(86400000), true, 0 },
    { "link", "connect_timeout", K_DURATION, OFF(link.connect_timeout_ms), "5s", MS(100), MS(600000), true, 0 },
    { "link", "reconnect_min", K_DURATION, OFF(link.reconnect_min_ms), "100ms", MS(10), MS(600000), true, 0 },
    { "link", "reconnect_max", K_DURATION, OFF(link.reconnect_max_ms), "1s", MS(10), MS(3600000), true, 0 },
    { "link", "reconnect_auth_max", K_DURATION, OFF(link.reconnect_auth_max_ms), "60s", MS(10), MS(3600000), true, 0 },
    { "link", "max_stanza_size", K_SIZE, OFF(link.max_stanza_size), "512KiB", 4096, (uint64_t)1 << 30, false, 0 },
    { "link", "max_output_queue", K_SIZE, OFF(link.max_output_queue), "16MiB", 65536, (uint64_t)1 << 34, true, 0 },
    { "log", "level", K_LOGLEVEL, OFF(log_level), "info", NOLIMIT, true, 0 },
    { "ldap", "uri", K_STRING, OFF(ldap.uri), "", NOLIMIT, false, 0 },
    { "ldap", "bind_dn", K_STRING, OFF(ldap.bind_dn), "", NOLIMIT, false, 0 },
    { "ldap", "bind_password_file", K_STRING, OFF(ldap.bind_password_file), "", NOLIMIT, false, 0 },
    { "ldap", "base", K_STRING, OFF(ldap.base), "", NOLIMIT, false, 0 },
    { "ldap", "jid_attribute", K_STRING, OFF(ldap.jid_attribute), "mail", NOLIMIT, false, 0 },
    { "ldap", "jid_domain", K_DOMAIN, OFF(ldap.jid_domain), "", NOLIMIT, false, 0 },
    { "ldap", "timeout", K_DURATION, OFF(ldap.timeout_ms), "10s", MS(1000), MS(600000), false, 0 },
    { "ldap", "starttls", K_BOOL, OFF(ldap.starttls), "false", NOLIMIT, false, 0 },
};

struct parse_ctx {
    const char *name;
    struct cfg *out;
    struct buf errors;
    int line;
    int seen[ARRAY_SIZE(keys)];   /* line where each key was set, 0 = not set */
    const char *text;             /* cfg_load_string input cursor */
    FILE *fp;
};

static void PRINTF(3, 4) error_at(struct parse_ctx *p, int line, const char *fmt, ...)
{
    if (p->errors.len)
        buf_putc(&p->errors, '\n');
    if (line > 0)
        buf_printf(&p->errors, "%s:%d: ", p->name, line);
    else
        buf_printf(&p->errors, "%s: ", p->name);
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_puts(&p->errors, msg);
}

static int parse_uint_unit(const char *s, uint64_t *out, const char *const *units,
                           const uint64_t *mult, size_t nunits, size_t bare_unit)
{
    char *end = NULL;
    errno = 0;
    if (!*s || *s == '-' || *s == '+')
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (end == s)
        return -EINVAL;
    while (*end == ' ')
        end++;
    uint64_t m = mult[bare_unit];
    if (*end) {
        size_t i;
        for (i = 0; i < nunits; i++)
            if (strcasecmp(end, units[i]) == 0)
                break;
        if (i == nunits)
            return -EINVAL;
        m = mult[i];
    }
    if (m && v > UINT64_MAX / m)
        return -ERANGE;
    *out = (uint64_t)v * m;
    return 0;
}

int cfg_parse_duration_ms(const char *s, uint64_t *out)
{
    static const char *const units[] = { "ms", "s", "m", "h", "d" };
    static const uint64_t mult[] = { 1, 1000, 60000, 3600000, 86400000 };
    return parse_uint_unit(s, out, units, mult, ARRAY_SIZE(units), 1);
}

int cfg_parse_size(const char *s, uint64_t *out)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "K", "M", "G" };
    static const uint64_t mult[] = { 1, 1024, 1024 * 1024, 1024 * 1024 * 1024,
                                     1024, 1024 * 1024, 1024 * 1024 * 1024 };
    return parse_uint_unit(s, out, units, mult, ARRAY_SIZE(units), 0);
}

int cfg_parse_hostport(const char *s, char **host, uint16_t *port)
{
    const char *colon;
    const char *hs = s;
    size_t hl;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        hs = s + 1;
        hl = (size_t)(close - hs);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon)
            return -EINVAL;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || strpbrk(colon + 1, " \t") || !colon[1])
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno || *end || p == 0 || p > 65535)
        return -EINVAL;
    *host = xstrndup(hs, hl);
    *port = (uint16_t)p;
    return 0;
}

static char *read_secret_file(const char *path, int *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        *err = errno;
        return NULL;
    }
    char line[1024];
    char *s = fgets(line, sizeof line, f);
    fclose(f);
    if (!s) {
        *err = ENODATA;
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    if (!*line) {
        *err = ENODATA;
        return NULL;
    }
    return xstrdup(line);
}

static void set_string(struct cfg *c, size_t off, char *v)
{
    char **slot = (char **)(void *)((char *)c + off);
    free(*slot);
    *slot = v;
}

/* Parse value into the cfg field of k. Returns NULL or a static-ish message. */
static const char *assign(struct cfg *c, const struct key *k, const char *v, char *why,
                          size_t whylen)
{
    void *field = (char *)c + k->off;
    uint64_t n = 0;
    int r;
    switch (k->type) {
    case K_DURABILITY:
        if (strcmp(v, "commit") == 0)
            *(bool *)field = true;
        else if (strcmp(v, "async") == 0)
            *(bool *)field = false;
        else
            return "must be commit or async";
        return NULL;
    case K_UINT: {
        char *end = NULL;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        if (!*v || *v == '-' || *end || errno)
            return "must be a whole number";
        if (u < k->min || u > k->max) {
            snprintf(why, whylen, "is out of range (%" PRIu64 " to %" PRIu64 ")", k->min, k->max);
            return why;
        }
        *(uint64_t *)field = u;
        return NULL;
    }
    case K_BOOL:
        if (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0 ||
            strcasecmp(v, "on") == 0)
            *(bool *)field = true;
        else if (strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
                 strcmp(v, "0") == 0 || strcasecmp(v, "off") == 0)
            *(bool *)field = false;
        else
            return "must be true or false";
        return NULL;
    case K_MUCPOLICY: {
        /* The service policy's own parser (policy.h): [muc] gives its defaults. */
        struct muc_policy p = { 0 };
        char *bad = NULL;
        int rc = policy_set(&p, k->name, v, &bad);
        free(bad);
        if (rc < 0)
            return strcmp(k->name, "create_persistent") == 0
                       ? "must be anyone, creators or admins"
                       : "must be all, none, or room settings (docs/configuration.md)";
        set_string(c, k->off, xstrdup(v));
        return NULL;
    }
    case K_STRING:
    case K_SECRET:
        if (k->type == K_SECRET && !*v)
            return "must not be empty";
        set_string(c, k->off, xstrdup(v));
        return NULL;
    case K_LISTEN: {
        char *host = NULL;
        uint16_t port = 0;
        unsigned char addr[16];
        bool numeric = *v && cfg_parse_hostport(v, &host, &port) == 0 &&
                       (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1);
        free(host);
        if (*v && !numeric)
            return "must be empty (off) or a numeric ip:port such as 127.0.0.1:9850 ([addr]:port for IPv6)";
        set_string(c, k->off, xstrdup(v));
        return NULL;
    }
    case K_SECRET_FILE: {
        int e = 0;
        char *s = read_secret_file(v, &e);
        if (!s) {
            snprintf(why, whylen, "cannot read a secret from %s: %s", v,
                     e == ENODATA ? "the file is empty" : strerror(e));
            return why;
        }
        set_string(c, k->off, s);
        return NULL;
    }
    case K_MULTICAST: /* auto | off | the service's JID (issue 15) */
        if (strcmp(v, "auto") == 0 || strcmp(v, "off") == 0 || !*v) {
            set_string(c, k->off, xstrdup(*v ? v : "off"));
            return NULL;
        }
        /* fall through - a service JID is a domain */
    case K_DOMAIN: {
        char *d = NULL;
        if (!*v && k->def && !*k->def) { /* an optional domain: "" is unset */
            set_string(c, k->off, xstrdup(""));
            return NULL;
        }
        if (jid_prep_domain(v, &d) < 0)
            return k->type == K_MULTICAST ? "must be auto, off or a service's JID (a domain)"
                                           : "is not a valid domain name";
        set_string(c, k->off, d);
        return NULL;
    }
    case K_ROUTER: {
        struct cfg_endpoint *ep = field;
        char *host = NULL;
        uint16_t port = 0;
        if (cfg_parse_hostport(v, &host, &port) < 0)
            return "must be host:port (for IPv6: [addr]:port) with a port from 1 to 65535";
        free(ep->host);
        ep->host = host;
        ep->port = port;
        return NULL;
    }
    case K_DURATION:
    case K_SIZE:
        r = k->type == K_DURATION ? cfg_parse_duration_ms(v, &n) : cfg_parse_size(v, &n);
        if (r < 0)
            return k->type == K_DURATION ? "must be a duration such as 500ms, 5s, 2m or 1h"
                                         : "must be a size such as 4096, 64KiB or 16MiB";
        if (n < k->min || n > k->max) {
            snprintf(why, whylen, "is out of range (%" PRIu64 " to %" PRIu64 " %s)", k->min,
                     k->max, k->type == K_DURATION ? "ms" : "bytes");
            return why;
        }
        *(uint64_t *)field = n;
        return NULL;
    case K_POLICY:
        if (strcmp(v, "relaxed") == 0)
            *(enum cfg_policy *)field = CFG_POLICY_RELAXED;
        else if (strcmp(v, "strict") == 0)
            *(enum cfg_policy *)field = CFG_POLICY_STRICT;
        else
            return "must be relaxed or strict";
        return NULL;
    case K_LOGLEVEL:
        if (log_level_parse(v, field) < 0)
            return "must be error, warn, info, debug or trace";
        return NULL;
    }
    return "has an unknown type";
}

static bool section_known(const char *section)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (strcmp(keys[i].section, section) == 0)
            return true;
    return false;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *p = user;
    if (!section_known(section)) {
        error_at(p, p->line, "unknown section [%s]", section);
        return 1;
    }
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const struct key *k = &keys[i];
        if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
            continue;
        if (p->seen[i]) {
            error_at(p, p->line, "[%s] %s is set twice (first at line %d)", section, name,
                     p->seen[i]);
            return 1;
        }
        p->seen[i] = p->line;
        char why[256];
        const char *err = assign(p->out, k, value, why, sizeof why);
        if (err)
            error_at(p, p->line, "[%s] %s %s", section, name, err);
        return 1;
    }
    error_at(p, p->line, "unknown key '%s' in section [%s]", name, section);
    return 1;
}

/* inih stops reporting after its first error; we check every line's shape
 * ourselves so that each syntax error gets its own FILE:LINE. */
static void check_line_syntax(struct parse_ctx *p, const char *line)
{
    const char *s = line + strspn(line, " \t\r\n");
    if (!*s || *s == ';' || *s == '#')
        return;
    if (*s == '[') {
        if (!strchr(s, ']'))
            error_at(p, p->line, "syntax error: section header without ']'");
        return;
    }
    if (!strchr(s, '=') && !strchr(s, ':'))
        error_at(p, p->line, "syntax error: expected [section] or key = value");
}

/* inih reads line by line through us, so we always know the current line. */
static char *read_line(char *str, int num, void *stream)
{
    struct parse_ctx *p = stream;
    char *r;
    if (p->fp) {
        r = fgets(str, num, p->fp);
    } else {
        if (!*p->text)
            return NULL;
        size_t n = strcspn(p->text, "\n");
        if (p->text[n] == '\n')
            n++;
        if (n > (size_t)num - 1)
            n = (size_t)num - 1;
        memcpy(str, p->text, n);
        str[n] = '\0';
        p->text += n;
        r = str;
    }
    if (r) {
        p->line++;
        check_line_syntax(p, r);
    }
    return r;
}

static void apply_defaults(struct parse_ctx *p)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const struct key *k = &keys[i];
        if (p->seen[i] || !k->def)
            continue;
        char why[256];
        const char *err = assign(p->out, k, k->def, why, sizeof why);
        if (err)
            error_at(p, 0, "built-in default of [%s] %s %s", k->section, k->name, err);
    }
}

static int seen_line(const struct parse_ctx *p, const char *section, const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return p->seen[i];
    return 0;
}

/* Checkpoints need both the key and the file; the key must be the archiver's
 * alone (checkpoint.h): refused here, so --check-config and a reload say so
 * with the line that names it. */
static void check_checkpoint_keys(struct parse_ctx *p)
{
    const char *key = p->out->archiver_checkpoint_key, *file = p->out->archiver_checkpoint_file;
    int kl = seen_line(p, "archiver", "checkpoint_key"), fl = seen_line(p, "archiver", "checkpoint_file");
    if (!*key != !*file) {
        error_at(p, *key ? kl : fl, "[archiver] checkpoint_key and checkpoint_file go together; "
                 "set both or neither");
        return;
    }
    char why[200];
    if (*key && checkpoint_key_mode_ok(key, why, sizeof why) < 0)
        error_at(p, kl, "[archiver] checkpoint_key %s: %s", key, why);
}

static void check_required(struct parse_ctx *p, enum cfg_role role)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const struct key *k = &keys[i];
        if (p->seen[i] || !(k->required & ROLE(role)))
            continue;
        /* A secret may come from secret_file instead. */
        if (k->type == K_SECRET && seen_line(p, k->section, "secret_file"))
            continue;
        error_at(p, 0, "[%s] %s is required", k->section, k->name);
    }
    const char *secs[] = { "component", "archiver" };
    for (size_t i = 0; i < ARRAY_SIZE(secs); i++) {
        int a = seen_line(p, secs[i], "secret"), b = seen_line(p, secs[i], "secret_file");
        if (a && b)
            error_at(p, b, "[%s] secret_file and secret (line %d) are both set; keep one",
                     secs[i], a);
    }
    if (role == CFG_ROLE_ARCHIVER)
        check_checkpoint_keys(p);
    if (p->out->link.reconnect_min_ms > p->out->link.reconnect_max_ms)
        error_at(p, seen_line(p, "link", "reconnect_min"),
                 "[link] reconnect_min is larger than reconnect_max");
}

static int run(struct parse_ctx *p, enum cfg_role role, char **err)
{
    int r = ini_parse_stream(read_line, p, on_key, p);
    if (r > 0 && p->errors.len == 0)
        error_at(p, r, "syntax error");
    else if (r < 0)
        error_at(p, 0, "cannot parse the file");
    if (p->errors.len == 0) {
        apply_defaults(p);
        check_required(p, role);
    }
    if (p->errors.len) {
        *err = buf_steal(&p->errors, NULL);
        cfg_free(p->out);
        return -EINVAL;
    }
    buf_free(&p->errors);
    *err = NULL;
    return 0;
}

static void init_ctx(struct parse_ctx *p, const char *name, struct cfg *out)
{
    memset(p, 0, sizeof *p);
    memset(out, 0, sizeof *out);
    p->name = name;
    p->out = out;
    buf_init(&p->errors);
    out->path = xstrdup(name);
}

int cfg_load(const char *path, enum cfg_role role, struct cfg *out, char **err)
{
    struct parse_ctx p;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        int e = errno;
        *err = xasprintf("%s: cannot open: %s", path, strerror(e));
        memset(out, 0, sizeof *out);
        return -e;
    }
    init_ctx(&p, path, out);
    p.fp = fp;
    int r = run(&p, role, err);
    fclose(fp);
    return r;
}

int cfg_load_string(const char *name, const char *text, enum cfg_role role, struct cfg *out,
                    char **err)
{
    struct parse_ctx p;
    init_ctx(&p, name, out);
    p.text = text;
    return run(&p, role, err);
}

static void endpoint_free(struct cfg_endpoint *e)
{
    free(e->domain);
    free(e->host);
    free(e->tls_ca);
    free(e->tls_verify_name);
    if (e->secret)
        memset(e->secret, 0, strlen(e->secret));
    free(e->secret);
}

void cfg_free(struct cfg *c)
{
    if (!c)
        return;
    free(c->path);
    endpoint_free(&c->component);
    endpoint_free(&c->archiver);
    free(c->service_name);
    free(c->muc.admins);
    free(c->muc.create_persistent);
    free(c->muc.owners_may_change);
    free(c->storage_dsn);
    free(c->storage_fts_language);
    free(c->compliance_archiver);
    free(c->multicast);
    free(c->archiver_dsn);
    free(c->archiver_senders);
    free(c->archiver_room_services);
    free(c->archiver_checkpoint_key);
    free(c->archiver_checkpoint_file);
    free(c->metrics_listen);
    free(c->metrics_archiver_listen);
    char **ldap[] = { &c->ldap.uri, &c->ldap.bind_dn, &c->ldap.bind_password_file,
                      &c->ldap.base, &c->ldap.jid_attribute, &c->ldap.jid_domain };
    for (size_t i = 0; i < ARRAY_SIZE(ldap); i++)
        free(*ldap[i]);
    memset(c, 0, sizeof *c);
}

static bool str_differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

static bool key_differs(const struct key *k, const struct cfg *a, const struct cfg *b)
{
    const void *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;
    switch (k->type) {
    case K_STRING: case K_DOMAIN: case K_SECRET: case K_SECRET_FILE: case K_LISTEN: case K_MULTICAST:
    case K_MUCPOLICY:
        return str_differs(*(char *const *)fa, *(char *const *)fb);
    case K_ROUTER: {
        const struct cfg_endpoint *ea = fa, *eb = fb;
        return str_differs(ea->host, eb->host) || ea->port != eb->port;
    }
    case K_DURATION: case K_SIZE: case K_UINT:
        return *(const uint64_t *)fa != *(const uint64_t *)fb;
    case K_BOOL: case K_DURABILITY:
        return *(const bool *)fa != *(const bool *)fb;
    case K_POLICY:
        return *(const enum cfg_policy *)fa != *(const enum cfg_policy *)fb;
    case K_LOGLEVEL:
        return *(const enum log_level *)fa != *(const enum log_level *)fb;
    }
    return false;
}

static void copy_key(const struct key *k, struct cfg *dst, const struct cfg *src)
{
    void *fd = (char *)dst + k->off;
    const void *fs = (const char *)src + k->off;
    switch (k->type) {
    case K_STRING: case K_MUCPOLICY:
        set_string(dst, k->off, xstrdup(*(char *const *)fs ? *(char *const *)fs : ""));
        break;
    case K_DURATION: case K_SIZE: case K_UINT:
        *(uint64_t *)fd = *(const uint64_t *)fs;
        break;
    case K_BOOL:
        *(bool *)fd = *(const bool *)fs;
        break;
    case K_LOGLEVEL:
        *(enum log_level *)fd = *(const enum log_level *)fs;
        break;
    default: /* no other type is reloadable */
        break;
    }
}

void cfg_apply_reload(struct cfg *live, const struct cfg *fresh)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const struct key *k = &keys[i];
        if (k->type == K_SECRET_FILE || !key_differs(k, live, fresh))
            continue;
        if (k->reloadable) {
            copy_key(k, live, fresh);
            log_info("reload: [%s] %s changed", k->section, k->name);
        } else {
            log_warn("reload: [%s] %s changed; it takes effect only after a restart",
                     k->section, k->name);
        }
    }
}
