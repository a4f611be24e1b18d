/* §10: the owner configures the room (muc#roomconfig) and may destroy it. */
#include "compat.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compliance.h"
#include "form.h"
#include "jid.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

#define F(name) "muc#roomconfig_" name

static const enum muc_role all_roles[] = { ROLE_MODERATOR, ROLE_PARTICIPANT, ROLE_VISITOR };

static void add_role_list(struct xml_node *x, const char *var, const char *label, unsigned set,
                          bool with_none)
{
    struct xml_node *f = form_add_field(x, "list-multi", var, label, NULL);
    if (with_none) {
        form_add_option(f, "none (registered members who are away)", "none");
        if (set & ROLE_BIT(ROLE_NONE))
            form_add_value(f, "none");
    }
    for (size_t i = 0; i < ARRAY_SIZE(all_roles); i++) {
        form_add_option(f, perm_role_name(all_roles[i]), perm_role_name(all_roles[i]));
        if (set & ROLE_BIT(all_roles[i]))
            form_add_value(f, perm_role_name(all_roles[i]));
    }
}

static void add_jid_list(struct xml_node *x, const struct room *room, const char *var,
                         const char *label, enum muc_affil which)
{
    struct xml_node *f = form_add_field(x, "jid-multi", var, label, NULL);
    for (const struct affiliation *a = room->affiliations; a; a = a->hh.next)
        if (a->affil == which)
            form_add_value(f, a->jid);
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}

/* Offered maxusers values: the usual steps below the service cap, the cap itself
 * and the room's current value, ascending and without duplicates. */
static size_t maxusers_options(unsigned cap, unsigned cur, unsigned out[10])
{
    static const unsigned steps[] = { 10, 20, 30, 50, 100, 200, 500, 1000 };
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++)
        if (!cap || steps[i] < cap)
            out[n++] = steps[i];
    if (cap)
        out[n++] = cap;
    if (cur)
        out[n++] = cur;
    qsort(out, n, sizeof *out, cmp_unsigned);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!k || out[k - 1] != out[i])
            out[k++] = out[i];
    return k;
}

/* §15.5.3 registers maxusers as list-single: the options, with "none" (the service
 * maximum) only when the service has no cap. */
static void add_maxusers(struct xml_node *x, const struct muc *m, const struct room *room)
{
    unsigned cap = m->lim.max_occupants, cur = room_max_users(m, room);
    char v[16];
    snprintf(v, sizeof v, "%u", cur);
    struct xml_node *f = form_add_field(x, "list-single", F("maxusers"),
                                        "Maximum number of occupants", cur ? v : "none");
    unsigned opts[10];
    size_t n = maxusers_options(cap, cur, opts);
    for (size_t i = 0; i < n; i++) {
        snprintf(v, sizeof v, "%u", opts[i]);
        form_add_option(f, v, v);
    }
    if (!cap)
        form_add_option(f, "No limit", "none");
}

/* Every field has the var and type XEP-0045 §15.5.3 registers (checked against the
 * XEP text by test_form_registry). The history length is muc#maxhistoryfetch,
 * the registered name; Prosody's unregistered muc#roomconfig_historylength is
 * still read on submit. */
/* The room's category (wall.h): the viewer (NULL: none, as compliance records
 * the form) may choose among the categories it may create rooms in. */
static void add_category(struct xml_node *x, const struct muc *m, const struct room *room,
                         const char *viewer)
{
    const struct category *cur = wall_category(m, room->category_id);
    struct xml_node *f = form_add_field(x, "list-single", ROOMCONFIG_CATEGORY,
                                        "Category (ethical walls, settings)",
                                        cur ? cur->name : "default");
    for (const struct category *c = m->walls.cats; c; c = c->hh.next)
        if (c == cur || (viewer && wall_may_create(m, c->id, viewer)))
            form_add_option(f, c->name, c->name);
}

