/* ctl_ldap.c — the members of an LDAP group filter as bare JIDs, for confabctl
 * group sync. OpenLDAP's libldap, synchronous: a CLI may block, the daemons
 * never link this.
 *
 * The filter's entries are read three ways, so both common directory shapes
 * work: a group entry with `member`/`uniqueMember` DNs (groupOfNames,
 * groupOfUniqueNames) contributes the users those DNs name; one with
 * `memberUid` (posixGroup) the users with that uid under [ldap] base; any other
 * entry is a user itself (a plain user filter, or `(memberOf=...)` where the
 * directory keeps it). A user's JID is its [ldap] jid_attribute (default
 * `mail`), or that value + "@" + jid_domain when jid_domain is set (e.g. uid). */
#include "compat.h"

#include <errno.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "ctl.h"
#include "jid.h"
#include "mem.h"

struct ldap_run {
    const struct cfg_ldap *cfg;
    LDAP *ld;
    struct timeval timeout;
    char **jids;
    size_t n, cap, skipped;
};

/* ---- results ---- */

static void add_jid(struct ldap_run *r, const char *value, size_t len)
{
    char *text = r->cfg->jid_domain && *r->cfg->jid_domain
                     ? xasprintf("%.*s@%s", (int)len, value, r->cfg->jid_domain)
                     : xstrndup(value, len);
    struct jid j;
    bool ok = jid_parse(&j, text) == 0 && j.node && !j.resource;
    if (ok) {
        if (r->n == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 64;
            r->jids = xrealloc(r->jids, r->cap * sizeof *r->jids);
        }
        r->jids[r->n++] = jid_format(&j, true);
    } else {
        r->skipped++;
    }
    jid_clear(&j);
    free(text);
}

/* The JID of a user entry (its first jid_attribute value). */
static void take_user(struct ldap_run *r, LDAPMessage *e)
{
    struct berval **vals = ldap_get_values_len(r->ld, e, r->cfg->jid_attribute);
    if (vals && vals[0])
        add_jid(r, vals[0]->bv_val, vals[0]->bv_len);
    else
        r->skipped++;
    ldap_value_free_len(vals);
}

/* ---- searching ---- */

static int search(struct ldap_run *r, const char *base, int scope, const char *filter,
                  char **attrs, LDAPMessage **res)
{
    int rc = ldap_search_ext_s(r->ld, base, scope, filter, attrs, 0, NULL, NULL, &r->timeout, 0,
                               res);
    if (rc == LDAP_SUCCESS)
        return 0; /* a size limit is an error too: a cut list would drop members */
    if (rc == LDAP_NO_SUCH_OBJECT && scope == LDAP_SCOPE_BASE) {
        ldap_msgfree(*res);
        *res = NULL;
        return 0; /* a member DN that names no entry: skipped by the caller */
    }
    ctl_err("LDAP search of '%s' under '%s': %s", filter, base, ldap_err2string(rc));
    ldap_msgfree(*res);
    *res = NULL;
    return rc == LDAP_FILTER_ERROR ? EX_DATAERR
           : rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT ? EX_UNAVAILABLE : CTL_FAIL;
}

/* Each user found by (base, scope, filter). */
static int users_of(struct ldap_run *r, const char *base, int scope, const char *filter)
{
    char *attrs[] = { (char *)r->cfg->jid_attribute, NULL };
    LDAPMessage *res = NULL;
    int rc = search(r, base, scope, filter, attrs, &res);
    size_t found = 0;
    for (LDAPMessage *e = res ? ldap_first_entry(r->ld, res) : NULL; e;
         e = ldap_next_entry(r->ld, e), found++)
        take_user(r, e);
    if (rc == 0 && found == 0)
        r->skipped++; /* a member that is not (or no longer) in the directory */
    ldap_msgfree(res);
    return rc;
}

static int member_dns(struct ldap_run *r, struct berval **dns)
{
    int rc = 0;
    for (size_t i = 0; dns && dns[i] && rc == 0; i++) {
        char *dn = xstrndup(dns[i]->bv_val, dns[i]->bv_len);
        rc = users_of(r, dn, LDAP_SCOPE_BASE, "(objectClass=*)");
        free(dn);
    }
    return rc;
}

static int member_uids(struct ldap_run *r, struct berval **uids)
{
    int rc = 0;
    for (size_t i = 0; uids && uids[i] && rc == 0; i++) {
        struct berval esc = { 0 };
        if (ldap_bv2escaped_filter_value(uids[i], &esc) != 0)
            return CTL_FAIL;
        char *f = xasprintf("(uid=%s)", esc.bv_val);
        ber_memfree(esc.bv_val);
        rc = users_of(r, r->cfg->base, LDAP_SCOPE_SUBTREE, f);
        free(f);
    }
    return rc;
}

