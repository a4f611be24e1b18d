/* policy.h — the MUC service's policy (issue 16 item 6, Cisco IM&P's persistent
 * chat settings): who may create persistent rooms, how many rooms, the default
 * occupancy and which settings room owners may change. [muc] keys give the
 * defaults; rows of the chat database's `policy` table (confabctl policy set)
 * override them in running confabds. Pure: confabd, confabctl and cfg.c share it. */
#ifndef CONFAB_POLICY_H
#define CONFAB_POLICY_H

#include <stddef.h>
#include <stdint.h>

enum policy_create { POLICY_CREATE_ANYONE, POLICY_CREATE_CREATORS, POLICY_CREATE_ADMINS };

/* Room settings owners may be allowed to change (bits of owners_may_change),
 * named as confabctl and [muc] owners_may_change name them. */
enum policy_setting {
    SETTING_NAME, SETTING_DESCRIPTION, SETTING_LANG, SETTING_PERSISTENT, SETTING_PUBLIC,
    SETTING_MEMBERS_ONLY, SETTING_MODERATED, SETTING_PASSWORD, SETTING_WHOIS, SETTING_SUBJECT,
    SETTING_INVITES, SETTING_PM, SETTING_MAX_OCCUPANTS, SETTING_PRESENCE_BROADCAST,
    SETTING_MEMBER_LIST, SETTING_HISTORY, SETTING_LOGGING, SETTING_CATEGORY, SETTING_COUNT
};
#define POLICY_ALL_SETTINGS ((1u << SETTING_COUNT) - 1)

struct muc_policy {
    enum policy_create create_persistent;
    uint64_t max_rooms;              /* 0 = unlimited */
    uint64_t max_rooms_per_user;     /* 0 = unlimited */
    uint64_t default_max_occupants;  /* of a new room; 0 = the service maximum */
    unsigned owners_may_change;      /* bit per enum policy_setting */
};

/* The i-th key (confabctl policy show lists them in this order), NULL past the last. */
const char *policy_key(size_t i);

const char *policy_setting_name(enum policy_setting s);
/* Set key to value (as text). 0, or -EINVAL with *why (to free) saying what is wrong. */
int policy_set(struct muc_policy *p, const char *key, const char *value, char **why);
/* key's value as text (to free), or NULL for an unknown key. */
char *policy_get(const struct muc_policy *p, const char *key);

#endif