static struct xml_node *config_form(const struct muc *m, const struct room *room,
                                    const char *viewer)
{
    const struct room_config *c = &room->cfg;
    char title[600];
    snprintf(title, sizeof title, "Configuration for %s", room->jid);
    struct xml_node *x = form_new("form", NS_MUC_ROOMCONFIG, title,
                                  "Complete this form to configure the room.");
    form_add_field(x, "text-single", F("roomname"), "Natural-language room name", c->name);
    form_add_field(x, "text-single", F("roomdesc"), "Short description of the room", c->desc);
    form_add_field(x, "text-single", F("lang"), "Natural language of discussions", c->lang);
    form_add_bool(x, F("persistentroom"), "Make the room persistent", c->persistent);
    form_add_bool(x, F("publicroom"), "Make the room publicly searchable", c->public_list);
    form_add_bool(x, F("membersonly"), "Make the room members-only", c->members_only);
    form_add_bool(x, F("moderatedroom"), "Make the room moderated", c->moderated);
    form_add_bool(x, F("passwordprotectedroom"), "Password required to enter",
                  c->password_protected);
    form_add_field(x, "text-private", F("roomsecret"), "Password", c->password);
    struct xml_node *f = form_add_field(x, "list-single", F("whois"),
                                        "Who may discover real JIDs", c->whois_anyone
                                            ? "anyone" : "moderators");
    form_add_option(f, "Moderators only", "moderators");
    form_add_option(f, "Anyone", "anyone");
    form_add_bool(x, F("changesubject"), "Allow occupants to change the subject",
                  c->change_subject);
    form_add_bool(x, F("allowinvites"), "Allow occupants to invite others", c->allow_invites);
    f = form_add_field(x, "list-single", F("allowpm"), "Who may send private messages",
                       perm_pm_name(c->allow_pm));
    static const enum muc_pm pms[] = { PM_ANYONE, PM_PARTICIPANTS, PM_MODERATORS, PM_NONE };
    for (size_t i = 0; i < ARRAY_SIZE(pms); i++)
        form_add_option(f, perm_pm_name(pms[i]), perm_pm_name(pms[i]));
    add_maxusers(x, m, room);
    add_role_list(x, F("presencebroadcast"), "Roles whose presence is broadcast",
                  c->presence_broadcast, true);
    add_role_list(x, F("getmemberlist"), "Roles that may retrieve the member list",
                  c->get_member_list, false);
    char num[16];
    snprintf(num, sizeof num, "%u", c->history_length);
    form_add_field(x, "text-single", "muc#maxhistoryfetch", "Messages of history sent on join",
                   num);
    /* The one archive switch: it also decides whether XEP-0313 answers. */
    form_add_bool(x, F("enablelogging"), "Archive the discussion (history search, XEP-0313)",
                  c->logging);
    roomkind_form_fields(x, c);
    add_jid_list(x, room, F("roomadmins"), "Room admins", AFFIL_ADMIN);
    add_jid_list(x, room, F("roomowners"), "Room owners", AFFIL_OWNER);
    add_category(x, m, room, viewer);
    return x;
}

/* ---- applying a submitted form ---- */

struct pending {
    struct room_config cfg;
    int64_t category_id;
    const char *actor;         /* bare JID of who submits */
    char **admins;
    size_t nadmins;
    char **owners;
    size_t nowners;
    bool set_admins;
    bool set_owners;
    int privacy;     /* enum room_privacy submitted, -1: none */
    int type;        /* enum room_type submitted, -1: none */
};

/* A field reader: NULL, or why the value is refused (named with the field in the
 * error text). off is where in struct room_config the generic readers write. */
typedef const char *field_reader(const struct muc *m, const struct form_field *fl,
                                 struct pending *p, size_t off);

#define CFG_AT(p, off, type) ((type *)((char *)&(p)->cfg + (off)))

static const char *read_bool(const struct muc *m, const struct form_field *fl,
                             struct pending *p, size_t off)
{
    struct form one = { .fields = (struct form_field *)fl, .nfields = 1 };
    return form_bool(&one, fl->var, CFG_AT(p, off, bool)) < 0 ? "not a boolean" : NULL;
}

