/* control.c — changes made outside the running engine (confabctl, through the
 * PostgreSQL control channel: pg_store_control.c) applied to the rooms it has
 * in memory. Rooms it has not loaded need nothing: they are read fresh from
 * the store when next used. */
#include "compat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compliance.h"
#include "mem.h"
#include "muc.h"

/* The room is gone from the store (confabctl rooms destroy): its occupants
 * hear so as from an owner's destruction (§10.9), with the operator's reason. */
void muc_control_destroyed(struct muc *m, const char *jid, const char *venue,
                           const char *reason, const char *actor)
{
    struct room *room = room_find(m, jid);
    if (!room)
        return;
    int64_t now = m->io.now_ms(m->io.ud);
    struct xml_node *ev = compliance_destroy_command(m, room, actor, NULL, now);
    owner_destroy_room(m, room, venue && *venue ? venue : NULL, reason, ev);
    xml_unref(ev);
}

struct refresh {
    struct muc *m;
    char *jid;
};

/* History as the store has it now (messages removed or replaced, purged). */
static void reload_history(struct muc *m, struct room *room, const struct store_room *rec)
{
    size_t cap = room->history.cap;
    history_free(&room->history);
    history_init(&room->history, cap);
    for (size_t i = 0; i < rec->nrecent; i++)
        history_push_from(&room->history, rec->recent[i].seq, rec->recent[i].ts_ms,
                          rec->recent[i].xml, rec->recent[i].xml_len, rec->recent[i].sender_jid,
                          rec->recent[i].nick, true);
    /* confabctl import may have brought messages beyond the seq this room
     * reached: the next message must not reuse one of theirs. */
    if (rec->last_seq > room->last_seq)
        room->last_seq = rec->last_seq;
    (void)m;
}

static void on_refreshed(void *ud, int err, struct store_room *rec)
{
    struct refresh *f = ud;
    struct room *room = room_find(f->m, f->jid);
    if (err == 0 && room && rec && rec->exists) {
        reload_history(f->m, room, rec);
        /* confabctl rooms set-category: the new category's walls apply now. */
        if (rec->category_id > 0 && rec->category_id != room->category_id) {
            room->category_id = rec->category_id;
            wall_sweep_room(f->m, room);
        }
    }
    else if (err == 0 && room && rec && !rec->exists && room_is_empty(room))
        muc_forget_room(f->m, room);
    store_room_free(rec);
    free(f->jid);
    free(f);
}

/* Something of the room changed in the store: an idle room is simply dropped
 * (the next use reads it again); an occupied one reloads its history. */
void muc_control_changed(struct muc *m, const char *jid)
{
    struct room *room = room_find(m, jid);
    if (!room || m->store->in_memory)
        return;
    if (room_is_empty(room) && !room->locked && room->cfg.persistent) {
        muc_forget_room(m, room);
        return;
    }
    struct refresh *f = xmalloc(sizeof *f);
    f->m = m;
    f->jid = xstrdup(jid);
    m->store->load_room(m->store->st, jid, room->history.cap, on_refreshed, f);
}

/* ---- categories, groups and policy (wall.c, svcpolicy.c) ---- */

struct service_load {
    struct muc *m;
    bool sweep;
};

static void on_service_loaded(void *ud, int err, struct store_service *rec)
{
    struct service_load *l = ud;
    struct muc *m = l->m;
    if (err < 0 && err != -ECANCELED && err != -EAGAIN) { /* EAGAIN: not connected yet */
        /* The walls in force stay: better the last known than none. */
        m->io.log(m->io.ud, "control: could not load categories, groups and policy; the "
                            "previous ones stay in force until the next change");
    } else if (err == 0) {
        char *line = xasprintf("control: walls in force: %zu categories, %zu principals, %zu "
                               "group memberships, %zu policy rows", rec->ncats,
                               rec->nprincipals, rec->nmembers, rec->npolicy);
        m->io.log(m->io.ud, line);
        free(line);
        wall_load(m, rec);
        svcpolicy_load(m, rec);
        m->service_loaded = true;
        if (l->sweep)
            wall_sweep_all(m);
    }
    store_service_free(rec);
    free(l);
}

static void load_service(struct muc *m, bool sweep)
{
    const struct muc_store *s = m->store;
    if (!s->load_service)
        return;
    struct service_load *l = xmalloc(sizeof *l);
    *l = (struct service_load){ .m = m, .sweep = sweep };
    s->load_service(s->st, on_service_loaded, l);
}

void muc_load_service(struct muc *m)
{
    load_service(m, false);
}

void muc_control_service_changed(struct muc *m)
{
    load_service(m, true);
}
