/* roomkind.c — Lync's room privacy (Open, Closed, Secret) and type (Normal, Auditorium) over XEP-0045's flags. */
#include "compat.h"

#include <string.h>

#include "form.h"
#include "muc.h"

/* The agreed mapping (issue 16), no column of its own: Open = listed and
 * open, Closed = listed and members-only, Secret = unlisted and
 * members-only. An unlisted open room is none of Lync's three. */
static const struct {
    const char *name;
    bool public_list, members_only;
} privacies[] = {
    [PRIVACY_OPEN] = { "open", true, false },
    [PRIVACY_CLOSED] = { "closed", true, true },
    [PRIVACY_SECRET] = { "secret", false, true },
};

static const char *const types[] = { [TYPE_NORMAL] = "normal", [TYPE_AUDITORIUM] = "auditorium" };

enum room_privacy roomkind_privacy(const struct room_config *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(privacies); i++)
        if (privacies[i].public_list == c->public_list &&
            privacies[i].members_only == c->members_only)
            return (enum room_privacy)i;
    return PRIVACY_NONE;
}

/* Auditorium: only presenters (voiced occupants) post, and the audience's
 * presence is not broadcast. */
enum room_type roomkind_type(const struct room_config *c)
{
    return c->moderated && !(c->presence_broadcast & ROLE_BIT(ROLE_VISITOR)) ? TYPE_AUDITORIUM
                                                                              : TYPE_NORMAL;
}

void roomkind_set_privacy(struct room_config *c, enum room_privacy p)
{
    if (p == PRIVACY_NONE)
        return;
    c->public_list = privacies[p].public_list;
    c->members_only = privacies[p].members_only;
}

void roomkind_set_type(struct room_config *c, enum room_type t)
{
    c->moderated = t == TYPE_AUDITORIUM;
    if (t == TYPE_AUDITORIUM)
        c->presence_broadcast &= ~ROLE_BIT(ROLE_VISITOR);
    else
        c->presence_broadcast |= ROLE_BIT(ROLE_VISITOR);
}

const char *roomkind_privacy_name(enum room_privacy p)
{
    return p == PRIVACY_NONE ? NULL : privacies[p].name;
}

const char *roomkind_type_name(enum room_type t)
{
    return types[t];
}

int roomkind_privacy_parse(const char *s, enum room_privacy *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(privacies); i++)
        if (strcmp(s, privacies[i].name) == 0) {
            *out = (enum room_privacy)i;
            return 0;
        }
    return -1;
}

int roomkind_type_parse(const char *s, enum room_type *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        if (strcmp(s, types[i]) == 0) {
            *out = (enum room_type)i;
            return 0;
        }
    return -1;
}

/* Both fields in a form (configuration or room info): list-single with
 * their options; an unlisted open room shows no privacy value. */
void roomkind_form_fields(struct xml_node *x, const struct room_config *c)
{
    const char *pv = roomkind_privacy_name(roomkind_privacy(c));
    struct xml_node *f = form_add_field(x, "list-single", ROOMKIND_PRIVACY,
                                        "Privacy (open: listed, anyone joins; closed: listed, "
                                        "members only; secret: unlisted, members only)", pv);
    for (size_t i = 0; i < ARRAY_SIZE(privacies); i++)
        form_add_option(f, privacies[i].name, privacies[i].name);
    f = form_add_field(x, "list-single", ROOMKIND_TYPE,
                       "Type (auditorium: only presenters post, the audience is not shown)",
                       roomkind_type_name(roomkind_type(c)));
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        form_add_option(f, types[i], types[i]);
}

bool roomkind_insider(const struct muc *m, const struct room *room, const char *bare_jid)
{
    return room_affiliation(room, bare_jid) >= AFFIL_MEMBER || muc_is_admin(m, bare_jid);
}

/* A Secret room is found only by its members: what it looks like (vCard,
 * avatar) is theirs too. */
bool roomkind_may_see_card(const struct muc *m, const struct room *room, const char *bare_jid)
{
    return roomkind_privacy(&room->cfg) != PRIVACY_SECRET || roomkind_insider(m, room, bare_jid);
}