/* Several values (a text-multi sent by an older form) are joined by lines. */
static const char *read_text(const struct muc *m, const struct form_field *fl,
                             struct pending *p, size_t off)
{
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < fl->nvalues; i++) {
        if (i)
            buf_putc(&b, '\n');
        buf_puts(&b, fl->values[i]);
    }
    char **dst = CFG_AT(p, off, char *);
    free(*dst);
    *dst = buf_steal(&b, NULL);
    return NULL;
}

static const char *read_roles(const struct muc *m, const struct form_field *fl,
                              struct pending *p, size_t off)
{
    unsigned set = 0;
    for (size_t i = 0; i < fl->nvalues; i++) {
        enum muc_role r;
        if (perm_role_parse(fl->values[i], &r) < 0)
            return "not a list of moderator, participant, visitor";
        /* "none" in presencebroadcast (Prosody's form offers it): show
         * registered members who are away, as unavailable presences. */
        set |= ROLE_BIT(r);
    }
    *CFG_AT(p, off, unsigned) = set;
    return NULL;
}

static const char *read_whois(const struct muc *m, const struct form_field *fl,
                              struct pending *p, size_t off)
{
    if (!fl->nvalues)
        return NULL;
    const char *v = fl->values[0];
    if (strcmp(v, "anyone") == 0)
        p->cfg.whois_anyone = true;
    else if (strcmp(v, "moderators") == 0)
        p->cfg.whois_anyone = false;
    else
        return "not moderators or anyone";
    return NULL;
}

static const char *read_allowpm(const struct muc *m, const struct form_field *fl,
                                struct pending *p, size_t off)
{
    if (!fl->nvalues)
        return NULL;
    return perm_pm_parse(fl->values[0], &p->cfg.allow_pm) < 0
               ? "not anyone, participants, moderators or none" : NULL;
}

static const char *read_count(const struct form_field *fl, unsigned long max, unsigned *dst)
{
    struct form one = { .fields = (struct form_field *)fl, .nfields = 1 };
    unsigned long n;
    if (!fl->nvalues)
        return NULL;
    int r = form_uint(&one, fl->var, max, &n);
    if (r == -ERANGE)
        return "more than the service allows";
    if (r < 0)
        return "not a number";
    *dst = (unsigned)n;
    return NULL;
}

/* "none" is the service maximum (§10.1.3 offers it as an option). */
static const char *read_maxusers(const struct muc *m, const struct form_field *fl,
                                 struct pending *p, size_t off)
{
    if (fl->nvalues && strcmp(fl->values[0], "none") == 0) {
        p->cfg.max_users = 0;
        return NULL;
    }
    return read_count(fl, m->lim.max_occupants ? m->lim.max_occupants : 1000000,
                      &p->cfg.max_users);
}

static const char *read_history(const struct muc *m, const struct form_field *fl,
                                struct pending *p, size_t off)
{
    return read_count(fl, m->lim.max_history, &p->cfg.history_length);
}

static const char *read_jids(const struct form_field *fl, char ***out, size_t *n, bool *given)
{
    *given = true;
    *out = xcalloc(fl->nvalues ? fl->nvalues : 1, sizeof **out);
    for (size_t i = 0; i < fl->nvalues; i++) {
        struct jid j = { 0 };
        if (jid_parse(&j, fl->values[i]) < 0)
            return "not a list of JIDs";
        (*out)[(*n)++] = jid_format(&j, true);
        jid_clear(&j);
    }
    return NULL;
}

static const char *read_admins(const struct muc *m, const struct form_field *fl,
                               struct pending *p, size_t off)
{
    return read_jids(fl, &p->admins, &p->nadmins, &p->set_admins);
}

static const char *read_owners(const struct muc *m, const struct form_field *fl,
                               struct pending *p, size_t off)
{
    return read_jids(fl, &p->owners, &p->nowners, &p->set_owners);
}

