/* ctl_principal.c — who a category's lists name (Lync's principals), as the
 * operator types them: a bare JID `user@example.com`, a whole domain
 * `domain:example.com`, a group `group:NAME`, or `everyone`. JIDs and domains
 * are prepared with jid.c, so the stored text is what confabd compares. */
#include "compat.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "jid.h"
#include "mem.h"

#define SYNTAX "user@domain, domain:DOMAIN, group:NAME or everyone"

bool ctl_group_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > CTL_GROUP_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
            return false;
    return true;
}

static int bad(const char *arg, const char *why)
{
    ctl_err("principal '%s': %s (expected " SYNTAX ")", arg, why);
    return EX_DATAERR;
}

static int parse_domain(const char *arg, const char *domain, struct ctl_principal *p)
{
    char *prepared = NULL;
    if (!*domain || strchr(domain, '@') || strchr(domain, '/') ||
        jid_prep_domain(domain, &prepared) < 0)
        return bad(arg, "not a valid domain");
    p->kind = "domain";
    p->name = prepared;
    return 0;
}

static int parse_jid(const char *arg, struct ctl_principal *p)
{
    struct jid j;
    if (jid_parse(&j, arg) < 0)
        return bad(arg, "not a valid JID");
    bool ok = j.node && !j.resource;
    if (ok)
        p->name = jid_format(&j, true);
    jid_clear(&j);
    if (!ok)
        return bad(arg, "a user is a bare JID user@domain (no /resource)");
    p->kind = "jid";
    return 0;
}

int ctl_principal_parse(const char *arg, struct ctl_principal *p)
{
    *p = (struct ctl_principal){ 0 };
    if (strcmp(arg, "everyone") == 0) {
        p->kind = "everyone";
        p->name = xstrdup("");
        return 0;
    }
    if (strncmp(arg, "group:", 6) == 0) {
        if (!ctl_group_name_valid(arg + 6))
            return bad(arg, "a group name is 1-64 letters, digits, '.', '_' or '-'");
        p->kind = "group";
        p->name = xstrdup(arg + 6);
        return 0;
    }
    if (strncmp(arg, "domain:", 7) == 0)
        return parse_domain(arg, arg + 7, p);
    if (arg[0] == '@')
        return bad(arg, "write a whole domain as domain:DOMAIN");
    if (!strchr(arg, '@'))
        return bad(arg, "a user needs user@domain; a whole domain is domain:DOMAIN");
    return parse_jid(arg, p);
}

void ctl_principal_clear(struct ctl_principal *p)
{
    free(p->name);
    *p = (struct ctl_principal){ 0 };
}
