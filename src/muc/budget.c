/* budget.c — the output the engine owes for stanzas it already took (flow.h).
 *
 * A groupchat message is fanned out only after its row commits; meanwhile the
 * transport would read on and take more than its queue can hold. The bytes
 * such a stanza will produce are promised here when it is taken and counted
 * by the input gate (transport.h) until they are queued, so a burst of
 * commits cannot overshoot the output bound and no send ever has to fail. */
#include "compat.h"

#include <assert.h>
#include <string.h>

#include "flow.h"
#include "muc.h"

/* What component_send_each adds to each copy: " to='…'" and quoting slack. */
enum { PER_COPY = 16 };

size_t budget_fanout(const struct room *room, size_t stanza_len)
{
    size_t n;
    (void)room_recipients((struct room *)room, &n); /* rebuilt if dirty */
    return n * (stanza_len + PER_COPY) + room->recipients_bytes;
}

/* An upper estimate of st serialised, without serialising it. */
size_t budget_stanza(const struct xml_node *st)
{
    if (!st->name)
        return st->text_len * 6; /* every character may become an entity */
    size_t n = 2 * strlen(st->name) + 5 + (st->ns ? strlen(st->ns) + 10 : 0);
    for (size_t i = 0; i < st->nattrs; i++)
        n += strlen(st->attrs[i].name) + 6 * strlen(st->attrs[i].value) + 4;
    for (const struct xml_node *c = st->children; c; c = c->next)
        n += budget_stanza(c);
    return n;
}

void budget_promise(struct muc *m, size_t bytes)
{
    m->flow.promised += bytes;
}

void budget_kept(struct muc *m, size_t bytes)
{
    assert(m->flow.promised >= bytes);
    m->flow.promised -= bytes;
}

/* Nothing was queued in its place, so the gate would not look again on its
 * own (it re-checks on writes): tell it. */
void budget_withdrawn(struct muc *m, size_t bytes)
{
    budget_kept(m, bytes);
    if (m->io.output_changed)
        m->io.output_changed(m->io.ud);
}

size_t muc_pending_output(const struct muc *m)
{
    return m->flow.promised;
}