static const char *read_privacy(const struct muc *m, const struct form_field *fl,
                                struct pending *p, size_t off)
{
    enum room_privacy v;
    if (!fl->nvalues || !*fl->values[0])
        return NULL;
    if (roomkind_privacy_parse(fl->values[0], &v) < 0)
        return "not open, closed or secret";
    p->privacy = (int)v;
    return NULL;
}

static const char *read_type(const struct muc *m, const struct form_field *fl,
                             struct pending *p, size_t off)
{
    enum room_type v;
    if (!fl->nvalues)
        return NULL;
    if (roomkind_type_parse(fl->values[0], &v) < 0)
        return "not normal or auditorium";
    p->type = (int)v;
    return NULL;
}

/* A category by name: one that exists, and the room's or one the submitter
 * may create rooms in (wall_may_create). */
static const char *read_category(const struct muc *m, const struct form_field *fl,
                                 struct pending *p, size_t off)
{
    if (!fl->nvalues)
        return NULL;
    const struct category *c = wall_category_named(m, fl->values[0]);
    if (!c)
        return "no such category";
    if (c->id != p->category_id && !wall_may_create(m, c->id, p->actor))
        return "you may not create rooms in that category";
    p->category_id = c->id;
    return NULL;
}

#define AT(member) offsetof(struct room_config, member)

/* The fields a submission may set. Fields not listed are ignored, as XEP-0004
 * lets a form processor do: clients fill in forms of other servers too
 * (Prosody's {http://prosody.im/protocol/muc}roomconfig_allowmemberinvites).
 * Aliases come before the registered field, so that when both are sent the
 * registered one wins: 'mam' (ejabberd) and muc#roomconfig_enablearchiving
 * (Prosody's mod_muc_mam) for enablelogging, Prosody's
 * muc#roomconfig_historylength for muc#maxhistoryfetch. */
static const struct {
    const char *var;
    field_reader *read;
    size_t off;
} config_fields[] = {
    { F("roomname"), read_text, AT(name) },
    { F("roomdesc"), read_text, AT(desc) },
    { F("lang"), read_text, AT(lang) },
    { F("roomsecret"), read_text, AT(password) },
    { F("persistentroom"), read_bool, AT(persistent) },
    { F("publicroom"), read_bool, AT(public_list) },
    { F("membersonly"), read_bool, AT(members_only) },
    { F("moderatedroom"), read_bool, AT(moderated) },
    { F("passwordprotectedroom"), read_bool, AT(password_protected) },
    { F("changesubject"), read_bool, AT(change_subject) },
    { F("allowinvites"), read_bool, AT(allow_invites) },
    { "mam", read_bool, AT(logging) },
    { F("enablearchiving"), read_bool, AT(logging) },
    { F("enablelogging"), read_bool, AT(logging) },
    { F("presencebroadcast"), read_roles, AT(presence_broadcast) },
    { F("getmemberlist"), read_roles, AT(get_member_list) },
    { F("whois"), read_whois, 0 },
    { F("allowpm"), read_allowpm, 0 },
    { F("maxusers"), read_maxusers, 0 },
    { F("historylength"), read_history, 0 },
    { "muc#maxhistoryfetch", read_history, 0 },
    { F("roomadmins"), read_admins, 0 },
    { F("roomowners"), read_owners, 0 },
    { ROOMKIND_PRIVACY, read_privacy, 0 },
    { ROOMKIND_TYPE, read_type, 0 },
    { ROOMCONFIG_CATEGORY, read_category, 0 },
};

/* A client sends the whole form back with one field changed: Lync's
 * privacy and type win only when they differ from what the room is now,
 * else the XEP-0045 fields they map onto decide (either way the two agree
 * afterwards). */
static void kind_rule(const struct room_config *now, struct pending *p)
{
    if (p->privacy >= 0 && p->privacy != (int)roomkind_privacy(now))
        roomkind_set_privacy(&p->cfg, (enum room_privacy)p->privacy);
    if (p->type >= 0 && p->type != (int)roomkind_type(now))
        roomkind_set_type(&p->cfg, (enum room_type)p->type);
}