/* One entry of the group filter: a group (its members) or a user. */
static int take_entry(struct ldap_run *r, LDAPMessage *e)
{
    static const char *const member_attrs[] = { "member", "uniqueMember" };
    bool group = false;
    int rc = 0;
    for (size_t i = 0; i < ARRAY_SIZE(member_attrs) && rc == 0; i++) {
        struct berval **v = ldap_get_values_len(r->ld, e, member_attrs[i]);
        group = group || v;
        rc = member_dns(r, v);
        ldap_value_free_len(v);
    }
    struct berval **uids = ldap_get_values_len(r->ld, e, "memberUid");
    group = group || uids;
    if (rc == 0)
        rc = member_uids(r, uids);
    ldap_value_free_len(uids);
    if (!group)
        take_user(r, e);
    return rc;
}

/* ---- connecting ---- */

static int read_password(const struct cfg *cfg, struct berval *cred)
{
    const char *path = cfg->ldap.bind_password_file;
    *cred = (struct berval){ 0 };
    if (!path || !*path)
        return 0;
    FILE *f = fopen(path, "r");
    char line[1024];
    bool got = f && fgets(line, sizeof line, f);
    int err = errno;
    if (f)
        fclose(f);
    if (!got) {
        ctl_err("%s: [ldap] bind_password_file %s: %s", cfg->path, path,
                f ? "the file is empty" : strerror(err));
        return EX_CONFIG;
    }
    line[strcspn(line, "\r\n")] = '\0';
    cred->bv_val = xstrdup(line);
    cred->bv_len = strlen(line);
    memset(line, 0, sizeof line);
    return 0;
}

static int set_options(struct ldap_run *r)
{
    int version = LDAP_VERSION3;
    int seconds = (int)((r->cfg->timeout_ms + 999) / 1000);
    r->timeout = (struct timeval){ .tv_sec = seconds };
    ldap_set_option(r->ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(r->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(r->ld, LDAP_OPT_NETWORK_TIMEOUT, &r->timeout);
    ldap_set_option(r->ld, LDAP_OPT_TIMEOUT, &r->timeout);
    if (!r->cfg->starttls)
        return 0;
    int rc = ldap_start_tls_s(r->ld, NULL, NULL);
    if (rc == LDAP_SUCCESS)
        return 0;
    ctl_err("LDAP StartTLS with %s: %s", r->cfg->uri, ldap_err2string(rc));
    return EX_UNAVAILABLE;
}

static int bind_as(struct ldap_run *r, const struct cfg *cfg)
{
    struct berval cred;
    int rc = read_password(cfg, &cred);
    if (rc)
        return rc;
    const char *dn = r->cfg->bind_dn && *r->cfg->bind_dn ? r->cfg->bind_dn : NULL;
    int lrc = ldap_sasl_bind_s(r->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
    if (cred.bv_val)
        memset(cred.bv_val, 0, cred.bv_len);
    free(cred.bv_val);
    if (lrc == LDAP_SUCCESS)
        return 0;
    ctl_err("LDAP bind to %s as %s: %s", r->cfg->uri, dn ? dn : "anonymous",
            ldap_err2string(lrc));
    return lrc == LDAP_SERVER_DOWN || lrc == LDAP_TIMEOUT || lrc == LDAP_CONNECT_ERROR
               ? EX_UNAVAILABLE : EX_CONFIG;
}

static int open_directory(struct ldap_run *r, const struct cfg *cfg)
{
    if (!r->cfg->uri || !*r->cfg->uri || !r->cfg->base || !*r->cfg->base) {
        ctl_err("%s: [ldap] uri and base must be set to synchronise groups from LDAP",
                cfg->path);
        return EX_CONFIG;
    }
    int lrc = ldap_initialize(&r->ld, r->cfg->uri);
    if (lrc != LDAP_SUCCESS) {
        ctl_err("%s: [ldap] uri %s: %s", cfg->path, r->cfg->uri, ldap_err2string(lrc));
        return EX_CONFIG;
    }
    int rc = set_options(r);
    return rc ? rc : bind_as(r, cfg);
}

int ctl_ldap_members(const struct cfg *cfg, const char *filter, char ***jids, size_t *n,
                     size_t *skipped)
{
    struct ldap_run r = { .cfg = &cfg->ldap };
    int rc = open_directory(&r, cfg);
    char *attrs[] = { (char *)cfg->ldap.jid_attribute, "member", "uniqueMember", "memberUid",
                      NULL };
    LDAPMessage *res = NULL;
    if (rc == 0)
        rc = search(&r, cfg->ldap.base, LDAP_SCOPE_SUBTREE, filter, attrs, &res);
    for (LDAPMessage *e = res ? ldap_first_entry(r.ld, res) : NULL; e && rc == 0;
         e = ldap_next_entry(r.ld, e))
        rc = take_entry(&r, e);
    ldap_msgfree(res);
    if (r.ld)
        ldap_unbind_ext_s(r.ld, NULL, NULL);
    if (rc) {
        for (size_t i = 0; i < r.n; i++)
            free(r.jids[i]);
        free(r.jids);
        return rc;
    }
    *jids = r.jids;
    *n = r.n;
    *skipped = r.skipped;
    return 0;
}
