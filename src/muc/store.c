/* store.c — freeing what the store returns (store.h: the engine's storage interface). */
#include "compat.h"

#include <stdlib.h>

#include "mem.h"
#include "muc.h"
#include "store.h"

static void msgs_free(struct store_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        FREE_ALL(msgs[i].xml, msgs[i].sender_jid, msgs[i].nick);
    free(msgs);
}

void store_room_free(struct store_room *r)
{
    if (!r)
        return;
    if (r->cfg)
        room_config_clear(r->cfg);
    for (size_t i = 0; i < r->naffils; i++)
        FREE_ALL(r->affils[i].jid, r->affils[i].nick, r->affils[i].reason);
    msgs_free(r->recent, r->nrecent);
    FREE_ALL(r->venue, r->reason, r->creator, r->cfg, r->subject, r->subject_from, r->affils,
             r->vcard, r->photo_hash, r);
}

void store_mam_page_free(struct store_mam_page *p)
{
    if (!p)
        return;
    msgs_free(p->msgs, p->n);
    free(p);
}

void store_dir_page_free(struct store_dir_page *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct store_dir_room *r = &p->rooms[i];
        FREE_ALL(r->jid, r->name, r->desc, r->lang, r->category);
    }
    FREE_ALL(p->rooms, p);
}

void store_service_free(struct store_service *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncats; i++)
        FREE_ALL(s->cats[i].name, s->cats[i].default_privacy, s->cats[i].default_type);
    for (size_t i = 0; i < s->nprincipals; i++)
        FREE_ALL(s->principals[i].list, s->principals[i].kind, s->principals[i].principal);
    for (size_t i = 0; i < s->nmembers; i++)
        FREE_ALL(s->members[i].group, s->members[i].jid);
    for (size_t i = 0; i < s->npolicy; i++)
        FREE_ALL(s->policy[i].key, s->policy[i].value);
    FREE_ALL(s->cats, s->principals, s->members, s->policy, s);
}