/* Prosody has no passwordprotectedroom field: a secret alone switches the
 * password on, an empty one off. With the field, the two must agree. */
static const char *password_rule(const struct form *f, struct room_config *c,
                                 const char **var)
{
    if (form_get(f, F("roomsecret")) && !form_get(f, F("passwordprotectedroom")))
        c->password_protected = c->password && *c->password;
    *var = F("roomsecret");
    if (c->password_protected && (!c->password || !*c->password))
        return "a password-protected room needs a password";
    return NULL;
}

/* Reads every known field into p. Returns NULL, or why it refused the field *var. */
static const char *read_form(const struct muc *m, const struct room *room, const struct form *f,
                             struct pending *p, const char **var)
{
    p->privacy = p->type = -1;
    for (size_t i = 0; i < ARRAY_SIZE(config_fields); i++) {
        const struct form_field *fl = form_get(f, config_fields[i].var);
        if (!fl)
            continue;
        *var = config_fields[i].var;
        const char *why = config_fields[i].read(m, fl, p, config_fields[i].off);
        if (why)
            return why;
    }
    kind_rule(&room->cfg, p);
    return password_rule(f, &p->cfg, var);
}

static void copy_config(struct room_config *dst, const struct room_config *src)
{
    *dst = *src;
    dst->name = xstrdup(src->name);
    dst->desc = xstrdup(src->desc);
    dst->lang = xstrdup(src->lang);
    dst->password = xstrdup(src->password ? src->password : "");
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static bool list_has(char **l, size_t n, const char *jid)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i], jid) == 0)
            return true;
    return false;
}

/* roomowners/roomadmins replace the whole list (§10.2 muc#roomconfig); the
 * occupants concerned see their new affiliation (§10.6). */
static void apply_list(struct muc *m, struct room *room, enum muc_affil which, char **l,
                       size_t n, const char *actor)
{
    struct affiliation *a, *tmp;
    HASH_ITER(hh, room->affiliations, a, tmp)
        if (a->affil == which && !list_has(l, n, a->jid))
            admin_apply_affiliation(m, room, a->jid, AFFIL_NONE, NULL, actor, true);
    for (size_t i = 0; i < n; i++)
        if (room_affiliation(room, l[i]) != which)
            admin_apply_affiliation(m, room, l[i], which, NULL, actor, true);
}

/* Entries in the room's affiliation lists once the form is applied: each list
 * replaces its affiliation's entries (§10.2); new JIDs add entries. */
static size_t affiliations_after_form(const struct room *room, const struct pending *p)
{
    size_t n = HASH_COUNT(room->affiliations);
    for (const struct affiliation *a = room->affiliations; a; a = a->hh.next) {
        bool listed = list_has(p->admins, p->nadmins, a->jid) ||
                      list_has(p->owners, p->nowners, a->jid);
        bool dropped = (p->set_admins && a->affil == AFFIL_ADMIN) ||
                       (p->set_owners && a->affil == AFFIL_OWNER);
        /* An entry with a registered nick stays at none (room.c). */
        if (dropped && !listed && !a->nick)
            n--;
    }
    for (size_t i = 0; i < p->nadmins; i++)
        if (!room_affiliation_entry(room, p->admins[i]) && !list_has(p->admins, i, p->admins[i]))
            n++;
    for (size_t i = 0; i < p->nowners; i++)
        if (!room_affiliation_entry(room, p->owners[i]) && !list_has(p->owners, i, p->owners[i]) &&
            !list_has(p->admins, p->nadmins, p->owners[i]))
            n++;
    return n;
}

/* One form may not name more than [muc] max_list_items values in a field:
 * every value of a JID list becomes an affiliation change, a stored row and a
 * compliance event (issue 13: 5,000 admins stalled the service). Checked
 * before any value is parsed. */
