/* store.c — freeing what the store returns (store.h: the engine's storage interface). */
#include "compat.h"

#include <stdlib.h>

#include "muc.h"
#include "store.h"

static void msgs_free(struct store_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(msgs[i].xml);
        free(msgs[i].sender_jid);
        free(msgs[i].nick);
    }
    free(msgs);
}

void store_room_free(struct store_room *r)
{
    if (!r)
        return;
    free(r->venue);
    free(r->reason);
    free(r->creator);
    if (r->cfg) {
        room_config_clear(r->cfg);
        free(r->cfg);
    }
    free(r->subject);
    free(r->subject_from);
    for (size_t i = 0; i < r->naffils; i++) {
        free(r->affils[i].jid);
        free(r->affils[i].nick);
        free(r->affils[i].reason);
    }
    free(r->affils);
    msgs_free(r->recent, r->nrecent);
    free(r->vcard);
    free(r->photo_hash);
    free(r);
}

void store_mam_page_free(struct store_mam_page *p)
{
    if (!p)
        return;
    msgs_free(p->msgs, p->n);
    free(p);
}
