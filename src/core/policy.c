/* policy.c — the MUC service policy's keys, parsed and printed (policy.h). */
#include "compat.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"
#include "policy.h"


static const char *const create_names[] = { "anyone", "creators", "admins" };

/* Index = enum policy_setting. */
static const char *const setting_names[SETTING_COUNT] = {
    "name", "description", "lang", "persistent", "public", "members_only", "moderated",
    "password", "whois", "subject", "invites", "pm", "max_occupants", "presence_broadcast",
    "member_list", "history", "logging", "category",
};

const char *policy_setting_name(enum policy_setting s)
{
    return (unsigned)s < SETTING_COUNT ? setting_names[s] : "?";
}

__attribute__((format(printf, 2, 3))) static int fail(char **why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(why, fmt, ap) < 0)
        abort();
    va_end(ap);
    return -EINVAL;
}

static int parse_count(const char *v, uint64_t *out, char **why)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-' || n > 100000000ULL)
        return fail(why, "'%s' is not a whole number from 0 to 100000000", v);
    *out = n;
    return 0;
}

static int parse_create(const char *v, enum policy_create *out, char **why)
{
    for (size_t i = 0; i < ARRAY_SIZE(create_names); i++)
        if (strcmp(v, create_names[i]) == 0) {
            *out = (enum policy_create)i;
            return 0;
        }
    return fail(why, "'%s' is not anyone, creators or admins", v);
}

static int setting_index(const char *name)
{
    for (int i = 0; i < SETTING_COUNT; i++)
        if (strcmp(name, setting_names[i]) == 0)
            return i;
    return -1;
}

/* "all", "none", or setting names separated by commas or spaces. */
static int parse_settings(const char *v, unsigned *out, char **why)
{
    if (strcmp(v, "all") == 0) {
        *out = POLICY_ALL_SETTINGS;
        return 0;
    }
    unsigned set = 0;
    char *copy = xstrdup(v), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, ", \t", &save); t && rc == 0; t = strtok_r(NULL, ", \t", &save)) {
        int i = strcmp(t, "none") == 0 ? -2 : setting_index(t);
        if (i == -1)
            rc = fail(why, "'%s' is not a room setting (name, description, lang, persistent, "
                      "public, members_only, moderated, password, whois, subject, invites, pm, "
                      "max_occupants, presence_broadcast, member_list, history, logging, "
                      "category; or all, none)", t);
        else if (i >= 0)
            set |= 1u << i;
    }
    free(copy);
    if (rc == 0)
        *out = set;
    return rc;
}

static char *settings_text(unsigned set)
{
    if (set == POLICY_ALL_SETTINGS)
        return xstrdup("all");
    if (set == 0)
        return xstrdup("none");
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < SETTING_COUNT; i++) {
        if (!(set & (1u << i)))
            continue;
        if (b.len)
            buf_putc(&b, ',');
        buf_puts(&b, setting_names[i]);
    }
    size_t len;
    return buf_steal(&b, &len);
}

/* The keys: how each is read and printed, where it lives. */
enum pkind { P_CREATE, P_COUNT, P_SETTINGS };
static const struct {
    const char *key;
    enum pkind kind;
    size_t off;
} table[] = {
    { "create_persistent", P_CREATE, offsetof(struct muc_policy, create_persistent) },
    { "max_rooms", P_COUNT, offsetof(struct muc_policy, max_rooms) },
    { "max_rooms_per_user", P_COUNT, offsetof(struct muc_policy, max_rooms_per_user) },
    { "default_max_occupants", P_COUNT, offsetof(struct muc_policy, default_max_occupants) },
    { "owners_may_change", P_SETTINGS, offsetof(struct muc_policy, owners_may_change) },
};

#define AT(p, i, type) ((type *)((char *)(p) + table[i].off))

static int find_key(const char *key)
{
    for (size_t i = 0; key && i < ARRAY_SIZE(table); i++)
        if (strcmp(table[i].key, key) == 0)
            return (int)i;
    return -1;
}

int policy_set(struct muc_policy *p, const char *key, const char *value, char **why)
{
    *why = NULL;
    int i = find_key(key);
    if (i < 0)
        return fail(why, "'%s' is not a policy key (create_persistent, max_rooms, "
                    "max_rooms_per_user, default_max_occupants, owners_may_change)",
                    key ? key : "");
    if (!value)
        return fail(why, "%s needs a value", key);
    switch (table[i].kind) {
    case P_CREATE:
        return parse_create(value, AT(p, i, enum policy_create), why);
    case P_COUNT:
        return parse_count(value, AT(p, i, uint64_t), why);
    case P_SETTINGS:
        return parse_settings(value, AT(p, i, unsigned), why);
    }
    return -EINVAL;
}

char *policy_get(const struct muc_policy *p, const char *key)
{
    int i = find_key(key);
    if (i < 0)
        return NULL;
    switch (table[i].kind) {
    case P_CREATE:
        return xstrdup(create_names[*AT(p, i, const enum policy_create)]);
    case P_COUNT:
        return xasprintf("%" PRIu64, *AT(p, i, const uint64_t));
    case P_SETTINGS:
        return settings_text(*AT(p, i, const unsigned));
    }
    return NULL;
}

const char *policy_key(size_t i)
{
    return i < ARRAY_SIZE(table) ? table[i].key : NULL;
}