static bool list_too_long(struct muc_req *r, const struct form *f)
{
    unsigned max = r->muc->lim.max_list_items;
    for (size_t i = 0; max && i < f->nfields; i++) {
        if (f->fields[i].nvalues <= max)
            continue;
        char *text = xasprintf("%s: %zu values; at most %u in one form ([muc] max_list_items)",
                               f->fields[i].var ? f->fields[i].var : "a field",
                               f->fields[i].nvalues, max);
        muc_bounce(r, "policy-violation", text);
        free(text);
        return true;
    }
    return false;
}

static void pending_free(struct pending *p)
{
    room_config_clear(&p->cfg);
    free_list(p->admins, p->nadmins);
    free_list(p->owners, p->nowners);
}

/* Owners after the form: roomowners replaces them; roomadmins demotes those it names. */
static unsigned owners_after_form(const struct room *room, const struct pending *p)
{
    if (p->set_owners)
        return (unsigned)p->nowners;
    unsigned n = 0;
    for (const struct affiliation *a = room->affiliations; a; a = a->hh.next)
        if (a->affil == AFFIL_OWNER && !(p->set_admins && list_has(p->admins, p->nadmins, a->jid)))
            n++;
    return n;
}

static bool str_differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* Anything but the two privacy switches, which have codes of their own. */
static bool other_config_changed(const struct room_config *a, const struct room_config *b)
{
    return str_differs(a->name, b->name) || str_differs(a->desc, b->desc) ||
           str_differs(a->lang, b->lang) || str_differs(a->password, b->password) ||
           a->persistent != b->persistent || a->public_list != b->public_list ||
           a->members_only != b->members_only || a->moderated != b->moderated ||
           a->password_protected != b->password_protected ||
           a->change_subject != b->change_subject || a->allow_invites != b->allow_invites ||
           a->allow_pm != b->allow_pm || a->max_users != b->max_users ||
           a->presence_broadcast != b->presence_broadcast ||
           a->get_member_list != b->get_member_list || a->history_length != b->history_length;
}

/* §10.2.1: 170/171 for logging, 172/173 for anonymity (confabd has no fully
 * anonymous rooms, so never 174), 104 for any other change; as Prosody, a
 * submission that changes nothing is not announced. Owner and admin lists are
 * announced by the affiliation presences instead (§10.6). */
static void change_codes(const struct room *room, const struct room_config *old,
                         int64_t old_category, int codes[4])
{
    size_t n = 0;
    const struct room_config *c = &room->cfg;
    if (other_config_changed(c, old) || room->category_id != old_category)
        codes[n++] = 104;
    if (c->logging != old->logging)
        codes[n++] = c->logging ? 170 : 171;
    if (c->whois_anyone != old->whois_anyone)
        codes[n++] = c->whois_anyone ? 172 : 173;
    codes[n] = 0;
}

/* Turning members-only on removes everyone who is not a member (322). */
static void enforce_members_only(struct muc *m, struct room *room)
{
    struct occupant *o, *tmp;
    HASH_ITER(hh, room->occupants, o, tmp) {
        if (occupant_affiliation(room, o) >= AFFIL_MEMBER)
            continue;
        static const int c322[] = { 322, 0 };
        struct pres_opts po = { .codes = c322 };
        presence_remove_occupant(m, room, o, &po);
    }
}

/* Does a list name a user the walls of category_id shut out? */
static bool lists_walled(const struct muc *m, int64_t category_id, char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (wall_denies(m, category_id, l[i]))
            return true;
    return false;
}

/* The service policy and the walls over a valid form: true when refused
 * (and answered). */
