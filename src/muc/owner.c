/* §10: the owner configures the room (muc#roomconfig) and may destroy it. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compliance.h"
#include "form.h"
#include "jid.h"
#include "mem.h"
#include "muc.h"
#include "stanza.h"

#define F(name) "muc#roomconfig_" name

static const enum muc_role all_roles[] = { ROLE_MODERATOR, ROLE_PARTICIPANT, ROLE_VISITOR };

static void add_role_list(struct xml_node *x, const char *var, const char *label, unsigned set)
{
    struct xml_node *f = form_add_field(x, "list-multi", var, label, NULL);
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

static struct xml_node *config_form(const struct muc *m, const struct room *room)
{
    const struct room_config *c = &room->cfg;
    char title[600];
    snprintf(title, sizeof title, "Configuration for %s", room->jid);
    struct xml_node *x = form_new("form", NS_MUC_ROOMCONFIG, title,
                                  "Complete this form to configure the room.");
    form_add_field(x, "text-single", F("roomname"), "Natural-language room name", c->name);
    form_add_field(x, "text-multi", F("roomdesc"), "Short description of the room", c->desc);
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
    char num[16];
    snprintf(num, sizeof num, "%u", room_max_users(m, room));
    form_add_field(x, "text-single", F("maxusers"), "Maximum number of occupants", num);
    add_role_list(x, F("presencebroadcast"), "Roles whose presence is broadcast",
                  c->presence_broadcast);
    add_role_list(x, F("getmemberlist"), "Roles that may retrieve the member list",
                  c->get_member_list);
    snprintf(num, sizeof num, "%u", c->history_length);
    form_add_field(x, "text-single", F("historylength"), "Messages of history sent on join",
                   num);
    form_add_bool(x, F("enablelogging"), "Log (archive) the discussion", c->logging);
    form_add_bool(x, "mam", "Archive messages (XEP-0313)", c->logging);
    add_jid_list(x, room, F("roomadmins"), "Room admins", AFFIL_ADMIN);
    add_jid_list(x, room, F("roomowners"), "Room owners", AFFIL_OWNER);
    return x;
}

/* ---- applying a submitted form ---- */

struct pending {
    struct room_config cfg;
    char **admins;
    size_t nadmins;
    char **owners;
    size_t nowners;
    bool set_admins;
    bool set_owners;
};

static int read_bool(const struct form *f, const char *var, bool *dst)
{
    int r = form_bool(f, var, dst);
    return r == -ENOENT ? 0 : r;
}

static int read_text(const struct form *f, const char *var, char **dst)
{
    const struct form_field *fld = form_get(f, var);
    if (!fld)
        return 0;
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < fld->nvalues; i++) {
        if (i)
            buf_putc(&b, '\n');
        buf_puts(&b, fld->values[i]);
    }
    free(*dst);
    *dst = buf_steal(&b, NULL);
    return 0;
}

static int read_roles(const struct form *f, const char *var, unsigned *dst)
{
    const struct form_field *fld = form_get(f, var);
    if (!fld)
        return 0;
    unsigned set = 0;
    for (size_t i = 0; i < fld->nvalues; i++) {
        enum muc_role r;
        if (perm_role_parse(fld->values[i], &r) < 0 || r == ROLE_NONE)
            return -EINVAL;
        set |= ROLE_BIT(r);
    }
    *dst = set;
    return 0;
}

static int read_jids(const struct form *f, const char *var, char ***out, size_t *n, bool *given)
{
    const struct form_field *fld = form_get(f, var);
    if (!fld)
        return 0;
    *given = true;
    *out = xcalloc(fld->nvalues ? fld->nvalues : 1, sizeof **out);
    for (size_t i = 0; i < fld->nvalues; i++) {
        struct jid j = { 0 };
        if (jid_parse(&j, fld->values[i]) < 0)
            return -EINVAL;
        (*out)[(*n)++] = jid_format(&j, true);
        jid_clear(&j);
    }
    return 0;
}

static int read_enums(const struct muc *m, const struct form *f, struct room_config *c)
{
    const char *v = form_value(f, F("whois"));
    if (v) {
        if (strcmp(v, "anyone") == 0)
            c->whois_anyone = true;
        else if (strcmp(v, "moderators") == 0)
            c->whois_anyone = false;
        else
            return -EINVAL;
    }
    v = form_value(f, F("allowpm"));
    if (v && perm_pm_parse(v, &c->allow_pm) < 0)
        return -EINVAL;
    unsigned long n;
    int r = form_uint(f, F("maxusers"), m->lim.max_occupants ? m->lim.max_occupants : 1000000, &n);
    if (r == 0)
        c->max_users = (unsigned)n;
    else if (r != -ENOENT && !(v = form_value(f, F("maxusers")), v && strcmp(v, "none") == 0))
        return -EINVAL;
    r = form_uint(f, F("historylength"), m->lim.max_history, &n);
    if (r == 0)
        c->history_length = (unsigned)n;
    else if (r != -ENOENT)
        return -EINVAL;
    return 0;
}

static int read_form(const struct muc *m, const struct form *f, struct pending *p)
{
    struct room_config *c = &p->cfg;
    bool logging = c->logging;
    if (read_text(f, F("roomname"), &c->name) || read_text(f, F("roomdesc"), &c->desc) ||
        read_text(f, F("lang"), &c->lang) || read_text(f, F("roomsecret"), &c->password) ||
        read_bool(f, F("persistentroom"), &c->persistent) ||
        read_bool(f, F("publicroom"), &c->public_list) ||
        read_bool(f, F("membersonly"), &c->members_only) ||
        read_bool(f, F("moderatedroom"), &c->moderated) ||
        read_bool(f, F("passwordprotectedroom"), &c->password_protected) ||
        read_bool(f, F("changesubject"), &c->change_subject) ||
        read_bool(f, F("allowinvites"), &c->allow_invites) ||
        read_bool(f, F("enablelogging"), &c->logging) ||
        read_roles(f, F("presencebroadcast"), &c->presence_broadcast) ||
        read_roles(f, F("getmemberlist"), &c->get_member_list) || read_enums(m, f, c) ||
        read_jids(f, F("roomadmins"), &p->admins, &p->nadmins, &p->set_admins) ||
        read_jids(f, F("roomowners"), &p->owners, &p->nowners, &p->set_owners))
        return -EINVAL;
    /* muc#roomconfig_enablelogging and the newer 'mam' field mean the same. */
    bool mam = logging;
    if (read_bool(f, "mam", &mam))
        return -EINVAL;
    if (form_get(f, "mam") && !form_get(f, F("enablelogging")))
        c->logging = mam;
    if (c->password_protected && (!c->password || !*c->password))
        return -EINVAL;
    return 0;
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
            admin_apply_affiliation(m, room, a->jid, AFFIL_NONE, NULL, actor);
    for (size_t i = 0; i < n; i++)
        if (room_affiliation(room, l[i]) != which)
            admin_apply_affiliation(m, room, l[i], which, NULL, actor);
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

static void notify_changes(struct muc *m, struct room *room, const struct room_config *old)
{
    int codes[6];
    size_t n = 0;
    const struct room_config *c = &room->cfg;
    if (c->logging != old->logging)
        codes[n++] = c->logging ? 170 : 171;
    if (c->whois_anyone != old->whois_anyone)
        codes[n++] = c->whois_anyone ? 172 : 173;
    codes[n++] = 104;
    codes[n] = 0;
    message_room_notice(m, room, codes);
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

static void submit(struct muc_req *r, struct room *room, const struct xml_node *x)
{
    struct muc *m = r->muc;
    struct form f;
    if (form_parse(x, &f) < 0) {
        muc_bounce(r, "bad-request", "the configuration form is malformed");
        return;
    }
    struct pending p = { 0 };
    copy_config(&p.cfg, &room->cfg);
    int rc = read_form(m, &f, &p);
    form_free(&f);
    bool ownerless = rc == 0 && owners_after_form(room, &p) == 0;
    if (rc < 0 || ownerless) {
        muc_bounce(r, ownerless ? "conflict" : "not-acceptable",
                   ownerless ? "a room needs an owner"
                             : "a field of the configuration form has an invalid value");
        room_config_clear(&p.cfg);
        free_list(p.admins, p.nadmins);
        free_list(p.owners, p.nowners);
        return;
    }
    struct room_config old = room->cfg;
    room->cfg = p.cfg;
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
    bool was_locked = room->locked;
    room->locked = false;
    struct xml_node *ev = compliance_event(m, "config", room, r->now);
    struct muc_session *as = session_by_jid(room, r->from_full);
    compliance_actor_req(ev, r, room, as ? as->occ : NULL);
    compliance_config_detail(ev, m, room);
    compliance_forward(ev, r->st, r->now);
    compliance_attach(m, ev);
    room_save(room);
    compliance_flush(m);
    muc_result_after_commit(m, r->st);
    if (!was_locked)
        notify_changes(m, room, &old);
    if (room->cfg.members_only && !old.members_only)
        enforce_members_only(m, room);
    room_config_clear(&old);
    room_reap(m, room);
}

/* ---- destruction (§10.9) ---- */

static void destroy_room(struct muc *m, struct room *room, const char *venue, const char *reason,
                         struct xml_node *ev)
{
    struct occupant *o, *tmp;
    HASH_ITER(hh, room->occupants, o, tmp) {
        for (size_t i = 0; i < o->nsessions; i++)
            compliance_leave(m, room, o, o->sessions[i]->jid, NULL);
        struct xml_node *p = presence_build(m, room, o, false, false,
                                            &(struct pres_opts){ .type = "unavailable" });
        struct xml_node *x = xml_child(p, "x", NS_MUC_USER);
        struct xml_node *de = xml_add(x, "destroy", NS_MUC_USER);
        if (venue)
            xml_set_attr(de, "jid", venue);
        if (reason && *reason)
            xml_add_text_child(de, "reason", NS_MUC_USER, reason);
        for (size_t i = 0; i < o->nsessions; i++) {
            xml_set_attr(p, "to", o->sessions[i]->jid);
            muc_send(m, p);
        }
        xml_unref(p);
    }
    compliance_attach(m, ev);
    room_destroy(m, room, venue, reason);
    compliance_flush(m);
}

static struct xml_node *destroy_event(struct muc_req *r, struct room *room, const char *reason,
                                      const struct xml_node *detail)
{
    struct xml_node *ev = compliance_event(r->muc, "destroy", room, r->now);
    struct muc_session *s = session_by_jid(room, r->from_full);
    compliance_actor_req(ev, r, room, s ? s->occ : NULL);
    compliance_reason(ev, reason);
    compliance_detail(ev, detail);
    compliance_forward(ev, r->st, r->now);
    return ev;
}

static void destroy(struct muc_req *r, struct room *room, const struct xml_node *d)
{
    const struct xml_node *rs = xml_child(d, "reason", NS_MUC_OWNER);
    char *reason = rs ? xml_text(rs) : NULL;
    destroy_room(r->muc, room, xml_attr(d, "jid"), reason, destroy_event(r, room, reason, d));
    muc_result_after_commit(r->muc, r->st);
    free(reason);
}

void owner_handle(struct muc_req *r, struct room *room, const struct xml_node *query)
{
    if (strcmp(query->name, "query") != 0) {
        muc_bounce(r, "bad-request", NULL);
        return;
    }
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
        xml_append(q, config_form(r->muc, room));
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
            destroy_room(r->muc, room, NULL, NULL,
                         destroy_event(r, room, "initial configuration cancelled", NULL));
    } else if (x) {
        submit(r, room, x);
    } else {
        muc_bounce(r, "bad-request", "expected a data form or <destroy/>");
    }
}

struct xml_node *owner_config_form(const struct muc *m, const struct room *room)
{
    return config_form(m, room);
}