static bool policy_refused(struct muc_req *r, const struct room *room, const struct pending *p)
{
    struct muc *m = r->muc;
    const char *locked = svcpolicy_locked_change(m, room, &p->cfg, p->category_id, r->from_bare);
    if (locked) {
        char *text = xasprintf("the service policy does not let room owners change the "
                               "setting %s (confabctl policy show: owners_may_change)", locked);
        muc_bounce(r, "forbidden", text);
        free(text);
        return true;
    }
    if (p->cfg.persistent && !room->cfg.persistent &&
        !svcpolicy_may_persist(m, p->category_id, r->from_bare)) {
        muc_bounce(r, "not-allowed", m->policy.create_persistent == POLICY_CREATE_ADMINS
                                         ? "only service administrators may make rooms "
                                           "persistent on this service"
                                         : "only the creators of the room's category may "
                                           "make rooms persistent on this service");
        return true;
    }
    if (lists_walled(m, p->category_id, p->admins, p->nadmins) ||
        lists_walled(m, p->category_id, p->owners, p->nowners)) {
        muc_bounce(r, "not-acceptable", WALL_GRANT_REFUSED);
        return true;
    }
    return false;
}

/* A new category: stored, and its walls apply to who is inside now. */
static void moved_category(struct muc *m, struct room *room, int64_t old)
{
    if (old == room->category_id)
        return;
    if (m->store->save_category)
        m->store->save_category(m->store->st, room);
    wall_sweep_room(m, room);
}

static void submit(struct muc_req *r, struct room *room, const struct xml_node *x)
{
    struct muc *m = r->muc;
    struct form f;
    if (form_parse(x, &f) < 0) {
        muc_bounce(r, "bad-request", "the configuration form is malformed");
        return;
    }
    if (f.form_type && strcmp(f.form_type, NS_MUC_ROOMCONFIG) != 0) {
        form_free(&f);
        muc_bounce(r, "bad-request", "FORM_TYPE: not " NS_MUC_ROOMCONFIG);
        return;
    }
    if (list_too_long(r, &f)) {
        form_free(&f);
        return;
    }
    struct pending p = { .category_id = room->category_id, .actor = r->from_bare };
    copy_config(&p.cfg, &room->cfg);
    const char *var = NULL;
    const char *why = read_form(m, room, &f, &p, &var);
    char *text = why ? xasprintf("%s: %s", var, why) : NULL;
    form_free(&f);
    bool ownerless = !why && owners_after_form(room, &p) == 0;
    if (why || ownerless) {
        muc_bounce(r, ownerless ? "conflict" : "not-acceptable",
                   ownerless ? "a room needs an owner" : text);
        free(text);
        pending_free(&p);
        return;
    }
    if (policy_refused(r, room, &p)) {
        pending_free(&p);
        return;
    }
    if (admin_affiliations_refused(r, affiliations_after_form(room, &p))) {
        pending_free(&p);
        return;
    }
    struct room_config old = room->cfg;
    room->cfg = p.cfg;
    /* The config event forwards the IQ; the affiliation events of its lists
     * refer to it by id instead of each carrying the whole form again. */
    struct xml_node *ev = compliance_config_begin(r, room);
    /* A copy: the actor itself may be removed by the change. */
    struct muc_session *s = session_by_jid(room, r->from_full);
    char *actor = s ? xstrdup(s->occ->nick) : NULL;
    if (p.set_admins)
        apply_list(m, room, AFFIL_ADMIN, p.admins, p.nadmins, actor);
    if (p.set_owners)
        apply_list(m, room, AFFIL_OWNER, p.owners, p.nowners, actor);
    free(actor);
    free_list(p.admins, p.nadmins);
    free_list(p.owners, p.nowners);
    history_resize(&room->history, room->cfg.history_length);
    room->locked = false;
    int64_t old_category = room->category_id;
    room->category_id = p.category_id;
    compliance_config(r, room, ev);
    room_save(room);
    compliance_flush(m);
    moved_category(m, room, old_category);
    int codes[4] = { 0 };
    /* Also on the form that unlocks a new room: what it changed from the
     * defaults is news to whoever is inside (Prosody does the same). */
    change_codes(room, &old, old_category, codes);
    muc_result_then_notice(m, r->st, room, codes);
    if (room->cfg.members_only && !old.members_only)
        enforce_members_only(m, room);
    room_config_clear(&old);
    room_reap(m, room);
}

/* ---- destruction (§10.9) ---- */

void owner_destroy_room(struct muc *m, struct room *room, const char *venue, const char *reason,
                        struct xml_node *ev)
{
    /* Each occupant hears of its own removal (self view: its items, 110). */
    struct xml_node *de = xml_new("destroy", NS_MUC_USER);
    if (venue)
        xml_set_attr(de, "jid", venue);
    if (reason && *reason)
        xml_add_text_child(de, "reason", NS_MUC_USER, reason);
    struct pres_opts po = { .type = "unavailable", .x_first = de };
    struct occupant *o, *tmp;
    HASH_ITER(hh, room->occupants, o, tmp) {
        compliance_leave_all(m, room, o);
        struct xml_node *p = presence_build(m, room, o, false, true, &po);
        for (size_t i = 0; i < o->nsessions; i++) {
            xml_set_attr(p, "to", o->sessions[i]->jid);
            muc_send(m, p);
        }
        xml_unref(p);
    }
    xml_unref(de);
    compliance_attach(m, ev);
    room_destroy(m, room, venue, reason);
    compliance_flush(m);
}

static void destroy(struct muc_req *r, struct room *room, const struct xml_node *d)
{
    /* §10.9: the alternate venue is a room's JID; anything else would be
     * announced to every occupant as a place to go. */
    const char *venue = xml_attr(d, "jid");
    struct jid vj = { 0 };
    bool venue_ok = !venue || (jid_parse(&vj, venue) == 0 && !vj.resource);
    jid_clear(&vj);
    if (!venue_ok) {
        muc_bounce(r, "jid-malformed", "the alternate venue must be a room's bare JID");
        return;
    }
    const struct xml_node *rs = xml_child(d, "reason", NS_MUC_OWNER);
    char *reason = rs ? xml_text(rs) : NULL;
    owner_destroy_room(r->muc, room, xml_attr(d, "jid"), reason,
                       compliance_destroy(r, room, reason, d));
    muc_result_after_commit(r->muc, r->st);
    free(reason);
}

void owner_handle(struct muc_req *r, struct room *room, const struct xml_node *query)
{
    if (strcmp(query->name, "query") != 0) {
        muc_bounce(r, "bad-request", NULL);
        return;
    }
    if (!admin_rate_ok(r, room))
        return;
    if (room_affiliation(room, r->from_bare) != AFFIL_OWNER) {
        muc_bounce(r, "forbidden", "only owners may configure or destroy the room");
        return;
    }
    const char *type = stanza_type(r->st);
    const struct xml_node *x = xml_child(query, "x", NS_DATA_FORMS);
    const struct xml_node *d = xml_child(query, "destroy", NS_MUC_OWNER);
    if (strcmp(type, "get") == 0) {
        struct xml_node *res = stanza_iq_result(r->st);
        struct xml_node *q = xml_add(res, "query", NS_MUC_OWNER);
        struct xml_node *form = config_form(r->muc, room, r->from_bare);
        /* Settings the service policy locks are not the owner's to see as
         * changeable (Cisco's "room owners can change …" switches). */
        svcpolicy_strip_form(r->muc, form, r->from_bare);
        xml_append(q, form);
        muc_send(r->muc, res);
        xml_unref(res);
    } else if (d) {
        destroy(r, room, d);
    } else if (x && xml_attr(x, "type") && strcmp(xml_attr(x, "type"), "cancel") == 0) {
        /* Cancelling the initial configuration abandons the new room (§10.1.3). */
        struct xml_node *res = stanza_iq_result(r->st);
        muc_send(r->muc, res);
        xml_unref(res);
        if (room->locked)
            owner_destroy_room(r->muc, room, NULL, NULL,
                         compliance_destroy(r, room, "initial configuration cancelled", NULL));
    } else if (x) {
        submit(r, room, x);
    } else {
        muc_bounce(r, "bad-request", "expected a data form or <destroy/>");
    }
}

struct xml_node *owner_config_form(const struct muc *m, const struct room *room)
{
    return config_form(m, room, NULL);
}
